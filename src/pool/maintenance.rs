//! The pool's background task: fill up to `minPoolSize`, close idle and stale
//! connections (the CMAP spec's "Background Thread").

use std::{
    io,
    sync::{Arc, Weak},
    thread,
    time::Instant,
};

use super::{DEFAULT_MAINTENANCE_INTERVAL, PoolConnection, PoolState, shared::Inner};
use crate::runtime::{Handle, coroutine, sync::mpsc};

const NAME: &str = "greenmongo-pool-maintenance";

/// Starts the task for `pool`: a coroutine when called inside a runtime, a thread
/// otherwise. Returns the sender that wakes it; dropping the sender ends it.
pub(super) fn start<C: PoolConnection>(pool: &Arc<Inner<C>>) -> mpsc::Sender<()> {
    let (wake, woken) = mpsc::bounded(1);
    let pool = Arc::downgrade(pool);
    let task = move || run(pool, woken);
    if Handle::try_current().is_some() {
        // Detached; it never keeps the runtime alive: a shutdown unwinds it like any other.
        drop(coroutine::Builder::new().name(NAME).spawn(task));
    } else if let Err(e) = thread::Builder::new().name(NAME.into()).spawn(task) {
        // The pool still works, only without minPoolSize and idle pruning.
        eprintln!("greenmongo: cannot start the connection pool's maintenance thread: {e}");
    }
    wake
}

/// Runs maintenance every interval and whenever woken, until the pool is closed or
/// dropped (or the runtime shuts down). Holds the pool only during a run.
fn run<C: PoolConnection>(pool: Weak<Inner<C>>, woken: mpsc::Receiver<()>) {
    loop {
        let interval = {
            let Some(pool) = pool.upgrade() else { return };
            if pool.lock().status == PoolState::Closed {
                return;
            }
            pool.maintain();
            pool.options
                .maintenance_interval
                .unwrap_or(DEFAULT_MAINTENANCE_INTERVAL)
        };
        match woken.recv_deadline(Instant::now().checked_add(interval)) {
            Ok(()) => {}
            Err(mpsc::RecvError::Wait(e)) if e.kind() == io::ErrorKind::TimedOut => {}
            // The pool was dropped, or the runtime is shutting down.
            Err(_) => return,
        }
    }
}
