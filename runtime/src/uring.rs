//! io_uring for stream reads and writes in coroutines (see `Builder::io_uring`).
//!
//! Each worker owns a ring made with `SINGLE_ISSUER` and `DEFER_TASKRUN`: only the
//! worker's thread submits, and the kernel posts completions when the worker asks for
//! them. A coroutine's `read` or `write` on a stream queues a `recv` or `send` on its
//! worker's ring and parks; the worker submits all that its coroutines queued in a round
//! with one `io_uring_enter`, which also collects the completions, and waits in it when
//! it has nothing to run. The worker's epoll instance is watched through the ring by a
//! poll request, so readiness waits (connect, accept), mail and timers still wake it.
//!
//! The caller's buffer is used in place, not copied, so a call never returns before its
//! completion has come: on a timeout the operation is cancelled and its completion
//! awaited (bytes it received meanwhile are returned, not lost). The one way out of a
//! parked call without returning is the coroutine being unwound at shutdown, so the
//! worker cancels every operation and collects every completion before it unwinds any
//! coroutine (`Ring::cancel_all`).

use std::{
    io,
    os::fd::RawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use io_uring::{EnterFlags, IoUring, opcode, squeue, types};

use crate::park;
use crate::task::{Task, WaitKind};

/// Submission queue entries per ring; a full queue is submitted early.
const ENTRIES: u32 = 1024;

/// `user_data` of the poll request on the worker's epoll instance.
const EPOLL: u64 = u64::MAX;
/// `user_data` of cancel requests, whose own completions carry nothing we need.
const CANCEL: u64 = u64::MAX - 1;

/// Makes a worker's ring, disabled until its worker thread enables it (the thread that
/// enables a `SINGLE_ISSUER` ring is the only one allowed to submit to it), so that a
/// kernel without io_uring, or a sandbox that forbids it, fails `Builder::build`.
pub(crate) fn new_ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_r_disabled()
        .build(ENTRIES)
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring is not available: {e}")))
}

/// One worker's ring and its operations in flight.
pub(crate) struct Ring {
    ring: IoUring,
    /// By index (the low half of `user_data`): the coroutine waiting for the operation,
    /// then its result.
    ops: Vec<Op>,
    /// By index: bumped at each start and kept in the high half of `user_data`, so that
    /// a cancel request still queued when its operation completes, and the index is
    /// reused, cannot match the next operation.
    generations: Vec<u32>,
    free: Vec<usize>,
    /// The poll request on the epoll instance is in flight.
    epoll_armed: bool,
    /// Coroutines whose operations completed, to unpark at the next `enter` (a full
    /// submission queue makes `push` collect completions too).
    woken: Vec<Arc<Task>>,
}

enum Op {
    Free,
    Waiting(Arc<Task>),
    Done(i32),
}

impl Ring {
    /// Enables `ring` for the calling thread, the worker's.
    pub(crate) fn enable(ring: IoUring) -> io::Result<Ring> {
        ring.submitter().register_enable_rings()?;
        Ok(Ring {
            ring,
            ops: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            epoll_armed: false,
            woken: Vec::new(),
        })
    }

    fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: the buffers of `entry` stay valid until its completion (the
            // contract of `start`); cancel and poll entries have none.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            // Full: hand the queue to the kernel now. An error leaves the entries queued
            // for the next try (EBUSY: completions must be collected first).
            if self.ring.submit().is_err() {
                self.reap();
            }
        }
    }

    /// Queues `entry` for `task`; returns its index for [`Ring::take`].
    ///
    /// # Safety
    /// The memory `entry` points at must stay valid and unaliased until the operation's
    /// completion has been taken (or `cancel_all` has returned).
    pub(crate) unsafe fn start(&mut self, entry: squeue::Entry, task: Arc<Task>) -> usize {
        let index = match self.free.pop() {
            Some(index) => {
                self.ops[index] = Op::Waiting(task);
                self.generations[index] = self.generations[index].wrapping_add(1);
                index
            }
            None => {
                self.ops.push(Op::Waiting(task));
                self.generations.push(0);
                self.ops.len() - 1
            }
        };
        self.push(&entry.user_data(self.user_data(index)));
        index
    }

    fn user_data(&self, index: usize) -> u64 {
        u64::from(self.generations[index]) << 32 | index as u64
    }

    /// The result of operation `index` if its completion has come; the index is then free.
    pub(crate) fn take(&mut self, index: usize) -> Option<i32> {
        match self.ops[index] {
            Op::Done(result) => {
                self.ops[index] = Op::Free;
                self.free.push(index);
                Some(result)
            }
            _ => None,
        }
    }

    /// Asks the kernel to cancel operation `index`; its completion still comes.
    pub(crate) fn cancel(&mut self, index: usize) {
        self.push(
            &opcode::AsyncCancel::new(self.user_data(index))
                .build()
                .user_data(CANCEL),
        );
    }

    /// Submits what is queued and collects completions, waiting up to `timeout` (`None`:
    /// without limit) for at least one when `timeout` is not zero. The coroutines whose
    /// operations completed go to `woken`; `true` if the epoll instance has events.
    pub(crate) fn enter(
        &mut self,
        epoll: RawFd,
        timeout: Option<Duration>,
        woken: &mut Vec<Arc<Task>>,
    ) -> io::Result<bool> {
        if !self.epoll_armed {
            let poll = opcode::PollAdd::new(types::Fd(epoll), libc::POLLIN as u32)
                .build()
                .user_data(EPOLL);
            self.push(&poll);
            self.epoll_armed = true;
        }
        let queued = self.ring.submission().len() as u32;
        let submitter = self.ring.submitter();
        let entered = match timeout {
            // GETEVENTS without waiting: runs the deferred completions.
            // SAFETY: no argument is passed.
            Some(t) if t.is_zero() => unsafe {
                submitter.enter::<libc::sigset_t>(queued, 0, EnterFlags::GETEVENTS.bits(), None)
            },
            Some(t) => {
                let ts = types::Timespec::from(t);
                submitter.submit_with_args(1, &types::SubmitArgs::new().timespec(&ts))
            }
            None => submitter.submit_and_wait(1),
        };
        match entered {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        let epoll_ready = self.reap();
        woken.append(&mut self.woken);
        Ok(epoll_ready)
    }

    /// Records the completions posted so far; `true` if the epoll poll completed.
    fn reap(&mut self) -> bool {
        let mut epoll_ready = false;
        for cqe in self.ring.completion() {
            match cqe.user_data() {
                EPOLL => {
                    self.epoll_armed = false;
                    epoll_ready = true;
                }
                CANCEL => {}
                user_data => {
                    // Operations complete once, and their index is freed only after.
                    let op = &mut self.ops[(user_data & u64::from(u32::MAX)) as usize];
                    if let Op::Waiting(task) = std::mem::replace(op, Op::Done(cqe.result())) {
                        self.woken.push(task);
                    }
                }
            }
        }
        epoll_ready
    }

    /// Waits for at least one completion and returns the coroutines whose operations
    /// completed, for a coroutine that must not park (see `wait_completion`).
    fn collect_one(&mut self) -> Vec<Arc<Task>> {
        let _ = self.ring.submit_and_wait(1); // an error: the caller loops and asks again
        self.reap();
        std::mem::take(&mut self.woken)
    }

    /// Cancels every operation in flight and collects all their completions, so that no
    /// buffer is written after this returns (before the worker unwinds its coroutines).
    pub(crate) fn cancel_all(&mut self) {
        for index in 0..self.ops.len() {
            if matches!(self.ops[index], Op::Waiting(_)) {
                self.cancel(index);
            }
        }
        while self.ops.iter().any(|op| matches!(op, Op::Waiting(_))) {
            if let Err(e) = self.ring.submit_and_wait(1)
                && !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY))
            {
                // The ring itself failed: nothing more will complete. Unwinding would
                // free buffers the kernel may still write, so stop here.
                panic!("greenmongo-runtime: io_uring failed while cancelling: {e}");
            }
            self.reap();
        }
        // The coroutines are about to be unwound, not resumed.
        self.woken.clear();
    }
}

/// Runs the `recv` or `send` built by `entry` on the current worker's ring and waits for
/// it, up to `deadline` and the coroutine's own deadline (`with_timeout`). `None` when the
/// caller is not a coroutine of a worker with a ring, or the kernel answered `EAGAIN`:
/// then the caller takes the readiness path.
///
/// # Safety
/// The memory `entry` points at must stay valid and unaliased until this returns.
pub(crate) unsafe fn run(
    entry: squeue::Entry,
    fd: RawFd,
    write: bool,
    deadline: Option<Instant>,
) -> Option<io::Result<usize>> {
    let worker = park::worker()?;
    // No ring (the default, every call of the epoll path): out before the task's count.
    // SAFETY: an empty closure does not reach the ring.
    unsafe { worker.with_ring(|_| ()) }?;
    let task = park::with_current(|ctx| ctx.map(|ctx| ctx.task_arc()))?;
    if task.is_cancelled() {
        return None; // unwinding at shutdown: the readiness path fails at once
    }
    // SAFETY: `start` runs no user code and does not reach the worker; the buffer's
    // validity is forwarded from this function's contract.
    let index = unsafe { worker.with_ring(|ring| ring.start(entry, task)) }?;
    let kind = WaitKind::Socket { fd, write };
    let result = loop {
        let parked = park::park(kind, deadline);
        if let Some(result) = take(index) {
            break result;
        }
        if let Err(e) = parked {
            // Timed out (or cancelled): the buffer is ours again only once the operation
            // has completed, and a completion with data must not be dropped.
            with_ring(|ring| ring.cancel(index));
            let result = wait_completion(index, kind);
            if result == -libc::ECANCELED {
                return Some(Err(e));
            }
            break result;
        }
    };
    match result {
        n if n >= 0 => Some(Ok(n as usize)),
        n if n == -libc::EAGAIN => None,
        n => Some(Err(io::Error::from_raw_os_error(-n))),
    }
}

/// Runs one of the ring's own functions (no user code) on the current worker's ring.
fn with_ring<R>(f: impl FnOnce(&mut Ring) -> R) -> R {
    // SAFETY: every caller passes a `Ring` method, which does not reach the worker.
    unsafe { park::worker().and_then(|w| w.with_ring(f)) }
        .expect("a coroutine with an operation in flight runs on its worker")
}

fn take(index: usize) -> Option<i32> {
    with_ring(|ring| ring.take(index))
}

/// Waits for the completion of a cancelled operation, deadlines aside.
fn wait_completion(index: usize, kind: WaitKind) -> i32 {
    let deadline = park::replace_deadline(None);
    let result = loop {
        if let Some(result) = take(index) {
            break result;
        }
        if park::park(kind, None).is_err() {
            // Cancelled at shutdown: cannot park; collect completions here (this is the
            // worker's thread, the ring's one submitter).
            with_ring(Ring::collect_one)
                .into_iter()
                .for_each(|task| task.unpark());
        }
    };
    park::replace_deadline(deadline);
    result
}
