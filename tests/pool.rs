//! The connection pool with fake connections: what the CMAP spec tests do not cover —
//! failures and panics while establishing, interrupted connections (and interrupting
//! them: real sockets to a silent peer), waiters cut short by
//! deadlines or a runtime shutdown, many coroutines, and the maintenance task's life.

use std::{
    fs,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use greenmongo::{
    Error, ErrorKind,
    options::ServerAddress,
    pool::{
        CmapEvent, ConnectionClosedReason, Establishing, Pool, PoolConnection, PoolCounts,
        PoolOptions,
    },
    runtime::{
        Runtime, coroutine,
        net::{TcpListener, TcpStream},
        time::with_timeout,
    },
};

/// A fake connection; `broken` plays an operation interrupted mid-message.
struct Fake {
    broken: Arc<AtomicBool>,
}

impl PoolConnection for Fake {
    fn is_reusable(&self) -> bool {
        !self.broken.load(Ordering::SeqCst)
    }
}

fn fake(_: &ServerAddress, _: &Establishing) -> greenmongo::Result<Fake> {
    Ok(Fake {
        broken: Arc::new(AtomicBool::new(false)),
    })
}

/// Options that record every event into the returned list.
fn recording(options: &mut PoolOptions) -> Arc<Mutex<Vec<CmapEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    options.event_handler = Some(greenmongo::event::EventHandler::new(
        move |e: &CmapEvent| sink.lock().unwrap().push(e.clone()),
    ));
    events
}

fn closed_reasons(events: &Mutex<Vec<CmapEvent>>) -> Vec<ConnectionClosedReason> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CmapEvent::ConnectionClosed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

fn address() -> ServerAddress {
    ServerAddress::tcp("pool-test", 27017)
}

/// Polls `f` for up to five seconds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(5), "never: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn counts(total: usize, available: usize, checked_out: usize) -> (usize, usize, usize) {
    (total, available, checked_out)
}

fn triple(c: PoolCounts) -> (usize, usize, usize) {
    (c.total, c.available, c.checked_out)
}

#[test]
fn a_connection_that_is_not_reusable_is_closed_at_check_in() {
    let mut options = PoolOptions::default();
    let events = recording(&mut options);
    let pool = Pool::new(address(), options, fake);
    pool.ready();
    let conn = pool.check_out().unwrap();
    conn.broken.store(true, Ordering::SeqCst); // as if a reply were left half read
    drop(conn);
    assert_eq!(triple(pool.counts()), counts(0, 0, 0));
    assert_eq!(closed_reasons(&events), [ConnectionClosedReason::Error]);
    assert_eq!(
        pool.check_out().unwrap().id(),
        2,
        "a new connection, not the broken one"
    );
}

#[test]
fn a_failing_connect_fails_the_checkout_with_its_error_and_frees_the_slot() {
    let mut options = PoolOptions::default();
    options.max_pool_size = Some(1);
    let events = recording(&mut options);
    let fail = Arc::new(AtomicBool::new(true));
    let f = fail.clone();
    let pool = Pool::new(
        address(),
        options,
        move |a: &ServerAddress, g: &Establishing| {
            if f.load(Ordering::SeqCst) {
                Err(Error::internal("connection refused (fake)"))
            } else {
                fake(a, g)
            }
        },
    );
    pool.ready();
    let err = pool.check_out().unwrap_err();
    assert!(
        err.to_string().contains("connection refused (fake)"),
        "{err}"
    );
    assert_eq!(triple(pool.counts()), counts(0, 0, 0));
    assert_eq!(closed_reasons(&events), [ConnectionClosedReason::Error]);
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        CmapEvent::ConnectionCheckOutFailed { reason, .. } if reason.as_str() == "connectionError"
    )));
    fail.store(false, Ordering::SeqCst);
    assert_eq!(pool.check_out().unwrap().id(), 2);
}

#[test]
fn a_panicking_connect_gives_its_slot_back() {
    let mut options = PoolOptions::default();
    options.max_pool_size = Some(1);
    let events = recording(&mut options);
    let calls = AtomicUsize::new(0);
    let pool = Pool::new(
        address(),
        options,
        move |a: &ServerAddress, g: &Establishing| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("connect panicked (on purpose)");
            }
            fake(a, g)
        },
    );
    pool.ready();
    assert!(catch_unwind(AssertUnwindSafe(|| pool.check_out())).is_err());
    assert_eq!(triple(pool.counts()), counts(0, 0, 0));
    assert_eq!(closed_reasons(&events), [ConnectionClosedReason::Error]);
    assert!(
        pool.check_out().is_ok(),
        "the slot (maxPoolSize=1) is free again"
    );
}

#[test]
fn a_caller_deadline_while_waiting_is_a_timeout_that_leaves_the_queue() {
    let mut options = PoolOptions::default();
    options.max_pool_size = Some(1);
    let events = recording(&mut options);
    let pool = Arc::new(Pool::new(address(), options, fake));
    pool.ready();
    let held = pool.check_out().unwrap();
    let started = Instant::now();
    let err = with_timeout(Duration::from_millis(30), || pool.check_out()).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(30));
    match &*err.kind {
        ErrorKind::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{err}"),
        _ => panic!("expected a TimedOut I/O error, got {err}"),
    }
    assert_eq!(pool.counts().waiting, 0);
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        CmapEvent::ConnectionCheckOutFailed { reason, .. } if reason.as_str() == "timeout"
    )));
    drop(held);
    assert_eq!(
        pool.check_out().unwrap().id(),
        1,
        "the connection went back"
    );
}

#[test]
fn waiters_unwound_by_a_runtime_shutdown_leave_the_queue() {
    let mut options = PoolOptions::default();
    options.max_pool_size = Some(1);
    let pool = Arc::new(Pool::new(address(), options, fake));
    pool.ready();
    let held = pool.check_out().unwrap();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    for _ in 0..5 {
        let pool = pool.clone();
        rt.spawn(move || pool.check_out().map(drop));
    }
    eventually("five waiters", || pool.counts().waiting == 5);
    drop(rt); // unwinds the five parked coroutines
    assert_eq!(pool.counts().waiting, 0);
    drop(held);
    assert_eq!(triple(pool.counts()), counts(1, 1, 0));
    assert_eq!(pool.check_out().unwrap().id(), 1);
}

#[test]
fn ten_thousand_coroutines_share_ten_connections_in_turn() {
    let mut options = PoolOptions::default();
    options.max_pool_size = Some(10);
    let peak = Arc::new(AtomicUsize::new(0));
    let pool = Arc::new(Pool::new(address(), options, fake));
    pool.ready();
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let (p, pk) = (pool.clone(), peak.clone());
    let served: usize = rt.block_on(move || {
        let handles: Vec<_> = (0..10_000)
            .map(|_| {
                let (pool, peak) = (p.clone(), pk.clone());
                coroutine::spawn(move || {
                    let conn = pool.check_out().unwrap();
                    peak.fetch_max(pool.counts().total, Ordering::SeqCst);
                    coroutine::yield_now(); // hold it across a switch
                    drop(conn);
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map(|_| 1).unwrap())
            .sum()
    });
    assert_eq!(served, 10_000);
    assert!(peak.load(Ordering::SeqCst) <= 10);
    let c = pool.counts();
    assert_eq!((c.checked_out, c.waiting, c.pending), (0, 0, 0));
    assert!(c.total <= 10 && c.total == c.available, "{c:?}");
}

/// Threads named like the maintenance task (comm is cut to 15 bytes).
fn maintenance_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim() == "greenmongo-pool")
                .count()
        })
        .unwrap_or(0)
}

/// The only test here whose pools run maintenance on a thread (the others would disturb
/// the thread count).
#[test]
fn maintenance_thread_fills_prunes_and_ends_with_the_pool() {
    let before = maintenance_threads();

    let mut options = PoolOptions::default();
    options.min_pool_size = Some(3);
    options.maintenance_interval = Some(Duration::from_millis(10));
    let pool = Pool::new(address(), options, fake);
    eventually("a maintenance thread", || {
        maintenance_threads() == before + 1
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(pool.counts().total, 0, "a paused pool is not filled");
    pool.ready();
    eventually("minPoolSize connections", || pool.counts().available == 3);
    drop(pool);
    eventually("the thread ends with its pool", || {
        maintenance_threads() == before
    });

    let mut options = PoolOptions::default();
    options.max_idle_time = Some(Duration::from_millis(20));
    options.maintenance_interval = Some(Duration::from_millis(5));
    let events = recording(&mut options);
    let pool = Pool::new(address(), options, fake);
    pool.ready();
    drop(pool.check_out().unwrap());
    eventually("the idle connection is closed", || pool.counts().total == 0);
    assert_eq!(closed_reasons(&events), [ConnectionClosedReason::Idle]);
    pool.close();
    eventually("the thread ends with its closed pool", || {
        maintenance_threads() == before
    });
}

#[test]
fn maintenance_coroutine_ends_with_the_pool_and_never_keeps_its_runtime() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let mut options = PoolOptions::default();
    options.min_pool_size = Some(1);
    let o = options.clone();
    let pool = rt.block_on(move || {
        let pool = Pool::new(address(), o, fake);
        pool.ready();
        pool
    });
    eventually("filled by the coroutine", || pool.counts().available == 1);
    // Only the maintenance coroutine is left (polled: the block_on coroutine may take a
    // moment to be reaped after it returned).
    eventually("one coroutine", || rt.metrics().coroutines() == 1);
    drop(pool);
    eventually("the coroutine ends with its pool", || {
        rt.metrics().coroutines() == 0
    });

    let pool = rt.block_on(move || Pool::new(address(), options, fake));
    drop(rt); // returns: the maintenance coroutine does not hold the runtime
    pool.ready();
    assert_eq!(
        pool.check_out().unwrap().id(),
        1,
        "the pool works on without it"
    );
}

/// A real socket to a peer that never answers, registered for interruption.
struct Silent(TcpStream);

impl PoolConnection for Silent {
    fn is_reusable(&self) -> bool {
        true
    }
}

/// Checks out a connection to a silent peer, starts a read on it that would wait (up to
/// its 10 s read timeout), has another thread clear the pool with
/// `interrupt_in_use_connections`, and returns how the read ended.
fn interrupted_read() -> std::io::Result<usize> {
    use std::io::Read as _;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pool = Arc::new(Pool::new(
        ServerAddress::tcp("127.0.0.1", port),
        PoolOptions::default(),
        move |_: &ServerAddress, e: &Establishing| {
            let stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let socket = stream.try_clone()?;
            e.on_interrupt(move || {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            });
            Ok(Silent(stream))
        },
    ));
    pool.ready();
    let mut conn = pool.check_out().unwrap();
    let (_peer, _) = listener.accept().unwrap(); // kept open, never written to
    let clearing = pool.clone();
    let clear = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        clearing.clear(true);
    });
    let read = conn.0.read(&mut [0; 16]);
    clear.join().unwrap();
    read
}

#[test]
fn clear_with_interrupt_aborts_a_read_in_progress_in_a_coroutine() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    // A shut-down socket reads as end of stream, long before the read timeout.
    assert_eq!(rt.block_on(interrupted_read).unwrap(), 0);
}

#[test]
fn clear_with_interrupt_aborts_a_read_in_progress_on_a_thread() {
    assert_eq!(interrupted_read().unwrap(), 0);
}
