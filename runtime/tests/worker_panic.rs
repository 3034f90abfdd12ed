//! A worker thread that panics (not a coroutine: a coroutine's panic reaches its joiner)
//! ends like a runtime shutdown of that worker: its suspended coroutines are unwound with
//! the worker still intact, their joiners see "cancelled", later spawns onto it fail at
//! once instead of hanging, and sockets it had registered work from another runtime.
//!
//! The one way safe code takes a worker down: a coroutine nobody joins returns a value
//! whose destructor panics. The value is dropped on the coroutine's way out, after the
//! catch around its closure, so the panic leaves `Coroutine::resume` on the worker.

mod util;

use std::{
    io::{Read, Write},
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use greenmongo_runtime::{
    Runtime,
    coroutine::WaitKind,
    net::TcpStream,
    sleep,
    sync::{Mutex, oneshot},
    time::with_timeout,
};

/// How long any wait of these tests may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(10);

/// Panics when dropped.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("Bomb dropped: a destructor panicking on the worker thread");
    }
}

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Makes a worker of `rt` panic: a detached coroutine returns a [`Bomb`]. It waits for
/// a go-ahead first, so its handle is surely dropped (and the value unwanted) by then.
fn blow_up_a_worker(rt: &Runtime) {
    let (go, wait) = oneshot::channel::<()>();
    let detached = rt.spawn(move || {
        let _ = wait.recv();
        Bomb
    });
    drop(detached);
    go.send(()).unwrap();
}

/// Runs `f` on a helper thread; `None` if it has not returned within [`HANG`].
fn within_hang_limit<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG).ok()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + HANG;
    while !f() {
        assert!(Instant::now() < until, "{what}: not true after {HANG:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_worker_panic_unwinds_its_suspended_coroutines_and_cancels_their_joiners() {
    let rt = util::runtime(1);
    let dropped = Arc::new(AtomicUsize::new(0));
    let lock = Arc::new(Mutex::new(0u32));
    // A peer that accepts and never writes: a read from it parks on the reactor.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();

    let mut handles = Vec::new();
    // One coroutine holds the lock while it sleeps; three wait for the lock: unwinding
    // the holder wakes them, on the same worker, while that worker is going down.
    let (locked, is_locked) = oneshot::channel();
    {
        let (lock, guard) = (lock.clone(), CountOnDrop(dropped.clone()));
        handles.push(rt.spawn(move || {
            let _guard = guard;
            let _held = lock.lock().unwrap();
            locked.send(()).unwrap();
            let _ = sleep(Duration::from_secs(3600));
        }));
    }
    is_locked.recv().unwrap();
    for _ in 0..3 {
        let (lock, guard) = (lock.clone(), CountOnDrop(dropped.clone()));
        handles.push(rt.spawn(move || {
            let _guard = guard;
            if let Ok(mut n) = lock.lock() {
                *n += 1;
            }
        }));
    }
    {
        let guard = CountOnDrop(dropped.clone());
        handles.push(rt.spawn(move || {
            let _guard = guard;
            let mut stream = TcpStream::connect(addr).unwrap();
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte);
        }));
    }
    let (_peer, _) = silent.accept().unwrap();
    wait_for("three lock waiters and a socket reader parked", || {
        let dump = rt.dump();
        dump.iter().filter(|c| c.wait == WaitKind::Lock).count() == 3
            && dump
                .iter()
                .any(|c| matches!(c.wait, WaitKind::Socket { write: false, .. }))
    });

    blow_up_a_worker(&rt);

    wait_for("every suspended coroutine unwound", || {
        dropped.load(Ordering::SeqCst) == 5
    });
    for handle in handles {
        let joined = within_hang_limit(move || handle.join().map(drop))
            .expect("the join of a coroutine of the dead worker hangs");
        let err = joined.expect_err("the coroutine was unwound, not finished");
        assert!(err.is_cancelled(), "not reported as cancelled: {err}");
    }
    // The runtime's only worker is gone: a spawn onto it fails at once, not never.
    let later = rt.spawn(|| 1);
    let joined = within_hang_limit(move || later.join())
        .expect("a spawn onto the dead worker hangs its joiner");
    assert!(joined.expect_err("no worker runs it").is_cancelled());
    within_hang_limit(move || drop(rt)).expect("dropping the runtime hangs");
}

#[test]
fn a_socket_first_waited_on_by_a_panicked_worker_works_from_another_runtime() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let first = util::runtime(1);
    let (ready, is_ready) = oneshot::channel();
    let reader = first.spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        ready.send(()).unwrap();
        // Waits for the byte: the socket is now registered with this worker's reactor.
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
        (stream, byte[0])
    });
    let (mut peer, _) = listener.accept().unwrap();
    is_ready.recv().unwrap();
    thread::sleep(Duration::from_millis(20)); // let it park on the reactor
    peer.write_all(b"a").unwrap();
    let (mut stream, byte) = reader.join().unwrap();
    assert_eq!(byte, b'a');

    // A sleeper on the same worker: its destructor runs once the worker is gone.
    let unwound = Arc::new(AtomicUsize::new(0));
    let guard = CountOnDrop(unwound.clone());
    let _sleeper = first.spawn(move || {
        let _guard = guard;
        let _ = sleep(Duration::from_secs(3600));
    });
    blow_up_a_worker(&first);
    wait_for("the worker's coroutines unwound", || {
        unwound.load(Ordering::SeqCst) == 1
    });

    let second = util::runtime(1);
    let peer_thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50)); // the reader waits first
        peer.write_all(b"b").unwrap();
        peer
    });
    let read = second.block_on(move || {
        with_timeout(Duration::from_secs(5), || {
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).map(|()| byte[0])
        })
    });
    let _peer = peer_thread.join().unwrap();
    assert_eq!(
        read.expect("the read waits on the dead worker's reactor"),
        b'b'
    );
    drop(first);
}
