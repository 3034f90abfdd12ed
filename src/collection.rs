//! Typed collections: the everyday CRUD API (the CRUD spec), in blocking style.
//!
//! The public methods (`find`, `insert_one`, ...) live in [`crate::action`] and return
//! builders that hand an operation (`crate::operation`) to the executor. This file holds
//! the handle: its namespace and the concerns its operations inherit.

use std::{fmt, marker::PhantomData, time::Duration};

use bson::Document;

use crate::{
    Client,
    operation::{Concerns, Namespace},
    options::{ReadConcern, ReadPreference, WriteConcern},
};

/// A collection of documents of type `T` (default [`Document`]). Cheap to clone; no I/O
/// until used.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Item { sku: String, qty: i32 }
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Item>("items");
/// items.insert_one(Item { sku: "apple".into(), qty: 3 }).run()?;
/// let apple = items.find_one(doc! { "sku": "apple" }).run()?;
/// println!("{apple:?}");
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub struct Collection<T = Document> {
    client: Client,
    db: String,
    name: String,
    read_concern: Option<ReadConcern>,
    write_concern: Option<WriteConcern>,
    read_preference: Option<ReadPreference>,
    /// `timeoutMS` of its operations (inherited from the database or client).
    timeout: Option<Duration>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        self.clone_with_type()
    }
}

impl<T> fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("namespace", &self.namespace().to_string())
            .finish()
    }
}

impl<T> Collection<T> {
    pub(crate) fn new(client: Client, db: &str, name: &str) -> Collection<T> {
        let options = client.options();
        Collection {
            read_concern: options.read_concern.clone(),
            write_concern: options.write_concern.clone(),
            read_preference: options.read_preference.clone(),
            timeout: options.timeout,
            client,
            db: db.to_owned(),
            name: name.to_owned(),
            _type: PhantomData,
        }
    }

    /// The collection's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("shop").collection::<bson::Document>("items").name(), "items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `database.collection`.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<bson::Document>("items");
    /// assert_eq!(items.namespace().to_string(), "shop.items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn namespace(&self) -> Namespace {
        Namespace::new(&self.db, &self.name)
    }

    /// The same collection, with documents read and written as `U`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Item { sku: String }
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let raw = client.database("shop").collection::<bson::Document>("items");
    /// let typed = raw.clone_with_type::<Item>();
    /// assert_eq!(typed.namespace().to_string(), "shop.items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn clone_with_type<U>(&self) -> Collection<U> {
        Collection {
            client: self.client.clone(),
            db: self.db.clone(),
            name: self.name.clone(),
            read_concern: self.read_concern.clone(),
            write_concern: self.write_concern.clone(),
            read_preference: self.read_preference.clone(),
            timeout: self.timeout,
            _type: PhantomData,
        }
    }

    /// This collection with a default write concern for its writes.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut majority = WriteConcern::default();
    /// majority.w = Some(Acknowledgment::Majority);
    /// let orders = client.database("shop").collection::<bson::Document>("orders").with_write_concern(majority);
    /// # let _ = orders; // every write through `orders` now waits for a majority
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }

    /// This collection with a default read concern for its reads.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<bson::Document>("items")
    ///     .with_read_concern(ReadConcern::new(ReadConcernLevel::Majority));
    /// # let _ = items; // reads see only majority-committed data
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_concern(mut self, read_concern: ReadConcern) -> Self {
        self.read_concern = Some(read_concern);
        self
    }

    /// This collection with a default read preference for its reads.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let reports = client.database("shop").collection::<bson::Document>("orders")
    ///     .with_read_preference(ReadPreference::new(ReadPreferenceMode::SecondaryPreferred));
    /// # let _ = reports; // reads go to a secondary when one is available
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_preference(mut self, read_preference: ReadPreference) -> Self {
        self.read_preference = Some(read_preference);
        self
    }

    /// The concerns this handle gives its operations.
    /// A handle on the same collection whose operations are bounded by `timeout` (their
    /// `timeoutMS`; zero: no limit) unless one sets its own. It replaces the database's
    /// or client's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?timeoutMS=5000")?;
    /// let items = client.database("shop").collection::<bson::Document>("items");
    /// assert_eq!(items.timeout(), Some(Duration::from_secs(5)));
    /// let quick = items.with_timeout(Duration::from_millis(200));
    /// assert_eq!(quick.timeout(), Some(Duration::from_millis(200)));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The `timeoutMS` of the collection's operations, if any (see
    /// [`with_timeout`](Self::with_timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("shop").collection::<bson::Document>("items").timeout(), None);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn concerns(&self) -> Concerns {
        Concerns {
            read_concern: self.read_concern.clone(),
            write_concern: self.write_concern.clone(),
            read_preference: self.read_preference.clone(),
        }
    }

    /// The client the operations run on.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }
}
