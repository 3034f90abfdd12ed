//! What can go wrong in GridFS, as [`ErrorKind::GridFs`](crate::ErrorKind::GridFs) errors
//! (the official driver's `GridFsErrorKind`, with the file's id added where a chunk is at
//! fault, so that a corrupt file is named in the message).

use std::{fmt, io};

use bson::Bson;

use crate::{Error, ErrorKind};

/// How a file was looked for: by its `_id` or by its filename.
///
/// # Examples
///
/// ```
/// use greenmongo::gridfs::GridFsFileIdentifier;
///
/// let by_name = GridFsFileIdentifier::Filename("report.pdf".into());
/// assert_eq!(by_name.to_string(), "filename \"report.pdf\"");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GridFsFileIdentifier {
    /// The `_id` of the files collection document.
    Id(Bson),
    /// The `filename` of the files collection document.
    Filename(String),
}

impl fmt::Display for GridFsFileIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GridFsFileIdentifier::Id(id) => write!(f, "id {id}"),
            GridFsFileIdentifier::Filename(name) => write!(f, "filename {name:?}"),
        }
    }
}

/// The GridFS errors (inside [`ErrorKind::GridFs`](crate::ErrorKind::GridFs)).
///
/// # Examples
///
/// ```no_run
/// use std::io::Read;
/// use bson::Bson;
/// use greenmongo::{gridfs::GridFsErrorKind, ErrorKind};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let mut bytes = Vec::new();
/// match bucket.download_to_writer(Bson::Int32(7), &mut bytes).run() {
///     Ok(n) => println!("{n} bytes"),
///     Err(e) => match &*e.kind {
///         ErrorKind::GridFs(GridFsErrorKind::FileNotFound { .. }) => println!("no such file"),
///         ErrorKind::GridFs(GridFsErrorKind::MissingChunk { files_id, n }) => {
///             println!("file {files_id} lost chunk {n}")
///         }
///         _ => return Err(e),
///     },
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GridFsErrorKind {
    /// No file has this id or filename.
    FileNotFound {
        /// What was looked for.
        identifier: GridFsFileIdentifier,
    },
    /// Files named `filename` exist, but fewer than the revision asks for.
    RevisionNotFound {
        /// The filename.
        filename: String,
        /// The revision asked for (0 the first upload, -1 the latest).
        revision: i32,
    },
    /// Chunk `n` of the file is not in the chunks collection.
    MissingChunk {
        /// The file's `_id`.
        files_id: Bson,
        /// The chunk's number.
        n: u32,
    },
    /// Chunk `n` of the file does not hold the number of bytes that the file's
    /// `length` and `chunkSize` call for.
    WrongSizeChunk {
        /// The file's `_id`.
        files_id: Bson,
        /// The chunk's number.
        n: u32,
        /// The bytes it holds.
        actual_size: usize,
        /// The bytes it should hold.
        expected_size: u32,
    },
    /// The upload stream was closed or aborted (or failed) before this call.
    UploadStreamClosed,
}

impl fmt::Display for GridFsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GridFsErrorKind::FileNotFound { identifier } => {
                write!(f, "no file with {identifier}")
            }
            GridFsErrorKind::RevisionNotFound { filename, revision } => {
                write!(f, "file {filename:?} has no revision {revision}")
            }
            GridFsErrorKind::MissingChunk { files_id, n } => {
                write!(f, "file {files_id}: chunk n={n} is missing")
            }
            GridFsErrorKind::WrongSizeChunk {
                files_id,
                n,
                actual_size,
                expected_size,
            } => write!(
                f,
                "file {files_id}: chunk n={n} holds {actual_size} bytes, expected {expected_size}"
            ),
            GridFsErrorKind::UploadStreamClosed => {
                write!(f, "the upload stream is already closed or aborted")
            }
        }
    }
}

impl From<GridFsErrorKind> for Error {
    fn from(kind: GridFsErrorKind) -> Self {
        Error::new(ErrorKind::GridFs(kind))
    }
}

/// The driver error as a [`std::io::Error`] for `Read`/`Write`/`Seek`: a network error keeps
/// its kind (a timeout stays `TimedOut`), a corrupt file is `InvalidData`; the driver's
/// error is inside (`io_error.get_ref()` downcasts to [`Error`]).
pub(crate) fn into_io_error(error: Error) -> io::Error {
    let kind = match &*error.kind {
        ErrorKind::Io(e) => e.kind(),
        ErrorKind::GridFs(GridFsErrorKind::MissingChunk { .. })
        | ErrorKind::GridFs(GridFsErrorKind::WrongSizeChunk { .. })
        | ErrorKind::InvalidResponse { .. } => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error)
}
