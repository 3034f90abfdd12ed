//! `aggregate` (CRUD spec, "Aggregate"), on a collection or a whole database.

use bson::{Bson, Document, RawDocumentBuf, doc};

use super::{
    Command, Concerns, CursorOperation, CursorReply, CursorSpec, Namespace, Operation, ReadOptions,
    add_write_concern, insert_opt, millis,
};
use crate::{
    Result,
    options::{AggregateOptions, WriteConcern},
    retry::Retry,
    selection::Criteria,
};

/// An `aggregate`; its reply opens a cursor. A pipeline ending in `$out` or `$merge`
/// writes: it runs on the primary with the write concern and is not retried.
#[derive(Debug)]
pub(crate) struct Aggregate {
    db: String,
    /// The collection's name, or 1 for a database-level pipeline.
    target: Bson,
    pipeline: Vec<Document>,
    options: AggregateOptions,
    writes: bool,
    read: ReadOptions,
    write_concern: Option<WriteConcern>,
}

impl Aggregate {
    /// A pipeline over the collection `ns`, or with an empty collection name over the
    /// database.
    pub(crate) fn new(
        ns: &Namespace,
        pipeline: Vec<Document>,
        options: AggregateOptions,
        concerns: &Concerns,
    ) -> Aggregate {
        let target = if ns.coll.is_empty() {
            Bson::Int32(1)
        } else {
            Bson::String(ns.coll.clone())
        };
        let writes = pipeline
            .last()
            .is_some_and(|s| s.contains_key("$out") || s.contains_key("$merge"));
        Aggregate {
            db: ns.db.clone(),
            target,
            writes,
            // A pipeline that writes is still sent its `$readPreference` (MongoDB 5.0+
            // may run `$out` / `$merge` on a secondary; the CRUD spec's
            // aggregate-write-readPreference tests check it), but selection picks the
            // primary: see `criteria`.
            read: ReadOptions::resolve(
                options.read_concern.clone(),
                options.selection_criteria.as_ref(),
                concerns,
            ),
            write_concern: concerns.write_concern(options.write_concern.clone()),
            pipeline,
            options,
        }
    }
}

impl Operation for Aggregate {
    type Output = CursorReply;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut cursor = Document::new();
        // A $out/$merge pipeline returns no documents; batchSize 0 would only make the
        // server keep an empty cursor open (CRUD spec: send `cursor: {}`).
        let batch_size = o.batch_size.filter(|n| !(self.writes && *n == 0));
        insert_opt(&mut cursor, "batchSize", batch_size.map(i64::from));
        let mut command = doc! {
            "aggregate": self.target.clone(),
            "pipeline": std::mem::take(&mut self.pipeline),
            "cursor": cursor,
        };
        insert_opt(&mut command, "allowDiskUse", o.allow_disk_use);
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "let", o.let_vars.clone());
        if self.writes {
            add_write_concern(&mut command, self.write_concern.as_ref());
        }
        self.read.add_to(&mut command);
        Ok(Command::new(&self.db, command))
    }

    fn criteria(&self) -> Criteria {
        if self.writes {
            Criteria::Write
        } else {
            self.read.criteria()
        }
    }

    fn retry(&self) -> Retry {
        if self.writes { Retry::No } else { Retry::Read }
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<CursorReply> {
        CursorReply::parse(&reply)
    }
}

impl CursorOperation for Aggregate {
    fn cursor_spec(&self) -> CursorSpec {
        CursorSpec {
            db: self.db.clone(),
            batch_size: self.options.batch_size,
            max_await_time: self.options.max_await_time,
            comment: self.options.comment.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        operation::test_util::assert_command,
        options::{ReadPreference, ReadPreferenceMode, WriteConcern},
    };

    #[test]
    fn a_read_pipeline_is_a_retryable_read_with_its_options() {
        let options = AggregateOptions {
            batch_size: Some(0),
            allow_disk_use: Some(true),
            max_time: Some(Duration::from_secs(1)),
            comment: Some("c".into()),
            selection_criteria: Some(ReadPreference::new(ReadPreferenceMode::Secondary).into()),
            ..Default::default()
        };
        let mut op = Aggregate::new(
            &Namespace::new("db", "c"),
            vec![doc! { "$match": {} }],
            options,
            &Concerns::default(),
        );
        assert_command(
            &mut op,
            doc! {
                "aggregate": "c", "pipeline": [{ "$match": {} }], "cursor": { "batchSize": 0_i64 },
                "allowDiskUse": true, "maxTimeMS": 1000_i64, "comment": "c",
                "$readPreference": { "mode": "secondary" },
            },
        );
        assert_eq!(op.retry(), Retry::Read);
    }

    #[test]
    fn a_writing_pipeline_runs_on_the_primary_with_the_write_concern() {
        let concerns = Concerns {
            write_concern: Some(WriteConcern::majority()),
            read_preference: Some(ReadPreference::new(ReadPreferenceMode::Secondary)),
            ..Default::default()
        };
        let options = AggregateOptions {
            batch_size: Some(0),
            ..Default::default()
        };
        let mut op = Aggregate::new(
            &Namespace::new("db", ""),
            vec![doc! { "$documents": [] }, doc! { "$out": "o" }],
            options,
            &concerns,
        );
        assert_command(
            &mut op,
            doc! {
                "aggregate": 1, "pipeline": [{ "$documents": [] }, { "$out": "o" }], "cursor": {},
                "writeConcern": { "w": "majority" }, "$readPreference": { "mode": "secondary" },
            },
        );
        assert!(matches!(op.criteria(), Criteria::Write));
        assert_eq!(op.retry(), Retry::No);
    }
}
