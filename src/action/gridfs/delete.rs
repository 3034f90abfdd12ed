//! [`GridFsBucket::delete`], the spec's [`GridFsBucket::delete_by_name`] and
//! [`GridFsBucket::drop`].

use bson::{Bson, Document, doc};

use super::not_found;
#[cfg(doc)]
use crate::gridfs::GridFsErrorKind;
use crate::{
    Result,
    gridfs::{GridFsBucket, GridFsFileIdentifier},
};

impl GridFsBucket {
    /// Deletes a file: its files document, then its chunks.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// bucket.delete(Bson::from("logo")).run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn delete(&self, id: Bson) -> Delete<'_> {
        Delete {
            bucket: self,
            id,
            timeout: None,
        }
    }

    /// Deletes every revision of a file (the spec's `deleteByName`): their files
    /// documents, then their chunks.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// bucket.delete_by_name("draft.txt").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn delete_by_name(&self, filename: impl Into<String>) -> DeleteByName<'_> {
        DeleteByName {
            bucket: self,
            timeout: None,
            filename: filename.into(),
        }
    }

    /// Drops the bucket: its files and chunks collections, so every file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("media").gridfs_bucket(None).drop().run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop(&self) -> Drop<'_> {
        Drop {
            bucket: self,
            timeout: None,
        }
    }
}

/// A file deletion, made by [`GridFsBucket::delete`]; ends in [`run`](Delete::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Bson;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// bucket.delete(Bson::from("logo")).run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Delete<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    id: Bson,
}

impl Delete<'_> {
    gridfs_timeout_setter!("delete(Bson::from(\"a\"))");

    /// Deletes the files document, then the chunks (also when there was no files
    /// document: orphaned chunks go too).
    ///
    /// # Errors
    /// [`GridFsErrorKind::FileNotFound`] when no files document had the id; server and
    /// network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// if bucket.delete(Bson::from("logo")).run().is_err() {
    ///     println!("no such file");
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = self.timeout.or(self.bucket.timeout());
        crate::timeout::scope(timeout, move || {
            let deleted = self
                .bucket
                .files()
                .delete_one(doc! { "_id": self.id.clone() })
                .run()?
                .deleted_count;
            self.bucket
                .chunks()
                .delete_many(doc! { "files_id": self.id.clone() })
                .run()?;
            match deleted {
                0 => Err(not_found(GridFsFileIdentifier::Id(self.id))),
                _ => Ok(()),
            }
        })
    }
}

/// The deletion of every revision of a file, made by [`GridFsBucket::delete_by_name`];
/// ends in [`run`](DeleteByName::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// bucket.delete_by_name("draft.txt").run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct DeleteByName<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    filename: String,
}

impl DeleteByName<'_> {
    gridfs_timeout_setter!("delete_by_name(\"a.txt\")");

    /// Finds the ids of the files with that name, deletes their files documents, then
    /// their chunks.
    ///
    /// # Errors
    /// [`GridFsErrorKind::FileNotFound`] when no file has the name; server and network
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// bucket.delete_by_name("draft.txt").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = self.timeout.or(self.bucket.timeout());
        crate::timeout::scope(timeout, move || {
            let files = self.bucket.files().clone_with_type::<Document>();
            let ids = files
                .find(doc! { "filename": self.filename.as_str() })
                .projection(doc! { "_id": 1 })
                .run()?
                .map(|file| Ok(file?.get("_id").cloned().unwrap_or(Bson::Null)))
                .collect::<Result<Vec<Bson>>>()?;
            if ids.is_empty() {
                return Err(not_found(GridFsFileIdentifier::Filename(self.filename)));
            }
            files
                .delete_many(doc! { "_id": { "$in": ids.clone() } })
                .run()?;
            self.bucket
                .chunks()
                .delete_many(doc! { "files_id": { "$in": ids } })
                .run()?;
            Ok(())
        })
    }
}

/// The drop of a bucket, made by [`GridFsBucket::drop`]; ends in [`run`](Drop::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// client.database("media").gridfs_bucket(None).drop().run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Drop<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
}

impl Drop<'_> {
    gridfs_timeout_setter!("drop()");

    /// Drops the files collection, then the chunks collection; the next upload checks
    /// the indexes again.
    ///
    /// # Errors
    /// Server and network errors (a bucket that does not exist drops without error).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("media").gridfs_bucket(None).drop().run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = self.timeout.or(self.bucket.timeout());
        crate::timeout::scope(timeout, move || {
            self.bucket.files().drop().run()?;
            self.bucket.chunks().drop().run()?;
            self.bucket.forget_indexes()
        })
    }
}
