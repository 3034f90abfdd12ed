//! Operation timeouts (the Client Side Operations Timeout spec's `timeoutMS`), built on
//! the runtime's deadlines.
//!
//! An operation's time budget *is* the runtime deadline: [`scope`] runs an action under
//! `with_deadline(start + timeoutMS)` (or under the caller's own deadline, if earlier), so
//! every wait inside it (server selection, pool checkout, connect, TLS, the handshake,
//! socket reads and writes, every retry, every batch) is cut when it passes, and the
//! executor derives each command's `maxTimeMS` from what is left ([`max_time_ms`]). A
//! deadline the caller set with [`with_timeout`](crate::runtime::time::with_timeout)
//! around driver code is the same thing, so it bounds the operations inside it and
//! reaches the server as `maxTimeMS` too. Background work (monitors, pool maintenance)
//! never runs under an operation's deadline.
//!
//! While a deadline is in force, the deprecated timeouts it replaces are ignored:
//! `socketTimeoutMS`, `waitQueueTimeoutMS`, `wTimeoutMS` and the operations' `maxTimeMS`.

use std::time::{Duration, Instant};

use crate::{
    error::{Error, ErrorKind, Result},
    runtime::time::{deadline, with_deadline},
};

/// The server's code for an operation its `maxTimeMS` cut short.
const MAX_TIME_MS_EXPIRED: i32 = 50;

/// Runs an operation's body under its time budget: `timeout` from now (`None` or zero:
/// none of its own), or the caller's deadline when that comes first. A failure caused by
/// the budget running out becomes an [`ErrorKind::Timeout`] that names which deadline ran
/// out and after how long, with the underlying error as its source.
pub(crate) fn scope<R>(timeout: Option<Duration>, body: impl FnOnce() -> Result<R>) -> Result<R> {
    Budget::start(timeout).run(body)
}

/// An operation's timeout: its own (`.timeout(d)`), else the one it inherits from its
/// collection, database, bucket or client.
///
/// # Errors
/// Its own inside a `with_transaction` callback that has a timeout: the callback's
/// operations share the transaction's (the CSOT spec refuses an override there).
pub(crate) fn of_operation(
    own: Option<Duration>,
    inherited: Option<Duration>,
    session: Option<&crate::ClientSession>,
) -> Result<Option<Duration>> {
    if own.is_some() && session.is_some_and(|s| s.in_timed_callback) {
        return Err(Error::invalid_argument(
            "an operation in a with_transaction callback cannot set its own timeout when the \
             transaction has one (timeoutMS): the callback's operations share it",
        ));
    }
    Ok(own.or(inherited))
}

/// An operation's time budget, fixed when it starts; a cursor keeps its own to bound its
/// `getMore`s (`timeoutMode: cursorLifetime`). Without a timeout of its own or of the
/// caller's it is unbounded and costs nothing (not even a clock read).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget(Option<Bound>);

/// A bounded budget: when it started, when it runs out, and which deadline that is.
#[derive(Clone, Copy, Debug)]
struct Bound {
    started: Instant,
    at: Instant,
    origin: Origin,
}

impl Budget {
    /// The budget of an operation starting now with `timeout` (`None` or zero: none of its
    /// own), within the caller's deadline.
    pub(crate) fn start(timeout: Option<Duration>) -> Budget {
        let own = timeout.filter(|t| !t.is_zero());
        let caller = deadline();
        if own.is_none() && caller.is_none() {
            return Budget(None);
        }
        let started = Instant::now();
        let own_at = own.and_then(|t| started.checked_add(t));
        let (at, origin) = match (own_at, caller) {
            (Some(own_at), Some(caller)) if caller < own_at => (caller, Origin::Caller),
            (Some(own_at), _) => (own_at, Origin::TimeoutMs(own.unwrap_or_default())),
            (None, Some(caller)) => (caller, Origin::Caller),
            // Only an own timeout too long to represent: no bound in practice.
            (None, None) => return Budget(None),
        };
        Budget(Some(Bound {
            started,
            at,
            origin,
        }))
    }

    /// Runs `body` under the budget's deadline; see [`scope`].
    pub(crate) fn run<R>(&self, body: impl FnOnce() -> Result<R>) -> Result<R> {
        match self.0 {
            None => body(),
            Some(bound) => with_deadline(bound.at, body).map_err(|e| bound.explain(e)),
        }
    }

    /// The `timeoutMS` the budget was made from, if it was (not the caller's deadline).
    fn timeout_ms(&self) -> Option<Duration> {
        match self.0?.origin {
            Origin::TimeoutMs(t) => Some(t),
            Origin::Caller => None,
        }
    }
}

impl Bound {
    /// `error`, or a timeout error wrapping it when the budget caused it.
    fn explain(&self, error: Error) -> Error {
        // A timeout from an inner budget already says what ran out; one found before
        // sending (no source) gets this budget's account around it.
        if matches!(
            &*error.kind,
            ErrorKind::Timeout {
                source: Some(_),
                ..
            }
        ) {
            return error;
        }
        let now = Instant::now();
        if now < self.at
            && !error.is_timeout()
            && !is_max_time_expired(&error)
            && !selection_timed_out(&error)
        {
            return error;
        }
        let what = match self.origin {
            Origin::TimeoutMs(t) => format!("timeoutMS={}", t.as_millis()),
            Origin::Caller => "the caller's deadline".to_owned(),
        };
        let message = format!(
            "{what} ran out after {:?} {}",
            now.saturating_duration_since(self.started),
            describe_cause(&error)
        );
        timeout_error(message, Some(error))
    }
}

/// How `timeoutMS` applies to the cursor an operation opens (the CSOT spec's
/// `timeoutMode`).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use bson::{doc, Document};
/// use greenmongo::options::TimeoutMode;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// // Each batch within 200 ms, however long the whole scan takes.
/// let cursor = items
///     .find(doc! {})
///     .timeout(Duration::from_millis(200))
///     .timeout_mode(TimeoutMode::Iteration)
///     .run()?;
/// for item in cursor {
///     println!("{}", item?);
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutMode {
    /// The query and every `getMore` of its cursor finish within `timeoutMS` of the
    /// query's start (the default for cursors that are not tailable). Buffered documents
    /// are still returned after it runs out; only a fetch fails.
    CursorLifetime,
    /// The query, then each iteration that fetches (each `next` call), gets `timeoutMS`
    /// of its own; no `maxTimeMS` is sent (the default, and the only mode, for tailable
    /// cursors and change streams).
    Iteration,
}

/// How an operation that opens a cursor is timed: its `timeoutMS` (resolved from the
/// operation, session, collection, database or client) and `timeoutMode`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CursorTiming {
    pub(crate) timeout: Option<Duration>,
    pub(crate) mode: Option<TimeoutMode>,
}

/// The time budget a cursor keeps for its fetches.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum CursorBudget {
    /// No `timeoutMS`: only a deadline the caller sets around an iteration applies.
    #[default]
    Unbounded,
    /// `cursorLifetime`: the budget of the operation that opened the cursor.
    Lifetime(Budget),
    /// `iteration`: this much for each iteration that fetches.
    Iteration(Duration),
}

impl CursorBudget {
    /// Runs one iteration's fetching under the budget.
    pub(crate) fn run<R>(&self, body: impl FnOnce() -> Result<R>) -> Result<R> {
        match self {
            CursorBudget::Unbounded => scope(None, body),
            CursorBudget::Lifetime(budget) => budget.run(body),
            CursorBudget::Iteration(timeout) => scope(Some(*timeout), body),
        }
    }

    /// The `timeoutMS` to refresh for closing the cursor, if it has one.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        match self {
            CursorBudget::Unbounded => None,
            CursorBudget::Lifetime(budget) => budget.timeout_ms(),
            CursorBudget::Iteration(timeout) => Some(*timeout),
        }
    }
}

impl CursorTiming {
    /// Checks the combination the CSOT spec forbids and plans the timing of the cursor:
    /// the budget of the opening command, whether that command carries `maxTimeMS`, and
    /// what the cursor keeps.
    ///
    /// # Errors
    /// `timeoutMode` without `timeoutMS`; `cursorLifetime` on a tailable cursor;
    /// `iteration` for an aggregate that writes (`$out`, `$merge`); `maxAwaitTimeMS` not
    /// below `timeoutMS`.
    pub(crate) fn plan(
        &self,
        tailable: bool,
        max_await_time: Option<Duration>,
        writes: bool,
    ) -> Result<(Budget, bool, CursorBudget)> {
        let timeout = self.timeout.filter(|t| !t.is_zero());
        if self.mode.is_some() && self.timeout.is_none() {
            return Err(Error::invalid_argument(
                "timeoutMode requires timeoutMS (set timeout on the operation or a parent)",
            ));
        }
        let mode = self.mode.unwrap_or(if tailable {
            TimeoutMode::Iteration
        } else {
            TimeoutMode::CursorLifetime
        });
        if tailable && mode == TimeoutMode::CursorLifetime {
            return Err(Error::invalid_argument(
                "a tailable cursor's timeoutMode must be iteration",
            ));
        }
        if writes && mode == TimeoutMode::Iteration {
            return Err(Error::invalid_argument(
                "timeoutMode iteration is not allowed for an aggregate with $out or $merge",
            ));
        }
        if let (Some(timeout), Some(wait)) = (timeout, max_await_time)
            && wait >= timeout
        {
            return Err(Error::invalid_argument(format!(
                "maxAwaitTimeMS ({} ms) must be less than timeoutMS ({} ms)",
                wait.as_millis(),
                timeout.as_millis()
            )));
        }
        let budget = Budget::start(self.timeout);
        let kept = match (timeout, mode) {
            (None, _) => CursorBudget::Unbounded,
            (Some(_), TimeoutMode::CursorLifetime) => CursorBudget::Lifetime(budget),
            (Some(t), TimeoutMode::Iteration) => CursorBudget::Iteration(t),
        };
        // Under iteration the query's maxTimeMS would outlive it as the cursor's limit.
        let max_time = mode == TimeoutMode::CursorLifetime && !tailable;
        Ok((budget, max_time, kept))
    }
}

/// Where the deadline of an operation came from, for its timeout error.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// The operation's `timeoutMS` (set on it, or inherited from its session,
    /// collection, database or client).
    TimeoutMs(Duration),
    /// A deadline the caller set around the operation (`runtime::time::with_timeout`,
    /// a cursor's lifetime, a transaction's budget).
    Caller,
}

/// A timeout error: `message` says which deadline ran out, after how long and while doing
/// what; `source` is the error the interrupted step ended with. Its labels are the
/// source's, so a transaction still sees `TransientTransactionError`.
pub(crate) fn timeout_error(message: String, source: Option<Error>) -> Error {
    let labels: Vec<String> = source
        .iter()
        .flat_map(|e| e.labels().map(str::to_owned))
        .collect();
    Error::new(ErrorKind::Timeout { message, source }).with_labels(labels)
}

/// Whether server selection gave up because its own limit (`serverSelectionTimeoutMS`,
/// the smaller of the two under a deadline) ran out: under a deadline that is a timeout.
fn selection_timed_out(error: &Error) -> bool {
    matches!(&*error.kind, ErrorKind::ServerSelection { message } if message.contains("serverSelectionTimeoutMS"))
}

/// What the operation was doing when its time ran out, from the error that step gave.
fn describe_cause(error: &Error) -> &'static str {
    match &*error.kind {
        ErrorKind::ServerSelection { .. } => "while selecting a server",
        ErrorKind::WaitQueueTimeout { .. } => "while waiting to check out a connection",
        ErrorKind::Io(e) if e.to_string().contains("check out") => {
            "while waiting to check out a connection"
        }
        ErrorKind::Io(_) => "waiting on the network",
        ErrorKind::Timeout { .. } => "before sending a command",
        _ if is_max_time_expired(error) => "on the server (MaxTimeMSExpired)",
        _ => "",
    }
}

/// Whether `error` is the server's `MaxTimeMSExpired` (code 50), at the top level, in a
/// write error or in a write concern error; the code alone decides (the CSOT spec).
pub(crate) fn is_max_time_expired(error: &Error) -> bool {
    error.code() == Some(MAX_TIME_MS_EXPIRED)
}

/// The `maxTimeMS` for a command sent now under the deadline in force: what is left of it
/// minus the server's minimum round-trip time, so the reply can still arrive in time.
/// `None` without a deadline.
///
/// # Errors
/// A timeout error when less than a round trip is left: the command is not sent (it would
/// only time out on the socket and churn the connection).
pub(crate) fn max_time_ms(min_rtt: Duration) -> Result<Option<i64>> {
    let Some(at) = deadline() else {
        return Ok(None);
    };
    let left = at.saturating_duration_since(Instant::now());
    match left.checked_sub(min_rtt) {
        Some(budget) if budget.as_millis() > 0 => {
            Ok(Some(i64::try_from(budget.as_millis()).unwrap_or(i64::MAX)))
        }
        // Not a network error: nothing was sent, and nothing is retried.
        _ if left.is_zero() => Err(timeout_error(
            "no time was left to send the command".to_owned(),
            None,
        )),
        _ => Err(timeout_error(
            format!(
                "{left:?} left, less than the server's minimum round trip ({min_rtt:?}): \
                 the command was not sent"
            ),
            None,
        )),
    }
}

/// Whether the time left before the deadline in force (if any) has run out.
pub(crate) fn expired() -> bool {
    deadline().is_some_and(|at| Instant::now() >= at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{sleep, time::with_timeout};

    #[test]
    fn a_wait_cut_by_timeout_ms_is_a_timeout_error_naming_it_and_its_cause() {
        let err = scope(Some(Duration::from_millis(20)), || {
            sleep(Duration::from_secs(5))?;
            Ok(())
        })
        .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let text = err.to_string();
        assert!(text.contains("timeoutMS=20 ran out after"), "{text}");
        assert!(std::error::Error::source(&err).is_some(), "{text}");
    }

    #[test]
    fn the_callers_earlier_deadline_is_named_as_such() {
        let err = with_timeout(Duration::from_millis(10), || {
            scope(Some(Duration::from_secs(60)), || {
                sleep(Duration::from_secs(5))?;
                Ok(())
            })
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("the caller's deadline ran out"),
            "{err}"
        );
    }

    #[test]
    fn errors_not_caused_by_the_deadline_pass_through() {
        let err = scope(Some(Duration::from_secs(60)), || -> Result<()> {
            Err(Error::invalid_argument("nope"))
        })
        .unwrap_err();
        assert!(!err.is_timeout());
        // Without any deadline nothing is converted, even a socket timeout.
        let io = scope(None, || -> Result<()> {
            Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into())
        })
        .unwrap_err();
        assert!(!io.is_timeout() && io.is_network_timeout());
    }

    #[test]
    fn max_time_ms_leaves_a_round_trip_and_refuses_when_none_is_left() {
        assert_eq!(max_time_ms(Duration::ZERO).unwrap(), None);
        with_timeout(Duration::from_secs(10), || {
            let ms = max_time_ms(Duration::from_secs(1)).unwrap().unwrap();
            assert!((8_000..=9_000).contains(&ms), "{ms}");
            assert!(
                max_time_ms(Duration::from_secs(11))
                    .unwrap_err()
                    .is_timeout()
            );
        });
    }
}
