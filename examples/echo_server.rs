//! A TCP echo server embedding the runtime: one coroutine per connection, written in
//! plain blocking style.
//!
//! ```sh
//! cargo run --release --example echo_server              # self-test: 1,000 clients, then exit
//! cargo run --release --example echo_server -- serve 7777 # serve until killed
//! ```

use std::{
    io::{self, Read, Write},
    net::SocketAddr,
    time::Instant,
};

use greenmongo::runtime::{
    Runtime, coroutine,
    net::{TcpListener, TcpStream},
};

/// Echoes until the peer closes. Reads and writes park this coroutine only.
fn handle(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (conn, peer) = listener.accept()?;
        coroutine::Builder::new()
            .name(format!("echo {peer}"))
            .spawn(move || handle(conn));
    }
}

/// One client: `rounds` request/response exchanges of 64 bytes, each verified.
fn client(addr: SocketAddr, id: u64, rounds: usize) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut reply = [0u8; 64];
    for round in 0..rounds {
        let msg = [(id as usize ^ round) as u8; 64];
        stream.write_all(&msg)?;
        stream.read_exact(&mut reply)?;
        assert_eq!(reply, msg, "echo mismatch");
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = Runtime::builder().worker_threads(2).build()?;
    if args.first().map(String::as_str) == Some("serve") {
        let port = args
            .get(1)
            .map_or(Ok(7777), |p| p.parse())
            .map_err(io::Error::other)?;
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        println!("echo server on {}", listener.local_addr()?);
        return rt.block_on(move || serve(listener));
    }

    const CLIENTS: u64 = 1_000;
    const ROUNDS: usize = 100;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("echo server on {addr}; {CLIENTS} client coroutines x {ROUNDS} round trips");
    rt.spawn(move || serve(listener));
    let started = Instant::now();
    let failures = rt.block_on(move || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| coroutine::spawn(move || client(addr, id, ROUNDS)))
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().map_err(io::Error::from).and_then(|r| r))
            .filter(Result::is_err)
            .count()
    });
    let elapsed = started.elapsed();
    let messages = CLIENTS as f64 * ROUNDS as f64;
    println!(
        "{messages} round trips in {:.2?}: {:.0} round trips/s, {failures} failed clients",
        elapsed,
        messages / elapsed.as_secs_f64()
    );
    println!(
        "coroutines alive now: {} (the acceptor, and handlers seeing EOF)",
        rt.metrics().coroutines()
    );
    if failures > 0 {
        return Err(io::Error::other(format!("{failures} clients failed")));
    }
    Ok(())
}
