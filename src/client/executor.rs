//! The executor: everything between "operation built" and "reply read" (the official
//! driver's `client/executor.rs`). It selects a server, checks out a connection, runs the
//! command in an implicit session, gossips the cluster time, hands failures to SDAM, and
//! retries once where the retryable-reads and retryable-writes specs allow.

use bson::{Bson, Document, RawBsonRef, RawDocumentBuf};

use super::Client;
use crate::{
    conn::Connection,
    cursor::{Cursor, OpenedCursor},
    operation::{Command, CursorOperation, Operation},
    options::ServerAddress,
    pool::PooledConnection,
    retry::{is_retryable_read_error, is_retryable_write_error, Retry, RETRYABLE_WRITE_ERROR},
    sdam::ErrorPhase,
    selection::Criteria,
    session::ServerSession,
    wire::DocumentSequence,
    Result,
};

impl Client {
    /// Runs `op` to its result: its command goes to a server its criteria select, in an
    /// implicit session, retried once when its retryability allows.
    pub(crate) fn execute_operation<Op: Operation>(&self, mut op: Op) -> Result<Op::Output> {
        let Command {
            db,
            body,
            sequences,
        } = op.build()?;
        let session = SessionSlot::implicit_for(&body);
        let done = self.execute(
            &db,
            Request {
                command: body,
                sequences,
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
        mut op: Op,
    ) -> Result<Cursor<T>> {
        let spec = op.cursor_spec();
        let Command { db, body, .. } = op.build()?;
        let opened = self.run_cursor_operation(&db, body, op.criteria(), op.retry())?;
        Cursor::open(self.clone(), spec, opened)
    }

    /// Runs a command as given on the primary (or whatever server a write would use), in
    /// an implicit session, without retrying.
    pub(crate) fn run_command(&self, db: &str, command: Document) -> Result<Document> {
        self.execute_operation(crate::operation::RunCommand::new(db, command))
    }

    /// Like [`Client::execute_operation`] for a command that opens a cursor: the session and
    /// the server stay with the cursor, for its `getMore`s and `killCursors` (in
    /// load-balanced mode, the connection too: the load-balancer spec's pinning).
    pub(crate) fn run_cursor_operation(
        &self,
        db: &str,
        command: Document,
        criteria: Criteria,
        retry: Retry,
    ) -> Result<OpenedCursor> {
        let session = SessionSlot::implicit_for(&command);
        let pin = self.inner.topology.is_load_balanced();
        let done = self.execute(
            db,
            Request::from(command),
            Target::Select(criteria),
            retry,
            session,
            pin,
        )?;
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
        if let Some(cluster_time) = self.inner.topology.cluster_time() {
            command.insert("$clusterTime", cluster_time);
        }
        self.send(conn, db, &command, &mut Vec::new())
    }

    /// Sends a command on a checked-out connection: the reply's `$clusterTime` (an error
    /// reply's too) is kept for gossip, and a failure goes through the SDAM error rules.
    fn send(
        &self,
        conn: &mut PooledConnection<Connection>,
        db: &str,
        command: &Document,
        sequences: &mut Vec<DocumentSequence>,
    ) -> Result<RawDocumentBuf> {
        let topology = &self.inner.topology;
        match conn.command_raw(db, command, sequences) {
            Ok(reply) => {
                topology.advance_cluster_time(&reply);
                Ok(reply)
            }
            Err(e) => {
                if let crate::ErrorKind::Command(failure) = &*e.kind {
                    if let Ok(reply) = RawDocumentBuf::try_from(&failure.reply) {
                        topology.advance_cluster_time(&reply);
                    }
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
        session: Option<&mut ServerSession>,
    ) -> Result<RawDocumentBuf> {
        self.execute(
            db,
            Request::from(command),
            Target::Server(address.clone()),
            Retry::No,
            session.map_or(SessionSlot::None, SessionSlot::Borrowed),
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
        let result = self.attempt(db, request, target, retry, &mut session, pin);
        match (result, session) {
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
        } = request;
        let options = &self.inner.config.options;
        let mut retry = match retry {
            Retry::Read if options.retry_reads == Some(false) => Retry::No,
            Retry::Write if options.retry_writes == Some(false) => Retry::No,
            other => other,
        };
        let mut with_session = false;
        let topology = &self.inner.topology;
        let mut retried = false;
        loop {
            // Gossip the highest cluster time seen (the sessions spec); a standalone
            // server never shows one, so it is never sent one.
            if let Some(cluster_time) = topology.cluster_time() {
                command.insert("$clusterTime", cluster_time);
            }
            let server = match &target {
                Target::Select(criteria) => topology.select(criteria)?,
                Target::Server(address) => topology.server(address)?,
            };
            let attempt = topology.check_out(&server).and_then(|mut conn| {
                if !with_session {
                    with_session = true;
                    match session.take(self)? {
                        Some(session) => {
                            command.insert("lsid", session.id.clone());
                            if retry == Retry::Write {
                                // One number for the write and its retry: the server
                                // runs it once.
                                command.insert("txnNumber", session.next_txn_number());
                            }
                        }
                        // No session, no retryable write (the retryable-writes spec).
                        None if retry == Retry::Write => retry = Retry::No,
                        None => {}
                    }
                }
                let reply = self.send(&mut conn, db, &command, &mut sequences)?;
                Ok((reply, pin.then_some(conn)))
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
                    continue;
                }
                Ok((reply, connection)) => {
                    return Ok(Executed {
                        reply,
                        address: server.address,
                        connection,
                        session: None,
                    })
                }
                Err(e) => e,
            };
            if error.is_network_error() {
                if let Some(session) = session.get() {
                    session.dirty = true;
                }
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
            if retried || !retryable {
                return Err(error);
            }
            tracing::debug!(%error, "retrying once");
            retried = true;
        }
    }
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
}

impl From<Document> for Request {
    fn from(command: Document) -> Self {
        Request {
            command,
            sequences: Vec::new(),
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
enum SessionSlot<'a> {
    /// None: an unacknowledged write, or a command of a cursor that has none.
    None,
    /// A session someone else owns (a cursor's, for its getMore and killCursors).
    Borrowed(&'a mut ServerSession),
    /// An implicit session, taken from the pool once a connection is checked out
    /// (`None` until then, and after it if the deployment does not support sessions).
    Implicit(Option<ServerSession>),
}

impl<'a> SessionSlot<'a> {
    /// An implicit session, unless `command` is an unacknowledged write (which must not
    /// use one).
    fn implicit_for(command: &Document) -> SessionSlot<'a> {
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
        if let SessionSlot::Implicit(slot @ None) = self {
            if let Some(timeout) = client.inner.topology.session_timeout() {
                *slot = Some(client.inner.sessions.check_out(timeout)?);
            }
        }
        Ok(self.get())
    }

    /// The session, if there is one yet.
    fn get(&mut self) -> Option<&mut ServerSession> {
        match self {
            SessionSlot::None => None,
            SessionSlot::Borrowed(session) => Some(session),
            SessionSlot::Implicit(session) => session.as_mut(),
        }
    }
}

/// Where an operation runs.
enum Target {
    Select(Criteria),
    Server(ServerAddress),
}
