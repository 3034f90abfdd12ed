//! Issue 15, item 1: a coroutine per in-flight operation, at 100,000, the way a Go service
//! runs a goroutine per request. 100,000 coroutines on a two-worker runtime each start one
//! driver operation (a `find_one` or an `insert_one`) through one client whose pool is
//! capped at 100 connections, so 99,900 of them wait in the pool's queue at the start; every
//! operation must complete without an error and with the expected result, the pool must
//! never have created more than its 100 connections, and no coroutine may outlive the run.
//!
//! The peer is the fake wire-protocol server of the benchmarks (`benches/src/fakepeer.rs`,
//! on threads of this process), not a real server: what is measured is the driver and the
//! runtime at 100,000 coroutines. A start gate (a `WaitGroup`) holds every coroutine until
//! all 100,000 exist, so the operations really are in flight together. One summary line
//! (operations, elapsed time, connections created, peak RSS) goes to stderr.

#[allow(dead_code)] // the child-process half (`FakePeer`, `serve`) is the bench binary's
#[path = "../benches/src/fakepeer.rs"]
mod fakepeer;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bson::{Bson, Document, doc};
use greenmongo::{
    Client, ClientOptions, Collection,
    event::EventHandler,
    pool::CmapEvent,
    runtime::{Runtime, coroutine, sync::WaitGroup},
};

const OPS: usize = 100_000;
const MAX_POOL_SIZE: usize = 100;

/// Operation `i`: a `find_one` (even `i`), answered with the peer's canned document, or an
/// `insert_one` (odd `i`) of `{_id: i}`. `Err` describes what went wrong.
fn operation(coll: &Collection<Document>, i: usize, canned: &Document) -> Result<(), String> {
    if i.is_multiple_of(2) {
        match coll.find_one(doc! { "_id": i as i64 }).run() {
            Ok(Some(found)) if found == *canned => Ok(()),
            other => Err(format!("find_one {i}: {other:?}")),
        }
    } else {
        match coll.insert_one(doc! { "_id": i as i64 }).run() {
            Ok(result) if result.inserted_id == Bson::Int64(i as i64) => Ok(()),
            other => Err(format!("insert_one {i}: {other:?}")),
        }
    }
}

/// The process's peak resident set size (`VmHWM`), as `/proc/self/status` prints it.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown".into())
}

#[test]
fn a_hundred_thousand_coroutines_each_with_an_operation_in_flight() {
    let canned = doc! { "_id": "canned", "name": "greenmongo", "n": 15 };
    let port = fakepeer::start_in_process(&canned);
    // No waitQueueTimeoutMS or timeoutMS: in a debug build on a loaded machine the last of
    // 100,000 waiters can queue for many seconds, and that is the point, not a failure.
    let options = ClientOptions::parse(&format!(
        "mongodb://127.0.0.1:{port}/?directConnection=true&maxPoolSize={MAX_POOL_SIZE}"
    ))
    .expect("the URI parses");
    let created = Arc::new(AtomicUsize::new(0));
    let counter = created.clone();
    // Created off the runtime, so its monitor is a thread, not a coroutine the count below
    // would include.
    let client = Client::with_cmap_event_handler(
        options,
        EventHandler::new(move |e: &CmapEvent| {
            if let CmapEvent::ConnectionCreated { .. } = e {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }),
    )
    .expect("client");
    let coll = client.database("perftest").collection::<Document>("corpus");
    let rt = Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("runtime");

    let started = Instant::now();
    let canned_reply = canned.clone();
    let (ok, errors) = rt.block_on(move || {
        let gate = WaitGroup::new();
        gate.add(OPS);
        let handles: Vec<_> = (0..OPS)
            .map(|i| {
                let (coll, gate, canned) = (coll.clone(), gate.clone(), canned_reply.clone());
                coroutine::spawn(move || {
                    gate.done();
                    gate.wait().expect("the start gate opens");
                    operation(&coll, i, &canned)
                })
            })
            .collect();
        let mut ok = 0;
        let mut errors = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(Ok(())) => ok += 1,
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(format!("join: {e}")),
            }
        }
        (ok, errors)
    });
    let elapsed = started.elapsed();
    let created = created.load(Ordering::Relaxed);
    eprintln!(
        "{OPS} operations in {elapsed:.2?} over {created} connections (maxPoolSize \
         {MAX_POOL_SIZE}), peak RSS {}",
        peak_rss()
    );

    assert!(
        errors.is_empty(),
        "{} of {OPS} operations failed, the first: {}",
        errors.len(),
        errors[0]
    );
    assert_eq!(ok, OPS);
    assert!(
        (1..=MAX_POOL_SIZE).contains(&created),
        "{created} connections created, maxPoolSize {MAX_POOL_SIZE}"
    );
    // A coroutine's count drops as its worker reaps it, which can trail the join a little.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.metrics().coroutines() != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rt.metrics().coroutines(), 0, "{}", rt.dump_string());
}
