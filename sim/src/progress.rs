//! A progress bar for long simulations and replays, on stderr only when stderr
//! is a terminal and only once the work has taken about a second, so short runs,
//! pipes and CI logs stay clean.
//!
//! Wall-clock time is read here for display only; nothing the simulator computes
//! depends on it.
//!
//! ```
//! use vswitch_sim::progress::Progress;
//! let mut p = Progress::new(1_000, "frames");
//! for done in 0..=1_000 {
//!     p.set(done);
//! }
//! p.finish();
//! ```

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How long the work runs before the bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// The clock is read once per this many calls of [`Progress::set`].
const CHECK_EVERY: u32 = 256;

/// Progress of one operation of known size.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    what: String,
    /// None when the bar can never be shown (stderr not a terminal).
    started: Option<Instant>,
    bar: Option<ProgressBar>,
    calls: u32,
}

impl Progress {
    /// Progress of `total` units of `what` (`"frames"`, `"events"`), starting now.
    pub fn new(total: u64, what: &str) -> Progress {
        let started = std::io::stderr().is_terminal().then(Instant::now);
        Progress {
            total,
            what: what.to_string(),
            started,
            bar: None,
            calls: 0,
        }
    }

    /// Progress that never shows anything.
    pub fn hidden() -> Progress {
        Progress {
            total: 0,
            what: String::new(),
            started: None,
            bar: None,
            calls: 0,
        }
    }

    /// Reports that `done` units are done.
    pub fn set(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        let Some(started) = self.started else {
            return;
        };
        self.calls = self.calls.wrapping_add(1);
        if self.calls % CHECK_EVERY != 0 || started.elapsed() < SHOW_AFTER {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
        let template = format!(
            "{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {} ({{eta}} left)",
            self.what
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_position(done);
        self.bar = Some(bar);
    }

    /// True once the bar is on screen.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Removes the bar, if it was shown.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hidden_never_shows() {
        let mut p = Progress::hidden();
        for i in 0..10_000 {
            p.set(i);
        }
        assert!(!p.is_visible());
        p.finish();
    }

    #[test]
    fn quick_work_shows_nothing() {
        // Under the test harness stderr is captured or, if it is a terminal, the
        // work is far shorter than a second: no bar either way.
        let mut p = Progress::new(100, "frames");
        for i in 0..=100 {
            p.set(i);
        }
        assert!(!p.is_visible());
        p.finish();
    }
}
