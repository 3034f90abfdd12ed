//! Parking and unparking: the one primitive every wait in the runtime is built on.
//!
//! A wait parks the *current context*: inside a coroutine that means suspending it back to
//! its worker's event loop; on a plain thread it means `std::thread::park`. An [`Unparker`]
//! is the `Send` handle that makes the parked context runnable again, from any thread.
//!
//! Every park may wake spuriously, so callers always re-check their condition in a loop.
//! A park returns `io::ErrorKind::TimedOut` once its deadline (the earlier of the caller's
//! and the enclosing [`with_timeout`](crate::time::with_timeout)) has passed, and an error
//! of kind `Interrupted` when the coroutine is being cancelled by a runtime shutdown.

use std::{
    cell::Cell,
    io,
    ptr::{self, NonNull},
    sync::{Arc, atomic::Ordering},
    thread::{self, Thread},
    time::Instant,
};

use corosensei::Yielder;

use crate::scheduler::worker::{self, Worker};
use crate::task::{Task, WaitKind, state};

/// What a coroutine keeps about itself while it runs; lives at the bottom of its own stack.
pub(crate) struct CoroutineContext {
    /// Its task, borrowed from its worker slot, which holds the `Arc` for as long as the
    /// coroutine lives: no `Arc` clone and drop (two atomic operations) per coroutine.
    task: NonNull<Task>,
    pub(crate) yielder: *const Yielder<(), ()>,
    /// The deadline set by the innermost `with_timeout` around the running code.
    pub(crate) deadline: Cell<Option<Instant>>,
    /// The stack's guard page `[start, end)` and usable size, for overflow reports.
    pub(crate) guard: (usize, usize),
    pub(crate) stack_size: usize,
}

impl CoroutineContext {
    /// The context of a coroutine whose task is `task`.
    ///
    /// # Safety
    /// `task` comes from [`Arc::as_ptr`] of an `Arc` kept alive for as long as the
    /// context is (the worker slot's, until the coroutine has returned or unwound).
    pub(crate) unsafe fn new(
        task: *const Task,
        yielder: *const Yielder<(), ()>,
        guard: (usize, usize),
        stack_size: usize,
    ) -> CoroutineContext {
        CoroutineContext {
            task: NonNull::new(task.cast_mut()).expect("a task pointer is never null"),
            yielder,
            deadline: Cell::new(None),
            guard,
            stack_size,
        }
    }

    pub(crate) fn task(&self) -> &Task {
        // SAFETY: the `Arc` the pointer came from outlives the context (see `new`).
        unsafe { self.task.as_ref() }
    }

    /// A counted reference to the task, for those who wake it later.
    pub(crate) fn task_arc(&self) -> Arc<Task> {
        let task = self.task.as_ptr().cast_const();
        // SAFETY: the pointer came from `Arc::as_ptr` of a live `Arc` (see `new`); the
        // count taken here is the one the new `Arc` gives back when it drops.
        unsafe {
            Arc::increment_strong_count(task);
            Arc::from_raw(task)
        }
    }
}

/// This thread's place in the runtime: the worker it runs (null on a plain thread) and the
/// coroutine running on it (null on a plain thread and between coroutines). One
/// thread-local for both, so the hot paths read one; const-initialised and without a
/// destructor, so reading it never allocates or registers anything, which the
/// stack-overflow signal handler relies on.
struct ThreadState {
    worker: Cell<*const Worker>,
    current: Cell<*const CoroutineContext>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            worker: Cell::new(ptr::null()),
            current: Cell::new(ptr::null()),
        }
    };

    /// The `with_timeout` deadline of a plain thread.
    static THREAD_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Marks `ctx` as the running coroutine of this thread (null: none).
///
/// # Safety
/// `ctx` is null or points at the context of the coroutine that runs on this thread from
/// now on, and stays valid until `set_current` is called again: [`with_current`] hands
/// out references to it.
pub(crate) unsafe fn set_current(ctx: *const CoroutineContext) {
    THREAD.with(|t| t.current.set(ctx));
}

/// Marks `worker` as the worker this thread runs (null: none).
///
/// # Safety
/// `worker` is null or points at a worker that stays alive, on this thread, until
/// `set_worker` is called again: [`worker`] hands out references to it.
pub(crate) unsafe fn set_worker(worker: *const Worker) {
    THREAD.with(|t| t.worker.set(worker));
}

/// The worker this thread runs, or `None` off the runtime.
#[inline]
pub(crate) fn worker<'a>() -> Option<&'a Worker> {
    let worker = THREAD.with(|t| t.worker.get());
    // SAFETY: by `set_worker`'s contract the pointer is null or names a live worker of
    // this thread. The worker lives on the stack of `Worker::run`, below every frame
    // that can call this on its thread, and is cleared before `run` returns; `Worker` is
    // `!Send` and `!Sync`, so the reference cannot leave the thread.
    unsafe { worker.as_ref() }
}

/// Runs `f` with the running coroutine's context, or `None` on a plain thread.
#[inline(always)] // on the yield path: see `suspend`
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&CoroutineContext>) -> R) -> R {
    let ctx = THREAD.with(|t| t.current.get());
    // SAFETY: `current` is either null or points at the context of the coroutine running
    // on this thread (`set_current`'s contract); that context lives on the coroutine's
    // stack until the coroutine finishes, and the worker clears `current` before that.
    f(unsafe { ctx.as_ref() })
}

/// Whether the caller runs inside a coroutine of this runtime.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{in_coroutine, Runtime};
///
/// assert!(!in_coroutine());
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// assert!(rt.block_on(in_coroutine));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn in_coroutine() -> bool {
    THREAD.with(|t| !t.current.get().is_null())
}

/// The deadline in force for the current context (coroutine or thread).
pub(crate) fn current_deadline() -> Option<Instant> {
    with_current(|ctx| match ctx {
        Some(ctx) => ctx.deadline.get(),
        #[cfg(feature = "may")]
        None if crate::may_interop::in_may_coroutine() => crate::may_interop::deadline(),
        None => THREAD_DEADLINE.with(Cell::get),
    })
}

/// Replaces the current context's deadline, returning the previous one.
pub(crate) fn replace_deadline(deadline: Option<Instant>) -> Option<Instant> {
    with_current(|ctx| match ctx {
        Some(ctx) => ctx.deadline.replace(deadline),
        #[cfg(feature = "may")]
        None if crate::may_interop::in_may_coroutine() => {
            crate::may_interop::replace_deadline(deadline)
        }
        None => THREAD_DEADLINE.with(|d| d.replace(deadline)),
    })
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "deadline elapsed while waiting")
}

pub(crate) fn cancelled() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "the coroutine is being cancelled: its runtime is shutting down",
    )
}

/// Wakes a parked coroutine or thread. Cheap to clone; `Send` and `Sync`.
#[derive(Clone, Debug)]
pub(crate) enum Unparker {
    Coroutine(Arc<Task>),
    Thread(Thread),
    #[cfg(feature = "may")]
    May(may::coroutine::Coroutine),
}

impl Unparker {
    /// The unparker of the current context.
    pub(crate) fn current() -> Unparker {
        with_current(|ctx| match ctx {
            Some(ctx) => Unparker::Coroutine(ctx.task_arc()),
            #[cfg(feature = "may")]
            None if crate::may_interop::in_may_coroutine() => {
                Unparker::May(crate::may_interop::current())
            }
            None => Unparker::Thread(thread::current()),
        })
    }

    /// Makes the parked context runnable; a no-op if it is already.
    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Coroutine(task) => task.unpark(),
            Unparker::Thread(thread) => thread.unpark(),
            #[cfg(feature = "may")]
            Unparker::May(coroutine) => coroutine.unpark(),
        }
    }
}

/// Parks the current context until it is unparked, `deadline` passes, or (in a
/// coroutine) the enclosing `with_timeout` deadline passes. May return early: callers
/// re-check their condition.
///
/// # Errors
/// `TimedOut` once the effective deadline has passed; `Interrupted` when the coroutine is
/// being cancelled.
pub(crate) fn park(kind: WaitKind, deadline: Option<Instant>) -> io::Result<()> {
    with_current(|ctx| match ctx {
        Some(ctx) => park_coroutine(ctx, kind, deadline),
        None => park_thread(deadline),
    })
}

fn park_coroutine(
    ctx: &CoroutineContext,
    kind: WaitKind,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let deadline = earliest(deadline, ctx.deadline.get());
    let task = ctx.task();
    if task.is_cancelled() {
        return Err(cancelled());
    }
    // The deadline is judged by the worker's clock, read once a round, not by reading
    // the clock here: a deadline passed since then fires at the next round.
    let timer = match deadline {
        Some(d) => Some(worker::add_timer(d, ctx.task_arc()).ok_or_else(timed_out)?),
        None => None,
    };
    // What it waits on is set before it shows as parked, so a dump never sees a parked
    // coroutine waiting on nothing.
    task.set_wait(kind);
    if task
        .state
        .compare_exchange(
            state::RUNNING,
            state::PARKED,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // An unpark arrived while we ran (state NOTIFIED): consume it, don't sleep.
        task.set_wait(WaitKind::None);
        task.state.store(state::RUNNING, Ordering::Release);
        if let Some(timer) = timer {
            worker::cancel_timer(timer);
        }
        return Ok(());
    }
    suspend(ctx);
    task.set_wait(WaitKind::None);
    // Only the worker fires timers, and not while this coroutine runs: a timer gone by
    // now is one that fired, so its deadline has passed.
    let fired = timer.is_some_and(|timer| !worker::cancel_timer(timer));
    if task.is_cancelled() {
        return Err(cancelled());
    }
    if fired { Err(timed_out()) } else { Ok(()) }
}

/// Suspends the running coroutine, whose context `ctx` must be (checked), back to its
/// worker. The caller has already arranged to be rescheduled (state PARKED with a waker
/// registered, or queued); if not, the coroutine sleeps until shutdown.
///
/// Inlined, like its callers on the yield path: after a stack switch the CPU's return
/// predictor is out of step, so every return to a frame made before the switch
/// mispredicts; fewer frames, fewer mispredictions.
#[inline(always)]
pub(crate) fn suspend(ctx: &CoroutineContext) {
    /// Restores `current` when the coroutine resumes, also when it resumes to unwind (a
    /// runtime shutdown), so destructors further up still know where they run.
    struct Restore(*const CoroutineContext);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: the context is that of this coroutine (checked before it
            // suspended) and lives on its own stack, which is running again.
            unsafe { set_current(self.0) };
        }
    }
    let running = THREAD.with(|t| t.current.get());
    assert!(
        ptr::eq(running, ctx),
        "park::suspend called with the context of a coroutine that is not running"
    );
    let _restore = Restore(ctx);
    // SAFETY: the yielder belongs to the running coroutine (the context is its own,
    // checked above) and this code runs on that coroutine's stack.
    unsafe { &*ctx.yielder }.suspend(());
}

fn park_thread(deadline: Option<Instant>) -> io::Result<()> {
    let deadline = earliest(deadline, current_deadline());
    #[cfg(feature = "may")]
    if crate::may_interop::in_may_coroutine() {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(timed_out());
        }
        crate::may_interop::park(deadline);
        return match deadline {
            Some(d) if d <= Instant::now() => Err(timed_out()),
            _ => Ok(()),
        };
    }
    match deadline {
        None => thread::park(),
        Some(d) => {
            let now = Instant::now();
            if d <= now {
                return Err(timed_out());
            }
            thread::park_timeout(d - now);
            if d <= Instant::now() {
                return Err(timed_out());
            }
        }
    }
    Ok(())
}
