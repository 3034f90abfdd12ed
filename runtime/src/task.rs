//! The task record: the part of a coroutine that other threads and the wait lists reach.
//!
//! A coroutine's stack and closure stay on its worker (`scheduler::worker`); its [`Task`],
//! shared through an `Arc`, is what wakers, timers, sockets and the coroutine dump hold:
//! its run state, its wait, its name and where it lives. Kept apart from `coroutine` (the
//! spawning and joining API) so that the synchronisation primitives and the reactor,
//! which only park and unpark tasks, do not depend on it.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
};

use crate::scheduler::worker;

/// Task states. Transitions: SCHEDULED -> RUNNING (worker resumes it); RUNNING -> PARKED
/// (it parks) or -> NOTIFIED (an unpark arrives while it runs); PARKED -> SCHEDULED (an
/// unpark queues it); RUNNING -> DONE. Only the PARKED -> SCHEDULED transition queues the
/// task, so it is never queued twice.
pub(crate) mod state {
    pub(crate) const SCHEDULED: u8 = 0;
    pub(crate) const RUNNING: u8 = 1;
    pub(crate) const PARKED: u8 = 2;
    pub(crate) const NOTIFIED: u8 = 3;
    pub(crate) const DONE: u8 = 4;
}

/// What a parked coroutine waits on, for the coroutine dump.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo_runtime::{coroutine::WaitKind, sleep, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let _napper = rt.spawn(|| sleep(Duration::from_secs(60)));
/// rt.block_on(|| sleep(Duration::from_millis(10))).unwrap(); // let the napper start
/// assert!(rt.dump().iter().any(|c| c.wait == WaitKind::Timer));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitKind {
    /// Not waiting (running or runnable).
    None,
    /// Readiness of a socket, by file descriptor and direction.
    Socket {
        /// The socket's file descriptor.
        fd: i32,
        /// `true` when waiting to write, `false` to read.
        write: bool,
    },
    /// A timer (`sleep`).
    Timer,
    /// A `Mutex` or `Semaphore`.
    Lock,
    /// A `Condvar`.
    Condvar,
    /// A channel (`mpsc` or `oneshot`).
    Channel,
    /// Another coroutine or a blocking job (`JoinHandle::join`).
    Join,
    /// A `WaitGroup`.
    WaitGroup,
}

impl WaitKind {
    fn encode(self) -> u64 {
        match self {
            WaitKind::None => 0,
            WaitKind::Socket { fd, write } => 1 | (write as u64) << 8 | (fd as u32 as u64) << 32,
            WaitKind::Timer => 2,
            WaitKind::Lock => 3,
            WaitKind::Condvar => 4,
            WaitKind::Channel => 5,
            WaitKind::Join => 6,
            WaitKind::WaitGroup => 7,
        }
    }

    fn decode(bits: u64) -> WaitKind {
        match bits & 0xff {
            1 => WaitKind::Socket {
                fd: (bits >> 32) as u32 as i32,
                write: bits & 0x100 != 0,
            },
            2 => WaitKind::Timer,
            3 => WaitKind::Lock,
            4 => WaitKind::Condvar,
            5 => WaitKind::Channel,
            6 => WaitKind::Join,
            7 => WaitKind::WaitGroup,
            _ => WaitKind::None,
        }
    }
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitKind::None => f.write_str("-"),
            WaitKind::Socket { fd, write: false } => write!(f, "socket fd {fd} (read)"),
            WaitKind::Socket { fd, write: true } => write!(f, "socket fd {fd} (write)"),
            WaitKind::Timer => f.write_str("timer"),
            WaitKind::Lock => f.write_str("lock"),
            WaitKind::Condvar => f.write_str("condvar"),
            WaitKind::Channel => f.write_str("channel"),
            WaitKind::Join => f.write_str("join"),
            WaitKind::WaitGroup => f.write_str("wait group"),
        }
    }
}

/// The shared record of one coroutine: what wakes it and what the dump shows. The
/// coroutine itself (its stack) stays in its worker's slab, never in here, because it must
/// not leave that thread.
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
    /// The worker that owns the coroutine, and the coroutine's slot in that worker's slab.
    pub(crate) worker: Arc<worker::WorkerShared>,
    pub(crate) slot: usize,
    /// One of [`state`]'s constants.
    pub(crate) state: AtomicU8,
    /// Set before a shutdown unwinds the coroutine: every wait then fails at once.
    cancelled: AtomicBool,
    /// The encoded [`WaitKind`].
    wait: AtomicU64,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("worker", &self.worker.index)
            .finish_non_exhaustive()
    }
}

/// Where each worker takes its next block of [`ID_BLOCK`] coroutine ids.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How many ids a worker takes at a time: a spawn reads no counter shared between
/// workers (a locked instruction on a cache line that two spawning workers pass back and
/// forth).
pub(crate) const ID_BLOCK: u64 = 1024;

/// The first id of a fresh block of [`ID_BLOCK`] ids.
pub(crate) fn take_id_block() -> u64 {
    NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed)
}

impl Task {
    pub(crate) fn new(
        id: u64,
        name: Option<Box<str>>,
        worker: Arc<worker::WorkerShared>,
        slot: usize,
    ) -> Task {
        Task {
            id,
            name,
            worker,
            slot,
            state: AtomicU8::new(state::SCHEDULED),
            cancelled: AtomicBool::new(false),
            wait: AtomicU64::new(0),
        }
    }

    /// Makes a finished task, which nothing else refers to, the record of a new
    /// coroutine in the same slot: a spawn then allocates no task.
    pub(crate) fn reuse(&mut self, id: u64, name: Option<Box<str>>) {
        self.id = id;
        self.name = name;
        *self.state.get_mut() = state::SCHEDULED;
        *self.cancelled.get_mut() = false;
        *self.wait.get_mut() = 0;
    }

    /// Makes the task runnable; see [`state`] for the protocol.
    pub(crate) fn unpark(self: &Arc<Self>) {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = match current {
                state::RUNNING => state::NOTIFIED,
                state::PARKED => state::SCHEDULED,
                _ => return,
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if next == state::SCHEDULED => return worker::schedule(self),
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub(crate) fn set_wait(&self, kind: WaitKind) {
        self.wait.store(kind.encode(), Ordering::Relaxed);
    }

    pub(crate) fn wait(&self) -> WaitKind {
        WaitKind::decode(self.wait.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_kinds_round_trip_through_their_encoding() {
        for kind in [
            WaitKind::None,
            WaitKind::Socket { fd: 7, write: true },
            WaitKind::Socket {
                fd: i32::MAX,
                write: false,
            },
            WaitKind::Timer,
            WaitKind::Lock,
            WaitKind::Condvar,
            WaitKind::Channel,
            WaitKind::Join,
            WaitKind::WaitGroup,
        ] {
            assert_eq!(WaitKind::decode(kind.encode()), kind);
        }
    }
}
