//! The list to empty: tests expected to fail, because of a driver bug, a driver feature
//! not implemented yet, or a SecantusDB difference. They still run; their failures are
//! reported but do not fail the suite, and a note says when one passes.
//!
//! Features the runner can see from the file itself (an operation, option, entity or
//! event type the driver lacks) are skipped by the runner with a reason and need no entry
//! here. Entries name the file by the end of its path (`monitoring/insertOne.json`; several
//! folders have an `insertOne.json`) and the test's description; `"*"` matches every test
//! of the file. A failed test that configures a fail point SecantusDB ignores
//! ([`inert_fail_point`]) is a known server difference without an entry.

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
    // Unacknowledged writes: OP_MSG without moreToCome, so the server answers and the
    // succeeded event carries its full reply; the spec expects `{ ok: 1 }` and no wait.
    bug(
        "monitoring/unacknowledged-client-bulkWrite.json",
        "A successful mixed client bulkWrite",
        W0_MORE_TO_COME,
    ),
    bug(
        "monitoring/unacknowledgedBulkWrite.json",
        "A successful unordered bulk write with an unacknowledged write concern",
        W0_MORE_TO_COME,
    ),
    // The driver's command error keeps code, codeName, errmsg and labels of the reply,
    // not the rest (keyPattern, keyValue, errInfo...).
    bug(
        "crud/tests/unified/aggregate-merge-errorResponse.json",
        "aggregate $merge DuplicateKey error is accessible",
        "errorResponse: the command error does not keep the whole server reply (keyPattern, keyValue)",
    ),
    // Not implemented yet.
    todo(
        "unified/runCommand.json",
        "always gossips the $clusterTime on the sent command",
        "$clusterTime gossip",
    ),
    bug("monitoring/writeConcernError.json", "*", WCE_RETRY),
    bug(
        "retryable-writes/tests/unified/bulkWrite-errorLabels.json",
        "BulkWrite succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/bulkWrite-serverErrors.json",
        "BulkWrite succeeds after retryable writeConcernError in first batch",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/client-bulkWrite-serverErrors.json",
        "client bulkWrite with no multi: true operations succeeds after retryable writeConcernError",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/deleteOne-errorLabels.json",
        "DeleteOne succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/findOneAndDelete-errorLabels.json",
        "FindOneAndDelete succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/findOneAndReplace-errorLabels.json",
        "FindOneAndReplace succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/findOneAndUpdate-errorLabels.json",
        "FindOneAndUpdate succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/insertMany-errorLabels.json",
        "InsertMany succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/insertOne-errorLabels.json",
        "InsertOne succeeds after WriteConcernError InterruptedAtShutdown",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/insertOne-errorLabels.json",
        "InsertOne succeeds after WriteConcernError InterruptedDueToReplStateChange",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/insertOne-errorLabels.json",
        "InsertOne succeeds after WriteConcernError PrimarySteppedDown",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/insertOne-errorLabels.json",
        "InsertOne succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/insertOne-serverErrors.json",
        "InsertOne succeeds after retryable writeConcernError",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/replaceOne-errorLabels.json",
        "ReplaceOne succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    bug(
        "retryable-writes/tests/unified/updateOne-errorLabels.json",
        "UpdateOne succeeds after WriteConcernError ShutdownInProgress",
        WCE_RETRY,
    ),
    // Retryable reads.
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after InterruptedAtShutdown",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after InterruptedDueToReplStateChange",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after NotWritablePrimary",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after NotPrimaryNoSecondaryOk",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after NotPrimaryOrSecondary",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after PrimarySteppedDown",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after ShutdownInProgress",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after HostNotFound",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after HostUnreachable",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after NetworkTimeout",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames succeeds after SocketException",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames-serverErrors.json",
        "ListDatabaseNames fails after two NotWritablePrimary errors",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames.json",
        "ListDatabaseNames succeeds on second attempt",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/listDatabaseNames.json",
        "ListDatabaseNames fails on second attempt",
        LIST_DATABASES_NO_RETRY,
    ),
    bug(
        "retryable-reads/tests/unified/aggregate-merge.json",
        "Aggregate with $merge does not retry",
        WRITING_AGGREGATE_RETRIED,
    ),
    bug(
        "retryable-reads/tests/unified/aggregate.json",
        "Aggregate with $out does not retry",
        WRITING_AGGREGATE_RETRIED,
    ),
];

const LIST_DATABASES_NO_RETRY: &str =
    "Client::list_database_names is not a retryable read (runs with Retry::No, src/client.rs)";
const WRITING_AGGREGATE_RETRIED: &str =
    "an aggregate with $out/$merge is retried as a read (run_cursor_operation always uses Retry::Read, src/client.rs)";
const W0_MORE_TO_COME: &str =
    "w: 0 writes must be sent with OP_MSG moreToCome and not wait for a reply (src/conn.rs)";
const WCE_RETRY: &str =
    "retryable writes: a reply with a retryable writeConcernError (or RetryableWriteError label) is not retried (src/client.rs)";

/// Fail points SecantusDB accepts but never fires; a failed test that configures one is a
/// known server difference (with mongod it runs as usual).
const INERT_FAIL_POINTS: &[(&str, Known)] = &[(
    "onPrimaryTransactionalWrite",
    server(
        "*",
        "*",
        "SecantusDB accepts the onPrimaryTransactionalWrite fail point but never fires it",
    ),
)];

/// The known server difference behind a failed test that configured `fail_points`.
pub fn inert_fail_point(fail_points: &[&str]) -> Option<&'static Known> {
    INERT_FAIL_POINTS
        .iter()
        .find(|(name, _)| fail_points.contains(name))
        .map(|(_, known)| known)
}

/// The known failure listed for a test of `path` (relative to the spec root), if any.
pub fn known_failure(path: &str, test: &str) -> Option<&'static Known> {
    KNOWN_FAILURES.iter().find(|k| {
        (path == k.file || path.ends_with(&format!("/{}", k.file)))
            && (k.test == "*" || k.test == test)
    })
}
