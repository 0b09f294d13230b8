//! What a simulation run reports: every switch's [`SwitchReport`], wires, hosts,
//! pings with their round-trip times in virtual time, UDP flows, TCP transfers
//! and generators. Printable for people; serialisable as JSON with the same data.

use crate::report::SwitchReport;
use serde::Serialize;
use std::fmt;

/// The whole outcome of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimReport {
    /// Scenario name.
    pub scenario: String,
    /// Its seed.
    pub seed: u64,
    /// Virtual time simulated, in nanoseconds.
    pub duration_ns: u64,
    /// Frames received by all switches.
    pub frames_switched: u64,
    /// Each switch, in name order.
    pub switches: Vec<SwitchReport>,
    /// Each wire, in scenario order (hosts' and generators' wires first).
    pub wires: Vec<WireReport>,
    /// Each host.
    pub hosts: Vec<HostReport>,
    /// Each ping (one per sender and target).
    pub pings: Vec<PingReport>,
    /// Each UDP flow.
    pub udp: Vec<UdpReport>,
    /// Each TCP transfer.
    pub tcp: Vec<TcpReport>,
    /// Each generator.
    pub generators: Vec<GeneratorReport>,
    /// Each VXLAN tunnel port, in scenario order.
    pub tunnels: Vec<TunnelReport>,
}

/// A VXLAN tunnel port's traffic and what it learned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TunnelReport {
    /// The switch port, `m1:vx0`.
    pub port: String,
    /// Its underlay address.
    pub local: String,
    /// Its VNI.
    pub vni: u32,
    /// Its flood list.
    pub flood: Vec<String>,
    /// Frames the switch sent it that went into the underlay.
    pub encapsulated: u64,
    /// Underlay packets sent: a flood sends one per flood-list endpoint.
    pub packets_sent: u64,
    /// Underlay packets that became frames for the switch.
    pub decapsulated: u64,
    /// Dropped, by reason: on receive `not-vxlan`, `vxlan-short`,
    /// `vxlan-no-i-flag`, `vxlan-wrong-vni`, `too-many-remotes`; on send
    /// `no-remote` (no endpoint to send to), `unroutable` (no tunnel has
    /// the address), `queue-full` (its underlay link's queue).
    pub drops: Vec<(String, u64)>,
    /// The FDB entries on the port at the end, each with the endpoint it was
    /// learned behind.
    pub remotes: Vec<RemoteEntry>,
}

/// An FDB entry behind a tunnel port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoteEntry {
    /// VLAN (0 on a VLAN-unaware switch).
    pub vid: u16,
    /// The MAC address.
    pub mac: String,
    /// The underlay address of the endpoint it is behind (`-` for none).
    pub dst: String,
}

/// A wire's traffic: index 0 is a->b, 1 is b->a.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireReport {
    /// One end (`s1:p1`, or a host or generator name).
    pub a: String,
    /// The other end.
    pub b: String,
    /// Frames put on the wire in each direction.
    pub frames: [u64; 2],
    /// Frames dropped because the direction's queue was full.
    pub dropped: [u64; 2],
}

/// A host's interface counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostReport {
    /// Name.
    pub name: String,
    /// MAC.
    pub mac: String,
    /// IPv4 address.
    pub ip: String,
    /// The switch port it is plugged into at the end.
    pub port: String,
    /// Frames received.
    pub rx_frames: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Packets it dropped, by reason.
    pub dropped: HostDrops,
    /// The group streams (UDP to a multicast group) that reached it, by
    /// group in order of arrival; left out when none did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRx>,
}

/// One group stream as a host received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupRx {
    /// The group, `239.1.2.3`.
    pub group: String,
    /// UDP datagrams to the group that arrived on the host's wire, whether
    /// or not the host had joined it.
    pub frames: u64,
    /// Their UDP payload bytes.
    pub bytes: u64,
    /// Virtual time of the first, ns.
    pub first_ns: u64,
    /// Virtual time of the last, ns.
    pub last_ns: u64,
}

/// Packets a host dropped or could not send, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostDrops {
    /// Echo requests it did not answer because it had no neighbour (ARP)
    /// entry for the sender, all [`crate::host::NEIGHBOR_CACHE`] being in use,
    /// and was already waiting for an ARP reply (smoltcp asks once a second).
    pub no_neighbor: u64,
    /// Packets an application could not send because its socket's buffer was full.
    pub socket_buffer: u64,
    /// Frames lost because its wire's transmit queue was full.
    pub queue: u64,
}

impl HostDrops {
    /// No drop at all.
    pub fn is_none(&self) -> bool {
        *self == HostDrops::default()
    }
}

impl fmt::Display for HostDrops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no neighbour entry {}, socket buffer full {}, queue full {}",
            self.no_neighbor, self.socket_buffer, self.queue
        )
    }
}

/// Pings from one host to one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PingReport {
    /// Sender.
    pub from: String,
    /// Target (host name or address).
    pub to: String,
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
    /// Round-trip times of the answered requests, in virtual nanoseconds, from
    /// the moment each request left the sender's interface.
    pub rtt_ns: Vec<u64>,
}

impl PingReport {
    /// Smallest, mean and largest RTT in nanoseconds, if any reply came.
    pub fn rtt_min_avg_max(&self) -> Option<(u64, u64, u64)> {
        let min = *self.rtt_ns.iter().min()?;
        let max = *self.rtt_ns.iter().max()?;
        let avg = self.rtt_ns.iter().sum::<u64>() / self.rtt_ns.len() as u64;
        Some((min, avg, max))
    }
}

/// A UDP flow's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UdpReport {
    /// Sender.
    pub from: String,
    /// Receiver: a host, or a multicast group.
    pub to: String,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received; to a group: the copies that reached hosts (of
    /// every flow to the group; see each host's `groups`).
    pub received: u64,
    /// Payload bytes received (to a group: in those copies).
    pub received_bytes: u64,
}

/// A TCP transfer's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpReport {
    /// Client (sender).
    pub from: String,
    /// Server (receiver).
    pub to: String,
    /// Bytes to send.
    pub bytes: u64,
    /// Bytes the server received.
    pub received: u64,
    /// Virtual time the last byte arrived, if it did.
    pub done_ns: Option<u64>,
    /// Goodput from connect to last byte, bits per second of virtual time.
    pub goodput_bps: Option<u64>,
}

/// A generator's counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GeneratorReport {
    /// Name.
    pub name: String,
    /// What it sends.
    pub kind: String,
    /// Frames sent.
    pub sent: u64,
    /// Frames it received.
    pub received: u64,
}

/// FDB entries per switch in the human summary.
const MAX_ENTRIES_SHOWN: usize = 16;

/// Rows of a list (switches, ports, hosts, pings, ...) that the human summary
/// shows before it summarises the rest; `--full` shows them all.
pub const MAX_ROWS: usize = 20;

/// Failures named in a summary line.
const NAMED: usize = 5;

/// `1.234ms` style durations for people.
pub struct Ns(pub u64);

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n >= 1_000_000_000 {
            write!(f, "{:.3}s", n as f64 / 1e9)
        } else if n >= 1_000_000 {
            write!(f, "{:.3}ms", n as f64 / 1e6)
        } else {
            write!(f, "{:.1}us", n as f64 / 1e3)
        }
    }
}

/// The report for people: every row, or long lists summarised.
pub struct Human<'a> {
    report: &'a SimReport,
    rows: usize,
}

impl fmt::Display for Human<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.report.write(f, self.rows)
    }
}

/// Writes the first `rows` of `items` with `line`, then how many more there are.
fn rows<T>(
    f: &mut impl fmt::Write,
    items: &[T],
    rows: usize,
    what: &str,
    mut line: impl FnMut(&mut dyn fmt::Write, &T) -> fmt::Result,
) -> fmt::Result {
    for item in items.iter().take(rows) {
        line(f, item)?;
    }
    crate::report::more(f, items.len(), rows, what)
}

impl SimReport {
    /// Ping pairs with at least one reply, and all pairs.
    pub fn pairs_answered(&self) -> (usize, usize) {
        (
            self.pings.iter().filter(|p| p.received > 0).count(),
            self.pings.len(),
        )
    }

    /// Writes the ping table and the `N of M pairs answered` line; with
    /// more than [`MAX_ROWS`] pairs, the table is summarised: the unanswered
    /// pairs (the first few named) and the round-trip times of all.
    pub fn fmt_pings(&self, f: &mut impl fmt::Write) -> fmt::Result {
        self.write_pings(f, MAX_ROWS)
    }

    fn write_pings(&self, f: &mut impl fmt::Write, rows: usize) -> fmt::Result {
        if self.pings.is_empty() {
            return Ok(());
        }
        writeln!(f, "pings")?;
        if self.pings.len() <= rows {
            for p in &self.pings {
                write!(
                    f,
                    "  {:<10} -> {:<15} {}/{} replies",
                    p.from, p.to, p.received, p.sent
                )?;
                match p.rtt_min_avg_max() {
                    Some((min, avg, max)) => {
                        writeln!(f, "  rtt min/avg/max {}/{}/{}", Ns(min), Ns(avg), Ns(max))?
                    }
                    None => writeln!(f)?,
                }
            }
        } else {
            let sent: u64 = self.pings.iter().map(|p| u64::from(p.sent)).sum();
            let received: u64 = self.pings.iter().map(|p| u64::from(p.received)).sum();
            write!(f, "  {received} of {sent} echo requests answered")?;
            let all = PingReport {
                from: String::new(),
                to: String::new(),
                sent: 0,
                received: 0,
                rtt_ns: self
                    .pings
                    .iter()
                    .flat_map(|p| p.rtt_ns.iter().copied())
                    .collect(),
            };
            match all.rtt_min_avg_max() {
                Some((min, avg, max)) => {
                    writeln!(f, ", rtt min/avg/max {}/{}/{}", Ns(min), Ns(avg), Ns(max))?
                }
                None => writeln!(f)?,
            }
            let silent: Vec<String> = self
                .pings
                .iter()
                .filter(|p| p.received == 0)
                .map(|p| format!("{} -> {}", p.from, p.to))
                .collect();
            if !silent.is_empty() {
                write!(
                    f,
                    "  not answered: {}",
                    silent[..silent.len().min(NAMED)].join(", ")
                )?;
                if silent.len() > NAMED {
                    write!(f, " and {} more", silent.len() - NAMED)?;
                }
                writeln!(f)?;
            }
        }
        let (ok, all) = self.pairs_answered();
        writeln!(f, "  {ok} of {all} pairs answered")
    }

    /// The report for people with every row (`--full`).
    pub fn full(&self) -> Human<'_> {
        Human {
            report: self,
            rows: usize::MAX,
        }
    }

    /// The report for people with lists longer than [`MAX_ROWS`] summarised;
    /// what `Display` prints.
    pub fn summary(&self) -> Human<'_> {
        Human {
            report: self,
            rows: MAX_ROWS,
        }
    }

    fn write(&self, f: &mut impl fmt::Write, max: usize) -> fmt::Result {
        writeln!(
            f,
            "scenario {} (seed {}): {} of virtual time, {} frames switched",
            self.scenario,
            self.seed,
            Ns(self.duration_ns),
            self.frames_switched
        )?;
        let entries = if max == usize::MAX {
            max
        } else {
            MAX_ENTRIES_SHOWN
        };
        if self.switches.len() <= max {
            for s in &self.switches {
                // A flooded table would bury everything else: the JSON lists it all.
                s.write(f, max, entries)?;
            }
        } else {
            writeln!(f, "switches")?;
            rows(f, &self.switches, max, "switches", |f, s| {
                let drops: u64 = s.ports.iter().map(|p| p.counters.total_drops()).sum();
                let tx: u64 = s.ports.iter().map(|p| p.counters.tx_frames).sum();
                writeln!(
                    f,
                    "  {:<12} {:>5} ports rx {:>10} tx {:>10} dropped {:>8} fdb {:>6}",
                    s.name,
                    s.ports.len(),
                    s.rx_frames(),
                    tx,
                    drops,
                    s.fdb.stats.current
                )
            })?;
        }
        let dropped: Vec<&WireReport> = self.wires.iter().filter(|w| w.dropped != [0, 0]).collect();
        if !dropped.is_empty() {
            writeln!(f, "wires with full queues")?;
            rows(f, &dropped, max, "wires", |f, w| {
                writeln!(
                    f,
                    "  {} -> {}: {} dropped; {} -> {}: {} dropped",
                    w.a, w.b, w.dropped[0], w.b, w.a, w.dropped[1]
                )
            })?;
        }
        if self.hosts.len() > max {
            let rx: u64 = self.hosts.iter().map(|h| h.rx_frames).sum();
            let tx: u64 = self.hosts.iter().map(|h| h.tx_frames).sum();
            writeln!(
                f,
                "hosts: {} hosts received {rx} and sent {tx} frames",
                self.hosts.len()
            )?;
        } else if !self.hosts.is_empty() {
            writeln!(f, "hosts")?;
            for h in &self.hosts {
                writeln!(
                    f,
                    "  {:<10} {} {:<15} on {:<10} rx {:>8} tx {:>8}",
                    h.name, h.mac, h.ip, h.port, h.rx_frames, h.tx_frames
                )?;
            }
        }
        self.write_group_streams(f, max)?;
        let dropping: Vec<&HostReport> =
            self.hosts.iter().filter(|h| !h.dropped.is_none()).collect();
        if !dropping.is_empty() {
            writeln!(
                f,
                "hosts that dropped packets (a simulated host keeps {} neighbour entries)",
                crate::host::NEIGHBOR_CACHE
            )?;
            rows(f, &dropping, max, "hosts", |f, h| {
                writeln!(f, "  {:<10} {}", h.name, h.dropped)
            })?;
        }
        self.write_pings(f, max)?;
        if !self.udp.is_empty() {
            writeln!(f, "udp flows")?;
            rows(f, &self.udp, max, "flows", |f, u| {
                writeln!(
                    f,
                    "  {:<10} -> {:<10} sent {:>8} received {:>8} ({} bytes)",
                    u.from, u.to, u.sent, u.received, u.received_bytes
                )
            })?;
        }
        if !self.tcp.is_empty() {
            writeln!(f, "tcp transfers")?;
            rows(f, &self.tcp, max, "transfers", |f, t| {
                write!(
                    f,
                    "  {:<10} -> {:<10} {}/{} bytes",
                    t.from, t.to, t.received, t.bytes
                )?;
                match (t.done_ns, t.goodput_bps) {
                    (Some(done), Some(bps)) => {
                        writeln!(f, ", done at {}, {:.1} Mbit/s", Ns(done), bps as f64 / 1e6)
                    }
                    _ => writeln!(f, ", not finished"),
                }
            })?;
        }
        if !self.tunnels.is_empty() {
            writeln!(f, "vxlan tunnels")?;
            rows(f, &self.tunnels, max, "tunnels", |f, t| {
                write!(
                    f,
                    "  {:<10} local {} vni {} encapsulated {} ({} packets) decapsulated {} remotes learned {}",
                    t.port, t.local, t.vni, t.encapsulated, t.packets_sent, t.decapsulated,
                    t.remotes.len()
                )?;
                if t.drops.is_empty() {
                    writeln!(f, ", no drops")
                } else {
                    let d: Vec<String> = t.drops.iter().map(|(r, n)| format!("{r} {n}")).collect();
                    writeln!(f, ", dropped {}", d.join(", "))
                }
            })?;
        }
        if !self.generators.is_empty() {
            writeln!(f, "generators")?;
            rows(f, &self.generators, max, "generators", |f, g| {
                writeln!(
                    f,
                    "  {:<10} {:<10} sent {:>10} received {:>10}",
                    g.name, g.kind, g.sent, g.received
                )
            })?;
        }
        Ok(())
    }
}

impl SimReport {
    /// Which hosts the streams to multicast groups reached, when there are
    /// any: each host's datagrams per group, and "none" for hosts they
    /// did not reach.
    fn write_group_streams(&self, f: &mut impl fmt::Write, max: usize) -> fmt::Result {
        let streams = self
            .udp
            .iter()
            .any(|u| u.to.parse::<std::net::Ipv4Addr>().is_ok());
        if !streams && self.hosts.iter().all(|h| h.groups.is_empty()) {
            return Ok(());
        }
        writeln!(f, "group streams received")?;
        rows(f, &self.hosts, max, "hosts", |f, h| {
            write!(f, "  {:<10}", h.name)?;
            if h.groups.is_empty() {
                write!(f, " none")?;
            }
            for g in &h.groups {
                write!(
                    f,
                    " {} {} datagrams ({} to {})",
                    g.group,
                    g.frames,
                    Ns(g.first_ns),
                    Ns(g.last_ns)
                )?;
            }
            writeln!(f)
        })
    }
}

impl fmt::Display for SimReport {
    /// The summary: see [`SimReport::summary`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, MAX_ROWS)
    }
}
