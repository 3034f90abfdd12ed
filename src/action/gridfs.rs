//! The GridFS actions: the methods of [`GridFsBucket`], each a builder ending in `.run()`
//! (the official driver's `action::gridfs`), over the collection actions. One file per
//! family: `upload`, `download`, `find`, `delete` (and `drop`), `rename`.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use bson::doc;
//!
//! let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
//! let bucket = client.database("media").gridfs_bucket(None);
//! let mut upload = bucket.open_upload_stream("notes.txt").chunk_size_bytes(1024).run()?;
//! upload.write_all(b"first draft")?;
//! upload.close()?;
//! bucket.rename(upload.id().clone(), "notes-v1.txt").run()?;
//! let mut text = String::new();
//! bucket.open_download_stream_by_name("notes-v1.txt").revision(-1).run()?.read_to_string(&mut text)?;
//! for file in bucket.find(doc! {}).sort(doc! { "uploadDate": -1 }).run()? {
//!     println!("{:?}", file?.filename);
//! }
//! bucket.delete(upload.id().clone()).run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bson::{Bson, doc};

use crate::{
    Error, Result,
    gridfs::{FilesCollectionDocument, GridFsBucket, GridFsErrorKind, GridFsFileIdentifier},
};

/// The `timeout` setter of a GridFS action: its `timeoutMS` in place of the bucket's
/// (its database's). For a stream it bounds the stream's whole life; otherwise the whole
/// operation.
macro_rules! gridfs_timeout_setter {
    ($call:literal) => {
        /// Bounds the operation (for a stream: everything it does until closed) by
        /// `timeout` (its `timeoutMS`; zero: no limit) instead of the bucket's.
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n",
            "# use std::time::Duration;\n",
            "# use bson::{doc, Bson, Document};\n",
            "# use greenmongo::gridfs::*;\n",
            "fn example(bucket: GridFsBucket) -> greenmongo::Result<()> {\n",
            "    let outcome = bucket.", $call, ".timeout(Duration::from_secs(2)).run()?;\n",
            "    # let _ = outcome;\n",
            "    Ok(())\n",
            "}\n",
            "```",
        )]
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.timeout = Some(timeout);
            self
        }
    };
}

/// One setter per option of a GridFS action's options struct (as `option_setters!` does
/// for the collection actions; these options live in [`crate::gridfs`]). Each generated
/// doc example chains its setter onto `$call`, with `bucket: GridFsBucket` in scope.
macro_rules! gridfs_setters {
    ($Options:ident; $call:literal; $($field:ident: $ty:ty),* $(,)?) => {
        /// Sets all options at once, replacing any set before (`None` clears them).
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n",
            "# use bson::{doc, Bson, Document};\n",
            "# use greenmongo::gridfs::*;\n",
            "fn example(bucket: GridFsBucket, options: ", stringify!($Options),
            ") -> greenmongo::Result<()> {\n",
            "    let outcome = bucket.", $call, ".with_options(options).run()?;\n",
            "    # let _ = outcome;\n",
            "    Ok(())\n",
            "}\n",
            "```",
        )]
        pub fn with_options(mut self, options: impl Into<Option<$Options>>) -> Self {
            self.options = options.into();
            self
        }

        $(
            #[doc = concat!(
                "Sets the [`", stringify!($field), "`](crate::gridfs::", stringify!($Options),
                "::", stringify!($field), ") option.",
            )]
            ///
            /// # Examples
            ///
            #[doc = concat!(
                "```\n",
                "# use std::time::Duration;\n",
                "# use bson::{doc, Bson, Document};\n",
                "# use greenmongo::gridfs::*;\n",
                "fn example(bucket: GridFsBucket, value: ", stringify!($ty),
                ") -> greenmongo::Result<()> {\n",
                "    let outcome = bucket.", $call, ".", stringify!($field), "(value).run()?;\n",
                "    # let _ = outcome;\n",
                "    Ok(())\n",
                "}\n",
                "```",
            )]
            pub fn $field(mut self, value: $ty) -> Self {
                self.options.get_or_insert_with(Default::default).$field = Some(value);
                self
            }
        )*
    };
}

mod delete;
mod download;
mod find;
mod rename;
mod upload;

pub use delete::{Delete, DeleteByName, Drop};
pub use download::{DownloadToWriter, OpenDownloadStream, OpenDownloadStreamByName};
pub use find::{Find, FindOne};
pub use rename::{Rename, RenameByName};
pub use upload::{OpenUploadStream, UploadFromReader};

impl GridFsBucket {
    /// The files document with this id.
    fn file_by_id(&self, id: &Bson) -> Result<FilesCollectionDocument> {
        self.files()
            .find_one(doc! { "_id": id.clone() })
            .run()?
            .ok_or_else(|| not_found(GridFsFileIdentifier::Id(id.clone())))
    }

    /// The files document of revision `revision` of `filename` (by `uploadDate`: 0 the
    /// first, -1 the latest).
    fn file_by_name(&self, filename: &str, revision: i32) -> Result<FilesCollectionDocument> {
        let (sort, skip) = if revision >= 0 {
            (1, i64::from(revision))
        } else {
            (-1, -i64::from(revision) - 1)
        };
        let filter = doc! { "filename": filename };
        let found = self
            .files()
            .find_one(filter.clone())
            .sort(doc! { "uploadDate": sort })
            .skip(skip as u64)
            .run()?;
        match found {
            Some(file) => Ok(file),
            None if self.files().find_one(filter).run()?.is_some() => {
                Err(GridFsErrorKind::RevisionNotFound {
                    filename: filename.to_owned(),
                    revision,
                }
                .into())
            }
            None => Err(not_found(GridFsFileIdentifier::Filename(
                filename.to_owned(),
            ))),
        }
    }
}

fn not_found(identifier: GridFsFileIdentifier) -> Error {
    GridFsErrorKind::FileNotFound { identifier }.into()
}
