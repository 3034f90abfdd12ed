//! `Collection::count_documents` and `Collection::estimated_document_count`.

use std::time::Duration;

use bson::{Bson, Document};

use crate::{Collection, Result, operation, options::*};

impl<T> Collection<T> {
    /// Counts the documents matching `filter` (an aggregation with `$match` and
    /// `$group`: exact, and as fast as the filter's index allows).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let n = items.count_documents(doc! { "qty": 0 }).run()?;
    /// println!("{n} items out of stock");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn count_documents(&self, filter: Document) -> CountDocuments<'_, T> {
        CountDocuments {
            coll: self,
            filter,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// The collection's document count from its metadata: fast, and approximate after
    /// an unclean shutdown.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let n = client.database("shop").collection::<Document>("items").estimated_document_count().run()?;
    /// # let _ = n;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn estimated_document_count(&self) -> EstimatedDocumentCount<'_, T> {
        EstimatedDocumentCount {
            coll: self,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A count of matching documents, made by [`Collection::count_documents`]; ends in
/// [`run`](CountDocuments::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let at_least_ten = items.count_documents(doc! { "qty": 0 }).limit(10).run()? == 10;
/// # let _ = at_least_ten;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct CountDocuments<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    options: Option<CountOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> CountDocuments<'a, T> {
    option_setters!(CountOptions;
        example("coll: Collection<Document>") "coll.count_documents(doc! {})";
        hint: (Hint),
        limit: (u64),
        max_time: (Duration),
        skip: (u64),
        collation: (Collation),
        selection_criteria: (SelectionCriteria),
        read_concern: (ReadConcern),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.count_documents(doc! {})");

    timeout_setter!("coll: Collection<Document>" "coll.count_documents(doc! {})");

    /// Runs the count (a retryable read).
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
    /// assert_eq!(items.count_documents(doc! { "sku": "no such thing" }).run()?, 0);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<u64> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let op = operation::CountDocuments::new(
                self.coll.namespace(),
                self.filter,
                self.options.unwrap_or_default(),
                &self.coll.concerns(),
            );
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}

/// A metadata count, made by [`Collection::estimated_document_count`]; ends in
/// [`run`](EstimatedDocumentCount::run).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use bson::Document;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let n = items.estimated_document_count().max_time(Duration::from_millis(100)).run()?;
/// # let _ = n;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct EstimatedDocumentCount<'a, T> {
    coll: &'a Collection<T>,
    options: Option<EstimatedDocumentCountOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> EstimatedDocumentCount<'a, T> {
    option_setters!(EstimatedDocumentCountOptions;
        example("coll: Collection<Document>") "coll.estimated_document_count()";
        max_time: (Duration),
        selection_criteria: (SelectionCriteria),
        read_concern: (ReadConcern),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.estimated_document_count()");

    timeout_setter!("coll: Collection<Document>" "coll.estimated_document_count()");

    /// Runs the `count` command (a retryable read).
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let n = client.database("shop").collection::<Document>("items").estimated_document_count().run()?;
    /// println!("about {n} items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<u64> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let op = operation::Count::new(
                self.coll.namespace(),
                self.options.unwrap_or_default(),
                &self.coll.concerns(),
            );
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}
