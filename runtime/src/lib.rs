//! # greenmongo-runtime
//!
//! Stackful coroutines ([corosensei]) switched by a [mio] event loop, so that plain
//! blocking-style code — `stream.read(&mut buf)?`, `mutex.lock()?`, `rx.recv()?` —
//! yields to the event loop whenever it waits. The same code on a plain OS thread, with
//! no runtime, simply blocks. It is the greenlet technique (Motor on Tornado, gevent)
//! with Rust's guarantees kept.
//!
//! ```
//! use std::io::{Read, Write};
//! use greenmongo_runtime::{coroutine, net::{TcpListener, TcpStream}, Runtime};
//!
//! let rt = Runtime::builder().worker_threads(2).build().unwrap();
//! let total = rt.block_on(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     coroutine::spawn(move || loop {
//!         let (mut conn, _) = listener.accept().unwrap();
//!         coroutine::spawn(move || {
//!             let mut buf = [0u8; 64];
//!             while let Ok(n @ 1..) = conn.read(&mut buf) {
//!                 conn.write_all(&buf[..n]).unwrap();
//!             }
//!         });
//!     });
//!     let clients: Vec<_> = (0..100u64)
//!         .map(|i| coroutine::spawn(move || {
//!             let mut s = TcpStream::connect(addr).unwrap();
//!             s.write_all(&i.to_le_bytes()).unwrap();
//!             let mut back = [0u8; 8];
//!             s.read_exact(&mut back).unwrap();
//!             u64::from_le_bytes(back)
//!         }))
//!         .collect();
//!     clients.into_iter().map(|c| c.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 4950);
//! ```
//!
//! ## The model
//! - A [`Runtime`] owns `worker_threads` workers. Each worker thread owns a mio `Poll`, a
//!   run queue, its timers and its coroutines. A coroutine is created on the worker that
//!   runs it and never moves: thread-locals stay sound (the flaw of `may`, whose
//!   coroutines migrate), which is why corosensei's `Coroutine` is `!Send`.
//! - [`spawn`] queues the closure on the current worker (from a plain thread: on the
//!   workers in turn), where an idle worker may take it until it starts, or hands it to
//!   a worker with clearly fewer coroutines;
//!   [`coroutine::spawn_local`] keeps it on the current worker. Wake-ups from other
//!   threads go through the worker's inbox and a mio `Waker`. A worker with nothing to
//!   run sleeps in `epoll_wait`; with [`Builder::idle_spin`] set, one that such
//!   wake-ups keep reaching soon after it goes idle first watches its inbox, so that a
//!   hand-off between workers costs microseconds instead of a thread wake-up.
//! - With [`Builder::io_uring`], stream reads and writes in coroutines go through a
//!   per-worker io_uring instead of readiness: each worker hands all that its coroutines
//!   queued in a round to the kernel in one system call (the echo bench: 1.26× the
//!   epoll path, BENCHMARKS.md). Off by default; `build` fails where the kernel refuses it.
//! - Every wait ([`net`] sockets, [`sync`] primitives, [`sleep`], [`JoinHandle::join`])
//!   parks the coroutine, or blocks a plain thread. [`time::with_timeout`] makes all waits
//!   inside a closure fail with `io::ErrorKind::TimedOut` at a deadline.
//! - Stacks are mmap'd with a guard page and pooled per worker. Overflowing one hits the
//!   guard page; a signal handler names the coroutine on stderr and aborts the process,
//!   instead of silently corrupting memory.
//! - A panic in a coroutine is caught and handed to whoever joins it; the worker goes on.
//! - Dropping the [`Runtime`] stops its workers and unwinds every suspended coroutine,
//!   so their destructors run (waits inside those destructors fail at once).
//!
//! ## Caveats
//! - **No OS-blocking calls inside coroutines.** `std::net`, `std::fs`, `std::thread::sleep`,
//!   `std::sync::Mutex` held across a wait, or a long CPU loop stall every coroutine of
//!   that worker. Use this crate's [`net`], [`sync`] and [`sleep`], and
//!   [`spawn_blocking`] for files, DNS and heavy computation; call [`yield_now`] in long
//!   loops.
//! - **Thread-locals are per worker, not per coroutine.** A `RefCell` borrow (or any
//!   thread-local state) held across a wait is shared with the other coroutines of that
//!   worker, which run in between.
//! - **Stack size.** The default is 256 KiB of address space per coroutine ([`Builder::stack_size`],
//!   [`coroutine::Builder::stack_size`]); only touched pages cost memory. Deep recursion
//!   or large stack arrays need more, or a side stack for that one call
//!   ([`coroutine::on_stack`]: the driver decodes deeply nested documents there).
//! - **`vm.max_map_count`.** On Linux 6.13 and later a stack's guard page is a marker in
//!   the page tables ([`coroutine::guard_pages_are_markers`]) and stacks share large
//!   per-worker mappings, so a million idle coroutines on 2 workers fit under the default
//!   limit of 65,530 mappings (about 4.3 KiB resident each; `tests/million.rs`). Older
//!   kernels get an `mprotect`ed guard page, two mappings per stack, which caps a process
//!   near 32,000 live coroutines. Past the limit, spawning fails with an error naming the
//!   sysctl; raise it with `sysctl -w vm.max_map_count=262144`.
//!
//! ## Threads it creates
//! `worker_threads` workers (`greenmongo-worker-N`), joined when the runtime drops, and
//! up to `max_blocking_threads` `greenmongo-blocking` threads, started on demand and ended
//! after 10 s idle or at drop. Nothing global, nothing hidden: no runtime, no threads.
//!
//! [corosensei]: https://docs.rs/corosensei
//! [mio]: https://docs.rs/mio
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod blocking;
pub mod coroutine;
#[cfg(feature = "may")]
mod may_interop;
pub mod net;
mod park;
mod reactor;
mod scheduler;
pub mod sync;
mod task;
pub mod time;
mod uring;

pub use blocking::spawn_blocking;
pub use coroutine::{JoinError, JoinHandle, sleep, spawn, yield_now};
pub use park::in_coroutine;
pub use scheduler::{
    Builder, CoroutineInfo, CoroutineState, Handle, Metrics, Runtime, WorkerMetrics,
};
