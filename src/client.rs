//! The client: the entry point of the API.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use bson::{doc, Document};

use crate::{
    conn::{Connection, ConnectionConfig},
    options::ClientOptions,
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
    config: ConnectionConfig,
    /// Idle connections. The std mutex is held only to push or pop, never across I/O.
    idle: Mutex<Vec<Connection>>,
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
        Ok(Client {
            inner: Arc::new(ClientInner {
                config: ConnectionConfig::new(options)?,
                idle: Mutex::new(Vec::new()),
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

    /// Runs a command on a pooled connection; a connection that failed or was interrupted
    /// is closed instead of pooled.
    pub(crate) fn run_command(&self, db: &str, command: Document) -> Result<Document> {
        let mut conn = self.check_out()?;
        let result = conn.command(db, command);
        self.check_in(conn);
        result
    }

    fn check_out(&self) -> Result<Connection> {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    /// Opens a connection to the first host that accepts one. (Server discovery and
    /// selection arrive with the SDAM work; until then the seed list is tried in order.)
    fn connect(&self) -> Result<Connection> {
        let mut last = None;
        for address in &self.inner.config.options.hosts {
            match Connection::connect(address, &self.inner.config) {
                Ok(conn) => return Ok(conn),
                Err(e) if e.is_network_error() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid_argument("no hosts given")))
    }

    fn check_in(&self, conn: Connection) {
        if !conn.is_reusable() {
            return; // dropped: closes the socket
        }
        let limit = self
            .inner
            .config
            .options
            .max_pool_size
            .unwrap_or(100)
            .max(1) as usize;
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < limit {
            idle.push(conn);
        }
    }
}
