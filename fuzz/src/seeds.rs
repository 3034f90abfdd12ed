//! The seed corpus, generated from valid encodings: real OP_MSG replies and their
//! OP_COMPRESSED forms, connection strings (a hand-written set, plus every `uri` of the
//! connection-string and URI options spec tests when `../shared/spec-tests` is there),
//! SCRAM messages for the target's fixed nonce, and the replies of `hello`, cursor,
//! write and failed commands (plus every `hello` reply of the SDAM spec tests).
//!
//! `greenmongo-fuzz --write-corpus` writes them to `fuzz/corpus/<target>/`, where they are
//! checked in; the spec files themselves are not copied, only the strings and replies
//! taken from them.

use std::path::Path;

use bson::{Binary, Bson, Document, Timestamp, doc, oid::ObjectId, rawdoc, spec::BinarySubtype};
use greenmongo::{
    fuzzing::SCRAM_CLIENT_NONCE,
    wire::{Compressor, DocumentSequence, Message, MessageFlags},
};
use serde_json::Value;

/// A named seed.
pub type Seed = (String, Vec<u8>);

/// The seeds of `target`; `spec_tests` is the spec test tree (may be missing).
pub fn seeds(target: &str, spec_tests: &Path) -> Vec<Seed> {
    let mut out = match target {
        "wire" => wire(),
        "uri" => uri(spec_tests),
        "scram" => scram(),
        "hello" => documents("hello", hello(spec_tests)),
        "cursor" => documents("cursor", cursor()),
        "write" => documents("write", write()),
        "command-error" => documents("error", command_error()),
        other => panic!("no seeds for target {other}"),
    };
    // Identical seeds waste runs.
    let mut seen = std::collections::HashSet::new();
    out.retain(|(_, bytes)| seen.insert(bytes.clone()));
    out
}

fn documents(prefix: &str, docs: Vec<Document>) -> Vec<Seed> {
    docs.into_iter()
        .enumerate()
        .map(|(i, d)| {
            (
                format!("{prefix}-{i:03}"),
                d.to_vec().expect("a seed encodes"),
            )
        })
        .collect()
}

fn oid(n: u8) -> ObjectId {
    ObjectId::from_bytes([0x5f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n])
}

fn wire() -> Vec<Seed> {
    let mut replies: Vec<Document> = Vec::new();
    replies.extend(cursor().into_iter().take(4));
    replies.extend(write().into_iter().take(3));
    replies.extend(hello_replies().into_iter().take(2));
    replies.push(doc! { "ok": 0.0, "errmsg": "not primary", "code": 10107, "codeName": "NotWritablePrimary" });
    let mut out = Vec::new();
    for (i, reply) in replies.iter().enumerate() {
        let mut msg = Message::from_document(reply).expect("a reply encodes");
        msg.request_id = 100 + i as i32;
        msg.response_to = i as i32;
        out.push((format!("op-msg-{i:02}"), msg.encode(None)));
        if i % 3 == 0 {
            let mut checked = msg.clone();
            checked.flags = MessageFlags::CHECKSUM_PRESENT;
            out.push((format!("op-msg-checksum-{i:02}"), checked.encode(None)));
        }
        if i % 4 == 1 {
            let mut more = msg.clone();
            more.flags = MessageFlags::MORE_TO_COME;
            out.push((format!("op-msg-more-to-come-{i:02}"), more.encode(None)));
        }
        for compressor in compressors() {
            if i % 2 == 0 || matches!(compressor, Compressor::Noop) {
                out.push((
                    format!("op-compressed-{}-{i:02}", compressor.name()),
                    msg.encode(Some(&compressor)),
                ));
            }
        }
    }
    // Requests with document sequences, as the driver sends them.
    let docs: Vec<_> = (0..3).map(|i| rawdoc! { "_id": i, "x": "y" }).collect();
    let mut insert = Message::from_document(&doc! { "insert": "c", "ordered": true, "$db": "d" })
        .expect("encodes");
    insert.sequences = vec![DocumentSequence::new("documents", docs.clone()).expect("a sequence")];
    out.push(("op-msg-sequence".into(), insert.encode(None)));
    let mut two = insert.clone();
    two.sequences
        .push(DocumentSequence::new("updates", docs).expect("a sequence"));
    two.flags = MessageFlags::CHECKSUM_PRESENT;
    out.push(("op-msg-two-sequences-checksum".into(), two.encode(None)));
    for compressor in compressors() {
        out.push((
            format!("op-compressed-{}-sequence", compressor.name()),
            insert.encode(Some(&compressor)),
        ));
    }
    out
}

fn compressors() -> Vec<Compressor> {
    ["noop", "snappy", "zlib", "zstd"]
        .iter()
        .filter_map(|name| Compressor::from_name(name, Some(6)).ok())
        .collect()
}

/// Connection strings: a hand-written set, then the spec tests' when present.
fn uri(spec_tests: &Path) -> Vec<Seed> {
    let mut uris: Vec<String> = [
        "mongodb://localhost",
        "mongodb://a:27017,b:27018/?replicaSet=rs0&readPreference=secondaryPreferred&readPreferenceTags=dc:ny,rack:1&readPreferenceTags=",
        "mongodb://us%40er:p%3Ass@[::1]:27017,127.0.0.1/admin?authSource=admin&authMechanism=SCRAM-SHA-256",
        "mongodb://%2Ftmp%2Fmongodb-27017.sock/db?directConnection=true",
        "mongodb+srv://cluster0.example.com/?srvMaxHosts=2&srvServiceName=custom",
        "mongodb://h/?w=majority&wtimeoutMS=100&journal=true&retryWrites=false&timeoutMS=5000",
        "mongodb://h/?tls=true&tlsCAFile=ca.pem&tlsCertificateKeyFile=c.pem&tlsAllowInvalidHostnames=true",
        "mongodb://h/?compressors=zstd,zlib,snappy&zlibCompressionLevel=9&appname=app",
        "mongodb://h/?maxPoolSize=5&minPoolSize=1&maxIdleTimeMS=1000&waitQueueTimeoutMS=10&maxConnecting=3",
        "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:api://a,b",
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other,CANONICALIZE_HOST_NAME:true",
        "mongodb://h/?loadBalanced=true&heartbeatFrequencyMS=500&serverSelectionTimeoutMS=100&localThresholdMS=0",
        "mongodb://h/?proxyHost=p&proxyPort=1080&proxyUsername=a&proxyPassword=b",
        "mongodb://h/?readPreference=nearest&maxStalenessSeconds=120&readConcernLevel=majority",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for folder in ["connection-string", "uri-options"] {
        let dir = spec_tests.join(folder).join("tests");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("seeds: no {}, hand-written URIs only", dir.display());
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            let text = std::fs::read_to_string(file).expect("read a spec file");
            let json: Value = serde_json::from_str(&text).expect("a spec file is JSON");
            for test in json["tests"].as_array().into_iter().flatten() {
                if let Some(uri) = test["uri"].as_str() {
                    uris.push(uri.to_owned());
                }
            }
        }
    }
    uris.into_iter()
        .enumerate()
        .map(|(i, u)| (format!("uri-{i:03}"), u.into_bytes()))
        .collect()
}

fn scram() -> Vec<Seed> {
    let n = SCRAM_CLIENT_NONCE;
    [
        // RFC 7677's server-first (its nonce extends SCRAM_CLIENT_NONCE) and server-final.
        format!("r={n}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_owned(),
        format!("r={n}3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=15000,x=ext"),
        format!("r={n},s=,i=4096"),
        "e=invalid-proof".to_owned(),
        "m=mandatory,r=a,s=QQ==,i=1".to_owned(),
        // A verifier that matches the fixed signature the target checks against.
        "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
        "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=1".to_owned(),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, s)| (format!("scram-{i:02}"), s.into_bytes()))
    .collect()
}

fn topology_version(counter: i64) -> Document {
    doc! { "processId": oid(1), "counter": counter }
}

/// `hello` replies of every server type the SDAM spec names.
fn hello_replies() -> Vec<Document> {
    let common = doc! {
        "maxBsonObjectSize": 16_777_216, "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000, "localTime": bson::DateTime::from_millis(1_700_000_000_000),
        "logicalSessionTimeoutMinutes": 30, "connectionId": 7, "minWireVersion": 0,
        "maxWireVersion": 21, "readOnly": false, "ok": 1.0,
    };
    let with = |extra: Document| {
        let mut d = extra;
        d.extend(common.clone());
        d
    };
    let last_write = doc! { "lastWriteDate": bson::DateTime::from_millis(1_700_000_000_000),
    "opTime": { "ts": Timestamp { time: 1, increment: 1 }, "t": 1_i64 } };
    vec![
        with(doc! { "helloOk": true, "isWritablePrimary": true }),
        with(doc! {
            "isWritablePrimary": true, "setName": "rs0", "setVersion": 3,
            "electionId": oid(7), "hosts": ["a:27017", "B:27018"], "passives": ["c:27017"],
            "arbiters": ["d:27017"], "primary": "a:27017", "me": "a:27017",
            "topologyVersion": topology_version(4), "lastWrite": last_write.clone(),
            "tags": { "dc": "ny", "rack": "1" },
        }),
        with(doc! {
            "isWritablePrimary": false, "secondary": true, "setName": "rs0",
            "hosts": ["a:27017", "b:27018"], "primary": "a:27017", "me": "b:27018",
            "lastWrite": last_write, "hidden": false,
        }),
        with(
            doc! { "isWritablePrimary": false, "arbiterOnly": true, "setName": "rs0", "hosts": ["a:27017"] },
        ),
        with(doc! { "isWritablePrimary": false, "isreplicaset": true }),
        with(doc! { "ismaster": true, "msg": "isdbgrid" }),
        with(doc! { "isWritablePrimary": true, "msg": "isdbgrid", "serviceId": oid(9) }),
        with(doc! {
            "isWritablePrimary": true, "compression": ["zstd", "zlib", "noop"],
            "saslSupportedMechs": ["SCRAM-SHA-256", "SCRAM-SHA-1"],
            "speculativeAuthenticate": {
                "conversationId": 1, "done": false,
                "payload": Binary { subtype: BinarySubtype::Generic, bytes: b"r=abc,s=QQ==,i=4096".to_vec() },
            },
        }),
        doc! { "ok": 0.0, "errmsg": "command hello requires authentication", "code": 13 },
        doc! { "ok": 1, "isWritablePrimary": true, "minWireVersion": 99, "maxWireVersion": 100 },
    ]
}

fn hello(spec_tests: &Path) -> Vec<Document> {
    let mut out = hello_replies();
    let dir = spec_tests
        .join("server-discovery-and-monitoring")
        .join("tests");
    let mut files = Vec::new();
    for sub in ["rs", "sharded", "single", "load-balanced", "errors"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    if files.is_empty() {
        eprintln!(
            "seeds: no {}, hand-written hello replies only",
            dir.display()
        );
    }
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        let text = std::fs::read_to_string(file).expect("read a spec file");
        let json: Value = serde_json::from_str(&text).expect("a spec file is JSON");
        for phase in json["phases"].as_array().into_iter().flatten() {
            for response in phase["responses"].as_array().into_iter().flatten() {
                if let Bson::Document(reply) = to_bson(&response[1]) {
                    out.push(reply);
                }
            }
        }
    }
    out
}

/// Spec-file JSON to BSON, with the extended JSON forms these files use.
fn to_bson(value: &Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            None => Bson::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(to_bson).collect()),
        Value::Object(map) => {
            if let Some(id) = map.get("$oid").and_then(Value::as_str)
                && let Ok(id) = ObjectId::parse_str(id)
            {
                return Bson::ObjectId(id);
            }
            if let Some(n) = map.get("$numberLong").and_then(Value::as_str)
                && let Ok(n) = n.parse()
            {
                return Bson::Int64(n);
            }
            Bson::Document(map.iter().map(|(k, v)| (k.clone(), to_bson(v))).collect())
        }
    }
}

fn cursor() -> Vec<Document> {
    vec![
        doc! { "cursor": { "id": 0_i64, "ns": "db.c", "firstBatch": [ { "_id": 1, "a": "x" }, { "_id": 2, "b": [1, 2] } ] }, "ok": 1.0 },
        doc! { "cursor": { "id": 123_456_789_i64, "ns": "db.c", "nextBatch": [ { "_id": 3 } ] }, "ok": 1 },
        doc! { "cursor": { "id": 5, "ns": "db.$cmd.listCollections", "firstBatch": [ { "name": "c", "type": "collection", "options": {}, "info": { "readOnly": false } } ] }, "ok": 1.0 },
        doc! { "cursor": { "id": 42_i64, "ns": "db.c", "nextBatch": [], "postBatchResumeToken": { "_data": "8263" } }, "ok": 1.0,
        "$clusterTime": { "clusterTime": Timestamp { time: 1, increment: 2 }, "signature": { "hash": Binary { subtype: BinarySubtype::Generic, bytes: vec![0; 20] }, "keyId": 0_i64 } },
        "operationTime": Timestamp { time: 1, increment: 2 } },
        doc! { "cursor": { "id": 7.0, "ns": "", "firstBatch": [ {} ] }, "ok": true },
        doc! { "ok": 0.0, "errmsg": "cursor id 5 not found", "code": 43, "codeName": "CursorNotFound" },
    ]
}

fn write() -> Vec<Document> {
    vec![
        doc! { "n": 1, "ok": 1.0 },
        doc! { "n": 1, "nModified": 1, "upserted": [ { "index": 0, "_id": oid(3) } ], "ok": 1.0 },
        doc! { "n": 0, "ok": 1.0, "writeErrors": [ { "index": 1, "code": 11000, "codeName": "DuplicateKey", "errmsg": "E11000 duplicate key", "errInfo": { "k": 1 } } ] },
        doc! { "n": 2, "ok": 1, "errorLabels": ["RetryableWriteError"], "writeConcernError": { "code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out", "errInfo": { "wtimeout": true } } },
        doc! { "n": 3_i64, "nModified": 2_i64, "ok": 1.0 },
        // Client bulkWrite replies: counts, and the per-write results in the cursor.
        doc! { "ok": 1.0, "nErrors": 0, "nInserted": 2, "nUpserted": 0, "nMatched": 1, "nModified": 1, "nDeleted": 1,
        "cursor": { "id": 0_i64, "ns": "admin.$cmd.bulkWrite", "firstBatch": [
            { "ok": 1, "idx": 0, "n": 1 }, { "ok": 1, "idx": 1, "n": 1, "nModified": 1, "upserted": { "_id": 5 } },
            { "ok": 1, "idx": 2, "n": 1 }, { "ok": 1, "idx": 3, "n": 1 } ] } },
        doc! { "ok": 1.0, "nErrors": 1, "nInserted": 1, "nUpserted": 0, "nMatched": 0, "nModified": 0, "nDeleted": 0,
        "writeConcernError": { "code": 91, "errmsg": "shutting down" },
        "cursor": { "id": 0_i64, "ns": "admin.$cmd.bulkWrite", "firstBatch": [
            { "ok": 1, "idx": 0, "n": 1 }, { "ok": 0, "idx": 1, "code": 11000, "codeName": "DuplicateKey", "errmsg": "dup", "errInfo": {} } ] } },
    ]
}

fn command_error() -> Vec<Document> {
    vec![
        doc! { "ok": 0.0, "errmsg": "not primary", "code": 10107, "codeName": "NotWritablePrimary",
        "errorLabels": ["RetryableWriteError"], "topologyVersion": topology_version(2) },
        doc! { "ok": 0, "errmsg": "node is recovering", "code": 11602_i64, "codeName": "InterruptedDueToReplStateChange" },
        doc! { "ok": 0.0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed" },
        doc! { "ok": 1.0, "writeConcernError": { "code": 91, "codeName": "ShutdownInProgress", "errmsg": "shutting down" },
        "topologyVersion": topology_version(3) },
        doc! { "ok": false, "errmsg": "no code" },
        doc! { "ok": 0.0, "code": 50.0, "errmsg": "operation exceeded time limit", "errorLabels": ["TransientTransactionError", 5] },
        // SASL replies.
        doc! { "conversationId": 1, "done": false, "ok": 1.0,
        "payload": Binary { subtype: BinarySubtype::Generic, bytes: b"r=abc,s=QQ==,i=4096".to_vec() } },
        doc! { "conversationId": 1, "done": true, "ok": 1.0, "payload": "dj1hYmM=" },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TARGETS;

    #[test]
    fn every_target_has_seeds_and_every_seed_runs() {
        let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec-tests");
        for target in TARGETS {
            let seeds = seeds(target.name, &spec);
            assert!(seeds.len() >= 5, "{}: {} seeds", target.name, seeds.len());
            let accepted = seeds.iter().filter(|(_, s)| (target.run)(s)).count();
            assert!(accepted > 0, "{}: no seed is accepted", target.name);
        }
    }
}
