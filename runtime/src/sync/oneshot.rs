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
    sync::{Arc, Mutex},
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

/// Creates a one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let state = Arc::new(Mutex::new(State {
        value: None,
        sender_alive: true,
        receiver_alive: true,
        waiters: WaitList::default(),
    }));
    (
        Sender {
            state: state.clone(),
        },
        Receiver { state },
    )
}

/// Sends the one value.
pub struct Sender<T> {
    state: Arc<Mutex<State<T>>>,
}

/// Receives the one value.
pub struct Receiver<T> {
    state: Arc<Mutex<State<T>>>,
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
    pub fn send(self, value: T) -> Result<(), T> {
        let mut state = lock(&self.state);
        if !state.receiver_alive {
            return Err(value);
        }
        state.value = Some(value);
        state.waiters.notify_all();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.sender_alive = false;
        state.waiters.notify_all();
    }
}

impl<T> Receiver<T> {
    /// Waits for the value.
    ///
    /// # Errors
    /// See [`RecvError`].
    pub fn recv(self) -> Result<T, RecvError> {
        self.recv_kind(WaitKind::Channel)
    }

    pub(crate) fn recv_kind(&self, kind: WaitKind) -> Result<T, RecvError> {
        wait_until(
            &self.state,
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
        .map_err(RecvError::Wait)?
    }

    /// The value if it has arrived; `Err(true)` if the sender is gone.
    pub fn try_recv(&self) -> Result<T, bool> {
        let mut state = lock(&self.state);
        state.value.take().ok_or(!state.sender_alive)
    }

    /// Whether a value waits (or the sender is gone, so `recv` would not block).
    pub fn is_ready(&self) -> bool {
        let state = lock(&self.state);
        state.value.is_some() || !state.sender_alive
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let value = {
            let mut state = lock(&self.state);
            state.receiver_alive = false;
            state.value.take()
        };
        drop(value); // outside the lock: its destructor may do anything
    }
}
