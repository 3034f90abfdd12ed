//! Options of a bucket and of its operations, shaped like the official driver's: plain
//! structs with public fields and `Default`, and `builder()` ... `build()`.
//!
//! ```
//! use greenmongo::gridfs::GridFsBucketOptions;
//!
//! let built = GridFsBucketOptions::builder().bucket_name("photos").chunk_size_bytes(1 << 20).build();
//! let literal = GridFsBucketOptions {
//!     bucket_name: Some("photos".into()),
//!     chunk_size_bytes: Some(1 << 20),
//!     ..Default::default()
//! };
//! assert_eq!(built, literal);
//! ```

use std::time::Duration;

use bson::Document;

use crate::options::{FindOneOptions, FindOptions, ReadConcern, SelectionCriteria, WriteConcern};

/// `builder()`, `build()` and one setter per field, each with a compiled example. The
/// fields in `into { ... }` get setters taking `impl Into<Type>` (strings); the others
/// take the type itself (so a literal `4096` is a `u32`).
macro_rules! builder {
    (
        $Options:ident { $($field:ident: $ty:ty),* $(,)? }
        $(into { $($into_field:ident: $into_ty:ty),* $(,)? })?
    ) => {
        impl $Options {
            /// Default options, to chain setters on (as the official driver's builders).
            ///
            /// # Examples
            ///
            #[doc = concat!(
                "```\n",
                "use greenmongo::gridfs::", stringify!($Options), ";\n\n",
                "assert_eq!(", stringify!($Options), "::builder().build(), ",
                stringify!($Options), "::default());\n",
                "```",
            )]
            pub fn builder() -> Self {
                Self::default()
            }

            /// The options, ready to pass (the end of a builder chain).
            ///
            /// # Examples
            ///
            #[doc = concat!(
                "```\n",
                "use greenmongo::gridfs::", stringify!($Options), ";\n\n",
                "let options: ", stringify!($Options), " = ", stringify!($Options),
                "::builder().build();\n",
                "assert_eq!(options, ", stringify!($Options), "::default());\n",
                "```",
            )]
            pub fn build(self) -> Self {
                self
            }

            $( builder!(@setter $Options $field ($ty) $ty); )*
            $($( builder!(@setter $Options $into_field (impl Into<$into_ty>) $into_ty); )*)?
        }
    };
    (@setter $Options:ident $field:ident ($($param:tt)*) $ty:ty) => {
        #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
        ///
        /// # Examples
        ///
        #[doc = concat!(
            "```\n",
            "# use bson::Document;\n",
            "# use std::time::Duration;\n",
            "use greenmongo::{gridfs::*, options::*};\n\n",
            "fn with_", stringify!($field), "(value: ", stringify!($ty), ") -> ",
            stringify!($Options), " {\n",
            "    let options = ", stringify!($Options), "::builder().",
            stringify!($field), "(value).build();\n",
            "    assert!(options.", stringify!($field), ".is_some());\n",
            "    options\n",
            "}\n",
            "```",
        )]
        #[allow(clippy::useless_conversion)]
        pub fn $field(mut self, value: $($param)*) -> Self {
            self.$field = Some(value.into());
            self
        }
    };
}

/// Options of a bucket ([`Database::gridfs_bucket`](crate::Database::gridfs_bucket)).
///
/// # Examples
///
/// ```no_run
/// use greenmongo::{gridfs::GridFsBucketOptions, options::WriteConcern};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let options = GridFsBucketOptions::builder()
///     .bucket_name("videos")            // videos.files and videos.chunks
///     .chunk_size_bytes(1024 * 1024)    // 1 MiB chunks
///     .write_concern(WriteConcern::majority())
///     .build();
/// let bucket = client.database("media").gridfs_bucket(options);
/// # let _ = bucket;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridFsBucketOptions {
    /// The bucket's name, the prefix of its two collections (default `fs`: `fs.files` and
    /// `fs.chunks`).
    pub bucket_name: Option<String>,
    /// The size of the chunks of new files (default 255 KiB), unless an upload sets its
    /// own.
    pub chunk_size_bytes: Option<u32>,
    /// The write concern of the bucket's writes (default: the database's).
    pub write_concern: Option<WriteConcern>,
    /// The read concern of the bucket's reads (default: the database's).
    pub read_concern: Option<ReadConcern>,
    /// Where the bucket's reads go (default: the database's read preference).
    pub selection_criteria: Option<SelectionCriteria>,
}

builder!(GridFsBucketOptions {
    chunk_size_bytes: u32,
    write_concern: WriteConcern,
    read_concern: ReadConcern,
} into {
    bucket_name: String,
    selection_criteria: SelectionCriteria,
});

/// Options of an upload
/// ([`open_upload_stream`](crate::gridfs::GridFsBucket::open_upload_stream),
/// [`upload_from_reader`](crate::gridfs::GridFsBucket::upload_from_reader)).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::gridfs::GridFsUploadOptions;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let options = GridFsUploadOptions::builder()
///     .chunk_size_bytes(64 * 1024)
///     .metadata(doc! { "contentType": "text/csv" })
///     .build();
/// let stream = bucket.open_upload_stream("export.csv").with_options(options).run()?;
/// # let _ = stream;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridFsUploadOptions {
    /// The size of this file's chunks (default: the bucket's).
    pub chunk_size_bytes: Option<u32>,
    /// The files document's `metadata`: anything the application wants to keep with the
    /// file.
    pub metadata: Option<Document>,
}

builder!(GridFsUploadOptions {
    chunk_size_bytes: u32,
    metadata: Document,
});

/// Options of a download by filename
/// ([`open_download_stream_by_name`](crate::gridfs::GridFsBucket::open_download_stream_by_name)).
///
/// # Examples
///
/// ```no_run
/// use greenmongo::gridfs::GridFsDownloadByNameOptions;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let first = GridFsDownloadByNameOptions::builder().revision(0).build();
/// let original = bucket.open_download_stream_by_name("logo.png").with_options(first).run()?;
/// # let _ = original;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridFsDownloadByNameOptions {
    /// Which of the files with that filename (by `uploadDate`): 0 is the first uploaded,
    /// 1 the second, ...; -1 the latest (the default), -2 the one before it, ...
    pub revision: Option<i32>,
}

builder!(GridFsDownloadByNameOptions { revision: i32 });

/// Options of [`GridFsBucket::find`](crate::gridfs::GridFsBucket::find).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::gridfs::GridFsFindOptions;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let newest = GridFsFindOptions::builder().sort(doc! { "uploadDate": -1 }).limit(10).build();
/// for file in bucket.find(doc! {}).with_options(newest).run()? {
///     println!("{:?}", file?.filename);
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridFsFindOptions {
    /// Let the server use temporary files for a large sort.
    pub allow_disk_use: Option<bool>,
    /// Files documents per batch.
    pub batch_size: Option<u32>,
    /// The most files documents to return.
    pub limit: Option<i64>,
    /// The server's time limit for the query.
    pub max_time: Option<Duration>,
    /// Keep the server's cursor open while idle.
    pub no_cursor_timeout: Option<bool>,
    /// Files documents to skip.
    pub skip: Option<u64>,
    /// The order, e.g. `doc! { "uploadDate": -1 }`.
    pub sort: Option<Document>,
}

builder!(GridFsFindOptions {
    allow_disk_use: bool,
    batch_size: u32,
    limit: i64,
    max_time: Duration,
    no_cursor_timeout: bool,
    skip: u64,
    sort: Document,
});

impl From<GridFsFindOptions> for FindOptions {
    fn from(o: GridFsFindOptions) -> Self {
        FindOptions {
            allow_disk_use: o.allow_disk_use,
            batch_size: o.batch_size,
            limit: o.limit,
            max_time: o.max_time,
            no_cursor_timeout: o.no_cursor_timeout,
            skip: o.skip,
            sort: o.sort,
            ..Default::default()
        }
    }
}

/// Options of [`GridFsBucket::find_one`](crate::gridfs::GridFsBucket::find_one).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use greenmongo::gridfs::GridFsFindOneOptions;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let latest = GridFsFindOneOptions::builder().sort(doc! { "uploadDate": -1 }).build();
/// let file = bucket.find_one(doc! { "filename": "logo.png" }).with_options(latest).run()?;
/// # let _ = file;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridFsFindOneOptions {
    /// The server's time limit for the query.
    pub max_time: Option<Duration>,
    /// Files documents to skip.
    pub skip: Option<u64>,
    /// The order, e.g. `doc! { "uploadDate": -1 }`.
    pub sort: Option<Document>,
}

builder!(GridFsFindOneOptions {
    max_time: Duration,
    skip: u64,
    sort: Document,
});

impl From<GridFsFindOneOptions> for FindOneOptions {
    fn from(o: GridFsFindOneOptions) -> Self {
        FindOneOptions {
            max_time: o.max_time,
            skip: o.skip,
            sort: o.sort,
            ..Default::default()
        }
    }
}
