//! Resident memory per idle coroutine: 10,000, 30,000 and 1,000,000 coroutines (tasks)
//! parked, for greenmongo-runtime (default 256 KiB and 16 KiB stacks), `may` (its default
//! 32 KiB and 16 KiB stacks) and tokio (multi-thread), each on two workers; how fast they
//! spawn, and how fast they all end at once.
//!
//! Not a criterion bench: it prints a table. Each case runs in a fresh child process
//! (this executable, re-run with `GM_MEMORY_CASE` set), so one case's freed memory, kept
//! by the allocator, does not shrink the next one's figure. A case reads `VmRSS` (and
//! `VmPTE`, the page tables, which `VmRSS` leaves out) from `/proc/self/status` once the
//! runtime is up and warm, spawns the waiters (each parks on a gate of its own: the
//! runtime's semaphore, `may`'s `SyncFlag`), waits until every one has parked, reads again, and
//! divides the difference by the count. It also times the spawns, from the first `spawn`
//! call on the main thread until every waiter has started, and reports the process's CPU
//! time (user and system, all threads) per spawn over the same span: on a shared machine
//! the rate depends on what else runs, the CPU time much less. Then it opens the gates and
//! times the end of them all (a server whose connections drop together), until every
//! waiter has returned, with the CPU time per end the same way. The gates open in an order
//! unrelated to the spawn order, as connections drop: ending in spawn order would empty
//! our stack regions one after another and unmap each whole, the cheapest case. A spawn that
//! fails (a stack per mapping pair, against `vm.max_map_count` = 65,530 here: `may`, and
//! ours on kernels without guard markers) is reported with its error message instead of a
//! number.
//!
//! Two spawn shapes: the plain rows spawn every waiter from the main thread (a plain
//! thread, so each spawn crosses to a worker); the `-in` rows spawn from one coroutine
//! (task) on each worker, half the waiters each, as a server's accept loops do. The
//! timing of an `-in` row starts before the two spawners are spawned.
//!
//! The `first-touch` rows are the machine's ceiling for the spawn rate of a runtime with
//! a stack per coroutine: no runtime, just two threads that each map half of `count`
//! stack slots (256 KiB and a guard page apart, as our default stacks) and write one byte
//! at the top of each, so that each slot costs the page fault that a fresh stack's first
//! frame costs. Its `spawns/s` is those faults per second.
//!
//! Run it with `cargo bench -p greenmongo-runtime --bench memory`; arguments that are not
//! flags select the cases whose `runtime/stack/count` key contains one of them, e.g.
//! `cargo bench -p greenmongo-runtime --bench memory -- greenmongo/default/1000000
//! greenmongo-in/default/1000000`.

mod util;

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

const KIB: usize = 1024;
const COUNTS: [usize; 3] = [10_000, 30_000, 1_000_000];

/// (case name, stack size in bytes or 0 for the runtime's default)
const RUNTIMES: [(&str, usize); 8] = [
    ("first-touch", 0),
    ("greenmongo", 0),
    ("greenmongo-in", 0),
    ("greenmongo", 16 * KIB),
    ("may", 0),
    ("may", 16 * KIB),
    ("tokio-mt", 0),
    ("tokio-mt-in", 0),
];

/// What one child process found.
struct Outcome {
    spawned: usize,
    rss_kib: (usize, usize),
    pte_kib: (usize, usize),
    /// From the first spawn until every waiter had started.
    spawn_time: Duration,
    /// CPU time of the whole process (user and system, all threads) over `spawn_time`.
    spawn_cpu: Duration,
    /// From opening the gate until every waiter had returned, and the CPU time over it.
    end_time: Duration,
    end_cpu: Duration,
    error: Option<String>,
}

fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn snapshot() -> (usize, usize) {
    (status_kib("VmRSS"), status_kib("VmPTE"))
}

/// Counts of waiters that have started and that have returned.
fn counters() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)))
}

/// A gate per waiter, made before the first reading: they are not the runtime's memory.
fn gates<G>(n: usize, new: impl Fn() -> G) -> Vec<Arc<G>> {
    (0..n).map(|_| Arc::new(new())).collect()
}

/// The gates in two halves, for the two spawners of an `-in` row.
fn halves<G>(gates: &[Arc<G>]) -> [Vec<Arc<G>>; 2] {
    let (a, b) = gates.split_at(gates.len() / 2);
    [a.to_vec(), b.to_vec()]
}

/// Opens every gate and waits until `n` waiters have returned: the time and CPU time it
/// took. Ours give each coroutine's stack back on its return, in the same worker step.
/// The gates open 7,919 apart (mod their count, which that prime does not divide), an
/// order unrelated to the spawn order.
fn end_all<G>(
    n: usize,
    ended: &AtomicUsize,
    gates: &[Arc<G>],
    open: impl Fn(&G),
) -> (Duration, Duration) {
    let (t, cpu) = (Instant::now(), util::cpu_time());
    let len = gates.len();
    for i in 0..len {
        open(&gates[i * 7_919 % len]);
    }
    wait_for(n, ended, || 0);
    (t.elapsed(), util::cpu_time() - cpu)
}

/// Waits until `started + failed` reaches `n`, or 60 s. `failed` (a scan of every
/// handle, for spawns that failed) runs only once `started` has stalled for 500 ms, and
/// then at most every 500 ms. `started` does stall while spawning: a worker creates all
/// the coroutines it finds in its inbox before it runs any, and a scan of a million
/// handles at every millisecond of that kept one of the two cores busy (a third of the
/// CPU samples of the plain rows until `0b35ab7`).
fn wait_for(n: usize, started: &AtomicUsize, failed: impl Fn() -> usize) {
    const STALL: Duration = Duration::from_millis(500);
    let until = Instant::now() + Duration::from_secs(60);
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let now_started = started.load(Ordering::Acquire);
        if now_started >= n || Instant::now() >= until {
            return;
        }
        if now_started != last {
            (last, last_change) = (now_started, Instant::now());
        } else if last_change.elapsed() >= STALL {
            if now_started + failed() >= n {
                return;
            }
            last_change = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn greenmongo(n: usize, stack: usize) -> Outcome {
    use greenmongo_runtime::{Runtime, sync::Semaphore};

    let mut builder = Runtime::builder().worker_threads(2);
    if stack != 0 {
        builder = builder.stack_size(stack);
    }
    let rt = builder.build().expect("greenmongo runtime");
    // Warm up both workers (their first coroutine, event loop buffers).
    for _ in 0..4 {
        rt.spawn(|| ()).join().expect("warm-up");
    }
    let gates = gates(n, || Semaphore::new(0));
    let before = snapshot();
    let (started, ended) = counters();
    let (t0, cpu0) = (Instant::now(), util::cpu_time());
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (started, ended, gate) = (started.clone(), ended.clone(), gates[i].clone());
            rt.spawn(move || {
                started.fetch_add(1, Ordering::Release);
                let _ = gate.acquire().map(|permit| permit.forget());
                ended.fetch_add(1, Ordering::Release);
            })
        })
        .collect();
    wait_for(n, &started, || {
        if started.load(Ordering::Acquire) < n {
            handles.iter().filter(|h| h.is_finished()).count()
        } else {
            0
        }
    });
    let (spawn_time, spawn_cpu) = (t0.elapsed(), util::cpu_time() - cpu0);
    // Every waiter has run; let the workers finish parking them.
    while rt.metrics().workers.iter().any(|w| w.runnable > 0) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = snapshot();
    let spawned = started.load(Ordering::Acquire);
    let (end_time, end_cpu) = end_all(spawned, &ended, &gates, |g| g.add_permits(1));
    let error = handles
        .into_iter()
        .filter(|h| h.is_finished())
        .find_map(|h| h.join().err())
        .map(|e| e.to_string());
    std::mem::forget(rt);
    Outcome {
        spawned,
        rss_kib: (before.0, after.0),
        pte_kib: (before.1, after.1),
        spawn_time,
        spawn_cpu,
        end_time,
        end_cpu,
        error,
    }
}

/// Like [`greenmongo`], but the waiters are spawned by one coroutine on each worker.
fn greenmongo_in(n: usize, stack: usize) -> Outcome {
    use greenmongo_runtime::{JoinHandle, Runtime, coroutine, sync::Semaphore};

    let mut builder = Runtime::builder().worker_threads(2);
    if stack != 0 {
        builder = builder.stack_size(stack);
    }
    let rt = builder.build().expect("greenmongo runtime");
    for _ in 0..4 {
        rt.spawn(|| ()).join().expect("warm-up");
    }
    let gates = gates(n, || Semaphore::new(0));
    let halves = halves(&gates);
    let before = snapshot();
    let (started, ended) = counters();
    let (t0, cpu0) = (Instant::now(), util::cpu_time());
    // From a plain thread, spawns go to the workers in turn: one spawner each.
    let spawners: Vec<_> = halves
        .into_iter()
        .map(|half| {
            let (started, ended) = (started.clone(), ended.clone());
            rt.spawn(move || -> Vec<JoinHandle<()>> {
                half.into_iter()
                    .map(|gate| {
                        let (started, ended) = (started.clone(), ended.clone());
                        coroutine::spawn(move || {
                            started.fetch_add(1, Ordering::Release);
                            let _ = gate.acquire().map(|permit| permit.forget());
                            ended.fetch_add(1, Ordering::Release);
                        })
                    })
                    .collect()
            })
        })
        .collect();
    let handles: Vec<_> = spawners
        .into_iter()
        .flat_map(|s| s.join().expect("spawner"))
        .collect();
    wait_for(n, &started, || {
        if started.load(Ordering::Acquire) < n {
            handles.iter().filter(|h| h.is_finished()).count()
        } else {
            0
        }
    });
    let (spawn_time, spawn_cpu) = (t0.elapsed(), util::cpu_time() - cpu0);
    while rt.metrics().workers.iter().any(|w| w.runnable > 0) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = snapshot();
    let spawned = started.load(Ordering::Acquire);
    let (end_time, end_cpu) = end_all(spawned, &ended, &gates, |g| g.add_permits(1));
    let error = handles
        .into_iter()
        .filter(|h| h.is_finished())
        .find_map(|h| h.join().err())
        .map(|e| e.to_string());
    std::mem::forget(rt);
    Outcome {
        spawned,
        rss_kib: (before.0, after.0),
        pte_kib: (before.1, after.1),
        spawn_time,
        spawn_cpu,
        end_time,
        end_cpu,
        error,
    }
}

fn may(n: usize, stack: usize) -> Outcome {
    may::config().set_workers(2);
    if stack != 0 {
        may::config().set_stack_size(stack / std::mem::size_of::<usize>());
    }
    for _ in 0..4 {
        // SAFETY: no thread-locals, trivial stack use.
        unsafe { may::coroutine::spawn(|| ()) }
            .join()
            .expect("warm-up");
    }
    let gates = gates(n, may::sync::SyncFlag::new);
    let before = snapshot();
    let (started, ended) = counters();
    let (t0, cpu0) = (Instant::now(), util::cpu_time());
    let mut handles = Vec::with_capacity(n);
    let mut error = None;
    // may panics when it cannot map a stack: caught below and reported. The default hook
    // would symbolize a backtrace (under RUST_BACKTRACE), which needs the memory mappings
    // that just ran out, and can deadlock there.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for gate in &gates {
        let (started, ended, gate) = (started.clone(), ended.clone(), gate.clone());
        let spawned = std::panic::catch_unwind(move || {
            // SAFETY: no thread-locals; the waiter uses little stack.
            unsafe {
                may::coroutine::spawn(move || {
                    started.fetch_add(1, Ordering::Release);
                    gate.wait();
                    ended.fetch_add(1, Ordering::Release);
                })
            }
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(panic) => {
                error = Some(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "spawn panicked".to_owned()),
                );
                break;
            }
        }
    }
    std::panic::set_hook(hook);
    let spawned = handles.len();
    wait_for(spawned, &started, || 0);
    let (spawn_time, spawn_cpu) = (t0.elapsed(), util::cpu_time() - cpu0);
    std::thread::sleep(Duration::from_millis(100));
    let after = snapshot();
    // After a failed spawn the process is out of memory mappings, and waking may's
    // coroutines aborts it: no end is measured then.
    let (end_time, end_cpu) = match error {
        None => end_all(spawned, &ended, &gates, |g| g.fire()),
        Some(_) => (Duration::ZERO, Duration::ZERO),
    };
    std::mem::forget(handles); // the process exits; nothing to join
    Outcome {
        spawned: started.load(Ordering::Acquire),
        rss_kib: (before.0, after.0),
        pte_kib: (before.1, after.1),
        spawn_time,
        spawn_cpu,
        end_time,
        end_cpu,
        error,
    }
}

fn tokio(n: usize) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for _ in 0..4 {
        rt.block_on(rt.spawn(async {})).expect("warm-up");
    }
    let gates = gates(n, || tokio::sync::Semaphore::new(0));
    let before = snapshot();
    let (started, ended) = counters();
    let (t0, cpu0) = (Instant::now(), util::cpu_time());
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (started, ended, gate) = (started.clone(), ended.clone(), gates[i].clone());
            rt.spawn(async move {
                started.fetch_add(1, Ordering::Release);
                let _ = gate.acquire().await.map(|permit| permit.forget());
                ended.fetch_add(1, Ordering::Release);
            })
        })
        .collect();
    wait_for(n, &started, || 0);
    let (spawn_time, spawn_cpu) = (t0.elapsed(), util::cpu_time() - cpu0);
    std::thread::sleep(Duration::from_millis(100));
    let after = snapshot();
    let (end_time, end_cpu) = end_all(n, &ended, &gates, |g| g.add_permits(1));
    drop(handles);
    std::mem::forget(rt);
    Outcome {
        spawned: started.load(Ordering::Acquire),
        rss_kib: (before.0, after.0),
        pte_kib: (before.1, after.1),
        spawn_time,
        spawn_cpu,
        end_time,
        end_cpu,
        error: None,
    }
}

/// Like [`tokio`], but the tasks are spawned by one task on each worker.
fn tokio_in(n: usize) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for _ in 0..4 {
        rt.block_on(rt.spawn(async {})).expect("warm-up");
    }
    let gates = gates(n, || tokio::sync::Semaphore::new(0));
    let halves = halves(&gates);
    let before = snapshot();
    let (started, ended) = counters();
    let (t0, cpu0) = (Instant::now(), util::cpu_time());
    let spawners: Vec<_> = halves
        .into_iter()
        .map(|half| {
            let (started, ended) = (started.clone(), ended.clone());
            rt.spawn(async move {
                half.into_iter()
                    .map(|gate| {
                        let (started, ended) = (started.clone(), ended.clone());
                        tokio::spawn(async move {
                            started.fetch_add(1, Ordering::Release);
                            let _ = gate.acquire().await.map(|permit| permit.forget());
                            ended.fetch_add(1, Ordering::Release);
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let handles: Vec<_> = spawners
        .into_iter()
        .flat_map(|s| rt.block_on(s).expect("spawner"))
        .collect();
    wait_for(n, &started, || 0);
    let (spawn_time, spawn_cpu) = (t0.elapsed(), util::cpu_time() - cpu0);
    std::thread::sleep(Duration::from_millis(100));
    let after = snapshot();
    let (end_time, end_cpu) = end_all(n, &ended, &gates, |g| g.add_permits(1));
    drop(handles);
    std::mem::forget(rt);
    Outcome {
        spawned: started.load(Ordering::Acquire),
        rss_kib: (before.0, after.0),
        pte_kib: (before.1, after.1),
        spawn_time,
        spawn_cpu,
        end_time,
        end_cpu,
        error: None,
    }
}

/// The page faults alone: two threads each map `n / 2` slots of a default stack and its
/// guard page, and touch the top page of each, as a coroutine's first frame does.
fn first_touch(n: usize) -> Outcome {
    const SLOT: usize = 256 * KIB + 4 * KIB;
    let (rss0, pte0) = snapshot();
    let (t, cpu) = (Instant::now(), util::cpu_time());
    let threads: Vec<_> = [n / 2, n - n / 2]
        .into_iter()
        .map(|slots| {
            std::thread::spawn(move || {
                let len = slots * SLOT;
                // SAFETY: a fresh anonymous mapping, written only inside its length.
                unsafe {
                    let base = libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE
                            | libc::MAP_ANONYMOUS
                            | libc::MAP_NORESERVE
                            | libc::MAP_STACK,
                        -1,
                        0,
                    );
                    assert_ne!(base, libc::MAP_FAILED, "mmap");
                    let base = base.cast::<u8>();
                    for i in 0..slots {
                        base.add((i + 1) * SLOT - 64).write_volatile(1);
                    }
                    base as usize // left mapped: the RSS reading below counts it
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("toucher");
    }
    let (spawn_time, spawn_cpu) = (t.elapsed(), util::cpu_time() - cpu);
    let (rss1, pte1) = snapshot();
    Outcome {
        spawned: n,
        rss_kib: (rss0, rss1),
        pte_kib: (pte0, pte1),
        spawn_time,
        spawn_cpu,
        end_time: Duration::ZERO,
        end_cpu: Duration::ZERO,
        error: None,
    }
}

/// Runs one case in this process and prints it as one `RESULT` line.
fn child(case: &str) {
    let mut parts = case.split(',');
    let (name, stack, n) = (
        parts.next().expect("name"),
        parts.next().expect("stack").parse().expect("stack"),
        parts.next().expect("count").parse().expect("count"),
    );
    let o = match name {
        "first-touch" => first_touch(n),
        "greenmongo" => greenmongo(n, stack),
        "greenmongo-in" => greenmongo_in(n, stack),
        "may" => may(n, stack),
        "tokio-mt" => tokio(n),
        "tokio-mt-in" => tokio_in(n),
        other => panic!("unknown case {other}"),
    };
    println!(
        "RESULT {} {} {} {} {} {} {} {} {}",
        o.spawned,
        o.rss_kib.0,
        o.rss_kib.1,
        o.pte_kib.0,
        o.pte_kib.1,
        o.spawn_time.as_micros(),
        o.spawn_cpu.as_nanos(),
        o.end_time.as_micros(),
        o.end_cpu.as_nanos()
    );
    if let Some(e) = o.error {
        println!("ERROR {e}");
    }
    std::io::Write::flush(&mut std::io::stdout()).expect("flush");
    // Exit without dropping the runtimes (their threads, now idle), which is not measured.
    std::process::exit(0);
}

fn stack_label(name: &str, stack: usize) -> String {
    match (name, stack) {
        ("greenmongo" | "greenmongo-in", 0) => "256 KiB (default)".to_owned(),
        ("may", 0) => "32 KiB (default)".to_owned(),
        ("tokio-mt" | "tokio-mt-in", _) => "- (stackless)".to_owned(),
        ("first-touch", _) => "256 KiB (no runtime)".to_owned(),
        (_, s) => format!("{} KiB", s / KIB),
    }
}

/// The stack part of a case's key: `default` or the size in KiB (`16KiB`).
fn case_stack(stack: usize) -> String {
    match stack {
        0 => "default".to_owned(),
        s => format!("{}KiB", s / KIB),
    }
}

fn main() {
    if let Ok(case) = std::env::var("GM_MEMORY_CASE") {
        return child(&case);
    }
    // `cargo bench` passes `--bench`; a `--list` (from `cargo bench -- --list`) names nothing.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let exe = std::env::current_exe().expect("current exe");
    let max_maps = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default();
    println!(
        "memory: RSS per idle (parked) coroutine/task, 2 workers each; vm.max_map_count = {}",
        max_maps.trim()
    );
    println!(
        "{:<13} {:<18} {:>9} {:>10} {:>14} {:>14} {:>12} {:>10} {:>12} {:>10}  note",
        "runtime",
        "stack",
        "count",
        "spawned",
        "RSS/coroutine",
        "PTE/coroutine",
        "spawns/s",
        "CPU/spawn",
        "ends/s",
        "CPU/end"
    );
    for (name, stack) in RUNTIMES {
        for n in COUNTS {
            let key = format!("{name}/{}/{n}", case_stack(stack));
            if !filters.is_empty() && !filters.iter().any(|f| key.contains(f.as_str())) {
                continue;
            }
            let out = Command::new(&exe)
                .env("GM_MEMORY_CASE", format!("{name},{stack},{n}"))
                .output()
                .expect("run memory case");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let result = stdout.lines().find_map(|l| l.strip_prefix("RESULT "));
            let error = stdout.lines().find_map(|l| l.strip_prefix("ERROR "));
            let label = stack_label(name, stack);
            let Some(result) = result else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr
                    .lines()
                    .find(|l| l.contains("panicked") || l.contains("error"))
                    .or_else(|| stderr.lines().last())
                    .unwrap_or("no output")
                    .to_owned();
                println!(
                    "{name:<13} {label:<18} {n:>9} {:>10} {:>14} {:>14} {:>12} {:>10} {:>12} {:>10}  crashed ({}): {last}",
                    "-", "-", "-", "-", "-", "-", "-", out.status
                );
                continue;
            };
            let v: Vec<usize> = result
                .split_whitespace()
                .map(|x| x.parse().expect("number"))
                .collect();
            let (spawned, rss0, rss1, pte0, pte1) = (v[0], v[1], v[2], v[3], v[4]);
            let cpu = |ns: usize| {
                if spawned == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.2} us", ns as f64 / 1e3 / spawned as f64)
                }
            };
            let rate = |micros: usize| {
                if micros == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.0}", spawned as f64 * 1e6 / micros as f64)
                }
            };
            let per = |a: usize, b: usize| {
                if spawned == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.2} KiB", b.saturating_sub(a) as f64 / spawned as f64)
                }
            };
            println!(
                "{name:<13} {label:<18} {n:>9} {spawned:>10} {:>14} {:>14} {:>12} {:>10} {:>12} {:>10}  {}",
                per(rss0, rss1),
                per(pte0, pte1),
                rate(v[5]),
                cpu(v[6]),
                rate(v[7]),
                if v[7] == 0 { "-".to_owned() } else { cpu(v[8]) },
                error.map_or_else(String::new, |e| format!("spawn failed: {e}"))
            );
        }
    }
}
