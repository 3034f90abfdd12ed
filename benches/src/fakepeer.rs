//! A minimal fake MongoDB wire-protocol peer, to measure a driver's own cost without a
//! server's: it answers `hello`/`isMaster` (a standalone, maxWireVersion 21), `find`
//! (a canned cursor reply: id 0 and a first batch of one canned document), `insert`
//! (`{n: <documents sent>, ok: 1}`) and everything else with `{ok: 1}`. It speaks OP_MSG
//! and, for a legacy handshake, OP_QUERY (answered with OP_REPLY). Neither driver here
//! needs the latter: the official crate 3.9.1 sends its handshake as an OP_MSG `isMaster`
//! with `helloOk: true` (then `hello`), greenmongo an OP_MSG `hello`.
//!
//! It runs in a **child process** (`greenmongo-benchmarks --fake-peer`), so that
//! `getrusage(RUSAGE_SELF)` in the bench process counts the clients only; one OS thread
//! per connection, blocking I/O. Its `hello` reply has no `topologyVersion`, so no driver
//! starts streaming (exhaust) monitoring against it: monitors poll.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicI32, Ordering},
};

use bson::{Document, RawDocument, doc};

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;

/// The fake peer as seen from the bench process: a child process and its port.
pub struct FakePeer {
    child: Child,
    pub port: u16,
}

impl FakePeer {
    /// Spawns `current_exe --fake-peer`, which prints its port on its first stdout line.
    /// `find_reply` is the document every `find` returns in its first batch.
    pub fn spawn(find_reply: &Document) -> FakePeer {
        let exe = std::env::current_exe().expect("current_exe");
        let path = std::env::temp_dir().join(format!("gm-fake-peer-{}.bson", std::process::id()));
        std::fs::write(&path, bson::serialize_to_vec(find_reply).unwrap()).expect("write doc");
        let mut child = Command::new(exe)
            .arg("--fake-peer")
            .arg(&path)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn fake peer");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read fake peer port");
        let port = line.trim().parse().expect("fake peer prints its port");
        FakePeer { child, port }
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's main: serve forever on an ephemeral port (printed on stdout).
pub fn serve(find_doc_path: &str) -> ! {
    let bytes = std::fs::read(find_doc_path).expect("read canned document");
    let _ = std::fs::remove_file(find_doc_path);
    let canned: Document = bson::deserialize_from_slice(&bytes).expect("canned document");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake peer");
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    accept(listener, find_reply(&canned))
}

/// The fake peer on threads of this process, for benches that time the wall clock (the
/// criterion benches): returns its port. Its threads live as long as the process.
/// `find_reply` is the document every `find` returns in its first batch.
pub fn start_in_process(find_reply_doc: &Document) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake peer");
    let port = listener.local_addr().expect("fake peer address").port();
    let find = find_reply(find_reply_doc);
    std::thread::Builder::new()
        .name("fake-peer".into())
        .spawn(move || accept(listener, find))
        .expect("spawn the fake peer");
    port
}

/// The whole `find` reply around `canned`, encoded once for the life of the process.
fn find_reply(canned: &Document) -> &'static [u8] {
    let find = bson::serialize_to_vec(&doc! {
        "cursor": { "id": 0_i64, "ns": "perftest.corpus", "firstBatch": [canned] },
        "ok": 1.0,
    })
    .unwrap();
    Box::leak(find.into_boxed_slice())
}

/// Serves every connection `listener` accepts, one thread each, forever.
fn accept(listener: TcpListener, find: &'static [u8]) -> ! {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = connection(stream, find);
            })
            .expect("spawn fake peer connection thread");
    }
    unreachable!()
}

static CONNECTION_ID: AtomicI32 = AtomicI32::new(1);
static REQUEST_ID: AtomicI32 = AtomicI32::new(1);

fn hello_reply(connection_id: i32) -> Vec<u8> {
    bson::serialize_to_vec(&doc! {
        "helloOk": true,
        "ismaster": true,
        "isWritablePrimary": true,
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000,
        "localTime": bson::DateTime::now(),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": connection_id,
        "minWireVersion": 0,
        "maxWireVersion": 21,
        "readOnly": false,
        "ok": 1.0,
    })
    .unwrap()
}

fn connection(stream: TcpStream, find: &[u8]) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let connection_id = CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    let hello = hello_reply(connection_id);
    let ok = bson::serialize_to_vec(&doc! { "ok": 1.0 }).unwrap();
    let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
    let mut writer = stream;
    let mut msg = Vec::new();
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let mut header = [0u8; 16];
        reader.read_exact(&mut header)?;
        let len = i32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        let request_id = i32::from_le_bytes(header[4..8].try_into().unwrap());
        let op = i32::from_le_bytes(header[12..16].try_into().unwrap());
        msg.resize(len.saturating_sub(16), 0);
        reader.read_exact(&mut msg)?;
        out.clear();
        match op {
            OP_MSG => {
                let flags = u32::from_le_bytes(msg[0..4].try_into().unwrap());
                let end = if flags & 1 != 0 {
                    msg.len() - 4
                } else {
                    msg.len()
                };
                let (name, n_docs) = parse_op_msg(&msg[4..end]);
                let n_reply;
                let reply: &[u8] = match name.as_str() {
                    "hello" | "ismaster" | "isMaster" => &hello,
                    "find" => find,
                    "insert" => {
                        n_reply = bson::serialize_to_vec(&doc! { "n": n_docs, "ok": 1.0 }).unwrap();
                        &n_reply
                    }
                    _ => &ok,
                };
                if flags & 2 != 0 {
                    continue; // moreToCome: the client wants no reply (unacknowledged write)
                }
                frame(&mut out, request_id, OP_MSG, |out| {
                    out.extend_from_slice(&0u32.to_le_bytes());
                    out.push(0);
                    out.extend_from_slice(reply);
                });
            }
            OP_QUERY => {
                // flags, fullCollectionName, numberToSkip, numberToReturn, query: answer
                // every legacy query (the handshake's isMaster) with the hello reply.
                frame(&mut out, request_id, OP_REPLY, |out| {
                    out.extend_from_slice(&0i32.to_le_bytes()); // responseFlags
                    out.extend_from_slice(&0i64.to_le_bytes()); // cursorID
                    out.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
                    out.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
                    out.extend_from_slice(&hello);
                });
            }
            other => {
                return Err(std::io::Error::other(format!("fake peer: opcode {other}")));
            }
        }
        writer.write_all(&out)?;
    }
}

/// Writes a whole message: header (length, our request id, responseTo, opcode) and body.
fn frame(out: &mut Vec<u8>, response_to: i32, op: i32, body: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&REQUEST_ID.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op.to_le_bytes());
    body(out);
    let len = out.len() as i32;
    out[0..4].copy_from_slice(&len.to_le_bytes());
}

/// The command name (first key of the body) and how many documents it carries: those of
/// its document sequences plus, for an `insert` without one, its `documents` array.
fn parse_op_msg(mut sections: &[u8]) -> (String, i32) {
    let mut name = String::new();
    let mut n = 0;
    let mut body_docs = 0;
    while let Some((&kind, rest)) = sections.split_first() {
        let size = i32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
        let section = &rest[..size];
        if kind == 0 {
            if let Ok(body) = RawDocument::from_bytes(section) {
                if let Some(Ok((key, _))) = body.iter().next() {
                    name = key.to_string();
                }
                if let Ok(docs) = body.get_array("documents") {
                    body_docs = docs.into_iter().count() as i32;
                }
            }
        } else {
            // size, identifier (C string), then documents back to back
            let ident_end = 4 + section[4..].iter().position(|&b| b == 0).unwrap() + 1;
            let mut docs = &section[ident_end..];
            while docs.len() >= 4 {
                let len = i32::from_le_bytes(docs[0..4].try_into().unwrap()) as usize;
                docs = &docs[len..];
                n += 1;
            }
        }
        sections = &rest[size..];
    }
    (name, if n > 0 { n } else { body_docs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(body: &Document, seq: Option<(&str, &[Document])>) -> Vec<u8> {
        let mut out = vec![0u8];
        out.extend_from_slice(&bson::serialize_to_vec(body).unwrap());
        if let Some((ident, docs)) = seq {
            let docs: Vec<u8> = docs
                .iter()
                .flat_map(|d| bson::serialize_to_vec(d).unwrap())
                .collect();
            out.push(1);
            out.extend_from_slice(&((4 + ident.len() + 1 + docs.len()) as i32).to_le_bytes());
            out.extend_from_slice(ident.as_bytes());
            out.push(0);
            out.extend_from_slice(&docs);
        }
        out
    }

    #[test]
    fn counts_documents_in_a_sequence_or_an_array() {
        let d = doc! { "x": 1 };
        let seq = sections(
            &doc! { "insert": "c", "$db": "d" },
            Some(("documents", &[d.clone(), d.clone(), d.clone()])),
        );
        assert_eq!(parse_op_msg(&seq), ("insert".to_string(), 3));
        let array = sections(
            &doc! { "insert": "c", "documents": [d.clone(), d], "$db": "d" },
            None,
        );
        assert_eq!(parse_op_msg(&array), ("insert".to_string(), 2));
        let find = sections(&doc! { "find": "c", "filter": {}, "$db": "d" }, None);
        assert_eq!(parse_op_msg(&find), ("find".to_string(), 0));
    }

    #[test]
    fn frames_carry_length_and_response_to() {
        let mut out = Vec::new();
        frame(&mut out, 42, OP_MSG, |o| o.extend_from_slice(&[1, 2, 3]));
        assert_eq!(out.len(), 19);
        assert_eq!(i32::from_le_bytes(out[0..4].try_into().unwrap()), 19);
        assert_eq!(i32::from_le_bytes(out[8..12].try_into().unwrap()), 42);
        assert_eq!(i32::from_le_bytes(out[12..16].try_into().unwrap()), OP_MSG);
    }
}
