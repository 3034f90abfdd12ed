//! Cursors: iterate query results, fetching batches lazily with `getMore`.

use std::{collections::VecDeque, fmt, marker::PhantomData, time::Duration};

use bson::{Bson, RawDocumentBuf};
use serde::de::DeserializeOwned;

use crate::{
    conn::Connection,
    operation::{Command, CursorReply, CursorSpec, GetMore, KillCursors, Operation},
    options::ServerAddress,
    pool::PooledConnection,
    runtime::time::with_timeout,
    session::ServerSession,
    Client, Result,
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
    Server(&'a ServerAddress, Option<&'a mut ServerSession>),
    /// A cursor made from a reply with no server attached: wherever a command goes.
    Anywhere,
}

impl<'a> Location<'a> {
    /// The pinned connection if any, else the server, each with the cursor's session.
    fn of(
        pinned: &'a mut Option<PooledConnection<Connection>>,
        address: Option<&'a ServerAddress>,
        session: &'a mut Option<ServerSession>,
    ) -> Location<'a> {
        match (pinned, address) {
            (Some(conn), _) => Location::Pinned(conn, session.as_mut()),
            (None, Some(address)) => Location::Server(address, session.as_mut()),
            (None, None) => Location::Anywhere,
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
            _type: PhantomData,
        }
        .release_if_done()
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
            Location::Anywhere => RawDocumentBuf::try_from(&client.run_command(&db, body)?)?,
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

    fn get_more(&mut self) -> Result<()> {
        let op = GetMore {
            db: &self.db,
            collection: &self.collection,
            id: self.id,
            batch_size: self.batch_size,
            max_await_time: self.max_await_time,
            comment: self.comment.as_ref(),
        };
        let at = Location::of(&mut self.pinned, self.address.as_ref(), &mut self.session);
        let reply = Self::run(&self.client, at, op);
        match reply {
            Ok(reply) => {
                self.id = reply.id;
                self.batch = reply.batch;
                if self.id == 0 {
                    self.release();
                }
                Ok(())
            }
            Err(e) => {
                // The server dropped it, or we cannot reach it: do not try again.
                self.id = 0;
                if let Some(session) = &mut self.session {
                    session.dirty |= e.is_network_error();
                }
                self.release();
                Err(e)
            }
        }
    }
}

impl<T: DeserializeOwned> Iterator for Cursor<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.remaining == Some(0) {
            return None;
        }
        while self.batch.is_empty() {
            if self.id == 0 {
                return None;
            }
            if let Err(e) = self.get_more() {
                return Some(Err(e));
            }
            if self.batch.is_empty() && self.stop_on_empty_batch && self.id != 0 {
                // An empty batch of a live tailable cursor: nothing new yet.
                return None;
            }
        }
        let raw = self.batch.pop_front()?;
        if let Some(remaining) = &mut self.remaining {
            *remaining -= 1;
        }
        Some(bson::deserialize_from_slice(raw.as_bytes()).map_err(Into::into))
    }
}

impl<T> Drop for Cursor<T> {
    fn drop(&mut self) {
        if self.id == 0 {
            return;
        }
        let op = KillCursors {
            db: &self.db,
            collection: &self.collection,
            id: self.id,
        };
        let at = Location::of(&mut self.pinned, self.address.as_ref(), &mut self.session);
        // Best effort: the server also times idle cursors out.
        let _ = with_timeout(KILL_CURSORS_TIMEOUT, || Self::run(&self.client, at, op));
    }
}
