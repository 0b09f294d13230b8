//! VXLAN tunnel ports in the simulator (scenarios/overlay.toml): three
//! "machines" joined only by the simulated IPv4 underlay. Every host pings
//! every other; the switches learn the remote hosts behind the right
//! endpoint; the underlay carries real VXLAN packets (read back here and by
//! tshark) with head-end replication and split horizon; runs are
//! deterministic; a VNI mismatch is dropped and counted.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use vswitch_sim::pcap::read_capture;
use vswitch_sim::underlay::{decapsulate, destination};
use vswitch_sim::{Scenario, SimReport, Simulation};

fn scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/overlay.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vswitch-overlay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs with captures into `dir`.
fn run_captured(s: &Scenario, dir: &Path) -> SimReport {
    let mut sim = Simulation::new(s).unwrap();
    sim.capture_to(dir).unwrap();
    sim.run().unwrap()
}

/// Each host's MAC and the underlay address of the machine it is on, from
/// the report (the host's switch and that switch's tunnel).
fn homes(r: &SimReport) -> BTreeMap<String, Ipv4Addr> {
    let local_of: BTreeMap<&str, Ipv4Addr> = r
        .tunnels
        .iter()
        .map(|t| (t.port.split(':').next().unwrap(), t.local.parse().unwrap()))
        .collect();
    r.hosts
        .iter()
        .map(|h| {
            let sw = h.port.split(':').next().unwrap();
            (h.mac.clone(), local_of[sw])
        })
        .collect()
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn hosts_on_all_machines_ping_across_and_remotes_are_learned_behind_their_endpoint() {
    let r = Simulation::new(&scenario()).unwrap().run().unwrap();
    assert_eq!(r.pings.len(), 30, "{r}");
    for p in &r.pings {
        assert!(
            p.sent >= 3 && p.received == p.sent,
            "{} -> {}: {r}",
            p.from,
            p.to
        );
    }
    let homes = homes(&r);
    assert_eq!(r.tunnels.len(), 3);
    for t in &r.tunnels {
        assert_eq!(t.vni, 42);
        assert!(t.drops.is_empty(), "{}: {:?}", t.port, t.drops);
        // The four hosts of the other machines, each behind its machine.
        assert_eq!(t.remotes.len(), 4, "{}: {:?}", t.port, t.remotes);
        for e in &t.remotes {
            assert_eq!(e.dst, homes[&e.mac].to_string(), "{}: {e:?}", t.port);
            assert_ne!(e.dst, t.local);
        }
        // Floods went to both other machines: more packets than frames.
        assert!(
            t.packets_sent > t.encapsulated && t.decapsulated > 0,
            "{t:?}"
        );
        assert_eq!(t.flood.len(), 2);
    }
    // Every packet sent arrived and was taken.
    let sent: u64 = r.tunnels.iter().map(|t| t.packets_sent).sum();
    let taken: u64 = r.tunnels.iter().map(|t| t.decapsulated).sum();
    assert_eq!(sent, taken);
    // The report for people shows each tunnel's counts.
    let text = r.to_string();
    for t in &r.tunnels {
        let line = format!(
            "{:<10} local {} vni 42 encapsulated {} ({} packets) decapsulated {}",
            t.port, t.local, t.encapsulated, t.packets_sent, t.decapsulated
        );
        assert!(text.contains(&line), "{line} in {text}");
    }
}

/// What the underlay carried: each packet decapsulates for its destination;
/// a unicast goes to its host's machine only; a broadcast goes once to every
/// other machine (head-end replication); nothing goes back towards the
/// machine it came from (split horizon).
#[test]
fn the_underlay_carries_vxlan_with_replication_and_split_horizon() {
    let dir = scratch("underlay");
    let r = run_captured(&scenario(), &dir);
    let homes = homes(&r);
    let locals: Vec<Ipv4Addr> = r.tunnels.iter().map(|t| t.local.parse().unwrap()).collect();
    let packets = read_capture(&dir.join("underlay.pcap")).unwrap();
    let sent: u64 = r.tunnels.iter().map(|t| t.packets_sent).sum();
    assert_eq!(packets.len() as u64, sent);
    // (time, sender, inner frame) -> the endpoints a broadcast went to.
    let mut floods: BTreeMap<(u64, Ipv4Addr, Vec<u8>), Vec<Ipv4Addr>> = BTreeMap::new();
    let (mut unicasts, mut broadcasts) = (0, 0);
    for p in &packets {
        let dst = destination(&p.data).unwrap();
        let (src, inner) = decapsulate(&p.data, dst, 42).unwrap();
        assert!(locals.contains(&src) && locals.contains(&dst) && src != dst);
        let (to, from) = (mac(&inner[0..6]), mac(&inner[6..12]));
        // Split horizon: only a machine's own hosts' frames leave it.
        assert_eq!(homes[&from], src, "frame from {from} sent by {src}");
        if inner[0] & 1 == 0 {
            assert_eq!(homes[&to], dst, "unicast to {to} sent to {dst}");
            unicasts += 1;
        } else {
            floods
                .entry((p.ts_ns, src, inner.to_vec()))
                .or_default()
                .push(dst);
            broadcasts += 1;
        }
    }
    assert!(unicasts > 0 && broadcasts > 0);
    for ((_, src, _), mut to) in floods {
        to.sort();
        let want: Vec<Ipv4Addr> = locals.iter().copied().filter(|&l| l != src).collect();
        assert_eq!(to, want, "a flood from {src}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// tshark, which we did not write, decodes the underlay capture as VXLAN
/// with VNI 42 between the right endpoints, as many packets as we sent
/// between each pair.
#[test]
fn tshark_decodes_the_underlay_as_vxlan() {
    let dir = scratch("tshark");
    let r = run_captured(&scenario(), &dir);
    let path = dir.join("underlay.pcap");
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for p in read_capture(&path).unwrap() {
        let dst = destination(&p.data).unwrap();
        let (src, _) = decapsulate(&p.data, dst, 42).unwrap();
        *want.entry((src.to_string(), dst.to_string())).or_default() += 1;
    }
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-Y", "vxlan", "-T", "fields"])
        .args(["-e", "vxlan.vni", "-e", "ip.src", "-e", "ip.dst"])
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "tshark is needed in CI (CI is set) but cannot be run: {e}"
            );
            println!("note: tshark not found ({e}); skipped decoding the underlay with tshark");
            return;
        }
    };
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "{line}");
        assert_eq!(f[0], "42", "{line}");
        // The outer addresses come first (the inner IPv4 ones follow).
        let first = |s: &str| s.split(',').next().unwrap().to_string();
        *seen.entry((first(f[1]), first(f[2]))).or_default() += 1;
    }
    let total: u64 = seen.values().sum();
    assert_eq!(total, r.tunnels.iter().map(|t| t.packets_sent).sum::<u64>());
    assert_eq!(seen, want);
    assert_eq!(
        seen.len(),
        6,
        "every ordered pair of three machines: {seen:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn same_seed_gives_identical_report_and_captures() {
    let s = scenario();
    let mut outputs = Vec::new();
    for round in 0..2 {
        let dir = scratch(&format!("determinism-{round}"));
        let json = serde_json::to_string_pretty(&run_captured(&s, &dir)).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        let _ = std::fs::remove_dir_all(&dir);
        outputs.push((json, files));
    }
    assert!(outputs[0].0.contains("\"tunnels\""));
    assert!(outputs[0].1.iter().any(|(n, _)| n == "underlay.pcap"));
    assert_eq!(outputs[0].1.len(), 6 + 9 + 1, "hosts, ports, underlay");
    assert!(outputs[0] == outputs[1], "two runs differ");
    let plain = Simulation::new(&s).unwrap().run().unwrap();
    assert_eq!(serde_json::to_string_pretty(&plain).unwrap(), outputs[0].0);
}

/// A machine on another VNI: its packets are dropped and counted as
/// `vxlan-wrong-vni` by the others (and theirs by it); nothing crosses
/// between it and the others, while the two other machines still reach each
/// other. (Pings between the odd machine's own hosts are not asserted: the
/// simulated hosts' ping app waits on the neighbours that never answer.)
#[test]
fn a_wrong_vni_is_dropped_and_counted() {
    let mut s = scenario();
    s.tunnels[2].vni = 43;
    let r = Simulation::new(&s).unwrap().run().unwrap();
    let on_m3 = |h: &str| h.starts_with('c');
    for p in &r.pings {
        let across = on_m3(&p.from) != on_m3(&p.to);
        if across {
            assert_eq!(p.received, 0, "{} -> {}", p.from, p.to);
        } else if !on_m3(&p.from) {
            assert!(p.sent > 0 && p.received == p.sent, "{} -> {}", p.from, p.to);
        }
    }
    for t in &r.tunnels {
        let wrong = t
            .drops
            .iter()
            .find(|(reason, _)| reason == "vxlan-wrong-vni")
            .map_or(0, |d| d.1);
        assert!(wrong > 0, "{}: {:?}", t.port, t.drops);
        assert_eq!(t.drops.len(), 1, "{}: {:?}", t.port, t.drops);
    }
    assert!(r.tunnels[2].remotes.is_empty());
}

#[test]
fn bad_tunnel_settings_say_what_is_wrong() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/overlay.toml"),
    )
    .unwrap();
    for (from, to, says) in [
        ("vni = 42", "vni = 16777216", "outside 0..=16777215"),
        (
            "local = \"192.168.0.2\"",
            "local = \"192.168.0.1\"",
            "used twice",
        ),
        (
            "remotes = [\"192.168.0.2\", \"192.168.0.3\"]",
            "remotes = [\"192.168.0.1\"]",
            "its own address",
        ),
        ("port = \"m1:vx0\"", "port = \"m1:p1\"", "already connected"),
    ] {
        let bad = text.replacen(from, to, 1);
        let e = Scenario::from_toml(&bad).unwrap_err().to_string();
        assert!(e.contains(says), "{to}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
