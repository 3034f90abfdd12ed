//! `database.collection`: where an operation or a bulk write model writes.

use std::{fmt, str::FromStr};

use crate::{Error, Result};

/// A collection's full name: its database and its name.
///
/// # Examples
///
/// ```
/// use greenmongo::Namespace;
///
/// let ns: Namespace = "shop.items.archive".parse()?; // the first dot splits
/// assert_eq!((ns.db.as_str(), ns.coll.as_str()), ("shop", "items.archive"));
/// assert_eq!(ns.to_string(), "shop.items.archive");
/// assert!("no-dot".parse::<Namespace>().is_err());
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Namespace {
    /// The database.
    pub db: String,
    /// The collection.
    pub coll: String,
}

impl Namespace {
    /// The namespace `db.coll`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::Namespace;
    ///
    /// assert_eq!(Namespace::new("shop", "items").to_string(), "shop.items");
    /// ```
    pub fn new(db: &str, coll: &str) -> Namespace {
        Namespace {
            db: db.to_owned(),
            coll: coll.to_owned(),
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db, self.coll)
    }
}

impl FromStr for Namespace {
    type Err = Error;

    /// Splits `"db.collection"` at its first dot; both parts must be non-empty.
    fn from_str(s: &str) -> Result<Namespace> {
        match s.split_once('.') {
            Some((db, coll)) if !db.is_empty() && !coll.is_empty() => Ok(Namespace::new(db, coll)),
            _ => Err(Error::invalid_argument(format!(
                "namespace {s:?} is not \"database.collection\""
            ))),
        }
    }
}
