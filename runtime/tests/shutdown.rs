//! Dropping a runtime stops its workers and unwinds suspended coroutines.

mod util;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use greenmongo_runtime::{coroutine, sleep, sync::Mutex};

struct CountOnDrop(Arc<AtomicUsize>);
impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_runtime_runs_destructors_of_suspended_coroutines() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = util::runtime(2);
    let lock = Arc::new(Mutex::new(()));
    // Held before any coroutine runs, so every odd one really parks on it.
    let _held = lock.try_lock().unwrap();
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let guard = CountOnDrop(dropped.clone());
            let lock = lock.clone();
            rt.spawn(move || {
                let _guard = guard;
                if i % 2 == 0 {
                    sleep(Duration::from_secs(3600)).unwrap_err()
                } else {
                    // Parked on a lock the test holds.
                    lock.lock().map(|_| ()).unwrap_err()
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
    for h in handles {
        assert!(h.join().unwrap_err().is_cancelled());
    }
}

#[test]
fn waits_in_destructors_during_shutdown_fail_instead_of_hanging() {
    struct SleepOnDrop(Arc<AtomicUsize>);
    impl Drop for SleepOnDrop {
        fn drop(&mut self) {
            if sleep(Duration::from_secs(3600)).is_err() {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let failed = Arc::new(AtomicUsize::new(0));
    let rt = util::runtime(1);
    let f = failed.clone();
    rt.spawn(move || {
        let _d = SleepOnDrop(f);
        sleep(Duration::from_secs(3600)).unwrap_err();
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(rt);
    assert_eq!(failed.load(Ordering::SeqCst), 1);
}

#[test]
fn spawning_through_a_handle_after_drop_reports_cancelled() {
    let rt = util::runtime(1);
    let handle = rt.handle();
    drop(rt);
    assert!(handle.spawn(|| 1).join().unwrap_err().is_cancelled());
}

#[test]
fn a_never_started_coroutine_drops_its_closure() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = util::runtime(1);
    let d = dropped.clone();
    rt.block_on(move || {
        let guard = CountOnDrop(d);
        coroutine::spawn_local(move || drop(guard));
        // Block the worker's queue: the spawned one never gets to run before shutdown.
    });
    drop(rt);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

/// A socket first waited on in a runtime since dropped still works in another: its
/// registration with the dead worker's reactor is replaced by one with the worker that
/// waits now (a driver's pooled connection outliving the runtime it was made in).
#[test]
fn a_socket_outlives_the_runtime_it_was_first_waited_in() {
    use std::io::{Read, Write};

    use greenmongo_runtime::net::TcpStream;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        for _ in 0..2 {
            peer.read_exact(&mut buf).unwrap();
            peer.write_all(&buf).unwrap();
        }
    });
    let round_trip = |stream: &mut TcpStream, msg: &[u8; 4]| {
        stream.write_all(msg).unwrap();
        let mut got = [0u8; 4];
        stream.read_exact(&mut got).unwrap(); // waits: registers with this worker
        assert_eq!(&got, msg);
    };
    let first = util::runtime(1);
    let mut stream = first.block_on(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        round_trip(&mut stream, b"ping");
        stream
    });
    drop(first);
    let second = util::runtime(1);
    let done = second.block_on(move || {
        greenmongo_runtime::time::with_timeout(Duration::from_secs(5), || {
            round_trip(&mut stream, b"pong");
        });
        true
    });
    assert!(done);
    echo.join().unwrap();
}
