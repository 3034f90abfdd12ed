//! Client options: everything a connection string can say, as typed values.
//!
//! Implements the option set of the URI Options spec. [`ClientOptions::parse`] builds them
//! from a connection string (see [`crate::uri`]); they can also be built in code from
//! [`ClientOptions::default`] by setting fields, then checked with
//! [`ClientOptions::validate`].
//!
//! Durations are [`Duration`]s; where the spec gives zero a special meaning ("no timeout",
//! "no limit") the field's docs say so, and the zero is kept as is.

#[macro_use]
mod setters;

mod address;
mod admin;
mod bulk_write;
mod collation;
mod concern;
mod credential;
mod crud;
mod read_preference;
mod resolver;
mod server_api;
mod session;
mod tls;

use std::{fmt, str::FromStr, time::Duration};

pub use crate::change_stream::options::{
    ChangeStreamOptions, FullDocumentBeforeChangeType, FullDocumentType,
};
pub use crate::gridfs::{
    GridFsBucketOptions, GridFsDownloadByNameOptions, GridFsFindOneOptions, GridFsFindOptions,
    GridFsUploadOptions,
};
pub use crate::timeout::TimeoutMode;
pub use address::{DEFAULT_PORT, ServerAddress};
pub use admin::{
    CreateCollectionOptions, CreateIndexOptions, DropCollectionOptions, DropDatabaseOptions,
    DropIndexOptions, IndexModel, IndexOptions, ListCollectionsOptions, ListDatabasesOptions,
    ListIndexesOptions,
};
pub use bulk_write::{
    BulkWriteOptions, CollectionWriteModel, DeleteManyModel, DeleteOneModel, InsertOneModel,
    ReplaceOneModel, UpdateManyModel, UpdateModifications, UpdateOneModel, WriteModel,
    WriteModelOptions,
};
pub use collation::{
    Collation, CollationAlternate, CollationCaseFirst, CollationMaxVariable, CollationStrength,
};
pub use concern::{Acknowledgment, ReadConcern, ReadConcernLevel, WriteConcern};
pub use credential::{AuthMechanism, Credential, DEFAULT_GSSAPI_SERVICE_NAME, EXTERNAL_SOURCE};
pub(crate) use crud::FindAndModifyOptions;
pub use crud::{
    AggregateOptions, CountOptions, CursorType, DeleteOptions, DistinctOptions,
    EstimatedDocumentCountOptions, FindOneAndDeleteOptions, FindOneAndReplaceOptions,
    FindOneAndUpdateOptions, FindOneOptions, FindOptions, Hint, InsertManyOptions,
    InsertOneOptions, ReplaceOptions, ReturnDocument, RunCursorCommandOptions, UpdateOptions,
};
pub use read_preference::{ReadPreference, ReadPreferenceMode, SelectionCriteria, TagSet};
pub use resolver::ResolverConfig;
pub use server_api::{ServerApi, ServerApiBuilder, ServerApiVersion};
pub use session::{SessionOptions, TransactionOptions};
pub use tls::TlsOptions;

use crate::{Error, Result};

/// How a client connects and what it defaults to.
///
/// Every option is `None` when not given, so a user's choice can be told apart from the
/// driver's default (which the component that uses the option applies).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::{options::ServerAddress, ClientOptions};
///
/// let opts = ClientOptions::parse(
///     "mongodb://alice:secret@db1.example.com,db2.example.com:27018/app?replicaSet=rs0&w=majority&connectTimeoutMS=2500",
/// )?;
/// assert_eq!(opts.hosts, [ServerAddress::tcp("db1.example.com", 27017), ServerAddress::tcp("db2.example.com", 27018)]);
/// assert_eq!(opts.repl_set_name.as_deref(), Some("rs0"));
/// assert_eq!(opts.connect_timeout, Some(Duration::from_millis(2500)));
/// let cred = opts.credential.as_ref().unwrap();
/// assert_eq!(cred.source.as_deref(), Some("app"));
/// assert!(!format!("{opts:?}").contains("secret"));
///
/// // Or in code:
/// let mut opts = ClientOptions::default();
/// opts.app_name = Some("reporting".into());
/// opts.validate()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The seed list. `localhost:27017` by default; empty for a `mongodb+srv` connection
    /// string until [`resolve_srv`](Self::resolve_srv) (or
    /// [`apply_srv_records`](Self::apply_srv_records)) fills it in.
    pub hosts: Vec<ServerAddress>,
    /// The host name of a `mongodb+srv` connection string, kept after resolution for SRV
    /// polling. See [`needs_srv_resolution`](Self::needs_srv_resolution).
    pub srv_host: Option<String>,
    /// `srvServiceName`: the SRV service name (`mongodb` when `None`).
    pub srv_service_name: Option<String>,
    /// `srvMaxHosts`: how many SRV results to use at most; zero means all.
    pub srv_max_hosts: Option<u32>,
    /// The nameservers that resolve a `mongodb+srv` connection string (code only, not a
    /// URI option); `None` means the system's, from [`ResolverConfig::system`].
    pub resolver_config: Option<ResolverConfig>,
    /// A test hook, not a setting: how often SRV polling looks up the SRV records again
    /// (`rescanSRVIntervalMS`), whatever their TTLs and whether the last lookup failed.
    /// `None`, the default, follows the Polling SRV Records spec: the records' smallest
    /// TTL but at least 60 seconds, and `heartbeatFrequencyMS` after a failed lookup.
    /// The spec wants no knob here; tests set it so as not to wait a minute. At least
    /// 10 ms.
    #[doc(hidden)]
    pub srv_rescan_interval: Option<Duration>,
    /// The database named in the connection string's path.
    pub default_database: Option<String>,
    /// Authentication; `None` means the client does not authenticate.
    pub credential: Option<Credential>,
    /// `appname`: sent in the handshake (at most 128 bytes).
    pub app_name: Option<String>,
    /// `replicaSet`: the replica set name to require.
    pub repl_set_name: Option<String>,
    /// `directConnection`: talk to the single seed only, whatever its type.
    pub direct_connection: Option<bool>,
    /// `loadBalanced`: the seed is a load balancer in front of mongoses.
    pub load_balanced: Option<bool>,
    /// The `tls*` options.
    pub tls: TlsOptions,
    /// `connectTimeoutMS`: limit on opening a socket and the handshake, and on each check
    /// of a server monitor; zero means none, unset means 10 seconds.
    pub connect_timeout: Option<Duration>,
    /// `socketTimeoutMS` (deprecated in favour of `timeoutMS`): limit on each socket read
    /// or write of an operation; zero means none.
    pub socket_timeout: Option<Duration>,
    /// `serverSelectionTimeoutMS`: how long server selection may block.
    pub server_selection_timeout: Option<Duration>,
    /// `serverSelectionTryOnce`: single-threaded drivers' "scan once, then fail" mode.
    pub server_selection_try_once: Option<bool>,
    /// `heartbeatFrequencyMS`: interval between server checks (at least 500 ms).
    pub heartbeat_frequency: Option<Duration>,
    /// `localThresholdMS`: width of the latency window for server selection.
    pub local_threshold: Option<Duration>,
    /// `serverMonitoringMode`: how each server's monitor learns of changes (the Server
    /// Monitoring spec). [`Stream`](ServerMonitoringMode::Stream): once the server's
    /// `hello` carries a `topologyVersion` (MongoDB 4.4+), the monitor sends one awaitable
    /// `hello` and the server then reports every change as it happens (and at least every
    /// `heartbeatFrequencyMS`) on that connection, while a second connection times a
    /// plain `hello` every `heartbeatFrequencyMS` for the round-trip times. A server
    /// that goes away is seen in milliseconds instead of at the next poll.
    /// [`Poll`](ServerMonitoringMode::Poll): one `hello` every `heartbeatFrequencyMS`
    /// (sooner after an error), one connection per server.
    /// [`Auto`](ServerMonitoringMode::Auto), the default (`None`): stream, except on a
    /// FaaS platform (AWS Lambda, Azure Functions, Google Cloud Functions / Cloud Run,
    /// Vercel, detected from their environment variables), where a frozen function would
    /// hold connections open for nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerMonitoringMode, ClientOptions};
    ///
    /// let options = ClientOptions::parse("mongodb://localhost/?serverMonitoringMode=poll")?;
    /// assert_eq!(options.server_monitoring_mode, Some(ServerMonitoringMode::Poll));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub server_monitoring_mode: Option<ServerMonitoringMode>,
    /// `timeoutMS`: how long each operation may take in all, from server selection to
    /// the last byte of its reply, every retry, batch and `getMore` of a cursor's
    /// lifetime included (the Client Side Operations Timeout spec); the server gets what
    /// is left as `maxTimeMS`. Its databases, collections, sessions and GridFS buckets
    /// inherit it; they and each operation (`.timeout(d)`) can set their own. When it
    /// runs out the operation fails with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
    /// wrapping what it was waiting on. While it is in force `socketTimeoutMS`,
    /// `waitQueueTimeoutMS`, `wTimeoutMS` and the operations' `maxTimeMS` give way to it.
    /// Zero means no limit. A deadline set around driver code with
    /// [`with_timeout`](crate::runtime::time::with_timeout) acts the same way.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use bson::{doc, Document};
    /// use greenmongo::{runtime::time::with_timeout, Client};
    ///
    /// let client = Client::with_uri_str("mongodb://localhost/?timeoutMS=500")?;
    /// assert_eq!(client.options().timeout, Some(Duration::from_millis(500)));
    /// let items = client.database("shop").collection::<Document>("items");
    /// items.find_one(doc! {}).run()?; // within 500 ms, or ErrorKind::Timeout
    /// items.find_one(doc! {}).timeout(Duration::from_secs(5)).run()?; // this one: 5 s
    /// // Any deadline of the caller's bounds every operation inside it, as maxTimeMS too:
    /// with_timeout(Duration::from_millis(100), || items.insert_one(doc! { "x": 1 }).run())?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub timeout: Option<Duration>,
    /// `maxPoolSize`: connections per server at most; zero means no limit.
    pub max_pool_size: Option<u32>,
    /// `minPoolSize`: connections per server to keep open.
    pub min_pool_size: Option<u32>,
    /// `maxConnecting`: connections per server being established at once (at least 1).
    pub max_connecting: Option<u32>,
    /// `maxIdleTimeMS`: close pooled connections idle this long; zero means never.
    pub max_idle_time: Option<Duration>,
    /// `waitQueueTimeoutMS` (deprecated in favour of `timeoutMS`): limit on waiting for a
    /// pooled connection.
    pub wait_queue_timeout: Option<Duration>,
    /// `readPreference`, `readPreferenceTags` and `maxStalenessSeconds`.
    pub read_preference: Option<ReadPreference>,
    /// `readConcernLevel`.
    pub read_concern: Option<ReadConcern>,
    /// `w`, `wTimeoutMS` and `journal`.
    pub write_concern: Option<WriteConcern>,
    /// `retryReads`.
    pub retry_reads: Option<bool>,
    /// `retryWrites`.
    pub retry_writes: Option<bool>,
    /// `maxAdaptiveRetries`: retry budget of the client backpressure spec.
    pub max_adaptive_retries: Option<u32>,
    /// `enableOverloadRetargeting`: retry an overloaded server's operations elsewhere.
    pub enable_overload_retargeting: Option<bool>,
    /// `compressors`: wire compressors to offer, in order of preference.
    pub compressors: Option<Vec<Compressor>>,
    /// `zlibCompressionLevel`: -1 (zlib's default) to 9.
    pub zlib_compression_level: Option<i32>,
    /// `proxyHost`, `proxyPort`, `proxyUsername`, `proxyPassword`: a SOCKS5 proxy that
    /// every TCP connection goes through, monitors' and pools' alike (see
    /// [`ProxyOptions`]).
    pub proxy: Option<ProxyOptions>,
    /// The Stable API the client declares: sent with every command (the versioned-api
    /// spec). Set in code only; the spec forbids a connection-string option, so that a
    /// copied URI cannot change the API an application was written against. A
    /// `run_command` document that declares API fields of its own is sent as written
    /// (declaring both is undefined by the spec); see [`ServerApi`].
    pub server_api: Option<ServerApi>,
    /// Called for every command the client sends (not the handshake's): started,
    /// succeeded, failed. Set in code; the connection string cannot.
    pub command_event_handler: Option<crate::event::EventHandler<crate::event::CommandEvent>>,
    /// Called for every SDAM event (topology and server openings, description changes,
    /// closings), from the monitor or operation that caused it. Set in code.
    pub sdam_event_handler: Option<crate::event::EventHandler<crate::sdam::SdamEvent>>,
    /// What the connection string parser ignored, one message per problem: unknown
    /// options, invalid values, repeated keys, deprecated spellings. The Connection String
    /// spec requires these to be warnings, not errors; the client logs them. Empty for
    /// options built in code.
    pub warnings: Vec<String>,
}

impl Default for ClientOptions {
    /// No options set; the seed list is `localhost:27017`.
    fn default() -> Self {
        ClientOptions {
            hosts: vec![ServerAddress::default()],
            srv_host: None,
            srv_service_name: None,
            srv_max_hosts: None,
            resolver_config: None,
            srv_rescan_interval: None,
            default_database: None,
            credential: None,
            app_name: None,
            repl_set_name: None,
            direct_connection: None,
            load_balanced: None,
            tls: TlsOptions::default(),
            connect_timeout: None,
            socket_timeout: None,
            server_selection_timeout: None,
            server_selection_try_once: None,
            heartbeat_frequency: None,
            local_threshold: None,
            server_monitoring_mode: None,
            timeout: None,
            max_pool_size: None,
            min_pool_size: None,
            max_connecting: None,
            max_idle_time: None,
            wait_queue_timeout: None,
            read_preference: None,
            read_concern: None,
            write_concern: None,
            retry_reads: None,
            retry_writes: None,
            max_adaptive_retries: None,
            enable_overload_retargeting: None,
            compressors: None,
            zlib_compression_level: None,
            proxy: None,
            server_api: None,
            command_event_handler: None,
            sdam_event_handler: None,
            warnings: Vec::new(),
        }
    }
}

impl ClientOptions {
    /// The options set here that greenmongo cannot act on, each with why: a client logs
    /// them (a `tracing` warning) when it is created, so none is silently ignored. The
    /// URI Options spec makes them valid in a connection string, so parsing does not warn.
    ///
    /// - `serverSelectionTryOnce`: for single-threaded drivers only; greenmongo's server
    ///   selection waits for the topology to change until `serverSelectionTimeoutMS`.
    /// - `maxAdaptiveRetries`, `enableOverloadRetargeting`: the client backpressure spec is
    ///   not implemented.
    /// - `authMechanismProperties`: the mechanisms that take properties are not supported.
    /// - `tlsDisableOCSPEndpointCheck`, `tlsDisableCertificateRevocationCheck`:
    ///   greenmongo (rustls, without CRLs) never checks revocation nor contacts OCSP
    ///   responders, whatever their value.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// let options = ClientOptions::parse("mongodb://localhost/?maxAdaptiveRetries=3")?;
    /// assert!(options.warnings.is_empty());
    /// assert!(options.unsupported_settings()[0].contains("maxAdaptiveRetries"));
    /// assert!(ClientOptions::parse("mongodb://localhost/?appName=a")?.unsupported_settings().is_empty());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn unsupported_settings(&self) -> Vec<String> {
        let mut said = Vec::new();
        let mut say = |set: bool, option: &str, why: &str| {
            if set {
                said.push(format!("option {option} has no effect: {why}"));
            }
        };
        say(
            self.server_selection_try_once.is_some(),
            "serverSelectionTryOnce",
            "it is for single-threaded drivers; greenmongo waits for a suitable server until serverSelectionTimeoutMS",
        );
        let backpressure =
            "greenmongo does not implement the client backpressure spec (overload retries)";
        say(
            self.max_adaptive_retries.is_some(),
            "maxAdaptiveRetries",
            backpressure,
        );
        say(
            self.enable_overload_retargeting.is_some(),
            "enableOverloadRetargeting",
            backpressure,
        );
        say(
            self.credential
                .as_ref()
                .is_some_and(|c| c.mechanism_properties.is_some()),
            "authMechanismProperties",
            "only GSSAPI, MONGODB-AWS and MONGODB-OIDC take properties, and greenmongo does not support them (authenticating fails)",
        );
        let revocation = "greenmongo's TLS (rustls, no CRLs) never checks certificate revocation nor contacts OCSP responders";
        // tlsInsecure sets both too; it does take effect (on the other two checks).
        let explicit = self.tls.insecure().is_none();
        say(
            explicit && self.tls.disable_ocsp_endpoint_check.is_some(),
            "tlsDisableOCSPEndpointCheck",
            revocation,
        );
        say(
            explicit && self.tls.disable_certificate_revocation_check.is_some(),
            "tlsDisableCertificateRevocationCheck",
            revocation,
        );
        said
    }

    /// Checks the combinations of options the specs forbid (the same checks
    /// [`parse`](Self::parse) makes after reading every option).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the conflict.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// let mut opts = ClientOptions::default();
    /// opts.load_balanced = Some(true);
    /// opts.repl_set_name = Some("rs0".into());
    /// assert!(opts.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: &str| Err(Error::invalid_argument(msg));
        let srv = self.srv_host.is_some();
        if !srv {
            if self.hosts.is_empty() {
                return fail("at least one host is required");
            }
            if self.srv_max_hosts.is_some() {
                return fail("srvMaxHosts is only allowed with a mongodb+srv connection string");
            }
            if self.srv_service_name.is_some() {
                return fail("srvServiceName is only allowed with a mongodb+srv connection string");
            }
        }
        let max_hosts = self.srv_max_hosts.unwrap_or(0);
        if self.direct_connection == Some(true) {
            if srv {
                return fail("directConnection=true is not allowed with mongodb+srv");
            }
            if self.hosts.len() > 1 {
                return fail("directConnection=true is not allowed with more than one host");
            }
        }
        if self.load_balanced == Some(true) {
            if self.hosts.len() > 1 {
                return fail("loadBalanced=true is not allowed with more than one host");
            }
            if self.repl_set_name.is_some() {
                return fail("loadBalanced=true is not allowed with replicaSet");
            }
            if self.direct_connection == Some(true) {
                return fail("loadBalanced=true is not allowed with directConnection=true");
            }
            if max_hosts > 0 {
                return fail("loadBalanced=true is not allowed with a positive srvMaxHosts");
            }
        }
        if max_hosts > 0 && self.repl_set_name.is_some() {
            return fail("replicaSet is not allowed with a positive srvMaxHosts");
        }
        if let (Some(min), Some(max)) = (self.min_pool_size, self.max_pool_size)
            && max != 0
            && min > max
        {
            return fail("minPoolSize must not exceed maxPoolSize");
        }
        if let Some(credential) = &self.credential {
            credential.validate()?;
        }
        if let Some(read_preference) = &self.read_preference {
            read_preference.validate()?;
        }
        if let Some(write_concern) = &self.write_concern {
            write_concern.validate()?;
        }
        if let Some(proxy) = &self.proxy {
            proxy.validate()?;
        }
        Ok(())
    }
}

/// A wire-protocol compressor (the OP_COMPRESSED spec).
///
/// # Examples
///
/// ```
/// use greenmongo::options::Compressor;
///
/// assert_eq!("zstd".parse::<Compressor>()?, Compressor::Zstd);
/// assert_eq!(Compressor::Zlib.as_str(), "zlib");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compressor {
    /// Snappy.
    Snappy,
    /// zlib, at [`ClientOptions::zlib_compression_level`].
    Zlib,
    /// Zstandard.
    Zstd,
}

impl Compressor {
    /// The compressor's name as the handshake spells it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::Compressor;
    ///
    /// assert_eq!(Compressor::Snappy.as_str(), "snappy");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Compressor::Snappy => "snappy",
            Compressor::Zlib => "zlib",
            Compressor::Zstd => "zstd",
        }
    }
}

impl FromStr for Compressor {
    type Err = Error;

    /// Parses a compressor name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        [Compressor::Snappy, Compressor::Zlib, Compressor::Zstd]
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::invalid_argument(format!("unsupported compressor \"{s}\"")))
    }
}

impl fmt::Display for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How servers are monitored (the SDAM spec's `serverMonitoringMode`).
///
/// # Examples
///
/// ```
/// use greenmongo::options::ServerMonitoringMode;
///
/// assert_eq!("poll".parse::<ServerMonitoringMode>()?, ServerMonitoringMode::Poll);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerMonitoringMode {
    /// Use the streaming protocol (awaitable `hello` plus an RTT connection) when the
    /// server supports it (its `hello` has a `topologyVersion`), else poll.
    Stream,
    /// Always poll with `hello` every `heartbeatFrequencyMS`.
    Poll,
    /// Stream, except on FaaS platforms (`AWS_EXECUTION_ENV=AWS_Lambda_*`,
    /// `AWS_LAMBDA_RUNTIME_API`, `FUNCTIONS_WORKER_RUNTIME`, `K_SERVICE`,
    /// `FUNCTION_NAME`, `VERCEL`), where polling is used. The default.
    Auto,
}

impl ServerMonitoringMode {
    /// The mode's name in connection strings.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ServerMonitoringMode;
    ///
    /// assert_eq!(ServerMonitoringMode::Auto.as_str(), "auto");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMonitoringMode::Stream => "stream",
            ServerMonitoringMode::Poll => "poll",
            ServerMonitoringMode::Auto => "auto",
        }
    }
}

impl FromStr for ServerMonitoringMode {
    type Err = Error;

    /// Parses `stream`, `poll` or `auto` (exactly, as the spec lists them).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "stream" => Ok(ServerMonitoringMode::Stream),
            "poll" => Ok(ServerMonitoringMode::Poll),
            "auto" => Ok(ServerMonitoringMode::Auto),
            _ => Err(Error::invalid_argument(format!(
                "unknown server monitoring mode \"{s}\" (expected stream, poll or auto)"
            ))),
        }
    }
}

/// A SOCKS5 proxy (the SOCKS5 Support spec). `Debug` never shows the password.
///
/// When [`ClientOptions::proxy`] is set, every TCP connection the client opens, for
/// operations and for monitoring, connects to the proxy and asks it (RFC 1928 `CONNECT`)
/// for a tunnel to the server. The server's host name is sent as a name, so it is
/// resolved by the proxy, never locally; an IP address is sent as an address. With a
/// user name and password the client offers RFC 1929 username/password authentication
/// too. TLS, when on, runs inside the tunnel, end to end with the server (the proxy sees
/// only ciphertext). The SOCKS5 exchange counts against `connectTimeoutMS` and any
/// enclosing [`with_timeout`](crate::runtime::time::with_timeout) deadline, like the
/// TCP connect. Unix domain sockets are local and never go through the proxy.
///
/// A proxy that refuses is a network error ([`ErrorKind::Io`](crate::ErrorKind::Io)) that
/// names the server, the proxy and the reason: wrong credentials, or the `CONNECT` reply
/// code and its meaning, such as `SOCKS5 reply code 5 (connection refused)`.
///
/// # Examples
///
/// ```
/// use greenmongo::ClientOptions;
///
/// let opts = ClientOptions::parse("mongodb://h/?proxyHost=proxy.local&proxyPort=1081")?;
/// let proxy = opts.proxy.unwrap();
/// assert_eq!((proxy.host.as_str(), proxy.port()), ("proxy.local", 1081));
/// # Ok::<(), greenmongo::Error>(())
/// ```
///
/// A client whose proxy is not there fails server selection with the proxy's error:
///
/// ```
/// use bson::doc;
/// use greenmongo::{options::ProxyOptions, Client, ClientOptions};
///
/// let unused = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// let mut options = ClientOptions::parse("mongodb://db.internal:27017/?serverSelectionTimeoutMS=500")?;
/// let mut proxy = ProxyOptions::new("127.0.0.1");
/// proxy.port = Some(unused); // nothing listens there any more
/// options.proxy = Some(proxy);
/// let client = Client::with_options(options)?;
/// let err = client.database("admin").run_command(doc! { "ping": 1 }).run().unwrap_err();
/// assert!(err.to_string().contains(&format!("through SOCKS5 proxy 127.0.0.1:{unused}")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyOptions {
    /// The proxy's host name or IP address.
    pub host: String,
    /// The proxy's port ([`ProxyOptions::DEFAULT_PORT`] when `None`).
    pub port: Option<u16>,
    /// User name for the proxy; given together with the password.
    pub username: Option<String>,
    /// Password for the proxy; given together with the user name.
    pub password: Option<String>,
}

impl ProxyOptions {
    /// The SOCKS5 port used when none is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// let opts = ClientOptions::parse("mongodb://h/?proxyHost=proxy.local")?;
    /// assert_eq!(opts.proxy.unwrap().port(), greenmongo::options::ProxyOptions::DEFAULT_PORT);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub const DEFAULT_PORT: u16 = 1080;

    /// A proxy at `host` on the default port, without authentication.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ProxyOptions;
    ///
    /// assert_eq!(ProxyOptions::new("proxy.local").port(), 1080);
    /// ```
    pub fn new(host: impl Into<String>) -> Self {
        ProxyOptions {
            host: host.into(),
            port: None,
            username: None,
            password: None,
        }
    }

    /// The port to connect to.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ProxyOptions;
    ///
    /// let mut proxy = ProxyOptions::new("p");
    /// proxy.port = Some(9050);
    /// assert_eq!(proxy.port(), 9050);
    /// ```
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(Self::DEFAULT_PORT)
    }

    /// Checks that the host is not empty and that user name and password come together.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when they do not.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ProxyOptions;
    ///
    /// let mut proxy = ProxyOptions::new("p");
    /// proxy.username = Some("u".into());
    /// assert!(proxy.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.host.is_empty() {
            return Err(Error::invalid_argument("proxyHost must not be empty"));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(Error::invalid_argument(
                "proxyUsername and proxyPassword must be given together",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ProxyOptions");
        d.field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username);
        match self.password {
            Some(_) => d.field("password", &"***"),
            None => d.field("password", &None::<()>),
        };
        d.finish()
    }
}
