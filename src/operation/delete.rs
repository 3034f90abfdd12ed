//! `delete` with one statement: `delete_one` and `delete_many` (CRUD spec, "Delete").

use bson::{Document, RawDocumentBuf, doc};

use super::{
    Command, Namespace, Operation, WriteReply, add_write_concern, insert_opt, is_acknowledged,
};
use crate::{
    Result,
    options::{DeleteOptions, WriteConcern},
    results::DeleteResult,
    retry::Retry,
};

/// One `delete` statement: `limit` 1 deletes one document, 0 every match.
#[derive(Debug)]
pub(crate) struct Delete {
    ns: Namespace,
    filter: Document,
    limit: i32,
    options: DeleteOptions,
    write_concern: Option<WriteConcern>,
}

impl Delete {
    pub(crate) fn new(
        ns: Namespace,
        filter: Document,
        limit: i32,
        options: DeleteOptions,
        write_concern: Option<WriteConcern>,
    ) -> Delete {
        Delete {
            ns,
            filter,
            limit,
            options,
            write_concern,
        }
    }
}

impl Operation for Delete {
    type Output = DeleteResult;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut statement = doc! { "q": std::mem::take(&mut self.filter), "limit": self.limit };
        insert_opt(&mut statement, "collation", o.collation.clone());
        insert_opt(&mut statement, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        let mut command =
            doc! { "delete": self.ns.coll.as_str(), "deletes": [statement], "ordered": true };
        insert_opt(&mut command, "let", o.let_vars.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.ns.db, command))
    }

    /// `delete_one` is retryable; `delete_many` is not.
    fn retry(&self) -> Retry {
        if self.limit == 1 {
            Retry::Write
        } else {
            Retry::No
        }
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<DeleteResult> {
        if !is_acknowledged(self.write_concern.as_ref()) {
            return Ok(DeleteResult { deleted_count: 0 });
        }
        let reply = WriteReply::from_raw(&reply)?.into_single_result()?;
        Ok(DeleteResult {
            deleted_count: reply.n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        operation::test_util::{assert_command, raw},
        options::Hint,
    };

    #[test]
    fn delete_sends_one_statement_with_its_limit() {
        let options = DeleteOptions {
            hint: Some(Hint::Name("x_1".into())),
            comment: Some("c".into()),
            ..Default::default()
        };
        let mut op = Delete::new(
            Namespace::new("db", "c"),
            doc! { "x": 1 },
            0,
            options,
            Some(WriteConcern::majority()),
        );
        assert_command(
            &mut op,
            doc! {
                "delete": "c", "deletes": [{ "q": { "x": 1 }, "limit": 0, "hint": "x_1" }],
                "ordered": true, "comment": "c", "writeConcern": { "w": "majority" },
            },
        );
        assert_eq!(op.retry(), Retry::No);
        assert_eq!(
            op.handle_response(raw(doc! { "n": 3, "ok": 1 }))
                .unwrap()
                .deleted_count,
            3
        );
    }
}
