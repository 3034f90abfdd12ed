//! Server selection (the Server Selection spec, with the Max Staleness spec), pure: which
//! servers of a [`TopologyDescription`] suit an operation, which of those are in the
//! latency window, and which one of the window to use.
//!
//! The selector loop that waits for the topology to change, requests checks and times
//! out lives with the client; it calls [`select_server`] (or the three steps:
//! [`suitable_servers`], [`latency_window`], [`choose_in_window`]) on each topology
//! snapshot, passing the servers' in-flight operation counts and a random number source.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use greenmongo::{
//!     options::{ReadPreference, ReadPreferenceMode, ServerAddress},
//!     sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType},
//!     selection::{select_server, Criteria, SelectionSettings},
//! };
//!
//! let server = |host: &str, kind, rtt_ms| {
//!     let mut sd = ServerDescription::new(ServerAddress::tcp(host, 27017));
//!     sd.server_type = kind;
//!     sd.average_rtt = Some(Duration::from_millis(rtt_ms));
//!     sd.max_wire_version = 21;
//!     sd
//! };
//! let topology = TopologyDescription::with_servers(
//!     TopologyType::ReplicaSetWithPrimary,
//!     [server("a", ServerType::RsPrimary, 5), server("b", ServerType::RsSecondary, 50)],
//! );
//! let settings = SelectionSettings::default();
//! let read = ReadPreference::new(ReadPreferenceMode::SecondaryPreferred);
//! let chosen = select_server(&topology, &Criteria::Read(read.clone()), &settings, &[], |_| 0, |n| n - 1)?;
//! assert_eq!(chosen.unwrap().address, ServerAddress::tcp("b", 27017));
//! let chosen = select_server(&topology, &Criteria::Write, &settings, &[], |_| 0, |_| 0)?;
//! assert_eq!(chosen.unwrap().address, ServerAddress::tcp("a", 27017));
//! # Ok::<(), greenmongo::Error>(())
//! ```

mod staleness;

use std::time::Duration;

pub use staleness::{IDLE_WRITE_PERIOD, SMALLEST_MAX_STALENESS, staleness, validate_max_staleness};

use crate::{
    ClientOptions, Error, ErrorKind, Result,
    options::{ReadPreference, ReadPreferenceMode, ServerAddress, TagSet},
    sdam::{
        DEFAULT_HEARTBEAT_FREQUENCY, ServerDescription, ServerType, TopologyDescription,
        TopologyType,
    },
};

/// The default width of the latency window (`localThresholdMS`).
///
/// # Examples
///
/// ```
/// use greenmongo::selection::{SelectionSettings, DEFAULT_LOCAL_THRESHOLD};
///
/// assert_eq!(SelectionSettings::default().local_threshold, DEFAULT_LOCAL_THRESHOLD); // 15 ms
/// ```
pub const DEFAULT_LOCAL_THRESHOLD: Duration = Duration::from_millis(15);

/// What a server is selected for.
///
/// # Examples
///
/// ```
/// use greenmongo::{
///     options::{ReadPreference, ReadPreferenceMode, ServerAddress},
///     sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType},
///     selection::{suitable_servers, Criteria, SelectionSettings},
/// };
///
/// let mut secondary = ServerDescription::new(ServerAddress::tcp("s", 27017));
/// secondary.server_type = ServerType::RsSecondary;
/// secondary.max_wire_version = 21;
/// let topology = TopologyDescription::with_servers(TopologyType::ReplicaSetNoPrimary, [secondary]);
/// let nearest = ReadPreference::new(ReadPreferenceMode::Nearest);
/// let settings = SelectionSettings::default();
/// assert_eq!(suitable_servers(&topology, &Criteria::Read(nearest.clone()), &settings, &[])?.len(), 1);
/// assert!(suitable_servers(&topology, &Criteria::Write, &settings, &[])?.is_empty()); // no primary
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Criteria {
    /// A read with this read preference.
    Read(ReadPreference),
    /// A write (or a command that must run on the primary): only a primary, a mongos, a
    /// standalone or a load balancer will do.
    Write,
}

/// The client options selection depends on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::{selection::SelectionSettings, ClientOptions};
///
/// let opts = ClientOptions::parse("mongodb://a/?localThresholdMS=30")?;
/// let settings = SelectionSettings::from_options(&opts);
/// assert_eq!(settings.local_threshold, Duration::from_millis(30));
/// assert_eq!(settings.heartbeat_frequency, Duration::from_secs(10));
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectionSettings {
    /// `localThresholdMS`: how much slower than the fastest suitable server a server may
    /// be and still be chosen.
    pub local_threshold: Duration,
    /// `heartbeatFrequencyMS`: enters the staleness estimate and its lower bound.
    pub heartbeat_frequency: Duration,
}

impl Default for SelectionSettings {
    /// 15 ms and 10 s, the specs' defaults.
    fn default() -> Self {
        SelectionSettings {
            local_threshold: DEFAULT_LOCAL_THRESHOLD,
            heartbeat_frequency: DEFAULT_HEARTBEAT_FREQUENCY,
        }
    }
}

impl SelectionSettings {
    /// The settings a client with `options` uses (defaults where unset).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::{selection::SelectionSettings, ClientOptions};
    ///
    /// let options = ClientOptions::parse("mongodb://a/?heartbeatFrequencyMS=5000")?;
    /// assert_eq!(SelectionSettings::from_options(&options).heartbeat_frequency, Duration::from_secs(5));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn from_options(options: &ClientOptions) -> Self {
        let default = SelectionSettings::default();
        SelectionSettings {
            local_threshold: options.local_threshold.unwrap_or(default.local_threshold),
            heartbeat_frequency: options
                .heartbeat_frequency
                .unwrap_or(default.heartbeat_frequency),
        }
    }
}

/// The servers suitable for `operation`, in address order.
///
/// By topology type: Unknown has none; Single, its server if available; Sharded, every
/// mongos; LoadBalanced, the load balancer; a replica set, by the read preference's mode
/// (writes need the primary), then `maxStalenessSeconds`, then the tag sets. The read
/// preference is ignored except in replica sets, but must be valid everywhere.
///
/// Servers in `deprioritized` (ones that just failed an operation that is being
/// retried) are left out, unless that leaves no suitable server; then they count again.
///
/// # Errors
///
/// [`ErrorKind::ServerSelection`] when the topology is not compatible with this driver
/// (its wire versions); [`ErrorKind::InvalidArgument`] for an invalid read preference,
/// or (in a replica set) a `maxStalenessSeconds` below the limits of
/// [`validate_max_staleness`].
///
/// # Examples
///
/// ```
/// use greenmongo::{
///     options::{ReadPreference, ServerAddress},
///     sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType},
///     selection::{suitable_servers, Criteria, SelectionSettings},
/// };
///
/// let mongos = |host: &str| {
///     let mut sd = ServerDescription::new(ServerAddress::tcp(host, 27017));
///     sd.server_type = ServerType::Mongos;
///     sd.max_wire_version = 21;
///     sd
/// };
/// let topology = TopologyDescription::with_servers(TopologyType::Sharded, [mongos("g"), mongos("h")]);
/// let pref = ReadPreference::primary();
/// let settings = SelectionSettings::default();
/// let g = ServerAddress::tcp("g", 27017);
///
/// let suitable = suitable_servers(&topology, &Criteria::Read(pref.clone()), &settings, &[g.clone()])?;
/// assert_eq!(suitable.len(), 1);
/// assert_eq!(suitable[0].address, ServerAddress::tcp("h", 27017));
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub fn suitable_servers<'a>(
    topology: &'a TopologyDescription,
    criteria: &Criteria,
    settings: &SelectionSettings,
    deprioritized: &[ServerAddress],
) -> Result<Vec<&'a ServerDescription>> {
    if let Some(message) = topology.compatibility_error() {
        return Err(Error::new(ErrorKind::ServerSelection {
            message: message.to_owned(),
        }));
    }
    if let Criteria::Read(pref) = criteria {
        pref.validate()?;
        if let Some(max) = pref.max_staleness
            && topology.topology_type().is_replica_set()
        {
            validate_max_staleness(max, settings.heartbeat_frequency)?;
        }
    }
    let preferred = suitable(topology, criteria, settings, |sd| {
        !deprioritized.contains(&sd.address)
    });
    if preferred.is_empty() && !deprioritized.is_empty() {
        return Ok(suitable(topology, criteria, settings, |_| true));
    }
    Ok(preferred)
}

/// The suitable servers among those `allowed` lets through.
fn suitable<'a>(
    topology: &'a TopologyDescription,
    criteria: &Criteria,
    settings: &SelectionSettings,
    allowed: impl Fn(&ServerDescription) -> bool,
) -> Vec<&'a ServerDescription> {
    let of_type = |wanted: &dyn Fn(ServerType) -> bool| -> Vec<&'a ServerDescription> {
        topology
            .servers()
            .filter(|sd| wanted(sd.server_type) && allowed(sd))
            .collect()
    };
    match (topology.topology_type(), criteria) {
        (TopologyType::Single, _) => of_type(&ServerType::is_available),
        (TopologyType::Sharded, _) => of_type(&|t| t == ServerType::Mongos),
        (TopologyType::LoadBalanced, _) => of_type(&|t| t == ServerType::LoadBalancer),
        (
            TopologyType::ReplicaSetNoPrimary | TopologyType::ReplicaSetWithPrimary,
            Criteria::Write,
        ) => of_type(&|t| t == ServerType::RsPrimary),
        (
            TopologyType::ReplicaSetNoPrimary | TopologyType::ReplicaSetWithPrimary,
            Criteria::Read(pref),
        ) => {
            let primary = of_type(&|t| t == ServerType::RsPrimary);
            let secondaries = || {
                let candidates = of_type(&|t| t == ServerType::RsSecondary);
                eligible(topology, candidates, pref, settings)
            };
            match pref.mode {
                ReadPreferenceMode::Primary => primary,
                ReadPreferenceMode::PrimaryPreferred if !primary.is_empty() => primary,
                ReadPreferenceMode::PrimaryPreferred | ReadPreferenceMode::Secondary => {
                    secondaries()
                }
                ReadPreferenceMode::SecondaryPreferred => {
                    let found = secondaries();
                    if found.is_empty() { primary } else { found }
                }
                ReadPreferenceMode::Nearest => {
                    let candidates =
                        of_type(&|t| matches!(t, ServerType::RsPrimary | ServerType::RsSecondary));
                    eligible(topology, candidates, pref, settings)
                }
            }
        }
        (TopologyType::Unknown, _) => Vec::new(),
    }
}

/// The candidates within `maxStalenessSeconds` that match the first matching tag set.
fn eligible<'a>(
    topology: &TopologyDescription,
    candidates: Vec<&'a ServerDescription>,
    pref: &ReadPreference,
    settings: &SelectionSettings,
) -> Vec<&'a ServerDescription> {
    let fresh: Vec<&ServerDescription> = match pref.max_staleness {
        None => candidates,
        Some(max) => candidates
            .into_iter()
            .filter(|sd| {
                staleness(topology, sd, settings.heartbeat_frequency).is_some_and(|s| s <= max)
            })
            .collect(),
    };
    if pref.tag_sets.is_empty() {
        return fresh;
    }
    pref.tag_sets
        .iter()
        .map(|tags| {
            fresh
                .iter()
                .copied()
                .filter(|sd| matches_tags(sd, tags))
                .collect::<Vec<_>>()
        })
        .find(|matched| !matched.is_empty())
        .unwrap_or_default()
}

/// A read preference tag set matches a server carrying every one of its tags.
fn matches_tags(server: &ServerDescription, tags: &TagSet) -> bool {
    tags.iter()
        .all(|(key, value)| server.tags.get(key) == Some(value))
}

/// The servers of `suitable` whose average RTT is at most `local_threshold` above the
/// fastest one's. A server without an RTT yet counts as 0 ms.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::{options::ServerAddress, sdam::ServerDescription, selection::latency_window};
///
/// let with_rtt = |host: &str, ms| {
///     let mut sd = ServerDescription::new(ServerAddress::tcp(host, 27017));
///     sd.average_rtt = Some(Duration::from_millis(ms));
///     sd
/// };
/// let (a, b, c) = (with_rtt("a", 5), with_rtt("b", 20), with_rtt("c", 21));
/// let window = latency_window(&[&a, &b, &c], Duration::from_millis(15));
/// assert_eq!(window.len(), 2); // 5 ms and 20 ms; 21 ms is out
/// ```
pub fn latency_window<'a>(
    suitable: &[&'a ServerDescription],
    local_threshold: Duration,
) -> Vec<&'a ServerDescription> {
    let rtt = |sd: &ServerDescription| sd.average_rtt.unwrap_or_default();
    let Some(fastest) = suitable.iter().map(|sd| rtt(sd)).min() else {
        return Vec::new();
    };
    suitable
        .iter()
        .copied()
        .filter(|sd| rtt(sd) <= fastest + local_threshold)
        .collect()
}

/// The spec's "power of two choices": of two distinct servers of `window` picked at
/// random, the one with fewer operations in flight (the first picked on a tie); the only
/// server of a window of one; `None` for an empty window.
///
/// `operation_count` gives a server's in-flight operations; `random_below(n)` must return
/// a uniformly random index in `0..n`. Passing them in keeps this function deterministic
/// under test.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, sdam::ServerDescription, selection::choose_in_window};
///
/// let a = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// let b = ServerDescription::new(ServerAddress::tcp("b", 27017));
/// let busy = |address: &ServerAddress| if address.host() == Some("a") { 5 } else { 0 };
/// let first_then_other = |n: usize| n - 1; // picks index 1, then the other one
/// let chosen = choose_in_window(&[&a, &b], busy, first_then_other);
/// assert_eq!(chosen.unwrap().address, b.address);
/// ```
pub fn choose_in_window<'a>(
    window: &[&'a ServerDescription],
    operation_count: impl Fn(&ServerAddress) -> usize,
    mut random_below: impl FnMut(usize) -> usize,
) -> Option<&'a ServerDescription> {
    match window.len() {
        0 => None,
        1 => Some(window[0]),
        n => {
            let i = random_below(n);
            let mut j = random_below(n - 1);
            if j >= i {
                j += 1; // a second, different server
            }
            let (first, second) = (window[i], window[j]);
            if operation_count(&second.address) < operation_count(&first.address) {
                Some(second)
            } else {
                Some(first)
            }
        }
    }
}

/// One selection attempt: [`suitable_servers`], then [`latency_window`], then
/// [`choose_in_window`]. `Ok(None)` means no server suits yet: the caller requests an
/// immediate check and waits for the topology to change, until its timeout.
///
/// # Errors
///
/// As [`suitable_servers`].
///
/// # Examples
///
/// ```
/// use greenmongo::{
///     options::ServerAddress,
///     sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType},
///     selection::{select_server, Criteria, SelectionSettings},
/// };
///
/// let mut primary = ServerDescription::new(ServerAddress::tcp("p", 27017));
/// primary.server_type = ServerType::RsPrimary;
/// primary.max_wire_version = 21;
/// let topology = TopologyDescription::with_servers(TopologyType::ReplicaSetWithPrimary, [primary]);
/// let chosen = select_server(&topology, &Criteria::Write, &SelectionSettings::default(), &[], |_| 0, |n| n - 1)?;
/// assert_eq!(chosen.map(|s| s.address.to_string()), Some("p:27017".to_string()));
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub fn select_server<'a>(
    topology: &'a TopologyDescription,
    criteria: &Criteria,
    settings: &SelectionSettings,
    deprioritized: &[ServerAddress],
    operation_count: impl Fn(&ServerAddress) -> usize,
    random_below: impl FnMut(usize) -> usize,
) -> Result<Option<&'a ServerDescription>> {
    let suitable = suitable_servers(topology, criteria, settings, deprioritized)?;
    let window = latency_window(&suitable, settings.local_threshold);
    Ok(choose_in_window(&window, operation_count, random_below))
}

#[cfg(test)]
mod tests;
