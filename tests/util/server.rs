//! The live test server: `MONGODB_URI` (set by `scripts/test`, which starts SecantusDB).
//!
//! Without it, a test prints why it skips, except in CI (`CI` set), where a missing
//! server is a failure.
#![allow(dead_code)] // each test binary uses a different part of this file

use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicUsize, Ordering},
};

use bson::Bson;
use greenmongo::{Client, ClientOptions, pool::CmapEvent};

/// The URI in `var`, or `None` after saying why the test skips.
///
/// # Panics
/// In CI, when the variable is unset.
pub fn uri_from(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: in CI the test servers must run (use scripts/test)")
        }
        _ => {
            eprintln!("skipped: {var} is not set (run the tests with scripts/test)");
            None
        }
    }
}

/// The main test server's URI.
pub fn uri() -> Option<String> {
    uri_from("MONGODB_URI")
}

/// A client for the main test server.
pub fn client() -> Option<Client> {
    uri().map(|uri| Client::with_uri_str(&uri).expect("MONGODB_URI parses"))
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Makes the next `saslContinue` of connections with `app_name` close the connection
/// (SDAM's and the load-balancer spec's "network error during authentication"), through
/// `admin`, a client of a server with test commands and authentication.
///
/// # Panics
/// When the server refuses the fail point.
pub fn fail_next_sasl_continue(admin: &Client, app_name: &str) {
    admin
        .database("admin")
        .run_command(bson::doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": { "failCommands": ["saslContinue"], "closeConnection": true, "appName": app_name },
        }).run()
        .expect("configureFailPoint (the server needs --enable-test-commands)");
}

/// A client of `options` that records its CMAP events.
///
/// # Panics
/// When the client cannot be created.
pub fn recording_client(options: ClientOptions) -> (Client, Arc<Mutex<Vec<CmapEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let client = Client::with_cmap_event_handler(
        options,
        greenmongo::event::EventHandler::new(move |e: &CmapEvent| {
            // A test that panics holding the lock must not turn every later event into
            // a second panic.
            sink.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(e.clone())
        }),
    )
    .unwrap();
    (client, events)
}

/// A `failCommand` fail point blocking `commands` for `block_ms` on connections of
/// `app_name` (`mode`: `"alwaysOn"` or `{ times: n }`), turned off on drop. The tests of
/// one binary that set one take turns (a lock, held until the drop): the server has one
/// `failCommand` setting.
pub struct FailPoint {
    admin: Client,
    _serial: MutexGuard<'static, ()>,
}

impl FailPoint {
    /// # Panics
    /// Without a test server, or one that refuses the fail point.
    pub fn block(
        app_name: &str,
        commands: &[&str],
        block_ms: i32,
        mode: impl Into<Bson>,
    ) -> FailPoint {
        static SERIAL: Mutex<()> = Mutex::new(());
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let admin = client().expect("the server is there");
        admin
            .database("admin")
            .run_command(bson::doc! {
                "configureFailPoint": "failCommand",
                "mode": mode.into(),
                "data": {
                    "failCommands": commands,
                    "blockConnection": true,
                    "blockTimeMS": block_ms,
                    "appName": app_name,
                },
            })
            .run()
            .expect("configureFailPoint (the server needs --enable-test-commands)");
        FailPoint {
            admin,
            _serial: serial,
        }
    }
}

impl Drop for FailPoint {
    fn drop(&mut self) {
        let _ = self
            .admin
            .database("admin")
            .run_command(bson::doc! { "configureFailPoint": "failCommand", "mode": "off" })
            .run();
    }
}
