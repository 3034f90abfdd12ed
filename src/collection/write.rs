//! Writes: inserts (batched to the server's limits), updates, replaces, deletes.

use std::{borrow::Borrow, collections::HashMap, iter::Peekable};

use bson::{doc, oid::ObjectId, Bson, Document, RawDocumentBuf};
use serde::Serialize;

use crate::{
    collection::{insert_opt, Collection, UpdateModifications},
    options::{DeleteOptions, InsertManyOptions, InsertOneOptions, UpdateOptions},
    results::{DeleteResult, InsertManyResult, InsertOneResult, UpdateResult},
    wire::{self, DocumentSequence},
    Error, Result,
};

/// Largest batch of one `insert` command; the server's `maxWriteBatchSize` default.
const MAX_WRITE_BATCH: usize = 100_000;
/// Largest `documents` sequence of one insert: the default `maxMessageSizeBytes` less
/// room for the header and the command document.
const MAX_BATCH_BYTES: usize = wire::DEFAULT_MAX_MESSAGE_SIZE_BYTES - wire::COMMAND_OVERHEAD_BYTES;

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
            .run_write_command(command, None, !multi, o.write_concern.as_ref())?
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
            .run_write_command(command, None, limit == 1, o.write_concern.as_ref())?
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
        let (id, document) = raw_with_id(document.borrow())?;
        let documents = DocumentSequence::new("documents", vec![document])?;
        let mut command = doc! { "insert": self.name.as_str(), "ordered": true };
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "comment", o.comment.clone());
        self.add_write_concern(&mut command, o.write_concern.as_ref());
        self.run_write_command(command, Some(documents), true, o.write_concern.as_ref())?
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
        // Each document is serialized once, straight to BSON bytes; batches move them
        // into the message's `documents` sequence.
        let mut prepared = Vec::new();
        for document in documents {
            prepared.push(raw_with_id(document.borrow())?);
        }
        if prepared.is_empty() {
            return Err(Error::invalid_argument(
                "insert_many needs at least one document",
            ));
        }
        let total = prepared.len();
        let mut pending = prepared.into_iter().peekable();
        let mut inserted = HashMap::new();
        let mut failures: Option<Error> = None;
        let mut offset = 0;
        while offset < total {
            let (ids, batch) = next_batch(&mut pending, offset)?;
            let end = offset + ids.len();
            let batch = DocumentSequence::new("documents", batch)?;
            let mut command = doc! { "insert": self.name.as_str(), "ordered": ordered };
            insert_opt(
                &mut command,
                "bypassDocumentValidation",
                o.bypass_document_validation,
            );
            insert_opt(&mut command, "comment", o.comment.clone());
            self.add_write_concern(&mut command, o.write_concern.as_ref());
            let reply =
                self.run_write_command(command, Some(batch), true, o.write_concern.as_ref())?;
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

/// The ids and documents of the next insert batch, taken from `pending` (whose first
/// document is number `offset` of the whole insert).
fn next_batch(
    pending: &mut Peekable<impl Iterator<Item = (Bson, RawDocumentBuf)>>,
    offset: usize,
) -> Result<(Vec<Bson>, Vec<RawDocumentBuf>)> {
    let mut bytes = 0;
    let (mut ids, mut batch) = (Vec::new(), Vec::new());
    while let Some((_, next)) = pending.peek() {
        let size = next.as_bytes().len();
        if size > wire::DEFAULT_MAX_BSON_OBJECT_SIZE {
            return Err(Error::invalid_argument(format!(
                "document {} is {size} bytes, over the 16 MiB BSON limit",
                offset + batch.len()
            )));
        }
        if batch.len() == MAX_WRITE_BATCH || (!batch.is_empty() && bytes + size > MAX_BATCH_BYTES) {
            break;
        }
        let Some((id, document)) = pending.next() else {
            break;
        };
        bytes += size;
        ids.push(id);
        batch.push(document);
    }
    Ok((ids, batch))
}

/// Serializes a document straight to BSON bytes, with a generated `_id` (an
/// [`ObjectId`]) first when it has none; returns the `_id` too.
fn raw_with_id<T: Serialize>(document: &T) -> Result<(Bson, RawDocumentBuf)> {
    let raw = bson::serialize_to_raw_document_buf(document)?;
    if let Some(id) = raw.get("_id")? {
        let id = Bson::try_from(id)?;
        return Ok((id, raw));
    }
    // Prepend the element to the bytes: length, then `_id` (type 0x07, the name, the
    // 12 bytes), then the original elements and terminator.
    let id = ObjectId::new();
    let bytes = raw.as_bytes();
    let mut with_id = Vec::with_capacity(bytes.len() + 17);
    let len = i32::try_from(bytes.len() + 17)
        .map_err(|_| Error::invalid_argument("document too large for BSON"))?;
    with_id.extend_from_slice(&len.to_le_bytes());
    with_id.push(0x07);
    with_id.extend_from_slice(b"_id\0");
    with_id.extend_from_slice(&id.bytes());
    with_id.extend_from_slice(&bytes[4..]);
    Ok((Bson::ObjectId(id), RawDocumentBuf::from_bytes(with_id)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_comes_first_and_a_given_one_is_kept_in_place() {
        let (id, raw) = raw_with_id(&doc! { "a": 1, "b": "two" }).unwrap();
        let back = Document::try_from(raw.as_ref()).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), ["_id", "a", "b"]);
        assert_eq!(back.get("_id"), Some(&id));
        assert!(matches!(id, Bson::ObjectId(_)));

        let (id, raw) = raw_with_id(&doc! { "a": 1, "_id": 7 }).unwrap();
        assert_eq!(id, Bson::Int32(7));
        let back = Document::try_from(raw.as_ref()).unwrap();
        assert_eq!(back, doc! { "a": 1, "_id": 7 });
    }

    #[test]
    fn batches_stop_at_the_count_limit_and_refuse_oversized_documents() {
        let docs = (0..MAX_WRITE_BATCH + 5).map(|i| raw_with_id(&doc! { "i": i as i64 }).unwrap());
        let mut pending = docs.peekable();
        let (ids, batch) = next_batch(&mut pending, 0).unwrap();
        assert_eq!((ids.len(), batch.len()), (MAX_WRITE_BATCH, MAX_WRITE_BATCH));
        let (ids, _) = next_batch(&mut pending, MAX_WRITE_BATCH).unwrap();
        assert_eq!(ids.len(), 5);

        let huge = doc! { "s": "x".repeat(wire::DEFAULT_MAX_BSON_OBJECT_SIZE) };
        let mut pending = vec![raw_with_id(&huge).unwrap()].into_iter().peekable();
        let err = next_batch(&mut pending, 3).unwrap_err();
        assert!(err.to_string().contains("document 3 is"), "{err}");
    }
}
