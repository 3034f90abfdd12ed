//! GridFS (the GridFS spec): files of any size, kept as a files collection document plus
//! numbered chunks, in blocking style: an upload is a [`std::io::Write`], a download a
//! [`std::io::Read`] + [`std::io::Seek`].
//!
//! A bucket named `fs` (the default) keeps its files in two collections:
//!
//! ```text
//! fs.files   { _id, length, chunkSize, uploadDate, filename, metadata }   one per file
//! fs.chunks  { _id, files_id, n, data }                                   n = 0, 1, 2, ...
//! ```
//!
//! Every chunk holds `chunkSize` bytes except the last, which holds the rest. Before its
//! first upload, a bucket whose files collection is empty (read from the primary) makes
//! sure the spec's indexes exist: `filename_1_uploadDate_1` on the files, the unique
//! `files_id_1_n_1` on the chunks.
//!
//! Everything here runs through the public collection API, so inside a coroutine every
//! wait parks the coroutine; on a plain thread it blocks. Each stream holds at most one
//! chunk in memory, whatever the size of the file.
//!
//! ```no_run
//! use std::io::{Read, Write};
//!
//! let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
//! let bucket = client.database("media").gridfs_bucket(None);
//!
//! let mut upload = bucket.open_upload_stream("hello.txt").run()?;
//! upload.write_all(b"hello, GridFS")?;
//! upload.close()?;                                  // writes the files document
//!
//! let mut text = String::new();
//! bucket.open_download_stream(upload.id().clone()).run()?.read_to_string(&mut text)?;
//! assert_eq!(text, "hello, GridFS");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod download;
mod error;
mod options;
mod upload;

use std::{fmt, sync::Arc, time::Duration};

use bson::{Bson, DateTime, Document, RawDocumentBuf, doc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use crate::{
    Collection, Database, Result,
    options::{
        IndexModel, IndexOptions, ReadConcern, ReadPreference, SelectionCriteria, WriteConcern,
    },
    runtime::sync::Mutex,
};

pub use download::GridFsDownloadStream;
pub use error::{GridFsErrorKind, GridFsFileIdentifier};
pub use options::{
    GridFsBucketOptions, GridFsDownloadByNameOptions, GridFsFindOneOptions, GridFsFindOptions,
    GridFsUploadOptions,
};
pub use upload::GridFsUploadStream;
pub(crate) use upload::upload_from_reader;

/// The bucket name when none is given: collections `fs.files` and `fs.chunks`.
pub const DEFAULT_BUCKET_NAME: &str = "fs";

/// The chunk size when none is given: 255 KiB (so a chunk document stays under 256 KiB).
pub const DEFAULT_CHUNK_SIZE_BYTES: u32 = 255 * 1024;

impl Database {
    /// A GridFS bucket in this database (no I/O until used). Its reads and writes take the
    /// options' concerns and read preference, else this database's.
    ///
    /// Its `timeoutMS` is the database's ([`Database::with_timeout`], else the
    /// client's); each action's `.timeout(d)` overrides it. It bounds each operation as a
    /// whole, and a stream (upload or download) from when it is opened to its last read,
    /// write or close. `upload_from_reader` and `download_to_writer` cannot interrupt
    /// your reader or writer: time they spend counts, but a call of theirs that blocks
    /// can run past the deadline.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use greenmongo::gridfs::GridFsBucketOptions;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("media");
    /// let default = db.gridfs_bucket(None);                  // fs.files, fs.chunks
    /// let photos = db.gridfs_bucket(GridFsBucketOptions::builder().bucket_name("photos").build());
    /// let mut upload = photos.open_upload_stream("cat.jpg").run()?;
    /// upload.write_all(&[0xFF, 0xD8, 0xFF])?;
    /// upload.close()?;
    /// # let _ = default;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn gridfs_bucket(&self, options: impl Into<Option<GridFsBucketOptions>>) -> GridFsBucket {
        GridFsBucket::new(self, options.into().unwrap_or_default())
    }
}

/// The files document of a stored file (one per file, in the bucket's files
/// collection). Other fields a legacy driver wrote (`md5`, `contentType`, `aliases`) are
/// ignored.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// for file in bucket.find(doc! { "length": { "$gt": 1_000_000 } }).run()? {
///     let file = file?;
///     println!("{} {:?}: {} bytes", file.id, file.filename, file.length);
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FilesCollectionDocument {
    /// The file's id (`_id`; an ObjectId unless the upload chose one).
    #[serde(rename = "_id")]
    pub id: Bson,
    /// The file's size in bytes (stored as an int64).
    #[serde(serialize_with = "as_i64", deserialize_with = "integer")]
    pub length: u64,
    /// The size of its chunks (`chunkSize`, stored as an int32).
    #[serde(
        rename = "chunkSize",
        serialize_with = "as_i32",
        deserialize_with = "integer"
    )]
    pub chunk_size_bytes: u32,
    /// When the upload finished (`uploadDate`).
    #[serde(rename = "uploadDate")]
    pub upload_date: DateTime,
    /// The file's name (legacy files may have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The application's data, as given to the upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Document>,
}

impl FilesCollectionDocument {
    /// How many chunks the file has.
    pub(crate) fn chunk_count(&self) -> u64 {
        match self.chunk_size_bytes {
            0 => 0,
            size => self.length.div_ceil(u64::from(size)),
        }
    }

    /// How many bytes chunk `n` must hold.
    pub(crate) fn chunk_len(&self, n: u64) -> u32 {
        let size = u64::from(self.chunk_size_bytes);
        // At most chunk_size_bytes: fits.
        self.length.saturating_sub(n * size).min(size) as u32
    }
}

/// Writes a length as an int64, as the spec stores it.
fn as_i64<S: Serializer>(value: &u64, s: S) -> std::result::Result<S::Ok, S::Error> {
    let v = i64::try_from(*value).map_err(serde::ser::Error::custom)?;
    s.serialize_i64(v)
}

/// Writes a chunk size as an int32, as the spec stores it.
fn as_i32<S: Serializer>(value: &u32, s: S) -> std::result::Result<S::Ok, S::Error> {
    let v = i32::try_from(*value).map_err(serde::ser::Error::custom)?;
    s.serialize_i32(v)
}

/// Reads a non-negative integer stored as an int32, an int64 or an integral double (other
/// drivers and the shell have written each).
fn integer<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let value = match Bson::deserialize(d)? {
        Bson::Int32(v) => i64::from(v),
        Bson::Int64(v) => v,
        Bson::Double(v) if v.fract() == 0.0 && v >= 0.0 && v <= i64::MAX as f64 => v as i64,
        other => {
            return Err(D::Error::custom(format!(
                "expected an integer, got {other}"
            )));
        }
    };
    T::try_from(value).map_err(|_| D::Error::custom(format!("{value} is out of range")))
}

/// A GridFS bucket: stores and reads files of any size in a pair of collections. Cheap to
/// clone (clones share the index check); made by
/// [`Database::gridfs_bucket`](crate::Database::gridfs_bucket).
///
/// Its operations are builders ending in `.run()`, as the official driver's 3.x API:
/// [`open_upload_stream`](Self::open_upload_stream),
/// [`open_download_stream`](Self::open_download_stream),
/// [`open_download_stream_by_name`](Self::open_download_stream_by_name),
/// [`find`](Self::find), [`find_one`](Self::find_one), [`delete`](Self::delete),
/// [`rename`](Self::rename), [`drop`](Self::drop); and greenmongo's
/// [`upload_from_reader`](Self::upload_from_reader) and
/// [`download_to_writer`](Self::download_to_writer), and the spec's
/// [`delete_by_name`](Self::delete_by_name) and [`rename_by_name`](Self::rename_by_name).
///
/// # Examples
///
/// ```no_run
/// use std::fs::File;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let id = bucket.upload_from_reader("backup.tar", File::open("backup.tar")?).run()?;
/// bucket.download_to_writer(id, File::create("restored.tar")?).run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct GridFsBucket {
    inner: Arc<Inner>,
}

struct Inner {
    options: GridFsBucketOptions,
    files: Collection<FilesCollectionDocument>,
    /// Chunks are written as documents (the buffer moves in, no copy) and read raw (a
    /// download serves the bytes from the chunk document itself).
    chunks: Collection<Document>,
    /// Whether this bucket has checked the indexes (spec: before the first upload).
    /// Uploads wait here while one of them checks, so 100 uploads check once.
    indexes_checked: Mutex<bool>,
    /// The `timeoutMS` of its actions and streams: the database's.
    timeout: Option<Duration>,
}

impl fmt::Debug for GridFsBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridFsBucket")
            .field("files", &self.inner.files.namespace())
            .field("chunk_size_bytes", &self.chunk_size_bytes())
            .finish()
    }
}

impl GridFsBucket {
    fn new(db: &Database, mut options: GridFsBucketOptions) -> GridFsBucket {
        let concerns = db.concerns();
        if options.read_concern.is_none() {
            options.read_concern = concerns.read_concern;
        }
        if options.write_concern.is_none() {
            options.write_concern = concerns.write_concern;
        }
        if options.selection_criteria.is_none() {
            options.selection_criteria = concerns.read_preference.map(SelectionCriteria::from);
        }
        let name = options
            .bucket_name
            .as_deref()
            .unwrap_or(DEFAULT_BUCKET_NAME);
        let collection = |suffix: &str| {
            // No timeout of their own (zero: none, not even the database's): every
            // operation on them is part of a bucket action or stream, whose timeout
            // bounds it as a whole (the CSOT spec).
            let mut coll = db
                .collection::<()>(&format!("{name}.{suffix}"))
                .with_timeout(Duration::ZERO);
            if let Some(rc) = &options.read_concern {
                coll = coll.with_read_concern(rc.clone());
            }
            if let Some(wc) = &options.write_concern {
                coll = coll.with_write_concern(wc.clone());
            }
            if let Some(pref) = options
                .selection_criteria
                .as_ref()
                .and_then(SelectionCriteria::as_read_pref)
            {
                coll = coll.with_read_preference(pref.clone());
            }
            coll
        };
        let files = collection("files").clone_with_type();
        let chunks = collection("chunks").clone_with_type();
        GridFsBucket {
            inner: Arc::new(Inner {
                options,
                files,
                chunks,
                indexes_checked: Mutex::new(false),
                timeout: db.timeout(),
            }),
        }
    }

    /// The read concern of the bucket's reads: its own, else the database's.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("media").with_read_concern(ReadConcern::new(ReadConcernLevel::Majority));
    /// assert_eq!(db.gridfs_bucket(None).read_concern(), Some(&ReadConcern::new(ReadConcernLevel::Majority)));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn read_concern(&self) -> Option<&ReadConcern> {
        self.inner.options.read_concern.as_ref()
    }

    /// The write concern of the bucket's writes: its own, else the database's.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{gridfs::GridFsBucketOptions, options::WriteConcern};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let options = GridFsBucketOptions::builder().write_concern(WriteConcern::majority()).build();
    /// let bucket = client.database("media").gridfs_bucket(options);
    /// assert_eq!(bucket.write_concern(), Some(&WriteConcern::majority()));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn write_concern(&self) -> Option<&WriteConcern> {
        self.inner.options.write_concern.as_ref()
    }

    /// Where the bucket's reads go: its own criteria, else the database's read preference.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("media").gridfs_bucket(None).selection_criteria(), None); // the primary
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn selection_criteria(&self) -> Option<&SelectionCriteria> {
        self.inner.options.selection_criteria.as_ref()
    }

    /// The bucket's name (`fs` unless the options chose one).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("media").gridfs_bucket(None).bucket_name(), "fs");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn bucket_name(&self) -> &str {
        self.inner
            .options
            .bucket_name
            .as_deref()
            .unwrap_or(DEFAULT_BUCKET_NAME)
    }

    /// The chunk size of new files, unless an upload sets its own (default 255 KiB).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::gridfs::{GridFsBucketOptions, DEFAULT_CHUNK_SIZE_BYTES};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("media");
    /// assert_eq!(db.gridfs_bucket(None).chunk_size_bytes(), DEFAULT_CHUNK_SIZE_BYTES);
    /// let small = db.gridfs_bucket(GridFsBucketOptions::builder().chunk_size_bytes(4096).build());
    /// assert_eq!(small.chunk_size_bytes(), 4096);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn chunk_size_bytes(&self) -> u32 {
        self.inner
            .options
            .chunk_size_bytes
            .unwrap_or(DEFAULT_CHUNK_SIZE_BYTES)
    }

    /// The bucket's `timeoutMS` (its database's), which bounds each of its operations
    /// as a whole.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.inner.timeout
    }

    /// The files collection.
    pub(crate) fn files(&self) -> &Collection<FilesCollectionDocument> {
        &self.inner.files
    }

    /// The chunks collection.
    pub(crate) fn chunks(&self) -> &Collection<Document> {
        &self.inner.chunks
    }

    /// The chunks collection, read as raw documents.
    pub(crate) fn raw_chunks(&self) -> Collection<RawDocumentBuf> {
        self.inner.chunks.clone_with_type()
    }

    /// After a drop, the next upload checks the indexes again.
    pub(crate) fn forget_indexes(&self) -> Result<()> {
        *self.inner.indexes_checked.lock()? = false;
        Ok(())
    }

    /// The spec's index check, once per bucket: if the files collection is empty (read
    /// from the primary), make sure both indexes exist, creating the missing ones.
    pub(crate) fn ensure_indexes(&self) -> Result<()> {
        let mut checked = self.inner.indexes_checked.lock()?;
        if *checked {
            return Ok(());
        }
        let any_file = self
            .files()
            .clone_with_type::<Document>()
            .find_one(doc! {})
            .projection(doc! { "_id": 1 })
            .selection_criteria(ReadPreference::primary().into())
            .run()?;
        if any_file.is_none() {
            ensure_index(self.files(), doc! { "filename": 1, "uploadDate": 1 }, false)?;
            ensure_index(self.chunks(), doc! { "files_id": 1, "n": 1 }, true)?;
        }
        *checked = true;
        Ok(())
    }
}

/// Creates the index on `keys` unless the collection has one on the same keys (1 and 1.0
/// are the same direction: the spec says to compare them as numbers).
fn ensure_index<T>(coll: &Collection<T>, keys: Document, unique: bool) -> Result<()> {
    let existing = match coll.list_indexes().run() {
        Ok(cursor) => cursor.collect::<Result<Vec<_>>>()?,
        Err(e) if e.code() == Some(NAMESPACE_NOT_FOUND) => Vec::new(),
        Err(e) => return Err(e),
    };
    if existing.iter().any(|index| same_keys(&index.keys, &keys)) {
        return Ok(());
    }
    let options = unique.then(|| IndexOptions::builder().unique(true).build());
    coll.create_index(IndexModel::builder().keys(keys).options(options).build())
        .run()?;
    Ok(())
}

/// `NamespaceNotFound`: `listIndexes` on a collection that does not exist yet.
const NAMESPACE_NOT_FOUND: i32 = 26;

/// Whether two key patterns name the same fields in the same order and directions.
fn same_keys(a: &Document, b: &Document) -> bool {
    fn number(v: &Bson) -> Option<f64> {
        match v {
            Bson::Int32(v) => Some(f64::from(*v)),
            Bson::Int64(v) => Some(*v as f64),
            Bson::Double(v) => Some(*v),
            _ => None,
        }
    }
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| {
            ka == kb
                && match (number(va), number(vb)) {
                    (Some(x), Some(y)) => x == y,
                    _ => va == vb,
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(length: u64, chunk_size_bytes: u32) -> FilesCollectionDocument {
        FilesCollectionDocument {
            id: Bson::Int32(1),
            length,
            chunk_size_bytes,
            upload_date: DateTime::from_millis(0),
            filename: Some("f".into()),
            metadata: None,
        }
    }

    #[test]
    fn chunk_counts_and_sizes_follow_length_and_chunk_size() {
        let f = file(10, 4);
        assert_eq!(f.chunk_count(), 3);
        assert_eq!((f.chunk_len(0), f.chunk_len(1), f.chunk_len(2)), (4, 4, 2));
        assert_eq!(file(8, 4).chunk_count(), 2);
        assert_eq!(file(8, 4).chunk_len(1), 4);
        assert_eq!(file(0, 4).chunk_count(), 0);
    }

    #[test]
    fn files_documents_store_the_spec_types_and_read_legacy_ones() {
        let stored = bson::serialize_to_document(&file(5, 4)).unwrap();
        assert_eq!(
            stored,
            doc! {
                "_id": 1, "length": 5_i64, "chunkSize": 4,
                "uploadDate": DateTime::from_millis(0), "filename": "f",
            }
        );
        let legacy = doc! {
            "_id": 1, "length": 5.0, "chunkSize": 4_i64, "uploadDate": DateTime::from_millis(0),
            "md5": "x", "contentType": "text/plain",
        };
        let read: FilesCollectionDocument = bson::deserialize_from_document(legacy).unwrap();
        assert_eq!(
            (read.length, read.chunk_size_bytes, read.filename),
            (5, 4, None)
        );
        let negative =
            doc! { "_id": 1, "length": -1, "chunkSize": 4, "uploadDate": DateTime::from_millis(0) };
        assert!(bson::deserialize_from_document::<FilesCollectionDocument>(negative).is_err());
    }

    #[test]
    fn index_keys_compare_as_numbers() {
        assert!(same_keys(
            &doc! { "filename": 1.0, "uploadDate": 1_i64 },
            &doc! { "filename": 1, "uploadDate": 1 }
        ));
        assert!(!same_keys(
            &doc! { "uploadDate": 1, "filename": 1 },
            &doc! { "filename": 1, "uploadDate": 1 }
        ));
        assert!(!same_keys(
            &doc! { "files_id": 1, "n": -1 },
            &doc! { "files_id": 1, "n": 1 }
        ));
    }
}
