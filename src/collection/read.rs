//! Reads: find, aggregate, counts, distinct.

use bson::{doc, Bson, Document};
use serde::de::DeserializeOwned;

use crate::{
    collection::{insert_opt, millis, Collection},
    cursor::{Cursor, CursorSpec},
    operation::get_int,
    options::{AggregateOptions, CountOptions, CursorType, DistinctOptions, FindOptions},
    topology::Criteria,
    Result,
};

impl<T> Collection<T> {
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
