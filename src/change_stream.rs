//! Change streams (the change-streams spec): [`ChangeStream`], a blocking [`Iterator`]
//! over the changes to a collection, a database or a whole deployment, that resumes by
//! itself after a failover or a lost connection.
//!
//! Open one with [`Collection::watch`](crate::Collection::watch),
//! [`Database::watch`](crate::Database::watch) or [`Client::watch`](crate::Client::watch)
//! (options: [`ChangeStreamOptions`]). Prefer these
//! helpers to an `aggregate` with a `$changeStream` stage of your own: only they resume.
//! Change streams need a replica set or a sharded cluster, and a read concern of
//! `majority` or none.
//!
//! ```no_run
//! use bson::{doc, Document};
//!
//! let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
//! let orders = client.database("shop").collection::<Document>("orders");
//! let stream = orders.watch().pipeline([doc! { "$match": { "operationType": "insert" } }]).run()?;
//! for event in stream {
//!     println!("new order: {:?}", event?.full_document);
//! }
//! # Ok::<(), greenmongo::Error>(())
//! ```

pub mod event;
pub(crate) mod options;

use std::{fmt, marker::PhantomData, time::Duration};

use bson::{Document, RawBson, RawDocumentBuf, Timestamp};
use serde::de::DeserializeOwned;

use self::event::ResumeToken;
use crate::{
    Client, ClientSession, Cursor, Error, Result,
    operation::{
        Concerns, Operation,
        change_stream::{self as op, StartPoint, WatchTarget},
    },
    options::ChangeStreamOptions,
    selection::Criteria,
    timeout::CursorTiming,
};

/// A change stream: an [`Iterator`] of `Result<T>` (`T` is a
/// [`ChangeStreamEvent`](event::ChangeStreamEvent) unless [`with_type`](Self::with_type)
/// says otherwise) over a tailable `awaitData` cursor.
///
/// # Waiting
///
/// [`next`](Iterator::next) waits until there is a change: each `getMore` waits on the
/// server up to `max_await_time` (the server's default is one second) and the stream asks
/// again until a change comes, blocking the thread or, in a coroutine of
/// [`runtime`](crate::runtime), parking only that coroutine.
/// [`next_if_any`](Self::next_if_any) sends at most one `getMore` and returns `None` when
/// nothing came. An `invalidate` event (the collection dropped or renamed, the database
/// dropped) is returned, and the stream ends after it (`next` returns `None`).
///
/// # Resuming
///
/// After a resumable error (a network error, a server going away, `CursorNotFound`, an
/// error the server labels `ResumableChangeStreamError`; see the spec) the stream resumes
/// once by itself: it kills its old cursor, selects a server again with its read
/// preference and reruns its `aggregate` from the cached resume token (`resumeAfter`, or
/// `startAfter` when started with it and nothing was returned yet), else from the
/// operation time of its first `aggregate`, in the same session. No change is lost or
/// repeated. Any other error is returned and ends the stream.
///
/// To resume in another process, store [`resume_token`](Self::resume_token) after each
/// event: it is the token the stream itself would resume from, advanced by the server's
/// `postBatchResumeToken` even when no event matches. Iterating with
/// [`next_if_any`](Self::next_if_any) and storing the token after every call (`None`
/// included) keeps it as fresh as it gets; give it back with
/// [`resume_after`](crate::action::Watch::resume_after) or
/// [`start_after`](crate::action::Watch::start_after).
///
/// # Many streams and the connection pool
///
/// An open stream holds a server-side cursor and a server session, but a pool connection
/// only while a `getMore` is in flight. A waiting `getMore` (`awaitData`) holds its
/// connection until a change comes or `max_await_time` runs out, so N coroutines each
/// waiting on a stream need `maxPoolSize` >= N to wait at once; with fewer connections
/// the rest queue for one (in FIFO order, failing after `waitQueueTimeoutMS` if it is
/// set) and each sees its changes up to about `max_await_time` x (N / `maxPoolSize`)
/// later. A short `max_await_time` cycles the connections faster, at the cost of more
/// `getMore`s. Thousands of streams fit in one process (coroutines are cheap); the limits
/// are the server's: one cursor and one session per stream (MongoDB caps sessions at
/// 1,000,000 by default, SecantusDB at its `--session-max`) and one connection per
/// concurrently waiting `getMore`. Dropping a stream kills its cursor (waiting at most a
/// second).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let mut stream = items.watch().run()?;
/// items.insert_one(doc! { "sku": "fig" }).run()?;
/// let event = stream.next().expect("a stream does not end by itself")?;
/// assert_eq!(event.full_document.unwrap().get_str("sku").unwrap(), "fig");
/// let saved = stream.resume_token(); // store it to continue later
/// # let _ = saved;
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub struct ChangeStream<T> {
    stream: Stream,
    _type: PhantomData<fn() -> T>,
}

/// A change stream's state, whatever it yields.
struct Stream {
    client: Client,
    target: WatchTarget,
    pipeline: Vec<Document>,
    options: ChangeStreamOptions,
    concerns: Concerns,
    /// The session of every `aggregate` and `getMore` of the stream (a resume uses the
    /// same one, as the spec asks); `None` where the deployment has no sessions.
    session: Option<ClientSession>,
    /// `None` once a resume failed.
    cursor: Option<Cursor<RawDocumentBuf>>,
    /// The cached resume token (the spec's "Updating the Cached Resume Token").
    token: Option<ResumeToken>,
    /// The `startAtOperationTime` given, or the `operationTime` of the first `aggregate`
    /// when it had nothing to resume from.
    operation_time: Option<Timestamp>,
    /// Whether an event has been returned (decides `startAfter` vs `resumeAfter`).
    returned_any: bool,
    /// The max wire version of the server of the latest `aggregate`.
    wire_version: i32,
    /// An `invalidate` was returned or a non-resumable error ended the stream.
    ended: bool,
    /// `timeoutMS`: of the opening `aggregate`, then of each iteration.
    timeout: Option<Duration>,
    /// An iteration ran out of time mid-`getMore`: the next one resumes first (the CSOT
    /// spec: a timeout does not end the stream).
    resume_first: bool,
}

impl<T> fmt::Debug for ChangeStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeStream")
            .field("target", &self.stream.target)
            .field("cursor", &self.stream.cursor)
            .field("resume_token", &self.stream.token)
            .field("ended", &self.stream.ended)
            .finish_non_exhaustive()
    }
}

impl<T> ChangeStream<T> {
    /// Opens a stream: its session, then its first `aggregate`.
    pub(crate) fn open(
        client: Client,
        target: WatchTarget,
        pipeline: Vec<Document>,
        options: ChangeStreamOptions,
        concerns: Concerns,
        timeout: Option<Duration>,
    ) -> Result<ChangeStream<T>> {
        let criteria = op::aggregate(
            &target,
            &pipeline,
            &options,
            &concerns,
            &StartPoint::Original,
        )
        .criteria();
        let session = crate::timeout::scope(timeout, || session_for(&client, &criteria))?;
        let mut stream = Stream {
            client,
            target,
            pipeline,
            operation_time: options.start_at_operation_time,
            options,
            concerns,
            session,
            cursor: None,
            token: None,
            returned_any: false,
            wire_version: 0,
            ended: false,
            timeout,
            resume_first: false,
        };
        // The spec: a token given is the cached token from the start.
        stream.token = stream
            .options
            .start_after
            .clone()
            .or_else(|| stream.options.resume_after.clone());
        stream.aggregate(&StartPoint::Original)?;
        Ok(ChangeStream {
            stream,
            _type: PhantomData,
        })
    }

    /// The same stream, yielding `U`s: another event type (e.g. [`Document`], to see
    /// every field the server sent, or a struct of your own for a pipeline that
    /// reshapes the events).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut raw = items.watch().run()?.with_type::<Document>();
    /// if let Some(event) = raw.next_if_any()? {
    ///     println!("{event}");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_type<U>(self) -> ChangeStream<U> {
        ChangeStream {
            stream: self.stream,
            _type: PhantomData,
        }
    }

    /// The token the stream would resume from now: the server's
    /// `postBatchResumeToken` after a batch it has returned entirely, else the `_id` of
    /// the last event returned; at first the `start_after` or `resume_after` given.
    /// `None` before the server has sent any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut stream = items.watch().run()?;
    /// while let Some(event) = stream.next_if_any()? {
    ///     println!("{:?}", event.operation_type);
    /// }
    /// // Later, elsewhere: pick up after the last change seen.
    /// let again = items.watch().resume_after(stream.resume_token()).run()?;
    /// # let _ = again;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn resume_token(&self) -> Option<ResumeToken> {
        self.stream.token.clone()
    }

    /// Whether the stream may still yield events: `false` after an `invalidate` event, or
    /// once an error ended it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut stream = items.watch().run()?;
    /// items.drop().run()?;
    /// for event in &mut stream {
    ///     println!("{:?}", event?.operation_type); // Drop, then Invalidate
    /// }
    /// assert!(!stream.is_alive());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        !self.stream.ended
            && self
                .stream
                .cursor
                .as_ref()
                .is_some_and(|c| c.is_alive() || c.buffered() > 0)
    }
}

impl<T: DeserializeOwned> ChangeStream<T> {
    /// The next event if there is one now: one from the current batch, else the result
    /// of at most one `getMore` (which waits on the server up to `max_await_time`);
    /// `None` when nothing came. The resume token advances either way, so storing
    /// [`resume_token`](Self::resume_token) after each call keeps it current.
    ///
    /// # Errors
    /// As [`next`](Iterator::next): an error the stream could not resume after.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut stream = items.watch().max_await_time(Duration::from_millis(100)).run()?;
    /// match stream.next_if_any()? {
    ///     Some(event) => println!("{:?}", event.operation_type),
    ///     None => println!("nothing new"),
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn next_if_any(&mut self) -> Result<Option<T>> {
        let stream = &mut self.stream;
        match crate::timeout::scope(stream.timeout, || stream.next_raw(false))? {
            Some(raw) => deserialize(&raw).map(Some),
            None => Ok(None),
        }
    }
}

impl<T: DeserializeOwned> Iterator for ChangeStream<T> {
    type Item = Result<T>;

    /// The next event, waiting for one; `None` after an `invalidate` event or an error.
    fn next(&mut self) -> Option<Result<T>> {
        let stream = &mut self.stream;
        match crate::timeout::scope(stream.timeout, || stream.next_raw(true)) {
            Ok(Some(raw)) => Some(deserialize(&raw)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

fn deserialize<T: DeserializeOwned>(raw: &RawDocumentBuf) -> Result<T> {
    crate::nesting::deserialize(raw)
}

/// The stream's own session: every `aggregate` and `getMore` of it runs in one session,
/// not causally consistent (so it adds nothing to the commands but `lsid`). `None` where
/// the deployment has no sessions.
fn session_for(client: &Client, criteria: &Criteria) -> Result<Option<ClientSession>> {
    if client.session_timeout().is_none() {
        client.select(criteria)?;
        if client.session_timeout().is_none() {
            return Ok(None);
        }
    }
    client
        .start_session()
        .causal_consistency(false)
        .run()
        .map(Some)
}

impl Stream {
    /// Runs the stream's `aggregate` from `start` and makes its cursor the stream's.
    fn aggregate(&mut self, start: &StartPoint) -> Result<()> {
        let aggregate = op::aggregate(
            &self.target,
            &self.pipeline,
            &self.options,
            &self.concerns,
            start,
        );
        let cursor: Cursor<RawDocumentBuf> = self.client.execute_cursor_operation_in(
            aggregate,
            self.session.as_mut(),
            CursorTiming {
                timeout: self.timeout,
                mode: None,
            },
        )?;
        self.wire_version = cursor
            .address()
            .map_or(0, |a| self.client.max_wire_version(a));
        let empty = cursor.buffered() == 0;
        match cursor.post_batch_resume_token() {
            Some(token) if empty => self.token = Some(token_of(token)),
            None if empty
                && *start == StartPoint::Original
                && self.operation_time.is_none()
                && self.token.is_none()
                && self.wire_version >= 7 =>
            {
                // The spec: nothing to resume from yet but the aggregate's time.
                self.operation_time = self.session.as_ref().and_then(|s| s.operation_time());
            }
            _ => {}
        }
        self.cursor = Some(cursor);
        Ok(())
    }

    /// The next event document: from the batch, else by `getMore`s (as many as it takes
    /// when `wait`, else at most one), resuming once after a resumable error.
    fn next_raw(&mut self, wait: bool) -> Result<Option<RawDocumentBuf>> {
        let mut fetched = false;
        if std::mem::take(&mut self.resume_first) && !self.ended {
            self.resume()?;
        }
        loop {
            if self.ended {
                return Ok(None);
            }
            let Some(cursor) = &mut self.cursor else {
                return Ok(None);
            };
            if let Some(raw) = cursor.take_buffered() {
                return self.deliver(raw).map(Some);
            }
            if !cursor.is_alive() || (fetched && !wait) {
                return Ok(None);
            }
            fetched = true;
            match cursor.get_more_in(self.session.as_mut()) {
                Ok(()) => {
                    if cursor.buffered() == 0
                        && let Some(token) = cursor.post_batch_resume_token()
                    {
                        self.token = Some(token_of(token));
                    }
                }
                Err(e) if e.is_network_timeout() && crate::timeout::expired() => {
                    // The iteration's time ran out, not the stream: resume next time.
                    self.resume_first = true;
                    return Err(e);
                }
                Err(e) if op::is_resumable(&e, self.wire_version) => {
                    tracing::debug!(error = %e, "change stream resuming");
                    self.resume()?;
                }
                Err(e) => {
                    self.end();
                    return Err(e);
                }
            }
        }
    }

    /// The spec's resume process: the old cursor killed where it lives, then the
    /// `aggregate` again (selecting a server again) from the cached token or time.
    fn resume(&mut self) -> Result<()> {
        if let Some(mut old) = self.cursor.take() {
            old.kill_in(self.session.as_mut());
        }
        let start = op::resume_point(
            &self.options,
            self.token.as_ref(),
            self.returned_any,
            self.operation_time,
            self.wire_version,
        );
        if let Err(e) = self.aggregate(&start) {
            self.ended = true;
            return Err(e);
        }
        Ok(())
    }

    /// An event about to be returned: its token cached (the batch's
    /// `postBatchResumeToken` for the last one of a batch), and an `invalidate` ends the
    /// stream.
    fn deliver(&mut self, raw: RawDocumentBuf) -> Result<RawDocumentBuf> {
        let Some(cursor) = &self.cursor else {
            return Ok(raw);
        };
        let id = match raw.get("_id") {
            Ok(Some(id)) => RawBson::from(id),
            _ => {
                self.end();
                return Err(Error::invalid_response(
                    "Cannot provide resume functionality when the resume token is missing \
                     (a pipeline stage removed the events' _id)",
                ));
            }
        };
        let pbrt = cursor.post_batch_resume_token();
        self.token = Some(match pbrt {
            Some(token) if cursor.buffered() == 0 => token_of(token),
            _ => ResumeToken(id),
        });
        self.returned_any = true;
        if raw
            .get_str("operationType")
            .is_ok_and(|t| t == "invalidate")
        {
            self.end();
        }
        Ok(raw)
    }

    /// No more events: the cursor killed if the server still holds it.
    fn end(&mut self) {
        self.ended = true;
        if let Some(cursor) = &mut self.cursor {
            cursor.kill_in(self.session.as_mut());
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(cursor) = &mut self.cursor {
            cursor.kill_in(self.session.as_mut());
        }
    }
}

fn token_of(raw: &RawDocumentBuf) -> ResumeToken {
    ResumeToken(RawBson::Document(raw.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn a_change_stream_can_move_to_another_coroutine_or_thread() {
        assert_send::<ChangeStream<event::ChangeStreamEvent<Document>>>();
    }
}
