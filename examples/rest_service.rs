//! A REST service over MongoDB, written in plain blocking style: an HTTP/1.1 JSON API on
//! the runtime, one coroutine per connection, handlers that call the driver directly.
//!
//! ```sh
//! scripts/demo                      # = the demo below, in release mode
//! cargo run --release --example rest_service -- demo [--seconds 5] [--clients 200] [--workers 2]
//! cargo run --release --example rest_service -- serve [--port 8080] [--workers 2] [--db NAME]
//!
//! curl -si localhost:8080/items -d '{"name": "desk lamp", "price": 24.5, "tags": ["home"]}'
//! curl -s 'localhost:8080/items?q=lamp&tag=home&page=1&per_page=10'
//! curl -s localhost:8080/stats
//! ```
//!
//! `demo` starts the service on a free port, drives it with a load generator of many
//! client coroutines (create/read/update/replace/search/delete, checking every answer),
//! prints a progress line every 500 ms and then throughput, latency percentiles, errors and
//! a coroutine-dump summary, stops everything and exits 0, or 1 if any request failed.
//!
//! The server is `MONGODB_URI`; when it is unset, a local SecantusDB is started with
//! `scripts/test-server start --name demo` (installed into `.venv/` on first use) and
//! stopped at exit, also after an error or Ctrl-C.
//!
//! Layout: `http` (HTTP/1.1 on a socket), `api` (routes and handlers), `service`
//! (acceptor, connections, shutdown), `client` (a tiny HTTP client), `loadgen` (the demo's
//! load). `tests/rest_service.rs` includes the first four.

// A crate root looks for modules beside itself, hence the paths.
#[path = "rest_service/api.rs"]
mod api;
#[path = "rest_service/client.rs"]
mod client;
#[path = "rest_service/http.rs"]
mod http;
#[path = "rest_service/loadgen.rs"]
mod loadgen;
#[path = "rest_service/service.rs"]
mod service;

use std::{
    error::Error,
    path::PathBuf,
    process::{Command, ExitCode, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        mpsc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use greenmongo::{
    Client, Database,
    runtime::{Runtime, net::TcpListener},
};

use api::Api;
use service::Service;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const USAGE: &str = "usage: rest_service [demo] [--seconds S] [--clients C] [--workers N]
       rest_service serve [--port P] [--workers N] [--db NAME]";

/// The longest demo run.
const MAX_SECONDS: f64 = 3600.0;
/// How long a shutdown waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(2);

/// Set by Ctrl-C or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Demo,
    Serve,
}

#[derive(Debug)]
struct Options {
    mode: Mode,
    port: u16,
    workers: usize,
    seconds: f64,
    clients: usize,
    db: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> std::result::Result<Options, String> {
    let mut options = Options {
        mode: Mode::Demo,
        port: 8080,
        workers: 2,
        seconds: 5.0,
        clients: 200,
        db: None,
    };
    let mut first = true;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "demo" if first => options.mode = Mode::Demo,
            "serve" if first => options.mode = Mode::Serve,
            "--port" => options.port = number(&arg, &value(&arg)?)?,
            "--workers" => options.workers = number(&arg, &value(&arg)?)?,
            "--seconds" => options.seconds = number(&arg, &value(&arg)?)?,
            "--clients" => options.clients = number(&arg, &value(&arg)?)?,
            "--db" => options.db = Some(value(&arg)?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
        first = false;
    }
    // Also refuses NaN and what Duration cannot hold.
    let seconds_ok = options.seconds > 0.0 && options.seconds <= MAX_SECONDS;
    if options.workers == 0 || options.clients == 0 || !seconds_ok {
        return Err(format!(
            "--workers and --clients must be at least 1, --seconds from 0 to {MAX_SECONDS}"
        ));
    }
    Ok(options)
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> std::result::Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a valid number"))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}"); // --help
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("rest_service: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rest_service: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<ExitCode> {
    let (interrupt_tx, interrupt_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        INTERRUPTED.store(true, Relaxed);
        let _ = interrupt_tx.send(());
    })?;
    // Declared first, so it drops last: the server outlives the runtime using it.
    let (uri, local_mongo) = match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => (uri, None),
        _ => {
            let local = LocalMongo::start()?;
            (local.uri.clone(), Some(local))
        }
    };
    match options.mode {
        Mode::Serve => serve(options, &uri, &interrupt_rx),
        Mode::Demo => demo(options, &uri, local_mongo.is_some()),
    }
}

/// `serve`: until Ctrl-C or SIGTERM.
fn serve(options: &Options, uri: &str, interrupted: &mpsc::Receiver<()>) -> Result<ExitCode> {
    let rt = Runtime::builder().worker_threads(options.workers).build()?;
    let db = options.db.as_deref().unwrap_or("rest_service");
    let db = Client::with_uri_str(uri)?.database(db);
    let service = start_service(&rt, db.clone(), ("127.0.0.1", options.port))?;
    println!(
        "rest_service on http://{} ({} workers, database {}); Ctrl-C stops it",
        service.addr(),
        options.workers,
        db.name()
    );
    let _ = interrupted.recv();
    eprintln!("rest_service: stopping");
    let left_open = service.shutdown(DRAIN);
    eprintln!("rest_service: stopped ({left_open} idle connections closed)");
    Ok(ExitCode::SUCCESS)
}

/// `demo`: the service under load from client coroutines in the same runtime, a report.
fn demo(options: &Options, uri: &str, own_server: bool) -> Result<ExitCode> {
    let rt = Runtime::builder().worker_threads(options.workers).build()?;
    // A server of our own is wiped at the next start; on anyone else's, leave no trace.
    let db_name = match (&options.db, own_server) {
        (Some(name), _) => name.clone(),
        (None, true) => "rest_demo".to_owned(),
        (None, false) => format!("rest_demo_{}_{}", std::process::id(), unix_seconds()),
    };
    let db = Client::with_uri_str(uri)?.database(&db_name);
    let service = start_service(&rt, db.clone(), ("127.0.0.1", 0))?;
    println!(
        "rest_service demo: service on http://{}, {} workers, database {db_name}; \
         {} client coroutines for {} s",
        service.addr(),
        options.workers,
        options.clients,
        options.seconds
    );

    let config = loadgen::LoadConfig {
        addr: service.addr(),
        clients: options.clients,
        duration: Duration::from_secs_f64(options.seconds),
        interrupted: &INTERRUPTED,
        service: service.stats().clone(),
    };
    let report = rt.block_on(move || loadgen::run(config));
    print!("{report}");

    let stats = service.stats().clone();
    let left_open = service.shutdown(DRAIN);
    println!(
        "service     {} requests served, {} connections accepted, {} panics; \
         stopped with {left_open} connections open",
        stats.requests.load(Relaxed),
        stats.connections_accepted.load(Relaxed),
        stats.panics.load(Relaxed),
    );
    if !own_server && options.db.is_none() {
        db.drop().run()?;
    }
    drop(rt); // joins the workers
    println!("runtime     stopped");

    Ok(if report.interrupted {
        eprintln!("rest_service: interrupted");
        ExitCode::from(130)
    } else if report.failures > 0 || stats.panics.load(Relaxed) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Creates the indexes and starts serving on `addr`, inside the runtime.
fn start_service(rt: &Runtime, db: Database, addr: (&'static str, u16)) -> Result<Service> {
    let handle = rt.handle();
    rt.block_on(move || -> Result<Service> {
        api::create_indexes(&db)?;
        let listener = TcpListener::bind(addr)?;
        Ok(Service::start(listener, Api::new(&db, handle))?)
    })
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A SecantusDB started for this run by `scripts/test-server`, stopped when dropped:
/// at the end, after an error, or after Ctrl-C (which the handler turns into a normal exit).
struct LocalMongo {
    uri: String,
}

impl LocalMongo {
    const NAME: &'static str = "demo";

    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/test-server")
    }

    fn start() -> Result<LocalMongo> {
        eprintln!(
            "MONGODB_URI is not set: starting SecantusDB (scripts/test-server start --name {})",
            Self::NAME
        );
        let output = Command::new(Self::script())
            .args(["start", "--name", Self::NAME])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", Self::script().display()))?;
        if !output.status.success() {
            if INTERRUPTED.load(Relaxed) {
                LocalMongo::stop(); // it may have got as far as launching the server
            }
            return Err("scripts/test-server could not start SecantusDB (see above)".into());
        }
        let uri = String::from_utf8(output.stdout)?.trim().to_owned();
        Ok(LocalMongo { uri })
    }

    fn stop() {
        eprintln!("stopping SecantusDB (it takes a few seconds)");
        let stopped = Command::new(Self::script())
            .args(["stop", "--name", Self::NAME])
            .stdout(Stdio::null())
            .status();
        if !stopped.is_ok_and(|s| s.success()) {
            eprintln!(
                "rest_service: could not stop SecantusDB; run: scripts/test-server stop --name {}",
                Self::NAME
            );
        }
    }
}

impl Drop for LocalMongo {
    fn drop(&mut self) {
        LocalMongo::stop();
    }
}
