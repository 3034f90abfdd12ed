//! Deeply nested documents: the depth limit, and decoding and encoding that never
//! overflow a coroutine's stack.
//!
//! The bson crate decodes and encodes recursively, and a level costs a lot of stack: a
//! `Document` deserialized through serde takes about 2.5 KiB a level in a release build
//! and 25 KiB in a debug build (`examples/nesting_stack.rs` measures every operation).
//! A coroutine's 256 KiB would overflow at about 100 levels (release), while a server can
//! return documents nested a thousand levels deep. So every document is decoded or
//! encoded where it fits: on the caller's stack when it is shallow (nearly always), else
//! on a side stack sized for [`MAX_DOCUMENT_DEPTH`] levels
//! ([`runtime::coroutine::on_stack`](crate::runtime::coroutine::on_stack)). Deeper than
//! the limit is an error that names the depth, and the process lives.
//!
//! Knowing the depth costs a scan of the bytes before decoding (85 ns for a 225-byte,
//! 4-level document whose decode takes 3 µs; skipped for documents too short to be
//! deep) and a walk of a command document before encoding it. A typed value is
//! serialized through a counting adapter: on the caller's stack up to a few levels, and
//! again on the side stack when it turns out deeper.

use std::cell::Cell;

use bson::{Bson, Document, RawDocument, RawDocumentBuf};
use serde::{Serialize, de::DeserializeOwned, ser};

use crate::error::{Error, Result};

/// The deepest document greenmongo decodes or encodes: 1,024 levels, counting the
/// document itself as one and each embedded document or array as one more.
///
/// MongoDB's own ceiling for nesting (the `maxBSONDepth` parameter) is 1,000, and a reply
/// wraps a stored document a few levels deeper (`cursor.firstBatch.[i]`). Deeper
/// documents are refused with [`ErrorKind::InvalidResponse`](crate::ErrorKind) when they
/// arrive and [`ErrorKind::InvalidArgument`](crate::ErrorKind) before they are sent.
///
/// Up to this depth the driver's decoding and encoding never overflow a coroutine's
/// stack, whatever its size: deep documents are handled on a side stack. What *you* do
/// with a deep document recurses on your stack, though. Per level, measured by
/// `examples/nesting_stack.rs` (release build; debug build in brackets): dropping a
/// `Document` 57 B (303 B), comparing 180 B (876 B), formatting with `{:?}` 221 B
/// (778 B), cloning 786 B (2.7 KiB). So in a coroutine with the default 256 KiB, a
/// 1,000-level document is fine to drop in a release build but not to clone; run such
/// work inside [`runtime::coroutine::on_stack`](crate::runtime::coroutine::on_stack), and
/// lend deep values to the driver (`insert_one(&doc)`) rather than give them, so that
/// you decide where they are dropped.
///
/// ```
/// assert_eq!(greenmongo::MAX_DOCUMENT_DEPTH, 1024);
/// ```
pub const MAX_DOCUMENT_DEPTH: usize = 1024;

/// The stack budgeted for one level of decoding or encoding, above the measured worst
/// case (serde into a `Document`) with room for users' own types.
const STACK_PER_LEVEL: usize = if cfg!(debug_assertions) {
    40 * 1024
} else {
    6 * 1024
};

/// How much of the caller's stack a decode or encode may use: the driver's own deepest
/// path leaves more than this of a default 256 KiB coroutine stack.
const INLINE_STACK: usize = 64 * 1024;

/// The deepest document handled on the caller's stack.
const INLINE_DEPTH: usize = {
    let depth = INLINE_STACK / STACK_PER_LEVEL;
    if depth == 0 { 1 } else { depth }
};

/// The side stack: every level up to the limit, and the frames around them.
const SIDE_STACK: usize = MAX_DOCUMENT_DEPTH * STACK_PER_LEVEL + 256 * 1024;

/// The fewest bytes a document of `depth` levels takes: each level adds a type byte, an
/// empty key's NUL, a length and a terminator (7 bytes) to the innermost 5.
const fn min_len(depth: usize) -> usize {
    5 + 7 * (depth - 1)
}

/// Runs `f` on the caller's stack when `depth` fits there, else on the side stack.
fn at_depth<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    if depth <= INLINE_DEPTH {
        f()
    } else {
        crate::runtime::coroutine::on_stack(SIDE_STACK, f)
    }
}

/// The depth of a document that arrived, checked against the limit.
fn arrived_depth(raw: &RawDocument) -> Result<usize> {
    let bytes = raw.as_bytes();
    if bytes.len() < min_len(INLINE_DEPTH + 1) {
        return Ok(1);
    }
    let depth = raw_depth(bytes)
        .ok_or_else(|| Error::invalid_response("a malformed document (its lengths disagree)"))?;
    if depth > MAX_DOCUMENT_DEPTH {
        return Err(Error::invalid_response(format!(
            "a document nested {depth} levels deep arrived; greenmongo decodes at most \
             {MAX_DOCUMENT_DEPTH} (MAX_DOCUMENT_DEPTH)"
        )));
    }
    Ok(depth)
}

/// Decodes a document that arrived into `T`.
pub(crate) fn deserialize<T: DeserializeOwned>(raw: &RawDocument) -> Result<T> {
    let depth = arrived_depth(raw)?;
    at_depth(depth, || bson::deserialize_from_slice(raw.as_bytes())).map_err(Error::from)
}

/// Decodes a document that arrived into a [`Document`].
pub(crate) fn to_document(raw: &RawDocument) -> Result<Document> {
    let depth = arrived_depth(raw)?;
    at_depth(depth, || Document::try_from(raw)).map_err(Error::from)
}

/// Converts a decoded [`Document`] into `T` (its depth was checked when it arrived, or it
/// is the caller's own).
pub(crate) fn from_document<T: DeserializeOwned>(document: Document) -> Result<T> {
    let depth = document_depth(&document);
    at_depth(depth, || bson::deserialize_from_document(document)).map_err(Error::from)
}

/// Encodes a command (or any document the driver built around the caller's values).
pub(crate) fn encode(document: &Document) -> Result<RawDocumentBuf> {
    let depth = document_depth(document);
    if depth > MAX_DOCUMENT_DEPTH {
        return Err(too_deep_to_send(&format!("{depth} levels")));
    }
    at_depth(depth, || RawDocumentBuf::try_from(document)).map_err(Error::from)
}

/// Serializes the caller's value into a document.
pub(crate) fn serialize<T: Serialize + ?Sized>(value: &T) -> Result<RawDocumentBuf> {
    serialize_with(value, |v: &Counted<'_, T>| {
        bson::serialize_to_raw_document_buf(v)
    })
}

/// Serializes the caller's value into a [`Document`].
pub(crate) fn serialize_to_document<T: Serialize + ?Sized>(value: &T) -> Result<Document> {
    serialize_with(value, |v: &Counted<'_, T>| bson::serialize_to_document(v))
}

/// Serializes with `to` on the caller's stack while the value is shallow; a deeper value
/// is serialized again on the side stack.
fn serialize_with<T: Serialize + ?Sized, R>(
    value: &T,
    to: impl Fn(&Counted<'_, T>) -> bson::error::Result<R>,
) -> Result<R> {
    let inline = Levels::new(INLINE_DEPTH);
    match to(&Counted {
        value,
        levels: &inline,
    }) {
        Err(_) if inline.exceeded.get() => {}
        done => return done.map_err(Error::from),
    }
    let all = Levels::new(MAX_DOCUMENT_DEPTH);
    let result = at_depth(MAX_DOCUMENT_DEPTH, || {
        to(&Counted {
            value,
            levels: &all,
        })
    });
    match result {
        Err(_) if all.exceeded.get() => Err(too_deep_to_send(&format!(
            "more than {MAX_DOCUMENT_DEPTH} levels"
        ))),
        done => done.map_err(Error::from),
    }
}

fn too_deep_to_send(depth: &str) -> Error {
    Error::invalid_argument(format!(
        "the document is nested {depth} deep; greenmongo encodes at most \
         {MAX_DOCUMENT_DEPTH} (MAX_DOCUMENT_DEPTH), and MongoDB stores fewer"
    ))
}

/// The depth of encoded BSON (1 for a flat document), without recursion; `None` when its
/// lengths are inconsistent (the decoder then says what is wrong).
pub(crate) fn raw_depth(bytes: &[u8]) -> Option<usize> {
    let int = |at: usize| -> Option<usize> {
        let v = i32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?);
        usize::try_from(v).ok()
    };
    let cstring = |at: usize, end: usize| bytes.get(at..end)?.iter().position(|&b| b == 0);
    let len = int(0)?;
    if len < 5 || len > bytes.len() {
        return None;
    }
    // Where each open document ends (its terminating NUL), innermost last.
    let mut ends = vec![len - 1];
    let mut deepest = 1;
    let mut pos = 4;
    while let Some(&end) = ends.last() {
        if pos == end {
            ends.pop();
            pos += 1;
            continue;
        }
        let kind = *bytes.get(pos)?;
        pos += 1;
        pos += cstring(pos, end)? + 1;
        let value_len = match kind {
            0x03 | 0x04 => {
                // An embedded document or array: descend.
                let inner = int(pos)?;
                if inner < 5 || pos + inner > end {
                    return None;
                }
                ends.push(pos + inner - 1);
                deepest = deepest.max(ends.len());
                pos += 4;
                continue;
            }
            0x01 | 0x09 | 0x11 | 0x12 => 8,
            0x10 => 4,
            0x08 => 1,
            0x06 | 0x0A | 0x7F | 0xFF => 0,
            0x07 => 12,
            0x13 => 16,
            0x02 | 0x0D | 0x0E => 4 + int(pos)?,
            0x05 => 5 + int(pos)?,
            0x0C => 16 + int(pos)?,
            0x0F => {
                // Code with scope: total length, the code string, then the scope, a
                // document the decoder descends into like any other.
                let scope = pos.checked_add(8 + int(pos + 4)?)?;
                let inner = int(scope)?;
                if inner < 5 || scope + inner != pos + int(pos)? || scope + inner > end {
                    return None;
                }
                ends.push(scope + inner - 1);
                deepest = deepest.max(ends.len());
                pos = scope + 4;
                continue;
            }
            0x0B => {
                let pattern = cstring(pos, end)? + 1;
                pattern + cstring(pos + pattern, end)? + 1
            }
            _ => return None,
        };
        pos = pos.checked_add(value_len)?;
        if pos > end {
            return None;
        }
    }
    Some(deepest)
}

/// The depth of a [`Document`] (1 for a flat one), without recursion.
pub(crate) fn document_depth(document: &Document) -> usize {
    /// The values of an open document or array (no allocation per level: this runs on
    /// every command sent).
    enum Level<'a> {
        Document(bson::document::Values<'a>),
        Array(std::slice::Iter<'a, Bson>),
    }
    let mut open = vec![Level::Document(document.values())];
    let mut deepest = 1;
    while let Some(level) = open.last_mut() {
        let next = match level {
            Level::Document(values) => values.next(),
            Level::Array(values) => values.next(),
        };
        match next {
            Some(Bson::Document(d)) => open.push(Level::Document(d.values())),
            Some(Bson::Array(a)) => open.push(Level::Array(a.iter())),
            Some(Bson::JavaScriptCodeWithScope(c)) => open.push(Level::Document(c.scope.values())),
            Some(_) => continue,
            None => {
                open.pop();
                continue;
            }
        }
        deepest = deepest.max(open.len());
    }
    deepest
}

/// How deep a serialization has gone, and whether it went past its limit.
struct Levels {
    depth: Cell<usize>,
    max: usize,
    exceeded: Cell<bool>,
}

impl Levels {
    fn new(max: usize) -> Levels {
        Levels {
            depth: Cell::new(0),
            max,
            exceeded: Cell::new(false),
        }
    }

    fn enter<E: ser::Error>(&self) -> std::result::Result<(), E> {
        let depth = self.depth.get() + 1;
        if depth > self.max {
            self.exceeded.set(true);
            return Err(E::custom(format!("nested deeper than {} levels", self.max)));
        }
        self.depth.set(depth);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get() - 1);
    }
}

/// A value whose serialization counts its levels.
struct Counted<'a, T: ?Sized> {
    value: &'a T,
    levels: &'a Levels,
}

impl<T: Serialize + ?Sized> Serialize for Counted<'_, T> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.value.serialize(Counting {
            inner: serializer,
            levels: self.levels,
        })
    }
}

/// A serializer that hands everything to `inner`, counting the compound values it opens.
struct Counting<'a, S> {
    inner: S,
    levels: &'a Levels,
}

/// An open compound value (sequence, map, struct ...) of a [`Counting`] serializer.
struct Compound<'a, C> {
    inner: C,
    levels: &'a Levels,
}

impl<'a, C> Compound<'a, C> {
    fn wrap<'v, T: ?Sized>(&self, value: &'v T) -> Counted<'v, T>
    where
        'a: 'v,
    {
        Counted {
            value,
            levels: self.levels,
        }
    }
}

/// Delegates the leaf methods of `Serializer` unchanged.
macro_rules! leaves {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> std::result::Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

/// Opens a compound value: counts a level, then delegates.
macro_rules! opens {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $assoc:ident;)*) => {
        $(fn $method(self, $($arg: $ty),*) -> std::result::Result<Self::$assoc, S::Error> {
            self.levels.enter()?;
            Ok(Compound { inner: self.inner.$method($($arg),*)?, levels: self.levels })
        })*
    };
}

impl<'a, S: ser::Serializer> ser::Serializer for Counting<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    leaves! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    opens! {
        serialize_seq(len: Option<usize>) -> SerializeSeq;
        serialize_tuple(len: usize) -> SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> SerializeStruct;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> SerializeStructVariant;
    }

    fn serialize_some<T: Serialize + ?Sized>(
        self,
        value: &T,
    ) -> std::result::Result<S::Ok, S::Error> {
        let levels = self.levels;
        self.inner.serialize_some(&Counted { value, levels })
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> std::result::Result<S::Ok, S::Error> {
        let levels = self.levels;
        self.inner
            .serialize_newtype_struct(name, &Counted { value, levels })
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> std::result::Result<S::Ok, S::Error> {
        let levels = self.levels;
        self.inner
            .serialize_newtype_variant(name, index, variant, &Counted { value, levels })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Implements a compound trait: each element is counted, `end` leaves the level.
macro_rules! compound {
    ($trait:ident { $($method:ident($($arg:ident: $ty:ty),*);)* }) => {
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;
            $(fn $method<T: Serialize + ?Sized>(&mut self, $($arg: $ty,)* value: &T) -> std::result::Result<(), C::Error> {
                let value = self.wrap(value);
                self.inner.$method($($arg,)* &value)
            })*
            fn end(self) -> std::result::Result<C::Ok, C::Error> {
                self.levels.leave();
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq { serialize_element(); });
compound!(SerializeTuple { serialize_element(); });
compound!(SerializeTupleStruct { serialize_field(); });
compound!(SerializeTupleVariant { serialize_field(); });
compound!(SerializeStruct { serialize_field(key: &'static str); });
compound!(SerializeStructVariant { serialize_field(key: &'static str); });

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(
        &mut self,
        key: &T,
    ) -> std::result::Result<(), C::Error> {
        let key = self.wrap(key);
        self.inner.serialize_key(&key)
    }

    fn serialize_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> std::result::Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_value(&value)
    }

    fn end(self) -> std::result::Result<C::Ok, C::Error> {
        self.levels.leave();
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn nested(levels: usize) -> Document {
        let mut d = doc! { "x": 1 };
        for _ in 1..levels {
            d = doc! { "a": d };
        }
        d
    }

    #[test]
    fn the_scan_agrees_with_the_document_on_every_kind_of_value() {
        roomy(the_scan_agrees);
    }

    fn the_scan_agrees() {
        let d = doc! {
            "f": 1.5, "s": "str", "d": { "e": [1, { "g": [] }] }, "b": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2] },
            "u": bson::Bson::Undefined, "o": bson::oid::ObjectId::new(), "t": true, "dt": bson::DateTime::now(),
            "n": null, "r": bson::Regex { pattern: "a.b".try_into().unwrap(), options: "i".try_into().unwrap() },
            "js": bson::Bson::JavaScriptCode("f()".into()),
            "jss": bson::JavaScriptCodeWithScope { code: "g()".into(), scope: doc! { "v": { "w": 1 } } },
            "i": 1, "ts": bson::Timestamp { time: 1, increment: 2 }, "l": 2_i64,
            "dec": bson::Decimal128::from_bytes([0; 16]), "min": bson::Bson::MinKey, "max": bson::Bson::MaxKey,
        };
        let raw = RawDocumentBuf::try_from(&d).unwrap();
        assert_eq!(raw_depth(raw.as_bytes()), Some(5));
        assert_eq!(document_depth(&d), 5);
        let scoped =
            doc! { "c": bson::JavaScriptCodeWithScope { code: "f()".into(), scope: nested(3) } };
        assert_eq!(document_depth(&scoped), 4);
        let raw = RawDocumentBuf::try_from(&scoped).unwrap();
        assert_eq!(raw_depth(raw.as_bytes()), Some(4));
        for levels in [1, 2, 17, 1000] {
            let d = nested(levels);
            assert_eq!(document_depth(&d), levels);
            let raw = RawDocumentBuf::try_from(&d).unwrap();
            assert_eq!(raw_depth(raw.as_bytes()), Some(levels));
            assert!(raw.as_bytes().len() >= min_len(levels));
        }
    }

    #[test]
    fn the_scan_never_panics_on_broken_lengths() {
        let raw = RawDocumentBuf::try_from(&doc! { "a": { "b": "text", "c": [1, 2] } }).unwrap();
        let bytes = raw.as_bytes();
        for i in 0..bytes.len() {
            for value in [0u8, 1, 4, 5, 0x7f, 0xff] {
                let mut broken = bytes.to_vec();
                broken[i] = value;
                let _ = raw_depth(&broken);
                let _ = raw_depth(&broken[..i]);
            }
        }
    }

    /// Runs `f` on a thread with room for the test's own recursion (comparing, cloning
    /// and dropping deep documents), which is not what these tests measure.
    fn roomy(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn deep_documents_decode_and_encode_up_to_the_limit_and_no_further() {
        roomy(deep_documents_up_to_the_limit);
    }

    fn deep_documents_up_to_the_limit() {
        let deepest = nested(MAX_DOCUMENT_DEPTH);
        let raw = encode(&deepest).unwrap();
        assert_eq!(to_document(&raw).unwrap(), deepest);
        let typed: Document = deserialize(&raw).unwrap();
        assert_eq!(typed, deepest);
        assert_eq!(serialize(&deepest).unwrap(), raw);
        assert_eq!(serialize_to_document(&deepest).unwrap(), deepest);
        assert_eq!(from_document::<Document>(deepest.clone()).unwrap(), deepest);

        let too_deep = nested(MAX_DOCUMENT_DEPTH + 1);
        let message = encode(&too_deep).unwrap_err().to_string();
        assert!(
            message.contains("1025 levels") && message.contains("1024"),
            "{message}"
        );
        let message = serialize(&too_deep).unwrap_err().to_string();
        assert!(message.contains("more than 1024 levels"), "{message}");
        let raw = RawDocumentBuf::try_from(&too_deep).unwrap();
        let message = to_document(&raw).unwrap_err().to_string();
        assert!(
            message.contains("nested 1025 levels") && message.contains("1024"),
            "{message}"
        );
        assert!(deserialize::<Document>(&raw).is_err());
    }

    #[test]
    fn typed_values_serialize_as_bson_does() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Item {
            id: bson::oid::ObjectId,
            name: Option<String>,
            tags: Vec<String>,
            pair: (i32, f64),
            kind: Kind,
            when: bson::DateTime,
        }
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        enum Kind {
            Plain,
            Sized(u32),
            Shaped { w: i32, h: i32 },
        }
        for kind in [Kind::Plain, Kind::Sized(3), Kind::Shaped { w: 1, h: 2 }] {
            let item = Item {
                id: bson::oid::ObjectId::new(),
                name: Some("n".into()),
                tags: vec!["a".into()],
                pair: (1, 2.5),
                kind,
                when: bson::DateTime::now(),
            };
            let ours = serialize(&item).unwrap();
            assert_eq!(ours, bson::serialize_to_raw_document_buf(&item).unwrap());
            assert_eq!(deserialize::<Item>(&ours).unwrap(), item);
        }
    }
}
