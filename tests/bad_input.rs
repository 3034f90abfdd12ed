//! Bad input: a document over the BSON limit, peers that are not MongoDB servers (a
//! header claiming 2 GB, an HTTP server, one that closes at once), and 10,000 mutated
//! connection strings. Each must end in a clear error, never a panic, a hang or a huge
//! allocation.
//!
//! The fake peers are plain `std::net` threads in the test (like `tests/compression.rs`'s
//! fake server). A counting global allocator records the largest single allocation the
//! process asks for, so "rejected without allocating it" is checked, not assumed.

mod util {
    pub mod server;
}

use std::{
    alloc::{GlobalAlloc, Layout, System},
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use bson::{Document, doc};
use greenmongo::{
    Client, ClientOptions, ErrorKind,
    event::{CommandEvent, EventHandler},
    wire::{self, SizeLimits},
};

/// The system allocator, remembering the largest single request.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the only addition is an atomic `fetch_max`, which neither allocates nor
// unwinds.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's `layout` contract is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (through `alloc`/`realloc`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: the caller's contract (`ptr` from this allocator with `layout`, a valid
        // `new_size`) is `System::realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Far more than any test here needs (the largest is the 16 MiB document), far less
/// than the 2 GB a lying header claims.
const SANE_ALLOCATION: usize = 256 * 1024 * 1024;

// ---------------------------------------------------------------- a document too large

#[test]
fn a_document_over_16_mib_fails_before_sending_and_the_client_stays_usable() {
    let Some(uri) = util::server::uri() else {
        return;
    };
    let started = Arc::new(Mutex::new(Vec::new()));
    let sink = started.clone();
    let mut options = ClientOptions::parse(&uri).unwrap();
    options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
        if let CommandEvent::Started(e) = e {
            sink.lock().unwrap().push(e.command_name.clone());
        }
    }));
    let client = Client::with_options(options).unwrap();
    let coll = client
        .database(&util::server::unique("bad_input"))
        .collection::<Document>("big");
    let huge = doc! { "blob": "x".repeat(16 * 1024 * 1024) };

    let one = coll.insert_one(&huge).run().unwrap_err();
    let many = coll
        .insert_many([doc! { "small": 1 }, huge.clone()])
        .run()
        .unwrap_err();
    for err in [&one, &many] {
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("maxBsonObjectSize"), "{err}");
    }
    assert!(
        !started.lock().unwrap().iter().any(|name| name == "insert"),
        "nothing was sent: {:?}",
        started.lock().unwrap()
    );

    // The same client goes on working.
    coll.insert_one(doc! { "_id": 1, "small": true })
        .run()
        .unwrap();
    let found = coll.find_one(doc! { "_id": 1 }).run().unwrap();
    assert_eq!(found, Some(doc! { "_id": 1, "small": true }));
    coll.drop().run().unwrap();
}

// ---------------------------------------------------------------- peers that are not servers

/// What a fake peer does with each connection.
#[derive(Clone, Copy, Debug)]
enum Peer {
    /// Reads the client's first message, then answers with a header claiming a
    /// 2,000,000,000-byte message, and keeps the connection open.
    ClaimsTwoGigabytes,
    /// Reads what the client sends, answers as an HTTP server does, and closes.
    Http,
    /// Closes every connection as soon as it is accepted.
    ClosesAtOnce,
}

/// A fake peer on 127.0.0.1: one thread accepting, one per connection.
struct FakePeer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl FakePeer {
    fn start(kind: Peer) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let stopping = stopping.clone();
                thread::spawn(move || serve(kind, stream, &stopping));
            }
        });
        FakePeer {
            addr,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// A client of this peer that gives up quickly.
    fn client(&self) -> Client {
        Client::with_uri_str(format!(
            "mongodb://{}/?directConnection=true&serverSelectionTimeoutMS=1000\
             &connectTimeoutMS=1000&socketTimeoutMS=1000&heartbeatFrequencyMS=500",
            self.addr
        ))
        .unwrap()
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the acceptor
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(kind: Peer, mut stream: TcpStream, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    match kind {
        Peer::ClosesAtOnce => {}
        Peer::Http => {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\
                  Connection: close\r\n\r\nBad Request",
            );
        }
        Peer::ClaimsTwoGigabytes => {
            if read_one_message(&mut stream).is_none() {
                return;
            }
            let mut header = Vec::new();
            header.extend_from_slice(&2_000_000_000_i32.to_le_bytes());
            header.extend_from_slice(&1_i32.to_le_bytes()); // requestID
            header.extend_from_slice(&0_i32.to_le_bytes()); // responseTo
            header.extend_from_slice(&2013_i32.to_le_bytes()); // OP_MSG
            header.extend_from_slice(&[0; 64]); // a little of the promised body
            let _ = stream.write_all(&header);
            // Keep the connection open (the body never comes) until the client gives up.
            let mut sink = [0u8; 1024];
            while !stop.load(Ordering::SeqCst) {
                match stream.read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
            }
        }
    }
}

/// Reads one wire message (length-prefixed) from `stream`; `None` if it breaks off.
fn read_one_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let len = usize::try_from(i32::from_le_bytes(len))
        .ok()?
        .checked_sub(4)?;
    let mut rest = vec![0u8; len.min(1 << 20)];
    stream.read_exact(&mut rest).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    Some(rest)
}

/// Runs a `ping` against `peer` and returns the server-selection error's message.
fn ping_fails(peer: &FakePeer) -> String {
    let client = peer.client();
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::ServerSelection { .. }),
        "the serverSelectionTimeoutMS error, not a hang or another kind: {err:?}"
    );
    err.to_string()
}

#[test]
fn a_header_claiming_2_gb_is_refused_without_allocating_it() {
    // The decoder alone: the header is refused before any buffer is sized by it.
    let mut bytes = 2_000_000_000_i32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 12]);
    let err = wire::read_message(&mut bytes.as_slice(), &SizeLimits::default()).unwrap_err();
    assert!(
        err.to_string().contains("exceeds maxMessageSizeBytes"),
        "{err}"
    );

    // Through a client.
    let peer = FakePeer::start(Peer::ClaimsTwoGigabytes);
    let message = ping_fails(&peer);
    assert!(
        message.contains("messageLength 2000000000 exceeds maxMessageSizeBytes"),
        "{message}"
    );
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < SANE_ALLOCATION,
        "the largest allocation was {largest} bytes"
    );
}

#[test]
fn a_peer_that_speaks_http_is_a_clear_error() {
    let peer = FakePeer::start(Peer::Http);
    let message = ping_fails(&peer);
    assert!(
        message.contains("answered in HTTP, not the MongoDB wire protocol"),
        "{message}"
    );
}

#[test]
fn a_peer_that_closes_at_once_is_a_clear_error() {
    let peer = FakePeer::start(Peer::ClosesAtOnce);
    let message = ping_fails(&peer);
    // The server is Unknown because of the closed connection, and the error says so
    // (the close may come before the hello is written, or while its reply is awaited).
    assert!(
        message.contains("connection closed by the peer")
            || message.contains("reset")
            || message.contains("Broken pipe"),
        "{message}"
    );
}

// ---------------------------------------------------------------- mutated connection strings

/// SplitMix64: a small deterministic generator (the mutations are the same on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Connection strings that exercise every part of the parser.
const SEEDS: &[&str] = &[
    "mongodb://localhost",
    "mongodb://user:p%40ss@db1.example.com:27017,db2.example.com:27018/app?replicaSet=rs0&authSource=admin",
    "mongodb+srv://cluster0.example.com/?retryWrites=true&w=majority&appName=shop",
    "mongodb://%2Ftmp%2Fmongodb-27017.sock/db?tls=true&tlsCAFile=%2Fca.pem&tlsAllowInvalidHostnames=true",
    "mongodb://[::1]:27017,[fe80::1]/?directConnection=false&readPreference=secondaryPreferred&readPreferenceTags=dc:ny,rack:1&readPreferenceTags=&maxStalenessSeconds=120",
    "mongodb://u@h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:mongodb://foo",
    "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other,CANONICALIZE_HOST_NAME:forward",
    "mongodb://h/?compressors=zstd,snappy,zlib&zlibCompressionLevel=9&maxPoolSize=50&minPoolSize=5&maxConnecting=3&waitQueueTimeoutMS=100",
    "mongodb://h/?loadBalanced=true&serverSelectionTimeoutMS=0&heartbeatFrequencyMS=500&localThresholdMS=15&socketTimeoutMS=1000&connectTimeoutMS=2000",
    "mongodb://h/?proxyHost=p&proxyPort=1080&proxyUsername=a&proxyPassword=b&journal=true&wTimeoutMS=10&readConcernLevel=majority",
    "mongodb+srv://test1.test.build.10gen.cc/?srvMaxHosts=2&srvServiceName=customname",
];

/// Pieces worth splicing in: delimiters, escapes, numbers at the edges of their types.
const PIECES: &[&str] = &[
    "%",
    "%2",
    "%zz",
    "%00",
    "%C3%28",
    "%E2%82",
    "@",
    ":",
    "/",
    "?",
    "&",
    "=",
    ",",
    "[",
    "]",
    "[::",
    "]:",
    "mongodb://",
    "mongodb+srv://",
    "-1",
    "0",
    "2147483648",
    "9223372036854775808",
    "99999999999999999999999",
    "true",
    "false",
    "é",
    "\u{0}",
    "\u{feff}",
    "..",
    ".sock",
    "authMechanism=",
    "authMechanismProperties=",
    "readPreferenceTags=",
    "w=",
    "tls=",
    "ssl=",
    ":65536",
    ":0",
    "#",
    " ",
    "\\",
    "\"",
];

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut s: Vec<u8> = seed.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(7) {
            0 => {
                // Flip a byte.
                if !s.is_empty() {
                    let i = rng.below(s.len());
                    s[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // Delete a range.
                let end = (at + rng.below(12)).min(s.len());
                s.drain(at..end);
            }
            2 | 3 => {
                // Insert a piece.
                let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                s.splice(at..at, piece.iter().copied());
            }
            4 => {
                // Duplicate a chunk.
                let end = (at + rng.below(20)).min(s.len());
                let chunk = s[at..end].to_vec();
                s.splice(at..at, chunk);
            }
            5 => {
                // Splice in part of another seed.
                let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
                let from = rng.below(other.len());
                let to = (from + rng.below(30)).min(other.len());
                s.splice(at..at, other[from..to].iter().copied());
            }
            _ => s.truncate(at),
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

#[test]
fn ten_thousand_mutated_connection_strings_never_panic() {
    let mut rng = Rng(0x6d6f_6e67_6f64_6221); // fixed: the same 10,000 strings every run
    let (mut parsed, mut refused) = (0, 0);
    let mut panicked = Vec::new();
    for _ in 0..10_000 {
        let seed = SEEDS[rng.below(SEEDS.len())];
        let uri = mutate(&mut rng, seed);
        match catch_unwind(AssertUnwindSafe(|| ClientOptions::parse(&uri))) {
            Ok(Ok(_)) => parsed += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty(), "an empty error for {uri:?}");
                refused += 1;
            }
            Err(_) => panicked.push(uri),
        }
    }
    eprintln!("10,000 mutated connection strings: {parsed} parsed, {refused} refused");
    assert!(
        panicked.is_empty(),
        "ClientOptions::parse panicked on {panicked:?}"
    );
    // The mutations reach both sides of the parser.
    assert!(
        parsed > 100 && refused > 100,
        "{parsed} parsed, {refused} refused"
    );
}
