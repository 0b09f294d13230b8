//! One line per frame for `--trace` and `vswitch trace`: the simulator's trace
//! format ([`vswitch_core::summary::TraceLine`]), so that a real and a simulated
//! switch can be compared line by line.

use vswitch_core::summary::TraceLine;
use vswitch_core::Verdict;

/// The trace line of one frame, `time_ns` after the switch started.
pub fn line(
    time_ns: u64,
    switch: &str,
    ingress: &str,
    frame: &[u8],
    verdict: Verdict,
    egress: &[&str],
) -> String {
    TraceLine {
        time_ns,
        switch,
        ingress,
        frame,
        verdict,
        egress,
    }
    .to_string()
}
