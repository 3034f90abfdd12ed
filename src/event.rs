//! Command monitoring (the command-logging-and-monitoring spec): events for every command
//! a client sends after a connection's handshake, and `tracing` records of the same.
//!
//! Commands that carry credentials (`saslStart`, `saslContinue`, `authenticate`,
//! `createUser`, `updateUser`, ..., and a `hello` with `speculativeAuthenticate`) are
//! published with their command and reply emptied.

use std::{fmt, sync::Arc, time::Duration};

use bson::Document;

use crate::{options::ServerAddress, Error};

/// A callback for events of type `T`, shared by every connection of a client.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use greenmongo::{event::{CommandEvent, EventHandler}, ClientOptions};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let mut options = ClientOptions::default();
/// options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
///     log.lock().unwrap().push(e.command_name().to_owned());
/// }));
/// # let _ = options;
/// ```
pub struct EventHandler<T: ?Sized>(Arc<dyn Fn(&T) + Send + Sync>);

impl<T: ?Sized> EventHandler<T> {
    /// Wraps a callback. It runs on the thread or coroutine that issued the command, so it
    /// must be quick and must not block the OS thread.
    pub fn new(f: impl Fn(&T) + Send + Sync + 'static) -> Self {
        EventHandler(Arc::new(f))
    }

    pub(crate) fn handle(&self, event: &T) {
        (self.0)(event)
    }
}

impl<T: ?Sized> Clone for EventHandler<T> {
    fn clone(&self) -> Self {
        EventHandler(self.0.clone())
    }
}

impl<T: ?Sized> fmt::Debug for EventHandler<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHandler")
    }
}

impl<T: ?Sized> PartialEq for EventHandler<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Which connection a command went over.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The driver's id of the connection (unique per client).
    pub id: u64,
    /// The server's id of the connection (`connectionId` of its `hello`), if it sent one.
    pub server_id: Option<i64>,
    /// The server's address.
    pub address: ServerAddress,
    /// In load-balanced mode, the service behind the load balancer the connection
    /// reaches (`serviceId` of its `hello`).
    pub service_id: Option<bson::oid::ObjectId>,
}

/// A command was sent.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CommandStartedEvent {
    /// The command, with `$db` (emptied for sensitive commands).
    pub command: Document,
    /// The database it runs against.
    pub database_name: String,
    /// The command's name (its first key).
    pub command_name: String,
    /// The wire protocol request id.
    pub request_id: i32,
    /// The connection.
    pub connection: ConnectionInfo,
}

/// A command succeeded (`ok: 1`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CommandSucceededEvent {
    /// Round-trip time, encoding and decoding included.
    pub duration: Duration,
    /// The reply (emptied for sensitive commands).
    pub reply: Document,
    /// The database the command ran against.
    pub database_name: String,
    /// The command's name.
    pub command_name: String,
    /// The wire protocol request id.
    pub request_id: i32,
    /// The connection.
    pub connection: ConnectionInfo,
}

/// A command failed: `ok: 0`, or a network error.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CommandFailedEvent {
    /// Time until the failure.
    pub duration: Duration,
    /// The database the command ran against.
    pub database_name: String,
    /// The command's name.
    pub command_name: String,
    /// What went wrong.
    pub failure: Error,
    /// The wire protocol request id.
    pub request_id: i32,
    /// The connection.
    pub connection: ConnectionInfo,
}

/// One command monitoring event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CommandEvent {
    /// See [`CommandStartedEvent`].
    Started(CommandStartedEvent),
    /// See [`CommandSucceededEvent`].
    Succeeded(CommandSucceededEvent),
    /// See [`CommandFailedEvent`].
    Failed(CommandFailedEvent),
}

impl CommandEvent {
    /// The name of the command the event is about.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn check(e: &greenmongo::event::CommandEvent) {
    /// println!("{}", e.command_name());
    /// # }
    /// ```
    pub fn command_name(&self) -> &str {
        match self {
            CommandEvent::Started(e) => &e.command_name,
            CommandEvent::Succeeded(e) => &e.command_name,
            CommandEvent::Failed(e) => &e.command_name,
        }
    }
}

const SENSITIVE_COMMANDS: &[&str] = &[
    "authenticate",
    "saslstart",
    "saslcontinue",
    "getnonce",
    "createuser",
    "updateuser",
    "copydbgetnonce",
    "copydbsaslstart",
    "copydb",
];

/// Whether a command's body and reply must be hidden from monitoring.
pub(crate) fn is_sensitive(command_name: &str, command: &Document) -> bool {
    let name = command_name.to_ascii_lowercase();
    SENSITIVE_COMMANDS.contains(&name.as_str())
        || ((name == "hello" || name == "ismaster")
            && command.contains_key("speculativeAuthenticate"))
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn credentials_are_never_published() {
        assert!(is_sensitive("saslStart", &doc! {}));
        assert!(is_sensitive("SASLCONTINUE", &doc! {}));
        assert!(is_sensitive(
            "hello",
            &doc! { "hello": 1, "speculativeAuthenticate": {} }
        ));
        assert!(!is_sensitive("hello", &doc! { "hello": 1 }));
        assert!(!is_sensitive("find", &doc! { "find": "c" }));
    }
}
