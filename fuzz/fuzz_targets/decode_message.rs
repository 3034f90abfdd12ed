//! Feeds arbitrary bytes to the wire decoder.
//!
//! Run with `cargo +nightly fuzz run decode_message` from the repository root. The decoder
//! must never panic; whatever it accepts must survive a re-encode and decode unchanged,
//! and the documents it hands out must be safe to parse.

#![no_main]

use greenmongo::wire::{read_message, Message, SizeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let again = Message::decode(&msg.encode(None)).expect("a re-encoded message decodes");
        assert_eq!(again, msg);
        let _ = msg.command_name();
        let _ = msg.body_document();
        for seq in &msg.sequences {
            for doc in seq.documents() {
                let _ = bson::Document::try_from(doc.as_ref());
            }
        }
    }
    // The framing reader must agree with the decoder about where a message ends.
    let _ = read_message(&mut &data[..], &SizeLimits::default());
});
