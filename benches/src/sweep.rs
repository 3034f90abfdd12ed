//! Concurrency sweep: `find_one` by `_id` and `insert_one` of SMALL_DOC from N concurrent
//! workers, each looping until a deadline. Workers are greenmongo coroutines, tokio tasks
//! (official async API), or OS threads (greenmongo, and the official sync API).
//! Reported: ops/s, p50 and p99 latency of single operations, and client CPU time per
//! operation (`getrusage(RUSAGE_SELF)` around the measured phase, all threads).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bson::{Document, doc};
use greenmongo::runtime::coroutine;

use crate::{clients::Clients, stats::percentile};

const DB: &str = "perftest_sweep";
const FIND_COLL: &str = "tweets";
const INSERT_COLL: &str = "inserts";
/// Documents seeded for `find_one` (`_id` 1..=SEEDED).
const SEEDED: i32 = 10_000;
/// OS threads stop here: more is not a sensible way to run a client.
pub const MAX_THREADS: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    FindOne,
    InsertOne,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::FindOne => "find_one by _id",
            Op::InsertOne => "insert_one (small doc)",
        }
    }
}

/// Who the N concurrent workers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    GmCoroutines,
    TokioTasks,
    GmThreads,
    MongoSyncThreads,
}

impl Mode {
    pub const ALL: [Mode; 4] = [
        Mode::GmCoroutines,
        Mode::TokioTasks,
        Mode::GmThreads,
        Mode::MongoSyncThreads,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Mode::GmCoroutines => "greenmongo, coroutines",
            Mode::TokioTasks => "mongodb async, tokio tasks",
            Mode::GmThreads => "greenmongo, OS threads",
            Mode::MongoSyncThreads => "mongodb sync, OS threads",
        }
    }

    fn is_threads(self) -> bool {
        matches!(self, Mode::GmThreads | Mode::MongoSyncThreads)
    }
}

/// One measurement.
pub struct Point {
    pub op: Op,
    pub mode: Mode,
    pub workers: usize,
    pub ops: usize,
    pub ops_per_s: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub cpu_per_op: Duration,
}

/// Seeds the `find_one` collection and empties the insert one.
pub fn setup(clients: &Clients, small: &Document, tweet: &Document) -> Arc<Document> {
    let db = clients.gm.database(DB);
    db.drop().run().expect("drop sweep db");
    let docs = (1..=SEEDED).map(|id| {
        let mut d = tweet.clone();
        d.insert("_id", id);
        d
    });
    db.collection::<Document>(FIND_COLL)
        .insert_many(docs)
        .run()
        .expect("seed tweets");
    Arc::new(small.clone())
}

pub fn teardown(clients: &Clients) {
    clients.gm.database(DB).drop().run().expect("drop sweep db");
}

/// Runs `op` with `workers` concurrent workers of `mode` for `secs`, after a warm-up of a
/// quarter of that (which fills the connection pool). Operations in flight at the deadline
/// finish and count, and so does the time they take: at 10,000 workers on a slow server
/// that tail is most of the measured time. `None` when the mode does not go
/// that high (threads past [`MAX_THREADS`]).
pub fn measure(
    clients: &Clients,
    small: &Arc<Document>,
    op: Op,
    mode: Mode,
    workers: usize,
    secs: f64,
) -> Option<Point> {
    if mode.is_threads() && workers > MAX_THREADS {
        return None;
    }
    // The server slows as a collection grows: every insert cell starts from empty.
    let empty = || {
        if op == Op::InsertOne {
            let db = clients.gm.database(DB);
            db.collection::<Document>(INSERT_COLL)
                .drop()
                .run()
                .expect("drop inserts");
        }
    };
    empty();
    run_once(clients, small, op, mode, workers, secs / 4.0);
    empty();
    let cpu0 = crate::stats::cpu_time();
    let start = Instant::now();
    let lat_lists = run_once(clients, small, op, mode, workers, secs);
    let wall = start.elapsed();
    let cpu = crate::stats::cpu_time().saturating_sub(cpu0);
    let mut lat: Vec<u64> = lat_lists.into_iter().flatten().collect();
    lat.sort_unstable();
    let ops = lat.len();
    assert!(ops > 0, "no operation finished in {secs} s");
    Some(Point {
        op,
        mode,
        workers,
        ops,
        ops_per_s: ops as f64 / wall.as_secs_f64(),
        p50: Duration::from_nanos(percentile(&lat, 50.0)),
        p99: Duration::from_nanos(percentile(&lat, 99.0)),
        cpu_per_op: cpu / ops as u32,
    })
}

/// Per-operation latencies (ns) of each worker.
fn run_once(
    clients: &Clients,
    small: &Arc<Document>,
    op: Op,
    mode: Mode,
    workers: usize,
    secs: f64,
) -> Vec<Vec<u64>> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    match mode {
        Mode::GmCoroutines => {
            let client = clients.gm_co.clone();
            let small = small.clone();
            clients.gm_rt.block_on(move || {
                let handles: Vec<_> = (0..workers)
                    .map(|w| {
                        let (client, small) = (client.clone(), small.clone());
                        coroutine::spawn(move || gm_worker(&client, &small, op, w, deadline))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            })
        }
        Mode::GmThreads => threads(workers, |w| {
            let (client, small) = (clients.gm.clone(), small.clone());
            move || gm_worker(&client, &small, op, w, deadline)
        }),
        Mode::MongoSyncThreads => threads(workers, |w| {
            let (client, small) = (clients.mongo_sync.clone(), small.clone());
            move || mongo_sync_worker(&client, &small, op, w, deadline)
        }),
        Mode::TokioTasks => {
            let client = clients.mongo.clone();
            let small = small.clone();
            clients.tokio.block_on(async move {
                let handles: Vec<_> = (0..workers)
                    .map(|w| {
                        let (client, small) = (client.clone(), small.clone());
                        tokio::spawn(async move {
                            mongo_async_worker(&client, &small, op, w, deadline).await
                        })
                    })
                    .collect();
                let mut out = Vec::with_capacity(workers);
                for h in handles {
                    out.push(h.await.unwrap());
                }
                out
            })
        }
    }
}

fn threads<F, W>(workers: usize, make: W) -> Vec<Vec<u64>>
where
    W: Fn(usize) -> F,
    F: FnOnce() -> Vec<u64> + Send + 'static,
{
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            std::thread::Builder::new()
                .stack_size(512 * 1024)
                .spawn(make(w))
                .expect("spawn thread")
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The `_id` worker `w` looks up on its `k`-th operation: spread over the seeded range.
fn id_for(w: usize, k: usize) -> i32 {
    ((w * 7919 + k) % SEEDED as usize) as i32 + 1
}

/// Loops `op` until `deadline`, timing each call.
macro_rules! worker_loop {
    ($deadline:expr, |$k:ident| $body:expr) => {{
        let mut lat = Vec::new();
        let mut $k = 0usize;
        while Instant::now() < $deadline {
            let t = Instant::now();
            $body;
            lat.push(t.elapsed().as_nanos() as u64);
            $k += 1;
        }
        lat
    }};
}

fn gm_worker(
    client: &greenmongo::Client,
    small: &Document,
    op: Op,
    w: usize,
    deadline: Instant,
) -> Vec<u64> {
    let db = client.database(DB);
    match op {
        Op::FindOne => {
            let coll = db.collection::<Document>(FIND_COLL);
            worker_loop!(deadline, |k| coll
                .find_one(doc! { "_id": id_for(w, k) })
                .run()
                .unwrap()
                .unwrap())
        }
        Op::InsertOne => {
            let coll = db.collection::<Document>(INSERT_COLL);
            worker_loop!(deadline, |_k| coll.insert_one(small).run().unwrap())
        }
    }
}

fn mongo_sync_worker(
    client: &mongodb::sync::Client,
    small: &Document,
    op: Op,
    w: usize,
    deadline: Instant,
) -> Vec<u64> {
    let db = client.database(DB);
    match op {
        Op::FindOne => {
            let coll = db.collection::<Document>(FIND_COLL);
            worker_loop!(deadline, |k| coll
                .find_one(doc! { "_id": id_for(w, k) })
                .run()
                .unwrap()
                .unwrap())
        }
        Op::InsertOne => {
            let coll = db.collection::<Document>(INSERT_COLL);
            worker_loop!(deadline, |_k| coll.insert_one(small).run().unwrap())
        }
    }
}

async fn mongo_async_worker(
    client: &mongodb::Client,
    small: &Document,
    op: Op,
    w: usize,
    deadline: Instant,
) -> Vec<u64> {
    let db = client.database(DB);
    match op {
        Op::FindOne => {
            let coll = db.collection::<Document>(FIND_COLL);
            worker_loop!(deadline, |k| coll
                .find_one(doc! { "_id": id_for(w, k) })
                .await
                .unwrap()
                .unwrap())
        }
        Op::InsertOne => {
            let coll = db.collection::<Document>(INSERT_COLL);
            worker_loop!(deadline, |_k| coll.insert_one(small).await.unwrap())
        }
    }
}
