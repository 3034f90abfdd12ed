//! Downloads (GridFS spec, "Downloading a file"): a [`std::io::Read`] + [`std::io::Seek`]
//! over the chunks of one file, fetched one at a time and checked as they come.

use std::{
    fmt,
    io::{self, SeekFrom},
};

use bson::{Bson, RawBsonRef, RawDocumentBuf, doc};

use super::{FilesCollectionDocument, GridFsBucket, GridFsErrorKind, error::into_io_error};
use crate::{Collection, Cursor, Error, Result};

/// `CursorNotFound`: the server timed the chunks cursor out while the reader was idle.
const CURSOR_NOT_FOUND: i32 = 43;

/// A stored file, read as a [`std::io::Read`] + [`std::io::Seek`] (and
/// [`std::io::BufRead`], lending each chunk's bytes). Made by
/// [`GridFsBucket::open_download_stream`] and
/// [`GridFsBucket::open_download_stream_by_name`].
///
/// Chunks are fetched one at a time (a cursor with `batchSize: 1`) as reading reaches
/// them, so the stream holds one chunk in memory whatever the size of the file. Each chunk
/// is checked: a chunk missing or of the wrong size is an error naming the file's id and
/// the chunk's number `n` ([`GridFsErrorKind::MissingChunk`],
/// [`GridFsErrorKind::WrongSizeChunk`]), carried in the [`io::Error`] (kind
/// `InvalidData`; `get_ref()` downcasts to the driver's [`Error`]).
///
/// Seeking costs nothing by itself; the next read fetches the chunk it lands in (reusing
/// the open cursor when reading on sequentially). Positions past the end read nothing.
///
/// # Examples
///
/// ```no_run
/// use std::io::{Read, Seek, SeekFrom};
/// use bson::Bson;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let mut video = bucket.open_download_stream_by_name("talk.mp4").run()?;
/// println!("{} bytes", video.file().length);
/// video.seek(SeekFrom::Start(1 << 20))?;           // skip the first MiB
/// let mut frame = [0u8; 4096];
/// video.read_exact(&mut frame)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GridFsDownloadStream {
    chunks: Collection<RawDocumentBuf>,
    file: FilesCollectionDocument,
    /// The read position in the file.
    pos: u64,
    /// The chunk the last read used, with its number.
    chunk: Option<(u64, RawDocumentBuf)>,
    /// The open cursor over the chunks and the `n` of the chunk it returns next.
    cursor: Option<(Cursor<RawDocumentBuf>, u64)>,
    /// Its `timeoutMS` from when it was opened: every read must finish within it.
    budget: crate::timeout::Budget,
}

impl fmt::Debug for GridFsDownloadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridFsDownloadStream")
            .field("id", &self.file.id)
            .field("length", &self.file.length)
            .field("pos", &self.pos)
            .finish()
    }
}

impl GridFsDownloadStream {
    pub(crate) fn new(
        bucket: &GridFsBucket,
        file: FilesCollectionDocument,
        timeout: Option<std::time::Duration>,
    ) -> Result<Self> {
        if file.chunk_size_bytes == 0 && file.length > 0 {
            return Err(Error::invalid_response(format!(
                "files document {}: chunkSize 0 for a length of {}",
                file.id, file.length
            )));
        }
        Ok(GridFsDownloadStream {
            chunks: bucket.raw_chunks(),
            file,
            pos: 0,
            chunk: None,
            cursor: None,
            budget: crate::timeout::Budget::start(timeout),
        })
    }

    /// The file's files document (its id, length, chunk size, name, metadata).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let stream = bucket.open_download_stream_by_name("logo.png").run()?;
    /// println!("{:?} uploaded {}", stream.file().filename, stream.file().upload_date);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn file(&self) -> &FilesCollectionDocument {
        &self.file
    }

    /// The file's id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let stream = bucket.open_download_stream(Bson::from("logo")).run()?;
    /// assert_eq!(stream.files_id(), &Bson::from("logo"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn files_id(&self) -> &Bson {
        &self.file.id
    }

    /// The bytes from the read position to the end of its chunk (fetching that chunk if
    /// needed); empty at the end of the file.
    pub(crate) fn fill(&mut self) -> Result<&[u8]> {
        if self.pos >= self.file.length {
            return Ok(&[]);
        }
        let size = u64::from(self.file.chunk_size_bytes);
        let n = self.pos / size;
        if self.chunk.as_ref().is_none_or(|(held, _)| *held != n) {
            self.chunk = None; // one chunk in memory at a time
            let fetched = self.fetch(n)?;
            self.chunk = Some((n, fetched));
        }
        let Some((_, chunk)) = &self.chunk else {
            unreachable!("chunk {n} was just fetched")
        };
        let data = data(chunk)?;
        Ok(&data[(self.pos % size) as usize..])
    }

    /// Moves the read position on by `amount` bytes (after [`fill`](Self::fill)).
    pub(crate) fn advance(&mut self, amount: usize) {
        self.pos += amount as u64;
    }

    /// Chunk `n`, checked: from the open cursor if it is there, else from a new cursor
    /// starting at `n` (once more if the server timed the cursor out).
    fn fetch(&mut self, n: u64) -> Result<RawDocumentBuf> {
        // Every read of the stream within its timeoutMS from when it was opened.
        let budget = self.budget;
        budget.run(|| self.fetch_within(n))
    }

    fn fetch_within(&mut self, n: u64) -> Result<RawDocumentBuf> {
        let mut reopened = false;
        loop {
            let mut cursor = match self.cursor.take() {
                Some((cursor, next)) if next == n => cursor,
                _ => {
                    reopened = true;
                    self.open_cursor(n)?
                }
            };
            match cursor.next() {
                Some(Err(e)) if e.code() == Some(CURSOR_NOT_FOUND) && !reopened => continue,
                Some(Err(e)) => return Err(e),
                None => return Err(self.missing(n)),
                Some(Ok(chunk)) => {
                    self.check(n, &chunk)?;
                    self.cursor = Some((cursor, n + 1));
                    return Ok(chunk);
                }
            }
        }
    }

    /// A cursor over chunks `n..` of the file, in order, one per batch, ending at the
    /// last chunk (so the server closes it by itself when the file is read through).
    fn open_cursor(&self, n: u64) -> Result<Cursor<RawDocumentBuf>> {
        let remaining = self.file.chunk_count().saturating_sub(n);
        self.chunks
            .find(doc! { "files_id": self.file.id.clone(), "n": { "$gte": n as i64 } })
            .sort(doc! { "n": 1 })
            .batch_size(1)
            .limit(i64::try_from(remaining).unwrap_or(i64::MAX))
            .run()
    }

    /// Whether `chunk` is chunk `n` of the right size.
    fn check(&self, n: u64, chunk: &RawDocumentBuf) -> Result<()> {
        let got = chunk.get("n")?.and_then(crate::bson_util::raw_int);
        if got != Some(n as i64) {
            // The cursor skipped n: chunk n is not there.
            return Err(self.missing(n));
        }
        let actual_size = data(chunk)?.len();
        let expected_size = self.file.chunk_len(n);
        if actual_size != expected_size as usize {
            return Err(GridFsErrorKind::WrongSizeChunk {
                files_id: self.file.id.clone(),
                n: n as u32,
                actual_size,
                expected_size,
            }
            .into());
        }
        Ok(())
    }

    fn missing(&self, n: u64) -> Error {
        GridFsErrorKind::MissingChunk {
            files_id: self.file.id.clone(),
            n: n as u32,
        }
        .into()
    }
}

/// The bytes of a chunk document (`data`, binary).
fn data(chunk: &RawDocumentBuf) -> Result<&[u8]> {
    match chunk.get("data")? {
        Some(RawBsonRef::Binary(binary)) => Ok(binary.bytes),
        _ => Err(Error::invalid_response(format!(
            "chunk {:?} has no binary data",
            chunk.get("_id").ok().flatten()
        ))),
    }
}

impl io::Read for GridFsDownloadStream {
    /// Copies from the current chunk, fetching the next one when it is used up.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill().map_err(into_io_error)?;
        let amount = available.len().min(buf.len());
        buf[..amount].copy_from_slice(&available[..amount]);
        self.advance(amount);
        Ok(amount)
    }
}

/// The chunk in hand is the buffer: `fill_buf` lends its bytes from the read position on
/// (fetching the next chunk when it is used up), with no copy.
///
/// # Examples
///
/// ```no_run
/// use std::io::BufRead;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("logs").gridfs_bucket(None);
/// let log = bucket.open_download_stream_by_name("app.log").run()?;
/// for line in log.lines() {
///     println!("{}", line?);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl io::BufRead for GridFsDownloadStream {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill().map_err(into_io_error)
    }

    fn consume(&mut self, amount: usize) {
        self.advance(amount);
    }
}

impl io::Seek for GridFsDownloadStream {
    /// Moves the read position; no I/O until the next read. Before the start is an
    /// `InvalidInput` error; past the end is allowed (reads return 0).
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, offset) = match to {
            SeekFrom::Start(at) => {
                self.pos = at;
                return Ok(at);
            }
            SeekFrom::End(offset) => (self.file.length, offset),
            SeekFrom::Current(offset) => (self.pos, offset),
        };
        match base.checked_add_signed(offset) {
            Some(at) => {
                self.pos = at;
                Ok(at)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a position before the start of the GridFS file",
            )),
        }
    }
}
