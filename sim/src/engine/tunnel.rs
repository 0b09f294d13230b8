//! VXLAN tunnel ports and the simulated underlay between them.
//!
//! Each tunnel port has a link (a [`Wire`]) from its underlay address to the
//! underlay network, which hands each packet to the link of the tunnel whose
//! address it is for: two links, each with its latency, bandwidth and queue,
//! between any two endpoints. What the switch sends on a tunnel port becomes
//! real IPv4/UDP/VXLAN packets ([`crate::underlay`]): a unicast its FDB entry
//! learned behind an endpoint goes to that endpoint alone, anything else to
//! every endpoint of the flood list (head-end replication). A packet received
//! is checked (IPv4, UDP port 4789, the I flag, the VNI) and its frame handed
//! to the switch with the sender's address as its remote endpoint, which the
//! switch learns the source behind. Split horizon is the core's: a tunnel
//! port is a `tunnel` port to it.

use super::{Action, Capture, Clock, FramePool, SimError, Simulation};
use crate::pcap::PcapSink;
use crate::results::{RemoteEntry, TunnelReport};
use crate::scenario::Scenario;
use crate::underlay::{self, Outer};
use crate::wire::{End, Wire};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use vswitch_core::{Instant, PortId, RemoteId, TxError};

/// One tunnel port.
pub(super) struct SimTunnel {
    /// `m1:vx0`.
    pub(super) name: String,
    pub(super) switch: u32,
    pub(super) port: u16,
    pub(super) local: Ipv4Addr,
    pub(super) vni: u32,
    /// Its link to the underlay: end 0 is the tunnel, end 1 the underlay.
    pub(super) wire: u32,
    /// Endpoints by remote id (the id is the index), in order of first sight.
    remotes: Vec<Ipv4Addr>,
    /// The flood list, as ids.
    flood: Vec<RemoteId>,
    /// The next IPv4 identification.
    ip_id: u16,
    encapsulated: u64,
    packets_sent: u64,
    decapsulated: u64,
    drops: BTreeMap<&'static str, u64>,
}

impl SimTunnel {
    /// The id of endpoint `addr`, given one at first sight; `None` past
    /// [`RemoteId::MAX`].
    fn remote_id(&mut self, addr: Ipv4Addr) -> Option<RemoteId> {
        if let Some(i) = self.remotes.iter().position(|&a| a == addr) {
            return Some(RemoteId(i as u16));
        }
        if self.remotes.len() > usize::from(RemoteId::MAX.0) {
            return None;
        }
        self.remotes.push(addr);
        Some(RemoteId((self.remotes.len() - 1) as u16))
    }

    fn drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
    }
}

/// The underlay MAC of tunnel number `t`: 02:56:00:00:TT:TT.
fn underlay_mac(t: usize) -> [u8; 6] {
    let [hi, lo] = (t as u16).to_be_bytes();
    [2, 0x56, 0, 0, hi, lo]
}

/// What encapsulating needs of the simulation besides the tunnel itself.
pub(super) struct Underlay<'a> {
    pub(super) now: u64,
    /// Every tunnel's underlay address, by tunnel number.
    pub(super) locals: &'a [Ipv4Addr],
    pub(super) wires: &'a mut [Wire],
    pub(super) frames: &'a mut FramePool,
    pub(super) clock: &'a mut Clock,
    pub(super) capture: &'a mut Option<Capture>,
}

/// Encapsulates `inner`, which the switch sends on tunnel `ti`'s port, for
/// `remote` (a unicast's endpoint) or the flood list, and puts the packets on
/// the tunnel's underlay link. Err (the switch counts it) when there is no
/// endpoint to send to.
pub(super) fn send(
    t: &mut SimTunnel,
    ti: usize,
    remote: Option<RemoteId>,
    inner: &[u8],
    u: &mut Underlay<'_>,
) -> Result<(), TxError> {
    let ids = match &remote {
        Some(id) => std::slice::from_ref(id),
        None => &t.flood[..],
    };
    // Allocates nothing: the endpoints are read where they are.
    let endpoints = ids
        .iter()
        .filter_map(|id| t.remotes.get(usize::from(id.0)).copied());
    if endpoints.clone().next().is_none() {
        t.drop("no-remote");
        return Err(TxError::NoRemote);
    }
    t.encapsulated += 1;
    let SimTunnel {
        local,
        vni,
        wire,
        ip_id,
        packets_sent,
        drops,
        ..
    } = t;
    let mut drop = |reason: &'static str| *drops.entry(reason).or_default() += 1;
    for dst in endpoints {
        let Some(peer) = u.locals.iter().position(|&l| l == dst) else {
            // No tunnel has that address: the underlay cannot resolve it.
            drop("unroutable");
            continue;
        };
        let outer = Outer {
            src_mac: underlay_mac(ti),
            dst_mac: underlay_mac(peer),
            src: *local,
            dst,
            id: *ip_id,
        };
        *ip_id = ip_id.wrapping_add(1);
        let slot = u.frames.alloc();
        underlay::encapsulate(u.frames.get_mut(slot), &outer, *vni, inner);
        let w = &mut u.wires[*wire as usize];
        let Some(at) = w.send(0, u.now, u.frames.get(slot).len()) else {
            u.frames.release(slot);
            drop("queue-full");
            continue;
        };
        *packets_sent += 1;
        if let Some(c) = u.capture.as_mut() {
            if let Some(sink) = c.underlay.as_mut() {
                if let Err(e) = sink.write(u.now, u.frames.get(slot)) {
                    c.underlay_error.get_or_insert(e.to_string());
                }
            }
        }
        u.clock.at(
            at,
            Action::Arrive {
                wire: *wire,
                side: 1,
                generation: w.generation,
                frame: slot,
            },
        );
    }
    Ok(())
}

impl Simulation {
    /// Adds the scenario's tunnel ports (their switch ports exist already) and
    /// their underlay links.
    pub(super) fn add_tunnels(&mut self, s: &Scenario, ports: &[(u32, u16)]) {
        for (spec, &(switch, port)) in s.tunnels.iter().zip(ports) {
            let ti = self.tunnels.len() as u32;
            let wire = self.wires.len() as u32;
            self.wires.push(Wire::new(
                End::Tunnel(ti),
                End::Underlay,
                spec.latency.unwrap_or(s.latency).0,
                spec.bandwidth.unwrap_or(s.bandwidth).0,
                s.queue,
            ));
            let mut t = SimTunnel {
                name: spec.port.clone(),
                switch,
                port,
                local: spec.local,
                vni: spec.vni,
                wire,
                remotes: Vec::new(),
                flood: Vec::new(),
                ip_id: 0,
                encapsulated: 0,
                packets_sent: 0,
                decapsulated: 0,
                drops: BTreeMap::new(),
            };
            for &r in &spec.remotes {
                if let Some(id) = t.remote_id(r) {
                    t.flood.push(id);
                }
            }
            self.locals.push(spec.local);
            self.tunnels.push(t);
            let sw = &mut self.switches[switch as usize];
            let at = usize::from(port);
            if sw.port_tunnel.len() <= at {
                sw.port_tunnel.resize(at + 1, None);
            }
            sw.port_tunnel[at] = Some(ti);
            let _ = sw.switch.set_port_up(PortId(port), true);
        }
    }

    /// A packet from tunnel link `wire` reached the underlay: on to the link
    /// of the tunnel it is for.
    pub(super) fn underlay_route(&mut self, wire: u32, frame: u32) {
        let End::Tunnel(from) = self.wires[wire as usize].ends()[0] else {
            self.frames.release(frame);
            return;
        };
        let dst = underlay::destination(self.frames.get(frame));
        let Some(to) = dst.and_then(|d| self.locals.iter().position(|&l| l == d)) else {
            self.tunnels[from as usize].drop("unroutable");
            self.frames.release(frame);
            return;
        };
        let link = self.tunnels[to].wire;
        if !self.send(link, 1, frame) {
            self.tunnels[to].drop("queue-full");
        }
    }

    /// A packet reached tunnel `ti` from the underlay: checked, and its frame
    /// handed to the switch with its sender as remote endpoint.
    pub(super) fn tunnel_rx(&mut self, ti: usize, frame: u32) {
        let t = &mut self.tunnels[ti];
        let packet = self.frames.get(frame);
        let got = underlay::decapsulate(packet, t.local, t.vni).map(|(src, inner)| {
            (
                src,
                inner.as_ptr() as usize - packet.as_ptr() as usize,
                inner.len(),
            )
        });
        let (src, start, len) = match got {
            Ok(g) => g,
            Err(e) => {
                t.drop(e.reason());
                self.frames.release(frame);
                return;
            }
        };
        let Some(id) = t.remote_id(src) else {
            t.drop("too-many-remotes");
            self.frames.release(frame);
            return;
        };
        t.decapsulated += 1;
        let (si, port) = (t.switch as usize, t.port);
        let bytes = self.frames.get_mut(frame);
        bytes.truncate(start + len);
        bytes.drain(..start);
        self.switch_rx(si, port, frame, Some(id));
    }

    /// Opens `underlay.pcap` in the capture directory when there are tunnels.
    pub(super) fn underlay_capture(
        &self,
        dir: &std::path::Path,
    ) -> Result<Option<PcapSink>, SimError> {
        if self.tunnels.is_empty() {
            return Ok(None);
        }
        let path = dir.join("underlay.pcap");
        PcapSink::create(&path)
            .map(Some)
            .map_err(|e| SimError::Capture {
                path,
                message: e.to_string(),
            })
    }

    /// Each tunnel's report at `now`.
    pub(super) fn tunnel_reports(&mut self, now: u64) -> Vec<TunnelReport> {
        let mut out = Vec::new();
        for t in &self.tunnels {
            let sw = &mut self.switches[t.switch as usize].switch;
            let mut remotes = sw
                .fdb_mut()
                .entries(Instant::from_nanos(now))
                .filter(|e| e.port == PortId(t.port))
                .map(|e| RemoteEntry {
                    vid: e.vid,
                    mac: e.mac.to_string(),
                    dst: e
                        .remote
                        .and_then(|id| t.remotes.get(usize::from(id.0)))
                        .map_or_else(|| "-".to_string(), |a| a.to_string()),
                })
                .collect::<Vec<_>>();
            remotes.sort_by(|a, b| (a.vid, &a.mac).cmp(&(b.vid, &b.mac)));
            out.push(TunnelReport {
                port: t.name.clone(),
                local: t.local.to_string(),
                vni: t.vni,
                flood: t
                    .flood
                    .iter()
                    .filter_map(|id| t.remotes.get(usize::from(id.0)))
                    .map(|a| a.to_string())
                    .collect(),
                encapsulated: t.encapsulated,
                packets_sent: t.packets_sent,
                decapsulated: t.decapsulated,
                drops: t.drops.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
                remotes,
            });
        }
        out
    }
}
