//! The four ways a program can drive the same server, each with its own client:
//! greenmongo on a plain thread, greenmongo inside a runtime coroutine, the official
//! crate's async API on tokio, and the official crate's sync API.

use greenmongo::runtime::Runtime;

/// Who runs a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// greenmongo called from a plain OS thread: sockets block the thread.
    GmThread,
    /// greenmongo called from a coroutine of `greenmongo::runtime` (2 workers).
    GmCoroutine,
    /// `mongodb` async API, awaited on a tokio multi-thread runtime (2 workers).
    MongoAsync,
    /// `mongodb::sync` (the async driver behind a hidden tokio runtime).
    MongoSync,
}

impl Driver {
    pub const ALL: [Driver; 4] = [
        Driver::GmThread,
        Driver::GmCoroutine,
        Driver::MongoAsync,
        Driver::MongoSync,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Driver::GmThread => "greenmongo thread",
            Driver::GmCoroutine => "greenmongo coroutine",
            Driver::MongoAsync => "mongodb async (tokio)",
            Driver::MongoSync => "mongodb sync",
        }
    }
}

/// Every client, connected to one server. Each runtime owns the client made inside it.
pub struct Clients {
    /// Plain-thread greenmongo client; also does every set-up step (drop, create, seed).
    pub gm: greenmongo::Client,
    pub gm_rt: Runtime,
    /// Made inside `gm_rt`, so its monitors are coroutines and its sockets park.
    pub gm_co: greenmongo::Client,
    pub tokio: tokio::runtime::Runtime,
    pub mongo: mongodb::Client,
    pub mongo_sync: mongodb::sync::Client,
}

impl Clients {
    /// `io_uring`: the greenmongo runtime's streams go through io_uring.
    pub fn connect(uri: &str, io_uring: bool) -> Clients {
        let gm = greenmongo::Client::with_uri_str(uri).expect("greenmongo client");
        let gm_rt = Runtime::builder()
            .worker_threads(2)
            .io_uring(io_uring)
            .build()
            .expect("greenmongo runtime");
        let owned = uri.to_string();
        let gm_co = gm_rt
            .block_on(move || greenmongo::Client::with_uri_str(&owned))
            .expect("greenmongo client in the runtime");
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mongo = tokio
            .block_on(mongodb::Client::with_uri_str(uri))
            .expect("mongodb client");
        let mongo_sync = mongodb::sync::Client::with_uri_str(uri).expect("mongodb sync client");
        Clients {
            gm,
            gm_rt,
            gm_co,
            tokio,
            mongo,
            mongo_sync,
        }
    }
}
