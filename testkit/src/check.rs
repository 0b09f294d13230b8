//! What must hold of the switch, checked on the real switch alone (so that it
//! holds even where the model might share a mistake with the code), between two
//! switches fed alike, and between the switch and the [`Model`].

use crate::model::{link_local, Model, PAUSE};
use crate::Checked;
use std::collections::{BTreeMap, BTreeSet};
use vswitch_core::fdb::FdbEntry;
use vswitch_core::frame::{ETHERNET_HEADER_LEN, TPID_8021Q};
use vswitch_core::{
    Decision, DropReason, FloodKind, GuardStats, Instant, MacAddr, PortCounters, PortFlags, PortId,
    Switch, Verdict, VlanMode,
};

/// The ports a decision sends the frame to, as the switch lists them now.
pub fn egress_of(sw: &Switch, d: &Decision) -> Vec<PortId> {
    let mut v = Vec::new();
    sw.for_each_egress(d, |p| v.push(p));
    v
}

/// The table's entries at its own clock, by (vid, MAC).
pub fn entries_now(sw: &mut Switch) -> Vec<FdbEntry> {
    let clock = sw.fdb().clock();
    let mut v: Vec<FdbEntry> = sw.fdb_mut().entries(clock).collect();
    v.sort_by_key(|e| (e.vid, e.mac));
    v
}

/// The index of `reason` in [`PortCounters::drops`].
fn drop_index(reason: DropReason) -> usize {
    DropReason::ALL
        .iter()
        .position(|r| *r == reason)
        .expect("every reason is in ALL")
}

fn find(sw: &mut Switch, vid: u16, mac: [u8; 6]) -> Option<FdbEntry> {
    entries_now(sw)
        .into_iter()
        .find(|e| e.vid == vid && e.mac == MacAddr(mac))
}

/// What the switch looked like just before a decision: what
/// [`check_decision`] needs to check the decision's counting and learning.
#[derive(Clone, Copy, Debug)]
pub struct Before {
    counters: Option<PortCounters>,
    refused: u64,
    learned: u64,
    moved: u64,
    guard: GuardStats,
}

impl Before {
    /// `sw` just before a frame comes in on `ingress`.
    pub fn of(sw: &Switch, ingress: PortId) -> Before {
        let stats = sw.fdb().stats();
        Before {
            counters: sw.port(ingress).map(|p| p.counters),
            refused: stats.refused,
            learned: stats.learned,
            moved: stats.moved,
            guard: sw.guard_stats(),
        }
    }
}

/// The rules for one decision `d` on `frame`. With `before` the decision has
/// just been made, nothing else since: its counting, learning and use of the
/// table are checked too. Without, it may be one of a batch already forwarded,
/// and only what later frames cannot change is checked.
pub fn check_decision(
    sw: &mut Switch,
    d: &Decision,
    frame: &[u8],
    before: Option<&Before>,
) -> Checked {
    let config = *sw.config();
    let egress = egress_of(sw, d);
    let ingress = sw.port(d.ingress).cloned();
    let hairpin = ingress.as_ref().is_some_and(|p| p.config.flags.hairpin);
    let mut seen = BTreeSet::new();
    for out in &egress {
        ensure!(seen.insert(*out), "{out:?} sent the frame twice");
        let p = sw.port(*out);
        // A unicast of a batch checked after the batch may name its ingress
        // port shut down by the move guard on a later frame: `forward` then
        // sent it nothing (the caller checks what was sent).
        let shut_later = before.is_none()
            && *out == d.ingress
            && d.verdict == Verdict::Unicast(*out)
            && p.is_some_and(|p| p.shutdown_until.is_some());
        ensure!(
            p.is_some_and(|p| p.up) || shut_later,
            "sent to {out:?}, down or absent"
        );
        if *out == d.ingress {
            ensure!(!config.hub, "a hub sent a frame back out of its ingress");
            ensure!(
                hairpin,
                "back out of ingress {:?} without hairpin",
                d.ingress
            );
            ensure!(
                !p.is_some_and(|p| p.config.tunnel),
                "split horizon: back into tunnel port {:?}",
                d.ingress
            );
        }
        if config.vlan_aware && !config.hub {
            ensure!(
                p.is_some_and(|p| p.config.vlan.admits(d.vid)),
                "VLAN {} leaked to {out:?}",
                d.vid
            );
        }
    }
    // A unicast to a tunnel port names the remote its entry holds (checked
    // while the table is as the decision left it); any other decision none.
    if let Verdict::Unicast(_) = d.verdict {
        if before.is_some() {
            let dst = frame.get(..6).map(|b| {
                let mut m = MacAddr::default();
                m.0.copy_from_slice(b);
                m
            });
            let held = dst
                .and_then(|m| sw.fdb().get_remote(d.vid, m))
                .and_then(|(_, r)| r);
            ensure!(
                d.remote == held,
                "unicast names remote {:?}, the entry {:?}",
                d.remote,
                held
            );
        }
    } else {
        ensure!(
            d.remote.is_none(),
            "a {:?} names remote {:?}",
            d.verdict,
            d.remote
        );
    }
    let dropped = matches!(d.verdict, Verdict::Drop(_));
    if dropped {
        ensure!(egress.is_empty(), "a dropped frame was sent");
    }
    if !config.vlan_aware || config.hub {
        ensure_eq!(
            (d.vid, d.tagged),
            (0, false),
            "VLAN on a VLAN-unaware switch"
        );
    }
    ensure_eq!(
        matches!(d.verdict, Verdict::Flood(FloodKind::Hub)),
        config.hub && !dropped,
        "hub floods and only hub floods: {:?}",
        d.verdict
    );
    // Within a batch a port can only go down (shut down by the move guard), so
    // a port up now was up for every frame of the batch; one down now may have
    // gone down after this frame, or with it.
    let up = ingress.as_ref().is_some_and(|p| p.up);
    if !up && before.is_some() && d.verdict != Verdict::Drop(DropReason::MoveGuard) {
        ensure_eq!(
            d.verdict,
            Verdict::Drop(DropReason::IngressDown),
            "in on a port down or absent"
        );
    }
    if frame.len() < ETHERNET_HEADER_LEN {
        ensure!(egress.is_empty(), "a runt was sent");
        if up {
            ensure_eq!(d.verdict, Verdict::Drop(DropReason::Runt), "a runt");
        }
        return Ok(());
    }
    let dst: [u8; 6] = frame[..6].try_into().expect("14 bytes");
    let src: [u8; 6] = frame[6..12].try_into().expect("14 bytes");
    if config.hub {
        if up {
            ensure_eq!(d.verdict, Verdict::Flood(FloodKind::Hub), "a hub's verdict");
        }
    } else {
        if !MacAddr(src).is_valid_source() {
            ensure!(dropped, "bad source {} passed", MacAddr(src));
        }
        if let Some(x) = link_local(dst) {
            if !config.group_forward.forwards(x) {
                ensure!(dropped, "link-local 01:80:c2:00:00:{x:02x} passed");
            }
        }
        if config.vlan_aware
            && up
            && frame[12..14] == TPID_8021Q.to_be_bytes()
            && frame.len() < 18
            && MacAddr(src).is_valid_source()
        {
            ensure_eq!(d.verdict, Verdict::Drop(DropReason::Runt), "cut 802.1Q tag");
        }
        match d.verdict {
            Verdict::Flood(FloodKind::Broadcast) => {
                ensure_eq!(
                    dst,
                    [0xff; 6],
                    "broadcast flood of a frame to another address"
                )
            }
            Verdict::Flood(FloodKind::Multicast) => ensure!(
                MacAddr(dst).is_multicast() && dst != [0xff; 6],
                "multicast flood of a frame to {}",
                MacAddr(dst)
            ),
            Verdict::Flood(FloodKind::UnknownUnicast) | Verdict::Unicast(_) => ensure!(
                MacAddr(dst).is_unicast(),
                "{:?} of a frame to {}",
                d.verdict,
                MacAddr(dst)
            ),
            _ => {}
        }
    }
    let Some(before) = before else {
        return Ok(());
    };
    check_fresh(
        sw,
        d,
        dst,
        src,
        frame.len(),
        ingress.map(|p| p.config.flags),
        before,
    )
}

/// The rest of [`check_decision`] for a decision just made: counted once in the
/// counter of its verdict, the table used as the verdict says, the source learned.
fn check_fresh(
    sw: &mut Switch,
    d: &Decision,
    dst: [u8; 6],
    src: [u8; 6],
    len: usize,
    flags: Option<PortFlags>,
    before: &Before,
) -> Checked {
    let config = *sw.config();
    let guard = sw.guard_stats();
    // Counted once, in the counter of its verdict; what the move guard and the
    // MAC limit did, on the ingress port.
    if let Some(c) = before.counters {
        let mut want = c;
        want.rx_frames += 1;
        want.rx_bytes += len as u64;
        match d.verdict {
            Verdict::Unicast(_) => want.unicast += 1,
            Verdict::Flood(FloodKind::UnknownUnicast) => want.unknown_unicast += 1,
            Verdict::Flood(_) => want.flood += 1,
            Verdict::Group(_) => want.snooped += 1,
            Verdict::Drop(r) => want.drops[drop_index(r)] += 1,
        }
        want.moves_blocked += guard.moves_blocked - before.guard.moves_blocked;
        want.hold_downs += guard.hold_downs - before.guard.hold_downs;
        want.guard_shutdowns += guard.shutdowns - before.guard.shutdowns;
        want.mac_limit_refused += guard.mac_limit_refused - before.guard.mac_limit_refused;
        let got = sw.port(d.ingress).map(|p| p.counters);
        ensure_eq!(
            got,
            Some(want),
            "counters of {:?} after {:?}",
            d.ingress,
            d.verdict
        );
    } else {
        ensure!(flags.is_none(), "a port appeared");
    }
    if config.hub {
        ensure_eq!(sw.fdb().stats().learned, before.learned, "a hub learned");
        return Ok(());
    }

    // The table as the decision used it.
    let aging = config.fdb.aging_time;
    match d.verdict {
        Verdict::Unicast(out) => {
            let used = find(sw, d.vid, dst);
            ensure!(
                used.is_some_and(|e| e.port == out && (e.is_static || e.age < aging)),
                "unicast to {out:?} without a live entry: {used:?}"
            );
        }
        Verdict::Flood(FloodKind::UnknownUnicast) => {
            let used = find(sw, d.vid, dst);
            ensure!(used.is_none(), "known destination flooded: {used:?}");
        }
        Verdict::Drop(DropReason::SamePort) => {
            let used = find(sw, d.vid, dst);
            ensure!(
                used.is_some_and(|e| e.port == d.ingress),
                "same-port drop: {used:?}"
            );
            // Hairpin never sends a tunnel's frames back in (split horizon).
            let tunnel = sw.port(d.ingress).is_some_and(|p| p.config.tunnel);
            ensure!(
                tunnel || !flags.is_some_and(|f| f.hairpin),
                "same-port drop on a hairpin port"
            );
        }
        Verdict::Drop(DropReason::EgressDown) => {
            let used = find(sw, d.vid, dst);
            ensure!(
                used.is_some_and(|e| !sw.port(e.port).is_some_and(|p| p.up)),
                "egress-down without an entry to a port down or absent: {used:?}"
            );
        }
        Verdict::Drop(DropReason::VlanEgress) => {
            let used = find(sw, d.vid, dst);
            let admits = used
                .and_then(|e| sw.port(e.port))
                .map(|p| p.config.vlan.admits(d.vid));
            ensure!(
                config.vlan_aware && admits == Some(false),
                "vlan-egress without an entry to a port that does not carry VLAN {}: {used:?}",
                d.vid
            );
        }
        _ => {}
    }

    // Learned, unless the frame was refused before learning, the port does not
    // learn, learning is off, or the table, the MAC limit or the move guard
    // refused it. Link-local frames are learned from before they are dropped,
    // except PAUSE, which teaches nothing.
    let pause = link_local(dst) == Some(PAUSE);
    let stats = sw.fdb().stats();
    if pause {
        ensure_eq!(
            (stats.learned, stats.moved),
            (before.learned, before.moved),
            "PAUSE taught the table"
        );
    }
    let pre_learning = pause
        || matches!(
            d.verdict,
            Verdict::Drop(
                DropReason::Runt
                    | DropReason::BadSource
                    | DropReason::VlanIngress
                    | DropReason::IngressDown
            )
        );
    let learns = flags.is_some_and(|f| f.learning);
    let refused = stats.refused > before.refused || guard != before.guard;
    if !pre_learning && learns && !aging.is_zero() && !refused {
        let entry = find(sw, d.vid, src);
        ensure!(
            entry.is_some_and(|e| e.is_static || e.port == d.ingress),
            "source {} not learned on {:?}: {entry:?}",
            MacAddr(src),
            d.ingress
        );
    }
    if aging.is_zero() {
        ensure_eq!(stats.learned, before.learned, "learned with aging 0");
    }
    Ok(())
}

/// What must hold of the whole switch between steps. `last_clock` is the
/// table's clock after the step before; returns the clock now.
pub fn check_switch(sw: &mut Switch, last_clock: Instant) -> Checked<Instant> {
    let clock = sw.fdb().clock();
    ensure!(clock >= last_clock, "the table's clock went back");
    let fdb_config = *sw.fdb().config();
    let stats = sw.fdb().stats();
    ensure!(
        stats.current <= u64::from(fdb_config.capacity),
        "{} entries, capacity {}",
        stats.current,
        fdb_config.capacity
    );
    ensure_eq!(sw.fdb().len() as u64, stats.current, "the table's length");
    let entries = entries_now(sw);
    ensure_eq!(sw.fdb().stats(), stats, "listing changed the table");
    let dynamic: Vec<&FdbEntry> = entries.iter().filter(|e| !e.is_static).collect();
    ensure_eq!(dynamic.len() as u64, stats.current, "dynamic count");
    ensure_eq!(
        (entries.len() - dynamic.len()) as u64,
        stats.statics,
        "static count"
    );
    let mut keys = BTreeSet::new();
    for e in &entries {
        ensure!(keys.insert((e.vid, e.mac)), "{e:?} listed twice");
        ensure!(e.vid < 4096, "{e:?}");
        ensure_eq!(
            sw.fdb().get(e.vid, e.mac),
            Some(e.port),
            "listed {e:?} but the index disagrees"
        );
    }
    let mut per_port: BTreeMap<PortId, usize> = BTreeMap::new();
    for e in dynamic {
        ensure!(e.age < fdb_config.aging_time, "entry past its aging: {e:?}");
        ensure!(
            sw.port(e.port).is_some_and(|p| p.up),
            "dynamic entry on a port down or removed: {e:?}"
        );
        *per_port.entry(e.port).or_default() += 1;
    }
    for (id, p) in sw.ports() {
        ensure_eq!(
            sw.fdb().port_len(id),
            per_port.get(&id).copied().unwrap_or(0),
            "entries of {id:?}"
        );
        let c = &p.counters;
        let egress_drops = c.drops(DropReason::TooBig)
            + c.drops(DropReason::TxFull)
            + c.drops(DropReason::NoRemote)
            + c.drops(DropReason::TxDown);
        ensure_eq!(
            c.rx_frames,
            c.unicast + c.flood + c.unknown_unicast + c.total_drops() - egress_drops,
            "port {id:?}: a received frame has no counter"
        );
    }
    Ok(clock)
}

/// The bytes a frame should leave a port in `mode` with, written from the
/// modes' definitions: access ports send untagged, trunks tagged except the
/// native VLAN; a tag that came in keeps its priority bits.
pub fn retagged(mode: &VlanMode, d: &Decision, frame: &[u8]) -> Vec<u8> {
    let tagged_out = match mode {
        VlanMode::Access(_) => false,
        VlanMode::Trunk { native, .. } => *native != Some(d.vid),
    };
    let mut out = frame[..12].to_vec();
    let priority = if d.tagged {
        assert!(
            frame.len() >= 18 && frame[12..14] == TPID_8021Q.to_be_bytes(),
            "tagged decision on a frame without a whole 802.1Q tag"
        );
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

/// What one port sent and had refused through `forward` alone, which a switch
/// fed through `decide` never counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tx {
    /// Frames sent.
    pub frames: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Frames refused as too big.
    pub too_big: u64,
    /// Frames refused for a full queue.
    pub full: u64,
    /// Frames a tunnel port had no remote endpoint for.
    pub no_remote: u64,
    /// Frames not handed to the port because it went down after their
    /// decision, in the same batch.
    pub down: u64,
}

/// [`Tx`] per port number.
pub type TxTotals = BTreeMap<u16, Tx>;

/// `a` (fed through `forward`) and `b` (through `decide`) agree on everything
/// but what `forward` sent and had refused, which is in `tx`.
pub fn compare_switches(a: &mut Switch, b: &mut Switch, tx: &TxTotals) -> Checked {
    let pa: Vec<_> = a.ports().map(|(id, p)| (id, p.clone())).collect();
    let pb: Vec<_> = b.ports().map(|(id, p)| (id, p.clone())).collect();
    ensure_eq!(pa.len(), pb.len(), "port count");
    for ((ia, sa), (ib, sb)) in pa.iter().zip(&pb) {
        ensure_eq!(ia, ib, "port numbers");
        ensure_eq!(sa.config, sb.config, "port {ia:?} config");
        ensure_eq!(sa.up, sb.up, "port {ia:?} state");
        ensure_eq!(sa.shutdown_until, sb.shutdown_until, "port {ia:?} shutdown");
        let mut want = sb.counters;
        if let Some(t) = tx.get(&ia.0) {
            want.tx_frames += t.frames;
            want.tx_bytes += t.bytes;
            want.drops[drop_index(DropReason::TooBig)] += t.too_big;
            want.drops[drop_index(DropReason::TxFull)] += t.full;
            want.drops[drop_index(DropReason::NoRemote)] += t.no_remote;
            want.drops[drop_index(DropReason::TxDown)] += t.down;
        }
        ensure_eq!(sa.counters, want, "port {ia:?} counters");
    }
    ensure_eq!(a.fdb().clock(), b.fdb().clock(), "clocks");
    ensure_eq!(a.fdb().stats(), b.fdb().stats(), "FDB totals");
    ensure_eq!(a.guard_stats(), b.guard_stats(), "guard totals");
    ensure_eq!(entries_now(a), entries_now(b), "FDB contents");
    Ok(())
}

/// Ports as (number, up, flags, VLAN mode, counters, end of a shutdown).
pub(crate) type PortView = (
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

/// The switch and the model agree on everything observable: the table's
/// clock, totals and contents, the ports and the guard's totals.
pub fn compare_with_model(sw: &mut Switch, m: &Model) -> Checked {
    ensure_eq!(sw.fdb().clock(), Instant::from_millis(m.fdb.clock), "clock");
    let stats = sw.fdb().stats();
    ensure_eq!(stats, m.fdb.stats(), "FDB totals");
    ensure_eq!(entries_now(sw), m.fdb.listing(), "FDB contents");
    ensure_eq!(sw.fdb().stats(), stats, "listing the FDB changed it");
    ensure_eq!(real_ports(sw), m.port_views(), "ports");
    ensure_eq!(sw.guard_stats(), m.guard_stats, "guard totals");
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::frame::{Addr, FrameSpec};
    use crate::op::{Cfg, PortSpec};
    use crate::run::build;

    fn cfg() -> Cfg {
        Cfg {
            ports: vec![PortSpec::default(); 3],
            ..Cfg::default()
        }
    }

    fn frame(dst: Addr, src: Addr) -> Vec<u8> {
        FrameSpec::new(dst, src).bytes()
    }

    /// Host 0 learned on port 0; then a frame from host 1 on port 1 to host 0,
    /// decided, with what the switch looked like just before.
    fn unicast() -> (Switch, Decision, Vec<u8>, Before) {
        let mut sw = build(&cfg());
        let t = Instant::from_millis(0);
        sw.decide(t, PortId(0), &frame(Addr::Broadcast, Addr::Host(0)));
        let f = frame(Addr::Host(0), Addr::Host(1));
        let before = Before::of(&sw, PortId(1));
        let d = sw.decide(t, PortId(1), &f);
        assert_eq!(d.verdict, Verdict::Unicast(PortId(0)));
        (sw, d, f, before)
    }

    #[test]
    fn a_decision_the_switch_made_passes() {
        let (mut sw, d, f, before) = unicast();
        assert_eq!(check_decision(&mut sw, &d, &f, Some(&before)), Ok(()));
        assert_eq!(check_decision(&mut sw, &d, &f, None), Ok(()));
        assert!(check_switch(&mut sw, Instant::from_millis(0)).is_ok());
    }

    #[test]
    fn a_decision_the_switch_did_not_make_fails() {
        let (mut sw, d, f, before) = unicast();
        let flood = Decision {
            verdict: Verdict::Flood(FloodKind::UnknownUnicast),
            ..d
        };
        let e = check_decision(&mut sw, &flood, &f, Some(&before)).unwrap_err();
        assert!(e.to_string().contains("counters of PortId(1)"), "{e}");

        let back_out = Decision {
            verdict: Verdict::Unicast(PortId(1)),
            ..d
        };
        let e = check_decision(&mut sw, &back_out, &f, None).unwrap_err();
        assert!(e.to_string().contains("without hairpin"), "{e}");

        sw.set_port_up(PortId(0), false).unwrap();
        let e = check_decision(&mut sw, &d, &f, None).unwrap_err();
        assert!(e.to_string().contains("down or absent"), "{e}");
    }

    #[test]
    fn a_clock_that_went_back_fails() {
        let (mut sw, ..) = unicast();
        let e = check_switch(&mut sw, Instant::from_millis(1)).unwrap_err();
        assert!(e.to_string().contains("clock went back"), "{e}");
    }

    #[test]
    fn switches_fed_otherwise_differ() {
        let (mut a, ..) = unicast();
        let (mut b, ..) = unicast();
        assert_eq!(compare_switches(&mut a, &mut b, &TxTotals::new()), Ok(()));
        let mut tx = TxTotals::new();
        tx.insert(
            0,
            Tx {
                frames: 1,
                ..Tx::default()
            },
        );
        let e = compare_switches(&mut a, &mut b, &tx).unwrap_err();
        assert!(e.to_string().contains("port PortId(0) counters"), "{e}");
        b.decide(
            Instant::from_millis(0),
            PortId(2),
            &frame(Addr::Host(0), Addr::Host(2)),
        );
        assert!(compare_switches(&mut a, &mut b, &TxTotals::new()).is_err());
    }
}
