//! `Client::start_session`.

use crate::{
    Client, ClientSession, Error, Result,
    options::{SessionOptions, TransactionOptions},
    selection::Criteria,
};

impl Client {
    /// Starts an explicit session; `.run()` returns the [`ClientSession`], to lend to
    /// operations with `.session(&mut session)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let session = client.start_session().causal_consistency(true).run()?;
    /// # let _ = session;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn start_session(&self) -> StartSession<'_> {
        StartSession {
            client: self,
            options: None,
        }
    }
}

/// Starts a session, made by [`Client::start_session`]; ends in
/// [`run`](StartSession::run).
///
/// # Examples
///
/// ```no_run
/// use greenmongo::options::{ReadConcern, TransactionOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let session = client
///     .start_session()
///     .default_transaction_options(TransactionOptions::builder().read_concern(ReadConcern::majority()).build())
///     .run()?;
/// # let _ = session;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct StartSession<'a> {
    client: &'a Client,
    options: Option<SessionOptions>,
}

impl StartSession<'_> {
    option_setters!(SessionOptions;
        example("client: Client") "client.start_session()";
        causal_consistency: (bool),
        default_transaction_options: (TransactionOptions),
        snapshot: (bool),
        snapshot_time: (bson::Timestamp),
    );

    /// Starts the session. Waits for the deployment to be discovered, to know it
    /// supports sessions.
    ///
    /// # Errors
    /// `causal_consistency` and `snapshot` both set; the deployment does not support
    /// sessions (no `logicalSessionTimeoutMinutes`); server selection errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let err = client.start_session().snapshot(true).causal_consistency(true).run().unwrap_err();
    /// assert!(err.to_string().contains("mutually exclusive"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<ClientSession> {
        let options = self.options.unwrap_or_default();
        if options.snapshot == Some(true) && options.causal_consistency == Some(true) {
            return Err(Error::invalid_argument(
                "causal_consistency and snapshot are mutually exclusive",
            ));
        }
        if options.snapshot_time.is_some() && options.snapshot != Some(true) {
            return Err(Error::invalid_argument(
                "snapshot_time needs a snapshot session (snapshot: true)",
            ));
        }
        let client = self.client;
        let timeout = match client.session_timeout() {
            Some(timeout) => timeout,
            None => {
                client.select(&Criteria::Read(crate::options::ReadPreference {
                    mode: crate::options::ReadPreferenceMode::PrimaryPreferred,
                    ..Default::default()
                }))?;
                client.session_timeout().ok_or_else(|| {
                    Error::invalid_argument("this deployment does not support sessions")
                })?
            }
        };
        let server_session = client.check_out_server_session(timeout)?;
        Ok(ClientSession::new(client.clone(), server_session, options))
    }
}
