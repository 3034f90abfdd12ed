//! `Database::run_command` and `Database::run_cursor_command` (the Run Command spec).

use std::time::Duration;

use bson::{Bson, Document};

use crate::{operation, options::*, Cursor, Database, Result};

impl Database {
    /// Runs a database command as given; by default on the primary, never retried.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let reply = client.database("admin").run_command(doc! { "ping": 1 }).run()?;
    /// assert_eq!(reply.get_f64("ok")?, 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_command(&self, command: Document) -> RunCommand<'_> {
        RunCommand {
            db: self,
            command,
            selection_criteria: None,
        }
    }

    /// Runs a command that opens a cursor (`find`, `aggregate`, `listCollections`, ...)
    /// and returns the cursor; its `getMore`s use the options set here.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("shop");
    /// let cursor = db.run_cursor_command(doc! { "find": "items", "batchSize": 2 }).batch_size(100).run()?;
    /// for item in cursor {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run_cursor_command(&self, command: Document) -> RunCursorCommand<'_> {
        RunCursorCommand {
            db: self,
            command,
            options: None,
        }
    }
}

/// A command, made by [`Database::run_command`]; ends in [`run`](RunCommand::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let stats = client
///     .database("shop")
///     .run_command(doc! { "dbStats": 1 })
///     .selection_criteria(ReadPreference::new(ReadPreferenceMode::SecondaryPreferred).into())
///     .run()?;
/// # let _ = stats;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct RunCommand<'a> {
    db: &'a Database,
    command: Document,
    selection_criteria: Option<SelectionCriteria>,
}

impl RunCommand<'_> {
    /// Where the command runs (default: the primary). A read preference other than
    /// primary is also sent as `$readPreference`, except to a standalone server.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode, SelectionCriteria};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let nearest = SelectionCriteria::ReadPreference(ReadPreference::new(ReadPreferenceMode::Nearest));
    /// client.database("admin").run_command(doc! { "ping": 1 }).selection_criteria(nearest).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn selection_criteria(mut self, criteria: SelectionCriteria) -> Self {
        self.selection_criteria = Some(criteria);
        self
    }

    /// Runs the command and returns the server's reply.
    ///
    /// # Errors
    /// A reply with `ok: 0` is a [`CommandError`](crate::CommandError) with the server's
    /// code, name and message; network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let err = client.database("admin").run_command(doc! { "noSuchCommand": 1 }).run().unwrap_err();
    /// assert_eq!(err.code(), Some(59)); // CommandNotFound
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Document> {
        let client = self.db.client();
        let op = match self
            .selection_criteria
            .as_ref()
            .and_then(|c| c.as_read_pref())
        {
            Some(pref) => {
                // Selecting first tells whether the deployment is a standalone server,
                // which must not be sent `$readPreference`.
                let standalone = client.is_standalone(pref)?;
                operation::RunCommand::with_read_preference(
                    self.db.name(),
                    self.command,
                    pref.clone(),
                    standalone,
                )
            }
            None => operation::RunCommand::new(self.db.name(), self.command),
        };
        client.execute_operation(op)
    }
}

/// A cursor-opening command, made by [`Database::run_cursor_command`]; ends in
/// [`run`](RunCursorCommand::run).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use bson::doc;
/// use greenmongo::options::CursorType;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let log = client.database("app");
/// let tail = log
///     .run_cursor_command(doc! { "find": "log", "tailable": true, "awaitData": true })
///     .cursor_type(CursorType::TailableAwait)
///     .max_time(Duration::from_secs(1))
///     .run()?;
/// # let _ = tail;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct RunCursorCommand<'a> {
    db: &'a Database,
    command: Document,
    options: Option<RunCursorCommandOptions>,
}

impl RunCursorCommand<'_> {
    option_setters!(RunCursorCommandOptions;
        example("db: Database") "db.run_cursor_command(doc! { \"find\": \"c\" })";
        selection_criteria: (SelectionCriteria),
        cursor_type: (CursorType),
        batch_size: (u32),
        max_time: (Duration),
        comment: (into Bson),
    );

    /// Runs the command (never retried: it may write) and returns its cursor.
    ///
    /// # Errors
    /// Server and network errors; a reply without a cursor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("shop");
    /// let n = db.run_cursor_command(doc! { "aggregate": "items", "pipeline": [], "cursor": {} }).run()?.count();
    /// # let _ = n;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Cursor<Document>> {
        let op = operation::RunCursorCommand::new(
            self.db.name(),
            self.command,
            self.options.unwrap_or_default(),
        );
        self.db.client().execute_cursor_operation(op)
    }
}
