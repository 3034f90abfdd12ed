#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use greenmongo_runtime as runtime;

pub mod auth;
mod client;
mod conn;
mod database;
pub mod error;
pub mod options;
pub mod pool;
pub mod uri;
pub mod wire;

pub use client::Client;
pub use database::Database;
pub use error::{CommandError, Error, ErrorKind, Result};
pub use options::ClientOptions;
