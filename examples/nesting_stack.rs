//! Measures the coroutine stack a nested document costs per level: decoding, encoding,
//! dropping, cloning, comparing and formatting it, in the build profile it runs in.
//!
//! ```text
//! cargo run --example nesting_stack              # debug figures
//! cargo run --release --example nesting_stack    # release figures
//! ```
//!
//! For each operation it finds, by bisection over child processes, the smallest stack
//! (to the page) on which the operation succeeds at 100 and at 600 levels; the difference
//! over 500 is the cost of a level. A child that overflows is stopped by the runtime's
//! guard page, which is why each attempt runs in a process of its own.

use std::process::{Command, Stdio};

use greenmongo::bson::{self, Document, RawDocumentBuf, doc};
use greenmongo::runtime::{Runtime, coroutine};

const OPERATIONS: [&str; 8] = [
    "decode (Document::try_from a raw document)",
    "decode (serde, bson::deserialize_from_slice::<Document>)",
    "encode (RawDocumentBuf::try_from a Document)",
    "encode (serde, bson::serialize_to_raw_document_buf)",
    "drop a Document",
    "clone a Document",
    "compare two Documents (==)",
    "format a Document ({:?})",
];
const LOW: usize = 100;
const HIGH: usize = 600;

fn nested(levels: usize) -> Document {
    let mut d = doc! { "x": 1 };
    for _ in 1..levels {
        d = doc! { "a": d };
    }
    d
}

/// Runs operation `op` at `levels` in a coroutine of `stack` bytes; returns only if it fit.
fn child(op: usize, levels: usize, stack: usize) {
    let document = nested(levels);
    let other = nested(levels);
    let raw = RawDocumentBuf::try_from(&document).unwrap();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let (document, other) = rt.block_on(move || {
        coroutine::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                let mut document = Some(document);
                match op {
                    0 => std::mem::forget(Document::try_from(raw.as_ref()).unwrap()),
                    1 => std::mem::forget(
                        bson::deserialize_from_slice::<Document>(raw.as_bytes()).unwrap(),
                    ),
                    2 => std::mem::forget(
                        RawDocumentBuf::try_from(document.as_ref().unwrap()).unwrap(),
                    ),
                    3 => std::mem::forget(
                        bson::serialize_to_raw_document_buf(document.as_ref().unwrap()).unwrap(),
                    ),
                    4 => drop(document.take()),
                    5 => std::mem::forget(document.clone()),
                    6 => assert!(document.as_ref() == Some(&other)),
                    _ => std::mem::forget(format!("{document:?}")),
                }
                (document, other)
            })
            .join()
            .unwrap()
    });
    // Dropped here, on the main thread's stack, outside what is measured.
    drop((document, other));
}

/// Whether operation `op` at `levels` fits a coroutine stack of `stack` bytes.
fn fits(op: usize, levels: usize, stack: usize) -> bool {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child",
            &op.to_string(),
            &levels.to_string(),
            &stack.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The smallest stack, to the page, on which operation `op` at `levels` succeeds.
fn smallest_stack(op: usize, levels: usize) -> usize {
    const PAGE: usize = 4096;
    let (mut low, mut high) = (1, (256 << 20) / PAGE); // in pages: fails at low, fits at high
    while high - low > 1 {
        let mid = (low + high) / 2;
        if fits(op, levels, mid * PAGE) {
            high = mid;
        } else {
            low = mid;
        }
    }
    high * PAGE
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let number = |i: usize| args[i].parse::<usize>().unwrap();
        child(number(2), number(3), number(4));
        return;
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("stack per nesting level in a coroutine ({profile} build), bisected to the page:");
    println!("| operation | stack at {LOW} levels | at {HIGH} levels | per level |");
    println!("| --- | --- | --- | --- |");
    for (op, name) in OPERATIONS.iter().enumerate() {
        let low = smallest_stack(op, LOW);
        let high = smallest_stack(op, HIGH);
        let per_level = high.saturating_sub(low) / (HIGH - LOW);
        println!(
            "| {name} | {} KiB | {} KiB | {per_level} B |",
            low / 1024,
            high / 1024
        );
    }
}
