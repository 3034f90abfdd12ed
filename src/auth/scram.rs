//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), as the MongoDB auth spec amends
//! them: no channel binding (`n,,`), usernames escaped but not SASLprep'd, SHA-1 over the
//! MD5 "mongo password digest", SHA-256 over the SASLprep'd password, at least 4096
//! iterations, `skipEmptyExchange`, and a cache of salted passwords.

use std::{fmt, sync::Arc};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use bson::{Bson, Document};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::{
    AuthStep, Password, SaslReply, sasl_continue, sasl_start, saslprep::saslprep_password,
};
use crate::{Error, Result};

mod cache;

use cache::CacheKey;
pub use cache::ScramCache;

/// The fewest PBKDF2 iterations a server may ask for (a lower count could be a downgrade).
pub(crate) const MIN_ITERATIONS: u32 = 4096;

/// Which SCRAM hash.
///
/// # Examples
///
/// ```
/// use greenmongo::auth::ScramVersion;
///
/// assert_eq!(ScramVersion::Sha256.mechanism_name(), "SCRAM-SHA-256");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramVersion {
    /// SCRAM-SHA-1.
    Sha1,
    /// SCRAM-SHA-256.
    Sha256,
}

impl ScramVersion {
    /// The SASL mechanism name.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{AuthMechanism, ScramVersion};
    ///
    /// assert_eq!(ScramVersion::Sha1.mechanism_name(), AuthMechanism::ScramSha1.as_str());
    /// ```
    pub fn mechanism_name(self) -> &'static str {
        match self {
            ScramVersion::Sha1 => "SCRAM-SHA-1",
            ScramVersion::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// The password as it enters PBKDF2: MongoDB's hex MD5 digest of `user:mongo:password`
    /// for SHA-1 (neither part SASLprep'd), the SASLprep'd password for SHA-256.
    fn prepare_password(self, username: &str, password: &Password) -> Result<Password> {
        Ok(match self {
            ScramVersion::Sha1 => {
                let mut md5 = Md5::new();
                md5.update(username.as_bytes());
                md5.update(b":mongo:");
                md5.update(password.expose().as_bytes());
                Password::new(hex(&md5.finalize()))
            }
            ScramVersion::Sha256 => Password::new(saslprep_password(password.expose())?),
        })
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("HMAC takes keys of any length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramVersion::Sha1 => run::<Hmac<Sha1>>(key, data),
            ScramVersion::Sha256 => run::<Hmac<Sha256>>(key, data),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramVersion::Sha1 => Sha1::digest(data).to_vec(),
            ScramVersion::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `Hi()` of RFC 5802: PBKDF2 with HMAC-H, one block.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramVersion::Sha1 => {
                let mut out = vec![0; 20];
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
                out
            }
            ScramVersion::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a conversation stands.
enum State {
    /// The client-first message is ready; waiting for the server-first reply.
    ServerFirstExpected,
    /// The client proof was sent; waiting for the server signature.
    ServerFinalExpected {
        conversation_id: Bson,
        server_signature: Vec<u8>,
    },
    /// The server is verified but did not say `done` (an old server without
    /// `skipEmptyExchange`); an empty `saslContinue` was sent.
    DoneExpected,
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::ServerFirstExpected => "ServerFirstExpected",
            State::ServerFinalExpected { .. } => "ServerFinalExpected",
            State::DoneExpected => "DoneExpected",
            State::Done => "Done",
            State::Failed => "Failed",
        }
    }
}

/// A SCRAM client conversation.
///
/// Send [`start_command`](Self::start_command) (or put
/// [`speculative_authenticate`](Self::speculative_authenticate) in the `hello`), then feed
/// each reply to [`handle_reply`](Self::handle_reply) until it returns [`AuthStep::Done`].
/// The server's signature is verified before the conversation counts as done.
///
/// # Examples
///
/// ```
/// use greenmongo::auth::{Password, ScramConversation, ScramVersion};
///
/// let conv = ScramConversation::new(ScramVersion::Sha1, "us=er,", &Password::new("pencil"), "admin")?;
/// let cmd = conv.start_command();
/// assert_eq!(cmd.get_str("mechanism")?, "SCRAM-SHA-1");
/// let payload = &cmd.get_binary_generic("payload")?;
/// assert!(payload.starts_with(b"n,,n=us=3Der=2C,r="));
/// assert!(!format!("{conv:?}").contains("pencil"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ScramConversation {
    version: ScramVersion,
    /// The username as given (the server looks it up unescaped).
    username: String,
    source: String,
    /// The password as PBKDF2 takes it (digest or SASLprep'd); as secret as the password.
    prepared_password: Password,
    client_nonce: String,
    /// `n=<escaped user>,r=<client nonce>`.
    client_first_bare: String,
    state: State,
    cache: Option<Arc<ScramCache>>,
}

impl fmt::Debug for ScramConversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramConversation")
            .field("version", &self.version)
            .field("username", &self.username)
            .field("source", &self.source)
            .field("password", &"<redacted>")
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl ScramConversation {
    /// Starts a conversation with a fresh random 24-byte nonce.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if SASLprep rejects
    /// the password (SHA-256) or the OS has no randomness to give.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, ScramConversation, ScramVersion};
    ///
    /// let conv = ScramConversation::new(ScramVersion::Sha256, "user", &Password::new("pencil"), "admin")?;
    /// assert_eq!(conv.source(), "admin");
    /// let err = ScramConversation::new(ScramVersion::Sha256, "user", &Password::new("\u{7}"), "admin")
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("SASLprep"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn new(
        version: ScramVersion,
        username: &str,
        password: &Password,
        source: &str,
    ) -> Result<ScramConversation> {
        let mut raw = [0u8; 24];
        getrandom::fill(&mut raw)
            .map_err(|e| Error::authentication(format!("could not generate a SCRAM nonce: {e}")))?;
        Self::with_nonce(version, username, password, source, BASE64.encode(raw))
    }

    /// [`new`](Self::new) with a given client nonce (for tests against known vectors).
    pub(crate) fn with_nonce(
        version: ScramVersion,
        username: &str,
        password: &Password,
        source: &str,
        client_nonce: String,
    ) -> Result<ScramConversation> {
        let prepared = version.prepare_password(username, password)?;
        Ok(Self::with_prepared_password(
            version,
            username,
            prepared,
            source,
            client_nonce,
        ))
    }

    /// A conversation over an already-prepared password and a given nonce: what RFC test
    /// vectors (which skip MongoDB's password digest) need.
    pub(crate) fn with_prepared_password(
        version: ScramVersion,
        username: &str,
        prepared_password: Password,
        source: &str,
        client_nonce: String,
    ) -> ScramConversation {
        let escaped = username.replace('=', "=3D").replace(',', "=2C");
        ScramConversation {
            version,
            username: username.to_owned(),
            source: source.to_owned(),
            prepared_password,
            client_first_bare: format!("n={escaped},r={client_nonce}"),
            client_nonce,
            state: State::ServerFirstExpected,
            cache: None,
        }
    }

    /// Uses `cache` for salted passwords.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenmongo::auth::{Password, ScramCache, ScramConversation, ScramVersion};
    ///
    /// let cache = Arc::new(ScramCache::new());
    /// let pw = Password::new("pencil");
    /// let a = ScramConversation::new(ScramVersion::Sha1, "u", &pw, "admin")?.with_cache(cache.clone());
    /// let b = ScramConversation::new(ScramVersion::Sha1, "u", &pw, "admin")?.with_cache(cache);
    /// # let _ = (a, b);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_cache(mut self, cache: Arc<ScramCache>) -> ScramConversation {
        self.cache = Some(cache);
        self
    }

    /// The authentication database.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, ScramConversation, ScramVersion};
    ///
    /// let conv = ScramConversation::new(ScramVersion::Sha1, "u", &Password::new("p"), "app")?;
    /// assert_eq!(conv.source(), "app");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn source(&self) -> &str {
        &self.source
    }

    /// SCRAM-SHA-1 or SCRAM-SHA-256.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, ScramConversation, ScramVersion};
    ///
    /// let conv = ScramConversation::new(ScramVersion::Sha1, "u", &Password::new("p"), "app")?;
    /// assert_eq!(conv.version(), ScramVersion::Sha1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn version(&self) -> ScramVersion {
        self.version
    }

    /// The `saslStart` command carrying the client-first message.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, ScramConversation, ScramVersion};
    ///
    /// let conv = ScramConversation::new(ScramVersion::Sha256, "u", &Password::new("p"), "admin")?;
    /// let cmd = conv.start_command();
    /// assert_eq!(cmd.get_str("mechanism")?, "SCRAM-SHA-256");
    /// assert!(cmd.get_document("options")?.get_bool("skipEmptyExchange")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_command(&self) -> Document {
        let payload = format!("n,,{}", self.client_first_bare).into_bytes();
        sasl_start(self.version.mechanism_name(), payload, true)
    }

    /// The `speculativeAuthenticate` document for `hello`: the `saslStart` command plus
    /// `db`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::{Password, ScramConversation, ScramVersion};
    ///
    /// let conv = ScramConversation::new(ScramVersion::Sha256, "u", &Password::new("p"), "admin")?;
    /// assert_eq!(conv.speculative_authenticate().get_str("db")?, "admin");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn speculative_authenticate(&self) -> Document {
        let mut cmd = self.start_command();
        cmd.insert("db", self.source.as_str());
        cmd
    }

    /// Consumes the reply to the last command (or the `hello` reply's
    /// `speculativeAuthenticate` document in place of the `saslStart` reply).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the server
    /// refused, sent a malformed message, a nonce that does not extend the client's, fewer
    /// than 4096 iterations or a wrong signature, or if the conversation is already over.
    /// After an error the conversation stays failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::{doc, spec::BinarySubtype, Binary};
    /// use greenmongo::auth::{Password, ScramConversation, ScramVersion};
    ///
    /// let mut conv = ScramConversation::new(ScramVersion::Sha256, "u", &Password::new("p"), "admin")?;
    /// // A server nonce that does not extend the client's is refused.
    /// let payload = Binary { subtype: BinarySubtype::Generic, bytes: b"r=evil,s=QQ==,i=4096".to_vec() };
    /// let reply = doc! { "conversationId": 1, "done": false, "payload": payload, "ok": 1 };
    /// let err = conv.handle_reply(&reply).unwrap_err();
    /// assert!(err.to_string().contains("does not start with the client nonce"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn handle_reply(&mut self, reply: &Document) -> Result<AuthStep> {
        if let State::Done = self.state {
            // A stray reply after success does not undo the success.
            return self.step(State::Done, reply).map(|(_, step)| step);
        }
        let state = std::mem::replace(&mut self.state, State::Failed);
        let (next, step) = self.step(state, reply)?;
        self.state = next;
        Ok(step)
    }

    fn step(&self, state: State, reply: &Document) -> Result<(State, AuthStep)> {
        let fail = |m: &str| {
            Err(Error::authentication(format!(
                "{}: {m}",
                self.version.mechanism_name()
            )))
        };
        match state {
            State::ServerFirstExpected => {
                let reply = SaslReply::parse(reply)?;
                if reply.done {
                    return fail("server ended the conversation before verifying the client");
                }
                let (client_final, server_signature) = self.client_final(&reply.payload)?;
                let cmd = sasl_continue(reply.conversation_id.clone(), client_final.into_bytes());
                let next = State::ServerFinalExpected {
                    conversation_id: reply.conversation_id,
                    server_signature,
                };
                Ok((next, AuthStep::Continue(cmd)))
            }
            State::ServerFinalExpected {
                conversation_id,
                server_signature,
            } => {
                let reply = SaslReply::parse(reply)?;
                self.verify_server_final(&reply.payload, &server_signature)?;
                if reply.done {
                    Ok((State::Done, AuthStep::Done))
                } else {
                    let cmd = sasl_continue(conversation_id, Vec::new());
                    Ok((State::DoneExpected, AuthStep::Continue(cmd)))
                }
            }
            State::DoneExpected => {
                if SaslReply::parse(reply)?.done {
                    Ok((State::Done, AuthStep::Done))
                } else {
                    fail("server did not finish the conversation after verification")
                }
            }
            State::Done => fail("the conversation is already complete"),
            State::Failed => fail("the conversation already failed"),
        }
    }

    /// Builds the client-final message from the server-first message; returns it with the
    /// server signature to expect.
    fn client_final(&self, server_first: &[u8]) -> Result<(String, Vec<u8>)> {
        let (
            server_first,
            ServerFirst {
                nonce,
                salt,
                iterations,
            },
        ) = self.check_server_first(server_first)?;

        let v = self.version;
        let password = self.prepared_password.expose().as_bytes();
        let compute = || v.salted_password(password, &salt, iterations);
        let salted = match &self.cache {
            Some(cache) => cache.get_or_compute(
                CacheKey {
                    version: v,
                    password_digest: Sha256::digest(password).to_vec(),
                    salt: salt.clone(),
                    iterations,
                },
                compute,
            ),
            None => compute(),
        };

        let client_key = v.hmac(&salted, b"Client Key");
        let stored_key = v.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = v.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = v.hmac(&salted, b"Server Key");
        let server_signature = v.hmac(&server_key, auth_message.as_bytes());
        let client_final = format!("{without_proof},p={}", BASE64.encode(proof));
        Ok((client_final, server_signature))
    }

    /// Parses the server-first message and checks what can be checked before PBKDF2: the
    /// nonce extends ours, and the iteration count is at least [`MIN_ITERATIONS`].
    fn check_server_first<'m>(&self, server_first: &'m [u8]) -> Result<(&'m str, ServerFirst<'m>)> {
        let name = self.version.mechanism_name();
        let err = |m: String| Error::authentication(format!("{name}: {m}"));
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| err("server-first-message is not UTF-8".into()))?;
        let parsed = ServerFirst::parse(server_first).map_err(err)?;
        if !parsed.nonce.starts_with(&self.client_nonce) {
            return Err(err(
                "server nonce does not start with the client nonce".into()
            ));
        }
        if parsed.iterations < MIN_ITERATIONS {
            return Err(err(format!(
                "server asked for {} iterations, fewer than the minimum of {MIN_ITERATIONS}",
                parsed.iterations
            )));
        }
        Ok((server_first, parsed))
    }

    fn verify_server_final(&self, payload: &[u8], expected: &[u8]) -> Result<()> {
        let name = self.version.mechanism_name();
        let err = |m: &str| Error::authentication(format!("{name}: {m}"));
        let text =
            std::str::from_utf8(payload).map_err(|_| err("server-final-message is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(e) = first.strip_prefix("e=") {
            return Err(err(&format!("server reported error {e:?}")));
        }
        let Some(v) = first.strip_prefix("v=") else {
            return Err(err("server-final-message has no verifier (v=)"));
        };
        let signature = BASE64
            .decode(v)
            .map_err(|_| err("server signature is not valid base64"))?;
        if !constant_time_eq(&signature, expected) {
            return Err(err(
                "server signature is wrong: the server does not know the password",
            ));
        }
        Ok(())
    }
}

/// The parts of a server-first message.
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    /// Parses `r=<nonce>,s=<salt>,i=<count>[,extensions]`.
    fn parse(message: &'a str) -> std::result::Result<ServerFirst<'a>, String> {
        if message.starts_with("m=") {
            return Err("server requires an unsupported mandatory extension (m=)".into());
        }
        let mut parts = message.split(',');
        let mut field = |key: &str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(key))
                .ok_or_else(|| format!("server-first-message has no {key} field where expected"))
        };
        let nonce = field("r=")?;
        let salt = field("s=")?;
        let iterations = field("i=")?;
        if nonce.is_empty() {
            return Err("server nonce is empty".into());
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| "salt is not valid base64".to_owned())?;
        let iterations = iterations
            .parse()
            .map_err(|_| format!("iteration count {iterations:?} is not a number"))?;
        Ok(ServerFirst {
            nonce,
            salt,
            iterations,
        })
    }
}

/// The client nonce of [`parse_server_messages`]'s conversation: a server-first message
/// must start its nonce with it to get past the nonce check.
pub(crate) const FUZZ_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";

/// Feeds `data` to the parsers of the server's SCRAM messages, for
/// [`crate::fuzzing::scram_server_messages`]: as a server-first message, checked as a
/// SCRAM-SHA-256 conversation with the client nonce [`FUZZ_CLIENT_NONCE`] would check it
/// (everything up to the PBKDF2 that follows), and as a server-final message. Returns
/// whether either accepted it.
pub(crate) fn parse_server_messages(data: &[u8]) -> bool {
    let conversation = ScramConversation::with_prepared_password(
        ScramVersion::Sha256,
        "user",
        Password::new("pencil"),
        "admin",
        FUZZ_CLIENT_NONCE.to_owned(),
    );
    let first = conversation.check_server_first(data).is_ok();
    let last = conversation.verify_server_final(data, &[0; 32]).is_ok();
    first || last
}

/// Compares in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
