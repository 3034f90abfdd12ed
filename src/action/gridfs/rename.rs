//! [`GridFsBucket::rename`] and the spec's [`GridFsBucket::rename_by_name`].

use bson::{Bson, doc};

use super::not_found;
#[cfg(doc)]
use crate::gridfs::GridFsErrorKind;
use crate::{
    Result,
    gridfs::{GridFsBucket, GridFsFileIdentifier},
};

impl GridFsBucket {
    /// Renames a file (its files document; the chunks do not hold the name).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// bucket.rename(Bson::from("logo"), "logo-2024.png").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn rename(&self, id: Bson, new_filename: impl Into<String>) -> Rename<'_> {
        Rename {
            bucket: self,
            timeout: None,
            id,
            new_filename: new_filename.into(),
        }
    }

    /// Renames every revision of a file (the spec's `renameByName`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// bucket.rename_by_name("draft.txt", "final.txt").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn rename_by_name(
        &self,
        filename: impl Into<String>,
        new_filename: impl Into<String>,
    ) -> RenameByName<'_> {
        RenameByName {
            bucket: self,
            timeout: None,
            filename: filename.into(),
            new_filename: new_filename.into(),
        }
    }
}

/// A file rename, made by [`GridFsBucket::rename`]; ends in [`run`](Rename::run).
///
/// # Examples
///
/// ```no_run
/// use bson::Bson;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// bucket.rename(Bson::from("logo"), "logo-old.png").run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Rename<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    id: Bson,
    new_filename: String,
}

impl Rename<'_> {
    gridfs_timeout_setter!("rename(Bson::from(\"a\"), \"b.txt\")");

    /// Sets the files document's `filename`.
    ///
    /// # Errors
    /// [`GridFsErrorKind::FileNotFound`] when no file has the id; server and network
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Bson;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// bucket.rename(Bson::from("logo"), "logo-old.png").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = self.timeout.or(self.bucket.timeout());
        crate::timeout::scope(timeout, move || {
            let matched = self
                .bucket
                .files()
                .update_one(
                    doc! { "_id": self.id.clone() },
                    doc! { "$set": { "filename": self.new_filename } },
                )
                .run()?
                .matched_count;
            match matched {
                0 => Err(not_found(GridFsFileIdentifier::Id(self.id))),
                _ => Ok(()),
            }
        })
    }
}

/// The rename of every revision of a file, made by [`GridFsBucket::rename_by_name`];
/// ends in [`run`](RenameByName::run).
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// bucket.rename_by_name("draft.txt", "final.txt").run()?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct RenameByName<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    filename: String,
    new_filename: String,
}

impl RenameByName<'_> {
    gridfs_timeout_setter!("rename_by_name(\"a.txt\", \"b.txt\")");

    /// Sets `filename` on every files document that has the old one.
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
    /// bucket.rename_by_name("draft.txt", "final.txt").run()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<()> {
        let timeout = self.timeout.or(self.bucket.timeout());
        crate::timeout::scope(timeout, move || {
            let matched = self
                .bucket
                .files()
                .update_many(
                    doc! { "filename": self.filename.as_str() },
                    doc! { "$set": { "filename": self.new_filename } },
                )
                .run()?
                .matched_count;
            match matched {
                0 => Err(not_found(GridFsFileIdentifier::Filename(self.filename))),
                _ => Ok(()),
            }
        })
    }
}
