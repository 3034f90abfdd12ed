//! Applying DNS answers to a `mongodb+srv` connection string (the Initial DNS Seedlist
//! Discovery spec). The lookups themselves are I/O and belong to the client; this module
//! says what to look up and checks and merges what came back.

use super::percent_decode;
use crate::{
    Error, Result,
    options::{ClientOptions, ServerAddress},
};

/// The SRV service name used when `srvServiceName` is not given.
///
/// # Examples
///
/// ```
/// use greenmongo::{uri::DEFAULT_SRV_SERVICE_NAME, ClientOptions};
///
/// let opts = ClientOptions::parse("mongodb+srv://cluster0.example.com")?;
/// assert_eq!(opts.srv_lookup().unwrap().service_name, DEFAULT_SRV_SERVICE_NAME);
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub const DEFAULT_SRV_SERVICE_NAME: &str = "mongodb";

/// The DNS queries a `mongodb+srv` connection string needs.
///
/// # Examples
///
/// ```
/// use greenmongo::ClientOptions;
///
/// let opts = ClientOptions::parse("mongodb+srv://cluster0.example.com/?srvServiceName=mdb")?;
/// let lookup = opts.srv_lookup().unwrap();
/// assert_eq!(lookup.srv_name(), "_mdb._tcp.cluster0.example.com");
/// assert_eq!(lookup.txt_name(), "cluster0.example.com");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SrvLookup {
    /// The connection string's host name, lower-cased.
    pub hostname: String,
    /// The SRV service name (`srvServiceName`, default `mongodb`).
    pub service_name: String,
}

impl SrvLookup {
    /// The name to query for SRV records: `_{service}._tcp.{hostname}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// let opts = ClientOptions::parse("mongodb+srv://c.example.com")?;
    /// assert_eq!(opts.srv_lookup().unwrap().srv_name(), "_mongodb._tcp.c.example.com");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn srv_name(&self) -> String {
        format!("_{}._tcp.{}", self.service_name, self.hostname)
    }

    /// The name to query for the TXT record: the host name itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// let opts = ClientOptions::parse("mongodb+srv://c.example.com")?;
    /// assert_eq!(opts.srv_lookup().unwrap().txt_name(), "c.example.com");
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn txt_name(&self) -> &str {
        &self.hostname
    }

    /// Checks that an SRV record's target belongs to the connection string's domain and
    /// returns it lower-cased without a trailing dot. With three or more labels the target
    /// must end with the host name minus its first label (`db1.example.com` for
    /// `cluster.example.com`); with fewer, it must be a subdomain of the whole host name.
    /// SRV polling uses the same rule.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a target outside
    /// the domain.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// let opts = ClientOptions::parse("mongodb+srv://cluster.example.com")?;
    /// let lookup = opts.srv_lookup().unwrap();
    /// assert_eq!(lookup.check_target("DB1.example.com.")?, "db1.example.com");
    /// assert!(lookup.check_target("db1.evil.com").is_err());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn check_target(&self, target: &str) -> Result<String> {
        let target = target.trim_end_matches('.').to_ascii_lowercase();
        let host = self.hostname.trim_end_matches('.');
        let suffix = match host.split_once('.') {
            Some((_, parent)) if parent.contains('.') => parent,
            _ => host,
        };
        let in_domain = target
            .strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.'));
        if in_domain {
            Ok(target)
        } else {
            Err(Error::invalid_argument(format!(
                "SRV record target \"{target}\" is not in the domain of \"{host}\""
            )))
        }
    }
}

/// The only options a TXT record may set.
const TXT_KEYS: &[&str] = &["authsource", "replicaset", "loadbalanced"];

impl ClientOptions {
    /// Whether the seed list still has to come from DNS: a `mongodb+srv` connection string
    /// whose records have not been applied yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// assert!(ClientOptions::parse("mongodb+srv://c.example.com")?.needs_srv_resolution());
    /// assert!(!ClientOptions::parse("mongodb://c.example.com")?.needs_srv_resolution());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn needs_srv_resolution(&self) -> bool {
        self.srv_host.is_some() && self.hosts.is_empty()
    }

    /// The DNS queries to make, for a `mongodb+srv` connection string (also after
    /// resolution, for SRV polling).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::ClientOptions;
    ///
    /// assert!(ClientOptions::parse("mongodb://h")?.srv_lookup().is_none());
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn srv_lookup(&self) -> Option<SrvLookup> {
        Some(SrvLookup {
            hostname: self.srv_host.clone()?,
            service_name: self
                .srv_service_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SRV_SERVICE_NAME.to_owned()),
        })
    }

    /// Fills in the seed list from the SRV records' `(target, port)` pairs and merges the
    /// TXT records, then re-checks the options.
    ///
    /// A TXT record may set only `authSource`, `replicaSet` and `loadBalanced`, and options
    /// in the connection string win over it. With a positive `srvMaxHosts` the first that
    /// many targets are kept: shuffle `targets` first, as the spec asks for a random choice.
    /// On error `self` is unchanged.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when this is not a
    /// `mongodb+srv` connection string, there are no targets, a target is outside the
    /// domain (see [`SrvLookup::check_target`]), there is more than one TXT record or it
    /// holds another option or an invalid value, or the merged options conflict (e.g.
    /// `loadBalanced=true` with several hosts).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, ClientOptions};
    ///
    /// let mut opts = ClientOptions::parse("mongodb+srv://u:p@cluster.example.com/")?;
    /// opts.apply_srv_records(
    ///     &[("db1.example.com.".into(), 27017), ("db2.example.com.".into(), 27018)],
    ///     &["replicaSet=rs0&authSource=admin".into()],
    /// )?;
    /// assert_eq!(opts.hosts[1], ServerAddress::tcp("db2.example.com", 27018));
    /// assert_eq!(opts.repl_set_name.as_deref(), Some("rs0"));
    /// assert_eq!(opts.credential.unwrap().source.as_deref(), Some("admin"));
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn apply_srv_records(&mut self, targets: &[(String, u16)], txt: &[String]) -> Result<()> {
        let lookup = self.srv_lookup().ok_or_else(|| {
            Error::invalid_argument("SRV records apply only to a mongodb+srv connection string")
        })?;
        if targets.is_empty() {
            return Err(Error::invalid_argument(format!(
                "DNS returned no SRV records for {}",
                lookup.srv_name()
            )));
        }
        let mut next = self.clone();
        next.hosts.clear();
        for (target, port) in targets {
            let address = ServerAddress::tcp(lookup.check_target(target)?, *port);
            if !next.hosts.contains(&address) {
                next.hosts.push(address);
            }
        }
        if let Some(max) = next.srv_max_hosts.filter(|&max| max > 0) {
            next.hosts
                .truncate(usize::try_from(max).unwrap_or(usize::MAX));
        }

        let mut txt_auth_source = None;
        match txt {
            [] => {}
            [record] => {
                for pair in record.split('&').filter(|pair| !pair.is_empty()) {
                    let (key, value) = pair.split_once('=').ok_or_else(|| {
                        Error::invalid_argument(format!(
                            "TXT record option \"{pair}\" has no value"
                        ))
                    })?;
                    let value = percent_decode(value, "a TXT record value")?;
                    match key.to_ascii_lowercase().as_str() {
                        "authsource" if !value.is_empty() => txt_auth_source = Some(value),
                        "replicaset" if !value.is_empty() => {
                            next.repl_set_name.get_or_insert(value);
                        }
                        "loadbalanced" if value == "true" || value == "false" => {
                            next.load_balanced.get_or_insert(value == "true");
                        }
                        k if TXT_KEYS.contains(&k) => {
                            return Err(Error::invalid_argument(format!(
                                "invalid value \"{value}\" for {key} in the TXT record"
                            )));
                        }
                        _ => {
                            return Err(Error::invalid_argument(format!(
                                "option {key} is not allowed in a TXT record (only authSource, \
                                 replicaSet and loadBalanced are)"
                            )));
                        }
                    }
                }
            }
            _ => {
                return Err(Error::invalid_argument(format!(
                    "DNS returned {} TXT records for {}; at most one is allowed",
                    txt.len(),
                    lookup.txt_name()
                )));
            }
        }
        if let Some(credential) = &mut next.credential {
            if credential.source.is_none() {
                credential.source = txt_auth_source;
            }
            credential.apply_defaults(next.default_database.as_deref());
        }
        next.validate()?;
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(uri: &str) -> ClientOptions {
        ClientOptions::parse(uri).unwrap()
    }

    fn targets(hosts: &[&str]) -> Vec<(String, u16)> {
        hosts.iter().map(|h| ((*h).to_owned(), 27017)).collect()
    }

    #[test]
    fn domain_rules_follow_label_count() {
        let three = srv("mongodb+srv://a.b.c").srv_lookup().unwrap();
        assert!(three.check_target("x.b.c").is_ok());
        assert!(three.check_target("b.c").is_err());
        assert!(three.check_target("x.bb.c").is_err());
        assert!(three.check_target("xb.c").is_err());

        let two = srv("mongodb+srv://b.c").srv_lookup().unwrap();
        assert!(two.check_target("x.b.c").is_ok());
        assert!(two.check_target("b.c").is_err());
        assert!(two.check_target("x.c").is_err());

        let one = srv("mongodb+srv://localhost").srv_lookup().unwrap();
        assert!(one.check_target("db.localhost").is_ok());
        assert!(one.check_target("localhost").is_err());
    }

    #[test]
    fn uri_options_win_over_txt() {
        let mut o = srv("mongodb+srv://c.example.com/?replicaSet=mine");
        o.apply_srv_records(&targets(&["a.example.com"]), &["replicaSet=theirs".into()])
            .unwrap();
        assert_eq!(o.repl_set_name.as_deref(), Some("mine"));
        assert!(!o.needs_srv_resolution());
    }

    #[test]
    fn txt_errors_leave_options_unchanged() {
        let mut o = srv("mongodb+srv://c.example.com/");
        let before = o.clone();
        for txt in [
            vec!["ssl=false".to_string()],
            vec!["loadBalanced=yes".to_string()],
            vec!["a=b".to_string(), "c=d".to_string()],
        ] {
            assert!(
                o.apply_srv_records(&targets(&["a.example.com"]), &txt)
                    .is_err()
            );
            assert_eq!(o, before);
        }
        // Load balancing from TXT with two hosts is a conflict.
        assert!(
            o.apply_srv_records(
                &targets(&["a.example.com", "b.example.com"]),
                &["loadBalanced=true".into()]
            )
            .is_err()
        );
    }

    #[test]
    fn srv_max_hosts_truncates_and_duplicates_collapse() {
        let mut o = srv("mongodb+srv://c.example.com/?srvMaxHosts=2");
        o.apply_srv_records(
            &targets(&[
                "a.example.com",
                "a.example.com.",
                "b.example.com",
                "d.example.com",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(o.hosts.len(), 2);
    }

    #[test]
    fn txt_auth_source_fills_an_unset_source() {
        let mut o = srv("mongodb+srv://u:p@c.example.com/db");
        assert_eq!(o.credential.as_ref().unwrap().source, None);
        o.apply_srv_records(&targets(&["a.example.com"]), &[])
            .unwrap();
        assert_eq!(o.credential.unwrap().source.as_deref(), Some("db"));
    }
}
