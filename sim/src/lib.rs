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

/// A scratch directory for one unit test, removed when dropped, also when the
/// test fails (a panic unwinds through the drop).
#[cfg(test)]
pub(crate) struct TestDir(std::path::PathBuf);

#[cfg(test)]
impl TestDir {
    /// A new, empty `vswitch-<name>-<pid>` under the system's temporary
    /// directory: a name per test, so that tests running at once never share one.
    pub(crate) fn new(name: &str) -> TestDir {
        let dir = std::env::temp_dir().join(format!("vswitch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    /// `name` inside the directory.
    pub(crate) fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub use engine::{SimError, Simulation};
pub use results::SimReport;
pub use scenario::Scenario;
