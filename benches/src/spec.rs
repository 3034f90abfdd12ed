//! The single- and multi-document tasks of the MongoDB driver benchmarking spec
//! (github.com/mongodb/specifications, `source/benchmarking/benchmarking.md`).
//!
//! Set-up and "before task" steps (drop `perftest`, create `corpus`, seed documents) go
//! through the plain-thread greenmongo client for every driver; only the timed "do task"
//! uses the driver under test. Iterations are interleaved: iteration *i* of every driver
//! runs before iteration *i + 1* of any, so drift in the server hits all four alike.

use std::time::{Duration, Instant};

use bson::{Document, doc};

use crate::{
    clients::{Clients, Driver},
    data::Datasets,
    stats::{measure, median},
};

const DB: &str = "perftest";
const COLL: &str = "corpus";

/// The spec's tasks.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    RunCommand,
    FindOneById,
    InsertOneSmall,
    InsertOneLarge,
    FindManyEmptyCursor,
    BulkInsertSmall,
    BulkInsertLarge,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::RunCommand,
        Kind::FindOneById,
        Kind::InsertOneSmall,
        Kind::InsertOneLarge,
        Kind::FindManyEmptyCursor,
        Kind::BulkInsertSmall,
        Kind::BulkInsertLarge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::RunCommand => "Run command (hello)",
            Kind::FindOneById => "Find one by _id",
            Kind::InsertOneSmall => "Small doc insertOne",
            Kind::InsertOneLarge => "Large doc insertOne",
            Kind::FindManyEmptyCursor => "Find many, empty the cursor",
            Kind::BulkInsertSmall => "Small doc bulk insert",
            Kind::BulkInsertLarge => "Large doc bulk insert",
        }
    }

    /// Operations (or documents) per iteration in the spec: 10 for the large document.
    fn spec_ops(self) -> usize {
        match self {
            Kind::InsertOneLarge | Kind::BulkInsertLarge => 10,
            _ => 10_000,
        }
    }
}

/// How long to measure: the spec's rule, or a quick one.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Divide the spec's operations per iteration by this (1 = the spec).
    pub ops_divisor: usize,
    /// Iterations per driver: at least `min_iters`, then until `min_time` has been spent
    /// on that driver, at most `max_iters` or `max_time`.
    pub min_iters: usize,
    pub max_iters: usize,
    pub min_time: Duration,
    pub max_time: Duration,
}

impl Plan {
    /// The spec: at least 1 minute, stop at 100 iterations or 5 minutes.
    pub const SPEC: Plan = Plan {
        ops_divisor: 1,
        min_iters: 1,
        max_iters: 100,
        min_time: Duration::from_secs(60),
        max_time: Duration::from_secs(300),
    };
    /// `--quick`: a tenth of the operations per iteration (large-doc tasks keep 10), 5 iterations.
    pub const QUICK: Plan = Plan {
        ops_divisor: 10,
        min_iters: 5,
        max_iters: 5,
        min_time: Duration::ZERO,
        max_time: Duration::from_secs(60),
    };

    /// Whether a driver with `n` iterations taking `spent` in all has had enough.
    pub fn done(&self, n: usize, spent: Duration) -> bool {
        n >= self.max_iters
            || spent >= self.max_time
            || (n >= self.min_iters && spent >= self.min_time)
    }

    fn ops(&self, kind: Kind) -> usize {
        let n = kind.spec_ops();
        if n <= 10 { n } else { n / self.ops_divisor }
    }
}

/// One task's result for one driver.
pub struct Row {
    pub driver: Driver,
    pub iterations: usize,
    pub median_wall: Duration,
    pub median_cpu: Duration,
    /// The spec's score: dataset MB / median seconds.
    pub mb_per_s: f64,
}

/// One task's results for all drivers.
pub struct TaskResult {
    pub kind: Kind,
    pub ops: usize,
    pub dataset_bytes: u64,
    pub rows: Vec<Row>,
}

/// Size of the BSON `{hello: true}` command the spec scores Run command by (13 bytes).
fn hello_bytes() -> u64 {
    bson::serialize_to_vec(&doc! { "hello": true })
        .unwrap()
        .len() as u64
}

/// Runs `kind` for every driver, interleaved.
pub fn run(clients: &Clients, data: &Datasets, kind: Kind, plan: &Plan) -> TaskResult {
    let ops = plan.ops(kind);
    let per_op = match kind {
        Kind::RunCommand => hello_bytes(),
        Kind::FindOneById | Kind::FindManyEmptyCursor => data.tweet.file_bytes,
        Kind::InsertOneSmall | Kind::BulkInsertSmall => data.small.file_bytes,
        Kind::InsertOneLarge | Kind::BulkInsertLarge => data.large.file_bytes,
    };
    let doc = match kind {
        Kind::RunCommand => Document::new(),
        Kind::FindOneById | Kind::FindManyEmptyCursor => data.tweet.doc.clone(),
        Kind::InsertOneSmall | Kind::BulkInsertSmall => data.small.doc.clone(),
        Kind::InsertOneLarge | Kind::BulkInsertLarge => data.large.doc.clone(),
    };
    setup(clients, kind, &doc, ops);

    let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![Default::default(); 4];
    let mut spent = [Duration::ZERO; 4];
    let started = Instant::now();
    for iter in 0.. {
        let done = |samples: &[(Vec<Duration>, Vec<Duration>)], spent: &[Duration], i: usize| {
            plan.done(samples[i].0.len(), spent[i])
        };
        if (0..4).all(|i| done(&samples, &spent, i)) {
            break;
        }
        for (i, &driver) in Driver::ALL.iter().enumerate() {
            if done(&samples, &spent, i) {
                continue;
            }
            before_task(clients, kind);
            let (_, wall, cpu) = measure(|| do_task(clients, driver, kind, &doc, ops));
            samples[i].0.push(wall);
            samples[i].1.push(cpu);
            spent[i] += wall;
        }
        eprintln!(
            "  {} iteration {} done ({:.1?} so far)",
            kind.name(),
            iter + 1,
            started.elapsed()
        );
    }
    teardown(clients);

    let dataset_bytes = per_op * ops as u64;
    let rows = Driver::ALL
        .iter()
        .zip(samples)
        .map(|(&driver, (walls, cpus))| {
            let iterations = walls.len();
            let median_wall = median(walls);
            Row {
                driver,
                iterations,
                median_wall,
                median_cpu: median(cpus),
                mb_per_s: dataset_bytes as f64 / 1e6 / median_wall.as_secs_f64(),
            }
        })
        .collect();
    TaskResult {
        kind,
        ops,
        dataset_bytes,
        rows,
    }
}

/// `--profile`: `plan.max_iters` iterations of one task for one driver, nothing else
/// timed or printed but each iteration's wall and CPU time (on stderr).
pub fn profile(clients: &Clients, data: &Datasets, kind: Kind, driver: Driver, plan: &Plan) {
    let ops = plan.ops(kind);
    let doc = match kind {
        Kind::RunCommand => Document::new(),
        Kind::FindOneById | Kind::FindManyEmptyCursor => data.tweet.doc.clone(),
        Kind::InsertOneSmall | Kind::BulkInsertSmall => data.small.doc.clone(),
        Kind::InsertOneLarge | Kind::BulkInsertLarge => data.large.doc.clone(),
    };
    setup(clients, kind, &doc, ops);
    for i in 0..plan.max_iters {
        before_task(clients, kind);
        let (_, wall, cpu) = measure(|| do_task(clients, driver, kind, &doc, ops));
        eprintln!(
            "  iteration {}: wall {wall:.1?}, process CPU {cpu:.1?}",
            i + 1
        );
    }
    teardown(clients);
}

fn setup(clients: &Clients, kind: Kind, doc: &Document, ops: usize) {
    let db = clients.gm.database(DB);
    db.drop().run().expect("drop perftest");
    let coll = db.collection::<Document>(COLL);
    match kind {
        Kind::FindOneById => {
            let docs = (1..=ops as i32).map(|id| {
                let mut d = doc.clone();
                d.insert("_id", id);
                d
            });
            coll.insert_many(docs).run().expect("seed corpus");
        }
        Kind::FindManyEmptyCursor => {
            coll.insert_many(std::iter::repeat_n(doc, ops))
                .run()
                .expect("seed corpus");
        }
        _ => {}
    }
}

fn before_task(clients: &Clients, kind: Kind) {
    if let Kind::InsertOneSmall
    | Kind::InsertOneLarge
    | Kind::BulkInsertSmall
    | Kind::BulkInsertLarge = kind
    {
        let db = clients.gm.database(DB);
        db.collection::<Document>(COLL)
            .drop()
            .run()
            .expect("drop corpus");
        db.create_collection(COLL).run().expect("create corpus");
    }
}

fn teardown(clients: &Clients) {
    clients.gm.database(DB).drop().run().expect("drop perftest");
}

/// The timed part. Each driver runs the whole loop in its own context (a coroutine, a
/// tokio `block_on`), so no per-operation hand-off is timed.
fn do_task(clients: &Clients, driver: Driver, kind: Kind, doc: &Document, ops: usize) {
    match driver {
        Driver::GmThread => gm_task(&clients.gm, kind, doc, ops),
        Driver::GmCoroutine => {
            let (client, doc) = (clients.gm_co.clone(), doc.clone());
            clients
                .gm_rt
                .block_on(move || gm_task(&client, kind, &doc, ops))
        }
        Driver::MongoAsync => {
            clients
                .tokio
                .block_on(mongo_async_task(&clients.mongo, kind, doc, ops))
        }
        Driver::MongoSync => mongo_sync_task(&clients.mongo_sync, kind, doc, ops),
    }
}

/// greenmongo: the same code on a thread or in a coroutine.
fn gm_task(client: &greenmongo::Client, kind: Kind, doc: &Document, ops: usize) {
    let coll = client.database(DB).collection::<Document>(COLL);
    match kind {
        Kind::RunCommand => {
            let admin = client.database("admin");
            for _ in 0..ops {
                admin.run_command(doc! { "hello": true }).run().unwrap();
            }
        }
        Kind::FindOneById => {
            for id in 1..=ops as i32 {
                coll.find_one(doc! { "_id": id }).run().unwrap().unwrap();
            }
        }
        Kind::InsertOneSmall | Kind::InsertOneLarge => {
            for _ in 0..ops {
                coll.insert_one(doc).run().unwrap();
            }
        }
        Kind::FindManyEmptyCursor => {
            let n = coll
                .find(doc! {})
                .run()
                .unwrap()
                .map(Result::unwrap)
                .count();
            assert_eq!(n, ops);
        }
        Kind::BulkInsertSmall | Kind::BulkInsertLarge => {
            coll.insert_many(std::iter::repeat_n(doc, ops))
                .run()
                .unwrap();
        }
    }
}

/// The official crate's async API.
async fn mongo_async_task(client: &mongodb::Client, kind: Kind, doc: &Document, ops: usize) {
    let coll = client.database(DB).collection::<Document>(COLL);
    match kind {
        Kind::RunCommand => {
            let admin = client.database("admin");
            for _ in 0..ops {
                admin.run_command(doc! { "hello": true }).await.unwrap();
            }
        }
        Kind::FindOneById => {
            for id in 1..=ops as i32 {
                coll.find_one(doc! { "_id": id }).await.unwrap().unwrap();
            }
        }
        Kind::InsertOneSmall | Kind::InsertOneLarge => {
            for _ in 0..ops {
                coll.insert_one(doc).await.unwrap();
            }
        }
        Kind::FindManyEmptyCursor => {
            let mut cursor = coll.find(doc! {}).await.unwrap();
            let mut n = 0;
            while cursor.advance().await.unwrap() {
                let _: Document = cursor.deserialize_current().unwrap();
                n += 1;
            }
            assert_eq!(n, ops);
        }
        Kind::BulkInsertSmall | Kind::BulkInsertLarge => {
            coll.insert_many(std::iter::repeat_n(doc, ops))
                .await
                .unwrap();
        }
    }
}

/// The official crate's sync API.
fn mongo_sync_task(client: &mongodb::sync::Client, kind: Kind, doc: &Document, ops: usize) {
    let coll = client.database(DB).collection::<Document>(COLL);
    match kind {
        Kind::RunCommand => {
            let admin = client.database("admin");
            for _ in 0..ops {
                admin.run_command(doc! { "hello": true }).run().unwrap();
            }
        }
        Kind::FindOneById => {
            for id in 1..=ops as i32 {
                coll.find_one(doc! { "_id": id }).run().unwrap().unwrap();
            }
        }
        Kind::InsertOneSmall | Kind::InsertOneLarge => {
            for _ in 0..ops {
                coll.insert_one(doc).run().unwrap();
            }
        }
        Kind::FindManyEmptyCursor => {
            let n = coll
                .find(doc! {})
                .run()
                .unwrap()
                .map(Result::unwrap)
                .count();
            assert_eq!(n, ops);
        }
        Kind::BulkInsertSmall | Kind::BulkInsertLarge => {
            coll.insert_many(std::iter::repeat_n(doc, ops))
                .run()
                .unwrap();
        }
    }
}
