//! Settings changed while the switch runs (a live reload): what stays learned,
//! what is flushed, what a smaller table keeps, and that the totals carry on.

use std::time::Duration;
use vswitch_core::fdb::{EvictionPolicy, FdbConfig, FlushScope};
use vswitch_core::{
    FloodKind, Instant, MacAddr, PortConfig, PortId, StormControl, Switch, SwitchConfig, Verdict,
    VlanMode,
};

fn mac(host: u16) -> MacAddr {
    let [a, b] = host.to_be_bytes();
    MacAddr([0x02, 0, 0, 0, a, b])
}

fn frame(dst: MacAddr, src: MacAddr) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(60, 0);
    f
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A switch with `ports` ports where host `h` was heard on port `h % ports`
/// at time `h` ms.
fn learned(config: SwitchConfig, ports: u16, hosts: u16) -> Switch {
    let mut sw = Switch::new(config).unwrap();
    for _ in 0..ports {
        sw.add_port(PortConfig::default()).unwrap();
    }
    for h in 0..hosts {
        let port = PortId(h % ports);
        sw.decide(at(u64::from(h)), port, &frame(MacAddr::BROADCAST, mac(h)));
    }
    sw
}

fn where_is(sw: &Switch, h: u16) -> Option<PortId> {
    sw.fdb().get(0, mac(h))
}

#[test]
fn settings_that_leave_the_table_alone_keep_every_entry() {
    let mut sw = learned(SwitchConfig::default(), 4, 100);
    let before = sw.fdb().stats();
    let mut c = *sw.config();
    c.hub = true;
    sw.reconfigure(c, at(1_000)).unwrap();
    assert!(sw.config().hub);
    c.hub = false;
    sw.reconfigure(c, at(1_000)).unwrap();
    assert_eq!(sw.fdb().stats(), before);
    for h in 0..100 {
        assert_eq!(where_is(&sw, h), Some(PortId(h % 4)), "host {h}");
    }
    // Known unicast still goes to its port alone.
    let d = sw.decide(at(1_001), PortId(1), &frame(mac(2), mac(1)));
    assert_eq!(d.verdict, Verdict::Unicast(PortId(2)));
}

#[test]
fn a_new_aging_time_keeps_ages_and_expires_what_is_now_too_old() {
    let mut sw = learned(SwitchConfig::default(), 2, 10);
    sw.fdb_mut().add_static(0, mac(500), PortId(1));
    let mut c = *sw.config();
    // At 10,005 ms hosts 0..=4 were last heard 10,001..10,005 ms ago.
    c.fdb.aging_time = Duration::from_millis(10_000);
    sw.reconfigure(c, at(10_005)).unwrap();
    for h in 0..10 {
        let want = (h > 5).then_some(PortId(h % 2));
        assert_eq!(where_is(&sw, h), want, "host {h}");
    }
    assert_eq!(
        sw.fdb().get(0, mac(500)),
        Some(PortId(1)),
        "static entry lost"
    );
    let s = sw.fdb().stats();
    assert_eq!((s.learned, s.current, s.statics), (10, 4, 1), "{s:?}");
    assert_eq!(s.expired, 6, "{s:?}");
    // Ages carried over: host 9 (heard at 9 ms) expires at 10,009 ms exactly.
    sw.advance(at(10_008));
    assert!(where_is(&sw, 9).is_some());
    sw.advance(at(10_009));
    assert!(where_is(&sw, 9).is_none());
}

#[test]
fn a_smaller_table_keeps_what_its_policy_would_have_kept() {
    // Fair eviction: the largest port loses its least recently seen entries.
    let mut config = SwitchConfig::default();
    config.fdb.capacity = 100;
    let mut sw = Switch::new(config).unwrap();
    for _ in 0..2 {
        sw.add_port(PortConfig::default()).unwrap();
    }
    // Port 0: hosts 0..60, port 1: hosts 60..100, heard in that order.
    for h in 0..100u16 {
        let port = PortId(u16::from(h >= 60));
        sw.decide(at(u64::from(h)), port, &frame(MacAddr::BROADCAST, mac(h)));
    }
    let mut c = *sw.config();
    c.fdb.capacity = 60;
    sw.reconfigure(c, at(200)).unwrap();
    // Re-learned oldest first into 60 places: port 0's first 60 fill it; each
    // of port 1's then evicts the oldest of the larger port, and of port 0 on
    // a tie (its oldest is older): port 0 loses hosts 0..=30, port 1 60..=68.
    assert_eq!(sw.fdb().stats().current, 60);
    assert_eq!(sw.fdb().stats().evicted, 40);
    assert_eq!(sw.fdb().port_len(PortId(0)), 29);
    assert_eq!(sw.fdb().port_len(PortId(1)), 31);
    for h in 0..100 {
        let kept = (31..60).contains(&h) || h >= 69;
        assert_eq!(where_is(&sw, h).is_some(), kept, "host {h}");
    }

    // Stop-learning keeps the oldest and refuses the rest.
    let mut config = SwitchConfig::default();
    config.fdb.policy = EvictionPolicy::StopLearning;
    let mut sw = learned(config, 2, 50);
    let mut c = *sw.config();
    c.fdb.capacity = 20;
    sw.reconfigure(c, at(100)).unwrap();
    assert_eq!(sw.fdb().stats().refused, 30);
    assert!((0..20).all(|h| where_is(&sw, h).is_some()));
    assert!((20..50).all(|h| where_is(&sw, h).is_none()));
}

#[test]
fn vlan_awareness_changed_flushes_learned_entries_only() {
    let mut sw = learned(SwitchConfig::default(), 2, 10);
    sw.fdb_mut().add_static(0, mac(500), PortId(1));
    let mut c = *sw.config();
    c.vlan_aware = true;
    sw.reconfigure(c, at(50)).unwrap();
    assert_eq!(sw.fdb().stats().current, 0);
    assert_eq!(sw.fdb().stats().statics, 1);
    // The move guard, on: the switch still decides (it holds no history).
    c.move_guard = Some(Default::default());
    sw.reconfigure(c, at(60)).unwrap();
    assert!(sw.config().move_guard.is_some());
}

#[test]
fn a_port_config_changed_flushes_only_for_a_new_vlan_mode() {
    let config = SwitchConfig {
        vlan_aware: true,
        ..SwitchConfig::default()
    };
    let mut sw = Switch::new(config).unwrap();
    let access = PortConfig {
        vlan: VlanMode::Access(1),
        ..PortConfig::default()
    };
    for _ in 0..3 {
        sw.add_port(access.clone()).unwrap();
    }
    for h in 0..6u16 {
        sw.decide(
            at(u64::from(h)),
            PortId(h % 3),
            &frame(MacAddr::BROADCAST, mac(h)),
        );
    }
    assert_eq!(sw.fdb().port_len(PortId(0)), 2);
    // The same settings: nothing happens.
    sw.set_port_config(PortId(0), access.clone()).unwrap();
    assert_eq!(sw.fdb().port_len(PortId(0)), 2);
    // Storm control on: entries stay, and the new limit is in force.
    let stormy = PortConfig {
        storm: StormControl {
            broadcast: Some(0),
            ..StormControl::default()
        },
        ..access.clone()
    };
    sw.set_port_config(PortId(0), stormy.clone()).unwrap();
    assert_eq!(sw.fdb().port_len(PortId(0)), 2);
    assert_eq!(sw.port(PortId(0)).unwrap().config, stormy);
    let d = sw.decide(at(10), PortId(0), &frame(MacAddr::BROADCAST, mac(0)));
    assert_ne!(
        d.verdict,
        Verdict::Flood(FloodKind::Broadcast),
        "storm limit not applied"
    );
    // Another VLAN: that port's entries go, the others' stay.
    let moved = PortConfig {
        vlan: VlanMode::Access(2),
        ..access
    };
    sw.set_port_config(PortId(1), moved).unwrap();
    assert_eq!(sw.fdb().port_len(PortId(1)), 0);
    assert_eq!(sw.fdb().port_len(PortId(2)), 2);
    assert_eq!(sw.fdb_mut().flush_all(FlushScope::Dynamic), 4);
}

#[test]
fn a_bad_setting_changes_nothing() {
    let mut sw = learned(SwitchConfig::default(), 2, 10);
    let before = *sw.config();
    let mut c = before;
    c.fdb.capacity = u32::MAX;
    assert!(sw.reconfigure(c, at(20)).is_err());
    assert_eq!(*sw.config(), before);
    assert_eq!(sw.fdb().stats().current, 10);
}

#[test]
fn fdb_config_is_what_it_was_told() {
    let mut sw = learned(SwitchConfig::default(), 2, 3);
    let mut c = *sw.config();
    c.fdb = FdbConfig {
        capacity: 7,
        ..c.fdb
    };
    sw.reconfigure(c, at(5)).unwrap();
    assert_eq!(sw.config().fdb.capacity, 7);
    assert_eq!(sw.fdb().config().capacity, 7);
}
