//! Every shipped scenario loads and runs, shows what its comment says, and the
//! same scenario and seed give byte-identical captures and JSON.

use std::path::{Path, PathBuf};
use vswitch_core::DropReason;
use vswitch_sim::{Scenario, SimReport, Simulation};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario) -> SimReport {
    Simulation::new(s).unwrap().run().unwrap()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vswitch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn every_scenario_file_has_a_comment_and_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("# "),
                "{} must start with a comment saying what it shows",
                path.display()
            );
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 11, "{n} scenarios");
}

#[test]
fn same_scenario_and_seed_give_identical_captures_and_json() {
    // Six hosts, pings, UDP flows with random sizes and gaps, TCP, and aging.
    let mut s = scenario("office");
    s.duration = vswitch_sim::units::Span(7_000_000_000);
    let mut outputs = Vec::new();
    for round in 0..2 {
        let dir = scratch_dir(&format!("determinism-{round}"));
        let mut sim = Simulation::new(&s).unwrap();
        sim.capture_to(&dir).unwrap();
        let report = sim.run().unwrap();
        assert!(
            report.switches[0].fdb.stats.expired > 0,
            "aging must play a part"
        );
        assert!(report.udp.iter().all(|u| u.received > 0));
        let json = serde_json::to_string_pretty(&report).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        let _ = std::fs::remove_dir_all(&dir);
        outputs.push((json, files));
    }
    let (json_a, files_a) = &outputs[0];
    let (json_b, files_b) = &outputs[1];
    assert_eq!(
        files_a.len(),
        6 + 6,
        "one capture per switch port and per host"
    );
    assert!(files_a.iter().all(|(_, bytes)| bytes.len() > 24));
    assert_eq!(json_a, json_b);
    for ((name_a, a), (name_b, b)) in files_a.iter().zip(files_b) {
        assert_eq!(name_a, name_b);
        assert!(a == b, "{name_a} differs between two runs");
    }
    // A different seed changes the traffic.
    s.seed += 1;
    let other = serde_json::to_string_pretty(&run(&s)).unwrap();
    assert_ne!(&other, json_a);
}

#[test]
fn a_tcp_transfer_completes_between_two_hosts() {
    let mut s = scenario("office");
    s.duration = vswitch_sim::units::Span(4_000_000_000);
    let report = run(&s);
    let t = &report.tcp[0];
    assert_eq!(t.received, t.bytes);
    assert!(t.done_ns.is_some());
}

#[test]
fn a_loop_makes_a_broadcast_storm() {
    let r = run(&scenario("broadcast-storm"));
    // One ARP request from h1, yet thousands of frames crossed the switches.
    assert_eq!(r.hosts[0].tx_frames, 1);
    assert!(r.frames_switched > 10_000, "{}", r.frames_switched);
    assert!(r.wires.iter().any(|w| w.dropped != [0, 0]));
    assert!(r.switches.iter().all(|s| s.fdb.stats.moved > 100));
}

#[test]
fn fair_eviction_keeps_the_hosts_during_a_mac_flood() {
    let s = scenario("mac-flood");
    let capacity = s.switches["s1"].capacity as usize;
    let mut sim = Simulation::new(&s).unwrap();
    // The table's size, every 10 ms of the attack.
    let mut t = 0;
    while t < s.duration.0 {
        t += 10_000_000;
        sim.run_until(t).unwrap();
        let fdb = sim.switch("s1").unwrap().fdb();
        assert!(fdb.len() <= capacity, "{} entries at {t} ns", fdb.len());
    }
    let r = sim.run().unwrap();
    let sw = &r.switches[0];
    let attacker = sw.ports.iter().find(|p| p.name == "p5").unwrap();
    assert_eq!(r.generators[0].sent, 1_000_000);
    assert_eq!(attacker.counters.rx_frames, 1_000_000);
    assert!(sw.fdb.stats.learned > 999_000, "{}", sw.fdb.stats.learned);
    assert_eq!(sw.fdb.stats.current, capacity as u64);
    for h in &r.hosts {
        assert!(
            sw.fdb
                .entries
                .iter()
                .any(|e| e.mac == h.mac && e.port_name == h.port[3..]),
            "{} was evicted",
            h.name
        );
    }
    // No unicast of the hosts was flooded, so only their broadcasts reached
    // the attacker's port.
    let hosts: Vec<_> = sw.ports.iter().filter(|p| p.name != "p5").collect();
    assert_eq!(hosts.len(), 4);
    assert!(hosts.iter().all(|p| p.counters.unknown_unicast == 0), "{r}");
    let broadcasts: u64 = hosts.iter().map(|p| p.counters.flood).sum();
    assert_eq!(attacker.counters.tx_frames, broadcasts);
    assert_eq!(r.generators[0].received, broadcasts);
    assert!(
        r.pings.iter().all(|p| p.received == p.sent && p.sent == 5),
        "{r}"
    );
    assert!(r.udp.iter().all(|u| u.received == u.sent && u.sent == 1200));
}

/// Echo replies received and requests sent, over every ping of a run.
fn replies(r: &SimReport) -> (u32, u32) {
    (
        r.pings.iter().map(|p| p.received).sum(),
        r.pings.iter().map(|p| p.sent).sum(),
    )
}

/// Frames put on the inter-switch wires and dropped from their full queues.
fn loop_wires(r: &SimReport) -> (u64, u64) {
    let wires = r.wires.iter().filter(|w| w.a.contains(":to-s"));
    wires.fold((0, 0), |(f, d), w| {
        (
            f + w.frames[0] + w.frames[1],
            d + w.dropped[0] + w.dropped[1],
        )
    })
}

#[test]
fn a_loop_without_storm_control_saturates_its_wires() {
    let s = scenario("loop");
    let mut sim = Simulation::new(&s).unwrap();
    // One broadcast (at 1 ms) going round alone, then more and more of them.
    sim.run_until(15_000_000).unwrap();
    let (early, early_drops) = loop_wires(&sim.report());
    assert_eq!(early_drops, 0);
    sim.run_until(500_000_000).unwrap();
    let (mid, _) = loop_wires(&sim.report());
    sim.run_until(550_000_000).unwrap();
    let (late, _) = loop_wires(&sim.report());
    assert!(
        late - mid > 3 * early,
        "{early} frames in the first 50 ms, {} later",
        late - mid
    );
    let r = sim.run().unwrap();
    let (frames, dropped) = loop_wires(&r);
    // 70 broadcasts became millions of frames, and the wires overflowed.
    assert_eq!(r.generators[0].sent, 70);
    assert!(
        frames > 100_000 && dropped > 1000,
        "{frames} frames, {dropped} dropped"
    );
    assert!(r.switches.iter().all(|s| s.fdb.stats.moved > 1000));
    let (got, sent) = replies(&r);
    assert!(got * 2 < sent, "{got} of {sent} echo requests answered");
}

#[test]
fn storm_control_caps_the_loop_and_pings_get_through() {
    let s = scenario("loop-storm-control");
    let r = run(&s);
    let (frames, dropped) = loop_wires(&r);
    assert_eq!(dropped, 0, "{r}");
    assert!(frames < 20_000, "{frames}");
    let secs = s.duration.0 / 1_000_000_000 + 1;
    for sw in &r.switches {
        for p in &sw.ports {
            // Three kinds, each at most its rate plus a burst of a tenth of it.
            assert!(
                p.counters.flood + p.counters.unknown_unicast <= 3 * (200 * secs + 20),
                "{r}"
            );
            if p.name.starts_with("to-") {
                assert!(p.counters.drops(DropReason::Storm) > 0, "{r}");
            }
        }
        assert!(sw.guard.moves_blocked > 0);
    }
    assert_eq!(replies(&r), (120, 120), "{r}");
    // Storm control alone (without the move guard) caps the storm just as well.
    let mut alone = s.clone();
    for sw in alone.switches.values_mut() {
        sw.move_guard = None;
    }
    let r = run(&alone);
    let (_, dropped) = loop_wires(&r);
    assert_eq!(dropped, 0, "{r}");
    let storm: u64 = r
        .switches
        .iter()
        .flat_map(|s| &s.ports)
        .map(|p| p.counters.drops(DropReason::Storm))
        .sum();
    assert!(storm > 100, "{r}");
}

#[test]
fn the_move_guard_holds_a_flapping_host_down_or_shuts_its_port() {
    let mut s = scenario("flapping-host");
    let r = run(&s);
    let sw = &r.switches[0];
    // 5 moves allowed per second, then 5 s of hold-down: about 6 moves per
    // 6 s instead of 40 a second.
    assert!(sw.guard.hold_downs >= 2, "{r}");
    assert!(sw.guard.moves_blocked > 100, "{r}");
    assert!(sw.fdb.stats.moved <= 6 * sw.guard.hold_downs, "{r}");
    assert_eq!(sw.guard.shutdowns, 0);
    assert_eq!(r.pings[0].received, r.pings[0].sent);
    assert!(r.to_string().contains("guard: moves blocked"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["switches"][0]["guard"]["hold_downs"],
        sw.guard.hold_downs
    );

    let guard = s
        .switches
        .get_mut("s1")
        .unwrap()
        .move_guard
        .as_mut()
        .unwrap();
    guard.action = vswitch_core::spec::GuardActionSpec::Shutdown;
    let r = run(&s);
    let sw = &r.switches[0];
    assert!(sw.guard.shutdowns >= 1, "{r}");
    assert_eq!(sw.guard.hold_downs, 0);
    let guard_drops: u64 = sw
        .ports
        .iter()
        .map(|p| p.counters.drops(DropReason::MoveGuard))
        .sum();
    assert_eq!(guard_drops, sw.guard.shutdowns);
    assert!(sw
        .ports
        .iter()
        .any(|p| p.counters.drops(DropReason::IngressDown) > 0));
    assert_eq!(r.pings[0].received, r.pings[0].sent);
}

#[test]
fn vlans_isolate_and_hosts_can_move() {
    let r = run(&scenario("vlans"));
    assert_eq!(r.pings.len(), 4);
    for p in &r.pings {
        let same_vlan = p.from[..1] == p.to[..1];
        assert_eq!(p.received > 0, same_vlan, "{} -> {}", p.from, p.to);
    }
    let r = run(&scenario("churn"));
    assert!(r.pings.iter().all(|p| p.received >= 8), "{r}");
    // The churn generators' shared MACs keep moving on both switches.
    assert!(r.switches.iter().all(|s| s.fdb.stats.moved > 100), "{r}");
    assert!(r.switches.iter().all(|s| s.fdb.stats.flushed >= 1));
}

#[test]
fn a_server_answers_a_thousand_clients_at_once() {
    let s = scenario("thousand-clients");
    assert_eq!(s.hosts.len(), 1001);
    let r = run(&s);
    assert_eq!(r.pairs_answered(), (1000, 1000));
    assert!(r.hosts.iter().all(|h| h.dropped.is_none()));
    // Every client's ARP request reached every other host: 999 requests,
    // the server's ARP reply and three echo replies.
    assert_eq!(r.hosts[1].rx_frames, 999 + 1 + 3);
    let summary = r.to_string();
    assert!(summary.lines().count() < 100, "{summary}");
    assert!(summary.contains("1000 of 1000 pairs answered"), "{summary}");
}

#[test]
fn the_data_centre_is_written_in_a_dozen_lines_and_says_what_it_builds() {
    let s = scenario("datacentre");
    assert_eq!(s.switches.len(), 101);
    assert_eq!(s.hosts.len(), 10_001);
    assert_eq!(s.wires.len(), 100);
    assert_eq!(s.hosts[10_000].name, "access100-h100");
    assert_eq!(s.hosts[10_000].ip, "10.8.39.16/16");
    // Running it is the bench's job (benches/sim.rs): in a debug build it is slow.
}

/// Frames put on the wires between switches of ring-stp, and dropped there.
fn ring_wires(r: &SimReport) -> (u64, u64) {
    let between = |e: &str| e.split(':').nth(1).is_some_and(|p| p.starts_with('s'));
    let wires = r.wires.iter().filter(|w| between(&w.a) && between(&w.b));
    wires.fold((0, 0), |(f, d), w| {
        (
            f + w.frames[0] + w.frames[1],
            d + w.dropped[0] + w.dropped[1],
        )
    })
}

#[test]
fn rstp_breaks_the_ring_within_a_second_and_pings_get_through() {
    use vswitch_core::stp::{Role, State};
    let s = scenario("ring-stp");
    let mut sim = Simulation::new(&s).unwrap();
    sim.run_until(1_000_000_000).unwrap();
    // s1 is root; the port of s3 towards s4 (two hops from s1 either way,
    // s2's identifier being lower than s4's) is the one that discards.
    for name in ["s1", "s2", "s3", "s4"] {
        let sw = sim.switch(name).unwrap();
        let stp = sw.stp().expect("spanning tree on");
        assert_eq!(
            stp.root_id(),
            sim.switch("s1").unwrap().stp().unwrap().bridge_id()
        );
        for (port, _) in sw.ports() {
            let blocked = name == "s3" && sim.port_id("s3", "s4") == Some(port);
            let (role, state) = (stp.role(port), stp.state(port));
            if blocked {
                assert_eq!((role, state), (Role::Alternate, State::Discarding));
            } else {
                assert_eq!(state, State::Forwarding, "{name} {port:?} {role:?}");
            }
        }
    }
    let r = sim.run().unwrap();
    let (frames, dropped) = ring_wires(&r);
    assert_eq!(dropped, 0, "{r}");
    assert!(frames < 2_000, "{frames} frames on the ring");
    assert_eq!(replies(&r), (60, 60), "{r}");
    // The same ring without spanning tree storms.
    let mut off = s.clone();
    for sw in off.switches.values_mut() {
        sw.stp = vswitch_core::spec::StpSpec::Off;
    }
    let r = run(&off);
    let (frames, dropped) = ring_wires(&r);
    assert!(
        frames > 100_000 && dropped > 1000,
        "{frames} frames, {dropped} dropped"
    );
}

/// Every port of switch `name` as (port name, role, state) at the simulation's now.
fn stp_ports(
    sim: &Simulation,
    name: &str,
) -> Vec<(String, vswitch_core::stp::Role, vswitch_core::stp::State)> {
    let sw = sim.switch(name).unwrap();
    let stp = sw.stp().expect("spanning tree on");
    ["h1", "s1", "s2", "s3", "s4"]
        .iter()
        .filter_map(|p| {
            let id = sim.port_id(name, p)?;
            Some((p.to_string(), stp.role(id), stp.state(id)))
        })
        .collect()
}

#[test]
fn a_cut_in_the_rstp_ring_fails_over_to_the_expected_tree() {
    use vswitch_core::stp::{Role, State};
    let s = scenario("ring-stp-failover");
    let mut sim = Simulation::new(&s).unwrap();
    let root = |sim: &Simulation| sim.switch("s1").unwrap().stp().unwrap().bridge_id();
    let root_port = |sim: &Simulation, name: &str| {
        let sw = sim.switch(name).unwrap();
        sw.stp().unwrap().root_port()
    };
    sim.run_until(1_990_000_000).unwrap();
    // Before the cut: the ring-stp tree, s3's port towards s4 alternate.
    assert_eq!(root_port(&sim, "s2"), sim.port_id("s2", "s1"));
    assert_eq!(root_port(&sim, "s3"), sim.port_id("s3", "s2"));
    assert!(stp_ports(&sim, "s3").contains(&("s4".into(), Role::Alternate, State::Discarding)));
    // 10 ms after the cut: the new tree is there, every switch agreeing on s1.
    sim.run_until(2_010_000_000).unwrap();
    let expected_root_port = [("s2", "s3"), ("s3", "s4"), ("s4", "s1")];
    for (name, via) in expected_root_port {
        assert_eq!(
            root_port(&sim, name),
            sim.port_id(name, via),
            "{name}: {:?}",
            stp_ports(&sim, name)
        );
        assert_eq!(
            sim.switch(name).unwrap().stp().unwrap().root_id(),
            root(&sim)
        );
    }
    for name in ["s1", "s2", "s3", "s4"] {
        for (port, role, state) in stp_ports(&sim, name) {
            let cut =
                (name, port.as_str()) == ("s1", "s2") || (name, port.as_str()) == ("s2", "s1");
            if cut {
                assert_eq!((role, state), (Role::Disabled, State::Discarding));
            } else {
                assert_eq!(state, State::Forwarding, "{name}:{port} {role:?}");
            }
        }
    }
    let r = sim.run().unwrap();
    // The stream lost at most the datagrams on the cut wire; every ping after
    // the cut is answered.
    let u = &r.udp[0];
    assert_eq!(u.sent, 3000);
    assert!(u.received + 3 >= u.sent, "{} of {}", u.received, u.sent);
    assert_eq!(replies(&r), (36, 36), "{r}");
    // The report: roles, states, root and topology changes per switch.
    for sw in &r.switches {
        let stp = sw.stp.as_ref().expect("stp in the report");
        assert_eq!(stp.root_id, r.switches[0].stp.as_ref().unwrap().bridge_id);
        assert_eq!(stp.is_root, sw.name == "s1");
        assert!(stp.topology_changes > 0);
    }
    let s3 = r.switches[2].stp.as_ref().unwrap();
    assert_eq!(s3.root_port.as_deref(), Some("s4"));
    let text = r.to_string();
    assert!(
        text.contains("stp port s2           designated forwarding"),
        "{text}"
    );
    // And the wire did go down: its ends report it.
    let s1 = &r.switches[0];
    assert!(!s1.ports.iter().find(|p| p.name == "s2").unwrap().up);
}

/// loop.toml's two switches and two wires with RSTP on (the host ports edge):
/// one of the wires is cut by an alternate port, no storm, every ping answered.
#[test]
fn the_loop_with_rstp_on_converges_without_a_storm() {
    use vswitch_core::spec::{PortSpec, StpSpec};
    use vswitch_core::stp::{Role, State};
    let mut s = scenario("loop");
    for sw in s.switches.values_mut() {
        sw.stp = StpSpec::Rstp;
        sw.ports.insert(
            "default".into(),
            PortSpec {
                stp_edge: Some(true),
                ..PortSpec::default()
            },
        );
        for p in ["to-s1a", "to-s1b", "to-s2a", "to-s2b"] {
            sw.ports.insert(p.into(), PortSpec::default());
        }
    }
    let mut sim = Simulation::new(&s).unwrap();
    sim.run_until(500_000_000).unwrap();
    let mut blocked = Vec::new();
    for (name, ports) in [("s1", ["to-s2a", "to-s2b"]), ("s2", ["to-s1a", "to-s1b"])] {
        let stp = sim.switch(name).unwrap().stp().unwrap();
        for p in ports {
            let id = sim.port_id(name, p).unwrap();
            if stp.state(id) != State::Forwarding {
                blocked.push((name, p, stp.role(id), stp.state(id)));
            }
        }
    }
    // s1 has the lower bridge address: root; s2 blocks its worse link, the
    // one to s1's second port.
    assert_eq!(
        blocked,
        [("s2", "to-s1b", Role::Alternate, State::Discarding)]
    );
    let r = sim.run().unwrap();
    let (frames, dropped) = loop_wires(&r);
    assert_eq!(dropped, 0, "{r}");
    assert!(frames < 2_000, "{frames} frames on the loop's wires");
    assert!(r.switches.iter().all(|s| s.fdb.stats.moved == 0), "{r}");
    let (got, sent) = replies(&r);
    assert_eq!((got, sent), (120, 120), "{r}");
}
