//! greenmongo: a MongoDB driver in plain blocking style, run on stackful coroutines.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use greenmongo_runtime as runtime;

pub mod auth;
pub mod error;
pub mod wire;

pub use error::{Error, ErrorKind, Result};
