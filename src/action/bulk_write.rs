//! `Client::bulk_write` (the `bulkWrite` command of MongoDB 8.0+, any namespaces) and
//! `Collection::bulk_write` (one collection, as `insert`/`update`/`delete` batches).

use std::marker::PhantomData;

use bson::{Bson, Document};

use crate::{
    Client, Collection, Result, operation,
    options::{BulkWriteOptions, CollectionWriteModel, WriteConcern, WriteModel},
    results::{BulkWriteResult, SummaryBulkWriteResult, VerboseBulkWriteResult},
};

impl Client {
    /// Runs writes on any namespaces in as few `bulkWrite` commands as the server's
    /// limits allow (MongoDB 8.0 and later); `.run()` returns the counts, or after
    /// `.verbose_results()` every write's result too.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::options::{DeleteManyModel, InsertOneModel, WriteModel};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let writes: Vec<WriteModel> = vec![
    ///     InsertOneModel::builder().namespace("shop.items".parse()?).document(doc! { "sku": "fig" }).build().into(),
    ///     DeleteManyModel::builder().namespace("shop.carts".parse()?).filter(doc! { "expired": true }).build().into(),
    /// ];
    /// let result = client.bulk_write(writes).run()?;
    /// println!("{} inserted, {} deleted", result.inserted_count, result.deleted_count);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn bulk_write(
        &self,
        models: impl IntoIterator<Item = impl Into<WriteModel>>,
    ) -> BulkWrite<'_, SummaryBulkWriteResult> {
        BulkWrite {
            client: self,
            models: models.into_iter().map(Into::into).collect(),
            options: None,
            _result: PhantomData,
            session: None,
            timeout: None,
        }
    }
}

impl<T> Collection<T> {
    /// Runs inserts, updates, replaces and deletes on this collection, grouped into as
    /// few `insert` / `update` / `delete` commands as their order and the server's limits
    /// allow. (The official driver has only [`Client::bulk_write`]; this works on every
    /// server version.)
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::CollectionWriteModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let writes = ["a", "b", "c"].map(|sku| CollectionWriteModel::InsertOne { document: doc! { "sku": sku } });
    /// let result = items.bulk_write(writes).ordered(false).run()?;
    /// assert_eq!(result.inserted_count, 3);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn bulk_write(
        &self,
        models: impl IntoIterator<Item = CollectionWriteModel>,
    ) -> CollectionBulkWrite<'_, T> {
        CollectionBulkWrite {
            coll: self,
            models: models.into_iter().collect(),
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// What a client bulk write reports: [`SummaryBulkWriteResult`] (counts), or after
/// `.verbose_results()` [`VerboseBulkWriteResult`] (counts and each write's result).
/// Sealed: only those two.
///
/// # Examples
///
/// ```
/// use greenmongo::{action::BulkWriteReport, results::{SummaryBulkWriteResult, VerboseBulkWriteResult}};
///
/// fn verbose<R: BulkWriteReport>() -> bool { R::VERBOSE }
/// assert!(!verbose::<SummaryBulkWriteResult>());
/// assert!(verbose::<VerboseBulkWriteResult>());
/// ```
pub trait BulkWriteReport: sealed::Sealed + Sized {
    /// Whether the server is asked for each write's result.
    const VERBOSE: bool;

    /// The report, from the full result.
    #[doc(hidden)]
    fn from_verbose(result: VerboseBulkWriteResult) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::results::SummaryBulkWriteResult {}
    impl Sealed for crate::results::VerboseBulkWriteResult {}
}

impl BulkWriteReport for SummaryBulkWriteResult {
    const VERBOSE: bool = false;

    fn from_verbose(result: VerboseBulkWriteResult) -> Self {
        result.summary
    }
}

impl BulkWriteReport for VerboseBulkWriteResult {
    const VERBOSE: bool = true;

    fn from_verbose(result: VerboseBulkWriteResult) -> Self {
        result
    }
}

/// A client-level `bulkWrite`, made by [`Client::bulk_write`]; ends in
/// [`run`](BulkWrite::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::options::InsertOneModel;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let writes = (0..3).map(|i| InsertOneModel::builder().namespace("app.log".parse().unwrap()).document(doc! { "i": i }).build());
/// let result = client.bulk_write(writes).ordered(false).verbose_results().run()?;
/// assert_eq!(result.insert_results.len(), 3);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct BulkWrite<'a, R> {
    client: &'a Client,
    models: Vec<WriteModel>,
    options: Option<BulkWriteOptions>,
    _result: PhantomData<fn() -> R>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a> BulkWrite<'a, SummaryBulkWriteResult> {
    /// Also report the result of every single write (`insert_results`,
    /// `update_results`, `delete_results`), not just the counts.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::options::InsertOneModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let insert = InsertOneModel::builder().namespace("shop.items".parse()?).document(doc! { "sku": "fig" }).build();
    /// let result = client.bulk_write([insert]).verbose_results().run()?;
    /// println!("new _id: {}", result.insert_results[&0].inserted_id);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn verbose_results(self) -> BulkWrite<'a, VerboseBulkWriteResult> {
        BulkWrite {
            client: self.client,
            models: self.models,
            options: self.options,
            _result: PhantomData,
            session: self.session,
            timeout: self.timeout,
        }
    }
}

impl<'a, R: BulkWriteReport> BulkWrite<'a, R> {
    option_setters!(BulkWriteOptions;
        example("client: Client") "client.bulk_write(Vec::<greenmongo::options::WriteModel>::new())";
        ordered: (bool),
        bypass_document_validation: (bool),
        comment: (into Bson),
        let_vars: (Document),
        write_concern: (WriteConcern),
    );

    session_setter!("client: Client" "client.bulk_write(Vec::<greenmongo::options::WriteModel>::new())");

    timeout_setter!("client: Client" "client.bulk_write(Vec::<greenmongo::options::WriteModel>::new())");

    /// Runs the writes.
    ///
    /// # Errors
    /// [`ErrorKind::BulkWrite`](crate::ErrorKind::BulkWrite) with the write errors (by
    /// index into the input), write concern errors and the partial result; no writes;
    /// unacknowledged writes that are ordered or verbose; server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::options::InsertOneModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let writes = [InsertOneModel::builder().namespace("a.b".parse()?).document(doc! {}).build()];
    /// assert_eq!(client.bulk_write(writes).run()?.inserted_count, 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<R> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.client.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let mut session = self.session;
            let o = self.options.unwrap_or_default();
            let client_default = crate::operation::Concerns {
                write_concern: self.client.options().write_concern.clone(),
                ..Default::default()
            };
            let write_concern =
                client_default.write_concern_in(o.write_concern.clone(), session.as_deref())?;
            let mut plan = operation::ClientBulkWritePlan::new(
                self.models,
                &o,
                R::VERBOSE,
                write_concern.as_ref(),
            )?;
            let results = self.client.database("admin");
            while let Some(mut command) = plan.next_command() {
                let reply = self
                    .client
                    .execute_operation_in(&mut command, session.as_deref_mut())?;
                if !plan.acknowledged() {
                    continue; // the server does not report on unacknowledged writes
                }
                // The per-write results come as a cursor, read to its end.
                let entries = results
                    .cursor_from_reply(&reply)?
                    .collect::<Result<Vec<_>>>()?;
                if plan.add(&command, &reply, &entries) {
                    break;
                }
            }
            plan.finish().map(R::from_verbose)
        })
    }
}

/// A collection's bulk write, made by [`Collection::bulk_write`]; ends in
/// [`run`](CollectionBulkWrite::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{CollectionWriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let result = items.bulk_write([
///     CollectionWriteModel::InsertOne { document: doc! { "_id": "fig" } },
///     CollectionWriteModel::DeleteMany { filter: doc! { "qty": 0 }, options: WriteModelOptions::default() },
/// ]).run()?;
/// # let _ = result;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct CollectionBulkWrite<'a, T> {
    coll: &'a Collection<T>,
    models: Vec<CollectionWriteModel>,
    options: Option<BulkWriteOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> CollectionBulkWrite<'a, T> {
    option_setters!(BulkWriteOptions;
        example("coll: Collection<Document>") "coll.bulk_write([])";
        ordered: (bool),
        bypass_document_validation: (bool),
        comment: (into Bson),
        let_vars: (Document),
        write_concern: (WriteConcern),
    );

    session_setter!("coll: Collection<Document>" "coll.bulk_write([])");

    timeout_setter!("coll: Collection<Document>" "coll.bulk_write([])");

    /// Runs the writes.
    ///
    /// # Errors
    /// [`ErrorKind::BulkWrite`](crate::ErrorKind::BulkWrite) with the write errors
    /// (indexes into the input) and the partial result; no writes; server and network
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::CollectionWriteModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.bulk_write([CollectionWriteModel::InsertOne { document: doc! {} }]).run()?;
    /// assert_eq!(result.inserted_count, 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<BulkWriteResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let mut session = self.session;
            let o = self.options.unwrap_or_default();
            let ns = self.coll.namespace();
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(o.write_concern.clone(), session.as_deref())?;
            let mut plan =
                operation::BulkWritePlan::new(&ns, self.models, &o, write_concern.as_ref())?;
            while let Some(mut command) = plan.next_command(&ns) {
                let reply = self
                    .coll
                    .client()
                    .execute_operation_in(&mut command, session.as_deref_mut())?;
                if plan.add(&command, reply) {
                    break;
                }
            }
            plan.finish()
        })
    }
}
