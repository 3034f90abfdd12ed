//! TCP over loopback: many coroutines, plain threads, and the mix of both.

mod util;

use std::{
    io::{self, Read, Write},
    net::Shutdown,
    sync::Arc,
    time::Duration,
};

use greenmongo_runtime::{
    coroutine,
    net::{TcpListener, TcpStream},
    sync::WaitGroup,
};

/// Rounds of ping-pong per connection, and the bytes of one message.
const ROUNDS: usize = 4;
const MESSAGE: usize = util::MESSAGE;
use util::{message, serve};

fn ping(addr: std::net::SocketAddr, id: usize) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut verified = 0;
    for round in 0..ROUNDS {
        let sent = message(id, round);
        stream.write_all(&sent).unwrap();
        let mut got = [0u8; MESSAGE];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, sent, "connection {id} round {round}");
        verified += MESSAGE;
    }
    stream.shutdown(Shutdown::Write).unwrap();
    verified
}

#[test]
fn ten_thousand_coroutines_ping_pong_on_two_workers() {
    util::raise_fd_limit();
    // 5,000 connections: 5,000 client and 5,000 server coroutines.
    const CONNECTIONS: usize = 5_000;
    let rt = util::runtime(2);
    let verified = rt.block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = coroutine::spawn(move || {
            let servers: Vec<_> = (0..CONNECTIONS)
                .map(|_| {
                    let (conn, _) = listener.accept().unwrap();
                    coroutine::spawn(move || serve(conn))
                })
                .collect();
            servers.into_iter().for_each(|s| s.join().unwrap());
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|id| coroutine::spawn(move || ping(addr, id)))
            .collect();
        let verified: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        acceptor.join().unwrap();
        verified
    });
    assert_eq!(verified, CONNECTIONS * ROUNDS * MESSAGE);
    // block_on returns when the result is sent, a moment before its coroutine is freed.
    let freed_by = std::time::Instant::now() + Duration::from_secs(5);
    while rt.metrics().coroutines() != 0 && std::time::Instant::now() < freed_by {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rt.metrics().coroutines(), 0);
}

#[test]
fn the_same_api_works_on_plain_threads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..8 {
            let (conn, _) = listener.accept().unwrap();
            std::thread::spawn(move || serve(conn));
        }
    });
    let clients: Vec<_> = (0..8)
        .map(|id| std::thread::spawn(move || ping(addr, id)))
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), ROUNDS * MESSAGE);
    }
    server.join().unwrap();
}

#[test]
fn threads_and_coroutines_talk_over_one_socket_pair() {
    let rt = util::runtime(2);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The server is a plain thread; the clients are coroutines.
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        serve(conn);
    });
    assert_eq!(rt.block_on(move || ping(addr, 1)), ROUNDS * MESSAGE);
    server.join().unwrap();
}

#[test]
fn read_timeout_fires_in_a_coroutine_and_on_a_thread() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _peer = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(conn);
    });
    let stream = Arc::new(TcpStream::connect(addr).unwrap());
    stream.set_read_timeout(Some(util::SHORT)).unwrap();
    assert_eq!(stream.read_timeout().unwrap(), Some(util::SHORT));
    util::assert_timed_out((&*stream).read(&mut [0; 1]));
    let rt = util::runtime(1);
    let s = stream.clone();
    rt.block_on(move || util::assert_timed_out((&*s).read(&mut [0; 1])));
    assert!(stream.set_read_timeout(Some(Duration::ZERO)).is_err());
}

#[test]
fn connect_errors_are_reported() {
    // Bind then drop, so the port is (almost certainly) closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rt = util::runtime(1);
    let err = rt.block_on(move || TcpStream::connect(addr).unwrap_err());
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn host_names_resolve_inside_coroutines() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rt = util::runtime(1);
    let peer = rt.block_on(move || {
        let accept = coroutine::spawn(move || listener.accept().map(|_| ()));
        let stream = TcpStream::connect(("localhost", port)).unwrap();
        accept.join().unwrap().unwrap();
        stream.peer_addr().unwrap()
    });
    assert!(peer.ip().is_loopback());
}

#[test]
fn a_cloned_stream_reads_while_the_original_writes() {
    let rt = util::runtime(2);
    let done = rt.block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        coroutine::spawn(move || serve(listener.accept().unwrap().0));
        let stream = TcpStream::connect(addr).unwrap();
        let reader = stream.try_clone().unwrap();
        let wg = WaitGroup::new();
        wg.add(1);
        let wg2 = wg.clone();
        let read = coroutine::spawn(move || {
            let mut got = vec![0u8; MESSAGE * 50];
            (&reader).read_exact(&mut got).unwrap();
            wg2.done();
            got
        });
        let mut sent = Vec::new();
        for round in 0..50 {
            let m = message(9, round);
            (&stream).write_all(&m).unwrap();
            sent.extend_from_slice(&m);
        }
        wg.wait().unwrap();
        read.join().unwrap() == sent
    });
    assert!(done);
}
