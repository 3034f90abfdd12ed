//! Issue 17 item 4: a client outlives the runtime it was created in. Its monitors run as
//! coroutines of that runtime; once it is gone the client notices (a monitor that no
//! longer takes requests) and starts them again where it is used now: a coroutine of
//! the current runtime, or a thread.

mod util {
    pub mod server;
}

use std::time::Duration;

use bson::doc;
use greenmongo::{
    runtime::{time::with_timeout, Runtime},
    Client,
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
