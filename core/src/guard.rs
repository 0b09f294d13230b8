//! The MAC-move guard: a MAC that moves between ports too often (a loop, or a
//! spoofer) is pinned where it is for a hold-down time, or the port it keeps
//! moving to is shut down for that time.
//!
//! Moves of each (vid, MAC) are counted in windows: the first move opens a
//! window of `window`; a move at or after its end opens a new one. The move
//! that makes the count exceed `moves` triggers the guard:
//!
//! - [`GuardAction::HoldDown`]: that move and every other move of the MAC until
//!   `hold` has passed are refused (counted as blocked). The entry stays where
//!   it is and keeps being refreshed there; the frames are still forwarded.
//! - [`GuardAction::Shutdown`]: the frame is dropped (`move-guard`) and the
//!   ingress port is shut down for `hold`: it is down, its learned entries are
//!   flushed, and link-up events do not bring it back until the time is over.
//!   Frames of the same batch decided for the port before the shutdown
//!   (hairpin, floods) are not sent to it: they are `tx-down` drops on it
//!   ([`crate::Switch::forward`]).
//!
//! ```
//! use core::time::Duration;
//! use vswitch_core::guard::{GuardAction, MoveCheck, MoveGuard, MoveGuardConfig};
//! use vswitch_core::Instant;
//! let mut g = MoveGuard::new(MoveGuardConfig {
//!     moves: 2,
//!     window: Duration::from_secs(10),
//!     hold: Duration::from_secs(60),
//!     action: GuardAction::HoldDown,
//! });
//! let t = Instant::from_secs(1);
//! assert_eq!(g.on_move(t, 7), MoveCheck::Allow);
//! assert_eq!(g.on_move(t, 7), MoveCheck::Allow);
//! assert_eq!(g.on_move(t, 7), MoveCheck::Trigger);
//! assert_eq!(g.on_move(Instant::from_secs(60), 7), MoveCheck::Held);
//! assert_eq!(g.on_move(Instant::from_secs(61), 7), MoveCheck::Allow);
//! ```

use crate::time::Instant;
use alloc::collections::BTreeMap;
use core::time::Duration;

/// What the guard does when a MAC moves too often.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GuardAction {
    /// Stop moving the MAC's entry for the hold-down time.
    #[default]
    HoldDown,
    /// Shut the port the MAC moved to down for the hold-down time.
    Shutdown,
}

/// Settings of the MAC-move guard (switch-wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MoveGuardConfig {
    /// Moves allowed per window; one more triggers the guard.
    pub moves: u32,
    /// The window in which moves are counted.
    pub window: Duration,
    /// How long a hold-down or a shutdown lasts.
    pub hold: Duration,
    /// What to do.
    pub action: GuardAction,
}

impl Default for MoveGuardConfig {
    /// 5 moves in 10 s; hold down for 60 s.
    fn default() -> Self {
        MoveGuardConfig {
            moves: 5,
            window: Duration::from_secs(10),
            hold: Duration::from_secs(60),
            action: GuardAction::HoldDown,
        }
    }
}

/// Totals of the protections that act at learning (move guard, MAC limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GuardStats {
    /// Moves refused because the MAC was held down (the triggering move included).
    pub moves_blocked: u64,
    /// Hold-downs started.
    pub hold_downs: u64,
    /// Ports shut down by the move guard.
    pub shutdowns: u64,
    /// MACs not learned because their port had reached its MAC limit (in both
    /// modes; in `drop` mode the frame is also counted as a `mac-limit` drop).
    pub mac_limit_refused: u64,
}

impl GuardStats {
    /// True if nothing happened.
    pub fn is_quiet(&self) -> bool {
        *self == GuardStats::default()
    }
}

/// What the guard says about one attempted move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveCheck {
    /// Let the entry move.
    Allow,
    /// The MAC is held down: refuse the move.
    Held,
    /// This move is one too many: act (hold down, or shut the port down).
    Trigger,
}

/// Per-MAC move history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct History {
    /// Start of the current counting window, ms.
    window_start: u64,
    /// Moves counted in it.
    moves: u32,
    /// Moves are refused before this time, ms.
    held_until: u64,
}

/// The guard's state: a small history per MAC that has moved recently.
#[derive(Clone, Debug)]
pub struct MoveGuard {
    config: MoveGuardConfig,
    window_ms: u64,
    hold_ms: u64,
    history: BTreeMap<u64, History>,
    /// Size of `history` after the last pruning.
    pruned_len: usize,
}

impl MoveGuard {
    /// A guard with no history.
    pub fn new(config: MoveGuardConfig) -> MoveGuard {
        MoveGuard {
            config,
            window_ms: config.window.as_millis().min(u128::from(u64::MAX)) as u64,
            hold_ms: config.hold.as_millis().min(u128::from(u64::MAX)) as u64,
            history: BTreeMap::new(),
            pruned_len: 0,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &MoveGuardConfig {
        &self.config
    }

    /// The end of a hold-down or shutdown that starts at `now`.
    pub fn hold_end(&self, now: Instant) -> Instant {
        Instant::from_millis(now.millis().saturating_add(self.hold_ms))
    }

    /// Records an attempt to move the entry `key` (any number naming a (vid,
    /// MAC)) at `now`, and says what to do with it. After a trigger the count
    /// starts again; with [`GuardAction::HoldDown`] the MAC is held until
    /// `now + hold`.
    pub fn on_move(&mut self, now: Instant, key: u64) -> MoveCheck {
        let now = now.millis();
        self.prune(now);
        let h = self.history.entry(key).or_insert(History {
            window_start: now,
            moves: 0,
            held_until: 0,
        });
        if now < h.held_until {
            return MoveCheck::Held;
        }
        if h.moves == 0 || now.saturating_sub(h.window_start) >= self.window_ms {
            h.window_start = now;
            h.moves = 0;
        }
        h.moves += 1;
        if h.moves <= self.config.moves {
            return MoveCheck::Allow;
        }
        h.moves = 0;
        if self.config.action == GuardAction::HoldDown {
            h.held_until = now.saturating_add(self.hold_ms);
        }
        MoveCheck::Trigger
    }

    /// True while moves of `key` are refused.
    pub fn is_held(&self, now: Instant, key: u64) -> bool {
        self.history
            .get(&key)
            .is_some_and(|h| now.millis() < h.held_until)
    }

    /// MACs with a move history (for tests and memory accounting).
    pub fn tracked(&self) -> usize {
        self.history.len()
    }

    /// Forgets histories that no longer matter (window over, not held), once
    /// the map has doubled since the last time: amortised constant cost.
    fn prune(&mut self, now: u64) {
        if self.history.len() < 2 * self.pruned_len + 64 {
            return;
        }
        let window = self.window_ms;
        self.history.retain(|_, h| {
            now < h.held_until || (h.moves > 0 && now.saturating_sub(h.window_start) < window)
        });
        self.pruned_len = self.history.len();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn guard(moves: u32, action: GuardAction) -> MoveGuard {
        MoveGuard::new(MoveGuardConfig {
            moves,
            window: Duration::from_secs(10),
            hold: Duration::from_secs(60),
            action,
        })
    }

    fn s(secs: u64) -> Instant {
        Instant::from_secs(secs)
    }

    #[test]
    fn moves_in_a_window_trigger_once_too_many() {
        let mut g = guard(3, GuardAction::HoldDown);
        for t in [0, 1, 2] {
            assert_eq!(g.on_move(s(t), 1), MoveCheck::Allow);
        }
        // Another MAC has its own count.
        assert_eq!(g.on_move(s(3), 2), MoveCheck::Allow);
        assert_eq!(g.on_move(s(9), 1), MoveCheck::Trigger);
        assert!(g.is_held(s(68), 1) && !g.is_held(s(69), 1));
        assert_eq!(g.on_move(s(68), 1), MoveCheck::Held);
        // After the hold-down the count starts again.
        for t in [69, 70, 71] {
            assert_eq!(g.on_move(s(t), 1), MoveCheck::Allow);
        }
        assert_eq!(g.on_move(s(72), 1), MoveCheck::Trigger);
    }

    #[test]
    fn a_new_window_starts_the_count_again() {
        let mut g = guard(2, GuardAction::HoldDown);
        assert_eq!(g.on_move(s(0), 1), MoveCheck::Allow);
        assert_eq!(g.on_move(s(9), 1), MoveCheck::Allow);
        // 10 s after the window opened: a new window.
        assert_eq!(g.on_move(s(10), 1), MoveCheck::Allow);
        assert_eq!(g.on_move(s(11), 1), MoveCheck::Allow);
        assert_eq!(g.on_move(s(12), 1), MoveCheck::Trigger);
    }

    #[test]
    fn shutdown_holds_nothing_and_zero_moves_trigger_at_once() {
        let mut g = guard(0, GuardAction::Shutdown);
        assert_eq!(g.on_move(s(0), 1), MoveCheck::Trigger);
        assert!(!g.is_held(s(0), 1));
        assert_eq!(g.on_move(s(0), 1), MoveCheck::Trigger);
        assert_eq!(g.hold_end(s(5)), s(65));
        assert_eq!(
            g.hold_end(Instant::from_millis(u64::MAX)).millis(),
            u64::MAX
        );
    }

    #[test]
    fn old_histories_are_pruned() {
        let mut g = guard(1000, GuardAction::HoldDown);
        for key in 0..10_000 {
            g.on_move(s(0), key);
        }
        assert_eq!(g.tracked(), 10_000, "all within their window");
        // A window later, all of them are stale and go on the next pruning.
        for key in 20_000..30_000 {
            g.on_move(s(10), key);
        }
        assert!(g.tracked() <= 10_000, "{}", g.tracked());
    }
}
