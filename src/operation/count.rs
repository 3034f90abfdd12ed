//! `count_documents` (an aggregation with `$match` and `$group`) and
//! `estimated_document_count` (the `count` command): CRUD spec, "Count API Details".

use bson::{Document, RawDocumentBuf, doc};

use super::{
    Command, Concerns, CursorReply, Namespace, Operation, ReadOptions, get_int, insert_opt, millis,
};
use crate::{
    Error, Result,
    options::{CountOptions, EstimatedDocumentCountOptions},
    retry::Retry,
    selection::Criteria,
};

/// `count_documents`: `$match`, then `$skip` / `$limit`, then `$group` to one count.
#[derive(Debug)]
pub(crate) struct CountDocuments {
    ns: Namespace,
    filter: Document,
    options: CountOptions,
    read: ReadOptions,
}

impl CountDocuments {
    pub(crate) fn new(
        ns: Namespace,
        filter: Document,
        options: CountOptions,
        concerns: &Concerns,
    ) -> Self {
        CountDocuments {
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
}

impl Operation for CountDocuments {
    type Output = u64;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut pipeline = vec![doc! { "$match": std::mem::take(&mut self.filter) }];
        if let Some(skip) = o.skip {
            pipeline.push(doc! { "$skip": skip as i64 });
        }
        if let Some(limit) = o.limit {
            pipeline.push(doc! { "$limit": limit as i64 });
        }
        pipeline.push(doc! { "$group": { "_id": 1, "n": { "$sum": 1 } } });
        let mut command =
            doc! { "aggregate": self.ns.coll.as_str(), "pipeline": pipeline, "cursor": {} };
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        insert_opt(&mut command, "comment", o.comment.clone());
        self.read.add_to(&mut command);
        Ok(Command::new(&self.ns.db, command))
    }

    fn criteria(&self) -> Criteria {
        self.read.criteria()
    }

    fn retry(&self) -> Retry {
        Retry::Read
    }

    /// The one `$group` result holds the count; no result means none matched. The
    /// group's single document always fits the first batch, so no cursor stays open.
    fn handle_response(&self, reply: RawDocumentBuf) -> Result<u64> {
        let cursor = CursorReply::parse(&reply)?;
        if cursor.id != 0 {
            return Err(Error::invalid_response(
                "count_documents: the server left a cursor open for a single result",
            ));
        }
        match cursor.batch.front() {
            None => Ok(0),
            Some(result) => {
                let result = crate::nesting::to_document(result.as_ref())?;
                Ok(get_int(&result, "n").unwrap_or(0).max(0) as u64)
            }
        }
    }
}

/// `estimated_document_count`: the `count` command, from the collection's metadata.
#[derive(Debug)]
pub(crate) struct Count {
    ns: Namespace,
    options: EstimatedDocumentCountOptions,
    read: ReadOptions,
}

impl Count {
    pub(crate) fn new(
        ns: Namespace,
        options: EstimatedDocumentCountOptions,
        concerns: &Concerns,
    ) -> Self {
        Count {
            read: ReadOptions::resolve(
                options.read_concern.clone(),
                options.selection_criteria.as_ref(),
                concerns,
            ),
            ns,
            options,
        }
    }
}

impl Operation for Count {
    type Output = u64;

    fn build(&mut self) -> Result<Command> {
        let mut command = doc! { "count": self.ns.coll.as_str() };
        insert_opt(&mut command, "maxTimeMS", self.options.max_time.map(millis));
        insert_opt(&mut command, "comment", self.options.comment.clone());
        self.read.add_to(&mut command);
        Ok(Command::new(&self.ns.db, command))
    }

    fn criteria(&self) -> Criteria {
        self.read.criteria()
    }

    fn retry(&self) -> Retry {
        Retry::Read
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<u64> {
        let reply = crate::nesting::to_document(reply.as_ref())?;
        Ok(get_int(&reply, "n").unwrap_or(0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::operation::test_util::{assert_command, raw};

    #[test]
    fn count_documents_is_a_group_after_skip_and_limit() {
        let options = CountOptions {
            skip: Some(1),
            limit: Some(10),
            max_time: Some(Duration::from_millis(20)),
            ..Default::default()
        };
        let mut op = CountDocuments::new(
            Namespace::new("db", "c"),
            doc! { "x": 1 },
            options,
            &Concerns::default(),
        );
        assert_command(
            &mut op,
            doc! {
                "aggregate": "c",
                "pipeline": [
                    { "$match": { "x": 1 } }, { "$skip": 1_i64 }, { "$limit": 10_i64 },
                    { "$group": { "_id": 1, "n": { "$sum": 1 } } },
                ],
                "cursor": {}, "maxTimeMS": 20_i64,
            },
        );
        let reply = |batch: Vec<Document>| {
            raw(doc! { "cursor": { "id": 0_i64, "ns": "db.c", "firstBatch": batch }, "ok": 1 })
        };
        assert_eq!(
            op.handle_response(reply(vec![doc! { "_id": 1, "n": 7 }]))
                .unwrap(),
            7
        );
        assert_eq!(op.handle_response(reply(vec![])).unwrap(), 0);
    }

    #[test]
    fn estimated_count_is_the_count_command() {
        let options = EstimatedDocumentCountOptions {
            comment: Some("c".into()),
            ..Default::default()
        };
        let mut op = Count::new(Namespace::new("db", "c"), options, &Concerns::default());
        assert_command(&mut op, doc! { "count": "c", "comment": "c" });
        assert_eq!(
            op.handle_response(raw(doc! { "n": 42.0, "ok": 1 }))
                .unwrap(),
            42
        );
    }
}
