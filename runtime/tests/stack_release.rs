//! Ended coroutines give their stacks' pages back to the kernel once a worker keeps 1,024
//! idle stacks resident for reuse, also when fewer than a batch (64) end together: the
//! worker releases the rest at the end of its round instead of holding them.

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use greenmongo_runtime::{Runtime, sync::Semaphore};

/// Idle stacks a worker keeps resident (`WARM_LIMIT` in `coroutine/stack.rs`).
const WARM: usize = 1024;
/// Coroutines that end past that: fewer than a batch, so only the end-of-round release
/// frees their pages.
const EXTRA: usize = 40;
/// Stack each coroutine touches, so that its pages stand out from the heap's.
const TOUCH: usize = 128 * 1024;

fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn stacks_past_the_warm_limit_give_their_pages_back_when_their_coroutines_end() {
    let rt = Runtime::builder()
        .worker_threads(1)
        .stack_size(512 * 1024)
        .build()
        .expect("runtime");
    // Every other coroutine ends; the rest stay, so that no stack region empties (an
    // empty region is unmapped whole, which would give the pages back anyway).
    let (ending, staying) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
    let n = 2 * (WARM + EXTRA);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let gate = if i % 2 == 0 { &staying } else { &ending }.clone();
            rt.spawn(move || {
                let touched = [1u8; TOUCH];
                black_box(&touched);
                gate.acquire().expect("a permit").forget();
            })
        })
        .collect();
    // Not timing assertions: bounds so that a lost coroutine fails instead of hanging.
    let until = Instant::now() + Duration::from_secs(120);
    while ending.waiters() + staying.waiters() < n {
        assert!(Instant::now() < until, "not all parked");
        std::thread::sleep(Duration::from_millis(5));
    }
    let parked = rss_kib();
    ending.add_permits(WARM + EXTRA);
    while rt.metrics().coroutines() > WARM + EXTRA {
        assert!(Instant::now() < until, "{} left", rt.metrics().coroutines());
        std::thread::sleep(Duration::from_millis(5));
    }
    // The worker releases the last stacks at the end of the round in which they ended,
    // before it publishes that they ended, which `metrics` reads.
    let ended = rss_kib();
    let freed = parked.saturating_sub(ended);
    eprintln!("VmRSS {parked} KiB parked, {ended} KiB after; {freed} KiB given back");
    assert!(
        freed >= EXTRA * TOUCH / 1024 * 3 / 4,
        "only {freed} KiB given back; the {EXTRA} stacks past the warm limit hold {} KiB",
        EXTRA * TOUCH / 1024
    );
    staying.add_permits(WARM + EXTRA);
    for handle in handles {
        handle.join().expect("joined");
    }
}
