//! The connection pool against the real test server (`MONGODB_URI`): many coroutines on
//! few connections, waitQueueTimeoutMS, and connections interrupted mid-command (by a
//! deadline, or by a runtime shutdown) being closed rather than reused.
//!
//! The slow commands come from a `failCommand` fail point with `blockConnection`,
//! scoped to the test client's appName; fail point tests take a lock, since the server
//! has one `failCommand` setting.

mod util {
    pub mod server;
}

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bson::{Bson, doc};
use greenmongo::{
    Client, ClientOptions, ErrorKind,
    options::ServerAddress,
    pool::{CmapEvent, ConnectionClosedReason},
    runtime::{Runtime, coroutine, time::with_timeout},
};
use util::server::{self, FailPoint};

/// Options for the test server with a unique appName, or `None` (the test skips).
fn options(prefix: &str) -> Option<ClientOptions> {
    let uri = server::uri()?;
    let mut options = ClientOptions::parse(&uri).expect("MONGODB_URI parses");
    options.app_name = Some(server::unique(prefix));
    Some(options)
}

fn address(options: &ClientOptions) -> ServerAddress {
    options.hosts[0].clone()
}

fn ping(client: &Client) -> greenmongo::Result<bson::Document> {
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
}

fn closed(events: &Mutex<Vec<CmapEvent>>) -> Vec<(u64, ConnectionClosedReason)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CmapEvent::ConnectionClosed {
                connection_id,
                reason,
                ..
            } => Some((*connection_id, *reason)),
            _ => None,
        })
        .collect()
}

fn created(events: &Mutex<Vec<CmapEvent>>) -> usize {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, CmapEvent::ConnectionCreated { .. }))
        .count()
}

/// Polls `f` for up to ten seconds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ten_thousand_coroutines_ping_through_fifty_connections() {
    let Some(mut options) = options("pool_10k") else {
        return;
    };
    options.max_pool_size = Some(50);
    let address = address(&options);
    let live = Arc::new(AtomicI64::new(0));
    let peak = Arc::new(AtomicI64::new(0));
    let (l, p) = (live.clone(), peak.clone());
    let client = Client::with_cmap_event_handler(
        options,
        greenmongo::event::EventHandler::new(move |e: &CmapEvent| match e {
            CmapEvent::ConnectionCreated { .. } => {
                p.fetch_max(l.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            }
            CmapEvent::ConnectionClosed { .. } => {
                l.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        }),
    )
    .unwrap();
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let c = client.clone();
    let started = Instant::now();
    let (ok, errors) = rt.block_on(move || {
        let handles: Vec<_> = (0..10_000)
            .map(|_| {
                let c = c.clone();
                coroutine::spawn(move || ping(&c))
            })
            .collect();
        let mut ok = 0;
        let mut errors = Vec::new();
        for h in handles {
            match h.join().unwrap() {
                Ok(reply) if reply.get("ok").and_then(Bson::as_f64) == Some(1.0) => ok += 1,
                Ok(reply) => errors.push(format!("not ok: {reply}")),
                Err(e) => errors.push(e.to_string()),
            }
        }
        (ok, errors)
    });
    println!(
        "10,000 pings in {:?} over at most {} connections",
        started.elapsed(),
        peak.load(Ordering::SeqCst)
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {}",
        errors.len(),
        errors[0]
    );
    assert_eq!(ok, 10_000);
    assert!(
        peak.load(Ordering::SeqCst) <= 50,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    let counts = client.pool_counts(&address).unwrap();
    assert_eq!(
        (counts.checked_out, counts.waiting, counts.pending),
        (0, 0, 0)
    );
    assert!(
        counts.total <= 50 && counts.total == counts.available,
        "{counts:?}"
    );
}

#[test]
fn a_waiter_gets_a_wait_queue_timeout_naming_the_option() {
    let Some(mut options) = options("pool_wqt") else {
        return;
    };
    options.max_pool_size = Some(1);
    options.wait_queue_timeout = Some(Duration::from_millis(100));
    let address = address(&options);
    let app_name = options.app_name.clone().unwrap();
    let client = Client::with_options(options).unwrap();
    ping(&client).unwrap(); // the one connection exists and is available
    let _fail_point = FailPoint::block(&app_name, &["ping"], 1_000, doc! { "times": 1 });

    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let c = client.clone();
    let holder = rt.spawn(move || ping(&c)); // holds the only connection for ~1 s
    eventually("the holder has the connection", || {
        client.pool_counts(&address).unwrap().checked_out == 1
    });
    let c = client.clone();
    let (waited, err) = rt.block_on(move || {
        let started = Instant::now();
        let err = ping(&c).unwrap_err();
        (started.elapsed(), err)
    });
    assert!(
        matches!(*err.kind, ErrorKind::WaitQueueTimeout { .. }),
        "expected a WaitQueueTimeout, got {err}"
    );
    assert!(err.to_string().contains("waitQueueTimeoutMS=100"), "{err}");
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(900),
        "waited {waited:?}"
    );
    holder.join().unwrap().unwrap(); // the holder itself was not disturbed
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 0);
}

#[test]
fn a_connection_interrupted_by_a_deadline_mid_command_is_closed_not_reused() {
    let Some(mut options) = options("pool_deadline") else {
        return;
    };
    options.max_pool_size = Some(1);
    let address = address(&options);
    let app_name = options.app_name.clone().unwrap();
    let (client, events) = server::recording_client(options);
    ping(&client).unwrap();
    assert_eq!(created(&events), 1);
    let _fail_point = FailPoint::block(&app_name, &["ping"], 1_000, doc! { "times": 1 });

    let err = with_timeout(Duration::from_millis(100), || ping(&client)).unwrap_err();
    // A timeout naming the caller's deadline, the interrupted read as its source.
    match &*err.kind {
        ErrorKind::Timeout {
            source: Some(source),
            ..
        } => assert!(source.is_network_timeout(), "{err}"),
        _ => panic!("expected a timeout error from the interrupted read, got {err}"),
    }
    // The reply never read: the connection is out of step with the server.
    assert_eq!(closed(&events), [(1, ConnectionClosedReason::Error)]);
    assert_eq!(client.pool_counts(&address).unwrap().total, 0);

    ping(&client).unwrap(); // the fail point fired once; this one runs on a new connection
    assert_eq!(created(&events), 2);
    let checked_out: Vec<u64> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CmapEvent::ConnectionCheckedOut { connection_id, .. } => Some(*connection_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        checked_out,
        [1, 1, 2],
        "connection 1 was never handed out again"
    );
}

#[test]
fn a_connection_whose_coroutine_is_dropped_mid_command_is_closed() {
    let Some(mut options) = options("pool_dropped") else {
        return;
    };
    options.max_pool_size = Some(1);
    let address = address(&options);
    let app_name = options.app_name.clone().unwrap();
    let (client, events) = server::recording_client(options);
    ping(&client).unwrap();
    let _fail_point = FailPoint::block(&app_name, &["ping"], 2_000, doc! { "times": 1 });

    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let c = client.clone();
    let pinged = Arc::new(AtomicUsize::new(0));
    let p = pinged.clone();
    rt.spawn(move || {
        ping(&c).unwrap();
        p.fetch_add(1, Ordering::SeqCst); // never reached: the runtime goes first
    });
    eventually("the coroutine waits for its reply", || {
        client.pool_counts(&address).unwrap().checked_out == 1
    });
    drop(rt); // unwinds the coroutine parked in the middle of the command
    assert_eq!(pinged.load(Ordering::SeqCst), 0);
    assert_eq!(closed(&events), [(1, ConnectionClosedReason::Error)]);
    let counts = client.pool_counts(&address).unwrap();
    assert_eq!((counts.total, counts.checked_out), (0, 0));
    drop(_fail_point); // off, so the next ping is not blocked
    ping(&client).unwrap();
    assert_eq!(created(&events), 2);
}

#[test]
fn concurrent_operations_use_about_as_many_sessions_as_connections() {
    // The sessions spec: an implicit session is taken only once a connection is checked
    // out, so operations queued for a connection hold none and the server sessions stay
    // near the number of connections (before: 9,994 of 10,000 find_one used their own).
    let Some(mut options) = options("pool_sessions") else {
        return;
    };
    const POOL: u32 = 10;
    options.max_pool_size = Some(POOL);
    let lsids = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let sink = lsids.clone();
    options.command_event_handler = Some(greenmongo::event::EventHandler::new(
        move |e: &greenmongo::event::CommandEvent| {
            if let greenmongo::event::CommandEvent::Started(started) = e
                && let Ok(lsid) = started.command.get_document("lsid")
            {
                sink.lock().unwrap().insert(lsid.to_string());
            }
        },
    ));
    let client = Client::with_options(options).unwrap();
    let items = client
        .database(&server::unique("pool_sessions"))
        .collection::<bson::Document>("c");
    items.insert_one(doc! { "_id": 1 }).run().unwrap();
    lsids.lock().unwrap().clear();
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let coll = items.clone();
    let errors: Vec<String> = rt.block_on(move || {
        let handles: Vec<_> = (0..2_000)
            .map(|_| {
                let coll = coll.clone();
                coroutine::spawn(move || coll.find_one(doc! { "_id": 1 }).run())
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join().unwrap() {
                Ok(Some(_)) => None,
                Ok(None) => Some("not found".to_string()),
                Err(e) => Some(e.to_string()),
            })
            .collect()
    });
    assert!(
        errors.is_empty(),
        "{} errors: {:?}",
        errors.len(),
        &errors[..1]
    );
    let distinct = lsids.lock().unwrap().len();
    println!("2,000 concurrent find_one through {POOL} connections used {distinct} sessions");
    // A session goes back to its pool just after its connection does, so a few more than
    // the connections may be in use at once; never one per operation.
    assert!(
        distinct <= 2 * POOL as usize,
        "{distinct} distinct lsids for {POOL} connections"
    );
    items.drop().run().unwrap();
}
