//! A stack overflow hits the guard page and is reported, naming the coroutine.
//!
//! The overflow aborts the process, so the test re-runs itself as a child process.

mod util;

use std::process::Command;

use greenmongo_runtime::coroutine;

const CHILD: &str = "GREENMONGO_OVERFLOW_CHILD";

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let buf = std::hint::black_box([depth as u8; 1024]);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + buf[0] as u64
}

#[test]
fn overflow_is_caught_by_the_guard_page_and_names_the_coroutine() {
    if std::env::var_os(CHILD).is_some() {
        let rt = util::runtime(1);
        rt.block_on(|| {
            coroutine::Builder::new()
                .name("deep-recursion")
                .stack_size(64 * 1024)
                .spawn(|| recurse(0))
                .join()
                .unwrap()
        });
        unreachable!("the overflow aborts the process");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "overflow_is_caught_by_the_guard_page_and_names_the_coroutine",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("coroutine 'deep-recursion' (id ")
            && stderr.contains("has overflowed its stack of 65536 bytes; the guard page caught it"),
        "unexpected child stderr:\n{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{:?}", out.status);
}

#[test]
fn a_plain_segfault_is_not_reported_as_an_overflow() {
    if std::env::var_os(CHILD).is_some() {
        let rt = util::runtime(1);
        rt.block_on(|| {
            // SAFETY: deliberately faulting on a null write, in a child process.
            unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
        });
        unreachable!();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_plain_segfault_is_not_reported_as_an_overflow",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("overflowed"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{:?}", out.status);
}

/// The runtime's own stack size comes from a worker's arena, where slots lie back to back:
/// the overflowing coroutine's guard page sits right above its neighbour's stack, which
/// must stay untouched (the neighbour is parked mid-call when the overflow happens).
#[test]
fn overflow_of_an_arena_stack_hits_its_guard_not_the_neighbouring_stack() {
    if std::env::var_os(CHILD).is_some() {
        let rt = util::runtime(1);
        rt.block_on(|| {
            // Spawned first, so it gets the slot below the next one.
            let neighbour = coroutine::Builder::new()
                .name("neighbour")
                .spawn(|| greenmongo_runtime::sleep(std::time::Duration::from_secs(60)));
            coroutine::yield_now();
            coroutine::Builder::new()
                .name("arena-deep")
                .spawn(|| recurse(0))
                .join()
                .unwrap();
            drop(neighbour);
        });
        unreachable!("the overflow aborts the process");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "overflow_of_an_arena_stack_hits_its_guard_not_the_neighbouring_stack",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("coroutine 'arena-deep' (id ")
            && stderr
                .contains("has overflowed its stack of 262144 bytes; the guard page caught it"),
        "unexpected child stderr:\n{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{:?}", out.status);
}
