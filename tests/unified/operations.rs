//! Entity operations (unified-test-format spec, "Entity Test Operations"): each test
//! operation on a client, database, collection or cursor, its arguments mapped onto the
//! driver's methods and options structs, and its result turned into BSON.
//!
//! Every argument must be consumed: one left over is an option the driver does not take,
//! and the test is skipped naming it (`missing option: find.rawData`) before anything is
//! sent. An operation the driver lacks skips the test the same way
//! (`missing operation: bulkWrite`).

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use greenmongo::{
    ClientSession, Collection, Cursor, Database, Error, UpdateModifications,
    options::{
        AggregateOptions, Collation, CountOptions, CreateCollectionOptions, CursorType,
        DeleteOptions, DistinctOptions, FindOneAndDeleteOptions, FindOneAndReplaceOptions,
        FindOneAndUpdateOptions, FindOneOptions, FindOptions, Hint, IndexModel, IndexOptions,
        InsertManyOptions, InsertOneOptions, ReplaceOptions, ReturnDocument,
        RunCursorCommandOptions, UpdateOptions,
    },
    results::UpdateResult,
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    bulk,
    entities::{EntityMap, read_preference},
    format::{Operation, ReadPreferenceSpec},
    outcome::{Step, Stop, fail, skip},
};

/// What an operation returned.
pub enum Value {
    Nothing,
    Bson(Bson),
    /// Documents of an iterated cursor: each is matched as a root-level document.
    Documents(Vec<Document>),
    /// An open cursor (`createFindCursor`, `createCommandCursor`), to save as an entity.
    Cursor(Box<Cursor<Document>>),
    /// The collection `createCollection` made.
    Collection(Collection<Document>),
    /// A change stream (`createChangeStream`), to save as an entity.
    ChangeStream(Box<greenmongo::change_stream::ChangeStream<Document>>), // change streams
}

/// The operation's result or the driver's error; `Err(Stop)` when the test cannot go on.
pub type OpResult = Step<Result<Value, Error>>;

/// Runs `action` in `session` (an `Option<&mut ClientSession>` binding) when the test
/// gives one.
macro_rules! in_session {
    ($session:ident, $action:expr) => {
        match ($session.as_deref_mut(), OWN_TIMEOUT.take()) {
            (Some(s), Some(t)) => $action.timeout(t).session(s).run(),
            (Some(s), None) => $action.session(s).run(),
            (None, _) => $action.run(),
        }
    };
}

thread_local! {
    /// The `timeoutMS` of an operation run in a session, set as the action's own
    /// (`.timeout(d)`) by [`in_session!`]: the driver refuses one inside a timed
    /// `withTransaction` callback. Without a session it is the handle's instead.
    static OWN_TIMEOUT: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
}

/// Like [`in_session!`] for an action that returns a cursor: every document, read in
/// the session when there is one.
macro_rules! all_in_session {
    ($session:ident, $action:expr) => {
        match $session.as_deref_mut() {
            Some(s) => match OWN_TIMEOUT.take() {
                Some(t) => $action.timeout(t),
                None => $action,
            }
            .session(&mut *s)
            .run()
            .and_then(|mut cursor| collect_iter(cursor.iter(s))),
            None => $action.run().and_then(collect),
        }
    };
}

/// How long `iterateUntilDocumentOrError` waits on a live cursor that returns nothing.
const ITERATE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs an operation on an entity.
pub fn run(op: &Operation, entities: &mut EntityMap) -> OpResult {
    run_in(op, entities, None)
}

/// Runs an operation on an entity; `lent` is a session taken out of the entity map
/// (the one `withTransaction` runs its callback in), with its id.
pub fn run_in(
    op: &Operation,
    entities: &mut EntityMap,
    lent: Option<(&str, &mut ClientSession)>,
) -> OpResult {
    let mut args = Args::new(op.name.clone(), op.arguments.clone().unwrap_or_default());
    let name = op.name.as_str();
    let kind = entities.kind(&op.object)?;
    if kind == "session" {
        return super::sessions::session_op(name, &op.object, entities, lent, args);
    }
    let session_id = args.string("session")?;
    // Entities the operation uses are cloned before the session is borrowed.
    let (coll, db, client) = match kind {
        "collection" => (Some(entities.collection(&op.object)?.clone()), None, None),
        "database" => (None, Some(entities.database(&op.object)?.clone()), None),
        "client" => (
            None,
            None,
            Some(entities.client(&op.object)?.client.clone()),
        ),
        _ => (None, None, None),
    };
    let session: Option<&mut ClientSession> = match (session_id, lent) {
        (None, _) => None,
        (Some(id), Some((lent_id, session))) if id == lent_id => Some(session),
        (Some(id), _) => Some(entities.session(&id)?),
    };
    // An operation's own timeoutMS overrides its collection's or database's, as a
    // handle with that timeout does; in a session it is the action's own.
    let mut timeout = args.millis("timeoutMS")?;
    OWN_TIMEOUT.set(None);
    if session.is_some() && (coll.is_some() || db.is_some()) {
        OWN_TIMEOUT.set(timeout.take());
    }
    if let Some(coll) = coll {
        let coll = match timeout {
            Some(t) => coll.with_timeout(t),
            None => coll,
        };
        return collection_op(name, coll, args, session);
    }
    if let Some(db) = db {
        let db = match timeout {
            Some(t) => db.with_timeout(t),
            None => db,
        };
        return database_op(name, db, args, session);
    }
    if let Some(t) = timeout.filter(|_| kind != "client") {
        args.put("timeoutMS", t.as_millis() as i64);
    }
    match kind {
        "client" => {
            let client = client.expect("a client entity");
            let mut session = session;
            match name {
                "listDatabaseNames" => {
                    args.done()?;
                    let mut list = client.list_database_names();
                    if let Some(t) = timeout {
                        list = list.timeout(t);
                    }
                    Ok(in_session!(session, list).map(strings))
                }
                "listDatabases" | "listDatabaseObjects" => {
                    let filter = args.doc("filter")?;
                    args.done()?;
                    let mut list = client.list_databases();
                    if let Some(filter) = filter {
                        list = list.filter(filter);
                    }
                    if let Some(t) = timeout {
                        list = list.timeout(t);
                    }
                    Ok(in_session!(session, list).and_then(documents))
                }
                "createChangeStream" => {
                    if let Some(t) = timeout {
                        args.put("timeoutMS", t.as_millis() as i64);
                    }
                    super::change_streams::create(
                        super::change_streams::Target::Client(&client),
                        args,
                        session,
                    )
                } // change streams
                _ if timeout.is_some() => skip!("missing option: {name}.timeoutMS"),
                "clientBulkWrite" => bulk::client_bulk_write(&client, args, session),
                _ => skip!("missing operation: {name}"),
            }
        }
        "cursor" if session.is_none() => cursor_op(name, &op.object, entities, args),
        "cursor" => skip!("missing: cursor operations with a session argument"),
        "bucket" if session.is_none() => super::gridfs::run(name, &op.object, entities, args), // gridfs
        "bucket" => skip!("missing: GridFS operations in a session"),
        "changeStream" if session.is_none() => {
            super::change_streams::run(name, entities.change_stream(&op.object)?, args)
        } // change streams
        "changeStream" => skip!("missing: change stream operations with a session argument"),
        other => fail!("operation {name} on a {other} entity"),
    }
}

fn collection_op(
    name: &str,
    coll: Collection<Document>,
    mut a: Args,
    mut session: Option<&mut ClientSession>,
) -> OpResult {
    let result = match name {
        "createChangeStream" => {
            return super::change_streams::create(
                super::change_streams::Target::Collection(&coll),
                a,
                session,
            );
        } // change streams
        "count" => {
            return skip!(
                "count is deprecated: greenmongo, like the official crate 3.x, has \
             count_documents and estimated_document_count instead"
            );
        }
        "insertOne" => {
            let document = a.req_doc("document")?;
            let options = InsertOneOptions {
                bypass_document_validation: a.boolean("bypassDocumentValidation")?,
                comment: a.take("comment"),
                ..Default::default()
            };
            a.done()?;
            in_session!(session, coll.insert_one(document).with_options(options))
                .map(|r| bson_value(doc! { "insertedId": r.inserted_id }))
        }
        "insertMany" => {
            let documents = a.docs("documents")?.unwrap_or_default();
            let options = InsertManyOptions {
                bypass_document_validation: a.boolean("bypassDocumentValidation")?,
                ordered: a.boolean("ordered")?,
                comment: a.take("comment"),
                ..Default::default()
            };
            a.done()?;
            in_session!(session, coll.insert_many(documents).with_options(options))
                .map(|r| bson_value(insert_many_result(&r.inserted_ids)))
        }
        "find" | "createFindCursor" | "findOne" => {
            let filter = a.doc("filter")?.unwrap_or_default();
            let options = find_options(&mut a)?;
            let mode = a.timeout_mode()?;
            a.done()?;
            let find = coll.find(filter.clone()).with_options(options.clone());
            let find = match mode {
                Some(mode) => find.timeout_mode(mode),
                None => find,
            };
            match name {
                "findOne" => in_session!(
                    session,
                    coll.find_one(filter)
                        .with_options(find_one_options(options)?)
                )
                .map(|d| Value::Bson(d.map_or(Bson::Null, Bson::Document))),
                "find" => all_in_session!(session, find),
                _ if session.is_some() => {
                    return skip!("missing: cursor entities in a session (createFindCursor)");
                }
                _ => find.run().map(|c| Value::Cursor(Box::new(c))),
            }
        }
        "aggregate" => {
            let pipeline = a.docs("pipeline")?.unwrap_or_default();
            let options = aggregate_options(&mut a)?;
            let mode = a.timeout_mode()?;
            a.done()?;
            let aggregate = coll.aggregate(pipeline).with_options(options);
            let aggregate = match mode {
                Some(mode) => aggregate.timeout_mode(mode),
                None => aggregate,
            };
            all_in_session!(session, aggregate)
        }
        "bulkWrite" => return bulk::collection_bulk_write(&coll, a, session),
        "rename" => {
            let to = a.string("to")?.unwrap_or_default();
            let drop_target = a.boolean("dropTarget")?.unwrap_or(false);
            a.done()?;
            in_session!(session, coll.rename(&to).drop_target(drop_target)).map(|()| Value::Nothing)
        }
        "countDocuments" => {
            let filter = a.doc("filter")?.unwrap_or_default();
            let options = CountOptions {
                skip: a.int("skip")?.map(|n| n as u64),
                limit: a.int("limit")?.map(|n| n as u64),
                max_time: a.millis("maxTimeMS")?,
                hint: a.hint()?,
                collation: a.collation()?,
                comment: a.take("comment"),
                ..Default::default()
            };
            a.done()?;
            in_session!(session, coll.count_documents(filter).with_options(options))
                .map(|n| Value::Bson(Bson::Int64(n as i64)))
        }
        "estimatedDocumentCount" => {
            let max_time = a.millis("maxTimeMS")?;
            a.done()?;
            let mut count = coll.estimated_document_count();
            if let Some(max_time) = max_time {
                count = count.max_time(max_time);
            }
            in_session!(session, count).map(|n| Value::Bson(Bson::Int64(n as i64)))
        }
        "distinct" => {
            let field = a.string("fieldName")?.unwrap_or_default();
            let filter = a.doc("filter")?.unwrap_or_default();
            let options = DistinctOptions {
                max_time: a.millis("maxTimeMS")?,
                collation: a.collation()?,
                comment: a.take("comment"),
                hint: a.hint()?,
                ..Default::default()
            };
            a.done()?;
            in_session!(session, coll.distinct(&field, filter).with_options(options))
                .map(|v| Value::Bson(Bson::Array(v)))
        }
        "updateOne" | "updateMany" | "replaceOne" => {
            let filter = a.doc("filter")?.unwrap_or_default();
            let change = match name {
                "replaceOne" => Bson::Document(a.req_doc("replacement")?),
                _ => a.take("update").unwrap_or(Bson::Null),
            };
            let options = update_options(&mut a, name != "updateMany")?;
            a.done()?;
            let result = match (name, change) {
                ("replaceOne", Bson::Document(r)) => in_session!(
                    session,
                    coll.replace_one(filter, r)
                        .with_options(replace_options(options)?)
                ),
                ("updateOne", change) => in_session!(
                    session,
                    coll.update_one(filter, modifications(change)?)
                        .with_options(options)
                ),
                (_, change) => in_session!(
                    session,
                    coll.update_many(filter, modifications(change)?)
                        .with_options(options)
                ),
            };
            result.map(|r| bson_value(update_result(&r)))
        }
        "deleteOne" | "deleteMany" => {
            let filter = a.doc("filter")?.unwrap_or_default();
            let options = DeleteOptions {
                collation: a.collation()?,
                hint: a.hint()?,
                let_vars: a.doc("let")?,
                comment: a.take("comment"),
                ..Default::default()
            };
            a.done()?;
            let result = if name == "deleteOne" {
                in_session!(session, coll.delete_one(filter).with_options(options))
            } else {
                in_session!(session, coll.delete_many(filter).with_options(options))
            };
            result.map(|r| bson_value(doc! { "deletedCount": r.deleted_count as i64 }))
        }
        "findOneAndDelete" | "findOneAndUpdate" | "findOneAndReplace" => {
            let filter = a.doc("filter")?.unwrap_or_default();
            let change = match name {
                "findOneAndUpdate" => Some(a.take("update").unwrap_or(Bson::Null)),
                "findOneAndReplace" => Some(Bson::Document(a.req_doc("replacement")?)),
                _ => None,
            };
            let options = find_and_modify_options(&mut a, name)?;
            a.done()?;
            let result = match (name, change) {
                ("findOneAndUpdate", Some(u)) => in_session!(
                    session,
                    coll.find_one_and_update(filter, modifications(u)?)
                        .with_options(options)
                ),
                ("findOneAndReplace", Some(Bson::Document(r))) => {
                    let o = options;
                    let options = FindOneAndReplaceOptions {
                        bypass_document_validation: o.bypass_document_validation,
                        max_time: o.max_time,
                        projection: o.projection,
                        return_document: o.return_document,
                        sort: o.sort,
                        upsert: o.upsert,
                        write_concern: o.write_concern,
                        collation: o.collation,
                        hint: o.hint,
                        let_vars: o.let_vars,
                        comment: o.comment,
                    };
                    in_session!(
                        session,
                        coll.find_one_and_replace(filter, r).with_options(options)
                    )
                }
                _ => {
                    let o = options;
                    let options = FindOneAndDeleteOptions {
                        max_time: o.max_time,
                        projection: o.projection,
                        sort: o.sort,
                        write_concern: o.write_concern,
                        collation: o.collation,
                        hint: o.hint,
                        let_vars: o.let_vars,
                        comment: o.comment,
                    };
                    in_session!(
                        session,
                        coll.find_one_and_delete(filter).with_options(options)
                    )
                }
            };
            result.map(|d| Value::Bson(d.map_or(Bson::Null, Bson::Document)))
        }
        "createIndex" => {
            let keys = a.req_doc("keys")?;
            let max_time = a.millis("maxTimeMS")?;
            a.reject(&["commitQuorum", "comment", "rawData"])?;
            let fields = std::mem::take(&mut a.doc);
            if let Some(unknown) = IndexOptions::unknown_fields(&fields).first() {
                return skip!("missing option: createIndex.{unknown}");
            }
            let options = bson::deserialize_from_document::<IndexOptions>(fields.clone())
                .map_err(|e| Stop::Fail(format!("createIndex options {fields}: {e}")))?;
            let model = IndexModel::builder()
                .keys(keys)
                .options((!fields.is_empty()).then_some(options))
                .build();
            let mut create = coll.create_index(model);
            if let Some(max_time) = max_time {
                create = create.max_time(max_time);
            }
            in_session!(session, create).map(|r| Value::Bson(Bson::String(r.index_name)))
        }
        "dropIndex" => {
            let index = a.string("name")?.unwrap_or_default();
            let max_time = a.millis("maxTimeMS")?;
            a.done()?;
            let mut drop = coll.drop_index(&index);
            if let Some(max_time) = max_time {
                drop = drop.max_time(max_time);
            }
            in_session!(session, drop).map(|()| Value::Nothing)
        }
        "dropIndexes" => {
            let max_time = a.millis("maxTimeMS")?;
            a.done()?;
            let mut drop = coll.drop_indexes();
            if let Some(max_time) = max_time {
                drop = drop.max_time(max_time);
            }
            in_session!(session, drop).map(|()| Value::Nothing)
        }
        "listIndexes" => {
            a.done()?;
            all_in_session!(session, coll.list_indexes())
        }
        "listIndexNames" => {
            a.done()?;
            in_session!(session, coll.list_index_names()).map(strings)
        }
        "drop" => {
            a.done()?;
            in_session!(session, coll.drop()).map(|()| Value::Nothing)
        }
        _ => return skip!("missing operation: {name}"),
    };
    Ok(result)
}

fn database_op(
    name: &str,
    db: Database,
    mut a: Args,
    mut session: Option<&mut ClientSession>,
) -> OpResult {
    let result = match name {
        "createChangeStream" => {
            return super::change_streams::create(
                super::change_streams::Target::Database(&db),
                a,
                session,
            );
        } // change streams
        "runCommand" => {
            let command = a.req_doc("command")?;
            a.take("commandName"); // a Document keeps its key order
            let read_preference = match a.doc("readPreference")? {
                None => None,
                Some(spec) => {
                    let spec: ReadPreferenceSpec = match bson::deserialize_from_document(spec) {
                        Ok(spec) => spec,
                        Err(e) => return fail!("runCommand.readPreference: {e}"),
                    };
                    match read_preference(&spec) {
                        Ok(pref) => Some(pref),
                        Err(why) => return skip!("{why}"),
                    }
                }
            };
            a.done()?;
            let mut action = db.run_command(command);
            if let Some(pref) = read_preference {
                action = action.selection_criteria(pref.into());
            }
            in_session!(session, action).map(|d| Value::Bson(Bson::Document(d)))
        }
        "runCursorCommand" | "createCommandCursor" => {
            let command = a.req_doc("command")?;
            a.take("commandName");
            let cursor_type = match a.string("cursorType")?.as_deref() {
                None | Some("nonTailable") => None,
                Some("tailable") => Some(CursorType::Tailable),
                Some("tailableAwait") => Some(CursorType::TailableAwait),
                Some(other) => return fail!("runCursorCommand.cursorType {other:?} is unknown"),
            };
            let options = RunCursorCommandOptions {
                cursor_type,
                batch_size: a.int("batchSize")?.map(|n| n as u32),
                max_time: a.millis("maxTimeMS")?,
                comment: a.take("comment"),
                ..Default::default()
            };
            let mode = a.timeout_mode()?;
            a.done()?;
            let action = db.run_cursor_command(command).with_options(options);
            let action = match mode {
                Some(mode) => action.timeout_mode(mode),
                None => action,
            };
            match name {
                "runCursorCommand" => all_in_session!(session, action),
                _ if session.is_some() => {
                    return skip!("missing: cursor entities in a session (createCommandCursor)");
                }
                _ => action.run().map(|c| Value::Cursor(Box::new(c))),
            }
        }
        "createCollection" => {
            let collection = a.string("collection")?.unwrap_or_default();
            a.reject(&["rawData", "encryptedFields"])?;
            let options = std::mem::take(&mut a.doc);
            bson::deserialize_from_document::<CreateCollectionOptions>(options)
                .map_err(greenmongo::Error::from)
                .and_then(|options| {
                    in_session!(
                        session,
                        db.create_collection(&collection).with_options(options)
                    )
                })
                .map(|()| Value::Collection(db.collection(&collection)))
        }
        "dropCollection" => {
            let collection = a.string("collection")?.unwrap_or_default();
            a.done()?;
            let coll = db.collection::<Document>(&collection);
            in_session!(session, coll.drop()).map(|()| Value::Nothing)
        }
        "listCollectionNames" => {
            let filter = a.doc("filter")?;
            a.done()?;
            let mut list = db.list_collection_names();
            if let Some(filter) = filter {
                list = list.filter(filter);
            }
            in_session!(session, list).map(strings)
        }
        "listCollections" | "listCollectionObjects" => {
            let filter = a.doc("filter")?;
            a.done()?;
            let mut list = db.list_collections();
            if let Some(filter) = filter {
                list = list.filter(filter);
            }
            all_in_session!(session, list)
        }
        "aggregate" => {
            let pipeline = a.docs("pipeline")?.unwrap_or_default();
            let options = aggregate_options(&mut a)?;
            a.done()?;
            all_in_session!(session, db.aggregate(pipeline).with_options(options))
        }
        _ => return skip!("missing operation: {name}"),
    };
    Ok(result)
}

fn cursor_op(name: &str, id: &str, entities: &mut EntityMap, mut a: Args) -> OpResult {
    // close's own timeoutMS (the CSOT spec lets it override the cursor's).
    let timeout = if name == "close" {
        a.millis("timeoutMS")?
    } else {
        None
    };
    a.done()?;
    match name {
        "iterateUntilDocumentOrError" => {
            let cursor = entities.cursor(id)?;
            let deadline = Instant::now() + ITERATE_TIMEOUT;
            loop {
                match cursor.next() {
                    Some(Ok(d)) => return Ok(Ok(Value::Bson(Bson::Document(d)))),
                    Some(Err(e)) => return Ok(Err(e)),
                    None if cursor.is_alive() && Instant::now() < deadline => continue,
                    None => return fail!("cursor {id} is exhausted: no document and no error"),
                }
            }
        }
        "iterateOnce" => match entities.cursor(id)?.next() {
            Some(Ok(d)) => Ok(Ok(Value::Bson(Bson::Document(d)))),
            Some(Err(e)) => Ok(Err(e)),
            None => Ok(Ok(Value::Nothing)),
        },
        "close" => {
            entities.cursor(id)?;
            if let Some(super::entities::Entity::Cursor(cursor)) = entities.remove(id) {
                cursor.close(timeout); // errors are suppressed
            }
            Ok(Ok(Value::Nothing))
        }
        _ => skip!("missing operation: {name} on a cursor"),
    }
}

fn find_options(a: &mut Args) -> Step<FindOptions> {
    Ok(FindOptions {
        projection: a.doc("projection")?,
        sort: a.doc("sort")?,
        skip: a.int("skip")?.map(|n| n as u64),
        limit: a.int("limit")?,
        batch_size: a.int("batchSize")?.map(|n| n as u32),
        max_time: a.millis("maxTimeMS")?,
        allow_disk_use: a.boolean("allowDiskUse")?,
        hint: a.hint()?,
        collation: a.collation()?,
        comment: a.take("comment"),
        let_vars: a.doc("let")?,
        no_cursor_timeout: a.boolean("noCursorTimeout")?,
        allow_partial_results: a.boolean("allowPartialResults")?,
        return_key: a.boolean("returnKey")?,
        show_record_id: a.boolean("showRecordId")?,
        min: a.doc("min")?,
        max: a.doc("max")?,
        cursor_type: match a.string("cursorType")?.as_deref() {
            None | Some("nonTailable") => None,
            Some("tailable") => Some(CursorType::Tailable),
            Some("tailableAwait") => Some(CursorType::TailableAwait),
            Some(other) => return fail!("find.cursorType {other:?} is unknown"),
        },
        max_await_time: a.millis("maxAwaitTimeMS")?,
        ..Default::default()
    })
}

fn aggregate_options(a: &mut Args) -> Step<AggregateOptions> {
    Ok(AggregateOptions {
        allow_disk_use: a.boolean("allowDiskUse")?,
        batch_size: a.int("batchSize")?.map(|n| n as u32),
        bypass_document_validation: a.boolean("bypassDocumentValidation")?,
        collation: a.collation()?,
        max_time: a.millis("maxTimeMS")?,
        hint: a.hint()?,
        comment: a.take("comment"),
        let_vars: a.doc("let")?,
        ..Default::default()
    })
}

fn update_options(a: &mut Args, with_sort: bool) -> Step<UpdateOptions> {
    Ok(UpdateOptions {
        upsert: a.boolean("upsert")?,
        array_filters: a.docs("arrayFilters")?,
        bypass_document_validation: a.boolean("bypassDocumentValidation")?,
        collation: a.collation()?,
        hint: a.hint()?,
        let_vars: a.doc("let")?,
        comment: a.take("comment"),
        sort: if with_sort { a.doc("sort")? } else { None },
        ..Default::default()
    })
}

/// The options of the three findOneAnd* operations: those of `findOneAndUpdate` (the
/// widest), read only where the operation takes them so the rest stay unknown arguments.
fn find_and_modify_options(a: &mut Args, name: &str) -> Step<FindOneAndUpdateOptions> {
    let modifies = name != "findOneAndDelete";
    let return_document = if modifies {
        match a.string("returnDocument")? {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("before") => Some(ReturnDocument::Before),
            Some(s) if s.eq_ignore_ascii_case("after") => Some(ReturnDocument::After),
            Some(s) => return fail!("returnDocument must be Before or After, not {s:?}"),
        }
    } else {
        None
    };
    Ok(FindOneAndUpdateOptions {
        sort: a.doc("sort")?,
        projection: a.doc("projection")?,
        return_document,
        upsert: if modifies { a.boolean("upsert")? } else { None },
        array_filters: if name == "findOneAndUpdate" {
            a.docs("arrayFilters")?
        } else {
            None
        },
        bypass_document_validation: if modifies {
            a.boolean("bypassDocumentValidation")?
        } else {
            None
        },
        max_time: a.millis("maxTimeMS")?,
        collation: a.collation()?,
        hint: a.hint()?,
        let_vars: a.doc("let")?,
        comment: a.take("comment"),
        ..Default::default()
    })
}

pub fn modifications(update: Bson) -> Step<UpdateModifications> {
    match update {
        Bson::Document(d) => Ok(UpdateModifications::Document(d)),
        Bson::Array(stages) => Ok(UpdateModifications::Pipeline(
            stages
                .into_iter()
                .map(|s| match s {
                    Bson::Document(d) => Ok(d),
                    other => fail!("pipeline stage {other} is not a document"),
                })
                .collect::<Step<_>>()?,
        )),
        other => fail!("update must be a document or pipeline, not {other}"),
    }
}

/// Every result of a cursor, as documents (typed results are serialized back).
fn collect<T: Serialize + DeserializeOwned>(cursor: Cursor<T>) -> Result<Value, Error> {
    cursor
        .map(|item| Ok(bson::serialize_to_document(&item?)?))
        .collect::<Result<Vec<_>, Error>>()
        .map(Value::Documents)
}

/// Every result of a session cursor's iterator, as documents.
fn collect_iter<T: Serialize>(
    items: impl Iterator<Item = Result<T, Error>>,
) -> Result<Value, Error> {
    items
        .map(|item| Ok(bson::serialize_to_document(&item?)?))
        .collect::<Result<Vec<_>, Error>>()
        .map(Value::Documents)
}

/// Typed results, as documents.
fn documents<T: Serialize>(items: Vec<T>) -> Result<Value, Error> {
    items
        .iter()
        .map(|item| Ok(bson::serialize_to_document(item)?))
        .collect::<Result<Vec<_>, Error>>()
        .map(Value::Documents)
}

/// `findOne`'s options: those of `find` that apply to one document; the others are
/// arguments `findOne` does not take.
fn find_one_options(o: FindOptions) -> Step<FindOneOptions> {
    if o.limit.is_some() || o.batch_size.is_some() || o.cursor_type.is_some() {
        return fail!("findOne takes no limit, batchSize or cursorType");
    }
    if o.no_cursor_timeout.is_some() || o.max_await_time.is_some() || o.allow_disk_use.is_some() {
        return fail!("findOne takes no noCursorTimeout, maxAwaitTimeMS or allowDiskUse");
    }
    Ok(FindOneOptions {
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
    })
}

/// `replaceOne`'s options: those of `updateOne` without `arrayFilters`.
fn replace_options(o: UpdateOptions) -> Step<ReplaceOptions> {
    if o.array_filters.is_some() {
        return fail!("replaceOne takes no arrayFilters");
    }
    Ok(ReplaceOptions {
        bypass_document_validation: o.bypass_document_validation,
        upsert: o.upsert,
        collation: o.collation,
        hint: o.hint,
        write_concern: o.write_concern,
        let_vars: o.let_vars,
        comment: o.comment,
        sort: o.sort,
    })
}

fn strings(names: Vec<String>) -> Value {
    Value::Bson(Bson::Array(names.into_iter().map(Bson::String).collect()))
}

fn bson_value(d: Document) -> Value {
    Value::Bson(Bson::Document(d))
}

/// `insertMany`'s result (or the partial result of its error) as the CRUD spec's
/// BulkWriteResult, `insertedIds` keyed by index.
pub fn insert_many_result(ids: &std::collections::HashMap<usize, Bson>) -> Document {
    let inserted = bulk::by_index(ids, Bson::clone);
    doc! {
        "insertedCount": ids.len() as i64,
        "matchedCount": 0_i64,
        "modifiedCount": 0_i64,
        "deletedCount": 0_i64,
        "upsertedCount": 0_i64,
        "upsertedIds": {},
        "insertedIds": inserted,
    }
}

fn update_result(r: &UpdateResult) -> Document {
    let mut d = doc! {
        "matchedCount": r.matched_count as i64,
        "modifiedCount": r.modified_count as i64,
        "upsertedCount": i64::from(r.upserted_id.is_some()),
    };
    if let Some(id) = &r.upserted_id {
        d.insert("upsertedId", id.clone());
    }
    d
}

/// An operation's arguments, consumed one by one; [`Args::done`] rejects what is left.
pub struct Args {
    op: String,
    doc: Document,
}

impl Args {
    /// The arguments `doc` of operation `op` (named in errors and skip reasons).
    pub fn new(op: String, doc: Document) -> Args {
        Args { op, doc }
    }

    /// Puts an argument back, for a later step to use (or report as unsupported).
    pub fn put(&mut self, key: &str, value: impl Into<Bson>) {
        self.doc.insert(key, value);
    }

    /// `timeoutMode`, as the typed [`TimeoutMode`].
    pub fn timeout_mode(&mut self) -> Step<Option<greenmongo::options::TimeoutMode>> {
        use greenmongo::options::TimeoutMode;
        match self.string("timeoutMode")?.as_deref() {
            None => Ok(None),
            Some("cursorLifetime") => Ok(Some(TimeoutMode::CursorLifetime)),
            Some("iteration") => Ok(Some(TimeoutMode::Iteration)),
            Some(other) => fail!("{}: timeoutMode {other:?} is unknown", self.op),
        }
    }

    pub fn take(&mut self, key: &str) -> Option<Bson> {
        self.doc.remove(key)
    }

    pub fn doc(&mut self, key: &str) -> Step<Option<Document>> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::Document(d)) => Ok(Some(d)),
            Some(other) => fail!("{}.{key} must be a document, not {other}", self.op),
        }
    }

    pub fn req_doc(&mut self, key: &str) -> Step<Document> {
        match self.doc(key)? {
            Some(d) => Ok(d),
            None => fail!("{} needs {key}", self.op),
        }
    }

    pub fn docs(&mut self, key: &str) -> Step<Option<Vec<Document>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::Array(items)) => items
                .into_iter()
                .map(|i| match i {
                    Bson::Document(d) => Ok(d),
                    other => fail!("{}.{key} holds {other}, not a document", self.op),
                })
                .collect::<Step<Vec<_>>>()
                .map(Some),
            Some(other) => fail!("{}.{key} must be an array, not {other}", self.op),
        }
    }

    pub fn string(&mut self, key: &str) -> Step<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s)),
            Some(other) => fail!("{}.{key} must be a string, not {other}", self.op),
        }
    }

    pub fn boolean(&mut self, key: &str) -> Step<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::Boolean(b)) => Ok(Some(b)),
            Some(other) => fail!("{}.{key} must be a boolean, not {other}", self.op),
        }
    }

    pub fn int(&mut self, key: &str) -> Step<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Bson::Int32(i)) => Ok(Some(i64::from(i))),
            Some(Bson::Int64(i)) => Ok(Some(i)),
            Some(Bson::Double(d)) if d.fract() == 0.0 => Ok(Some(d as i64)),
            Some(other) => fail!("{}.{key} must be an integer, not {other}", self.op),
        }
    }

    pub fn millis(&mut self, key: &str) -> Step<Option<Duration>> {
        Ok(self
            .int(key)?
            .map(|ms| Duration::from_millis(ms.max(0) as u64)))
    }

    /// `collation`, as the typed [`Collation`] (an unknown field in it fails the test).
    pub fn collation(&mut self) -> Step<Option<Collation>> {
        match self.doc("collation")? {
            None => Ok(None),
            Some(d) => bson::deserialize_from_document(d)
                .map(Some)
                .map_err(|e| Stop::Fail(format!("{}.collation: {e}", self.op))),
        }
    }

    pub fn hint(&mut self) -> Step<Option<Hint>> {
        match self.take("hint") {
            None => Ok(None),
            Some(Bson::String(name)) => Ok(Some(Hint::Name(name))),
            Some(Bson::Document(keys)) => Ok(Some(Hint::Keys(keys))),
            Some(other) => fail!("{}.hint must be a string or document, not {other}", self.op),
        }
    }

    /// Skips the test, naming the first argument nothing consumed.
    pub fn done(self) -> Step {
        match self.doc.keys().next() {
            None => Ok(()),
            Some(key) => self.missing(key),
        }
    }

    /// Skips the test if one of `keys` (arguments the driver has no option for) is given.
    fn reject(&self, keys: &[&str]) -> Step {
        match keys.iter().find(|k| self.doc.contains_key(**k)) {
            None => Ok(()),
            Some(key) => self.missing(key),
        }
    }

    fn missing(&self, key: &str) -> Step {
        match key {
            "rawData" => skip!("missing option: rawData"),
            _ => skip!("missing option: {}.{key}", self.op),
        }
    }
}
