//! `with_timeout` interrupts every kind of wait, in coroutines and on threads.

mod util;

use std::{
    io::Read,
    sync::Arc,
    time::{Duration, Instant},
};

use greenmongo_runtime::{
    coroutine,
    net::{TcpListener, TcpStream},
    sleep,
    sync::{Condvar, Mutex, Semaphore, WaitGroup, mpsc, oneshot},
    time::{deadline, with_timeout},
};
use util::{SHORT, assert_timed_out};

/// Runs `check` once in a coroutine and once on a plain thread.
fn in_both(check: impl Fn() + Send + Sync + 'static) {
    let check = Arc::new(check);
    let c = check.clone();
    std::thread::spawn(move || c()).join().unwrap();
    util::runtime(2).block_on(move || check());
}

#[test]
fn sleep_is_interrupted() {
    in_both(|| {
        let t = Instant::now();
        assert_timed_out(with_timeout(SHORT, || sleep(Duration::from_secs(10))));
        assert!(t.elapsed() < Duration::from_secs(5));
        // A sleep that ends before the deadline is fine.
        with_timeout(Duration::from_secs(10), || sleep(Duration::from_millis(1))).unwrap();
    });
}

#[test]
fn socket_reads_and_accepts_are_interrupted() {
    in_both(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_timed_out(with_timeout(SHORT, || listener.accept()));
        let addr = listener.local_addr().unwrap();
        let mut stream = TcpStream::connect(addr).unwrap();
        let _server_side = listener.accept().unwrap();
        assert_timed_out(with_timeout(SHORT, || stream.read(&mut [0u8; 8])));
    });
}

#[test]
fn locks_are_interrupted() {
    in_both(|| {
        let mutex = Arc::new(Mutex::new(()));
        let sem = Arc::new(Semaphore::new(1));
        let (m, s) = (mutex.clone(), sem.clone());
        let (locked_tx, locked_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _g = m.lock().unwrap();
            let _p = s.acquire().unwrap();
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        locked_rx.recv().unwrap();
        assert_timed_out(with_timeout(SHORT, || mutex.lock().map(|_| ())));
        assert_timed_out(with_timeout(SHORT, || sem.acquire().map(|_| ())));
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        // Nothing was left behind: both are free again.
        drop(mutex.try_lock().expect("mutex free"));
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn condvar_channel_wait_group_and_join_are_interrupted() {
    in_both(|| {
        let pair = (Mutex::new(false), Condvar::new());
        let guard = pair.0.lock().unwrap();
        assert_timed_out(with_timeout(SHORT, || pair.1.wait(guard).map(|_| ())));
        assert!(
            pair.0.try_lock().is_some(),
            "the timed-out wait released the mutex"
        );

        let (_tx, rx) = mpsc::channel::<u8>();
        let err = with_timeout(SHORT, || rx.recv()).unwrap_err();
        assert!(
            matches!(err, mpsc::RecvError::Wait(ref e) if e.kind() == std::io::ErrorKind::TimedOut),
            "{err}"
        );

        let (tx, _rx) = mpsc::bounded::<u8>(1);
        tx.send(1).unwrap();
        let err = with_timeout(SHORT, || tx.send(2)).unwrap_err();
        assert_eq!(err.into_inner(), 2, "the value comes back");

        let (_tx, rx) = oneshot::channel::<u8>();
        assert!(with_timeout(SHORT, || rx.recv()).is_err());

        let wg = WaitGroup::new();
        wg.add(1);
        assert_timed_out(with_timeout(SHORT, || wg.wait()));
    });
    // join, from a coroutine and from a thread
    let rt = util::runtime(2);
    let h = rt.spawn(|| sleep(Duration::from_secs(1)));
    let err = with_timeout(SHORT, || h.join()).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let err = rt.block_on(|| {
        let h = coroutine::spawn(|| sleep(Duration::from_secs(1)));
        with_timeout(SHORT, || h.join()).unwrap_err()
    });
    assert!(err.is_timeout(), "{err}");
}

#[test]
fn nested_deadlines_take_the_earliest_and_restore_the_outer() {
    in_both(|| {
        let outer = Instant::now() + Duration::from_secs(60);
        with_timeout(Duration::from_secs(60), || {
            let before = deadline().unwrap();
            assert!(before <= outer + Duration::from_millis(5));
            with_timeout(SHORT, || {
                assert!(deadline().unwrap() < before);
                // An inner, longer timeout does not extend the outer one.
                with_timeout(Duration::from_secs(3600), || {
                    assert!(deadline().unwrap() < before)
                });
                assert_timed_out(sleep(Duration::from_secs(10)));
            });
            assert_eq!(deadline(), Some(before));
        });
        assert_eq!(deadline(), None);
    });
}

#[test]
fn deadlines_are_per_coroutine() {
    let rt = util::runtime(1);
    rt.block_on(|| {
        let other = coroutine::spawn_local(|| {
            // Runs while its spawner is inside a short with_timeout; must not inherit it.
            sleep(Duration::from_millis(80)).unwrap();
            deadline()
        });
        assert_timed_out(with_timeout(SHORT, || sleep(Duration::from_secs(1))));
        assert_eq!(other.join().unwrap(), None);
    });
}
