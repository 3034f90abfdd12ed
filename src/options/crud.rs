//! Options of the CRUD operations, shaped like the official driver's: plain structs with
//! public fields and `Default` (`FindOptions { limit: Some(10), ..Default::default() }`),
//! and builders (`FindOptions::builder().limit(10).build()`).
//!
//! ```
//! use bson::doc;
//! use greenmongo::options::FindOptions;
//!
//! let built = FindOptions::builder().sort(doc! { "price": 1 }).limit(10).build();
//! let literal = FindOptions { sort: Some(doc! { "price": 1 }), limit: Some(10), ..Default::default() };
//! assert_eq!(built, literal);
//! ```

use std::time::Duration;

use bson::{Bson, Document};

use super::{ReadConcern, ReadPreference, WriteConcern};

/// An index hint: by name or by key pattern.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::{CountOptions, Hint};
///
/// let by_keys = CountOptions::builder().hint(Hint::Keys(doc! { "sku": 1 })).build();
/// let by_name = CountOptions::builder().hint(Hint::Name("sku_1".into())).build();
/// assert_ne!(by_keys, by_name);
/// // items.count_documents(doc! { "sku": "fig" }, by_name)?
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Hint {
    /// The index's key pattern, e.g. `doc! { "sku": 1 }`.
    Keys(Document),
    /// The index's name, e.g. `"sku_1"`.
    Name(String),
}

impl Hint {
    pub(crate) fn to_bson(&self) -> Bson {
        match self {
            Hint::Keys(keys) => Bson::Document(keys.clone()),
            Hint::Name(name) => Bson::String(name.clone()),
        }
    }
}

/// Options of `insert_one`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::InsertOneOptions;
///
/// let options = InsertOneOptions::builder().bypass_document_validation(true).comment("import").build();
/// assert_eq!(options.bypass_document_validation, Some(true));
/// // items.insert_one(doc, options)?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InsertOneOptions {
    /// Skip document validation on the server.
    pub bypass_document_validation: Option<bool>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `insert_many`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::InsertManyOptions;
///
/// let keep_going = InsertManyOptions { ordered: Some(false), ..Default::default() };
/// assert_eq!(keep_going, InsertManyOptions::builder().ordered(false).build());
/// // items.insert_many(docs, keep_going)? inserts every document it can
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InsertManyOptions {
    /// Skip document validation on the server.
    pub bypass_document_validation: Option<bool>,
    /// Stop at the first error (default `true`); `false` inserts all it can.
    pub ordered: Option<bool>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `find` and `find_one`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bson::doc;
/// use greenmongo::options::FindOptions;
///
/// let page = FindOptions::builder()
///     .projection(doc! { "sku": 1, "_id": 0 })
///     .sort(doc! { "sku": 1 })
///     .skip(20u64)
///     .limit(10)
///     .max_time(Duration::from_secs(2))
///     .build();
/// assert_eq!((page.skip, page.limit), (Some(20), Some(10)));
/// // items.find(doc! {}, page)?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindOptions {
    /// Fields to return, e.g. `doc! { "name": 1, "_id": 0 }`.
    pub projection: Option<Document>,
    /// Sort order, e.g. `doc! { "price": -1 }`.
    pub sort: Option<Document>,
    /// Documents to skip.
    pub skip: Option<u64>,
    /// At most this many documents (0: no limit).
    pub limit: Option<i64>,
    /// Documents per batch (the first `find` reply and each `getMore`).
    pub batch_size: Option<u32>,
    /// Server-side time limit of the query.
    pub max_time: Option<Duration>,
    /// Let the server spill large sorts to disk.
    pub allow_disk_use: Option<bool>,
    /// A tailable cursor (capped collections).
    pub cursor_type: Option<CursorType>,
    /// For tailable await cursors: how long a `getMore` waits for new data.
    pub max_await_time: Option<Duration>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// String comparison rules, e.g. `doc! { "locale": "fr" }`.
    pub collation: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Variables for `$$name` in the filter.
    pub let_vars: Option<Document>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// Read preference (default: the collection's).
    pub selection_criteria: Option<ReadPreference>,
    /// Keep the cursor alive without a timeout on the server.
    pub no_cursor_timeout: Option<bool>,
    /// Return partial results when some shards are down.
    pub allow_partial_results: Option<bool>,
    /// Only the index keys: `returnKey`.
    pub return_key: Option<bool>,
    /// Add `$recordId` to each document.
    pub show_record_id: Option<bool>,
    /// Inclusive lower index bound.
    pub min: Option<Document>,
    /// Exclusive upper index bound.
    pub max: Option<Document>,
}

/// What kind of cursor `find` opens.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use bson::{doc, Document};
/// use greenmongo::options::{CursorType, FindOptions};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let log = client.database("app").collection::<Document>("log"); // a capped collection
/// let tail = FindOptions::builder().cursor_type(CursorType::TailableAwait).max_await_time(Duration::from_secs(1)).build();
/// for entry in log.find(doc! {}, tail)? {
///     println!("{}", entry?); // waits for new entries instead of ending
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorType {
    /// Closed when the results are exhausted (the default).
    NonTailable,
    /// Stays open at the end of a capped collection; `getMore` returns new documents.
    Tailable,
    /// Tailable, and `getMore` waits (up to `max_await_time`) for new documents.
    TailableAwait,
}

/// Options of `update_one` and `update_many`.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::UpdateOptions;
///
/// let options = UpdateOptions::builder()
///     .upsert(true)
///     .array_filters(vec![doc! { "elem.qty": { "$lt": 1 } }])
///     .build();
/// assert_eq!(options.upsert, Some(true));
/// // items.update_many(doc! {}, doc! { "$set": { "sizes.$[elem].soldOut": true } }, options)?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateOptions {
    /// Insert a document when none matches.
    pub upsert: Option<bool>,
    /// Filters selecting array elements for `$[<identifier>]`.
    pub array_filters: Option<Vec<Document>>,
    /// Skip document validation on the server.
    pub bypass_document_validation: Option<bool>,
    /// String comparison rules.
    pub collation: Option<Document>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// For `update_one`: which document to update when several match.
    pub sort: Option<Document>,
}

/// Options of `replace_one`.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::ReplaceOptions;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let upsert = ReplaceOptions::builder().upsert(true).build();
/// items.replace_one(doc! { "sku": "fig" }, doc! { "sku": "fig", "qty": 7 }, upsert)?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub type ReplaceOptions = UpdateOptions;

/// Options of `delete_one` and `delete_many`.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::DeleteOptions;
///
/// let options = DeleteOptions::builder().collation(doc! { "locale": "fr", "strength": 1 }).build();
/// assert!(options.collation.is_some());
/// // carts.delete_many(doc! { "owner": "élodie" }, options)? also deletes "Elodie"'s
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeleteOptions {
    /// String comparison rules.
    pub collation: Option<Document>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `count_documents`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::options::CountOptions;
///
/// let options = CountOptions::builder().limit(1000u64).max_time(Duration::from_millis(500)).build();
/// assert_eq!(options.limit, Some(1000));
/// // items.count_documents(doc! { "qty": 0 }, options)? stops counting at 1000
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountOptions {
    /// Documents to skip.
    pub skip: Option<u64>,
    /// Count at most this many.
    pub limit: Option<u64>,
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// String comparison rules.
    pub collation: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
}

/// Options of `aggregate`.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::AggregateOptions;
///
/// let options = AggregateOptions::builder().allow_disk_use(true).batch_size(500u32).let_vars(doc! { "min": 10 }).build();
/// assert_eq!(options.batch_size, Some(500));
/// // orders.aggregate([doc! { "$match": { "$expr": { "$gte": ["$qty", "$$min"] } } }], options)?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AggregateOptions {
    /// Let the server spill large stages to disk.
    pub allow_disk_use: Option<bool>,
    /// Documents per batch.
    pub batch_size: Option<u32>,
    /// Skip document validation (for `$out` / `$merge`).
    pub bypass_document_validation: Option<bool>,
    /// String comparison rules.
    pub collation: Option<Document>,
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// Write concern, for `$out` / `$merge` (default: the collection's).
    pub write_concern: Option<WriteConcern>,
}

/// Options of `distinct`.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{DistinctOptions, ReadConcern, ReadConcernLevel};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let majority = DistinctOptions::builder().read_concern(ReadConcern::new(ReadConcernLevel::Majority)).build();
/// let colours = items.distinct("colour", doc! { "qty": { "$gt": 0 } }, majority)?;
/// println!("{colours:?}");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DistinctOptions {
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// String comparison rules.
    pub collation: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// Which index to use.
    pub hint: Option<Hint>,
}

/// Options of [`Database::run_cursor_command`](crate::Database::run_cursor_command): where
/// the command runs and how the cursor asks for its later batches. The command itself is
/// sent as given (put its own `batchSize`, `maxTimeMS` or `comment` in it).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::options::{CursorType, RunCursorCommandOptions};
///
/// let options = RunCursorCommandOptions::builder()
///     .batch_size(500u32)
///     .cursor_type(CursorType::TailableAwait)
///     .max_time(Duration::from_secs(1))
///     .build();
/// assert_eq!(options.batch_size, Some(500));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunCursorCommandOptions {
    /// Where the command runs (default: the primary).
    pub read_preference: Option<ReadPreference>,
    /// Tailable cursors stay open at the end of their results; `Tailable` ends each pass
    /// over the results at an empty batch (`next` returns `None`, the cursor stays alive).
    pub cursor_type: Option<CursorType>,
    /// `batchSize` of each `getMore`.
    pub batch_size: Option<u32>,
    /// `maxTimeMS` of each `getMore` (for a tailable await cursor: how long it waits for
    /// new data).
    pub max_time: Option<Duration>,
    /// `comment` of each `getMore` (MongoDB 4.4 and later; not sent to older servers).
    pub comment: Option<Bson>,
}

/// Which version of the document `find_one_and_update` / `_replace` return.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
/// use greenmongo::options::{FindOneAndModifyOptions, ReturnDocument};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let counters = client.database("app").collection::<Document>("counters");
/// let after = FindOneAndModifyOptions::builder().return_document(ReturnDocument::After).upsert(true).build();
/// let next = counters.find_one_and_update(doc! { "_id": "orders" }, doc! { "$inc": { "seq": 1 } }, after)?;
/// println!("next order number: {}", next.unwrap().get_i32("seq").unwrap_or(1));
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReturnDocument {
    /// As it was before the change (the default).
    #[default]
    Before,
    /// As it is after the change.
    After,
}

/// Options of `find_one_and_update`, `find_one_and_replace` and `find_one_and_delete`.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::{FindOneAndModifyOptions, ReturnDocument};
///
/// let oldest_first = FindOneAndModifyOptions::builder()
///     .sort(doc! { "createdAt": 1 })
///     .projection(doc! { "payload": 1 })
///     .build();
/// assert_eq!(oldest_first.return_document, None); // the default: the document before the change
/// assert_eq!(ReturnDocument::default(), ReturnDocument::Before);
/// // jobs.find_one_and_delete(doc! { "state": "queued" }, oldest_first)? pops a queue
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindOneAndModifyOptions {
    /// Which document to change when several match.
    pub sort: Option<Document>,
    /// Fields to return.
    pub projection: Option<Document>,
    /// Before or after the change (update and replace only).
    pub return_document: Option<ReturnDocument>,
    /// Insert when none matches (update and replace only).
    pub upsert: Option<bool>,
    /// Filters for `$[<identifier>]` (update only).
    pub array_filters: Option<Vec<Document>>,
    /// Skip document validation.
    pub bypass_document_validation: Option<bool>,
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// String comparison rules.
    pub collation: Option<Document>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// One index to create.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::IndexModel;
///
/// let ttl = IndexModel { keys: doc! { "createdAt": 1 }, options: Some(doc! { "expireAfterSeconds": 3600 }) };
/// let plain = IndexModel { keys: doc! { "sku": 1 }, ..Default::default() }; // named "sku_1"
/// assert!(plain.options.is_none());
/// // items.create_indexes([ttl, plain])?
/// # let _ = ttl;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexModel {
    /// The key pattern, e.g. `doc! { "sku": 1 }`.
    pub keys: Document,
    /// Index options as the `createIndexes` command takes them (`name`, `unique`,
    /// `expireAfterSeconds`, `partialFilterExpression`, ...). Without a `name`, one is
    /// derived from the keys (`sku_1`).
    pub options: Option<Document>,
}

/// Builder-style setters, so options read as in the official driver:
/// `FindOptions::builder().sort(doc! { "price": 1 }).limit(10).build()`.
macro_rules! setters {
    ($options:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        impl $options {
            /// Default options, to chain setters on (as the official driver's builders).
            ///
            /// # Examples
            ///
            #[doc = concat!(
                "```\n",
                "use greenmongo::options::", stringify!($options), ";\n\n",
                "// Every option starts unset, as in `", stringify!($options), "::default()`.\n",
                "assert_eq!(", stringify!($options), "::builder().build(), ", stringify!($options), "::default());\n",
                "```",
            )]
            pub fn builder() -> Self {
                Self::default()
            }

            /// The options, ready to pass (the end of a builder chain).
            ///
            /// # Examples
            ///
            #[doc = concat!(
                "```\n",
                "use greenmongo::options::", stringify!($options), ";\n\n",
                "let options: ", stringify!($options), " = ", stringify!($options), "::builder().build();\n",
                "assert_eq!(options, ", stringify!($options), "::default()); // no setter called\n",
                "```",
            )]
            pub fn build(self) -> Self {
                self
            }

            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                ///
                /// # Examples
                ///
                #[doc = concat!(
                    "```\n",
                    "# use bson::{Bson, Document};\n",
                    "# use std::time::Duration;\n",
                    "use greenmongo::options::*;\n\n",
                    "fn with_", stringify!($field), "(value: ", stringify!($ty), ") -> ", stringify!($options), " {\n",
                    "    let options = ", stringify!($options), "::builder().", stringify!($field), "(value).build();\n",
                    "    assert!(options.", stringify!($field), ".is_some());\n",
                    "    options\n",
                    "}\n",
                    "```",
                )]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}

setters!(InsertOneOptions {
    bypass_document_validation: bool,
    write_concern: WriteConcern,
    comment: Bson
});
setters!(InsertManyOptions {
    bypass_document_validation: bool,
    ordered: bool,
    write_concern: WriteConcern,
    comment: Bson
});
setters!(FindOptions {
    projection: Document,
    sort: Document,
    skip: u64,
    limit: i64,
    batch_size: u32,
    max_time: Duration,
    allow_disk_use: bool,
    cursor_type: CursorType,
    max_await_time: Duration,
    hint: Hint,
    collation: Document,
    comment: Bson,
    let_vars: Document,
    read_concern: ReadConcern,
    selection_criteria: ReadPreference,
    no_cursor_timeout: bool,
    allow_partial_results: bool,
    return_key: bool,
    show_record_id: bool,
    min: Document,
    max: Document
});
setters!(UpdateOptions { upsert: bool, array_filters: Vec<Document>, bypass_document_validation: bool, collation: Document, hint: Hint, write_concern: WriteConcern, let_vars: Document, comment: Bson, sort: Document });
setters!(DeleteOptions {
    collation: Document,
    hint: Hint,
    write_concern: WriteConcern,
    let_vars: Document,
    comment: Bson
});
setters!(CountOptions {
    skip: u64,
    limit: u64,
    max_time: Duration,
    hint: Hint,
    collation: Document,
    comment: Bson,
    read_concern: ReadConcern
});
setters!(AggregateOptions {
    allow_disk_use: bool,
    batch_size: u32,
    bypass_document_validation: bool,
    collation: Document,
    max_time: Duration,
    hint: Hint,
    comment: Bson,
    let_vars: Document,
    read_concern: ReadConcern,
    write_concern: WriteConcern
});
setters!(RunCursorCommandOptions {
    read_preference: ReadPreference,
    cursor_type: CursorType,
    batch_size: u32,
    max_time: Duration,
    comment: Bson
});
setters!(DistinctOptions {
    max_time: Duration,
    collation: Document,
    comment: Bson,
    read_concern: ReadConcern,
    hint: Hint
});
setters!(FindOneAndModifyOptions { sort: Document, projection: Document, return_document: ReturnDocument, upsert: bool, array_filters: Vec<Document>, bypass_document_validation: bool, max_time: Duration, collation: Document, hint: Hint, write_concern: WriteConcern, let_vars: Document, comment: Bson });
