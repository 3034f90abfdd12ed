//! Read preferences (the Server Selection spec, "Read preference").

use std::{collections::BTreeMap, fmt, str::FromStr, time::Duration};

use crate::{Error, Result};

/// Which members of a replica set a read may go to.
///
/// # Examples
///
/// ```
/// use greenmongo::options::ReadPreferenceMode;
///
/// let mode: ReadPreferenceMode = "secondaryPreferred".parse()?;
/// assert_eq!(mode, ReadPreferenceMode::SecondaryPreferred);
/// assert_eq!(mode.to_string(), "secondaryPreferred");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadPreferenceMode {
    /// Only the primary.
    #[default]
    Primary,
    /// The primary if there is one, else a secondary.
    PrimaryPreferred,
    /// Only secondaries.
    Secondary,
    /// A secondary if there is one, else the primary.
    SecondaryPreferred,
    /// Any member within the latency window.
    Nearest,
}

impl ReadPreferenceMode {
    /// The mode's name in camelCase, as connection strings and commands spell it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ReadPreferenceMode;
    ///
    /// assert_eq!(ReadPreferenceMode::PrimaryPreferred.as_str(), "primaryPreferred");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ReadPreferenceMode::Primary => "primary",
            ReadPreferenceMode::PrimaryPreferred => "primaryPreferred",
            ReadPreferenceMode::Secondary => "secondary",
            ReadPreferenceMode::SecondaryPreferred => "secondaryPreferred",
            ReadPreferenceMode::Nearest => "nearest",
        }
    }
}

impl FromStr for ReadPreferenceMode {
    type Err = Error;

    /// Parses a mode name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        [
            ReadPreferenceMode::Primary,
            ReadPreferenceMode::PrimaryPreferred,
            ReadPreferenceMode::Secondary,
            ReadPreferenceMode::SecondaryPreferred,
            ReadPreferenceMode::Nearest,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| Error::invalid_argument(format!("unknown read preference mode \"{s}\"")))
    }
}

impl fmt::Display for ReadPreferenceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tag set: a server matches when it carries every tag in it. The empty set matches
/// every server.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{ReadPreference, ReadPreferenceMode, TagSet};
///
/// let east = TagSet::from([("dc".to_string(), "east".to_string())]);
/// let mut pref = ReadPreference::new(ReadPreferenceMode::Secondary);
/// pref.tag_sets = vec![east, TagSet::new()]; // east if possible, else any secondary
/// assert!(pref.validate().is_ok());
/// ```
pub type TagSet = BTreeMap<String, String>;

/// A read preference: a mode, tag sets tried in order, and a staleness bound.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{ReadPreference, ReadPreferenceMode, TagSet};
///
/// let mut pref = ReadPreference::new(ReadPreferenceMode::Nearest);
/// pref.tag_sets.push(TagSet::from([("dc".to_string(), "ny".to_string())]));
/// pref.validate()?;
///
/// let mut primary = ReadPreference::primary();
/// primary.tag_sets = pref.tag_sets.clone();
/// assert!(primary.validate().is_err()); // tags make no sense for the primary
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadPreference {
    /// The mode.
    pub mode: ReadPreferenceMode,
    /// Tag sets, in order of preference; empty means no tag filtering.
    pub tag_sets: Vec<TagSet>,
    /// How far behind the primary a secondary may be (`maxStalenessSeconds`); `None` for no
    /// bound. The max-staleness spec's lower limits (90 s, heartbeat + idle write period)
    /// depend on the topology and are checked at server selection.
    pub max_staleness: Option<Duration>,
}

impl ReadPreference {
    /// A read preference with `mode`, no tags and no staleness bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
    ///
    /// assert_eq!(ReadPreference::new(ReadPreferenceMode::Secondary).mode.as_str(), "secondary");
    /// ```
    pub fn new(mode: ReadPreferenceMode) -> Self {
        ReadPreference {
            mode,
            tag_sets: Vec::new(),
            max_staleness: None,
        }
    }

    /// The default read preference: the primary only.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadPreference, ReadPreferenceMode};
    ///
    /// assert_eq!(ReadPreference::primary().mode, ReadPreferenceMode::Primary);
    /// ```
    pub fn primary() -> Self {
        ReadPreference::new(ReadPreferenceMode::Primary)
    }

    /// Checks that mode `primary` comes with neither (non-empty) tag sets nor a staleness bound.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when it does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::options::ReadPreference;
    ///
    /// let mut pref = ReadPreference::primary();
    /// pref.max_staleness = Some(Duration::from_secs(120));
    /// assert!(pref.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.mode == ReadPreferenceMode::Primary {
            if self.tag_sets.iter().any(|set| !set.is_empty()) {
                return Err(Error::invalid_argument(
                    "read preference mode primary cannot be combined with tag sets",
                ));
            }
            if self.max_staleness.is_some() {
                return Err(Error::invalid_argument(
                    "read preference mode primary cannot be combined with maxStalenessSeconds",
                ));
            }
        }
        Ok(())
    }
}

/// Which server an operation may run on (the official driver's name for an operation's
/// read preference option).
///
/// # Examples
///
/// ```
/// use greenmongo::options::{FindOptions, ReadPreference, ReadPreferenceMode, SelectionCriteria};
///
/// let secondary = ReadPreference::new(ReadPreferenceMode::Secondary);
/// let options = FindOptions::builder().selection_criteria(secondary.clone()).build();
/// assert_eq!(options.selection_criteria, Some(SelectionCriteria::ReadPreference(secondary)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectionCriteria {
    /// Servers as a read preference picks them.
    ReadPreference(ReadPreference),
}

impl SelectionCriteria {
    /// The read preference these criteria stand for.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ReadPreference, SelectionCriteria};
    ///
    /// let criteria = SelectionCriteria::from(ReadPreference::primary());
    /// assert_eq!(criteria.as_read_pref(), Some(&ReadPreference::primary()));
    /// ```
    pub fn as_read_pref(&self) -> Option<&ReadPreference> {
        match self {
            SelectionCriteria::ReadPreference(pref) => Some(pref),
        }
    }
}

impl From<ReadPreference> for SelectionCriteria {
    fn from(pref: ReadPreference) -> Self {
        SelectionCriteria::ReadPreference(pref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_ignore_case() {
        assert_eq!(
            "NEAREST".parse::<ReadPreferenceMode>().unwrap(),
            ReadPreferenceMode::Nearest
        );
        assert!("closest".parse::<ReadPreferenceMode>().is_err());
    }

    #[test]
    fn primary_allows_an_empty_tag_set() {
        let mut pref = ReadPreference::primary();
        pref.tag_sets.push(TagSet::new());
        assert!(pref.validate().is_ok());
    }
}
