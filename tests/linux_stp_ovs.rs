//! Spanning tree against Open vSwitch's RSTP (lib/rstp.c): an OVS bridge on
//! the userspace datapath (`datapath_type=netdev`), its ovsdb-server and
//! ovs-vswitchd started by the test in a namespace of their own with their
//! own database and run directory under /tmp (stopped by PID), joined to the
//! switch by two veth pairs (a loop). Both speak RSTP: no fallback, the ports
//! agree on the root and the roles, the loop does not melt down, and a host
//! behind the switch reaches OVS's bridge port.
//!
//! Needs root, iproute2 and Open vSwitch. Without them the test prints a skip
//! note and passes, unless the environment variable CI is set: then it fails.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// ovsdb-server and ovs-vswitchd of one test, in namespace `ns`.
struct Ovs {
    dir: PathBuf,
    ns: String,
    _daemons: Vec<Guard>,
    switch_ports: [String; 2],
    ovs_ports: [String; 2],
}

impl Ovs {
    fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.dir.join("db.sock").display());
        let out = Command::new("ovs-vsctl")
            .arg(&db)
            .arg("--timeout=10")
            .args(args)
            .output()
            .expect("ovs-vsctl");
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn up(lab: &mut Lab, priority: u16) -> Ovs {
        let dir = std::env::temp_dir().join(format!("{}-ovs", lab.prefix));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ns = format!("{}o", lab.prefix);
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        ip(&["netns", "add", &ns]);
        lab.extra_namespaces.push(ns.clone());
        // The userspace datapath reads its ports raw, so the namespace's own
        // stack sees them too, and by default answers ARP for the bridge's
        // address on any of them, with that port's MAC: the host may then
        // send to a port's MAC instead of the bridge's, and lose OVS when
        // that port's link is cut. Answer only on the interface that has the
        // address (a kernel datapath would hide the ports from the stack).
        let sysctl = in_ns(&ns, &["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"]);
        assert!(
            sysctl.status.success(),
            "sysctl arp_ignore in {ns}: {sysctl:?}"
        );
        let db = dir.join("conf.db");
        let status = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg("/usr/share/openvswitch/vswitch.ovsschema")
            .status()
            .unwrap();
        assert!(status.success());
        let sock = dir.join("db.sock");
        let spawn = |args: Vec<String>| {
            Guard(
                Command::new("ip")
                    .args(["netns", "exec", &ns])
                    .args(&args)
                    .env("OVS_RUNDIR", &dir)
                    .env("OVS_LOGDIR", &dir)
                    .env("OVS_DBDIR", &dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start an Open vSwitch daemon"),
            )
        };
        let d = |name: &str| dir.join(name).display().to_string();
        let ovsdb = spawn(vec![
            "ovsdb-server".into(),
            db.display().to_string(),
            format!("--remote=punix:{}", sock.display()),
            format!("--pidfile={}", d("ovsdb-server.pid")),
            format!("--unixctl={}", d("ovsdb-server.ctl")),
            format!("--log-file={}", d("ovsdb-server.log")),
        ]);
        assert!(wait_until(Duration::from_secs(10), || sock.exists()));
        let vswitchd = spawn(vec![
            "ovs-vswitchd".into(),
            format!("unix:{}", sock.display()),
            format!("--pidfile={}", d("ovs-vswitchd.pid")),
            format!("--unixctl={}", d("ovs-vswitchd.ctl")),
            format!("--log-file={}", d("ovs-vswitchd.log")),
        ]);
        // Daemons are stopped in reverse order: vswitchd first.
        let mut ovs = Ovs {
            dir,
            ns,
            _daemons: vec![vswitchd, ovsdb],
            switch_ports: [String::new(), String::new()],
            ovs_ports: [String::new(), String::new()],
        };
        ovs.vsctl(&["--no-wait", "init"]);
        ovs.vsctl(&[
            "add-br",
            "ovsbr",
            "--",
            "set",
            "bridge",
            "ovsbr",
            "datapath_type=netdev",
            "rstp_enable=true",
            "other_config:rstp-hello-time=2",
            "other_config:rstp-forward-delay=4",
            "other_config:rstp-max-age=6",
            &format!("other_config:rstp-priority={priority}"),
        ]);
        for i in 1..=2 {
            let (s, o) = (format!("{}s{i}", lab.prefix), format!("{}o{i}", lab.prefix));
            let _ = Command::new("ip").args(["link", "del", &s]).output();
            ip(&["link", "add", &s, "type", "veth", "peer", "name", &o]);
            lab.extra_links.push(s.clone());
            ip(&["link", "set", &o, "netns", &ovs.ns]);
            ip(&["-n", &ovs.ns, "link", "set", &o, "up"]);
            ip(&["link", "set", &s, "up"]);
            ovs.vsctl(&["add-port", "ovsbr", &o]);
            ovs.switch_ports[i - 1] = s;
            ovs.ovs_ports[i - 1] = o;
        }
        assert!(wait_until(Duration::from_secs(10), || {
            in_ns(&ovs.ns, &["ip", "link", "show", "ovsbr"])
                .status
                .success()
        }));
        ip(&[
            "-n",
            &ovs.ns,
            "addr",
            "add",
            "192.168.100.201/24",
            "dev",
            "ovsbr",
        ]);
        ip(&["-n", &ovs.ns, "link", "set", "ovsbr", "up"]);
        ovs
    }

    /// A field of a port's `rstp_status` (`rstp_port_role`, `rstp_port_state`).
    fn port_status(&self, port: &str, key: &str) -> String {
        let v = self.vsctl(&["get", "port", port, &format!("rstp_status:{key}")]);
        v.trim_matches('"').to_string()
    }

    /// The bridge's root identifier as `8000.xxxxxxxxxxxx` (OVS writes `8.000.xxx`).
    fn root_id(&self) -> String {
        let v = self.vsctl(&["get", "bridge", "ovsbr", "rstp_status:rstp_root_id"]);
        let hex: String = v.chars().filter(char::is_ascii_hexdigit).collect();
        if hex.len() == 16 {
            format!("{}.{}", &hex[..4], &hex[4..])
        } else {
            hex
        }
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        // The daemons first (by PID), then their files.
        self._daemons.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ready_for_ovs() -> bool {
    ready(
        "Open vSwitch spanning tree tests",
        &[
            ("ip", "-V"),
            ("ovs-vswitchd", "--version"),
            ("ovsdb-server", "--version"),
        ],
    )
}

/// The switch with RSTP at `priority`, host port 1 an edge port, and the two
/// ports to OVS.
fn start(lab: &Lab, ovs: &Ovs, priority: u16, tag: char) -> Running {
    let config = ovs.dir.join("vswitch.toml");
    std::fs::write(
        &config,
        format!(
            "stp = \"rstp\"\nstp-priority = {priority}\nstp-forward-delay = 4\nstp-max-age = 6\n\
             [ports.\"{}\"]\nstp-edge = true\n",
            lab.port(1)
        ),
    )
    .unwrap();
    let mut ports = vec![lab.port(1)];
    ports.extend(ovs.switch_ports.iter().cloned());
    let config = config.to_string_lossy().into_owned();
    Running::start(&unique(tag), &ports, &["--config", &config])
}

/// No storm over the loop, and the host reaches OVS's bridge port.
fn assert_loop_free_and_reachable(lab: &Lab, ovs: &Ovs, sw: &Running) {
    let rx = || -> u64 {
        ovs.switch_ports
            .iter()
            .map(|p| sw.port(p)["rx_frames"].as_u64().unwrap())
            .sum()
    };
    let before = rx();
    std::thread::sleep(Duration::from_secs(2));
    let grown = rx() - before;
    assert!(grown < 100, "{grown} frames in 2 s on the loop: a storm");
    assert!(ping(&lab.ns(1), "192.168.100.201"), "host to OVS");
}

#[test]
fn the_switch_is_root_over_open_vswitch_rstp() {
    if !ready_for_ovs() {
        return;
    }
    let mut lab = Lab::up('o', 1);
    let ovs = Ovs::up(&mut lab, 32768);
    let sw = start(&lab, &ovs, 4096, 'O');
    let converged = wait_until(Duration::from_secs(20), || {
        let s = stp(&sw);
        let mut roles = [
            ovs.port_status(&ovs.ovs_ports[0], "rstp_port_role"),
            ovs.port_status(&ovs.ovs_ports[1], "rstp_port_role"),
        ];
        roles.sort();
        ovs.root_id() == s["bridge_id"].as_str().unwrap()
            && roles == ["Alternate", "Root"]
            && ovs
                .switch_ports
                .iter()
                .all(|p| port(&s, p)["state"] == "forwarding")
    });
    let s = stp(&sw);
    assert!(
        converged,
        "not converged: switch {s}, OVS root {}, ports {} {} / {} {}",
        ovs.root_id(),
        ovs.port_status(&ovs.ovs_ports[0], "rstp_port_role"),
        ovs.port_status(&ovs.ovs_ports[0], "rstp_port_state"),
        ovs.port_status(&ovs.ovs_ports[1], "rstp_port_role"),
        ovs.port_status(&ovs.ovs_ports[1], "rstp_port_state"),
    );
    for p in &ovs.switch_ports {
        let p = port(&s, p);
        assert_eq!(p["role"], "designated", "{p}");
        assert_eq!(p["protocol"], "rstp", "an RSTP neighbour: no fallback, {p}");
    }
    for p in &ovs.ovs_ports {
        let role = ovs.port_status(p, "rstp_port_role");
        let state = ovs.port_status(p, "rstp_port_state");
        let want = if role == "Root" {
            "Forwarding"
        } else {
            "Discarding"
        };
        assert_eq!(state, want, "OVS port {p} ({role})");
    }
    assert_loop_free_and_reachable(&lab, &ovs, &sw);
}

#[test]
fn open_vswitch_is_root_and_the_switch_blocks_one_link() {
    if !ready_for_ovs() {
        return;
    }
    let mut lab = Lab::up('v', 1);
    let ovs = Ovs::up(&mut lab, 4096);
    let sw = start(&lab, &ovs, 32768, 'V');
    let roles = |s: &serde_json::Value| stp_roles(s, &ovs.switch_ports);
    // Proposal and agreement: well within the 8 s the forward delays take.
    let converged = wait_until(Duration::from_secs(20), || {
        let s = stp(&sw);
        s["root_id"] == ovs.root_id().as_str()
            && roles(&s) == ["alternate", "root"]
            && ovs
                .ovs_ports
                .iter()
                .all(|p| ovs.port_status(p, "rstp_port_state") == "Forwarding")
    });
    let s = stp(&sw);
    assert!(
        converged,
        "not converged: switch {s}, OVS root {}, ports {} {} / {} {}",
        ovs.root_id(),
        ovs.port_status(&ovs.ovs_ports[0], "rstp_port_role"),
        ovs.port_status(&ovs.ovs_ports[0], "rstp_port_state"),
        ovs.port_status(&ovs.ovs_ports[1], "rstp_port_role"),
        ovs.port_status(&ovs.ovs_ports[1], "rstp_port_state"),
    );
    assert_eq!(s["is_root"], false);
    for p in &ovs.ovs_ports {
        assert_eq!(ovs.port_status(p, "rstp_port_role"), "Designated");
    }
    for p in &ovs.switch_ports {
        let p = port(&s, p);
        let want = if p["role"] == "root" {
            "forwarding"
        } else {
            "discarding"
        };
        assert_eq!(p["state"], want, "{p}");
        assert_eq!(p["protocol"], "rstp", "{p}");
        // Veths say full duplex: point-to-point, found by itself.
        assert_eq!(
            (&p["p2p"], &p["p2p_setting"]),
            (&true.into(), &"auto".into())
        );
    }
    assert_loop_free_and_reachable(&lab, &ovs, &sw);
    // The root port's link fails: the alternate port takes over and the host
    // reaches OVS again. The issue asks for convergence in well under a
    // second on point-to-point links: an alternate port becomes root port
    // and forwards at once, no forward delay (a timer-driven change would take
    // 2 x 4 s here). It takes a few milliseconds (about 20-40 ms of outage in
    // benches/stp-failover.sh); the bound of a second on the switch's port
    // roles and states is tens of times that, for a loaded machine and the
    // polls through `stp show`, yet far below the forward delays. The speed
    // itself is measured in the bench.
    let root = port(&s, &ovs.switch_ports[0])["role"] == "root";
    let (cut, other) = if root {
        (&ovs.switch_ports[0], &ovs.switch_ports[1])
    } else {
        (&ovs.switch_ports[1], &ovs.switch_ports[0])
    };
    ip(&["link", "set", cut, "down"]);
    let moved = wait_until(Duration::from_secs(1), || {
        let s = stp(&sw);
        let p = port(&s, other);
        p["role"] == "root" && p["state"] == "forwarding"
    });
    assert!(moved, "no failover within a second: {}", stp(&sw));
    assert_eq!(port(&stp(&sw), cut)["role"], "disabled");
    // The way back: one echo request at once, over the new root port (the
    // outage itself is measured in the bench).
    assert!(
        ping_once(&lab.ns(1), "192.168.100.201"),
        "host to OVS after the failover"
    );
}
