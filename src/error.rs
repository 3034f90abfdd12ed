//! The driver's one error type.
//!
//! Every failure is an [`Error`]: a boxed [`ErrorKind`] plus the error labels the server
//! (or the driver, per the retryable-writes spec) attached. Server errors keep the server's
//! `code`, `codeName` and `errmsg` verbatim, so a user can match on them.

use std::{collections::BTreeSet, fmt, io, sync::Arc};

pub use crate::gridfs::{GridFsErrorKind, GridFsFileIdentifier};

/// The label of an error after which the whole transaction may be run again (a write
/// conflict, a failover, a network error inside a transaction).
///
/// # Examples
///
/// ```
/// use greenmongo::error::TRANSIENT_TRANSACTION_ERROR;
///
/// let err = greenmongo::Error::internal("x").with_labels([TRANSIENT_TRANSACTION_ERROR]);
/// assert!(err.contains_label("TransientTransactionError"));
/// ```
pub const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";

/// The label of a `commitTransaction` error after which the commit may or may not have
/// happened: committing again is safe and tells.
///
/// # Examples
///
/// ```
/// use greenmongo::error::UNKNOWN_TRANSACTION_COMMIT_RESULT;
///
/// let err = greenmongo::Error::internal("x").with_labels([UNKNOWN_TRANSACTION_COMMIT_RESULT]);
/// assert!(err.contains_label("UnknownTransactionCommitResult"));
/// ```
pub const UNKNOWN_TRANSACTION_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";

/// The label of a write error after which the write may be retried once (the driver
/// does, where retryable writes allow).
///
/// # Examples
///
/// ```
/// use greenmongo::error::RETRYABLE_WRITE_ERROR;
///
/// assert_eq!(RETRYABLE_WRITE_ERROR, "RetryableWriteError");
/// ```
pub const RETRYABLE_WRITE_ERROR: &str = "RetryableWriteError";

/// `Result` with the driver's [`Error`].
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{Client, Result};
///
/// fn in_stock(client: &Client, sku: &str) -> Result<bool> {
///     let items = client.database("shop").collection::<Document>("items");
///     Ok(items.count_documents(doc! { "sku": sku, "qty": { "$gt": 0 } }).run()? > 0)
/// }
/// # let _ = in_stock;
/// ```
pub type Result<T> = std::result::Result<T, Error>;

/// An error from the driver or the server.
///
/// Cheap to clone (I/O errors are shared behind an `Arc`), so one failure can be reported
/// to every operation that waited on it.
///
/// # Examples
///
/// ```
/// use greenmongo::{Error, ErrorKind};
///
/// let err = Error::invalid_argument("batchSize must be positive");
/// assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
/// assert_eq!(err.to_string(), "invalid argument: batchSize must be positive");
/// ```
#[derive(Clone)]
pub struct Error {
    /// What went wrong.
    pub kind: Box<ErrorKind>,
    labels: BTreeSet<String>,
    /// Set when a new connection failed after its `hello` (while authenticating): SDAM
    /// judges such errors in its Authenticating phase, and behind a load balancer for
    /// the service the `hello` named (the inner `Option`).
    authenticating: Option<Option<bson::oid::ObjectId>>,
}

/// The kinds of [`Error`].
///
/// # Examples
///
/// ```
/// use greenmongo::{ClientOptions, ErrorKind};
///
/// let err = ClientOptions::parse("mongodb://localhost:27017:1").unwrap_err();
/// match &*err.kind {
///     ErrorKind::InvalidArgument { message } => assert!(message.contains("invalid host"), "{message}"),
///     other => panic!("unexpected error kind: {other:?}"),
/// }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An option, URI or argument given to the driver is invalid.
    InvalidArgument {
        /// Why it is invalid.
        message: String,
    },
    /// Authentication failed; the message never contains the password.
    Authentication {
        /// Why it failed.
        message: String,
    },
    /// A command failed on the server (`ok: 0`).
    Command(CommandError),
    /// A socket or TLS error.
    Io(Arc<io::Error>),
    /// The server sent bytes the driver cannot understand (malformed or truncated message).
    InvalidResponse {
        /// What was wrong with them.
        message: String,
    },
    /// No suitable server was found within serverSelectionTimeoutMS.
    ServerSelection {
        /// What the driver saw of the topology.
        message: String,
    },
    /// A BSON value could not be serialized or deserialized.
    Bson {
        /// The serializer's message.
        message: String,
    },
    /// A write was refused (a `writeErrors` entry) or its write concern was not met.
    Write(WriteFailure),
    /// Some documents of an `insert_many` were not inserted.
    InsertMany(InsertManyError),
    /// Some writes of a `Collection::bulk_write` failed.
    CollectionBulkWrite(BulkWriteFailure),
    /// Some writes of a `Client::bulk_write` failed.
    BulkWrite(BulkWriteError),
    /// A DNS lookup for a `mongodb+srv` connection string failed: the name does not exist
    /// (NXDOMAIN), no nameserver answered in time, a nameserver reported an error, or
    /// the answer held no usable records. The message names the record and the
    /// nameserver.
    DnsResolve {
        /// What was looked up, where, and what went wrong.
        message: String,
    },
    /// A connection pool was cleared (it is paused until the server is checked again)
    /// before or while a checkout waited. Retryable, and not a sign that the server is
    /// down (the CMAP spec's `PoolClearedError`).
    PoolCleared {
        /// Which pool, and when.
        message: String,
    },
    /// A checkout failed because the connection pool is closed.
    PoolClosed {
        /// Which pool.
        message: String,
    },
    /// No connection became available within `waitQueueTimeoutMS` (the CMAP spec's
    /// `WaitQueueTimeoutError`).
    WaitQueueTimeout {
        /// Which pool, and how long the checkout waited.
        message: String,
    },
    /// The driver itself hit a state it does not support (e.g. a feature the server lacks).
    Internal {
        /// What happened.
        message: String,
    },
    /// The operation's time ran out: its `timeoutMS` (set on it or inherited from its
    /// session, collection, database or client) or a deadline the caller set around it
    /// with [`with_timeout`](crate::runtime::time::with_timeout). Also the server's
    /// `MaxTimeMSExpired` (code 50) under such a deadline.
    Timeout {
        /// Which deadline ran out, after how long, and during what.
        message: String,
        /// The error the interrupted step ended with (server selection, a socket read,
        /// the server's `MaxTimeMSExpired`), if any; also [`std::error::Error::source`].
        source: Option<Error>,
    },
    /// A GridFS operation failed: no such file or revision, a missing or wrongly sized
    /// chunk (naming the file and the chunk), a closed upload stream.
    GridFs(GridFsErrorKind),
}

/// A command error reported by the server.
///
/// # Examples
///
/// ```no_run
/// use greenmongo::ErrorKind;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let err = client.database("admin").run_command(bson::doc! { "noSuchCommand": 1 }).run().unwrap_err();
/// if let ErrorKind::Command(e) = &*err.kind {
///     println!("{} ({}): {}", e.code, e.code_name, e.message); // 59 (CommandNotFound): ...
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CommandError {
    /// The server's numeric error code (`code`).
    pub code: i32,
    /// The server's name for the code (`codeName`), possibly empty.
    pub code_name: String,
    /// The server's message (`errmsg`).
    pub message: String,
    /// The whole reply, for the fields some errors carry (`keyPattern` and `keyValue` of
    /// a duplicate key, `errInfo`, `topologyVersion`, ...).
    pub reply: bson::Document,
}

/// One refused write of a batch (`writeErrors[i]`).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{error::WriteFailure, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// items.insert_one(doc! { "_id": 1 }).run()?;
/// let err = items.insert_one(doc! { "_id": 1 }).run().unwrap_err();
/// if let ErrorKind::Write(WriteFailure::WriteError(e)) = &*err.kind {
///     assert_eq!(e.code, 11000); // duplicate key
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WriteError {
    /// The index of the failed write in its batch.
    pub index: usize,
    /// The server's error code (e.g. 11000 for a duplicate key).
    pub code: i32,
    /// The server's name for the code, possibly empty.
    pub code_name: String,
    /// The server's message.
    pub message: String,
    /// `errInfo`, when the server sent one (e.g. schema validation details).
    pub details: Option<bson::Document>,
}

/// A write concern the server could not satisfy (`writeConcernError`).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{error::WriteFailure, options::{Acknowledgment, InsertOneOptions, WriteConcern}, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let mut five = WriteConcern::default();
/// five.w = Some(Acknowledgment::Nodes(5));
/// let err = items.insert_one(doc! { "sku": "fig" }).with_options(InsertOneOptions::builder().write_concern(five).build()).run().unwrap_err();
/// if let ErrorKind::Write(WriteFailure::WriteConcernError(e)) = &*err.kind {
///     println!("inserted, but: {} {}", e.code_name, e.message); // on a 3-member set
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WriteConcernError {
    /// The server's error code.
    pub code: i32,
    /// The server's name for the code, possibly empty.
    pub code_name: String,
    /// The server's message.
    pub message: String,
    /// `errInfo`, when present.
    pub details: Option<bson::Document>,
}

/// Why a single-document write failed.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{error::WriteFailure, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// match items.insert_one(doc! { "_id": "fig" }).run() {
///     Ok(_) => println!("inserted"),
///     Err(e) => match &*e.kind {
///         ErrorKind::Write(WriteFailure::WriteError(w)) => println!("refused: {}", w.message),
///         ErrorKind::Write(WriteFailure::WriteConcernError(w)) => println!("not replicated: {}", w.message),
///         _ => return Err(e),
///     },
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WriteFailure {
    /// The write itself was refused.
    WriteError(WriteError),
    /// The write was applied but its write concern was not met.
    WriteConcernError(WriteConcernError),
}

/// The outcome of an `insert_many` that did not insert everything.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{options::InsertManyOptions, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let docs = [doc! { "_id": 1 }, doc! { "_id": 1 }, doc! { "_id": 2 }];
/// let err = items.insert_many(docs).with_options(InsertManyOptions::builder().ordered(false).build()).run().unwrap_err();
/// if let ErrorKind::InsertMany(e) = &*err.kind {
///     assert_eq!(e.write_errors[0].index, 1); // the duplicate
///     assert_eq!(e.inserted_ids.len(), 2);
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InsertManyError {
    /// The refused documents, by index in the input.
    pub write_errors: Vec<WriteError>,
    /// Set when the write concern was not met.
    pub write_concern_error: Option<WriteConcernError>,
    /// The `_id`s of the documents that were inserted, by index in the input.
    pub inserted_ids: std::collections::HashMap<usize, bson::Bson>,
}

/// The outcome of a `bulk_write` that did not do everything.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::{options::CollectionWriteModel, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let writes = [1, 1, 2].map(|id| CollectionWriteModel::InsertOne { document: doc! { "_id": id } });
/// let err = items.bulk_write(writes).run().unwrap_err();
/// if let ErrorKind::CollectionBulkWrite(e) = &*err.kind {
///     assert_eq!(e.write_errors[0].index, 1);
///     assert_eq!(e.partial_result.inserted_count, 1); // ordered: stopped at the duplicate
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BulkWriteFailure {
    /// The refused writes, by index in the request list.
    pub write_errors: Vec<WriteError>,
    /// Set when the write concern was not met.
    pub write_concern_error: Option<WriteConcernError>,
    /// What was done before (and, unordered, besides) the failures.
    pub partial_result: crate::results::BulkWriteResult,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Error");
        debug
            .field("kind", &self.kind)
            .field("labels", &self.labels);
        if let Some(service_id) = &self.authenticating {
            debug.field("authenticating", &service_id);
        }
        debug.finish()
    }
}

impl Error {
    /// Builds an error of the given kind with no labels.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{Error, ErrorKind};
    ///
    /// let err = Error::new(ErrorKind::ServerSelection { message: "no primary".into() });
    /// assert_eq!(err.to_string(), "server selection failed: no primary");
    /// assert_eq!(err.labels().count(), 0);
    /// ```
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind: Box::new(kind),
            labels: BTreeSet::new(),
            authenticating: None,
        }
    }

    /// Marks an error of a new connection's authentication, which came after a `hello`
    /// that named `service_id` (load-balanced mode) or none.
    pub(crate) fn while_authenticating(mut self, service_id: Option<bson::oid::ObjectId>) -> Self {
        self.authenticating = Some(service_id);
        self
    }

    /// `Some(service_id)` for an error of a new connection's authentication (see
    /// [`while_authenticating`](Self::while_authenticating)).
    pub(crate) fn authenticating(&self) -> Option<Option<bson::oid::ObjectId>> {
        self.authenticating
    }

    /// An [`ErrorKind::InvalidArgument`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenmongo::Error::invalid_argument("limit must not be negative");
    /// assert!(matches!(*err.kind, greenmongo::ErrorKind::InvalidArgument { .. }));
    /// ```
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument {
            message: message.into(),
        })
    }

    /// An [`ErrorKind::InvalidResponse`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenmongo::Error::invalid_response("reply has no cursor");
    /// assert_eq!(err.to_string(), "invalid server response: reply has no cursor");
    /// ```
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidResponse {
            message: message.into(),
        })
    }

    /// An [`ErrorKind::Authentication`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenmongo::Error::authentication("bad nonce");
    /// assert_eq!(err.to_string(), "authentication failed: bad nonce");
    /// ```
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Authentication {
            message: message.into(),
        })
    }

    /// An [`ErrorKind::DnsResolve`] error.
    pub(crate) fn dns_resolve(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DnsResolve {
            message: message.into(),
        })
    }

    /// An [`ErrorKind::Internal`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenmongo::Error::internal("feature needs MongoDB 8.0");
    /// assert!(matches!(*err.kind, greenmongo::ErrorKind::Internal { .. }));
    /// ```
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal {
            message: message.into(),
        })
    }

    /// The error labels (e.g. `RetryableWriteError`, `TransientTransactionError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenmongo::Error::internal("x").with_labels(["TransientTransactionError", "RetryableWriteError"]);
    /// let labels: Vec<&str> = err.labels().collect();
    /// assert_eq!(labels, ["RetryableWriteError", "TransientTransactionError"]); // sorted
    /// ```
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }

    /// Whether the error carries `label`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenmongo::Error::internal("x").with_labels(["RetryableWriteError"]);
    /// assert!(err.contains_label("RetryableWriteError"));
    /// assert!(!err.contains_label("TransientTransactionError"));
    /// ```
    pub fn contains_label(&self, label: &str) -> bool {
        self.labels.contains(label)
    }

    /// Adds a label.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut err = greenmongo::Error::internal("x");
    /// err.add_label("NoWritesPerformed");
    /// assert_eq!(err.to_string(), "internal error: x (labels: NoWritesPerformed)");
    /// ```
    pub fn add_label(&mut self, label: impl Into<String>) {
        self.labels.insert(label.into());
    }

    /// Returns the error with `labels` added.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = greenmongo::Error::internal("x").with_labels(vec![String::from("RetryableWriteError")]);
    /// assert!(err.contains_label("RetryableWriteError"));
    /// ```
    pub fn with_labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels.extend(labels.into_iter().map(Into::into));
        self
    }

    /// The server's error code, if the server reported one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// match items.insert_one(doc! { "_id": 1 }).run() {
    ///     Err(e) if e.code() == Some(11000) => println!("already there"),
    ///     other => { other?; }
    /// }
    /// assert_eq!(greenmongo::Error::internal("x").code(), None);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn code(&self) -> Option<i32> {
        match &*self.kind {
            ErrorKind::Command(c) => Some(c.code),
            ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
            ErrorKind::Write(WriteFailure::WriteConcernError(e)) => Some(e.code),
            ErrorKind::InsertMany(e) => e
                .write_errors
                .first()
                .map(|w| w.code)
                .or(e.write_concern_error.as_ref().map(|w| w.code)),
            ErrorKind::CollectionBulkWrite(e) => e
                .write_errors
                .first()
                .map(|w| w.code)
                .or(e.write_concern_error.as_ref().map(|w| w.code)),
            ErrorKind::BulkWrite(e) => e
                .write_errors
                .iter()
                .min_by_key(|(i, _)| **i)
                .map(|(_, w)| w.code)
                .or(e.write_concern_errors.first().map(|w| w.code)),
            ErrorKind::Timeout {
                source: Some(source),
                ..
            } => source.code(),
            _ => None,
        }
    }

    /// Whether a checkout failed because its pool was cleared: retryable, and not a sign
    /// that the server is down.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{Error, ErrorKind};
    ///
    /// let err = Error::new(ErrorKind::PoolCleared { message: "db1:27017".into() });
    /// assert!(err.is_pool_cleared());
    /// assert!(!err.is_network_error());
    /// ```
    pub fn is_pool_cleared(&self) -> bool {
        matches!(&*self.kind, ErrorKind::PoolCleared { .. })
    }

    /// Whether this is a network (socket or TLS) error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use greenmongo::Error;
    ///
    /// let reset = Error::from(io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer"));
    /// assert!(reset.is_network_error());
    /// assert!(!Error::invalid_argument("x").is_network_error());
    /// ```
    pub fn is_network_error(&self) -> bool {
        matches!(&*self.kind, ErrorKind::Io(_))
    }

    /// Whether the operation's time ran out ([`ErrorKind::Timeout`]): its `timeoutMS`, or
    /// a deadline the caller set with
    /// [`with_timeout`](crate::runtime::time::with_timeout).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?timeoutMS=500")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// match items.find_one(doc! {}).run() {
    ///     Err(e) if e.is_timeout() => println!("gave up after 500 ms: {e}"),
    ///     other => { other?; }
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(&*self.kind, ErrorKind::Timeout { .. })
    }

    /// Whether this is a network error because time ran out (`socketTimeoutMS`,
    /// `connectTimeoutMS`, a deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use greenmongo::Error;
    ///
    /// let err = Error::from(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
    /// assert!(err.is_network_timeout() && err.is_network_error());
    /// assert!(!Error::from(io::Error::from(io::ErrorKind::ConnectionReset)).is_network_timeout());
    /// ```
    pub fn is_network_timeout(&self) -> bool {
        matches!(&*self.kind, ErrorKind::Io(e) if e.kind() == io::ErrorKind::TimedOut)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
            ErrorKind::InvalidArgument { message } => write!(f, "invalid argument: {message}"),
            ErrorKind::Authentication { message } => write!(f, "authentication failed: {message}"),
            ErrorKind::Command(c) => {
                write!(f, "command failed with code {}", c.code)?;
                if !c.code_name.is_empty() {
                    write!(f, " ({})", c.code_name)?;
                }
                write!(f, ": {}", c.message)
            }
            ErrorKind::Io(e) => write!(f, "I/O error: {e}"),
            ErrorKind::InvalidResponse { message } => {
                write!(f, "invalid server response: {message}")
            }
            ErrorKind::ServerSelection { message } => {
                write!(f, "server selection failed: {message}")
            }
            ErrorKind::Bson { message } => write!(f, "BSON error: {message}"),
            ErrorKind::Write(WriteFailure::WriteError(e)) => {
                write!(f, "write error {}", e.code)?;
                if !e.code_name.is_empty() {
                    write!(f, " ({})", e.code_name)?;
                }
                write!(f, ": {}", e.message)
            }
            ErrorKind::Write(WriteFailure::WriteConcernError(e)) => {
                write!(f, "write concern error {}", e.code)?;
                if !e.code_name.is_empty() {
                    write!(f, " ({})", e.code_name)?;
                }
                write!(f, ": {}", e.message)
            }
            ErrorKind::InsertMany(e) => {
                write!(
                    f,
                    "insert_many inserted {} documents; {} refused",
                    e.inserted_ids.len(),
                    e.write_errors.len()
                )?;
                if let Some(first) = e.write_errors.first() {
                    write!(
                        f,
                        " (first: index {}, code {}: {})",
                        first.index, first.code, first.message
                    )?;
                }
                if let Some(wce) = &e.write_concern_error {
                    write!(f, "; write concern error {}: {}", wce.code, wce.message)?;
                }
                Ok(())
            }
            ErrorKind::CollectionBulkWrite(e) => {
                write!(f, "bulk_write: {} writes refused", e.write_errors.len())?;
                if let Some(first) = e.write_errors.first() {
                    write!(
                        f,
                        " (first: index {}, code {}: {})",
                        first.index, first.code, first.message
                    )?;
                }
                if let Some(wce) = &e.write_concern_error {
                    write!(f, "; write concern error {}: {}", wce.code, wce.message)?;
                }
                Ok(())
            }
            ErrorKind::BulkWrite(e) => {
                write!(
                    f,
                    "client bulk_write: {} writes refused",
                    e.write_errors.len()
                )?;
                let mut indexes: Vec<_> = e.write_errors.keys().collect();
                indexes.sort();
                if let Some(first) = indexes.first().and_then(|i| e.write_errors.get(i)) {
                    write!(
                        f,
                        " (first: index {}, code {}: {})",
                        first.index, first.code, first.message
                    )?;
                }
                for wce in &e.write_concern_errors {
                    write!(f, "; write concern error {}: {}", wce.code, wce.message)?;
                }
                Ok(())
            }
            ErrorKind::DnsResolve { message } => write!(f, "DNS resolution failed: {message}"),
            ErrorKind::PoolCleared { message } => write!(f, "connection pool cleared: {message}"),
            ErrorKind::PoolClosed { message } => write!(f, "connection pool closed: {message}"),
            ErrorKind::WaitQueueTimeout { message } => {
                write!(f, "timed out waiting for a pooled connection: {message}")
            }
            ErrorKind::Internal { message } => write!(f, "internal error: {message}"),
            ErrorKind::GridFs(e) => write!(f, "GridFS error: {e}"),
            ErrorKind::Timeout { message, source } => {
                write!(f, "operation timed out: {message}")?;
                match source {
                    Some(source) => write!(f, ": {source}"),
                    None => Ok(()),
                }
            }
        }?;
        // A timeout's labels are its source's, shown with it.
        let shown_by_source = matches!(
            &*self.kind,
            ErrorKind::Timeout {
                source: Some(_),
                ..
            }
        );
        if !self.labels.is_empty() && !shown_by_source {
            let labels: Vec<&str> = self.labels().collect();
            write!(f, " (labels: {})", labels.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.kind {
            ErrorKind::Io(e) => Some(&**e),
            ErrorKind::Timeout {
                source: Some(source),
                ..
            } => Some(source),
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::new(ErrorKind::Io(Arc::new(e)))
    }
}

impl From<bson::error::Error> for Error {
    fn from(e: bson::error::Error) -> Self {
        Error::new(ErrorKind::Bson {
            message: e.to_string(),
        })
    }
}

/// A [`Client::bulk_write`](crate::Client::bulk_write) that did not do everything (the
/// official driver's `BulkWriteError`).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::{error::PartialBulkWriteResult, options::InsertOneModel, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let writes = [1, 1].map(|id| InsertOneModel::builder().namespace("shop.items".parse().unwrap()).document(doc! { "_id": id }).build());
/// let err = client.bulk_write(writes).run().unwrap_err();
/// if let ErrorKind::BulkWrite(failure) = &*err.kind {
///     assert_eq!(failure.write_errors[&1].code, 11000);
///     if let Some(PartialBulkWriteResult::Summary(done)) = &failure.partial_result {
///         assert_eq!(done.inserted_count, 1);
///     }
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BulkWriteError {
    /// Refused writes by index.
    pub write_errors: std::collections::HashMap<usize, WriteError>,
    /// Write concern errors, if any.
    pub write_concern_errors: Vec<WriteConcernError>,
    /// What was done; `None` when no write is known to have succeeded.
    pub partial_result: Option<PartialBulkWriteResult>,
}

/// What a failed client bulk write did: counts, or with `.verbose_results()` every
/// write's result too.
///
/// # Examples
///
/// ```
/// use greenmongo::{error::PartialBulkWriteResult, results::SummaryBulkWriteResult};
///
/// let partial = PartialBulkWriteResult::Summary(SummaryBulkWriteResult::default());
/// assert!(matches!(partial, PartialBulkWriteResult::Summary(s) if s.inserted_count == 0));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PartialBulkWriteResult {
    /// The counts.
    Summary(crate::results::SummaryBulkWriteResult),
    /// The counts and each write's result.
    Verbose(crate::results::VerboseBulkWriteResult),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_display_names_code_and_message() {
        let err = Error::new(ErrorKind::Command(CommandError {
            code: 11000,
            code_name: "DuplicateKey".into(),
            message: "E11000 duplicate key".into(),
            reply: bson::Document::new(),
        }))
        .with_labels(["RetryableWriteError"]);
        assert_eq!(err.code(), Some(11000));
        assert!(err.contains_label("RetryableWriteError"));
        assert_eq!(
            err.to_string(),
            "command failed with code 11000 (DuplicateKey): E11000 duplicate key (labels: RetryableWriteError)"
        );
    }
}
