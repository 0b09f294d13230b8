//! Time as the core sees it: a value passed in, never read from a clock.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time in milliseconds since an arbitrary origin chosen by the caller.
///
/// The simulator passes virtual time, the Linux backend `CLOCK_MONOTONIC`. The
/// core never reads a clock. Aging works at millisecond resolution, finer than the
/// Linux bridge's jiffies. Time passed to the core should not go backwards; if it
/// does, the core keeps using the latest time it was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    /// An instant `s` seconds after the origin.
    pub const fn from_secs(s: u64) -> Instant {
        Instant(s.saturating_mul(1000))
    }

    /// An instant `ns` nanoseconds after the origin, rounded down to the millisecond.
    pub const fn from_nanos(ns: u64) -> Instant {
        Instant(ns / 1_000_000)
    }

    /// Milliseconds since the origin.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_millis() as u64))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.as_millis() as u64))
    }
}
