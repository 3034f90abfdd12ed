//! Streams on io_uring (`Builder::io_uring`): bytes arrive whole and in order, a timeout
//! loses nothing, and a runtime shuts down with operations in flight.
//!
//! Each test skips, saying why, on a kernel or sandbox without io_uring, except with
//! `CI=true`: the project's CI machines have it, so there a refusal fails the test.

mod util;

use std::{
    io::{self, Read, Write},
    net::Shutdown,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use greenmongo_runtime::{
    Builder, Runtime, coroutine,
    net::{TcpListener, TcpStream, UnixStream},
    sync::WaitGroup,
    time::with_timeout,
};

/// A runtime with io_uring, or `None` (after saying why) where it is refused.
fn runtime(workers: usize) -> Option<Runtime> {
    build(Runtime::builder().worker_threads(workers).io_uring(true))
}

fn build(builder: Builder) -> Option<Runtime> {
    match builder.build() {
        Ok(rt) => Some(rt),
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("CI machines have io_uring: {e}"),
    }
}

#[test]
fn many_connections_ping_pong_through_the_rings() {
    util::raise_fd_limit();
    let Some(rt) = runtime(2) else { return };
    const CONNECTIONS: usize = 200;
    const ROUNDS: usize = 50;
    let verified = rt.block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = coroutine::spawn(move || {
            for _ in 0..CONNECTIONS {
                let (conn, _) = listener.accept().unwrap();
                coroutine::spawn(move || util::serve(conn));
            }
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|id| {
                coroutine::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    stream.set_nodelay(true).unwrap();
                    for round in 0..ROUNDS {
                        let sent = util::message(id, round);
                        stream.write_all(&sent).unwrap();
                        let mut got = [0u8; util::MESSAGE];
                        stream.read_exact(&mut got).unwrap();
                        assert_eq!(got, sent, "connection {id} round {round}");
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                    ROUNDS
                })
            })
            .collect();
        server.join().unwrap();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(verified, CONNECTIONS * ROUNDS);
}

#[test]
fn a_large_write_arrives_whole_and_in_order() {
    let Some(rt) = runtime(2) else { return };
    const LEN: usize = 8 << 20; // far more than a socket buffer: many partial sends
    let data: Arc<Vec<u8>> = Arc::new((0..LEN).map(|i| (i * 7 + i / 4099) as u8).collect());
    let expected = data.clone();
    let received = rt.block_on(move || {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let writer = coroutine::spawn(move || {
            a.write_all(&data).unwrap();
        });
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 100_000];
        while got.len() < LEN {
            let n = b.read(&mut buf).unwrap();
            assert_ne!(n, 0, "end of stream after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        got
    });
    assert!(received == *expected, "the bytes differ");
}

#[test]
fn a_read_that_times_out_loses_no_bytes() {
    let Some(rt) = runtime(1) else { return };
    rt.block_on(|| {
        let (mut ours, mut peer) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let mut buf = [0u8; 16];
        for _ in 0..3 {
            let started = Instant::now();
            let err = ours.read(&mut buf).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
            assert!(started.elapsed() >= Duration::from_millis(30));
            // The deadline of a scope cancels the operation the same way.
            let err = with_timeout(Duration::from_millis(10), || ours.read(&mut buf)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        }
        // Whatever the cancelled operations did, the bytes sent now reach the next read.
        peer.write_all(b"after the timeouts").unwrap();
        let mut got = Vec::new();
        while got.len() < 18 {
            let n = ours.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"after the timeouts");
    });
}

#[test]
fn end_of_stream_and_a_closed_peer_are_reported() {
    let Some(rt) = runtime(1) else { return };
    rt.block_on(|| {
        let (mut ours, peer) = UnixStream::pair().unwrap();
        let closer = coroutine::spawn(move || {
            coroutine::yield_now();
            drop(peer);
        });
        let mut buf = [0u8; 8];
        assert_eq!(ours.read(&mut buf).unwrap(), 0, "end of stream");
        closer.join().unwrap();
        // A send to a closed peer is an error, not a SIGPIPE that kills the process.
        let err = ours.write_all(&[1; 4096]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    });
}

#[test]
fn a_runtime_shuts_down_with_reads_in_flight() {
    let Some(rt) = runtime(2) else { return };
    const READERS: usize = 50;
    let started = Arc::new(WaitGroup::new());
    let mut peers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let (mut ours, peer) = UnixStream::pair().unwrap();
        peers.push(peer);
        let started = started.clone();
        started.add(1);
        readers.push(rt.spawn(move || {
            let mut buf = [0u8; 4096]; // on the coroutine's stack, in the kernel's hands
            started.done();
            ours.read(&mut buf)
        }));
    }
    started.wait().unwrap();
    thread::sleep(Duration::from_millis(20)); // let them park in their reads
    drop(rt);
    for reader in readers {
        assert!(
            reader.join().is_err(),
            "a reader was cancelled, not completed"
        );
    }
    // The rings cancelled and collected every read before the stacks were unwound, so
    // these bytes go nowhere (and write into no freed stack).
    for mut peer in peers {
        let _ = peer.write_all(&[0xAB; 4096]);
    }
}

#[test]
fn idle_spin_and_the_rings_work_together() {
    // A spinning worker collects its ring's completions as it polls for readiness.
    let Some(rt) = build(
        Runtime::builder()
            .worker_threads(2)
            .io_uring(true)
            .idle_spin(Duration::from_micros(50)),
    ) else {
        return;
    };
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let echo = rt.spawn(move || {
        let mut buf = [0u8; 8];
        for _ in 0..1_000 {
            b.read_exact(&mut buf).unwrap();
            b.write_all(&buf).unwrap();
        }
    });
    let pings = rt.spawn(move || {
        for i in 0..1_000u64 {
            a.write_all(&i.to_le_bytes()).unwrap();
            let mut back = [0u8; 8];
            a.read_exact(&mut back).unwrap();
            assert_eq!(u64::from_le_bytes(back), i);
        }
    });
    pings.join().unwrap();
    echo.join().unwrap();
}
