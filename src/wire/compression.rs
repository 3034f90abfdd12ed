//! OP_COMPRESSED: compressors, and wrapping/unwrapping a message body.
//!
//! Implements the [Wire Compression] spec. Each compressor other than noop sits behind a
//! cargo feature (`snappy-compression`, `zlib-compression`, `zstd-compression`, all on by
//! default); a message compressed with a compressor this build lacks is a clear error.
//!
//! [Wire Compression]: https://github.com/mongodb/specifications/blob/master/source/compression/OP_COMPRESSED.md

use std::fmt;

use super::{Cursor, HEADER_LEN, MsgHeader, OpCode, SizeLimits, header};
use crate::{Error, Result};

/// Bytes of OP_COMPRESSED fields between the header and the compressed data:
/// originalOpcode (4), uncompressedSize (4), compressorId (1).
const PREFIX_LEN: usize = 9;

/// A wire compressor, as negotiated in the handshake's `compression` field.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::Compressor;
///
/// # #[cfg(feature = "zlib-compression")] {
/// let zlib = Compressor::from_name("zlib", Some(6))?;
/// assert_eq!((zlib.id(), zlib.name()), (2, "zlib"));
/// assert!(Compressor::zlib(Some(10)).is_err());
/// # }
/// assert!(Compressor::from_name("lz4", None).is_err());
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compressor {
    /// Id 0: the data is not compressed (useful for testing).
    Noop,
    /// Id 1: snappy (raw format, no framing).
    #[cfg(feature = "snappy-compression")]
    Snappy,
    /// Id 2: zlib (RFC 1950) at a level from -1 (default, usually 6) to 9.
    #[cfg(feature = "zlib-compression")]
    Zlib {
        /// `zlibCompressionLevel`; `None` or `Some(-1)` is the library default.
        level: Option<i32>,
    },
    /// Id 3: zstd at the library's default level.
    #[cfg(feature = "zstd-compression")]
    Zstd,
}

impl Compressor {
    /// A zlib compressor, checking `level` is in `-1..=9`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a level outside
    /// `-1..=9`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::Compressor;
    ///
    /// assert_eq!(Compressor::zlib(Some(-1))?, Compressor::Zlib { level: Some(-1) });
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    #[cfg(feature = "zlib-compression")]
    pub fn zlib(level: Option<i32>) -> Result<Compressor> {
        match level {
            Some(l) if !(-1..=9).contains(&l) => Err(Error::invalid_argument(format!(
                "zlibCompressionLevel must be between -1 and 9, got {l}"
            ))),
            _ => Ok(Compressor::Zlib { level }),
        }
    }

    /// The compressor with the handshake name `name` (`"noop"`, `"snappy"`, `"zlib"` or
    /// `"zstd"`); `zlib_level` applies only to zlib.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for an unknown name,
    /// a compressor whose cargo feature is off, or an invalid zlib level.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::wire::Compressor;
    ///
    /// assert_eq!(Compressor::from_name("noop", None)?, Compressor::Noop);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    #[cfg_attr(not(feature = "zlib-compression"), allow(unused_variables))]
    pub fn from_name(name: &str, zlib_level: Option<i32>) -> Result<Compressor> {
        match name {
            "noop" => Ok(Compressor::Noop),
            #[cfg(feature = "snappy-compression")]
            "snappy" => Ok(Compressor::Snappy),
            #[cfg(feature = "zlib-compression")]
            "zlib" => Compressor::zlib(zlib_level),
            #[cfg(feature = "zstd-compression")]
            "zstd" => Ok(Compressor::Zstd),
            #[allow(unreachable_patterns)] // when every compressor feature is on
            "snappy" | "zlib" | "zstd" => Err(Error::invalid_argument(format!(
                "compressor {name} is not enabled in this build (cargo feature {name}-compression)"
            ))),
            _ => Err(Error::invalid_argument(format!(
                "unknown compressor {name:?}"
            ))),
        }
    }

    /// The compressor's id in OP_COMPRESSED.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenmongo::wire::Compressor::Noop.id(), 0);
    /// ```
    pub fn id(&self) -> u8 {
        match self {
            Compressor::Noop => 0,
            #[cfg(feature = "snappy-compression")]
            Compressor::Snappy => 1,
            #[cfg(feature = "zlib-compression")]
            Compressor::Zlib { .. } => 2,
            #[cfg(feature = "zstd-compression")]
            Compressor::Zstd => 3,
        }
    }

    /// The compressor's name in the handshake's `compression` array.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenmongo::wire::Compressor::Noop.name(), "noop");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Compressor::Noop => "noop",
            #[cfg(feature = "snappy-compression")]
            Compressor::Snappy => "snappy",
            #[cfg(feature = "zlib-compression")]
            Compressor::Zlib { .. } => "zlib",
            #[cfg(feature = "zstd-compression")]
            Compressor::Zstd => "zstd",
        }
    }

    /// Appends `input` compressed to `out`.
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Compressor::Noop => out.extend_from_slice(input),
            #[cfg(feature = "snappy-compression")]
            Compressor::Snappy => {
                let start = out.len();
                out.resize(start + snap::raw::max_compress_len(input.len()), 0);
                let n = snap::raw::Encoder::new()
                    .compress(input, &mut out[start..])
                    .map_err(std::io::Error::other)?;
                out.truncate(start + n);
            }
            #[cfg(feature = "zlib-compression")]
            Compressor::Zlib { level } => {
                use std::io::Write;
                let level = match level {
                    None | Some(-1) => flate2::Compression::default(),
                    Some(l) => flate2::Compression::new((*l).clamp(0, 9).unsigned_abs()),
                };
                let mut enc = flate2::write::ZlibEncoder::new(out, level);
                enc.write_all(input)?;
                enc.finish()?;
            }
            #[cfg(feature = "zstd-compression")]
            Compressor::Zstd => {
                zstd::stream::copy_encode(input, out, zstd::DEFAULT_COMPRESSION_LEVEL)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Commands whose messages MUST NOT be compressed (authentication and the handshake).
const UNCOMPRESSIBLE_COMMANDS: [&str; 11] = [
    "hello",
    "ismaster",
    "saslstart",
    "saslcontinue",
    "getnonce",
    "authenticate",
    "createuser",
    "updateuser",
    "copydbsaslstart",
    "copydbgetnonce",
    "copydb",
];

/// Whether a message carrying the command `command_name` may be sent compressed.
///
/// The OP_COMPRESSED spec forbids compressing `hello`, legacy hello (`isMaster`/`ismaster`),
/// `saslStart`, `saslContinue`, `getnonce`, `authenticate`, `createUser`, `updateUser`,
/// `copydbSaslStart`, `copydbgetnonce` and `copydb`. The match ignores ASCII case, so a
/// variant spelling is never compressed by mistake. [`Message::encode`](super::Message::encode)
/// applies this rule itself.
///
/// # Examples
///
/// ```
/// use greenmongo::wire::command_may_be_compressed;
///
/// assert!(command_may_be_compressed("insert"));
/// assert!(!command_may_be_compressed("saslStart"));
/// assert!(!command_may_be_compressed("isMaster"));
/// ```
pub fn command_may_be_compressed(command_name: &str) -> bool {
    !UNCOMPRESSIBLE_COMMANDS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(command_name))
}

/// Appends an OP_COMPRESSED message wrapping `original` (a whole uncompressed message,
/// header included) to `out`. Falls back to appending `original` unchanged if the
/// compressor fails, which for in-memory buffers only happens on allocation failure.
pub(crate) fn wrap(original: &[u8], compressor: &Compressor, out: &mut Vec<u8>) {
    let head = MsgHeader::parse(original).expect("encoder produced a whole header");
    let body = &original[HEADER_LEN..];
    let start = out.len();
    MsgHeader {
        op_code: OpCode::COMPRESSED,
        ..head
    }
    .write_to(out);
    out.extend_from_slice(&head.op_code.0.to_le_bytes());
    let uncompressed_size =
        i32::try_from(body.len()).expect("a wire message cannot exceed i32::MAX bytes");
    out.extend_from_slice(&uncompressed_size.to_le_bytes());
    out.push(compressor.id());
    if compressor.compress(body, out).is_err() {
        out.truncate(start);
        out.extend_from_slice(original);
        return;
    }
    header::patch_length(out, start);
}

/// Unwraps the OP_COMPRESSED message `bytes` (header included, already length-checked):
/// returns the original message, its header rebuilt with the original opcode and length.
pub(crate) fn unwrap(bytes: &[u8], limits: &SizeLimits) -> Result<Vec<u8>> {
    let head = MsgHeader::parse(bytes)?;
    let mut cur = Cursor::new(&bytes[HEADER_LEN..]);
    let original_opcode = OpCode(cur.i32("OP_COMPRESSED originalOpcode")?);
    let size = cur.i32("OP_COMPRESSED uncompressedSize")?;
    let id = cur.u8("OP_COMPRESSED compressorId")?;
    let compressed = &bytes[HEADER_LEN + PREFIX_LEN..];

    if original_opcode == OpCode::COMPRESSED {
        return Err(Error::invalid_response(
            "OP_COMPRESSED wraps another OP_COMPRESSED",
        ));
    }
    let max_body = limits.max_message_size_bytes.saturating_sub(HEADER_LEN);
    let size = match usize::try_from(size) {
        Ok(s) if s <= max_body => s,
        _ => {
            return Err(Error::invalid_response(format!(
                "OP_COMPRESSED uncompressedSize {size} is negative or exceeds maxMessageSizeBytes ({})",
                limits.max_message_size_bytes
            )));
        }
    };

    let mut out = Vec::with_capacity(HEADER_LEN + size);
    MsgHeader {
        // `size <= max_message_size_bytes - 16`, but the limit itself may exceed i32.
        message_length: i32::try_from(HEADER_LEN + size).map_err(|_| {
            Error::invalid_response(format!(
                "OP_COMPRESSED uncompressedSize {size} is too large"
            ))
        })?,
        op_code: original_opcode,
        ..head
    }
    .write_to(&mut out);
    decompress(id, compressed, size, &mut out)?;
    if out.len() != HEADER_LEN + size {
        return Err(Error::invalid_response(format!(
            "OP_COMPRESSED data decompressed to {} bytes, uncompressedSize says {size}",
            out.len() - HEADER_LEN
        )));
    }
    Ok(out)
}

/// Appends the decompression of `input` to `out`, reading at most `size + 1` bytes of
/// output so a decompression bomb cannot allocate past the declared size.
#[cfg_attr(
    not(any(
        feature = "snappy-compression",
        feature = "zlib-compression",
        feature = "zstd-compression"
    )),
    allow(unused_variables)
)]
fn decompress(id: u8, input: &[u8], size: usize, out: &mut Vec<u8>) -> Result<()> {
    let corrupt = |name: &str, e: &dyn fmt::Display| {
        Error::invalid_response(format!("OP_COMPRESSED {name} data is corrupt: {e}"))
    };
    match id {
        0 => out.extend_from_slice(input),
        #[cfg(feature = "snappy-compression")]
        1 => {
            let len = snap::raw::decompress_len(input).map_err(|e| corrupt("snappy", &e))?;
            if len != size {
                return Err(Error::invalid_response(format!(
                    "OP_COMPRESSED snappy data decompresses to {len} bytes, uncompressedSize says {size}"
                )));
            }
            let start = out.len();
            out.resize(start + len, 0);
            snap::raw::Decoder::new()
                .decompress(input, &mut out[start..])
                .map_err(|e| corrupt("snappy", &e))?;
        }
        #[cfg(feature = "zlib-compression")]
        2 => {
            use std::io::Read;
            flate2::read::ZlibDecoder::new(input)
                .take(size as u64 + 1)
                .read_to_end(out)
                .map_err(|e| corrupt("zlib", &e))?;
        }
        #[cfg(feature = "zstd-compression")]
        3 => {
            use std::io::Read;
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| corrupt("zstd", &e))?
                .take(size as u64 + 1)
                .read_to_end(out)
                .map_err(|e| corrupt("zstd", &e))?;
        }
        #[allow(unreachable_patterns)] // when every compressor feature is on
        1..=3 => {
            let name = ["snappy", "zlib", "zstd"][usize::from(id - 1)];
            return Err(Error::invalid_response(format!(
                "OP_COMPRESSED uses {name} (id {id}), which is not enabled in this build (cargo feature {name}-compression)"
            )));
        }
        _ => {
            return Err(Error::invalid_response(format!(
                "OP_COMPRESSED uses unknown compressorId {id}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Compressor> {
        #[allow(unused_mut)]
        let mut v = vec![Compressor::Noop];
        #[cfg(feature = "snappy-compression")]
        v.push(Compressor::Snappy);
        #[cfg(feature = "zlib-compression")]
        for level in [None, Some(-1), Some(0), Some(1), Some(9)] {
            v.push(Compressor::zlib(level).unwrap());
        }
        #[cfg(feature = "zstd-compression")]
        v.push(Compressor::Zstd);
        v
    }

    fn original(body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        MsgHeader {
            message_length: (HEADER_LEN + body.len()) as i32,
            request_id: 11,
            response_to: 22,
            op_code: OpCode::MSG,
        }
        .write_to(&mut m);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn wrap_then_unwrap_restores_the_original_for_every_compressor() {
        let body: Vec<u8> = b"compress me ".iter().cycle().take(5000).copied().collect();
        let orig = original(&body);
        for c in all() {
            let mut wrapped = Vec::new();
            wrap(&orig, &c, &mut wrapped);
            let head = MsgHeader::parse(&wrapped).unwrap();
            assert_eq!(head.op_code, OpCode::COMPRESSED, "{c}");
            assert_eq!(head.message_length as usize, wrapped.len(), "{c}");
            assert_eq!((head.request_id, head.response_to), (11, 22));
            assert_eq!(wrapped[HEADER_LEN + 8], c.id());
            if c != Compressor::Noop && c.name() != "zlib" {
                assert!(wrapped.len() < orig.len() / 4, "{c} did not compress");
            }
            assert_eq!(
                unwrap(&wrapped, &SizeLimits::default()).unwrap(),
                orig,
                "{c}"
            );
        }
    }

    #[test]
    fn unwrap_rejects_lies_about_the_size() {
        let orig = original(&[7u8; 300]);
        for c in all() {
            let mut wrapped = Vec::new();
            wrap(&orig, &c, &mut wrapped);
            for (size, want) in [
                (299, "uncompressedSize says 299"),
                (301, "uncompressedSize says 301"),
                (-1, "negative or exceeds"),
            ] {
                let mut bad = wrapped.clone();
                bad[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&i32::to_le_bytes(size));
                let err = unwrap(&bad, &SizeLimits::default())
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(want), "{c}: {err}");
            }
        }
    }

    #[test]
    fn unwrap_bounds_the_declared_size_by_the_limit() {
        let mut wrapped = Vec::new();
        wrap(&original(&[1; 10]), &Compressor::Noop, &mut wrapped);
        let limits = SizeLimits {
            max_message_size_bytes: 20,
            ..SizeLimits::default()
        };
        let err = unwrap(&wrapped, &limits).unwrap_err().to_string();
        assert!(err.contains("exceeds maxMessageSizeBytes (20)"), "{err}");
    }

    #[test]
    fn unwrap_rejects_unknown_compressors_and_nesting() {
        let mut wrapped = Vec::new();
        wrap(&original(&[1; 10]), &Compressor::Noop, &mut wrapped);
        let mut bad = wrapped.clone();
        bad[HEADER_LEN + 8] = 4;
        let err = unwrap(&bad, &SizeLimits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown compressorId 4"), "{err}");
        let mut nested = wrapped.clone();
        nested[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&2012i32.to_le_bytes());
        let err = unwrap(&nested, &SizeLimits::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("wraps another OP_COMPRESSED"), "{err}");
    }

    #[test]
    fn names_ids_and_parsing_agree() {
        for c in all() {
            let level = match c {
                #[cfg(feature = "zlib-compression")]
                Compressor::Zlib { level } => level,
                _ => None,
            };
            assert_eq!(Compressor::from_name(c.name(), level).unwrap(), c);
        }
        assert!(Compressor::from_name("Snappy", None).is_err());
    }

    #[test]
    fn uncompressible_commands_follow_the_spec_list() {
        for c in [
            "hello",
            "isMaster",
            "ismaster",
            "saslStart",
            "saslContinue",
            "getnonce",
            "authenticate",
            "createUser",
            "updateUser",
            "copydbSaslStart",
            "copydbgetnonce",
            "copydb",
        ] {
            assert!(!command_may_be_compressed(c), "{c}");
        }
        for c in ["find", "insert", "getMore", "ping", "helloworld", ""] {
            assert!(command_may_be_compressed(c), "{c}");
        }
    }
}
