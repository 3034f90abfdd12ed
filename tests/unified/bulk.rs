//! `bulkWrite` on a collection and `clientBulkWrite` on a client (CRUD spec, "Bulk Write"
//! and "Client Bulk Write"): write models from the test's arguments, and the results (or
//! the partial results of an error) as the spec's `BulkWriteResult` and
//! `ClientBulkWriteResult` documents, maps keyed by the index of the write.

use std::collections::HashMap;

use bson::{Bson, Document, doc};
use greenmongo::{
    Client, ClientSession, Collection, Namespace,
    error::{PartialBulkWriteResult, WriteConcernError, WriteError},
    options::{
        BulkWriteOptions, CollectionWriteModel, DeleteManyModel, DeleteOneModel, Hint,
        InsertOneModel, ReplaceOneModel, UpdateManyModel, UpdateOneModel, WriteModel,
        WriteModelOptions,
    },
    results::{BulkWriteResult, SummaryBulkWriteResult, VerboseBulkWriteResult},
};

use super::{
    entities::write_concern,
    format::WriteConcernSpec,
    operations::{Args, OpResult, Value, modifications},
    outcome::{Step, fail, failed},
};

/// `bulkWrite`: `requests`, `ordered`, `bypassDocumentValidation`, `comment`, `let`.
pub fn collection_bulk_write(
    coll: &Collection<Document>,
    mut a: Args,
    session: Option<&mut ClientSession>,
) -> OpResult {
    let requests = a.docs("requests")?.unwrap_or_default();
    let options = BulkWriteOptions {
        ordered: a.boolean("ordered")?,
        bypass_document_validation: a.boolean("bypassDocumentValidation")?,
        comment: a.take("comment"),
        let_vars: a.doc("let")?,
        ..Default::default()
    };
    a.done()?;
    let models = requests
        .into_iter()
        .map(write_model)
        .collect::<Step<Vec<_>>>()?;
    let mut write = coll.bulk_write(models).with_options(options);
    if let Some(session) = session {
        write = write.session(session);
    }
    Ok(write
        .run()
        .map(|r| Value::Bson(Bson::Document(bulk_write_result(&r)))))
}

/// `clientBulkWrite`: `models`, `ordered`, `bypassDocumentValidation`, `comment`, `let`,
/// `writeConcern`, `verboseResults`.
pub fn client_bulk_write(
    client: &Client,
    mut a: Args,
    session: Option<&mut ClientSession>,
) -> OpResult {
    let models = a.docs("models")?.unwrap_or_default();
    let write_concern = match a.doc("writeConcern")? {
        None => None,
        Some(spec) => {
            let spec: WriteConcernSpec = bson::deserialize_from_document(spec)
                .map_err(failed("clientBulkWrite.writeConcern"))?;
            Some(write_concern(&spec)?)
        }
    };
    let options = BulkWriteOptions {
        ordered: a.boolean("ordered")?,
        bypass_document_validation: a.boolean("bypassDocumentValidation")?,
        comment: a.take("comment"),
        let_vars: a.doc("let")?,
        write_concern,
    };
    let verbose = a.boolean("verboseResults")?.unwrap_or(false);
    a.done()?;
    let models = models
        .into_iter()
        .map(client_write_model)
        .collect::<Step<Vec<_>>>()?;
    let mut write = client.bulk_write(models).with_options(options);
    if let Some(session) = session {
        write = write.session(session);
    }
    let result = if verbose {
        write
            .verbose_results()
            .run()
            .map(PartialBulkWriteResult::Verbose)
    } else {
        write.run().map(PartialBulkWriteResult::Summary)
    };
    Ok(result.map(|r| Value::Bson(Bson::Document(client_bulk_write_result(&r)))))
}

/// The one key of a request document (`{ "updateOne": { ... } }`) and its arguments.
fn model_args(op: &str, request: Document) -> Step<(String, Args)> {
    let mut entries = request.into_iter();
    match (entries.next(), entries.next()) {
        (Some((name, Bson::Document(d))), None) => {
            let args = Args::new(format!("{op}.{name}"), d);
            Ok((name, args))
        }
        _ => fail!("a {op} model must be one {{ name: {{ arguments }} }} document"),
    }
}

/// The per-write options; `sort` only where it applies (`updateOne`, `replaceOne`).
fn model_options(a: &mut Args, name: &str) -> Step<WriteModelOptions> {
    let updates = name.starts_with("update") || name == "replaceOne";
    Ok(WriteModelOptions {
        upsert: if updates { a.boolean("upsert")? } else { None },
        array_filters: if name.starts_with("update") {
            a.docs("arrayFilters")?
        } else {
            None
        },
        collation: a.collation()?,
        hint: a.hint()?,
        sort: if name == "updateOne" || name == "replaceOne" {
            a.doc("sort")?
        } else {
            None
        },
    })
}

fn write_model(request: Document) -> Step<CollectionWriteModel> {
    let (name, mut a) = model_args("bulkWrite", request)?;
    let model = match name.as_str() {
        "insertOne" => CollectionWriteModel::InsertOne {
            document: a.req_doc("document")?,
        },
        "updateOne" | "updateMany" => {
            let filter = a.req_doc("filter")?;
            let update = modifications(a.take("update").unwrap_or(Bson::Null))?;
            let options = model_options(&mut a, &name)?;
            if name == "updateOne" {
                CollectionWriteModel::UpdateOne {
                    filter,
                    update,
                    options,
                }
            } else {
                CollectionWriteModel::UpdateMany {
                    filter,
                    update,
                    options,
                }
            }
        }
        "replaceOne" => CollectionWriteModel::ReplaceOne {
            filter: a.req_doc("filter")?,
            replacement: a.req_doc("replacement")?,
            options: model_options(&mut a, &name)?,
        },
        "deleteOne" | "deleteMany" => {
            let filter = a.req_doc("filter")?;
            let options = model_options(&mut a, &name)?;
            if name == "deleteOne" {
                CollectionWriteModel::DeleteOne { filter, options }
            } else {
                CollectionWriteModel::DeleteMany { filter, options }
            }
        }
        other => return fail!("unknown bulkWrite model {other}"),
    };
    a.done()?;
    Ok(model)
}

fn client_write_model(request: Document) -> Step<WriteModel> {
    let (name, mut a) = model_args("clientBulkWrite", request)?;
    let Some(namespace) = a.string("namespace")? else {
        return fail!("clientBulkWrite.{name} needs a namespace");
    };
    let namespace: Namespace = namespace
        .parse()
        .map_err(failed("clientBulkWrite namespace"))?;
    let o = model_options(&mut a, &name)?;
    let array_filters = o
        .array_filters
        .map(|filters| filters.into_iter().map(Bson::Document).collect());
    let collation = o.collation.map(bson::Document::from);
    let hint = o.hint.map(|h| match h {
        Hint::Name(name) => Bson::String(name),
        Hint::Keys(keys) => Bson::Document(keys),
    });
    let model: WriteModel = match name.as_str() {
        "insertOne" => InsertOneModel::builder()
            .namespace(namespace)
            .document(a.req_doc("document")?)
            .build()
            .into(),
        "updateOne" => UpdateOneModel::builder()
            .namespace(namespace)
            .filter(a.req_doc("filter")?)
            .update(modifications(a.take("update").unwrap_or(Bson::Null))?)
            .array_filters(array_filters)
            .collation(collation)
            .hint(hint)
            .upsert(o.upsert)
            .sort(o.sort)
            .build()
            .into(),
        "updateMany" => UpdateManyModel::builder()
            .namespace(namespace)
            .filter(a.req_doc("filter")?)
            .update(modifications(a.take("update").unwrap_or(Bson::Null))?)
            .array_filters(array_filters)
            .collation(collation)
            .hint(hint)
            .upsert(o.upsert)
            .build()
            .into(),
        "replaceOne" => ReplaceOneModel::builder()
            .namespace(namespace)
            .filter(a.req_doc("filter")?)
            .replacement(a.req_doc("replacement")?)
            .collation(collation)
            .hint(hint)
            .upsert(o.upsert)
            .sort(o.sort)
            .build()
            .into(),
        "deleteOne" => DeleteOneModel::builder()
            .namespace(namespace)
            .filter(a.req_doc("filter")?)
            .collation(collation)
            .hint(hint)
            .build()
            .into(),
        "deleteMany" => DeleteManyModel::builder()
            .namespace(namespace)
            .filter(a.req_doc("filter")?)
            .collation(collation)
            .hint(hint)
            .build()
            .into(),
        other => return fail!("unknown clientBulkWrite model {other}"),
    };
    a.done()?;
    Ok(model)
}

/// A map keyed by write index as a document with the indexes in order.
pub fn by_index<T>(map: &HashMap<usize, T>, f: impl Fn(&T) -> Bson) -> Document {
    let mut sorted: Vec<_> = map.iter().collect();
    sorted.sort_by_key(|(i, _)| **i);
    sorted
        .into_iter()
        .map(|(i, v)| (i.to_string(), f(v)))
        .collect()
}

/// The CRUD spec's BulkWriteResult.
pub fn bulk_write_result(r: &BulkWriteResult) -> Document {
    doc! {
        "insertedCount": r.inserted_count as i64,
        "matchedCount": r.matched_count as i64,
        "modifiedCount": r.modified_count as i64,
        "deletedCount": r.deleted_count as i64,
        "upsertedCount": r.upserted_count as i64,
        "upsertedIds": by_index(&r.upserted_ids, Bson::clone),
        "insertedIds": by_index(&r.inserted_ids, Bson::clone),
    }
}

/// The CRUD spec's ClientBulkWriteResult; the per-write maps are empty unless the write
/// asked for verbose results.
pub fn client_bulk_write_result(r: &PartialBulkWriteResult) -> Document {
    let empty = VerboseBulkWriteResult::default();
    let (summary, verbose): (&SummaryBulkWriteResult, &VerboseBulkWriteResult) = match r {
        PartialBulkWriteResult::Summary(s) => (s, &empty),
        PartialBulkWriteResult::Verbose(v) => (&v.summary, v),
        _ => (&empty.summary, &empty),
    };
    doc! {
        "insertedCount": summary.inserted_count,
        "upsertedCount": summary.upserted_count,
        "matchedCount": summary.matched_count,
        "modifiedCount": summary.modified_count,
        "deletedCount": summary.deleted_count,
        "insertResults": by_index(&verbose.insert_results, |i| doc! { "insertedId": i.inserted_id.clone() }.into()),
        "updateResults": by_index(&verbose.update_results, |u| {
            let mut d = doc! {
                "matchedCount": u.matched_count as i64,
                "modifiedCount": u.modified_count as i64,
            };
            if let Some(id) = &u.upserted_id {
                d.insert("upsertedId", id.clone());
            }
            d.into()
        }),
        "deleteResults": by_index(&verbose.delete_results, |d| doc! { "deletedCount": d.deleted_count as i64 }.into()),
    }
}

/// A write error as the unified format matches it (`code`, `codeName`, `message`,
/// `details`).
pub fn write_error(e: &WriteError) -> Document {
    let mut d =
        doc! { "code": e.code, "codeName": e.code_name.as_str(), "message": e.message.as_str() };
    if let Some(details) = &e.details {
        d.insert("details", details.clone());
    }
    d
}

/// A write concern error as the unified format matches it.
pub fn write_concern_error(e: &WriteConcernError) -> Document {
    let mut d =
        doc! { "code": e.code, "codeName": e.code_name.as_str(), "message": e.message.as_str() };
    if let Some(details) = &e.details {
        d.insert("details", details.clone());
    }
    d
}
