//! The unified test format's files as Rust types (unified-test-format spec, "Test Format").
//!
//! A file is read as JSON, turned into BSON with the relaxed/canonical Extended JSON rules
//! (`{"$oid": ..}`, `{"$numberLong": ..}`, plain integers as int32 when they fit), then
//! deserialized into these types. Every structure the spec closes is
//! `#[serde(deny_unknown_fields)]`, so a field added by a newer spec file is noticed (the
//! file fails to parse and is reported as a failure) instead of silently ignored. Operation
//! arguments, commands and documents stay open [`Document`]s.
#![allow(dead_code)] // every field is parsed (to validate the file); not all are read

use std::{fmt, path::Path};

use bson::{Bson, Document};
use serde::{
    Deserialize, Deserializer,
    de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor},
};
use serde_json::Value;

/// The newest schema version this runner understands (1.x files up to this minor run).
pub const SUPPORTED_SCHEMA: Version = Version([1, 26, 0]);

/// A `major.minor.patch` version (missing components are zero, extra ones are ignored), as
/// `schemaVersion`, `minServerVersion` and `maxServerVersion` spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub [u32; 3]);

impl Version {
    /// Parses `"4.0"`, `"8.1.99"`, `"4.9.0-alpha4"` (the suffix is dropped).
    pub fn parse(s: &str) -> Result<Version, String> {
        let mut parts = [0; 3];
        for (i, part) in s.split('.').take(3).enumerate() {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            parts[i] = digits
                .parse()
                .map_err(|_| format!("bad version string {s:?}"))?;
        }
        Ok(Version(parts))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.0;
        write!(f, "{a}.{b}.{c}")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestFile {
    pub description: String,
    pub schema_version: String,
    pub run_on_requirements: Option<Vec<RunOnRequirement>>,
    pub create_entities: Option<Vec<EntityDescription>>,
    pub initial_data: Option<Vec<CollectionData>>,
    pub tests: Vec<TestCase>,
    #[serde(rename = "_yamlAnchors")]
    pub yaml_anchors: Option<Document>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunOnRequirement {
    pub min_server_version: Option<String>,
    pub max_server_version: Option<String>,
    pub topologies: Option<Vec<String>>,
    pub serverless: Option<String>,
    pub server_parameters: Option<Document>,
    pub auth: Option<bool>,
    pub auth_mechanism: Option<String>,
    pub csfle: Option<bool>,
}

/// One entity of `createEntities`: exactly one key naming its type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum EntityDescription {
    Client(ClientDescription),
    Database(DatabaseDescription),
    Collection(CollectionDescription),
    Session(SessionDescription),
    Bucket(BucketDescription),
    Thread(ThreadDescription),
    ClientEncryption(ClientEncryptionDescription),
}

impl EntityDescription {
    pub fn id(&self) -> &str {
        match self {
            EntityDescription::Client(c) => &c.id,
            EntityDescription::Database(d) => &d.id,
            EntityDescription::Collection(c) => &c.id,
            EntityDescription::Session(s) => &s.id,
            EntityDescription::Bucket(b) => &b.id,
            EntityDescription::Thread(t) => &t.id,
            EntityDescription::ClientEncryption(c) => &c.id,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientDescription {
    pub id: String,
    pub uri_options: Option<Document>,
    pub use_multiple_mongoses: Option<bool>,
    pub observe_events: Option<Vec<String>>,
    pub ignore_command_monitoring_events: Option<Vec<String>>,
    pub observe_sensitive_commands: Option<bool>,
    pub store_events_as_entities: Option<Vec<Document>>,
    pub observe_log_messages: Option<Document>,
    pub server_api: Option<Document>,
    pub auto_encrypt_opts: Option<Document>,
    #[serde(rename = "awaitMinPoolSizeMS")]
    pub await_min_pool_size_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatabaseDescription {
    pub id: String,
    pub client: String,
    pub database_name: String,
    pub database_options: Option<CollectionOrDatabaseOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CollectionDescription {
    pub id: String,
    pub database: String,
    pub collection_name: String,
    pub collection_options: Option<CollectionOrDatabaseOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionDescription {
    pub id: String,
    pub client: String,
    pub session_options: Option<Document>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BucketDescription {
    pub id: String,
    pub database: String,
    pub bucket_options: Option<Document>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadDescription {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientEncryptionDescription {
    pub id: String,
    pub client_encryption_opts: Document,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CollectionOrDatabaseOptions {
    pub read_concern: Option<ReadConcernSpec>,
    pub read_preference: Option<ReadPreferenceSpec>,
    pub write_concern: Option<WriteConcernSpec>,
    #[serde(rename = "timeoutMS")]
    pub timeout_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadConcernSpec {
    pub level: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReadPreferenceSpec {
    pub mode: String,
    pub tag_sets: Option<Vec<Document>>,
    pub max_staleness_seconds: Option<i64>,
    pub hedge: Option<Document>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteConcernSpec {
    pub w: Option<Bson>,
    pub journal: Option<bool>,
    #[serde(rename = "wtimeoutMS")]
    pub wtimeout_ms: Option<i64>,
}

/// `initialData` and `outcome` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CollectionData {
    pub collection_name: String,
    pub database_name: String,
    pub create_options: Option<Document>,
    pub documents: Vec<Document>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestCase {
    pub description: String,
    pub run_on_requirements: Option<Vec<RunOnRequirement>>,
    pub skip_reason: Option<String>,
    pub operations: Vec<Operation>,
    pub expect_events: Option<Vec<ExpectedEventsForClient>>,
    pub expect_log_messages: Option<Vec<Document>>,
    pub outcome: Option<Vec<CollectionData>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    pub object: String,
    pub arguments: Option<Document>,
    pub ignore_result_and_error: Option<bool>,
    pub expect_error: Option<ExpectedError>,
    /// `Some(Bson::Null)` for `expectResult: null`, `None` when absent.
    #[serde(default, deserialize_with = "present")]
    pub expect_result: Option<Bson>,
    pub save_result_as_entity: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpectedError {
    pub is_error: Option<bool>,
    pub is_client_error: Option<bool>,
    pub is_timeout_error: Option<bool>,
    pub error_contains: Option<String>,
    pub error_code: Option<i32>,
    pub error_code_name: Option<String>,
    pub error_labels_contain: Option<Vec<String>>,
    pub error_labels_omit: Option<Vec<String>>,
    pub write_errors: Option<Document>,
    pub write_concern_errors: Option<Vec<Document>>,
    pub error_response: Option<Document>,
    #[serde(default, deserialize_with = "present")]
    pub expect_result: Option<Bson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpectedEventsForClient {
    pub client: String,
    pub event_type: Option<String>,
    /// Parsed per event type by the event matcher (`events.rs`).
    pub events: Vec<Document>,
    pub ignore_extra_events: Option<bool>,
}

/// A field whose `null` means "expect null", not "absent".
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bson>, D::Error> {
    Bson::deserialize(d).map(Some)
}

/// Reads and parses a test file.
pub fn read_test_file(path: &Path) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let bson = parse_extended_json(&text)?;
    bson::deserialize_from_bson(bson).map_err(|e| format!("not a unified test file: {e}"))
}

/// Parses relaxed or canonical Extended JSON text, keeping the order of keys (the first
/// key of a command is its name). Plain integers become int32 when they fit (as relaxed
/// Extended JSON says), else int64; other numbers become doubles.
pub fn parse_extended_json(text: &str) -> Result<Bson, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = ExtJson
        .deserialize(&mut de)
        .map_err(|e| format!("bad JSON: {e}"))?;
    de.end().map_err(|e| format!("bad JSON: {e}"))?;
    Ok(value)
}

/// Extended JSON keys that turn an object into a BSON value. (`$regex` and `$type` are
/// left out: they are query operators too.)
const EXTJSON_KEYS: &[&str] = &[
    "$oid",
    "$symbol",
    "$numberInt",
    "$numberLong",
    "$numberDouble",
    "$numberDecimal",
    "$binary",
    "$uuid",
    "$code",
    "$scope",
    "$timestamp",
    "$regularExpression",
    "$dbPointer",
    "$date",
    "$minKey",
    "$maxKey",
    "$undefined",
];

/// A serde seed and visitor building [`Bson`] from JSON; objects with an Extended JSON key
/// go to the `bson` crate's own parser (key order inside them does not matter).
#[derive(Clone, Copy)]
struct ExtJson;

impl<'de> DeserializeSeed<'de> for ExtJson {
    type Value = Bson;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Bson, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExtJson {
    type Value = Bson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Extended JSON value")
    }

    fn visit_unit<E>(self) -> Result<Bson, E> {
        Ok(Bson::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Bson, E> {
        Ok(Bson::Boolean(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Bson, E> {
        Ok(i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Bson, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            Err(_) => Bson::Double(u as f64),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Bson, E> {
        Ok(Bson::Double(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Bson, E> {
        Ok(Bson::String(s.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bson, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Bson::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bson, A::Error> {
        let mut doc = Document::new();
        while let Some(key) = map.next_key::<String>()? {
            if doc.is_empty() && EXTJSON_KEYS.contains(&key.as_str()) {
                let mut object = serde_json::Map::new();
                object.insert(key, map.next_value::<Value>()?);
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    object.insert(k, v);
                }
                return Bson::deserialize(Value::Object(object)).map_err(A::Error::custom);
            }
            let value = map.next_value_seed(self)?;
            doc.insert(key, value);
        }
        Ok(Bson::Document(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    #[test]
    fn versions_compare_numerically() {
        assert!(Version::parse("4.0.10").unwrap() > Version::parse("4.0.9").unwrap());
        assert_eq!(Version::parse("3.6").unwrap(), Version([3, 6, 0]));
        assert_eq!(
            Version::parse("4.9.0-alpha4-271").unwrap(),
            Version([4, 9, 0])
        );
        assert!(Version::parse("x").is_err());
    }

    #[test]
    fn extended_json_becomes_typed_bson() {
        let value = r#"{
            "small": 1, "negative": -1, "big": 5000000000, "double": 1.5,
            "long": {"$numberLong": "2"}, "oid": {"$oid": "000000000000000000000001"},
            "query": {"$type": "string", "$regex": "^a"}
        }"#;
        let expected = doc! {
            "small": 1, "negative": -1, "big": 5_000_000_000i64, "double": 1.5,
            "long": 2i64, "oid": ObjectId::parse_str("000000000000000000000001").unwrap(),
            "query": {"$type": "string", "$regex": "^a"}
        };
        assert_eq!(
            parse_extended_json(value).unwrap(),
            Bson::Document(expected)
        );
        // Key order is kept: a command's name is its first key.
        let command = parse_extended_json(r#"{"z": 1, "a": 2, "m": 3}"#).unwrap();
        let keys: Vec<_> = command.as_document().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn expect_result_null_is_not_absent() {
        let op = |v: &str| -> Operation {
            bson::deserialize_from_bson(parse_extended_json(v).unwrap()).unwrap()
        };
        let with_null = op(r#"{"name": "findOne", "object": "c", "expectResult": null}"#);
        assert_eq!(with_null.expect_result, Some(Bson::Null));
        let without = op(r#"{"name": "findOne", "object": "c"}"#);
        assert_eq!(without.expect_result, None);
    }
}
