//! The CMAP spec's pool tests (`connection-monitoring-and-pooling/tests/cmap-format`),
//! run against a pool of fake connections: no server needed.
//!
//! Each unit-style file runs twice: once with the spec's "threads" as OS threads (the
//! pool's maintenance task is then a thread too), and once with them as coroutines on a
//! two-worker runtime (maintenance is then a coroutine). Integration-style files, which
//! need a live server and a fail point, are skipped with the reason printed.
//!
//! The README's MATCH is applied to events (with `42` as "any value") and to the error's
//! `type`. The error's `message` is not compared: it is each driver's own wording (ours
//! names the pool and waitQueueTimeoutMS).

mod util {
    pub mod spec;
}

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use greenmongo::{
    options::ServerAddress,
    pool::{CmapEvent, Pool, PoolConnection, PoolOptions, PooledConnection},
    runtime::{self, coroutine, sync::mpsc, Runtime},
    Error, ErrorKind,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use util::spec::{read_json, report, spec_files, Tally};

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

/// A connection that does no I/O; the pool tests only look at its id.
struct FakeConnection;

impl PoolConnection for FakeConnection {
    fn is_reusable(&self) -> bool {
        true
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
    pool: Pool<FakeConnection>,
    events: Arc<Mutex<Vec<CmapEvent>>>,
    labelled: Mutex<HashMap<String, PooledConnection<FakeConnection>>>,
    /// Unlabelled checkouts stay checked out until the end of the run.
    held: Mutex<Vec<PooledConnection<FakeConnection>>>,
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
        let _ = &o.app_name; // integration tests only
    }
    let sink = events.clone();
    options.event_handler = Some(Arc::new(move |e: &CmapEvent| lock(&sink).push(e.clone())));
    options
}

/// Runs one file's operations; returns the main thread's outcome and the events seen.
fn run_operations(file: &TestFile, mode: Mode) -> (Outcome, Vec<CmapEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let pool = Pool::new(
        ServerAddress::tcp("cmap-test", 27017),
        pool_options(file, &events),
        |_: &ServerAddress, _| Ok(FakeConnection),
    );
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
fn run_file(file: &Arc<TestFile>, mode: Mode) -> Result<(), String> {
    let (outcome, events) = match mode {
        Mode::Threads => run_operations(file, mode),
        Mode::Coroutines => {
            let rt = Runtime::builder()
                .worker_threads(2)
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            let file = file.clone();
            rt.block_on(move || run_operations(&file, mode))
        }
    };
    match (&file.error, outcome) {
        (_, Err(Failure::Runner(why))) => return Err(why),
        (None, Err(Failure::Driver(e))) => return Err(format!("unexpected error: {e}")),
        (Some(expected), Ok(())) => {
            return Err(format!("expected a {} error, got none", expected.kind))
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

/// Why a file is skipped, if it is.
fn skip_reason(file: &TestFile) -> Option<String> {
    if file.style != "unit" {
        return Some(format!(
            "style {:?}: needs a live server{}",
            file.style,
            if file.fail_point.is_some() {
                " and a failCommand fail point that blocks the handshake"
            } else {
                ""
            }
        ));
    }
    if file.fail_point.is_some() {
        return Some("needs a failCommand fail point on a live server".into());
    }
    let _ = &file.run_on;
    None
}

#[test]
fn cmap_format_spec() {
    let Some((root, files)) = spec_files("connection-monitoring-and-pooling/tests/cmap-format")
    else {
        return;
    };
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
            match skip_reason(&file) {
                Some(reason) => tally.skip(&name, &reason),
                None => tally.record(&name, run_file(&file, mode)),
            }
        }
        tallies.push(tally);
    }
    report(&tallies);
}
