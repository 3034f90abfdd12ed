//! The reply shapes operations share (CRUD spec): a write command's counts and errors,
//! and a cursor's first or next batch; what can go wrong in a reply is handled here.

use std::collections::{HashMap, VecDeque};

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf};

use crate::{
    Error, Result,
    bson_util::{get_int, raw_int},
    error::{ErrorKind, InsertManyError, WriteConcernError, WriteError, WriteFailure},
};

/// The `errorLabels` of a reply.
pub(crate) fn error_labels(reply: &Document) -> Vec<String> {
    reply
        .get_array("errorLabels")
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The write errors and write concern error of an insert/update/delete reply.
#[derive(Debug, Default)]
pub(crate) struct WriteReply {
    /// `n`: documents inserted, matched or deleted.
    pub(crate) n: u64,
    /// `nModified` (updates).
    pub(crate) n_modified: u64,
    /// `upserted`: (index, _id) pairs.
    pub(crate) upserted: Vec<(usize, Bson)>,
    pub(crate) write_errors: Vec<WriteError>,
    pub(crate) write_concern_error: Option<WriteConcernError>,
    /// `errorLabels` of the reply (e.g. `RetryableWriteError` next to a write concern
    /// error), for the error made of it.
    pub(crate) labels: Vec<String>,
}

impl WriteReply {
    /// Parses an (already `ok: 1`) write command reply from its bytes. The counts are
    /// read in place; only a reply that carries write errors, a write concern error,
    /// upserted ids or labels is decoded whole, so a plain success never turns the
    /// reply's other fields (`$clusterTime`, `opTime`, ...) into a `Document`.
    pub(crate) fn from_raw(reply: &RawDocument) -> Result<WriteReply> {
        let mut counts = WriteReply::default();
        for element in reply {
            let (key, value) = element?;
            let count = || raw_int(value).unwrap_or(0).max(0) as u64;
            match key.as_str() {
                "writeErrors" | "writeConcernError" | "upserted" | "errorLabels" => {
                    return Ok(WriteReply::parse(&crate::nesting::to_document(reply)?));
                }
                "n" => counts.n = count(),
                "nModified" => counts.n_modified = count(),
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Parses an (already `ok: 1`) write command reply.
    pub(crate) fn parse(reply: &Document) -> WriteReply {
        let write_errors = reply
            .get_array("writeErrors")
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(Bson::as_document)
                    .map(|e| WriteError {
                        index: get_int(e, "index").unwrap_or(0).max(0) as usize,
                        code: get_int(e, "code").unwrap_or(0) as i32,
                        code_name: e.get_str("codeName").unwrap_or_default().to_owned(),
                        message: e.get_str("errmsg").unwrap_or_default().to_owned(),
                        details: e.get_document("errInfo").ok().cloned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let write_concern_error =
            reply
                .get_document("writeConcernError")
                .ok()
                .map(|e| WriteConcernError {
                    code: get_int(e, "code").unwrap_or(0) as i32,
                    code_name: e.get_str("codeName").unwrap_or_default().to_owned(),
                    message: e.get_str("errmsg").unwrap_or_default().to_owned(),
                    details: e.get_document("errInfo").ok().cloned(),
                });
        let upserted = reply
            .get_array("upserted")
            .map(|u| {
                u.iter()
                    .filter_map(Bson::as_document)
                    .filter_map(|d| {
                        Some((get_int(d, "index")?.max(0) as usize, d.get("_id")?.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let labels = error_labels(reply);
        WriteReply {
            n: get_int(reply, "n").unwrap_or(0).max(0) as u64,
            n_modified: get_int(reply, "nModified").unwrap_or(0).max(0) as u64,
            upserted,
            write_errors,
            write_concern_error,
            labels,
        }
    }

    /// For single-document writes: the first write error, else the write concern error.
    pub(crate) fn into_single_result(self) -> Result<WriteReply> {
        if let Some(error) = self.write_errors.first() {
            return Err(
                Error::new(ErrorKind::Write(WriteFailure::WriteError(error.clone())))
                    .with_labels(self.labels),
            );
        }
        if let Some(error) = &self.write_concern_error {
            return Err(Error::new(ErrorKind::Write(WriteFailure::WriteConcernError(
                error.clone(),
            )))
            .with_labels(self.labels));
        }
        Ok(self)
    }

    /// For `insert_many`: an error naming the refused documents and the inserted ids.
    pub(crate) fn into_insert_many_error(
        self,
        batch_offset: usize,
        ids: &[Bson],
        inserted_before: &HashMap<usize, Bson>,
    ) -> Option<Error> {
        if self.write_errors.is_empty() && self.write_concern_error.is_none() {
            return None;
        }
        let failed: Vec<usize> = self.write_errors.iter().map(|e| e.index).collect();
        let mut inserted_ids = inserted_before.clone();
        for (i, id) in ids.iter().enumerate() {
            if i < self.n as usize + failed.len() && !failed.contains(&i) {
                inserted_ids.insert(batch_offset + i, id.clone());
            }
        }
        let write_errors = self
            .write_errors
            .into_iter()
            .map(|mut e| {
                e.index += batch_offset;
                e
            })
            .collect();
        Some(
            Error::new(ErrorKind::InsertMany(InsertManyError {
                write_errors,
                write_concern_error: self.write_concern_error,
                inserted_ids,
            }))
            .with_labels(self.labels),
        )
    }
}

/// The `cursor` part of a `find` / `aggregate` / `getMore` reply. The batch stays in
/// BSON bytes, one buffer per document: the cursor deserializes each straight into its
/// type, with no `Document` in between.
#[derive(Debug)]
pub(crate) struct CursorReply {
    pub(crate) id: i64,
    pub(crate) ns: String,
    pub(crate) batch: VecDeque<RawDocumentBuf>,
    /// `postBatchResumeToken`: how far a change stream's batch has scanned (change-streams
    /// spec, "Updating the Cached Resume Token").
    pub(crate) post_batch_resume_token: Option<RawDocumentBuf>,
}

impl CursorReply {
    /// Parses a cursor reply; `firstBatch` or `nextBatch`.
    ///
    /// # Errors
    /// When the reply has no well-formed `cursor` document.
    pub(crate) fn parse(reply: &RawDocument) -> Result<CursorReply> {
        let malformed = |what: &str| Error::invalid_response(format!("cursor reply: {what}"));
        let cursor = match reply.get_document("cursor") {
            Ok(cursor) => cursor,
            Err(_) => {
                let shown = crate::nesting::to_document(reply)
                    .map_or_else(|e| e.to_string(), |d| d.to_string());
                return Err(Error::invalid_response(format!(
                    "reply has no cursor document: {shown}"
                )));
            }
        };
        let Some(id) = cursor.get("id").ok().flatten().and_then(raw_int) else {
            return Err(malformed("no id"));
        };
        let batch = cursor
            .get_array("firstBatch")
            .or_else(|_| cursor.get_array("nextBatch"))
            .map_err(|_| malformed("no firstBatch or nextBatch"))?;
        let batch = batch
            .into_iter()
            .map(|doc| match doc {
                Ok(RawBsonRef::Document(d)) => Ok(d.to_owned()),
                Ok(other) => Err(malformed(&format!(
                    "the batch holds a {:?}, not a document",
                    other.element_type()
                ))),
                Err(e) => Err(malformed(&e.to_string())),
            })
            .collect::<Result<_>>()?;
        Ok(CursorReply {
            id,
            ns: cursor.get_str("ns").unwrap_or_default().to_owned(),
            batch,
            post_batch_resume_token: cursor
                .get_document("postBatchResumeToken")
                .ok()
                .map(ToOwned::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, rawdoc};

    use super::*;

    #[test]
    fn a_duplicate_key_becomes_a_write_error_with_the_servers_words() {
        let reply = doc! { "n": 0, "ok": 1, "writeErrors": [
            { "index": 0, "code": 11000, "codeName": "DuplicateKey", "errmsg": "E11000 duplicate key" }
        ] };
        let err = WriteReply::parse(&reply).into_single_result().unwrap_err();
        assert_eq!(err.code(), Some(11000));
        assert_eq!(
            err.to_string(),
            "write error 11000 (DuplicateKey): E11000 duplicate key"
        );
    }

    #[test]
    fn a_write_concern_error_is_reported_when_there_is_no_write_error() {
        let reply = doc! { "n": 1, "ok": 1, "writeConcernError": { "code": 64, "errmsg": "waiting for replication timed out" } };
        let err = WriteReply::parse(&reply).into_single_result().unwrap_err();
        assert!(matches!(
            *err.kind,
            ErrorKind::Write(WriteFailure::WriteConcernError(_))
        ));
        assert_eq!(err.code(), Some(64));
        assert!(!err.contains_label("RetryableWriteError"));
    }

    #[test]
    fn the_replys_error_labels_go_on_the_error() {
        let reply = doc! { "n": 1, "ok": 1, "errorLabels": ["RetryableWriteError"],
        "writeConcernError": { "code": 91, "errmsg": "Replication is being shut down" } };
        let err = WriteReply::parse(&reply).into_single_result().unwrap_err();
        assert!(err.contains_label("RetryableWriteError"));
    }

    #[test]
    fn insert_many_errors_keep_the_ids_that_made_it() {
        let ids: Vec<Bson> = (0..4).map(Bson::Int32).collect();
        let reply = doc! { "n": 1, "ok": 1, "writeErrors": [ { "index": 1, "code": 11000, "errmsg": "dup" } ] };
        // ordered: stopped after index 1, so only index 0 went in.
        let err = WriteReply::parse(&reply)
            .into_insert_many_error(10, &ids, &HashMap::new())
            .unwrap();
        let ErrorKind::InsertMany(e) = &*err.kind else {
            panic!("{err:?}")
        };
        assert_eq!(e.write_errors[0].index, 11);
        assert_eq!(e.inserted_ids.keys().copied().collect::<Vec<_>>(), [10]);
    }

    #[test]
    fn a_write_reply_read_from_bytes_matches_the_decoded_one() {
        let cluster_time = rawdoc! { "clusterTime": bson::Timestamp { time: 1, increment: 2 } };
        let plain = rawdoc! { "n": 2.0, "nModified": 1_i64, "ok": 1, "$clusterTime": cluster_time };
        let read = WriteReply::from_raw(&plain).unwrap();
        assert_eq!((read.n, read.n_modified), (2, 1));
        assert!(read.write_errors.is_empty() && read.upserted.is_empty());

        // Anything past the counts is decoded as before, wherever it sits in the reply.
        let failed = rawdoc! { "n": 0, "ok": 1, "writeErrors": [
            { "index": 0, "code": 11000, "codeName": "DuplicateKey", "errmsg": "E11000 duplicate key" }
        ], "errorLabels": ["NoWritesPerformed"] };
        let read = WriteReply::from_raw(&failed).unwrap();
        let decoded = WriteReply::parse(&crate::nesting::to_document(&failed).unwrap());
        assert_eq!(format!("{read:?}"), format!("{decoded:?}"));
        assert_eq!(read.write_errors[0].code, 11000);
        let upserted = rawdoc! { "n": 1, "nModified": 0, "upserted": [ { "index": 0, "_id": 5 } ] };
        assert_eq!(
            WriteReply::from_raw(&upserted).unwrap().upserted,
            [(0, Bson::Int32(5))]
        );

        // A malformed element is an error, not a panic or a zero count.
        let mut bytes = rawdoc! { "n": 1 }.into_bytes();
        bytes[4] = 0x7f; // no such element type
        let malformed = RawDocument::from_bytes(&bytes).unwrap();
        assert!(WriteReply::from_raw(malformed).is_err());
    }

    #[test]
    fn cursor_replies_parse_and_malformed_ones_are_errors() {
        let reply = rawdoc! { "cursor": { "id": 7_i64, "ns": "db.c", "firstBatch": [ { "a": 1 } ] }, "ok": 1 };
        let cursor = CursorReply::parse(&reply).unwrap();
        assert_eq!(
            (cursor.id, cursor.ns.as_str(), cursor.batch.len()),
            (7, "db.c", 1)
        );
        assert_eq!(cursor.batch[0], rawdoc! { "a": 1 });
        assert!(CursorReply::parse(&rawdoc! { "ok": 1 }).is_err());
        assert!(CursorReply::parse(&rawdoc! { "cursor": { "id": 0, "nextBatch": [1] } }).is_err());
    }
}
