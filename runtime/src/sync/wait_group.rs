//! Waiting for a group of tasks to finish.

use std::{
    io,
    sync::{Arc, Mutex},
};

use super::{WaitList, lock, wait_until};
use crate::task::WaitKind;

/// Counts outstanding work; [`WaitGroup::wait`] returns when the count is zero. Clones
/// share the count (Go's `sync.WaitGroup`).
///
/// # Examples
/// ```
/// use greenmongo_runtime::{coroutine, sync::WaitGroup, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// rt.block_on(|| {
///     let wg = WaitGroup::new();
///     for _ in 0..10 {
///         wg.add(1);
///         let wg = wg.clone();
///         coroutine::spawn(move || wg.done());
///     }
///     wg.wait().unwrap();
///     assert_eq!(wg.count(), 0);
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct WaitGroup {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    count: usize,
    waiters: WaitList,
}

impl WaitGroup {
    /// A group with count zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// assert_eq!(wg.count(), 0);
    /// wg.wait()?; // returns at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Adds `n` to the count.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(3);
    /// assert_eq!(wg.count(), 3);
    /// ```
    pub fn add(&self, n: usize) {
        lock(&self.state).count += n;
    }

    /// Subtracts one; wakes the waiters when the count reaches zero.
    ///
    /// # Panics
    /// If the count is already zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(1);
    /// let w = wg.clone();
    /// std::thread::spawn(move || w.done());
    /// wg.wait()?;
    /// assert_eq!(wg.count(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn done(&self) {
        let mut state = lock(&self.state);
        state.count = state
            .count
            .checked_sub(1)
            .expect("WaitGroup::done called more often than add");
        if state.count == 0 {
            state.waiters.notify_all();
        }
    }

    /// The count now.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::sync::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(2);
    /// wg.done();
    /// assert_eq!(wg.count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        lock(&self.state).count
    }

    /// Waits until the count is zero.
    ///
    /// # Errors
    /// `TimedOut` when the enclosing `with_timeout` deadline passes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, time::Duration};
    /// use greenmongo_runtime::{sync::WaitGroup, time::with_timeout};
    ///
    /// let wg = WaitGroup::new();
    /// wg.add(1); // nobody will call done()
    /// let err = with_timeout(Duration::from_millis(10), || wg.wait()).unwrap_err();
    /// assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    /// ```
    pub fn wait(&self) -> io::Result<()> {
        wait_until(
            &self.state,
            WaitKind::WaitGroup,
            None,
            |s| &mut s.waiters,
            |s, _| (s.count == 0).then_some(()),
            || {},
            |_| {},
        )
    }
}
