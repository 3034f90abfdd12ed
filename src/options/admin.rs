//! Options of the index, collection and database administration commands (the Index
//! Management and Enumerate Collections / Databases specs), named as the official driver
//! names them.

use std::time::Duration;

use bson::{Bson, Document};

use super::{Collation, WriteConcern};

/// One index to create.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::IndexModel;
///
/// let ttl = IndexModel { keys: doc! { "createdAt": 1 }, options: Some(doc! { "expireAfterSeconds": 3600 }) };
/// let plain = IndexModel { keys: doc! { "sku": 1 }, ..Default::default() }; // named "sku_1"
/// assert!(plain.options.is_none());
/// // items.create_indexes([ttl, plain]).run()?
/// # let _ = ttl;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexModel {
    /// The key pattern, e.g. `doc! { "sku": 1 }`.
    pub keys: Document,
    /// Index options as the `createIndexes` command takes them (`name`, `unique`,
    /// `expireAfterSeconds`, `partialFilterExpression`, ...). Without a `name`, one is
    /// derived from the keys (`sku_1`).
    pub options: Option<Document>,
}

impl IndexModel {
    /// The index's name: from its options, else derived from its keys (`sku_1`).
    pub(crate) fn name(&self) -> String {
        self.options
            .as_ref()
            .and_then(|o| o.get_str("name").ok())
            .map_or_else(|| crate::operation::index_name(&self.keys), str::to_owned)
    }
}

/// An index as `createIndexes` takes it and `listIndexes` describes it: `key`, then the
/// options' fields.
impl serde::Serialize for IndexModel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut index = bson::doc! { "key": self.keys.clone() };
        index.extend(self.options.clone().unwrap_or_default());
        index.serialize(serializer)
    }
}

/// An index as `listIndexes` describes it: `key` becomes [`IndexModel::keys`], every
/// other field (`name`, `v`, `unique`, ...) goes into [`IndexModel::options`].
impl<'de> serde::Deserialize<'de> for IndexModel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut options = Document::deserialize(deserializer)?;
        let keys = match options.remove("key") {
            Some(Bson::Document(keys)) => keys,
            _ => return Err(serde::de::Error::missing_field("key")),
        };
        Ok(IndexModel {
            keys,
            options: Some(options),
        })
    }
}

/// Options of `create_index` and `create_indexes`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::options::CreateIndexOptions;
///
/// let options = CreateIndexOptions::builder().max_time(Duration::from_secs(60)).build();
/// assert!(options.max_time.is_some());
/// // items.create_index(model).with_options(options).run()?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreateIndexOptions {
    /// How many data-bearing members must finish building the index (`commitQuorum`):
    /// `"majority"`, `"votingMembers"`, a number or a tag set name (MongoDB 4.4+).
    pub commit_quorum: Option<Bson>,
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `drop_index` and `drop_indexes`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::options::DropIndexOptions;
///
/// let options = DropIndexOptions::builder().max_time(Duration::from_secs(5)).build();
/// assert!(options.max_time.is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DropIndexOptions {
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `list_indexes` and `list_index_names`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::ListIndexesOptions;
///
/// let options = ListIndexesOptions::builder().batch_size(10u32).build();
/// assert_eq!(options.batch_size, Some(10));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListIndexesOptions {
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Indexes per batch.
    pub batch_size: Option<u32>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `Collection::drop`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{DropCollectionOptions, WriteConcern};
///
/// let options = DropCollectionOptions::builder().write_concern(WriteConcern::majority()).build();
/// assert!(options.write_concern.is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DropCollectionOptions {
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
}

/// Options of `Database::drop`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{DropDatabaseOptions, WriteConcern};
///
/// let options = DropDatabaseOptions::builder().write_concern(WriteConcern::majority()).build();
/// assert!(options.write_concern.is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DropDatabaseOptions {
    /// The write concern (default: the database's).
    pub write_concern: Option<WriteConcern>,
}

/// Options of `list_collections` and `list_collection_names`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::ListCollectionsOptions;
///
/// let options = ListCollectionsOptions::builder().authorized_collections(true).build();
/// assert_eq!(options.authorized_collections, Some(true));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListCollectionsOptions {
    /// Only collections matching this filter (on `name`, `type`, `options`, `info`).
    pub filter: Option<Document>,
    /// Collections per batch.
    pub batch_size: Option<u32>,
    /// Only collections the user may act on (for users without `listCollections`).
    pub authorized_collections: Option<bool>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `list_databases` and `list_database_names`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::ListDatabasesOptions;
///
/// let options = ListDatabasesOptions::builder().authorized_databases(true).build();
/// assert_eq!(options.authorized_databases, Some(true));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListDatabasesOptions {
    /// Only databases matching this filter (on `name`, `sizeOnDisk`, `empty`, `shards`).
    pub filter: Option<Document>,
    /// Only databases the user may act on (for users without `listDatabases`).
    pub authorized_databases: Option<bool>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `Database::create_collection`: each becomes the field of the `create`
/// command of the same name in camelCase.
///
/// # Examples
///
/// ```
/// use greenmongo::options::CreateCollectionOptions;
///
/// let log = CreateCollectionOptions::builder().capped(true).size(1u64 << 20).build();
/// assert_eq!(log.size, Some(1 << 20));
/// // db.create_collection("log").with_options(log).run()?
///
/// // They also deserialize from the `create` command's fields (unknown ones are an error):
/// let from_doc: CreateCollectionOptions = bson::deserialize_from_document(bson::doc! { "capped": true, "size": 4096 })?;
/// assert_eq!(from_doc.size, Some(4096));
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCollectionOptions {
    /// A capped collection (fixed size, insertion order).
    pub capped: Option<bool>,
    /// The capped collection's size in bytes.
    #[serde(default, deserialize_with = "u64_from_number")]
    pub size: Option<u64>,
    /// At most this many documents in the capped collection.
    #[serde(default, deserialize_with = "u64_from_number")]
    pub max: Option<u64>,
    /// Storage engine options.
    pub storage_engine: Option<Document>,
    /// The validation rules, e.g. a `$jsonSchema`.
    pub validator: Option<Document>,
    /// `"off"`, `"strict"` or `"moderate"`.
    pub validation_level: Option<String>,
    /// `"error"` or `"warn"`.
    pub validation_action: Option<String>,
    /// A view: the source collection.
    pub view_on: Option<String>,
    /// A view: the pipeline over `view_on`.
    pub pipeline: Option<Vec<Document>>,
    /// Default string comparison rules.
    pub collation: Option<Collation>,
    /// The write concern (default: the database's).
    pub write_concern: Option<WriteConcern>,
    /// Default options of the collection's indexes (`{ storageEngine: ... }`).
    pub index_option_defaults: Option<Document>,
    /// A time series collection: `{ timeField, metaField, granularity }`.
    pub timeseries: Option<Document>,
    /// Expire time series documents (or a clustered collection's) after this long.
    #[serde(default, deserialize_with = "seconds_from_number")]
    pub expire_after_seconds: Option<Duration>,
    /// `{ enabled: true }` to record pre- and post-images for change streams.
    pub change_stream_pre_and_post_images: Option<Document>,
    /// A clustered collection: `{ key: { _id: 1 }, unique: true }`.
    pub clustered_index: Option<Document>,
    /// Queryable encryption's `encryptedFields` (sent as given).
    pub encrypted_fields: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// A count the server or a spec file may write as int32, int64 or double.
fn u64_from_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    match Bson::deserialize(d)? {
        Bson::Int32(n) if n >= 0 => Ok(Some(n as u64)),
        Bson::Int64(n) if n >= 0 => Ok(Some(n as u64)),
        Bson::Double(n) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
        other => Err(serde::de::Error::custom(format!(
            "expected a non-negative integer, found {other}"
        ))),
    }
}

fn seconds_from_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    Ok(u64_from_number(d)?.map(Duration::from_secs))
}

impl CreateCollectionOptions {
    /// The options as fields of the `create` command.
    pub(crate) fn to_command_fields(&self) -> Document {
        let mut fields = Document::new();
        let mut put = |key: &str, value: Option<Bson>| {
            if let Some(value) = value {
                fields.insert(key, value);
            }
        };
        let int = |n: u64| Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX));
        put("capped", self.capped.map(Bson::Boolean));
        put("size", self.size.map(int));
        put("max", self.max.map(int));
        put(
            "storageEngine",
            self.storage_engine.clone().map(Bson::Document),
        );
        put("validator", self.validator.clone().map(Bson::Document));
        put(
            "validationLevel",
            self.validation_level.clone().map(Bson::String),
        );
        put(
            "validationAction",
            self.validation_action.clone().map(Bson::String),
        );
        put("viewOn", self.view_on.clone().map(Bson::String));
        put(
            "pipeline",
            self.pipeline
                .clone()
                .map(|p| Bson::Array(p.into_iter().map(Bson::Document).collect())),
        );
        put("collation", self.collation.clone().map(Bson::from));
        put(
            "indexOptionDefaults",
            self.index_option_defaults.clone().map(Bson::Document),
        );
        put("timeseries", self.timeseries.clone().map(Bson::Document));
        put(
            "expireAfterSeconds",
            self.expire_after_seconds.map(|d| int(d.as_secs())),
        );
        put(
            "changeStreamPreAndPostImages",
            self.change_stream_pre_and_post_images
                .clone()
                .map(Bson::Document),
        );
        put(
            "clusteredIndex",
            self.clustered_index.clone().map(Bson::Document),
        );
        put(
            "encryptedFields",
            self.encrypted_fields.clone().map(Bson::Document),
        );
        put("comment", self.comment.clone());
        fields
    }
}

setters!(CreateIndexOptions {
    commit_quorum: Bson,
    max_time: Duration,
    write_concern: WriteConcern,
    comment: Bson
});
setters!(DropIndexOptions {
    max_time: Duration,
    write_concern: WriteConcern,
    comment: Bson
});
setters!(ListIndexesOptions {
    max_time: Duration,
    batch_size: u32,
    comment: Bson
});
setters!(DropCollectionOptions {
    write_concern: WriteConcern
});
setters!(DropDatabaseOptions {
    write_concern: WriteConcern
});
setters!(ListCollectionsOptions {
    filter: Document,
    batch_size: u32,
    authorized_collections: bool,
    comment: Bson
});
setters!(ListDatabasesOptions {
    filter: Document,
    authorized_databases: bool,
    comment: Bson
});
setters!(CreateCollectionOptions {
    capped: bool,
    size: u64,
    max: u64,
    storage_engine: Document,
    validator: Document,
    validation_level: String,
    validation_action: String,
    view_on: String,
    pipeline: Vec<Document>,
    collation: Collation,
    write_concern: WriteConcern,
    index_option_defaults: Document,
    timeseries: Document,
    expire_after_seconds: Duration,
    change_stream_pre_and_post_images: Document,
    clustered_index: Document,
    encrypted_fields: Document,
    comment: Bson
});
