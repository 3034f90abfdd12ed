//! Feature `may`: the net types and sync primitives inside `may` coroutines.
#![cfg(feature = "may")]

mod util;

use std::{
    io::{Read, Write},
    sync::Arc,
    time::Duration,
};

use greenmongo_runtime::{
    net::{TcpListener, TcpStream},
    sleep,
    sync::{Mutex, mpsc},
    time::with_timeout,
};

/// Spawns on `may`.
fn go<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> may::coroutine::JoinHandle<T> {
    // SAFETY: the closures in these tests keep no thread-local state across waits, which
    // is what may's `spawn` asks (its coroutines may move between threads).
    unsafe { may::coroutine::spawn(f) }
}

#[test]
fn tcp_ping_pong_between_may_coroutines() {
    may::config().set_workers(2);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = go(move || {
        for _ in 0..50 {
            let (mut conn, _) = listener.accept().unwrap();
            go(move || {
                let mut buf = [0u8; 8];
                while conn.read_exact(&mut buf).is_ok() {
                    conn.write_all(&buf).unwrap();
                }
            });
        }
    });
    let clients: Vec<_> = (0..50u64)
        .map(|i| {
            go(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let mut sum = 0;
                for round in 0..20u64 {
                    s.write_all(&(i * 100 + round).to_le_bytes()).unwrap();
                    let mut back = [0u8; 8];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(u64::from_le_bytes(back), i * 100 + round);
                    sum += 1;
                }
                sum
            })
        })
        .collect();
    let total: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    server.join().unwrap();
    assert_eq!(total, 50 * 20);
}

#[test]
fn channels_and_locks_between_may_coroutines_and_ours() {
    may::config().set_workers(2);
    let rt = util::runtime(2);
    let (tx, rx) = mpsc::bounded::<u32>(4);
    let lock = Arc::new(Mutex::new(0u32));
    let may_lock = lock.clone();
    let producer = go(move || {
        for i in 0..500 {
            *may_lock.lock().unwrap() += 1;
            tx.send(i).unwrap(); // parks the may coroutine while full
        }
    });
    let our_lock = lock.clone();
    let sum = rt.block_on(move || {
        let mut sum = 0;
        while let Ok(v) = rx.recv() {
            *our_lock.lock().unwrap() += 1;
            sum += v;
        }
        sum
    });
    producer.join().unwrap();
    assert_eq!(sum, (0..500).sum::<u32>());
    assert_eq!(*lock.try_lock().unwrap(), 1000);
}

#[test]
fn deadlines_follow_the_may_coroutine() {
    may::config().set_workers(2);
    let h = go(|| {
        let r = with_timeout(Duration::from_millis(20), || sleep(Duration::from_secs(5)));
        (
            r.map_err(|e| e.kind()),
            greenmongo_runtime::time::deadline(),
        )
    });
    let (r, after) = h.join().unwrap();
    assert_eq!(r, Err(std::io::ErrorKind::TimedOut));
    assert_eq!(after, None);
}
