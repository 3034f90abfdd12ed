//! Sessions (the driver-sessions, causal-consistency and snapshot-reads specs):
//! [`ClientSession`], the explicit session an application starts, and the pool of server
//! sessions (`lsid`s) behind it and behind every operation's implicit session.
//!
//! A `ClientSession` is lent to each operation with `.session(&mut session)`: the borrow
//! checker makes two coroutines using one session at once a compile error, and one shared
//! behind a mutex is used by one operation at a time. Transactions are in `transaction`.

mod pool;
mod transaction;

use std::fmt;

use bson::{Bson, Document, RawDocumentBuf, Timestamp, doc};

pub(crate) use pool::{ServerSession, SessionPool};
pub use transaction::TransactionState;
pub(crate) use transaction::{TransactionPin, majority_for_retry};

use crate::{
    Client, Error, Result,
    options::{ReadConcernLevel, SelectionCriteria, SessionOptions},
    retry::Retry,
};

/// An explicit session: operations given it with `.session(&mut session)` are causally
/// consistent by default (each read sees the session's earlier writes), can read one
/// snapshot, and can run in a multi-document transaction.
///
/// Start one with [`Client::start_session`]. Dropping it gives its server session back
/// to the pool; a transaction still open is aborted first (waiting at most two seconds).
///
/// A session is lent to one operation at a time (`&mut`): two coroutines (or two
/// pending actions) using one session at once do not compile, and a session shared
/// behind a mutex is used by one operation at a time.
///
/// ```compile_fail
/// # use bson::{doc, Document};
/// # fn f(client: greenmongo::Client) -> greenmongo::Result<()> {
/// let items = client.database("shop").collection::<Document>("items");
/// let mut session = client.start_session().run()?;
/// let first = items.insert_one(doc! {}).session(&mut session);
/// let second = items.insert_one(doc! {}).session(&mut session); // E0499: borrowed twice
/// first.run()?;
/// second.run()?;
/// # Ok(()) }
/// ```
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let accounts = client.database("bank").collection::<Document>("accounts");
/// let mut session = client.start_session().run()?;
/// accounts.insert_one(doc! { "_id": "alice", "balance": 100 }).session(&mut session).run()?;
/// // Causally consistent: this read sees the insert, whichever member serves it.
/// let alice = accounts.find_one(doc! { "_id": "alice" }).session(&mut session).run()?;
/// assert!(alice.is_some());
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub struct ClientSession {
    client: Client,
    server_session: ServerSession,
    options: SessionOptions,
    /// The highest `$clusterTime` this session has seen.
    cluster_time: Option<Document>,
    /// The `operationTime` of the last reply: causal reads wait for it.
    operation_time: Option<Timestamp>,
    /// A snapshot session's read time, fixed by its first read.
    snapshot_time: Option<Timestamp>,
    pub(crate) transaction: transaction::Transaction,
    /// Whether a `with_transaction` callback with a `timeoutMS` is running in this
    /// session: its operations may not set timeouts of their own.
    pub(crate) in_timed_callback: bool,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("id", &self.server_session.id)
            .field("transaction", &self.transaction.state)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A session of `client` on `server_session`, with options already checked.
    pub(crate) fn new(
        client: Client,
        server_session: ServerSession,
        options: SessionOptions,
    ) -> ClientSession {
        ClientSession {
            client,
            server_session,
            snapshot_time: options.snapshot_time,
            options,
            cluster_time: None,
            operation_time: None,
            transaction: transaction::Transaction::default(),
            in_timed_callback: false,
        }
    }

    /// The client that started the session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let session = client.start_session().run()?;
    /// assert_eq!(session.client().options().hosts, client.options().hosts);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The session's id, sent as `lsid`: `{ id: <UUID> }`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let session = client.start_session().run()?;
    /// assert!(session.id().get_binary_generic("id").is_ok());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn id(&self) -> &Document {
        &self.server_session.id
    }

    /// The options the session was started with.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let session = client.start_session().snapshot(true).run()?;
    /// assert_eq!(session.options().snapshot, Some(true));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// The `timeoutMS` of the session's commit, abort and `with_transaction`: its
    /// [`default_timeout`](SessionOptions::default_timeout), else the client's.
    pub(crate) fn default_timeout(&self) -> Option<std::time::Duration> {
        self.options
            .default_timeout
            .or_else(|| self.client().timeout())
    }

    /// The highest `$clusterTime` the session has seen (`None` before its first
    /// operation).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// assert!(session.cluster_time().is_none());
    /// client.database("admin").run_command(doc! { "ping": 1 }).session(&mut session).run()?;
    /// assert!(session.cluster_time().is_some());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn cluster_time(&self) -> Option<&Document> {
        self.cluster_time.as_ref()
    }

    /// Moves the session's cluster time forward to `cluster_time` (a `$clusterTime`
    /// document, as another session's [`cluster_time`](Self::cluster_time)) if it is
    /// newer; an older one is ignored.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let writer = client.start_session().run()?;
    /// let mut reader = client.start_session().run()?;
    /// if let (Some(cluster), Some(operation)) = (writer.cluster_time(), writer.operation_time()) {
    ///     reader.advance_cluster_time(cluster);
    ///     reader.advance_operation_time(operation); // reader now sees what writer saw
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn advance_cluster_time(&mut self, cluster_time: &Document) {
        let newer = |time: &Document| time.get_timestamp("clusterTime").ok().map(order);
        if newer(cluster_time) > self.cluster_time.as_ref().and_then(newer) {
            self.cluster_time = Some(cluster_time.clone());
        }
    }

    /// The `operationTime` of the session's latest operation: a causally consistent
    /// read waits until the server has caught up with it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// client.database("shop").collection::<Document>("items").insert_one(doc! {}).session(&mut session).run()?;
    /// println!("{:?}", session.operation_time());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn operation_time(&self) -> Option<Timestamp> {
        self.operation_time
    }

    /// Moves the session's operation time forward to `operation_time` if it is newer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// session.advance_operation_time(bson::Timestamp { time: 1, increment: 1 });
    /// assert_eq!(session.operation_time(), Some(bson::Timestamp { time: 1, increment: 1 }));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn advance_operation_time(&mut self, operation_time: Timestamp) {
        if self
            .operation_time
            .is_none_or(|t| order(t) < order(operation_time))
        {
            self.operation_time = Some(operation_time);
        }
    }

    /// A snapshot session's read time: the `atClusterTime` of its first read, which all
    /// its later reads use (`None` before it, and in other sessions).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().snapshot(true).run()?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.find_one(doc! {}).session(&mut session).run()?;
    /// println!("reading as of {:?}", session.snapshot_time());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn snapshot_time(&self) -> Option<Timestamp> {
        self.snapshot_time
    }

    /// Whether a transaction is open: started and neither committed nor aborted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// assert!(session.in_transaction());
    /// session.abort_transaction().run()?;
    /// assert!(!session.in_transaction());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn in_transaction(&self) -> bool {
        self.transaction.state.is_open()
    }

    /// Where the session's transaction is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use greenmongo::TransactionState;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let mut session = client.start_session().run()?;
    /// session.start_transaction().run()?;
    /// session.commit_transaction().run()?;
    /// assert_eq!(session.transaction_state(), TransactionState::CommittedEmpty);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn transaction_state(&self) -> TransactionState {
        self.transaction.state
    }

    /// The read preference of the open transaction, if one is open and has one.
    pub(crate) fn transaction_read_preference(&self) -> Option<&crate::options::ReadPreference> {
        self.transaction
            .options
            .selection_criteria
            .as_ref()
            .filter(|_| self.in_transaction())
            .and_then(SelectionCriteria::as_read_pref)
    }

    /// Whether the session is pinned to a mongos or (load-balanced) a connection, as its
    /// transaction makes it. For tests of the transactions spec.
    #[doc(hidden)]
    pub fn is_pinned(&self) -> bool {
        self.transaction.pinned.is_some()
    }

    /// Whether a network error made the server session unfit for reuse. For tests of
    /// the sessions spec.
    #[doc(hidden)]
    pub fn is_dirty(&self) -> bool {
        self.server_session.dirty
    }

    fn causally_consistent(&self) -> bool {
        self.options.causal_consistency.unwrap_or(true) && !self.is_snapshot()
    }

    fn is_snapshot(&self) -> bool {
        self.options.snapshot == Some(true)
    }

    /// Checks that an operation may run in this session: it belongs to `client`, and is
    /// not an unacknowledged write (which cannot be in a session).
    pub(crate) fn check_usable(&self, client: &Client, command: &Document) -> Result<()> {
        if !self.client.same_as(client) {
            return Err(Error::invalid_argument(
                "the session was started by another client: use a session only with the client that started it",
            ));
        }
        let unacknowledged = command
            .get_document("writeConcern")
            .is_ok_and(|wc| matches!(wc.get("w"), Some(Bson::Int32(0) | Bson::Int64(0))));
        if unacknowledged && !self.in_transaction() {
            return Err(Error::invalid_argument(
                "an unacknowledged write (w: 0) cannot run in an explicit session",
            ));
        }
        Ok(())
    }

    /// Where an operation with `criteria` goes in this session: a transaction's read
    /// preference replaces the operation's, and must be primary for reads.
    pub(crate) fn criteria(
        &self,
        criteria: crate::selection::Criteria,
    ) -> Result<crate::selection::Criteria> {
        use crate::selection::Criteria;
        if !self.in_transaction() {
            return Ok(criteria);
        }
        match (criteria, &self.transaction.options.selection_criteria) {
            (Criteria::Read(_), Some(SelectionCriteria::ReadPreference(pref)))
                if pref.mode != crate::options::ReadPreferenceMode::Primary =>
            {
                Err(Error::invalid_argument(
                    "read preference in a transaction must be primary",
                ))
            }
            (Criteria::Read(_), _) => Ok(Criteria::Read(Default::default())),
            (criteria, _) => Ok(criteria),
        }
    }

    /// Puts the session on `command` the first time it is sent: `lsid`, the
    /// transaction's fields or the retryable write's `txnNumber`, and the read concern
    /// that causal consistency or a snapshot asks for. Statements of a transaction are
    /// never retried on their own (`retry` becomes [`Retry::No`]).
    pub(crate) fn apply(&mut self, command: &mut Document, retry: &mut Retry) {
        command.insert("lsid", self.server_session.id.clone());
        let name = command.keys().next().cloned().unwrap_or_default();
        let ends_transaction = name == "commitTransaction" || name == "abortTransaction";
        if ends_transaction {
            command.insert("txnNumber", self.server_session.txn_number());
            command.insert("autocommit", false);
            return;
        }
        if matches!(
            self.transaction.state,
            TransactionState::Committed
                | TransactionState::CommittedEmpty
                | TransactionState::Aborted
        ) {
            // An operation after the transaction ended: the session leaves it behind.
            self.transaction.state = TransactionState::None;
            self.transaction.unpin();
        }
        if self.in_transaction() {
            *retry = Retry::No;
            command.insert("txnNumber", self.server_session.txn_number());
            command.remove("writeConcern");
            command.remove("readConcern");
            if self.transaction.state == TransactionState::Starting {
                command.insert("startTransaction", true);
                let mut read_concern = self
                    .transaction
                    .options
                    .read_concern
                    .as_ref()
                    .map(|rc| rc.to_document())
                    .unwrap_or_default();
                if let (true, Some(time)) = (self.causally_consistent(), self.operation_time) {
                    read_concern.insert("afterClusterTime", time);
                }
                if !read_concern.is_empty() {
                    command.insert("readConcern", read_concern);
                }
                self.transaction.state = TransactionState::InProgress;
            }
            command.insert("autocommit", false);
            return;
        }
        if *retry == Retry::Write {
            command.insert("txnNumber", self.server_session.next_txn_number());
        }
        if self.is_snapshot() {
            if takes_snapshot(&name) {
                let mut read_concern = doc! { "level": ReadConcernLevel::Snapshot.as_str() };
                if let Some(time) = self.snapshot_time {
                    read_concern.insert("atClusterTime", time);
                }
                command.insert("readConcern", read_concern);
            }
        } else if let (true, Some(time)) = (self.causally_consistent(), self.operation_time)
            && waits_for_cluster_time(&name, command)
        {
            let mut read_concern = command
                .get_document("readConcern")
                .cloned()
                .unwrap_or_default();
            read_concern.insert("afterClusterTime", time);
            command.insert("readConcern", read_concern);
        }
    }

    /// Learns from a reply (an error reply's too): the cluster and operation times, a
    /// snapshot's read time, a sharded transaction's recovery token.
    pub(crate) fn observe(&mut self, reply: &RawDocumentBuf) {
        if let Ok(time) = reply.get_timestamp("operationTime") {
            self.advance_operation_time(time);
        }
        if let Ok(cluster_time) = reply.get_document("$clusterTime")
            && let Ok(cluster_time) = crate::nesting::to_document(cluster_time)
        {
            self.advance_cluster_time(&cluster_time);
        }
        if self.is_snapshot() && self.snapshot_time.is_none() {
            let at = reply
                .get_document("cursor")
                .ok()
                .and_then(|c| c.get_timestamp("atClusterTime").ok())
                .or_else(|| reply.get_timestamp("atClusterTime").ok());
            self.snapshot_time = at;
        }
        if self.transaction.state.is_open()
            && let Ok(token) = reply.get_document("recoveryToken")
        {
            self.transaction.recovery_token = crate::nesting::to_document(token).ok();
        }
    }

    /// The server session, for the executor's bookkeeping (dirty on network errors).
    pub(crate) fn server_session(&mut self) -> &mut ServerSession {
        &mut self.server_session
    }
}

impl Drop for ClientSession {
    fn drop(&mut self) {
        if self.transaction.state == TransactionState::InProgress {
            transaction::abort_on_drop(self);
        }
        self.transaction.unpin();
        let server_session = std::mem::replace(&mut self.server_session, ServerSession::ended());
        self.client.end_session(Some(server_session));
    }
}

/// Whether a snapshot session sends `readConcern: snapshot` with a command: with all but
/// those of a cursor or a session's own bookkeeping. The server refuses it where a
/// snapshot makes no sense (writes, listings), as the snapshot-reads spec intends.
fn takes_snapshot(name: &str) -> bool {
    !matches!(
        name,
        "getMore" | "killCursors" | "commitTransaction" | "abortTransaction" | "endSessions"
    )
}

/// Whether a causally consistent session sends `afterClusterTime` with a command: the
/// reads and writes of the CRUD and index APIs (the causal-consistency spec and its
/// write-commands tests), and any command given a read concern of its own. Other
/// commands (`ping`, listings) take no read concern.
fn waits_for_cluster_time(name: &str, command: &Document) -> bool {
    matches!(
        name,
        "find"
            | "aggregate"
            | "count"
            | "distinct"
            | "insert"
            | "update"
            | "delete"
            | "findAndModify"
            | "bulkWrite"
            | "create"
            | "createIndexes"
            | "drop"
            | "dropIndexes"
            | "dropDatabase"
            | "renameCollection"
    ) || command.contains_key("readConcern")
}

/// A timestamp's order: seconds, then increment.
fn order(t: Timestamp) -> (u32, u32) {
    (t.time, t.increment)
}
