//! `update` with one statement: `update_one`, `update_many`, `replace_one` (CRUD spec,
//! "Update" and "Replace").

use bson::{Bson, Document, RawDocumentBuf, doc};

use super::{
    Command, Namespace, Operation, WriteReply, add_write_concern, insert_opt, is_acknowledged,
};
use serde::Serialize;

use crate::{
    Error, Result,
    options::{UpdateModifications, UpdateOptions, WriteConcern},
    results::UpdateResult,
    retry::Retry,
};

/// One `update` statement.
#[derive(Debug)]
pub(crate) struct Update {
    ns: Namespace,
    filter: Document,
    /// Operators, a pipeline, or a replacement document (already checked).
    update: Bson,
    multi: bool,
    options: UpdateOptions,
    write_concern: Option<WriteConcern>,
}

impl Update {
    pub(crate) fn new(
        ns: Namespace,
        filter: Document,
        update: Bson,
        multi: bool,
        options: UpdateOptions,
        write_concern: Option<WriteConcern>,
    ) -> Update {
        Update {
            ns,
            filter,
            update,
            multi,
            options,
            write_concern,
        }
    }
}

impl Operation for Update {
    type Output = UpdateResult;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut statement = doc! {
            "q": std::mem::take(&mut self.filter),
            "u": std::mem::replace(&mut self.update, Bson::Null),
            "multi": self.multi,
        };
        insert_opt(&mut statement, "upsert", o.upsert);
        insert_opt(&mut statement, "arrayFilters", o.array_filters.clone());
        insert_opt(&mut statement, "collation", o.collation.clone());
        insert_opt(&mut statement, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        if !self.multi {
            insert_opt(&mut statement, "sort", o.sort.clone());
        }
        let mut command =
            doc! { "update": self.ns.coll.as_str(), "updates": [statement], "ordered": true };
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "let", o.let_vars.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.ns.db, command))
    }

    /// A single-document update is retryable; one that may touch many is not.
    fn retry(&self) -> Retry {
        if self.multi { Retry::No } else { Retry::Write }
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<UpdateResult> {
        let reply = if is_acknowledged(self.write_concern.as_ref()) {
            WriteReply::from_raw(&reply)?.into_single_result()?
        } else {
            WriteReply::default()
        };
        let upserted_id = reply.upserted.into_iter().next().map(|(_, id)| id);
        Ok(UpdateResult {
            matched_count: if upserted_id.is_some() { 0 } else { reply.n },
            modified_count: reply.n_modified,
            upserted_id,
        })
    }
}

/// An update document must consist of operators; anything else is a replacement.
pub(crate) fn checked_update(update: UpdateModifications) -> Result<Bson> {
    if let UpdateModifications::Document(d) = &update {
        if d.is_empty() {
            return Err(Error::invalid_argument(
                "an update document must not be empty: say what to change ($set, $inc, ...)",
            ));
        }
        if d.keys().next().is_some_and(|k| !k.starts_with('$')) {
            return Err(Error::invalid_argument(
                "an update document must use update operators ($set, $inc, ...); use replace_one to replace a document",
            ));
        }
    }
    Ok(update.to_bson())
}

pub(crate) fn to_replacement<T: Serialize>(replacement: &T) -> Result<Document> {
    let document = crate::nesting::serialize_to_document(replacement)?;
    if document.keys().next().is_some_and(|k| k.starts_with('$')) {
        return Err(Error::invalid_argument(
            "a replacement document must not use update operators; use update_one to apply them",
        ));
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{assert_command, raw};

    #[test]
    fn update_one_is_one_retryable_statement() {
        let options = UpdateOptions {
            upsert: Some(true),
            sort: Some(doc! { "x": 1 }),
            let_vars: Some(doc! { "v": 1 }),
            ..Default::default()
        };
        let mut op = Update::new(
            Namespace::new("db", "c"),
            doc! { "x": 1 },
            Bson::Document(doc! { "$inc": { "n": 1 } }),
            false,
            options,
            None,
        );
        assert_command(
            &mut op,
            doc! {
                "update": "c",
                "updates": [{ "q": { "x": 1 }, "u": { "$inc": { "n": 1 } }, "multi": false, "upsert": true, "sort": { "x": 1 } }],
                "ordered": true, "let": { "v": 1 },
            },
        );
        assert_eq!(op.retry(), Retry::Write);
        let result = op
            .handle_response(raw(
                doc! { "n": 1, "nModified": 0, "upserted": [{ "index": 0, "_id": 5 }], "ok": 1 },
            ))
            .unwrap();
        assert_eq!(
            (result.matched_count, result.upserted_id),
            (0, Some(Bson::Int32(5)))
        );
    }

    #[test]
    fn update_many_is_not_retried_and_a_write_error_is_an_error() {
        let mut op = Update::new(
            Namespace::new("db", "c"),
            doc! {},
            Bson::Document(doc! { "$set": { "a": 1 } }),
            true,
            UpdateOptions::default(),
            None,
        );
        let command = op.build().unwrap();
        assert_eq!(command.body.get_array("updates").unwrap().len(), 1);
        assert_eq!(op.retry(), Retry::No);
        let err = op
            .handle_response(raw(doc! { "n": 0, "ok": 1, "writeErrors": [{ "index": 0, "code": 11000, "errmsg": "dup" }] }))
            .unwrap_err();
        assert_eq!(err.code(), Some(11000));
    }
}
