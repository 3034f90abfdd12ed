//! Collation: language-aware string comparison rules for a query, an index or a
//! collection (MongoDB's `collation` document), typed as the official driver types it.

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};

/// String comparison rules: `locale` and how strictly it compares.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{Collation, CollationStrength};
///
/// // Case- and accent-insensitive French: "élodie" matches "Elodie".
/// let french = Collation::builder().locale("fr").strength(CollationStrength::Primary).build();
/// assert_eq!(bson::Bson::from(french), bson::Bson::Document(bson::doc! { "locale": "fr", "strength": 1 }));
/// // items.find(doc! { "name": "élodie" }).collation(french).run()?
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Collation {
    /// The ICU locale, e.g. `"fr"`, `"en_US"`, or `"simple"` for binary comparison.
    pub locale: String,
    /// How many levels of difference count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strength: Option<CollationStrength>,
    /// Compare case at strength 1 or 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_level: Option<bool>,
    /// Whether upper or lower case sorts first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_first: Option<CollationCaseFirst>,
    /// Compare digit runs as numbers (`"10" > "9"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_ordering: Option<bool>,
    /// Whether spaces and punctuation are base characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternate: Option<CollationAlternate>,
    /// With `alternate: shifted`, which characters are ignorable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_variable: Option<CollationMaxVariable>,
    /// Normalize text (for languages that need it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalization: Option<bool>,
    /// Compare secondary differences (accents) from the end of the string (French).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backwards: Option<bool>,
}

impl Collation {
    /// A collation to build with setters, ending in [`build`](Collation::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::Collation;
    ///
    /// let numeric = Collation::builder().locale("en").numeric_ordering(true).build();
    /// assert_eq!(numeric.numeric_ordering, Some(true));
    /// ```
    pub fn builder() -> Collation {
        Collation::default()
    }

    /// Sets [`locale`](Collation::locale).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::Collation;
    ///
    /// assert_eq!(Collation::builder().locale("de").build().locale, "de");
    /// ```
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = locale.into();
        self
    }

    /// The collation, ready to pass (the end of a builder chain).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::Collation;
    ///
    /// let simple = Collation::builder().locale("simple").build();
    /// assert_eq!(simple.locale, "simple");
    /// ```
    pub fn build(self) -> Self {
        self
    }
}

macro_rules! collation_setters {
    ($($field:ident: $ty:ty),* $(,)?) => {
        impl Collation {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Collation::", stringify!($field), ").")]
                ///
                /// # Examples
                ///
                #[doc = concat!(
                    "```\n",
                    "use greenmongo::options::*;\n\n",
                    "fn with_", stringify!($field), "(value: ", stringify!($ty), ") -> Collation {\n",
                    "    let collation = Collation::builder().locale(\"en\").", stringify!($field), "(value).build();\n",
                    "    assert!(collation.", stringify!($field), ".is_some());\n",
                    "    collation\n",
                    "}\n",
                    "```",
                )]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = Some(value);
                    self
                }
            )*
        }
    };
}

collation_setters!(
    strength: CollationStrength,
    case_level: bool,
    case_first: CollationCaseFirst,
    numeric_ordering: bool,
    alternate: CollationAlternate,
    max_variable: CollationMaxVariable,
    normalization: bool,
    backwards: bool,
);

impl From<Collation> for Bson {
    /// The `collation` document the server takes.
    fn from(collation: Collation) -> Bson {
        Bson::Document(Document::from(collation))
    }
}

impl From<Collation> for Document {
    fn from(collation: Collation) -> Document {
        // Only strings, booleans and small integers: serialization cannot fail.
        bson::serialize_to_document(&collation).unwrap_or_default()
    }
}

/// How many levels of difference a [`Collation`] compares (sent as 1 to 5).
///
/// # Examples
///
/// ```
/// use greenmongo::options::{Collation, CollationStrength};
///
/// let accents_matter = Collation::builder().locale("fr").strength(CollationStrength::Secondary).build();
/// assert_eq!(bson::Document::from(accents_matter).get_i32("strength")?, 2);
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollationStrength {
    /// Base characters only: `a` = `á` = `A`.
    Primary,
    /// Accents too: `a` = `A`, `a` ≠ `á`.
    Secondary,
    /// Case too (the default).
    Tertiary,
    /// Punctuation too, with `alternate: shifted`.
    Quaternary,
    /// Every difference.
    Identical,
}

impl CollationStrength {
    fn level(self) -> i32 {
        match self {
            CollationStrength::Primary => 1,
            CollationStrength::Secondary => 2,
            CollationStrength::Tertiary => 3,
            CollationStrength::Quaternary => 4,
            CollationStrength::Identical => 5,
        }
    }
}

impl Serialize for CollationStrength {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(self.level())
    }
}

impl<'de> Deserialize<'de> for CollationStrength {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let level = match Bson::deserialize(deserializer)? {
            Bson::Int32(n) => i64::from(n),
            Bson::Int64(n) => n,
            Bson::Double(n) if n.fract() == 0.0 => n as i64,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "collation strength must be 1 to 5, not {other}"
                )));
            }
        };
        [
            CollationStrength::Primary,
            CollationStrength::Secondary,
            CollationStrength::Tertiary,
            CollationStrength::Quaternary,
            CollationStrength::Identical,
        ]
        .into_iter()
        .find(|s| i64::from(s.level()) == level)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("collation strength must be 1 to 5, not {level}"))
        })
    }
}

/// Whether upper or lower case sorts first in a [`Collation`].
///
/// # Examples
///
/// ```
/// use greenmongo::options::{Collation, CollationCaseFirst};
///
/// let upper_first = Collation::builder().locale("en").case_first(CollationCaseFirst::Upper).build();
/// assert_eq!(bson::Document::from(upper_first).get_str("caseFirst")?, "upper");
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CollationCaseFirst {
    /// Upper case first.
    Upper,
    /// Lower case first.
    Lower,
    /// The locale's default.
    Off,
}

/// Whether spaces and punctuation count in a [`Collation`].
///
/// # Examples
///
/// ```
/// use greenmongo::options::{Collation, CollationAlternate};
///
/// let ignore_punctuation = Collation::builder().locale("en").alternate(CollationAlternate::Shifted).build();
/// assert_eq!(bson::Document::from(ignore_punctuation).get_str("alternate")?, "shifted");
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CollationAlternate {
    /// They are base characters (the default).
    #[serde(rename = "non-ignorable")]
    NonIgnorable,
    /// They are ignorable (see [`CollationMaxVariable`]).
    #[serde(rename = "shifted")]
    Shifted,
}

/// With `alternate: shifted`, which characters a [`Collation`] ignores.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{Collation, CollationAlternate, CollationMaxVariable};
///
/// let spaces_only = Collation::builder()
///     .locale("en")
///     .alternate(CollationAlternate::Shifted)
///     .max_variable(CollationMaxVariable::Space)
///     .build();
/// assert_eq!(bson::Document::from(spaces_only).get_str("maxVariable")?, "space");
/// # Ok::<(), bson::error::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CollationMaxVariable {
    /// Spaces and punctuation.
    Punct,
    /// Spaces only.
    Space,
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn a_collation_round_trips_through_its_document() {
        let document = doc! {
            "locale": "fr", "strength": 2, "caseLevel": true, "caseFirst": "off",
            "numericOrdering": true, "alternate": "non-ignorable", "maxVariable": "punct",
            "normalization": false, "backwards": true,
        };
        let collation: Collation = bson::deserialize_from_document(document.clone()).unwrap();
        assert_eq!(collation.strength, Some(CollationStrength::Secondary));
        assert_eq!(Document::from(collation), document);
        assert!(
            bson::deserialize_from_document::<Collation>(doc! { "locale": "fr", "strength": 9 })
                .is_err()
        );
        assert!(
            bson::deserialize_from_document::<Collation>(doc! { "locale": "fr", "colour": 1 })
                .is_err()
        );
    }
}
