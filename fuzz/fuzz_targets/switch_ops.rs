//! A switch driven by an arbitrary sequence of frames, batches, time steps
//! (forwards and backwards), port changes, flag and VLAN changes, static
//! entries and flushes, with small tables and both eviction policies, VLAN-aware
//! or not, hub or not. Every step is checked against the forwarding rules and
//! the table's invariants, and `Switch::forward` against `Switch::decide`
//! (see `vswitch_fuzz::check`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitch_fuzz::check;
use vswitch_fuzz::ops::Scenario;

fuzz_target!(|s: Scenario| {
    check::run(&s);
});
