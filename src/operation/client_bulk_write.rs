//! The commands of `Client::bulk_write`: writes to many collections in `bulkWrite` commands (MongoDB
//! 8.0+, the CRUD spec's client bulk write, `source/crud/bulk-write.md`).
//!
//! The writes are cut into batches under the server's `maxWriteBatchSize` and
//! `maxMessageSizeBytes` (the spec's "Command Batching"); each batch is one command whose
//! `ops` travel as an OP_MSG document sequence and whose `nsInfo` lists only the
//! namespaces its ops name. The replies are merged into one result or one failure, every
//! index mapped back to the caller's list.

use std::collections::HashMap;

use bson::{Bson, Document, RawDocumentBuf, doc, rawdoc};

use super::{
    Command, Operation, add_write_concern, checked_update, error_labels, get_int, insert_opt,
    is_acknowledged, to_replacement, with_id,
};
use crate::{
    Error, Namespace, Result,
    error::{BulkWriteError, ErrorKind, PartialBulkWriteResult, WriteConcernError, WriteError},
    options::{BulkWriteOptions, WriteConcern, WriteModel},
    results::{DeleteResult, InsertOneResult, UpdateResult, VerboseBulkWriteResult},
    retry::Retry,
    wire::{
        DocumentSequence, SizeLimits,
        batch::{self, BatchLimits, Batcher},
    },
};

/// A client bulk write, serialized and planned: every write sized before the first
/// command goes out (one that no command can carry fails the call with nothing written),
/// then cut into commands.
#[derive(Debug)]
pub(crate) struct Plan {
    batches: std::vec::IntoIter<Batch>,
    kinds: Vec<OpKind>,
    /// The command, without `ops` and `nsInfo` (the batches' document sequences).
    command: Document,
    ordered: bool,
    verbose: bool,
    acknowledged: bool,
    merged: Merged,
}

impl Plan {
    /// Checks the options (the spec's refusals), serializes and plans `models`.
    pub(crate) fn new(
        models: Vec<WriteModel>,
        o: &BulkWriteOptions,
        verbose: bool,
        write_concern: Option<&WriteConcern>,
    ) -> Result<Plan> {
        let ordered = o.ordered.unwrap_or(true);
        let acknowledged = is_acknowledged(write_concern);
        if !acknowledged && verbose {
            return Err(Error::invalid_argument(
                "Cannot request unacknowledged write concern and verbose results",
            ));
        }
        if !acknowledged && ordered {
            return Err(Error::invalid_argument(
                "Cannot request unacknowledged write concern and ordered writes",
            ));
        }
        if models.is_empty() {
            return Err(Error::invalid_argument(
                "bulk_write needs at least one write",
            ));
        }
        let ops = models
            .into_iter()
            .map(operation)
            .collect::<Result<Vec<_>>>()?;
        let mut command = doc! { "bulkWrite": 1, "errorsOnly": !verbose, "ordered": ordered };
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "let", o.let_vars.clone());
        add_write_concern(&mut command, write_concern);
        let limits = batch::server_limits();
        let command_len = batch::document_len(&command)?;
        let (batches, kinds) = plan(ops, &limits, command_len)?;
        Ok(Plan {
            batches: batches.into_iter(),
            kinds,
            command,
            ordered,
            verbose,
            acknowledged,
            merged: Merged::default(),
        })
    }

    /// The next command to send, or `None` when all are sent.
    pub(crate) fn next_command(&mut self) -> Option<ClientBulkWriteCommand> {
        let batch = self.batches.next()?;
        let ns_info = batch
            .ns_info
            .iter()
            .map(|ns| rawdoc! { "ns": ns.as_str() })
            .collect();
        Some(ClientBulkWriteCommand {
            range: batch.offset..batch.offset + batch.ops.len(),
            command: Some(self.command.clone()),
            ops: Some(batch.ops),
            ns_info: Some(ns_info),
            retryable: batch.retryable,
        })
    }

    /// Whether the server reports on the writes (an unacknowledged bulk write reports
    /// nothing).
    pub(crate) fn acknowledged(&self) -> bool {
        self.acknowledged
    }

    /// Adds the reply of `command` and its result entries (the reply's cursor, read to
    /// the end). Returns whether the bulk write stops here.
    pub(crate) fn add(
        &mut self,
        command: &ClientBulkWriteCommand,
        reply: &Document,
        entries: &[Document],
    ) -> bool {
        self.merged.add(
            reply,
            entries,
            command.range.clone(),
            &self.kinds,
            self.ordered,
            self.verbose,
        )
    }

    /// The result, or the failure holding it.
    pub(crate) fn finish(self) -> Result<VerboseBulkWriteResult> {
        if !self.acknowledged {
            return Ok(VerboseBulkWriteResult::default());
        }
        self.merged.finish(self.verbose)
    }
}

/// One `bulkWrite` command, its `ops` in the OP_MSG document sequence.
#[derive(Debug)]
pub(crate) struct ClientBulkWriteCommand {
    /// The indexes of its writes in the caller's list.
    range: std::ops::Range<usize>,
    command: Option<Document>,
    ops: Option<Vec<RawDocumentBuf>>,
    /// `{ ns }` of each namespace its ops name, in the order their indexes refer to.
    ns_info: Option<Vec<RawDocumentBuf>>,
    /// No op may touch several documents (the retryable-writes spec).
    retryable: bool,
}

impl Operation for ClientBulkWriteCommand {
    type Output = Document;

    fn build(&mut self) -> Result<Command> {
        // Both lists travel as document sequences (the spec): `ops`, then `nsInfo`.
        let ops = DocumentSequence::new("ops", self.ops.take().unwrap_or_default())?;
        let ns_info = DocumentSequence::new("nsInfo", self.ns_info.take().unwrap_or_default())?;
        Ok(Command {
            db: "admin".to_owned(),
            body: self.command.take().unwrap_or_default(),
            sequences: vec![ops, ns_info],
        })
    }

    fn retry(&self) -> Retry {
        if self.retryable {
            Retry::Write
        } else {
            Retry::No
        }
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<Document> {
        crate::nesting::to_document(reply.as_ref())
    }
}

/// What kind of result a write's entry in the reply cursor gives.
#[derive(Clone, Debug, PartialEq)]
enum OpKind {
    /// An insert, and the `_id` of its document.
    Insert(Bson),
    Update,
    Delete,
}

impl OpKind {
    /// The op's first field, whose value indexes its batch's `nsInfo`.
    fn key(&self) -> &'static str {
        match self {
            OpKind::Insert(_) => "insert",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        }
    }
}

/// A write ready for a `bulkWrite`, but for the index of its namespace, which depends
/// on the batch it lands in.
#[derive(Debug)]
struct Op {
    namespace: String,
    /// The `ops` entry; its first field is [`OpKind::key`].
    document: Document,
    kind: OpKind,
    /// Whether it may touch several documents: its command is not retryable.
    multi: bool,
}

/// One `bulkWrite` command's share of the writes.
#[derive(Debug, PartialEq)]
struct Batch {
    /// The index, in the caller's list, of its first write.
    offset: usize,
    ops: Vec<RawDocumentBuf>,
    /// The namespaces its ops name, each once; an op's first field indexes this list.
    ns_info: Vec<String>,
    /// No op may touch several documents (the retryable-writes spec).
    retryable: bool,
}

impl Batch {
    fn starting_at(offset: usize) -> Batch {
        Batch {
            offset,
            ops: Vec::new(),
            ns_info: Vec::new(),
            retryable: true,
        }
    }
}

/// Cuts the writes into `bulkWrite` commands under `limits`, the command document
/// without `nsInfo` being `command_len` bytes (the spec's batch-splitting pseudocode):
/// each op and each new namespace entry count against `maxMessageSizeBytes`. Returns
/// the batches and the kind of every write.
///
/// # Errors
/// A write over `maxBsonObjectSize`, or too large (with its namespace) for any command.
fn plan(
    ops: Vec<Op>,
    limits: &SizeLimits,
    command_len: usize,
) -> Result<(Vec<Batch>, Vec<OpKind>)> {
    let mut batcher = Batcher::new(BatchLimits::new(limits, command_len), 0);
    // A batch's `nsInfo` is kept under maxBsonObjectSize, as if it were one document.
    let ns_room = limits.max_bson_object_size.saturating_sub(command_len);
    let mut batches = Vec::new();
    let mut kinds = Vec::with_capacity(ops.len());
    let mut open = Batch::starting_at(0);
    let mut ns_index: HashMap<String, i32> = HashMap::new();
    let mut ns_bytes = 0;
    for (i, op) in ops.into_iter().enumerate() {
        let Op {
            namespace,
            mut document,
            kind,
            multi,
        } = op;
        let known = ns_index.get(&namespace).copied();
        let index = known.unwrap_or(open.ns_info.len() as i32);
        let mut ns_len = known.map_or_else(|| ns_entry_len(&namespace, index), |_| 0);
        let mut raw = op_bytes(&mut document, kind.key(), index)?;
        batch::check_document_size(raw.as_bytes().len(), limits, || format!("write model {i}"))?;
        let mut new_namespace = known.is_none();
        if !batcher.fits(raw.as_bytes().len() + ns_len) || ns_bytes + ns_len > ns_room {
            if let Some(range) = batcher.cut() {
                batches.push(std::mem::replace(&mut open, Batch::starting_at(range.end)));
            }
            ns_index.clear();
            ns_bytes = 0;
            new_namespace = true;
            if index != 0 {
                raw = op_bytes(&mut document, kind.key(), 0)?;
            }
            ns_len = ns_entry_len(&namespace, 0);
            if ns_len > ns_room {
                return Err(Error::invalid_argument(format!(
                    "the namespace of write model {i} is {} bytes, too long for a bulkWrite command",
                    namespace.len()
                )));
            }
        }
        let closed = batcher.push(raw.as_bytes().len() + ns_len)?;
        debug_assert!(
            closed.is_none(),
            "a write that does not fit was cut for above"
        );
        if new_namespace {
            ns_index.insert(namespace.clone(), open.ns_info.len() as i32);
            open.ns_info.push(namespace);
            ns_bytes += ns_len;
        }
        open.ops.push(raw);
        open.retryable &= !multi;
        kinds.push(kind);
    }
    if batcher.cut().is_some() {
        batches.push(open);
    }
    Ok((batches, kinds))
}

/// The `ops` entry of a write whose namespace is entry `index` of its batch's `nsInfo`.
fn op_bytes(document: &mut Document, key: &str, index: i32) -> Result<RawDocumentBuf> {
    // Replacing the value keeps the field first, where the server looks for it.
    document.insert(key, index);
    crate::nesting::encode(document)
}

/// Bytes the `nsInfo` entry of `namespace` takes as element `index` of the command's
/// `nsInfo` array: the document, its type byte, its index as a key and that key's NUL.
fn ns_entry_len(namespace: &str, index: i32) -> usize {
    let entry = rawdoc! { "ns": namespace };
    entry.as_bytes().len() + 2 + index.to_string().len()
}

/// The replies of a client bulk write's commands so far, merged, indexes in the caller's
/// list.
#[derive(Debug, Default)]
struct Merged {
    result: VerboseBulkWriteResult,
    write_errors: HashMap<usize, WriteError>,
    write_concern_errors: Vec<WriteConcernError>,
    labels: Vec<String>,
    /// Whether some write is known to have succeeded: only then is there a partial
    /// result (the spec's rules, applied to each command).
    any_succeeded: bool,
}

impl Merged {
    /// Adds the reply to the command of the writes `range` of the caller's list, with
    /// `entries` the documents of its results cursor. Returns whether the bulk write
    /// stops here: an ordered one stops at its first write error; write concern errors
    /// stop nothing.
    fn add(
        &mut self,
        reply: &Document,
        entries: &[Document],
        range: std::ops::Range<usize>,
        kinds: &[OpKind],
        ordered: bool,
        verbose: bool,
    ) -> bool {
        let result = &mut self.result;
        let summary = &mut result.summary;
        // Counts saturate: a server's word is no reason to overflow.
        for (total, key) in [
            (&mut summary.inserted_count, "nInserted"),
            (&mut summary.upserted_count, "nUpserted"),
            (&mut summary.matched_count, "nMatched"),
            (&mut summary.modified_count, "nModified"),
            (&mut summary.deleted_count, "nDeleted"),
        ] {
            *total = total.saturating_add(count(reply, key));
        }
        let mut errors = 0;
        let mut first_error = None;
        for entry in entries {
            let index = range.start + get_int(entry, "idx").unwrap_or(0).max(0) as usize;
            if get_int(entry, "ok") != Some(1) {
                errors += 1;
                first_error = Some(first_error.map_or(index, |first: usize| first.min(index)));
                self.write_errors.insert(
                    index,
                    WriteError {
                        index,
                        code: get_int(entry, "code").unwrap_or(0) as i32,
                        code_name: entry.get_str("codeName").unwrap_or_default().to_owned(),
                        message: entry.get_str("errmsg").unwrap_or_default().to_owned(),
                        details: entry.get_document("errInfo").ok().cloned(),
                    },
                );
                continue;
            }
            if !verbose {
                continue;
            }
            let n = get_int(entry, "n").unwrap_or(0).max(0) as u64;
            let modified = get_int(entry, "nModified").unwrap_or(0).max(0) as u64;
            match kinds.get(index) {
                Some(OpKind::Insert(id)) => {
                    result.insert_results.insert(
                        index,
                        InsertOneResult {
                            inserted_id: id.clone(),
                        },
                    );
                }
                Some(OpKind::Update) => {
                    let upserted_id = entry
                        .get_document("upserted")
                        .ok()
                        .and_then(|u| u.get("_id").cloned());
                    result.update_results.insert(
                        index,
                        UpdateResult {
                            matched_count: n,
                            modified_count: modified,
                            upserted_id,
                        },
                    );
                }
                Some(OpKind::Delete) | None => {
                    result
                        .delete_results
                        .insert(index, DeleteResult { deleted_count: n });
                }
            }
        }
        let errors = get_int(reply, "nErrors").map_or(errors, |n| n.max(0) as usize);
        self.any_succeeded |= if ordered {
            errors == 0 || first_error.is_some_and(|first| first > range.start)
        } else {
            errors < range.len()
        };
        if let Ok(e) = reply.get_document("writeConcernError") {
            self.write_concern_errors.push(WriteConcernError {
                code: get_int(e, "code").unwrap_or(0) as i32,
                code_name: e.get_str("codeName").unwrap_or_default().to_owned(),
                message: e.get_str("errmsg").unwrap_or_default().to_owned(),
                details: e.get_document("errInfo").ok().cloned(),
            });
        }
        self.labels.extend(error_labels(reply));
        ordered && errors > 0
    }

    /// The result, or the failure holding what is known of it.
    fn finish(self, verbose: bool) -> Result<VerboseBulkWriteResult> {
        if self.write_errors.is_empty() && self.write_concern_errors.is_empty() {
            return Ok(self.result);
        }
        let partial = self.any_succeeded.then(|| {
            if verbose {
                PartialBulkWriteResult::Verbose(self.result)
            } else {
                PartialBulkWriteResult::Summary(self.result.summary)
            }
        });
        Err(Error::new(ErrorKind::BulkWrite(BulkWriteError {
            write_errors: self.write_errors,
            write_concern_errors: self.write_concern_errors,
            partial_result: partial,
        }))
        .with_labels(self.labels))
    }
}

fn count(reply: &Document, key: &str) -> i64 {
    get_int(reply, key).unwrap_or(0).max(0)
}

/// A write as an [`Op`]; the namespace index is filled in when it is batched.
fn operation(model: WriteModel) -> Result<Op> {
    let checked = |ns: Namespace| -> Result<String> {
        if ns.db.is_empty() || ns.coll.is_empty() {
            return Err(Error::invalid_argument(format!(
                "namespace {ns:?} is not \"db.collection\""
            )));
        }
        Ok(ns.to_string())
    };
    let options = |op: &mut Document,
                   array_filters: Option<Vec<Bson>>,
                   collation: Option<Document>,
                   hint: Option<Bson>,
                   upsert: Option<bool>,
                   sort: Option<Document>| {
        insert_opt(op, "upsert", upsert);
        insert_opt(op, "arrayFilters", array_filters);
        insert_opt(op, "collation", collation);
        insert_opt(op, "hint", hint);
        insert_opt(op, "sort", sort);
    };
    let update = |namespace, filter, mods: Bson, multi| -> Result<(String, Document)> {
        let op = doc! { "update": 0, "filter": filter, "updateMods": mods, "multi": multi };
        Ok((checked(namespace)?, op))
    };
    Ok(match model {
        WriteModel::InsertOne(m) => {
            let (id, document) = with_id(&m.document)?;
            Op {
                namespace: checked(m.namespace)?,
                document: doc! { "insert": 0, "document": document },
                kind: OpKind::Insert(id),
                multi: false,
            }
        }
        WriteModel::UpdateOne(m) => {
            let (namespace, mut op) =
                update(m.namespace, m.filter, checked_update(m.update)?, false)?;
            options(
                &mut op,
                m.array_filters,
                m.collation,
                m.hint,
                m.upsert,
                m.sort,
            );
            Op {
                namespace,
                document: op,
                kind: OpKind::Update,
                multi: false,
            }
        }
        WriteModel::UpdateMany(m) => {
            let (namespace, mut op) =
                update(m.namespace, m.filter, checked_update(m.update)?, true)?;
            options(
                &mut op,
                m.array_filters,
                m.collation,
                m.hint,
                m.upsert,
                None,
            );
            Op {
                namespace,
                document: op,
                kind: OpKind::Update,
                multi: true,
            }
        }
        WriteModel::ReplaceOne(m) => {
            let replacement = Bson::Document(to_replacement(&m.replacement)?);
            let (namespace, mut op) = update(m.namespace, m.filter, replacement, false)?;
            options(&mut op, None, m.collation, m.hint, m.upsert, m.sort);
            Op {
                namespace,
                document: op,
                kind: OpKind::Update,
                multi: false,
            }
        }
        WriteModel::DeleteOne(m) => {
            let mut op = doc! { "delete": 0, "filter": m.filter, "multi": false };
            options(&mut op, None, m.collation, m.hint, None, None);
            Op {
                namespace: checked(m.namespace)?,
                document: op,
                kind: OpKind::Delete,
                multi: false,
            }
        }
        WriteModel::DeleteMany(m) => {
            let mut op = doc! { "delete": 0, "filter": m.filter, "multi": true };
            options(&mut op, None, m.collation, m.hint, None, None);
            Op {
                namespace: checked(m.namespace)?,
                document: op,
                kind: OpKind::Delete,
                multi: true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        options::{DeleteManyModel, InsertOneModel},
        results::SummaryBulkWriteResult,
    };

    #[test]
    fn each_command_is_exact_with_ops_and_ns_info_as_sequences() {
        use crate::operation::test_util::assert_command;
        let options = BulkWriteOptions {
            ordered: Some(false),
            comment: Some("c".into()),
            ..Default::default()
        };
        let models = vec![insert("db.a", 1), insert("db.b", 2), insert("db.a", 3)];
        let mut plan = Plan::new(models, &options, false, None).unwrap();
        let mut command = plan.next_command().unwrap();
        let built = assert_command(
            &mut command,
            doc! { "bulkWrite": 1, "errorsOnly": true, "ordered": false, "comment": "c" },
        );
        let [ops, ns_info] = &built.sequences[..] else {
            panic!("two sequences: {:?}", built.sequences)
        };
        assert_eq!((ops.identifier(), ops.documents().len()), ("ops", 3));
        assert_eq!(ns_info.identifier(), "nsInfo");
        assert_eq!(
            ns_info.documents(),
            [rawdoc! { "ns": "db.a" }, rawdoc! { "ns": "db.b" }]
        );
        assert_eq!(
            ops.documents()[2].get_i32("insert").unwrap(),
            0,
            "db.a is entry 0"
        );
        assert_eq!(built.db, "admin");
        assert!(plan.next_command().is_none());
    }

    fn insert(namespace: &str, id: i32) -> WriteModel {
        insert_doc(namespace, doc! { "_id": id })
    }

    fn insert_doc(namespace: &str, document: Document) -> WriteModel {
        InsertOneModel::builder()
            .namespace(namespace.parse().unwrap())
            .document(document)
            .build()
            .into()
    }

    fn ops(models: Vec<WriteModel>) -> Vec<Op> {
        models.into_iter().map(|m| operation(m).unwrap()).collect()
    }

    /// Each batch's ops, as (first field's value, the namespace it names).
    fn targets(batch: &Batch) -> Vec<(i32, &str)> {
        batch
            .ops
            .iter()
            .map(|op| {
                let (_, value) = op.iter().next().unwrap().unwrap();
                let index = value.as_i32().unwrap();
                (index, batch.ns_info[index as usize].as_str())
            })
            .collect()
    }

    #[test]
    fn batches_are_cut_at_max_write_batch_size_each_with_its_own_ns_info() {
        let limits = SizeLimits {
            max_write_batch_size: 2,
            ..SizeLimits::default()
        };
        let models = ["db.a", "db.b", "db.a", "db.c", "db.b"]
            .iter()
            .enumerate()
            .map(|(i, ns)| insert(ns, i as i32))
            .collect();
        let (batches, kinds) = plan(ops(models), &limits, 60).unwrap();
        assert_eq!(kinds.len(), 5);
        let offsets: Vec<_> = batches.iter().map(|b| b.offset).collect();
        assert_eq!(offsets, [0, 2, 4]);
        assert_eq!(batches[0].ns_info, ["db.a", "db.b"]);
        assert_eq!(targets(&batches[0]), [(0, "db.a"), (1, "db.b")]);
        assert_eq!(batches[1].ns_info, ["db.a", "db.c"]);
        assert_eq!(targets(&batches[1]), [(0, "db.a"), (1, "db.c")]);
        assert_eq!(batches[2].ns_info, ["db.b"]);
        assert_eq!(targets(&batches[2]), [(0, "db.b")]);
    }

    #[test]
    fn max_write_batch_size_plus_one_writes_make_two_commands() {
        // The spec's prose test 3, without a server.
        let limits = SizeLimits::default();
        let models = (0..limits.max_write_batch_size + 1)
            .map(|_| insert_doc("db.coll", doc! { "a": "b" }))
            .collect();
        let (batches, _) = plan(ops(models), &limits, 43).unwrap();
        let lens: Vec<_> = batches.iter().map(|b| b.ops.len()).collect();
        assert_eq!(lens, [limits.max_write_batch_size, 1]);
    }

    #[test]
    fn writes_near_max_bson_object_size_are_cut_by_max_message_size_bytes() {
        // The spec's prose test 4, without a server.
        let limits = SizeLimits::default();
        let document = doc! { "a": "b".repeat(limits.max_bson_object_size - 500) };
        let count = limits.max_message_size_bytes / limits.max_bson_object_size + 1;
        let models = (0..count)
            .map(|_| insert_doc("db.coll", document.clone()))
            .collect();
        let (batches, _) = plan(ops(models), &limits, 43).unwrap();
        let lens: Vec<_> = batches.iter().map(|b| b.ops.len()).collect();
        assert_eq!(lens, [count - 1, 1]);
    }

    #[test]
    fn a_new_namespace_that_would_overflow_the_message_starts_a_new_batch() {
        // The spec's prose test 11 in miniature: the last op fits, its new nsInfo entry
        // does not.
        let padded = insert_doc("db.coll", doc! { "_id": 0, "pad": "x".repeat(500) });
        let small = |namespace: &str| insert_doc(namespace, doc! { "_id": 1 });
        let command_len = 43;
        let len = |model: WriteModel| {
            let mut op = operation(model).unwrap();
            op_bytes(&mut op.document, op.kind.key(), 0)
                .unwrap()
                .as_bytes()
                .len()
        };
        let room = len(padded.clone()) + ns_entry_len("db.coll", 0) + len(small("db.coll"));
        let limits = SizeLimits {
            max_message_size_bytes: batch::MESSAGE_OVERHEAD_BYTES + command_len + room,
            ..SizeLimits::default()
        };

        let same = ops(vec![padded.clone(), small("db.coll")]);
        let (batches, _) = plan(same, &limits, command_len).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].ns_info, ["db.coll"]);

        let long = format!("db.{}", "c".repeat(200));
        let new = ops(vec![padded, small(&long)]);
        let (batches, _) = plan(new, &limits, command_len).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].ns_info, ["db.coll"]);
        assert_eq!(batches[1].offset, 1);
        assert_eq!(batches[1].ns_info, [long.as_str()]);
        assert_eq!(targets(&batches[1]), [(0, long.as_str())]);
    }

    #[test]
    fn a_write_no_command_can_carry_is_refused_before_anything_is_sent() {
        // The spec's prose test 12, at small limits: a document too large, then a
        // namespace too long.
        let limits = SizeLimits {
            max_message_size_bytes: 4000,
            max_bson_object_size: 1500,
            ..SizeLimits::default()
        };
        let big = insert_doc("db.coll", doc! { "a": "b".repeat(4000) });
        let err = plan(ops(vec![insert("db.coll", 0), big]), &limits, 43).unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
        assert!(err.to_string().contains("write model 1 is"), "{err}");

        let long = format!("db.{}", "c".repeat(4000));
        let err = plan(ops(vec![insert(&long, 0)]), &limits, 43).unwrap_err();
        assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
        assert!(err.to_string().contains("write model 0"), "{err}");
    }

    #[test]
    fn a_multi_write_makes_only_its_own_batch_not_retryable() {
        let limits = SizeLimits {
            max_write_batch_size: 2,
            ..SizeLimits::default()
        };
        let delete_all = DeleteManyModel::builder()
            .namespace("db.b".parse().unwrap())
            .filter(doc! {})
            .build()
            .into();
        let models = vec![
            insert("db.a", 0),
            insert("db.a", 1),
            insert("db.a", 2),
            delete_all,
        ];
        let (batches, kinds) = plan(ops(models), &limits, 43).unwrap();
        assert_eq!((batches[0].retryable, batches[1].retryable), (true, false));
        assert_eq!(kinds[3], OpKind::Delete);
    }

    #[test]
    fn replies_of_several_batches_merge_with_indexes_mapped_back() {
        let kinds = vec![
            OpKind::Insert(Bson::Int32(0)),
            OpKind::Update,
            OpKind::Delete,
            OpKind::Insert(Bson::Int32(3)),
        ];
        let wce = doc! { "code": 64, "errmsg": "waiting for replication timed out" };
        let mut merged = Merged::default();
        let first = doc! { "nInserted": 1, "nMatched": 1, "nModified": 1, "nErrors": 0, "writeConcernError": wce.clone() };
        let entries = [
            doc! { "ok": 1, "idx": 0, "n": 1 },
            doc! { "ok": 1, "idx": 1, "n": 1, "nModified": 1 },
        ];
        assert!(!merged.add(&first, &entries, 0..2, &kinds, false, true));
        let second = doc! { "nDeleted": 1, "nErrors": 1, "writeConcernError": wce };
        let entries = [
            doc! { "ok": 1, "idx": 0, "n": 1 },
            doc! { "ok": 0, "idx": 1, "code": 11000, "errmsg": "E11000 duplicate key error" },
        ];
        assert!(!merged.add(&second, &entries, 2..4, &kinds, false, true));
        let result = &merged.result;
        assert_eq!(
            (
                result.summary.inserted_count,
                result.summary.matched_count,
                result.summary.deleted_count
            ),
            (1, 1, 1)
        );
        assert_eq!(result.insert_results[&0].inserted_id, Bson::Int32(0));
        assert_eq!(result.update_results[&1].modified_count, 1);
        assert_eq!(result.delete_results[&2].deleted_count, 1);
        assert!(!result.insert_results.contains_key(&3));
        let err = merged.finish(false).unwrap_err();
        let ErrorKind::BulkWrite(failure) = &*err.kind else {
            panic!("{err:?}")
        };
        assert_eq!(failure.write_errors[&3].index, 3);
        assert_eq!(failure.write_errors[&3].code, 11000);
        // One write concern error per command, collected across commands.
        assert_eq!(failure.write_concern_errors.len(), 2);
        assert!(failure.partial_result.is_some());
    }

    /// Two commands' replies with huge counts overflowed (a panic in a debug build, a
    /// wrapped count in release); the fuzzer's `write` target (`fuzz/`) adds each reply
    /// twice to reach this.
    #[test]
    fn huge_counts_in_several_replies_saturate() {
        let kinds = vec![OpKind::Delete; 2];
        let mut merged = Merged::default();
        let reply = doc! { "nDeleted": i64::MAX, "nInserted": i64::MAX, "nErrors": 0 };
        assert!(!merged.add(&reply, &[], 0..1, &kinds, true, false));
        assert!(!merged.add(&reply, &[], 1..2, &kinds, true, false));
        let summary = &merged.result.summary;
        assert_eq!(
            (summary.deleted_count, summary.inserted_count),
            (i64::MAX, i64::MAX)
        );
    }

    #[test]
    fn an_ordered_bulk_write_stops_and_reports_a_partial_result_only_after_a_success() {
        let kinds = vec![OpKind::Update; 4];
        let failed_first = [doc! { "ok": 0, "idx": 0, "code": 2, "errmsg": "bad" }];
        let reply = doc! { "nErrors": 1 };

        let mut merged = Merged::default();
        assert!(merged.add(&reply, &failed_first, 0..2, &kinds, true, false));
        let err = merged.finish(false).unwrap_err();
        let ErrorKind::BulkWrite(failure) = &*err.kind else {
            panic!("{err:?}")
        };
        assert_eq!(failure.partial_result, None);

        // The same failure in the second command: the first command's writes succeeded.
        let mut merged = Merged::default();
        let ok = doc! { "nMatched": 2, "nModified": 2, "nErrors": 0 };
        assert!(!merged.add(&ok, &[], 0..2, &kinds, true, false));
        assert!(merged.add(&reply, &failed_first, 2..4, &kinds, true, false));
        let err = merged.finish(false).unwrap_err();
        let ErrorKind::BulkWrite(failure) = &*err.kind else {
            panic!("{err:?}")
        };
        assert_eq!(failure.write_errors[&2].index, 2);
        assert_eq!(
            failure.partial_result,
            Some(PartialBulkWriteResult::Summary(SummaryBulkWriteResult {
                matched_count: 2,
                modified_count: 2,
                ..Default::default()
            }))
        );
    }
}
