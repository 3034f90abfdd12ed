//! Which failures may be retried (the retryable-writes and retryable-reads specs).

use crate::{Error, ErrorKind};

/// Whether an operation may be retried once, and by which spec's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Not retryable (multi-document writes, getMore, killCursors, most commands).
    No,
    /// A read (find, aggregate without $out, count, distinct, list*).
    Read,
    /// A single-statement write (insert, update/replace/delete one, findAndModify,
    /// bulk writes without multi-document statements).
    Write,
}

/// Server error codes after which a read or a write may be retried once.
const RETRYABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    134,   // ReadConcernMajorityNotAvailableYet (reads only, harmless for writes)
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Whether a server error code is one of the retryable ones.
pub(crate) fn is_retryable_code(code: i32) -> bool {
    RETRYABLE_CODES.contains(&code)
}

pub(crate) use crate::error::RETRYABLE_WRITE_ERROR;

/// Whether a read may be retried: a network error, or one of the retryable codes.
pub(crate) fn is_retryable_read_error(error: &Error) -> bool {
    error.is_network_error() || error.code().is_some_and(|c| RETRYABLE_CODES.contains(&c))
}

/// Whether a write may be retried. From wire version 9 (4.4) the server labels
/// retryable errors itself; before that the driver judges by code. Network errors always
/// qualify.
pub(crate) fn is_retryable_write_error(error: &Error, max_wire_version: i32) -> bool {
    if error.is_network_error() || error.contains_label(RETRYABLE_WRITE_ERROR) {
        return true;
    }
    if max_wire_version >= 9 {
        return false;
    }
    match &*error.kind {
        ErrorKind::Command(c) => RETRYABLE_CODES.contains(&c.code),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CommandError;

    fn command_error(code: i32) -> Error {
        Error::new(ErrorKind::Command(CommandError {
            code,
            code_name: String::new(),
            message: String::new(),
            reply: bson::Document::new(),
        }))
    }

    #[test]
    fn network_errors_and_listed_codes_are_retryable() {
        let network = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_retryable_read_error(&network));
        assert!(is_retryable_write_error(&network, 21));
        assert!(is_retryable_read_error(&command_error(10107)));
        assert!(!is_retryable_read_error(&command_error(11000)));
    }

    #[test]
    fn modern_servers_decide_write_retryability_by_label() {
        assert!(!is_retryable_write_error(&command_error(10107), 21));
        assert!(is_retryable_write_error(&command_error(10107), 8));
        let labelled = command_error(11000).with_labels([RETRYABLE_WRITE_ERROR]);
        assert!(is_retryable_write_error(&labelled, 21));
    }
}
