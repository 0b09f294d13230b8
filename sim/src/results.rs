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
    /// Receiver.
    pub to: String,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
    /// Payload bytes received.
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

impl SimReport {
    /// Ping pairs with at least one reply, and all pairs.
    pub fn pairs_answered(&self) -> (usize, usize) {
        (
            self.pings.iter().filter(|p| p.received > 0).count(),
            self.pings.len(),
        )
    }

    /// Writes the ping table and the `N of M pairs answered` line.
    pub fn fmt_pings(&self, f: &mut impl fmt::Write) -> fmt::Result {
        if self.pings.is_empty() {
            return Ok(());
        }
        writeln!(f, "pings")?;
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
        let (ok, all) = self.pairs_answered();
        writeln!(f, "  {ok} of {all} pairs answered")
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scenario {} (seed {}): {} of virtual time, {} frames switched",
            self.scenario,
            self.seed,
            Ns(self.duration_ns),
            self.frames_switched
        )?;
        for s in &self.switches {
            // A flooded table would bury everything else: the JSON lists it all.
            let mut shown = s.clone();
            shown.fdb.entries.truncate(MAX_ENTRIES_SHOWN);
            write!(f, "{shown}")?;
            if s.fdb.entries.len() > MAX_ENTRIES_SHOWN {
                writeln!(
                    f,
                    "    ... and {} more entries (--json lists them all)",
                    s.fdb.entries.len() - MAX_ENTRIES_SHOWN
                )?;
            }
        }
        let dropped: Vec<&WireReport> = self.wires.iter().filter(|w| w.dropped != [0, 0]).collect();
        if !dropped.is_empty() {
            writeln!(f, "wires with full queues")?;
            for w in dropped {
                writeln!(
                    f,
                    "  {} -> {}: {} dropped; {} -> {}: {} dropped",
                    w.a, w.b, w.dropped[0], w.b, w.a, w.dropped[1]
                )?;
            }
        }
        if !self.hosts.is_empty() {
            writeln!(f, "hosts")?;
            for h in &self.hosts {
                writeln!(
                    f,
                    "  {:<10} {} {:<15} on {:<10} rx {:>8} tx {:>8}",
                    h.name, h.mac, h.ip, h.port, h.rx_frames, h.tx_frames
                )?;
            }
        }
        self.fmt_pings(f)?;
        if !self.udp.is_empty() {
            writeln!(f, "udp flows")?;
            for u in &self.udp {
                writeln!(
                    f,
                    "  {:<10} -> {:<10} sent {:>8} received {:>8} ({} bytes)",
                    u.from, u.to, u.sent, u.received, u.received_bytes
                )?;
            }
        }
        if !self.tcp.is_empty() {
            writeln!(f, "tcp transfers")?;
            for t in &self.tcp {
                write!(
                    f,
                    "  {:<10} -> {:<10} {}/{} bytes",
                    t.from, t.to, t.received, t.bytes
                )?;
                match (t.done_ns, t.goodput_bps) {
                    (Some(done), Some(bps)) => {
                        writeln!(f, ", done at {}, {:.1} Mbit/s", Ns(done), bps as f64 / 1e6)?
                    }
                    _ => writeln!(f, ", not finished")?,
                }
            }
        }
        if !self.generators.is_empty() {
            writeln!(f, "generators")?;
            for g in &self.generators {
                writeln!(
                    f,
                    "  {:<10} {:<10} sent {:>10} received {:>10}",
                    g.name, g.kind, g.sent, g.received
                )?;
            }
        }
        Ok(())
    }
}
