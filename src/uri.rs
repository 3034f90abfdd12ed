//! Connection strings: the Connection String spec and the URI Options spec.
//!
//! Parsing is pure: a string in, [`ClientOptions`] out. It follows the spec's reference
//! steps:
//!
//! 1. Strip the scheme, `mongodb://` or `mongodb+srv://`.
//! 2. The host information ends at the first `/` or `?`; what follows is the auth database
//!    and the options.
//! 3. Split the host information at its last `@` into user info and hosts. User info must
//!    not contain an unescaped `@`, `/`, `?`, `#`, `[`, `]`, more than one `:`, or a `%`
//!    that does not start a `%XX` escape.
//! 4. Hosts are separated by `,`: a hostname, IPv4 address or `[IPv6]` literal with an
//!    optional port (1–65535, default 27017), or a percent-encoded Unix domain socket path
//!    containing `/` and ending in `.sock`.
//! 5. The auth database is percent-decoded and must not contain `/ \ " $` or a space.
//! 6. Options are `key=value` pairs separated by `&`; keys ignore ASCII case and values are
//!    percent-decoded. Each option's type and range are those of the URI Options spec and
//!    are given on the [`ClientOptions`] field it sets. Repeated keys warn and the last
//!    valid value wins, except `readPreferenceTags` (a list), `tls`/`ssl` (every instance
//!    must agree) and the proxy options (an error).
//!
//! Unknown options, invalid values and repeated keys are not errors: the spec requires
//! them to be ignored with a warning, which lands in [`ClientOptions::warnings`].
//!
//! # SRV
//!
//! A `mongodb+srv` string names one host and no port. Parsing records it in
//! [`ClientOptions::srv_host`] and leaves [`ClientOptions::hosts`] empty: DNS lookups are
//! I/O and happen elsewhere. The caller asks [`ClientOptions::srv_lookup`] what to look up
//! and hands the answers to [`ClientOptions::apply_srv_records`], which validates them and
//! merges the TXT record's options (the Initial DNS Seedlist Discovery spec).
//! [`ClientOptions::resolve_srv`] does the lookups and both steps; a client calls it when
//! it is created.

mod query;
mod seedlist;

pub use seedlist::{DEFAULT_SRV_SERVICE_NAME, SrvLookup};

/// Every connection-string option greenmongo reads, lower-cased (keys match without
/// regard to case); any other is ignored with a warning. Each one takes effect, or the
/// client says why it cannot ([`ClientOptions::unsupported_settings`](crate::ClientOptions::unsupported_settings)).
///
/// # Examples
///
/// ```
/// assert!(greenmongo::uri::OPTIONS.contains(&"timeoutms"));
/// ```
pub const OPTIONS: &[&str] = query::KNOWN_KEYS;

use crate::{
    Error, Result,
    options::{ClientOptions, ServerAddress},
};

const SCHEME: &str = "mongodb://";
const SRV_SCHEME: &str = "mongodb+srv://";

/// A username and, if a `:` followed it, a password, both percent-decoded.
type UserInfo = (String, Option<String>);

/// Parses a connection string; see [`ClientOptions::parse`].
pub(crate) fn parse(uri: &str) -> Result<ClientOptions> {
    let (is_srv, rest) = if let Some(rest) = uri.strip_prefix(SRV_SCHEME) {
        (true, rest)
    } else if let Some(rest) = uri.strip_prefix(SCHEME) {
        (false, rest)
    } else {
        return Err(Error::invalid_argument(
            "connection string must start with \"mongodb://\" or \"mongodb+srv://\"",
        ));
    };

    let (host_info, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (user_info, host_list) = match host_info.rfind('@') {
        Some(at) => (Some(&host_info[..at]), &host_info[at + 1..]),
        None => (None, host_info),
    };
    let user_info = user_info.map(parse_user_info).transpose()?;

    let tail = tail.strip_prefix('/').unwrap_or(tail);
    let (database, query) = match tail.split_once('?') {
        Some((database, query)) => (database, Some(query)),
        None => (tail, None),
    };

    let mut options = ClientOptions::default();
    if is_srv {
        options.srv_host = Some(parse_srv_host(host_list)?);
        options.hosts.clear();
    } else {
        options.hosts = parse_hosts(host_list)?;
    }
    options.default_database = parse_database(database)?;
    query::apply(options, user_info, query.unwrap_or(""), is_srv)
}

fn parse_user_info(raw: &str) -> Result<UserInfo> {
    let invalid = |why: &str| {
        Err(Error::invalid_argument(format!(
            "invalid user information: {why}; user names and passwords must be percent-encoded"
        )))
    };
    if raw.contains('@') {
        return invalid("unescaped '@'");
    }
    if let Some(c) = raw
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#' | '[' | ']'))
    {
        return invalid(&format!("unescaped '{c}'"));
    }
    if raw.matches(':').count() > 1 {
        return invalid("more than one unescaped ':'");
    }
    let (user, password) = match raw.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (raw, None),
    };
    let user = percent_decode(user, "the user name")?;
    let password = password
        .map(|p| percent_decode(p, "the password"))
        .transpose()?;
    if user.is_empty() {
        return invalid("the user name is empty");
    }
    Ok((user, password))
}

fn parse_hosts(list: &str) -> Result<Vec<ServerAddress>> {
    if list.is_empty() {
        return Err(Error::invalid_argument("connection string names no host"));
    }
    list.split(',').map(parse_host).collect()
}

fn parse_host(raw: &str) -> Result<ServerAddress> {
    if raw.is_empty() {
        return Err(Error::invalid_argument(
            "empty host in the connection string's host list",
        ));
    }
    // Percent-decoding first turns `%2F` into the `/` that marks a socket path; an
    // unescaped `/` never gets here, having ended the host information.
    ServerAddress::parse(&percent_decode(raw, "a host")?)
}

/// The one host of a `mongodb+srv` string: a host name, no port.
fn parse_srv_host(list: &str) -> Result<String> {
    let fail = |why: &str| {
        Err(Error::invalid_argument(format!(
            "invalid mongodb+srv host \"{list}\": {why}"
        )))
    };
    if list.contains(',') {
        return fail("exactly one host name is allowed");
    }
    let host = percent_decode(list, "the host")?;
    if host.is_empty() {
        return fail("the host name is empty");
    }
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return fail("an IP address cannot be resolved with SRV; give a host name");
    }
    if host.contains(':') {
        return fail("a port is not allowed");
    }
    if host.contains('/') {
        return fail("a Unix domain socket cannot be resolved with SRV");
    }
    Ok(host.to_ascii_lowercase())
}

fn parse_database(raw: &str) -> Result<Option<String>> {
    if raw.is_empty() {
        return Ok(None);
    }
    let name = percent_decode(raw, "the database name")?;
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '\\' | ' ' | '"' | '$' | '\0'))
    {
        return Err(Error::invalid_argument(format!(
            "invalid database name \"{name}\": it must not contain {c:?} (hosts and user \
             information must percent-encode '/')"
        )));
    }
    Ok(Some(name))
}

/// Decodes `%XX` escapes (RFC 3986); a `%` not followed by two hex digits, or bytes that
/// are not UTF-8 once decoded, are errors. `+` stays a plus sign.
pub(crate) fn percent_decode(s: &str, what: &str) -> Result<String> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |i: usize| bytes.get(i).and_then(|&b| char::from(b).to_digit(16));
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match (hex(i + 1), hex(i + 2)) {
            // Two hex digits are at most 0xFF, so the cast cannot truncate.
            (Some(high), Some(low)) => out.push((high << 4 | low) as u8),
            _ => {
                return Err(Error::invalid_argument(format!(
                    "invalid percent-encoding in {what}: '%' must be followed by two hex \
                     digits (write a literal '%' as %25)"
                )));
            }
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| {
        Error::invalid_argument(format!("{what} is not valid UTF-8 once percent-decoded"))
    })
}

/// Parsing lives with the parser: `options` holds the values, this module reads them.
impl ClientOptions {
    /// Parses a `mongodb://` or `mongodb+srv://` connection string. No I/O: a `mongodb+srv`
    /// string comes back with empty [`hosts`](Self::hosts) and
    /// [`needs_srv_resolution`](Self::needs_srv_resolution) true.
    ///
    /// Invalid values of individual options do not fail the parse: they are skipped and
    /// reported in [`warnings`](Self::warnings), as the Connection String spec requires.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a malformed
    /// string (scheme, user info, hosts, ports, percent-encoding, database name) and for
    /// the combinations the specs forbid: conflicting TLS options, `directConnection=true`
    /// with several hosts or SRV, `loadBalanced=true` with several hosts, a replica set or
    /// `directConnection=true`, SRV-only options without SRV, a credential its mechanism
    /// rejects (see [`Credential::validate`](crate::options::Credential::validate)), and read preference tags or staleness with
    /// mode primary.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// let opts = ClientOptions::parse("mongodb://localhost/?maxPoolSize=10&fsync=true")?;
    /// assert_eq!(opts.max_pool_size, Some(10));
    /// assert_eq!(opts.warnings.len(), 1); // fsync is not a known option
    ///
    /// assert!(ClientOptions::parse("mongodb://a,b/?directConnection=true").is_err());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn parse(uri: &str) -> Result<Self> {
        parse(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%2Fb%25", "x").unwrap(), "a/b%");
        assert_eq!(percent_decode("b%C3%BCcher", "x").unwrap(), "bücher");
        assert_eq!(percent_decode("a+b", "x").unwrap(), "a+b");
        for bad in ["%", "%2", "%zz", "a%+1", "%C3"] {
            assert!(percent_decode(bad, "x").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_info_rules() {
        assert_eq!(
            parse_user_info("a%40b:p%3Aw").unwrap(),
            ("a@b".into(), Some("p:w".into()))
        );
        assert_eq!(
            parse_user_info("a:").unwrap(),
            ("a".into(), Some(String::new()))
        );
        for bad in ["", ":", ":p", "a:b:c", "a#b", "a%xyz", "[a]"] {
            assert!(parse_user_info(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn socket_paths_need_encoding_and_suffix() {
        let hosts = parse_hosts("%2Ftmp%2Fm.sock,m.sock,h:1").unwrap();
        assert_eq!(
            hosts,
            [
                ServerAddress::unix("/tmp/m.sock"),
                ServerAddress::tcp("m.sock", 27017),
                ServerAddress::tcp("h", 1),
            ]
        );
        assert!(parse_hosts("%2Ftmp%2Fm").is_err());
        assert!(parse_hosts("a,,b").is_err());
    }

    #[test]
    fn path_and_query_split() {
        let o = parse("mongodb://h/d%3Fb?w=1").unwrap();
        assert_eq!(o.default_database.as_deref(), Some("d?b"));
        let o = parse("mongodb://h?appName=x").unwrap();
        assert_eq!(o.default_database, None);
        assert_eq!(o.app_name.as_deref(), Some("x"));
        assert!(parse("mongodb://h/a b").is_err());
        assert!(parse("mongodb://alice/@localhost/db").is_err());
    }

    #[test]
    fn srv_host_rules() {
        let o = parse("mongodb+srv://Cluster0.Example.com/").unwrap();
        assert_eq!(o.srv_host.as_deref(), Some("cluster0.example.com"));
        assert!(o.hosts.is_empty());
        assert_eq!(o.tls.enabled, Some(true));
        for bad in [
            "mongodb+srv://a.example.com:27017",
            "mongodb+srv://a.example.com,b.example.com",
            "mongodb+srv://[::1]",
            "mongodb+srv://127.0.0.1",
            "mongodb+srv://",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
