//! `findAndModify`: `find_one_and_delete`, `find_one_and_update`, `find_one_and_replace`
//! (CRUD spec, "Find And Modify").

use bson::{Bson, Document, RawDocumentBuf, doc};
use serde::de::DeserializeOwned;

use super::{
    Command, Namespace, Operation, WriteReply, add_write_concern, insert_opt, is_acknowledged,
    millis,
};
use crate::{
    Error, Result,
    error::{ErrorKind, WriteFailure},
    options::{FindAndModifyOptions, ReturnDocument, WriteConcern},
    retry::Retry,
};

/// What a `findAndModify` does to the document it finds.
#[derive(Debug)]
pub(crate) enum Modification {
    Delete,
    /// Operators or a pipeline (already checked), or a replacement document.
    Update(Bson),
}

/// One `findAndModify`; the reply's `value` deserialized as `T`.
#[derive(Debug)]
pub(crate) struct FindAndModify<T> {
    ns: Namespace,
    filter: Document,
    modification: Modification,
    options: FindAndModifyOptions,
    write_concern: Option<WriteConcern>,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> FindAndModify<T> {
    pub(crate) fn new(
        ns: Namespace,
        filter: Document,
        modification: Modification,
        options: FindAndModifyOptions,
        write_concern: Option<WriteConcern>,
    ) -> Self {
        FindAndModify {
            ns,
            filter,
            modification,
            options,
            write_concern,
            _type: std::marker::PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Operation for FindAndModify<T> {
    type Output = Option<T>;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut command = doc! { "findAndModify": self.ns.coll.as_str(), "query": std::mem::take(&mut self.filter) };
        match std::mem::replace(&mut self.modification, Modification::Delete) {
            Modification::Delete => {
                command.insert("remove", true);
            }
            Modification::Update(update) => {
                command.insert("update", update);
            }
        }
        insert_opt(&mut command, "arrayFilters", o.array_filters.clone());
        insert_opt(&mut command, "sort", o.sort.clone());
        insert_opt(&mut command, "fields", o.projection.clone());
        if !command.contains_key("remove") {
            command.insert("new", o.return_document == Some(ReturnDocument::After));
            insert_opt(&mut command, "upsert", o.upsert);
        }
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            o.bypass_document_validation,
        );
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "collation", o.collation.clone());
        insert_opt(&mut command, "hint", o.hint.as_ref().map(|h| h.to_bson()));
        insert_opt(&mut command, "let", o.let_vars.clone());
        insert_opt(&mut command, "comment", o.comment.clone());
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.ns.db, command))
    }

    fn retry(&self) -> Retry {
        Retry::Write
    }

    /// The document before or after the change; `None` when nothing matched, or with an
    /// unacknowledged write concern (the server was told not to answer).
    fn handle_response(&self, reply: RawDocumentBuf) -> Result<Option<T>> {
        if !is_acknowledged(self.write_concern.as_ref()) {
            return Ok(None);
        }
        let mut reply = crate::nesting::to_document(reply.as_ref())?;
        let written = WriteReply::parse(&reply);
        if let Some(error) = written.write_concern_error {
            return Err(
                Error::new(ErrorKind::Write(WriteFailure::WriteConcernError(error)))
                    .with_labels(written.labels),
            );
        }
        // Taken, not cloned: a clone of a deep document recurses on the caller's stack.
        match reply.remove("value") {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(crate::nesting::from_document(d)?)),
            Some(other) => Err(Error::invalid_response(format!(
                "findAndModify returned a {:?} value",
                other.element_type()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{assert_command, raw};

    #[test]
    fn a_delete_sends_remove_and_no_new_or_upsert() {
        let options = FindAndModifyOptions {
            sort: Some(doc! { "at": 1 }),
            projection: Some(doc! { "x": 1 }),
            ..Default::default()
        };
        let mut op = FindAndModify::<Document>::new(
            Namespace::new("db", "c"),
            doc! { "q": 1 },
            Modification::Delete,
            options,
            None,
        );
        assert_command(
            &mut op,
            doc! { "findAndModify": "c", "query": { "q": 1 }, "remove": true, "sort": { "at": 1 }, "fields": { "x": 1 } },
        );
        let found = op
            .handle_response(raw(doc! { "value": { "x": 1 }, "ok": 1 }))
            .unwrap();
        assert_eq!(found, Some(doc! { "x": 1 }));
        assert_eq!(
            op.handle_response(raw(doc! { "value": null, "ok": 1 }))
                .unwrap(),
            None
        );
    }

    #[test]
    fn an_update_asks_for_the_document_after_when_told() {
        let options = FindAndModifyOptions {
            return_document: Some(ReturnDocument::After),
            upsert: Some(true),
            array_filters: Some(vec![doc! { "e": 1 }]),
            ..Default::default()
        };
        let update = Modification::Update(Bson::Document(doc! { "$set": { "a.$[e]": 2 } }));
        let mut op = FindAndModify::<Document>::new(
            Namespace::new("db", "c"),
            doc! {},
            update,
            options,
            None,
        );
        assert_command(
            &mut op,
            doc! {
                "findAndModify": "c", "query": {}, "update": { "$set": { "a.$[e]": 2 } },
                "arrayFilters": [{ "e": 1 }], "new": true, "upsert": true,
            },
        );
        let err = op
            .handle_response(raw(doc! { "value": null, "ok": 1, "writeConcernError": { "code": 64, "errmsg": "timeout" } }))
            .unwrap_err();
        assert_eq!(err.code(), Some(64));
    }
}
