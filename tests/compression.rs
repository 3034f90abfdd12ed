//! OP_COMPRESSED negotiation and round trips against a fake wire-protocol peer.
//!
//! SecantusDB does not implement OP_COMPRESSED (its `hello` offers no compressors), so
//! these tests run a small server in the test itself: it answers `hello` (offering the
//! compressors a test chooses) and `ping` (echoing the request's `payload`), records how
//! each request arrived (OP_MSG, or OP_COMPRESSED with which compressor id) and answers a
//! compressed request compressed with the same compressor, as mongod does.

#![cfg(all(
    feature = "snappy-compression",
    feature = "zlib-compression",
    feature = "zstd-compression"
))]

use std::{
    io::Write,
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use bson::{Bson, Document, doc};
use greenmongo::{
    Client,
    wire::{self, Compressor, HEADER_LEN, Message, MsgHeader, OpCode, SizeLimits},
};

const SNAPPY: u8 = 1;
const ZLIB: u8 = 2;
const ZSTD: u8 = 3;

#[test]
fn zstd_compresses_commands_after_an_uncompressed_hello() {
    check_negotiation("zstd", Some(&["zstd", "snappy", "zlib"]), Some(ZSTD));
}

#[test]
fn snappy_compresses_commands_after_an_uncompressed_hello() {
    check_negotiation("snappy", Some(&["zstd", "snappy", "zlib"]), Some(SNAPPY));
}

#[test]
fn zlib_compresses_commands_after_an_uncompressed_hello() {
    check_negotiation("zlib", Some(&["zstd", "snappy", "zlib"]), Some(ZLIB));
}

#[test]
fn the_clients_first_compressor_the_server_offers_wins() {
    check_negotiation("zstd,snappy", Some(&["snappy", "zlib"]), Some(SNAPPY));
    // The client's order decides, not the server's.
    check_negotiation("zlib,snappy", Some(&["snappy", "zlib"]), Some(ZLIB));
}

#[test]
fn no_compression_when_the_server_offers_none() {
    // SecantusDB's hello has no `compression` field at all.
    check_negotiation("zstd,snappy,zlib", None, None);
    check_negotiation("zstd,snappy,zlib", Some(&[]), None);
    // No compressor in common.
    check_negotiation("zstd", Some(&["snappy", "zlib"]), None);
}

#[test]
fn no_compression_when_the_client_asks_for_none() {
    let server = FakeServer::start(Some(&["zstd", "snappy", "zlib"]));
    let received = ping_with(&server, "");
    let hello = &received[0];
    assert!(
        !hello.body.contains_key("compression"),
        "a client without compressors must not send `compression` in hello: {}",
        hello.body
    );
    assert_eq!(received[1].compressor, None, "ping must go uncompressed");
    assert_eq!(
        received[1].reply_compressor, None,
        "reply must be uncompressed"
    );
}

#[test]
fn zlib_compression_level_reaches_the_wire() {
    // The zlib stream header's FLEVEL bits (RFC 1950) show the level used:
    // 0x78 0x01 fastest (levels 0-1), 0x78 0x9c default (6), 0x78 0xda best (7-9).
    for (option, header) in [
        ("&zlibCompressionLevel=9", [0x78, 0xda]),
        ("&zlibCompressionLevel=1", [0x78, 0x01]),
        ("", [0x78, 0x9c]),
        ("&zlibCompressionLevel=-1", [0x78, 0x9c]),
    ] {
        let server = FakeServer::start(Some(&["zlib"]));
        let received = ping_with(&server, &format!("&compressors=zlib{option}"));
        let ping = &received[1];
        assert_eq!(ping.compressor, Some(ZLIB), "{option:?}: ping compressor");
        assert_eq!(
            ping.compressed_data[..2],
            header,
            "{option:?}: zlib header of the compressed ping"
        );
    }
}

/// Connects with `compressors=<client>` to a server offering `offered` (`None`: no
/// `compression` field in its hello) and checks that the hello goes uncompressed, the
/// ping goes with compressor `expected` (or uncompressed), and the reply round-trips.
fn check_negotiation(client: &str, offered: Option<&[&str]>, expected: Option<u8>) {
    let case = format!("client {client:?}, server {offered:?}");
    let server = FakeServer::start(offered);
    let received = ping_with(&server, &format!("&compressors={client}"));

    let [hello, ping] = &received[..] else {
        panic!("{case}: expected hello then ping, got {received:?}");
    };
    assert_eq!(hello.command, "hello", "{case}: first command");
    assert_eq!(
        hello.compressor, None,
        "{case}: hello must never be compressed"
    );
    let asked: Vec<&str> = hello
        .body
        .get_array("compression")
        .unwrap_or_else(|_| panic!("{case}: hello has no compression array: {}", hello.body))
        .iter()
        .filter_map(Bson::as_str)
        .collect();
    assert_eq!(
        asked,
        client.split(',').collect::<Vec<_>>(),
        "{case}: hello.compression"
    );

    assert_eq!(ping.command, "ping", "{case}: second command");
    assert_eq!(ping.compressor, expected, "{case}: ping compressor id");
    assert_eq!(
        ping.reply_compressor, expected,
        "{case}: reply compressor id"
    );
    if expected.is_some() {
        assert!(
            ping.wire_len < PAYLOAD_LEN,
            "{case}: a {PAYLOAD_LEN}-byte payload went as {} bytes: not compressed",
            ping.wire_len
        );
    }
}

const PAYLOAD_LEN: usize = 4000;

/// Runs one `ping` carrying a compressible payload through a new client and returns what
/// the server received; checks that the payload came back in the reply.
fn ping_with(server: &FakeServer, options: &str) -> Vec<Received> {
    let uri = format!(
        "mongodb://{}/?directConnection=true&connectTimeoutMS=5000&socketTimeoutMS=5000{options}",
        server.addr
    );
    let payload = "greenmongo ".repeat(PAYLOAD_LEN / 11);
    let client = Client::with_uri_str(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
    let reply = client
        .database("admin")
        .run_command(doc! { "ping": 1, "payload": &payload })
        .run()
        .unwrap_or_else(|e| panic!("{uri}: ping failed: {e}"));
    assert_eq!(
        reply.get_str("payload").ok(),
        Some(payload.as_str()),
        "{uri}: reply payload"
    );
    assert_eq!(reply.get_i32("ok").ok(), Some(1), "{uri}: reply ok");
    drop(client);
    server.received()
}

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
struct Received {
    command: String,
    body: Document,
    /// The compressor id if the request came as OP_COMPRESSED.
    compressor: Option<u8>,
    /// The compressed bytes after the OP_COMPRESSED prefix (empty when uncompressed).
    compressed_data: Vec<u8>,
    /// The request's size on the wire.
    wire_len: usize,
    /// The compressor id of the reply, if it was sent compressed.
    reply_compressor: Option<u8>,
    /// Which connection it came over (the client's monitor has one of its own).
    connection: usize,
}

/// A MongoDB-speaking peer on 127.0.0.1, one thread per connection.
struct FakeServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl FakeServer {
    fn start(offered: Option<&[&str]>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let offered: Option<Vec<String>> =
            offered.map(|o| o.iter().map(|s| (*s).to_owned()).collect());
        let acceptor = {
            let (received, stop) = (received.clone(), stop.clone());
            thread::spawn(move || {
                for (connection, stream) in listener.incoming().enumerate() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let (received, offered) = (received.clone(), offered.clone());
                    let stream = stream.unwrap();
                    thread::spawn(move || serve(stream, connection, offered.as_deref(), &received));
                }
            })
        };
        FakeServer {
            addr,
            received,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// What arrived on the connection that carried the `ping` (not the monitor's).
    fn received(&self) -> Vec<Received> {
        let all = self.received.lock().unwrap().clone();
        let Some(ping) = all.iter().find(|r| r.command == "ping") else {
            return all;
        };
        let connection = ping.connection;
        all.into_iter()
            .filter(|r| r.connection == connection)
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the acceptor
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one connection until the client closes it.
fn serve(
    mut stream: TcpStream,
    connection: usize,
    offered: Option<&[String]>,
    log: &Mutex<Vec<Received>>,
) {
    let limits = SizeLimits::default();
    while let Ok(bytes) = wire::read_message_bytes(&mut stream, &limits) {
        let header = MsgHeader::parse(&bytes).unwrap();
        // OP_COMPRESSED: header, originalOpcode (4), uncompressedSize (4), compressorId (1).
        let (compressor, compressed_data) = if header.op_code == OpCode::COMPRESSED {
            (
                Some(bytes[HEADER_LEN + 8]),
                bytes[HEADER_LEN + 9..].to_vec(),
            )
        } else {
            (None, Vec::new())
        };
        let request = Message::decode(&bytes).expect("the client sent a valid message");
        let body = request.body_document().unwrap();
        let command = request.command_name().unwrap_or_default().to_owned();
        let reply = match command.as_str() {
            "hello" => {
                let mut reply = doc! { "isWritablePrimary": true, "maxWireVersion": 21 };
                if let Some(offered) = offered {
                    reply.insert("compression", offered);
                }
                reply.insert("ok", 1);
                reply
            }
            "ping" => {
                doc! { "ok": 1, "payload": body.get("payload").cloned().unwrap_or(Bson::Null) }
            }
            other => doc! {
                "ok": 0, "code": 59, "codeName": "CommandNotFound",
                "errmsg": format!("no such command: '{other}'"),
            },
        };
        let mut reply = Message::from_document(&reply).unwrap();
        reply.response_to = request.request_id;
        let reply_with = compressor.map(|id| {
            let name = match id {
                0 => "noop",
                SNAPPY => "snappy",
                ZLIB => "zlib",
                ZSTD => "zstd",
                other => panic!("unknown compressor id {other}"),
            };
            Compressor::from_name(name, None).unwrap()
        });
        let out = reply.encode(reply_with.as_ref());
        let reply_header = MsgHeader::parse(&out).unwrap();
        log.lock().unwrap().push(Received {
            command,
            body,
            compressor,
            compressed_data,
            wire_len: bytes.len(),
            reply_compressor: (reply_header.op_code == OpCode::COMPRESSED)
                .then(|| out[HEADER_LEN + 8]),
            connection,
        });
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}
