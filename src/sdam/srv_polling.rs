//! SRV polling (the Polling SRV Records for mongos Discovery spec): a client created from
//! a `mongodb+srv` connection string looks its SRV records up again, now and then, while
//! its topology is Unknown or Sharded, so that mongos routers added to or removed from
//! DNS join or leave the topology without a new client.
//!
//! - **When.** Every `rescanSRVIntervalMS`, counted from the end of the previous lookup:
//!   the smallest TTL of the last answer's records, but never less than
//!   [`MIN_RESCAN_INTERVAL`] (60 s); after a failed lookup, `heartbeatFrequencyMS` until
//!   one succeeds. The first rescan comes 60 s after the client is created (the initial
//!   lookup's TTLs are not kept; asking early is harmless).
//! - **Failures change nothing.** A DNS error, an answer without SRV records, or one whose
//!   targets are all outside the connection string's domain leaves the topology as it is
//!   and is logged (`tracing`), never raised.
//! - **Otherwise** ([`next_hosts`]): hosts no longer listed leave the topology (their
//!   monitors stop, their pools close); listed ones stay untouched; new ones join as
//!   Unknown: all of them, or with a positive `srvMaxHosts` randomly chosen ones (the
//!   initial lookup's shuffle) until there are `srvMaxHosts`. A target outside the domain
//!   (the initial lookup's rule, [`SrvLookup::check_target`]) is skipped and logged.
//! - **Until.** Polling ends for good once the topology is anything but Unknown or Sharded
//!   (a replica set behind the SRV name: it discovers its members itself), when the
//!   client shuts down, or when its last handle is dropped. A load-balanced client never
//!   polls (its one host is the load balancer).
//!
//! The poller runs where the monitors do: a coroutine on the client's runtime, or a
//! thread of its own when the client was created outside one; its lookups go to the
//! runtime's blocking pool. Like a monitor it holds only a weak reference to the
//! topology, and the topology holds the sending end of its stop channel
//! ([`SrvPollerHandle`]): dropping that wakes the poller from its wait and ends it.

use std::{
    collections::HashSet,
    io,
    time::{Duration, Instant},
};

use greenmongo_runtime::{Handle, sync::mpsc};

use super::{SdamEvent, ServerDescription, TopologyDescription, TopologyType, UpdateOutcome};
use crate::{
    dns,
    options::{ClientOptions, ResolverConfig, ServerAddress},
    topology::WeakTopology,
    uri::SrvLookup,
};

/// The shortest `rescanSRVIntervalMS` the spec allows, whatever the records' TTLs.
pub(crate) const MIN_RESCAN_INTERVAL: Duration = Duration::from_secs(60);

/// The shortest interval [`ClientOptions::srv_rescan_interval`] can set.
const MIN_FIXED_INTERVAL: Duration = Duration::from_millis(10);

/// The topology's hold on its SRV poller: dropping it (at shutdown, or with the topology)
/// ends the poller at once, even in the middle of its wait.
pub(crate) struct SrvPollerHandle {
    /// Never sent on: only its disconnection matters.
    _stop: mpsc::Sender<()>,
}

impl SrvPollerHandle {
    /// Starts polling for a client with `options`, on `handle`'s runtime or on a thread of
    /// its own; `None` when the options do not call for it (not `mongodb+srv`, or
    /// load-balanced). `heartbeat` is the interval after a failed lookup.
    pub(crate) fn start(
        options: &ClientOptions,
        topology: WeakTopology,
        heartbeat: Duration,
        handle: Option<Handle>,
    ) -> Option<SrvPollerHandle> {
        if options.load_balanced == Some(true) || options.direct_connection == Some(true) {
            return None;
        }
        let lookup = options.srv_lookup()?;
        let (stop, stopped) = mpsc::bounded(1);
        let poller = Poller {
            topology,
            lookup,
            resolver: options.resolver_config.clone(),
            max_hosts: options.srv_max_hosts.unwrap_or(0),
            heartbeat,
            // A floor even for the test hook: a zero interval would flood the nameservers.
            fixed_interval: options
                .srv_rescan_interval
                .map(|interval| interval.max(MIN_FIXED_INTERVAL)),
            stopped,
        };
        match handle {
            Some(handle) => {
                handle.spawn(move || poller.run());
            }
            None => {
                let spawned = std::thread::Builder::new()
                    .name(format!("srv poller {}", poller.lookup.hostname))
                    .spawn(move || poller.run());
                if let Err(e) = spawned {
                    // Without the thread the client still works, on its initial hosts.
                    tracing::warn!("SRV polling not started: no thread for it: {e}");
                }
            }
        }
        Some(SrvPollerHandle { _stop: stop })
    }
}

/// The polling loop's state.
struct Poller {
    /// Weak: the poller never keeps a client alive.
    topology: WeakTopology,
    /// What to look up, and the domain the targets must be in.
    lookup: SrvLookup,
    /// The client's nameservers (`None`: the system's, read at each lookup).
    resolver: Option<ResolverConfig>,
    /// `srvMaxHosts` (0: no limit).
    max_hosts: u32,
    /// `heartbeatFrequencyMS`: the interval after a failed lookup.
    heartbeat: Duration,
    /// The test hook [`ClientOptions::srv_rescan_interval`].
    fixed_interval: Option<Duration>,
    /// Disconnected when the topology drops its [`SrvPollerHandle`].
    stopped: mpsc::Receiver<()>,
}

impl Poller {
    fn run(self) {
        let mut interval = self.fixed_interval.unwrap_or(MIN_RESCAN_INTERVAL);
        let mut since = Instant::now();
        loop {
            match self.stopped.recv_deadline(Some(since + interval)) {
                // The interval is up.
                Err(mpsc::RecvError::Wait(e)) if e.kind() == io::ErrorKind::TimedOut => {}
                // Disconnected: shut down, or the topology is gone (nothing is ever sent).
                // A wait that fails otherwise leaves no way to pace the lookups: stop too.
                _ => return,
            }
            if !self.still_wanted() {
                return;
            }
            let found = dns::rescan_srv(&self.lookup, self.resolver.as_ref());
            since = Instant::now();
            let failed = match found {
                Ok(records) => {
                    let hosts = verified_hosts(&self.lookup, &records.targets);
                    if hosts.is_empty() {
                        tracing::warn!(
                            srv = %self.lookup.srv_name(),
                            "SRV polling: no SRV record in the domain of {}; hosts kept",
                            self.lookup.hostname
                        );
                        true
                    } else if self.replace(&hosts) {
                        interval = rescan_interval(records.ttl);
                        false
                    } else {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(srv = %self.lookup.srv_name(), "SRV polling: {e}; hosts kept");
                    true
                }
            };
            if failed {
                // Until a lookup succeeds again (the spec).
                interval = self.heartbeat;
            }
            if let Some(fixed) = self.fixed_interval {
                interval = fixed;
            }
        }
    }

    /// Whether the client is still there, not shut down, and its topology still one that
    /// polls.
    fn still_wanted(&self) -> bool {
        let Some(topology) = self.topology.upgrade() else {
            return false;
        };
        // An update that changes nothing: only the hook's own checks matter (shut down?
        // a topology type that polls?), made under the topology's lock.
        topology.rescanned_srv(|description| {
            polls(description.topology_type()).then(UpdateOutcome::default)
        })
    }

    /// Applies a successful lookup's `hosts` to the topology; `false` once polling must
    /// stop.
    fn replace(&self, hosts: &[ServerAddress]) -> bool {
        let Some(topology) = self.topology.upgrade() else {
            return false;
        };
        let max_hosts = self.max_hosts;
        topology.rescanned_srv(|description| {
            let current: Vec<ServerAddress> =
                description.servers().map(|sd| sd.address.clone()).collect();
            let next = next_hosts(&current, hosts, max_hosts, |candidates| {
                if let Err(e) = dns::shuffle(candidates) {
                    tracing::warn!("SRV polling: new hosts taken in DNS order: {e}");
                }
            });
            replace_servers(description, &next)
        })
    }
}

/// Whether a topology of this type polls: only Unknown and Sharded do.
fn polls(topology_type: TopologyType) -> bool {
    matches!(topology_type, TopologyType::Unknown | TopologyType::Sharded)
}

/// `rescanSRVIntervalMS` after a successful lookup whose records' smallest TTL was `ttl`.
fn rescan_interval(ttl: Option<Duration>) -> Duration {
    ttl.map_or(MIN_RESCAN_INTERVAL, |ttl| ttl.max(MIN_RESCAN_INTERVAL))
}

/// The SRV targets in the domain of `lookup`, as addresses, without duplicates, in DNS
/// order; each target outside it is logged and skipped (SRV polling raises no errors).
fn verified_hosts(lookup: &SrvLookup, targets: &[(String, u16)]) -> Vec<ServerAddress> {
    let mut hosts: Vec<ServerAddress> = Vec::with_capacity(targets.len());
    for (target, port) in targets {
        match lookup.check_target(target) {
            Ok(host) => {
                let address = ServerAddress::tcp(host, *port);
                if !hosts.contains(&address) {
                    hosts.push(address);
                }
            }
            Err(e) => tracing::warn!("SRV polling: {e}; skipped"),
        }
    }
    hosts
}

/// The hosts the topology should have after a rescan found `found` (verified, without
/// duplicates), given the `current` ones (the spec's rules):
///
/// - hosts in `current` but not in `found` go;
/// - hosts in both stay (they are never removed and added again);
/// - with `max_hosts` zero or at least `found.len()`, every new host is added;
/// - otherwise new hosts, in the order `shuffle` puts them in, are added until there are
///   `max_hosts` (none when the kept ones already reach it).
///
/// The kept hosts come first, in `current`'s order, then the added ones.
pub(crate) fn next_hosts(
    current: &[ServerAddress],
    found: &[ServerAddress],
    max_hosts: u32,
    shuffle: impl FnOnce(&mut [ServerAddress]),
) -> Vec<ServerAddress> {
    let listed: HashSet<&ServerAddress> = found.iter().collect();
    let mut next: Vec<ServerAddress> = current
        .iter()
        .filter(|host| listed.contains(host))
        .cloned()
        .collect();
    let mut new: Vec<ServerAddress> = found
        .iter()
        .filter(|host| !next.contains(host))
        .cloned()
        .collect();
    let limit = usize::try_from(max_hosts).unwrap_or(usize::MAX);
    if limit == 0 || limit >= found.len() {
        next.append(&mut new);
    } else {
        let room = limit.saturating_sub(next.len());
        if room > 0 {
            shuffle(&mut new);
            new.truncate(room);
            next.append(&mut new);
        }
    }
    next
}

/// Gives `description` exactly the servers `hosts`: those already present keep their
/// descriptions, new ones start Unknown. Returns the events to publish (ServerClosed per
/// removed host, ServerOpening per added one, then TopologyDescriptionChanged; none when
/// nothing changes), or `None`, changing nothing, when the topology is not one that polls.
///
/// An Unknown or Sharded description is its type and its servers (no set name, no
/// election state: those come only with a replica set), so rebuilding it from them loses
/// nothing; the check below keeps that true should those fields ever be set.
pub(crate) fn replace_servers(
    description: &mut TopologyDescription,
    hosts: &[ServerAddress],
) -> Option<UpdateOutcome> {
    let topology_type = description.topology_type();
    let replica_set_state = description.set_name().is_some()
        || description.max_set_version().is_some()
        || description.max_election_id().is_some();
    if !polls(topology_type) || replica_set_state {
        return None;
    }
    let mut events = Vec::new();
    for sd in description.servers() {
        if !hosts.contains(&sd.address) {
            events.push(SdamEvent::ServerClosed {
                address: sd.address.clone(),
            });
        }
    }
    let mut servers: Vec<ServerDescription> = Vec::with_capacity(hosts.len());
    for host in hosts {
        match description.server(host) {
            Some(sd) => servers.push(sd.clone()),
            None => {
                events.push(SdamEvent::ServerOpening {
                    address: host.clone(),
                });
                servers.push(ServerDescription::new(host.clone()));
            }
        }
    }
    if events.is_empty() {
        return Some(UpdateOutcome::default());
    }
    let previous = description.clone();
    *description = TopologyDescription::with_servers(topology_type, servers);
    events.push(SdamEvent::TopologyDescriptionChanged {
        previous: Box::new(previous),
        new: Box::new(description.clone()),
    });
    Some(UpdateOutcome {
        events,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(ports: &[u16]) -> Vec<ServerAddress> {
        ports
            .iter()
            .map(|&port| ServerAddress::tcp("localhost.example.test", port))
            .collect()
    }

    fn ports(hosts: &[ServerAddress]) -> Vec<u16> {
        let mut ports: Vec<u16> = hosts
            .iter()
            .map(|h| match h {
                ServerAddress::Tcp { port, .. } => *port,
                ServerAddress::Unix { .. } => 0,
            })
            .collect();
        ports.sort_unstable();
        ports
    }

    fn keep_order(_: &mut [ServerAddress]) {}

    fn reverse(hosts: &mut [ServerAddress]) {
        hosts.reverse();
    }

    // The spec's prose tests 1-5 and 10-12, on the host set alone.
    #[test]
    fn without_srv_max_hosts_the_set_becomes_the_records() {
        let current = hosts(&[27017, 27018]);
        for (found, expected) in [
            (&[27017, 27018, 27019][..], &[27017, 27018, 27019][..]), // 1: addition
            (&[27017], &[27017]),                                     // 2: removal
            (&[27017, 27019], &[27017, 27019]),                       // 3: replacement
            (&[27019], &[27019]),                                     // 4: both by one
            (&[27019, 27020], &[27019, 27020]),                       // 5: both by two
        ] {
            let next = next_hosts(&current, &hosts(found), 0, keep_order);
            assert_eq!(ports(&next), expected, "records {found:?}");
        }
    }

    #[test]
    fn kept_hosts_come_first_in_their_order() {
        let next = next_hosts(
            &hosts(&[27018, 27017]),
            &hosts(&[27019, 27017, 27018]),
            0,
            keep_order,
        );
        assert_eq!(next, hosts(&[27018, 27017, 27019]));
    }

    #[test]
    fn srv_max_hosts_keeps_listed_hosts_and_fills_up_at_random() {
        let current = hosts(&[27017, 27018]);
        // 10: srvMaxHosts = 0 takes everything.
        let next = next_hosts(&current, &hosts(&[27017, 27019, 27020]), 0, keep_order);
        assert_eq!(ports(&next), [27017, 27019, 27020]);
        // 11: srvMaxHosts >= records takes everything.
        let next = next_hosts(&current, &hosts(&[27019, 27020]), 2, keep_order);
        assert_eq!(ports(&next), [27019, 27020]);
        // 12: 27017 stays, one of the new ones joins, chosen by the shuffle.
        let found = hosts(&[27017, 27019, 27020]);
        let next = next_hosts(&current, &found, 2, keep_order);
        assert_eq!(next, hosts(&[27017, 27019]));
        let next = next_hosts(&current, &found, 2, reverse);
        assert_eq!(next, hosts(&[27017, 27020]));
    }

    #[test]
    fn srv_max_hosts_never_removes_listed_hosts() {
        // Already at the limit: nothing new is added, nothing listed is dropped.
        let current = hosts(&[27017, 27018]);
        let next = next_hosts(&current, &hosts(&[27017, 27018, 27019]), 2, |_| {
            panic!("no choice to make")
        });
        assert_eq!(next, current);
        // More kept than the limit (a lower limit cannot happen, but is no reason to drop
        // a working host): all kept, none added.
        let next = next_hosts(&hosts(&[1, 2, 3]), &hosts(&[1, 2, 3, 4]), 2, keep_order);
        assert_eq!(next, hosts(&[1, 2, 3]));
    }

    #[test]
    fn only_targets_in_the_domain_count_once_each() {
        let options = ClientOptions::parse("mongodb+srv://cluster.example.test").unwrap();
        let lookup = options.srv_lookup().unwrap();
        let targets = [
            ("a.example.test.".to_owned(), 27017),
            ("evil.example.com.".to_owned(), 27017),
            ("A.Example.Test".to_owned(), 27017),
            ("a.example.test".to_owned(), 27018),
        ];
        assert_eq!(
            verified_hosts(&lookup, &targets),
            [
                ServerAddress::tcp("a.example.test", 27017),
                ServerAddress::tcp("a.example.test", 27018)
            ]
        );
        assert!(verified_hosts(&lookup, &targets[1..2]).is_empty());
    }

    #[test]
    fn the_interval_follows_the_ttl_but_not_below_a_minute() {
        assert_eq!(rescan_interval(None), MIN_RESCAN_INTERVAL);
        assert_eq!(
            rescan_interval(Some(Duration::from_secs(5))),
            MIN_RESCAN_INTERVAL
        );
        assert_eq!(
            rescan_interval(Some(Duration::from_secs(300))),
            Duration::from_secs(300)
        );
    }

    fn srv_topology(ports: &[u16]) -> TopologyDescription {
        let mut options = ClientOptions::parse("mongodb+srv://cluster.example.test").unwrap();
        options.hosts = hosts(ports);
        TopologyDescription::new(&options).0
    }

    fn names(outcome: &UpdateOutcome) -> Vec<(&'static str, Option<u16>)> {
        outcome
            .events
            .iter()
            .map(|event| {
                let port = match event {
                    SdamEvent::ServerOpening { address } | SdamEvent::ServerClosed { address } => {
                        Some(ports(std::slice::from_ref(address))[0])
                    }
                    _ => None,
                };
                (event.name(), port)
            })
            .collect()
    }

    #[test]
    fn replacing_servers_closes_the_gone_and_opens_the_new() {
        let mut description = srv_topology(&[27017, 27018]);
        let mut known = ServerDescription::new(ServerAddress::tcp("localhost.example.test", 27017));
        known.error = Some("kept as it was".into());
        let mut with_known = TopologyDescription::with_servers(
            TopologyType::Unknown,
            description
                .servers()
                .filter(|sd| sd.address != known.address)
                .cloned()
                .chain([known.clone()]),
        );
        let outcome = replace_servers(&mut with_known, &hosts(&[27017, 27019])).unwrap();
        assert_eq!(
            names(&outcome),
            [
                ("ServerClosed", Some(27018)),
                ("ServerOpening", Some(27019)),
                ("TopologyDescriptionChanged", None)
            ]
        );
        assert_eq!(
            with_known.server(&known.address),
            Some(&known),
            "left alone"
        );
        let now: Vec<ServerAddress> = with_known.servers().map(|sd| sd.address.clone()).collect();
        assert_eq!(ports(&now), [27017, 27019]);
        assert_eq!(with_known.topology_type(), TopologyType::Unknown);

        // The same set again: nothing to do, nothing published.
        let before = description.clone();
        let outcome = replace_servers(&mut description, &hosts(&[27018, 27017])).unwrap();
        assert!(outcome.events.is_empty());
        assert_eq!(description, before);
    }

    #[test]
    fn a_replica_set_is_never_rewritten() {
        let mut options =
            ClientOptions::parse("mongodb+srv://cluster.example.test/?replicaSet=rs").unwrap();
        options.hosts = hosts(&[27017]);
        let (mut description, _) = TopologyDescription::new(&options);
        let before = description.clone();
        assert!(replace_servers(&mut description, &hosts(&[27018])).is_none());
        assert_eq!(description, before);

        let mut sharded = TopologyDescription::with_servers(TopologyType::Sharded, []);
        let outcome = replace_servers(&mut sharded, &hosts(&[27018])).unwrap();
        assert_eq!(sharded.topology_type(), TopologyType::Sharded);
        assert_eq!(outcome.events.len(), 2);
    }
}
