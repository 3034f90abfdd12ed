//! Shared by the runtime benches: peer-runtime set-up and criterion settings.
//!
//! Every bench puts greenmongo-runtime and its peers (`may`, `tokio`) in the same
//! criterion group, one function per runtime, so they are measured in the same run on the
//! same machine state.

#![allow(dead_code)] // each bench uses a different part

use std::{sync::Once, time::Duration};

use criterion::Criterion;

/// Configures `may`'s global scheduler once, before its first use: two workers, as its
/// docs say (`may::config()` must be set before any coroutine is spawned).
pub fn may_init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        may::config().set_workers(2);
    });
}

/// Spawns a `may` coroutine and joins it.
pub fn may_run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    may_init();
    // SAFETY: the closures given here touch no thread-locals and stay far below may's
    // stack size (may's own safety conditions for `spawn`).
    let handle = unsafe { may::coroutine::spawn(f) };
    handle.join().expect("may coroutine panicked")
}

/// Criterion settings for the nanosecond benches: short, so the whole `cargo bench` run
/// stays within minutes on two shared cores.
pub fn micro() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .without_plots()
        .configure_from_args()
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the echo bench opens thousands of
/// sockets).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// CPU time of this process so far (all threads, user and system).
pub fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one `rusage` through a valid pointer.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
