//! `Collection::update_one`, `update_many` and `replace_one`.

use std::borrow::Borrow;

use bson::{Bson, Document};
use serde::Serialize;

use crate::{
    Collection, Result, UpdateModifications, operation,
    operation::{checked_update, to_replacement},
    options::*,
    results::UpdateResult,
};

impl<T> Collection<T> {
    /// Updates the first document matching `filter` with `update` (operators such as
    /// `$set`, or an aggregation pipeline).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.update_one(doc! { "sku": "fig" }, doc! { "$inc": { "qty": 1 } }).upsert(true).run()?;
    /// println!("{} matched, upserted {:?}", result.matched_count, result.upserted_id);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn update_one(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_, T> {
        Update {
            coll: self,
            filter,
            update: update.into(),
            multi: false,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Updates every document matching `filter` with `update`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.update_many(doc! { "qty": 0 }, doc! { "$set": { "soldOut": true } }).run()?;
    /// println!("{} marked sold out", result.modified_count);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn update_many(
        &self,
        filter: Document,
        update: impl Into<UpdateModifications>,
    ) -> Update<'_, T> {
        Update {
            coll: self,
            filter,
            update: update.into(),
            multi: true,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

impl<T: Serialize> Collection<T> {
    /// Replaces the first document matching `filter` with `replacement` (which must not
    /// use update operators).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.replace_one(doc! { "sku": "fig" }, doc! { "sku": "fig", "qty": 7 }).upsert(true).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn replace_one(&self, filter: Document, replacement: impl Borrow<T>) -> ReplaceOne<'_, T> {
        ReplaceOne {
            coll: self,
            filter,
            replacement: to_replacement(replacement.borrow()),
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// An `update` of one or many documents, made by [`Collection::update_one`] or
/// [`Collection::update_many`]; ends in [`run`](Update::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let restock = items.update_many(doc! {}, doc! { "$set": { "sizes.$[s].qty": 10 } })
///     .array_filters(vec![doc! { "s.qty": 0 }]);
/// restock.run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Update<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    update: UpdateModifications,
    multi: bool,
    options: Option<UpdateOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> Update<'a, T> {
    option_setters!(UpdateOptions;
        example("coll: Collection<Document>") "coll.update_one(doc! {}, doc! { \"$set\": { \"x\": 1 } })";
        array_filters: (iter Document),
        bypass_document_validation: (bool),
        upsert: (bool),
        collation: (Collation),
        hint: (Hint),
        write_concern: (WriteConcern),
        let_vars: (Document),
        comment: (into Bson),
        sort: (Document),
    );

    session_setter!("coll: Collection<Document>" "coll.update_one(doc! {}, doc! { \"$set\": { \"x\": 1 } })");

    timeout_setter!("coll: Collection<Document>" "coll.update_one(doc! {}, doc! { \"$set\": { \"x\": 1 } })");

    /// Runs the update. `update_one` is retried once on a retryable error;
    /// `update_many` is not (it may touch many documents).
    ///
    /// # Errors
    /// An update document without operators (use `replace_one`); `sort` with
    /// `update_many`; server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.update_one(doc! { "sku": "fig" }, doc! { "$inc": { "qty": -1 } }).run()?;
    /// assert!(result.matched_count <= 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<UpdateResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let mut options = self.options.unwrap_or_default();
            if self.multi && options.sort.is_some() {
                return Err(crate::Error::invalid_argument(
                    "sort applies to update_one only: update_many updates every match",
                ));
            }
            let update = checked_update(self.update)?;
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(options.write_concern.take(), self.session.as_deref())?;
            let op = operation::Update::new(
                self.coll.namespace(),
                self.filter,
                update,
                self.multi,
                options,
                write_concern,
            );
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}

/// A replacement of one document, made by [`Collection::replace_one`]; ends in
/// [`run`](ReplaceOne::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let result = items.replace_one(doc! { "sku": "fig" }, doc! { "sku": "fig", "qty": 1 }).run()?;
/// println!("{} replaced", result.modified_count);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct ReplaceOne<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    replacement: Result<Document>,
    options: Option<ReplaceOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> ReplaceOne<'a, T> {
    option_setters!(ReplaceOptions;
        example("coll: Collection<Document>") "coll.replace_one(doc! {}, doc! { \"x\": 1 })";
        bypass_document_validation: (bool),
        upsert: (bool),
        collation: (Collation),
        hint: (Hint),
        write_concern: (WriteConcern),
        let_vars: (Document),
        comment: (into Bson),
        sort: (Document),
    );

    session_setter!("coll: Collection<Document>" "coll.replace_one(doc! {}, doc! { \"x\": 1 })");

    timeout_setter!("coll: Collection<Document>" "coll.replace_one(doc! {}, doc! { \"x\": 1 })");

    /// Runs the replacement (retried once on a retryable error).
    ///
    /// # Errors
    /// A replacement that uses update operators or does not serialize; server and
    /// network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let wrong = items.replace_one(doc! {}, doc! { "$set": { "qty": 1 } }).run();
    /// assert!(wrong.is_err()); // operators belong in update_one
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<UpdateResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let replacement = Bson::Document(self.replacement?);
            let mut options = UpdateOptions::from(self.options.unwrap_or_default());
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(options.write_concern.take(), self.session.as_deref())?;
            let op = operation::Update::new(
                self.coll.namespace(),
                self.filter,
                replacement,
                false,
                options,
                write_concern,
            );
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}
