//! One connection to one server: connect, handshake, authenticate, run commands.
//!
//! This is the only module that touches the runtime's sockets. Everything it calls is
//! plain blocking I/O, so inside a coroutine each wait parks the coroutine and on a plain
//! thread it blocks. Implements the connection half of the mongodb-handshake and
//! authentication specs; the codecs are in [`wire`](crate::wire) and
//! [`auth`](crate::auth).

mod handshake;
mod socks5;
mod stream;

use std::{
    io::{BufReader, Write},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf, rawdoc};

use crate::{
    Error, Result,
    auth::{AuthStep, Conversation, Password, ScramCache, ScramVersion},
    error::{CommandError, ErrorKind},
    event::{
        self, CommandEvent, CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent,
        ConnectionInfo, EventHandler,
    },
    options::{AuthMechanism, ClientOptions, Credential, ServerAddress, ServerApi},
    pool::Establishing,
    wire::{self, DocumentSequence, Message, MessageFlags},
};
pub(crate) use handshake::HelloReply;
use handshake::{HelloOptions, hello_command};
use stream::Stream;
pub(crate) use stream::tls_config;

use crate::sdam::MIN_WIRE_VERSION;

/// `connectTimeoutMS` when the URI and options leave it unset (the URI options spec).
const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every connection of a client shares: options, TLS configuration, SCRAM cache.
#[derive(Debug)]
pub(crate) struct ConnectionConfig {
    pub(crate) options: ClientOptions,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) scram_cache: Arc<ScramCache>,
}

impl ConnectionConfig {
    pub(crate) fn new(options: ClientOptions) -> Result<ConnectionConfig> {
        // `is_enabled`, not `enabled`: any other tls option (tlsCAFile, ...) implies TLS.
        let tls = if options.tls.is_enabled() {
            Some(tls_config(&options.tls)?)
        } else {
            None
        };
        Ok(ConnectionConfig {
            options,
            tls,
            scram_cache: Arc::new(ScramCache::new()),
        })
    }
}

/// An established, authenticated connection.
#[derive(Debug)]
pub(crate) struct Connection {
    info: ConnectionInfo,
    stream: BufReader<Stream>,
    pub(crate) hello: HelloReply,
    compressor: Option<wire::Compressor>,
    /// Set while a request is on the wire and its reply not yet read. A connection left
    /// in that state (timeout, deadline, panic, coroutine dropped) is out of step with
    /// the server and must be closed, never reused.
    in_flight: bool,
    /// An application connection's `socketTimeoutMS`, lifted while an operation
    /// deadline is in force (the CSOT spec: the deadline replaces it).
    socket_timeout: Option<std::time::Duration>,
    /// Whether `socket_timeout` is lifted now.
    socket_timeout_lifted: bool,
    /// Set on any network or protocol error.
    broken: bool,
    /// Command monitoring; set once the handshake is done (handshakes are not published).
    events: Option<EventHandler<CommandEvent>>,
    /// The client's declared Stable API as command fields (`apiVersion`, ...), added to
    /// every command this connection sends, the handshake's `hello` included (the
    /// versioned-api spec). Kept here, the one path every command takes, so no caller
    /// can forget it: `getMore`, transaction commands, monitor checks, authentication.
    api_fields: Option<RawDocumentBuf>,
}

/// Driver-side connection ids, unique in the process.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

impl Connection {
    /// Connects to `address`, runs the handshake and authenticates.
    ///
    /// # Errors
    /// Network, TLS, handshake and authentication errors.
    /// `establishing` (the pool's) learns how to abort the connection.
    pub(crate) fn connect(
        address: &ServerAddress,
        config: &ConnectionConfig,
        establishing: &Establishing,
    ) -> Result<Connection> {
        Connection::establish(address, config, Some(establishing)).map(|(conn, _)| conn)
    }

    /// A connection for a server monitor: the handshake only, no authentication and no
    /// command monitoring (the SDAM spec). Returns the handshake's `hello` reply too.
    ///
    /// # Errors
    /// Network, TLS and handshake errors.
    pub(crate) fn connect_for_monitoring(
        address: &ServerAddress,
        config: &ConnectionConfig,
    ) -> Result<(Connection, Document)> {
        Connection::establish(address, config, None)
    }

    /// With `establishing` (a pool's connection) it authenticates; without (a monitor's)
    /// it does not.
    fn establish(
        address: &ServerAddress,
        config: &ConnectionConfig,
        establishing: Option<&Establishing>,
    ) -> Result<(Connection, Document)> {
        let authenticate = establishing.is_some();
        let options = &config.options;
        let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let stream = Stream::connect(
            address,
            Some(connect_timeout),
            config.tls.as_ref(),
            options.proxy.as_ref(),
            establishing,
        )?;
        // A monitor's checks are bounded by connectTimeoutMS (SDAM monitoring spec), so an
        // unresponsive server is marked Unknown; operations by socketTimeoutMS.
        stream.set_timeouts(match establishing {
            Some(_) => options.socket_timeout,
            None => Some(connect_timeout),
        })?;
        let mut conn = Connection {
            info: ConnectionInfo {
                id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                server_id: None,
                address: address.clone(),
                service_id: None,
            },
            stream: BufReader::with_capacity(64 * 1024, stream),
            hello: HelloReply::default(),
            compressor: None,
            in_flight: false,
            socket_timeout: establishing.and(options.socket_timeout),
            socket_timeout_lifted: false,
            broken: false,
            events: None,
            api_fields: options.server_api.as_ref().map(ServerApi::command_fields),
        };
        let credential = options.credential.as_ref().filter(|_| authenticate);
        let mut conversation = credential
            .map(|c| start_conversation(c, None, &config.scram_cache))
            .transpose()?;
        let compressors = options.compressors.as_deref().unwrap_or(&[]);
        let hello = hello_command(&HelloOptions {
            app_name: options.app_name.as_deref(),
            compressors,
            load_balanced: options.load_balanced == Some(true),
            sasl_supported_mechs: credential
                .filter(|c| c.mechanism.is_none())
                .and_then(|c| Some(format!("{}.{}", source_of(c), c.username.as_deref()?))),
            speculative_authenticate: conversation
                .as_ref()
                .and_then(Conversation::speculative_authenticate),
        });
        let reply = conn.command("admin", &hello)?;
        conn.hello = HelloReply::parse(&reply, compressors)?;
        let hello_reply = reply.clone();
        conn.info.server_id = crate::bson_util::get_int(&reply, "connectionId");
        if options.load_balanced == Some(true) {
            if conn.hello.service_id.is_none() {
                return Err(Error::invalid_response(format!(
                    "Driver attempted to initialize in load balancing mode, but the server \
                     does not support this mode ({address} sent no serviceId)"
                )));
            }
            conn.info.service_id = conn.hello.service_id;
        }
        if conn.hello.max_wire_version < MIN_WIRE_VERSION {
            return Err(Error::internal(format!(
                "{address} speaks wire version {} but greenmongo needs {MIN_WIRE_VERSION} \
                 (MongoDB 4.0) or newer",
                conn.hello.max_wire_version
            )));
        }
        conn.compressor = conn
            .hello
            .compressor
            .map(|c| wire::Compressor::from_name(c.as_str(), options.zlib_compression_level))
            .transpose()?;
        if let Some(credential) = credential {
            // A negotiated mechanism may differ from the speculative SCRAM-SHA-256 guess.
            let mechanism = credential.mechanism.unwrap_or_else(|| {
                AuthMechanism::negotiate(conn.hello.sasl_supported_mechs.as_deref())
            });
            let speculative = conn.hello.speculative_authenticate.take();
            let conversation = match (conversation.take(), speculative) {
                (Some(conv), Some(first_reply)) if mechanism_of(&conv) == mechanism => {
                    (conv, Some(first_reply))
                }
                _ => (
                    start_conversation(credential, Some(mechanism), &config.scram_cache)?,
                    None,
                ),
            };
            let service_id = conn.info.service_id;
            conn.authenticate(conversation.0, conversation.1)
                .map_err(|e| redact_auth_error(e, credential).while_authenticating(service_id))?;
        }
        if authenticate {
            conn.events = options.command_event_handler.clone();
        }
        Ok((conn, hello_reply))
    }

    fn authenticate(
        &mut self,
        mut conversation: Conversation,
        first_reply: Option<Document>,
    ) -> Result<()> {
        let mut reply = match first_reply {
            Some(reply) => reply,
            None => self.command(conversation.source(), &conversation.start_command())?,
        };
        loop {
            match conversation.handle_reply(&reply)? {
                AuthStep::Done => return Ok(()),
                AuthStep::Continue(next) => {
                    reply = self.command(conversation.source(), &next)?;
                }
            }
        }
    }

    /// Runs `command` against database `db` and returns the server's reply.
    ///
    /// # Errors
    /// [`ErrorKind::Command`] when the server answers `ok: 0` (code, codeName, errmsg and
    /// errorLabels kept); network and protocol errors (which also mark the connection
    /// broken).
    pub(crate) fn command(&mut self, db: &str, command: &Document) -> Result<Document> {
        self.command_raw(db, command, None, &mut Vec::new())
            .and_then(|reply| crate::nesting::to_document(&reply))
    }

    /// [`command`](Self::command) with OP_MSG document sequences beside the command
    /// (e.g. an insert's `documents`, encoded once by the caller), returning the reply
    /// as it came, undecoded (a cursor's batch is deserialized straight from its bytes).
    /// The sequences go into the message and come back out after encoding: the caller
    /// keeps them for a retry without a copy. `cluster_time` is sent as `$clusterTime`,
    /// its bytes appended as they are (the sessions spec's gossip).
    pub(crate) fn command_raw(
        &mut self,
        db: &str,
        command: &Document,
        cluster_time: Option<&RawDocument>,
        sequences: &mut Vec<DocumentSequence>,
    ) -> Result<RawDocumentBuf> {
        if self.broken {
            return Err(Error::internal(
                "the connection is broken; it must not be reused",
            ));
        }
        // Encoded once, `$db` and the API fields appended to the bytes: the caller keeps
        // its command (for a retry) without a deep copy.
        // An operation deadline replaces socketTimeoutMS (the CSOT spec).
        let lift = self.socket_timeout.is_some() && crate::runtime::time::deadline().is_some();
        if lift != self.socket_timeout_lifted {
            let timeout = if lift { None } else { self.socket_timeout };
            self.stream.get_ref().set_timeouts(timeout)?;
            self.socket_timeout_lifted = lift;
        }
        let mut body = crate::nesting::encode(command)?;
        body.append(bson::raw::cstr!("$db"), db);
        if let Some(cluster_time) = cluster_time {
            body.append(bson::raw::cstr!("$clusterTime"), cluster_time);
        }
        let api_fields = self.append_api_fields(command, &mut body)?;
        let mut message = Message::new(body);
        // An unacknowledged write (w: 0) goes with moreToCome: the server sends no reply.
        let unacknowledged = command
            .get_document("writeConcern")
            .is_ok_and(|wc| matches!(wc.get("w"), Some(Bson::Int32(0) | Bson::Int64(0))));
        if unacknowledged {
            message.flags.insert(MessageFlags::MORE_TO_COME);
        }
        message.sequences.append(sequences);
        let checked = message.check_size(&self.hello.limits);
        let bytes = checked.map(|()| message.encode(self.compressor.as_ref()));
        *sequences = std::mem::take(&mut message.sequences);
        let bytes = bytes?;
        let appended = Appended {
            cluster_time,
            api_fields,
        };
        let monitor = Monitor::start(self, db, command, sequences, appended, message.request_id);
        self.in_flight = true;
        let reply = if unacknowledged {
            self.stream
                .get_mut()
                .write_all(&bytes)
                .map(|()| rawdoc! { "ok": 1 })
                .map_err(Error::from)
        } else {
            self.round_trip(&bytes, message.request_id)
        };
        if reply.is_err() {
            self.broken = true;
        } else {
            self.in_flight = false;
        }
        let result = reply.and_then(check_reply);
        monitor.finish(self, &result);
        result
    }

    fn round_trip(&mut self, request: &[u8], request_id: i32) -> Result<RawDocumentBuf> {
        self.stream.get_mut().write_all(request)?;
        let reply = wire::read_message(&mut self.stream, &self.hello.limits)?;
        if reply.response_to != request_id {
            return Err(Error::invalid_response(format!(
                "reply to request {} arrived while waiting for {request_id}",
                reply.response_to
            )));
        }
        Ok(reply.body)
    }

    /// Appends the declared API's fields to `body`, the encoding of `command`, and
    /// returns them (for the command event). Nothing without a declared API, nor when
    /// the command carries API fields of its own (a `run_command` document: the spec
    /// leaves declaring both undefined, and adding ours would send a field twice, which
    /// the server refuses).
    ///
    /// # Errors
    /// Malformed fields (they are built by [`ServerApi`], so never in practice).
    pub(crate) fn append_api_fields(
        &self,
        command: &Document,
        body: &mut RawDocumentBuf,
    ) -> Result<Option<&RawDocumentBuf>> {
        let Some(fields) = self
            .api_fields
            .as_ref()
            .filter(|_| !ServerApi::declared_by(command))
        else {
            return Ok(None);
        };
        for field in fields {
            let (key, value) = field?;
            body.append(key, value);
        }
        Ok(Some(fields))
    }

    /// The service behind the load balancer this connection reaches (load-balanced
    /// mode only).
    pub(crate) fn service_id(&self) -> Option<bson::oid::ObjectId> {
        self.info.service_id
    }

    /// The server's max wire version, from the handshake.
    pub(crate) fn max_wire_version(&self) -> i32 {
        self.hello.max_wire_version
    }

    /// Whether the connection may go back to a pool: not broken, nothing half sent.
    pub(crate) fn is_reusable(&self) -> bool {
        !self.broken && !self.in_flight
    }
}

/// What `command_raw` appends to a command's bytes after `$db`, in this order.
struct Appended<'a> {
    cluster_time: Option<&'a RawDocument>,
    api_fields: Option<&'a RawDocumentBuf>,
}

/// Publishes one command to the event handler and to `tracing`.
struct Monitor {
    span: tracing::Span,
    name: String,
    db: String,
    request_id: i32,
    sensitive: bool,
    started: Instant,
}

impl Monitor {
    fn start(
        conn: &Connection,
        db: &str,
        command: &Document,
        sequences: &[DocumentSequence],
        appended: Appended<'_>,
        request_id: i32,
    ) -> Monitor {
        let name = command.keys().next().cloned().unwrap_or_default();
        let sensitive = event::is_sensitive(&name, command);
        // The span is only entered for the instant of each record, never across the
        // socket wait: the current-span stack is thread-local, shared by the coroutines
        // of a worker.
        let span = tracing::debug_span!(
            "mongodb.command",
            command = %name,
            db,
            request_id,
            connection = conn.info.id,
            server = %conn.info.address
        );
        span.in_scope(|| tracing::debug!("command started"));
        if let Some(events) = &conn.events {
            events.handle(&CommandEvent::Started(CommandStartedEvent {
                command: if sensitive {
                    Document::new()
                } else {
                    // The event shows the command as if the sequences were arguments.
                    let mut command = command.clone();
                    for sequence in sequences {
                        let documents = sequence
                            .documents()
                            .iter()
                            .map(|d| {
                                crate::nesting::to_document(d.as_ref())
                                    .map_or(Bson::Null, Bson::from)
                            })
                            .collect::<Vec<_>>();
                        command.insert(sequence.identifier(), documents);
                    }
                    // As sent: what is appended to the bytes is part of the command.
                    command.insert("$db", db);
                    if let Some(time) = appended
                        .cluster_time
                        .and_then(|t| crate::nesting::to_document(t).ok())
                    {
                        command.insert("$clusterTime", time);
                    }
                    if let Some(fields) = appended
                        .api_fields
                        .and_then(|f| crate::nesting::to_document(f.as_ref()).ok())
                    {
                        command.extend(fields);
                    }
                    command
                },
                database_name: db.to_owned(),
                command_name: name.clone(),
                request_id,
                connection: conn.info.clone(),
            }));
        }
        Monitor {
            span,
            name,
            db: db.to_owned(),
            request_id,
            sensitive,
            started: Instant::now(),
        }
    }

    fn finish(self, conn: &Connection, result: &Result<RawDocumentBuf>) {
        let duration = self.started.elapsed();
        match result {
            Ok(_) => self
                .span
                .in_scope(|| tracing::debug!(duration_us = duration.as_micros() as u64, "command succeeded")),
            Err(e) => self.span.in_scope(
                || tracing::debug!(duration_us = duration.as_micros() as u64, error = %e, "command failed"),
            ),
        }
        let Some(events) = &conn.events else { return };
        let event = match result {
            Ok(reply) => CommandEvent::Succeeded(CommandSucceededEvent {
                duration,
                reply: if self.sensitive {
                    Document::new()
                } else {
                    crate::nesting::to_document(reply.as_ref()).unwrap_or_default()
                },
                database_name: self.db,
                command_name: self.name,
                request_id: self.request_id,
                connection: conn.info.clone(),
            }),
            Err(failure) => CommandEvent::Failed(CommandFailedEvent {
                duration,
                database_name: self.db,
                command_name: self.name,
                failure: failure.clone(),
                request_id: self.request_id,
                connection: conn.info.clone(),
            }),
        };
        events.handle(&event);
    }
}

impl crate::pool::PoolConnection for Connection {
    fn is_reusable(&self) -> bool {
        Connection::is_reusable(self)
    }

    fn service_id(&self) -> Option<bson::oid::ObjectId> {
        Connection::service_id(self)
    }
}

/// Turns `ok: 0` into [`ErrorKind::Command`], keeping the server's words.
pub(crate) fn check_reply(raw: RawDocumentBuf) -> Result<RawDocumentBuf> {
    let ok = match raw.get("ok") {
        Ok(Some(RawBsonRef::Double(v))) => v == 1.0,
        Ok(Some(RawBsonRef::Int32(v))) => v == 1,
        Ok(Some(RawBsonRef::Int64(v))) => v == 1,
        Ok(Some(RawBsonRef::Boolean(v))) => v,
        _ => false,
    };
    if ok {
        return Ok(raw);
    }
    let reply = crate::nesting::to_document(&raw)?;
    let code = match reply.get("code") {
        Some(Bson::Int32(c)) => *c,
        Some(Bson::Int64(c)) => *c as i32,
        Some(Bson::Double(c)) => *c as i32,
        _ => 0,
    };
    let labels: Vec<String> = reply
        .get_array("errorLabels")
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Err(Error::new(ErrorKind::Command(CommandError {
        code,
        code_name: reply.get_str("codeName").unwrap_or_default().to_owned(),
        message: reply
            .get_str("errmsg")
            .unwrap_or("the server reported ok: 0 without a message")
            .to_owned(),
        reply,
    }))
    .with_labels(labels))
}

fn source_of(credential: &Credential) -> &str {
    credential.source.as_deref().unwrap_or("admin")
}

fn start_conversation(
    credential: &Credential,
    mechanism: Option<AuthMechanism>,
    cache: &Arc<ScramCache>,
) -> Result<Conversation> {
    // Without a mechanism, speculate with SCRAM-SHA-256 (the auth spec's default).
    let mechanism = mechanism
        .or(credential.mechanism)
        .unwrap_or(AuthMechanism::ScramSha256);
    let password = credential.password.as_deref().map(Password::new);
    let source = credential.source.as_deref();
    Ok(Conversation::new(
        mechanism,
        credential.username.as_deref(),
        password.as_ref(),
        source,
    )?
    .with_scram_cache(cache.clone()))
}

fn mechanism_of(conversation: &Conversation) -> AuthMechanism {
    match conversation {
        Conversation::Scram(c) if c.version() == ScramVersion::Sha1 => AuthMechanism::ScramSha1,
        Conversation::Scram(_) => AuthMechanism::ScramSha256,
        Conversation::Plain(_) => AuthMechanism::Plain,
        Conversation::X509(_) => AuthMechanism::MongoDbX509,
    }
}

/// Makes every failure during authentication an authentication error that names the user
/// and keeps the server's message, and never contains the password.
fn redact_auth_error(error: Error, credential: &Credential) -> Error {
    let user = credential.username.as_deref().unwrap_or("<none>");
    let mut message = match &*error.kind {
        ErrorKind::Authentication { message } => message.clone(),
        ErrorKind::Command(c) => format!("{} (code {}, {})", c.message, c.code, c.code_name),
        _ => return error,
    };
    if let Some(password) = credential.password.as_deref().filter(|p| !p.is_empty()) {
        message = message.replace(password, "<redacted>");
    }
    Error::authentication(format!(
        "user {user:?} on {:?}: {message}",
        source_of(credential)
    ))
}
