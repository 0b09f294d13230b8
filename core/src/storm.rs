//! Storm control: per-port token buckets that cap, in frames per second, the
//! broadcast, multicast and unknown-unicast frames a port may flood.
//!
//! A flood is charged to its ingress port and kind when it is decided; a frame
//! that finds its bucket empty is dropped and counted as `storm`. Known unicast
//! is never limited. Each bucket refills at its rate and holds at most a tenth
//! of a second of frames (at least one), so a port may burst briefly but not
//! keep a loop going. Arithmetic is in thousandths of a frame over the
//! millisecond clock the caller passes in: exact and deterministic.
//!
//! ```
//! use vswitch_core::storm::TokenBucket;
//! use vswitch_core::Instant;
//! let mut b = TokenBucket::default();
//! // 100 frames per second: a burst of 10, then one every 10 ms.
//! let passed = (0..20).filter(|_| b.take(Instant::ZERO, 100)).count();
//! assert_eq!(passed, 10);
//! assert!(!b.take(Instant::from_millis(9), 100));
//! assert!(b.take(Instant::from_millis(10), 100));
//! ```

use crate::time::Instant;
use crate::types::FloodKind;

/// One frame in the bucket's unit (thousandths of a frame).
const FRAME: u64 = 1000;

/// Flood rate limits of one port, in frames per second; `None` is no limit
/// (the default), `Some(0)` floods nothing of that kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StormControl {
    /// Broadcast frames.
    pub broadcast: Option<u32>,
    /// Multicast frames (link-local ones in the group-forward mask included).
    pub multicast: Option<u32>,
    /// Unicast frames to unknown destinations.
    pub unknown_unicast: Option<u32>,
}

impl StormControl {
    /// True if any kind is limited.
    pub fn is_on(&self) -> bool {
        self.broadcast.is_some() || self.multicast.is_some() || self.unknown_unicast.is_some()
    }

    /// The limit for floods of `kind` (hub floods are never limited).
    pub fn rate(&self, kind: FloodKind) -> Option<u32> {
        match kind {
            FloodKind::Broadcast => self.broadcast,
            FloodKind::Multicast => self.multicast,
            FloodKind::UnknownUnicast => self.unknown_unicast,
            FloodKind::Hub => None,
        }
    }
}

/// The most a bucket of `rate` frames per second holds, in thousandths of a
/// frame: a tenth of a second of frames, at least one frame (none at rate 0).
pub fn burst(rate: u32) -> u64 {
    if rate == 0 {
        0
    } else {
        (u64::from(rate) * FRAME / 10).max(FRAME)
    }
}

/// A token bucket: full when first used, refilled at the rate given on each use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenBucket {
    /// Thousandths of a frame available.
    tokens: u64,
    /// Time of the last refill in ms, `None` before the first use.
    last: Option<u64>,
}

impl TokenBucket {
    /// Refills for the time since the last use, then takes one frame if there
    /// is one. Time that goes backwards refills nothing.
    pub fn take(&mut self, now: Instant, rate: u32) -> bool {
        let now = now.millis();
        let cap = burst(rate);
        match self.last {
            None => {
                self.tokens = cap;
                self.last = Some(now);
            }
            Some(last) if now > last => {
                // A rate in frames per second is exactly `rate` thousandths per ms.
                let add = (now - last).saturating_mul(u64::from(rate));
                self.tokens = self.tokens.saturating_add(add).min(cap);
                self.last = Some(now);
            }
            Some(_) => {}
        }
        if self.tokens >= FRAME {
            self.tokens -= FRAME;
            true
        } else {
            false
        }
    }

    /// Whole frames available (as of the last use).
    pub fn frames(&self) -> u64 {
        self.tokens / FRAME
    }

    /// True if, with no use since the last, the bucket is full again at
    /// `now`: a burst's worth of quiet time has passed. Changes nothing.
    pub fn refilled(&self, now: Instant, rate: u32) -> bool {
        let Some(last) = self.last else {
            return true;
        };
        let add = now
            .millis()
            .saturating_sub(last)
            .saturating_mul(u64::from(rate));
        self.tokens.saturating_add(add) >= burst(rate)
    }
}

/// The three buckets of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StormBuckets {
    broadcast: TokenBucket,
    multicast: TokenBucket,
    unknown_unicast: TokenBucket,
}

impl StormBuckets {
    /// True if a flood of `kind` at `now` is within `limits`; takes its token.
    pub fn admit(&mut self, limits: &StormControl, kind: FloodKind, now: Instant) -> bool {
        let Some(rate) = limits.rate(kind) else {
            return true;
        };
        let bucket = match kind {
            FloodKind::Broadcast => &mut self.broadcast,
            FloodKind::Multicast => &mut self.multicast,
            FloodKind::UnknownUnicast => &mut self.unknown_unicast,
            FloodKind::Hub => return true,
        };
        bucket.take(now, rate)
    }

    /// True if the bucket of `kind` is full again at `now` (see
    /// [`TokenBucket::refilled`]), or `kind` has no limit.
    pub fn refilled(&self, limits: &StormControl, kind: FloodKind, now: Instant) -> bool {
        let Some(rate) = limits.rate(kind) else {
            return true;
        };
        match kind {
            FloodKind::Broadcast => self.broadcast.refilled(now, rate),
            FloodKind::Multicast => self.multicast.refilled(now, rate),
            FloodKind::UnknownUnicast => self.unknown_unicast.refilled(now, rate),
            FloodKind::Hub => true,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn ms(t: u64) -> Instant {
        Instant::from_millis(t)
    }

    #[test]
    fn a_bucket_bursts_then_keeps_its_rate() {
        let mut b = TokenBucket::default();
        // 1000/s: burst of 100 at once, then one per ms.
        assert_eq!((0..150).filter(|_| b.take(ms(5), 1000)).count(), 100);
        assert!(!b.take(ms(5), 1000));
        assert!(b.take(ms(6), 1000));
        assert!(!b.take(ms(6), 1000));
        // Over one second at most rate + burst frames pass.
        let mut b = TokenBucket::default();
        let mut passed = 0;
        for t in 0..1000 {
            for _ in 0..10 {
                passed += usize::from(b.take(ms(t), 1000));
            }
        }
        assert_eq!(passed, 100 + 999);
    }

    #[test]
    fn slow_rates_use_thousandths() {
        let mut b = TokenBucket::default();
        // 3 frames per second: burst of one, then one every 333.3 ms.
        assert!(b.take(ms(0), 3));
        assert!(!b.take(ms(333), 3));
        assert!(b.take(ms(334), 3));
        // A full bucket holds no fraction over its frame: the next one is
        // 334 ms later again.
        assert!(!b.take(ms(667), 3));
        assert!(b.take(ms(668), 3));
        assert_eq!(b.frames(), 0);
    }

    #[test]
    fn zero_rate_passes_nothing_and_time_going_back_refills_nothing() {
        let mut b = TokenBucket::default();
        assert!(!b.take(ms(0), 0));
        assert!(!b.take(ms(u64::MAX), 0));
        let mut b = TokenBucket::default();
        assert!(b.take(ms(1000), 1));
        assert!(!b.take(ms(0), 1));
        assert!(!b.take(ms(1999), 1));
        assert!(b.take(ms(2000), 1));
        // The end of time does not overflow.
        assert!(b.take(ms(u64::MAX), u32::MAX));
    }

    #[test]
    fn each_kind_has_its_own_bucket() {
        let limits = StormControl {
            broadcast: Some(10),
            multicast: Some(0),
            unknown_unicast: None,
        };
        assert!(limits.is_on() && !StormControl::default().is_on());
        let mut s = StormBuckets::default();
        let t = ms(0);
        assert!(s.admit(&limits, FloodKind::Broadcast, t));
        assert!(!s.admit(&limits, FloodKind::Broadcast, t));
        assert!(!s.admit(&limits, FloodKind::Multicast, t));
        assert!((0..100).all(|_| s.admit(&limits, FloodKind::UnknownUnicast, t)));
        assert!(s.admit(&limits, FloodKind::Hub, t));
        assert!(s.admit(&limits, FloodKind::Broadcast, ms(100)));
    }
}
