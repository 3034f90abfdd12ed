//! A counting semaphore with fair FIFO hand-off.

use std::{fmt, io, mem, sync::Arc, sync::Mutex};

use super::{WaitList, lock, wait_until};
use crate::task::WaitKind;

/// A counting semaphore. Waiters are served strictly first come, first served: a released
/// permit is handed to the oldest waiter, never grabbed by a newcomer.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use greenmongo_runtime::{coroutine, sync::Semaphore, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let sem = Arc::new(Semaphore::new(2));
/// let peak = rt.block_on(move || {
///     let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
///     let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
///     let hs: Vec<_> = (0..10).map(|_| {
///         let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
///         coroutine::spawn(move || {
///             let _permit = sem.acquire().unwrap();
///             let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
///             peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
///             coroutine::yield_now();
///             inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
///         })
///     }).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     peak.load(std::sync::atomic::Ordering::SeqCst)
/// });
/// assert!(peak <= 2);
/// ```
pub struct Semaphore {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    permits: usize,
    waiters: WaitList,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

impl State {
    /// Hands a permit to the oldest waiter, or keeps it.
    fn release(&mut self) {
        if !self.waiters.notify_one() {
            self.permits += 1;
        }
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Semaphore;
    ///
    /// let connections = Semaphore::new(10);
    /// assert_eq!(connections.available_permits(), 10);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Mutex::new(State {
                permits,
                waiters: WaitList::default(),
            }),
        }
    }

    pub(crate) fn acquire_raw(&self, kind: WaitKind) -> io::Result<()> {
        wait_until(
            &self.state,
            kind,
            None,
            |s| &mut s.waiters,
            |s, handed| {
                if handed {
                    return Some(());
                }
                // Only take a free permit when nobody queues before us (fairness).
                (s.permits > 0 && s.waiters.is_empty()).then(|| s.permits -= 1)
            },
            || {},
            State::release,
        )
    }

    /// Waits for a permit.
    ///
    /// # Errors
    /// `TimedOut` when the enclosing `with_timeout` deadline passes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// {
    ///     let _permit = sem.acquire()?;
    ///     assert_eq!(sem.available_permits(), 0);
    /// } // returned on drop
    /// assert_eq!(sem.available_permits(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire(&self) -> io::Result<SemaphorePermit<'_>> {
        self.acquire_raw(WaitKind::Lock)?;
        Ok(SemaphorePermit { semaphore: self })
    }

    /// Waits for a permit that owns a reference to the semaphore.
    ///
    /// # Errors
    /// `TimedOut` when the enclosing `with_timeout` deadline passes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenmongo_runtime::{sync::Semaphore, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let sem = Arc::new(Semaphore::new(1));
    /// let permit = sem.acquire_owned()?; // 'static: it can move into a coroutine
    /// let job = rt.spawn(move || { let _held = permit; "done" });
    /// assert_eq!(job.join().unwrap(), "done");
    /// assert_eq!(sem.available_permits(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn acquire_owned(self: &Arc<Self>) -> io::Result<OwnedSemaphorePermit> {
        self.acquire_raw(WaitKind::Lock)?;
        Ok(OwnedSemaphorePermit {
            semaphore: self.clone(),
        })
    }

    /// A permit if one is free and nobody waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let first = sem.try_acquire();
    /// assert!(first.is_some());
    /// assert!(sem.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut state = lock(&self.state);
        (state.permits > 0 && state.waiters.is_empty()).then(|| {
            state.permits -= 1;
            SemaphorePermit { semaphore: self }
        })
    }

    /// Adds `n` permits (waking up to `n` waiters).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// assert!(sem.try_acquire().is_none());
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut state = lock(&self.state);
        for _ in 0..n {
            state.release();
        }
    }

    pub(crate) fn release(&self) {
        lock(&self.state).release();
    }

    /// Free permits now.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// let _a = sem.acquire()?;
    /// assert_eq!(sem.available_permits(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn available_permits(&self) -> usize {
        lock(&self.state).permits
    }

    /// Waiters queued now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use greenmongo_runtime::{sleep, sync::Semaphore, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let sem = Arc::new(Semaphore::new(0));
    /// let s = sem.clone();
    /// let waiter = rt.spawn(move || s.acquire().map(|p| p.forget()));
    /// rt.block_on(|| sleep(Duration::from_millis(10))).unwrap();
    /// assert_eq!(sem.waiters(), 1);
    /// sem.add_permits(1);
    /// waiter.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn waiters(&self) -> usize {
        lock(&self.state).waiters.len()
    }
}

/// A permit, returned to its semaphore on drop.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::sync::{Semaphore, SemaphorePermit};
///
/// let sem = Semaphore::new(2);
/// let permits: Vec<SemaphorePermit<'_>> = (0..2).map(|_| sem.acquire().unwrap()).collect();
/// assert_eq!(sem.available_permits(), 0);
/// drop(permits);
/// assert_eq!(sem.available_permits(), 2);
/// ```
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(2);
    /// sem.acquire()?.forget(); // one permit fewer, for good
    /// assert_eq!(sem.available_permits(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn forget(self) {
        mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

/// A permit that holds an `Arc` of its semaphore; returned on drop.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use greenmongo_runtime::sync::{OwnedSemaphorePermit, Semaphore};
///
/// let sem = Arc::new(Semaphore::new(1));
/// let permit: OwnedSemaphorePermit = sem.clone().acquire_owned()?;
/// let worker = std::thread::spawn(move || drop(permit)); // returned from another thread
/// worker.join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    semaphore: Arc<Semaphore>,
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}
