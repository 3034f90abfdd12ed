//! The pool's options: the CMAP spec's `ConnectionPoolOptions`, plus the event handler.

use std::{fmt, time::Duration};

use super::CmapEvent;
use crate::event::EventHandler;
use crate::options::ClientOptions;

/// `maxPoolSize` when none is given.
///
/// # Examples
///
/// ```
/// use greenmongo::pool::{PoolOptions, DEFAULT_MAX_POOL_SIZE};
///
/// assert_eq!(PoolOptions::default().max_pool_size(), Some(DEFAULT_MAX_POOL_SIZE)); // 100
/// ```
pub const DEFAULT_MAX_POOL_SIZE: u32 = 100;
/// `maxConnecting` when none is given.
///
/// # Examples
///
/// ```
/// use greenmongo::pool::{PoolOptions, DEFAULT_MAX_CONNECTING};
///
/// assert_eq!(PoolOptions::default().max_connecting(), DEFAULT_MAX_CONNECTING); // 2
/// ```
pub const DEFAULT_MAX_CONNECTING: u32 = 2;
/// How often the maintenance task runs when [`PoolOptions::maintenance_interval`] is
/// `None`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::pool::{PoolOptions, DEFAULT_MAINTENANCE_INTERVAL};
///
/// let options = PoolOptions::default();
/// assert_eq!(options.maintenance_interval.unwrap_or(DEFAULT_MAINTENANCE_INTERVAL), Duration::from_millis(500));
/// ```
pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_millis(500);

/// How a [`Pool`](super::Pool) behaves. Every option is `None` when not given, so the
/// `PoolCreated` event can report what the user chose; the accessor methods apply the
/// spec's defaults.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::{pool::PoolOptions, ClientOptions};
///
/// let client = ClientOptions::parse("mongodb://localhost/?maxPoolSize=10&maxIdleTimeMS=5000")?;
/// let options = PoolOptions::from_client_options(&client);
/// assert_eq!(options.max_pool_size(), Some(10));
/// assert_eq!(options.max_connecting(), 2);
/// assert_eq!(options.max_idle_time(), Some(Duration::from_secs(5)));
/// assert_eq!(options.wait_queue_timeout(), None);
///
/// let mut unlimited = PoolOptions::default();
/// unlimited.max_pool_size = Some(0);
/// assert_eq!(unlimited.max_pool_size(), None);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct PoolOptions {
    /// `maxPoolSize`: connections at most, pending, available and in use together; zero
    /// means no limit. Default [`DEFAULT_MAX_POOL_SIZE`].
    pub max_pool_size: Option<u32>,
    /// `minPoolSize`: connections the maintenance task keeps open while the pool is ready.
    /// Default 0.
    pub min_pool_size: Option<u32>,
    /// `maxConnecting`: connections being established at once (at least 1). Default
    /// [`DEFAULT_MAX_CONNECTING`].
    pub max_connecting: Option<u32>,
    /// `maxIdleTimeMS`: an available connection idle this long is closed; zero means
    /// never.
    pub max_idle_time: Option<Duration>,
    /// `waitQueueTimeoutMS`: how long a checkout may wait for a connection (or for a turn
    /// to establish one); zero means no limit. The caller's
    /// [`with_timeout`](crate::runtime::time::with_timeout) deadline applies too.
    pub wait_queue_timeout: Option<Duration>,
    /// Time between two runs of the maintenance task ([`DEFAULT_MAINTENANCE_INTERVAL`]
    /// when `None`; a duration too large to add to `Instant::now()`, such as
    /// `Duration::MAX`, means it only runs when `ready()` wakes it). The CMAP tests'
    /// `backgroundThreadIntervalMS`.
    pub maintenance_interval: Option<Duration>,
    /// Receives the pool's [`CmapEvent`](super::CmapEvent)s.
    pub event_handler: Option<EventHandler<CmapEvent>>,
    /// Whether the `connect` closure applies SDAM's error rules to a failed
    /// establishment itself (a [`Client`](crate::Client)'s pools do: its closure clears
    /// the pool, or keeps it for an overloaded server or before a load balancer named
    /// the service). When false (the default: a pool on its own), an error while
    /// populating to `minPoolSize` clears the pool, as those rules would (the CMAP spec,
    /// "Populating the Pool with a Connection"). A checkout's error goes to its caller
    /// either way.
    pub sdam_handles_errors: bool,
}

impl PoolOptions {
    /// The pool options of a client: `maxPoolSize`, `minPoolSize`, `maxConnecting`,
    /// `maxIdleTimeMS` and `waitQueueTimeoutMS`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{pool::PoolOptions, ClientOptions};
    ///
    /// let client = ClientOptions::parse("mongodb://localhost/?minPoolSize=2&maxConnecting=4")?;
    /// let options = PoolOptions::from_client_options(&client);
    /// assert_eq!((options.min_pool_size(), options.max_connecting()), (2, 4));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn from_client_options(options: &ClientOptions) -> PoolOptions {
        PoolOptions {
            max_pool_size: options.max_pool_size,
            min_pool_size: options.min_pool_size,
            max_connecting: options.max_connecting,
            max_idle_time: options.max_idle_time,
            wait_queue_timeout: options.wait_queue_timeout,
            maintenance_interval: None,
            event_handler: None,
            sdam_handles_errors: false,
        }
    }

    /// The size limit, or `None` for no limit (`maxPoolSize=0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::pool::PoolOptions;
    ///
    /// let mut options = PoolOptions::default();
    /// assert_eq!(options.max_pool_size(), Some(100));
    /// options.max_pool_size = Some(0);
    /// assert_eq!(options.max_pool_size(), None); // no limit
    /// ```
    pub fn max_pool_size(&self) -> Option<u32> {
        match self.max_pool_size.unwrap_or(DEFAULT_MAX_POOL_SIZE) {
            0 => None,
            n => Some(n),
        }
    }

    /// `minPoolSize`, 0 by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::pool::PoolOptions;
    ///
    /// let mut options = PoolOptions::default();
    /// assert_eq!(options.min_pool_size(), 0);
    /// options.min_pool_size = Some(3);
    /// assert_eq!(options.min_pool_size(), 3);
    /// ```
    pub fn min_pool_size(&self) -> u32 {
        self.min_pool_size.unwrap_or(0)
    }

    /// `maxConnecting`, at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::pool::PoolOptions;
    ///
    /// let mut options = PoolOptions::default();
    /// options.max_connecting = Some(0);
    /// assert_eq!(options.max_connecting(), 1); // at least one
    /// ```
    pub fn max_connecting(&self) -> u32 {
        self.max_connecting.unwrap_or(DEFAULT_MAX_CONNECTING).max(1)
    }

    /// `maxIdleTimeMS`, or `None` when connections never idle out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::pool::PoolOptions;
    ///
    /// let mut options = PoolOptions::default();
    /// options.max_idle_time = Some(Duration::ZERO);
    /// assert_eq!(options.max_idle_time(), None); // zero: never idle out
    /// ```
    pub fn max_idle_time(&self) -> Option<Duration> {
        self.max_idle_time.filter(|d| !d.is_zero())
    }

    /// `waitQueueTimeoutMS`, or `None` when a checkout may wait without limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::pool::PoolOptions;
    ///
    /// let mut options = PoolOptions::default();
    /// assert_eq!(options.wait_queue_timeout(), None);
    /// options.wait_queue_timeout = Some(Duration::from_secs(2));
    /// assert_eq!(options.wait_queue_timeout(), Some(Duration::from_secs(2)));
    /// ```
    pub fn wait_queue_timeout(&self) -> Option<Duration> {
        self.wait_queue_timeout.filter(|d| !d.is_zero())
    }

    /// Whether the pool needs a maintenance task: to fill up to `minPoolSize` or to close
    /// idle connections.
    pub(crate) fn needs_maintenance(&self) -> bool {
        self.min_pool_size() > 0 || self.max_idle_time().is_some()
    }
}

impl fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolOptions")
            .field("max_pool_size", &self.max_pool_size)
            .field("min_pool_size", &self.min_pool_size)
            .field("max_connecting", &self.max_connecting)
            .field("max_idle_time", &self.max_idle_time)
            .field("wait_queue_timeout", &self.wait_queue_timeout)
            .field("maintenance_interval", &self.maintenance_interval)
            .field(
                "event_handler",
                &self.event_handler.as_ref().map(|_| "<handler>"),
            )
            .field("sdam_handles_errors", &self.sdam_handles_errors)
            .finish()
    }
}
