//! The real switch on real interfaces: each test builds its own lab of network
//! namespaces and veths (unique names from the test's process id and a letter),
//! runs `vswitch run` on it, checks what crosses it, and removes everything it
//! made, even when it fails. Every wait is bounded.
//!
//! Needs root, iproute2 and ping. Without them a test prints a skip note and
//! passes, unless the environment variable CI is set: then it fails.

mod common;
use common::*;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vswitch_core::FrameBatch;
use vswitch_linux::port::AfPacketPort;

/// A packet socket on `iface` inside namespace `ns`: what arrives there.
fn sniffer(ns: &str, iface: &str) -> AfPacketPort {
    let iface = iface.to_string();
    vswitch_linux::sys::in_netns(&format!("/run/netns/{ns}"), move || {
        AfPacketPort::open(&iface).map_err(std::io::Error::other)
    })
    .expect("packet socket in namespace")
}

/// Frames received by `port` within `window`, or until `enough` says stop.
fn collect(
    port: &mut AfPacketPort,
    window: Duration,
    mut enough: impl FnMut(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut batch = FrameBatch::with_capacity(32);
    let deadline = Instant::now() + window;
    while Instant::now() < deadline && !enough(&frames) {
        batch.clear();
        if port.recv_finished(&mut batch) == 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        frames.extend(batch.iter().map(<[u8]>::to_vec));
    }
    frames
}

fn mac_bytes(k: u32) -> [u8; 6] {
    [2, 0, 0, 0, 1, k as u8]
}

/// Unicast frames between hosts 1 and 2.
fn between_1_and_2(frames: &[Vec<u8>]) -> usize {
    let (a, b) = (mac_bytes(1), mac_bytes(2));
    frames
        .iter()
        .filter(|f| {
            f.len() >= 12 && ((f[..6] == a && f[6..12] == b) || (f[..6] == b && f[6..12] == a))
        })
        .count()
}

#[test]
fn linux_four_hosts_ping_and_fdb_lists_them() {
    if !ready() {
        return;
    }
    let lab = Lab::up('a', 4);
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--fdb-stats"]);
    for i in 1..=4 {
        for j in 1..=4 {
            if i != j {
                assert!(ping(&lab.ns(i), &addr(j)), "host {i} cannot ping host {j}");
            }
        }
    }
    let fdb = sw.fdb();
    for k in 1..=4 {
        let entry = fdb
            .iter()
            .find(|e| e["mac"] == mac(k))
            .unwrap_or_else(|| panic!("host {k}'s MAC is not in the FDB: {fdb:?}"));
        assert_eq!(entry["ifname"], lab.port(k), "host {k} on the wrong port");
        assert_eq!(entry["state"], "dynamic");
        assert!(entry.get("hits").is_none(), "counters without -s: {entry}");
    }
    // With -s, each host has had frames forwarded to it (the pings' unicast
    // echo requests and replies), the last one moments ago: `used` is a few
    // seconds at most, and never more than the time since the first ping.
    let with_stats = sw.json(&["fdb", "show", "-s"]).expect("fdb show -s -j");
    for k in 1..=4 {
        let entry = with_stats
            .as_array()
            .and_then(|rows| rows.iter().find(|e| e["mac"] == mac(k)))
            .unwrap_or_else(|| panic!("host {k}'s MAC is not in fdb show -s: {with_stats}"));
        let hits = entry["hits"].as_u64().expect("hits");
        assert!(hits >= 3, "host {k} was pinged by three hosts: {entry}");
        assert!(entry["used"].as_u64().expect("used") <= 30, "{entry}");
    }
    let out = vswitch(&["fdb", "show", "-s", "--name", &sw.name]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(&mac(1)))
        .unwrap_or_else(|| panic!("host 1 missing from fdb show -s: {text}"));
    assert!(
        line.contains(" hits ") && line.contains(" used "),
        "fdb show -s: {line}"
    );
    let stats = sw.json(&["stats"]).expect("stats");
    assert_eq!(stats["ports"], 4);
}

fn learn_and_capture_third(hub: bool, tag: char) -> usize {
    let lab = Lab::up(tag, 3);
    let extra: &[&str] = if hub { &["--hub"] } else { &[] };
    let _sw = Running::start(&lab.prefix, &lab.ports(), extra);
    // Learning: every host talks once.
    assert!(ping(&lab.ns(1), &addr(2)));
    assert!(ping(&lab.ns(3), &addr(1)));
    assert!(ping(&lab.ns(3), &addr(2)));
    let mut third = sniffer(&lab.ns(3), "veth3");
    for _ in 0..3 {
        assert!(ping_once(&lab.ns(1), &addr(2)));
    }
    // A hub shows them soon; a switch must show none within the window.
    let seen = collect(&mut third, Duration::from_millis(500), |f| {
        between_1_and_2(f) >= 6
    });
    between_1_and_2(&seen)
}

#[test]
fn linux_third_host_sees_no_unicast_but_does_on_a_hub() {
    if !ready() {
        return;
    }
    let switched = learn_and_capture_third(false, 'b');
    assert_eq!(
        switched, 0,
        "a switch sent unicast between 1 and 2 to host 3"
    );
    let hubbed = learn_and_capture_third(true, 'c');
    assert!(
        hubbed >= 6,
        "a hub showed only {hubbed} of 6 frames to host 3"
    );
}

#[test]
fn linux_del_and_add_a_port() {
    if !ready() {
        return;
    }
    let lab = Lab::up('d', 3);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    assert!(ping(&lab.ns(1), &addr(2)));
    assert!(sw.fdb().iter().any(|e| e["mac"] == mac(2)));
    // Without --fdb-stats there are no per-entry counters, and `fdb show -s`
    // says so and how to turn them on instead of printing zeros.
    let out = vswitch(&["fdb", "show", "-s", "--name", &sw.name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "fdb show -s without counters: {err}");
    assert!(
        err.contains("counters are off") && err.contains("--fdb-stats"),
        "fdb show -s without counters: {err}"
    );
    ok(&vswitch(&["del", &lab.port(2), "--name", &sw.name]));
    assert!(
        !sw.fdb().iter().any(|e| e["mac"] == mac(2)),
        "host 2's entry outlived its port"
    );
    assert!(
        !ping_once(&lab.ns(1), &addr(2)),
        "host 2 reachable after del"
    );
    assert!(
        ping(&lab.ns(1), &addr(3)),
        "host 3 unreachable after deleting port 2"
    );
    // Errors are one line and say what is wrong.
    let again = vswitch(&["del", &lab.port(2), "--name", &sw.name]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not attached"));
    ok(&vswitch(&[
        "add",
        &format!("netns:{}/veth2", lab.ns(2)),
        "--name",
        &sw.name,
    ]));
    let dup = vswitch(&["add", &lab.port(2), "--name", &sw.name]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already attached"));
    let missing = vswitch(&["add", "vswnosuch0", "--name", &sw.name]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
    assert!(ping(&lab.ns(1), &addr(2)), "host 2 unreachable after add");
    let nosw = vswitch(&["show", "--name", &format!("{}x", sw.name)]);
    assert!(String::from_utf8_lossy(&nosw.stderr).contains("no switch named"));
}

#[test]
fn linux_deleting_a_veth_removes_its_port() {
    if !ready() {
        return;
    }
    let lab = Lab::up('e', 4);
    let mut sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    assert!(ping(&lab.ns(1), &addr(2)));
    let status = Command::new("ip")
        .args(["link", "del", &lab.port(2)])
        .status()
        .expect("ip link del");
    assert!(status.success());
    let gone = wait_until(Duration::from_secs(3), || {
        sw.ports()
            .is_some_and(|p| p.len() == 3 && !p.iter().any(|p| p["ifname"] == lab.port(2)))
    });
    assert!(gone, "the port of the deleted veth is still there");
    assert!(sw.alive(), "the switch died");
    assert!(ping(&lab.ns(1), &addr(3)));
    assert!(ping(&lab.ns(4), &addr(1)));
    assert!(!sw.fdb().iter().any(|e| e["mac"] == mac(2)));
}

fn frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f.resize(60.max(f.len()), 0);
    f
}

#[test]
fn linux_bpdus_and_lldp_stay_on_their_port() {
    if !ready() {
        return;
    }
    let lab = Lab::up('f', 3);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    let mut sender = sniffer(&lab.ns(1), "veth1");
    let mut rx2 = sniffer(&lab.ns(2), "veth2");
    let mut rx3 = sniffer(&lab.ns(3), "veth3");
    let src = mac_bytes(1);
    // STP configuration BPDU: 802.3 length, LLC 42 42 03, then the BPDU.
    let mut bpdu_payload = vec![0x42, 0x42, 0x03, 0, 0, 0, 0];
    bpdu_payload.extend_from_slice(&[0x80, 0, 2, 0, 0, 0, 1, 1]);
    let bpdu = frame([0x01, 0x80, 0xc2, 0, 0, 0], src, 38, &bpdu_payload);
    // LLDP: chassis id, port id and TTL TLVs, then the end TLV.
    let lldp_payload = [
        0x02, 0x07, 0x04, 2, 0, 0, 0, 1, 1, 0x04, 0x02, 0x07, 0x31, 0x06, 0x02, 0x00, 0x78, 0, 0,
    ];
    let lldp = frame([0x01, 0x80, 0xc2, 0, 0, 0x0e], src, 0x88cc, &lldp_payload);
    // A broadcast marker that must arrive: proves the receivers are listening.
    let marker = frame([0xff; 6], src, 0x88b5, b"vswitch-test-marker");
    for f in [&bpdu, &lldp, &bpdu, &lldp, &marker] {
        sender.send_now(f).expect("send from host 1");
    }
    for rx in [&mut rx2, &mut rx3] {
        let frames = collect(rx, Duration::from_secs(2), |f| {
            f.iter().any(|f| **f == *marker)
        });
        assert!(
            frames.contains(&marker),
            "the broadcast marker did not arrive"
        );
        let link_local: Vec<_> = frames
            .iter()
            .filter(|f| f[..5] == [0x01, 0x80, 0xc2, 0, 0])
            .collect();
        assert!(
            link_local.is_empty(),
            "link-local frames crossed the switch: {link_local:?}"
        );
    }
    let ports = sw.ports().expect("show");
    let p1 = ports
        .iter()
        .find(|p| p["ifname"] == lab.port(1))
        .expect("port 1");
    assert_eq!(p1["drops"]["link-local"], 4, "{p1}");
}

/// Port `k`'s counter `name` (`unicast`, `drops.link-local`, ...) as `show -j`
/// gives it; 0 when absent.
fn port_counter(sw: &Running, lab: &Lab, k: u32, name: &str) -> u64 {
    let p = sw.port(&lab.port(k));
    let v = match name.split_once('.') {
        Some((outer, inner)) => &p[outer][inner],
        None => &p[name],
    };
    v.as_u64().unwrap_or(0)
}

/// The ports (interface names) the FDB lists `mac` on.
fn fdb_ports(sw: &Running, mac: &str) -> Vec<String> {
    sw.fdb()
        .iter()
        .filter(|e| e["mac"] == mac)
        .map(|e| e["ifname"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn linux_lldp_teaches_the_switch_its_source_and_pause_does_not() {
    if !ready() {
        return;
    }
    let lab = Lab::up('n', 3);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    let mut h1 = sniffer(&lab.ns(1), "veth1");
    let mut h2 = sniffer(&lab.ns(2), "veth2");
    let mut rx3 = sniffer(&lab.ns(3), "veth3");
    // MACs no lab host has: each speaks only the link-local frame sent here.
    let (quiet, paused) = ([2, 0, 0, 0, 0x0a, 1], [2, 0, 0, 0, 0x0a, 2]);
    let lldp_payload = [
        0x02, 0x07, 0x04, 2, 0, 0, 0, 0x0a, 1, 0x04, 0x02, 0x07, 0x31, 0x06, 0x02, 0x00, 0x78, 0, 0,
    ];
    h1.send_now(&frame(
        [0x01, 0x80, 0xc2, 0, 0, 0x0e],
        quiet,
        0x88cc,
        &lldp_payload,
    ))
    .expect("send LLDP from host 1");
    assert!(
        wait_until(Duration::from_secs(3), || fdb_ports(
            &sw,
            "02:00:00:00:0a:01"
        ) == [lab.port(1)]),
        "LLDP from host 1 was not learned on its port: {:?}",
        sw.fdb()
    );
    assert_eq!(port_counter(&sw, &lab, 1, "drops.link-local"), 1);

    // Unicast to it from host 2 reaches host 1 and not host 3; a broadcast
    // marker behind it tells host 3 that everything has arrived.
    let to_quiet = frame(quiet, mac_bytes(2), 0x88b5, b"to-the-lldp-host");
    let marker = frame([0xff; 6], mac_bytes(2), 0x88b5, b"vswitch-test-marker");
    h2.send_now(&to_quiet).expect("send from host 2");
    h2.send_now(&marker).expect("send from host 2");
    let at1 = collect(&mut h1, Duration::from_secs(2), |f| f.contains(&to_quiet));
    assert!(at1.contains(&to_quiet), "the unicast did not reach host 1");
    let at3 = collect(&mut rx3, Duration::from_secs(2), |f| f.contains(&marker));
    assert!(at3.contains(&marker), "host 3 is not listening");
    assert!(
        !at3.contains(&to_quiet),
        "unicast to the LLDP host was flooded"
    );
    assert_eq!(port_counter(&sw, &lab, 2, "unicast"), 1);

    // PAUSE from another MAC: dropped (counted), learned nowhere, so unicast
    // to that MAC floods and host 3 sees it.
    let mut pause_payload = vec![0x00, 0x01, 0xff, 0xff];
    pause_payload.resize(46, 0);
    h1.send_now(&frame(
        [0x01, 0x80, 0xc2, 0, 0, 0x01],
        paused,
        0x8808,
        &pause_payload,
    ))
    .expect("send PAUSE from host 1");
    assert!(
        wait_until(Duration::from_secs(3), || port_counter(
            &sw,
            &lab,
            1,
            "drops.link-local"
        ) == 2),
        "the PAUSE frame did not reach the switch"
    );
    assert_eq!(fdb_ports(&sw, "02:00:00:00:0a:02"), Vec::<String>::new());
    let to_paused = frame(paused, mac_bytes(2), 0x88b5, b"to-the-pause-host");
    h2.send_now(&to_paused).expect("send from host 2");
    let at3 = collect(&mut rx3, Duration::from_secs(2), |f| f.contains(&to_paused));
    assert!(
        at3.contains(&to_paused),
        "unicast to the PAUSE host not flooded"
    );
    assert_eq!(port_counter(&sw, &lab, 2, "unknown_unicast"), 1);
}

#[test]
fn linux_tap_port_carries_traffic() {
    if !ready() {
        return;
    }
    let mut lab = Lab::up('g', 1);
    // The TAP's device becomes a host in its own namespace; the switch keeps its descriptor.
    let (sw, tap, tap_ns) = tap_host(&mut lab);
    assert!(
        ping(&lab.ns(1), TAP_HOST),
        "host 1 cannot reach the TAP host"
    );
    assert!(ping(&tap_ns, &addr(1)), "the TAP host cannot reach host 1");
    let ports = sw.ports().expect("show");
    let t = ports.iter().find(|p| p["ifname"] == tap).expect("tap port");
    assert_eq!(t["kind"], "tap");
    assert!(t["tx_frames"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn linux_carrier_down_marks_the_port_down_and_flushes_it() {
    if !ready() {
        return;
    }
    let lab = Lab::up('h', 3);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    assert!(ping(&lab.ns(1), &addr(2)));
    let set = |state: &str| {
        let s = Command::new("ip")
            .args(["-n", &lab.ns(2), "link", "set", "veth2", state])
            .status()
            .expect("ip link set");
        assert!(s.success());
    };
    let port2_state = |sw: &Running| {
        sw.ports()
            .and_then(|p| p.into_iter().find(|p| p["ifname"] == lab.port(2)))
            .map(|p| p["state"].as_str().unwrap_or("").to_string())
    };
    set("down");
    assert!(
        wait_until(Duration::from_secs(3), || port2_state(&sw).as_deref()
            == Some("down")),
        "port 2 not marked down"
    );
    assert!(
        !sw.fdb().iter().any(|e| e["mac"] == mac(2)),
        "entries of a down port kept"
    );
    assert!(
        ping(&lab.ns(1), &addr(3)),
        "the other ports stopped working"
    );
    set("up");
    assert!(
        wait_until(Duration::from_secs(3), || port2_state(&sw).as_deref()
            == Some("up")),
        "port 2 not marked up again"
    );
    assert!(ping(&lab.ns(1), &addr(2)));
}

#[test]
fn linux_capture_and_trace_a_running_switch() {
    if !ready() {
        return;
    }
    let lab = Lab::up('i', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    assert!(ping(&lab.ns(1), &addr(2)));
    let spawn = |args: &[&str]| {
        Guard(
            Command::new(VSWITCH)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn vswitch"),
        )
    };
    let port2 = lab.port(2);
    let mut capture = spawn(&["capture", &port2, "-w", "-", "-c", "2", "--name", &sw.name]);
    let mut trace = spawn(&["trace", "--port", &port2, "--name", &sw.name]);
    // Both are attached once the switch counts them; poll with pings until the
    // capture has its 2 frames (bounded).
    let (tx, rx) = std::sync::mpsc::channel();
    let mut trace_out = trace.0.stdout.take().expect("trace stdout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = trace_out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && matches!(capture.0.try_wait(), Ok(None)) {
        ping_once(&lab.ns(1), &addr(2));
    }
    assert!(
        matches!(capture.0.try_wait(), Ok(Some(s)) if s.success()),
        "capture did not finish"
    );
    let mut pcap = Vec::new();
    capture
        .0
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut pcap)
        .unwrap();
    let frames = pcap_frames(&pcap);
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f[..6] == mac_bytes(2)), "{frames:?}");
    let mut text = Vec::new();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(2)) {
        text.extend_from_slice(&chunk);
        if String::from_utf8_lossy(&text).contains("echo reply") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("ICMP echo"), "trace: {text}");
    assert!(text.contains(&format!("in={port2}")), "trace: {text}");
}

#[test]
fn linux_namespace_and_pid_ports_find_their_peer() {
    if !ready() {
        return;
    }
    let mut lab = Lab::up('j', 3);
    let sw = Running::start(&lab.prefix, &[lab.port(1)], &[]);
    // Port 2's peer starts on a Linux bridge: attaching releases it.
    let bridge = format!("{}br", lab.prefix);
    lab.extra_links.push(bridge.clone());
    for args in [
        vec!["link", "add", &bridge, "type", "bridge"],
        vec!["link", "set", &lab.port(2), "master", &bridge],
    ] {
        assert!(Command::new("ip").args(&args).status().unwrap().success());
    }
    let out = ok(&vswitch(&[
        "add",
        &format!("netns:{}/veth2", lab.ns(2)),
        "--name",
        &sw.name,
    ]));
    assert!(out.contains(&lab.port(2)), "{out}");
    assert!(
        out.contains(&format!("released from bridge {bridge}")),
        "{out}"
    );
    // Port 3 through a process living in namespace 3.
    let sleeper = Guard(
        Command::new("ip")
            .args(["netns", "exec", &lab.ns(3), "sleep", "30"])
            .spawn()
            .expect("sleep in namespace"),
    );
    let pid = sleeper.0.id().to_string();
    let in_ns = wait_until(Duration::from_secs(3), || {
        let mine = std::fs::read_link("/proc/self/ns/net").ok();
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
        theirs.is_some() && theirs != mine
    });
    assert!(in_ns, "the helper process did not enter its namespace");
    let out = ok(&vswitch(&[
        "add",
        &format!("pid:{pid}/veth3"),
        "--name",
        &sw.name,
    ]));
    assert!(out.contains(&lab.port(3)), "{out}");
    let bad = vswitch(&[
        "add",
        &format!("netns:{}x/veth1", lab.prefix),
        "--name",
        &sw.name,
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not exist"));
    assert!(
        wait_until(Duration::from_secs(3), || sw
            .ports()
            .is_some_and(
                |p| p.len() == 3 && p.iter().all(|p| p["state"] == "up")
            )),
        "ports not up"
    );
    assert!(ping(&lab.ns(1), &addr(2)));
    assert!(ping(&lab.ns(1), &addr(3)));
}

#[test]
fn linux_frames_over_the_egress_mtu_are_dropped_and_counted() {
    if !ready() {
        return;
    }
    let lab = Lab::up('k', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    assert!(ping(&lab.ns(1), &addr(2)));
    let s = Command::new("ip")
        .args(["link", "set", &lab.port(2), "mtu", "1000"])
        .status()
        .expect("ip link set mtu");
    assert!(s.success());
    let port2 = |sw: &Running| {
        sw.ports()
            .and_then(|p| p.into_iter().find(|p| p["ifname"] == lab.port(2)))
            .expect("port 2")
    };
    assert!(
        wait_until(Duration::from_secs(3), || port2(&sw)["mtu"] == 1000),
        "the MTU change was not seen"
    );
    // 1200 bytes of ICMP payload: a 1242-byte frame, over port 2's MTU.
    let big = in_ns(
        &lab.ns(1),
        &["ping", "-c", "1", "-W", "1", "-q", "-s", "1200", &addr(2)],
    );
    assert!(
        !big.status.success(),
        "a frame over the egress MTU got through"
    );
    assert!(port2(&sw)["drops"]["too-big"].as_u64().unwrap_or(0) >= 1);
    assert!(ping(&lab.ns(1), &addr(2)), "small frames stopped working");
}

/// A file removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn linux_vlan_config_keeps_vlans_apart_and_tags_the_trunk() {
    if !ready() {
        return;
    }
    let lab = Lab::up('l', 3);
    let config = TempFile(std::env::temp_dir().join(format!("{}.toml", lab.prefix)));
    let text = format!(
        "vlan-aware = true\n\
         [ports.{}]\nvlan = {{ trunk = [10, 20] }}\n\
         [ports.{}]\nvlan = {{ access = 10 }}\n\
         [ports.{}]\nvlan = {{ access = 20 }}\n",
        lab.port(1),
        lab.port(2),
        lab.port(3)
    );
    std::fs::write(&config.0, text).expect("write config");
    let config_path = config.0.to_string_lossy().into_owned();
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--config", &config_path]);
    // Raw frames, as the kernel here may lack 802.1Q devices: host 1 sends a
    // tagged broadcast into each VLAN, host 2 an untagged one into its VLAN.
    let mut h1 = sniffer(&lab.ns(1), "veth1");
    let mut h2 = sniffer(&lab.ns(2), "veth2");
    let mut h3 = sniffer(&lab.ns(3), "veth3");
    let tagged = |vid: u16, marker: &[u8]| {
        let mut payload = vec![0x88, 0xb5];
        payload.extend_from_slice(marker);
        let mut f = frame([0xff; 6], mac_bytes(1), 0x8100, &vid.to_be_bytes());
        f.truncate(16);
        f.extend_from_slice(&payload);
        f.resize(64, 0);
        f
    };
    h1.send_now(&tagged(10, b"to-vlan-10")).expect("send");
    h1.send_now(&tagged(20, b"to-vlan-20")).expect("send");
    h2.send_now(&frame([0xff; 6], mac_bytes(2), 0x88b5, b"from-access-10"))
        .expect("send");
    let has = |frames: &[Vec<u8>], marker: &[u8]| -> Option<Vec<u8>> {
        frames
            .iter()
            .find(|f| f.windows(marker.len()).any(|w| w == marker))
            .cloned()
    };
    let at2 = collect(&mut h2, Duration::from_secs(2), |f| {
        has(f, b"to-vlan-10").is_some()
    });
    let at3 = collect(&mut h3, Duration::from_secs(2), |f| {
        has(f, b"to-vlan-20").is_some()
    });
    let at1 = collect(&mut h1, Duration::from_secs(2), |f| {
        has(f, b"from-access-10").is_some()
    });
    let v10 = has(&at2, b"to-vlan-10").expect("VLAN 10 frame did not reach access port 10");
    assert_eq!(v10[12..14], [0x88, 0xb5], "access port got a tagged frame");
    assert!(
        has(&at2, b"to-vlan-20").is_none(),
        "VLAN 20 leaked to VLAN 10"
    );
    let v20 = has(&at3, b"to-vlan-20").expect("VLAN 20 frame did not reach access port 20");
    assert_eq!(v20[12..14], [0x88, 0xb5]);
    assert!(
        has(&at3, b"to-vlan-10").is_none(),
        "VLAN 10 leaked to VLAN 20"
    );
    let back = has(&at1, b"from-access-10").expect("access 10 frame did not reach the trunk");
    assert_eq!(
        back[12..16],
        [0x81, 0x00, 0x00, 0x0a],
        "not tagged 10 on the trunk"
    );
    let fdb = sw.fdb();
    let host1 = fdb
        .iter()
        .find(|e| e["mac"] == mac(1))
        .expect("host 1 learned");
    assert_eq!(host1["vlan"], 10, "{fdb:?}");
    assert_eq!(host1["ifname"], lab.port(1));
}

#[test]
fn linux_lab_refuses_what_exists_and_down_removes_everything() {
    if !ready() {
        return;
    }
    let lab = Lab::up('m', 2);
    // A second lab with the same names is refused, and the first is untouched.
    let again = vswitch(&["lab", "up", "2", "--prefix", &lab.prefix]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(Path::new(&format!("/run/netns/{}", lab.ns(2))).exists());
    let too_long = vswitch(&["lab", "up", "2", "--prefix", "a-much-too-long-prefix"]);
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("too long"));
    ok(&vswitch(&["lab", "down", "--prefix", &lab.prefix]));
    for k in 1..=2 {
        assert!(!Path::new(&format!("/run/netns/{}", lab.ns(k))).exists());
        assert!(!Path::new(&format!("/sys/class/net/{}", lab.port(k))).exists());
    }
}

fn ready() -> bool {
    common::ready("the Linux switch tests", &[("ip", "-V"), ("ping", "-V")])
}
