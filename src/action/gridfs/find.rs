//! [`GridFsBucket::find`] and [`GridFsBucket::find_one`]: queries of the files collection.

use std::time::Duration;

use bson::Document;

use crate::{
    Cursor, Result,
    gridfs::{FilesCollectionDocument, GridFsBucket, GridFsFindOneOptions, GridFsFindOptions},
    options::{FindOneOptions, FindOptions},
};

impl GridFsBucket {
    /// Finds files documents; `.run()` returns a [`Cursor`] over them.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let big = bucket.find(doc! { "length": { "$gt": 1 << 30 } }).run()?.count();
    /// println!("{big} files over 1 GiB");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find(&self, filter: Document) -> Find<'_> {
        Find {
            bucket: self,
            timeout: None,
            filter,
            options: None,
        }
    }

    /// Finds one files document; `.run()` returns it, or `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// if let Some(file) = bucket.find_one(doc! { "filename": "logo.png" }).run()? {
    ///     println!("{} bytes", file.length);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one(&self, filter: Document) -> FindOne<'_> {
        FindOne {
            bucket: self,
            timeout: None,
            filter,
            options: None,
        }
    }
}

/// A find in the files collection, made by [`GridFsBucket::find`]; ends in
/// [`run`](Find::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let newest = bucket.find(doc! {}).sort(doc! { "uploadDate": -1 }).limit(5).run()?;
/// # let _ = newest;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Find<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    filter: Document,
    options: Option<GridFsFindOptions>,
}

impl Find<'_> {
    gridfs_timeout_setter!("find(doc! {})");

    gridfs_setters!(GridFsFindOptions; "find(doc! {})";
        allow_disk_use: bool,
        batch_size: u32,
        limit: i64,
        max_time: Duration,
        no_cursor_timeout: bool,
        skip: u64,
        sort: Document,
    );

    /// Runs the find and returns a cursor over the files documents.
    ///
    /// # Errors
    /// Server and network errors; files documents that do not deserialize come out of
    /// the cursor as errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let total: u64 = bucket.find(doc! {}).run()?.map(|f| f.map(|f| f.length)).sum::<greenmongo::Result<u64>>()?;
    /// println!("{total} bytes stored");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Cursor<FilesCollectionDocument>> {
        let find = self
            .bucket
            .files()
            .find(self.filter)
            .with_options(self.options.map(FindOptions::from));
        match self.timeout.or(self.bucket.timeout()) {
            Some(t) => find.timeout(t).run(),
            None => find.run(),
        }
    }
}

/// A find of one files document, made by [`GridFsBucket::find_one`]; ends in
/// [`run`](FindOne::run).
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let bucket = client.database("media").gridfs_bucket(None);
/// let largest = bucket.find_one(doc! {}).sort(doc! { "length": -1 }).run()?;
/// # let _ = largest;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct FindOne<'a> {
    bucket: &'a GridFsBucket,
    /// Its `timeoutMS`, else the bucket's.
    timeout: Option<std::time::Duration>,
    filter: Document,
    options: Option<GridFsFindOneOptions>,
}

impl FindOne<'_> {
    gridfs_timeout_setter!("find_one(doc! {})");

    gridfs_setters!(GridFsFindOneOptions; "find_one(doc! {})";
        max_time: Duration,
        skip: u64,
        sort: Document,
    );

    /// Runs the query.
    ///
    /// # Errors
    /// Server and network errors; a files document that does not deserialize.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let bucket = client.database("media").gridfs_bucket(None);
    /// let exists = bucket.find_one(doc! { "filename": "logo.png" }).run()?.is_some();
    /// # let _ = exists;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Option<FilesCollectionDocument>> {
        let find = self
            .bucket
            .files()
            .find_one(self.filter)
            .with_options(self.options.map(FindOneOptions::from));
        match self.timeout.or(self.bucket.timeout()) {
            Some(t) => find.timeout(t).run(),
            None => find.run(),
        }
    }
}
