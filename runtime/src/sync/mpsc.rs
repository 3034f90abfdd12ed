//! Multi-producer, single-consumer channels, bounded and unbounded.
//!
//! # Examples
//! ```
//! use greenmongo_runtime::{coroutine, sync::mpsc, Runtime};
//!
//! let rt = Runtime::new().unwrap();
//! let (tx, rx) = mpsc::bounded(4);
//! rt.block_on(move || {
//!     coroutine::spawn(move || {
//!         for i in 0..100 {
//!             tx.send(i).unwrap(); // parks while the channel is full
//!         }
//!     });
//!     assert_eq!(rx.iter().sum::<i32>(), 4950); // ends when the sender is dropped
//! });
//! ```

use std::{
    collections::VecDeque,
    fmt, io,
    sync::{Arc, Mutex},
    time::Instant,
};

pub use super::RecvError;
use super::{WaitList, lock, wait_until};
use crate::task::WaitKind;

struct State<T> {
    queue: VecDeque<T>,
    capacity: Option<usize>,
    senders: usize,
    receiver_alive: bool,
    receivers_waiting: WaitList,
    senders_waiting: WaitList,
}

/// An unbounded channel: `send` never waits.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{sync::mpsc, Runtime};
///
/// let rt = Runtime::builder().worker_threads(2).build()?;
/// let (tx, rx) = mpsc::channel();
/// for i in 0..3 {
///     let tx = tx.clone();
///     rt.spawn(move || tx.send(i).unwrap());
/// }
/// drop(tx);
/// let mut got: Vec<i32> = rx.iter().collect(); // a plain thread receives too
/// got.sort();
/// assert_eq!(got, [0, 1, 2]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    with_capacity(None)
}

/// A bounded channel holding at most `capacity` values (at least 1): `send` waits while
/// it is full.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::sync::mpsc;
///
/// let (tx, rx) = mpsc::bounded(1);
/// tx.send("a").unwrap();
/// assert_eq!(tx.try_send("b"), Err("b")); // full: `send` would wait
/// assert_eq!(rx.recv().unwrap(), "a");
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    with_capacity(Some(capacity.max(1)))
}

fn with_capacity<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let state = Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        capacity,
        senders: 1,
        receiver_alive: true,
        receivers_waiting: WaitList::default(),
        senders_waiting: WaitList::default(),
    }));
    (
        Sender {
            state: state.clone(),
        },
        Receiver { state },
    )
}

/// The sending half; clone it for more producers.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{sync::mpsc, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let (tx, rx) = mpsc::channel();
/// let producers: Vec<_> = ["a", "b"].into_iter().map(|name| { let tx = tx.clone(); rt.spawn(move || tx.send(name).unwrap()) }).collect();
/// producers.into_iter().for_each(|p| p.join().unwrap());
/// drop(tx);
/// assert_eq!(rx.iter().count(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Sender<T> {
    state: Arc<Mutex<State<T>>>,
}

/// The receiving half.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::{sync::mpsc, Runtime};
///
/// let rt = Runtime::builder().worker_threads(1).build()?;
/// let (tx, rx) = mpsc::bounded(4);
/// let consumer = rt.spawn(move || rx.iter().sum::<u32>()); // ends when every sender is gone
/// for n in 1..=10 {
///     tx.send(n).unwrap(); // waits while 4 are queued
/// }
/// drop(tx);
/// assert_eq!(consumer.join().unwrap(), 55);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Receiver<T> {
    state: Arc<Mutex<State<T>>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").finish_non_exhaustive()
    }
}

/// Why a value was not sent; the value comes back.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::sync::mpsc::{self, SendError};
///
/// let (tx, rx) = mpsc::channel();
/// drop(rx);
/// match tx.send(String::from("lost")) {
///     Err(SendError::Disconnected(value)) => assert_eq!(value, "lost"),
///     other => panic!("{other:?}"),
/// }
/// ```
pub enum SendError<T> {
    /// The receiver is gone.
    Disconnected(T),
    /// The wait for room failed (deadline passed, or the coroutine is being cancelled).
    Wait(T, io::Error),
}

impl<T> SendError<T> {
    /// The value that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(vec![1, 2]).unwrap_err().into_inner(), [1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendError::Disconnected(v) | SendError::Wait(v, _) => v,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected(_) => f.write_str("the receiver was dropped"),
            SendError::Wait(_, e) => write!(f, "send failed: {e}"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> Sender<T> {
    /// Sends a value, waiting for room in a bounded channel.
    ///
    /// # Errors
    /// See [`SendError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, time::Duration};
    /// use greenmongo_runtime::{sync::mpsc::{self, SendError}, time::with_timeout};
    ///
    /// let (tx, _rx) = mpsc::bounded(1);
    /// tx.send(1).unwrap();
    /// let full = with_timeout(Duration::from_millis(10), || tx.send(2)); // waits for room, up to the deadline
    /// assert!(matches!(full, Err(SendError::Wait(2, ref e)) if e.kind() == io::ErrorKind::TimedOut));
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = Some(value);
        let sent = wait_until(
            &self.state,
            WaitKind::Channel,
            None,
            |s| &mut s.senders_waiting,
            |s, _| {
                if !s.receiver_alive {
                    return Some(false);
                }
                if s.capacity.is_some_and(|c| s.queue.len() >= c) {
                    return None;
                }
                s.queue.push_back(value.take().expect("sent once"));
                s.receivers_waiting.notify_one();
                Some(true)
            },
            || {},
            |s| {
                s.senders_waiting.notify_one();
            },
        );
        match sent {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError::Disconnected(value.take().expect("not sent"))),
            Err(e) => Err(SendError::Wait(value.take().expect("not sent"), e)),
        }
    }

    /// Sends if there is room now.
    ///
    /// # Errors
    /// Returns the value when the channel is full or the receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::bounded(2);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Ok(()));
    /// assert_eq!(tx.try_send(3), Err(3)); // full
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// drop(rx);
    /// assert_eq!(tx.try_send(4), Err(4)); // room, but the receiver is gone
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), T> {
        let mut s = lock(&self.state);
        if !s.receiver_alive || s.capacity.is_some_and(|c| s.queue.len() >= c) {
            return Err(value);
        }
        s.queue.push_back(value);
        s.receivers_waiting.notify_one();
        Ok(())
    }

    /// Whether the receiver is gone (nothing sent can be received any more): a sender
    /// can tell that the task it feeds has ended, even when it ended by being dropped
    /// (its runtime shut down).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::bounded::<()>(1);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        !lock(&self.state).receiver_alive
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.state).senders += 1;
        Sender {
            state: self.state.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = lock(&self.state);
        s.senders -= 1;
        if s.senders == 0 {
            s.receivers_waiting.notify_all();
        }
    }
}

impl<T> Receiver<T> {
    /// Waits for a value.
    ///
    /// # Errors
    /// See [`RecvError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{sync::mpsc, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let (tx, rx) = mpsc::channel();
    /// rt.spawn(move || tx.send("from a coroutine").unwrap());
    /// assert_eq!(rx.recv().unwrap(), "from a coroutine"); // blocks this plain thread until then
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_deadline(None)
    }

    /// Waits for a value until `deadline`.
    ///
    /// # Errors
    /// See [`RecvError`]; `Wait` with `TimedOut` at the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, time::{Duration, Instant}};
    /// use greenmongo_runtime::sync::mpsc::{self, RecvError};
    ///
    /// let (_tx, rx) = mpsc::channel::<()>();
    /// let err = rx.recv_deadline(Some(Instant::now() + Duration::from_millis(10))).unwrap_err();
    /// assert!(matches!(err, RecvError::Wait(e) if e.kind() == io::ErrorKind::TimedOut));
    /// ```
    pub fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvError> {
        wait_until(
            &self.state,
            WaitKind::Channel,
            deadline,
            |s| &mut s.receivers_waiting,
            |s, _| match s.queue.pop_front() {
                Some(value) => {
                    s.senders_waiting.notify_one();
                    Some(Ok(value))
                }
                None if s.senders == 0 => Some(Err(RecvError::Disconnected)),
                None => None,
            },
            || {},
            |s| {
                s.receivers_waiting.notify_one();
            },
        )
        .map_err(RecvError::Wait)?
    }

    /// A value if one is queued; `Err(true)` if every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// assert_eq!(rx.try_recv(), Err(false)); // empty, senders alive
    /// tx.send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// assert_eq!(rx.try_recv(), Err(true)); // empty for good
    /// ```
    pub fn try_recv(&self) -> Result<T, bool> {
        let mut s = lock(&self.state);
        match s.queue.pop_front() {
            Some(value) => {
                s.senders_waiting.notify_one();
                Ok(value)
            }
            None => Err(s.senders == 0),
        }
    }

    /// Values queued now.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// tx.send('a').unwrap();
    /// tx.send('b').unwrap();
    /// assert_eq!(rx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Whether nothing is queued now.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// assert!(rx.is_empty());
    /// tx.send(()).unwrap();
    /// assert!(!rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Receives until every sender is gone (or a wait fails).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// std::thread::spawn(move || (1..=3).for_each(|i| tx.send(i).unwrap()));
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut s = lock(&self.state);
            s.receiver_alive = false;
            s.senders_waiting.notify_all();
            std::mem::take(&mut s.queue)
        };
        drop(queued); // outside the lock: destructors may do anything
    }
}
