//! Where `coroutine::spawn` runs a coroutine: queued on the spawning worker, in order,
//! and taken by an idle worker while the spawning one is busy.

mod util;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use greenmongo_runtime::coroutine;

fn thread_name() -> String {
    thread::current().name().unwrap_or("?").to_owned()
}

#[test]
fn an_idle_worker_takes_spawns_that_a_busy_worker_has_not_started() {
    let rt = util::runtime(2);
    let (spawner, ran_on) = rt.block_on(|| {
        let started = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let started = started.clone();
                coroutine::spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    thread_name()
                })
            })
            .collect();
        // Hold this worker without yielding: only the other worker can start them.
        let deadline = Instant::now() + Duration::from_secs(30);
        while started.load(Ordering::SeqCst) < 4 {
            assert!(Instant::now() < deadline, "no idle worker took the spawns");
            std::hint::spin_loop();
        }
        let names: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (thread_name(), names)
    });
    for name in &ran_on {
        assert_ne!(name, &spawner, "started on the busy worker");
    }
}

#[test]
fn spawns_start_in_the_order_they_were_made() {
    for workers in [1, 2] {
        let rt = util::runtime(workers);
        let order = rt.block_on(|| {
            let order = Arc::new(Mutex::new(Vec::new()));
            let handles: Vec<_> = (0..100)
                .map(|i| {
                    let order = order.clone();
                    coroutine::spawn(move || order.lock().unwrap().push((i, thread_name())))
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            Arc::try_unwrap(order).unwrap().into_inner().unwrap()
        });
        assert_eq!(order.len(), 100);
        // Per worker, in spawn order (a worker's own and its stolen spawns are each FIFO).
        let mut last = std::collections::HashMap::new();
        for (i, name) in order {
            if let Some(prev) = last.insert(name, i) {
                assert!(prev < i, "{workers} workers: {i} started after {prev}");
            }
        }
    }
}
