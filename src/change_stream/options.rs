//! [`ChangeStreamOptions`] (the change-streams spec's), re-exported from
//! [`crate::options`].

use std::time::Duration;

use bson::{Bson, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::event::ResumeToken;
use crate::options::{Collation, ReadConcern, SelectionCriteria};

/// What `fullDocument` of update events holds (the `$changeStream` stage's
/// `fullDocument`).
///
/// # Examples
///
/// ```
/// use greenmongo::options::FullDocumentType;
///
/// assert_eq!(FullDocumentType::UpdateLookup.as_str(), "updateLookup");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FullDocumentType {
    /// Updates carry only the delta (`updateDescription`).
    Default,
    /// Updates also carry the document as it is some time after the update.
    UpdateLookup,
    /// The post-image of the change, when the collection records them
    /// (`changeStreamPreAndPostImages`).
    WhenAvailable,
    /// The post-image of the change, or an error when there is none.
    Required,
    /// Any other value, sent as is (the server decides).
    Other(String),
}

impl FullDocumentType {
    /// The value as the server spells it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::FullDocumentType;
    ///
    /// assert_eq!(FullDocumentType::WhenAvailable.as_str(), "whenAvailable");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            FullDocumentType::Default => "default",
            FullDocumentType::UpdateLookup => "updateLookup",
            FullDocumentType::WhenAvailable => "whenAvailable",
            FullDocumentType::Required => "required",
            FullDocumentType::Other(s) => s,
        }
    }
}

impl From<&str> for FullDocumentType {
    fn from(s: &str) -> Self {
        match s {
            "default" => FullDocumentType::Default,
            "updateLookup" => FullDocumentType::UpdateLookup,
            "whenAvailable" => FullDocumentType::WhenAvailable,
            "required" => FullDocumentType::Required,
            other => FullDocumentType::Other(other.to_owned()),
        }
    }
}

/// Whether events carry the document as it was before the change (the `$changeStream`
/// stage's `fullDocumentBeforeChange`; needs `changeStreamPreAndPostImages` on the
/// collection).
///
/// # Examples
///
/// ```
/// use greenmongo::options::FullDocumentBeforeChangeType;
///
/// assert_eq!(FullDocumentBeforeChangeType::from("required"), FullDocumentBeforeChangeType::Required);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FullDocumentBeforeChangeType {
    /// The pre-image when there is one, else `null`.
    WhenAvailable,
    /// The pre-image, or an error when there is none.
    Required,
    /// No pre-image (the server's default).
    Off,
    /// Any other value, sent as is (the server decides).
    Other(String),
}

impl FullDocumentBeforeChangeType {
    /// The value as the server spells it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::FullDocumentBeforeChangeType;
    ///
    /// assert_eq!(FullDocumentBeforeChangeType::Off.as_str(), "off");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            FullDocumentBeforeChangeType::WhenAvailable => "whenAvailable",
            FullDocumentBeforeChangeType::Required => "required",
            FullDocumentBeforeChangeType::Off => "off",
            FullDocumentBeforeChangeType::Other(s) => s,
        }
    }
}

impl From<&str> for FullDocumentBeforeChangeType {
    fn from(s: &str) -> Self {
        match s {
            "whenAvailable" => FullDocumentBeforeChangeType::WhenAvailable,
            "required" => FullDocumentBeforeChangeType::Required,
            "off" => FullDocumentBeforeChangeType::Off,
            other => FullDocumentBeforeChangeType::Other(other.to_owned()),
        }
    }
}

macro_rules! string_serde {
    ($($ty:ident),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok($ty::from(String::deserialize(deserializer)?.as_str()))
            }
        }
    )*};
}
string_serde!(FullDocumentType, FullDocumentBeforeChangeType);

/// Options of a change stream ([`Collection::watch`](crate::Collection::watch),
/// [`Database::watch`](crate::Database::watch), [`Client::watch`](crate::Client::watch)).
///
/// The `$changeStream` stage takes `full_document`, `full_document_before_change`,
/// `resume_after`, `start_after`, `start_at_operation_time` and `show_expanded_events`;
/// the `aggregate` takes `batch_size`, `collation`, `comment` (repeated on each
/// `getMore` from MongoDB 4.4 on) and `read_concern` (change streams need `majority`
/// or none); `max_await_time` is each `getMore`'s `maxTimeMS`; `selection_criteria`
/// picks the server, again on every resume. `resume_after`, `start_after` and
/// `start_at_operation_time` are mutually exclusive: the server says so if more than one
/// is set.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::options::{ChangeStreamOptions, FullDocumentType};
///
/// let options = ChangeStreamOptions::builder()
///     .full_document(FullDocumentType::UpdateLookup)
///     .max_await_time(Duration::from_millis(500))
///     .build();
/// assert_eq!(options.batch_size, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ChangeStreamOptions {
    /// What update events carry in `fullDocument`.
    pub full_document: Option<FullDocumentType>,
    /// Whether events carry the document before the change.
    pub full_document_before_change: Option<FullDocumentBeforeChangeType>,
    /// Start after this event (its token), failing if the server no longer has it.
    pub resume_after: Option<ResumeToken>,
    /// Start after this event, even an `invalidate` (to watch a collection dropped or
    /// renamed and created again).
    pub start_after: Option<ResumeToken>,
    /// Start with the changes at or after this cluster time.
    pub start_at_operation_time: Option<Timestamp>,
    /// How long each `getMore` waits for a change before returning an empty batch (the
    /// server's default is one second).
    pub max_await_time: Option<Duration>,
    /// Events per batch.
    pub batch_size: Option<u32>,
    /// String comparison rules for the pipeline's stages.
    pub collation: Option<Collation>,
    /// A comment for the server's logs and profiler.
    pub comment: Option<Bson>,
    /// Also report DDL events: `create`, `createIndexes`, `dropIndexes`, `modify`,
    /// `shardCollection`... (MongoDB 6.0+).
    pub show_expanded_events: Option<bool>,
    /// Read concern (default: the handle's).
    pub read_concern: Option<ReadConcern>,
    /// Where the stream runs, and where it resumes (default: the handle's read
    /// preference).
    pub selection_criteria: Option<SelectionCriteria>,
}

/// `builder()`, one setter per field and `build()`, as the other options structs have.
macro_rules! builder {
    ($($field:ident: $ty:ty),* $(,)?) => {
        impl ChangeStreamOptions {
            /// Default options, to chain setters on (as the official driver's builders).
            ///
            /// # Examples
            ///
            /// ```
            /// use greenmongo::options::ChangeStreamOptions;
            ///
            /// assert_eq!(ChangeStreamOptions::builder().build(), ChangeStreamOptions::default());
            /// ```
            pub fn builder() -> Self {
                Self::default()
            }

            /// The options, ready to pass (the end of a builder chain).
            ///
            /// # Examples
            ///
            /// ```
            /// use greenmongo::options::ChangeStreamOptions;
            ///
            /// let options = ChangeStreamOptions::builder().batch_size(10u32).build();
            /// assert_eq!(options.batch_size, Some(10));
            /// ```
            pub fn build(self) -> Self {
                self
            }

            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                ///
                /// # Examples
                ///
                #[doc = concat!(
                    "```\n",
                    "# use bson::{Bson, Timestamp};\n",
                    "# use std::time::Duration;\n",
                    "use greenmongo::{change_stream::event::ResumeToken, options::*};\n\n",
                    "fn with_", stringify!($field), "(value: ", stringify!($ty), ") -> ChangeStreamOptions {\n",
                    "    let options = ChangeStreamOptions::builder().", stringify!($field), "(value).build();\n",
                    "    assert!(options.", stringify!($field), ".is_some());\n",
                    "    options\n",
                    "}\n",
                    "```",
                )]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}

builder!(
    full_document: FullDocumentType,
    full_document_before_change: FullDocumentBeforeChangeType,
    resume_after: ResumeToken,
    start_after: ResumeToken,
    start_at_operation_time: Timestamp,
    max_await_time: Duration,
    batch_size: u32,
    collation: Collation,
    comment: Bson,
    show_expanded_events: bool,
    read_concern: ReadConcern,
    selection_criteria: SelectionCriteria,
);
