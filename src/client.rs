//! The client: the entry point of the API. This file is the handle; running operations
//! is the executor's (`client/executor.rs`).

mod executor;

pub(crate) use executor::SessionSlot;

use std::{fmt, sync::Arc};

use crate::{
    Database, Error, Result,
    conn::ConnectionConfig,
    event::EventHandler,
    options::{ClientOptions, ServerAddress},
    pool::{CmapEvent, PoolCounts},
    session::SessionPool,
    {selection::Criteria, topology::Topology},
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
/// let reply = client.database("admin").run_command(bson::doc! { "ping": 1 }).run()?;
/// assert_eq!(reply.get_f64("ok")?, 1.0);
/// println!("{:?}", client.list_database_names().run()?);
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
    pub fn with_uri_str(uri: impl AsRef<str>) -> Result<Client> {
        Client::with_options(ClientOptions::parse(uri.as_ref())?)
    }

    /// A client with the given options.
    ///
    /// # Errors
    /// Invalid options, or TLS files that cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::{ClientOptions, ListDatabasesOptions, ServerAddress}, Client};
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
    /// use greenmongo::{event::EventHandler, pool::CmapEvent, Client, ClientOptions};
    ///
    /// let checkouts = Arc::new(AtomicUsize::new(0));
    /// let counter = checkouts.clone();
    /// let client = Client::with_cmap_event_handler(
    ///     ClientOptions::parse("mongodb://localhost:27017/?maxPoolSize=20")?,
    ///     EventHandler::new(move |event: &CmapEvent| {
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
        handler: EventHandler<CmapEvent>,
    ) -> Result<Client> {
        Client::build(options, Some(handler))
    }

    fn build(
        mut options: ClientOptions,
        handler: Option<EventHandler<CmapEvent>>,
    ) -> Result<Client> {
        if options.needs_srv_resolution() {
            options.resolve_srv()?;
        }
        options.validate()?;
        if options.hosts.is_empty() {
            return Err(Error::invalid_argument("no hosts given"));
        }
        // Never silently: an option set that greenmongo cannot act on is said once.
        for unsupported in options.unsupported_settings() {
            tracing::warn!("{unsupported}");
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

    /// Closes the pools and stops the monitors (what [`Shutdown`](crate::action::Shutdown)
    /// runs once operations are done).
    pub(crate) fn close(&self) {
        self.inner.topology.shut_down();
    }

    /// Whether `other` is a handle to this same client.
    pub(crate) fn same_as(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The deployment's logical session timeout, once known (`None`: no sessions, or
    /// not discovered yet).
    pub(crate) fn session_timeout(&self) -> Option<std::time::Duration> {
        self.inner.topology.session_timeout()
    }

    /// A server session for an explicit session.
    pub(crate) fn check_out_server_session(
        &self,
        timeout: std::time::Duration,
    ) -> Result<crate::session::ServerSession> {
        self.inner.sessions.check_out(timeout)
    }

    /// Ends the idle server sessions on the server (`endSessions`, in batches of 10,000,
    /// the driver-sessions spec), so it need not wait for them to time out. Best effort,
    /// bounded by a second.
    pub(crate) fn end_pooled_sessions(&self) {
        let ids = self.inner.sessions.drain();
        if ids.is_empty() {
            return;
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
        crate::runtime::time::with_own_deadline(Some(until), || {
            for batch in ids.chunks(10_000) {
                let command = bson::doc! { "endSessions": batch.to_vec() };
                let op = crate::operation::RunCommand::with_read_preference(
                    "admin",
                    command,
                    crate::options::ReadPreference {
                        mode: crate::options::ReadPreferenceMode::PrimaryPreferred,
                        ..Default::default()
                    },
                    true,
                );
                if let Err(e) = self.execute_operation(op) {
                    tracing::debug!(%e, "endSessions failed; the server will time the sessions out");
                    return;
                }
            }
        });
    }

    /// Operations in flight: connections checked out, and checkouts waiting.
    pub(crate) fn operations_in_flight(&self) -> usize {
        self.inner.topology.in_use()
    }

    /// A snapshot of the deployment as the client's monitors see it (SDAM).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost:27017")?;
    /// client.list_database_names().run()?; // selection waits for the first checks
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

    /// The client's `timeoutMS`, which its databases and collections inherit.
    pub(crate) fn timeout(&self) -> Option<std::time::Duration> {
        self.inner.config.options.timeout
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

    /// Whether the deployment is one standalone server, which must not be sent
    /// `$readPreference`; waits for a server `pref` selects to know.
    pub(crate) fn is_standalone(&self, pref: &crate::options::ReadPreference) -> Result<bool> {
        use crate::sdam::{ServerType, TopologyType};
        self.select(&Criteria::Read(pref.clone()))?;
        let description = self.topology_description();
        Ok(description.topology_type() == TopologyType::Single
            && description
                .servers()
                .all(|s| s.server_type == ServerType::Standalone))
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
}
