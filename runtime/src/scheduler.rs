//! The runtime: worker threads, each with its own event loop, and the handles that spawn
//! onto them.
//!
//! Threads created: `worker_threads` workers (named `greenmongo-worker-N`), started by
//! [`Builder::build`] and joined when the [`Runtime`] drops; and up to
//! `max_blocking_threads` blocking-pool threads, started on demand by
//! [`spawn_blocking`](crate::spawn_blocking), ended after 10 s idle or at drop.

pub(crate) mod worker;

use std::{
    fmt, io, panic,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::blocking::BlockingPool;
use crate::coroutine::{self, Builder as CoroutineBuilder, JoinHandle, overflow};
use crate::park;
use crate::sync::{lock, oneshot};
use crate::task::{WaitKind, state};
use crate::time;
use worker::{Message, Worker, WorkerShared};

/// State shared by the runtime, its handles and its workers.
pub(crate) struct RuntimeShared {
    pub(crate) workers: Vec<Arc<WorkerShared>>,
    /// Round-robin cursor for spawns.
    next_worker: AtomicUsize,
    pub(crate) stack_size: usize,
    /// See [`Builder::idle_spin`]; zero: never spin.
    pub(crate) idle_spin: Duration,
    pub(crate) blocking: BlockingPool,
}

/// Configures a [`Runtime`].
///
/// # Examples
/// ```
/// let rt = greenmongo_runtime::Runtime::builder()
///     .worker_threads(2)
///     .stack_size(128 * 1024)
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(|| 1 + 1), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    worker_threads: usize,
    stack_size: usize,
    max_blocking_threads: usize,
    thread_name: String,
    idle_spin: Duration,
    io_uring: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            worker_threads: thread::available_parallelism().map_or(1, |n| n.get()),
            stack_size: coroutine::stack::DEFAULT_STACK_SIZE,
            max_blocking_threads: 64,
            thread_name: "greenmongo-worker".to_owned(),
            idle_spin: Duration::ZERO,
            io_uring: false,
        }
    }
}

impl Builder {
    /// Number of worker threads (default: the number of CPUs). At least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(3).build()?;
    /// assert_eq!(rt.metrics().workers.len(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = n.max(1);
        self
    }

    /// Default stack size of the runtime's coroutines, in bytes (default 256 KiB; see
    /// the crate docs for how it was chosen). Rounded up to whole pages; a guard page is
    /// added below each stack.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).stack_size(1024 * 1024).build()?;
    /// let n = rt.block_on(|| { let big = [7u8; 512 * 1024]; big[big.len() - 1] }); // too big for the default 256 KiB
    /// assert_eq!(n, 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Upper bound on blocking-pool threads (default 64).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{spawn_blocking, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).max_blocking_threads(2).build()?;
    /// let sizes = rt.block_on(|| {
    ///     let jobs: Vec<_> = (0..4).map(|i| spawn_blocking(move || i * 10)).collect(); // at most 2 at once
    ///     jobs.into_iter().map(|j| j.join().unwrap()).collect::<Vec<_>>()
    /// });
    /// assert_eq!(sizes, [0, 10, 20, 30]);
    /// assert!(rt.metrics().blocking_threads <= 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// Name prefix of the worker threads (default `greenmongo-worker`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).thread_name("db-io").build()?;
    /// let name = rt.block_on(|| std::thread::current().name().map(str::to_owned));
    /// assert_eq!(name.as_deref(), Some("db-io-0"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// How long an idle worker that other threads keep waking looks for work before it
    /// sleeps in `epoll_wait` (default: zero, it sleeps at once).
    ///
    /// Waking a worker asleep in `epoll_wait` costs its waker an `eventfd` write and the
    /// sleeper a thread wake-up: tens of microseconds in a VM. With a spin set, a worker
    /// whose last idle stretch ended by mail (a wake-up or spawn from another thread)
    /// within twice the spin watches its inbox for up to the spin, polling its sockets
    /// and the other workers' queued spawns every 10 µs, before it sleeps; a worker
    /// woken by I/O or idle for longer sleeps at once. Measured: a ping-pong between
    /// coroutines on two workers went from 52 µs to 2.6 µs a round trip with 50 µs
    /// (BENCHMARKS.md). The price is CPU: up to the spin per idle stretch, which a
    /// database on the same cores, or other processes, would have used; the driver's
    /// own benchmarks against a local server ran slower with it, so it is off unless a
    /// workload of hand-offs between workers asks for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::{sync::mpsc, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(2).idle_spin(Duration::from_micros(50)).build()?;
    /// let (tx, rx) = mpsc::channel();
    /// let echo = rt.spawn(move || rx.recv().unwrap() * 2);
    /// tx.send(21).unwrap(); // mail for the worker that runs `echo`
    /// assert_eq!(echo.join().unwrap(), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn idle_spin(mut self, spin: Duration) -> Self {
        self.idle_spin = spin;
        self
    }

    /// Whether coroutines read and write streams ([`TcpStream`](crate::net::TcpStream),
    /// [`UnixStream`](crate::net::UnixStream)) through io_uring (default: no, epoll).
    ///
    /// Each worker gets a ring; a coroutine's `read` or `write` queues a `recv` or `send`
    /// there and parks, and the worker hands all that its coroutines queued in a round
    /// to the kernel in one `io_uring_enter`, which also collects the completions. A
    /// server with many busy connections makes far fewer system calls (a few per round
    /// instead of two or three per message) and skips epoll for them. A lone connection
    /// gains nothing (3–5% slower in the driver's fake-peer bench): its call waits for
    /// the end of the round. Plain threads and `may`
    /// coroutines keep their blocking and readiness paths; accept, connect, `peek` and
    /// vectored calls stay on epoll. Timeouts work as on epoll: a call that times out
    /// cancels its operation, and returns the bytes it received if it completed first.
    ///
    /// [`build`](Builder::build) fails when the kernel (Linux 6.1 or later is needed) or
    /// a sandbox refuses io_uring: nothing falls back silently.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenmongo_runtime::{net::{TcpListener, TcpStream}, Runtime};
    ///
    /// match Runtime::builder().worker_threads(1).io_uring(true).build() {
    ///     Ok(rt) => rt.block_on(|| {
    ///         let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///         let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    ///         let (mut server, _) = listener.accept().unwrap();
    ///         client.write_all(b"ping").unwrap(); // a `send` on the worker's ring
    ///         let mut buf = [0; 4];
    ///         server.read_exact(&mut buf).unwrap(); // a `recv`
    ///         assert_eq!(&buf, b"ping");
    ///     }),
    ///     Err(e) => eprintln!("no io_uring here: {e}"),
    /// }
    /// ```
    pub fn io_uring(mut self, on: bool) -> Self {
        self.io_uring = on;
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    /// When the OS refuses an epoll instance, an eventfd or a thread, or an io_uring
    /// instance if [`io_uring`](Builder::io_uring) asked for one.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::Runtime;
    ///
    /// let rt = Runtime::builder().worker_threads(2).build()?; // starts greenmongo-worker-0 and -1
    /// assert_eq!(rt.block_on(|| "running"), "running");
    /// drop(rt); // stops and joins them
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        overflow::install();
        let mut polls = Vec::with_capacity(self.worker_threads);
        let mut workers = Vec::with_capacity(self.worker_threads);
        for index in 0..self.worker_threads {
            let poll = mio::Poll::new()?;
            workers.push(Arc::new(WorkerShared::new(index, &poll)?));
            let ring = self.io_uring.then(crate::uring::new_ring).transpose()?;
            polls.push((poll, ring));
        }
        let shared = Arc::new(RuntimeShared {
            workers,
            next_worker: AtomicUsize::new(0),
            stack_size: self.stack_size,
            idle_spin: self.idle_spin,
            blocking: BlockingPool::new(self.max_blocking_threads),
        });
        let mut runtime = Runtime {
            shared: shared.clone(),
            threads: Vec::new(),
        };
        for (index, (poll, ring)) in polls.into_iter().enumerate() {
            let worker = shared.workers[index].clone();
            let runtime_shared = shared.clone();
            let thread = thread::Builder::new()
                .name(format!("{}-{index}", self.thread_name))
                .spawn(move || Worker::run(worker, runtime_shared, poll, ring))?;
            // Pushed one by one so that an error above still joins the started threads.
            runtime.threads.push(thread);
        }
        Ok(runtime)
    }
}

/// A running set of worker threads. Dropping it stops them, unwinding every suspended
/// coroutine so its destructors run, and joins them.
///
/// # Examples
/// ```
/// use greenmongo_runtime::{coroutine, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let total: u64 = rt.block_on(|| {
///     let hs: Vec<_> = (0..100u64).map(|i| coroutine::spawn(move || i)).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).sum()
/// });
/// assert_eq!(total, 4950);
/// ```
pub struct Runtime {
    shared: Arc<RuntimeShared>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.shared.workers.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with default settings: one worker per CPU, 256 KiB stacks.
    ///
    /// # Errors
    /// See [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::new()?;
    /// assert_eq!(rt.block_on(|| 6 * 7), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Runtime> {
        Builder::default().build()
    }

    /// A [`Builder`] with default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).build()?;
    /// assert_eq!(rt.metrics().workers.len(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A cloneable handle for spawning from anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).build()?;
    /// let handle = rt.handle();
    /// let from_thread = std::thread::spawn(move || handle.spawn(|| "spawned from a thread").join().unwrap());
    /// assert_eq!(from_thread.join().unwrap(), "spawned from a thread");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Runs `f` in a coroutine and blocks the calling thread until it returns.
    ///
    /// # Panics
    /// Re-raises a panic of `f`; panics if the runtime shuts down before `f` ends.
    ///
    /// # Examples
    /// ```
    /// let rt = greenmongo_runtime::Runtime::new().unwrap();
    /// let v = rt.block_on(|| {
    ///     greenmongo_runtime::sleep(std::time::Duration::from_millis(1)).unwrap();
    ///     "done"
    /// });
    /// assert_eq!(v, "done");
    /// ```
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.spawn(f).join() {
            Ok(value) => value,
            Err(e) => match e.try_into_panic() {
                Ok(payload) => panic::resume_unwind(payload),
                Err(e) => panic!("block_on: {e}"),
            },
        }
    }

    /// Spawns a coroutine: from a plain thread on the runtime's workers in turn, from
    /// one of its coroutines on that coroutine's worker (idle workers may take it before
    /// it starts, and a clearly less loaded worker gets it: see [`spawn`](crate::spawn)).
    ///
    /// # Examples
    /// ```
    /// let rt = greenmongo_runtime::Runtime::new().unwrap();
    /// assert_eq!(rt.spawn(|| "hi").join().unwrap(), "hi");
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle().spawn(f)
    }

    /// Every live coroutine: id, name, worker, state and what it waits on.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::{coroutine, sleep, Runtime};
    ///
    /// let rt = Runtime::new().unwrap();
    /// let _h = rt.spawn(|| sleep(Duration::from_secs(60)));
    /// std::thread::sleep(Duration::from_millis(50));
    /// let dump = rt.dump();
    /// assert!(dump.iter().any(|c| c.wait == coroutine::WaitKind::Timer));
    /// println!("{}", rt.dump_string());
    /// ```
    pub fn dump(&self) -> Vec<CoroutineInfo> {
        self.handle().dump()
    }

    /// [`Runtime::dump`] as a table, one coroutine a line.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::{coroutine, sleep, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let _napper = rt.block_on(|| coroutine::Builder::new().name("napper").spawn(|| sleep(Duration::from_secs(60))));
    /// let table = rt.dump_string();
    /// assert!(table.contains("napper"), "{table}");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump_string(&self) -> String {
        format_dump(&self.dump())
    }

    /// Counts per worker: live coroutines and runnable ones.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::{sleep, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let _sleepers: Vec<_> = (0..3).map(|_| rt.spawn(|| sleep(Duration::from_secs(60)))).collect();
    /// let handle = rt.handle();
    /// let live = rt.block_on(move || { sleep(Duration::from_millis(10)).unwrap(); handle.metrics().coroutines() });
    /// assert_eq!(live, 4); // three sleepers and the block_on coroutine
    /// assert_eq!(rt.metrics().workers.len(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.handle().metrics()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for worker in &self.shared.workers {
            worker.shut_down();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.shared.blocking.shut_down();
    }
}

/// A cloneable, `Send` handle to a [`Runtime`], for spawning from any thread.
///
/// A handle does not keep the workers alive: once the runtime is dropped, spawns through
/// it fail at join with a "cancelled" error.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{Handle, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let handle: Handle = rt.handle(); // Clone + Send
/// let workers: Vec<_> = (0..2).map(|i| {
///     let handle = handle.clone();
///     std::thread::spawn(move || handle.spawn(move || i * 100).join().unwrap())
/// }).collect();
/// assert_eq!(workers.into_iter().map(|t| t.join().unwrap()).sum::<i32>(), 100);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<RuntimeShared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// The handle of the runtime whose coroutine calls this; `None` elsewhere.
    ///
    /// # Examples
    /// ```
    /// use greenmongo_runtime::{Handle, Runtime};
    /// assert!(Handle::try_current().is_none());
    /// let rt = Runtime::new().unwrap();
    /// assert!(rt.block_on(|| Handle::try_current().is_some()));
    /// ```
    pub fn try_current() -> Option<Handle> {
        worker::with_worker(|w| Handle {
            shared: w.runtime.clone(),
        })
    }

    /// Spawns a coroutine (see [`Runtime::spawn`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).build()?;
    /// let h = rt.handle().spawn(|| "hello");
    /// assert_eq!(h.join().unwrap(), "hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(CoroutineBuilder::new(), f)
    }

    pub(crate) fn spawn_with<F, T>(&self, builder: CoroutineBuilder, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (body, handle) = coroutine::spawn_body(f);
        // On a worker of this runtime: queue it here, where idle workers may take it
        // before it starts (a wake-up of a sleeping worker costs tens of microseconds,
        // a spawn a few hundred nanoseconds).
        if let Some(w) = park::worker().filter(|w| Arc::ptr_eq(&w.runtime, &self.shared)) {
            w.spawn_shared(builder, body);
            return handle;
        }
        // From elsewhere: to the workers in turn.
        let n = self.shared.workers.len();
        let target =
            &self.shared.workers[self.shared.next_worker.fetch_add(1, Ordering::Relaxed) % n];
        target.send(Message::Spawn(builder, body));
        handle
    }

    /// See [`Runtime::dump`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{Handle, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let names = rt.block_on(|| {
    ///     let dump = Handle::try_current().unwrap().dump(); // from inside, e.g. a debug endpoint
    ///     dump.into_iter().map(|c| c.name).collect::<Vec<_>>()
    /// });
    /// assert_eq!(names, [None]); // just the block_on coroutine itself
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> Vec<CoroutineInfo> {
        self.refresh_registries();
        let mut out = Vec::new();
        for worker in &self.shared.workers {
            for task in lock(&worker.tasks).iter().flatten() {
                out.push(CoroutineInfo {
                    id: task.id,
                    name: task.name.as_deref().map(str::to_owned),
                    worker: worker.index,
                    state: match task.state.load(Ordering::Acquire) {
                        state::RUNNING | state::NOTIFIED => CoroutineState::Running,
                        state::SCHEDULED => CoroutineState::Runnable,
                        _ => CoroutineState::Waiting,
                    },
                    wait: task.wait(),
                });
            }
        }
        out.sort_by_key(|c| c.id);
        out
    }

    /// Has every worker bring its dump registry up to date (workers update it once per
    /// round of their loop, not at every spawn and exit). Waits at most 100 ms: a worker
    /// stuck in a coroutine that never yields (what a dump is often for) shows its last
    /// published state instead.
    fn refresh_registries(&self) {
        let here = worker::with_worker(|w| {
            w.publish();
            w.shared.clone()
        });
        let replies: Vec<_> = self
            .shared
            .workers
            .iter()
            .filter(|w| !here.as_ref().is_some_and(|here| Arc::ptr_eq(here, w)))
            .map(|w| {
                let (tx, rx) = oneshot::channel();
                w.send(Message::Publish(tx));
                rx
            })
            .collect();
        let deadline = Instant::now() + Duration::from_millis(100);
        for reply in replies {
            // Disconnected: the worker has shut down; timed out: it is busy.
            let _ = time::with_own_deadline(Some(deadline), || reply.recv());
        }
    }

    /// See [`Runtime::metrics`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(2).build()?;
    /// let metrics = rt.handle().metrics();
    /// assert_eq!(metrics.workers.len(), 2);
    /// assert_eq!(metrics.coroutines(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.refresh_registries();
        let workers = self
            .shared
            .workers
            .iter()
            .map(|worker| {
                let tasks = lock(&worker.tasks);
                let live = tasks.iter().flatten();
                WorkerMetrics {
                    coroutines: live.clone().count(),
                    runnable: live
                        .filter(|t| t.state.load(Ordering::Relaxed) == state::SCHEDULED)
                        .count(),
                }
            })
            .collect();
        Metrics {
            workers,
            blocking_threads: self.shared.blocking.threads(),
        }
    }
}

/// One line of a coroutine dump.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{coroutine, CoroutineState, Handle, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let me = rt.block_on(|| {
///     let id = coroutine::current_id();
///     Handle::try_current().unwrap().dump().into_iter().find(|c| Some(c.id) == id).unwrap()
/// });
/// assert_eq!((me.worker, me.state), (0, CoroutineState::Running));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoroutineInfo {
    /// Unique id (process-wide).
    pub id: u64,
    /// The name given at spawn.
    pub name: Option<String>,
    /// Index of the worker that owns it.
    pub worker: usize,
    /// Running, runnable or waiting.
    pub state: CoroutineState,
    /// What it waits on, when waiting.
    pub wait: WaitKind,
}

/// The scheduling state of a coroutine in a dump.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo_runtime::{sleep, CoroutineState, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let _sleeper = rt.spawn(|| sleep(Duration::from_secs(60)));
/// rt.block_on(|| sleep(Duration::from_millis(10))).unwrap();
/// assert!(rt.dump().iter().any(|c| c.state == CoroutineState::Waiting));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoroutineState {
    /// On its worker's CPU right now.
    Running,
    /// Queued to run.
    Runnable,
    /// Parked until something wakes it.
    Waiting,
}

fn format_dump(dump: &[CoroutineInfo]) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "{} coroutines\n{:>8}  {:<24} {:>6}  {:<9} waits on\n",
        dump.len(),
        "id",
        "name",
        "worker",
        "state"
    );
    for c in dump {
        let _ = writeln!(
            out,
            "{:>8}  {:<24} {:>6}  {:<9} {}",
            c.id,
            c.name.as_deref().unwrap_or("-"),
            c.worker,
            format!("{:?}", c.state).to_lowercase(),
            c.wait
        );
    }
    out
}

/// Runtime counters, per worker.
///
/// # Examples
///
/// ```
/// let rt = greenmongo_runtime::Runtime::builder().worker_threads(2).build()?;
/// let m = rt.metrics();
/// println!("{} coroutines on {} workers, {} blocking threads", m.coroutines(), m.workers.len(), m.blocking_threads);
/// assert_eq!(m.coroutines(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// One entry per worker thread.
    pub workers: Vec<WorkerMetrics>,
    /// Threads alive in the blocking pool.
    pub blocking_threads: usize,
}

impl Metrics {
    /// Live coroutines over all workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).build()?;
    /// let inside = rt.block_on(|| greenmongo_runtime::Handle::try_current().unwrap().metrics().coroutines());
    /// assert_eq!(inside, 1); // the block_on coroutine
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn coroutines(&self) -> usize {
        self.workers.iter().map(|w| w.coroutines).sum()
    }
}

/// Counters of one worker.
///
/// # Examples
///
/// ```
/// let rt = greenmongo_runtime::Runtime::builder().worker_threads(2).build()?;
/// for (i, w) in rt.metrics().workers.iter().enumerate() {
///     println!("worker {i}: {} live, {} runnable", w.coroutines, w.runnable);
///     assert_eq!(w.runnable, 0);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Live coroutines owned by the worker.
    pub coroutines: usize,
    /// Those queued to run (the run-queue length).
    pub runnable: usize,
}
