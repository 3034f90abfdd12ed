//! Percentiles (the spec's nearest-rank rule) and process CPU time (`getrusage`).

use std::time::Duration;

/// The spec's nearest-rank percentile of an ascending-sorted slice: index
/// `int(N * p / 100) - 1`, clamped to the first element.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let i = ((sorted.len() as f64 * p / 100.0) as usize).saturating_sub(1);
    sorted[i.min(sorted.len() - 1)]
}

/// Median of unsorted durations (nearest rank, like the spec).
pub fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    percentile(&xs, 50.0)
}

/// User + system CPU time of the whole process so far (`RUSAGE_SELF`): every thread
/// counts, the runtime's workers, tokio's and the drivers' monitors included. The server
/// is another process and does not count.
pub fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` points to writable memory of the right size; getrusage only writes it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_SELF) failed");
    // SAFETY: getrusage returned 0, so it filled the struct (and zeroed() made it valid anyway).
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `f`, returning its result, its wall time and the process CPU time it took.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let cpu = cpu_time();
    let start = std::time::Instant::now();
    let out = f();
    let wall = start.elapsed();
    (out, wall, cpu_time().saturating_sub(cpu))
}
