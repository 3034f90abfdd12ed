//! The driver core against the real test server: connect and run commands from
//! coroutines and plain threads, concurrently, and surface server errors.

mod util {
    pub mod server;
}

use bson::{Bson, doc};
use greenmongo::{ErrorKind, runtime::Runtime, runtime::coroutine};
use util::server;

#[test]
fn ping_from_a_plain_thread_and_from_a_coroutine() {
    let Some(client) = server::client() else {
        return;
    };
    let reply = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    assert_eq!(reply.get("ok").and_then(Bson::as_f64), Some(1.0), "{reply}");

    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let c = client.clone();
    let reply = rt.block_on(move || c.database("admin").run_command(doc! { "ping": 1 }).run());
    assert_eq!(reply.unwrap().get("ok").and_then(Bson::as_f64), Some(1.0));
}

#[test]
fn a_thousand_coroutines_run_commands_concurrently_on_two_workers() {
    let Some(client) = server::client() else {
        return;
    };
    let db_name = server::unique("core_concurrency");
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let c = client.clone();
    let db = db_name.clone();
    let inserted: i32 = rt.block_on(move || {
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                let db = c.database(&db);
                coroutine::spawn(move || {
                    let reply = db
                        .run_command(
                            doc! { "insert": "items", "documents": [ { "_id": i, "n": i } ] },
                        )
                        .run()
                        .unwrap();
                    reply.get_i32("n").unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(inserted, 1000);
    let db = client.database(&db_name);
    let count = db.run_command(doc! { "count": "items" }).run().unwrap();
    assert_eq!(
        count
            .get("n")
            .and_then(Bson::as_i32)
            .or_else(|| count.get_i64("n").ok().map(|n| n as i32)),
        Some(1000),
        "{count}"
    );
    let sum = db
        .run_command(doc! { "aggregate": "items", "pipeline": [ { "$group": { "_id": null, "s": { "$sum": "$n" } } } ], "cursor": {} }).run()
        .unwrap();
    let first = &sum
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()[0];
    let total = first.as_document().unwrap().get("s").cloned().unwrap();
    assert!(
        matches!(total, Bson::Int32(499_500) | Bson::Int64(499_500)),
        "{total}"
    );
    db.run_command(doc! { "dropDatabase": 1 }).run().unwrap();
}

#[test]
fn a_command_error_surfaces_the_servers_code_and_message() {
    let Some(client) = server::client() else {
        return;
    };
    let err = client
        .database("admin")
        .run_command(doc! { "definitelyNotACommand": 1 })
        .run()
        .unwrap_err();
    match &*err.kind {
        ErrorKind::Command(c) => {
            assert_eq!(c.code, 59, "{err}");
            assert_eq!(c.code_name, "CommandNotFound");
            assert!(c.message.contains("definitelyNotACommand"), "{err}");
        }
        other => panic!("expected a command error, got {other:?}"),
    }
    assert_eq!(err.code(), Some(59));
    // The connection stays usable after a command error.
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
}

#[test]
fn list_database_names_sees_a_new_database() {
    let Some(client) = server::client() else {
        return;
    };
    let name = server::unique("core_listdb");
    let db = client.database(&name);
    db.run_command(doc! { "insert": "c", "documents": [ { "x": 1 } ] })
        .run()
        .unwrap();
    assert!(client.list_database_names().run().unwrap().contains(&name));
    db.run_command(doc! { "dropDatabase": 1 }).run().unwrap();
    assert!(!client.list_database_names().run().unwrap().contains(&name));
}

#[test]
fn an_unreachable_server_fails_server_selection_with_a_clear_error() {
    // A port that was free a moment ago: connection refused, reported with the address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri =
        format!("mongodb://127.0.0.1:{port}/?connectTimeoutMS=2000&serverSelectionTimeoutMS=1500");
    let client = greenmongo::Client::with_uri_str(&uri).unwrap();
    let started = std::time::Instant::now();
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "gave up in time"
    );
    assert!(
        matches!(*err.kind, ErrorKind::ServerSelection { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")),
        "names the server: {text}"
    );
    assert!(
        text.contains("serverSelectionTimeoutMS"),
        "names the option: {text}"
    );
    assert!(text.to_lowercase().contains("refused"), "says why: {text}");
}
