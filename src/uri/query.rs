//! The options part of a connection string: each key's type and range from the URI Options
//! spec, warnings for what must be ignored, and errors for the combinations the specs
//! forbid.

use std::{collections::HashSet, time::Duration};

use bson::Document;

use super::{UserInfo, percent_decode};
use crate::{
    Error, Result,
    options::{
        Acknowledgment, AuthMechanism, ClientOptions, Compressor, Credential, ProxyOptions,
        ReadConcern, ReadConcernLevel, ReadPreference, ReadPreferenceMode, ServerMonitoringMode,
        TagSet, WriteConcern,
    },
};

/// Every key the parser knows, lower-cased.
pub(super) const KNOWN_KEYS: &[&str] = &[
    "appname",
    "authmechanism",
    "authmechanismproperties",
    "authsource",
    "compressors",
    "connecttimeoutms",
    "directconnection",
    "enableoverloadretargeting",
    "heartbeatfrequencyms",
    "journal",
    "loadbalanced",
    "localthresholdms",
    "maxadaptiveretries",
    "maxconnecting",
    "maxidletimems",
    "maxpoolsize",
    "maxstalenessseconds",
    "minpoolsize",
    "proxyhost",
    "proxypassword",
    "proxyport",
    "proxyusername",
    "readconcernlevel",
    "readpreference",
    "readpreferencetags",
    "replicaset",
    "retryreads",
    "retrywrites",
    "servermonitoringmode",
    "serverselectiontimeoutms",
    "serverselectiontryonce",
    "sockettimeoutms",
    "srvmaxhosts",
    "srvservicename",
    "ssl",
    "timeoutms",
    "tls",
    "tlsallowinvalidcertificates",
    "tlsallowinvalidhostnames",
    "tlscafile",
    "tlscertificatekeyfile",
    "tlscertificatekeyfilepassword",
    "tlsdisablecertificaterevocationcheck",
    "tlsdisableocspendpointcheck",
    "tlsinsecure",
    "w",
    "waitqueuetimeoutms",
    "wtimeout",
    "wtimeoutms",
    "zlibcompressionlevel",
];

/// Keys whose values are never repeated back in a warning.
const SECRET_KEYS: &[&str] = &[
    "authmechanismproperties",
    "proxypassword",
    "tlscertificatekeyfilepassword",
];

/// Pairs of options that must not both appear (URI Options spec, "Conflicting TLS options").
const TLS_CONFLICTS: &[(&str, &str)] = &[
    ("tlsinsecure", "tlsallowinvalidcertificates"),
    ("tlsinsecure", "tlsallowinvalidhostnames"),
    ("tlsinsecure", "tlsdisableocspendpointcheck"),
    ("tlsinsecure", "tlsdisablecertificaterevocationcheck"),
    ("tlsallowinvalidcertificates", "tlsdisableocspendpointcheck"),
    (
        "tlsallowinvalidcertificates",
        "tlsdisablecertificaterevocationcheck",
    ),
    (
        "tlsdisableocspendpointcheck",
        "tlsdisablecertificaterevocationcheck",
    ),
];

/// Why a value was rejected; it becomes a warning.
type Invalid = String;

/// Options read so far, for those that are assembled from several keys.
#[derive(Default)]
struct Collected {
    /// Lower-cased keys seen, valid or not.
    seen: HashSet<String>,
    warnings: Vec<String>,
    /// Every valid value of `tls` and `ssl`, in order.
    tls_values: Vec<bool>,
    tls_insecure: Option<bool>,
    auth_source: Option<String>,
    mechanism: Option<AuthMechanism>,
    mechanism_properties: Option<Document>,
    /// `authMechanismProperties` was given but could not be read (a comma in a value).
    mechanism_properties_unreadable: bool,
    mode: Option<ReadPreferenceMode>,
    tag_sets: Vec<TagSet>,
    max_staleness: Option<Duration>,
    w: Option<Acknowledgment>,
    w_timeout: Option<Duration>,
    deprecated_w_timeout: Option<Duration>,
    journal: Option<bool>,
    proxy_host: Option<String>,
    proxy_port: Option<u16>,
    proxy_username: Option<String>,
    proxy_password: Option<String>,
}

/// Reads `query` into `options` and checks the result.
pub(super) fn apply(
    mut options: ClientOptions,
    user_info: Option<UserInfo>,
    query: &str,
    is_srv: bool,
) -> Result<ClientOptions> {
    let mut c = Collected::default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Error::invalid_argument(format!(
                "connection string option \"{pair}\" has no value (expected key=value)"
            )));
        };
        let key = percent_decode(key, "an option name")?;
        let lower = key.to_ascii_lowercase();
        if !KNOWN_KEYS.contains(&lower.as_str()) {
            c.warnings
                .push(format!("unsupported option \"{key}\" ignored"));
            continue;
        }
        let value = percent_decode(value, &format!("the value of {key}"))?;
        if !c.seen.insert(lower.clone()) {
            match lower.as_str() {
                // A list: each instance is one more tag set.
                "readpreferencetags" => {}
                // Every instance must agree; checked below.
                "tls" | "ssl" => {}
                // The SOCKS5 spec makes duplicates an error.
                k if k.starts_with("proxy") => {
                    return Err(Error::invalid_argument(format!(
                        "option {key} is given more than once"
                    )));
                }
                _ => c.warnings.push(format!(
                    "option {key} is given more than once; the last valid value is used"
                )),
            }
        }
        if let Err(why) = set(&mut options, &mut c, &lower, &value)? {
            let shown = if SECRET_KEYS.contains(&lower.as_str()) {
                "***"
            } else {
                &value
            };
            c.warnings.push(format!(
                "invalid value \"{shown}\" for {key} ignored: {why}"
            ));
        }
    }
    finish(options, c, user_info, is_srv)
}

/// Applies one option. The outer `Result` is a hard error; the inner one an invalid value.
fn set(
    o: &mut ClientOptions,
    c: &mut Collected,
    key: &str,
    v: &str,
) -> Result<std::result::Result<(), Invalid>> {
    let ok = Ok(Ok(()));
    let r = match key {
        "appname" => non_empty(v).and_then(|v| {
            if v.len() > 128 {
                Err("the handshake spec limits appname to 128 bytes".into())
            } else {
                o.app_name = Some(v.to_owned());
                Ok(())
            }
        }),
        "authmechanism" => {
            c.mechanism = Some(v.parse()?);
            return ok;
        }
        "authmechanismproperties" => match key_value_pairs(v) {
            Ok(props) => {
                let mut doc = Document::new();
                for (k, val) in props {
                    // Property names ignore case (auth spec, "Naming").
                    let k = k.to_ascii_uppercase();
                    if k == "ALLOWED_HOSTS" {
                        return Err(Error::invalid_argument(
                            "ALLOWED_HOSTS cannot be given in a connection string",
                        ));
                    }
                    doc.insert(k, val);
                }
                c.mechanism_properties = Some(doc);
                Ok(())
            }
            Err(why) => {
                c.mechanism_properties_unreadable = true;
                Err(format!(
                    "{why}; give such a value in ClientOptions::credential (mechanism_properties)"
                ))
            }
        },
        "authsource" => {
            if v.is_empty() {
                return Err(Error::invalid_argument("authSource must not be empty"));
            }
            c.auth_source = Some(v.to_owned());
            Ok(())
        }
        "compressors" => non_empty(v).map(|v| {
            let mut list = Vec::new();
            for name in v.split(',') {
                match name.parse::<Compressor>() {
                    Ok(comp) if !list.contains(&comp) => list.push(comp),
                    Ok(_) => {}
                    Err(_) => c
                        .warnings
                        .push(format!("unsupported compressor \"{name}\" ignored")),
                }
            }
            o.compressors = (!list.is_empty()).then_some(list);
        }),
        "connecttimeoutms" => millis(v, 0).map(|d| o.connect_timeout = Some(d)),
        "directconnection" => boolean(v).map(|b| o.direct_connection = Some(b)),
        "enableoverloadretargeting" => boolean(v).map(|b| o.enable_overload_retargeting = Some(b)),
        "heartbeatfrequencyms" => millis(v, 500).map(|d| o.heartbeat_frequency = Some(d)),
        "journal" => boolean(v).map(|b| c.journal = Some(b)),
        "loadbalanced" => boolean(v).map(|b| o.load_balanced = Some(b)),
        "localthresholdms" => millis(v, 0).map(|d| o.local_threshold = Some(d)),
        "maxadaptiveretries" => count(v, 0).map(|n| o.max_adaptive_retries = Some(n)),
        "maxconnecting" => count(v, 1).map(|n| o.max_connecting = Some(n)),
        "maxidletimems" => millis(v, 0).map(|d| o.max_idle_time = Some(d)),
        "maxpoolsize" => count(v, 0).map(|n| o.max_pool_size = Some(n)),
        "maxstalenessseconds" => integer(v, -1, i32::MAX.into()).map(|n| {
            // -1 means "no maximum".
            c.max_staleness = u64::try_from(n).ok().map(Duration::from_secs);
        }),
        "minpoolsize" => count(v, 0).map(|n| o.min_pool_size = Some(n)),
        "proxyhost" => non_empty(v).map(|v| c.proxy_host = Some(v.to_owned())),
        "proxyport" => integer(v, 0, u16::MAX.into()).map(|n| c.proxy_port = u16::try_from(n).ok()),
        "proxyusername" => non_empty(v).map(|v| c.proxy_username = Some(v.to_owned())),
        "proxypassword" => non_empty(v).map(|v| c.proxy_password = Some(v.to_owned())),
        "readconcernlevel" => non_empty(v).map(|v| {
            o.read_concern = Some(ReadConcern::new(ReadConcernLevel::from(v)));
        }),
        "readpreference" => v
            .parse::<ReadPreferenceMode>()
            .map(|m| c.mode = Some(m))
            .map_err(|_| {
                "expected primary, primaryPreferred, secondary, secondaryPreferred or nearest"
                    .into()
            }),
        "readpreferencetags" => key_value_pairs(v).map(|tags| {
            c.tag_sets.push(tags.into_iter().collect());
        }),
        "replicaset" => non_empty(v).map(|v| o.repl_set_name = Some(v.to_owned())),
        "retryreads" => boolean(v).map(|b| o.retry_reads = Some(b)),
        "retrywrites" => boolean(v).map(|b| o.retry_writes = Some(b)),
        "servermonitoringmode" => v
            .parse::<ServerMonitoringMode>()
            .map(|m| o.server_monitoring_mode = Some(m))
            .map_err(|_| "expected stream, poll or auto".into()),
        "serverselectiontimeoutms" => millis(v, 1).map(|d| o.server_selection_timeout = Some(d)),
        "serverselectiontryonce" => boolean(v).map(|b| o.server_selection_try_once = Some(b)),
        "sockettimeoutms" => millis(v, 0).map(|d| o.socket_timeout = Some(d)),
        "srvmaxhosts" => count(v, 0).map(|n| o.srv_max_hosts = Some(n)),
        "srvservicename" => service_name(v).map(|v| o.srv_service_name = Some(v.to_owned())),
        "ssl" | "tls" => boolean(v).map(|b| c.tls_values.push(b)),
        "timeoutms" => millis(v, 0).map(|d| o.timeout = Some(d)),
        "tlsallowinvalidcertificates" => {
            boolean(v).map(|b| o.tls.allow_invalid_certificates = Some(b))
        }
        "tlsallowinvalidhostnames" => boolean(v).map(|b| o.tls.allow_invalid_hostnames = Some(b)),
        "tlscafile" => non_empty(v).map(|v| o.tls.ca_file = Some(v.into())),
        "tlscertificatekeyfile" => non_empty(v).map(|v| o.tls.cert_key_file = Some(v.into())),
        "tlscertificatekeyfilepassword" => {
            non_empty(v).map(|v| o.tls.cert_key_file_password = Some(v.to_owned()))
        }
        "tlsdisablecertificaterevocationcheck" => {
            boolean(v).map(|b| o.tls.disable_certificate_revocation_check = Some(b))
        }
        "tlsdisableocspendpointcheck" => {
            boolean(v).map(|b| o.tls.disable_ocsp_endpoint_check = Some(b))
        }
        "tlsinsecure" => boolean(v).map(|b| c.tls_insecure = Some(b)),
        "w" => write_acknowledgment(v).map(|w| c.w = Some(w)),
        "waitqueuetimeoutms" => millis(v, 1).map(|d| o.wait_queue_timeout = Some(d)),
        "wtimeout" => {
            c.warnings
                .push("option wtimeout is deprecated; use wTimeoutMS".into());
            integer(v, 0, i64::MAX).map(|n| c.deprecated_w_timeout = Some(ms(n)))
        }
        "wtimeoutms" => integer(v, 0, i64::MAX).map(|n| c.w_timeout = Some(ms(n))),
        "zlibcompressionlevel" => integer(v, -1, 9).map(|n| {
            o.zlib_compression_level = i32::try_from(n).ok();
        }),
        _ => unreachable!("{key} is in KNOWN_KEYS but has no parser"),
    };
    Ok(r)
}

/// Cross-option rules, then the assembled credential, read preference, write concern and
/// proxy, then [`ClientOptions::validate`].
fn finish(
    mut o: ClientOptions,
    mut c: Collected,
    user_info: Option<UserInfo>,
    is_srv: bool,
) -> Result<ClientOptions> {
    for (a, b) in TLS_CONFLICTS {
        if c.seen.contains(*a) && c.seen.contains(*b) {
            return Err(Error::invalid_argument(format!(
                "options {a} and {b} cannot both be given"
            )));
        }
    }
    if let Some(&first) = c.tls_values.first() {
        if c.tls_values.iter().any(|&b| b != first) {
            return Err(Error::invalid_argument(
                "tls and ssl are given with different values",
            ));
        }
        o.tls.enabled = Some(first);
    } else if is_srv {
        // The Initial DNS Seedlist Discovery spec: mongodb+srv implies TLS.
        o.tls.enabled = Some(true);
    }
    if let Some(insecure) = c.tls_insecure {
        o.tls.set_insecure(insecure);
    }
    if o.tls.enabled == Some(false) {
        let mut others = o.tls.clone();
        others.enabled = None;
        if others.is_enabled() {
            c.warnings
                .push("tls=false: the other tls options have no effect".into());
        }
    }

    // The properties the connection string meant are unknown: the program sets them.
    let properties_pending = c.mechanism_properties_unreadable && c.mechanism_properties.is_none();
    if c.mechanism.is_some() || user_info.is_some() {
        let (username, password) = user_info.unzip();
        let mut credential = Credential {
            username,
            password: password.flatten(),
            source: c.auth_source.take(),
            mechanism: c.mechanism,
            mechanism_properties: c.mechanism_properties.take(),
        };
        // For SRV a TXT record may still supply authSource; defaults wait until then.
        if !is_srv || credential.source.is_some() {
            credential.apply_defaults(o.default_database.as_deref());
        }
        o.credential = Some(credential);
    } else if c.mechanism_properties.is_some() {
        c.warnings
            .push("authMechanismProperties ignored: no credentials or authMechanism given".into());
    }

    if c.mode.is_some() || !c.tag_sets.is_empty() || c.max_staleness.is_some() {
        let mut pref = ReadPreference::new(c.mode.unwrap_or_default());
        pref.tag_sets = c.tag_sets;
        pref.max_staleness = c.max_staleness;
        o.read_preference = Some(pref);
    }

    if c.deprecated_w_timeout.is_some() && c.seen.contains("wtimeoutms") {
        c.warnings
            .push("option wtimeout ignored because wTimeoutMS is given".into());
    }
    // A deprecated key never applies when its replacement is present, even if invalid.
    let w_timeout = if c.seen.contains("wtimeoutms") {
        c.w_timeout
    } else {
        c.deprecated_w_timeout
    };
    if c.w.is_some() || w_timeout.is_some() || c.journal.is_some() {
        let wc = WriteConcern {
            w: c.w,
            w_timeout,
            journal: c.journal,
        };
        o.write_concern = Some(wc);
    }

    match c.proxy_host {
        Some(host) => {
            let mut proxy = ProxyOptions::new(host);
            proxy.port = c.proxy_port;
            proxy.username = c.proxy_username;
            proxy.password = c.proxy_password;
            o.proxy = Some(proxy);
        }
        None if c.seen.iter().any(|k| k.starts_with("proxy")) => {
            return Err(Error::invalid_argument(
                "proxyPort, proxyUsername and proxyPassword need proxyHost",
            ));
        }
        None => {}
    }

    o.warnings = c.warnings;
    match o.credential.take() {
        Some(credential) if properties_pending => {
            credential.validate_before_properties()?;
            o.validate()?;
            if let Err(incomplete) = credential.validate() {
                o.warnings.push(format!(
                    "the credential is incomplete until its mechanism properties are set in \
                     ClientOptions::credential: {incomplete}"
                ));
            }
            o.credential = Some(credential);
        }
        credential => {
            o.credential = credential;
            o.validate()?;
        }
    }
    Ok(o)
}

fn non_empty(v: &str) -> std::result::Result<&str, Invalid> {
    if v.is_empty() {
        Err("empty value".into())
    } else {
        Ok(v)
    }
}

fn boolean(v: &str) -> std::result::Result<bool, Invalid> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn integer(v: &str, min: i64, max: i64) -> std::result::Result<i64, Invalid> {
    let n: i64 = non_empty(v)?
        .parse()
        .map_err(|_| "not an integer".to_string())?;
    if n < min {
        return Err(format!("must be at least {min}"));
    }
    if n > max {
        return Err(format!("must be at most {max}"));
    }
    Ok(n)
}

/// A 32-bit count at least `min`.
fn count(v: &str, min: i64) -> std::result::Result<u32, Invalid> {
    integer(v, min, i32::MAX.into()).map(|n| u32::try_from(n).unwrap_or_default())
}

/// A 32-bit number of milliseconds at least `min`.
fn millis(v: &str, min: i64) -> std::result::Result<Duration, Invalid> {
    integer(v, min, i32::MAX.into()).map(ms)
}

fn ms(n: i64) -> Duration {
    Duration::from_millis(u64::try_from(n).unwrap_or_default())
}

/// `w`: a non-negative 32-bit integer, `majority`, or a custom write concern name.
fn write_acknowledgment(v: &str) -> std::result::Result<Acknowledgment, Invalid> {
    let v = non_empty(v)?;
    match v.parse::<i64>() {
        Ok(n) => count(v, 0)
            .map(Acknowledgment::Nodes)
            .map_err(|_| format!("{n} is not a valid number of nodes")),
        Err(_) => Ok(Acknowledgment::from(v)),
    }
}

/// An RFC 6335 service name: 1–15 letters, digits and hyphens, at least one letter, no
/// leading, trailing or doubled hyphen.
fn service_name(v: &str) -> std::result::Result<&str, Invalid> {
    let valid = (1..=15).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && v.bytes().any(|b| b.is_ascii_alphabetic())
        && !v.starts_with('-')
        && !v.ends_with('-')
        && !v.contains("--");
    if valid {
        Ok(v)
    } else {
        Err("not a valid SRV service name (RFC 6335)".into())
    }
}

/// `key:value,key:value`; the key ends at the first colon, so values may contain colons
/// but not commas (Connection String spec, "Values"). The empty string is an empty list (an
/// empty tag set matches every server). The error never repeats the value: it may be secret.
fn key_value_pairs(v: &str) -> std::result::Result<Vec<(String, String)>, Invalid> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    v.split(',')
        .map(|pair| match pair.split_once(':') {
            Some((k, val)) if !k.is_empty() => Ok((k.to_owned(), val.to_owned())),
            _ => Err(
                "expected key:value pairs separated by commas (a value cannot contain a comma \
                 in a connection string, even percent-encoded)"
                    .to_string(),
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bson::doc;

    use crate::options::{
        Acknowledgment, AuthMechanism, ClientOptions, Compressor, ReadPreferenceMode,
    };

    fn parse(uri: &str) -> ClientOptions {
        ClientOptions::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    #[test]
    fn repeated_keys_warn_and_the_last_valid_value_wins() {
        let o = parse("mongodb://h/?replicaSet=a&REPLICASET=b");
        assert_eq!(o.repl_set_name.as_deref(), Some("b"));
        assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);

        let o = parse("mongodb://h/?maxPoolSize=5&maxPoolSize=x");
        assert_eq!(o.max_pool_size, Some(5));
        assert_eq!(o.warnings.len(), 2, "{:?}", o.warnings);
    }

    #[test]
    fn repeated_tls_must_agree() {
        assert!(ClientOptions::parse("mongodb://h/?tls=true&tls=false").is_err());
        let o = parse("mongodb://h/?ssl=true&tls=true&tls=true");
        assert_eq!(o.tls.enabled, Some(true));
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }

    #[test]
    fn tls_insecure_conflicts_even_with_an_invalid_partner() {
        assert!(
            ClientOptions::parse("mongodb://h/?tlsInsecure=true&tlsAllowInvalidHostnames=x")
                .is_err()
        );
    }

    #[test]
    fn write_concern_rules() {
        let o = parse("mongodb://h/?w=-1");
        assert_eq!(o.write_concern, None);
        assert_eq!(o.warnings.len(), 1);

        let o = parse("mongodb://h/?w=2&journal=true&wTimeoutMS=0");
        let wc = o.write_concern.unwrap();
        assert_eq!(wc.w, Some(Acknowledgment::Nodes(2)));
        assert_eq!(wc.w_timeout, Some(Duration::ZERO));

        assert!(ClientOptions::parse("mongodb://h/?w=0&journal=true").is_err());
    }

    #[test]
    fn deprecated_wtimeout_yields_to_wtimeoutms() {
        let o = parse("mongodb://h/?wtimeout=5");
        assert_eq!(
            o.write_concern.unwrap().w_timeout,
            Some(Duration::from_millis(5))
        );
        let o = parse("mongodb://h/?wtimeout=5&wTimeoutMS=10");
        assert_eq!(
            o.write_concern.unwrap().w_timeout,
            Some(Duration::from_millis(10))
        );
        assert_eq!(o.warnings.len(), 2, "{:?}", o.warnings);
    }

    #[test]
    fn read_preference_rules() {
        let o = parse(
            "mongodb://h/?readPreference=nearest&readPreferenceTags=dc:ny&readPreferenceTags=",
        );
        let pref = o.read_preference.unwrap();
        assert_eq!(pref.mode, ReadPreferenceMode::Nearest);
        assert_eq!(pref.tag_sets.len(), 2);
        assert!(pref.tag_sets[1].is_empty());

        // Tags or staleness without a mode means primary, which cannot take them.
        assert!(ClientOptions::parse("mongodb://h/?readPreferenceTags=dc:ny").is_err());
        assert!(ClientOptions::parse("mongodb://h/?maxStalenessSeconds=120").is_err());
        // -1 means "no maximum", which primary allows.
        let o = parse("mongodb://h/?readPreference=primary&maxStalenessSeconds=-1");
        assert_eq!(o.read_preference.unwrap().max_staleness, None);
    }

    #[test]
    fn mechanism_properties_ignore_name_case_and_keep_colons_in_values() {
        let o = parse(
            "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=service_name:other,SERVICE_HOST:a:b",
        );
        assert_eq!(
            o.credential.unwrap().mechanism_properties,
            Some(doc! { "SERVICE_NAME": "other", "SERVICE_HOST": "a:b" })
        );
    }

    /// Connection String spec, "Values" (key value pairs) and its test "Comma in a key value
    /// pair causes a warning": a comma inside a property value splits it, so the option is
    /// ignored with a warning, and the URI stays valid. The MONGODB-OIDC credential it leaves
    /// lacks ENVIRONMENT: the program supplies the properties before creating the client
    /// (which validates the credential again), as the auth spec says a TOKEN_RESOURCE with a
    /// comma must be given.
    #[test]
    fn a_comma_in_a_mechanism_property_value_is_a_warning() {
        let uri = "mongodb://localhost?authMechanism=MONGODB-OIDC\
                   &authMechanismProperties=TOKEN_RESOURCE:mongodb://host1%2Chost2";
        let mut o = ClientOptions::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert!(
            o.warnings.iter().any(|w| w.contains("comma")),
            "{:?}",
            o.warnings
        );
        let credential = o.credential.as_mut().expect("the mechanism is kept");
        assert_eq!(credential.mechanism, Some(AuthMechanism::MongoDbOidc));
        assert_eq!(credential.mechanism_properties, None, "ignored as a whole");
        assert!(o.validate().is_err(), "still incomplete for a client");
        o.credential.as_mut().unwrap().mechanism_properties = Some(doc! {
            "ENVIRONMENT": "azure", "TOKEN_RESOURCE": "mongodb://host1,host2",
        });
        o.validate().unwrap();

        // Neighbours that stay as they were: no properties at all is still an error (auth
        // spec, "neither environment nor callbacks"), and so is what the credential breaks
        // whatever its properties would be.
        assert!(ClientOptions::parse("mongodb://localhost/?authMechanism=MONGODB-OIDC").is_err());
        assert!(
            ClientOptions::parse(
                "mongodb://u:p@localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=a:b,c"
            )
            .is_err()
        );
        // Unencoded and encoded colons inside a value (spec, "Values").
        for uri in [
            "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:gcp,TOKEN_RESOURCE:mongodb://foo",
            "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT%3Agcp%2CTOKEN_RESOURCE%3Amongodb%3A%2F%2Ffoo",
        ] {
            let o = parse(uri);
            assert!(o.warnings.is_empty(), "{:?}", o.warnings);
            assert_eq!(
                o.credential.unwrap().mechanism_properties,
                Some(doc! { "ENVIRONMENT": "gcp", "TOKEN_RESOURCE": "mongodb://foo" })
            );
        }
    }

    #[test]
    fn compressors_keep_the_known_ones() {
        let o = parse("mongodb://h/?compressors=zstd,lz4,zlib,zstd&zlibCompressionLevel=9");
        assert_eq!(
            o.compressors,
            Some(vec![Compressor::Zstd, Compressor::Zlib])
        );
        assert_eq!(o.zlib_compression_level, Some(9));
        assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
        assert_eq!(
            parse("mongodb://h/?zlibCompressionLevel=10").zlib_compression_level,
            None
        );
    }

    #[test]
    fn ranges_and_empty_values() {
        let o = parse(
            "mongodb://h/?heartbeatFrequencyMS=499&connectTimeoutMS=&maxConnecting=0&serverSelectionTimeoutMS=0&socketTimeoutMS=2147483648",
        );
        assert_eq!(o.heartbeat_frequency, None);
        assert_eq!(o.connect_timeout, None);
        assert_eq!(o.max_connecting, None);
        assert_eq!(o.server_selection_timeout, None);
        assert_eq!(o.socket_timeout, None);
        assert_eq!(o.warnings.len(), 5, "{:?}", o.warnings);
        let long = "x".repeat(129);
        assert_eq!(
            parse(&format!("mongodb://h/?appname={long}")).app_name,
            None
        );
    }

    #[test]
    fn malformed_options_are_errors() {
        for bad in [
            "mongodb://h/?w",
            "mongodb://h/?appname=%zz",
            "mongodb://h/?authSource=",
            "mongodb://h/?authMechanism=MONGODB-CR",
            "mongodb://h/?proxyHost=a&proxyHost=b",
            "mongodb://h/?minPoolSize=10&maxPoolSize=5",
        ] {
            assert!(ClientOptions::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_warnings_and_debug() {
        let o = parse(
            "mongodb://u@h/?authMechanismProperties=s3cr3t&tlsCertificateKeyFilePassword=k3y&proxyHost=p&proxyUsername=pu&proxyPassword=pr0xy",
        );
        let shown = format!("{o:?}");
        for secret in ["s3cr3t", "k3y", "pr0xy"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let o = parse("mongodb://user:pa55@h/");
        assert!(!format!("{o:?}").contains("pa55"));
    }

    #[test]
    fn unknown_options_warn_once() {
        let o = parse("mongodb://h/?foo=1&foo=2&Bar=");
        assert_eq!(o.warnings.len(), 3, "{:?}", o.warnings);
        assert!(o.warnings[2].contains("Bar"));
    }
}
