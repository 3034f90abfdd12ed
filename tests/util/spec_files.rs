//! Plumbing for spec runners whose files sit in nested folders (SDAM, server selection,
//! max staleness): collecting them, counting results per folder, reading the little
//! extended JSON they use (`$oid`, `$numberLong`), a deterministic PRNG, and serde helpers.
#![allow(dead_code)] // each test binary uses a different part of this file

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use bson::{Bson, Document, oid::ObjectId};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::spec::spec_dir;

/// The spec root and every `.json` file under `sub` (recursively), sorted; `None` when the
/// folder is missing outside CI (see [`spec_dir`]).
///
/// # Panics
/// In CI, when the folder is missing.
pub fn json_files_under(sub: &str) -> Option<(PathBuf, Vec<PathBuf>)> {
    let (root, dir) = spec_dir(sub)?;
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no spec files under {}", dir.display());
    Some((root, files))
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
}

/// Pass/fail/skip counts per folder, keyed by the folder's path under the spec root.
#[derive(Default)]
pub struct FolderTally {
    folders: BTreeMap<String, Counts>,
}

#[derive(Default)]
struct Counts {
    passed: usize,
    failed: Vec<String>,
    skipped: Vec<String>,
}

impl FolderTally {
    fn counts(&mut self, root: &Path, file: &Path) -> &mut Counts {
        let folder = file
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map_or_else(|| "?".to_owned(), |p| p.display().to_string());
        self.folders.entry(folder).or_default()
    }

    /// Records the result of one case of `file`; `case` names it in failure reports.
    pub fn record(&mut self, root: &Path, file: &Path, case: &str, result: Result<(), String>) {
        let name = file
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let counts = self.counts(root, file);
        match result {
            Ok(()) => counts.passed += 1,
            Err(why) => counts.failed.push(format!("{name}: {case}: {why}")),
        }
    }

    /// Records a skipped case with its reason.
    pub fn skip(&mut self, root: &Path, file: &Path, case: &str, reason: &str) {
        let name = file
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        self.counts(root, file)
            .skipped
            .push(format!("{name}: {case}: {reason}"));
    }

    /// Prints the counts (and every failure and skip) and fails the test on any failure.
    pub fn report(&self) {
        for (folder, c) in &self.folders {
            println!(
                "{folder}: {} passed, {} failed, {} skipped",
                c.passed,
                c.failed.len(),
                c.skipped.len()
            );
            for skip in &c.skipped {
                println!("  skipped {skip}");
            }
            for failure in &c.failed {
                println!("  FAILED {failure}");
            }
        }
        let failed: usize = self.folders.values().map(|c| c.failed.len()).sum();
        assert_eq!(
            failed, 0,
            "{failed} spec case(s) failed; see the list above"
        );
    }
}

/// Converts spec-file JSON to BSON, understanding the extended JSON forms these files use
/// (`{"$oid": ...}`, `{"$numberLong": ...}`); any other `$` key is a test bug.
pub fn to_bson(value: &Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            None => Bson::Double(n.as_f64().expect("a JSON number")),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(to_bson).collect()),
        Value::Object(map) => {
            if let Some(Value::String(hex)) = map.get("$oid") {
                return Bson::ObjectId(ObjectId::parse_str(hex).expect("a valid $oid"));
            }
            if let Some(Value::String(n)) = map.get("$numberLong") {
                return Bson::Int64(n.parse().expect("a valid $numberLong"));
            }
            if let Some(key) = map.keys().find(|k| k.starts_with('$')) {
                panic!("unsupported extended JSON key {key}");
            }
            Bson::Document(map.iter().map(|(k, v)| (k.clone(), to_bson(v))).collect())
        }
    }
}

/// [`to_bson`] for a value that must be a document.
pub fn to_document(value: &Value) -> Document {
    match to_bson(value) {
        Bson::Document(doc) => doc,
        other => panic!("expected a document, got {other}"),
    }
}

/// For `Option<Option<T>>` fields: absent is `None`, `null` is `Some(None)`. Use with
/// `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// SplitMix64: a tiny deterministic PRNG, so frequency tests give the same counts on
/// every run.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n > 0`), by Lemire's multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}
