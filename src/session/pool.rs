//! The pool of server sessions (the driver-sessions spec): the `lsid`s behind implicit and
//! explicit sessions, reused most recently used first, and their transaction numbers.

use std::{
    collections::VecDeque,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use bson::{Binary, Document, doc, spec::BinarySubtype};

use crate::{Error, Result};

/// One server session: an `lsid` and its transaction counter.
#[derive(Debug)]
pub(crate) struct ServerSession {
    /// `{ id: UUID }`, sent as `lsid`.
    pub(crate) id: Document,
    last_use: Instant,
    /// The last `txnNumber` used (retryable writes increment it).
    txn_number: i64,
    /// A network error happened while in use: the server may hold state for it, so it is
    /// discarded instead of reused.
    pub(crate) dirty: bool,
}

impl ServerSession {
    fn new() -> Result<ServerSession> {
        let mut uuid = [0u8; 16];
        getrandom::fill(&mut uuid)
            .map_err(|e| Error::internal(format!("no randomness for a session id: {e}")))?;
        // RFC 4122 version 4, variant 1.
        uuid[6] = (uuid[6] & 0x0f) | 0x40;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        Ok(ServerSession {
            id: doc! { "id": Binary { subtype: BinarySubtype::Uuid, bytes: uuid.to_vec() } },
            last_use: Instant::now(),
            txn_number: 0,
            dirty: false,
        })
    }

    /// A stand-in for a session given back to the pool (never reused: it is dirty).
    pub(crate) fn ended() -> ServerSession {
        ServerSession {
            id: Document::new(),
            last_use: Instant::now(),
            txn_number: 0,
            dirty: true,
        }
    }

    /// The next transaction number, for a retryable write (kept across its retry).
    pub(crate) fn next_txn_number(&mut self) -> i64 {
        self.txn_number += 1;
        self.txn_number
    }

    /// The current `txnNumber` (a transaction's, for its statements, commit and abort).
    pub(crate) fn txn_number(&self) -> i64 {
        self.txn_number
    }

    /// Whether the server will have timed it out within a minute.
    fn about_to_expire(&self, timeout: Duration) -> bool {
        self.last_use.elapsed() + Duration::from_secs(60) >= timeout
    }
}

/// Idle server sessions, most recently used first (the spec's LIFO reuse).
#[derive(Debug, Default)]
pub(crate) struct SessionPool {
    idle: Mutex<VecDeque<ServerSession>>,
}

impl SessionPool {
    /// A session that will not expire soon: reused if one is idle, else new.
    /// `timeout` is the deployment's `logicalSessionTimeoutMinutes`.
    pub(crate) fn check_out(&self, timeout: Duration) -> Result<ServerSession> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(session) = idle.pop_front() {
            if !session.about_to_expire(timeout) {
                return Ok(session);
            }
        }
        drop(idle);
        ServerSession::new()
    }

    /// Takes every idle session out, for `endSessions`; their ids.
    pub(crate) fn drain(&self) -> Vec<Document> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.drain(..).map(|s| s.id).collect()
    }

    /// Returns a session for reuse, unless it is dirty or about to expire.
    pub(crate) fn check_in(&self, mut session: ServerSession, timeout: Duration) {
        if session.dirty {
            return;
        }
        session.last_use = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Prune expired sessions from the back (the least recently used).
        while idle.back().is_some_and(|s| s.about_to_expire(timeout)) {
            idle.pop_back();
        }
        idle.push_front(session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THIRTY_MINUTES: Duration = Duration::from_secs(30 * 60);

    #[test]
    fn sessions_are_reused_most_recent_first_and_dirty_ones_dropped() {
        let pool = SessionPool::default();
        let a = pool.check_out(THIRTY_MINUTES).unwrap();
        let b = pool.check_out(THIRTY_MINUTES).unwrap();
        assert_ne!(a.id, b.id);
        let (a_id, b_id) = (a.id.clone(), b.id.clone());
        pool.check_in(a, THIRTY_MINUTES);
        pool.check_in(b, THIRTY_MINUTES);
        assert_eq!(pool.check_out(THIRTY_MINUTES).unwrap().id, b_id);
        let mut a = pool.check_out(THIRTY_MINUTES).unwrap();
        assert_eq!(a.id, a_id);
        a.dirty = true;
        pool.check_in(a, THIRTY_MINUTES);
        assert!(pool.idle.lock().unwrap().is_empty());
    }

    #[test]
    fn a_session_about_to_expire_is_not_handed_out() {
        let pool = SessionPool::default();
        let s = pool.check_out(THIRTY_MINUTES).unwrap();
        let id = s.id.clone();
        pool.check_in(s, THIRTY_MINUTES);
        // With a one-minute server timeout every session is about to expire.
        assert_ne!(pool.check_out(Duration::from_secs(60)).unwrap().id, id);
    }

    #[test]
    fn ids_are_version_4_uuids_and_txn_numbers_increase() {
        let mut s = ServerSession::new().unwrap();
        let Some(bson::Bson::Binary(id)) = s.id.get("id") else {
            panic!("{}", s.id)
        };
        let bytes = id.bytes.clone();
        assert_eq!(bytes.len(), 16);
        assert_eq!(bytes[6] >> 4, 4);
        assert_eq!(s.next_txn_number(), 1);
        assert_eq!(s.next_txn_number(), 2);
    }
}
