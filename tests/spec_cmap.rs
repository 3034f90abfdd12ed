//! The CMAP spec's pool tests (`connection-monitoring-and-pooling/tests/cmap-format`),
//! unit-style files against a pool of fake connections (no server needed), integration-
//! style files against the live server (`MONGODB_URI`).
//!
//! Each file runs twice: once with the spec's "threads" as OS threads (the pool's
//! maintenance task is then a thread too), and once with them as coroutines on a
//! two-worker runtime (maintenance is then a coroutine). An integration file sets its
//! `failCommand` fail point (which blocks the `hello` of connections with its appName)
//! before each run and turns it off after; its pool establishes each connection for
//! real: a TCP connection and a `hello` naming the appName, through the runtime's
//! sockets, so a coroutine waiting on the blocked handshake parks.
//!
//! The README's MATCH is applied to events (with `42` as "any value") and to the error's
//! `type`. The error's `message` is not compared: it is each driver's own wording (ours
//! names the pool and waitQueueTimeoutMS).

mod util {
    pub mod server;
    pub mod spec;
}

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use std::io::Write as _;

use bson::{Document, doc};
use greenmongo::{
    Client, Error, ErrorKind,
    options::{ClientOptions, ServerAddress},
    pool::{CmapEvent, Establishing, Pool, PoolConnection, PoolOptions, PooledConnection},
    runtime::{self, Runtime, coroutine, net::TcpStream, sync::mpsc},
    wire::{self, Message, SizeLimits},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use util::spec::{Tally, read_json, report, spec_files};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TestFile {
    version: u32,
    style: String,
    description: String,
    #[serde(default)]
    pool_options: Option<FilePoolOptions>,
    operations: Vec<Operation>,
    error: Option<ExpectedError>,
    events: Vec<Value>,
    #[serde(default)]
    ignore: Vec<String>,
    run_on: Option<Value>,
    fail_point: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilePoolOptions {
    max_pool_size: Option<u32>,
    min_pool_size: Option<u32>,
    max_connecting: Option<u32>,
    #[serde(rename = "maxIdleTimeMS")]
    max_idle_time_ms: Option<u64>,
    #[serde(rename = "waitQueueTimeoutMS")]
    wait_queue_timeout_ms: Option<u64>,
    #[serde(rename = "backgroundThreadIntervalMS")]
    background_thread_interval_ms: Option<i64>,
    app_name: Option<String>,
    /// Integration files: the live connection's read and write timeout.
    #[serde(rename = "socketTimeoutMS")]
    socket_timeout_ms: Option<u64>,
    /// Integration files: the live connection's TCP connect timeout.
    #[serde(rename = "connectTimeoutMS")]
    connect_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    #[serde(rename = "type")]
    kind: String,
    message: Option<String>,
    address: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "name", rename_all = "camelCase", deny_unknown_fields)]
enum Operation {
    Start {
        target: String,
    },
    Wait {
        ms: u64,
    },
    WaitForThread {
        target: String,
    },
    #[serde(rename_all = "camelCase")]
    WaitForEvent {
        event: String,
        count: usize,
        timeout: Option<u64>,
    },
    CheckOut {
        thread: Option<String>,
        label: Option<String>,
    },
    CheckIn {
        thread: Option<String>,
        connection: String,
    },
    #[serde(rename_all = "camelCase")]
    Clear {
        thread: Option<String>,
        interrupt_in_use_connections: Option<bool>,
    },
    Close {
        thread: Option<String>,
    },
    Ready {
        thread: Option<String>,
    },
}

impl Operation {
    /// The thread the operation must run on, if not the main one.
    fn thread(&self) -> Option<&str> {
        match self {
            Operation::CheckOut { thread, .. }
            | Operation::CheckIn { thread, .. }
            | Operation::Clear { thread, .. }
            | Operation::Close { thread }
            | Operation::Ready { thread } => thread.as_deref(),
            _ => None,
        }
    }
}

/// A unit file's connection does no I/O (the pool tests only look at its id); an
/// integration file's is a real socket that has done its `hello`.
enum TestConnection {
    Fake,
    Live(#[allow(dead_code)] TcpStream),
}

impl PoolConnection for TestConnection {
    fn is_reusable(&self) -> bool {
        true
    }
}

/// Where an integration file runs: the live server's address, and a client for its fail
/// points.
struct Live {
    address: ServerAddress,
    client: Client,
}

/// How an integration file's connections are made: the file's `appName`,
/// `connectTimeoutMS` and `socketTimeoutMS`.
#[derive(Clone, Default)]
struct LiveSettings {
    app_name: String,
    connect_timeout: Option<Duration>,
    socket_timeout: Option<Duration>,
}

/// Establishes a connection to the live server: TCP, then a `hello` with the appName in
/// its client metadata (which the file's fail point blocks). A clear that interrupts
/// shuts the socket down, as the driver's own connections do.
fn connect_live(
    address: &ServerAddress,
    settings: &LiveSettings,
    establishing: &Establishing,
) -> greenmongo::Result<TestConnection> {
    let host = address.host().unwrap_or("localhost");
    let port = address.port().unwrap_or(27017);
    let mut stream = match (host.parse::<std::net::IpAddr>(), settings.connect_timeout) {
        (Ok(ip), Some(timeout)) => {
            TcpStream::connect_timeout(&std::net::SocketAddr::new(ip, port), timeout)?
        }
        _ => TcpStream::connect((host, port))?,
    };
    stream.set_read_timeout(settings.socket_timeout)?;
    stream.set_write_timeout(settings.socket_timeout)?;
    let socket = stream.try_clone()?;
    establishing.on_interrupt(move || {
        let _ = socket.shutdown(std::net::Shutdown::Both);
    });
    let hello = doc! {
        "hello": 1,
        "$db": "admin",
        "client": {
            "application": { "name": settings.app_name.as_str() },
            "driver": { "name": "greenmongo-cmap-spec-runner", "version": "0" },
            "os": { "type": std::env::consts::OS },
        },
    };
    stream.write_all(&Message::from_document(&hello)?.encode(None))?;
    let reply = wire::read_message(&mut stream, &SizeLimits::default())?.body_document()?;
    match reply.get("ok") {
        Some(ok) if ok.as_f64() == Some(1.0) || ok.as_i32() == Some(1) => {
            Ok(TestConnection::Live(stream))
        }
        _ => Err(Error::invalid_response(format!("hello failed: {reply}"))),
    }
}

/// How the spec's threads run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Threads,
    Coroutines,
}

/// Why a run failed: an error of the pool (which the file may expect), or of the runner.
#[derive(Debug)]
enum Failure {
    Driver(Error),
    Runner(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Driver(e)
    }
}

type Outcome = Result<(), Failure>;

/// What every "thread" of one run shares.
struct Context {
    pool: Pool<TestConnection>,
    events: Arc<Mutex<Vec<CmapEvent>>>,
    labelled: Mutex<HashMap<String, PooledConnection<TestConnection>>>,
    /// Unlabelled checkouts stay checked out until the end of the run.
    held: Mutex<Vec<PooledConnection<TestConnection>>>,
}

/// A std mutex, held only for a few instructions (never across a wait).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn runner(message: impl Into<String>) -> Failure {
    Failure::Runner(message.into())
}

impl Context {
    fn execute(&self, op: &Operation) -> Outcome {
        match op {
            Operation::Wait { ms } => {
                runtime::sleep(Duration::from_millis(*ms)).map_err(|e| runner(e.to_string()))
            }
            Operation::WaitForEvent {
                event,
                count,
                timeout,
            } => {
                let limit = Duration::from_millis(timeout.unwrap_or(10_000));
                let start = Instant::now();
                loop {
                    let seen = lock(&self.events)
                        .iter()
                        .filter(|e| e.name() == event)
                        .count();
                    if seen >= *count {
                        return Ok(());
                    }
                    if start.elapsed() > limit {
                        return Err(runner(format!(
                            "saw {seen} {event} events, not {count}, within {limit:?}"
                        )));
                    }
                    runtime::sleep(Duration::from_millis(1)).map_err(|e| runner(e.to_string()))?;
                }
            }
            Operation::CheckOut { label, .. } => {
                let conn = self.pool.check_out()?;
                match label {
                    Some(label) => {
                        lock(&self.labelled).insert(label.clone(), conn);
                    }
                    None => lock(&self.held).push(conn),
                }
                Ok(())
            }
            Operation::CheckIn { connection, .. } => {
                let conn = lock(&self.labelled)
                    .remove(connection)
                    .ok_or_else(|| runner(format!("no connection labelled {connection:?}")))?;
                drop(conn); // checks it in, outside the labels' lock
                Ok(())
            }
            Operation::Clear {
                interrupt_in_use_connections,
                ..
            } => {
                self.pool
                    .clear(interrupt_in_use_connections.unwrap_or(false));
                Ok(())
            }
            Operation::Close { .. } => {
                self.pool.close();
                Ok(())
            }
            Operation::Ready { .. } => {
                self.pool.ready();
                Ok(())
            }
            Operation::Start { .. } | Operation::WaitForThread { .. } => {
                Err(runner(format!("{op:?} is for the main thread only")))
            }
        }
    }
}

/// A spec "thread": runs the operations sent to it in order; after its first error it
/// skips the rest, and reports that error when joined.
struct Worker {
    ops: mpsc::Sender<Operation>,
    done: Joiner,
}

enum Joiner {
    Thread(std::thread::JoinHandle<Outcome>),
    Coroutine(runtime::JoinHandle<Outcome>),
}

impl Worker {
    fn start(ctx: &Arc<Context>, name: &str, mode: Mode) -> Worker {
        let (ops, rx) = mpsc::channel::<Operation>();
        let ctx = ctx.clone();
        let body = move || {
            let mut outcome = Ok(());
            for op in rx.iter() {
                if outcome.is_ok() {
                    outcome = ctx.execute(&op);
                }
            }
            outcome
        };
        let done = match mode {
            Mode::Threads => Joiner::Thread(
                std::thread::Builder::new()
                    .name(name.to_owned())
                    .spawn(body)
                    .expect("spawn a test thread"),
            ),
            Mode::Coroutines => Joiner::Coroutine(coroutine::Builder::new().name(name).spawn(body)),
        };
        Worker { ops, done }
    }

    /// Waits until the worker has run everything sent to it; its first error.
    fn join(self) -> Outcome {
        drop(self.ops);
        match self.done {
            Joiner::Thread(h) => h.join().map_err(|_| runner("the thread panicked"))?,
            Joiner::Coroutine(h) => h.join().map_err(|e| runner(e.to_string()))?,
        }
    }
}

fn pool_options(file: &TestFile, events: &Arc<Mutex<Vec<CmapEvent>>>) -> PoolOptions {
    let mut options = PoolOptions::default();
    if let Some(o) = &file.pool_options {
        options.max_pool_size = o.max_pool_size;
        options.min_pool_size = o.min_pool_size;
        options.max_connecting = o.max_connecting;
        options.max_idle_time = o.max_idle_time_ms.map(Duration::from_millis);
        options.wait_queue_timeout = o.wait_queue_timeout_ms.map(Duration::from_millis);
        options.maintenance_interval = o.background_thread_interval_ms.map(|ms| match ms {
            ..=0 => Duration::MAX, // "never begin a Run"
            ms => Duration::from_millis(ms.unsigned_abs()),
        });
    }
    let sink = events.clone();
    options.event_handler = Some(greenmongo::event::EventHandler::new(
        move |e: &CmapEvent| lock(&sink).push(e.clone()),
    ));
    options
}

/// Runs one file's operations; returns the main thread's outcome and the events seen.
fn run_operations(file: &TestFile, mode: Mode, live: Option<&Live>) -> (Outcome, Vec<CmapEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let options = pool_options(file, &events);
    let pool = match live {
        None => Pool::new(
            ServerAddress::tcp("cmap-test", 27017),
            options,
            |_: &ServerAddress, _| Ok(TestConnection::Fake),
        ),
        Some(live) => {
            let settings = file
                .pool_options
                .as_ref()
                .map(|o| LiveSettings {
                    app_name: o.app_name.clone().unwrap_or_default(),
                    connect_timeout: o.connect_timeout_ms.map(Duration::from_millis),
                    socket_timeout: o.socket_timeout_ms.map(Duration::from_millis),
                })
                .unwrap_or_default();
            Pool::new(
                live.address.clone(),
                options,
                move |address: &ServerAddress, e: &Establishing| {
                    connect_live(address, &settings, e)
                },
            )
        }
    };
    let ctx = Arc::new(Context {
        pool,
        events: events.clone(),
        labelled: Mutex::new(HashMap::new()),
        held: Mutex::new(Vec::new()),
    });
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let mut outcome = Ok(());
    for op in &file.operations {
        outcome = match (op, op.thread()) {
            (Operation::Start { target }, _) => {
                workers.insert(target.clone(), Worker::start(&ctx, target, mode));
                Ok(())
            }
            (Operation::WaitForThread { target }, _) => match workers.remove(target) {
                Some(worker) => worker.join(),
                None => Err(runner(format!("no thread {target:?}"))),
            },
            (op, Some(thread)) => match workers.get(thread) {
                Some(worker) => worker
                    .ops
                    .send(op.clone())
                    .map_err(|_| runner(format!("thread {thread:?} is gone"))),
                None => Err(runner(format!("no thread {thread:?}"))),
            },
            (op, None) => ctx.execute(op),
        };
        if outcome.is_err() {
            break;
        }
    }
    let seen = lock(&events).clone();
    // Clean up: close the pool (failing any checkout still queued), then end the threads.
    ctx.pool.close();
    for (_, worker) in workers {
        let _ = worker.join();
    }
    (outcome, seen)
}

/// One file, in one mode.
fn run_file(file: &Arc<TestFile>, mode: Mode, live: Option<&Arc<Live>>) -> Result<(), String> {
    let fail_point = match (live, &file.fail_point) {
        (Some(live), Some(command)) => Some(FailPoint::set(&live.client, command)?),
        _ => None,
    };
    let (outcome, events) = match mode {
        Mode::Threads => run_operations(file, mode, live.map(|l| &**l)),
        Mode::Coroutines => {
            let rt = Runtime::builder()
                .worker_threads(2)
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            let file = file.clone();
            let live = live.cloned();
            rt.block_on(move || run_operations(&file, mode, live.as_deref()))
        }
    };
    drop(fail_point);
    match (&file.error, outcome) {
        (_, Err(Failure::Runner(why))) => return Err(why),
        (None, Err(Failure::Driver(e))) => return Err(format!("unexpected error: {e}")),
        (Some(expected), Ok(())) => {
            return Err(format!("expected a {} error, got none", expected.kind));
        }
        (Some(expected), Err(Failure::Driver(e))) => {
            let _ = (&expected.message, &expected.address); // see the module docs
            if error_type(&e) != expected.kind {
                return Err(format!("expected a {}, got: {e}", expected.kind));
            }
        }
        (None, Ok(())) => {}
    }
    let actual: Vec<Value> = events
        .iter()
        .filter(|e| !file.ignore.iter().any(|name| name == e.name()))
        .map(event_json)
        .collect();
    for (i, expected) in file.events.iter().enumerate() {
        let Some(got) = actual.get(i) else {
            return Err(format!(
                "event {i}: expected {expected}, got only {} events: {}",
                actual.len(),
                names(&actual)
            ));
        };
        if let Err(why) = matches(expected, got) {
            return Err(format!(
                "event {i}: expected {expected}, got {got} ({why}); all: {}",
                names(&actual)
            ));
        }
    }
    Ok(())
}

fn names(events: &[Value]) -> String {
    let names: Vec<String> = events
        .iter()
        .map(|e| {
            let id = e.get("connectionId").map(|id| format!("({id})"));
            format!(
                "{}{}",
                e["type"].as_str().unwrap_or("?"),
                id.unwrap_or_default()
            )
        })
        .collect();
    names.join(", ")
}

/// The spec's name for an error type.
fn error_type(e: &Error) -> &'static str {
    match &*e.kind {
        ErrorKind::WaitQueueTimeout { .. } => "WaitQueueTimeoutError",
        ErrorKind::PoolCleared { .. } => "PoolClearedError",
        ErrorKind::PoolClosed { .. } => "PoolClosedError",
        _ => "(another error)",
    }
}

/// An event as the spec files spell it.
fn event_json(event: &CmapEvent) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(event.name()));
    m.insert("address".into(), json!(event.address().to_string()));
    let millis = |d: &Duration| json!(d.as_secs_f64() * 1000.0);
    match event {
        CmapEvent::PoolCreated { options, .. } => {
            let mut o = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            };
            put("maxPoolSize", options.max_pool_size.map(|n| json!(n)));
            put("minPoolSize", options.min_pool_size.map(|n| json!(n)));
            put("maxConnecting", options.max_connecting.map(|n| json!(n)));
            put(
                "maxIdleTimeMS",
                options.max_idle_time.map(|d| json!(d.as_millis() as u64)),
            );
            put(
                "waitQueueTimeoutMS",
                options
                    .wait_queue_timeout
                    .map(|d| json!(d.as_millis() as u64)),
            );
            m.insert("options".into(), Value::Object(o));
        }
        CmapEvent::PoolCleared {
            interrupt_in_use_connections,
            ..
        } => {
            m.insert(
                "interruptInUseConnections".into(),
                json!(interrupt_in_use_connections),
            );
        }
        CmapEvent::ConnectionCreated { connection_id, .. }
        | CmapEvent::ConnectionCheckedIn { connection_id, .. } => {
            m.insert("connectionId".into(), json!(connection_id));
        }
        CmapEvent::ConnectionReady {
            connection_id,
            duration,
            ..
        }
        | CmapEvent::ConnectionCheckedOut {
            connection_id,
            duration,
            ..
        } => {
            m.insert("connectionId".into(), json!(connection_id));
            m.insert("duration".into(), millis(duration));
        }
        CmapEvent::ConnectionClosed {
            connection_id,
            reason,
            ..
        } => {
            m.insert("connectionId".into(), json!(connection_id));
            m.insert("reason".into(), json!(reason.as_str()));
        }
        CmapEvent::ConnectionCheckOutFailed {
            reason, duration, ..
        } => {
            m.insert("reason".into(), json!(reason.as_str()));
            m.insert("duration".into(), millis(duration));
        }
        _ => {}
    }
    Value::Object(m)
}

/// The README's MATCH: `expected` is a subset of `actual`; `42` and `"42"` match any
/// value that exists.
fn matches(expected: &Value, actual: &Value) -> Result<(), String> {
    if expected == &json!(42) || expected == &json!("42") {
        return if actual.is_null() {
            Err("missing value".into())
        } else {
            Ok(())
        };
    }
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                matches(value, got.get(key).unwrap_or(&Value::Null))
                    .map_err(|why| format!("{key}: {why}"))?;
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(got)) => {
            for (i, value) in want.iter().enumerate() {
                matches(value, got.get(i).unwrap_or(&Value::Null))
                    .map_err(|why| format!("[{i}]: {why}"))?;
            }
            Ok(())
        }
        (Value::Number(want), Value::Number(got)) if want.as_f64() == got.as_f64() => Ok(()),
        (want, got) if want == got => Ok(()),
        (want, got) => Err(format!("{want} != {got}")),
    }
}

/// A fail point set on the live server, turned off when dropped.
struct FailPoint {
    client: Client,
    name: String,
}

impl FailPoint {
    fn set(client: &Client, command: &Value) -> Result<FailPoint, String> {
        let command: Document = bson::serialize_to_document(command)
            .map_err(|e| format!("fail point {command}: {e}"))?;
        let name = command
            .get_str("configureFailPoint")
            .unwrap_or_default()
            .to_owned();
        client
            .database("admin")
            .run_command(command)
            .run()
            .map_err(|e| format!("setting the fail point: {e}"))?;
        Ok(FailPoint {
            client: client.clone(),
            name,
        })
    }
}

impl Drop for FailPoint {
    fn drop(&mut self) {
        let off = doc! { "configureFailPoint": self.name.as_str(), "mode": "off" };
        let _ = self.client.database("admin").run_command(off).run();
    }
}

/// The live server for the integration files, if `MONGODB_URI` names one, with its
/// version from `buildInfo`.
fn live_server() -> Option<(Arc<Live>, Vec<u32>)> {
    let uri = util::server::uri()?;
    let options = ClientOptions::parse(&uri).expect("MONGODB_URI parses");
    let address = options.hosts.first()?.clone();
    let client = Client::with_options(options).expect("a client for MONGODB_URI");
    let info = client
        .database("admin")
        .run_command(doc! { "buildInfo": 1 })
        .run()
        .expect("buildInfo on the live server");
    let version = version_numbers(info.get_str("version").unwrap_or("0"));
    Some((Arc::new(Live { address, client }), version))
}

fn version_numbers(version: &str) -> Vec<u32> {
    version
        .split(['.', '-'])
        .map_while(|part| part.parse().ok())
        .collect()
}

/// Why a file is skipped, if it is.
fn skip_reason(file: &TestFile, live: Option<&(Arc<Live>, Vec<u32>)>) -> Option<String> {
    if file.style == "unit" {
        return None;
    }
    let Some((_, version)) = live else {
        return Some(format!("style {:?}: needs MONGODB_URI", file.style));
    };
    let requirements = file.run_on.as_ref().and_then(Value::as_array);
    let met = requirements.is_none_or(|reqs| {
        reqs.iter().any(|req| {
            let at_least = req
                .get("minServerVersion")
                .and_then(Value::as_str)
                .is_none_or(|min| *version >= version_numbers(min));
            let at_most = req
                .get("maxServerVersion")
                .and_then(Value::as_str)
                .is_none_or(|max| *version <= version_numbers(max));
            // The pool has no backoff state (client backpressure's pool backoff).
            let backoff = req.get("poolBackoff").and_then(Value::as_bool) != Some(true);
            at_least && at_most && backoff
        })
    });
    (!met).then(|| {
        format!(
            "runOn {:?} not met by server version {version:?} (and the pool has no backoff)",
            file.run_on
        )
    })
}

#[test]
fn cmap_format_spec() {
    let Some((root, files)) = spec_files("connection-monitoring-and-pooling/tests/cmap-format")
    else {
        return;
    };
    let live = live_server();
    let mut tallies = Vec::new();
    for path in files {
        let file: Arc<TestFile> = Arc::new(read_json(&path));
        assert_eq!(
            file.version,
            1,
            "{}: unknown format version",
            path.display()
        );
        let mut tally = Tally::new(&root, &path);
        for mode in [Mode::Threads, Mode::Coroutines] {
            let name = format!("{} [{mode:?}]", file.description);
            match skip_reason(&file, live.as_ref()) {
                Some(reason) => tally.skip(&name, &reason),
                None => {
                    let live = live.as_ref().filter(|_| file.style != "unit");
                    tally.record(&name, run_file(&file, mode, live.map(|l| &l.0)));
                }
            }
        }
        tallies.push(tally);
    }
    report(&tallies);
}

/// CMAP, "Populating the Pool with a Connection": an error while populating is handled
/// by SDAM's application-error rules, which clear the pool, so a pool on its own clears
/// itself: `ConnectionPoolCleared` comes before the failed connection's
/// `ConnectionClosed` (the order of upstream's `pool-create-min-size-error.json`), the
/// pool is paused, and it creates nothing more until it is ready again. A pool whose
/// `connect` applies SDAM's rules itself (`sdam_handles_errors`, a client's) is left as
/// that closure leaves it: here ready, trying again. Fake connections; with threads (the
/// maintenance task is a thread) and with coroutines (it is a coroutine).
#[test]
fn an_error_while_populating_clears_the_pool() {
    use greenmongo::pool::{ConnectionClosedReason, PoolState};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Populating {
        pool: Arc<Pool<TestConnection>>,
        attempts: Arc<AtomicUsize>,
        events: Arc<Mutex<Vec<CmapEvent>>>,
        _runtime: Option<Runtime>,
    }

    fn populate(mode: Mode, sdam_handles_errors: bool) -> Populating {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let mut options = PoolOptions::default();
        options.min_pool_size = Some(1);
        options.maintenance_interval = Some(Duration::from_millis(5));
        options.sdam_handles_errors = sdam_handles_errors;
        options.event_handler = Some(greenmongo::event::EventHandler::new(
            move |e: &CmapEvent| lock(&sink).push(e.clone()),
        ));
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        let connect = move |_: &ServerAddress, _: &Establishing| {
            counter.fetch_add(1, Ordering::SeqCst);
            let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "hello timed out");
            Err::<TestConnection, _>(Error::from(timeout))
        };
        let address = ServerAddress::tcp("cmap-populate", 27017);
        let (pool, runtime) = match mode {
            Mode::Threads => (Arc::new(Pool::new(address, options, connect)), None),
            // Created on the runtime, the pool's maintenance task is a coroutine.
            Mode::Coroutines => {
                let rt = Runtime::builder().worker_threads(2).build().unwrap();
                let pool = rt.block_on(move || Arc::new(Pool::new(address, options, connect)));
                (pool, Some(rt))
            }
        };
        pool.ready();
        Populating {
            pool,
            attempts,
            events,
            _runtime: runtime,
        }
    }

    fn wait_for(what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    for mode in [Mode::Threads, Mode::Coroutines] {
        let p = populate(mode, false);
        wait_for("the failed connection's ConnectionClosed", || {
            lock(&p.events)
                .iter()
                .any(|e| e.name() == "ConnectionClosed")
        });
        let names: Vec<_> = lock(&p.events).iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "ConnectionPoolCreated",
                "ConnectionPoolReady",
                "ConnectionCreated",
                "ConnectionPoolCleared",
                "ConnectionClosed"
            ],
            "{mode:?}"
        );
        assert!(lock(&p.events).iter().any(|e| matches!(
            e,
            CmapEvent::ConnectionClosed {
                reason: ConnectionClosedReason::Error,
                ..
            }
        )));
        assert_eq!(p.pool.state(), PoolState::Paused, "{mode:?}");
        assert_eq!(
            p.attempts.load(Ordering::SeqCst),
            1,
            "{mode:?}: paused, it stopped"
        );
        assert_eq!(p.pool.counts().total, 0, "{mode:?}");
        p.pool.close();

        let p = populate(mode, true);
        wait_for("a second attempt", || {
            p.attempts.load(Ordering::SeqCst) >= 2
        });
        assert_eq!(p.pool.state(), PoolState::Ready, "{mode:?}");
        assert!(
            !lock(&p.events)
                .iter()
                .any(|e| e.name() == "ConnectionPoolCleared"),
            "{mode:?}"
        );
        p.pool.close();
    }
}
