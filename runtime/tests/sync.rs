//! The sync primitives between coroutines on different workers and plain threads.

mod util;

use std::{sync::Arc, time::Duration};

use greenmongo_runtime::{
    coroutine, sleep, spawn_blocking,
    sync::{Mutex, Semaphore, WaitGroup, mpsc, oneshot},
};

#[test]
fn mpsc_carries_every_value_from_threads_and_coroutines() {
    let rt = util::runtime(2);
    let (tx, rx) = mpsc::bounded::<u64>(8);
    let thread_senders: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || (0..1000).for_each(|i| tx.send(t * 10_000 + i).unwrap()))
        })
        .collect();
    let coroutine_senders: Vec<_> = (4..8u64)
        .map(|t| {
            let tx = tx.clone();
            rt.spawn(move || (0..1000).for_each(|i| tx.send(t * 10_000 + i).unwrap()))
        })
        .collect();
    drop(tx);
    // The receiver is a coroutine.
    let mut got = rt.block_on(move || rx.iter().collect::<Vec<_>>());
    thread_senders.into_iter().for_each(|t| t.join().unwrap());
    coroutine_senders
        .into_iter()
        .for_each(|c| c.join().unwrap());
    got.sort_unstable();
    let mut want: Vec<u64> = (0..8u64)
        .flat_map(|t| (0..1000).map(move |i| t * 10_000 + i))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn dropping_senders_or_receivers_disconnects() {
    let (tx, rx) = mpsc::channel::<u8>();
    drop(tx);
    assert!(matches!(rx.recv(), Err(mpsc::RecvError::Disconnected)));
    let (tx, rx) = mpsc::channel::<u8>();
    drop(rx);
    assert!(matches!(tx.send(1), Err(mpsc::SendError::Disconnected(1))));
    let (tx, rx) = oneshot::channel::<u8>();
    drop(tx);
    assert!(matches!(rx.recv(), Err(oneshot::RecvError::Disconnected)));
}

#[test]
fn a_mutex_serialises_coroutines_on_two_workers_and_threads() {
    let rt = util::runtime(2);
    let counter = Arc::new(Mutex::new(0u64));
    let wg = WaitGroup::new();
    for _ in 0..200 {
        wg.add(1);
        let (c, wg) = (counter.clone(), wg.clone());
        rt.spawn(move || {
            for _ in 0..50 {
                let mut g = c.lock().unwrap();
                let v = *g;
                coroutine::yield_now(); // a race would lose increments here
                *g = v + 1;
            }
            wg.done();
        });
    }
    for _ in 0..2 {
        wg.add(1);
        let (c, wg) = (counter.clone(), wg.clone());
        std::thread::spawn(move || {
            for _ in 0..500 {
                *c.lock().unwrap() += 1;
            }
            wg.done();
        });
    }
    wg.wait().unwrap(); // a plain thread waits for coroutines
    assert_eq!(*counter.lock().unwrap(), 200 * 50 + 1000);
}

#[test]
fn semaphore_waiters_are_served_in_arrival_order() {
    let rt = util::runtime(1);
    let order = rt.block_on(|| {
        let sem = Arc::new(Semaphore::new(0));
        let (tx, rx) = mpsc::channel();
        for i in 0..20 {
            let (sem, tx) = (sem.clone(), tx.clone());
            coroutine::spawn_local(move || {
                let _p = sem.acquire().unwrap();
                tx.send(i).unwrap();
            });
            coroutine::yield_now(); // let it queue before the next one
        }
        drop(tx);
        sem.add_permits(1);
        rx.iter().collect::<Vec<_>>()
    });
    assert_eq!(order, (0..20).collect::<Vec<_>>());
}

#[test]
fn spawn_blocking_runs_off_the_worker() {
    let rt = util::runtime(1);
    let (worker_ran, result) = rt.block_on(|| {
        // While a blocking job blocks its pool thread, the single worker keeps running others.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let job = spawn_blocking(move || {
            blocked.recv().unwrap();
            std::thread::current().name().map(str::to_owned)
        });
        let other = coroutine::spawn_local(|| 1);
        let worker_ran = other.join().unwrap() == 1 && !job.is_finished();
        release.send(()).unwrap();
        (worker_ran, job.join().unwrap())
    });
    assert!(worker_ran);
    assert_eq!(result.as_deref(), Some("greenmongo-blocking"));
    assert!(rt.metrics().blocking_threads <= 1);
    // On a plain thread it just runs.
    assert_eq!(spawn_blocking(|| 5).join().unwrap(), 5);
}

#[test]
fn sleeping_coroutines_do_not_block_each_other() {
    let rt = util::runtime(1);
    let elapsed = rt.block_on(|| {
        let t = std::time::Instant::now();
        let hs: Vec<_> = (0..1000)
            .map(|_| coroutine::spawn(|| sleep(Duration::from_millis(50)).unwrap()))
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        t.elapsed()
    });
    // 1000 sequential sleeps would take 50 s.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

/// A value that records its own drop, so the test can check each is dropped exactly once.
struct Tracked(u32, Arc<Vec<std::sync::atomic::AtomicU8>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1[self.0 as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Oneshot senders and receivers racing each other from two workers and plain threads:
/// sends against receiver drops and against receives that time out, sender drops
/// against receives. Every value is received, handed back or dropped exactly once.
#[test]
fn oneshot_races_deliver_or_drop_every_value_exactly_once() {
    use std::sync::atomic::{AtomicU8, Ordering};

    const N: u32 = 12_000;
    let rt = util::runtime(2);
    let drops: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect());
    // Outcomes: received, handed back to the sender, neither; and timed receives.
    let (mut received, mut returned, mut neither) = (0, 0, 0);
    let (mut timed_received, mut timed_out) = (0, 0);
    for id in 0..N {
        let (tx, rx) = oneshot::channel::<Tracked>();
        let value = Tracked(id, drops.clone());
        // Both sides start together (spinning, so no wait of the runtime's is involved).
        // Past a short spin the side that came first yields its core: on a loaded machine
        // the other side may not be running, and a spinner would keep it off the core.
        let start = Arc::new(AtomicU8::new(0));
        let meet = move || {
            start.fetch_add(1, Ordering::AcqRel);
            let mut spins = 0u32;
            while start.load(Ordering::Acquire) < 2 {
                spins += 1;
                if spins < 1_000 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        };
        let meet_too = meet.clone();
        // Senders alternate between a coroutine and a plain thread; so do receivers.
        let send = move || match id % 4 {
            3 => {
                meet();
                drop(value);
                drop(tx); // dropped without sending
                None
            }
            _ => {
                meet();
                // Against a timed receive, linger 0 to 2 ms: either side may win.
                let linger =
                    Duration::from_micros(u64::from(id / 4 % 40) * 50 * u64::from(id % 4 == 2));
                let t = std::time::Instant::now();
                while t.elapsed() < linger {
                    std::hint::spin_loop();
                }
                tx.send(value).err()
            }
        };
        let receive = move || match (meet_too(), id % 4).1 {
            0 | 3 => match rx.recv() {
                Ok(v) => (Some(v), false),
                Err(oneshot::RecvError::Disconnected) => (None, false),
                Err(e) => panic!("unexpected {e}"),
            },
            1 => {
                drop(rx); // races the send
                (None, false)
            }
            _ => match greenmongo_runtime::time::with_timeout(Duration::from_micros(500), || {
                rx.recv()
            }) {
                Ok(v) => (Some(v), false),
                Err(oneshot::RecvError::Wait(e)) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
                    (None, true)
                }
                Err(e) => panic!("unexpected {e}"),
            },
        };
        let (back, got) = if id % 2 == 0 {
            let s = rt.spawn(send);
            let r = std::thread::spawn(receive);
            (s.join().unwrap(), r.join().unwrap())
        } else {
            let s = std::thread::spawn(send);
            let r = rt.spawn(receive);
            (s.join().unwrap(), r.join().unwrap())
        };
        let (got, timed) = got;
        match (back, got) {
            (Some(_), None) => returned += 1,
            (None, Some(v)) => {
                assert_eq!(v.0, id);
                received += 1;
                timed_received += u32::from(id % 4 == 2);
            }
            (None, None) => neither += 1,
            (Some(back), Some(got)) => panic!(
                "channel {id}: {} both sent back and received {}",
                back.0, got.0
            ),
        }
        timed_out += u32::from(timed);
    }
    for (id, count) in drops.iter().enumerate() {
        assert_eq!(
            count.load(Ordering::Relaxed),
            1,
            "value {id} dropped {count:?} times"
        );
    }
    eprintln!(
        "received {received}, handed back {returned}, neither {neither}; timed receives: {timed_received} received, {timed_out} timed out"
    );
    assert_eq!(received + returned + neither, N);
    // Every pattern ran, and each race went both ways.
    assert!(received >= N / 4 && neither >= N / 4 && returned > 0);
    assert!(timed_received > 0 && timed_out > 0);
}
