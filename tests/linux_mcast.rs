//! Multicast snooping with real Linux hosts: namespaces whose kernels join
//! groups with their own IGMP and MLD (a socket joined with
//! IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP, run by the test and killed by PID), a
//! sender, and a host that joined nothing and must see nothing of the
//! stream. Then the same joins and stream through a Linux bridge with
//! snooping on, and its `bridge mdb show` compared with `vswitch mdb show`.
//!
//! Needs root, iproute2, bridge and python3; without them a test prints a
//! skip note and passes, unless CI is set. Every wait is bounded; every
//! namespace, veth and process is the test's own and goes when it ends.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vswitch_core::FrameBatch;
use vswitch_linux::port::AfPacketPort;

const GROUP: &str = "239.1.2.3";
const GROUP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03];
const GROUP6: &str = "ff15::1234";
const MARK: &[u8] = b"vswitch-mcast-test";

fn ready() -> bool {
    common::ready(
        "the multicast snooping tests",
        &[("ip", "-V"), ("bridge", "-V"), ("python3", "-V")],
    )
}

/// A process in namespace `ns` that joins `group` (IPv4 or IPv6) on veth`k`
/// through a socket, so that the kernel reports it, and holds it until it
/// is killed (by PID, when the guard drops).
fn join(ns: &str, k: u32, group: &str) -> Guard {
    let script = if group.contains(':') {
        format!(
            "import socket,struct,time\n\
             s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n\
             i=socket.if_nametoindex('veth{k}')\n\
             s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_JOIN_GROUP,socket.inet_pton(socket.AF_INET6,'{group}')+struct.pack('@I',i))\n\
             time.sleep(120)\n"
        )
    } else {
        format!(
            "import socket,struct,time\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             s.setsockopt(socket.IPPROTO_IP,socket.IP_ADD_MEMBERSHIP,struct.pack('4s4s',socket.inet_aton('{group}'),socket.inet_aton('{}')))\n\
             time.sleep(120)\n",
            addr(k)
        )
    };
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 in namespace");
    Guard(child)
}

/// Host `k` of namespace `ns` sends `n` datagrams marked [`MARK`] to GROUP.
fn send_stream(ns: &str, k: u32, n: u32) {
    let script = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('{}'))\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_TTL,1)\n\
         for i in range({n}):\n    s.sendto(b'{}',('{GROUP}',5000)); time.sleep(0.01)\n",
        addr(k),
        String::from_utf8_lossy(MARK)
    );
    let out = in_ns(ns, &["python3", "-c", &script]);
    assert!(
        out.status.success(),
        "sender: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A packet socket on veth`k` inside `ns`: what arrives at the host.
fn sniffer(ns: &str, k: u32) -> AfPacketPort {
    let iface = format!("veth{k}");
    vswitch_linux::sys::in_netns(&format!("/run/netns/{ns}"), move || {
        AfPacketPort::open(&iface).map_err(std::io::Error::other)
    })
    .expect("packet socket in namespace")
}

/// Stream frames (to the group's MAC, carrying [`MARK`]) that `port`
/// receives within `window`.
fn stream_frames(port: &mut AfPacketPort, window: Duration) -> usize {
    let mut n = 0;
    let mut batch = FrameBatch::with_capacity(32);
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        batch.clear();
        if port.recv_finished(&mut batch) == 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        n += batch
            .iter()
            .filter(|f| f.starts_with(&GROUP_MAC) && f.windows(MARK.len()).any(|w| w == MARK))
            .count();
    }
    n
}

/// (port interface, group) of every membership `vswitch mdb show -j` lists.
fn vswitch_groups(sw: &Running) -> BTreeSet<(String, String)> {
    let Some(m) = sw.json(&["mdb", "show"]) else {
        return BTreeSet::new();
    };
    m["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["ifname"].as_str().unwrap_or("").to_string(),
                r["grp"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn timer(sw: &Running, ifname: &str, group: &str) -> Option<f64> {
    let m = sw.json(&["mdb", "show"])?;
    m["groups"]
        .as_array()?
        .iter()
        .find(|r| r["ifname"] == ifname && r["grp"] == group)?["timer"]
        .as_f64()
}

/// The stream from host 1 reaches host 2, which joined, and nothing of it
/// reaches host 3; with no querier on the segment the switch's own querier
/// keeps host 2's membership alive (host 2's kernel answers its queries and
/// the timer starts again), and when host 2 leaves, the group goes after the
/// last-member queries.
#[test]
fn linux_mcast_stream_reaches_members_only() {
    if !ready() {
        return;
    }
    let lab = Lab::up('m', 3);
    let config = std::env::temp_dir().join(format!("{}-mcast.toml", lab.prefix));
    // A short query interval: the startup queries come every 3 s.
    std::fs::write(
        &config,
        "mcast-snooping = true\nmcast-querier = true\nmcast-query-interval = 12\n",
    )
    .unwrap();
    let sw = Running::start(
        &lab.prefix,
        &lab.ports(),
        &["--config", config.to_str().unwrap()],
    );
    let member = join(&lab.ns(2), 2, GROUP);
    let want = (lab.port(2), GROUP.to_string());
    assert!(
        wait_until(Duration::from_secs(10), || vswitch_groups(&sw)
            .contains(&want)),
        "host 2's join never showed: {:?}",
        sw.json(&["mdb", "show"])
    );
    let mut at2 = sniffer(&lab.ns(2), 2);
    let mut at3 = sniffer(&lab.ns(3), 3);
    send_stream(&lab.ns(1), 1, 20);
    let got2 = stream_frames(&mut at2, Duration::from_millis(500));
    let got3 = stream_frames(&mut at3, Duration::from_millis(100));
    assert_eq!(got2, 20, "the member got {got2} of 20");
    assert_eq!(got3, 0, "the non-member got {got3} frames of the stream");

    // The own querier's queries are answered: the timer goes back up.
    let first = timer(&sw, &lab.port(2), GROUP).expect("a timer");
    let mut lowest = first;
    let renewed = wait_until(Duration::from_secs(20), || {
        let t = timer(&sw, &lab.port(2), GROUP).unwrap_or(0.0);
        let up = t > lowest + 0.5;
        lowest = lowest.min(t);
        up
    });
    assert!(
        renewed,
        "no report renewed the membership (timer from {first})"
    );
    let m = sw.json(&["mdb", "show"]).unwrap();
    assert!(m["own_queries"].as_u64().unwrap_or(0) > 0, "{m}");
    assert!(
        m["queriers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["family"] == "ipv4" && q["querier"] == "self"),
        "{m}"
    );
    let sender = sw.port(&lab.port(1));
    let snooped = sender["snooped"].as_u64().unwrap_or(0);
    assert!(snooped >= 20, "the stream counted as snooped: {sender}");

    // Host 2 leaves (its kernel sends a leave when the socket closes).
    drop(member);
    assert!(
        wait_until(Duration::from_secs(10), || !vswitch_groups(&sw)
            .contains(&want)),
        "the group stayed after the leave: {:?}",
        sw.json(&["mdb", "show"])
    );
    let _ = std::fs::remove_file(&config);
}

/// The same hosts, joins and stream through a Linux bridge with snooping
/// and its querier on (in a namespace of its own, the hosts' veths as its
/// ports) and through vswitch: the two tables hold the same groups on the
/// corresponding ports, and both deliver the stream to the member only.
#[test]
fn linux_mcast_group_table_matches_the_linux_bridge() {
    if !ready() {
        return;
    }
    // vswitch's lab.
    let lab = Lab::up('v', 3);
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--mcast-querier"]);
    // The bridge's lab: its ports moved into a namespace with the bridge.
    let mut blab = Lab::up('w', 3);
    let brns = format!("{}br", blab.prefix);
    blab.extra_namespaces.push(brns.clone());
    ip(&["netns", "add", &brns]);
    ip(&[
        "-n",
        &brns,
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "1",
        "mcast_querier",
        "1",
    ]);
    for k in 1..=3 {
        ip(&["link", "set", &blab.port(k), "netns", &brns]);
        ip(&["-n", &brns, "link", "set", &blab.port(k), "master", "br0"]);
        ip(&["-n", &brns, "link", "set", &blab.port(k), "up"]);
    }
    ip(&["-n", &brns, "link", "set", "br0", "up"]);

    // The lab turns IPv6 off in its hosts (no MLD chatter in captures):
    // host 3 needs it here, with MLD.
    for ns in [lab.ns(3), blab.ns(3)] {
        let out = in_ns(
            &ns,
            &["sysctl", "-qw", "net.ipv6.conf.veth3.disable_ipv6=0"],
        );
        assert!(out.status.success(), "IPv6 on in {ns}");
    }
    // The same memberships on both: host 2 joins GROUP, host 3 GROUP6 and
    // 239.4.5.6.
    let joins = [(2, GROUP), (3, GROUP6), (3, "239.4.5.6")];
    let _members: Vec<Guard> = joins
        .iter()
        .flat_map(|&(k, g)| [join(&lab.ns(k), k, g), join(&blab.ns(k), k, g)])
        .collect();
    // Host index and group of each membership, leaving out the link-scope
    // IPv6 groups (ff02::/16): the bridge lists the solicited-node groups
    // vswitch always floods and does not keep.
    let host_of = |ifname: &str, lab: &Lab| (1..=3).find(|&k| lab.port(k) == ifname);
    let want: BTreeSet<(u32, String)> = joins.iter().map(|&(k, g)| (k, g.to_string())).collect();
    let ours = || -> BTreeSet<(u32, String)> {
        vswitch_groups(&sw)
            .into_iter()
            .filter(|(_, g)| !g.starts_with("ff02:"))
            .filter_map(|(p, g)| Some((host_of(&p, &lab)?, g)))
            .collect()
    };
    let bridge = || -> BTreeSet<(u32, String)> {
        let out = Command::new("ip")
            .args(["netns", "exec", &brns, "bridge", "-j", "mdb", "show"])
            .output()
            .expect("bridge mdb show");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|dev| dev["mdb"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| {
                let g = r["grp"].as_str()?.to_string();
                let k = host_of(r["port"].as_str()?, &blab)?;
                (!g.starts_with("ff02:")).then_some((k, g))
            })
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(15), || ours() == want
            && bridge() == want),
        "vswitch {:?}, Linux bridge {:?}, want {want:?}",
        ours(),
        bridge()
    );
    assert_eq!(ours(), bridge());

    // The same stream: the member gets it, host 3 nothing. vswitch forwards
    // by its table at once; the Linux bridge floods every group until its
    // querier has waited one response time (10 s) after its first query, so
    // it gets a bounded while to stop.
    let stream = |l: &Lab| {
        let mut at2 = sniffer(&l.ns(2), 2);
        let mut at3 = sniffer(&l.ns(3), 3);
        send_stream(&l.ns(1), 1, 10);
        let got2 = stream_frames(&mut at2, Duration::from_millis(500));
        let got3 = stream_frames(&mut at3, Duration::from_millis(100));
        (got2, got3)
    };
    assert_eq!(stream(&lab), (10, 0), "through vswitch");
    let mut last = (0, 0);
    let bridge_ok = wait_until(Duration::from_secs(25), || {
        last = stream(&blab);
        last == (10, 0)
    });
    assert!(bridge_ok, "through the Linux bridge: {last:?}");
}
