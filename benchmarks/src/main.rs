//! greenmongo against the official `mongodb` crate, against the same server in the same
//! run: the MongoDB driver benchmarking spec's single- and multi-document tasks, then a
//! concurrency sweep. Prints Markdown tables on stdout (progress on stderr).
//!
//! ```text
//! MONGODB_URI=mongodb://127.0.0.1:27017/?directConnection=true \
//!   cargo run --release --manifest-path benchmarks/Cargo.toml -- [--quick] [--no-spec] [--no-sweep]
//! ```
//!
//! `scripts/bench` starts a server, runs this and puts the output in BENCHMARKS.md.

mod clients;
mod data;
mod spec;
mod stats;
mod sweep;

use std::{fmt::Write as _, time::Duration};

use clients::{Clients, Driver};

/// Concurrency levels of the sweep.
const LEVELS: [usize; 4] = [1, 64, 1_000, 10_000];
/// Every client gets this pool size: the official crate defaults to 10, greenmongo to 100.
const POOL: &str = "maxPoolSize=100";

struct Args {
    quick: bool,
    spec: bool,
    sweep: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        quick: false,
        spec: true,
        sweep: true,
    };
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--no-spec" => args.spec = false,
            "--no-sweep" => args.sweep = false,
            _ => {
                eprintln!("usage: greenmongo-benchmarks [--quick] [--no-spec] [--no-sweep]; server from MONGODB_URI");
                std::process::exit(2);
            }
        }
    }
    args
}

fn main() {
    let args = parse_args();
    let base = std::env::var("MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".into());
    let sep = if base.contains('?') { '&' } else { '?' };
    let uri = format!("{base}{sep}{POOL}");
    eprintln!("connecting to {uri}");
    let clients = Clients::connect(&uri);
    let data = data::load_single_and_multi();
    let mut out = String::new();
    let mut targets = Vec::new();

    if args.spec {
        let plan = if args.quick {
            spec::Plan::QUICK
        } else {
            spec::Plan::SPEC
        };
        let results: Vec<_> = spec::Kind::ALL
            .iter()
            .map(|&kind| {
                eprintln!("spec task: {}", kind.name());
                spec::run(&clients, &data, kind, &plan)
            })
            .collect();
        write_spec(&mut out, &results, args.quick, &mut targets);
    }

    if args.sweep {
        let secs = if args.quick { 2.0 } else { 10.0 };
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
    quick: bool,
    targets: &mut Vec<Target>,
) {
    let iters = results
        .first()
        .map(|r| r.rows.iter().map(|x| x.iterations).min().unwrap_or(0))
        .unwrap_or(0);
    writeln!(out, "### Spec tasks: MB/s (median iteration time)\n").unwrap();
    if quick {
        writeln!(
            out,
            "`--quick`: {iters} iterations per driver instead of the spec's 1-5 minutes, and a \
             tenth of the spec's operations per iteration (1,000 instead of 10,000; the \
             large-document tasks keep their 10). The dataset size scales with it, so MB/s stays \
             comparable to the spec's.\n"
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
