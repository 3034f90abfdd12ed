//! Waiting inside `may` coroutines (feature `may`), so driver code also runs on `may`.
//!
//! - Parking uses `may::coroutine::park_timeout`, waking uses the `may` coroutine handle:
//!   the sync primitives work between `may` coroutines, ours and threads.
//! - A socket wait registers the fd with `may`'s event loop for the length of the wait
//!   (`CoIo` + `WaitIo::wait_io`): two extra `epoll_ctl` calls per wait, which keeps it
//!   simple and free of lost wake-ups (registering reports current readiness).
//! - Deadlines live in `may`'s coroutine-local storage, because `may` coroutines move
//!   between threads and a thread-local would follow the thread, not the coroutine.
//!
//! Limits: a socket wait under `may` ignores read/write timeouts and `with_timeout`
//! deadlines (`wait_io` takes no timeout); two `may` coroutines waiting on one socket at
//! once take turns by yielding.

use std::{
    cell::Cell,
    io,
    os::fd::{AsRawFd, RawFd},
    time::Instant,
};

use may::io::WaitIo;

may::coroutine_local!(static DEADLINE: Cell<Option<Instant>> = Cell::new(None));

/// Whether the caller runs in a `may` coroutine.
pub(crate) fn in_may_coroutine() -> bool {
    may::coroutine::is_coroutine()
}

pub(crate) fn current() -> may::coroutine::Coroutine {
    may::coroutine::current()
}

pub(crate) fn deadline() -> Option<Instant> {
    DEADLINE.with(Cell::get)
}

pub(crate) fn replace_deadline(deadline: Option<Instant>) -> Option<Instant> {
    DEADLINE.with(|d| d.replace(deadline))
}

/// Parks the `may` coroutine until unparked or `deadline`.
pub(crate) fn park(deadline: Option<Instant>) {
    match deadline {
        None => may::coroutine::park(),
        Some(d) => {
            // may keeps timeouts in whole milliseconds and reads 0 as "forever": round up.
            let left = d.saturating_duration_since(Instant::now());
            let millis = u64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
            may::coroutine::park_timeout(std::time::Duration::from_millis(millis.max(1)));
        }
    }
}

/// A borrowed fd for `CoIo`, which must not close it.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Waits until `fd` has an event (any direction; callers retry their call).
pub(crate) fn wait_fd(fd: RawFd) -> io::Result<()> {
    match may::io::CoIo::new(Fd(fd)) {
        Ok(registered) => {
            registered.wait_io();
            Ok(())
        }
        Err(e) => {
            let e = io::Error::from(e);
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
            // Already registered by another `may` coroutine waiting on it: take turns.
            may::coroutine::yield_now();
            Ok(())
        }
    }
}
