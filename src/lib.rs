#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use bson;
pub use greenmongo_runtime as runtime;

pub mod action;
pub mod auth;
mod bson_util;
pub mod change_stream;
mod client;
mod collection;
mod conn;
mod cursor;
mod database;
mod dns;
pub mod error;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod gridfs;
mod namespace;
mod nesting;
mod operation;
pub mod options;
pub mod pool;
pub mod results;
mod retry;
pub mod sdam;
pub mod selection;
mod session;
mod timeout;
mod topology;
pub mod uri;
pub mod wire;

pub use client::Client;
pub use collection::Collection;
pub use cursor::{Cursor, SessionCursor, SessionCursorIter};
pub use database::Database;
pub use error::{CommandError, Error, ErrorKind, Result};
pub use namespace::Namespace;
pub use nesting::MAX_DOCUMENT_DEPTH;
pub use options::{ClientOptions, UpdateModifications};
pub use session::{ClientSession, TransactionState};

/// `docs/porting.md`, compiled with the doc tests so its greenmongo examples stay true.
#[cfg(doctest)]
#[doc = include_str!("../docs/porting.md")]
pub struct PortingGuide;
