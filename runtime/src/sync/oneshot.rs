//! A channel for exactly one value.
//!
//! Lock-free: one byte of state bits says who may touch the value and the waiting
//! receiver's unparker, so a send, a receive and a join cost a few atomic operations
//! and no mutex (the join of every spawn goes through here).
//!
//! # Examples
//! ```
//! use greenmongo_runtime::{coroutine, sync::oneshot, Runtime};
//!
//! let rt = Runtime::new().unwrap();
//! let (tx, rx) = oneshot::channel();
//! rt.spawn(move || tx.send("hello").unwrap());
//! assert_eq!(rx.recv().unwrap(), "hello"); // a plain thread blocks here
//! ```

use std::{
    cell::UnsafeCell,
    fmt,
    mem::{self, MaybeUninit},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
};

pub use super::RecvError;
use crate::park::{self, Unparker};
use crate::task::WaitKind;

// The state bits. Each is set once and never cleared, except `WAITING`.
/// The sender stored the value (and is done with it).
const VALUE: u8 = 1;
/// The sender is gone without a value.
const CLOSED: u8 = 2;
/// The receiver is gone.
const RECEIVER_GONE: u8 = 4;
/// The value slot is empty for good: the value was taken, or handed back to the sender.
const TAKEN: u8 = 8;
/// `waiter` holds the receiver's unparker. While it is set, the receiver leaves `waiter`
/// alone; the sender, finding it set when it sets `VALUE` or `CLOSED`, takes the
/// unparker and wakes it. The receiver clears it (to take its unparker back) only while
/// neither `VALUE` nor `CLOSED` is set, so exactly one of the two owns `waiter` at a time.
const WAITING: u8 = 16;

/// The allocation a channel's two ends share, with room for a value of the creator's
/// (`extra`) in the same allocation: a spawned coroutine keeps its closure there, so a
/// spawn allocates once for the closure and its join channel.
pub(crate) struct Shared<T, X: ?Sized> {
    state: AtomicU8,
    /// Written once by the sender before it sets `VALUE`; read by whoever sets `TAKEN`
    /// after seeing `VALUE` (or by the sender, after the receiver set `TAKEN` first).
    value: UnsafeCell<MaybeUninit<T>>,
    /// The receiver's unparker; see `WAITING` for who owns it when.
    waiter: UnsafeCell<Option<Unparker>>,
    pub(crate) extra: X,
}

// SAFETY: the state bits hand `value` and `waiter` from one side to the other with
// acquire/release operations, so only one thread touches either at a time; a value moves
// between threads, so `T: Send`. `extra` is shared as it is.
unsafe impl<T: Send, X: ?Sized + Send> Send for Shared<T, X> {}
// SAFETY: as above; `&Shared` reaches `extra` as `&X`.
unsafe impl<T: Send, X: ?Sized + Sync> Sync for Shared<T, X> {}

/// What a [`Receiver`] knows of its channel's `extra`: nothing (it never reaches it).
pub(crate) trait Extra: Send + Sync {}

impl<X: Send + Sync + ?Sized> Extra for X {}

impl<T> Shared<T, ()> {
    fn new() -> Arc<Shared<T, ()>> {
        Shared::with_extra(())
    }
}

impl<T, X> Shared<T, X> {
    /// A channel with no value yet whose allocation also holds `extra`.
    pub(crate) fn with_extra(extra: X) -> Arc<Shared<T, X>> {
        Arc::new(Shared {
            state: AtomicU8::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waiter: UnsafeCell::new(None),
            extra,
        })
    }
}

impl<T, X: ?Sized> Shared<T, X> {
    /// The sender's `send`: stores the value and wakes the receiver.
    ///
    /// # Errors
    /// Returns the value if the receiver is gone.
    ///
    /// # Safety
    /// Called at most once per channel: a second call would write the value while the
    /// receiver may be reading it. ([`Shared::close`] after it is harmless.)
    pub(crate) unsafe fn send(&self, value: T) -> Result<(), T> {
        // SAFETY: only the sender writes the slot, once, and nobody reads it before
        // `VALUE` is set below.
        unsafe { (*self.value.get()).write(value) };
        let prev = self.state.fetch_or(VALUE, Ordering::AcqRel);
        if prev & RECEIVER_GONE != 0 {
            // The receiver left before it could see `VALUE`, setting `TAKEN` as it went:
            // the value is ours again, and nobody else will read it.
            // SAFETY: written above; `TAKEN` keeps `Shared::drop` off it.
            return Err(unsafe { (*self.value.get()).assume_init_read() });
        }
        self.wake(prev);
        Ok(())
    }

    /// The sender's drop: the receiver sees `Disconnected` unless a value was sent.
    pub(crate) fn close(&self) {
        let prev = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        self.wake(prev);
    }

    /// Wakes the receiver if `prev`, the state before this side set `VALUE` or `CLOSED`,
    /// says it waits.
    fn wake(&self, prev: u8) {
        if prev & WAITING != 0 {
            // SAFETY: `WAITING` was set when we set `VALUE`/`CLOSED`, so `waiter` is ours
            // from now on (see `WAITING`); the acquire above saw the receiver's write.
            if let Some(unparker) = unsafe { (*self.waiter.get()).take() } {
                unparker.unpark();
            }
        }
    }
}

impl<T, X: ?Sized> Drop for Shared<T, X> {
    fn drop(&mut self) {
        let state = *self.state.get_mut();
        if state & VALUE != 0 && state & TAKEN == 0 {
            // SAFETY: sent and never taken; we are the last owner.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Receiver<T> {
    /// The receiving end of a channel made with [`Shared::with_extra`].
    pub(crate) fn of<X: Extra + 'static>(shared: Arc<Shared<T, X>>) -> Receiver<T> {
        Receiver {
            shared,
            settled: AtomicBool::new(false),
        }
    }
}

/// Creates a one-value channel.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{sync::oneshot, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let (tx, rx) = oneshot::channel();
/// rt.spawn(move || tx.send("reply").unwrap());
/// assert_eq!(rx.recv().unwrap(), "reply");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Shared::new();
    (
        Sender {
            shared: shared.clone(),
            sent: false,
        },
        Receiver {
            shared,
            settled: AtomicBool::new(false),
        },
    )
}

/// Sends the one value.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::sync::oneshot;
///
/// let (tx, rx) = oneshot::channel::<u8>();
/// drop(tx); // dropped without sending
/// assert!(matches!(rx.recv(), Err(oneshot::RecvError::Disconnected)));
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T, ()>>,
    /// `send` has done what `drop` would do (one lock per send instead of two).
    sent: bool,
}

/// Receives the one value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo_runtime::{sleep, sync::oneshot, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let (tx, rx) = oneshot::channel();
/// let answer = rt.spawn(move || rx.recv().unwrap() * 2); // a coroutine waits on it
/// sleep(Duration::from_millis(1))?; // a plain thread sleeps too
/// tx.send(21).unwrap();
/// assert_eq!(answer.join().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Receiver<T> {
    /// `dyn Extra`: the receiver of a spawned coroutine's join channel does not name the
    /// type of the closure sharing its allocation.
    shared: Arc<Shared<T, dyn Extra>>,
    /// The value was taken or the sender is gone without one: the sender will not look
    /// at the state again, so dropping the receiver need not mark it. (Only this
    /// receiver's own calls set it.)
    settled: AtomicBool,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}

impl<T> Sender<T> {
    /// Sends the value, waking the receiver.
    ///
    /// # Errors
    /// Returns the value if the receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send("unwanted"), Err("unwanted")); // the receiver is gone
    /// ```
    pub fn send(mut self, value: T) -> Result<(), T> {
        self.sent = true;
        // SAFETY: `send` takes the one sender of this channel by value.
        unsafe { self.shared.send(value) }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if !self.sent {
            self.shared.close();
        }
    }
}

impl<T> Receiver<T> {
    /// Waits for the value.
    ///
    /// # Errors
    /// See [`RecvError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// std::thread::spawn(move || tx.send(5).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 5);
    /// ```
    pub fn recv(self) -> Result<T, RecvError> {
        self.recv_kind(WaitKind::Channel)
    }

    pub(crate) fn recv_kind(self, kind: WaitKind) -> Result<T, RecvError> {
        let shared = &*self.shared;
        let mut waiting = None;
        loop {
            let state = shared.state.load(Ordering::Acquire);
            if state & (VALUE | CLOSED) != 0 {
                // The sender is done, and owns `waiter` if we registered.
                mem::forget(waiting);
                return self.take(state);
            }
            if waiting.is_none() {
                // SAFETY: `WAITING` is clear, so `waiter` is ours.
                unsafe { *shared.waiter.get() = Some(Unparker::current()) };
                let registered = shared.state.compare_exchange(
                    state,
                    state | WAITING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if registered.is_err() {
                    // The sender finished meanwhile (the only other change): still ours.
                    // SAFETY: as above.
                    unsafe { *shared.waiter.get() = None };
                    continue;
                }
                waiting = Some(Waiting(shared));
            }
            // Spurious wake-ups just go round again, still registered.
            if let Err(e) = park::park(kind, None)
                && waiting.take().is_some_and(Waiting::withdraw)
            {
                return Err(RecvError::Wait(e));
            }
            // The sender finished before we could withdraw: take what it left.
        }
    }

    /// Takes what the sender left, once `state` shows it is done.
    fn take(&self, state: u8) -> Result<T, RecvError> {
        self.settled.store(true, Ordering::Relaxed);
        // `TAKEN` decides between calls racing through `&self` (`try_recv`).
        if state & VALUE != 0 && self.shared.state.fetch_or(TAKEN, Ordering::AcqRel) & TAKEN == 0 {
            // SAFETY: `VALUE` (seen with acquire) says the sender wrote it, and setting
            // `TAKEN` first makes it ours alone.
            return Ok(unsafe { (*self.shared.value.get()).assume_init_read() });
        }
        Err(RecvError::Disconnected)
    }

    /// The value if it has arrived; `Err(true)` if the sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(false)); // not yet
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_recv(&self) -> Result<T, bool> {
        let state = self.shared.state.load(Ordering::Acquire);
        if state & (VALUE | CLOSED) == 0 {
            return Err(false);
        }
        self.take(state).map_err(|_| true)
    }

    /// Whether a value waits (or the sender is gone, so `recv` would not block).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel::<()>();
    /// assert!(!rx.is_ready());
    /// drop(tx);
    /// assert!(rx.is_ready()); // `recv` would return Disconnected at once
    /// ```
    pub fn is_ready(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) & (VALUE | CLOSED) != 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if *self.settled.get_mut() {
            return;
        }
        let prev = self
            .shared
            .state
            .fetch_or(RECEIVER_GONE | TAKEN, Ordering::AcqRel);
        if prev & VALUE != 0 && prev & TAKEN == 0 {
            // SAFETY: sent and never taken; setting `TAKEN` made it ours. (Unsent, the
            // sender sees `RECEIVER_GONE` and keeps it.)
            unsafe { (*self.shared.value.get()).assume_init_drop() };
        }
    }
}

/// The receiver's registration (`WAITING` set); a wait that ends without the sender (a
/// deadline, or the coroutine unwound at a runtime shutdown) withdraws it, so no stale
/// unparker outlives the wait.
struct Waiting<'a, T>(&'a Shared<T, dyn Extra>);

impl<T> Waiting<'_, T> {
    /// Withdraws the registration; `false` if the sender finished first.
    fn withdraw(self) -> bool {
        withdraw(mem::ManuallyDrop::new(self).0)
    }
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        withdraw(self.0);
    }
}

/// Clears `WAITING` and drops the unparker; `false` if the sender finished first (it
/// owns `waiter` then).
fn withdraw<T>(shared: &Shared<T, dyn Extra>) -> bool {
    let mut state = shared.state.load(Ordering::Acquire);
    loop {
        if state & (VALUE | CLOSED) != 0 {
            return false;
        }
        match shared.state.compare_exchange_weak(
            state,
            state & !WAITING,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: we cleared `WAITING` before the sender finished: ours again.
                drop(unsafe { (*shared.waiter.get()).take() });
                return true;
            }
            Err(actual) => state = actual,
        }
    }
}

/// Plain threads only, so that Miri can run them (`cargo +nightly miri test -p
/// greenmongo-runtime --lib oneshot`): it checks the state machine's hand-offs of `value`
/// and `waiter` for data races and the value for leaks and double drops.
#[cfg(test)]
mod tests {
    use std::{sync::Arc, thread, time::Duration};

    use super::{RecvError, channel};

    const ROUNDS: usize = if cfg!(miri) { 20 } else { 2_000 };

    #[test]
    fn a_value_sent_from_another_thread_is_received() {
        for i in 0..ROUNDS {
            let (tx, rx) = channel();
            let sender = thread::spawn(move || tx.send(Arc::new(i)).is_ok());
            assert_eq!(*rx.recv().unwrap(), i);
            assert!(sender.join().unwrap());
        }
    }

    #[test]
    fn a_sender_dropped_on_another_thread_disconnects() {
        for _ in 0..ROUNDS {
            let (tx, rx) = channel::<Arc<()>>();
            let sender = thread::spawn(move || drop(tx));
            assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
            sender.join().unwrap();
        }
    }

    /// Sends from another thread while `receive` runs, then checks the value has one
    /// owner left: the test's (no leak, no double drop).
    fn race_the_send(receive: impl Fn(super::Receiver<Arc<()>>)) {
        for _ in 0..ROUNDS {
            let value = Arc::new(());
            let (tx, rx) = channel();
            let sent = value.clone();
            let sender = thread::spawn(move || tx.send(sent).err());
            receive(rx);
            drop(sender.join().unwrap());
            assert_eq!(Arc::strong_count(&value), 1, "leaked or dropped twice");
        }
    }

    #[test]
    fn a_receiver_dropped_during_the_send_leaves_one_owner() {
        race_the_send(drop);
    }

    #[test]
    fn a_timed_out_receive_withdraws_while_the_send_races() {
        race_the_send(|rx| {
            drop(crate::time::with_timeout(Duration::from_micros(1), || {
                rx.recv()
            }))
        });
    }

    #[test]
    fn try_recv_races_take_the_value_once() {
        for _ in 0..ROUNDS {
            let (tx, rx) = channel();
            tx.send(Arc::new(())).unwrap();
            let rx = Arc::new(rx);
            let other = {
                let rx = rx.clone();
                thread::spawn(move || rx.try_recv().ok())
            };
            let mine = rx.try_recv().ok();
            let theirs = other.join().unwrap();
            assert!(
                mine.is_some() != theirs.is_some(),
                "taken {} times",
                usize::from(mine.is_some()) + usize::from(theirs.is_some())
            );
        }
    }
}
