//! The client: the entry point of the API.

use std::{
    collections::{hash_map::Entry, HashMap},
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use bson::{doc, Document};

use crate::{
    conn::{Connection, ConnectionConfig},
    options::{ClientOptions, ServerAddress},
    pool::{EventHandler, Pool, PoolCounts, PoolOptions},
    Database, Error, Result,
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
/// let reply = client.database("admin").run_command(bson::doc! { "ping": 1 })?;
/// assert_eq!(reply.get_f64("ok")?, 1.0);
/// println!("{:?}", client.list_database_names()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    config: Arc<ConnectionConfig>,
    /// The pool options every pool of this client shares (CMAP: client-level options).
    pool_options: PoolOptions,
    /// One connection pool per server, created on first use. The std mutex is held only
    /// to look up or insert, never across I/O.
    pools: Mutex<HashMap<ServerAddress, Arc<Pool<Connection>>>>,
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
    pub fn with_uri_str(uri: &str) -> Result<Client> {
        Client::with_options(ClientOptions::parse(uri)?)
    }

    /// A client with the given options.
    ///
    /// # Errors
    /// Invalid options, or TLS files that cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::{ClientOptions, ServerAddress}, Client};
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
    /// use greenmongo::{pool::CmapEvent, Client, ClientOptions};
    ///
    /// let checkouts = Arc::new(AtomicUsize::new(0));
    /// let counter = checkouts.clone();
    /// let client = Client::with_cmap_event_handler(
    ///     ClientOptions::parse("mongodb://localhost:27017/?maxPoolSize=20")?,
    ///     Arc::new(move |event: &CmapEvent| {
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
        handler: EventHandler,
    ) -> Result<Client> {
        Client::build(options, Some(handler))
    }

    fn build(options: ClientOptions, handler: Option<EventHandler>) -> Result<Client> {
        options.validate()?;
        if options.hosts.is_empty() {
            return Err(Error::invalid_argument(match &options.srv_host {
                Some(host) => format!(
                    "mongodb+srv://{host}: SRV resolution is not implemented yet; list the hosts \
                     with mongodb://"
                ),
                None => "no hosts given".to_owned(),
            }));
        }
        let mut pool_options = PoolOptions::from_client_options(&options);
        pool_options.event_handler = handler;
        Ok(Client {
            inner: Arc::new(ClientInner {
                config: Arc::new(ConnectionConfig::new(options)?),
                pool_options,
                pools: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.config.options
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

    /// The names of all databases.
    ///
    /// # Errors
    /// Network, authentication and server errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for name in client.list_database_names()? {
    ///     println!("{name}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_database_names(&self) -> Result<Vec<String>> {
        let reply = self.run_command("admin", doc! { "listDatabases": 1, "nameOnly": true })?;
        let databases = reply
            .get_array("databases")
            .map_err(|_| Error::invalid_response("listDatabases reply has no databases array"))?;
        Ok(databases
            .iter()
            .filter_map(|d| d.as_document()?.get_str("name").ok().map(str::to_owned))
            .collect())
    }

    /// The connection counts of the pool for `address`, or `None` before the client
    /// first used that server.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, Client};
    ///
    /// let client = Client::with_uri_str("mongodb://localhost:27017")?;
    /// assert!(client.pool_counts(&ServerAddress::tcp("localhost", 27017)).is_none());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn pool_counts(&self, address: &ServerAddress) -> Option<PoolCounts> {
        let pool = self.lock_pools().get(address).cloned();
        pool.map(|pool| pool.counts())
    }

    /// The connection pool for `address`, created (and marked ready) on first use.
    ///
    /// Until server discovery and monitoring (SDAM) arrives, nothing checks the server
    /// and marks the pool ready again after a clear, so the client marks new pools ready
    /// itself and does not clear them on errors.
    pub(crate) fn pool(&self, address: &ServerAddress) -> Arc<Pool<Connection>> {
        if let Some(pool) = self.lock_pools().get(address) {
            return pool.clone();
        }
        // Created outside the lock: creating emits events, and the handler may call back
        // into the client. Two threads racing here both create one; the loser's pool is
        // dropped (closed) unused.
        let config = self.inner.config.clone();
        let pool = Arc::new(Pool::new(
            address.clone(),
            self.inner.pool_options.clone(),
            move |address: &ServerAddress, _generation| Connection::connect(address, &config),
        ));
        pool.ready();
        let (pool, loser) = match self.lock_pools().entry(address.clone()) {
            Entry::Occupied(entry) => (entry.get().clone(), Some(pool)),
            Entry::Vacant(entry) => (entry.insert(pool).clone(), None),
        };
        drop(loser);
        pool
    }

    fn lock_pools(&self) -> MutexGuard<'_, HashMap<ServerAddress, Arc<Pool<Connection>>>> {
        self.inner
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a command on a pooled connection, on the first host of the seed list that
    /// gives one (server selection arrives with SDAM). A connection whose command failed
    /// or was interrupted is closed instead of pooled.
    pub(crate) fn run_command(&self, db: &str, command: Document) -> Result<Document> {
        let mut last = None;
        for address in &self.inner.config.options.hosts {
            match self.pool(address).check_out() {
                Ok(mut conn) => return conn.command(db, command),
                Err(e) if e.is_network_error() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid_argument("no hosts given")))
    }
}
