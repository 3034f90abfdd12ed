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

use io_uring::{opcode, types};
use mio::Token;

use crate::park;
use crate::reactor::{self, Direction, IoState};
use crate::scheduler::worker::{self, WorkerShared};
use crate::sync::lock;
use crate::uring;

/// `Read` and `Write` on `&$stream` and `$stream`, plus `AsRawFd`/`AsFd`, for a type with
/// a `source: IoSource<_>` field: every call runs non-blocking and waits through the
/// source, like std's streams.
macro_rules! stream_io {
    ($stream:ty) => {
        impl std::io::Read for &$stream {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if let Some(result) = self.source.read_on_ring(buf) {
                    return result;
                }
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
                if let Some(result) = self.source.write_on_ring(buf) {
                    return result;
                }
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
    /// Readiness ticks and waiters: made at the first wait in a coroutine and kept for
    /// the socket's life, whichever worker's reactor delivers its events, so ticks never
    /// restart and no waiter is left on a registration that is gone.
    state: OnceLock<Arc<IoState>>,
    /// The reactor that delivers the socket's events (see [`IoSource::home_for_wait`]).
    home: Mutex<Option<Home>>,
    /// Read and write timeouts in nanoseconds; 0 means none.
    timeouts: [AtomicU64; 2],
}

/// Where a socket is registered.
struct Home {
    worker: Arc<WorkerShared>,
    token: Token,
    /// Waits in a row from coroutines of other workers than this one.
    foreign_waits: u32,
}

/// Waits in a row from another worker after which a socket's registration moves there.
/// One coroutine using a pooled connection that another worker's coroutine opened would
/// otherwise be woken through that worker at every wait: its event loop wakes for the
/// event and mails the waiter's worker, two thread wake-ups instead of one. Several in a
/// row, so that a connection shared by coroutines of every worker does not move at
/// each wait (a move is two `epoll_ctl` calls and one spurious wake-up).
const MOVE_AFTER: u32 = 8;

impl<S: AsRawFd> IoSource<S> {
    pub(crate) fn new(io: S) -> IoSource<S> {
        IoSource {
            io,
            state: OnceLock::new(),
            home: Mutex::new(None),
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

    /// Reads into `buf` with a `recv` on the worker's io_uring (see `crate::uring`);
    /// `None` off a ring, for an empty buffer, or when the kernel answers `EAGAIN`: the
    /// caller then reads through readiness.
    pub(crate) fn read_on_ring(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if buf.is_empty() || !park::in_coroutine() {
            return None;
        }
        let fd = self.io.as_raw_fd();
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let entry = opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), len).build();
        let deadline = self.timeout(Direction::Read).map(|t| Instant::now() + t);
        // SAFETY: `buf` is borrowed mutably until `run` returns, which is after the
        // operation's completion.
        unsafe { uring::run(entry, fd, false, deadline) }
    }

    /// Writes `buf` with a `send` on the worker's io_uring, like [`Self::read_on_ring`].
    pub(crate) fn write_on_ring(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        if buf.is_empty() || !park::in_coroutine() {
            return None;
        }
        let fd = self.io.as_raw_fd();
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        // MSG_NOSIGNAL: a closed peer is an `EPIPE` error, as std's sockets report it,
        // not a SIGPIPE.
        let entry = opcode::Send::new(types::Fd(fd), buf.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let deadline = self.timeout(Direction::Write).map(|t| Instant::now() + t);
        // SAFETY: `buf` is borrowed until `run` returns, after the completion.
        unsafe { uring::run(entry, fd, true, deadline) }
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
            let state = self.state.get();
            let (observed, drained) = match state {
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
        // A state made just now starts at tick 0, and its registration reports current
        // readiness as its first event, so 0 is the right "observed" value for it.
        let observed = observed.unwrap_or(0);
        self.home_for_wait(fd)?.wait(dir, observed, deadline, fd)
    }

    /// The readiness tick of a direction, if a coroutine has waited on the socket.
    fn tick(&self, dir: Direction) -> Option<u32> {
        self.state.get().map(|s| s.tick(dir))
    }

    /// The socket's state, registered with a live reactor for a coroutine of this worker
    /// to wait on: at the first wait, with this worker's; after its worker has shut down
    /// (a socket outliving the runtime it was first waited in, e.g. a driver's pooled
    /// connection), here; and after [`MOVE_AFTER`] waits in a row from this worker,
    /// here too.
    ///
    /// A move registers here before it deregisters there, and a registration reports
    /// the socket's current readiness as its first event: an edge that the old
    /// registration would have delivered is seen by the new one.
    fn home_for_wait(&self, fd: RawFd) -> io::Result<&Arc<IoState>> {
        let state = self.state.get_or_init(Arc::default);
        worker::with_worker(|here| {
            let mut home = lock(&self.home);
            let stays = match home.as_mut() {
                Some(h) if Arc::ptr_eq(&h.worker, &here.shared) => {
                    h.foreign_waits = 0;
                    true
                }
                Some(h) if !h.worker.is_shut_down() => {
                    h.foreign_waits += 1;
                    h.foreign_waits < MOVE_AFTER
                }
                _ => false,
            };
            if !stays {
                let token = here.shared.reactor.register(fd, state.clone())?;
                let new = Home {
                    worker: here.shared.clone(),
                    token,
                    foreign_waits: 0,
                };
                if let Some(old) = home.replace(new) {
                    old.worker.reactor.deregister(fd, old.token);
                }
            }
            Ok(state)
        })
        .expect("in a coroutine")
    }
}

impl<S: AsRawFd> Drop for IoSource<S> {
    fn drop(&mut self) {
        let home = self.home.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = home.take() {
            h.worker.reactor.deregister(self.io.as_raw_fd(), h.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        os::unix::net::UnixStream,
        thread,
    };

    use super::*;
    use crate::{Runtime, time::with_timeout};

    fn homed_here(source: &IoSource<UnixStream>) -> bool {
        worker::with_worker(|w| {
            lock(&source.home)
                .as_ref()
                .is_some_and(|h| Arc::ptr_eq(&h.worker, &w.shared))
        })
        .expect("in a coroutine")
    }

    #[test]
    fn a_socket_moves_to_the_worker_whose_coroutines_keep_waiting_on_it() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let fd = ours.as_raw_fd();
        let source = Arc::new(IoSource::new(ours));
        let first = Runtime::builder().worker_threads(1).build().unwrap();
        let second = Runtime::builder().worker_threads(1).build().unwrap();

        let s = source.clone();
        first.block_on(move || {
            s.home_for_wait(fd).unwrap();
            assert!(homed_here(&s), "the first wait registers with its worker");
        });
        let s = source.clone();
        second.block_on(move || {
            for wait in 1..MOVE_AFTER {
                s.home_for_wait(fd).unwrap();
                assert!(!homed_here(&s), "moved after {wait} waits");
            }
            s.home_for_wait(fd).unwrap();
            assert!(homed_here(&s), "not moved after {MOVE_AFTER} waits");
        });
        let s = source.clone();
        first.block_on(move || {
            s.home_for_wait(fd).unwrap();
            assert!(!homed_here(&s), "one wait from elsewhere moves nothing");
        });
        let s = source.clone();
        second.block_on(move || {
            s.home_for_wait(fd).unwrap();
            assert!(homed_here(&s));
        });

        // Events come through the new registration: a read that waits is woken.
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            peer.write_all(b"x").unwrap();
            peer
        });
        let s = source.clone();
        let read = second.block_on(move || {
            with_timeout(Duration::from_secs(10), || {
                let mut byte = [0u8; 1];
                s.do_read(1, |mut stream| stream.read(&mut byte))
                    .map(|n| (n, byte[0]))
            })
        });
        let _peer = writer.join().unwrap();
        assert_eq!(read.unwrap(), (1, b'x'));
    }
}
