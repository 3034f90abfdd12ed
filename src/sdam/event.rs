//! SDAM monitoring events (SDAM Logging and Monitoring spec, "Events API"), as values.
//!
//! The pure core returns them from [`TopologyDescription::new`](super::TopologyDescription::new),
//! [`update`](super::TopologyDescription::update),
//! [`handle_application_error`](super::TopologyDescription::handle_application_error) and
//! [`close`](super::TopologyDescription::close); the client publishes them, in order,
//! tagged with its topology id. `ServerOpening` and `ServerClosed` are also the monitor's cue
//! to start and stop checking a server. Heartbeat events belong to the monitor, which
//! publishes them around each check; a streaming monitor's are `awaited`.

use std::time::Duration;

use bson::Document;

use crate::options::ServerAddress;

use super::{ServerDescription, TopologyDescription};

/// One SDAM event.
///
/// # Examples
///
/// ```
/// use greenmongo::{sdam::{SdamEvent, TopologyDescription}, ClientOptions};
///
/// let (_, events) = TopologyDescription::new(&ClientOptions::parse("mongodb://a,b")?);
/// let names: Vec<&str> = events.iter().map(SdamEvent::name).collect();
/// assert_eq!(
///     names,
///     ["TopologyOpening", "TopologyDescriptionChanged", "ServerOpening", "ServerOpening"]
/// );
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SdamEvent {
    /// The topology was created (first event of a client).
    TopologyOpening,
    /// The topology description changed (its type, set name, or any server's description
    /// by the spec's equality).
    TopologyDescriptionChanged {
        /// The description before.
        previous: Box<TopologyDescription>,
        /// The description after.
        new: Box<TopologyDescription>,
    },
    /// A server was added to the topology: start monitoring it.
    ServerOpening {
        /// The server.
        address: ServerAddress,
    },
    /// A server's description changed (spec equality; RTT changes do not count).
    ServerDescriptionChanged {
        /// The server.
        address: ServerAddress,
        /// Its description before.
        previous: Box<ServerDescription>,
        /// Its description as checked.
        new: Box<ServerDescription>,
    },
    /// A server was removed from the topology: stop monitoring it and close its pool.
    ServerClosed {
        /// The server.
        address: ServerAddress,
    },
    /// The topology was closed (last event of a client).
    TopologyClosed,
    /// A monitor is about to check a server with `hello`: it sends one (polling, or the
    /// first check on a connection), or it waits for the next reply of a streaming
    /// `hello` (`awaited`).
    ServerHeartbeatStarted {
        /// The server.
        address: ServerAddress,
        /// The check waits for the server to report a change (or `heartbeatFrequencyMS`
        /// to pass): the streaming protocol of `serverMonitoringMode=stream`.
        awaited: bool,
    },
    /// A monitor's check succeeded.
    ServerHeartbeatSucceeded {
        /// The server.
        address: ServerAddress,
        /// How long the check took (including connecting, for a monitor's first check;
        /// including the server's wait, for an awaited one).
        duration: Duration,
        /// The server's `hello` reply.
        reply: Document,
        /// The reply came from a streaming `hello` (see `ServerHeartbeatStarted`).
        awaited: bool,
    },
    /// A monitor's check failed: the server is marked Unknown.
    ServerHeartbeatFailed {
        /// The server.
        address: ServerAddress,
        /// How long the check took until it failed.
        duration: Duration,
        /// Why it failed (the driver's error, as text).
        failure: String,
        /// The check was waiting for a streaming `hello` reply.
        awaited: bool,
    },
}

impl SdamEvent {
    /// The event's name without the `Event` suffix, e.g. `"ServerOpening"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::SdamEvent;
    ///
    /// assert_eq!(SdamEvent::TopologyClosed.name(), "TopologyClosed");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            SdamEvent::TopologyOpening => "TopologyOpening",
            SdamEvent::TopologyDescriptionChanged { .. } => "TopologyDescriptionChanged",
            SdamEvent::ServerOpening { .. } => "ServerOpening",
            SdamEvent::ServerDescriptionChanged { .. } => "ServerDescriptionChanged",
            SdamEvent::ServerClosed { .. } => "ServerClosed",
            SdamEvent::TopologyClosed => "TopologyClosed",
            SdamEvent::ServerHeartbeatStarted { .. } => "ServerHeartbeatStarted",
            SdamEvent::ServerHeartbeatSucceeded { .. } => "ServerHeartbeatSucceeded",
            SdamEvent::ServerHeartbeatFailed { .. } => "ServerHeartbeatFailed",
        }
    }
}
