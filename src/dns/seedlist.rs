//! Initial DNS Seedlist Discovery: turns a `mongodb+srv` connection string into a seed
//! list, and the lookups SRV polling repeats.
//!
//! [`ClientOptions::resolve_srv`] asks DNS (through [`crate::dns`], on the runtime's
//! blocking pool) for the SRV records `_{srvServiceName}._tcp.{host}` and the TXT record
//! of `{host}`, shuffles the SRV targets and hands both to
//! [`ClientOptions::apply_srv_records`], which checks them (parent domain, allowed TXT
//! options) and merges them into the options. Priority and weight are ignored, as the
//! spec says; so are CNAMEs.
//!
//! [`rescan_srv`] is the SRV half again, with the records' TTL, for the Polling SRV
//! Records for mongos Discovery spec: the client's poller
//! ([`sdam::srv_polling`](crate::sdam::srv_polling)) calls it every
//! `rescanSRVIntervalMS` while the topology is Unknown or Sharded. [`shuffle`] is the
//! random choice both use for `srvMaxHosts`, as that spec requires.

use std::{panic, time::Duration};

use hickory_proto::rr::{RData, RecordType};

use crate::{
    Error, Result, dns,
    options::{ClientOptions, ResolverConfig},
    runtime::spawn_blocking,
    uri::SrvLookup,
};

impl ClientOptions {
    /// Looks up the SRV and TXT records of a `mongodb+srv` connection string and applies
    /// them with [`apply_srv_records`](Self::apply_srv_records): afterwards
    /// [`hosts`](Self::hosts) is the seed list and the TXT record's `authSource`,
    /// `replicaSet` and `loadBalanced` are set where the connection string left them
    /// unset.
    ///
    /// [`Client::with_options`](crate::Client::with_options) calls this for options that
    /// [`need it`](Self::needs_srv_resolution); call it yourself to see the seed list
    /// before creating a client. The nameservers are those of
    /// [`resolver_config`](Self::resolver_config), or the system's.
    ///
    /// The lookups block the caller. In a coroutine they run on the runtime's blocking
    /// pool while the coroutine parks, so the worker goes on running the others; on a
    /// plain thread they run right there.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::DnsResolve`](crate::ErrorKind::DnsResolve) when the SRV name does not
    /// exist, has no SRV records, or no nameserver answers in time (the message names
    /// the record and the nameservers; a missing TXT record is not an error);
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when these are
    /// not `mongodb+srv` options or the records are not acceptable (see
    /// [`apply_srv_records`](Self::apply_srv_records)). On error `self` is unchanged.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use greenmongo::ClientOptions;
    ///
    /// let mut options = ClientOptions::parse("mongodb+srv://cluster0.example.com/")?;
    /// options.resolve_srv()?;
    /// println!("seed list: {:?}, replica set: {:?}", options.hosts, options.repl_set_name);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn resolve_srv(&mut self) -> Result<()> {
        let lookup = self.srv_lookup().ok_or_else(|| {
            Error::invalid_argument("SRV resolution needs a mongodb+srv connection string")
        })?;
        let config = self.resolver_config.clone();
        let srv_name = lookup.srv_name();
        let (targets, txt) = off_worker(&srv_name, move || {
            let config = match config {
                Some(config) => config,
                None => ResolverConfig::system()?,
            };
            query_records(&config, &lookup)
        })?;
        self.apply_srv_records(&targets, &txt)
    }
}

/// The SRV records of `lookup` asked again, for SRV polling: the targets as DNS gave
/// them (not checked against the domain yet) and their smallest TTL. The nameservers are
/// `config`'s, or the system's as they are now (re-read each time, so a changed
/// resolv.conf is picked up). Blocks like [`ClientOptions::resolve_srv`]: in a
/// coroutine the lookup runs on the blocking pool.
///
/// # Errors
///
/// [`ErrorKind::DnsResolve`](crate::ErrorKind::DnsResolve) when the lookup fails or finds
/// no SRV record; [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a
/// configuration without nameservers. SRV polling logs these and keeps its hosts.
pub(crate) fn rescan_srv(
    lookup: &SrvLookup,
    config: Option<&ResolverConfig>,
) -> Result<SrvRecords> {
    let srv_name = lookup.srv_name();
    let config = config.cloned();
    let name = srv_name.clone();
    off_worker(&srv_name, move || {
        let config = match config {
            Some(config) => config,
            None => ResolverConfig::system()?,
        };
        if config.nameservers.is_empty() {
            return Err(no_nameservers());
        }
        lookup_srv(&config, &name)
    })
}

/// Runs the blocking `f` where blocking is allowed (the runtime's blocking pool, or right
/// here on a plain thread) and waits for it; a panic in `f` goes on in the caller.
fn off_worker<T: Send + 'static>(
    srv_name: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match spawn_blocking(f).join() {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(payload) => panic::resume_unwind(payload),
            Err(e) => Err(Error::dns_resolve(format!(
                "the lookup of SRV record {srv_name} did not finish: {e}"
            ))),
        },
    }
}

fn no_nameservers() -> Error {
    Error::invalid_argument("the resolver configuration lists no nameservers")
}

/// What an SRV lookup found.
#[derive(Debug)]
pub(crate) struct SrvRecords {
    /// `(target, port)` of each record, in the order DNS gave them.
    pub(crate) targets: Vec<(String, u16)>,
    /// The records' smallest TTL (`None` when the answer did not say).
    pub(crate) ttl: Option<Duration>,
}

/// What DNS said about a `mongodb+srv` host: the SRV targets as `(host, port)` and the
/// TXT records' strings.
type Records = (Vec<(String, u16)>, Vec<String>);

/// The shuffled SRV targets and the TXT strings of `lookup`. Blocks.
fn query_records(config: &ResolverConfig, lookup: &SrvLookup) -> Result<Records> {
    if config.nameservers.is_empty() {
        return Err(no_nameservers());
    }
    let mut targets = lookup_srv(config, &lookup.srv_name())?.targets;
    // srvMaxHosts keeps the first few: the spec asks for a random choice (Fisher–Yates).
    shuffle(&mut targets)?;
    let txt = lookup_txt(config, lookup.txt_name())?;
    Ok((targets, txt))
}

/// The `(target, port)` of each SRV record of `name`, and their smallest TTL. Blocks.
///
/// # Errors
///
/// [`ErrorKind::DnsResolve`](crate::ErrorKind::DnsResolve) when the lookup fails or finds
/// no SRV record.
fn lookup_srv(config: &ResolverConfig, name: &str) -> Result<SrvRecords> {
    let what = format!("SRV record {name}");
    let answer = dns::lookup(config, name, RecordType::SRV).map_err(|e| e.into_error(&what))?;
    let targets: Vec<(String, u16)> = answer
        .records
        .into_iter()
        .filter_map(|record| match record {
            RData::SRV(srv) => Some((srv.target.to_ascii(), srv.port)),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return Err(Error::dns_resolve(format!(
            "nameserver {} has no {what}, so the connection string names no hosts",
            answer.nameserver
        )));
    }
    Ok(SrvRecords {
        targets,
        ttl: answer.ttl.map(|secs| Duration::from_secs(u64::from(secs))),
    })
}

/// The TXT records of `name`, each one's strings joined, as the spec says. A name with no
/// TXT record, or no record at all (NXDOMAIN), gives none. Blocks.
///
/// # Errors
///
/// [`ErrorKind::DnsResolve`](crate::ErrorKind::DnsResolve) when no nameserver answers or
/// a record is not UTF-8.
fn lookup_txt(config: &ResolverConfig, name: &str) -> Result<Vec<String>> {
    let what = format!("TXT record {name}");
    let answer = match dns::lookup(config, name, RecordType::TXT) {
        Ok(answer) => answer,
        Err(e) if e.is_nxdomain() => return Ok(Vec::new()),
        Err(e) => return Err(e.into_error(&what)),
    };
    answer
        .records
        .into_iter()
        .filter_map(|record| match record {
            RData::TXT(txt) => Some(txt.txt_data.concat()),
            _ => None,
        })
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                Error::dns_resolve(format!(
                    "{what} from nameserver {} is not UTF-8",
                    answer.nameserver
                ))
            })
        })
        .collect()
}

/// Fisher–Yates with the OS's random numbers. The modulo bias of a 64-bit draw over a
/// handful of hosts is negligible.
///
/// # Errors
///
/// [`ErrorKind::Internal`](crate::ErrorKind::Internal) when the OS has no random numbers
/// to give; `items` is then partly shuffled.
pub(crate) fn shuffle<T>(items: &mut [T]) -> Result<()> {
    for i in (1..items.len()).rev() {
        let draw = getrandom::u64()
            .map_err(|e| Error::internal(format!("no random numbers to shuffle hosts: {e}")))?;
        // `draw % (i + 1)` is at most `i`, so the casts cannot truncate.
        let j = (draw % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_permutes() {
        let mut seen_other_first = false;
        for _ in 0..64 {
            let mut v: Vec<u32> = (0..8).collect();
            shuffle(&mut v).unwrap();
            seen_other_first |= v[0] != 0;
            v.sort_unstable();
            assert_eq!(v, (0..8).collect::<Vec<_>>());
        }
        assert!(seen_other_first, "64 shuffles all kept 0 first");
        let mut empty: [u8; 0] = [];
        shuffle(&mut empty).unwrap();
    }

    #[test]
    fn resolving_needs_srv_options() {
        let mut plain = ClientOptions::parse("mongodb://h").unwrap();
        let err = plain.resolve_srv().unwrap_err();
        assert!(err.to_string().contains("mongodb+srv"), "{err}");

        let mut srv = ClientOptions::parse("mongodb+srv://c.example.com").unwrap();
        let mut none = ResolverConfig::new([]);
        none.attempts = 1;
        srv.resolver_config = Some(none);
        let err = srv.resolve_srv().unwrap_err();
        assert!(err.to_string().contains("no nameservers"), "{err}");
        assert!(srv.needs_srv_resolution());

        let lookup = srv.srv_lookup().unwrap();
        let err = rescan_srv(&lookup, srv.resolver_config.as_ref()).unwrap_err();
        assert!(err.to_string().contains("no nameservers"), "{err}");
    }
}
