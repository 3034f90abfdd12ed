//! `ClientSession::start_transaction`, `commit_transaction`, `abort_transaction` and
//! `with_transaction`: the actions; the transaction logic is in `session/transaction.rs`.

use std::time::Duration;

use crate::{
    ClientSession, Result,
    options::{ReadConcern, SelectionCriteria, TransactionOptions, WriteConcern},
};

impl ClientSession {
    /// Starts a transaction; `.run()` starts it, `.and_run(callback)` runs `callback` in
    /// it and commits, retrying as the convenient-transactions spec says. Operations
    /// join the transaction by being given the session (`.session(&mut session)`).
    /// Unset options come from the session's `default_transaction_options`, then the
    /// client's read concern, write concern and read preference.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let accounts = client.database("bank").collection::<Document>("accounts");
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// accounts.update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": -10 } }).session(&mut session).run()?;
    /// accounts.update_one(doc! { "_id": "bob" }, doc! { "$inc": { "balance": 10 } }).session(&mut session).run()?;
    /// session.commit_transaction().run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn start_transaction(&mut self) -> StartTransaction<'_> {
        StartTransaction {
            session: self,
            options: None,
            timeout: None,
        }
    }

    /// Commits the open transaction; `.run()` sends `commitTransaction` (retried once
    /// on a retryable error). Calling it again after a commit re-sends it, with a
    /// majority write concern, to learn the outcome of a commit whose reply was lost.
    ///
    /// Errors carry `UnknownTransactionCommitResult` when the commit may or may not
    /// have happened, and `TransientTransactionError` when the whole transaction can be
    /// run again.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::error::UNKNOWN_TRANSACTION_COMMIT_RESULT;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// items.insert_one(doc! { "sku": "fig" }).session(&mut session).run()?;
    /// loop {
    ///     match session.commit_transaction().run() {
    ///         Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
    ///         result => break result?,
    ///     }
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn commit_transaction(&mut self) -> CommitTransaction<'_> {
        CommitTransaction {
            session: self,
            timeout: None,
        }
    }

    /// Aborts the open transaction; `.run()` sends `abortTransaction` (retried once) and
    /// ignores its errors: the server aborts a transaction it does not hear from anyway.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// items.insert_one(doc! { "sku": "fig" }).session(&mut session).run()?;
    /// session.abort_transaction().run()?; // the insert never happened
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn abort_transaction(&mut self) -> AbortTransaction<'_> {
        AbortTransaction {
            session: self,
            timeout: None,
        }
    }

    /// Runs `callback` in a transaction and commits it (the convenient API, as
    /// `session.start_transaction().and_run(callback)` with the session's default
    /// options). See [`StartTransaction::and_run`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let accounts = client.database("bank").collection::<Document>("accounts");
    /// let mut session = client.start_session().run()?;
    /// session.with_transaction(|session| {
    ///     accounts.update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": -10 } }).session(&mut *session).run()?;
    ///     accounts.update_one(doc! { "_id": "bob" }, doc! { "$inc": { "balance": 10 } }).session(&mut *session).run()?;
    ///     Ok(())
    /// })?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_transaction<R>(
        &mut self,
        callback: impl FnMut(&mut ClientSession) -> Result<R>,
    ) -> Result<R> {
        self.start_transaction().and_run(callback)
    }
}

/// Starts a transaction, made by [`ClientSession::start_transaction`]; ends in
/// [`run`](StartTransaction::run) or [`and_run`](StartTransaction::and_run).
///
/// # Examples
///
/// ```no_run
/// use greenmongo::options::{ReadConcern, WriteConcern};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let mut session = client.start_session().run()?;
/// session.start_transaction()
///     .read_concern(ReadConcern::snapshot())
///     .write_concern(WriteConcern::majority())
///     .run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct StartTransaction<'a> {
    session: &'a mut ClientSession,
    options: Option<TransactionOptions>,
    timeout: Option<Duration>,
}

impl StartTransaction<'_> {
    option_setters!(TransactionOptions;
        example("session: &mut greenmongo::ClientSession") "session.start_transaction()";
        read_concern: (ReadConcern),
        write_concern: (WriteConcern),
        selection_criteria: (SelectionCriteria),
        max_commit_time: (Duration),
    );

    /// Starts the transaction: the session's next operations run in it.
    ///
    /// # Errors
    /// A transaction is already open; the session is a snapshot session; the write
    /// concern is unacknowledged.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// assert!(session.start_transaction().run().is_err()); // one at a time
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        if self.timeout.is_some() {
            return Err(crate::Error::invalid_argument(
                "start_transaction().timeout(..) bounds and_run; a transaction started with \
                 run() takes timeouts on its operations and on commit_transaction",
            ));
        }
        self.session.start(self.options)
    }

    /// Bounds [`and_run`](Self::and_run) by `timeout` (its `timeoutMS`; zero: no limit)
    /// instead of the session's [`default_timeout`](crate::options::SessionOptions::default_timeout)
    /// or the client's: the callback's operations, the retries and the commit. With
    /// [`run`](Self::run) it is refused: set timeouts on the operations instead.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// let done = session
    ///     .start_transaction()
    ///     .timeout(Duration::from_secs(2))
    ///     .and_run(|_session| Ok("nothing to write"))?;
    /// # let _ = done;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs `callback` in the transaction and commits it (the convenient-transactions
    /// spec). On an error labelled `TransientTransactionError` (a write conflict, a
    /// failover) the transaction is aborted and the callback runs again, after a short
    /// randomized backoff; a commit labelled `UnknownTransactionCommitResult` is
    /// committed again. Retries stop after 120 seconds, returning the last error. An
    /// error from the callback itself aborts the transaction and is returned. In a
    /// coroutine, every wait (replies, backoff) parks the coroutine.
    ///
    /// With a `timeoutMS` ([`timeout`](Self::timeout), else the session's
    /// [`default_timeout`](crate::options::SessionOptions::default_timeout), else the
    /// client's), that bounds the whole call instead of the 120 seconds: every
    /// operation of the callback, retries, backoff and commit. Running out is an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) whose source is the last error;
    /// the abort that follows gets a fresh `timeoutMS`. Unlike the other drivers the
    /// deadline also bounds operations of the callback that do not use the session (it
    /// is the runtime's deadline). An operation of the callback that runs in the session
    /// with a `.timeout(d)` of its own is refused with
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument): it shares the
    /// transaction's timeout (the CSOT spec).
    ///
    /// The callback may run more than once: keep its side effects in the transaction.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let accounts = client.database("bank").collection::<Document>("accounts");
    /// let mut session = client.start_session().run()?;
    /// let moved = session.start_transaction().and_run(|session| {
    ///     accounts.update_one(doc! { "_id": "alice" }, doc! { "$inc": { "balance": -10 } }).session(&mut *session).run()?;
    ///     accounts.update_one(doc! { "_id": "bob" }, doc! { "$inc": { "balance": 10 } }).session(&mut *session).run()?;
    ///     Ok(10)
    /// })?;
    /// assert_eq!(moved, 10);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn and_run<R>(self, callback: impl FnMut(&mut ClientSession) -> Result<R>) -> Result<R> {
        let StartTransaction {
            session,
            options,
            timeout,
        } = self;
        session.run_transaction(options, timeout, callback)
    }
}

/// Commits the session's transaction, made by [`ClientSession::commit_transaction`];
/// ends in [`run`](CommitTransaction::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let mut session = client.start_session().run()?;
/// session.start_transaction().run()?;
/// session.commit_transaction().run()?; // nothing was written: nothing is sent
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct CommitTransaction<'a> {
    session: &'a mut ClientSession,
    timeout: Option<Duration>,
}

impl CommitTransaction<'_> {
    /// Bounds the commit (with its retry) by `timeout` (its `timeoutMS`; zero: no
    /// limit) instead of the session's default; `max_commit_time` is then ignored.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// session.commit_transaction().timeout(Duration::from_secs(5)).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends `commitTransaction`.
    ///
    /// # Errors
    /// No transaction was started, or it was aborted; the server's error, labelled
    /// `UnknownTransactionCommitResult` when the outcome is unknown.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// assert!(session.commit_transaction().run().is_err()); // no transaction
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = self.timeout.or(self.session.default_timeout());
        crate::timeout::scope(timeout, || self.session.commit())
    }
}

/// Aborts the session's transaction, made by [`ClientSession::abort_transaction`]; ends
/// in [`run`](AbortTransaction::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let mut session = client.start_session().run()?;
/// session.start_transaction().run()?;
/// session.abort_transaction().run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct AbortTransaction<'a> {
    session: &'a mut ClientSession,
    timeout: Option<Duration>,
}

impl AbortTransaction<'_> {
    /// Bounds the abort (with its retry) by `timeout` (its `timeoutMS`; zero: no
    /// limit) instead of the session's default; `max_commit_time` is then ignored.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// session.abort_transaction().timeout(Duration::from_secs(5)).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends `abortTransaction`; its errors are ignored.
    ///
    /// # Errors
    /// No transaction was started, or it was already committed or aborted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// session.abort_transaction().run()?;
    /// assert!(session.abort_transaction().run().is_err()); // not twice
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = self.timeout.or(self.session.default_timeout());
        crate::timeout::scope(timeout, || self.session.abort())
    }
}
