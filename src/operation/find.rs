//! `find` (CRUD spec, "Find").

use bson::{Document, RawDocumentBuf, doc};

use super::{
    Command, Concerns, CursorOperation, CursorReply, CursorSpec, Namespace, Operation, ReadOptions,
    insert_opt, millis,
};
use crate::{
    Result,
    options::{CursorType, FindOptions},
    retry::Retry,
    selection::Criteria,
};

/// A `find`; its reply opens a cursor.
#[derive(Debug)]
pub(crate) struct Find {
    ns: Namespace,
    filter: Document,
    options: FindOptions,
    read: ReadOptions,
}

impl Find {
    pub(crate) fn new(
        ns: Namespace,
        filter: Document,
        options: FindOptions,
        concerns: &Concerns,
    ) -> Find {
        Find {
            read: ReadOptions::resolve(
                options.read_concern.clone(),
                options.selection_criteria.as_ref(),
                concerns,
            ),
            ns,
            filter,
            options,
        }
    }

    /// `max_await_time` applies only to tailable await cursors.
    fn max_await_time(&self) -> Option<std::time::Duration> {
        let o = &self.options;
        o.max_await_time
            .filter(|_| o.cursor_type == Some(CursorType::TailableAwait))
    }
}

/// The `find` command's `batchSize` for `limit` (zero already taken as none) and the
/// caller's `batch_size`:
/// - a batch size equal to a (positive) limit is sent as `limit + 1`, so the server finds
///   the end of the results in the first batch and closes the cursor (CRUD spec,
///   DRIVERS-1447);
/// - zero is left out (find/getMore/killCursors spec);
/// - with a negative limit (`singleBatch`) it goes as given: `findOne` (limit -1) sends
///   none, as the CRUD spec's `findOne` requires, although the find/getMore/killCursors
///   spec's OP_QUERY mapping would make it the limit.
fn first_batch_size(limit: Option<i64>, batch_size: Option<u32>) -> Option<i64> {
    let batch_size = batch_size.filter(|b| *b != 0).map(i64::from);
    match limit {
        Some(limit) if limit > 0 && batch_size == Some(limit) => Some(limit + 1),
        _ => batch_size,
    }
}

impl Operation for Find {
    type Output = CursorReply;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut command =
            doc! { "find": self.ns.coll.as_str(), "filter": std::mem::take(&mut self.filter) };
        insert_opt(&mut command, "projection", o.projection.clone());
        insert_opt(&mut command, "sort", o.sort.clone());
        insert_opt(&mut command, "skip", o.skip.map(|s| s as i64));
        let limit = o.limit.filter(|l| *l != 0);
        if let Some(limit) = limit {
            command.insert("limit", limit.saturating_abs());
            if limit < 0 {
                command.insert("singleBatch", true);
            }
        }
        insert_opt(
            &mut command,
            "batchSize",
            first_batch_size(limit, o.batch_size),
        );
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "allowDiskUse", o.allow_disk_use);
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        insert_opt(&mut command, "let", o.let_vars.clone());
        insert_opt(&mut command, "noCursorTimeout", o.no_cursor_timeout);
        insert_opt(&mut command, "allowPartialResults", o.allow_partial_results);
        insert_opt(&mut command, "returnKey", o.return_key);
        insert_opt(&mut command, "showRecordId", o.show_record_id);
        insert_opt(&mut command, "min", o.min.clone());
        insert_opt(&mut command, "max", o.max.clone());
        match o.cursor_type {
            Some(CursorType::Tailable) => {
                command.insert("tailable", true);
            }
            Some(CursorType::TailableAwait) => {
                command.insert("tailable", true);
                command.insert("awaitData", true);
            }
            _ => {}
        }
        self.read.add_to(&mut command);
        Ok(Command::new(&self.ns.db, command))
    }

    fn criteria(&self) -> Criteria {
        self.read.criteria()
    }

    fn retry(&self) -> Retry {
        Retry::Read
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<CursorReply> {
        CursorReply::parse(&reply)
    }
}

impl CursorOperation for Find {
    fn cursor_spec(&self) -> CursorSpec {
        let o = &self.options;
        let max_await_time = self.max_await_time();
        CursorSpec {
            db: self.ns.db.clone(),
            batch_size: o.batch_size,
            max_await_time,
            limit: o.limit.map(|l| l.unsigned_abs()),
            comment: o.comment.clone(),
            stop_on_empty_batch: o.cursor_type.is_some_and(|t| t != CursorType::NonTailable)
                && max_await_time.is_none(),
            tailable: o.cursor_type.is_some_and(|t| t != CursorType::NonTailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bson::{doc, rawdoc};

    use super::*;
    use crate::{
        operation::test_util::{assert_command, raw},
        options::{Hint, ReadConcern, ReadConcernLevel, ReadPreference, ReadPreferenceMode},
    };

    fn find(filter: Document, options: FindOptions) -> Find {
        Find::new(
            Namespace::new("db", "c"),
            filter,
            options,
            &Concerns::default(),
        )
    }

    #[test]
    fn a_plain_find_sends_only_the_filter() {
        let mut op = find(doc! { "x": 1 }, FindOptions::default());
        let command = assert_command(&mut op, doc! { "find": "c", "filter": { "x": 1 } });
        assert_eq!(command.db, "db");
        assert!(
            matches!(op.criteria(), Criteria::Read(p) if p.mode == ReadPreferenceMode::Primary)
        );
        assert_eq!(op.retry(), Retry::Read);
    }

    #[test]
    fn every_option_goes_where_the_command_wants_it() {
        let options = FindOptions {
            projection: Some(doc! { "a": 1 }),
            sort: Some(doc! { "a": -1 }),
            skip: Some(2),
            limit: Some(-5),
            batch_size: Some(3),
            max_time: Some(Duration::from_millis(1500)),
            allow_disk_use: Some(true),
            cursor_type: Some(CursorType::TailableAwait),
            max_await_time: Some(Duration::from_millis(250)),
            hint: Some(Hint::Name("a_1".into())),
            collation: Some(crate::options::Collation::builder().locale("fr").build()),
            comment: Some("why".into()),
            let_vars: Some(doc! { "v": 1 }),
            read_concern: Some(ReadConcern::new(ReadConcernLevel::Majority)),
            selection_criteria: Some(ReadPreference::new(ReadPreferenceMode::Secondary).into()),
            no_cursor_timeout: Some(true),
            allow_partial_results: Some(false),
            return_key: Some(false),
            show_record_id: Some(true),
            min: Some(doc! { "a": 0 }),
            max: Some(doc! { "a": 9 }),
        };
        let mut op = find(doc! {}, options);
        assert_command(
            &mut op,
            doc! {
                "find": "c", "filter": {}, "projection": { "a": 1 }, "sort": { "a": -1 },
                "skip": 2_i64, "limit": 5_i64, "singleBatch": true, "batchSize": 3_i64,
                "maxTimeMS": 1500_i64, "allowDiskUse": true, "hint": "a_1",
                "collation": { "locale": "fr" }, "comment": "why", "let": { "v": 1 },
                "noCursorTimeout": true, "allowPartialResults": false, "returnKey": false,
                "showRecordId": true, "min": { "a": 0 }, "max": { "a": 9 }, "tailable": true,
                "awaitData": true, "readConcern": { "level": "majority" },
                "$readPreference": { "mode": "secondary" },
            },
        );
        let spec = op.cursor_spec();
        assert_eq!(spec.max_await_time, Some(Duration::from_millis(250)));
        assert_eq!((spec.batch_size, spec.limit), (Some(3), Some(5)));
        assert!(!spec.stop_on_empty_batch);
    }

    /// CRUD spec (DRIVERS-1447; upstream's `find.json`, "Find with batchSize equal to
    /// limit"): a `batchSize` equal to the `limit` is sent as `limit + 1`, so the server
    /// sees the end of the results in the first batch and closes the cursor (no `getMore`,
    /// no `killCursors`). `getMore`s keep the caller's `batchSize`.
    #[test]
    fn a_batch_size_equal_to_the_limit_asks_for_one_more() {
        let options = |limit, batch_size| FindOptions {
            limit,
            batch_size,
            ..Default::default()
        };
        let mut op = find(doc! {}, options(Some(4), Some(4)));
        assert_command(
            &mut op,
            doc! { "find": "c", "filter": {}, "limit": 4_i64, "batchSize": 5_i64 },
        );
        assert_eq!(
            (op.cursor_spec().batch_size, op.cursor_spec().limit),
            (Some(4), Some(4))
        );

        // Its neighbours: a zero batchSize is left out (find/getMore/killCursors spec);
        // with a negative limit (one batch) the batchSize goes as given, and none is
        // added: `findOne` sends `limit: 1, singleBatch: true` and no batchSize (CRUD
        // spec, upstream's `findOne.json`); any other pair is sent as it is.
        for (limit, batch_size, sent) in [
            (
                Some(-4),
                Some(4),
                doc! { "limit": 4_i64, "singleBatch": true, "batchSize": 4_i64 },
            ),
            (Some(-1), None, doc! { "limit": 1_i64, "singleBatch": true }),
            (
                Some(-5),
                Some(3),
                doc! { "limit": 5_i64, "singleBatch": true, "batchSize": 3_i64 },
            ),
            (Some(4), Some(0), doc! { "limit": 4_i64 }),
            (None, Some(0), doc! {}),
            (
                Some(5),
                Some(3),
                doc! { "limit": 5_i64, "batchSize": 3_i64 },
            ),
            (
                Some(3),
                Some(5),
                doc! { "limit": 3_i64, "batchSize": 5_i64 },
            ),
            (Some(0), Some(4), doc! { "batchSize": 4_i64 }),
            (
                Some(i64::MIN),
                None,
                doc! { "limit": i64::MAX, "singleBatch": true },
            ),
        ] {
            let mut expected = doc! { "find": "c", "filter": {} };
            expected.extend(sent);
            assert_command(&mut find(doc! {}, options(limit, batch_size)), expected);
        }
    }

    #[test]
    fn the_collections_concerns_apply_unless_the_operation_sets_its_own() {
        let concerns = Concerns {
            read_concern: Some(ReadConcern::new(ReadConcernLevel::Local)),
            read_preference: Some(ReadPreference::new(ReadPreferenceMode::Nearest)),
            ..Default::default()
        };
        let mut op = Find::new(
            Namespace::new("db", "c"),
            doc! {},
            FindOptions::default(),
            &concerns,
        );
        assert_command(
            &mut op,
            doc! { "find": "c", "filter": {}, "readConcern": { "level": "local" }, "$readPreference": { "mode": "nearest" } },
        );
        assert!(
            matches!(op.criteria(), Criteria::Read(p) if p.mode == ReadPreferenceMode::Nearest)
        );
    }

    #[test]
    fn max_await_time_is_only_for_tailable_await_cursors() {
        let options = FindOptions {
            cursor_type: Some(CursorType::Tailable),
            max_await_time: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        let op = find(doc! {}, options);
        let spec = op.cursor_spec();
        assert_eq!(spec.max_await_time, None);
        assert!(spec.stop_on_empty_batch);
    }

    #[test]
    fn the_reply_is_a_cursor() {
        let op = find(doc! {}, FindOptions::default());
        let reply = op
            .handle_response(raw(doc! { "cursor": { "id": 0_i64, "ns": "db.c", "firstBatch": [{ "x": 1 }] }, "ok": 1 }))
            .unwrap();
        assert_eq!(reply.batch[0], rawdoc! { "x": 1 });
    }
}
