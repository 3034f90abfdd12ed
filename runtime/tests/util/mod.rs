//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::{io, time::Duration};

use greenmongo_runtime::Runtime;

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
