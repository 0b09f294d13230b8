//! The switch against a reference model.
//!
//! `Model` is a deliberately plain re-statement of the forwarding semantics in
//! docs/forwarding.md: a `Vec` of ports, a `Vec` of FDB entries scanned
//! linearly, an "order" stamp for LRU position, and a parser of its own that
//! reads header bytes by offset. Random sequences of operations run through both the real `Switch` and
//! the model; after every step the decisions, egress sets, counters, FDB totals and
//! FDB contents must be equal.
//!
//! Further properties check invariants on the real switch alone (so that they hold
//! even where the model might share a mistake with the code) and that
//! `Switch::forward` agrees with `Switch::decide` frame by frame, with egress VLAN
//! tags rewritten as each port's mode asks.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vswitch_core::fdb::{EvictionPolicy, FdbConfig, FdbEntry, FdbStats, FlushScope, Learned};
use vswitch_core::{
    ConfigError, Decision, DropReason, FloodKind, FrameBatch, GroupForwardMask, GuardAction,
    GuardStats, Instant, MacAddr, MacLimit, MacLimitAction, MoveGuardConfig, PortConfig,
    PortCounters, PortFlags, PortId, StormControl, Switch, SwitchConfig, TxError, Verdict,
    VlanMode, VlanSet,
};

/// Number of unicast hosts in the MAC pool: few, so that lookups hit.
const HOSTS: u8 = 8;
/// Port numbers used by operations: some of them never exist.
const PORT_RANGE: u16 = 7;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

// ---------------------------------------------------------------------------
// Frames as the generator describes them
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Addr {
    Host(u8),
    Broadcast,
    Multicast(u8),
    /// 01:80:C2:00:00:XX with XX in 0..=0x10 (0x10 is not link-local).
    LinkLocal(u8),
    Zero,
}

impl Addr {
    fn bytes(self) -> [u8; 6] {
        match self {
            Addr::Host(i) => host(i),
            Addr::Broadcast => [0xff; 6],
            Addr::Multicast(0) => [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
            Addr::Multicast(1) => [0x33, 0x33, 0x00, 0x00, 0x00, 0x01],
            Addr::Multicast(_) => [0x03, 0x00, 0x00, 0x00, 0x00, 0x07],
            Addr::LinkLocal(x) => [0x01, 0x80, 0xc2, 0x00, 0x00, x],
            Addr::Zero => [0; 6],
        }
    }
}

fn host(i: u8) -> [u8; 6] {
    [0x02, 0x00, 0x00, 0x00, 0x00, i + 1]
}

#[derive(Clone, Copy, Debug)]
enum Tags {
    None,
    Dot1q {
        pcp: u8,
        dei: bool,
        vid: u16,
    },
    Dot1ad {
        outer: u16,
        inner: Option<u16>,
    },
    Old9100(u16),
    /// The TPID and then only `keep` (0..=3) of the tag's four bytes.
    Truncated {
        tpid: u16,
        keep: u8,
    },
}

#[derive(Clone, Copy, Debug)]
struct FrameSpec {
    dst: Addr,
    src: Addr,
    tags: Tags,
    payload: u8,
    /// Cut the frame to this many bytes (a runt when below 14).
    cut: Option<u8>,
}

impl FrameSpec {
    fn bytes(&self) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&self.dst.bytes());
        f.extend_from_slice(&self.src.bytes());
        let push_tag = |f: &mut Vec<u8>, tpid: u16, tci: u16| {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        };
        match self.tags {
            Tags::None => {}
            Tags::Dot1q { pcp, dei, vid } => push_tag(
                &mut f,
                0x8100,
                (u16::from(pcp) << 13) | (u16::from(dei) << 12) | vid,
            ),
            Tags::Dot1ad { outer, inner } => {
                push_tag(&mut f, 0x88a8, outer);
                if let Some(inner) = inner {
                    push_tag(&mut f, 0x8100, inner);
                }
            }
            Tags::Old9100(vid) => push_tag(&mut f, 0x9100, vid),
            Tags::Truncated { tpid, keep } => {
                f.extend_from_slice(&tpid.to_be_bytes());
                f.extend_from_slice(&[0x00, 0x0a, 0x08][..usize::from(keep)]);
                return f;
            }
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend((0..self.payload).map(|i| i.wrapping_mul(37)));
        if let Some(cut) = self.cut {
            f.truncate(usize::from(cut));
        }
        f
    }
}

// ---------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------

/// A port's VLAN mode as the model keeps it.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Access(u16),
    Trunk {
        allowed: Vec<u16>,
        native: Option<u16>,
    },
}

impl Mode {
    fn to_real(&self) -> VlanMode {
        match self {
            Mode::Access(v) => VlanMode::Access(*v),
            Mode::Trunk { allowed, native } => VlanMode::Trunk {
                allowed: allowed.iter().copied().collect::<VlanSet>(),
                native: *native,
            },
        }
    }

    /// The VLAN of a frame that arrives with outer 802.1Q vid `tag` (or untagged).
    fn ingress_vid(&self, tag: Option<u16>) -> Option<u16> {
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

    fn admits(&self, vid: u16) -> bool {
        match self {
            Mode::Access(v) => *v == vid,
            Mode::Trunk { allowed, native } => allowed.contains(&vid) || *native == Some(vid),
        }
    }

    fn tagged_out(&self, vid: u16) -> bool {
        match self {
            Mode::Access(_) => false,
            Mode::Trunk { native, .. } => *native != Some(vid),
        }
    }
}

#[derive(Clone, Debug)]
struct PortSpec {
    flags: PortFlags,
    mode: Mode,
    up: bool,
    storm: StormControl,
    mac_limit: Option<MacLimit>,
}

#[derive(Clone, Debug)]
struct MPort {
    flags: PortFlags,
    mode: Mode,
    up: bool,
    counters: PortCounters,
    storm: StormControl,
    mac_limit: Option<MacLimit>,
    /// The state last asked for; taken again when a shutdown ends.
    link_up: bool,
    shutdown_until: Option<u64>,
    /// Broadcast, multicast, unknown-unicast buckets.
    buckets: [MBucket; 3],
}

/// A token bucket, plainly: thousandths of a frame, the time of the last refill.
#[derive(Clone, Copy, Debug, Default)]
struct MBucket {
    tokens: u64,
    last: Option<u64>,
}

impl MBucket {
    fn take(&mut self, now: u64, rate: u32) -> bool {
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
struct MMoves {
    window_start: u64,
    moves: u32,
    held_until: u64,
}

fn count_drop(c: &mut PortCounters, reason: DropReason) {
    let i = DropReason::ALL.iter().position(|r| *r == reason).unwrap();
    c.drops[i] += 1;
}

#[derive(Clone, Debug)]
struct MEntry {
    vid: u16,
    mac: [u8; 6],
    port: u16,
    is_static: bool,
    seen: u64,
    /// Position in its port's LRU order: larger is newer.
    order: u64,
}

/// The FDB model: a list scanned from end to end.
#[derive(Clone, Debug)]
struct MFdb {
    aging: u64,
    capacity: u64,
    stop_learning: bool,
    clock: u64,
    stamp: u64,
    entries: Vec<MEntry>,
    learned: u64,
    moved: u64,
    expired: u64,
    evicted: u64,
    refused: u64,
    flushed: u64,
}

impl MFdb {
    fn stats(&self) -> FdbStats {
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
    fn tick(&mut self, now: u64) {
        self.clock = self.clock.max(now);
        let (clock, aging) = (self.clock, self.aging);
        let before = self.entries.len();
        self.entries
            .retain(|e| e.is_static || clock - e.seen < aging);
        self.expired += (before - self.entries.len()) as u64;
    }

    fn find(&self, vid: u16, mac: [u8; 6]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.vid == vid && e.mac == mac)
    }

    fn next_stamp(&mut self) -> u64 {
        self.stamp += 1;
        self.stamp
    }

    fn learn(&mut self, now: u64, vid: u16, mac: [u8; 6], port: u16) -> Learned {
        self.tick(now);
        if self.aging == 0 {
            return Learned::Disabled;
        }
        let clock = self.clock;
        if let Some(i) = self.find(vid, mac) {
            if self.entries[i].is_static {
                return Learned::Static;
            }
            if self.entries[i].port == port {
                if self.entries[i].seen != clock {
                    self.entries[i].seen = clock;
                    self.entries[i].order = self.next_stamp();
                }
                return Learned::Refreshed;
            }
            let from = self.entries[i].port;
            self.entries[i].port = port;
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
            seen: clock,
            order,
        });
        self.learned += 1;
        match evicted {
            Some(p) => Learned::NewEvicting(p),
            None => Learned::New,
        }
    }

    /// The least recently seen entry of the port with the most dynamic entries;
    /// ties: the port whose oldest entry was seen earlier, then the lower port.
    fn eviction_victim(&self) -> Option<usize> {
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

    fn add_static(&mut self, vid: u16, mac: [u8; 6], port: u16) {
        match self.find(vid, mac) {
            Some(i) => {
                self.entries[i].is_static = true;
                self.entries[i].port = port;
            }
            None => self.entries.push(MEntry {
                vid,
                mac,
                port,
                is_static: true,
                seen: 0,
                order: 0,
            }),
        }
    }

    fn remove(&mut self, vid: u16, mac: [u8; 6]) -> bool {
        match self.find(vid, mac) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    fn flush(&mut self, doomed: impl Fn(&MEntry) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !doomed(e));
        let n = before - self.entries.len();
        self.flushed += n as u64;
        n
    }

    fn flush_port(&mut self, port: u16, scope: FlushScope) -> usize {
        self.flush(|e| e.port == port && (scope == FlushScope::All || !e.is_static))
    }

    fn listing(&self) -> Vec<FdbEntry> {
        let mut v: Vec<FdbEntry> = self
            .entries
            .iter()
            .map(|e| FdbEntry {
                vid: e.vid,
                mac: MacAddr(e.mac),
                port: PortId(e.port),
                is_static: e.is_static,
                age: Duration::from_millis(if e.is_static { 0 } else { self.clock - e.seen }),
            })
            .collect();
        v.sort_by_key(|e| (e.vid, e.mac));
        v
    }
}

/// The header fields the model decides on, read by offset.
struct MFrame {
    dst: [u8; 6],
    src: [u8; 6],
    /// TCI of an outer 802.1Q tag whose four bytes are all there.
    dot1q_tci: Option<u16>,
    /// The frame says 802.1Q but is cut off inside the tag.
    dot1q_cut: bool,
}

fn parse(b: &[u8]) -> Option<MFrame> {
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

fn is_multicast(m: [u8; 6]) -> bool {
    m[0] & 1 == 1
}

/// The link-local index of PAUSE, 01:80:C2:00:00:01.
const PAUSE: u8 = 0x01;

fn link_local(m: [u8; 6]) -> Option<u8> {
    (m[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && m[5] <= 0x0f).then_some(m[5])
}

#[derive(Clone, Copy, Debug)]
struct TxFault {
    /// Frames longer than this are refused as too big.
    mtu: usize,
    /// Ports (bit = port number) whose queue is full.
    full: u16,
}

impl TxFault {
    const NONE: TxFault = TxFault {
        mtu: usize::MAX,
        full: 0,
    };

    fn result(&self, port: PortId, bytes: &[u8]) -> Result<(), TxError> {
        if bytes.len() > self.mtu {
            Err(TxError::TooBig)
        } else if port.0 < 16 && self.full & (1 << port.0) != 0 {
            Err(TxError::Full)
        } else {
            Ok(())
        }
    }
}

#[derive(Clone, Debug)]
struct Model {
    hub: bool,
    vlan_aware: bool,
    mask: u16,
    ports: Vec<Option<MPort>>,
    fdb: MFdb,
    guard: Option<MoveGuardConfig>,
    moves: BTreeMap<(u16, [u8; 6]), MMoves>,
    guard_stats: GuardStats,
}

impl Model {
    fn port(&self, id: u16) -> Option<&MPort> {
        self.ports.get(usize::from(id)).and_then(Option::as_ref)
    }

    fn port_mut(&mut self, id: u16) -> Option<&mut MPort> {
        self.ports.get_mut(usize::from(id)).and_then(Option::as_mut)
    }

    fn add_port(&mut self, spec: &PortSpec) -> u16 {
        let port = MPort {
            flags: spec.flags,
            mode: spec.mode.clone(),
            up: true,
            counters: PortCounters::default(),
            storm: spec.storm,
            mac_limit: spec.mac_limit,
            link_up: true,
            shutdown_until: None,
            buckets: [MBucket::default(); 3],
        };
        for (i, slot) in self.ports.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = Some(port);
                return i as u16;
            }
        }
        self.ports.push(Some(port));
        (self.ports.len() - 1) as u16
    }

    fn remove_port(&mut self, id: u16) -> Option<MPort> {
        let port = self.ports.get_mut(usize::from(id))?.take()?;
        self.fdb.flush_port(id, FlushScope::All);
        while let Some(None) = self.ports.last() {
            self.ports.pop();
        }
        Some(port)
    }

    fn set_up(&mut self, id: u16, up: bool) -> bool {
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

    fn decide(&mut self, now: u64, ingress: u16, frame: &[u8]) -> Decision {
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
        };
        let Some(port) = self.port_mut(ingress) else {
            return d;
        };
        port.counters.rx_frames += 1;
        port.counters.rx_bytes += frame.len() as u64;
        d.verdict = self.verdict(now, ingress, frame, &mut d);
        let c = &mut self.port_mut(ingress).unwrap().counters;
        match d.verdict {
            Verdict::Unicast(_) => c.unicast += 1,
            Verdict::Flood(FloodKind::UnknownUnicast) => c.unknown_unicast += 1,
            Verdict::Flood(_) => c.flood += 1,
            Verdict::Drop(reason) => count_drop(c, reason),
        }
        d
    }

    fn verdict(&mut self, now: u64, ingress: u16, frame: &[u8], d: &mut Decision) -> Verdict {
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
            if let Some(reason) = self.learn(now, ingress, d.vid, f.src, port.mac_limit) {
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
        if out == ingress && !port.flags.hairpin {
            return Verdict::Drop(DropReason::SamePort);
        }
        match self.port(out) {
            None => Verdict::Drop(DropReason::EgressDown),
            Some(p) if !p.up => Verdict::Drop(DropReason::EgressDown),
            Some(p) if self.vlan_aware && !p.mode.admits(d.vid) => {
                Verdict::Drop(DropReason::VlanEgress)
            }
            Some(_) => Verdict::Unicast(PortId(out)),
        }
    }

    /// Learning of `src` on `ingress`, with the port's MAC limit and the move
    /// guard: a MAC new to a full port is not learned (and dropped in `drop`
    /// mode); a move of a dynamic entry is counted per (vid, MAC) in windows,
    /// and one more than allowed holds the MAC down or shuts the port down.
    fn learn(
        &mut self,
        now: u64,
        ingress: u16,
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
        let _: Learned = self.fdb.learn(now, vid, src, ingress);
        None
    }

    /// A flood, unless the ingress port's bucket for the kind is empty.
    fn flood(&mut self, ingress: u16, kind: FloodKind) -> Verdict {
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

    fn egress(&self, d: &Decision) -> Vec<PortId> {
        let kind = match d.verdict {
            Verdict::Unicast(p) => return vec![p],
            Verdict::Drop(_) => return vec![],
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
            let back_out = id == d.ingress.0 && !p.flags.hairpin;
            let vlan_ok = kind == FloodKind::Hub || !self.vlan_aware || p.mode.admits(d.vid);
            if p.up && wanted && !back_out && vlan_ok {
                out.push(PortId(id));
            }
        }
        out
    }

    /// The bytes that leave port `out`: the outer 802.1Q tag as the port's mode
    /// wants it, keeping the priority bits of a tag that came in.
    fn egress_bytes(&self, out: PortId, d: &Decision, frame: &[u8]) -> Vec<u8> {
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
    /// frames in order within a port.
    fn forward(
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
            let bytes = self.egress_bytes(out, &decisions[i], &frames[i]);
            let result = fault.result(out, &bytes);
            let c = &mut self.port_mut(out.0).unwrap().counters;
            match result {
                Ok(()) => {
                    c.tx_frames += 1;
                    c.tx_bytes += bytes.len() as u64;
                }
                Err(TxError::TooBig) => count_drop(c, DropReason::TooBig),
                Err(TxError::Full) => count_drop(c, DropReason::TxFull),
            }
            sent.push((out, bytes));
        }
        (decisions, sent)
    }
}

// ---------------------------------------------------------------------------
// Configurations and operations
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Cfg {
    hub: bool,
    vlan_aware: bool,
    aging: u64,
    capacity: u32,
    stop_learning: bool,
    mask: u16,
    seed: u64,
    start: u64,
    ports: Vec<PortSpec>,
    guard: Option<MoveGuardConfig>,
}

#[derive(Clone, Copy, Debug)]
enum TimeStep {
    Forward(u64),
    /// Forward by the aging time plus -1, 0 or 1 ms.
    Aging(i8),
    Back(u64),
    /// To the end of time, or nearly.
    End(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Frame(u16, FrameSpec),
    Batch(u16, Vec<FrameSpec>, TxFault),
    Time(TimeStep),
    Sweep,
    Lookup(u16, u8),
    /// `Fdb::learn` called directly, as an adapter might.
    Learn(u16, u8, u16),
    SetUp(u16, bool),
    AddPort(PortSpec),
    RemovePort(u16),
    SetFlags(u16, PortFlags),
    SetVlan(u16, Mode),
    AddStatic(u16, u8, u16),
    Remove(u16, u8),
    FlushPort(u16, bool),
    FlushVlan(u16),
    FlushAll(bool),
}

fn addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        14 => (0..HOSTS).prop_map(Addr::Host),
        2 => Just(Addr::Broadcast),
        2 => (0..3u8).prop_map(Addr::Multicast),
        2 => (0..=0x10u8).prop_map(Addr::LinkLocal),
        1 => Just(Addr::Zero),
    ]
}

fn tag_vid() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![0u16, 1, 10, 20, 30, 4095])
}

fn fdb_vid() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![0u16, 0, 1, 10, 20])
}

fn tags() -> impl Strategy<Value = Tags> {
    prop_oneof![
        6 => Just(Tags::None),
        6 => (0..8u8, prop::bool::weighted(0.1), tag_vid())
            .prop_map(|(pcp, dei, vid)| Tags::Dot1q { pcp, dei, vid }),
        2 => (tag_vid(), prop::option::of(tag_vid()))
            .prop_map(|(outer, inner)| Tags::Dot1ad { outer, inner }),
        1 => tag_vid().prop_map(Tags::Old9100),
        2 => (prop::sample::select(vec![0x8100u16, 0x88a8]), 0..4u8)
            .prop_map(|(tpid, keep)| Tags::Truncated { tpid, keep }),
    ]
}

fn frame() -> impl Strategy<Value = FrameSpec> {
    (
        addr(),
        addr(),
        tags(),
        0..48u8,
        prop_oneof![12 => Just(None), 1 => (0..14u8).prop_map(Some)],
    )
        .prop_map(|(dst, src, tags, payload, cut)| FrameSpec {
            dst,
            src,
            tags,
            payload,
            cut,
        })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        prop::sample::select(vec![1u16, 10, 20]).prop_map(Mode::Access),
        (
            prop::sample::subsequence(vec![1u16, 10, 20, 30], 0..=4),
            prop::option::of(prop::sample::select(vec![1u16, 10])),
        )
            .prop_map(|(allowed, native)| Mode::Trunk { allowed, native }),
    ]
}

fn flags() -> impl Strategy<Value = PortFlags> {
    (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(learning, unknown, multicast, broadcast, hairpin)| PortFlags {
                learning,
                flood_unknown: unknown,
                flood_multicast: multicast,
                flood_broadcast: broadcast,
                hairpin,
            },
        )
}

fn storm_rate() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        5 => Just(None),
        1 => prop::sample::select(vec![0u32, 1, 3, 10, 100, 1000, u32::MAX]).prop_map(Some),
    ]
}

fn mac_limit() -> impl Strategy<Value = Option<MacLimit>> {
    prop_oneof![
        4 => Just(None),
        1 => (0..4u32, any::<bool>()).prop_map(|(max, drop)| Some(MacLimit {
            max,
            action: if drop { MacLimitAction::Drop } else { MacLimitAction::NoLearn },
        })),
    ]
}

fn port_spec() -> impl Strategy<Value = PortSpec> {
    (
        flags(),
        mode(),
        prop::bool::weighted(0.9),
        (storm_rate(), storm_rate(), storm_rate()),
        mac_limit(),
    )
        .prop_map(
            |(flags, mode, up, (broadcast, multicast, unknown_unicast), mac_limit)| PortSpec {
                flags,
                mode,
                up,
                storm: StormControl {
                    broadcast,
                    multicast,
                    unknown_unicast,
                },
                mac_limit,
            },
        )
}

fn move_guard() -> impl Strategy<Value = Option<MoveGuardConfig>> {
    let ms = |v: Vec<u64>| prop::sample::select(v).prop_map(Duration::from_millis);
    prop_oneof![
        3 => Just(None),
        1 => (
            0..4u32,
            ms(vec![0, 1, 10, 100, 1000, 1 << 40]),
            ms(vec![0, 1, 50, 1000, 300_000, u64::MAX]),
            any::<bool>(),
        )
            .prop_map(|(moves, window, hold, shutdown)| Some(MoveGuardConfig {
                moves,
                window,
                hold,
                action: if shutdown {
                    GuardAction::Shutdown
                } else {
                    GuardAction::HoldDown
                },
            })),
    ]
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (
        prop::bool::weighted(0.08),
        any::<bool>(),
        prop::sample::select(vec![0u64, 1, 2, 3, 10, 100, 300_000, 1 << 31]),
        prop_oneof![8 => 0..=8u32, 1 => Just(8192u32)],
        any::<bool>(),
        any::<u16>().prop_map(|m| m & !GroupForwardMask::RESTRICTED),
        any::<u64>(),
        prop_oneof![Just(0u64), Just((1u64 << 32) - 5), 0..1_000_000u64],
        vec(port_spec(), 1..6),
        move_guard(),
    )
        .prop_map(
            |(hub, vlan_aware, aging, capacity, stop_learning, mask, seed, start, ports, guard)| {
                Cfg {
                    hub,
                    vlan_aware,
                    aging,
                    capacity,
                    stop_learning,
                    mask,
                    seed,
                    start,
                    ports,
                    guard,
                }
            },
        )
}

fn time_step() -> impl Strategy<Value = TimeStep> {
    prop_oneof![
        10 => (0..4u64).prop_map(TimeStep::Forward),
        4 => (0..400u64).prop_map(TimeStep::Forward),
        3 => (-1..=1i8).prop_map(TimeStep::Aging),
        1 => prop_oneof![
            Just(1u64 << 31),
            Just(1u64 << 32),
            Just((1u64 << 32) + 1),
            300_000..(1u64 << 34),
        ]
        .prop_map(TimeStep::Forward),
        2 => (0..1000u64).prop_map(TimeStep::Back),
        1 => (0..3u64).prop_map(TimeStep::End),
    ]
}

fn fault() -> impl Strategy<Value = TxFault> {
    prop_oneof![
        3 => Just(TxFault::NONE),
        1 => (40..80usize, any::<u16>()).prop_map(|(mtu, full)| TxFault { mtu, full }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let port = || 0..PORT_RANGE;
    prop_oneof![
        40 => (port(), frame()).prop_map(|(p, f)| Op::Frame(p, f)),
        4 => (port(), vec(frame(), 0..6), fault()).prop_map(|(p, f, t)| Op::Batch(p, f, t)),
        12 => time_step().prop_map(Op::Time),
        1 => Just(Op::Sweep),
        2 => (fdb_vid(), 0..HOSTS).prop_map(|(v, h)| Op::Lookup(v, h)),
        2 => (fdb_vid(), 0..HOSTS, port()).prop_map(|(v, h, p)| Op::Learn(v, h, p)),
        3 => (port(), prop::bool::weighted(0.6)).prop_map(|(p, up)| Op::SetUp(p, up)),
        1 => port_spec().prop_map(Op::AddPort),
        1 => port().prop_map(Op::RemovePort),
        2 => (port(), flags()).prop_map(|(p, f)| Op::SetFlags(p, f)),
        1 => (port(), mode()).prop_map(|(p, m)| Op::SetVlan(p, m)),
        2 => (fdb_vid(), 0..HOSTS, port()).prop_map(|(v, h, p)| Op::AddStatic(v, h, p)),
        1 => (fdb_vid(), 0..HOSTS).prop_map(|(v, h)| Op::Remove(v, h)),
        1 => (port(), any::<bool>()).prop_map(|(p, all)| Op::FlushPort(p, all)),
        1 => fdb_vid().prop_map(Op::FlushVlan),
        1 => any::<bool>().prop_map(Op::FlushAll),
    ]
}

fn scope(all: bool) -> FlushScope {
    if all {
        FlushScope::All
    } else {
        FlushScope::Dynamic
    }
}

// ---------------------------------------------------------------------------
// Running a sequence
// ---------------------------------------------------------------------------

/// Builds the switch and the model, with the configured ports (some set down).
fn build(cfg: &Cfg) -> (Switch, Model) {
    let config = SwitchConfig {
        fdb: FdbConfig {
            aging_time: Duration::from_millis(cfg.aging),
            capacity: cfg.capacity,
            policy: if cfg.stop_learning {
                EvictionPolicy::StopLearning
            } else {
                EvictionPolicy::FairLru
            },
            hash_seed: cfg.seed,
        },
        hub: cfg.hub,
        vlan_aware: cfg.vlan_aware,
        group_forward: GroupForwardMask::new(cfg.mask).unwrap(),
        move_guard: cfg.guard,
    };
    let mut sw = Switch::new(config).unwrap();
    let mut model = Model {
        hub: cfg.hub,
        vlan_aware: cfg.vlan_aware,
        mask: cfg.mask,
        ports: Vec::new(),
        fdb: MFdb {
            aging: cfg.aging,
            capacity: u64::from(cfg.capacity),
            stop_learning: cfg.stop_learning,
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
        add_port(&mut sw, &mut model, spec);
    }
    (sw, model)
}

fn port_config(spec: &PortSpec) -> PortConfig {
    PortConfig {
        flags: spec.flags,
        vlan: spec.mode.to_real(),
        storm: spec.storm,
        mac_limit: spec.mac_limit,
    }
}

fn add_port(sw: &mut Switch, model: &mut Model, spec: &PortSpec) -> (PortId, u16) {
    let id = sw.add_port(port_config(spec)).unwrap();
    let mid = model.add_port(spec);
    if !spec.up {
        sw.set_port_up(id, false).unwrap();
        model.set_up(mid, false);
    }
    (id, mid)
}

fn egress_of(sw: &Switch, d: &Decision) -> Vec<PortId> {
    let mut v = Vec::new();
    sw.for_each_egress(d, |p| v.push(p));
    v
}

fn entries_now(sw: &mut Switch) -> Vec<FdbEntry> {
    let clock = sw.fdb().clock();
    let mut v: Vec<FdbEntry> = sw.fdb_mut().entries(clock).collect();
    v.sort_by_key(|e| (e.vid, e.mac));
    v
}

/// Real ports as (number, up, flags, VLAN mode, counters, end of a shutdown).
type PortView = (
    u16,
    bool,
    PortFlags,
    VlanMode,
    PortCounters,
    Option<Instant>,
);

fn real_ports(sw: &Switch) -> Vec<PortView> {
    sw.ports()
        .map(|(id, p)| {
            (
                id.0,
                p.up,
                p.config.flags,
                p.config.vlan.clone(),
                p.counters,
                p.shutdown_until,
            )
        })
        .collect()
}

fn model_ports(m: &Model) -> Vec<PortView> {
    m.ports
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

/// Everything observable must agree.
fn compare(sw: &mut Switch, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(sw.fdb().clock(), Instant::from_millis(m.fdb.clock), "clock");
    let stats = sw.fdb().stats();
    prop_assert_eq!(stats, m.fdb.stats(), "FDB totals");
    prop_assert_eq!(entries_now(sw), m.fdb.listing(), "FDB contents");
    prop_assert_eq!(sw.fdb().stats(), stats, "listing the FDB changed it");
    prop_assert_eq!(real_ports(sw), model_ports(m), "ports");
    prop_assert_eq!(sw.guard_stats(), m.guard_stats, "guard totals");
    Ok(())
}

fn apply_time(now: &mut u64, step: TimeStep, aging: u64) {
    *now = match step {
        TimeStep::Forward(d) => now.saturating_add(d),
        TimeStep::Aging(d) => now
            .saturating_add_signed(i64::from(d))
            .saturating_add(aging),
        TimeStep::Back(d) => now.saturating_sub(d),
        TimeStep::End(d) => u64::MAX - d,
    };
}

fn real_result<T>(r: Result<T, ConfigError>, port: u16) -> Result<Option<T>, TestCaseError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            prop_assert_eq!(e, ConfigError::NoSuchPort(PortId(port)));
            Ok(None)
        }
    }
}

/// Runs one operation on both and checks the step's own results.
fn step(sw: &mut Switch, m: &mut Model, now: &mut u64, op: &Op) -> Result<(), TestCaseError> {
    let t = Instant::from_millis(*now);
    match op {
        Op::Frame(port, spec) => {
            let bytes = spec.bytes();
            let d = sw.decide(t, PortId(*port), &bytes);
            let md = m.decide(*now, *port, &bytes);
            prop_assert_eq!(d, md, "decision");
            prop_assert_eq!(egress_of(sw, &d), m.egress(&md), "egress set");
        }
        Op::Batch(port, specs, fault) => {
            let frames: Vec<Vec<u8>> = specs.iter().map(FrameSpec::bytes).collect();
            let mut batch = FrameBatch::with_capacity(frames.len());
            for f in &frames {
                batch.push(f);
            }
            let mut sent = Vec::new();
            let got = sw
                .forward(t, PortId(*port), &batch, |e| {
                    sent.push((e.port, e.frame.to_vec()));
                    fault.result(e.port, e.frame)
                })
                .to_vec();
            let (decisions, msent) = m.forward(*now, *port, &frames, *fault);
            prop_assert_eq!(got, decisions, "batch decisions");
            prop_assert_eq!(sent, msent, "batch deliveries");
        }
        Op::Time(s) => apply_time(now, *s, m.fdb.aging),
        Op::Sweep => {
            sw.fdb_mut().advance(t);
            m.fdb.tick(*now);
        }
        Op::Lookup(vid, h) => {
            let got = sw.fdb_mut().lookup(t, *vid, MacAddr(host(*h)));
            m.fdb.tick(*now);
            let want = m
                .fdb
                .find(*vid, host(*h))
                .map(|i| PortId(m.fdb.entries[i].port));
            prop_assert_eq!(got, want, "lookup");
        }
        Op::Learn(vid, h, port) => {
            let got = sw
                .fdb_mut()
                .learn(t, *vid, MacAddr(host(*h)), PortId(*port));
            prop_assert_eq!(got, m.fdb.learn(*now, *vid, host(*h), *port), "learn");
        }
        Op::SetUp(port, up) => {
            let r = real_result(sw.set_port_up(PortId(*port), *up), *port)?;
            prop_assert_eq!(r.is_some(), m.set_up(*port, *up));
        }
        Op::AddPort(spec) => {
            let (id, mid) = add_port(sw, m, spec);
            prop_assert_eq!(id, PortId(mid));
        }
        Op::RemovePort(port) => {
            let r = real_result(sw.remove_port(PortId(*port)), *port)?;
            let mr = m.remove_port(*port);
            prop_assert_eq!(r.map(|s| s.counters), mr.map(|p| p.counters));
        }
        Op::SetFlags(port, flags) => {
            let r = real_result(sw.set_port_flags(PortId(*port), *flags), *port)?;
            let mr = m.port_mut(*port).map(|p| p.flags = *flags);
            prop_assert_eq!(r, mr);
        }
        Op::SetVlan(port, mode) => {
            let r = real_result(sw.set_port_vlan(PortId(*port), mode.to_real()), *port)?;
            let mr = m.port_mut(*port).map(|p| p.mode = mode.clone());
            if mr.is_some() {
                m.fdb.flush_port(*port, FlushScope::Dynamic);
            }
            prop_assert_eq!(r, mr);
        }
        Op::AddStatic(vid, h, port) => {
            sw.fdb_mut()
                .add_static(*vid, MacAddr(host(*h)), PortId(*port));
            m.fdb.add_static(*vid, host(*h), *port);
        }
        Op::Remove(vid, h) => {
            let r = sw.fdb_mut().remove(*vid, MacAddr(host(*h)));
            prop_assert_eq!(r, m.fdb.remove(*vid, host(*h)), "remove");
        }
        Op::FlushPort(port, all) => {
            let n = sw.fdb_mut().flush_port(PortId(*port), scope(*all));
            prop_assert_eq!(n, m.fdb.flush_port(*port, scope(*all)), "flush port");
        }
        Op::FlushVlan(vid) => {
            let n = sw.fdb_mut().flush_vlan(*vid);
            prop_assert_eq!(n, m.fdb.flush(|e| e.vid == *vid), "flush VLAN");
        }
        Op::FlushAll(all) => {
            let n = sw.fdb_mut().flush_all(scope(*all));
            let all = *all;
            prop_assert_eq!(n, m.fdb.flush(|e| all || !e.is_static), "flush all");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(10_000))]

    /// The real switch and the model agree after every step.
    #[test]
    fn switch_matches_model(cfg in cfg(), ops in vec(op(), 0..60)) {
        let (mut sw, mut m) = build(&cfg);
        let mut now = cfg.start;
        compare(&mut sw, &m)?;
        for op in &ops {
            step(&mut sw, &mut m, &mut now, op)?;
            compare(&mut sw, &m)?;
        }
    }
}

// ---------------------------------------------------------------------------
// Invariants of the real switch alone
// ---------------------------------------------------------------------------

/// Runs an operation that is not a frame on the real switch only.
fn admin(sw: &mut Switch, now: &mut u64, op: &Op) {
    let t = Instant::from_millis(*now);
    let aging = sw.fdb().config().aging_time.as_millis() as u64;
    match op {
        Op::Frame(..) | Op::Batch(..) => unreachable!("frames are not admin"),
        Op::Time(s) => apply_time(now, *s, aging),
        Op::Sweep => sw.fdb_mut().advance(t),
        Op::Lookup(vid, h) => {
            let _ = sw.fdb_mut().lookup(t, *vid, MacAddr(host(*h)));
        }
        Op::Learn(vid, h, port) => {
            // Only onto ports that exist: the invariants are the switch's.
            if sw.port(PortId(*port)).is_some() {
                sw.fdb_mut()
                    .learn(t, *vid, MacAddr(host(*h)), PortId(*port));
            }
        }
        Op::SetUp(port, up) => {
            let _ = sw.set_port_up(PortId(*port), *up);
        }
        Op::AddPort(spec) => {
            let id = sw.add_port(port_config(spec)).unwrap();
            sw.set_port_up(id, spec.up).unwrap();
        }
        Op::RemovePort(port) => {
            let _ = sw.remove_port(PortId(*port));
        }
        Op::SetFlags(port, flags) => {
            let _ = sw.set_port_flags(PortId(*port), *flags);
        }
        Op::SetVlan(port, mode) => {
            let _ = sw.set_port_vlan(PortId(*port), mode.to_real());
        }
        Op::AddStatic(vid, h, port) => {
            sw.fdb_mut()
                .add_static(*vid, MacAddr(host(*h)), PortId(*port))
        }
        Op::Remove(vid, h) => {
            sw.fdb_mut().remove(*vid, MacAddr(host(*h)));
        }
        Op::FlushPort(port, all) => {
            sw.fdb_mut().flush_port(PortId(*port), scope(*all));
        }
        Op::FlushVlan(vid) => {
            sw.fdb_mut().flush_vlan(*vid);
        }
        Op::FlushAll(all) => {
            sw.fdb_mut().flush_all(scope(*all));
        }
    }
}

/// What must hold for one decision on `frame`. `fresh`: checked right after it,
/// before later frames of a batch could change the table.
fn check_decision(
    sw: &mut Switch,
    d: &Decision,
    frame: &[u8],
    fresh: bool,
) -> Result<(), TestCaseError> {
    let config = *sw.config();
    let egress = egress_of(sw, d);
    let ingress = sw.port(d.ingress).cloned();
    for out in &egress {
        let p = sw.port(*out);
        prop_assert!(p.is_some_and(|p| p.up), "sent to {out:?}, down or absent");
        if *out == d.ingress {
            prop_assert!(!config.hub, "a hub sent a frame back out of its ingress");
            prop_assert!(
                ingress.as_ref().is_some_and(|p| p.config.flags.hairpin),
                "back out of ingress {:?} without hairpin",
                d.ingress
            );
        }
        if config.vlan_aware && !config.hub {
            prop_assert!(p.unwrap().config.vlan.admits(d.vid), "VLAN leak");
        }
    }
    if matches!(d.verdict, Verdict::Drop(_)) {
        prop_assert!(egress.is_empty());
    }
    let Some(f) = parse(frame) else {
        prop_assert!(egress.is_empty(), "a runt was sent");
        return Ok(());
    };
    if let Some(x) = link_local(f.dst) {
        if !config.hub && !config.group_forward.forwards(x) {
            prop_assert!(
                matches!(d.verdict, Verdict::Drop(_)),
                "link-local {x} passed"
            );
            prop_assert!(egress.is_empty());
        }
    }
    if let (Verdict::Unicast(out), true) = (d.verdict, fresh) {
        // The entry used is in the table now, and young enough.
        let aging = config.fdb.aging_time;
        let clock = sw.fdb().clock();
        let used = sw
            .fdb_mut()
            .entries(clock)
            .find(|e| e.vid == d.vid && e.mac == MacAddr(f.dst));
        prop_assert!(
            used.is_some_and(|e| e.port == out && (e.is_static || e.age < aging)),
            "unicast to {out:?} without a live entry: {used:?}"
        );
    }
    Ok(())
}

/// What must hold of the whole switch between steps.
fn check_switch(sw: &mut Switch) -> Result<(), TestCaseError> {
    let fdb_config = *sw.fdb().config();
    let stats = sw.fdb().stats();
    prop_assert!(
        stats.current <= u64::from(fdb_config.capacity),
        "over capacity"
    );
    let entries = entries_now(sw);
    let dynamic: Vec<&FdbEntry> = entries.iter().filter(|e| !e.is_static).collect();
    prop_assert_eq!(dynamic.len() as u64, stats.current);
    prop_assert_eq!((entries.len() - dynamic.len()) as u64, stats.statics);
    for e in dynamic {
        prop_assert!(e.age < fdb_config.aging_time, "entry past its aging: {e:?}");
        prop_assert!(sw.port(e.port).is_some(), "entry on a removed port: {e:?}");
    }
    for (id, p) in sw.ports() {
        let c = &p.counters;
        let egress_drops = c.drops(DropReason::TooBig) + c.drops(DropReason::TxFull);
        prop_assert_eq!(
            c.rx_frames,
            c.unicast + c.flood + c.unknown_unicast + c.total_drops() - egress_drops,
            "port {:?}: a received frame has no counter",
            id
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(2_000))]

    /// Never back out of the ingress port without hairpin, never a filtered
    /// link-local frame, never over capacity, never an aged entry, every frame
    /// counted once.
    #[test]
    fn invariants_hold(cfg in cfg(), ops in vec(op(), 0..60)) {
        let (mut sw, _) = build(&cfg);
        let mut now = cfg.start;
        for op in &ops {
            let t = Instant::from_millis(now);
            match op {
                Op::Frame(port, spec) => {
                    let bytes = spec.bytes();
                    let before = sw.fdb().stats();
                    let d = sw.decide(t, PortId(*port), &bytes);
                    check_decision(&mut sw, &d, &bytes, true)?;
                    if parse(&bytes).is_some_and(|f| link_local(f.dst) == Some(PAUSE)) {
                        let after = sw.fdb().stats();
                        prop_assert_eq!(
                            (after.learned, after.moved),
                            (before.learned, before.moved),
                            "PAUSE taught the table"
                        );
                    }
                }
                Op::Batch(port, specs, fault) => {
                    let mut batch = FrameBatch::with_capacity(specs.len());
                    for s in specs {
                        batch.push(&s.bytes());
                    }
                    let decisions = sw
                        .forward(t, PortId(*port), &batch, |e| fault.result(e.port, e.frame))
                        .to_vec();
                    prop_assert_eq!(decisions.len(), batch.len());
                    for (d, frame) in decisions.iter().zip(batch.iter()) {
                        check_decision(&mut sw, d, frame, false)?;
                    }
                }
                _ => admin(&mut sw, &mut now, op),
            }
            check_switch(&mut sw)?;
        }
    }
}

// ---------------------------------------------------------------------------
// forward() against decide()
// ---------------------------------------------------------------------------

/// The bytes a frame should leave `mode` with, written from the port modes'
/// definitions: access ports send untagged, trunk ports tagged except the native
/// VLAN; a tag that came in keeps its priority bits.
fn retagged(mode: &VlanMode, d: &Decision, frame: &[u8]) -> Vec<u8> {
    let tagged_out = match mode {
        VlanMode::Access(_) => false,
        VlanMode::Trunk { native, .. } => *native != Some(d.vid),
    };
    let mut out = frame[..12].to_vec();
    let priority = if d.tagged {
        assert!(frame.len() >= 18 && frame[12..14] == [0x81, 0x00]);
        frame[14] & 0xf0
    } else {
        0
    };
    if tagged_out {
        out.extend_from_slice(&[0x81, 0x00, priority | (d.vid >> 8) as u8, d.vid as u8]);
    }
    out.extend_from_slice(&frame[if d.tagged { 16 } else { 12 }..]);
    out
}

/// Per port: (tx frames, tx bytes, too big, tx full) sent by `forward` alone.
type TxTotals = BTreeMap<u16, (u64, u64, u64, u64)>;

fn add_tx(c: &PortCounters, extra: Option<&(u64, u64, u64, u64)>) -> PortCounters {
    let mut c = *c;
    if let Some(&(frames, bytes, big, full)) = extra {
        c.tx_frames += frames;
        c.tx_bytes += bytes;
        let i = |r: DropReason| DropReason::ALL.iter().position(|x| *x == r).unwrap();
        c.drops[i(DropReason::TooBig)] += big;
        c.drops[i(DropReason::TxFull)] += full;
    }
    c
}

fn batch_equivalence(
    a: &mut Switch,
    b: &mut Switch,
    tx: &mut TxTotals,
    t: Instant,
    port: u16,
    specs: &[FrameSpec],
    fault: TxFault,
) -> Result<(), TestCaseError> {
    let frames: Vec<Vec<u8>> = specs.iter().map(FrameSpec::bytes).collect();
    let mut batch = FrameBatch::with_capacity(2);
    for f in &frames {
        batch.push(f);
    }
    prop_assert_eq!(batch.len(), frames.len());
    let mut sent = Vec::new();
    let got = a
        .forward(t, PortId(port), &batch, |e| {
            sent.push((e.port, e.frame.to_vec()));
            fault.result(e.port, e.frame)
        })
        .to_vec();
    let mut decisions = Vec::new();
    let mut expected = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        prop_assert_eq!(batch.get(i), &f[..]);
        let d = b.decide(t, PortId(port), f);
        decisions.push(d);
        b.for_each_egress(&d, |out| expected.push((out, i)));
    }
    prop_assert_eq!(&got, &decisions);
    // Grouped by port in port order, frames in arrival order within a port.
    expected.sort_by_key(|&(out, i)| (out, i));
    let config = *b.config();
    let mut want = Vec::new();
    for (out, i) in expected {
        let bytes = if config.vlan_aware && !config.hub {
            retagged(&b.port(out).unwrap().config.vlan, &decisions[i], &frames[i])
        } else {
            frames[i].clone()
        };
        let totals = tx.entry(out.0).or_default();
        match fault.result(out, &bytes) {
            Ok(()) => {
                totals.0 += 1;
                totals.1 += bytes.len() as u64;
            }
            Err(TxError::TooBig) => totals.2 += 1,
            Err(TxError::Full) => totals.3 += 1,
        }
        want.push((out, bytes));
    }
    prop_assert_eq!(sent, want, "deliveries");
    Ok(())
}

proptest! {
    #![proptest_config(cases(2_000))]

    /// `forward` decides as `decide` does frame by frame, sends each frame to
    /// exactly its egress set with the tag each port's mode asks for, and counts
    /// what was sent and refused on the egress port.
    #[test]
    fn forward_matches_decide(cfg in cfg(), ops in vec(op(), 0..40)) {
        let (mut a, _) = build(&cfg);
        let (mut b, _) = build(&cfg);
        let mut tx = TxTotals::new();
        let mut now = cfg.start;
        for op in &ops {
            let t = Instant::from_millis(now);
            match op {
                Op::Frame(port, spec) => batch_equivalence(
                    &mut a, &mut b, &mut tx, t, *port, std::slice::from_ref(spec), TxFault::NONE,
                )?,
                Op::Batch(port, specs, fault) => {
                    batch_equivalence(&mut a, &mut b, &mut tx, t, *port, specs, *fault)?
                }
                _ => {
                    if let Op::RemovePort(p) = op {
                        tx.remove(p);
                    }
                    let mut b_now = now;
                    admin(&mut a, &mut now, op);
                    admin(&mut b, &mut b_now, op);
                }
            }
            for ((ia, pa), (ib, pb)) in a.ports().zip(b.ports()) {
                prop_assert_eq!(ia, ib);
                prop_assert_eq!(pa.counters, add_tx(&pb.counters, tx.get(&ia.0)), "port {:?}", ia);
            }
            prop_assert_eq!(a.ports().count(), b.ports().count());
            prop_assert_eq!(a.fdb().stats(), b.fdb().stats());
            prop_assert_eq!(entries_now(&mut a), entries_now(&mut b));
        }
    }
}

/// The generators reach every outcome: each drop reason, each verdict, hairpin,
/// tagged frames and every FDB total. Without this the properties above could
/// pass by never getting anywhere interesting.
#[test]
fn generators_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (cfg(), vec(op(), 0..60));
    let mut seen = BTreeSet::new();
    for _ in 0..3000 {
        let (cfg, ops) = strategy.new_tree(&mut runner).unwrap().current();
        let (mut sw, _) = build(&cfg);
        let mut now = cfg.start;
        for op in &ops {
            let t = Instant::from_millis(now);
            match op {
                Op::Frame(port, spec) => {
                    let bytes = spec.bytes();
                    let learned = sw.fdb().stats().learned;
                    let d = sw.decide(t, PortId(*port), &bytes);
                    seen.insert(format!("{:?}", d.verdict).replace(char::is_numeric, ""));
                    if d.verdict == Verdict::Drop(DropReason::LinkLocal) {
                        let dst = parse(&bytes).and_then(|f| link_local(f.dst));
                        if dst == Some(PAUSE) {
                            seen.insert("PAUSE dropped".into());
                        } else if sw.fdb().stats().learned > learned {
                            seen.insert("learned from link-local".into());
                        }
                    }
                    if d.verdict == Verdict::Unicast(d.ingress) {
                        seen.insert("hairpin".into());
                    }
                    if d.tagged {
                        seen.insert("tagged".into());
                    }
                }
                Op::Batch(port, specs, fault) => {
                    let mut batch = FrameBatch::with_capacity(specs.len());
                    for s in specs {
                        batch.push(&s.bytes());
                    }
                    sw.forward(t, PortId(*port), &batch, |e| {
                        let r = fault.result(e.port, e.frame);
                        seen.insert(format!("{r:?}"));
                        r
                    });
                }
                _ => admin(&mut sw, &mut now, op),
            }
        }
        let g = sw.guard_stats();
        for (name, n) in [
            ("moves_blocked", g.moves_blocked),
            ("hold_downs", g.hold_downs),
            ("shutdowns", g.shutdowns),
            ("mac_limit_refused", g.mac_limit_refused),
        ] {
            if n > 0 {
                seen.insert(name.into());
            }
        }
        let s = sw.fdb().stats();
        for (name, n) in [
            ("learned", s.learned),
            ("moved", s.moved),
            ("expired", s.expired),
            ("evicted", s.evicted),
            ("refused", s.refused),
            ("flushed", s.flushed),
            ("statics", s.statics),
        ] {
            if n > 0 {
                seen.insert(name.into());
            }
        }
    }
    let mut wanted: Vec<String> = DropReason::ALL
        .iter()
        // Transmit refusals come from the port, receive-queue overflows
        // from the device: no frame is decided into either.
        .filter(|r| {
            !matches!(
                r,
                DropReason::TooBig | DropReason::TxFull | DropReason::RxFull
            )
        })
        .map(|r| format!("Drop({r:?})"))
        .collect();
    wanted.extend(
        [
            "Unicast(PortId())",
            "Flood(Broadcast)",
            "Flood(Multicast)",
            "Flood(UnknownUnicast)",
            "Flood(Hub)",
            "hairpin",
            "tagged",
            "Ok(())",
            "Err(TooBig)",
            "Err(Full)",
            "learned",
            "moved",
            "expired",
            "evicted",
            "refused",
            "flushed",
            "statics",
            "moves_blocked",
            "hold_downs",
            "shutdowns",
            "mac_limit_refused",
            "learned from link-local",
            "PAUSE dropped",
        ]
        .map(String::from),
    );
    let missing: Vec<&String> = wanted.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "never reached: {missing:?}; reached: {seen:?}"
    );
}
