//! The byte stream under a connection: TCP, Unix socket, or TLS over TCP (rustls),
//! directly or through a SOCKS5 proxy.
//!
//! All of them are the runtime's sockets, so a read parks the calling coroutine, or blocks
//! a plain thread. rustls' `StreamOwned` runs unchanged on top, being plain blocking I/O,
//! and so does the SOCKS5 handshake ([`socks5`](super::socks5)): TLS then runs inside the
//! proxy's tunnel, end to end with the server.
//!
//! Every TCP connection gets TCP keepalive ([`KEEPALIVE_TIME`]), and a host name with
//! several addresses is connected to the Happy Eyeballs way (RFC 8305): attempts start
//! [`CONNECTION_ATTEMPT_DELAY`] apart, or as soon as the one before fails, and the first
//! to connect wins.

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use greenmongo_runtime::{
    Handle, coroutine,
    net::{TcpStream, ToSocketAddrs, UnixStream},
    sync::{RecvError, mpsc},
    time::{self, with_deadline},
};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
};
use socket2::{SockRef, TcpKeepalive};

use super::socks5::{self, host_port};
use crate::{
    Error, Result,
    options::{ProxyOptions, ServerAddress, TlsOptions},
    pool::Establishing,
};

/// Idle time before the first TCP keepalive probe: 120 s, as the official drivers use,
/// below the idle timeouts of common firewalls and load balancers (Azure's is 4 minutes),
/// so that they keep a quiet pooled connection open and a dead peer is noticed.
pub(crate) const KEEPALIVE_TIME: Duration = Duration::from_secs(120);

/// Time between unanswered keepalive probes, where the platform lets us set it (PyMongo's
/// 10 s): a dead peer is noticed about 90 s after the first probe instead of 11 minutes.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Happy Eyeballs' "Connection Attempt Delay": RFC 8305 §5's recommended 250 ms.
pub(crate) const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// An open byte stream to a server.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// Connects to `address` within `connect_timeout` (and the ambient deadline, if
    /// earlier), through the SOCKS5 `proxy` if given, then does the TLS handshake if `tls`
    /// is given, all within the same timeout.
    ///
    /// A Unix socket is local: it is connected to directly, never through the proxy.
    ///
    /// # Errors
    /// Network, proxy and TLS errors, with the address (and the proxy) in the message.
    /// Once the socket exists (before SOCKS5 and TLS), `establishing` is told how to shut
    /// it down.
    pub(crate) fn connect(
        address: &ServerAddress,
        connect_timeout: Option<Duration>,
        tls: Option<&Arc<ClientConfig>>,
        proxy: Option<&ProxyOptions>,
        establishing: Option<&Establishing>,
    ) -> Result<Stream> {
        let deadline = connect_timeout
            .filter(|t| !t.is_zero())
            .map(|t| Instant::now() + t);
        let within = |f: &mut dyn FnMut() -> io::Result<Stream>| match deadline {
            Some(d) => with_deadline(d, f),
            None => f(),
        };
        let stream = match address {
            ServerAddress::Tcp { host, port } => within(&mut || {
                let tcp = match proxy {
                    None => prepare(connect_tcp(host, *port, deadline)?, establishing)?,
                    Some(proxy) => {
                        via_proxy(proxy, host, *port, deadline, establishing).map_err(|e| {
                            io::Error::new(
                                e.kind(),
                                format!(
                                    "through SOCKS5 proxy {}: {e}",
                                    host_port(&proxy.host, proxy.port())
                                ),
                            )
                        })?
                    }
                };
                match tls {
                    None => Ok(Stream::Tcp(tcp)),
                    Some(config) => tls_handshake(tcp, host, config).map(Stream::Tls),
                }
            }),
            ServerAddress::Unix { path } => within(&mut || {
                let unix = UnixStream::connect(path)?;
                if let Some(establishing) = establishing {
                    let socket = unix.try_clone()?;
                    establishing.on_interrupt(move || {
                        let _ = socket.shutdown(Shutdown::Both);
                    });
                }
                Ok(Stream::Unix(unix))
            }),
        };
        stream.map_err(|e| {
            Error::from(io::Error::new(
                e.kind(),
                format!("cannot connect to {address}: {e}"),
            ))
        })
    }

    /// Sets the read and write timeouts (socketTimeoutMS); `None` waits forever.
    pub(crate) fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.filter(|t| !t.is_zero());
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Stream::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Stream::Tls(s) => {
                s.sock.set_read_timeout(timeout)?;
                s.sock.set_write_timeout(timeout)
            }
        }
    }

    /// The TCP socket under the stream (`None` for a Unix socket).
    #[cfg(test)]
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
            Stream::Tls(s) => Some(&s.sock),
        }
    }
}

/// Connects to the proxy, then asks it for a tunnel to `host`:`port`.
fn via_proxy(
    proxy: &ProxyOptions,
    host: &str,
    port: u16,
    deadline: Option<Instant>,
    establishing: Option<&Establishing>,
) -> io::Result<TcpStream> {
    let mut tcp = prepare(
        connect_tcp(&proxy.host, proxy.port(), deadline)?,
        establishing,
    )?;
    socks5::connect(&mut tcp, proxy, host, port)?;
    Ok(tcp)
}

/// Sets the options every driver socket has, and lets `establishing` abort the rest of
/// the connection setup (SOCKS5, TLS, handshake) by shutting the socket down.
fn prepare(tcp: TcpStream, establishing: Option<&Establishing>) -> io::Result<TcpStream> {
    tcp.set_nodelay(true)?;
    set_keepalive(&tcp)?;
    if let Some(establishing) = establishing {
        let socket = tcp.try_clone()?;
        establishing.on_interrupt(move || {
            let _ = socket.shutdown(Shutdown::Both);
        });
    }
    Ok(tcp)
}

/// Turns TCP keepalive on with [`KEEPALIVE_TIME`] (and [`KEEPALIVE_INTERVAL`]).
fn set_keepalive(tcp: &TcpStream) -> io::Result<()> {
    let params = TcpKeepalive::new().with_time(KEEPALIVE_TIME);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "illumos"
    ))]
    let params = params.with_interval(KEEPALIVE_INTERVAL);
    SockRef::from(tcp).set_tcp_keepalive(&params)
}

/// Resolves `host` and connects to one of its addresses (Happy Eyeballs when it has
/// several), by `deadline`.
fn connect_tcp(host: &str, port: u16, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?;
    connect_any(
        &interleave_families(addrs),
        deadline,
        CONNECTION_ATTEMPT_DELAY,
    )
}

/// Orders addresses for Happy Eyeballs (RFC 8305 §4): the resolver's order (which follows
/// RFC 6724's preferences), but alternating between IPv6 and IPv4, starting with the
/// family of the first, so that one broken family costs one attempt delay, not a
/// timeout per address.
fn interleave_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_is_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut second): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_is_v6);
    first.reverse();
    second.reverse();
    let mut out = Vec::with_capacity(first.len() + second.len());
    loop {
        match (first.pop(), second.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Connects to the first of `addrs` that accepts, by `deadline` (or the ambient one, if
/// earlier). With several addresses, attempts overlap (RFC 8305 §5): attempt *n* + 1
/// starts `delay` after attempt *n*, or at once when *n* fails; the first connection wins
/// and the others are closed as they finish. Each attempt is a coroutine inside a
/// runtime, a thread outside one.
///
/// # Errors
/// `TimedOut` at the deadline; the last attempt's error when all fail.
fn connect_any(
    addrs: &[SocketAddr],
    deadline: Option<Instant>,
    delay: Duration,
) -> io::Result<TcpStream> {
    // Attempts run elsewhere, out of reach of the ambient deadline: give them the
    // earliest one explicitly.
    let deadline = match (deadline, time::deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let connect_one = move |addr: SocketAddr| match deadline {
        Some(d) => TcpStream::connect_timeout(&addr, d.saturating_duration_since(Instant::now())),
        None => TcpStream::connect(addr),
    };
    match addrs {
        [] => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the host name resolved to no address",
        )),
        [addr] => connect_one(*addr),
        _ => {
            let (results, finished) = mpsc::channel();
            let in_runtime = Handle::try_current().is_some();
            let mut started = 0;
            let mut failed = 0;
            loop {
                if started < addrs.len() {
                    let addr = addrs[started];
                    started += 1;
                    let report = results.clone();
                    // A loser's stream is dropped, so closed, when the send fails.
                    let attempt = move || drop(report.send(connect_one(addr)));
                    const NAME: &str = "greenmongo-connect";
                    if in_runtime {
                        drop(coroutine::Builder::new().name(NAME).spawn(attempt));
                    } else if let Err(e) = thread::Builder::new().name(NAME.into()).spawn(attempt) {
                        let _ = results.send(Err(e));
                    }
                }
                let next_start = (started < addrs.len()).then(|| Instant::now() + delay);
                let wait_until = match (next_start, deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                match finished.recv_deadline(wait_until) {
                    Ok(Ok(stream)) => return Ok(stream),
                    Ok(Err(e)) => {
                        failed += 1;
                        if failed == addrs.len() {
                            return Err(e);
                        }
                        // Otherwise the next attempt starts now, or the others go on.
                    }
                    Err(RecvError::Wait(e))
                        if e.kind() == io::ErrorKind::TimedOut
                            && next_start.is_some()
                            && deadline.is_none_or(|d| Instant::now() < d) => {}
                    Err(RecvError::Wait(e)) => return Err(e),
                    // `results` is alive, so the channel cannot be disconnected.
                    Err(RecvError::Disconnected) => {
                        return Err(io::Error::other("connection attempts vanished"));
                    }
                }
            }
        }
    }
}

fn tls_handshake(
    tcp: TcpStream,
    host: &str,
    config: &Arc<ClientConfig>,
) -> io::Result<Box<StreamOwned<ClientConnection, TcpStream>>> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid TLS server name {host:?}: {e}"),
        )
    })?;
    let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    let mut stream = Box::new(StreamOwned::new(conn, tcp));
    // Drive the handshake now, so that certificate errors surface as connect errors.
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Builds the rustls configuration for `options` once per client.
///
/// Verification is on by default against the system's trust store (or `tlsCAFile`);
/// `tlsAllowInvalidCertificates` / `tlsInsecure` turn it off, and
/// `tlsAllowInvalidHostnames` keeps the chain check but skips the name check.
///
/// # Errors
/// Unreadable or malformed PEM files; an encrypted private key (not supported).
pub(crate) fn tls_config(options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid_argument(format!("TLS: {e}")))?;
    let roots = Arc::new(root_store(options)?);
    let verifier: Arc<dyn ServerCertVerifier> = if options.allow_invalid_certificates == Some(true)
    {
        Arc::new(AcceptAnyCertificate(provider))
    } else {
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| Error::invalid_argument(format!("TLS: {e}")))?;
        if options.allow_invalid_hostnames == Some(true) {
            Arc::new(IgnoreHostname(webpki))
        } else {
            webpki
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &options.cert_key_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            if options.cert_key_file_password.is_some() {
                return Err(Error::invalid_argument(
                    "tlsCertificateKeyFilePassword: encrypted private keys are not supported; \
                     decrypt the key (openssl pkcs8 -in key.pem -out plain.pem)",
                ));
            }
            let pem_error = |what: &str, e: &dyn std::fmt::Display| {
                Error::invalid_argument(format!(
                    "tlsCertificateKeyFile {}: {what}: {e}",
                    path.display()
                ))
            };
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| pem_error("cannot read certificates", &e))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| pem_error("bad certificate", &e))?;
            let key = PrivateKeyDer::from_pem_file(path)
                .map_err(|e| pem_error("no usable private key", &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| pem_error("certificate and key do not match", &e))?
        }
    };
    Ok(Arc::new(config))
}

fn root_store(options: &TlsOptions) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &options.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                Error::invalid_argument(format!("tlsCAFile {}: {e}", path.display()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    Error::invalid_argument(format!("tlsCAFile {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    Error::invalid_argument(format!("tlsCAFile {}: {e}", path.display()))
                })?;
            }
        }
        None => {
            // Unreadable system certificates are skipped, as every TLS client does.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// `tlsAllowInvalidCertificates`: accepts any certificate (signatures are still checked,
/// so the session is encrypted, but not authenticated).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `tlsAllowInvalidHostnames`: the chain must verify; a name mismatch is forgiven.
#[derive(Debug)]
struct IgnoreHostname(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{SocketAddr, TcpListener},
        thread,
        time::{Duration, Instant},
    };

    use greenmongo_runtime::{Runtime, time::with_timeout};
    use socket2::{Domain, SockRef, Socket, Type};

    use super::*;

    fn tcp(port: u16) -> ServerAddress {
        ServerAddress::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// A listener that accepts but whose accept queue is full, so that the kernel drops
    /// further SYNs and a connect to it hangs: a local black hole, unlike a non-routable
    /// address, which some networks reject at once.
    struct BlackHole {
        listener: TcpListener,
        fillers: Vec<std::net::TcpStream>,
        addr: SocketAddr,
    }

    impl BlackHole {
        fn new() -> BlackHole {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            socket
                .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
                .unwrap();
            socket.listen(0).unwrap();
            let listener = TcpListener::from(socket);
            let addr = listener.local_addr().unwrap();
            let mut fillers = Vec::new();
            // A loopback connect with room in the queue takes microseconds: 1 s without
            // an answer means the kernel dropped the SYN, even on a loaded machine.
            for _ in 0..32 {
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                    Ok(filler) => fillers.push(filler),
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        return BlackHole {
                            listener,
                            fillers,
                            addr,
                        };
                    }
                    Err(e) => panic!("filling the black hole's backlog: {e}"),
                }
            }
            panic!("the accept queue never filled up");
        }
    }

    /// A one-connection SOCKS5 proxy that reads the greeting and the CONNECT request of a
    /// client without credentials, answers with `reply`, then holds the connection open
    /// until the client closes it.
    fn fake_proxy(reply: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut greeting = [0; 3];
            conn.read_exact(&mut greeting).unwrap();
            conn.write_all(&[5, 0]).unwrap();
            let mut request = [0; 10]; // CONNECT to an IPv4 address
            conn.read_exact(&mut request).unwrap();
            conn.write_all(reply).unwrap();
            let _ = conn.read_to_end(&mut Vec::new());
        });
        port
    }

    fn proxy_on(port: u16) -> ProxyOptions {
        let mut proxy = ProxyOptions::new("127.0.0.1");
        proxy.port = Some(port);
        proxy
    }

    fn assert_keepalive(stream: &Stream) {
        let socket = SockRef::from(stream.tcp().expect("a TCP stream"));
        assert!(socket.keepalive().unwrap(), "SO_KEEPALIVE is off");
        assert_eq!(socket.tcp_keepalive_time().unwrap(), KEEPALIVE_TIME);
        #[cfg(target_os = "linux")]
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
    }

    #[test]
    fn every_tcp_connection_has_keepalive() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let direct =
            Stream::connect(&tcp(port), Some(Duration::from_secs(10)), None, None, None).unwrap();
        assert_keepalive(&direct);
        // Through a proxy, the socket is the one to the proxy.
        let proxy = proxy_on(fake_proxy(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 1]));
        let proxied = Stream::connect(
            &tcp(port),
            Some(Duration::from_secs(10)),
            None,
            Some(&proxy),
            None,
        )
        .unwrap();
        assert_keepalive(&proxied);
        assert_eq!(
            proxied.tcp().unwrap().peer_addr().unwrap().port(),
            proxy.port()
        );
    }

    #[test]
    fn proxy_errors_name_the_server_and_the_proxy() {
        let proxy = proxy_on(fake_proxy(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]));
        let err = Stream::connect(
            &tcp(27017),
            Some(Duration::from_secs(10)),
            None,
            Some(&proxy),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "I/O error: cannot connect to 127.0.0.1:27017: through SOCKS5 proxy \
                 127.0.0.1:{}: the \
                 proxy could not connect to 127.0.0.1:27017: SOCKS5 reply code 2 \
                 (connection not allowed by ruleset)",
                proxy.port()
            )
        );
        // No proxy listening at all.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = proxy_on(closed.local_addr().unwrap().port());
        drop(closed);
        let err = Stream::connect(
            &tcp(27017),
            Some(Duration::from_secs(10)),
            None,
            Some(&proxy),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "cannot connect to 127.0.0.1:27017: through SOCKS5 proxy 127.0.0.1:{}: ",
                proxy.port()
            )),
            "{err}"
        );
    }

    /// A proxy that accepts the TCP connection and never answers: the SOCKS5 handshake is
    /// bounded by connectTimeoutMS, and by an ambient deadline when that is earlier.
    fn silent_proxy_times_out() {
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = proxy_on(silent.local_addr().unwrap().port());
        let started = Instant::now();
        let err = Stream::connect(
            &tcp(27017),
            Some(Duration::from_millis(300)),
            None,
            Some(&proxy),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("through SOCKS5 proxy"), "{err}");
        assert!(err.is_network_timeout(), "{err:?}");
        let err = with_timeout(Duration::from_millis(300), || {
            Stream::connect(
                &tcp(27017),
                Some(Duration::from_secs(120)),
                None,
                Some(&proxy),
                None,
            )
        })
        .unwrap_err();
        assert!(err.is_network_timeout(), "{err:?}");
        // Neither waited for the 120 s connectTimeoutMS.
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn a_silent_proxy_is_bounded_by_the_timeouts() {
        silent_proxy_times_out();
    }

    #[test]
    fn a_silent_proxy_is_bounded_by_the_timeouts_in_a_coroutine() {
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(silent_proxy_times_out);
    }

    /// Happy Eyeballs: a black-holed first address costs one attempt delay, not the
    /// connect timeout; the late loser is closed by the driver once it connects.
    fn black_hole_then_working_address() {
        let hole = BlackHole::new();
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let real = server.local_addr().unwrap();
        let started = Instant::now();
        let connect_timeout = Duration::from_secs(60);
        let stream = connect_any(
            &[hole.addr, real],
            Some(started + connect_timeout),
            CONNECTION_ATTEMPT_DELAY,
        )
        .expect("the second address connects");
        let took = started.elapsed();
        assert_eq!(stream.peer_addr().unwrap(), real);
        // Sequential attempts would have spent the whole connect timeout on the first.
        assert!(took < connect_timeout / 2, "took {took:?}");
        assert!(
            took >= CONNECTION_ATTEMPT_DELAY,
            "the second started early: {took:?}"
        );

        // Make room in the black hole's queue: the pending attempt's SYN retransmission
        // gets through, the attempt connects after the race is over, and its stream is
        // dropped. The listener then sees a connection that ends without a byte.
        let fillers: Vec<SocketAddr> = hole
            .fillers
            .iter()
            .map(|f| f.local_addr().unwrap())
            .collect();
        hole.listener.set_nonblocking(true).unwrap();
        let give_up = Instant::now() + Duration::from_secs(45);
        let mut loser = None;
        while loser.is_none() && Instant::now() < give_up {
            match hole.listener.accept() {
                Ok((conn, from)) if !fillers.contains(&from) => loser = Some(conn),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => pause(),
                Err(e) => panic!("accept: {e}"),
            }
        }
        let mut loser = loser.expect("the losing attempt connected once there was room");
        // The losing attempt may be a coroutine on this very worker: poll, never block
        // the thread it needs to run on to close its stream.
        loser.set_nonblocking(true).unwrap();
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut buf = [0; 1];
        loop {
            match loser.read(&mut buf) {
                Ok(n) => {
                    assert_eq!(n, 0, "EOF: the loser was closed without a byte");
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < give_up, "the loser was never closed");
                    pause();
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// 20 ms: a coroutine parks on a timer (its worker runs the others), a thread sleeps.
    fn pause() {
        greenmongo_runtime::sleep(Duration::from_millis(20)).unwrap();
    }

    #[test]
    fn happy_eyeballs_skips_a_black_hole() {
        black_hole_then_working_address();
    }

    #[test]
    fn happy_eyeballs_skips_a_black_hole_in_a_coroutine() {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        rt.block_on(black_hole_then_working_address);
    }

    fn refused_address() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    #[test]
    fn a_failed_attempt_starts_the_next_at_once() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let real = server.local_addr().unwrap();
        let started = Instant::now();
        // An attempt delay far longer than the test may take: only the refusal of the
        // first address can start the second in time.
        let delay = Duration::from_secs(120);
        let stream = connect_any(
            &[refused_address(), real],
            Some(started + Duration::from_secs(240)),
            delay,
        )
        .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), real);
        assert!(started.elapsed() < delay / 2);
    }

    #[test]
    fn when_every_attempt_fails_the_error_is_returned() {
        let err = connect_any(
            &[refused_address(), refused_address()],
            Some(Instant::now() + Duration::from_secs(60)),
            CONNECTION_ATTEMPT_DELAY,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let holes = [BlackHole::new(), BlackHole::new()];
        let err = connect_any(
            &[holes[0].addr, holes[1].addr],
            Some(Instant::now() + Duration::from_millis(600)),
            CONNECTION_ATTEMPT_DELAY,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let err = connect_any(&[], None, CONNECTION_ATTEMPT_DELAY).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn address_families_alternate() {
        let v4 = |n: u8| SocketAddr::from(([10, 0, 0, n], 1));
        let v6 = |n: u16| SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, n], 1));
        assert_eq!(
            interleave_families(vec![v6(1), v6(2), v6(3), v4(1), v4(2)]),
            vec![v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        assert_eq!(
            interleave_families(vec![v4(1), v4(2), v6(1)]),
            vec![v4(1), v6(1), v4(2)]
        );
        assert_eq!(interleave_families(vec![v4(1)]), vec![v4(1)]);
        assert!(interleave_families(Vec::new()).is_empty());
    }
}
