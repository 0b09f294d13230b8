//! The harness of the root-run Linux tests: a lab of namespaces and veths with
//! unique names, a running `vswitch run`, and bounded waits. Everything made is
//! removed on drop, also when a test fails.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const VSWITCH: &str = env!("CARGO_BIN_EXE_vswitch");

/// True if the tests can run: root and the `tools` (command, version flag).
/// Otherwise prints a skip note and returns false, unless the environment
/// variable CI is set: then it fails.
pub fn ready(what: &str, tools: &[(&str, &str)]) -> bool {
    let root = vswitch_linux::sys::is_root();
    let mut why = format!("root: {root}");
    let mut all = root;
    for (cmd, arg) in tools {
        let has = Command::new(cmd)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        why.push_str(&format!(", {cmd}: {has}"));
        all &= has;
    }
    if all {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {what} cannot run ({why})");
    }
    eprintln!("skipping {what}: they need root and {tools:?} ({why})");
    false
}

/// A name no other test run uses: `vswt-`, the process id, a letter per test.
/// Short enough that `<name>K-vsw` fits an interface name (15 bytes).
pub fn unique(tag: char) -> String {
    format!("vswt-{:04}{tag}", std::process::id() % 10_000)
}

pub fn vswitch(args: &[&str]) -> Output {
    Command::new(VSWITCH)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vswitch")
}

/// The standard output of a command that must succeed.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "vswitch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `vswitch lab up N --prefix P`, removed on drop with whatever else the test
/// made and registered here.
pub struct Lab {
    pub prefix: String,
    pub n: u32,
    /// What `lab up` printed.
    pub up_output: String,
    pub extra_namespaces: Vec<String>,
    pub extra_links: Vec<String>,
}

impl Lab {
    pub fn up(tag: char, n: u32) -> Lab {
        let prefix = unique(tag);
        // Leftovers of an earlier run with the same pid: remove them first.
        let _ = vswitch(&["lab", "down", "--prefix", &prefix]);
        let mut lab = Lab {
            prefix,
            n,
            up_output: String::new(),
            extra_namespaces: Vec::new(),
            extra_links: Vec::new(),
        };
        lab.up_output = ok(&vswitch(&[
            "lab",
            "up",
            &n.to_string(),
            "--prefix",
            &lab.prefix,
        ]));
        lab
    }

    /// Namespace of host `k` (1-based).
    pub fn ns(&self, k: u32) -> String {
        format!("{}{k}", self.prefix)
    }

    /// Switch-side interface of host `k`.
    pub fn port(&self, k: u32) -> String {
        format!("{}{k}-vsw", self.prefix)
    }

    pub fn ports(&self) -> Vec<String> {
        (1..=self.n).map(|k| self.port(k)).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = vswitch(&["lab", "down", "--prefix", &self.prefix]);
        for link in &self.extra_links {
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
        for ns in &self.extra_namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs `ip ARGS`, which must succeed.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The address of the TAP host made by [`tap_host`].
pub const TAP_HOST: &str = "192.168.100.150";

/// A switch on lab host 1's port and a TAP port `tap:<prefix>tap`, whose device
/// then becomes a host ([`TAP_HOST`]) in a namespace of its own (removed with
/// the lab); the switch keeps its descriptor. Returns the switch and the TAP's
/// name and namespace.
pub fn tap_host(lab: &mut Lab) -> (Running, String, String) {
    let tap = format!("{}tap", lab.prefix);
    let tap_ns = format!("{}t", lab.prefix);
    lab.extra_namespaces.push(tap_ns.clone());
    let ports = vec![lab.port(1), format!("tap:{tap}")];
    let sw = Running::start(&lab.prefix, &ports, &[]);
    assert!(
        std::path::Path::new(&format!("/sys/class/net/{tap}")).exists(),
        "the switch made no TAP device {tap}"
    );
    ip(&["netns", "add", &tap_ns]);
    ip(&["link", "set", &tap, "netns", &tap_ns]);
    ip(&[
        "-n",
        &tap_ns,
        "addr",
        "add",
        &format!("{TAP_HOST}/24"),
        "dev",
        &tap,
    ]);
    ip(&["-n", &tap_ns, "link", "set", &tap, "up"]);
    (sw, tap, tap_ns)
}

/// Address of lab host `k`.
pub fn addr(k: u32) -> String {
    format!("192.168.100.{}", 100 + k)
}

pub fn mac(k: u32) -> String {
    format!("02:00:00:00:01:{k:02x}")
}

/// Pings `to` from namespace `ns`: up to 3 attempts of one echo, 1 s each.
pub fn ping(ns: &str, to: &str) -> bool {
    (0..3).any(|_| ping_once(ns, to))
}

pub fn ping_once(ns: &str, to: &str) -> bool {
    in_ns(ns, &["ping", "-c", "1", "-W", "1", "-q", to])
        .status
        .success()
}

/// Runs `cmd` in namespace `ns` (`ip netns exec`) to its end; its output.
pub fn in_ns(ns: &str, cmd: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("ip netns exec")
}

/// `vswitch run` started by the test, ended on drop (by its PID).
pub struct Running {
    pub child: Child,
    pub name: String,
}

impl Running {
    /// Starts a switch and waits until every port shows up.
    pub fn start(name: &str, ports: &[String], extra: &[&str]) -> Running {
        Running::start_with(name, ports, extra, ports.len())
    }

    /// Starts a switch and waits until `n` ports show up, all up (some may
    /// come from a configuration file in `extra`).
    pub fn start_with(name: &str, ports: &[String], extra: &[&str], n: usize) -> Running {
        Running::start_in(None, name, ports, extra, n)
    }

    /// As [`Running::start_with`], inside network namespace `ns` if given
    /// (`ip netns exec` runs the switch in its own process: the PID is the
    /// switch's).
    pub fn start_in(
        ns: Option<&str>,
        name: &str,
        ports: &[String],
        extra: &[&str],
        n: usize,
    ) -> Running {
        let mut args = vec!["run", "--name", name];
        args.extend_from_slice(extra);
        args.extend(ports.iter().map(String::as_str));
        let mut command = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, VSWITCH]);
                c
            }
            None => Command::new(VSWITCH),
        };
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vswitch run");
        let mut sw = Running {
            child,
            name: name.to_string(),
        };
        let up = wait_until(Duration::from_secs(5), || {
            sw.ports()
                .is_some_and(|p| p.len() == n && p.iter().all(|p| p["state"] == "up"))
        });
        if !up {
            let _ = sw.child.kill();
            let mut err = String::new();
            if let Some(mut e) = sw.child.stderr.take() {
                let _ = sw.child.wait();
                let _ = e.read_to_string(&mut err);
            }
            panic!("the switch did not come up with {n} ports up: {err}");
        }
        sw
    }

    /// `vswitch ARGS --name NAME -j`, parsed.
    pub fn json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--name", &self.name, "-j"]);
        let out = vswitch(&a);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn ports(&self) -> Option<Vec<serde_json::Value>> {
        self.json(&["show"])?.as_array().cloned()
    }

    /// Port `ifname` as `show -j` reports it.
    pub fn port(&self, ifname: &str) -> serde_json::Value {
        self.ports()
            .expect("show -j")
            .into_iter()
            .find(|p| p["ifname"] == ifname)
            .unwrap_or_else(|| panic!("no port {ifname}"))
    }

    pub fn fdb(&self) -> Vec<serde_json::Value> {
        self.json(&["fdb", "show"])
            .and_then(|v| v.as_array().cloned())
            .expect("fdb show -j")
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (`-STOP`, `-CONT`, ...) to the switch, unless it has
    /// exited and been reaped: its PID may belong to another process by now.
    pub fn signal(&mut self, sig: &str) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test may have stopped it: let it run to hear SIGTERM.
        self.signal("-CONT");
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process the test started, killed (by PID) on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The frames of a pcap file (either byte order).
pub fn pcap_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let big = bytes.get(..4) == Some(&[0xa1, 0xb2, 0xc3, 0xd4]);
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let raw: [u8; 4] = bytes[at + 8..at + 12].try_into().unwrap();
        let len = if big {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        } as usize;
        at += 16;
        if at + len > bytes.len() {
            break;
        }
        frames.push(bytes[at..at + len].to_vec());
        at += len;
    }
    frames
}

/// `vswitch stp show -j` of a running switch.
pub fn stp(sw: &Running) -> serde_json::Value {
    sw.json(&["stp", "show"]).expect("stp show -j")
}

/// Port `ifname` in an `stp show -j`.
pub fn port<'a>(s: &'a serde_json::Value, ifname: &str) -> &'a serde_json::Value {
    s["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ifname"] == ifname)
        .unwrap_or_else(|| panic!("no port {ifname} in {s}"))
}

/// The spanning tree roles of `ports` in an `stp show -j`, sorted.
pub fn stp_roles(s: &serde_json::Value, ports: &[String]) -> Vec<String> {
    let mut r: Vec<String> = ports
        .iter()
        .map(|p| port(s, p)["role"].as_str().unwrap().to_string())
        .collect();
    r.sort();
    r
}

/// A packet socket on `iface` inside namespace `ns`, to send raw frames.
pub fn raw_socket(ns: &str, iface: &str) -> vswitch_linux::port::AfPacketPort {
    let iface = iface.to_string();
    vswitch_linux::sys::in_netns(&format!("/run/netns/{ns}"), move || {
        vswitch_linux::port::AfPacketPort::open(&iface).map_err(std::io::Error::other)
    })
    .expect("packet socket in namespace")
}

/// A 60-byte frame with the local experimental ethertype, `tag` in its payload.
pub fn raw_frame(dst: [u8; 6], src: [u8; 6], tag: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x88b5u16.to_be_bytes());
    f.extend_from_slice(tag);
    f.resize(f.len().max(60), 0);
    f
}

/// Sends `frames`, one at a time, retrying briefly when the socket is full.
pub fn send_all(port: &mut vswitch_linux::port::AfPacketPort, frames: &[Vec<u8>]) {
    use vswitch_core::Port;
    for f in frames {
        let deadline = Instant::now() + Duration::from_secs(2);
        while port.send_now(f).is_err() {
            port.flush();
            assert!(Instant::now() < deadline, "the socket stays full");
            std::thread::sleep(Duration::from_millis(1));
        }
        port.flush();
    }
}

/// Starts a one-test iperf3 server (`-s -1`) in namespace `ns`, as a child
/// of the test (ended by its PID when the guard drops, if it has not ended
/// by itself after its test), and waits until it listens.
pub fn iperf3_server(ns: &str) -> Guard {
    let log = std::env::temp_dir().join(format!("{ns}-iperf3-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).expect("iperf3 server log");
    let mut server = Guard(
        Command::new("ip")
            .args(["netns", "exec", ns, "iperf3", "-s", "-1"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("iperf3 server log"))
            .stderr(out)
            .spawn()
            .expect("iperf3 server"),
    );
    let listening = wait_until(Duration::from_secs(5), || {
        !in_ns(ns, &["ss", "-Hltn", "sport", "=", ":5201"])
            .stdout
            .is_empty()
            || !matches!(server.0.try_wait(), Ok(None))
    }) && matches!(server.0.try_wait(), Ok(None));
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(
        listening,
        "iperf3 server in {ns} not listening ({:?}): {said}",
        server.0.try_wait()
    );
    server
}
