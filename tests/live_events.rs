//! Command monitoring against the real test server.

mod util {
    pub mod server;
}

use std::sync::{Arc, Mutex};

use bson::doc;
use greenmongo::{
    Client, ClientOptions,
    event::{CommandEvent, EventHandler},
};
use util::server;

fn monitored(uri: &str) -> (Client, Arc<Mutex<Vec<CommandEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let mut options = ClientOptions::parse(uri).unwrap();
    options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
        sink.lock().unwrap().push(e.clone())
    }));
    (Client::with_options(options).unwrap(), events)
}

#[test]
fn started_and_succeeded_or_failed_pair_up_by_request_id() {
    let Some(uri) = server::uri() else { return };
    let (client, events) = monitored(&uri);
    let db = client.database(&server::unique("events"));
    let coll = db.collection::<bson::Document>("c");
    coll.insert_one(doc! { "x": 1 }).run().unwrap();
    coll.find_one(doc! {}).run().unwrap();
    db.run_command(doc! { "definitelyNotACommand": 1 })
        .run()
        .unwrap_err();
    db.drop().run().unwrap();

    let events = events.lock().unwrap();
    let names: Vec<&str> = events.iter().map(CommandEvent::command_name).collect();
    // The handshake (hello) is not published; the four commands are, twice each.
    assert_eq!(
        names,
        [
            "insert",
            "insert",
            "find",
            "find",
            "definitelyNotACommand",
            "definitelyNotACommand",
            "dropDatabase",
            "dropDatabase"
        ]
    );
    let CommandEvent::Started(insert) = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert_eq!(insert.command.get_str("$db").unwrap(), db.name());
    assert_eq!(insert.database_name, db.name());
    // Even a new client's first command carries its implicit session.
    assert!(insert.command.contains_key("lsid"), "{}", insert.command);
    let CommandEvent::Succeeded(done) = &events[1] else {
        panic!("{:?}", events[1])
    };
    assert_eq!(done.request_id, insert.request_id);
    assert_eq!(done.reply.get_i32("n").unwrap(), 1);
    assert_eq!(done.connection, insert.connection);
    let CommandEvent::Failed(failed) = &events[5] else {
        panic!("{:?}", events[5])
    };
    assert_eq!(failed.failure.code(), Some(59));
}

/// The sessions spec's gossip: each command carries the highest `$clusterTime` the
/// client has seen, which after a write is at least the write reply's.
#[test]
fn the_highest_cluster_time_seen_goes_out_with_the_next_command() {
    let Some(uri) = server::uri() else { return };
    let (client, events) = monitored(&uri);
    let db = client.database(&server::unique("gossip"));
    let coll = db.collection::<bson::Document>("c");
    coll.insert_one(doc! { "x": 1 }).run().unwrap();
    coll.find_one(doc! {}).run().unwrap();
    db.drop().run().unwrap();

    let events = events.lock().unwrap();
    let started = |name: &str| {
        events
            .iter()
            .find_map(|e| match e {
                CommandEvent::Started(s) if s.command_name == name => Some(s.command.clone()),
                _ => None,
            })
            .unwrap()
    };
    let Some(CommandEvent::Succeeded(inserted)) = events.get(1) else {
        panic!("{:?}", events.get(1))
    };
    let time = |d: &bson::Document| d.get_timestamp("clusterTime").unwrap();
    let Ok(written) = inserted.reply.get_document("$clusterTime") else {
        // A standalone server shows no cluster time, and is sent none.
        assert!(!started("find").contains_key("$clusterTime"));
        println!("skipped: the server shows no $clusterTime (standalone)");
        return;
    };
    let sent = started("find");
    let gossiped = sent.get_document("$clusterTime").unwrap();
    assert!(time(gossiped) >= time(written), "{gossiped} < {written}");
    // The whole document goes back, signature included, after `$db`.
    assert_eq!(
        gossiped.keys().collect::<Vec<_>>(),
        written.keys().collect::<Vec<_>>()
    );
    let keys: Vec<&String> = sent.keys().collect();
    let at = |k: &str| keys.iter().position(|key| *key == k).unwrap();
    assert!(at("$db") < at("$clusterTime"), "{sent}");
}

/// A command the caller wrote a `$clusterTime` into runs, and its event shows one. (That
/// the caller's field is dropped from the bytes is `executor::tests`' to check: the event
/// is a `Document`, where a second field of the same name could not show.)
#[test]
fn a_command_with_the_callers_cluster_time_runs_and_shows_one() {
    let Some(uri) = server::uri() else { return };
    let (client, events) = monitored(&uri);
    let db = client.database("admin");
    let reply = db.run_command(doc! { "ping": 1 }).run().unwrap();
    let Ok(seen) = reply.get_document("$clusterTime") else {
        println!("skipped: the server shows no $clusterTime (standalone)");
        return;
    };
    db.run_command(doc! { "ping": 1, "$clusterTime": seen.clone() })
        .run()
        .unwrap();
    let events = events.lock().unwrap();
    let Some(CommandEvent::Started(ping)) = events.get(2) else {
        panic!("{:?}", events.get(2))
    };
    assert_eq!(
        ping.command.keys().filter(|k| *k == "$clusterTime").count(),
        1
    );
}

#[test]
fn authentication_is_never_published() {
    let Some(uri) = server::uri_from("GREENMONGO_TEST_AUTH_URI") else {
        return;
    };
    let (client, events) = monitored(&uri);
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    let names: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.command_name().to_owned())
        .collect();
    assert_eq!(names, ["ping", "ping"]);
}
