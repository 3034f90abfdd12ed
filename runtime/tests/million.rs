//! A million coroutines with guard pages on two workers, under the default
//! `vm.max_map_count` (65,530): where the kernel has guard markers (Linux 6.13+), a stack
//! takes no memory mapping of its own. Skipped, with the reason printed, on older kernels
//! (there each guarded stack takes two mappings and a process stops near 32,000).

mod util;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use greenmongo_runtime::{coroutine, sync::Semaphore};

const COROUTINES: usize = 1_000_000;

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .count()
}

fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_million_guarded_coroutines_park_and_finish_under_the_default_map_count() {
    if !coroutine::guard_pages_are_markers() {
        eprintln!(
            "skipped: this kernel has no guard markers (MADV_GUARD_INSTALL, Linux 6.13+), so \
             each coroutine stack takes two memory mappings and a million cannot exist under \
             vm.max_map_count"
        );
        return;
    }
    let rt = util::runtime(2);
    let gate = Arc::new(Semaphore::new(0));
    let handles: Vec<_> = (0..COROUTINES)
        .map(|i| {
            let gate = gate.clone();
            rt.spawn(move || {
                gate.acquire().expect("a permit").forget();
                i
            })
        })
        .collect();
    // Not a timing assertion: a bound so that a lost coroutine fails instead of hanging.
    let until = Instant::now() + Duration::from_secs(600);
    while gate.waiters() < COROUTINES {
        assert!(
            Instant::now() < until,
            "{} of {COROUTINES} coroutines parked",
            gate.waiters()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let maps = mappings();
    eprintln!(
        "{COROUTINES} coroutines parked: {maps} memory mappings, VmRSS {} MiB, VmPTE {} MiB",
        status_kib("VmRSS") / 1024,
        status_kib("VmPTE") / 1024
    );
    // Two per stack would be 2,000,000; regions of 64 to 1,024 stacks make under 2,000
    // (fewer, as adjacent ones merge).
    assert!(
        maps < 20_000,
        "{maps} memory mappings for {COROUTINES} stacks"
    );
    assert_eq!(rt.metrics().coroutines(), COROUTINES);
    gate.add_permits(COROUTINES);
    let sum: usize = handles.into_iter().map(|h| h.join().expect("joined")).sum();
    assert_eq!(sum, COROUTINES * (COROUTINES - 1) / 2);
    // A joiner can return before the worker has released the finished coroutine's slot.
    while rt.metrics().coroutines() > 0 {
        assert!(
            Instant::now() < until,
            "{} coroutines left",
            rt.metrics().coroutines()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
