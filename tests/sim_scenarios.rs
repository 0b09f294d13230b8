//! Every shipped scenario loads and runs, shows what its comment says, and the
//! same scenario and seed give byte-identical captures and JSON.

use std::path::{Path, PathBuf};
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
    assert!(n >= 8, "{n} scenarios");
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
        assert!(report.switches[0].fdb.expired > 0, "aging must play a part");
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
    assert!(r.switches.iter().all(|s| s.fdb.moved > 100));
}

#[test]
fn fair_eviction_keeps_the_hosts_during_a_mac_flood() {
    let r = run(&scenario("mac-flood"));
    let fdb = &r.switches[0].fdb;
    assert_eq!(fdb.current, 1024);
    assert!(fdb.evicted > 1000);
    for mac in [
        "02:00:00:00:00:01",
        "02:00:00:00:00:02",
        "02:00:00:00:00:03",
    ] {
        assert!(
            fdb.entries.iter().any(|e| e.mac == mac),
            "{mac} was evicted"
        );
    }
    assert_eq!(r.pairs_answered(), (6, 6));
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
    assert!(r.switches.iter().all(|s| s.fdb.moved > 100), "{r}");
    assert!(r.switches.iter().all(|s| s.fdb.flushed >= 1));
}
