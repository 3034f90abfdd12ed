//! `listCollections`, `listDatabases`, `listIndexes` (the Enumerate Collections,
//! Enumerate Databases and Index Management specs).

use bson::{Bson, Document, RawDocumentBuf, doc};

use super::{
    Command, CursorOperation, CursorReply, CursorSpec, Namespace, Operation, insert_opt, millis,
    read_criteria,
};
use crate::{
    Error, Result,
    options::{ListCollectionsOptions, ListDatabasesOptions, ListIndexesOptions, ReadPreference},
    retry::Retry,
    selection::Criteria,
};

/// `listCollections`: full descriptions, or with `name_only` just the names. Runs on the
/// primary, a retryable read.
#[derive(Debug)]
pub(crate) struct ListCollections {
    db: String,
    name_only: bool,
    options: ListCollectionsOptions,
}

impl ListCollections {
    pub(crate) fn new(db: &str, name_only: bool, options: ListCollectionsOptions) -> Self {
        ListCollections {
            db: db.to_owned(),
            name_only,
            options,
        }
    }
}

impl Operation for ListCollections {
    type Output = CursorReply;

    fn build(&mut self) -> Result<Command> {
        let o = &mut self.options;
        let mut cursor = Document::new();
        insert_opt(&mut cursor, "batchSize", o.batch_size.map(i64::from));
        let mut command = doc! { "listCollections": 1, "cursor": cursor };
        if self.name_only {
            command.insert("nameOnly", true);
        }
        insert_opt(&mut command, "filter", o.filter.take());
        insert_opt(
            &mut command,
            "authorizedCollections",
            o.authorized_collections,
        );
        insert_opt(&mut command, "comment", o.comment.clone());
        Ok(Command::new(&self.db, command))
    }

    fn criteria(&self) -> Criteria {
        read_criteria(Some(&ReadPreference::primary()))
    }

    fn retry(&self) -> Retry {
        Retry::Read
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<CursorReply> {
        CursorReply::parse(&reply)
    }
}

impl CursorOperation for ListCollections {
    fn cursor_spec(&self) -> CursorSpec {
        CursorSpec {
            db: self.db.clone(),
            batch_size: self.options.batch_size,
            comment: self.options.comment.clone(),
            ..Default::default()
        }
    }
}

/// `listDatabases` on the `admin` database: the databases' descriptions, or with
/// `name_only` their names. Runs on the primary, a retryable read.
#[derive(Debug)]
pub(crate) struct ListDatabases {
    name_only: bool,
    options: ListDatabasesOptions,
}

impl ListDatabases {
    pub(crate) fn new(name_only: bool, options: ListDatabasesOptions) -> Self {
        ListDatabases { name_only, options }
    }
}

impl Operation for ListDatabases {
    type Output = Vec<Document>;

    fn build(&mut self) -> Result<Command> {
        let o = &mut self.options;
        let mut command = doc! { "listDatabases": 1 };
        if self.name_only {
            command.insert("nameOnly", true);
        }
        insert_opt(&mut command, "filter", o.filter.take());
        insert_opt(&mut command, "authorizedDatabases", o.authorized_databases);
        insert_opt(&mut command, "comment", o.comment.clone());
        Ok(Command::new("admin", command))
    }

    fn criteria(&self) -> Criteria {
        read_criteria(Some(&ReadPreference::primary()))
    }

    fn retry(&self) -> Retry {
        Retry::Read
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<Vec<Document>> {
        let mut reply = crate::nesting::to_document(reply.as_ref())?;
        match reply.remove("databases") {
            Some(Bson::Array(databases)) => Ok(databases
                .into_iter()
                .filter_map(|d| match d {
                    Bson::Document(d) => Some(d),
                    _ => None,
                })
                .collect()),
            _ => Err(Error::invalid_response(
                "listDatabases reply has no databases array",
            )),
        }
    }
}

/// `listIndexes`: a retryable read, on the collection's read preference.
#[derive(Debug)]
pub(crate) struct ListIndexes {
    ns: Namespace,
    options: ListIndexesOptions,
    read_preference: Option<ReadPreference>,
}

impl ListIndexes {
    pub(crate) fn new(
        ns: Namespace,
        options: ListIndexesOptions,
        read_preference: Option<ReadPreference>,
    ) -> Self {
        ListIndexes {
            ns,
            options,
            read_preference,
        }
    }
}

impl Operation for ListIndexes {
    type Output = CursorReply;

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut cursor = Document::new();
        insert_opt(&mut cursor, "batchSize", o.batch_size.map(i64::from));
        let mut command = doc! { "listIndexes": self.ns.coll.as_str(), "cursor": cursor };
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "comment", o.comment.clone());
        Ok(Command::new(&self.ns.db, command))
    }

    fn criteria(&self) -> Criteria {
        read_criteria(self.read_preference.as_ref())
    }

    fn retry(&self) -> Retry {
        Retry::Read
    }

    fn handle_response(&self, reply: RawDocumentBuf) -> Result<CursorReply> {
        CursorReply::parse(&reply)
    }
}

impl CursorOperation for ListIndexes {
    fn cursor_spec(&self) -> CursorSpec {
        CursorSpec {
            db: self.ns.db.clone(),
            batch_size: self.options.batch_size,
            comment: self.options.comment.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::operation::test_util::{assert_command, raw};

    #[test]
    fn list_collections_sends_name_only_filter_and_batch_size() {
        let options = ListCollectionsOptions {
            filter: Some(doc! { "name": "a" }),
            batch_size: Some(2),
            authorized_collections: Some(true),
            ..Default::default()
        };
        let mut op = ListCollections::new("db", true, options);
        assert_command(
            &mut op,
            doc! {
                "listCollections": 1, "cursor": { "batchSize": 2_i64 }, "nameOnly": true,
                "filter": { "name": "a" }, "authorizedCollections": true,
            },
        );
        assert_eq!(op.cursor_spec().batch_size, Some(2));
    }

    #[test]
    fn list_databases_runs_on_admin_and_reads_the_array() {
        let mut op = ListDatabases::new(true, ListDatabasesOptions::default());
        let command = assert_command(&mut op, doc! { "listDatabases": 1, "nameOnly": true });
        assert_eq!(command.db, "admin");
        let dbs = op
            .handle_response(raw(
                doc! { "databases": [{ "name": "a" }, { "name": "b" }], "ok": 1 },
            ))
            .unwrap();
        assert_eq!(dbs.len(), 2);
        assert!(op.handle_response(raw(doc! { "ok": 1 })).is_err());
    }

    #[test]
    fn list_indexes_sends_its_options() {
        let options = ListIndexesOptions {
            max_time: Some(Duration::from_millis(5)),
            batch_size: Some(1),
            comment: Some("c".into()),
        };
        let mut op = ListIndexes::new(Namespace::new("db", "c"), options, None);
        assert_command(
            &mut op,
            doc! { "listIndexes": "c", "cursor": { "batchSize": 1_i64 }, "maxTimeMS": 5_i64, "comment": "c" },
        );
    }
}
