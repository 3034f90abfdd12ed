//! OP_MSG (opcode 2013): flag bits, body and document-sequence sections, checksum.
//!
//! Implements the [OP_MSG] spec. [`Message`] is what the connection layer sends and
//! receives; [`Message::encode`] writes it (optionally wrapped in OP_COMPRESSED) and
//! [`Message::decode`] parses either form.
//!
//! [OP_MSG]: https://github.com/mongodb/specifications/blob/master/source/message/OP_MSG.md

use bson::{Document, RawDocumentBuf};

use super::{
    Compressor, Cursor, HEADER_LEN, MsgHeader, OpCode, SizeLimits, checksum::crc32c,
    command_may_be_compressed, compression, header,
};
use crate::{Error, Result};

mod flags;
mod sequence;

pub use flags::MessageFlags;
pub use sequence::DocumentSequence;

/// An OP_MSG: one body document plus any document sequences.
///
/// Documents are kept as raw BSON: encoding copies their bytes straight into the output,
/// and decoding only checks their framing (length prefix and trailing NUL), leaving the
/// element-by-element parse to whoever reads them, which reports malformed BSON as an
/// error then.
///
/// # Examples
///
/// ```
/// use bson::{doc, rawdoc};
/// use greenmongo::wire::{DocumentSequence, Message, MessageFlags};
///
/// let mut msg = Message::new(rawdoc! { "insert": "coll", "$db": "db" });
/// msg.sequences.push(DocumentSequence::new(
///     "documents",
///     vec![rawdoc! { "_id": 1 }, rawdoc! { "_id": 2 }],
/// )?);
/// msg.flags = MessageFlags::CHECKSUM_PRESENT;
///
/// let bytes = msg.encode(None);
/// assert_eq!(bytes.len(), msg.encoded_len());
/// let back = Message::decode(&bytes)?;
/// assert_eq!(back, msg);
/// assert_eq!(back.sequences[0].documents()[1], rawdoc! { "_id": 2 });
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// This message's `requestID`.
    pub request_id: i32,
    /// The `requestID` this message answers (0 in requests).
    pub response_to: i32,
    /// The flag bits. Decoding keeps only the bits listed on [`MessageFlags`].
    pub flags: MessageFlags,
    /// The payload type 0 section: the command or the reply.
    pub body: RawDocumentBuf,
    /// The payload type 1 sections, in wire order.
    pub sequences: Vec<DocumentSequence>,
}

impl Message {
    /// A request with `body`, no flags, no sequences and a fresh
    /// [`next_request_id`](super::next_request_id).
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::Message;
    ///
    /// let msg = Message::new(rawdoc! { "ping": 1, "$db": "admin" });
    /// assert_eq!(msg.response_to, 0);
    /// assert_eq!(msg.command_name(), Some("ping"));
    /// ```
    pub fn new(body: RawDocumentBuf) -> Message {
        Message {
            request_id: super::next_request_id(),
            response_to: 0,
            flags: MessageFlags::empty(),
            body,
            sequences: Vec::new(),
        }
    }

    /// [`Message::new`] with `body` serialized from a [`Document`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Bson`](crate::ErrorKind::Bson) if the document cannot be serialized
    /// (e.g. a key containing NUL).
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::doc;
    /// use greenmongo::wire::Message;
    ///
    /// let msg = Message::from_document(&doc! { "hello": 1, "$db": "admin" })?;
    /// assert_eq!(msg.body_document()?, doc! { "hello": 1, "$db": "admin" });
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn from_document(body: &Document) -> Result<Message> {
        Ok(Message::new(crate::nesting::encode(body)?))
    }

    /// The command name: the body's first key, or `None` if the body is empty or its first
    /// element is malformed.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::Message;
    ///
    /// let get_more = Message::new(rawdoc! { "getMore": 1_i64, "collection": "c" });
    /// assert_eq!(get_more.command_name(), Some("getMore"));
    /// assert_eq!(Message::new(rawdoc! {}).command_name(), None);
    /// ```
    pub fn command_name(&self) -> Option<&str> {
        match self.body.iter().next() {
            Some(Ok((key, _))) => Some(key.as_str()),
            _ => None,
        }
    }

    /// Parses the whole body into a [`Document`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) if the body is not
    /// valid BSON.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::{doc, rawdoc};
    /// use greenmongo::wire::Message;
    ///
    /// let reply = Message::new(rawdoc! { "ok": 1.0, "n": 3 });
    /// assert_eq!(reply.body_document()?, doc! { "ok": 1.0, "n": 3 });
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn body_document(&self) -> Result<Document> {
        crate::nesting::to_document(self.body.as_ref())
            .map_err(|e| Error::invalid_response(format!("OP_MSG body is not valid BSON: {e}")))
    }

    /// Length of the uncompressed encoding, checksum included when the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::{Message, MessageFlags};
    ///
    /// let mut msg = Message::new(rawdoc! { "ping": 1 });
    /// assert_eq!(msg.encoded_len(), msg.encode(None).len());
    /// msg.flags.insert(MessageFlags::CHECKSUM_PRESENT);
    /// assert_eq!(msg.encoded_len(), msg.encode(None).len());
    /// ```
    pub fn encoded_len(&self) -> usize {
        let checksum = if self.flags.contains(MessageFlags::CHECKSUM_PRESENT) {
            4
        } else {
            0
        };
        HEADER_LEN
            + 4
            + 1
            + self.body.as_bytes().len()
            + self
                .sequences
                .iter()
                .map(DocumentSequence::encoded_len)
                .sum::<usize>()
            + checksum
    }

    /// Checks the message against the server's limits before sending: the body may be up
    /// to `maxBsonObjectSize` + 16 KiB, each sequence document up to `maxBsonObjectSize`,
    /// and the whole uncompressed message up to `maxMessageSizeBytes`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the limit
    /// exceeded and by what.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::{DocumentSequence, Message, SizeLimits};
    ///
    /// let mut msg = Message::new(rawdoc! { "insert": "c", "$db": "d" });
    /// let big = rawdoc! { "s": "x".repeat(100) };
    /// msg.sequences.push(DocumentSequence::new("documents", vec![big])?);
    /// let tight = SizeLimits { max_bson_object_size: 64, ..SizeLimits::default() };
    /// let err = msg.check_size(&tight).unwrap_err();
    /// assert!(err.to_string().contains("larger than maxBsonObjectSize (64)"));
    /// assert!(msg.check_size(&SizeLimits::default()).is_ok());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn check_size(&self, limits: &SizeLimits) -> Result<()> {
        let body = self.body.as_bytes().len();
        if body > limits.max_document_size() {
            return Err(Error::invalid_argument(format!(
                "command document is {body} bytes, larger than maxBsonObjectSize + 16 KiB ({})",
                limits.max_document_size()
            )));
        }
        for seq in &self.sequences {
            for (i, doc) in seq.documents.iter().enumerate() {
                let len = doc.as_bytes().len();
                if len > limits.max_bson_object_size {
                    return Err(Error::invalid_argument(format!(
                        "document {i} of {:?} is {len} bytes, larger than maxBsonObjectSize ({})",
                        seq.identifier, limits.max_bson_object_size
                    )));
                }
            }
        }
        let total = self.encoded_len();
        if total > limits.max_message_size_bytes {
            return Err(Error::invalid_argument(format!(
                "message is {total} bytes, larger than maxMessageSizeBytes ({})",
                limits.max_message_size_bytes
            )));
        }
        Ok(())
    }

    /// Encodes the message, wrapped in OP_COMPRESSED when `compressor` is given and the
    /// command may be compressed (see [`command_may_be_compressed`]; a body whose command
    /// name cannot be read is never compressed).
    ///
    /// Call [`check_size`](Self::check_size) first: encoding does not enforce the
    /// server's limits.
    ///
    /// # Panics
    ///
    /// If the message is larger than `i32::MAX` bytes, which the wire format cannot
    /// express (and which [`check_size`](Self::check_size) rejects).
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::{Compressor, Message, MsgHeader, OpCode};
    ///
    /// let find = Message::new(rawdoc! { "find": "c", "$db": "d" });
    /// let bytes = find.encode(Some(&Compressor::Noop));
    /// assert_eq!(MsgHeader::parse(&bytes)?.op_code, OpCode::COMPRESSED);
    ///
    /// // Authentication and handshake commands are never compressed.
    /// let sasl = Message::new(rawdoc! { "saslStart": 1, "$db": "admin" });
    /// let bytes = sasl.encode(Some(&Compressor::Noop));
    /// assert_eq!(MsgHeader::parse(&bytes)?.op_code, OpCode::MSG);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn encode(&self, compressor: Option<&Compressor>) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(compressor, &mut out);
        out
    }

    /// [`encode`](Self::encode), appending to `out` so a buffer can be reused.
    ///
    /// # Panics
    ///
    /// As [`encode`](Self::encode).
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::Message;
    ///
    /// let mut buf = Vec::with_capacity(1024);
    /// for _ in 0..3 {
    ///     buf.clear();
    ///     Message::new(rawdoc! { "ping": 1 }).encode_into(None, &mut buf);
    ///     assert_eq!(Message::decode(&buf)?.command_name(), Some("ping"));
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn encode_into(&self, compressor: Option<&Compressor>, out: &mut Vec<u8>) {
        let compressor =
            compressor.filter(|_| self.command_name().is_some_and(command_may_be_compressed));
        match compressor {
            None => {
                out.reserve(self.encoded_len());
                self.write_uncompressed(out);
            }
            Some(c) => {
                let mut plain = Vec::with_capacity(self.encoded_len());
                self.write_uncompressed(&mut plain);
                out.reserve(plain.len() / 2);
                compression::wrap(&plain, c, out);
            }
        }
    }

    fn write_uncompressed(&self, out: &mut Vec<u8>) {
        let start = out.len();
        MsgHeader {
            message_length: 0, // patched below
            request_id: self.request_id,
            response_to: self.response_to,
            op_code: OpCode::MSG,
        }
        .write_to(out);
        out.extend_from_slice(&self.flags.bits().to_le_bytes());
        out.push(0);
        out.extend_from_slice(self.body.as_bytes());
        for seq in &self.sequences {
            out.push(1);
            let size_at = out.len();
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(seq.identifier.as_bytes());
            out.push(0);
            for doc in &seq.documents {
                out.extend_from_slice(doc.as_bytes());
            }
            header::patch_i32_len(out, size_at, size_at);
        }
        if self.flags.contains(MessageFlags::CHECKSUM_PRESENT) {
            // The length covers the checksum, and the checksum covers the length.
            out.extend_from_slice(&[0; 4]);
            header::patch_length(out, start);
            out.truncate(out.len() - 4);
            let crc = crc32c(&out[start..]);
            out.extend_from_slice(&crc.to_le_bytes());
        } else {
            header::patch_length(out, start);
        }
    }

    /// Decodes one whole message (OP_MSG, or OP_COMPRESSED wrapping an OP_MSG) with the
    /// default [`SizeLimits`].
    ///
    /// # Errors
    ///
    /// As [`decode_with_limits`](Self::decode_with_limits).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::Message;
    ///
    /// let err = Message::decode(&[0x15, 0, 0, 0, 1, 0, 0, 0]).unwrap_err();
    /// assert!(err.to_string().contains("message header needs 16 bytes"));
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Message> {
        Self::decode_with_limits(bytes, &SizeLimits::default())
    }

    /// Decodes one whole message: `bytes` must be exactly `messageLength` long.
    ///
    /// Never panics, whatever the input.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) saying what was
    /// wrong: a truncated or oversized message, an unsupported opcode or compressor, unknown
    /// required flag bits, a checksum mismatch, an unknown section type, a missing or
    /// repeated body, a repeated sequence identifier, or a badly framed document.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::{Message, SizeLimits};
    ///
    /// let bytes = Message::new(rawdoc! { "ok": 1.0 }).encode(None);
    /// let small = SizeLimits { max_message_size_bytes: 20, ..SizeLimits::default() };
    /// let err = Message::decode_with_limits(&bytes, &small).unwrap_err();
    /// assert!(err.to_string().contains("exceeds maxMessageSizeBytes (20)"));
    /// assert!(Message::decode_with_limits(&bytes, &SizeLimits::default()).is_ok());
    /// ```
    pub fn decode_with_limits(bytes: &[u8], limits: &SizeLimits) -> Result<Message> {
        let head = MsgHeader::parse(bytes)?;
        let len = header::check_message_length(head.message_length, limits)?;
        if len != bytes.len() {
            return Err(Error::invalid_response(format!(
                "messageLength {len} does not match the {} bytes of the message",
                bytes.len()
            )));
        }
        match head.op_code {
            OpCode::MSG => parse_op_msg(bytes, &head, limits),
            OpCode::COMPRESSED => {
                let original = compression::unwrap(bytes, limits)?;
                let inner = MsgHeader::parse(&original)?;
                if inner.op_code != OpCode::MSG {
                    return Err(Error::invalid_response(format!(
                        "OP_COMPRESSED wraps unsupported opCode {}",
                        inner.op_code
                    )));
                }
                parse_op_msg(&original, &inner, limits)
            }
            other => Err(Error::invalid_response(format!(
                "unsupported opCode {other}"
            ))),
        }
    }
}

/// Parses the OP_MSG `bytes` (header included; its length already checked).
fn parse_op_msg(bytes: &[u8], head: &MsgHeader, limits: &SizeLimits) -> Result<Message> {
    let mut cur = Cursor::new(&bytes[HEADER_LEN..]);
    let flags = cur.u32("OP_MSG flagBits")?;
    let unknown_required = flags & MessageFlags::REQUIRED & !MessageFlags::KNOWN;
    if unknown_required != 0 {
        return Err(Error::invalid_response(format!(
            "OP_MSG flagBits {flags:#010x} set unknown required bits {unknown_required:#06x}"
        )));
    }
    let flags = MessageFlags::from_bits_truncate(flags);

    let mut sections_end = bytes.len();
    if flags.contains(MessageFlags::CHECKSUM_PRESENT) {
        if cur.remaining() < 4 {
            return Err(Error::invalid_response(
                "OP_MSG has checksumPresent set but no room for the checksum",
            ));
        }
        sections_end -= 4;
        let (covered, sent) = bytes.split_at(sections_end);
        let sent = u32::from_le_bytes([sent[0], sent[1], sent[2], sent[3]]);
        let computed = crc32c(covered);
        if sent != computed {
            return Err(Error::invalid_response(format!(
                "OP_MSG checksum mismatch: message says {sent:#010x}, computed {computed:#010x}"
            )));
        }
    }

    let mut sections = Cursor::new(&bytes[HEADER_LEN + 4..sections_end]);
    let mut body = None;
    let mut sequences: Vec<DocumentSequence> = Vec::new();
    while !sections.is_empty() {
        match sections.u8("OP_MSG section payloadType")? {
            0 => {
                if body.is_some() {
                    return Err(Error::invalid_response(
                        "OP_MSG has more than one body (payload type 0) section",
                    ));
                }
                body = Some(read_document(&mut sections, "OP_MSG body", limits)?);
            }
            1 => sequences.push(read_sequence(&mut sections, &sequences, limits)?),
            other => {
                return Err(Error::invalid_response(format!(
                    "OP_MSG has a section of unknown payloadType {other}"
                )));
            }
        }
    }
    let body =
        body.ok_or_else(|| Error::invalid_response("OP_MSG has no body (payload type 0) section"))?;
    Ok(Message {
        request_id: head.request_id,
        response_to: head.response_to,
        flags,
        body,
        sequences,
    })
}

/// Reads a payload type 1 section (after its type byte).
fn read_sequence(
    cur: &mut Cursor<'_>,
    earlier: &[DocumentSequence],
    limits: &SizeLimits,
) -> Result<DocumentSequence> {
    let size = cur.peek_i32("OP_MSG document sequence size")?;
    // The size counts itself (4) and at least the identifier's NUL.
    let size = match usize::try_from(size) {
        Ok(s) if s >= 5 => s,
        _ => {
            return Err(Error::invalid_response(format!(
                "OP_MSG document sequence size {size} is less than the minimum of 5"
            )));
        }
    };
    let section = cur.take(size, "OP_MSG document sequence")?;
    let mut seq = Cursor::new(&section[4..]);
    let identifier = seq.cstring("OP_MSG document sequence identifier")?;
    if earlier.iter().any(|s| s.identifier == identifier) {
        return Err(Error::invalid_response(format!(
            "OP_MSG has two document sequences named {identifier:?}"
        )));
    }
    let what = format!("document in OP_MSG sequence {identifier:?}");
    let mut documents = Vec::new();
    while !seq.is_empty() {
        documents.push(read_document(&mut seq, &what, limits)?);
    }
    Ok(DocumentSequence {
        identifier: identifier.to_owned(),
        documents,
    })
}

/// Reads one BSON document, checking its framing and size.
fn read_document(cur: &mut Cursor<'_>, what: &str, limits: &SizeLimits) -> Result<RawDocumentBuf> {
    let len = cur.peek_i32(what)?;
    let len = match usize::try_from(len) {
        Ok(l) if l >= 5 => l,
        _ => {
            return Err(Error::invalid_response(format!(
                "{what} has length {len}, less than the minimum of 5"
            )));
        }
    };
    if len > limits.max_document_size() {
        return Err(Error::invalid_response(format!(
            "{what} is {len} bytes, larger than maxBsonObjectSize + 16 KiB ({})",
            limits.max_document_size()
        )));
    }
    let at = cur.position();
    let bytes = cur.take(len, what)?;
    if bytes[len - 1] != 0 {
        return Err(Error::invalid_response(format!(
            "{what} at offset {at} does not end with NUL"
        )));
    }
    RawDocumentBuf::from_bytes(bytes.to_vec())
        .map_err(|e| Error::invalid_response(format!("{what} at offset {at} is malformed: {e}")))
}

#[cfg(test)]
mod tests;
