//! Explicit sessions and transactions against the real test server: commit and abort,
//! the commands they send, `with_transaction` under write conflicts from 1,000
//! coroutines (the total conserved exactly, no transaction left open), a transaction cut
//! by a deadline, causal consistency across connections, snapshot reads, and the
//! errors of misuse. Each test uses a database of its own.

mod util {
    pub mod server;
}

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bson::{Bson, Document, doc};
use greenmongo::{
    Client, ClientOptions, Collection, Database,
    error::TRANSIENT_TRANSACTION_ERROR,
    event::{CommandEvent, EventHandler},
    options::WriteConcern,
    runtime::{Runtime, coroutine, time::with_timeout},
};
use util::server;

/// The commands a client started: (name, body).
type Sent = Arc<Mutex<Vec<(String, Document)>>>;

/// A client recording the commands it starts.
fn recording_client() -> Option<(Client, Sent)> {
    let uri = server::uri()?;
    let mut options = ClientOptions::parse(&uri).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
        if let CommandEvent::Started(e) = e {
            log.lock()
                .unwrap()
                .push((e.command_name.clone(), e.command.clone()));
        }
    }));
    Some((Client::with_options(options).unwrap(), seen))
}

fn database(client: &Client, prefix: &str) -> Database {
    client.database(&server::unique(prefix))
}

/// The commands named `name` recorded so far.
fn sent(seen: &Mutex<Vec<(String, Document)>>, name: &str) -> Vec<Document> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, c)| c.clone())
        .collect()
}

/// Fails unless no transaction holds a document of `coll`: a write outside any
/// transaction to every document must finish within ten seconds (a document an open
/// transaction wrote stays locked until it ends, up to the server's 60 s transaction
/// lifetime). SecantusDB's `$currentOp` lists no transactions, so this asks the data.
fn assert_no_open_transaction(coll: &Collection<Document>) {
    let probe = with_timeout(Duration::from_secs(10), || {
        coll.update_many(doc! {}, doc! { "$inc": { "probe": 1 } })
            .run()
    });
    if let Err(e) = probe {
        panic!("a transaction was left open on {}: {e}", coll.name());
    }
}

#[test]
fn a_committed_transaction_is_visible_and_sends_the_transaction_fields() {
    let Some((client, seen)) = recording_client() else {
        return;
    };
    let db = database(&client, "txn_commit");
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).run().unwrap(); // the collection exists first
    let mut session = client.start_session().run().unwrap();
    session.start_transaction().run().unwrap();
    assert!(session.in_transaction());
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut session)
        .run()
        .unwrap();
    coll.insert_one(doc! { "_id": 2 })
        .session(&mut session)
        .run()
        .unwrap();
    // Not visible outside the transaction before the commit.
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 1);
    // Visible inside it.
    assert_eq!(
        coll.count_documents(doc! {})
            .session(&mut session)
            .run()
            .unwrap(),
        3
    );
    session.commit_transaction().run().unwrap();
    assert!(!session.in_transaction());
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 3);

    let inserts = sent(&seen, "insert");
    let (first, second) = (&inserts[1], &inserts[2]);
    assert_eq!(first.get_document("lsid").unwrap(), session.id());
    assert_eq!(first.get_bool("startTransaction").ok(), Some(true));
    assert_eq!(first.get_bool("autocommit").ok(), Some(false));
    assert!(!second.contains_key("startTransaction"));
    assert_eq!(second.get_bool("autocommit").ok(), Some(false));
    assert_eq!(first.get("txnNumber"), second.get("txnNumber"));
    let commit = &sent(&seen, "commitTransaction")[0];
    assert_eq!(commit.get("txnNumber"), first.get("txnNumber"));
    assert_eq!(commit.get_document("lsid").unwrap(), session.id());
    // Committing again re-sends it with a majority write concern.
    session.commit_transaction().run().unwrap();
    let again = &sent(&seen, "commitTransaction")[1];
    assert_eq!(
        again.get_document("writeConcern").unwrap(),
        &doc! { "w": "majority", "wtimeout": 10_000i64 }
    );
    db.drop().run().unwrap();
}

#[test]
fn an_aborted_transaction_leaves_nothing_and_misuse_is_refused() {
    let Some(client) = server::client() else {
        return;
    };
    let db = database(&client, "txn_abort");
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).run().unwrap();
    let mut session = client.start_session().run().unwrap();
    assert!(
        session.commit_transaction().run().is_err(),
        "no transaction"
    );
    assert!(session.abort_transaction().run().is_err(), "no transaction");
    session.start_transaction().run().unwrap();
    let err = session.start_transaction().run().unwrap_err();
    assert!(err.to_string().contains("already in progress"), "{err}");
    coll.insert_one(doc! { "_id": 1 })
        .session(&mut session)
        .run()
        .unwrap();
    session.abort_transaction().run().unwrap();
    assert!(session.abort_transaction().run().is_err(), "not twice");
    assert!(
        session.commit_transaction().run().is_err(),
        "commit after abort"
    );
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 1);
    // Unacknowledged writes cannot run in a session, nor can a transaction use w: 0.
    let err = coll
        .insert_one(doc! { "_id": 9 })
        .write_concern(WriteConcern::nodes(0))
        .session(&mut session)
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("unacknowledged"), "{err}");
    let err = session
        .start_transaction()
        .write_concern(WriteConcern::nodes(0))
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("unacknowledged"), "{err}");
    // A session of another client is refused before anything is sent.
    let other = server::client().unwrap();
    let err = other
        .database(db.name())
        .collection::<Document>("c")
        .insert_one(doc! { "_id": 10 })
        .session(&mut session)
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("another client"), "{err}");
    // Snapshot sessions have no transactions.
    let mut snapshot = client.start_session().snapshot(true).run().unwrap();
    assert!(snapshot.start_transaction().run().is_err());
    db.drop().run().unwrap();
}

#[test]
fn a_session_dropped_with_an_open_transaction_aborts_it() {
    let Some(client) = server::client() else {
        return;
    };
    let db = database(&client, "txn_drop");
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0 }).run().unwrap();
    {
        let mut session = client.start_session().run().unwrap();
        session.start_transaction().run().unwrap();
        coll.update_one(doc! { "_id": 0 }, doc! { "$set": { "x": 1 } })
            .session(&mut session)
            .run()
            .unwrap();
    }
    // Had it stayed open, this write would conflict with it (WriteConflict) instead.
    coll.update_one(doc! { "_id": 0 }, doc! { "$set": { "x": 2 } })
        .run()
        .unwrap();
    let doc = coll.find_one(doc! {}).run().unwrap().unwrap();
    assert_eq!(doc.get_i32("x").ok(), Some(2));
    db.drop().run().unwrap();
}

/// Moves `amount` from one account to another in `session`'s transaction.
fn transfer(
    accounts: &Collection<Document>,
    session: &mut greenmongo::ClientSession,
    from: i32,
    to: i32,
    amount: i64,
) -> greenmongo::Result<()> {
    accounts
        .update_one(
            doc! { "_id": from },
            doc! { "$inc": { "balance": -amount } },
        )
        .session(&mut *session)
        .run()?;
    accounts
        .update_one(doc! { "_id": to }, doc! { "$inc": { "balance": amount } })
        .session(&mut *session)
        .run()?;
    Ok(())
}

#[test]
fn a_thousand_coroutines_transfer_with_with_transaction_and_conserve_the_total() {
    // Each account is the source of one transfer and the target of another: every
    // transaction can conflict with two others, none is a hot spot.
    const ACCOUNTS: i32 = 1_000;
    const WORKERS: usize = 1_000;
    const START: i64 = 1_000;
    let Some(client) = server::client() else {
        return;
    };
    let db = database(&client, "txn_transfer");
    let accounts = db.collection::<Document>("accounts");
    accounts
        .insert_many((0..ACCOUNTS).map(|i| doc! { "_id": i, "balance": START }))
        .run()
        .unwrap();
    let runtime = Runtime::builder().worker_threads(2).build().unwrap();
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (client, accounts, attempts) = (client.clone(), accounts.clone(), attempts.clone());
            runtime.spawn(move || {
                let from = (w % ACCOUNTS as usize) as i32;
                let to = ((w * 7 + 3) % ACCOUNTS as usize) as i32;
                let mut session = client.start_session().run()?;
                session.with_transaction(|session| {
                    attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    transfer(&accounts, session, from, to, (w % 13) as i64 + 1)
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let total: i64 = accounts
        .find(doc! {})
        .run()
        .unwrap()
        .map(|d| balance(&d.unwrap()))
        .sum();
    assert_eq!(total, START * ACCOUNTS as i64, "money created or destroyed");
    let attempts = attempts.load(std::sync::atomic::Ordering::Relaxed);
    println!("{WORKERS} transfers in {attempts} callback runs (write conflicts retried)");
    assert!(attempts >= WORKERS);
    assert_no_open_transaction(&accounts);
    db.drop().run().unwrap();
}

/// An account's balance, however the server stored the number.
fn balance(account: &Document) -> i64 {
    match account.get("balance") {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        other => panic!("balance {other:?} in {account}"),
    }
}

#[test]
fn a_transaction_cut_by_a_deadline_leaves_none_open_and_the_session_usable() {
    let Some(client) = server::client() else {
        return;
    };
    let db = database(&client, "txn_deadline");
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0, "n": 0 }).run().unwrap();
    let runtime = Runtime::builder().worker_threads(1).build().unwrap();
    let (client2, coll2) = (client.clone(), coll.clone());
    runtime.block_on(move || {
        let mut session = client2.start_session().run().unwrap();
        // The deadline passes inside the callback (a $where that sleeps), so the
        // statement fails; with_transaction aborts and returns the error.
        let result = with_timeout(Duration::from_millis(300), || {
            session.with_transaction(|session| {
                coll2
                    .update_one(doc! { "_id": 0 }, doc! { "$inc": { "n": 1 } })
                    .session(&mut *session)
                    .run()?;
                greenmongo::runtime::sleep(Duration::from_secs(2))
                    .map_err(greenmongo::Error::from)?;
                Ok(())
            })
        });
        assert!(result.is_err(), "the deadline must cut the transaction");
        assert!(!session.in_transaction());
        // The session is usable afterwards.
        session
            .with_transaction(|session| {
                coll2
                    .update_one(doc! { "_id": 0 }, doc! { "$inc": { "n": 10 } })
                    .session(&mut *session)
                    .run()
                    .map(drop)
            })
            .unwrap();
    });
    let n = coll.find_one(doc! {}).run().unwrap().unwrap().get_i32("n");
    assert_eq!(
        n.ok(),
        Some(10),
        "the cut transaction's update must not be committed"
    );
    assert_no_open_transaction(&coll);
    db.drop().run().unwrap();
}

#[test]
fn a_causally_consistent_session_reads_its_write_on_another_connection() {
    let Some(uri) = server::uri() else {
        return;
    };
    // The connection of each command, from the command events.
    let mut options = ClientOptions::parse(&uri).unwrap();
    options.app_name = Some("causal-another-connection".into());
    let seen: Arc<Mutex<Vec<(String, u64, Document)>>> = Arc::default();
    let log = seen.clone();
    options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
        if let CommandEvent::Started(e) = e {
            let entry = (e.command_name.clone(), e.connection.id, e.command.clone());
            log.lock().unwrap().push(entry);
        }
    }));
    let client = Client::with_options(options).unwrap();
    let db = database(&client, "causal");
    let coll = db.collection::<Document>("c");
    // A ping of this client's that holds its connection for half a second.
    client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": {
                "failCommands": ["ping"],
                "blockConnection": true,
                "blockTimeMS": 500,
                "appName": "causal-another-connection",
            },
        })
        .run()
        .unwrap();
    let mut session = client
        .start_session()
        .causal_consistency(true)
        .run()
        .unwrap();
    let runtime = Runtime::builder().worker_threads(1).build().unwrap();
    let (coll2, admin) = (coll.clone(), client.database("admin"));
    let write_time = runtime.block_on(move || {
        coll2
            .insert_one(doc! { "_id": 1, "v": "written" })
            .session(&mut session)
            .run()
            .unwrap();
        let write_time = session.operation_time().expect("an operationTime");
        // The blocked ping takes the connection the write just gave back (the pool
        // hands out the most recently used first), so the read must use another.
        let busy = coroutine::spawn(move || admin.run_command(doc! { "ping": 1 }).run());
        greenmongo::runtime::sleep(Duration::from_millis(100)).unwrap();
        let read = coll2
            .find_one(doc! { "_id": 1 })
            .session(&mut session)
            .run()
            .unwrap();
        assert_eq!(read.unwrap().get_str("v").ok(), Some("written"));
        busy.join().unwrap().unwrap();
        write_time
    });
    let seen = seen.lock().unwrap();
    let of = |name: &str| {
        seen.iter()
            .find(|(n, _, c)| n == name && c.get_str(name).ok() == Some("c"))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} sent"))
    };
    let (_, write_connection, _) = of("insert");
    let (_, read_connection, find) = of("find");
    let (_, ping_connection, _) = seen.iter().find(|(n, _, _)| n == "ping").unwrap().clone();
    assert_eq!(
        ping_connection, write_connection,
        "the ping holds the write's connection"
    );
    assert_ne!(
        read_connection, write_connection,
        "the read ran on another connection"
    );
    assert_eq!(
        find.get_document("readConcern").unwrap(),
        &doc! { "afterClusterTime": write_time },
    );
    drop(seen);
    db.drop().run().unwrap();
}

/// Whether the server is SecantusDB (its `buildInfo` says `secantusVersion`).
fn is_secantus(client: &Client) -> bool {
    let info = client
        .database("admin")
        .run_command(doc! { "buildInfo": 1 })
        .run()
        .unwrap();
    info.contains_key("secantusVersion")
}

#[test]
fn a_snapshot_session_reads_one_point_in_time() {
    let Some((client, seen)) = recording_client() else {
        return;
    };
    let db = database(&client, "snapshot");
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 1, "v": 1 })
        .write_concern(WriteConcern::majority())
        .run()
        .unwrap();
    let mut session = client.start_session().snapshot(true).run().unwrap();
    let first = coll
        .find_one(doc! { "_id": 1 })
        .session(&mut session)
        .run()
        .unwrap()
        .unwrap();
    let at = session
        .snapshot_time()
        .expect("the first read fixes the snapshot time");
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "v": 2 } })
        .write_concern(WriteConcern::majority())
        .run()
        .unwrap();
    let again = coll
        .find_one(doc! { "_id": 1 })
        .session(&mut session)
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(first.get_i32("v").ok(), Some(1));
    // SecantusDB 0.7 ignores atClusterTime (scripts/SECANTUSDB.md): it reads the
    // latest data. Any other server must serve the snapshot.
    if is_secantus(&client) {
        eprintln!("SecantusDB ignores atClusterTime: the snapshot's data is not checked");
    } else {
        assert_eq!(
            again.get_i32("v").ok(),
            Some(1),
            "a snapshot session must not see later writes"
        );
    }
    let finds = sent(&seen, "find");
    assert_eq!(
        finds[0].get_document("readConcern").unwrap(),
        &doc! { "level": "snapshot" }
    );
    assert_eq!(
        finds[1].get_document("readConcern").unwrap(),
        &doc! { "level": "snapshot", "atClusterTime": at }
    );
    // Another session reads the same snapshot from its first read on.
    let mut same = client
        .start_session()
        .snapshot(true)
        .snapshot_time(at)
        .run()
        .unwrap();
    assert_eq!(same.snapshot_time(), Some(at));
    coll.find_one(doc! { "_id": 1 })
        .session(&mut same)
        .run()
        .unwrap();
    assert_eq!(
        sent(&seen, "find")[2].get_document("readConcern").unwrap(),
        &doc! { "level": "snapshot", "atClusterTime": at }
    );
    let err = client.start_session().snapshot_time(at).run().unwrap_err();
    assert!(err.to_string().contains("snapshot: true"), "{err}");
    db.drop().run().unwrap();
}

#[test]
fn a_cursor_in_a_transaction_fetches_its_batches_in_the_session() {
    let Some((client, seen)) = recording_client() else {
        return;
    };
    let db = database(&client, "txn_cursor");
    let coll = db.collection::<Document>("c");
    coll.insert_many((0..10).map(|i| doc! { "_id": i }))
        .run()
        .unwrap();
    let mut session = client.start_session().run().unwrap();
    session.start_transaction().run().unwrap();
    let mut cursor = coll
        .find(doc! {})
        .batch_size(3)
        .session(&mut session)
        .run()
        .unwrap();
    let ids: Vec<Document> = cursor
        .iter(&mut session)
        .collect::<greenmongo::Result<_>>()
        .unwrap();
    assert_eq!(ids.len(), 10);
    session.commit_transaction().run().unwrap();
    let get_mores = sent(&seen, "getMore");
    assert!(get_mores.len() >= 3, "{get_mores:?}");
    for g in get_mores {
        assert_eq!(g.get_document("lsid").unwrap(), session.id());
        assert_eq!(g.get_bool("autocommit").ok(), Some(false));
        assert!(g.contains_key("txnNumber"));
    }
    db.drop().run().unwrap();
}

#[test]
fn a_write_conflict_is_labelled_transient() {
    let Some(client) = server::client() else {
        return;
    };
    let db = database(&client, "txn_conflict");
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 0, "n": 0 }).run().unwrap();
    let mut a = client.start_session().run().unwrap();
    let mut b = client.start_session().run().unwrap();
    a.start_transaction().run().unwrap();
    b.start_transaction().run().unwrap();
    coll.update_one(doc! { "_id": 0 }, doc! { "$inc": { "n": 1 } })
        .session(&mut a)
        .run()
        .unwrap();
    let err = coll
        .update_one(doc! { "_id": 0 }, doc! { "$inc": { "n": 1 } })
        .session(&mut b)
        .run()
        .unwrap_err();
    assert!(err.contains_label(TRANSIENT_TRANSACTION_ERROR), "{err}");
    b.abort_transaction().run().unwrap();
    a.commit_transaction().run().unwrap();
    db.drop().run().unwrap();
}

#[test]
fn ended_sessions_go_back_to_the_pool_and_shutdown_ends_them_on_the_server() {
    let Some((client, seen)) = recording_client() else {
        return;
    };
    let db = database(&client, "end_sessions");
    let (first, second) = {
        let mut a = client.start_session().run().unwrap();
        let mut b = client.start_session().run().unwrap();
        for session in [&mut a, &mut b] {
            db.run_command(doc! { "ping": 1 })
                .session(&mut *session)
                .run()
                .unwrap();
        }
        let ids = (a.id().clone(), b.id().clone());
        drop(a);
        drop(b);
        ids
    };
    // Reused, the most recently ended first.
    let again = client.start_session().run().unwrap();
    assert_eq!(again.id(), &second);
    drop(again);
    client.shutdown().run();
    let ended = sent(&seen, "endSessions");
    assert_eq!(ended.len(), 1, "{ended:?}");
    let ids = ended[0].get_array("endSessions").unwrap();
    for id in [&first, &second] {
        assert!(
            ids.contains(&Bson::Document(id.clone())),
            "{id} not ended: {ids:?}"
        );
    }
    assert!(
        !ended[0].contains_key("lsid"),
        "endSessions runs in no session"
    );
}
