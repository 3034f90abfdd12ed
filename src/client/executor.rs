//! The executor: everything between "operation built" and "reply read" (the official
//! driver's `client/executor.rs`). It selects a server, checks out a connection, runs the
//! command in an implicit session, gossips the cluster time, hands failures to SDAM, and
//! retries once where the retryable-reads and retryable-writes specs allow.

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf, Timestamp};

use super::Client;
use crate::{
    ClientSession, ErrorKind, Result,
    conn::Connection,
    cursor::{Cursor, OpenedCursor},
    operation::{Command, CursorOperation, Operation},
    options::ServerAddress,
    pool::PooledConnection,
    retry::{RETRYABLE_WRITE_ERROR, Retry, is_retryable_read_error, is_retryable_write_error},
    sdam::ErrorPhase,
    selection::Criteria,
    session::{ServerSession, TransactionPin},
    timeout::CursorTiming,
    wire::DocumentSequence,
};

impl Client {
    /// Runs `op` to its result: its command goes to a server its criteria select, in an
    /// implicit session, retried once when its retryability allows.
    pub(crate) fn execute_operation<Op: Operation>(&self, op: Op) -> Result<Op::Output> {
        self.execute_operation_in(op, None)
    }

    /// Runs `op` to its result in `session` (an explicit session), else in an implicit
    /// one.
    pub(crate) fn execute_operation_in<Op: Operation>(
        &self,
        mut op: Op,
        session: Option<&mut ClientSession>,
    ) -> Result<Op::Output> {
        let Command {
            db,
            body,
            sequences,
        } = op.build()?;
        let session = SessionSlot::for_command(session, &body);
        let done = self.execute(
            &db,
            Request {
                command: body,
                sequences,
                max_time: true,
            },
            Target::Select(op.criteria()),
            op.retry(),
            session,
            false,
        )?;
        self.end_session(done.session);
        op.handle_response(done.reply)
    }

    /// Runs a cursor-opening `op` and returns its cursor, which keeps the server and
    /// session (and in load-balanced mode the connection) for its `getMore`s.
    pub(crate) fn execute_cursor_operation<Op: CursorOperation, T>(
        &self,
        op: Op,
        timing: CursorTiming,
    ) -> Result<Cursor<T>> {
        self.execute_cursor_operation_in(op, None, timing)
    }

    /// Like [`execute_cursor_operation`](Self::execute_cursor_operation) in `session`:
    /// an explicit session stays the caller's, who lends it to each `getMore`
    /// ([`SessionCursor`](crate::SessionCursor)).
    /// `timing` bounds the opening command and, by its `timeoutMode`, the cursor's
    /// fetches.
    pub(crate) fn execute_cursor_operation_in<Op: CursorOperation, T>(
        &self,
        mut op: Op,
        session: Option<&mut ClientSession>,
        timing: CursorTiming,
    ) -> Result<Cursor<T>> {
        let spec = op.cursor_spec();
        let Command { db, body, .. } = op.build()?;
        let (budget, max_time, kept) =
            timing.plan(spec.tailable, spec.max_await_time, writes_output(&body))?;
        let (criteria, retry) = (op.criteria(), op.retry());
        budget.run(|| {
            let opened = self.run_cursor_operation_in(
                &db,
                Request {
                    max_time,
                    ..Request::from(body)
                },
                criteria,
                retry,
                session,
            )?;
            let mut cursor = Cursor::open(self.clone(), spec, opened)?;
            cursor.set_budget(kept);
            Ok(cursor)
        })
    }

    /// Runs a command as given on the primary (or whatever server a write would use), in
    /// an implicit session, without retrying.
    pub(crate) fn run_command(&self, db: &str, command: Document) -> Result<Document> {
        self.execute_operation(crate::operation::RunCommand::new(db, command))
    }

    /// Runs a command that opens a cursor: the session and the server stay with the
    /// cursor, for its `getMore`s and `killCursors` (in load-balanced mode, the
    /// connection too: the load-balancer spec's pinning).
    fn run_cursor_operation_in(
        &self,
        db: &str,
        request: Request,
        criteria: Criteria,
        retry: Retry,
        session: Option<&mut ClientSession>,
    ) -> Result<OpenedCursor> {
        // In a load-balanced transaction the connection is the transaction's.
        let pin = self.inner.topology.is_load_balanced()
            && !session.as_ref().is_some_and(|s| s.in_transaction());
        let session = SessionSlot::for_command(session, &request.command);
        let done = self.execute(db, request, Target::Select(criteria), retry, session, pin)?;
        Ok(OpenedCursor {
            reply: done.reply,
            address: done.address,
            session: done.session,
            pinned: done.connection,
        })
    }

    /// Runs a command of a cursor on its pinned connection (load-balanced mode), in the
    /// cursor's session. Not retried; failures go through the SDAM error rules.
    pub(crate) fn run_pinned(
        &self,
        conn: &mut PooledConnection<Connection>,
        db: &str,
        mut command: Document,
        session: Option<&mut ServerSession>,
    ) -> Result<RawDocumentBuf> {
        if let Some(session) = session {
            command.insert("lsid", session.id.clone());
        }
        let cluster_time = gossip(
            &mut command,
            self.inner.topology.cluster_time(),
            &SessionSlot::None,
        )?;
        self.send(conn, db, &command, cluster_time.as_deref(), &mut Vec::new())
    }

    /// Sends a command on a checked-out connection, with `cluster_time` as its
    /// `$clusterTime`: the reply's `$clusterTime` (an error reply's too) is kept for
    /// gossip, and a failure goes through the SDAM error rules.
    fn send(
        &self,
        conn: &mut PooledConnection<Connection>,
        db: &str,
        command: &Document,
        cluster_time: Option<&RawDocument>,
        sequences: &mut Vec<DocumentSequence>,
    ) -> Result<RawDocumentBuf> {
        let topology = &self.inner.topology;
        match conn.command_raw(db, command, cluster_time, sequences) {
            Ok(reply) => {
                topology.advance_cluster_time(&reply);
                Ok(reply)
            }
            Err(e) => {
                if let crate::ErrorKind::Command(failure) = &*e.kind
                    && let Ok(reply) = crate::nesting::encode(&failure.reply)
                {
                    topology.advance_cluster_time(&reply);
                }
                topology.handle_error(
                    conn.address(),
                    &e,
                    conn.generation(),
                    ErrorPhase::Established,
                    conn.max_wire_version(),
                    conn.service_id(),
                );
                Err(e)
            }
        }
    }

    /// Runs a command of a cursor on the server it lives on, in the cursor's session.
    pub(crate) fn run_on(
        &self,
        address: &ServerAddress,
        db: &str,
        command: Document,
        session: SessionSlot<'_>,
    ) -> Result<RawDocumentBuf> {
        self.execute(
            db,
            Request::from(command),
            Target::Server(address.clone()),
            Retry::No,
            session,
            false,
        )
        .map(|done| done.reply)
    }

    /// Waits for a server fitting `criteria` (see [`Topology::select`]).
    pub(crate) fn select(&self, criteria: &Criteria) -> Result<()> {
        self.inner.topology.select(criteria).map(drop)
    }

    /// The max wire version the monitor last saw of `address` (0 when unknown).
    pub(crate) fn max_wire_version(&self, address: &ServerAddress) -> i32 {
        self.inner
            .topology
            .server(address)
            .map_or(0, |server| server.max_wire_version)
    }

    /// Gives a cursor's session back.
    pub(crate) fn end_session(&self, session: Option<ServerSession>) {
        if let (Some(session), Some(timeout)) = (session, self.inner.topology.session_timeout()) {
            self.inner.sessions.check_in(session, timeout);
        }
    }

    /// Selects a server, checks out a connection, runs the command; reports failures to
    /// SDAM and retries once when `retry` allows. With `pin`, the connection comes back
    /// with the reply instead of going back to the pool.
    fn execute(
        &self,
        db: &str,
        request: Request,
        target: Target,
        retry: Retry,
        mut session: SessionSlot<'_>,
        pin: bool,
    ) -> Result<Executed> {
        let mut target = target;
        if let SessionSlot::Explicit(explicit) = &mut session {
            explicit.check_usable(self, &request.command)?;
            if let Target::Select(criteria) = target {
                target = Target::Select(explicit.criteria(criteria)?);
            }
            if let Some(TransactionPin::Mongos(address)) = &explicit.transaction.pinned {
                target = Target::Server(address.clone());
            }
        }
        let result = self.attempt(db, request, target, retry, &mut session, pin);
        match (result, session) {
            (Err(mut e), SessionSlot::Explicit(explicit)) => {
                if explicit.in_transaction() {
                    // A statement that did not reach the server, or whose reply was
                    // lost: the transaction as a whole can be tried again.
                    if e.is_network_error() || matches!(&*e.kind, ErrorKind::ServerSelection { .. })
                    {
                        e.add_label(crate::error::TRANSIENT_TRANSACTION_ERROR);
                    }
                    if e.contains_label(crate::error::TRANSIENT_TRANSACTION_ERROR) {
                        explicit.transaction.unpin();
                    }
                }
                Err(e)
            }
            (Ok(mut done), SessionSlot::Implicit(taken)) => {
                done.session = taken;
                Ok(done)
            }
            (Err(e), SessionSlot::Implicit(taken)) => {
                self.end_session(taken);
                Err(e)
            }
            (result, _) => result,
        }
    }

    /// [`execute`](Self::execute)'s attempts: the session's `lsid` (and, for a
    /// retryable write, `txnNumber`) go on the command the first time a connection is
    /// checked out, so an implicit session is taken only when a connection is in hand
    /// (the sessions spec): concurrent operations waiting for a connection hold none.
    fn attempt(
        &self,
        db: &str,
        request: Request,
        target: Target,
        retry: Retry,
        session: &mut SessionSlot<'_>,
        pin: bool,
    ) -> Result<Executed> {
        let Request {
            mut command,
            mut sequences,
            max_time: request_max_time,
        } = request;
        let options = &self.inner.config.options;
        // commitTransaction and abortTransaction are retried whatever retryWrites says,
        // a commit with `w: majority` (the transactions spec).
        let name = command.keys().next().map_or("", String::as_str);
        let commits = name == "commitTransaction";
        let ends_transaction = commits || name == "abortTransaction";
        let mut retry = match retry {
            Retry::Read if options.retry_reads == Some(false) => Retry::No,
            Retry::Write if options.retry_writes == Some(false) && !ends_transaction => Retry::No,
            other => other,
        };
        let mut with_session = false;
        let topology = &self.inner.topology;
        // Under a deadline (timeoutMS, or the caller's), the deprecated per-command limits
        // give way to it: maxTimeMS is derived from the time left (never on a getMore,
        // whose wait the cursor bounds) and wTimeoutMS is dropped.
        let deadline = crate::runtime::time::deadline();
        let max_time = deadline.is_some() && request_max_time && name != "getMore";
        if deadline.is_some()
            && let Ok(write_concern) = command.get_document_mut("writeConcern")
        {
            write_concern.remove("wtimeout");
            if write_concern.is_empty() {
                command.remove("writeConcern");
            }
        }
        let mut retried = false;
        loop {
            // Gossip the highest cluster time seen (the sessions spec); a standalone
            // server never shows one, so it is never sent one.
            let cluster_time = gossip(&mut command, topology.cluster_time(), session)?;
            let server = match &target {
                Target::Select(criteria) => topology.select(criteria)?,
                Target::Server(address) => topology.server(address)?,
            };
            let pinned = session.pinned_connection();
            let checkout = pinned.map_or_else(|| topology.check_out(&server), Ok);
            let attempt = checkout.and_then(|mut conn| {
                if !with_session {
                    with_session = true;
                    session.apply(self, &mut command, &mut retry)?;
                    session.pin_mongos(topology, &server.address);
                }
                if max_time {
                    // What is left of the operation's deadline, less a round trip, after
                    // all blocking work (the CSOT spec); it replaces any maxTimeMS set.
                    if let Some(ms) = crate::timeout::max_time_ms(server.min_rtt)? {
                        command.insert("maxTimeMS", ms);
                    }
                }
                let reply = self.send(
                    &mut conn,
                    db,
                    &command,
                    cluster_time.as_deref(),
                    &mut sequences,
                );
                session.observe(&reply);
                let reply = reply?;
                let conn = session.keep_connection(topology, conn);
                Ok((reply, conn.filter(|_| pin)))
            });
            let mut error = match attempt {
                Ok((reply, _))
                    if retry == Retry::Write
                        && !retried
                        && retryable_write_concern_error(&reply) =>
                {
                    // Applied, but the write concern failed in a way worth one more try.
                    tracing::debug!("retrying once after a retryable write concern error");
                    retried = true;
                    if commits {
                        crate::session::majority_for_retry(&mut command);
                    }
                    continue;
                }
                Ok((reply, connection)) => {
                    return Ok(Executed {
                        reply,
                        address: server.address,
                        connection,
                        session: None,
                    });
                }
                Err(e) => e,
            };
            if error.is_network_error()
                && let Some(session) = session.get()
            {
                session.dirty = true;
            }
            let retryable = match retry {
                Retry::No => false,
                Retry::Read => is_retryable_read_error(&error) || error.is_pool_cleared(),
                Retry::Write => {
                    is_retryable_write_error(&error, server.max_wire_version)
                        || error.is_pool_cleared()
                }
            };
            if retry == Retry::Write && retryable && !error.contains_label(RETRYABLE_WRITE_ERROR) {
                error.add_label(RETRYABLE_WRITE_ERROR);
            }
            // Retried once; under a deadline, as often as it allows (the CSOT spec).
            if !retryable || (retried && deadline.is_none()) || crate::timeout::expired() {
                return Err(error);
            }
            tracing::debug!(%error, "retrying once");
            retried = true;
            if commits {
                crate::session::majority_for_retry(&mut command);
            }
        }
    }
}

/// Whether `command` is an aggregate whose pipeline writes its output (`$out`, `$merge`).
fn writes_output(command: &Document) -> bool {
    command.contains_key("aggregate")
        && command
            .get_array("pipeline")
            .ok()
            .and_then(|stages| stages.last())
            .and_then(Bson::as_document)
            .is_some_and(|stage| stage.contains_key("$out") || stage.contains_key("$merge"))
}

/// The `$clusterTime` to send with `command`, as bytes (appended after `$db`): the newer
/// of the client's and the session's. One the caller wrote into the command gives way to
/// it rather than go out as a second field of the same name, which a server may refuse
/// or read either way.
fn gossip(
    command: &mut Document,
    client: Option<RawDocumentBuf>,
    session: &SessionSlot<'_>,
) -> Result<Option<RawDocumentBuf>> {
    let newest = newest_cluster_time(client, session)?;
    if newest.is_some() {
        command.remove("$clusterTime");
    }
    Ok(newest)
}

/// The newer of the client's cluster time and the session's, as bytes.
fn newest_cluster_time(
    client: Option<RawDocumentBuf>,
    session: &SessionSlot<'_>,
) -> Result<Option<RawDocumentBuf>> {
    let SessionSlot::Explicit(explicit) = session else {
        return Ok(client);
    };
    let Some(ours) = explicit.cluster_time() else {
        return Ok(client);
    };
    let time = |t: Timestamp| (t.time, t.increment);
    let newer = client.as_ref().is_none_or(|c| {
        let theirs = c.get_timestamp("clusterTime").ok().map(time);
        ours.get_timestamp("clusterTime").ok().map(time) > theirs
    });
    if newer {
        return crate::nesting::encode(ours).map(Some);
    }
    Ok(client)
}

/// Whether a reply's `writeConcernError` allows the retryable-writes retry.
fn retryable_write_concern_error(reply: &RawDocumentBuf) -> bool {
    let Ok(error) = reply.get_document("writeConcernError") else {
        return false;
    };
    let labelled = reply.get_array("errorLabels").is_ok_and(|labels| {
        labels
            .into_iter()
            .any(|l| matches!(l, Ok(RawBsonRef::String(RETRYABLE_WRITE_ERROR))))
    });
    let code = match error.get("code") {
        Ok(Some(RawBsonRef::Int32(c))) => c,
        Ok(Some(RawBsonRef::Int64(c))) => c as i32,
        Ok(Some(RawBsonRef::Double(c))) => c as i32,
        _ => 0,
    };
    labelled || crate::retry::is_retryable_code(code)
}

/// A command to run, and the document sequence that goes with it, if any.
struct Request {
    command: Document,
    /// OP_MSG document sequences beside the command (an insert's `documents`).
    sequences: Vec<DocumentSequence>,
    /// Whether a deadline in force reaches the server as `maxTimeMS` (not for a cursor
    /// whose `timeoutMS` bounds each iteration rather than the command).
    max_time: bool,
}

impl From<Document> for Request {
    fn from(command: Document) -> Self {
        Request {
            command,
            sequences: Vec::new(),
            max_time: true,
        }
    }
}

/// A command's outcome in [`Client::execute`].
struct Executed {
    /// Undecoded: a cursor deserializes its batch straight from the bytes.
    reply: RawDocumentBuf,
    address: ServerAddress,
    /// The connection, when asked to pin it.
    connection: Option<PooledConnection<Connection>>,
    /// The implicit session it ran in, for the caller to end (or keep, for a cursor).
    session: Option<ServerSession>,
}

/// The session an operation runs in.
pub(crate) enum SessionSlot<'a> {
    /// None: an unacknowledged write, or a command of a cursor that has none.
    None,
    /// A session someone else owns (a cursor's, for its getMore and killCursors).
    Borrowed(&'a mut ServerSession),
    /// An implicit session, taken from the pool once a connection is checked out
    /// (`None` until then, and after it if the deployment does not support sessions).
    Implicit(Option<ServerSession>),
    /// The application's session, lent to the operation.
    Explicit(&'a mut ClientSession),
}

impl<'a> SessionSlot<'a> {
    /// `explicit` if given, else an implicit session, unless `command` is an
    /// unacknowledged write (which must not use one).
    fn for_command(explicit: Option<&'a mut ClientSession>, command: &Document) -> Self {
        match explicit {
            Some(session) => SessionSlot::Explicit(session),
            None => Self::implicit_for(command),
        }
    }

    fn implicit_for(command: &Document) -> SessionSlot<'a> {
        // Ending sessions must not take one from the pool being emptied.
        if command
            .keys()
            .next()
            .is_some_and(|name| name == "endSessions")
        {
            return SessionSlot::None;
        }
        let unacknowledged = command
            .get_document("writeConcern")
            .is_ok_and(|wc| matches!(wc.get("w"), Some(Bson::Int32(0) | Bson::Int64(0))));
        if unacknowledged {
            SessionSlot::None
        } else {
            SessionSlot::Implicit(None)
        }
    }

    /// The session, taking an implicit one from `client`'s pool when the deployment
    /// supports sessions (known once a server has been selected).
    fn take(&mut self, client: &Client) -> Result<Option<&mut ServerSession>> {
        if let SessionSlot::Implicit(slot @ None) = self
            && let Some(timeout) = client.inner.topology.session_timeout()
        {
            *slot = Some(client.inner.sessions.check_out(timeout)?);
        }
        Ok(self.get())
    }

    /// The session, if there is one yet.
    fn get(&mut self) -> Option<&mut ServerSession> {
        match self {
            SessionSlot::None => None,
            SessionSlot::Borrowed(session) => Some(session),
            SessionSlot::Implicit(session) => session.as_mut(),
            SessionSlot::Explicit(session) => Some(session.server_session()),
        }
    }

    /// Puts the session on a command about to be sent for the first time: an explicit
    /// session adds its own fields (see [`ClientSession::apply`]); otherwise `lsid`,
    /// and `txnNumber` for a retryable write (one number for the write and its retry:
    /// the server runs it once). No session, no retryable write (the retryable-writes
    /// spec).
    fn apply(&mut self, client: &Client, command: &mut Document, retry: &mut Retry) -> Result<()> {
        if let SessionSlot::Explicit(session) = self {
            session.apply(command, retry);
            return Ok(());
        }
        match self.take(client)? {
            Some(session) => {
                command.insert("lsid", session.id.clone());
                if *retry == Retry::Write {
                    command.insert("txnNumber", session.next_txn_number());
                }
            }
            None if *retry == Retry::Write => *retry = Retry::No,
            None => {}
        }
        Ok(())
    }

    /// A reply (or an error's reply) read in an explicit session: its times and tokens.
    fn observe(&mut self, reply: &Result<RawDocumentBuf>) {
        let SessionSlot::Explicit(session) = self else {
            return;
        };
        match reply {
            Ok(reply) => session.observe(reply),
            Err(e) => {
                if let ErrorKind::Command(failure) = &*e.kind
                    && let Ok(reply) = crate::nesting::encode(&failure.reply)
                {
                    session.observe(&reply);
                }
            }
        }
    }

    /// The connection a load-balanced transaction is pinned to, taken for a command.
    fn pinned_connection(&mut self) -> Option<PooledConnection<Connection>> {
        let SessionSlot::Explicit(session) = self else {
            return None;
        };
        match session.transaction.pinned.take() {
            Some(TransactionPin::Connection(conn)) => Some(*conn),
            other => {
                session.transaction.pinned = other;
                None
            }
        }
    }

    /// Pins a sharded transaction to the mongos its first statement went to.
    fn pin_mongos(&mut self, topology: &crate::topology::Topology, address: &ServerAddress) {
        if let SessionSlot::Explicit(session) = self
            && session.in_transaction()
            && session.transaction.pinned.is_none()
            && topology.is_sharded()
        {
            session.transaction.pinned = Some(TransactionPin::Mongos(address.clone()));
        }
    }

    /// A load-balanced transaction keeps its connection (pinned) until it ends; any
    /// other command's connection comes back to the caller.
    fn keep_connection(
        &mut self,
        topology: &crate::topology::Topology,
        conn: PooledConnection<Connection>,
    ) -> Option<PooledConnection<Connection>> {
        if let SessionSlot::Explicit(session) = self {
            let ended = matches!(
                session.transaction.state,
                crate::session::TransactionState::None | crate::session::TransactionState::Aborted
            );
            if topology.is_load_balanced() && !ended {
                session.transaction.pinned = Some(TransactionPin::Connection(Box::new(conn)));
                return None;
            }
        }
        Some(conn)
    }
}

/// Where an operation runs.
enum Target {
    Select(Criteria),
    Server(ServerAddress),
}

#[cfg(test)]
mod tests {
    use bson::{doc, rawdoc};

    use super::*;

    #[test]
    fn the_gossiped_cluster_time_replaces_the_callers() {
        let theirs = doc! { "clusterTime": Timestamp { time: 1, increment: 1 } };
        let ours = rawdoc! { "clusterTime": Timestamp { time: 9, increment: 1 } };
        let mut command = doc! { "ping": 1, "$clusterTime": theirs.clone() };
        let sent = gossip(&mut command, Some(ours.clone()), &SessionSlot::None).unwrap();
        assert_eq!(sent, Some(ours));
        assert_eq!(command, doc! { "ping": 1 });

        // With nothing to gossip (a standalone server), the caller's goes as written.
        let mut command = doc! { "ping": 1, "$clusterTime": theirs.clone() };
        assert_eq!(
            gossip(&mut command, None, &SessionSlot::None).unwrap(),
            None
        );
        assert_eq!(command, doc! { "ping": 1, "$clusterTime": theirs });
    }
}
