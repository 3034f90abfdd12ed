//! Connection pooling: the Connection Monitoring and Pooling (CMAP) spec.
//!
//! One [`Pool`] per server address. [`Pool::check_out`] returns a [`PooledConnection`]
//! that derefs to the connection and goes back to the pool when dropped; a connection
//! whose operation was interrupted mid-message ([`PoolConnection::is_reusable`] false:
//! a timeout, a deadline, a panic, a dropped coroutine) is closed instead, never handed
//! out again.
//!
//! The [`Client`](crate::Client) keeps one `Pool` of its connections per server. The
//! pool is public for instrumentation ([`CmapEvent`]s, [`Pool::counts`]), for tests, and
//! because it is generic: it pools anything that implements [`PoolConnection`], and the
//! spec tests run it over fake connections with no server.
//!
//! # How it works
//! - **States.** A pool starts *paused*: checkouts fail at once with a retryable
//!   [`ErrorKind::PoolCleared`](crate::ErrorKind::PoolCleared) error. [`Pool::ready`] (server monitoring calls it after a
//!   successful check) lets checkouts through; [`Pool::clear`] bumps the pool's
//!   *generation*, pauses it and fails every queued checkout; connections of an older
//!   generation are closed when they come back or are found available, never handed
//!   out. [`Pool::close`] (or dropping the pool) closes it for good.
//! - **Fair waiting.** A checkout that cannot be served at once (the pool is at
//!   `maxPoolSize`, or `maxConnecting` connections are already being established) joins a
//!   FIFO queue. Whoever frees something — a check-in, a finished establishment — hands
//!   it straight to the oldest waiter: a connection, or the right to establish one. A
//!   newcomer never overtakes a waiter. Waiters park on the runtime's channels, so a
//!   waiting coroutine yields its worker and a waiting thread blocks; both honour
//!   `waitQueueTimeoutMS` and the caller's [`with_timeout`](crate::runtime::time::with_timeout)
//!   deadline.
//! - **Cancellation.** The pool's own lock is a `std::sync::Mutex` held for a few
//!   instructions and never across a wait, I/O or an event handler. A waiter that gives
//!   up (timeout, panic, its coroutine unwound by a runtime shutdown) leaves the queue,
//!   and whatever was handed to it in the meantime goes to the next waiter.
//! - **Establishing** (the `connect` closure given to [`Pool::new`]: TCP, TLS, handshake,
//!   authentication) happens in the checking-out coroutine or thread, outside the lock,
//!   so other checkouts and check-ins go on meanwhile.
//! - **Maintenance.** With `minPoolSize` or `maxIdleTimeMS` set, a background task
//!   creates connections up to `minPoolSize` while the pool is ready and closes idle
//!   ones. Inside a runtime (a pool created from a coroutine) it is a coroutine of that
//!   runtime named `greenmongo-pool-maintenance`, which does not keep the runtime alive:
//!   it ends when the runtime shuts down (the pool then goes on without it). Elsewhere it
//!   is a thread of the same name. Either ends when the pool is closed or dropped; it
//!   holds only a weak reference to the pool. A connection it fails to establish goes
//!   through SDAM's error rules: a client's `connect` closure applies them; a pool on its
//!   own clears itself ([`PoolOptions::sdam_handles_errors`]).
//!
//! - **Interrupting.** `clear(interrupt_in_use_connections = true)` (server monitoring
//!   does it when a check times out) also aborts the connections being established or
//!   in use, through what their `connect` closure registered with
//!   [`Establishing::on_interrupt`]: the driver shuts their sockets down, so whoever is
//!   parked on one fails at once with a network error.
//!
//! - **Load-balanced mode.** Connections name the service behind the load balancer
//!   they reach ([`PoolConnection::service_id`]); the pool keeps a generation per
//!   service, and [`Pool::clear_service`] clears one service's connections without
//!   pausing the pool.
//!
//! Not implemented yet: CMAP log messages.
//!
//! # Examples
//!
//! A pool of fake connections (the pool is generic over what it pools):
//!
//! ```
//! use greenmongo::{options::ServerAddress, pool::{Establishing, Pool, PoolConnection, PoolOptions}};
//!
//! struct Fake(u64);
//! impl PoolConnection for Fake {
//!     fn is_reusable(&self) -> bool { true }
//! }
//!
//! let mut options = PoolOptions::default();
//! options.max_pool_size = Some(2);
//! let pool = Pool::new(ServerAddress::default(), options, |_: &ServerAddress, e: &Establishing| {
//!     Ok(Fake(e.generation()))
//! });
//! assert!(pool.check_out().unwrap_err().is_pool_cleared()); // paused until ready
//! pool.ready();
//! let a = pool.check_out()?;
//! let b = pool.check_out()?;
//! assert_eq!((a.id(), b.id()), (1, 2));
//! assert_eq!(pool.counts().checked_out, 2);
//! drop(a); // back to the pool
//! let c = pool.check_out()?;
//! assert_eq!(c.id(), 1);
//! pool.clear(false);
//! drop(c); // stale: closed, not pooled
//! assert_eq!(pool.counts().total, 1);
//! # Ok::<(), greenmongo::Error>(())
//! ```

mod checkout;
mod establish;
mod event;
mod interrupt;
mod maintenance;
mod options;
mod pooled;
mod shared;

use std::{fmt, sync::Arc};

pub use event::{CheckOutFailedReason, CmapEvent, ConnectionClosedReason};
pub use interrupt::Establishing;
pub use options::{
    DEFAULT_MAINTENANCE_INTERVAL, DEFAULT_MAX_CONNECTING, DEFAULT_MAX_POOL_SIZE, PoolOptions,
};
pub use pooled::PooledConnection;

use crate::{Result, options::ServerAddress, runtime::sync::mpsc};
use shared::{Closing, Failure, Inner};

/// What a [`Pool`] can pool.
///
/// # Examples
///
/// ```
/// use greenmongo::pool::PoolConnection;
///
/// struct Fake { broken: bool }
/// impl PoolConnection for Fake {
///     fn is_reusable(&self) -> bool { !self.broken }
/// }
/// assert!(!Fake { broken: true }.is_reusable());
/// ```
pub trait PoolConnection: Send + 'static {
    /// Whether the connection may go back to the pool: not broken, and no request left
    /// half sent or its reply half read. Checked at check-in; `false` closes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolConnection, PoolOptions}};
    ///
    /// struct Conn { interrupted: bool }
    /// impl PoolConnection for Conn {
    ///     fn is_reusable(&self) -> bool { !self.interrupted }
    /// }
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(Conn { interrupted: false }));
    /// pool.ready();
    /// let mut conn = pool.check_out()?;
    /// conn.interrupted = true; // e.g. a timeout mid-reply
    /// drop(conn);
    /// assert_eq!(pool.counts().total, 0); // closed, not pooled
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    fn is_reusable(&self) -> bool;

    /// In load-balanced mode, the service behind the load balancer this connection
    /// reaches: the pool keeps a generation per service, and
    /// [`Pool::clear_service`] clears only that service's connections. `None` (the
    /// default) outside load-balanced mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::pool::PoolConnection;
    /// assert_eq!(().service_id(), None);
    /// ```
    fn service_id(&self) -> Option<bson::oid::ObjectId> {
        None
    }
}

/// A connection that does nothing, for examples and tests of the pool itself.
impl PoolConnection for () {
    fn is_reusable(&self) -> bool {
        true
    }
}

/// The state of a [`Pool`].
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions, PoolState}};
///
/// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
/// assert_eq!(pool.state(), PoolState::Paused);
/// pool.ready();
/// assert_eq!(pool.state(), PoolState::Ready);
/// pool.close();
/// assert_eq!(pool.state(), PoolState::Closed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolState {
    /// Checkouts fail at once with a retryable error, and no connections are created in
    /// the background. A new pool, and a cleared one, is paused.
    Paused,
    /// Serving checkouts.
    Ready,
    /// Closed for good.
    Closed,
}

/// A snapshot of a pool's connection counts.
///
/// `total` counts every connection the pool owns: `pending + available + checked_out`.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, pool::{Pool, PoolCounts, PoolOptions}};
///
/// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
/// assert_eq!(pool.counts(), PoolCounts::default()); // all zero
/// pool.ready();
/// let _conn = pool.check_out()?;
/// let counts = pool.counts();
/// assert_eq!(counts.total, counts.pending + counts.available + counts.checked_out);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolCounts {
    /// Connections the pool owns, whatever their state.
    pub total: usize,
    /// Established connections waiting in the pool.
    pub available: usize,
    /// Connections being established.
    pub pending: usize,
    /// Connections checked out (in use).
    pub checked_out: usize,
    /// Checkouts waiting in the queue.
    pub waiting: usize,
}

/// A connection pool for one server. See the [module docs](self).
///
/// Dropping the pool closes it (connections checked out at that moment are closed when
/// they come back).
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}};
///
/// let pool = Pool::new(ServerAddress::tcp("db1", 27017), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
/// pool.ready(); // what a successful server check does
/// let conn = pool.check_out()?;
/// assert_eq!(conn.address().to_string(), "db1:27017");
/// drop(conn); // checked back in
/// assert_eq!(pool.counts().available, 1);
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub struct Pool<C: PoolConnection> {
    inner: Arc<Inner<C>>,
    /// Wakes the maintenance task, if there is one; dropping it (with the pool) ends the
    /// task. Replaced when the task ended with the runtime it ran in.
    maintenance: Option<std::sync::Mutex<mpsc::Sender<()>>>,
}

impl<C: PoolConnection> Pool<C> {
    /// A paused pool for `address`; `connect(address, establishing)` establishes each
    /// connection (connect, handshake, authenticate) of generation
    /// `establishing.generation()`, and may register how to abort it
    /// ([`Establishing::on_interrupt`]). Emits `PoolCreated`, and starts the
    /// maintenance task if `minPoolSize` or `maxIdleTimeMS` is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions, PoolState}};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// assert_eq!(pool.state(), PoolState::Paused);
    /// ```
    pub fn new(
        address: ServerAddress,
        options: PoolOptions,
        connect: impl Fn(&ServerAddress, &Establishing) -> Result<C> + Send + Sync + 'static,
    ) -> Pool<C> {
        let inner = Arc::new(Inner::new(address, options, Box::new(connect)));
        inner.emit(|| CmapEvent::PoolCreated {
            address: inner.address.clone(),
            options: inner.options.clone(),
        });
        let maintenance = inner
            .options
            .needs_maintenance()
            .then(|| std::sync::Mutex::new(maintenance::start(&inner)));
        Pool { inner, maintenance }
    }

    /// The server this pool connects to.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}};
    ///
    /// let pool = Pool::new(ServerAddress::tcp("db1", 27017), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// assert_eq!(pool.address(), &ServerAddress::tcp("db1", 27017));
    /// ```
    pub fn address(&self) -> &ServerAddress {
        &self.inner.address
    }

    /// The options the pool was created with.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}};
    ///
    /// let mut options = PoolOptions::default();
    /// options.max_pool_size = Some(5);
    /// let pool = Pool::new(ServerAddress::default(), options, |_: &ServerAddress, _| Ok(()));
    /// assert_eq!(pool.options().max_pool_size(), Some(5));
    /// ```
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// Paused, ready or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions, PoolState}};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// pool.ready();
    /// pool.clear(false);
    /// assert_eq!(pool.state(), PoolState::Paused); // cleared pools pause until the next good check
    /// ```
    pub fn state(&self) -> PoolState {
        self.inner.lock().status
    }

    /// The generation: how many times the pool was cleared.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// assert_eq!(pool.generation(), 0);
    /// pool.clear(false);
    /// assert_eq!(pool.generation(), 1);
    /// ```
    pub fn generation(&self) -> u64 {
        self.inner.lock().generation
    }

    /// The connection counts now.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// pool.ready();
    /// let conn = pool.check_out()?;
    /// let counts = pool.counts();
    /// assert_eq!((counts.total, counts.checked_out, counts.available), (1, 1, 0));
    /// drop(conn);
    /// let counts = pool.counts();
    /// assert_eq!((counts.total, counts.checked_out, counts.available), (1, 0, 1));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn counts(&self) -> PoolCounts {
        let st = self.inner.lock();
        PoolCounts {
            total: st.total,
            available: st.available.len(),
            pending: st.pending,
            checked_out: st.checked_out,
            waiting: st.waiters.len(),
        }
    }

    /// Checks out a connection: an available one (closing any stale or idle ones met on
    /// the way), or a new one established in the caller, or — when the pool is at
    /// `maxPoolSize` or `maxConnecting` — the first one freed after the checkouts queued
    /// before this one are served.
    ///
    /// # Errors
    /// - [`ErrorKind::PoolCleared`](crate::ErrorKind::PoolCleared) when the pool is paused, or is cleared while waiting
    ///   (retryable);
    /// - [`ErrorKind::PoolClosed`](crate::ErrorKind::PoolClosed) when the pool is closed;
    /// - [`ErrorKind::WaitQueueTimeout`](crate::ErrorKind::WaitQueueTimeout) when `waitQueueTimeoutMS` passes while waiting;
    /// - an I/O error of kind `TimedOut` when the caller's
    ///   [`with_timeout`](crate::runtime::time::with_timeout) deadline passes while
    ///   waiting (`Interrupted` when the coroutine is cancelled);
    /// - the `connect` closure's error when establishing a new connection fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}, ErrorKind};
    ///
    /// let mut options = PoolOptions::default();
    /// options.max_pool_size = Some(1);
    /// options.wait_queue_timeout = Some(Duration::from_millis(20));
    /// let pool = Pool::new(ServerAddress::default(), options, |_: &ServerAddress, _| Ok(()));
    /// pool.ready();
    /// let held = pool.check_out()?;
    /// let err = pool.check_out().unwrap_err();
    /// assert!(matches!(*err.kind, ErrorKind::WaitQueueTimeout { .. }), "{err}");
    /// assert!(err.to_string().contains("waitQueueTimeoutMS"));
    /// drop(held);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn check_out(&self) -> Result<PooledConnection<C>> {
        self.inner.check_out()
    }

    /// Marks a paused pool ready: checkouts and background connection creation resume.
    /// Emits `PoolReady`; does nothing unless the pool is paused.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// assert!(pool.check_out().unwrap_err().is_pool_cleared());
    /// pool.ready();
    /// assert!(pool.check_out().is_ok());
    /// ```
    pub fn ready(&self) {
        let inner = &self.inner;
        {
            let mut st = inner.lock();
            if st.status != PoolState::Paused {
                return;
            }
            st.status = PoolState::Ready;
        }
        inner.emit(|| CmapEvent::PoolReady {
            address: inner.address.clone(),
        });
        let mut closing = Vec::new();
        {
            let mut st = inner.lock();
            if st.status == PoolState::Ready {
                st.populate = true;
                inner.dispatch(&mut st, &mut closing);
            }
        }
        inner.close_all(closing);
        self.wake_maintenance();
    }

    /// Clears the pool: bumps its generation (every existing connection is now stale),
    /// pauses it, closes the available connections and fails the queued checkouts with a
    /// retryable [`ErrorKind::PoolCleared`](crate::ErrorKind::PoolCleared) error. Connections in use are closed when
    /// they come back. Emits `PoolCleared` unless the pool was already paused; does
    /// nothing to a closed pool.
    ///
    /// With `interrupt_in_use_connections`, it also aborts the connections being
    /// established or in use, through what their `connect` closure registered with
    /// [`Establishing::on_interrupt`] (see the example there).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions, PoolState}};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// pool.ready();
    /// drop(pool.check_out()?);
    /// pool.clear(false);
    /// assert_eq!((pool.state(), pool.generation(), pool.counts().total), (PoolState::Paused, 1, 0));
    /// assert!(pool.check_out().unwrap_err().is_pool_cleared());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn clear(&self, interrupt_in_use_connections: bool) {
        self.inner.clear(interrupt_in_use_connections, None);
    }

    /// Load-balanced mode: the current generation of connections to `service_id` (it
    /// goes up with every [`Pool::clear`] and every [`Pool::clear_service`] of that
    /// service).
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::oid::ObjectId;
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// let (a, b) = (ObjectId::new(), ObjectId::new());
    /// pool.clear_service(a);
    /// assert_eq!((pool.service_generation(a), pool.service_generation(b)), (1, 0));
    /// ```
    pub fn service_generation(&self, service_id: bson::oid::ObjectId) -> u64 {
        self.inner.lock().generation_of(Some(&service_id))
    }

    /// Load-balanced mode: clears the connections to one service behind the load
    /// balancer (the CMAP spec's `clear(serviceId)`), after an error on one of them that
    /// calls for a clear. Their generation goes up, so they are closed when found
    /// available or checked in; the pool stays ready and connections to other services
    /// are untouched. Emits `PoolCleared` with the service id.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::oid::ObjectId;
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolConnection, PoolOptions, PoolState}};
    ///
    /// struct Conn(ObjectId);
    /// impl PoolConnection for Conn {
    ///     fn is_reusable(&self) -> bool { true }
    ///     fn service_id(&self) -> Option<ObjectId> { Some(self.0) }
    /// }
    ///
    /// let service = ObjectId::new();
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), move |_: &ServerAddress, _| Ok(Conn(service)));
    /// pool.ready();
    /// drop(pool.check_out()?); // available again
    /// pool.clear_service(service);
    /// assert_eq!(pool.state(), PoolState::Ready);
    /// assert_eq!(pool.counts().total, 0); // the stale connection was closed
    /// assert_eq!(pool.check_out()?.id(), 2);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn clear_service(&self, service_id: bson::oid::ObjectId) {
        let inner = &self.inner;
        let stale = {
            let mut st = inner.lock();
            if st.status == PoolState::Closed {
                return;
            }
            *st.service_generations.entry(service_id).or_default() += 1;
            let (stale, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut st.available)
                .into_iter()
                .partition(|m| m.service == Some(service_id));
            st.available = kept.into();
            st.total -= stale.len();
            let mut stale: Closing<C> = stale
                .into_iter()
                .map(|m| (m, ConnectionClosedReason::Stale))
                .collect();
            // The freed room may serve a queued checkout.
            inner.dispatch(&mut st, &mut stale);
            stale
        };
        inner.emit(|| CmapEvent::PoolCleared {
            address: inner.address.clone(),
            interrupt_in_use_connections: false,
            service_id: Some(service_id),
        });
        inner.close_all(stale);
    }

    /// Closes the pool for good: closes the available connections, fails the queued
    /// checkouts, and emits `PoolClosed`. Later checkouts fail; connections in use are
    /// closed when they come back. Dropping the pool does the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Pool, PoolOptions}, ErrorKind};
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, _| Ok(()));
    /// pool.ready();
    /// pool.close();
    /// let err = pool.check_out().unwrap_err();
    /// assert!(matches!(*err.kind, ErrorKind::PoolClosed { .. }));
    /// ```
    pub fn close(&self) {
        let inner = &self.inner;
        let available = {
            let mut st = inner.lock();
            if st.status == PoolState::Closed {
                return;
            }
            st.status = PoolState::Closed;
            st.populate = false;
            let available: Closing<C> = st
                .available
                .drain(..)
                .map(|m| (m, ConnectionClosedReason::PoolClosed))
                .collect();
            st.total -= available.len();
            available
        };
        inner.close_all(available);
        inner.emit(|| CmapEvent::PoolClosed {
            address: inner.address.clone(),
        });
        inner.fail_waiters(u64::MAX, Failure::Closed);
        self.wake_maintenance();
    }

    fn wake_maintenance(&self) {
        if let Some(wake) = &self.maintenance {
            let wake = wake
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = wake.try_send(()); // full: a wake-up is already pending
        }
    }

    /// Starts the maintenance task again, here, if it ended while the pool is open: it
    /// ran in a runtime since dropped, or could not be spawned.
    pub(crate) fn restart_maintenance(&self) {
        let Some(wake) = &self.maintenance else {
            return;
        };
        let mut wake = wake
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if wake.is_closed() && self.inner.lock().status != PoolState::Closed {
            *wake = maintenance::start(&self.inner);
        }
    }
}

impl<C: PoolConnection> Drop for Pool<C> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<C: PoolConnection> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("address", &self.inner.address)
            .field("state", &self.state())
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn pools_and_pooled_connections_cross_threads() {
        struct NotSync(#[allow(dead_code)] std::cell::Cell<u8>);
        impl PoolConnection for NotSync {
            fn is_reusable(&self) -> bool {
                true
            }
        }
        assert_send_sync::<Pool<NotSync>>();
        fn assert_send<T: Send>() {}
        assert_send::<PooledConnection<NotSync>>();
    }
}
