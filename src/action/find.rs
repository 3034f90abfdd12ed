//! `Collection::find` and `Collection::find_one`.

use std::time::Duration;

use bson::{Bson, Document};
use serde::de::DeserializeOwned;

use super::{ExplicitSession, ImplicitSession};
use crate::{Collection, Cursor, Result, SessionCursor, operation, options::*};

impl<T> Collection<T> {
    /// Finds the documents matching `filter`; `.run()` returns a [`Cursor`] over them.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// for item in items.find(doc! { "qty": { "$gt": 0 } }).sort(doc! { "price": 1 }).limit(3).run()? {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find(&self, filter: Document) -> Find<'_, T> {
        Find {
            coll: self,
            filter,
            options: None,
            session: ImplicitSession,
            timeout: None,
            timeout_mode: None,
        }
    }

    /// Finds the first document matching `filter`; `.run()` returns it, or `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let apple = items.find_one(doc! { "sku": "apple" }).projection(doc! { "qty": 1 }).run()?;
    /// println!("{apple:?}");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn find_one(&self, filter: Document) -> FindOne<'_, T> {
        FindOne {
            coll: self,
            filter,
            options: None,
            session: None,
            timeout: None,
        }
    }
}

/// A `find`, made by [`Collection::find`]; ends in [`run`](Find::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let page = items.find(doc! {}).skip(20).limit(10);
/// let names: Vec<Document> = page.run()?.collect::<greenmongo::Result<_>>()?;
/// # let _ = names;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Find<'a, T, S = ImplicitSession> {
    coll: &'a Collection<T>,
    filter: Document,
    options: Option<FindOptions>,
    session: S,
    timeout: Option<std::time::Duration>,
    timeout_mode: Option<crate::options::TimeoutMode>,
}

impl<T, S> Find<'_, T, S> {
    /// The `timeoutMS` and `timeoutMode` the cursor is opened with.
    fn timing(&self) -> crate::timeout::CursorTiming {
        crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.coll.timeout()),
            mode: self.timeout_mode,
        }
    }

    cursor_timeout_setters!("coll: Collection<Document>" "coll.find(doc! {})");

    option_setters!(FindOptions;
        example("coll: Collection<Document>") "coll.find(doc! {})";
        allow_disk_use: (bool),
        allow_partial_results: (bool),
        batch_size: (u32),
        comment: (into Bson),
        cursor_type: (CursorType),
        hint: (Hint),
        limit: (i64),
        max: (Document),
        max_await_time: (Duration),
        max_time: (Duration),
        min: (Document),
        no_cursor_timeout: (bool),
        projection: (Document),
        read_concern: (ReadConcern),
        return_key: (bool),
        selection_criteria: (SelectionCriteria),
        show_record_id: (bool),
        skip: (u64),
        sort: (Document),
        collation: (Collation),
        let_vars: (Document),
    );
}

impl<'a, T> Find<'a, T, ImplicitSession> {
    /// Runs the `find` in `session` (and its transaction, if one is open): `.run()`
    /// returns a [`SessionCursor`], whose later batches are fetched in the session.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.find(doc! {}).session(&mut session).run()?;
    /// for item in cursor.iter(&mut session) {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn session(
        self,
        session: impl Into<&'a mut crate::ClientSession>,
    ) -> Find<'a, T, ExplicitSession<'a>> {
        Find {
            coll: self.coll,
            filter: self.filter,
            options: self.options,
            session: ExplicitSession(session.into()),
            timeout: self.timeout,
            timeout_mode: self.timeout_mode,
        }
    }

    /// Runs the `find` and returns a cursor over the matching documents; later batches
    /// are fetched as the cursor is iterated.
    ///
    /// # Errors
    /// Server and network errors. Documents that do not deserialize as `T` come out of
    /// the cursor as errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let cursor = items.find(doc! { "qty": 0 }).batch_size(100).run()?;
    /// println!("{} items out of stock", cursor.count());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Cursor<T>> {
        let timing = self.timing();
        let client = self.coll.client();
        client.execute_cursor_operation(self.into_parts().0, timing)
    }
}

impl<'a, T> Find<'a, T, ExplicitSession<'a>> {
    /// Runs the `find` in the session and returns a cursor whose later batches are
    /// fetched in it.
    ///
    /// # Errors
    /// Server and network errors; the session belongs to another client.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let mut session = client.start_session().run()?;
    /// let mut cursor = items.find(doc! {}).session(&mut session).run()?;
    /// while let Some(item) = cursor.next(&mut session) {
    ///     println!("{}", item?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<SessionCursor<T>> {
        let timing = self.timing();
        crate::timeout::of_operation(self.timeout, None, Some(&*self.session.0))?;
        let client = self.coll.client();
        let (op, ExplicitSession(session)) = self.into_parts();
        let cursor = client.execute_cursor_operation_in(op, Some(session), timing)?;
        Ok(SessionCursor::new(cursor))
    }
}

impl<T, S> Find<'_, T, S> {
    /// The operation to run, and the session to run it in.
    fn into_parts(self) -> (operation::Find, S) {
        let op = operation::Find::new(
            self.coll.namespace(),
            self.filter,
            self.options.unwrap_or_default(),
            &self.coll.concerns(),
        );
        (op, self.session)
    }
}

/// A `find` of one document, made by [`Collection::find_one`]; ends in
/// [`run`](FindOne::run).
///
/// # Examples
///
/// ```no_run
/// use bson::{doc, Document};
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let items = client.database("shop").collection::<Document>("items");
/// let cheapest = items.find_one(doc! {}).sort(doc! { "price": 1 }).run()?;
/// # let _ = cheapest;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct FindOne<'a, T> {
    coll: &'a Collection<T>,
    filter: Document,
    options: Option<FindOneOptions>,
    session: Option<&'a mut crate::ClientSession>,
    timeout: Option<std::time::Duration>,
}

impl<'a, T: DeserializeOwned> FindOne<'a, T> {
    option_setters!(FindOneOptions;
        example("coll: Collection<Document>") "coll.find_one(doc! {})";
        allow_partial_results: (bool),
        collation: (Collation),
        comment: (into Bson),
        hint: (Hint),
        max: (Document),
        max_time: (Duration),
        min: (Document),
        projection: (Document),
        read_concern: (ReadConcern),
        return_key: (bool),
        selection_criteria: (SelectionCriteria),
        show_record_id: (bool),
        skip: (u64),
        sort: (Document),
        let_vars: (Document),
    );

    session_setter!("coll: Collection<Document>" "coll.find_one(doc! {})");

    timeout_setter!("coll: Collection<Document>" "coll.find_one(doc! {})");

    /// Runs the query (one batch of one document: no cursor is left on the server).
    ///
    /// # Errors
    /// Server and network errors; a document that does not deserialize as `T`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// match items.find_one(doc! { "sku": "apple" }).run()? {
    ///     Some(apple) => println!("{apple}"),
    ///     None => println!("no apples"),
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) -> Result<Option<T>> {
        // The cursor's budget (cursorLifetime) bounds the query and the fetch alike.
        let timing = crate::timeout::CursorTiming {
            timeout: self.timeout.or(self.coll.timeout()),
            mode: None,
        };
        let options = FindOptions::from(self.options.unwrap_or_default());
        let op = operation::Find::new(
            self.coll.namespace(),
            self.filter,
            options,
            &self.coll.concerns(),
        );
        let mut session = self.session;
        let mut cursor: Cursor<T> =
            self.coll
                .client()
                .execute_cursor_operation_in(op, session.as_deref_mut(), timing)?;
        cursor.next_in(session).transpose()
    }
}
