//! The event loop: one virtual clock, one queue of events in (time, sequence)
//! order, switches, wires, hosts and generators.
//!
//! Nothing here reads the wall clock or iterates a hash map, so a scenario and
//! its seed always give the same events in the same order, hence byte-identical
//! captures and reports.
//!
//! A frame's trip: a host (smoltcp) or generator puts it on its wire; the wire
//! computes when it arrives; at that time the switch decides with
//! [`Switch::forward`] and puts a copy on each egress port's wire; and so on.
//! Switches take no time to decide.
//!
//! ```
//! use vswitch_sim::{Scenario, Simulation};
//! let scenario = Scenario::from_toml(r#"
//!     duration = "1s"
//!     [switch.s1]
//!     [[host]]
//!     name = "a"
//!     ip = "10.0.0.1/24"
//!     port = "s1:p1"
//!     [[host]]
//!     name = "b"
//!     ip = "10.0.0.2/24"
//!     port = "s1:p2"
//!     [[ping]]
//!     from = "a"
//!     to = "b"
//!     count = 2
//!     interval = "100ms"
//! "#).unwrap();
//! let report = Simulation::new(&scenario).unwrap().run().unwrap();
//! assert_eq!(report.pings[0].received, 2);
//! assert_eq!(report.switches[0].fdb.stats.current, 2);
//! ```

mod apps;
mod mcast;
mod tunnel;

use crate::host::{self, Host};
use crate::pcap::PcapSink;
use crate::plot::Timeline;
use crate::progress::Progress;
use crate::report::SwitchReport;
use crate::results::{
    GeneratorReport, GroupRx, HostDrops, HostReport, PingReport, SimReport, TcpReport, UdpReport,
    WireReport,
};
use crate::scenario::{GeneratorKind, PortRef, Scenario};
use crate::traffic::{rng_for, Generator};
use crate::wire::{End, Wire};
use apps::{echo, HostApps, PingApp, TcpApp, UdpApp, ECHO_REPLY, ECHO_REQUEST};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use tunnel::SimTunnel;
use vswitch_core::summary::TraceLine;
use vswitch_core::{Egress, Instant, MacAddr, PortId, RemoteId, Switch, TxError, Verdict};

/// Why a simulation could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario asks for something the switch core refuses.
    #[error("{0}")]
    Config(String),
    /// A capture file could not be created or written.
    #[error("capture {path}: {message}")]
    Capture {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Frames multiply without bound: a loop of wires without bandwidth limits.
    #[error("more than {MAX_PENDING} events pending at {time_ns} ns: frames multiply without bound (a loop of wires with bandwidth 0?); give the wires a bandwidth")]
    Runaway {
        /// Virtual time when it was noticed.
        time_ns: u64,
    },
    /// Trace output could not be written.
    #[error("trace output: {0}")]
    Trace(#[source] std::io::Error),
}

/// The most events that may wait at once. Only a loop of unlimited wires gets
/// near it; bandwidth-limited wires drop frames on full queues first.
pub const MAX_PENDING: usize = 1_000_000;

/// Something that happens at a point of virtual time. Small and `Copy`, so that
/// the event heap moves little memory: frames stay in the [`FramePool`].
#[derive(Clone, Copy, Debug)]
enum Action {
    /// A frame (a slot of the pool) reaches end `side` of a wire.
    Arrive {
        wire: u32,
        side: u8,
        generation: u32,
        frame: u32,
    },
    /// A host's smoltcp asked to be polled now.
    HostPoll(u32),
    /// A ping app sends its next echo request.
    Ping(u32),
    /// A UDP flow sends its next datagram.
    Udp(u32),
    /// A TCP transfer's client connects.
    TcpConnect(u32),
    /// A generator sends its next frame.
    Generate(u32),
    /// A host is plugged into another port.
    Move { host: u32, switch: u32, port: u16 },
    /// A host joins (or leaves) an IPv4 multicast group.
    Join { host: u32, group: u32, join: bool },
    /// A snooping switch's timer: the own querier and membership expiry.
    McastTick(u32),
    /// Sample the FDB size for the timeline.
    Sample,
    /// Update the progress bar.
    Progress,
    /// Run a switch's spanning tree timers and send its BPDUs.
    StpTick(u32),
    /// A wire between switches is cut.
    Cut(u32),
}

/// An action and when it happens. Ordered for the max-heap so that the earliest
/// event, and among simultaneous ones the first scheduled, comes out first.
struct Event {
    /// Time in the high 64 bits, sequence number in the low: one comparison.
    key: u128,
    action: Action,
}

impl Event {
    fn time(&self) -> u64 {
        (self.key >> 64) as u64
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// Frames in flight, in reusable slots: once warm, nothing is allocated per frame.
#[derive(Default)]
struct FramePool {
    slots: Vec<Vec<u8>>,
    free: Vec<u32>,
}

impl FramePool {
    /// An empty frame's slot.
    fn alloc(&mut self) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].clear();
                i
            }
            None => {
                self.slots.push(Vec::with_capacity(128));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// A slot holding `frame`.
    fn put(&mut self, frame: Vec<u8>) -> u32 {
        let i = self.alloc();
        self.slots[i as usize] = frame;
        i
    }

    fn get(&self, i: u32) -> &[u8] {
        &self.slots[i as usize]
    }

    fn get_mut(&mut self, i: u32) -> &mut Vec<u8> {
        &mut self.slots[i as usize]
    }

    /// Takes the frame out and frees its slot.
    fn take(&mut self, i: u32) -> Vec<u8> {
        self.free.push(i);
        std::mem::take(&mut self.slots[i as usize])
    }

    fn release(&mut self, i: u32) {
        self.free.push(i);
    }
}

/// The event queue and the clock.
struct Clock {
    now: u64,
    seq: u64,
    events: BinaryHeap<Event>,
}

impl Clock {
    fn at(&mut self, time: u64, action: Action) {
        self.seq += 1;
        self.events.push(Event {
            key: (u128::from(time) << 64) | u128::from(self.seq),
            action,
        });
    }
}

struct SimSwitch {
    name: String,
    switch: Switch,
    port_names: Vec<String>,
    /// The wire and wire end plugged into each port, and what is at the
    /// wire's other end (kept here, where a flood reads it in port order,
    /// rather than read from each wire).
    port_wire: Vec<Option<(u32, u8, End)>>,
    /// The tunnel number of each port that is a VXLAN tunnel port; empty on
    /// a switch with none (as most are), so that a flood's look is a length
    /// check.
    port_tunnel: Vec<Option<u32>>,
    /// First index of this switch's ports in the timeline.
    timeline_base: usize,
    /// The frame being forwarded, copied out of the frame pool that its
    /// deliveries take their copies from.
    rx: Vec<u8>,
}

struct SimHost {
    host: Host,
    wire: u32,
    /// The next poll already scheduled.
    poll_at: Option<u64>,
    apps: HostApps,
    /// Echo replies it sent.
    echo_replies: u64,
    dropped: HostDrops,
    /// Group streams received.
    groups: Vec<GroupRx>,
}

/// A host's address filter and the frames it ignored (see [`host::ignores`]),
/// kept apart from its smoltcp state, which is tens of kilobytes: a broadcast
/// ARP request reaches every host of a network and only one answers it, so
/// a flood should touch a few bytes per host. Ignored frames need no event:
/// each counts as received once the clock has passed its arrival. Two hosts
/// a cache line (`align(32)`), as a flood touches every host's; the arrival
/// times of the frames before the last still on their way (usually none)
/// are in a queue of their own, the host's entry in `earlier` below.
#[repr(align(32))]
struct Ignored {
    mac: MacAddr,
    ip: Ipv4Addr,
    /// Whether the host's queue of earlier arrivals holds any.
    queued: bool,
    /// Ignored frames that have arrived.
    arrived: u64,
    /// Arrival time of the latest ignored frame on its way ([`NONE`]: none).
    last: u64,
}

const _: () = assert!(std::mem::size_of::<Ignored>() == 32);

/// No frame on its way.
const NONE: u64 = u64::MAX;

impl Ignored {
    /// Counts the frames that arrived before `now`; `earlier` holds the
    /// arrival times of those before the last, oldest first (frames on a
    /// wire arrive in order).
    fn settle(&mut self, earlier: &mut VecDeque<u64>, now: u64) {
        if self.last == NONE {
            return;
        }
        if self.last < now {
            self.arrived += earlier.len() as u64 + 1;
            earlier.clear();
            self.queued = false;
            self.last = NONE;
            return;
        }
        while earlier.front().is_some_and(|&t| t < now) {
            earlier.pop_front();
            self.arrived += 1;
        }
        self.queued = !earlier.is_empty();
    }

    /// A frame on its way, arriving at `at`.
    #[inline]
    fn push(&mut self, earlier: &mut VecDeque<u64>, now: u64, at: u64) {
        if self.last != NONE {
            if self.last < now && !self.queued {
                // The usual case, on every flood: the one before has arrived.
                self.arrived += 1;
            } else {
                self.settle(earlier, now);
                if self.last != NONE {
                    earlier.push_back(self.last);
                    self.queued = true;
                }
            }
        }
        self.last = at;
    }

    /// The wire was cut: frames on their way are lost.
    fn cut(&mut self, earlier: &mut VecDeque<u64>, now: u64) {
        self.settle(earlier, now);
        earlier.clear();
        self.queued = false;
        self.last = NONE;
    }
}

struct Capture {
    dir: PathBuf,
    /// Per switch, per port.
    ports: Vec<Vec<PcapSink>>,
    hosts: Vec<PcapSink>,
    /// The underlay's packets (`underlay.pcap`), when there are tunnels.
    underlay: Option<PcapSink>,
    /// The first error writing it.
    underlay_error: Option<String>,
}

/// A simulation built from a scenario, ready to run.
pub struct Simulation {
    name: String,
    seed: u64,
    end: u64,
    clock: Clock,
    switches: Vec<SimSwitch>,
    wires: Vec<Wire>,
    hosts: Vec<SimHost>,
    /// Per host.
    ignored: Vec<Ignored>,
    /// Per host, the arrival times of its ignored frames on their way
    /// before the last (see [`Ignored`]).
    earlier: Vec<VecDeque<u64>>,
    generators: Vec<Generator>,
    /// Per generator, arrival times of the frames on their way to it, oldest
    /// first. Generators only count what they receive, so frames for them need
    /// no event: an arrival counts once the clock has reached it.
    sink_arrivals: Vec<VecDeque<u64>>,
    pings: Vec<PingApp>,
    udp: Vec<UdpApp>,
    tcp: Vec<TcpApp>,
    capture: Option<Capture>,
    trace: Option<Box<dyn Write>>,
    timeline: Option<Timeline>,
    progress: Option<Progress>,
    sample_ns: u64,
    /// The ports the plot draws (`s1:s2`), when the scenario chooses.
    plot_ports: Vec<String>,
    error: Option<SimError>,
    egress: Vec<u16>,
    frames: FramePool,
    /// VXLAN tunnel ports, in scenario order.
    tunnels: Vec<SimTunnel>,
    /// Each tunnel's underlay address.
    locals: Vec<Ipv4Addr>,
}

/// Nanoseconds of a mean gap for `rate` events per second.
fn gap_for(rate: f64) -> f64 {
    1e9 / rate
}

impl Simulation {
    /// Builds the switches, wires, hosts and traffic of `scenario` (already checked
    /// by [`Scenario::load`]) at virtual time 0.
    pub fn new(s: &Scenario) -> Result<Simulation, SimError> {
        let mut sim = Simulation {
            name: s.name.clone(),
            seed: s.seed,
            end: s.duration.0,
            clock: Clock {
                now: 0,
                seq: 0,
                events: BinaryHeap::new(),
            },
            switches: Vec::new(),
            wires: Vec::new(),
            hosts: Vec::with_capacity(s.hosts.len()),
            ignored: Vec::with_capacity(s.hosts.len()),
            earlier: Vec::with_capacity(s.hosts.len()),
            generators: Vec::new(),
            sink_arrivals: Vec::new(),
            pings: Vec::new(),
            udp: Vec::new(),
            tcp: Vec::new(),
            capture: None,
            trace: None,
            timeline: None,
            progress: None,
            sample_ns: (s.duration.0 / 200).max(1),
            plot_ports: s.plot_ports.clone(),
            error: None,
            egress: Vec::new(),
            frames: FramePool::default(),
            tunnels: Vec::new(),
            locals: Vec::new(),
        };
        let cfg = |e: String| SimError::Config(e);
        for (i, (name, spec)) in s.switches.iter().enumerate() {
            let config = spec
                .to_config(s.seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .map_err(|e| cfg(format!("switch {name:?}: {e}")))?;
            let switch = Switch::new(config).map_err(|e| cfg(format!("switch {name:?}: {e}")))?;
            sim.switches.push(SimSwitch {
                name: name.clone(),
                switch,
                port_names: Vec::new(),
                port_wire: Vec::new(),
                port_tunnel: Vec::new(),
                timeline_base: 0,
                rx: Vec::with_capacity(1518),
            });
        }
        // Ports in order of first mention: hosts (and where they move), generators, wires.
        let port_of = |sim: &mut Simulation, r: &PortRef| -> Result<(u32, u16), SimError> {
            let si = sim
                .switches
                .iter()
                .position(|w| w.name == r.switch)
                .ok_or_else(|| cfg(format!("no switch {:?}", r.switch)))?;
            let sw = &mut sim.switches[si];
            if let Some(p) = sw.port_names.iter().position(|n| *n == r.port) {
                return Ok((si as u32, p as u16));
            }
            let spec = &s.switches[&r.switch];
            let mut config = spec
                .port_config(&r.port)
                .map_err(|e| cfg(format!("port {r}: {e}")))?;
            config.tunnel = s
                .tunnels
                .iter()
                .any(|t| s.port_ref(&t.port, "tunnel").is_ok_and(|t| t == *r));
            let id = sw
                .switch
                .add_port(config)
                .map_err(|e| cfg(format!("port {r}: {e}")))?;
            // Nothing is plugged in yet: no carrier.
            let _ = sw.switch.set_port_up(id, false);
            sw.port_names.push(r.port.clone());
            sw.port_wire.push(None);
            Ok((si as u32, id.0))
        };
        let plug = |sim: &mut Simulation, wire: u32, side: u8, (si, p): (u32, u16)| {
            let far = sim.wires[wire as usize].ends()[usize::from(1 - side)];
            let sw = &mut sim.switches[si as usize];
            sw.port_wire[usize::from(p)] = Some((wire, side, far));
            let _ = sw.switch.set_port_up(PortId(p), true);
        };
        let latency = |l: Option<crate::units::Span>| l.unwrap_or(s.latency).0;
        let bandwidth = |b: Option<crate::units::BitRate>| b.unwrap_or(s.bandwidth).0;
        for (i, h) in s.hosts.iter().enumerate() {
            let (ip, prefix) = s.host_ip(i).map_err(cfg)?;
            let mac = s.host_mac(i).map_err(cfg)?;
            let port = port_of(&mut sim, &s.port_ref(&h.port, &h.name).map_err(cfg)?)?;
            let wire = sim.wires.len() as u32;
            sim.wires.push(Wire::new(
                End::Host(i as u32),
                End::Port {
                    switch: port.0,
                    port: port.1,
                },
                latency(h.latency),
                bandwidth(h.bandwidth),
                s.queue,
            ));
            plug(&mut sim, wire, 1, port);
            let host = Host::new(
                &h.name,
                mac,
                ip,
                prefix,
                s.seed.wrapping_add(i as u64 + 1),
                0,
            );
            sim.hosts.push(SimHost {
                host,
                wire,
                poll_at: None,
                apps: HostApps::default(),
                echo_replies: 0,
                dropped: HostDrops::default(),
                groups: Vec::new(),
            });
            sim.ignored.push(Ignored {
                mac,
                ip,
                arrived: 0,
                last: NONE,
                queued: false,
            });
            sim.earlier.push(VecDeque::new());
            for m in &h.moves {
                let (switch, port) =
                    port_of(&mut sim, &s.port_ref(&m.port, &h.name).map_err(cfg)?)?;
                sim.clock.at(
                    m.at.0,
                    Action::Move {
                        host: i as u32,
                        switch,
                        port,
                    },
                );
            }
        }
        let endpoint = |name: &str| -> Option<(MacAddr, Ipv4Addr)> {
            if let Some(i) = s.host_index(name) {
                return Some((s.host_mac(i).ok()?, s.host_ip(i).ok()?.0));
            }
            let g = s.generators.iter().position(|g| g.name == name)?;
            Some((s.generator_mac(g).ok()?, generator_ip(g)))
        };
        for (i, g) in s.generators.iter().enumerate() {
            let port = port_of(&mut sim, &s.port_ref(&g.port, &g.name).map_err(cfg)?)?;
            let wire = sim.wires.len() as u32;
            sim.wires.push(Wire::new(
                End::Generator(i as u32),
                End::Port {
                    switch: port.0,
                    port: port.1,
                },
                latency(g.latency),
                bandwidth(g.bandwidth),
                s.queue,
            ));
            plug(&mut sim, wire, 1, port);
            let targets = g.to.iter().filter_map(|t| endpoint(t)).collect();
            sim.generators.push(Generator {
                name: g.name.clone(),
                kind: g.kind,
                mac: s.generator_mac(i).map_err(cfg)?,
                ip: generator_ip(i),
                targets,
                gap_ns: gap_for(g.rate),
                poisson: g.poisson,
                remaining: g.count,
                size: g.size,
                rng: rng_for(s.seed, 1000 + i as u64),
                sent: 0,
                received: 0,
                start_ns: g.at.0,
                pool_size: g.macs,
            });
            sim.sink_arrivals.push(VecDeque::new());
            if g.count != Some(0) {
                sim.clock.at(g.at.0, Action::Generate(i as u32));
            }
        }
        let first_switch_wire = sim.wires.len();
        for w in &s.wires {
            let a = port_of(&mut sim, &s.port_ref(&w.a, "wire").map_err(cfg)?)?;
            let b = port_of(&mut sim, &s.port_ref(&w.b, "wire").map_err(cfg)?)?;
            let wire = sim.wires.len() as u32;
            sim.wires.push(Wire::new(
                End::Port {
                    switch: a.0,
                    port: a.1,
                },
                End::Port {
                    switch: b.0,
                    port: b.1,
                },
                latency(w.latency),
                bandwidth(w.bandwidth),
                s.queue,
            ));
            plug(&mut sim, wire, 0, a);
            plug(&mut sim, wire, 1, b);
        }
        let mut tunnel_ports = Vec::new();
        for t in &s.tunnels {
            tunnel_ports.push(port_of(
                &mut sim,
                &s.port_ref(&t.port, "tunnel").map_err(cfg)?,
            )?);
        }
        // Their underlay links follow the switch-to-switch wires.
        sim.add_tunnels(s, &tunnel_ports);
        // The switch-to-switch wires follow the others, in file order.
        for c in &s.cuts {
            let r = s.port_ref(&c.port, "cut").map_err(cfg)?;
            let w = s
                .wire_of(&r)
                .ok_or_else(|| cfg(format!("cut of {:?}: no such wire", c.port)))?;
            sim.clock
                .at(c.at.0, Action::Cut((first_switch_wire + w) as u32));
        }
        let mut base = 0;
        for sw in &mut sim.switches {
            sw.timeline_base = base;
            base += sw.port_names.len();
        }
        sim.add_apps(s)?;
        sim.add_mcast(s)?;
        for (si, spec) in s.switches.values().enumerate() {
            if let Some(config) = spec.stp_config() {
                sim.start_stp(si, config, |port| spec.stp_port_config(port));
            }
        }
        Ok(sim)
    }

    /// Writes a pcap file per switch port (`switch-S-P.pcap`: what left the switch
    /// on that port) and per host (`host-H.pcap`: what the host sent and received)
    /// into `dir`, with virtual-time timestamps.
    pub fn capture_to(&mut self, dir: &Path) -> Result<(), SimError> {
        let err = |path: &Path, e: &dyn std::fmt::Display| SimError::Capture {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
        let open = |name: String| -> Result<PcapSink, SimError> {
            let path = dir.join(name);
            PcapSink::create(&path).map_err(|e| err(&path, &e))
        };
        let mut ports = Vec::new();
        for sw in &self.switches {
            let mut sinks = Vec::new();
            for p in &sw.port_names {
                sinks.push(open(format!("switch-{}-{}.pcap", sw.name, p))?);
            }
            ports.push(sinks);
        }
        let mut hosts = Vec::new();
        for h in &self.hosts {
            hosts.push(open(format!("host-{}.pcap", h.host.name))?);
        }
        let underlay = self.underlay_capture(dir)?;
        self.capture = Some(Capture {
            dir: dir.to_path_buf(),
            ports,
            hosts,
            underlay,
            underlay_error: None,
        });
        Ok(())
    }

    /// Prints one line per frame crossing a switch to `out`.
    pub fn trace_to(&mut self, out: Box<dyn Write>) {
        self.trace = Some(out);
    }

    /// Records frames per port and FDB size over virtual time, for a plot.
    pub fn record_timeline(&mut self) {
        let mut names = Vec::new();
        for sw in &self.switches {
            for p in &sw.port_names {
                names.push(format!("{}:{}", sw.name, p));
            }
        }
        let mut timeline = Timeline::new(self.sample_ns, names);
        if !self.plot_ports.is_empty() {
            let shown = self
                .plot_ports
                .iter()
                .filter_map(|p| timeline.port_names().iter().position(|n| n == p))
                .collect();
            timeline.show_only(shown);
        }
        self.timeline = Some(timeline);
        self.clock.at(0, Action::Sample);
    }

    /// Shows a progress bar on stderr (when it is a terminal).
    pub fn show_progress(&mut self) {
        self.progress = Some(Progress::new(self.end / 1000, "us of virtual time"));
        self.clock.at(0, Action::Progress);
    }

    /// The timeline, if [`Simulation::record_timeline`] was called.
    pub fn timeline(&self) -> Option<&Timeline> {
        self.timeline.as_ref()
    }

    /// Current virtual time, ns.
    pub fn now(&self) -> u64 {
        self.clock.now
    }

    /// The end of the scenario, ns.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The switch called `name`.
    pub fn switch(&self, name: &str) -> Option<&Switch> {
        self.switches
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.switch)
    }

    /// The names of the switches, in scenario order.
    pub fn switch_names(&self) -> Vec<&str> {
        self.switches.iter().map(|s| s.name.as_str()).collect()
    }

    /// The port names of switch `switch`, by port number.
    pub fn port_names(&self, switch: &str) -> Option<&[String]> {
        let sw = self.switches.iter().find(|s| s.name == switch)?;
        Some(&sw.port_names)
    }

    /// Port number of port `port` on switch `switch`.
    pub fn port_id(&self, switch: &str, port: &str) -> Option<PortId> {
        let sw = self.switches.iter().find(|s| s.name == switch)?;
        sw.port_names
            .iter()
            .position(|n| n == port)
            .map(|p| PortId(p as u16))
    }

    /// Runs to the end of the scenario and reports.
    pub fn run(&mut self) -> Result<SimReport, SimError> {
        self.run_until(self.end)?;
        if let Some(p) = self.progress.take() {
            p.finish();
        }
        self.finish_capture()?;
        Ok(self.report())
    }

    /// Processes every event before `until` (ns), then sets the clock to `until`.
    pub fn run_until(&mut self, until: u64) -> Result<(), SimError> {
        while let Some(e) = self.clock.events.peek() {
            if e.time() >= until {
                break;
            }
            let Some(e) = self.clock.events.pop() else {
                break;
            };
            self.clock.now = e.time();
            if self.clock.events.len() > MAX_PENDING {
                return Err(SimError::Runaway {
                    time_ns: self.clock.now,
                });
            }
            self.handle(e.action);
            if let Some(err) = self.error.take() {
                return Err(err);
            }
        }
        self.clock.now = self.clock.now.max(until);
        Ok(())
    }

    fn finish_capture(&mut self) -> Result<(), SimError> {
        if let Some(c) = self.capture.take() {
            for sink in c
                .ports
                .into_iter()
                .flatten()
                .chain(c.hosts)
                .chain(c.underlay)
            {
                let path = sink.path().to_path_buf();
                sink.finish().map_err(|e| SimError::Capture {
                    path,
                    message: e.to_string(),
                })?;
            }
        }
        if let Some(t) = self.trace.as_mut() {
            t.flush().map_err(SimError::Trace)?;
        }
        Ok(())
    }

    fn handle(&mut self, action: Action) {
        match action {
            Action::Arrive {
                wire,
                side,
                generation,
                frame,
            } => {
                let w = &self.wires[wire as usize];
                if w.generation != generation {
                    self.frames.release(frame);
                    return;
                }
                match w.ends()[usize::from(side)] {
                    End::Port { switch, port } => {
                        self.switch_rx(switch as usize, port, frame, None)
                    }
                    End::Host(h) => self.host_rx(h as usize, frame),
                    End::Tunnel(t) => self.tunnel_rx(t as usize, frame),
                    End::Underlay => self.underlay_route(wire, frame),
                    End::Generator(g) => {
                        self.generators[g as usize].received += 1;
                        self.frames.release(frame);
                    }
                }
            }
            Action::HostPoll(h) => {
                let host = &mut self.hosts[h as usize];
                if host.poll_at == Some(self.clock.now) {
                    host.poll_at = None;
                    self.poll_host(h as usize);
                }
            }
            Action::Ping(n) => self.ping(n as usize),
            Action::Udp(n) => self.udp_send(n as usize),
            Action::TcpConnect(n) => self.tcp_connect(n as usize),
            Action::Generate(g) => self.generate(g as usize),
            Action::Move { host, switch, port } => self.move_host(host as usize, switch, port),
            Action::Join { host, group, join } => {
                self.join(host as usize, Ipv4Addr::from(group), join)
            }
            Action::McastTick(si) => self.mcast_tick(si as usize),
            Action::Sample => self.sample(),
            Action::StpTick(si) => self.stp_tick(si as usize),
            Action::Cut(w) => self.cut_wire(w as usize),
            Action::Progress => {
                let now = self.clock.now;
                if let Some(p) = self.progress.as_mut() {
                    p.set(now / 1000);
                }
                let step = (self.end / 100_000).max(1);
                if now + step < self.end {
                    self.clock.at(now + step, Action::Progress);
                }
            }
        }
    }

    /// Turns spanning tree on for switch `si`, with every port it has (ports
    /// without a wire start disabled), and starts its timer. Bridge and port
    /// addresses are made up from the numbers: 02:57:00:SS:SS:00 for the
    /// bridge, ...:PP+1 for its ports.
    fn start_stp(
        &mut self,
        si: usize,
        config: vswitch_core::stp::StpConfig,
        port_config: impl Fn(&str) -> vswitch_core::stp::StpPortConfig,
    ) {
        let [hi, lo] = (si as u16).to_be_bytes();
        let sw = &mut self.switches[si];
        let mut stp = vswitch_core::stp::Stp::new(config, MacAddr([2, 0x57, 0, hi, lo, 0]));
        for (p, name) in sw.port_names.iter().enumerate() {
            let id = PortId(p as u16);
            let mac = MacAddr([2, 0x57, hi, lo, (p >> 8) as u8, (p as u8).wrapping_add(1)]);
            stp.add_port(Instant::ZERO, id, mac, port_config(name));
            if !sw.switch.port(id).is_some_and(|p| p.up) {
                stp.set_enabled(Instant::ZERO, id, false);
            }
        }
        sw.switch.set_stp(Some(stp));
        self.clock.at(0, Action::StpTick(si as u32));
    }

    /// Runs switch `si`'s spanning tree to now, puts its BPDUs on the wires,
    /// and comes back in 100 ms of virtual time.
    fn stp_tick(&mut self, si: usize) {
        self.stp_send(si);
        let next = self.clock.now + 100_000_000;
        if next < self.end {
            self.clock.at(next, Action::StpTick(si as u32));
        }
    }

    /// Runs switch `si`'s spanning tree to now and puts its BPDUs on the wires.
    fn stp_send(&mut self, si: usize) {
        let now = self.clock.now;
        let mut out: Vec<(PortId, Vec<u8>)> = Vec::new();
        self.switches[si]
            .switch
            .run_stp(Instant::from_nanos(now), |p, f| out.push((p, f.to_vec())));
        for (p, bytes) in out {
            if let Some(Some((wire, side, _))) = self.switches[si].port_wire.get(usize::from(p.0)) {
                let (wire, side) = (*wire, *side);
                let frame = self.frames.put(bytes);
                let _ = self.send(wire, side, frame);
            }
        }
    }

    /// Puts `frame` on `wire` from end `from`, now; false if the queue was full.
    fn send(&mut self, wire: u32, from: u8, frame: u32) -> bool {
        let w = &mut self.wires[wire as usize];
        match w.send(
            usize::from(from),
            self.clock.now,
            self.frames.get(frame).len(),
        ) {
            Some(at) => {
                let generation = w.generation;
                self.clock.at(
                    at,
                    Action::Arrive {
                        wire,
                        side: 1 - from,
                        generation,
                        frame,
                    },
                );
                true
            }
            None => {
                self.frames.release(frame);
                false
            }
        }
    }

    /// Switch `si` forwards `frame`, received on `port` (from remote endpoint
    /// `remote` when `port` is a tunnel port).
    fn switch_rx(&mut self, si: usize, port: u16, frame: u32, remote: Option<RemoteId>) {
        let now = self.clock.now;
        let Simulation {
            tunnels,
            locals,
            switches,
            wires,
            clock,
            capture,
            timeline,
            trace,
            egress,
            frames,
            sink_arrivals,
            ignored,
            earlier,
            ..
        } = self;
        // A capture records every frame a host receives, in order: then the
        // ignored ones take the way of events too.
        let capturing = capture.is_some();
        let sw = &mut switches[si];
        sw.rx.clear();
        sw.rx.extend_from_slice(frames.get(frame));
        egress.clear();
        let tracing = trace.is_some();
        let base = sw.timeline_base;
        let port_wire = &sw.port_wire;
        let port_tunnel = &sw.port_tunnel;
        let mut capture_error = None;
        let decision = sw.switch.forward_one_from(
            Instant::from_nanos(now),
            PortId(port),
            remote,
            &sw.rx,
            |Egress {
                 port: out,
                 frame: bytes,
                 decision,
                 ..
             }| {
                let tunnel = port_tunnel.get(usize::from(out.0)).copied().flatten();
                if let Some(ti) = tunnel {
                    let ti = ti as usize;
                    let sent = tunnel::send(
                        &mut tunnels[ti],
                        ti,
                        decision.remote,
                        bytes,
                        &mut tunnel::Underlay {
                            now,
                            locals,
                            wires,
                            frames,
                            clock,
                            capture,
                        },
                    );
                    if sent.is_ok() {
                        if let Some(c) = capture.as_mut() {
                            if let Err(e) = c.ports[si][usize::from(out.0)].write(now, bytes) {
                                capture_error.get_or_insert((si, out.0, e.to_string()));
                            }
                        }
                        if let Some(t) = timeline.as_mut() {
                            t.record_delivered(now, base + usize::from(out.0));
                        }
                        if tracing {
                            egress.push(out.0);
                        }
                    }
                    return sent;
                }
                let Some(Some((wire, side, far))) = port_wire.get(usize::from(out.0)) else {
                    return Err(TxError::Full);
                };
                let w = &mut wires[*wire as usize];
                let Some(at) = w.send(usize::from(*side), now, bytes.len()) else {
                    if let Some(t) = timeline.as_mut() {
                        t.record_dropped(now, base + usize::from(out.0));
                    }
                    return Err(TxError::Full);
                };
                match *far {
                    // Wire arrivals are in time order, so each queue stays sorted.
                    End::Generator(g) => sink_arrivals[g as usize].push_back(at),
                    End::Host(h)
                        if !capturing && {
                            let i = &ignored[h as usize];
                            host::ignores(i.mac, i.ip, bytes)
                        } =>
                    {
                        ignored[h as usize].push(&mut earlier[h as usize], now, at)
                    }
                    _ => {
                        let copy = frames.alloc();
                        frames.get_mut(copy).extend_from_slice(bytes);
                        clock.at(
                            at,
                            Action::Arrive {
                                wire: *wire,
                                side: 1 - side,
                                generation: w.generation,
                                frame: copy,
                            },
                        );
                    }
                }
                if let Some(c) = capture.as_mut() {
                    if let Err(e) = c.ports[si][usize::from(out.0)].write(now, bytes) {
                        capture_error.get_or_insert((si, out.0, e.to_string()));
                    }
                }
                if let Some(t) = timeline.as_mut() {
                    t.record_delivered(now, base + usize::from(out.0));
                }
                if tracing {
                    egress.push(out.0);
                }
                Ok(())
            },
        );
        let verdict = Some(decision.verdict);
        if let (Some(Verdict::Drop(_)), Some(t)) = (verdict, timeline.as_mut()) {
            t.record_dropped(now, base + usize::from(port));
        }
        if let (Some(out), Some(verdict)) = (trace.as_mut(), verdict) {
            let names: Vec<&str> = egress
                .iter()
                .map(|&p| sw.port_names[usize::from(p)].as_str())
                .collect();
            let line = TraceLine {
                time_ns: now,
                switch: &sw.name,
                ingress: &sw.port_names[usize::from(port)],
                frame: frames.get(frame),
                verdict,
                egress: &names,
            };
            if let Err(e) = writeln!(out, "{line}") {
                self.error.get_or_insert(SimError::Trace(e));
            }
        }
        if let Some((si, p, message)) = capture_error {
            let sw = &self.switches[si];
            let path = self.capture.as_ref().map(|c| {
                c.dir.join(format!(
                    "switch-{}-{}.pcap",
                    sw.name,
                    sw.port_names[usize::from(p)]
                ))
            });
            self.error.get_or_insert(SimError::Capture {
                path: path.unwrap_or_default(),
                message,
            });
        }
        if let Some(e) = self.capture.as_mut().and_then(|c| c.underlay_error.take()) {
            let path = self.capture.as_ref().map(|c| c.dir.join("underlay.pcap"));
            self.error.get_or_insert(SimError::Capture {
                path: path.unwrap_or_default(),
                message: e,
            });
        }
        self.frames.release(frame);
        if self.switches[si].switch.bpdu_received() {
            // Answers to proposals go out at once, as the Linux switch sends
            // them with the batch that asked, not at the next tick.
            self.stp_send(si);
        }
    }

    fn capture_host(&mut self, h: usize, frame: &[u8]) {
        if let Some(c) = self.capture.as_mut() {
            if let Err(e) = c.hosts[h].write(self.clock.now, frame) {
                let path = c.dir.join(format!("host-{}.pcap", self.hosts[h].host.name));
                self.error.get_or_insert(SimError::Capture {
                    path,
                    message: e.to_string(),
                });
            }
        }
    }

    fn host_rx(&mut self, h: usize, frame: u32) {
        let frame = self.frames.take(frame);
        self.capture_host(h, &frame);
        if let Some(datagram) = mcast::stream_group(&frame) {
            mcast::count(&mut self.hosts[h].groups, datagram, self.clock.now);
        }
        let host = &mut self.hosts[h].host;
        host.rx_frames += 1;
        if host.ignores(&frame) {
            return;
        }
        let ip = host.ip.octets();
        let asks = echo(&frame).is_some_and(|(kind, dst)| kind == ECHO_REQUEST && dst == ip);
        host.device.rx.push_back(frame);
        let replies = self.hosts[h].echo_replies;
        self.poll_host(h);
        // smoltcp answers an echo request at once, or drops the answer when it
        // has no neighbour entry for the sender (it asks for one at most once
        // a second).
        if asks && self.hosts[h].echo_replies == replies {
            self.hosts[h].dropped.no_neighbor += 1;
        }
    }

    /// Polls a host's smoltcp until its applications have nothing more to do,
    /// sends what it sent and schedules its next poll.
    fn poll_host(&mut self, h: usize) {
        let now = self.clock.now;
        for _ in 0..16 {
            self.hosts[h].host.poll(now);
            if !self.service_apps(h) {
                break;
            }
        }
        let frames = std::mem::take(&mut self.hosts[h].host.device.tx);
        let wire = self.hosts[h].wire;
        for frame in frames {
            self.stamp_echo_request(h, &frame);
            self.capture_host(h, &frame);
            let host = &mut self.hosts[h];
            host.host.tx_frames += 1;
            if echo(&frame).is_some_and(|(kind, _)| kind == ECHO_REPLY) {
                host.echo_replies += 1;
            }
            let frame = self.frames.put(frame);
            if !self.send(wire, 0, frame) {
                self.hosts[h].dropped.queue += 1;
            }
        }
        if let Some(at) = self.hosts[h].host.next_poll(now) {
            let host = &mut self.hosts[h];
            if host.poll_at.is_none_or(|t| t > at) {
                host.poll_at = Some(at);
                self.clock.at(at, Action::HostPoll(h as u32));
            }
        }
    }

    fn generate(&mut self, g: usize) {
        let now = self.clock.now;
        let arrivals = &mut self.sink_arrivals[g];
        while arrivals.front().is_some_and(|&t| t <= now) {
            arrivals.pop_front();
            self.generators[g].received += 1;
        }
        let frame = self.frames.alloc();
        let gen = &mut self.generators[g];
        gen.next_frame(self.frames.get_mut(frame));
        if let Some(r) = gen.remaining.as_mut() {
            *r -= 1;
        }
        let more = gen.remaining != Some(0);
        let next = if gen.poisson {
            now.saturating_add(gen.next_gap())
        } else {
            gen.start_ns
                .saturating_add((gen.sent as f64 * gen.gap_ns) as u64)
        };
        if more {
            self.clock.at(next.max(now + 1), Action::Generate(g as u32));
        }
        // A generator's wire is the one whose end 0 is the generator.
        let wire = self.generator_wire(g);
        // A full queue counts on the wire, as for any frame.
        let _ = self.send(wire, 0, frame);
    }

    fn generator_wire(&self, g: usize) -> u32 {
        // Generators' wires come right after the hosts' (see `new`).
        (self.hosts.len() + g) as u32
    }

    fn move_host(&mut self, h: usize, switch: u32, port: u16) {
        // Frames still on the wire are lost, like those of events.
        self.ignored[h].cut(&mut self.earlier[h], self.clock.now);
        let wire = self.hosts[h].wire;
        let w = &mut self.wires[wire as usize];
        if let End::Port {
            switch: os,
            port: op,
        } = w.ends()[1]
        {
            let old = &mut self.switches[os as usize];
            old.port_wire[usize::from(op)] = None;
            let _ = old.switch.set_port_up(PortId(op), false);
        }
        w.cut();
        w.set_end(1, End::Port { switch, port });
        let new = &mut self.switches[switch as usize];
        new.port_wire[usize::from(port)] = Some((wire, 1, End::Host(h as u32)));
        let _ = new.switch.set_port_up(PortId(port), true);
    }

    /// Cuts wire `w`: frames on it are lost and its switch ends go down (the
    /// spanning tree hears of it at once, as a switch hears its carrier go).
    fn cut_wire(&mut self, w: usize) {
        let wire = &mut self.wires[w];
        wire.cut();
        let ends = wire.ends();
        for end in ends {
            if let End::Port { switch, port } = end {
                let sw = &mut self.switches[switch as usize];
                sw.port_wire[usize::from(port)] = None;
                let _ = sw.switch.set_port_up(PortId(port), false);
                if sw.switch.stp().is_some() {
                    self.stp_send(switch as usize);
                }
            }
        }
    }

    fn sample(&mut self) {
        let now = self.clock.now;
        if let Some(t) = self.timeline.as_mut() {
            let size: u64 = self
                .switches
                .iter()
                .map(|s| s.switch.fdb().stats().current)
                .sum();
            t.record_fdb_size(now, size);
        }
        if now + self.sample_ns < self.end {
            self.clock.at(now + self.sample_ns, Action::Sample);
        }
    }

    /// The report at the current virtual time.
    pub fn report(&mut self) -> SimReport {
        let now = self.clock.now;
        for (i, earlier) in self.ignored.iter_mut().zip(&mut self.earlier) {
            i.settle(earlier, now);
        }
        let mut switches = Vec::new();
        for sw in &mut self.switches {
            let names = sw.port_names.clone();
            switches.push(SwitchReport::new(
                &sw.name,
                &mut sw.switch,
                Instant::from_nanos(now),
                |p| names.get(usize::from(p)).cloned().unwrap_or_default(),
            ));
        }
        let end_name = |e: End| -> String {
            match e {
                End::Port { switch, port } => {
                    let sw = &self.switches[switch as usize];
                    format!("{}:{}", sw.name, sw.port_names[usize::from(port)])
                }
                End::Host(h) => self.hosts[h as usize].host.name.clone(),
                End::Generator(g) => self.generators[g as usize].name.clone(),
                End::Tunnel(t) => {
                    let t = &self.tunnels[t as usize];
                    format!("{} ({})", t.name, t.local)
                }
                End::Underlay => "underlay".to_string(),
            }
        };
        let wires = self
            .wires
            .iter()
            .map(|w| WireReport {
                a: end_name(w.ends()[0]),
                b: end_name(w.ends()[1]),
                frames: w.frames,
                dropped: w.dropped(),
            })
            .collect();
        let hosts = self
            .hosts
            .iter()
            .zip(&self.ignored)
            .map(|(h, ignored)| HostReport {
                name: h.host.name.clone(),
                mac: h.host.mac.to_string(),
                ip: h.host.ip.to_string(),
                port: end_name(self.wires[h.wire as usize].ends()[1]),
                rx_frames: h.host.rx_frames + ignored.arrived,
                tx_frames: h.host.tx_frames,
                dropped: h.dropped,
                groups: h.groups.clone(),
            })
            .collect();
        let pings = self
            .pings
            .iter()
            .map(|p| PingReport {
                from: self.hosts[p.from as usize].host.name.clone(),
                to: p.to_name.clone(),
                sent: p.sent_at.len() as u32,
                received: p.rtt.iter().flatten().count() as u32,
                rtt_ns: p.rtt.iter().flatten().copied().collect(),
            })
            .collect();
        let host_name = |h: u32| self.hosts[h as usize].host.name.clone();
        let udp = self
            .udp
            .iter()
            .map(|u| {
                if u.to != apps::GROUP {
                    return UdpReport {
                        from: host_name(u.from),
                        to: host_name(u.to),
                        sent: u.sent,
                        received: u.received,
                        received_bytes: u.received_bytes,
                    };
                }
                // A stream: the copies that reached hosts.
                let group = u.to_ip.to_string();
                let copies = self.hosts.iter().flat_map(|h| &h.groups);
                let copies: Vec<&GroupRx> = copies.filter(|g| g.group == group).collect();
                UdpReport {
                    from: host_name(u.from),
                    to: group,
                    sent: u.sent,
                    received: copies.iter().map(|g| g.frames).sum(),
                    received_bytes: copies.iter().map(|g| g.bytes).sum(),
                }
            })
            .collect();
        let tcp = self
            .tcp
            .iter()
            .map(|t| TcpReport {
                from: host_name(t.from),
                to: host_name(t.to),
                bytes: t.total,
                received: t.received,
                done_ns: t.done_at,
                goodput_bps: t.done_at.map(|d| {
                    (t.total as u128 * 8 * 1_000_000_000 / u128::from((d - t.started_at).max(1)))
                        as u64
                }),
            })
            .collect();
        let generators = self
            .generators
            .iter()
            .zip(&self.sink_arrivals)
            .map(|(g, arrivals)| GeneratorReport {
                name: g.name.clone(),
                kind: match g.kind {
                    GeneratorKind::MacFlood => "mac-flood",
                    GeneratorKind::Churn => "churn",
                    GeneratorKind::Broadcast => "broadcast",
                    GeneratorKind::Unicast => "unicast",
                }
                .to_string(),
                sent: g.sent,
                // Like the events, arrivals at the current time have not happened yet.
                received: g.received + arrivals.iter().filter(|&&t| t < now).count() as u64,
            })
            .collect();
        let tunnels = self.tunnel_reports(now);
        SimReport {
            tunnels,
            scenario: self.name.clone(),
            seed: self.seed,
            duration_ns: now,
            frames_switched: switches.iter().map(SwitchReport::rx_frames).sum(),
            switches,
            wires,
            hosts,
            pings,
            udp,
            tcp,
            generators,
        }
    }
}

/// The IPv4 address of generator number `g`: 10.254.x.y.
fn generator_ip(g: usize) -> Ipv4Addr {
    let n = g + 1;
    Ipv4Addr::new(10, 254, (n >> 8) as u8, n as u8)
}
