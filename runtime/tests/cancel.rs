//! Waiters that give up leave no state behind: no lock held, no permit or wake-up lost.

mod util;

use std::{sync::Arc, time::Duration};

use greenmongo_runtime::{
    coroutine, sleep,
    sync::{Condvar, Mutex, Semaphore, mpsc},
    time::with_timeout,
};

#[test]
fn a_permit_handed_to_a_timed_out_waiter_passes_on() {
    let rt = util::runtime(2);
    let ok = rt.block_on(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().acquire_owned().unwrap();
        // 200 waiters queue; half give up early, half wait.
        let waiters: Vec<_> = (0..200)
            .map(|i| {
                let sem = sem.clone();
                coroutine::spawn(move || {
                    let patience = if i % 2 == 0 {
                        Duration::from_millis(20)
                    } else {
                        Duration::from_secs(30)
                    };
                    with_timeout(patience, || {
                        sem.acquire().map(|_p| sleep(Duration::from_micros(50)))
                    })
                    .is_ok()
                })
            })
            .collect();
        sleep(Duration::from_millis(60)).unwrap();
        drop(held);
        let got: Vec<bool> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        let patient_ok = got.iter().skip(1).step_by(2).all(|ok| *ok);
        patient_ok && sem.available_permits() == 1 && sem.waiters() == 0
    });
    assert!(ok, "every patient waiter got the permit and it came back");
}

#[test]
fn mutex_under_churn_with_timeouts_never_deadlocks() {
    let rt = util::runtime(2);
    let mutex = Arc::new(Mutex::new(0u64));
    let m = mutex.clone();
    let (ok, timed_out) = rt.block_on(move || {
        let hs: Vec<_> = (0..500)
            .map(|i| {
                let m = m.clone();
                coroutine::spawn(move || {
                    let patience = Duration::from_micros(200 + (i % 7) * 300);
                    match with_timeout(patience, || m.lock()) {
                        Ok(mut g) => {
                            *g += 1;
                            if i % 3 == 0 {
                                coroutine::yield_now(); // hold it across a switch
                            }
                            true
                        }
                        Err(_) => false,
                    }
                })
            })
            .collect();
        let results: Vec<bool> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        (
            results.iter().filter(|r| **r).count() as u64,
            results.iter().filter(|r| !**r).count(),
        )
    });
    assert_eq!(*mutex.try_lock().expect("free at the end"), ok);
    assert_eq!(ok as usize + timed_out, 500);
}

#[test]
fn a_notify_swallowed_by_a_timed_out_condvar_waiter_passes_on() {
    let rt = util::runtime(1);
    let woke = rt.block_on(|| {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let (p1, p2) = (pair.clone(), pair.clone());
        // The first waiter will time out; the second waits patiently.
        let impatient = coroutine::spawn_local(move || {
            let g = p1.0.lock().unwrap();
            with_timeout(Duration::from_millis(30), || p1.1.wait(g).map(|_| ())).is_err()
        });
        let patient = coroutine::spawn_local(move || {
            let g = p2.0.lock().unwrap();
            with_timeout(Duration::from_secs(5), || p2.1.wait(g).map(|_| ())).is_ok()
        });
        coroutine::yield_now(); // both are registered now
        pair.1.notify_one(); // goes to the impatient (oldest) waiter...
        // ...which is still parked; it will take its wake-up, so the patient one must not
        // depend on it: notify again after the impatient one is gone.
        let impatient_timed_out = impatient.join().unwrap();
        pair.1.notify_one();
        (impatient_timed_out, patient.join().unwrap())
    });
    assert_eq!(woke, (false, true));
}

#[test]
fn a_bounded_channel_keeps_every_value_under_sender_timeouts() {
    let rt = util::runtime(2);
    let (sent, received) = rt.block_on(|| {
        let (tx, rx) = mpsc::bounded::<u32>(2);
        let senders: Vec<_> = (0..50u32)
            .map(|i| {
                let tx = tx.clone();
                coroutine::spawn(move || {
                    with_timeout(Duration::from_millis(5 + u64::from(i % 5) * 10), || {
                        tx.send(i)
                    })
                    .is_ok()
                })
            })
            .collect();
        drop(tx);
        sleep(Duration::from_millis(20)).unwrap();
        let received: Vec<u32> = rx.iter().collect();
        let sent = senders
            .into_iter()
            .filter(|_| true)
            .map(|s| s.join().unwrap())
            .filter(|ok| *ok)
            .count();
        (sent, received.len())
    });
    assert_eq!(
        sent, received,
        "every value whose send succeeded was received"
    );
}
