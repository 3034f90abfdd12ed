//! `expectError` (unified-test-format spec, "expectedError") against the driver's
//! [`Error`]: client or server origin, message, code, code name, labels, the server's
//! response and partial results.

use bson::{Bson, Document};
use greenmongo::{
    Error, ErrorKind,
    error::{WriteConcernError, WriteError, WriteFailure},
};

use super::{
    bulk::{bulk_write_result, client_bulk_write_result, write_concern_error, write_error},
    format::ExpectedError,
    matching::{EntityLookup, matches},
    operations::insert_many_result,
    outcome::{Step, Stop, fail},
};

/// The server errors an [`Error`] carries: (code, codeName, message).
fn server_errors(error: &Error) -> Vec<(i32, &str, &str)> {
    fn write(e: &WriteError) -> (i32, &str, &str) {
        (e.code, &e.code_name, &e.message)
    }
    fn concern(e: &WriteConcernError) -> (i32, &str, &str) {
        (e.code, &e.code_name, &e.message)
    }
    match &*error.kind {
        ErrorKind::Command(c) => vec![(c.code, c.code_name.as_str(), c.message.as_str())],
        ErrorKind::Write(WriteFailure::WriteError(e)) => vec![write(e)],
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => vec![concern(e)],
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .map(write)
            .chain(e.write_concern_error.iter().map(concern))
            .collect(),
        ErrorKind::CollectionBulkWrite(e) => e
            .write_errors
            .iter()
            .map(write)
            .chain(e.write_concern_error.iter().map(concern))
            .collect(),
        ErrorKind::BulkWrite(e) => {
            let mut by_index: Vec<_> = e.write_errors.iter().collect();
            by_index.sort_by_key(|(i, _)| **i);
            by_index
                .into_iter()
                .map(|(_, e)| write(e))
                .chain(e.write_concern_errors.iter().map(concern))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Whether the error came from the client rather than from a server reply.
fn is_client_error(error: &Error) -> bool {
    !matches!(
        &*error.kind,
        ErrorKind::Command(_)
            | ErrorKind::Write(_)
            | ErrorKind::InsertMany(_)
            | ErrorKind::CollectionBulkWrite(_)
            | ErrorKind::BulkWrite(_)
    )
}

/// The server response behind the error, as far as the driver keeps it: the code, code
/// name and message of a command error.
fn response(error: &Error) -> Option<Document> {
    match &*error.kind {
        ErrorKind::Command(c) => Some(c.reply.clone()),
        _ => None,
    }
}

/// Checks every assertion of `expected` against `error`.
pub fn check(expected: &ExpectedError, error: &Error, entities: EntityLookup<'_>) -> Step {
    if let Some(timeout) = expected.is_timeout_error
        && timeout != error.is_timeout()
    {
        return fail!(
            "expected {}a timeout error, got {error:?}",
            if timeout { "" } else { "not " }
        );
    }
    let servers = server_errors(error);
    if let Some(client) = expected.is_client_error
        && client != is_client_error(error)
    {
        return fail!(
            "expected a {} error, got {error:?}",
            if client { "client" } else { "server" }
        );
    }
    if let Some(text) = &expected.error_contains {
        let mut message = error.to_string();
        for (_, _, m) in &servers {
            message.push('\n');
            message.push_str(m);
        }
        if !message.to_lowercase().contains(&text.to_lowercase()) {
            return fail!("expected the error message to contain {text:?}, got {message:?}");
        }
    }
    if let Some(code) = expected.error_code
        && !servers.iter().any(|(c, _, _)| *c == code)
    {
        return fail!("expected error code {code}, got {error}");
    }
    if let Some(name) = &expected.error_code_name
        && !servers.iter().any(|(_, n, _)| n.eq_ignore_ascii_case(name))
    {
        return fail!("expected code name {name}, got {error}");
    }
    for label in expected.error_labels_contain.iter().flatten() {
        if !error.contains_label(label) {
            return fail!("expected label {label}, got {error}");
        }
    }
    for label in expected.error_labels_omit.iter().flatten() {
        if error.contains_label(label) {
            return fail!("expected no label {label}, got {error}");
        }
    }
    if let Some(want) = &expected.error_response {
        let Some(got) = response(error) else {
            return fail!("expected a server response in the error, got {error}");
        };
        matches(
            &Bson::Document(want.clone()),
            Some(&Bson::Document(got)),
            true,
            entities,
        )
        .map_err(|e| Stop::Fail(format!("errorResponse: {e}")))?;
    }
    if let Some(want) = &expected.expect_result {
        let partial = match &*error.kind {
            ErrorKind::InsertMany(e) => Some(insert_many_result(&e.inserted_ids)),
            ErrorKind::CollectionBulkWrite(e) => Some(bulk_write_result(&e.partial_result)),
            ErrorKind::BulkWrite(e) => e.partial_result.as_ref().map(client_bulk_write_result),
            _ => None,
        };
        matches(want, partial.map(Bson::Document).as_ref(), true, entities)
            .map_err(|e| Stop::Fail(format!("partial result: {e}")))?;
    }
    check_client_bulk_write_errors(expected, error, entities)
}

/// `writeErrors` (by index, the same indexes) and `writeConcernErrors` (the same number,
/// in order) of a client bulk write error; each error is matched as a root document.
fn check_client_bulk_write_errors(
    expected: &ExpectedError,
    error: &Error,
    entities: EntityLookup<'_>,
) -> Step {
    if expected.write_errors.is_none() && expected.write_concern_errors.is_none() {
        return Ok(());
    }
    let ErrorKind::BulkWrite(e) = &*error.kind else {
        return fail!("expected a client bulk write error, got {error}");
    };
    if let Some(want) = &expected.write_errors {
        let mut indexes: Vec<usize> = e.write_errors.keys().copied().collect();
        indexes.sort_unstable();
        let wanted: Vec<&String> = want.keys().collect();
        if wanted.len() != indexes.len()
            || wanted
                .iter()
                .any(|k| k.parse().map_or(true, |i| !indexes.contains(&i)))
        {
            return fail!("expected write errors at {wanted:?}, got them at {indexes:?}: {error}");
        }
        for (index, want) in want {
            let got = &e.write_errors[&index.parse::<usize>().unwrap_or_default()];
            matches(
                want,
                Some(&Bson::Document(write_error(got))),
                true,
                entities,
            )
            .map_err(|m| Stop::Fail(format!("writeErrors.{index}: {m}")))?;
        }
    }
    if let Some(want) = &expected.write_concern_errors {
        let got: Vec<Bson> = e
            .write_concern_errors
            .iter()
            .map(|c| Bson::Document(write_concern_error(c)))
            .collect();
        if want.len() != got.len() {
            return fail!(
                "expected {} write concern errors, got {}: {error}",
                want.len(),
                got.len()
            );
        }
        for (i, (want, got)) in want.iter().zip(&got).enumerate() {
            matches(&Bson::Document(want.clone()), Some(got), true, entities)
                .map_err(|m| Stop::Fail(format!("writeConcernErrors.{i}: {m}")))?;
        }
    }
    Ok(())
}
