//! Heap allocations per spawn, counted by a global allocator: a spawn + join in steady
//! state allocates once (the join channel, which also holds the closure). The coroutine's
//! stack comes from the worker's pool and its task record is the one its slot kept from
//! the slot's last coroutine. One test in this binary, so that no other test's threads
//! allocate while it counts.

mod util;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    sync::atomic::{AtomicUsize, Ordering},
};

use greenmongo_runtime::coroutine;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes straight to `System`; the counter has no other effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_spawn_and_join_allocates_once() {
    const SPAWNS: usize = 10_000;
    let rt = util::runtime(1);
    let counts = rt.block_on(|| {
        let spawn_join = |n: usize| {
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for i in 0..n {
                let local = coroutine::spawn_local(move || black_box(i));
                black_box(local.join().expect("join"));
                let shared = coroutine::spawn(move || black_box(i));
                black_box(shared.join().expect("join"));
            }
            ALLOCATIONS.load(Ordering::Relaxed) - before
        };
        spawn_join(100); // the pool's stack, the slots, the queues: made once
        spawn_join(SPAWNS)
    });
    // Two spawns per round. A few more allocations may come from the worker's loop
    // between rounds (its dump registry growing), never one per spawn.
    let per_spawn = counts as f64 / (2 * SPAWNS) as f64;
    assert!(
        (1.0..1.01).contains(&per_spawn),
        "{counts} allocations for {} spawns: {per_spawn:.3} each",
        2 * SPAWNS
    );
}
