//! Write batches: which statements of a large write go into which command.
//!
//! The CRUD spec (`insert_many`, collection `bulk_write`) and the client bulk-write spec
//! (`bulkWrite`) both require a write to be split so that no command carries more than
//! `maxWriteBatchSize` statements and no message is larger than `maxMessageSizeBytes`.
//! This is the one place that decides it. It is pure: statement sizes in, ranges of
//! statement indexes out, so every caller's batching is unit-tested without a server.

use std::ops::Range;

use bson::Document;

use super::SizeLimits;
use crate::{Error, Result};

/// Bytes of a message that are neither the command document its caller built nor the
/// statements: the header, the section headers, a checksum, and the fields the executor
/// adds (`$db`, `lsid`, `txnNumber`, `$clusterTime`). The client bulk-write spec's
/// allowance (its "MESSAGE_OVERHEAD_BYTES"), used for every write command alike.
pub(crate) const MESSAGE_OVERHEAD_BYTES: usize = 1000;

/// What one write command may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchLimits {
    /// Statements per command (`maxWriteBatchSize`); at least 1.
    pub(crate) max_count: usize,
    /// Bytes of statements per command: `maxMessageSizeBytes` less the command document
    /// and [`MESSAGE_OVERHEAD_BYTES`].
    pub(crate) max_bytes: usize,
}

impl BatchLimits {
    /// The limits for commands whose document (before the executor's fields) is
    /// `command_bytes` long, to a server with `limits`.
    pub(crate) fn new(limits: &SizeLimits, command_bytes: usize) -> BatchLimits {
        BatchLimits {
            max_count: limits.max_write_batch_size.max(1),
            max_bytes: limits
                .max_message_size_bytes
                .saturating_sub(MESSAGE_OVERHEAD_BYTES.saturating_add(command_bytes)),
        }
    }
}

/// Cuts statements, offered one at a time and in order, into consecutive batches.
///
/// A caller whose statement's size depends on the batch it lands in (a client bulk
/// write's new `nsInfo` entry) asks [`fits`](Self::fits) first and [`cut`](Self::cut)s
/// itself; others just [`push`](Self::push).
#[derive(Debug)]
pub(crate) struct Batcher {
    limits: BatchLimits,
    /// Index of the open batch's first statement.
    start: usize,
    /// Statements taken so far; the open batch is `start..end`.
    end: usize,
    /// Bytes of the open batch.
    bytes: usize,
}

impl Batcher {
    /// A batcher whose first statement is number `first` of the caller's list: ranges
    /// and errors use the caller's indexes.
    pub(crate) fn new(limits: BatchLimits, first: usize) -> Batcher {
        Batcher {
            limits,
            start: first,
            end: first,
            bytes: 0,
        }
    }

    /// Whether a statement of `bytes` still fits in the open batch.
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        self.end - self.start < self.limits.max_count
            && self.bytes.saturating_add(bytes) <= self.limits.max_bytes
    }

    /// Closes the open batch and returns its statements' indexes (`None` when empty).
    pub(crate) fn cut(&mut self) -> Option<Range<usize>> {
        if self.start == self.end {
            return None;
        }
        let batch = self.start..self.end;
        self.start = self.end;
        self.bytes = 0;
        Some(batch)
    }

    /// Adds the next statement, of `bytes`: to the open batch when it fits, else it
    /// starts a new one and the batch it closed comes back.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the
    /// statement when it does not fit even in a batch of its own: no message could
    /// carry it, and splitting cannot help.
    pub(crate) fn push(&mut self, bytes: usize) -> Result<Option<Range<usize>>> {
        let closed = if self.fits(bytes) { None } else { self.cut() };
        if !self.fits(bytes) {
            return Err(Error::invalid_argument(format!(
                "write model {} needs {bytes} bytes, more than one message has room for \
                 ({} bytes: maxMessageSizeBytes less the command)",
                self.end, self.limits.max_bytes
            )));
        }
        self.end += 1;
        self.bytes += bytes;
        Ok(closed)
    }
}

/// Splits statements of the given `sizes` (bytes each, in order; the first is number
/// `first` of the caller's list) into batches under `limits`: the ranges of statement
/// indexes, in order, covering every statement.
///
/// # Errors
/// A statement too large for any message (see [`Batcher::push`]).
pub(crate) fn split(
    sizes: impl IntoIterator<Item = usize>,
    limits: BatchLimits,
    first: usize,
) -> Result<Vec<Range<usize>>> {
    let mut batcher = Batcher::new(limits, first);
    let mut batches = Vec::new();
    for size in sizes {
        batches.extend(batcher.push(size)?);
    }
    batches.extend(batcher.cut());
    Ok(batches)
}

/// The limits batches are cut to.
///
/// These are the defaults every server since MongoDB 3.6 announces: batches are planned
/// before a server is selected, and the executor does not hand back the selected
/// connection's `hello` limits. The connection still checks every message against its
/// own server's limits before sending, so a server announcing smaller ones gets a clear
/// error, never an oversized message.
pub(crate) fn server_limits() -> SizeLimits {
    SizeLimits::default()
}

/// The encoded length of a command document, for [`BatchLimits::new`].
pub(crate) fn document_len(command: &Document) -> Result<usize> {
    Ok(crate::nesting::encode(command)?.as_bytes().len())
}

/// Refuses a document larger than the server's `maxBsonObjectSize`, naming it `what`
/// (e.g. "write model 3"), before anything is sent: the server would refuse the whole
/// command, and the statements around it with it.
pub(crate) fn check_document_size(
    bytes: usize,
    limits: &SizeLimits,
    what: impl FnOnce() -> String,
) -> Result<()> {
    if bytes > limits.max_bson_object_size {
        return Err(Error::invalid_argument(format!(
            "{} is {bytes} bytes, over the BSON document limit (maxBsonObjectSize: {} bytes)",
            what(),
            limits.max_bson_object_size
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_count: usize, max_bytes: usize) -> BatchLimits {
        BatchLimits {
            max_count,
            max_bytes,
        }
    }

    #[test]
    fn the_server_limits_leave_room_for_the_command_and_the_overhead() {
        let server = SizeLimits::default();
        let for_command = BatchLimits::new(&server, 200);
        assert_eq!(for_command.max_count, 100_000);
        assert_eq!(for_command.max_bytes, 48_000_000 - 1000 - 200);
        let odd = SizeLimits {
            max_write_batch_size: 0,
            max_message_size_bytes: 10,
            ..server
        };
        assert_eq!(BatchLimits::new(&odd, 200), limits(1, 0));
    }

    #[test]
    fn batches_stop_at_the_statement_count() {
        let batches = split(std::iter::repeat_n(10, 7), limits(3, 1000), 0).unwrap();
        assert_eq!(batches, [0..3, 3..6, 6..7]);
    }

    #[test]
    fn batches_stop_before_the_byte_limit_and_an_exact_fit_stays() {
        // 40 + 60 = 100 fits exactly; the next 1 byte does not.
        let batches = split([40, 60, 1, 99, 2], limits(100, 100), 0).unwrap();
        assert_eq!(batches, [0..2, 2..4, 4..5]);
        // A run that starts later in the caller's list keeps the caller's indexes.
        let batches = split([40, 60, 1], limits(100, 100), 10).unwrap();
        assert_eq!(batches, [10..12, 12..13]);
    }

    #[test]
    fn every_statement_lands_in_exactly_one_batch_in_order() {
        let sizes: Vec<usize> = (0..1000).map(|i| 1 + i * 7 % 50).collect();
        let batches = split(sizes.iter().copied(), limits(17, 300), 0).unwrap();
        assert_eq!(batches.first().unwrap().start, 0);
        assert_eq!(batches.last().unwrap().end, sizes.len());
        for pair in batches.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for batch in &batches {
            assert!(batch.len() <= 17);
            assert!(sizes[batch.clone()].iter().sum::<usize>() <= 300);
        }
    }

    #[test]
    fn a_statement_no_message_can_carry_is_an_error_naming_it() {
        let err = split([10, 10, 500, 10], limits(10, 100), 5).unwrap_err();
        assert!(matches!(
            *err.kind,
            crate::ErrorKind::InvalidArgument { .. }
        ));
        assert!(
            err.to_string().contains("write model 7 needs 500 bytes"),
            "{err}"
        );
    }

    #[test]
    fn nothing_to_split_is_no_batch() {
        assert!(split([], limits(1, 1), 0).unwrap().is_empty());
    }

    #[test]
    fn a_caller_can_cut_early_for_its_own_reasons() {
        let mut batcher = Batcher::new(limits(10, 100), 0);
        assert_eq!(batcher.push(10).unwrap(), None);
        assert!(batcher.fits(90));
        assert_eq!(batcher.cut(), Some(0..1));
        assert_eq!(batcher.cut(), None);
        assert_eq!(batcher.push(90).unwrap(), None);
        assert_eq!(batcher.push(20).unwrap(), Some(1..2));
        assert_eq!(batcher.cut(), Some(2..3));
    }

    #[test]
    fn oversized_documents_are_named() {
        let server = SizeLimits {
            max_bson_object_size: 64,
            ..SizeLimits::default()
        };
        assert!(check_document_size(64, &server, || unreachable!()).is_ok());
        let err = check_document_size(65, &server, || "write model 7".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument: write model 7 is 65 bytes, over the BSON document limit \
             (maxBsonObjectSize: 64 bytes)"
        );
    }
}
