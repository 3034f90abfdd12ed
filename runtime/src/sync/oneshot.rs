//! A channel for exactly one value.
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
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

pub use super::RecvError;
use super::{lock, wait_until, WaitList};
use crate::coroutine::WaitKind;

struct State<T> {
    value: Option<T>,
    sender_alive: bool,
    receiver_alive: bool,
    waiters: WaitList,
}

/// The allocation a channel's two ends share, with room for a value of the creator's
/// (`extra`) in the same allocation: a spawned coroutine keeps its closure there, so a
/// spawn allocates once for the closure and its join channel.
pub(crate) struct Shared<T, X: ?Sized> {
    state: Mutex<State<T>>,
    pub(crate) extra: X,
}

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
            state: Mutex::new(State {
                value: None,
                sender_alive: true,
                receiver_alive: true,
                waiters: WaitList::default(),
            }),
            extra,
        })
    }
}

impl<T, X: ?Sized> Shared<T, X> {
    /// The sender's `send`: stores the value and wakes the receiver. Called at most once,
    /// and then not followed by [`Shared::close`]'s wake-up.
    ///
    /// # Errors
    /// Returns the value if the receiver is gone.
    pub(crate) fn send(&self, value: T) -> Result<(), T> {
        let mut state = lock(&self.state);
        // The receiver takes a value before it looks at `sender_alive`.
        state.sender_alive = false;
        if !state.receiver_alive {
            return Err(value);
        }
        state.value = Some(value);
        state.waiters.notify_all();
        Ok(())
    }

    /// The sender's drop: the receiver sees `Disconnected` unless a value was sent.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        if state.sender_alive {
            state.sender_alive = false;
            state.waiters.notify_all();
        }
    }
}

impl<T> Receiver<T> {
    /// The receiving end of a channel made with [`Shared::with_extra`].
    pub(crate) fn of<X: Extra + 'static>(shared: Arc<Shared<T, X>>) -> Receiver<T> {
        Receiver {
            state: shared,
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
    let state = Shared::new();
    (
        Sender {
            state: state.clone(),
            sent: false,
        },
        Receiver {
            state,
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
    state: Arc<Shared<T, ()>>,
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
    state: Arc<Shared<T, dyn Extra>>,
    /// The value was taken or the sender is gone without one: the sender will not look
    /// at `receiver_alive` again, so dropping the receiver need not take the lock. (Only
    /// this receiver's own calls set it.)
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
        self.state.send(value)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if !self.sent {
            self.state.close();
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

    pub(crate) fn recv_kind(&self, kind: WaitKind) -> Result<T, RecvError> {
        let received = wait_until(
            &self.state.state,
            kind,
            None,
            |s| &mut s.waiters,
            |s, _| match s.value.take() {
                Some(value) => Some(Ok(value)),
                None if !s.sender_alive => Some(Err(RecvError::Disconnected)),
                None => None,
            },
            || {},
            |_| {},
        )
        .map_err(RecvError::Wait)?;
        self.settled.store(true, Ordering::Relaxed);
        received
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
        let mut state = lock(&self.state.state);
        let received = state.value.take().ok_or(!state.sender_alive);
        if !matches!(received, Err(false)) {
            self.settled.store(true, Ordering::Relaxed);
        }
        received
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
        let state = lock(&self.state.state);
        state.value.is_some() || !state.sender_alive
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if *self.settled.get_mut() {
            return;
        }
        let value = {
            let mut state = lock(&self.state.state);
            state.receiver_alive = false;
            state.value.take()
        };
        drop(value); // outside the lock: its destructor may do anything
    }
}
