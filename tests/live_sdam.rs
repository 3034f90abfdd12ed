//! Topology against real servers: discovery from a seed, and a server killed (SIGKILL)
//! and restarted under 1,000 coroutines of durable retryable writes (its pool cleared,
//! operations failing clearly, then recovering without a new client, and not one
//! acknowledged write lost). Monitoring modes: streaming monitors await the server's
//! reports (awaited heartbeats, an RTT task, a killed server seen at once), polling ones
//! never await.

mod util {
    pub mod own_server;
    pub mod server;
}

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bson::doc;
use greenmongo::{
    Client, ErrorKind,
    options::ServerAddress,
    runtime::{Runtime, sleep},
    sdam::{ServerType, TopologyType},
};
use util::{own_server::OwnServer, server};

#[test]
fn a_seed_is_discovered_as_a_replica_set_primary() {
    let Some(uri) = server::uri() else { return };
    // The same server, seeded without directConnection: SDAM finds the replica set.
    let seed = uri.split('?').next().unwrap().to_owned();
    let client = Client::with_uri_str(format!("{seed}?serverSelectionTimeoutMS=10000")).unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    let topology = client.topology_description();
    assert_eq!(
        topology.topology_type(),
        TopologyType::ReplicaSetWithPrimary,
        "{topology:?}"
    );
    let primary = topology.primary().expect("a primary");
    assert_eq!(primary.server_type, ServerType::RsPrimary);
    assert!(topology.set_name().is_some());
    // directConnection=true keeps it Single.
    let direct = Client::with_uri_str(&uri).unwrap();
    direct
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    assert_eq!(
        direct.topology_description().topology_type(),
        TopologyType::Single
    );
}

#[test]
fn sdam_events_are_published_and_shutdown_stops_the_client() {
    use greenmongo::{ClientOptions, event::EventHandler, sdam::SdamEvent};
    let Some(uri) = server::uri() else { return };
    let names = Arc::new(Mutex::new(Vec::new()));
    let sink = names.clone();
    let mut options = ClientOptions::parse(&uri).unwrap();
    options.sdam_event_handler = Some(EventHandler::new(move |e: &SdamEvent| {
        sink.lock().unwrap().push(e.name());
    }));
    let client = Client::with_options(options).unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    client.clone().shutdown().run();
    let started = Instant::now();
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "fails at once after shutdown"
    );
    assert!(err.to_string().contains("shut down"), "{err}");
    let names = names.lock().unwrap().clone();
    assert_eq!(names.first(), Some(&"TopologyOpening"), "{names:?}");
    assert!(names.contains(&"ServerOpening"), "{names:?}");
    assert!(
        names.contains(&"ServerDescriptionChanged"),
        "the monitor's first check: {names:?}"
    );
    assert_eq!(names.last(), Some(&"TopologyClosed"), "{names:?}");
    // The monitor's first check, as heartbeat events: started, then succeeded.
    let started = names.iter().position(|n| *n == "ServerHeartbeatStarted");
    let succeeded = names.iter().position(|n| *n == "ServerHeartbeatSucceeded");
    assert!(
        matches!((started, succeeded), (Some(a), Some(b)) if a < b),
        "{names:?}"
    );
}

#[test]
fn a_failed_check_is_a_heartbeat_failed_event() {
    use greenmongo::{ClientOptions, event::EventHandler, sdam::SdamEvent};
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sink = failures.clone();
    let mut options = ClientOptions::parse(&format!(
        "mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=300"
    ))
    .unwrap();
    options.sdam_event_handler = Some(EventHandler::new(move |e: &SdamEvent| {
        if let SdamEvent::ServerHeartbeatFailed {
            address, failure, ..
        } = e
        {
            sink.lock()
                .unwrap()
                .push((address.clone(), failure.clone()));
        }
    }));
    let client = Client::with_options(options).unwrap();
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::ServerSelection { .. }),
        "{err:?}"
    );
    // The monitor keeps checking; on a loaded machine its first check may come late.
    assert!(
        within(Duration::from_secs(10), || !failures
            .lock()
            .unwrap()
            .is_empty()),
        "a heartbeat failed"
    );
    let failures = failures.lock().unwrap().clone();
    let (address, failure) = &failures[0];
    assert_eq!(address, &ServerAddress::tcp("127.0.0.1", port));
    assert!(failure.contains("refused"), "{failure}");
}

/// What became of one insert the load tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The server acknowledged it (`j: true`: on disk before the reply).
    Acknowledged,
    /// Reported as a duplicate key on its own `_id`: see the test's comment.
    DuplicateKey,
    /// Any other error (network, server selection, pool cleared).
    Failed,
}

#[test]
fn a_server_killed_and_restarted_under_load_loses_no_acknowledged_write() {
    // Only against our own SecantusDB: this test kills and restarts the server.
    if std::env::var("MONGODB_URI").is_ok_and(|u| !u.contains("127.0.0.1")) {
        eprintln!("skipped: MONGODB_URI is not a local test server");
        return;
    }
    const WORKERS: usize = 1000;
    let name = format!("sdam-restart-{}", std::process::id());
    let Some(first) = OwnServer::start(&name, None) else {
        return;
    };
    let port = first.port;
    // Durable retryable writes. SecantusDB fsyncs its journal before replying only for
    // `j: true` (or when started with --sync-on-commit); `w: "majority"` alone is no more
    // durable than `w: 1`, whose writes a SIGKILL can lose (scripts/SECANTUSDB.md).
    let uri = format!(
        "mongodb://127.0.0.1:{port}/?directConnection=true&w=majority&journal=true\
         &retryWrites=true&serverSelectionTimeoutMS=2000&heartbeatFrequencyMS=500"
    );
    let client = Client::with_uri_str(&uri).unwrap();
    let address = ServerAddress::tcp("127.0.0.1", port);
    let coll = client
        .database("sdam_restart")
        .collection::<bson::Document>("load");
    coll.insert_one(doc! { "warm": true }).run().unwrap();

    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    // Each worker's outcomes, in the order of its `n`.
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (coll, running, ok, failures) =
                (coll.clone(), running.clone(), ok.clone(), failures.clone());
            rt.spawn(move || {
                let mut outcomes = Vec::new();
                while running.load(Ordering::Relaxed) {
                    let n = outcomes.len() as i64;
                    let worker = i as i64;
                    let outcome = match coll.insert_one(doc! { "worker": worker, "n": n }).run() {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            Outcome::Acknowledged
                        }
                        Err(e) => {
                            let outcome = if e.code() == Some(11000) {
                                Outcome::DuplicateKey
                            } else {
                                Outcome::Failed
                            };
                            failures.lock().unwrap().push(e);
                            outcome
                        }
                    };
                    outcomes.push(outcome);
                    let _ = sleep(Duration::from_millis(5));
                }
                outcomes
            })
        })
        .collect();

    // Load runs; then the server crashes. (Bounded waits, not fixed sleeps: CI is noisy.)
    assert!(
        within(Duration::from_secs(30), || ok.load(Ordering::Relaxed)
            >= WORKERS),
        "the load ran before the crash"
    );
    first.kill();
    assert!(
        within(Duration::from_secs(30), || !failures
            .lock()
            .unwrap()
            .is_empty()),
        "operations fail while the server is down"
    );

    // Back on the same port, with the same data: the same client recovers.
    let second = OwnServer::start(&name, Some(port)).expect("restart on the same port");
    let ok_at_restart = ok.load(Ordering::Relaxed);
    let recovered = within(Duration::from_secs(60), || {
        ok.load(Ordering::Relaxed) >= ok_at_restart + WORKERS
    });
    running.store(false, Ordering::Relaxed);
    let outcomes: Vec<Vec<Outcome>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(recovered, "operations succeed again after the restart");

    // Every failure was a clear network, server-selection or duplicate-key error, never
    // a hang or panic.
    for e in failures.lock().unwrap().iter() {
        let clear = e.is_network_error()
            || matches!(
                *e.kind,
                ErrorKind::ServerSelection { .. } | ErrorKind::PoolCleared { .. }
            )
            || e.code() == Some(11000);
        assert!(clear, "unexpected kind of failure: {e:?}");
        assert!(!e.to_string().is_empty());
    }
    // The pool was cleared (its generation moved on) and nothing is left checked out.
    let counts = client.pool_counts(&address).expect("the server is known");
    assert_eq!(counts.checked_out, 0, "{counts:?}");

    // What the server holds, by (worker, n).
    let mut copies = std::collections::HashMap::<(i64, i64), usize>::new();
    for stored in coll
        .find(doc! { "worker": { "$exists": true } })
        .run()
        .unwrap()
    {
        let stored = stored.unwrap();
        let key = (
            stored.get_i64("worker").unwrap(),
            stored.get_i64("n").unwrap(),
        );
        *copies.entry(key).or_default() += 1;
    }
    let (mut acknowledged, mut duplicate_key, mut failed, mut landed_unacknowledged) = (0, 0, 0, 0);
    for (worker, outcomes) in outcomes.iter().enumerate() {
        for (n, outcome) in outcomes.iter().enumerate() {
            let stored = copies.get(&(worker as i64, n as i64)).copied().unwrap_or(0);
            match outcome {
                // No tolerance: `j: true` acknowledged it, so the crash cannot lose it.
                Outcome::Acknowledged => {
                    acknowledged += 1;
                    assert_eq!(stored, 1, "acknowledged insert {worker}/{n} is stored once");
                }
                // Duplicates, counted apart. The first attempt of such an insert reached
                // the disk, the crash took its reply, and the driver retried it (same
                // `_id`, same txnNumber) against the restarted server. mongod would
                // recognise the retry from its durable transaction table and answer
                // `n: 1`; SecantusDB keeps that table in memory only, so it runs the
                // insert again and reports the driver's own `_id` as a duplicate key.
                // The document is there, exactly once.
                Outcome::DuplicateKey => {
                    duplicate_key += 1;
                    assert_eq!(
                        stored, 1,
                        "insert {worker}/{n}, a duplicate key, is stored once"
                    );
                }
                // Not acknowledged: it may or may not have reached the disk, never twice.
                Outcome::Failed => {
                    failed += 1;
                    landed_unacknowledged += stored;
                    assert!(
                        stored <= 1,
                        "failed insert {worker}/{n} stored {stored} times"
                    );
                }
            }
        }
    }
    // Nothing is stored that the load did not try.
    let tried: usize = outcomes.iter().map(Vec::len).sum();
    assert!(
        copies
            .keys()
            .all(|&(w, n)| (w as usize) < WORKERS && (n as usize) < outcomes[w as usize].len()),
        "every stored document is an insert the load tried ({tried})"
    );
    assert_eq!(acknowledged, ok.load(Ordering::Relaxed));
    assert_eq!(
        copies.values().sum::<usize>(),
        acknowledged + duplicate_key + landed_unacknowledged
    );
    eprintln!(
        "{tried} inserts: {acknowledged} acknowledged (all stored), {duplicate_key} duplicate-key \
         retries (stored once), {failed} failed ({landed_unacknowledged} of them stored)"
    );
    drop(second);
}

/// Polls `f` until it holds or `limit` passes; tells which.
fn within(limit: Duration, f: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Heartbeat events as `(name, awaited)`, in order.
type Heartbeats = Arc<Mutex<Vec<(&'static str, bool)>>>;

/// A client of `uri` + `query`, and the heartbeat events it publishes.
fn heartbeats(uri: &str, query: &str) -> (Client, Heartbeats) {
    use greenmongo::{ClientOptions, event::EventHandler, sdam::SdamEvent};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut options = ClientOptions::parse(&format!("{uri}&{query}")).unwrap();
    options.sdam_event_handler = Some(EventHandler::new(move |e: &SdamEvent| {
        let awaited = match e {
            SdamEvent::ServerHeartbeatStarted { awaited, .. }
            | SdamEvent::ServerHeartbeatSucceeded { awaited, .. }
            | SdamEvent::ServerHeartbeatFailed { awaited, .. } => *awaited,
            _ => return,
        };
        sink.lock().unwrap().push((e.name(), awaited));
    }));
    (Client::with_options(options).unwrap(), seen)
}

fn count(events: &Mutex<Vec<(&'static str, bool)>>, name: &str, awaited: bool) -> usize {
    let events = events.lock().unwrap();
    events.iter().filter(|e| **e == (name, awaited)).count()
}

#[test]
fn stream_mode_awaits_the_server_and_samples_rtt_on_the_side() {
    let Some(uri) = server::uri() else { return };
    let (client, events) = heartbeats(&uri, "serverMonitoringMode=stream&heartbeatFrequencyMS=500");
    assert!(
        within(Duration::from_secs(30), || count(
            &events,
            "ServerHeartbeatSucceeded",
            true
        ) >= 3),
        "three awaited replies: {:?}",
        events.lock().unwrap()
    );
    {
        let events = events.lock().unwrap();
        // The handshake is the first check, not awaited; every later one waits for the
        // server's report (a healthy server: no failure, no fallback to polling).
        assert_eq!(
            events[..2],
            [
                ("ServerHeartbeatStarted", false),
                ("ServerHeartbeatSucceeded", false)
            ],
            "{events:?}"
        );
        assert!(
            events[2..].iter().all(|(_, awaited)| *awaited),
            "{events:?}"
        );
    }
    // The server holds each reply up to maxAwaitTimeMS (500 ms) while nothing changes:
    // a monitor that did not wait would count hundreds in this time.
    let before = count(&events, "ServerHeartbeatSucceeded", true);
    std::thread::sleep(Duration::from_millis(1500));
    let during = count(&events, "ServerHeartbeatSucceeded", true) - before;
    assert!(during <= 10, "{during} awaited replies in 1.5 s");
    // Awaited replies are no RTT samples; the handshake is one, so a minimum (which
    // needs two) comes from the RTT task's own hellos.
    let address = ServerAddress::parse(uri.split('/').nth(2).unwrap()).unwrap();
    assert!(
        within(Duration::from_secs(30), || client
            .topology_description()
            .server(&address)
            .and_then(|s| s.min_rtt)
            .is_some_and(|rtt| rtt > Duration::ZERO)),
        "the RTT task's samples: {:?}",
        client.topology_description().server(&address)
    );
    client.shutdown().run();
}

#[test]
fn poll_mode_never_awaits() {
    let Some(uri) = server::uri() else { return };
    let (client, events) = heartbeats(&uri, "serverMonitoringMode=poll&heartbeatFrequencyMS=500");
    assert!(
        within(Duration::from_secs(30), || count(
            &events,
            "ServerHeartbeatSucceeded",
            false
        ) >= 3),
        "three checks: {:?}",
        events.lock().unwrap()
    );
    let events = events.lock().unwrap().clone();
    assert!(events.iter().all(|(_, awaited)| !awaited), "{events:?}");
    client.shutdown().run();
}

#[test]
fn a_streaming_monitor_sees_a_killed_server_at_once() {
    use greenmongo::{ClientOptions, event::EventHandler, sdam::SdamEvent};
    if std::env::var("MONGODB_URI").is_ok_and(|u| !u.contains("127.0.0.1")) {
        eprintln!("skipped: MONGODB_URI is not a local test server");
        return;
    }
    let name = format!("sdam-stream-{}", std::process::id());
    let Some(server) = OwnServer::start(&name, None) else {
        return;
    };
    let unknown = Arc::new(AtomicBool::new(false));
    let flag = unknown.clone();
    // Default heartbeatFrequencyMS (10 s): a polling monitor would take up to that long.
    let mut options = ClientOptions::parse(&format!(
        "mongodb://127.0.0.1:{}/?directConnection=true&serverMonitoringMode=stream",
        server.port
    ))
    .unwrap();
    options.sdam_event_handler = Some(EventHandler::new(move |e: &SdamEvent| {
        if let SdamEvent::ServerDescriptionChanged { new, .. } = e
            && new.server_type == ServerType::Unknown
        {
            flag.store(true, Ordering::SeqCst);
        }
    }));
    let client = Client::with_options(options).unwrap();
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500)); // the stream is set up
    assert!(!unknown.load(Ordering::SeqCst));
    let killed = Instant::now();
    server.kill();
    // The streaming read ends with the connection; no application traffic is needed.
    assert!(
        within(Duration::from_secs(5), || unknown.load(Ordering::SeqCst)),
        "still not Unknown {:?} after the kill",
        killed.elapsed()
    );
    client.shutdown().run();
}

#[test]
fn shutdown_ends_a_streaming_monitor_blocked_on_the_server() {
    ending_a_client_closes_its_connections_at_once("stop", |client| client.shutdown().run());
}

/// Dropping the last handle of a client ends it as shutdown does: its pools, monitors and
/// RTT tasks close their connections at once, not when a blocked awaitable `hello` next
/// returns (a monitor once held the client alive for that long, so a test suite creating
/// clients faster than that ran the server out of connections).
#[test]
fn dropping_a_client_ends_its_streaming_monitor_at_once() {
    ending_a_client_closes_its_connections_at_once("drop", drop);
}

fn ending_a_client_closes_its_connections_at_once(what: &str, end: impl FnOnce(Client)) {
    if std::env::var("MONGODB_URI").is_ok_and(|u| !u.contains("127.0.0.1")) {
        eprintln!("skipped: MONGODB_URI is not a local test server");
        return;
    }
    // A server of its own: the test counts the connections the server has open.
    let name = format!("sdam-stream-{what}-{}", std::process::id());
    let Some(server) = OwnServer::start(&name, None) else {
        return;
    };
    let uri = format!("mongodb://127.0.0.1:{}/?directConnection=true", server.port);
    let observer = Client::with_uri_str(format!("{uri}&serverMonitoringMode=poll")).unwrap();
    let open = || {
        let status = observer
            .database("admin")
            .run_command(doc! { "serverStatus": 1 })
            .run()
            .unwrap();
        status
            .get_document("connections")
            .unwrap()
            .get_i32("current")
            .unwrap()
    };
    let baseline = open(); // the observer's monitor and pooled connection
    // A reply at most every 30 s: a monitor that waited for it would take that long.
    let (client, events) = heartbeats(
        &uri,
        "serverMonitoringMode=stream&heartbeatFrequencyMS=30000",
    );
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    // Monitor (streaming), RTT task, and the ping's pooled connection.
    assert!(
        within(Duration::from_secs(10), || open() == baseline + 3
            && count(&events, "ServerHeartbeatStarted", true) == 1),
        "{} connections open over the baseline {baseline}; {:?}",
        open(),
        events.lock().unwrap()
    );
    let stopped = Instant::now();
    end(client);
    assert!(
        within(Duration::from_secs(3), || open() == baseline),
        "{} connections still open {:?} after {what} (baseline {baseline})",
        open(),
        stopped.elapsed()
    );
}
