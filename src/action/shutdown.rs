//! `Client::shutdown`.

use std::time::Duration;

use crate::{Client, runtime::time::sleep};

/// How often a graceful shutdown looks again for operations still in flight.
const POLL: Duration = Duration::from_millis(10);

impl Client {
    /// Shuts the client down: closes its connection pools and stops its server monitors
    /// now, rather than when the last clone is dropped. Operations after it, through any
    /// clone, fail with a server selection error saying the client was shut down.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost:27017")?;
    /// client.list_database_names().run()?;
    /// client.shutdown().run();
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn shutdown(self) -> Shutdown {
        Shutdown {
            client: self,
            immediate: false,
        }
    }
}

/// A shutdown, made by [`Client::shutdown`]; ends in [`run`](Shutdown::run).
///
/// By default it first waits until no operation is in flight: no connection checked out
/// of any pool and no checkout waiting (a cursor between batches holds none, so it is not
/// waited for; its next `getMore` fails). `.immediate(true)` closes at once, interrupting
/// operations in flight.
///
/// # Examples
///
/// ```no_run
/// let client = greenmongo::Client::with_uri_str("mongodb://localhost:27017")?;
/// client.shutdown().immediate(true).run();
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[must_use = "an action does nothing until `.run()`"]
#[derive(Debug)]
pub struct Shutdown {
    client: Client,
    immediate: bool,
}

impl Shutdown {
    /// Close without waiting for operations in flight (default `false`: wait).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost:27017")?;
    /// let worker = client.clone(); // e.g. still used by a coroutine
    /// client.shutdown().immediate(true).run(); // its operations now fail
    /// # let _ = worker;
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn immediate(mut self, immediate: bool) -> Self {
        self.immediate = immediate;
        self
    }

    /// Shuts down: waits (parking the coroutine, or blocking the thread) until no
    /// operation is in flight unless `immediate`, tells the server the idle sessions
    /// are over (`endSessions`, at most a second), then closes the pools and monitors.
    /// Inside `runtime::time::with_timeout`, the wait ends at the deadline.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use bson::doc;
    ///
    /// let client = greenmongo::Client::with_uri_str("mongodb://localhost:27017")?;
    /// let handle = client.clone();
    /// client.shutdown().run();
    /// assert!(handle.database("admin").run_command(doc! { "ping": 1 }).run().is_err());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn run(self) {
        if !self.immediate {
            while self.client.operations_in_flight() > 0 {
                // A deadline (`with_timeout`) around the shutdown ends the wait early.
                if sleep(POLL).is_err() {
                    break;
                }
            }
            self.client.end_pooled_sessions();
        }
        self.client.close();
    }
}
