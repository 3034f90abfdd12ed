//! SOCKS5 proxy support (`proxyHost`, `proxyPort`, `proxyUsername`, `proxyPassword`)
//! against the real test server, through the small proxy in `tests/util/socks5.rs`.
//!
//! The client names the server by a host name that only the proxy can resolve, so an
//! operation that succeeds shows both that the connection went through the proxy and
//! that the name was resolved there (SOCKS5 address type 3), never locally.

mod util {
    pub mod server;
    pub mod socks5;
}

use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use bson::{Document, doc};
use greenmongo::{
    Client, ClientOptions, Error, ErrorKind,
    options::ServerAddress,
    pool::CmapEvent,
    runtime::{Runtime, coroutine},
};
use util::{
    server,
    socks5::{Config, Socks5Proxy, Target},
};

/// The name the proxy resolves to the test server; no DNS server knows it.
const ALIAS: &str = "mongo.behind-the-proxy.invalid";

/// `MONGODB_URI`, the `host:port` it names the test server by, and the server's socket
/// address.
fn test_server() -> Option<(String, String, SocketAddr)> {
    let uri = server::uri()?;
    let options = ClientOptions::parse(&uri).expect("MONGODB_URI parses");
    let Some(ServerAddress::Tcp { host, port }) = options.hosts.first() else {
        panic!(
            "the test server is not at a TCP address: {:?}",
            options.hosts
        );
    };
    let server = (host.as_str(), *port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("cannot resolve the test server {host}"));
    Some((uri, format!("{host}:{port}"), server))
}

/// A proxy with `config` that resolves [`ALIAS`] to the test server, and `MONGODB_URI`
/// changed to name the server by [`ALIAS`] and to go through the proxy.
fn proxy_and_uri(config: Config) -> Option<(Socks5Proxy, String)> {
    let (uri, host_port, server) = test_server()?;
    let proxy = Socks5Proxy::start(Config {
        aliases: vec![(ALIAS.to_owned(), server)],
        ..config
    });
    assert!(
        uri.contains(&host_port),
        "MONGODB_URI {uri} should name its server as {host_port}"
    );
    let mut uri = uri.replacen(&host_port, &format!("{ALIAS}:{}", server.port()), 1);
    if !uri.contains('?') {
        uri.push_str(if uri.ends_with('/') { "?" } else { "/?" });
    } else if !uri.ends_with('?') && !uri.ends_with('&') {
        uri.push('&');
    }
    write!(
        uri,
        "directConnection=true&serverSelectionTimeoutMS=10000&proxyHost=127.0.0.1&proxyPort={}",
        proxy.port
    )
    .unwrap();
    Some((proxy, uri))
}

fn proxy_and_options(config: Config) -> Option<(Socks5Proxy, ClientOptions)> {
    let (proxy, uri) = proxy_and_uri(config)?;
    let options = ClientOptions::parse(&uri).expect("the proxied URI parses");
    Some((proxy, options))
}

fn crud_round_trip(client: &Client, name: &str) {
    let coll = client.database("live_proxy").collection::<Document>(name);
    coll.insert_many((0..10).map(|i| doc! { "i": i }))
        .run()
        .expect("insert through the proxy");
    let found: Vec<Document> = coll
        .find(doc! { "i": { "$gte": 5 } })
        .run()
        .expect("find through the proxy")
        .collect::<greenmongo::Result<_>>()
        .expect("cursor through the proxy");
    assert_eq!(found.len(), 5);
    assert_eq!(
        coll.count_documents(doc! {})
            .run()
            .expect("count through the proxy"),
        10
    );
    coll.drop().run().expect("drop through the proxy");
}

#[test]
fn operations_go_through_the_proxy() {
    let Some((proxy, options)) = proxy_and_options(Config::default()) else {
        return;
    };
    let (client, events) = server::recording_client(options);
    crud_round_trip(&client, &server::unique("plain_thread"));
    let pooled = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, CmapEvent::ConnectionCreated { .. }))
        .count();
    assert!(pooled >= 1, "no pooled connection was created");
    // Every pooled connection and at least the monitor's went through the proxy.
    assert!(
        proxy.tunnels() > pooled,
        "{} tunnels for {pooled} pooled connections plus the monitor's",
        proxy.tunnels()
    );
    let targets = proxy.targets();
    assert!(
        targets
            .iter()
            .all(|t| matches!(t, Target::Domain(name, _) if name == ALIAS)),
        "the server's name must reach the proxy unresolved: {targets:?}"
    );
    // Plaintext: each tunnel starts with an OP_MSG header's length, not a TLS record.
    assert!(!proxy.first_bytes().contains(&0x16));
}

#[test]
fn operations_go_through_the_proxy_from_coroutines() {
    let Some((proxy, mut options)) = proxy_and_options(Config::default()) else {
        return;
    };
    options.max_pool_size = Some(4);
    let rt = Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let client = Client::with_options(options).unwrap();
    let name = server::unique("coroutines");
    let total = rt.block_on(move || {
        let coll = client.database("live_proxy").collection::<Document>(&name);
        let writers: Vec<_> = (0..50)
            .map(|i| {
                let coll = coll.clone();
                coroutine::spawn(move || coll.insert_one(doc! { "i": i }).run().map(|_| ()))
            })
            .collect();
        for writer in writers {
            writer.join().unwrap().expect("insert through the proxy");
        }
        let total = coll.count_documents(doc! {}).run().unwrap();
        coll.drop().run().unwrap();
        total
    });
    assert_eq!(total, 50);
    // The pool (at most 4 connections) and the monitor.
    assert!(
        (2..=4 + 3).contains(&proxy.tunnels()),
        "{} tunnels",
        proxy.tunnels()
    );
}

fn ping_error(options: ClientOptions) -> Error {
    let client = Client::with_options(options).unwrap();
    match client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
    {
        Ok(reply) => panic!("expected the proxy to stop the ping, got {reply}"),
        Err(e) => e,
    }
}

/// Server selection gives up with the monitor's error, which names the server, the
/// proxy and what went wrong.
fn assert_proxy_error(err: &Error, proxy: &Socks5Proxy, expected: &str) {
    assert!(
        matches!(*err.kind, ErrorKind::ServerSelection { .. }),
        "expected server selection to fail, got {err:?}"
    );
    let text = err.to_string();
    for part in [
        format!("cannot connect to {ALIAS}:"),
        format!("through SOCKS5 proxy 127.0.0.1:{}: ", proxy.port),
        expected.to_owned(),
    ] {
        assert!(text.contains(&part), "expected {part:?} in: {text}");
    }
}

#[test]
fn proxy_credentials_are_used_and_checked() {
    let credentials = ("proxy-user".to_owned(), "proxy-s3cret".to_owned());
    let Some((proxy, options)) = proxy_and_options(Config {
        credentials: Some(credentials.clone()),
        ..Config::default()
    }) else {
        return;
    };
    let fast = |mut options: ClientOptions, password: Option<&str>| {
        options.server_selection_timeout = Some(Duration::from_millis(1500));
        let proxy = options.proxy.as_mut().unwrap();
        proxy.username = password.map(|_| credentials.0.clone());
        proxy.password = password.map(str::to_owned);
        options
    };

    let err = ping_error(fast(options.clone(), Some("not-the-password")));
    assert_proxy_error(
        &err,
        &proxy,
        "the proxy rejected proxyUsername/proxyPassword (RFC 1929 status 0x01)",
    );
    assert!(!err.to_string().contains("not-the-password"));
    assert!(proxy.failed_logins() > 0);

    let err = ping_error(fast(options.clone(), None));
    assert_proxy_error(
        &err,
        &proxy,
        "the proxy requires authentication: set proxyUsername and proxyPassword",
    );
    assert_eq!(proxy.tunnels(), 0);

    // The right password, given in the connection string.
    let Some((proxy, uri)) = proxy_and_uri(Config {
        credentials: Some(credentials.clone()),
        ..Config::default()
    }) else {
        return;
    };
    let uri = format!(
        "{uri}&proxyUsername={}&proxyPassword={}",
        credentials.0, credentials.1
    );
    let client = Client::with_uri_str(&uri).unwrap();
    crud_round_trip(&client, &server::unique("credentials"));
    assert!(proxy.tunnels() >= 2);
    assert_eq!(proxy.failed_logins(), 0);
}

#[test]
fn a_refused_connect_reports_the_reply_code() {
    let Some((proxy, mut options)) = proxy_and_options(Config {
        refuse_with: Some(2),
        ..Config::default()
    }) else {
        return;
    };
    options.server_selection_timeout = Some(Duration::from_millis(1500));
    let port = match &options.hosts[..] {
        [ServerAddress::Tcp { port, .. }] => *port,
        other => panic!("one TCP host expected: {other:?}"),
    };
    let err = ping_error(options);
    assert_proxy_error(
        &err,
        &proxy,
        &format!(
            "the proxy could not connect to {ALIAS}:{port}: SOCKS5 reply code 2 \
             (connection not allowed by ruleset)"
        ),
    );
    assert_eq!(proxy.tunnels(), 0);
}

#[test]
fn tls_runs_inside_the_proxy_tunnel() {
    // The plain server is only needed for its skip/fail policy: without a server setup
    // this test skips like the others.
    if server::uri().is_none() {
        return;
    }
    let name = format!("proxy-tls-{}", std::process::id());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&name);
    let pki = Pki::generate(&dir);
    let tls_server = TlsServer::start(&name, &pki);
    let proxy = Socks5Proxy::start(Config::default());
    // Full verification: the CA, and the certificate's name (the IP 127.0.0.1) checked
    // against the server address, which the proxy receives as an address.
    let uri = format!(
        "mongodb://127.0.0.1:{}/?directConnection=true&serverSelectionTimeoutMS=10000\
         &tls=true&tlsCAFile={}&proxyHost=127.0.0.1&proxyPort={}",
        tls_server.port,
        uri_encode(&pki.ca),
        proxy.port
    );
    let client = Client::with_uri_str(&uri).unwrap();
    crud_round_trip(&client, &server::unique("tls"));
    assert!(proxy.tunnels() >= 2, "{} tunnels", proxy.tunnels());
    let tls_port = tls_server.port;
    assert!(
        proxy
            .targets()
            .iter()
            .all(|t| *t == Target::Ip(SocketAddr::from(([127, 0, 0, 1], tls_port))))
    );
    // Every tunnel starts with a TLS handshake record (content type 22): the driver does
    // TLS end to end with the server, the proxy sees only ciphertext.
    let first = proxy.first_bytes();
    assert!(
        !first.is_empty() && first.iter().all(|&b| b == 0x16),
        "{first:?}"
    );
    drop(client);
    drop(tls_server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Percent-encodes everything but unreserved characters and `/` (for a path in a URI).
fn uri_encode(path: &Path) -> String {
    let mut out = String::new();
    for b in path.to_str().expect("UTF-8 temp path").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => write!(out, "%{b:02X}").unwrap(),
        }
    }
    out
}

/// A CA and a server certificate it signed for the IP 127.0.0.1, as PEM files.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl Pki {
    fn generate(dir: &Path) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
        };
        std::fs::create_dir_all(dir).expect("create the PKI directory");
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "greenmongo proxy test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "greenmongo proxy test server");
        params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        let server = params.signed_by(&server_key, &ca, &ca_key).unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        };
        Pki {
            ca: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server-key.pem", server_key.serialize_pem()),
        }
    }
}

/// A TLS SecantusDB started by `scripts/test-server`, stopped on drop.
struct TlsServer {
    name: String,
    port: u16,
}

impl TlsServer {
    /// # Panics
    /// When the server cannot start: the plain test server runs, so this one should too.
    fn start(name: &str, pki: &Pki) -> TlsServer {
        let output = Command::new(script())
            .args(["start", "--name", name, "--tls-cert"])
            .arg(&pki.server_cert)
            .arg("--tls-key")
            .arg(&pki.server_key)
            .output()
            .expect("run scripts/test-server");
        assert!(
            output.status.success(),
            "scripts/test-server start --tls-cert failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // From here on the server runs: the guard stops it even if parsing fails.
        let mut server = TlsServer {
            name: name.to_owned(),
            port: 0,
        };
        let uri = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        server.port = uri
            .strip_prefix("mongodb://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("cannot find the port in the URI {uri:?}"));
        server
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", "--name", &self.name])
            .status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-server")
}
