//! `Collection::drop`, `Database::drop`, and `Collection::rename`.

use crate::{Collection, Database, Result, operation, options::*};

impl<T> Collection<T> {
    /// Drops the collection with its indexes; dropping one that does not exist is not
    /// an error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("shop").collection::<Document>("carts").drop().run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop(&self) -> DropCollection<'_, T> {
        DropCollection {
            coll: self,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Renames the collection (`renameCollection`) to `to`: a name in the same database,
    /// or `"db.name"` to move it. Not in the official driver, which leaves this to
    /// `run_command`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let staging = client.database("shop").collection::<Document>("items_staging");
    /// staging.rename("items").drop_target(true).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn rename(&self, to: impl AsRef<str>) -> RenameCollection<'_, T> {
        RenameCollection {
            coll: self,
            to: to.as_ref().to_owned(),
            drop_target: false,
            session: None,
            timeout: None,
        }
    }
}

impl Database {
    /// Drops the database and everything in it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("scratch").drop().run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop(&self) -> DropDatabase<'_> {
        DropDatabase {
            db: self,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `drop` of a collection, made by [`Collection::drop`]; ends in
/// [`run`](DropCollection::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Document;
/// use greenmongo::options::WriteConcern;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let carts = client.database("shop").collection::<Document>("carts");
/// carts.drop().write_concern(WriteConcern::majority()).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct DropCollection<'a, T> {
    coll: &'a Collection<T>,
    options: Option<DropCollectionOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> DropCollection<'a, T> {
    option_setters!(DropCollectionOptions;
        example("coll: Collection<Document>") "coll.drop()";
        write_concern: (WriteConcern),
    );

    session_setter!("coll: Collection<Document>" "coll.drop()");

    timeout_setter!("coll: Collection<Document>" "coll.drop()");

    /// Runs the `drop` command.
    ///
    /// # Errors
    /// Server and network errors; not a missing collection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let never_made = client.database("shop").collection::<Document>("never_made");
    /// never_made.drop().run()?; // fine
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
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
            let op = operation::DropCollection::new(self.coll.namespace(), write_concern);
            match self.coll.client().execute_operation_in(op, self.session) {
                Err(e) if operation::DropCollection::already_gone(&e) => Ok(()),
                other => other,
            }
        })
    }
}

/// A `dropDatabase`, made by [`Database::drop`]; ends in [`run`](DropDatabase::run).
///
/// # Examples
///
/// ```no_run
/// use greenmongo::options::WriteConcern;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// client.database("scratch").drop().write_concern(WriteConcern::majority()).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct DropDatabase<'a> {
    db: &'a Database,
    options: Option<DropDatabaseOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a> DropDatabase<'a> {
    option_setters!(DropDatabaseOptions;
        example("db: Database") "db.drop()";
        write_concern: (WriteConcern),
    );

    session_setter!("db: Database" "db.drop()");

    timeout_setter!("db: Database" "db.drop()");

    /// Runs the `dropDatabase` command.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let scratch = client.database("scratch");
    /// scratch.drop().run()?;
    /// assert!(!client.list_database_names().run()?.contains(&"scratch".to_string()));
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
            let op = operation::DropDatabase::new(self.db.name(), write_concern);
            self.db.client().execute_operation_in(op, self.session)
        })
    }
}

/// A `renameCollection`, made by [`Collection::rename`]; ends in
/// [`run`](RenameCollection::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Document;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// items.rename("archive.items_2025").run()?; // moves it to another database
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct RenameCollection<'a, T> {
    coll: &'a Collection<T>,
    to: String,
    drop_target: bool,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> RenameCollection<'a, T> {
    session_setter!("coll: Collection<Document>" "coll.rename(\"archive\")");

    timeout_setter!("coll: Collection<Document>" "coll.rename(\"archive\")");

    /// Replace a collection that already has the new name (default: fail instead).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let fresh = client.database("shop").collection::<Document>("prices_new");
    /// fresh.rename("prices").drop_target(true).run()?; // swaps in the new prices
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop_target(mut self, drop_target: bool) -> Self {
        self.drop_target = drop_target;
        self
    }

    /// Runs the `renameCollection` command (on the `admin` database).
    ///
    /// # Errors
    /// The target exists (without `drop_target`); server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let a = client.database("shop").collection::<Document>("a");
    /// a.rename("b").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(None, self.session.as_deref())?;
            let op = operation::RenameCollection::new(
                self.coll.namespace(),
                &self.to,
                self.drop_target,
                write_concern,
            );
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}
