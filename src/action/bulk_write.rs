//! `Client::bulk_write` (the `bulkWrite` command of MongoDB 8.0+, any namespaces) and
//! `Collection::bulk_write` (one collection, as `insert`/`update`/`delete` batches).

use bson::{Bson, Document};

use crate::{
    operation, options::WriteConcern, BulkWriteOptions, BulkWriteResult, Client,
    ClientBulkWriteOptions, ClientBulkWriteResult, ClientWriteModel, Collection, Result,
    WriteModel,
};

impl Client {
    /// Runs writes on any namespaces in as few `bulkWrite` commands as the server's
    /// limits allow (MongoDB 8.0 and later).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::{ClientWriteModel, WriteModelOptions};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let result = client.bulk_write([
    ///     ClientWriteModel::InsertOne { namespace: "shop.items".into(), document: doc! { "sku": "fig" } },
    ///     ClientWriteModel::Delete {
    ///         namespace: "shop.carts".into(),
    ///         filter: doc! { "expired": true },
    ///         multi: true,
    ///         options: WriteModelOptions::default(),
    ///     },
    /// ]).run()?;
    /// println!("{} inserted, {} deleted", result.inserted_count, result.deleted_count);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn bulk_write(&self, models: impl IntoIterator<Item = ClientWriteModel>) -> BulkWrite<'_> {
        BulkWrite {
            client: self,
            models: models.into_iter().collect(),
            options: None,
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
    /// use greenmongo::WriteModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let writes = ["a", "b", "c"].map(|sku| WriteModel::InsertOne { document: doc! { "sku": sku } });
    /// let result = items.bulk_write(writes).ordered(false).run()?;
    /// assert_eq!(result.inserted_count, 3);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn bulk_write(
        &self,
        models: impl IntoIterator<Item = WriteModel>,
    ) -> CollectionBulkWrite<'_, T> {
        CollectionBulkWrite {
            coll: self,
            models: models.into_iter().collect(),
            options: None,
        }
    }
}

/// A client-level `bulkWrite`, made by [`Client::bulk_write`]; ends in
/// [`run`](BulkWrite::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::ClientWriteModel;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let writes = (0..3).map(|i| ClientWriteModel::InsertOne { namespace: "app.log".into(), document: doc! { "i": i } });
/// let result = client.bulk_write(writes).ordered(false).verbose_results().run()?;
/// assert_eq!(result.insert_results.len(), 3);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct BulkWrite<'a> {
    client: &'a Client,
    models: Vec<ClientWriteModel>,
    options: Option<ClientBulkWriteOptions>,
}

impl BulkWrite<'_> {
    option_setters!(ClientBulkWriteOptions;
        example("client: Client") "client.bulk_write([])";
        ordered: (bool),
        bypass_document_validation: (bool),
        comment: (into Bson),
        let_vars: (Document),
        write_concern: (WriteConcern),
    );

    /// Also report the result of every single write (`insert_results`,
    /// `update_results`, `delete_results`), not just the counts.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::ClientWriteModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let insert = ClientWriteModel::InsertOne { namespace: "shop.items".into(), document: doc! { "sku": "fig" } };
    /// let result = client.bulk_write([insert]).verbose_results().run()?;
    /// println!("new _id: {}", result.insert_results[&0].inserted_id);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn verbose_results(mut self) -> Self {
        self.options
            .get_or_insert_with(Default::default)
            .verbose_results = Some(true);
        self
    }

    /// Runs the writes.
    ///
    /// # Errors
    /// [`ErrorKind::ClientBulkWrite`](crate::ErrorKind::ClientBulkWrite) with the write
    /// errors (indexes into the input), write concern errors and the partial result; no
    /// writes; unacknowledged writes that are ordered or verbose; server and network
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::ClientWriteModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let writes = [ClientWriteModel::InsertOne { namespace: "a.b".into(), document: doc! {} }];
    /// assert_eq!(client.bulk_write(writes).run()?.inserted_count, 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<ClientBulkWriteResult> {
        let o = self.options.unwrap_or_default();
        let write_concern = o
            .write_concern
            .clone()
            .or_else(|| self.client.options().write_concern.clone());
        let mut plan =
            operation::ClientBulkWritePlan::new(self.models, &o, write_concern.as_ref())?;
        let results = self.client.database("admin");
        while let Some(mut command) = plan.next_command() {
            let reply = self.client.execute_operation(&mut command)?;
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
        plan.finish()
    }
}

/// A collection's bulk write, made by [`Collection::bulk_write`]; ends in
/// [`run`](CollectionBulkWrite::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{WriteModel, WriteModelOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let result = items.bulk_write([
///     WriteModel::InsertOne { document: doc! { "_id": "fig" } },
///     WriteModel::DeleteMany { filter: doc! { "qty": 0 }, options: WriteModelOptions::default() },
/// ]).run()?;
/// # let _ = result;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct CollectionBulkWrite<'a, T> {
    coll: &'a Collection<T>,
    models: Vec<WriteModel>,
    options: Option<BulkWriteOptions>,
}

impl<T> CollectionBulkWrite<'_, T> {
    option_setters!(BulkWriteOptions;
        example("coll: Collection<Document>") "coll.bulk_write([])";
        ordered: (bool),
        bypass_document_validation: (bool),
        comment: (into Bson),
        let_vars: (Document),
        write_concern: (WriteConcern),
    );

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
    /// use greenmongo::WriteModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.bulk_write([WriteModel::InsertOne { document: doc! {} }]).run()?;
    /// assert_eq!(result.inserted_count, 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<BulkWriteResult> {
        let o = self.options.unwrap_or_default();
        let ns = self.coll.ns();
        let write_concern = self.coll.concerns().write_concern(o.write_concern.clone());
        let mut plan = operation::BulkWritePlan::new(&ns, self.models, &o, write_concern.as_ref())?;
        while let Some(mut command) = plan.next_command(&ns) {
            let reply = self.coll.client().execute_operation(&mut command)?;
            if plan.add(&command, reply) {
                break;
            }
        }
        plan.finish()
    }
}
