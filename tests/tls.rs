//! TLS against a real SecantusDB server.
//!
//! The test makes its own PKI with rcgen (a CA, a server certificate it signs naming only
//! the IP 127.0.0.1, and an unrelated second CA), starts one TLS server with
//! `scripts/test-server` and runs every check against it: starting and stopping a server
//! takes seconds, so the checks share one `#[test]` and each names itself in its
//! assertion messages. `MONGODB_URI` is ignored: this test always runs its own server.
//!
//! Without the script or a working server the test fails when `CI` is set and otherwise
//! prints why it is skipped.

use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use bson::{Document, doc};
use greenmongo::{Client, Error, runtime::Runtime};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

#[test]
fn tls_against_secantusdb() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{}", std::process::id()));
    let pki = Pki::generate(&dir);
    let Some(server) = TlsServer::start(&format!("tls-{}", std::process::id()), &pki) else {
        return;
    };
    let port = server.port;
    let ca = uri_encode(&pki.ca);
    let other_ca = uri_encode(&pki.other_ca);
    let base = |host: &str| {
        format!(
            "mongodb://{host}:{port}/?directConnection=true&connectTimeoutMS=5000\
             &socketTimeoutMS=5000&serverSelectionTimeoutMS=1500"
        )
    };
    let trusted = format!("{}&tls=true&tlsCAFile={ca}", base("127.0.0.1"));

    // (a) tlsCAFile naming the CA that signed the server's certificate: connects, from a
    // coroutine and from a plain thread (each with its own client, so each does the
    // TCP connect and the TLS handshake itself).
    let rt = Runtime::builder()
        .worker_threads(1)
        .build()
        .expect("build runtime");
    let uri = trusted.clone();
    let from_coroutine = rt.block_on(move || ping(&uri));
    assert_pong("(a) tlsCAFile, from a coroutine", from_coroutine);
    let uri = trusted.clone();
    let from_thread = std::thread::spawn(move || ping(&uri)).join().unwrap();
    assert_pong("(a) tlsCAFile, from a plain thread", from_thread);
    // The driver's deepest path (TCP connect, TLS handshake, hello, a typed insert and find
    // through serde) fits the default 256 KiB stack with room to spare: measured on a
    // fresh 1 MiB stack as its resident pages.
    let uri = trusted.clone();
    let used = rt.block_on(move || {
        greenmongo::runtime::coroutine::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                let client = Client::with_uri_str(&uri).unwrap();
                let coll = client.database("stack_depth").collection::<Document>("c");
                coll.insert_one(doc! { "nested": { "a": [1, 2, { "b": "c" }] } })
                    .run()
                    .unwrap();
                coll.find_one(doc! {}).run().unwrap().unwrap();
                coll.drop().run().unwrap();
                let here = 0u8;
                // Three quarters of the 1 MiB: clear of the guard page below it.
                resident_kib_below(std::ptr::addr_of!(here) as usize, 768 * 1024)
            })
            .join()
            .unwrap()
    });
    println!("stack used by connect + TLS handshake + insert + find: {used} KiB");
    // Debug builds use the most stack (about 112 KiB here); the default is 256 KiB.
    assert!(
        used > 0 && used <= 192,
        "the deepest driver path used {used} KiB of stack"
    );
    // A client's pooled TLS connection is reused for a second command.
    let client = Client::with_uri_str(&trusted).unwrap();
    for i in 0..2 {
        assert_pong(
            &format!("(a) pooled TLS connection, command {i}"),
            client
                .database("admin")
                .run_command(doc! { "ping": 1 })
                .run(),
        );
    }
    // tlsCAFile alone turns TLS on (TlsOptions::is_enabled; pymongo: "implies tls=True").
    assert_pong(
        "(a) tlsCAFile without tls=true",
        ping(&format!("{}&tlsCAFile={ca}", base("127.0.0.1"))),
    );

    // (b) A CA that did not sign the server's certificate: rejected in the handshake.
    let err = ping_err(
        "(b) untrusted CA",
        &format!("{}&tls=true&tlsCAFile={other_ca}", base("127.0.0.1")),
    );
    assert_certificate_error(
        "(b) untrusted CA",
        &err,
        "invalid peer certificate: UnknownIssuer",
    );
    // The system trust store (no tlsCAFile) does not know the test CA either.
    let err = ping_err(
        "(b) system roots",
        &format!("{}&tls=true", base("127.0.0.1")),
    );
    assert_certificate_error(
        "(b) system roots",
        &err,
        "invalid peer certificate: UnknownIssuer",
    );

    // (c) tlsAllowInvalidCertificates / tlsInsecure: no CA needed.
    assert_pong(
        "(c) tlsAllowInvalidCertificates=true",
        ping(&format!(
            "{}&tls=true&tlsAllowInvalidCertificates=true",
            base("127.0.0.1")
        )),
    );
    assert_pong(
        "(c) tlsInsecure=true, wrong host name and no CA",
        ping(&format!("{}&tls=true&tlsInsecure=true", base("localhost"))),
    );

    // (d) The certificate names 127.0.0.1 only; "localhost" is a name mismatch.
    let err = ping_err(
        "(d) localhost",
        &format!("{}&tls=true&tlsCAFile={ca}", base("localhost")),
    );
    assert_certificate_error(
        "(d) localhost",
        &err,
        "invalid peer certificate: certificate not valid for name \"localhost\"; \
         certificate is only valid for IpAddress(127.0.0.1)",
    );
    assert_pong(
        "(d) localhost with tlsAllowInvalidHostnames=true",
        ping(&format!(
            "{}&tls=true&tlsCAFile={ca}&tlsAllowInvalidHostnames=true",
            base("localhost")
        )),
    );
    // tlsAllowInvalidHostnames forgives the name only: the chain is still checked.
    let err = ping_err(
        "(d) tlsAllowInvalidHostnames with an untrusted CA",
        &format!(
            "{}&tls=true&tlsCAFile={other_ca}&tlsAllowInvalidHostnames=true",
            base("localhost")
        ),
    );
    assert_certificate_error(
        "(d) tlsAllowInvalidHostnames with an untrusted CA",
        &err,
        "invalid peer certificate: UnknownIssuer",
    );

    // (e) A plaintext client on the TLS port: a prompt, clear error, not a hang.
    let started = Instant::now();
    let err = ping_err(
        "(e) plaintext to the TLS port",
        &format!(
            "mongodb://127.0.0.1:{port}/?directConnection=true&connectTimeoutMS=2000\
             &socketTimeoutMS=2000&serverSelectionTimeoutMS=1500"
        ),
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "(e) plaintext to the TLS port: the error took {took:?} (socketTimeoutMS=2000): {err}"
    );
    // The server resets the connection (or closes it) on a non-TLS first record; the
    // monitor reports that, and server selection gives up with it.
    assert!(
        matches!(*err.kind, greenmongo::ErrorKind::ServerSelection { .. })
            && err
                .to_string()
                .contains(&format!("127.0.0.1:{port} is Unknown")),
        "(e) plaintext to the TLS port: expected server selection to fail on it, got {err:?}"
    );
    eprintln!("(e) plaintext to the TLS port failed after {took:?} with: {err}");

    // Passed: stop the server and remove its state and the PKI (a failure keeps both,
    // with the server's log, for a post-mortem).
    let state = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".test-server")
        .join(&server.name);
    drop(server);
    let _ = std::fs::remove_dir_all(state);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Resident KiB of the `len` bytes below the page holding `addr` (a local of the
/// coroutine's outermost frame, so near the top of its stack): `mincore` counts this
/// stack's own pages. (The `Rss` of its mapping in `/proc/self/smaps` counted other
/// stacks too whenever the kernel merged the stack's mapping with a neighbouring one of
/// the same flags: 456 KiB once in CI against 108 KiB.)
fn resident_kib_below(addr: usize, len: usize) -> u64 {
    const PAGE: usize = 4096;
    let hi = (addr / PAGE + 1) * PAGE;
    let lo = hi - len;
    let mut resident = vec![0u8; len / PAGE];
    // SAFETY: `[lo, hi)` lies in the coroutine's own mapped stack (the caller's `len`
    // stays above its guard page) and `resident` has one byte per page of it.
    let rc = unsafe { libc::mincore(lo as *mut libc::c_void, len, resident.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    (resident.iter().filter(|&&b| b & 1 != 0).count() * PAGE / 1024) as u64
}

fn ping(uri: &str) -> greenmongo::Result<Document> {
    Client::with_uri_str(uri)?
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
}

fn assert_pong(check: &str, reply: greenmongo::Result<Document>) {
    match reply {
        Ok(reply) => assert_eq!(
            reply.get_f64("ok").ok(),
            Some(1.0),
            "{check}: ping reply {reply}"
        ),
        Err(e) => panic!("{check}: ping failed: {e}"),
    }
}

fn ping_err(check: &str, uri: &str) -> Error {
    match ping(uri) {
        Ok(reply) => panic!("{check}: expected the connection to fail, got {reply}"),
        Err(e) => e,
    }
}

/// A handshake failure: server selection gives up, naming the server and rustls' words
/// (the monitor's connection failed the handshake).
fn assert_certificate_error(check: &str, err: &Error, expected: &str) {
    assert!(
        matches!(*err.kind, greenmongo::ErrorKind::ServerSelection { .. }),
        "{check}: expected server selection to fail on the TLS error, got {err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(expected),
        "{check}: expected the error to contain {expected:?}, got: {text}"
    );
    assert!(
        text.contains("cannot connect to"),
        "{check}: the error should name the address: {text}"
    );
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

/// The test PKI, written as PEM files into `dir`.
struct Pki {
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl Pki {
    fn generate(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("create the PKI directory");
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params("greenmongo test CA")
            .self_signed(&ca_key)
            .unwrap();
        let other_key = KeyPair::generate().unwrap();
        let other = ca_params("greenmongo unrelated CA")
            .self_signed(&other_key)
            .unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "greenmongo test server");
        params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&server_key, &ca, &ca_key).unwrap();

        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        };
        Pki {
            ca: write("ca.pem", ca.pem()),
            other_ca: write("other-ca.pem", other.pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server-key.pem", server_key.serialize_pem()),
        }
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A SecantusDB started by `scripts/test-server`, stopped on drop.
struct TlsServer {
    name: String,
    port: u16,
}

impl TlsServer {
    /// Starts the server; `None` (after printing why) when it cannot be started outside
    /// CI. In CI that is a failure.
    fn start(name: &str, pki: &Pki) -> Option<TlsServer> {
        let unavailable = |why: String| {
            if std::env::var_os("CI").is_some() {
                panic!("TLS test server unavailable (CI is set, so this fails): {why}");
            }
            eprintln!("skipping the TLS tests: {why}");
            None
        };
        let script = test_server_script();
        if !script.is_file() {
            return unavailable(format!("{} is missing", script.display()));
        }
        let output = Command::new(&script)
            .arg("start")
            .args(["--name", name])
            .arg("--tls-cert")
            .arg(&pki.server_cert)
            .arg("--tls-key")
            .arg(&pki.server_key)
            .output();
        let output = match output {
            Ok(output) => output,
            Err(e) => return unavailable(format!("cannot run {}: {e}", script.display())),
        };
        if !output.status.success() {
            return unavailable(format!(
                "{} start failed ({}):\n{}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
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
        Some(server)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let status = Command::new(test_server_script())
            .args(["stop", "--name", &self.name])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not stop test server {}: {status:?}", self.name);
        }
    }
}

fn test_server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-server")
}
