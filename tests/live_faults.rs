//! Faults under live operations against the real test server (`MONGODB_URI`), issue 16
//! item 1:
//!
//! - **A network cut in the middle of a reply.** A relay in this file ([`CutProxy`], std
//!   threads) stands between the driver and the server and, once armed for a command,
//!   forwards only the first N bytes of that command's reply and closes both sides: N
//!   inside the header, at the header's end, at the start of the body document, inside
//!   it, right after a document of the batch, one byte short of the end. Each operation
//!   (find, update, insert) either fails with a network error (retries off) or is
//!   retried and returns the right result (retries on: the documents, exactly; an `$inc`
//!   applied once; one inserted document), never a partial one; a cursor whose `getMore`
//!   reply is cut (never retried) yields exactly its first batch, then the network
//!   error, never a document from the broken reply. The connection
//!   that was cut is closed (`ConnectionClosed` for its pool id), never checked out
//!   again, and no later command goes over it; the client keeps working. All of it on a
//!   plain thread and, concurrently, in runtime coroutines.
//! - **A runtime worker panics** while coroutines on it are suspended in driver
//!   operations holding checked-out connections, or waiting in the pool's queue for
//!   one; also the same coroutines when their whole runtime is dropped instead. Every
//!   `ConnectionCheckedOut` is matched by a `ConnectionCheckedIn`, nothing stays checked
//!   out or queued, and the client works afterwards from a plain thread and from
//!   another runtime, over the very connections the dead worker had waited on.
//!
//! A worker panics when a coroutine nobody joins returns a value whose destructor
//! panics: the value is dropped after the catch around the coroutine's closure (the one
//! way safe code takes a worker down; `runtime/tests/worker_panic.rs` has the runtime's
//! side). Slow operations come from a `failCommand` fail point with `blockConnection`,
//! scoped to each test client's appName ([`FailPoint`]).
//!
//! Every wait is bounded; durations are printed, not asserted.

mod util {
    pub mod server;
}

use std::{
    collections::HashMap,
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use bson::{Document, RawDocument, doc};
use greenmongo::{
    Client, ClientOptions, Collection,
    event::{CommandEvent, EventHandler},
    options::ServerAddress,
    pool::CmapEvent,
    runtime::{JoinHandle, Runtime, coroutine, sync::oneshot, time::with_timeout},
};
use util::server::{self, FailPoint};

/// The database every test here uses (each with its own collections).
const DB: &str = "greenmongo_faults";

/// How long a wait may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(20);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits up to [`HANG`] for `f` to hold.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + HANG;
    while !f() {
        assert!(
            Instant::now() < until,
            "{what}: still not true after {HANG:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `f` on a helper thread; panics, naming `what`, if it has not returned within
/// [`HANG`].
fn within_hang_limit<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what}: no return within {HANG:?}"))
}

// ---------------------------------------------------------------- a relay that cuts replies

/// Bytes of an OP_MSG before its body document: header (16), flag bits (4), section
/// kind (1).
const BODY_START: usize = 21;

/// Where in a reply the relay cuts the connection.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// After this many bytes of it.
    At(usize),
    /// After half of it.
    Half,
    /// Right after the first document of `cursor.firstBatch` (or `nextBatch`): a
    /// document boundary inside the body.
    AfterFirstBatchDocument,
    /// All but the last byte (the body document's closing NUL).
    AllButLast,
}

impl Cut {
    /// How many bytes of `reply` to forward; always fewer than all of them.
    fn offset(self, reply: &[u8]) -> usize {
        let n = match self {
            Cut::At(n) => n,
            Cut::Half => reply.len() / 2,
            Cut::AllButLast => reply.len() - 1,
            Cut::AfterFirstBatchDocument => {
                assert_eq!(reply[BODY_START - 1], 0, "an OP_MSG body section");
                let len = i32::from_le_bytes(reply[BODY_START..BODY_START + 4].try_into().unwrap());
                let body = &reply[BODY_START..BODY_START + len as usize];
                let cursor = RawDocument::from_bytes(body)
                    .and_then(|b| b.get_document("cursor"))
                    .expect("a cursor reply");
                let first = cursor
                    .get_array("firstBatch")
                    .or_else(|_| cursor.get_array("nextBatch"))
                    .and_then(|batch| batch.get_document(0))
                    .expect("a cursor reply with a document in its batch")
                    .as_bytes();
                // `first` borrows from `reply`: its end is an offset into it.
                first.as_ptr() as usize - reply.as_ptr() as usize + first.len()
            }
        };
        assert!(
            n < reply.len(),
            "{self:?} is not inside a reply of {} bytes",
            reply.len()
        );
        n
    }
}

/// One reply the relay cut.
#[derive(Clone, Debug)]
struct CutReply {
    /// The marker of the request it answered.
    marker: Vec<u8>,
    reply_len: usize,
    forwarded: usize,
}

#[derive(Default)]
struct Relayed {
    /// Requests to cut the reply of: the first request containing the marker, once.
    armed: Vec<(Vec<u8>, Cut)>,
    cut: Vec<CutReply>,
    /// Every socket, to shut down when the relay stops.
    sockets: Vec<TcpStream>,
}

/// A relay on 127.0.0.1 between the driver and the test server that cuts, on command,
/// the connection a request went over after forwarding part of its reply. It reads whole
/// messages (by their length prefix) in both directions and forwards the rest unchanged.
struct CutProxy {
    port: u16,
    state: Arc<Mutex<Relayed>>,
    stop: Arc<AtomicBool>,
}

impl CutProxy {
    fn start(server: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Relayed::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (accept_state, accept_stop) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let state = accept_state.clone();
                thread::spawn(move || {
                    let _ = relay(client, server, &state);
                });
            }
        });
        CutProxy { port, state, stop }
    }

    /// The next request whose bytes contain `marker` gets its reply cut at `cut`.
    fn arm(&self, marker: &str, cut: Cut) {
        lock(&self.state)
            .armed
            .push((marker.as_bytes().to_vec(), cut));
    }

    /// The replies cut for requests with `marker`.
    fn cut_for(&self, marker: &str) -> Vec<CutReply> {
        lock(&self.state)
            .cut
            .iter()
            .filter(|c| c.marker == marker.as_bytes())
            .cloned()
            .collect()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
        for socket in lock(&self.state).sockets.drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// One whole wire message, or `None` at a clean end of stream.
fn read_message(from: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match from.read(&mut len[..1])? {
        0 => return Ok(None),
        _ => from.read_exact(&mut len[1..])?,
    }
    let total = i32::from_le_bytes(len);
    if !(16..=48_000_000).contains(&total) {
        return Err(io::Error::other(format!("message length {total}")));
    }
    let mut message = vec![0u8; total as usize];
    message[..4].copy_from_slice(&len);
    from.read_exact(&mut message[4..])?;
    Ok(Some(message))
}

fn header_field(message: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(message[at..at + 4].try_into().unwrap())
}

/// A request whose reply is to be cut: its id, where, and the marker it contained.
type PendingCut = (i32, Cut, Vec<u8>);

/// Relays one driver connection until either side closes, or until it cuts a reply.
fn relay(client: TcpStream, server: SocketAddr, state: &Arc<Mutex<Relayed>>) -> io::Result<()> {
    let upstream = TcpStream::connect(server)?;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    lock(state)
        .sockets
        .extend([client.try_clone()?, upstream.try_clone()?]);
    let pending: Arc<Mutex<Option<PendingCut>>> = Arc::default();
    let requests = {
        let (mut from, mut to) = (client.try_clone()?, upstream.try_clone()?);
        let (state, pending) = (state.clone(), pending.clone());
        thread::spawn(move || {
            while let Ok(Some(request)) = read_message(&mut from) {
                let hit = {
                    let mut relayed = lock(&state);
                    let found = relayed.armed.iter().position(|(marker, _)| {
                        request
                            .windows(marker.len())
                            .any(|w| w == marker.as_slice())
                    });
                    found.map(|i| relayed.armed.remove(i))
                };
                // Recorded before the request goes on, so its reply cannot overtake it.
                if let Some((marker, cut)) = hit {
                    *lock(&pending) = Some((header_field(&request, 4), cut, marker));
                }
                if to.write_all(&request).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let (mut from, mut to) = (upstream.try_clone()?, client.try_clone()?);
    while let Some(reply) = read_message(&mut from)? {
        let cut = {
            let mut pending = lock(&pending);
            match &*pending {
                Some((id, ..)) if *id == header_field(&reply, 8) => pending.take(),
                _ => None,
            }
        };
        let Some((_, cut, marker)) = cut else {
            to.write_all(&reply)?;
            continue;
        };
        let forwarded = cut.offset(&reply);
        to.write_all(&reply[..forwarded])?;
        lock(state).cut.push(CutReply {
            marker,
            reply_len: reply.len(),
            forwarded,
        });
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        break;
    }
    let _ = client.shutdown(Shutdown::Write);
    let _ = requests.join();
    Ok(())
}

// ---------------------------------------------------------------- cut scenarios

/// Pool and command events of one client, in the order they happened.
#[derive(Clone, Debug)]
enum Seen {
    Pool(CmapEvent),
    Command(CommandEvent),
}

/// The test server's address and options, a relay in front of it.
struct Setup {
    options: ClientOptions,
    proxy: CutProxy,
}

impl Setup {
    fn new() -> Option<Setup> {
        let uri = server::uri()?;
        let options = ClientOptions::parse(&uri).expect("MONGODB_URI parses");
        assert!(
            options.tls.enabled != Some(true),
            "the cut relay reads plaintext messages: run these tests without TLS"
        );
        let Some(ServerAddress::Tcp { host, port }) = options.hosts.first() else {
            panic!(
                "the test server is not at a TCP address: {:?}",
                options.hosts
            );
        };
        let server = (host.as_str(), *port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("cannot resolve the test server {host}"));
        Some(Setup {
            options,
            proxy: CutProxy::start(server),
        })
    }

    /// A client through the relay, recording its pool and command events.
    fn client(&self, retry: bool) -> (Client, Arc<Mutex<Vec<Seen>>>) {
        let mut options = self.options.clone();
        options.hosts = vec![ServerAddress::tcp("127.0.0.1", self.proxy.port)];
        options.direct_connection = Some(true);
        options.retry_reads = Some(retry);
        options.retry_writes = Some(retry);
        options.server_selection_timeout = Some(Duration::from_secs(15));
        options.app_name = Some(server::unique("faults-cut"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
            lock(&sink).push(Seen::Command(e.clone()))
        }));
        let sink = seen.clone();
        let client = Client::with_cmap_event_handler(
            options,
            EventHandler::new(move |e: &CmapEvent| lock(&sink).push(Seen::Pool(e.clone()))),
        )
        .expect("a client through the relay");
        (client, seen)
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// `find` of the ten documents, sorted: the result must be all ten, exactly.
    Find,
    /// `$inc` of one document's counter: applied exactly once when retried.
    Update,
    /// One new document: exactly one there when retried.
    Insert,
    /// A cursor's `getMore` (never retried): the documents before the cut are the
    /// first batch, exactly, and the next one is an error.
    GetMore,
}

impl Op {
    fn command(self) -> &'static str {
        match self {
            Op::Find => "find",
            Op::Update => "update",
            Op::Insert => "insert",
            Op::GetMore => "getMore",
        }
    }

    /// Whether the command is sent again after a network error.
    fn retried(self, retry: bool) -> bool {
        retry && !matches!(self, Op::GetMore)
    }
}

/// Every scenario: each operation with its reply cut at each place, retries on and off.
fn scenarios() -> Vec<(Op, Cut, bool)> {
    let header_and_body = [
        Cut::At(0),
        Cut::At(4),
        Cut::At(10),
        Cut::At(16),
        Cut::At(BODY_START),
        Cut::Half,
        Cut::AllButLast,
    ];
    let mut all = Vec::new();
    for retry in [true, false] {
        for cut in header_and_body
            .iter()
            .chain(&[Cut::AfterFirstBatchDocument])
        {
            all.push((Op::Find, *cut, retry));
        }
        for cut in header_and_body {
            all.push((Op::Update, cut, retry));
            all.push((Op::Insert, cut, retry));
        }
        for cut in [
            Cut::At(0),
            Cut::At(16),
            Cut::Half,
            Cut::AfterFirstBatchDocument,
            Cut::AllButLast,
        ] {
            all.push((Op::GetMore, cut, retry));
        }
    }
    all
}

fn ten_documents() -> Vec<Document> {
    (0..10)
        .map(|i| doc! { "_id": i, "n": 0, "pad": "x".repeat(40) })
        .collect()
}

/// Runs `op` through a fresh client with its reply cut at `cut`, and checks the outcome,
/// the data and the events. Returns a line for the log.
fn cut_one_reply(setup: &Setup, op: Op, cut: Cut, retry: bool) -> String {
    let label = format!(
        "{op:?} cut {cut:?}, retries {}",
        if retry { "on" } else { "off" }
    );
    let (client, seen) = setup.client(retry);
    let name = server::unique("cut");
    let coll: Collection<Document> = client.database(DB).collection(&name);
    coll.insert_many(ten_documents())
        .run()
        .unwrap_or_else(|e| panic!("{label}: seeding: {e}"));
    let from = lock(&seen).len();

    // The relay cuts the reply to the next request naming the collection.
    let arm = || setup.proxy.arm(&name, cut);
    let mut started = Instant::now();
    let outcome = match op {
        Op::Find => {
            arm();
            coll.find(doc! {})
                .sort(doc! { "_id": 1 })
                .run()
                .and_then(|cursor| cursor.collect::<greenmongo::Result<Vec<_>>>())
                .map(|found| {
                    assert_eq!(found, ten_documents(), "{label}: a wrong or partial result");
                })
        }
        Op::Update => {
            arm();
            coll.update_one(doc! { "_id": 3 }, doc! { "$inc": { "n": 1 } })
                .run()
                .map(|r| {
                    assert_eq!(
                        (r.matched_count, r.modified_count),
                        (1, 1),
                        "{label}: {r:?}"
                    );
                })
        }
        Op::Insert => {
            arm();
            coll.insert_one(doc! { "_id": 100 }).run().map(|r| {
                assert_eq!(r.inserted_id, bson::Bson::Int32(100), "{label}");
            })
        }
        Op::GetMore => {
            let mut cursor = coll
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .batch_size(3)
                .run()
                .unwrap_or_else(|e| panic!("{label}: find: {e}"));
            arm();
            started = Instant::now();
            let mut got = Vec::new();
            let failure = loop {
                match cursor.next() {
                    Some(Ok(doc)) => got.push(doc),
                    Some(Err(e)) => break Some(e),
                    None => break None,
                }
            };
            assert_eq!(
                got,
                ten_documents()[..3],
                "{label}: not exactly the first batch before the cut"
            );
            // Whatever the cursor does next, it never hands out a wrong document.
            if let Some(Ok(doc)) = cursor.next() {
                assert!(ten_documents()[3..].contains(&doc), "{label}: {doc}");
            }
            failure.map_or(Ok(()), Err)
        }
    };
    let elapsed = started.elapsed();
    let op_events = lock(&seen).len();

    let cut_replies = setup.proxy.cut_for(&name);
    assert_eq!(
        cut_replies.len(),
        1,
        "{label}: the relay cut {cut_replies:?}"
    );
    let cut_reply = &cut_replies[0];
    match (&outcome, op.retried(retry)) {
        (Ok(()), true) => {}
        (Err(e), false) => assert!(e.is_network_error(), "{label}: not a network error: {e}"),
        (Ok(()), false) => panic!("{label}: succeeded although its reply was cut"),
        (Err(e), true) => panic!("{label}: failed although it may be retried: {e}"),
    }

    // The data: what a retried write did, it did once.
    let state = match op {
        Op::Find | Op::GetMore => String::new(),
        Op::Update => {
            let n = coll
                .find_one(doc! { "_id": 3 })
                .run()
                .unwrap()
                .expect("document 3")
                .get_i32("n")
                .unwrap();
            if retry {
                assert_eq!(n, 1, "{label}: the $inc was applied {n} times");
            } else {
                assert!(n <= 1, "{label}: the $inc was applied {n} times");
            }
            format!(", $inc applied {n}x")
        }
        Op::Insert => {
            let n = coll.count_documents(doc! { "_id": 100 }).run().unwrap();
            if retry {
                assert_eq!(n, 1, "{label}: {n} documents inserted");
            } else {
                assert!(n <= 1, "{label}: {n} documents inserted");
            }
            format!(", {n} inserted")
        }
    };
    // The client keeps working.
    let total = coll.count_documents(doc! {}).run().unwrap();
    assert!((10..=11).contains(&total), "{label}: {total} documents");

    let events = lock(&seen)[from..].to_vec();
    check_the_cut_connection_is_never_reused(
        &label,
        &events,
        op_events - from,
        op.command(),
        op.retried(retry),
    );
    format!(
        "{label}: {} of {} bytes forwarded, {} after {elapsed:?}{state}",
        cut_reply.forwarded,
        cut_reply.reply_len,
        match &outcome {
            Ok(()) => "retried and right".to_owned(),
            Err(e) => format!("failed: {e}"),
        }
    )
}

/// In `events` (the first `op_end` of them are the operation's own): the command that
/// failed with a network error went over a connection that was then closed, never
/// checked out again and never used by a later command; with retries on, the command
/// was sent again and succeeded; with retries off, it was not sent again.
fn check_the_cut_connection_is_never_reused(
    label: &str,
    events: &[Seen],
    op_end: usize,
    command: &str,
    retry: bool,
) {
    let failed_at = events
        .iter()
        .position(
            |e| matches!(e, Seen::Command(CommandEvent::Failed(f)) if f.command_name == command),
        )
        .unwrap_or_else(|| panic!("{label}: no CommandFailed for {command}: {events:#?}"));
    let Seen::Command(CommandEvent::Failed(failed)) = &events[failed_at] else {
        unreachable!()
    };
    assert!(
        failed.failure.is_network_error(),
        "{label}: {command} failed with {}",
        failed.failure
    );
    let started_at = events[..failed_at]
        .iter()
        .position(|e| matches!(e, Seen::Command(CommandEvent::Started(s)) if s.request_id == failed.request_id))
        .unwrap_or_else(|| panic!("{label}: no CommandStarted for request {}", failed.request_id));
    // One operation at a time on this client: the last checkout before the command is
    // the connection it went over.
    let pool_id = events[..started_at]
        .iter()
        .rev()
        .find_map(|e| match e {
            Seen::Pool(CmapEvent::ConnectionCheckedOut { connection_id, .. }) => {
                Some(*connection_id)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{label}: no checkout before the command: {events:#?}"));
    let after = &events[failed_at + 1..];
    assert!(
        after.iter().any(|e| matches!(e,
            Seen::Pool(CmapEvent::ConnectionClosed { connection_id, .. }) if *connection_id == pool_id)),
        "{label}: the cut connection {pool_id} was never closed: {after:#?}"
    );
    for e in after {
        match e {
            Seen::Pool(CmapEvent::ConnectionCheckedOut { connection_id, .. }) => assert_ne!(
                *connection_id, pool_id,
                "{label}: the cut connection was checked out again"
            ),
            Seen::Command(CommandEvent::Started(s)) => assert_ne!(
                s.connection.id, failed.connection.id,
                "{label}: {} went over the cut connection",
                s.command_name
            ),
            _ => {}
        }
    }
    let op_after = &events[failed_at + 1..op_end];
    let sent_again = op_after.iter().any(
        |e| matches!(e, Seen::Command(CommandEvent::Succeeded(s)) if s.command_name == command),
    );
    let started_again = op_after
        .iter()
        .any(|e| matches!(e, Seen::Command(CommandEvent::Started(s)) if s.command_name == command));
    if retry {
        assert!(sent_again, "{label}: no successful retry: {op_after:#?}");
    } else {
        assert!(!started_again, "{label}: sent again with retries off");
    }
    assert!(
        events[op_end..]
            .iter()
            .any(|e| matches!(e, Seen::Command(CommandEvent::Succeeded(_)))),
        "{label}: no command succeeded after the cut"
    );
}

#[test]
fn a_reply_cut_mid_way_on_a_plain_thread_fails_or_is_retried_and_its_connection_is_closed() {
    let Some(setup) = Setup::new() else { return };
    let started = Instant::now();
    let all = scenarios();
    for (op, cut, retry) in &all {
        println!("{}", cut_one_reply(&setup, *op, *cut, *retry));
    }
    println!(
        "{} scenarios on a plain thread in {:?}",
        all.len(),
        started.elapsed()
    );
}

#[test]
fn a_reply_cut_mid_way_in_coroutines_fails_or_is_retried_and_its_connection_is_closed() {
    let Some(setup) = Setup::new() else { return };
    let setup = Arc::new(setup);
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let started = Instant::now();
    // All scenarios at once, each in its own coroutine with its own client (whose
    // monitor is a coroutine too) and collection.
    let lines = rt.block_on(move || {
        let handles: Vec<JoinHandle<String>> = scenarios()
            .into_iter()
            .map(|(op, cut, retry)| {
                let setup = setup.clone();
                coroutine::spawn(move || cut_one_reply(&setup, op, cut, retry))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(line) => line,
                Err(e) => match e.try_into_panic() {
                    Ok(payload) => std::panic::resume_unwind(payload),
                    Err(e) => panic!("{e}"),
                },
            })
            .collect::<Vec<_>>()
    });
    for line in &lines {
        println!("{line}");
    }
    println!(
        "{} scenarios in concurrent coroutines in {:?}",
        lines.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------- worker panics

/// Panics when dropped.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("Bomb dropped: a destructor panicking on a worker thread (on purpose)");
    }
}

/// Makes a worker of `rt` panic: a detached coroutine returns a [`Bomb`]. It waits for
/// a go-ahead, so that its handle is surely dropped (the value unwanted) by then.
fn blow_up_a_worker(rt: &Runtime) {
    let (go, wait) = oneshot::channel::<()>();
    let detached = rt.spawn(move || {
        let _ = wait.recv();
        Bomb
    });
    drop(detached);
    go.send(()).unwrap();
}

/// Options for the test server with a unique appName and `extra` URI options, or `None`
/// (the test skips).
fn options(prefix: &str, extra: &str) -> Option<ClientOptions> {
    let uri = server::uri()?;
    let separator = if uri.contains('?') { '&' } else { '?' };
    let mut options =
        ClientOptions::parse(&format!("{uri}{separator}{extra}")).expect("MONGODB_URI parses");
    options.app_name = Some(server::unique(prefix));
    Some(options)
}

/// Asserts that every `ConnectionCheckedOut` has its `ConnectionCheckedIn`, and that
/// every checkout started ended in `ConnectionCheckedOut` or `ConnectionCheckOutFailed`
/// (one unwound while queued too).
fn assert_every_checkout_checked_in(label: &str, events: &[CmapEvent]) {
    let mut held: HashMap<u64, i64> = HashMap::new();
    let (mut started, mut ended) = (0, 0);
    for e in events {
        match e {
            CmapEvent::ConnectionCheckedOut { connection_id, .. } => {
                *held.entry(*connection_id).or_default() += 1;
                ended += 1;
            }
            CmapEvent::ConnectionCheckedIn { connection_id, .. } => {
                *held.entry(*connection_id).or_default() -= 1;
            }
            CmapEvent::ConnectionCheckOutStarted { .. } => started += 1,
            CmapEvent::ConnectionCheckOutFailed { .. } => ended += 1,
            _ => {}
        }
    }
    let unbalanced: Vec<_> = held.iter().filter(|(_, n)| **n != 0).collect();
    assert!(
        unbalanced.is_empty(),
        "{label}: connections checked out and never checked in (id, count): {unbalanced:?}"
    );
    assert_eq!(
        started, ended,
        "{label}: {started} checkouts started, {ended} ended in CheckedOut or CheckOutFailed"
    );
    println!(
        "{label}: {} connections, every checkout checked in; {started} checkouts started \
         and ended",
        held.len()
    );
}

/// `count` finds from coroutines of a new runtime and one from a plain thread, each
/// under a deadline: the client works after the fault.
fn the_client_still_works(label: &str, coll: &Collection<Document>, count: usize) {
    let other = Runtime::builder().worker_threads(2).build().unwrap();
    let coll_in = coll.clone();
    let results = other.block_on(move || {
        let handles: Vec<_> = (0..count)
            .map(|_| {
                let coll = coll_in.clone();
                coroutine::spawn(move || {
                    with_timeout(Duration::from_secs(10), || coll.find_one(doc! {}).run())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for result in results {
        let found = result.unwrap_or_else(|e| panic!("{label}: a find from another runtime: {e}"));
        assert!(found.is_some(), "{label}");
    }
    let found = with_timeout(Duration::from_secs(10), || coll.find_one(doc! {}).run())
        .unwrap_or_else(|e| panic!("{label}: a find from a plain thread: {e}"));
    assert!(found.is_some(), "{label}");
    within_hang_limit("dropping the other runtime", move || drop(other));
}

/// Suspended coroutines hold checked-out connections (their finds blocked on the
/// server) while other connections, waited on by the same worker before, sit idle in
/// the pool; then the worker panics. The held connections are closed (they were cut
/// mid-operation), nothing stays checked out, and the idle ones work from another
/// runtime: the worker that registered them is known to be gone.
#[test]
fn a_worker_panic_with_operations_in_flight_leaves_no_connection_checked_out() {
    let Some(options) = options("faults-holders", "maxPoolSize=6") else {
        return;
    };
    let label = "worker panic, holders";
    let app_name = options.app_name.clone().unwrap();
    let address = options.hosts[0].clone();
    let (client, events) = server::recording_client(options);
    let coll: Collection<Document> = client.database(DB).collection(&server::unique("holders"));
    coll.insert_one(doc! { "x": 1 }).run().unwrap();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();

    // Six finds at once, each held 1 s by the server: up to six connections, each one
    // waited on (so registered) by the worker.
    {
        let _slow = FailPoint::block(&app_name, &["find"], 1_000, doc! { "times": 6 });
        let coll = coll.clone();
        rt.block_on(move || {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let coll = coll.clone();
                    coroutine::spawn(move || coll.find_one(doc! {}).run().map(drop))
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
    }
    let warm = client.pool_counts(&address).unwrap();
    assert!(warm.available >= 2, "{label}: after the warm-up {warm:?}");
    let holders = warm.available / 2;

    let slow = FailPoint::block(&app_name, &["find"], 5_000, "alwaysOn");
    let handles: Vec<_> = (0..holders)
        .map(|_| {
            let coll = coll.clone();
            rt.spawn(move || coll.find_one(doc! {}).run().map(drop))
        })
        .collect();
    eventually("the holders suspended in their finds", || {
        rt.dump()
            .iter()
            .filter(|c| matches!(c.wait, coroutine::WaitKind::Socket { write: false, .. }))
            .count()
            == holders
    });
    let before = client.pool_counts(&address).unwrap();
    assert_eq!(before.checked_out, holders, "{label}: {before:?}");

    let started = Instant::now();
    blow_up_a_worker(&rt);
    for h in handles {
        let joined = within_hang_limit("joining a holder", move || h.join());
        let err = joined.expect_err("the holder was unwound, not finished");
        assert!(err.is_cancelled(), "{label}: {err}");
    }
    eventually("nothing checked out", || {
        client
            .pool_counts(&address)
            .is_some_and(|c| c.checked_out == 0)
    });
    println!(
        "{label}: {holders} holders unwound, pool clean {:?} after the panic; before {before:?}, \
         after {:?}",
        started.elapsed(),
        client.pool_counts(&address).unwrap()
    );
    drop(slow);
    {
        let events = lock(&events);
        assert_every_checkout_checked_in(label, &events);
        let closed = events
            .iter()
            .filter(|e| matches!(e, CmapEvent::ConnectionClosed { .. }))
            .count();
        assert!(
            closed >= holders,
            "{label}: {closed} closed for {holders} cut mid-operation"
        );
    }
    the_client_still_works(label, &coll, warm.total);
    assert_every_checkout_checked_in(label, &lock(&events));
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 0);
    within_hang_limit("dropping the runtime", move || drop(rt));
}

/// How the coroutines of [`suspended_checkouts`] end.
#[derive(Clone, Copy, Debug)]
enum End {
    /// Their worker panics.
    WorkerPanic,
    /// A coroutine beside them panics (caught: its joiner gets it), then their runtime
    /// is dropped.
    CoroutinePanicThenRuntimeDrop,
}

/// Five coroutines on one worker, `maxPoolSize=2`: two hold connections (finds blocked
/// on the server), three wait in the pool's queue. However they end, nothing stays
/// checked out or queued and the client works afterwards.
fn suspended_checkouts(end: End) {
    let label = format!("{end:?}");
    let Some(options) = options("faults-queue", "maxPoolSize=2") else {
        return;
    };
    let app_name = options.app_name.clone().unwrap();
    let address = options.hosts[0].clone();
    let (client, events) = server::recording_client(options);
    let coll: Collection<Document> = client.database(DB).collection(&server::unique("queue"));
    coll.insert_one(doc! { "x": 1 }).run().unwrap();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();

    let slow = FailPoint::block(&app_name, &["find"], 5_000, "alwaysOn");
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let coll = coll.clone();
            rt.spawn(move || coll.find_one(doc! {}).run().map(drop))
        })
        .collect();
    eventually("two finds blocked and three checkouts queued", || {
        client
            .pool_counts(&address)
            .is_some_and(|c| c.checked_out == 2 && c.waiting == 3)
            && rt
                .dump()
                .iter()
                .filter(|c| matches!(c.wait, coroutine::WaitKind::Socket { write: false, .. }))
                .count()
                == 2
    });
    let before = client.pool_counts(&address).unwrap();

    let started = Instant::now();
    let dead_runtime = match end {
        End::WorkerPanic => {
            blow_up_a_worker(&rt);
            Some(rt)
        }
        End::CoroutinePanicThenRuntimeDrop => {
            let err = rt
                .spawn(|| -> () { panic!("a coroutine panicking beside suspended operations") })
                .join()
                .unwrap_err();
            assert!(err.is_panic(), "{err}");
            assert_eq!(
                client.pool_counts(&address).unwrap(),
                before,
                "{label}: a caught coroutine panic changed the pool"
            );
            within_hang_limit("dropping the runtime", move || drop(rt));
            None
        }
    };
    for h in handles {
        let joined = within_hang_limit("joining a suspended coroutine", move || h.join());
        let err = joined.expect_err("unwound, not finished");
        assert!(err.is_cancelled(), "{label}: {err}");
    }
    eventually("nothing checked out, queued or half-made", || {
        client
            .pool_counts(&address)
            .is_some_and(|c| c.checked_out == 0 && c.waiting == 0 && c.pending == 0)
    });
    println!(
        "{label}: pool clean {:?} after; before {before:?}, after {:?}",
        started.elapsed(),
        client.pool_counts(&address).unwrap()
    );
    drop(slow);
    assert_every_checkout_checked_in(&label, &lock(&events));
    the_client_still_works(&label, &coll, 4);
    assert_every_checkout_checked_in(&label, &lock(&events));
    if let Some(rt) = dead_runtime {
        within_hang_limit("dropping the runtime", move || drop(rt));
    }
}

#[test]
fn a_worker_panic_with_checkouts_queued_leaves_the_pool_clean() {
    suspended_checkouts(End::WorkerPanic);
}

#[test]
fn dropping_a_runtime_with_operations_suspended_leaves_the_pool_clean() {
    suspended_checkouts(End::CoroutinePanicThenRuntimeDrop);
}
