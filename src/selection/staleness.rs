//! `maxStalenessSeconds` (Max Staleness spec): validating the bound and estimating how far
//! a secondary lags behind.

use std::time::{Duration, Instant};

use crate::{
    Error, Result,
    sdam::{ServerDescription, ServerType, TopologyDescription},
};

/// How often an idle primary writes a no-op to its oplog (`idleWritePeriodMS`), which
/// bounds how precisely staleness can be measured.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::{sdam::DEFAULT_HEARTBEAT_FREQUENCY, selection::{IDLE_WRITE_PERIOD, SMALLEST_MAX_STALENESS}};
///
/// // maxStalenessSeconds must be at least heartbeat + idle write period (and 90 s).
/// let lower_bound = (DEFAULT_HEARTBEAT_FREQUENCY + IDLE_WRITE_PERIOD).max(SMALLEST_MAX_STALENESS);
/// assert_eq!(lower_bound, Duration::from_secs(90));
/// ```
pub const IDLE_WRITE_PERIOD: Duration = Duration::from_secs(10);

/// The smallest `maxStalenessSeconds` allowed (`smallestMaxStalenessSeconds`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::selection::SMALLEST_MAX_STALENESS;
///
/// assert_eq!(SMALLEST_MAX_STALENESS, Duration::from_secs(90));
/// ```
pub const SMALLEST_MAX_STALENESS: Duration = Duration::from_secs(90);

/// Checks a staleness bound against a replica set: it must be at least
/// [`SMALLEST_MAX_STALENESS`] and at least `heartbeat_frequency` + [`IDLE_WRITE_PERIOD`],
/// the precision of the estimate. (Other topologies pass the bound on to mongos, or
/// ignore it.)
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when the bound is
/// too small.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::selection::validate_max_staleness;
///
/// let secs = Duration::from_secs;
/// assert!(validate_max_staleness(secs(90), secs(10)).is_ok());
/// assert!(validate_max_staleness(secs(89), Duration::from_millis(500)).is_err());
/// assert!(validate_max_staleness(secs(100), secs(100)).is_err()); // 100 < 100 + 10
/// ```
pub fn validate_max_staleness(
    max_staleness: Duration,
    heartbeat_frequency: Duration,
) -> Result<()> {
    if max_staleness < SMALLEST_MAX_STALENESS {
        return Err(Error::invalid_argument(format!(
            "maxStalenessSeconds is {}, it must be at least {}",
            max_staleness.as_secs(),
            SMALLEST_MAX_STALENESS.as_secs()
        )));
    }
    let precision = heartbeat_frequency + IDLE_WRITE_PERIOD;
    if max_staleness < precision {
        return Err(Error::invalid_argument(format!(
            "maxStalenessSeconds is {} s, it must be at least heartbeatFrequencyMS + 10 s \
             ({} ms)",
            max_staleness.as_secs(),
            precision.as_millis()
        )));
    }
    Ok(())
}

/// The estimated staleness of `server` in `topology`, or `None` when it cannot be
/// estimated (a missing `lastWriteDate` or update time, or no reference server).
///
/// Non-secondaries have zero staleness. With a primary `P`, a secondary `S`'s staleness
/// is `(S.lastUpdateTime - S.lastWriteDate) - (P.lastUpdateTime - P.lastWriteDate) +
/// heartbeat_frequency`; without one it is `SMax.lastWriteDate - S.lastWriteDate +
/// heartbeat_frequency`, `SMax` being the secondary with the latest write. A negative
/// estimate counts as zero.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use greenmongo::{
///     options::ServerAddress,
///     sdam::{ServerDescription, ServerType, TopologyDescription, TopologyType},
///     selection::staleness,
/// };
///
/// let secondary = |host: &str, last_write_ms| {
///     let mut sd = ServerDescription::new(ServerAddress::tcp(host, 27017));
///     sd.server_type = ServerType::RsSecondary;
///     sd.last_write_date = Some(bson::DateTime::from_millis(last_write_ms));
///     sd.last_update_time = Some(Instant::now());
///     sd
/// };
/// let (a, b) = (secondary("a", 60_000), secondary("b", 0));
/// let topology = TopologyDescription::with_servers(TopologyType::ReplicaSetNoPrimary, [a.clone(), b.clone()]);
/// let heartbeat = Duration::from_secs(10);
/// assert_eq!(staleness(&topology, &b, heartbeat), Some(Duration::from_secs(70)));
/// assert_eq!(staleness(&topology, &a, heartbeat), Some(Duration::from_secs(10)));
/// ```
pub fn staleness(
    topology: &TopologyDescription,
    server: &ServerDescription,
    heartbeat_frequency: Duration,
) -> Option<Duration> {
    if server.server_type != ServerType::RsSecondary {
        return Some(Duration::ZERO);
    }
    let heartbeat = nanos(heartbeat_frequency);
    let s_write = date_nanos(server.last_write_date?);
    let estimate = match topology.primary() {
        Some(p) => {
            let updates = nanos_between(server.last_update_time?, p.last_update_time?);
            updates - (s_write - date_nanos(p.last_write_date?)) + heartbeat
        }
        None => {
            let newest = topology
                .servers()
                .filter(|sd| sd.server_type == ServerType::RsSecondary)
                .filter_map(|sd| sd.last_write_date)
                .max()?;
            date_nanos(newest) - s_write + heartbeat
        }
    };
    Some(Duration::from_nanos(
        u64::try_from(estimate.max(0)).unwrap_or(u64::MAX),
    ))
}

fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

fn date_nanos(d: bson::DateTime) -> i128 {
    i128::from(d.timestamp_millis()) * 1_000_000
}

/// `later - earlier` in nanoseconds, negative when `later` is earlier.
fn nanos_between(later: Instant, earlier: Instant) -> i128 {
    match later.checked_duration_since(earlier) {
        Some(d) => nanos(d),
        None => -nanos(earlier.duration_since(later)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{options::ServerAddress, sdam::TopologyType};

    fn member(host: &str, kind: ServerType, updated: Instant, write_ms: i64) -> ServerDescription {
        let mut sd = ServerDescription::new(ServerAddress::tcp(host, 27017));
        sd.server_type = kind;
        sd.last_update_time = Some(updated);
        sd.last_write_date = Some(bson::DateTime::from_millis(write_ms));
        sd
    }

    #[test]
    fn staleness_with_a_primary_accounts_for_check_times() {
        let t0 = Instant::now();
        let p = member("p", ServerType::RsPrimary, t0, 50_000);
        // Checked 30 s after the primary, its last write 10 s older than the primary's.
        let s = member(
            "s",
            ServerType::RsSecondary,
            t0 + Duration::from_secs(30),
            40_000,
        );
        let topology = TopologyDescription::with_servers(
            TopologyType::ReplicaSetWithPrimary,
            [p.clone(), s.clone()],
        );
        let hb = Duration::from_secs(10);
        assert_eq!(staleness(&topology, &s, hb), Some(Duration::from_secs(50)));
        assert_eq!(staleness(&topology, &p, hb), Some(Duration::ZERO));
        // Checked before the primary: the difference is negative and still counts.
        let early = member("s", ServerType::RsSecondary, t0, 45_000);
        assert_eq!(
            staleness(&topology, &early, hb),
            Some(Duration::from_secs(15))
        );
    }

    #[test]
    fn unknown_last_write_means_unknown_staleness() {
        let mut s = member("s", ServerType::RsSecondary, Instant::now(), 0);
        s.last_write_date = None;
        let topology =
            TopologyDescription::with_servers(TopologyType::ReplicaSetNoPrimary, [s.clone()]);
        assert_eq!(staleness(&topology, &s, Duration::ZERO), None);
    }
}
