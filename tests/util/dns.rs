//! A fake DNS server on 127.0.0.1 for the SRV tests: answers from a fixed zone over UDP
//! and TCP on the same port, built with hickory-proto. Names not in the zone get
//! NXDOMAIN; a known name asked for a type it lacks gets an empty NOERROR answer.
#![allow(dead_code)] // each test binary uses a different part of this file

use std::{
    collections::HashMap,
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use greenmongo::options::ResolverConfig;
use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{
        Name, RData, Record, RecordType,
        rdata::{SRV, TXT},
    },
};

/// How the server answers one (name, type).
#[derive(Clone, Debug)]
pub enum Reply {
    /// NOERROR with these records.
    Records(Vec<RData>),
    /// The same, after a pause.
    Delayed(Duration, Vec<RData>),
    /// Over UDP: an empty answer with the TC bit; over TCP: these records.
    Truncated(Vec<RData>),
    /// NXDOMAIN.
    NxDomain,
    /// Nothing, ever.
    Silent,
}

/// An SRV record's data.
pub fn srv(target: &str, port: u16) -> RData {
    RData::SRV(SRV::new(0, 0, port, Name::from_ascii(target).unwrap()))
}

/// A TXT record's data made of these strings.
pub fn txt(strings: &[&str]) -> RData {
    RData::TXT(TXT::new(strings.iter().map(|s| (*s).to_owned()).collect()))
}

type Zone = HashMap<(String, RecordType), Reply>;

/// The running server; dropping it stops its threads.
pub struct FakeDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl FakeDns {
    /// Serves `zone`: (name without the trailing dot, type, reply).
    pub fn start(zone: &[(&str, RecordType, Reply)]) -> FakeDns {
        let zone: Arc<Zone> = Arc::new(
            zone.iter()
                .map(|(name, rtype, reply)| ((name.to_ascii_lowercase(), *rtype), reply.clone()))
                .collect(),
        );
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let threads = vec![
            {
                let (zone, stop, count) = (zone.clone(), stop.clone(), udp_queries.clone());
                thread::spawn(move || serve_udp(&udp, &zone, &stop, &count))
            },
            {
                let (stop, count) = (stop.clone(), tcp_queries.clone());
                thread::spawn(move || serve_tcp(&tcp, &zone, &stop, &count))
            },
        ];
        FakeDns {
            addr,
            stop,
            udp_queries,
            tcp_queries,
            threads,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A resolver configuration that asks only this server, with a short timeout.
    pub fn resolver(&self) -> ResolverConfig {
        let mut config = ResolverConfig::new([self.addr]);
        config.timeout = Duration::from_millis(300);
        config.attempts = 2;
        config
    }

    /// Queries received over UDP and over TCP.
    pub fn queries(&self) -> (usize, usize) {
        (
            self.udp_queries.load(Ordering::SeqCst),
            self.tcp_queries.load(Ordering::SeqCst),
        )
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same free port of 127.0.0.1.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// The reply for `request`: `None` to stay silent.
fn answer(zone: &Zone, request: &Message, over_tcp: bool) -> Option<Message> {
    let query = request.queries.first()?;
    let name = query
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_queries(request.queries.clone());
    let records = match zone.get(&(name.clone(), query.query_type())) {
        Some(Reply::Silent) => return None,
        Some(Reply::NxDomain) => {
            response.metadata.response_code = ResponseCode::NXDomain;
            return Some(response);
        }
        Some(Reply::Records(records)) => records.clone(),
        Some(Reply::Delayed(pause, records)) => {
            thread::sleep(*pause);
            records.clone()
        }
        Some(Reply::Truncated(_)) if !over_tcp => {
            response.metadata.truncation = true;
            return Some(response);
        }
        Some(Reply::Truncated(records)) => records.clone(),
        None if zone.keys().any(|(n, _)| *n == name) => Vec::new(),
        None => {
            response.metadata.response_code = ResponseCode::NXDomain;
            return Some(response);
        }
    };
    for data in records {
        response.add_answer(Record::from_rdata(query.name().clone(), 60, data));
    }
    Some(response)
}

fn serve_udp(socket: &UdpSocket, zone: &Zone, stop: &AtomicBool, count: &AtomicUsize) {
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        count.fetch_add(1, Ordering::SeqCst);
        let Ok(request) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if let Some(response) = answer(zone, &request, false) {
            let _ = socket.send_to(&response.to_vec().unwrap(), from);
        }
    }
}

fn serve_tcp(listener: &TcpListener, zone: &Zone, stop: &AtomicBool, count: &AtomicUsize) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = serve_tcp_conn(stream, zone);
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve_tcp_conn(mut stream: TcpStream, zone: &Zone) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf)?;
    let request = Message::from_vec(&buf).map_err(io::Error::other)?;
    if let Some(response) = answer(zone, &request, true) {
        let bytes = response.to_vec().map_err(io::Error::other)?;
        let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
        stream.write_all(&[&len[..], &bytes].concat())?;
    }
    Ok(())
}
