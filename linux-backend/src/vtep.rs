//! vswitch as a hardware VTEP (vtep(5)): it joins a control plane such as OVN
//! through an `ovsdb-server` serving the `hardware_vtep` database, which
//! `ovn-controller-vtep` keeps in step with OVN's southbound database.
//!
//! `vswitch run --vtep-db unix:PATH|tcp:IP:PORT` (or `vtep-db = "..."` in the
//! configuration file) starts a thread that talks OVSDB ([`crate::ovsdb`]) on
//! one side and, on the other, the switch's own control protocol over its
//! control socket, as `vswitch fdb add` does. Its requests thus reach the
//! forwarding loop as any control request does, through the control thread and
//! in slices of bounded cost: the VTEP never stalls forwarding, and a database
//! that is slow or gone only delays the thread.
//!
//! What the thread does, once a second and whenever the database changes:
//! - registers a `Physical_Switch` named as the switch (tunnel_ips: the local
//!   address of the switch's first VXLAN port) and each other port as a
//!   `Physical_Port`;
//! - follows the `vlan_bindings` of those ports: (port, VLAN) bound to a
//!   `Logical_Switch` with a `tunnel_key`, which the VXLAN port is made to
//!   carry if it does not ([`vni_plan`], through `vxlan vni add|del`): a port
//!   of one VNI, untagged (a VLAN-unaware switch), carries the bound logical
//!   switch's key instead of the configured VNI (put back once nothing is
//!   bound), and so follows ONE logical switch: a second is logged and not
//!   followed. Several logical switches need a VLAN-aware switch with the
//!   port a trunk of one VLAN per logical switch (`vni=K:VLAN`), each bound
//!   as (port, VLAN): the key of a binding of VLAN V is mapped to V. Only
//!   VNIs the thread added are removed, when their binding goes;
//! - installs each `Ucast_Macs_Remote` of a bound logical switch as a static
//!   entry on the tunnel port towards its locator (`fdb add MAC vx0 dst IP`),
//!   and the locators of `Mcast_Macs_Remote` `unknown-dst` as the tunnel's
//!   flood list (one list per tunnel port, the union over its VNIs);
//! - publishes each MAC learned on a bound port as a `Ucast_Macs_Local` and
//!   removes it when the entry ages out or the port goes, and publishes an
//!   `unknown-dst` `Mcast_Macs_Local` with its own locator for each bound
//!   logical switch.
//!
//! When the database goes away the switch keeps forwarding with what it has;
//! the thread reconnects with backoff (0.5 s doubling to 8 s) and starts from
//! a fresh monitor: entries it installed that the new contents no longer ask
//! for are removed, and local MACs are published again from what the switch
//! knows then. Only what the thread itself installed is ever removed: remotes
//! and static entries given by hand stay. A row that makes no sense (a bad
//! MAC, an unknown locator, a logical switch without a tunnel_key) is logged
//! once and skipped.
//!
//! The pure part (the database's rows, what they ask of the switch, the
//! differences) is separate from the I/O, and unit-tested with bad rows.

use crate::control::{self, FdbRow, PortInfo, Request};
use crate::ovsdb::{self, Client, OvsdbError, Remote};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The database's name in the hardware_vtep schema.
pub const DB: &str = "hardware_vtep";
/// The tables monitored.
pub const TABLES: [&str; 9] = [
    "Global",
    "Physical_Switch",
    "Physical_Port",
    "Logical_Switch",
    "Physical_Locator",
    "Physical_Locator_Set",
    "Ucast_Macs_Remote",
    "Mcast_Macs_Remote",
    "Ucast_Macs_Local",
];
/// The last monitored table (kept apart so [`TABLES`] stays one line each).
const MCAST_LOCAL: &str = "Mcast_Macs_Local";
/// The encapsulation of every locator vswitch uses.
pub const ENCAP: &str = "vxlan_over_ipv4";
/// The flood entry's MAC in the Mcast tables.
pub const UNKNOWN_DST: &str = "unknown-dst";
/// How long one OVSDB call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the thread syncs without a change in the database.
const SYNC_PERIOD: Duration = Duration::from_secs(1);
/// How often a wait looks whether the thread is to stop.
const STOP_CHECK: Duration = Duration::from_millis(50);
/// How long the server may be silent before it is asked for an echo.
const PROBE_AFTER: Duration = Duration::from_secs(15);
/// The first and the longest wait before reconnecting.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(8));

type Row = Map<String, Value>;

/// The monitored contents of the database: table, row UUID, row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Db {
    tables: BTreeMap<String, BTreeMap<String, Row>>,
}

impl Db {
    /// Applies a monitor's `<table-updates>` (the initial contents or an
    /// `update` notification's second parameter). Returns what made no sense.
    pub fn apply(&mut self, updates: &Value) -> Vec<String> {
        let mut bad = Vec::new();
        let Some(tables) = updates.as_object() else {
            return vec![format!("table updates are not an object: {updates}")];
        };
        for (table, rows) in tables {
            let Some(rows) = rows.as_object() else {
                bad.push(format!("{table}: rows are not an object"));
                continue;
            };
            let t = self.tables.entry(table.clone()).or_default();
            for (uuid, update) in rows {
                match update.get("new") {
                    Some(Value::Object(new)) => {
                        t.insert(uuid.clone(), new.clone());
                    }
                    Some(other) => bad.push(format!("{table} {uuid}: new row {other}")),
                    None => {
                        t.remove(uuid);
                    }
                }
            }
        }
        bad
    }

    /// The rows of `table`.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&String, &Row)> {
        self.tables.get(table).into_iter().flatten()
    }

    fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }
}

/// The switch's tunnel, as `show` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// The VXLAN port's name.
    pub name: String,
    /// Its local endpoint: the VTEP's tunnel IP.
    pub local: Ipv4Addr,
    /// (VNI, switch VLAN) it carries; VLAN 0 for a port of one VNI, untagged.
    pub vnis: Vec<(u32, u16)>,
    /// Its flood list now.
    pub flood: BTreeSet<Ipv4Addr>,
}

/// What the switch looks like to the VTEP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchView {
    /// The tunnel, if the switch has a VXLAN port.
    pub tunnel: Option<Tunnel>,
    /// The other ports' names.
    pub ports: Vec<String>,
    /// Dynamic FDB entries: (MAC, port name, VLAN).
    pub learned: BTreeSet<(String, String, u16)>,
    /// Static entries on the tunnel: (MAC, VLAN, remote).
    pub tunnel_statics: BTreeSet<RemoteMac>,
}

impl SwitchView {
    /// From the answers to `show` and `fdb show`.
    pub fn from_reports(ports: &[PortInfo], fdb: &[FdbRow]) -> SwitchView {
        let mut view = SwitchView::default();
        for p in ports {
            match &p.vxlan {
                Some(v) if view.tunnel.is_none() => {
                    let Ok(local) = v.local.parse() else { continue };
                    let vnis = if v.vlans.is_empty() {
                        v.vni.map(|n| (n, 0)).into_iter().collect()
                    } else {
                        v.vlans.clone()
                    };
                    view.tunnel = Some(Tunnel {
                        name: p.ifname.clone(),
                        local,
                        vnis,
                        flood: v.flood.iter().filter_map(|a| a.parse().ok()).collect(),
                    });
                }
                Some(_) => {}
                None => view.ports.push(p.ifname.clone()),
            }
        }
        let tunnel = view.tunnel.as_ref().map(|t| t.name.clone());
        for r in fdb {
            if Some(&r.ifname) == tunnel.as_ref() {
                if let (Some(dst), "static") = (&r.dst, r.state.as_str()) {
                    if let Ok(dst) = dst.parse() {
                        view.tunnel_statics.insert(RemoteMac {
                            mac: r.mac.to_ascii_lowercase(),
                            vlan: r.vlan,
                            dst,
                        });
                    }
                }
            } else if r.state == "dynamic" {
                view.learned
                    .insert((r.mac.to_ascii_lowercase(), r.ifname.clone(), r.vlan));
            }
        }
        view
    }
}

/// A remote MAC as a static entry on the tunnel.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteMac {
    /// The MAC, lower case.
    pub mac: String,
    /// The switch VLAN of its logical switch (0 on a VLAN-unaware switch).
    pub vlan: u16,
    /// Its locator's IP.
    pub dst: Ipv4Addr,
}

/// A binding followed: a port's VLAN to a logical switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The port.
    pub port: String,
    /// The VLAN on the port (0: untagged).
    pub port_vlan: u16,
    /// The logical switch's UUID.
    pub ls: String,
    /// Its name.
    pub ls_name: String,
    /// Its tunnel_key.
    pub vni: u32,
    /// The switch VLAN the VNI is carried on.
    pub vlan: u16,
}

/// What the database asks of the switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Bindings followed.
    pub bindings: Vec<Binding>,
    /// Remote MACs to install.
    pub remote_macs: BTreeSet<RemoteMac>,
    /// The flood list.
    pub flood: BTreeSet<Ipv4Addr>,
}

/// A string column's value.
fn string<'a>(row: &'a Row, col: &str) -> Option<&'a str> {
    row.get(col).and_then(Value::as_str)
}

/// An optional integer column (a set of 0 or 1 integers).
fn opt_int(row: &Row, col: &str) -> Option<i64> {
    ovsdb::set_items(row.get(col)?).first()?.as_i64()
}

/// A reference column's UUID.
fn reference<'a>(row: &'a Row, col: &str) -> Option<&'a str> {
    ovsdb::uuid(row.get(col)?)
}

/// A unicast MAC in the canonical `xx:xx:xx:xx:xx:xx` form (the core's
/// parser: `:` or `-` between six hex bytes), or `None` for anything else.
pub fn unicast_mac(s: &str) -> Option<String> {
    let mac: vswitch_core::MacAddr = s.parse().ok()?;
    mac.is_valid_source().then(|| mac.to_string())
}

/// A locator's IP: its row must exist, be VXLAN over IPv4 and have an address.
fn locator_ip(db: &Db, uuid: &str) -> Result<Ipv4Addr, String> {
    let row = db
        .row("Physical_Locator", uuid)
        .ok_or_else(|| format!("unknown locator {uuid}"))?;
    if let Some(enc) = string(row, "encapsulation_type").filter(|e| *e != ENCAP) {
        return Err(format!("locator {uuid}: encapsulation {enc}, not {ENCAP}"));
    }
    let ip = string(row, "dst_ip").unwrap_or_default();
    ip.parse()
        .map_err(|_| format!("locator {uuid}: dst_ip \"{ip}\" is not an IPv4 address"))
}

/// A binding the database asks for, whether the tunnel carries its VNI or
/// not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requested {
    /// The port.
    pub port: String,
    /// The VLAN on the port (0: untagged).
    pub port_vlan: u16,
    /// The logical switch's UUID.
    pub ls: String,
    /// Its name.
    pub ls_name: String,
    /// Its tunnel_key.
    pub vni: u32,
}

/// The bindings of the physical switch `ps_name`'s ports to logical switches
/// with a tunnel_key. Rows that make no sense are left out and named in the
/// second value.
pub fn requested(db: &Db, ps_name: &str) -> (Vec<Requested>, Vec<String>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let ps = db
        .rows("Physical_Switch")
        .find(|(_, r)| string(r, "name") == Some(ps_name));
    let ports = ps
        .map(|(_, r)| {
            r.get("ports")
                .map(ovsdb::set_items)
                .unwrap_or_default()
                .into_iter()
                .filter_map(ovsdb::uuid)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for pu in ports {
        let Some(port) = db.row("Physical_Port", pu) else {
            bad.push(format!("unknown physical port {pu}"));
            continue;
        };
        let pname = string(port, "name").unwrap_or_default().to_string();
        let pairs = port
            .get("vlan_bindings")
            .map(ovsdb::map_pairs)
            .unwrap_or_default();
        for (vlan, ls) in pairs {
            let Some(port_vlan) = vlan
                .as_u64()
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v <= 4094)
            else {
                bad.push(format!("port {pname}: binding of VLAN {vlan}: not a VLAN"));
                continue;
            };
            let Some(lsu) = ovsdb::uuid(ls) else {
                bad.push(format!("port {pname} VLAN {port_vlan}: binding to {ls}"));
                continue;
            };
            let Some(lsr) = db.row("Logical_Switch", lsu) else {
                bad.push(format!(
                    "port {pname} VLAN {port_vlan}: unknown logical switch {lsu}"
                ));
                continue;
            };
            let ls_name = string(lsr, "name").unwrap_or(lsu).to_string();
            let Some(vni) = opt_int(lsr, "tunnel_key")
                .and_then(|k| u32::try_from(k).ok())
                .filter(|k| *k <= crate::vxlan::MAX_VNI)
            else {
                bad.push(format!(
                    "logical switch {ls_name}: no tunnel_key (VNI), binding of port {pname} VLAN {port_vlan} not followed"
                ));
                continue;
            };
            out.push(Requested {
                port: pname.clone(),
                port_vlan,
                ls: lsu.to_string(),
                ls_name,
                vni,
            });
        }
    }
    (out, bad)
}

/// What the database asks of the physical switch `ps_name` with `tunnel`.
/// Rows that make no sense are left out and named in the second value.
pub fn wanted(db: &Db, ps_name: &str, tunnel: &Tunnel) -> (Wanted, Vec<String>) {
    let mut w = Wanted::default();
    let (requested, mut bad) = requested(db, ps_name);
    // Logical switch UUID -> switch VLAN.
    let mut bound: BTreeMap<String, u16> = BTreeMap::new();
    for r in requested {
        let Requested {
            port: pname,
            port_vlan,
            ls: lsu,
            ls_name,
            vni,
        } = r;
        let Some(&(_, vlan)) = tunnel.vnis.iter().find(|(v, _)| *v == vni) else {
            let carried: Vec<String> = tunnel.vnis.iter().map(|(v, _)| v.to_string()).collect();
            bad.push(format!(
                "logical switch {ls_name}: VNI {vni} is not carried by {} (it carries {}), binding of port {pname} VLAN {port_vlan} not followed",
                tunnel.name,
                if carried.is_empty() { "none".to_string() } else { carried.join(", ") }
            ));
            continue;
        };
        if port_vlan != 0 && port_vlan != vlan {
            bad.push(format!(
                "port {pname} VLAN {port_vlan}: logical switch {ls_name} (VNI {vni}) is on switch VLAN {vlan}; bind VLAN {vlan} or 0"
            ));
            continue;
        }
        bound.insert(lsu.clone(), vlan);
        w.bindings.push(Binding {
            port: pname,
            port_vlan,
            ls: lsu,
            ls_name,
            vni,
            vlan,
        });
    }
    for (uuid, row) in db.rows("Ucast_Macs_Remote") {
        let Some(&vlan) = reference(row, "logical_switch").and_then(|l| bound.get(l)) else {
            continue;
        };
        let mac = string(row, "MAC").unwrap_or_default();
        let Some(mac) = unicast_mac(mac) else {
            bad.push(format!(
                "Ucast_Macs_Remote {uuid}: \"{mac}\" is not a unicast MAC"
            ));
            continue;
        };
        let Some(loc) = reference(row, "locator") else {
            bad.push(format!("Ucast_Macs_Remote {uuid} ({mac}): no locator"));
            continue;
        };
        match locator_ip(db, loc) {
            Ok(dst) if dst == tunnel.local => {}
            Ok(dst) => {
                w.remote_macs.insert(RemoteMac { mac, vlan, dst });
            }
            Err(e) => bad.push(format!("Ucast_Macs_Remote {uuid} ({mac}): {e}")),
        }
    }
    for (uuid, row) in db.rows("Mcast_Macs_Remote") {
        if !reference(row, "logical_switch").is_some_and(|l| bound.contains_key(l)) {
            continue;
        }
        if string(row, "MAC") != Some(UNKNOWN_DST) {
            // Multicast groups: the flood list carries them.
            continue;
        }
        let set = reference(row, "locator_set").and_then(|s| db.row("Physical_Locator_Set", s));
        let Some(set) = set else {
            bad.push(format!("Mcast_Macs_Remote {uuid}: unknown locator set"));
            continue;
        };
        let locs = set
            .get("locators")
            .map(ovsdb::set_items)
            .unwrap_or_default();
        for loc in locs {
            match ovsdb::uuid(loc).ok_or_else(|| format!("locator {loc}")) {
                Ok(l) => match locator_ip(db, l) {
                    Ok(ip) if ip == tunnel.local => {}
                    Ok(ip) => {
                        w.flood.insert(ip);
                    }
                    Err(e) => bad.push(format!("Mcast_Macs_Remote {uuid}: {e}")),
                },
                Err(e) => bad.push(format!("Mcast_Macs_Remote {uuid}: bad {e}")),
            }
        }
    }
    (w, bad)
}

/// What is in `want` and not in `have`, and what is in `have` and not in
/// `want`.
pub fn diff<T: Ord + Clone>(have: &BTreeSet<T>, want: &BTreeSet<T>) -> (Vec<T>, Vec<T>) {
    (
        want.difference(have).cloned().collect(),
        have.difference(want).cloned().collect(),
    )
}

/// A change of the VNIs the tunnel port carries (`vxlan vni add|del`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VniOp {
    /// Carry the VNI, untagged (VLAN 0) or as that switch VLAN.
    Add(u32, u16),
    /// Stop carrying the VNI.
    Del(u32),
}

/// The VNIs the VTEP thread changed on the tunnel port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VniState {
    /// (VNI, VLAN) it added, for bound logical switches.
    pub added: BTreeSet<(u32, u16)>,
    /// The VNI the port carried untagged that it took off to carry a bound
    /// logical switch's instead; put back once no binding needs the port.
    pub replaced: Option<u32>,
}

/// The changes that make `tunnel` carry the VNI of each of `requested`'s
/// logical switches, given what the thread changed before (`state`), and the
/// bindings that cannot be followed (named in the last value):
/// - a VNI it added that no binding needs any more goes; the VNI it replaced
///   comes back when the port is left carrying none;
/// - a port carrying one VNI untagged (a VLAN-unaware switch) carries one
///   logical switch: its VNI replaces the configured one, unless a binding
///   needs that one; a second logical switch is not followed (several need a
///   VLAN-aware switch with the port a trunk of their VLANs);
/// - a port whose VNIs are mapped to VLANs gets (key, VLAN) for a binding of
///   VLAN V != 0 whose VLAN is free on it;
/// - a port carrying none gets the key untagged for a binding of VLAN 0, or
///   as VLAN V for a binding of V.
///
/// `state` is what it would be once all the changes are made; the caller
/// undoes its part for those the switch refused.
pub fn vni_plan(
    requested: &[Requested],
    tunnel: &Tunnel,
    state: &mut VniState,
) -> (Vec<VniOp>, Vec<String>) {
    let mut ops = Vec::new();
    let mut bad = Vec::new();
    let mut carried = tunnel.vnis.clone();
    // Forget what the switch no longer has (the port re-added, or a VNI
    // removed by hand).
    state.added.retain(|a| carried.contains(a));
    let needed: BTreeSet<u32> = requested.iter().map(|r| r.vni).collect();
    for &(k, _) in state.added.clone().iter() {
        if !needed.contains(&k) {
            ops.push(VniOp::Del(k));
            carried.retain(|(n, _)| *n != k);
            state.added.retain(|(n, _)| *n != k);
        }
    }
    let name = &tunnel.name;
    let mut seen = BTreeSet::new();
    for r in requested {
        if carried.iter().any(|(n, _)| *n == r.vni) || !seen.insert(r.vni) {
            continue;
        }
        let (k, pv) = (r.vni, r.port_vlan);
        let what = format!(
            "logical switch {} (VNI {k}): binding of port {} VLAN {pv} not followed",
            r.ls_name, r.port
        );
        match carried.first().copied() {
            None => {
                ops.push(VniOp::Add(k, pv));
                carried.push((k, pv));
                state.added.insert((k, pv));
            }
            Some((j, 0)) if !needed.contains(&j) && !state.added.contains(&(j, 0)) => {
                ops.push(VniOp::Del(j));
                ops.push(VniOp::Add(k, 0));
                carried = vec![(k, 0)];
                state.added.insert((k, 0));
                state.replaced.get_or_insert(j);
            }
            Some((j, 0)) => bad.push(format!(
                "{what}: {name} carries one VNI untagged ({j}, bound already) on a \
                 VLAN-unaware switch; for several logical switches make the switch \
                 VLAN-aware with {name} a trunk of one VLAN per logical switch and bind \
                 (port, VLAN)"
            )),
            Some(_) if pv == 0 => bad.push(format!(
                "{what}: {name} maps its VNIs to VLANs; bind the switch VLAN to carry it on, not 0"
            )),
            Some(_) => match carried.iter().find(|(_, v)| *v == pv) {
                Some(&(n, _)) => bad.push(format!(
                    "{what}: VLAN {pv} of {name} carries VNI {n} already"
                )),
                None => {
                    ops.push(VniOp::Add(k, pv));
                    carried.push((k, pv));
                    state.added.insert((k, pv));
                }
            },
        }
    }
    if carried.is_empty() {
        if let Some(j) = state.replaced.take() {
            ops.push(VniOp::Add(j, 0));
        }
    }
    (ops, bad)
}

/// The locator with `ip`, if the database has it.
fn find_locator(db: &Db, ip: Ipv4Addr) -> Option<String> {
    db.rows("Physical_Locator")
        .find(|(_, r)| {
            string(r, "dst_ip").and_then(|a| a.parse().ok()) == Some(ip)
                && string(r, "encapsulation_type").is_none_or(|e| e == ENCAP)
        })
        .map(|(u, _)| u.clone())
}

/// A reference to the own locator: its UUID, or a named UUID inserted first.
fn own_locator(db: &Db, ip: Ipv4Addr, ops: &mut Vec<Value>) -> Value {
    match find_locator(db, ip) {
        Some(u) => ovsdb::uuid_value(&u),
        None => {
            if !ops.iter().any(|o| o["uuid-name"] == "loc") {
                ops.push(
                    json!({"op": "insert", "table": "Physical_Locator", "uuid-name": "loc",
                    "row": {"encapsulation_type": ENCAP, "dst_ip": ip.to_string()}}),
                );
            }
            json!(["named-uuid", "loc"])
        }
    }
}

/// The operations that register the physical switch `ps_name` with tunnel
/// IP `ip` and its `ports` (ports are added, never removed: their bindings
/// are the operator's). Empty when all is there.
pub fn register_ops(db: &Db, ps_name: &str, ip: Ipv4Addr, ports: &[String]) -> Vec<Value> {
    let mut ops = Vec::new();
    let tunnel_ips = ovsdb::set_value(vec![json!(ip.to_string())]);
    let ps = db
        .rows("Physical_Switch")
        .find(|(_, r)| string(r, "name") == Some(ps_name));
    let have_ports: BTreeSet<&str> = ps
        .map(|(_, r)| {
            r.get("ports")
                .map(ovsdb::set_items)
                .unwrap_or_default()
                .into_iter()
                .filter_map(ovsdb::uuid)
                .filter_map(|u| db.row("Physical_Port", u))
                .filter_map(|p| string(p, "name"))
                .collect()
        })
        .unwrap_or_default();
    let mut new_ports = Vec::new();
    for (i, p) in ports
        .iter()
        .filter(|p| !have_ports.contains(p.as_str()))
        .enumerate()
    {
        let name = format!("port{i}");
        ops.push(
            json!({"op": "insert", "table": "Physical_Port", "uuid-name": name,
            "row": {"name": p}}),
        );
        new_ports.push(json!(["named-uuid", name]));
    }
    match ps {
        None => {
            ops.push(
                json!({"op": "insert", "table": "Physical_Switch", "uuid-name": "ps",
                "row": {"name": ps_name, "tunnel_ips": tunnel_ips,
                        "ports": ovsdb::set_value(new_ports),
                        "description": "vswitch"}}),
            );
            match db.rows("Global").next() {
                Some((g, _)) => ops.push(json!({"op": "mutate", "table": "Global",
                    "where": [["_uuid", "==", ovsdb::uuid_value(g)]],
                    "mutations": [["switches", "insert", ovsdb::set_value(vec![json!(["named-uuid", "ps"])])]]})),
                None => ops.push(json!({"op": "insert", "table": "Global",
                    "row": {"switches": ovsdb::set_value(vec![json!(["named-uuid", "ps"])])}})),
            }
        }
        Some((u, r)) => {
            let ips: BTreeSet<&str> = r
                .get("tunnel_ips")
                .map(ovsdb::set_items)
                .unwrap_or_default()
                .into_iter()
                .filter_map(Value::as_str)
                .collect();
            if ips != BTreeSet::from([ip.to_string().as_str()]) {
                ops.push(json!({"op": "update", "table": "Physical_Switch",
                    "where": [["_uuid", "==", ovsdb::uuid_value(u)]],
                    "row": {"tunnel_ips": tunnel_ips}}));
            }
            if !new_ports.is_empty() {
                ops.push(json!({"op": "mutate", "table": "Physical_Switch",
                    "where": [["_uuid", "==", ovsdb::uuid_value(u)]],
                    "mutations": [["ports", "insert", ovsdb::set_value(new_ports)]]}));
            }
        }
    }
    ops
}

/// The operations that make the published local MACs those of `learned`
/// (MAC, port, VLAN) on `bindings`, and an `unknown-dst` with the own
/// locator for each bound logical switch. Rows are ours when their locator
/// (or locator set) is the own one.
pub fn publish_ops(
    db: &Db,
    ip: Ipv4Addr,
    bindings: &[Binding],
    learned: &BTreeSet<(String, String, u16)>,
) -> Vec<Value> {
    let mut ops = Vec::new();
    let own = find_locator(db, ip);
    let is_own = |u: Option<&str>| u.is_some() && u == own.as_deref();
    // (MAC, logical switch) -> row UUID, of what is published now.
    let mut have: BTreeMap<(String, String), String> = BTreeMap::new();
    for (u, r) in db.rows("Ucast_Macs_Local") {
        if is_own(reference(r, "locator")) {
            let mac = string(r, "MAC").unwrap_or_default().to_ascii_lowercase();
            let ls = reference(r, "logical_switch")
                .unwrap_or_default()
                .to_string();
            if have.insert((mac, ls), u.clone()).is_some() {
                // A duplicate: one of the two goes.
                ops.push(json!({"op": "delete", "table": "Ucast_Macs_Local",
                    "where": [["_uuid", "==", ovsdb::uuid_value(u)]]}));
            }
        }
    }
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    for (mac, port, vlan) in learned {
        for b in bindings
            .iter()
            .filter(|b| &b.port == port && b.vlan == *vlan)
        {
            want.insert((mac.clone(), b.ls.clone()));
        }
    }
    let have_keys: BTreeSet<(String, String)> = have.keys().cloned().collect();
    let (add, del) = diff(&have_keys, &want);
    for k in del {
        ops.push(json!({"op": "delete", "table": "Ucast_Macs_Local",
            "where": [["_uuid", "==", ovsdb::uuid_value(&have[&k])]]}));
    }
    for (mac, ls) in add {
        let loc = own_locator(db, ip, &mut ops);
        ops.push(json!({"op": "insert", "table": "Ucast_Macs_Local",
            "row": {"MAC": mac, "logical_switch": ovsdb::uuid_value(&ls), "locator": loc}}));
    }
    // The flood entry of each bound logical switch.
    let mut have_mcast: BTreeMap<String, String> = BTreeMap::new();
    for (u, r) in db.rows(MCAST_LOCAL) {
        let locs: Vec<&str> = reference(r, "locator_set")
            .and_then(|s| db.row("Physical_Locator_Set", s))
            .and_then(|s| s.get("locators"))
            .map(ovsdb::set_items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(ovsdb::uuid)
            .collect();
        if string(r, "MAC") == Some(UNKNOWN_DST) && locs.len() == 1 && is_own(Some(locs[0])) {
            let ls = reference(r, "logical_switch")
                .unwrap_or_default()
                .to_string();
            if have_mcast.insert(ls, u.clone()).is_some() {
                ops.push(json!({"op": "delete", "table": MCAST_LOCAL,
                    "where": [["_uuid", "==", ovsdb::uuid_value(u)]]}));
            }
        }
    }
    let want_mcast: BTreeSet<String> = bindings.iter().map(|b| b.ls.clone()).collect();
    let have_mcast_keys: BTreeSet<String> = have_mcast.keys().cloned().collect();
    let (add, del) = diff(&have_mcast_keys, &want_mcast);
    for ls in del {
        ops.push(json!({"op": "delete", "table": MCAST_LOCAL,
            "where": [["_uuid", "==", ovsdb::uuid_value(&have_mcast[&ls])]]}));
    }
    for (i, ls) in add.iter().enumerate() {
        let loc = own_locator(db, ip, &mut ops);
        let set = format!("set{i}");
        ops.push(
            json!({"op": "insert", "table": "Physical_Locator_Set", "uuid-name": set,
            "row": {"locators": ovsdb::set_value(vec![loc])}}),
        );
        ops.push(json!({"op": "insert", "table": MCAST_LOCAL,
            "row": {"MAC": UNKNOWN_DST, "logical_switch": ovsdb::uuid_value(ls),
                    "locator_set": ["named-uuid", set]}}));
    }
    ops
}

/// How the VTEP thread is set up.
#[derive(Clone, Debug)]
pub struct VtepOptions {
    /// The database.
    pub remote: Remote,
    /// The switch's name: its control socket, and the Physical_Switch's name.
    pub switch: String,
}

/// The running VTEP thread; stopped and joined when dropped.
pub struct VtepHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for VtepHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the VTEP thread.
pub fn spawn(opts: VtepOptions) -> std::io::Result<VtepHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::Builder::new()
        .name("vtep".into())
        .spawn(move || {
            // Below forwarding, as the control thread.
            let _ = crate::sys::set_thread_nice(10);
            Vtep::new(opts, s).run()
        })?;
    Ok(VtepHandle {
        stop,
        thread: Some(thread),
    })
}

/// The VTEP's state across connections.
struct Vtep {
    opts: VtepOptions,
    /// Set when the thread is to stop.
    stop: Arc<AtomicBool>,
    db: Db,
    /// Static remote entries this thread installed.
    installed: BTreeSet<RemoteMac>,
    /// Flood list addresses this thread added.
    flooded: BTreeSet<Ipv4Addr>,
    /// VNIs this thread made the tunnel carry.
    vnis: VniState,
    /// The problems last logged, so that each is logged once.
    logged: BTreeSet<String>,
    /// The last refused transaction's error, logged once.
    refused: Option<String>,
}

impl Vtep {
    fn new(opts: VtepOptions, stop: Arc<AtomicBool>) -> Vtep {
        Vtep {
            opts,
            stop,
            db: Db::default(),
            installed: BTreeSet::new(),
            flooded: BTreeSet::new(),
            vnis: VniState::default(),
            logged: BTreeSet::new(),
            refused: None,
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&mut self) {
        let mut backoff = BACKOFF.0;
        while !self.stopping() {
            let started = Instant::now();
            match self.session() {
                Ok(()) => return,
                Err(e) => tracing::warn!(
                    "vtep: {}: {e}; reconnecting in {:.1} s",
                    self.opts.remote,
                    backoff.as_secs_f64()
                ),
            }
            // A session that lasted resets the backoff.
            if started.elapsed() > BACKOFF.1 {
                backoff = BACKOFF.0;
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stopping() {
                std::thread::sleep(STOP_CHECK);
            }
            backoff = (backoff * 2).min(BACKOFF.1);
        }
    }

    /// One connection: a fresh monitor, then updates and syncs until the
    /// connection fails (`Err`) or the thread is stopped (`Ok`).
    fn session(&mut self) -> Result<(), OvsdbError> {
        let mut c = Client::connect(&self.opts.remote, CALL_TIMEOUT)?;
        let mut requests = Map::new();
        for t in TABLES.iter().chain([&MCAST_LOCAL]) {
            requests.insert(t.to_string(), json!({}));
        }
        let initial = c.call("monitor", json!([DB, "vswitch", requests]), CALL_TIMEOUT)?;
        // A fresh start: nothing of the last connection's contents is kept.
        self.db = Db::default();
        let bad = self.db.apply(&initial);
        self.log_problems(bad);
        tracing::info!("vtep: connected to {}", self.opts.remote);
        let mut next_sync = Instant::now();
        while !self.stopping() {
            let wait = next_sync.saturating_duration_since(Instant::now());
            if let Some(n) = c.poll(wait.min(STOP_CHECK))? {
                self.on_notification(&n);
                // Take whatever else came, then sync once.
                while let Some(n) = c.poll(Duration::from_millis(20))? {
                    self.on_notification(&n);
                }
                next_sync = Instant::now();
            }
            c.probe(PROBE_AFTER, CALL_TIMEOUT)?;
            if Instant::now() >= next_sync {
                self.sync(&mut c)?;
                next_sync = Instant::now() + SYNC_PERIOD;
            }
        }
        Ok(())
    }

    fn on_notification(&mut self, n: &ovsdb::Notification) {
        if n.method == "update" {
            let updates = n.params.get(1).cloned().unwrap_or(Value::Null);
            let bad = self.db.apply(&updates);
            for b in bad {
                tracing::warn!("vtep: skipped: {b}");
            }
        }
    }

    /// Logs the problems that are new since the last call.
    fn log_problems(&mut self, problems: Vec<String>) {
        let now: BTreeSet<String> = problems.into_iter().collect();
        for p in now.difference(&self.logged) {
            tracing::warn!("vtep: skipped: {p}");
        }
        self.logged = now;
    }

    /// The switch's ports, or `None` (logged) if it does not answer.
    fn ports(&self) -> Option<Vec<PortInfo>> {
        let r = control::request(&self.opts.switch, Request::Show)
            .ok()
            .and_then(|v| serde_json::from_value::<Vec<PortInfo>>(v).ok());
        if r.is_none() {
            tracing::debug!("vtep: the switch did not answer show");
        }
        r
    }

    /// The FDB rows of `ports` (never empty: the tunnel is one), or `None`
    /// (logged) if the switch does not answer.
    fn fdb(&self, ports: Vec<String>) -> Option<Vec<FdbRow>> {
        let r = control::request(
            &self.opts.switch,
            Request::FdbShow {
                stats: false,
                ports,
            },
        )
        .ok()
        .and_then(|v| serde_json::from_value::<Vec<FdbRow>>(v).ok());
        if r.is_none() {
            tracing::debug!("vtep: the switch did not answer fdb show");
        }
        r
    }

    /// Makes the tunnel carry the VNIs of the bound logical switches
    /// ([`vni_plan`]); returns the problems, and whether it changed anything.
    fn map_vnis(&mut self, tunnel: &Tunnel) -> (Vec<String>, bool) {
        let (req, _) = requested(&self.db, &self.opts.switch);
        let mut state = self.vnis.clone();
        let (ops, mut bad) = vni_plan(&req, tunnel, &mut state);
        let port = &tunnel.name;
        for op in &ops {
            let (r, what) = match *op {
                VniOp::Add(vni, vlan) => (
                    control::request(
                        &self.opts.switch,
                        Request::VniAdd {
                            port: port.clone(),
                            vni,
                            vlan,
                        },
                    ),
                    format!("vxlan vni add {port} {vni} vlan {vlan}"),
                ),
                VniOp::Del(vni) => (
                    control::request(
                        &self.opts.switch,
                        Request::VniDel {
                            port: port.clone(),
                            vni,
                        },
                    ),
                    format!("vxlan vni del {port} {vni}"),
                ),
            };
            match (r, *op) {
                (Ok(_), _) => tracing::info!("vtep: {what}"),
                (Err(e), VniOp::Add(vni, vlan)) => {
                    bad.push(format!("{what}: {e}"));
                    if !state.added.remove(&(vni, vlan)) {
                        // The VNI put back: tried again next time.
                        state.replaced = Some(vni);
                    }
                }
                (Err(e), VniOp::Del(_)) => bad.push(format!("{what}: {e}")),
            }
        }
        self.vnis = state;
        (bad, !ops.is_empty())
    }

    fn sync(&mut self, c: &mut Client) -> Result<(), OvsdbError> {
        let Some(mut ports) = self.ports() else {
            return Ok(());
        };
        let Some(mut tunnel) = SwitchView::from_reports(&ports, &[]).tunnel else {
            self.log_problems(vec![
                "the switch has no VXLAN port: nothing to register".into()
            ]);
            return Ok(());
        };
        let others = SwitchView::from_reports(&ports, &[]).ports;
        let ops = register_ops(&self.db, &self.opts.switch, tunnel.local, &others);
        if !ops.is_empty() {
            self.transact(c, ops, "registering the physical switch")?;
        }
        let (mut problems, changed) = self.map_vnis(&tunnel);
        if changed {
            // The tunnel as it is now.
            let Some(p) = self.ports() else {
                return Ok(());
            };
            ports = p;
            let Some(t) = SwitchView::from_reports(&ports, &[]).tunnel else {
                return Ok(());
            };
            tunnel = t;
        }
        let (want, bad) = wanted(&self.db, &self.opts.switch, &tunnel);
        problems.extend(bad);
        self.log_problems(problems);
        // Only the rows of the tunnel and of bound ports: the rest of the
        // table is none of the VTEP's business.
        let mut dump: Vec<String> = want
            .bindings
            .iter()
            .map(|b| b.port.clone())
            .filter(|p| others.contains(p))
            .collect();
        dump.push(tunnel.name.clone());
        dump.sort();
        dump.dedup();
        let Some(fdb) = self.fdb(dump) else {
            return Ok(());
        };
        let view = SwitchView::from_reports(&ports, &fdb);
        self.apply_remotes(&tunnel, &view, &want);
        let ops = publish_ops(&self.db, tunnel.local, &want.bindings, &view.learned);
        if !ops.is_empty() {
            self.transact(c, ops, "publishing local MACs")?;
        }
        Ok(())
    }

    /// Runs `ops`; a refused transaction is logged (and tried again at the
    /// next sync), a failed connection is the caller's. Then waits briefly for
    /// the resulting update, so that the next sync sees it.
    fn transact(&mut self, c: &mut Client, ops: Vec<Value>, what: &str) -> Result<(), OvsdbError> {
        match c.transact(DB, ops, CALL_TIMEOUT) {
            Ok(_) => {
                self.refused = None;
                let until = Instant::now() + Duration::from_secs(1);
                while Instant::now() < until && !self.stopping() {
                    if let Some(n) = c.poll(STOP_CHECK)? {
                        self.on_notification(&n);
                        break;
                    }
                }
                while let Some(n) = c.poll(Duration::from_millis(10))? {
                    self.on_notification(&n);
                }
                Ok(())
            }
            Err(OvsdbError::Rpc(e)) => {
                // Tried again at each sync: logged when it changes.
                let msg = format!("{what}: refused: {e}");
                if self.refused.as_ref() != Some(&msg) {
                    tracing::warn!("vtep: {msg}");
                    self.refused = Some(msg);
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Makes the tunnel's static entries and flood list those `want`s asks
    /// for, touching only what this thread installed.
    fn apply_remotes(&mut self, tunnel: &Tunnel, view: &SwitchView, want: &Wanted) {
        let sw = &self.opts.switch;
        // Installed and still there: a port re-added loses its entries.
        let present: BTreeSet<RemoteMac> = self
            .installed
            .intersection(&view.tunnel_statics)
            .cloned()
            .collect();
        let (add, del) = diff(&present, &want.remote_macs);
        for m in del {
            let r = control::request(
                sw,
                Request::FdbDel {
                    mac: m.mac.clone(),
                    vlan: m.vlan,
                    port: None,
                    dst: None,
                },
            );
            if let Err(e) = r {
                tracing::debug!("vtep: fdb del {} vlan {}: {e}", m.mac, m.vlan);
            }
            self.installed.remove(&m);
        }
        // Entries installed before but gone from the switch are forgotten.
        self.installed.retain(|m| present.contains(m));
        for m in add {
            let r = control::request(
                sw,
                Request::FdbAdd {
                    mac: m.mac.clone(),
                    port: tunnel.name.clone(),
                    vlan: m.vlan,
                    dst: Some(m.dst.to_string()),
                },
            );
            match r {
                Ok(_) => {
                    tracing::info!("vtep: remote {} vlan {} via {}", m.mac, m.vlan, m.dst);
                    self.installed.insert(m);
                }
                Err(e) => tracing::warn!("vtep: fdb add {} dst {}: {e}", m.mac, m.dst),
            }
        }
        let present: BTreeSet<Ipv4Addr> =
            self.flooded.intersection(&tunnel.flood).copied().collect();
        // An address already on the list (given by hand) is not ours to add or remove.
        let want_flood: BTreeSet<Ipv4Addr> = want
            .flood
            .iter()
            .filter(|a| present.contains(a) || !tunnel.flood.contains(a))
            .copied()
            .collect();
        let (add, del) = diff(&present, &want_flood);
        self.flooded = present;
        for a in del {
            let r = control::request(
                sw,
                Request::FdbDel {
                    mac: "00:00:00:00:00:00".into(),
                    vlan: 0,
                    port: Some(tunnel.name.clone()),
                    dst: Some(a.to_string()),
                },
            );
            if let Err(e) = r {
                tracing::debug!("vtep: flood list del {a}: {e}");
            }
            self.flooded.remove(&a);
        }
        for a in add {
            let r = control::request(
                sw,
                Request::FdbAdd {
                    mac: "00:00:00:00:00:00".into(),
                    port: tunnel.name.clone(),
                    vlan: 0,
                    dst: Some(a.to_string()),
                },
            );
            match r {
                Ok(_) => {
                    tracing::info!("vtep: flood to {a}");
                    self.flooded.insert(a);
                }
                Err(e) => tracing::warn!("vtep: flood list add {a}: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel() -> Tunnel {
        Tunnel {
            name: "vx0".into(),
            local: "10.0.0.1".parse().unwrap(),
            vnis: vec![(42, 0)],
            flood: BTreeSet::new(),
        }
    }

    /// A database with switch "sw" (ports p1, p2), logical switches ls42
    /// (tunnel_key 42), ls43 (no key), ls44 (key 44, not carried), and
    /// remote rows, some of them bad.
    fn db() -> Db {
        let mut db = Db::default();
        let bad = db.apply(&json!({
            "Physical_Switch": {"ps": {"new": {"name": "sw", "tunnel_ips": "10.0.0.1",
                "ports": ["set", [["uuid", "p1"], ["uuid", "p2"], ["uuid", "gone"]]]}}},
            "Physical_Port": {
                "p1": {"new": {"name": "p1", "vlan_bindings": ["map", [[0, ["uuid", "ls42"]]]]}},
                "p2": {"new": {"name": "p2", "vlan_bindings": ["map", [
                    [5, ["uuid", "ls43"]], [6, ["uuid", "ls44"]], [7, ["uuid", "nols"]],
                    [9999, ["uuid", "ls42"]]]]}}},
            "Logical_Switch": {
                "ls42": {"new": {"name": "ls42", "tunnel_key": 42}},
                "ls43": {"new": {"name": "ls43", "tunnel_key": ["set", []]}},
                "ls44": {"new": {"name": "ls44", "tunnel_key": 44}}},
            "Physical_Locator": {
                "hv": {"new": {"encapsulation_type": "vxlan_over_ipv4", "dst_ip": "10.0.0.2"}},
                "hv2": {"new": {"encapsulation_type": "vxlan_over_ipv4", "dst_ip": "10.0.0.3"}},
                "me": {"new": {"encapsulation_type": "vxlan_over_ipv4", "dst_ip": "10.0.0.1"}},
                "badip": {"new": {"encapsulation_type": "vxlan_over_ipv4", "dst_ip": "nope"}},
                "gre": {"new": {"encapsulation_type": "gre", "dst_ip": "10.0.0.9"}}},
            "Physical_Locator_Set": {
                "all": {"new": {"locators": ["set", [["uuid", "hv"], ["uuid", "hv2"], ["uuid", "me"], ["uuid", "missing"]]]}}},
            "Ucast_Macs_Remote": {
                "r1": {"new": {"MAC": "02:00:00:00:00:AA", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "hv"]}},
                "r2": {"new": {"MAC": "not-a-mac", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "hv"]}},
                "r3": {"new": {"MAC": "02:00:00:00:00:bb", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "missing"]}},
                "r4": {"new": {"MAC": "02:00:00:00:00:cc", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "badip"]}},
                "r5": {"new": {"MAC": "02:00:00:00:00:dd", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "gre"]}},
                "r6": {"new": {"MAC": "01:00:5e:00:00:01", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "hv"]}},
                "r7": {"new": {"MAC": "02:00:00:00:00:ee", "logical_switch": ["uuid", "ls44"], "locator": ["uuid", "hv"]}},
                "r8": {"new": {"MAC": "02:00:00:00:00:ff", "logical_switch": ["uuid", "ls42"]}}},
            "Mcast_Macs_Remote": {
                "m1": {"new": {"MAC": "unknown-dst", "logical_switch": ["uuid", "ls42"], "locator_set": ["uuid", "all"]}},
                "m2": {"new": {"MAC": "unknown-dst", "logical_switch": ["uuid", "ls42"], "locator_set": ["uuid", "noset"]}}},
            "Bogus": {"x": {"new": 7}},
            "Worse": 3
        }));
        assert_eq!(bad.len(), 2, "{bad:?}");
        db
    }

    #[test]
    fn bound_remote_macs_and_flood_list_with_bad_rows_skipped() {
        let (w, bad) = wanted(&db(), "sw", &tunnel());
        assert_eq!(w.bindings.len(), 1, "{:?}", w.bindings);
        assert_eq!((w.bindings[0].port.as_str(), w.bindings[0].vni), ("p1", 42));
        let macs: Vec<_> = w
            .remote_macs
            .iter()
            .map(|m| (m.mac.as_str(), m.dst.to_string()))
            .collect();
        assert_eq!(macs, [("02:00:00:00:00:aa", "10.0.0.2".to_string())]);
        let flood: Vec<String> = w.flood.iter().map(ToString::to_string).collect();
        assert_eq!(
            flood,
            ["10.0.0.2", "10.0.0.3"],
            "the own locator is not flooded to"
        );
        let has = |s: &str| bad.iter().any(|b| b.contains(s));
        for s in [
            "unknown physical port gone",
            "ls43: no tunnel_key",
            "VNI 44 is not carried by vx0",
            "unknown logical switch nols",
            "VLAN 9999: not a VLAN",
            "\"not-a-mac\" is not a unicast MAC",
            "01:00:5e:00:00:01\" is not a unicast MAC",
            "unknown locator missing",
            "dst_ip \"nope\"",
            "encapsulation gre",
            "(02:00:00:00:00:ff): no locator",
            "Mcast_Macs_Remote m2: unknown locator set",
        ] {
            assert!(has(s), "no problem like {s:?} in {bad:#?}");
        }
        assert!(
            !has("02:00:00:00:00:ee"),
            "rows of unbound switches are ignored"
        );
    }

    #[test]
    fn a_vlan_aware_tunnel_maps_the_vni_to_its_vlan() {
        let mut t = tunnel();
        t.vnis = vec![(42, 10), (44, 20)];
        let (w, bad) = wanted(&db(), "sw", &t);
        let b: Vec<_> = w
            .bindings
            .iter()
            .map(|b| (b.port.as_str(), b.port_vlan, b.vni, b.vlan))
            .collect();
        assert_eq!(b, [("p1", 0, 42, 10)]);
        assert!(
            bad.iter()
                .any(|b| b
                    .contains("port p2 VLAN 6: logical switch ls44 (VNI 44) is on switch VLAN 20")),
            "{bad:?}"
        );
        assert!(w.remote_macs.iter().all(|m| m.vlan == 10));
    }

    #[test]
    fn other_switches_and_deleted_rows() {
        let mut d = db();
        let (w, _) = wanted(&d, "other", &tunnel());
        assert_eq!(w, Wanted::default());
        let bad = d.apply(&json!({"Ucast_Macs_Remote": {"r1": {"old": {}}},
            "Mcast_Macs_Remote": {"m1": {"old": {}}}}));
        assert!(bad.is_empty());
        let (w, _) = wanted(&d, "sw", &tunnel());
        assert!(w.remote_macs.is_empty() && w.flood.is_empty());
        assert_eq!(w.bindings.len(), 1);
    }

    fn req(port: &str, port_vlan: u16, ls: &str, vni: u32) -> Requested {
        Requested {
            port: port.into(),
            port_vlan,
            ls: ls.into(),
            ls_name: ls.into(),
            vni,
        }
    }

    #[test]
    fn requested_bindings_whatever_the_tunnel_carries() {
        let (r, _) = requested(&db(), "sw");
        let got: Vec<(&str, u16, u32)> = r
            .iter()
            .map(|r| (r.port.as_str(), r.port_vlan, r.vni))
            .collect();
        assert_eq!(got, [("p1", 0, 42), ("p2", 6, 44)]);
    }

    /// On a port of one untagged VNI the bound logical switch's key replaces
    /// the configured one, which comes back once nothing is bound; a second
    /// logical switch is logged, not followed.
    #[test]
    fn an_untagged_tunnel_carries_the_bound_key_instead() {
        let mut t = tunnel();
        let mut st = VniState::default();
        let (ops, bad) = vni_plan(&[req("p1", 0, "ls1", 1)], &t, &mut st);
        assert_eq!(ops, [VniOp::Del(42), VniOp::Add(1, 0)]);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!((st.added.len(), st.replaced), (1, Some(42)));
        t.vnis = vec![(1, 0)];
        let two = [req("p1", 0, "ls1", 1), req("p2", 0, "ls2", 2)];
        let (ops, bad) = vni_plan(&two, &t, &mut st);
        assert!(ops.is_empty(), "{ops:?}");
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].contains("logical switch ls2 (VNI 2): binding of port p2 VLAN 0 not followed")
                && bad[0].contains("VLAN-aware"),
            "{bad:?}"
        );
        // The binding moves to another logical switch: its key replaces ours.
        let (ops, _) = vni_plan(&[req("p1", 0, "ls2", 2)], &t, &mut st);
        assert_eq!(ops, [VniOp::Del(1), VniOp::Add(2, 0)]);
        t.vnis = vec![(2, 0)];
        // Nothing bound: the configured VNI comes back.
        let (ops, _) = vni_plan(&[], &t, &mut st);
        assert_eq!(ops, [VniOp::Del(2), VniOp::Add(42, 0)]);
        assert_eq!(st, VniState::default());
        // A key the port carries already: nothing to do.
        t.vnis = vec![(42, 0)];
        let (ops, bad) = vni_plan(&[req("p1", 0, "ls42", 42)], &t, &mut st);
        assert!(ops.is_empty() && bad.is_empty());
        // The configured VNI bound too: the other key is not followed and the
        // configured one stays.
        let (ops, bad) = vni_plan(
            &[req("p1", 0, "ls42", 42), req("p2", 0, "ls1", 1)],
            &t,
            &mut st,
        );
        assert!(ops.is_empty());
        assert!(bad[0].contains("(42, bound already)"), "{bad:?}");
    }

    /// On a port whose VNIs have VLANs, a binding of VLAN V gets (key, V);
    /// only what the thread added is removed.
    #[test]
    fn a_trunk_tunnel_gets_the_key_on_the_bound_vlan() {
        let mut t = tunnel();
        t.vnis = vec![(42, 10)];
        let mut st = VniState::default();
        let want = [
            req("p1", 20, "ls7", 7),
            req("p2", 0, "ls8", 8),
            req("p2", 10, "ls9", 9),
        ];
        let (ops, bad) = vni_plan(&want, &t, &mut st);
        assert_eq!(ops, [VniOp::Add(7, 20)]);
        assert!(
            bad.iter().any(|b| b.contains("ls8") && b.contains("not 0")),
            "{bad:?}"
        );
        assert!(
            bad.iter()
                .any(|b| b.contains("VLAN 10 of vx0 carries VNI 42")),
            "{bad:?}"
        );
        t.vnis.push((7, 20));
        let (ops, _) = vni_plan(&[], &t, &mut st);
        assert_eq!(ops, [VniOp::Del(7)], "the configured 42 stays");
        // A VNI removed by hand meanwhile is forgotten, not removed again.
        let mut st = VniState {
            added: BTreeSet::from([(5, 50)]),
            replaced: None,
        };
        let (ops, _) = vni_plan(&[], &t, &mut st);
        assert!(ops.is_empty() && st.added.is_empty());
        // A port carrying none takes the key as the binding's VLAN says.
        t.vnis = Vec::new();
        let (ops, _) = vni_plan(&[req("p1", 0, "ls7", 7)], &t, &mut st);
        assert_eq!(ops, [VniOp::Add(7, 0)]);
    }

    #[test]
    fn diff_adds_and_removes() {
        let have = BTreeSet::from([1, 2, 3]);
        let want = BTreeSet::from([2, 3, 4]);
        assert_eq!(diff(&have, &want), (vec![4], vec![1]));
        assert_eq!(diff(&want, &want), (vec![], vec![]));
    }

    #[test]
    fn macs() {
        for good in ["02:AA:00:00:00:01", "02-aa-00-00-00-01", "2:aa:0:0:0:1"] {
            assert_eq!(unicast_mac(good).as_deref(), Some("02:aa:00:00:00:01"));
        }
        for bad in [
            "",
            "02:aa:00:00:00",
            "02:aa:00:00:00:01:02",
            "03:00:00:00:00:01",
            "00:00:00:00:00:00",
            "zz:aa:00:00:00:01",
            "unknown-dst",
        ] {
            assert_eq!(unicast_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn registration_creates_then_only_adds_ports() {
        let ip: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let empty = Db::default();
        let ops = register_ops(&empty, "sw", ip, &["p1".into()]);
        let tables: Vec<&str> = ops.iter().filter_map(|o| o["table"].as_str()).collect();
        assert_eq!(tables, ["Physical_Port", "Physical_Switch", "Global"]);
        assert_eq!(ops[2]["op"], "insert", "no Global row: one is made");
        let d = db();
        assert!(register_ops(&d, "sw", ip, &["p1".into(), "p2".into()]).is_empty());
        let ops = register_ops(
            &d,
            "sw",
            "10.0.0.5".parse().unwrap(),
            &["p1".into(), "p3".into()],
        );
        let what: Vec<(&str, &str)> = ops
            .iter()
            .map(|o| (o["op"].as_str().unwrap(), o["table"].as_str().unwrap()))
            .collect();
        assert_eq!(
            what,
            [
                ("insert", "Physical_Port"),
                ("update", "Physical_Switch"),
                ("mutate", "Physical_Switch")
            ]
        );
    }

    #[test]
    fn publishing_follows_what_is_learned_on_bound_ports() {
        let mut d = db();
        let ip: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let (w, _) = wanted(&d, "sw", &tunnel());
        let learned = BTreeSet::from([
            ("02:00:00:00:01:01".to_string(), "p1".to_string(), 0),
            ("02:00:00:00:01:02".to_string(), "p2".to_string(), 0),
        ]);
        let ops = publish_ops(&d, ip, &w.bindings, &learned);
        let inserts: Vec<&Value> = ops.iter().filter(|o| o["op"] == "insert").collect();
        let rows: Vec<(&str, &str)> = inserts
            .iter()
            .map(|o| {
                (
                    o["table"].as_str().unwrap(),
                    o["row"]["MAC"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("Ucast_Macs_Local", "02:00:00:00:01:01"),
                ("Physical_Locator_Set", ""),
                ("Mcast_Macs_Local", "unknown-dst")
            ]
        );
        assert_eq!(inserts[0]["row"]["locator"], json!(["uuid", "me"]));
        // Once published (as the monitor reports it), nothing more to do;
        // when the MAC ages out, its row goes, and only ours.
        d.apply(&json!({
            "Ucast_Macs_Local": {
                "l1": {"new": {"MAC": "02:00:00:00:01:01", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "me"]}},
                "other": {"new": {"MAC": "02:00:00:00:09:09", "logical_switch": ["uuid", "ls42"], "locator": ["uuid", "hv"]}}},
            "Physical_Locator_Set": {"mine": {"new": {"locators": ["uuid", "me"]}}},
            "Mcast_Macs_Local": {"ml": {"new": {"MAC": "unknown-dst", "logical_switch": ["uuid", "ls42"], "locator_set": ["uuid", "mine"]}}}
        }));
        assert!(publish_ops(&d, ip, &w.bindings, &learned).is_empty());
        let ops = publish_ops(&d, ip, &w.bindings, &BTreeSet::new());
        assert_eq!(
            ops,
            [
                json!({"op": "delete", "table": "Ucast_Macs_Local", "where": [["_uuid", "==", ["uuid", "l1"]]]})
            ]
        );
        // No binding left: the flood entry goes too.
        let ops = publish_ops(&d, ip, &[], &BTreeSet::new());
        assert_eq!(ops.len(), 2);
        assert!(ops.iter().all(|o| o["op"] == "delete"));
    }

    #[test]
    fn without_an_own_locator_one_is_inserted_once() {
        let mut d = db();
        d.apply(&json!({"Physical_Locator": {"me": {"old": {}}}}));
        let (w, _) = wanted(&d, "sw", &tunnel());
        let learned = BTreeSet::from([
            ("02:00:00:00:01:01".to_string(), "p1".to_string(), 0),
            ("02:00:00:00:01:03".to_string(), "p1".to_string(), 0),
        ]);
        let ops = publish_ops(&d, "10.0.0.1".parse().unwrap(), &w.bindings, &learned);
        let locs = ops
            .iter()
            .filter(|o| o["table"] == "Physical_Locator")
            .count();
        assert_eq!(locs, 1);
        assert_eq!(
            ops[0]["table"], "Physical_Locator",
            "inserted before it is named"
        );
    }

    #[test]
    fn the_view_takes_the_tunnel_its_statics_and_learned_macs() {
        let port = |name: &str, vx: bool| PortInfo {
            port: 1,
            ifname: name.into(),
            kind: if vx { "vxlan" } else { "afpacket" }.into(),
            ifindex: 1,
            state: "up".into(),
            mtu: 1500,
            counters: Default::default(),
            vxlan: vx.then(|| crate::control::VxlanInfo {
                vni: Some(42),
                local: "10.0.0.1".into(),
                dstport: 4789,
                vlans: Vec::new(),
                flood: vec!["10.0.0.2".into()],
                underlay: String::new(),
                remotes: 1,
                drops: BTreeMap::new(),
            }),
        };
        let ports = [port("p1", false), port("vx0", true)];
        let fdb: Vec<FdbRow> = serde_json::from_value(json!([
            {"mac": "02:00:00:00:00:01", "ifname": "p1", "port": 1, "vlan": 0, "state": "dynamic", "age": 1.0},
            {"mac": "02:00:00:00:00:02", "ifname": "vx0", "port": 2, "vlan": 0, "state": "static", "age": 0.0, "dst": "10.0.0.2"},
            {"mac": "02:00:00:00:00:03", "ifname": "vx0", "port": 2, "vlan": 0, "state": "dynamic", "age": 0.0, "dst": "10.0.0.3"}
        ]))
        .unwrap();
        let v = SwitchView::from_reports(&ports, &fdb);
        assert_eq!(v.ports, ["p1"]);
        assert_eq!(
            v.tunnel.as_ref().map(|t| t.vnis.clone()),
            Some(vec![(42, 0)])
        );
        assert_eq!(v.learned.len(), 1);
        assert_eq!(v.tunnel_statics.len(), 1);
    }

    /// Any value a column could hold, good or bad.
    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let atom = prop_oneof![
            Just(json!(["uuid", "ls42"])),
            Just(json!(["uuid", "hv"])),
            Just(json!(["uuid", "all"])),
            Just(json!(["uuid", "p1"])),
            Just(json!(["uuid", 7])),
            Just(json!(["named-uuid", "x"])),
            Just(json!("02:00:00:00:00:aa")),
            Just(json!("unknown-dst")),
            Just(json!("10.0.0.2")),
            Just(json!(42)),
            Just(json!(-1)),
            Just(json!(1u64 << 40)),
            Just(json!(null)),
            Just(json!({})),
        ];
        atom.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| json!(["set", v])),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(|v| {
                    json!([
                        "map",
                        v.into_iter()
                            .map(|(k, v)| json!([k, v]))
                            .collect::<Vec<_>>()
                    ])
                }),
                proptest::collection::vec(inner, 0..3).prop_map(Value::Array),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever the rows hold, reading them never panics, and only
        /// good remote entries come out.
        #[test]
        fn any_rows_are_read_without_panic(
            cols in proptest::collection::vec(
                (0usize..10, 0usize..8, any_value()), 0..24)
        ) {
            let tables = ["Physical_Switch", "Physical_Port", "Logical_Switch",
                "Physical_Locator", "Physical_Locator_Set", "Ucast_Macs_Remote",
                "Mcast_Macs_Remote", "Ucast_Macs_Local", MCAST_LOCAL, "Global"];
            let names = ["name", "ports", "vlan_bindings", "tunnel_key", "dst_ip", "locator",
                "locators", "MAC", "logical_switch", "locator_set"];
            let uuids = ["ps", "p1", "ls42", "hv", "all", "me", "r1", "x"];
            let mut d = db();
            let mut updates = Map::new();
            for (t, u, v) in cols {
                let row = updates
                    .entry(tables[t].to_string())
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .unwrap()
                    .entry(uuids[u].to_string())
                    .or_insert_with(|| json!({"new": {"name": "sw"}}));
                row["new"][names[(t + u) % names.len()]] = v;
            }
            let _ = d.apply(&Value::Object(updates));
            let (w, _) = wanted(&d, "sw", &tunnel());
            for m in &w.remote_macs {
                proptest::prop_assert!(unicast_mac(&m.mac).is_some());
            }
            let learned = BTreeSet::from([("02:00:00:00:01:01".to_string(), "p1".to_string(), 0)]);
            let _ = publish_ops(&d, "10.0.0.1".parse().unwrap(), &w.bindings, &learned);
            let _ = register_ops(&d, "sw", "10.0.0.1".parse().unwrap(), &["p1".into()]);
        }
    }
}
