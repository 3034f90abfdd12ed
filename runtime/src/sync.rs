//! Synchronisation between coroutines (on any worker) and plain threads.
//!
//! A waiting coroutine parks (its worker runs others); a waiting thread blocks. Every wait
//! honours the enclosing [`with_timeout`](crate::time::with_timeout) deadline and fails
//! with `TimedOut` when it passes. A waiter that gives up (deadline, or its coroutine is
//! unwound by a shutdown) leaves nothing behind: it removes itself from the wait list, and
//! if it had already been handed a wake-up or a permit, passes it to the next waiter. The
//! gevent/PyMongo deadlock PYTHON-6074 (a timed-out waiter that kept a lock) cannot happen.
//!
//! Each primitive is a small `std::sync::Mutex` around its state plus a `WaitList`;
//! the std mutex is only held for a few instructions, never across a park. The oneshot
//! (every join is one) has a single waiter, so it needs no list: a byte of state bits,
//! changed atomically, hands its value and its waiter between the two ends.

mod condvar;
pub mod mpsc;
mod mutex;
pub mod oneshot;
mod semaphore;
mod wait_group;
mod wait_list;

pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;
pub(crate) use wait_list::{WaitList, wait_until};

/// Why a channel receive returned no value (`mpsc` and `oneshot`).
///
/// # Examples
///
/// ```
/// use std::{io, time::Duration};
/// use greenmongo_runtime::{sync::{mpsc, RecvError}, time::with_timeout};
///
/// let (tx, rx) = mpsc::channel::<u32>();
/// let waited = with_timeout(Duration::from_millis(10), || rx.recv());
/// assert!(matches!(waited, Err(RecvError::Wait(ref e)) if e.kind() == io::ErrorKind::TimedOut));
/// drop(tx);
/// assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
/// ```
#[derive(Debug)]
pub enum RecvError {
    /// Every sender is gone (a oneshot sender without sending) and nothing is queued.
    Disconnected,
    /// The wait failed: the enclosing `with_timeout` deadline passed (`TimedOut`), or
    /// the coroutine is being cancelled (`Interrupted`).
    Wait(std::io::Error),
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvError::Disconnected => f.write_str("the sending side is gone"),
            RecvError::Wait(e) => write!(f, "receive failed: {e}"),
        }
    }
}

impl std::error::Error for RecvError {}

impl From<RecvError> for std::io::Error {
    fn from(e: RecvError) -> std::io::Error {
        match e {
            RecvError::Wait(e) => e,
            RecvError::Disconnected => {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, e.to_string())
            }
        }
    }
}

/// Locks a std mutex, ignoring poison: the runtime's critical sections never panic
/// half-way, so the state is consistent even if some unrelated panic poisoned it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
