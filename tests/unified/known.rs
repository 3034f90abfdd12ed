//! The list to empty: tests expected to fail, because of a driver bug, a driver feature
//! not implemented yet, or a SecantusDB difference. They still run; their failures are
//! reported but do not fail the suite, and a note says when one passes.
//!
//! Features the runner can see from the file itself (an operation, option, entity or
//! event type the driver lacks) are skipped by the runner with a reason and need no entry
//! here. Entries name the file by the end of its path (`monitoring/insertOne.json`; several
//! folders have an `insertOne.json`) and the test's description; `"*"` matches every test
//! of the file.

/// Why a listed test fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownKind {
    /// The driver deviates from a spec; fix `src/` and delete the entry.
    DriverBug,
    /// The test exercises a driver feature that is not implemented yet (retryable
    /// reads/writes, implicit sessions...) and that the file itself does not reveal.
    NotImplemented,
    /// SecantusDB answers differently from mongod; not the driver's fault.
    ServerDifference,
}

/// A test expected to fail.
#[derive(Debug)]
pub struct Known {
    pub file: &'static str,
    pub test: &'static str,
    pub kind: KnownKind,
    pub why: &'static str,
}

const fn bug(file: &'static str, test: &'static str, why: &'static str) -> Known {
    Known {
        file,
        test,
        kind: KnownKind::DriverBug,
        why,
    }
}

const fn todo(file: &'static str, test: &'static str, why: &'static str) -> Known {
    Known {
        file,
        test,
        kind: KnownKind::NotImplemented,
        why,
    }
}

#[allow(dead_code)] // for when SecantusDB answers differently from mongod
const fn server(file: &'static str, test: &'static str, why: &'static str) -> Known {
    Known {
        file,
        test,
        kind: KnownKind::ServerDifference,
        why,
    }
}

/// Tests that run and are expected to fail.
pub const KNOWN_FAILURES: &[Known] = &[
    // Command Logging and Monitoring: CommandSucceededEvent and CommandFailedEvent MUST
    // carry databaseName (src/event.rs has it on CommandStartedEvent only).
    bug("monitoring/find.json", "A successful find with no options", NO_DB_NAME),
    bug("monitoring/find.json", "A successful find with options", NO_DB_NAME),
    bug("monitoring/find.json", "A successful find with showRecordId and returnKey", NO_DB_NAME),
    bug("monitoring/find.json", "A successful find with a getMore", NO_DB_NAME),
    bug("monitoring/find.json", "A failed find event", NO_DB_NAME),
    // Single-statement write commands are sent without `ordered: true`.
    bug("monitoring/insertOne.json", "*", NO_ORDERED),
    bug("monitoring/updateOne.json", "*", NO_ORDERED),
    bug("monitoring/updateMany.json", "*", NO_ORDERED),
    bug("monitoring/deleteOne.json", "*", NO_ORDERED),
    bug("monitoring/deleteMany.json", "*", NO_ORDERED),
    // CRUD.
    bug(
        "crud/tests/unified/aggregate-merge.json",
        "Aggregate with $merge and batch size of 0",
        "aggregate sends cursor: { batchSize: 0 } for a $merge pipeline; the spec expects cursor: {}",
    ),
    bug(
        "crud/tests/unified/aggregate.json",
        "aggregate with comment sets comment on getMore",
        "the cursor's getMore does not carry the aggregate's comment (4.4+)",
    ),
    bug(
        "crud/tests/unified/findOneAndDelete-hint-unacknowledged.json",
        "Unacknowledged findOneAndDelete with hint string on 4.4+ server",
        W0_RESULT,
    ),
    bug(
        "crud/tests/unified/findOneAndDelete-hint-unacknowledged.json",
        "Unacknowledged findOneAndDelete with hint document on 4.4+ server",
        W0_RESULT,
    ),
    // Not implemented yet.
    todo(
        "valid-pass/poc-retryable-reads.json",
        "Aggregate succeeds after InterruptedAtShutdown",
        "retryable reads",
    ),
    todo("valid-pass/poc-retryable-reads.json", "Find succeeds on second attempt", "retryable reads"),
    todo("valid-pass/poc-retryable-reads.json", "Find fails on second attempt", "retryable reads"),
    todo("valid-pass/poc-retryable-writes.json", "FindOneAndUpdate is never committed", "retryable writes"),
    todo(
        "valid-pass/poc-retryable-writes.json",
        "InsertMany succeeds after PrimarySteppedDown",
        "retryable writes",
    ),
    todo(
        "valid-pass/poc-retryable-writes.json",
        "InsertOne fails after multiple retryable writeConcernErrors",
        "retryable writes",
    ),
    todo("monitoring/writeConcernError.json", "*", "retryable writes"),
    todo(
        "unified/runCommand.json",
        "always attaches $db and implicit lsid to given command and omits default readPreference",
        "implicit sessions (lsid)",
    ),
    todo(
        "unified/runCommand.json",
        "always gossips the $clusterTime on the sent command",
        "$clusterTime gossip",
    ),
    todo(
        "unified/runCursorCommand.json",
        "creates an implicit session that is reused across getMores",
        "implicit sessions (lsid)",
    ),
    todo("valid-pass/poc-sessions.json", "Server supports implicit sessions", "implicit sessions (lsid)"),
];

const NO_DB_NAME: &str = "CommandSucceededEvent/CommandFailedEvent have no databaseName";
const NO_ORDERED: &str = "insert/update/delete commands of single writes omit ordered: true";
const W0_RESULT: &str =
    "with w: 0 the driver waits for the findAndModify reply and returns the deleted document";

/// The known failure listed for a test of `path` (relative to the spec root), if any.
pub fn known_failure(path: &str, test: &str) -> Option<&'static Known> {
    KNOWN_FAILURES.iter().find(|k| {
        (path == k.file || path.ends_with(&format!("/{}", k.file)))
            && (k.test == "*" || k.test == test)
    })
}
