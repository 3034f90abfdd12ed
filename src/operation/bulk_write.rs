//! The commands of `Collection::bulk_write`: a mixed list of inserts, updates, replaces and deletes, sent
//! as few commands as possible (the CRUD spec's bulk API).
//!
//! Consecutive writes of one kind form a run; each run is cut into batches under the
//! server's `maxWriteBatchSize` and `maxMessageSizeBytes` (see [`crate::wire::batch`]),
//! and each batch is one `insert` / `update` / `delete` command whose statements travel
//! as an OP_MSG document sequence. The replies are merged into one result, every index
//! mapped back to the caller's list.

use std::ops::Range;

use bson::{Bson, Document, RawDocumentBuf, doc};

use super::{
    Command, Namespace, Operation, WriteReply, add_write_concern, checked_update, insert_opt,
    is_acknowledged, raw_with_id, to_replacement,
};
use crate::{
    Error, Result,
    error::{BulkWriteFailure, ErrorKind, WriteConcernError, WriteError},
    options::{BulkWriteOptions, CollectionWriteModel, Hint, WriteConcern, WriteModelOptions},
    results::BulkWriteResult,
    retry::Retry,
    wire::{
        DocumentSequence, SizeLimits,
        batch::{self, BatchLimits},
    },
};

/// Which command a write goes in; the discriminant indexes the commands of a bulk write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Insert = 0,
    Update = 1,
    Delete = 2,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Insert, Kind::Update, Kind::Delete];

    /// The command's name, and the field its statements fill.
    fn command(self) -> (&'static str, &'static str) {
        match self {
            Kind::Insert => ("insert", "documents"),
            Kind::Update => ("update", "updates"),
            Kind::Delete => ("delete", "deletes"),
        }
    }
}

/// One write, serialized as a statement of its command.
#[derive(Debug)]
struct Statement {
    kind: Kind,
    /// Moved into its command's document sequence when the command is sent.
    document: RawDocumentBuf,
    /// The `_id` of an insert.
    id: Option<Bson>,
    /// Whether it may touch several documents (`multi: true`, `limit: 0`): a command
    /// holding one is not retryable (the retryable-writes spec).
    multi: bool,
}

/// One command of a bulk write: its kind, and the indexes of its writes.
type Batch = (Kind, Range<usize>);

/// A bulk write, serialized and planned: every write checked against the server's limits
/// before the first command goes out (an oversized one fails the call with nothing
/// written), then cut into commands.
#[derive(Debug)]
pub(crate) struct Plan {
    statements: Vec<Statement>,
    batches: std::vec::IntoIter<Batch>,
    /// The command of each kind, without its statements.
    commands: [Document; 3],
    ordered: bool,
    acknowledged: bool,
    /// The replies so far.
    merged: Merged,
}

impl Plan {
    /// Serializes and plans `requests` against collection `ns`.
    pub(crate) fn new(
        ns: &Namespace,
        requests: Vec<CollectionWriteModel>,
        options: &BulkWriteOptions,
        write_concern: Option<&WriteConcern>,
    ) -> Result<Plan> {
        if requests.is_empty() {
            return Err(Error::invalid_argument(
                "bulk_write needs at least one write",
            ));
        }
        let ordered = options.ordered.unwrap_or(true);
        let limits = batch::server_limits();
        let statements = statements(requests, &limits)?;
        let commands =
            Kind::ALL.map(|kind| bulk_command(&ns.coll, kind, ordered, options, write_concern));
        let command_lens = [
            batch::document_len(&commands[0])?,
            batch::document_len(&commands[1])?,
            batch::document_len(&commands[2])?,
        ];
        let batches = plan(&statements, &limits, |kind| command_lens[kind as usize])?;
        Ok(Plan {
            statements,
            batches: batches.into_iter(),
            commands,
            ordered,
            acknowledged: is_acknowledged(write_concern),
            merged: Merged::default(),
        })
    }

    /// The next command to send, or `None` when all are sent.
    pub(crate) fn next_command(&mut self, ns: &Namespace) -> Option<BulkWriteCommand> {
        let (kind, range) = self.batches.next()?;
        let documents = self.statements[range.clone()]
            .iter_mut()
            .map(|s| std::mem::take(&mut s.document))
            .collect();
        Some(BulkWriteCommand {
            db: ns.db.clone(),
            kind,
            range: range.clone(),
            command: Some(self.commands[kind as usize].clone()),
            documents: Some(documents),
            retryable: !self.statements[range].iter().any(|s| s.multi),
            acknowledged: self.acknowledged,
        })
    }

    /// Adds the reply of `command`. Returns whether the bulk write stops here: an
    /// ordered one stops at its first write error.
    pub(crate) fn add(&mut self, command: &BulkWriteCommand, reply: WriteReply) -> bool {
        let statements = &self.statements[command.range.clone()];
        self.merged.add(
            command.kind,
            statements,
            command.range.start,
            reply,
            self.ordered,
        )
    }

    /// The result, or the failure holding it.
    pub(crate) fn finish(self) -> Result<BulkWriteResult> {
        self.merged.finish()
    }
}

/// One `insert` / `update` / `delete` command of a bulk write, its statements in the
/// OP_MSG document sequence.
#[derive(Debug)]
pub(crate) struct BulkWriteCommand {
    db: String,
    kind: Kind,
    /// The indexes of its writes in the caller's list.
    range: Range<usize>,
    command: Option<Document>,
    documents: Option<Vec<RawDocumentBuf>>,
    /// No statement may touch several documents (the retryable-writes spec).
    retryable: bool,
    acknowledged: bool,
}

impl Operation for BulkWriteCommand {
    type Output = WriteReply;

    fn build(&mut self) -> Result<Command> {
        let documents = self.documents.take().unwrap_or_default();
        Ok(Command {
            db: self.db.clone(),
            body: self.command.take().unwrap_or_default(),
            sequences: vec![DocumentSequence::new(self.kind.command().1, documents)?],
        })
    }

    fn retry(&self) -> Retry {
        if self.retryable {
            Retry::Write
        } else {
            Retry::No
        }
    }

    /// An unacknowledged write reports nothing.
    fn handle_response(&self, reply: RawDocumentBuf) -> Result<WriteReply> {
        if !self.acknowledged {
            return Ok(WriteReply::default());
        }
        WriteReply::from_raw(&reply)
    }
}

/// The command of one batch of `kind` on collection `coll`, without its statements (they
/// go beside it, as a document sequence).
fn bulk_command(
    coll: &str,
    kind: Kind,
    ordered: bool,
    o: &BulkWriteOptions,
    write_concern: Option<&WriteConcern>,
) -> Document {
    let mut command = doc! { kind.command().0: coll, "ordered": ordered };
    insert_opt(
        &mut command,
        "bypassDocumentValidation",
        o.bypass_document_validation,
    );
    insert_opt(&mut command, "comment", o.comment.clone());
    if kind != Kind::Insert {
        insert_opt(&mut command, "let", o.let_vars.clone());
    }
    add_write_concern(&mut command, write_concern);
    command
}

/// Serializes every write, refusing one over `maxBsonObjectSize` by its index.
fn statements(requests: Vec<CollectionWriteModel>, limits: &SizeLimits) -> Result<Vec<Statement>> {
    let mut statements = Vec::with_capacity(requests.len());
    for (index, request) in requests.into_iter().enumerate() {
        let statement = statement(request)?;
        batch::check_document_size(statement.document.as_bytes().len(), limits, || {
            format!("write model {index}")
        })?;
        statements.push(statement);
    }
    Ok(statements)
}

/// The commands of a bulk write: each run of consecutive writes of one kind, cut to
/// `limits`; the command of a kind, without statements, is `command_len(kind)` bytes.
fn plan(
    statements: &[Statement],
    limits: &SizeLimits,
    command_len: impl Fn(Kind) -> usize,
) -> Result<Vec<Batch>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < statements.len() {
        let kind = statements[start].kind;
        let end = statements[start..]
            .iter()
            .position(|s| s.kind != kind)
            .map_or(statements.len(), |n| start + n);
        let sizes = statements[start..end]
            .iter()
            .map(|s| s.document.as_bytes().len());
        let run = batch::split(sizes, BatchLimits::new(limits, command_len(kind)), start)?;
        batches.extend(run.into_iter().map(|range| (kind, range)));
        start = end;
    }
    Ok(batches)
}

/// The replies of a bulk write's commands so far, merged, indexes in the caller's list.
#[derive(Debug, Default)]
struct Merged {
    result: BulkWriteResult,
    write_errors: Vec<WriteError>,
    write_concern_error: Option<WriteConcernError>,
    labels: Vec<String>,
}

impl Merged {
    /// Adds the reply to the command of `statements`, the first of which is write
    /// `offset` of the caller's list. Returns whether the bulk write stops here: an
    /// ordered one stops at its first write error.
    fn add(
        &mut self,
        kind: Kind,
        statements: &[Statement],
        offset: usize,
        reply: WriteReply,
        ordered: bool,
    ) -> bool {
        let result = &mut self.result;
        match kind {
            Kind::Insert => {
                // Counts saturate: a server's word is no reason to overflow.
                result.inserted_count = result.inserted_count.saturating_add(reply.n);
                // An ordered command stops at its first failure: later inserts never ran.
                // The index is the server's: one past this command's writes is no index.
                let failed: std::collections::HashSet<usize> =
                    reply.write_errors.iter().map(|e| e.index).collect();
                let ran = match failed.iter().min() {
                    Some(first) if ordered => (*first).min(statements.len()),
                    _ => statements.len(),
                };
                for (i, statement) in statements[..ran].iter().enumerate() {
                    if let (false, Some(id)) = (failed.contains(&i), &statement.id) {
                        result.inserted_ids.insert(offset + i, id.clone());
                    }
                }
            }
            Kind::Update => {
                let upserted = reply.upserted.len() as u64;
                result.matched_count = result
                    .matched_count
                    .saturating_add(reply.n.saturating_sub(upserted));
                result.modified_count = result.modified_count.saturating_add(reply.n_modified);
                result.upserted_count = result.upserted_count.saturating_add(upserted);
                for (i, id) in reply.upserted {
                    result.upserted_ids.insert(offset + i, id);
                }
            }
            Kind::Delete => result.deleted_count = result.deleted_count.saturating_add(reply.n),
        }
        let had_errors = !reply.write_errors.is_empty();
        self.write_errors
            .extend(reply.write_errors.into_iter().map(|mut e| {
                e.index += offset;
                e
            }));
        if reply.write_concern_error.is_some() {
            // A write concern error does not stop the writes; the last one is reported.
            self.write_concern_error = reply.write_concern_error;
        }
        self.labels.extend(reply.labels);
        ordered && had_errors
    }

    /// The result, or the failure holding it.
    fn finish(self) -> Result<BulkWriteResult> {
        if self.write_errors.is_empty() && self.write_concern_error.is_none() {
            return Ok(self.result);
        }
        Err(Error::new(ErrorKind::CollectionBulkWrite(BulkWriteFailure {
            write_errors: self.write_errors,
            write_concern_error: self.write_concern_error,
            partial_result: self.result,
        }))
        .with_labels(self.labels))
    }
}

/// The command statement of one write.
fn statement(request: CollectionWriteModel) -> Result<Statement> {
    let update = |filter: Document, u: Bson, multi: bool, o: WriteModelOptions| {
        let mut s = doc! { "q": filter, "u": u, "multi": multi };
        insert_opt(&mut s, "upsert", o.upsert);
        insert_opt(&mut s, "arrayFilters", o.array_filters);
        insert_opt(&mut s, "collation", o.collation);
        insert_opt(&mut s, "hint", o.hint.as_ref().map(Hint::to_bson));
        if !multi {
            insert_opt(&mut s, "sort", o.sort);
        }
        s
    };
    let delete = |filter: Document, multi: bool, o: WriteModelOptions| {
        let mut s = doc! { "q": filter, "limit": if multi { 0 } else { 1 } };
        insert_opt(&mut s, "collation", o.collation);
        insert_opt(&mut s, "hint", o.hint.as_ref().map(Hint::to_bson));
        s
    };
    let (kind, document, multi) = match request {
        CollectionWriteModel::InsertOne { document } => {
            let (id, document) = raw_with_id(&document)?;
            return Ok(Statement {
                kind: Kind::Insert,
                document,
                id: Some(id),
                multi: false,
            });
        }
        CollectionWriteModel::UpdateOne {
            filter,
            update: u,
            options,
        } => (
            Kind::Update,
            update(filter, checked_update(u)?, false, options),
            false,
        ),
        CollectionWriteModel::UpdateMany {
            filter,
            update: u,
            options,
        } => (
            Kind::Update,
            update(filter, checked_update(u)?, true, options),
            true,
        ),
        CollectionWriteModel::ReplaceOne {
            filter,
            replacement,
            mut options,
        } => {
            options.array_filters = None;
            let replacement = Bson::Document(to_replacement(&replacement)?);
            (
                Kind::Update,
                update(filter, replacement, false, options),
                false,
            )
        }
        CollectionWriteModel::DeleteOne { filter, options } => {
            (Kind::Delete, delete(filter, false, options), false)
        }
        CollectionWriteModel::DeleteMany { filter, options } => {
            (Kind::Delete, delete(filter, true, options), true)
        }
    };
    Ok(Statement {
        kind,
        document: crate::nesting::encode(&document)?,
        id: None,
        multi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_is_exact_with_its_statements_in_the_sequence() {
        use crate::operation::test_util::{assert_command, raw};
        let ns = Namespace::new("db", "c");
        let options = BulkWriteOptions {
            ordered: Some(false),
            comment: Some("bulk".into()),
            let_vars: Some(doc! { "v": 1 }),
            ..Default::default()
        };
        let requests = vec![insert(1), insert(2), delete_all()];
        let mut plan = Plan::new(&ns, requests, &options, Some(&WriteConcern::majority())).unwrap();
        let mut first = plan.next_command(&ns).unwrap();
        let command = assert_command(
            &mut first,
            doc! { "insert": "c", "ordered": false, "comment": "bulk", "writeConcern": { "w": "majority" } },
        );
        assert_eq!(command.sequences[0].identifier(), "documents");
        assert_eq!(command.sequences[0].documents().len(), 2);
        assert_eq!(first.retry(), Retry::Write);
        let mut second = plan.next_command(&ns).unwrap();
        let command = assert_command(
            &mut second,
            doc! {
                "delete": "c", "ordered": false, "comment": "bulk", "let": { "v": 1 },
                "writeConcern": { "w": "majority" },
            },
        );
        assert_eq!(command.sequences[0].identifier(), "deletes");
        assert_eq!(second.retry(), Retry::No, "a delete_many is not retryable");
        assert!(plan.next_command(&ns).is_none());
        let reply = first
            .handle_response(raw(doc! { "n": 2, "ok": 1 }))
            .unwrap();
        assert!(!plan.add(&first, reply));
        let reply = second
            .handle_response(raw(doc! { "n": 5, "ok": 1 }))
            .unwrap();
        assert!(!plan.add(&second, reply));
        let result = plan.finish().unwrap();
        assert_eq!((result.inserted_count, result.deleted_count), (2, 5));
        assert_eq!(result.inserted_ids[&1], Bson::Int32(2));
    }

    fn insert(id: i32) -> CollectionWriteModel {
        CollectionWriteModel::InsertOne {
            document: doc! { "_id": id },
        }
    }

    fn update(id: i32) -> CollectionWriteModel {
        CollectionWriteModel::UpdateOne {
            filter: doc! { "_id": id },
            update: doc! { "$set": { "seen": true } }.into(),
            options: WriteModelOptions::default(),
        }
    }

    fn delete_all() -> CollectionWriteModel {
        CollectionWriteModel::DeleteMany {
            filter: doc! {},
            options: WriteModelOptions::default(),
        }
    }

    fn write_error(index: usize) -> WriteError {
        WriteError {
            index,
            code: 11000,
            code_name: "DuplicateKey".into(),
            message: "E11000 duplicate key error".into(),
            details: None,
        }
    }

    #[test]
    fn runs_of_one_kind_are_cut_at_max_write_batch_size() {
        let limits = SizeLimits {
            max_write_batch_size: 2,
            ..SizeLimits::default()
        };
        let models = vec![
            insert(0),
            insert(1),
            insert(2),
            update(0),
            update(1),
            delete_all(),
            insert(3),
        ];
        let statements = statements(models, &limits).unwrap();
        let batches = plan(&statements, &limits, |_| 100).unwrap();
        assert_eq!(
            batches,
            [
                (Kind::Insert, 0..2),
                (Kind::Insert, 2..3),
                (Kind::Update, 3..5),
                (Kind::Delete, 5..6),
                (Kind::Insert, 6..7),
            ]
        );
    }

    #[test]
    fn a_long_run_at_the_default_limits_is_cut_every_100000_writes() {
        let limits = SizeLimits::default();
        let models = (0..250_000).map(|i| {
            if !(150_000..160_000).contains(&i) {
                insert(i)
            } else {
                update(i)
            }
        });
        let statements = statements(models.collect(), &limits).unwrap();
        let batches = plan(&statements, &limits, |_| 100).unwrap();
        assert_eq!(
            batches,
            [
                (Kind::Insert, 0..100_000),
                (Kind::Insert, 100_000..150_000),
                (Kind::Update, 150_000..160_000),
                (Kind::Insert, 160_000..250_000),
            ]
        );
    }

    #[test]
    fn runs_are_cut_before_a_message_would_exceed_max_message_size_bytes() {
        let padded = |id: i32| CollectionWriteModel::InsertOne {
            document: doc! { "_id": id, "pad": "x".repeat(1000) },
        };
        let models: Vec<_> = (0..5).map(padded).collect();
        let statement_len = statement(padded(0)).unwrap().document.as_bytes().len();
        let command_len = 120;
        // Room for two and a half statements after the command and the overhead.
        let limits = SizeLimits {
            max_message_size_bytes: batch::MESSAGE_OVERHEAD_BYTES
                + command_len
                + statement_len * 5 / 2,
            ..SizeLimits::default()
        };
        let statements = statements(models, &limits).unwrap();
        let batches = plan(&statements, &limits, |_| command_len).unwrap();
        assert_eq!(
            batches,
            [
                (Kind::Insert, 0..2),
                (Kind::Insert, 2..4),
                (Kind::Insert, 4..5)
            ]
        );
    }

    #[test]
    fn a_model_over_max_bson_object_size_is_refused_by_index() {
        let limits = SizeLimits {
            max_bson_object_size: 64,
            ..SizeLimits::default()
        };
        let big_filter = CollectionWriteModel::DeleteOne {
            filter: doc! { "name": "x".repeat(100) },
            options: WriteModelOptions::default(),
        };
        let err = statements(vec![insert(1), update(1), big_filter], &limits).unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
        let message = err.to_string();
        assert!(message.contains("write model 2 is"), "{message}");
        assert!(message.contains("maxBsonObjectSize: 64"), "{message}");
    }

    #[test]
    fn generated_ids_come_first_and_multi_writes_are_marked() {
        let statement = statement(CollectionWriteModel::InsertOne {
            document: doc! { "a": 1 },
        })
        .unwrap();
        let first = statement.document.iter().next().unwrap().unwrap();
        assert_eq!(first.0, "_id");
        assert!(statement.id.is_some() && !statement.multi);
        assert!(super::statement(delete_all()).unwrap().multi);
        assert!(!super::statement(update(1)).unwrap().multi);
    }

    #[test]
    fn replies_merge_with_indexes_mapped_back_and_ordered_stops_at_a_write_error() {
        let models = vec![insert(0), insert(1), insert(2), insert(3), update(9)];
        let statements = statements(models, &SizeLimits::default()).unwrap();
        let mut merged = Merged::default();
        let first = WriteReply {
            n: 2,
            ..WriteReply::default()
        };
        assert!(!merged.add(Kind::Insert, &statements[0..2], 0, first, true));
        // The second command failed at its second statement: write 3 of the list.
        let second = WriteReply {
            n: 1,
            write_errors: vec![write_error(1)],
            ..WriteReply::default()
        };
        assert!(merged.add(Kind::Insert, &statements[2..4], 2, second, true));
        assert_eq!(merged.write_errors[0].index, 3);
        let mut ids: Vec<_> = merged.result.inserted_ids.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, 2]);
        let Err(err) = merged.finish() else {
            panic!("a write error is a failure")
        };
        let ErrorKind::CollectionBulkWrite(failure) = &*err.kind else {
            panic!("{err:?}")
        };
        assert_eq!(failure.partial_result.inserted_count, 3);
    }

    /// Found by the fuzzer (`fuzz/`, target `write`): an ordered insert's reply naming a
    /// write error past the command's writes sliced out of range and panicked.
    #[test]
    fn a_write_error_index_past_the_command_and_huge_counts_do_not_panic() {
        let models = vec![insert(0), insert(1)];
        let statements = statements(models, &SizeLimits::default()).unwrap();
        let mut merged = Merged::default();
        let reply = || WriteReply {
            n: i64::MAX as u64,
            write_errors: vec![write_error(5)],
            ..WriteReply::default()
        };
        assert!(merged.add(Kind::Insert, &statements, 0, reply(), true));
        assert!(merged.add(Kind::Insert, &statements, 0, reply(), true));
        assert!(merged.add(Kind::Insert, &statements, 0, reply(), true));
        assert_eq!(merged.result.inserted_count, u64::MAX);
        assert_eq!(merged.result.inserted_ids.len(), 2);
        assert_eq!(merged.write_errors[0].index, 5);
    }

    #[test]
    fn unordered_replies_keep_going_and_map_upserts_and_write_concern_errors() {
        let models = vec![insert(0), insert(1), insert(2), update(7), update(8)];
        let statements = statements(models, &SizeLimits::default()).unwrap();
        let mut merged = Merged::default();
        // Unordered: the insert after the failed one ran.
        let inserts = WriteReply {
            n: 2,
            write_errors: vec![write_error(1)],
            ..WriteReply::default()
        };
        assert!(!merged.add(Kind::Insert, &statements[0..3], 0, inserts, false));
        let updates = WriteReply {
            n: 2,
            n_modified: 1,
            upserted: vec![(1, Bson::Int32(8))],
            write_concern_error: Some(WriteConcernError {
                code: 64,
                code_name: "WriteConcernFailed".into(),
                message: "waiting for replication timed out".into(),
                details: None,
            }),
            labels: vec!["RetryableWriteError".into()],
            ..WriteReply::default()
        };
        assert!(!merged.add(Kind::Update, &statements[3..5], 3, updates, false));
        let result = &merged.result;
        assert_eq!(
            (
                result.inserted_count,
                result.matched_count,
                result.modified_count,
                result.upserted_count
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(result.upserted_ids[&4], Bson::Int32(8));
        let mut ids: Vec<_> = result.inserted_ids.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 2]);
        let err = merged.finish().unwrap_err();
        assert!(err.contains_label("RetryableWriteError"));
        let ErrorKind::CollectionBulkWrite(failure) = &*err.kind else {
            panic!("{err:?}")
        };
        assert_eq!(failure.write_errors[0].index, 1);
        assert_eq!(
            failure.write_concern_error.as_ref().map(|e| e.code),
            Some(64)
        );
    }
}
