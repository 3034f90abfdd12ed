//! Unified-test-format spec tests against the live server, one test per spec folder so a
//! failure names its folder. Each prints a table of its files (passed, failed, skipped,
//! known failures), the skip reasons grouped, and the pass rate of the tests that ran.
//!
//! A test fails only when a test that ran did not match; skips (features the driver lacks,
//! requirements the server does not meet) and the known failures of
//! `tests/unified/known.rs` do not fail it.
//!
//! The spec files are read from `$GREENMONGO_SPEC_TESTS` (default `../shared/spec-tests`);
//! the server from `MONGODB_URI` (and from `GREENMONGO_TEST_URI_2`, a second server that
//! lets two folders run at once, when it is set). Spec files or server missing: the tests
//! say so and pass, except in CI, where they fail. The files that need authentication
//! (the retryable reads' and writes' `handshakeError.json`, SDAM's `auth-*.json` and
//! `pool-clear-checkout-error.json`) run again against `GREENMONGO_TEST_AUTH_URI`, the
//! server `scripts/test` starts with `--auth`.
//!
//! ```text
//! MONGODB_URI=$(scripts/test-server start --name unified) \
//!     cargo test --test spec_unified -- --nocapture
//! ```

mod util {
    pub mod server;
    pub mod spec;
}

mod unified {
    pub mod bulk;
    pub mod change_streams;
    pub mod entities;
    pub mod errors;
    pub mod events;
    pub mod format;
    pub mod gridfs; // gridfs
    pub mod known;
    pub mod matching;
    pub mod operations;
    pub mod outcome;
    pub mod requirements;
    pub mod runner;
    pub mod server_api;
    pub mod sessions;
    pub mod threads;
}

use std::{
    sync::{Condvar, Mutex, PoisonError},
    time::Instant,
};

use unified::{outcome::print_folder, runner};
use util::{server, spec};

/// A folder holds its server while it runs: the folders share database names, and fail
/// points are server-wide. `scripts/test` starts a second plain server,
/// `GREENMONGO_TEST_URI_2`, so that two folders run at once; most of a folder's time is
/// spent waiting (`minHeartbeatFrequencyMS` between checks of a server an error marked
/// Unknown), not working.
static BUSY: Mutex<Vec<&str>> = Mutex::new(Vec::new());
static FREED: Condvar = Condvar::new();

/// The variable naming a server, held until dropped.
struct Lease(&'static str);

impl Lease {
    /// The first of `vars` that is set and free, waiting until one is.
    fn take(vars: &[&'static str]) -> Lease {
        let set: Vec<_> = vars
            .iter()
            .copied()
            .filter(|var| std::env::var_os(var).is_some())
            .collect();
        if set.is_empty() {
            return Lease(vars[0]); // `uri_from` says it is unset
        }
        let mut busy = BUSY.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(&free) = set.iter().find(|var| !busy.contains(var)) {
                busy.push(free);
                return Lease(free);
            }
            busy = FREED.wait(busy).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut busy = BUSY.lock().unwrap_or_else(PoisonError::into_inner);
        busy.retain(|var| *var != self.0);
        FREED.notify_all();
    }
}

/// The files of `folder`; `GREENMONGO_SPEC_FILE=name.json` runs only that one (to
/// debug a file without running its folder).
fn run(folder: &str) {
    let only = std::env::var("GREENMONGO_SPEC_FILE").ok();
    run_against(&["MONGODB_URI", "GREENMONGO_TEST_URI_2"], folder, |name| {
        only.as_deref().is_none_or(|only| only == name)
    });
}

/// The files of `folder` that `wanted` names, against the server with authentication.
fn run_with_auth(folder: &str, wanted: impl Fn(&str) -> bool) {
    run_against(&["GREENMONGO_TEST_AUTH_URI"], folder, wanted);
}

/// The files of `folder` that `wanted` names, against a free server of `uri_vars`.
fn run_against(uri_vars: &[&'static str], folder: &str, wanted: impl Fn(&str) -> bool) {
    let lease = Lease::take(uri_vars);
    let uri_var = lease.0;
    let Some((root, _)) = spec::spec_dir(folder) else {
        return;
    };
    let Some(uri) = server::uri_from(uri_var) else {
        return;
    };
    let started = Instant::now();
    let ctx = runner::Context::new(&uri).unwrap_or_else(|e| panic!("{uri_var}: {e}"));
    let reports = runner::run_files(&ctx, &root, folder, wanted);
    let label = match uri_vars[0] {
        "MONGODB_URI" => folder.to_owned(),
        _ => format!("{folder} ({uri_var})"),
    };
    drop(lease);
    // One report at a time, so that two are not interleaved under `--nocapture`.
    static PRINTING: Mutex<()> = Mutex::new(());
    let printing = PRINTING.lock().unwrap_or_else(PoisonError::into_inner);
    let failed = print_folder(&label, &reports);
    // Where the binary's time goes, and which server a folder had.
    println!(
        "{label}: ran in {:.1} s against {uri_var}",
        started.elapsed().as_secs_f64()
    );
    drop(printing);
    assert_eq!(
        failed, 0,
        "{label}: {failed} test(s) failed; see FAILED above"
    );
}

#[test]
fn crud() {
    run("crud/tests/unified");
}

#[test]
fn collection_management() {
    run("collection-management/tests");
}

#[test]
fn index_management() {
    run("index-management/tests");
}

#[test]
fn read_write_concern() {
    run("read-write-concern/tests/operation");
}

#[test]
fn run_command() {
    run("run-command/tests/unified");
}

#[test]
fn command_monitoring() {
    run("command-logging-and-monitoring/tests/monitoring");
}

#[test]
fn unified_format_valid_pass() {
    run("unified-test-format/tests/valid-pass");
}

#[test]
fn retryable_writes() {
    run("retryable-writes/tests/unified");
}

#[test]
fn retryable_reads() {
    run("retryable-reads/tests/unified");
}

#[test]
fn retryable_writes_handshake_errors_with_auth() {
    run_with_auth("retryable-writes/tests/unified", |name| {
        name == "handshakeError.json"
    });
}

#[test]
fn retryable_reads_handshake_errors_with_auth() {
    run_with_auth("retryable-reads/tests/unified", |name| {
        name == "handshakeError.json"
    });
}

#[test]
fn server_discovery_and_monitoring() {
    run("server-discovery-and-monitoring/tests/unified");
}

#[test]
fn server_discovery_and_monitoring_auth_errors_with_auth() {
    run_with_auth("server-discovery-and-monitoring/tests/unified", |name| {
        name.starts_with("auth-") || name == "pool-clear-checkout-error.json"
    });
}

#[test]
fn sessions() {
    run("sessions/tests");
}

#[test]
fn transactions() {
    run("transactions/tests/unified");
}

#[test]
fn transactions_convenient_api() {
    run("transactions-convenient-api/tests/unified");
}

#[test]
fn causal_consistency() {
    run("causal-consistency/tests");
}

#[test]
fn load_balancers() {
    run("load-balancers/tests");
}

#[test]
fn change_streams() {
    run("change-streams/tests/unified");
}

#[test]
fn client_side_operations_timeout() {
    run("client-side-operations-timeout/tests");
}

#[test]
fn gridfs() {
    run("gridfs/tests"); // gridfs
}

#[test]
fn versioned_api() {
    run("versioned-api/tests");
}
