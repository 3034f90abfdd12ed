//! Read and write concerns (the Read and Write Concern spec).

use std::{fmt, time::Duration};

use crate::{Error, Result};

/// The isolation level of a read.
///
/// Unknown levels are kept as [`ReadConcernLevel::Custom`] so a newer server's levels can
/// be used without a driver update.
///
/// # Examples
///
/// ```
/// use greenmongo::options::ReadConcernLevel;
///
/// assert_eq!(ReadConcernLevel::from("majority"), ReadConcernLevel::Majority);
/// assert_eq!(ReadConcernLevel::from("future").as_str(), "future");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadConcernLevel {
    /// `local`.
    Local,
    /// `majority`.
    Majority,
    /// `linearizable`.
    Linearizable,
    /// `available`.
    Available,
    /// `snapshot`.
    Snapshot,
    /// Any other level, passed to the server as is.
    Custom(String),
}

impl ReadConcernLevel {
    /// The level's name as sent to the server.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ReadConcernLevel;
    ///
    /// assert_eq!(ReadConcernLevel::Snapshot.as_str(), "snapshot");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            ReadConcernLevel::Local => "local",
            ReadConcernLevel::Majority => "majority",
            ReadConcernLevel::Linearizable => "linearizable",
            ReadConcernLevel::Available => "available",
            ReadConcernLevel::Snapshot => "snapshot",
            ReadConcernLevel::Custom(s) => s,
        }
    }
}

impl From<&str> for ReadConcernLevel {
    /// Level names are case-sensitive, as they are on the server.
    fn from(s: &str) -> Self {
        match s {
            "local" => ReadConcernLevel::Local,
            "majority" => ReadConcernLevel::Majority,
            "linearizable" => ReadConcernLevel::Linearizable,
            "available" => ReadConcernLevel::Available,
            "snapshot" => ReadConcernLevel::Snapshot,
            other => ReadConcernLevel::Custom(other.to_owned()),
        }
    }
}

impl fmt::Display for ReadConcernLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A read concern.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{ReadConcern, ReadConcernLevel};
///
/// let rc = ReadConcern::new(ReadConcernLevel::Majority);
/// assert_eq!(rc.level.as_str(), "majority");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ReadConcern {
    /// The level.
    pub level: ReadConcernLevel,
}

impl ReadConcern {
    /// A read concern with `level`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// assert_eq!(ReadConcern::new(ReadConcernLevel::Local).level, ReadConcernLevel::Local);
    /// ```
    pub fn new(level: ReadConcernLevel) -> Self {
        ReadConcern { level }
    }

    /// `local` (the official driver's constructor name).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// assert_eq!(ReadConcern::local().level, ReadConcernLevel::Local);
    /// ```
    pub fn local() -> Self {
        ReadConcern::new(ReadConcernLevel::Local)
    }

    /// `majority`: only data a majority of the replica set has.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// assert_eq!(ReadConcern::majority().level, ReadConcernLevel::Majority);
    /// ```
    pub fn majority() -> Self {
        ReadConcern::new(ReadConcernLevel::Majority)
    }

    /// `snapshot`: one point-in-time view (transactions and snapshot sessions).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadConcern, ReadConcernLevel};
    ///
    /// assert_eq!(ReadConcern::snapshot().level, ReadConcernLevel::Snapshot);
    /// ```
    pub fn snapshot() -> Self {
        ReadConcern::new(ReadConcernLevel::Snapshot)
    }
}

/// The `w` of a write concern: how many members, or which, must acknowledge a write.
///
/// # Examples
///
/// ```
/// use greenmongo::options::Acknowledgment;
///
/// assert_eq!(Acknowledgment::from("majority"), Acknowledgment::Majority);
/// assert_eq!(Acknowledgment::from("dcTag"), Acknowledgment::Custom("dcTag".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Acknowledgment {
    /// A number of members; 0 means unacknowledged.
    Nodes(u32),
    /// `"majority"`.
    Majority,
    /// A custom write concern name (a tag set defined in the replica set config).
    Custom(String),
}

impl From<&str> for Acknowledgment {
    /// `"majority"` or a custom name; numbers are built with [`Acknowledgment::Nodes`].
    fn from(s: &str) -> Self {
        match s {
            "majority" => Acknowledgment::Majority,
            other => Acknowledgment::Custom(other.to_owned()),
        }
    }
}

/// A write concern. Every field is optional; unset fields are left to the server.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{Acknowledgment, WriteConcern};
///
/// let mut wc = WriteConcern::default();
/// wc.w = Some(Acknowledgment::Nodes(0));
/// assert!(!wc.is_acknowledged());
/// wc.journal = Some(true);
/// assert!(wc.validate().is_err()); // w: 0 cannot wait for the journal
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteConcern {
    /// `w`.
    pub w: Option<Acknowledgment>,
    /// `wtimeout`: how long the server waits for `w` before reporting an error; zero means
    /// no limit.
    pub w_timeout: Option<Duration>,
    /// `j`: whether to wait for the on-disk journal.
    pub journal: Option<bool>,
}

impl WriteConcern {
    /// `w: "majority"`: the write is acknowledged once a majority of the replica set has it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// assert_eq!(WriteConcern::majority().w, Some(Acknowledgment::Majority));
    /// ```
    pub fn majority() -> Self {
        WriteConcern {
            w: Some(Acknowledgment::Majority),
            ..Default::default()
        }
    }

    /// `w: n`: acknowledged once `n` members have the write (`0`: unacknowledged).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// assert_eq!(WriteConcern::nodes(2).w, Some(Acknowledgment::Nodes(2)));
    /// assert!(!WriteConcern::nodes(0).is_acknowledged());
    /// ```
    pub fn nodes(n: u32) -> Self {
        WriteConcern {
            w: Some(Acknowledgment::Nodes(n)),
            ..Default::default()
        }
    }

    /// `w: "<name>"`: a custom write concern defined in the replica set's configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// assert_eq!(WriteConcern::custom("twoDCs").w, Some(Acknowledgment::Custom("twoDCs".into())));
    /// ```
    pub fn custom(name: impl Into<String>) -> Self {
        WriteConcern {
            w: Some(Acknowledgment::Custom(name.into())),
            ..Default::default()
        }
    }

    /// Whether the server acknowledges writes: false only for `w: 0` without `j: true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::WriteConcern;
    ///
    /// assert!(WriteConcern::default().is_acknowledged());
    /// ```
    pub fn is_acknowledged(&self) -> bool {
        self.w != Some(Acknowledgment::Nodes(0)) || self.journal == Some(true)
    }

    /// Checks that `w: 0` is not combined with `j: true`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{Acknowledgment, WriteConcern};
    ///
    /// let mut wc = WriteConcern::default();
    /// wc.w = Some(Acknowledgment::Majority);
    /// wc.journal = Some(true);
    /// assert!(wc.validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.w == Some(Acknowledgment::Nodes(0)) && self.journal == Some(true) {
            return Err(Error::invalid_argument(
                "write concern w: 0 cannot be combined with journal: true",
            ));
        }
        Ok(())
    }
}

impl ReadConcern {
    /// The `readConcern` document of a command.
    pub(crate) fn to_document(&self) -> bson::Document {
        bson::doc! { "level": self.level.as_str() }
    }
}

impl WriteConcern {
    /// The `writeConcern` document of a command (empty fields left out).
    pub(crate) fn to_document(&self) -> bson::Document {
        let mut doc = bson::Document::new();
        match &self.w {
            Some(Acknowledgment::Nodes(n)) => {
                doc.insert("w", i64::from(*n));
            }
            Some(Acknowledgment::Majority) => {
                doc.insert("w", "majority");
            }
            Some(Acknowledgment::Custom(tag)) => {
                doc.insert("w", tag.as_str());
            }
            None => {}
        }
        if let Some(j) = self.journal {
            doc.insert("j", j);
        }
        if let Some(t) = self.w_timeout {
            doc.insert("wtimeout", i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
        }
        doc
    }
}

/// A `writeConcern` document as commands and the unified test format spell it: `w` (a
/// number or a name), `j`, `wtimeout` (or `wtimeoutMS`) in milliseconds.
impl<'de> serde::Deserialize<'de> for WriteConcern {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let doc = bson::Document::deserialize(deserializer)?;
        let number = |v: &bson::Bson| match v {
            bson::Bson::Int32(n) => Some(i64::from(*n)),
            bson::Bson::Int64(n) => Some(*n),
            bson::Bson::Double(n) if n.fract() == 0.0 => Some(*n as i64),
            _ => None,
        };
        let mut wc = WriteConcern::default();
        for (key, value) in &doc {
            match key.as_str() {
                "w" => {
                    wc.w = Some(match value {
                        bson::Bson::String(s) => Acknowledgment::from(s.as_str()),
                        v => Acknowledgment::Nodes(
                            number(v)
                                .and_then(|n| u32::try_from(n).ok())
                                .ok_or_else(|| D::Error::custom(format!("invalid w: {v}")))?,
                        ),
                    })
                }
                "j" | "journal" => {
                    wc.journal = Some(
                        value
                            .as_bool()
                            .ok_or_else(|| D::Error::custom(format!("invalid j: {value}")))?,
                    )
                }
                "wtimeout" | "wtimeoutMS" => {
                    let ms = number(value)
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| D::Error::custom(format!("invalid wtimeout: {value}")))?;
                    wc.w_timeout = Some(Duration::from_millis(ms));
                }
                other => {
                    return Err(D::Error::custom(format!(
                        "unknown write concern field {other}"
                    )));
                }
            }
        }
        Ok(wc)
    }
}
