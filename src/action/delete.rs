//! `Collection::delete_one` and `Collection::delete_many`.

use bson::{Bson, Document};

use crate::{Collection, Result, operation, options::*, results::DeleteResult};

impl<T> Collection<T> {
    /// Deletes the first document matching `filter`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.delete_one(doc! { "sku": "fig" }).run()?;
    /// assert!(result.deleted_count <= 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn delete_one(&self, filter: Document) -> Delete<'_, T> {
        Delete {
            coll: self,
            filter,
            limit: 1,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Deletes every document matching `filter`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let carts = client.database("shop").collection::<Document>("carts");
    /// let result = carts.delete_many(doc! { "expired": true }).run()?;
    /// println!("{} carts deleted", result.deleted_count);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn delete_many(&self, filter: Document) -> Delete<'_, T> {
        Delete {
            coll: self,
            filter,
            limit: 0,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `delete`, made by [`Collection::delete_one`] or [`Collection::delete_many`]; ends
/// in [`run`](Delete::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{Collation, CollationStrength};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let users = client.database("app").collection::<Document>("users");
/// let french = Collation::builder().locale("fr").strength(CollationStrength::Primary).build();
/// users.delete_many(doc! { "name": "elodie" }).collation(french).run()?; // "Élodie" too
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Delete<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    /// 1 for `delete_one`, 0 (no limit) for `delete_many`.
    limit: i32,
    options: Option<DeleteOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> Delete<'a, T> {
    option_setters!(DeleteOptions;
        example("coll: Collection<Document>") "coll.delete_one(doc! {})";
        collation: (Collation),
        write_concern: (WriteConcern),
        hint: (Hint),
        let_vars: (Document),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.delete_one(doc! {})");

    timeout_setter!("coll: Collection<Document>" "coll.delete_one(doc! {})");

    /// Runs the delete. `delete_one` is retried once on a retryable error;
    /// `delete_many` is not.
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
    /// let items = client.database("shop").collection::<Document>("items");
    /// let gone = items.delete_many(doc! { "qty": 0 }).run()?.deleted_count;
    /// # let _ = gone;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<DeleteResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let mut options = self.options.unwrap_or_default();
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(options.write_concern.take(), self.session.as_deref())?;
            let op = operation::Delete::new(
                self.coll.namespace(),
                self.filter,
                self.limit,
                options,
                write_concern,
            );
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}
