//! The standard message header (`MsgHeader`) that starts every wire protocol message.

use std::{
    fmt,
    sync::atomic::{AtomicI32, Ordering},
};

use super::{Cursor, SizeLimits};
use crate::{Error, Result};

/// Length in bytes of a [`MsgHeader`] on the wire.
///
/// # Examples
///
/// ```
/// use bson::rawdoc;
/// use greenmongo::wire::{Message, MsgHeader, HEADER_LEN};
///
/// let bytes = Message::new(rawdoc! { "ping": 1, "$db": "admin" }).encode(None);
/// let header = MsgHeader::parse(&bytes[..HEADER_LEN])?;
/// assert_eq!(header.message_length as usize, bytes.len());
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub const HEADER_LEN: usize = 16;

/// A wire protocol opcode.
///
/// A newtype rather than an enum so that an unknown opcode read from the wire can be
/// carried and reported instead of rejected while parsing the header.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::OpCode;
///
/// assert_eq!(OpCode::MSG.0, 2013);
/// assert_eq!(format!("{:?}", OpCode::COMPRESSED), "OP_COMPRESSED");
/// assert_eq!(format!("{:?}", OpCode(42)), "OpCode(42)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpCode(pub i32);

impl OpCode {
    /// OP_REPLY (1): legacy reply to OP_QUERY.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::OpCode;
    ///
    /// assert_eq!(OpCode::REPLY.name(), Some("OP_REPLY"));
    /// ```
    pub const REPLY: OpCode = OpCode(1);
    /// OP_QUERY (2004): legacy query.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::OpCode;
    ///
    /// assert_eq!(OpCode::QUERY, OpCode(2004));
    /// ```
    pub const QUERY: OpCode = OpCode(2004);
    /// OP_COMPRESSED (2012): another opcode wrapped and compressed.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::OpCode;
    ///
    /// assert_eq!(OpCode::COMPRESSED.name(), Some("OP_COMPRESSED"));
    /// ```
    pub const COMPRESSED: OpCode = OpCode(2012);
    /// OP_MSG (2013): commands and replies.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::rawdoc;
    /// use greenmongo::wire::{Message, MsgHeader, OpCode};
    ///
    /// let bytes = Message::new(rawdoc! { "ping": 1, "$db": "admin" }).encode(None);
    /// assert_eq!(MsgHeader::parse(&bytes)?.op_code, OpCode::MSG); // uncompressed
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub const MSG: OpCode = OpCode(2013);

    /// The spec's name for a known opcode.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::OpCode;
    ///
    /// assert_eq!(OpCode::MSG.name(), Some("OP_MSG"));
    /// assert_eq!(OpCode(3).name(), None);
    /// ```
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            OpCode::REPLY => "OP_REPLY",
            OpCode::QUERY => "OP_QUERY",
            OpCode::COMPRESSED => "OP_COMPRESSED",
            OpCode::MSG => "OP_MSG",
            _ => return None,
        })
    }
}

impl fmt::Debug for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "OpCode({})", self.0),
        }
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The 16-byte header of every message.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::{MsgHeader, OpCode, HEADER_LEN};
///
/// let header = MsgHeader { message_length: 21, request_id: 1, response_to: 0, op_code: OpCode::MSG };
/// let mut bytes = Vec::new();
/// header.write_to(&mut bytes);
/// assert_eq!(bytes.len(), HEADER_LEN);
/// assert_eq!(MsgHeader::parse(&bytes)?, header);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgHeader {
    /// Total message size in bytes, this header included.
    pub message_length: i32,
    /// Identifies this message; replies echo it in `response_to`.
    pub request_id: i32,
    /// The `request_id` of the message this one answers (0 in requests).
    pub response_to: i32,
    /// What follows the header.
    pub op_code: OpCode,
}

impl MsgHeader {
    /// Parses the header at the start of `bytes` (which may hold more than the header).
    ///
    /// Only checks that 16 bytes are there; the length is validated by the decoder, which
    /// knows the limits and the real size of the input.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) if `bytes` is
    /// shorter than [`HEADER_LEN`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::MsgHeader;
    ///
    /// let err = MsgHeader::parse(&[1, 2, 3]).unwrap_err();
    /// assert!(err.to_string().contains("message header needs 16 bytes"));
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<MsgHeader> {
        let head = Cursor::new(bytes).take(HEADER_LEN, "message header")?;
        let mut cur = Cursor::new(head);
        Ok(MsgHeader {
            message_length: cur.i32("messageLength")?,
            request_id: cur.i32("requestID")?,
            response_to: cur.i32("responseTo")?,
            op_code: OpCode(cur.i32("opCode")?),
        })
    }

    /// Appends the 16 header bytes to `out`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::{MsgHeader, OpCode};
    ///
    /// let mut out = Vec::new();
    /// MsgHeader { message_length: 16, request_id: 2, response_to: 3, op_code: OpCode::MSG }
    ///     .write_to(&mut out);
    /// assert_eq!(out, [16, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xdd, 0x07, 0, 0]);
    /// ```
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.message_length.to_le_bytes());
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.extend_from_slice(&self.response_to.to_le_bytes());
        out.extend_from_slice(&self.op_code.0.to_le_bytes());
    }
}

/// Validates a `messageLength` read from the wire and returns it as a `usize`.
///
/// A peer that is not a MongoDB server is named when it shows: an HTTP server's reply
/// starts with `HTTP`, which read as a length is 1.3 GB.
pub(crate) fn check_message_length(len: i32, limits: &SizeLimits) -> Result<usize> {
    if len.to_le_bytes() == *b"HTTP" {
        return Err(Error::invalid_response(
            "the peer answered in HTTP, not the MongoDB wire protocol (is this a web \
             server's port?)",
        ));
    }
    let Ok(len) = usize::try_from(len) else {
        return Err(Error::invalid_response(format!(
            "messageLength {len} is negative"
        )));
    };
    if len < HEADER_LEN {
        return Err(Error::invalid_response(format!(
            "messageLength {len} is shorter than the {HEADER_LEN}-byte header"
        )));
    }
    if len > limits.max_message_size_bytes {
        return Err(Error::invalid_response(format!(
            "messageLength {len} exceeds maxMessageSizeBytes ({})",
            limits.max_message_size_bytes
        )));
    }
    Ok(len)
}

/// Overwrites the `messageLength` of the message that starts at `start` in `buf` with the
/// number of bytes from `start` to the end of `buf`.
///
/// # Panics
///
/// If the message is longer than `i32::MAX` bytes, which no wire message can be.
pub(crate) fn patch_length(buf: &mut [u8], start: usize) {
    patch_i32_len(buf, start, start);
}

/// Overwrites the little-endian i32 at `at` with the number of bytes from `from` to the end
/// of `buf` (used for messageLength and for a document sequence's size).
///
/// # Panics
///
/// If that length exceeds `i32::MAX`; [`Message::check_size`](super::Message::check_size)
/// rejects such messages long before.
pub(crate) fn patch_i32_len(buf: &mut [u8], at: usize, from: usize) {
    let len = i32::try_from(buf.len() - from)
        .expect("a wire message section cannot exceed i32::MAX bytes");
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

static NEXT_REQUEST_ID: AtomicI32 = AtomicI32::new(1);

/// A fresh `requestID`, unique within this process until the 32-bit counter wraps.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::next_request_id;
///
/// let a = next_request_id();
/// let b = next_request_id();
/// assert_ne!(a, b);
/// ```
pub fn next_request_id() -> i32 {
    NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_short_input() {
        let h = MsgHeader {
            message_length: 100,
            request_id: -5,
            response_to: i32::MAX,
            op_code: OpCode(77),
        };
        let mut out = vec![0xAA];
        h.write_to(&mut out);
        assert_eq!(MsgHeader::parse(&out[1..]).unwrap(), h);
        for n in 0..HEADER_LEN {
            assert!(MsgHeader::parse(&out[1..1 + n]).is_err());
        }
    }

    #[test]
    fn message_length_checks_name_the_problem() {
        let limits = SizeLimits::default();
        let msg = |len| check_message_length(len, &limits).unwrap_err().to_string();
        assert!(msg(-1).contains("negative"));
        assert!(msg(15).contains("shorter than the 16-byte header"));
        assert!(msg(48_000_001).contains("exceeds maxMessageSizeBytes (48000000)"));
        assert_eq!(check_message_length(16, &limits).unwrap(), 16);
        let http = i32::from_le_bytes(*b"HTTP");
        assert!(msg(http).contains("HTTP"), "{}", msg(http));
        assert_eq!(
            check_message_length(48_000_000, &limits).unwrap(),
            48_000_000
        );
    }

    #[test]
    fn opcode_display_names_known_codes() {
        assert_eq!(OpCode::QUERY.to_string(), "2004 (OP_QUERY)");
        assert_eq!(OpCode(9).to_string(), "9");
        assert_eq!(format!("{:?}", OpCode::REPLY), "OP_REPLY");
    }

    #[test]
    fn patch_length_writes_little_endian_length() {
        let mut buf = vec![9u8; 3];
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&[1, 2, 3]);
        patch_length(&mut buf, 3);
        assert_eq!(&buf[3..7], &7i32.to_le_bytes());
    }
}
