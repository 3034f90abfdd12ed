//! `run_command` and `run_cursor_command` (the Run Command spec): a command as the user
//! wrote it, never retried (it may write).

use bson::{Document, RawDocumentBuf};

use super::{
    Command, CursorOperation, CursorReply, CursorSpec, Operation, read_preference_document,
};
use crate::{
    Result,
    options::{CursorType, ReadPreference, ReadPreferenceMode, RunCursorCommandOptions},
    selection::Criteria,
};

/// A command as given. With a read preference it runs where that selects, and a mode
/// other than primary is also sent as `$readPreference` unless the caller found the
/// deployment to be a standalone server (which must not get one).
#[derive(Debug)]
pub(crate) struct RunCommand {
    db: String,
    command: Document,
    read_preference: Option<ReadPreference>,
    send_read_preference: bool,
}

impl RunCommand {
    /// On the primary.
    pub(crate) fn new(db: &str, command: Document) -> Self {
        RunCommand {
            db: db.to_owned(),
            command,
            read_preference: None,
            send_read_preference: false,
        }
    }

    /// Where `read_preference` selects; `standalone`: the deployment is one standalone
    /// server, which gets no `$readPreference`.
    pub(crate) fn with_read_preference(
        db: &str,
        command: Document,
        read_preference: ReadPreference,
        standalone: bool,
    ) -> Self {
        RunCommand {
            send_read_preference: read_preference.mode != ReadPreferenceMode::Primary
                && !standalone,
            read_preference: Some(read_preference),
            db: db.to_owned(),
            command,
        }
    }
}

impl Operation for RunCommand {
    type Output = Document;

    fn build(&mut self) -> Result<Command> {
        let mut command = std::mem::take(&mut self.command);
        if let (true, Some(pref)) = (self.send_read_preference, &self.read_preference) {
            command.insert("$readPreference", read_preference_document(pref));
        }
        Ok(Command::new(&self.db, command))
    }

    fn criteria(&self) -> Criteria {
        match &self.read_preference {
            Some(pref) => Criteria::Read(pref.clone()),
            None => Criteria::Write,
        }
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<Document> {
        crate::nesting::to_document(reply.as_ref())
    }
}

/// A command that opens a cursor; the options say how its `getMore`s ask.
#[derive(Debug)]
pub(crate) struct RunCursorCommand {
    db: String,
    command: Document,
    options: RunCursorCommandOptions,
}

impl RunCursorCommand {
    pub(crate) fn new(db: &str, command: Document, options: RunCursorCommandOptions) -> Self {
        RunCursorCommand {
            db: db.to_owned(),
            command,
            options,
        }
    }

    fn read_preference(&self) -> Option<&ReadPreference> {
        self.options
            .selection_criteria
            .as_ref()
            .and_then(|c| c.as_read_pref())
            .filter(|p| p.mode != ReadPreferenceMode::Primary)
    }
}

impl Operation for RunCursorCommand {
    type Output = CursorReply;

    fn build(&mut self) -> Result<Command> {
        let mut command = std::mem::take(&mut self.command);
        if let Some(pref) = self.read_preference() {
            command.insert("$readPreference", read_preference_document(pref));
        }
        Ok(Command::new(&self.db, command))
    }

    fn criteria(&self) -> Criteria {
        match self.read_preference() {
            Some(pref) => Criteria::Read(pref.clone()),
            None => Criteria::Write,
        }
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<CursorReply> {
        CursorReply::parse(&reply)
    }
}

impl CursorOperation for RunCursorCommand {
    fn cursor_spec(&self) -> CursorSpec {
        let o = &self.options;
        CursorSpec {
            db: self.db.clone(),
            batch_size: o.batch_size,
            max_await_time: o.max_time,
            comment: o.comment.clone(),
            stop_on_empty_batch: o.cursor_type == Some(CursorType::Tailable),
            tailable: o.cursor_type.is_some_and(|t| t != CursorType::NonTailable),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::{operation::test_util::assert_command, retry::Retry};

    #[test]
    fn a_command_goes_as_given_and_is_never_retried() {
        let mut op = RunCommand::new("admin", doc! { "ping": 1 });
        assert_command(&mut op, doc! { "ping": 1 });
        assert!(matches!(op.criteria(), Criteria::Write));
        assert_eq!(op.retry(), Retry::No);
    }

    #[test]
    fn a_secondary_read_preference_is_sent_except_to_a_standalone() {
        let secondary = ReadPreference::new(ReadPreferenceMode::Secondary);
        let mut op =
            RunCommand::with_read_preference("db", doc! { "count": "c" }, secondary.clone(), false);
        assert_command(
            &mut op,
            doc! { "count": "c", "$readPreference": { "mode": "secondary" } },
        );
        let mut op = RunCommand::with_read_preference("db", doc! { "count": "c" }, secondary, true);
        assert_command(&mut op, doc! { "count": "c" });
    }

    #[test]
    fn a_cursor_command_keeps_its_get_more_options() {
        let options = RunCursorCommandOptions {
            batch_size: Some(5),
            cursor_type: Some(CursorType::Tailable),
            selection_criteria: Some(ReadPreference::new(ReadPreferenceMode::Nearest).into()),
            ..Default::default()
        };
        let mut op = RunCursorCommand::new("db", doc! { "find": "c" }, options);
        assert_command(
            &mut op,
            doc! { "find": "c", "$readPreference": { "mode": "nearest" } },
        );
        let spec = op.cursor_spec();
        assert_eq!(spec.batch_size, Some(5));
        assert!(spec.stop_on_empty_batch);
    }
}
