//! `Database::run_command` and `Database::run_cursor_command` (the Run Command spec).

use std::time::Duration;

use bson::{Bson, Document};

use super::{ExplicitSession, ImplicitSession};
use crate::{Cursor, Database, Result, SessionCursor, operation, options::*};

impl Database {
    /// Runs a database command as given; by default on the primary, never retried.
    ///
    /// Under a deadline (`timeoutMS`, or the caller's), the driver's `maxTimeMS` (the
    /// time left) replaces one the command has; the command is not inspected otherwise.
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
            session: None,
            timeout: None,
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
            session: ImplicitSession,
            timeout: None,
            timeout_mode: None,
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
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a> RunCommand<'a> {
    session_setter!("db: Database" "db.run_command(doc! { \"ping\": 1 })");

    timeout_setter!("db: Database" "db.run_command(doc! { \"ping\": 1 })");

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
        let timeout =
            crate::timeout::of_operation(self.timeout, self.db.timeout(), self.session.as_deref())?;
        crate::timeout::scope(timeout, move || {
            if let Some(session) = self.session.as_deref() {
                // In a transaction, runCommand reads from the primary only: neither its own
                // read preference nor the transaction's may say otherwise.
                let explicit = self
                    .selection_criteria
                    .as_ref()
                    .and_then(|c| c.as_read_pref());
                let non_primary = |p: &ReadPreference| p.mode != ReadPreferenceMode::Primary;
                let refused = explicit.is_some_and(non_primary)
                    || session
                        .transaction_read_preference()
                        .is_some_and(non_primary);
                if session.in_transaction() && refused {
                    return Err(crate::Error::invalid_argument(
                        "read preference in a transaction must be primary",
                    ));
                }
            }
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
            client.execute_operation_in(op, self.session)
        })
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
pub struct RunCursorCommand<'a, S = ImplicitSession> {
    db: &'a Database,
    command: Document,
    options: Option<RunCursorCommandOptions>,
    session: S,
    timeout: Option<std::time::Duration>,
    timeout_mode: Option<crate::options::TimeoutMode>,
}

impl<S> RunCursorCommand<'_, S> {
    /// The `timeoutMS` and `timeoutMode` the cursor is opened with.
    fn timing(&self) -> crate::timeout::CursorTiming {
        crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.db.timeout()),
            mode: self.timeout_mode,
        }
    }

    cursor_timeout_setters!("db: Database" "db.run_cursor_command(doc! { \"find\": \"items\" })");

    option_setters!(RunCursorCommandOptions;
        example("db: Database") "db.run_cursor_command(doc! { \"find\": \"c\" })";
        selection_criteria: (SelectionCriteria),
        cursor_type: (CursorType),
        batch_size: (u32),
        max_time: (Duration),
        comment: (into Bson),
    );

    /// The operation to run, and the session to run it in.
    fn into_parts(self) -> (operation::RunCursorCommand, S) {
        let op = operation::RunCursorCommand::new(
            self.db.name(),
            self.command,
            self.options.unwrap_or_default(),
        );
        (op, self.session)
    }
}

impl<'a> RunCursorCommand<'a, ImplicitSession> {
    /// Runs it in `session` (and its transaction, if one is open): `.run()` returns a
    /// [`SessionCursor`](crate::SessionCursor), whose later batches are fetched in the
    /// session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = client.database("shop").run_cursor_command(doc! { "find": "items" }).session(&mut session).run()?;
    /// println!("{} items", cursor.iter(&mut session).count());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn session(
        self,
        session: impl Into<&'a mut crate::ClientSession>,
    ) -> RunCursorCommand<'a, ExplicitSession<'a>> {
        RunCursorCommand {
            db: self.db,
            command: self.command,
            options: self.options,
            session: ExplicitSession(session.into()),
            timeout: self.timeout,
            timeout_mode: self.timeout_mode,
        }
    }

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
        let timing = self.timing();
        let client = self.db.client();
        client.execute_cursor_operation(self.into_parts().0, timing)
    }
}

impl<'a> RunCursorCommand<'a, ExplicitSession<'a>> {
    /// Runs the command in the session and returns a cursor whose later batches are
    /// fetched in it.
    ///
    /// # Errors
    /// Server and network errors; a reply without a cursor; the session belongs to
    /// another client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = client.database("shop").run_cursor_command(doc! { "find": "items" }).session(&mut session).run()?;
    /// while let Some(item) = cursor.next(&mut session) {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<SessionCursor<Document>> {
        let timing = self.timing();
        crate::timeout::of_operation(self.timeout, None, Some(&*self.session.0))?;
        let client = self.db.client();
        let (op, ExplicitSession(session)) = self.into_parts();
        let cursor = client.execute_cursor_operation_in(op, Some(session), timing)?;
        Ok(SessionCursor::new(cursor))
    }
}
