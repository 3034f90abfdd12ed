//! The official 3.x call shape, checked against the wire: every action builder is run with
//! every one of its setters against the live server, and each option must show up in the
//! command the driver sent (the command-started event), under the name the command takes.
//! A setter that compiled but did nothing would fail here. Whether the server then accepts
//! the command does not matter: some options (a hint to a missing index) make it fail.

mod util {
    pub mod server;
}

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bson::{Bson, Document, doc};
use greenmongo::{
    Client, Collection, Database,
    event::{CommandEvent, EventHandler},
    options::{
        ClientOptions, Collation, CollectionWriteModel, CursorType, Hint, IndexModel,
        InsertOneModel, ReadConcern, ReadConcernLevel, ReadPreference, ReadPreferenceMode,
        ReturnDocument, SelectionCriteria, WriteConcern,
    },
};
use util::server;

/// A client that keeps the commands it sends.
struct Recorder {
    client: Client,
    sent: Arc<Mutex<Vec<Document>>>,
}

impl Recorder {
    fn new(uri: &str) -> Recorder {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let sink = sent.clone();
        let mut options = ClientOptions::parse(uri).unwrap();
        options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
            if let CommandEvent::Started(started) = e {
                sink.lock().unwrap().push(started.command.clone());
            }
        }));
        Recorder {
            client: Client::with_options(options).unwrap(),
            sent,
        }
    }

    /// The first command named `name` that `run` sent (whatever the server answered).
    fn command<R>(&self, name: &str, run: impl FnOnce() -> R) -> Document {
        self.sent.lock().unwrap().clear();
        drop(run());
        let sent = self.sent.lock().unwrap();
        sent.iter()
            .find(|c| c.keys().next().map(String::as_str) == Some(name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} command among {sent:?}"))
    }
}

/// Asserts `command` (or the document at `path` inside it) has every field of `expected`
/// with that value.
#[track_caller]
fn assert_has(command: &Document, expected: Document) {
    for (key, value) in &expected {
        let (container, field) = match key.split_once('.') {
            Some((outer, inner)) => (
                command
                    .get_document(outer)
                    .unwrap_or_else(|_| panic!("no {outer} in {command}")),
                inner,
            ),
            None => (command, key.as_str()),
        };
        assert_eq!(
            container.get(field),
            Some(value),
            "{key} in the command sent: {command}"
        );
    }
}

fn secondary_preferred() -> SelectionCriteria {
    ReadPreference::new(ReadPreferenceMode::SecondaryPreferred).into()
}

fn local() -> ReadConcern {
    ReadConcern::new(ReadConcernLevel::Local)
}

/// `w: 1` with a timeout: a write concern the single-node test server can satisfy.
fn w1() -> WriteConcern {
    let mut wc = WriteConcern::default();
    wc.w = Some(greenmongo::options::Acknowledgment::Nodes(1));
    wc.w_timeout = Some(Duration::from_millis(5000));
    wc
}

fn setup() -> Option<(Recorder, Database, Collection<Document>)> {
    let uri = server::uri()?;
    let recorder = Recorder::new(&uri);
    let db = recorder.client.database(&server::unique("api_shape"));
    let coll = db.collection::<Document>("c");
    coll.insert_many([doc! { "_id": 1, "x": 1 }, doc! { "_id": 2, "x": 2 }])
        .run()
        .unwrap();
    Some((recorder, db, coll))
}

#[test]
fn find_sends_every_option() {
    let Some((r, db, coll)) = setup() else { return };
    let cmd = r.command("find", || {
        coll.find(doc! { "x": 1 })
            .allow_disk_use(true)
            .allow_partial_results(true)
            .batch_size(7)
            .comment("c")
            .cursor_type(CursorType::Tailable)
            .hint(Hint::Name("x_1".into()))
            .limit(5)
            .max(doc! { "x": 9 })
            .max_await_time(Duration::from_millis(10))
            .max_time(Duration::from_millis(900))
            .min(doc! { "x": 0 })
            .no_cursor_timeout(true)
            .projection(doc! { "x": 1 })
            .read_concern(local())
            .return_key(true)
            .selection_criteria(secondary_preferred())
            .show_record_id(true)
            .skip(1)
            .sort(doc! { "x": 1 })
            .collation(Collation::builder().locale("fr").build())
            .let_vars(doc! { "v": 1 })
            .run()
    });
    assert_has(
        &cmd,
        doc! {
            "filter": { "x": 1 }, "allowDiskUse": true, "allowPartialResults": true,
            "batchSize": 7_i64, "comment": "c", "tailable": true, "hint": "x_1", "limit": 5_i64,
            "max": { "x": 9 }, "maxTimeMS": 900_i64, "min": { "x": 0 }, "noCursorTimeout": true,
            "projection": { "x": 1 }, "readConcern": { "level": "local" }, "returnKey": true,
            "showRecordId": true, "skip": 1_i64, "sort": { "x": 1 },
            "collation": { "locale": "fr" }, "let": { "v": 1 },
        },
    );
    let cmd = r.command("find", || {
        coll.find_one(doc! { "x": 2 })
            .allow_partial_results(true)
            .collation(Collation::builder().locale("fr").build())
            .comment("c")
            .hint(Hint::Keys(doc! { "_id": 1 }))
            .max(doc! { "_id": 9 })
            .max_time(Duration::from_millis(800))
            .min(doc! { "_id": 0 })
            .projection(doc! { "x": 1 })
            .read_concern(local())
            .return_key(false)
            .selection_criteria(secondary_preferred())
            .show_record_id(false)
            .skip(0)
            .sort(doc! { "x": -1 })
            .let_vars(doc! { "v": 2 })
            .run()
    });
    assert_has(
        &cmd,
        doc! {
            "filter": { "x": 2 }, "limit": 1_i64, "singleBatch": true, "allowPartialResults": true,
            "collation": { "locale": "fr" }, "comment": "c", "hint": { "_id": 1 },
            "max": { "_id": 9 }, "maxTimeMS": 800_i64, "min": { "_id": 0 },
            "projection": { "x": 1 }, "readConcern": { "level": "local" }, "returnKey": false,
            "showRecordId": false, "skip": 0_i64, "sort": { "x": -1 }, "let": { "v": 2 },
        },
    );
    db.drop().run().unwrap();
}

#[test]
fn writes_send_every_option() {
    let Some((r, db, coll)) = setup() else { return };
    let cmd = r.command("insert", || {
        coll.insert_one(doc! { "_id": 3 })
            .bypass_document_validation(true)
            .write_concern(w1())
            .comment("one")
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "bypassDocumentValidation": true, "comment": "one", "writeConcern.w": 1_i64, "writeConcern.wtimeout": 5000_i64 },
    );
    let cmd = r.command("insert", || {
        coll.insert_many([doc! { "_id": 4 }, doc! { "_id": 5 }])
            .bypass_document_validation(false)
            .ordered(false)
            .write_concern(w1())
            .comment("many")
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "bypassDocumentValidation": false, "ordered": false, "comment": "many", "writeConcern.w": 1_i64 },
    );
    let cmd = r.command("update", || {
        coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "a.$[e]": 1 } })
            .array_filters([doc! { "e": 0 }])
            .bypass_document_validation(true)
            .upsert(true)
            .collation(Collation::builder().locale("en").build())
            .hint(Hint::Name("_id_".into()))
            .write_concern(w1())
            .let_vars(doc! { "v": 1 })
            .comment("u")
            .sort(doc! { "_id": 1 })
            .run()
    });
    assert_has(
        &cmd,
        doc! { "bypassDocumentValidation": true, "let": { "v": 1 }, "comment": "u", "writeConcern.w": 1_i64 },
    );
    let update = cmd.get_array("updates").unwrap()[0].as_document().unwrap();
    assert_has(
        update,
        doc! { "arrayFilters": [{ "e": 0 }], "upsert": true, "collation": { "locale": "en" }, "hint": "_id_", "sort": { "_id": 1 }, "multi": false },
    );
    let cmd = r.command("update", || {
        coll.replace_one(doc! { "_id": 2 }, doc! { "x": 20 })
            .bypass_document_validation(true)
            .upsert(false)
            .collation(Collation::builder().locale("en").build())
            .hint(Hint::Name("_id_".into()))
            .write_concern(w1())
            .let_vars(doc! { "v": 2 })
            .comment("r")
            .sort(doc! { "_id": -1 })
            .run()
            .unwrap()
    });
    assert_has(&cmd, doc! { "let": { "v": 2 }, "comment": "r" });
    let update = cmd.get_array("updates").unwrap()[0].as_document().unwrap();
    assert_has(
        update,
        doc! { "u": { "x": 20 }, "upsert": false, "hint": "_id_", "sort": { "_id": -1 } },
    );
    let cmd = r.command("delete", || {
        coll.delete_many(doc! { "_id": { "$gt": 100 } })
            .collation(Collation::builder().locale("en").build())
            .write_concern(w1())
            .hint(Hint::Keys(doc! { "_id": 1 }))
            .let_vars(doc! { "v": 3 })
            .comment("d")
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "let": { "v": 3 }, "comment": "d", "writeConcern.w": 1_i64 },
    );
    let delete = cmd.get_array("deletes").unwrap()[0].as_document().unwrap();
    assert_has(
        delete,
        doc! { "limit": 0, "collation": { "locale": "en" }, "hint": { "_id": 1 } },
    );
    db.drop().run().unwrap();
}

#[test]
fn find_and_modify_sends_every_option() {
    let Some((r, db, coll)) = setup() else { return };
    let common = doc! {
        "maxTimeMS": 700_i64, "fields": { "x": 1 }, "sort": { "_id": 1 }, "collation": { "locale": "en" },
        "hint": "_id_", "let": { "v": 1 }, "comment": "fam", "writeConcern.w": 1_i64,
    };
    let cmd = r.command("findAndModify", || {
        coll.find_one_and_delete(doc! { "_id": 1 })
            .max_time(Duration::from_millis(700))
            .projection(doc! { "x": 1 })
            .sort(doc! { "_id": 1 })
            .write_concern(w1())
            .collation(Collation::builder().locale("en").build())
            .hint(Hint::Name("_id_".into()))
            .let_vars(doc! { "v": 1 })
            .comment("fam")
            .run()
            .unwrap()
    });
    assert_has(&cmd, common.clone());
    assert_has(&cmd, doc! { "remove": true });
    let cmd = r.command("findAndModify", || {
        coll.find_one_and_update(doc! { "_id": 2 }, doc! { "$set": { "y": 1 } })
            .array_filters([doc! { "e": 1 }])
            .bypass_document_validation(true)
            .max_time(Duration::from_millis(700))
            .projection(doc! { "x": 1 })
            .return_document(ReturnDocument::After)
            .sort(doc! { "_id": 1 })
            .upsert(true)
            .write_concern(w1())
            .collation(Collation::builder().locale("en").build())
            .hint(Hint::Name("_id_".into()))
            .let_vars(doc! { "v": 1 })
            .comment("fam")
            .run()
    });
    assert_has(&cmd, common.clone());
    assert_has(
        &cmd,
        doc! { "arrayFilters": [{ "e": 1 }], "bypassDocumentValidation": true, "new": true, "upsert": true },
    );
    let cmd = r.command("findAndModify", || {
        coll.find_one_and_replace(doc! { "_id": 2 }, doc! { "z": 1 })
            .bypass_document_validation(true)
            .max_time(Duration::from_millis(700))
            .projection(doc! { "x": 1 })
            .return_document(ReturnDocument::Before)
            .sort(doc! { "_id": 1 })
            .upsert(false)
            .write_concern(w1())
            .collation(Collation::builder().locale("en").build())
            .hint(Hint::Name("_id_".into()))
            .let_vars(doc! { "v": 1 })
            .comment("fam")
            .run()
            .unwrap()
    });
    assert_has(&cmd, common);
    assert_has(
        &cmd,
        doc! { "update": { "z": 1 }, "new": false, "upsert": false },
    );
    db.drop().run().unwrap();
}

#[test]
fn reads_send_every_option() {
    let Some((r, db, coll)) = setup() else { return };
    let cmd = r.command("aggregate", || {
        coll.aggregate([doc! { "$match": {} }])
            .allow_disk_use(true)
            .batch_size(3)
            .bypass_document_validation(true)
            .collation(Collation::builder().locale("en").build())
            .comment("agg")
            .hint(Hint::Name("_id_".into()))
            .max_await_time(Duration::from_millis(10))
            .max_time(Duration::from_millis(600))
            .read_concern(local())
            .selection_criteria(secondary_preferred())
            .write_concern(w1())
            .let_vars(doc! { "v": 1 })
            .run()
    });
    assert_has(
        &cmd,
        doc! {
            "allowDiskUse": true, "cursor.batchSize": 3_i64, "bypassDocumentValidation": true,
            "collation": { "locale": "en" }, "comment": "agg", "hint": "_id_", "maxTimeMS": 600_i64,
            "readConcern": { "level": "local" }, "let": { "v": 1 },
        },
    );
    let cmd = r.command("aggregate", || {
        coll.count_documents(doc! { "x": 1 })
            .hint(Hint::Name("_id_".into()))
            .limit(10)
            .max_time(Duration::from_millis(500))
            .skip(1)
            .collation(Collation::builder().locale("en").build())
            .selection_criteria(secondary_preferred())
            .read_concern(local())
            .comment("count")
            .run()
    });
    assert_has(
        &cmd,
        doc! { "hint": "_id_", "maxTimeMS": 500_i64, "collation": { "locale": "en" }, "readConcern": { "level": "local" }, "comment": "count" },
    );
    let pipeline = cmd.get_array("pipeline").unwrap();
    assert_eq!(pipeline[1], Bson::Document(doc! { "$skip": 1_i64 }));
    assert_eq!(pipeline[2], Bson::Document(doc! { "$limit": 10_i64 }));
    let cmd = r.command("count", || {
        coll.estimated_document_count()
            .max_time(Duration::from_millis(400))
            .selection_criteria(secondary_preferred())
            .read_concern(local())
            .comment("est")
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "maxTimeMS": 400_i64, "readConcern": { "level": "local" }, "comment": "est" },
    );
    let cmd = r.command("distinct", || {
        coll.distinct("x", doc! {})
            .max_time(Duration::from_millis(300))
            .selection_criteria(secondary_preferred())
            .read_concern(local())
            .collation(Collation::builder().locale("en").build())
            .comment("dist")
            .hint(Hint::Name("_id_".into()))
            .run()
    });
    assert_has(
        &cmd,
        doc! { "key": "x", "maxTimeMS": 300_i64, "readConcern": { "level": "local" }, "collation": { "locale": "en" }, "comment": "dist", "hint": "_id_" },
    );
    db.drop().run().unwrap();
}

#[test]
fn index_and_collection_admin_send_every_option() {
    let Some((r, db, coll)) = setup() else { return };
    let model = || IndexModel::builder().keys(doc! { "x": 1 }).build();
    let cmd = r.command("createIndexes", || {
        coll.create_index(model())
            .commit_quorum("votingMembers")
            .max_time(Duration::from_millis(5000))
            .write_concern(w1())
            .comment("ci")
            .run()
    });
    assert_has(
        &cmd,
        doc! { "commitQuorum": "votingMembers", "maxTimeMS": 5000_i64, "comment": "ci", "writeConcern.w": 1_i64 },
    );
    let created = coll
        .create_indexes([model()])
        .max_time(Duration::from_millis(5000))
        .run()
        .unwrap();
    assert_eq!(created.index_names, ["x_1"]);
    let cmd = r.command("listIndexes", || {
        coll.list_indexes()
            .max_time(Duration::from_millis(900))
            .batch_size(1)
            .comment("li")
            .run()
            .unwrap()
            .count()
    });
    assert_has(
        &cmd,
        doc! { "maxTimeMS": 900_i64, "cursor.batchSize": 1_i64, "comment": "li" },
    );
    let names = coll.list_index_names().batch_size(1).run().unwrap();
    assert_eq!(names, ["_id_", "x_1"]);
    let indexes: Vec<IndexModel> = coll
        .list_indexes()
        .run()
        .unwrap()
        .collect::<greenmongo::Result<_>>()
        .unwrap();
    assert_eq!(indexes[1].keys, doc! { "x": 1 });
    let cmd = r.command("dropIndexes", || {
        coll.drop_index("x_1")
            .max_time(Duration::from_millis(900))
            .write_concern(w1())
            .comment("di")
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "index": "x_1", "maxTimeMS": 900_i64, "comment": "di", "writeConcern.w": 1_i64 },
    );
    assert!(coll.drop_index("*").run().is_err(), "\"*\" is drop_indexes");
    let cmd = r.command("create", || {
        db.create_collection("capped")
            .capped(true)
            .size(4096)
            .max(10)
            .validator(doc! { "x": { "$exists": true } })
            .validation_level("moderate")
            .validation_action("warn")
            .write_concern(w1())
            .comment("cc")
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! {
            "capped": true, "size": 4096_i64, "max": 10_i64, "validator": { "x": { "$exists": true } },
            "validationLevel": "moderate", "validationAction": "warn", "comment": "cc",
            "writeConcern.w": 1_i64,
        },
    );
    let cmd = r.command("create", || {
        db.create_collection("view")
            .view_on("c")
            .pipeline([doc! { "$match": {} }])
            .collation(Collation::builder().locale("en").build())
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "viewOn": "c", "pipeline": [{ "$match": {} }], "collation": { "locale": "en" } },
    );
    let cmd = r.command("listCollections", || {
        db.list_collections()
            .filter(doc! { "name": "view" })
            .batch_size(5)
            .authorized_collections(true)
            .comment("lc")
            .run()
            .unwrap()
            .collect::<greenmongo::Result<Vec<_>>>()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "filter": { "name": "view" }, "cursor.batchSize": 5_i64, "authorizedCollections": true, "comment": "lc" },
    );
    let views = db
        .list_collections()
        .filter(doc! { "name": "view" })
        .run()
        .unwrap()
        .collect::<greenmongo::Result<Vec<_>>>()
        .unwrap();
    assert_eq!(views[0].name, "view");
    assert_eq!(
        views[0].collection_type,
        greenmongo::results::CollectionType::View
    );
    let mut names = db.list_collection_names().run().unwrap();
    names.sort();
    assert_eq!(names, ["c", "capped", "view"]);
    let cmd = r.command("drop", || {
        db.collection::<Document>("view")
            .drop()
            .write_concern(w1())
            .run()
            .unwrap()
    });
    assert_has(&cmd, doc! { "writeConcern.w": 1_i64 });
    let cmd = r.command("dropDatabase", || {
        db.drop().write_concern(w1()).run().unwrap()
    });
    assert_has(&cmd, doc! { "writeConcern.w": 1_i64 });
}

#[test]
fn client_and_database_commands_send_every_option() {
    let Some((r, db, coll)) = setup() else { return };
    let cmd = r.command("listDatabases", || {
        r.client
            .list_databases()
            .filter(doc! { "name": db.name() })
            .authorized_databases(true)
            .comment("ld")
            .run()
            .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "filter": { "name": db.name() }, "authorizedDatabases": true, "comment": "ld" },
    );
    let specs = r
        .client
        .list_databases()
        .filter(doc! { "name": db.name() })
        .run()
        .unwrap();
    assert_eq!(specs.len(), 1);
    assert!(!specs[0].empty);
    let names = r.client.list_database_names().run().unwrap();
    assert!(names.iter().any(|n| n == db.name()));
    let cmd = r.command("ping", || {
        db.run_command(doc! { "ping": 1 })
            .selection_criteria(secondary_preferred())
            .run()
            .unwrap()
    });
    assert_eq!(cmd.get_str("$db").unwrap(), db.name());
    let cmd = r.command("find", || {
        db.run_cursor_command(doc! { "find": "c", "batchSize": 1 })
            .selection_criteria(ReadPreference::primary().into())
            .cursor_type(CursorType::NonTailable)
            .batch_size(1)
            .max_time(Duration::from_millis(500))
            .comment("rcc")
            .run()
            .unwrap()
            .count()
    });
    assert_has(&cmd, doc! { "batchSize": 1 });
    let get_more = r.command("getMore", || {
        db.run_cursor_command(doc! { "find": "c", "batchSize": 1 })
            .batch_size(1)
            .max_time(Duration::from_millis(500))
            .comment("rcc")
            .run()
            .unwrap()
            .count()
    });
    assert_has(
        &get_more,
        doc! { "batchSize": 1_i64, "maxTimeMS": 500_i64, "comment": "rcc" },
    );
    let cmd = r.command("insert", || {
        coll.bulk_write([CollectionWriteModel::InsertOne {
            document: doc! { "_id": 9 },
        }])
        .ordered(false)
        .bypass_document_validation(true)
        .comment("bw")
        .let_vars(doc! { "v": 1 })
        .write_concern(w1())
        .run()
        .unwrap()
    });
    assert_has(
        &cmd,
        doc! { "ordered": false, "bypassDocumentValidation": true, "comment": "bw", "writeConcern.w": 1_i64 },
    );
    // Client-level bulkWrite needs MongoDB 8.0; whether or not the server has it, the
    // command the builder sent carries every option.
    let cmd = r.command("bulkWrite", || {
        r.client
            .bulk_write([InsertOneModel::builder()
                .namespace(coll.namespace())
                .document(doc! { "_id": 10 })
                .build()])
            .ordered(false)
            .bypass_document_validation(true)
            .comment("cbw")
            .let_vars(doc! { "v": 1 })
            .write_concern(w1())
            .verbose_results()
            .run()
    });
    assert_has(
        &cmd,
        doc! { "ordered": false, "bypassDocumentValidation": true, "comment": "cbw", "let": { "v": 1 }, "errorsOnly": false, "writeConcern.w": 1_i64 },
    );
    let cmd = r.command("renameCollection", || {
        coll.rename("renamed").drop_target(true).run().unwrap()
    });
    assert_has(&cmd, doc! { "dropTarget": true });
    db.drop().run().unwrap();
}

#[test]
fn every_action_runs_in_the_session_it_is_given() {
    let Some((r, db, coll)) = setup() else {
        return;
    };
    let mut s = r.client.start_session().run().unwrap();
    let lsid = Bson::Document(s.id().clone());
    let in_session = |command: Document| {
        assert_eq!(command.get("lsid"), Some(&lsid), "{command}");
    };
    let f = doc! { "_id": 1 };
    let set = doc! { "$set": { "y": 1 } };
    in_session(r.command("find", || coll.find(f.clone()).session(&mut s).run()));
    in_session(r.command("find", || coll.find_one(f.clone()).session(&mut s).run()));
    in_session(r.command("insert", || coll.insert_one(doc! {}).session(&mut s).run()));
    in_session(r.command("insert", || {
        coll.insert_many([doc! {}]).session(&mut s).run()
    }));
    in_session(r.command("update", || {
        coll.update_one(f.clone(), set.clone())
            .session(&mut s)
            .run()
    }));
    in_session(r.command("update", || {
        coll.update_many(f.clone(), set.clone())
            .session(&mut s)
            .run()
    }));
    in_session(r.command("update", || {
        coll.replace_one(f.clone(), doc! { "x": 0 })
            .session(&mut s)
            .run()
    }));
    in_session(r.command("delete", || {
        coll.delete_one(doc! { "_id": 9 }).session(&mut s).run()
    }));
    in_session(r.command("delete", || {
        coll.delete_many(doc! { "_id": 9 }).session(&mut s).run()
    }));
    in_session(r.command("findAndModify", || {
        coll.find_one_and_delete(doc! { "_id": 9 })
            .session(&mut s)
            .run()
    }));
    in_session(r.command("findAndModify", || {
        coll.find_one_and_update(f.clone(), set.clone())
            .session(&mut s)
            .run()
    }));
    in_session(r.command("findAndModify", || {
        coll.find_one_and_replace(f.clone(), doc! { "x": 0 })
            .session(&mut s)
            .run()
    }));
    in_session(r.command("aggregate", || {
        coll.aggregate([doc! { "$match": {} }])
            .session(&mut s)
            .run()
    }));
    in_session(r.command("aggregate", || {
        coll.count_documents(doc! {}).session(&mut s).run()
    }));
    in_session(r.command("count", || {
        coll.estimated_document_count().session(&mut s).run()
    }));
    in_session(r.command("distinct", || {
        coll.distinct("x", doc! {}).session(&mut s).run()
    }));
    in_session(r.command("createIndexes", || {
        coll.create_index(IndexModel::builder().keys(doc! { "x": 1 }).build())
            .session(&mut s)
            .run()
    }));
    in_session(r.command("createIndexes", || {
        coll.create_indexes([IndexModel::builder().keys(doc! { "y": 1 }).build()])
            .session(&mut s)
            .run()
    }));
    in_session(r.command("listIndexes", || coll.list_indexes().session(&mut s).run()));
    in_session(r.command("listIndexes", || {
        coll.list_index_names().session(&mut s).run()
    }));
    in_session(r.command("dropIndexes", || {
        coll.drop_index("y_1").session(&mut s).run()
    }));
    in_session(r.command("dropIndexes", || coll.drop_indexes().session(&mut s).run()));
    in_session(r.command("insert", || {
        coll.bulk_write([CollectionWriteModel::InsertOne { document: doc! {} }])
            .session(&mut s)
            .run()
    }));
    in_session(r.command("bulkWrite", || {
        r.client
            .bulk_write([InsertOneModel::builder()
                .namespace(coll.namespace())
                .document(doc! {})
                .build()])
            .session(&mut s)
            .run()
    }));
    in_session(r.command("bulkWrite", || {
        r.client
            .bulk_write([InsertOneModel::builder()
                .namespace(coll.namespace())
                .document(doc! {})
                .build()])
            .verbose_results()
            .session(&mut s)
            .run()
    }));
    in_session(r.command("ping", || {
        db.run_command(doc! { "ping": 1 }).session(&mut s).run()
    }));
    in_session(r.command("find", || {
        db.run_cursor_command(doc! { "find": coll.name() })
            .session(&mut s)
            .run()
    }));
    in_session(r.command("aggregate", || {
        db.aggregate([doc! { "$documents": [{}] }])
            .session(&mut s)
            .run()
    }));
    in_session(r.command("listCollections", || {
        db.list_collections().session(&mut s).run()
    }));
    in_session(r.command("listCollections", || {
        db.list_collection_names().session(&mut s).run()
    }));
    in_session(r.command("create", || {
        db.create_collection("made").session(&mut s).run()
    }));
    in_session(r.command("renameCollection", || {
        db.collection::<Document>("made")
            .rename("renamed")
            .session(&mut s)
            .run()
    }));
    in_session(r.command("drop", || {
        db.collection::<Document>("renamed")
            .drop()
            .session(&mut s)
            .run()
    }));
    in_session(r.command("listDatabases", || {
        r.client.list_databases().session(&mut s).run()
    }));
    in_session(r.command("listDatabases", || {
        r.client.list_database_names().session(&mut s).run()
    }));
    in_session(r.command("dropDatabase", || db.drop().session(&mut s).run()));
}
