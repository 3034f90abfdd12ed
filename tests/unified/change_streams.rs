//! Change streams in the unified test format (the change-streams spec's tests):
//! `createChangeStream` on a client, database or collection entity, and
//! `iterateUntilDocumentOrError` / `iterateOnce` / `close` on the change stream entity it
//! saves, mapped onto `greenmongo::change_stream`.
//!
//! Kept out of `entities.rs`, `operations.rs` and `runner.rs` so that those files carry
//! one hook line each (marked `// change streams`). Events are matched as the documents
//! the server sent (`with_type::<Document>()`), every field kept.

use std::time::{Duration, Instant};

use bson::{Bson, Document};
use greenmongo::{
    Client, ClientSession, Collection, Database,
    action::Watch,
    change_stream::{ChangeStream, event::ResumeToken},
    options::{FullDocumentBeforeChangeType, FullDocumentType},
};

use super::{
    operations::{Args, OpResult, Value},
    outcome::{Step, fail, skip},
};

/// What `createChangeStream` watches.
pub enum Target<'a> {
    Client(&'a Client),
    Database(&'a Database),
    Collection(&'a Collection<Document>),
}

/// How long `iterateUntilDocumentOrError` waits for a change before failing the test.
const ITERATE_TIMEOUT: Duration = Duration::from_secs(10);

/// `createChangeStream`: every argument becomes a `Watch` setter, or the test is skipped
/// naming it.
pub fn create(target: Target<'_>, mut a: Args, session: Option<&mut ClientSession>) -> OpResult {
    if session.is_some() {
        return skip!(
            "missing: change streams in an explicit session (createChangeStream.session)"
        );
    }
    let watch = match target {
        Target::Client(client) => client.watch(),
        Target::Database(db) => db.watch(),
        Target::Collection(coll) => coll.watch(),
    };
    let watch = configure(watch, &mut a)?;
    a.done()?;
    Ok(watch
        .run()
        .map(|stream| Value::ChangeStream(Box::new(stream.with_type::<Document>()))))
}

fn configure<'a, T>(mut watch: Watch<'a, T>, a: &mut Args) -> Step<Watch<'a, T>> {
    if let Some(pipeline) = a.docs("pipeline")? {
        watch = watch.pipeline(pipeline);
    }
    if let Some(n) = a.int("batchSize")? {
        watch = watch.batch_size(n as u32);
    }
    if let Some(comment) = a.take("comment") {
        watch = watch.comment(comment);
    }
    if let Some(full) = a.string("fullDocument")? {
        watch = watch.full_document(FullDocumentType::from(full.as_str()));
    }
    if let Some(before) = a.string("fullDocumentBeforeChange")? {
        watch =
            watch.full_document_before_change(FullDocumentBeforeChangeType::from(before.as_str()));
    }
    if let Some(show) = a.boolean("showExpandedEvents")? {
        watch = watch.show_expanded_events(show);
    }
    if let Some(timeout) = a.millis("timeoutMS")? {
        watch = watch.timeout(timeout);
    }
    if let Some(wait) = a.millis("maxAwaitTimeMS")? {
        watch = watch.max_await_time(wait);
    }
    if let Some(collation) = a.collation()? {
        watch = watch.collation(collation);
    }
    if let Some(token) = a.take("resumeAfter") {
        watch = watch.resume_after(token_of(token)?);
    }
    if let Some(token) = a.take("startAfter") {
        watch = watch.start_after(token_of(token)?);
    }
    match a.take("startAtOperationTime") {
        None => {}
        Some(Bson::Timestamp(t)) => watch = watch.start_at_operation_time(t),
        Some(other) => {
            return fail!(
                "createChangeStream.startAtOperationTime must be a timestamp, not {other}"
            );
        }
    }
    Ok(watch)
}

fn token_of(bson: Bson) -> Step<ResumeToken> {
    match bson::deserialize_from_bson(bson) {
        Ok(token) => Ok(token),
        Err(e) => fail!("not a resume token: {e}"),
    }
}

/// An operation on a change stream entity.
pub fn run(name: &str, stream: &mut ChangeStream<Document>, a: Args) -> OpResult {
    a.done()?;
    match name {
        "iterateUntilDocumentOrError" => {
            let deadline = Instant::now() + ITERATE_TIMEOUT;
            loop {
                match stream.next_if_any() {
                    Ok(Some(d)) => return Ok(Ok(Value::Bson(Bson::Document(d)))),
                    Err(e) => return Ok(Err(e)),
                    Ok(None) if stream.is_alive() && Instant::now() < deadline => continue,
                    Ok(None) if stream.is_alive() => {
                        return fail!("no change within {ITERATE_TIMEOUT:?}");
                    }
                    Ok(None) => return fail!("the change stream ended: no document and no error"),
                }
            }
        }
        // One getMore at most (tryNext): nothing new is no result.
        "iterateOnce" => match stream.next_if_any() {
            Ok(Some(d)) => Ok(Ok(Value::Bson(Bson::Document(d)))),
            Ok(None) => Ok(Ok(Value::Nothing)),
            Err(e) => Ok(Err(e)),
        },
        _ => skip!("missing operation: {name} on a change stream"),
    }
}
