//! A mutual-exclusion lock whose waiters park.

use std::{
    cell::UnsafeCell,
    fmt, io,
    ops::{Deref, DerefMut},
};

use super::Semaphore;
use crate::task::WaitKind;

/// A mutex for coroutines and threads alike: a waiting coroutine parks instead of
/// blocking its worker, and the lock may be held across waits (socket I/O, sleeps).
/// Fair: waiters get the lock in arrival order. There is no poisoning.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use greenmongo_runtime::{coroutine, sync::Mutex, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let counter = Arc::new(Mutex::new(0));
/// let c = counter.clone();
/// rt.block_on(move || {
///     let hs: Vec<_> = (0..100).map(|_| {
///         let c = c.clone();
///         coroutine::spawn(move || {
///             let mut n = c.lock().unwrap();
///             coroutine::yield_now(); // still held: others wait
///             *n += 1;
///         })
///     }).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
/// });
/// assert_eq!(*counter.lock().unwrap(), 100);
/// ```
pub struct Mutex<T: ?Sized> {
    semaphore: Semaphore,
    value: UnsafeCell<T>,
}

// SAFETY: the semaphore (one permit) gives one holder at a time exclusive access to
// `value`, so sharing the mutex is sound when `T` may move between threads.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the `T` it owns.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Mutex;
    ///
    /// let cache = Mutex::new(std::collections::HashMap::new());
    /// cache.lock()?.insert("k", 1);
    /// assert_eq!(cache.lock()?.get("k"), Some(&1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            semaphore: Semaphore::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Mutex;
    ///
    /// let log = Mutex::new(Vec::new());
    /// log.lock()?.push("started");
    /// assert_eq!(log.into_inner(), ["started"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock.
    ///
    /// # Errors
    /// `TimedOut` when the enclosing `with_timeout` deadline passes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, time::Duration};
    /// use greenmongo_runtime::{sync::Mutex, time::with_timeout};
    ///
    /// let m = Mutex::new(0);
    /// let held = m.lock()?;
    /// let err = with_timeout(Duration::from_millis(10), || m.lock().map(|_| ())).unwrap_err();
    /// assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    /// drop(held);
    /// *m.lock()? += 1;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lock(&self) -> io::Result<MutexGuard<'_, T>> {
        self.semaphore.acquire_raw(WaitKind::Lock)?;
        Ok(MutexGuard { mutex: self })
    }

    /// The lock if it is free now.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Mutex;
    ///
    /// let m = Mutex::new(());
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none()); // held
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.semaphore.try_acquire().map(|permit| {
            permit.forget();
            MutexGuard { mutex: self }
        })
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::Mutex;
    ///
    /// let mut counter = Mutex::new(0);
    /// *counter.get_mut() += 1; // no locking: `&mut` proves nobody else has it
    /// assert_eq!(*counter.lock()?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_struct("Mutex").field("value", &&*guard).finish(),
            None => f.debug_struct("Mutex").field("value", &"<locked>").finish(),
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

/// Holds the lock; releases it on drop.
///
/// # Examples
///
/// ```
/// use greenmongo_runtime::sync::{Mutex, MutexGuard};
///
/// let m = Mutex::new(String::from("a"));
/// {
///     let mut guard: MutexGuard<'_, String> = m.lock()?;
///     guard.push('b'); // derefs to the value
/// } // released here
/// assert_eq!(*m.lock()?, "ab");
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
}

// SAFETY: sharing a guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so no other reference exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.semaphore.release();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
