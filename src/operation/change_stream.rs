//! Change streams (the change-streams spec), the pure parts: the `aggregate` with its
//! leading `$changeStream` stage that opens a stream and reopens it on resume, where a
//! resumed stream starts, and which errors it resumes after. The stream itself, which
//! runs these, is `crate::change_stream`.

use bson::{Document, Timestamp, doc};

use super::{Aggregate, Concerns, Namespace};
use crate::{
    Error, ErrorKind,
    change_stream::event::ResumeToken,
    options::{AggregateOptions, ChangeStreamOptions},
};

/// What a change stream watches.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WatchTarget {
    /// One collection: `aggregate: "<coll>"` on its database.
    Collection(Namespace),
    /// Every collection of a database: `aggregate: 1` on it.
    Database(String),
    /// Every database: `aggregate: 1` on `admin`, with `allChangesForCluster`.
    Cluster,
}

impl WatchTarget {
    /// The namespace of the aggregate (an empty collection name: `aggregate: 1`).
    fn namespace(&self) -> Namespace {
        match self {
            WatchTarget::Collection(ns) => ns.clone(),
            WatchTarget::Database(db) => Namespace::new(db, ""),
            WatchTarget::Cluster => Namespace::new("admin", ""),
        }
    }
}

/// Where an aggregate starts the stream.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StartPoint {
    /// As the options say (the first aggregate; a resume with nothing to go on).
    Original,
    /// After this token (`resumeAfter`).
    ResumeAfter(ResumeToken),
    /// After this token, even an invalidate (`startAfter`).
    StartAfter(ResumeToken),
    /// At this cluster time (`startAtOperationTime`).
    StartAtOperationTime(Timestamp),
}

/// The `$changeStream` stage: the options the stage takes, with `start` replacing
/// `resumeAfter` / `startAfter` / `startAtOperationTime` unless it is
/// [`StartPoint::Original`].
pub(crate) fn stage(
    target: &WatchTarget,
    options: &ChangeStreamOptions,
    start: &StartPoint,
) -> Document {
    let mut stage = Document::new();
    if *target == WatchTarget::Cluster {
        stage.insert("allChangesForCluster", true);
    }
    if let Some(full) = &options.full_document {
        stage.insert("fullDocument", full.as_str());
    }
    if let Some(before) = &options.full_document_before_change {
        stage.insert("fullDocumentBeforeChange", before.as_str());
    }
    match start {
        StartPoint::Original => {
            if let Some(token) = &options.resume_after {
                stage.insert("resumeAfter", token.to_bson());
            }
            if let Some(token) = &options.start_after {
                stage.insert("startAfter", token.to_bson());
            }
            if let Some(time) = options.start_at_operation_time {
                stage.insert("startAtOperationTime", time);
            }
        }
        StartPoint::ResumeAfter(token) => {
            stage.insert("resumeAfter", token.to_bson());
        }
        StartPoint::StartAfter(token) => {
            stage.insert("startAfter", token.to_bson());
        }
        StartPoint::StartAtOperationTime(time) => {
            stage.insert("startAtOperationTime", *time);
        }
    }
    if let Some(show) = options.show_expanded_events {
        stage.insert("showExpandedEvents", show);
    }
    stage
}

/// The aggregate that opens (or reopens, from `start`) a change stream: the stage, then
/// the application's pipeline. A read: retried once under the retryable-reads rules.
pub(crate) fn aggregate(
    target: &WatchTarget,
    pipeline: &[Document],
    options: &ChangeStreamOptions,
    concerns: &Concerns,
    start: &StartPoint,
) -> Aggregate {
    let mut stages = Vec::with_capacity(pipeline.len() + 1);
    stages.push(doc! { "$changeStream": stage(target, options, start) });
    stages.extend(pipeline.iter().cloned());
    let aggregate_options = AggregateOptions {
        batch_size: options.batch_size,
        collation: options.collation.clone(),
        comment: options.comment.clone(),
        read_concern: options.read_concern.clone(),
        selection_criteria: options.selection_criteria.clone(),
        max_await_time: options.max_await_time,
        ..Default::default()
    };
    Aggregate::new(&target.namespace(), stages, aggregate_options, concerns)
}

/// The label a server (4.4+) puts on errors a change stream may resume after.
pub(crate) const RESUMABLE_CHANGE_STREAM_ERROR: &str = "ResumableChangeStreamError";

/// `CursorNotFound`: resumable whatever the server's version.
const CURSOR_NOT_FOUND: i32 = 43;

/// The codes a server older than 4.4 (wire version < 9) gives resumable errors.
const RESUMABLE_CODES_BEFORE_4_4: [i32; 17] = [
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
    63,    // StaleShardVersion
    150,   // StaleEpoch
    13388, // StaleConfig
    234,   // RetryChangeStream
    133,   // FailedToSatisfyReadPreference
];

/// Whether a change stream resumes after `error` from a `getMore` (the spec's
/// "Resumable Error"), on a server of `max_wire_version`: any error that is not the
/// server's (network, timeout, a pool cleared or a server gone from the topology while
/// it restarts); `CursorNotFound`; from wire version 9 on, an error labelled
/// `ResumableChangeStreamError`, before it one of the listed codes. Errors of the
/// driver's own making (bad arguments, undecodable replies) are not resumable.
pub(crate) fn is_resumable(error: &Error, max_wire_version: i32) -> bool {
    match &*error.kind {
        ErrorKind::Io(_)
        | ErrorKind::PoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::WaitQueueTimeout { .. } => true,
        ErrorKind::Command(command) => {
            if command.code == CURSOR_NOT_FOUND {
                true
            } else if max_wire_version >= 9 {
                error.contains_label(RESUMABLE_CHANGE_STREAM_ERROR)
            } else {
                RESUMABLE_CODES_BEFORE_4_4.contains(&command.code)
            }
        }
        _ => false,
    }
}

/// What a stream resumes from (the spec's "Resume Process"): the cached token, as
/// `startAfter` if the stream was started with `startAfter` and has returned nothing
/// yet, else as `resumeAfter`; without a token, the saved operation time (wire version
/// 7+); else the original aggregate.
pub(crate) fn resume_point(
    options: &ChangeStreamOptions,
    token: Option<&ResumeToken>,
    returned_any: bool,
    operation_time: Option<Timestamp>,
    max_wire_version: i32,
) -> StartPoint {
    match (token, operation_time) {
        (Some(token), _) if options.start_after.is_some() && !returned_any => {
            StartPoint::StartAfter(token.clone())
        }
        (Some(token), _) => StartPoint::ResumeAfter(token.clone()),
        (None, Some(time)) if max_wire_version >= 7 => StartPoint::StartAtOperationTime(time),
        (None, _) => StartPoint::Original,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bson::{RawBson, rawdoc};

    use super::*;
    use crate::{
        CommandError,
        operation::{CursorOperation, Operation, test_util::assert_command},
        options::{
            FullDocumentBeforeChangeType, FullDocumentType, ReadConcern, ReadConcernLevel,
            ReadPreference, ReadPreferenceMode,
        },
    };

    fn token(data: &str) -> ResumeToken {
        ResumeToken(RawBson::Document(rawdoc! { "_data": data }))
    }

    fn server_error(code: i32, labels: &[&str]) -> Error {
        Error::new(ErrorKind::Command(CommandError {
            code,
            code_name: String::new(),
            message: "m".into(),
            reply: Document::new(),
        }))
        .with_labels(labels.iter().copied())
    }

    #[test]
    fn a_collection_stream_sends_every_option_where_the_spec_puts_it() {
        let options = ChangeStreamOptions::builder()
            .full_document(FullDocumentType::UpdateLookup)
            .full_document_before_change(FullDocumentBeforeChangeType::WhenAvailable)
            .start_at_operation_time(Timestamp {
                time: 5,
                increment: 1,
            })
            .show_expanded_events(true)
            .batch_size(10u32)
            .comment("c")
            .read_concern(ReadConcern::new(ReadConcernLevel::Majority))
            .selection_criteria(ReadPreference::new(ReadPreferenceMode::Secondary))
            .max_await_time(Duration::from_millis(250))
            .build();
        let target = WatchTarget::Collection(Namespace::new("db", "c"));
        let mut op = aggregate(
            &target,
            &[doc! { "$match": { "operationType": "insert" } }],
            &options,
            &Concerns::default(),
            &StartPoint::Original,
        );
        assert_command(
            &mut op,
            doc! {
                "aggregate": "c",
                "pipeline": [
                    { "$changeStream": {
                        "fullDocument": "updateLookup", "fullDocumentBeforeChange": "whenAvailable",
                        "startAtOperationTime": Timestamp { time: 5, increment: 1 }, "showExpandedEvents": true,
                    } },
                    { "$match": { "operationType": "insert" } },
                ],
                "cursor": { "batchSize": 10_i64 },
                "comment": "c",
                "readConcern": { "level": "majority" },
                "$readPreference": { "mode": "secondary" },
            },
        );
        // maxAwaitTimeMS goes on each getMore, not on the aggregate.
        assert_eq!(
            op.cursor_spec().max_await_time,
            Some(Duration::from_millis(250))
        );
        assert_eq!(op.retry(), crate::retry::Retry::Read);
    }

    #[test]
    fn database_and_cluster_streams_aggregate_on_1() {
        let options = ChangeStreamOptions::default();
        let mut db = aggregate(
            &WatchTarget::Database("app".into()),
            &[],
            &options,
            &Concerns::default(),
            &StartPoint::Original,
        );
        let command = assert_command(
            &mut db,
            doc! { "aggregate": 1, "pipeline": [{ "$changeStream": {} }], "cursor": {} },
        );
        assert_eq!(command.db, "app");
        let mut cluster = aggregate(
            &WatchTarget::Cluster,
            &[],
            &options,
            &Concerns::default(),
            &StartPoint::Original,
        );
        let command = assert_command(
            &mut cluster,
            doc! { "aggregate": 1, "pipeline": [{ "$changeStream": { "allChangesForCluster": true } }], "cursor": {} },
        );
        assert_eq!(command.db, "admin");
    }

    #[test]
    fn a_resume_replaces_the_original_start_with_the_cached_token_or_time() {
        let options = ChangeStreamOptions::builder()
            .start_after(token("a"))
            .start_at_operation_time(Timestamp {
                time: 1,
                increment: 1,
            })
            .build();
        let target = WatchTarget::Collection(Namespace::new("db", "c"));
        let original = stage(&target, &options, &StartPoint::Original);
        assert_eq!(
            original,
            doc! { "startAfter": { "_data": "a" }, "startAtOperationTime": Timestamp { time: 1, increment: 1 } }
        );
        assert_eq!(
            stage(&target, &options, &StartPoint::ResumeAfter(token("b"))),
            doc! { "resumeAfter": { "_data": "b" } }
        );
        assert_eq!(
            stage(&target, &options, &StartPoint::StartAfter(token("b"))),
            doc! { "startAfter": { "_data": "b" } }
        );
        let at = Timestamp {
            time: 9,
            increment: 2,
        };
        assert_eq!(
            stage(&target, &options, &StartPoint::StartAtOperationTime(at)),
            doc! { "startAtOperationTime": at }
        );
    }

    #[test]
    fn the_resume_point_follows_the_spec() {
        let plain = ChangeStreamOptions::default();
        let started_after = ChangeStreamOptions::builder()
            .start_after(token("s"))
            .build();
        let t = token("t");
        let at = Timestamp {
            time: 3,
            increment: 4,
        };
        // startAfter, nothing returned yet: startAfter the cached token.
        assert_eq!(
            resume_point(&started_after, Some(&t), false, None, 17),
            StartPoint::StartAfter(t.clone())
        );
        // Once an event has been returned: resumeAfter.
        assert_eq!(
            resume_point(&started_after, Some(&t), true, None, 17),
            StartPoint::ResumeAfter(t.clone())
        );
        assert_eq!(
            resume_point(&plain, Some(&t), false, Some(at), 17),
            StartPoint::ResumeAfter(t.clone())
        );
        // No token: the operation time (wire version 7+), else the original command.
        assert_eq!(
            resume_point(&plain, None, false, Some(at), 7),
            StartPoint::StartAtOperationTime(at)
        );
        assert_eq!(
            resume_point(&plain, None, false, Some(at), 6),
            StartPoint::Original
        );
        assert_eq!(
            resume_point(&plain, None, false, None, 17),
            StartPoint::Original
        );
    }

    #[test]
    fn resumable_errors_are_the_specs() {
        let io = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_resumable(&io, 17));
        let timeout = Error::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(is_resumable(&timeout, 17));
        let selection = Error::new(ErrorKind::ServerSelection {
            message: "down".into(),
        });
        assert!(is_resumable(&selection, 17));
        // CursorNotFound: always.
        assert!(is_resumable(&server_error(43, &[]), 17));
        assert!(is_resumable(&server_error(43, &[]), 6));
        // 4.4+: the label decides, not the code.
        assert!(is_resumable(
            &server_error(6, &[RESUMABLE_CHANGE_STREAM_ERROR]),
            9
        ));
        assert!(is_resumable(
            &server_error(280, &[RESUMABLE_CHANGE_STREAM_ERROR]),
            17
        ));
        assert!(!is_resumable(&server_error(6, &[]), 9));
        assert!(!is_resumable(
            &server_error(280, &["NonResumableChangeStreamError"]),
            17
        ));
        // Older servers: the listed codes.
        for code in RESUMABLE_CODES_BEFORE_4_4 {
            assert!(is_resumable(&server_error(code, &[]), 8), "{code}");
        }
        assert!(!is_resumable(&server_error(11601, &[]), 8)); // Interrupted
        assert!(!is_resumable(&server_error(136, &[]), 8)); // CappedPositionLost
        assert!(!is_resumable(&server_error(237, &[]), 8)); // CursorKilled
        // The driver's own errors are not.
        assert!(!is_resumable(&Error::invalid_argument("x"), 17));
        assert!(!is_resumable(&Error::invalid_response("x"), 17));
    }
}
