//! Authentication credentials and their per-mechanism rules (the Driver Authentication spec,
//! "MongoCredential Properties").

use std::{fmt, str::FromStr};

use bson::{Bson, Document};

use crate::{Error, Result};

/// The authentication source of the mechanisms whose users live outside MongoDB.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{AuthMechanism, EXTERNAL_SOURCE};
///
/// assert_eq!(AuthMechanism::MongoDbX509.default_source(Some("app")), EXTERNAL_SOURCE);
/// ```
pub const EXTERNAL_SOURCE: &str = "$external";

/// A mechanism the driver can authenticate with.
///
/// # Examples
///
/// ```
/// use greenmongo::options::AuthMechanism;
///
/// let m: AuthMechanism = "SCRAM-SHA-256".parse()?;
/// assert_eq!(m, AuthMechanism::ScramSha256);
/// assert_eq!(m.as_str(), "SCRAM-SHA-256");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `MONGODB-X509`: the client certificate's subject is the user.
    MongoDbX509,
    /// `GSSAPI` (Kerberos).
    Gssapi,
    /// `PLAIN` (LDAP).
    Plain,
    /// `MONGODB-AWS`: AWS IAM credentials, taken from the environment.
    MongoDbAws,
    /// `MONGODB-OIDC`: an OpenID Connect access token.
    MongoDbOidc,
}

impl AuthMechanism {
    /// The mechanism's name as the server and connection strings spell it.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::AuthMechanism;
    ///
    /// assert_eq!(AuthMechanism::MongoDbX509.as_str(), "MONGODB-X509");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMechanism::ScramSha1 => "SCRAM-SHA-1",
            AuthMechanism::ScramSha256 => "SCRAM-SHA-256",
            AuthMechanism::MongoDbX509 => "MONGODB-X509",
            AuthMechanism::Gssapi => "GSSAPI",
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::MongoDbAws => "MONGODB-AWS",
            AuthMechanism::MongoDbOidc => "MONGODB-OIDC",
        }
    }

    /// The source used when none is given: `$external` for the external mechanisms, else the
    /// connection string's database or, failing that, `admin` (`$external` for PLAIN).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::AuthMechanism;
    ///
    /// assert_eq!(AuthMechanism::ScramSha256.default_source(Some("app")), "app");
    /// assert_eq!(AuthMechanism::ScramSha256.default_source(None), "admin");
    /// assert_eq!(AuthMechanism::Gssapi.default_source(Some("app")), "$external");
    /// ```
    pub fn default_source(self, database: Option<&str>) -> &str {
        match self {
            AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256 => database.unwrap_or("admin"),
            AuthMechanism::Plain => database.unwrap_or(EXTERNAL_SOURCE),
            AuthMechanism::MongoDbX509
            | AuthMechanism::Gssapi
            | AuthMechanism::MongoDbAws
            | AuthMechanism::MongoDbOidc => EXTERNAL_SOURCE,
        }
    }

    /// The default mechanism given the `saslSupportedMechs` of a `hello` reply: SCRAM-SHA-256
    /// if listed, otherwise SCRAM-SHA-1 (also when the field is absent).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::AuthMechanism;
    ///
    /// let mechs = ["SCRAM-SHA-1", "SCRAM-SHA-256"];
    /// assert_eq!(AuthMechanism::negotiate(Some(&mechs)), AuthMechanism::ScramSha256);
    /// assert_eq!(AuthMechanism::negotiate(Some(&["PLAIN"])), AuthMechanism::ScramSha1);
    /// assert_eq!(AuthMechanism::negotiate(None::<&[&str]>), AuthMechanism::ScramSha1);
    /// ```
    pub fn negotiate<S: AsRef<str>>(sasl_supported_mechs: Option<&[S]>) -> AuthMechanism {
        let has_256 =
            sasl_supported_mechs.is_some_and(|m| m.iter().any(|m| m.as_ref() == "SCRAM-SHA-256"));
        if has_256 {
            AuthMechanism::ScramSha256
        } else {
            AuthMechanism::ScramSha1
        }
    }

    const ALL: [AuthMechanism; 7] = [
        AuthMechanism::ScramSha1,
        AuthMechanism::ScramSha256,
        AuthMechanism::MongoDbX509,
        AuthMechanism::Gssapi,
        AuthMechanism::Plain,
        AuthMechanism::MongoDbAws,
        AuthMechanism::MongoDbOidc,
    ];
}

impl FromStr for AuthMechanism {
    type Err = Error;

    /// Parses a mechanism name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        AuthMechanism::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid_argument(format!("unsupported authentication mechanism \"{s}\""))
            })
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who the client authenticates as.
///
/// `Debug` never shows the password or an AWS session token.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{AuthMechanism, Credential};
///
/// let mut cred = Credential::default();
/// cred.username = Some("alice".into());
/// cred.password = Some("hunter2".into());
/// cred.mechanism = Some(AuthMechanism::ScramSha256);
/// cred.validate()?;
/// assert!(!format!("{cred:?}").contains("hunter2"));
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Credential {
    /// The user name.
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// The database to authenticate against. The connection string parser fills in the
    /// mechanism's default (see [`AuthMechanism::default_source`]); `None` here means the
    /// same default.
    pub source: Option<String>,
    /// The mechanism; `None` negotiates SCRAM-SHA-256 or SCRAM-SHA-1 with the server.
    pub mechanism: Option<AuthMechanism>,
    /// Mechanism properties with upper-case names (e.g. `SERVICE_NAME` for GSSAPI).
    ///
    /// In a connection string (`authMechanismProperties=KEY:value,KEY:value`) a value may
    /// contain colons (`TOKEN_RESOURCE:api://x`) but **must not contain a comma**, even
    /// percent-encoded: the comma separates the pairs. Such a value (a `TOKEN_RESOURCE`
    /// URL with a comma, say) goes here instead; the parser ignores the option with a
    /// warning.
    pub mechanism_properties: Option<Document>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Credential");
        d.field("username", &self.username);
        match self.password {
            Some(_) => d.field("password", &"***"),
            None => d.field("password", &None::<()>),
        };
        d.field("source", &self.source)
            .field("mechanism", &self.mechanism);
        match &self.mechanism_properties {
            Some(props) if props.contains_key(AWS_SESSION_TOKEN) => {
                let mut shown = props.clone();
                shown.insert(AWS_SESSION_TOKEN, "***");
                d.field("mechanism_properties", &Some(shown))
            }
            props => d.field("mechanism_properties", props),
        };
        d.finish()
    }
}

const SERVICE_NAME: &str = "SERVICE_NAME";
const CANONICALIZE_HOST_NAME: &str = "CANONICALIZE_HOST_NAME";
const SERVICE_REALM: &str = "SERVICE_REALM";
const SERVICE_HOST: &str = "SERVICE_HOST";
const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
const ENVIRONMENT: &str = "ENVIRONMENT";
const TOKEN_RESOURCE: &str = "TOKEN_RESOURCE";
const ALLOWED_HOSTS: &str = "ALLOWED_HOSTS";

/// The GSSAPI service name used when `SERVICE_NAME` is not given.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::DEFAULT_GSSAPI_SERVICE_NAME, ClientOptions};
///
/// let opts = ClientOptions::parse("mongodb://user%40EXAMPLE.COM@db1/?authMechanism=GSSAPI")?;
/// let props = opts.credential.unwrap().mechanism_properties.unwrap();
/// assert_eq!(props.get_str("SERVICE_NAME")?, DEFAULT_GSSAPI_SERVICE_NAME);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_GSSAPI_SERVICE_NAME: &str = "mongodb";

impl Credential {
    /// Fills in what the auth spec defaults: the source (from `database` where the mechanism
    /// uses it) and, for GSSAPI, `SERVICE_NAME`.
    pub(crate) fn apply_defaults(&mut self, database: Option<&str>) {
        if self.source.is_none() {
            let source = match self.mechanism {
                Some(m) => m.default_source(database),
                // Negotiation picks a SCRAM mechanism, which defaults like this.
                None => database.unwrap_or("admin"),
            };
            self.source = Some(source.to_owned());
        }
        if self.mechanism == Some(AuthMechanism::Gssapi) {
            let props = self.mechanism_properties.get_or_insert_with(Document::new);
            if !props.contains_key(SERVICE_NAME) {
                props.insert(SERVICE_NAME, DEFAULT_GSSAPI_SERVICE_NAME);
            }
        }
    }

    /// Checks the credential against its mechanism's rules in the auth spec: required and
    /// forbidden username/password, the allowed sources, and the allowed mechanism
    /// properties and their values.
    ///
    /// MONGODB-AWS takes no username, password or properties: following DRIVERS-3131, AWS
    /// credentials (which expire) are read from the environment when authenticating.
    ///
    /// MONGODB-OIDC needs `ENVIRONMENT` (one of `test`, `azure`, `gcp`, `k8s`): the driver
    /// has no callback API yet, so a built-in environment is the only way to get a token.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the broken rule.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::{AuthMechanism, Credential};
    ///
    /// let mut cred = Credential::default();
    /// cred.mechanism = Some(AuthMechanism::MongoDbX509);
    /// cred.validate()?; // X.509 needs no username
    ///
    /// cred.password = Some("secret".into());
    /// assert!(cred.validate().is_err()); // ...and takes no password
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.check(true)
    }

    /// [`validate`](Self::validate) for a credential whose connection string gave
    /// `authMechanismProperties` that could not be read (a comma inside a value), so were
    /// ignored with a warning: what only the properties decide (MONGODB-OIDC's
    /// `ENVIRONMENT` and the rules that follow from it) is left to the program, which sets
    /// them before creating the client, where [`validate`](Self::validate) runs again.
    pub(crate) fn validate_before_properties(&self) -> Result<()> {
        self.check(false)
    }

    /// The rules; `properties_known` false skips those that depend on which properties
    /// are given.
    fn check(&self, properties_known: bool) -> Result<()> {
        let name = self
            .mechanism
            .map_or("the default mechanism", AuthMechanism::as_str);
        let fail = |why: &str| Err(Error::invalid_argument(format!("{name}: {why}")));
        let props = self.mechanism_properties.as_ref();
        let has_props = props.is_some_and(|p| !p.is_empty());
        let has_username = self.username.as_deref().is_some_and(|u| !u.is_empty());
        let external_only = || match self.source.as_deref() {
            None | Some(EXTERNAL_SOURCE) => Ok(()),
            Some(other) => fail(&format!("the source must be $external, not \"{other}\"")),
        };
        let allowed_props = |allowed: &[&str]| {
            for key in props.into_iter().flat_map(Document::keys) {
                if !allowed.contains(&key.as_str()) {
                    return fail(&format!("unsupported mechanism property \"{key}\""));
                }
            }
            Ok(())
        };

        match self.mechanism {
            None | Some(AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256) => {
                if !has_username {
                    return fail("a username is required");
                }
                // Negotiation happens with whatever the user gave; an explicit SCRAM
                // mechanism states its requirements up front.
                if self.mechanism.is_some() && self.password.is_none() {
                    return fail("a password is required");
                }
                if has_props {
                    return fail("mechanism properties are not allowed");
                }
            }
            Some(AuthMechanism::Plain) => {
                if !has_username {
                    return fail("a username is required");
                }
                if self.password.is_none() {
                    return fail("a password is required");
                }
                if has_props {
                    return fail("mechanism properties are not allowed");
                }
            }
            Some(AuthMechanism::MongoDbX509) => {
                if self.password.is_some() {
                    return fail("a password is not allowed");
                }
                if has_props {
                    return fail("mechanism properties are not allowed");
                }
                external_only()?;
            }
            Some(AuthMechanism::Gssapi) => {
                if !has_username {
                    return fail("a username is required");
                }
                external_only()?;
                allowed_props(&[
                    SERVICE_NAME,
                    CANONICALIZE_HOST_NAME,
                    SERVICE_REALM,
                    SERVICE_HOST,
                ])?;
                match props.and_then(|p| p.get(CANONICALIZE_HOST_NAME)) {
                    None | Some(Bson::Boolean(_)) => {}
                    Some(Bson::String(s))
                        if ["none", "forward", "forwardAndReverse", "true", "false"]
                            .contains(&s.as_str()) => {}
                    Some(other) => {
                        return fail(&format!(
                            "CANONICALIZE_HOST_NAME must be none, forward or forwardAndReverse, \
                             not {other}"
                        ));
                    }
                }
            }
            Some(AuthMechanism::MongoDbAws) => {
                // DRIVERS-3131: AWS credentials expire, so they come from the environment
                // (variables, ECS/EC2 endpoints, web identity), never from the client.
                if self.username.is_some() || self.password.is_some() {
                    return fail(
                        "a username and password are not allowed; AWS credentials are read \
                         from the environment",
                    );
                }
                if has_props {
                    return fail(
                        "mechanism properties (such as AWS_SESSION_TOKEN) are not allowed; AWS \
                         credentials are read from the environment",
                    );
                }
                external_only()?;
            }
            Some(AuthMechanism::MongoDbOidc) => {
                if self.password.is_some() {
                    return fail("a password is not allowed");
                }
                external_only()?;
                allowed_props(&[ENVIRONMENT, TOKEN_RESOURCE, ALLOWED_HOSTS])?;
                let environment = props.and_then(|p| p.get(ENVIRONMENT));
                if environment.is_none() && !properties_known {
                    return Ok(());
                }
                let has_resource = props.is_some_and(|p| p.contains_key(TOKEN_RESOURCE));
                match environment.and_then(Bson::as_str) {
                    None => return fail("the ENVIRONMENT mechanism property is required"),
                    Some("azure" | "gcp") if !has_resource => {
                        return fail("TOKEN_RESOURCE is required with ENVIRONMENT azure or gcp");
                    }
                    Some("azure" | "gcp") => {}
                    Some(env @ ("test" | "k8s")) => {
                        if has_resource {
                            return fail("TOKEN_RESOURCE is only allowed with azure or gcp");
                        }
                        if env == "test" && self.username.is_some() {
                            return fail("a username is not allowed with ENVIRONMENT test");
                        }
                    }
                    Some(other) => {
                        return fail(&format!(
                            "unsupported ENVIRONMENT \"{other}\" (expected test, azure, gcp or k8s)"
                        ));
                    }
                }
                if props
                    .and_then(|p| p.get(ALLOWED_HOSTS))
                    .is_some_and(|hosts| hosts.as_array().is_none())
                {
                    return fail("ALLOWED_HOSTS must be an array of host names");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn cred(mechanism: Option<AuthMechanism>) -> Credential {
        Credential {
            mechanism,
            ..Credential::default()
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let mut c = cred(Some(AuthMechanism::MongoDbAws));
        c.username = Some("AKIA".into());
        c.password = Some("s3cr3t".into());
        c.mechanism_properties = Some(doc! { "AWS_SESSION_TOKEN": "t0k3n" });
        let shown = format!("{c:?}");
        assert!(shown.contains("password: \"***\""), "{shown}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
        assert!(shown.contains("AKIA"));
    }

    #[test]
    fn defaults_follow_the_mechanism() {
        let mut c = cred(None);
        c.apply_defaults(Some("app"));
        assert_eq!(c.source.as_deref(), Some("app"));

        let mut c = cred(Some(AuthMechanism::Gssapi));
        c.apply_defaults(Some("app"));
        assert_eq!(c.source.as_deref(), Some("$external"));
        assert_eq!(
            c.mechanism_properties,
            Some(doc! { "SERVICE_NAME": "mongodb" })
        );
    }

    #[test]
    fn oidc_rules() {
        let with = |props: Document, user: Option<&str>| Credential {
            mechanism: Some(AuthMechanism::MongoDbOidc),
            username: user.map(Into::into),
            mechanism_properties: Some(props),
            ..Credential::default()
        };
        assert!(
            with(doc! { "ENVIRONMENT": "test" }, None)
                .validate()
                .is_ok()
        );
        assert!(
            with(doc! { "ENVIRONMENT": "test" }, Some("u"))
                .validate()
                .is_err()
        );
        assert!(
            with(doc! { "ENVIRONMENT": "azure" }, Some("u"))
                .validate()
                .is_err()
        );
        assert!(
            with(
                doc! { "ENVIRONMENT": "azure", "TOKEN_RESOURCE": "r" },
                Some("u")
            )
            .validate()
            .is_ok()
        );
        assert!(
            with(doc! { "ENVIRONMENT": "k8s", "TOKEN_RESOURCE": "r" }, None)
                .validate()
                .is_err()
        );
        assert!(
            with(doc! { "ENVIRONMENT": "mars" }, None)
                .validate()
                .is_err()
        );
        assert!(with(doc! {}, None).validate().is_err());
    }

    #[test]
    fn aws_takes_credentials_from_the_environment_only() {
        let mut c = cred(Some(AuthMechanism::MongoDbAws));
        assert!(c.validate().is_ok());
        c.username = Some("id".into());
        c.password = Some("key".into());
        assert!(c.validate().is_err());
        let mut c = cred(Some(AuthMechanism::MongoDbAws));
        c.mechanism_properties = Some(doc! { "AWS_SESSION_TOKEN": "t" });
        assert!(c.validate().is_err());
    }
}
