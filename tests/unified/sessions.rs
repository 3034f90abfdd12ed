//! Session entities (unified-test-format spec, "session"), their operations
//! (`startTransaction`, `commitTransaction`, `abortTransaction`, `withTransaction`,
//! `endSession`) and the test runner's session assertions.
//!
//! `withTransaction` takes the session out of the entity map for the callback: the
//! callback's operations get it lent ([`operations::run_in`]), and an operation's error
//! that the test does not expect goes back to the driver, which decides whether to run
//! the callback again.

use bson::{Bson, Document};
use greenmongo::{
    Client, ClientSession, Error, TransactionState,
    options::{SessionOptions, TransactionOptions},
};

use super::{
    entities::{Entity, EntityMap, read_concern, read_preference, write_concern},
    format::{Operation, ReadPreferenceSpec, SessionDescription, WriteConcernSpec},
    operations::{self, Args, OpResult, Value},
    outcome::{Step, Stop, fail, failed, skip},
    runner,
};

/// A session entity: the session until `endSession`, and its `lsid` for
/// `$$sessionLsid` after that too.
pub struct SessionEntity {
    pub session: Option<ClientSession>,
    pub lsid: Document,
}

/// Starts the session a `session` entity describes; `saved` looks up saved values
/// (`snapshotTime` names one).
pub fn create(
    client: &Client,
    d: &SessionDescription,
    saved: impl Fn(&str) -> Option<Bson>,
) -> Step<Entity> {
    let mut a = Args::new(
        "sessionOptions".to_owned(),
        d.session_options.clone().unwrap_or_default(),
    );
    let mut options = SessionOptions::default();
    options.causal_consistency = a.boolean("causalConsistency")?;
    options.snapshot = a.boolean("snapshot")?;
    options.snapshot_time = match a.string("snapshotTime")? {
        None => None,
        Some(id) => match saved(&id) {
            Some(Bson::Timestamp(t)) => Some(t),
            other => return fail!("snapshotTime {id:?} is {other:?}, not a timestamp"),
        },
    };
    options.default_timeout = a.millis("defaultTimeoutMS")?;
    if let Some(defaults) = a.doc("defaultTransactionOptions")? {
        let mut t = Args::new("defaultTransactionOptions".to_owned(), defaults);
        options.default_transaction_options = Some(transaction_options(&mut t)?);
        t.done()?;
    }
    a.done()?;
    let session = client
        .start_session()
        .with_options(options)
        .run()
        .map_err(failed(&format!("session {}", d.id)))?;
    Ok(Entity::Session(Box::new(SessionEntity {
        lsid: session.id().clone(),
        session: Some(session),
    })))
}

/// `readConcern`, `writeConcern`, `readPreference` and `maxCommitTimeMS`.
fn transaction_options(a: &mut Args) -> Step<TransactionOptions> {
    let mut options = TransactionOptions::default();
    if let Some(rc) = a.doc("readConcern")? {
        options.read_concern = Some(read_concern(rc.get_str("level").unwrap_or_default()));
    }
    if let Some(wc) = a.doc("writeConcern")? {
        let spec: WriteConcernSpec =
            bson::deserialize_from_document(wc).map_err(failed("writeConcern"))?;
        options.write_concern = Some(write_concern(&spec)?);
    }
    if let Some(rp) = a.doc("readPreference")? {
        let spec: ReadPreferenceSpec =
            bson::deserialize_from_document(rp).map_err(failed("readPreference"))?;
        match read_preference(&spec) {
            Ok(pref) => options.selection_criteria = Some(pref.into()),
            Err(why) => return skip!("{why}"),
        }
    }
    options.max_commit_time = a.millis("maxCommitTimeMS")?;
    Ok(options)
}

/// An operation on session entity `id` (`lent` when `withTransaction` holds it).
pub fn session_op(
    name: &str,
    id: &str,
    entities: &mut EntityMap,
    lent: Option<(&str, &mut ClientSession)>,
    mut a: Args,
) -> OpResult {
    if name == "endSession" {
        a.done()?;
        if lent.is_some_and(|(lent_id, _)| lent_id == id) {
            return fail!("endSession inside withTransaction's callback");
        }
        entities.session_entity(id)?.session = None; // dropped: back to the pool
        return Ok(Ok(Value::Nothing));
    }
    if name == "withTransaction" {
        return with_transaction(id, entities, a);
    }
    let session = match lent {
        Some((lent_id, session)) if lent_id == id => session,
        _ => entities.session(id)?,
    };
    let result = match name {
        "startTransaction" => {
            let options = transaction_options(&mut a)?;
            a.done()?;
            session.start_transaction().with_options(options).run()
        }
        "commitTransaction" => {
            let timeout = a.millis("timeoutMS")?;
            a.done()?;
            let commit = session.commit_transaction();
            match timeout {
                Some(t) => commit.timeout(t).run(),
                None => commit.run(),
            }
        }
        "abortTransaction" => {
            let timeout = a.millis("timeoutMS")?;
            a.done()?;
            let abort = session.abort_transaction();
            match timeout {
                Some(t) => abort.timeout(t).run(),
                None => abort.run(),
            }
        }
        "getSnapshotTime" => {
            a.done()?;
            let time = session.snapshot_time().map_or(Bson::Null, Bson::Timestamp);
            return Ok(Ok(Value::Bson(time)));
        }
        _ => return skip!("missing operation: {name} on a session"),
    };
    Ok(result.map(|()| Value::Nothing))
}

/// `withTransaction`: runs the `callback` operations in a transaction with the driver's
/// convenient API, which retries and commits.
fn with_transaction(id: &str, entities: &mut EntityMap, mut a: Args) -> OpResult {
    let callback: Vec<Operation> = match a.take("callback") {
        Some(Bson::Array(ops)) => ops
            .into_iter()
            .map(|op| bson::deserialize_from_bson(op).map_err(failed("withTransaction.callback")))
            .collect::<Step<_>>()?,
        _ => return fail!("withTransaction needs a callback array"),
    };
    let options = transaction_options(&mut a)?;
    let timeout = a.millis("timeoutMS")?;
    a.done()?;
    let Some(mut session) = entities.session_entity(id)?.session.take() else {
        return fail!("session {id:?} was ended");
    };
    // A test expectation that failed inside the callback stops the test, whatever the
    // driver does with the error that carries it out.
    let mut stopped: Option<Stop> = None;
    let mut start = session.start_transaction().with_options(options);
    if let Some(timeout) = timeout {
        start = start.timeout(timeout);
    }
    let result = start.and_run(|session| {
        for op in &callback {
            let outcome = match operations::run_in(op, entities, Some((id, &mut *session))) {
                Ok(outcome) => outcome,
                Err(stop) => return Err(stop_here(&mut stopped, stop)),
            };
            // The format: any error of a callback operation reaches withTransaction,
            // expected or not (the driver decides what to do with it).
            let error = outcome.as_ref().err().cloned();
            match runner::check_operation_outcome(op, outcome, entities) {
                Err(_) if error.is_some() && op.expect_error.is_none() => {
                    return Err(error.expect("checked"));
                }
                Err(stop) => return Err(stop_here(&mut stopped, stop)),
                Ok(()) => {
                    if let Some(error) = error {
                        return Err(error);
                    }
                }
            }
        }
        Ok(())
    });
    entities.session_entity(id)?.session = Some(session);
    if let Some(stop) = stopped {
        return Err(stop);
    }
    Ok(result.map(|()| Value::Nothing))
}

/// Keeps the first reason to stop, and gives the driver an error to end the callback.
fn stop_here(stopped: &mut Option<Stop>, stop: Stop) -> Error {
    let message = match &stop {
        Stop::Fail(why) | Stop::Skip(why) => why.clone(),
    };
    stopped.get_or_insert(stop);
    Error::internal(format!("test stopped in the callback: {message}"))
}

/// The test runner's session assertions.
pub fn assertion(name: &str, args: &Document, entities: &mut EntityMap) -> Step {
    let Ok(id) = args.get_str("session") else {
        return fail!("{name} needs a session");
    };
    if name == "targetedFailPoint" {
        // Only sharded and load-balanced tests pin a session to a server.
        return skip!("missing: targetedFailPoint (a fail point on a session's pinned mongos)");
    }
    let session = entities.session_entity(id)?;
    let Some(session) = session.session.as_ref() else {
        return fail!("{name}: session {id:?} was ended");
    };
    let ok = match name {
        "assertSessionTransactionState" => {
            let want = args.get_str("state").unwrap_or_default();
            let state = match session.transaction_state() {
                TransactionState::None => "none",
                TransactionState::Starting => "starting",
                TransactionState::InProgress => "in_progress",
                TransactionState::Committed | TransactionState::CommittedEmpty => "committed",
                TransactionState::Aborted => "aborted",
                other => return fail!("{name}: unknown state {other:?}"),
            };
            if state != want {
                return fail!("{name}: {state}, expected {want}");
            }
            true
        }
        "assertSessionPinned" => session.is_pinned(),
        "assertSessionUnpinned" => !session.is_pinned(),
        "assertSessionDirty" => session.is_dirty(),
        "assertSessionNotDirty" => !session.is_dirty(),
        _ => return skip!("missing test runner operation: {name}"),
    };
    if !ok {
        return fail!("{name} does not hold for {id}");
    }
    Ok(())
}
