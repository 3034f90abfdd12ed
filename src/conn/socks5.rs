//! The client half of SOCKS5 (RFC 1928), with username/password authentication
//! (RFC 1929): what the MongoDB SOCKS5 Support spec asks of a driver.
//!
//! [`connect`] runs the whole exchange over any blocking byte stream, so on the runtime's
//! sockets every wait parks the coroutine (or blocks a plain thread) and is bounded by the
//! ambient deadline like any other socket wait. The messages are built and checked by
//! small pure functions, each tested here without a socket: whatever a proxy sends back,
//! a malformed reply is an error, never a panic.
//!
//! The server's host name goes to the proxy as a domain name (address type 3), so name
//! resolution happens at the proxy, as the spec requires; an IP literal goes as an
//! IPv4 or IPv6 address.

use std::{
    io::{self, Read, Write},
    net::IpAddr,
};

use crate::options::ProxyOptions;

const VERSION: u8 = 0x05;
const METHOD_NO_AUTH: u8 = 0x00;
const METHOD_USERNAME_PASSWORD: u8 = 0x02;
const METHOD_NONE_ACCEPTABLE: u8 = 0xFF;
/// RFC 1929's sub-negotiation version.
const AUTH_VERSION: u8 = 0x01;
const COMMAND_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;
const REPLY_SUCCEEDED: u8 = 0x00;

/// Asks the proxy at the other end of `stream` to connect to `host`:`port`, logging in
/// with the proxy's user name and password when set. On success the stream is a tunnel
/// to the server.
///
/// # Errors
/// I/O errors, and the proxy's refusals: no acceptable authentication method
/// (`PermissionDenied`), wrong credentials (`PermissionDenied`), a failed CONNECT (the
/// reply code and its meaning, `ConnectionRefused` for code 5), a reply that is not
/// SOCKS5 (`InvalidData`), a connection closed mid-handshake (`UnexpectedEof`).
pub(crate) fn connect<S: Read + Write>(
    stream: &mut S,
    proxy: &ProxyOptions,
    host: &str,
    port: u16,
) -> io::Result<()> {
    let credentials = proxy.username.as_deref().zip(proxy.password.as_deref());
    // Built before anything is sent, so that a name too long fails without traffic.
    let request = connect_request(host, port)?;
    let login = credentials
        .map(|(user, password)| auth_request(user, password))
        .transpose()?;

    stream.write_all(&greeting(login.is_some()))?;
    stream.flush()?;
    match parse_method_choice(read_array(stream)?, login.is_some())? {
        Method::NoAuth => {}
        Method::UsernamePassword => {
            // parse_method_choice accepts this method only when it was offered.
            let login = login.as_deref().unwrap_or_default();
            stream.write_all(login)?;
            stream.flush()?;
            parse_auth_reply(read_array(stream)?)?;
        }
    }
    stream.write_all(&request)?;
    stream.flush()?;
    let bound_address = parse_reply_head(read_array(stream)?, host, port)?;
    // The address the proxy connected from: read past it, the tunnel starts after it.
    let rest = match bound_address {
        BoundAddress::Fixed(len) => len,
        BoundAddress::Domain => usize::from(read_array::<1>(stream)?[0]),
    };
    let mut skip = [0u8; 255 + 2];
    read_exact(stream, &mut skip[..rest + 2])
}

/// An authentication method the proxy chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    NoAuth,
    UsernamePassword,
}

/// The method selection message: no authentication, plus username/password when the
/// client has credentials (the proxy picks).
fn greeting(with_credentials: bool) -> Vec<u8> {
    if with_credentials {
        vec![VERSION, 2, METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD]
    } else {
        vec![VERSION, 1, METHOD_NO_AUTH]
    }
}

fn parse_method_choice(reply: [u8; 2], offered_credentials: bool) -> io::Result<Method> {
    check_version(reply[0])?;
    match reply[1] {
        METHOD_NO_AUTH => Ok(Method::NoAuth),
        METHOD_USERNAME_PASSWORD if offered_credentials => Ok(Method::UsernamePassword),
        METHOD_NONE_ACCEPTABLE if offered_credentials => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the proxy accepts none of the offered authentication methods \
             (none, username/password)",
        )),
        METHOD_NONE_ACCEPTABLE => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the proxy requires authentication: set proxyUsername and proxyPassword",
        )),
        other => Err(invalid(format!(
            "the proxy chose authentication method {other:#04x}, which was not offered"
        ))),
    }
}

/// RFC 1929's request: version, user name and password, each 1 to 255 bytes.
fn auth_request(username: &str, password: &str) -> io::Result<Vec<u8>> {
    let field = |name: &str, value: &str| {
        u8::try_from(value.len())
            .ok()
            .filter(|&len| len > 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} must be 1 to 255 bytes long for SOCKS5 (RFC 1929)"),
                )
            })
    };
    let user_len = field("proxyUsername", username)?;
    let password_len = field("proxyPassword", password)?;
    let mut request = Vec::with_capacity(3 + username.len() + password.len());
    request.extend([AUTH_VERSION, user_len]);
    request.extend_from_slice(username.as_bytes());
    request.push(password_len);
    request.extend_from_slice(password.as_bytes());
    Ok(request)
}

fn parse_auth_reply(reply: [u8; 2]) -> io::Result<()> {
    // RFC 1929 says version 1; some proxies answer with the SOCKS version instead.
    if reply[0] != AUTH_VERSION && reply[0] != VERSION {
        return Err(invalid(format!(
            "the proxy answered the login with version {:#04x}, not RFC 1929's 0x01",
            reply[0]
        )));
    }
    match reply[1] {
        0 => Ok(()),
        status => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the proxy rejected proxyUsername/proxyPassword (RFC 1929 status {status:#04x})"
            ),
        )),
    }
}

/// The CONNECT request for `host`:`port`: an IP literal as an address, any other name as
/// a domain name for the proxy to resolve.
fn connect_request(host: &str, port: u16) -> io::Result<Vec<u8>> {
    let mut request = vec![VERSION, COMMAND_CONNECT, 0x00];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            request.push(ATYP_IPV4);
            request.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            request.push(ATYP_IPV6);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len())
                .ok()
                .filter(|&len| len > 0)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "host name {host:?} must be 1 to 255 bytes long to go through \
                             a SOCKS5 proxy"
                        ),
                    )
                })?;
            request.extend([ATYP_DOMAIN, len]);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// How long the bound address after a successful reply's first four bytes is (its port
/// not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BoundAddress {
    /// An IPv4 (4) or IPv6 (16) address.
    Fixed(usize),
    /// A domain name: one length byte, then that many bytes.
    Domain,
}

/// Checks the first four bytes of the CONNECT reply: version, reply code, reserved byte,
/// address type.
fn parse_reply_head(head: [u8; 4], host: &str, port: u16) -> io::Result<BoundAddress> {
    check_version(head[0])?;
    if head[1] != REPLY_SUCCEEDED {
        let kind = match head[1] {
            0x05 => io::ErrorKind::ConnectionRefused,
            0x03 => io::ErrorKind::NetworkUnreachable,
            0x04 => io::ErrorKind::HostUnreachable,
            _ => io::ErrorKind::Other,
        };
        return Err(io::Error::new(
            kind,
            format!(
                "the proxy could not connect to {}: SOCKS5 reply code {} ({})",
                host_port(host, port),
                head[1],
                reply_meaning(head[1])
            ),
        ));
    }
    match head[3] {
        ATYP_IPV4 => Ok(BoundAddress::Fixed(4)),
        ATYP_IPV6 => Ok(BoundAddress::Fixed(16)),
        ATYP_DOMAIN => Ok(BoundAddress::Domain),
        other => Err(invalid(format!(
            "the proxy's reply has unknown address type {other:#04x}"
        ))),
    }
}

/// RFC 1928 §6's names for the reply codes.
fn reply_meaning(code: u8) -> &'static str {
    match code {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unassigned",
    }
}

fn check_version(version: u8) -> io::Result<()> {
    if version == VERSION {
        Ok(())
    } else {
        Err(invalid(format!(
            "the proxy does not speak SOCKS5 (its reply starts with {version:#04x}, not 0x05)"
        )))
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub(super) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn read_array<const N: usize>(stream: &mut impl Read) -> io::Result<[u8; N]> {
    let mut buf = [0; N];
    read_exact(stream, &mut buf)?;
    Ok(buf)
}

fn read_exact(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    stream.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the proxy closed the connection during the SOCKS5 handshake",
        ),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A proxy that answers with canned bytes and records what the client sent.
    struct Scripted {
        replies: Cursor<Vec<u8>>,
        sent: Vec<u8>,
    }

    impl Scripted {
        fn new(replies: &[u8]) -> Scripted {
            Scripted {
                replies: Cursor::new(replies.to_vec()),
                sent: Vec::new(),
            }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.replies.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn proxy(credentials: Option<(&str, &str)>) -> ProxyOptions {
        let mut proxy = ProxyOptions::new("proxy.test");
        if let Some((user, password)) = credentials {
            proxy.username = Some(user.to_owned());
            proxy.password = Some(password.to_owned());
        }
        proxy
    }

    const OK_IPV4: [u8; 10] = [5, 0, 0, 1, 10, 0, 0, 1, 0x04, 0x38];

    #[test]
    fn connect_without_credentials_sends_the_name_as_a_domain() {
        let mut replies = vec![5, 0];
        replies.extend(OK_IPV4);
        replies.extend(b"tunnel");
        let mut proxy_side = Scripted::new(&replies);
        connect(&mut proxy_side, &proxy(None), "db.example", 27017).unwrap();
        let mut expected = vec![5, 1, 0, /* CONNECT */ 5, 1, 0, 3, 10];
        expected.extend(b"db.example");
        expected.extend(27017u16.to_be_bytes());
        assert_eq!(proxy_side.sent, expected);
        // Nothing past the reply was consumed: the tunnel's bytes are the server's.
        let mut rest = String::new();
        proxy_side.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "tunnel");
    }

    #[test]
    fn connect_with_credentials_logs_in_when_the_proxy_asks() {
        let mut replies = vec![5, 2, /* login ok */ 1, 0];
        // A bound address given as a domain name is skipped too.
        replies.extend([5, 0, 0, 3, 5]);
        replies.extend(b"proxy");
        replies.extend([0, 80]);
        let mut proxy_side = Scripted::new(&replies);
        connect(&mut proxy_side, &proxy(Some(("ann", "pw"))), "10.1.2.3", 9).unwrap();
        let mut expected = vec![5, 2, 0, 2, /* login */ 1, 3];
        expected.extend(b"ann");
        expected.extend([2]);
        expected.extend(b"pw");
        expected.extend([5, 1, 0, 1, 10, 1, 2, 3, 0, 9]);
        assert_eq!(proxy_side.sent, expected);
    }

    #[test]
    fn credentials_are_not_sent_when_the_proxy_needs_none() {
        let mut replies = vec![5, 0];
        replies.extend(OK_IPV4);
        let mut proxy_side = Scripted::new(&replies);
        connect(&mut proxy_side, &proxy(Some(("ann", "pw"))), "h", 1).unwrap();
        assert!(!proxy_side.sent.windows(2).any(|w| w == b"pw"));
    }

    #[test]
    fn ipv6_literals_go_as_addresses() {
        let request = connect_request("::1", 27017).unwrap();
        let mut expected = vec![5, 1, 0, 4];
        expected.extend(std::net::Ipv6Addr::LOCALHOST.octets());
        expected.extend(27017u16.to_be_bytes());
        assert_eq!(request, expected);
    }

    #[test]
    fn refusals_are_errors_that_say_why() {
        let err = |replies: &[u8], credentials| {
            connect(
                &mut Scripted::new(replies),
                &proxy(credentials),
                "db",
                27017,
            )
            .unwrap_err()
        };
        let e = err(&[5, 0xFF], None);
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("set proxyUsername"), "{e}");
        let e = err(&[5, 0xFF], Some(("u", "p")));
        assert!(e.to_string().contains("none of the offered"), "{e}");
        let e = err(&[5, 2, 1, 1], Some(("u", "wrong")));
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("rejected proxyUsername"), "{e}");
        // Username/password chosen although not offered.
        let e = err(&[5, 2], None);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let e = err(&[5, 0, 5, 5, 0, 1], None);
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(
            e.to_string(),
            "the proxy could not connect to db:27017: SOCKS5 reply code 5 (connection refused)"
        );
        let e = err(&[5, 0, 5, 2, 0, 1], None);
        assert!(
            e.to_string()
                .contains("reply code 2 (connection not allowed by ruleset)")
        );
        let e = err(&[5, 0, 5, 0x42, 0, 1], None);
        assert!(e.to_string().contains("reply code 66 (unassigned)"), "{e}");
        // An HTTP proxy, say.
        let e = err(b"HTTP/1.1 400 Bad Request\r\n", None);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("does not speak SOCKS5"), "{e}");
        let e = err(&[5, 0, 5, 0, 0, 9], None);
        assert!(e.to_string().contains("unknown address type 0x09"), "{e}");
    }

    #[test]
    fn truncated_replies_are_eof_errors() {
        let mut full = vec![5, 2, 1, 0, 5, 0, 0, 3, 5];
        full.extend(b"proxy");
        full.extend([0, 80]);
        for cut in 0..full.len() {
            let e = connect(
                &mut Scripted::new(&full[..cut]),
                &proxy(Some(("u", "p"))),
                "db",
                1,
            )
            .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
            assert!(e.to_string().contains("closed the connection"), "{e}");
        }
    }

    #[test]
    fn names_and_credentials_out_of_range_are_refused_before_sending() {
        let long = "a".repeat(256);
        for (host, credentials) in [
            (long.as_str(), None),
            ("", None),
            ("h", Some((long.as_str(), "p"))),
            ("h", Some(("u", ""))),
        ] {
            let mut proxy_side = Scripted::new(&[5, 0]);
            let e = connect(&mut proxy_side, &proxy(credentials), host, 1).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            assert!(proxy_side.sent.is_empty());
        }
        assert!(connect_request(&"a".repeat(255), 1).is_ok());
    }

    #[test]
    fn arbitrary_replies_never_panic() {
        // A deterministic xorshift stream of replies, biased toward valid prefixes so
        // that every parsing step is reached.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut successes = 0;
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut replies: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            for (i, byte) in [5u8, 2, 1, 0, 5, 0, 0].iter().enumerate() {
                if i < replies.len() && next() % 4 != 0 {
                    replies[i] = *byte;
                }
            }
            let credentials = (next() % 2 == 0).then_some(("u", "p"));
            if connect(&mut Scripted::new(&replies), &proxy(credentials), "h", 1).is_ok() {
                successes += 1;
            }
        }
        assert!(
            successes > 0,
            "no random reply was valid: the bias is wrong"
        );
    }
}
