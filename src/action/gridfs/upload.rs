//! Uploads: [`GridFsBucket::open_upload_stream`] and greenmongo's
//! [`GridFsBucket::upload_from_reader`].

use std::io;

use bson::{Bson, Document, oid::ObjectId};

use crate::{
    Result,
    gridfs::{GridFsBucket, GridFsUploadOptions, GridFsUploadStream, upload_from_reader},
};

impl GridFsBucket {
    /// Starts an upload; `.run()` returns a [`GridFsUploadStream`] to write the file's
    /// bytes into, then [`close`](GridFsUploadStream::close). The file gets a new ObjectId
    /// unless [`id`](OpenUploadStream::id) gives one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let mut upload = bucket.open_upload_stream("hello.txt").run()?;
    /// upload.write_all(b"hello")?;
    /// upload.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_upload_stream(&self, filename: impl AsRef<str>) -> OpenUploadStream<'_> {
        OpenUploadStream {
            bucket: self,
            timeout: None,
            filename: filename.as_ref().to_owned(),
            id: None,
            options: None,
        }
    }

    /// Uploads everything `source` yields as file `filename` (greenmongo's; the official
    /// sync API has no reader upload): the bytes go out chunk by chunk as they are read, one
    /// chunk in memory, then the files document. `.run()` returns the file's id. A read
    /// error deletes the chunks sent so far.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let id = bucket.upload_from_reader("motd.txt", &b"welcome"[..]).run()?;
    /// println!("stored as {id}");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn upload_from_reader<R: io::Read>(
        &self,
        filename: impl AsRef<str>,
        source: R,
    ) -> UploadFromReader<'_, R> {
        UploadFromReader {
            bucket: self,
            timeout: None,
            filename: filename.as_ref().to_owned(),
            source,
            id: None,
            options: None,
        }
    }
}

/// An upload, made by [`GridFsBucket::open_upload_stream`]; ends in
/// [`run`](OpenUploadStream::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Bson};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let upload = bucket
///     .open_upload_stream("scan.tiff")
///     .id(Bson::from("scan-0001"))
///     .chunk_size_bytes(1 << 20)
///     .metadata(doc! { "dpi": 600 })
///     .run()?;
/// # let _ = upload;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct OpenUploadStream<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    filename: String,
    id: Option<Bson>,
    options: Option<GridFsUploadOptions>,
}

impl OpenUploadStream<'_> {
    gridfs_timeout_setter!("open_upload_stream(\"a.txt\")");

    /// The file's id (`_id` of its files document, `files_id` of its chunks); a new
    /// ObjectId if not given.
    ///
    /// # Examples
    ///
    /// ```
    /// # use bson::Bson;
    /// # use greenmongo::gridfs::*;
    /// fn example(bucket: GridFsBucket) -> greenmongo::Result<()> {
    ///     let upload = bucket.open_upload_stream("a.txt").id(Bson::Int64(42)).run()?;
    ///     assert_eq!(upload.id(), &Bson::Int64(42));
    ///     Ok(())
    /// }
    /// ```
    pub fn id(mut self, id: Bson) -> Self {
        self.id = Some(id);
        self
    }

    gridfs_setters!(GridFsUploadOptions; "open_upload_stream(\"a.txt\")";
        chunk_size_bytes: u32,
        metadata: Document,
    );

    /// Checks the bucket's indexes (before its first upload) and returns the stream.
    ///
    /// # Errors
    /// A chunk size of 0; the index check's server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let mut upload = bucket.open_upload_stream("a.txt").run()?;
    /// writeln!(upload, "line one")?;
    /// upload.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run(self) -> Result<GridFsUploadStream> {
        let options = self.options.unwrap_or_default();
        GridFsUploadStream::new(
            self.bucket.clone(),
            self.id.unwrap_or_else(|| ObjectId::new().into()),
            self.filename,
            options
                .chunk_size_bytes
                .unwrap_or_else(|| self.bucket.chunk_size_bytes()),
            options.metadata,
            self.timeout.or(self.bucket.timeout()),
        )
    }
}

/// An upload from a reader, made by [`GridFsBucket::upload_from_reader`]; ends in
/// [`run`](UploadFromReader::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let csv = std::fs::File::open("export.csv")?;
/// let id = bucket
///     .upload_from_reader("export.csv", csv)
///     .metadata(doc! { "contentType": "text/csv" })
///     .run()?;
/// # let _ = id;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct UploadFromReader<'a, R> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    filename: String,
    source: R,
    id: Option<Bson>,
    options: Option<GridFsUploadOptions>,
}

impl<R: io::Read> UploadFromReader<'_, R> {
    gridfs_timeout_setter!("upload_from_reader(\"a.txt\", &b\"abc\"[..])");

    /// The file's id; a new ObjectId if not given.
    ///
    /// # Examples
    ///
    /// ```
    /// # use bson::Bson;
    /// # use greenmongo::gridfs::*;
    /// fn example(bucket: GridFsBucket) -> greenmongo::Result<()> {
    ///     let id = bucket.upload_from_reader("a.txt", &b"abc"[..]).id(Bson::from("a")).run()?;
    ///     assert_eq!(id, Bson::from("a"));
    ///     Ok(())
    /// }
    /// ```
    pub fn id(mut self, id: Bson) -> Self {
        self.id = Some(id);
        self
    }

    gridfs_setters!(GridFsUploadOptions; "upload_from_reader(\"a.txt\", &b\"abc\"[..])";
        chunk_size_bytes: u32,
        metadata: Document,
    );

    /// Reads `source` to its end, sending each chunk as it fills, then writes the files
    /// document; returns the file's id.
    ///
    /// # Errors
    /// The source's read errors (as [`ErrorKind::Io`](crate::ErrorKind::Io)) and the
    /// writes' errors; either way the chunks sent are deleted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Read;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let id = bucket.upload_from_reader("zeros.bin", std::io::repeat(0).take(1 << 20)).run()?;
    /// # let _ = id;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Bson> {
        let timeout = self.timeout.or(self.bucket.timeout());
        crate::timeout::scope(timeout, move || {
            let upload = OpenUploadStream {
                bucket: self.bucket,
                timeout: self.timeout,
                filename: self.filename,
                id: self.id,
                options: self.options,
            }
            .run()?;
            upload_from_reader(upload, self.source)
        })
    }
}
