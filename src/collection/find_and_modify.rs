//! find_one_and_delete / _update / _replace: the findAndModify command.

use std::borrow::Borrow;

use bson::{doc, Bson, Document};
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    collection::{insert_opt, millis, to_replacement, Collection, UpdateModifications},
    operation::WriteReply,
    options::{FindOneAndModifyOptions, ReturnDocument},
    Error, Result,
};

impl<T> Collection<T> {
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
}
