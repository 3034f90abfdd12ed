//! Uploads (GridFS spec, "Uploading a file"): a [`std::io::Write`] that sends each chunk
//! as soon as it is full, then the files document on [`close`](GridFsUploadStream::close).

use std::{fmt, io, time::Duration};

use bson::{Binary, Bson, DateTime, Document, doc, oid::ObjectId, spec::BinarySubtype};

use super::{FilesCollectionDocument, GridFsBucket, GridFsErrorKind, error::into_io_error};
use crate::{Error, Result, runtime::time::with_own_deadline, timeout::Budget};

/// How long dropping an unclosed upload stream, or cleaning up after a failed write, may
/// spend deleting its chunks (as a cursor's `killCursors` on drop: a dead server cannot
/// hang the drop, nor double the wait of a call that already failed).
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(1);

/// The server's duplicate key error: the write did not happen.
const DUPLICATE_KEY: i32 = 11000;

/// An upload in progress: write the file's bytes, then [`close`](Self::close) it. Made by
/// [`GridFsBucket::open_upload_stream`].
///
/// Bytes are buffered until they fill a chunk, which is then inserted at once: the stream
/// holds at most one chunk in memory, whatever the size of the file. A chunk that is not
/// full waits for more bytes or for `close`, so [`flush`](io::Write::flush) writes
/// nothing (every chunk but the last must be full).
///
/// - [`close`](Self::close) writes the last chunk and the files document: only then does
///   the file exist for readers.
/// - [`abort`](Self::abort) deletes the chunks written so far.
/// - Dropping the stream without either aborts it, spending at most one second on the
///   delete (errors are ignored: call `abort` to see them).
/// - A failed chunk or files document write aborts the upload too (again at most one
///   second on the delete); later calls fail with [`GridFsErrorKind::UploadStreamClosed`].
///
/// Cleaning up deletes only the chunks this stream wrote (`files_id` and `n` below the
/// chunks it sent), never those of another file: an upload given the id of an existing
/// file fails on its first chunk (the unique `files_id_1_n_1` index) and leaves that file
/// whole.
///
/// The errors of `write` are [`io::Error`]s holding the driver's [`Error`] (a network
/// timeout keeps the `TimedOut` kind).
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let mut upload = bucket
///     .open_upload_stream("log.txt")
///     .metadata(doc! { "host": "web-1" })
///     .run()?;
/// for line in ["started\n", "stopped\n"] {
///     upload.write_all(line.as_bytes())?;
/// }
/// upload.close()?;
/// println!("stored as {}", upload.id());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GridFsUploadStream {
    bucket: GridFsBucket,
    id: Bson,
    filename: String,
    chunk_size: u32,
    metadata: Option<Document>,
    /// The bytes of chunk `n`, not full yet (allocated on first use, reused after).
    buffer: Vec<u8>,
    /// The number of the next chunk to write.
    n: u32,
    /// Bytes written so far, in chunks sent and in the buffer.
    length: u64,
    state: State,
    /// Its `timeoutMS` from when it was opened: the whole stream (index check, chunk
    /// writes, close or abort) must finish within it (the CSOT spec).
    budget: Budget,
}

/// Where an upload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Accepting bytes.
    Open,
    /// `close` succeeded: the file exists.
    Closed,
    /// Aborted, explicitly or after a failure: its chunks were (or were tried to be)
    /// deleted.
    Aborted,
}

impl fmt::Debug for GridFsUploadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridFsUploadStream")
            .field("id", &self.id)
            .field("filename", &self.filename)
            .field("chunk_size", &self.chunk_size)
            .field("length", &self.length)
            .field("state", &self.state)
            .finish()
    }
}

impl GridFsUploadStream {
    pub(crate) fn new(
        bucket: GridFsBucket,
        id: Bson,
        filename: String,
        chunk_size: u32,
        metadata: Option<Document>,
        timeout: Option<Duration>,
    ) -> Result<GridFsUploadStream> {
        if chunk_size == 0 {
            return Err(Error::invalid_argument("chunk_size_bytes must be positive"));
        }
        let budget = Budget::start(timeout);
        budget.run(|| bucket.ensure_indexes())?;
        Ok(GridFsUploadStream {
            bucket,
            id,
            filename,
            chunk_size,
            metadata,
            buffer: Vec::new(),
            n: 0,
            length: 0,
            state: State::Open,
            budget,
        })
    }

    /// The id the file gets: the one given to
    /// [`OpenUploadStream::id`](crate::action::gridfs::OpenUploadStream::id), else a
    /// new ObjectId.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let upload = bucket.open_upload_stream("a.txt").id(Bson::from("a")).run()?;
    /// assert_eq!(upload.id(), &Bson::from("a"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn id(&self) -> &Bson {
        &self.id
    }

    /// Writes the last chunk (if any bytes are buffered) and the files document: the file
    /// exists from here on. If either write fails, the chunks are deleted.
    ///
    /// # Errors
    /// [`GridFsErrorKind::UploadStreamClosed`] if already closed or aborted; the write's
    /// error (the chunks are then deleted, and the stream is aborted).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let mut upload = bucket.open_upload_stream("empty.txt").run()?;
    /// upload.close()?; // a file of length 0: no chunks, one files document
    /// assert!(upload.close().is_err()); // only once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&mut self) -> Result<()> {
        let budget = self.budget;
        budget.run(|| self.finish())
    }

    /// [`close`](Self::close) within the stream's budget.
    fn finish(&mut self) -> Result<()> {
        self.check_open()?;
        if !self.buffer.is_empty() {
            self.write_chunk()?;
        }
        let file = FilesCollectionDocument {
            id: self.id.clone(),
            length: self.length,
            chunk_size_bytes: self.chunk_size,
            upload_date: DateTime::now(),
            filename: Some(self.filename.clone()),
            metadata: self.metadata.take(),
        };
        if let Err(e) = self.bucket.files().insert_one(&file).run() {
            return Err(self.fail(e));
        }
        self.state = State::Closed;
        self.buffer = Vec::new();
        Ok(())
    }

    /// Gives the upload up: deletes the chunks written so far. No files document is
    /// written; the stream accepts nothing more.
    ///
    /// # Errors
    /// [`GridFsErrorKind::UploadStreamClosed`] if already closed or aborted; the
    /// delete's error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let mut upload = bucket.open_upload_stream("partial.bin").chunk_size_bytes(4).run()?;
    /// upload.write_all(b"12345678")?; // two chunks sent
    /// upload.abort()?;                // and deleted
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort(&mut self) -> Result<()> {
        self.check_open()?;
        self.state = State::Aborted;
        self.buffer = Vec::new();
        let budget = self.budget;
        budget.run(|| self.delete_chunks(self.n))
    }

    fn check_open(&self) -> Result<()> {
        match self.state {
            State::Open => Ok(()),
            State::Closed | State::Aborted => Err(GridFsErrorKind::UploadStreamClosed.into()),
        }
    }

    /// Sends the buffer as chunk `n`, keeping its allocation for the next chunk.
    fn write_chunk(&mut self) -> Result<()> {
        let bytes = std::mem::take(&mut self.buffer);
        let n = i32::try_from(self.n)
            .map_err(|_| Error::invalid_argument("file too large: more than 2^31 chunks"))?;
        let mut chunk = doc! {
            "_id": ObjectId::new(),
            "files_id": self.id.clone(),
            "n": n,
            "data": Binary { subtype: BinarySubtype::Generic, bytes },
        };
        let result = self.bucket.chunks().insert_one(&chunk).run();
        if let Some(Bson::Binary(Binary { mut bytes, .. })) = chunk.remove("data") {
            bytes.clear();
            self.buffer = bytes;
        }
        match result {
            Ok(_) => {
                self.n += 1;
                Ok(())
            }
            Err(e) => {
                // Unless the server refused it, the chunk may have been written.
                if e.code() != Some(DUPLICATE_KEY) {
                    self.n += 1;
                }
                Err(self.fail(e))
            }
        }
    }

    /// A failed write aborts the upload: the chunks are deleted (an error doing so is
    /// dropped; the caller gets the first one).
    fn fail(&mut self, error: Error) -> Error {
        self.state = State::Aborted;
        self.buffer = Vec::new();
        // A budget of its own: the stream's may be what failed the write.
        let cleanup = std::time::Instant::now() + CLEANUP_TIMEOUT;
        let _ = with_own_deadline(Some(cleanup), || self.delete_chunks(self.n));
        error
    }

    /// Deletes chunks `0..upper` of this file: the ones this stream (may have) written.
    fn delete_chunks(&self, upper: u32) -> Result<()> {
        if upper == 0 {
            return Ok(());
        }
        let filter = doc! { "files_id": self.id.clone(), "n": { "$lt": i64::from(upper) } };
        self.bucket.chunks().delete_many(filter).run().map(|_| ())
    }

    fn write_bytes(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.check_open()?;
        let chunk_size = self.chunk_size as usize;
        while !bytes.is_empty() {
            if self.buffer.capacity() < chunk_size {
                self.buffer.reserve_exact(chunk_size - self.buffer.len());
            }
            let take = bytes.len().min(chunk_size - self.buffer.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            self.length += take as u64;
            bytes = &bytes[take..];
            if self.buffer.len() == chunk_size {
                self.write_chunk()?;
            }
        }
        Ok(())
    }
}

impl io::Write for GridFsUploadStream {
    /// Takes all of `buf`, sending every chunk it fills.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let budget = self.budget;
        budget
            .run(|| self.write_bytes(buf))
            .map_err(into_io_error)?;
        Ok(buf.len())
    }

    /// Writes nothing: a chunk is sent when full, the last one by `close`.
    fn flush(&mut self) -> io::Result<()> {
        self.check_open().map_err(into_io_error)
    }
}

impl Drop for GridFsUploadStream {
    /// Neither closed nor aborted: abort, spending at most a second on the delete.
    fn drop(&mut self) {
        if self.state != State::Open {
            return;
        }
        self.state = State::Aborted;
        let cleanup = std::time::Instant::now() + CLEANUP_TIMEOUT;
        let _ = with_own_deadline(Some(cleanup), || self.delete_chunks(self.n));
    }
}

/// Uploads everything `source` yields, chunk by chunk (one chunk in memory): the body of
/// [`GridFsBucket::upload_from_reader`].
pub(crate) fn upload_from_reader(
    mut stream: GridFsUploadStream,
    mut source: impl io::Read,
) -> Result<Bson> {
    let chunk_size = stream.chunk_size as usize;
    loop {
        // Read straight into the chunk buffer: no second copy of the bytes.
        let mut buffer = std::mem::take(&mut stream.buffer);
        buffer.reserve_exact(chunk_size - buffer.len());
        let filled = buffer.len();
        buffer.resize(chunk_size, 0);
        let read = read_full(&mut source, &mut buffer[filled..]);
        let got = *read.as_ref().unwrap_or(&0);
        buffer.truncate(filled + got);
        stream.buffer = buffer;
        stream.length += got as u64;
        match read {
            Err(e) => {
                let error = stream.fail(Error::from(e));
                return Err(error);
            }
            Ok(0) => break,
            Ok(_) if stream.buffer.len() == chunk_size => stream.write_chunk()?,
            Ok(_) => break, // end of input: the last chunk goes with close
        }
    }
    stream.close()?;
    Ok(stream.id.clone())
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn read_full(source: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
