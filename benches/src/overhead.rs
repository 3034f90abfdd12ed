//! Driver overhead without a server's cost: every client against the fake peer
//! ([`crate::fakepeer`], a child process, so `getrusage(RUSAGE_SELF)` here is the clients'
//! CPU only), plus a raw-socket loop that writes a pre-encoded OP_MSG and reads the reply:
//! the floor, what the kernel's loopback and one syscall pair per direction cost.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use bson::{Document, doc};

use crate::{
    clients::{Clients, Driver},
    fakepeer::FakePeer,
    stats::{measure, median},
};

const DB: &str = "perftest";
const COLL: &str = "corpus";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    FindOne,
    InsertOne,
}

impl Op {
    pub const ALL: [Op; 2] = [Op::FindOne, Op::InsertOne];
    pub fn name(self) -> &'static str {
        match self {
            Op::FindOne => "find_one by _id (reply: the tweet)",
            Op::InsertOne => "insert_one (small doc)",
        }
    }
}

/// Who: the four clients, or the raw socket loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Driver(Driver),
    Raw,
}

impl Who {
    pub const ALL: [Who; 5] = [
        Who::Driver(Driver::GmThread),
        Who::Driver(Driver::GmCoroutine),
        Who::Driver(Driver::MongoAsync),
        Who::Driver(Driver::MongoSync),
        Who::Raw,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Who::Driver(d) => d.label(),
            Who::Raw => "raw socket, pre-encoded OP_MSG (floor)",
        }
    }
}

pub struct Row {
    pub op: Op,
    pub who: Who,
    pub iterations: usize,
    pub ops: usize,
    pub ops_per_s: f64,
    pub cpu_per_op: Duration,
}

/// Runs both operations for every client, `iters` interleaved iterations of `ops` each.
pub fn run(
    tweet: &Document,
    small: &Document,
    uri_params: &str,
    iters: usize,
    ops: usize,
    io_uring: bool,
) -> Vec<Row> {
    let mut reply = tweet.clone();
    reply.insert("_id", 1);
    let peer = FakePeer::spawn(&reply);
    let uri = format!("{}&{uri_params}", peer.uri());
    eprintln!("fake peer on port {} (child process)", peer.port);
    let clients = Clients::connect(&uri, io_uring);
    let mut rows = Vec::new();
    for op in Op::ALL {
        let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![Default::default(); 5];
        // One untimed warm-up pass fills the pools and the caches.
        for who in Who::ALL {
            one(&clients, peer.port, who, op, small, ops / 10 + 1);
        }
        for _ in 0..iters {
            for (i, who) in Who::ALL.into_iter().enumerate() {
                let (_, wall, cpu) = measure(|| one(&clients, peer.port, who, op, small, ops));
                samples[i].0.push(wall);
                samples[i].1.push(cpu);
            }
        }
        for (who, (walls, cpus)) in Who::ALL.into_iter().zip(samples) {
            rows.push(Row {
                op,
                who,
                iterations: walls.len(),
                ops,
                ops_per_s: ops as f64 / median(walls).as_secs_f64(),
                cpu_per_op: median(cpus) / ops as u32,
            });
        }
        eprintln!("  fake peer: {} done", op.name());
    }
    rows
}

fn one(clients: &Clients, port: u16, who: Who, op: Op, small: &Document, ops: usize) {
    match who {
        Who::Driver(Driver::GmThread) => gm(&clients.gm, op, small, ops),
        Who::Driver(Driver::GmCoroutine) => {
            let (client, small) = (clients.gm_co.clone(), small.clone());
            clients.gm_rt.block_on(move || gm(&client, op, &small, ops))
        }
        Who::Driver(Driver::MongoAsync) => {
            let coll = clients.mongo.database(DB).collection::<Document>(COLL);
            clients.tokio.block_on(async {
                for _ in 0..ops {
                    match op {
                        Op::FindOne => {
                            coll.find_one(doc! { "_id": 1 }).await.unwrap().unwrap();
                        }
                        Op::InsertOne => {
                            coll.insert_one(small).await.unwrap();
                        }
                    }
                }
            })
        }
        Who::Driver(Driver::MongoSync) => {
            let coll = clients.mongo_sync.database(DB).collection::<Document>(COLL);
            for _ in 0..ops {
                match op {
                    Op::FindOne => {
                        coll.find_one(doc! { "_id": 1 }).run().unwrap().unwrap();
                    }
                    Op::InsertOne => {
                        coll.insert_one(small).run().unwrap();
                    }
                }
            }
        }
        Who::Raw => raw(port, op, small, ops),
    }
}

fn gm(client: &greenmongo::Client, op: Op, small: &Document, ops: usize) {
    let coll = client.database(DB).collection::<Document>(COLL);
    for _ in 0..ops {
        match op {
            Op::FindOne => {
                coll.find_one(doc! { "_id": 1 }).run().unwrap().unwrap();
            }
            Op::InsertOne => {
                coll.insert_one(small).run().unwrap();
            }
        }
    }
}

/// The floor: one connection (made outside the timing would be nicer, but a connect is
/// ~50 µs against thousands of operations), one pre-encoded message written and its
/// reply read in full per operation; nothing is encoded or decoded.
fn raw(port: u16, op: Op, small: &Document, ops: usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect fake peer");
    s.set_nodelay(true).unwrap();
    let msg = match op {
        Op::FindOne => op_msg(
            &doc! { "find": COLL, "filter": { "_id": 1 }, "limit": 1, "singleBatch": true, "$db": DB },
            None,
        ),
        Op::InsertOne => {
            let mut d = small.clone();
            d.insert("_id", bson::oid::ObjectId::new());
            op_msg(
                &doc! { "insert": COLL, "ordered": true, "$db": DB },
                Some(("documents", &d)),
            )
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..ops {
        s.write_all(&msg).unwrap();
        let mut header = [0u8; 16];
        s.read_exact(&mut header).unwrap();
        let len = i32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        buf.resize(len - 16, 0);
        s.read_exact(&mut buf).unwrap();
    }
}

fn op_msg(body: &Document, seq: Option<(&str, &Document)>) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    out.extend_from_slice(&7i32.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&2013i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&bson::serialize_to_vec(body).unwrap());
    if let Some((ident, d)) = seq {
        let d = bson::serialize_to_vec(d).unwrap();
        out.push(1);
        let size = 4 + ident.len() + 1 + d.len();
        out.extend_from_slice(&(size as i32).to_le_bytes());
        out.extend_from_slice(ident.as_bytes());
        out.push(0);
        out.extend_from_slice(&d);
    }
    let len = out.len() as i32;
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out
}
