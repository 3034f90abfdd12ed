//! Criterion benches of the driver alone, no server: the wire codec (encode a command,
//! decode a reply, uncompressed and zstd-compressed) and whole operations against the fake
//! peer (`src/fakepeer.rs`, on threads of this process), from a plain thread and from a
//! runtime coroutine (on epoll, and on io_uring: `coroutine-uring`), and from a coroutine
//! with `timeoutMS` set (`coroutine-timeoutMS`: every socket wait arms a timer).
//!
//! `cargo bench` at the repository root runs these with the runtime's benches; one group
//! alone: `cargo bench -p greenmongo-benchmarks --bench driver -- wire`. The comparison
//! with the official `mongodb` crate against a real server is `scripts/bench`.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use bson::{Document, doc, rawdoc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use greenmongo::{
    Client,
    runtime::Runtime,
    wire::{Compressor, Message},
};
use greenmongo_benchmarks::fakepeer;

/// A document of the size of a small real one (about 200 bytes).
fn small_doc(i: i32) -> Document {
    doc! {
        "_id": i,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "tags": ["math", "engines", "notes"],
        "address": { "city": "London", "zip": "W1" },
        "score": 97.5,
        "active": true,
    }
}

/// A `find` reply with `n` documents in its first batch.
fn cursor_reply(n: i32) -> Message {
    let batch: Vec<Document> = (0..n).map(small_doc).collect();
    Message::from_document(&doc! {
        "cursor": { "id": 0_i64, "ns": "perftest.corpus", "firstBatch": batch },
        "ok": 1.0,
    })
    .expect("a reply encodes")
}

fn wire(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire");
    g.bench_function("encode find command", |b| {
        b.iter(|| {
            let msg = Message::new(rawdoc! {
                "find": "corpus", "filter": { "_id": 1 }, "limit": 1, "singleBatch": true,
                "$db": "perftest",
            });
            black_box(msg.encode(None))
        })
    });
    let compressors: Vec<Option<Compressor>> = vec![None, Compressor::from_name("zstd", None).ok()];
    for n in [1, 100] {
        let reply = cursor_reply(n);
        for compressor in compressors.iter().filter(|c| n > 1 || c.is_none()) {
            let bytes = reply.encode(compressor.as_ref());
            let name = compressor.map_or("plain", |c| c.name());
            g.throughput(Throughput::Bytes(bytes.len() as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("decode reply {name}"), format!("{n} docs")),
                &bytes,
                |b, bytes| b.iter(|| black_box(Message::decode(bytes).expect("decodes"))),
            );
        }
    }
    g.finish();
}

/// The fake peer, started once for the whole bench run.
fn peer_uri() -> String {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    let port = PORT.get_or_init(|| fakepeer::start_in_process(&small_doc(1)));
    format!("mongodb://127.0.0.1:{port}/?directConnection=true")
}

fn operations(client: &Client, find: bool, iters: u64) -> Duration {
    let coll = client.database("perftest").collection::<Document>("corpus");
    let small = small_doc(2);
    let start = Instant::now();
    for _ in 0..iters {
        if find {
            black_box(coll.find_one(doc! { "_id": 1 }).run().expect("find_one"));
        } else {
            black_box(coll.insert_one(&small).run().expect("insert_one"));
        }
    }
    start.elapsed()
}

fn fake_peer(c: &mut Criterion) {
    let uri = peer_uri();
    let client = Client::with_uri_str(&uri).expect("client");
    let rt = Runtime::builder()
        .worker_threads(1)
        .build()
        .expect("greenmongo runtime");
    let owned = uri.clone();
    let co_client = rt
        .block_on(move || Client::with_uri_str(&owned))
        .expect("client in the runtime");
    // With `timeoutMS`, each operation's socket waits park under its deadline.
    let timed_uri = format!("{uri}&timeoutMS=10000");
    let timed_client = rt
        .block_on(move || Client::with_uri_str(&timed_uri))
        .expect("client with timeoutMS");
    // The same on io_uring (`Builder::io_uring`): one connection, so each operation waits
    // for its worker's round to submit it; where the kernel refuses io_uring, no row.
    let ring = match Runtime::builder().worker_threads(1).io_uring(true).build() {
        Ok(ring_rt) => {
            let owned = uri.clone();
            let ring_client = ring_rt
                .block_on(move || Client::with_uri_str(&owned))
                .expect("client in the io_uring runtime");
            Some((ring_rt, ring_client))
        }
        Err(e) => {
            eprintln!("fake peer/*/coroutine-uring skipped: {e}");
            None
        }
    };
    let mut g = c.benchmark_group("fake peer");
    for (name, find) in [("find_one", true), ("insert_one", false)] {
        g.bench_function(BenchmarkId::new(name, "thread"), |b| {
            b.iter_custom(|iters| operations(&client, find, iters))
        });
        g.bench_function(BenchmarkId::new(name, "coroutine"), |b| {
            b.iter_custom(|iters| {
                let client = co_client.clone();
                rt.block_on(move || operations(&client, find, iters))
            })
        });
        g.bench_function(BenchmarkId::new(name, "coroutine-timeoutMS"), |b| {
            b.iter_custom(|iters| {
                let client = timed_client.clone();
                rt.block_on(move || operations(&client, find, iters))
            })
        });
        if let Some((ring_rt, ring_client)) = &ring {
            g.bench_function(BenchmarkId::new(name, "coroutine-uring"), |b| {
                b.iter_custom(|iters| {
                    let client = ring_client.clone();
                    ring_rt.block_on(move || operations(&client, find, iters))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, wire, fake_peer);
criterion_main!(benches);
