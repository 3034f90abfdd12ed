//! The client's view of the whole deployment: [`TopologyType`] and [`TopologyDescription`],
//! with the SDAM spec's state machine ("Updating the TopologyDescription"). The replica set
//! subroutines are in `topology/replica_set.rs`.

mod replica_set;

use std::{cmp::Ordering, collections::BTreeMap, fmt, str::FromStr, time::Duration};

use bson::oid::ObjectId;

use super::{RoundTripTimes, SdamEvent, ServerDescription, ServerType, TopologyVersion};
use crate::{ClientOptions, Error, Result, options::ServerAddress};

/// The kind of deployment (SDAM spec, "TopologyType").
///
/// # Examples
///
/// ```
/// use greenmongo::sdam::TopologyType;
///
/// let t: TopologyType = "ReplicaSetNoPrimary".parse()?;
/// assert_eq!(t, TopologyType::ReplicaSetNoPrimary);
/// assert_eq!(t.to_string(), "ReplicaSetNoPrimary");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopologyType {
    /// A direct connection to one server, whatever its type.
    Single,
    /// A replica set whose primary is not known.
    ReplicaSetNoPrimary,
    /// A replica set with a known primary.
    ReplicaSetWithPrimary,
    /// One or more mongoses.
    Sharded,
    /// A load balancer in front of mongoses.
    LoadBalanced,
    /// Not yet known.
    #[default]
    Unknown,
}

impl TopologyType {
    const ALL: [TopologyType; 6] = [
        TopologyType::Single,
        TopologyType::ReplicaSetNoPrimary,
        TopologyType::ReplicaSetWithPrimary,
        TopologyType::Sharded,
        TopologyType::LoadBalanced,
        TopologyType::Unknown,
    ];

    /// The spec's name for the type.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::TopologyType;
    ///
    /// assert_eq!(TopologyType::LoadBalanced.as_str(), "LoadBalanced");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TopologyType::Single => "Single",
            TopologyType::ReplicaSetNoPrimary => "ReplicaSetNoPrimary",
            TopologyType::ReplicaSetWithPrimary => "ReplicaSetWithPrimary",
            TopologyType::Sharded => "Sharded",
            TopologyType::LoadBalanced => "LoadBalanced",
            TopologyType::Unknown => "Unknown",
        }
    }

    /// Whether the type is one of the two replica set types.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::TopologyType;
    ///
    /// assert!(TopologyType::ReplicaSetWithPrimary.is_replica_set());
    /// assert!(!TopologyType::Single.is_replica_set());
    /// ```
    pub fn is_replica_set(self) -> bool {
        matches!(
            self,
            TopologyType::ReplicaSetNoPrimary | TopologyType::ReplicaSetWithPrimary
        )
    }
}

impl FromStr for TopologyType {
    type Err = Error;

    /// Parses the spec's name of a type (case-sensitive).
    fn from_str(s: &str) -> Result<Self> {
        TopologyType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::invalid_argument(format!("unknown topology type \"{s}\"")))
    }
}

impl fmt::Display for TopologyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the client knows about the deployment (SDAM spec, "TopologyDescription").
///
/// It changes only through [`update`](Self::update) (a check's outcome),
/// [`handle_application_error`](Self::handle_application_error) and
/// [`close`](Self::close), each of which returns the SDAM events to publish. Nothing here
/// does I/O or reads a clock, so the spec's rules are tested from its JSON files alone.
/// A multi-threaded client keeps the current description behind a lock, applies each
/// outcome to a clone and swaps it in, so readers (server selection) see immutable
/// snapshots.
///
/// Equality compares what the spec's TopologyDescriptionChanged event is about: the type,
/// set name, `maxSetVersion`, `maxElectionId`, compatibility, session timeout and every
/// server's description (by [`ServerDescription`]'s equality).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use bson::doc;
/// use greenmongo::{
///     options::ServerAddress,
///     sdam::{RoundTripTimes, ServerDescription, TopologyDescription, TopologyType},
///     ClientOptions,
/// };
///
/// let (mut topology, _events) =
///     TopologyDescription::new(&ClientOptions::parse("mongodb://a,b/?replicaSet=rs")?);
/// assert_eq!(topology.topology_type(), TopologyType::ReplicaSetNoPrimary);
///
/// let reply = doc! {
///     "ok": 1, "isWritablePrimary": true, "setName": "rs", "hosts": ["a:27017", "c:27017"],
///     "minWireVersion": 0, "maxWireVersion": 21,
/// };
/// let a = ServerAddress::tcp("a", 27017);
/// let sd = ServerDescription::from_hello(a.clone(), &reply, RoundTripTimes::default(), Instant::now());
/// let events = topology.update(sd).events;
/// assert_eq!(topology.topology_type(), TopologyType::ReplicaSetWithPrimary);
/// assert_eq!(topology.primary().map(|p| &p.address), Some(&a));
/// // b is not in the primary's host list, c is new:
/// let names: Vec<&str> = events.iter().map(|e| e.name()).collect();
/// assert_eq!(names, ["ServerDescriptionChanged", "ServerOpening", "ServerClosed", "TopologyDescriptionChanged"]);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TopologyDescription {
    topology_type: TopologyType,
    /// The replica set name: from the options, or learned from the first member.
    set_name: Option<String>,
    /// Largest `setVersion` reported by a primary (paired with `max_election_id`).
    max_set_version: Option<i64>,
    /// Largest `electionId` reported by a primary.
    max_election_id: Option<ObjectId>,
    /// One description per server, keyed (and so iterated) by address.
    servers: BTreeMap<ServerAddress, ServerDescription>,
    /// Why the deployment cannot be used by this driver; `None` when compatible.
    compatibility_error: Option<String>,
    /// The smallest session timeout of the data-bearing servers; `None` if any lacks one.
    logical_session_timeout: Option<Duration>,
    /// The seed list was one host, not from SRV: a standalone then makes the topology
    /// Single (updateUnknownWithStandalone). Fixed at construction.
    single_seed: bool,
}

/// What [`TopologyDescription::update`] asks of its caller.
///
/// Besides the events, a newly discovered primary demotes the previous one: the client
/// must check that server again at once, and clear its pool if it runs MongoDB 4.0 or
/// older (which closes its connections on stepdown).
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use bson::doc;
/// use greenmongo::{options::ServerAddress, sdam::{RoundTripTimes, ServerDescription, TopologyDescription}, ClientOptions};
///
/// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a/?replicaSet=rs")?);
/// let reply = doc! { "ok": 1, "isWritablePrimary": true, "setName": "rs", "hosts": ["a:27017", "b:27017"], "maxWireVersion": 21 };
/// let a = ServerAddress::tcp("a", 27017);
/// let outcome = topology.update(ServerDescription::from_hello(a, &reply, RoundTripTimes::default(), Instant::now()));
/// assert!(outcome.events.iter().any(|e| e.name() == "ServerOpening")); // start a monitor for b
/// assert!(outcome.request_check.is_empty() && outcome.clear_pool.is_empty());
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct UpdateOutcome {
    /// The SDAM events to publish, in order.
    pub events: Vec<SdamEvent>,
    /// Servers to check immediately.
    pub request_check: Vec<ServerAddress>,
    /// Servers whose connection pool must be cleared.
    pub clear_pool: Vec<ServerAddress>,
}

impl TopologyDescription {
    /// The initial description for a client, and the events its construction publishes
    /// (TopologyOpening, TopologyDescriptionChanged, a ServerOpening per seed, and for a
    /// load balancer its ServerDescriptionChanged to `LoadBalancer`).
    ///
    /// The initial type follows the SDAM spec: `loadBalanced=true` gives LoadBalanced,
    /// `directConnection=true` Single, a `replicaSet` name ReplicaSetNoPrimary, anything
    /// else (including `mongodb+srv`) Unknown. Options are expected to be validated
    /// ([`ClientOptions::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{sdam::{TopologyDescription, TopologyType}, ClientOptions};
    ///
    /// let single = |uri| TopologyDescription::new(&ClientOptions::parse(uri).unwrap()).0;
    /// assert_eq!(single("mongodb://a/?directConnection=true").topology_type(), TopologyType::Single);
    /// assert_eq!(single("mongodb://a/?loadBalanced=true").topology_type(), TopologyType::LoadBalanced);
    /// assert_eq!(single("mongodb://a,b").topology_type(), TopologyType::Unknown);
    /// assert_eq!(single("mongodb://a,b").servers().count(), 2);
    /// ```
    pub fn new(options: &ClientOptions) -> (Self, Vec<SdamEvent>) {
        let topology_type = if options.load_balanced == Some(true) {
            TopologyType::LoadBalanced
        } else if options.direct_connection == Some(true) {
            TopologyType::Single
        } else if options.repl_set_name.is_some() {
            TopologyType::ReplicaSetNoPrimary
        } else {
            TopologyType::Unknown
        };
        let empty = TopologyDescription::with_servers(TopologyType::Unknown, Vec::new());
        let mut topology = empty.clone();
        topology.topology_type = topology_type;
        topology.set_name = options.repl_set_name.clone();
        topology.single_seed = options.srv_host.is_none() && options.hosts.len() == 1;
        let mut opening = UpdateOutcome::default();
        for host in &options.hosts {
            topology.add_server(host, &mut opening);
        }
        topology.refresh();
        let mut events = vec![SdamEvent::TopologyOpening, changed(&empty, &topology)];
        events.append(&mut opening.events);
        if topology_type == TopologyType::LoadBalanced {
            let before = topology.clone();
            for sd in topology.servers.values_mut() {
                let previous = sd.clone();
                sd.server_type = ServerType::LoadBalancer;
                events.push(SdamEvent::ServerDescriptionChanged {
                    address: sd.address.clone(),
                    previous: Box::new(previous),
                    new: Box::new(sd.clone()),
                });
            }
            topology.refresh();
            events.push(changed(&before, &topology));
        }
        (topology, events)
    }

    /// A description with the given type and servers, as given: no SDAM rule is applied,
    /// only compatibility and the session timeout are derived. For tests and tools that
    /// need a topology in a particular state (the server selection spec tests build theirs
    /// this way).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{
    ///     options::ServerAddress,
    ///     sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType},
    /// };
    ///
    /// let mut mongos = ServerDescription::new(ServerAddress::tcp("m", 27017));
    /// mongos.server_type = ServerType::Mongos;
    /// mongos.max_wire_version = 21;
    /// let topology = TopologyDescription::with_servers(TopologyType::Sharded, [mongos]);
    /// assert!(topology.is_compatible());
    /// ```
    pub fn with_servers(
        topology_type: TopologyType,
        servers: impl IntoIterator<Item = ServerDescription>,
    ) -> Self {
        let mut topology = TopologyDescription {
            topology_type,
            set_name: None,
            max_set_version: None,
            max_election_id: None,
            servers: servers
                .into_iter()
                .map(|sd| (sd.address.clone(), sd))
                .collect(),
            compatibility_error: None,
            logical_session_timeout: None,
            single_seed: false,
        };
        topology.refresh();
        topology
    }

    /// The topology type.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{sdam::{TopologyDescription, TopologyType}, ClientOptions};
    ///
    /// let (topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a/?replicaSet=rs")?);
    /// assert_eq!(topology.topology_type(), TopologyType::ReplicaSetNoPrimary);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn topology_type(&self) -> TopologyType {
        self.topology_type
    }

    /// The replica set name, given or discovered.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{sdam::TopologyDescription, ClientOptions};
    ///
    /// let (topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a/?replicaSet=rs0")?);
    /// assert_eq!(topology.set_name(), Some("rs0"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn set_name(&self) -> Option<&str> {
        self.set_name.as_deref()
    }

    /// The largest `setVersion` a primary has reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use bson::{doc, oid::ObjectId};
    /// use greenmongo::{options::ServerAddress, sdam::{RoundTripTimes, ServerDescription, TopologyDescription}, ClientOptions};
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a/?replicaSet=rs")?);
    /// assert_eq!(topology.max_set_version(), None);
    /// let reply = doc! { "ok": 1, "isWritablePrimary": true, "setName": "rs", "hosts": ["a:27017"],
    ///                    "setVersion": 3_i64, "electionId": ObjectId::new(), "maxWireVersion": 21 };
    /// topology.update(ServerDescription::from_hello(ServerAddress::tcp("a", 27017), &reply, RoundTripTimes::default(), Instant::now()));
    /// assert_eq!(topology.max_set_version(), Some(3));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn max_set_version(&self) -> Option<i64> {
        self.max_set_version
    }

    /// The largest `electionId` a primary has reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use bson::{doc, oid::ObjectId};
    /// use greenmongo::{options::ServerAddress, sdam::{RoundTripTimes, ServerDescription, TopologyDescription}, ClientOptions};
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a/?replicaSet=rs")?);
    /// let election = ObjectId::new();
    /// let reply = doc! { "ok": 1, "isWritablePrimary": true, "setName": "rs", "hosts": ["a:27017"],
    ///                    "setVersion": 1_i64, "electionId": election, "maxWireVersion": 21 };
    /// topology.update(ServerDescription::from_hello(ServerAddress::tcp("a", 27017), &reply, RoundTripTimes::default(), Instant::now()));
    /// assert_eq!(topology.max_election_id(), Some(election));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn max_election_id(&self) -> Option<ObjectId> {
        self.max_election_id
    }

    /// Every server, in address order.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::TopologyDescription, ClientOptions};
    ///
    /// let (topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://b,a:27018")?);
    /// let addresses: Vec<&ServerAddress> = topology.servers().map(|s| &s.address).collect();
    /// assert_eq!(addresses, [&ServerAddress::tcp("a", 27018), &ServerAddress::tcp("b", 27017)]);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn servers(&self) -> impl Iterator<Item = &ServerDescription> {
        self.servers.values()
    }

    /// The description of the server at `address`, if it is part of the topology.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::{ServerType, TopologyDescription}, ClientOptions};
    ///
    /// let (topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a,b")?);
    /// let a = topology.server(&ServerAddress::tcp("a", 27017)).unwrap();
    /// assert_eq!(a.server_type, ServerType::Unknown); // not checked yet
    /// assert!(topology.server(&ServerAddress::tcp("c", 27017)).is_none());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn server(&self, address: &ServerAddress) -> Option<&ServerDescription> {
        self.servers.get(address)
    }

    /// The replica set primary, if one is known.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use bson::doc;
    /// use greenmongo::{options::ServerAddress, sdam::{RoundTripTimes, ServerDescription, TopologyDescription}, ClientOptions};
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a/?replicaSet=rs")?);
    /// assert!(topology.primary().is_none());
    /// let reply = doc! { "ok": 1, "isWritablePrimary": true, "setName": "rs", "hosts": ["a:27017"], "maxWireVersion": 21 };
    /// let a = ServerAddress::tcp("a", 27017);
    /// topology.update(ServerDescription::from_hello(a.clone(), &reply, RoundTripTimes::default(), Instant::now()));
    /// assert_eq!(topology.primary().map(|p| &p.address), Some(&a));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn primary(&self) -> Option<&ServerDescription> {
        self.servers
            .values()
            .find(|sd| sd.server_type == ServerType::RsPrimary)
    }

    /// Whether every server's wire-version range overlaps the driver's.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType}};
    ///
    /// let mut old = ServerDescription::new(ServerAddress::tcp("a", 27017));
    /// old.server_type = ServerType::Standalone;
    /// old.max_wire_version = 2;
    /// assert!(!TopologyDescription::with_servers(TopologyType::Single, [old]).is_compatible());
    /// ```
    pub fn is_compatible(&self) -> bool {
        self.compatibility_error.is_none()
    }

    /// The first incompatibility found (the spec's `compatibilityError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType}};
    ///
    /// let mut old = ServerDescription::new(ServerAddress::tcp("a", 27017));
    /// old.server_type = ServerType::Standalone;
    /// old.max_wire_version = 2;
    /// let topology = TopologyDescription::with_servers(TopologyType::Single, [old]);
    /// assert!(topology.compatibility_error().unwrap().contains("requires at least"));
    /// ```
    pub fn compatibility_error(&self) -> Option<&str> {
        self.compatibility_error.as_deref()
    }

    /// The deployment's session timeout (the spec's `logicalSessionTimeoutMinutes`):
    /// the smallest of the data-bearing servers', or `None` if any of them has none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use bson::doc;
    /// use greenmongo::{options::ServerAddress, sdam::{RoundTripTimes, ServerDescription, TopologyDescription}, ClientOptions};
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a")?);
    /// let reply = doc! { "ok": 1, "isWritablePrimary": true, "logicalSessionTimeoutMinutes": 30, "maxWireVersion": 21 };
    /// topology.update(ServerDescription::from_hello(ServerAddress::tcp("a", 27017), &reply, RoundTripTimes::default(), Instant::now()));
    /// assert_eq!(topology.logical_session_timeout(), Some(Duration::from_secs(30 * 60)));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn logical_session_timeout(&self) -> Option<Duration> {
        self.logical_session_timeout
    }

    /// Applies the outcome of a check (or an application error's Unknown description).
    /// The returned events are: ServerDescriptionChanged if the server's description
    /// changed, ServerOpening/ServerClosed for servers added or removed, then
    /// TopologyDescriptionChanged if the topology changed. See [`UpdateOutcome`] for the
    /// rest.
    ///
    /// Ignored, with no events: a server that is not (or no longer) in the topology, a
    /// description whose `topologyVersion` is older than the current one, and any update
    /// of a load-balanced topology (its server stays `LoadBalancer`).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{
    ///     options::ServerAddress,
    ///     sdam::{ServerDescription, TopologyDescription, TopologyType},
    ///     ClientOptions,
    /// };
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a")?);
    /// let unreachable = ServerDescription::with_error(ServerAddress::tcp("a", 27017), "refused");
    /// let events = topology.update(unreachable).events;
    /// assert_eq!(events.len(), 2); // ServerDescriptionChanged (the error), TopologyDescriptionChanged
    /// assert_eq!(topology.topology_type(), TopologyType::Unknown);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn update(&mut self, description: ServerDescription) -> UpdateOutcome {
        let Some(current) = self.servers.get(&description.address) else {
            return UpdateOutcome::default();
        };
        let stale = TopologyVersion::compare(
            current.topology_version.as_ref(),
            description.topology_version.as_ref(),
        ) == Ordering::Greater;
        if stale || self.topology_type == TopologyType::LoadBalanced {
            return UpdateOutcome::default();
        }
        let before = self.clone();
        let previous = current.clone();
        let mut outcome = UpdateOutcome::default();
        self.apply(description.clone(), &mut outcome);
        self.refresh();
        let mut events = Vec::new();
        if previous != description {
            events.push(SdamEvent::ServerDescriptionChanged {
                address: description.address.clone(),
                previous: Box::new(previous),
                new: Box::new(description),
            });
        }
        events.append(&mut outcome.events);
        if *self != before {
            events.push(changed(&before, self));
        }
        outcome.events = events;
        outcome
    }

    /// Records a server's latest round-trip times (a streaming monitor's RTT task
    /// measures them between the server's own reports). Not a description change: no
    /// events, and nothing happens while the server is Unknown (it has no RTT then).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use bson::doc;
    /// use greenmongo::{options::ServerAddress, sdam::{RoundTripTimes, ServerDescription, TopologyDescription}, ClientOptions};
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a")?);
    /// let a = ServerAddress::tcp("a", 27017);
    /// let reply = doc! { "ok": 1, "isWritablePrimary": true, "maxWireVersion": 21 };
    /// topology.update(ServerDescription::from_hello(a.clone(), &reply, RoundTripTimes::default(), Instant::now()));
    /// let ms = Duration::from_millis;
    /// topology.set_round_trip_times(&a, RoundTripTimes { average: ms(4), minimum: ms(3) });
    /// assert_eq!(topology.server(&a).unwrap().min_rtt, Some(ms(3)));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn set_round_trip_times(&mut self, address: &ServerAddress, times: RoundTripTimes) {
        if let Some(server) = self.servers.get_mut(address)
            && server.server_type != ServerType::Unknown
        {
            server.average_rtt = Some(times.average);
            server.min_rtt = Some(times.minimum);
        }
    }

    /// Removes every server and makes the topology Unknown, as a closing client should,
    /// returning ServerClosed for each server, TopologyDescriptionChanged and
    /// TopologyClosed.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{sdam::TopologyDescription, ClientOptions};
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a,b")?);
    /// let events = topology.close();
    /// assert_eq!(events.len(), 4);
    /// assert_eq!(topology.servers().count(), 0);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn close(&mut self) -> Vec<SdamEvent> {
        let before = self.clone();
        let mut events: Vec<SdamEvent> = std::mem::take(&mut self.servers)
            .into_keys()
            .map(|address| SdamEvent::ServerClosed { address })
            .collect();
        self.topology_type = TopologyType::Unknown;
        self.refresh();
        events.push(changed(&before, self));
        events.push(SdamEvent::TopologyClosed);
        events
    }

    /// Stores `sd` and runs the action of the spec's TopologyType table.
    fn apply(&mut self, sd: ServerDescription, out: &mut UpdateOutcome) {
        use ServerType as S;
        use TopologyType as T;
        let address = sd.address.clone();
        if self.topology_type == T::Single {
            let wrong_set = match &self.set_name {
                Some(name) => sd.server_type.is_available() && sd.set_name.as_ref() != Some(name),
                None => false,
            };
            let sd = if wrong_set {
                ServerDescription::with_error(
                    address.clone(),
                    format!(
                        "replica set name mismatch: expected \"{}\", the server reports {:?}",
                        self.set_name.as_deref().unwrap_or_default(),
                        sd.set_name
                    ),
                )
            } else {
                sd
            };
            self.servers.insert(address, sd);
            return;
        }
        self.servers.insert(address.clone(), sd.clone());
        match (self.topology_type, sd.server_type) {
            (T::ReplicaSetWithPrimary, S::Unknown | S::PossiblePrimary | S::RsGhost) => {
                self.check_if_has_primary();
            }
            (_, S::Unknown | S::PossiblePrimary)
            | (T::Unknown | T::ReplicaSetNoPrimary, S::RsGhost) => {}
            (T::Unknown, S::Standalone) => self.update_unknown_with_standalone(&sd, out),
            (T::Unknown, S::Mongos) => self.topology_type = T::Sharded,
            (T::Unknown, S::LoadBalancer) => {}
            (T::Unknown | T::ReplicaSetNoPrimary | T::ReplicaSetWithPrimary, S::RsPrimary) => {
                self.topology_type = T::ReplicaSetWithPrimary;
                self.update_rs_from_primary(&sd, out);
            }
            (T::Unknown | T::ReplicaSetNoPrimary, S::RsSecondary | S::RsArbiter | S::RsOther) => {
                self.topology_type = T::ReplicaSetNoPrimary;
                self.update_rs_without_primary(&sd, out);
            }
            (T::ReplicaSetWithPrimary, S::RsSecondary | S::RsArbiter | S::RsOther) => {
                self.update_rs_with_primary_from_member(&sd, out);
            }
            (T::Sharded, S::Mongos) => {}
            (T::Sharded, _) => self.remove_server(&address, out),
            (T::ReplicaSetNoPrimary, _) => self.remove_server(&address, out),
            (T::ReplicaSetWithPrimary, _) => {
                self.remove_server(&address, out);
                self.check_if_has_primary();
            }
            (T::Single | T::LoadBalanced, _) => unreachable!("handled above"),
        }
    }

    /// updateUnknownWithStandalone: one seed makes the topology Single; with several, a
    /// standalone is not what the user meant and is dropped.
    fn update_unknown_with_standalone(&mut self, sd: &ServerDescription, out: &mut UpdateOutcome) {
        if self.single_seed {
            self.topology_type = TopologyType::Single;
        } else {
            self.remove_server(&sd.address, out);
        }
    }

    /// Adds an Unknown description for `address` unless it is already present.
    fn add_server(&mut self, address: &ServerAddress, out: &mut UpdateOutcome) {
        if !self.servers.contains_key(address) {
            self.servers
                .insert(address.clone(), ServerDescription::new(address.clone()));
            out.events.push(SdamEvent::ServerOpening {
                address: address.clone(),
            });
        }
    }

    fn remove_server(&mut self, address: &ServerAddress, out: &mut UpdateOutcome) {
        if self.servers.remove(address).is_some() {
            out.events.push(SdamEvent::ServerClosed {
                address: address.clone(),
            });
        }
    }

    /// Recomputes the fields derived from the servers: compatibility and session timeout.
    fn refresh(&mut self) {
        self.compatibility_error = self
            .servers
            .values()
            .find_map(ServerDescription::compatibility_error);
        let mut timeout = None;
        for sd in self.servers.values() {
            if !sd.server_type.is_data_bearing() {
                continue;
            }
            match sd.logical_session_timeout {
                None => {
                    timeout = None;
                    break;
                }
                Some(t) => timeout = Some(timeout.map_or(t, |min: Duration| min.min(t))),
            }
        }
        self.logical_session_timeout = timeout;
    }
}

/// A TopologyDescriptionChanged event from `before` to `after`.
fn changed(before: &TopologyDescription, after: &TopologyDescription) -> SdamEvent {
    SdamEvent::TopologyDescriptionChanged {
        previous: Box::new(before.clone()),
        new: Box::new(after.clone()),
    }
}

#[cfg(test)]
mod tests;
