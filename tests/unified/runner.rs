//! Runs unified-format test files against the live server (unified-test-format spec,
//! "Test Runner Implementation"): requirements, `initialData`, entities, operations and
//! the special `testRunner` operations, error and result assertions, fail points (always
//! turned off by a guard), event and `outcome` assertions.

use std::{
    fs,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use bson::{Bson, Document, doc};
use greenmongo::{
    Client,
    options::{Acknowledgment, CreateCollectionOptions, FindOptions, WriteConcern},
};

use super::{
    entities::{Entity, EntityMap, read_concern},
    errors, events,
    format::{
        CollectionData, EntityDescription, Operation, SUPPORTED_SCHEMA, TestCase, TestFile,
        Version, read_test_file,
    },
    known,
    matching::{matches, matches_plain},
    operations::{self, Value},
    outcome::{FileReport, Outcome, Step, Stop, fail, failed, skip},
    requirements::ServerInfo,
};

/// What every test of a run shares.
pub struct Context {
    uri: String,
    /// The internal client: setup, outcome checks, turning fail points off.
    internal: Client,
    server: ServerInfo,
}

impl Context {
    pub fn new(uri: &str) -> Result<Context, String> {
        let internal = Client::with_uri_str(uri).map_err(|e| format!("MONGODB_URI: {e}"))?;
        let server = ServerInfo::discover(uri, &internal)?;
        Ok(Context {
            uri: uri.to_owned(),
            internal,
            server,
        })
    }
}

/// Runs the `.json` files of `folder` (relative to the spec root `root`) whose name
/// `wanted` accepts, reporting each.
pub fn run_files(
    ctx: &Context,
    root: &Path,
    folder: &str,
    wanted: impl Fn(&str) -> bool,
) -> Vec<FileReport> {
    let dir = root.join(folder);
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().is_some_and(|n| wanted(&n.to_string_lossy())))
        .collect();
    paths.sort();
    paths.iter().map(|p| run_file(ctx, folder, p)).collect()
}

fn run_file(ctx: &Context, folder: &str, path: &Path) -> FileReport {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let relative = format!("{folder}/{name}");
    let mut report = FileReport {
        name: name.clone(),
        results: Vec::new(),
        notes: Vec::new(),
    };
    let file = match read_test_file(path) {
        Ok(file) => file,
        Err(why) => {
            report.results.push(("(file)".into(), Outcome::Failed(why)));
            return report;
        }
    };
    let file_skip = match Version::parse(&file.schema_version) {
        Ok(v) if v.0[0] == SUPPORTED_SCHEMA.0[0] && v <= SUPPORTED_SCHEMA => ctx
            .server
            .unmet(&ctx.internal, file.run_on_requirements.as_deref()),
        _ => Some(format!(
            "schemaVersion {} not supported (runner supports {SUPPORTED_SCHEMA})",
            file.schema_version
        )),
    };
    let attempts = if folder.starts_with(TIMING_FOLDER) {
        TIMING_ATTEMPTS
    } else {
        1
    };
    for test in &file.tests {
        let outcome = match &file_skip {
            Some(why) => Outcome::Skipped(why.clone()),
            None => run_attempts(ctx, &file, test, attempts, &mut report.notes),
        };
        let outcome = match (known::known_failure(&relative, &test.description), outcome) {
            (Some(k), Outcome::Failed(why)) => Outcome::Known(k, why),
            (Some(k), Outcome::Passed) => {
                report.notes.push(format!(
                    "{}: listed as \"{}\" in known.rs but passed; remove the entry",
                    test.description, k.why
                ));
                Outcome::Passed
            }
            (None, Outcome::Failed(why)) => match known::inert_fail_point(&fail_points_of(test)) {
                Some(k) => Outcome::Known(k, why),
                None => Outcome::Failed(why),
            },
            (_, outcome) => outcome,
        };
        report.results.push((test.description.clone(), outcome));
    }
    report
}

/// The folder whose tests assume the server answers within a few tens of milliseconds of
/// slack: a `getMore` the server holds 1,030 ms against a 1,050 ms `timeoutMS`, a
/// `countDocuments` under `socketTimeoutMS=20`. The single-threaded Python test server
/// misses such a margin now and then on a loaded 2-core machine, so a test of this folder
/// that fails with a timeout runs again, up to [`TIMING_ATTEMPTS`] times in all, and each
/// retry is noted in the report. Any other failure, or a timeout on every attempt, fails.
const TIMING_FOLDER: &str = "client-side-operations-timeout/";
const TIMING_ATTEMPTS: usize = 3;

/// Runs `test` up to `attempts` times while it fails with a timeout.
fn run_attempts(
    ctx: &Context,
    file: &TestFile,
    test: &TestCase,
    attempts: usize,
    notes: &mut Vec<String>,
) -> Outcome {
    let mut attempt = 1;
    loop {
        let why = match run_test(ctx, file, test) {
            Ok(()) => return Outcome::Passed,
            Err(Stop::Skip(why)) => return Outcome::Skipped(why),
            Err(Stop::Fail(why)) => why,
        };
        if attempt == attempts || !is_timeout(&why) {
            return Outcome::Failed(why);
        }
        notes.push(format!(
            "{}: attempt {attempt} of {attempts} timed out, run again: {why}",
            test.description
        ));
        attempt += 1;
    }
}

/// Whether a failure is the driver reporting a timeout: `ErrorKind::Timeout`'s
/// "operation timed out", the pool's "timed out waiting", a socket's "deadline elapsed".
fn is_timeout(why: &str) -> bool {
    why.contains("timed out") || why.contains("deadline elapsed")
}

/// Runs one test; cleanup (event logs, fail points) happens whatever the operations did.
fn run_test(ctx: &Context, file: &TestFile, test: &TestCase) -> Step {
    if let Some(why) = &test.skip_reason {
        return skip!("skipReason: {why}");
    }
    if let Some(why) = ctx
        .server
        .unmet(&ctx.internal, test.run_on_requirements.as_deref())
    {
        return Err(Stop::Skip(why));
    }
    if test.expect_log_messages.is_some() {
        return skip!("missing: log message assertions (expectLogMessages)");
    }
    kill_all_sessions(&ctx.internal);
    for data in file.initial_data.iter().flatten() {
        initial_data(&ctx.internal, data)?;
    }
    let mut entities = EntityMap::default();
    for description in file.create_entities.iter().flatten() {
        entities.create(description, &ctx.uri)?;
    }
    let mut fail_points = FailPoints {
        internal: &ctx.internal,
        names: Vec::new(),
        blocked: Duration::ZERO,
    };
    let result = test
        .operations
        .iter()
        .try_for_each(|op| run_operation(ctx, op, &mut entities, &mut fail_points));
    for log in entities.logs() {
        log.stop();
    }
    drop(fail_points);
    result?;
    for expected in test.expect_events.iter().flatten() {
        let log = entities.client(&expected.client)?.log.clone();
        events::check_expected(expected, &log, &|n| entities.bson(n))?;
    }
    for data in test.outcome.iter().flatten() {
        check_outcome(&ctx.internal, data)?;
    }
    Ok(())
}

/// Ends every session on the server, and so any transaction a failed test left open
/// (the unified format's "killAllSessions before each test"): an open transaction
/// holds its documents until the server times it out, and would block the next test.
/// A server without sessions refuses the command, which is fine.
fn kill_all_sessions(internal: &Client) {
    let kill = doc! { "killAllSessions": [] };
    if let Err(e) = internal.database("admin").run_command(kill).run()
        && e.code() != Some(11601)
    {
        // 11601 Interrupted: it killed the session it ran in.
        eprintln!("killAllSessions: {e}");
    }
}

fn majority() -> WriteConcern {
    let mut wc = WriteConcern::default();
    wc.w = Some(Acknowledgment::Majority);
    wc
}

/// Drops the collection, creates it (with `createOptions`) and inserts the documents, all
/// with a majority write concern.
fn initial_data(internal: &Client, data: &CollectionData) -> Step {
    let db = internal.database(&data.database_name);
    let coll = db
        .collection::<Document>(&data.collection_name)
        .with_write_concern(majority());
    coll.drop().run().map_err(failed("initialData: drop"))?;
    if data.create_options.is_some() || data.documents.is_empty() {
        let mut options = data.create_options.clone().unwrap_or_default();
        options.insert("writeConcern", doc! { "w": "majority" });
        let options = bson::deserialize_from_document::<CreateCollectionOptions>(options)
            .map_err(failed("initialData: createOptions"))?;
        db.create_collection(&data.collection_name)
            .with_options(options)
            .run()
            .map_err(failed("initialData: create"))?;
    }
    if !data.documents.is_empty() {
        coll.insert_many(&data.documents)
            .run()
            .map_err(failed("initialData: insert"))?;
    }
    Ok(())
}

/// The collection holds exactly the expected documents (sorted by `_id`, local read
/// concern, no extra fields anywhere).
fn check_outcome(internal: &Client, data: &CollectionData) -> Step {
    let coll = internal
        .database(&data.database_name)
        .collection::<Document>(&data.collection_name)
        .with_read_concern(read_concern("local"));
    let options = FindOptions {
        sort: Some(doc! { "_id": 1 }),
        ..Default::default()
    };
    let actual: Vec<Bson> = coll
        .find(doc! {})
        .with_options(options)
        .run()
        .and_then(|c| c.collect::<greenmongo::Result<Vec<_>>>())
        .map_err(failed("outcome: find"))?
        .into_iter()
        .map(Bson::Document)
        .collect();
    let expected: Vec<Bson> = data.documents.iter().cloned().map(Bson::Document).collect();
    matches_plain(&Bson::Array(expected), Some(&Bson::Array(actual)), false)
        .map_err(|e| Stop::Fail(format!("outcome of {}: {e}", data.collection_name)))
}

/// Fail points configured by the test, turned off when it ends, whatever happened.
struct FailPoints<'a> {
    internal: &'a Client,
    names: Vec<String>,
    /// The longest `blockTimeMS` of a `blockConnection` fail point the test set.
    blocked: Duration,
}

impl Drop for FailPoints<'_> {
    fn drop(&mut self) {
        for name in self.names.drain(..) {
            let off = doc! { "configureFailPoint": name.as_str(), "mode": "off" };
            if let Err(e) = self.internal.database("admin").run_command(off).run() {
                eprintln!("could not turn fail point {name} off: {e}");
            }
        }
        // A command the test gave up on (a timeout) still runs on the server once its
        // block ends: let it finish before the next test's initial data, or it lands
        // there (an abandoned GridFS files insert made the next test's collection
        // non-empty).
        std::thread::sleep(self.blocked);
    }
}

fn run_operation(
    ctx: &Context,
    op: &Operation,
    entities: &mut EntityMap,
    fail_points: &mut FailPoints<'_>,
) -> Step {
    if op.object == "testRunner" {
        return special(ctx, op, entities, fail_points);
    }
    run_entity_operation(op, entities)
}

/// Runs an operation on an entity and checks its expectations (also on thread entities).
pub fn run_entity_operation(op: &Operation, entities: &mut EntityMap) -> Step {
    let result = operations::run(op, entities)?;
    check_operation_outcome(op, result, entities)
}

/// Checks an operation's result or error against its `expectResult` / `expectError`,
/// and saves it as an entity if asked.
pub fn check_operation_outcome(
    op: &Operation,
    result: Result<Value, greenmongo::Error>,
    entities: &mut EntityMap,
) -> Step {
    if op.ignore_result_and_error == Some(true) {
        return Ok(());
    }
    match (&op.expect_error, result) {
        (Some(expected), Err(e)) => errors::check(expected, &e, &|n| entities.bson(n))
            .map_err(|stop| context(stop, &op.name)),
        (Some(_), Ok(value)) => fail!("{}: expected an error, got {}", op.name, describe(&value)),
        (None, Err(e)) => fail!("{}: unexpected error: {e}", op.name),
        (None, Ok(value)) => {
            if let Some(expected) = &op.expect_result {
                check_result(expected, &value, entities)
                    .map_err(|e| Stop::Fail(format!("{} result: {e}", op.name)))?;
            }
            if let Some(id) = &op.save_result_as_entity {
                let entity = match value {
                    Value::Cursor(c) => Entity::Cursor(c),
                    Value::Collection(c) => Entity::Collection(c),
                    Value::ChangeStream(s) => Entity::ChangeStream(s), // change streams
                    Value::Bson(b) => Entity::Bson(b),
                    Value::Documents(d) => {
                        Entity::Bson(Bson::Array(d.into_iter().map(Bson::Document).collect()))
                    }
                    Value::Nothing => return fail!("{}: no result to save as {id}", op.name),
                };
                entities.insert(id, entity)?;
            }
            Ok(())
        }
    }
}

fn context(stop: Stop, op: &str) -> Stop {
    match stop {
        Stop::Fail(why) => Stop::Fail(format!("{op}: {why}")),
        skip => skip,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Nothing => "no result".to_owned(),
        Value::Bson(b) => b.to_string(),
        Value::Documents(d) => format!("{} documents", d.len()),
        Value::Cursor(_) => "a cursor".to_owned(),
        Value::ChangeStream(_) => "a change stream".to_owned(), // change streams
        Value::Collection(c) => format!("collection {}", c.namespace()),
    }
}

/// `expectResult`: iterated documents are each matched as a root document.
fn check_result(expected: &Bson, value: &Value, entities: &EntityMap) -> Result<(), String> {
    let lookup = |n: &str| entities.bson(n);
    match value {
        Value::Documents(docs) => {
            let Bson::Array(expected) = expected else {
                return Err(format!("expected {expected}, got {} documents", docs.len()));
            };
            if expected.len() != docs.len() {
                return Err(format!(
                    "expected {} documents, got {}: {docs:?}",
                    expected.len(),
                    docs.len()
                ));
            }
            for (i, (want, got)) in expected.iter().zip(docs).enumerate() {
                matches(want, Some(&Bson::Document(got.clone())), true, &lookup)
                    .map_err(|e| format!("document {i}: {e}"))?;
            }
            Ok(())
        }
        Value::Bson(actual) => matches(expected, Some(actual), true, &lookup),
        Value::Nothing => matches(expected, None, true, &lookup),
        Value::Cursor(_) | Value::Collection(_) | Value::ChangeStream(_) => {
            Err("a cursor or collection cannot be matched".to_owned())
        }
    }
}

/// Special test operations (`object: testRunner`).
fn special(
    ctx: &Context,
    op: &Operation,
    entities: &mut EntityMap,
    fail_points: &mut FailPoints<'_>,
) -> Step {
    let args = op.arguments.clone().unwrap_or_default();
    let text = |key: &str| -> Step<&str> {
        match args.get_str(key) {
            Ok(s) => Ok(s),
            Err(_) => fail!("{} needs a string {key}", op.name),
        }
    };
    match op.name.as_str() {
        "failPoint" => {
            let client = entities.client(text("client")?)?.client.clone();
            let Ok(command) = args.get_document("failPoint") else {
                return fail!("failPoint needs a failPoint document");
            };
            let name = command.get_str("configureFailPoint").unwrap_or_default();
            // Setting a fail point is idempotent: one more try after a pooled connection
            // the server closed meanwhile (runCommand itself is never retried).
            let admin = client.database("admin");
            admin
                .run_command(command.clone())
                .run()
                .or_else(|e| match e.is_network_error() {
                    true => admin.run_command(command.clone()).run(),
                    false => Err(e),
                })
                .map_err(failed("failPoint"))?;
            fail_points.names.push(name.to_owned());
            if let Ok(data) = command.get_document("data")
                && data.get_bool("blockConnection").unwrap_or(false)
            {
                let block = match data.get("blockTimeMS") {
                    Some(Bson::Int32(ms)) => u64::try_from(*ms).unwrap_or(0),
                    Some(Bson::Int64(ms)) => u64::try_from(*ms).unwrap_or(0),
                    Some(Bson::Double(ms)) if *ms > 0.0 => *ms as u64,
                    _ => 0,
                };
                let block = Duration::from_millis(block);
                fail_points.blocked = fail_points.blocked.max(block);
            }
            Ok(())
        }
        "createEntities" => {
            let list = args
                .get_array("entities")
                .map_err(failed("createEntities"))?;
            for item in list {
                let description: EntityDescription =
                    bson::deserialize_from_bson(item.clone()).map_err(failed("createEntities"))?;
                entities.create(&description, &ctx.uri)?;
            }
            Ok(())
        }
        "assertCollectionExists" | "assertCollectionNotExists" => {
            let db = ctx.internal.database(text("databaseName")?);
            let name = text("collectionName")?;
            let names = db.list_collection_names().run().map_err(failed(&op.name))?;
            let want = op.name == "assertCollectionExists";
            if names.iter().any(|n| n == name) != want {
                return fail!("{}: {name} in {names:?}", op.name);
            }
            Ok(())
        }
        "assertIndexExists" | "assertIndexNotExists" => {
            let coll = ctx
                .internal
                .database(text("databaseName")?)
                .collection::<Document>(text("collectionName")?);
            let names = match coll.list_index_names().run() {
                Err(e) if e.code() == Some(26) => Vec::new(), // NamespaceNotFound
                other => other.map_err(failed(&op.name))?,
            };
            let name = text("indexName")?;
            if names.iter().any(|n| n == name) != (op.name == "assertIndexExists") {
                return fail!("{}: {name} in {names:?}", op.name);
            }
            Ok(())
        }
        "assertSameLsidOnLastTwoCommands" | "assertDifferentLsidOnLastTwoCommands" => {
            let log = entities.client(text("client")?)?.log.clone();
            let (a, b) = events::last_two_lsids(&log)?;
            if (a == b) != (op.name == "assertSameLsidOnLastTwoCommands") {
                return fail!("{}: {a} and {b}", op.name);
            }
            Ok(())
        }
        "waitForEvent" | "assertEventCount" => {
            let log = entities.client(text("client")?)?.log.clone();
            let Ok(event) = args.get_document("event") else {
                return fail!("{} needs an event", op.name);
            };
            let count = args.get_i32("count").map_or(1, |c| c as usize);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let seen = events::count_matching(&log, event, &|n| entities.bson(n))?;
                if op.name == "assertEventCount" && seen != count {
                    return fail!("expected {count} events matching {event}, saw {seen}");
                }
                if seen >= count {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return fail!("waited 10 s for {count} events matching {event}, saw {seen}");
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        "runOnThread" => {
            let Ok(operation) = args.get_document("operation") else {
                return fail!("runOnThread needs an operation");
            };
            let operation: Operation = bson::deserialize_from_document(operation.clone())
                .map_err(failed("runOnThread"))?;
            let shared = entities.share();
            entities.thread(text("thread")?)?.run(operation, shared);
            Ok(())
        }
        "waitForThread" => entities.thread(text("thread")?)?.wait(),
        "wait" => {
            let ms = args.get_i32("ms").map_or(0, |m| m.max(0) as u64);
            thread::sleep(Duration::from_millis(ms));
            Ok(())
        }
        "assertNumberConnectionsCheckedOut" => {
            skip!("missing: connection pool monitoring (assertNumberConnectionsCheckedOut)")
        }
        "targetedFailPoint"
        | "assertSessionTransactionState"
        | "assertSessionPinned"
        | "assertSessionUnpinned"
        | "assertSessionDirty"
        | "assertSessionNotDirty" => super::sessions::assertion(&op.name, &args, entities),
        other => skip!("missing test runner operation: {other}"),
    }
}

/// The names of the fail points a test configures.
fn fail_points_of(test: &TestCase) -> Vec<&str> {
    test.operations
        .iter()
        .filter(|op| op.object == "testRunner" && op.name == "failPoint")
        .filter_map(|op| op.arguments.as_ref()?.get_document("failPoint").ok())
        .filter_map(|fp| fp.get_str("configureFailPoint").ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_timeout;

    #[test]
    fn timeouts_are_told_from_other_failures() {
        // Two failures CI printed, then one that must not be retried.
        assert!(is_timeout(
            "iterateOnce: unexpected error: operation timed out: timeoutMS=1050 ran out after \
             1.059353975s waiting on the network: I/O error: deadline elapsed while waiting"
        ));
        assert!(is_timeout(
            "countDocuments: unexpected error: I/O error: deadline elapsed while waiting"
        ));
        assert!(!is_timeout(
            "runCursorCommand: expected an error, got 5 documents"
        ));
    }
}
