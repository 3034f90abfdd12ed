//! greenmongo against the official `mongodb` crate, against the same server in the same
//! run: the MongoDB driver benchmarking spec's single- and multi-document tasks, the
//! parallel LDJSON and the GridFS tasks, then a concurrency sweep. Prints Markdown tables on stdout (progress on stderr).
//!
//! ```text
//! MONGODB_URI=mongodb://127.0.0.1:27017/?directConnection=true \
//!   cargo run --profile bench -p greenmongo-benchmarks -- [--quick] [options]
//! ```
//!
//! Options: `--no-spec`, `--no-parallel`, `--no-gridfs`, `--no-fake-peer`, `--no-sweep`
//! skip a part; `--only spec|parallel|gridfs|fake-peer|sweep` runs just that part;
//! `--iters N` (spec-task iterations per client, the single-file GridFS tasks included),
//! `--ops-divisor D` (spec operations per iteration divided by D), `--ldjson-files N`,
//! `--ldjson-iters N`, `--gridfs-files N`, `--gridfs-iters N` (multi-file GridFS tasks),
//! `--sweep-secs S`,
//! `--fake-peer-ops N`; `--io-uring` puts greenmongo's runtime on io_uring
//! (`Builder::io_uring`); `--profile TASK CLIENT` runs one spec task (index 0-6 in the
//! tables' order) for one client (`gm-thread`, `gm-co`, `async`, `sync`) `--iters` times
//! and prints nothing else (for `perf record`); `--sweep-cell find|insert co|tokio|threads|sync N`
//! measures one sweep cell (`--sweep-secs`) and prints it on stderr. `--fake-peer FILE` is the fake peer's
//! child process (see `fakepeer.rs`).
//!
//! `scripts/bench` starts a server, runs this and puts the output in BENCHMARKS.md.

mod charts;
mod clients;
mod data;
mod gridfs;
mod overhead;
mod parallel;
mod spec;
mod stats;
mod sweep;

use std::{fmt::Write as _, time::Duration};

use greenmongo_benchmarks::fakepeer;

use clients::{Clients, Driver};

/// Concurrency levels of the sweep.
const LEVELS: [usize; 4] = [1, 64, 1_000, 10_000];
/// Every client gets this pool size: the official crate defaults to 10, greenmongo to 100.
const POOL: &str = "maxPoolSize=100";

struct Args {
    quick: bool,
    spec: bool,
    sweep: bool,
    parallel: bool,
    gridfs: bool,
    fake_peer: bool,
    /// `--only PART`: the part run alone (also names the chart it writes).
    only: Option<String>,
    iters: Option<usize>,
    ops_divisor: Option<usize>,
    ldjson_files: usize,
    ldjson_iters: usize,
    gridfs_files: usize,
    gridfs_iters: usize,
    sweep_secs: Option<f64>,
    fake_peer_ops: usize,
    profile: Option<(usize, Driver)>,
    sweep_cell: Option<(sweep::Op, sweep::Mode, usize)>,
    /// `--io-uring`: greenmongo's runtime reads and writes through io_uring.
    io_uring: bool,
}

const USAGE: &str = "usage: greenmongo-benchmarks [--quick] [--io-uring] [--no-spec] [--no-sweep] [--no-parallel] \
[--no-gridfs] [--no-fake-peer] [--only spec|parallel|gridfs|fake-peer|sweep] [--iters N] \
[--ops-divisor D] [--ldjson-files N] [--ldjson-iters N] [--gridfs-files N] [--gridfs-iters N] \
[--sweep-secs S] [--fake-peer-ops N] [--profile TASK gm-thread|gm-co|async|sync] \
[--sweep-cell find|insert co|tokio|threads|sync N]; server from MONGODB_URI";

fn parse_args() -> Args {
    let mut args = Args {
        quick: false,
        spec: true,
        sweep: true,
        parallel: true,
        gridfs: true,
        fake_peer: true,
        only: None,
        iters: None,
        ops_divisor: None,
        ldjson_files: 10,
        ldjson_iters: 3,
        gridfs_files: 50,
        gridfs_iters: 3,
        sweep_secs: None,
        fake_peer_ops: 20_000,
        profile: None,
        sweep_cell: None,
        io_uring: false,
    };
    let mut it = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!("{USAGE}");
        std::process::exit(2)
    };
    fn num<T: std::str::FromStr>(v: Option<String>, usage: impl Fn() -> T) -> T {
        v.and_then(|v| v.parse().ok()).unwrap_or_else(usage)
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fake-peer" => fakepeer::serve(&it.next().unwrap_or_else(|| usage())),
            "--quick" => args.quick = true,
            "--io-uring" => args.io_uring = true,
            "--no-spec" => args.spec = false,
            "--no-sweep" => args.sweep = false,
            "--no-parallel" => args.parallel = false,
            "--no-fake-peer" => args.fake_peer = false,
            "--no-gridfs" => args.gridfs = false,
            "--only" => {
                let part = it.next().unwrap_or_else(|| usage());
                let parts = ["spec", "parallel", "gridfs", "fake-peer", "sweep"];
                if !parts.contains(&part.as_str()) {
                    usage();
                }
                args.spec = part == "spec";
                args.parallel = part == "parallel";
                args.gridfs = part == "gridfs";
                args.fake_peer = part == "fake-peer";
                args.sweep = part == "sweep";
                args.only = Some(part);
            }
            "--gridfs-files" => args.gridfs_files = num(it.next(), || usage()),
            "--gridfs-iters" => args.gridfs_iters = num(it.next(), || usage()),
            "--iters" => args.iters = Some(num(it.next(), || usage())),
            "--ops-divisor" => args.ops_divisor = Some(num(it.next(), || usage())),
            "--ldjson-files" => args.ldjson_files = num(it.next(), || usage()),
            "--ldjson-iters" => args.ldjson_iters = num(it.next(), || usage()),
            "--sweep-secs" => args.sweep_secs = Some(num(it.next(), || usage())),
            "--fake-peer-ops" => args.fake_peer_ops = num(it.next(), || usage()),
            "--sweep-cell" => {
                let op = match it.next().as_deref() {
                    Some("find") => sweep::Op::FindOne,
                    Some("insert") => sweep::Op::InsertOne,
                    _ => usage(),
                };
                let mode = match it.next().as_deref() {
                    Some("co") => sweep::Mode::GmCoroutines,
                    Some("tokio") => sweep::Mode::TokioTasks,
                    Some("threads") => sweep::Mode::GmThreads,
                    Some("sync") => sweep::Mode::MongoSyncThreads,
                    _ => usage(),
                };
                args.sweep_cell = Some((op, mode, num(it.next(), || usage())));
            }
            "--profile" => {
                let task: usize = num(it.next(), || usage());
                let driver = match it.next().as_deref() {
                    Some("gm-thread") => Driver::GmThread,
                    Some("gm-co") => Driver::GmCoroutine,
                    Some("async") => Driver::MongoAsync,
                    Some("sync") => Driver::MongoSync,
                    _ => usage(),
                };
                if task >= spec::Kind::ALL.len() {
                    usage();
                }
                args.profile = Some((task, driver));
            }
            _ => usage(),
        }
    }
    args
}

/// `-PART` after every chart's name in a `--only PART` run.
static CHART_SUFFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A chart's file name: a run of one part gets charts of its own, so it does not replace
/// the full run's.
fn chart_name(base: &str) -> String {
    format!("{base}{}", CHART_SUFFIX.get().map_or("", String::as_str))
}

fn main() {
    let args = parse_args();
    if let Some(part) = &args.only {
        CHART_SUFFIX.set(format!("-{part}")).unwrap();
    }
    let base = std::env::var("MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".into());
    let sep = if base.contains('?') { '&' } else { '?' };
    let uri = format!("{base}{sep}{POOL}");
    eprintln!("connecting to {uri}");
    let clients = Clients::connect(&uri, args.io_uring);
    let data = data::load_single_and_multi();
    let mut out = String::new();
    if args.io_uring {
        out.push_str("greenmongo's runtime ran on io_uring (`--io-uring`).\n\n");
    }
    let mut targets = Vec::new();
    let mut plan = if args.quick {
        spec::Plan::QUICK
    } else {
        spec::Plan::SPEC
    };
    if let Some(n) = args.iters {
        plan.min_iters = n;
        plan.max_iters = n;
        plan.min_time = Duration::ZERO;
    }
    if let Some(d) = args.ops_divisor {
        plan.ops_divisor = d;
    }

    if let Some((task, driver)) = args.profile {
        let kind = spec::Kind::ALL[task];
        eprintln!(
            "profile: {} x{} for {}",
            kind.name(),
            plan.max_iters,
            driver.label()
        );
        spec::profile(&clients, &data, kind, driver, &plan);
        return;
    }

    if let Some((op, mode, n)) = args.sweep_cell {
        let secs = args.sweep_secs.unwrap_or(10.0);
        let small = sweep::setup(&clients, &data.small.doc, &data.tweet.doc);
        if let Some(p) = sweep::measure(&clients, &small, op, mode, n, secs) {
            eprintln!(
                "{} x{n} {}: {:.0} ops/s, CPU {:.1} µs/op",
                op.name(),
                mode.label(),
                p.ops_per_s,
                p.cpu_per_op.as_secs_f64() * 1e6
            );
        }
        sweep::teardown(&clients);
        return;
    }

    let mut scores: Vec<(String, [f64; 4])> = Vec::new();
    if args.spec {
        let results: Vec<_> = spec::Kind::ALL
            .iter()
            .map(|&kind| {
                eprintln!("spec task: {}", kind.name());
                spec::run(&clients, &data, kind, &plan)
            })
            .collect();
        write_spec(&mut out, &results, &plan, &mut targets);
        for r in &results {
            scores.push((
                r.kind.name().to_string(),
                per_driver(&r.rows, |x| (x.driver, x.mb_per_s)),
            ));
        }
    }

    if args.parallel {
        eprintln!(
            "parallel: LDJSON import/export, {} files",
            args.ldjson_files
        );
        let results = parallel::run(&clients, args.ldjson_files, args.ldjson_iters);
        write_parallel(&mut out, &results, &mut targets);
        for r in &results {
            scores.push((
                r.task.name().to_string(),
                per_driver(&r.rows, |x| (x.driver, x.mb_per_s)),
            ));
        }
    }

    if args.gridfs {
        eprintln!(
            "gridfs: upload/download, multi-file over {} files",
            args.gridfs_files
        );
        let results = gridfs::run(&clients, &plan, args.gridfs_files, args.gridfs_iters);
        write_gridfs(&mut out, &results, &mut targets);
        for r in &results {
            scores.push((
                r.task.name().to_string(),
                per_driver(&r.rows, |x| (x.driver, x.mb_per_s)),
            ));
        }
    }

    if !scores.is_empty() {
        write_composites(&mut out, &scores);
        let link = charts::write(
            &chart_name("spec-mb-per-s"),
            &charts::Chart {
                title: "Spec tasks: MB/s by client (higher is better)",
                unit: "MB/s (log scale)",
                log: true,
                categories: scores.iter().map(|(n, _)| n.clone()).collect(),
                series: Driver::ALL
                    .iter()
                    .zip(charts::COLORS)
                    .map(|(d, c)| (d.label(), c))
                    .collect(),
                values: scores
                    .iter()
                    .map(|(_, v)| v.iter().map(|&x| Some(x)).collect())
                    .collect(),
            },
        );
        writeln!(
            out,
            "Chart: [{link}]({link})\n\n![spec tasks MB/s]({link})\n"
        )
        .unwrap();
    }

    if args.fake_peer {
        eprintln!("fake peer: driver overhead");
        let rows = overhead::run(
            &data.tweet.doc,
            &data.small.doc,
            POOL,
            if args.quick { 3 } else { 5 },
            args.fake_peer_ops,
            args.io_uring,
        );
        write_overhead(&mut out, &rows, &mut targets);
    }

    if args.sweep {
        let secs = args
            .sweep_secs
            .unwrap_or(if args.quick { 2.0 } else { 10.0 });
        let small = sweep::setup(&clients, &data.small.doc, &data.tweet.doc);
        let mut points = Vec::new();
        for op in [sweep::Op::FindOne, sweep::Op::InsertOne] {
            for &n in &LEVELS {
                for mode in sweep::Mode::ALL {
                    eprintln!("sweep: {} x{n} {}", op.name(), mode.label());
                    points.extend(sweep::measure(&clients, &small, op, mode, n, secs));
                }
            }
        }
        sweep::teardown(&clients);
        write_sweep(&mut out, &points, secs, &mut targets);
    }

    write_targets(&mut out, &targets);
    print!("{out}");
}

/// A task's figure for each driver, in [`Driver::ALL`] order.
fn per_driver<R>(rows: &[R], f: impl Fn(&R) -> (Driver, f64)) -> [f64; 4] {
    let mut v = [f64::NAN; 4];
    for r in rows {
        let (d, x) = f(r);
        v[Driver::ALL.iter().position(|&e| e == d).unwrap()] = x;
    }
    v
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

/// One target check: what, our figure over theirs, the bound, and which way is good.
struct Target {
    what: String,
    ratio: f64,
    bound: f64,
    higher_is_better: bool,
}

impl Target {
    fn met(&self) -> bool {
        if self.higher_is_better {
            self.ratio >= self.bound
        } else {
            self.ratio <= self.bound
        }
    }
}

fn write_spec(
    out: &mut String,
    results: &[spec::TaskResult],
    plan: &spec::Plan,
    targets: &mut Vec<Target>,
) {
    let iters = results
        .first()
        .map(|r| r.rows.iter().map(|x| x.iterations).min().unwrap_or(0))
        .unwrap_or(0);
    writeln!(out, "### Spec tasks: MB/s (median iteration time)\n").unwrap();
    if plan.max_iters < 100 || plan.ops_divisor > 1 {
        let ops = if plan.ops_divisor == 1 {
            "the spec's operations per iteration (10,000; 10 for the large-document tasks)"
                .to_string()
        } else {
            format!(
                "1/{} of the spec's operations per iteration ({} instead of 10,000; the \
                 large-document tasks keep their 10; the dataset size scales with it, so MB/s \
                 stays comparable to the spec's)",
                plan.ops_divisor,
                10_000 / plan.ops_divisor
            )
        };
        writeln!(
            out,
            "Shortened: {iters} iterations per client (the spec asks for 1-5 minutes of them, \
             up to 100), {ops}. Iterations are interleaved across clients.\n"
        )
        .unwrap();
    }
    let hdr: Vec<_> = Driver::ALL.iter().map(|d| d.label()).collect();
    writeln!(
        out,
        "| task | ops/iter | MB | {} | coroutine / async | thread / sync |",
        hdr.join(" | ")
    )
    .unwrap();
    writeln!(
        out,
        "| --- | ---: | ---: |{} ---: | ---: |",
        " ---: |".repeat(4)
    )
    .unwrap();
    for r in results {
        let cells: Vec<_> = r
            .rows
            .iter()
            .map(|x| format!("{:.2} ({} ms)", x.mb_per_s, ms(x.median_wall)))
            .collect();
        let score = |d: Driver| r.rows.iter().find(|x| x.driver == d).unwrap();
        let co = score(Driver::GmCoroutine).mb_per_s / score(Driver::MongoAsync).mb_per_s;
        let th = score(Driver::GmThread).mb_per_s / score(Driver::MongoSync).mb_per_s;
        writeln!(
            out,
            "| {} | {} | {:.2} | {} | {co:.2}× | {th:.2}× |",
            r.kind.name(),
            r.ops,
            r.dataset_bytes as f64 / 1e6,
            cells.join(" | ")
        )
        .unwrap();
        targets.push(Target {
            what: format!("{}: coroutine vs async, speed", r.kind.name()),
            ratio: co,
            bound: 1.3,
            higher_is_better: true,
        });
    }
    writeln!(
        out,
        "\n### Spec tasks: client CPU time per iteration (median, ms; user + system, whole process)\n"
    )
    .unwrap();
    writeln!(
        out,
        "| task | {} | coroutine / async | thread / sync |",
        hdr.join(" | ")
    )
    .unwrap();
    writeln!(out, "| --- |{} ---: | ---: |", " ---: |".repeat(4)).unwrap();
    for r in results {
        let cpu = |d: Driver| {
            r.rows
                .iter()
                .find(|x| x.driver == d)
                .unwrap()
                .median_cpu
                .as_secs_f64()
        };
        let cells: Vec<_> = r.rows.iter().map(|x| ms(x.median_cpu)).collect();
        let co = cpu(Driver::GmCoroutine) / cpu(Driver::MongoAsync);
        let th = cpu(Driver::GmThread) / cpu(Driver::MongoSync);
        writeln!(
            out,
            "| {} | {} | {co:.2}× | {th:.2}× |",
            r.kind.name(),
            cells.join(" | ")
        )
        .unwrap();
        targets.push(Target {
            what: format!("{}: coroutine vs async, CPU", r.kind.name()),
            ratio: co,
            bound: 0.5,
            higher_is_better: false,
        });
    }
    out.push('\n');
}

fn write_sweep(out: &mut String, points: &[sweep::Point], secs: f64, targets: &mut Vec<Target>) {
    writeln!(
        out,
        "### Concurrency sweep ({secs} s measured per cell after a {} s warm-up)\n",
        secs / 4.0
    )
    .unwrap();
    for op in [sweep::Op::FindOne, sweep::Op::InsertOne] {
        writeln!(out, "#### {}\n", op.name()).unwrap();
        writeln!(
            out,
            "| workers | who | ops | ops/s | p50 µs | p99 µs | CPU µs/op | ops/s vs tokio | CPU vs tokio |"
        )
        .unwrap();
        writeln!(
            out,
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )
        .unwrap();
        for &n in &LEVELS {
            let at: Vec<_> = points
                .iter()
                .filter(|p| p.op == op && p.workers == n)
                .collect();
            let tokio = at.iter().find(|p| p.mode == sweep::Mode::TokioTasks);
            for p in &at {
                let (speed, cpu) = match tokio {
                    Some(t) if p.mode != sweep::Mode::TokioTasks => (
                        format!("{:.2}×", p.ops_per_s / t.ops_per_s),
                        format!(
                            "{:.2}×",
                            p.cpu_per_op.as_secs_f64() / t.cpu_per_op.as_secs_f64()
                        ),
                    ),
                    _ => (String::new(), String::new()),
                };
                writeln!(
                    out,
                    "| {n} | {} | {} | {:.0} | {} | {} | {} | {speed} | {cpu} |",
                    p.mode.label(),
                    p.ops,
                    p.ops_per_s,
                    us(p.p50),
                    us(p.p99),
                    format_args!("{:.1}", p.cpu_per_op.as_secs_f64() * 1e6),
                )
                .unwrap();
                if let (Some(t), sweep::Mode::GmCoroutines) = (tokio, p.mode) {
                    targets.push(Target {
                        what: format!("{} x{n}: coroutines vs tokio, ops/s", op.name()),
                        ratio: p.ops_per_s / t.ops_per_s,
                        bound: 1.3,
                        higher_is_better: true,
                    });
                    targets.push(Target {
                        what: format!("{} x{n}: coroutines vs tokio, CPU/op", op.name()),
                        ratio: p.cpu_per_op.as_secs_f64() / t.cpu_per_op.as_secs_f64(),
                        bound: 0.5,
                        higher_is_better: false,
                    });
                }
            }
        }
        out.push('\n');
    }
    for (name, title, unit, f) in [
        (
            "sweep-ops-per-s",
            "Concurrency sweep: operations per second (higher is better)",
            "ops/s (log scale)",
            (|p: &sweep::Point| p.ops_per_s) as fn(&sweep::Point) -> f64,
        ),
        (
            "sweep-cpu-per-op",
            "Concurrency sweep: client CPU per operation (lower is better)",
            "CPU µs per operation (log scale)",
            |p: &sweep::Point| p.cpu_per_op.as_secs_f64() * 1e6,
        ),
    ] {
        let mut cats = Vec::new();
        let mut vals = Vec::new();
        for op in [sweep::Op::FindOne, sweep::Op::InsertOne] {
            for &n in &LEVELS {
                cats.push(format!("{} x{n}", op.name()));
                vals.push(
                    sweep::Mode::ALL
                        .iter()
                        .map(|&m| {
                            points
                                .iter()
                                .find(|p| p.op == op && p.workers == n && p.mode == m)
                                .map(f)
                        })
                        .collect(),
                );
            }
        }
        let link = charts::write(
            &chart_name(name),
            &charts::Chart {
                title,
                unit,
                log: true,
                categories: cats,
                series: sweep::Mode::ALL
                    .iter()
                    .zip([
                        charts::COLORS[1],
                        charts::COLORS[2],
                        charts::COLORS[0],
                        charts::COLORS[3],
                    ])
                    .map(|(m, c)| (m.label(), c))
                    .collect(),
                values: vals,
            },
        );
        writeln!(out, "Chart: [{link}]({link})\n\n![{title}]({link})\n").unwrap();
    }
}

fn write_targets(out: &mut String, targets: &[Target]) {
    if targets.is_empty() {
        return;
    }
    let met = targets.iter().filter(|t| t.met()).count();
    writeln!(
        out,
        "### Targets: ≥ 1.3× the official async crate's speed, ≤ 0.5× its CPU ({met} of {} met)\n",
        targets.len()
    )
    .unwrap();
    writeln!(out, "| check | ours / theirs | target | |").unwrap();
    writeln!(out, "| --- | ---: | ---: | --- |").unwrap();
    for t in targets {
        let cmp = if t.higher_is_better { "≥" } else { "≤" };
        let verdict = if t.met() { "met" } else { "**missed**" };
        writeln!(
            out,
            "| {} | {:.2}× | {cmp} {}× | {verdict} |",
            t.what, t.ratio, t.bound
        )
        .unwrap();
    }
    out.push('\n');
}

fn write_parallel(out: &mut String, results: &[parallel::TaskResult], targets: &mut Vec<Target>) {
    let Some(first) = results.first() else { return };
    writeln!(
        out,
        "### Parallel LDJSON tasks: MB/s (median iteration time), and client CPU per iteration\n"
    )
    .unwrap();
    writeln!(
        out,
        "Shortened: {} of the spec's 100 files ({} documents, {:.1} MB) and {} iterations per client. \
         One worker per file: greenmongo coroutines (2 runtime workers) or OS threads, tokio tasks \
         (2 workers) or OS threads for the official crate. Reading, JSON parsing (import) and \
         JSON writing plus `fsync` (export) are inside the timing, the same code for every client.\n",
        first.files,
        first.files * 5_000,
        first.dataset_bytes as f64 / 1e6,
        first.iterations
    )
    .unwrap();
    let hdr: Vec<_> = Driver::ALL.iter().map(|d| d.label()).collect();
    writeln!(
        out,
        "| task | {} | coroutine / async | thread / sync |",
        hdr.join(" | ")
    )
    .unwrap();
    writeln!(out, "| --- |{} ---: | ---: |", " ---: |".repeat(4)).unwrap();
    for r in results {
        let cells: Vec<_> = r
            .rows
            .iter()
            .map(|x| format!("{:.2} ({} ms)", x.mb_per_s, ms(x.median_wall)))
            .collect();
        let v = per_driver(&r.rows, |x| (x.driver, x.mb_per_s));
        writeln!(
            out,
            "| {} | {} | {:.2}× | {:.2}× |",
            r.task.name(),
            cells.join(" | "),
            v[1] / v[2],
            v[0] / v[3]
        )
        .unwrap();
        targets.push(Target {
            what: format!("{}: coroutine vs async, speed", r.task.name()),
            ratio: v[1] / v[2],
            bound: 1.3,
            higher_is_better: true,
        });
    }
    writeln!(
        out,
        "\n| CPU ms per iteration | {} | coroutine / async | thread / sync |",
        hdr.join(" | ")
    )
    .unwrap();
    writeln!(out, "| --- |{} ---: | ---: |", " ---: |".repeat(4)).unwrap();
    for r in results {
        let v = per_driver(&r.rows, |x| (x.driver, x.median_cpu.as_secs_f64()));
        let cells: Vec<_> = r.rows.iter().map(|x| ms(x.median_cpu)).collect();
        writeln!(
            out,
            "| {} | {} | {:.2}× | {:.2}× |",
            r.task.name(),
            cells.join(" | "),
            v[1] / v[2],
            v[0] / v[3]
        )
        .unwrap();
        targets.push(Target {
            what: format!("{}: coroutine vs async, CPU", r.task.name()),
            ratio: v[1] / v[2],
            bound: 0.5,
            higher_is_better: false,
        });
    }
    out.push('\n');
}

fn write_gridfs(out: &mut String, results: &[gridfs::TaskResult], targets: &mut Vec<Target>) {
    if results.is_empty() {
        return;
    }
    writeln!(
        out,
        "### GridFS tasks: MB/s (median iteration time), and client CPU per iteration\n"
    )
    .unwrap();
    let iters = |multi: bool| {
        results
            .iter()
            .filter(|r| r.task.multi() == multi)
            .flat_map(|r| r.rows.iter().map(|x| x.iterations))
            .min()
            .unwrap_or(0)
    };
    let multi = results
        .iter()
        .find(|r| r.task == gridfs::Task::MultiUpload)
        .map(|r| (r.files, r.dataset_bytes));
    writeln!(
        out,
        "Default bucket, default 255 KiB chunks. Upload/download: the 52.43 MB `gridfs_large.bin` \
         from and to memory, {} iterations per client. Multi-file: {} of the spec's 50 files of \
         5 MiB ({:.1} MB), {} iterations per client, one worker per file (greenmongo coroutines \
         on 2 runtime workers or OS threads, tokio tasks on 2 workers or OS threads for the \
         official crate); reading the files (upload) and writing plus `fsync` (download) are \
         inside the timing, blocking `std::fs` with 255 KiB reads and writes for every client. \
         Iterations are interleaved across clients.\n",
        iters(false),
        multi.map(|m| m.0).unwrap_or(0),
        multi.map(|m| m.1 as f64 / 1e6).unwrap_or(0.0),
        iters(true),
    )
    .unwrap();
    let hdr: Vec<_> = Driver::ALL.iter().map(|d| d.label()).collect();
    writeln!(
        out,
        "| task | files | MB | {} | coroutine / async | thread / sync |",
        hdr.join(" | ")
    )
    .unwrap();
    writeln!(
        out,
        "| --- | ---: | ---: |{} ---: | ---: |",
        " ---: |".repeat(4)
    )
    .unwrap();
    for r in results {
        let cells: Vec<_> = r
            .rows
            .iter()
            .map(|x| format!("{:.2} ({} ms)", x.mb_per_s, ms(x.median_wall)))
            .collect();
        let v = per_driver(&r.rows, |x| (x.driver, x.mb_per_s));
        writeln!(
            out,
            "| {} | {} | {:.2} | {} | {:.2}× | {:.2}× |",
            r.task.name(),
            r.files,
            r.dataset_bytes as f64 / 1e6,
            cells.join(" | "),
            v[1] / v[2],
            v[0] / v[3]
        )
        .unwrap();
        targets.push(Target {
            what: format!("{}: coroutine vs async, speed", r.task.name()),
            ratio: v[1] / v[2],
            bound: 1.3,
            higher_is_better: true,
        });
    }
    writeln!(
        out,
        "\n| CPU ms per iteration (user + system, whole process) | {} | coroutine / async | thread / sync |",
        hdr.join(" | ")
    )
    .unwrap();
    writeln!(out, "| --- |{} ---: | ---: |", " ---: |".repeat(4)).unwrap();
    for r in results {
        let v = per_driver(&r.rows, |x| (x.driver, x.median_cpu.as_secs_f64()));
        let cells: Vec<_> = r.rows.iter().map(|x| ms(x.median_cpu)).collect();
        writeln!(
            out,
            "| {} | {} | {:.2}× | {:.2}× |",
            r.task.name(),
            cells.join(" | "),
            v[1] / v[2],
            v[0] / v[3]
        )
        .unwrap();
        targets.push(Target {
            what: format!("{}: coroutine vs async, CPU", r.task.name()),
            ratio: v[1] / v[2],
            bound: 0.5,
            higher_is_better: false,
        });
    }
    out.push('\n');
}

/// The spec's composites over the tasks this run has: each is the plain mean of its
/// tasks' MB/s, per client; the last column names the spec's tasks the mean lacks.
fn write_composites(out: &mut String, scores: &[(String, [f64; 4])]) {
    const FIND_ONE: &str = "Find one by _id";
    const FIND_MANY: &str = "Find many, empty the cursor";
    const INS_S: &str = "Small doc insertOne";
    const INS_L: &str = "Large doc insertOne";
    const BULK_S: &str = "Small doc bulk insert";
    const BULK_L: &str = "Large doc bulk insert";
    const IMPORT: &str = "LDJSON multi-file import";
    const EXPORT: &str = "LDJSON multi-file export";
    const GFS_UP: &str = "GridFS upload";
    const GFS_DOWN: &str = "GridFS download";
    const GFS_MUP: &str = "GridFS multi-file upload";
    const GFS_MDOWN: &str = "GridFS multi-file download";
    // The spec's BulkWrite tasks (2024): not implemented in this harness.
    const BULK_WRITE: [&str; 6] = [
        "Small doc Collection BulkWrite insert",
        "Large doc Collection BulkWrite insert",
        "Small doc Client BulkWrite insert",
        "Large doc Client BulkWrite insert",
        "Small doc Client BulkWrite Mixed Operations",
        "Small doc Collection BulkWrite Mixed Operations",
    ];
    let with_bulk_write = |tasks: &[&'static str]| {
        let mut v = tasks.to_vec();
        v.extend(BULK_WRITE);
        v
    };
    let defs: [(&str, Vec<&str>); 5] = [
        ("SingleBench", vec![FIND_ONE, INS_S, INS_L]),
        (
            "MultiBench",
            with_bulk_write(&[FIND_MANY, BULK_S, BULK_L, GFS_UP, GFS_DOWN]),
        ),
        ("ParallelBench", vec![IMPORT, EXPORT, GFS_MUP, GFS_MDOWN]),
        (
            "ReadBench",
            vec![FIND_ONE, FIND_MANY, GFS_DOWN, EXPORT, GFS_MDOWN],
        ),
        (
            "WriteBench",
            with_bulk_write(&[INS_S, INS_L, BULK_S, BULK_L, GFS_UP, IMPORT, GFS_MUP]),
        ),
    ];
    let get = |name: &str| scores.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    writeln!(
        out,
        "### Composite scores (mean MB/s of the tasks we have)\n"
    )
    .unwrap();
    writeln!(
        out,
        "The spec's composites are plain means of task scores. Each row is the mean over the \
         tasks this run has; the \"missing\" column names the spec's tasks it lacks: the six \
         BulkWrite tasks (added to the spec in 2024) are not implemented in this harness, the \
         others were not run this time. BSONBench is not measured (it does not enter \
         DriverBench).\n"
    )
    .unwrap();
    let hdr: Vec<_> = Driver::ALL.iter().map(|d| d.label()).collect();
    writeln!(
        out,
        "| composite | over | {} | coroutine / async | thread / sync | missing |",
        hdr.join(" | ")
    )
    .unwrap();
    writeln!(
        out,
        "| --- | --- |{} ---: | ---: | --- |",
        " ---: |".repeat(4)
    )
    .unwrap();
    let mut read_write = Vec::new();
    for (name, tasks) in defs {
        let have: Vec<_> = tasks.iter().copied().filter(|n| get(n).is_some()).collect();
        if have.is_empty() {
            continue;
        }
        let mut v = [0.0; 4];
        for n in &have {
            let s = get(n).unwrap();
            for i in 0..4 {
                v[i] += s[i] / have.len() as f64;
            }
        }
        if name == "ReadBench" || name == "WriteBench" {
            read_write.push(v);
        }
        let not_run: Vec<_> = tasks
            .iter()
            .copied()
            .filter(|n| get(n).is_none() && !BULK_WRITE.contains(n))
            .collect();
        let bulk_write = tasks.iter().filter(|n| BULK_WRITE.contains(n)).count();
        let mut missing = Vec::new();
        if !not_run.is_empty() {
            missing.push(format!("not run: {}", not_run.join(", ")));
        }
        if bulk_write > 0 {
            missing.push(format!("{bulk_write} BulkWrite tasks"));
        }
        let missing = if missing.is_empty() {
            "—".to_string()
        } else {
            missing.join("; ")
        };
        let cells: Vec<_> = v.iter().map(|x| format!("{x:.2}")).collect();
        writeln!(
            out,
            "| {name} | {} | {} | {:.2}× | {:.2}× | {missing} |",
            have.join(", "),
            cells.join(" | "),
            v[1] / v[2],
            v[0] / v[3]
        )
        .unwrap();
    }
    if read_write.len() == 2 {
        let v: Vec<f64> = (0..4)
            .map(|i| (read_write[0][i] + read_write[1][i]) / 2.0)
            .collect();
        let cells: Vec<_> = v.iter().map(|x| format!("{x:.2}")).collect();
        writeln!(
            out,
            "| DriverBench | mean of ReadBench and WriteBench | {} | {:.2}× | {:.2}× | as above |",
            cells.join(" | "),
            v[1] / v[2],
            v[0] / v[3]
        )
        .unwrap();
    }
    out.push('\n');
}

fn write_overhead(out: &mut String, rows: &[overhead::Row], targets: &mut Vec<Target>) {
    let Some(first) = rows.first() else { return };
    writeln!(
        out,
        "### Driver overhead against a fake peer (no server cost)\n"
    )
    .unwrap();
    writeln!(
        out,
        "The peer (`benches/src/fakepeer.rs`) answers from canned replies: `find` returns the \
         tweet document in a cursor with id 0, `insert` returns `{{n, ok: 1}}`. It runs in a child \
         process, so the CPU column (`getrusage(RUSAGE_SELF)` of the bench process) is the \
         clients' own: their worker threads, monitors and runtimes included, the peer excluded \
         (it shares the same 2 cores, so it does slow the wall-clock column). {} operations per \
         iteration, {} interleaved iterations, medians. The raw row writes one pre-encoded \
         OP_MSG per operation on a plain socket and reads the reply without decoding it: the \
         floor for any client on this machine.\n",
        first.ops, first.iterations
    )
    .unwrap();
    writeln!(
        out,
        "| operation | who | ops/s | CPU µs/op | ops/s vs async | CPU vs async | CPU above the floor |"
    )
    .unwrap();
    writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: |").unwrap();
    let mut cats = Vec::new();
    let mut vals = Vec::new();
    for op in overhead::Op::ALL {
        let at: Vec<_> = rows.iter().filter(|r| r.op == op).collect();
        let find = |w: overhead::Who| at.iter().find(|r| r.who == w).unwrap();
        let asy = find(overhead::Who::Driver(Driver::MongoAsync));
        let raw = find(overhead::Who::Raw);
        for r in &at {
            let cpu = r.cpu_per_op.as_secs_f64() * 1e6;
            writeln!(
                out,
                "| {} | {} | {:.0} | {cpu:.1} | {:.2}× | {:.2}× | {:.1} µs |",
                op.name(),
                r.who.label(),
                r.ops_per_s,
                r.ops_per_s / asy.ops_per_s,
                r.cpu_per_op.as_secs_f64() / asy.cpu_per_op.as_secs_f64(),
                cpu - raw.cpu_per_op.as_secs_f64() * 1e6
            )
            .unwrap();
        }
        let co = find(overhead::Who::Driver(Driver::GmCoroutine));
        targets.push(Target {
            what: format!("fake peer, {}: coroutine vs async, CPU/op", op.name()),
            ratio: co.cpu_per_op.as_secs_f64() / asy.cpu_per_op.as_secs_f64(),
            bound: 0.5,
            higher_is_better: false,
        });
        cats.push(op.name().to_string());
        vals.push(
            overhead::Who::ALL
                .iter()
                .map(|&w| Some(find(w).cpu_per_op.as_secs_f64() * 1e6))
                .collect(),
        );
    }
    let link = charts::write(
        &chart_name("fake-peer-cpu-per-op"),
        &charts::Chart {
            title: "Against the fake peer: client CPU per operation (lower is better)",
            unit: "CPU µs per operation",
            log: false,
            categories: cats,
            series: overhead::Who::ALL
                .iter()
                .zip(charts::COLORS)
                .map(|(w, c)| (w.label(), c))
                .collect(),
            values: vals,
        },
    );
    writeln!(
        out,
        "\nChart: [{link}]({link})\n\n![fake peer CPU per op]({link})\n"
    )
    .unwrap();
}
