//! Where DNS queries for `mongodb+srv` connection strings go: [`ResolverConfig`].

use std::{
    fs, io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

/// The file the system's stub resolver reads (resolv.conf(5)).
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// resolv.conf(5): at most three `nameserver` lines count (`MAXNS`).
const MAX_NAMESERVERS: usize = 3;
/// resolv.conf(5): `timeout:` is capped at 30 s and `attempts:` at 5.
const MAX_TIMEOUT_SECS: u64 = 30;
const MAX_ATTEMPTS: u32 = 5;

/// The nameservers that resolve `mongodb+srv` connection strings, and how long to wait
/// for them.
///
/// A client whose [`ClientOptions::resolver_config`](crate::ClientOptions::resolver_config)
/// is `None` reads the system's configuration with [`ResolverConfig::system`] when it is
/// created. Set one to query other nameservers, e.g. in a container whose resolv.conf
/// points nowhere useful, or on a system without `/etc/resolv.conf`.
///
/// Each query goes over UDP to each nameserver in turn, for `attempts` rounds, waiting
/// `timeout` for each answer (the order and limits of the system's stub resolver); a
/// truncated answer is asked again over TCP.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::{options::ResolverConfig, ClientOptions};
///
/// let mut dns = ResolverConfig::new(["10.0.0.2:53".parse()?]);
/// dns.timeout = Duration::from_secs(2);
/// let mut options = ClientOptions::parse("mongodb+srv://cluster0.example.com/")?;
/// options.resolver_config = Some(dns);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolverConfig {
    /// The nameservers, asked in this order.
    pub nameservers: Vec<SocketAddr>,
    /// How long to wait for one nameserver's answer.
    pub timeout: Duration,
    /// How many rounds over all the nameservers to make before giving up (at least one).
    pub attempts: u32,
}

impl ResolverConfig {
    /// Queries to `nameservers`, with the stub resolver's defaults: 5 s per answer, two
    /// rounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::options::ResolverConfig;
    ///
    /// let dns = ResolverConfig::new(["127.0.0.53:53".parse()?]);
    /// assert_eq!((dns.timeout, dns.attempts), (Duration::from_secs(5), 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(nameservers: impl IntoIterator<Item = SocketAddr>) -> ResolverConfig {
        ResolverConfig {
            nameservers: nameservers.into_iter().collect(),
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }

    /// The system's configuration, from `/etc/resolv.conf` (see
    /// [`from_resolv_conf`](Self::from_resolv_conf)). Without that file, the nameserver is
    /// `127.0.0.1:53`, as for the C library's resolver.
    ///
    /// This reads a file: in a coroutine, call it through
    /// [`spawn_blocking`](crate::runtime::spawn_blocking) (client creation does).
    ///
    /// # Errors
    ///
    /// The file exists but cannot be read.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let dns = greenmongo::options::ResolverConfig::system()?;
    /// println!("asking {:?}", dns.nameservers);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn system() -> io::Result<ResolverConfig> {
        match fs::read_to_string(RESOLV_CONF) {
            Ok(text) => Ok(ResolverConfig::from_resolv_conf(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Ok(ResolverConfig::from_resolv_conf(""))
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot read {RESOLV_CONF}: {e}"),
            )),
        }
    }

    /// Reads the parts of a resolv.conf(5) file that matter here: up to three
    /// `nameserver` addresses (port 53) and `options timeout:N attempts:N`. Other lines,
    /// comments, and addresses that do not parse (such as IPv6 ones with a `%zone`) are
    /// ignored; with no nameserver left, `127.0.0.1:53` is used.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::options::ResolverConfig;
    ///
    /// let dns = ResolverConfig::from_resolv_conf(
    ///     "# generated\nnameserver 10.0.0.2\nnameserver 2001:db8::53\nsearch example.com\n\
    ///      options timeout:1 attempts:3 rotate\n",
    /// );
    /// assert_eq!(dns.nameservers, ["10.0.0.2:53".parse()?, "[2001:db8::53]:53".parse()?]);
    /// assert_eq!((dns.timeout, dns.attempts), (Duration::from_secs(1), 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_resolv_conf(text: &str) -> ResolverConfig {
        let mut config = ResolverConfig::new([]);
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let address = words.next().and_then(|w| w.parse::<IpAddr>().ok());
                    if let Some(ip) = address
                        && config.nameservers.len() < MAX_NAMESERVERS
                    {
                        config.nameservers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("options") => {
                    for option in words {
                        let Some((key, value)) = option.split_once(':') else {
                            continue;
                        };
                        let Ok(n) = value.parse::<u32>() else {
                            continue;
                        };
                        match key {
                            "timeout" => {
                                let secs = u64::from(n).clamp(1, MAX_TIMEOUT_SECS);
                                config.timeout = Duration::from_secs(secs);
                            }
                            "attempts" => config.attempts = n.clamp(1, MAX_ATTEMPTS),
                            _ => {}
                        }
                    }
                }
                _ => {} // comments (`#`, `;`), search, domain, sortlist, ...
            }
        }
        if config.nameservers.is_empty() {
            config
                .nameservers
                .push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_limits_and_defaults() {
        let empty = ResolverConfig::from_resolv_conf("; nothing\n# here\n");
        assert_eq!(empty.nameservers, ["127.0.0.1:53".parse().unwrap()]);
        assert_eq!(empty.attempts, 2);

        let many = ResolverConfig::from_resolv_conf(
            "nameserver 1.1.1.1\nnameserver fe80::1%eth0\nnameserver bogus\n\
             nameserver 2.2.2.2\nnameserver 3.3.3.3\nnameserver 4.4.4.4\n\
             options timeout:0 attempts:99 ndots:2 attempts:x\n",
        );
        assert_eq!(many.nameservers.len(), 3);
        assert_eq!(many.nameservers[2], "3.3.3.3:53".parse().unwrap());
        assert_eq!(many.timeout, Duration::from_secs(1));
        assert_eq!(many.attempts, 5);

        let long = ResolverConfig::from_resolv_conf("options timeout:600");
        assert_eq!(long.timeout, Duration::from_secs(30));
    }
}
