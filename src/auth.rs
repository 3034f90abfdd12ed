//! Authentication, the pure half: build the commands, check the replies.
//!
//! Implements the client side of the [Driver Authentication] spec for SCRAM-SHA-1 and
//! SCRAM-SHA-256 (RFC 5802, RFC 7677), PLAIN (RFC 4616) and MONGODB-X509. Nothing here
//! touches a socket: a [`Conversation`] hands out command documents and consumes reply
//! documents, and the connection layer sends them to [`Conversation::source`] (adding
//! `$db`) on an uncompressed connection.
//!
//! Secrets stay secret: [`Password`] and every type holding one print as `<redacted>`, and
//! no error message repeats a password or anything derived from it. The command documents
//! themselves carry credentials (PLAIN's payload is the password), so they must not be
//! logged; command monitoring redacts `saslStart`, `saslContinue` and `authenticate`.
//!
//! [Driver Authentication]: https://github.com/mongodb/specifications/blob/master/source/auth/auth.md
//!
//! # Examples
//!
//! The loop the connection layer runs, here against a canned PLAIN server:
//!
//! ```
//! use bson::{doc, spec::BinarySubtype, Binary};
//! use greenmongo::auth::{AuthMechanism, AuthStep, Conversation, Password};
//!
//! let password = Password::new("pencil");
//! let mut conv = Conversation::new(AuthMechanism::Plain, Some("user"), Some(&password), None)?;
//! assert_eq!(conv.source(), "$external");
//!
//! let mut command = conv.start_command();
//! let empty = Binary { subtype: BinarySubtype::Generic, bytes: vec![] };
//! loop {
//!     // conn.run_command(conv.source(), command) would go here.
//!     assert_eq!(command.get_str("mechanism")?, "PLAIN");
//!     let reply = doc! { "conversationId": 1, "done": true, "payload": empty.clone(), "ok": 1 };
//!     match conv.handle_reply(&reply)? {
//!         AuthStep::Continue(next) => command = next,
//!         AuthStep::Done => break,
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::{fmt, sync::Arc};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use bson::{Binary, Bson, Document, doc, spec::BinarySubtype};

use crate::{Error, Result};

mod plain;
mod saslprep;
pub(crate) mod scram;
mod x509;

pub use plain::PlainConversation;
pub use scram::{ScramCache, ScramConversation, ScramVersion};
pub use x509::X509Conversation;

pub use crate::options::AuthMechanism;

/// A password. Its `Debug` output is `Password(<redacted>)`, and it has no `Display`.
///
/// # Examples
///
/// ```
/// use greenmongo::auth::Password;
///
/// let p = Password::new("hunter2");
/// assert_eq!(format!("{p:?}"), "Password(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps `password`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::Password;
    ///
    /// let p = Password::new(String::from("pencil"));
    /// assert_eq!(p, Password::from("pencil"));
    /// ```
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    /// The password itself, for the mechanisms that need it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl From<String> for Password {
    fn from(s: String) -> Password {
        Password(s)
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Password {
        Password(s.to_owned())
    }
}

/// What to do after a reply.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::auth::{AuthMechanism, AuthStep, Conversation};
///
/// let mut conv = Conversation::new(AuthMechanism::MongoDbX509, None, None, None)?;
/// // Send conv.start_command() to conv.source(), then feed the reply back in:
/// match conv.handle_reply(&doc! { "ok": 1, "user": "CN=client" })? {
///     AuthStep::Continue(next) => panic!("X.509 takes one round trip, got {next}"),
///     AuthStep::Done => {}
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum AuthStep {
    /// Send this command (to [`Conversation::source`]) and feed its reply back in.
    Continue(Document),
    /// Authenticated.
    Done,
}

/// A parsed `saslStart`/`saslContinue` reply (or a `hello` reply's
/// `speculativeAuthenticate` document).
///
/// # Examples
///
/// ```
/// use bson::{doc, spec::BinarySubtype, Binary};
/// use greenmongo::auth::SaslReply;
///
/// let payload = Binary { subtype: BinarySubtype::Generic, bytes: b"r=abc".to_vec() };
/// let reply = SaslReply::parse(&doc! { "conversationId": 1, "done": false, "payload": payload, "ok": 1.0 })?;
/// assert_eq!(reply.payload, b"r=abc");
/// assert!(!reply.done);
///
/// let err = SaslReply::parse(&doc! { "ok": 0, "errmsg": "Authentication failed.", "code": 18 }).unwrap_err();
/// assert!(err.to_string().contains("Authentication failed. (code 18)"));
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SaslReply {
    /// Echoed in the next `saslContinue`.
    pub conversation_id: Bson,
    /// Whether the server considers the conversation finished.
    pub done: bool,
    /// The mechanism's message from the server.
    pub payload: Vec<u8>,
}

impl SaslReply {
    /// Parses `reply`, turning `ok: 0` into an authentication error with the server's
    /// message.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the server said
    /// `ok: 0`, or a field is missing or of the wrong type.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::{doc, spec::BinarySubtype, Binary};
    /// use greenmongo::auth::SaslReply;
    ///
    /// let payload = Binary { subtype: BinarySubtype::Generic, bytes: b"v=abc".to_vec() };
    /// let reply = SaslReply::parse(&doc! { "conversationId": 1, "done": true, "payload": payload, "ok": 1 })?;
    /// assert!(reply.done);
    /// assert!(SaslReply::parse(&doc! { "ok": 1, "done": true }).is_err()); // no payload
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn parse(reply: &Document) -> Result<SaslReply> {
        check_ok(reply)?;
        let conversation_id = reply
            .get("conversationId")
            .cloned()
            .ok_or_else(|| Error::authentication("SASL reply has no conversationId"))?;
        let done = match reply.get("done") {
            Some(Bson::Boolean(b)) => *b,
            None => false,
            Some(other) => {
                return Err(Error::authentication(format!(
                    "SASL reply's done is a {:?}, not a boolean",
                    other.element_type()
                )));
            }
        };
        let payload = match reply.get("payload") {
            Some(Bson::Binary(b)) => b.bytes.clone(),
            Some(Bson::String(s)) => BASE64.decode(s).map_err(|_| {
                Error::authentication("SASL reply's string payload is not valid base64")
            })?,
            Some(other) => {
                return Err(Error::authentication(format!(
                    "SASL reply's payload is a {:?}, not binary data",
                    other.element_type()
                )));
            }
            None => return Err(Error::authentication("SASL reply has no payload")),
        };
        Ok(SaslReply {
            conversation_id,
            done,
            payload,
        })
    }
}

/// Fails with the server's message if `reply` has a false `ok`.
pub(crate) fn check_ok(reply: &Document) -> Result<()> {
    let ok = match reply.get("ok") {
        None => return Ok(()),
        Some(Bson::Double(d)) => *d == 1.0,
        Some(Bson::Int32(i)) => *i == 1,
        Some(Bson::Int64(i)) => *i == 1,
        Some(Bson::Boolean(b)) => *b,
        Some(_) => false,
    };
    if ok {
        return Ok(());
    }
    let message = reply.get_str("errmsg").unwrap_or("no errmsg");
    Err(Error::authentication(match reply.get("code") {
        Some(code) => format!("server replied: {message} (code {code})"),
        None => format!("server replied: {message}"),
    }))
}

fn binary(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

/// A `saslStart` command.
pub(crate) fn sasl_start(mechanism: &str, payload: Vec<u8>, skip_empty_exchange: bool) -> Document {
    let mut cmd = doc! {
        "saslStart": 1,
        "mechanism": mechanism,
        "payload": binary(payload),
        "autoAuthorize": 1,
    };
    if skip_empty_exchange {
        cmd.insert("options", doc! { "skipEmptyExchange": true });
    }
    cmd
}

/// A `saslContinue` command.
pub(crate) fn sasl_continue(conversation_id: Bson, payload: Vec<u8>) -> Document {
    doc! {
        "saslContinue": 1,
        "conversationId": conversation_id,
        "payload": binary(payload),
    }
}

/// One authentication conversation, whatever the mechanism.
///
/// # Examples
///
/// ```
/// use greenmongo::auth::{AuthMechanism, Conversation, Password};
///
/// let pw = Password::new("pencil");
/// let conv = Conversation::new(AuthMechanism::ScramSha256, Some("user"), Some(&pw), None)?;
/// assert_eq!(conv.source(), "admin");
/// let spec = conv.speculative_authenticate().expect("SCRAM supports speculative auth");
/// assert_eq!(spec.get_str("db")?, "admin");
/// assert!(!format!("{conv:?}").contains("pencil"));
///
/// let err = Conversation::new(AuthMechanism::ScramSha1, Some("user"), None, None).unwrap_err();
/// assert!(err.to_string().contains("requires a password"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Conversation {
    /// SCRAM-SHA-1 or SCRAM-SHA-256.
    Scram(ScramConversation),
    /// PLAIN.
    Plain(PlainConversation),
    /// MONGODB-X509.
    X509(X509Conversation),
}

impl Conversation {
    /// Starts a conversation for `mechanism`, checking the credential has what the
    /// mechanism needs. `source` defaults to `admin` for SCRAM and `$external` otherwise.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the credential is
    /// incomplete or invalid for the mechanism (e.g. no username, no password, a password
    /// SASLprep rejects, a password given for X.509), or no random nonce could be drawn.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{AuthMechanism, Conversation, Password};
    ///
    /// let pw = Password::new("secret");
    /// let plain = Conversation::new(AuthMechanism::Plain, Some("ldap-user"), Some(&pw), None)?;
    /// assert_eq!(plain.source(), "$external");
    /// assert!(Conversation::new(AuthMechanism::MongoDbX509, None, Some(&pw), None).is_err());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn new(
        mechanism: AuthMechanism,
        username: Option<&str>,
        password: Option<&Password>,
        source: Option<&str>,
    ) -> Result<Conversation> {
        let need = |what: &str| Error::authentication(format!("{mechanism} requires a {what}"));
        match mechanism {
            AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256 => {
                let version = if mechanism == AuthMechanism::ScramSha1 {
                    ScramVersion::Sha1
                } else {
                    ScramVersion::Sha256
                };
                let username = username
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| need("username"))?;
                let password = password.ok_or_else(|| need("password"))?;
                let source = source.unwrap_or("admin");
                ScramConversation::new(version, username, password, source).map(Conversation::Scram)
            }
            AuthMechanism::Plain => {
                let username = username
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| need("username"))?;
                let password = password.ok_or_else(|| need("password"))?;
                let source = source.unwrap_or("$external");
                PlainConversation::new(username, password, source).map(Conversation::Plain)
            }
            AuthMechanism::MongoDbX509 => {
                if password.is_some() {
                    return Err(Error::authentication(
                        "MONGODB-X509 does not take a password",
                    ));
                }
                if source.is_some_and(|s| s != "$external") {
                    return Err(Error::authentication(
                        "MONGODB-X509 authenticates against $external only",
                    ));
                }
                Ok(Conversation::X509(X509Conversation::new(username)))
            }
            other => Err(Error::authentication(format!(
                "{other} is not supported by greenmongo (supported: SCRAM-SHA-256, \
                 SCRAM-SHA-1, PLAIN, MONGODB-X509)"
            ))),
        }
    }

    /// Shares `cache` of salted passwords with a SCRAM conversation; other mechanisms
    /// ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenmongo::auth::{AuthMechanism, Conversation, Password, ScramCache};
    ///
    /// let cache = Arc::new(ScramCache::new());
    /// let pw = Password::new("pw");
    /// let conv = Conversation::new(AuthMechanism::ScramSha256, Some("u"), Some(&pw), None)?
    ///     .with_scram_cache(cache);
    /// # let _ = conv;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_scram_cache(self, cache: Arc<ScramCache>) -> Conversation {
        match self {
            Conversation::Scram(c) => Conversation::Scram(c.with_cache(cache)),
            other => other,
        }
    }

    /// The database the commands go to.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{AuthMechanism, Conversation, Password};
    ///
    /// let pw = Password::new("pw");
    /// let conv = Conversation::new(AuthMechanism::ScramSha1, Some("u"), Some(&pw), Some("app"))?;
    /// assert_eq!(conv.source(), "app");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn source(&self) -> &str {
        match self {
            Conversation::Scram(c) => c.source(),
            Conversation::Plain(c) => c.source(),
            Conversation::X509(c) => c.source(),
        }
    }

    /// The document for the `hello` command's `speculativeAuthenticate` field, or `None` for
    /// mechanisms without speculative support (PLAIN). If the `hello` reply carries a
    /// `speculativeAuthenticate` document, pass it to [`handle_reply`](Self::handle_reply);
    /// otherwise send [`start_command`](Self::start_command) as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::auth::{AuthMechanism, Conversation};
    ///
    /// let conv = Conversation::new(AuthMechanism::MongoDbX509, None, None, None)?;
    /// let mut hello = doc! { "hello": 1 };
    /// if let Some(spec) = conv.speculative_authenticate() {
    ///     hello.insert("speculativeAuthenticate", spec);
    /// }
    /// assert_eq!(hello.get_document("speculativeAuthenticate")?.get_str("db")?, "$external");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn speculative_authenticate(&self) -> Option<Document> {
        match self {
            Conversation::Scram(c) => Some(c.speculative_authenticate()),
            Conversation::Plain(_) => None,
            Conversation::X509(c) => Some(c.speculative_authenticate()),
        }
    }

    /// The first command of the conversation (`saslStart` or `authenticate`).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{AuthMechanism, Conversation, Password};
    ///
    /// let pw = Password::new("pw");
    /// let conv = Conversation::new(AuthMechanism::ScramSha256, Some("u"), Some(&pw), None)?;
    /// assert_eq!(conv.start_command().get_i32("saslStart")?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_command(&self) -> Document {
        match self {
            Conversation::Scram(c) => c.start_command(),
            Conversation::Plain(c) => c.start_command(),
            Conversation::X509(c) => c.start_command(),
        }
    }

    /// Consumes the server's reply to the last command sent.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the server refused
    /// or the reply fails verification; the conversation is then over.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::auth::{AuthMechanism, Conversation, Password};
    ///
    /// let pw = Password::new("pw");
    /// let mut conv = Conversation::new(AuthMechanism::ScramSha256, Some("u"), Some(&pw), None)?;
    /// let refused = doc! { "ok": 0, "errmsg": "Authentication failed.", "code": 18 };
    /// let err = conv.handle_reply(&refused).unwrap_err();
    /// assert_eq!(err.to_string(), "authentication failed: server replied: Authentication failed. (code 18)");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn handle_reply(&mut self, reply: &Document) -> Result<AuthStep> {
        match self {
            Conversation::Scram(c) => c.handle_reply(reply),
            Conversation::Plain(c) => c.handle_reply(reply),
            Conversation::X509(c) => c.handle_reply(reply),
        }
    }
}

#[cfg(test)]
mod tests;
