//! Indexes, rename and drop.

use bson::{doc, Document};

use crate::{
    collection::Collection,
    cursor::{Cursor, CursorSpec},
    operation::index_name,
    options::IndexModel,
    Result,
};

impl<T> Collection<T> {
    /// Creates an index and returns its name.
    ///
    /// # Errors
    /// Server and network errors (e.g. an index of that name with other keys exists).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::IndexModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let name = items.create_index(IndexModel { keys: doc! { "sku": 1 }, options: Some(doc! { "unique": true }) })?;
    /// assert_eq!(name, "sku_1");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn create_index(&self, model: IndexModel) -> Result<String> {
        Ok(self.create_indexes([model])?.remove(0))
    }

    /// Creates several indexes in one command and returns their names.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::{doc, Document};
    /// use greenmongo::options::IndexModel;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<Document>("items");
    /// let names = items.create_indexes([
    ///     IndexModel { keys: doc! { "sku": 1 }, options: Some(doc! { "unique": true }) },
    ///     IndexModel { keys: doc! { "price": -1, "qty": 1 }, options: None },
    /// ])?;
    /// assert_eq!(names, ["sku_1", "price_-1_qty_1"]);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn create_indexes(
        &self,
        models: impl IntoIterator<Item = IndexModel>,
    ) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let indexes: Vec<Document> = models
            .into_iter()
            .map(|m| {
                let mut index = doc! { "key": m.keys.clone() };
                index.extend(m.options.clone().unwrap_or_default());
                if !index.contains_key("name") {
                    index.insert("name", index_name(&m.keys));
                }
                names.push(index.get_str("name").unwrap_or_default().to_owned());
                index
            })
            .collect();
        let mut command = doc! { "createIndexes": self.name.as_str(), "indexes": indexes };
        self.add_write_concern(&mut command, None);
        self.run(command)?;
        Ok(names)
    }

    /// The collection's indexes, as the server describes them.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// for index in client.database("shop").collection::<bson::Document>("items").list_indexes()? {
    ///     println!("{}", index?);
    /// }
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_indexes(&self) -> Result<Cursor<Document>> {
        let command = doc! { "listIndexes": self.name.as_str(), "cursor": {} };
        let spec = CursorSpec {
            db: self.db.clone(),
            ..Default::default()
        };
        self.cursor(command, spec, self.read_criteria())
    }

    /// The names of the collection's indexes.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let names = client.database("shop").collection::<bson::Document>("items").list_index_names()?;
    /// assert!(names.iter().any(|n| n == "_id_"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn list_index_names(&self) -> Result<Vec<String>> {
        self.list_indexes()?
            .map(|index| Ok(index?.get_str("name").unwrap_or_default().to_owned()))
            .collect()
    }

    /// Drops the index named `name`.
    ///
    /// # Errors
    /// Server and network errors (e.g. no such index).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("shop").collection::<bson::Document>("items").drop_index("sku_1")?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop_index(&self, name: &str) -> Result<()> {
        let mut command = doc! { "dropIndexes": self.name.as_str(), "index": name };
        self.add_write_concern(&mut command, None);
        self.run(command).map(drop)
    }

    /// Drops every index but `_id`'s.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let items = client.database("shop").collection::<bson::Document>("items");
    /// items.drop_indexes()?;
    /// assert_eq!(items.list_index_names()?, ["_id_"]);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop_indexes(&self) -> Result<()> {
        self.drop_index("*")
    }

    /// Renames the collection (within its database, or to `other_db.name` given as
    /// `to_namespace`), replacing an existing target when `drop_target` is true.
    ///
    /// # Errors
    /// Server and network errors (e.g. code 48 when the target exists).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// let staging = client.database("shop").collection::<bson::Document>("items_staging");
    /// staging.rename("shop.items", true)?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn rename(&self, to_namespace: &str, drop_target: bool) -> Result<()> {
        let to = if to_namespace.contains('.') {
            to_namespace.to_owned()
        } else {
            format!("{}.{to_namespace}", self.db)
        };
        let mut command =
            doc! { "renameCollection": self.namespace(), "to": to, "dropTarget": drop_target };
        self.add_write_concern(&mut command, None);
        self.client.run_command("admin", command).map(drop)
    }

    /// Drops the collection; dropping one that does not exist is not an error.
    ///
    /// # Errors
    /// Server and network errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
    /// client.database("shop").collection::<bson::Document>("tmp").drop()?;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn drop(&self) -> Result<()> {
        let mut command = doc! { "drop": self.name.as_str() };
        self.add_write_concern(&mut command, None);
        match self.run(command) {
            Err(e) if e.code() == Some(26) => Ok(()), // NamespaceNotFound
            other => other.map(drop),
        }
    }
}
