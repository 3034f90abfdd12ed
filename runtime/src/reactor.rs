//! The reactor: a worker's mio registrations and the coroutines waiting on them.
//!
//! A socket registers (edge-triggered, readable and writable) the first time a coroutine
//! has to wait on it, with the reactor of the worker that coroutine runs on; it moves to
//! another worker's reactor when that worker's coroutines keep waiting on it, or when its
//! worker has shut down (`IoSource::home_for_wait`). Each socket's [`IoState`] counts
//! readiness events per direction ("ticks"), whichever reactor delivers them. A waiter
//! notes the tick *before* its non-blocking call; if the tick moved by the time it
//! registers as a waiter, an event arrived in between and it retries instead of parking:
//! no lost wake-ups.
//!
//! A read that returns fewer bytes than asked for has emptied the receive queue, so the
//! next read would only fail with `EAGAIN`: the source records the tick observed before
//! that read as "drained", and while the tick has not moved the next read parks without
//! the syscall (see `IoSource::do_read`).
//!
//! Tokens carry a generation in their high 32 bits, so an event still queued for a
//! deregistered socket whose slot was reused is recognised as stale and dropped.

use std::{
    io,
    os::fd::RawFd,
    sync::{Arc, Mutex},
    time::Instant,
};

use mio::{Interest, Registry, Token, event::Event, unix::SourceFd};

use crate::park::{self, Unparker};
use crate::sync::{WaitList, lock};
use crate::task::WaitKind;

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

/// A worker's registrations.
pub(crate) struct Reactor {
    registry: Registry,
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    entries: Vec<Slot>,
    free: Vec<usize>,
}

struct Slot {
    generation: u32,
    io: Option<Arc<IoState>>,
}

/// Readiness ticks and waiters of one registered socket.
#[derive(Default)]
pub(crate) struct IoState {
    inner: Mutex<IoInner>,
}

#[derive(Default)]
struct IoInner {
    ticks: [u32; 2],
    /// Per direction, the tick at which a short read found the socket empty.
    drained: [Option<u32>; 2],
    /// Per direction, whether an event reported the peer closed it (or an error): then a
    /// short read may have stopped at the end-of-stream mark with no later edge to come,
    /// so "drained" is never trusted again (tokio keeps its closed readiness too).
    closed: [bool; 2],
    /// Per direction (a wait and its wake-up allocate nothing for the usual one waiter).
    waiters: [WaitList; 2],
}

fn token(index: usize, generation: u32) -> Token {
    Token(index | (generation as usize) << 32)
}

impl Reactor {
    pub(crate) fn new(registry: Registry) -> Reactor {
        Reactor {
            registry,
            slots: Mutex::default(),
        }
    }

    /// Registers `fd` for edge-triggered readable and writable events, delivered to
    /// `io`.
    pub(crate) fn register(&self, fd: RawFd, io: Arc<IoState>) -> io::Result<Token> {
        let token = {
            let mut slots = lock(&self.slots);
            let index = match slots.free.pop() {
                Some(index) => index,
                None => {
                    slots.entries.push(Slot {
                        generation: 0,
                        io: None,
                    });
                    slots.entries.len() - 1
                }
            };
            let slot = &mut slots.entries[index];
            slot.generation = slot.generation.wrapping_add(1);
            slot.io = Some(io);
            token(index, slot.generation)
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.registry.register(&mut SourceFd(&fd), token, interest) {
            self.release(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Deregisters `fd` (before it is closed) and frees its slot.
    pub(crate) fn deregister(&self, fd: RawFd, token: Token) {
        // Fails only if the fd was never registered or already closed: nothing to undo.
        let _ = self.registry.deregister(&mut SourceFd(&fd));
        self.release(token);
    }

    fn release(&self, token: Token) {
        let index = token.0 & 0xffff_ffff;
        let mut slots = lock(&self.slots);
        slots.entries[index].io = None;
        slots.free.push(index);
    }

    /// Wakes the waiters of the sockets that became ready.
    pub(crate) fn dispatch<'a>(&self, events: impl Iterator<Item = &'a Event>) {
        let mut ready = Vec::new();
        {
            let slots = lock(&self.slots);
            for event in events {
                let Token(raw) = event.token();
                let (index, generation) = (raw & 0xffff_ffff, (raw >> 32) as u32);
                let Some(Slot {
                    generation: g,
                    io: Some(io),
                }) = slots.entries.get(index)
                else {
                    continue;
                };
                if *g != generation {
                    continue; // stale: the socket was deregistered and the slot reused
                }
                let error = event.is_error();
                let read_closed = error || event.is_read_closed();
                let write_closed = error || event.is_write_closed();
                let read = read_closed || event.is_readable();
                let write = write_closed || event.is_writable();
                ready.push((io.clone(), read, write, read_closed, write_closed));
            }
        }
        for (io, read, write, read_closed, write_closed) in ready {
            if read {
                io.wake(Direction::Read, read_closed);
            }
            if write {
                io.wake(Direction::Write, write_closed);
            }
        }
    }
}

impl IoState {
    /// The current readiness tick of a direction.
    pub(crate) fn tick(&self, dir: Direction) -> u32 {
        lock(&self.inner).ticks[dir as usize]
    }

    /// The current tick of `dir`, and whether the socket is known empty at that tick
    /// (a short read saw it empty and no event came since).
    pub(crate) fn tick_drained(&self, dir: Direction) -> (u32, bool) {
        let inner = lock(&self.inner);
        let tick = inner.ticks[dir as usize];
        let drained = inner.drained[dir as usize] == Some(tick) && !inner.closed[dir as usize];
        (tick, drained)
    }

    /// Records that a read which began at tick `observed` emptied the socket. If an
    /// event arrived meanwhile the tick has moved past `observed`, so the mark never
    /// matches and the next read still makes the syscall: no edge can be lost.
    pub(crate) fn set_drained(&self, dir: Direction, observed: u32) {
        lock(&self.inner).drained[dir as usize] = Some(observed);
    }

    fn wake(&self, dir: Direction, closed: bool) {
        let mut waiters = {
            let mut inner = lock(&self.inner);
            inner.closed[dir as usize] |= closed;
            inner.ticks[dir as usize] = inner.ticks[dir as usize].wrapping_add(1);
            inner.waiters[dir as usize].take_all()
        };
        waiters.notify_all();
    }

    /// Parks until the tick of `dir` moves past `observed` (or a spurious wake-up).
    ///
    /// # Errors
    /// `TimedOut` at `deadline`; `Interrupted` when cancelled.
    pub(crate) fn wait(
        &self,
        dir: Direction,
        observed: u32,
        deadline: Option<Instant>,
        fd: RawFd,
    ) -> io::Result<()> {
        let id = {
            let mut inner = lock(&self.inner);
            if inner.ticks[dir as usize] != observed {
                return Ok(());
            }
            inner.waiters[dir as usize].push(Unparker::current())
        };
        /// Removes the waiter on every exit, unwinding included.
        struct Unregister<'a>(&'a IoState, Direction, u64);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                lock(&self.0.inner).waiters[self.1 as usize].remove(self.2);
            }
        }
        let _unregister = Unregister(self, dir, id);
        let write = dir == Direction::Write;
        park::park(WaitKind::Socket { fd, write }, deadline)
    }
}

/// Waits on a plain thread for `fd` to become ready, with `poll(2)`.
///
/// # Errors
/// `TimedOut` at `deadline` (or the thread's `with_timeout` deadline); `poll`'s errors.
pub(crate) fn wait_fd_blocking(
    fd: RawFd,
    dir: Direction,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let deadline = park::earliest(deadline, park::current_deadline());
    let events = match dir {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(park::timed_out());
                }
                // Round up, so we never wake a hair early and spin.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        let mut pollfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, and the count says one.
        let ready = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
        match ready {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            0 => {} // timed out: the loop head reports it
            _ => return Ok(()),
        }
    }
}
