//! The client: the entry point of the API.

use std::{fmt, sync::Arc};

use bson::{doc, Bson, Document, RawBsonRef, RawDocumentBuf};

use crate::{
    conn::{Connection, ConnectionConfig},
    options::{ClientOptions, ServerAddress},
    pool::{EventHandler, PoolCounts, PooledConnection},
    retry::{is_retryable_read_error, is_retryable_write_error, RETRYABLE_WRITE_ERROR},
    sdam::ErrorPhase,
    session::{ServerSession, SessionPool},
    topology::{Criteria, Topology},
    wire::DocumentSequence,
    Database, Error, Result,
};

/// A MongoDB client. Cheap to clone (clones share connections); use it from coroutines
/// and plain threads alike.
///
/// # Examples
///
/// ```no_run
/// use greenmongo::Client;
///
/// let client = Client::with_uri_str("mongodb://127.0.0.1:27017/?directConnection=true")?;
/// let reply = client.database("admin").run_command(bson::doc! { "ping": 1 })?;
/// assert_eq!(reply.get_f64("ok")?, 1.0);
/// println!("{:?}", client.list_database_names()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    config: Arc<ConnectionConfig>,
    /// The deployment: monitors, pools, server selection.
    topology: Topology,
    /// Server sessions behind the implicit session of every operation.
    sessions: SessionPool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("hosts", &self.inner.config.options.hosts)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the deployment a connection string names. Connects lazily: the first
    /// operation opens the first connection.
    ///
    /// # Errors
    /// An invalid connection string, or TLS files that cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::Client;
    ///
    /// let client = Client::with_uri_str("mongodb://localhost:27017/?appName=inventory")?;
    /// // An invalid option value is a warning (URI Options spec), not an error:
    /// let client = Client::with_uri_str("mongodb://localhost:27017/?maxPoolSize=-1")?;
    /// assert!(client.options().warnings[0].contains("maxPoolSize"));
    /// let err = Client::with_uri_str("mongodb://localhost:27017:1").unwrap_err();
    /// assert!(err.to_string().contains("invalid host"), "{err}");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_uri_str(uri: &str) -> Result<Client> {
        Client::with_options(ClientOptions::parse(uri)?)
    }

    /// A client with the given options.
    ///
    /// # Errors
    /// Invalid options, or TLS files that cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::{ClientOptions, ServerAddress}, Client};
    ///
    /// let mut options = ClientOptions::default();
    /// options.hosts = vec![ServerAddress::Tcp { host: "localhost".into(), port: 27017 }];
    /// options.app_name = Some("inventory".into());
    /// let client = Client::with_options(options)?;
    /// # let _ = client;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_options(options: ClientOptions) -> Result<Client> {
        Client::build(options, None)
    }

    /// A client whose connection pools report their [CMAP events](crate::pool::CmapEvent)
    /// to `handler`.
    ///
    /// # Errors
    /// As [`Client::with_options`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
    /// use greenmongo::{pool::CmapEvent, Client, ClientOptions};
    ///
    /// let checkouts = Arc::new(AtomicUsize::new(0));
    /// let counter = checkouts.clone();
    /// let client = Client::with_cmap_event_handler(
    ///     ClientOptions::parse("mongodb://localhost:27017/?maxPoolSize=20")?,
    ///     Arc::new(move |event: &CmapEvent| {
    ///         if let CmapEvent::ConnectionCheckedOut { .. } = event {
    ///             counter.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     }),
    /// )?;
    /// # let _ = client;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_cmap_event_handler(
        options: ClientOptions,
        handler: EventHandler,
    ) -> Result<Client> {
        Client::build(options, Some(handler))
    }

    fn build(mut options: ClientOptions, handler: Option<EventHandler>) -> Result<Client> {
        if options.needs_srv_resolution() {
            options.resolve_srv()?;
        }
        options.validate()?;
        if options.hosts.is_empty() {
            return Err(Error::invalid_argument("no hosts given"));
        }
        let config = Arc::new(ConnectionConfig::new(options)?);
        let topology = Topology::new(config.clone(), handler)?;
        Ok(Client {
            inner: Arc::new(ClientInner {
                config,
                topology,
                sessions: SessionPool::default(),
            }),
        })
    }

    /// Closes the client's connection pools and stops its server monitors now, rather
    /// than when the last clone is dropped. Operations after it fail with a server
    /// selection error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost:27017")?;
    /// client.list_database_names()?;
    /// client.shutdown();
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn shutdown(&self) {
        self.inner.topology.shut_down();
    }

    /// A snapshot of the deployment as the client's monitors see it (SDAM).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost:27017")?;
    /// client.list_database_names()?; // selection waits for the first checks
    /// let topology = client.topology_description();
    /// println!("{}: {:?}", topology.topology_type(), topology.servers().map(|s| &s.address).collect::<Vec<_>>());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn topology_description(&self) -> crate::sdam::TopologyDescription {
        self.inner.topology.description()
    }

    /// The options this client was built with.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?appName=inventory&maxPoolSize=20")?;
    /// assert_eq!(client.options().app_name.as_deref(), Some("inventory"));
    /// assert_eq!(client.options().max_pool_size, Some(20));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn options(&self) -> &ClientOptions {
        &self.inner.config.options
    }

    /// A handle to database `name` (no I/O).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("shop").name(), "shop");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn database(&self, name: &str) -> Database {
        Database::new(self.clone(), name)
    }

    /// The names of all databases.
    ///
    /// # Errors
    /// Network, authentication and server errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for name in client.list_database_names()? {
    ///     println!("{name}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_database_names(&self) -> Result<Vec<String>> {
        let databases = self.run_list_databases(doc! { "listDatabases": 1, "nameOnly": true })?;
        Ok(databases
            .iter()
            .filter_map(|d| d.get_str("name").ok().map(str::to_owned))
            .collect())
    }

    /// The databases as the server describes them (`name`, `sizeOnDisk`, `empty`),
    /// optionally only those matching `filter`.
    ///
    /// # Errors
    /// Network, authentication and server errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for db in client.list_databases(doc! { "empty": false })? {
    ///     println!("{} uses {} bytes", db.get_str("name")?, db.get_i64("sizeOnDisk").unwrap_or(0));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_databases(&self, filter: impl Into<Option<Document>>) -> Result<Vec<Document>> {
        let mut command = doc! { "listDatabases": 1 };
        if let Some(filter) = filter.into() {
            command.insert("filter", filter);
        }
        self.run_list_databases(command)
    }

    /// Runs a `listDatabases` command (a read, retried once) and returns its databases.
    fn run_list_databases(&self, command: Document) -> Result<Vec<Document>> {
        let primary = Criteria::Read(crate::options::ReadPreference::primary());
        let mut reply = self.run_operation("admin", command, primary, Retry::Read)?;
        match reply.remove("databases") {
            Some(Bson::Array(databases)) => Ok(databases
                .into_iter()
                .filter_map(|d| match d {
                    Bson::Document(d) => Some(d),
                    _ => None,
                })
                .collect()),
            _ => Err(Error::invalid_response(
                "listDatabases reply has no databases array",
            )),
        }
    }

    /// The connection counts of the pool for `address`, or `None` when the server is not
    /// (or no longer) part of the deployment.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, Client};
    ///
    /// let client = Client::with_uri_str("mongodb://localhost:27017")?;
    /// if let Some(counts) = client.pool_counts(&ServerAddress::tcp("localhost", 27017)) {
    ///     println!("{} connections checked out", counts.checked_out);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn pool_counts(&self, address: &ServerAddress) -> Option<PoolCounts> {
        self.inner.topology.pool_counts(address)
    }

    /// Runs a command on the primary (or whatever server a write would use), in an
    /// implicit session, without retrying.
    pub(crate) fn run_command(&self, db: &str, command: Document) -> Result<Document> {
        self.run_operation(db, command, Criteria::Write, Retry::No)
    }

    /// Runs one operation in an implicit session: selects a server for `criteria`, and
    /// retries once per `retry` (the retryable-reads and retryable-writes specs).
    pub(crate) fn run_operation(
        &self,
        db: &str,
        command: Document,
        criteria: Criteria,
        retry: Retry,
    ) -> Result<Document> {
        self.run_operation_with(db, command, None, criteria, retry)
    }

    /// [`Client::run_operation`] with an OP_MSG document sequence beside the command
    /// (an insert's `documents`, serialized once).
    pub(crate) fn run_operation_with(
        &self,
        db: &str,
        command: Document,
        documents: Option<DocumentSequence>,
        criteria: Criteria,
        retry: Retry,
    ) -> Result<Document> {
        let mut session = self.implicit_session(&command, &criteria)?;
        let result = self.execute(
            db,
            Request { command, documents },
            Target::Select(criteria),
            retry,
            session.as_mut(),
            false,
        );
        self.end_session(session);
        Ok(Document::try_from(result?.reply)?)
    }

    /// Like [`Client::run_operation`] for a command that opens a cursor: the session and
    /// the server stay with the cursor, for its `getMore`s and `killCursors` (in
    /// load-balanced mode, the connection too: the load-balancer spec's pinning).
    pub(crate) fn run_cursor_operation(
        &self,
        db: &str,
        command: Document,
        criteria: Criteria,
        retry: Retry,
    ) -> Result<OpenedCursor> {
        let mut session = self.implicit_session(&command, &criteria)?;
        let pin = self.inner.topology.is_load_balanced();
        match self.execute(
            db,
            Request::from(command),
            Target::Select(criteria),
            retry,
            session.as_mut(),
            pin,
        ) {
            Ok(done) => Ok(OpenedCursor {
                reply: done.reply,
                address: done.address,
                session,
                pinned: done.connection,
            }),
            Err(e) => {
                self.end_session(session);
                Err(e)
            }
        }
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
        self.send(conn, db, &command, &mut None)
    }

    /// Sends a command on a checked-out connection: the reply's `$clusterTime` (an error
    /// reply's too) is kept for gossip, and a failure goes through the SDAM error rules.
    fn send(
        &self,
        conn: &mut PooledConnection<Connection>,
        db: &str,
        command: &Document,
        documents: &mut Option<DocumentSequence>,
    ) -> Result<RawDocumentBuf> {
        let topology = &self.inner.topology;
        match conn.command_raw(db, command, documents) {
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

    /// A server session when the deployment supports sessions and the write is
    /// acknowledged (an unacknowledged write must not use one).
    fn implicit_session(
        &self,
        command: &Document,
        criteria: &Criteria,
    ) -> Result<Option<ServerSession>> {
        let unacknowledged = command
            .get_document("writeConcern")
            .is_ok_and(|wc| matches!(wc.get("w"), Some(Bson::Int32(0) | Bson::Int64(0))));
        if unacknowledged {
            return Ok(None);
        }
        let topology = &self.inner.topology;
        let mut timeout = topology.session_timeout();
        if timeout.is_none() {
            // Whether sessions are supported is known once a suitable server has been
            // checked: the first operation of a client waits for that here.
            topology.select(criteria)?;
            timeout = topology.session_timeout();
        }
        timeout
            .map(|timeout| self.inner.sessions.check_out(timeout))
            .transpose()
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
        mut session: Option<&mut ServerSession>,
        pin: bool,
    ) -> Result<Executed> {
        let Request {
            mut command,
            mut documents,
        } = request;
        let options = &self.inner.config.options;
        let retry = match retry {
            Retry::Read if options.retry_reads == Some(false) => Retry::No,
            Retry::Write if options.retry_writes == Some(false) || session.is_none() => Retry::No,
            other => other,
        };
        if let Some(session) = session.as_deref_mut() {
            command.insert("lsid", session.id.clone());
            if retry == Retry::Write {
                // One number for the write and its retry: the server runs it once.
                command.insert("txnNumber", session.next_txn_number());
            }
        }
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
                let reply = self.send(&mut conn, db, &command, &mut documents)?;
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
                    })
                }
                Err(e) => e,
            };
            if error.is_network_error() {
                if let Some(session) = session.as_deref_mut() {
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

/// What a cursor-opening command leaves for its cursor.
pub(crate) struct OpenedCursor {
    pub(crate) reply: RawDocumentBuf,
    /// The server the cursor lives on.
    pub(crate) address: ServerAddress,
    pub(crate) session: Option<ServerSession>,
    /// Load-balanced mode: the connection the cursor's getMores and killCursors use.
    pub(crate) pinned: Option<PooledConnection<Connection>>,
}

/// A command to run, and the document sequence that goes with it, if any.
struct Request {
    command: Document,
    documents: Option<DocumentSequence>,
}

impl From<Document> for Request {
    fn from(command: Document) -> Self {
        Request {
            command,
            documents: None,
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
}

/// Where an operation runs.
enum Target {
    Select(Criteria),
    Server(ServerAddress),
}

/// Whether an operation may be retried once, and by which spec's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Not retryable (multi-document writes, getMore, killCursors, most commands).
    No,
    /// A read (find, aggregate without $out, count, distinct, list*).
    Read,
    /// A single-statement write (insert, update/replace/delete one, findAndModify,
    /// bulk writes without multi-document statements).
    Write,
}
