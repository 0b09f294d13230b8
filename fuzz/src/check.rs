//! Runs a [`Scenario`] and checks the switch's invariants after every step.
//!
//! Two switches are built alike: `a` gets every frame through
//! [`Switch::forward`] (a batch at a time, with transmit faults), `b` through
//! [`Switch::decide`] one frame at a time, its egress worked out by hand from
//! [`Switch::for_each_egress`] and the port modes. Each of `b`'s decisions is
//! checked against the forwarding rules right after it is made; `a` must decide
//! the same, deliver exactly the frames `b`'s decisions call for (grouped by
//! port, re-tagged for each port's mode) and count what it sent and what was
//! refused. Between steps both switches must hold the table and counter
//! invariants, and agree on everything observable.
//!
//! Every failed check panics, which is what libFuzzer reports.

use crate::ops::{host, Op, PortSpec, Scenario, TimeStep, TxFault};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vswitch_core::fdb::{EvictionPolicy, FdbConfig, FdbEntry, FlushScope};
use vswitch_core::frame::{ETHERNET_HEADER_LEN, TPID_8021Q};
use vswitch_core::{
    Decision, DropReason, FloodKind, FrameBatch, GroupForwardMask, Instant, MacAddr, PortConfig,
    PortCounters, PortId, Switch, SwitchConfig, TxError, Verdict, VlanMode,
};

/// Per port: (tx frames, tx bytes, too big, tx full) counted by `forward` alone.
type TxTotals = BTreeMap<u16, (u64, u64, u64, u64)>;

/// Runs `s`, panicking at the first broken invariant.
pub fn run(s: &Scenario) {
    let mut a = build(s);
    let mut b = build(s);
    let mut tx = TxTotals::new();
    let mut now = s.cfg.start;
    let mut clock = (a.fdb().clock(), b.fdb().clock());
    for (step, op) in s.ops.iter().enumerate() {
        let t = Instant::from_millis(now);
        match op {
            Op::Frame(port, spec) => {
                let frame = spec.bytes();
                frames(&mut a, &mut b, &mut tx, t, *port, &[frame], TxFault::NONE);
            }
            Op::Batch(port, specs, fault) => {
                let batch: Vec<Vec<u8>> = specs.iter().map(|f| f.bytes()).collect();
                frames(&mut a, &mut b, &mut tx, t, *port, &batch, *fault);
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
        clock.0 = check_switch(&mut a, clock.0, step);
        clock.1 = check_switch(&mut b, clock.1, step);
        compare(&mut a, &mut b, &tx, step);
    }
}

fn build(s: &Scenario) -> Switch {
    let c = &s.cfg;
    let config = SwitchConfig {
        fdb: FdbConfig {
            aging_time: Duration::from_millis(c.aging),
            capacity: c.capacity,
            policy: if c.stop_learning {
                EvictionPolicy::StopLearning
            } else {
                EvictionPolicy::FairLru
            },
            hash_seed: c.seed,
        },
        hub: c.hub,
        vlan_aware: c.vlan_aware,
        group_forward: GroupForwardMask::new(c.mask).expect("the decoder clears bits 0-2"),
        ..SwitchConfig::default()
    };
    let mut sw = Switch::new(config).expect("a valid configuration");
    for spec in &c.ports {
        add_port(&mut sw, spec);
    }
    sw
}

fn scope(all: bool) -> FlushScope {
    if all {
        FlushScope::All
    } else {
        FlushScope::Dynamic
    }
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

/// Every operation other than frames.
fn admin(sw: &mut Switch, now: &mut u64, op: &Op) {
    let t = Instant::from_millis(*now);
    let aging = sw.fdb().config().aging_time.as_millis() as u64;
    match op {
        Op::Frame(..) | Op::Batch(..) => unreachable!("frames are not admin"),
        Op::Time(s) => apply_time(now, *s, aging),
        Op::Sweep => sw.fdb_mut().advance(t),
        Op::Lookup(vid, h) => {
            let mac = MacAddr(host(*h));
            let got = sw.fdb_mut().lookup(t, *vid, mac);
            let clock = sw.fdb().clock();
            let listed = sw
                .fdb_mut()
                .entries(clock)
                .find(|e| e.vid == *vid && e.mac == mac)
                .map(|e| e.port);
            assert_eq!(
                got, listed,
                "lookup of {mac} in VLAN {vid} disagrees with the listing"
            );
        }
        Op::SetUp(port, up) => {
            let _ = sw.set_port_up(PortId(*port), *up);
        }
        Op::AddPort(spec) => add_port(sw, spec),
        Op::RemovePort(port) => {
            let _ = sw.remove_port(PortId(*port));
            assert!(sw.port(PortId(*port)).is_none(), "port {port} still there");
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

fn tx_result(fault: TxFault, port: PortId, bytes: &[u8]) -> Result<(), TxError> {
    if bytes.len() > fault.mtu {
        Err(TxError::TooBig)
    } else if port.0 < 16 && fault.full & (1 << port.0) != 0 {
        Err(TxError::Full)
    } else {
        Ok(())
    }
}

/// A batch of frames in on `port`: `b` decides them one by one and each
/// decision is checked; `a` forwards them as one batch and must agree.
fn frames(
    a: &mut Switch,
    b: &mut Switch,
    tx: &mut TxTotals,
    t: Instant,
    port: u16,
    frames: &[Vec<u8>],
    fault: TxFault,
) {
    let ingress = PortId(port);
    let mut batch = FrameBatch::with_capacity(frames.len());
    for f in frames {
        batch.push(f);
    }
    assert_eq!(batch.len(), frames.len());

    let mut decisions = Vec::new();
    let mut expected = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(batch.get(i), &f[..], "the batch changed frame {i}");
        let before = Before {
            counters: b.port(ingress).map(|p| p.counters),
            refused: b.fdb().stats().refused,
            learned: b.fdb().stats().learned,
            moved: b.fdb().stats().moved,
        };
        let d = b.decide(t, ingress, f);
        check_decision(b, &d, f, Some(&before));
        decisions.push(d);
        b.for_each_egress(&d, |out| expected.push((out, i)));
    }

    let mut sent = Vec::new();
    let got = a.forward(t, ingress, &batch, |e| {
        sent.push((e.port, e.frame.to_vec()));
        tx_result(fault, e.port, e.frame)
    });
    assert_eq!(
        got,
        &decisions[..],
        "forward decided otherwise than decide"
    );
    for (d, f) in decisions.iter().zip(frames) {
        check_decision(a, d, f, None);
    }

    // Grouped by port in port order, frames in arrival order within a port.
    expected.sort_by_key(|&(out, i)| (out, i));
    let config = *b.config();
    let mut want = Vec::new();
    for (out, i) in expected {
        let bytes = if config.vlan_aware && !config.hub {
            let mode = &b.port(out).expect("egress to a port").config.vlan;
            retagged(mode, &decisions[i], &frames[i])
        } else {
            frames[i].clone()
        };
        let totals = tx.entry(out.0).or_default();
        match tx_result(fault, out, &bytes) {
            Ok(()) => {
                totals.0 += 1;
                totals.1 += bytes.len() as u64;
            }
            Err(TxError::TooBig) => totals.2 += 1,
            Err(TxError::Full) => totals.3 += 1,
        }
        want.push((out, bytes));
    }
    assert_eq!(sent, want, "forward delivered otherwise than decided");
}

/// The bytes a frame should leave a port in `mode` with, from the modes'
/// definitions: access ports send untagged, trunks tagged except the native
/// VLAN; a tag that came in keeps its priority bits.
fn retagged(mode: &VlanMode, d: &Decision, frame: &[u8]) -> Vec<u8> {
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

/// What the switch looked like just before a decision.
struct Before {
    counters: Option<PortCounters>,
    refused: u64,
    learned: u64,
    moved: u64,
}

/// The link-local index of PAUSE, 01:80:C2:00:00:01.
const PAUSE: u8 = 0x01;

fn is_link_local(m: [u8; 6]) -> Option<u8> {
    (m[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && m[5] <= 0x0f).then_some(m[5])
}

fn egress_of(sw: &Switch, d: &Decision) -> Vec<PortId> {
    let mut v = Vec::new();
    sw.for_each_egress(d, |p| v.push(p));
    v
}

fn entries_now(sw: &mut Switch) -> Vec<FdbEntry> {
    let clock = sw.fdb().clock();
    let mut v: Vec<FdbEntry> = sw.fdb_mut().entries(clock).collect();
    v.sort_by_key(|e| (e.vid, e.mac, e.port));
    v
}

fn find(sw: &mut Switch, vid: u16, mac: [u8; 6]) -> Option<FdbEntry> {
    entries_now(sw)
        .into_iter()
        .find(|e| e.vid == vid && e.mac == MacAddr(mac))
}

/// The rules for one decision on `frame`. With `before` the decision has just
/// been made, nothing else since: its counting, learning and table use are
/// checked too.
fn check_decision(sw: &mut Switch, d: &Decision, frame: &[u8], before: Option<&Before>) {
    let config = *sw.config();
    let egress = egress_of(sw, d);
    let ingress = sw.port(d.ingress).cloned();
    let mut seen = BTreeSet::new();
    for out in &egress {
        assert!(seen.insert(*out), "{out:?} sent the frame twice");
        let p = sw.port(*out);
        assert!(p.is_some_and(|p| p.up), "sent to {out:?}, down or absent");
        if *out == d.ingress {
            assert!(!config.hub, "a hub sent a frame back out of its ingress");
            assert!(
                ingress.as_ref().is_some_and(|p| p.config.flags.hairpin),
                "back out of ingress {:?} without hairpin",
                d.ingress
            );
        }
        if config.vlan_aware && !config.hub {
            assert!(
                p.is_some_and(|p| p.config.vlan.admits(d.vid)),
                "VLAN {} leaked to {out:?}",
                d.vid
            );
        }
    }
    if matches!(d.verdict, Verdict::Drop(_)) {
        assert!(egress.is_empty(), "a dropped frame was sent");
    }
    if !config.vlan_aware || config.hub {
        assert_eq!(
            (d.vid, d.tagged),
            (0, false),
            "VLAN on a VLAN-unaware switch"
        );
    }
    assert_eq!(
        matches!(d.verdict, Verdict::Flood(FloodKind::Hub)),
        config.hub && !matches!(d.verdict, Verdict::Drop(_)),
        "hub floods and only hub floods: {:?}",
        d.verdict
    );
    let up = ingress.as_ref().is_some_and(|p| p.up);
    if !up {
        assert_eq!(d.verdict, Verdict::Drop(DropReason::IngressDown));
    }
    if frame.len() < ETHERNET_HEADER_LEN {
        assert!(egress.is_empty(), "a runt was sent");
        if up {
            assert_eq!(d.verdict, Verdict::Drop(DropReason::Runt));
        }
        return;
    }
    let dst: [u8; 6] = frame[..6].try_into().expect("14 bytes");
    let src: [u8; 6] = frame[6..12].try_into().expect("14 bytes");
    if config.hub {
        if up {
            assert_eq!(d.verdict, Verdict::Flood(FloodKind::Hub));
        }
        if let Some(before) = before {
            assert_eq!(sw.fdb().stats().learned, before.learned, "a hub learned");
        }
    } else {
        if !MacAddr(src).is_valid_source() {
            assert!(
                matches!(d.verdict, Verdict::Drop(_)),
                "bad source {} passed",
                MacAddr(src)
            );
        }
        if let Some(x) = is_link_local(dst) {
            if !config.group_forward.forwards(x) {
                assert!(
                    matches!(d.verdict, Verdict::Drop(_)),
                    "link-local 01:80:c2:00:00:{x:02x} passed"
                );
            }
        }
        if config.vlan_aware
            && up
            && frame[12..14] == TPID_8021Q.to_be_bytes()
            && frame.len() < 18
            && MacAddr(src).is_valid_source()
        {
            assert_eq!(d.verdict, Verdict::Drop(DropReason::Runt), "cut 802.1Q tag");
        }
        match d.verdict {
            Verdict::Flood(FloodKind::Broadcast) => assert_eq!(dst, [0xff; 6]),
            Verdict::Flood(FloodKind::Multicast) => {
                assert!(MacAddr(dst).is_multicast() && dst != [0xff; 6])
            }
            Verdict::Flood(FloodKind::UnknownUnicast) | Verdict::Unicast(_) => {
                assert!(MacAddr(dst).is_unicast())
            }
            _ => {}
        }
    }
    let Some(before) = before else { return };

    // Counted once, in the counter of its verdict.
    if let Some(c) = before.counters {
        let mut want = c;
        want.rx_frames += 1;
        want.rx_bytes += frame.len() as u64;
        match d.verdict {
            Verdict::Unicast(_) => want.unicast += 1,
            Verdict::Flood(FloodKind::UnknownUnicast) => want.unknown_unicast += 1,
            Verdict::Flood(_) => want.flood += 1,
            Verdict::Drop(r) => {
                let i = DropReason::ALL
                    .iter()
                    .position(|x| *x == r)
                    .expect("a reason");
                want.drops[i] += 1;
            }
        }
        let got = sw.port(d.ingress).map(|p| p.counters);
        assert_eq!(
            got,
            Some(want),
            "counters of {:?} after {:?}",
            d.ingress,
            d.verdict
        );
    } else {
        assert!(ingress.is_none());
    }
    if config.hub {
        return;
    }

    // The table as the decision used it.
    let aging = config.fdb.aging_time;
    match d.verdict {
        Verdict::Unicast(out) => {
            let used = find(sw, d.vid, dst);
            assert!(
                used.is_some_and(|e| e.port == out && (e.is_static || e.age < aging)),
                "unicast to {out:?} without a live entry: {used:?}"
            );
        }
        Verdict::Flood(FloodKind::UnknownUnicast) => {
            let used = find(sw, d.vid, dst);
            assert!(used.is_none(), "known destination flooded: {used:?}");
        }
        Verdict::Drop(DropReason::SamePort) => {
            let used = find(sw, d.vid, dst);
            assert!(
                used.is_some_and(|e| e.port == d.ingress),
                "same-port drop: {used:?}"
            );
            assert!(!ingress.as_ref().is_some_and(|p| p.config.flags.hairpin));
        }
        Verdict::Drop(DropReason::EgressDown) => {
            let used = find(sw, d.vid, dst).expect("egress-down without an entry");
            assert!(
                !sw.port(used.port).is_some_and(|p| p.up),
                "egress up: {used:?}"
            );
        }
        Verdict::Drop(DropReason::VlanEgress) => {
            let used = find(sw, d.vid, dst).expect("vlan-egress without an entry");
            let p = sw.port(used.port).expect("vlan-egress to a port");
            assert!(config.vlan_aware && !p.config.vlan.admits(d.vid));
        }
        _ => {}
    }

    // Learned, unless the frame was refused before learning, the port does not
    // learn, learning is off, or the table refused it. Link-local frames are
    // learned from before they are dropped, except PAUSE, which teaches nothing.
    let pause = is_link_local(dst) == Some(PAUSE);
    if pause {
        let s = sw.fdb().stats();
        assert_eq!(
            (s.learned, s.moved),
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
    let learns = ingress.as_ref().is_some_and(|p| p.config.flags.learning);
    if !pre_learning && learns && !aging.is_zero() {
        let refused = sw.fdb().stats().refused > before.refused;
        let entry = find(sw, d.vid, src);
        assert!(
            refused || entry.is_some_and(|e| e.is_static || e.port == d.ingress),
            "source {} not learned on {:?}: {entry:?}",
            MacAddr(src),
            d.ingress
        );
    }
    if aging.is_zero() {
        assert_eq!(
            sw.fdb().stats().learned,
            before.learned,
            "learned with aging 0"
        );
    }
}

/// What must hold of the whole switch between steps. Returns the table's clock.
fn check_switch(sw: &mut Switch, last_clock: Instant, step: usize) -> Instant {
    let clock = sw.fdb().clock();
    assert!(
        clock >= last_clock,
        "step {step}: the table's clock went back"
    );
    let fdb_config = *sw.fdb().config();
    let stats = sw.fdb().stats();
    assert!(
        stats.current <= u64::from(fdb_config.capacity),
        "step {step}: {} entries, capacity {}",
        stats.current,
        fdb_config.capacity
    );
    assert_eq!(sw.fdb().len() as u64, stats.current);
    let entries = entries_now(sw);
    assert_eq!(
        sw.fdb().stats(),
        stats,
        "step {step}: listing changed the table"
    );
    let dynamic: Vec<&FdbEntry> = entries.iter().filter(|e| !e.is_static).collect();
    assert_eq!(
        dynamic.len() as u64,
        stats.current,
        "step {step}: dynamic count"
    );
    assert_eq!(
        (entries.len() - dynamic.len()) as u64,
        stats.statics,
        "step {step}: static count"
    );
    let mut keys = BTreeSet::new();
    for e in &entries {
        assert!(
            keys.insert((e.vid, e.mac)),
            "step {step}: {e:?} listed twice"
        );
        assert!(e.vid < 4096, "step {step}: {e:?}");
        assert_eq!(
            sw.fdb().get(e.vid, e.mac),
            Some(e.port),
            "step {step}: listed {e:?} but the index disagrees"
        );
    }
    let mut per_port: BTreeMap<PortId, usize> = BTreeMap::new();
    for e in dynamic {
        assert!(
            e.age < fdb_config.aging_time,
            "step {step}: entry past its aging: {e:?}"
        );
        assert!(
            sw.port(e.port).is_some_and(|p| p.up),
            "step {step}: dynamic entry on a port down or removed: {e:?}"
        );
        *per_port.entry(e.port).or_default() += 1;
    }
    for (id, _) in sw.ports() {
        assert_eq!(
            sw.fdb().port_len(id),
            per_port.get(&id).copied().unwrap_or(0),
            "step {step}: entries of {id:?}"
        );
    }
    for (id, p) in sw.ports() {
        let c = &p.counters;
        let egress_drops = c.drops(DropReason::TooBig) + c.drops(DropReason::TxFull);
        assert_eq!(
            c.rx_frames,
            c.unicast + c.flood + c.unknown_unicast + c.total_drops() - egress_drops,
            "step {step}: port {id:?}: a received frame has no counter"
        );
    }
    clock
}

/// `a` (forward) and `b` (decide) agree on everything but what `forward` sent.
fn compare(a: &mut Switch, b: &mut Switch, tx: &TxTotals, step: usize) {
    let pa: Vec<_> = a.ports().map(|(id, p)| (id, p.clone())).collect();
    let pb: Vec<_> = b.ports().map(|(id, p)| (id, p.clone())).collect();
    assert_eq!(pa.len(), pb.len(), "step {step}: port count");
    for ((ia, sa), (ib, sb)) in pa.iter().zip(&pb) {
        assert_eq!(ia, ib, "step {step}: port numbers");
        assert_eq!(sa.config, sb.config, "step {step}: port {ia:?} config");
        assert_eq!(sa.up, sb.up, "step {step}: port {ia:?} state");
        let mut want = sb.counters;
        if let Some(&(frames, bytes, big, full)) = tx.get(&ia.0) {
            want.tx_frames += frames;
            want.tx_bytes += bytes;
            let i = |r: DropReason| {
                DropReason::ALL
                    .iter()
                    .position(|x| *x == r)
                    .expect("a reason")
            };
            want.drops[i(DropReason::TooBig)] += big;
            want.drops[i(DropReason::TxFull)] += full;
        }
        assert_eq!(sa.counters, want, "step {step}: port {ia:?} counters");
    }
    assert_eq!(a.fdb().clock(), b.fdb().clock(), "step {step}: clocks");
    assert_eq!(a.fdb().stats(), b.fdb().stats(), "step {step}: FDB totals");
    assert_eq!(entries_now(a), entries_now(b), "step {step}: FDB contents");
}

/// Adds a port as `spec` describes it, up or down.
fn add_port(sw: &mut Switch, spec: &PortSpec) {
    let id = sw
        .add_port(PortConfig {
            flags: spec.flags,
            vlan: spec.mode.to_real(),
            ..PortConfig::default()
        })
        .expect("room for a port");
    sw.set_port_up(id, spec.up).expect("the port just added");
}
