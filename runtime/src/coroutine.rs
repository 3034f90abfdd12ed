//! Coroutines: spawning, joining and yielding.
//!
//! A coroutine is a closure running on its own mmap'd stack (with a guard page below it,
//! see `stack.rs`) on one worker thread, which it never leaves. [`spawn`] queues the
//! closure on the current worker, which creates the coroutine when it first runs (an idle
//! worker may take a closure that has not started); the returned [`JoinHandle`] yields
//! the closure's value, or its panic as a [`JoinError`].

pub(crate) mod overflow;
pub(crate) mod stack;
pub use stack::{guard_pages_are_markers, on_stack};
// Re-exported here for the paths that name it `coroutine::sleep`.
pub use crate::time::sleep;
// The task record's wait, shown by the coroutine dump.
pub use crate::task::WaitKind;

use std::{
    any::Any,
    cell::UnsafeCell,
    fmt, io,
    panic::{self, AssertUnwindSafe},
    sync::atomic::Ordering,
};

use crate::park;
use crate::scheduler::worker::{self, Body, BodyRef, LocalBody};
use crate::sync::oneshot;
use crate::task::state;

/// Why [`JoinHandle::join`] returned no value.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::Runtime;
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let err = rt.spawn(|| -> u32 { panic!("disk full") }).join().unwrap_err();
/// assert!(err.is_panic() && !err.is_cancelled() && !err.is_timeout());
/// assert_eq!(err.panic_message(), Some("disk full"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinError {
    repr: JoinRepr,
}

enum JoinRepr {
    Panicked(Box<dyn Any + Send + 'static>),
    Cancelled,
    Spawn(io::Error),
    Wait(io::Error),
}

impl JoinError {
    pub(crate) fn panicked(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: JoinRepr::Panicked(payload),
        }
    }

    pub(crate) fn spawn_failed(err: io::Error) -> JoinError {
        JoinError {
            repr: JoinRepr::Spawn(err),
        }
    }

    /// Whether the coroutine panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).build()?;
    /// assert!(rt.spawn(|| -> () { panic!("boom") }).join().unwrap_err().is_panic());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, JoinRepr::Panicked(_))
    }

    /// Whether the coroutine was dropped unfinished (its runtime shut down).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::{sleep, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let sleeper = rt.spawn(|| sleep(Duration::from_secs(60)));
    /// drop(rt); // unwinds the sleeping coroutine
    /// assert!(sleeper.join().unwrap_err().is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, JoinRepr::Cancelled)
    }

    /// Whether the *joiner's* wait failed (its `with_timeout` deadline passed, or it was
    /// itself cancelled); the coroutine may still be running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::{sleep, time::with_timeout, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let slow = rt.spawn(|| sleep(Duration::from_secs(60)));
    /// let err = with_timeout(Duration::from_millis(10), || slow.join()).unwrap_err();
    /// assert!(err.is_timeout()); // the joiner gave up; the sleeper runs on
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(&self.repr, JoinRepr::Wait(e) if e.kind() == io::ErrorKind::TimedOut)
    }

    /// The panic's message, when it was a string (as with `panic!("...")`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).build()?;
    /// let err = rt.spawn(|| -> () { panic!("bad item {}", 7) }).join().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("bad item 7"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            JoinRepr::Panicked(p) => p
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            _ => None,
        }
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`.
    ///
    /// # Errors
    /// Returns `self` when this is not a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = greenmongo_runtime::Runtime::builder().worker_threads(1).build()?;
    /// let err = rt.spawn(|| -> () { std::panic::panic_any(42_u8) }).join().unwrap_err();
    /// let payload = err.try_into_panic().unwrap(); // or std::panic::resume_unwind(payload)
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&42));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            JoinRepr::Panicked(p) => Ok(p),
            repr => Err(JoinError { repr }),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinRepr::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "coroutine panicked: {msg}"),
                None => f.write_str("coroutine panicked"),
            },
            JoinRepr::Cancelled => f.write_str("coroutine was cancelled by a runtime shutdown"),
            JoinRepr::Spawn(e) => write!(f, "coroutine could not be spawned: {e}"),
            JoinRepr::Wait(e) => write!(f, "join failed: {e}"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(e: JoinError) -> io::Error {
        match e.repr {
            JoinRepr::Wait(e) | JoinRepr::Spawn(e) => e,
            repr => io::Error::other(JoinError { repr }.to_string()),
        }
    }
}

/// Owns the result of a spawned coroutine (or a [`spawn_blocking`](crate::spawn_blocking)
/// job). Dropping it detaches the coroutine, which runs on.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{spawn, spawn_blocking, JoinHandle, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let total = rt.block_on(|| {
///     let squares: Vec<JoinHandle<i32>> = (1..=3).map(|i| spawn(move || i * i)).collect();
///     let blocking: JoinHandle<i32> = spawn_blocking(|| 100); // on the blocking pool
///     squares.into_iter().map(|h| h.join().unwrap()).sum::<i32>() + blocking.join().unwrap()
/// });
/// assert_eq!(total, 114);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinHandle<T> {
    rx: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    pub(crate) fn new() -> (ResultSender<T>, JoinHandle<T>) {
        let (tx, rx) = oneshot::channel();
        (ResultSender(tx), JoinHandle { rx })
    }

    /// Waits for the coroutine to finish and returns its value. Parks a coroutine, blocks
    /// a thread.
    ///
    /// # Errors
    /// The coroutine panicked, was cancelled, or could not be created; or the caller's
    /// `with_timeout` deadline passed first.
    ///
    /// # Examples
    /// ```
    /// let rt = greenmongo_runtime::Runtime::new().unwrap();
    /// let h = rt.spawn(|| 6 * 7);
    /// assert_eq!(h.join().unwrap(), 42);
    /// let h = rt.spawn(|| -> () { panic!("boom") });
    /// assert_eq!(h.join().unwrap_err().panic_message(), Some("boom"));
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        match self.rx.recv_kind(WaitKind::Join) {
            Ok(result) => result,
            Err(oneshot::RecvError::Disconnected) => Err(JoinError {
                repr: JoinRepr::Cancelled,
            }),
            Err(oneshot::RecvError::Wait(e)) => Err(JoinError {
                repr: JoinRepr::Wait(e),
            }),
        }
    }

    /// Whether the coroutine has finished (its result is waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::{sleep, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let quick = rt.spawn(|| 1);
    /// let slow = rt.spawn(|| sleep(Duration::from_secs(60)));
    /// while !quick.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(!slow.is_finished());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.rx.is_ready()
    }
}

/// The producer side of a [`JoinHandle`].
pub(crate) struct ResultSender<T>(oneshot::Sender<Result<T, JoinError>>);

impl<T> ResultSender<T> {
    pub(crate) fn send(self, result: Result<T, JoinError>) {
        // The joiner may be gone (detached): then nobody wants the value.
        let _ = self.0.send(result);
    }

    /// Runs `f`, catching its panic, and sends the outcome.
    pub(crate) fn run(self, f: impl FnOnce() -> T) {
        self.send(outcome(f))
    }
}

/// Runs `f`, catching its panic.
fn outcome<T>(f: impl FnOnce() -> T) -> Result<T, JoinError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        // A shutdown unwinds suspended coroutines with a panic of corosensei's; it must
        // reach the coroutine's root, where corosensei stops it.
        if park::with_current(|ctx| ctx.is_some_and(|c| c.task().is_cancelled())) {
            panic::resume_unwind(payload);
        }
        JoinError::panicked(payload)
    })
}

/// A spawned coroutine's closure, kept in the allocation of its join channel, so that a
/// spawn allocates once for both.
///
/// Only the [`BodyRef`] of the spawn reaches the cell (to take the closure out, once),
/// never the [`JoinHandle`] that shares the allocation; and the body empties it before it
/// lets go of the allocation (run, failed or cancelled). So the closure is only ever
/// touched, moved and dropped on the thread that holds the body, whatever threads the
/// join handle goes to: the cell is `Send` and `Sync` whatever `F` is, and whether the
/// closure may leave its worker is decided by the body's type, `BodyRef` (made only from
/// a `Send` closure, in [`spawn_body`]) or [`LocalBody`].
pub(crate) struct Closure<F>(UnsafeCell<Option<F>>);

// SAFETY: see the type's docs: the `F` inside is reached only by the one body handle, on
// the thread that holds it, and is gone before the last other reference can drop the
// (then empty) cell elsewhere.
unsafe impl<F> Send for Closure<F> {}
// SAFETY: as above; shared references from other threads (the join handle's) never
// read the cell.
unsafe impl<F> Sync for Closure<F> {}

impl<F> Closure<F> {
    /// Takes the closure out (`None` once taken).
    ///
    /// # Safety
    /// Only the spawn's body calls this, on the thread that holds it, and never while
    /// another call runs (the body is not reentrant: nothing the closure does reaches it).
    unsafe fn take(&self) -> Option<F> {
        // SAFETY: unique access, by the contract above.
        unsafe { (*self.0.get()).take() }
    }
}

/// The allocation of one spawn: its join channel and its closure.
type Spawned<F, T> = oneshot::Shared<Result<T, JoinError>, Closure<F>>;

impl<F: FnOnce() -> T, T> Body for Spawned<F, T> {
    fn run(&self) {
        // SAFETY: this is the body, run once by its `BodyRef` on the thread holding it.
        let f = unsafe { self.extra.take() }.expect("a coroutine's body runs once");
        // The joiner may be gone (detached): then nobody wants the value.
        // SAFETY: the one send of the channel: `run` is called at most once, and
        // `cancel`, the only other sender, only after `run` unwound before sending or
        // instead of it (see `Body`).
        let _ = unsafe { self.send(outcome(f)) };
    }

    fn cancel(&self, error: Option<io::Error>) {
        // SAFETY: as in `run`; `BodyRef` calls `cancel` only after `run` unwound or
        // instead of it.
        drop(unsafe { self.extra.take() });
        match error {
            // SAFETY: an error comes only when the coroutine could not be created, so
            // `run` never ran: the one send of the channel.
            Some(error) => drop(unsafe { self.send(Err(JoinError::spawn_failed(error))) }),
            None => self.close(),
        }
    }
}

/// A spawn's body (which any worker may run) and its join handle, in one allocation.
pub(crate) fn spawn_body<F, T>(f: F) -> (BodyRef, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = oneshot::Shared::with_extra(Closure(UnsafeCell::new(Some(f))));
    let rx = oneshot::Receiver::of(shared.clone());
    (BodyRef::new(shared), JoinHandle { rx })
}

/// A `spawn_local`'s body (which stays on this worker) and its join handle, in one
/// allocation.
fn local_body<F, T>(f: F) -> (LocalBody, JoinHandle<T>)
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let shared = oneshot::Shared::with_extra(Closure(UnsafeCell::new(Some(f))));
    let rx = oneshot::Receiver::of(shared.clone());
    (LocalBody::new(shared), JoinHandle { rx })
}

/// Options for one coroutine: name and stack size.
///
/// # Examples
/// ```
/// use greenmongo_runtime::{coroutine, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let name = rt.block_on(|| {
///     coroutine::Builder::new()
///         .name("worker-7")
///         .stack_size(64 * 1024)
///         .spawn(|| coroutine::current_name())
///         .join()
///         .unwrap()
/// });
/// assert_eq!(name.as_deref(), Some("worker-7"));
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    pub(crate) name: Option<Box<str>>,
    pub(crate) stack_size: Option<usize>,
}

impl Builder {
    /// Default options: no name, the runtime's stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{coroutine, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let name = rt.block_on(|| coroutine::Builder::new().spawn(coroutine::current_name).join().unwrap());
    /// assert_eq!(name, None); // unnamed by default
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine (shown in dumps, panics and stack-overflow reports).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{coroutine, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let name = rt.block_on(|| coroutine::Builder::new().name("poller").spawn(coroutine::current_name).join().unwrap());
    /// assert_eq!(name.as_deref(), Some("poller"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Stack size in bytes (rounded up to pages; a guard page is added below).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{coroutine, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let deep = rt.block_on(|| {
    ///     coroutine::Builder::new()
    ///         .stack_size(1024 * 1024) // room for a 512 KiB buffer on the stack
    ///         .spawn(|| { let buf = [1u8; 512 * 1024]; buf.iter().map(|&b| u32::from(b)).sum::<u32>() })
    ///         .join()
    ///         .unwrap()
    /// });
    /// assert_eq!(deep, 512 * 1024);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns on the current runtime, queued on the current worker (an idle worker may
    /// take it before it starts; a clearly less loaded worker gets it: see [`spawn`]).
    ///
    /// # Panics
    /// Outside a coroutine of a runtime; use [`Runtime::spawn`](crate::Runtime::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{coroutine, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(2).build()?;
    /// let n = rt.block_on(|| coroutine::Builder::new().name("adder").spawn(|| 2 + 2).join().unwrap());
    /// assert_eq!(n, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // On a worker: straight to it, without a `Handle` (an `Arc` clone and drop).
        let (body, handle) = spawn_body(f);
        if !worker::spawn_shared_here(self, body) {
            panic!(
                "spawn called outside a greenmongo runtime; use Runtime::spawn or Handle::spawn"
            );
        }
        handle
    }

    /// Spawns on the current worker thread; `f` need not be `Send`.
    ///
    /// # Panics
    /// Outside a coroutine of a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use greenmongo_runtime::{coroutine, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let n = rt.block_on(|| {
    ///     let hits = Rc::new(Cell::new(0)); // !Send: stays on this worker
    ///     let h = hits.clone();
    ///     coroutine::Builder::new().name("local").spawn_local(move || h.set(h.get() + 1)).join().unwrap();
    ///     hits.get()
    /// });
    /// assert_eq!(n, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_local<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (body, handle) = local_body(f);
        if !worker::spawn_here(self, body) {
            panic!("spawn_local called outside a greenmongo runtime coroutine");
        }
        handle
    }
}

/// Spawns a coroutine on the current runtime, queued on the current worker; an idle worker
/// of the runtime may take it before it starts (a started coroutine never moves). When
/// the current worker holds clearly more coroutines than another (more by 16 and an
/// eighth), its oldest queued spawn goes to that worker instead, so that an accept loop's
/// connections spread over the workers.
///
/// # Panics
/// Outside a coroutine of a runtime; use [`Runtime::spawn`](crate::Runtime::spawn) there.
///
/// # Examples
/// ```
/// use greenmongo_runtime::{coroutine, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let sum: u32 = rt.block_on(|| {
///     let handles: Vec<_> = (1..=10).map(|i| coroutine::spawn(move || i * i)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum()
/// });
/// assert_eq!(sum, 385);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f)
}

/// Spawns a coroutine on the current worker thread; `f` need not be `Send`.
///
/// # Panics
/// Outside a coroutine of a runtime.
///
/// # Examples
/// ```
/// use std::rc::Rc;
/// use greenmongo_runtime::{coroutine, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let n = rt.block_on(|| {
///     let shared = Rc::new(5); // !Send, fine on one worker
///     coroutine::spawn_local(move || *shared + 1).join().unwrap()
/// });
/// assert_eq!(n, 6);
/// ```
pub fn spawn_local<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new().spawn_local(f)
}

/// Lets the other runnable coroutines of this worker run, then continues. On a plain
/// thread, `std::thread::yield_now`.
///
/// # Examples
/// ```
/// use greenmongo_runtime::{coroutine, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build().unwrap();
/// rt.block_on(|| {
///     let other = coroutine::spawn_local(|| 1);
///     coroutine::yield_now(); // `other` runs to completion here
///     assert!(other.is_finished());
/// });
/// ```
#[inline] // see `park::suspend`
pub fn yield_now() {
    let done = park::with_current(|ctx| {
        let Some(ctx) = ctx else { return false };
        if ctx.task().is_cancelled() {
            return true;
        }
        ctx.task().state.store(state::SCHEDULED, Ordering::Release);
        worker::push_local(ctx.task().slot);
        park::suspend(ctx);
        true
    });
    if !done {
        #[cfg(feature = "may")]
        if crate::may_interop::in_may_coroutine() {
            return may::coroutine::yield_now();
        }
        std::thread::yield_now();
    }
}

/// The current coroutine's id, or `None` on a plain thread.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{coroutine, Runtime};
///
/// assert_eq!(coroutine::current_id(), None); // a plain thread
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let (a, b) = rt.block_on(|| (coroutine::current_id(), coroutine::spawn(coroutine::current_id).join().unwrap()));
/// assert!(a.is_some() && b.is_some() && a != b);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn current_id() -> Option<u64> {
    park::with_current(|ctx| ctx.map(|c| c.task().id))
}

/// The current coroutine's name, or `None` if unnamed or on a plain thread.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{coroutine, Runtime};
///
/// assert_eq!(coroutine::current_name(), None);
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let name = rt.block_on(|| coroutine::Builder::new().name("ticker").spawn(coroutine::current_name).join().unwrap());
/// assert_eq!(name.as_deref(), Some("ticker"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn current_name() -> Option<String> {
    park::with_current(|ctx| ctx.and_then(|c| c.task().name.as_deref().map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::park::Unparker;
    use crate::task::Task;

    #[test]
    fn handles_are_send_and_tasks_are_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Task>();
        send_sync::<Unparker>();
        send::<JoinHandle<u32>>();
    }

    /// A spawn reuses the finished task of its slot (the last one freed; whether it does
    /// is `tests/allocations.rs`'s to check), and the record is the new coroutine's own:
    /// fresh id, its own name, not cancelled, not waiting.
    #[test]
    fn a_reused_task_is_the_new_coroutines_own() {
        let rt = crate::Runtime::builder().worker_threads(1).build().unwrap();
        let seen = rt.block_on(|| {
            (0..10)
                .map(|i| {
                    let builder = if i % 2 == 0 {
                        Builder::new().name(format!("c{i}"))
                    } else {
                        Builder::new()
                    };
                    builder
                        .spawn_local(|| {
                            park::with_current(|ctx| {
                                let task = ctx.expect("in a coroutine").task();
                                let clean = !task.is_cancelled()
                                    && task.state.load(Ordering::Relaxed) == state::RUNNING
                                    && task.wait() == WaitKind::None;
                                (task.id, current_name(), clean)
                            })
                        })
                        .join()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        });
        for (i, (_, name, clean)) in seen.iter().enumerate() {
            assert_eq!(
                name.as_deref(),
                (i % 2 == 0).then(|| format!("c{i}")).as_deref()
            );
            assert!(clean, "coroutine {i} started with a stale task state");
        }
        let mut ids: Vec<u64> = seen.iter().map(|s| s.0).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), seen.len(), "ids are unique");
    }
}
