//! CMAP monitoring events, as the spec's "Connection Pool Monitoring" section names them.

use std::{fmt, time::Duration};

use super::PoolOptions;
use crate::options::ServerAddress;

/// Something that happened in a connection pool.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use greenmongo::{event::EventHandler, options::ServerAddress, pool::{CmapEvent, Pool, PoolOptions}};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let mut options = PoolOptions::default();
/// options.event_handler = Some(EventHandler::new(move |e: &CmapEvent| {
///     log.lock().unwrap().push(e.name());
/// }));
/// let pool = Pool::new(ServerAddress::default(), options, |_: &ServerAddress, _| Ok(()));
/// pool.ready();
/// drop(pool.check_out()?);
/// assert_eq!(
///     *seen.lock().unwrap(),
///     [
///         "ConnectionPoolCreated",
///         "ConnectionPoolReady",
///         "ConnectionCheckOutStarted",
///         "ConnectionCreated",
///         "ConnectionReady",
///         "ConnectionCheckedOut",
///         "ConnectionCheckedIn",
///     ]
/// );
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CmapEvent {
    /// The pool was created (paused).
    PoolCreated {
        /// The server the pool connects to.
        address: ServerAddress,
        /// The options the pool was created with.
        options: PoolOptions,
    },
    /// The pool was marked ready: checkouts and background connection creation resume.
    PoolReady {
        /// The server the pool connects to.
        address: ServerAddress,
    },
    /// The pool was cleared: its generation went up and it is paused.
    PoolCleared {
        /// The server the pool connects to.
        address: ServerAddress,
        /// Whether the clear asked to interrupt connections in use.
        interrupt_in_use_connections: bool,
        /// Load-balanced mode: the service behind the load balancer whose connections
        /// were cleared ([`Pool::clear_service`](super::Pool::clear_service)); `None` for
        /// a clear of the whole pool.
        service_id: Option<bson::oid::ObjectId>,
    },
    /// The pool was closed.
    PoolClosed {
        /// The server the pool connects to.
        address: ServerAddress,
    },
    /// A connection was created (not yet established).
    ConnectionCreated {
        /// The server the pool connects to.
        address: ServerAddress,
        /// The connection's id in its pool (1, 2, 3, ... in order of creation).
        connection_id: u64,
    },
    /// A connection finished its handshake and authentication.
    ConnectionReady {
        /// The server the pool connects to.
        address: ServerAddress,
        /// The connection's id in its pool.
        connection_id: u64,
        /// Time from `ConnectionCreated` to now.
        duration: Duration,
    },
    /// A connection was closed.
    ConnectionClosed {
        /// The server the pool connects to.
        address: ServerAddress,
        /// The connection's id in its pool.
        connection_id: u64,
        /// Why.
        reason: ConnectionClosedReason,
    },
    /// A checkout started.
    ConnectionCheckOutStarted {
        /// The server the pool connects to.
        address: ServerAddress,
    },
    /// A checkout failed.
    ConnectionCheckOutFailed {
        /// The server the pool connects to.
        address: ServerAddress,
        /// Why.
        reason: CheckOutFailedReason,
        /// Time from `ConnectionCheckOutStarted` to now.
        duration: Duration,
    },
    /// A checkout succeeded.
    ConnectionCheckedOut {
        /// The server the pool connects to.
        address: ServerAddress,
        /// The connection's id in its pool.
        connection_id: u64,
        /// Time from `ConnectionCheckOutStarted` to now.
        duration: Duration,
    },
    /// A connection came back to the pool (it may be closed right after).
    ConnectionCheckedIn {
        /// The server the pool connects to.
        address: ServerAddress,
        /// The connection's id in its pool.
        connection_id: u64,
    },
}

impl CmapEvent {
    /// The event's name in the CMAP spec and its test files, e.g. `"ConnectionPoolCreated"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::CmapEvent};
    ///
    /// let e = CmapEvent::PoolReady { address: ServerAddress::default() };
    /// assert_eq!(e.name(), "ConnectionPoolReady");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            CmapEvent::PoolCreated { .. } => "ConnectionPoolCreated",
            CmapEvent::PoolReady { .. } => "ConnectionPoolReady",
            CmapEvent::PoolCleared { .. } => "ConnectionPoolCleared",
            CmapEvent::PoolClosed { .. } => "ConnectionPoolClosed",
            CmapEvent::ConnectionCreated { .. } => "ConnectionCreated",
            CmapEvent::ConnectionReady { .. } => "ConnectionReady",
            CmapEvent::ConnectionClosed { .. } => "ConnectionClosed",
            CmapEvent::ConnectionCheckOutStarted { .. } => "ConnectionCheckOutStarted",
            CmapEvent::ConnectionCheckOutFailed { .. } => "ConnectionCheckOutFailed",
            CmapEvent::ConnectionCheckedOut { .. } => "ConnectionCheckedOut",
            CmapEvent::ConnectionCheckedIn { .. } => "ConnectionCheckedIn",
        }
    }

    /// The address of the pool that emitted the event.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::CmapEvent};
    ///
    /// let address = ServerAddress::tcp("db1", 27018);
    /// let e = CmapEvent::PoolClosed { address: address.clone() };
    /// assert_eq!(e.address(), &address);
    /// ```
    pub fn address(&self) -> &ServerAddress {
        match self {
            CmapEvent::PoolCreated { address, .. }
            | CmapEvent::PoolReady { address }
            | CmapEvent::PoolCleared { address, .. }
            | CmapEvent::PoolClosed { address }
            | CmapEvent::ConnectionCreated { address, .. }
            | CmapEvent::ConnectionReady { address, .. }
            | CmapEvent::ConnectionClosed { address, .. }
            | CmapEvent::ConnectionCheckOutStarted { address }
            | CmapEvent::ConnectionCheckOutFailed { address, .. }
            | CmapEvent::ConnectionCheckedOut { address, .. }
            | CmapEvent::ConnectionCheckedIn { address, .. } => address,
        }
    }
}

/// Why a connection was closed.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use greenmongo::{event::EventHandler, options::ServerAddress, pool::{CmapEvent, ConnectionClosedReason, Pool, PoolOptions}};
///
/// let reasons = Arc::new(Mutex::new(Vec::new()));
/// let log = reasons.clone();
/// let mut options = PoolOptions::default();
/// options.event_handler = Some(EventHandler::new(move |e: &CmapEvent| {
///     if let CmapEvent::ConnectionClosed { reason, .. } = e { log.lock().unwrap().push(*reason); }
/// }));
/// let pool = Pool::new(ServerAddress::default(), options, |_: &ServerAddress, _| Ok(()));
/// pool.ready();
/// let conn = pool.check_out()?;
/// pool.clear(false);
/// drop(conn);
/// assert_eq!(*reasons.lock().unwrap(), [ConnectionClosedReason::Stale]);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionClosedReason {
    /// The pool was cleared after the connection was created (its generation is old).
    Stale,
    /// It sat available for longer than `maxIdleTimeMS`.
    Idle,
    /// It failed, or an operation on it was interrupted mid-message (timeout, deadline,
    /// panic, coroutine dropped), or establishing it failed.
    Error,
    /// The pool was closed.
    PoolClosed,
}

impl ConnectionClosedReason {
    /// The spec's name: `"stale"`, `"idle"`, `"error"` or `"poolClosed"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::pool::ConnectionClosedReason;
    /// assert_eq!(ConnectionClosedReason::PoolClosed.as_str(), "poolClosed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionClosedReason::Stale => "stale",
            ConnectionClosedReason::Idle => "idle",
            ConnectionClosedReason::Error => "error",
            ConnectionClosedReason::PoolClosed => "poolClosed",
        }
    }
}

impl fmt::Display for ConnectionClosedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a checkout failed.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use greenmongo::{event::EventHandler, options::ServerAddress, pool::{CheckOutFailedReason, CmapEvent, Pool, PoolOptions}};
///
/// let reasons = Arc::new(Mutex::new(Vec::new()));
/// let log = reasons.clone();
/// let mut options = PoolOptions::default();
/// options.event_handler = Some(EventHandler::new(move |e: &CmapEvent| {
///     if let CmapEvent::ConnectionCheckOutFailed { reason, .. } = e { log.lock().unwrap().push(*reason); }
/// }));
/// let pool = Pool::new(ServerAddress::default(), options, |_: &ServerAddress, _| Ok(()));
/// pool.close();
/// assert!(pool.check_out().is_err());
/// assert_eq!(*reasons.lock().unwrap(), [CheckOutFailedReason::PoolClosed]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckOutFailedReason {
    /// The pool is closed.
    PoolClosed,
    /// `waitQueueTimeoutMS` (or the caller's deadline) passed while waiting.
    Timeout,
    /// Establishing a new connection failed, or the pool is paused (cleared).
    ConnectionError,
}

impl CheckOutFailedReason {
    /// The spec's name: `"poolClosed"`, `"timeout"` or `"connectionError"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::pool::CheckOutFailedReason;
    /// assert_eq!(CheckOutFailedReason::ConnectionError.as_str(), "connectionError");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutFailedReason::PoolClosed => "poolClosed",
            CheckOutFailedReason::Timeout => "timeout",
            CheckOutFailedReason::ConnectionError => "connectionError",
        }
    }
}

impl fmt::Display for CheckOutFailedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
