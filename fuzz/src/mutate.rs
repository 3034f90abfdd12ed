//! The mutator: a small PRNG, byte-level mutations (bit flips, byte insert, delete and
//! duplicate, splices between corpus entries, interesting integers at likely length
//! fields, dictionary tokens) and, for inputs that are BSON documents, mutations of the
//! decoded document (a value replaced by one of another type or an edge value, a field
//! removed, renamed or copied from another entry) re-encoded as valid BSON.

use bson::{Bson, Document};

/// xorshift64*: fast, and good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Zero is xorshift's fixed point; splitmix the seed so nearby seeds diverge.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// 32-bit values that break length and count handling.
const INTERESTING_I32: [i32; 22] = [
    0,
    1,
    -1,
    2,
    4,
    5,
    7,
    16,
    17,
    21,
    127,
    128,
    255,
    256,
    4096,
    65535,
    65536,
    16 * 1024 * 1024,
    16 * 1024 * 1024 + 16 * 1024 + 1,
    48_000_001,
    i32::MAX,
    i32::MIN,
];

const INTERESTING_I64: [i64; 8] = [
    0,
    -1,
    1,
    i64::MAX,
    i64::MIN,
    i32::MAX as i64 + 1,
    u32::MAX as i64,
    1 << 53,
];

const INTERESTING_F64: [f64; 10] = [
    0.0,
    -0.0,
    0.5,
    1.0,
    -1.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e300,
    9_007_199_254_740_993.0,
];

const INTERESTING_STRINGS: [&str; 8] = [
    "",
    "a",
    "\u{0}",
    "\u{feff}",
    "ü\u{10ffff}",
    "%zz",
    "::::",
    "a,b=c",
];

/// What an input is, for the mutations that know its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Text (a connection string, a SCRAM message).
    Text,
    /// A whole wire message: the first four bytes are its length.
    Message,
    /// One BSON document.
    Document,
}

/// Mutates inputs for one target.
#[derive(Debug)]
pub struct Mutator {
    pub rng: Rng,
    shape: Shape,
    max_len: usize,
    /// Tokens to insert: the target's own and the keys found in the corpus.
    dictionary: Vec<Vec<u8>>,
}

impl Mutator {
    pub fn new(seed: u64, shape: Shape, max_len: usize, dictionary: Vec<Vec<u8>>) -> Mutator {
        Mutator {
            rng: Rng::new(seed),
            shape,
            max_len,
            dictionary,
        }
    }

    /// A mutant of `base`; `other` is another corpus entry to splice from.
    pub fn mutate(&mut self, base: &[u8], other: &[u8], out: &mut Vec<u8>) {
        out.clear();
        if self.shape == Shape::Document
            && !self.rng.one_in(3)
            && let Some(doc) = self.mutate_document(base, other)
        {
            out.extend_from_slice(&doc);
            if self.rng.one_in(4) {
                self.mutate_bytes(out, other);
                self.fix_length(out);
            }
            out.truncate(self.max_len);
            return;
        }
        out.extend_from_slice(base);
        self.mutate_bytes(out, other);
        if !self.rng.one_in(4) {
            self.fix_length(out);
        }
        out.truncate(self.max_len);
    }

    /// Makes a leading length field right again, so the mutation reaches past it.
    fn fix_length(&mut self, data: &mut [u8]) {
        if matches!(self.shape, Shape::Message | Shape::Document) && data.len() >= 4 {
            let len = (data.len() as i32).to_le_bytes();
            data[..4].copy_from_slice(&len);
            if self.shape == Shape::Message && data.len() >= 24 {
                fix_checksum(data);
            }
        }
    }

    /// One to eight stacked byte-level mutations.
    pub fn mutate_bytes(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let rounds = 1 + self.rng.below(8);
        for _ in 0..rounds {
            self.mutate_once(data, other);
        }
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let rng = &mut self.rng;
        let len = data.len();
        match rng.below(13) {
            // Flip one bit.
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            // Set a random byte.
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next_u64() as u8;
            }
            // An interesting byte.
            2 if len > 0 => {
                let i = rng.below(len);
                data[i] = *rng.pick(&[0u8, 1, 0x7f, 0x80, 0xff, b'.', b'$', 0x03, 0x04, 0x10]);
            }
            // Small arithmetic on a byte.
            3 if len > 0 => {
                let i = rng.below(len);
                let delta = 1 + rng.below(16) as u8;
                data[i] = if rng.one_in(2) {
                    data[i].wrapping_add(delta)
                } else {
                    data[i].wrapping_sub(delta)
                };
            }
            // Insert random bytes.
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            // Delete a range.
            5 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(32));
                data.drain(at..at + n);
            }
            // Duplicate a range somewhere else.
            6 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                let chunk = data[at..at + n].to_vec();
                let to = rng.below(len + 1);
                data.splice(to..to, chunk);
            }
            // Splice in a chunk of another corpus entry (insert or overwrite).
            7 if !other.is_empty() => {
                let at = rng.below(other.len());
                let n = 1 + rng.below((other.len() - at).min(128));
                let chunk = &other[at..at + n];
                let to = rng.below(len + 1);
                if rng.one_in(2) {
                    data.splice(to..to, chunk.iter().copied());
                } else {
                    let end = (to + n).min(len);
                    data.splice(to..end, chunk.iter().copied());
                }
            }
            // Crossover: this entry's head, the other's tail.
            8 if !other.is_empty() && len > 0 => {
                let cut = rng.below(len);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            // An interesting integer at a likely length field (or anywhere).
            9 if len >= 4 => {
                let candidates = length_fields(data);
                let at = if !candidates.is_empty() && !rng.one_in(4) {
                    *rng.pick(&candidates)
                } else {
                    rng.below(len - 3)
                };
                let current =
                    i32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
                let value = match rng.below(4) {
                    0 => *rng.pick(&INTERESTING_I32),
                    1 => current.wrapping_add(1 + rng.below(8) as i32),
                    2 => current.wrapping_sub(1 + rng.below(8) as i32),
                    _ => (len - at) as i32,
                };
                data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            // A dictionary token, inserted or overwriting.
            10 if !self.dictionary.is_empty() => {
                let token = rng.pick(&self.dictionary).clone();
                let to = rng.below(len + 1);
                if rng.one_in(2) {
                    data.splice(to..to, token);
                } else {
                    let end = (to + token.len()).min(len);
                    data.splice(to..end, token);
                }
            }
            // Truncate.
            11 if len > 1 => data.truncate(rng.below(len)),
            // Swap two bytes.
            _ if len > 1 => {
                let (a, b) = (rng.below(len), rng.below(len));
                data.swap(a, b);
            }
            _ => data.push(rng.next_u64() as u8),
        }
    }

    /// Decodes `base` as a document, changes it and encodes it again; `None` if `base` is
    /// not a document.
    fn mutate_document(&mut self, base: &[u8], other: &[u8]) -> Option<Vec<u8>> {
        let mut doc = Document::from_reader(base).ok()?;
        let donor = Document::from_reader(other).ok();
        let rounds = 1 + self.rng.below(4);
        for _ in 0..rounds {
            self.mutate_value_in(&mut doc, donor.as_ref(), 0);
        }
        doc.to_vec().ok()
    }

    /// Mutates a field of `doc`, or goes down into one of its documents or arrays.
    fn mutate_value_in(&mut self, doc: &mut Document, donor: Option<&Document>, depth: usize) {
        if doc.is_empty() {
            let key = self.key();
            let value = self.value(donor);
            doc.insert(key, value);
            return;
        }
        let i = self.rng.below(doc.len());
        let key = doc.keys().nth(i).cloned().unwrap_or_default();
        let descend = depth < 16 && self.rng.below(3) != 0;
        match doc.get_mut(&key) {
            Some(Bson::Document(inner)) if descend => {
                return self.mutate_value_in(inner, donor, depth + 1);
            }
            Some(Bson::Array(items)) if descend && !items.is_empty() => {
                let j = self.rng.below(items.len());
                match &mut items[j] {
                    Bson::Document(inner) => return self.mutate_value_in(inner, donor, depth + 1),
                    item => {
                        match self.rng.below(4) {
                            0 => {
                                items.remove(j);
                            }
                            1 => {
                                let copy = item.clone();
                                items.insert(j, copy);
                            }
                            _ => *item = self.value(donor),
                        }
                        return;
                    }
                }
            }
            _ => {}
        }
        match self.rng.below(8) {
            0 => {
                doc.remove(&key);
            }
            1 => {
                // Rename: the value under another (known) key.
                if let Some(value) = doc.remove(&key) {
                    let new_key = self.key();
                    doc.insert(new_key, value);
                }
            }
            2 => {
                let new_key = self.key();
                let value = self.value(donor);
                doc.insert(new_key, value);
            }
            _ => {
                let value = self.value(donor);
                doc.insert(key, value);
            }
        }
    }

    /// A key: one of the dictionary's, or a short odd one.
    fn key(&mut self) -> String {
        if !self.dictionary.is_empty() && !self.rng.one_in(8) {
            let token = self.rng.pick(&self.dictionary);
            if let Ok(s) = std::str::from_utf8(token)
                && !s.contains('\0')
            {
                return s.to_owned();
            }
        }
        (*self.rng.pick(&["", "$db", "0", "x", "ok", "\u{ff}"])).to_owned()
    }

    /// A value of a random type, often an edge value, sometimes one from `donor`.
    fn value(&mut self, donor: Option<&Document>) -> Bson {
        let rng = &mut self.rng;
        if let Some(donor) = donor.filter(|d| !d.is_empty() && rng.one_in(4)) {
            let i = rng.below(donor.len());
            if let Some((_, v)) = donor.iter().nth(i) {
                return v.clone();
            }
        }
        match rng.below(14) {
            0 => Bson::Int32(*rng.pick(&INTERESTING_I32)),
            1 => Bson::Int64(*rng.pick(&INTERESTING_I64)),
            2 => Bson::Double(*rng.pick(&INTERESTING_F64)),
            3 => Bson::String((*rng.pick(&INTERESTING_STRINGS)).to_owned()),
            4 => Bson::String("x".repeat(rng.below(300))),
            5 => Bson::Boolean(rng.one_in(2)),
            6 => Bson::Null,
            7 => Bson::Array(Vec::new()),
            8 => Bson::Array(vec![Bson::Int32(1), Bson::String("a".into())]),
            9 => Bson::Document(Document::new()),
            10 => Bson::ObjectId(bson::oid::ObjectId::from_bytes([rng.next_u64() as u8; 12])),
            11 => Bson::Binary(bson::Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes: (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
            }),
            12 => Bson::DateTime(bson::DateTime::from_millis(*rng.pick(&INTERESTING_I64))),
            _ => Bson::Timestamp(bson::Timestamp {
                time: rng.next_u64() as u32,
                increment: rng.next_u64() as u32,
            }),
        }
    }
}

/// Offsets holding a little-endian i32 that could be a length: from 4 up to the bytes
/// left from there (BSON documents, strings, sequences, the message length).
fn length_fields(data: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for at in 0..data.len().saturating_sub(3) {
        let v = i32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        if v >= 4 && (v as usize) <= data.len() - at + 4 {
            out.push(at);
            if out.len() == 64 {
                break;
            }
        }
    }
    out
}

/// Recomputes an OP_MSG's CRC-32C when its `checksumPresent` bit is set, so a mutation of
/// a checksummed message is parsed rather than refused at the checksum.
fn fix_checksum(data: &mut [u8]) {
    let opcode = i32::from_le_bytes([data[12], data[13], data[14], data[15]]);
    if opcode != 2013 || data[16] & 1 == 0 {
        return;
    }
    let end = data.len() - 4;
    let crc = crc32c(&data[..end]);
    data[end..].copy_from_slice(&crc.to_le_bytes());
}

/// CRC-32C (Castagnoli), bit by bit: only run on a mutant's way out.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Every key of every document in `doc`, for the dictionary.
pub fn collect_keys(doc: &Document, out: &mut Vec<Vec<u8>>) {
    for (key, value) in doc {
        out.push(key.as_bytes().to_vec());
        match value {
            Bson::Document(inner) => collect_keys(inner, out),
            Bson::Array(items) => {
                for item in items {
                    if let Bson::Document(inner) = item {
                        collect_keys(inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn document_mutants_stay_documents_most_of_the_time() {
        let base = bson::doc! { "ok": 1, "cursor": { "id": 0_i64, "firstBatch": [ { "a": 1 } ] } }
            .to_vec()
            .unwrap();
        let mut m = Mutator::new(1, Shape::Document, 4096, vec![b"ns".to_vec()]);
        let mut out = Vec::new();
        let valid = (0..1000)
            .filter(|_| {
                m.mutate(&base, &base, &mut out);
                bson::RawDocument::from_bytes(&out).is_ok()
            })
            .count();
        assert!(valid > 500, "{valid} of 1000");
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::new(0);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
    }
}
