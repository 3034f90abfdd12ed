//! Options of the index, collection and database administration commands (the Index
//! Management and Enumerate Collections / Databases specs), named as the official driver
//! names them.

use std::time::Duration;

use bson::{Bson, Document};

use super::{Collation, WriteConcern};

/// One index to create: its keys and options.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bson::doc;
/// use greenmongo::options::{IndexModel, IndexOptions};
///
/// let ttl = IndexModel::builder()
///     .keys(doc! { "createdAt": 1 })
///     .options(IndexOptions::builder().expire_after(Duration::from_secs(3600)).build())
///     .build();
/// let plain = IndexModel::builder().keys(doc! { "sku": 1 }).build(); // named "sku_1"
/// assert!(plain.options.is_none());
/// // items.create_indexes([ttl, plain]).run()?
/// # let _ = ttl;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct IndexModel {
    /// The key pattern, e.g. `doc! { "sku": 1 }`.
    pub keys: Document,
    /// The index's options; without a [`name`](IndexOptions::name), one is derived from the
    /// keys (`sku_1`).
    pub options: Option<IndexOptions>,
}

impl IndexModel {
    /// An index model to build with [`keys`](Self::keys) and [`options`](Self::options).
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::options::IndexModel;
    ///
    /// let model = IndexModel::builder().keys(doc! { "a": 1 }).build();
    /// assert_eq!(model.keys, doc! { "a": 1 });
    /// ```
    pub fn builder() -> IndexModel {
        IndexModel::default()
    }

    /// Sets the key pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::options::IndexModel;
    ///
    /// let compound = IndexModel::builder().keys(doc! { "price": -1, "qty": 1 }).build();
    /// assert_eq!(compound.keys.len(), 2);
    /// ```
    pub fn keys(mut self, keys: Document) -> Self {
        self.keys = keys;
        self
    }

    /// Sets the options.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::options::{IndexModel, IndexOptions};
    ///
    /// let unique = IndexModel::builder()
    ///     .keys(doc! { "sku": 1 })
    ///     .options(IndexOptions::builder().unique(true).build())
    ///     .build();
    /// assert_eq!(unique.options.unwrap().unique, Some(true));
    /// ```
    pub fn options(mut self, options: impl Into<Option<IndexOptions>>) -> Self {
        self.options = options.into();
        self
    }

    /// The model, ready to pass (the end of a builder chain).
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::options::IndexModel;
    ///
    /// let model: IndexModel = IndexModel::builder().keys(doc! { "a": 1 }).build();
    /// # let _ = model;
    /// ```
    pub fn build(self) -> Self {
        self
    }

    /// The index's name: from its options, else derived from its keys (`sku_1`).
    pub(crate) fn name(&self) -> String {
        self.options
            .as_ref()
            .and_then(|o| o.name.clone())
            .unwrap_or_else(|| crate::operation::index_name(&self.keys))
    }

    /// The index as `createIndexes` takes it: `key`, its options, and its name.
    pub(crate) fn to_document(&self) -> Document {
        let mut index = bson::doc! { "key": self.keys.clone() };
        if let Some(options) = &self.options {
            index.extend(Document::from(options));
        }
        if !index.contains_key("name") {
            index.insert("name", self.name());
        }
        index
    }
}

/// An index as `createIndexes` takes it and `listIndexes` describes it: `key`, then the
/// options' fields.
impl serde::Serialize for IndexModel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut index = bson::doc! { "key": self.keys.clone() };
        if let Some(options) = &self.options {
            index.extend(Document::from(options));
        }
        index.serialize(serializer)
    }
}

/// An index as `listIndexes` describes it: `key` becomes [`IndexModel::keys`], the other
/// fields its [`IndexOptions`] (fields greenmongo does not know, such as `ns` from old
/// servers, are left out).
impl<'de> serde::Deserialize<'de> for IndexModel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Document::deserialize(deserializer)?;
        let keys = match fields.remove("key") {
            Some(Bson::Document(keys)) => keys,
            _ => return Err(serde::de::Error::missing_field("key")),
        };
        let options = IndexOptions::from_fields(fields).map_err(serde::de::Error::custom)?;
        Ok(IndexModel {
            keys,
            options: Some(options),
        })
    }
}

/// The options of one index (the `createIndexes` command's index fields), as the
/// official driver names them.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::IndexOptions;
///
/// let active_only = IndexOptions::builder()
///     .name("active_email".to_string())
///     .unique(true)
///     .partial_filter_expression(doc! { "active": true })
///     .build();
/// assert_eq!(bson::Document::from(&active_only).get_str("name")?, "active_email");
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IndexOptions {
    /// Build in the background (ignored by MongoDB 4.2 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// A TTL index: documents expire this long after the indexed date.
    #[serde(
        rename = "expireAfterSeconds",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "seconds_to_number",
        deserialize_with = "seconds_from_number"
    )]
    pub expire_after: Option<Duration>,
    /// The index's name (default: derived from the keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only documents that have the indexed field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    /// Storage engine options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_engine: Option<Document>,
    /// Reject duplicate keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique: Option<bool>,
    /// The index format version (`v`).
    #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// A text index: the default language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_language: Option<String>,
    /// A text index: the field that holds each document's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_override: Option<String>,
    /// A text index: its version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_index_version: Option<i32>,
    /// A text index: the weight of each field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Document>,
    /// A 2dsphere index: its version.
    #[serde(
        rename = "2dsphereIndexVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub sphere_2d_index_version: Option<i32>,
    /// A 2d index: the precision of the geohash, in bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
    /// A 2d index: the upper bound of coordinates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// A 2d index: the lower bound of coordinates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// A geoHaystack index: the bucket size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_size: Option<u32>,
    /// A partial index: only documents matching this filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_filter_expression: Option<Document>,
    /// String comparison rules of the index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collation: Option<Collation>,
    /// A wildcard index: which fields it covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wildcard_projection: Option<Document>,
    /// Hidden from the query planner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// The index of a clustered collection (as `listIndexes` reports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clustered: Option<bool>,
}

impl IndexOptions {
    /// Index options from the fields of an index document; fields it has no name for are
    /// left out (see [`unknown_fields`](Self::unknown_fields)).
    fn from_fields(fields: Document) -> Result<IndexOptions, bson::error::Error> {
        bson::deserialize_from_document(fields)
    }

    /// The fields of `fields` that [`IndexOptions`] has no name for: what a strict caller
    /// (the unified test runner, which passes spec options through) must refuse.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::options::IndexOptions;
    ///
    /// let unknown = IndexOptions::unknown_fields(&doc! { "unique": true, "colour": "red" });
    /// assert_eq!(unknown, ["colour"]);
    /// ```
    pub fn unknown_fields(fields: &Document) -> Vec<String> {
        let known = IndexOptions::from_fields(fields.clone())
            .map(|o| Document::from(&o))
            .unwrap_or_default();
        fields
            .keys()
            .filter(|k| !known.contains_key(k.as_str()))
            .cloned()
            .collect()
    }
}

impl From<&IndexOptions> for Document {
    /// The index fields `createIndexes` takes.
    fn from(options: &IndexOptions) -> Document {
        // Strings, numbers, booleans and documents only: serialization cannot fail.
        bson::serialize_to_document(options).unwrap_or_default()
    }
}

fn seconds_to_number<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_i64(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        None => s.serialize_none(),
    }
}

setters!(IndexOptions {
    background: bool,
    expire_after: Duration,
    name: String,
    sparse: bool,
    storage_engine: Document,
    unique: bool,
    version: i32,
    default_language: String,
    language_override: String,
    text_index_version: i32,
    weights: Document,
    sphere_2d_index_version: i32,
    bits: u32,
    max: f64,
    min: f64,
    bucket_size: u32,
    partial_filter_expression: Document,
    collation: Collation,
    wildcard_projection: Document,
    hidden: bool,
    clustered: bool
});

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
