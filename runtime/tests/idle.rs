//! A runtime with nothing to do burns no CPU, also right after cross-thread traffic has
//! made its workers spin before sleeping (`Builder::idle_spin`).

mod util;

use std::time::Duration;

use greenmongo_runtime::sync::mpsc;

/// CPU time the runtime's worker threads have used, from `/proc` (in clock ticks of
/// 10 ms: `sysconf(_SC_CLK_TCK)` is 100 on Linux).
fn workers_cpu() -> Duration {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("task").path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("greenmongo-work") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    Duration::from_millis(ticks * 10)
}

#[test]
fn workers_stop_spinning_once_the_mail_stops() {
    let rt = greenmongo_runtime::Runtime::builder()
        .worker_threads(2)
        .idle_spin(Duration::from_micros(50))
        .build()
        .expect("runtime");
    // Each ping from this plain thread is mail for the ponger's worker, coming within
    // microseconds of its last: the pattern that makes a worker spin before it sleeps.
    let (ping_tx, ping_rx) = mpsc::channel::<u32>();
    let (pong_tx, pong_rx) = mpsc::channel::<u32>();
    let ponger = rt.spawn(move || {
        while let Ok(v) = ping_rx.recv() {
            pong_tx.send(v).unwrap();
        }
    });
    for i in 0..5_000 {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv().unwrap(), i);
    }
    // Idle now (the ponger waits for a ping that does not come). A worker that kept
    // spinning would burn this whole window, 500 ms, of CPU; sleeping workers burn
    // next to none. The bound leaves room for tick-granular accounting.
    let before = workers_cpu();
    std::thread::sleep(Duration::from_millis(500));
    let burnt = workers_cpu() - before;
    assert!(
        burnt < Duration::from_millis(100),
        "{burnt:?} of CPU while idle"
    );
    drop(ping_tx);
    ponger.join().unwrap();
}
