//! `commitTransaction` and `abortTransaction`: the session adds `lsid`, `txnNumber` and
//! `autocommit`; a write concern error in an `ok: 1` reply is an error.

use bson::{Document, RawDocumentBuf};

use super::{Command, Operation, WriteReply};
use crate::{Result, retry::Retry};

/// Ends a transaction: the command comes built from the session.
#[derive(Debug)]
pub(crate) struct EndTransaction {
    command: Document,
}

impl EndTransaction {
    pub(crate) fn new(command: Document) -> EndTransaction {
        EndTransaction { command }
    }
}

impl Operation for EndTransaction {
    type Output = ();

    fn build(&mut self) -> Result<Command> {
        Ok(Command::new("admin", std::mem::take(&mut self.command)))
    }

    fn retry(&self) -> Retry {
        Retry::Write
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<()> {
        WriteReply::from_raw(&reply)?.into_single_result().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, rawdoc};

    use super::*;
    use crate::{ErrorKind, error::WriteFailure};

    #[test]
    fn commit_goes_to_admin_and_a_write_concern_error_fails_it() {
        let mut op = EndTransaction::new(doc! { "commitTransaction": 1 });
        let command = op.build().unwrap();
        assert_eq!(command.db, "admin");
        assert_eq!(command.body, doc! { "commitTransaction": 1 });
        assert_eq!(op.retry(), Retry::Write);
        op.handle_response(rawdoc! { "ok": 1 }).unwrap();
        let err = op
            .handle_response(rawdoc! { "ok": 1, "writeConcernError": { "code": 64, "errmsg": "timed out" }, "errorLabels": ["UnknownTransactionCommitResult"] })
            .unwrap_err();
        assert!(
            matches!(&*err.kind, ErrorKind::Write(WriteFailure::WriteConcernError(e)) if e.code == 64)
        );
        assert!(err.contains_label("UnknownTransactionCommitResult"));
    }
}
