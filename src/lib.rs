#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use greenmongo_runtime as runtime;

pub mod auth;
mod client;
mod client_bulk_write;
mod collection;
mod conn;
mod cursor;
mod database;
mod dns;
pub mod error;
pub mod event;
mod operation;
pub mod options;
pub mod pool;
pub mod results;
mod retry;
pub mod sdam;
pub mod selection;
mod session;
mod srv;
mod topology;
pub mod uri;
pub mod wire;

pub use client::Client;
pub use client_bulk_write::{
    ClientBulkWriteFailure, ClientBulkWriteOptions, ClientBulkWriteResult, ClientDeleteResult,
    ClientInsertResult, ClientUpdateResult, ClientWriteModel,
};
pub use collection::{
    BulkWriteOptions, BulkWriteResult, Collection, UpdateModifications, WriteModel,
    WriteModelOptions,
};
pub use cursor::Cursor;
pub use database::Database;
pub use error::{CommandError, Error, ErrorKind, Result};
pub use options::ClientOptions;
