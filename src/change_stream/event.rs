//! The documents a change stream yields (the change-streams spec's `ChangeStreamDocument`)
//! and the resume token that marks a place in the stream.

use std::fmt;

use bson::{DateTime, Document, RawBson, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An opaque token marking a place in a change stream: the `_id` of an event, or the
/// `postBatchResumeToken` the server sends with each batch. Give it back with
/// [`resume_after`](crate::action::Watch::resume_after) or
/// [`start_after`](crate::action::Watch::start_after) to continue where a stream stopped;
/// it serializes as the server sent it, so it can be stored (as BSON or JSON) and read
/// back.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::change_stream::event::ResumeToken;
///
/// // As stored by an earlier run, e.g. in a document of its own.
/// let stored = doc! { "token": { "_data": "8263A1" } };
/// let token: ResumeToken = bson::deserialize_from_bson(stored.get("token").unwrap().clone())?;
/// let again = bson::serialize_to_bson(&token)?;
/// assert_eq!(&again, stored.get("token").unwrap());
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResumeToken(pub(crate) RawBson);

impl ResumeToken {
    /// The token as a BSON value, to put in a command or a document.
    pub(crate) fn to_bson(&self) -> bson::Bson {
        bson::Bson::try_from(self.0.clone()).unwrap_or(bson::Bson::Null)
    }
}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResumeToken({})", self.to_bson())
    }
}

/// What happened, as `operationType` says. Kinds this driver does not name (the server
/// adds some over time) come as [`Other`](OperationType::Other), never as an error.
///
/// # Examples
///
/// ```
/// use greenmongo::change_stream::event::OperationType;
///
/// let kind: OperationType = bson::deserialize_from_bson(bson::Bson::from("insert"))?;
/// assert_eq!(kind, OperationType::Insert);
/// let new: OperationType = bson::deserialize_from_bson(bson::Bson::from("reshardCollection"))?;
/// assert_eq!(new, OperationType::Other("reshardCollection".into()));
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperationType {
    /// A document was inserted.
    Insert,
    /// A document was updated (see `update_description`).
    Update,
    /// A document was replaced.
    Replace,
    /// A document was deleted.
    Delete,
    /// The collection was dropped.
    Drop,
    /// The collection was renamed (see `to`).
    Rename,
    /// The database was dropped.
    DropDatabase,
    /// The stream cannot go on (its collection was dropped or renamed, or its database
    /// dropped): the last event of the stream.
    Invalidate,
    /// A collection was created (with `show_expanded_events`).
    Create,
    /// Indexes were created (with `show_expanded_events`).
    CreateIndexes,
    /// Indexes were dropped (with `show_expanded_events`).
    DropIndexes,
    /// A collection's options were changed (with `show_expanded_events`).
    Modify,
    /// Any other kind, as the server spells it.
    Other(String),
}

impl OperationType {
    /// The server's spelling.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::change_stream::event::OperationType;
    ///
    /// assert_eq!(OperationType::DropDatabase.as_str(), "dropDatabase");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            OperationType::Insert => "insert",
            OperationType::Update => "update",
            OperationType::Replace => "replace",
            OperationType::Delete => "delete",
            OperationType::Drop => "drop",
            OperationType::Rename => "rename",
            OperationType::DropDatabase => "dropDatabase",
            OperationType::Invalidate => "invalidate",
            OperationType::Create => "create",
            OperationType::CreateIndexes => "createIndexes",
            OperationType::DropIndexes => "dropIndexes",
            OperationType::Modify => "modify",
            OperationType::Other(other) => other,
        }
    }

    fn parse(s: &str) -> OperationType {
        match s {
            "insert" => OperationType::Insert,
            "update" => OperationType::Update,
            "replace" => OperationType::Replace,
            "delete" => OperationType::Delete,
            "drop" => OperationType::Drop,
            "rename" => OperationType::Rename,
            "dropDatabase" => OperationType::DropDatabase,
            "invalidate" => OperationType::Invalidate,
            "create" => OperationType::Create,
            "createIndexes" => OperationType::CreateIndexes,
            "dropIndexes" => OperationType::DropIndexes,
            "modify" => OperationType::Modify,
            other => OperationType::Other(other.to_owned()),
        }
    }
}

impl Serialize for OperationType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OperationType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(OperationType::parse(&s))
    }
}

/// The namespace of an event (`ns`, and `to` for a rename).
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::change_stream::event::ChangeNamespace;
///
/// let ns: ChangeNamespace = bson::deserialize_from_document(doc! { "db": "shop", "coll": "items" })?;
/// assert_eq!((ns.db.as_str(), ns.coll.as_deref()), ("shop", Some("items")));
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeNamespace {
    /// The database.
    pub db: String,
    /// The collection (absent for database-wide events such as `dropDatabase`).
    pub coll: Option<String>,
}

/// What an `update` changed (`updateDescription`).
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::change_stream::event::UpdateDescription;
///
/// let d: UpdateDescription = bson::deserialize_from_document(doc! {
///     "updatedFields": { "qty": 4 }, "removedFields": ["note"], "truncatedArrays": [],
/// })?;
/// assert_eq!(d.updated_fields, doc! { "qty": 4 });
/// assert_eq!(d.removed_fields, ["note"]);
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UpdateDescription {
    /// The fields set, with their new values.
    pub updated_fields: Document,
    /// The fields removed.
    pub removed_fields: Vec<String>,
    /// Arrays made shorter (MongoDB 5.0+).
    pub truncated_arrays: Option<Vec<TruncatedArray>>,
    /// For paths with dots or numeric keys, the path components as written (with
    /// `show_expanded_events`, MongoDB 6.1+).
    pub disambiguated_paths: Option<Document>,
}

/// An array an update made shorter.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::change_stream::event::TruncatedArray;
///
/// let t: TruncatedArray = bson::deserialize_from_document(doc! { "field": "tags", "newSize": 2 })?;
/// assert_eq!((t.field.as_str(), t.new_size), ("tags", 2));
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TruncatedArray {
    /// The array's path.
    pub field: String,
    /// Its length after the update.
    pub new_size: i32,
}

/// One change: what happened, where, and (depending on the options) the document
/// before and after. `T` is the collection's document type (`full_document` and
/// `full_document_before_change` deserialize as it). Unknown fields are ignored and
/// unknown operation types kept, as the spec asks.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::change_stream::event::OperationType;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// for event in items.watch().run()? {
///     let event = event?;
///     match event.operation_type {
///         OperationType::Insert => println!("new: {:?}", event.full_document),
///         OperationType::Update => println!("changed: {:?}", event.update_description),
///         OperationType::Delete => println!("gone: {:?}", event.document_key),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChangeStreamEvent<T> {
    /// The event's resume token (`_id`).
    #[serde(rename = "_id")]
    pub id: ResumeToken,
    /// What happened.
    pub operation_type: OperationType,
    /// The database and collection it happened in.
    pub ns: Option<ChangeNamespace>,
    /// For a rename: the new namespace.
    pub to: Option<ChangeNamespace>,
    /// The session of the change, when made in a transaction.
    pub lsid: Option<Document>,
    /// The transaction number of the change, when made in a transaction.
    pub txn_number: Option<i64>,
    /// The `_id` (and shard key) of the document changed.
    pub document_key: Option<Document>,
    /// For an update: the fields changed.
    pub update_description: Option<UpdateDescription>,
    /// The time of the change in the oplog.
    pub cluster_time: Option<Timestamp>,
    /// The wall-clock time of the change (MongoDB 6.0+).
    pub wall_time: Option<DateTime>,
    /// The document after the change: always for inserts and replaces; for updates with
    /// `full_document` set (`None` when it is gone by then or not available).
    pub full_document: Option<T>,
    /// The document before the change, with `full_document_before_change` set.
    pub full_document_before_change: Option<T>,
    /// For the events of `show_expanded_events`: what the operation did.
    pub operation_description: Option<Document>,
}
