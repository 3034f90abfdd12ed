//! PLAIN (RFC 4616): one `saslStart` carrying `\0username\0password`, used for LDAP.

use std::fmt;

use bson::Document;

use super::{AuthStep, Password, SaslReply, sasl_start};
use crate::{Error, Result};

/// A PLAIN conversation: one `saslStart`, one reply.
///
/// # Examples
///
/// ```
/// use greenmongo::auth::{Password, PlainConversation};
///
/// let conv = PlainConversation::new("user", &Password::new("pencil"), "$external")?;
/// let cmd = conv.start_command();
/// // The payload the auth spec shows: base64 "AHVzZXIAcGVuY2ls".
/// assert_eq!(cmd.get_binary_generic("payload")?, b"\0user\0pencil");
/// assert!(!format!("{conv:?}").contains("pencil"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PlainConversation {
    username: String,
    password: Password,
    source: String,
    done: bool,
}

impl fmt::Debug for PlainConversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainConversation")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("source", &self.source)
            .field("done", &self.done)
            .finish()
    }
}

impl PlainConversation {
    /// A conversation for `username` authenticating against `source` (normally
    /// `$external`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the username or
    /// password contains NUL, which would make the payload ambiguous.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, PlainConversation};
    ///
    /// assert!(PlainConversation::new("user", &Password::new("pw"), "$external").is_ok());
    /// assert!(PlainConversation::new("us\0er", &Password::new("pw"), "$external").is_err());
    /// ```
    pub fn new(username: &str, password: &Password, source: &str) -> Result<PlainConversation> {
        if username.contains('\0') {
            return Err(Error::authentication("PLAIN: the username contains NUL"));
        }
        if password.expose().contains('\0') {
            return Err(Error::authentication("PLAIN: the password contains NUL"));
        }
        Ok(PlainConversation {
            username: username.to_owned(),
            password: password.clone(),
            source: source.to_owned(),
            done: false,
        })
    }

    /// The authentication database.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, PlainConversation};
    ///
    /// let conv = PlainConversation::new("user", &Password::new("pw"), "ldap")?;
    /// assert_eq!(conv.source(), "ldap");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The `saslStart` command. Its payload is the password in clear: never log it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, PlainConversation};
    ///
    /// let conv = PlainConversation::new("user", &Password::new("pw"), "$external")?;
    /// assert_eq!(conv.start_command().get_str("mechanism")?, "PLAIN");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_command(&self) -> Document {
        let mut payload =
            Vec::with_capacity(2 + self.username.len() + self.password.expose().len());
        payload.push(0);
        payload.extend_from_slice(self.username.as_bytes());
        payload.push(0);
        payload.extend_from_slice(self.password.expose().as_bytes());
        sasl_start("PLAIN", payload, false)
    }

    /// Consumes the `saslStart` reply, which must complete the conversation.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the server
    /// refused, did not say `done`, or the conversation was already complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::{doc, spec::BinarySubtype, Binary};
    /// use greenmongo::auth::{AuthStep, Password, PlainConversation};
    ///
    /// let mut conv = PlainConversation::new("user", &Password::new("pw"), "$external")?;
    /// let empty = Binary { subtype: BinarySubtype::Generic, bytes: vec![] };
    /// let reply = doc! { "conversationId": 1, "done": true, "payload": empty, "ok": 1 };
    /// assert_eq!(conv.handle_reply(&reply)?, AuthStep::Done);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn handle_reply(&mut self, reply: &Document) -> Result<AuthStep> {
        if self.done {
            return Err(Error::authentication(
                "PLAIN: the conversation is already complete",
            ));
        }
        if !SaslReply::parse(reply)?.done {
            return Err(Error::authentication(
                "PLAIN: the server did not complete the conversation in one step",
            ));
        }
        self.done = true;
        Ok(AuthStep::Done)
    }
}

#[cfg(test)]
mod tests {
    use bson::{Binary, doc, spec::BinarySubtype};

    use super::*;

    fn reply(done: bool) -> Document {
        let payload = Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![],
        };
        doc! { "conversationId": 1, "payload": payload, "done": done, "ok": 1.0 }
    }

    #[test]
    fn builds_the_spec_command_and_finishes_in_one_step() {
        let mut conv =
            PlainConversation::new("user", &Password::new("pencil"), "$external").unwrap();
        let cmd = conv.start_command();
        assert_eq!(cmd.get_i32("saslStart").unwrap(), 1);
        assert_eq!(cmd.get_str("mechanism").unwrap(), "PLAIN");
        assert_eq!(cmd.get_i32("autoAuthorize").unwrap(), 1);
        assert!(cmd.get("options").is_none());
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(cmd.get_binary_generic("payload").unwrap());
        assert_eq!(b64, "AHVzZXIAcGVuY2ls");
        assert_eq!(conv.handle_reply(&reply(true)).unwrap(), AuthStep::Done);
        assert!(conv.handle_reply(&reply(true)).is_err());
    }

    #[test]
    fn rejects_unfinished_and_failed_replies_without_leaking() {
        let pw = Password::new("s3cret-PLAIN-pw");
        let mut conv = PlainConversation::new("user", &pw, "$external").unwrap();
        let e = conv.handle_reply(&reply(false)).unwrap_err().to_string();
        assert!(e.contains("did not complete"), "{e}");
        let mut conv = PlainConversation::new("user", &pw, "$external").unwrap();
        let e = conv
            .handle_reply(&doc! { "ok": 0, "errmsg": "Authentication failed.", "code": 18 })
            .unwrap_err();
        assert!(e.to_string().contains("Authentication failed."));
        assert!(!format!("{e:?} {e}").contains("s3cret-PLAIN-pw"));
        let e = PlainConversation::new("user", &Password::new("a\0b"), "$external").unwrap_err();
        assert!(!format!("{e:?} {e}").contains("a\0b"));
        assert!(PlainConversation::new("u\0", &pw, "$external").is_err());
    }
}
