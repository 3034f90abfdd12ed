//! `Collection::bulk_write`: a mixed list of inserts, updates, replaces and deletes, sent
//! as few commands as possible (the CRUD spec's bulk API).

use std::collections::HashMap;

use bson::{doc, Bson, Document};

use super::{checked_update, insert_opt, to_replacement, with_id, Collection, UpdateModifications};
use crate::{
    error::{BulkWriteFailure, ErrorKind, WriteConcernError, WriteError},
    options::{Hint, WriteConcern},
    Error, Result,
};

/// One write of a [`Collection::bulk_write`].
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
/// ], None)?;
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
    pub collation: Option<Document>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Which document an `UpdateOne`/`ReplaceOne` changes when several match.
    pub sort: Option<Document>,
}

/// Options of [`Collection::bulk_write`].
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
/// items.bulk_write(writes, unordered)?;
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

/// What a [`Collection::bulk_write`] did.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{WriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let upsert = WriteModelOptions { upsert: Some(true), ..Default::default() };
/// let result = items.bulk_write([
///     WriteModel::InsertOne { document: doc! { "_id": "fig" } },
///     WriteModel::ReplaceOne { filter: doc! { "_id": "plum" }, replacement: doc! { "qty": 1 }, options: upsert },
/// ], None)?;
/// assert_eq!((result.inserted_count, result.upserted_count), (1, 1));
/// assert_eq!(result.upserted_ids[&1], bson::Bson::String("plum".into()));
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct BulkWriteResult {
    /// Documents inserted.
    pub inserted_count: u64,
    /// Documents matched by updates and replaces.
    pub matched_count: u64,
    /// Documents changed by updates and replaces.
    pub modified_count: u64,
    /// Documents deleted.
    pub deleted_count: u64,
    /// Documents inserted by upserts.
    pub upserted_count: u64,
    /// The `_id` of each upserted document, by the index of its write.
    pub upserted_ids: HashMap<usize, Bson>,
    /// The `_id` of each inserted document, by the index of its write.
    pub inserted_ids: HashMap<usize, Bson>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Insert,
    Update,
    Delete,
}

impl<T> Collection<T> {
    /// Runs a mixed list of writes, grouping consecutive writes of one kind into one
    /// command. Ordered by default: it stops at the first refused write.
    ///
    /// # Errors
    /// [`ErrorKind::BulkWrite`] with the refused writes (indexes into `requests`), a write
    /// concern error if any, and the partial result; server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::{WriteModel, WriteModelOptions};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.bulk_write(
    ///     [
    ///         WriteModel::InsertOne { document: doc! { "sku": "fig", "qty": 1 } },
    ///         WriteModel::UpdateOne {
    ///             filter: doc! { "sku": "fig" },
    ///             update: doc! { "$inc": { "qty": 1 } }.into(),
    ///             options: WriteModelOptions::default(),
    ///         },
    ///         WriteModel::DeleteMany { filter: doc! { "qty": 0 }, options: WriteModelOptions::default() },
    ///     ],
    ///     None,
    /// )?;
    /// println!("{} inserted, {} modified", result.inserted_count, result.modified_count);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn bulk_write(
        &self,
        requests: impl IntoIterator<Item = WriteModel>,
        options: impl Into<Option<BulkWriteOptions>>,
    ) -> Result<BulkWriteResult> {
        let o = options.into().unwrap_or_default();
        let ordered = o.ordered.unwrap_or(true);
        let requests: Vec<WriteModel> = requests.into_iter().collect();
        if requests.is_empty() {
            return Err(Error::invalid_argument(
                "bulk_write needs at least one write",
            ));
        }
        let mut statements = Vec::with_capacity(requests.len());
        for request in requests {
            statements.push(statement(request)?);
        }
        let mut result = BulkWriteResult::default();
        let mut write_errors: Vec<WriteError> = Vec::new();
        let mut write_concern_error: Option<WriteConcernError> = None;
        let mut labels: Vec<String> = Vec::new();
        let mut start = 0;
        while start < statements.len() {
            let kind = statements[start].0;
            let end = statements[start..]
                .iter()
                .position(|(k, _, _)| *k != kind)
                .map_or(statements.len(), |n| start + n);
            let batch: Vec<Document> = statements[start..end]
                .iter()
                .map(|(_, s, _)| s.clone())
                .collect();
            let (name, field) = match kind {
                Kind::Insert => ("insert", "documents"),
                Kind::Update => ("update", "updates"),
                Kind::Delete => ("delete", "deletes"),
            };
            let mut command = doc! { name: self.name.as_str(), field: batch, "ordered": ordered };
            insert_opt(
                &mut command,
                "bypassDocumentValidation",
                o.bypass_document_validation,
            );
            insert_opt(&mut command, "comment", o.comment.clone());
            if kind != Kind::Insert {
                insert_opt(&mut command, "let", o.let_vars.clone());
            }
            self.add_write_concern(&mut command, o.write_concern.as_ref());
            // Retryable unless a statement may touch several documents.
            let retryable = statements[start..end].iter().all(|(_, s, _)| {
                !s.get_bool("multi").unwrap_or(false) && s.get_i32("limit").unwrap_or(1) != 0
            });
            let reply =
                self.run_write_command(command, None, retryable, o.write_concern.as_ref())?;
            let failed: Vec<usize> = reply.write_errors.iter().map(|e| e.index).collect();
            match kind {
                Kind::Insert => {
                    result.inserted_count += reply.n;
                    for (i, (_, _, id)) in statements[start..end].iter().enumerate() {
                        if !failed.contains(&i)
                            && (!ordered || failed.first().is_none_or(|f| i < *f))
                        {
                            if let Some(id) = id {
                                result.inserted_ids.insert(start + i, id.clone());
                            }
                        }
                    }
                }
                Kind::Update => {
                    let upserted = reply.upserted.len() as u64;
                    result.matched_count += reply.n - upserted;
                    result.modified_count += reply.n_modified;
                    result.upserted_count += upserted;
                    for (i, id) in &reply.upserted {
                        result.upserted_ids.insert(start + i, id.clone());
                    }
                }
                Kind::Delete => result.deleted_count += reply.n,
            }
            write_errors.extend(reply.write_errors.into_iter().map(|mut e| {
                e.index += start;
                e
            }));
            if reply.write_concern_error.is_some() {
                write_concern_error = reply.write_concern_error;
            }
            labels.extend(reply.labels);
            if ordered && !write_errors.is_empty() {
                break;
            }
            start = end;
        }
        if write_errors.is_empty() && write_concern_error.is_none() {
            return Ok(result);
        }
        Err(Error::new(ErrorKind::BulkWrite(BulkWriteFailure {
            write_errors,
            write_concern_error,
            partial_result: result,
        }))
        .with_labels(labels))
    }
}

/// The command statement of one write, its kind, and the `_id` of an insert.
fn statement(request: WriteModel) -> Result<(Kind, Document, Option<Bson>)> {
    let update = |filter: Document, u: Bson, multi: bool, o: WriteModelOptions| {
        let mut s = doc! { "q": filter, "u": u, "multi": multi };
        insert_opt(&mut s, "upsert", o.upsert);
        insert_opt(&mut s, "arrayFilters", o.array_filters);
        insert_opt(&mut s, "collation", o.collation);
        insert_opt(&mut s, "hint", o.hint.as_ref().map(Hint::to_bson));
        if !multi {
            insert_opt(&mut s, "sort", o.sort);
        }
        s
    };
    let delete = |filter: Document, limit: i32, o: WriteModelOptions| {
        let mut s = doc! { "q": filter, "limit": limit };
        insert_opt(&mut s, "collation", o.collation);
        insert_opt(&mut s, "hint", o.hint.as_ref().map(Hint::to_bson));
        s
    };
    Ok(match request {
        WriteModel::InsertOne { document } => {
            let (id, document) = with_id(&document)?;
            (Kind::Insert, document, Some(id))
        }
        WriteModel::UpdateOne {
            filter,
            update: u,
            options,
        } => (
            Kind::Update,
            update(filter, checked_update(u)?, false, options),
            None,
        ),
        WriteModel::UpdateMany {
            filter,
            update: u,
            options,
        } => (
            Kind::Update,
            update(filter, checked_update(u)?, true, options),
            None,
        ),
        WriteModel::ReplaceOne {
            filter,
            replacement,
            mut options,
        } => {
            options.array_filters = None;
            let replacement = Bson::Document(to_replacement(&replacement)?);
            (
                Kind::Update,
                update(filter, replacement, false, options),
                None,
            )
        }
        WriteModel::DeleteOne { filter, options } => {
            (Kind::Delete, delete(filter, 1, options), None)
        }
        WriteModel::DeleteMany { filter, options } => {
            (Kind::Delete, delete(filter, 0, options), None)
        }
    })
}
