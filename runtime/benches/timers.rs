//! Adding and cancelling a timer, with none and with many timers pending, for
//! greenmongo-runtime, `may` and `tokio` side by side.
//!
//! Our runtime arms a timer only when a coroutine *parks* with a deadline (`time.rs`,
//! `park::park`): `with_timeout(.., yield_now)` never parks, so it would measure nothing.
//! So each function is a ping-pong between two coroutines where the pinger's receive runs
//! under a one-hour deadline: every round trip parks once with a deadline, which adds a
//! timer, and is woken by the pong long before it, which cancels it. The `-baseline`
//! function of each runtime is the same ping-pong without the deadline; the difference
//! is the cost of adding and cancelling one timer (with the clock reads that go with it).
//!
//! "Pending" timers belong to sleeping coroutines/tasks on the same worker, with
//! deadlines spread over 30–90 minutes, so the measured one-hour timer lands among them.
//! All three are measured at 0 and 25,000 pending; our runtime and tokio also at
//! 1,000,000 (`may` needs two memory mappings per sleeper's stack, and
//! `vm.max_map_count`, 65,530 by default, caps it near 32,000). Our sleepers take 16 KiB
//! stacks, about 4 KiB resident each: 4 GiB at a million.

mod util;

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use greenmongo_runtime::{Runtime, coroutine, sync::mpsc, time::with_timeout};

const LONG: Duration = Duration::from_secs(3600);
const FEW: usize = 25_000;
const MANY: usize = 1_000_000;

/// Deadlines spread over 30–90 minutes from now, deterministic.
fn spread(i: usize) -> Duration {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    Duration::from_secs(1800) + Duration::from_millis(x % 3_600_000)
}

fn ours(c: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, pending: usize) {
    let rt = Runtime::builder()
        .worker_threads(1)
        .build()
        .expect("greenmongo runtime");
    let parked = rt.block_on(move || {
        for i in 0..pending {
            let spawned = coroutine::Builder::new()
                .stack_size(16 * 1024)
                .spawn_local(move || greenmongo_runtime::sleep(spread(i)));
            drop(spawned); // detached: sleeps until the runtime drops
        }
        coroutine::yield_now(); // let every sleeper run once and park on its timer
        0
    });
    assert_eq!(parked, 0);
    let live = rt.metrics().coroutines();
    assert!(
        live >= pending,
        "only {live} of {pending} sleepers are live"
    );
    for (name, deadline) in [("greenmongo", true), ("greenmongo-baseline", false)] {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| rt.block_on(move || ours_ping_pong(iters, deadline)))
        });
    }
}

fn ours_ping_pong(iters: u64, deadline: bool) -> Duration {
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let ponger = coroutine::spawn_local(move || {
        while let Ok(v) = ping_rx.recv() {
            let _ = pong_tx.send(v);
        }
    });
    let t = Instant::now();
    for i in 0..iters {
        ping_tx.send(i).expect("send");
        let v = if deadline {
            with_timeout(LONG, || pong_rx.recv())
        } else {
            pong_rx.recv()
        };
        black_box(v.expect("recv"));
    }
    let elapsed = t.elapsed();
    drop(ping_tx);
    ponger.join().expect("ponger");
    elapsed
}

fn tokio(c: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, pending: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        for i in 0..pending {
            let started = started.clone();
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(spread(i)).await;
            });
        }
        while started.load(Ordering::Relaxed) < pending {
            tokio::task::yield_now().await;
        }
    });
    for (name, deadline) in [("tokio-ct", true), ("tokio-ct-baseline", false)] {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| rt.block_on(tokio_ping_pong(iters, deadline)))
        });
    }
    // Dropping a runtime with a million tasks takes a while; not measured.
    drop(rt);
}

async fn tokio_ping_pong(iters: u64, deadline: bool) -> Duration {
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
        let v = if deadline {
            tokio::time::timeout(LONG, pong_rx.recv())
                .await
                .expect("no timeout")
        } else {
            pong_rx.recv().await
        };
        black_box(v.expect("recv"));
    }
    let elapsed = t.elapsed();
    drop(ping_tx);
    ponger.await.expect("ponger");
    elapsed
}

fn may(c: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, pending: usize) {
    util::may_init();
    let started = Arc::new(AtomicUsize::new(0));
    let sleepers: Vec<_> = (0..pending)
        .map(|i| {
            let started = started.clone();
            // SAFETY: no thread-locals; a few hundred bytes of stack.
            unsafe {
                may::coroutine::spawn(move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    may::coroutine::sleep(spread(i));
                })
            }
        })
        .collect();
    while started.load(Ordering::Relaxed) < pending {
        std::thread::sleep(Duration::from_millis(1));
    }
    for (name, deadline) in [("may", true), ("may-baseline", false)] {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| util::may_run(move || may_ping_pong(iters, deadline)))
        });
    }
    for s in &sleepers {
        // SAFETY: cancelling a sleeping coroutine unwinds it; it holds nothing shared.
        unsafe { s.coroutine().cancel() };
    }
    for s in sleepers {
        let _ = s.join(); // Err: cancelled
    }
}

fn may_ping_pong(iters: u64, deadline: bool) -> Duration {
    let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
    // SAFETY: no thread-locals; tiny stack use.
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
        let v = if deadline {
            pong_rx.recv_timeout(LONG).expect("recv")
        } else {
            pong_rx.recv().expect("recv")
        };
        black_box(v);
    }
    let elapsed = t.elapsed();
    drop(ping_tx);
    ponger.join().expect("ponger");
    elapsed
}

/// `cargo test` runs each bench once to check it works (criterion's test mode, no
/// `--bench` argument): there the pending counts shrink, since filling a million timers
/// in a debug build takes minutes and checks nothing more.
fn scaled(pending: usize) -> usize {
    if std::env::args().any(|arg| arg == "--bench") {
        pending
    } else {
        pending.min(1_000)
    }
}

fn timers(c: &mut Criterion) {
    let (few, many) = (scaled(FEW), scaled(MANY));
    for pending in [0, few] {
        let mut g = c.benchmark_group(format!("timer_add_cancel/pending={pending}"));
        ours(&mut g, pending);
        tokio(&mut g, pending);
        may(&mut g, pending);
        g.finish();
    }
    let mut g = c.benchmark_group(format!("timer_add_cancel/pending={many}"));
    ours(&mut g, many);
    tokio(&mut g, many);
    g.finish();
}

criterion_group! {
    name = benches;
    config = util::micro();
    targets = timers
}
criterion_main!(benches);
