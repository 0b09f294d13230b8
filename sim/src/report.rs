//! What a run or a replay reports about a switch: per-port counters, drops by
//! reason (storm control's included), FDB statistics and the move guard's and
//! MAC limits' events, printable for people and serialisable as JSON.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use vswitch_core::{FdbEntry, FdbStats, GuardStats, Instant, PortCounters, Switch};

/// One port's counters, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortReport {
    /// Port number on its switch.
    pub port: u16,
    /// Port name (the host or wire it is attached to).
    pub name: String,
    /// Up or down at the end.
    pub up: bool,
    /// The core's counters of the port (flattened: `rx_frames`, ...,
    /// `drops` by reason name with the reasons with no drop left out, `guard`).
    #[serde(flatten)]
    pub counters: PortCounters,
    /// Shut down by the move guard at the end.
    pub shut_down: bool,
}

/// FDB statistics and contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FdbReport {
    /// The table's totals at the end (flattened: `learned`, `moved`, ... in JSON).
    #[serde(flatten)]
    pub stats: FdbStats,
    /// The entries at the end, sorted by port, VLAN and MAC.
    pub entries: Vec<FdbEntryReport>,
}

/// One FDB entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FdbEntryReport {
    /// Port number.
    pub port: u16,
    /// Port name.
    pub port_name: String,
    /// VLAN.
    pub vid: u16,
    /// MAC address, `02:00:00:00:00:01`.
    pub mac: String,
    /// Milliseconds since last seen (0 for static).
    pub age_ms: u64,
    /// Static entry.
    pub is_static: bool,
}

/// The multicast group table of a snooping switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct McastReport {
    /// The own querier is on.
    pub querier: bool,
    /// The groups at the end, in the table's order.
    pub groups: Vec<GroupReport>,
    /// Router ports (configured or learned from queries), by name.
    pub routers: Vec<String>,
    /// IGMP/MLD reports seen.
    pub reports: u64,
    /// Leaves seen.
    pub leaves: u64,
    /// Queries seen from other queriers.
    pub queries: u64,
    /// Queries the own querier sent.
    pub own_queries: u64,
}

/// One group of the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    /// VLAN.
    pub vid: u16,
    /// The group address.
    pub group: String,
    /// Member ports whose membership has not run out, by name.
    pub members: Vec<String>,
    /// Frames forwarded to the group.
    pub frames: u64,
}

/// Everything reported about one switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SwitchReport {
    /// Switch name.
    pub name: String,
    /// Its ports.
    pub ports: Vec<PortReport>,
    /// Its table.
    pub fdb: FdbReport,
    /// Move-guard and MAC-limit events.
    pub guard: GuardStats,
    /// The group table, when the switch snoops multicast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcast: Option<McastReport>,
    /// The spanning tree, when it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stp: Option<StpReport>,
}

/// A switch's spanning tree at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StpReport {
    /// This bridge's identifier, `8000.025700000000`.
    pub bridge_id: String,
    /// The root bridge's identifier.
    pub root_id: String,
    /// This bridge is the root.
    pub is_root: bool,
    /// The root port's name; none on the root.
    pub root_port: Option<String>,
    /// The cost of the path to the root.
    pub root_path_cost: u32,
    /// Topology changes detected or told of.
    pub topology_changes: u64,
    /// Every port's role and state.
    pub ports: Vec<StpPortReport>,
}

/// One port of [`StpReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StpPortReport {
    /// Port name.
    pub name: String,
    /// `root`, `designated`, `alternate`, `backup` or `disabled`.
    pub role: String,
    /// `discarding`, `learning` or `forwarding`.
    pub state: String,
    /// Operating as an edge port.
    pub edge: bool,
    /// BPDUs received and sent.
    pub bpdus_rx: u64,
    /// BPDUs sent.
    pub bpdus_tx: u64,
}

fn stp_report(switch: &Switch, port_name: &impl Fn(u16) -> String) -> Option<StpReport> {
    let stp = switch.stp()?;
    Some(StpReport {
        bridge_id: stp.bridge_id().to_string(),
        root_id: stp.root_id().to_string(),
        is_root: stp.root_id() == stp.bridge_id(),
        root_port: stp.root_port().map(|p| port_name(p.0)),
        root_path_cost: stp.root_path_cost(),
        topology_changes: stp.topology_changes(),
        ports: stp
            .statuses()
            .map(|s| StpPortReport {
                name: port_name(s.port.0),
                role: s.role.name().into(),
                state: s.state.name().into(),
                edge: s.edge,
                bpdus_rx: s.counters.rx,
                bpdus_tx: s.counters.tx,
            })
            .collect(),
    })
}

impl SwitchReport {
    /// Reads the report off `switch` at time `now`; `port_name` names port numbers.
    pub fn new(
        name: &str,
        switch: &mut Switch,
        now: Instant,
        port_name: impl Fn(u16) -> String,
    ) -> SwitchReport {
        let ports = switch
            .ports()
            .map(|(id, p)| PortReport {
                port: id.0,
                name: port_name(id.0),
                up: p.up,
                counters: p.counters,
                shut_down: p.shutdown_until.is_some(),
            })
            .collect();
        // Sorted before the strings are made: a MAC's text sorts as its
        // bytes do, and (port, vid, MAC) is unique. A big network's switches
        // hold a million entries between them.
        let mut raw: Vec<FdbEntry> = switch.fdb_mut().entries(now).collect();
        raw.sort_unstable_by_key(|e| (e.port.0, e.vid, e.mac.0));
        let mut names: Option<(u16, String)> = None;
        let entries = raw
            .iter()
            .map(|e| {
                let name = match &names {
                    Some((p, name)) if *p == e.port.0 => name.clone(),
                    _ => names.insert((e.port.0, port_name(e.port.0))).1.clone(),
                };
                FdbEntryReport {
                    port: e.port.0,
                    port_name: name,
                    vid: e.vid,
                    mac: e.mac.to_string(),
                    age_ms: e.age.as_millis() as u64,
                    is_static: e.is_static,
                }
            })
            .collect();
        SwitchReport {
            name: name.to_string(),
            ports,
            fdb: FdbReport {
                stats: switch.fdb().stats(),
                entries,
            },
            guard: switch.guard_stats(),
            mcast: mcast_report(switch, now, &port_name),
            stp: stp_report(switch, &port_name),
        }
    }

    /// Frames received on all ports.
    pub fn rx_frames(&self) -> u64 {
        self.ports.iter().map(|p| p.counters.rx_frames).sum()
    }
}

impl fmt::Display for SwitchReport {
    /// A table of ports, then FDB totals and entries, as `vswitch show` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, usize::MAX, usize::MAX)
    }
}

impl SwitchReport {
    /// The table of [`fmt::Display`] with at most `ports` port rows and
    /// `entries` FDB entries, each cut short with a line saying how many more
    /// `--json` lists.
    pub fn write(&self, f: &mut impl fmt::Write, ports: usize, entries: usize) -> fmt::Result {
        writeln!(f, "switch {}", self.name)?;
        writeln!(
            f,
            "  {:>4} {:<12} {:>4} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}  drops",
            "port", "name", "up", "rx", "tx", "unicast", "flood", "unknown", "dropped"
        )?;
        for p in self.ports.iter().take(ports) {
            let c = &p.counters;
            let dropped = c.total_drops();
            // By name, as always.
            let by_name: BTreeMap<&str, u64> = c.nonzero_drops().collect();
            let reasons: Vec<String> = by_name.iter().map(|(r, n)| format!("{r}={n}")).collect();
            writeln!(
                f,
                "  {:>4} {:<12} {:>4} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}  {}",
                p.port,
                p.name,
                if p.shut_down {
                    "shut"
                } else if p.up {
                    "up"
                } else {
                    "down"
                },
                c.rx_frames,
                c.tx_frames,
                c.unicast,
                c.flood,
                c.unknown_unicast,
                dropped,
                reasons.join(" ")
            )?;
        }
        more(f, self.ports.len(), ports, "ports")?;
        let d = &self.fdb;
        writeln!(
            f,
            "  fdb: {} entries ({} static); learned {} moved {} expired {} evicted {} refused {} flushed {}",
            d.stats.current,
            d.stats.statics,
            d.stats.learned,
            d.stats.moved,
            d.stats.expired,
            d.stats.evicted,
            d.stats.refused,
            d.stats.flushed
        )?;
        let g = &self.guard;
        if !g.is_quiet() {
            writeln!(
                f,
                "  guard: moves blocked {} hold-downs {} ports shut down {} mac-limit refused {}",
                g.moves_blocked, g.hold_downs, g.shutdowns, g.mac_limit_refused
            )?;
        }
        if let Some(m) = &self.mcast {
            writeln!(
                f,
                "  mcast: {} groups; reports {} leaves {} other queriers' queries {} own queries {}; router ports: {}",
                m.groups.len(),
                m.reports,
                m.leaves,
                m.queries,
                m.own_queries,
                if m.routers.is_empty() {
                    "none".to_string()
                } else {
                    m.routers.join(" ")
                }
            )?;
            for g in &m.groups {
                writeln!(
                    f,
                    "    group {:<15} vlan {:>4}  members {}  frames {}",
                    g.group,
                    g.vid,
                    g.members.join(" "),
                    g.frames
                )?;
            }
        }
        if let Some(s) = &self.stp {
            writeln!(
                f,
                "  stp: bridge {} root {}{}; topology changes {}",
                s.bridge_id,
                s.root_id,
                match &s.root_port {
                    None => " (this bridge)".to_string(),
                    Some(p) => format!(" via {p} cost {}", s.root_path_cost),
                },
                s.topology_changes
            )?;
            for p in &s.ports {
                writeln!(
                    f,
                    "    stp port {:<12} {:<10} {:<11}{}  bpdus rx {} tx {}",
                    p.name,
                    p.role,
                    p.state,
                    if p.edge { " edge" } else { "" },
                    p.bpdus_rx,
                    p.bpdus_tx
                )?;
            }
        }
        for e in d.entries.iter().take(entries) {
            let age = if e.is_static {
                "static".to_string()
            } else {
                format!("{:.1}s", e.age_ms as f64 / 1000.0)
            };
            writeln!(
                f,
                "    port {:>3} {:<12} vlan {:>4}  {}  {}",
                e.port, e.port_name, e.vid, e.mac, age
            )?;
        }
        more(f, d.entries.len(), entries, "entries")
    }
}

/// The group table of `switch` at `now`, if it snoops.
fn mcast_report(
    switch: &Switch,
    now: Instant,
    port_name: impl Fn(u16) -> String,
) -> Option<McastReport> {
    let mdb = switch.mdb();
    if !mdb.config().snooping {
        return None;
    }
    let groups = mdb
        .groups()
        .map(|g| GroupReport {
            vid: g.vid,
            group: g.group.to_string(),
            members: g
                .members
                .iter()
                .filter(|m| m.expires > now)
                .map(|m| port_name(m.port.0))
                .collect(),
            frames: g.frames,
        })
        .filter(|g| !g.members.is_empty())
        .collect();
    let routers = switch
        .ports()
        .filter(|(id, p)| mdb.is_router(*id, &p.config.mcast))
        .map(|(id, _)| port_name(id.0))
        .collect();
    let s = mdb.stats();
    Some(McastReport {
        querier: mdb.config().querier,
        groups,
        routers,
        reports: s.reports,
        leaves: s.leaves,
        queries: s.queries,
        own_queries: s.own_queries,
    })
}

/// Under a list of `total` things cut to `shown`, how many more `--json` lists.
pub fn more(f: &mut impl fmt::Write, total: usize, shown: usize, what: &str) -> fmt::Result {
    if total > shown {
        writeln!(
            f,
            "    ... and {} more {what} (--full or --json lists them all)",
            total - shown
        )?;
    }
    Ok(())
}
