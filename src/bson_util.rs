//! BSON helpers that every layer uses (no I/O, no driver types).

use bson::{Bson, Document, RawBsonRef};

/// Reads an integer that the server may send as int32, int64 or double.
pub(crate) fn get_int(doc: &Document, key: &str) -> Option<i64> {
    match doc.get(key)? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

/// [`get_int`] for a value still in BSON bytes.
pub(crate) fn raw_int(value: RawBsonRef<'_>) -> Option<i64> {
    match value {
        RawBsonRef::Int32(v) => Some(i64::from(v)),
        RawBsonRef::Int64(v) => Some(v),
        RawBsonRef::Double(v) if v.fract() == 0.0 => Some(v as i64),
        _ => None,
    }
}
