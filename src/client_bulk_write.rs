//! `Client::bulk_write`: writes to many collections in one `bulkWrite` command (MongoDB
//! 8.0+, the CRUD spec's client bulk write).

use std::collections::HashMap;

use bson::{doc, Bson, Document};

use crate::{
    client::Retry,
    collection::{checked_update, insert_opt, to_replacement, with_id},
    error::{ErrorKind, WriteConcernError, WriteError},
    operation::{error_labels, get_int},
    options::{Hint, WriteConcern},
    topology::Criteria,
    Client, Error, Result, UpdateModifications,
};

/// One write of a [`Client::bulk_write`], naming its collection as `"db.collection"`.
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
/// client.bulk_write(writes, None)?;
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

/// Options of [`Client::bulk_write`].
///
/// # Examples
///
/// ```
/// use greenmongo::ClientBulkWriteOptions;
///
/// let options = ClientBulkWriteOptions { ordered: Some(false), verbose_results: Some(true), ..Default::default() };
/// assert_eq!(options.comment, None);
/// // client.bulk_write(writes, options)?
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

/// The result of one insert in a verbose [`ClientBulkWriteResult`].
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::{ClientBulkWriteOptions, ClientWriteModel};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let insert = ClientWriteModel::InsertOne { namespace: "shop.items".into(), document: doc! { "sku": "fig" } };
/// let verbose = ClientBulkWriteOptions { verbose_results: Some(true), ..Default::default() };
/// let result = client.bulk_write([insert], verbose)?;
/// println!("new _id: {}", result.insert_results[&0].inserted_id);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientInsertResult {
    /// The inserted document's `_id`.
    pub inserted_id: Bson,
}

/// The result of one update or replace in a verbose [`ClientBulkWriteResult`].
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::{ClientBulkWriteOptions, ClientWriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let restock = ClientWriteModel::Update {
///     namespace: "shop.items".into(),
///     filter: doc! { "qty": 0 },
///     update: doc! { "$set": { "qty": 10 } }.into(),
///     multi: true,
///     options: WriteModelOptions::default(),
/// };
/// let verbose = ClientBulkWriteOptions { verbose_results: Some(true), ..Default::default() };
/// let update = &client.bulk_write([restock], verbose)?.update_results[&0];
/// println!("{} matched, {} modified", update.matched_count, update.modified_count);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientUpdateResult {
    /// Documents matched (the server's `n`: 1 for an upsert).
    pub matched_count: u64,
    /// Documents changed.
    pub modified_count: u64,
    /// The `_id` of an upserted document.
    pub upserted_id: Option<Bson>,
}

/// The result of one delete in a verbose [`ClientBulkWriteResult`].
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::{ClientBulkWriteOptions, ClientWriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let delete = ClientWriteModel::Delete {
///     namespace: "shop.carts".into(),
///     filter: doc! { "expired": true },
///     multi: true,
///     options: WriteModelOptions::default(),
/// };
/// let verbose = ClientBulkWriteOptions { verbose_results: Some(true), ..Default::default() };
/// println!("{} deleted", client.bulk_write([delete], verbose)?.delete_results[&0].deleted_count);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientDeleteResult {
    /// Documents deleted.
    pub deleted_count: u64,
}

/// What a [`Client::bulk_write`] did.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::ClientWriteModel;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let writes = ["a", "b"].map(|sku| ClientWriteModel::InsertOne { namespace: "shop.items".into(), document: doc! { "sku": sku } });
/// let result = client.bulk_write(writes, None)?;
/// assert_eq!(result.inserted_count, 2);
/// assert!(result.insert_results.is_empty()); // counts only, unless verbose_results
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ClientBulkWriteResult {
    /// Documents inserted.
    pub inserted_count: u64,
    /// Documents upserted.
    pub upserted_count: u64,
    /// Documents matched by updates and replaces.
    pub matched_count: u64,
    /// Documents changed by updates and replaces.
    pub modified_count: u64,
    /// Documents deleted.
    pub deleted_count: u64,
    /// Per-insert results by write index (verbose results only).
    pub insert_results: HashMap<usize, ClientInsertResult>,
    /// Per-update results by write index (verbose results only).
    pub update_results: HashMap<usize, ClientUpdateResult>,
    /// Per-delete results by write index (verbose results only).
    pub delete_results: HashMap<usize, ClientDeleteResult>,
}

/// A [`Client::bulk_write`] that did not do everything.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::{ClientWriteModel, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let writes = [1, 1].map(|id| ClientWriteModel::InsertOne { namespace: "shop.items".into(), document: doc! { "_id": id } });
/// let err = client.bulk_write(writes, None).unwrap_err();
/// if let ErrorKind::ClientBulkWrite(failure) = &*err.kind {
///     assert_eq!(failure.write_errors[&1].code, 11000);
///     assert_eq!(failure.partial_result.as_ref().map(|r| r.inserted_count), Some(1));
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientBulkWriteFailure {
    /// Refused writes by index.
    pub write_errors: HashMap<usize, WriteError>,
    /// Write concern errors, if any.
    pub write_concern_errors: Vec<WriteConcernError>,
    /// What was done; `None` when no write succeeded.
    pub partial_result: Option<ClientBulkWriteResult>,
}

impl Client {
    /// Runs writes against any number of collections in one `bulkWrite` command
    /// (MongoDB 8.0 and later). With an unacknowledged write concern (`w: 0`) the result
    /// is all zeros.
    ///
    /// # Errors
    /// [`ErrorKind::ClientBulkWrite`] with the refused writes, write concern errors and the
    /// partial result; a command error (e.g. an older server without `bulkWrite`); network
    /// errors; [`ErrorKind::InvalidArgument`] for no writes, or `w: 0` with verbose results
    /// or ordered writes (the default).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::{ClientWriteModel, WriteModelOptions};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let result = client.bulk_write(
    ///     [
    ///         ClientWriteModel::InsertOne { namespace: "shop.items".into(), document: doc! { "sku": "fig" } },
    ///         ClientWriteModel::Delete {
    ///             namespace: "shop.carts".into(),
    ///             filter: doc! { "expired": true },
    ///             multi: true,
    ///             options: WriteModelOptions::default(),
    ///         },
    ///     ],
    ///     None,
    /// )?;
    /// println!("{} inserted, {} deleted", result.inserted_count, result.deleted_count);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn bulk_write(
        &self,
        models: impl IntoIterator<Item = ClientWriteModel>,
        options: impl Into<Option<ClientBulkWriteOptions>>,
    ) -> Result<ClientBulkWriteResult> {
        let o = options.into().unwrap_or_default();
        let verbose = o.verbose_results.unwrap_or(false);
        let ordered = o.ordered.unwrap_or(true);
        let write_concern = o
            .write_concern
            .as_ref()
            .or(self.options().write_concern.as_ref());
        let acknowledged = write_concern.is_none_or(WriteConcern::is_acknowledged);
        if !acknowledged && verbose {
            return Err(Error::invalid_argument(
                "Cannot request unacknowledged write concern and verbose results",
            ));
        }
        if !acknowledged && ordered {
            return Err(Error::invalid_argument(
                "Cannot request unacknowledged write concern and ordered writes",
            ));
        }
        let mut namespaces: Vec<String> = Vec::new();
        let mut ops = Vec::new();
        let mut inserted_ids = HashMap::new();
        for (index, model) in models.into_iter().enumerate() {
            let (op, id) = operation(model, &mut namespaces)?;
            if let Some(id) = id {
                inserted_ids.insert(index, id);
            }
            ops.push(op);
        }
        if ops.is_empty() {
            return Err(Error::invalid_argument(
                "bulk_write needs at least one write",
            ));
        }
        let ops_count = ops.len();
        // Retryable (retryable-writes spec) unless a write may touch several documents.
        let retry = if ops.iter().any(|op| op.get_bool("multi").unwrap_or(false)) {
            Retry::No
        } else {
            Retry::Write
        };
        let ns_info: Vec<Document> = namespaces
            .iter()
            .map(|ns| doc! { "ns": ns.as_str() })
            .collect();
        let mut command = doc! {
            "bulkWrite": 1,
            "ops": ops,
            "nsInfo": ns_info,
            "errorsOnly": !verbose,
            "ordered": ordered,
        };
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "let", o.let_vars.clone());
        if let Some(wc) = write_concern {
            let wc = wc.to_document();
            if !wc.is_empty() {
                command.insert("writeConcern", wc);
            }
        }
        let reply = self.run_operation("admin", command, Criteria::Write, retry)?;
        if !acknowledged {
            // The server does not report on unacknowledged writes.
            return Ok(ClientBulkWriteResult::default());
        }
        let mut result = ClientBulkWriteResult {
            inserted_count: count(&reply, "nInserted"),
            upserted_count: count(&reply, "nUpserted"),
            matched_count: count(&reply, "nMatched"),
            modified_count: count(&reply, "nModified"),
            deleted_count: count(&reply, "nDeleted"),
            ..Default::default()
        };
        let mut write_errors = HashMap::new();
        let cursor = self.database("admin").cursor_from_reply(&reply)?;
        for entry in cursor {
            let entry = entry?;
            let index = get_int(&entry, "idx").unwrap_or(0).max(0) as usize;
            if get_int(&entry, "ok") != Some(1) {
                write_errors.insert(
                    index,
                    WriteError {
                        index,
                        code: get_int(&entry, "code").unwrap_or(0) as i32,
                        code_name: entry.get_str("codeName").unwrap_or_default().to_owned(),
                        message: entry.get_str("errmsg").unwrap_or_default().to_owned(),
                        details: entry.get_document("errInfo").ok().cloned(),
                    },
                );
                continue;
            }
            if !verbose {
                continue;
            }
            let n = get_int(&entry, "n").unwrap_or(0).max(0) as u64;
            if let Some(id) = inserted_ids.get(&index) {
                result.insert_results.insert(
                    index,
                    ClientInsertResult {
                        inserted_id: id.clone(),
                    },
                );
            } else if entry.contains_key("nModified") {
                let upserted_id = entry
                    .get_document("upserted")
                    .ok()
                    .and_then(|u| u.get("_id").cloned());
                result.update_results.insert(
                    index,
                    ClientUpdateResult {
                        matched_count: n,
                        modified_count: get_int(&entry, "nModified").unwrap_or(0).max(0) as u64,
                        upserted_id,
                    },
                );
            } else {
                result
                    .delete_results
                    .insert(index, ClientDeleteResult { deleted_count: n });
            }
        }
        let write_concern_errors: Vec<WriteConcernError> = reply
            .get_document("writeConcernError")
            .ok()
            .map(|e| WriteConcernError {
                code: get_int(e, "code").unwrap_or(0) as i32,
                code_name: e.get_str("codeName").unwrap_or_default().to_owned(),
                message: e.get_str("errmsg").unwrap_or_default().to_owned(),
                details: e.get_document("errInfo").ok().cloned(),
            })
            .into_iter()
            .collect();
        if write_errors.is_empty() && write_concern_errors.is_empty() {
            return Ok(result);
        }
        // An ordered bulk stops at its first error; an unordered one tries everything.
        let succeeded = match write_errors.keys().min() {
            None => ops_count,
            Some(first) if ordered => *first,
            Some(_) => ops_count.saturating_sub(write_errors.len()),
        };
        let labels = error_labels(&reply);
        Err(
            Error::new(ErrorKind::ClientBulkWrite(ClientBulkWriteFailure {
                write_errors,
                write_concern_errors,
                partial_result: (succeeded > 0).then_some(result),
            }))
            .with_labels(labels),
        )
    }
}

fn count(reply: &Document, key: &str) -> u64 {
    get_int(reply, key).unwrap_or(0).max(0) as u64
}

/// The `ops` entry of one write, and the `_id` of an insert.
fn operation(
    model: ClientWriteModel,
    namespaces: &mut Vec<String>,
) -> Result<(Document, Option<Bson>)> {
    let mut index_of = |ns: String| -> Result<i32> {
        if !ns.contains('.') {
            return Err(Error::invalid_argument(format!(
                "namespace {ns:?} is not \"db.collection\""
            )));
        }
        let i = namespaces.iter().position(|n| *n == ns).unwrap_or_else(|| {
            namespaces.push(ns);
            namespaces.len() - 1
        });
        Ok(i as i32)
    };
    let update = |op: &mut Document, options: crate::WriteModelOptions| {
        insert_opt(op, "upsert", options.upsert);
        insert_opt(op, "arrayFilters", options.array_filters);
        insert_opt(op, "collation", options.collation);
        insert_opt(op, "hint", options.hint.as_ref().map(Hint::to_bson));
        insert_opt(op, "sort", options.sort);
    };
    Ok(match model {
        ClientWriteModel::InsertOne {
            namespace,
            document,
        } => {
            let (id, document) = with_id(&document)?;
            (
                doc! { "insert": index_of(namespace)?, "document": document },
                Some(id),
            )
        }
        ClientWriteModel::Update {
            namespace,
            filter,
            update: u,
            multi,
            options,
        } => {
            let mut op = doc! { "update": index_of(namespace)?, "filter": filter, "updateMods": checked_update(u)?, "multi": multi };
            update(&mut op, options);
            (op, None)
        }
        ClientWriteModel::ReplaceOne {
            namespace,
            filter,
            replacement,
            mut options,
        } => {
            options.array_filters = None;
            let replacement = to_replacement(&replacement)?;
            let mut op = doc! { "update": index_of(namespace)?, "filter": filter, "updateMods": replacement, "multi": false };
            update(&mut op, options);
            (op, None)
        }
        ClientWriteModel::Delete {
            namespace,
            filter,
            multi,
            options,
        } => {
            let mut op = doc! { "delete": index_of(namespace)?, "filter": filter, "multi": multi };
            insert_opt(&mut op, "collation", options.collation);
            insert_opt(&mut op, "hint", options.hint.as_ref().map(Hint::to_bson));
            (op, None)
        }
    })
}
