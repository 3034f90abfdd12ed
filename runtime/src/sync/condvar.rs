//! A condition variable for [`Mutex`](super::Mutex).

use std::{io, sync::Mutex as StdMutex, time::Instant};

use super::{lock, wait_until, MutexGuard, WaitList};
use crate::coroutine::WaitKind;

/// Waits for a condition guarded by a [`Mutex`](super::Mutex).
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use greenmongo_runtime::{coroutine, sync::{Condvar, Mutex}, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// rt.block_on(move || {
///     let waiter = {
///         let p = p.clone();
///         coroutine::spawn(move || {
///             let mut ready = p.0.lock().unwrap();
///             while !*ready {
///                 ready = p.1.wait(ready).unwrap();
///             }
///         })
///     };
///     *p.0.lock().unwrap() = true;
///     p.1.notify_all();
///     waiter.join().unwrap();
/// });
/// ```
#[derive(Debug, Default)]
pub struct Condvar {
    waiters: StdMutex<WaitList>,
}

impl Condvar {
    /// A condition variable with no waiters.
    pub fn new() -> Condvar {
        Condvar::default()
    }

    /// Releases the lock, waits for a notification (or a spurious wake-up), and locks
    /// again.
    ///
    /// # Errors
    /// `TimedOut` when the enclosing `with_timeout` deadline passes; the lock is then
    /// released, not retaken.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> io::Result<MutexGuard<'a, T>> {
        self.wait_deadline(guard, None)
    }

    /// Like [`Condvar::wait`], giving up at `deadline` with `TimedOut`.
    ///
    /// # Errors
    /// `TimedOut` at the deadline.
    pub fn wait_deadline<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> io::Result<MutexGuard<'a, T>> {
        let mutex = guard.mutex;
        wait_until(
            &self.waiters,
            WaitKind::Condvar,
            deadline,
            |list| list,
            |_, notified| notified.then_some(()),
            // Registered first, unlocked second: a notify in between is not lost.
            move || drop(guard),
            |list| {
                list.notify_one();
            },
        )?;
        mutex.lock()
    }

    /// Wakes the oldest waiter.
    pub fn notify_one(&self) {
        lock(&self.waiters).notify_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        lock(&self.waiters).notify_all();
    }
}
