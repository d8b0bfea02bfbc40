//! Simulated time: integer microseconds since the start of a run. The core never reads a clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in simulated time, in microseconds since the run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

/// A span of simulated time, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: u64,
}

impl Instant {
    /// The start of every run.
    pub const ZERO: Instant = Instant { micros: 0 };

    pub const fn from_micros(micros: u64) -> Instant {
        Instant { micros }
    }
    pub const fn from_millis(millis: u64) -> Instant {
        Instant { micros: millis * 1_000 }
    }
    pub const fn from_secs(secs: u64) -> Instant {
        Instant { micros: secs * 1_000_000 }
    }
    pub const fn as_micros(self) -> u64 {
        self.micros
    }
    /// Seconds as a float, for display and JSON only; never for ordering.
    pub fn as_secs_f64(self) -> f64 {
        self.micros as f64 / 1e6
    }
    /// The whole minute this instant falls in (0 for 0:00–0:59.999999).
    pub const fn minute(self) -> u64 {
        self.micros / 60_000_000
    }
    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration { micros: self.micros.saturating_sub(earlier.micros) }
    }
}

impl Duration {
    pub const ZERO: Duration = Duration { micros: 0 };

    pub const fn from_micros(micros: u64) -> Duration {
        Duration { micros }
    }
    pub const fn from_millis(millis: u64) -> Duration {
        Duration { micros: millis * 1_000 }
    }
    pub const fn from_secs(secs: u64) -> Duration {
        Duration { micros: secs * 1_000_000 }
    }
    pub const fn as_micros(self) -> u64 {
        self.micros
    }
    pub fn as_secs_f64(self) -> f64 {
        self.micros as f64 / 1e6
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant { micros: self.micros + rhs.micros }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.micros += rhs.micros;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// # Panics
    /// If `rhs` is later than `self`: time in a run never goes backwards.
    fn sub(self, rhs: Instant) -> Duration {
        Duration { micros: self.micros.checked_sub(rhs.micros).expect("instant subtraction went negative") }
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration { micros: self.micros + rhs.micros }
    }
}

/// Seconds with microsecond precision: `12.000250`.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.micros / 1_000_000, self.micros % 1_000_000)
    }
}

/// The shortest exact unit: `250µs`, `1.5ms`, `5s`, `2m`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.micros;
        if us == 0 {
            write!(f, "0s")
        } else if us.is_multiple_of(60_000_000) {
            write!(f, "{}m", us / 60_000_000)
        } else if us.is_multiple_of(1_000_000) {
            write!(f, "{}s", us / 1_000_000)
        } else if us >= 1_000_000 {
            write!(f, "{}s", trim(us as f64 / 1e6))
        } else if us.is_multiple_of(1_000) {
            write!(f, "{}ms", us / 1_000)
        } else if us >= 1_000 {
            write!(f, "{}ms", trim(us as f64 / 1e3))
        } else {
            write!(f, "{us}µs")
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_exact_and_short() {
        assert_eq!(Instant::from_micros(12_000_250).to_string(), "12.000250");
        assert_eq!(Duration::from_micros(250).to_string(), "250µs");
        assert_eq!(Duration::from_micros(1_500).to_string(), "1.5ms");
        assert_eq!(Duration::from_secs(5).to_string(), "5s");
        assert_eq!(Duration::from_secs(120).to_string(), "2m");
        assert_eq!(Duration::from_millis(2_500).to_string(), "2.5s");
    }

    #[test]
    fn minutes_are_whole_windows() {
        assert_eq!(Instant::from_secs(59).minute(), 0);
        assert_eq!(Instant::from_secs(60).minute(), 1);
    }
}
