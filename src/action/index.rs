//! `Collection::create_index(es)`, `drop_index(es)`, `list_indexes`, `list_index_names`.

use std::time::Duration;

use bson::Bson;

use super::{ExplicitSession, ImplicitSession};
use crate::SessionCursor;
use crate::{
    Collection, Cursor, Error, Result, operation,
    options::*,
    results::{CreateIndexResult, CreateIndexesResult},
};

impl<T> Collection<T> {
    /// Creates an index; `.run()` returns its name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::{IndexModel, IndexOptions};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let unique_sku = IndexModel::builder().keys(doc! { "sku": 1 }).options(IndexOptions::builder().unique(true).build()).build();
    /// assert_eq!(items.create_index(unique_sku).run()?.index_name, "sku_1");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn create_index(&self, index: IndexModel) -> CreateIndex<'_, T> {
        CreateIndex {
            coll: self,
            index,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Creates several indexes in one command; `.run()` returns their names.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::{IndexModel, IndexOptions};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.create_indexes([
    ///     IndexModel::builder().keys(doc! { "sku": 1 }).options(IndexOptions::builder().unique(true).build()).build(),
    ///     IndexModel::builder().keys(doc! { "price": -1, "qty": 1 }).build(),
    /// ]).run()?;
    /// assert_eq!(result.index_names, ["sku_1", "price_-1_qty_1"]);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn create_indexes(
        &self,
        indexes: impl IntoIterator<Item = IndexModel>,
    ) -> CreateIndexes<'_, T> {
        CreateIndexes {
            coll: self,
            indexes: indexes.into_iter().collect(),
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Drops the index named `name`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("shop").collection::<Document>("items").drop_index("sku_1").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop_index(&self, name: impl AsRef<str>) -> DropIndex<'_, T> {
        DropIndex {
            coll: self,
            name: Some(name.as_ref().to_owned()),
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Drops every index but the one on `_id`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("shop").collection::<Document>("items").drop_indexes().run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop_indexes(&self) -> DropIndex<'_, T> {
        DropIndex {
            coll: self,
            name: None,
            options: None,
            session: None,
            timeout: None,
        }
    }

    /// Lists the collection's indexes; `.run()` returns a cursor of [`IndexModel`]s.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for index in client.database("shop").collection::<Document>("items").list_indexes().run()? {
    ///     println!("{:?}", index?.keys);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_indexes(&self) -> ListIndexes<'_, T> {
        ListIndexes {
            coll: self,
            options: None,
            session: ImplicitSession,
            timeout: None,
            timeout_mode: None,
        }
    }

    /// The names of the collection's indexes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let names = client.database("shop").collection::<Document>("items").list_index_names().run()?;
    /// assert!(names.contains(&"_id_".to_string()));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_index_names(&self) -> ListIndexNames<'_, T> {
        ListIndexNames {
            coll: self,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `createIndexes` of one index, made by [`Collection::create_index`]; ends in
/// [`run`](CreateIndex::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{IndexModel, IndexOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let events = client.database("app").collection::<Document>("events");
/// let ttl = IndexModel::builder().keys(doc! { "at": 1 }).options(IndexOptions::builder().expire_after(std::time::Duration::from_secs(3600)).build()).build();
/// events.create_index(ttl).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct CreateIndex<'a, T> {
    coll: &'a Collection<T>,
    index: IndexModel,
    options: Option<CreateIndexOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> CreateIndex<'a, T> {
    option_setters!(CreateIndexOptions;
        example("coll: Collection<Document>") "coll.create_index(IndexModel::builder().keys(doc! { \"x\": 1 }).build())";
        commit_quorum: (into Bson),
        max_time: (Duration),
        write_concern: (WriteConcern),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.create_index(IndexModel::builder().keys(doc! { \"x\": 1 }).build())");

    timeout_setter!("coll: Collection<Document>" "coll.create_index(IndexModel::builder().keys(doc! { \"x\": 1 }).build())");

    /// Runs the `createIndexes` command.
    ///
    /// # Errors
    /// Server and network errors (e.g. an index of that name with other keys exists).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::{IndexModel, IndexOptions};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.create_index(IndexModel::builder().keys(doc! { "qty": 1 }).build()).run()?;
    /// assert_eq!(result.index_name, "qty_1");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<CreateIndexResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let mut options = self.options.unwrap_or_default();
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(options.write_concern.take(), self.session.as_deref())?;
            let op = operation::CreateIndexes::new(
                self.coll.namespace(),
                vec![self.index],
                options,
                write_concern,
            );
            let mut names = self.coll.client().execute_operation_in(op, self.session)?;
            Ok(CreateIndexResult {
                index_name: names.remove(0),
            })
        })
    }
}

/// A `createIndexes` of several indexes, made by [`Collection::create_indexes`]; ends in
/// [`run`](CreateIndexes::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{IndexModel, IndexOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let keys = [doc! { "a": 1 }, doc! { "b": 1 }];
/// items.create_indexes(keys.map(|keys| IndexModel::builder().keys(keys).build())).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct CreateIndexes<'a, T> {
    coll: &'a Collection<T>,
    indexes: Vec<IndexModel>,
    options: Option<CreateIndexOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> CreateIndexes<'a, T> {
    option_setters!(CreateIndexOptions;
        example("coll: Collection<Document>") "coll.create_indexes([IndexModel::builder().keys(doc! { \"x\": 1 }).build()])";
        commit_quorum: (into Bson),
        max_time: (Duration),
        write_concern: (WriteConcern),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.create_indexes([IndexModel::builder().keys(doc! { \"x\": 1 }).build()])");

    timeout_setter!("coll: Collection<Document>" "coll.create_indexes([IndexModel::builder().keys(doc! { \"x\": 1 }).build()])");

    /// Runs the `createIndexes` command.
    ///
    /// # Errors
    /// No indexes given; server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::{IndexModel, IndexOptions};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let result = items.create_indexes([IndexModel::builder().keys(doc! { "a": 1 }).build()]).run()?;
    /// assert_eq!(result.index_names, ["a_1"]);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<CreateIndexesResult> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            if self.indexes.is_empty() {
                return Err(Error::invalid_argument(
                    "create_indexes needs at least one index",
                ));
            }
            let mut options = self.options.unwrap_or_default();
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(options.write_concern.take(), self.session.as_deref())?;
            let op = operation::CreateIndexes::new(
                self.coll.namespace(),
                self.indexes,
                options,
                write_concern,
            );
            let index_names = self.coll.client().execute_operation_in(op, self.session)?;
            Ok(CreateIndexesResult { index_names })
        })
    }
}

/// A `dropIndexes`, made by [`Collection::drop_index`] or [`Collection::drop_indexes`];
/// ends in [`run`](DropIndex::run).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use bson::Document;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// items.drop_index("sku_1").max_time(Duration::from_secs(5)).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct DropIndex<'a, T> {
    coll: &'a Collection<T>,
    /// `None`: every index (`"*"`).
    name: Option<String>,
    options: Option<DropIndexOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> DropIndex<'a, T> {
    option_setters!(DropIndexOptions;
        example("coll: Collection<Document>") "coll.drop_index(\"x_1\")";
        max_time: (Duration),
        write_concern: (WriteConcern),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.drop_index(\"x_1\")");

    timeout_setter!("coll: Collection<Document>" "coll.drop_index(\"x_1\")");

    /// Runs the `dropIndexes` command.
    ///
    /// # Errors
    /// `drop_index("*")` (use `drop_indexes`); no such index; server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// assert!(items.drop_index("*").run().is_err()); // that is drop_indexes()
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = crate::timeout::of_operation(
            self.timeout,
            self.coll.timeout(),
            self.session.as_deref(),
        )?;
        crate::timeout::scope(timeout, move || {
            let name = match self.name {
                Some(name) if name == "*" => {
                    return Err(Error::invalid_argument(
                        "drop_index(\"*\") would drop every index: call drop_indexes() for that",
                    ));
                }
                Some(name) => name,
                None => "*".to_owned(),
            };
            let mut options = self.options.unwrap_or_default();
            let write_concern = self
                .coll
                .concerns()
                .write_concern_in(options.write_concern.take(), self.session.as_deref())?;
            let op =
                operation::DropIndexes::new(self.coll.namespace(), &name, options, write_concern);
            self.coll.client().execute_operation_in(op, self.session)
        })
    }
}

/// A `listIndexes`, made by [`Collection::list_indexes`]; ends in
/// [`run`](ListIndexes::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Document;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let n = items.list_indexes().batch_size(10).run()?.count();
/// # let _ = n;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct ListIndexes<'a, T, S = ImplicitSession> {
    coll: &'a Collection<T>,
    options: Option<ListIndexesOptions>,
    session: S,
    timeout: Option<std::time::Duration>,
    timeout_mode: Option<crate::options::TimeoutMode>,
}

impl<T, S> ListIndexes<'_, T, S> {
    /// The `timeoutMS` and `timeoutMode` the cursor is opened with.
    fn timing(&self) -> crate::timeout::CursorTiming {
        crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.coll.timeout()),
            mode: self.timeout_mode,
        }
    }

    cursor_timeout_setters!("coll: Collection<Document>" "coll.list_indexes()");

    option_setters!(ListIndexesOptions;
        example("coll: Collection<Document>") "coll.list_indexes()";
        max_time: (Duration),
        batch_size: (u32),
        comment: (into Bson),
    );
}

impl<'a, T> ListIndexes<'a, T, ImplicitSession> {
    /// Runs it in `session` (and its transaction, if one is open): `.run()` returns a
    /// [`SessionCursor`](crate::SessionCursor), whose later batches are fetched in the
    /// session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.list_indexes().session(&mut session).run()?;
    /// println!("{} indexes", cursor.iter(&mut session).count());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn session(
        self,
        session: impl Into<&'a mut crate::ClientSession>,
    ) -> ListIndexes<'a, T, ExplicitSession<'a>> {
        ListIndexes {
            coll: self.coll,
            options: self.options,
            session: ExplicitSession(session.into()),
            timeout: self.timeout,
            timeout_mode: self.timeout_mode,
        }
    }

    /// Runs `listIndexes` (a retryable read) and returns a cursor over the indexes.
    ///
    /// # Errors
    /// Server and network errors (a collection that does not exist has no indexes to
    /// list: the server's NamespaceNotFound).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for index in client.database("shop").collection::<Document>("items").list_indexes().run()? {
    ///     let index = index?;
    ///     println!("{:?} {:?}", index.keys, index.options);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Cursor<IndexModel>> {
        let timing = self.timing();
        list_indexes(self.coll, self.options.unwrap_or_default(), None, timing)
    }
}

impl<'a, T> ListIndexes<'a, T, ExplicitSession<'a>> {
    /// Runs `listIndexes` in the session and returns a cursor whose later batches are
    /// fetched in it.
    ///
    /// # Errors
    /// Server and network errors; the session belongs to another client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.list_indexes().session(&mut session).run()?;
    /// while let Some(index) = cursor.next(&mut session) {
    ///     println!("{:?}", index?.keys);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<SessionCursor<IndexModel>> {
        let timing = self.timing();
        crate::timeout::of_operation(self.timeout, None, Some(&*self.session.0))?;
        let ExplicitSession(session) = self.session;
        let cursor = list_indexes(
            self.coll,
            self.options.unwrap_or_default(),
            Some(session),
            timing,
        )?;
        Ok(SessionCursor::new(cursor))
    }
}

/// The names of a collection's indexes, made by [`Collection::list_index_names`]; ends
/// in [`run`](ListIndexNames::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Document;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let names = items.list_index_names().run()?;
/// # let _ = names;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct ListIndexNames<'a, T> {
    coll: &'a Collection<T>,
    options: Option<ListIndexesOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T> ListIndexNames<'a, T> {
    option_setters!(ListIndexesOptions;
        example("coll: Collection<Document>") "coll.list_index_names()";
        max_time: (Duration),
        batch_size: (u32),
        comment: (into Bson),
    );

    session_setter!("coll: Collection<Document>" "coll.list_index_names()");

    timeout_setter!("coll: Collection<Document>" "coll.list_index_names()");

    /// Runs `listIndexes` and collects the names.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// println!("{:?}", items.list_index_names().run()?);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Vec<String>> {
        // The cursor's budget (cursorLifetime) bounds the query and every fetch.
        let timing = crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.coll.timeout()),
            mode: None,
        };
        let mut session = self.session;
        let options = self.options.unwrap_or_default();
        let indexes = list_indexes(self.coll, options, session.as_deref_mut(), timing)?;
        Ok(indexes
            .collect_in(session)?
            .iter()
            .map(IndexModel::name)
            .collect())
    }
}

/// `listIndexes` on the collection's read preference.
fn list_indexes<T>(
    coll: &Collection<T>,
    options: ListIndexesOptions,
    session: Option<&mut crate::ClientSession>,
    timing: crate::timeout::CursorTiming,
) -> Result<Cursor<IndexModel>> {
    let read_preference = coll.concerns().read_preference(None);
    let op = operation::ListIndexes::new(coll.namespace(), options, read_preference);
    coll.client()
        .execute_cursor_operation_in(op, session, timing)
}
