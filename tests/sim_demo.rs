//! The demo scenario: four hosts on one switch, every host pings every other.

use std::path::{Path, PathBuf};
use vswitch_sim::pcap::read_capture;
use vswitch_sim::{Scenario, Simulation};

fn demo() -> Scenario {
    Scenario::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/demo.toml"
    )))
    .unwrap()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vswitch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn all_twelve_pairs_answer_and_the_fdb_holds_the_four_hosts() {
    let scenario = demo();
    let mut sim = Simulation::new(&scenario).unwrap();
    let report = sim.run().unwrap();
    assert_eq!(report.pairs_answered(), (12, 12), "{report}");
    for p in &report.pings {
        assert_eq!((p.sent, p.received), (3, 3), "{} -> {}", p.from, p.to);
        // Two wire hops each way at 5 us, plus serialisation: well under a millisecond.
        assert!(
            p.rtt_ns.iter().all(|&r| r > 20_000 && r < 1_000_000),
            "{:?}",
            p.rtt_ns
        );
    }
    let fdb = &report.switches[0].fdb;
    let entries: Vec<(&str, &str)> = fdb
        .entries
        .iter()
        .map(|e| (e.port_name.as_str(), e.mac.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("p1", "02:00:00:00:00:01"),
            ("p2", "02:00:00:00:00:02"),
            ("p3", "02:00:00:00:00:03"),
            ("p4", "02:00:00:00:00:04"),
        ]
    );
    let host_macs: Vec<&str> = report.hosts.iter().map(|h| h.mac.as_str()).collect();
    assert_eq!(
        host_macs,
        [
            "02:00:00:00:00:01",
            "02:00:00:00:00:02",
            "02:00:00:00:00:03",
            "02:00:00:00:00:04"
        ]
    );
}

#[test]
fn no_unicast_between_two_hosts_reaches_a_third() {
    let dir = scratch_dir("demo-capture");
    let mut sim = Simulation::new(&demo()).unwrap();
    sim.capture_to(&dir).unwrap();
    let report = sim.run().unwrap();
    assert_eq!(report.pairs_answered(), (12, 12));
    let mut unicast_seen = 0;
    for (i, host) in report.hosts.iter().enumerate() {
        let frames = read_capture(&dir.join(format!("switch-s1-p{}.pcap", i + 1))).unwrap();
        assert!(!frames.is_empty());
        for f in &frames {
            let dst = &f.data[..6];
            if dst[0] & 1 == 0 {
                unicast_seen += 1;
                // Every unicast frame the switch sent out of this port was for this host.
                assert_eq!(
                    format!(
                        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                        dst[0], dst[1], dst[2], dst[3], dst[4], dst[5]
                    ),
                    host.mac
                );
            }
        }
        // The host's own capture saw what the switch sent it, and what it sent.
        let own = read_capture(&dir.join(format!("host-{}.pcap", host.name))).unwrap();
        assert_eq!(own.len() as u64, host.rx_frames + host.tx_frames);
    }
    // 12 pairs x 3 echo requests and replies, plus ARP replies.
    assert!(unicast_seen >= 72, "{unicast_seen}");
    let _ = std::fs::remove_dir_all(&dir);
}
