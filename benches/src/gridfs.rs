//! The spec's four GridFS tasks (`source/benchmarking/benchmarking.md`), default bucket
//! (`fs`) in `perftest`, default chunk size (255 KiB) for every client:
//!
//! * **GridFS upload** (multi-doc): before each iteration drop the bucket and upload a
//!   1-byte file (so the collections and indexes exist); then upload GRIDFS_LARGE
//!   (`gridfs_large.bin`, 52,428,800 bytes, held in memory) through an upload stream:
//!   write it, close the stream.
//! * **GridFS download** (multi-doc): set-up uploads GRIDFS_LARGE as `gridfstest`; each
//!   iteration opens a download stream by its `_id` and reads it to the end in chunk-sized
//!   reads, discarding the bytes.
//! * **GridFS multi-file upload** (parallel): before each iteration drop the bucket and
//!   upload a 1-byte file; then one worker per file of GRIDFS_MULTI (`gridfs_multi/`, 50
//!   files of 5 MiB) reads it from disk and uploads it under its file name.
//! * **GridFS multi-file download** (parallel): set-up uploads the files; before each
//!   iteration the download directory is emptied; then one worker per file downloads it
//!   by `_id` into a file of its own and `fsync`s it.
//!
//! As in the other tasks, set-up and "before task" steps go through the plain-thread
//! greenmongo client; only the timed part uses the client under test, and iterations are
//! interleaved across clients. Workers of the multi-file tasks: greenmongo coroutines
//! (2 runtime workers) or OS threads, tokio tasks (2 workers) for the official async API,
//! OS threads for its sync API. File I/O is plain blocking `std::fs` for every client,
//! with chunk-sized (255 KiB) reads and writes: greenmongo's `upload_from_reader` and
//! `download_to_writer` move one chunk per call, and the official crate's streams are
//! copied with a loop over a buffer of the same size.

use std::{
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use bson::Bson;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use greenmongo::runtime::coroutine;

use crate::{
    clients::{Clients, Driver},
    data,
    spec::Plan,
    stats::{measure, median},
};

const DB: &str = "perftest";
/// The default chunk size of both drivers (255 KiB), also the copy buffer's size.
const CHUNK: usize = 255 * 1024;
const LARGE_NAME: &str = "gridfstest";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    Upload,
    Download,
    MultiUpload,
    MultiDownload,
}

impl Task {
    pub const ALL: [Task; 4] = [
        Task::Upload,
        Task::Download,
        Task::MultiUpload,
        Task::MultiDownload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Task::Upload => "GridFS upload",
            Task::Download => "GridFS download",
            Task::MultiUpload => "GridFS multi-file upload",
            Task::MultiDownload => "GridFS multi-file download",
        }
    }

    /// The parallel (multi-file) tasks.
    pub fn multi(self) -> bool {
        matches!(self, Task::MultiUpload | Task::MultiDownload)
    }
}

pub struct Row {
    pub driver: Driver,
    pub iterations: usize,
    pub median_wall: Duration,
    pub median_cpu: Duration,
    pub mb_per_s: f64,
}

pub struct TaskResult {
    pub task: Task,
    /// Files per iteration (1 for the single-file tasks).
    pub files: usize,
    pub dataset_bytes: u64,
    pub rows: Vec<Row>,
}

/// What the timed part needs: the data, and the ids of the files set-up uploaded.
#[derive(Clone)]
struct Input {
    large: Arc<Vec<u8>>,
    files: Arc<Vec<PathBuf>>,
    /// Download tasks: the `_id` of GRIDFS_LARGE, or of each file, in `files` order.
    ids: Arc<Vec<Bson>>,
    outdir: PathBuf,
}

/// The first `n` files of `gridfs_multi`.
fn multi_files(n: usize) -> Vec<PathBuf> {
    let dir = data::unpack("parallel").join("gridfs_multi");
    let mut all: Vec<_> = std::fs::read_dir(&dir)
        .expect("gridfs_multi")
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all.truncate(n);
    all
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The four tasks for every client: the single-file ones for as long as `plan` says
/// (like the other spec tasks), the multi-file ones over the first `nfiles` files of
/// `gridfs_multi` for `multi_iters` iterations (like the LDJSON tasks).
pub fn run(clients: &Clients, plan: &Plan, nfiles: usize, multi_iters: usize) -> Vec<TaskResult> {
    let large_path = data::unpack("single_and_multi_document").join("gridfs_large.bin");
    let large = Arc::new(std::fs::read(&large_path).expect("read gridfs_large.bin"));
    let files = Arc::new(multi_files(nfiles));
    let multi_bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let outdir = data::work_dir().join("gridfs-download");
    let bucket = clients.gm.database(DB).gridfs_bucket(None);
    let mut out = Vec::new();
    for task in Task::ALL {
        eprintln!("gridfs task: {}", task.name());
        // Set-up: drop perftest; the download tasks upload their files here.
        clients.gm.database(DB).drop().run().expect("drop perftest");
        let ids = match task {
            Task::Download => vec![
                bucket
                    .upload_from_reader(LARGE_NAME, &large[..])
                    .run()
                    .expect("upload gridfs_large"),
            ],
            Task::MultiDownload => files
                .iter()
                .map(|f| {
                    let src = File::open(f).expect("open gridfs_multi file");
                    bucket
                        .upload_from_reader(file_name(f), src)
                        .run()
                        .expect("upload gridfs_multi file")
                })
                .collect(),
            _ => Vec::new(),
        };
        let input = Input {
            large: large.clone(),
            files: files.clone(),
            ids: Arc::new(ids),
            outdir: outdir.clone(),
        };
        let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![Default::default(); 4];
        let mut spent = [Duration::ZERO; 4];
        let started = Instant::now();
        for iter in 0.. {
            let done = |n: usize, spent: Duration| {
                if task.multi() {
                    n >= multi_iters
                } else {
                    plan.done(n, spent)
                }
            };
            if (0..4).all(|i| done(samples[i].0.len(), spent[i])) {
                break;
            }
            for (i, &driver) in Driver::ALL.iter().enumerate() {
                if done(samples[i].0.len(), spent[i]) {
                    continue;
                }
                before_task(clients, task, &outdir);
                let (_, wall, cpu) = measure(|| do_task(clients, driver, task, &input));
                samples[i].0.push(wall);
                samples[i].1.push(cpu);
                spent[i] += wall;
            }
            eprintln!(
                "  {} iteration {} done ({:.1?} so far)",
                task.name(),
                iter + 1,
                started.elapsed()
            );
        }
        let (nf, bytes) = if task.multi() {
            (files.len(), multi_bytes)
        } else {
            (1, large.len() as u64)
        };
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
                    mb_per_s: bytes as f64 / 1e6 / median_wall.as_secs_f64(),
                }
            })
            .collect();
        out.push(TaskResult {
            task,
            files: nf,
            dataset_bytes: bytes,
            rows,
        });
    }
    // Teardown.
    clients.gm.database(DB).drop().run().expect("drop perftest");
    let _ = std::fs::remove_dir_all(&outdir);
    out
}

fn before_task(clients: &Clients, task: Task, outdir: &Path) {
    match task {
        Task::Upload | Task::MultiUpload => {
            let bucket = clients.gm.database(DB).gridfs_bucket(None);
            bucket.drop().run().expect("drop the bucket");
            bucket
                .upload_from_reader("one-byte", &b"x"[..])
                .run()
                .expect("upload the 1-byte file");
        }
        Task::MultiDownload => {
            let _ = std::fs::remove_dir_all(outdir);
            std::fs::create_dir_all(outdir).expect("create the download directory");
        }
        Task::Download => {}
    }
}

/// Reads `r` to the end in chunk-sized reads, discarding the bytes; returns how many.
fn drain(mut r: impl Read) -> u64 {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0;
    loop {
        match r.read(&mut buf).expect("read the download stream") {
            0 => return n,
            k => n += k as u64,
        }
    }
}

/// Copies `r` into `w` in chunk-sized pieces (the official sync API's upload and download).
fn copy(mut r: impl Read, mut w: impl Write) -> u64 {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0;
    loop {
        let k = r.read(&mut buf).expect("read");
        if k == 0 {
            return n;
        }
        w.write_all(&buf[..k]).expect("write");
        n += k as u64;
    }
}

fn out_path(input: &Input, i: usize) -> PathBuf {
    input.outdir.join(file_name(&input.files[i]))
}

fn sync_file(f: File) {
    f.sync_all().expect("fsync the downloaded file");
}

/// greenmongo, on a thread or in a coroutine: one file (or the large one).
fn gm_one(client: &greenmongo::Client, task: Task, input: &Input, i: usize) {
    let bucket = client.database(DB).gridfs_bucket(None);
    match task {
        Task::Upload => {
            let mut up = bucket.open_upload_stream(LARGE_NAME).run().expect("open");
            up.write_all(&input.large).expect("write");
            up.close().expect("close");
        }
        Task::Download => {
            let down = bucket
                .open_download_stream(input.ids[0].clone())
                .run()
                .expect("open");
            assert_eq!(drain(down), input.large.len() as u64);
        }
        Task::MultiUpload => {
            let path = &input.files[i];
            let src = File::open(path).expect("open the source file");
            bucket
                .upload_from_reader(file_name(path), src)
                .run()
                .expect("upload");
        }
        Task::MultiDownload => {
            let mut f = File::create(out_path(input, i)).expect("create");
            bucket
                .download_to_writer(input.ids[i].clone(), &mut f)
                .run()
                .expect("download");
            sync_file(f);
        }
    }
}

/// The official crate's sync API.
fn sync_one(client: &mongodb::sync::Client, task: Task, input: &Input, i: usize) {
    let bucket = client.database(DB).gridfs_bucket(None);
    match task {
        Task::Upload => {
            let mut up = bucket.open_upload_stream(LARGE_NAME).run().expect("open");
            up.write_all(&input.large).expect("write");
            up.close().expect("close");
        }
        Task::Download => {
            let down = bucket
                .open_download_stream(input.ids[0].clone())
                .run()
                .expect("open");
            assert_eq!(drain(down), input.large.len() as u64);
        }
        Task::MultiUpload => {
            let path = &input.files[i];
            let src = File::open(path).expect("open the source file");
            let mut up = bucket
                .open_upload_stream(file_name(path))
                .run()
                .expect("open");
            copy(src, &mut up);
            up.close().expect("close");
        }
        Task::MultiDownload => {
            let mut f = File::create(out_path(input, i)).expect("create");
            let down = bucket
                .open_download_stream(input.ids[i].clone())
                .run()
                .expect("open");
            copy(down, &mut f);
            sync_file(f);
        }
    }
}

/// The official crate's async API: its streams are `futures::io::AsyncRead`/`AsyncWrite`;
/// the files are read and written with blocking `std::fs`, as in the other clients.
async fn async_one(client: &mongodb::Client, task: Task, input: &Input, i: usize) {
    let bucket = client.database(DB).gridfs_bucket(None);
    let mut buf = vec![0u8; CHUNK];
    match task {
        Task::Upload => {
            let mut up = bucket.open_upload_stream(LARGE_NAME).await.expect("open");
            up.write_all(&input.large).await.expect("write");
            up.close().await.expect("close");
        }
        Task::Download => {
            let mut down = bucket
                .open_download_stream(input.ids[0].clone())
                .await
                .expect("open");
            let mut n = 0u64;
            loop {
                match down.read(&mut buf).await.expect("read") {
                    0 => break,
                    k => n += k as u64,
                }
            }
            assert_eq!(n, input.large.len() as u64);
        }
        Task::MultiUpload => {
            let path = &input.files[i];
            let mut src = File::open(path).expect("open the source file");
            let mut up = bucket
                .open_upload_stream(file_name(path))
                .await
                .expect("open");
            loop {
                let k = src.read(&mut buf).expect("read the source file");
                if k == 0 {
                    break;
                }
                up.write_all(&buf[..k]).await.expect("write");
            }
            up.close().await.expect("close");
        }
        Task::MultiDownload => {
            let mut f = File::create(out_path(input, i)).expect("create");
            let mut down = bucket
                .open_download_stream(input.ids[i].clone())
                .await
                .expect("open");
            loop {
                let k = down.read(&mut buf).await.expect("read");
                if k == 0 {
                    break;
                }
                f.write_all(&buf[..k]).expect("write the downloaded file");
            }
            sync_file(f);
        }
    }
}

/// The timed part: the whole task in the client's own context, one worker per file for
/// the multi-file tasks.
fn do_task(clients: &Clients, driver: Driver, task: Task, input: &Input) {
    let n = if task.multi() { input.files.len() } else { 1 };
    match driver {
        Driver::GmThread if !task.multi() => gm_one(&clients.gm, task, input, 0),
        Driver::GmThread => std::thread::scope(|s| {
            for i in 0..n {
                let client = &clients.gm;
                s.spawn(move || gm_one(client, task, input, i));
            }
        }),
        Driver::MongoSync if !task.multi() => sync_one(&clients.mongo_sync, task, input, 0),
        Driver::MongoSync => std::thread::scope(|s| {
            for i in 0..n {
                let client = &clients.mongo_sync;
                s.spawn(move || sync_one(client, task, input, i));
            }
        }),
        Driver::GmCoroutine => {
            let (client, input) = (clients.gm_co.clone(), Arc::new(input.clone()));
            clients.gm_rt.block_on(move || {
                if !task.multi() {
                    return gm_one(&client, task, &input, 0);
                }
                let handles: Vec<_> = (0..n)
                    .map(|i| {
                        let (client, input) = (client.clone(), input.clone());
                        coroutine::spawn(move || gm_one(&client, task, &input, i))
                    })
                    .collect();
                handles.into_iter().for_each(|h| h.join().unwrap());
            })
        }
        Driver::MongoAsync => {
            let (client, input) = (clients.mongo.clone(), Arc::new(input.clone()));
            clients.tokio.block_on(async move {
                if !task.multi() {
                    return async_one(&client, task, &input, 0).await;
                }
                let handles: Vec<_> = (0..n)
                    .map(|i| {
                        let (client, input) = (client.clone(), input.clone());
                        tokio::spawn(async move { async_one(&client, task, &input, i).await })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            })
        }
    }
}
