//! Checking out: serve at once or queue, wait in the queue for a grant, and leave the
//! queue cleanly on timeout, error or unwinding.

use std::{io, sync::Arc, time::Instant};

use super::{
    CheckOutFailedReason, CmapEvent, PoolConnection, PoolState, PooledConnection,
    shared::{Closing, Failure, Grant, Inner, State},
};
use crate::{Error, Result, error::ErrorKind, runtime::sync::mpsc};

impl<C: PoolConnection> Inner<C> {
    pub(super) fn check_out(self: &Arc<Self>) -> Result<PooledConnection<C>> {
        let started = Instant::now();
        self.emit(|| CmapEvent::ConnectionCheckOutStarted {
            address: self.address.clone(),
        });
        let mut closing = Vec::new();
        let first = {
            let mut st = self.lock();
            match st.status {
                PoolState::Closed => Ok(Grant::Fail(Failure::Closed)),
                PoolState::Paused => Ok(Grant::Fail(Failure::Cleared)),
                PoolState::Ready => self.serve_or_enqueue(&mut st, &mut closing),
            }
        };
        self.close_all(closing);
        let grant = match first {
            Ok(grant) => grant,
            Err((ticket, receiver)) => match self.wait(ticket, receiver, started) {
                Ok(grant) => grant,
                Err((reason, error)) => return Err(self.check_out_failed(started, reason, error)),
            },
        };
        let member = match grant {
            Grant::Connection(member) => member,
            Grant::Fail(failure) => {
                return Err(self.check_out_failed(
                    started,
                    failure.reason(),
                    failure.error(&self.address),
                ));
            }
            Grant::Establish { generation } => {
                let (slot, member) = self.establish(generation, false).map_err(|e| {
                    self.check_out_failed(started, CheckOutFailedReason::ConnectionError, e)
                })?;
                match self.settle(slot, member, true) {
                    Ok(member) => member.expect("settle returns the member it checks out"),
                    Err(failure) => {
                        return Err(self.check_out_failed(
                            started,
                            failure.reason(),
                            failure.error(&self.address),
                        ));
                    }
                }
            }
        };
        self.emit(|| CmapEvent::ConnectionCheckedOut {
            address: self.address.clone(),
            connection_id: member.id,
            duration: started.elapsed(),
        });
        Ok(PooledConnection::new(
            member.conn,
            member.id,
            member.generation,
            member.interrupter,
            self.clone(),
        ))
    }

    /// Serves a checkout at once if nobody queues before it; otherwise queues it.
    #[allow(clippy::type_complexity)]
    fn serve_or_enqueue(
        &self,
        st: &mut State<C>,
        closing: &mut Closing<C>,
    ) -> std::result::Result<Grant<C>, (u64, mpsc::Receiver<Grant<C>>)> {
        if st.waiters.is_empty() {
            if let Some(member) = self.take_available(st, closing) {
                st.checked_out += 1;
                return Ok(Grant::Connection(member));
            }
            if self.can_establish(st) {
                st.total += 1;
                st.pending += 1;
                return Ok(Grant::Establish {
                    generation: st.generation,
                });
            }
        }
        let (sender, receiver) = mpsc::channel();
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.waiters.insert(ticket, sender);
        Err((ticket, receiver))
    }

    /// Waits in the queue for a grant, until `waitQueueTimeoutMS` after `started` or the
    /// caller's deadline.
    fn wait(
        &self,
        ticket: u64,
        receiver: mpsc::Receiver<Grant<C>>,
        started: Instant,
    ) -> std::result::Result<Grant<C>, (CheckOutFailedReason, Error)> {
        // An operation deadline (timeoutMS) replaces the deprecated waitQueueTimeoutMS
        // (the CSOT spec).
        let wait_queue_timeout = self
            .options
            .wait_queue_timeout()
            .filter(|_| crate::runtime::time::deadline().is_none());
        let wait_queue_deadline =
            wait_queue_timeout.and_then(|timeout| started.checked_add(timeout));
        let mut queued = Queued {
            pool: self,
            ticket,
            started,
            receiver: Some(receiver),
        };
        let received = queued
            .receiver
            .as_ref()
            .expect("set above")
            .recv_deadline(wait_queue_deadline);
        match received {
            Ok(grant) => {
                queued.receiver = None;
                Ok(grant)
            }
            Err(e) => {
                queued.leave();
                let e = io::Error::from(e);
                if e.kind() != io::ErrorKind::TimedOut {
                    return Err((CheckOutFailedReason::ConnectionError, e.into()));
                }
                let elapsed = started.elapsed();
                let error = match (wait_queue_timeout, wait_queue_deadline) {
                    (Some(timeout), Some(deadline)) if Instant::now() >= deadline => {
                        Error::new(ErrorKind::WaitQueueTimeout {
                            message: format!(
                                "no connection to {} became available within \
                                 waitQueueTimeoutMS={} (waited {elapsed:?})",
                                self.address,
                                timeout.as_millis()
                            ),
                        })
                    }
                    _ => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the deadline passed after {elapsed:?} while waiting to check out a \
                             connection to {}",
                            self.address
                        ),
                    )
                    .into(),
                };
                Err((CheckOutFailedReason::Timeout, error))
            }
        }
    }

    fn check_out_failed(&self, started: Instant, reason: CheckOutFailedReason, e: Error) -> Error {
        self.emit(|| CmapEvent::ConnectionCheckOutFailed {
            address: self.address.clone(),
            reason,
            duration: started.elapsed(),
        });
        e
    }
}

/// A checkout in the wait queue. Leaving (also on unwinding) takes it out of the queue
/// and passes on whatever it was handed meanwhile.
struct Queued<'a, C: PoolConnection> {
    pool: &'a Inner<C>,
    ticket: u64,
    started: Instant,
    /// `None` once the grant was received.
    receiver: Option<mpsc::Receiver<Grant<C>>>,
}

impl<C: PoolConnection> Queued<'_, C> {
    fn leave(&mut self) {
        let Some(receiver) = self.receiver.take() else {
            return;
        };
        let mut closing = Vec::new();
        {
            let mut st = self.pool.lock();
            if st.waiters.remove(&self.ticket).is_none() {
                // Out of the queue: the grant was sent under this lock, so it is here.
                if let Ok(grant) = receiver.try_recv() {
                    self.pool.revoke(&mut st, grant);
                    self.pool.dispatch(&mut st, &mut closing);
                }
            }
        }
        self.pool.close_all(closing);
    }
}

impl<C: PoolConnection> Drop for Queued<'_, C> {
    fn drop(&mut self) {
        let abandoned = self.receiver.is_some();
        self.leave();
        if abandoned && std::thread::panicking() {
            // Unwound while queued (its coroutine cancelled, its worker gone): the
            // checkout ends all the same, and the CMAP spec has every one end in an event.
            self.pool.emit(|| CmapEvent::ConnectionCheckOutFailed {
                address: self.pool.address.clone(),
                reason: CheckOutFailedReason::ConnectionError,
                duration: self.started.elapsed(),
            });
        }
    }
}
