//! The MongoDB wire protocol: bytes in, bytes out.
//!
//! Implements the [OP_MSG] and [OP_COMPRESSED] specifications: the 16-byte [`MsgHeader`],
//! OP_MSG with its flag bits, body and document-sequence sections and optional CRC-32C
//! checksum ([`Message`]), and OP_COMPRESSED wrapping with the noop, snappy, zlib and zstd
//! compressors ([`Compressor`]).
//!
//! The crate-internal `batch` module decides which statements of a large write go into
//! which command, under the limits of [`SizeLimits`].
//!
//! Everything here is pure except [`read_message`] and [`read_message_bytes`], which read
//! one framed message from any [`std::io::Read`]; the connection layer owns the socket.
//! Decoding never panics: every length and offset taken from the peer is bounds-checked,
//! and malformed input is an [`ErrorKind::InvalidResponse`](crate::ErrorKind) that says
//! what was wrong.
//!
//! Legacy opcodes (OP_QUERY, OP_REPLY) are not implemented: the OP_MSG spec lets a driver
//! that has only ever supported MongoDB 3.6+ use OP_MSG for the handshake too.
//!
//! [OP_MSG]: https://github.com/mongodb/specifications/blob/master/source/message/OP_MSG.md
//! [OP_COMPRESSED]: https://github.com/mongodb/specifications/blob/master/source/compression/OP_COMPRESSED.md
//!
//! # Examples
//!
//! A round trip through the codec:
//!
//! ```
//! use bson::doc;
//! use greenmongo::wire::{Message, SizeLimits};
//!
//! let mut msg = Message::from_document(&doc! { "ping": 1, "$db": "admin" })?;
//! msg.request_id = 7;
//! let bytes = msg.encode(None);
//! let mut reader = bytes.as_slice();
//! let decoded = greenmongo::wire::read_message(&mut reader, &SizeLimits::default())?;
//! assert_eq!(decoded, msg);
//! assert_eq!(decoded.command_name(), Some("ping"));
//! # Ok::<(), greenmongo::Error>(())
//! ```

use std::io::Read;

use crate::{Error, Result};

pub(crate) mod batch;
mod checksum;
pub(crate) mod compression;
mod header;
mod op_msg;

pub use compression::{Compressor, command_may_be_compressed};
pub use header::{HEADER_LEN, MsgHeader, OpCode, next_request_id};
pub use op_msg::{DocumentSequence, Message, MessageFlags};

/// The default `maxMessageSizeBytes` (48,000,000), used until a `hello` reply says otherwise.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::{SizeLimits, DEFAULT_MAX_MESSAGE_SIZE_BYTES};
///
/// assert_eq!(SizeLimits::default().max_message_size_bytes, DEFAULT_MAX_MESSAGE_SIZE_BYTES);
/// ```
pub const DEFAULT_MAX_MESSAGE_SIZE_BYTES: usize = 48_000_000;

/// The default `maxBsonObjectSize` (16 MiB), used until a `hello` reply says otherwise.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::{SizeLimits, DEFAULT_MAX_BSON_OBJECT_SIZE};
///
/// assert_eq!(SizeLimits::default().max_bson_object_size, DEFAULT_MAX_BSON_OBJECT_SIZE);
/// ```
pub const DEFAULT_MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;

/// The default `maxWriteBatchSize` (100,000 statements per write command), used until a
/// `hello` reply says otherwise.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::{SizeLimits, DEFAULT_MAX_WRITE_BATCH_SIZE};
///
/// assert_eq!(SizeLimits::default().max_write_batch_size, DEFAULT_MAX_WRITE_BATCH_SIZE);
/// ```
pub const DEFAULT_MAX_WRITE_BATCH_SIZE: usize = 100_000;

/// How much larger than `maxBsonObjectSize` a command document may be: the server allows
/// 16 KiB of command overhead on top of a maximal user document (`BSONObjMaxInternalSize`).
///
/// # Examples
///
/// ```
/// use greenmongo::wire::{SizeLimits, COMMAND_OVERHEAD_BYTES};
///
/// let limits = SizeLimits::default();
/// assert_eq!(limits.max_document_size(), limits.max_bson_object_size + COMMAND_OVERHEAD_BYTES);
/// ```
pub const COMMAND_OVERHEAD_BYTES: usize = 16 * 1024;

/// The size limits a server announces in its `hello` reply.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::SizeLimits;
///
/// let limits = SizeLimits::default();
/// assert_eq!(limits.max_message_size_bytes, 48_000_000);
/// assert_eq!(limits.max_bson_object_size, 16 * 1024 * 1024);
/// assert_eq!(limits.max_write_batch_size, 100_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    /// `maxMessageSizeBytes`: the largest whole message, header included.
    pub max_message_size_bytes: usize,
    /// `maxBsonObjectSize`: the largest user document.
    pub max_bson_object_size: usize,
    /// `maxWriteBatchSize`: the most statements one `insert`, `update`, `delete` or
    /// `bulkWrite` command may carry.
    pub max_write_batch_size: usize,
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits {
            max_message_size_bytes: DEFAULT_MAX_MESSAGE_SIZE_BYTES,
            max_bson_object_size: DEFAULT_MAX_BSON_OBJECT_SIZE,
            max_write_batch_size: DEFAULT_MAX_WRITE_BATCH_SIZE,
        }
    }
}

impl SizeLimits {
    /// The largest document allowed in a message: `maxBsonObjectSize` plus the 16 KiB the
    /// server allows for command overhead.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::SizeLimits;
    ///
    /// assert_eq!(SizeLimits::default().max_document_size(), 16 * 1024 * 1024 + 16 * 1024);
    /// ```
    pub fn max_document_size(&self) -> usize {
        self.max_bson_object_size
            .saturating_add(COMMAND_OVERHEAD_BYTES)
    }
}

/// Reads one whole message (header included) from `reader`, without decoding it.
///
/// Reads the 4-byte `messageLength`, checks it against `limits.max_message_size_bytes`
/// before allocating, then reads exactly the rest of the message.
///
/// # Errors
///
/// An [`ErrorKind::Io`](crate::ErrorKind::Io) error if the reader fails or ends early, and
/// an [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) error if the length
/// is shorter than a header or larger than the limit.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::{read_message_bytes, SizeLimits};
///
/// let mut too_big = &[0xff, 0xff, 0xff, 0x7f][..];
/// let err = read_message_bytes(&mut too_big, &SizeLimits::default()).unwrap_err();
/// assert!(err.to_string().contains("exceeds maxMessageSizeBytes"));
/// ```
pub fn read_message_bytes<R: Read + ?Sized>(
    reader: &mut R,
    limits: &SizeLimits,
) -> Result<Vec<u8>> {
    let mut len_bytes = [0u8; 4];
    reader.read_exact(&mut len_bytes).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            // std's "failed to fill whole buffer" does not say what happened.
            std::io::Error::new(
                e.kind(),
                "connection closed by the peer before a reply (while reading a message length)",
            )
        } else {
            e
        }
    })?;
    let len = i32::from_le_bytes(len_bytes);
    let len = header::check_message_length(len, limits)?;

    let mut buf = Vec::with_capacity(len);
    buf.extend_from_slice(&len_bytes);
    // `take` + `read_to_end` fills the reserved capacity without zeroing it first, and
    // never reads past this message into the next one.
    let rest = (len - len_bytes.len()) as u64;
    reader.take(rest).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "connection closed after {} of {len} bytes of a message",
                buf.len()
            ),
        )
        .into());
    }
    Ok(buf)
}

/// Reads one message from `reader` and decodes it (see [`read_message_bytes`] and
/// [`Message::decode_with_limits`]).
///
/// # Errors
///
/// Whatever [`read_message_bytes`] or [`Message::decode_with_limits`] returns.
///
/// # Examples
///
/// ```
/// use bson::doc;
/// use greenmongo::wire::{read_message, Compressor, Message, SizeLimits};
///
/// let msg = Message::from_document(&doc! { "find": "c", "$db": "d" })?;
/// # #[cfg(feature = "zlib-compression")] {
/// let bytes = msg.encode(Some(&Compressor::zlib(Some(9))?));
/// let decoded = read_message(&mut bytes.as_slice(), &SizeLimits::default())?;
/// assert_eq!(decoded.body, msg.body);
/// # }
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub fn read_message<R: Read + ?Sized>(reader: &mut R, limits: &SizeLimits) -> Result<Message> {
    let bytes = read_message_bytes(reader, limits)?;
    Message::decode_with_limits(&bytes, limits)
}

/// A little-endian cursor over untrusted bytes; every read is bounds-checked and names
/// what it was reading when the input runs out.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::invalid_response(format!(
                "message truncated: {what} needs {n} bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Peeks at the little-endian i32 at the current position without consuming it.
    pub(crate) fn peek_i32(&self, what: &str) -> Result<i32> {
        let mut copy = Cursor {
            bytes: self.bytes,
            pos: self.pos,
        };
        copy.i32(what)
    }

    /// Takes a NUL-terminated UTF-8 string, consuming the NUL.
    pub(crate) fn cstring(&mut self, what: &str) -> Result<&'a str> {
        let rest = &self.bytes[self.pos..];
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(Error::invalid_response(format!(
                "{what} at offset {} is not NUL-terminated",
                self.pos
            )));
        };
        let s = std::str::from_utf8(&rest[..nul]).map_err(|_| {
            Error::invalid_response(format!("{what} at offset {} is not valid UTF-8", self.pos))
        })?;
        self.pos += nul + 1;
        Ok(s)
    }
}

#[cfg(test)]
mod tests;
