//! A cursor's own commands: `getMore` and `killCursors` (the Find, getMore and
//! killCursors Commands spec).

use std::time::Duration;

use bson::{Bson, Document, RawDocumentBuf, doc};

use super::{Command, CursorReply, Operation, insert_opt, millis};
use crate::Result;

/// `getMore`: the next batch of cursor `id`.
#[derive(Debug)]
pub(crate) struct GetMore<'a> {
    pub(crate) db: &'a str,
    pub(crate) collection: &'a str,
    pub(crate) id: i64,
    pub(crate) batch_size: Option<u32>,
    /// How long a tailable await cursor waits for new data (`maxTimeMS`).
    pub(crate) max_await_time: Option<Duration>,
    /// Sent only to MongoDB 4.4 and later (the caller decides).
    pub(crate) comment: Option<&'a Bson>,
}

impl Operation for GetMore<'_> {
    type Output = CursorReply;

    fn build(&mut self) -> Result<Command> {
        let mut command = doc! { "getMore": self.id, "collection": self.collection };
        insert_opt(&mut command, "batchSize", self.batch_size.map(i64::from));
        insert_opt(&mut command, "maxTimeMS", self.max_await_time.map(millis));
        insert_opt(&mut command, "comment", self.comment.cloned());
        Ok(Command::new(self.db, command))
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<CursorReply> {
        CursorReply::parse(&reply)
    }
}

/// `killCursors` of one cursor; the reply says nothing worth reading.
#[derive(Debug)]
pub(crate) struct KillCursors<'a> {
    pub(crate) db: &'a str,
    pub(crate) collection: &'a str,
    pub(crate) id: i64,
}

impl Operation for KillCursors<'_> {
    type Output = ();

    fn build(&mut self) -> Result<Command> {
        let command: Document = doc! { "killCursors": self.collection, "cursors": [self.id] };
        Ok(Command::new(self.db, command))
    }

    fn handle_response(&self, _: RawDocumentBuf) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::test_util::{assert_command, raw};

    #[test]
    fn get_more_sends_only_what_is_set() {
        let mut op = GetMore {
            db: "db",
            collection: "c",
            id: 42,
            batch_size: None,
            max_await_time: None,
            comment: None,
        };
        assert_command(&mut op, doc! { "getMore": 42_i64, "collection": "c" });
        let comment = Bson::from("c");
        let mut op = GetMore {
            batch_size: Some(10),
            max_await_time: Some(Duration::from_millis(300)),
            comment: Some(&comment),
            ..op
        };
        assert_command(
            &mut op,
            doc! { "getMore": 42_i64, "collection": "c", "batchSize": 10_i64, "maxTimeMS": 300_i64, "comment": "c" },
        );
        let reply = op
            .handle_response(raw(
                doc! { "cursor": { "id": 0_i64, "ns": "db.c", "nextBatch": [] }, "ok": 1 },
            ))
            .unwrap();
        assert_eq!(reply.id, 0);
    }

    #[test]
    fn kill_cursors_names_the_cursor() {
        let mut op = KillCursors {
            db: "db",
            collection: "c",
            id: 7,
        };
        assert_command(&mut op, doc! { "killCursors": "c", "cursors": [7_i64] });
    }
}
