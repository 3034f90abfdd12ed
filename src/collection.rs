//! Typed collections: the everyday CRUD API (the CRUD spec), in blocking style.
//!
//! Shaped like the official `mongodb` crate's 2.x API (methods taking
//! `impl Into<Option<XxxOptions>>`), so porting code from it means deleting `.await`.

mod bulk_write;

pub use bulk_write::{BulkWriteOptions, BulkWriteResult, WriteModel, WriteModelOptions};

use std::{borrow::Borrow, collections::HashMap, fmt, marker::PhantomData};

use bson::{doc, oid::ObjectId, Bson, Document};
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    client::Retry,
    cursor::{Cursor, CursorSpec},
    operation::{get_int, index_name, CursorReply, WriteReply},
    options::{
        AggregateOptions, CountOptions, CursorType, DeleteOptions, DistinctOptions,
        FindOneAndModifyOptions, FindOptions, IndexModel, InsertManyOptions, InsertOneOptions,
        ReadConcern, ReadPreference, ReadPreferenceMode, ReturnDocument, UpdateOptions,
        WriteConcern,
    },
    results::{DeleteResult, InsertManyResult, InsertOneResult, UpdateResult},
    topology::Criteria,
    Client, Error, Result,
};

/// Largest batch of one `insert` command; the server's `maxWriteBatchSize` default.
const MAX_WRITE_BATCH: usize = 100_000;
/// Largest `documents` array of one command: the BSON object limit minus room for the rest.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024 - 16 * 1024;

/// The change an update applies: an update document (`$set`, `$inc`, ...) or an
/// aggregation pipeline.
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
    pub fn with_write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }

    /// This collection with a default read concern for its reads.
    pub fn with_read_concern(mut self, read_concern: ReadConcern) -> Self {
        self.read_concern = Some(read_concern);
        self
    }

    /// This collection with a default read preference for its reads.
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
    pub(crate) fn run_write_command(
        &self,
        command: Document,
        retryable: bool,
        write_concern: Option<&WriteConcern>,
    ) -> Result<WriteReply> {
        let acknowledged = self.is_acknowledged(write_concern);
        let reply = self.run_write(command, retryable)?;
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
        let (reply, address, session) = self
            .client
            .run_cursor_operation(&self.db, command, criteria)?;
        let reply = match CursorReply::parse(reply) {
            Ok(reply) => reply,
            Err(e) => {
                self.client.end_session(session);
                return Err(e);
            }
        };
        Ok(Cursor::new(
            self.client.clone(),
            spec,
            reply,
            Some(address),
            session,
        ))
    }

    /// Runs a `find` and returns a cursor over the matching documents.
    ///
    /// # Errors
    /// Server and network errors. Documents that do not deserialize as `T` come out of the
    /// cursor as errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::FindOptions;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let cheapest = FindOptions { sort: Some(doc! { "price": 1 }), limit: Some(3), ..Default::default() };
    /// for item in items.find(doc! {}, cheapest)? {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find(
        &self,
        filter: Document,
        options: impl Into<Option<FindOptions>>,
    ) -> Result<Cursor<T>> {
        let options = options.into().unwrap_or_default();
        let mut command = doc! { "find": self.name.as_str(), "filter": filter };
        let o = &options;
        insert_opt(&mut command, "projection", o.projection.clone());
        insert_opt(&mut command, "sort", o.sort.clone());
        insert_opt(&mut command, "skip", o.skip.map(|s| s as i64));
        if let Some(limit) = o.limit.filter(|l| *l != 0) {
            command.insert("limit", limit.abs());
            if limit < 0 {
                command.insert("singleBatch", true);
            }
        }
        insert_opt(&mut command, "batchSize", o.batch_size.map(i64::from));
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "allowDiskUse", o.allow_disk_use);
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "let", o.let_vars.clone());
        insert_opt(&mut command, "noCursorTimeout", o.no_cursor_timeout);
        insert_opt(&mut command, "allowPartialResults", o.allow_partial_results);
        insert_opt(&mut command, "returnKey", o.return_key);
        insert_opt(&mut command, "showRecordId", o.show_record_id);
        insert_opt(&mut command, "min", o.min.clone());
        insert_opt(&mut command, "max", o.max.clone());
        match o.cursor_type {
            Some(CursorType::Tailable) => {
                command.insert("tailable", true);
            }
            Some(CursorType::TailableAwait) => {
                command.insert("tailable", true);
                command.insert("awaitData", true);
            }
            _ => {}
        }
        self.add_read_options(
            &mut command,
            o.read_concern.as_ref(),
            o.selection_criteria.as_ref(),
        );
        let max_await_time = o
            .max_await_time
            .filter(|_| o.cursor_type == Some(CursorType::TailableAwait));
        let spec = CursorSpec {
            db: self.db.clone(),
            batch_size: o.batch_size,
            max_await_time,
            limit: o.limit.map(|l| l.unsigned_abs()),
            comment: o.comment.clone(),
            stop_on_empty_batch: o.cursor_type.is_some_and(|t| t != CursorType::NonTailable)
                && max_await_time.is_none(),
        };
        self.cursor(command, spec, self.read_criteria())
    }

    /// Runs an aggregation pipeline; the results are documents (their shape is the
    /// pipeline's), so the cursor yields [`Document`]s.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let orders = client.database("shop").collection::<Document>("orders");
    /// let totals = orders.aggregate([doc! { "$group": { "_id": "$sku", "n": { "$sum": "$qty" } } }], None)?;
    /// for total in totals {
    ///     println!("{}", total?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn aggregate(
        &self,
        pipeline: impl IntoIterator<Item = Document>,
        options: impl Into<Option<AggregateOptions>>,
    ) -> Result<Cursor<Document>> {
        let target = Bson::String(self.name.clone());
        self.aggregate_on(target, pipeline.into_iter().collect(), options.into())
    }

    /// `aggregate` against `target`: this collection's name, or `1` for a database-level
    /// aggregation (run through a collection handle with an empty name).
    pub(crate) fn aggregate_on(
        &self,
        target: Bson,
        pipeline: Vec<Document>,
        options: Option<AggregateOptions>,
    ) -> Result<Cursor<Document>> {
        let o = options.unwrap_or_default();
        let writes = pipeline
            .last()
            .is_some_and(|s| s.contains_key("$out") || s.contains_key("$merge"));
        let mut cursor = Document::new();
        // A $out/$merge pipeline returns no documents; batchSize 0 would only make the
        // server keep an empty cursor open (CRUD spec: send `cursor: {}`).
        let batch_size = o.batch_size.filter(|n| !(writes && *n == 0));
        insert_opt(&mut cursor, "batchSize", batch_size.map(i64::from));
        let mut command = doc! { "aggregate": target, "pipeline": pipeline, "cursor": cursor };
        insert_opt(&mut command, "allowDiskUse", o.allow_disk_use);
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "let", o.let_vars.clone());
        if writes {
            self.add_write_concern(&mut command, o.write_concern.as_ref());
            self.add_read_options(&mut command, o.read_concern.as_ref(), None);
        } else {
            self.add_read_options(&mut command, o.read_concern.as_ref(), None);
        }
        let spec = CursorSpec {
            db: self.db.clone(),
            batch_size: o.batch_size,
            comment: o.comment.clone(),
            ..Default::default()
        };
        let criteria = if writes {
            Criteria::Write
        } else {
            self.read_criteria()
        };
        self.cursor(command, spec, criteria)
    }

    /// Counts the documents matching `filter` (an aggregation with `$match` and `$group`).
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let n = client.database("shop").collection::<Document>("items").count_documents(doc! { "qty": 0 }, None)?;
    /// println!("{n} items out of stock");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn count_documents(
        &self,
        filter: Document,
        options: impl Into<Option<CountOptions>>,
    ) -> Result<u64> {
        let o = options.into().unwrap_or_default();
        let mut pipeline = vec![doc! { "$match": filter }];
        if let Some(skip) = o.skip {
            pipeline.push(doc! { "$skip": skip as i64 });
        }
        if let Some(limit) = o.limit {
            pipeline.push(doc! { "$limit": limit as i64 });
        }
        pipeline.push(doc! { "$group": { "_id": 1, "n": { "$sum": 1 } } });
        let aggregate = AggregateOptions {
            max_time: o.max_time,
            hint: o.hint,
            collation: o.collation,
            comment: o.comment,
            read_concern: o.read_concern,
            ..Default::default()
        };
        let mut cursor = self.aggregate(pipeline, aggregate)?;
        match cursor.next().transpose()? {
            Some(result) => Ok(get_int(&result, "n").unwrap_or(0).max(0) as u64),
            None => Ok(0),
        }
    }

    /// The collection's document count from its metadata (fast, approximate after an
    /// unclean shutdown).
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let n = client.database("shop").collection::<bson::Document>("items").estimated_document_count()?;
    /// # let _ = n;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn estimated_document_count(&self) -> Result<u64> {
        let mut command = doc! { "count": self.name.as_str() };
        self.add_read_options(&mut command, None, None);
        let reply = self.run_read(command)?;
        Ok(get_int(&reply, "n").unwrap_or(0).max(0) as u64)
    }

    /// The distinct values of `field` among the documents matching `filter`.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let skus = client.database("shop").collection::<Document>("items").distinct("sku", doc! {}, None)?;
    /// # let _ = skus;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn distinct(
        &self,
        field: &str,
        filter: Document,
        options: impl Into<Option<DistinctOptions>>,
    ) -> Result<Vec<Bson>> {
        let o = options.into().unwrap_or_default();
        let mut command = doc! { "distinct": self.name.as_str(), "key": field, "query": filter };
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        self.add_read_options(&mut command, o.read_concern.as_ref(), None);
        let reply = self.run_read(command)?;
        Ok(reply.get_array("values").cloned().unwrap_or_default())
    }

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

    /// Finds one document, deletes it and returns it (`None` with an unacknowledged write
    /// concern).
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let jobs = client.database("work").collection::<Document>("queue");
    /// if let Some(job) = jobs.find_one_and_delete(doc! {}, None)? {
    ///     println!("took {job}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one_and_delete(
        &self,
        filter: Document,
        options: impl Into<Option<FindOneAndModifyOptions>>,
    ) -> Result<Option<T>>
    where
        T: DeserializeOwned,
    {
        let mut command =
            doc! { "findAndModify": self.name.as_str(), "query": filter, "remove": true };
        self.find_and_modify(&mut command, options.into().unwrap_or_default())
    }

    /// Finds one document, applies `update` and returns it (before or after, per
    /// [`FindOneAndModifyOptions::return_document`]; `None` with an unacknowledged write
    /// concern).
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::{FindOneAndModifyOptions, ReturnDocument};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let counters = client.database("app").collection::<Document>("counters");
    /// let after = FindOneAndModifyOptions { return_document: Some(ReturnDocument::After), upsert: Some(true), ..Default::default() };
    /// let next = counters.find_one_and_update(doc! { "_id": "orders" }, doc! { "$inc": { "seq": 1 } }, after)?;
    /// # let _ = next;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one_and_update(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
        options: impl Into<Option<FindOneAndModifyOptions>>,
    ) -> Result<Option<T>>
    where
        T: DeserializeOwned,
    {
        let o = options.into().unwrap_or_default();
        let mut command = doc! { "findAndModify": self.name.as_str(), "query": filter, "update": update.into().to_bson() };
        insert_opt(&mut command, "arrayFilters", o.array_filters.clone());
        self.find_and_modify(&mut command, o)
    }

    /// Finds one document, replaces it with `replacement` and returns it (before or after;
    /// `None` with an unacknowledged write concern).
    ///
    /// # Errors
    /// Server and network errors; a replacement that does not serialize.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.find_one_and_replace(doc! { "sku": "apple" }, doc! { "sku": "apple", "qty": 0 }, None)?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one_and_replace(
        &self,
        filter: Document,
        replacement: impl Borrow<T>,
        options: impl Into<Option<FindOneAndModifyOptions>>,
    ) -> Result<Option<T>>
    where
        T: Serialize + DeserializeOwned,
    {
        let replacement = to_replacement(replacement.borrow())?;
        let mut command =
            doc! { "findAndModify": self.name.as_str(), "query": filter, "update": replacement };
        self.find_and_modify(&mut command, options.into().unwrap_or_default())
    }

    fn find_and_modify(
        &self,
        command: &mut Document,
        o: FindOneAndModifyOptions,
    ) -> Result<Option<T>>
    where
        T: DeserializeOwned,
    {
        insert_opt(command, "sort", o.sort.clone());
        insert_opt(command, "fields", o.projection.clone());
        if !command.contains_key("remove") {
            command.insert("new", o.return_document == Some(ReturnDocument::After));
            insert_opt(command, "upsert", o.upsert);
        }
        insert_opt(
            command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(command, "collation", o.collation.clone());
        insert_opt(command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        insert_opt(command, "let", o.let_vars.clone());
        insert_opt(command, "comment", o.comment.clone());
        self.add_write_concern(command, o.write_concern.as_ref());
        let acknowledged = self.is_acknowledged(o.write_concern.as_ref());
        let reply = self.run_write(command.clone(), true)?;
        if !acknowledged {
            // Nothing to report: the server was told not to answer.
            return Ok(None);
        }
        let written = WriteReply::parse(&reply);
        if let Some(error) = written.write_concern_error {
            return Err(Error::new(crate::ErrorKind::Write(
                crate::error::WriteFailure::WriteConcernError(error),
            ))
            .with_labels(written.labels));
        }
        match reply.get("value") {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(bson::deserialize_from_document(d.clone())?)),
            Some(other) => Err(Error::invalid_response(format!(
                "findAndModify returned a {:?} value",
                other.element_type()
            ))),
        }
    }

    /// Creates an index and returns its name.
    ///
    /// # Errors
    /// Server and network errors (e.g. an index of that name with other keys exists).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::IndexModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let name = items.create_index(IndexModel { keys: doc! { "sku": 1 }, options: Some(doc! { "unique": true }) })?;
    /// assert_eq!(name, "sku_1");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn create_index(&self, model: IndexModel) -> Result<String> {
        Ok(self.create_indexes([model])?.remove(0))
    }

    /// Creates several indexes in one command and returns their names.
    ///
    /// # Errors
    /// Server and network errors.
    pub fn create_indexes(
        &self,
        models: impl IntoIterator<Item = IndexModel>,
    ) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let indexes: Vec<Document> = models
            .into_iter()
            .map(|m| {
                let mut index = doc! { "key": m.keys.clone() };
                index.extend(m.options.clone().unwrap_or_default());
                if !index.contains_key("name") {
                    index.insert("name", index_name(&m.keys));
                }
                names.push(index.get_str("name").unwrap_or_default().to_owned());
                index
            })
            .collect();
        let mut command = doc! { "createIndexes": self.name.as_str(), "indexes": indexes };
        self.add_write_concern(&mut command, None);
        self.run(command)?;
        Ok(names)
    }

    /// The collection's indexes, as the server describes them.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for index in client.database("shop").collection::<bson::Document>("items").list_indexes()? {
    ///     println!("{}", index?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_indexes(&self) -> Result<Cursor<Document>> {
        let command = doc! { "listIndexes": self.name.as_str(), "cursor": {} };
        let spec = CursorSpec {
            db: self.db.clone(),
            ..Default::default()
        };
        self.cursor(command, spec, self.read_criteria())
    }

    /// The names of the collection's indexes.
    ///
    /// # Errors
    /// Server and network errors.
    pub fn list_index_names(&self) -> Result<Vec<String>> {
        self.list_indexes()?
            .map(|index| Ok(index?.get_str("name").unwrap_or_default().to_owned()))
            .collect()
    }

    /// Drops the index named `name`.
    ///
    /// # Errors
    /// Server and network errors (e.g. no such index).
    pub fn drop_index(&self, name: &str) -> Result<()> {
        let mut command = doc! { "dropIndexes": self.name.as_str(), "index": name };
        self.add_write_concern(&mut command, None);
        self.run(command).map(drop)
    }

    /// Drops every index but `_id`'s.
    ///
    /// # Errors
    /// Server and network errors.
    pub fn drop_indexes(&self) -> Result<()> {
        self.drop_index("*")
    }

    /// Renames the collection (within its database, or to `other_db.name` given as
    /// `to_namespace`), replacing an existing target when `drop_target` is true.
    ///
    /// # Errors
    /// Server and network errors (e.g. code 48 when the target exists).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let staging = client.database("shop").collection::<bson::Document>("items_staging");
    /// staging.rename("shop.items", true)?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn rename(&self, to_namespace: &str, drop_target: bool) -> Result<()> {
        let to = if to_namespace.contains('.') {
            to_namespace.to_owned()
        } else {
            format!("{}.{to_namespace}", self.db)
        };
        let mut command =
            doc! { "renameCollection": self.namespace(), "to": to, "dropTarget": drop_target };
        self.add_write_concern(&mut command, None);
        self.client.run_command("admin", command).map(drop)
    }

    /// Drops the collection; dropping one that does not exist is not an error.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("shop").collection::<bson::Document>("tmp").drop()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop(&self) -> Result<()> {
        let mut command = doc! { "drop": self.name.as_str() };
        self.add_write_concern(&mut command, None);
        match self.run(command) {
            Err(e) if e.code() == Some(26) => Ok(()), // NamespaceNotFound
            other => other.map(drop),
        }
    }
}

impl<T: DeserializeOwned> Collection<T> {
    /// The first document matching `filter`, if any.
    ///
    /// # Errors
    /// Server and network errors; a document that does not deserialize as `T`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let item = client.database("shop").collection::<Document>("items").find_one(doc! { "sku": "apple" }, None)?;
    /// # let _ = item;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one(
        &self,
        filter: Document,
        options: impl Into<Option<FindOptions>>,
    ) -> Result<Option<T>> {
        let mut options = options.into().unwrap_or_default();
        options.limit = Some(-1); // one batch of one; no cursor left on the server
        options.batch_size = None;
        self.find(filter, options)?.next().transpose()
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

pub(crate) fn insert_opt(command: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(value) = value {
        command.insert(key, value.into());
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn read_preference_document(pref: &ReadPreference) -> Document {
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
