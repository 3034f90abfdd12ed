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
