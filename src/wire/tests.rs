//! Tests for the framing reader and the decoder's robustness against hostile input.

use std::io::Read;

use bson::rawdoc;

use super::*;

fn sample_messages() -> Vec<Vec<u8>> {
    let mut plain = Message::new(rawdoc! {
        "insert": "coll", "ordered": true, "$db": "db",
        "writeConcern": { "w": "majority", "wtimeout": 100_i64 },
    });
    plain.request_id = 9;
    plain.sequences.push(
        DocumentSequence::new(
            "documents",
            (0..4)
                .map(|i| rawdoc! { "_id": i, "tags": ["a", "b"], "n": { "x": 1.5 } })
                .collect(),
        )
        .unwrap(),
    );
    plain
        .sequences
        .push(DocumentSequence::new("other", vec![]).unwrap());
    let mut checksummed = plain.clone();
    checksummed.flags = MessageFlags::CHECKSUM_PRESENT | MessageFlags::MORE_TO_COME;
    let reply = Message::new(rawdoc! { "ok": 1.0, "cursor": { "id": 0_i64, "firstBatch": [] } });

    #[allow(unused_mut)]
    let mut compressors = vec![Compressor::Noop];
    #[cfg(feature = "snappy-compression")]
    compressors.push(Compressor::Snappy);
    #[cfg(feature = "zlib-compression")]
    compressors.push(Compressor::zlib(None).unwrap());
    #[cfg(feature = "zstd-compression")]
    compressors.push(Compressor::Zstd);

    let mut out = Vec::new();
    for msg in [&plain, &checksummed, &reply] {
        out.push(msg.encode(None));
        for c in &compressors {
            out.push(msg.encode(Some(c)));
        }
    }
    out
}

/// SplitMix64: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Rewrites messageLength to the buffer's real length, so the mutation reaches past the
/// length check into the body parser.
fn fix_length(bytes: &mut [u8]) {
    if bytes.len() >= 4 {
        let len = bytes.len() as i32;
        bytes[..4].copy_from_slice(&len.to_le_bytes());
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    let interesting: [u8; 8] = [0, 1, 4, 5, 0x7f, 0x80, 0xfe, 0xff];
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 => {
                let i = rng.below(v.len().max(1));
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let i = rng.below(v.len().max(1));
                if let Some(b) = v.get_mut(i) {
                    *b = interesting[rng.below(interesting.len())];
                }
            }
            2 => v.truncate(rng.below(v.len() + 1)),
            3 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
            4 if !v.is_empty() => {
                v.remove(rng.below(v.len()));
            }
            _ => {
                // Overwrite an aligned i32 (likely a length field) with something extreme.
                let i = rng.below(v.len() / 4 + 1) * 4;
                let value = [0, -1, i32::MAX, i32::MIN, 5, 16, rng.next() as i32][rng.below(7)];
                if i + 4 <= v.len() {
                    v[i..i + 4].copy_from_slice(&value.to_le_bytes());
                }
            }
        }
    }
    if rng.below(4) != 0 {
        fix_length(&mut v);
    }
    v
}

/// Decodes `bytes`; whatever is accepted must survive a re-encode and decode unchanged.
fn check(bytes: &[u8]) -> bool {
    match Message::decode(bytes) {
        Ok(msg) => {
            let _ = msg.body_document();
            let _ = msg.command_name();
            let again = Message::decode(&msg.encode(None)).expect("re-encoded message decodes");
            assert_eq!(again, msg);
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn decode_never_panics_on_mutated_truncated_or_random_input() {
    let samples = sample_messages();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut accepted = 0;
    let mut total = 0;

    for base in &samples {
        assert!(check(base), "sample must decode");
        // Every prefix, with the original and with a fixed-up length.
        for n in 0..base.len() {
            let mut prefix = base[..n].to_vec();
            check(&prefix);
            fix_length(&mut prefix);
            check(&prefix);
            total += 2;
        }
        // Every single-bit flip, length fixed up so the body parser sees it.
        for i in 0..base.len() {
            for bit in 0..8 {
                let mut v = base.clone();
                v[i] ^= 1 << bit;
                accepted += usize::from(check(&v));
                total += 1;
            }
        }
        // Random multi-step mutations.
        for _ in 0..1500 {
            accepted += usize::from(check(&mutate(&mut rng, base)));
            total += 1;
        }
    }
    // Random bytes behind a plausible header.
    for _ in 0..3000 {
        let len = HEADER_LEN + rng.below(64);
        let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let op = [OpCode::MSG, OpCode::COMPRESSED][rng.below(2)];
        v[12..16].copy_from_slice(&op.0.to_le_bytes());
        fix_length(&mut v);
        check(&v);
        total += 1;
    }
    assert!(total > 20_000, "only {total} inputs tried");
    // Bit flips in ids and unused optional flag bits still decode.
    assert!(accepted > 0);
}

#[test]
fn read_message_bytes_reads_exactly_one_message() {
    let a = Message::new(rawdoc! { "ping": 1 }).encode(None);
    let b = Message::new(rawdoc! { "ping": 2 }).encode(None);
    let stream = [a.clone(), b.clone()].concat();
    let mut reader = stream.as_slice();
    let limits = SizeLimits::default();
    assert_eq!(read_message_bytes(&mut reader, &limits).unwrap(), a);
    assert_eq!(
        read_message(&mut reader, &limits).unwrap().command_name(),
        Some("ping")
    );
    assert!(reader.is_empty());
}

#[test]
fn read_message_bytes_reports_truncation_and_bad_lengths() {
    let limits = SizeLimits::default();
    let a = Message::new(rawdoc! { "ping": 1 }).encode(None);

    let e = read_message_bytes(&mut &a[..a.len() - 3], &limits).unwrap_err();
    assert!(e.is_network_error(), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("after {} of {} bytes", a.len() - 3, a.len())),
        "{e}"
    );

    let e = read_message_bytes(&mut &a[..2], &limits).unwrap_err();
    assert!(e.is_network_error(), "{e}");

    for (len, want) in [
        (-7, "negative"),
        (3, "shorter than the 16-byte header"),
        (48_000_001, "exceeds maxMessageSizeBytes"),
    ] {
        let bytes = i32::to_le_bytes(len);
        let e = read_message_bytes(&mut &bytes[..], &limits).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
}

#[test]
fn read_message_reports_a_peer_that_stops_mid_message() {
    // A reader that claims a 40 MB message and then ends.
    struct Claim(Vec<u8>);
    impl Read for Claim {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }
    let mut r = Claim(40_000_000i32.to_le_bytes().to_vec());
    let e = read_message_bytes(&mut r, &SizeLimits::default()).unwrap_err();
    assert!(e.to_string().contains("after 4 of 40000000 bytes"), "{e}");
}

#[test]
fn max_document_size_adds_command_overhead() {
    let limits = SizeLimits {
        max_message_size_bytes: 1,
        max_bson_object_size: usize::MAX,
        ..SizeLimits::default()
    };
    assert_eq!(limits.max_document_size(), usize::MAX);
}
