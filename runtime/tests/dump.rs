//! The coroutine dump shows names, workers, states and what each waits on.

mod util;

use std::{io::Read, sync::Arc, time::Duration};

use greenmongo_runtime::{
    CoroutineState,
    coroutine::{self, WaitKind},
    net::{TcpListener, TcpStream},
    sleep,
    sync::Mutex,
};

#[test]
fn the_dump_names_what_each_coroutine_waits_on() {
    let rt = util::runtime(2);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lock = Arc::new(Mutex::new(()));
    let guard = lock.try_lock().unwrap();
    let l2 = lock.clone();
    let _a = rt.spawn(move || {
        coroutine::Builder::new()
            .name("sleeper")
            .spawn(|| sleep(Duration::from_secs(30)))
            .join()
    });
    let _b = rt.spawn(move || {
        coroutine::Builder::new()
            .name("locker")
            .spawn(move || l2.lock().map(|_| ()))
            .join()
    });
    let _c = rt.spawn(move || {
        coroutine::Builder::new()
            .name("reader")
            .spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.read(&mut [0u8; 1])
            })
            .join()
    });
    let _server_side = listener.accept().unwrap();
    // Wait (bounded) until all six have parked; a loaded machine may take a while.
    let parked_by = std::time::Instant::now() + Duration::from_secs(10);
    let mut dump = rt.dump();
    while !(dump.len() == 6 && dump.iter().all(|c| c.state == CoroutineState::Waiting))
        && std::time::Instant::now() < parked_by
    {
        std::thread::sleep(Duration::from_millis(10));
        dump = rt.dump();
    }
    let find = |name: &str| {
        dump.iter()
            .find(|c| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} in {dump:?}"))
    };
    assert_eq!(find("sleeper").wait, WaitKind::Timer);
    assert_eq!(find("locker").wait, WaitKind::Lock);
    assert!(matches!(
        find("reader").wait,
        WaitKind::Socket { write: false, .. }
    ));
    assert!(dump.iter().all(|c| c.state == CoroutineState::Waiting));
    // The three parents wait on join.
    assert_eq!(dump.iter().filter(|c| c.wait == WaitKind::Join).count(), 3);
    let text = rt.dump_string();
    assert!(text.starts_with("6 coroutines"), "{text}");
    assert!(text.contains("sleeper") && text.contains("timer"), "{text}");
    let metrics = rt.metrics();
    assert_eq!(metrics.coroutines(), 6);
    assert_eq!(metrics.workers.len(), 2);
    drop(guard);
}
