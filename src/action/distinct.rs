//! `Collection::distinct`.

use std::time::Duration;

use bson::{Bson, Document};

use crate::{Collection, Result, operation, options::*};

impl<T> Collection<T> {
    /// The distinct values of `field_name` among the documents matching `filter`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let colours = items.distinct("colour", doc! { "qty": { "$gt": 0 } }).run()?;
    /// println!("{colours:?}");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn distinct(&self, field_name: impl AsRef<str>, filter: Document) -> Distinct<'_, T> {
        Distinct {
            coll: self,
            field_name: field_name.as_ref().to_owned(),
            filter,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `distinct`, made by [`Collection::distinct`]; ends in [`run`](Distinct::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{ReadConcern, ReadConcernLevel};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let skus = items.distinct("sku", doc! {}).read_concern(ReadConcern::new(ReadConcernLevel::Majority)).run()?;
/// # let _ = skus;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Distinct<'a, T> {
    coll: &'a Collection<T>,
    field_name: String,
    filter: Document,
    options: Option<DistinctOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> Distinct<'a, T> {
    option_setters!(DistinctOptions;
        example("coll: Collection<Document>") "coll.distinct(\"sku\", doc! {})";
        max_time: (Duration),
        selection_criteria: (SelectionCriteria),
        read_concern: (ReadConcern),
        collation: (Collation),
        comment: (into Bson),
        hint: (Hint),
    );

    session_setter!("coll: Collection<Document>" "coll.distinct(\"sku\", doc! {})");

    timeout_setter!("coll: Collection<Document>" "coll.distinct(\"sku\", doc! {})");

    /// Runs the `distinct` command (a retryable read).
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
    /// for sku in items.distinct("sku", doc! {}).run()? {
    ///     println!("{sku}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Vec<Bson>> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let op = operation::Distinct::new(
                self.coll.namespace(),
                self.field_name,
                self.filter,
                self.options.unwrap_or_default(),
                &self.coll.concerns(),
            );
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}
