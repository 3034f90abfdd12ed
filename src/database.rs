//! A database handle.

use std::time::Duration;

use bson::Document;

use crate::{
    Client, Collection, Cursor, Result,
    operation::{Concerns, CursorReply, CursorSpec},
    options::{ReadConcern, ReadPreference, WriteConcern},
};

/// A handle to one database of a [`Client`]. Cheap to clone; no I/O until used.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let db = client.database("admin");
/// let reply = db.run_command(doc! { "buildInfo": 1 }).run()?;
/// println!("server version {}", reply.get_str("version")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Database {
    client: Client,
    name: String,
    /// Defaults for the collections of this handle (`None`: the client's).
    read_concern: Option<ReadConcern>,
    write_concern: Option<WriteConcern>,
    read_preference: Option<ReadPreference>,
    /// `timeoutMS` of its operations (inherited from the client).
    timeout: Option<Duration>,
}

impl Database {
    pub(crate) fn new(client: Client, name: &str) -> Database {
        let timeout = client.options().timeout;
        Database {
            client,
            name: name.to_owned(),
            read_concern: None,
            write_concern: None,
            read_preference: None,
            timeout,
        }
    }

    /// This database with a default write concern for the collections it hands out and
    /// its own aggregations (not for [`Database::run_command`], which sends the command
    /// as given).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let mut majority = WriteConcern::default();
    /// majority.w = Some(Acknowledgment::Majority);
    /// let db = client.database("shop").with_write_concern(majority);
    /// let items = db.collection::<bson::Document>("items"); // writes with w: "majority"
    /// # let _ = items;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_write_concern(mut self, write_concern: WriteConcern) -> Self {
        self.write_concern = Some(write_concern);
        self
    }

    /// This database with a default read concern (see [`Database::with_write_concern`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("shop").with_read_concern(ReadConcern::new(ReadConcernLevel::Majority));
    /// let items = db.collection::<bson::Document>("items"); // reads with readConcern majority
    /// # let _ = items;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_concern(mut self, read_concern: ReadConcern) -> Self {
        self.read_concern = Some(read_concern);
        self
    }

    /// This database with a default read preference (see
    /// [`Database::with_write_concern`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let db = client.database("reports").with_read_preference(ReadPreference::new(ReadPreferenceMode::Secondary));
    /// let daily = db.collection::<bson::Document>("daily"); // reads from secondaries
    /// # let _ = daily;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_read_preference(mut self, read_preference: ReadPreference) -> Self {
        self.read_preference = Some(read_preference);
        self
    }

    /// The database's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// assert_eq!(client.database("shop").name(), "shop");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this database belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?appName=shop")?;
    /// let db = client.database("shop");
    /// assert_eq!(db.client().options().app_name.as_deref(), Some("shop"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A handle to collection `name`, with documents of type `T` (no I/O). It inherits this
    /// handle's read concern, write concern and read preference.
    ///
    /// # Examples
    ///
    /// ```
    /// use bson::Document;
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// assert_eq!(items.namespace().to_string(), "shop.items");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn collection<T>(&self, name: &str) -> Collection<T> {
        let mut collection = Collection::new(self.client.clone(), &self.name, name);
        if let Some(rc) = &self.read_concern {
            collection = collection.with_read_concern(rc.clone());
        }
        if let Some(wc) = &self.write_concern {
            collection = collection.with_write_concern(wc.clone());
        }
        if let Some(rp) = &self.read_preference {
            collection = collection.with_read_preference(rp.clone());
        }
        if let Some(timeout) = self.timeout {
            collection = collection.with_timeout(timeout);
        }
        collection
    }

    /// The concerns this handle gives its operations: its own, else the client's.
    /// A handle on the same database whose operations (and collections) are bounded by
    /// `timeout` (their `timeoutMS`; zero: no limit) unless one sets its own. It replaces
    /// the client's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let shop = client.database("shop").with_timeout(Duration::from_secs(2));
    /// assert_eq!(shop.collection::<bson::Document>("items").timeout(), Some(Duration::from_secs(2)));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The `timeoutMS` of the database's operations, if any (see
    /// [`with_timeout`](Self::with_timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?timeoutMS=800")?;
    /// assert_eq!(client.database("shop").timeout(), Some(std::time::Duration::from_millis(800)));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn concerns(&self) -> Concerns {
        let client = self.client.options();
        Concerns {
            read_concern: self
                .read_concern
                .clone()
                .or_else(|| client.read_concern.clone()),
            write_concern: self
                .write_concern
                .clone()
                .or_else(|| client.write_concern.clone()),
            read_preference: self
                .read_preference
                .clone()
                .or_else(|| client.read_preference.clone()),
        }
    }

    /// A cursor over the `cursor` of a command's reply (a client `bulkWrite`'s results).
    pub(crate) fn cursor_from_reply(&self, reply: &Document) -> Result<Cursor<Document>> {
        let spec = CursorSpec {
            db: self.name.clone(),
            ..Default::default()
        };
        Ok(Cursor::new(
            self.client.clone(),
            spec,
            CursorReply::parse(&crate::nesting::encode(reply)?)?,
            None,
            None,
            None,
        ))
    }
}
