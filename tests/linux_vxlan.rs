//! VXLAN interop (root only): vswitch's `vxlan:` port against Linux's VXLAN
//! device. Each "machine" is a network namespace; the machines share an
//! underlay (a veth, or a bridge in its own namespace for three); hosts sit
//! behind each machine's switch in namespaces of their own. vswitch runs
//! inside its machine's namespace, as on a real host.

mod common;

use common::{in_ns, iperf3_server, ping, ready, unique, wait_until, Running};
use std::process::Command;
use std::time::Duration;

/// Runs `ip ARGS` (in namespace `ns` if given), which must succeed.
fn ip_in(ns: Option<&str>, args: &[&str]) {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let out = c.args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces made by a test, deleted on drop (their veths go with them).
struct Overlay {
    prefix: String,
    namespaces: Vec<String>,
}

impl Overlay {
    fn new(tag: char) -> Overlay {
        Overlay {
            prefix: unique(tag),
            namespaces: Vec::new(),
        }
    }

    /// A new namespace `<prefix><what>`, loopback up, IPv6 off (so that no
    /// router solicitation or DAD frame counts as a host's traffic).
    fn ns(&mut self, what: &str) -> String {
        let ns = format!("{}{what}", self.prefix);
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        ip_in(None, &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip_in(Some(&ns), &["link", "set", "lo", "up"]);
        let _ = in_ns(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        let _ = in_ns(
            &ns,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        );
        ns
    }

    /// IPv6 back on in `ns` (a machine on an IPv6 underlay), for the
    /// interfaces made after.
    fn ipv6(&self, ns: &str) {
        for key in ["all", "default"] {
            let set = format!("net.ipv6.conf.{key}.disable_ipv6=0");
            assert!(in_ns(ns, &["sysctl", "-qw", &set]).status.success());
        }
    }

    /// A veth `a` in `ns_a` to `b` in `ns_b`, both up, with an address on
    /// `a` if given.
    fn veth(&self, ns_a: &str, a: &str, ns_b: &str, b: &str, addr: Option<&str>, mtu: u32) {
        // Made inside the namespaces: no name is ever taken on the host.
        ip_in(
            None,
            &[
                "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b,
            ],
        );
        for (ns, dev) in [(ns_a, a), (ns_b, b)] {
            ip_in(
                Some(ns),
                &["link", "set", dev, "mtu", &mtu.to_string(), "up"],
            );
        }
        if let Some(addr) = addr {
            ip_in(Some(ns_a), &["addr", "add", addr, "dev", a]);
        }
    }

    /// A Linux machine in `ns`: bridge `br0` with VXLAN device `vx` (VNI 42,
    /// port 4789, `csum` either `udpcsum` or `noudpcsum`) whose flood list is
    /// `flood`.
    fn linux_vtep(&self, ns: &str, local: &str, flood: &[&str], csum: &str) {
        // Without multicast snooping a bridge sends no IGMP reports of its
        // own, which would reach every host.
        ip_in(
            Some(ns),
            &[
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        );
        ip_in(
            Some(ns),
            &[
                "link", "add", "vx", "type", "vxlan", "id", "42", "dstport", "4789", "local",
                local, csum,
            ],
        );
        ip_in(Some(ns), &["link", "set", "vx", "master", "br0", "up"]);
        ip_in(Some(ns), &["link", "set", "br0", "up"]);
        for dst in flood {
            let out = in_ns(
                ns,
                &[
                    "bridge",
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    "vx",
                    "dst",
                    dst,
                ],
            );
            assert!(out.status.success(), "bridge fdb append");
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// The MAC of `dev` in `ns`.
fn mac_of(ns: &str, dev: &str) -> String {
    let out = in_ns(ns, &["cat", &format!("/sys/class/net/{dev}/address")]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Frames `dev` in `ns` has received.
fn rx_packets(ns: &str, dev: &str) -> u64 {
    let out = in_ns(
        ns,
        &[
            "cat",
            &format!("/sys/class/net/{dev}/statistics/rx_packets"),
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// `bridge fdb show dev vx` in `ns`.
fn linux_fdb(ns: &str) -> String {
    String::from_utf8_lossy(&in_ns(ns, &["bridge", "fdb", "show", "dev", "vx"]).stdout).into_owned()
}

/// vswitch's entry for `mac`, if any.
fn entry(sw: &Running, mac: &str) -> Option<serde_json::Value> {
    sw.fdb().into_iter().find(|e| e["mac"] == mac)
}

/// vswitch (machine 1) and a Linux bridge with a VXLAN device (machine 2):
/// pings both ways; each side learns the other's host behind the other's
/// underlay address; with the Linux side's UDP checksums off and on, and
/// vswitch's off (its default, said explicitly in one round) and on. With
/// checksums on vswitch sends TSO segments by UDP GSO; the last round takes
/// checksum offload away from its underlay veth, so that the kernel refuses
/// UDP GSO and vswitch goes datagram by datagram: TCP both ways still works.
#[test]
fn interop_with_a_linux_vxlan_device() {
    if !ready(
        "VXLAN interop tests",
        &[("ip", "-V"), ("bridge", "-V"), ("ping", "-V")],
    ) {
        return;
    }
    for (k, (linux_csum, ours, no_offload)) in [
        ("noudpcsum", "", false),
        ("udpcsum", ",noudpcsum", false),
        ("noudpcsum", ",udpcsum", false),
        ("udpcsum", ",udpcsum", true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut o = Overlay::new('x');
        let (m1, m2) = (o.ns("m1"), o.ns("m2"));
        let (h1, h2) = (o.ns("h1"), o.ns("h2"));
        let p = &o.prefix;
        o.veth(
            &m1,
            &format!("{p}u1"),
            &m2,
            &format!("{p}u2"),
            Some("10.77.0.1/24"),
            1500,
        );
        ip_in(
            Some(&m2),
            &["addr", "add", "10.77.0.2/24", "dev", &format!("{p}u2")],
        );
        // Hosts: the inner MTU is the underlay's less 50.
        o.veth(
            &h1,
            "eth0",
            &m1,
            &format!("{p}s1"),
            Some("192.168.77.1/24"),
            1450,
        );
        o.veth(
            &h2,
            "eth0",
            &m2,
            &format!("{p}s2"),
            Some("192.168.77.2/24"),
            1450,
        );
        o.linux_vtep(&m2, "10.77.0.2", &["10.77.0.1"], linux_csum);
        ip_in(
            Some(&m2),
            &["link", "set", &format!("{p}s2"), "master", "br0"],
        );

        if no_offload {
            tx_checksum_off(&m1, &format!("{p}u1"));
        }
        let vx = format!("vxlan:vx0,vni=42,local=10.77.0.1,remote=10.77.0.2{ours}");
        let name = format!("{p}{k}");
        let sw = Running::start_in(Some(&m1), &name, &[vx, format!("{p}s1")], &[], 2);
        assert!(ping(&h1, "192.168.77.2"), "{linux_csum}: h1 -> h2");
        assert!(ping(&h2, "192.168.77.1"), "{linux_csum}: h2 -> h1");

        // Full-size frames: 1450 bytes of IP fit the tunnel exactly.
        let big = in_ns(
            &h1,
            &[
                "ping",
                "-c",
                "2",
                "-W",
                "1",
                "-s",
                "1422",
                "-M",
                "do",
                "-q",
                "192.168.77.2",
            ],
        );
        assert!(big.status.success(), "{linux_csum}: full-size frames");
        // TCP, where iperf3 is at hand. Over veths nothing computes the inner
        // checksums Linux leaves to the NIC: the underlay "NIC" must, as a
        // real one does.
        if ready(
            "TCP through the overlay",
            &[("iperf3", "-v"), ("ethtool", "--version")],
        ) {
            tx_checksum_off(&m2, &format!("{p}u2"));
            // Both ways: h1 -> h2 has vswitch encapsulate h1's TSO
            // super-frames.
            for reverse in [true, false] {
                let _server = iperf3_server(&h2);
                let mut args = vec!["timeout", "10", "iperf3", "-c", "192.168.77.2", "-t", "1"];
                if reverse {
                    args.push("-R");
                }
                let tcp = in_ns(&h1, &args);
                assert!(
                    tcp.status.success(),
                    "{linux_csum} (offload off {no_offload}): TCP, reverse {reverse}: {}",
                    String::from_utf8_lossy(&tcp.stdout)
                );
            }
            // Nothing refused: a UDP GSO send the kernel would not take went
            // again datagram by datagram.
            let port = sw.port("vx0");
            assert_eq!(port["drops"]["tx-full"].as_u64().unwrap_or(0), 0, "{port}");
        }
        let (mac1, mac2) = (mac_of(&h1, "eth0"), mac_of(&h2, "eth0"));
        let fdb = linux_fdb(&m2);
        assert!(
            fdb.lines()
                .any(|l| l.starts_with(&mac1) && l.contains("dst 10.77.0.1")),
            "Linux learned h1 behind vswitch's address: {fdb}"
        );
        let e = entry(&sw, &mac2).expect("vswitch learned h2");
        assert_eq!(e["ifname"], "vx0");
        assert_eq!(e["dst"], "10.77.0.2", "{e}");
        let plain = common::ok(&common::vswitch(&["fdb", "show", "--name", &name]));
        assert!(
            plain
                .lines()
                .any(|l| l.starts_with(&mac2) && l.contains("dev vx0 dst 10.77.0.2")),
            "{plain}"
        );
        let port = sw.port("vx0");
        assert_eq!(port["kind"], "vxlan");
        assert_eq!(port["mtu"], 1450);
        assert_eq!(port["vxlan"]["vni"], 42);
        assert_eq!(port["rx_errors"], 0, "{port}");
        // A datagram for another VNI: dropped and counted under its reason.
        let other = "vx43";
        ip_in(
            Some(&m2),
            &[
                "link",
                "add",
                other,
                "type",
                "vxlan",
                "id",
                "43",
                "dstport",
                "4789",
                "local",
                "10.77.0.2",
                "remote",
                "10.77.0.1",
            ],
        );
        ip_in(Some(&m2), &["addr", "add", "192.168.78.2/24", "dev", other]);
        ip_in(Some(&m2), &["link", "set", other, "up"]);
        let _ = in_ns(&m2, &["ping", "-c", "1", "-W", "1", "-q", "192.168.78.1"]);
        assert!(
            wait_until(Duration::from_secs(3), || {
                sw.port("vx0")["vxlan"]["drops"]["vxlan-wrong-vni"]
                    .as_u64()
                    .is_some_and(|n| n > 0)
            }),
            "{}",
            sw.port("vx0")
        );
    }
}

/// vswitch and a Linux bridge with a VXLAN device over an IPv6 underlay
/// (ULA addresses, inside the machines' namespaces only): pings, full-size
/// frames (the underlay MTU less 70) and TCP; each side learns the other's
/// host behind the other's IPv6 address, and `fdb show` prints it.
#[test]
fn interop_over_an_ipv6_underlay() {
    if !ready(
        "VXLAN interop tests",
        &[("ip", "-V"), ("bridge", "-V"), ("ping", "-V")],
    ) {
        return;
    }
    let mut o = Overlay::new('6');
    let (m1, m2) = (o.ns("m1"), o.ns("m2"));
    let (h1, h2) = (o.ns("h1"), o.ns("h2"));
    o.ipv6(&m1);
    o.ipv6(&m2);
    let p = o.prefix.clone();
    let (u1, u2) = (format!("{p}u1"), format!("{p}u2"));
    o.veth(&m1, &u1, &m2, &u2, None, 1500);
    // No duplicate address detection: the addresses work at once.
    ip_in(
        Some(&m1),
        &["addr", "add", "fd00:77::1/64", "dev", &u1, "nodad"],
    );
    ip_in(
        Some(&m2),
        &["addr", "add", "fd00:77::2/64", "dev", &u2, "nodad"],
    );
    // Hosts: the inner MTU is the underlay's less 70 over IPv6.
    let (s1, s2) = (format!("{p}s1"), format!("{p}s2"));
    o.veth(&h1, "eth0", &m1, &s1, Some("192.168.76.1/24"), 1430);
    o.veth(&h2, "eth0", &m2, &s2, Some("192.168.76.2/24"), 1430);
    // Linux's default over IPv6: UDP checksums sent and required.
    o.linux_vtep(&m2, "fd00:77::2", &["fd00:77::1"], "noudp6zerocsumrx");
    ip_in(Some(&m2), &["link", "set", &s2, "master", "br0"]);

    let vx = "vxlan:vx0,vni=42,local=fd00:77::1,remote=fd00:77::2".to_string();
    let name = format!("{p}sw");
    let sw = Running::start_in(Some(&m1), &name, &[vx, s1.clone()], &[], 2);
    assert!(ping(&h1, "192.168.76.2"), "h1 -> h2");
    assert!(ping(&h2, "192.168.76.1"), "h2 -> h1");
    let big = in_ns(
        &h1,
        &[
            "ping",
            "-c",
            "2",
            "-W",
            "1",
            "-s",
            "1402",
            "-M",
            "do",
            "-q",
            "192.168.76.2",
        ],
    );
    assert!(big.status.success(), "full-size frames");
    if ready(
        "TCP through the overlay",
        &[("iperf3", "-v"), ("ethtool", "--version")],
    ) {
        tx_checksum_off(&m2, &u2);
        for reverse in [false, true] {
            let _server = iperf3_server(&h2);
            let mut args = vec!["timeout", "10", "iperf3", "-c", "192.168.76.2", "-t", "1"];
            if reverse {
                args.push("-R");
            }
            let tcp = in_ns(&h1, &args);
            assert!(
                tcp.status.success(),
                "TCP (reverse {reverse}): {}",
                String::from_utf8_lossy(&tcp.stdout)
            );
        }
    }
    let (mac1, mac2) = (mac_of(&h1, "eth0"), mac_of(&h2, "eth0"));
    let fdb = linux_fdb(&m2);
    assert!(
        fdb.lines()
            .any(|l| l.starts_with(&mac1) && l.contains("dst fd00:77::1")),
        "Linux learned h1 behind vswitch's IPv6 address: {fdb}"
    );
    let e = entry(&sw, &mac2).expect("vswitch learned h2");
    assert_eq!(e["dst"], "fd00:77::2", "{e}");
    let plain = common::ok(&common::vswitch(&["fdb", "show", "--name", &name]));
    assert!(
        plain
            .lines()
            .any(|l| l.starts_with(&mac2) && l.contains("dev vx0 dst fd00:77::2")),
        "{plain}"
    );
    let port = sw.port("vx0");
    assert_eq!(port["mtu"], 1430, "{port}");
    assert_eq!(port["vxlan"]["local"], "fd00:77::1");
    assert_eq!(port["vxlan"]["underlay"], u1.as_str());
    assert_eq!(port["rx_errors"], 0, "{port}");
    let shown = common::ok(&common::vswitch(&["show", "--name", &name]));
    assert!(
        shown.contains(&format!("vx0 (vxlan, udp [fd00:77::1]:4789 on {u1})")),
        "{shown}"
    );
}

/// Three endpoints, two Linux and one vswitch, on one underlay bridge:
/// head-end replication brings a broadcast from each host to every other
/// host exactly once, and nothing comes back to its sender.
#[test]
fn head_end_replication_with_three_endpoints() {
    if !ready(
        "VXLAN interop tests",
        &[("ip", "-V"), ("bridge", "-V"), ("ping", "-V")],
    ) {
        return;
    }
    let mut o = Overlay::new('y');
    let under = o.ns("u");
    ip_in(
        Some(&under),
        &[
            "link",
            "add",
            "ubr",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    );
    ip_in(Some(&under), &["link", "set", "ubr", "up"]);
    let addr = |k: u32| format!("10.78.0.{k}");
    let mut machines = Vec::new();
    let mut hosts = Vec::new();
    for k in 1..=3u32 {
        let (m, h) = (o.ns(&format!("m{k}")), o.ns(&format!("h{k}")));
        let p = o.prefix.clone();
        o.veth(
            &m,
            &format!("{p}u{k}"),
            &under,
            &format!("{p}b{k}"),
            Some(&format!("{}/24", addr(k))),
            1500,
        );
        ip_in(
            Some(&under),
            &["link", "set", &format!("{p}b{k}"), "master", "ubr"],
        );
        o.veth(
            &h,
            "eth0",
            &m,
            &format!("{p}s{k}"),
            Some(&format!("192.168.79.{k}/24")),
            1450,
        );
        machines.push(m);
        hosts.push(h);
    }
    let p = o.prefix.clone();
    for k in 2..=3u32 {
        let m = &machines[k as usize - 1];
        let others: Vec<String> = (1..=3).filter(|&j| j != k).map(addr).collect();
        let refs: Vec<&str> = others.iter().map(String::as_str).collect();
        o.linux_vtep(m, &addr(k), &refs, "noudpcsum");
        ip_in(
            Some(m),
            &["link", "set", &format!("{p}s{k}"), "master", "br0"],
        );
    }
    let vx = format!(
        "vxlan:vx0,vni=42,local={},remote={},remote={}",
        addr(1),
        addr(2),
        addr(3)
    );
    let sw = Running::start_in(Some(&machines[0]), &p, &[vx, format!("{p}s1")], &[], 2);
    // Everyone knows everyone, for good (no ARP probe later), so that only
    // the broadcasts themselves count.
    let macs: Vec<String> = hosts.iter().map(|h| mac_of(h, "eth0")).collect();
    for (i, h) in hosts.iter().enumerate() {
        for (j, mac) in macs.iter().enumerate().filter(|&(j, _)| j != i) {
            let to = format!("192.168.79.{}", j + 1);
            ip_in(
                Some(h),
                &[
                    "neigh",
                    "replace",
                    &to,
                    "lladdr",
                    mac,
                    "dev",
                    "eth0",
                    "nud",
                    "permanent",
                ],
            );
        }
    }
    for i in 1..=3u32 {
        for j in (1..=3u32).filter(|&j| j != i) {
            let h = &hosts[i as usize - 1];
            assert!(ping(h, &format!("192.168.79.{j}")), "h{i} -> h{j}");
        }
    }
    assert_eq!(sw.port("vx0")["vxlan"]["remotes"], 2);
    for from in 1..=3u32 {
        let before: Vec<u64> = hosts.iter().map(|h| rx_packets(h, "eth0")).collect();
        // Echo requests to the broadcast address: hosts ignore them (Linux's
        // default), so each host receives the broadcasts and nothing else.
        let h = &hosts[from as usize - 1];
        let _ = in_ns(
            h,
            &[
                "ping",
                "-b",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "1",
                "-q",
                "192.168.79.255",
            ],
        );
        let want = |k: usize| if k as u32 + 1 == from { 0 } else { 3 };
        let got = |k: usize| rx_packets(&hosts[k], "eth0") - before[k];
        // Every copy is in once each host has at least its share; then
        // exactly its share.
        wait_until(Duration::from_secs(3), || (0..3).all(|k| got(k) >= want(k)));
        for k in 0..3 {
            assert_eq!(got(k), want(k), "broadcasts from h{from} at h{}", k + 1);
        }
    }
}

/// Several VNIs on one local endpoint, each mapped to a VLAN of a VLAN-aware
/// switch, from a configuration file: against a Linux machine with one VXLAN
/// device and bridge per VNI, each VNI reaches its own VLAN's host only. Then
/// a tunnel port added and removed live, and the flood list edited.
#[test]
fn several_vnis_each_in_its_vlan() {
    if !ready(
        "VXLAN interop tests",
        &[("ip", "-V"), ("bridge", "-V"), ("ping", "-V")],
    ) {
        return;
    }
    let mut o = Overlay::new('z');
    let (m1, m2) = (o.ns("m1"), o.ns("m2"));
    let hosts: Vec<String> = (1..=4).map(|k| o.ns(&format!("h{k}"))).collect();
    let p = o.prefix.clone();
    o.veth(
        &m1,
        &format!("{p}u1"),
        &m2,
        &format!("{p}u2"),
        Some("10.79.0.1/24"),
        1500,
    );
    ip_in(
        Some(&m2),
        &["addr", "add", "10.79.0.2/24", "dev", &format!("{p}u2")],
    );
    for (k, h) in hosts.iter().enumerate() {
        let k = k + 1;
        let machine = if k == 1 || k == 4 { &m1 } else { &m2 };
        let addr = format!("192.168.80.{k}/24");
        o.veth(h, "eth0", machine, &format!("{p}s{k}"), Some(&addr), 1450);
    }
    // Machine 2: VNI 42 with host 2, VNI 43 with host 3, a bridge each.
    for (vni, k) in [(42, 2), (43, 3)] {
        let (br, vx) = (format!("br{vni}"), format!("vx{vni}"));
        ip_in(
            Some(&m2),
            &["link", "add", &br, "type", "bridge", "mcast_snooping", "0"],
        );
        ip_in(
            Some(&m2),
            &[
                "link",
                "add",
                &vx,
                "type",
                "vxlan",
                "id",
                &vni.to_string(),
                "dstport",
                "4789",
                "local",
                "10.79.0.2",
                "noudpcsum",
            ],
        );
        ip_in(Some(&m2), &["link", "set", &vx, "master", &br, "up"]);
        ip_in(Some(&m2), &["link", "set", &br, "up"]);
        ip_in(
            Some(&m2),
            &["link", "set", &format!("{p}s{k}"), "master", &br],
        );
        let out = in_ns(
            &m2,
            &[
                "bridge",
                "fdb",
                "append",
                "00:00:00:00:00:00",
                "dev",
                &vx,
                "dst",
                "10.79.0.1",
            ],
        );
        assert!(out.status.success());
    }
    // Machine 1: VLAN 10 (host 1) is VNI 42, VLAN 20 (host 4) is VNI 43.
    let config = std::env::temp_dir().join(format!("{p}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"attach = ["vxlan:vx0,vni=42:10,vni=43:20,local=10.79.0.1,remote=10.79.0.2", "{p}s1", "{p}s4"]
vlan-aware = true
[ports.vx0]
vlan = {{ trunk = [10, 20, 30] }}
[ports.{p}s1]
vlan = {{ access = 10 }}
[ports.{p}s4]
vlan = {{ access = 20 }}
"#
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap().to_string();
    let sw = Running::start_in(Some(&m1), &p, &[], &["--config", &config_arg], 3);
    assert!(ping(&hosts[0], "192.168.80.2"), "VLAN 10 reaches VNI 42");
    assert!(ping(&hosts[3], "192.168.80.3"), "VLAN 20 reaches VNI 43");
    assert!(
        !common::ping_once(&hosts[0], "192.168.80.3"),
        "VLAN 10 reached VNI 43"
    );
    assert!(
        !common::ping_once(&hosts[3], "192.168.80.2"),
        "VLAN 20 reached VNI 42"
    );
    let (mac2, mac3) = (mac_of(&hosts[1], "eth0"), mac_of(&hosts[2], "eth0"));
    let e2 = entry(&sw, &mac2).expect("host 2 learned");
    let e3 = entry(&sw, &mac3).expect("host 3 learned");
    assert_eq!((&e2["vlan"], &e2["dst"]), (&10.into(), &"10.79.0.2".into()));
    assert_eq!((&e3["vlan"], &e3["dst"]), (&20.into(), &"10.79.0.2".into()));
    assert_eq!(
        sw.port("vx0")["vxlan"]["vlans"],
        serde_json::json!([[42, 10], [43, 20]])
    );

    // Live: a second tunnel port comes and goes.
    let name = ["--name", p.as_str()];
    let add = [
        &["add", "vxlan:vx9,vni=99,local=10.79.0.1,dstport=4799"][..],
        &name[..],
    ]
    .concat();
    common::ok(&common::vswitch(&add));
    assert_eq!(sw.port("vx9")["kind"], "vxlan");
    common::ok(&common::vswitch(&[&["del", "vx9"][..], &name[..]].concat()));
    assert!(sw.ports().unwrap().iter().all(|p| p["ifname"] != "vx9"));
    // The flood list, edited as `bridge fdb append/del` edits Linux's.
    let fdb_cmd = |verb: &str| {
        let args = [
            &["fdb", verb, "00:00:00:00:00:00", "vx0", "dst", "10.79.0.7"][..],
            &name[..],
        ]
        .concat();
        common::ok(&common::vswitch(&args));
        sw.port("vx0")["vxlan"]["flood"].clone()
    };
    assert_eq!(
        fdb_cmd("add"),
        serde_json::json!(["10.79.0.2", "10.79.0.7"])
    );
    let flood_rows = sw
        .fdb()
        .into_iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .count();
    assert_eq!(flood_rows, 2);
    assert_eq!(fdb_cmd("del"), serde_json::json!(["10.79.0.2"]));

    // VNIs taken off and put back on the running port: VLAN 20 loses VNI 43
    // and gets it again; bad requests get one line saying what is wrong.
    let vni_cmd =
        |args: &[&str]| common::vswitch(&[&["vxlan", "vni"][..], args, &name[..]].concat());
    common::ok(&vni_cmd(&["del", "vx0", "43"]));
    assert_eq!(
        sw.port("vx0")["vxlan"]["vlans"],
        serde_json::json!([[42, 10]])
    );
    assert!(
        !common::ping_once(&hosts[3], "192.168.80.3"),
        "VLAN 20 reached VNI 43 after it was removed"
    );
    common::ok(&vni_cmd(&["add", "vx0", "43", "--vlan", "20"]));
    assert!(
        ping(&hosts[3], "192.168.80.3"),
        "VLAN 20 reaches VNI 43 again"
    );
    assert_eq!(
        sw.port("vx0")["vxlan"]["vlans"],
        serde_json::json!([[42, 10], [43, 20]])
    );
    for (args, says) in [
        (
            &["add", "vx0", "44", "--vlan", "10"][..],
            "VLAN 10 is mapped to VNI 42",
        ),
        (
            &["add", "vx0", "44", "--vlan", "40"][..],
            "not a member of VLAN 40",
        ),
        (&["add", "vx0", "44"][..], "needs one (vlan 1..=4094)"),
        (
            &["add", "vx0", "43", "--vlan", "30"][..],
            "carries VNI 43 already",
        ),
        (
            &["add", "vx0", "16777216", "--vlan", "30"][..],
            "outside 0..=16777215",
        ),
        (&["add", &format!("{p}s1"), "44"][..], "is no VXLAN port"),
        (
            &["del", "vx0", "99"][..],
            "does not carry VNI 99 (it carries: 42, 43)",
        ),
        (&["del", "vx7", "42"][..], "vx7"),
    ] {
        let out = vni_cmd(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(says),
            "{args:?}: {err:?} does not say {says:?}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
    }
    common::ok(&vni_cmd(&["add", "vx0", "44", "--vlan", "30"]));
    assert_eq!(
        sw.port("vx0")["vxlan"]["vlans"],
        serde_json::json!([[42, 10], [43, 20], [44, 30]])
    );

    // The file's tunnel changes (one more remote): a reload re-attaches it.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("remote=10.79.0.2", "remote=10.79.0.2,remote=10.79.0.9");
    std::fs::write(&config, text).unwrap();
    common::ok(&common::vswitch(&[&["reload"][..], &name[..]].concat()));
    let _ = std::fs::remove_file(&config);
    assert_eq!(
        sw.port("vx0")["vxlan"]["flood"],
        serde_json::json!(["10.79.0.2", "10.79.0.9"])
    );
    assert!(
        ping(&hosts[0], "192.168.80.2"),
        "VLAN 10 still reaches VNI 42"
    );
}

/// `vswitch lab overlay` builds two machines and their hosts; a vswitch
/// inside each, as the lab prints, joins them: vswitch against vswitch.
#[test]
fn lab_overlay_joins_two_switches() {
    if !ready("VXLAN interop tests", &[("ip", "-V"), ("ping", "-V")]) {
        return;
    }
    let prefix = unique('o');
    let _ = common::vswitch(&["lab", "down", "--prefix", &prefix]);
    let out = common::ok(&common::vswitch(&["lab", "overlay", "--prefix", &prefix]));
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = common::vswitch(&["lab", "down", "--prefix", &self.0]);
        }
    }
    let _down = Down(prefix.clone());
    assert!(
        out.contains(&format!("ip netns exec {prefix}m1 vswitch run")),
        "{out}"
    );
    let vx = |local: &str, remote: &str| {
        format!("vxlan:vx0,vni=42,local=10.200.0.{local},remote=10.200.0.{remote}")
    };
    let m = |k: u32| format!("{prefix}m{k}");
    let port = |k: u32| format!("{prefix}{k}-vsw");
    let a = Running::start_in(
        Some(&m(1)),
        &format!("{prefix}a"),
        &[vx("101", "102"), port(1)],
        &[],
        2,
    );
    let b = Running::start_in(
        Some(&m(2)),
        &format!("{prefix}b"),
        &[vx("102", "101"), port(2)],
        &[],
        2,
    );
    assert!(ping(&format!("{prefix}1"), "192.168.100.102"));
    let e = entry(&a, "02:00:00:00:01:02").expect("a learned host 2");
    assert_eq!(
        (&e["ifname"], &e["dst"]),
        (&"vx0".into(), &"10.200.0.102".into())
    );
    let e = entry(&b, "02:00:00:00:01:01").expect("b learned host 1");
    assert_eq!(e["dst"], "10.200.0.101");
    drop((a, b));
    let down = common::ok(&common::vswitch(&["lab", "down", "--prefix", &prefix]));
    assert!(down.contains("removed 4 namespaces"), "{down}");
}

/// A private Open vSwitch (its own database and run directory), its
/// `ovs-vswitchd` running inside namespace `ns`; stopped by its PIDs on drop.
struct Ovs {
    dir: std::path::PathBuf,
}

impl Ovs {
    fn start(dir: std::path::PathBuf, ns: &str) -> Ovs {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap().to_string();
        let ovs = Ovs { dir };
        let run = |cmd: &mut Command| {
            let out = cmd
                .env("OVS_RUNDIR", &d)
                .env("OVS_LOGDIR", &d)
                .env("OVS_DBDIR", &d)
                .output();
            let out = out.expect("run an Open vSwitch program");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let db = format!("{d}/conf.db");
        run(Command::new("ovsdb-tool").args([
            "create",
            &db,
            "/usr/share/openvswitch/vswitch.ovsschema",
        ]));
        run(Command::new("ovsdb-server").args([
            &db,
            &format!("--remote=punix:{d}/db.sock"),
            &format!("--pidfile={d}/ovsdb.pid"),
            &format!("--log-file={d}/ovsdb.log"),
            "--detach",
        ]));
        run(Command::new("ip").args([
            "netns",
            "exec",
            ns,
            "ovs-vswitchd",
            &format!("unix:{d}/db.sock"),
            &format!("--pidfile={d}/vswitchd.pid"),
            &format!("--log-file={d}/vswitchd.log"),
            "--detach",
        ]));
        ovs.vsctl(&["--no-wait", "init"]);
        ovs
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}/db.sock", self.dir.display());
        let out = Command::new("ovs-vsctl")
            .arg(&db)
            .args(args)
            .output()
            .expect("ovs-vsctl");
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn appctl(&self, args: &[&str]) -> String {
        let pid = std::fs::read_to_string(self.dir.join("vswitchd.pid")).unwrap_or_default();
        let target = self.dir.join(format!("ovs-vswitchd.{}.ctl", pid.trim()));
        let out = Command::new("ovs-appctl")
            .arg("-t")
            .arg(&target)
            .args(args)
            .output()
            .expect("ovs-appctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for pidfile in ["vswitchd.pid", "ovsdb.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(pidfile)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// vswitch against Open vSwitch's userspace datapath (`datapath_type=netdev`,
/// userspace tunnelling: the underlay address on a `br-phy` bridge): pings
/// both ways and each learns the other's host behind the other's endpoint.
#[test]
fn interop_with_open_vswitch_userspace() {
    if !ready(
        "VXLAN interop tests",
        &[
            ("ip", "-V"),
            ("ping", "-V"),
            ("ovs-vswitchd", "--version"),
            ("ovsdb-tool", "--version"),
        ],
    ) {
        return;
    }
    let mut o = Overlay::new('v');
    let (m1, m2) = (o.ns("m1"), o.ns("m2"));
    let (h1, h2) = (o.ns("h1"), o.ns("h2"));
    let p = o.prefix.clone();
    o.veth(
        &m1,
        &format!("{p}u1"),
        &m2,
        &format!("{p}u2"),
        Some("10.82.0.1/24"),
        1500,
    );
    o.veth(
        &h1,
        "eth0",
        &m1,
        &format!("{p}s1"),
        Some("192.168.82.1/24"),
        1450,
    );
    o.veth(
        &h2,
        "eth0",
        &m2,
        &format!("{p}s2"),
        Some("192.168.82.2/24"),
        1450,
    );
    let ovs = Ovs::start(std::env::temp_dir().join(format!("{p}-ovs")), &m2);
    ovs.vsctl(&[
        "add-br",
        "br-phy",
        "--",
        "set",
        "bridge",
        "br-phy",
        "datapath_type=netdev",
    ]);
    ovs.vsctl(&["add-port", "br-phy", &format!("{p}u2")]);
    ip_in(Some(&m2), &["addr", "add", "10.82.0.2/24", "dev", "br-phy"]);
    ip_in(Some(&m2), &["link", "set", "br-phy", "up"]);
    ovs.vsctl(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "bridge",
        "br-int",
        "datapath_type=netdev",
    ]);
    ovs.vsctl(&["add-port", "br-int", &format!("{p}s2")]);
    ovs.vsctl(&[
        "add-port",
        "br-int",
        "vx",
        "--",
        "set",
        "interface",
        "vx",
        "type=vxlan",
        "options:remote_ip=10.82.0.1",
        "options:local_ip=10.82.0.2",
        "options:key=42",
    ]);
    // Zero outer checksums (the default): over a veth with its default
    // offloads nothing ever computes the checksum the kernel leaves to the
    // "NIC", and Open vSwitch's userspace datapath, reading the underlay raw,
    // checks it and drops the datagram (pings fail with `udpcsum`).
    let vx = "vxlan:vx0,vni=42,local=10.82.0.1,remote=10.82.0.2".to_string();
    let sw = Running::start_in(Some(&m1), &p, &[vx, format!("{p}s1")], &[], 2);
    assert!(ping(&h1, "192.168.82.2"), "h1 -> h2 through Open vSwitch");
    assert!(ping(&h2, "192.168.82.1"), "h2 -> h1");
    let (mac1, mac2) = (mac_of(&h1, "eth0"), mac_of(&h2, "eth0"));
    let e = entry(&sw, &mac2).expect("vswitch learned h2");
    assert_eq!(
        (&e["ifname"], &e["dst"]),
        (&"vx0".into(), &"10.82.0.2".into())
    );
    // Open vSwitch learned h1 on its VXLAN port.
    let vx_port = ovs
        .vsctl(&["get", "interface", "vx", "ofport"])
        .trim()
        .to_string();
    let fdb = ovs.appctl(&["fdb/show", "br-int"]);
    assert!(
        fdb.lines()
            .any(|l| l.contains(&mac1) && l.split_whitespace().next() == Some(&vx_port)),
        "port {vx_port}: {fdb}"
    );
}

/// Turns TX checksum offload off on `dev` in `ns`, as a real NIC computes the
/// checksums a veth leaves partial.
fn tx_checksum_off(ns: &str, dev: &str) {
    let out = in_ns(ns, &["ethtool", "-K", dev, "tx", "off"]);
    assert!(
        out.status.success(),
        "ethtool -K {dev} tx off in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
