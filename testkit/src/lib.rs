//! Test support for vswitch, shared by the core's property tests
//! (`core/tests/model.rs`) and the `switch_ops` fuzz target (`fuzz/`):
//!
//! - [`frame`] and [`op`]: frames, ports, configurations and operations as the
//!   generators describe them (proptest strategies draw them in the core's
//!   tests; the fuzz crate decodes them from bytes);
//! - [`model`]: the plain reference model of the forwarding rules in
//!   docs/forwarding.md;
//! - [`check`]: what must hold of one decision, of the whole switch between
//!   steps, between two switches fed alike, and between the switch and the model;
//! - [`run`]: running a configuration and a sequence of operations through
//!   those checks, one runner per property.
//!
//! A broken rule is a [`Failure`] carrying the step and what went wrong; the
//! property tests return it (proptest then shrinks the case), the fuzz target
//! panics with it.
//!
//! ```
//! use vswitch_testkit::frame::{Addr, FrameSpec};
//! use vswitch_testkit::op::{Cfg, Op, PortSpec};
//! use vswitch_testkit::run;
//!
//! let cfg = Cfg {
//!     ports: vec![PortSpec::default(); 2],
//!     ..Cfg::default()
//! };
//! let ops = [
//!     Op::Frame(0, FrameSpec::new(Addr::Broadcast, Addr::Host(0))),
//!     Op::Frame(1, FrameSpec::new(Addr::Host(0), Addr::Host(1))),
//! ];
//! run::switch_matches_model(&cfg, &ops).unwrap();
//! run::forward_matches_decide(&cfg, &ops).unwrap();
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

/// Returns a [`Failure`] from the function unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::Failure::new(format!($($msg)+)));
        }
    };
}

/// Returns a [`Failure`] from the function unless the two values are equal.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err($crate::Failure::new(format!(
                        "{}\n  left: {:?}\n right: {:?}",
                        format_args!($($msg)+),
                        left,
                        right
                    )));
                }
            }
        }
    };
}

pub mod check;
pub mod frame;
pub mod model;
pub mod op;
pub mod run;

/// A rule the switch broke: what was expected and what happened, and at which
/// step of the sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// A failure with this message.
    pub fn new(message: String) -> Failure {
        Failure(message)
    }

    /// The same failure, said to have happened at step `step`, operation `op`.
    pub fn at(self, step: usize, op: &op::Op) -> Failure {
        Failure(format!("step {step} ({op:?}): {}", self.0))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Property tests turn it into a failed case with `?`.
impl std::error::Error for Failure {}

/// What a check gives: `Ok` when the rule held.
pub type Checked<T = ()> = Result<T, Failure>;
