//! Establishing a connection: create it, run the `connect` closure, and settle the
//! result into the pool (checked out or available), giving the slot back on failure.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use super::{
    CmapEvent, ConnectionClosedReason, Establishing, PoolConnection, PoolState,
    interrupt::Interrupter,
    shared::{Failure, Inner, Member},
};
use crate::Result;

impl<C: PoolConnection> Inner<C> {
    /// Creates and establishes a connection in a slot already counted in `total` and
    /// `pending`. On failure (or a panic) the slot is given back and `ConnectionClosed`
    /// emitted.
    ///
    /// A failure while `populating` (to `minPoolSize`) has no caller to go to. The CMAP
    /// spec has SDAM's application-error rules handle it, which clear the pool for a
    /// failed establishment: unless the `connect` closure applies those rules itself
    /// ([`PoolOptions::sdam_handles_errors`](super::PoolOptions::sdam_handles_errors), as
    /// a client's pools do), the pool clears itself, before `ConnectionClosed` as SDAM's
    /// clear inside `connect` would. Paused, it creates nothing more until it is ready.
    pub(super) fn establish(
        &self,
        generation: u64,
        populating: bool,
    ) -> Result<(Slot<'_, C>, Member<C>)> {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Slot {
            pool: self,
            id,
            armed: true,
        };
        let created = Instant::now();
        self.emit(|| CmapEvent::ConnectionCreated {
            address: self.address.clone(),
            connection_id: id,
        });
        let interrupter = Arc::new(Interrupter::default());
        let interrupted = {
            let mut st = self.lock();
            st.interruptible.retain(|w| w.strong_count() > 0);
            st.interruptible.push(Arc::downgrade(&interrupter));
            generation < st.interrupt_below
        };
        if interrupted {
            interrupter.interrupt();
        }
        let establishing = Establishing {
            generation,
            interrupter,
        };
        let conn = match (self.connect)(&self.address, &establishing) {
            Ok(conn) => conn,
            Err(error) => {
                if populating && !self.options.sdam_handles_errors {
                    self.clear(false, Some(generation));
                }
                return Err(error); // `slot` gives the place back
            }
        };
        // Load-balanced mode: a connection belongs to its service's generation, known
        // once the handshake has named the service.
        let service = conn.service_id();
        let generation = match &service {
            Some(s) => self.lock().generation_of(Some(s)),
            None => generation,
        };
        self.emit(|| CmapEvent::ConnectionReady {
            address: self.address.clone(),
            connection_id: id,
            duration: created.elapsed(),
        });
        let member = Member {
            conn,
            id,
            generation,
            since: Instant::now(),
            interrupter: establishing.interrupter,
            service,
        };
        Ok((slot, member))
    }

    /// Ends an establishment: the new connection is checked out (returned) or made
    /// available; closed instead if the pool was closed or cleared meanwhile.
    pub(super) fn settle(
        &self,
        mut slot: Slot<'_, C>,
        member: Member<C>,
        check_out: bool,
    ) -> std::result::Result<Option<Member<C>>, Failure> {
        let mut closing = Vec::new();
        let result = {
            let mut st = self.lock();
            slot.armed = false;
            st.pending -= 1;
            let result = if st.status == PoolState::Closed {
                st.total -= 1;
                closing.push((member, ConnectionClosedReason::PoolClosed));
                Err(Failure::Closed)
            } else if member.generation != st.generation_of(member.service.as_ref()) {
                st.total -= 1;
                closing.push((member, ConnectionClosedReason::Stale));
                Err(Failure::Cleared)
            } else if check_out {
                st.checked_out += 1;
                Ok(Some(member))
            } else {
                st.available.push_back(member);
                Ok(None)
            };
            self.dispatch(&mut st, &mut closing);
            result
        };
        self.close_all(closing);
        result
    }
}

/// A place in `total` and `pending` taken for one establishment; given back on drop
/// unless the establishment settled.
pub(super) struct Slot<'a, C: PoolConnection> {
    pool: &'a Inner<C>,
    id: u64,
    armed: bool,
}

impl<C: PoolConnection> Drop for Slot<'_, C> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut closing = Vec::new();
        {
            let mut st = self.pool.lock();
            st.total -= 1;
            st.pending -= 1;
            self.pool.dispatch(&mut st, &mut closing);
        }
        self.pool.close_all(closing);
        self.pool.emit(|| CmapEvent::ConnectionClosed {
            address: self.pool.address.clone(),
            connection_id: self.id,
            reason: ConnectionClosedReason::Error,
        });
    }
}
