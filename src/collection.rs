//! Typed collections: the everyday CRUD API (the CRUD spec), in blocking style.
//!
//! Shaped like the official `mongodb` crate's 2.x API (methods taking
//! `impl Into<Option<XxxOptions>>`), so porting code from it means deleting `.await`.
//! This file holds the type and what every operation shares (concerns, read preference,
//! how a command is run); the operations live by kind in `read`, `write`,
//! `find_and_modify`, `admin` (indexes, rename, drop) and `bulk_write`.

mod admin;
mod bulk_write;
mod find_and_modify;
mod read;
mod write;

pub use bulk_write::{BulkWriteOptions, BulkWriteResult, WriteModel, WriteModelOptions};
pub(crate) use write::{checked_update, to_replacement, with_id};

use std::{fmt, marker::PhantomData};

use bson::{doc, Bson, Document};

use crate::{
    client::Retry,
    cursor::{Cursor, CursorSpec},
    operation::WriteReply,
    options::{ReadConcern, ReadPreference, ReadPreferenceMode, WriteConcern},
    topology::Criteria,
    wire::DocumentSequence,
    Client, Result,
};

/// The change an update applies: an update document (`$set`, `$inc`, ...) or an
/// aggregation pipeline.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::UpdateModifications;
///
/// let operators: UpdateModifications = doc! { "$inc": { "qty": 1 } }.into();
/// let pipeline: UpdateModifications = vec![doc! { "$set": { "total": { "$add": ["$a", "$b"] } } }].into();
/// assert!(matches!(operators, UpdateModifications::Document(_)));
/// assert!(matches!(pipeline, UpdateModifications::Pipeline(ref stages) if stages.len() == 1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateModifications {
    /// `doc! { "$set": { "x": 1 } }`.
    Document(Document),
    /// `vec![doc! { "$set": { "total": { "$add": ["$a", "$b"] } } }]`.
    Pipeline(Vec<Document>),
}

impl From<Document> for UpdateModifications {
    fn from(d: Document) -> Self {
        UpdateModifications::Document(d)
    }
}

impl From<Vec<Document>> for UpdateModifications {
    fn from(p: Vec<Document>) -> Self {
        UpdateModifications::Pipeline(p)
    }
}

impl UpdateModifications {
    fn to_bson(&self) -> Bson {
        match self {
            UpdateModifications::Document(d) => Bson::Document(d.clone()),
            UpdateModifications::Pipeline(p) => {
                Bson::Array(p.iter().cloned().map(Bson::Document).collect())
            }
        }
    }
}

/// A collection of documents of type `T` (default [`Document`]). Cheap to clone; no I/O
/// until used.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Item { sku: String, qty: i32 }
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Item>("items");
/// items.insert_one(Item { sku: "apple".into(), qty: 3 }, None)?;
/// let apple = items.find_one(doc! { "sku": "apple" }, None)?;
/// println!("{apple:?}");
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub struct Collection<T = Document> {
    client: Client,
    db: String,
    name: String,
    read_concern: Option<ReadConcern>,
    write_concern: Option<WriteConcern>,
    read_preference: Option<ReadPreference>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        self.clone_with_type()
    }
}

impl<T> fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("namespace", &self.namespace())
            .finish()
    }
}

impl<T> Collection<T> {
    pub(crate) fn new(client: Client, db: &str, name: &str) -> Collection<T> {
        let options = client.options();
        Collection {
            read_concern: options.read_concern.clone(),
            write_concern: options.write_concern.clone(),
            read_preference: options.read_preference.clone(),
            client,
            db: db.to_owned(),
            name: name.to_owned(),
            _type: PhantomData,
        }
    }

    /// The collection's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("shop").collection::<bson::Document>("items").name(), "items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `database.collection`.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("shop").collection::<bson::Document>("items").namespace(), "shop.items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.db, self.name)
    }

    /// The same collection, with documents read and written as `U`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Item { sku: String }
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let raw = client.database("shop").collection::<bson::Document>("items");
    /// let typed = raw.clone_with_type::<Item>();
    /// assert_eq!(typed.namespace(), "shop.items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn clone_with_type<U>(&self) -> Collection<U> {
        Collection {
            client: self.client.clone(),
            db: self.db.clone(),
            name: self.name.clone(),
            read_concern: self.read_concern.clone(),
            write_concern: self.write_concern.clone(),
            read_preference: self.read_preference.clone(),
            _type: PhantomData,
        }
    }

    /// This collection with a default write concern for its writes.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut majority = WriteConcern::default();
    /// majority.w = Some(Acknowledgment::Majority);
    /// let orders = client.database("shop").collection::<bson::Document>("orders").with_write_concern(majority);
    /// # let _ = orders; // every write through `orders` now waits for a majority
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }

    /// This collection with a default read concern for its reads.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<bson::Document>("items")
    ///     .with_read_concern(ReadConcern::new(ReadConcernLevel::Majority));
    /// # let _ = items; // reads see only majority-committed data
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_concern(mut self, read_concern: ReadConcern) -> Self {
        self.read_concern = Some(read_concern);
        self
    }

    /// This collection with a default read preference for its reads.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let reports = client.database("shop").collection::<bson::Document>("orders")
    ///     .with_read_preference(ReadPreference::new(ReadPreferenceMode::SecondaryPreferred));
    /// # let _ = reports; // reads go to a secondary when one is available
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_preference(mut self, read_preference: ReadPreference) -> Self {
        self.read_preference = Some(read_preference);
        self
    }

    fn run(&self, command: Document) -> Result<Document> {
        self.client.run_command(&self.db, command)
    }

    fn read_criteria(&self) -> Criteria {
        Criteria::Read(self.read_preference.clone().unwrap_or_default())
    }

    /// A read: on a server the read preference allows, retried once on a retryable error.
    fn run_read(&self, command: Document) -> Result<Document> {
        self.client
            .run_operation(&self.db, command, self.read_criteria(), Retry::Read)
    }

    /// A write: on the primary; retried once (same `txnNumber`) when `retryable`, i.e. a
    /// single-statement write.
    pub(crate) fn run_write(&self, command: Document, retryable: bool) -> Result<Document> {
        let retry = if retryable { Retry::Write } else { Retry::No };
        self.client
            .run_operation(&self.db, command, Criteria::Write, retry)
    }

    /// An insert, update or delete: runs it and reads the reply. An unacknowledged write
    /// (`w: 0`) reports nothing, whatever the server answered: no counts, no errors.
    /// `documents` go beside the command as an OP_MSG document sequence (an insert's).
    pub(crate) fn run_write_command(
        &self,
        command: Document,
        documents: Option<DocumentSequence>,
        retryable: bool,
        write_concern: Option<&WriteConcern>,
    ) -> Result<WriteReply> {
        let acknowledged = self.is_acknowledged(write_concern);
        let retry = if retryable { Retry::Write } else { Retry::No };
        let reply =
            self.client
                .run_operation_with(&self.db, command, documents, Criteria::Write, retry)?;
        Ok(if acknowledged {
            WriteReply::parse(&reply)
        } else {
            WriteReply::default()
        })
    }

    fn add_write_concern(&self, command: &mut Document, op: Option<&WriteConcern>) {
        if let Some(wc) = op.or(self.write_concern.as_ref()) {
            let wc = wc.to_document();
            if !wc.is_empty() {
                command.insert("writeConcern", wc);
            }
        }
    }

    /// Whether writes with the write concern `op` (default: the collection's) are
    /// acknowledged.
    fn is_acknowledged(&self, op: Option<&WriteConcern>) -> bool {
        op.or(self.write_concern.as_ref())
            .is_none_or(WriteConcern::is_acknowledged)
    }

    fn add_read_options(
        &self,
        command: &mut Document,
        read_concern: Option<&ReadConcern>,
        pref: Option<&ReadPreference>,
    ) {
        if let Some(rc) = read_concern.or(self.read_concern.as_ref()) {
            command.insert("readConcern", rc.to_document());
        }
        if let Some(pref) = pref.or(self.read_preference.as_ref()) {
            if pref.mode != ReadPreferenceMode::Primary {
                command.insert("$readPreference", read_preference_document(pref));
            }
        }
    }

    fn cursor<U>(
        &self,
        command: Document,
        spec: CursorSpec,
        criteria: Criteria,
    ) -> Result<Cursor<U>> {
        // Reads retry; an aggregate that writes ($out, $merge) does not.
        let retry = match criteria {
            Criteria::Read(_) => Retry::Read,
            Criteria::Write => Retry::No,
        };
        let opened = self
            .client
            .run_cursor_operation(&self.db, command, criteria, retry)?;
        Cursor::open(self.client.clone(), spec, opened)
    }
}

pub(crate) fn insert_opt(command: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(value) = value {
        command.insert(key, value.into());
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn read_preference_document(pref: &ReadPreference) -> Document {
    let mut doc = doc! { "mode": pref.mode.as_str() };
    if !pref.tag_sets.is_empty() {
        let tags: Vec<Document> = pref
            .tag_sets
            .iter()
            .map(|set| {
                set.iter()
                    .map(|(k, v)| (k.clone(), Bson::String(v.clone())))
                    .collect()
            })
            .collect();
        doc.insert("tags", tags);
    }
    if let Some(staleness) = pref.max_staleness {
        doc.insert("maxStalenessSeconds", staleness.as_secs() as i64);
    }
    doc
}
