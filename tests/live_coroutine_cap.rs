//! Issue 17 item 5: a client created when no coroutine can be spawned connects once
//! coroutines can be spawned again.
//!
//! A coroutine's guarded stack takes two memory mappings, so the coroutine cap is Linux's
//! `vm.max_map_count`. The test brings the process to that cap with mappings of its own
//! (one region split by `mprotect` into as many mappings as it needs), creates the
//! client there (its monitor's spawn fails), unmaps the region, and pings. Alone in its
//! test binary: at the cap every thread of the process is short of mappings.

mod util {
    pub mod server;
}

use std::{ptr, sync::Arc, time::Duration};

use bson::doc;
use greenmongo::{
    Client,
    runtime::{Runtime, coroutine, sync::Semaphore, time::with_timeout},
};

/// How many mappings the process has now.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A region of pages whose every other page is inaccessible: `count` mappings (odd).
struct Filler {
    base: *mut libc::c_void,
    len: usize,
}

impl Filler {
    fn new(count: usize) -> Filler {
        let page = 4096;
        let len = count * page;
        // SAFETY: an anonymous private mapping with no address hint; checked below.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(
            base,
            libc::MAP_FAILED,
            "{}",
            std::io::Error::last_os_error()
        );
        for i in (1..count).step_by(2) {
            // SAFETY: page `i` lies inside the mapping made above, which nothing else uses.
            let done = unsafe {
                libc::mprotect(
                    base.cast::<u8>().add(i * page).cast(),
                    page,
                    libc::PROT_NONE,
                )
            };
            if done != 0 {
                break; // the cap: as full as it gets
            }
        }
        Filler { base, len }
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        // SAFETY: the whole mapping made in `new`, not referenced by anything.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

#[test]
fn a_client_created_at_the_coroutine_cap_connects_once_coroutines_can_be_spawned() {
    let Some(uri) = util::server::uri() else {
        return;
    };
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    rt.block_on(move || {
        let free = max_map_count().saturating_sub(mappings());
        let filler = Filler::new((free | 1) + 2);
        // A finished coroutine's stack is kept for reuse: spawn (and keep parked) until a
        // spawn has to map a stack and cannot.
        let gate = Arc::new(Semaphore::new(0));
        let mut parked = Vec::new();
        let refused = loop {
            assert!(
                parked.len() < 1000,
                "1,000 coroutines spawned at the cap ({} mappings)",
                mappings()
            );
            let gate = gate.clone();
            let handle = coroutine::spawn(move || drop(gate.acquire()));
            coroutine::yield_now();
            if handle.is_finished() {
                break handle.join().unwrap_err();
            }
            parked.push(handle);
        };
        assert!(
            refused.to_string().contains("vm.max_map_count"),
            "{refused}"
        );

        let client = Client::with_uri_str(&uri).unwrap();
        let ping = || {
            client
                .database("admin")
                .run_command(doc! { "ping": 1 })
                .run()
        };
        let at_the_cap = with_timeout(Duration::from_millis(300), ping);
        assert!(at_the_cap.is_err(), "no monitor can run at the cap");
        drop(filler);
        gate.add_permits(parked.len());
        for handle in parked {
            handle.join().unwrap();
        }

        assert!(
            coroutine::spawn(|| ()).join().is_ok(),
            "coroutines spawn again"
        );
        with_timeout(Duration::from_secs(5), ping)
            .expect("the client started its monitor once it could");
    });
}
