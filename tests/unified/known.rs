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
    #[allow(dead_code)] // none listed right now
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

#[allow(dead_code)] // none listed right now
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
    // SecantusDB answers a retried statement (same lsid and txnNumber) from its cache
    // without applying failCommand's writeConcernError again, so the second attempt
    // succeeds where mongod would report the error once more.
    server(
        "retryable-writes/tests/unified/insertOne-errorLabels.json",
        "InsertOne fails after multiple retryable writeConcernErrors",
        RETRIED_STATEMENT_FROM_CACHE,
    ),
    // SecantusDB's bulkWrite command does not recognise a retried txnNumber: the retry
    // after a writeConcernError inserts again and hits the duplicate key.
    server(
        "retryable-writes/tests/unified/client-bulkWrite-serverErrors.json",
        "client bulkWrite with no multi: true operations succeeds after retryable writeConcernError",
        "SecantusDB's bulkWrite does not deduplicate a retried txnNumber",
    ),
    server(
        "unified-test-format/tests/valid-pass/poc-retryable-writes.json",
        "InsertOne fails after multiple retryable writeConcernErrors",
        RETRIED_STATEMENT_FROM_CACHE,
    ),
    // The test counts the topology changes of discovering the drivers' usual
    // three-member replica set from a seed list (four). SecantusDB is one member that
    // advertises a host name of its own, so the tests reach it with directConnection=true
    // (a Single topology: two changes).
    server(
        "server-discovery-and-monitoring/tests/unified/replicaset-emit-topology-changed-before-close.json",
        "Topology lifecycle",
        "expects the four topology changes of discovering a three-member replica set; the test server is one member reached directly (two)",
    ),
    // The operation the monitor's timeout must interrupt is a find with
    // `$where: "sleep(2000) || true"`; SecantusDB has no JavaScript engine and refuses it
    // at once (Location6108304), so there is nothing in use to interrupt.
    server(
        "server-discovery-and-monitoring/tests/unified/interruptInUse-pool-clear.json",
        "*",
        "$where (JavaScript) is not supported by SecantusDB: the long-running operation fails at once",
    ),
    // Snapshot reads: SecantusDB ignores `atClusterTime` and reads the latest data, so a
    // read after a write sees the write (scripts/SECANTUSDB.md). The commands sent match.
    server(
        "sessions/tests/snapshot-sessions.json",
        "Find operation with snapshot",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Distinct operation with snapshot",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Aggregate operation with snapshot",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Mixed operation with snapshot",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Write commands with snapshot session do not affect snapshot reads",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Find operation with snapshot and snapshot time",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Distinct operation with snapshot and snapshot time",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Aggregate operation with snapshot and snapshot time",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "countDocuments operation with snapshot and snapshot time",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "sessions/tests/snapshot-sessions.json",
        "Mixed operation with snapshot and snapshotTime",
        IGNORES_AT_CLUSTER_TIME,
    ),
    server(
        "causal-consistency/tests/causal-consistency-clientBulkWrite.json",
        "*",
        "SecantusDB's bulkWrite command refuses readConcern (40415 IDLUnknownField), which causal consistency sends",
    ),
    // The client backpressure spec (retrying errors labelled SystemOverloadedError with
    // backoff, maxAttempts) is not implemented: these fail on the first overload error.
    todo(
        "transactions/tests/unified/backpressure-retryable-abort.json",
        "*",
        CLIENT_BACKPRESSURE,
    ),
    todo(
        "transactions/tests/unified/backpressure-retryable-commit.json",
        "*",
        CLIENT_BACKPRESSURE,
    ),
    todo(
        "transactions/tests/unified/backpressure-retryable-reads.json",
        "*",
        CLIENT_BACKPRESSURE,
    ),
    todo(
        "transactions/tests/unified/backpressure-retryable-writes.json",
        "*",
        CLIENT_BACKPRESSURE,
    ),
    // Client-side operation timeouts: what is not built yet, or reads the spec otherwise.
    todo(
        "client-side-operations-timeout/tests/runCursorCommand.json",
        "Non-tailable cursor iteration timeoutMS is refreshed for getMore if timeoutMode is iteration - failure",
        CSOT_ITERATION_BUDGET,
    ),
    todo(
        "client-side-operations-timeout/tests/runCursorCommand.json",
        "Tailable cursor iteration timeoutMS is refreshed for getMore - failure",
        CSOT_ITERATION_BUDGET,
    ),
    todo(
        "client-side-operations-timeout/tests/runCursorCommand.json",
        "Tailable cursor awaitData iteration timeoutMS is refreshed for getMore - failure",
        CSOT_ITERATION_BUDGET,
    ),
    // The test sends `ping` with `apiStrict: true` and no `apiVersion`, which mongod
    // refuses; SecantusDB accepts it (scripts/SECANTUSDB.md, "Stable API"). The command
    // sent matches.
    server(
        "versioned-api/tests/runcommand-helper-no-api-version-declared.json",
        "runCommand does not prevent sending invalid API version declarations",
        "SecantusDB accepts apiStrict without apiVersion (mongod refuses it)",
    ),
];

const CSOT_ITERATION_BUDGET: &str = "the test expects a timeout error the spec prose gives no ground for: a getMore blocked 60 ms under a 100 ms per-iteration timeoutMS (the awaitData test sets no timeoutMS at all); greenmongo gives each iteration its whole timeoutMS, as the prose says";

const IGNORES_AT_CLUSTER_TIME: &str =
    "SecantusDB ignores readConcern.atClusterTime: a snapshot read sees later writes";

const CLIENT_BACKPRESSURE: &str =
    "the client backpressure spec (SystemOverloadedError retries with backoff) is not implemented";

const RETRIED_STATEMENT_FROM_CACHE: &str = "SecantusDB replays a retried statement from its cache without the fail point's writeConcernError";

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
