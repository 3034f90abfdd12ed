//! Soak: thousands of coroutines doing mixed CRUD against a server for minutes, watching
//! this process's resident memory and open file descriptors. It fails when either has
//! grown by more than 5% over its value at the end of the first minute, or when any
//! operation fails or returns a wrong result.
//!
//! ```sh
//! scripts/soak                                   # 10 minutes, 10,000 coroutines, own SecantusDB
//! scripts/soak --minutes 1 --interval 5 --baseline 20
//! MONGODB_URI=mongodb://... cargo run --release --example soak -- --minutes 10
//! ```
//!
//! Each coroutine loops: insert a document of its own, find it, `$inc` it, iterate a
//! cursor over 10 seeded documents in batches of 5 (a `find` and a `getMore`), delete its
//! document. The collection therefore stays at the seeded 1,000 documents plus at most
//! one per coroutine, and every query goes by `_id`, so the server's work per operation
//! does not grow over the run. The pool (`maxPoolSize`, default 100) is far smaller than
//! the number of coroutines: nearly all of them wait in its queue at any moment, and the
//! throughput is the server's (the Python SecantusDB does about 1,300 inserts/s), which
//! the printed client CPU share shows, with the commands' mean round trip (send to
//! reply, the pool's queue left out): the server's share of the time.
//!
//! Retryable writes are off unless `--retry-writes`: SecantusDB 0.7.0b3 gets slower with
//! every retryable write it has seen (pymongo, 100 threads of insert/update/delete on a
//! fresh server: 585 writes/s in the first 15 s, 42 after a minute; with
//! `retryWrites=false`, 1,150–1,650 writes/s throughout), so with them on, a soak
//! measures the server's decline (round trips from 0.1 s to 1.1 s within three minutes)
//! rather than the client.
//!
//! Every `--interval` seconds (default 30) it prints a line: elapsed time, RSS (`VmRSS`
//! of `/proc/self/status`), open fds (entries of `/proc/self/fd`), operations done and
//! their rate, errors, client CPU (`/proc/self/stat`), the pool's counts, commands per
//! second and their mean round trip and, given `--server-pid`, the server's RSS. The sample at `--baseline` seconds (default 60) is
//! the reference; each later sample is compared with it.
//!
//! Options: `--minutes M` (default 10, fractions allowed), `--coroutines N` (10000),
//! `--pool N` (100), `--workers N` (2), `--interval S` (30), `--baseline S` (60),
//! `--tolerance PCT` (5), `--server-pid PID`, `--retry-writes`, and `--inject-leak`, a
//! self-test that leaks 1 MiB of memory and one file descriptor per second, so that the
//! run must fail.
//!
//! At the end the runtime is dropped with every coroutine still in an operation or in the
//! pool's queue; the pool must then have nothing checked out or queued.
//!
//! Exit status: 0 passed; 1 RSS or fds grew past the tolerance; 2 an operation failed, or
//! the pool was not clean after the drop; 3 bad arguments or no server.

use std::{
    collections::BTreeMap,
    fs,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use bson::{Document, doc};
use greenmongo::{
    Client, ClientOptions, Collection,
    event::{CommandEvent, EventHandler},
    options::ServerAddress,
    runtime::Runtime,
};

/// Documents of the seeded collection the cursors read.
const SEEDED: i64 = 1_000;
/// Documents per cursor iteration (its `limit`), and its batch size.
const CURSOR_DOCS: i64 = 10;
const CURSOR_BATCH: u32 = 5;

struct Args {
    minutes: f64,
    coroutines: u64,
    pool: u32,
    workers: usize,
    interval: Duration,
    baseline: Duration,
    tolerance: f64,
    server_pid: Option<u32>,
    inject_leak: bool,
    retry_writes: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        minutes: 10.0,
        coroutines: 10_000,
        pool: 100,
        workers: 2,
        interval: Duration::from_secs(30),
        baseline: Duration::from_secs(60),
        tolerance: 5.0,
        server_pid: None,
        inject_leak: false,
        retry_writes: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--inject-leak" {
            args.inject_leak = true;
            continue;
        }
        if flag == "--retry-writes" {
            args.retry_writes = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--minutes" => args.minutes = value.parse().map_err(|e| bad(&e))?,
            "--coroutines" => args.coroutines = value.parse().map_err(|e| bad(&e))?,
            "--pool" => args.pool = value.parse().map_err(|e| bad(&e))?,
            "--workers" => args.workers = value.parse().map_err(|e| bad(&e))?,
            "--interval" => {
                args.interval = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            "--baseline" => {
                args.baseline = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            "--tolerance" => args.tolerance = value.parse().map_err(|e| bad(&e))?,
            "--server-pid" => args.server_pid = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if args.interval.is_zero() || args.minutes <= 0.0 || args.coroutines == 0 {
        return Err("--minutes, --interval and --coroutines must be positive".to_owned());
    }
    Ok(args)
}

/// What the coroutines did.
#[derive(Default)]
struct Stats {
    stop: AtomicBool,
    ops: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Commands answered, and their round trips (send to reply, without the wait for a
    /// connection) in nanoseconds: the server's share of the time.
    commands: AtomicU64,
    round_trip_nanos: AtomicU64,
    /// Per command name: how many, and their total round trip.
    by_command: Mutex<BTreeMap<String, (u64, Duration)>>,
}

impl Stats {
    fn command_done(&self, name: &str, took: Duration) {
        self.commands.fetch_add(1, Ordering::Relaxed);
        self.round_trip_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        let mut by = self.by_command.lock().unwrap();
        let entry = by.entry(name.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += took;
    }
}

impl Stats {
    /// Runs one operation, counting it as done or failed.
    fn step(&self, what: &str, op: impl FnOnce() -> Result<(), String>) {
        match op() {
            Ok(()) => {
                self.ops.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap();
                if first.is_none() {
                    *first = Some(format!("{what}: {e}"));
                }
            }
        }
    }
}

/// Reads `CURSOR_DOCS` seeded documents from a random `_id` through a cursor in batches of
/// `CURSOR_BATCH` (a `find` and a `getMore`), checking each one.
fn iterate_cursor(seeded: &Collection<Document>, rng: &mut u64) -> Result<(), String> {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let from = (*rng % (SEEDED - CURSOR_DOCS) as u64) as i64;
    let cursor = seeded
        // `$in`, not a range: SecantusDB serves a range on `_id` by a scan.
        .find(doc! { "_id": { "$in": (from..from + CURSOR_DOCS).collect::<Vec<_>>() } })
        .sort(doc! { "_id": 1 })
        .limit(CURSOR_DOCS)
        .batch_size(CURSOR_BATCH)
        .run()
        .map_err(|e| e.to_string())?;
    let mut expected = from;
    for doc in cursor {
        let doc = doc.map_err(|e| e.to_string())?;
        if doc.get_i64("_id").ok() != Some(expected) {
            return Err(format!(
                "cursor from {from}: {doc} where {expected} was due"
            ));
        }
        expected += 1;
    }
    if expected == from + CURSOR_DOCS {
        Ok(())
    } else {
        Err(format!("cursor from {from}: {} documents", expected - from))
    }
}

/// One coroutine's loop, until the stop flag or its runtime's drop.
///
/// All coroutines start at once and the pool's queue is first come, first served, so
/// they would move in step (ten thousand inserts, then ten thousand finds, ...): each
/// first iterates `id % 5` cursors, which mixes the kinds of operation in flight.
fn churn(id: u64, items: Collection<Document>, seeded: Collection<Document>, stats: &Stats) {
    let mut rng = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let pad = "x".repeat(64);
    for _ in 0..id % 5 {
        stats.step("cursor", || iterate_cursor(&seeded, &mut rng));
    }
    let mut seq = 0u64;
    while !stats.stop.load(Ordering::Relaxed) {
        let key = format!("{id}-{seq}");
        stats.step("insert", || {
            items
                .insert_one(doc! { "_id": &key, "c": id as i64, "n": 0, "pad": &pad })
                .run()
                .map(drop)
                .map_err(|e| e.to_string())
        });
        stats.step("find", || {
            match items.find_one(doc! { "_id": &key }).run() {
                Ok(Some(found)) if found.get_str("_id").ok() == Some(key.as_str()) => Ok(()),
                Ok(other) => Err(format!("wrong result for {key}: {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        });
        stats.step("update", || {
            match items
                .update_one(doc! { "_id": &key }, doc! { "$inc": { "n": 1 } })
                .run()
            {
                Ok(r) if r.matched_count == 1 => Ok(()),
                Ok(r) => Err(format!("{key} not matched: {r:?}")),
                Err(e) => Err(e.to_string()),
            }
        });
        stats.step("cursor", || iterate_cursor(&seeded, &mut rng));
        stats.step("delete", || {
            match items.delete_one(doc! { "_id": &key }).run() {
                Ok(r) if r.deleted_count == 1 => Ok(()),
                Ok(r) => Err(format!("{key} not deleted: {r:?}")),
                Err(e) => Err(e.to_string()),
            }
        });
        seq += 1;
    }
}

/// One reading of the process.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: u64,
    ops: u64,
    errors: u64,
    cpu: Duration,
    commands: u64,
    round_trip_nanos: u64,
}

fn rss_kib(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn open_fds() -> u64 {
    fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// User + system CPU time of the whole process (`/proc/self/stat`, in USER_HZ = 100
/// ticks a second, as on every Linux the project runs on).
fn cpu_time() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command name: state is field 3, utime 14, stime 15.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn growth(now: u64, base: u64) -> f64 {
    (now as f64 - base as f64) / base.max(1) as f64 * 100.0
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(3);
        }
    };
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!("soak: set MONGODB_URI (scripts/soak starts a server and sets it)");
        std::process::exit(3);
    };
    std::process::exit(run(&args, &uri));
}

fn run(args: &Args, uri: &str) -> i32 {
    let mut options = ClientOptions::parse(uri).expect("MONGODB_URI parses");
    options.max_pool_size = Some(args.pool);
    options.app_name = Some("greenmongo-soak".to_owned());
    options.retry_writes = Some(args.retry_writes);
    let stats = Arc::new(Stats::default());
    let sink = stats.clone();
    options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| match e {
        CommandEvent::Succeeded(s) => sink.command_done(&s.command_name, s.duration),
        CommandEvent::Failed(f) => sink.command_done(&f.command_name, f.duration),
        _ => {}
    }));
    let address: ServerAddress = options.hosts[0].clone();
    let client = Client::with_options(options).expect("a client");
    let db = client.database("greenmongo_soak");
    let name = format!("items_{}", std::process::id());
    let items: Collection<Document> = db.collection(&name);
    let seeded: Collection<Document> = db.collection(&format!("{name}_seeded"));
    let _ = items.drop().run();
    let _ = seeded.drop().run();
    if let Err(e) = seeded
        .insert_many((0..SEEDED).map(|i| doc! { "_id": i, "pad": "y".repeat(100) }))
        .run()
    {
        eprintln!("soak: cannot seed the server at {uri}: {e}");
        return 3;
    }

    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    println!(
        "soak: {} coroutines on {} workers, maxPoolSize={}, retryWrites={}, {:.1} min, a sample \
         every {:?}, baseline at {:?}, tolerance {}%{}",
        args.coroutines,
        args.workers,
        args.pool,
        args.retry_writes,
        args.minutes,
        args.interval,
        args.baseline,
        args.tolerance,
        if args.inject_leak {
            " (--inject-leak: 1 MiB and 1 fd leaked a second, this run must fail)"
        } else {
            ""
        }
    );
    let rt = Runtime::builder()
        .worker_threads(args.workers)
        .build()
        .expect("a runtime");
    let started = Instant::now();
    for id in 0..args.coroutines {
        let (items, seeded, stats) = (items.clone(), seeded.clone(), stats.clone());
        drop(rt.spawn(move || churn(id, items, seeded, &stats)));
    }
    if args.inject_leak {
        thread::spawn(|| {
            loop {
                // black_box: an allocation nobody reads may be optimised away.
                std::hint::black_box(vec![1u8; 1 << 20].leak());
                std::mem::forget(fs::File::open("/dev/null"));
                thread::sleep(Duration::from_secs(1));
            }
        });
    }

    println!(
        "| time | RSS (MiB) | open fds | ops done | ops/s | errors | client CPU | pool: out/waiting \
         | commands/s | mean round trip | server RSS (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut samples: Vec<Sample> = Vec::new();
    let mut next = args.interval;
    while next <= duration {
        thread::sleep(next.saturating_sub(started.elapsed()));
        let sample = Sample {
            at: started.elapsed(),
            rss_kib: rss_kib("self").unwrap_or(0),
            fds: open_fds(),
            ops: stats.ops.load(Ordering::Relaxed),
            errors: stats.errors.load(Ordering::Relaxed),
            cpu: cpu_time(),
            commands: stats.commands.load(Ordering::Relaxed),
            round_trip_nanos: stats.round_trip_nanos.load(Ordering::Relaxed),
        };
        let zero = Sample {
            at: Duration::ZERO,
            rss_kib: 0,
            fds: 0,
            ops: 0,
            errors: 0,
            cpu: Duration::ZERO,
            commands: 0,
            round_trip_nanos: 0,
        };
        let prev = samples.last().copied().unwrap_or(zero);
        let (prev_at, prev_ops, prev_cpu) = (prev.at, prev.ops, prev.cpu);
        let commands = sample.commands - prev.commands;
        let round_trip_ms =
            (sample.round_trip_nanos - prev.round_trip_nanos) as f64 / commands.max(1) as f64 / 1e6;
        let span = (sample.at - prev_at).as_secs_f64();
        let pool = client.pool_counts(&address).unwrap_or_default();
        let server = args
            .server_pid
            .and_then(|pid| rss_kib(&pid.to_string()))
            .map_or("-".to_owned(), |kib| format!("{:.1}", mib(kib)));
        println!(
            "| {}:{:02} | {:.1} | {} | {} | {:.0} | {} | {:.1} s ({:.0}%) | {}/{} | {:.0} | {:.1} ms \
             | {} |",
            sample.at.as_secs() / 60,
            sample.at.as_secs() % 60,
            mib(sample.rss_kib),
            sample.fds,
            sample.ops,
            (sample.ops - prev_ops) as f64 / span,
            sample.errors,
            sample.cpu.as_secs_f64(),
            (sample.cpu - prev_cpu).as_secs_f64() / span * 100.0,
            pool.checked_out,
            pool.waiting,
            commands as f64 / span,
            round_trip_ms,
            server
        );
        samples.push(sample);
        next += args.interval;
    }
    stats.stop.store(true, Ordering::Relaxed);
    let by_command: Vec<String> = stats
        .by_command
        .lock()
        .unwrap()
        .iter()
        .map(|(name, (n, total))| {
            format!(
                "{name} {n} × {:.1} ms",
                total.as_secs_f64() * 1e3 / (*n).max(1) as f64
            )
        })
        .collect();
    println!(
        "soak: commands answered, with their mean round trip (send to reply): {}",
        by_command.join(", ")
    );

    let mut code = 0;
    match samples.iter().position(|s| s.at >= args.baseline) {
        Some(b) if b + 1 < samples.len() => {
            let base = samples[b];
            let later = &samples[b + 1..];
            let worst_rss = later
                .iter()
                .map(|s| growth(s.rss_kib, base.rss_kib))
                .fold(f64::MIN, f64::max);
            let worst_fds = later
                .iter()
                .map(|s| growth(s.fds, base.fds))
                .fold(f64::MIN, f64::max);
            println!(
                "soak: baseline at {:?}: RSS {:.1} MiB, {} fds; the largest growth after it: \
                 RSS {worst_rss:+.1}%, fds {worst_fds:+.1}% (tolerance {}%)",
                base.at,
                mib(base.rss_kib),
                base.fds,
                args.tolerance
            );
            if worst_rss > args.tolerance || worst_fds > args.tolerance {
                println!(
                    "soak: FAILED: RSS or open fds grew by more than {}%",
                    args.tolerance
                );
                code = 1;
            }
        }
        _ => println!(
            "soak: no sample after the baseline ({:?}) to compare with: growth not judged",
            args.baseline
        ),
    }
    let errors = stats.errors.load(Ordering::Relaxed);
    if errors > 0 {
        println!(
            "soak: FAILED: {errors} operations failed; the first: {}",
            stats.first_error.lock().unwrap().as_deref().unwrap_or("?")
        );
        code = 2;
    }
    // Dropping the runtime unwinds every coroutine where it waits (nearly all in the
    // pool's queue, a hundred in the middle of a command): afterwards nothing may stay
    // checked out or queued.
    let dropping = Instant::now();
    drop(rt);
    let pool = client.pool_counts(&address).unwrap_or_default();
    println!(
        "soak: runtime dropped in {:?}; pool afterwards: {} checked out, {} waiting, {} \
         connections",
        dropping.elapsed(),
        pool.checked_out,
        pool.waiting,
        pool.total
    );
    if pool.checked_out != 0 || pool.waiting != 0 {
        println!("soak: FAILED: the pool is not clean after the runtime's drop");
        code = 2;
    }
    let ops = stats.ops.load(Ordering::Relaxed);
    println!(
        "soak: {ops} operations in {:?} ({:.0}/s), {errors} errors: {}",
        started.elapsed(),
        ops as f64 / started.elapsed().as_secs_f64(),
        if code == 0 { "passed" } else { "failed" }
    );

    if let Ok(cleaner) = Client::with_uri_str(uri) {
        let db = cleaner.database("greenmongo_soak");
        let _ = db.collection::<Document>(&name).drop().run();
        let _ = db
            .collection::<Document>(&format!("{name}_seeded"))
            .drop()
            .run();
    }
    code
}
