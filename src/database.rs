//! A database handle.

use bson::Document;

use crate::{Client, Result};

/// A handle to one database of a [`Client`]. Cheap to clone; no I/O until used.
///
/// # Examples
///
/// ```no_run
/// use bson::doc;
///
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost")?;
/// let db = client.database("admin");
/// let reply = db.run_command(doc! { "buildInfo": 1 })?;
/// println!("server version {}", reply.get_str("version")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Database {
    client: Client,
    name: String,
}

impl Database {
    pub(crate) fn new(client: Client, name: &str) -> Database {
        Database {
            client,
            name: name.to_owned(),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this database belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs a command against this database and returns the server's reply.
    ///
    /// # Errors
    /// [`ErrorKind::Command`](crate::ErrorKind::Command) with the server's code, codeName
    /// and message when the command fails; network and authentication errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    /// use greenmongo::ErrorKind;
    ///
    /// let db = greenmongo::Client::with_uri_str("mongodb://localhost")?.database("shop");
    /// match db.run_command(doc! { "noSuchCommand": 1 }) {
    ///     Err(e) => match &*e.kind {
    ///         ErrorKind::Command(c) => println!("{} ({}): {}", c.code, c.code_name, c.message),
    ///         _ => return Err(e.into()),
    ///     },
    ///     Ok(_) => unreachable!(),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_command(&self, command: Document) -> Result<Document> {
        self.client.run_command(&self.name, command)
    }
}
