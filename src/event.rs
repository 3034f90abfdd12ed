//! Command monitoring (the command-logging-and-monitoring spec): events for every command
//! a client sends after a connection's handshake, and `tracing` records of the same.
//!
//! Commands that carry credentials (`saslStart`, `saslContinue`, `authenticate`,
//! `createUser`, `updateUser`, ..., and a `hello` with `speculativeAuthenticate`) are
//! published with their command and reply emptied.

use std::{fmt, sync::Arc, time::Duration};

use bson::Document;

use crate::{Error, options::ServerAddress};

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
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::event::{CommandEvent, EventHandler};
    ///
    /// let handler = EventHandler::new(|e: &CommandEvent| {
    ///     if let CommandEvent::Failed(f) = e {
    ///         eprintln!("{} failed after {:?}: {}", f.command_name, f.duration, f.failure);
    ///     }
    /// });
    /// let mut options = greenmongo::ClientOptions::default();
    /// options.command_event_handler = Some(handler);
    /// ```
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
///
/// # Examples
///
/// ```no_run
/// use greenmongo::{event::{CommandEvent, EventHandler}, Client, ClientOptions};
///
/// let mut options = ClientOptions::parse("mongodb://localhost")?;
/// options.command_event_handler = Some(EventHandler::new(|e: &CommandEvent| {
///     if let CommandEvent::Started(s) = e {
///         let c = &s.connection;
///         println!("{} on connection {} to {} (server id {:?})", s.command_name, c.id, c.address, c.server_id);
///     }
/// }));
/// Client::with_options(options)?.list_database_names().run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
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
///
/// # Examples
///
/// ```no_run
/// use greenmongo::{event::{CommandEvent, EventHandler}, Client, ClientOptions};
///
/// let mut options = ClientOptions::parse("mongodb://localhost")?;
/// options.command_event_handler = Some(EventHandler::new(|e: &CommandEvent| {
///     if let CommandEvent::Started(s) = e {
///         println!("#{} {}.{}: {}", s.request_id, s.database_name, s.command_name, s.command);
///     }
/// }));
/// Client::with_options(options)?.database("shop").run_command(bson::doc! { "ping": 1 }).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
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
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use greenmongo::{event::{CommandEvent, EventHandler}, Client, ClientOptions};
///
/// let mut options = ClientOptions::parse("mongodb://localhost")?;
/// options.command_event_handler = Some(EventHandler::new(|e: &CommandEvent| {
///     if let CommandEvent::Succeeded(s) = e {
///         if s.duration > Duration::from_millis(100) {
///             println!("slow {}: {:?}", s.command_name, s.duration);
///         }
///     }
/// }));
/// Client::with_options(options)?.list_database_names().run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
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
///
/// # Examples
///
/// ```no_run
/// use greenmongo::{event::{CommandEvent, EventHandler}, Client, ClientOptions};
///
/// let mut options = ClientOptions::parse("mongodb://localhost")?;
/// options.command_event_handler = Some(EventHandler::new(|e: &CommandEvent| {
///     if let CommandEvent::Failed(f) = e {
///         println!("{} failed (code {:?}): {}", f.command_name, f.failure.code(), f.failure);
///     }
/// }));
/// let client = Client::with_options(options)?;
/// let _ = client.database("shop").run_command(bson::doc! { "noSuchCommand": 1 }).run(); // reported as failed
/// # Ok::<(), greenmongo::Error>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
/// use greenmongo::{event::{CommandEvent, EventHandler}, Client, ClientOptions};
///
/// let failures = Arc::new(AtomicUsize::new(0));
/// let count = failures.clone();
/// let mut options = ClientOptions::parse("mongodb://localhost")?;
/// options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| match e {
///     CommandEvent::Failed(_) => { count.fetch_add(1, Ordering::Relaxed); }
///     _ => {}
/// }));
/// let client = Client::with_options(options)?; // no command sent yet
/// assert_eq!(failures.load(Ordering::Relaxed), 0);
/// # let _ = client;
/// # Ok::<(), greenmongo::Error>(())
/// ```
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
