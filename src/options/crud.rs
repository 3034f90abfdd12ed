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

use super::{Collation, ReadConcern, SelectionCriteria, WriteConcern};

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
/// // items.count_documents(doc! { "sku": "fig" }).with_options(by_name).run()?
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
/// // items.insert_one(doc).with_options(options).run()?
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
/// // items.insert_many(docs).with_options(keep_going).run()? inserts every document it can
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
/// // items.find(doc! {}).with_options(page).run()?
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
    pub collation: Option<Collation>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Variables for `$$name` in the filter.
    pub let_vars: Option<Document>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// Where the query runs (default: the collection's read preference).
    pub selection_criteria: Option<SelectionCriteria>,
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
/// for entry in log.find(doc! {}).with_options(tail).run()? {
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
/// // items.update_many(doc! {}, doc! { "$set": { "sizes.$[elem].soldOut": true } }).with_options(options).run()?
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
    pub collation: Option<Collation>,
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
/// items.replace_one(doc! { "sku": "fig" }, doc! { "sku": "fig", "qty": 7 }).with_options(upsert).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplaceOptions {
    /// Skip document validation on the server.
    pub bypass_document_validation: Option<bool>,
    /// Insert the replacement when no document matches.
    pub upsert: Option<bool>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Which document to replace when several match.
    pub sort: Option<Document>,
}

impl From<ReplaceOptions> for UpdateOptions {
    fn from(o: ReplaceOptions) -> Self {
        UpdateOptions {
            bypass_document_validation: o.bypass_document_validation,
            upsert: o.upsert,
            collation: o.collation,
            hint: o.hint,
            write_concern: o.write_concern,
            let_vars: o.let_vars,
            comment: o.comment,
            sort: o.sort,
            array_filters: None,
        }
    }
}

/// Options of `delete_one` and `delete_many`.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::{Collation, CollationStrength, DeleteOptions};
///
/// let french = Collation::builder().locale("fr").strength(CollationStrength::Primary).build();
/// let options = DeleteOptions::builder().collation(french).build();
/// assert!(options.collation.is_some());
/// // carts.delete_many(doc! { "owner": "élodie" }).with_options(options).run()? also deletes "Elodie"'s
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeleteOptions {
    /// String comparison rules.
    pub collation: Option<Collation>,
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
/// // items.count_documents(doc! { "qty": 0 }).with_options(options).run()? stops counting at 1000
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
    pub collation: Option<Collation>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// Where the count runs (default: the collection's read preference).
    pub selection_criteria: Option<SelectionCriteria>,
}

/// Options of `estimated_document_count`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::options::EstimatedDocumentCountOptions;
///
/// let options = EstimatedDocumentCountOptions::builder().max_time(Duration::from_millis(200)).build();
/// assert_eq!(options.max_time, Some(Duration::from_millis(200)));
/// // items.estimated_document_count().run().with_options(options).run()?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EstimatedDocumentCountOptions {
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Where the count runs (default: the collection's read preference).
    pub selection_criteria: Option<SelectionCriteria>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
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
/// // orders.aggregate([doc! { "$match": { "$expr": { "$gte": ["$qty", "$$min"] } } }]).with_options(options).run()?
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
    pub collation: Option<Collation>,
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
    /// Where the pipeline runs (default: the collection's read preference; a pipeline
    /// that writes with `$out` / `$merge` always runs on the primary).
    pub selection_criteria: Option<SelectionCriteria>,
    /// `maxTimeMS` of each `getMore` of a tailable await cursor (e.g. a `$changeStream`).
    pub max_await_time: Option<Duration>,
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
/// let colours = items.distinct("colour", doc! { "qty": { "$gt": 0 } }).with_options(majority).run()?;
/// println!("{colours:?}");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DistinctOptions {
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Where the command runs (default: the collection's read preference).
    pub selection_criteria: Option<SelectionCriteria>,
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
    pub selection_criteria: Option<SelectionCriteria>,
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
/// use greenmongo::options::{FindOneAndUpdateOptions, ReturnDocument};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let counters = client.database("app").collection::<Document>("counters");
/// let after = FindOneAndUpdateOptions::builder().return_document(ReturnDocument::After).upsert(true).build();
/// let next = counters.find_one_and_update(doc! { "_id": "orders" }, doc! { "$inc": { "seq": 1 } }).with_options(after).run()?;
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

/// Options of `find_one_and_delete`.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::FindOneAndDeleteOptions;
///
/// let oldest_first = FindOneAndDeleteOptions::builder()
///     .sort(doc! { "createdAt": 1 })
///     .projection(doc! { "payload": 1 })
///     .build();
/// assert!(oldest_first.sort.is_some());
/// // jobs.find_one_and_delete(doc! { "state": "queued" }).with_options(oldest_first).run()? pops a queue
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindOneAndDeleteOptions {
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Fields to return.
    pub projection: Option<Document>,
    /// Which document to delete when several match.
    pub sort: Option<Document>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `find_one_and_update`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{FindOneAndUpdateOptions, ReturnDocument};
///
/// let next_value = FindOneAndUpdateOptions::builder().return_document(ReturnDocument::After).upsert(true).build();
/// assert_eq!(next_value.return_document, Some(ReturnDocument::After));
/// // counters.find_one_and_update(doc! { "_id": "orders" }, doc! { "$inc": { "seq": 1 } }).with_options(next_value).run()?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindOneAndUpdateOptions {
    /// Filters for `$[<identifier>]`.
    pub array_filters: Option<Vec<Document>>,
    /// Skip document validation.
    pub bypass_document_validation: Option<bool>,
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Fields to return.
    pub projection: Option<Document>,
    /// The document before (the default) or after the change.
    pub return_document: Option<ReturnDocument>,
    /// Which document to update when several match.
    pub sort: Option<Document>,
    /// Insert when none matches.
    pub upsert: Option<bool>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// Options of `find_one_and_replace`.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{FindOneAndReplaceOptions, ReturnDocument};
///
/// let options = FindOneAndReplaceOptions::builder().return_document(ReturnDocument::After).build();
/// assert_eq!(options.upsert, None);
/// // items.find_one_and_replace(doc! { "sku": "fig" }, fig).with_options(options).run()?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindOneAndReplaceOptions {
    /// Skip document validation.
    pub bypass_document_validation: Option<bool>,
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Fields to return.
    pub projection: Option<Document>,
    /// The document before (the default) or after the change.
    pub return_document: Option<ReturnDocument>,
    /// Which document to replace when several match.
    pub sort: Option<Document>,
    /// Insert when none matches.
    pub upsert: Option<bool>,
    /// The write concern (default: the collection's).
    pub write_concern: Option<WriteConcern>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Variables for `$$name`.
    pub let_vars: Option<Document>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
}

/// What the three `findAndModify` shapes share, as the command takes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FindAndModifyOptions {
    pub(crate) sort: Option<Document>,
    pub(crate) projection: Option<Document>,
    pub(crate) return_document: Option<ReturnDocument>,
    pub(crate) upsert: Option<bool>,
    pub(crate) array_filters: Option<Vec<Document>>,
    pub(crate) bypass_document_validation: Option<bool>,
    pub(crate) max_time: Option<Duration>,
    pub(crate) collation: Option<Collation>,
    pub(crate) hint: Option<Hint>,
    pub(crate) write_concern: Option<WriteConcern>,
    pub(crate) let_vars: Option<Document>,
    pub(crate) comment: Option<Bson>,
}

impl From<FindOneAndDeleteOptions> for FindAndModifyOptions {
    fn from(o: FindOneAndDeleteOptions) -> Self {
        FindAndModifyOptions {
            sort: o.sort,
            projection: o.projection,
            max_time: o.max_time,
            collation: o.collation,
            hint: o.hint,
            write_concern: o.write_concern,
            let_vars: o.let_vars,
            comment: o.comment,
            ..Default::default()
        }
    }
}

impl From<FindOneAndUpdateOptions> for FindAndModifyOptions {
    fn from(o: FindOneAndUpdateOptions) -> Self {
        FindAndModifyOptions {
            sort: o.sort,
            projection: o.projection,
            return_document: o.return_document,
            upsert: o.upsert,
            array_filters: o.array_filters,
            bypass_document_validation: o.bypass_document_validation,
            max_time: o.max_time,
            collation: o.collation,
            hint: o.hint,
            write_concern: o.write_concern,
            let_vars: o.let_vars,
            comment: o.comment,
        }
    }
}

impl From<FindOneAndReplaceOptions> for FindAndModifyOptions {
    fn from(o: FindOneAndReplaceOptions) -> Self {
        FindAndModifyOptions {
            sort: o.sort,
            projection: o.projection,
            return_document: o.return_document,
            upsert: o.upsert,
            bypass_document_validation: o.bypass_document_validation,
            max_time: o.max_time,
            collation: o.collation,
            hint: o.hint,
            write_concern: o.write_concern,
            let_vars: o.let_vars,
            comment: o.comment,
            ..Default::default()
        }
    }
}

/// Options of `find_one`: those of `find` that make sense for one document.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::options::FindOneOptions;
///
/// let cheapest = FindOneOptions::builder().sort(doc! { "price": 1 }).projection(doc! { "sku": 1 }).build();
/// assert!(cheapest.sort.is_some());
/// // items.find_one(doc! {}).with_options(cheapest).run()?
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindOneOptions {
    /// Return partial results when some shards are down.
    pub allow_partial_results: Option<bool>,
    /// String comparison rules.
    pub collation: Option<Collation>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Which index to use.
    pub hint: Option<Hint>,
    /// Exclusive upper index bound.
    pub max: Option<Document>,
    /// Server-side time limit.
    pub max_time: Option<Duration>,
    /// Inclusive lower index bound.
    pub min: Option<Document>,
    /// Fields to return.
    pub projection: Option<Document>,
    /// Read concern (default: the collection's).
    pub read_concern: Option<ReadConcern>,
    /// Only the index keys: `returnKey`.
    pub return_key: Option<bool>,
    /// Where the query runs (default: the collection's read preference).
    pub selection_criteria: Option<SelectionCriteria>,
    /// Add `$recordId` to the document.
    pub show_record_id: Option<bool>,
    /// Documents to skip.
    pub skip: Option<u64>,
    /// Which document comes first when several match.
    pub sort: Option<Document>,
    /// Variables for `$$name` in the filter.
    pub let_vars: Option<Document>,
}

impl From<FindOneOptions> for FindOptions {
    fn from(o: FindOneOptions) -> Self {
        FindOptions {
            allow_partial_results: o.allow_partial_results,
            collation: o.collation,
            comment: o.comment,
            hint: o.hint,
            max: o.max,
            max_time: o.max_time,
            min: o.min,
            projection: o.projection,
            read_concern: o.read_concern,
            return_key: o.return_key,
            selection_criteria: o.selection_criteria,
            show_record_id: o.show_record_id,
            skip: o.skip,
            sort: o.sort,
            let_vars: o.let_vars,
            // One batch of one; no cursor left on the server.
            limit: Some(-1),
            ..Default::default()
        }
    }
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
    collation: Collation,
    comment: Bson,
    let_vars: Document,
    read_concern: ReadConcern,
    selection_criteria: SelectionCriteria,
    no_cursor_timeout: bool,
    allow_partial_results: bool,
    return_key: bool,
    show_record_id: bool,
    min: Document,
    max: Document
});
setters!(UpdateOptions { upsert: bool, array_filters: Vec<Document>, bypass_document_validation: bool, collation: Collation, hint: Hint, write_concern: WriteConcern, let_vars: Document, comment: Bson, sort: Document });
setters!(ReplaceOptions {
    bypass_document_validation: bool,
    upsert: bool,
    collation: Collation,
    hint: Hint,
    write_concern: WriteConcern,
    let_vars: Document,
    comment: Bson,
    sort: Document
});
setters!(DeleteOptions {
    collation: Collation,
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
    collation: Collation,
    comment: Bson,
    read_concern: ReadConcern,
    selection_criteria: SelectionCriteria
});
setters!(AggregateOptions {
    allow_disk_use: bool,
    batch_size: u32,
    bypass_document_validation: bool,
    collation: Collation,
    max_time: Duration,
    hint: Hint,
    comment: Bson,
    let_vars: Document,
    read_concern: ReadConcern,
    write_concern: WriteConcern,
    selection_criteria: SelectionCriteria,
    max_await_time: Duration
});
setters!(RunCursorCommandOptions {
    selection_criteria: SelectionCriteria,
    cursor_type: CursorType,
    batch_size: u32,
    max_time: Duration,
    comment: Bson
});
setters!(DistinctOptions {
    max_time: Duration,
    collation: Collation,
    comment: Bson,
    read_concern: ReadConcern,
    hint: Hint,
    selection_criteria: SelectionCriteria
});
setters!(FindOneAndDeleteOptions {
    max_time: Duration,
    projection: Document,
    sort: Document,
    write_concern: WriteConcern,
    collation: Collation,
    hint: Hint,
    let_vars: Document,
    comment: Bson
});
setters!(FindOneAndUpdateOptions {
    array_filters: Vec<Document>,
    bypass_document_validation: bool,
    max_time: Duration,
    projection: Document,
    return_document: ReturnDocument,
    sort: Document,
    upsert: bool,
    write_concern: WriteConcern,
    collation: Collation,
    hint: Hint,
    let_vars: Document,
    comment: Bson
});
setters!(FindOneAndReplaceOptions {
    bypass_document_validation: bool,
    max_time: Duration,
    projection: Document,
    return_document: ReturnDocument,
    sort: Document,
    upsert: bool,
    write_concern: WriteConcern,
    collation: Collation,
    hint: Hint,
    let_vars: Document,
    comment: Bson
});
setters!(FindOneOptions {
    allow_partial_results: bool,
    collation: Collation,
    comment: Bson,
    hint: Hint,
    max: Document,
    max_time: Duration,
    min: Document,
    projection: Document,
    read_concern: ReadConcern,
    return_key: bool,
    selection_criteria: SelectionCriteria,
    show_record_id: bool,
    skip: u64,
    sort: Document,
    let_vars: Document
});
setters!(EstimatedDocumentCountOptions {
    max_time: Duration,
    selection_criteria: SelectionCriteria,
    read_concern: ReadConcern,
    comment: Bson
});
