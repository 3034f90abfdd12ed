//! `Collection::find_one_and_delete`, `find_one_and_update` and `find_one_and_replace`:
//! the `findAndModify` command.

use std::{borrow::Borrow, time::Duration};

use bson::{Bson, Document};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Collection, Result, UpdateModifications,
    operation::to_replacement,
    operation::{FindAndModify, Modification},
    options::*,
};

impl<T: DeserializeOwned> Collection<T> {
    /// Deletes the first document matching `filter` and returns it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let jobs = client.database("app").collection::<Document>("jobs");
    /// let next = jobs.find_one_and_delete(doc! { "state": "queued" }).sort(doc! { "createdAt": 1 }).run()?;
    /// println!("{next:?}"); // the oldest queued job, now off the queue
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one_and_delete(&self, filter: Document) -> FindOneAndDelete<'_, T> {
        FindOneAndDelete {
            coll: self,
            filter,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Updates the first document matching `filter` and returns it, as it was before
    /// the update or (with `.return_document(ReturnDocument::After)`) after.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::ReturnDocument;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let counters = client.database("app").collection::<Document>("counters");
    /// let next = counters
    ///     .find_one_and_update(doc! { "_id": "orders" }, doc! { "$inc": { "seq": 1 } })
    ///     .upsert(true)
    ///     .return_document(ReturnDocument::After)
    ///     .run()?;
    /// println!("next order number: {}", next.unwrap().get_i32("seq").unwrap_or(1));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one_and_update(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> FindOneAndUpdate<'_, T> {
        FindOneAndUpdate {
            coll: self,
            filter,
            update: update.into(),
            options: None,
            session: None,
            timeout: None,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    /// Replaces the first document matching `filter` and returns it, as it was before or
    /// (with `.return_document(ReturnDocument::After)`) after.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let before = items.find_one_and_replace(doc! { "sku": "fig" }, doc! { "sku": "fig", "qty": 0 }).run()?;
    /// println!("{before:?}");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one_and_replace(
        &self,
        filter: Document,
        replacement: impl Borrow<T>,
    ) -> FindOneAndReplace<'_, T> {
        FindOneAndReplace {
            coll: self,
            filter,
            replacement: to_replacement(replacement.borrow()),
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `findAndModify` that deletes, made by [`Collection::find_one_and_delete`]; ends in
/// [`run`](FindOneAndDelete::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let sessions = client.database("app").collection::<Document>("sessions");
/// let gone = sessions.find_one_and_delete(doc! { "token": "abc" }).projection(doc! { "user": 1 }).run()?;
/// # let _ = gone;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct FindOneAndDelete<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    options: Option<FindOneAndDeleteOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T: DeserializeOwned> FindOneAndDelete<'a, T> {
    option_setters!(FindOneAndDeleteOptions;
        example("coll: Collection<Document>") "coll.find_one_and_delete(doc! {})";
        max_time: (Duration),
        projection: (Document),
        sort: (Document),
        write_concern: (WriteConcern),
        collation: (Collation),
        hint: (Hint),
        let_vars: (Document),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.find_one_and_delete(doc! {})");

    timeout_setter!("coll: Collection<Document>" "coll.find_one_and_delete(doc! {})");

    /// Runs the command (retried once on a retryable error) and returns the deleted
    /// document; `None` when nothing matched, or with an unacknowledged write concern.
    ///
    /// # Errors
    /// Server and network errors; a document that does not deserialize as `T`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let jobs = client.database("app").collection::<Document>("jobs");
    /// while let Some(job) = jobs.find_one_and_delete(doc! {}).run()? {
    ///     println!("working on {job}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Option<T>> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let options = self.options.unwrap_or_default();
            find_and_modify(
                self.coll,
                self.filter,
                Modification::Delete,
                options,
                self.session,
            )
        })
    }
}

/// A `findAndModify` that updates, made by [`Collection::find_one_and_update`]; ends in
/// [`run`](FindOneAndUpdate::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let jobs = client.database("app").collection::<Document>("jobs");
/// let claimed = jobs
///     .find_one_and_update(doc! { "state": "queued" }, doc! { "$set": { "state": "running" } })
///     .sort(doc! { "priority": -1 })
///     .run()?;
/// # let _ = claimed;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct FindOneAndUpdate<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    update: UpdateModifications,
    options: Option<FindOneAndUpdateOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T: DeserializeOwned> FindOneAndUpdate<'a, T> {
    option_setters!(FindOneAndUpdateOptions;
        example("coll: Collection<Document>") "coll.find_one_and_update(doc! {}, doc! { \"$inc\": { \"n\": 1 } })";
        array_filters: (iter Document),
        bypass_document_validation: (bool),
        max_time: (Duration),
        projection: (Document),
        return_document: (ReturnDocument),
        sort: (Document),
        upsert: (bool),
        write_concern: (WriteConcern),
        collation: (Collation),
        hint: (Hint),
        let_vars: (Document),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.find_one_and_update(doc! {}, doc! { \"$inc\": { \"n\": 1 } })");

    timeout_setter!("coll: Collection<Document>" "coll.find_one_and_update(doc! {}, doc! { \"$inc\": { \"n\": 1 } })");

    /// Runs the command (retried once on a retryable error) and returns the document
    /// before or after the update; `None` when nothing matched (and nothing was
    /// upserted), or with an unacknowledged write concern.
    ///
    /// # Errors
    /// An update document without operators; server and network errors; a document that
    /// does not deserialize as `T`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let before = items.find_one_and_update(doc! { "sku": "fig" }, doc! { "$inc": { "qty": -1 } }).run()?;
    /// # let _ = before;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Option<T>> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let update = Modification::Update(crate::operation::checked_update(self.update)?);
            find_and_modify(
                self.coll,
                self.filter,
                update,
                self.options.unwrap_or_default(),
                self.session,
            )
        })
    }
}

/// A `findAndModify` that replaces, made by [`Collection::find_one_and_replace`]; ends
/// in [`run`](FindOneAndReplace::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::ReturnDocument;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let after = items
///     .find_one_and_replace(doc! { "sku": "fig" }, doc! { "sku": "fig", "qty": 5 })
///     .return_document(ReturnDocument::After)
///     .run()?;
/// # let _ = after;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct FindOneAndReplace<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    replacement: Result<Document>,
    options: Option<FindOneAndReplaceOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T: DeserializeOwned> FindOneAndReplace<'a, T> {
    option_setters!(FindOneAndReplaceOptions;
        example("coll: Collection<Document>") "coll.find_one_and_replace(doc! {}, doc! { \"x\": 1 })";
        bypass_document_validation: (bool),
        max_time: (Duration),
        projection: (Document),
        return_document: (ReturnDocument),
        sort: (Document),
        upsert: (bool),
        write_concern: (WriteConcern),
        collation: (Collation),
        hint: (Hint),
        let_vars: (Document),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.find_one_and_replace(doc! {}, doc! { \"x\": 1 })");

    timeout_setter!("coll: Collection<Document>" "coll.find_one_and_replace(doc! {}, doc! { \"x\": 1 })");

    /// Runs the command (retried once on a retryable error) and returns the document
    /// before or after the replacement.
    ///
    /// # Errors
    /// A replacement with update operators or that does not serialize; server and
    /// network errors; a document that does not deserialize as `T`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let before = items.find_one_and_replace(doc! { "sku": "fig" }, doc! { "sku": "fig" }).upsert(true).run()?;
    /// # let _ = before;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Option<T>> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let replacement = Modification::Update(Bson::Document(self.replacement?));
            let options = self.options.unwrap_or_default();
            find_and_modify(self.coll, self.filter, replacement, options, self.session)
        })
    }
}

/// Runs a `findAndModify` on `coll` with its options and the collection's write concern.
fn find_and_modify<T: DeserializeOwned>(
    coll: &Collection<T>,
    filter: Document,
    modification: Modification,
    options: impl Into<FindAndModifyOptions>,
    session: Option<&mut crate::ClientSession>,
) -> Result<Option<T>> {
    let mut options: FindAndModifyOptions = options.into();
    let write_concern = coll
        .concerns()
        .write_concern_in(options.write_concern.take(), session.as_deref())?;
    let op = FindAndModify::new(
        coll.namespace(),
        filter,
        modification,
        options,
        write_concern,
    );
    coll.client().execute_operation_in(op, session)
}
