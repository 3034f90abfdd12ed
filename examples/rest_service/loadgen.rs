//! The demo's load generator: many client coroutines, each on its own keep-alive
//! connection, running a mix of requests for a fixed time and checking every answer.
//! A progress coroutine prints a line to stderr every 500 ms; the report has latency
//! percentiles and a summary of the coroutine dump taken at the end of the load.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    io::IsTerminal,
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use greenmongo::runtime::{
    CoroutineInfo, CoroutineState, Handle,
    coroutine::{self, WaitKind},
    sleep,
};
use serde_json::{Value, json};

use super::{
    api::Stats,
    client::{HttpClient, Reply},
};

const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// Failure messages kept for the report; the rest are only counted.
const FAILURE_SAMPLES: usize = 5;
const TAGS: [&str; 5] = ["red", "green", "blue", "sale", "new"];
/// Items a client keeps before it prefers deleting to creating.
const ITEMS_PER_CLIENT: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub clients: usize,
    pub duration: Duration,
    /// Set by Ctrl-C: end the load early.
    pub interrupted: &'static AtomicBool,
    /// The service's counters, for its HTTP sockets in the coroutine dump.
    pub service: Arc<Stats>,
}

/// The kinds of request, in the report's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Read,
    Update,
    Replace,
    Search,
    Delete,
    Stats,
    /// A malformed id: the service must answer 400, which counts as success.
    BadRequest,
}

const OPS: [Op; 8] = [
    Op::Create,
    Op::Read,
    Op::Update,
    Op::Replace,
    Op::Search,
    Op::Delete,
    Op::Stats,
    Op::BadRequest,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
            Op::Replace => "replace",
            Op::Search => "search",
            Op::Delete => "delete",
            Op::Stats => "stats",
            Op::BadRequest => "bad-request",
        }
    }

    /// Weights out of 100, with the item count steering creates and deletes.
    fn choose(rng: &mut Rng, owned: usize) -> Op {
        if owned == 0 {
            return Op::Create;
        }
        let (create, delete) = if owned >= ITEMS_PER_CLIENT {
            (5, 20)
        } else {
            (20, 5)
        };
        let weights = [create, 35, 10, 5, 15, delete, 2, 3];
        let mut pick = rng.below(weights.iter().sum());
        for (op, weight) in OPS.into_iter().zip(weights) {
            if pick < weight {
                return op;
            }
            pick -= weight;
        }
        Op::Read
    }
}

/// Counters the clients share with the progress line and the report.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    requests: AtomicU64,
    failures: AtomicU64,
    failure_samples: Mutex<Vec<String>>,
}

impl Shared {
    fn fail(&self, message: String) {
        self.failures.fetch_add(1, Relaxed);
        let mut samples = self.samples();
        if samples.len() < FAILURE_SAMPLES {
            samples.push(message);
        }
    }

    /// A std mutex: held to push or take, never across a wait.
    fn samples(&self) -> MutexGuard<'_, Vec<String>> {
        self.failure_samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one client did.
#[derive(Debug, Default)]
struct ClientTally {
    latencies_us: Vec<u32>,
    per_op: [u64; OPS.len()],
}

/// The outcome of a load run.
#[derive(Debug)]
pub struct LoadReport {
    pub elapsed: Duration,
    pub requests: u64,
    pub failures: u64,
    pub failure_samples: Vec<String>,
    /// Sorted, in microseconds.
    latencies_us: Vec<u32>,
    per_op: [u64; OPS.len()],
    /// The runtime's coroutines at the end of the load, before the clients stopped, and
    /// the service's HTTP sockets then.
    dump: Vec<CoroutineInfo>,
    http_sockets: HashSet<i32>,
    /// The coroutine that ran the load (and took the dump).
    driver: Option<u64>,
    /// The driver's pools at the moment of the dump, from the service's `GET /stats`.
    pools: Result<Vec<Value>, String>,
    pub interrupted: bool,
}

/// Runs the load and reports.
///
/// # Panics
/// Outside a coroutine of a runtime.
pub fn run(config: LoadConfig) -> LoadReport {
    let handle = Handle::try_current().expect("loadgen::run runs in a coroutine");
    let shared = Arc::new(Shared::default());
    let started = Instant::now();
    let clients: Vec<_> = (0..config.clients)
        .map(|id| {
            let shared = shared.clone();
            coroutine::Builder::new()
                .name(format!("load-client {id}"))
                .spawn(move || run_client(config.addr, id, &shared))
        })
        .collect();
    let progress = coroutine::Builder::new().name("load-progress").spawn({
        let (shared, handle) = (shared.clone(), handle.clone());
        move || print_progress(&shared, &handle, started)
    });

    let deadline = started + config.duration;
    while Instant::now() < deadline && !config.interrupted.load(Relaxed) {
        let _ = sleep(Duration::from_millis(50).min(deadline - Instant::now()));
    }
    // Under full load: what the coroutines are waiting on, and the pools they share.
    let (dump, http_sockets) = (handle.dump(), config.service.http_sockets());
    let pools = fetch_pool_stats(config.addr);
    shared.stop.store(true, Relaxed);

    let mut tally = ClientTally::default();
    for client in clients {
        match client.join() {
            Ok(t) => {
                tally.latencies_us.extend(t.latencies_us);
                tally
                    .per_op
                    .iter_mut()
                    .zip(t.per_op)
                    .for_each(|(a, b)| *a += b);
            }
            Err(e) => shared.fail(format!("a client coroutine failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    let _ = progress.join();
    tally.latencies_us.sort_unstable();
    let failure_samples = std::mem::take(
        &mut *shared
            .failure_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    LoadReport {
        elapsed,
        requests: shared.requests.load(Relaxed),
        failures: shared.failures.load(Relaxed),
        failure_samples,
        latencies_us: tally.latencies_us,
        per_op: tally.per_op,
        dump,
        http_sockets,
        driver: coroutine::current_id(),
        pools,
        interrupted: config.interrupted.load(Relaxed),
    }
}

/// One client: requests until told to stop, reconnecting after a failure.
fn run_client(addr: SocketAddr, id: usize, shared: &Shared) -> ClientTally {
    let mut rng = Rng::new(id as u64);
    let mut tally = ClientTally::default();
    let mut owned: Vec<String> = Vec::new();
    let mut conn: Option<HttpClient> = None;
    while !shared.stop.load(Relaxed) {
        let op = Op::choose(&mut rng, owned.len());
        let started = Instant::now();
        let outcome = match &mut conn {
            Some(http) => perform(op, http, id, &mut owned, &mut rng),
            None => HttpClient::connect(addr)
                .map_err(|e| format!("connect: {e}"))
                .and_then(|http| perform(op, conn.insert(http), id, &mut owned, &mut rng)),
        };
        let micros = started.elapsed().as_micros();
        tally
            .latencies_us
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
        tally.per_op[op as usize] += 1;
        shared.requests.fetch_add(1, Relaxed);
        if let Err(message) = outcome {
            shared.fail(format!("client {id} {}: {message}", op.name()));
            conn = None; // the connection may be out of step: start afresh
        }
    }
    tally
}

/// Sends one request of kind `op` and checks the answer.
fn perform(
    op: Op,
    http: &mut HttpClient,
    client: usize,
    owned: &mut Vec<String>,
    rng: &mut Rng,
) -> Result<(), String> {
    let mut call = |method: &str, target: &str, body: Option<Value>, expect: u16| {
        let reply = http
            .request(method, target, body.as_ref())
            .map_err(|e| format!("{method} {target}: {e}"))?;
        expect_status(&reply, method, target, expect)?;
        Ok::<Reply, String>(reply)
    };
    match op {
        Op::Create => {
            let reply = call("POST", "/items", Some(new_item(client, rng)), 201)?;
            let id = reply.json()["_id"].as_str().map(str::to_owned);
            owned.push(id.ok_or("POST /items: no _id in the reply")?);
        }
        Op::Read => {
            let id = &owned[rng.below(owned.len())];
            let reply = call("GET", &format!("/items/{id}"), None, 200)?;
            if reply.json()["_id"] != json!(id) {
                return Err(format!("GET /items/{id} returned another item"));
            }
        }
        Op::Update => {
            let id = &owned[rng.below(owned.len())];
            let price = rng.price();
            let reply = call(
                "PATCH",
                &format!("/items/{id}"),
                Some(json!({ "price": price })),
                200,
            )?;
            if reply.json()["price"] != json!(price) {
                return Err(format!("PATCH /items/{id} did not set the price"));
            }
        }
        Op::Replace => {
            let id = &owned[rng.below(owned.len())];
            call(
                "PUT",
                &format!("/items/{id}"),
                Some(new_item(client, rng)),
                200,
            )?;
        }
        Op::Search => {
            let tag = TAGS[rng.below(TAGS.len())];
            let target = format!("/items?q=widget-{client}-&tag={tag}&page=1&per_page=10");
            let reply = call("GET", &target, None, 200)?;
            if !reply.json()["items"].is_array() {
                return Err(format!("GET {target}: no items array"));
            }
        }
        Op::Delete => {
            let id = owned.swap_remove(rng.below(owned.len()));
            call("DELETE", &format!("/items/{id}"), None, 204)?;
        }
        Op::Stats => {
            call("GET", "/stats", None, 200)?;
        }
        Op::BadRequest => {
            call("GET", "/items/not-an-object-id", None, 400)?;
        }
    }
    Ok(())
}

fn expect_status(reply: &Reply, method: &str, target: &str, expect: u16) -> Result<(), String> {
    if reply.status == expect {
        return Ok(());
    }
    let error = reply.error().unwrap_or_default();
    Err(format!(
        "{method} {target}: status {} (expected {expect}) {error}",
        reply.status
    ))
}

fn new_item(client: usize, rng: &mut Rng) -> Value {
    let tags: Vec<&str> = (0..1 + rng.below(3))
        .map(|_| TAGS[rng.below(TAGS.len())])
        .collect();
    json!({
        "name": format!("widget-{client}-{}", rng.below(1_000_000)),
        "price": rng.price(),
        "tags": tags,
    })
}

/// Every 500 ms on stderr: rate, errors, coroutines and run queues. One updating line on
/// a terminal, one line per tick otherwise.
fn print_progress(shared: &Shared, handle: &Handle, started: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let mut last = (started, 0);
    while !shared.stop.load(Relaxed) {
        if sleep(PROGRESS_EVERY).is_err() {
            break;
        }
        let (now, requests) = (Instant::now(), shared.requests.load(Relaxed));
        let rate = (requests - last.1) as f64 / (now - last.0).as_secs_f64();
        last = (now, requests);
        let metrics = handle.metrics();
        let runnable: Vec<String> = metrics
            .workers
            .iter()
            .map(|w| w.runnable.to_string())
            .collect();
        let line = format!(
            "[{:5.1} s] {rate:7.0} req/s  {requests:8} requests  {} errors  \
             {} coroutines  runnable per worker: {}",
            (now - started).as_secs_f64(),
            shared.failures.load(Relaxed),
            metrics.coroutines(),
            runnable.join(", ")
        );
        if terminal {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
    }
    if terminal {
        eprintln!();
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "requests    {} in {seconds:.2} s: {:.0} requests/s",
            self.requests,
            self.requests as f64 / seconds
        )?;
        let mix: Vec<String> = OPS
            .iter()
            .map(|op| format!("{} {}", op.name(), self.per_op[*op as usize]))
            .collect();
        writeln!(f, "  mix       {}", mix.join(", "))?;
        let ms = |q: f64| self.percentile(q) as f64 / 1000.0;
        writeln!(
            f,
            "latency     p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            ms(0.50),
            ms(0.90),
            ms(0.99),
            ms(1.0)
        )?;
        writeln!(f, "errors      {}", self.failures)?;
        for sample in &self.failure_samples {
            writeln!(f, "  e.g.      {sample}")?;
        }
        let summary = DumpSummary {
            dump: &self.dump,
            http_sockets: &self.http_sockets,
            driver: self.driver,
        };
        write!(f, "{summary}")?;
        match &self.pools {
            Ok(pools) => pools.iter().try_for_each(|pool| {
                writeln!(
                    f,
                    "pool        {}: {} connections checked out, {} coroutines waiting, {} idle",
                    pool["server"].as_str().unwrap_or("?"),
                    pool["checked_out"],
                    pool["waiting"],
                    pool["available"]
                )
            }),
            Err(e) => writeln!(f, "pool        (GET /stats failed: {e})"),
        }
    }
}

/// The `mongodb_pools` of the service's `GET /stats`.
fn fetch_pool_stats(addr: SocketAddr) -> Result<Vec<Value>, String> {
    let reply = HttpClient::connect(addr)
        .and_then(|mut http| http.request("GET", "/stats", None))
        .map_err(|e| e.to_string())?;
    match reply.json()["mongodb_pools"].as_array() {
        Some(pools) => Ok(pools.clone()),
        None => Err(format!("status {}, no mongodb_pools", reply.status)),
    }
}

impl LoadReport {
    /// The latency below which a fraction `q` of requests fell, in microseconds.
    fn percentile(&self, q: f64) -> u32 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1]
    }
}

/// Coroutines grouped by role (their name up to the first space) and what they wait on.
struct DumpSummary<'a> {
    dump: &'a [CoroutineInfo],
    http_sockets: &'a HashSet<i32>,
    driver: Option<u64>,
}

impl fmt::Display for DumpSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut roles: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
        for c in self.dump {
            let role = match c.name.as_deref() {
                _ if Some(c.id) == self.driver => "load-driver",
                Some(name) => name.split(' ').next().unwrap_or(name),
                None => "(unnamed)",
            };
            let wait = waiting_on(c, role, self.http_sockets);
            *roles.entry(role).or_default().entry(wait).or_default() += 1;
        }
        writeln!(
            f,
            "coroutines  {} at the end of the load, by role and what they wait on:",
            self.dump.len()
        )?;
        for (role, waits) in roles {
            let total: usize = waits.values().sum();
            let waits: Vec<String> = waits.iter().map(|(w, n)| format!("{w} {n}")).collect();
            writeln!(f, "  {role:<14} {total:>5}  {}", waits.join(", "))?;
        }
        Ok(())
    }
}

fn waiting_on(c: &CoroutineInfo, role: &str, http_sockets: &HashSet<i32>) -> String {
    match (c.state, c.wait) {
        (CoroutineState::Running, _) => "running".into(),
        (CoroutineState::Runnable, _) => "runnable".into(),
        (_, WaitKind::Socket { fd, write }) => {
            // Only connection handlers talk to MongoDB, on sockets other than their HTTP one.
            let peer = if role == "http-conn" && !http_sockets.contains(&fd) {
                "MongoDB"
            } else {
                "HTTP"
            };
            format!("{peer} {}", if write { "write" } else { "read" })
        }
        (_, wait) => wait.to_string(),
    }
}

/// xorshift64*: a fast, seeded generator, so each client's mix is reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A price in cents, as dollars: exact enough to compare after a round trip.
    fn price(&mut self) -> f64 {
        self.below(100_000) as f64 / 100.0
    }
}
