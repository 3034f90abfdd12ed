//! The non-blocking socket underneath every net type, and how a call waits on it.

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::{Duration, Instant},
};

use mio::Token;

use crate::park;
use crate::reactor::{self, Direction, IoState};
use crate::scheduler::worker::{self, WorkerShared};

/// `Read` and `Write` on `&$stream` and `$stream`, plus `AsRawFd`/`AsFd`, for a type with
/// a `source: IoSource<_>` field: every call runs non-blocking and waits through the
/// source, like std's streams.
macro_rules! stream_io {
    ($stream:ty) => {
        impl std::io::Read for &$stream {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.source
                    .do_io(Direction::Read, |mut s| std::io::Read::read(&mut s, buf))
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.source.do_io(Direction::Read, |mut s| {
                    std::io::Read::read_vectored(&mut s, bufs)
                })
            }
        }

        impl std::io::Write for &$stream {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.source
                    .do_io(Direction::Write, |mut s| std::io::Write::write(&mut s, buf))
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.source.do_io(Direction::Write, |mut s| {
                    std::io::Write::write_vectored(&mut s, bufs)
                })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $stream {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $stream {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::os::fd::AsRawFd for $stream {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.source.get_ref().as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $stream {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.source.get_ref().as_fd()
            }
        }
    };
}

/// A non-blocking socket with per-direction timeouts and, once a coroutine has waited
/// on it, a reactor registration.
pub(crate) struct IoSource<S: AsRawFd> {
    io: S,
    registration: OnceLock<Registration>,
    /// Read and write timeouts in nanoseconds; 0 means none.
    timeouts: [AtomicU64; 2],
}

struct Registration {
    worker: Arc<WorkerShared>,
    token: Token,
    state: Arc<IoState>,
}

impl<S: AsRawFd> IoSource<S> {
    pub(crate) fn new(io: S) -> IoSource<S> {
        IoSource {
            io,
            registration: OnceLock::new(),
            timeouts: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.io
    }

    pub(crate) fn set_timeout(&self, dir: Direction, timeout: Option<Duration>) -> io::Result<()> {
        let nanos = match timeout {
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ))
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            None => 0,
        };
        self.timeouts[dir as usize].store(nanos, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn timeout(&self, dir: Direction) -> Option<Duration> {
        match self.timeouts[dir as usize].load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`, waiting for
    /// readiness in between, up to the direction's timeout.
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let deadline = self.timeout(dir).map(|t| Instant::now() + t);
        self.do_io_until(dir, deadline, op)
    }

    pub(crate) fn do_io_until<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            // The tick is read *before* the call: an event after it moves the tick.
            let observed = self.registration.get().map(|r| r.state.tick(dir));
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
            self.wait(dir, observed, deadline)?;
        }
    }

    fn wait(
        &self,
        dir: Direction,
        observed: Option<u32>,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let fd = self.io.as_raw_fd();
        if !park::in_coroutine() {
            #[cfg(feature = "may")]
            if crate::may_interop::in_may_coroutine() {
                return crate::may_interop::wait_fd(fd);
            }
            return reactor::wait_fd_blocking(fd, dir, deadline);
        }
        let registration = match self.registration.get() {
            Some(registration) => registration,
            None => self.register(fd)?,
        };
        // A registration made just now starts at tick 0 and reports current readiness
        // as its first event, so 0 is the right "observed" value for it.
        registration
            .state
            .wait(dir, observed.unwrap_or(0), deadline, fd)
    }

    fn register(&self, fd: RawFd) -> io::Result<&Registration> {
        let worker = worker::with_worker(|w| w.shared.clone()).expect("in a coroutine");
        let (token, state) = worker.reactor.register(fd)?;
        let registration = Registration {
            worker,
            token,
            state,
        };
        if let Err(lost) = self.registration.set(registration) {
            // Another coroutine registered it first: keep theirs.
            lost.worker.reactor.deregister(fd, lost.token);
        }
        Ok(self.registration.get().expect("set above"))
    }
}

impl<S: AsRawFd> Drop for IoSource<S> {
    fn drop(&mut self) {
        if let Some(r) = self.registration.get() {
            r.worker.reactor.deregister(self.io.as_raw_fd(), r.token);
        }
    }
}
