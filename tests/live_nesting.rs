//! Deeply nested documents in coroutines with the default stack (256 KiB): the deepest
//! document the server stores round-trips, a 2,000-level document is refused before it
//! is sent, and a peer that answers 10,000 levels deep gets a clear error. Before the
//! driver decoded deep documents on a side stack, each of these ended the whole process
//! at the coroutine's guard page.
//!
//! The deep documents are built, compared and dropped outside the coroutines: those are
//! the caller's own recursion (`MAX_DOCUMENT_DEPTH`'s docs give their cost per level),
//! not the driver's.

mod util {
    pub mod server;
}

use std::{
    net::{TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use bson::{Document, RawDocumentBuf, doc, rawdoc};
use greenmongo::{
    Client, Collection, ErrorKind, MAX_DOCUMENT_DEPTH,
    runtime::Runtime,
    wire::{self, Message, SizeLimits},
};

/// `{ a: { a: ... { x: 1 } } }`, `levels` documents deep (the innermost counts).
fn nested(levels: usize) -> Document {
    let mut d = doc! { "x": 1 };
    for _ in 1..levels {
        d = doc! { "a": d };
    }
    d
}

/// Runs `f` in a coroutine with the runtime's default stack and returns what it returns.
fn in_coroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    Runtime::new().unwrap().block_on(f)
}

/// Whether the server stores and returns a field nested `levels` deep (from this
/// thread, whose stack is not what is tested).
fn server_keeps(coll: &Collection<Document>, levels: usize) -> bool {
    let id = levels as i64;
    coll.insert_one(doc! { "_id": id, "d": nested(levels) })
        .run()
        .is_ok()
        && coll
            .find_one(doc! { "_id": id })
            .run()
            .is_ok_and(|found| found.is_some())
}

/// Runs `f` on a thread with room for the test's own recursion over deep documents
/// (cloning 987 levels takes 2.7 MB in a debug build, more than a test thread's 2 MiB).
fn roomy(f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn the_deepest_document_the_server_stores_round_trips_in_a_coroutine() {
    roomy(the_deepest_document_round_trips);
}

fn the_deepest_document_round_trips() {
    let Some(client) = util::server::client() else {
        return;
    };
    let coll: Collection<Document> = client
        .database("greenmongo_test")
        .collection(&util::server::unique("nesting"));
    // The server's own limit, found by bisection; a reply wraps the stored document 4
    // levels deeper (reply, cursor, firstBatch, the document itself holding `d`).
    let (mut keeps, mut refuses) = (1, MAX_DOCUMENT_DEPTH - 4);
    if server_keeps(&coll, refuses) {
        keeps = refuses;
    } else {
        while refuses - keeps > 1 {
            let mid = (keeps + refuses) / 2;
            if server_keeps(&coll, mid) {
                keeps = mid;
            } else {
                refuses = mid;
            }
        }
    }
    println!(
        "the server stores a field nested {keeps} levels deep (greenmongo's limit leaves room for {})",
        MAX_DOCUMENT_DEPTH - 4
    );
    assert!(
        keeps >= 100,
        "every MongoDB server stores 100 levels; this one stopped at {keeps}"
    );

    let deepest = doc! { "_id": "deepest", "d": nested(keeps) };
    let (inserted, found, through_aggregate, lent) = in_coroutine({
        let coll = coll.clone();
        let deepest = deepest.clone();
        move || {
            let inserted = coll.insert_one(&deepest).run().map(|_| ());
            let found = coll.find_one(doc! { "_id": "deepest" }).run();
            let through_aggregate = coll
                .aggregate(vec![doc! { "$match": { "_id": "deepest" } }])
                .run()
                .and_then(|cursor| cursor.collect::<Result<Vec<Document>, _>>());
            (inserted, found, through_aggregate, deepest)
        }
    });
    drop(lent);
    inserted.unwrap();
    assert_eq!(found.unwrap().as_ref(), Some(&deepest));
    assert_eq!(through_aggregate.unwrap(), vec![deepest]);
    coll.drop().run().unwrap();
}

#[test]
fn a_document_nested_2000_levels_is_refused_before_sending_and_the_client_stays_usable() {
    roomy(a_document_nested_2000_levels_is_refused);
}

fn a_document_nested_2000_levels_is_refused() {
    let Some(client) = util::server::client() else {
        return;
    };
    let coll: Collection<Document> = client
        .database("greenmongo_test")
        .collection(&util::server::unique("nesting_2000"));
    let too_deep = nested(2000);
    let (insert, replace, after, too_deep) = in_coroutine({
        let coll = coll.clone();
        move || {
            // Lent, not given: the caller keeps (and drops) its own deep value.
            let insert = coll.insert_one(&too_deep).run().map(|_| ());
            let replace = coll
                .replace_one(doc! { "fine": true }, &too_deep)
                .run()
                .map(|_| ());
            let after = coll.insert_one(doc! { "fine": true }).run().map(|_| ());
            (insert, replace, after, too_deep)
        }
    });
    for refused in [insert, replace] {
        let err = refused.unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("more than 1024 levels"), "{err}");
    }
    after.unwrap();
    assert_eq!(
        coll.count_documents(doc! {}).run().unwrap(),
        1,
        "nothing deep was sent"
    );
    drop(too_deep);
    coll.drop().run().unwrap();
}

/// A fake server that answers the handshake and replies to any other command with a
/// cursor whose one document is nested `levels` deep (built as bytes, no recursion).
struct DeepPeer {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DeepPeer {
    fn start(levels: usize) -> DeepPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let deep = Arc::new(deep_bytes(levels));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let deep = deep.clone();
                thread::spawn(move || serve(stream, &deep));
            }
        });
        DeepPeer { addr, stop }
    }

    fn client(&self) -> Client {
        Client::with_uri_str(format!(
            "mongodb://{}/?directConnection=true&serverSelectionTimeoutMS=2000",
            self.addr
        ))
        .unwrap()
    }
}

impl Drop for DeepPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the acceptor
    }
}

/// The encoding of `{ a: { a: ... {} } }`, `levels` documents deep, built from the inside
/// out.
fn deep_bytes(levels: usize) -> Vec<u8> {
    let mut doc = vec![5, 0, 0, 0, 0];
    for _ in 1..levels {
        let len = 4 + 1 + 2 + doc.len() + 1;
        let mut outer = Vec::with_capacity(len);
        outer.extend_from_slice(&(len as i32).to_le_bytes());
        outer.extend_from_slice(&[0x03, b'a', 0]);
        outer.extend_from_slice(&doc);
        outer.push(0);
        doc = outer;
    }
    doc
}

fn serve(mut stream: TcpStream, deep: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let limits = SizeLimits::default();
    while let Ok(bytes) = wire::read_message_bytes(&mut stream, &limits) {
        let request = Message::decode(&bytes).unwrap();
        let body = match request.command_name().unwrap_or_default() {
            "hello" | "isMaster" | "ismaster" => rawdoc! {
                "isWritablePrimary": true, "maxWireVersion": 21, "minWireVersion": 0,
                "maxBsonObjectSize": 16 * 1024 * 1024, "ok": 1,
            },
            _ => {
                let document = RawDocumentBuf::from_bytes(deep.to_vec()).unwrap();
                let mut batch = bson::RawArrayBuf::new();
                batch.push(document);
                rawdoc! {
                    "cursor": { "firstBatch": batch, "id": 0_i64, "ns": "db.c" },
                    "ok": 1,
                }
            }
        };
        let mut reply = Message::new(body);
        reply.response_to = request.request_id;
        if std::io::Write::write_all(&mut stream, &reply.encode(None)).is_err() {
            return;
        }
    }
}

#[test]
fn a_peer_replying_10_000_levels_deep_gets_a_clear_error_and_the_process_lives() {
    let peer = DeepPeer::start(10_000);
    let client = peer.client();
    let coll: Collection<Document> = client.database("db").collection("c");
    let in_coroutine = in_coroutine({
        let coll = coll.clone();
        move || {
            let first = coll.find_one(doc! {}).run();
            let second = coll.find_one(doc! {}).run();
            (first.map(|_| ()), second.map(|_| ()))
        }
    });
    let on_thread = coll.find_one(doc! {}).run().map(|_| ());
    for result in [in_coroutine.0, in_coroutine.1, on_thread] {
        let err = result.unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidResponse { .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("nested 10000 levels") && message.contains("at most 1024"),
            "{message}"
        );
    }
}
