//! A small SOCKS5 proxy for tests (RFC 1928 CONNECT, RFC 1929 username/password) on std
//! threads, written independently of the driver's client half so that each checks the
//! other. It records what it relayed: the target of each CONNECT as the client sent it,
//! and the first byte the client sent through each tunnel.
#![allow(dead_code)] // each test binary uses a different part of this file

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

/// What a CONNECT asked for, as the client encoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Address type 3: a name for the proxy to resolve.
    Domain(String, u16),
    /// Address type 1 or 4.
    Ip(SocketAddr),
}

/// How the proxy behaves.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Require RFC 1929 login with this user name and password.
    pub credentials: Option<(String, String)>,
    /// Answer every CONNECT with this reply code instead of connecting.
    pub refuse_with: Option<u8>,
    /// Names only this proxy can resolve (so a client that resolves them itself fails).
    pub aliases: Vec<(String, SocketAddr)>,
}

#[derive(Debug, Default)]
struct Record {
    targets: Vec<Target>,
    tunnels: usize,
    first_bytes: Vec<u8>,
    failed_logins: usize,
}

/// A running proxy; it stops accepting when dropped (open tunnels run until their
/// client or server closes).
#[derive(Debug)]
pub struct Socks5Proxy {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
}

impl Socks5Proxy {
    /// Starts a proxy on 127.0.0.1 with a free port.
    ///
    /// # Panics
    /// When it cannot listen.
    pub fn start(config: Config) -> Socks5Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test proxy");
        let port = listener.local_addr().unwrap().port();
        let record = Arc::new(Mutex::new(Record::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(config);
        let (rec, halt) = (record.clone(), stop.clone());
        thread::Builder::new()
            .name("test-socks5-accept".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if halt.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let (config, rec) = (config.clone(), rec.clone());
                    thread::spawn(move || {
                        // A client that gives up mid-handshake is not the proxy's problem.
                        let _ = serve(client, &config, &rec);
                    });
                }
            })
            .expect("spawn the test proxy");
        Socks5Proxy { port, record, stop }
    }

    /// Tunnels opened (CONNECTs that succeeded).
    pub fn tunnels(&self) -> usize {
        self.record.lock().unwrap().tunnels
    }

    /// Every CONNECT's target, in order.
    pub fn targets(&self) -> Vec<Target> {
        self.record.lock().unwrap().targets.clone()
    }

    /// The first byte the client sent through each tunnel that carried any.
    pub fn first_bytes(&self) -> Vec<u8> {
        self.record.lock().unwrap().first_bytes.clone()
    }

    /// Logins refused for a wrong user name or password.
    pub fn failed_logins(&self) -> usize {
        self.record.lock().unwrap().failed_logins
    }
}

impl Drop for Socks5Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut client: TcpStream, config: &Config, record: &Mutex<Record>) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let [version, n] = read_array(&mut client)?;
    if version != 5 {
        return Ok(());
    }
    let mut methods = vec![0; usize::from(n)];
    client.read_exact(&mut methods)?;
    let wanted = if config.credentials.is_some() { 2 } else { 0 };
    if !methods.contains(&wanted) {
        return client.write_all(&[5, 0xFF]);
    }
    client.write_all(&[5, wanted])?;
    if let Some((user, password)) = &config.credentials {
        let [_version, user_len] = read_array(&mut client)?;
        let mut got_user = vec![0; usize::from(user_len)];
        client.read_exact(&mut got_user)?;
        let [password_len] = read_array(&mut client)?;
        let mut got_password = vec![0; usize::from(password_len)];
        client.read_exact(&mut got_password)?;
        if got_user != user.as_bytes() || got_password != password.as_bytes() {
            record.lock().unwrap().failed_logins += 1;
            return client.write_all(&[1, 1]);
        }
        client.write_all(&[1, 0])?;
    }
    let [_version, command, _reserved, atyp] = read_array(&mut client)?;
    let target = match atyp {
        1 => {
            let [a, b, c, d, p1, p2] = read_array(&mut client)?;
            Target::Ip(SocketAddr::from((
                [a, b, c, d],
                u16::from_be_bytes([p1, p2]),
            )))
        }
        4 => {
            let ip: [u8; 16] = read_array(&mut client)?;
            let port: [u8; 2] = read_array(&mut client)?;
            Target::Ip(SocketAddr::from((ip, u16::from_be_bytes(port))))
        }
        3 => {
            let [len] = read_array(&mut client)?;
            let mut name = vec![0; usize::from(len)];
            client.read_exact(&mut name)?;
            let port: [u8; 2] = read_array(&mut client)?;
            Target::Domain(
                String::from_utf8_lossy(&name).into_owned(),
                u16::from_be_bytes(port),
            )
        }
        _ => return client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    record.lock().unwrap().targets.push(target.clone());
    if command != 1 {
        return client.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    if let Some(code) = config.refuse_with {
        return client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    let addrs: Vec<SocketAddr> = match &target {
        Target::Ip(addr) => vec![*addr],
        Target::Domain(name, port) => match config.aliases.iter().find(|(n, _)| n == name) {
            Some((_, addr)) => vec![*addr],
            None => (name.as_str(), *port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .unwrap_or_default(),
        },
    };
    let server = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, Duration::from_secs(5)).ok());
    let Some(server) = server else {
        return client.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    let bound = server.local_addr()?;
    let mut reply = vec![5, 0, 0];
    match bound {
        SocketAddr::V4(a) => {
            reply.push(1);
            reply.extend(a.ip().octets());
        }
        SocketAddr::V6(a) => {
            reply.push(4);
            reply.extend(a.ip().octets());
        }
    }
    reply.extend(bound.port().to_be_bytes());
    client.write_all(&reply)?;
    record.lock().unwrap().tunnels += 1;
    client.set_read_timeout(None)?;
    relay(client, server, record)
}

/// Copies both ways until each side has closed, passing half-closes on.
fn relay(mut client: TcpStream, mut server: TcpStream, record: &Mutex<Record>) -> io::Result<()> {
    let (mut server_out, mut client_in) = (server.try_clone()?, client.try_clone()?);
    let downstream = thread::spawn(move || {
        let _ = io::copy(&mut server_out, &mut client_in);
        let _ = client_in.shutdown(Shutdown::Write);
    });
    let mut first = [0; 1];
    if client.read(&mut first)? == 1 {
        record.lock().unwrap().first_bytes.push(first[0]);
        server.write_all(&first)?;
        let _ = io::copy(&mut client, &mut server);
    }
    let _ = server.shutdown(Shutdown::Write);
    let _ = downstream.join();
    Ok(())
}

fn read_array<const N: usize>(stream: &mut TcpStream) -> io::Result<[u8; N]> {
    let mut buf = [0; N];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}
