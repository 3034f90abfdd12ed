//! Cursors: iterate query results, fetching batches lazily with `getMore`.

use std::{collections::VecDeque, fmt, marker::PhantomData, time::Duration};

use bson::{Bson, RawDocumentBuf};
use serde::de::DeserializeOwned;

use crate::{
    Client, ClientSession, Result,
    client::SessionSlot,
    conn::Connection,
    operation::{Command, CursorReply, CursorSpec, GetMore, KillCursors, Operation},
    options::ServerAddress,
    pool::PooledConnection,
    runtime::time::with_own_deadline,
    session::ServerSession,
    timeout::CursorBudget,
};

/// What a cursor-opening command leaves for its cursor.
pub(crate) struct OpenedCursor {
    pub(crate) reply: RawDocumentBuf,
    /// The server the cursor lives on.
    pub(crate) address: ServerAddress,
    pub(crate) session: Option<ServerSession>,
    /// Load-balanced mode: the connection the cursor's getMores and killCursors use.
    pub(crate) pinned: Option<PooledConnection<Connection>>,
}

/// Where a cursor's `getMore`s and `killCursors` go.
enum Location<'a> {
    /// Load-balanced mode: the connection the query ran on.
    Pinned(
        &'a mut PooledConnection<Connection>,
        Option<&'a mut ServerSession>,
    ),
    /// The server the cursor lives on.
    Server(&'a ServerAddress, SessionSlot<'a>),
    /// A cursor made from a reply with no server attached: wherever a command goes.
    Anywhere,
}

impl<'a> Location<'a> {
    /// The pinned connection if any, else the server, each with the cursor's session
    /// (the application's, when it lends one).
    fn of(
        pinned: &'a mut Option<PooledConnection<Connection>>,
        address: Option<&'a ServerAddress>,
        session: &'a mut Option<ServerSession>,
        explicit: Option<&'a mut ClientSession>,
    ) -> Location<'a> {
        match (pinned, address, explicit) {
            (Some(conn), _, Some(explicit)) => {
                Location::Pinned(conn, Some(explicit.server_session()))
            }
            (Some(conn), _, None) => Location::Pinned(conn, session.as_mut()),
            (None, Some(address), Some(explicit)) => {
                Location::Server(address, SessionSlot::Explicit(explicit))
            }
            (None, Some(address), None) => Location::Server(
                address,
                session
                    .as_mut()
                    .map_or(SessionSlot::None, SessionSlot::Borrowed),
            ),
            (None, None, _) => Location::Anywhere,
        }
    }
}

/// How long dropping an unexhausted cursor may spend telling the server (`killCursors`).
const KILL_CURSORS_TIMEOUT: Duration = Duration::from_secs(1);

/// The results of a query, as an [`Iterator`] of `Result<T>`. Batches after the first are
/// fetched with `getMore` when needed (parking the coroutine, or blocking the thread).
/// Dropping a cursor that still has results on the server sends `killCursors`, waiting at
/// most one second so that a dead server cannot hang the drop.
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// for item in items.find(doc! { "price": { "$lt": 10 } }).run()? {
///     println!("{}", item?);
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub struct Cursor<T> {
    client: Client,
    db: String,
    collection: String,
    id: i64,
    batch: VecDeque<RawDocumentBuf>,
    batch_size: Option<u32>,
    max_await_time: Option<Duration>,
    comment: Option<Bson>,
    stop_on_empty_batch: bool,
    /// Remaining documents allowed by a `limit`, if any.
    remaining: Option<u64>,
    /// The server the cursor lives on: its `getMore`s and `killCursors` go there.
    address: Option<ServerAddress>,
    /// The implicit session of the query, kept until the cursor is done.
    session: Option<ServerSession>,
    /// Load-balanced mode: the connection the query ran on, kept for the `getMore`s
    /// and `killCursors` until the cursor is done (the load-balancer spec's pinning).
    pinned: Option<PooledConnection<Connection>>,
    /// The `postBatchResumeToken` of the latest batch (change streams).
    post_batch_resume_token: Option<RawDocumentBuf>,
    /// The time its fetches get (its `timeoutMS` and `timeoutMode`).
    budget: CursorBudget,
    _type: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("ns", &format_args!("{}.{}", self.db, self.collection))
            .field("id", &self.id)
            .field("buffered", &self.batch.len())
            .finish()
    }
}

impl<T> Cursor<T> {
    /// The cursor of a query just run; its session ends if the reply holds no cursor.
    pub(crate) fn open(client: Client, spec: CursorSpec, opened: OpenedCursor) -> Result<Self> {
        match CursorReply::parse(&opened.reply) {
            Ok(reply) => Ok(Cursor::new(
                client,
                spec,
                reply,
                Some(opened.address),
                opened.session,
                opened.pinned,
            )),
            Err(e) => {
                client.end_session(opened.session);
                Err(e)
            }
        }
    }

    pub(crate) fn new(
        client: Client,
        spec: CursorSpec,
        reply: CursorReply,
        address: Option<ServerAddress>,
        session: Option<ServerSession>,
        pinned: Option<PooledConnection<Connection>>,
    ) -> Cursor<T> {
        // The namespace of the reply wins (aggregate on a database has none of its own).
        let collection = reply
            .ns
            .split_once('.')
            .map_or_else(String::new, |(_, coll)| coll.to_owned());
        // getMore takes a comment from MongoDB 4.4 (wire version 9) on.
        let comment = spec.comment.filter(|_| {
            address
                .as_ref()
                .is_some_and(|a| client.max_wire_version(a) >= 9)
        });
        Cursor {
            client,
            db: spec.db,
            collection,
            id: reply.id,
            batch: reply.batch,
            batch_size: spec.batch_size,
            max_await_time: spec.max_await_time,
            comment,
            stop_on_empty_batch: spec.stop_on_empty_batch,
            remaining: spec.limit.filter(|l| *l > 0),
            address,
            session,
            pinned,
            post_batch_resume_token: reply.post_batch_resume_token,
            budget: CursorBudget::default(),
            _type: PhantomData,
        }
        .release_if_done()
    }

    /// Sets the time its fetches get (see [`CursorBudget`]).
    pub(crate) fn set_budget(&mut self, budget: CursorBudget) {
        self.budget = budget;
    }

    /// Gives the session (and a pinned connection) back once the server has closed the
    /// cursor.
    fn release_if_done(mut self) -> Self {
        if self.id == 0 {
            self.release();
        }
        self
    }

    fn release(&mut self) {
        self.pinned = None; // checked in
        self.client.end_session(self.session.take());
    }

    /// Runs one of the cursor's own commands (getMore, killCursors) where the cursor
    /// lives: on its pinned connection, else on its server, in its session.
    fn run<Op: Operation>(client: &Client, at: Location<'_>, mut op: Op) -> Result<Op::Output> {
        let Command { db, body, .. } = op.build()?;
        let reply = match at {
            Location::Pinned(conn, session) => client.run_pinned(conn, &db, body, session)?,
            Location::Server(address, session) => client.run_on(address, &db, body, session)?,
            Location::Anywhere => crate::nesting::encode(&client.run_command(&db, body)?)?,
        };
        op.handle_response(reply)
    }

    /// The server's id of the cursor; 0 once the server has no more results.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::FindOptions;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let cursor = items.find(doc! {}).with_options(FindOptions::builder().batch_size(2u32).build()).run()?;
    /// println!("server cursor {}", cursor.id()); // 0 if the first batch held everything
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether the server may still have results (a tailable cursor stays alive).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut cursor = items.find(doc! {}).run()?;
    /// while let Some(item) = cursor.next() {
    ///     println!("{}", item?);
    /// }
    /// assert!(!cursor.is_alive()); // exhausted: the server closed it
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        self.id != 0
    }

    fn get_more(&mut self, explicit: Option<&mut ClientSession>) -> Result<()> {
        let op = GetMore {
            db: &self.db,
            collection: &self.collection,
            id: self.id,
            batch_size: self.batch_size,
            max_await_time: self.max_await_time,
            comment: self.comment.as_ref(),
        };
        let at = Location::of(
            &mut self.pinned,
            self.address.as_ref(),
            &mut self.session,
            explicit,
        );
        let reply = Self::run(&self.client, at, op);
        match reply {
            Ok(reply) => {
                self.id = reply.id;
                self.batch = reply.batch;
                self.post_batch_resume_token = reply.post_batch_resume_token;
                if self.id == 0 {
                    self.release();
                }
                Ok(())
            }
            Err(e) => {
                // The server dropped it, or we cannot reach it: do not try again. After a
                // timeout the server still holds it: the id stays, for the close (or
                // drop) to kill it (the CSOT spec's close-after-timeout).
                if let Some(session) = &mut self.session {
                    session.dirty |= e.is_network_error();
                }
                if e.is_network_timeout() {
                    self.pinned = None; // interrupted mid-reply: closed, not reused
                } else {
                    self.id = 0;
                    self.release();
                }
                Err(e)
            }
        }
    }

    // Hooks of change streams (src/change_stream.rs), which track resume tokens batch by
    // batch and so read the cursor's batches themselves.

    /// The documents of the current batch not yet taken.
    pub(crate) fn buffered(&self) -> usize {
        self.batch.len()
    }

    /// The next document of the current batch, without fetching another.
    pub(crate) fn take_buffered(&mut self) -> Option<RawDocumentBuf> {
        self.batch.pop_front()
    }

    /// The `postBatchResumeToken` of the latest batch, if the server sent one.
    pub(crate) fn post_batch_resume_token(&self) -> Option<&RawDocumentBuf> {
        self.post_batch_resume_token.as_ref()
    }

    /// The server the cursor lives on.
    pub(crate) fn address(&self) -> Option<&ServerAddress> {
        self.address.as_ref()
    }

    /// One `getMore` (the cursor must be alive), in `explicit` or the cursor's session.
    /// On failure the cursor is done, as with iteration; but after a server error its id
    /// is kept (unless the cursor was pinned, its connection now gone), so that
    /// [`kill_in`](Self::kill_in) or the drop still reaches a cursor the server may hold.
    pub(crate) fn get_more_in(&mut self, explicit: Option<&mut ClientSession>) -> Result<()> {
        let (id, pinned) = (self.id, self.pinned.is_some());
        let result = self.get_more(explicit);
        if let Err(e) = &result
            && !pinned
            && matches!(&*e.kind, crate::ErrorKind::Command(_))
        {
            self.id = id;
        }
        result
    }

    /// `killCursors` now, in `explicit` or the cursor's session, waiting at most a second
    /// and ignoring errors; the cursor is done after it.
    pub(crate) fn kill_in(&mut self, explicit: Option<&mut ClientSession>) {
        self.kill_within(explicit, None);
    }

    /// [`kill_in`](Self::kill_in), waiting at most `timeout` when given.
    fn kill_within(&mut self, explicit: Option<&mut ClientSession>, timeout: Option<Duration>) {
        if self.id != 0 {
            let op = KillCursors {
                db: &self.db,
                collection: &self.collection,
                id: self.id,
            };
            let at = Location::of(
                &mut self.pinned,
                self.address.as_ref(),
                &mut self.session,
                explicit,
            );
            // A budget of its own: the deadline in force may be what ended the work. With
            // a timeoutMS, that refreshed (the CSOT spec).
            let budget = timeout
                .or(self.budget.timeout())
                .unwrap_or(KILL_CURSORS_TIMEOUT);
            let until = std::time::Instant::now() + budget;
            let _ = with_own_deadline(Some(until), || Self::run(&self.client, at, op));
        }
        self.id = 0;
        self.batch.clear();
        self.release();
    }
}

impl<T: DeserializeOwned> Iterator for Cursor<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.next_in(None)
    }
}

impl<T: DeserializeOwned> Cursor<T> {
    /// All the remaining results, fetching batches in `explicit` or in the cursor's own
    /// session.
    pub(crate) fn collect_in(mut self, mut explicit: Option<&mut ClientSession>) -> Result<Vec<T>> {
        let mut all = Vec::new();
        while let Some(item) = self.next_in(explicit.as_deref_mut()) {
            all.push(item?);
        }
        Ok(all)
    }

    /// The next result, fetching a batch in `explicit` (the cursor's session lent by
    /// a [`SessionCursor`]'s caller) or in the cursor's own session.
    pub(crate) fn next_in(&mut self, explicit: Option<&mut ClientSession>) -> Option<Result<T>> {
        if self.remaining == Some(0) {
            return None;
        }
        if self.batch.is_empty() {
            // Buffered documents are returned even once the budget has run out; only
            // fetching is bounded by it (the CSOT spec).
            let budget = self.budget;
            if let Err(e) = budget.run(|| self.fetch(explicit)) {
                return Some(Err(e));
            }
        }
        let raw = self.batch.pop_front()?;
        if let Some(remaining) = &mut self.remaining {
            *remaining -= 1;
        }
        Some(crate::nesting::deserialize(&raw))
    }
}

impl<T> Cursor<T> {
    /// Closes the cursor now rather than when it is dropped: sends `killCursors` if the
    /// server still holds it, waiting at most `timeout` (else the cursor's `timeoutMS`,
    /// refreshed as the CSOT spec says, else a second). Errors are ignored, as at drop:
    /// the server also times idle cursors out.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut cursor = items.find(doc! {}).batch_size(10).run()?;
    /// let first = cursor.next();
    /// cursor.close(Some(Duration::from_millis(500)));
    /// # let _ = first;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn close(mut self, timeout: Option<Duration>) {
        self.kill_within(None, timeout);
    }

    /// Fetches until a batch has documents, the cursor is done, or (tailable) the server
    /// has nothing new.
    fn fetch(&mut self, mut explicit: Option<&mut ClientSession>) -> Result<()> {
        while self.batch.is_empty() && self.id != 0 {
            self.get_more(explicit.as_deref_mut())?;
            if self.batch.is_empty() && self.stop_on_empty_batch && self.id != 0 {
                // An empty batch of a live tailable cursor: nothing new yet.
                break;
            }
        }
        Ok(())
    }
}

impl<T> Drop for Cursor<T> {
    fn drop(&mut self) {
        // Best effort: the server also times idle cursors out.
        self.kill_in(None);
    }
}

/// The results of a query run in an explicit session (`.session(&mut session)`): each
/// batch after the first is fetched in that session, which is lent again to
/// [`next`](SessionCursor::next) or [`iter`](SessionCursor::iter) (the official driver's
/// shape: the session stays usable between batches, for other operations of the same
/// transaction).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let mut session = client.start_session().run()?;
/// session.start_transaction().run()?;
/// let mut cursor = items.find(doc! {}).batch_size(2).session(&mut session).run()?;
/// for item in cursor.iter(&mut session) {
///     println!("{}", item?);
/// }
/// session.commit_transaction().run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Debug)]
pub struct SessionCursor<T> {
    cursor: Cursor<T>,
}

impl<T> SessionCursor<T> {
    pub(crate) fn new(cursor: Cursor<T>) -> SessionCursor<T> {
        SessionCursor { cursor }
    }

    /// The server's id of the cursor; 0 once the server has no more results.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let cursor = items.find(doc! {}).session(&mut session).run()?;
    /// println!("server cursor {}", cursor.id());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn id(&self) -> i64 {
        self.cursor.id()
    }
}

impl<T: DeserializeOwned> SessionCursor<T> {
    /// The next result, fetching the next batch in `session` when needed; `None` at the
    /// end.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.find(doc! {}).session(&mut session).run()?;
    /// while let Some(item) = cursor.next(&mut session) {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    #[allow(clippy::should_implement_trait)] // it takes the session: not Iterator::next
    pub fn next(&mut self, session: &mut ClientSession) -> Option<Result<T>> {
        self.cursor.next_in(Some(session))
    }

    /// An iterator over the remaining results, fetching batches in `session`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.find(doc! {}).session(&mut session).run()?;
    /// let all: Vec<Document> = cursor.iter(&mut session).collect::<greenmongo::Result<_>>()?;
    /// # let _ = all;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn iter<'a>(&'a mut self, session: &'a mut ClientSession) -> SessionCursorIter<'a, T> {
        SessionCursorIter {
            cursor: self,
            session,
        }
    }
}

/// The iterator of [`SessionCursor::iter`].
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let mut session = client.start_session().run()?;
/// let mut cursor = items.find(doc! {}).session(&mut session).run()?;
/// println!("{} items", cursor.iter(&mut session).count());
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Debug)]
pub struct SessionCursorIter<'a, T> {
    cursor: &'a mut SessionCursor<T>,
    session: &'a mut ClientSession,
}

impl<T: DeserializeOwned> Iterator for SessionCursorIter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.cursor.next(self.session)
    }
}
