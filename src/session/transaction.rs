//! Transactions (the transactions and convenient-transactions specs): the state machine of
//! a session's transaction, `commitTransaction` and `abortTransaction` with their retry
//! and error-label rules, and the callback API (`StartTransaction::and_run`) that
//! retries what the server says is worth retrying. The actions are in
//! `action/transaction.rs`.

use std::time::{Duration, Instant};

use bson::{Document, doc};

use super::ClientSession;
use crate::{
    Error, ErrorKind, Result,
    conn::Connection,
    error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT},
    operation::EndTransaction,
    options::{ServerAddress, TransactionOptions},
    pool::PooledConnection,
    runtime::time::{deadline, with_own_deadline},
};

/// How long [`StartTransaction::and_run`] keeps retrying (the convenient API's limit).
const WITH_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(120);

/// How long aborting a transaction may take once a deadline has cut it short, or when
/// its session is dropped.
const ABORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a session's transaction is (the transactions spec's states), as
/// [`ClientSession::transaction_state`] reports it.
///
/// # Examples
///
/// ```no_run
/// use greenmongo::TransactionState;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let mut session = client.start_session().run()?;
/// assert_eq!(session.transaction_state(), TransactionState::None);
/// session.start_transaction().run()?;
/// assert_eq!(session.transaction_state(), TransactionState::Starting);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionState {
    /// No transaction was started.
    #[default]
    None,
    /// Started; no statement sent yet (the first carries `startTransaction`).
    Starting,
    /// A statement was sent.
    InProgress,
    /// `commitTransaction` was sent (calling commit again re-sends it).
    Committed,
    /// Committed with no statement: nothing was sent, nothing to send.
    CommittedEmpty,
    /// Aborted.
    Aborted,
}

impl TransactionState {
    /// Started and neither committed nor aborted.
    pub(crate) fn is_open(self) -> bool {
        matches!(
            self,
            TransactionState::Starting | TransactionState::InProgress
        )
    }
}

/// What a transaction is pinned to (the transactions spec's mongos pinning, and the
/// load-balancer spec's connection pinning): its statements, commit and abort go there.
#[derive(Debug)]
pub(crate) enum TransactionPin {
    Mongos(ServerAddress),
    /// Boxed: a connection is large, and most transactions pin none.
    Connection(Box<PooledConnection<Connection>>),
}

/// A session's current (or last) transaction.
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    pub(crate) state: TransactionState,
    /// Its options, with the session's and client's defaults filled in.
    pub(crate) options: TransactionOptions,
    pub(crate) pinned: Option<TransactionPin>,
    /// A sharded transaction's `recoveryToken`, sent with commit and abort.
    pub(crate) recovery_token: Option<Document>,
}

impl Transaction {
    /// Lets go of the mongos or connection (a pinned connection goes back to the pool).
    pub(crate) fn unpin(&mut self) {
        self.pinned = None;
    }
}

impl ClientSession {
    /// [`StartTransaction::and_run`]: runs `callback` in a transaction with `options`
    /// and commits, retrying as the convenient-transactions spec says.
    pub(crate) fn run_transaction<R>(
        &mut self,
        options: Option<TransactionOptions>,
        timeout: Option<Duration>,
        callback: impl FnMut(&mut ClientSession) -> Result<R>,
    ) -> Result<R> {
        // With a timeoutMS (the call's, else the session's, else the client's) the whole
        // call is bounded by it instead of the 120 s retry limit (the CSOT spec), and so
        // is every operation of the callback run in the session.
        let timeout = timeout
            .or_else(|| self.default_timeout())
            .filter(|t| !t.is_zero());
        let limit = timeout.unwrap_or(WITH_TRANSACTION_TIMEOUT);
        crate::timeout::scope(timeout, || {
            self.retry_transaction(options, callback, limit, timeout)
        })
    }

    /// [`run_transaction`](Self::run_transaction)'s loop: retries until `limit` has
    /// passed since it started.
    fn retry_transaction<R>(
        &mut self,
        options: Option<TransactionOptions>,
        mut callback: impl FnMut(&mut ClientSession) -> Result<R>,
        limit: Duration,
        timeout: Option<Duration>,
    ) -> Result<R> {
        let session = self;
        let started = Instant::now();
        // Out of time with a transient error in hand: with a timeoutMS that is a timeout
        // whose cause is the last error (the CSOT spec); otherwise the error itself.
        let give_up = |error: Error| match timeout {
            Some(t) => crate::timeout::timeout_error(
                format!(
                    "timeoutMS={} ran out after {:?} retrying the transaction",
                    t.as_millis(),
                    started.elapsed()
                ),
                Some(error),
            ),
            None => error,
        };
        let mut attempt = 0u32;
        let mut last_error = None;
        'callback: loop {
            if let Some(error) = last_error.take()
                && !backoff(attempt, started, limit)?
            {
                return Err(give_up(error));
            }
            attempt += 1;
            session.start(options.clone())?;
            session.in_timed_callback = timeout.is_some();
            let outcome = callback(session);
            session.in_timed_callback = false;
            let value = match outcome {
                Ok(value) => value,
                Err(error) => {
                    if session.transaction.state.is_open() {
                        abort_after_error(session, timeout);
                    }
                    if !error.contains_label(TRANSIENT_TRANSACTION_ERROR) {
                        return Err(error);
                    }
                    if started.elapsed() >= limit {
                        return Err(give_up(error));
                    }
                    last_error = Some(error);
                    continue 'callback;
                }
            };
            if !session.transaction.state.is_open() {
                // The callback committed or aborted itself.
                return Ok(value);
            }
            loop {
                let Err(error) = session.commit() else {
                    return Ok(value);
                };
                let in_time = started.elapsed() < limit;
                let unknown = error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && error.code() != Some(50);
                let transient = error.contains_label(TRANSIENT_TRANSACTION_ERROR);
                match (in_time, unknown, transient) {
                    (true, true, _) => continue, // commit again (with w: majority)
                    (true, false, true) => {
                        last_error = Some(error);
                        continue 'callback;
                    }
                    (false, true, _) | (false, _, true) => return Err(give_up(error)),
                    _ => return Err(error),
                }
            }
        }
    }

    pub(crate) fn start(&mut self, options: Option<TransactionOptions>) -> Result<()> {
        if self.is_snapshot() {
            return Err(Error::invalid_argument(
                "transactions are not supported in snapshot sessions",
            ));
        }
        if self.transaction.state.is_open() {
            return Err(Error::invalid_argument("transaction already in progress"));
        }
        let options = self.resolve(options.unwrap_or_default());
        if options
            .write_concern
            .as_ref()
            .is_some_and(|wc| !wc.is_acknowledged())
        {
            return Err(Error::invalid_argument(
                "transactions do not support unacknowledged write concerns",
            ));
        }
        self.server_session.next_txn_number();
        self.transaction = Transaction {
            state: TransactionState::Starting,
            options,
            pinned: None,
            recovery_token: None,
        };
        Ok(())
    }

    /// A transaction's options: its own, else the session's defaults, else the
    /// client's.
    fn resolve(&self, mut options: TransactionOptions) -> TransactionOptions {
        let defaults = self.options.default_transaction_options.as_ref();
        let client = self.client.options();
        options.read_concern = options
            .read_concern
            .or_else(|| defaults.and_then(|d| d.read_concern.clone()))
            .or_else(|| client.read_concern.clone());
        options.write_concern = options
            .write_concern
            .or_else(|| defaults.and_then(|d| d.write_concern.clone()))
            .or_else(|| client.write_concern.clone());
        options.selection_criteria = options
            .selection_criteria
            .or_else(|| defaults.and_then(|d| d.selection_criteria.clone()))
            .or_else(|| client.read_preference.clone().map(Into::into));
        options.max_commit_time = options
            .max_commit_time
            .or_else(|| defaults.and_then(|d| d.max_commit_time));
        options
    }

    pub(crate) fn commit(&mut self) -> Result<()> {
        let retrying = match self.transaction.state {
            TransactionState::None => {
                return Err(Error::invalid_argument("no transaction started"));
            }
            TransactionState::Aborted => {
                return Err(Error::invalid_argument(
                    "cannot call commitTransaction after calling abortTransaction",
                ));
            }
            TransactionState::Starting | TransactionState::CommittedEmpty => {
                self.transaction.state = TransactionState::CommittedEmpty;
                return Ok(());
            }
            TransactionState::InProgress => false,
            TransactionState::Committed => true,
        };
        self.transaction.state = TransactionState::Committed;
        let mut command = doc! { "commitTransaction": 1 };
        if let Some(wc) = &self.transaction.options.write_concern {
            let wc = wc.to_document();
            if !wc.is_empty() {
                command.insert("writeConcern", wc);
            }
        }
        if retrying {
            majority_for_retry(&mut command);
        }
        if let Some(max) = self.transaction.options.max_commit_time {
            command.insert(
                "maxTimeMS",
                i64::try_from(max.as_millis()).unwrap_or(i64::MAX),
            );
        }
        self.end_with(command).map_err(|mut e| {
            if commit_outcome_unknown(&e) {
                e.add_label(UNKNOWN_TRANSACTION_COMMIT_RESULT);
            }
            if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                || e.contains_label(TRANSIENT_TRANSACTION_ERROR)
            {
                self.transaction.unpin();
            }
            e
        })
    }

    pub(crate) fn abort(&mut self) -> Result<()> {
        match self.transaction.state {
            TransactionState::None => {
                return Err(Error::invalid_argument("no transaction started"));
            }
            TransactionState::Committed | TransactionState::CommittedEmpty => {
                return Err(Error::invalid_argument(
                    "cannot call abortTransaction after calling commitTransaction",
                ));
            }
            TransactionState::Aborted => {
                return Err(Error::invalid_argument(
                    "cannot call abortTransaction twice",
                ));
            }
            TransactionState::Starting => {
                self.transaction.state = TransactionState::Aborted;
                return Ok(());
            }
            TransactionState::InProgress => {}
        }
        self.transaction.state = TransactionState::Aborted;
        let mut command = doc! { "abortTransaction": 1 };
        if let Some(wc) = &self.transaction.options.write_concern {
            let wc = wc.to_document();
            if !wc.is_empty() {
                command.insert("writeConcern", wc);
            }
        }
        // The server aborts an abandoned transaction by itself: errors are dropped.
        if let Err(e) = self.end_with(command) {
            tracing::debug!(%e, "abortTransaction failed; the server will time the transaction out");
        }
        self.transaction.unpin();
        Ok(())
    }

    /// Sends `commitTransaction` or `abortTransaction` (with the recovery token), a
    /// retryable write in this session.
    fn end_with(&mut self, mut command: Document) -> Result<()> {
        if let Some(token) = &self.transaction.recovery_token {
            command.insert("recoveryToken", token.clone());
        }
        let client = self.client.clone();
        client.execute_operation_in(EndTransaction::new(command), Some(self))
    }
}

/// A commit sent again: its write concern becomes `w: majority` (keeping the other
/// fields), with a 10 s `wtimeout` unless one was set, so that it cannot wait forever
/// on a lost majority.
pub(crate) fn majority_for_retry(command: &mut Document) {
    let mut wc = command
        .get_document("writeConcern")
        .cloned()
        .unwrap_or_default();
    wc.insert("w", "majority");
    if !wc.contains_key("wtimeout") {
        wc.insert("wtimeout", 10_000i64);
    }
    command.insert("writeConcern", wc);
}

/// Whether a failed commit may or may not have committed: a network or selection
/// error, a retryable error, a timeout, or a write concern error other than an
/// unsatisfiable write concern.
fn commit_outcome_unknown(error: &Error) -> bool {
    const UNSATISFIABLE: [i32; 2] = [79, 100]; // UnknownReplWriteConcern, UnsatisfiableWriteConcern
    const MAX_TIME_MS_EXPIRED: i32 = 50;
    if error.is_network_error()
        || error.contains_label(crate::retry::RETRYABLE_WRITE_ERROR)
        || matches!(
            &*error.kind,
            ErrorKind::ServerSelection { .. } | ErrorKind::PoolCleared { .. }
        )
    {
        return true;
    }
    match &*error.kind {
        ErrorKind::Write(crate::error::WriteFailure::WriteConcernError(wce)) => {
            !UNSATISFIABLE.contains(&wce.code)
        }
        ErrorKind::Command(c) => {
            c.code == MAX_TIME_MS_EXPIRED || crate::retry::is_retryable_code(c.code)
        }
        _ => false,
    }
}

/// Waits before running a transaction's callback again: a random share of 5 ms ×
/// 1.5^attempt, at most 500 ms, so conflicting transactions spread out. Returns false,
/// without waiting, when the wait would end past the retry limit.
fn backoff(attempt: u32, started: Instant, limit: Duration) -> Result<bool> {
    let ceiling = (5.0 * 1.5f64.powi(attempt.min(20) as i32 - 1)).min(500.0);
    let jitter = f64::from(getrandom::u32().unwrap_or(u32::MAX / 2)) / f64::from(u32::MAX);
    let wait = Duration::from_secs_f64(ceiling * jitter / 1000.0);
    if started.elapsed() + wait >= limit {
        return Ok(false);
    }
    crate::runtime::sleep(wait).map_err(Error::from)?;
    Ok(true)
}

/// Aborts the transaction of a session being dropped, waiting at most
/// [`ABORT_TIMEOUT`] (whatever deadline is in force: it may be what ended the work).
pub(super) fn abort_on_drop(session: &mut ClientSession) {
    let _ = with_own_deadline(Some(Instant::now() + ABORT_TIMEOUT), || session.abort());
}

/// Aborts a transaction that failed. Under a deadline (which may be what failed it)
/// the abort gets at least [`ABORT_TIMEOUT`] of its own, so that a deadline never
/// leaves a transaction open on the server; otherwise the ordinary timeouts apply.
fn abort_after_error(session: &mut ClientSession, timeout: Option<Duration>) {
    // With a timeoutMS, the abort gets it afresh (the CSOT spec).
    let own = match timeout {
        Some(timeout) => Some(Instant::now() + timeout),
        None => deadline().map(|d| d.max(Instant::now() + ABORT_TIMEOUT)),
    };
    let _ = with_own_deadline(own, || session.abort());
}
