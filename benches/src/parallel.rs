//! The spec's parallel LDJSON tasks (`parallel/ldjson_multi`: 100 files of 5,000 tweets).
//!
//! * **Import**: before each iteration drop and `create` `corpus`; then one worker per file
//!   reads it from disk, parses every line (`serde_json` into a `bson::Document`, the same
//!   code for every client) and does one unordered `insert_many` of its 5,000 documents.
//! * **Export**: set-up imports the files once, giving the documents integer `_id`s
//!   (`file * 5,000 + line`) so each worker can ask for its own range; then one worker per
//!   output file runs `find({_id: {$gte, $lt}})`, writes each document as a JSON line and
//!   `fsync`s the file. Output goes to `export/` in [`data::work_dir`].
//!
//! Workers: greenmongo coroutines (2 runtime workers), tokio tasks (2 workers) for the
//! official async API, OS threads for greenmongo-on-threads and the official sync API.
//! File I/O is plain blocking `std::fs` in every case (a coroutine or tokio task blocks
//! its worker while the kernel copies from the page cache), so the clients do the same work.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bson::{Document, doc};
use greenmongo::runtime::coroutine;

use crate::{
    clients::{Clients, Driver},
    data,
    stats::{measure, median},
};

const DB: &str = "perftest";
const COLL: &str = "corpus";
const LINES_PER_FILE: i64 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    Import,
    Export,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Import => "LDJSON multi-file import",
            Task::Export => "LDJSON multi-file export",
        }
    }
}

pub struct Row {
    pub driver: Driver,
    pub median_wall: Duration,
    pub median_cpu: Duration,
    pub mb_per_s: f64,
}

pub struct TaskResult {
    pub task: Task,
    pub files: usize,
    pub dataset_bytes: u64,
    pub iterations: usize,
    pub rows: Vec<Row>,
}

/// The first `n` files of `ldjson_multi`.
fn files(n: usize) -> Vec<PathBuf> {
    let dir = data::unpack("parallel").join("ldjson_multi");
    let mut all: Vec<_> = std::fs::read_dir(&dir)
        .expect("ldjson_multi")
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all.truncate(n);
    all
}

fn parse(path: &Path, first_id: Option<i64>) -> Vec<Document> {
    let text = std::fs::read_to_string(path).expect("read ldjson file");
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let mut d: Document = serde_json::from_str(line).expect("ldjson line");
            if let Some(base) = first_id {
                d.insert("_id", base + i as i64);
            }
            d
        })
        .collect()
}

/// Both tasks for every client, `iters` interleaved iterations each.
pub fn run(clients: &Clients, nfiles: usize, iters: usize) -> Vec<TaskResult> {
    let files = Arc::new(files(nfiles));
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let mut out = Vec::new();
    for task in [Task::Import, Task::Export] {
        let db = clients.gm.database(DB);
        db.drop().run().expect("drop perftest");
        if task == Task::Export {
            // Set-up: import once, with integer _ids.
            let handles: Vec<_> = files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let (client, f) = (clients.gm.clone(), f.clone());
                    std::thread::spawn(move || {
                        let docs = parse(&f, Some(i as i64 * LINES_PER_FILE));
                        client
                            .database(DB)
                            .collection::<Document>(COLL)
                            .insert_many(docs)
                            .with_options(unordered())
                            .run()
                            .expect("seed corpus");
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
        }
        let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![Default::default(); 4];
        for iter in 0..iters {
            for (i, &driver) in Driver::ALL.iter().enumerate() {
                let outdir = data::work_dir().join("export");
                match task {
                    Task::Import => {
                        db.collection::<Document>(COLL)
                            .drop()
                            .run()
                            .expect("drop corpus");
                        db.create_collection(COLL).run().expect("create corpus");
                    }
                    Task::Export => {
                        let _ = std::fs::remove_dir_all(&outdir);
                        std::fs::create_dir_all(&outdir).expect("create export dir");
                    }
                }
                let (_, wall, cpu) = measure(|| do_task(clients, driver, task, &files, &outdir));
                samples[i].0.push(wall);
                samples[i].1.push(cpu);
            }
            eprintln!("  {} iteration {} done", task.name(), iter + 1);
        }
        let rows = Driver::ALL
            .iter()
            .zip(samples)
            .map(|(&driver, (walls, cpus))| {
                let median_wall = median(walls);
                Row {
                    driver,
                    median_wall,
                    median_cpu: median(cpus),
                    mb_per_s: bytes as f64 / 1e6 / median_wall.as_secs_f64(),
                }
            })
            .collect();
        out.push(TaskResult {
            task,
            files: files.len(),
            dataset_bytes: bytes,
            iterations: iters,
            rows,
        });
    }
    clients.gm.database(DB).drop().run().expect("drop perftest");
    let _ = std::fs::remove_dir_all(data::work_dir().join("export"));
    out
}

fn unordered() -> greenmongo::options::InsertManyOptions {
    greenmongo::options::InsertManyOptions {
        ordered: Some(false),
        ..Default::default()
    }
}

fn export_range(i: usize) -> Document {
    let lo = i as i64 * LINES_PER_FILE;
    doc! { "_id": { "$gte": lo, "$lt": lo + LINES_PER_FILE } }
}

fn out_file(outdir: &Path, i: usize) -> BufWriter<std::fs::File> {
    let f = std::fs::File::create(outdir.join(format!("ldjson{i:03}.txt"))).expect("create");
    BufWriter::with_capacity(256 * 1024, f)
}

fn write_line(w: &mut BufWriter<std::fs::File>, d: &Document) {
    serde_json::to_writer(&mut *w, d).expect("write json");
    w.write_all(b"\n").expect("write newline");
}

fn finish(w: BufWriter<std::fs::File>, n: usize) {
    assert_eq!(n as i64, LINES_PER_FILE, "export got a short range");
    let f = w.into_inner().expect("flush export file");
    f.sync_all().expect("fsync export file");
}

fn gm_file(client: &greenmongo::Client, task: Task, i: usize, f: &Path, outdir: &Path) {
    let coll = client.database(DB).collection::<Document>(COLL);
    match task {
        Task::Import => {
            coll.insert_many(parse(f, None))
                .with_options(unordered())
                .run()
                .expect("insert_many");
        }
        Task::Export => {
            let mut w = out_file(outdir, i);
            let mut n = 0;
            for d in coll.find(export_range(i)).run().expect("find") {
                write_line(&mut w, &d.expect("cursor"));
                n += 1;
            }
            finish(w, n);
        }
    }
}

fn sync_file(client: &mongodb::sync::Client, task: Task, i: usize, f: &Path, outdir: &Path) {
    let coll = client.database(DB).collection::<Document>(COLL);
    match task {
        Task::Import => {
            coll.insert_many(parse(f, None))
                .ordered(false)
                .run()
                .expect("insert_many");
        }
        Task::Export => {
            let mut w = out_file(outdir, i);
            let mut n = 0;
            for d in coll.find(export_range(i)).run().expect("find") {
                write_line(&mut w, &d.expect("cursor"));
                n += 1;
            }
            finish(w, n);
        }
    }
}

async fn async_file(client: &mongodb::Client, task: Task, i: usize, f: &Path, outdir: &Path) {
    let coll = client.database(DB).collection::<Document>(COLL);
    match task {
        Task::Import => {
            coll.insert_many(parse(f, None))
                .ordered(false)
                .await
                .expect("insert_many");
        }
        Task::Export => {
            let mut w = out_file(outdir, i);
            let mut n = 0;
            let mut cursor = coll.find(export_range(i)).await.expect("find");
            while cursor.advance().await.expect("cursor") {
                let d: Document = cursor.deserialize_current().expect("deserialize");
                write_line(&mut w, &d);
                n += 1;
            }
            finish(w, n);
        }
    }
}

fn do_task(
    clients: &Clients,
    driver: Driver,
    task: Task,
    files: &Arc<Vec<PathBuf>>,
    outdir: &Path,
) {
    let n = files.len();
    match driver {
        Driver::GmCoroutine => {
            let (client, files, outdir) =
                (clients.gm_co.clone(), files.clone(), outdir.to_path_buf());
            clients.gm_rt.block_on(move || {
                let handles: Vec<_> = (0..n)
                    .map(|i| {
                        let (client, files, outdir) =
                            (client.clone(), files.clone(), outdir.clone());
                        coroutine::spawn(move || gm_file(&client, task, i, &files[i], &outdir))
                    })
                    .collect();
                handles.into_iter().for_each(|h| h.join().unwrap());
            })
        }
        Driver::GmThread => std::thread::scope(|s| {
            for (i, f) in files.iter().enumerate() {
                let client = &clients.gm;
                s.spawn(move || gm_file(client, task, i, f, outdir));
            }
        }),
        Driver::MongoSync => std::thread::scope(|s| {
            for (i, f) in files.iter().enumerate() {
                let client = &clients.mongo_sync;
                s.spawn(move || sync_file(client, task, i, f, outdir));
            }
        }),
        Driver::MongoAsync => {
            let (client, files, outdir) =
                (clients.mongo.clone(), files.clone(), outdir.to_path_buf());
            clients.tokio.block_on(async move {
                let handles: Vec<_> = (0..n)
                    .map(|i| {
                        let (client, files, outdir) =
                            (client.clone(), files.clone(), outdir.clone());
                        tokio::spawn(async move {
                            async_file(&client, task, i, &files[i], &outdir).await
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            })
        }
    }
}
