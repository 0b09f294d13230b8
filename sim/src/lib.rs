//! vswitch-sim: a deterministic simulator for vswitch.
//!
//! A virtual clock that only the simulator advances, virtual wires, hosts built
//! on smoltcp, synthetic traffic, pcap replay in and pcap capture out. The same
//! scenario and seed give byte-identical captures and JSON.
#![warn(missing_docs)]

pub mod report;
