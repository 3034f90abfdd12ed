//! Actions: every operation is a builder that ends in `.run()`, spelled as the official
//! `mongodb` crate's 3.x API spells it (`mongodb::sync`), so porting is a rename.
//!
//! A method on [`Client`](crate::Client), [`Database`](crate::Database) or
//! [`Collection`](crate::Collection) takes the operation's required arguments and returns
//! an action; its setters fill the operation's options struct one field at a time
//! (`.with_options(opts)` sets them all at once), and `.run()` executes it, blocking the
//! thread or parking the coroutine until the reply comes.
//!
//! ```no_run
//! use bson::{doc, Document};
//! use greenmongo::Client;
//!
//! let client = Client::with_uri_str("mongodb://localhost")?;
//! let items = client.database("shop").collection::<Document>("items");
//! items.insert_many([doc! { "sku": "fig", "qty": 3 }, doc! { "sku": "kiwi", "qty": 0 }]).ordered(false).run()?;
//! let in_stock = items.count_documents(doc! { "qty": { "$gt": 0 } }).run()?;
//! for item in items.find(doc! {}).sort(doc! { "sku": 1 }).limit(10).run()? {
//!     println!("{}", item?);
//! }
//! # let _ = in_stock;
//! # Ok::<(), greenmongo::Error>(())
//! ```
//!
//! The action types are public so they can be named, but there is nothing to do with one
//! besides calling its setters and `.run()`.

/// One setter per option of an action's options struct (the official driver's
/// `option_setters!`): each fills that field of `self.options`, creating the struct on
/// first use; `with_options` replaces them all. Fields are written `name: (Type)` for a
/// setter taking `Type`, `name: (into Type)` for `impl Into<Type>` (comments, strings) and
/// `name: (iter Type)` for `impl IntoIterator<Item = Type>` (lists), as the official
/// setters take them. `example` gives the arguments and the call that each generated doc
/// example chains its setter onto.
macro_rules! option_setters {
    (
        $Options:ident;
        example($arg:literal) $call:literal;
        $($field:ident: $kind:tt),* $(,)?
    ) => {
        /// Sets all options at once, replacing any set before (`None` clears them).
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n",
            "# use bson::{doc, Bson, Document};\n",
            "# use greenmongo::{options::*, Client, Collection, Database};\n",
            "fn example(", $arg, ", options: ", stringify!($Options), ") -> greenmongo::Result<()> {\n",
            "    let outcome = ", $call, ".with_options(options).run()?;\n",
            "    # let _ = outcome;\n",
            "    Ok(())\n",
            "}\n",
            "```",
        )]
        pub fn with_options(mut self, options: impl Into<Option<crate::options::$Options>>) -> Self {
            self.options = options.into();
            self
        }

        $( option_setters!(@setter $Options ($arg) $call $field $kind); )*
    };
    (@setter $Options:ident ($arg:literal) $call:literal $field:ident (into $ty:ty)) => {
        option_setters!(@doc $Options ($arg) $call $field ($ty)
            pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                self.options.get_or_insert_with(Default::default).$field = Some(value.into());
                self
            }
        );
    };
    (@setter $Options:ident ($arg:literal) $call:literal $field:ident (iter $ty:ty)) => {
        option_setters!(@doc $Options ($arg) $call $field (Vec<$ty>)
            pub fn $field(mut self, value: impl IntoIterator<Item = $ty>) -> Self {
                self.options.get_or_insert_with(Default::default).$field =
                    Some(value.into_iter().collect());
                self
            }
        );
    };
    (@setter $Options:ident ($arg:literal) $call:literal $field:ident ($ty:ty)) => {
        option_setters!(@doc $Options ($arg) $call $field ($ty)
            pub fn $field(mut self, value: $ty) -> Self {
                self.options.get_or_insert_with(Default::default).$field = Some(value);
                self
            }
        );
    };
    (@doc $Options:ident ($arg:literal) $call:literal $field:ident ($ty:ty) $setter:item) => {
        #[doc = concat!(
            "Sets the [`", stringify!($field), "`](crate::options::", stringify!($Options),
            "::", stringify!($field), ") option.",
        )]
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n",
            "# use std::time::Duration;\n",
            "# use bson::{doc, Bson, Document};\n",
            "# use greenmongo::{options::*, Client, Collection, Database};\n",
            "fn example(", $arg, ", value: ", stringify!($ty), ") -> greenmongo::Result<()> {\n",
            "    let outcome = ", $call, ".", stringify!($field), "(value).run()?;\n",
            "    # let _ = outcome;\n",
            "    Ok(())\n",
            "}\n",
            "```",
        )]
        $setter
    };
}

/// The `session` setter of an action whose result does not depend on it (the official
/// driver's): the operation runs in the application's [`ClientSession`](crate::ClientSession)
/// instead of an implicit one (in its transaction, if one is open). The impl block
/// names the action's lifetime `'a`.
macro_rules! session_setter {
    ($arg:literal $call:literal) => {
        /// Runs the operation in `session` (and in its transaction, if one is open)
        /// instead of an implicit session.
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n",
            "# use bson::{doc, Bson, Document};\n",
            "# use greenmongo::{options::*, Client, ClientSession, Collection, Database};\n",
            "fn example(", $arg, ", session: &mut ClientSession) -> greenmongo::Result<()> {\n",
            "    let outcome = ", $call, ".session(&mut *session).run()?;\n",
            "    # let _ = outcome;\n",
            "    Ok(())\n",
            "}\n",
            "```",
        )]
        pub fn session(mut self, session: impl Into<&'a mut crate::ClientSession>) -> Self {
            self.session = Some(session.into());
            self
        }
    };
}

/// The `timeout` setter of an action (the CSOT spec's operation-level `timeoutMS`): it
/// needs a `timeout: Option<Duration>` field, read by its `run`.
macro_rules! timeout_setter {
    ($arg:literal $call:literal) => {
        /// Bounds the whole operation by `timeout` (its `timeoutMS`; zero: no limit),
        /// in place of the collection's, database's or client's: server selection, the
        /// connection checkout, every retry and batch, and the server's own work (sent
        /// as `maxTimeMS`). When it runs out the operation fails with
        /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
        ///
        /// # Examples
        ///
        #[doc = concat!(
                    "```\n",
                    "# use std::time::Duration;\n",
                    "# use bson::{doc, Bson, Document};\n",
                    "# use greenmongo::{options::*, Client, Collection, Database};\n",
                    "fn example(", $arg, ") -> greenmongo::Result<()> {\n",
                    "    let outcome = ", $call, ".timeout(Duration::from_millis(500)).run()?;\n",
                    "    # let _ = outcome;\n",
                    "    Ok(())\n",
                    "}\n",
                    "```",
                )]
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.timeout = Some(timeout);
            self
        }
    };
}

/// The `timeout` and `timeout_mode` setters of an action that opens a cursor: it needs
/// `timeout` and `timeout_mode` fields, read by its `run`.
macro_rules! cursor_timeout_setters {
    ($arg:literal $call:literal) => {
        timeout_setter!($arg $call);

        /// How the `timeout` applies to the cursor: to its whole life (the default for
        /// cursors that are not tailable) or to each iteration that fetches (see
        /// [`TimeoutMode`](crate::options::TimeoutMode)). Needs a `timeout` here or on a
        /// parent.
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n",
            "# use std::time::Duration;\n",
            "# use bson::{doc, Bson, Document};\n",
            "# use greenmongo::{options::*, Client, Collection, Database};\n",
            "fn example(", $arg, ") -> greenmongo::Result<()> {\n",
            "    let outcome = ", $call, ".timeout(Duration::from_secs(1)).timeout_mode(TimeoutMode::Iteration).run()?;\n",
            "    # let _ = outcome;\n",
            "    Ok(())\n",
            "}\n",
            "```",
        )]
        pub fn timeout_mode(mut self, mode: crate::options::TimeoutMode) -> Self {
            self.timeout_mode = Some(mode);
            self
        }
    };
}

mod aggregate;
mod bulk_write;
mod count;
mod create_collection;
mod delete;
mod distinct;
mod drop;
mod find;
mod find_and_modify;
pub mod gridfs;
mod index;
mod insert;
mod list;
mod run_command;
mod session;
mod shutdown;
mod transaction;
mod update;
mod watch;

pub use aggregate::Aggregate;

/// The session of an action that returns a cursor, before `.session(...)`: an implicit
/// one, kept by the [`Cursor`](crate::Cursor) for its `getMore`s.
///
/// # Examples
///
/// ```
/// use bson::Document;
/// use greenmongo::{action::{Find, ImplicitSession}, Collection};
///
/// fn everything(items: &Collection<Document>) -> Find<'_, Document, ImplicitSession> {
///     items.find(bson::doc! {})
/// }
/// ```
#[derive(Debug)]
pub struct ImplicitSession;

/// The session of an action that returns a cursor, after `.session(&mut session)`: its
/// `run` returns a [`SessionCursor`](crate::SessionCursor), iterated with the session
/// lent again.
///
/// # Examples
///
/// ```
/// use bson::Document;
/// use greenmongo::{action::{ExplicitSession, Find}, ClientSession, Collection};
///
/// fn everything<'a>(items: &'a Collection<Document>, session: &'a mut ClientSession) -> Find<'a, Document, ExplicitSession<'a>> {
///     items.find(bson::doc! {}).session(session)
/// }
/// ```
#[derive(Debug)]
pub struct ExplicitSession<'a>(&'a mut crate::ClientSession);
pub use bulk_write::{BulkWrite, BulkWriteReport, CollectionBulkWrite};
pub use count::{CountDocuments, EstimatedDocumentCount};
pub use create_collection::CreateCollection;
pub use delete::Delete;
pub use distinct::Distinct;
pub use drop::{DropCollection, DropDatabase, RenameCollection};
pub use find::{Find, FindOne};
pub use find_and_modify::{FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate};
pub use index::{CreateIndex, CreateIndexes, DropIndex, ListIndexNames, ListIndexes};
pub use insert::{InsertMany, InsertOne};
pub use list::{ListCollectionNames, ListCollections, ListDatabaseNames, ListDatabases};
pub use run_command::{RunCommand, RunCursorCommand};
pub use session::StartSession;
pub use shutdown::Shutdown;
pub use transaction::{AbortTransaction, CommitTransaction, StartTransaction};
pub use update::{ReplaceOne, Update};
pub use watch::Watch;
