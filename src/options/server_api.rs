//! The Stable API (the versioned-api spec, "Stable API For Drivers"): the API version a
//! client declares, sent with every command it runs.
//!
//! A [`ServerApi`] goes in [`ClientOptions::server_api`](crate::ClientOptions::server_api)
//! and nowhere else: the spec forbids a connection-string option (a copied URI must not
//! change the API an application was written against) and forbids overriding it per
//! database, collection or operation. The connection adds `apiVersion` (and `apiStrict`,
//! `apiDeprecationErrors` when set) to each command it sends, the handshake's `hello`,
//! `getMore` and every command of a transaction included.

use std::{fmt, str::FromStr};

use bson::{Document, RawDocumentBuf, raw::cstr};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, Result};

/// A Stable API version the driver knows.
///
/// `#[non_exhaustive]`: a later API version is added without a breaking change, so a
/// `match` needs a wildcard arm.
///
/// # Examples
///
/// ```
/// use greenmongo::options::ServerApiVersion;
///
/// assert_eq!("1".parse::<ServerApiVersion>()?, ServerApiVersion::V1);
/// assert_eq!(ServerApiVersion::V1.to_string(), "1");
/// assert!("2".parse::<ServerApiVersion>().is_err()); // unknown versions are refused
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum ServerApiVersion {
    /// API version 1 (MongoDB 5.0 and later), sent as `apiVersion: "1"`.
    #[serde(rename = "1")]
    V1,
}

impl ServerApiVersion {
    /// The version as the `apiVersion` command field spells it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ServerApiVersion;
    ///
    /// assert_eq!(ServerApiVersion::V1.as_str(), "1");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ServerApiVersion::V1 => "1",
        }
    }
}

impl FromStr for ServerApiVersion {
    type Err = Error;

    /// Parses a version string; the spec requires an unknown version to be a client-side
    /// error rather than something the server gets to refuse.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "1" => Ok(ServerApiVersion::V1),
            _ => Err(Error::invalid_argument(format!(
                "unknown server API version \"{s}\" (greenmongo knows \"1\")"
            ))),
        }
    }
}

impl fmt::Display for ServerApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ServerApiVersion {
    /// Deserializes from the version string (`"1"`), refusing unknown versions.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The Stable API a client declares: its version, and whether the server should refuse
/// what is outside it (`strict`) or deprecated in it (`deprecation_errors`).
///
/// Set it in [`ClientOptions::server_api`](crate::ClientOptions::server_api); every
/// command the client sends then carries `apiVersion`, plus `apiStrict` and
/// `apiDeprecationErrors` when they are `Some` (even `Some(false)`, the server's default:
/// the spec sends what the user said). Unset flags are not sent.
///
/// A command given to [`Database::run_command`](crate::Database::run_command) that already
/// holds `apiVersion`, `apiStrict` or `apiDeprecationErrors` is sent as written, without
/// the client's: the spec leaves declaring both undefined, and merging them would send a
/// field twice. To run commands under another API version (or none), use another client.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::{ServerApi, ServerApiVersion}, ClientOptions};
///
/// let mut options = ClientOptions::parse("mongodb://localhost:27017")?;
/// options.server_api = Some(ServerApi::builder().version(ServerApiVersion::V1).strict(true).build());
/// let api = options.server_api.as_ref().unwrap();
/// assert_eq!((api.version, api.strict, api.deprecation_errors), (ServerApiVersion::V1, Some(true), None));
/// // let client = greenmongo::Client::with_options(options)?;
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerApi {
    /// The declared API version (`apiVersion`).
    #[serde(rename = "apiVersion")]
    pub version: ServerApiVersion,
    /// `apiStrict`: the server refuses commands, options and aggregation stages that are
    /// not part of the declared version. `None`: not sent (the server's default, false).
    #[serde(rename = "apiStrict", skip_serializing_if = "Option::is_none", default)]
    pub strict: Option<bool>,
    /// `apiDeprecationErrors`: the server refuses what the declared version deprecates.
    /// `None`: not sent (the server's default, false).
    #[serde(
        rename = "apiDeprecationErrors",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub deprecation_errors: Option<bool>,
}

impl ServerApi {
    /// Starts a builder; [`version`](ServerApiBuilder::version) must be called before
    /// [`build`](ServerApiBuilder::build) (as in the official driver, a missing version
    /// is a compile error, not a runtime one).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ServerApi, ServerApiVersion};
    ///
    /// let api = ServerApi::builder()
    ///     .version(ServerApiVersion::V1)
    ///     .deprecation_errors(true)
    ///     .build();
    /// assert_eq!(api.deprecation_errors, Some(true));
    /// assert_eq!(api.strict, None);
    /// ```
    pub fn builder() -> ServerApiBuilder<()> {
        ServerApiBuilder {
            version: (),
            strict: None,
            deprecation_errors: None,
        }
    }

    /// The command fields this API adds to a command, in the order they are sent:
    /// `apiVersion`, then `apiStrict` and `apiDeprecationErrors` if set.
    pub(crate) fn command_fields(&self) -> RawDocumentBuf {
        let mut fields = RawDocumentBuf::new();
        fields.append(cstr!("apiVersion"), self.version.as_str());
        if let Some(strict) = self.strict {
            fields.append(cstr!("apiStrict"), strict);
        }
        if let Some(deprecation_errors) = self.deprecation_errors {
            fields.append(cstr!("apiDeprecationErrors"), deprecation_errors);
        }
        fields
    }

    /// Whether `command` declares an API of its own (a `run_command` document), in which
    /// case the client's is not added.
    pub(crate) fn declared_by(command: &Document) -> bool {
        ["apiVersion", "apiStrict", "apiDeprecationErrors"]
            .iter()
            .any(|key| command.contains_key(key))
    }
}

/// Builds a [`ServerApi`]; `V` is `()` until [`version`](Self::version) is given, and
/// only then does [`build`](ServerApiBuilder::build) exist.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{ServerApi, ServerApiVersion};
///
/// // Setters in any order; `strict` and `deprecation_errors` take a bool or an Option.
/// let api = ServerApi::builder().strict(None).deprecation_errors(false).version(ServerApiVersion::V1).build();
/// assert_eq!((api.strict, api.deprecation_errors), (None, Some(false)));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ServerApiBuilder<V> {
    version: V,
    strict: Option<bool>,
    deprecation_errors: Option<bool>,
}

impl ServerApiBuilder<()> {
    /// Sets [`ServerApi::version`] (required).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ServerApi, ServerApiVersion};
    ///
    /// assert_eq!(ServerApi::builder().version(ServerApiVersion::V1).build().version, ServerApiVersion::V1);
    /// ```
    pub fn version(
        self,
        version: impl Into<ServerApiVersion>,
    ) -> ServerApiBuilder<ServerApiVersion> {
        ServerApiBuilder {
            version: version.into(),
            strict: self.strict,
            deprecation_errors: self.deprecation_errors,
        }
    }
}

impl<V> ServerApiBuilder<V> {
    /// Sets [`ServerApi::strict`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ServerApi, ServerApiVersion};
    ///
    /// let api = ServerApi::builder().version(ServerApiVersion::V1).strict(true).build();
    /// assert_eq!(api.strict, Some(true));
    /// ```
    pub fn strict(mut self, strict: impl Into<Option<bool>>) -> Self {
        self.strict = strict.into();
        self
    }

    /// Sets [`ServerApi::deprecation_errors`].
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ServerApi, ServerApiVersion};
    ///
    /// let api = ServerApi::builder().version(ServerApiVersion::V1).deprecation_errors(true).build();
    /// assert_eq!(api.deprecation_errors, Some(true));
    /// ```
    pub fn deprecation_errors(mut self, deprecation_errors: impl Into<Option<bool>>) -> Self {
        self.deprecation_errors = deprecation_errors.into();
        self
    }
}

impl ServerApiBuilder<ServerApiVersion> {
    /// The [`ServerApi`], ready for
    /// [`ClientOptions::server_api`](crate::ClientOptions::server_api).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{ServerApi, ServerApiVersion};
    ///
    /// let api = ServerApi::builder().version(ServerApiVersion::V1).build();
    /// assert_eq!((api.strict, api.deprecation_errors), (None, None));
    /// ```
    pub fn build(self) -> ServerApi {
        ServerApi {
            version: self.version,
            strict: self.strict,
            deprecation_errors: self.deprecation_errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use bson::{doc, rawdoc};

    use super::*;

    #[test]
    fn only_the_flags_the_user_set_are_sent() {
        let plain = ServerApi::builder().version(ServerApiVersion::V1).build();
        assert_eq!(plain.command_fields(), rawdoc! { "apiVersion": "1" });
        let both = ServerApi::builder()
            .version(ServerApiVersion::V1)
            .strict(false)
            .deprecation_errors(true)
            .build();
        assert_eq!(
            both.command_fields(),
            rawdoc! { "apiVersion": "1", "apiStrict": false, "apiDeprecationErrors": true }
        );
    }

    #[test]
    fn a_command_with_its_own_api_fields_is_recognised() {
        assert!(ServerApi::declared_by(
            &doc! { "ping": 1, "apiStrict": true }
        ));
        assert!(ServerApi::declared_by(
            &doc! { "ping": 1, "apiVersion": "2" }
        ));
        assert!(!ServerApi::declared_by(&doc! { "ping": 1 }));
    }

    #[test]
    fn serde_uses_the_command_field_names_and_refuses_unknown_versions() {
        let api = ServerApi::builder()
            .version(ServerApiVersion::V1)
            .strict(true)
            .build();
        let bson = bson::serialize_to_document(&api).unwrap();
        assert_eq!(bson, doc! { "apiVersion": "1", "apiStrict": true });
        let back: ServerApi = bson::deserialize_from_document(bson).unwrap();
        assert_eq!(back, api);
        let unknown = bson::deserialize_from_document::<ServerApi>(doc! { "apiVersion": "2" });
        assert!(unknown.is_err());
    }
}
