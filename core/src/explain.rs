//! "Why": what the switch would do with a frame right now, rule by rule,
//! without doing it ([`Switch::explain`]), as Open vSwitch's `ofproto/trace`.
//!
//! The answer is not worked out by a second copy of the rules: a copy of the
//! switch decides the frame with the very code that forwards
//! ([`Switch::decide_from`]), its event log on. What the copy's decision and
//! events say (learned, moved, aged, evicted, held down, refused by the MAC
//! limit, storm control starting) is the explanation; the switch itself is
//! not touched. The copy does not copy the MAC table: it gets a sample of it
//! (`Fdb::sample`) that does for this frame what the whole table would (the
//! frame's source and destination entries, the entries that age out by
//! then and each port's oldest one, with the table's counts), so that its
//! cost is the ports', not the table's: an explanation of a frame to a
//! switch holding a million entries takes about as long as to one holding a
//! thousand.

use crate::events::{flood_name, Event};
use crate::fdb::key as fdb_key;
use crate::frame::FrameInfo;
use crate::mac::MacAddr;
use crate::port::{DropReason, PortId};
use crate::summary::FrameSummary;
use crate::switch::{Decision, Switch, Verdict};
use crate::time::Instant;
use crate::types::{FloodKind, RemoteId, Vid};
use crate::vlan::VlanMode;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// How a frame leaves a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tagging {
    /// As it came (a VLAN-unaware switch, or hub mode).
    AsIs,
    /// Without an 802.1Q tag.
    Untagged,
    /// With an 802.1Q tag for this VLAN.
    Tagged(Vid),
}

/// One rule the frame went through and what it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The rule: `classify`, `ingress`, `vlan`, `learn`, `lookup`, `verdict`,
    /// `egress`.
    pub rule: &'static str,
    /// What it gave, in words.
    pub outcome: String,
}

/// What the switch would do with one frame, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The decision, as [`Switch::decide`] would return it now.
    pub decision: Decision,
    /// The ports the frame would leave by, each with its tagging.
    pub egress: Vec<(PortId, Tagging)>,
    /// What deciding would change (entries learned or moved, protections
    /// acting, entries aging on the way), in order.
    pub effects: Vec<Event>,
    /// The rules, in the order the switch applies them.
    pub steps: Vec<Step>,
}

impl fmt::Display for Explanation {
    /// One line per rule: `learn: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            writeln!(f, "{:<10}{}", format!("{}:", s.rule), s.outcome)?;
        }
        Ok(())
    }
}

/// What a drop reason means, in words.
pub fn drop_meaning(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Runt => "shorter than an Ethernet header",
        DropReason::BadSource => "the source is a group or all-zero address",
        DropReason::LinkLocal => {
            "IEEE link-local destination (01:80:c2:00:00:0X) not in the group-forward mask"
        }
        DropReason::SamePort => "the destination is on the port it came in by",
        DropReason::VlanIngress => "the ingress port does not admit its VLAN",
        DropReason::IngressDown => "the ingress port is down or not a port of this switch",
        DropReason::EgressDown => "the destination's port is down",
        DropReason::VlanEgress => "the destination's port does not carry the VLAN",
        DropReason::TooBig => "larger than the egress port's MTU",
        DropReason::TxFull => "the egress port's queue is full",
        DropReason::Storm => "over the ingress port's storm-control rate for this kind of flood",
        DropReason::MacLimit => "the ingress port is at its MAC limit and drops new sources",
        DropReason::MoveGuard => "the move guard shut the ingress port down",
        DropReason::RxFull => "the receive queue overflowed",
        DropReason::BadIgmp => "a malformed IGMP or MLD message",
        DropReason::Blocked => "the spanning tree holds the port discarding or learning",
        DropReason::NoRemote => "a tunnel port with no remote endpoint to send a flood to",
        DropReason::TxDown => {
            "the egress port stopped forwarding after the frame was decided, in the same batch"
        }
    }
}

fn vlan_mode(mode: &VlanMode) -> String {
    match mode {
        VlanMode::Access(v) => format!("access VLAN {v}"),
        VlanMode::Trunk { allowed, native } => {
            let n = allowed.iter().count();
            let list = if n > 8 {
                format!("{n} VLANs")
            } else {
                let v: Vec<String> = allowed.iter().map(|v| format!("{v}")).collect();
                format!("VLANs {}", v.join(","))
            };
            match native {
                Some(nv) => format!("trunk of {list}, native {nv}"),
                None => format!("trunk of {list}, no native VLAN"),
            }
        }
    }
}

fn verdict_words(v: Verdict) -> String {
    match v {
        Verdict::Unicast(p) => format!("unicast to port {p}"),
        Verdict::Flood(k) => format!("flood ({})", flood_name(k)),
        Verdict::Group(_) => "to the snooped group's member and router ports".into(),
        Verdict::Drop(r) => format!("drop ({}): {}", r.name(), drop_meaning(r)),
    }
}

impl Switch {
    /// What the switch would do with `frame`, received on `ingress` (from
    /// `remote` behind a tunnel port) at `now`, and why, without changing
    /// anything: see the [module documentation](crate::explain).
    pub fn explain(
        &self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        frame: &[u8],
    ) -> Explanation {
        let mut copy = self.copy_with_fdb(self.fdb().sample(now, &self.keys_of(ingress, frame)));
        copy.set_event_log(256);
        let decision = copy.decide_from(now, ingress, remote, frame);
        let mut effects = Vec::new();
        copy.drain_events(|r| effects.push(r.event));
        let mut egress = Vec::new();
        copy.for_each_egress(&decision, |p| {
            let tagging = match copy.port(p) {
                Some(s) if self.config().vlan_aware && !self.config().hub => {
                    if s.config.vlan.egress_tagged(decision.vid) {
                        Tagging::Tagged(decision.vid)
                    } else {
                        Tagging::Untagged
                    }
                }
                _ => Tagging::AsIs,
            };
            egress.push((p, tagging));
        });
        let steps = self.steps(&copy, ingress, frame, &decision, &effects, &egress);
        Explanation {
            decision,
            egress,
            effects,
            steps,
        }
    }

    /// The table keys deciding `frame` from `ingress` can touch: its source
    /// and destination in the VLAN the port gives it (the rule the decision
    /// applies, [`VlanMode::ingress_vid`]); none if it has no VLAN there or
    /// no whole header (it is dropped before the table is asked).
    fn keys_of(&self, ingress: PortId, frame: &[u8]) -> Vec<u64> {
        let (Some(dst), Some(src)) = (
            MacAddr::from_bytes(frame),
            frame.get(6..).and_then(MacAddr::from_bytes),
        ) else {
            return Vec::new();
        };
        let vid = if self.config().vlan_aware {
            let info = FrameInfo::parse(frame).ok();
            match (info, self.port(ingress)) {
                (Some(info), Some(p)) => p.config.vlan.ingress_vid(&info),
                _ => None,
            }
        } else {
            Some(0)
        };
        match vid {
            Some(vid) => alloc::vec![fdb_key(vid, src.to_u64()), fdb_key(vid, dst.to_u64())],
            None => Vec::new(),
        }
    }

    /// The rule-by-rule account of a decision the copy made (`after` is the
    /// copy, after deciding).
    fn steps(
        &self,
        after: &Switch,
        ingress: PortId,
        frame: &[u8],
        d: &Decision,
        effects: &[Event],
        egress: &[(PortId, Tagging)],
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut step = |rule, outcome: String| steps.push(Step { rule, outcome });
        let cfg = self.config();
        // classify
        let info = FrameInfo::parse(frame).ok();
        step(
            "classify",
            format!("{} bytes: {}", frame.len(), FrameSummary(frame)),
        );
        // ingress
        let Some(port) = self.port(ingress) else {
            step("ingress", format!("port {ingress}: no such port"));
            step("verdict", verdict_words(d.verdict));
            return steps;
        };
        let state = if port.shutdown_until.is_some() {
            "shut down by the move guard"
        } else if port.up {
            "up"
        } else {
            "down"
        };
        let stp = if self.stp().is_some() {
            format!(", spanning tree {:?}", port.stp_state()).to_lowercase()
        } else {
            String::new()
        };
        step("ingress", format!("port {ingress}: {state}{stp}"));
        let Some(info) = info else {
            step("verdict", verdict_words(d.verdict));
            return steps;
        };
        // vlan
        if cfg.hub {
            step("vlan", "hub mode: no VLANs, no learning".into());
        } else if cfg.vlan_aware {
            let mode = vlan_mode(&port.config.vlan);
            let how = match info.dot1q_tag() {
                Some(t) if t.vid == 0 => "priority-tagged".into(),
                Some(t) => format!("tagged {}", t.vid),
                None => "untagged".into(),
            };
            if d.verdict == Verdict::Drop(DropReason::VlanIngress) {
                step("vlan", format!("{how} on {mode}: not admitted"));
            } else {
                step("vlan", format!("{how} on {mode}: VLAN {}", d.vid));
            }
        } else {
            step(
                "vlan",
                "VLAN-unaware switch: tags are payload, VLAN 0".into(),
            );
        }
        // learn
        if !cfg.hub {
            step("learn", self.learn_words(ingress, &info, d, effects));
        }
        // lookup
        if !cfg.hub {
            // The lookup comes after learning and aging: the copy's table is
            // the one it sees.
            step("lookup", after.lookup_words(info.dst, d));
        }
        step("verdict", verdict_words(d.verdict));
        for e in effects.iter().filter(|e| {
            matches!(
                e,
                Event::StormStart { .. } | Event::GuardShutdown { .. } | Event::Aged { .. }
            )
        }) {
            step("effect", format!("{e}"));
        }
        if !matches!(d.verdict, Verdict::Drop(_)) {
            let list: Vec<String> = egress
                .iter()
                .map(|(p, t)| match t {
                    Tagging::AsIs => format!("port {p}"),
                    Tagging::Untagged => format!("port {p} untagged"),
                    Tagging::Tagged(v) => format!("port {p} tagged {v}"),
                })
                .collect();
            let out = if list.is_empty() {
                "no port (none up, forwarding and wanting it)".into()
            } else {
                list.join(", ")
            };
            step("egress", out);
        }
        steps
    }

    fn learn_words(
        &self,
        ingress: PortId,
        info: &FrameInfo,
        d: &Decision,
        effects: &[Event],
    ) -> String {
        let src = info.src;
        for e in effects {
            match *e {
                Event::Learned { vid, mac, .. } if mac == src => {
                    return format!("would learn {src} in VLAN {vid} on port {ingress}")
                }
                Event::Moved { vid, mac, from, .. } if mac == src => {
                    return format!(
                        "would move {src} in VLAN {vid} from port {from} to port {ingress}"
                    )
                }
                Event::HoldDown { mac, port, .. } if mac == src => {
                    return format!("move guard: {src} moves too often, held on port {port}")
                }
                Event::MacLimit { mac, .. } if mac == src => {
                    return format!("port {ingress} is at its MAC limit: {src} not learned")
                }
                _ => {}
            }
        }
        if src.is_zero() || !src.is_unicast() {
            return format!("{src} is no source address: not learned");
        }
        let Some(port) = self.port(ingress) else {
            return "not learned".into();
        };
        if !port.config.flags.learning {
            return format!("learning is off on port {ingress}");
        }
        match self.fdb().get_entry(fdb_key(d.vid, src.to_u64())) {
            Some((p, true)) => format!("{src} has a static entry on port {p}: not learned"),
            Some((p, false)) if p == ingress => {
                format!("{src} is known on port {ingress}: its age starts over")
            }
            _ => match d.verdict {
                Verdict::Drop(r) => format!("not learned: dropped first ({})", r.name()),
                _ if self.fdb().config().aging_time.is_zero() => {
                    "aging time 0: nothing is learned".into()
                }
                _ => format!("{src} not learned: the table is full"),
            },
        }
    }

    fn lookup_words(&self, dst: MacAddr, d: &Decision) -> String {
        let b = dst.0;
        if dst.is_broadcast() {
            return "broadcast: flooded".into();
        }
        if b[..5] == [0x01, 0x80, 0xc2, 0, 0] && b[5] < 0x10 {
            return format!(
                "{dst}: IEEE link-local, forwarded only if bit {} of the group-forward mask is set ({:#06x})",
                b[5],
                self.config().group_forward.bits()
            );
        }
        if !dst.is_unicast() {
            return if self.config().mcast.snooping {
                format!("{dst}: multicast, snooping decides")
            } else {
                format!("{dst}: multicast, flooded (snooping off)")
            };
        }
        match self.fdb().get_entry(fdb_key(d.vid, dst.to_u64())) {
            Some((p, true)) => format!("{dst} in VLAN {}: static entry on port {p}", d.vid),
            Some((p, false)) => format!("{dst} in VLAN {}: on port {p}", d.vid),
            None if d.verdict == Verdict::Flood(FloodKind::UnknownUnicast) => {
                format!("{dst} in VLAN {}: not in the table, flooded", d.vid)
            }
            None => format!("{dst} in VLAN {}: not in the table", d.vid),
        }
    }
}

/// `text` with each "port N" followed by the port's name: "port 1 (veth1)".
pub fn name_ports(text: &str, name: impl Fn(u16) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("port ") {
        out.push_str(&rest[..i + 5]);
        rest = &rest[i + 5..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(p) = rest[..digits].parse::<u16>() {
            out.push_str(&rest[..digits]);
            out.push_str(&format!(" ({})", name(p)));
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// The most bytes a frame to explain may have.
pub const MAX_FRAME: usize = 65535;

/// Reads a frame written in hex: pairs of hex digits, optionally separated by
/// spaces, colons, dashes or dots, with an optional `0x`. Fails with one line
/// saying what is wrong.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let mut digits = Vec::with_capacity(t.len());
    for (i, c) in t.char_indices() {
        match c {
            ' ' | ':' | '-' | '.' | '\t' => {}
            c if c.is_ascii_hexdigit() => digits.push(c as u8),
            c => return Err(format!("{c:?} at position {i} is not a hex digit")),
        }
    }
    if digits.len() % 2 == 1 {
        return Err(format!(
            "{} hex digits: a frame is whole bytes, two digits each",
            digits.len()
        ));
    }
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            d(p[0]) << 4 | d(p[1])
        })
        .collect();
    if bytes.len() < crate::frame::ETHERNET_HEADER_LEN {
        return Err(format!(
            "a frame of {} bytes: it needs at least 14 (destination, source, type)",
            bytes.len()
        ));
    }
    if bytes.len() > MAX_FRAME {
        return Err(format!(
            "a frame of {} bytes: at most {MAX_FRAME}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// A frame to explain as a user gives it: `in=PORT`, then either the frame in
/// hex (`frame=HEX`, or a bare hex word) or its fields: `src=MAC dst=MAC
/// [vlan=N] [pcp=N] [type=0x0800]` (a VLAN gives an 802.1Q tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameRequest {
    /// The ingress port's name.
    pub port: String,
    /// The frame's bytes.
    pub frame: Vec<u8>,
}

const FIELDS: &str = "in=PORT, then frame=HEX or src=MAC dst=MAC [vlan=N] [pcp=N] [type=N]";

impl FrameRequest {
    /// Reads the words of a request. Fails with one line saying what is wrong
    /// and what is allowed.
    pub fn parse<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<FrameRequest, String> {
        let (mut port, mut hex) = (None, None);
        let (mut src, mut dst, mut vlan, mut pcp, mut ethertype) = (None, None, None, 0u8, None);
        let mac = |k: &str, v: &str| {
            v.parse::<MacAddr>()
                .map_err(|_| format!("{k}={v} is not a MAC address (like 02:00:00:00:00:01)"))
        };
        let number = |k: &str, v: &str, max: u32| {
            let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(h) => u32::from_str_radix(h, 16),
                None => v.parse::<u32>(),
            };
            match n {
                Ok(n) if n <= max => Ok(n),
                _ => Err(format!("{k}={v}: give a number from 0 to {max}")),
            }
        };
        // Bare words are the frame in hex, however it was split.
        let mut bare = String::new();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                bare.push_str(w);
                continue;
            };
            match k {
                "in" if !v.is_empty() => port = Some(String::from(v)),
                "frame" => hex = Some(parse_hex(v)?),
                "src" => src = Some(mac(k, v)?),
                "dst" => dst = Some(mac(k, v)?),
                "vlan" => vlan = Some(number(k, v, 4094)? as Vid),
                "pcp" => pcp = number(k, v, 7)? as u8,
                "type" => ethertype = Some(number(k, v, 0xffff)? as u16),
                _ => return Err(format!("{w:?} is not understood: give {FIELDS}")),
            }
        }
        let port = port.ok_or_else(|| format!("no ingress port: give {FIELDS}"))?;
        if !bare.is_empty() {
            if hex.is_some() {
                return Err(format!("two frames: give one, as frame=HEX ({FIELDS})"));
            }
            hex = Some(parse_hex(&bare)?);
        }
        let fields = src.is_some() || dst.is_some() || vlan.is_some() || ethertype.is_some();
        let frame = match (hex, fields) {
            (Some(_), true) => {
                return Err(format!(
                    "a hex frame and fields at once: give one or the other ({FIELDS})"
                ))
            }
            (Some(h), false) => h,
            (None, _) => {
                let (Some(src), Some(dst)) = (src, dst) else {
                    return Err(format!("src= and dst= are both needed: give {FIELDS}"));
                };
                let mut f = Vec::with_capacity(64);
                f.extend_from_slice(&dst.0);
                f.extend_from_slice(&src.0);
                if let Some(v) = vlan {
                    f.extend_from_slice(&crate::frame::TPID_8021Q.to_be_bytes());
                    f.extend_from_slice(&(u16::from(pcp) << 13 | v).to_be_bytes());
                }
                let ethertype = ethertype.unwrap_or(0x0800);
                f.extend_from_slice(&ethertype.to_be_bytes());
                if ethertype == 0x0800 {
                    // A minimal IPv4 header (experimental protocol 253),
                    // so that the frame reads as IPv4.
                    f.extend_from_slice(&[0x45, 0, 0, 20, 0, 0, 0, 0, 64, 253, 0, 0]);
                    f.extend_from_slice(&[0; 8]);
                }
                f.resize(f.len().max(60), 0);
                f
            }
        };
        Ok(FrameRequest { port, frame })
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::port::PortConfig;
    use crate::switch::SwitchConfig;
    use crate::vlan::VlanSet;
    use alloc::string::ToString;

    fn frame(dst: [u8; 6], src: [u8; 6]) -> [u8; 60] {
        let mut f = [0u8; 60];
        f[..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f
    }

    #[test]
    fn explains_rule_by_rule_and_changes_nothing() {
        let mut sw = Switch::new(SwitchConfig {
            vlan_aware: true,
            ..SwitchConfig::default()
        })
        .unwrap();
        let access = sw
            .add_port(PortConfig {
                vlan: VlanMode::Access(10),
                ..PortConfig::default()
            })
            .unwrap();
        let trunk = sw
            .add_port(PortConfig {
                vlan: VlanMode::Trunk {
                    allowed: [10, 20].into_iter().collect::<VlanSet>(),
                    native: None,
                },
                ..PortConfig::default()
            })
            .unwrap();
        let (h1, h2) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        sw.fdb_mut().learn(Instant::ZERO, 10, MacAddr(h2), trunk);
        let x = sw.explain(Instant::ZERO, access, None, &frame(h2, h1));
        let text = x.to_string();
        assert_eq!(x.decision.verdict, Verdict::Unicast(trunk), "{text}");
        assert_eq!(x.egress, [(trunk, Tagging::Tagged(10))]);
        for want in [
            "vlan:     untagged on access VLAN 10: VLAN 10",
            "learn:    would learn 02:00:00:00:00:01 in VLAN 10 on port 0",
            "lookup:   02:00:00:00:00:02 in VLAN 10: on port 1",
            "verdict:  unicast to port 1",
            "egress:   port 1 tagged 10",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert_eq!(sw.fdb().get(10, MacAddr(h1)), None, "explain learned");
        assert_eq!(sw.port(access).unwrap().counters.rx_frames, 0);

        // Not admitted: the reason, and no egress.
        let mut tagged = [0u8; 64];
        tagged[..12].copy_from_slice(&frame(h2, h1)[..12]);
        tagged[12..18].copy_from_slice(&[0x81, 0x00, 0x00, 30, 0x08, 0x00]);
        let x = sw.explain(Instant::ZERO, trunk, None, &tagged);
        let text = x.to_string();
        assert!(
            text.contains("tagged 30 on trunk of VLANs 10,20, no native VLAN: not admitted"),
            "{text}"
        );
        assert!(text.contains("drop (vlan-ingress)"), "{text}");
        assert!(!text.contains("egress:"), "{text}");
        // A runt says so.
        let x = sw.explain(Instant::ZERO, access, None, &[1, 2, 3]);
        assert!(x.to_string().contains("drop (runt)"), "{x}");
    }

    #[test]
    fn a_full_table_and_aging_are_explained_as_the_switch_would_do_them() {
        use crate::fdb::{EvictionPolicy, FdbConfig};
        use core::time::Duration;
        let mut sw = Switch::new(SwitchConfig {
            fdb: FdbConfig {
                capacity: 6,
                policy: EvictionPolicy::FairLru,
                aging_time: Duration::from_secs(10),
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        })
        .unwrap();
        for _ in 0..3 {
            sw.add_port(PortConfig::default()).unwrap();
        }
        let host = |i: u8| [2, 0, 0, 0, 0, i];
        // Port 1 holds the most; its oldest (host 1) is evicted, unless it
        // ages out first.
        let learn = [
            (1, 1, 0),
            (2, 0, 1000),
            (3, 1, 2000),
            (4, 1, 3000),
            (5, 2, 4000),
        ];
        for (h, p, ms) in learn {
            sw.fdb_mut()
                .learn(Instant::from_millis(ms), 0, MacAddr(host(h)), PortId(p));
        }
        sw.fdb_mut().add_static(0, MacAddr(host(9)), PortId(2));
        sw.fdb_mut()
            .learn(Instant::from_millis(5000), 0, MacAddr(host(6)), PortId(0));
        for (ms, want) in [
            (6000, "evicted 02:00:00:00:00:01"),
            (10_500, "aged 02:00:00:00:00:01"),
        ] {
            let (now, f) = (Instant::from_millis(ms), frame(host(9), host(7)));
            let x = sw.explain(now, PortId(0), None, &f);
            let mut real = sw.clone();
            real.set_event_log(64);
            let d = real.decide(now, PortId(0), &f);
            let mut events = Vec::new();
            real.drain_events(|r| events.push(r.event));
            assert_eq!((x.decision, &x.effects), (d, &events));
            let said: Vec<String> = x.effects.iter().map(|e| e.to_string()).collect();
            assert!(said.iter().any(|e| e.starts_with(want)), "{want}: {said:?}");
            assert_eq!(x.decision.verdict, Verdict::Unicast(PortId(2)));
        }
        assert_eq!(sw.fdb().len(), 6, "explain changed the table");
    }

    #[test]
    fn frame_requests_from_fields_or_hex_and_one_line_errors() {
        let r = FrameRequest::parse(
            "in=eth1 src=02:00:00:00:00:01 dst=ff:ff:ff:ff:ff:ff vlan=10 pcp=5 type=0x0806"
                .split(' '),
        )
        .unwrap();
        assert_eq!(r.port, "eth1");
        assert_eq!(r.frame.len(), 60);
        assert_eq!(&r.frame[12..18], &[0x81, 0x00, 0xa0, 0x0a, 0x08, 0x06]);
        let hex = "ffffffffffff 020000000001 0800";
        let mut words = alloc::vec!["in=p"];
        words.extend(hex.split(' '));
        let h = FrameRequest::parse(words).unwrap();
        assert_eq!(h.frame.len(), 14);
        assert_eq!(
            parse_hex("ff:ff:ff:ff:ff:ff:02:00:00:00:00:01:08:00").unwrap(),
            h.frame
        );
        for (bad, says) in [
            (
                "src=02:00:00:00:00:01 dst=02:00:00:00:00:02",
                "no ingress port",
            ),
            ("in=p src=nope dst=02:00:00:00:00:02", "not a MAC address"),
            ("in=p src=02:00:00:00:00:01", "both needed"),
            (
                "in=p dst=02:00:00:00:00:01 src=02:00:00:00:00:02 vlan=5000",
                "from 0 to 4094",
            ),
            ("in=p color=red", "not understood"),
            ("in=p ffffffffffffzz", "not a hex digit"),
            ("in=p fff", "whole bytes"),
            ("in=p ffff", "at least 14"),
            (
                "in=p frame=ffffffffffff020000000001080 src=02:00:00:00:00:01",
                "whole bytes",
            ),
            (
                "in=p frame=ffffffffffff0200000000010800 src=02:00:00:00:00:01",
                "one or the other",
            ),
        ] {
            let e = FrameRequest::parse(bad.split(' ')).unwrap_err();
            assert!(e.contains(says) && !e.contains('\n'), "{bad}: {e}");
        }
    }
}
