use alloc::vec;
use alloc::vec::Vec;

use super::bpdu::{flags, Bpdu, BpduKind, BridgeId, Times};
use super::*;

const ME: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x10]);
/// A better bridge than ME (lower priority).
fn other_root() -> BridgeId {
    BridgeId::new(4096, MacAddr([2, 0, 0, 0, 0, 0x99]))
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn bridge(ports: &[StpPortConfig]) -> Stp {
    let mut s = Stp::new(StpConfig::default(), ME);
    for (i, c) in ports.iter().enumerate() {
        s.add_port(
            t(0),
            PortId(i as u16),
            MacAddr([2, 0, 0, 0, 1, i as u8]),
            *c,
        );
    }
    s
}

fn no_auto_edge() -> StpPortConfig {
    StpPortConfig {
        auto_edge: false,
        ..StpPortConfig::default()
    }
}

/// A designated BPDU from the better root, sent by the root itself.
fn from_root(kind: BpduKind, flag_bits: u8) -> Vec<u8> {
    let b = Bpdu {
        kind,
        version: if kind == BpduKind::Rst { 2 } else { 0 },
        flags: flag_bits,
        root: other_root(),
        root_path_cost: 0,
        bridge: other_root(),
        port: 0x8001,
        times: Times {
            message_age: 0,
            max_age: 20,
            hello: 2,
            forward_delay: 15,
        },
    };
    let mut f = Vec::new();
    b.emit(other_root().mac(), &mut f);
    f
}

fn sent(s: &mut Stp) -> Vec<(PortId, Bpdu)> {
    let mut out = Vec::new();
    s.drain_transmit(|p, f| out.push((p, Bpdu::parse(f).expect("we send valid BPDUs"))));
    out
}

fn flushed(s: &mut Stp) -> Vec<PortId> {
    let mut out = Vec::new();
    s.drain_flushes(|p| out.push(p));
    out.sort();
    out.dedup();
    out
}

#[test]
fn a_lone_bridge_is_root_and_proposes() {
    let mut s = bridge(&[no_auto_edge()]);
    assert_eq!(s.root_id(), s.bridge_id());
    assert_eq!(s.root_port(), None);
    let out = sent(&mut s);
    assert_eq!(out.len(), 1);
    let b = out[0].1;
    assert_eq!(b.kind, BpduKind::Rst);
    assert!(b.has(flags::PROPOSAL));
    assert_eq!(b.role(), bpdu::WireRole::Designated);
    assert_eq!(b.bridge, s.bridge_id());
    assert_eq!(b.port, 0x8001);
    // Without an answer it takes the forward delays: learning at 15 s,
    // forwarding at 30 s.
    s.tick(t(14_900));
    assert_eq!(s.state(PortId(0)), State::Discarding);
    s.tick(t(15_000));
    assert_eq!(s.state(PortId(0)), State::Learning);
    s.tick(t(30_000));
    assert_eq!(s.state(PortId(0)), State::Forwarding);
}

#[test]
fn edge_ports_forward_at_once_and_auto_edge_after_the_edge_delay() {
    let admin = StpPortConfig {
        admin_edge: true,
        ..StpPortConfig::default()
    };
    let mut s = bridge(&[admin, StpPortConfig::default(), no_auto_edge()]);
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    assert!(s.status(PortId(0)).unwrap().edge);
    assert_eq!(s.state(PortId(1)), State::Discarding);
    s.tick(t(2_900));
    assert_eq!(s.state(PortId(1)), State::Discarding);
    s.tick(t(3_000));
    assert_eq!(s.state(PortId(1)), State::Forwarding);
    assert!(s.status(PortId(1)).unwrap().edge);
    assert_eq!(s.state(PortId(2)), State::Discarding);
    // Edge ports starting to forward are no topology change.
    assert_eq!(s.topology_changes(), 0);
    assert!(flushed(&mut s).is_empty());
    // A BPDU on an edge port makes it a bridge port again.
    s.receive(
        t(3_100),
        PortId(0),
        &from_root(BpduKind::Rst, 3 << flags::ROLE_SHIFT),
    );
    assert!(!s.status(PortId(0)).unwrap().edge);
    assert_eq!(s.root_port(), Some(PortId(0)));
}

#[test]
fn a_proposal_on_the_root_port_syncs_and_is_agreed() {
    let mut s = bridge(&[no_auto_edge(), no_auto_edge()]);
    // Port 1 forwards after the forward delays (no neighbour agreed).
    s.tick(t(15_000));
    s.tick(t(30_000));
    assert_eq!(s.state(PortId(1)), State::Forwarding);
    sent(&mut s);
    flushed(&mut s);
    let proposal = from_root(BpduKind::Rst, (3 << flags::ROLE_SHIFT) | flags::PROPOSAL);
    s.receive(t(30_100), PortId(0), &proposal);
    assert_eq!(s.root_id(), other_root());
    assert_eq!(s.role(PortId(0)), Role::Root);
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    // Sync: the designated port that was not agreed goes back to discarding
    // (and its entries go), then the root port agrees.
    assert_eq!(s.state(PortId(1)), State::Discarding);
    assert!(flushed(&mut s).contains(&PortId(1)));
    let out = sent(&mut s);
    let agreement = out
        .iter()
        .find(|(p, _)| *p == PortId(0))
        .expect("an agreement");
    assert!(agreement.1.has(flags::AGREEMENT));
    assert_eq!(agreement.1.role(), bpdu::WireRole::Root);
    assert_eq!(agreement.1.root, other_root());
    assert_eq!(agreement.1.root_path_cost, DEFAULT_PATH_COST);
    // Port 1 proposes in turn; an agreement from below makes it forward at once.
    let p1 = out
        .iter()
        .find(|(p, _)| *p == PortId(1))
        .expect("a proposal");
    assert!(p1.1.has(flags::PROPOSAL));
    let below = Bpdu {
        kind: BpduKind::Rst,
        version: 2,
        flags: (2 << flags::ROLE_SHIFT) | flags::AGREEMENT,
        root: other_root(),
        root_path_cost: 2 * DEFAULT_PATH_COST,
        bridge: BridgeId::new(32768, MacAddr([2, 0, 0, 0, 0, 0x20])),
        port: 0x8001,
        times: p1.1.times,
    };
    let mut f = Vec::new();
    below.emit(MacAddr([2, 0, 0, 0, 0, 0x20]), &mut f);
    s.receive(t(30_200), PortId(1), &f);
    assert_eq!(s.state(PortId(1)), State::Forwarding);
}

#[test]
fn a_topology_change_flushes_the_other_ports_and_propagates() {
    let mut s = bridge(&[no_auto_edge(), no_auto_edge(), no_auto_edge()]);
    let plain = from_root(BpduKind::Rst, 3 << flags::ROLE_SHIFT);
    let mut now = 0;
    // Past the forward delays and the TC while of ports 1 and 2 starting to forward.
    while now <= 36_000 {
        s.receive(t(now), PortId(0), &plain);
        s.tick(t(now));
        now += 1000;
    }
    assert_eq!(s.state(PortId(1)), State::Forwarding);
    assert_eq!(s.state(PortId(2)), State::Forwarding);
    sent(&mut s);
    flushed(&mut s);
    let before = s.topology_changes();
    s.receive(
        t(now),
        PortId(0),
        &from_root(BpduKind::Rst, (3 << flags::ROLE_SHIFT) | flags::TC),
    );
    assert_eq!(flushed(&mut s), vec![PortId(1), PortId(2)]);
    assert!(s.topology_changes() > before);
    let out = sent(&mut s);
    for port in [PortId(1), PortId(2)] {
        let b = out.iter().find(|(p, _)| *p == port).expect("TC sent on");
        assert!(b.1.has(flags::TC), "{port:?}");
    }
    assert!(
        out.iter().all(|(p, _)| *p != PortId(0)),
        "not back where it came from: {out:?}"
    );
    // TC while ends after hello + 1 s.
    s.tick(t(now + 3_100));
    s.tick(t(now + 4_000));
    let out = sent(&mut s);
    assert!(out.iter().all(|(_, b)| !b.has(flags::TC)));
}

#[test]
fn a_port_hearing_stp_speaks_stp_and_sends_tcns_until_acknowledged() {
    let mut s = bridge(&[no_auto_edge(), no_auto_edge()]);
    let config = from_root(BpduKind::Config, 0);
    // Within the migration delay the port keeps speaking RSTP.
    s.receive(t(1_000), PortId(0), &config);
    assert!(s.status(PortId(0)).unwrap().rstp);
    let mut now = 3_000;
    while now <= 31_000 {
        s.receive(t(now), PortId(0), &config);
        s.tick(t(now));
        now += 1000;
    }
    assert!(!s.status(PortId(0)).unwrap().rstp);
    assert!(s.status(PortId(1)).unwrap().rstp);
    assert_eq!(s.role(PortId(0)), Role::Root);
    // Port 1 started forwarding after the forward delays: a topology change,
    // which an STP root port reports with TCNs.
    assert_eq!(s.state(PortId(1)), State::Forwarding);
    let out = sent(&mut s);
    assert!(out
        .iter()
        .any(|(p, b)| *p == PortId(0) && b.kind == BpduKind::Tcn));
    assert!(out
        .iter()
        .all(|(p, b)| *p != PortId(1) || b.kind == BpduKind::Rst));
    // The root's acknowledgment stops them.
    s.receive(
        t(now),
        PortId(0),
        &from_root(BpduKind::Config, flags::TCA | flags::TC),
    );
    for i in 1..5 {
        s.tick(t(now + i * 1000));
    }
    assert!(sent(&mut s).iter().all(|(p, _)| *p != PortId(0)));
}

#[test]
fn a_tcn_on_a_designated_stp_port_is_acknowledged() {
    let mut s = bridge(&[no_auto_edge(), no_auto_edge()]);
    let mut tcn = Vec::new();
    Bpdu::tcn().emit(MacAddr([2, 0, 0, 0, 0, 0x30]), &mut tcn);
    s.tick(t(30_000));
    sent(&mut s);
    flushed(&mut s);
    s.receive(t(30_100), PortId(1), &tcn);
    assert!(!s.status(PortId(1)).unwrap().rstp);
    assert_eq!(flushed(&mut s), vec![PortId(0)]);
    let out = sent(&mut s);
    let ack = out
        .iter()
        .find(|(p, _)| *p == PortId(1))
        .expect("an answer");
    assert_eq!(ack.1.kind, BpduKind::Config);
    assert!(ack.1.has(flags::TCA));
}

#[test]
fn a_worse_neighbour_that_learns_as_designated_is_a_dispute() {
    let mut s = bridge(&[no_auto_edge()]);
    s.tick(t(15_000));
    s.tick(t(30_000));
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    flushed(&mut s);
    let worse = BridgeId::new(61440, MacAddr([2, 0, 0, 0, 0, 0x77]));
    let times = s.root_times();
    let inferior = |flag_bits: u8| {
        let b = Bpdu {
            kind: BpduKind::Rst,
            version: 2,
            flags: (3 << flags::ROLE_SHIFT) | flag_bits,
            root: worse,
            root_path_cost: 0,
            bridge: worse,
            port: 0x8001,
            times,
        };
        let mut f = Vec::new();
        b.emit(worse.mac(), &mut f);
        f
    };
    // Still discarding over there: it just has not heard us yet.
    s.receive(t(30_100), PortId(0), &inferior(0));
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    // Learning as designated although our information is better: it does
    // not hear us. Stop forwarding onto the link.
    s.receive(t(30_200), PortId(0), &inferior(flags::LEARNING));
    assert_eq!(s.state(PortId(0)), State::Discarding);
    assert_eq!(s.role(PortId(0)), Role::Designated);
    assert_eq!(flushed(&mut s), vec![PortId(0)]);
}

#[test]
fn received_information_ages_out() {
    let mut s = bridge(&[no_auto_edge()]);
    s.receive(
        t(0),
        PortId(0),
        &from_root(BpduKind::Rst, 3 << flags::ROLE_SHIFT),
    );
    assert_eq!(s.root_id(), other_root());
    s.tick(t(5_900));
    assert_eq!(s.root_id(), other_root());
    s.tick(t(6_000));
    assert_eq!(s.root_id(), s.bridge_id());
    assert_eq!(s.role(PortId(0)), Role::Designated);
}

#[test]
fn malformed_bpdus_are_counted_and_dropped() {
    let mut s = bridge(&[no_auto_edge()]);
    let mut bad = from_root(BpduKind::Rst, 3 << flags::ROLE_SHIFT);
    bad[17] = 1; // protocol identifier
    s.receive(t(0), PortId(0), &bad);
    s.receive(t(0), PortId(0), &bad[..20]);
    let c = s.status(PortId(0)).unwrap().counters;
    assert_eq!((c.rx, c.malformed), (0, 2));
    assert_eq!(s.root_id(), s.bridge_id());
}

#[test]
fn the_transmit_hold_count_limits_bpdus_per_second() {
    let mut s = bridge(&[no_auto_edge()]);
    sent(&mut s);
    let mut tcn = Vec::new();
    Bpdu::tcn().emit(MacAddr([2, 0, 0, 0, 0, 0x30]), &mut tcn);
    // Each TCN asks for an answer; only 6 a second may go (one went already).
    for i in 0..20 {
        s.receive(t(3_000 + i), PortId(0), &tcn);
    }
    assert!(sent(&mut s).len() <= 6);
}

#[test]
fn periodic_hellos_do_not_use_up_the_transmit_hold_count() {
    // Hello time 1 s: a hello each second. A counter that only drops by one
    // a second (802.1D-2004 txCount) would stay at whatever the burst left
    // in it; the hold count is a window: only the last second counts.
    let config = StpConfig {
        hello_time: 1,
        ..StpConfig::default()
    };
    let mut s = Stp::new(config, ME);
    s.add_port(t(0), PortId(0), MacAddr([2, 0, 0, 0, 1, 0]), no_auto_edge());
    sent(&mut s);
    let mut tcn = Vec::new();
    Bpdu::tcn().emit(MacAddr([2, 0, 0, 0, 0, 0x30]), &mut tcn);
    for i in 0..20 {
        s.receive(t(3_000 + i), PortId(0), &tcn);
    }
    assert!(sent(&mut s).len() <= 6);
    assert_eq!(s.status(PortId(0)).unwrap().counters.tx_held, 1);
    // Seven seconds of hellos, each sent.
    let mut hellos = 0;
    for ms in (3_100..10_000).step_by(100) {
        s.tick(t(ms));
        hellos += sent(&mut s).len();
    }
    assert!((6..=8).contains(&hellos), "{hellos} BPDUs in 7 s");
    // Three answers now, within one second: each goes at once.
    for ms in [10_050, 10_060, 10_070] {
        s.receive(t(ms), PortId(0), &tcn);
        let out = sent(&mut s);
        assert_eq!(out.len(), 1, "the answer at {ms} ms was held");
        assert!(out[0].1.has(flags::TCA), "{:?}", out[0].1);
    }
    assert_eq!(s.status(PortId(0)).unwrap().counters.tx_held, 1);
}

#[test]
fn settings_are_checked() {
    assert!(StpConfig::default().validate().is_ok());
    let bad = StpConfig {
        priority: 1000,
        ..StpConfig::default()
    };
    assert_eq!(bad.validate(), Err(StpConfigError::Priority(1000)));
    let bad = StpConfig {
        max_age: 40,
        forward_delay: 15,
        ..StpConfig::default()
    };
    assert_eq!(bad.validate(), Err(StpConfigError::Times));
    assert_eq!(path_cost_for_speed(1000), 20_000);
    assert_eq!(path_cost_for_speed(10), 2_000_000);
    assert_eq!(path_cost_for_speed(10_000_000), 2);
    assert_eq!(path_cost_for_speed(0), DEFAULT_PATH_COST);
}

fn events(s: &mut Stp) -> Vec<StpEvent> {
    let mut out = Vec::new();
    s.drain_events(|e| out.push(e));
    out
}

#[test]
fn bpdu_guard_shuts_an_edge_port_down_until_its_link_flaps_or_the_guard_is_cleared() {
    let guarded = StpPortConfig {
        admin_edge: true,
        bpdu_guard: true,
        ..StpPortConfig::default()
    };
    let edge = StpPortConfig {
        admin_edge: true,
        ..StpPortConfig::default()
    };
    let mut s = bridge(&[guarded, edge]);
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    events(&mut s);
    sent(&mut s);
    let rogue = from_root(BpduKind::Rst, 3 << flags::ROLE_SHIFT);
    s.receive(t(100), PortId(0), &rogue);
    let st = s.status(PortId(0)).unwrap();
    assert!(st.guard_tripped);
    assert_eq!((st.role, st.state), (Role::Disabled, State::Discarding));
    assert_eq!(st.counters.bpdu_guard_trips, 1);
    // The rogue bridge's information was not taken: we are still root.
    assert_eq!(s.root_id(), s.bridge_id());
    let ev = events(&mut s);
    assert!(ev.contains(&StpEvent::BpduGuardTripped {
        port: PortId(0),
        bridge: other_root()
    }));
    // Nothing is sent on a shut-down port, later BPDUs are dropped and counted.
    s.tick(t(5_000));
    assert!(sent(&mut s).iter().all(|(p, _)| *p != PortId(0)));
    s.receive(t(5_100), PortId(0), &rogue);
    let st = s.status(PortId(0)).unwrap();
    assert_eq!(st.counters.dropped.guarded, 2);
    assert_eq!(st.counters.bpdu_guard_trips, 1);
    assert_eq!(s.state(PortId(0)), State::Discarding);
    // An edge port without the guard only stops being an edge port.
    s.receive(t(5_200), PortId(1), &rogue);
    assert!(!s.status(PortId(1)).unwrap().guard_tripped);
    assert_eq!(s.root_port(), Some(PortId(1)));
    // Link down and up re-enables the port, an edge port forwarding again.
    s.set_enabled(t(6_000), PortId(0), false);
    s.set_enabled(t(6_100), PortId(0), true);
    assert!(!s.status(PortId(0)).unwrap().guard_tripped);
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    // Tripped again, then re-enabled by the explicit command.
    s.receive(t(6_200), PortId(0), &rogue);
    assert_eq!(s.status(PortId(0)).unwrap().counters.bpdu_guard_trips, 2);
    assert!(!s.clear_guard(t(6_300), PortId(1)), "not shut down");
    assert!(s.clear_guard(t(6_300), PortId(0)));
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    assert_eq!(s.role(PortId(0)), Role::Designated);
}

#[test]
fn bpdu_guard_needs_an_edge_port() {
    let c = StpPortConfig {
        bpdu_guard: true,
        ..StpPortConfig::default()
    };
    assert_eq!(c.validate(), Err(StpConfigError::BpduGuardNotEdge));
    assert!(StpPortConfig {
        admin_edge: true,
        ..c
    }
    .validate()
    .is_ok());
}

#[test]
fn root_guard_keeps_a_superior_root_out_until_its_bpdus_stop() {
    let guarded = StpPortConfig {
        root_guard: true,
        ..no_auto_edge()
    };
    let mut s = bridge(&[guarded, no_auto_edge()]);
    events(&mut s);
    let superior = from_root(BpduKind::Rst, (3 << flags::ROLE_SHIFT) | flags::PROPOSAL);
    let mut now = 0;
    while now <= 10_000 {
        s.receive(t(now), PortId(0), &superior);
        s.tick(t(now));
        let st = s.status(PortId(0)).unwrap();
        assert!(st.root_inconsistent, "at {now} ms");
        assert_eq!((st.role, st.state), (Role::Alternate, State::Discarding));
        // This bridge stays root: the superior root is not accepted.
        assert_eq!(s.root_id(), s.bridge_id());
        assert_eq!(s.root_port(), None);
        now += 1000;
    }
    assert_eq!(s.status(PortId(0)).unwrap().counters.root_guard_blocks, 1);
    let ev = events(&mut s);
    assert!(ev.contains(&StpEvent::RootGuardBlocking {
        port: PortId(0),
        root: other_root()
    }));
    assert!(!ev.iter().any(|e| matches!(e, StpEvent::RootChanged { .. })));
    // The same BPDU on an unguarded port is taken: that port becomes root port.
    let mut plain = bridge(&[no_auto_edge()]);
    plain.receive(t(0), PortId(0), &superior);
    assert_eq!(plain.root_port(), Some(PortId(0)));
    assert!(events(&mut plain).contains(&StpEvent::RootChanged {
        root: other_root(),
        port: Some(PortId(0))
    }));
    // The superior BPDUs stop: after 3 hellos (6 s) the port is designated
    // again and goes through the forward delays.
    let mut released_at = None;
    while now <= 60_000 {
        s.tick(t(now));
        let st = s.status(PortId(0)).unwrap();
        if !st.root_inconsistent && released_at.is_none() {
            released_at = Some(now);
            assert_eq!(st.role, Role::Designated);
        }
        now += 500;
    }
    let released_at = released_at.expect("released");
    assert!(released_at <= 10_000 + 6_500, "released at {released_at}");
    assert_eq!(s.state(PortId(0)), State::Forwarding);
    assert!(events(&mut s).contains(&StpEvent::RootGuardReleased { port: PortId(0) }));
}

#[test]
fn agreements_count_only_on_point_to_point_links() {
    for p2p in [
        PointToPoint::Auto,
        PointToPoint::ForceTrue,
        PointToPoint::ForceFalse,
    ] {
        for duplex in [true, false] {
            let c = StpPortConfig {
                point_to_point: p2p,
                ..no_auto_edge()
            };
            let mut s = bridge(&[c]);
            s.set_full_duplex(t(0), PortId(0), duplex);
            let is_p2p = match p2p {
                PointToPoint::Auto => duplex,
                PointToPoint::ForceTrue => true,
                PointToPoint::ForceFalse => false,
            };
            assert_eq!(s.status(PortId(0)).unwrap().p2p, is_p2p);
            let proposal = sent(&mut s);
            let b = proposal[0].1;
            // An agreement from a bridge below.
            let below = Bpdu {
                kind: BpduKind::Rst,
                version: 2,
                flags: (2 << flags::ROLE_SHIFT) | flags::AGREEMENT,
                root: s.bridge_id(),
                root_path_cost: DEFAULT_PATH_COST,
                bridge: BridgeId::new(32768, MacAddr([2, 0, 0, 0, 0, 0x20])),
                port: 0x8001,
                times: b.times,
            };
            let mut f = Vec::new();
            below.emit(MacAddr([2, 0, 0, 0, 0, 0x20]), &mut f);
            s.receive(t(100), PortId(0), &f);
            let expect = if is_p2p {
                State::Forwarding
            } else {
                State::Discarding
            };
            assert_eq!(s.state(PortId(0)), expect, "{p2p:?} full duplex {duplex}");
            // On a shared link the forward delays are the only way on.
            s.tick(t(15_000));
            s.tick(t(30_000));
            assert_eq!(s.state(PortId(0)), State::Forwarding);
        }
    }
}

#[test]
fn counters_by_kind_drop_reasons_and_the_last_topology_change() {
    let mut s = bridge(&[no_auto_edge(), no_auto_edge()]);
    sent(&mut s);
    let rst = from_root(BpduKind::Rst, 3 << flags::ROLE_SHIFT);
    let cfg = from_root(BpduKind::Config, flags::TC);
    s.receive(t(0), PortId(0), &rst);
    s.receive(t(4_000), PortId(0), &cfg);
    let mut short = rst.clone();
    short.truncate(20);
    s.receive(t(4_100), PortId(0), &short);
    let mut not_llc = rst.clone();
    not_llc[14] = 0xaa;
    s.receive(t(4_200), PortId(0), &not_llc);
    let mut old = from_root(BpduKind::Config, 0);
    old[17 + 27] = 20; // message age 20 s = max age
    s.receive(t(4_300), PortId(0), &old);
    let c = s.status(PortId(0)).unwrap().counters;
    assert_eq!((c.rx_kind.rst, c.rx_kind.config, c.rx_kind.tcn), (1, 1, 0));
    assert_eq!(c.rx, 2, "the too old one is counted as a drop only");
    assert_eq!(c.dropped.truncated, 1);
    assert_eq!(c.dropped.not_bpdu, 1);
    assert_eq!(c.dropped.too_old, 1);
    assert_eq!(c.malformed, 2);
    // The TC flag from the root at 4 s: notified on port 0 by the root.
    let last = s.last_topology_change().expect("a topology change");
    assert_eq!(last.port, PortId(0));
    assert_eq!(last.from, Some(other_root()));
    assert!(c.topology_changes >= 1);
    // Port 0 fell back to STP: what it sends now are Configuration BPDUs (none:
    // it is root port) and port 1 still speaks RSTP.
    s.tick(t(10_000));
    let out = sent(&mut s);
    let c1 = s.status(PortId(1)).unwrap().counters;
    assert!(c1.tx_kind.rst >= 1);
    assert_eq!(c1.tx, c1.tx_kind.rst + c1.tx_kind.config + c1.tx_kind.tcn);
    assert!(out.iter().any(|(p, _)| *p == PortId(1)));
}
