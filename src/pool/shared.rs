//! The pool's shared state and the bookkeeping every operation does under its lock:
//! handing connections and establishment rights to queued checkouts, check-in,
//! maintenance runs.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak, atomic::AtomicU64},
    time::Instant,
};

use super::{
    CheckOutFailedReason, CmapEvent, ConnectionClosedReason, Establishing, PoolConnection,
    PoolOptions, PoolState, interrupt::Interrupter,
};
use bson::oid::ObjectId;

use crate::{Error, Result, error::ErrorKind, options::ServerAddress, runtime::sync::mpsc};

/// Establishes one connection: `(address, establishment) -> connection`.
pub(super) type Connector<C> =
    Box<dyn Fn(&ServerAddress, &Establishing) -> Result<C> + Send + Sync>;

/// What a [`Pool`](super::Pool) handle, its checked-out connections and its maintenance
/// task share.
///
/// `Send` and `Sync` when `C: Send` (the trait requires it): the connections sit behind
/// the mutex, the closures are `Send + Sync` by their bounds.
pub(super) struct Inner<C: PoolConnection> {
    pub(super) address: ServerAddress,
    pub(super) options: PoolOptions,
    pub(super) connect: Connector<C>,
    /// The last connection id handed out; ids start at 1.
    pub(super) last_id: AtomicU64,
    /// Held for a few instructions only: never across a wait, I/O, or an event handler
    /// (so a `std` mutex is right, even inside coroutines).
    pub(super) state: Mutex<State<C>>,
}

/// Everything guarded by [`Inner::state`].
pub(super) struct State<C> {
    pub(super) status: PoolState,
    /// Whether the maintenance task may create connections: set once the `PoolReady`
    /// event is out (the spec orders it before any background creation), cleared by
    /// `clear` and `close`.
    pub(super) populate: bool,
    /// Bumped by `clear`; members of an older generation are stale.
    pub(super) generation: u64,
    /// Load-balanced mode: bumped by `clear_service` for one service behind the load
    /// balancer (see [`State::generation_of`]).
    pub(super) service_generations: HashMap<ObjectId, u64>,
    /// Established connections, the most recently checked in at the back.
    pub(super) available: VecDeque<Member<C>>,
    /// `pending + available.len() + checked_out`.
    pub(super) total: usize,
    pub(super) pending: usize,
    pub(super) checked_out: usize,
    /// The wait queue, oldest first: each waiter receives one [`Grant`] on its channel.
    /// A waiter whose ticket is no longer here has been sent its grant.
    pub(super) waiters: BTreeMap<u64, mpsc::Sender<Grant<C>>>,
    pub(super) next_ticket: u64,
    /// The interrupt switches of connections being established or in use (and of some
    /// available or gone ones: dead entries are pruned as new ones come).
    pub(super) interruptible: Vec<Weak<Interrupter>>,
    /// Establishments of a generation below this were interrupted by a clear before
    /// they registered: they are interrupted as they register.
    pub(super) interrupt_below: u64,
}

impl<C> State<C> {
    /// The current generation of connections to `service` (load-balanced mode), or of
    /// every connection (`None`). A service's is the pool's plus its own count of
    /// clears: both only grow, so it changes whenever either kind of clear happens.
    pub(super) fn generation_of(&self, service: Option<&ObjectId>) -> u64 {
        let own = service.map_or(0, |s| self.service_generations.get(s).copied().unwrap_or(0));
        self.generation + own
    }
}

/// A connection with its pool bookkeeping.
pub(super) struct Member<C> {
    pub(super) conn: C,
    pub(super) id: u64,
    pub(super) generation: u64,
    /// When it became available (or was established).
    pub(super) since: Instant,
    pub(super) interrupter: Arc<Interrupter>,
    /// The service behind a load balancer it reaches, in load-balanced mode.
    pub(super) service: Option<ObjectId>,
}

/// What a queued checkout is handed.
pub(super) enum Grant<C> {
    /// An available connection, already counted as checked out.
    Connection(Member<C>),
    /// The right to establish a connection of this generation, already counted in
    /// `total` and `pending`.
    Establish { generation: u64 },
    /// The pool was cleared or closed while waiting.
    Fail(Failure),
}

/// Why the pool refuses a checkout.
#[derive(Clone, Copy, Debug)]
pub(super) enum Failure {
    Cleared,
    Closed,
}

/// Connections to close once the lock is released.
pub(super) type Closing<C> = Vec<(Member<C>, ConnectionClosedReason)>;

impl<C: PoolConnection> Inner<C> {
    pub(super) fn new(
        address: ServerAddress,
        options: PoolOptions,
        connect: Connector<C>,
    ) -> Inner<C> {
        Inner {
            address,
            options,
            connect,
            last_id: AtomicU64::new(0),
            state: Mutex::new(State {
                status: PoolState::Paused,
                populate: false,
                generation: 0,
                service_generations: HashMap::new(),
                available: VecDeque::new(),
                total: 0,
                pending: 0,
                checked_out: 0,
                waiters: BTreeMap::new(),
                next_ticket: 0,
                interruptible: Vec::new(),
                interrupt_below: 0,
            }),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State<C>> {
        // Nothing panics while the lock is held (no user code runs under it).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn emit(&self, event: impl FnOnce() -> CmapEvent) {
        if let Some(handler) = &self.options.event_handler {
            handler.handle(&event());
        }
    }

    /// Emits `ConnectionClosed` for each and drops it (closing its socket).
    pub(super) fn close_all(&self, closing: Closing<C>) {
        for (member, reason) in closing {
            self.emit(|| CmapEvent::ConnectionClosed {
                address: self.address.clone(),
                connection_id: member.id,
                reason,
            });
            drop(member);
        }
    }

    /// [`Pool::clear`](super::Pool::clear); with `only_generation`, only if the pool is
    /// still at that generation (nobody cleared it since).
    pub(super) fn clear(&self, interrupt_in_use_connections: bool, only_generation: Option<u64>) {
        let (was_ready, cutoff, stale, interrupted) = {
            let mut st = self.lock();
            if st.status == PoolState::Closed || only_generation.is_some_and(|g| g != st.generation)
            {
                return;
            }
            st.generation += 1;
            // Everything still registered is of an older generation: being established,
            // in use, or about to be closed with the available ones below.
            let interrupted: Vec<_> = if interrupt_in_use_connections {
                st.interrupt_below = st.generation;
                st.interruptible
                    .drain(..)
                    .filter_map(|w| w.upgrade())
                    .collect()
            } else {
                Vec::new()
            };
            let was_ready = st.status == PoolState::Ready;
            st.status = PoolState::Paused;
            st.populate = false;
            let stale: Closing<C> = st
                .available
                .drain(..)
                .map(|m| (m, ConnectionClosedReason::Stale))
                .collect();
            st.total -= stale.len();
            (was_ready, st.next_ticket, stale, interrupted)
        };
        if was_ready {
            self.emit(|| CmapEvent::PoolCleared {
                address: self.address.clone(),
                interrupt_in_use_connections,
                service_id: None,
            });
        }
        self.close_all(stale);
        for connection in interrupted {
            connection.interrupt();
        }
        self.fail_waiters(cutoff, Failure::Cleared);
    }

    /// Why an available connection must not be handed out, if it must not.
    pub(super) fn perished(
        &self,
        member: &Member<C>,
        current_generation: u64,
        now: Instant,
    ) -> Option<ConnectionClosedReason> {
        if member.generation != current_generation {
            Some(ConnectionClosedReason::Stale)
        } else if self
            .options
            .max_idle_time()
            .is_some_and(|max| now.saturating_duration_since(member.since) >= max)
        {
            Some(ConnectionClosedReason::Idle)
        } else {
            None
        }
    }

    /// The most recently used available connection that has not perished; the perished
    /// ones met on the way are moved to `closing`.
    pub(super) fn take_available(
        &self,
        st: &mut State<C>,
        closing: &mut Closing<C>,
    ) -> Option<Member<C>> {
        let now = Instant::now();
        while let Some(member) = st.available.pop_back() {
            let current = st.generation_of(member.service.as_ref());
            match self.perished(&member, current, now) {
                Some(reason) => {
                    st.total -= 1;
                    closing.push((member, reason));
                }
                None => return Some(member),
            }
        }
        None
    }

    /// Whether one more connection may be established now (`maxPoolSize` and
    /// `maxConnecting`).
    pub(super) fn can_establish(&self, st: &State<C>) -> bool {
        st.pending < self.options.max_connecting() as usize
            && self
                .options
                .max_pool_size()
                .is_none_or(|max| st.total < max as usize)
    }

    /// Serves queued checkouts, oldest first, while there is something to hand out.
    pub(super) fn dispatch(&self, st: &mut State<C>, closing: &mut Closing<C>) {
        if st.status != PoolState::Ready {
            return;
        }
        while !st.waiters.is_empty() {
            let grant = if let Some(member) = self.take_available(st, closing) {
                st.checked_out += 1;
                Grant::Connection(member)
            } else if self.can_establish(st) {
                st.total += 1;
                st.pending += 1;
                Grant::Establish {
                    generation: st.generation,
                }
            } else {
                return;
            };
            let (_, waiter) = st.waiters.pop_first().expect("not empty");
            if let Err(grant) = waiter.try_send(grant) {
                // Waiters leave the queue before dropping their receiver, so this is a
                // safety net: take the grant back and serve the next one.
                self.revoke(st, grant);
            }
        }
    }

    /// Undoes the bookkeeping of a grant its waiter did not take.
    pub(super) fn revoke(&self, st: &mut State<C>, grant: Grant<C>) {
        match grant {
            Grant::Connection(member) => {
                st.checked_out -= 1;
                st.available.push_back(member);
            }
            Grant::Establish { .. } => {
                st.total -= 1;
                st.pending -= 1;
            }
            Grant::Fail(_) => {}
        }
    }

    /// Fails the checkouts queued before ticket `cutoff`.
    pub(super) fn fail_waiters(&self, cutoff: u64, failure: Failure) {
        let failing = {
            let mut st = self.lock();
            let later = st.waiters.split_off(&cutoff);
            std::mem::replace(&mut st.waiters, later)
        };
        // Each waiter is out of the queue, so it knows a grant is on its way.
        for (_, waiter) in failing {
            let _ = waiter.try_send(Grant::Fail(failure));
        }
    }

    pub(super) fn check_in(
        &self,
        conn: C,
        id: u64,
        generation: u64,
        interrupter: Arc<Interrupter>,
    ) {
        self.emit(|| CmapEvent::ConnectionCheckedIn {
            address: self.address.clone(),
            connection_id: id,
        });
        let reusable = conn.is_reusable();
        let service = conn.service_id();
        let member = Member {
            conn,
            id,
            generation,
            since: Instant::now(),
            interrupter,
            service,
        };
        let mut closing = Vec::new();
        {
            let mut st = self.lock();
            st.checked_out -= 1;
            let reason = if st.status == PoolState::Closed {
                Some(ConnectionClosedReason::PoolClosed)
            } else if generation != st.generation_of(service.as_ref()) {
                Some(ConnectionClosedReason::Stale)
            } else if !reusable {
                Some(ConnectionClosedReason::Error)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    st.total -= 1;
                    closing.push((member, reason));
                }
                None => st.available.push_back(member),
            }
            self.dispatch(&mut st, &mut closing);
        }
        self.close_all(closing);
    }

    /// One maintenance run: close perished available connections, then create
    /// connections up to `minPoolSize` while allowed, one at a time. Does the work at
    /// hand and returns; never waits for a turn.
    pub(super) fn maintain(&self) {
        let mut closing = Vec::new();
        {
            let mut st = self.lock();
            let now = Instant::now();
            for member in std::mem::take(&mut st.available) {
                let current = st.generation_of(member.service.as_ref());
                match self.perished(&member, current, now) {
                    Some(reason) => closing.push((member, reason)),
                    None => st.available.push_back(member),
                }
            }
            st.total -= closing.len();
        }
        self.close_all(closing);
        let min = self.options.min_pool_size() as usize;
        if min == 0 {
            return;
        }
        loop {
            let generation = {
                let mut st = self.lock();
                let allowed = st.status == PoolState::Ready && st.populate;
                if !allowed || st.total >= min || !self.can_establish(&st) {
                    return;
                }
                st.total += 1;
                st.pending += 1;
                st.generation
            };
            // A failure has been handled (see `Inner::establish`): this run ends.
            let Ok((slot, member)) = self.establish(generation, true) else {
                return;
            };
            if self.settle(slot, member, false).is_err() {
                return;
            }
        }
    }
}

impl Failure {
    pub(super) fn reason(self) -> CheckOutFailedReason {
        match self {
            Failure::Cleared => CheckOutFailedReason::ConnectionError,
            Failure::Closed => CheckOutFailedReason::PoolClosed,
        }
    }

    pub(super) fn error(self, address: &ServerAddress) -> Error {
        Error::new(match self {
            Failure::Cleared => ErrorKind::PoolCleared {
                message: format!(
                    "the connection pool for {address} is paused after a clear; the operation \
                     may be retried"
                ),
            },
            Failure::Closed => ErrorKind::PoolClosed {
                message: format!("the connection pool for {address} is closed"),
            },
        })
    }
}
