//! The blocking pool: OS threads for work that must block (DNS, files, CPU-heavy work),
//! so that a worker never does.

use std::{
    collections::VecDeque,
    fmt,
    sync::{Arc, Condvar, Mutex},
    thread,
    time::Duration,
};

use crate::coroutine::JoinHandle;
use crate::scheduler::worker;
use crate::sync::lock;

/// How long an idle pool thread waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Task = Box<dyn FnOnce() + Send>;

/// A bounded pool of threads fed from one FIFO queue; threads start on demand.
pub(crate) struct BlockingPool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    state: Mutex<PoolState>,
    work: Condvar,
    max_threads: usize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Task>,
    threads: usize,
    idle: usize,
    shutdown: bool,
    handles: Vec<thread::JoinHandle<()>>,
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPool")
            .field("threads", &self.threads())
            .finish()
    }
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize) -> BlockingPool {
        BlockingPool {
            shared: Arc::new(PoolShared {
                state: Mutex::default(),
                work: Condvar::new(),
                max_threads,
            }),
        }
    }

    pub(crate) fn threads(&self) -> usize {
        lock(&self.shared.state).threads
    }

    fn submit(&self, task: Task) {
        let mut state = lock(&self.shared.state);
        if state.shutdown {
            return; // dropping the task tells its joiner it was cancelled
        }
        state.queue.push_back(task);
        if state.idle > 0 {
            self.shared.work.notify_one();
        } else if state.threads < self.shared.max_threads {
            let shared = self.shared.clone();
            let spawned = thread::Builder::new()
                .name("greenmongo-blocking".to_owned())
                .spawn(move || shared.run());
            if let Ok(handle) = spawned {
                state.threads += 1;
                state.handles.retain(|h| !h.is_finished());
                state.handles.push(handle);
            }
            // If no thread could start, the queue waits for a busy one to come back.
        }
    }

    /// Finishes the queued work and joins the threads.
    pub(crate) fn shut_down(&self) {
        let handles = {
            let mut state = lock(&self.shared.state);
            state.shutdown = true;
            std::mem::take(&mut state.handles)
        };
        self.shared.work.notify_all();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

impl PoolShared {
    fn run(&self) {
        let mut state = lock(&self.state);
        loop {
            if let Some(task) = state.queue.pop_front() {
                drop(state);
                task(); // panics are caught inside (the joiner gets them)
                state = lock(&self.state);
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(state, IDLE_TIMEOUT)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }
}

/// Runs `f` where blocking is allowed: inside a coroutine, on the runtime's blocking pool
/// while the coroutine parks in [`JoinHandle::join`]; on a plain thread, right here (the
/// thread may block anyway) before returning a finished handle.
///
/// # Examples
/// ```
/// use greenmongo_runtime::{spawn_blocking, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let len = rt.block_on(|| {
///     spawn_blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()))
///         .join()
///         .unwrap()
///         .unwrap()
/// });
/// assert!(len > 0);
/// ```
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, handle) = JoinHandle::new();
    match worker::with_worker(|w| w.runtime.clone()) {
        Some(runtime) => runtime.blocking.submit(Box::new(move || tx.run(f))),
        None => tx.run(f),
    }
    handle
}
