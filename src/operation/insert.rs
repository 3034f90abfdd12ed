//! `insert` (CRUD spec, "Insert"): one batch of documents, already serialized, sent as
//! the OP_MSG `documents` sequence.

use std::ops::Range;

use bson::{Bson, Document, RawDocumentBuf, doc, oid::ObjectId};
use serde::Serialize;

use super::{
    Command, Namespace, Operation, WriteReply, add_write_concern, insert_opt, is_acknowledged,
};
use crate::{
    Error, Result,
    retry::Retry,
    wire::{
        DocumentSequence, SizeLimits,
        batch::{self, BatchLimits},
    },
};

/// One `insert` command.
#[derive(Debug)]
pub(crate) struct Insert {
    ns: Namespace,
    documents: Option<Vec<RawDocumentBuf>>,
    ordered: bool,
    bypass_document_validation: Option<bool>,
    comment: Option<Bson>,
    write_concern: Option<crate::options::WriteConcern>,
}

impl Insert {
    pub(crate) fn new(
        ns: Namespace,
        documents: Vec<RawDocumentBuf>,
        ordered: bool,
        bypass_document_validation: Option<bool>,
        comment: Option<Bson>,
        write_concern: Option<crate::options::WriteConcern>,
    ) -> Insert {
        Insert {
            ns,
            documents: Some(documents),
            ordered,
            bypass_document_validation,
            comment,
            write_concern,
        }
    }
}

impl Operation for Insert {
    type Output = WriteReply;

    fn build(&mut self) -> Result<Command> {
        let mut command = doc! { "insert": self.ns.coll.as_str(), "ordered": self.ordered };
        insert_opt(
            &mut command,
            "bypassDocumentValidation",
            self.bypass_document_validation,
        );
        insert_opt(&mut command, "comment", self.comment.clone());
        add_write_concern(&mut command, self.write_concern.as_ref());
        let documents = self.documents.take().unwrap_or_default();
        Ok(Command {
            db: self.ns.db.clone(),
            body: command,
            sequences: vec![DocumentSequence::new("documents", documents)?],
        })
    }

    /// Inserts are retryable: a retry with the same `txnNumber` runs at most once.
    fn retry(&self) -> Retry {
        Retry::Write
    }

    /// An unacknowledged write (`w: 0`) reports nothing, whatever the server said.
    fn handle_response(&self, reply: RawDocumentBuf) -> Result<WriteReply> {
        if !is_acknowledged(self.write_concern.as_ref()) {
            return Ok(WriteReply::default());
        }
        WriteReply::from_raw(&reply)
    }
}

/// Serializes a document straight to BSON bytes, with a generated `_id` (an
/// [`ObjectId`]) first when it has none; returns the `_id` too.
pub(crate) fn raw_with_id<T: Serialize>(document: &T) -> Result<(Bson, RawDocumentBuf)> {
    let raw = crate::nesting::serialize(document)?;
    if let Some(id) = raw.get("_id")? {
        let id = Bson::try_from(id)?;
        return Ok((id, raw));
    }
    // Prepend the element to the bytes: length, then `_id` (type 0x07, the name, the
    // 12 bytes), then the original elements and terminator.
    let id = ObjectId::new();
    let bytes = raw.as_bytes();
    let mut with_id = Vec::with_capacity(bytes.len() + 17);
    let len = i32::try_from(bytes.len() + 17)
        .map_err(|_| Error::invalid_argument("document too large for BSON"))?;
    with_id.extend_from_slice(&len.to_le_bytes());
    with_id.push(0x07);
    with_id.extend_from_slice(b"_id\0");
    with_id.extend_from_slice(&id.bytes());
    with_id.extend_from_slice(&bytes[4..]);
    Ok((Bson::ObjectId(id), RawDocumentBuf::from_bytes(with_id)?))
}

/// Serializes a document, putting a generated `_id` first when it has none.
pub(crate) fn with_id<T: Serialize>(document: &T) -> Result<(Bson, Document)> {
    let mut document = crate::nesting::serialize_to_document(document)?;
    match document.get("_id") {
        Some(id) => Ok((id.clone(), document)),
        None => {
            let id = Bson::ObjectId(ObjectId::new());
            let mut with_id = doc! { "_id": id.clone() };
            with_id.extend(std::mem::take(&mut document));
            Ok((id, with_id))
        }
    }
}

/// The batches of an `insert_many`: every document checked against `maxBsonObjectSize`
/// first, so an oversized one fails the call before anything is sent.
pub(crate) fn insert_batches(
    prepared: &[(Bson, RawDocumentBuf)],
    limits: &SizeLimits,
    command_len: usize,
) -> Result<Vec<Range<usize>>> {
    for (i, (_, document)) in prepared.iter().enumerate() {
        batch::check_document_size(document.as_bytes().len(), limits, || {
            format!("document {i}")
        })?;
    }
    batch::split(
        prepared.iter().map(|(_, d)| d.as_bytes().len()),
        BatchLimits::new(limits, command_len),
        0,
    )
}

pub(crate) fn merge_insert_errors(previous: Option<Error>, next: Error) -> Error {
    let Some(mut previous) = previous else {
        return next;
    };
    if let (crate::ErrorKind::InsertMany(a), crate::ErrorKind::InsertMany(b)) =
        (&mut *previous.kind, &*next.kind)
    {
        a.write_errors.extend(b.write_errors.iter().cloned());
        if a.write_concern_error.is_none() {
            a.write_concern_error = b.write_concern_error.clone();
        }
    }
    previous.with_labels(next.labels().map(str::to_owned).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use bson::{doc, rawdoc};

    use super::*;
    use crate::{
        operation::test_util::{assert_command, raw},
        options::{Acknowledgment, WriteConcern},
    };

    #[test]
    fn documents_go_in_the_sequence_not_the_body() {
        let mut op = Insert::new(
            Namespace::new("db", "c"),
            vec![rawdoc! { "_id": 1 }, rawdoc! { "_id": 2 }],
            false,
            Some(true),
            Some("load".into()),
            Some(WriteConcern::majority()),
        );
        let command = assert_command(
            &mut op,
            doc! {
                "insert": "c", "ordered": false, "bypassDocumentValidation": true,
                "comment": "load", "writeConcern": { "w": "majority" },
            },
        );
        let sequence = &command.sequences[0];
        assert_eq!(sequence.identifier(), "documents");
        assert_eq!(sequence.documents().len(), 2);
        assert_eq!(op.retry(), Retry::Write);
        let reply = op.handle_response(raw(doc! { "n": 2, "ok": 1 })).unwrap();
        assert_eq!(reply.n, 2);
    }

    #[test]
    fn an_unacknowledged_insert_reports_nothing() {
        let w0 = WriteConcern {
            w: Some(Acknowledgment::Nodes(0)),
            ..Default::default()
        };
        let op = Insert::new(
            Namespace::new("db", "c"),
            vec![],
            true,
            None,
            None,
            Some(w0),
        );
        let reply = op
            .handle_response(raw(
                doc! { "n": 0, "ok": 1, "writeErrors": [{ "index": 0, "code": 1 }] },
            ))
            .unwrap();
        assert!(reply.write_errors.is_empty());
    }

    #[test]
    fn a_generated_id_comes_first_and_a_given_one_is_kept_in_place() {
        let (id, raw) = raw_with_id(&doc! { "a": 1, "b": "two" }).unwrap();
        let back = Document::try_from(raw.as_ref()).unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), ["_id", "a", "b"]);
        assert_eq!(back.get("_id"), Some(&id));
        assert!(matches!(id, Bson::ObjectId(_)));

        let (id, raw) = raw_with_id(&doc! { "a": 1, "_id": 7 }).unwrap();
        assert_eq!(id, Bson::Int32(7));
        let back = Document::try_from(raw.as_ref()).unwrap();
        assert_eq!(back, doc! { "a": 1, "_id": 7 });
    }

    #[test]
    fn insert_batches_stop_at_the_count_limit_and_refuse_oversized_documents() {
        let limits = SizeLimits::default();
        let count = limits.max_write_batch_size + 5;
        let docs: Vec<_> = (0..count)
            .map(|i| raw_with_id(&doc! { "i": i as i64 }).unwrap())
            .collect();
        let batches = insert_batches(&docs, &limits, 100).unwrap();
        assert_eq!(
            batches,
            [
                0..limits.max_write_batch_size,
                limits.max_write_batch_size..count
            ]
        );

        // Three documents near 16 MiB: two fit in a 48 MB message, the third goes alone.
        let big =
            raw_with_id(&doc! { "s": "x".repeat(limits.max_bson_object_size - 500) }).unwrap();
        let batches = insert_batches(&vec![big; 3], &limits, 100).unwrap();
        assert_eq!(batches, [0..2, 2..3]);

        let huge = doc! { "s": "x".repeat(limits.max_bson_object_size) };
        let docs = vec![
            docs[0].clone(),
            docs[1].clone(),
            docs[2].clone(),
            raw_with_id(&huge).unwrap(),
        ];
        let err = insert_batches(&docs, &limits, 100).unwrap_err();
        assert!(err.to_string().contains("document 3 is"), "{err}");
    }
}
