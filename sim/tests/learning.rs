//! Aging in virtual time, hub mode against switch mode on the same traffic, and
//! learning from IEEE link-local frames (LLDP teaches, PAUSE does not) replayed
//! into a switch.

use std::path::PathBuf;
use vswitch_core::spec::SwitchSpec;
use vswitch_core::DropReason;
use vswitch_sim::pcap::read_capture;
use vswitch_sim::replay::Replayer;
use vswitch_sim::report::SwitchReport;
use vswitch_sim::{Scenario, Simulation};

const H2_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// h1, h2 and a bystander h3 on one switch; h1 pings h2 at 0.1 s, then again at
/// `second_ping` s.
fn three_hosts(switch: &str, second_ping: f64) -> Scenario {
    Scenario::from_toml(&format!(
        r#"
        seed = 3
        duration = 8
        [switch.s1]
        {switch}
        [[host]]
        name = "h1"
        ip = "10.0.0.1/24"
        port = "s1:p1"
        [[host]]
        name = "h2"
        ip = "10.0.0.2/24"
        port = "s1:p2"
        [[host]]
        name = "h3"
        ip = "10.0.0.3/24"
        port = "s1:p3"
        [[ping]]
        from = "h1"
        to = "h2"
        at = 0.1
        count = 1
        [[ping]]
        from = "h1"
        to = "h2"
        at = {second_ping}
        count = 1
        "#
    ))
    .unwrap()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vswitch-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Times (ns) of the frames for h2 that the switch sent out of h3's port.
fn frames_for_h2_at_h3(scenario: &Scenario, name: &str) -> (Vec<u64>, vswitch_sim::SimReport) {
    let dir = scratch_dir(name);
    let mut sim = Simulation::new(scenario).unwrap();
    sim.capture_to(&dir).unwrap();
    let report = sim.run().unwrap();
    let frames = read_capture(&dir.join("switch-s1-p3.pcap")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        frames
            .iter()
            .filter(|f| f.data[..6] == H2_MAC)
            .map(|f| f.ts_ns)
            .collect(),
        report,
    )
}

#[test]
fn a_silent_host_is_forgotten_after_the_aging_time_and_flooded_again() {
    let scenario = three_hosts("aging = 2", 5.0);
    let mut sim = Simulation::new(&scenario).unwrap();
    sim.run_until(1_000_000_000).unwrap();
    let h2 = sim.port_id("s1", "p2").unwrap();
    let known = |sim: &Simulation| {
        let sw = sim.switch("s1").unwrap();
        sw.fdb().get(0, vswitch_core::MacAddr(H2_MAC))
    };
    assert_eq!(known(&sim), Some(h2));
    // h2 last spoke at about 0.1 s: at 2.2 s (aging 2 s) it is gone.
    sim.run_until(2_200_000_000).unwrap();
    let report = sim.report();
    assert!(report.switches[0]
        .fdb
        .entries
        .iter()
        .all(|e| e.mac != "02:00:00:00:00:02"));
    assert!(report.switches[0].fdb.stats.expired >= 1);

    // The second echo request to h2 (h1's ARP cache still knows h2) is flooded,
    // so h3's port sees it; the first one was not.
    let (times, report) = frames_for_h2_at_h3(&scenario, "aging");
    assert_eq!(report.pairs_answered(), (2, 2));
    assert!(!times.is_empty());
    assert!(times.iter().all(|&t| t >= 5_000_000_000), "{times:?}");
    assert!(report.switches[0].ports[0].counters.unknown_unicast >= 1);

    // With the default aging (300 s) nothing reaches h3.
    let (times, report) = frames_for_h2_at_h3(&three_hosts("", 5.0), "no-aging");
    assert_eq!(report.pairs_answered(), (2, 2));
    assert_eq!(times, Vec::<u64>::new());
}

#[test]
fn a_hub_floods_known_unicast_and_a_switch_does_not() {
    let (hub_times, hub) = frames_for_h2_at_h3(&three_hosts("hub = true", 1.0), "hub");
    let (switch_times, switch) = frames_for_h2_at_h3(&three_hosts("hub = false", 1.0), "switch");
    assert_eq!(hub.pairs_answered(), (2, 2));
    assert_eq!(switch.pairs_answered(), (2, 2));
    // Both echo requests (and the ARP reply) for h2 also went to h3 through the hub.
    assert!(hub_times.len() >= 2, "{hub_times:?}");
    assert_eq!(switch_times, Vec::<u64>::new());
    assert_eq!(hub.switches[0].fdb.stats.learned, 0);
    assert_eq!(switch.switches[0].fdb.stats.learned, 2);
    // A hub sends every frame to every other port: what h1 sent, h2 and h3 got.
    let p = &hub.switches[0].ports;
    assert_eq!(
        p[0].counters.rx_frames,
        p[2].counters.tx_frames - p[1].counters.rx_frames
    );
}

#[test]
fn the_timeline_plots_every_port_over_virtual_time() {
    let mut sim = Simulation::new(&three_hosts("aging = 2", 5.0)).unwrap();
    sim.record_timeline();
    let report = sim.run().unwrap();
    let timeline = sim.timeline().unwrap();
    assert_eq!(timeline.port_names(), ["s1:p1", "s1:p2", "s1:p3"]);
    assert_eq!(timeline.bucket_ns(), 8_000_000_000 / 200);
    let dir = scratch_dir("plot");
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("run.svg");
    vswitch_sim::plot::render_svg(timeline, &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("s1:p3"));
    assert!(report.frames_switched > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The host that only ever sends link-local frames, and the one that sends it
/// unicast.
const QUIET: [u8; 6] = [2, 0, 0, 0, 0, 0x51];
const TALKER: [u8; 6] = [2, 0, 0, 0, 0, 0x52];

/// A 60-byte frame.
fn frame(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = [dst, src].concat();
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.resize(60, 0);
    f
}

fn lldp(src: [u8; 6]) -> Vec<u8> {
    frame([0x01, 0x80, 0xc2, 0, 0, 0x0e], src, 0x88cc)
}

fn pause(src: [u8; 6]) -> Vec<u8> {
    let mut f = frame([0x01, 0x80, 0xc2, 0, 0, 0x01], src, 0x8808);
    f[14..18].copy_from_slice(&[0x00, 0x01, 0xff, 0xff]); // opcode PAUSE, quanta
    f
}

/// Replays `frames` (ingress port index, bytes), one a millisecond, into a
/// default switch with ports "1", "2" and "3". Returns what each port sent
/// and the switch's report.
fn replay(name: &str, frames: &[(usize, Vec<u8>)]) -> (Vec<Vec<Vec<u8>>>, SwitchReport) {
    let dir = scratch_dir(name);
    let names: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
    let mut replayer = Replayer::new(&SwitchSpec::default(), &names, Some(&dir), None).unwrap();
    for (i, (port, bytes)) in frames.iter().enumerate() {
        replayer
            .feed(*port, 1_000_000 * (i as u64 + 1), bytes, None)
            .unwrap();
    }
    let report = replayer.finish(Vec::new()).unwrap().summary.switch;
    let sent = names
        .iter()
        .map(|n| {
            read_capture(&dir.join(format!("port-{n}.pcap")))
                .unwrap()
                .into_iter()
                .map(|f| f.data)
                .collect()
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (sent, report)
}

/// Where (port names) the FDB says `mac` is.
fn learned_on(report: &SwitchReport, mac: &str) -> Vec<String> {
    report
        .fdb
        .entries
        .iter()
        .filter(|e| e.mac == mac)
        .map(|e| e.port_name.clone())
        .collect()
}

#[test]
fn a_host_heard_only_through_lldp_is_reached_on_its_port_alone_and_followed() {
    let to_quiet = frame(QUIET, TALKER, 0x0800);
    let (sent, report) = replay(
        "lldp",
        &[
            (0, to_quiet.clone()), // not known yet: flooded
            (1, lldp(QUIET)),
            (0, to_quiet.clone()), // to port 2 alone
            (2, lldp(QUIET)),      // QUIET moved to port 3
            (0, to_quiet.clone()), // to port 3 alone
        ],
    );
    let count = |port: usize| sent[port].iter().filter(|f| **f == to_quiet).count();
    assert_eq!((count(0), count(1), count(2)), (0, 2, 2));
    assert!(
        sent.iter()
            .flatten()
            .all(|f| f[..5] != [0x01, 0x80, 0xc2, 0, 0]),
        "LLDP crossed the switch"
    );
    assert_eq!(learned_on(&report, "02:00:00:00:00:51"), ["3"]);
    assert_eq!(report.fdb.stats.moved, 1);
    let p = &report.ports;
    assert_eq!(
        (p[0].counters.unknown_unicast, p[0].counters.unicast),
        (1, 2)
    );
    assert_eq!(p[1].counters.drops(DropReason::LinkLocal), 1);
    assert_eq!(p[2].counters.drops(DropReason::LinkLocal), 1);
}

#[test]
fn a_pause_frame_teaches_the_switch_nothing() {
    let to_quiet = frame(QUIET, TALKER, 0x0800);
    let (sent, report) = replay(
        "pause",
        &[
            (1, pause(QUIET)),
            (0, to_quiet.clone()),
            (0, to_quiet.clone()),
        ],
    );
    let count = |port: usize| sent[port].iter().filter(|f| **f == to_quiet).count();
    assert_eq!((count(0), count(1), count(2)), (0, 2, 2), "not flooded");
    assert_eq!(
        learned_on(&report, "02:00:00:00:00:51"),
        Vec::<String>::new()
    );
    assert_eq!(report.fdb.stats.learned, 1, "only the talker");
    assert_eq!(report.ports[0].counters.unknown_unicast, 2);
    assert_eq!(report.ports[1].counters.drops(DropReason::LinkLocal), 1);
}
