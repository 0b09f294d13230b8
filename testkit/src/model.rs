//! The reference model: a deliberately plain re-statement of the forwarding
//! rules in docs/forwarding.md. A `Vec` of ports, a `Vec` of FDB entries
//! scanned linearly, an "order" stamp for LRU position, plain token buckets and
//! a parser of its own that reads header bytes by offset. It shares no code with
//! the core, so that a mistake has to be made twice to pass unnoticed.

use crate::check::PortView;
use crate::op::{Cfg, Mode, PortSpec, TxFault};
use std::collections::BTreeMap;
use std::time::Duration;
use vswitch_core::fdb::{FdbEntry, FdbStats, FlushScope, Learned};
use vswitch_core::{
    Decision, DropReason, FloodKind, GuardAction, GuardStats, Instant, MacAddr, MacLimit,
    MacLimitAction, MoveGuardConfig, PortCounters, PortFlags, PortId, RemoteId, StormControl,
    Verdict,
};

/// The model's reading of the port modes.
impl Mode {
    /// The VLAN of a frame that arrives with outer 802.1Q vid `tag` (or untagged).
    pub(crate) fn ingress_vid(&self, tag: Option<u16>) -> Option<u16> {
        match self {
            Mode::Access(v) => match tag {
                None | Some(0) => Some(*v),
                Some(_) => None,
            },
            Mode::Trunk { allowed, native } => match tag {
                None | Some(0) => *native,
                Some(t) if allowed.contains(&t) => Some(t),
                Some(_) => None,
            },
        }
    }

    pub(crate) fn admits(&self, vid: u16) -> bool {
        match self {
            Mode::Access(v) => *v == vid,
            Mode::Trunk { allowed, native } => allowed.contains(&vid) || *native == Some(vid),
        }
    }

    pub(crate) fn tagged_out(&self, vid: u16) -> bool {
        match self {
            Mode::Access(_) => false,
            Mode::Trunk { native, .. } => *native != Some(vid),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct MPort {
    pub(crate) flags: PortFlags,
    pub(crate) mode: Mode,
    pub(crate) up: bool,
    pub(crate) counters: PortCounters,
    pub(crate) storm: StormControl,
    pub(crate) mac_limit: Option<MacLimit>,
    /// A tunnel port: hairpin never applies (split horizon).
    pub(crate) tunnel: bool,
    /// The state last asked for; taken again when a shutdown ends.
    pub(crate) link_up: bool,
    pub(crate) shutdown_until: Option<u64>,
    /// Broadcast, multicast, unknown-unicast buckets.
    pub(crate) buckets: [MBucket; 3],
}

/// A token bucket, plainly: thousandths of a frame, the time of the last refill.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MBucket {
    pub(crate) tokens: u64,
    pub(crate) last: Option<u64>,
}

impl MBucket {
    pub(crate) fn take(&mut self, now: u64, rate: u32) -> bool {
        // Holds a tenth of a second of frames, at least one (none at rate 0).
        let cap = if rate == 0 {
            0
        } else {
            (u64::from(rate) * 100).max(1000)
        };
        match self.last {
            None => self.tokens = cap,
            Some(last) if now > last => {
                let add = (now - last).saturating_mul(u64::from(rate));
                self.tokens = (self.tokens.saturating_add(add)).min(cap);
            }
            Some(_) => {}
        }
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
        if self.tokens >= 1000 {
            self.tokens -= 1000;
            true
        } else {
            false
        }
    }
}

/// The move guard's memory of one (vid, MAC).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MMoves {
    pub(crate) window_start: u64,
    pub(crate) moves: u32,
    pub(crate) held_until: u64,
}

pub(crate) fn count_drop(c: &mut PortCounters, reason: DropReason) {
    let i = DropReason::ALL.iter().position(|r| *r == reason).unwrap();
    c.drops[i] += 1;
}

#[derive(Clone, Debug)]
pub(crate) struct MEntry {
    pub(crate) vid: u16,
    pub(crate) mac: [u8; 6],
    pub(crate) port: u16,
    pub(crate) is_static: bool,
    /// The remote endpoint behind a tunnel port.
    pub(crate) remote: Option<u16>,
    pub(crate) seen: u64,
    /// Position in its port's LRU order: larger is newer.
    pub(crate) order: u64,
    /// Frames forwarded to this entry (saturating at `u32::MAX`).
    pub(crate) hits: u32,
    /// The clock in whole seconds when the last of them was.
    pub(crate) used_s: u64,
}

/// The FDB model: a list scanned from end to end.
#[derive(Clone, Debug)]
pub(crate) struct MFdb {
    pub(crate) aging: u64,
    pub(crate) capacity: u64,
    pub(crate) stop_learning: bool,
    /// Whether entries count their hits; without, they list none.
    pub(crate) entry_stats: bool,
    pub(crate) clock: u64,
    pub(crate) stamp: u64,
    pub(crate) entries: Vec<MEntry>,
    pub(crate) learned: u64,
    pub(crate) moved: u64,
    pub(crate) expired: u64,
    pub(crate) evicted: u64,
    pub(crate) refused: u64,
    pub(crate) flushed: u64,
}

impl MFdb {
    pub(crate) fn stats(&self) -> FdbStats {
        let statics = self.entries.iter().filter(|e| e.is_static).count() as u64;
        FdbStats {
            learned: self.learned,
            moved: self.moved,
            expired: self.expired,
            evicted: self.evicted,
            refused: self.refused,
            flushed: self.flushed,
            current: self.entries.len() as u64 - statics,
            statics,
        }
    }

    /// Time moves to `now` (never backwards); dynamic entries as old as the aging
    /// time go.
    pub(crate) fn tick(&mut self, now: u64) {
        self.clock = self.clock.max(now);
        let (clock, aging) = (self.clock, self.aging);
        let before = self.entries.len();
        self.entries
            .retain(|e| e.is_static || clock - e.seen < aging);
        self.expired += (before - self.entries.len()) as u64;
    }

    pub(crate) fn find(&self, vid: u16, mac: [u8; 6]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.vid == vid && e.mac == mac)
    }

    pub(crate) fn next_stamp(&mut self) -> u64 {
        self.stamp += 1;
        self.stamp
    }

    pub(crate) fn learn(&mut self, now: u64, vid: u16, mac: [u8; 6], port: u16) -> Learned {
        self.learn_from(now, vid, mac, port, None)
    }

    /// Learning with the remote endpoint: another remote on the same port
    /// is a move.
    pub(crate) fn learn_from(
        &mut self,
        now: u64,
        vid: u16,
        mac: [u8; 6],
        port: u16,
        remote: Option<u16>,
    ) -> Learned {
        self.tick(now);
        if self.aging == 0 {
            return Learned::Disabled;
        }
        let clock = self.clock;
        if let Some(i) = self.find(vid, mac) {
            if self.entries[i].is_static {
                return Learned::Static;
            }
            if self.entries[i].port == port && self.entries[i].remote == remote {
                if self.entries[i].seen != clock {
                    self.entries[i].seen = clock;
                    self.entries[i].order = self.next_stamp();
                }
                return Learned::Refreshed;
            }
            let from = self.entries[i].port;
            self.entries[i].port = port;
            self.entries[i].remote = remote;
            self.entries[i].seen = clock;
            self.entries[i].order = self.next_stamp();
            self.moved += 1;
            return Learned::Moved(PortId(from));
        }
        let mut evicted = None;
        let dynamic = self.entries.iter().filter(|e| !e.is_static).count() as u64;
        if dynamic >= self.capacity {
            if self.stop_learning {
                self.refused += 1;
                return Learned::Full;
            }
            match self.eviction_victim() {
                Some(i) => {
                    evicted = Some(PortId(self.entries[i].port));
                    self.entries.remove(i);
                    self.evicted += 1;
                }
                None => {
                    self.refused += 1;
                    return Learned::Full;
                }
            }
        }
        let order = self.next_stamp();
        self.entries.push(MEntry {
            vid,
            mac,
            port,
            is_static: false,
            remote,
            seen: clock,
            order,
            hits: 0,
            used_s: 0,
        });
        self.learned += 1;
        match evicted {
            Some(p) => Learned::NewEvicting(p),
            None => Learned::New,
        }
    }

    /// The least recently seen entry of the port with the most dynamic entries;
    /// ties: the port whose oldest entry was seen earlier, then the lower port.
    pub(crate) fn eviction_victim(&self) -> Option<usize> {
        // port -> (dynamic entries, index of its least recently seen entry)
        let mut per_port: BTreeMap<u16, (u64, usize)> = BTreeMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.is_static {
                continue;
            }
            let slot = per_port.entry(e.port).or_insert((0, i));
            slot.0 += 1;
            if e.order < self.entries[slot.1].order {
                slot.1 = i;
            }
        }
        let mut best: Option<(u64, u64, usize)> = None; // (count, oldest seen, index)
        for (_port, (count, oldest)) in per_port {
            let seen = self.entries[oldest].seen;
            let better = match best {
                None => true,
                Some((c, s, _)) => count > c || (count == c && seen < s),
            };
            if better {
                best = Some((count, seen, oldest));
            }
        }
        best.map(|b| b.2)
    }

    pub(crate) fn add_static(&mut self, vid: u16, mac: [u8; 6], port: u16) {
        match self.find(vid, mac) {
            Some(i) => {
                self.entries[i].is_static = true;
                self.entries[i].port = port;
                self.entries[i].remote = None;
            }
            None => self.entries.push(MEntry {
                vid,
                mac,
                port,
                is_static: true,
                remote: None,
                seen: 0,
                order: 0,
                hits: 0,
                used_s: 0,
            }),
        }
    }

    pub(crate) fn remove(&mut self, vid: u16, mac: [u8; 6]) -> bool {
        match self.find(vid, mac) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn flush(&mut self, doomed: impl Fn(&MEntry) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !doomed(e));
        let n = before - self.entries.len();
        self.flushed += n as u64;
        n
    }

    pub(crate) fn flush_port(&mut self, port: u16, scope: FlushScope) -> usize {
        self.flush(|e| e.port == port && (scope == FlushScope::All || !e.is_static))
    }

    pub(crate) fn listing(&self) -> Vec<FdbEntry> {
        let mut v: Vec<FdbEntry> = self
            .entries
            .iter()
            .map(|e| FdbEntry {
                vid: e.vid,
                mac: MacAddr(e.mac),
                port: PortId(e.port),
                is_static: e.is_static,
                age: Duration::from_millis(if e.is_static { 0 } else { self.clock - e.seen }),
                remote: e.remote.map(RemoteId),
                hits: e.hits,
                // The switch counts seconds in 32 bits: 136 years, then again.
                used: (e.hits > 0)
                    .then(|| Duration::from_secs(u64::from((self.clock / 1000 - e.used_s) as u32))),
            })
            .collect();
        v.sort_by_key(|e| (e.vid, e.mac));
        v
    }
}

/// The header fields the model decides on, read by offset.
pub struct MFrame {
    /// Destination.
    pub dst: [u8; 6],
    /// Source.
    pub src: [u8; 6],
    /// TCI of an outer 802.1Q tag whose four bytes are all there.
    dot1q_tci: Option<u16>,
    /// The frame says 802.1Q but is cut off inside the tag.
    dot1q_cut: bool,
}

/// The frame's header, or `None` for a runt.
pub fn parse(b: &[u8]) -> Option<MFrame> {
    if b.len() < 14 {
        return None;
    }
    let ethertype = u16::from_be_bytes([b[12], b[13]]);
    let is_dot1q = ethertype == 0x8100;
    Some(MFrame {
        dst: b[0..6].try_into().unwrap(),
        src: b[6..12].try_into().unwrap(),
        dot1q_tci: (is_dot1q && b.len() >= 18).then(|| u16::from_be_bytes([b[14], b[15]])),
        dot1q_cut: is_dot1q && b.len() < 18,
    })
}

pub(crate) fn is_multicast(m: [u8; 6]) -> bool {
    m[0] & 1 == 1
}

/// The link-local index of PAUSE, 01:80:C2:00:00:01.
pub const PAUSE: u8 = 0x01;

/// The index XX of an IEEE link-local address 01:80:C2:00:00:0X.
pub fn link_local(m: [u8; 6]) -> Option<u8> {
    (m[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && m[5] <= 0x0f).then_some(m[5])
}

/// The reference model of a whole switch: its ports, its table and the move
/// guard's memory.
#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) hub: bool,
    pub(crate) vlan_aware: bool,
    pub(crate) mask: u16,
    pub(crate) ports: Vec<Option<MPort>>,
    pub(crate) fdb: MFdb,
    pub(crate) guard: Option<MoveGuardConfig>,
    pub(crate) moves: BTreeMap<(u16, [u8; 6]), MMoves>,
    pub(crate) guard_stats: GuardStats,
}

impl Model {
    /// The model of a switch built as `cfg` says, with its first ports (some
    /// set down).
    pub fn new(cfg: &Cfg) -> Model {
        let mut m = Model {
            hub: cfg.hub,
            vlan_aware: cfg.vlan_aware,
            mask: cfg.mask,
            ports: Vec::new(),
            fdb: MFdb {
                aging: cfg.aging,
                capacity: u64::from(cfg.capacity),
                stop_learning: cfg.stop_learning,
                entry_stats: cfg.entry_stats,
                clock: 0,
                stamp: 0,
                entries: Vec::new(),
                learned: 0,
                moved: 0,
                expired: 0,
                evicted: 0,
                refused: 0,
                flushed: 0,
            },
            guard: cfg.guard,
            moves: BTreeMap::new(),
            guard_stats: GuardStats::default(),
        };
        for spec in &cfg.ports {
            m.add_port(spec);
        }
        m
    }

    pub(crate) fn port(&self, id: u16) -> Option<&MPort> {
        self.ports.get(usize::from(id)).and_then(Option::as_ref)
    }

    pub(crate) fn port_mut(&mut self, id: u16) -> Option<&mut MPort> {
        self.ports.get_mut(usize::from(id)).and_then(Option::as_mut)
    }

    pub(crate) fn add_port(&mut self, spec: &PortSpec) -> u16 {
        let port = MPort {
            flags: spec.flags,
            mode: spec.mode.clone(),
            up: true,
            counters: PortCounters::default(),
            storm: spec.storm,
            mac_limit: spec.mac_limit,
            tunnel: spec.tunnel,
            link_up: true,
            shutdown_until: None,
            buckets: [MBucket::default(); 3],
        };
        let id = match self.ports.iter().position(Option::is_none) {
            Some(i) => {
                self.ports[i] = Some(port);
                i as u16
            }
            None => {
                self.ports.push(Some(port));
                (self.ports.len() - 1) as u16
            }
        };
        if !spec.up {
            self.set_up(id, false);
        }
        id
    }

    pub(crate) fn remove_port(&mut self, id: u16) -> Option<MPort> {
        let port = self.ports.get_mut(usize::from(id))?.take()?;
        self.fdb.flush_port(id, FlushScope::All);
        while let Some(None) = self.ports.last() {
            self.ports.pop();
        }
        Some(port)
    }

    pub(crate) fn set_up(&mut self, id: u16, up: bool) -> bool {
        let Some(p) = self.port_mut(id) else {
            return false;
        };
        let was_up = p.up;
        p.link_up = up;
        p.up = up && p.shutdown_until.is_none();
        if was_up && !p.up {
            self.fdb.flush_port(id, FlushScope::Dynamic);
        }
        true
    }

    /// Ports as the switch shows them.
    pub(crate) fn port_views(&self) -> Vec<PortView> {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let p = p.as_ref()?;
                Some((
                    i as u16,
                    p.up,
                    p.flags,
                    p.mode.to_real(),
                    p.counters,
                    p.shutdown_until.map(Instant::from_millis),
                ))
            })
            .collect()
    }

    /// Decides, counts and learns as the switch's `decide` does.
    pub fn decide(&mut self, now: u64, ingress: u16, frame: &[u8]) -> Decision {
        self.decide_from(now, ingress, None, frame)
    }

    /// Decides as [`Model::decide`] a frame a tunnel port received from `remote`.
    pub fn decide_from(
        &mut self,
        now: u64,
        ingress: u16,
        remote: Option<u16>,
        frame: &[u8],
    ) -> Decision {
        // Shutdowns that are over end before anything else.
        let t = now.max(self.fdb.clock);
        for p in self.ports.iter_mut().flatten() {
            if p.shutdown_until.is_some_and(|until| until <= t) {
                p.shutdown_until = None;
                p.up = p.link_up;
            }
        }
        let mut d = Decision {
            verdict: Verdict::Drop(DropReason::IngressDown),
            ingress: PortId(ingress),
            vid: 0,
            tagged: false,
            remote: None,
        };
        let Some(port) = self.port_mut(ingress) else {
            return d;
        };
        port.counters.rx_frames += 1;
        port.counters.rx_bytes += frame.len() as u64;
        d.verdict = self.verdict(now, ingress, remote, frame, &mut d);
        let c = &mut self.port_mut(ingress).unwrap().counters;
        match d.verdict {
            Verdict::Unicast(_) => c.unicast += 1,
            Verdict::Flood(FloodKind::UnknownUnicast) => c.unknown_unicast += 1,
            Verdict::Flood(_) => c.flood += 1,
            Verdict::Group(_) => c.snooped += 1,
            Verdict::Drop(reason) => count_drop(c, reason),
        }
        d
    }

    pub(crate) fn verdict(
        &mut self,
        now: u64,
        ingress: u16,
        remote: Option<u16>,
        frame: &[u8],
        d: &mut Decision,
    ) -> Verdict {
        let port = self.port(ingress).unwrap().clone();
        if !port.up {
            return Verdict::Drop(DropReason::IngressDown);
        }
        let Some(f) = parse(frame) else {
            return Verdict::Drop(DropReason::Runt);
        };
        if self.hub {
            return Verdict::Flood(FloodKind::Hub);
        }
        if is_multicast(f.src) || f.src == [0; 6] {
            return Verdict::Drop(DropReason::BadSource);
        }
        if self.vlan_aware {
            if f.dot1q_cut {
                return Verdict::Drop(DropReason::Runt);
            }
            match port.mode.ingress_vid(f.dot1q_tci.map(|tci| tci & 0x0fff)) {
                Some(vid) => d.vid = vid,
                None => return Verdict::Drop(DropReason::VlanIngress),
            }
            d.tagged = f.dot1q_tci.is_some();
        }
        // Link-local: PAUSE teaches nothing; the others teach their source,
        // then go unless the mask forwards them.
        let filtered = link_local(f.dst).is_some_and(|x| self.mask & (1 << x) == 0);
        if link_local(f.dst) == Some(PAUSE) {
            return Verdict::Drop(DropReason::LinkLocal);
        }
        if port.flags.learning {
            if let Some(reason) = self.learn(now, ingress, remote, d.vid, f.src, port.mac_limit) {
                return Verdict::Drop(reason);
            }
        } else {
            self.fdb.tick(now);
        }
        if filtered {
            return Verdict::Drop(DropReason::LinkLocal);
        }
        if f.dst == [0xff; 6] {
            return self.flood(ingress, FloodKind::Broadcast);
        }
        if is_multicast(f.dst) {
            return self.flood(ingress, FloodKind::Multicast);
        }
        let Some(i) = self.fdb.find(d.vid, f.dst) else {
            return self.flood(ingress, FloodKind::UnknownUnicast);
        };
        let out = self.fdb.entries[i].port;
        let to = self.fdb.entries[i].remote;
        if out == ingress && (port.tunnel || !port.flags.hairpin) {
            return Verdict::Drop(DropReason::SamePort);
        }
        match self.port(out) {
            None => Verdict::Drop(DropReason::EgressDown),
            Some(p) if !p.up => Verdict::Drop(DropReason::EgressDown),
            Some(p) if self.vlan_aware && !p.mode.admits(d.vid) => {
                Verdict::Drop(DropReason::VlanEgress)
            }
            Some(_) => {
                // Counted as a hit of the destination's entry, when entries
                // count them.
                if self.fdb.entry_stats {
                    let clock_s = self.fdb.clock / 1000;
                    let e = &mut self.fdb.entries[i];
                    e.hits = e.hits.saturating_add(1);
                    e.used_s = clock_s;
                }
                d.remote = to.map(RemoteId);
                Verdict::Unicast(PortId(out))
            }
        }
    }

    /// Learning of `src` on `ingress`, with the port's MAC limit and the move
    /// guard: a MAC new to a full port is not learned (and dropped in `drop`
    /// mode); a move of a dynamic entry is counted per (vid, MAC) in windows,
    /// and one more than allowed holds the MAC down or shuts the port down.
    pub(crate) fn learn(
        &mut self,
        now: u64,
        ingress: u16,
        remote: Option<u16>,
        vid: u16,
        src: [u8; 6],
        limit: Option<MacLimit>,
    ) -> Option<DropReason> {
        self.fdb.tick(now);
        let t = self.fdb.clock;
        let current = self
            .fdb
            .find(vid, src)
            .map(|i| (self.fdb.entries[i].port, self.fdb.entries[i].is_static));
        let new_here = match current {
            None => self.fdb.aging != 0,
            Some((port, is_static)) => !is_static && port != ingress,
        };
        if let (true, Some(limit)) = (new_here, limit) {
            let on_port = self
                .fdb
                .entries
                .iter()
                .filter(|e| !e.is_static && e.port == ingress)
                .count();
            if on_port >= limit.max as usize {
                self.guard_stats.mac_limit_refused += 1;
                self.port_mut(ingress).unwrap().counters.mac_limit_refused += 1;
                return match limit.action {
                    MacLimitAction::NoLearn => None,
                    MacLimitAction::Drop => Some(DropReason::MacLimit),
                };
            }
        }
        if let (Some(g), Some((from, false))) = (self.guard, current) {
            if from != ingress {
                let h = self.moves.entry((vid, src)).or_default();
                if t < h.held_until {
                    self.guard_stats.moves_blocked += 1;
                    self.port_mut(ingress).unwrap().counters.moves_blocked += 1;
                    return None;
                }
                let window = g.window.as_millis() as u64;
                if h.moves == 0 || t - h.window_start.min(t) >= window {
                    h.window_start = t;
                    h.moves = 0;
                }
                h.moves += 1;
                if h.moves > g.moves {
                    h.moves = 0;
                    let until = t.saturating_add(g.hold.as_millis() as u64);
                    match g.action {
                        GuardAction::HoldDown => {
                            h.held_until = until;
                            self.guard_stats.hold_downs += 1;
                            self.guard_stats.moves_blocked += 1;
                            let c = &mut self.port_mut(ingress).unwrap().counters;
                            c.hold_downs += 1;
                            c.moves_blocked += 1;
                            return None;
                        }
                        GuardAction::Shutdown => {
                            self.guard_stats.shutdowns += 1;
                            let p = self.port_mut(ingress).unwrap();
                            p.counters.guard_shutdowns += 1;
                            p.shutdown_until = Some(until);
                            let was_up = std::mem::replace(&mut p.up, false);
                            if was_up {
                                self.fdb.flush_port(ingress, FlushScope::Dynamic);
                            }
                            return Some(DropReason::MoveGuard);
                        }
                    }
                }
            }
        }
        let _: Learned = self.fdb.learn_from(now, vid, src, ingress, remote);
        None
    }

    /// A flood, unless the ingress port's bucket for the kind is empty.
    pub(crate) fn flood(&mut self, ingress: u16, kind: FloodKind) -> Verdict {
        let t = self.fdb.clock;
        let p = self.port_mut(ingress).unwrap();
        let (rate, i) = match kind {
            FloodKind::Broadcast => (p.storm.broadcast, 0),
            FloodKind::Multicast => (p.storm.multicast, 1),
            FloodKind::UnknownUnicast => (p.storm.unknown_unicast, 2),
            FloodKind::Hub => (None, 0),
        };
        match rate {
            Some(rate) if !p.buckets[i].take(t, rate) => Verdict::Drop(DropReason::Storm),
            _ => Verdict::Flood(kind),
        }
    }

    /// The ports a decision sends the frame to, as `for_each_egress` lists them.
    pub fn egress(&self, d: &Decision) -> Vec<PortId> {
        let kind = match d.verdict {
            Verdict::Unicast(p) => return vec![p],
            // The model's switch does not snoop (core/tests/mcast_model.rs
            // models snooping): nothing goes to a group.
            Verdict::Drop(_) | Verdict::Group(_) => return vec![],
            Verdict::Flood(kind) => kind,
        };
        let mut out = Vec::new();
        for (i, p) in self.ports.iter().enumerate() {
            let Some(p) = p else { continue };
            let id = i as u16;
            let wanted = match kind {
                FloodKind::Hub => id != d.ingress.0,
                FloodKind::Broadcast => p.flags.flood_broadcast,
                FloodKind::Multicast => p.flags.flood_multicast,
                FloodKind::UnknownUnicast => p.flags.flood_unknown,
            };
            let back_out = id == d.ingress.0 && (p.tunnel || !p.flags.hairpin);
            let vlan_ok = kind == FloodKind::Hub || !self.vlan_aware || p.mode.admits(d.vid);
            if p.up && wanted && !back_out && vlan_ok {
                out.push(PortId(id));
            }
        }
        out
    }

    /// The bytes that leave port `out`: the outer 802.1Q tag as the port's mode
    /// wants it, keeping the priority bits of a tag that came in.
    pub(crate) fn egress_bytes(&self, out: PortId, d: &Decision, frame: &[u8]) -> Vec<u8> {
        if !self.vlan_aware || self.hub {
            return frame.to_vec();
        }
        let mode = &self.port(out.0).unwrap().mode;
        let (priority, rest) = if d.tagged {
            (
                u16::from_be_bytes([frame[14], frame[15]]) & 0xf000,
                &frame[16..],
            )
        } else {
            (0, &frame[12..])
        };
        let mut bytes = frame[..12].to_vec();
        if mode.tagged_out(d.vid) {
            bytes.extend_from_slice(&[0x81, 0x00]);
            bytes.extend_from_slice(&(priority | d.vid).to_be_bytes());
        }
        bytes.extend_from_slice(rest);
        bytes
    }

    /// A batch: decide every frame, then deliver grouped by port (ascending),
    /// frames in order within a port. A port down by then (the move guard
    /// shut it down on a later frame of the batch) gets nothing: the frame is
    /// a `tx-down` drop on it.
    pub fn forward(
        &mut self,
        now: u64,
        ingress: u16,
        frames: &[Vec<u8>],
        fault: TxFault,
    ) -> (Vec<Decision>, Vec<(PortId, Vec<u8>)>) {
        let mut decisions = Vec::new();
        let mut deliveries = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let d = self.decide(now, ingress, frame);
            decisions.push(d);
            for out in self.egress(&d) {
                deliveries.push((out, i));
            }
        }
        deliveries.sort_by_key(|&(out, _)| out);
        let mut sent = Vec::new();
        for (out, i) in deliveries {
            let p = self.port_mut(out.0).unwrap();
            if !p.up {
                count_drop(&mut p.counters, DropReason::TxDown);
                continue;
            }
            let bytes = self.egress_bytes(out, &decisions[i], &frames[i]);
            let result = fault.result(out, &bytes);
            let c = &mut self.port_mut(out.0).unwrap().counters;
            match result {
                Ok(()) => {
                    c.tx_frames += 1;
                    c.tx_bytes += bytes.len() as u64;
                }
                Err(e) => count_drop(c, DropReason::from(e)),
            }
            sent.push((out, bytes));
        }
        (decisions, sent)
    }
}
