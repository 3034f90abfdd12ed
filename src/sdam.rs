//! Server Discovery and Monitoring: the client's view of the deployment and the rules that
//! keep it current (the SDAM spec, with its Logging and Monitoring and Server Monitoring
//! companions).
//!
//! Everything here but the crate-internal `monitor` and `srv_polling` modules is pure:
//! values in, values out, no sockets, threads or clocks. `monitor` is the I/O that feeds
//! it: a monitor per server, polling or streaming `hello` (the Server Monitoring spec);
//! `srv_polling` looks a `mongodb+srv` connection string's SRV records up again and
//! updates the set of mongos routers (the Polling SRV Records for mongos Discovery spec).
//!
//! - [`ServerDescription::from_hello`] turns a monitor's `hello` reply (with the
//!   [`RttStats`] it keeps) into a [`ServerDescription`]; a failed check is
//!   [`ServerDescription::with_error`].
//! - [`TopologyDescription::update`] applies it by the spec's state machine and returns an
//!   [`UpdateOutcome`]: the [`SdamEvent`]s to publish (ServerOpening / ServerClosed tell the
//!   client which monitors to start and stop) and the servers to re-check or whose pool to
//!   clear.
//! - [`TopologyDescription::handle_application_error`] judges an operation's error
//!   ([`ApplicationError`]) against the server's pool generation and `topologyVersion`
//!   and returns an [`ErrorDecision`]: mark Unknown, clear the pool, request or cancel a
//!   check.
//!
//! [`crate::selection`] then picks servers from a [`TopologyDescription`].
//!
//! # Examples
//!
//! A monitor's loop body, without the I/O:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bson::doc;
//! use greenmongo::{options::ServerAddress, sdam::*, ClientOptions};
//!
//! let (mut topology, events) = TopologyDescription::new(&ClientOptions::parse("mongodb://a")?);
//! assert_eq!(events.len(), 3); // TopologyOpening, TopologyDescriptionChanged, ServerOpening
//!
//! let mut rtt = RttStats::default();
//! rtt.add_sample(Duration::from_millis(3)); // how long the hello took
//! let reply = doc! { "ok": 1, "isWritablePrimary": true, "maxWireVersion": 21 };
//! let a = ServerAddress::tcp("a", 27017);
//! let sd = ServerDescription::from_hello(a.clone(), &reply, rtt.times().unwrap(), Instant::now());
//! let outcome = topology.update(sd);
//! assert_eq!(topology.topology_type(), TopologyType::Single); // one seed, a standalone
//! assert_eq!(outcome.events.len(), 2);
//! # Ok::<(), greenmongo::Error>(())
//! ```

mod app_error;
mod description;
mod event;
pub(crate) mod monitor;
mod rtt;
pub(crate) mod srv_polling;
mod topology_description;

use std::time::Duration;

pub use app_error::{
    ApplicationError, ApplicationErrorKind, CommandFailure, ErrorDecision, ErrorOutcome,
    ErrorPhase, RETRYABLE_ERROR, SYSTEM_OVERLOADED_ERROR, decide,
};
pub use description::{ServerDescription, ServerType, TopologyVersion};
pub use event::SdamEvent;
pub use rtt::{RTT_ALPHA, RoundTripTimes, RttStats, moving_average};
pub use topology_description::{TopologyDescription, TopologyType, UpdateOutcome};

/// The oldest wire version greenmongo speaks: MongoDB 4.0.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType, MIN_WIRE_VERSION}};
///
/// let mut old = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// old.server_type = ServerType::Standalone;
/// old.max_wire_version = MIN_WIRE_VERSION - 1; // MongoDB 3.6
/// assert!(old.compatibility_error().is_some());
/// ```
pub const MIN_WIRE_VERSION: i32 = 7;
/// The MongoDB release of [`MIN_WIRE_VERSION`], for error messages.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType, MIN_SERVER_VERSION}};
///
/// let mut old = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// old.server_type = ServerType::Standalone;
/// old.max_wire_version = 6;
/// assert!(old.compatibility_error().unwrap().contains(MIN_SERVER_VERSION));
/// ```
pub const MIN_SERVER_VERSION: &str = "4.0";
/// The newest wire version greenmongo knows: MongoDB 8.2.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType, MAX_WIRE_VERSION}};
///
/// let mut future = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// future.server_type = ServerType::Standalone;
/// future.min_wire_version = MAX_WIRE_VERSION + 1;
/// future.max_wire_version = MAX_WIRE_VERSION + 1;
/// assert!(future.compatibility_error().is_some());
/// ```
pub const MAX_WIRE_VERSION: i32 = 27;

/// Default interval between checks of a server (`heartbeatFrequencyMS`), for clients that
/// monitor in the background.
///
/// # Examples
///
/// ```
/// use greenmongo::{sdam::DEFAULT_HEARTBEAT_FREQUENCY, selection::SelectionSettings, ClientOptions};
///
/// let options = ClientOptions::parse("mongodb://a")?; // no heartbeatFrequencyMS
/// assert_eq!(SelectionSettings::from_options(&options).heartbeat_frequency, DEFAULT_HEARTBEAT_FREQUENCY);
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub const DEFAULT_HEARTBEAT_FREQUENCY: Duration = Duration::from_secs(10);
/// The shortest interval between checks of a server (`minHeartbeatFrequencyMS`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::sdam::{DEFAULT_HEARTBEAT_FREQUENCY, MIN_HEARTBEAT_FREQUENCY};
///
/// // An immediate check requested right after a check still waits this long.
/// assert_eq!(MIN_HEARTBEAT_FREQUENCY, Duration::from_millis(500));
/// assert!(MIN_HEARTBEAT_FREQUENCY < DEFAULT_HEARTBEAT_FREQUENCY);
/// ```
pub const MIN_HEARTBEAT_FREQUENCY: Duration = Duration::from_millis(500);
