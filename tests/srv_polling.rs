//! SRV polling (the Polling SRV Records for mongos Discovery spec) against fake DNS
//! servers on 127.0.0.1. The hosts the records name do not resolve, so every server stays
//! Unknown, the topology stays Unknown, and polling goes on.
//!
//! A client's resolver lists several fake nameservers; it asks them in order and one
//! that is gone refuses at once, so dropping the first "changes the DNS records" to what
//! the next one serves. The clients rescan every 100 ms (the
//! `ClientOptions::srv_rescan_interval` test hook: the spec's minimum is a minute), and
//! every wait below is for something to happen, with a generous limit, never a bet on
//! how fast it happens.

mod util {
    pub mod dns;
}

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use greenmongo::{
    Client, ClientOptions,
    event::EventHandler,
    options::ResolverConfig,
    pool::CmapEvent,
    runtime::{self, Runtime},
    sdam::SdamEvent,
};
use hickory_proto::rr::{
    RData,
    RecordType::{SRV, TXT},
};
use util::dns::{FakeDns, Reply, srv, txt};

const SRV_NAME: &str = "_mongodb._tcp.cluster0.example.test";
const HOST: &str = "cluster0.example.test";
/// How often the test clients rescan.
const INTERVAL: Duration = Duration::from_millis(100);
/// The limit of every wait for something that should happen within a few intervals.
const PATIENCE: Duration = Duration::from_secs(20);

/// A nameserver whose SRV records for [`SRV_NAME`] are `records` (`port` on host
/// `name.example.test`, all in the connection string's domain unless spelled out).
fn nameserver(records: &[(&str, u16)]) -> FakeDns {
    FakeDns::start(&[(SRV_NAME, SRV, Reply::Records(srv_records(records)))])
}

fn srv_records(records: &[(&str, u16)]) -> Vec<RData> {
    records
        .iter()
        .map(|(name, port)| {
            let target = if name.contains('.') {
                (*name).to_owned()
            } else {
                format!("{name}.example.test.")
            };
            srv(&target, *port)
        })
        .collect()
}

/// A resolver that asks `servers` in order. Its timeout is long enough that a live but
/// slow nameserver (a loaded machine) is never skipped for the next one.
fn resolver(servers: &[&FakeDns]) -> ResolverConfig {
    let mut config = servers[0].resolver();
    config.nameservers = servers.iter().map(|s| s.addr()).collect();
    config.timeout = Duration::from_secs(2);
    config
}

/// What the client's SDAM events said about its servers.
#[derive(Default)]
struct Seen {
    /// The servers of the latest TopologyDescriptionChanged.
    servers: BTreeSet<String>,
    /// Every ServerOpening, ServerClosed and (CMAP) PoolClosed, in order.
    changes: Vec<(&'static str, String)>,
}

impl Seen {
    fn count(&self, name: &str, address: &str) -> usize {
        self.changes
            .iter()
            .filter(|(n, a)| *n == name && a == address)
            .count()
    }
}

/// A client of `uri` resolved by `dns` that rescans every [`INTERVAL`], and what its SDAM
/// and CMAP events show.
fn client(uri: &str, dns: ResolverConfig) -> (Client, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = seen.clone();
    let pools = seen.clone();
    let mut options = ClientOptions::parse(uri).unwrap();
    options.resolver_config = Some(dns);
    options.srv_rescan_interval = Some(INTERVAL);
    options.sdam_event_handler = Some(EventHandler::new(move |event: &SdamEvent| {
        let mut seen = sink.lock().unwrap();
        match event {
            SdamEvent::TopologyDescriptionChanged { new, .. } => {
                seen.servers = new.servers().map(|sd| sd.address.to_string()).collect();
            }
            SdamEvent::ServerOpening { address } | SdamEvent::ServerClosed { address } => {
                seen.changes.push((event.name(), address.to_string()));
            }
            _ => {}
        }
    }));
    let pool_events = EventHandler::new(move |event: &CmapEvent| {
        if let CmapEvent::PoolClosed { address } = event {
            let mut seen = pools.lock().unwrap();
            seen.changes.push(("PoolClosed", address.to_string()));
        }
    });
    let client = Client::with_cmap_event_handler(options, pool_events).unwrap();
    (client, seen)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn servers(seen: &Mutex<Seen>) -> BTreeSet<String> {
    seen.lock().unwrap().servers.clone()
}

/// Sleeps without holding up a runtime worker (the poller may be a coroutine on it).
fn pause(d: Duration) {
    runtime::sleep(d).unwrap();
}

/// Waits until `done`, failing with `what` after [`PATIENCE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < until, "not within {PATIENCE:?}: {what}");
        pause(Duration::from_millis(20));
    }
}

/// Waits until `server` has had `more` queries beyond those it has now: that many
/// rescans have reached it.
fn rescans_reach(server: &FakeDns, more: usize) {
    let start = server.queries().0;
    eventually("the nameserver to be asked again", || {
        server.queries().0 >= start + more
    });
}

/// Runs `check` in a coroutine of a one-worker runtime, where the client's monitors and
/// poller are coroutines too.
fn in_coroutine(check: impl FnOnce() + Send + 'static) {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    rt.block_on(move || {
        assert!(runtime::in_coroutine());
        check();
    });
}

/// Prose tests 3 and 1: one record replaced, then one added. The unchanged host keeps its
/// server throughout; the replaced one's is closed.
fn records_change(first: FakeDns, second: FakeDns, third: FakeDns) {
    let (client, seen) = client(
        "mongodb+srv://cluster0.example.test/?tls=false",
        resolver(&[&first, &second, &third]),
    );
    let initial = set(&["a.example.test:27017", "b.example.test:27018"]);
    assert_eq!(servers(&seen), initial);
    rescans_reach(&first, 2);
    assert_eq!(servers(&seen), initial, "the same records change nothing");

    drop(first);
    let replaced = set(&["a.example.test:27017", "c.example.test:27019"]);
    eventually("the replaced record to replace its server", || {
        servers(&seen) == replaced
    });
    drop(second);
    let added = set(&[
        "a.example.test:27017",
        "c.example.test:27019",
        "d.example.test:27020",
    ]);
    eventually("the new record to add a server", || servers(&seen) == added);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.count("ServerClosed", "b.example.test:27018"), 1);
    assert_eq!(
        seen.count("PoolClosed", "b.example.test:27018"),
        1,
        "the removed server's pool is closed"
    );
    assert_eq!(seen.count("ServerOpening", "c.example.test:27019"), 1);
    assert_eq!(seen.count("ServerOpening", "a.example.test:27017"), 1);
    for event in ["ServerClosed", "PoolClosed"] {
        assert_eq!(
            seen.count(event, "a.example.test:27017"),
            0,
            "a host still listed is left alone"
        );
    }
    drop(seen);
    client.shutdown().immediate(true).run();
}

fn three_stages() -> (FakeDns, FakeDns, FakeDns) {
    (
        nameserver(&[("a", 27017), ("b", 27018)]),
        nameserver(&[("a", 27017), ("c", 27019)]),
        nameserver(&[("a", 27017), ("c", 27019), ("d", 27020)]),
    )
}

#[test]
fn changed_records_change_the_servers_on_a_thread() {
    let (first, second, third) = three_stages();
    records_change(first, second, third);
}

#[test]
fn changed_records_change_the_servers_in_a_coroutine() {
    let (first, second, third) = three_stages();
    in_coroutine(move || records_change(first, second, third));
}

/// Prose tests 4 and 5: every record replaced.
#[test]
fn all_records_replaced() {
    let first = nameserver(&[("a", 27017), ("b", 27018)]);
    let second = nameserver(&[("c", 27019)]);
    let third = nameserver(&[("c", 27019), ("d", 27020)]);
    let (client, seen) = client(
        "mongodb+srv://cluster0.example.test/?tls=false",
        resolver(&[&first, &second, &third]),
    );
    drop(first);
    eventually("both hosts replaced by one", || {
        servers(&seen) == set(&["c.example.test:27019"])
    });
    drop(second);
    eventually("then by two", || {
        servers(&seen) == set(&["c.example.test:27019", "d.example.test:27020"])
    });
    client.shutdown().immediate(true).run();
}

/// Prose test 12: with srvMaxHosts=2, the listed host stays and one of the two new ones
/// joins; then prose test 11: with as many records as srvMaxHosts, all are used.
#[test]
fn srv_max_hosts_keeps_listed_hosts_and_adds_up_to_the_limit() {
    let first = nameserver(&[("a", 27017), ("b", 27018)]);
    let second = nameserver(&[("a", 27017), ("c", 27019), ("d", 27020)]);
    let third = nameserver(&[("e", 27021), ("f", 27022)]);
    let (client, seen) = client(
        "mongodb+srv://cluster0.example.test/?tls=false&srvMaxHosts=2",
        resolver(&[&first, &second, &third]),
    );
    assert_eq!(servers(&seen).len(), 2);
    drop(first);
    eventually("b to leave", || {
        !servers(&seen).contains("b.example.test:27018")
    });
    let now = servers(&seen);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.contains("a.example.test:27017"), "{now:?}");
    assert!(
        now.contains("c.example.test:27019") || now.contains("d.example.test:27020"),
        "{now:?}"
    );
    // Later rescans of the same records keep the choice: a stays, nothing else joins.
    rescans_reach(&second, 3);
    assert_eq!(servers(&seen), now);

    drop(second);
    eventually("both new records to be used", || {
        servers(&seen) == set(&["e.example.test:27021", "f.example.test:27022"])
    });
    client.shutdown().immediate(true).run();
}

/// Prose tests 7 and 8, and targets outside the domain: nothing changes, and polling goes
/// on, so records that come back later are used.
#[test]
fn failed_lookups_keep_the_servers() {
    let first = nameserver(&[("a", 27017), ("b", 27018)]);
    let gone = FakeDns::start(&[(SRV_NAME, SRV, Reply::NxDomain)]);
    // The name exists, with no SRV record.
    let empty = FakeDns::start(&[(SRV_NAME, TXT, Reply::Records(vec![txt(&["x"])]))]);
    let elsewhere = nameserver(&[("db.example.com.", 27017), ("db.evil.test.", 27018)]);
    let back = nameserver(&[("a", 27017), ("c", 27019)]);
    let (client, seen) = client(
        "mongodb+srv://cluster0.example.test/?tls=false",
        resolver(&[&first, &gone, &empty, &elsewhere, &back]),
    );
    let initial = set(&["a.example.test:27017", "b.example.test:27018"]);
    assert_eq!(servers(&seen), initial);

    drop(first);
    rescans_reach(&gone, 3);
    assert_eq!(servers(&seen), initial, "after NXDOMAIN");
    drop(gone);
    rescans_reach(&empty, 3);
    assert_eq!(
        servers(&seen),
        initial,
        "after an answer without SRV records"
    );
    drop(empty);
    rescans_reach(&elsewhere, 3);
    assert_eq!(servers(&seen), initial, "after targets outside the domain");

    drop(elsewhere);
    eventually("polling to go on and use the records again", || {
        servers(&seen) == set(&["a.example.test:27017", "c.example.test:27019"])
    });
    assert_eq!(
        seen.lock()
            .unwrap()
            .count("ServerClosed", "a.example.test:27017"),
        0
    );
    client.shutdown().immediate(true).run();
}

/// Prose test 6: a nameserver that stops answering changes nothing either.
#[test]
fn a_lookup_timeout_keeps_the_servers() {
    let first = nameserver(&[("a", 27017)]);
    let silent = FakeDns::start(&[(SRV_NAME, SRV, Reply::Silent)]);
    let mut dns = resolver(&[&first, &silent]);
    dns.timeout = Duration::from_millis(300);
    let (client, seen) = client("mongodb+srv://cluster0.example.test/?tls=false", dns);
    drop(first);
    rescans_reach(&silent, 4); // two rescans of two attempts each
    assert_eq!(servers(&seen), set(&["a.example.test:27017"]));
    client.shutdown().immediate(true).run();
}

/// A target in the domain is used even when others in the same answer are not.
#[test]
fn targets_outside_the_domain_are_skipped() {
    let first = nameserver(&[("a", 27017)]);
    let mixed = nameserver(&[("a", 27017), ("db.evil.test.", 27018), ("c", 27019)]);
    let (client, seen) = client(
        "mongodb+srv://cluster0.example.test/?tls=false",
        resolver(&[&first, &mixed]),
    );
    drop(first);
    eventually("c to join", || {
        servers(&seen) == set(&["a.example.test:27017", "c.example.test:27019"])
    });
    rescans_reach(&mixed, 2);
    assert!(!servers(&seen).contains("db.evil.test:27018"));
    client.shutdown().immediate(true).run();
}

/// Prose test 13: the custom service name is the one polled.
#[test]
fn the_service_name_is_polled() {
    let name = "_customname._tcp.cluster0.example.test";
    let first = FakeDns::start(&[(name, SRV, Reply::Records(srv_records(&[("a", 27017)])))]);
    let second = FakeDns::start(&[(
        name,
        SRV,
        Reply::Records(srv_records(&[("c", 27019), ("d", 27020)])),
    )]);
    let (client, seen) = client(
        "mongodb+srv://cluster0.example.test/?tls=false&srvServiceName=customname",
        resolver(&[&first, &second]),
    );
    drop(first);
    eventually("the custom records to be used", || {
        servers(&seen) == set(&["c.example.test:27019", "d.example.test:27020"])
    });
    client.shutdown().immediate(true).run();
}

/// Shutting a client down, or dropping its last handle, ends polling: the nameserver is
/// asked nothing more (one lookup may have been under way).
#[test]
fn shutdown_and_drop_stop_polling() {
    for shut_down in [true, false] {
        let server = nameserver(&[("a", 27017)]);
        let (client, _seen) = client(
            "mongodb+srv://cluster0.example.test/?tls=false",
            resolver(&[&server]),
        );
        rescans_reach(&server, 2);
        // A shut-down client may still have handles; the last one is dropped only later.
        let kept = shut_down.then(|| client.clone());
        if shut_down {
            client.shutdown().immediate(true).run();
        } else {
            drop(client);
        }
        let after = server.queries().0;
        pause(INTERVAL * 10);
        assert!(
            server.queries().0 <= after + 1,
            "still polling after {}",
            if shut_down { "shutdown" } else { "drop" }
        );
        drop(kept);
    }
}

/// Prose test 9 and the spec's "only Unknown or Sharded": a load-balanced client never
/// polls, nor does one whose TXT record makes it a replica set (ReplicaSetNoPrimary from
/// the start). Once the initial lookups are done, DNS hears nothing more from them.
#[test]
fn load_balanced_and_replica_set_clients_do_not_poll() {
    for (uri, txt_record) in [
        (
            "mongodb+srv://cluster0.example.test/?tls=false&loadBalanced=true",
            None,
        ),
        (
            "mongodb+srv://cluster0.example.test/?tls=false",
            Some("replicaSet=rs0"),
        ),
    ] {
        let mut zone = vec![(SRV_NAME, SRV, Reply::Records(srv_records(&[("a", 27017)])))];
        if let Some(record) = txt_record {
            zone.push((HOST, TXT, Reply::Records(vec![txt(&[record])])));
        }
        let first = FakeDns::start(&zone);
        let more = nameserver(&[("a", 27017), ("b", 27018)]);
        let (client, seen) = client(uri, resolver(&[&first, &more]));
        let before = more.queries().0;
        drop(first);
        pause(INTERVAL * 10);
        assert_eq!(more.queries().0, before, "{uri}: polled");
        assert_eq!(servers(&seen), set(&["a.example.test:27017"]), "{uri}");
        client.shutdown().immediate(true).run();
    }
}
