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
use super::{lock, wait_until, WaitList};
use crate::coroutine::WaitKind;

struct State<T> {
    queue: VecDeque<T>,
    capacity: Option<usize>,
    senders: usize,
    receiver_alive: bool,
    receivers_waiting: WaitList,
    senders_waiting: WaitList,
}

/// An unbounded channel: `send` never waits.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    with_capacity(None)
}

/// A bounded channel holding at most `capacity` values (at least 1): `send` waits while
/// it is full.
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
pub struct Sender<T> {
    state: Arc<Mutex<State<T>>>,
}

/// The receiving half.
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
pub enum SendError<T> {
    /// The receiver is gone.
    Disconnected(T),
    /// The wait for room failed (deadline passed, or the coroutine is being cancelled).
    Wait(T, io::Error),
}

impl<T> SendError<T> {
    /// The value that was not sent.
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
    pub fn try_send(&self, value: T) -> Result<(), T> {
        let mut s = lock(&self.state);
        if !s.receiver_alive || s.capacity.is_some_and(|c| s.queue.len() >= c) {
            return Err(value);
        }
        s.queue.push_back(value);
        s.receivers_waiting.notify_one();
        Ok(())
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
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_deadline(None)
    }

    /// Waits for a value until `deadline`.
    ///
    /// # Errors
    /// See [`RecvError`]; `Wait` with `TimedOut` at the deadline.
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
    pub fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Receives until every sender is gone (or a wait fails).
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
