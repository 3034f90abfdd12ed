//! `Database::list_collections` / `list_collection_names` and `Client::list_databases` /
//! `list_database_names` (the Enumerate Collections and Enumerate Databases specs).

use bson::{Bson, Document};

use super::{ExplicitSession, ImplicitSession};
use crate::SessionCursor;
use crate::{
    Client, Cursor, Database, Result, operation,
    options::*,
    results::{CollectionSpecification, DatabaseSpecification},
};

impl Database {
    /// Lists the database's collections; `.run()` returns a cursor of
    /// [`CollectionSpecification`]s.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let views = client.database("shop").list_collections().filter(doc! { "type": "view" }).run()?;
    /// for view in views {
    ///     println!("{}", view?.name);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_collections(&self) -> ListCollections<'_> {
        ListCollections {
            db: self,
            options: None,
            session: ImplicitSession,
            timeout: None,
            timeout_mode: None,
        }
    }

    /// The names of the database's collections.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for name in client.database("shop").list_collection_names().run()? {
    ///     println!("{name}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_collection_names(&self) -> ListCollectionNames<'_> {
        ListCollectionNames {
            db: self,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

impl Client {
    /// Lists the deployment's databases.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for db in client.list_databases().filter(doc! { "empty": false }).run()? {
    ///     println!("{} uses {} bytes", db.name, db.size_on_disk);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_databases(&self) -> ListDatabases<'_> {
        ListDatabases {
            client: self,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// The names of the deployment's databases.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for name in client.list_database_names().run()? {
    ///     println!("{name}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_database_names(&self) -> ListDatabaseNames<'_> {
        ListDatabaseNames {
            client: self,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `listCollections`, made by [`Database::list_collections`]; ends in
/// [`run`](ListCollections::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let n = client.database("shop").list_collections().batch_size(100).run()?.count();
/// # let _ = n;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct ListCollections<'a, S = ImplicitSession> {
    db: &'a Database,
    options: Option<ListCollectionsOptions>,
    session: S,
    timeout: Option<std::time::Duration>,
    timeout_mode: Option<crate::options::TimeoutMode>,
}

impl<S> ListCollections<'_, S> {
    /// The `timeoutMS` and `timeoutMode` the cursor is opened with.
    fn timing(&self) -> crate::timeout::CursorTiming {
        crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.db.timeout()),
            mode: self.timeout_mode,
        }
    }

    cursor_timeout_setters!("db: Database" "db.list_collections()");

    option_setters!(ListCollectionsOptions;
        example("db: Database") "db.list_collections()";
        filter: (Document),
        batch_size: (u32),
        authorized_collections: (bool),
        comment: (into Bson),
    );
}

impl ListCollections<'_, ImplicitSession> {
    /// Runs `listCollections` (a retryable read) and returns a cursor over the
    /// collections.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use greenmongo::results::CollectionType;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for spec in client.database("shop").list_collections().run()? {
    ///     let spec = spec?;
    ///     if spec.collection_type == CollectionType::View {
    ///         println!("view {} over {}", spec.name, spec.options.get_str("viewOn").unwrap_or("?"));
    ///     }
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Cursor<CollectionSpecification>> {
        let timing = self.timing();
        let op = operation::ListCollections::new(
            self.db.name(),
            false,
            self.options.unwrap_or_default(),
        );
        self.db.client().execute_cursor_operation(op, timing)
    }
}

impl<'a> ListCollections<'a, ImplicitSession> {
    /// Runs it in `session` (and its transaction, if one is open): `.run()` returns a
    /// [`SessionCursor`](crate::SessionCursor), whose later batches are fetched in the
    /// session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = client.database("shop").list_collections().session(&mut session).run()?;
    /// println!("{} collections", cursor.iter(&mut session).count());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn session(
        self,
        session: impl Into<&'a mut crate::ClientSession>,
    ) -> ListCollections<'a, ExplicitSession<'a>> {
        ListCollections {
            db: self.db,
            options: self.options,
            session: ExplicitSession(session.into()),
            timeout: self.timeout,
            timeout_mode: self.timeout_mode,
        }
    }
}

impl<'a> ListCollections<'a, ExplicitSession<'a>> {
    /// Runs it in the session and returns a cursor whose later batches are fetched in
    /// it.
    ///
    /// # Errors
    /// Server and network errors; the session belongs to another client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = client.database("shop").list_collections().session(&mut session).run()?;
    /// while let Some(spec) = cursor.next(&mut session) {
    ///     println!("{}", spec?.name);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<SessionCursor<CollectionSpecification>> {
        let timing = self.timing();
        crate::timeout::of_operation(self.timeout, None, Some(&*self.session.0))?;
        let ExplicitSession(session) = self.session;
        let op = operation::ListCollections::new(
            self.db.name(),
            false,
            self.options.unwrap_or_default(),
        );
        let cursor = self
            .db
            .client()
            .execute_cursor_operation_in(op, Some(session), timing)?;
        Ok(SessionCursor::new(cursor))
    }
}

/// A `listCollections` of names, made by [`Database::list_collection_names`]; ends in
/// [`run`](ListCollectionNames::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let system = client.database("shop").list_collection_names().filter(doc! { "name": { "$regex": "^system\\." } }).run()?;
/// # let _ = system;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct ListCollectionNames<'a> {
    db: &'a Database,
    options: Option<ListCollectionsOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a> ListCollectionNames<'a> {
    option_setters!(ListCollectionsOptions;
        example("db: Database") "db.list_collection_names()";
        filter: (Document),
        batch_size: (u32),
        authorized_collections: (bool),
        comment: (into Bson),
    );

    session_setter!("db: Database" "db.list_collection_names()");

    timeout_setter!("db: Database" "db.list_collection_names()");

    /// Runs `listCollections` with `nameOnly` and collects the names.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let names = client.database("shop").list_collection_names().run()?;
    /// println!("{names:?}");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Vec<String>> {
        // The cursor's budget (cursorLifetime) bounds the query and every fetch.
        let timing = crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.db.timeout()),
            mode: None,
        };
        let op =
            operation::ListCollections::new(self.db.name(), true, self.options.unwrap_or_default());
        let mut session = self.session;
        let names: Cursor<Document> =
            self.db
                .client()
                .execute_cursor_operation_in(op, session.as_deref_mut(), timing)?;
        Ok(names
            .collect_in(session)?
            .iter()
            .map(|c| c.get_str("name").unwrap_or_default().to_owned())
            .collect())
    }
}

/// A `listDatabases`, made by [`Client::list_databases`]; ends in
/// [`run`](ListDatabases::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let total: u64 = client.list_databases().run()?.iter().map(|db| db.size_on_disk).sum();
/// println!("{total} bytes in all");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct ListDatabases<'a> {
    client: &'a Client,
    options: Option<ListDatabasesOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a> ListDatabases<'a> {
    option_setters!(ListDatabasesOptions;
        example("client: Client") "client.list_databases()";
        filter: (Document),
        authorized_databases: (bool),
        comment: (into Bson),
    );

    session_setter!("client: Client" "client.list_databases()");

    timeout_setter!("client: Client" "client.list_databases()");

    /// Runs `listDatabases` (a retryable read, on the primary).
    ///
    /// # Errors
    /// Server and network errors; a reply that does not describe databases.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for db in client.list_databases().run()? {
    ///     println!("{}{}", db.name, if db.empty { " (empty)" } else { "" });
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Vec<DatabaseSpecification>> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.client.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let op = operation::ListDatabases::new(false, self.options.unwrap_or_default());
            self.client
                .execute_operation_in(op, self.session)?
                .into_iter()
                .map(crate::nesting::from_document)
                .collect()
        })
    }
}

/// A `listDatabases` of names, made by [`Client::list_database_names`]; ends in
/// [`run`](ListDatabaseNames::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let names = client.list_database_names().run()?;
/// assert!(names.contains(&"admin".to_string()));
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct ListDatabaseNames<'a> {
    client: &'a Client,
    options: Option<ListDatabasesOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a> ListDatabaseNames<'a> {
    option_setters!(ListDatabasesOptions;
        example("client: Client") "client.list_database_names()";
        filter: (Document),
        authorized_databases: (bool),
        comment: (into Bson),
    );

    session_setter!("client: Client" "client.list_database_names()");

    timeout_setter!("client: Client" "client.list_database_names()");

    /// Runs `listDatabases` with `nameOnly` and collects the names.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// println!("{:?}", client.list_database_names().run()?);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Vec<String>> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.client.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let op = operation::ListDatabases::new(true, self.options.unwrap_or_default());
            Ok(self
                .client
                .execute_operation_in(op, self.session)?
                .iter()
                .filter_map(|d| d.get_str("name").ok().map(str::to_owned))
                .collect())
        })
    }
}
