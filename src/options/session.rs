//! Options of explicit sessions and of their transactions (the driver-sessions and
//! transactions specs).

use std::time::Duration;

use bson::Timestamp;

use super::{ReadConcern, SelectionCriteria, WriteConcern};

/// How a [`ClientSession`](crate::ClientSession) behaves, given to
/// [`Client::start_session`](crate::Client::start_session).
///
/// # Examples
///
/// ```
/// use greenmongo::options::{ReadConcern, SessionOptions, TransactionOptions};
///
/// let options = SessionOptions::builder()
///     .causal_consistency(true)
///     .default_transaction_options(TransactionOptions::builder().read_concern(ReadConcern::majority()).build())
///     .build();
/// assert_eq!(options.causal_consistency, Some(true));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Reads see the session's earlier writes and reads (`afterClusterTime`), even on
    /// another connection or server. Default: true, unless `snapshot` is set.
    pub causal_consistency: Option<bool>,
    /// The options of every transaction started without its own.
    pub default_transaction_options: Option<TransactionOptions>,
    /// Every read sees one snapshot: the cluster time of the session's first read
    /// (`readConcern: snapshot` with `atClusterTime`). Cannot be combined with
    /// `causal_consistency: true`, nor with transactions.
    pub snapshot: Option<bool>,
    /// The cluster time a snapshot session reads at from its first read on (instead of
    /// the time of its first read): e.g. another snapshot session's
    /// [`snapshot_time`](crate::ClientSession::snapshot_time), to read the same snapshot.
    /// Needs `snapshot: true`.
    pub snapshot_time: Option<Timestamp>,
    /// The `timeoutMS` of the session's `commit_transaction`, `abort_transaction` and
    /// `with_transaction` (which then bounds the whole call, retries and the callback's
    /// operations in the session included, instead of its 120 s retry limit); default:
    /// the client's.
    pub default_timeout: Option<Duration>,
}

setters!(SessionOptions {
    causal_consistency: bool,
    default_transaction_options: TransactionOptions,
    snapshot: bool,
    snapshot_time: bson::Timestamp,
    default_timeout: Duration
});

/// The options of one transaction, given to
/// [`ClientSession::start_transaction`](crate::ClientSession::start_transaction) or as a
/// session's defaults. Unset fields come from the session's defaults, then the client's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::options::{Acknowledgment, ReadConcern, TransactionOptions, WriteConcern};
///
/// let options = TransactionOptions::builder()
///     .read_concern(ReadConcern::snapshot())
///     .write_concern(WriteConcern::majority())
///     .max_commit_time(Duration::from_secs(5))
///     .build();
/// assert_eq!(options.max_commit_time, Some(Duration::from_secs(5)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TransactionOptions {
    /// The read concern of the transaction's reads, sent with its first command.
    pub read_concern: Option<ReadConcern>,
    /// The write concern of `commitTransaction` and `abortTransaction`. Must be
    /// acknowledged.
    pub write_concern: Option<WriteConcern>,
    /// Where the transaction runs; reads in a transaction must use the primary.
    pub selection_criteria: Option<SelectionCriteria>,
    /// How long `commitTransaction` may take on the server (`maxTimeMS`).
    pub max_commit_time: Option<Duration>,
}

setters!(TransactionOptions {
    read_concern: ReadConcern,
    write_concern: WriteConcern,
    selection_criteria: SelectionCriteria,
    max_commit_time: Duration
});
