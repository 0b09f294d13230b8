//! Scenario files: the TOML description of a simulation (switches, hosts, wires,
//! traffic, duration and seed), read and checked before anything runs.
//!
//! ```
//! let s = vswitch_sim::scenario::Scenario::from_toml(r#"
//!     seed = 7
//!     duration = "2s"
//!     [switch.s1]
//!     aging = 300
//!     [[host]]
//!     name = "h1"
//!     ip = "10.0.0.1/24"
//!     port = "s1:p1"
//!     [[host]]
//!     name = "h2"
//!     ip = "10.0.0.2/24"
//!     port = "s1:p2"
//!     [[ping]]
//!     from = "h1"
//!     to = "h2"
//! "#).unwrap();
//! assert_eq!(s.hosts.len(), 2);
//! ```

pub mod groups;

use crate::units::{BitRate, Span, NS_PER_SEC};
use groups::{HostGroup, SwitchGroup};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;
use vswitch_core::spec::SwitchSpec;
use vswitch_core::MacAddr;

/// A scenario file that cannot be used, with what is wrong in words.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read the scenario: {}", read_problem(error))]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not valid (TOML syntax, unknown keys, bad values, bad references).
    #[error("{path}: {message}")]
    Invalid {
        /// The file, or `<scenario>` for text given directly.
        path: String,
        /// What is wrong, on one line.
        message: String,
    },
}

/// A whole scenario, as written in its file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for reports; defaults to the file name.
    #[serde(default)]
    pub name: String,
    /// Seed of every random choice (traffic, smoltcp, FDB hash).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How much virtual time to simulate.
    #[serde(default = "default_duration")]
    pub duration: Span,
    /// Latency of wires that do not give one.
    #[serde(default = "default_latency")]
    pub latency: Span,
    /// Bandwidth of wires that do not give one (0 = unlimited).
    #[serde(default = "default_bandwidth")]
    pub bandwidth: BitRate,
    /// Frames a wire direction can hold waiting to be sent before it drops.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Switches by name, with the core's configuration.
    #[serde(default, rename = "switch")]
    pub switches: BTreeMap<String, SwitchSpec>,
    /// smoltcp hosts.
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostSpec>,
    /// Wires between switch ports.
    #[serde(default, rename = "wire")]
    pub wires: Vec<WireSpec>,
    /// Scheduled pings.
    #[serde(default, rename = "ping")]
    pub pings: Vec<PingSpec>,
    /// UDP flows between hosts.
    #[serde(default, rename = "udp")]
    pub udp: Vec<UdpSpec>,
    /// TCP transfers between hosts.
    #[serde(default, rename = "tcp")]
    pub tcp: Vec<TcpSpec>,
    /// Synthetic traffic generators attached to switch ports.
    #[serde(default, rename = "generator")]
    pub generators: Vec<GeneratorSpec>,
    /// Hosts joining (and leaving) IPv4 multicast groups.
    #[serde(default, rename = "join")]
    pub joins: Vec<JoinSpec>,
    /// Wires between switches cut during the run.
    #[serde(default, rename = "cut")]
    pub cuts: Vec<CutSpec>,
    /// VXLAN tunnel ports on a simulated IPv4 underlay.
    #[serde(default, rename = "tunnel")]
    pub tunnels: Vec<TunnelSpec>,
    /// Ports (`s1:s2`) the plot draws, each on its own line (at most six),
    /// instead of every port or sums.
    #[serde(default, rename = "plot-ports")]
    pub plot_ports: Vec<String>,
    /// Groups of switches (the compact form); empty once the file is read, as
    /// they are expanded into `switches` and `wires`.
    #[serde(default, rename = "switches")]
    pub switch_groups: Vec<SwitchGroup>,
    /// Groups of hosts (the compact form); empty once the file is read, as
    /// they are expanded into `hosts`, after the `[[host]]` entries.
    #[serde(default, rename = "hosts")]
    pub host_groups: Vec<HostGroup>,
}

fn default_seed() -> u64 {
    1
}
fn default_duration() -> Span {
    Span(10 * NS_PER_SEC)
}
fn default_latency() -> Span {
    Span(5_000)
}
fn default_bandwidth() -> BitRate {
    BitRate(1_000_000_000)
}
fn default_queue() -> usize {
    1000
}

/// A host: one interface with a MAC and an IPv4 address, on a switch port.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Its name.
    pub name: String,
    /// Address and prefix, `192.168.100.101/24`.
    pub ip: String,
    /// MAC; by default `02:00:00:00:hh:ll` from its position in the file.
    #[serde(default)]
    pub mac: Option<String>,
    /// The switch port it is plugged into, `s1:p1`.
    pub port: String,
    /// Latency of its wire.
    #[serde(default)]
    pub latency: Option<Span>,
    /// Bandwidth of its wire.
    #[serde(default)]
    pub bandwidth: Option<BitRate>,
    /// Times it is unplugged and plugged into another port (MAC churn).
    #[serde(default)]
    pub moves: Vec<MoveSpec>,
}

/// A host moving to another switch port.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveSpec {
    /// When.
    pub at: Span,
    /// The new port, `s1:p5`.
    pub port: String,
}

/// A wire between two switch ports.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireSpec {
    /// One end, `s1:p5`.
    pub a: String,
    /// The other end, `s2:p5`.
    pub b: String,
    /// Propagation delay.
    #[serde(default)]
    pub latency: Option<Span>,
    /// Bandwidth.
    #[serde(default)]
    pub bandwidth: Option<BitRate>,
}

/// A VXLAN tunnel port (RFC 7348) of a switch: its frames travel in
/// IPv4/UDP/VXLAN packets from its `local` underlay address over a simulated
/// underlay network to the tunnel ports of other switches (other
/// "machines"). Known unicast goes to the endpoint its FDB entry learned;
/// floods go to every address of `remotes` (head-end replication).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelSpec {
    /// The switch port, `m1:vx0`.
    pub port: String,
    /// Its underlay IPv4 address.
    pub local: Ipv4Addr,
    /// Its VXLAN network identifier (0..=16777215).
    pub vni: u32,
    /// The flood list: underlay addresses of the other tunnel endpoints.
    #[serde(default)]
    pub remotes: Vec<Ipv4Addr>,
    /// Latency of its link to the underlay (default: the scenario's).
    #[serde(default)]
    pub latency: Option<Span>,
    /// Bandwidth of its link to the underlay (default: the scenario's).
    #[serde(default)]
    pub bandwidth: Option<BitRate>,
}

/// A wire between two switches cut at a time: both its ends go down (link
/// down, as a pulled cable) and frames on it are lost.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutSpec {
    /// One end of the wire, `s1:s2`.
    pub port: String,
    /// When.
    pub at: Span,
}

/// Pings from one host to another; `"*"` in `from` or `to` means every host.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingSpec {
    /// Sender host name, or `*`.
    pub from: String,
    /// Target host name, IPv4 address, or `*`.
    pub to: String,
    /// First echo request.
    #[serde(default = "default_start")]
    pub at: Span,
    /// Number of requests.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Time between requests.
    #[serde(default = "default_interval")]
    pub interval: Span,
    /// ICMP payload bytes.
    #[serde(default = "default_ping_size")]
    pub size: usize,
    /// When the entry has several pairs, start them evenly over this span
    /// after `at` instead of all at once, as real clients would (pair k of n
    /// at `at + k * spread / n`).
    #[serde(default)]
    pub spread: Span,
}

fn default_start() -> Span {
    Span(NS_PER_SEC / 10)
}
fn default_count() -> u32 {
    3
}
fn default_interval() -> Span {
    Span(NS_PER_SEC)
}
fn default_ping_size() -> usize {
    56
}

/// A UDP flow: datagrams at a rate, with sizes drawn from the seeded RNG.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UdpSpec {
    /// Sender host.
    pub from: String,
    /// Receiver host, or an IPv4 multicast group (`"239.1.2.3"`): a stream
    /// to whoever gets it, counted per host in the report's `groups`.
    pub to: String,
    /// Start.
    #[serde(default = "default_start")]
    pub at: Span,
    /// Datagrams per second (gaps are exponential, i.e. Poisson arrivals).
    pub rate: f64,
    /// Number of datagrams.
    pub count: u64,
    /// Smallest payload.
    #[serde(default = "default_udp_size")]
    pub min_size: usize,
    /// Largest payload.
    #[serde(default = "default_udp_size")]
    pub max_size: usize,
}

/// A host joins an IPv4 multicast group at `at` (smoltcp sends an IGMPv2
/// report and answers queries from then on), and leaves it at `leave` (an
/// IGMPv2 leave), if given:
///
/// ```toml
/// [[join]]
/// host = "m2"
/// group = "239.1.2.3"
/// at = "500ms"
/// leave = "4s"
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSpec {
    /// The host.
    pub host: String,
    /// The group, 224.0.0.0/4 outside 224.0.0.0/24.
    pub group: Ipv4Addr,
    /// When it joins.
    #[serde(default)]
    pub at: Span,
    /// When it leaves; never when absent.
    #[serde(default)]
    pub leave: Option<Span>,
}

/// The most groups a simulated host joins: smoltcp's default
/// `iface-max-multicast-group-count`.
pub const MAX_HOST_GROUPS: usize = 4;

/// Whether `ip` is a multicast group a stream or a join may use: in
/// 224.0.0.0/4 and not link-local (224.0.0.0/24).
pub fn is_stream_group(ip: Ipv4Addr) -> bool {
    ip.is_multicast() && ip.octets()[..3] != [224, 0, 0]
}

fn default_udp_size() -> usize {
    512
}

/// A TCP transfer of `bytes` from one host to another.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    /// Sender (client) host.
    pub from: String,
    /// Receiver (server) host.
    pub to: String,
    /// When the client connects.
    #[serde(default = "default_start")]
    pub at: Span,
    /// Bytes to send.
    pub bytes: u64,
}

/// What a generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorKind {
    /// Frames from random source MACs to random unicast destinations (macof).
    MacFlood,
    /// Broadcast frames from the generator's MAC.
    Broadcast,
    /// UDP/IPv4 frames from the generator's MAC to the MAC of `to`.
    Unicast,
    /// Broadcast frames from a MAC drawn at random from a pool of `macs` MACs
    /// shared by every churn generator: with churn generators on several
    /// ports, the pool's MACs keep moving between them.
    Churn,
}

/// A synthetic traffic source (and sink) on a switch port, driven by the seeded RNG.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSpec {
    /// Its name.
    pub name: String,
    /// What it sends.
    pub kind: GeneratorKind,
    /// Switch port, `s1:p4`.
    pub port: String,
    /// Its own MAC (source of broadcast and unicast kinds).
    #[serde(default)]
    pub mac: Option<String>,
    /// Destination of the unicast kind: a host or generator name, or several.
    #[serde(default)]
    pub to: Vec<String>,
    /// Frames per second.
    pub rate: f64,
    /// Start.
    #[serde(default)]
    pub at: Span,
    /// Number of frames (default: until the end).
    #[serde(default)]
    pub count: Option<u64>,
    /// Frame size in bytes (14..=1518).
    #[serde(default = "default_frame_size")]
    pub size: usize,
    /// Draw gaps from an exponential distribution instead of a fixed interval.
    #[serde(default)]
    pub poisson: bool,
    /// Size of the shared MAC pool of the churn kind.
    #[serde(default = "default_churn_macs")]
    pub macs: u16,
    /// Wire latency.
    #[serde(default)]
    pub latency: Option<Span>,
    /// Wire bandwidth.
    #[serde(default)]
    pub bandwidth: Option<BitRate>,
}

fn default_churn_macs() -> u16 {
    16
}

fn default_frame_size() -> usize {
    64
}

/// A switch port reference `switch:port`, checked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRef {
    /// Switch name.
    pub switch: String,
    /// Port name on it.
    pub port: String,
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.switch, self.port)
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read {
            path: shown.clone(),
            error,
        })?;
        let mut s = Scenario::parse(&text).map_err(|message| ScenarioError::Invalid {
            path: shown,
            message,
        })?;
        if s.name.is_empty() {
            s.name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok(s)
    }

    /// Reads and checks scenario text.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text).map_err(|message| ScenarioError::Invalid {
            path: "<scenario>".into(),
            message,
        })
    }

    fn parse(text: &str) -> Result<Scenario, String> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|r| {
                1 + text.as_bytes()[..r.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
            });
            let msg = e.message().trim().replace('\n', " ");
            match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }
        })?;
        s.expand_groups()?;
        s.check()?;
        Ok(s)
    }

    /// Turns the compact form's groups into switches, wires and hosts.
    fn expand_groups(&mut self) -> Result<(), String> {
        let switch_groups = std::mem::take(&mut self.switch_groups);
        groups::expand_switches(&switch_groups, &mut self.switches, &mut self.wires)?;
        let host_groups = std::mem::take(&mut self.host_groups);
        groups::expand_hosts(&host_groups, &self.switches, &mut self.hosts)
    }

    /// Parses `switch:port`, checking that the switch exists.
    pub fn port_ref(&self, text: &str, whose: &str) -> Result<PortRef, String> {
        let Some((sw, port)) = text.split_once(':') else {
            return Err(format!(
                "{whose}: port {text:?} must be written switch:port, like \"s1:p1\""
            ));
        };
        if !self.switches.contains_key(sw) {
            return Err(format!(
                "{whose}: port {text:?} names no switch {sw:?} (add a [switch.{sw}] table)"
            ));
        }
        if port.is_empty() || port.contains(':') {
            return Err(format!("{whose}: port {text:?} has a bad port name"));
        }
        Ok(PortRef {
            switch: sw.to_string(),
            port: port.to_string(),
        })
    }

    /// The number of the `[[wire]]` (switch to switch) one of whose ends is `r`.
    pub fn wire_of(&self, r: &PortRef) -> Option<usize> {
        self.wires.iter().position(|w| {
            [&w.a, &w.b]
                .iter()
                .any(|e| self.port_ref(e, "wire").is_ok_and(|e| e == *r))
        })
    }

    /// The MAC of host number `i`: by default `02:00:00` and `i + 1` in the
    /// low 24 bits (`02:00:00:00:00:01` for the first host).
    pub fn host_mac(&self, i: usize) -> Result<MacAddr, String> {
        match &self.hosts[i].mac {
            Some(m) => parse_mac(m, &self.hosts[i].name),
            None => {
                let n = i + 1;
                Ok(MacAddr([2, 0, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8]))
            }
        }
    }

    /// The MAC of generator number `i`.
    pub fn generator_mac(&self, i: usize) -> Result<MacAddr, String> {
        match &self.generators[i].mac {
            Some(m) => parse_mac(m, &self.generators[i].name),
            None => {
                let n = i + 1;
                Ok(MacAddr([
                    2,
                    0xfe,
                    0,
                    (n >> 16) as u8,
                    (n >> 8) as u8,
                    n as u8,
                ]))
            }
        }
    }

    /// Address and prefix length of host number `i`.
    pub fn host_ip(&self, i: usize) -> Result<(Ipv4Addr, u8), String> {
        let h = &self.hosts[i];
        let (addr, prefix) = h.ip.split_once('/').unwrap_or((&h.ip, "24"));
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("host {:?}: ip {:?} is not an IPv4 address", h.name, h.ip))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| format!("host {:?}: ip {:?} has a bad prefix length", h.name, h.ip))?;
        Ok((addr, prefix))
    }

    /// Host number of `name`.
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// The (from, to) host pairs of a ping entry, `*` expanded.
    pub fn ping_pairs(&self, p: &PingSpec) -> Vec<(usize, usize)> {
        let pick = |name: &str| -> Vec<usize> {
            if name == "*" {
                (0..self.hosts.len()).collect()
            } else {
                self.host_index(name).into_iter().collect()
            }
        };
        let mut pairs = Vec::new();
        for f in pick(&p.from) {
            for t in pick(&p.to) {
                if f != t || (p.from != "*" && p.to != "*") {
                    pairs.push((f, t));
                }
            }
        }
        pairs
    }

    fn check(&self) -> Result<(), String> {
        if self.switches.is_empty() {
            return Err("the scenario has no switch: add a [switch.s1] table".into());
        }
        if self.duration.0 == 0 {
            return Err("duration must be longer than 0".into());
        }
        if self.queue == 0 {
            return Err("queue must be at least 1 frame".into());
        }
        for (name, sw) in &self.switches {
            sw.to_config(0)
                .map_err(|e| format!("switch {name:?}: {e}"))?;
            for (port, spec) in &sw.ports {
                spec.to_config()
                    .map_err(|e| format!("switch {name:?} port {port:?}: {e}"))?;
            }
        }
        let mut names = BTreeSet::new();
        let mut used_ports = BTreeSet::new();
        let mut plug = |r: PortRef, whose: &str| -> Result<(), String> {
            if !used_ports.insert(r.clone()) {
                return Err(format!(
                    "{whose}: port {r} is already connected to something else"
                ));
            }
            Ok(())
        };
        let mut macs = BTreeSet::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let whose = format!("host {:?}", h.name);
            if h.name.is_empty() || !names.insert(h.name.clone()) {
                return Err(format!("{whose}: the name is empty or used twice"));
            }
            plug(self.port_ref(&h.port, &whose)?, &whose)?;
            for m in &h.moves {
                self.port_ref(&m.port, &whose)?;
            }
            self.host_ip(i)?;
            let mac = self.host_mac(i)?;
            if !mac.is_valid_source() || !macs.insert(mac) {
                return Err(format!(
                    "{whose}: MAC {mac} is multicast, zero or used twice"
                ));
            }
        }
        for (i, g) in self.generators.iter().enumerate() {
            let whose = format!("generator {:?}", g.name);
            if g.name.is_empty() || !names.insert(g.name.clone()) {
                return Err(format!("{whose}: the name is empty or used twice"));
            }
            plug(self.port_ref(&g.port, &whose)?, &whose)?;
            let mac = self.generator_mac(i)?;
            if !mac.is_valid_source() || !macs.insert(mac) {
                return Err(format!(
                    "{whose}: MAC {mac} is multicast, zero or used twice"
                ));
            }
            if !(g.rate.is_finite() && g.rate > 0.0) {
                return Err(format!(
                    "{whose}: rate must be a positive number of frames per second"
                ));
            }
            if !(14..=9018).contains(&g.size) {
                return Err(format!(
                    "{whose}: size {} is outside 14..=9018 bytes",
                    g.size
                ));
            }
            if g.kind == GeneratorKind::Churn && g.macs == 0 {
                return Err(format!("{whose}: a churn generator needs macs >= 1"));
            }
            if g.kind == GeneratorKind::Unicast && g.to.is_empty() {
                return Err(format!(
                    "{whose}: a unicast generator needs `to` (host or generator names)"
                ));
            }
        }
        for g in &self.generators {
            for t in &g.to {
                if !names.contains(t) {
                    return Err(format!(
                        "generator {:?}: `to` names no host or generator {t:?}",
                        g.name
                    ));
                }
            }
        }
        for (i, w) in self.wires.iter().enumerate() {
            let whose = format!("wire {} ({} - {})", i + 1, w.a, w.b);
            let a = self.port_ref(&w.a, &whose)?;
            let b = self.port_ref(&w.b, &whose)?;
            if a == b {
                return Err(format!("{whose}: both ends are the same port"));
            }
            plug(a, &whose)?;
            plug(b, &whose)?;
        }
        let mut locals = BTreeSet::new();
        for t in &self.tunnels {
            let whose = format!("tunnel {:?}", t.port);
            plug(self.port_ref(&t.port, &whose)?, &whose)?;
            if t.vni > vswitch_core::vxlan::MAX_VNI {
                return Err(format!(
                    "{whose}: vni {} is outside 0..={}",
                    t.vni,
                    vswitch_core::vxlan::MAX_VNI
                ));
            }
            let usable = |a: &Ipv4Addr| {
                !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
            };
            if !usable(&t.local) || !locals.insert(t.local) {
                return Err(format!(
                    "{whose}: local {} is used twice or is not a unicast address",
                    t.local
                ));
            }
            let mut seen = BTreeSet::new();
            for r in &t.remotes {
                if !usable(r) || *r == t.local || !seen.insert(*r) {
                    return Err(format!(
                        "{whose}: remote {r} is its own address, used twice or not a unicast address"
                    ));
                }
            }
        }
        for h in &self.hosts {
            for m in &h.moves {
                let r = self.port_ref(&m.port, "")?;
                if used_ports.contains(&r) && r != self.port_ref(&h.port, "")? {
                    return Err(format!(
                        "host {:?}: moves to port {r}, which something else is plugged into",
                        h.name
                    ));
                }
            }
        }
        let host = |name: &str, what: &str| -> Result<usize, String> {
            self.host_index(name)
                .ok_or_else(|| format!("{what}: no host is called {name:?}"))
        };
        for p in &self.pings {
            if p.from != "*" {
                host(&p.from, "ping")?;
            }
            if p.to != "*" && p.to.parse::<Ipv4Addr>().is_err() {
                host(&p.to, "ping")?;
            }
            if p.size > 1400 {
                return Err(format!(
                    "ping from {:?}: size {} is above 1400 bytes",
                    p.from, p.size
                ));
            }
            if p.from == "*" && p.to.parse::<Ipv4Addr>().is_ok() {
                return Err("ping: from = \"*\" needs a host name or \"*\" in `to`".into());
            }
        }
        for u in &self.udp {
            let group = u.to.parse::<Ipv4Addr>().ok();
            if let Some(g) = group.filter(|g| !is_stream_group(*g)) {
                return Err(format!(
                    "udp from {:?}: {g} is not a multicast group outside 224.0.0.0/24",
                    u.from
                ));
            }
            let f = host(&u.from, "udp")?;
            let t = match group {
                Some(_) => usize::MAX,
                None => host(&u.to, "udp")?,
            };
            if f == t {
                return Err(format!(
                    "udp from {:?}: a flow needs two different hosts",
                    u.from
                ));
            }
            if !(u.rate.is_finite() && u.rate > 0.0) {
                return Err(format!(
                    "udp from {:?}: rate must be a positive number of datagrams per second",
                    u.from
                ));
            }
            if u.min_size > u.max_size || u.max_size > 1400 || u.min_size == 0 {
                return Err(format!(
                    "udp from {:?}: sizes must satisfy 1 <= min-size <= max-size <= 1400",
                    u.from
                ));
            }
        }
        let mut joined = BTreeSet::new();
        for j in &self.joins {
            let h = host(&j.host, "join")?;
            joined.insert((h, j.group));
            if joined
                .range((h, Ipv4Addr::UNSPECIFIED)..=(h, Ipv4Addr::BROADCAST))
                .count()
                > MAX_HOST_GROUPS
            {
                return Err(format!(
                    "join of {:?}: a simulated host joins at most {MAX_HOST_GROUPS} groups",
                    j.host
                ));
            }
            if !is_stream_group(j.group) {
                return Err(format!(
                    "join of {:?}: {} is not a multicast group outside 224.0.0.0/24",
                    j.host, j.group
                ));
            }
            if j.leave.is_some_and(|l| l.0 <= j.at.0) {
                return Err(format!(
                    "join of {:?} to {}: leave must come after at",
                    j.host, j.group
                ));
            }
        }
        for p in &self.plot_ports {
            self.port_ref(p, "plot-ports")?;
        }
        if self.plot_ports.len() > 6 {
            return Err("plot-ports: at most 6 ports, as many as a reader tells apart".into());
        }
        for c in &self.cuts {
            let whose = format!("cut of {:?}", c.port);
            let r = self.port_ref(&c.port, &whose)?;
            self.wire_of(&r).ok_or_else(|| {
                format!("{whose}: no [[wire]] between switches ends at that port")
            })?;
        }
        for t in &self.tcp {
            if host(&t.from, "tcp")? == host(&t.to, "tcp")? {
                return Err(format!(
                    "tcp from {:?}: a transfer needs two different hosts",
                    t.from
                ));
            }
        }
        Ok(())
    }
}

fn read_problem(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "the file does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn parse_mac(text: &str, whose: &str) -> Result<MacAddr, String> {
    text.parse()
        .map_err(|_| format!("{whose:?}: {text:?} is not a MAC address like 02:00:00:00:00:01"))
}

#[cfg(test)]
mod test {
    use super::*;

    fn error_of(text: &str) -> String {
        Scenario::from_toml(text).unwrap_err().to_string()
    }

    const HOSTS: &str = r#"
        [switch.s1]
        [[host]]
        name = "h1"
        ip = "10.0.0.1/24"
        port = "s1:p1"
    "#;

    #[test]
    fn bad_files_get_one_line_that_names_the_problem() {
        let e = error_of("[switch.s1]\nagin = 3\n");
        assert!(
            e.starts_with("<scenario>: line 2:") && e.contains("agin"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        assert!(error_of("seed = 1").contains("no switch"));
        let e = error_of(&HOSTS.replace("s1:p1", "s9:p1"));
        assert!(e.contains("names no switch \"s9\""), "{e}");
        let e = error_of(&format!(
            "{HOSTS}[[host]]\nname = \"h2\"\nip = \"10.0.0.2/24\"\nport = \"s1:p1\"\n"
        ));
        assert!(e.contains("already connected"), "{e}");
        let e = error_of(&HOSTS.replace("10.0.0.1/24", "10.0.0.300/24"));
        assert!(e.contains("not an IPv4 address"), "{e}");
        let e = error_of(&format!("{HOSTS}[[ping]]\nfrom = \"h1\"\nto = \"h7\"\n"));
        assert!(e.contains("no host is called \"h7\""), "{e}");
        let e = error_of(&format!("duration = \"3 weeks\"\n{HOSTS}"));
        assert!(e.contains("unknown unit"), "{e}");
        let e = error_of("[switch.s1]\ngroup-forward-mask = 1\n");
        assert!(e.contains("STP"), "{e}");
    }

    #[test]
    fn cuts_and_plot_ports_are_checked() {
        let ring = "[[switches]]\nname = \"s\"\ncount = 3\nlinks = \"ring\"\n[[hosts]]\non = \"s*\"\ncount = 1\nip = \"10.0.0.0/24\"\n";
        let cut = |port: &str| format!("{ring}[[cut]]\nport = \"{port}\"\nat = \"1s\"\n");
        let ok = Scenario::from_toml(&cut("s2:s1")).unwrap();
        assert_eq!(ok.cuts[0].at, Span(NS_PER_SEC));
        let e = error_of(&cut("s1:h1"));
        assert!(
            e.contains("no [[wire]] between switches ends at that port"),
            "{e}"
        );
        let e = error_of(&cut("s9:s1"));
        assert!(e.contains("names no switch"), "{e}");
        let plot = |ports: &str| format!("plot-ports = [{ports}]\n{ring}");
        assert!(Scenario::from_toml(&plot("\"s1:s2\"")).is_ok());
        let e = error_of(&plot(
            "\"s1:s2\", \"s1:s3\", \"s2:s1\", \"s2:s3\", \"s3:s1\", \"s3:s2\", \"s1:h1\"",
        ));
        assert!(e.contains("at most 6 ports"), "{e}");
    }

    #[test]
    fn joins_and_group_streams_are_checked() {
        let join = |host: &str, group: &str, rest: &str| {
            format!("{HOSTS}[[join]]\nhost = \"{host}\"\ngroup = \"{group}\"\n{rest}\n")
        };
        let ok = Scenario::from_toml(&join("h1", "239.1.2.3", "at = \"1s\"\nleave = \"2s\""));
        let ok = ok.unwrap();
        assert_eq!(ok.joins[0].leave, Some(Span(2 * NS_PER_SEC)));
        let e = error_of(&join("h9", "239.1.2.3", ""));
        assert!(e.contains("no host is called \"h9\""), "{e}");
        let e = error_of(&join("h1", "10.1.2.3", ""));
        assert!(e.contains("not a multicast group"), "{e}");
        let e = error_of(&join("h1", "224.0.0.1", ""));
        assert!(e.contains("not a multicast group"), "{e}");
        let e = error_of(&join("h1", "239.1.2.3", "at = \"2s\"\nleave = \"1s\""));
        assert!(e.contains("leave must come after at"), "{e}");
        let mut five = HOSTS.to_string();
        for g in 1..=5 {
            five.push_str(&format!(
                "[[join]]\nhost = \"h1\"\ngroup = \"239.0.0.{g}\"\n"
            ));
        }
        let e = error_of(&five);
        assert!(e.contains("at most 4 groups"), "{e}");
        let udp = |to: &str| {
            format!("{HOSTS}[[udp]]\nfrom = \"h1\"\nto = \"{to}\"\nrate = 1\ncount = 1\n")
        };
        assert!(Scenario::from_toml(&udp("239.1.2.3")).is_ok());
        let e = error_of(&udp("10.0.0.2"));
        assert!(e.contains("not a multicast group"), "{e}");
    }

    #[test]
    fn stars_expand_to_every_other_host() {
        let s = Scenario::from_toml(&format!(
            "{HOSTS}[[host]]\nname = \"h2\"\nip = \"10.0.0.2/24\"\nport = \"s1:p2\"\n[[ping]]\nfrom = \"*\"\nto = \"*\"\n"
        ))
        .unwrap();
        assert_eq!(s.ping_pairs(&s.pings[0]), [(0, 1), (1, 0)]);
        assert_eq!(s.host_mac(1).unwrap().to_string(), "02:00:00:00:00:02");
    }

    #[test]
    fn protections_are_read_from_kebab_case_keys() {
        let s = Scenario::from_toml(
            r#"
            [switch.s1]
            move-guard = { moves = 3, window = 2.5, action = "shutdown" }
            [switch.s1.ports.p1]
            storm-broadcast = 100
            storm-multicast = 0
            storm-unknown = 7
            mac-limit = 4
            mac-limit-action = "drop"
        "#,
        )
        .unwrap();
        let sw = &s.switches["s1"];
        let guard = sw.to_config(0).unwrap().move_guard.unwrap();
        assert_eq!(guard.moves, 3);
        assert_eq!(guard.window, std::time::Duration::from_millis(2500));
        assert_eq!(guard.hold, std::time::Duration::from_secs(60));
        assert_eq!(guard.action, vswitch_core::GuardAction::Shutdown);
        let p1 = sw.port_config("p1").unwrap();
        assert_eq!(
            p1.storm,
            vswitch_core::StormControl {
                broadcast: Some(100),
                multicast: Some(0),
                unknown_unicast: Some(7),
            }
        );
        let limit = p1.mac_limit.unwrap();
        assert_eq!(
            (limit.max, limit.action),
            (4, vswitch_core::MacLimitAction::Drop)
        );
        // Off unless written.
        let p2 = sw.port_config("p2").unwrap();
        assert!(!p2.storm.is_on() && p2.mac_limit.is_none());
        assert!(SwitchSpec::default()
            .to_config(0)
            .unwrap()
            .move_guard
            .is_none());
        let e = error_of("[switch.s1.ports.p1]\nmac-limit-action = \"maybe\"\n");
        assert!(e.contains("line 2"), "{e}");
        let e = error_of("[switch.s1]\nmove-guard = { moves = 1, holdd = 3 }\n");
        assert!(e.contains("holdd"), "{e}");
    }
}
