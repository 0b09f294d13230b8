//! Replay of capture files into one switch: each file feeds one port, all files
//! are merged by timestamp, and the capture timestamps are the virtual time the
//! switch sees. What leaves each port can be captured, traced and plotted.
//!
//! Ports are named by the caller (`1`, `2`, `uplink`) and created in the order
//! given, so port number `i` is the `i`-th name. A port with no input file still
//! receives floods. Per-port settings of a [`SwitchSpec`] apply by name.
//!
//! Determinism: the FDB hash seed defaults to [`DEFAULT_HASH_SEED`] and nothing
//! reads a clock, so the same inputs give byte-identical captures and reports.
//!
//! ```no_run
//! use std::path::PathBuf;
//! use vswitch_core::spec::SwitchSpec;
//! use vswitch_sim::replay::{replay_files, ReplayOptions};
//! let options = ReplayOptions {
//!     inputs: vec![("1".into(), PathBuf::from("a.pcap")), ("2".into(), PathBuf::from("b.pcap"))],
//!     ..ReplayOptions::default()
//! };
//! let outcome = replay_files(&options, None)?;
//! println!("{}", outcome.summary);
//! # Ok::<(), vswitch_sim::replay::ReplayError>(())
//! ```

use crate::pcap::{open_capture, CaptureError, PcapFrame, PcapSink};
use crate::plot::{render_svg, PlotError, Timeline};
use crate::progress::Progress;
use crate::report::SwitchReport;
use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use vswitch_core::spec::SwitchSpec;
use vswitch_core::summary::TraceLine;
use vswitch_core::{Decision, Egress, Instant, PortId, Switch, Verdict};

/// The FDB hash seed used when the spec gives none. Fixed, so replays repeat.
pub const DEFAULT_HASH_SEED: u64 = 0x7673_7769_7463_6801;
/// The name of the replayed switch in traces and reports.
pub const SWITCH_NAME: &str = "replay";
/// Most points the plot's time axis gets; buckets are widened to fit.
const PLOT_BUCKETS: u64 = 1000;
/// Narrowest plot bucket: one millisecond, the core's clock resolution.
const MIN_PLOT_BUCKET_NS: u64 = 1_000_000;

/// Why a replay could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An input or output capture file.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The plot.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The switch configuration or the port list is not usable.
    #[error("{0}")]
    Config(String),
    /// The capture directory could not be created.
    #[error("cannot create capture directory {path:?}: {error}")]
    CaptureDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The trace could not be written (a closed pipe, say).
    #[error("cannot write the trace: {0}")]
    Trace(#[source] std::io::Error),
}

/// What to replay and how.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// (port name, capture file) pairs; a port may be named more than once to
    /// feed it several files.
    pub inputs: Vec<(String, PathBuf)>,
    /// More ports, without input.
    pub idle_ports: Vec<String>,
    /// The switch.
    pub spec: SwitchSpec,
    /// Write `DIR/port-<name>.pcap` for every port.
    pub capture_dir: Option<PathBuf>,
    /// Draw the run as an SVG here.
    pub plot: Option<PathBuf>,
    /// Show a progress bar on a terminal for long replays.
    pub progress: bool,
}

/// One input file of a replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InputReport {
    /// The port it fed.
    pub port: String,
    /// The file.
    pub file: String,
    /// Frames read from it.
    pub frames: u64,
    /// Where reading stopped early and why, for a damaged file.
    pub damaged: Option<String>,
}

/// Frame totals of a replay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrameTotals {
    /// Frames fed into the switch.
    pub replayed: u64,
    /// Frames sent out of ports (a flood counts once per port).
    pub delivered: u64,
    /// Frames sent to exactly one port.
    pub unicast: u64,
    /// Frames flooded (broadcast, multicast, unknown unicast, hub).
    pub flooded: u64,
    /// Frames dropped.
    pub dropped: u64,
    /// Timestamp of the first frame, nanoseconds since the epoch.
    pub first_ns: Option<u64>,
    /// Timestamp of the last frame.
    pub last_ns: Option<u64>,
}

/// Everything a replay reports; printed for people, serialised for `--json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// The input files.
    pub inputs: Vec<InputReport>,
    /// Frame totals.
    pub frames: FrameTotals,
    /// The switch's counters and table at the end.
    pub switch: SwitchReport,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.inputs {
            let s = if i.frames == 1 { "" } else { "s" };
            write!(f, "port {:<8} <- {} ({} frame{s}", i.port, i.file, i.frames)?;
            if let Some(d) = &i.damaged {
                write!(f, "; damaged: {d}")?;
            }
            writeln!(f, ")")?;
        }
        let t = &self.frames;
        write!(
            f,
            "frames: {} replayed, {} unicast, {} flooded, {} dropped; {} sent out of ports",
            t.replayed, t.unicast, t.flooded, t.dropped, t.delivered
        )?;
        if let (Some(a), Some(b)) = (t.first_ns, t.last_ns) {
            write!(
                f,
                " over {:.3} s of capture time",
                b.saturating_sub(a) as f64 / 1e9
            )?;
        }
        writeln!(f)?;
        self.switch.fmt(f)
    }
}

/// The result of a replay.
#[derive(Debug)]
pub struct ReplayOutcome {
    /// The report.
    pub summary: ReplaySummary,
    /// The timeline, when one was kept.
    pub timeline: Option<Timeline>,
}

/// A switch being fed frames one at a time, with its capture files and timeline.
pub struct Replayer {
    switch: Switch,
    names: Vec<String>,
    sinks: Vec<Option<PcapSink>>,
    timeline: Option<Timeline>,
    totals: FrameTotals,
    egress: Vec<usize>,
    write_error: Option<CaptureError>,
}

impl Replayer {
    /// A switch configured by `spec` with one port per name, in order; capture
    /// files in `capture_dir` if given; a timeline with `plot_bucket_ns` buckets
    /// if given.
    pub fn new(
        spec: &SwitchSpec,
        port_names: &[String],
        capture_dir: Option<&Path>,
        plot_bucket_ns: Option<u64>,
    ) -> Result<Replayer, ReplayError> {
        let config = spec.to_config(DEFAULT_HASH_SEED).map_err(|e| {
            ReplayError::Config(format!("the switch configuration is not usable: {e}"))
        })?;
        let mut switch = Switch::new(config).map_err(|e| {
            ReplayError::Config(format!("the switch configuration is not usable: {e}"))
        })?;
        for (i, name) in port_names.iter().enumerate() {
            check_port_name(name)?;
            if port_names[..i].contains(name) {
                return Err(ReplayError::Config(format!("port {name:?} is named twice")));
            }
            let port = spec
                .port_config(name)
                .map_err(|e| ReplayError::Config(format!("port {name:?}: {e}")))?;
            switch
                .add_port(port)
                .map_err(|e| ReplayError::Config(format!("port {name:?}: {e}")))?;
        }
        for name in spec.ports.keys() {
            if name != "default" && !port_names.contains(name) {
                return Err(ReplayError::Config(format!(
                    "the switch configuration has settings for port {name:?}, which the replay does not have; name it with --port or --idle-port"
                )));
            }
        }
        let mut sinks = Vec::new();
        if let Some(dir) = capture_dir {
            std::fs::create_dir_all(dir).map_err(|error| ReplayError::CaptureDir {
                path: dir.to_path_buf(),
                error,
            })?;
            for name in port_names {
                sinks.push(Some(PcapSink::create(
                    &dir.join(format!("port-{name}.pcap")),
                )?));
            }
        } else {
            sinks.resize_with(port_names.len(), || None);
        }
        Ok(Replayer {
            switch,
            names: port_names.to_vec(),
            sinks,
            timeline: plot_bucket_ns.map(|b| Timeline::new(b, port_names.to_vec())),
            totals: FrameTotals::default(),
            egress: Vec::new(),
            write_error: None,
        })
    }

    /// The switch.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// Feeds `frame`, received on port `port` (an index into the names) at
    /// `ts_ns`, through the switch; captures what leaves and writes a trace line
    /// to `trace` if given. Returns the decision.
    pub fn feed(
        &mut self,
        port: usize,
        ts_ns: u64,
        frame: &[u8],
        trace: Option<&mut dyn Write>,
    ) -> Result<Decision, ReplayError> {
        let ingress = PortId(u16::try_from(port).unwrap_or(u16::MAX));
        self.egress.clear();
        let egress = &mut self.egress;
        let sinks = &mut self.sinks;
        let write_error = &mut self.write_error;
        let timeline = &mut self.timeline;
        let decision = self.switch.forward_one(
            Instant::from_nanos(ts_ns),
            ingress,
            frame,
            |Egress {
                 port: out,
                 frame: bytes,
                 ..
             }| {
                let i = usize::from(out.0);
                egress.push(i);
                if let Some(Some(sink)) = sinks.get_mut(i) {
                    if let Err(e) = sink.write(ts_ns, bytes) {
                        write_error.get_or_insert(e);
                    }
                }
                if let Some(t) = timeline.as_mut() {
                    t.record_delivered(ts_ns, i);
                }
                Ok(())
            },
        );
        if let Some(e) = self.write_error.take() {
            return Err(e.into());
        }
        let t = &mut self.totals;
        t.replayed += 1;
        t.delivered += self.egress.len() as u64;
        t.first_ns.get_or_insert(ts_ns);
        t.last_ns = Some(ts_ns);
        match decision.verdict {
            Verdict::Unicast(_) => t.unicast += 1,
            Verdict::Flood(_) | Verdict::Group(_) => t.flooded += 1,
            Verdict::Drop(_) => t.dropped += 1,
        }
        if let Some(timeline) = self.timeline.as_mut() {
            if let Verdict::Drop(_) = decision.verdict {
                timeline.record_dropped(ts_ns, port);
            }
            timeline.record_fdb_size(ts_ns, self.switch.fdb().len() as u64);
        }
        if let Some(out) = trace {
            // Frames leave in port order, so the names come out sorted by port number.
            let names: Vec<&str> = self.egress.iter().map(|&i| self.name(i)).collect();
            let line = TraceLine {
                time_ns: ts_ns,
                switch: SWITCH_NAME,
                ingress: self.name(port),
                frame,
                verdict: decision.verdict,
                egress: &names,
            };
            writeln!(out, "{line}").map_err(ReplayError::Trace)?;
        }
        Ok(decision)
    }

    fn name(&self, port: usize) -> &str {
        self.names.get(port).map_or("?", String::as_str)
    }

    /// Flushes the capture files and reads the switch's report off at the time
    /// of the last frame.
    pub fn finish(mut self, inputs: Vec<InputReport>) -> Result<ReplayOutcome, ReplayError> {
        for sink in self.sinks.into_iter().flatten() {
            sink.finish()?;
        }
        let now = Instant::from_nanos(self.totals.last_ns.unwrap_or(0));
        let names = self.names;
        let switch = SwitchReport::new(SWITCH_NAME, &mut self.switch, now, |p| {
            names
                .get(usize::from(p))
                .cloned()
                .unwrap_or_else(|| p.to_string())
        });
        Ok(ReplayOutcome {
            summary: ReplaySummary {
                inputs,
                frames: self.totals,
                switch,
            },
            timeline: self.timeline,
        })
    }
}

/// Port names become file names (`port-<name>.pcap`), so they are kept plain.
fn check_port_name(name: &str) -> Result<(), ReplayError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name == "default" || !name.chars().all(plain) || name.starts_with('.') {
        return Err(ReplayError::Config(format!(
            "port name {name:?} is not usable: use letters, digits, '-', '_' or '.', not starting with '.', and not \"default\""
        )));
    }
    Ok(())
}

/// Reads every input, merges them by timestamp and replays them through one
/// switch; writes captures and the plot as asked, and a trace line per frame to
/// `trace` if given.
pub fn replay_files(
    options: &ReplayOptions,
    trace: Option<&mut dyn Write>,
) -> Result<ReplayOutcome, ReplayError> {
    if options.inputs.is_empty() {
        return Err(ReplayError::Config(
            "nothing to replay: give at least one port and capture file".to_string(),
        ));
    }
    let mut names: Vec<String> = Vec::new();
    for name in options
        .inputs
        .iter()
        .map(|(n, _)| n)
        .chain(&options.idle_ports)
    {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let mut reports = Vec::new();
    let mut files = Vec::new();
    let mut ports = Vec::new();
    for (name, path) in &options.inputs {
        let capture = open_capture(path)?;
        reports.push(InputReport {
            port: name.clone(),
            file: path.display().to_string(),
            frames: capture.frames.len() as u64,
            damaged: capture
                .damage
                .map(|(offset, why)| format!("stopped at byte {offset}: {why}")),
        });
        ports.push(names.iter().position(|n| n == name).unwrap_or(0));
        files.push(capture.frames);
    }
    let merged = crate::pcap::merge_by_time(files);
    let bucket = options.plot.as_ref().map(|_| plot_bucket_ns(&merged));
    let mut replayer = Replayer::new(
        &options.spec,
        &names,
        options.capture_dir.as_deref(),
        bucket,
    )?;
    let mut progress = if options.progress {
        Progress::new(merged.len() as u64, "frames")
    } else {
        Progress::hidden()
    };
    let mut trace = trace;
    for (done, (input, frame)) in merged.iter().enumerate() {
        let out: Option<&mut dyn Write> = match &mut trace {
            Some(w) => Some(&mut **w),
            None => None,
        };
        replayer.feed(ports[*input], frame.ts_ns, &frame.data, out)?;
        progress.set(done as u64 + 1);
    }
    progress.finish();
    let outcome = replayer.finish(reports)?;
    if let (Some(path), Some(timeline)) = (&options.plot, &outcome.timeline) {
        render_svg(timeline, path)?;
    }
    Ok(outcome)
}

/// A bucket that spreads the replay's time span over about `PLOT_BUCKETS` points.
fn plot_bucket_ns(frames: &[(usize, PcapFrame)]) -> u64 {
    let first = frames.iter().map(|(_, f)| f.ts_ns).min().unwrap_or(0);
    let last = frames.iter().map(|(_, f)| f.ts_ns).max().unwrap_or(0);
    ((last - first) / PLOT_BUCKETS).max(MIN_PLOT_BUCKET_NS)
}

/// Reads a switch configuration file: either a bare [`SwitchSpec`] (`aging = 300`,
/// `[ports.default]`, ...) or a scenario file with exactly one `[switch.NAME]` table.
pub fn load_switch_spec(path: &Path) -> Result<SwitchSpec, ReplayError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReplayError::Config(format!("cannot read {path:?}: {e}")))?;
    parse_switch_spec(&text).map_err(|e| ReplayError::Config(format!("{path:?}: {e}")))
}

/// Parses the text of a switch configuration file (see [`load_switch_spec`]).
pub fn parse_switch_spec(text: &str) -> Result<SwitchSpec, String> {
    let bare_error = match toml::from_str::<SwitchSpec>(text) {
        Ok(spec) => return Ok(spec),
        Err(e) => e.message().to_string(),
    };
    let value: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let Some(toml::Value::Table(switches)) = value.get("switch") else {
        return Err(bare_error);
    };
    let mut tables = switches.iter();
    match (tables.next(), tables.next()) {
        (Some((_, table)), None) => table
            .clone()
            .try_into::<SwitchSpec>()
            .map_err(|e| e.message().to_string()),
        _ => Err(format!(
            "the file describes {} switches; a replay needs exactly one",
            switches.len()
        )),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use vswitch_core::DropReason;

    fn eth(dst: u8, src: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, dst]);
        if dst == 0xff {
            f[..6].copy_from_slice(&[0xff; 6]);
        }
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, src]);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn learns_and_forwards_with_trace() {
        let mut r =
            Replayer::new(&SwitchSpec::default(), &names(&["a", "b", "c"]), None, None).unwrap();
        let mut trace = Vec::new();
        r.feed(0, 1_000_000_000, &eth(0xff, 1), Some(&mut trace))
            .unwrap();
        r.feed(1, 1_500_000_000, &eth(1, 2), Some(&mut trace))
            .unwrap();
        let d = r
            .feed(0, 2_000_000_000, &eth(1, 3), Some(&mut trace))
            .unwrap();
        assert_eq!(d.verdict, Verdict::Drop(DropReason::SamePort));
        let trace = String::from_utf8(trace).unwrap();
        let lines: Vec<&str> = trace.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0]
            .starts_with("   1.000000000 replay in=a 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff"));
        assert!(lines[0].ends_with("-> flood [b c]"), "{}", lines[0]);
        assert!(lines[1].ends_with("-> unicast [a]"), "{}", lines[1]);
        assert!(lines[2].ends_with("-> drop (same-port)"), "{}", lines[2]);
        let outcome = r.finish(Vec::new()).unwrap();
        let t = &outcome.summary.frames;
        assert_eq!(
            (t.replayed, t.unicast, t.flooded, t.dropped, t.delivered),
            (3, 1, 1, 1, 3)
        );
        assert_eq!(outcome.summary.switch.fdb.stats.current, 3);
    }

    #[test]
    fn captures_hold_frames_as_they_left_after_retagging() {
        let spec = parse_switch_spec(
            "vlan-aware = true\n[ports.trunk]\nvlan = { trunk = [10] }\n[ports.access]\nvlan = { access = 10 }\n",
        )
        .unwrap();
        let dir = crate::TestDir::new("replay-retagging");
        let mut r = Replayer::new(&spec, &names(&["trunk", "access"]), Some(&dir.0), None).unwrap();
        // Broadcast tagged VLAN 10 on the trunk: leaves the access port untagged.
        let mut tagged = eth(0xff, 1);
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
        r.feed(0, 5, &tagged, None).unwrap();
        // Unicast back from the access port: leaves the trunk tagged again.
        r.feed(1, 6, &eth(1, 2), None).unwrap();
        r.finish(Vec::new()).unwrap();
        let access = crate::pcap::read_capture(&dir.join("port-access.pcap")).unwrap();
        let trunk = crate::pcap::read_capture(&dir.join("port-trunk.pcap")).unwrap();
        assert_eq!(access.len(), 1);
        assert_eq!(access[0].data, eth(0xff, 1));
        assert_eq!(access[0].ts_ns, 5);
        let mut back = eth(1, 2);
        back.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
        assert_eq!(trunk.len(), 1);
        assert_eq!(trunk[0].data, back);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let spec = SwitchSpec::default();
        for bad in ["", "default", "a/b", "..", "x y"] {
            let e = Replayer::new(&spec, &names(&[bad]), None, None)
                .err()
                .unwrap();
            assert!(e.to_string().contains("is not usable"), "{e}");
        }
        let e = Replayer::new(&spec, &names(&["1", "1"]), None, None)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "port \"1\" is named twice");
        let spec = SwitchSpec {
            group_forward_mask: 1,
            ..SwitchSpec::default()
        };
        assert!(Replayer::new(&spec, &names(&["1"]), None, None).is_err());
        let e = replay_files(&ReplayOptions::default(), None).unwrap_err();
        assert!(e.to_string().starts_with("nothing to replay"));
    }

    #[test]
    fn switch_spec_files() {
        let spec = parse_switch_spec("aging = 10\nhub = true\n").unwrap();
        assert!(spec.hub);
        assert_eq!(spec.aging, 10.0);
        let spec = parse_switch_spec("seed = 3\n[switch.s1]\ncapacity = 5\n").unwrap();
        assert_eq!(spec.capacity, 5);
        let e = parse_switch_spec("[switch.s1]\n[switch.s2]\n").unwrap_err();
        assert!(e.contains("exactly one"), "{e}");
        let e = parse_switch_spec("agin = 3\n").unwrap_err();
        assert!(e.contains("agin"), "{e}");
    }
}
