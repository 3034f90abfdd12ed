//! A DNS stub resolver, just big enough for the Initial DNS Seedlist Discovery spec: one
//! question (SRV or TXT) to the configured nameservers over UDP, asked again over TCP
//! when the answer comes back truncated (RFC 1035 §4.2, RFC 7766 §5).
//!
//! [hickory-proto] encodes and decodes the messages; the sockets are `std::net`'s and
//! block, so this runs where blocking is allowed (`srv.rs` calls it through the runtime's
//! `spawn_blocking`). The order and limits are those of the C library's resolver: each
//! nameserver in turn, `attempts` rounds, `timeout` per answer, and an NXDOMAIN ends the
//! search at once. Answers must carry the query's id and question; other datagrams on
//! the socket are ignored, which also makes blind spoofing harder.
//!
//! [hickory-proto]: https://docs.rs/hickory-proto

mod seedlist;

pub(crate) use seedlist::{rescan_srv, shuffle};

use std::{
    fmt,
    io::{self, Read, Write},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Edns, Message, MessageType, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};

use crate::options::ResolverConfig;

/// The UDP payload size advertised with EDNS(0): the 2020 DNS flag day's value, which
/// avoids IP fragmentation on common paths.
const EDNS_UDP_PAYLOAD: u16 = 1232;
/// Receive buffer for one UDP answer: a server may ignore EDNS and send up to this much.
const UDP_BUFFER: usize = 4096;

/// The records of the queried type in a nameserver's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The answer section's records of the queried type (others, such as a CNAME a
    /// recursive server followed, are dropped).
    pub(crate) records: Vec<RData>,
    /// The smallest TTL of those records, in seconds (`None` without records): how long
    /// the answer may be cached, which SRV polling waits before asking again.
    pub(crate) ttl: Option<u32>,
    /// Who answered.
    pub(crate) nameserver: SocketAddr,
}

/// Why a lookup gave no [`Answer`].
#[derive(Debug)]
pub(crate) enum LookupError {
    /// The name does not exist (NXDOMAIN). This is an answer, so no other nameserver was
    /// asked.
    NxDomain {
        /// Who said so.
        nameserver: SocketAddr,
    },
    /// No nameserver answered usefully; what went wrong with each.
    Unanswered(Vec<(SocketAddr, Failure)>),
    /// The name cannot be put in a query.
    InvalidName(String),
}

/// What went wrong with one nameserver (the last thing, over all rounds).
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer within the timeout, in every round.
    TimedOut {
        /// How many queries went unanswered.
        attempts: u32,
        /// How long each waited.
        timeout: Duration,
    },
    /// A socket error (e.g. connection refused: nothing listens there).
    Io(io::Error),
    /// An error response code (SERVFAIL, REFUSED, ...).
    Rcode(ResponseCode),
    /// An answer that does not decode, or a TCP answer to another question.
    Malformed(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::TimedOut { attempts, timeout } => write!(
                f,
                "timed out ({attempts} {} of {timeout:?} without an answer)",
                if *attempts == 1 { "query" } else { "queries" }
            ),
            Failure::Io(e) => write!(f, "failed: {e}"),
            Failure::Rcode(code) => write!(f, "answered {code}"),
            Failure::Malformed(why) => write!(f, "sent a malformed answer: {why}"),
        }
    }
}

impl LookupError {
    /// Whether the name does not exist.
    pub(crate) fn is_nxdomain(&self) -> bool {
        matches!(self, LookupError::NxDomain { .. })
    }

    /// A driver error for the lookup of `what` (e.g. `SRV record _mongodb._tcp.a.b.c`).
    pub(crate) fn into_error(self, what: &str) -> crate::Error {
        crate::Error::dns_resolve(match self {
            LookupError::NxDomain { nameserver } => {
                format!("{what} does not exist (NXDOMAIN from nameserver {nameserver})")
            }
            LookupError::Unanswered(failures) => {
                let each: Vec<String> = failures
                    .iter()
                    .map(|(ns, failure)| format!("nameserver {ns} {failure}"))
                    .collect();
                format!("no answer for {what}: {}", each.join("; "))
            }
            LookupError::InvalidName(why) => format!("cannot look up {what}: {why}"),
        })
    }
}

/// Asks the nameservers of `config` for the `rtype` records of `name`. Blocks.
pub(crate) fn lookup(
    config: &ResolverConfig,
    name: &str,
    rtype: RecordType,
) -> Result<Answer, LookupError> {
    let request = build_query(name, rtype)?;
    let bytes = request
        .to_vec()
        .map_err(|e| LookupError::InvalidName(e.to_string()))?;
    let attempts = config.attempts.max(1);
    let mut failures: Vec<(SocketAddr, Failure)> = Vec::new();
    for _ in 0..attempts {
        for &nameserver in &config.nameservers {
            let failure = match exchange(nameserver, &request, &bytes, config.timeout) {
                Ok(response) => match response.metadata.response_code {
                    ResponseCode::NoError => {
                        return Ok(Answer {
                            ttl: min_ttl(&response, rtype),
                            records: records_of(response, rtype),
                            nameserver,
                        });
                    }
                    ResponseCode::NXDomain => return Err(LookupError::NxDomain { nameserver }),
                    code => Failure::Rcode(code),
                },
                Err(failure) => failure,
            };
            record_failure(&mut failures, nameserver, failure);
        }
    }
    Err(LookupError::Unanswered(failures))
}

/// Keeps the last failure per nameserver, counting consecutive timeouts.
fn record_failure(failures: &mut Vec<(SocketAddr, Failure)>, ns: SocketAddr, failure: Failure) {
    let slot = match failures.iter_mut().find(|(addr, _)| *addr == ns) {
        Some((_, slot)) => slot,
        None => {
            failures.push((ns, failure));
            return;
        }
    };
    *slot = match (&*slot, failure) {
        (Failure::TimedOut { attempts, .. }, Failure::TimedOut { timeout, .. }) => {
            Failure::TimedOut {
                attempts: attempts + 1,
                timeout,
            }
        }
        (_, failure) => failure,
    };
}

/// A recursive query for `name`/`rtype`, class IN, with a random id and EDNS(0).
fn build_query(name: &str, rtype: RecordType) -> Result<Message, LookupError> {
    let mut name = Name::from_ascii(name).map_err(|e| {
        LookupError::InvalidName(format!("\"{name}\" is not a valid DNS name: {e}"))
    })?;
    name.set_fqdn(true);
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_UDP_PAYLOAD);
    message.set_edns(edns);
    Ok(message)
}

/// One question to one nameserver: UDP, then TCP if the UDP answer was truncated.
fn exchange(
    nameserver: SocketAddr,
    request: &Message,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Message, Failure> {
    let response = exchange_udp(nameserver, request, bytes, timeout)?;
    if response.metadata.truncation {
        exchange_tcp(nameserver, request, bytes, timeout)
    } else {
        Ok(response)
    }
}

fn exchange_udp(
    nameserver: SocketAddr,
    request: &Message,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Message, Failure> {
    let local: SocketAddr = if nameserver.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(Failure::Io)?;
    // Connected: the kernel drops datagrams from other addresses and reports ICMP
    // "port unreachable" as ConnectionRefused.
    socket.connect(nameserver).map_err(Failure::Io)?;
    socket.send(bytes).map_err(Failure::Io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timed_out(timeout));
        }
        socket
            .set_read_timeout(Some(remaining))
            .map_err(Failure::Io)?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if is_timeout(&e) => return Err(timed_out(timeout)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Io(e)),
        };
        // A datagram that is not the answer to this query is ignored: a late answer to
        // an earlier round, or a spoofing attempt.
        if let Some(response) = match_response(request, &buf[..n])? {
            return Ok(response);
        }
    }
}

fn exchange_tcp(
    nameserver: SocketAddr,
    request: &Message,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Message, Failure> {
    let io = |e: io::Error| {
        if is_timeout(&e) {
            timed_out(timeout)
        } else {
            Failure::Io(e)
        }
    };
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&nameserver, timeout).map_err(io)?;
    let remaining = || {
        let left = deadline.saturating_duration_since(Instant::now());
        // `set_*_timeout` rejects zero; one microsecond fails at once just the same.
        Some(left.max(Duration::from_micros(1)))
    };
    stream.set_write_timeout(remaining()).map_err(io)?;
    let len = u16::try_from(bytes.len())
        .map_err(|_| Failure::Malformed("query longer than 65,535 bytes".into()))?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).map_err(io)?;
    let mut len = [0u8; 2];
    stream.set_read_timeout(remaining()).map_err(io)?;
    stream.read_exact(&mut len).map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.set_read_timeout(remaining()).map_err(io)?;
    stream.read_exact(&mut buf).map_err(io)?;
    match match_response(request, &buf)? {
        Some(response) => Ok(response),
        None => Err(Failure::Malformed(
            "the TCP answer is for another query".into(),
        )),
    }
}

/// Decodes `bytes` if they answer `request`: same id, a response, the same question.
/// `Ok(None)` for a message that is not the answer; an error for one that carries the
/// query's id but does not decode.
fn match_response(request: &Message, bytes: &[u8]) -> Result<Option<Message>, Failure> {
    let id = request.metadata.id.to_be_bytes();
    let response = match Message::from_vec(bytes) {
        Ok(response) => response,
        Err(e) if bytes.get(..2) == Some(&id[..]) => return Err(Failure::Malformed(e.to_string())),
        Err(_) => return Ok(None),
    };
    let answers_request = response.metadata.id == request.metadata.id
        && response.metadata.message_type == MessageType::Response
        && response.queries == request.queries;
    Ok(answers_request.then_some(response))
}

/// The data of the answer records of type `rtype`.
fn records_of(response: Message, rtype: RecordType) -> Vec<RData> {
    response
        .answers
        .into_iter()
        .filter(|record| record.record_type() == rtype)
        .map(|record| record.data)
        .collect()
}

/// The smallest TTL of the answer records of type `rtype`.
fn min_ttl(response: &Message, rtype: RecordType) -> Option<u32> {
    response
        .answers
        .iter()
        .filter(|record| record.record_type() == rtype)
        .map(|record| record.ttl)
        .min()
}

fn timed_out(timeout: Duration) -> Failure {
    Failure::TimedOut {
        attempts: 1,
        timeout,
    }
}

/// `set_read_timeout` expiries show as `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{
        Record,
        rdata::{CNAME, SRV, TXT},
    };

    fn answer_to(request: &Message, records: Vec<Record>) -> Vec<u8> {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.add_queries(request.queries.clone());
        response.add_answers(records);
        response.to_vec().unwrap()
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn query_is_recursive_with_edns() {
        let q = build_query("_mongodb._tcp.c.example.com", RecordType::SRV).unwrap();
        let decoded = Message::from_vec(&q.to_vec().unwrap()).unwrap();
        assert!(decoded.metadata.recursion_desired);
        assert_eq!(
            decoded.queries[0].name(),
            &name("_mongodb._tcp.c.example.com.")
        );
        assert_eq!(decoded.queries[0].query_type(), RecordType::SRV);
        assert_eq!(decoded.max_payload(), EDNS_UDP_PAYLOAD);
        assert!(build_query("a..b", RecordType::SRV).is_err());
    }

    #[test]
    fn only_the_matching_answer_is_taken() {
        let request = build_query("c.example.com", RecordType::TXT).unwrap();
        let txt = Record::from_rdata(
            name("C.Example.com."),
            60,
            RData::TXT(TXT::new(vec!["authSource=admin".into()])),
        );
        let cname = Record::from_rdata(
            name("c.example.com."),
            60,
            RData::CNAME(CNAME(name("d.example.com."))),
        );
        let good = answer_to(&request, vec![cname, txt]);
        let response = match_response(&request, &good).unwrap().unwrap();
        let records = records_of(response, RecordType::TXT);
        assert_eq!(records.len(), 1, "the CNAME is dropped");

        // Another id: ignored. Another question with our id: ignored too.
        let mut other = request.clone();
        other.metadata.id = request.metadata.id.wrapping_add(1);
        assert!(
            match_response(&request, &answer_to(&other, vec![]))
                .unwrap()
                .is_none()
        );
        let mut other = build_query("evil.example.com", RecordType::TXT).unwrap();
        other.metadata.id = request.metadata.id;
        assert!(
            match_response(&request, &answer_to(&other, vec![]))
                .unwrap()
                .is_none()
        );
        // Our own query echoed back is not a response.
        assert!(
            match_response(&request, &request.to_vec().unwrap())
                .unwrap()
                .is_none()
        );
        // Garbage with our id is malformed; garbage without it is noise.
        let mut garbage = request.metadata.id.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0x81, 0x80, 0, 1]);
        assert!(matches!(
            match_response(&request, &garbage),
            Err(Failure::Malformed(_))
        ));
        garbage[0] ^= 0xff;
        assert!(match_response(&request, &garbage).unwrap().is_none());
    }

    #[test]
    fn srv_records_decode() {
        let request = build_query("_mongodb._tcp.c.example.com", RecordType::SRV).unwrap();
        let srv = Record::from_rdata(
            name("_mongodb._tcp.c.example.com."),
            60,
            RData::SRV(SRV::new(0, 5, 27018, name("db1.example.com."))),
        );
        let response = match_response(&request, &answer_to(&request, vec![srv]))
            .unwrap()
            .unwrap();
        match &records_of(response, RecordType::SRV)[..] {
            [RData::SRV(srv)] => {
                assert_eq!(
                    (srv.target.to_ascii().as_str(), srv.port),
                    ("db1.example.com.", 27018)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_smallest_ttl_of_the_queried_type_is_kept() {
        let request = build_query("_mongodb._tcp.c.example.com", RecordType::SRV).unwrap();
        let owner = name("_mongodb._tcp.c.example.com.");
        let srv = |ttl, port| {
            Record::from_rdata(
                owner.clone(),
                ttl,
                RData::SRV(SRV::new(0, 0, port, name("db.example.com."))),
            )
        };
        let cname = Record::from_rdata(owner.clone(), 5, RData::CNAME(CNAME(owner.clone())));
        let bytes = answer_to(&request, vec![srv(300, 1), cname, srv(120, 2)]);
        let response = match_response(&request, &bytes).unwrap().unwrap();
        assert_eq!(
            min_ttl(&response, RecordType::SRV),
            Some(120),
            "the CNAME's 5 s is not an SRV TTL"
        );
        let empty = match_response(&request, &answer_to(&request, vec![]))
            .unwrap()
            .unwrap();
        assert_eq!(min_ttl(&empty, RecordType::SRV), None);
    }

    #[test]
    fn failures_are_kept_per_nameserver_and_timeouts_counted() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:1".parse().unwrap();
        let t = Duration::from_millis(100);
        let mut failures = Vec::new();
        record_failure(&mut failures, a, timed_out(t));
        record_failure(&mut failures, b, Failure::Rcode(ResponseCode::ServFail));
        record_failure(&mut failures, a, timed_out(t));
        record_failure(&mut failures, b, timed_out(t));
        let err = LookupError::Unanswered(failures).into_error("TXT record c.example.com");
        assert_eq!(
            err.to_string(),
            "DNS resolution failed: no answer for TXT record c.example.com: nameserver \
             127.0.0.1:1 timed out (2 queries of 100ms without an answer); nameserver \
             127.0.0.2:1 timed out (1 query of 100ms without an answer)"
        );
        let err = LookupError::NxDomain { nameserver: a }.into_error("SRV record x.y");
        assert!(
            err.to_string()
                .contains("NXDOMAIN from nameserver 127.0.0.1:1"),
            "{err}"
        );
    }
}
