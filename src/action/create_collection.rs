//! `Database::create_collection`.

use std::time::Duration;

use bson::{Bson, Document};

use crate::{Database, Result, operation, options::*};

impl Database {
    /// Creates a collection (or, with `view_on` and `pipeline`, a view) explicitly;
    /// collections are otherwise created by their first insert.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("app").create_collection("log").capped(true).size(1 << 20).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn create_collection(&self, name: impl Into<String>) -> CreateCollection<'_> {
        CreateCollection {
            db: self,
            name: name.into(),
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `create`, made by [`Database::create_collection`]; ends in
/// [`run`](CreateCollection::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let db = client.database("shop");
/// db.create_collection("in_stock")
///     .view_on("items")
///     .pipeline([doc! { "$match": { "qty": { "$gt": 0 } } }])
///     .run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct CreateCollection<'a> {
    db: &'a Database,
    name: String,
    options: Option<CreateCollectionOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a> CreateCollection<'a> {
    option_setters!(CreateCollectionOptions;
        example("db: Database") "db.create_collection(\"c\")";
        capped: (bool),
        size: (u64),
        max: (u64),
        storage_engine: (Document),
        validator: (Document),
        validation_level: (into String),
        validation_action: (into String),
        view_on: (into String),
        pipeline: (iter Document),
        collation: (Collation),
        write_concern: (WriteConcern),
        index_option_defaults: (Document),
        timeseries: (Document),
        expire_after_seconds: (Duration),
        change_stream_pre_and_post_images: (Document),
        clustered_index: (Document),
        encrypted_fields: (Document),
        comment: (into Bson),
    );

    session_setter!("db: Database" "db.create_collection(\"c\")");

    timeout_setter!("db: Database" "db.create_collection(\"c\")");

    /// Runs the `create` command.
    ///
    /// # Errors
    /// The collection exists (code 48, NamespaceExists); invalid options; server and
    /// network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("app");
    /// db.create_collection("users").run()?;
    /// assert_eq!(db.create_collection("users").run().unwrap_err().code(), Some(48));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout =
            crate::timeout::of_operation(self.timeout, self.db.timeout(), self.session.as_deref())?;
        crate::timeout::scope(timeout, move || {
            let mut options = self.options.unwrap_or_default();
            let write_concern = self
                .db
                .concerns()
                .write_concern_in(options.write_concern.take(), self.session.as_deref())?;
            let ns = operation::Namespace::new(self.db.name(), &self.name);
            self.db.client().execute_operation_in(
                operation::Create::new(ns, options, write_concern),
                self.session,
            )
        })
    }
}
