//! Collection and index administration: `create`, `drop`, `dropDatabase`,
//! `renameCollection`, `createIndexes`, `dropIndexes` (Index Management spec). None is
//! retried; all run on the primary.

use bson::{Document, RawDocumentBuf, doc};

use super::{Command, Namespace, Operation, add_write_concern, insert_opt, millis};
use crate::{
    Result,
    options::{
        CreateCollectionOptions, CreateIndexOptions, DropIndexOptions, IndexModel, WriteConcern,
    },
};

/// `NamespaceNotFound`: dropping what does not exist.
const NAMESPACE_NOT_FOUND: i32 = 26;

/// `create`: a collection or a view, its options as the command's fields.
#[derive(Debug)]
pub(crate) struct Create {
    ns: Namespace,
    options: CreateCollectionOptions,
    write_concern: Option<WriteConcern>,
}

impl Create {
    pub(crate) fn new(
        ns: Namespace,
        options: CreateCollectionOptions,
        write_concern: Option<WriteConcern>,
    ) -> Self {
        Create {
            ns,
            options,
            write_concern,
        }
    }
}

impl Operation for Create {
    type Output = ();

    fn build(&mut self) -> Result<Command> {
        let mut command = doc! { "create": self.ns.coll.as_str() };
        command.extend(self.options.to_command_fields());
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.ns.db, command))
    }

    fn handle_response(&self, _: RawDocumentBuf) -> Result<()> {
        Ok(())
    }
}

/// `drop` of a collection. The executor reports a missing collection as the server's
/// NamespaceNotFound; [`DropCollection::already_gone`] tells the caller to accept it.
#[derive(Debug)]
pub(crate) struct DropCollection {
    ns: Namespace,
    write_concern: Option<WriteConcern>,
}

impl DropCollection {
    pub(crate) fn new(ns: Namespace, write_concern: Option<WriteConcern>) -> Self {
        DropCollection { ns, write_concern }
    }

    /// Whether `error` only says the collection did not exist (so it is dropped).
    pub(crate) fn already_gone(error: &crate::Error) -> bool {
        error.code() == Some(NAMESPACE_NOT_FOUND)
    }
}

impl Operation for DropCollection {
    type Output = ();

    fn build(&mut self) -> Result<Command> {
        let mut command = doc! { "drop": self.ns.coll.as_str() };
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.ns.db, command))
    }

    fn handle_response(&self, _: RawDocumentBuf) -> Result<()> {
        Ok(())
    }
}

/// `dropDatabase`.
#[derive(Debug)]
pub(crate) struct DropDatabase {
    db: String,
    write_concern: Option<WriteConcern>,
}

impl DropDatabase {
    pub(crate) fn new(db: &str, write_concern: Option<WriteConcern>) -> Self {
        DropDatabase {
            db: db.to_owned(),
            write_concern,
        }
    }
}

impl Operation for DropDatabase {
    type Output = ();

    fn build(&mut self) -> Result<Command> {
        let mut command = doc! { "dropDatabase": 1 };
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.db, command))
    }

    fn handle_response(&self, _: RawDocumentBuf) -> Result<()> {
        Ok(())
    }
}

/// `renameCollection`, run on `admin`: to `db.name`, or to a name in the same database.
#[derive(Debug)]
pub(crate) struct RenameCollection {
    from: Namespace,
    to: String,
    drop_target: bool,
    write_concern: Option<WriteConcern>,
}

impl RenameCollection {
    pub(crate) fn new(
        from: Namespace,
        to: &str,
        drop_target: bool,
        write_concern: Option<WriteConcern>,
    ) -> Self {
        let to = if to.contains('.') {
            to.to_owned()
        } else {
            format!("{}.{to}", from.db)
        };
        RenameCollection {
            from,
            to,
            drop_target,
            write_concern,
        }
    }
}

impl Operation for RenameCollection {
    type Output = ();

    fn build(&mut self) -> Result<Command> {
        let mut command = doc! {
            "renameCollection": self.from.to_string(),
            "to": self.to.as_str(),
            "dropTarget": self.drop_target,
        };
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new("admin", command))
    }

    fn handle_response(&self, _: RawDocumentBuf) -> Result<()> {
        Ok(())
    }
}

/// `createIndexes`; the output is the indexes' names (given, or derived from the keys).
#[derive(Debug)]
pub(crate) struct CreateIndexes {
    ns: Namespace,
    indexes: Vec<IndexModel>,
    options: CreateIndexOptions,
    write_concern: Option<WriteConcern>,
}

impl CreateIndexes {
    pub(crate) fn new(
        ns: Namespace,
        indexes: Vec<IndexModel>,
        options: CreateIndexOptions,
        write_concern: Option<WriteConcern>,
    ) -> Self {
        CreateIndexes {
            ns,
            indexes,
            options,
            write_concern,
        }
    }

    fn names(&self) -> Vec<String> {
        self.indexes.iter().map(IndexModel::name).collect()
    }
}

impl Operation for CreateIndexes {
    type Output = Vec<String>;

    fn build(&mut self) -> Result<Command> {
        let indexes: Vec<Document> = self.indexes.iter().map(IndexModel::to_document).collect();
        let o = &self.options;
        let mut command = doc! { "createIndexes": self.ns.coll.as_str(), "indexes": indexes };
        insert_opt(&mut command, "commitQuorum", o.commit_quorum.clone());
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "comment", o.comment.clone());
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.ns.db, command))
    }

    fn handle_response(&self, _: RawDocumentBuf) -> Result<Vec<String>> {
        Ok(self.names())
    }
}

/// `dropIndexes` of one index by name, or of all but `_id_` (`"*"`).
#[derive(Debug)]
pub(crate) struct DropIndexes {
    ns: Namespace,
    name: String,
    options: DropIndexOptions,
    write_concern: Option<WriteConcern>,
}

impl DropIndexes {
    pub(crate) fn new(
        ns: Namespace,
        name: &str,
        options: DropIndexOptions,
        write_concern: Option<WriteConcern>,
    ) -> Self {
        DropIndexes {
            ns,
            name: name.to_owned(),
            options,
            write_concern,
        }
    }
}

impl Operation for DropIndexes {
    type Output = ();

    fn build(&mut self) -> Result<Command> {
        let o = &self.options;
        let mut command =
            doc! { "dropIndexes": self.ns.coll.as_str(), "index": self.name.as_str() };
        insert_opt(&mut command, "maxTimeMS", o.max_time.map(millis));
        insert_opt(&mut command, "comment", o.comment.clone());
        add_write_concern(&mut command, self.write_concern.as_ref());
        Ok(Command::new(&self.ns.db, command))
    }

    fn handle_response(&self, _: RawDocumentBuf) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::operation::test_util::{assert_command, raw};
    use crate::options::IndexOptions;

    #[test]
    fn create_indexes_names_unnamed_indexes_after_their_keys() {
        let indexes = vec![
            IndexModel::builder().keys(doc! { "a": 1, "b": -1 }).build(),
            IndexModel::builder()
                .keys(doc! { "c": 1 })
                .options(
                    IndexOptions::builder()
                        .name("by_c".to_string())
                        .unique(true)
                        .build(),
                )
                .build(),
        ];
        let options = CreateIndexOptions {
            commit_quorum: Some("majority".into()),
            max_time: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        let mut op = CreateIndexes::new(
            Namespace::new("db", "c"),
            indexes,
            options,
            Some(WriteConcern::majority()),
        );
        assert_command(
            &mut op,
            doc! {
                "createIndexes": "c",
                "indexes": [
                    { "key": { "a": 1, "b": -1 }, "name": "a_1_b_-1" },
                    { "key": { "c": 1 }, "name": "by_c", "unique": true },
                ],
                "commitQuorum": "majority", "maxTimeMS": 1000_i64, "writeConcern": { "w": "majority" },
            },
        );
        assert_eq!(
            op.handle_response(raw(doc! { "ok": 1 })).unwrap(),
            ["a_1_b_-1", "by_c"]
        );
    }

    #[test]
    fn rename_runs_on_admin_with_full_namespaces() {
        let mut op = RenameCollection::new(Namespace::new("db", "a"), "b", true, None);
        let command = assert_command(
            &mut op,
            doc! { "renameCollection": "db.a", "to": "db.b", "dropTarget": true },
        );
        assert_eq!(command.db, "admin");
        let mut moved = RenameCollection::new(Namespace::new("db", "a"), "other.b", false, None);
        assert_eq!(
            moved.build().unwrap().body.get_str("to").unwrap(),
            "other.b"
        );
    }

    #[test]
    fn create_drop_and_drop_indexes_commands() {
        let options = CreateCollectionOptions {
            capped: Some(true),
            size: Some(4096),
            ..Default::default()
        };
        let mut create = Create::new(Namespace::new("db", "log"), options, None);
        assert_command(
            &mut create,
            doc! { "create": "log", "capped": true, "size": 4096_i64 },
        );
        let mut drop =
            DropCollection::new(Namespace::new("db", "log"), Some(WriteConcern::majority()));
        assert_command(
            &mut drop,
            doc! { "drop": "log", "writeConcern": { "w": "majority" } },
        );
        let mut drop_db = DropDatabase::new("db", None);
        assert_command(&mut drop_db, doc! { "dropDatabase": 1 });
        let mut drop_index = DropIndexes::new(
            Namespace::new("db", "c"),
            "*",
            DropIndexOptions::default(),
            None,
        );
        assert_command(&mut drop_index, doc! { "dropIndexes": "c", "index": "*" });
    }
}
