//! `Collection::aggregate` and `Database::aggregate`.

use std::{marker::PhantomData, time::Duration};

use bson::{Bson, Document};

use super::{ExplicitSession, ImplicitSession};
use crate::{Client, Collection, Cursor, Database, Result, SessionCursor, operation, options::*};

impl<T> Collection<T> {
    /// Runs an aggregation pipeline on this collection; the cursor yields [`Document`]s
    /// (the pipeline decides their shape), or `U`s after `.with_type::<U>()`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let orders = client.database("shop").collection::<Document>("orders");
    /// let totals = orders.aggregate([doc! { "$group": { "_id": "$sku", "n": { "$sum": "$qty" } } }]).run()?;
    /// for total in totals {
    ///     println!("{}", total?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Aggregate<'_> {
        Aggregate {
            coll: self.clone_with_type(),
            pipeline: pipeline.into_iter().collect(),
            options: None,
            session: ImplicitSession,
            timeout: None,
            timeout_mode: None,
            _borrow: PhantomData,
        }
    }
}

impl Database {
    /// Runs a database-level aggregation pipeline (`aggregate: 1`), such as
    /// `$currentOp` or `$documents`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let rows = client.database("app").aggregate([doc! { "$documents": [{ "x": 1 }, { "x": 2 }] }]).run()?;
    /// assert_eq!(rows.count(), 2);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn aggregate(&self, pipeline: impl IntoIterator<Item = Document>) -> Aggregate<'_> {
        Aggregate {
            coll: self.collection(""),
            pipeline: pipeline.into_iter().collect(),
            options: None,
            session: ImplicitSession,
            timeout: None,
            timeout_mode: None,
            _borrow: PhantomData,
        }
    }
}

/// An `aggregate`, made by [`Collection::aggregate`] or [`Database::aggregate`]; ends in
/// [`run`](Aggregate::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// #[derive(serde::Deserialize)]
/// struct Total { _id: String, n: i64 }
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let orders = client.database("shop").collection::<Document>("orders");
/// let totals = orders
///     .aggregate([doc! { "$group": { "_id": "$sku", "n": { "$sum": 1 } } }])
///     .allow_disk_use(true)
///     .with_type::<Total>()
///     .run()?;
/// for total in totals {
///     let total = total?;
///     println!("{}: {}", total._id, total.n);
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Aggregate<'a, T = Document, S = ImplicitSession> {
    /// The collection (empty name for a database-level pipeline), with its concerns.
    coll: Collection<T>,
    pipeline: Vec<Document>,
    options: Option<AggregateOptions>,
    session: S,
    timeout: Option<std::time::Duration>,
    timeout_mode: Option<crate::options::TimeoutMode>,
    _borrow: PhantomData<&'a ()>,
}

impl<'a, T, S> Aggregate<'a, T, S> {
    /// The `timeoutMS` and `timeoutMode` the cursor is opened with.
    fn timing(&self) -> crate::timeout::CursorTiming {
        crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.coll.timeout()),
            mode: self.timeout_mode,
        }
    }

    cursor_timeout_setters!("coll: Collection<Document>" "coll.aggregate([])");

    option_setters!(AggregateOptions;
        example("coll: Collection<Document>") "coll.aggregate([doc! { \"$match\": {} }])";
        allow_disk_use: (bool),
        batch_size: (u32),
        bypass_document_validation: (bool),
        collation: (Collation),
        comment: (into Bson),
        hint: (Hint),
        max_await_time: (Duration),
        max_time: (Duration),
        read_concern: (ReadConcern),
        selection_criteria: (SelectionCriteria),
        write_concern: (WriteConcern),
        let_vars: (Document),
    );

    /// The same pipeline, with results deserialized as `U`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Count { n: i32 }
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut counts = items.aggregate([doc! { "$count": "n" }]).with_type::<Count>().run()?;
    /// println!("{} items", counts.next().transpose()?.map_or(0, |c| c.n));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_type<U>(self) -> Aggregate<'a, U, S> {
        Aggregate {
            coll: self.coll.clone_with_type(),
            pipeline: self.pipeline,
            options: self.options,
            session: self.session,
            timeout: self.timeout,
            timeout_mode: self.timeout_mode,
            _borrow: PhantomData,
        }
    }

    /// The operation to run, and the session to run it in.
    fn into_parts(self) -> (Client, operation::Aggregate, S) {
        let op = operation::Aggregate::new(
            &self.coll.namespace(),
            self.pipeline,
            self.options.unwrap_or_default(),
            &self.coll.concerns(),
        );
        (self.coll.client().clone(), op, self.session)
    }
}

impl<'a, T> Aggregate<'a, T, ImplicitSession> {
    /// Runs it in `session` (and its transaction, if one is open): `.run()` returns a
    /// [`SessionCursor`](crate::SessionCursor), whose later batches are fetched in the
    /// session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.aggregate([doc! { "$match": {} }]).session(&mut session).run()?;
    /// for item in cursor.iter(&mut session) {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn session(
        self,
        session: impl Into<&'a mut crate::ClientSession>,
    ) -> Aggregate<'a, T, ExplicitSession<'a>> {
        Aggregate {
            coll: self.coll,
            pipeline: self.pipeline,
            options: self.options,
            session: ExplicitSession(session.into()),
            timeout: self.timeout,
            timeout_mode: self.timeout_mode,
            _borrow: PhantomData,
        }
    }

    /// Runs the pipeline and returns a cursor over its results. A pipeline that ends in
    /// `$out` or `$merge` runs on the primary, with the write concern, and is not
    /// retried; any other is a retryable read.
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
    /// orders.aggregate([doc! { "$match": { "paid": true } }, doc! { "$out": "paid_orders" }]).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Cursor<T>> {
        let timing = self.timing();
        let (client, op, ImplicitSession) = self.into_parts();
        client.execute_cursor_operation(op, timing)
    }
}

impl<'a, T> Aggregate<'a, T, ExplicitSession<'a>> {
    /// Runs it in the session and returns a cursor whose later batches are fetched in
    /// it.
    ///
    /// # Errors
    /// Server and network errors; the session belongs to another client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.aggregate([doc! { "$count": "n" }]).session(&mut session).run()?;
    /// println!("{:?}", cursor.next(&mut session).transpose()?);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<SessionCursor<T>> {
        let timing = self.timing();
        crate::timeout::of_operation(self.timeout, None, Some(&*self.session.0))?;
        let (client, op, ExplicitSession(session)) = self.into_parts();
        let cursor = client.execute_cursor_operation_in(op, Some(session), timing)?;
        Ok(SessionCursor::new(cursor))
    }
}
