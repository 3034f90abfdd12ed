//! MONGODB-X509: one `authenticate` command; the TLS client certificate is the credential.

use bson::{Document, doc};

use super::{AuthStep, check_ok};
use crate::{Error, Result};

/// A MONGODB-X509 conversation.
///
/// The username is optional (servers 3.4+ take it from the certificate) and is sent only
/// if given. The source is always `$external`.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::auth::{AuthStep, X509Conversation};
///
/// let mut conv = X509Conversation::new(None);
/// assert_eq!(conv.start_command(), doc! { "authenticate": 1, "mechanism": "MONGODB-X509" });
/// let reply = doc! { "dbname": "$external", "user": "CN=client,O=MongoDB", "ok": 1 };
/// assert_eq!(conv.handle_reply(&reply)?, AuthStep::Done);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct X509Conversation {
    username: Option<String>,
    done: bool,
}

impl X509Conversation {
    /// A conversation for the certificate's subject, or for `username` if given.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::X509Conversation;
    ///
    /// let conv = X509Conversation::new(Some("CN=client,O=MongoDB"));
    /// assert_eq!(conv.start_command().get_str("user")?, "CN=client,O=MongoDB");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(username: Option<&str>) -> X509Conversation {
        X509Conversation {
            username: username.map(str::to_owned),
            done: false,
        }
    }

    /// Always `$external`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenmongo::auth::X509Conversation::new(None).source(), "$external");
    /// ```
    pub fn source(&self) -> &str {
        "$external"
    }

    /// The `authenticate` command.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::X509Conversation;
    ///
    /// let cmd = X509Conversation::new(None).start_command();
    /// assert_eq!(cmd.get_str("mechanism")?, "MONGODB-X509");
    /// assert!(cmd.get("user").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_command(&self) -> Document {
        let mut cmd = doc! { "authenticate": 1, "mechanism": "MONGODB-X509" };
        if let Some(user) = &self.username {
            cmd.insert("user", user.as_str());
        }
        cmd
    }

    /// The `speculativeAuthenticate` document for `hello`: the command plus `db`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::X509Conversation;
    ///
    /// let spec = X509Conversation::new(None).speculative_authenticate();
    /// assert_eq!(spec.get_str("db")?, "$external");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn speculative_authenticate(&self) -> Document {
        let mut cmd = self.start_command();
        cmd.insert("db", "$external");
        cmd
    }

    /// Consumes the `authenticate` reply (or the `hello` reply's `speculativeAuthenticate`
    /// document).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the server said
    /// `ok: 0` or the conversation was already complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::auth::X509Conversation;
    ///
    /// let mut conv = X509Conversation::new(None);
    /// let err = conv.handle_reply(&doc! { "ok": 0, "errmsg": "no certificate" }).unwrap_err();
    /// assert!(err.to_string().contains("no certificate"));
    /// ```
    pub fn handle_reply(&mut self, reply: &Document) -> Result<AuthStep> {
        if self.done {
            return Err(Error::authentication(
                "MONGODB-X509: the conversation is already complete",
            ));
        }
        check_ok(reply)?;
        self.done = true;
        Ok(AuthStep::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_the_username_only_when_given() {
        let subject = "C=IS,ST=Reykjavik,L=Reykjavik,O=MongoDB,OU=Drivers,CN=client";
        let conv = X509Conversation::new(Some(subject));
        assert_eq!(
            conv.start_command(),
            doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "user": subject }
        );
        assert_eq!(
            conv.speculative_authenticate(),
            doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "user": subject, "db": "$external" }
        );
        assert_eq!(
            X509Conversation::new(None).speculative_authenticate(),
            doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "db": "$external" }
        );
    }

    #[test]
    fn server_refusal_is_an_authentication_error() {
        let mut conv = X509Conversation::new(None);
        let e = conv
            .handle_reply(&doc! { "ok": 0.0, "errmsg": "No verified subject name", "code": 18 })
            .unwrap_err();
        assert!(matches!(*e.kind, crate::ErrorKind::Authentication { .. }));
        assert!(e.to_string().contains("No verified subject name (code 18)"));
        assert_eq!(
            conv.handle_reply(&doc! { "ok": 1 }).unwrap(),
            AuthStep::Done
        );
        assert!(conv.handle_reply(&doc! { "ok": 1 }).is_err());
    }
}
