//! Writes: inserts (batched to the server's limits), updates, replaces, deletes.

use std::{borrow::Borrow, collections::HashMap};

use bson::{doc, oid::ObjectId, Bson, Document};
use serde::Serialize;

use crate::{
    collection::{insert_opt, Collection, UpdateModifications},
    options::{DeleteOptions, InsertManyOptions, InsertOneOptions, UpdateOptions},
    results::{DeleteResult, InsertManyResult, InsertOneResult, UpdateResult},
    Error, Result,
};

/// Largest batch of one `insert` command; the server's `maxWriteBatchSize` default.
const MAX_WRITE_BATCH: usize = 100_000;
/// Largest `documents` array of one command: the BSON object limit minus room for the rest.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024 - 16 * 1024;

impl<T> Collection<T> {
    /// Updates the first document matching `filter`.
    ///
    /// # Errors
    /// [`ErrorKind::Write`](crate::ErrorKind::Write) when the server refuses the update;
    /// server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let r = items.update_one(doc! { "sku": "apple" }, doc! { "$inc": { "qty": 1 } }, None)?;
    /// assert!(r.matched_count <= 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn update_one(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
        options: impl Into<Option<UpdateOptions>>,
    ) -> Result<UpdateResult> {
        let update = checked_update(update.into())?;
        self.update(filter, update, false, options.into().unwrap_or_default())
    }

    /// Updates every document matching `filter`.
    ///
    /// # Errors
    /// As [`Collection::update_one`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.update_many(doc! {}, vec![doc! { "$set": { "total": { "$multiply": ["$qty", "$price"] } } }], None)?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn update_many(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
        options: impl Into<Option<UpdateOptions>>,
    ) -> Result<UpdateResult> {
        let update = checked_update(update.into())?;
        self.update(filter, update, true, options.into().unwrap_or_default())
    }

    fn update(
        &self,
        filter: Document,
        update: Bson,
        multi: bool,
        o: UpdateOptions,
    ) -> Result<UpdateResult> {
        let mut statement = doc! { "q": filter, "u": update, "multi": multi };
        insert_opt(&mut statement, "upsert", o.upsert);
        insert_opt(&mut statement, "arrayFilters", o.array_filters.clone());
        insert_opt(&mut statement, "collation", o.collation.clone());
        insert_opt(&mut statement, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        if !multi {
            insert_opt(&mut statement, "sort", o.sort.clone());
        }
        let mut command =
            doc! { "update": self.name.as_str(), "updates": [statement], "ordered": true };
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "let", o.let_vars.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        self.add_write_concern(&mut command, o.write_concern.as_ref());
        let reply = self
            .run_write_command(command, !multi, o.write_concern.as_ref())?
            .into_single_result()?;
        let upserted_id = reply.upserted.into_iter().next().map(|(_, id)| id);
        Ok(UpdateResult {
            matched_count: if upserted_id.is_some() { 0 } else { reply.n },
            modified_count: reply.n_modified,
            upserted_id,
        })
    }

    /// Deletes the first document matching `filter`.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let r = client.database("shop").collection::<Document>("items").delete_one(doc! { "sku": "apple" }, None)?;
    /// assert!(r.deleted_count <= 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn delete_one(
        &self,
        filter: Document,
        options: impl Into<Option<DeleteOptions>>,
    ) -> Result<DeleteResult> {
        self.delete(filter, 1, options.into().unwrap_or_default())
    }

    /// Deletes every document matching `filter`.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("shop").collection::<Document>("items").delete_many(doc! { "qty": 0 }, None)?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn delete_many(
        &self,
        filter: Document,
        options: impl Into<Option<DeleteOptions>>,
    ) -> Result<DeleteResult> {
        self.delete(filter, 0, options.into().unwrap_or_default())
    }

    fn delete(&self, filter: Document, limit: i32, o: DeleteOptions) -> Result<DeleteResult> {
        let mut statement = doc! { "q": filter, "limit": limit };
        insert_opt(&mut statement, "collation", o.collation.clone());
        insert_opt(&mut statement, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        let mut command =
            doc! { "delete": self.name.as_str(), "deletes": [statement], "ordered": true };
        insert_opt(&mut command, "let", o.let_vars.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        self.add_write_concern(&mut command, o.write_concern.as_ref());
        let reply = self
            .run_write_command(command, limit == 1, o.write_concern.as_ref())?
            .into_single_result()?;
        Ok(DeleteResult {
            deleted_count: reply.n,
        })
    }
}

impl<T: Serialize> Collection<T> {
    /// Inserts a document, generating an `_id` (an [`ObjectId`]) if it has none.
    ///
    /// # Errors
    /// [`ErrorKind::Write`](crate::ErrorKind::Write) when the server refuses it (e.g. code
    /// 11000, a duplicate key); server, network and serialization errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let r = client.database("shop").collection::<Document>("items").insert_one(doc! { "sku": "pear" }, None)?;
    /// println!("new id {}", r.inserted_id);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn insert_one(
        &self,
        document: impl Borrow<T>,
        options: impl Into<Option<InsertOneOptions>>,
    ) -> Result<InsertOneResult> {
        let o = options.into().unwrap_or_default();
        let (id, document) = with_id(document.borrow())?;
        let mut command =
            doc! { "insert": self.name.as_str(), "documents": [document], "ordered": true };
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "comment", o.comment.clone());
        self.add_write_concern(&mut command, o.write_concern.as_ref());
        self.run_write_command(command, true, o.write_concern.as_ref())?
            .into_single_result()?;
        Ok(InsertOneResult { inserted_id: id })
    }

    /// Inserts documents in batches the server accepts. Ordered by default: it stops at
    /// the first refused document.
    ///
    /// # Errors
    /// [`ErrorKind::InsertMany`](crate::ErrorKind::InsertMany) naming each refused
    /// document and the ids of those inserted; server, network and serialization errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let r = items.insert_many((0..1000).map(|i| doc! { "n": i }), None)?;
    /// assert_eq!(r.inserted_ids.len(), 1000);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn insert_many<D: Borrow<T>>(
        &self,
        documents: impl IntoIterator<Item = D>,
        options: impl Into<Option<InsertManyOptions>>,
    ) -> Result<InsertManyResult> {
        let o = options.into().unwrap_or_default();
        let ordered = o.ordered.unwrap_or(true);
        let mut prepared = Vec::new();
        for document in documents {
            prepared.push(with_id(document.borrow())?);
        }
        if prepared.is_empty() {
            return Err(Error::invalid_argument(
                "insert_many needs at least one document",
            ));
        }
        let mut inserted = HashMap::new();
        let mut failures: Option<Error> = None;
        let mut offset = 0;
        while offset < prepared.len() {
            let (end, batch) = next_batch(&prepared, offset)?;
            let ids: Vec<Bson> = prepared[offset..end]
                .iter()
                .map(|(id, _)| id.clone())
                .collect();
            let mut command =
                doc! { "insert": self.name.as_str(), "documents": batch, "ordered": ordered };
            insert_opt(
                &mut command,
                "bypassDocumentValidation",
                o.bypass_document_validation,
            );
            insert_opt(&mut command, "comment", o.comment.clone());
            self.add_write_concern(&mut command, o.write_concern.as_ref());
            let reply = self.run_write_command(command, true, o.write_concern.as_ref())?;
            let had_errors = !reply.write_errors.is_empty();
            match reply.into_insert_many_error(offset, &ids, &inserted) {
                None => {
                    inserted.extend(ids.into_iter().enumerate().map(|(i, id)| (offset + i, id)))
                }
                Some(error) => {
                    let crate::ErrorKind::InsertMany(batch_error) = &*error.kind else {
                        unreachable!()
                    };
                    inserted = batch_error.inserted_ids.clone();
                    failures = Some(merge_insert_errors(failures, error));
                    if ordered && had_errors {
                        break;
                    }
                }
            }
            offset = end;
        }
        match failures {
            Some(mut error) => {
                if let crate::ErrorKind::InsertMany(e) = &mut *error.kind {
                    e.inserted_ids = inserted;
                }
                Err(error)
            }
            None => Ok(InsertManyResult {
                inserted_ids: inserted,
            }),
        }
    }

    /// Replaces the first document matching `filter` with `replacement`.
    ///
    /// # Errors
    /// As [`Collection::update_one`]; a replacement with update operators is refused.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.replace_one(doc! { "sku": "apple" }, doc! { "sku": "apple", "qty": 10 }, None)?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn replace_one(
        &self,
        filter: Document,
        replacement: impl Borrow<T>,
        options: impl Into<Option<UpdateOptions>>,
    ) -> Result<UpdateResult> {
        let replacement = to_replacement(replacement.borrow())?;
        let mut o = options.into().unwrap_or_default();
        o.array_filters = None;
        self.update(filter, Bson::Document(replacement), false, o)
    }
}

/// Serializes a document, putting a generated `_id` first when it has none.
pub(crate) fn with_id<T: Serialize>(document: &T) -> Result<(Bson, Document)> {
    let mut document = bson::serialize_to_document(document)?;
    match document.get("_id") {
        Some(id) => Ok((id.clone(), document)),
        None => {
            let id = Bson::ObjectId(ObjectId::new());
            let mut with_id = doc! { "_id": id.clone() };
            with_id.extend(std::mem::take(&mut document));
            Ok((id, with_id))
        }
    }
}

/// An update document must consist of operators; anything else is a replacement.
pub(crate) fn checked_update(update: UpdateModifications) -> Result<Bson> {
    if let UpdateModifications::Document(d) = &update {
        if d.keys().next().is_some_and(|k| !k.starts_with('$')) {
            return Err(Error::invalid_argument(
                "an update document must use update operators ($set, $inc, ...); use replace_one to replace a document",
            ));
        }
    }
    Ok(update.to_bson())
}

pub(crate) fn to_replacement<T: Serialize>(replacement: &T) -> Result<Document> {
    let document = bson::serialize_to_document(replacement)?;
    if document.keys().next().is_some_and(|k| k.starts_with('$')) {
        return Err(Error::invalid_argument(
            "a replacement document must not use update operators; use update_one to apply them",
        ));
    }
    Ok(document)
}

/// The end index and documents of the next insert batch starting at `offset`.
fn next_batch(prepared: &[(Bson, Document)], offset: usize) -> Result<(usize, Vec<Document>)> {
    let mut bytes = 0;
    let mut end = offset;
    let mut batch = Vec::new();
    while end < prepared.len() && batch.len() < MAX_WRITE_BATCH {
        let size = bson::RawDocumentBuf::try_from(&prepared[end].1)?
            .as_bytes()
            .len();
        if size > MAX_BATCH_BYTES {
            return Err(Error::invalid_argument(format!(
                "document {end} is {size} bytes, over the 16 MiB BSON limit"
            )));
        }
        if !batch.is_empty() && bytes + size > MAX_BATCH_BYTES {
            break;
        }
        bytes += size;
        batch.push(prepared[end].1.clone());
        end += 1;
    }
    Ok((end, batch))
}

fn merge_insert_errors(previous: Option<Error>, next: Error) -> Error {
    let Some(mut previous) = previous else {
        return next;
    };
    if let (crate::ErrorKind::InsertMany(a), crate::ErrorKind::InsertMany(b)) =
        (&mut *previous.kind, &*next.kind)
    {
        a.write_errors.extend(b.write_errors.iter().cloned());
        if a.write_concern_error.is_none() {
            a.write_concern_error = b.write_concern_error.clone();
        }
    }
    previous.with_labels(next.labels().map(str::to_owned).collect::<Vec<_>>())
}
