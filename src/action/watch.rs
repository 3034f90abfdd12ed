//! `Collection::watch`, `Database::watch` and `Client::watch`: change streams.

use std::{marker::PhantomData, time::Duration};

use bson::{Bson, Document};
use serde::de::DeserializeOwned;

use crate::{
    Client, Collection, Database, Result,
    change_stream::{
        ChangeStream,
        event::{ChangeStreamEvent, ResumeToken},
    },
    operation::{Concerns, change_stream::WatchTarget},
    options::*,
};

impl<T> Collection<T> {
    /// Watches this collection's changes: `.run()` opens a [`ChangeStream`] of
    /// [`ChangeStreamEvent<T>`]s.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::FullDocumentType;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let stream = items.watch().full_document(FullDocumentType::UpdateLookup).run()?;
    /// for event in stream {
    ///     let event = event?;
    ///     println!("{:?} {:?}", event.operation_type, event.full_document);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn watch(&self) -> Watch<'_, T> {
        Watch::new(
            self.client().clone(),
            WatchTarget::Collection(self.namespace()),
            self.concerns(),
            self.timeout(),
        )
    }
}

impl Database {
    /// Watches the changes to every collection of this database (system collections
    /// excepted; MongoDB 4.0+).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// for event in client.database("shop").watch().run()? {
    ///     let event = event?;
    ///     println!("{:?} in {:?}", event.operation_type, event.ns);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn watch(&self) -> Watch<'_> {
        Watch::new(
            self.client().clone(),
            WatchTarget::Database(self.name().to_owned()),
            self.concerns(),
            self.timeout(),
        )
    }
}

impl Client {
    /// Watches the changes to every database of the deployment (`admin`, `config`,
    /// `local` and system collections excepted; MongoDB 4.0+).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// for event in client.watch().run()? {
    ///     println!("{:?}", event?.ns);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn watch(&self) -> Watch<'_> {
        let concerns = self.database("admin").concerns();
        Watch::new(self.clone(), WatchTarget::Cluster, concerns, self.timeout())
    }
}

/// A change stream to open, made by [`Collection::watch`], [`Database::watch`] or
/// [`Client::watch`]; ends in [`run`](Watch::run).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use bson::{doc, Document};
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Item { sku: String, qty: i32 }
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let inserts = items
///     .watch()
///     .pipeline([doc! { "$match": { "operationType": "insert" } }])
///     .max_await_time(Duration::from_millis(500))
///     .with_type::<Item>()
///     .run()?;
/// for event in inserts {
///     println!("{:?}", event?.full_document);
/// }
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Watch<'a, T = Document> {
    client: Client,
    target: WatchTarget,
    concerns: Concerns,
    pipeline: Vec<Document>,
    options: Option<ChangeStreamOptions>,
    /// Its `timeoutMS` (the handle's until `.timeout()` sets one).
    timeout: Option<Duration>,
    _type: PhantomData<fn() -> T>,
    _borrow: PhantomData<&'a ()>,
}

impl<'a, T> Watch<'a, T> {
    fn new(
        client: Client,
        target: WatchTarget,
        concerns: Concerns,
        timeout: Option<Duration>,
    ) -> Self {
        Watch {
            client,
            target,
            concerns,
            pipeline: Vec::new(),
            options: None,
            timeout,
            _type: PhantomData,
            _borrow: PhantomData,
        }
    }

    /// Stages to run on the events after the `$changeStream` stage (`$match`,
    /// `$project`, `$addFields`, `$replaceRoot`, `$redact`, ...). Keep `_id`: the stream
    /// cannot resume without it (the server refuses a pipeline that changes it).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let deletes = items.watch().pipeline([doc! { "$match": { "operationType": "delete" } }]).run()?;
    /// # let _ = deletes;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn pipeline(mut self, pipeline: impl IntoIterator<Item = Document>) -> Self {
        self.pipeline = pipeline.into_iter().collect();
        self
    }

    /// Bounds the opening `aggregate`, then each iteration of the stream (each `next`
    /// with the `getMore`s and any resume it takes) by `timeout` (its `timeoutMS`; zero:
    /// no limit), in place of the collection's, database's or client's. An iteration
    /// that times out leaves the stream usable: the next one resumes it. A timeout
    /// before any event came suggests the server needs longer to scan the oplog: drop
    /// the stream and open one with a longer timeout. `max_await_time` must be shorter.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use bson::Document;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut stream = items.watch().timeout(Duration::from_secs(5)).run()?;
    /// match stream.next() {
    ///     Some(Err(e)) if e.is_timeout() => println!("no change within 5 s"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    option_setters!(ChangeStreamOptions;
        example("coll: Collection<Document>") "coll.watch()";
        full_document: (FullDocumentType),
        full_document_before_change: (FullDocumentBeforeChangeType),
        start_at_operation_time: (bson::Timestamp),
        max_await_time: (Duration),
        batch_size: (u32),
        collation: (Collation),
        comment: (into Bson),
        show_expanded_events: (bool),
        read_concern: (ReadConcern),
        selection_criteria: (SelectionCriteria),
    );

    /// Sets the [`resume_after`](crate::options::ChangeStreamOptions::resume_after)
    /// option: the stream starts after that event. `None` leaves it unset, so that
    /// [`ChangeStream::resume_token`] can be passed straight in.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    /// use greenmongo::change_stream::event::ResumeToken;
    ///
    /// fn continue_from(saved: Option<ResumeToken>) -> greenmongo::Result<()> {
    ///     let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    ///     let items = client.database("shop").collection::<Document>("items");
    ///     for event in items.watch().resume_after(saved).run()? {
    ///         println!("{:?}", event?.operation_type);
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn resume_after(mut self, token: impl Into<Option<ResumeToken>>) -> Self {
        self.options
            .get_or_insert_with(Default::default)
            .resume_after = token.into();
        self
    }

    /// Sets the [`start_after`](crate::options::ChangeStreamOptions::start_after) option:
    /// the stream starts after that event, even an `invalidate` (to go on watching a
    /// collection dropped or renamed and created again).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    /// use greenmongo::change_stream::event::ResumeToken;
    ///
    /// fn after(token: ResumeToken) -> greenmongo::Result<()> {
    ///     let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    ///     let items = client.database("shop").collection::<Document>("items");
    ///     for event in items.watch().start_after(token).run()? {
    ///         println!("{:?}", event?.operation_type);
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn start_after(mut self, token: ResumeToken) -> Self {
        self.options
            .get_or_insert_with(Default::default)
            .start_after = Some(token);
        self
    }

    /// The same stream, with `full_document` and `full_document_before_change`
    /// deserialized as `U`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::Document;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Item { sku: String }
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// for event in items.watch().with_type::<Item>().run()? {
    ///     println!("{:?}", event?.full_document.map(|item| item.sku));
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn with_type<U>(self) -> Watch<'a, U> {
        Watch {
            client: self.client,
            target: self.target,
            concerns: self.concerns,
            pipeline: self.pipeline,
            options: self.options,
            timeout: self.timeout,
            _type: PhantomData,
            _borrow: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Watch<'_, T> {
    /// Opens the stream: runs the `aggregate` (a retryable read) and returns the stream,
    /// which resumes by itself from then on.
    ///
    /// # Errors
    /// Server and network errors of the `aggregate`: the deployment has no oplog (a
    /// standalone server), a bad pipeline, a resume token the server no longer has.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost/?replicaSet=rs0")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut stream = items.watch().run()?;
    /// items.insert_one(doc! { "sku": "kiwi" }).run()?;
    /// println!("{:?}", stream.next().transpose()?);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<ChangeStream<ChangeStreamEvent<T>>> {
        ChangeStream::open(
            self.client,
            self.target,
            self.pipeline,
            self.options.unwrap_or_default(),
            self.concerns,
            self.timeout,
        )
    }
}
