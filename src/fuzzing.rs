//! Entry points for the fuzz harness in `fuzz/`: thin functions that take untrusted bytes
//! and hand them to the driver's parsers of what a server sends, the private ones
//! included.
//!
//! **Not part of the API.** The module is hidden from the docs, carries no semver promise
//! and may change or go at any time. Its one contract is the one the fuzzer checks: no
//! function here panics, whatever the input. Each returns whether the input got past the
//! first layer (a whole message, a well-formed document, an accepted SCRAM message), so
//! the harness can report how much of its input reaches the parsers behind it.
//!
//! The public parsers (the wire decoder, [`ClientOptions::parse`](crate::ClientOptions::parse),
//! [`ServerDescription::from_hello`]) are called by the harness directly; the functions here
//! add the ones the public API only reaches through a connection.

use std::{
    collections::HashMap,
    sync::OnceLock,
    time::{Duration, Instant},
};

use bson::{Bson, Document, RawDocument, doc};

use crate::{
    Namespace,
    auth::SaslReply,
    conn::HelloReply,
    operation::{BulkWritePlan, ClientBulkWritePlan, CursorReply, WriteReply, error_labels},
    options::{
        BulkWriteOptions, ClientOptions, CollectionWriteModel, Compressor, DeleteOneModel,
        InsertOneModel, ReadPreference, ServerAddress, UpdateOneModel, WriteModel,
        WriteModelOptions,
    },
    sdam::{CommandFailure, RoundTripTimes, ServerDescription, TopologyDescription},
    selection::{Criteria, SelectionSettings, select_server},
    wire::SizeLimits,
};

/// The client nonce the SCRAM entry point's conversation uses: a server-first message
/// whose nonce does not start with it stops at the nonce check.
pub const SCRAM_CLIENT_NONCE: &str = crate::auth::scram::FUZZ_CLIENT_NONCE;

/// The document in `data`, decoded as the driver decodes a reply (depth-checked).
fn document(data: &[u8]) -> Option<Document> {
    crate::nesting::to_document(RawDocument::from_bytes(data).ok()?).ok()
}

/// Unwraps `data` as an OP_COMPRESSED message (header included), under the default limits
/// and under small ones, without the length check [`Message::decode`](crate::wire::Message::decode)
/// does first.
pub fn op_compressed(data: &[u8]) -> bool {
    let small = SizeLimits {
        max_message_size_bytes: 1024,
        ..SizeLimits::default()
    };
    let _ = crate::wire::compression::unwrap(data, &small);
    crate::wire::compression::unwrap(data, &SizeLimits::default()).is_ok()
}

/// Feeds `data` to the SCRAM client as a server-first message (parsed and checked as a
/// SCRAM-SHA-256 conversation with the client nonce [`SCRAM_CLIENT_NONCE`] checks it, up
/// to the PBKDF2 that follows) and as a server-final message.
pub fn scram_server_messages(data: &[u8]) -> bool {
    crate::auth::scram::parse_server_messages(data)
}

/// The topologies a server's first `hello` reply may arrive in: unknown (two seeds),
/// replica set, single, sharded (a mongos seen) and load balanced.
fn topologies() -> &'static [TopologyDescription] {
    static TOPOLOGIES: OnceLock<Vec<TopologyDescription>> = OnceLock::new();
    TOPOLOGIES.get_or_init(|| {
        [
            "mongodb://a:27017,b:27017",
            "mongodb://a:27017/?replicaSet=rs",
            "mongodb://a:27017/?directConnection=true",
            "mongodb://a:27017/?loadBalanced=true",
        ]
        .iter()
        .map(|uri| {
            let options = ClientOptions::parse(uri).expect("a valid connection string");
            TopologyDescription::new(&options).0
        })
        .collect()
    })
}

/// Parses `data` as a `hello` reply the way the monitor and the handshake do: into a
/// server description, applied to each kind of topology (then a server is selected in
/// it), and into what a connection keeps of it (limits, compressor, SASL mechanisms, the
/// speculative authentication reply).
pub fn hello_reply(data: &[u8]) -> bool {
    let Some(reply) = document(data) else {
        return false;
    };
    let address = ServerAddress::tcp("a", 27017);
    let rtt = RoundTripTimes {
        average: Duration::from_millis(3),
        minimum: Duration::from_millis(1),
    };
    let sd = ServerDescription::from_hello(address, &reply, rtt, Instant::now());
    let _ = sd.compatibility_error();
    let _ = sd.members().count();
    let settings = SelectionSettings::default();
    for topology in topologies() {
        let mut topology = topology.clone();
        let _ = topology.update(sd.clone());
        let _ = topology.compatibility_error();
        let _ = topology.logical_session_timeout();
        for criteria in [Criteria::Write, Criteria::Read(ReadPreference::primary())] {
            let _ = select_server(&topology, &criteria, &settings, &[], |_| 0, |n| n / 2);
        }
    }
    let ours = [Compressor::Zstd, Compressor::Snappy, Compressor::Zlib];
    if let Ok(hello) = HelloReply::parse(&reply, &ours)
        && let Some(speculative) = &hello.speculative_authenticate
    {
        let _ = SaslReply::parse(speculative);
    }
    true
}

/// Parses `data` as a cursor reply (`find`, `aggregate`, `getMore`, list commands): the
/// `ok` check every reply gets, then the cursor and its batch.
pub fn cursor_reply(data: &[u8]) -> bool {
    let Ok(raw) = RawDocument::from_bytes(data) else {
        return false;
    };
    if crate::conn::check_reply(raw.to_owned()).is_err() {
        return true;
    }
    if let Ok(cursor) = CursorReply::parse(raw) {
        for document in &cursor.batch {
            let _ = crate::nesting::to_document(document);
        }
    }
    true
}

/// A client bulk write of four writes (insert, update, delete, insert), as planned before
/// it is sent.
fn client_bulk_write(ordered: bool, verbose: bool) -> ClientBulkWritePlan {
    let ns = || "db.coll".parse().expect("a valid namespace");
    let models: Vec<WriteModel> = vec![
        InsertOneModel::builder()
            .namespace(ns())
            .document(doc! { "_id": 0 })
            .build()
            .into(),
        UpdateOneModel::builder()
            .namespace(ns())
            .filter(doc! { "_id": 1 })
            .update(doc! { "$set": { "x": 1 } })
            .build()
            .into(),
        DeleteOneModel::builder()
            .namespace(ns())
            .filter(doc! { "_id": 2 })
            .build()
            .into(),
        InsertOneModel::builder()
            .namespace(ns())
            .document(doc! { "_id": 3 })
            .build()
            .into(),
    ];
    let options = BulkWriteOptions {
        ordered: Some(ordered),
        ..BulkWriteOptions::default()
    };
    ClientBulkWritePlan::new(models, &options, verbose, None).expect("a valid bulk write")
}

/// Parses `data` as the reply to a write: an `insert`/`update`/`delete` reply (as one
/// write, as a batch of `insert_many`, and as the reply to each command of a collection
/// bulk write), and a client `bulkWrite` reply whose cursor's first batch holds the
/// per-write results (ordered and verbose, then neither).
pub fn write_reply(data: &[u8]) -> bool {
    let Some(reply) = document(data) else {
        return false;
    };
    let _ = WriteReply::parse(&reply).into_single_result();
    let ids: Vec<Bson> = (0..4).map(Bson::Int32).collect();
    let before = HashMap::from([(0, Bson::Int32(-1))]);
    let _ = WriteReply::parse(&reply).into_insert_many_error(1, &ids, &before);

    let entries: Vec<Document> = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map(|batch| {
            batch
                .iter()
                .filter_map(Bson::as_document)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for (ordered, verbose) in [(true, true), (false, false)] {
        let mut plan = client_bulk_write(ordered, verbose);
        while let Some(command) = plan.next_command() {
            // Twice: a bulk write of several commands adds up their replies' counts.
            if plan.add(&command, &reply, &entries) || plan.add(&command, &reply, &entries) {
                break;
            }
        }
        if let Err(e) = plan.finish() {
            let _ = e.to_string();
        }
    }

    let ns: Namespace = "db.coll".parse().expect("a valid namespace");
    for ordered in [true, false] {
        let mut plan = collection_bulk_write(&ns, ordered);
        while let Some(command) = plan.next_command(&ns) {
            if plan.add(&command, WriteReply::parse(&reply)) {
                break;
            }
        }
        if let Err(e) = plan.finish() {
            let _ = e.to_string();
        }
    }
    true
}

/// A collection bulk write of two inserts, an update and a delete (three commands).
fn collection_bulk_write(ns: &Namespace, ordered: bool) -> BulkWritePlan {
    let models = vec![
        CollectionWriteModel::InsertOne {
            document: doc! { "_id": 0 },
        },
        CollectionWriteModel::InsertOne {
            document: doc! { "x": 1 },
        },
        CollectionWriteModel::UpdateOne {
            filter: doc! { "_id": 0 },
            update: doc! { "$set": { "x": 2 } }.into(),
            options: WriteModelOptions::default(),
        },
        CollectionWriteModel::DeleteOne {
            filter: doc! { "_id": 1 },
            options: WriteModelOptions::default(),
        },
    ];
    let options = BulkWriteOptions {
        ordered: Some(ordered),
        ..BulkWriteOptions::default()
    };
    BulkWritePlan::new(ns, models, &options, None).expect("a valid bulk write")
}

/// Parses `data` as a failed command's reply: the `ok: 0` check that makes it a command
/// error, the SDAM view of the same reply (state change errors, `topologyVersion`), its
/// error labels, and a SASL reply.
pub fn command_error(data: &[u8]) -> bool {
    let Ok(raw) = RawDocument::from_bytes(data) else {
        return false;
    };
    if let Err(e) = crate::conn::check_reply(raw.to_owned()) {
        let _ = (e.to_string(), e.code(), e.is_network_error());
        let _ = e.labels().count();
    }
    let Some(reply) = document(data) else {
        return false;
    };
    if let Some(failure) = CommandFailure::from_response(&reply) {
        let _ = failure.is_recovering();
        let _ = failure.is_not_writable_primary();
        let _ = failure.is_shutting_down();
    }
    let _ = error_labels(&reply);
    let _ = SaslReply::parse(&reply);
    true
}
