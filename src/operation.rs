//! The commands as pure operations (the official driver's `operation` module): each type
//! builds its command from its arguments and options and reads its reply into a result,
//! with no I/O, so each is unit-tested against the exact command it must send. The
//! executor ([`Client::execute`](crate::Client)) does everything in between: server
//! selection, checkout, implicit sessions, retries, cluster-time gossip, SDAM error
//! handling and command events.
//!
//! One file per command family: `find`, `aggregate`, `count`, `distinct`, `insert`,
//! `update`, `delete`, `find_and_modify`, `bulk_write`, `client_bulk_write`, `list`
//! (collections, databases, indexes),
//! `admin` (create, drop, rename, create/drop indexes), `run_command`, `cursor`
//! (getMore, killCursors), `transaction` (commit, abort); `reply` reads the reply shapes they share.

mod admin;
mod aggregate;
mod bulk_write;
pub(crate) mod change_stream;
mod client_bulk_write;
mod count;
mod cursor;
mod delete;
mod distinct;
mod find;
mod find_and_modify;
mod insert;
mod list;
mod reply;
mod run_command;
mod transaction;
mod update;

pub(crate) use crate::bson_util::get_int;
pub(crate) use admin::{
    Create, CreateIndexes, DropCollection, DropDatabase, DropIndexes, RenameCollection,
};
pub(crate) use aggregate::Aggregate;
pub(crate) use bulk_write::Plan as BulkWritePlan;
pub(crate) use client_bulk_write::Plan as ClientBulkWritePlan;
pub(crate) use count::{Count, CountDocuments};
pub(crate) use cursor::{GetMore, KillCursors};
pub(crate) use delete::Delete;
pub(crate) use distinct::Distinct;
pub(crate) use find::Find;
pub(crate) use find_and_modify::{FindAndModify, Modification};
pub(crate) use insert::{Insert, insert_batches, merge_insert_errors, raw_with_id, with_id};
pub(crate) use list::{ListCollections, ListDatabases, ListIndexes};
pub(crate) use reply::{CursorReply, WriteReply, error_labels};
pub(crate) use run_command::{RunCommand, RunCursorCommand};
pub(crate) use transaction::EndTransaction;
pub(crate) use update::{Update, checked_update, to_replacement};

use std::time::Duration;

use bson::{Bson, Document, RawDocumentBuf, doc};

pub(crate) use crate::Namespace;
use crate::{
    Result,
    options::{ReadConcern, ReadPreference, ReadPreferenceMode, SelectionCriteria, WriteConcern},
    retry::Retry,
    selection::Criteria,
    wire::DocumentSequence,
};

/// One command operation.
pub(crate) trait Operation {
    /// What the reply becomes.
    type Output;

    /// The command, ready to send.
    fn build(&mut self) -> Result<Command>;

    /// Which servers it may run on (default: the primary).
    fn criteria(&self) -> Criteria {
        Criteria::Write
    }

    /// Whether it may be retried once, and under which spec's rules (default: never).
    fn retry(&self) -> Retry {
        Retry::No
    }

    /// Reads a successful reply (`ok: 0` has already become an error).
    fn handle_response(&self, reply: RawDocumentBuf) -> Result<Self::Output>;
}

/// An operation lent to the executor, so the caller keeps it to read the result with
/// (a bulk write's command, whose reply is merged by its indexes).
impl<Op: Operation> Operation for &mut Op {
    type Output = Op::Output;

    fn build(&mut self) -> Result<Command> {
        (**self).build()
    }

    fn criteria(&self) -> Criteria {
        (**self).criteria()
    }

    fn retry(&self) -> Retry {
        (**self).retry()
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<Self::Output> {
        (**self).handle_response(reply)
    }
}

/// An operation whose reply opens a cursor: the executor keeps the server, session and
/// (load-balanced) connection for its `getMore`s.
pub(crate) trait CursorOperation: Operation<Output = CursorReply> {
    /// How the cursor asks for later batches.
    fn cursor_spec(&self) -> CursorSpec;
}

/// How a cursor fetches more.
#[derive(Default)]
pub(crate) struct CursorSpec {
    pub(crate) db: String,
    pub(crate) batch_size: Option<u32>,
    /// `maxTimeMS` of each `getMore` (how long a tailable await cursor waits for data).
    pub(crate) max_await_time: Option<Duration>,
    pub(crate) limit: Option<u64>,
    /// A tailable cursor that does not wait: an empty batch ends the current iteration
    /// (`next` returns `None`) but not the cursor. Other cursors fetch again.
    pub(crate) stop_on_empty_batch: bool,
    /// A tailable cursor (awaiting or not): its `timeoutMS` bounds each iteration, never
    /// its lifetime (the CSOT spec).
    pub(crate) tailable: bool,
    /// The `comment` of the query, repeated on each `getMore` (CRUD spec; MongoDB 4.4+
    /// accepts it there).
    pub(crate) comment: Option<Bson>,
}

/// A command to send: its database, its body, and the OP_MSG document sequences beside
/// it (an insert's `documents`; a client bulk write's `ops` and `nsInfo`).
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) db: String,
    pub(crate) body: Document,
    pub(crate) sequences: Vec<DocumentSequence>,
}

impl Command {
    pub(crate) fn new(db: &str, body: Document) -> Command {
        Command {
            db: db.to_owned(),
            body,
            sequences: Vec::new(),
        }
    }
}

/// The read concern, write concern and read preference a database or collection handle
/// gives its operations when the operation sets none of its own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Concerns {
    pub(crate) read_concern: Option<ReadConcern>,
    pub(crate) write_concern: Option<WriteConcern>,
    pub(crate) read_preference: Option<ReadPreference>,
}

impl Concerns {
    /// The operation's write concern, else the handle's.
    pub(crate) fn write_concern(&self, op: Option<WriteConcern>) -> Option<WriteConcern> {
        op.or_else(|| self.write_concern.clone())
    }

    /// The write concern of an operation in `session`: in a transaction the
    /// transaction's applies (sent with its commit), so the handle's is ignored and one
    /// set on the operation is an error (the transactions spec); otherwise as
    /// [`write_concern`](Self::write_concern).
    pub(crate) fn write_concern_in(
        &self,
        op: Option<WriteConcern>,
        session: Option<&crate::ClientSession>,
    ) -> Result<Option<WriteConcern>> {
        if !session.is_some_and(crate::ClientSession::in_transaction) {
            return Ok(self.write_concern(op));
        }
        match op {
            Some(_) => Err(crate::Error::invalid_argument(
                "Cannot set write concern after starting a transaction: the transaction's write concern applies (set it with start_transaction)",
            )),
            None => Ok(None),
        }
    }

    /// The operation's read concern, else the handle's.
    pub(crate) fn read_concern(&self, op: Option<ReadConcern>) -> Option<ReadConcern> {
        op.or_else(|| self.read_concern.clone())
    }

    /// The operation's read preference, else the handle's.
    pub(crate) fn read_preference(&self, op: Option<&ReadPreference>) -> Option<ReadPreference> {
        op.or(self.read_preference.as_ref()).cloned()
    }
}

/// What a read sees and where it runs: the operation's read concern and read
/// preference, else its handle's.
#[derive(Debug)]
pub(crate) struct ReadOptions {
    read_concern: Option<ReadConcern>,
    read_preference: Option<ReadPreference>,
}

impl ReadOptions {
    pub(crate) fn resolve(
        read_concern: Option<ReadConcern>,
        selection_criteria: Option<&SelectionCriteria>,
        concerns: &Concerns,
    ) -> ReadOptions {
        let op_pref = selection_criteria.and_then(SelectionCriteria::as_read_pref);
        ReadOptions {
            read_concern: concerns.read_concern(read_concern),
            read_preference: concerns.read_preference(op_pref),
        }
    }

    /// Adds `readConcern` and `$readPreference` (see [`add_read_options`]).
    pub(crate) fn add_to(&self, command: &mut Document) {
        add_read_options(
            command,
            self.read_concern.as_ref(),
            self.read_preference.as_ref(),
        );
    }

    /// Selection by the read preference (default: the primary).
    pub(crate) fn criteria(&self) -> Criteria {
        read_criteria(self.read_preference.as_ref())
    }
}

/// Puts `value` under `key` when there is one.
pub(crate) fn insert_opt(command: &mut Document, key: &str, value: Option<impl Into<Bson>>) {
    if let Some(value) = value {
        command.insert(key, value.into());
    }
}

/// A duration as `maxTimeMS` takes it.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Adds `writeConcern` (when it says anything) to a write command.
pub(crate) fn add_write_concern(command: &mut Document, write_concern: Option<&WriteConcern>) {
    if let Some(wc) = write_concern {
        let wc = wc.to_document();
        if !wc.is_empty() {
            command.insert("writeConcern", wc);
        }
    }
}

/// Whether writes with `write_concern` are acknowledged (no write concern: yes).
pub(crate) fn is_acknowledged(write_concern: Option<&WriteConcern>) -> bool {
    write_concern.is_none_or(WriteConcern::is_acknowledged)
}

/// Adds `readConcern` and, for a read preference other than primary, `$readPreference`.
pub(crate) fn add_read_options(
    command: &mut Document,
    read_concern: Option<&ReadConcern>,
    read_preference: Option<&ReadPreference>,
) {
    if let Some(rc) = read_concern {
        command.insert("readConcern", rc.to_document());
    }
    if let Some(pref) = read_preference
        && pref.mode != ReadPreferenceMode::Primary
    {
        command.insert("$readPreference", read_preference_document(pref));
    }
}

/// Where a read goes: its read preference (default: the primary).
pub(crate) fn read_criteria(read_preference: Option<&ReadPreference>) -> Criteria {
    Criteria::Read(read_preference.cloned().unwrap_or_default())
}

/// A read preference as `$readPreference` spells it.
pub(crate) fn read_preference_document(pref: &ReadPreference) -> Document {
    let mut doc = doc! { "mode": pref.mode.as_str() };
    if !pref.tag_sets.is_empty() {
        let tags: Vec<Document> = pref
            .tag_sets
            .iter()
            .map(|set| {
                set.iter()
                    .map(|(k, v)| (k.clone(), Bson::String(v.clone())))
                    .collect()
            })
            .collect();
        doc.insert("tags", tags);
    }
    if let Some(staleness) = pref.max_staleness {
        doc.insert("maxStalenessSeconds", staleness.as_secs() as i64);
    }
    doc
}

/// The default name of an index: `field_1_other_-1`.
pub(crate) fn index_name(keys: &Document) -> String {
    keys.iter()
        .map(|(field, dir)| {
            let dir = match dir {
                Bson::Int32(v) => v.to_string(),
                Bson::Int64(v) => v.to_string(),
                Bson::Double(v) => v.to_string(),
                Bson::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{field}_{dir}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// Test helpers: commands compared byte for byte (field order matters to the server for
/// the command name, and to us for reproducibility).
#[cfg(test)]
pub(crate) mod test_util {
    use bson::{Document, RawDocumentBuf};

    use super::Operation;

    /// Builds `op` and asserts its command is exactly `expected`, in order.
    #[track_caller]
    pub(crate) fn assert_command<Op: Operation>(op: &mut Op, expected: Document) -> super::Command {
        let command = op.build().expect("the command builds");
        let built = RawDocumentBuf::try_from(&command.body).unwrap();
        let want = RawDocumentBuf::try_from(&expected).unwrap();
        assert_eq!(
            built.as_bytes(),
            want.as_bytes(),
            "\n built: {}\nwanted: {}",
            command.body,
            expected
        );
        command
    }

    /// A reply document as the executor hands it over.
    pub(crate) fn raw(reply: Document) -> RawDocumentBuf {
        RawDocumentBuf::try_from(&reply).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn index_names_follow_the_servers_convention() {
        assert_eq!(
            index_name(&doc! { "sku": 1, "price": -1 }),
            "sku_1_price_-1"
        );
        assert_eq!(index_name(&doc! { "body": "text" }), "body_text");
    }

    #[test]
    fn the_operations_concerns_win_over_the_handles() {
        let handle = Concerns {
            write_concern: Some(WriteConcern::majority()),
            ..Default::default()
        };
        assert_eq!(handle.write_concern(None), Some(WriteConcern::majority()));
        let w0 = WriteConcern {
            w: Some(crate::options::Acknowledgment::Nodes(0)),
            ..Default::default()
        };
        assert_eq!(handle.write_concern(Some(w0.clone())), Some(w0.clone()));
        assert!(!is_acknowledged(Some(&w0)));
        assert!(is_acknowledged(None));
    }
}
