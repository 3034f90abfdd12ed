//! What the client knows about one server: [`ServerType`], [`TopologyVersion`] and
//! [`ServerDescription`] (SDAM spec, "ServerDescription"). Pure data; parsing a `hello`
//! reply is in `description/hello.rs`.

mod hello;

use std::{
    cmp::Ordering,
    collections::BTreeSet,
    fmt,
    str::FromStr,
    time::{Duration, Instant},
};

use bson::oid::ObjectId;

use crate::{
    Error, Result,
    options::{ServerAddress, TagSet},
};

pub(crate) use hello::parse_topology_version;

/// The kind of server a [`ServerDescription`] describes (SDAM spec, "ServerType").
///
/// # Examples
///
/// ```
/// use greenmongo::sdam::ServerType;
///
/// let t: ServerType = "RSSecondary".parse()?;
/// assert_eq!(t, ServerType::RsSecondary);
/// assert!(t.is_available() && t.is_data_bearing());
/// assert!(!ServerType::PossiblePrimary.is_available());
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerType {
    /// A mongod that is not part of a replica set.
    Standalone,
    /// A mongos router (`msg: "isdbgrid"`).
    Mongos,
    /// The replica set primary.
    RsPrimary,
    /// A replica set secondary.
    RsSecondary,
    /// A replica set arbiter.
    RsArbiter,
    /// A replica set member that is hidden, starting up or recovering.
    RsOther,
    /// A replica set member that knows no set yet (`isreplicaset: true`).
    RsGhost,
    /// A load balancer in front of mongoses (`loadBalanced=true`).
    LoadBalancer,
    /// Not checked yet, or the last check failed.
    #[default]
    Unknown,
    /// Not checked yet, but another member names it as the primary.
    PossiblePrimary,
}

impl ServerType {
    const ALL: [ServerType; 10] = [
        ServerType::Standalone,
        ServerType::Mongos,
        ServerType::RsPrimary,
        ServerType::RsSecondary,
        ServerType::RsArbiter,
        ServerType::RsOther,
        ServerType::RsGhost,
        ServerType::LoadBalancer,
        ServerType::Unknown,
        ServerType::PossiblePrimary,
    ];

    /// The spec's name for the type (`"RSPrimary"`, `"Mongos"`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::ServerType;
    ///
    /// assert_eq!(ServerType::RsPrimary.as_str(), "RSPrimary");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ServerType::Standalone => "Standalone",
            ServerType::Mongos => "Mongos",
            ServerType::RsPrimary => "RSPrimary",
            ServerType::RsSecondary => "RSSecondary",
            ServerType::RsArbiter => "RSArbiter",
            ServerType::RsOther => "RSOther",
            ServerType::RsGhost => "RSGhost",
            ServerType::LoadBalancer => "LoadBalancer",
            ServerType::Unknown => "Unknown",
            ServerType::PossiblePrimary => "PossiblePrimary",
        }
    }

    /// Whether the server is believed reachable (server selection's "available"): every
    /// type but `Unknown` and `PossiblePrimary`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::ServerType;
    ///
    /// assert!(ServerType::RsGhost.is_available());
    /// assert!(!ServerType::Unknown.is_available());
    /// ```
    pub fn is_available(self) -> bool {
        !matches!(self, ServerType::Unknown | ServerType::PossiblePrimary)
    }

    /// Whether application data can be read from such a server (SDAM spec, "Data-Bearing
    /// Server Type"): Mongos, RSPrimary, RSSecondary, Standalone, LoadBalancer.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::ServerType;
    ///
    /// assert!(ServerType::Mongos.is_data_bearing());
    /// assert!(!ServerType::RsArbiter.is_data_bearing());
    /// ```
    pub fn is_data_bearing(self) -> bool {
        matches!(
            self,
            ServerType::Mongos
                | ServerType::RsPrimary
                | ServerType::RsSecondary
                | ServerType::Standalone
                | ServerType::LoadBalancer
        )
    }
}

impl FromStr for ServerType {
    type Err = Error;

    /// Parses the spec's name of a type (case-sensitive, as the spec files spell it).
    fn from_str(s: &str) -> Result<Self> {
        ServerType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::invalid_argument(format!("unknown server type \"{s}\"")))
    }
}

impl fmt::Display for ServerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server's `topologyVersion` (MongoDB 4.4+): which process answered, and a counter it
/// increments on every state change.
///
/// # Examples
///
/// ```
/// use std::cmp::Ordering;
/// use bson::oid::ObjectId;
/// use greenmongo::sdam::TopologyVersion;
///
/// let pid = ObjectId::new();
/// let v1 = TopologyVersion { process_id: pid, counter: 1 };
/// let v2 = TopologyVersion { process_id: pid, counter: 2 };
/// assert_eq!(TopologyVersion::compare(Some(&v2), Some(&v1)), Ordering::Greater);
/// // Another process, or a missing version, always counts as newer.
/// let other = TopologyVersion { process_id: ObjectId::new(), counter: 0 };
/// assert_eq!(TopologyVersion::compare(Some(&v2), Some(&other)), Ordering::Less);
/// assert_eq!(TopologyVersion::compare(Some(&v2), None), Ordering::Less);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TopologyVersion {
    /// The server process's id; changes when the process restarts.
    pub process_id: ObjectId,
    /// Incremented by the process on every topology change.
    pub counter: i64,
}

impl TopologyVersion {
    /// Compares the version the client has (`current`) with one from a reply or error
    /// (`incoming`), as the SDAM spec's `compareTopologyVersion`: `Less` when `incoming`
    /// is newer, which is assumed when either is missing or the process ids differ.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use bson::oid::ObjectId;
    /// use greenmongo::sdam::TopologyVersion;
    ///
    /// let pid = ObjectId::new();
    /// let known = TopologyVersion { process_id: pid, counter: 5 };
    /// let from_error = TopologyVersion { process_id: pid, counter: 5 };
    /// assert_eq!(TopologyVersion::compare(Some(&known), Some(&from_error)), Ordering::Equal); // stale error
    /// ```
    pub fn compare(current: Option<&Self>, incoming: Option<&Self>) -> Ordering {
        match (current, incoming) {
            (Some(c), Some(i)) if c.process_id == i.process_id => c.counter.cmp(&i.counter),
            _ => Ordering::Less,
        }
    }
}

/// The client's view of one server, from its latest check (SDAM spec, "ServerDescription").
///
/// Built by [`ServerDescription::new`] (Unknown, never checked),
/// [`ServerDescription::with_error`] (a failed check) or [`ServerDescription::from_hello`]
/// (a successful one). Fields are public so tools and tests can build descriptions by hand.
///
/// Equality (`==`) is the spec's "Server Description Equality": only the fields it marks
/// `(=)` are compared: not the round-trip times, `last_update_time`, `last_write_date` or
/// `service_id`. The client publishes a `ServerDescriptionChanged` event only when the new
/// description differs in that sense.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType}};
///
/// let mut a = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// assert_eq!(a.server_type, ServerType::Unknown);
/// let mut b = a.clone();
/// b.average_rtt = Some(Duration::from_millis(3));
/// assert_eq!(a, b); // RTT is not part of equality
/// b.server_type = ServerType::Standalone;
/// assert_ne!(a, b);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerDescription {
    /// The address the client connects to (not the server's own `me`).
    pub address: ServerAddress,
    /// What kind of server it is.
    pub server_type: ServerType,
    /// Why the last check (or an application operation) failed, if it did.
    pub error: Option<String>,
    /// Average round-trip time of checks (moving average, see [`RttStats`](super::RttStats));
    /// `None` while Unknown.
    pub average_rtt: Option<Duration>,
    /// Minimum round-trip time of the recent checks; `None` while Unknown.
    pub min_rtt: Option<Duration>,
    /// When the description was created from a check (monotonic clock); `None` means
    /// "infinitely long ago".
    pub last_update_time: Option<Instant>,
    /// `lastWrite.lastWriteDate` of a replica set member.
    pub last_write_date: Option<bson::DateTime>,
    /// `minWireVersion` (0 when unknown).
    pub min_wire_version: i32,
    /// `maxWireVersion` (0 when unknown).
    pub max_wire_version: i32,
    /// `me`: the address the member was configured with in the replica set.
    pub me: Option<ServerAddress>,
    /// `hosts`: the member's view of the set's electable members.
    pub hosts: Vec<ServerAddress>,
    /// `passives`: priority-zero members.
    pub passives: Vec<ServerAddress>,
    /// `arbiters`.
    pub arbiters: Vec<ServerAddress>,
    /// The member's tags.
    pub tags: TagSet,
    /// `setName`.
    pub set_name: Option<String>,
    /// `setVersion`.
    pub set_version: Option<i64>,
    /// `electionId`, reported by a primary.
    pub election_id: Option<ObjectId>,
    /// `primary`: the member's view of who the primary is.
    pub primary: Option<ServerAddress>,
    /// `logicalSessionTimeoutMinutes`, as a duration.
    pub logical_session_timeout: Option<Duration>,
    /// `topologyVersion` of the latest reply or state-change error.
    pub topology_version: Option<TopologyVersion>,
    /// `serviceId`, sent by servers behind a load balancer.
    pub service_id: Option<ObjectId>,
    /// `iscryptd`: the server is a mongocryptd.
    pub is_cryptd: bool,
}

impl ServerDescription {
    /// A server that has not been checked: type Unknown, every other field empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType}};
    ///
    /// let sd = ServerDescription::new(ServerAddress::tcp("a", 27017));
    /// assert_eq!(sd.server_type, ServerType::Unknown);
    /// assert!(sd.error.is_none() && sd.hosts.is_empty());
    /// ```
    pub fn new(address: ServerAddress) -> Self {
        ServerDescription {
            address,
            server_type: ServerType::Unknown,
            error: None,
            average_rtt: None,
            min_rtt: None,
            last_update_time: None,
            last_write_date: None,
            min_wire_version: 0,
            max_wire_version: 0,
            me: None,
            hosts: Vec::new(),
            passives: Vec::new(),
            arbiters: Vec::new(),
            tags: TagSet::new(),
            set_name: None,
            set_version: None,
            election_id: None,
            primary: None,
            logical_session_timeout: None,
            topology_version: None,
            service_id: None,
            is_cryptd: false,
        }
    }

    /// An Unknown server whose check failed with `error` (a network error, a timeout, a
    /// `hello` that returned `ok: 0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType}};
    ///
    /// let sd = ServerDescription::with_error(ServerAddress::tcp("a", 27017), "connection refused");
    /// assert_eq!(sd.server_type, ServerType::Unknown);
    /// assert_eq!(sd.error.as_deref(), Some("connection refused"));
    /// ```
    pub fn with_error(address: ServerAddress, error: impl Into<String>) -> Self {
        let mut sd = ServerDescription::new(address);
        sd.error = Some(error.into());
        sd
    }

    /// Every address the server reports as a replica set member: `hosts`, `passives`,
    /// then `arbiters`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::ServerDescription};
    ///
    /// let mut sd = ServerDescription::new(ServerAddress::tcp("a", 27017));
    /// sd.hosts.push(ServerAddress::tcp("a", 27017));
    /// sd.arbiters.push(ServerAddress::tcp("c", 27017));
    /// assert_eq!(sd.members().count(), 2);
    /// ```
    pub fn members(&self) -> impl Iterator<Item = &ServerAddress> {
        self.hosts
            .iter()
            .chain(&self.passives)
            .chain(&self.arbiters)
    }

    /// Why this server cannot be used by this driver, or `None` when its wire-version
    /// range overlaps the driver's ([`MIN_WIRE_VERSION`](super::MIN_WIRE_VERSION) to
    /// [`MAX_WIRE_VERSION`](super::MAX_WIRE_VERSION)). Unknown servers and load
    /// balancers (which are never checked) are never incompatible. The messages are the
    /// SDAM spec's.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType}};
    ///
    /// let mut sd = ServerDescription::new(ServerAddress::tcp("a", 27017));
    /// sd.server_type = ServerType::Standalone;
    /// sd.max_wire_version = 2;
    /// assert!(sd.compatibility_error().unwrap().contains("requires at least"));
    /// sd.max_wire_version = 21;
    /// assert_eq!(sd.compatibility_error(), None);
    /// ```
    pub fn compatibility_error(&self) -> Option<String> {
        if !self.server_type.is_available() || self.server_type == ServerType::LoadBalancer {
            return None;
        }
        if self.min_wire_version > super::MAX_WIRE_VERSION {
            Some(format!(
                "Server at {} requires wire version {}, but this version of greenmongo only \
                 supports up to {}.",
                self.address,
                self.min_wire_version,
                super::MAX_WIRE_VERSION
            ))
        } else if self.max_wire_version < super::MIN_WIRE_VERSION {
            Some(format!(
                "Server at {} reports wire version {}, but this version of greenmongo \
                 requires at least {} (MongoDB {}).",
                self.address,
                self.max_wire_version,
                super::MIN_WIRE_VERSION,
                super::MIN_SERVER_VERSION
            ))
        } else {
            None
        }
    }
}

/// The SDAM spec's "Server Description Equality": the fields marked `(=)`.
impl PartialEq for ServerDescription {
    fn eq(&self, other: &Self) -> bool {
        fn set(list: &[ServerAddress]) -> BTreeSet<&ServerAddress> {
            list.iter().collect()
        }
        self.address == other.address
            && self.server_type == other.server_type
            && self.error == other.error
            && self.min_wire_version == other.min_wire_version
            && self.max_wire_version == other.max_wire_version
            && self.me == other.me
            && set(&self.hosts) == set(&other.hosts)
            && set(&self.passives) == set(&other.passives)
            && set(&self.arbiters) == set(&other.arbiters)
            && self.tags == other.tags
            && self.set_name == other.set_name
            && self.set_version == other.set_version
            && self.election_id == other.election_id
            && self.primary == other.primary
            && self.logical_session_timeout == other.logical_session_timeout
            && self.topology_version == other.topology_version
            && self.is_cryptd == other.is_cryptd
    }
}

impl Eq for ServerDescription {}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(max_wire_version: i32, min_wire_version: i32) -> ServerDescription {
        let mut sd = ServerDescription::new(ServerAddress::tcp("a", 27017));
        sd.server_type = ServerType::Mongos;
        sd.min_wire_version = min_wire_version;
        sd.max_wire_version = max_wire_version;
        sd
    }

    #[test]
    fn server_type_names_round_trip() {
        for t in ServerType::ALL {
            assert_eq!(t.as_str().parse::<ServerType>().unwrap(), t);
        }
        assert!("RsPrimary".parse::<ServerType>().is_err());
    }

    #[test]
    fn compatibility_messages_follow_the_spec() {
        let too_new = known(1000, 999).compatibility_error().unwrap();
        assert_eq!(
            too_new,
            format!(
                "Server at a:27017 requires wire version 999, but this version of greenmongo \
                 only supports up to {}.",
                crate::sdam::MAX_WIRE_VERSION
            )
        );
        let too_old = known(0, 0).compatibility_error().unwrap();
        assert!(too_old.starts_with("Server at a:27017 reports wire version 0"));
        assert!(too_old.ends_with(&format!("(MongoDB {}).", crate::sdam::MIN_SERVER_VERSION)));
        let mut unknown = known(0, 0);
        unknown.server_type = ServerType::Unknown;
        assert_eq!(unknown.compatibility_error(), None);
    }

    #[test]
    fn equality_ignores_host_order_and_timing() {
        let mut a = known(21, 0);
        a.hosts = vec![ServerAddress::tcp("x", 1), ServerAddress::tcp("y", 1)];
        let mut b = a.clone();
        b.hosts.reverse();
        b.last_update_time = Some(Instant::now());
        b.min_rtt = Some(Duration::from_millis(1));
        assert_eq!(a, b);
        b.topology_version = Some(TopologyVersion {
            process_id: ObjectId::new(),
            counter: 0,
        });
        assert_ne!(a, b);
    }

    #[test]
    fn topology_version_comparison() {
        let pid = ObjectId::new();
        let v = |counter| TopologyVersion {
            process_id: pid,
            counter,
        };
        assert_eq!(
            TopologyVersion::compare(Some(&v(1)), Some(&v(1))),
            Ordering::Equal
        );
        assert_eq!(
            TopologyVersion::compare(Some(&v(1)), Some(&v(2))),
            Ordering::Less
        );
        assert_eq!(TopologyVersion::compare(None, Some(&v(2))), Ordering::Less);
    }
}
