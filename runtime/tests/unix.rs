//! Unix domain sockets in coroutines and on threads.

mod util;

use std::{
    io::{ErrorKind, Read, Write},
    sync::Arc,
    time::{Duration, Instant},
};

use greenmongo_runtime::{
    Runtime,
    coroutine::{self, WaitKind},
    net::{UnixListener, UnixStream},
    time::with_timeout,
};

#[test]
fn unix_echo_between_coroutines() {
    let path = std::env::temp_dir().join(format!("gm-unix-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let rt = util::runtime(2);
    let p = path.clone();
    let total: usize = rt.block_on(move || {
        let server = coroutine::spawn(move || {
            for _ in 0..100 {
                let (mut conn, _) = listener.accept().unwrap();
                coroutine::spawn(move || {
                    let mut buf = [0u8; 16];
                    let n = conn.read(&mut buf).unwrap();
                    conn.write_all(&buf[..n]).unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..100usize)
            .map(|i| {
                let p = p.clone();
                coroutine::spawn(move || {
                    let mut s = UnixStream::connect(&p).unwrap();
                    s.write_all(&i.to_le_bytes()).unwrap();
                    let mut back = [0u8; 8];
                    s.read_exact(&mut back).unwrap();
                    usize::from_le_bytes(back)
                })
            })
            .collect();
        let total = clients.into_iter().map(|c| c.join().unwrap()).sum();
        server.join().unwrap();
        total
    });
    assert_eq!(total, 4950);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_pair_works_across_a_thread_and_a_coroutine() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let rt = util::runtime(1);
    let h = rt.spawn(move || {
        let mut b = b;
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).unwrap();
        b.write_all(&buf).unwrap();
    });
    a.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    h.join().unwrap();
}

/// Waits (bounded) until `n` coroutines of `rt` are parked reading a socket.
fn until_reading(rt: &Runtime, n: usize) {
    let by = Instant::now() + Duration::from_secs(10);
    let reading = || {
        rt.dump()
            .iter()
            .filter(|c| matches!(c.wait, WaitKind::Socket { write: false, .. }))
            .count()
    };
    while reading() < n {
        assert!(
            Instant::now() < by,
            "{n} readers never parked: {}",
            rt.dump_string()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Two coroutines read one socket (a shared `&UnixStream`). The one whose timeout
/// passes leaves without taking the other's place in the socket's waiters: the byte
/// written after it left goes to the other. Then two readers wait again, and one write
/// of two bytes wakes both.
#[test]
fn coroutines_reading_one_socket_are_each_woken_and_one_timing_out_leaves_the_other() {
    let rt = util::runtime(1);
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let ours = Arc::new(ours);
    // Bounded, so that a waiter lost by the socket fails the test instead of hanging it.
    let read_one = |s: Arc<UnixStream>| {
        move || {
            with_timeout(Duration::from_secs(10), || {
                let mut byte = [0u8; 1];
                (&*s).read(&mut byte).map(|n| (n, byte[0]))
            })
        }
    };
    let patient = rt.spawn(read_one(ours.clone()));
    let impatient = {
        let read = read_one(ours.clone());
        rt.spawn(move || with_timeout(Duration::from_millis(50), read))
    };
    // The patient reader parks first (one worker, spawned first), so it is waiting when
    // the other's timeout removes that one.
    let left = impatient.join().unwrap();
    assert_eq!(left.unwrap_err().kind(), ErrorKind::TimedOut);
    peer.write_all(b"a").unwrap();
    assert_eq!(patient.join().unwrap().unwrap(), (1, b'a'));

    let readers = [
        rt.spawn(read_one(ours.clone())),
        rt.spawn(read_one(ours.clone())),
    ];
    until_reading(&rt, 2);
    peer.write_all(b"bc").unwrap();
    let mut got: Vec<u8> = readers
        .into_iter()
        .map(|r| {
            let (n, byte) = r.join().unwrap().unwrap();
            assert_eq!(n, 1);
            byte
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, b"bc");
}
