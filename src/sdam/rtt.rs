//! Round-trip time statistics of server checks: the moving average server selection uses
//! (Server Selection spec, "Calculation of Average Round Trip Times") and the minimum of
//! recent samples (Server Monitoring spec, "Measuring RTT").

use std::{collections::VecDeque, time::Duration};

/// Weight of a new sample in the moving average (the spec's `alpha`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::sdam::{moving_average, RTT_ALPHA};
///
/// let (old, sample) = (100.0, 200.0);
/// let expected = RTT_ALPHA * sample + (1.0 - RTT_ALPHA) * old; // 120 ms
/// assert_eq!(moving_average(Duration::from_millis(100), Duration::from_millis(200)), Duration::from_secs_f64(expected / 1000.0));
/// ```
pub const RTT_ALPHA: f64 = 0.2;

/// How many recent samples the minimum RTT is taken over.
const MIN_RTT_WINDOW: usize = 10;

/// The two round-trip times a [`ServerDescription`](super::ServerDescription) records.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::sdam::RoundTripTimes;
///
/// let rtt = RoundTripTimes { average: Duration::from_millis(4), minimum: Duration::from_millis(3) };
/// assert!(rtt.minimum <= rtt.average);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundTripTimes {
    /// The exponentially weighted moving average.
    pub average: Duration,
    /// The minimum of the last ten samples; zero until there are two.
    pub minimum: Duration,
}

/// One server's RTT samples, kept by its monitor.
///
/// The first sample becomes the average; each later sample `x` moves it to
/// `0.2 * x + 0.8 * average`. [`reset`](Self::reset) forgets everything, for when the
/// server becomes Unknown (the next sample then starts afresh).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::sdam::RttStats;
///
/// let ms = Duration::from_millis;
/// let mut rtt = RttStats::default();
/// assert_eq!(rtt.times(), None);
/// rtt.add_sample(ms(10));
/// assert_eq!(rtt.times().unwrap().average, ms(10));
/// assert_eq!(rtt.times().unwrap().minimum, Duration::ZERO); // one sample is not enough
/// rtt.add_sample(ms(20));
/// assert_eq!(rtt.times().unwrap().average, ms(12)); // 0.2 * 20 + 0.8 * 10
/// assert_eq!(rtt.times().unwrap().minimum, ms(10));
/// ```
#[derive(Clone, Debug, Default)]
pub struct RttStats {
    average: Option<Duration>,
    recent: VecDeque<Duration>,
}

impl RttStats {
    /// Records one measured round trip.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::sdam::RttStats;
    ///
    /// let mut rtt = RttStats::default();
    /// rtt.add_sample(Duration::from_millis(8));
    /// assert_eq!(rtt.times().unwrap().average, Duration::from_millis(8));
    /// ```
    pub fn add_sample(&mut self, rtt: Duration) {
        self.average = Some(match self.average {
            None => rtt,
            Some(old) => moving_average(old, rtt),
        });
        if self.recent.len() == MIN_RTT_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(rtt);
    }

    /// The average and minimum, or `None` before the first sample.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::sdam::RttStats;
    ///
    /// let mut rtt = RttStats::default();
    /// for ms in [5, 3, 9] {
    ///     rtt.add_sample(Duration::from_millis(ms));
    /// }
    /// assert_eq!(rtt.times().unwrap().minimum, Duration::from_millis(3));
    /// ```
    pub fn times(&self) -> Option<RoundTripTimes> {
        let average = self.average?;
        let minimum = if self.recent.len() < 2 {
            Duration::ZERO
        } else {
            self.recent.iter().copied().min().unwrap_or_default()
        };
        Some(RoundTripTimes { average, minimum })
    }

    /// Forgets all samples.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo::sdam::RttStats;
    ///
    /// let mut rtt = RttStats::default();
    /// rtt.add_sample(Duration::from_millis(5));
    /// rtt.reset(); // the server became Unknown
    /// assert_eq!(rtt.times(), None);
    /// ```
    pub fn reset(&mut self) {
        *self = RttStats::default();
    }
}

/// One step of the moving average: `alpha * sample + (1 - alpha) * old`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use greenmongo::sdam::moving_average;
///
/// let avg = moving_average(Duration::from_millis(1), Duration::from_millis(1000));
/// assert_eq!(avg, Duration::from_micros(200_800));
/// ```
pub fn moving_average(old: Duration, sample: Duration) -> Duration {
    let nanos = RTT_ALPHA * sample.as_nanos() as f64 + (1.0 - RTT_ALPHA) * old.as_nanos() as f64;
    Duration::from_nanos(nanos.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_covers_the_last_ten_samples() {
        let mut rtt = RttStats::default();
        rtt.add_sample(Duration::from_millis(1));
        for _ in 0..MIN_RTT_WINDOW {
            rtt.add_sample(Duration::from_millis(5));
        }
        assert_eq!(rtt.times().unwrap().minimum, Duration::from_millis(5));
        rtt.reset();
        assert_eq!(rtt.times(), None);
    }
}
