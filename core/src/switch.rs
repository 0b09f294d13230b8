//! The switch: ingress checks, learning and the forward decision, then delivery.
//!
//! The trip of a frame, in the order of [`Switch::decide`]: count it, classify it,
//! check the ingress port's state and VLAN admission, filter IEEE link-local
//! frames, learn its source, then decide by destination. The decision is a value;
//! [`Switch::forward`] carries it out through a callback, a batch at a time,
//! grouped per destination port.
//!
//! ```
//! use vswitch_core::{Instant, PortConfig, Switch, SwitchConfig, Verdict, FloodKind, PortId};
//! let mut sw = Switch::new(SwitchConfig::default()).unwrap();
//! let a = sw.add_port(PortConfig::default()).unwrap();
//! let b = sw.add_port(PortConfig::default()).unwrap();
//! // 02:..:01 -> broadcast, then 02:..:02 -> 02:..:01.
//! let mut f1 = [0u8; 60];
//! f1[..6].copy_from_slice(&[0xff; 6]);
//! f1[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! let mut f2 = [0u8; 60];
//! f2[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! f2[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
//! assert_eq!(sw.decide(Instant::ZERO, a, &f1).verdict, Verdict::Flood(FloodKind::Broadcast));
//! assert_eq!(sw.decide(Instant::ZERO, b, &f2).verdict, Verdict::Unicast(a));
//! ```

use etherparse::Ethernet2HeaderSlice;
use crate::fdb::{key as fdb_key, Fdb, FdbConfig, FdbConfigError, FlushScope, Learned};
use crate::frame::{FrameInfo, ETHERNET_HEADER_LEN, ETHERTYPE_OFFSET, TPID_8021Q, VLAN_TAG_LEN};
use crate::port::{
    DropReason, FrameBatch, Port, PortConfig, PortCounters, PortFlags, PortId, TxError,
};
use crate::time::Instant;
use crate::vlan::VlanMode;
use crate::Vid;
use alloc::vec::Vec;
use core::fmt;

/// The I/G (group) bit of a MAC address held in the low 48 bits of a `u64`.
const GROUP_BIT: u64 = 1 << 40;
/// ff:ff:ff:ff:ff:ff as a `u64`.
const BROADCAST: u64 = 0xffff_ffff_ffff;
/// 01:80:C2:00:00:0X as a `u64`, shifted right by 4 bits.
const LINK_LOCAL_PREFIX: u64 = 0x0018_0c20_0000;

/// The 16-bit mask of IEEE link-local group addresses 01:80:C2:00:00:0X that are
/// forwarded (bit X set) instead of dropped. Bits 0, 1 and 2 (STP, PAUSE, LACP)
/// can never be set, as in the Linux bridge's `group_fwd_mask`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupForwardMask(u16);

impl GroupForwardMask {
    /// Bits that can never be set.
    pub const RESTRICTED: u16 = 0b111;

    /// A mask; fails if any of bits 0-2 is set.
    pub fn new(mask: u16) -> Result<GroupForwardMask, ConfigError> {
        if mask & Self::RESTRICTED != 0 {
            return Err(ConfigError::GroupForwardRestricted(mask));
        }
        Ok(GroupForwardMask(mask))
    }

    /// The mask's bits.
    pub fn bits(self) -> u16 {
        self.0
    }

    /// True if link-local address 01:80:C2:00:00:0X with X = `index` is forwarded.
    pub fn forwards(self, index: u8) -> bool {
        index < 16 && self.0 & (1 << index) != 0
    }
}

/// Configuration of a switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchConfig {
    /// The MAC learning table.
    pub fdb: FdbConfig,
    /// Behave as a repeater hub: every frame to every other port, no learning.
    pub hub: bool,
    /// Use ports' VLAN modes. When false, tags are payload and everything is
    /// learned in VLAN 0.
    pub vlan_aware: bool,
    /// Which IEEE link-local frames are forwarded.
    pub group_forward: GroupForwardMask,
}

/// A configuration or port-management request the switch cannot carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Bad FDB settings.
    Fdb(FdbConfigError),
    /// A group-forward mask with any of bits 0-2 set.
    GroupForwardRestricted(u16),
    /// All 65536 port numbers are taken.
    TooManyPorts,
    /// No port has this number.
    NoSuchPort(PortId),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Fdb(e) => e.fmt(f),
            ConfigError::GroupForwardRestricted(m) => write!(
                f,
                "group-forward mask {m:#06x} sets bit 0, 1 or 2 (STP, PAUSE, LACP), which may never be forwarded"
            ),
            ConfigError::TooManyPorts => f.write_str("the switch already has 65536 ports"),
            ConfigError::NoSuchPort(p) => write!(f, "the switch has no port {p}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

impl From<FdbConfigError> for ConfigError {
    fn from(e: FdbConfigError) -> Self {
        ConfigError::Fdb(e)
    }
}

/// Why a frame is flooded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloodKind {
    /// Broadcast destination.
    Broadcast,
    /// Multicast destination (including forwarded link-local ones).
    Multicast,
    /// Unicast destination not in the table.
    UnknownUnicast,
    /// Hub mode: everything goes everywhere.
    Hub,
}

/// What to do with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Send out of exactly this port.
    Unicast(PortId),
    /// Send out of every port of [`Switch::for_each_flood_port`].
    Flood(FloodKind),
    /// Drop, for this reason.
    Drop(DropReason),
}

/// The decision on one frame: the verdict and what egress needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// The port it came in on.
    pub ingress: PortId,
    /// The frame's VLAN (0 on a VLAN-unaware switch).
    pub vid: Vid,
    /// True if the frame arrived with an outer 802.1Q tag (VLAN-aware switch only).
    pub tagged: bool,
}

/// The state of one port as the switch keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortState {
    /// Its configuration.
    pub config: PortConfig,
    /// Link and administrative state: frames neither enter nor leave a down port.
    pub up: bool,
    /// Its counters.
    pub counters: PortCounters,
}

/// A switch: ports, the FDB and the decision. Pure logic: the caller brings
/// frames and time, and carries out the decisions.
pub struct Switch {
    config: SwitchConfig,
    fdb: Fdb,
    ports: Vec<Option<PortState>>,
    decisions: Vec<Decision>,
    /// (port << 32 | frame index) per delivery of the current batch.
    deliveries: Vec<u64>,
    scratch: Vec<u8>,
}

impl Switch {
    /// A switch with no ports.
    pub fn new(config: SwitchConfig) -> Result<Switch, ConfigError> {
        GroupForwardMask::new(config.group_forward.bits())?;
        Ok(Switch {
            config,
            fdb: Fdb::new(config.fdb)?,
            ports: Vec::new(),
            decisions: Vec::with_capacity(FrameBatch::DEFAULT_SIZE),
            deliveries: Vec::with_capacity(FrameBatch::DEFAULT_SIZE * 4),
            scratch: Vec::with_capacity(2048),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// The MAC table.
    pub fn fdb(&self) -> &Fdb {
        &self.fdb
    }

    /// The MAC table, for static entries and flushes.
    pub fn fdb_mut(&mut self) -> &mut Fdb {
        &mut self.fdb
    }

    /// Adds a port, up, with the lowest free number.
    pub fn add_port(&mut self, config: PortConfig) -> Result<PortId, ConfigError> {
        let state = PortState {
            config,
            up: true,
            counters: PortCounters::default(),
        };
        if let Some(i) = self.ports.iter().position(Option::is_none) {
            self.ports[i] = Some(state);
            return Ok(PortId(i as u16));
        }
        if self.ports.len() > usize::from(u16::MAX) {
            return Err(ConfigError::TooManyPorts);
        }
        self.ports.push(Some(state));
        Ok(PortId((self.ports.len() - 1) as u16))
    }

    /// Removes a port and every FDB entry on it, static ones included.
    pub fn remove_port(&mut self, port: PortId) -> Result<PortState, ConfigError> {
        let state = self
            .ports
            .get_mut(usize::from(port.0))
            .and_then(Option::take)
            .ok_or(ConfigError::NoSuchPort(port))?;
        self.fdb.flush_port(port, FlushScope::All);
        while matches!(self.ports.last(), Some(None)) {
            self.ports.pop();
        }
        Ok(state)
    }

    /// Sets a port up or down. Going down flushes its dynamic entries.
    pub fn set_port_up(&mut self, port: PortId, up: bool) -> Result<(), ConfigError> {
        let state = self.port_mut(port)?;
        let was_up = core::mem::replace(&mut state.up, up);
        if was_up && !up {
            self.fdb.flush_port(port, FlushScope::Dynamic);
        }
        Ok(())
    }

    /// Changes a port's flags.
    pub fn set_port_flags(&mut self, port: PortId, flags: PortFlags) -> Result<(), ConfigError> {
        self.port_mut(port)?.config.flags = flags;
        Ok(())
    }

    /// Changes a port's VLAN mode; its dynamic entries are flushed.
    pub fn set_port_vlan(&mut self, port: PortId, vlan: VlanMode) -> Result<(), ConfigError> {
        self.port_mut(port)?.config.vlan = vlan;
        self.fdb.flush_port(port, FlushScope::Dynamic);
        Ok(())
    }

    fn port_mut(&mut self, port: PortId) -> Result<&mut PortState, ConfigError> {
        self.ports
            .get_mut(usize::from(port.0))
            .and_then(Option::as_mut)
            .ok_or(ConfigError::NoSuchPort(port))
    }

    /// One port's state.
    pub fn port(&self, port: PortId) -> Option<&PortState> {
        self.ports.get(usize::from(port.0)).and_then(Option::as_ref)
    }

    /// Every port, in number order.
    pub fn ports(&self) -> impl Iterator<Item = (PortId, &PortState)> + '_ {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (PortId(i as u16), p)))
    }

    /// Decides what to do with `frame`, received on `ingress` at `now`: counts
    /// it, learns from it and returns the decision. Never panics.
    pub fn decide(&mut self, now: Instant, ingress: PortId, frame: &[u8]) -> Decision {
        if let Some(d) = self.fast_unicast(now, ingress, frame) {
            return d;
        }
        let mut d = Decision {
            verdict: Verdict::Drop(DropReason::IngressDown),
            ingress,
            vid: 0,
            tagged: false,
        };
        let Some(Some(port)) = self.ports.get_mut(usize::from(ingress.0)) else {
            return d; // not a port of this switch: nothing to count on
        };
        port.counters.rx_frames += 1;
        port.counters.rx_bytes += frame.len() as u64;
        d.verdict = self.verdict(now, ingress, frame, &mut d);
        let counters = &mut self.ports[usize::from(ingress.0)]
            .as_mut()
            .expect("checked above")
            .counters;
        match d.verdict {
            Verdict::Unicast(_) => counters.unicast += 1,
            Verdict::Flood(FloodKind::UnknownUnicast) => counters.unknown_unicast += 1,
            Verdict::Flood(_) => counters.flood += 1,
            Verdict::Drop(reason) => counters.count_drop(reason),
        }
        d
    }

    /// The fast path for the commonest frame of a VLAN-unaware switch: known
    /// unicast from a host already learned on its ingress port to a host on
    /// another port that is up. Gives exactly what the general path would; for
    /// any other frame it returns `None` having changed nothing but the table's
    /// time (which the general path advances anyway).
    #[inline(always)]
    fn fast_unicast(&mut self, now: Instant, ingress: PortId, frame: &[u8]) -> Option<Decision> {
        if self.config.vlan_aware || self.config.hub || frame.len() < ETHERNET_HEADER_LEN {
            return None;
        }
        let port = self.ports.get(usize::from(ingress.0))?.as_ref()?;
        if !port.up || !port.config.flags.learning {
            return None;
        }
        let dst = u64::from_be_bytes([0, 0, frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]]);
        let src = u64::from_be_bytes([0, 0, frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]]);
        // Both unicast (so not link-local either), and a valid source.
        if (dst | src) & GROUP_BIT != 0 || src == 0 {
            return None;
        }
        self.fdb.advance(now);
        let out = self.fdb.get_key(fdb_key(0, dst))?;
        if out == ingress || !self.ports.get(usize::from(out.0))?.as_ref()?.up {
            return None;
        }
        if !self.fdb.refresh_if_on(fdb_key(0, src), ingress) {
            return None;
        }
        let counters = &mut self.ports[usize::from(ingress.0)].as_mut()?.counters;
        counters.rx_frames += 1;
        counters.rx_bytes += frame.len() as u64;
        counters.unicast += 1;
        Some(Decision { verdict: Verdict::Unicast(out), ingress, vid: 0, tagged: false })
    }

    #[inline]
    fn verdict(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        d: &mut Decision,
    ) -> Verdict {
        let port = self.ports[usize::from(ingress.0)]
            .as_ref()
            .expect("checked by decide");
        if !port.up {
            return Verdict::Drop(DropReason::IngressDown);
        }
        let Ok(eth) = Ethernet2HeaderSlice::from_slice(frame) else {
            return Verdict::Drop(DropReason::Runt);
        };
        if self.config.hub {
            return Verdict::Flood(FloodKind::Hub);
        }
        // The addresses as 48-bit integers are all a VLAN-unaware switch needs;
        // tags are parsed only on a VLAN-aware one.
        let h = eth.slice();
        let dst = u64::from_be_bytes([0, 0, h[0], h[1], h[2], h[3], h[4], h[5]]);
        let src = u64::from_be_bytes([0, 0, h[6], h[7], h[8], h[9], h[10], h[11]]);
        if src & GROUP_BIT != 0 || src == 0 {
            return Verdict::Drop(DropReason::BadSource);
        }
        if self.config.vlan_aware {
            let Ok(info) = FrameInfo::parse(frame) else {
                return Verdict::Drop(DropReason::Runt);
            };
            if info.truncated_tag && info.tags[0].is_none() && info.ethertype == TPID_8021Q {
                return Verdict::Drop(DropReason::Runt);
            }
            match port.config.vlan.ingress_vid(&info) {
                Some(vid) => d.vid = vid,
                None => return Verdict::Drop(DropReason::VlanIngress),
            }
            d.tagged = info.dot1q_tag().is_some();
        }
        if dst >> 4 == LINK_LOCAL_PREFIX && !self.config.group_forward.forwards((dst & 0xf) as u8) {
            return Verdict::Drop(DropReason::LinkLocal);
        }
        let hairpin = port.config.flags.hairpin;
        if port.config.flags.learning {
            let _: Learned = self.fdb.learn_key(now, fdb_key(d.vid, src), ingress);
        } else {
            self.fdb.advance(now);
        }
        if dst & GROUP_BIT != 0 {
            let kind = if dst == BROADCAST { FloodKind::Broadcast } else { FloodKind::Multicast };
            return Verdict::Flood(kind);
        }
        match self.fdb.get_key(fdb_key(d.vid, dst)) {
            None => Verdict::Flood(FloodKind::UnknownUnicast),
            Some(out) if out == ingress && !hairpin => Verdict::Drop(DropReason::SamePort),
            Some(out) => match self.port(out) {
                Some(p) if !p.up => Verdict::Drop(DropReason::EgressDown),
                Some(p) if self.config.vlan_aware && !p.config.vlan.admits(d.vid) => {
                    Verdict::Drop(DropReason::VlanEgress)
                }
                Some(_) => Verdict::Unicast(out),
                None => Verdict::Drop(DropReason::EgressDown),
            },
        }
    }

    /// Calls `f` for every port a flood of `kind` in VLAN `vid` from `ingress`
    /// goes to: ports that are up, carry the VLAN, have the flood flag for `kind`,
    /// and are not the ingress port (unless it is in hairpin mode, as in Linux).
    /// In hub mode: every other port that is up.
    pub fn for_each_flood_port(
        &self,
        ingress: PortId,
        kind: FloodKind,
        vid: Vid,
        mut f: impl FnMut(PortId),
    ) {
        for (i, p) in self.ports.iter().enumerate() {
            let Some(p) = p else { continue };
            let id = PortId(i as u16);
            if !p.up {
                continue;
            }
            let flags = &p.config.flags;
            let wanted = match kind {
                FloodKind::Hub => id != ingress,
                FloodKind::Broadcast => flags.flood_broadcast,
                FloodKind::Multicast => flags.flood_multicast,
                FloodKind::UnknownUnicast => flags.flood_unknown,
            };
            if !wanted || (id == ingress && !flags.hairpin) {
                continue;
            }
            if kind != FloodKind::Hub && self.config.vlan_aware && !p.config.vlan.admits(vid) {
                continue;
            }
            f(id);
        }
    }

    /// Calls `f` for every port the decision sends the frame to.
    pub fn for_each_egress(&self, d: &Decision, mut f: impl FnMut(PortId)) {
        match d.verdict {
            Verdict::Unicast(p) => f(p),
            Verdict::Flood(kind) => self.for_each_flood_port(d.ingress, kind, d.vid, f),
            Verdict::Drop(_) => {}
        }
    }

    /// The bytes of `frame` as they leave `port`: on a VLAN-aware switch the
    /// 802.1Q tag is pushed, popped or rewritten for the port's mode. Uses
    /// `scratch` only when the frame changes.
    pub fn egress_frame<'a>(
        &self,
        port: PortId,
        d: &Decision,
        frame: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        let Some(p) = self.port(port) else {
            return frame;
        };
        if !self.config.vlan_aware || self.config.hub {
            return frame;
        }
        retag(&p.config.vlan, d, frame, scratch)
    }

    /// Decides a whole batch received on `ingress`, then delivers it grouped by
    /// destination port through `tx`, counting what is sent and what `tx` refuses.
    /// Allocates nothing once its buffers have grown to the working size.
    pub fn forward(
        &mut self,
        now: Instant,
        ingress: PortId,
        batch: &FrameBatch,
        mut tx: impl FnMut(PortId, &[u8]) -> Result<(), TxError>,
    ) {
        let mut decisions = core::mem::take(&mut self.decisions);
        let mut deliveries = core::mem::take(&mut self.deliveries);
        let mut scratch = core::mem::take(&mut self.scratch);
        decisions.clear();
        deliveries.clear();
        for (i, frame) in batch.iter().enumerate() {
            let d = self.decide(now, ingress, frame);
            decisions.push(d);
            self.for_each_egress(&d, |out| deliveries.push(u64::from(out.0) << 32 | i as u64));
        }
        // Grouped by port; the frame index in the low bits keeps each port's
        // frames in arrival order.
        deliveries.sort_unstable();
        for &delivery in &deliveries {
            let (out, i) = (PortId((delivery >> 32) as u16), delivery as u32);
            let frame = batch.get(i as usize);
            let bytes = self.egress_frame(out, &decisions[i as usize], frame, &mut scratch);
            let len = bytes.len() as u64;
            let result = tx(out, bytes);
            if let Some(Some(p)) = self.ports.get_mut(usize::from(out.0)) {
                match result {
                    Ok(()) => {
                        p.counters.tx_frames += 1;
                        p.counters.tx_bytes += len;
                    }
                    Err(e) => p.counters.count_drop(e.into()),
                }
            }
        }
        self.decisions = decisions;
        self.deliveries = deliveries;
        self.scratch = scratch;
    }

    /// The decisions of the last [`Switch::forward`] batch, in frame order.
    pub fn last_decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// One round over a set of ports: port `i` of `ports` is `PortId(i)` of this
    /// switch. Takes link state from each port, receives a batch from each and
    /// forwards it, then flushes every port's queue. Returns the frames received.
    pub fn poll<P: Port>(
        &mut self,
        now: Instant,
        ports: &mut [P],
        batch: &mut FrameBatch,
    ) -> usize {
        let mut received = 0;
        for i in 0..ports.len() {
            let id = PortId(i as u16);
            let link = ports[i].link_up();
            if self.port(id).is_some_and(|p| p.up != link) {
                let _ = self.set_port_up(id, link);
            }
            batch.clear();
            received += ports[i].recv(batch);
            if batch.is_empty() {
                continue;
            }
            self.forward(now, id, batch, |out, frame| {
                match ports.get_mut(usize::from(out.0)) {
                    Some(p) => p.send(frame),
                    None => Err(TxError::Full),
                }
            });
        }
        for p in ports.iter_mut() {
            p.flush();
        }
        received
    }
}

/// Rewrites the outer 802.1Q tag of `frame` for a port in `mode`.
fn retag<'a>(mode: &VlanMode, d: &Decision, frame: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    let want_tag = mode.egress_tagged(d.vid);
    let tag_at = ETHERTYPE_OFFSET;
    match (d.tagged, want_tag) {
        (false, false) => frame,
        (true, true) => {
            let tci = u16::from_be_bytes([frame[tag_at + 2], frame[tag_at + 3]]);
            if tci & 0x0fff == d.vid {
                return frame;
            }
            // Priority-tagged (vid 0) frame: keep its PCP, set the VLAN.
            scratch.clear();
            scratch.extend_from_slice(frame);
            let tci = (tci & 0xf000) | d.vid;
            scratch[tag_at + 2..tag_at + 4].copy_from_slice(&tci.to_be_bytes());
            scratch
        }
        (true, false) => {
            scratch.clear();
            scratch.extend_from_slice(&frame[..tag_at]);
            scratch.extend_from_slice(&frame[tag_at + VLAN_TAG_LEN..]);
            scratch
        }
        (false, true) => {
            scratch.clear();
            scratch.extend_from_slice(&frame[..tag_at]);
            scratch.extend_from_slice(&TPID_8021Q.to_be_bytes());
            scratch.extend_from_slice(&d.vid.to_be_bytes());
            scratch.extend_from_slice(&frame[tag_at..]);
            scratch
        }
    }
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field("config", &self.config)
            .field("ports", &self.ports().count())
            .field("fdb", &self.fdb)
            .finish()
    }
}
