use bson::{doc, rawdoc};

use super::*;

fn insert_message() -> Message {
    let mut msg = Message::new(rawdoc! { "insert": "coll", "ordered": true, "$db": "db" });
    msg.request_id = 42;
    msg.sequences.push(
        DocumentSequence::new(
            "documents",
            (0..3).map(|i| rawdoc! { "_id": i, "s": "abc" }).collect(),
        )
        .unwrap(),
    );
    msg
}

fn all_compressors() -> Vec<Compressor> {
    #[allow(unused_mut)]
    let mut v = vec![Compressor::Noop];
    #[cfg(feature = "snappy-compression")]
    v.push(Compressor::Snappy);
    #[cfg(feature = "zlib-compression")]
    v.push(Compressor::zlib(Some(1)).unwrap());
    #[cfg(feature = "zstd-compression")]
    v.push(Compressor::Zstd);
    v
}

fn err(bytes: &[u8]) -> String {
    Message::decode(bytes).unwrap_err().to_string()
}

/// Builds an OP_MSG by hand: header, flags, then `rest` (sections and checksum).
fn raw_op_msg(flags: u32, rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MsgHeader {
        message_length: (HEADER_LEN + 4 + rest.len()) as i32,
        request_id: 1,
        response_to: 0,
        op_code: OpCode::MSG,
    }
    .write_to(&mut out);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(rest);
    out
}

fn body_section() -> Vec<u8> {
    let mut s = vec![0u8];
    s.extend_from_slice(rawdoc! { "ok": 1.0 }.as_bytes());
    s
}

#[test]
fn encodes_the_documented_layout() {
    let mut msg = Message::new(rawdoc! {});
    msg.request_id = 3;
    msg.response_to = 4;
    msg.flags = MessageFlags::MORE_TO_COME;
    msg.sequences
        .push(DocumentSequence::new("d", vec![rawdoc! {}]).unwrap());
    let bytes = msg.encode(None);
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        38, 0, 0, 0,  3, 0, 0, 0,  4, 0, 0, 0,  0xdd, 0x07, 0, 0, // header
        2, 0, 0, 0,                                              // flagBits
        0, 5, 0, 0, 0, 0,                                        // body {}
        1, 11, 0, 0, 0, b'd', 0, 5, 0, 0, 0, 0,                  // sequence "d": [{}]
    ];
    assert_eq!(bytes, want);
    assert_eq!(msg.encoded_len(), want.len());
    assert_eq!(Message::decode(&want).unwrap(), msg);
}

#[test]
fn round_trips_with_sequences_flags_and_checksum() {
    for flags in [
        MessageFlags::empty(),
        MessageFlags::CHECKSUM_PRESENT,
        MessageFlags::MORE_TO_COME | MessageFlags::EXHAUST_ALLOWED,
        MessageFlags::CHECKSUM_PRESENT | MessageFlags::EXHAUST_ALLOWED,
    ] {
        let mut msg = insert_message();
        msg.flags = flags;
        let bytes = msg.encode(None);
        assert_eq!(bytes.len(), msg.encoded_len());
        assert_eq!(Message::decode(&bytes).unwrap(), msg, "{flags:?}");
    }
}

#[test]
fn round_trips_through_every_compressor_with_and_without_checksum() {
    for c in all_compressors() {
        for flags in [MessageFlags::empty(), MessageFlags::CHECKSUM_PRESENT] {
            let mut msg = insert_message();
            msg.flags = flags;
            let bytes = msg.encode(Some(&c));
            assert_eq!(
                MsgHeader::parse(&bytes).unwrap().op_code,
                OpCode::COMPRESSED
            );
            assert_eq!(Message::decode(&bytes).unwrap(), msg, "{c} {flags:?}");
        }
    }
}

#[test]
fn encode_into_appends_after_existing_bytes() {
    let msg = insert_message();
    let mut out = b"prefix".to_vec();
    msg.encode_into(Some(&Compressor::Noop), &mut out);
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(Message::decode(&out[6..]).unwrap(), msg);
}

#[test]
fn never_compresses_auth_and_handshake_commands() {
    for name in [
        "hello",
        "isMaster",
        "saslStart",
        "saslContinue",
        "authenticate",
        "createUser",
    ] {
        let mut body = Document::new();
        body.insert(name, 1);
        let msg = Message::from_document(&body).unwrap();
        for c in all_compressors() {
            let bytes = msg.encode(Some(&c));
            assert_eq!(
                MsgHeader::parse(&bytes).unwrap().op_code,
                OpCode::MSG,
                "{name} {c}"
            );
        }
    }
    // A body with no readable command name is not compressed either.
    let empty = Message::new(rawdoc! {});
    let bytes = empty.encode(Some(&Compressor::Noop));
    assert_eq!(MsgHeader::parse(&bytes).unwrap().op_code, OpCode::MSG);
}

#[test]
fn decodes_sections_in_any_order() {
    let mut rest = vec![1u8];
    let doc = rawdoc! { "a": 1 };
    let size = 4 + 2 + doc.as_bytes().len();
    rest.extend_from_slice(&(size as i32).to_le_bytes());
    rest.extend_from_slice(b"x\0");
    rest.extend_from_slice(doc.as_bytes());
    rest.extend_from_slice(&body_section());
    let msg = Message::decode(&raw_op_msg(0, &rest)).unwrap();
    assert_eq!(msg.body_document().unwrap(), doc! { "ok": 1.0 });
    assert_eq!(msg.sequences[0].identifier(), "x");
    assert_eq!(msg.sequences[0].documents(), &[doc]);
}

#[test]
fn decodes_an_empty_document_sequence() {
    let mut rest = body_section();
    rest.extend_from_slice(&[1, 6, 0, 0, 0, b'e', 0]);
    let msg = Message::decode(&raw_op_msg(0, &rest)).unwrap();
    assert_eq!(msg.sequences[0].identifier(), "e");
    assert!(msg.sequences[0].documents().is_empty());
}

#[test]
fn optional_unknown_flag_bits_are_ignored_required_ones_rejected() {
    let msg = Message::decode(&raw_op_msg(1 << 20 | 1 << 16, &body_section())).unwrap();
    assert_eq!(msg.flags, MessageFlags::EXHAUST_ALLOWED);
    let e = err(&raw_op_msg(1 << 5, &body_section()));
    assert!(e.contains("unknown required bits 0x0020"), "{e}");
}

#[test]
fn checksum_is_verified() {
    let mut msg = insert_message();
    msg.flags = MessageFlags::CHECKSUM_PRESENT;
    let good = msg.encode(None);
    for i in [HEADER_LEN + 10, good.len() - 1, 4] {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        let e = err(&bad);
        assert!(e.contains("checksum mismatch"), "byte {i}: {e}");
    }
    let e = err(&raw_op_msg(1, &[0, 0]));
    assert!(e.contains("no room for the checksum"), "{e}");
}

#[test]
fn structural_errors_say_what_was_wrong() {
    let two_bodies = [body_section(), body_section()].concat();
    let unknown_kind = [body_section(), vec![2, 0]].concat();
    let dup_seq = [
        body_section(),
        vec![1, 6, 0, 0, 0, b'e', 0, 1, 6, 0, 0, 0, b'e', 0],
    ]
    .concat();
    let short_seq = [body_section(), vec![1, 4, 0, 0, 0]].concat();
    let long_seq = [body_section(), vec![1, 60, 0, 0, 0, b'e', 0]].concat();
    let seq_no_nul = [body_section(), vec![1, 6, 0, 0, 0, b'e', b'f']].concat();
    let bad_utf8 = [body_section(), vec![1, 6, 0, 0, 0, 0xff, 0]].concat();
    let seq_bad_doc = [body_section(), vec![1, 11, 0, 0, 0, b'e', 0, 5, 0, 0, 0, 1]].concat();
    let seq_partial_doc = [body_section(), vec![1, 9, 0, 0, 0, b'e', 0, 5, 0, 0]].concat();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (raw_op_msg(0, &[]), "no body (payload type 0) section"),
        (raw_op_msg(0, &two_bodies), "more than one body"),
        (raw_op_msg(0, &unknown_kind), "unknown payloadType 2"),
        (
            raw_op_msg(0, &dup_seq),
            "two document sequences named \"e\"",
        ),
        (
            raw_op_msg(0, &short_seq),
            "size 4 is less than the minimum of 5",
        ),
        (
            raw_op_msg(0, &long_seq),
            "OP_MSG document sequence needs 60 bytes",
        ),
        (
            raw_op_msg(0, &seq_no_nul),
            "identifier at offset 0 is not NUL-terminated",
        ),
        (raw_op_msg(0, &bad_utf8), "not valid UTF-8"),
        (raw_op_msg(0, &seq_bad_doc), "does not end with NUL"),
        (
            raw_op_msg(0, &seq_partial_doc),
            "document in OP_MSG sequence \"e\" needs 4 bytes",
        ),
        (raw_op_msg(0, &[0, 4, 0, 0, 0]), "OP_MSG body has length 4"),
        (
            raw_op_msg(0, &[0, 9, 0, 0, 0, 0]),
            "OP_MSG body needs 9 bytes",
        ),
        (raw_op_msg(0, &[0, 0xff, 0xff, 0xff, 0xff]), "length -1"),
        (raw_op_msg(0, &[0]), "OP_MSG body needs 4 bytes"),
        (
            raw_op_msg(0, &[])[..18].to_vec(),
            "messageLength 20 does not match the 18 bytes",
        ),
    ];
    for (bytes, want) in cases {
        let e = err(&bytes);
        assert!(e.contains(want), "want {want:?}, got {e:?}");
        assert!(e.starts_with("invalid server response: "), "{e}");
    }
}

#[test]
fn header_level_errors() {
    let mut bytes = raw_op_msg(0, &body_section());
    bytes[12..16].copy_from_slice(&1i32.to_le_bytes());
    assert!(err(&bytes).contains("unsupported opCode 1 (OP_REPLY)"));
    let mut short = raw_op_msg(0, &body_section());
    short[0..4].copy_from_slice(&8i32.to_le_bytes());
    assert!(err(&short).contains("shorter than the 16-byte header"));
    assert!(err(&[]).contains("message header needs 16 bytes"));
}

#[test]
fn documents_larger_than_the_limit_are_rejected() {
    let limits = SizeLimits {
        max_bson_object_size: 10,
        ..SizeLimits::default()
    };
    let big = rawdoc! { "s": "x".repeat(16 * 1024) };
    let msg = Message::new(big);
    let e = Message::decode_with_limits(&msg.encode(None), &limits)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("larger than maxBsonObjectSize + 16 KiB (16394)"),
        "{e}"
    );
    let tiny = SizeLimits {
        max_message_size_bytes: 30,
        ..SizeLimits::default()
    };
    let e = Message::decode_with_limits(&msg.encode(None), &tiny)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exceeds maxMessageSizeBytes (30)"), "{e}");
}

#[test]
fn check_size_enforces_each_limit() {
    let limits = SizeLimits {
        max_message_size_bytes: 200,
        max_bson_object_size: 40,
        ..SizeLimits::default()
    };
    let ok = insert_message();
    assert!(ok.check_size(&limits).is_ok());

    let body_too_big = Message::new(rawdoc! { "s": "x".repeat(16 * 1024 + 40) });
    let e = body_too_big.check_size(&limits).unwrap_err().to_string();
    assert!(e.contains("command document is"), "{e}");

    let mut total_too_big = insert_message();
    total_too_big.sequences[0].push(rawdoc! { "s": "y".repeat(20) });
    for _ in 0..4 {
        total_too_big.sequences[0].push(rawdoc! { "s": "y".repeat(20) });
    }
    let e = total_too_big.check_size(&limits).unwrap_err().to_string();
    assert!(e.contains("larger than maxMessageSizeBytes (200)"), "{e}");
    assert!(e.starts_with("invalid argument"), "{e}");
}

#[test]
fn flags_debug_lists_names_and_unknown_bits() {
    assert_eq!(format!("{:?}", MessageFlags::empty()), "MessageFlags()");
    assert_eq!(
        format!("{:?}", MessageFlags::from_bits_retain(1 | 1 << 20)),
        "MessageFlags(CHECKSUM_PRESENT | 0x100000)"
    );
}

#[test]
fn command_name_is_the_first_key() {
    let msg = Message::from_document(&doc! { "getMore": 5_i64, "collection": "c" }).unwrap();
    assert_eq!(msg.command_name(), Some("getMore"));
    assert_eq!(Message::new(rawdoc! {}).command_name(), None);
}
