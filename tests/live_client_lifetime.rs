//! Issue 17 item 4: a client outlives the runtime it was created in. Its monitors run as
//! coroutines of that runtime; once it is gone the client notices (a monitor that no
//! longer takes requests) and starts them again where it is used now: a coroutine of
//! the current runtime, or a thread.

mod util {
    pub mod server;
}

use std::time::{Duration, Instant};

use bson::doc;
use greenmongo::{
    Client, ClientOptions,
    pool::{CmapEvent, ConnectionClosedReason},
    runtime::{Runtime, sleep, time::with_timeout},
};
use util::server;

fn ping(client: &Client) -> greenmongo::Result<()> {
    // A deadline well under serverSelectionTimeoutMS: waiting on a dead monitor fails.
    with_timeout(Duration::from_secs(5), || {
        client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .run()
            .map(drop)
    })
}

/// A client made (and maybe used) in a runtime that is then dropped.
fn orphaned(uri: &str, used: bool) -> Client {
    let first = Runtime::builder().worker_threads(1).build().unwrap();
    let uri = uri.to_owned();
    let client = first.block_on(move || {
        let client = Client::with_uri_str(&uri).unwrap();
        if used {
            ping(&client).unwrap();
        }
        client
    });
    drop(first);
    client
}

#[test]
fn a_client_works_in_a_second_runtime_after_its_first_is_dropped() {
    let Some(uri) = server::uri() else {
        return;
    };
    for used in [false, true] {
        let client = orphaned(&uri, used);
        let second = Runtime::builder().worker_threads(1).build().unwrap();
        let c = client.clone();
        second.block_on(move || ping(&c)).unwrap_or_else(|e| {
            panic!("first operation in the second runtime (used before: {used}): {e}")
        });
        second.block_on(move || ping(&client)).unwrap();
    }
}

#[test]
fn a_client_works_on_a_thread_after_its_runtime_is_dropped() {
    let Some(uri) = server::uri() else {
        return;
    };
    for used in [false, true] {
        let client = orphaned(&uri, used);
        ping(&client)
            .unwrap_or_else(|e| panic!("first operation on a thread (used before: {used}): {e}"));
        ping(&client).unwrap();
    }
}

#[test]
fn the_pools_maintenance_runs_again_after_its_runtime_is_dropped() {
    let Some(uri) = server::uri() else {
        return;
    };
    let mut options = ClientOptions::parse(&uri).unwrap();
    // Maintenance closes a connection idle for 300 ms (it runs every 500 ms); a checkout
    // would close it too, so after the ping nothing checks out.
    options.max_idle_time = Some(Duration::from_millis(300));
    let first = Runtime::builder().worker_threads(1).build().unwrap();
    let (client, events) = first.block_on(move || {
        let (client, events) = server::recording_client(options);
        ping(&client).unwrap();
        (client, events)
    });
    drop(first);

    let second = Runtime::builder().worker_threads(1).build().unwrap();
    second.block_on(move || {
        ping(&client).unwrap();
        let pinged = events.lock().unwrap().len();
        let started = Instant::now();
        loop {
            let pruned = events.lock().unwrap()[pinged..].iter().any(|e| {
                matches!(
                    e,
                    CmapEvent::ConnectionClosed {
                        reason: ConnectionClosedReason::Idle,
                        ..
                    }
                )
            });
            if pruned {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no idle connection closed in 10 s: the pool's maintenance ended with the \
                 first runtime and was not started again"
            );
            sleep(Duration::from_millis(50)).unwrap();
        }
    });
}
