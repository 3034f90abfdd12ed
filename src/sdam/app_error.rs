//! How errors of application operations change the topology (SDAM spec, "Error handling"
//! / "Application errors"), as a pure decision: whether to mark the server Unknown, clear
//! its pool, request an immediate check or cancel the monitor's check. The pool and the
//! monitor live elsewhere; they act on the [`ErrorDecision`].

use std::{cmp::Ordering, io};

use bson::{Bson, Document};

use super::{
    ServerDescription, TopologyDescription, TopologyType, TopologyVersion, UpdateOutcome,
    description::parse_topology_version,
};
use crate::{Error, ErrorKind, options::ServerAddress};

/// Error label the client backpressure spec puts on errors of an overloaded server; such
/// errors never mark a server Unknown.
///
/// # Examples
///
/// ```
/// use greenmongo::{sdam::{ApplicationError, ErrorPhase, SYSTEM_OVERLOADED_ERROR}, Error};
///
/// let overloaded = Error::authentication("too many connections").with_labels([SYSTEM_OVERLOADED_ERROR]);
/// let error = ApplicationError::from_error(&overloaded, ErrorPhase::Authenticating, 0, 21);
/// assert!(error.system_overloaded); // so the server is not marked Unknown
/// ```
pub const SYSTEM_OVERLOADED_ERROR: &str = "SystemOverloadedError";

/// The label, beside [`SYSTEM_OVERLOADED_ERROR`], of an error the server's overload
/// caused and that is safe to retry after a pause: the driver adds both to a network
/// error while opening a connection (SDAM backpressure).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::sdam::RETRYABLE_ERROR;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let coll = client.database("app").collection::<Document>("jobs");
/// if let Err(e) = coll.insert_one(doc! { "n": 1 }).run() {
///     if e.contains_label(RETRYABLE_ERROR) {
///         std::thread::sleep(std::time::Duration::from_millis(100)); // back off, then retry
///         coll.insert_one(doc! { "n": 1 }).run()?;
///     }
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub const RETRYABLE_ERROR: &str = "RetryableError";

/// "Node is recovering" codes: InterruptedAtShutdown, InterruptedDueToReplStateChange,
/// NotPrimaryOrSecondary, PrimarySteppedDown, ShutdownInProgress.
const RECOVERING_CODES: [i32; 5] = [11600, 11602, 13436, 189, 91];
/// "Not writable primary" codes: NotWritablePrimary, NotPrimaryNoSecondaryOk,
/// LegacyNotPrimary.
const NOT_WRITABLE_PRIMARY_CODES: [i32; 3] = [10107, 13435, 10058];
/// "Node is shutting down" codes: InterruptedAtShutdown, ShutdownInProgress.
const SHUTDOWN_CODES: [i32; 2] = [11600, 91];
/// `maxWireVersion` of MongoDB 4.2; older servers close connections on a state change.
const WIRE_VERSION_4_2: i32 = 8;

/// A command error as SDAM sees it: code, message and the `topologyVersion` the server
/// attached (MongoDB 4.4+).
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::sdam::CommandFailure;
///
/// let failure = CommandFailure::from_response(&doc! { "ok": 0, "code": 91, "errmsg": "shutting down" }).unwrap();
/// assert!(failure.is_state_change() && failure.is_shutting_down());
///
/// // writeErrors are never state-change errors, and ok: 1 without a writeConcernError is no error.
/// let write_errors = doc! { "ok": 1, "writeErrors": [{ "index": 0, "code": 10107, "errmsg": "x" }] };
/// assert!(CommandFailure::from_response(&write_errors).is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandFailure {
    /// The server's error code, if it sent one.
    pub code: Option<i32>,
    /// The server's message.
    pub message: String,
    /// The reply's `topologyVersion`.
    pub topology_version: Option<TopologyVersion>,
}

impl CommandFailure {
    /// A failure with `code` and `message` and no topology version.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::CommandFailure;
    ///
    /// let failure = CommandFailure::new(Some(10107), "not primary");
    /// assert!(failure.is_not_writable_primary());
    /// assert_eq!(failure.topology_version, None);
    /// ```
    pub fn new(code: Option<i32>, message: impl Into<String>) -> Self {
        CommandFailure {
            code,
            message: message.into(),
            topology_version: None,
        }
    }

    /// The error a command reply reports, as SDAM checks it: the reply's own error when
    /// `ok` is not 1, else its `writeConcernError`; `writeErrors` are ignored. `None` when
    /// there is neither. A malformed `topologyVersion` is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::sdam::CommandFailure;
    ///
    /// let reply = doc! { "ok": 1, "writeConcernError": { "code": 91, "errmsg": "shutting down" } };
    /// let failure = CommandFailure::from_response(&reply).unwrap();
    /// assert_eq!((failure.code, failure.message.as_str()), (Some(91), "shutting down"));
    /// assert!(CommandFailure::from_response(&doc! { "ok": 1 }).is_none());
    /// ```
    pub fn from_response(reply: &Document) -> Option<CommandFailure> {
        let ok = match reply.get("ok") {
            Some(Bson::Boolean(b)) => *b,
            Some(Bson::Double(v)) => *v == 1.0,
            Some(Bson::Int32(v)) => *v == 1,
            Some(Bson::Int64(v)) => *v == 1,
            _ => false,
        };
        let source = if ok {
            reply.get_document("writeConcernError").ok()?
        } else {
            reply
        };
        let code = match source.get("code") {
            Some(Bson::Int32(c)) => Some(*c),
            Some(Bson::Int64(c)) => i32::try_from(*c).ok(),
            Some(Bson::Double(c)) if c.fract() == 0.0 => Some(*c as i32),
            _ => None,
        };
        Some(CommandFailure {
            code,
            message: source.get_str("errmsg").unwrap_or_default().to_owned(),
            topology_version: reply
                .get("topologyVersion")
                .and_then(|tv| parse_topology_version(tv).ok()),
        })
    }

    /// A "node is recovering" error: by code if there is one, else by message.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::CommandFailure;
    ///
    /// assert!(CommandFailure::new(Some(11602), "InterruptedDueToReplStateChange").is_recovering());
    /// assert!(CommandFailure::new(None, "node is recovering").is_recovering()); // by message
    /// assert!(!CommandFailure::new(Some(10107), "not primary").is_recovering());
    /// ```
    pub fn is_recovering(&self) -> bool {
        match self.code {
            Some(code) => RECOVERING_CODES.contains(&code),
            None => {
                self.message.contains("not master or secondary")
                    || self.message.contains("node is recovering")
            }
        }
    }

    /// A "not writable primary" error: by code if there is one, else by message.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::CommandFailure;
    ///
    /// assert!(CommandFailure::new(Some(10107), "NotWritablePrimary").is_not_writable_primary());
    /// assert!(CommandFailure::new(None, "not master").is_not_writable_primary());
    /// assert!(!CommandFailure::new(None, "not master or secondary").is_not_writable_primary());
    /// ```
    pub fn is_not_writable_primary(&self) -> bool {
        match self.code {
            Some(code) => NOT_WRITABLE_PRIMARY_CODES.contains(&code),
            None => !self.is_recovering() && self.message.contains("not master"),
        }
    }

    /// A "node is shutting down" error (by code only).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::CommandFailure;
    ///
    /// assert!(CommandFailure::new(Some(91), "ShutdownInProgress").is_shutting_down());
    /// assert!(!CommandFailure::new(None, "shutdown in progress").is_shutting_down()); // code only
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.code.is_some_and(|code| SHUTDOWN_CODES.contains(&code))
    }

    /// A "State Change Error": not writable primary, or node is recovering.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::CommandFailure;
    ///
    /// assert!(CommandFailure::new(Some(189), "PrimarySteppedDown").is_state_change());
    /// assert!(!CommandFailure::new(Some(11000), "duplicate key").is_state_change());
    /// ```
    pub fn is_state_change(&self) -> bool {
        self.is_recovering() || self.is_not_writable_primary()
    }
}

/// What kind of failure an application operation hit.
///
/// # Examples
///
/// ```
/// use std::io;
/// use greenmongo::{sdam::{ApplicationError, ApplicationErrorKind, ErrorPhase}, Error};
///
/// let timed_out = Error::from(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
/// let error = ApplicationError::from_error(&timed_out, ErrorPhase::Established, 0, 21);
/// assert_eq!(error.kind, ApplicationErrorKind::Timeout);
/// let other = ApplicationError::from_error(&Error::internal("x"), ErrorPhase::Established, 0, 21);
/// assert!(matches!(other.kind, ApplicationErrorKind::Other(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplicationErrorKind {
    /// A socket or TLS error other than a timeout.
    Network,
    /// A socket read or write timed out.
    Timeout,
    /// The server replied with an error.
    Command(CommandFailure),
    /// Anything else, e.g. a failed authentication (the message describes it).
    Other(String),
}

/// When, in a connection's life, the error happened.
///
/// # Examples
///
/// ```
/// use greenmongo::{
///     options::ServerAddress,
///     sdam::{decide, ApplicationError, ApplicationErrorKind, ErrorPhase, ServerDescription, TopologyType},
/// };
///
/// let server = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// let reset = |phase| ApplicationError::new(ApplicationErrorKind::Network, phase, 0, 21);
/// // A network error while connecting is an overload signal; on an established connection it is not.
/// assert!(!decide(TopologyType::Sharded, &server, 0, &reset(ErrorPhase::Connecting)).mark_unknown);
/// assert!(decide(TopologyType::Sharded, &server, 0, &reset(ErrorPhase::Established)).mark_unknown);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorPhase {
    /// Opening the socket, TLS, or the handshake's `hello`.
    Connecting,
    /// Authenticating the new connection.
    Authenticating,
    /// On an established connection (checked out of the pool).
    Established,
}

/// An error of an application operation, with what SDAM needs to judge it.
///
/// # Examples
///
/// ```
/// use greenmongo::sdam::{ApplicationError, ErrorPhase};
/// use greenmongo::Error;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
/// let error = ApplicationError::from_error(&Error::from(io), ErrorPhase::Established, 3, 21);
/// assert_eq!(error.generation, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationError {
    /// What failed.
    pub kind: ApplicationErrorKind,
    /// When.
    pub phase: ErrorPhase,
    /// The connection's pool generation (for a connection still being established, the
    /// pool's generation when it started).
    pub generation: u32,
    /// The connection's `maxWireVersion` (0 before the handshake told it).
    pub max_wire_version: i32,
    /// The error carries the [`SYSTEM_OVERLOADED_ERROR`] label.
    pub system_overloaded: bool,
}

impl ApplicationError {
    /// An error of `kind`, without the overload label.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::sdam::{ApplicationError, ApplicationErrorKind, ErrorPhase};
    ///
    /// let error = ApplicationError::new(ApplicationErrorKind::Network, ErrorPhase::Established, 2, 21);
    /// assert_eq!((error.generation, error.max_wire_version), (2, 21));
    /// assert!(!error.system_overloaded);
    /// ```
    pub fn new(
        kind: ApplicationErrorKind,
        phase: ErrorPhase,
        generation: u32,
        max_wire_version: i32,
    ) -> Self {
        ApplicationError {
            kind,
            phase,
            generation,
            max_wire_version,
            system_overloaded: false,
        }
    }

    /// Classifies a driver [`Error`]: I/O errors are [`Timeout`] when their kind is
    /// `TimedOut` or `WouldBlock` and [`Network`] otherwise; server errors become
    /// [`Command`] (code 0 counts as "no code"), the rest [`Other`]. The label
    /// [`SYSTEM_OVERLOADED_ERROR`] is carried over. [`Error`] does not keep the reply's
    /// `topologyVersion`; build the [`CommandFailure`] with
    /// [`CommandFailure::from_response`] when the reply is at hand.
    ///
    /// [`Timeout`]: ApplicationErrorKind::Timeout
    /// [`Network`]: ApplicationErrorKind::Network
    /// [`Command`]: ApplicationErrorKind::Command
    /// [`Other`]: ApplicationErrorKind::Other
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use greenmongo::{sdam::{ApplicationError, ApplicationErrorKind, ErrorPhase}, Error};
    ///
    /// let refused = Error::from(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
    /// let error = ApplicationError::from_error(&refused, ErrorPhase::Connecting, 0, 0);
    /// assert_eq!(error.kind, ApplicationErrorKind::Network);
    /// assert_eq!(error.phase, ErrorPhase::Connecting);
    /// ```
    pub fn from_error(
        error: &Error,
        phase: ErrorPhase,
        generation: u32,
        max_wire_version: i32,
    ) -> Self {
        let kind = match &*error.kind {
            ErrorKind::Io(e) => match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    ApplicationErrorKind::Timeout
                }
                _ => ApplicationErrorKind::Network,
            },
            ErrorKind::Command(c) => ApplicationErrorKind::Command(CommandFailure::new(
                (c.code != 0).then_some(c.code),
                c.message.clone(),
            )),
            _ => ApplicationErrorKind::Other(error.to_string()),
        };
        let mut app = ApplicationError::new(kind, phase, generation, max_wire_version);
        app.system_overloaded = error.contains_label(SYSTEM_OVERLOADED_ERROR);
        app
    }
}

/// What to do about an application error. All `false` when the error is stale or does
/// not concern the topology.
///
/// # Examples
///
/// ```
/// use greenmongo::{
///     options::ServerAddress,
///     sdam::{decide, ApplicationError, ApplicationErrorKind, ErrorPhase, ServerDescription, TopologyType},
/// };
///
/// let server = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// let reset = ApplicationError::new(ApplicationErrorKind::Network, ErrorPhase::Established, 0, 21);
/// let decision = decide(TopologyType::ReplicaSetWithPrimary, &server, 0, &reset);
/// assert!(decision.mark_unknown && decision.clear_pool && decision.cancel_check);
/// assert!(!decision.request_check);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorDecision {
    /// Replace the server's description with an Unknown one.
    pub mark_unknown: bool,
    /// Clear the server's connection pool (in a load-balanced topology: the pool of the
    /// connection's service), synchronized with the topology update.
    pub clear_pool: bool,
    /// Ask the server's monitor for an immediate check.
    pub request_check: bool,
    /// Cancel the monitor's check in progress and close its connection.
    pub cancel_check: bool,
}

/// The SDAM spec's `handleError`, as a decision: `current` is the server's description,
/// `pool_generation` its pool's generation.
///
/// Stale errors (from an older pool generation, or with a `topologyVersion` not newer than
/// the server's) change nothing. A state-change error marks the server Unknown and asks
/// for a check, clearing the pool only if the node is shutting down or runs MongoDB < 4.2.
/// A network error on an established connection marks it Unknown and clears the pool; a
/// timeout there does not. While connecting, network errors and timeouts change nothing
/// (they are the backpressure spec's overload signals); other handshake and
/// authentication failures mark Unknown and clear the pool, unless labelled
/// [`SYSTEM_OVERLOADED_ERROR`]. A load-balanced topology never marks its server Unknown.
///
/// # Examples
///
/// ```
/// use greenmongo::{
///     options::ServerAddress,
///     sdam::{decide, ApplicationError, ApplicationErrorKind, CommandFailure, ErrorPhase, ServerDescription, TopologyType},
/// };
///
/// let server = ServerDescription::new(ServerAddress::tcp("a", 27017));
/// let not_primary = ApplicationErrorKind::Command(CommandFailure::new(Some(10107), "not primary"));
/// let error = ApplicationError::new(not_primary, ErrorPhase::Established, 0, 21);
/// let d = decide(TopologyType::ReplicaSetWithPrimary, &server, 0, &error);
/// assert!(d.mark_unknown && d.request_check && !d.clear_pool);
///
/// // The same error from a connection of an older pool generation is ignored.
/// assert!(!decide(TopologyType::ReplicaSetWithPrimary, &server, 1, &error).mark_unknown);
/// ```
pub fn decide(
    topology_type: TopologyType,
    current: &ServerDescription,
    pool_generation: u32,
    error: &ApplicationError,
) -> ErrorDecision {
    let none = ErrorDecision::default();
    if error.generation < pool_generation {
        return none;
    }
    let load_balanced = topology_type == TopologyType::LoadBalanced;
    if let ApplicationErrorKind::Command(failure) = &error.kind
        && failure.is_state_change()
    {
        let newer = TopologyVersion::compare(
            current.topology_version.as_ref(),
            failure.topology_version.as_ref(),
        ) == Ordering::Less;
        if !newer {
            return none;
        }
        return ErrorDecision {
            mark_unknown: !load_balanced,
            clear_pool: failure.is_shutting_down() || error.max_wire_version < WIRE_VERSION_4_2,
            request_check: true,
            cancel_check: false,
        };
    }
    let network_like = matches!(
        error.kind,
        ApplicationErrorKind::Network | ApplicationErrorKind::Timeout
    );
    let marks_unknown = match error.phase {
        ErrorPhase::Established => error.kind == ApplicationErrorKind::Network,
        ErrorPhase::Connecting if network_like => false,
        ErrorPhase::Connecting | ErrorPhase::Authenticating => !error.system_overloaded,
    };
    if !marks_unknown {
        return none;
    }
    ErrorDecision {
        mark_unknown: !load_balanced,
        clear_pool: true,
        request_check: false,
        cancel_check: true,
    }
}

/// What [`TopologyDescription::handle_application_error`] decided and changed.
///
/// # Examples
///
/// ```
/// use greenmongo::{
///     options::ServerAddress,
///     sdam::{ApplicationError, ApplicationErrorKind, ErrorPhase, ServerType, TopologyDescription},
///     ClientOptions,
/// };
///
/// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a,b")?);
/// let a = ServerAddress::tcp("a", 27017);
/// let reset = ApplicationError::new(ApplicationErrorKind::Network, ErrorPhase::Established, 0, 21);
/// let outcome = topology.handle_application_error(&a, &reset, 0);
/// assert!(outcome.decision.clear_pool);
/// assert_eq!(topology.server(&a).unwrap().server_type, ServerType::Unknown);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ErrorOutcome {
    /// The decision; the caller clears the pool and signals the monitor accordingly.
    pub decision: ErrorDecision,
    /// The topology update made when the server was marked Unknown (its events).
    pub update: UpdateOutcome,
}

impl TopologyDescription {
    /// Judges an application error on the server at `address` (see [`decide`]) and, when
    /// it marks the server Unknown, applies that as an update; the Unknown description
    /// keeps the error's message and `topologyVersion`. Errors for servers no longer in
    /// the topology are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{
    ///     options::ServerAddress,
    ///     sdam::{ApplicationError, ApplicationErrorKind, ErrorPhase, ServerType, TopologyDescription},
    ///     ClientOptions,
    /// };
    ///
    /// let (mut topology, _) = TopologyDescription::new(&ClientOptions::parse("mongodb://a/?directConnection=true")?);
    /// let a = ServerAddress::tcp("a", 27017);
    /// let error = ApplicationError::new(ApplicationErrorKind::Network, ErrorPhase::Established, 0, 21);
    /// let outcome = topology.handle_application_error(&a, &error, 0);
    /// assert!(outcome.decision.clear_pool);
    /// assert_eq!(topology.server(&a).unwrap().server_type, ServerType::Unknown);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn handle_application_error(
        &mut self,
        address: &ServerAddress,
        error: &ApplicationError,
        pool_generation: u32,
    ) -> ErrorOutcome {
        let Some(current) = self.server(address) else {
            return ErrorOutcome::default();
        };
        let decision = decide(self.topology_type(), current, pool_generation, error);
        let mut outcome = ErrorOutcome {
            decision,
            update: UpdateOutcome::default(),
        };
        if decision.mark_unknown {
            let (message, topology_version) = match &error.kind {
                ApplicationErrorKind::Network => ("network error".to_owned(), None),
                ApplicationErrorKind::Timeout => ("network timeout".to_owned(), None),
                ApplicationErrorKind::Command(f) => (
                    match f.code {
                        Some(code) => format!("command error {code}: {}", f.message),
                        None => format!("command error: {}", f.message),
                    },
                    f.topology_version,
                ),
                ApplicationErrorKind::Other(message) => (message.clone(), None),
            };
            let mut unknown = ServerDescription::with_error(address.clone(), message);
            unknown.topology_version = topology_version;
            outcome.update = self.update(unknown);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, oid::ObjectId};

    use super::*;

    fn command(code: Option<i32>, message: &str) -> ApplicationErrorKind {
        ApplicationErrorKind::Command(CommandFailure::new(code, message))
    }

    fn judge(kind: ApplicationErrorKind, phase: ErrorPhase, wire: i32) -> ErrorDecision {
        let server = ServerDescription::new(ServerAddress::tcp("a", 27017));
        let error = ApplicationError::new(kind, phase, 0, wire);
        decide(TopologyType::ReplicaSetWithPrimary, &server, 0, &error)
    }

    #[test]
    fn messages_count_only_without_a_code() {
        assert!(CommandFailure::new(None, "not master").is_not_writable_primary());
        assert!(!CommandFailure::new(None, "not master or secondary").is_not_writable_primary());
        assert!(CommandFailure::new(None, "not master or secondary").is_recovering());
        assert!(!CommandFailure::new(Some(1), "node is recovering").is_state_change());
        assert!(!CommandFailure::new(None, "node is recovering").is_shutting_down());
    }

    #[test]
    fn pool_is_cleared_for_shutdown_or_old_servers() {
        let d = judge(command(Some(91), ""), ErrorPhase::Established, 21);
        assert!(d.mark_unknown && d.clear_pool);
        let d = judge(command(Some(189), ""), ErrorPhase::Established, 21);
        assert!(d.mark_unknown && !d.clear_pool);
        let d = judge(command(Some(189), ""), ErrorPhase::Established, 7);
        assert!(d.clear_pool);
    }

    #[test]
    fn network_errors_by_phase() {
        let d = judge(ApplicationErrorKind::Network, ErrorPhase::Established, 21);
        assert!(d.mark_unknown && d.clear_pool && d.cancel_check);
        let d = judge(ApplicationErrorKind::Timeout, ErrorPhase::Established, 21);
        assert_eq!(d, ErrorDecision::default());
        for kind in [ApplicationErrorKind::Network, ApplicationErrorKind::Timeout] {
            assert_eq!(
                judge(kind.clone(), ErrorPhase::Connecting, 0),
                ErrorDecision::default()
            );
            assert!(judge(kind, ErrorPhase::Authenticating, 21).mark_unknown);
        }
        let auth = ApplicationErrorKind::Other("auth failed".into());
        assert!(judge(auth.clone(), ErrorPhase::Authenticating, 21).clear_pool);
        assert!(!judge(auth.clone(), ErrorPhase::Established, 21).mark_unknown);
        let server = ServerDescription::new(ServerAddress::tcp("a", 27017));
        let mut overloaded = ApplicationError::new(auth, ErrorPhase::Authenticating, 0, 21);
        overloaded.system_overloaded = true;
        assert_eq!(
            decide(TopologyType::Sharded, &server, 0, &overloaded),
            ErrorDecision::default()
        );
    }

    #[test]
    fn load_balancers_are_never_marked_unknown() {
        let server = ServerDescription::new(ServerAddress::tcp("a", 27017));
        let error = ApplicationError::new(command(Some(91), ""), ErrorPhase::Established, 0, 21);
        let d = decide(TopologyType::LoadBalanced, &server, 0, &error);
        assert!(!d.mark_unknown && d.clear_pool);
    }

    #[test]
    fn stale_topology_versions_are_ignored() {
        let pid = ObjectId::new();
        let mut server = ServerDescription::new(ServerAddress::tcp("a", 27017));
        server.topology_version = Some(TopologyVersion {
            process_id: pid,
            counter: 2,
        });
        let reply = |counter: i64| {
            doc! { "ok": 0, "code": 10107, "errmsg": "x",
            "topologyVersion": { "processId": pid, "counter": counter } }
        };
        for (counter, marks) in [(1, false), (2, false), (3, true)] {
            let failure = CommandFailure::from_response(&reply(counter)).unwrap();
            let error = ApplicationError::new(
                ApplicationErrorKind::Command(failure),
                ErrorPhase::Established,
                0,
                21,
            );
            let d = decide(TopologyType::ReplicaSetWithPrimary, &server, 0, &error);
            assert_eq!(d.mark_unknown, marks, "counter {counter}");
        }
    }

    #[test]
    fn write_concern_errors_are_checked() {
        let reply = doc! { "ok": 1, "writeConcernError": { "code": 11600, "errmsg": "x" } };
        let failure = CommandFailure::from_response(&reply).unwrap();
        assert!(failure.is_shutting_down());
    }
}
