//! Shared plumbing for the spec-test runners: finding the spec folder, reading its JSON
//! with `deny_unknown_fields` (so a new field in a spec file is noticed), turning parsed
//! options back into URI option names, and counting results per file.
//!
//! The spec files are read from `$GREENMONGO_SPEC_TESTS`, default `../shared/spec-tests`
//! next to the crate. A folder a runner expects and cannot find fails the runner in CI
//! (`CI` set), naming the folder; elsewhere the runner prints why and skips it. A folder
//! that is there is always run ([`folder_presence`]).
#![allow(dead_code)] // each test binary uses a different part of this file

use std::{
    env, fs,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::Duration,
};

use bson::Bson;
use greenmongo::{
    ClientOptions,
    options::{Acknowledgment, ServerAddress},
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

/// The spec test folder: `$GREENMONGO_SPEC_TESTS`, or `../shared/spec-tests` next to the
/// crate. It may not exist; see [`spec_dir`].
pub fn spec_root() -> PathBuf {
    env::var_os("GREENMONGO_SPEC_TESTS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/spec-tests")),
        PathBuf::from,
    )
}

/// What a runner does with a spec folder it expects.
#[derive(Debug, PartialEq, Eq)]
pub enum Presence {
    /// The folder is there: run it.
    Run,
    /// Missing, outside CI: skip it, printing this reason.
    Skip(String),
    /// Missing, in CI: fail with this message.
    Fail(String),
}

/// The decision for `folder` (the full path a runner expects): run it when it is there
/// (`found`), whatever `ci`; otherwise fail in CI and skip elsewhere, with a message naming
/// the folder.
pub fn folder_presence(folder: &Path, found: bool, ci: bool) -> Presence {
    let missing = || {
        format!(
            "spec folder {} not found (spec tests are read from $GREENMONGO_SPEC_TESTS, \
             default ../shared/spec-tests)",
            folder.display()
        )
    };
    match (found, ci) {
        (true, _) => Presence::Run,
        (false, true) => Presence::Fail(format!("{} and CI is set", missing())),
        (false, false) => Presence::Skip(missing()),
    }
}

/// Whether the tests run in CI (`CI` set, as in `util/server.rs`).
pub fn in_ci() -> bool {
    env::var_os("CI").is_some()
}

/// The spec root and `root/sub`, when that folder exists; `None` after printing why it is
/// skipped when it does not.
///
/// # Panics
/// In CI, when the folder does not exist.
pub fn spec_dir(sub: &str) -> Option<(PathBuf, PathBuf)> {
    let root = spec_root();
    let dir = root.join(sub);
    match folder_presence(&dir, dir.is_dir(), in_ci()) {
        Presence::Run => Some((root, dir)),
        Presence::Skip(why) => {
            eprintln!("SKIPPED: {why}");
            None
        }
        Presence::Fail(why) => panic!("{why}"),
    }
}

/// The spec root and the `.json` files directly in `sub` (relative to it), sorted; `None`
/// when the folder is missing (see [`spec_dir`]).
pub fn spec_files(sub: &str) -> Option<(PathBuf, Vec<PathBuf>)> {
    let (root, dir) = spec_dir(sub)?;
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no spec files in {}", dir.display());
    Some((root, files))
}

/// Deserializes a spec file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> T {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// Results for one spec file.
pub struct Tally {
    name: String,
    passed: usize,
    failed: Vec<String>,
    skipped: Vec<String>,
}

impl Tally {
    /// A tally for `path`, named relative to the spec root.
    pub fn new(root: &Path, path: &Path) -> Self {
        let name = path.strip_prefix(root).unwrap_or(path);
        Tally {
            name: name.display().to_string(),
            passed: 0,
            failed: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub fn record(&mut self, description: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(why) => self.failed.push(format!("{description}: {why}")),
        }
    }

    pub fn skip(&mut self, description: &str, reason: &str) {
        self.skipped.push(format!("{description}: {reason}"));
    }

    fn print(&self) {
        println!(
            "{}: {} passed, {} failed, {} skipped",
            self.name,
            self.passed,
            self.failed.len(),
            self.skipped.len()
        );
        for skip in &self.skipped {
            println!("  skipped {skip}");
        }
        for failure in &self.failed {
            println!("  FAILED {failure}");
        }
    }
}

/// Prints every tally and fails the test if any case failed.
pub fn report(tallies: &[Tally]) {
    for tally in tallies {
        tally.print();
    }
    let failed: usize = tallies.iter().map(|t| t.failed.len()).sum();
    assert_eq!(
        failed, 0,
        "{failed} spec case(s) failed; see the list above"
    );
}

/// A file of the connection-string and uri-options formats.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriTestFile {
    pub tests: Vec<UriTest>,
}

/// One connection-string or uri-options case.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriTest {
    pub description: String,
    pub uri: String,
    pub valid: bool,
    pub warning: Option<bool>,
    pub hosts: Option<Vec<HostSpec>>,
    pub auth: Option<AuthSpec>,
    pub options: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub host: String,
    pub port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<String>,
}

/// Runs every file of a connection-string-format suite. `skips` pairs a case description
/// with the reason it is skipped.
pub fn run_uri_suite(sub: &str, skips: &[(&str, &str)]) {
    let Some((root, files)) = spec_files(sub) else {
        return;
    };
    let mut tallies = Vec::new();
    for path in files {
        let file: UriTestFile = read_json(&path);
        let mut tally = Tally::new(&root, &path);
        for test in &file.tests {
            match skips.iter().find(|(d, _)| *d == test.description) {
                Some((_, reason)) => tally.skip(&test.description, reason),
                None => tally.record(&test.description, run_uri_test(test)),
            }
        }
        tallies.push(tally);
    }
    report(&tallies);
}

/// Checks one case as the connection-string tests' README says: validity, warnings, then
/// hosts, auth and options where the case gives them. A `null` inside `auth` is checked as
/// "not set"; a `null` port is not checked (the parser fills in 27017).
pub fn run_uri_test(test: &UriTest) -> Result<(), String> {
    let options = match (ClientOptions::parse(&test.uri), test.valid) {
        (Err(_), false) => return Ok(()),
        (Ok(o), false) => return Err(format!("expected an error, got {o:?}")),
        (Err(e), true) => return Err(format!("unexpected error: {e}")),
        (Ok(o), true) => o,
    };
    if let Some(warning) = test.warning
        && warning == options.warnings.is_empty()
    {
        return Err(format!(
            "expected warning: {warning}, got {:?}",
            options.warnings
        ));
    }
    if let Some(hosts) = &test.hosts {
        check_hosts(hosts, &options.hosts)?;
    }
    if let Some(auth) = &test.auth {
        let cred = options.credential.as_ref();
        let username = cred.and_then(|c| c.username.as_deref());
        let password = cred.and_then(|c| c.password.as_deref());
        let db = options.default_database.as_deref();
        let expected = (
            auth.username.as_deref(),
            auth.password.as_deref(),
            auth.db.as_deref(),
        );
        if expected != (username, password, db) {
            return Err(format!(
                "auth (username, password, db): expected {expected:?}, got {:?}",
                (username, password, db)
            ));
        }
    }
    if let Some(expected) = &test.options {
        compare_options(expected, &options)?;
    }
    Ok(())
}

fn check_hosts(expected: &[HostSpec], actual: &[ServerAddress]) -> Result<(), String> {
    if expected.len() != actual.len() {
        return Err(format!("expected {} hosts, got {actual:?}", expected.len()));
    }
    for (want, got) in expected.iter().zip(actual) {
        let (kind, host, port) = match got {
            ServerAddress::Unix { path } => ("unix", path.display().to_string(), None),
            ServerAddress::Tcp { host, port } => {
                let kind = if host.parse::<Ipv4Addr>().is_ok() {
                    "ipv4"
                } else if host.contains(':') {
                    "ip_literal"
                } else {
                    "hostname"
                };
                (kind, host.clone(), Some(*port))
            }
        };
        let port_ok = want.port.is_none() || want.port == port;
        if want.kind != kind || want.host != host || !port_ok {
            return Err(format!(
                "expected host {} {}:{:?}, got {kind} {host}:{port:?}",
                want.kind, want.host, want.port
            ));
        }
    }
    Ok(())
}

/// Checks that every option the case lists has the expected value, comparing names
/// without regard to case.
pub fn compare_options(
    expected: &Map<String, Value>,
    options: &ClientOptions,
) -> Result<(), String> {
    let actual = options_map(options);
    for (key, want) in expected {
        let key = key.to_ascii_lowercase();
        match actual.get(&key) {
            Some(got) if got == want => {}
            Some(got) => return Err(format!("option {key}: expected {want}, got {got}")),
            None => return Err(format!("option {key}: expected {want}, got nothing")),
        }
    }
    Ok(())
}

fn millis(d: Duration) -> Value {
    json!(u64::try_from(d.as_millis()).expect("duration fits in u64 ms"))
}

/// A Bson value from a URI option as JSON (URI options only hold strings and booleans).
fn bson_to_json(value: &Bson) -> Value {
    match value {
        Bson::String(s) => json!(s),
        Bson::Boolean(b) => json!(b),
        other => json!(other.to_string()),
    }
}

/// The typed options mapped back to URI option names (lower-cased) and JSON values, for
/// comparison with the spec files.
pub fn options_map(o: &ClientOptions) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            m.insert(key.to_owned(), value);
        }
    };
    let cred = o.credential.as_ref();
    put("appname", o.app_name.as_ref().map(|v| json!(v)));
    put(
        "authmechanism",
        cred.and_then(|c| c.mechanism).map(|m| json!(m.as_str())),
    );
    put(
        "authmechanismproperties",
        cred.and_then(|c| c.mechanism_properties.as_ref())
            .map(|props| {
                Value::Object(
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), bson_to_json(v)))
                        .collect(),
                )
            }),
    );
    put(
        "authsource",
        cred.and_then(|c| c.source.as_ref()).map(|s| json!(s)),
    );
    put(
        "compressors",
        o.compressors
            .as_ref()
            .map(|list| json!(list.iter().map(|c| c.as_str()).collect::<Vec<_>>())),
    );
    put("connecttimeoutms", o.connect_timeout.map(millis));
    put("directconnection", o.direct_connection.map(|b| json!(b)));
    put(
        "enableoverloadretargeting",
        o.enable_overload_retargeting.map(|b| json!(b)),
    );
    put("heartbeatfrequencyms", o.heartbeat_frequency.map(millis));
    put("loadbalanced", o.load_balanced.map(|b| json!(b)));
    put("localthresholdms", o.local_threshold.map(millis));
    put(
        "maxadaptiveretries",
        o.max_adaptive_retries.map(|n| json!(n)),
    );
    put("maxconnecting", o.max_connecting.map(|n| json!(n)));
    put("maxidletimems", o.max_idle_time.map(millis));
    put("maxpoolsize", o.max_pool_size.map(|n| json!(n)));
    put("minpoolsize", o.min_pool_size.map(|n| json!(n)));
    if let Some(proxy) = &o.proxy {
        put("proxyhost", Some(json!(proxy.host)));
        put("proxyport", proxy.port.map(|p| json!(p)));
        put("proxyusername", proxy.username.as_ref().map(|u| json!(u)));
        put("proxypassword", proxy.password.as_ref().map(|p| json!(p)));
    }
    put(
        "readconcernlevel",
        o.read_concern.as_ref().map(|rc| json!(rc.level.as_str())),
    );
    if let Some(pref) = &o.read_preference {
        put("readpreference", Some(json!(pref.mode.as_str())));
        if !pref.tag_sets.is_empty() {
            put("readpreferencetags", Some(json!(pref.tag_sets)));
        }
        put(
            "maxstalenessseconds",
            pref.max_staleness.map(|d| json!(d.as_secs())),
        );
    }
    put("replicaset", o.repl_set_name.as_ref().map(|v| json!(v)));
    put("retryreads", o.retry_reads.map(|b| json!(b)));
    put("retrywrites", o.retry_writes.map(|b| json!(b)));
    put(
        "servermonitoringmode",
        o.server_monitoring_mode.map(|m| json!(m.as_str())),
    );
    put(
        "serverselectiontimeoutms",
        o.server_selection_timeout.map(millis),
    );
    put(
        "serverselectiontryonce",
        o.server_selection_try_once.map(|b| json!(b)),
    );
    put("sockettimeoutms", o.socket_timeout.map(millis));
    put("srvmaxhosts", o.srv_max_hosts.map(|n| json!(n)));
    put(
        "srvservicename",
        o.srv_service_name.as_ref().map(|v| json!(v)),
    );
    put("timeoutms", o.timeout.map(millis));
    let tls = &o.tls;
    put("tls", tls.enabled.map(|b| json!(b)));
    put("ssl", tls.enabled.map(|b| json!(b)));
    put(
        "tlsallowinvalidcertificates",
        tls.allow_invalid_certificates.map(|b| json!(b)),
    );
    put(
        "tlsallowinvalidhostnames",
        tls.allow_invalid_hostnames.map(|b| json!(b)),
    );
    put(
        "tlscafile",
        tls.ca_file.as_ref().map(|p| json!(p.display().to_string())),
    );
    put(
        "tlscertificatekeyfile",
        tls.cert_key_file
            .as_ref()
            .map(|p| json!(p.display().to_string())),
    );
    put(
        "tlscertificatekeyfilepassword",
        tls.cert_key_file_password.as_ref().map(|p| json!(p)),
    );
    put(
        "tlsdisablecertificaterevocationcheck",
        tls.disable_certificate_revocation_check.map(|b| json!(b)),
    );
    put(
        "tlsdisableocspendpointcheck",
        tls.disable_ocsp_endpoint_check.map(|b| json!(b)),
    );
    put("tlsinsecure", tls.insecure().map(|b| json!(b)));
    if let Some(wc) = &o.write_concern {
        put(
            "w",
            wc.w.as_ref().map(|w| match w {
                Acknowledgment::Nodes(n) => json!(n),
                Acknowledgment::Majority => json!("majority"),
                Acknowledgment::Custom(s) => json!(s),
                other => panic!("unexpected acknowledgment {other:?}"),
            }),
        );
        put("wtimeoutms", wc.w_timeout.map(millis));
        put("journal", wc.journal.map(|b| json!(b)));
    }
    put("waitqueuetimeoutms", o.wait_queue_timeout.map(millis));
    put(
        "zlibcompressionlevel",
        o.zlib_compression_level.map(|n| json!(n)),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_folder_always_runs_a_missing_one_fails_in_ci_and_is_skipped_elsewhere() {
        let folder = Path::new("/specs/auth/tests/legacy");
        assert_eq!(folder_presence(folder, true, true), Presence::Run);
        assert_eq!(folder_presence(folder, true, false), Presence::Run);
        match folder_presence(folder, false, true) {
            Presence::Fail(why) => assert!(why.contains("/specs/auth/tests/legacy"), "{why}"),
            other => panic!("in CI a missing folder fails, not {other:?}"),
        }
        match folder_presence(folder, false, false) {
            Presence::Skip(why) => assert!(why.contains("/specs/auth/tests/legacy"), "{why}"),
            other => panic!("outside CI a missing folder is skipped, not {other:?}"),
        }
    }
}
