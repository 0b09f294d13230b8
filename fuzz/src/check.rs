//! Runs a [`Scenario`] and checks the switch after every step, with
//! `vswitch_testkit::run::forward_matches_decide`: two switches built alike,
//! one fed through `Switch::forward` a batch at a time (with transmit faults),
//! the other through `Switch::decide` one frame at a time, each decision checked
//! against the forwarding rules as it is made; `forward` must decide the same,
//! deliver exactly what the decisions call for and count it, and between steps
//! both switches hold the table's and counters' invariants and agree on
//! everything observable.
//!
//! Every failed check panics, which is what libFuzzer reports.

use crate::ops::Scenario;
use vswitch_testkit::run;

/// Runs `s`, panicking at the first broken rule.
pub fn run(s: &Scenario) {
    if let Err(e) = run::forward_matches_decide(&s.cfg, &s.ops) {
        panic!("{e}");
    }
}
