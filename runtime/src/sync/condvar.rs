//! A condition variable for [`Mutex`](super::Mutex).

use std::{io, sync::Mutex as StdMutex, time::Instant};

use super::{MutexGuard, WaitList, lock, wait_until};
use crate::task::WaitKind;

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
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::{Condvar, Mutex};
    ///
    /// let ready = (Mutex::new(false), Condvar::new()); // guard a flag with the mutex
    /// *ready.0.lock()? = true;
    /// ready.1.notify_all(); // nobody waits yet: a no-op
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Condvar {
        Condvar::default()
    }

    /// Releases the lock, waits for a notification (or a spurious wake-up), and locks
    /// again.
    ///
    /// # Errors
    /// `TimedOut` when the enclosing `with_timeout` deadline passes; the lock is then
    /// released, not retaken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenmongo_runtime::sync::{Condvar, Mutex};
    ///
    /// let queue = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    /// let producer = { let q = queue.clone(); std::thread::spawn(move || { q.0.lock().unwrap().push("job"); q.1.notify_one(); }) };
    /// let mut jobs = queue.0.lock()?;
    /// while jobs.is_empty() {
    ///     jobs = queue.1.wait(jobs)?; // releases the lock while waiting
    /// }
    /// assert_eq!(jobs.pop(), Some("job"));
    /// # drop(jobs); producer.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> io::Result<MutexGuard<'a, T>> {
        self.wait_deadline(guard, None)
    }

    /// Like [`Condvar::wait`], giving up at `deadline` with `TimedOut`.
    ///
    /// # Errors
    /// `TimedOut` at the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, time::{Duration, Instant}};
    /// use greenmongo_runtime::sync::{Condvar, Mutex};
    ///
    /// let (flag, cv) = (Mutex::new(false), Condvar::new());
    /// let err = cv.wait_deadline(flag.lock()?, Some(Instant::now() + Duration::from_millis(10))).unwrap_err();
    /// assert_eq!(err.kind(), io::ErrorKind::TimedOut); // nobody notified
    /// assert!(flag.try_lock().is_some()); // the lock was released
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenmongo_runtime::{coroutine, sync::{Condvar, Mutex}, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let state = Arc::new((Mutex::new(0), Condvar::new()));
    /// let s = state.clone();
    /// let waiter = rt.spawn(move || { let mut n = s.0.lock().unwrap(); while *n == 0 { n = s.1.wait(n).unwrap(); } *n });
    /// rt.block_on(move || { coroutine::yield_now(); *state.0.lock().unwrap() = 5; state.1.notify_one(); });
    /// assert_eq!(waiter.join().unwrap(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn notify_one(&self) {
        lock(&self.waiters).notify_one();
    }

    /// Wakes every waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenmongo_runtime::{coroutine, sync::{Condvar, Mutex}, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let gate = Arc::new((Mutex::new(false), Condvar::new()));
    /// let waiters: Vec<_> = (0..3).map(|_| {
    ///     let g = gate.clone();
    ///     rt.spawn(move || { let mut open = g.0.lock().unwrap(); while !*open { open = g.1.wait(open).unwrap(); } })
    /// }).collect();
    /// rt.block_on(move || { coroutine::yield_now(); *gate.0.lock().unwrap() = true; gate.1.notify_all(); });
    /// waiters.into_iter().for_each(|w| w.join().unwrap());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn notify_all(&self) {
        lock(&self.waiters).notify_all();
    }
}
