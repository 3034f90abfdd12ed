//! Server addresses: a TCP `host:port` or a Unix domain socket path.

use std::{fmt, net::Ipv6Addr, path::PathBuf, str::FromStr};

use crate::{Error, Result};

/// The port used when an address does not name one.
///
/// # Examples
///
/// ```
/// use greenmongo::options::{ServerAddress, DEFAULT_PORT};
///
/// assert_eq!(ServerAddress::parse("db1.example.com")?.port(), Some(DEFAULT_PORT));
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub const DEFAULT_PORT: u16 = 27017;

/// Where a server listens.
///
/// Hostnames are stored in ASCII lowercase (the SDAM spec compares them case-insensitively),
/// IPv6 literals without their brackets, and the port is always filled in, so two addresses
/// for the same server compare equal and hash alike.
///
/// # Examples
///
/// ```
/// use greenmongo::options::ServerAddress;
///
/// let a: ServerAddress = "Example.COM".parse()?;
/// assert_eq!(a, ServerAddress::tcp("example.com", 27017));
/// assert_eq!(a.to_string(), "example.com:27017");
///
/// let v6: ServerAddress = "[::1]:27018".parse()?;
/// assert_eq!(v6.to_string(), "[::1]:27018");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerAddress {
    /// A TCP address.
    Tcp {
        /// A hostname, IPv4 address or IPv6 address (without brackets), ASCII-lowercased.
        host: String,
        /// The port; [`DEFAULT_PORT`] when none was given.
        port: u16,
    },
    /// A Unix domain socket.
    Unix {
        /// The socket's path (ends in `.sock` when it came from a connection string).
        path: PathBuf,
    },
}

impl ServerAddress {
    /// A TCP address; `host` is ASCII-lowercased.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ServerAddress;
    ///
    /// let a = ServerAddress::tcp("DB1.example.com", 27018);
    /// assert_eq!(a.to_string(), "db1.example.com:27018");
    /// ```
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        let mut host = host.into();
        host.make_ascii_lowercase();
        ServerAddress::Tcp { host, port }
    }

    /// A Unix domain socket address.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ServerAddress;
    ///
    /// let a = ServerAddress::unix("/tmp/mongodb-27017.sock");
    /// assert_eq!(a.to_string(), "/tmp/mongodb-27017.sock");
    /// ```
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        ServerAddress::Unix { path: path.into() }
    }

    /// Parses `host`, `host:port`, `[ipv6]`, `[ipv6]:port`, or a socket path containing `/`
    /// and ending in `.sock`. The text is taken literally (no percent-decoding): this is the
    /// form servers report in `hello` replies and SRV records carry.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for an empty host,
    /// a port outside 1–65535 or not made of digits, an unbracketed address with more than
    /// one colon, or a malformed IPv6 literal.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ServerAddress;
    ///
    /// assert_eq!(ServerAddress::parse("localhost")?, ServerAddress::tcp("localhost", 27017));
    /// assert!(ServerAddress::parse("localhost:0").is_err());
    /// assert!(ServerAddress::parse("::1").is_err()); // IPv6 needs brackets
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self> {
        if s.contains('/') {
            return if s.ends_with(".sock") {
                Ok(ServerAddress::unix(s))
            } else {
                Err(Error::invalid_argument(format!(
                    "invalid host \"{s}\": a Unix domain socket path must end in \".sock\""
                )))
            };
        }
        if let Some(rest) = s.strip_prefix('[') {
            let Some((literal, after)) = rest.split_once(']') else {
                return Err(Error::invalid_argument(format!(
                    "invalid host \"{s}\": IPv6 literal has no closing ']'"
                )));
            };
            // A zone index (`fe80::1%eth0`) is allowed after the address.
            let addr = literal
                .split_once('%')
                .map_or(literal, |(addr, _zone)| addr);
            if addr.parse::<Ipv6Addr>().is_err() {
                return Err(Error::invalid_argument(format!(
                    "invalid host \"{s}\": \"{literal}\" is not an IPv6 address"
                )));
            }
            let port = match after {
                "" => DEFAULT_PORT,
                _ => match after.strip_prefix(':') {
                    Some(port) => parse_port(s, port)?,
                    None => {
                        return Err(Error::invalid_argument(format!(
                            "invalid host \"{s}\": unexpected text after the IPv6 literal"
                        )));
                    }
                },
            };
            return Ok(ServerAddress::tcp(literal, port));
        }
        let (host, port) = match s.split_once(':') {
            None => (s, DEFAULT_PORT),
            Some((_, port)) if port.contains(':') => {
                return Err(Error::invalid_argument(format!(
                    "invalid host \"{s}\": too many colons (IPv6 addresses must be in brackets)"
                )));
            }
            Some((host, port)) => (host, parse_port(s, port)?),
        };
        if host.is_empty() {
            return Err(Error::invalid_argument(format!(
                "invalid host \"{s}\": empty host name"
            )));
        }
        Ok(ServerAddress::tcp(host, port))
    }

    /// The host of a TCP address, `None` for a Unix domain socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ServerAddress;
    ///
    /// assert_eq!(ServerAddress::tcp("a.example.com", 1).host(), Some("a.example.com"));
    /// assert_eq!(ServerAddress::unix("/tmp/m.sock").host(), None);
    /// ```
    pub fn host(&self) -> Option<&str> {
        match self {
            ServerAddress::Tcp { host, .. } => Some(host),
            ServerAddress::Unix { .. } => None,
        }
    }

    /// The port of a TCP address, `None` for a Unix domain socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::options::ServerAddress;
    ///
    /// assert_eq!(ServerAddress::parse("a.example.com")?.port(), Some(27017));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn port(&self) -> Option<u16> {
        match self {
            ServerAddress::Tcp { port, .. } => Some(*port),
            ServerAddress::Unix { .. } => None,
        }
    }
}

/// Ports are 1–65535 written in decimal digits only (no sign, no whitespace).
fn parse_port(whole: &str, port: &str) -> Result<u16> {
    let valid = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(p) if valid && p != 0 => Ok(p),
        _ => Err(Error::invalid_argument(format!(
            "invalid host \"{whole}\": port \"{port}\" is not an integer from 1 to 65535"
        ))),
    }
}

impl Default for ServerAddress {
    /// `localhost:27017`.
    fn default() -> Self {
        ServerAddress::tcp("localhost", DEFAULT_PORT)
    }
}

impl FromStr for ServerAddress {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ServerAddress::parse(s)
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddress::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            ServerAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
            ServerAddress::Unix { path } => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(
            ServerAddress::parse("Example.com:27018").unwrap(),
            ServerAddress::tcp("example.com", 27018)
        );
        assert_eq!(
            ServerAddress::parse("[::1]").unwrap(),
            ServerAddress::tcp("::1", DEFAULT_PORT)
        );
        assert_eq!(
            ServerAddress::parse("[fe80::1%eth0]:5").unwrap(),
            ServerAddress::tcp("fe80::1%eth0", 5)
        );
        assert_eq!(
            ServerAddress::parse("/tmp/m.sock").unwrap(),
            ServerAddress::unix("/tmp/m.sock")
        );
    }

    #[test]
    fn rejects_bad_ports_and_colons() {
        for bad in [
            "h:0",
            "h:65536",
            "h:-1",
            "h:+1",
            "h:",
            "h:foo",
            "h::1",
            "::",
            "[::1",
            "[::1]x",
            "[zz]",
            ":27017",
            "",
            "/tmp/not-a-socket",
        ] {
            assert!(ServerAddress::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["a.example.com:1", "[::1]:27017", "/tmp/m.sock"] {
            let a = ServerAddress::parse(s).unwrap();
            assert_eq!(a.to_string(), s);
            assert_eq!(ServerAddress::parse(&a.to_string()).unwrap(), a);
        }
    }
}
