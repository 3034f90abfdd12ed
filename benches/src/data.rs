//! The spec's datasets: `../shared/bench-data/*.tgz` (relative to the repository root),
//! unpacked with `tar` into `target/bench-data/` at run time (or into
//! `$GREENMONGO_BENCH_WORK`, see [`work_dir`]). Never committed.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use bson::Document;

/// One JSON document of the `single_and_multi_document` tarball, with the size of its
/// source file: the spec scores a task as `file size x operations / median time`.
pub struct SpecDoc {
    pub doc: Document,
    pub file_bytes: u64,
}

/// The documents the single- and multi-document tasks use.
pub struct Datasets {
    pub tweet: SpecDoc,
    pub small: SpecDoc,
    pub large: SpecDoc,
}

/// The repository root (the parent of this crate's manifest directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where datasets are unpacked and tasks write their files (LDJSON export, GridFS
/// downloads): `$GREENMONGO_BENCH_WORK` if set (`scripts/bench` sets it to
/// `$CARGO_TARGET_DIR/bench-data` when it is given a target directory), else
/// `target/bench-data/` of the repository.
pub fn work_dir() -> PathBuf {
    std::env::var_os("GREENMONGO_BENCH_WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/bench-data"))
}

/// Unpacks `<name>.tgz` into [`work_dir`] unless already there; returns the directory it
/// unpacks to (`<work_dir>/<name>`).
pub fn unpack(name: &str) -> PathBuf {
    let root = repo_root();
    let out = work_dir();
    let dir = out.join(name);
    if dir.is_dir() {
        return dir;
    }
    let tgz = std::env::var_os("GREENMONGO_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/bench-data"))
        .join(format!("{name}.tgz"));
    std::fs::create_dir_all(&out).expect("create the bench work directory");
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&out)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar xzf {} failed", tgz.display());
    dir
}

fn load(dir: &Path, file: &str) -> SpecDoc {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_json::Value = serde_json::from_str(&text).expect("dataset is JSON");
    SpecDoc {
        doc: bson::serialize_to_document(&value).expect("dataset is a JSON object"),
        file_bytes: text.len() as u64,
    }
}

/// Loads TWEET, SMALL_DOC and LARGE_DOC.
pub fn load_single_and_multi() -> Datasets {
    let dir = unpack("single_and_multi_document");
    Datasets {
        tweet: load(&dir, "tweet.json"),
        small: load(&dir, "small_doc.json"),
        large: load(&dir, "large_doc.json"),
    }
}
