//! TCP echo over loopback: 1,000 connections, each sending a 64-byte request and reading
//! the 64-byte echo `ROUNDS` times per iteration, all at once. Client and server run in
//! the same runtime under test, on two workers each: greenmongo-runtime (on epoll, and
//! `greenmongo-uring` with `Builder::io_uring`), tokio's multi-thread runtime and `may`.
//!
//! The connections and their client coroutines/tasks are set up once per runtime and
//! reused: an iteration tells every client to go (one channel message each) and waits
//! for all of them to report back, so it measures `CONNS * ROUNDS` round trips, reported
//! by criterion as elements (round trips) per second. `TCP_NODELAY` is set on both ends.

mod util;

use std::{
    io::{Read, Write},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};

const CONNS: usize = 1_000;
const ROUNDS: usize = 20;
const MSG: usize = 64;

/// Lets the listener queue every connection of a burst (std's backlog is 128).
fn deep_backlog(fd: i32) {
    // SAFETY: `listen` on a socket we own and that is already listening only changes
    // its backlog.
    let _ = unsafe { libc::listen(fd, 4096) };
}

fn greenmongo(g: &mut BenchmarkGroup<'_, WallTime>, io_uring: bool) {
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
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for tx in &go {
                    tx.send(ROUNDS).expect("go");
                }
                for _ in 0..CONNS {
                    done_rx.recv().expect("done");
                }
            }
            t.elapsed()
        })
    });
    drop(go);
    for c in clients {
        c.join().expect("client");
    }
}

fn tokio_mt(g: &mut BenchmarkGroup<'_, WallTime>) {
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
    g.bench_function("tokio-mt", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for tx in &go {
                    tx.send(ROUNDS).expect("go");
                }
                for _ in 0..CONNS {
                    done_rx.blocking_recv().expect("done");
                }
            }
            t.elapsed()
        })
    });
    drop(go);
    rt.block_on(async {
        for c in clients {
            c.await.expect("client");
        }
    });
}

fn may(g: &mut BenchmarkGroup<'_, WallTime>) {
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
    g.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for tx in &go {
                    tx.send(ROUNDS).expect("go");
                }
                for _ in 0..CONNS {
                    done_rx.recv().expect("done");
                }
            }
            t.elapsed()
        })
    });
    drop(go);
    for c in clients {
        c.join().expect("client");
    }
    // SAFETY: the accept loop holds only the listener; cancelling it closes it.
    unsafe { server.coroutine().cancel() };
    let _ = server.join();
}

fn echo(c: &mut Criterion) {
    util::raise_fd_limit();
    let mut g = c.benchmark_group(format!("echo/{CONNS}conns_{MSG}B"));
    g.throughput(Throughput::Elements((CONNS * ROUNDS) as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    greenmongo(&mut g, false);
    greenmongo(&mut g, true);
    tokio_mt(&mut g);
    may(&mut g);
    g.finish();
}

criterion_group! {
    name = benches;
    config = util::micro();
    targets = echo
}
criterion_main!(benches);
