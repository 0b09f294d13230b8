//! The Linux fast path: TCP through the switch with the veths' default offloads
//! (TX checksum offload and TSO on, so 64 KB super-frames with partial
//! checksums reach the switch), finished in software for a TAP host and for a
//! capture, TCP segments from hosts without offloads joined into super-frames
//! on their way to the receiving host, and drops counted when a burst
//! overflows a port's receive queue.
//!
//! Each test builds its own lab (namespaces `vswt-{pid}{letter}K`, only
//! 192.168.100.0/24), removes it on drop even when it fails, bounds every wait
//! and kills only the processes it started, by PID. Needs root, iproute2, ping
//! and iperf3; without them a test prints a skip note and passes, unless the
//! environment variable CI is set: then it fails.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs iperf3 for 3 s from `client_ns` to a server on `server` in `server_ns`;
/// returns the bytes the server received, and iperf3's report.
fn iperf3(server_ns: &str, server: &str, client_ns: &str) -> (u64, String) {
    // `ip netns exec` becomes iperf3 itself: the guard kills the server by
    // its PID (a `timeout` wrapper, killed, would leave it behind).
    let _server = Guard(
        Command::new("ip")
            .args(["netns", "exec", server_ns, "iperf3", "-s", "-1"])
            .args(["-B", server])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iperf3 server"),
    );
    // The server needs a moment to listen: a few bounded attempts (iperf3 -J
    // may report "connection refused" in its JSON with a success status).
    let mut last = serde_json::Value::Null;
    for _ in 0..20 {
        let o = Command::new("timeout")
            .args([
                "12", "ip", "netns", "exec", client_ns, "iperf3", "-c", server,
            ])
            .args(["-t", "3", "-J"])
            .stdin(Stdio::null())
            .output()
            .expect("iperf3 client");
        last = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
        if o.status.success() && last["error"].is_null() && !last["end"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = match last["error"].as_str() {
        Some(e) => format!("error: {e}"),
        None => last["end"].to_string(),
    };
    (
        last["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0),
        report,
    )
}

fn sum16(data: &[u8], mut acc: u64) -> u64 {
    for c in data.chunks(2) {
        acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// For an untagged IPv4 TCP frame: true if its IPv4 and TCP checksums hold.
fn tcp4_checksums_hold(f: &[u8]) -> Option<bool> {
    if f.get(12..14)? != [0x08, 0x00] || *f.get(23)? != 6 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let ip_ok = fold(sum16(&f[14..14 + ihl], 0)) == 0xffff;
    let tcp = f.get(14 + ihl..14 + total)?;
    let pseudo = sum16(&f[26..34], 0) + 6 + tcp.len() as u64;
    Some(ip_ok && fold(sum16(tcp, pseudo)) == 0xffff)
}

/// The switch's counters of `port` once TCP with offloads crossed it: more
/// than 1514 bytes a frame on average, so GSO super-frames came through whole.
fn super_frames_crossed(sw: &Running, port: &str) -> serde_json::Value {
    let p = sw.port(port);
    let (frames, bytes) = (
        p["rx_frames"].as_u64().unwrap_or(0),
        p["rx_bytes"].as_u64().unwrap_or(1),
    );
    assert!(
        frames > 0 && bytes / frames > 1514,
        "no super-frames crossed: {p}"
    );
    p
}

#[test]
fn fastpath_tcp_with_default_offloads_crosses_as_super_frames() {
    if !ready() {
        return;
    }
    let lab = Lab::up('o', 2);
    assert!(
        !lab.up_output.contains("offload"),
        "lab up touches offloads: {}",
        lab.up_output
    );
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    assert!(ping(&lab.ns(1), &addr(2)), "no ping through the switch");
    // A capture of what leaves towards the server: what a wire would carry.
    let pcap = PathBuf::from(format!("/tmp/{}-capture.pcap", lab.prefix));
    let _ = std::fs::remove_file(&pcap);
    let pcap_file = std::fs::File::create(&pcap).expect("pcap file");
    let port2 = lab.port(2);
    let mut capture = Guard(
        Command::new(VSWITCH)
            .args([
                "capture", &port2, "-w", "-", "-c", "300", "--name", &sw.name,
            ])
            .stdin(Stdio::null())
            .stdout(pcap_file)
            .stderr(Stdio::null())
            .spawn()
            .expect("vswitch capture"),
    );
    std::thread::sleep(Duration::from_millis(200));
    let (received, report) = iperf3(&lab.ns(2), &addr(2), &lab.ns(1));
    assert!(
        received > 10_000_000,
        "TCP moved only {received} bytes through the switch: {report}"
    );
    super_frames_crossed(&sw, &lab.port(1));
    assert!(wait_until(Duration::from_secs(5), || {
        !matches!(capture.0.try_wait(), Ok(None))
    }));
    let frames = pcap_frames(&std::fs::read(&pcap).unwrap_or_default());
    let _ = std::fs::remove_file(&pcap);
    assert!(frames.len() >= 100, "capture got {} frames", frames.len());
    assert!(
        frames.iter().all(|f| f.len() <= 1514),
        "the capture got unsegmented frames"
    );
    let tcp: Vec<bool> = frames
        .iter()
        .filter_map(|f| tcp4_checksums_hold(f))
        .collect();
    assert!(
        tcp.len() >= 100 && tcp.iter().all(|&ok| ok),
        "bad checksums in the capture"
    );
}

/// A counter of interface `iface` in namespace `ns`.
fn ns_counter(ns: &str, iface: &str, what: &str) -> u64 {
    let path = format!("/sys/class/net/{iface}/statistics/{what}");
    String::from_utf8_lossy(&in_ns(ns, &["cat", &path]).stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn fastpath_tcp_without_offloads_reaches_the_host_as_joined_super_frames() {
    if !ready() || !common::ready("the GRO test", &[("ethtool", "--version")]) {
        return;
    }
    let lab = Lab::up('g', 2);
    // Senders that checksum and segment in software: 1514-byte frames reach
    // the switch, which joins a batch's run of segments of one flow.
    finished_checksums(&lab);
    for gro in [false, true] {
        let name = format!("{}{}", lab.prefix, if gro { 'j' } else { 'n' });
        let extra: &[&str] = if gro { &[] } else { &["--no-gro"] };
        let sw = Running::start(&name, &lab.ports(), extra);
        assert!(ping(&lab.ns(1), &addr(2)), "no ping through the switch");
        let sent0 = ns_counter(&lab.ns(1), "veth1", "tx_packets");
        let got0 = ns_counter(&lab.ns(2), "veth2", "rx_packets");
        let (received, report) = iperf3(&lab.ns(2), &addr(2), &lab.ns(1));
        let sent = ns_counter(&lab.ns(1), "veth1", "tx_packets") - sent0;
        let got = ns_counter(&lab.ns(2), "veth2", "rx_packets") - got0;
        assert!(
            received > 10_000_000,
            "TCP moved only {received} bytes (gro {gro}): {report}"
        );
        // The switch counts the frames of the wire, joined or not.
        let p1 = sw.port(&lab.port(1));
        let p2 = sw.port(&lab.port(2));
        let rx1 = p1["rx_frames"].as_u64().unwrap_or(0);
        assert!(
            rx1 * 10 >= sent * 9 && p1["rx_bytes"].as_u64().unwrap_or(0) <= rx1 * 1514,
            "the switch saw {rx1} frames of the {sent} sent: {p1}"
        );
        assert!(
            p2["tx_frames"].as_u64().unwrap_or(0) * 10 >= sent * 9,
            "{p2}"
        );
        if gro {
            assert!(
                got * 4 < sent,
                "{sent} segments sent, the host received {got} frames: not joined"
            );
        } else {
            assert!(
                got * 10 >= sent * 9,
                "{sent} segments sent, the host received {got} frames"
            );
        }
    }
}

#[test]
fn fastpath_tcp_to_a_tap_host_is_segmented_in_software() {
    if !ready() {
        return;
    }
    let mut lab = Lab::up('p', 1);
    // The TAP (opened without virtio-net headers) becomes a host in its own
    // namespace: it takes only finished frames, while host 1 sends TSO.
    let (sw, tap, tap_ns) = tap_host(&mut lab);
    assert!(ping(&lab.ns(1), TAP_HOST), "no ping to the TAP host");
    let (received, report) = iperf3(&tap_ns, TAP_HOST, &lab.ns(1));
    let tap_port = sw.port(&tap);
    assert!(
        received > 1_000_000,
        "TCP moved only {received} bytes to the TAP host: {report}; {tap_port}"
    );
}

/// CPU time (user + system, clock ticks) of process `pid`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which may hold spaces: utime and
    // stime are the 12th and 13th.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)
}

#[test]
fn fastpath_an_idle_switch_sleeps_after_traffic() {
    if !ready() {
        return;
    }
    let lab = Lab::up('i', 2);
    // Both kinds of interface port: AF_PACKET, then AF_XDP.
    for (k, kind) in [&[][..], &["--afxdp"][..]].into_iter().enumerate() {
        let name = format!("{}{k}", lab.prefix);
        let mut args = vec!["--poll-us", "1000"];
        args.extend_from_slice(kind);
        let sw = Running::start(&name, &lab.ports(), &args);
        let want = if kind.is_empty() { "afpacket" } else { "afxdp" };
        assert_eq!(sw.port(&lab.port(1))["kind"], want);
        let out = in_ns(
            &lab.ns(1),
            &["ping", "-c", "200", "-i", "0.002", "-q", &addr(2)],
        );
        assert!(out.status.success(), "no ping through the switch {args:?}");
        // Polling after traffic lasts a millisecond; then the switch must block.
        let before = cpu_ticks(sw.child.id());
        std::thread::sleep(Duration::from_secs(3));
        let used = cpu_ticks(sw.child.id()) - before;
        assert!(
            used <= 3,
            "an idle switch {args:?} used {used} ticks of CPU in 3 s"
        );
    }
}

/// A port flapped (its own link, then the far end's) on a switch with each
/// receive ring: its entries are flushed while it is down, it forwards again
/// once up, and the idle switch goes back to sleep (issue 12: an unread
/// socket error after the flap woke it thousands of times a second forever).
#[test]
fn fastpath_a_flapped_port_forwards_and_sleeps() {
    if !ready() {
        return;
    }
    let lab = Lab::up('f', 2);
    for (k, ring) in ["v2", "v3", "none"].into_iter().enumerate() {
        let name = format!("{}{k}", lab.prefix);
        let sw = Running::start(&name, &lab.ports(), &["--rx-ring", ring]);
        let port = lab.port(1);
        let learned = |sw: &Running| sw.fdb().iter().any(|e| e["ifname"] == port.as_str());
        for far_end in [false, true] {
            assert!(
                ping(&lab.ns(1), &addr(2)),
                "no ping before the flap ({ring})"
            );
            assert!(learned(&sw), "host 1 not learned before the flap ({ring})");
            let (ns, dev) = if far_end {
                (Some(lab.ns(1)), "veth1".to_string())
            } else {
                (None, port.clone())
            };
            let set = |state: &str| match &ns {
                Some(ns) => ip(&["-n", ns, "link", "set", &dev, state]),
                None => ip(&["link", "set", &dev, state]),
            };
            set("down");
            assert!(
                wait_until(Duration::from_secs(5), || sw.port(&port)["state"] == "down"),
                "the switch did not see {dev} go down ({ring})"
            );
            assert!(!learned(&sw), "entries of a down port kept ({ring})");
            set("up");
            assert!(
                wait_until(Duration::from_secs(5), || sw.port(&port)["state"] == "up"),
                "the switch did not see {dev} come up ({ring})"
            );
            assert!(
                ping(&lab.ns(1), &addr(2)),
                "no ping after the flap ({ring})"
            );
            let before = cpu_ticks(sw.child.id());
            std::thread::sleep(Duration::from_secs(2));
            let used = cpu_ticks(sw.child.id()) - before;
            assert!(
                used <= 2,
                "after a flap of {dev} the idle switch (--rx-ring {ring}) used {used} ticks of CPU in 2 s"
            );
        }
    }
}

#[test]
fn fastpath_the_v3_ring_forwards_and_takes_super_frames_whole() {
    if !ready() {
        return;
    }
    let lab = Lab::up('v', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--rx-ring", "v3"]);
    assert!(ping(&lab.ns(1), &addr(2)), "no ping through a V3 switch");
    let (received, report) = iperf3(&lab.ns(2), &addr(2), &lab.ns(1));
    assert!(
        received > 10_000_000,
        "TCP moved only {received} bytes through a V3 switch: {report}"
    );
    let p1 = super_frames_crossed(&sw, &lab.port(1));
    assert_eq!(p1["rx_errors"].as_u64(), Some(0), "{p1}");
}

/// Sends `count` frames of 1000 bytes out of `iface` in namespace `ns`.
fn blast(ns: &str, iface: &str, count: usize) {
    let iface = iface.to_string();
    vswitch_linux::sys::in_netns(&format!("/run/netns/{ns}"), move || {
        use std::os::fd::AsRawFd;
        let index = vswitch_linux::sys::if_index(&iface)?;
        let sock = vswitch_linux::sys::packet_socket()?;
        vswitch_linux::sys::packet_bind(sock.as_raw_fd(), index)?;
        let mut frame = vec![0u8; 1000];
        frame[..6].copy_from_slice(&[0x02, 0, 0, 0, 0x0e, 0x0e]);
        frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0x01, 0x01]);
        frame[12..14].copy_from_slice(&[0x88, 0xb5]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sent = 0;
        while sent < count && Instant::now() < deadline {
            match vswitch_linux::sys::send(sock.as_raw_fd(), &frame) {
                Ok(_) => sent += 1,
                Err(_) => std::thread::sleep(Duration::from_micros(50)),
            }
        }
        Ok(())
    })
    .expect("sending in the namespace");
}

fn rx_packets(iface: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/rx_packets"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn fastpath_a_burst_the_switch_cannot_take_is_counted_as_rx_full() {
    if !ready() {
        return;
    }
    let lab = Lab::up('q', 2);
    let mut sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    let port1 = lab.port(1);
    let before = rx_packets(&port1);
    let counted = |p: &serde_json::Value| {
        p["rx_frames"].as_u64().unwrap_or(0)
            + p["rx_errors"].as_u64().unwrap_or(0)
            + p["drops"]["rx-full"].as_u64().unwrap_or(0)
    };
    let counted_before = counted(&sw.port(&port1));
    // A stopped switch reads nothing: 30 MB of frames overflow its receive
    // queue whatever the machine's speed.
    sw.signal("-STOP");
    blast(&lab.ns(1), "veth1", 30_000);
    sw.signal("-CONT");
    let arrived = rx_packets(&port1) - before;
    assert!(arrived > 10_000, "only {arrived} frames reached the port");
    let mut last = serde_json::Value::Null;
    let all_counted = wait_until(Duration::from_secs(10), || {
        last = sw.port(&port1);
        counted(&last) - counted_before == arrived
    });
    assert!(
        all_counted,
        "{arrived} frames arrived, the switch accounts for {}: {last}",
        counted(&last) - counted_before
    );
    let full = last["drops"]["rx-full"].as_u64().unwrap_or(0);
    assert!(full > 0, "no rx-full drops counted: {last}");
    let show = vswitch(&["show", "--name", &sw.name]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("rx-full"));
}

/// Turns TX checksum offload (and with it TSO) off on the host ends of a
/// lab's veths: the hosts send finished frames of at most the MTU.
fn finished_checksums(lab: &Lab) {
    for k in 1..=lab.n {
        let iface = format!("veth{k}");
        ip(&[
            "netns",
            "exec",
            &lab.ns(k),
            "ethtool",
            "-K",
            &iface,
            "tx",
            "off",
        ]);
    }
}

/// True if interface `iface` has an XDP program attached.
fn has_xdp(iface: &str) -> bool {
    let out = Command::new("ip")
        .args(["-d", "link", "show", iface])
        .output()
        .expect("ip link show");
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

#[test]
fn fastpath_afxdp_ports_forward_beside_afpacket_ones_and_detach_on_exit() {
    if !ready() || !common::ready("the AF_XDP test", &[("ethtool", "--version")]) {
        return;
    }
    let lab = Lab::up('x', 3);
    finished_checksums(&lab);
    // A frame of MTU 9000 does not fit an AF_XDP chunk: that port falls
    // back to AF_PACKET.
    ip(&["link", "set", &lab.port(3), "mtu", "9000"]);
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--afxdp"]);
    let kinds: Vec<_> = (1..=3)
        .map(|k| sw.port(&lab.port(k))["kind"].clone())
        .collect();
    assert_eq!(kinds, ["afxdp", "afxdp", "afpacket"], "port kinds");
    assert!(has_xdp(&lab.port(1)) && !has_xdp(&lab.port(3)));
    assert!(ping(&lab.ns(1), &addr(2)), "no ping between AF_XDP ports");
    assert!(
        ping(&lab.ns(3), &addr(1)),
        "no ping from AF_PACKET to AF_XDP"
    );
    let (received, report) = iperf3(&lab.ns(2), &addr(2), &lab.ns(1));
    assert!(
        received > 10_000_000,
        "TCP moved only {received} bytes between AF_XDP ports: {report}"
    );
    let p2 = sw.port(&lab.port(2));
    assert!(
        p2["tx_bytes"].as_u64().unwrap_or(0) >= received,
        "port 2 sent less than the host received: {p2}"
    );
    drop(sw);
    // The program was attached by a link the switch held: gone with it.
    assert!(
        !has_xdp(&lab.port(1)),
        "XDP program left on {}",
        lab.port(1)
    );
}

#[test]
fn fastpath_afxdp_counts_what_it_could_not_take_as_rx_full() {
    if !ready() {
        return;
    }
    let lab = Lab::up('y', 2);
    let mut sw = Running::start(
        &lab.prefix,
        &lab.ports(),
        &["--afxdp", "--rx-ring-mib", "1"],
    );
    let port1 = lab.port(1);
    assert_eq!(sw.port(&port1)["kind"], "afxdp");
    let counted = |p: &serde_json::Value| {
        p["rx_frames"].as_u64().unwrap_or(0) + p["drops"]["rx-full"].as_u64().unwrap_or(0)
    };
    let counted_before = counted(&sw.port(&port1));
    // A stopped switch reads nothing: 256 receive chunks, 20,000 frames.
    sw.signal("-STOP");
    blast(&lab.ns(1), "veth1", 20_000);
    sw.signal("-CONT");
    let mut last = serde_json::Value::Null;
    let all_counted = wait_until(Duration::from_secs(10), || {
        last = sw.port(&port1);
        counted(&last) - counted_before == 20_000
    });
    assert!(
        all_counted,
        "20000 frames sent, the switch accounts for {}: {last}",
        counted(&last) - counted_before
    );
    assert!(
        last["drops"]["rx-full"].as_u64().unwrap_or(0) > 10_000,
        "{last}"
    );
}

fn ready() -> bool {
    common::ready(
        "the fast-path tests",
        &[("ip", "-V"), ("ping", "-V"), ("iperf3", "--version")],
    )
}
