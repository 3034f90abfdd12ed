//! Time: deadlines that interrupt every wait inside a closure, and the workers' timers.
//!
//! [`with_timeout`] is gevent's `Timeout` for Rust: every wait inside the closure (socket,
//! lock, channel, sleep, join) fails with `io::ErrorKind::TimedOut` once the deadline has
//! passed. Nested deadlines take the earliest. Code that does not wait is not interrupted:
//! the deadline takes effect at the next wait.
//!
//! In a coroutine, timers count whole milliseconds: a sleep or a deadline ends at the
//! first millisecond tick at or after it, never before it, and up to a millisecond late
//! (as tokio's). Arming and disarming one costs the same with a million pending.

use std::{
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    park,
    task::{Task, WaitKind},
};

/// Runs `f` with a deadline `dur` from now (or the enclosing one, if earlier).
///
/// Works the same in a coroutine and on a plain thread.
///
/// # Examples
/// ```
/// use std::{io, time::Duration};
/// use greenmongo_runtime::{sleep, time::with_timeout};
///
/// let result = with_timeout(Duration::from_millis(10), || sleep(Duration::from_secs(5)));
/// assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
/// ```
pub fn with_timeout<R>(dur: Duration, f: impl FnOnce() -> R) -> R {
    with_deadline(Instant::now() + dur, f)
}

/// Runs `f` with an absolute deadline (or the enclosing one, if earlier).
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// use greenmongo_runtime::time::{deadline, with_deadline};
///
/// let at = Instant::now() + Duration::from_secs(1);
/// with_deadline(at, || assert_eq!(deadline(), Some(at)));
/// assert_eq!(deadline(), None);
/// ```
pub fn with_deadline<R>(at: Instant, f: impl FnOnce() -> R) -> R {
    /// Puts the outer deadline back, also when `f` panics.
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            park::replace_deadline(self.0);
        }
    }
    let outer = park::current_deadline();
    let _restore = Restore(outer);
    park::replace_deadline(park::earliest(outer, Some(at)));
    f()
}

/// Runs `f` under its own deadline `at` (`None`: none), in place of the enclosing one,
/// even an earlier one that has already passed. For cleanup that must still happen
/// once a deadline cut the work short (aborting a transaction, closing a cursor),
/// bounded by a budget of its own.
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// use greenmongo_runtime::{sleep, time::{with_own_deadline, with_timeout}};
///
/// with_timeout(Duration::from_millis(1), || {
///     sleep(Duration::from_millis(5)).unwrap_err(); // the deadline has passed
///     let cleanup = Instant::now() + Duration::from_secs(1);
///     with_own_deadline(Some(cleanup), || sleep(Duration::from_millis(5))).unwrap();
/// });
/// ```
pub fn with_own_deadline<R>(at: Option<Instant>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            park::replace_deadline(self.0);
        }
    }
    let _restore = Restore(park::current_deadline());
    park::replace_deadline(at);
    f()
}

/// The deadline in force here, if any.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo_runtime::time::{deadline, with_timeout};
///
/// assert_eq!(deadline(), None);
/// let left = with_timeout(Duration::from_secs(5), || deadline().unwrap().saturating_duration_since(std::time::Instant::now()));
/// assert!(left <= Duration::from_secs(5));
/// ```
pub fn deadline() -> Option<Instant> {
    park::current_deadline()
}

/// Sleeps for `dur`: the coroutine parks on a timer; a plain thread sleeps.
///
/// # Errors
/// `TimedOut` if an enclosing [`with_timeout`] deadline
/// passes first (the sleep is cut short there).
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// let t = Instant::now();
/// greenmongo_runtime::sleep(Duration::from_millis(5)).unwrap();
/// assert!(t.elapsed() >= Duration::from_millis(5));
/// ```
pub fn sleep(dur: Duration) -> io::Result<()> {
    let until = Instant::now() + dur;
    loop {
        match park::park(WaitKind::Timer, Some(until)) {
            // Our own timer firing is a normal end; only an outer deadline is an error.
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                let outer = park::current_deadline();
                return match outer {
                    Some(d) if d <= Instant::now() && d <= until => Err(e),
                    _ => Ok(()),
                };
            }
            Err(e) => return Err(e),
            Ok(()) if Instant::now() >= until => return Ok(()),
            Ok(()) => {}
        }
    }
}

mod wheel;

pub(crate) use wheel::TimerKey;

/// A worker's pending timers, each unparking its task when it fires.
pub(crate) type Timers = wheel::Wheel<Arc<Task>>;
