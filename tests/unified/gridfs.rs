//! GridFS in the unified test format (the GridFS spec's tests): the `bucket` entity and
//! its operations (`upload`, `download`, `downloadByName`, `delete`, `deleteByName`,
//! `rename`, `renameByName`, `drop`, `find`), mapped onto `greenmongo::gridfs`.
//!
//! Kept out of `entities.rs` and `operations.rs` so that those files carry one hook line
//! each (marked `// gridfs`).

use std::io::Read;

use bson::{Binary, Bson, Document, spec::BinarySubtype};
use greenmongo::{
    Error,
    gridfs::{GridFsBucket, GridFsBucketOptions, GridFsFindOptions},
};

use super::{
    entities::{Entity, EntityMap, read_concern, read_preference, write_concern},
    format::{BucketDescription, ReadPreferenceSpec, WriteConcernSpec},
    operations::{Args, OpResult, Value},
    outcome::{Step, Stop, fail, skip},
};

/// The bucket entity of a `bucket` description, on its database entity.
pub fn bucket(entities: &EntityMap, description: &BucketDescription) -> Step<Entity> {
    let db = entities.database(&description.database)?;
    let mut options = GridFsBucketOptions::default();
    for (key, value) in description.bucket_options.iter().flatten() {
        match (key.as_str(), value) {
            ("bucketName", Bson::String(name)) => options.bucket_name = Some(name.clone()),
            ("chunkSizeBytes", size) => match size.as_i32().or(size.as_i64().map(|v| v as i32)) {
                Some(size) if size > 0 => options.chunk_size_bytes = Some(size as u32),
                _ => return fail!("bucketOptions.chunkSizeBytes {size}"),
            },
            ("writeConcern", Bson::Document(wc)) => {
                let spec: WriteConcernSpec = bson::deserialize_from_document(wc.clone())
                    .map_err(|e| Stop::Fail(format!("bucketOptions.writeConcern: {e}")))?;
                options.write_concern = Some(write_concern(&spec)?);
            }
            ("readConcern", Bson::Document(rc)) => match rc.get_str("level") {
                Ok(level) => options.read_concern = Some(read_concern(level)),
                Err(_) => return fail!("bucketOptions.readConcern {rc}"),
            },
            ("readPreference", Bson::Document(rp)) => {
                let spec: ReadPreferenceSpec = bson::deserialize_from_document(rp.clone())
                    .map_err(|e| Stop::Fail(format!("bucketOptions.readPreference: {e}")))?;
                match read_preference(&spec) {
                    Ok(pref) => options.selection_criteria = Some(pref.into()),
                    Err(why) => return Ok(Entity::Unsupported(why)),
                }
            }
            (other, _) => {
                return Ok(Entity::Unsupported(format!(
                    "missing bucket option: {other}"
                )));
            }
        }
    }
    Ok(Entity::Bucket(db.gridfs_bucket(options)))
}

/// Runs operation `name` on bucket entity `id`.
pub fn run(name: &str, id: &str, entities: &mut EntityMap, mut a: Args) -> OpResult {
    let bucket = bucket_entity(entities, id)?;
    // The operation's own timeoutMS, on any bucket action.
    let timeout = a.millis("timeoutMS")?;
    macro_rules! timed {
        ($action:expr) => {
            match timeout {
                Some(t) => $action.timeout(t),
                None => $action,
            }
        };
    }
    let result = match name {
        "upload" => {
            let filename = a.string("filename")?.unwrap_or_default();
            let source = hex_bytes(a.doc("source")?)?;
            // The spec's upload_from_stream: one operation (and one timeoutMS) as a whole.
            let mut upload = bucket.upload_from_reader(&filename, &source[..]);
            if let Some(id) = a.take("id") {
                upload = upload.id(id);
            }
            if let Some(size) = a.int("chunkSizeBytes")? {
                upload = upload.chunk_size_bytes(size as u32);
            }
            if let Some(metadata) = a.doc("metadata")? {
                upload = upload.metadata(metadata);
            }
            a.done()?;
            timed!(upload).run().map(Value::Bson)
        }
        "download" => {
            let Some(id) = a.take("id") else {
                return fail!("download needs an id");
            };
            a.done()?;
            timed!(bucket.open_download_stream(id))
                .run()
                .and_then(read_all)
        }
        "downloadByName" => {
            let filename = a.string("filename")?.unwrap_or_default();
            let mut download = bucket.open_download_stream_by_name(filename);
            if let Some(revision) = a.int("revision")? {
                download = download.revision(revision as i32);
            }
            a.done()?;
            timed!(download).run().and_then(read_all)
        }
        "delete" => {
            let Some(id) = a.take("id") else {
                return fail!("delete needs an id");
            };
            a.done()?;
            timed!(bucket.delete(id)).run().map(|()| Value::Nothing)
        }
        "deleteByName" => {
            let filename = a.string("filename")?.unwrap_or_default();
            a.done()?;
            timed!(bucket.delete_by_name(filename))
                .run()
                .map(|()| Value::Nothing)
        }
        "rename" => {
            let Some(id) = a.take("id") else {
                return fail!("rename needs an id");
            };
            let new_filename = a.string("newFilename")?.unwrap_or_default();
            a.done()?;
            timed!(bucket.rename(id, new_filename))
                .run()
                .map(|()| Value::Nothing)
        }
        "renameByName" => {
            let filename = a.string("filename")?.unwrap_or_default();
            let new_filename = a.string("newFilename")?.unwrap_or_default();
            a.done()?;
            timed!(bucket.rename_by_name(filename, new_filename))
                .run()
                .map(|()| Value::Nothing)
        }
        "drop" => {
            a.done()?;
            timed!(bucket.drop()).run().map(|()| Value::Nothing)
        }
        "find" => {
            let filter = a.doc("filter")?.unwrap_or_default();
            let options = GridFsFindOptions {
                allow_disk_use: a.boolean("allowDiskUse")?,
                batch_size: a.int("batchSize")?.map(|n| n as u32),
                limit: a.int("limit")?,
                max_time: a.millis("maxTimeMS")?,
                no_cursor_timeout: a.boolean("noCursorTimeout")?,
                skip: a.int("skip")?.map(|n| n as u64),
                sort: a.doc("sort")?,
            };
            a.done()?;
            timed!(bucket.find(filter).with_options(options))
                .run()
                .and_then(|cursor| {
                    cursor
                        .map(|file| Ok(bson::serialize_to_document(&file?)?))
                        .collect::<Result<Vec<_>, Error>>()
                })
                .map(Value::Documents)
        }
        _ => return skip!("missing operation: {name} on a bucket"),
    };
    Ok(result)
}

/// The bucket of entity `id`, taken out of the map and put back (the map lends no
/// entity by reference beyond the kinds `entities.rs` knows).
fn bucket_entity(entities: &mut EntityMap, id: &str) -> Step<GridFsBucket> {
    match entities.remove(id) {
        Some(Entity::Bucket(bucket)) => {
            let copy = bucket.clone();
            entities.insert(id, Entity::Bucket(bucket))?;
            Ok(copy)
        }
        Some(other) => {
            entities.insert(id, other)?;
            fail!("entity {id:?} is not a bucket")
        }
        None => fail!("no entity {id:?}"),
    }
}

/// A download's bytes, as the binary `$$matchesHexBytes` compares.
fn read_all(mut stream: greenmongo::gridfs::GridFsDownloadStream) -> Result<Value, Error> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).map_err(io_error)?;
    Ok(Value::Bson(Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })))
}

/// The driver's error inside a stream's `io::Error` (so `isClientError` sees its kind).
fn io_error(e: std::io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(inner) => inner.clone(),
        None => Error::from(e),
    }
}

/// `source: { $$hexBytes: "..." }`, the bytes to upload.
fn hex_bytes(source: Option<Document>) -> Step<Vec<u8>> {
    let Some(hex) = source.as_ref().and_then(|s| s.get_str("$$hexBytes").ok()) else {
        return fail!("upload.source must be {{ $$hexBytes: ... }}, not {source:?}");
    };
    if hex.len() % 2 != 0 {
        return fail!("$$hexBytes: odd length {hex:?}");
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16)
                .map_err(|_| Stop::Fail(format!("$$hexBytes: not hex {hex:?}")))
        })
        .collect()
}
