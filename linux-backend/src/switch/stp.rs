//! The spanning tree of the running switch: the core's [`Stp`] driven by the
//! event loop's clock, its BPDUs sent out of the ports, and its state for
//! `stp show`.

use super::LinuxSwitch;
use crate::control::{BpduKinds, StpInfo, StpPortInfo};
use crate::error::{Error, Result};
use crate::vnet::VnetHdr;
use vswitch_core::stp::{path_cost_for_speed, KindCounters, State, Stp, StpEvent, StpPortConfig};
use vswitch_core::{MacAddr, Port, PortId};

/// The address of an interface, from sysfs; `None` if it cannot be read.
fn iface_mac(name: &str) -> Option<MacAddr> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
    text.trim().parse().ok()
}

/// A locally administered address for the bridge, stable for a switch name
/// (its identifier must not change with the ports attached).
fn bridge_mac(name: &str) -> MacAddr {
    // FNV-1a: no dependency, and stable across builds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    MacAddr([0x02, b[0], b[1], b[2], b[3], b[4]])
}

/// The link speed of an interface in Mb/s, from sysfs; `None` when unknown.
fn iface_speed(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/speed")).ok()?;
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|&s| s > 0)
        .map(|s| s as u64)
}

/// The duplex of an interface from sysfs: `Some(true)` for full (veths say
/// full), `Some(false)` for half, `None` when unknown (a TAP, a link without
/// carrier): then the port is taken as full duplex, point-to-point.
fn iface_full_duplex(name: &str) -> Option<bool> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/duplex")).ok()?;
    match text.trim() {
        "full" => Some(true),
        "half" => Some(false),
        _ => None,
    }
}

fn kinds(k: KindCounters) -> BpduKinds {
    BpduKinds {
        config: k.config,
        rst: k.rst,
        tcn: k.tcn,
    }
}

impl LinuxSwitch {
    /// Tells the spanning tree the duplex of port `id`'s link (for
    /// `stp-point-to-point = "auto"`).
    pub(super) fn stp_duplex(&mut self, id: PortId) {
        let name = self.port_name(id);
        let full = iface_full_duplex(&name).unwrap_or(true);
        let now = self.now();
        if let Some(stp) = self.sw.stp_mut() {
            stp.set_full_duplex(now, id, full);
        }
    }

    /// `stp clear-guard PORT`: re-enables a port BPDU guard shut down.
    pub(super) fn stp_clear_guard(&mut self, name: &str) -> Result<String> {
        let id = self
            .port_id_by_name(name)
            .ok_or_else(|| Error::NotAttached(name.to_string()))?;
        let now = self.now();
        let Some(stp) = self.sw.stp_mut() else {
            return Err(Error::Remote("spanning tree is off".into()));
        };
        if !stp.clear_guard(now, id) {
            return Err(Error::Remote(format!(
                "port \"{name}\" is not shut down by BPDU guard"
            )));
        }
        tracing::info!("port {id} {name} re-enabled: BPDU guard cleared on request");
        self.run_stp();
        Ok(format!("port {name} re-enabled"))
    }

    /// Logs the spanning tree's events (root and role changes, guards).
    fn log_stp_events(&mut self) {
        let mut events = Vec::new();
        if let Some(stp) = self.sw.stp_mut() {
            stp.drain_events(|e| events.push(e));
        }
        self.log_stp_states();
        for e in events {
            let port = match e {
                StpEvent::RootChanged { port, .. } => port,
                StpEvent::RoleChanged { port, .. }
                | StpEvent::BpduGuardTripped { port, .. }
                | StpEvent::RootGuardBlocking { port, .. }
                | StpEvent::RootGuardReleased { port } => Some(port),
            };
            let name = port.map(|p| self.port_name(p)).unwrap_or_default();
            match e {
                StpEvent::BpduGuardTripped { .. } | StpEvent::RootGuardBlocking { .. } => {
                    tracing::warn!("stp: {e} ({name})");
                }
                _ if name.is_empty() => tracing::info!("stp: {e}"),
                _ => tracing::info!("stp: {e} ({name})"),
            }
        }
    }

    /// Logs the ports whose state (discarding, learning, forwarding) changed
    /// since the last call: with the role changes, when a port began to forward.
    fn log_stp_states(&mut self) {
        let Some(stp) = self.sw.stp() else {
            self.stp_states.clear();
            return;
        };
        let mut changed = Vec::new();
        for s in stp.statuses() {
            let i = usize::from(s.port.0);
            if self.stp_states.len() <= i {
                self.stp_states.resize(i + 1, None);
            }
            let before = self.stp_states[i].replace(s.state);
            if before.is_some_and(|b| b != s.state) {
                changed.push((s.port, before.map_or("-", State::name), s.state.name()));
            }
        }
        for (port, from, to) in changed {
            let name = self.port_name(port);
            tracing::info!("stp: port {port} state {from} -> {to} ({name})");
        }
    }

    /// The spanning tree settings of port `name`: the file's, with the path
    /// cost of its link speed (802.1D-2004 table 17-3) unless the file sets one.
    fn stp_port_config(&self, name: &str) -> StpPortConfig {
        let mut c = self.spec.stp_port_config(name);
        let spec = &self.spec.ports;
        let explicit = spec
            .get(name)
            .or_else(|| spec.get("default"))
            .is_some_and(|p| p.stp_cost.is_some());
        if !explicit {
            if let Some(mbps) = iface_speed(name) {
                c.path_cost = path_cost_for_speed(mbps);
            }
        }
        c
    }

    /// Turns the spanning tree on or off (or changes its settings) as the spec
    /// says, with every attached port.
    pub(super) fn apply_stp_spec(&mut self) {
        let now = self.now();
        let Some(config) = self.spec.stp_config() else {
            if self.sw.stp().is_some() {
                tracing::info!("spanning tree off");
                self.sw.set_stp(None);
            }
            self.set_stp_ticking(false);
            return;
        };
        if let Some(stp) = self.sw.stp_mut() {
            if *stp.config() != config {
                stp.set_config(now, config);
            }
            for i in 0..self.ports.len() {
                let Some(slot) = &self.ports[i] else { continue };
                let c = self.stp_port_config(slot.port.name());
                if let Some(stp) = self.sw.stp_mut() {
                    if stp.status(PortId(i as u16)).is_some() {
                        stp.set_port_config(now, PortId(i as u16), c);
                    }
                }
            }
            self.run_stp();
            return;
        }
        let mut stp = Stp::new(config, bridge_mac(&self.name));
        for (i, slot) in self.ports.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let name = slot.port.name();
            let mac = iface_mac(name).unwrap_or(bridge_mac(name));
            stp.add_port(now, PortId(i as u16), mac, self.stp_port_config(name));
            stp.set_full_duplex(
                now,
                PortId(i as u16),
                iface_full_duplex(name).unwrap_or(true),
            );
        }
        tracing::info!("spanning tree on: bridge {}", stp.bridge_id());
        self.sw.set_stp(Some(stp));
        self.set_stp_ticking(true);
        // Ports whose link is down start disabled.
        let down: Vec<PortId> = self
            .sw
            .ports()
            .filter(|(_, p)| !p.up)
            .map(|(id, _)| id)
            .collect();
        for id in down {
            let _ = self.sw.set_port_up(id, false);
        }
        self.run_stp();
    }

    /// Arms (`on`) or disarms the spanning tree's tick.
    fn set_stp_ticking(&mut self, on: bool) {
        if on == self.stp_ticking {
            return;
        }
        let period = if on { super::STP_TICK_MS } else { 0 };
        match crate::sys::set_interval(&self.stp_timer, period) {
            Ok(()) => self.stp_ticking = on,
            Err(e) => tracing::warn!("cannot set the spanning tree timer to {period} ms: {e}"),
        }
    }

    /// Adds a newly attached port to the spanning tree, if it is on.
    pub(super) fn stp_port_added(&mut self, id: PortId, name: &str, up: bool) {
        let now = self.now();
        let config = self.stp_port_config(name);
        if let Some(stp) = self.sw.stp_mut() {
            let mac = iface_mac(name).unwrap_or(bridge_mac(name));
            stp.add_port(now, id, mac, config);
            stp.set_full_duplex(now, id, iface_full_duplex(name).unwrap_or(true));
            if !up {
                stp.set_enabled(now, id, false);
            }
            self.run_stp();
        }
    }

    /// Runs the spanning tree's timers and sends the BPDUs it has produced.
    pub(super) fn run_stp(&mut self) {
        if self.sw.stp().is_none() {
            return;
        }
        let now = self.now();
        let ports = &mut self.ports;
        self.sw.run_stp(now, |id, frame| {
            if let Some(Some(slot)) = ports.get_mut(usize::from(id.0)) {
                if slot.port.send(frame, VnetHdr::default()).is_ok() {
                    slot.port.flush();
                }
            }
        });
        self.log_stp_events();
    }

    /// What `stp show` prints.
    pub(super) fn stp_info(&self) -> StpInfo {
        let Some(stp) = self.sw.stp() else {
            return StpInfo::default();
        };
        let c = stp.config();
        StpInfo {
            enabled: true,
            protocol: match c.mode {
                vswitch_core::stp::StpMode::Rstp => "rstp".into(),
                vswitch_core::stp::StpMode::Stp => "stp".into(),
            },
            bridge_id: stp.bridge_id().to_string(),
            root_id: stp.root_id().to_string(),
            root_path_cost: stp.root_path_cost(),
            root_port: stp.root_port().map(|p| p.0),
            is_root: stp.root_id() == stp.bridge_id(),
            hello_time: c.hello_time,
            max_age: c.max_age,
            forward_delay: c.forward_delay,
            topology_changes: stp.topology_changes(),
            last_tc_ms_ago: stp
                .last_topology_change()
                .map(|tc| stp.now().millis().saturating_sub(tc.at.millis())),
            last_tc_port: stp.last_topology_change().map(|tc| self.port_name(tc.port)),
            last_tc_from: stp.last_topology_change().map(|tc| match tc.from {
                None => "detected".to_string(),
                Some(b) => b.to_string(),
            }),
            ports: stp
                .statuses()
                .map(|s| StpPortInfo {
                    port: s.port.0,
                    ifname: self
                        .ports
                        .get(usize::from(s.port.0))
                        .and_then(Option::as_ref)
                        .map(|slot| slot.port.name().to_string())
                        .unwrap_or_default(),
                    port_id: format!("{:04x}", s.port_id),
                    role: s.role.name().into(),
                    state: s.state.name().into(),
                    cost: s.path_cost,
                    edge: s.edge,
                    p2p_setting: s.admin_p2p.name().into(),
                    p2p: s.p2p,
                    bpdu_guard: s.bpdu_guard,
                    guard_tripped: s.guard_tripped,
                    root_guard: s.root_guard,
                    root_inconsistent: s.root_inconsistent,
                    protocol: if s.rstp { "rstp" } else { "stp" }.into(),
                    designated_bridge: s.designated_bridge.to_string(),
                    bpdus_rx: s.counters.rx,
                    bpdus_tx: s.counters.tx,
                    bpdus_malformed: s.counters.malformed,
                    rx: kinds(s.counters.rx_kind),
                    tx: kinds(s.counters.tx_kind),
                    drops: s
                        .counters
                        .dropped
                        .by_reason()
                        .into_iter()
                        .filter(|&(_, n)| n > 0)
                        .map(|(r, n)| (r.to_string(), n))
                        .collect(),
                    topology_changes: s.counters.topology_changes,
                    bpdu_guard_trips: s.counters.bpdu_guard_trips,
                    root_guard_blocks: s.counters.root_guard_blocks,
                    tx_held: s.counters.tx_held,
                })
                .collect(),
        }
    }
}
