//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::{
    io::{self, Read, Write},
    time::Duration,
};

use greenmongo_runtime::{Runtime, net::TcpStream};

/// The bytes of one ping-pong message.
pub const MESSAGE: usize = 64;

/// Message `round` of connection `conn`: different for every pair, so that a byte that
/// lands in the wrong place or on the wrong connection shows.
pub fn message(conn: usize, round: usize) -> [u8; MESSAGE] {
    std::array::from_fn(|i| (conn.wrapping_mul(31) ^ round.wrapping_mul(7) ^ i) as u8)
}

/// Echoes every message back until the peer closes.
pub fn serve(mut conn: TcpStream) {
    let mut buf = [0u8; MESSAGE];
    loop {
        match conn.read_exact(&mut buf) {
            Ok(()) => conn.write_all(&buf).unwrap(),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return,
            Err(e) => panic!("server read: {e}"),
        }
    }
}

/// A runtime with `workers` workers; on io_uring when `GREENMONGO_TEST_IO_URING=1`, so
/// that the whole suite also runs its streams through the rings (the test script runs
/// it both ways).
pub fn runtime(workers: usize) -> Runtime {
    Runtime::builder()
        .worker_threads(workers)
        .io_uring(std::env::var("GREENMONGO_TEST_IO_URING").as_deref() == Ok("1"))
        .build()
        .expect("runtime")
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Raises the soft open-file limit to the hard one; returns the new limit.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// Asserts that `result` failed with `TimedOut`.
pub fn assert_timed_out<T: std::fmt::Debug>(result: io::Result<T>) {
    match result {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}"),
        Ok(v) => panic!("expected TimedOut, got Ok({v:?})"),
    }
}

/// A short deadline for tests that expect one to fire.
pub const SHORT: Duration = Duration::from_millis(30);
