//! The non-blocking socket underneath every net type, and how a call waits on it.

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use mio::Token;

use crate::park;
use crate::reactor::{self, Direction, IoState};
use crate::scheduler::worker::{self, WorkerShared};
use crate::sync::lock;

/// `Read` and `Write` on `&$stream` and `$stream`, plus `AsRawFd`/`AsFd`, for a type with
/// a `source: IoSource<_>` field: every call runs non-blocking and waits through the
/// source, like std's streams.
macro_rules! stream_io {
    ($stream:ty) => {
        impl std::io::Read for &$stream {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                self.source
                    .do_read(len, |mut s| std::io::Read::read(&mut s, buf))
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.source
                    .do_read(len, |mut s| std::io::Read::read_vectored(&mut s, bufs))
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
    /// The registration that replaces the first once that one's worker has shut down
    /// (a socket outliving the runtime it was first waited in, e.g. a driver's pooled
    /// connection): only touched after that, so the common path takes no lock.
    moved: Mutex<Option<Registration>>,
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
            moved: Mutex::new(None),
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
                ));
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
            let observed = self.tick(dir);
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
            self.wait(dir, observed, deadline)?;
        }
    }

    /// Reads with `op` into `len` bytes of buffer, like `do_io(Direction::Read, op)`,
    /// but skips the syscall that would fail with `EAGAIN`: after a short read (fewer
    /// than `len` bytes, and not end of stream) emptied the socket, the next read parks
    /// straight away until a new readable edge. Only for reads that consume data from a
    /// stream socket: a short `peek` leaves the bytes queued.
    ///
    /// Why no data is missed: the tick is read before the syscall, and a short read on a
    /// stream socket takes everything queued at that instant. Bytes arriving after it
    /// raise a new edge, which moves the tick past the one recorded, so the "drained"
    /// mark stops matching (an edge already pending when the read ran moves it too).
    /// One exception: a read stops short at the peer's FIN with end of stream still to
    /// report and no edge to come, so once an event has reported the read side closed
    /// the mark is ignored. (TCP urgent data can also stop a read short; like tokio, we
    /// do not support it.)
    pub(crate) fn do_read(
        &self,
        len: usize,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let dir = Direction::Read;
        // On plain threads `wait` polls level-triggered and no reactor moves the tick,
        // so skipping reads there would spin: the shortcut is for coroutines only.
        if len == 0 || !park::in_coroutine() {
            return self.do_io(dir, op);
        }
        let deadline = self.timeout(dir).map(|t| Instant::now() + t);
        loop {
            // The mark is set on the registration whose tick was read (a socket can
            // re-register on another worker), so a tick is never compared across two.
            let state = self.state();
            let (observed, drained) = match &state {
                Some(state) => {
                    let (tick, drained) = state.tick_drained(dir);
                    (Some(tick), drained)
                }
                None => (None, false),
            };
            if !drained {
                match op(&self.io) {
                    Ok(n) => {
                        // n == 0 is end of stream: every later read returns it at once.
                        if n > 0
                            && n < len
                            && let (Some(state), Some(tick)) = (state, observed)
                        {
                            state.set_drained(dir, tick);
                        }
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
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
        // A registration made just now starts at tick 0 and reports current readiness
        // as its first event, so 0 is the right "observed" value for it.
        let observed = observed.unwrap_or(0);
        match self.registration.get() {
            Some(r) if !r.worker.is_shut_down() => r.state.wait(dir, observed, deadline, fd),
            Some(_) => {
                let state = self.moved_state(fd)?;
                state.wait(dir, observed, deadline, fd)
            }
            None => self.register(fd)?.state.wait(dir, observed, deadline, fd),
        }
    }

    /// The readiness tick of the live registration, if any.
    fn tick(&self, dir: Direction) -> Option<u32> {
        self.state().map(|s| s.tick(dir))
    }

    /// The state of the live registration, if any.
    fn state(&self) -> Option<Arc<IoState>> {
        let first = self.registration.get()?;
        if !first.worker.is_shut_down() {
            return Some(first.state.clone());
        }
        lock(&self.moved)
            .as_ref()
            .filter(|r| !r.worker.is_shut_down())
            .map(|r| r.state.clone())
    }

    /// The state of the registration with the current worker that replaces one whose
    /// worker has shut down (registering now if there is none, or it is dead too).
    fn moved_state(&self, fd: RawFd) -> io::Result<Arc<IoState>> {
        let mut moved = lock(&self.moved);
        if let Some(r) = moved.as_ref().filter(|r| !r.worker.is_shut_down()) {
            return Ok(r.state.clone());
        }
        if let Some(dead) = moved.take() {
            dead.worker.reactor.deregister(fd, dead.token);
        }
        let worker = worker::with_worker(|w| w.shared.clone()).expect("in a coroutine");
        let (token, state) = worker.reactor.register(fd)?;
        *moved = Some(Registration {
            worker,
            token,
            state: state.clone(),
        });
        Ok(state)
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
        if let Some(r) = lock(&self.moved).take() {
            r.worker.reactor.deregister(self.io.as_raw_fd(), r.token);
        }
    }
}
