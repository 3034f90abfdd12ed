//! Context switches: yield, spawn+join, and channel ping-pong, for greenmongo-runtime,
//! `may` and `tokio` side by side.
//!
//! Each function times its loop *inside* the runtime (`iter_custom`), so entering the
//! runtime from criterion's thread is not counted. Our runtime and tokio's current-thread
//! runtime run on one worker; tokio's multi-thread runtime and ours marked `2w` have two
//! workers, like `may` (whose scheduler is global and set to two workers);
//! `greenmongo-2w-mpsc-spin` is `2w` with `Builder::idle_spin` at 50 µs.

mod util;

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use greenmongo_runtime::{
    Handle, Runtime, coroutine,
    sync::{mpsc, oneshot},
};

fn ours(workers: usize) -> Runtime {
    Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("greenmongo runtime")
}

fn tokio_ct() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current-thread runtime")
}

fn tokio_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio multi-thread runtime")
}

/// Runs `f` on a worker of a multi-thread tokio runtime (not on the `block_on` thread).
fn on_tokio_worker<F>(rt: &tokio::runtime::Runtime, f: F) -> Duration
where
    F: std::future::Future<Output = Duration> + Send + 'static,
{
    rt.block_on(async move { tokio::spawn(f).await.expect("tokio task") })
}

/// One coroutine yielding in a loop: the cost of one yield (suspend, requeue, resume).
fn yield_now(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield");
    let rt = ours(1);
    g.bench_function("greenmongo", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    coroutine::yield_now();
                }
                t.elapsed()
            })
        })
    });
    let rt = tokio_ct();
    g.bench_function("tokio-ct", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let t = Instant::now();
                for _ in 0..iters {
                    tokio::task::yield_now().await;
                }
                t.elapsed()
            })
        })
    });
    let rt = tokio_mt();
    g.bench_function("tokio-mt", |b| {
        b.iter_custom(|iters| {
            on_tokio_worker(&rt, async move {
                let t = Instant::now();
                for _ in 0..iters {
                    tokio::task::yield_now().await;
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("may", |b| {
        b.iter_custom(|iters| {
            util::may_run(move || {
                let t = Instant::now();
                for _ in 0..iters {
                    may::coroutine::yield_now();
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

/// Spawn a trivial coroutine and join it, from inside a coroutine; stacks come from the
/// worker's pool after the first iteration.
fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    let rt = ours(1);
    g.bench_function("greenmongo-spawn_local", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let t = Instant::now();
                for i in 0..iters {
                    let h = coroutine::spawn_local(move || black_box(i));
                    black_box(h.join().expect("join"));
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("greenmongo-spawn", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let t = Instant::now();
                for i in 0..iters {
                    let h = coroutine::spawn(move || black_box(i));
                    black_box(h.join().expect("join"));
                }
                t.elapsed()
            })
        })
    });
    let rt2 = ours(2);
    g.bench_function("greenmongo-2w-spawn", |b| {
        b.iter_custom(|iters| {
            rt2.block_on(move || {
                let t = Instant::now();
                for i in 0..iters {
                    let h = coroutine::spawn(move || black_box(i));
                    black_box(h.join().expect("join"));
                }
                t.elapsed()
            })
        })
    });
    let rt = tokio_ct();
    g.bench_function("tokio-ct", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let t = Instant::now();
                for i in 0..iters {
                    let h = tokio::spawn(async move { black_box(i) });
                    black_box(h.await.expect("join"));
                }
                t.elapsed()
            })
        })
    });
    let rt = tokio_mt();
    g.bench_function("tokio-mt", |b| {
        b.iter_custom(|iters| {
            on_tokio_worker(&rt, async move {
                let t = Instant::now();
                for i in 0..iters {
                    let h = tokio::spawn(async move { black_box(i) });
                    black_box(h.await.expect("join"));
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("may", |b| {
        b.iter_custom(|iters| {
            util::may_run(move || {
                let t = Instant::now();
                for i in 0..iters {
                    // SAFETY: the coroutine touches no thread-locals and uses a few
                    // bytes of stack (may's conditions for `spawn`, which `go!` hides).
                    let h = unsafe { may::coroutine::spawn(move || black_box(i)) };
                    black_box(h.join().expect("join"));
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

/// Two coroutines bouncing a value through two channels: time per round trip (two
/// sends, two receives, two switches).
fn ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("ping_pong");
    let rt = ours(1);
    g.bench_function("greenmongo-mpsc", |b| {
        b.iter_custom(|iters| rt.block_on(move || ours_mpsc_ping_pong(iters, false)))
    });
    g.bench_function("greenmongo-mpsc+oneshot", |b| {
        b.iter_custom(|iters| {
            rt.block_on(move || {
                let (req_tx, req_rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>();
                let ponger = coroutine::spawn_local(move || {
                    while let Ok((v, reply)) = req_rx.recv() {
                        let _ = reply.send(v);
                    }
                });
                let t = Instant::now();
                for i in 0..iters {
                    let (tx, rx) = oneshot::channel();
                    req_tx.send((i, tx)).expect("send");
                    black_box(rx.recv().expect("recv"));
                }
                let elapsed = t.elapsed();
                drop(req_tx);
                ponger.join().expect("ponger");
                elapsed
            })
        })
    });
    let rt2 = ours(2);
    g.bench_function("greenmongo-2w-mpsc", |b| {
        b.iter_custom(|iters| rt2.block_on(move || ours_mpsc_ping_pong(iters, true)))
    });
    let rt2 = Runtime::builder()
        .worker_threads(2)
        .idle_spin(Duration::from_micros(50))
        .build()
        .expect("greenmongo runtime");
    g.bench_function("greenmongo-2w-mpsc-spin", |b| {
        b.iter_custom(|iters| rt2.block_on(move || ours_mpsc_ping_pong(iters, true)))
    });
    let rt = tokio_ct();
    g.bench_function("tokio-ct-mpsc", |b| {
        b.iter_custom(|iters| rt.block_on(tokio_ping_pong(iters)))
    });
    let rt = tokio_mt();
    g.bench_function("tokio-mt-mpsc", |b| {
        b.iter_custom(|iters| on_tokio_worker(&rt, tokio_ping_pong(iters)))
    });
    g.bench_function("may-mpsc", |b| {
        b.iter_custom(|iters| {
            util::may_run(move || {
                let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
                let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
                // SAFETY: no thread-locals, tiny stack use.
                let ponger = unsafe {
                    may::coroutine::spawn(move || {
                        while let Ok(v) = ping_rx.recv() {
                            let _ = pong_tx.send(v);
                        }
                    })
                };
                let t = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).expect("send");
                    black_box(pong_rx.recv().expect("recv"));
                }
                let elapsed = t.elapsed();
                drop(ping_tx);
                ponger.join().expect("ponger");
                elapsed
            })
        })
    });
    g.finish();
}

/// Ping-pong over two unbounded `mpsc` channels; `spread` puts the ponger on the other
/// worker instead of this one.
fn ours_mpsc_ping_pong(iters: u64, spread: bool) -> Duration {
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let pong = move || {
        while let Ok(v) = ping_rx.recv() {
            let _ = pong_tx.send(v);
        }
    };
    let ponger = if spread {
        // Spawned from a plain thread, which goes to the workers in turn: right after
        // this `block_on` coroutine's spawn, it lands on the other worker, whatever
        // `coroutine::spawn`'s placement.
        let handle = Handle::try_current().expect("in the runtime");
        std::thread::scope(|s| s.spawn(|| handle.spawn(pong)).join().expect("spawner"))
    } else {
        coroutine::spawn_local(pong)
    };
    let t = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("send");
        black_box(pong_rx.recv().expect("recv"));
    }
    let elapsed = t.elapsed();
    drop(ping_tx);
    ponger.join().expect("ponger");
    elapsed
}

async fn tokio_ping_pong(iters: u64) -> Duration {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let ponger = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            let _ = pong_tx.send(v);
        }
    });
    let t = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("send");
        black_box(pong_rx.recv().await.expect("recv"));
    }
    let elapsed = t.elapsed();
    drop(ping_tx);
    ponger.await.expect("ponger");
    elapsed
}

criterion_group! {
    name = benches;
    config = util::micro();
    targets = yield_now, spawn_join, ping_pong
}
criterion_main!(benches);
