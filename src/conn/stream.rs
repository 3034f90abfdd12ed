//! The byte stream under a connection: TCP, Unix socket, or TLS over TCP (rustls).
//!
//! All of them are the runtime's sockets, so a read parks the calling coroutine, or blocks
//! a plain thread. rustls' `StreamOwned` runs unchanged on top, being plain blocking I/O.

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use greenmongo_runtime::{
    net::{TcpStream, ToSocketAddrs, UnixStream},
    time::with_deadline,
};
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};

use crate::{
    options::{ServerAddress, TlsOptions},
    pool::Establishing,
    Error, Result,
};

/// An open byte stream to a server.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// Connects to `address` within `connect_timeout`, then does the TLS handshake if
    /// `tls` is given (within the same timeout).
    ///
    /// # Errors
    /// Network and TLS errors, with the address in the message.
    /// Once the socket exists (before TLS), `establishing` is told how to shut it down.
    pub(crate) fn connect(
        address: &ServerAddress,
        connect_timeout: Option<Duration>,
        tls: Option<&Arc<ClientConfig>>,
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
                let tcp = connect_tcp(host, *port, deadline)?;
                tcp.set_nodelay(true)?;
                if let Some(establishing) = establishing {
                    let socket = tcp.try_clone()?;
                    establishing.on_interrupt(move || {
                        let _ = socket.shutdown(Shutdown::Both);
                    });
                }
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
}

fn connect_tcp(host: &str, port: u16, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?;
    let mut last = None;
    for addr in addrs {
        let attempt = match deadline {
            Some(d) => {
                TcpStream::connect_timeout(&addr, d.saturating_duration_since(Instant::now()))
            }
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address found")))
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
