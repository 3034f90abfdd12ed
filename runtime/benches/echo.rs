//! TCP echo over loopback: 1,000 connections, each sending a 64-byte request and reading
//! the 64-byte echo `ROUNDS` times per iteration, all at once. Client and server run in
//! the same runtime under test, on two workers each: greenmongo-runtime (on epoll, and
//! `greenmongo-uring` with `Builder::io_uring`), tokio's multi-thread runtime and `may`.
//!
//! The connections and their client coroutines/tasks are set up once per runtime and
//! reused: an iteration tells every client to go (one channel message each) and waits
//! for all of them to report back, so it measures `CONNS * ROUNDS` round trips, reported
//! by criterion as elements (round trips) per second. `TCP_NODELAY` is set on both ends.
//!
//! `cargo bench -p greenmongo-runtime --bench echo -- --fixed-work 5` runs the same
//! set-ups without criterion: a fixed number of round trips per runtime, reporting CPU
//! per round trip and cores kept busy besides the rate (see [`fixed_work`]).

mod util;

use std::{
    io::{Read, Write},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group};

const CONNS: usize = 1_000;
const ROUNDS: usize = 20;
const MSG: usize = 64;

/// Lets the listener queue every connection of a burst (std's backlog is 128).
fn deep_backlog(fd: i32) {
    // SAFETY: `listen` on a socket we own and that is already listening only changes
    // its backlog.
    let _ = unsafe { libc::listen(fd, 4096) };
}

fn greenmongo(measure: Measure<'_>, io_uring: bool) {
    use greenmongo_runtime::{
        Runtime, coroutine,
        net::{TcpListener, TcpStream},
        sync::mpsc,
    };

    let name = if io_uring {
        "greenmongo-uring"
    } else {
        "greenmongo"
    };
    let rt = match Runtime::builder()
        .worker_threads(2)
        .io_uring(io_uring)
        // Each row's workers under their own name, for `perf report --sort comm`.
        .thread_name(name)
        .build()
    {
        Ok(rt) => rt,
        Err(e) if io_uring => return eprintln!("{name} skipped: {e}"),
        Err(e) => panic!("greenmongo runtime: {e}"),
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let _server = rt.spawn(move || {
        while let Ok((mut conn, _)) = listener.accept() {
            coroutine::spawn(move || {
                conn.set_nodelay(true).expect("nodelay");
                let mut buf = [0u8; MSG];
                while conn.read_exact(&mut buf).is_ok() {
                    if conn.write_all(&buf).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut go = Vec::with_capacity(CONNS);
    let mut clients = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let (go_tx, go_rx) = mpsc::channel::<usize>();
        let done = done_tx.clone();
        go.push(go_tx);
        clients.push(rt.spawn(move || {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.set_nodelay(true).expect("nodelay");
            let mut buf = [7u8; MSG];
            done.send(()).expect("ready");
            while let Ok(rounds) = go_rx.recv() {
                for _ in 0..rounds {
                    s.write_all(&buf).expect("write");
                    s.read_exact(&mut buf).expect("read");
                }
                done.send(()).expect("done");
            }
        }));
    }
    drop(done_tx);
    for _ in 0..CONNS {
        done_rx.recv().expect("client ready");
    }
    measure(name, &mut |rounds| {
        for tx in &go {
            tx.send(rounds).expect("go");
        }
        for _ in 0..CONNS {
            done_rx.recv().expect("done");
        }
    });
    drop(go);
    for c in clients {
        c.join().expect("client");
    }
}

fn tokio_mt(measure: Measure<'_>) {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
        sync::mpsc,
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        deep_backlog(l.as_raw_fd());
        l
    });
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                conn.set_nodelay(true).expect("nodelay");
                let mut buf = [0u8; MSG];
                while conn.read_exact(&mut buf).await.is_ok() {
                    if conn.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    let mut go = Vec::with_capacity(CONNS);
    let mut clients = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let (go_tx, mut go_rx) = mpsc::unbounded_channel::<usize>();
        let done = done_tx.clone();
        go.push(go_tx);
        clients.push(rt.spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            let mut buf = [7u8; MSG];
            done.send(()).expect("ready");
            while let Some(rounds) = go_rx.recv().await {
                for _ in 0..rounds {
                    s.write_all(&buf).await.expect("write");
                    s.read_exact(&mut buf).await.expect("read");
                }
                done.send(()).expect("done");
            }
        }));
    }
    drop(done_tx);
    for _ in 0..CONNS {
        done_rx.blocking_recv().expect("client ready");
    }
    measure("tokio-mt", &mut |rounds| {
        for tx in &go {
            tx.send(rounds).expect("go");
        }
        for _ in 0..CONNS {
            done_rx.blocking_recv().expect("done");
        }
    });
    drop(go);
    rt.block_on(async {
        for c in clients {
            c.await.expect("client");
        }
    });
}

fn may(measure: Measure<'_>) {
    use may::{
        net::{TcpListener, TcpStream},
        sync::mpsc,
    };

    util::may_init();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    deep_backlog(listener.as_raw_fd());
    let addr = listener.local_addr().expect("addr");
    // SAFETY (this and the spawns below): the coroutines touch no thread-locals and use
    // a few KiB of stack, within may's default.
    let server = unsafe {
        may::coroutine::spawn(move || {
            while let Ok((mut conn, _)) = listener.accept() {
                may::coroutine::spawn(move || {
                    conn.set_nodelay(true).expect("nodelay");
                    let mut buf = [0u8; MSG];
                    while conn.read_exact(&mut buf).is_ok() {
                        if conn.write_all(&buf).is_err() {
                            break;
                        }
                    }
                });
            }
        })
    };
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut go = Vec::with_capacity(CONNS);
    let mut clients = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let (go_tx, go_rx) = mpsc::channel::<usize>();
        let done = done_tx.clone();
        go.push(go_tx);
        // SAFETY: see above.
        clients.push(unsafe {
            may::coroutine::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_nodelay(true).expect("nodelay");
                let mut buf = [7u8; MSG];
                done.send(()).expect("ready");
                while let Ok(rounds) = go_rx.recv() {
                    for _ in 0..rounds {
                        s.write_all(&buf).expect("write");
                        s.read_exact(&mut buf).expect("read");
                    }
                    done.send(()).expect("done");
                }
            })
        });
    }
    drop(done_tx);
    for _ in 0..CONNS {
        done_rx.recv().expect("client ready");
    }
    measure("may", &mut |rounds| {
        for tx in &go {
            tx.send(rounds).expect("go");
        }
        for _ in 0..CONNS {
            done_rx.recv().expect("done");
        }
    });
    drop(go);
    for c in clients {
        c.join().expect("client");
    }
    // SAFETY: the accept loop holds only the listener; cancelling it closes it.
    unsafe { server.coroutine().cancel() };
    let _ = server.join();
}

/// Runs the bursts of one runtime's set-up: called once per runtime with its name and a
/// function that makes every client do `rounds` round trips and waits for all of them.
type Measure<'a> = &'a mut dyn FnMut(&str, &mut dyn FnMut(usize));

/// Each runtime in turn: set up, measured by `measure`, torn down.
fn each_runtime(measure: Measure<'_>) {
    greenmongo(measure, false);
    greenmongo(measure, true);
    tokio_mt(measure);
    may(measure);
}

fn echo(c: &mut Criterion) {
    util::raise_fd_limit();
    let mut g = c.benchmark_group(format!("echo/{CONNS}conns_{MSG}B"));
    g.throughput(Throughput::Elements((CONNS * ROUNDS) as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    each_runtime(&mut |name, burst| {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    burst(ROUNDS);
                }
                t.elapsed()
            })
        });
    });
    g.finish();
}

/// Round trips per connection in one `--fixed-work` burst.
const FIXED_ROUNDS: usize = 300;

/// `--fixed-work N`: N runs, each setting up every runtime in turn and timing one burst
/// of `FIXED_ROUNDS` round trips per connection after a warm-up burst; prints, per
/// runtime, the medians of round trips per second, CPU per round trip (user + system,
/// the whole process: `getrusage`) and cores kept busy (CPU time over wall time). Fixed
/// work makes CPU per round trip comparable between runtimes, and the cores busy show a
/// worker that sleeps while another has work (our coroutines never move once started).
fn fixed_work(runs: usize) {
    util::raise_fd_limit();
    let mut rows: Vec<(String, Vec<[f64; 3]>)> = Vec::new();
    for run in 1..=runs {
        each_runtime(&mut |name, burst| {
            burst(20);
            let (cpu, wall) = (util::cpu_time(), Instant::now());
            burst(FIXED_ROUNDS);
            let (cpu, wall) = (util::cpu_time() - cpu, wall.elapsed());
            let trips = (CONNS * FIXED_ROUNDS) as f64;
            let row = [
                trips / wall.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / trips,
                cpu.as_secs_f64() / wall.as_secs_f64(),
            ];
            println!(
                "run {run} {name:16} {:>9.0} round trips/s {:>6.2} us CPU each {:>5.2} cores",
                row[0], row[1], row[2]
            );
            match rows.iter_mut().find(|(n, _)| n == name) {
                Some((_, runs)) => runs.push(row),
                None => rows.push((name.to_owned(), vec![row])),
            }
        });
    }
    println!(
        "\nmedians of {runs} runs ({CONNS} connections x {FIXED_ROUNDS} round trips of {MSG} B);"
    );
    println!("against tokio-mt: medians of the per-run ratios (rate: ours / its; CPU: its / ours)");
    println!("runtime            round trips/s  CPU/round trip  cores busy  vs tokio: rate    CPU");
    let tokio = rows
        .iter()
        .find(|(n, _)| n == "tokio-mt")
        .map(|(_, r)| r.clone());
    for (name, runs) in &rows {
        let median = |f: &dyn Fn(usize, &[f64; 3]) -> f64| {
            util::median(runs.iter().enumerate().map(|(k, r)| f(k, r)).collect())
        };
        let versus = |rate: bool| match &tokio {
            Some(t) if rate => median(&|k, r| r[0] / t[k][0]),
            Some(t) => median(&|k, r| t[k][1] / r[1]),
            None => f64::NAN,
        };
        println!(
            "{name:16} {:>15.0} {:>12.2} us {:>11.2} {:>13.2}x {:>6.2}x",
            median(&|_, r| r[0]),
            median(&|_, r| r[1]),
            median(&|_, r| r[2]),
            versus(true),
            versus(false),
        );
    }
}

criterion_group! {
    name = benches;
    config = util::micro();
    targets = echo
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--fixed-work") {
        let runs = args.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(5);
        return fixed_work(runs);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
