//! The write models and options of bulk writes: the [`WriteModel`]s of
//! [`Collection::bulk_write`](crate::Collection::bulk_write) (one collection) and the
//! [`ClientWriteModel`]s of [`Client::bulk_write`](crate::Client::bulk_write) (any
//! namespaces, MongoDB 8.0+), and [`UpdateModifications`], the change an update applies.

use bson::{Bson, Document};

use super::{Collation, Hint, WriteConcern};

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
    pub(crate) fn to_bson(&self) -> Bson {
        match self {
            UpdateModifications::Document(d) => Bson::Document(d.clone()),
            UpdateModifications::Pipeline(p) => {
                Bson::Array(p.iter().cloned().map(Bson::Document).collect())
            }
        }
    }
}

/// One write of a [`Collection::bulk_write`](crate::Collection::bulk_write).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{WriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let result = items.bulk_write([
///     WriteModel::InsertOne { document: doc! { "sku": "fig", "qty": 5 } },
///     WriteModel::UpdateMany { filter: doc! { "qty": 0 }, update: doc! { "$set": { "soldOut": true } }.into(), options: WriteModelOptions::default() },
///     WriteModel::DeleteOne { filter: doc! { "sku": "plum" }, options: WriteModelOptions::default() },
/// ]).run()?;
/// println!("{} inserted, {} modified, {} deleted", result.inserted_count, result.modified_count, result.deleted_count);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WriteModel {
    /// Insert a document (an `_id` is generated if it has none).
    InsertOne {
        /// The document.
        document: Document,
    },
    /// Update the first document matching `filter`.
    UpdateOne {
        /// Which document.
        filter: Document,
        /// Operators or a pipeline.
        update: UpdateModifications,
        /// See [`UpdateOptions`](crate::options::UpdateOptions).
        options: WriteModelOptions,
    },
    /// Update every document matching `filter`.
    UpdateMany {
        /// Which documents.
        filter: Document,
        /// Operators or a pipeline.
        update: UpdateModifications,
        /// See [`UpdateOptions`](crate::options::UpdateOptions).
        options: WriteModelOptions,
    },
    /// Replace the first document matching `filter`.
    ReplaceOne {
        /// Which document.
        filter: Document,
        /// The new document (no operators).
        replacement: Document,
        /// `array_filters` does not apply.
        options: WriteModelOptions,
    },
    /// Delete the first document matching `filter`.
    DeleteOne {
        /// Which document.
        filter: Document,
        /// Only `collation` and `hint` apply.
        options: WriteModelOptions,
    },
    /// Delete every document matching `filter`.
    DeleteMany {
        /// Which documents.
        filter: Document,
        /// Only `collation` and `hint` apply.
        options: WriteModelOptions,
    },
}

/// Per-write options of a [`WriteModel`].
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::{options::Hint, WriteModel, WriteModelOptions};
///
/// let options = WriteModelOptions { upsert: Some(true), hint: Some(Hint::Name("sku_1".into())), ..Default::default() };
/// let restock = WriteModel::UpdateOne { filter: doc! { "sku": "fig" }, update: doc! { "$inc": { "qty": 10 } }.into(), options };
/// assert!(matches!(restock, WriteModel::UpdateOne { ref options, .. } if options.upsert == Some(true)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteModelOptions {
    /// Insert when nothing matches (updates and replaces).
    pub upsert: Option<bool>,
    /// Filters for `$[<identifier>]` (updates).
    pub array_filters: Option<Vec<Document>>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Which document an `UpdateOne`/`ReplaceOne` changes when several match.
    pub sort: Option<Document>,
}

/// Options of [`Collection::bulk_write`](crate::Collection::bulk_write).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{BulkWriteOptions, WriteModel};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let writes = ["a", "b", "c"].map(|sku| WriteModel::InsertOne { document: doc! { "sku": sku } });
/// let unordered = BulkWriteOptions { ordered: Some(false), ..Default::default() }; // go on past errors
/// items.bulk_write(writes).with_options(unordered).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BulkWriteOptions {
    /// Stop at the first error (default `true`).
    pub ordered: Option<bool>,
    /// Skip document validation.
    pub bypass_document_validation: Option<bool>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
}

/// One write of a [`Client::bulk_write`](crate::Client::bulk_write), naming its collection as `"db.collection"`.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::{ClientWriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let writes = vec![
///     ClientWriteModel::InsertOne { namespace: "shop.orders".into(), document: doc! { "sku": "fig", "qty": 2 } },
///     ClientWriteModel::Update {
///         namespace: "shop.items".into(),
///         filter: doc! { "sku": "fig" },
///         update: doc! { "$inc": { "qty": -2 } }.into(),
///         multi: false,
///         options: WriteModelOptions::default(),
///     },
/// ];
/// client.bulk_write(writes).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientWriteModel {
    /// Insert a document (an `_id` is generated if it has none).
    InsertOne {
        /// `"db.collection"`.
        namespace: String,
        /// The document.
        document: Document,
    },
    /// Update one (`multi: false`) or all (`multi: true`) documents matching `filter`.
    Update {
        /// `"db.collection"`.
        namespace: String,
        /// Which documents.
        filter: Document,
        /// Operators or a pipeline.
        update: UpdateModifications,
        /// Update every match rather than the first.
        multi: bool,
        /// Upsert, array filters, collation, hint, sort.
        options: crate::WriteModelOptions,
    },
    /// Replace the first document matching `filter`.
    ReplaceOne {
        /// `"db.collection"`.
        namespace: String,
        /// Which document.
        filter: Document,
        /// The new document (no operators).
        replacement: Document,
        /// Upsert, collation, hint, sort.
        options: crate::WriteModelOptions,
    },
    /// Delete one (`multi: false`) or all (`multi: true`) documents matching `filter`.
    Delete {
        /// `"db.collection"`.
        namespace: String,
        /// Which documents.
        filter: Document,
        /// Delete every match rather than the first.
        multi: bool,
        /// Collation and hint.
        options: crate::WriteModelOptions,
    },
}

/// Options of [`Client::bulk_write`](crate::Client::bulk_write).
///
/// # Examples
///
/// ```
/// use greenmongo::ClientBulkWriteOptions;
///
/// let options = ClientBulkWriteOptions { ordered: Some(false), verbose_results: Some(true), ..Default::default() };
/// assert_eq!(options.comment, None);
/// // client.bulk_write(writes).with_options(options).run()?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientBulkWriteOptions {
    /// Stop at the first error (default `true`).
    pub ordered: Option<bool>,
    /// Skip document validation.
    pub bypass_document_validation: Option<bool>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// The write concern (default: the client's).
    pub write_concern: Option<WriteConcern>,
    /// Also return the result of every single write (default `false`: counts only).
    pub verbose_results: Option<bool>,
}
