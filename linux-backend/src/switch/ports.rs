//! Ports of the running switch: attaching and removing them, and the data
//! path: a batch received on one port, decided by the core, sent out of the
//! others, then traced and captured.

use super::{LinuxSwitch, PortSlot, Stream, TOKEN_PORT};
use crate::claim::{self, Claim};
use crate::control::Added;
use crate::control_server::Answer;
use crate::error::{Error, Result};
use crate::gso;
use crate::link;
use crate::port::{AfPacketPort, LinuxPort, TapPort};
use crate::sys;
use crate::target::{self, PortTarget};
use crate::trace;
use crate::vnet::VnetHdr;
use crate::vxlan::{self, VxlanPort};
use crate::xdp::XdpPort;
use std::collections::BTreeMap;
use std::io::{self, Write};
use vswitch_core::{FrameBatch, Port, PortId, TxError};

impl LinuxSwitch {
    pub(super) fn port_id_by_name(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.port.name() == name))
            .map(|i| PortId(i as u16))
    }

    pub(super) fn slot(&mut self, id: PortId) -> Option<&mut PortSlot> {
        self.ports
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
    }

    /// Attaches the port named by `spec`.
    pub fn add_port(&mut self, spec: &str) -> Result<Added> {
        let target = PortTarget::parse(spec)?;
        let name = match &target {
            PortTarget::Iface(n) | PortTarget::Tap(n) => Some(n.clone()),
            PortTarget::Vxlan(v) => Some(v.name.clone()),
            _ => None,
        };
        if let Some(n) = name.filter(|n| self.port_id_by_name(n).is_some()) {
            return Err(Error::AlreadyAttached(n));
        }
        let resolved = target::resolve(&target)?;
        if self.port_id_by_name(&resolved.iface).is_some() {
            return Err(Error::AlreadyAttached(resolved.iface));
        }
        let iface = &resolved.iface;
        // Claimed before it is opened, so that a refused interface is not touched.
        let (port, claim): (Box<dyn LinuxPort>, Option<Claim>) =
            if let PortTarget::Vxlan(v) = &target {
                (Box::new(VxlanPort::open(v.clone())?), None)
            } else if resolved.tap {
                let tap = TapPort::open(iface)?;
                let claim = Claim::take(iface, tap.ifindex(), &self.name)?;
                (Box::new(tap), Some(claim))
            } else {
                claim::check(iface)?;
                let index = sys::if_index(iface).map_err(|e| Error::iface(iface, "opening", e))?;
                let claim = Claim::take(iface, index, &self.name)?;
                (self.open_iface(iface)?, Some(claim))
            };
        // Events of an earlier port of the same number go out with its name.
        self.drain_events();
        let mut config = self
            .spec
            .port_config(&resolved.iface)
            .map_err(|e| Error::Config(e.to_string()))?;
        // Split horizon, and entries that carry their remote endpoint.
        config.tunnel = port.vxlan().is_some();
        let id = self
            .sw
            .add_port(config)
            .map_err(|e| Error::Config(e.to_string()))?;
        let index = usize::from(id.0);
        self.monitor.name_port(id, &resolved.iface);
        let fd = port.fd();
        // A tunnel is up while the switch runs (its underlay is the kernel's).
        let up = port.vxlan().is_some()
            || sys::if_flags(&resolved.iface)
                .map(link::flags_up)
                .unwrap_or(false);
        if let Err(e) = self
            .epoll
            .add(fd, libc::EPOLLIN as u32, TOKEN_PORT | u64::from(id.0))
        {
            let _ = self.sw.remove_port(id);
            return Err(Error::io("epoll", e));
        }
        if self.ports.len() <= index {
            self.ports.resize_with(index + 1, || None);
            self.capture_count.resize(index + 1, 0);
        }
        self.ports[index] = Some(PortSlot {
            port,
            _claim: claim,
            from_file: None,
        });
        let _ = self.sw.set_port_up(id, up);
        self.stp_port_added(id, &resolved.iface, up);
        if !up {
            tracing::warn!("port {} {} has no carrier: marked down", id, resolved.iface);
        }
        Ok(Added {
            ifname: resolved.iface,
            port: id.0,
            notes: resolved.notes,
        })
    }

    /// A port on interface `iface`: AF_XDP if asked for and possible, else AF_PACKET.
    fn open_iface(&self, iface: &str) -> Result<Box<dyn LinuxPort>> {
        if self.port_opts.afxdp {
            match XdpPort::open(iface, self.port_opts.ring_mib) {
                Ok(port) => return Ok(Box::new(port)),
                Err(e) => tracing::warn!("{e}: AF_PACKET port on \"{iface}\" instead"),
            }
        }
        Ok(Box::new(AfPacketPort::open_with(iface, &self.port_opts)?))
    }

    pub(super) fn remove_port(&mut self, id: PortId, why: &str) -> Option<String> {
        let mut slot = self.ports.get_mut(usize::from(id.0))?.take()?;
        self.epoll.delete(slot.port.fd());
        slot.port.poll_stats();
        self.sw.count_device(id, slot.port.take_counts());
        if let Some(state) = self.sw.port(id) {
            let r = &mut self.retired;
            retire(
                &state.counters,
                &mut r.rx_frames,
                &mut r.tx_frames,
                &mut r.drops,
            );
        }
        let _ = self.sw.remove_port(id);
        let name = slot.port.name().to_string();
        tracing::info!("port {id} {name} removed ({why})");
        // Capture clients of this port have nothing more to get.
        let control = &mut self.control;
        self.streams.retain(|&(client, s)| {
            let ended = s == Stream::Capture(id);
            if ended {
                control.reply(client, Answer::End);
            }
            !ended
        });
        if let Some(n) = self.capture_count.get_mut(usize::from(id.0)) {
            *n = 0;
        }
        Some(name)
    }

    /// Forwards a batch from port `id`; returns how many frames it read.
    pub(super) fn on_port(&mut self, id: PortId, ev: u32) -> usize {
        let now_ns = self.now_ns();
        let now = vswitch_core::Instant::from_nanos(now_ns);
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let Some(slot) = self.slot(id) else {
            self.batch = batch;
            return 0;
        };
        let ifindex = slot.port.ifindex();
        let got = slot.port.recv(&mut batch);
        if batch.is_empty() {
            let error = ev & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            if error {
                // Read the error, or epoll reports it again at once, forever.
                if let Some(e) = slot.port.take_error() {
                    tracing::debug!("port {id} {}: {e}", slot.port.name());
                }
            }
            let gone = slot.port.gone()
                || (error && slot.port.follows_link_events() && sys::if_name(ifindex).is_none());
            self.batch = batch;
            if gone {
                self.remove_port(id, "interface disappeared");
            }
            return 0;
        }
        let cfg = *self.sw.config();
        if cfg.vlan_aware && !cfg.hub && batch.iter_with_meta().any(|(_, o)| !o.is_plain()) {
            // Egress tagging may move the headers the offload state points
            // at: finish such frames here, before the core sees them.
            self.resolve_offloads(&mut batch);
        }
        let tracing = self.trace_stdout
            || self
                .streams
                .iter()
                .any(|(_, s)| matches!(s, Stream::Trace(_)));
        let ports = &mut self.ports;
        let capture_count = &self.capture_count;
        let captured = &mut self.captured;
        let scratch = &mut self.gso_scratch;
        let traced = &mut self.traced;
        traced.clear();
        let decisions = self.sw.forward(now, id, &batch, |e| {
            if tracing {
                traced.push((e.index, e.port));
            }
            let i = usize::from(e.port.0);
            let Some(Some(slot)) = ports.get_mut(i) else {
                return Err(TxError::Full);
            };
            let r = slot.port.send_to(e.frame, e.meta, e.decision.remote);
            if r.is_ok() && capture_count.get(i).is_some_and(|&n| n > 0) {
                // A capture gets what a wire would carry: finished segments.
                let _ = gso::resolve(e.frame, &e.meta, scratch, |seg| {
                    captured.push((e.port, now_ns, seg.to_vec()));
                });
            }
            r
        });
        if tracing {
            self.verdicts.clear();
            self.verdicts.extend(decisions.iter().map(|d| d.verdict));
        }
        self.flush_ports();
        if !self.captured.is_empty() {
            self.deliver_captures();
        }
        if tracing {
            self.trace_batch(now_ns, id, &batch);
        }
        self.batch = batch;
        got
    }

    /// Gives back the remote ids of tunnel ports that no FDB entry holds any
    /// longer, on ports where it is due ([`crate::vxlan::Remotes::reclaim_due`]).
    /// Between batches, so every id handed to a received frame is in its
    /// entry; never during an `fdb show`, whose dump names remotes by the ids
    /// it started with.
    pub(super) fn reclaim_remotes(&mut self) {
        if !self.dumps.is_empty() {
            return;
        }
        for (i, slot) in self.ports.iter_mut().enumerate() {
            let Some(vx) = slot.as_mut().and_then(|s| s.port.vxlan_mut()) else {
                continue;
            };
            if vx.remotes().reclaim_due() {
                let n = vxlan::reclaim_remotes(self.sw.fdb(), PortId(i as u16), vx.remotes_mut());
                tracing::debug!(port = vx.name(), freed = n, "remote ids reclaimed");
            }
        }
    }

    /// Sends what every port queued (one system call per egress port for the
    /// whole batch) and counts, in the core, what their kernels refused.
    pub(super) fn flush_ports(&mut self) {
        for (i, slot) in self.ports.iter_mut().enumerate() {
            if let Some(slot) = slot {
                slot.port.flush();
                let counts = slot.port.take_counts();
                if !counts.is_empty() {
                    self.sw.count_device(PortId(i as u16), counts);
                }
            }
        }
    }

    /// Replaces the offloaded frames of a batch by their finished segments.
    fn resolve_offloads(&mut self, batch: &mut FrameBatch<VnetHdr>) {
        let mut resolved = std::mem::take(&mut self.resolved);
        resolved.clear();
        for (frame, offload) in batch.iter_with_meta() {
            if gso::resolve(frame, &offload, &mut self.gso_scratch, |seg| {
                resolved.push_with(seg, VnetHdr::NONE)
            })
            .is_err()
            {
                tracing::debug!("dropped an offloaded frame the switch cannot finish");
            }
        }
        std::mem::swap(batch, &mut resolved);
        self.resolved = resolved;
    }

    /// Writes the trace lines of a batch: its verdicts and the ports each
    /// frame was handed to, as [`LinuxSwitch::on_port`] saw them.
    fn trace_batch(&mut self, now_ns: u64, ingress: PortId, batch: &FrameBatch<VnetHdr>) {
        let ingress_name = self.port_name(ingress);
        let mut stdout = io::stdout().lock();
        // Lines for each stream client, and how many.
        let mut outs = vec![(Vec::new(), 0u64); self.streams.len()];
        for (i, &verdict) in self.verdicts.iter().enumerate() {
            // `traced` is in port order, as the core delivers.
            let out_ids: Vec<PortId> = self
                .traced
                .iter()
                .filter(|&&(frame, _)| frame == i)
                .map(|&(_, p)| p)
                .collect();
            let names: Vec<String> = out_ids.iter().map(|&p| self.port_name(p)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let line = trace::line(
                now_ns,
                &self.name,
                &ingress_name,
                batch.get(i),
                verdict,
                &refs,
            );
            if self.trace_stdout {
                let _ = writeln!(stdout, "{line}");
            }
            for (&(_, s), (out, n)) in self.streams.iter().zip(outs.iter_mut()) {
                if let Stream::Trace(filter) = s {
                    if filter.is_none_or(|p| p == ingress || out_ids.contains(&p)) {
                        out.extend_from_slice(line.as_bytes());
                        out.push(b'\n');
                        *n += 1;
                    }
                }
            }
        }
        drop(stdout);
        self.send_streams(outs);
    }

    /// Hands each stream client its part of a batch (none for an empty part).
    fn send_streams(&mut self, outs: Vec<(Vec<u8>, u64)>) {
        for (&(client, _), (bytes, n)) in self.streams.iter().zip(outs) {
            if n > 0 {
                self.control.chunk(client, bytes, n);
            }
        }
    }

    fn deliver_captures(&mut self) {
        let mut outs = vec![(Vec::new(), 0u64); self.streams.len()];
        for (&(_, s), (buf, n)) in self.streams.iter().zip(outs.iter_mut()) {
            let Stream::Capture(port) = s else {
                continue;
            };
            for (out, ts, frame) in &self.captured {
                if *out == port {
                    buf.extend_from_slice(&ts.to_le_bytes());
                    buf.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                    buf.extend_from_slice(frame);
                    *n += 1;
                }
            }
        }
        self.captured.clear();
        self.send_streams(outs);
    }

    /// Fetches every port's kernel drop counters.
    pub(super) fn poll_port_stats(&mut self) {
        for (i, slot) in self.ports.iter_mut().enumerate() {
            if let Some(slot) = slot {
                slot.port.poll_stats();
                self.sw
                    .count_device(PortId(i as u16), slot.port.take_counts());
            }
        }
    }

    pub(super) fn port_name(&self, id: PortId) -> String {
        self.ports
            .get(usize::from(id.0))
            .and_then(Option::as_ref)
            .map(|s| s.port.name().to_string())
            .unwrap_or_else(|| format!("port{id}"))
    }
}

/// Adds a port's frames and drops to a switch's totals.
pub(super) fn retire(
    c: &vswitch_core::PortCounters,
    rx_frames: &mut u64,
    tx_frames: &mut u64,
    drops: &mut BTreeMap<String, u64>,
) {
    *rx_frames += c.rx_frames;
    *tx_frames += c.tx_frames;
    for (reason, n) in c.nonzero_drops() {
        *drops.entry(reason.to_string()).or_default() += n;
    }
}
