//! OVN interop (root only): vswitch as the hardware VTEP of a real OVN, with
//! `scripts/ovn-lab.sh` (what a user runs too) standing it up in namespaces:
//! the OVN central databases and ovn-northd, a hypervisor (ovsdb-server,
//! ovs-vswitchd with the userspace datapath, ovn-controller with VXLAN) with
//! host h1 on a logical switch port, the hardware_vtep ovsdb-server,
//! ovn-controller-vtep, and `vswitch run --vtep-db` with host h2 on a port
//! bound to the same logical switch (`ovn-nbctl lsp-set-type ... vtep`,
//! `vtep-ctl bind-ls`). Every daemon has its run/db/log directory under the
//! lab's directory and is stopped by its PID on drop, also on failure.

mod common;

use common::{in_ns, ping_once, ready, unique, vswitch, wait_until, Guard, VSWITCH};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ovn-lab.sh");
const H1_MAC: &str = "02:90:00:00:00:01";
const H2_MAC: &str = "02:90:00:00:00:02";
const HV_IP: &str = "10.99.0.1";

/// The lab of `ovn-lab.sh`, taken down on drop.
struct OvnLab {
    prefix: String,
    dir: PathBuf,
}

impl OvnLab {
    fn script(&self, cmd: &str) -> Output {
        Command::new("sh")
            .arg(SCRIPT)
            .args([cmd, &self.prefix])
            .arg(&self.dir)
            .env("VSWITCH", VSWITCH)
            .stdin(Stdio::null())
            .output()
            .expect("run ovn-lab.sh")
    }

    fn must(&self, cmd: &str) {
        let out = self.script(cmd);
        assert!(
            out.status.success(),
            "ovn-lab.sh {cmd}: {}{} (logs in {})",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.dir.display()
        );
    }

    fn up(tag: char) -> OvnLab {
        let prefix = unique(tag);
        let dir = std::env::temp_dir().join(format!("{prefix}-lab"));
        let _ = std::fs::remove_dir_all(&dir);
        let lab = OvnLab { prefix, dir };
        // A lab left by a killed run of the same name goes first.
        let _ = lab.script("down");
        lab.must("up");
        lab
    }

    fn ns(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    fn switch(&self) -> String {
        format!("{}-vs", self.prefix)
    }

    fn vtep_ctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}/vtep.sock", self.dir.display());
        let out = Command::new("vtep-ctl")
            .arg(&db)
            .args(args)
            .output()
            .expect("vtep-ctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn nbctl(&self, args: &[&str]) {
        let db = format!("--db=unix:{}/nb.sock", self.dir.display());
        let out = Command::new("ovn-nbctl")
            .arg(&db)
            .args(args)
            .output()
            .expect("ovn-nbctl");
        assert!(out.status.success(), "ovn-nbctl {args:?}");
    }

    /// vswitch's FDB entry for `mac`, if any.
    fn fdb_entry(&self, mac: &str) -> Option<serde_json::Value> {
        let out = vswitch(&["fdb", "show", "--name", &self.switch(), "-j"]);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        rows.as_array()?.iter().find(|r| r["mac"] == mac).cloned()
    }

    /// The VNI vswitch's vx0 carries untagged, if one.
    fn vni(&self) -> Option<u32> {
        let out = vswitch(&["show", "--name", &self.switch(), "-j"]);
        let ports: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let vx = ports.as_array()?.iter().find(|p| p["ifname"] == "vx0")?;
        vx["vxlan"]["vni"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for OvnLab {
    fn drop(&mut self) {
        let _ = self.script("down");
        if std::thread::panicking() {
            eprintln!("OVN lab logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The remote entry for h1: static on the tunnel towards the hypervisor.
fn remote_ok(e: &Option<serde_json::Value>) -> bool {
    e.as_ref()
        .is_some_and(|e| e["state"] == "static" && e["dst"] == HV_IP && e["ifname"] == "vx0")
}

#[test]
fn vswitch_joins_ovn_as_a_hardware_vtep() {
    let tools = [
        ("ovsdb-server", "--version"),
        ("ovs-vswitchd", "--version"),
        ("ovn-northd", "--version"),
        ("ovn-controller", "--version"),
        ("ovn-controller-vtep", "--version"),
        ("vtep-ctl", "--version"),
        ("ovn-nbctl", "--version"),
        ("iperf3", "--version"),
        ("ethtool", "--version"),
    ];
    if !ready("OVN tests", &tools) {
        return;
    }
    let lab = OvnLab::up('o');
    let (h1, h2) = (lab.ns("h1"), lab.ns("h2"));

    // Nobody wrote a flood list or a remote entry: OVN told vswitch.
    assert!(
        wait_until(Duration::from_secs(30), || ping_once(&h2, "192.168.90.1")),
        "h2 (behind vswitch) never reached h1 (on the OVN hypervisor); vswitch log:\n{}",
        lab.log("vswitch.log")
    );
    assert!(
        wait_until(Duration::from_secs(10), || ping_once(&h1, "192.168.90.2")),
        "h1 -> h2"
    );
    // The flood list may come before the MAC (then h1 is first learned on
    // the tunnel): the static entry follows.
    assert!(
        wait_until(Duration::from_secs(10), || remote_ok(
            &lab.fdb_entry(H1_MAC)
        )),
        "fdb show: {:?}",
        lab.fdb_entry(H1_MAC)
    );
    let local = format!("{H2_MAC} -> vxlan_over_ipv4/10.99.0.2");
    assert!(
        wait_until(Duration::from_secs(10), || lab
            .vtep_ctl(&["list-local-macs", "ls0"])
            .contains(&local)),
        "list-local-macs: {}",
        lab.vtep_ctl(&["list-local-macs", "ls0"])
    );
    assert!(lab
        .vtep_ctl(&["list-local-macs", "ls0"])
        .contains("unknown-dst -> vxlan_over_ipv4/10.99.0.2"));

    // TCP across: iperf3 h2 -> h1, once the server listens.
    let server = Guard(
        Command::new("ip")
            .args(["netns", "exec", &h1, "iperf3", "-s", "-B", "192.168.90.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iperf3 -s"),
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let out = in_ns(&h1, &["ss", "-Hltn", "sport", "=", ":5201"]);
            !out.stdout.is_empty()
        }),
        "iperf3 server not listening"
    );
    let out = in_ns(&h2, &["iperf3", "-c", "192.168.90.1", "-t", "2", "-J"]);
    drop(server);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let received = result["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    assert!(
        out.status.success() && received > 1_000_000,
        "iperf3 across: {received} bytes: {}",
        result["error"]
    );

    // The VTEP database goes away: forwarding goes on with what vswitch had.
    lab.must("vtep-db-stop");
    assert!(
        wait_until(Duration::from_secs(5), || ping_once(&h2, "192.168.90.1")),
        "forwarding stopped with the db"
    );
    // While it is away, its local MACs are lost from it (as if it had been
    // restored from an old copy): vswitch publishes them again.
    let db = lab.dir.join("vtep/vtep.db");
    let out = Command::new("ovsdb-tool")
        .arg("transact")
        .arg(&db)
        .arg(r#"["hardware_vtep",{"op":"delete","table":"Ucast_Macs_Local","where":[]}]"#)
        .output()
        .expect("ovsdb-tool");
    assert!(out.status.success(), "ovsdb-tool transact");
    lab.must("vtep-db-start");
    assert!(
        wait_until(Duration::from_secs(20), || lab
            .vtep_ctl(&["list-local-macs", "ls0"])
            .contains(&local)),
        "not published again: {}",
        lab.vtep_ctl(&["list-local-macs", "ls0"])
    );
    assert!(remote_ok(&lab.fdb_entry(H1_MAC)), "remote entry lost");
    assert!(
        wait_until(Duration::from_secs(5), || ping_once(&h2, "192.168.90.1")),
        "h2 -> h1 after the restart"
    );
    // OVN picked the logical switch's key; vswitch's port was started with
    // VNI 42 and now carries that key instead.
    let key: u32 = lab
        .vtep_ctl(&["get", "Logical_Switch", "ls0", "tunnel_key"])
        .trim()
        .parse()
        .expect("ls0 has a tunnel_key");
    assert_ne!(key, 42, "the lab pins no key: OVN picks its own");
    assert_eq!(lab.vni(), Some(key), "vx0 does not carry ls0's key");
    // A second logical switch bound on this VLAN-unaware switch: one
    // untagged VNI cannot carry both, so it is logged and not followed, and
    // ls0 keeps the port.
    lab.nbctl(&["ls-add", "ls1"]);
    let ps_opt = format!("vtep-physical-switch={}", lab.switch());
    lab.nbctl(&[
        "lsp-add",
        "ls1",
        "lsp-vtep1",
        "--",
        "lsp-set-type",
        "lsp-vtep1",
        "vtep",
        "--",
        "lsp-set-options",
        "lsp-vtep1",
        &ps_opt,
        "vtep-logical-switch=ls1",
    ]);
    let p2 = format!("{}-p2", lab.prefix);
    lab.vtep_ctl(&[
        "add-ls",
        "ls1",
        "--",
        "bind-ls",
        &lab.switch(),
        &p2,
        "5",
        "ls1",
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let log = lab.log("vswitch.log");
            log.lines().any(|l| {
                l.contains("logical switch ls1")
                    && l.contains("not followed")
                    && l.contains("carries one VNI untagged")
            })
        }),
        "no word of ls1 not followed; vswitch log:\n{}",
        lab.log("vswitch.log")
    );
    assert_eq!(lab.vni(), Some(key), "ls0 lost the port to ls1");
    assert!(
        ping_once(&h2, "192.168.90.1"),
        "h2 -> h1 with ls1 bound too"
    );
    lab.vtep_ctl(&["unbind-ls", &lab.switch(), &p2, "5"]);
    let ps = lab.vtep_ctl(&["list-ps"]);
    assert_eq!(ps.trim(), lab.switch(), "one Physical_Switch: {ps}");

    // Away again, and meanwhile h1's port leaves OVN: the entry vswitch had
    // for it must not survive the resync.
    lab.must("vtep-db-stop");
    lab.nbctl(&["lsp-del", "lsp-h1"]);
    lab.must("vtep-db-start");
    let flood = || {
        let out = vswitch(&["show", "--name", &lab.switch(), "-j"]);
        let ports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        ports.as_array().and_then(|p| {
            p.iter()
                .find(|p| p["ifname"] == "vx0")
                .map(|p| p["vxlan"]["flood"].clone())
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), || {
            lab.fdb_entry(H1_MAC).is_none_or(|e| e["state"] != "static")
                && flood() == Some(serde_json::json!([]))
        }),
        "stale remote entry {:?} or flood list {:?}",
        lab.fdb_entry(H1_MAC),
        flood()
    );
    // h2's port leaves the switch: its MAC is no longer published.
    common::ok(&vswitch(&["del", &p2, "--name", &lab.switch()]));
    assert!(
        wait_until(Duration::from_secs(10), || !lab
            .vtep_ctl(&["list-local-macs", "ls0"])
            .contains(H2_MAC)),
        "still published: {}",
        lab.vtep_ctl(&["list-local-macs", "ls0"])
    );
    assert!(
        lab.log("vswitch.log").contains("reconnecting"),
        "the outage was not seen"
    );
    // The binding goes: the VNI the port was started with comes back.
    lab.vtep_ctl(&["unbind-ls", &lab.switch(), &p2, "0"]);
    assert!(
        wait_until(Duration::from_secs(10), || lab.vni() == Some(42)),
        "vx0 carries {:?}, not its own 42 again",
        lab.vni()
    );
    // SIGTERM with the VTEP thread connected: the switch is gone promptly.
    let pid = std::fs::read_to_string(lab.dir.join("vswitch.pid"))
        .expect("vswitch.pid")
        .trim()
        .to_string();
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    assert!(!gone(), "vswitch is not running");
    let sent = std::time::Instant::now();
    let out = Command::new("kill")
        .args(["-TERM", &pid])
        .output()
        .expect("kill");
    assert!(out.status.success(), "kill -TERM {pid}");
    assert!(
        wait_until(Duration::from_secs(5), gone),
        "vswitch still runs 5 s after SIGTERM"
    );
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "vswitch took {took:?} to exit after SIGTERM"
    );
}
