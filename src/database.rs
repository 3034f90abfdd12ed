//! A database handle.

use bson::{doc, Document, RawDocumentBuf};

use crate::{
    client::Retry,
    cursor::CursorSpec,
    operation::CursorReply,
    options::{
        AggregateOptions, CursorType, ReadConcern, ReadPreference, ReadPreferenceMode,
        RunCursorCommandOptions, WriteConcern,
    },
    sdam::{ServerType, TopologyType},
    topology::Criteria,
    Client, Collection, Cursor, Result,
};

/// A handle to one database of a [`Client`]. Cheap to clone; no I/O until used.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let db = client.database("admin");
/// let reply = db.run_command(doc! { "buildInfo": 1 })?;
/// println!("server version {}", reply.get_str("version")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Database {
    client: Client,
    name: String,
    /// Defaults for the collections of this handle (`None`: the client's).
    read_concern: Option<ReadConcern>,
    write_concern: Option<WriteConcern>,
    read_preference: Option<ReadPreference>,
}

impl Database {
    pub(crate) fn new(client: Client, name: &str) -> Database {
        Database {
            client,
            name: name.to_owned(),
            read_concern: None,
            write_concern: None,
            read_preference: None,
        }
    }

    /// This database with a default write concern for the collections it hands out and
    /// its own aggregations (not for [`Database::run_command`], which sends the command
    /// as given).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut majority = WriteConcern::default();
    /// majority.w = Some(Acknowledgment::Majority);
    /// let db = client.database("shop").with_write_concern(majority);
    /// let items = db.collection::<bson::Document>("items"); // writes with w: "majority"
    /// # let _ = items;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }

    /// This database with a default read concern (see [`Database::with_write_concern`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("shop").with_read_concern(ReadConcern::new(ReadConcernLevel::Majority));
    /// let items = db.collection::<bson::Document>("items"); // reads with readConcern majority
    /// # let _ = items;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_concern(mut self, read_concern: ReadConcern) -> Self {
        self.read_concern = Some(read_concern);
        self
    }

    /// This database with a default read preference (see
    /// [`Database::with_write_concern`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("reports").with_read_preference(ReadPreference::new(ReadPreferenceMode::Secondary));
    /// let daily = db.collection::<bson::Document>("daily"); // reads from secondaries
    /// # let _ = daily;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_preference(mut self, read_preference: ReadPreference) -> Self {
        self.read_preference = Some(read_preference);
        self
    }

    /// The database's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("shop").name(), "shop");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this database belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?appName=shop")?;
    /// let db = client.database("shop");
    /// assert_eq!(db.client().options().app_name.as_deref(), Some("shop"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A handle to collection `name`, with documents of type `T` (no I/O). It inherits this
    /// handle's read concern, write concern and read preference.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::Document;
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// assert_eq!(items.namespace(), "shop.items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn collection<T>(&self, name: &str) -> Collection<T> {
        let mut collection = Collection::new(self.client.clone(), &self.name, name);
        if let Some(rc) = &self.read_concern {
            collection = collection.with_read_concern(rc.clone());
        }
        if let Some(wc) = &self.write_concern {
            collection = collection.with_write_concern(wc.clone());
        }
        if let Some(rp) = &self.read_preference {
            collection = collection.with_read_preference(rp.clone());
        }
        collection
    }

    /// The names of the collections in this database, optionally only those matching
    /// `filter` (on `name` and `type`: with `nameOnly`, the server sees no more).
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("shop");
    /// println!("{:?}", db.list_collection_names(None)?);
    /// println!("views: {:?}", db.list_collection_names(doc! { "type": "view" })?);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_collection_names(
        &self,
        filter: impl Into<Option<Document>>,
    ) -> Result<Vec<String>> {
        let mut command = doc! { "listCollections": 1, "nameOnly": true, "cursor": {} };
        if let Some(filter) = filter.into() {
            command.insert("filter", filter);
        }
        let cursor = self.read_cursor_command(command)?;
        cursor
            .map(|c| Ok(c?.get_str("name").unwrap_or_default().to_owned()))
            .collect()
    }

    /// The collections of this database as the server describes them (`name`, `type`,
    /// `options`, `info`, `idIndex`), optionally only those matching `filter`.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for info in client.database("shop").list_collections(doc! { "type": "view" })? {
    ///     println!("view {}", info?.get_str("name")?);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_collections(
        &self,
        filter: impl Into<Option<Document>>,
    ) -> Result<Cursor<Document>> {
        let mut command = doc! { "listCollections": 1, "cursor": {} };
        if let Some(filter) = filter.into() {
            command.insert("filter", filter);
        }
        self.read_cursor_command(command)
    }

    /// Runs a database-level aggregation (`aggregate: 1`): a pipeline that starts with a
    /// stage such as `$documents`, `$currentOp` or `$listLocalSessions`.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let admin = client.database("admin");
    /// for op in admin.aggregate([doc! { "$currentOp": {} }, doc! { "$limit": 5 }], None)? {
    ///     println!("{}", op?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn aggregate(
        &self,
        pipeline: impl IntoIterator<Item = Document>,
        options: impl Into<Option<AggregateOptions>>,
    ) -> Result<Cursor<Document>> {
        self.collection::<Document>("").aggregate_on(
            bson::Bson::Int32(1),
            pipeline.into_iter().collect(),
            options.into(),
        )
    }

    /// Creates a collection (with options as the `create` command takes them, e.g.
    /// `capped`, `size`, `validator`).
    ///
    /// # Errors
    /// Server and network errors (e.g. code 48 when it exists).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("logs").create_collection("recent", doc! { "capped": true, "size": 1_000_000 })?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn create_collection(
        &self,
        name: &str,
        options: impl Into<Option<Document>>,
    ) -> Result<()> {
        let mut command = doc! { "create": name };
        command.extend(options.into().unwrap_or_default());
        self.run_command(command).map(drop)
    }

    /// Drops the database.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("scratch").drop()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop(&self) -> Result<()> {
        self.run_command(doc! { "dropDatabase": 1 }).map(drop)
    }

    /// Runs a command that returns a cursor (`find`, `aggregate`, `listCollections`, ...)
    /// and iterates its results. The command is sent as given, on the primary unless
    /// `options` name a read preference (it is not retried: it may write); `options` say
    /// how the cursor's `getMore`s ask for more (batch size, wait, comment) and whether it
    /// is tailable.
    ///
    /// # Errors
    /// Server and network errors; a reply without a cursor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::options::RunCursorCommandOptions;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("shop");
    /// let options = RunCursorCommandOptions::builder().batch_size(1000u32).build();
    /// for doc in db.run_cursor_command(doc! { "find": "items", "batchSize": 100 }, options)? {
    ///     println!("{}", doc?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run_cursor_command(
        &self,
        command: Document,
        options: impl Into<Option<RunCursorCommandOptions>>,
    ) -> Result<Cursor<Document>> {
        let o = options.into().unwrap_or_default();
        let mut command = command;
        let criteria = match &o.read_preference {
            Some(pref) if pref.mode != ReadPreferenceMode::Primary => {
                command.insert(
                    "$readPreference",
                    crate::collection::read_preference_document(pref),
                );
                Criteria::Read(pref.clone())
            }
            _ => Criteria::Write,
        };
        let spec = CursorSpec {
            db: self.name.clone(),
            batch_size: o.batch_size,
            max_await_time: o.max_time,
            comment: o.comment,
            stop_on_empty_batch: o.cursor_type == Some(CursorType::Tailable),
            ..Default::default()
        };
        // Never retried (run-command spec): the command may write.
        self.cursor_command(command, criteria, Retry::No, spec)
    }

    /// A cursor command that only reads (`listCollections`): retried once like reads.
    fn read_cursor_command(&self, command: Document) -> Result<Cursor<Document>> {
        let spec = CursorSpec {
            db: self.name.clone(),
            ..Default::default()
        };
        let primary = Criteria::Read(crate::options::ReadPreference::primary());
        self.cursor_command(command, primary, Retry::Read, spec)
    }

    fn cursor_command(
        &self,
        command: Document,
        criteria: Criteria,
        retry: Retry,
        spec: CursorSpec,
    ) -> Result<Cursor<Document>> {
        let opened = self
            .client
            .run_cursor_operation(&self.name, command, criteria, retry)?;
        Cursor::open(self.client.clone(), spec, opened)
    }

    /// The cursor of a cursor-returning command's reply, fetching more from this database.
    pub(crate) fn cursor_from_reply(&self, reply: &Document) -> Result<Cursor<Document>> {
        let spec = CursorSpec {
            db: self.name.clone(),
            ..Default::default()
        };
        Ok(Cursor::new(
            self.client.clone(),
            spec,
            CursorReply::parse(&RawDocumentBuf::try_from(reply)?)?,
            None,
            None,
            None,
        ))
    }

    /// Runs a command against this database and returns the server's reply.
    ///
    /// # Errors
    /// [`ErrorKind::Command`](crate::ErrorKind::Command) with the server's code, codeName
    /// and message when the command fails; network and authentication errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::ErrorKind;
    ///
    /// let db = greenmongo::Client::with_uri_str("mongodb://localhost")?.database("shop");
    /// match db.run_command(doc! { "noSuchCommand": 1 }) {
    ///     Err(e) => match &*e.kind {
    ///         ErrorKind::Command(c) => println!("{} ({}): {}", c.code, c.code_name, c.message),
    ///         _ => return Err(e.into()),
    ///     },
    ///     Ok(_) => unreachable!(),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_command(&self, command: Document) -> Result<Document> {
        self.client.run_command(&self.name, command)
    }

    /// [`run_command`](Self::run_command) on a server `read_preference` allows, with
    /// the preference passed to the server as `$readPreference` (except `primary`, the
    /// default, and to a standalone server, which has no use for it). Not retried.
    ///
    /// # Errors
    /// As [`run_command`](Self::run_command); a server selection error when no server
    /// fits the preference within `serverSelectionTimeoutMS`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let nearest = ReadPreference::new(ReadPreferenceMode::Nearest);
    /// let stats = client.database("shop").run_command_with_read_preference(doc! { "dbStats": 1 }, nearest)?;
    /// println!("{stats}");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run_command_with_read_preference(
        &self,
        mut command: Document,
        read_preference: ReadPreference,
    ) -> Result<Document> {
        if read_preference.mode != ReadPreferenceMode::Primary {
            // Selecting first tells whether the deployment is a standalone server.
            let criteria = Criteria::Read(read_preference.clone());
            self.client.select(&criteria)?;
            let description = self.client.topology_description();
            let standalone = description.topology_type() == TopologyType::Single
                && description
                    .servers()
                    .all(|s| s.server_type == ServerType::Standalone);
            if !standalone {
                command.insert(
                    "$readPreference",
                    crate::collection::read_preference_document(&read_preference),
                );
            }
        }
        let criteria = Criteria::Read(read_preference);
        self.client
            .run_operation(&self.name, command, criteria, Retry::No)
    }
}
