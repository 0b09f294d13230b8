//! vswitch-sim: a deterministic simulator for vswitch.
//!
//! A virtual clock that only the simulator advances, virtual wires, hosts built
//! on smoltcp, synthetic traffic, pcap replay in and pcap capture out. The same
//! scenario and seed give byte-identical captures and JSON.
#![warn(missing_docs)]

pub mod engine;
pub mod host;
pub mod pcap;
pub mod plot;
pub mod progress;
pub mod replay;
pub mod report;
pub mod results;
pub mod scenario;
pub mod traffic;
pub mod underlay;
pub mod units;
pub mod wire;

pub use engine::{SimError, Simulation};
pub use results::SimReport;
pub use scenario::Scenario;
