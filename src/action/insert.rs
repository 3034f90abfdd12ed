//! `Collection::insert_one` and `Collection::insert_many`.

use std::{borrow::Borrow, collections::HashMap};

use bson::{Bson, RawDocumentBuf};
use serde::Serialize;

use crate::{
    Collection, Error, ErrorKind, Result, operation,
    operation::Operation,
    options::*,
    results::{InsertManyResult, InsertOneResult},
    wire::batch,
};

impl<T: Serialize> Collection<T> {
    /// Inserts one document, with a generated `_id` when it has none. The document is
    /// serialized here, once, straight to BSON bytes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.insert_one(doc! { "sku": "fig", "qty": 3 }).run()?;
    /// println!("new _id: {}", result.inserted_id);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn insert_one(&self, document: impl Borrow<T>) -> InsertOne<'_, T> {
        InsertOne {
            coll: self,
            document: operation::raw_with_id(document.borrow()),
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Inserts documents, in as few `insert` commands as the server's limits allow
    /// (`maxWriteBatchSize`, `maxMessageSizeBytes`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let docs = (0..1000).map(|i| doc! { "n": i });
    /// let result = items.insert_many(docs).ordered(false).run()?;
    /// assert_eq!(result.inserted_ids.len(), 1000);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn insert_many(
        &self,
        documents: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_, T> {
        InsertMany {
            coll: self,
            documents: documents
                .into_iter()
                .map(|d| operation::raw_with_id(d.borrow()))
                .collect(),
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// An `insert` of one document, made by [`Collection::insert_one`]; ends in
/// [`run`](InsertOne::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let log = client.database("app").collection::<Document>("log");
/// log.insert_one(doc! { "event": "start" }).comment(bson::Bson::from("boot")).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct InsertOne<'a, T> {
    coll: &'a Collection<T>,
    /// The `_id` and the serialized document (with the `_id` first when generated).
    document: Result<(Bson, RawDocumentBuf)>,
    options: Option<InsertOneOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> InsertOne<'a, T> {
    option_setters!(InsertOneOptions;
        example("coll: Collection<Document>") "coll.insert_one(doc! { \"x\": 1 })";
        bypass_document_validation: (bool),
        write_concern: (WriteConcern),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.insert_one(doc! { \"x\": 1 })");

    timeout_setter!("coll: Collection<Document>" "coll.insert_one(doc! { \"x\": 1 })");

    /// Runs the insert (retried once on a retryable error).
    ///
    /// # Errors
    /// A document that does not serialize; server errors (a duplicate `_id` is a write
    /// error with code 11000); network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.insert_one(doc! { "_id": "fig" }).run()?;
    /// let again = items.insert_one(doc! { "_id": "fig" }).run().unwrap_err();
    /// assert_eq!(again.code(), Some(11000));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<InsertOneResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let (id, document) = self.document?;
            let options = self.options.unwrap_or_default();
            let op = operation::Insert::new(
                self.coll.namespace(),
                vec![document],
                true,
                options.bypass_document_validation,
                options.comment,
                self.coll
                    .concerns()
                    .write_concern_in(options.write_concern, self.session.as_deref())?,
            );
            self.coll
                .client()
                .execute_operation_in(op, self.session)?
                .into_single_result()?;
            Ok(InsertOneResult { inserted_id: id })
        })
    }
}

/// An `insert` of many documents, made by [`Collection::insert_many`]; ends in
/// [`run`](InsertMany::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// items.insert_many([doc! { "sku": "fig" }, doc! { "sku": "kiwi" }]).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct InsertMany<'a, T> {
    coll: &'a Collection<T>,
    documents: Result<Vec<(Bson, RawDocumentBuf)>>,
    options: Option<InsertManyOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> InsertMany<'a, T> {
    option_setters!(InsertManyOptions;
        example("coll: Collection<Document>") "coll.insert_many([doc! { \"x\": 1 }])";
        bypass_document_validation: (bool),
        ordered: (bool),
        write_concern: (WriteConcern),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.insert_many([doc! { \"x\": 1 }])");

    timeout_setter!("coll: Collection<Document>" "coll.insert_many([doc! { \"x\": 1 }])");

    /// Runs the inserts. Ordered (the default), they stop at the first error; unordered,
    /// every document that can be inserted is.
    ///
    /// # Errors
    /// [`ErrorKind::InsertMany`](crate::ErrorKind::InsertMany) with the write errors
    /// (indexes into the input) and the ids that were inserted; an empty input; network
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.insert_many([doc! { "_id": "a" }, doc! { "_id": "b" }]).run()?;
    /// assert_eq!(result.inserted_ids[&1], bson::Bson::String("b".into()));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<InsertManyResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let mut session = self.session;
            let prepared = self.documents?;
            if prepared.is_empty() {
                return Err(Error::invalid_argument(
                    "insert_many needs at least one document",
                ));
            }
            let o = self.options.unwrap_or_default();
            let ordered = o.ordered.unwrap_or(true);
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(o.write_concern, session.as_deref())?;
            // Every document is checked before the first batch goes out.
            let insert = |documents| {
                operation::Insert::new(
                    self.coll.namespace(),
                    documents,
                    ordered,
                    o.bypass_document_validation,
                    o.comment.clone(),
                    write_concern.clone(),
                )
            };
            let command_len = batch::document_len(&insert(Vec::new()).build()?.body)?;
            let batches =
                operation::insert_batches(&prepared, &batch::server_limits(), command_len)?;
            let mut pending = prepared.into_iter();
            let mut inserted = HashMap::new();
            let mut failures: Option<Error> = None;
            for batch in batches {
                let offset = batch.start;
                let (ids, documents): (Vec<Bson>, Vec<RawDocumentBuf>) =
                    pending.by_ref().take(batch.len()).unzip();
                let reply = self
                    .coll
                    .client()
                    .execute_operation_in(insert(documents), session.as_deref_mut())?;
                let had_errors = !reply.write_errors.is_empty();
                match reply.into_insert_many_error(offset, &ids, &inserted) {
                    None => {
                        inserted.extend(ids.into_iter().enumerate().map(|(i, id)| (offset + i, id)))
                    }
                    Some(error) => {
                        if let ErrorKind::InsertMany(batch_error) = &*error.kind {
                            inserted = batch_error.inserted_ids.clone();
                        }
                        failures = Some(operation::merge_insert_errors(failures, error));
                        if ordered && had_errors {
                            break;
                        }
                    }
                }
            }
            match failures {
                Some(mut error) => {
                    if let ErrorKind::InsertMany(e) = &mut *error.kind {
                        e.inserted_ids = inserted;
                    }
                    Err(error)
                }
                None => Ok(InsertManyResult {
                    inserted_ids: inserted,
                }),
            }
        })
    }
}
