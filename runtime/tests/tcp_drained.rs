//! Reads after a short read park without a syscall until the next readable edge: these
//! would hang (or miss bytes) if an edge were lost or end of stream were taken for "empty".

mod util;

use std::{
    io::{Read, Write},
    net::Shutdown,
    time::Duration,
};

use greenmongo_runtime::{
    coroutine,
    net::{TcpListener, TcpStream},
};

const MESSAGE: usize = 64;

fn message(conn: usize, round: usize) -> Vec<u8> {
    (0..MESSAGE)
        .map(|i| (conn.wrapping_mul(31) ^ round.wrapping_mul(7) ^ i) as u8)
        .collect()
}

/// Reads exactly `want` bytes with reads of at most `chunk` bytes each.
fn read_in_chunks(s: &TcpStream, want: usize, chunk: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(want);
    let mut buf = vec![0u8; chunk];
    while got.len() < want {
        let n = (&*s).read(&mut buf).unwrap();
        assert!(n > 0, "early end of stream after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// A connected pair, both ends in the calling runtime.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// Many connections on two workers; the server echoes with a large buffer (short reads,
/// so "drained" marks), writing each message in two parts, sometimes with a pause; the
/// clients read with buffers of 1, 7, 64 (exact) and 200 bytes.
#[test]
fn concurrent_ping_pongs_with_partial_messages() {
    util::raise_fd_limit();
    const CONNECTIONS: usize = 400;
    const ROUNDS: usize = 10;
    let rt = util::runtime(2);
    let total = rt.block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = coroutine::spawn(move || {
            for id in 0..CONNECTIONS {
                let (conn, _) = listener.accept().unwrap();
                conn.set_nodelay(true).unwrap();
                coroutine::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut pending = Vec::new();
                    let mut part = 0usize;
                    loop {
                        let n = (&conn).read(&mut buf).unwrap();
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        while pending.len() >= MESSAGE {
                            let m: Vec<u8> = pending.drain(..MESSAGE).collect();
                            let split = 1 + (id + part) % (MESSAGE - 1);
                            (&conn).write_all(&m[..split]).unwrap();
                            if part % 3 == 1 {
                                coroutine::sleep(Duration::from_millis(1)).unwrap();
                            }
                            (&conn).write_all(&m[split..]).unwrap();
                            part += 1;
                        }
                    }
                });
            }
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|id| {
                coroutine::spawn(move || {
                    let s = TcpStream::connect(addr).unwrap();
                    s.set_nodelay(true).unwrap();
                    let chunk = [1, 7, MESSAGE, 200][id % 4];
                    let mut verified = 0;
                    for round in 0..ROUNDS {
                        let sent = message(id, round);
                        (&s).write_all(&sent).unwrap();
                        assert_eq!(read_in_chunks(&s, MESSAGE, chunk), sent);
                        verified += MESSAGE;
                    }
                    s.shutdown(Shutdown::Write).unwrap();
                    verified
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        acceptor.join().unwrap();
        total
    });
    assert_eq!(total, CONNECTIONS * ROUNDS * MESSAGE);
}

/// A short read, then the peer sends more only later: the next read must wake on its edge.
#[test]
fn a_short_read_then_data_arriving_later() {
    let rt = util::runtime(2);
    rt.block_on(|| {
        let (client, server) = pair();
        let writer = coroutine::spawn(move || {
            for round in 0..20 {
                (&server).write_all(&message(1, round)).unwrap();
                coroutine::sleep(Duration::from_millis(2)).unwrap();
            }
            server
        });
        let mut buf = [0u8; 256];
        for round in 0..20 {
            let mut got = Vec::new();
            while got.len() < MESSAGE {
                let n = (&client).read(&mut buf).unwrap();
                assert!(n > 0 && n < buf.len());
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, message(1, round));
        }
        writer.join().unwrap();
    });
}

/// A read buffer exactly the message size (a full read, no mark), then one twice the
/// size (a short read, marked), each followed by a message that arrives later.
#[test]
fn exact_and_short_reads_alternate_with_late_messages() {
    let rt = util::runtime(2);
    rt.block_on(|| {
        let (client, server) = pair();
        let writer = coroutine::spawn(move || {
            for round in 0..20 {
                coroutine::sleep(Duration::from_millis(1)).unwrap();
                (&server).write_all(&message(2, round)).unwrap();
            }
            server
        });
        for round in 0..20 {
            let mut buf = vec![0u8; if round % 2 == 1 { 2 * MESSAGE } else { MESSAGE }];
            let n = (&client).read(&mut buf).unwrap();
            // Loopback delivers a 64-byte write whole.
            assert_eq!(&buf[..n], &message(2, round)[..]);
        }
        writer.join().unwrap();
    });
}

/// The peer sends and closes: after the short read of the data, end of stream must be
/// seen (0 is returned again and again, never cached as "wait for data"), whether the
/// data and the FIN arrive in one readable event or two.
#[test]
fn end_of_stream_after_a_short_read_is_seen() {
    let rt = util::runtime(2);
    rt.block_on(|| {
        for round in 0..100 {
            let delay = round % 2 == 1;
            let (client, server) = pair();
            let closer = coroutine::spawn(move || {
                (&server).write_all(&message(3, 0)).unwrap();
                if delay {
                    coroutine::sleep(Duration::from_millis(5)).unwrap();
                }
                drop(server);
            });
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                let n = (&client).read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, message(3, 0));
            assert_eq!((&client).read(&mut buf).unwrap(), 0);
            closer.join().unwrap();
        }
    });
}

/// A read timeout still fires when the read parks because of a "drained" mark.
#[test]
fn read_timeout_fires_after_a_short_read() {
    let rt = util::runtime(1);
    rt.block_on(|| {
        let (client, server) = pair();
        (&server).write_all(b"hello").unwrap();
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < 5 {
            got += (&client).read(&mut buf[got..]).unwrap();
        }
        client
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let err = (&client).read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        // And data after the timeout is still read.
        (&server).write_all(b"again").unwrap();
        let n = (&client).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"again");
    });
}
