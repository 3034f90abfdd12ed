//! Downloads: [`GridFsBucket::open_download_stream`],
//! [`GridFsBucket::open_download_stream_by_name`] and greenmongo's
//! [`GridFsBucket::download_to_writer`].

use std::io;

use bson::Bson;

#[cfg(doc)]
use crate::gridfs::GridFsErrorKind;
use crate::{
    Result,
    gridfs::{GridFsBucket, GridFsDownloadByNameOptions, GridFsDownloadStream},
};

impl GridFsBucket {
    /// Opens the file with this id for reading; `.run()` returns a
    /// [`GridFsDownloadStream`] (`Read + Seek`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let mut bytes = Vec::new();
    /// bucket.open_download_stream(Bson::from("logo")).run()?.read_to_end(&mut bytes)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_download_stream(&self, id: Bson) -> OpenDownloadStream<'_> {
        OpenDownloadStream {
            bucket: self,
            id,
            timeout: None,
        }
    }

    /// Opens a file by name for reading: the latest upload with that name, or the
    /// [`revision`](OpenDownloadStreamByName::revision) asked for (0 the first, -1 the
    /// latest).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Read;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let mut first = String::new();
    /// bucket.open_download_stream_by_name("notes.txt").revision(0).run()?.read_to_string(&mut first)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_download_stream_by_name(
        &self,
        filename: impl Into<String>,
    ) -> OpenDownloadStreamByName<'_> {
        OpenDownloadStreamByName {
            bucket: self,
            timeout: None,
            filename: filename.into(),
            options: None,
        }
    }

    /// Writes the file with this id into `destination` (greenmongo's), one chunk at a
    /// time; `.run()` returns the number of bytes written.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let out = std::fs::File::create("logo.png")?;
    /// let written = bucket.download_to_writer(Bson::from("logo"), out).run()?;
    /// println!("{written} bytes");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn download_to_writer<W: io::Write>(
        &self,
        id: Bson,
        destination: W,
    ) -> DownloadToWriter<'_, W> {
        DownloadToWriter {
            bucket: self,
            timeout: None,
            id,
            destination,
        }
    }
}

/// A download by id, made by [`GridFsBucket::open_download_stream`]; ends in
/// [`run`](OpenDownloadStream::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Bson;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let stream = bucket.open_download_stream(Bson::from("logo")).run()?;
/// println!("{} bytes", stream.file().length);
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct OpenDownloadStream<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    id: Bson,
}

impl OpenDownloadStream<'_> {
    gridfs_timeout_setter!("open_download_stream(Bson::from(\"a\"))");

    /// Reads the files document and returns the stream (chunks are fetched as it is
    /// read).
    ///
    /// # Errors
    /// [`GridFsErrorKind::FileNotFound`]; server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    /// use greenmongo::{gridfs::GridFsErrorKind, ErrorKind};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let err = bucket.open_download_stream(Bson::from("no-such-file")).run().unwrap_err();
    /// assert!(matches!(&*err.kind, ErrorKind::GridFs(GridFsErrorKind::FileNotFound { .. })));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<GridFsDownloadStream> {
        let timeout = self.timeout.or(self.bucket.timeout());
        let file = crate::timeout::scope(timeout, || self.bucket.file_by_id(&self.id))?;
        GridFsDownloadStream::new(self.bucket, file, timeout)
    }
}

/// A download by filename, made by [`GridFsBucket::open_download_stream_by_name`]; ends
/// in [`run`](OpenDownloadStreamByName::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let previous = bucket.open_download_stream_by_name("notes.txt").revision(-2).run()?;
/// # let _ = previous;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct OpenDownloadStreamByName<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    filename: String,
    options: Option<GridFsDownloadByNameOptions>,
}

impl OpenDownloadStreamByName<'_> {
    gridfs_timeout_setter!("open_download_stream_by_name(\"a.txt\")");

    gridfs_setters!(GridFsDownloadByNameOptions; "open_download_stream_by_name(\"a.txt\")";
        revision: i32,
    );

    /// Finds the revision's files document and returns the stream.
    ///
    /// # Errors
    /// [`GridFsErrorKind::FileNotFound`] when no file has the name,
    /// [`GridFsErrorKind::RevisionNotFound`] when fewer revisions exist; server and
    /// network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Read;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let mut latest = String::new();
    /// bucket.open_download_stream_by_name("notes.txt").run()?.read_to_string(&mut latest)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run(self) -> Result<GridFsDownloadStream> {
        let revision = self.options.and_then(|o| o.revision).unwrap_or(-1);
        let timeout = self.timeout.or(self.bucket.timeout());
        let file = crate::timeout::scope(timeout, || {
            self.bucket.file_by_name(&self.filename, revision)
        })?;
        GridFsDownloadStream::new(self.bucket, file, timeout)
    }
}

/// A download into a writer, made by [`GridFsBucket::download_to_writer`]; ends in
/// [`run`](DownloadToWriter::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Bson;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let mut bytes = Vec::new();
/// bucket.download_to_writer(Bson::from("logo"), &mut bytes).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct DownloadToWriter<'a, W> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    id: Bson,
    destination: W,
}

impl<W: io::Write> DownloadToWriter<'_, W> {
    gridfs_timeout_setter!("download_to_writer(Bson::from(\"a\"), std::io::sink())");

    /// Writes the whole file, chunk by chunk, and flushes the writer; returns the bytes
    /// written.
    ///
    /// # Errors
    /// [`GridFsErrorKind::FileNotFound`], [`GridFsErrorKind::MissingChunk`] and
    /// [`GridFsErrorKind::WrongSizeChunk`] (the bytes before the bad chunk have been
    /// written); the writer's errors (as [`ErrorKind::Io`](crate::ErrorKind::Io)); server
    /// and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let n = bucket.download_to_writer(Bson::from("logo"), std::io::sink()).run()?;
    /// println!("{n} bytes");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(mut self) -> Result<u64> {
        let timeout = self.timeout.or(self.bucket.timeout());
        crate::timeout::scope(timeout, move || {
            let file = self.bucket.file_by_id(&self.id)?;
            let mut stream = GridFsDownloadStream::new(self.bucket, file, timeout)?;
            let mut written = 0;
            loop {
                let bytes = stream.fill()?;
                if bytes.is_empty() {
                    break;
                }
                self.destination.write_all(bytes)?;
                let amount = bytes.len();
                stream.advance(amount);
                written += amount as u64;
            }
            self.destination.flush()?;
            Ok(written)
        })
    }
}
