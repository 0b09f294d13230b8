//! What a new user ran into (issue 12): interfaces that must not become ports,
//! printing commands whose reader goes away, bad settings, totals that went
//! backwards, commands that did not say what they did, the lab's subnet.
//!
//! The tests that need a switch build their own lab (namespaces
//! `vswt-{pid}{letter}K`, only their own subnets), remove it on drop, bound
//! every wait and kill only what they started. They need root, iproute2 and
//! ping; without them they print a skip note and pass, unless CI is set.

mod common;
use common::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exit status and standard error of `vswitch ARGS` run with a standard
/// output whose reader has already gone (as `| head -0`, without the race).
/// `meanwhile` runs while it does (to make traffic for trace and capture).
fn with_closed_stdout(
    args: &[&str],
    meanwhile: impl FnOnce(),
) -> (std::process::ExitStatus, String) {
    let (out, reader) = UnixStream::pair().expect("socketpair");
    drop(reader);
    let mut child = Command::new(VSWITCH)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(OwnedFd::from(out)))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vswitch");
    meanwhile();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vswitch {args:?} did not end within 30 s after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status, err)
}

fn assert_quiet(args: &[&str], (status, err): (std::process::ExitStatus, String)) {
    assert!(
        status.success() || status.signal() == Some(libc_sigpipe()),
        "vswitch {args:?} ended with {status} on a closed pipe: {err}"
    );
    assert!(
        err.trim().is_empty() || !args.is_empty() && err.contains("frames captured"),
        "vswitch {args:?} complained on a closed pipe: {err}"
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn usage_commands_without_a_switch_end_quietly_on_a_closed_pipe() {
    for args in [
        &["demo"][..],
        &["demo", "--json"],
        &["sim", "run", "scenarios/demo.toml"],
        &["sim", "run", "scenarios/demo.toml", "--trace"],
        &["--help"],
        &["run", "--help"],
    ] {
        assert_quiet(args, with_closed_stdout(args, || {}));
    }
}

#[test]
fn usage_printing_commands_end_quietly_on_a_closed_pipe() {
    if !ready() {
        return;
    }
    let lab = Lab::up('p', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--fdb-stats"]);
    assert!(ping(&lab.ns(1), &addr(2)));
    let name = sw.name.as_str();
    for cmd in [
        &["show"][..],
        &["show", "-j"],
        &["fdb", "show"],
        &["fdb", "show", "-j"],
        &["fdb", "show", "-s"],
        &["fdb", "show", "-s", "-j"],
        &["stats"],
        &["stats", "-j"],
    ] {
        let mut args = cmd.to_vec();
        args.extend_from_slice(&["--name", name]);
        assert_quiet(&args, with_closed_stdout(&args, || {}));
    }
    // The streams print only once frames cross the switch.
    let port2 = lab.port(2);
    for args in [
        vec!["trace", "--name", name],
        vec!["capture", &port2, "-w", "-", "--name", name],
    ] {
        let result = with_closed_stdout(&args, || {
            // The stream has started once the switch has a client for it.
            std::thread::sleep(Duration::from_millis(300));
            for _ in 0..3 {
                ping_once(&lab.ns(1), &addr(2));
            }
        });
        assert_quiet(&args, result);
    }
}

#[test]
fn usage_bad_settings_are_refused_in_one_line() {
    let dir = std::env::temp_dir().join(format!("vswitch-usage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let negative = config("negative.toml", "aging = -1\n");
    let nan = config("nan.toml", "aging = nan\n");
    let window = config("window.toml", "move-guard = { window = 0 }\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--aging", "-1"], "aging = -1 is not allowed"),
        (vec!["--aging", "nan"], "aging = NaN is not allowed"),
        (vec!["--aging", "1e99"], "aging = 1e99 is not allowed"),
        (vec!["--capacity", "0"], "capacity"),
        (vec!["--config", &negative], "aging = -1 is not allowed"),
        (vec!["--config", &nan], "aging = NaN is not allowed"),
        (
            vec!["--config", &window],
            "move-guard.window = 0 is not allowed",
        ),
        (vec!["--poll-us", "5000000"], "0..=1000000"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run", "--name", "vswt-bad"];
        args.extend_from_slice(&flags);
        let out = vswitch(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if flags[0] == "--capacity" || flags[0] == "--poll-us" {
                2
            } else {
                1
            }),
            "{flags:?}: {err}"
        );
        assert!(err.contains(want), "{flags:?}: {err}");
        let first = err.lines().next().unwrap_or("");
        assert!(first.len() < 200, "{flags:?}: a long line: {first}");
        if flags[0] != "--capacity" && flags[0] != "--poll-us" {
            // Ours: one line, with the range allowed.
            assert_eq!(err.lines().count(), 1, "{flags:?}: {err}");
            assert!(err.contains(" to ") || err.contains("more than"), "{err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_interfaces_that_cannot_be_ports_are_refused() {
    if !ready() {
        return;
    }
    let mut lab = Lab::up('r', 2);
    let bridge = format!("{}br", lab.prefix);
    let tun = format!("{}tun", lab.prefix);
    let (member, member_peer) = (format!("{}m", lab.prefix), format!("{}n", lab.prefix));
    lab.extra_links
        .extend([bridge.clone(), tun.clone(), member.clone()]);
    ip(&["link", "add", &bridge, "type", "bridge"]);
    ip(&["tuntap", "add", "dev", &tun, "mode", "tun"]);
    ip(&[
        "link",
        "add",
        &member,
        "type",
        "veth",
        "peer",
        "name",
        &member_peer,
    ]);
    ip(&["link", "set", &member, "master", &bridge]);

    // Started with the loopback: refused before anything runs.
    let out = vswitch(&["run", "--name", &lab.prefix, "lo"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"lo\" cannot be a port") && err.contains("loopback"),
        "{err}"
    );

    let sw = Running::start(&lab.prefix, &[lab.port(1)], &[]);
    let add = |iface: &str| vswitch(&["add", iface, "--name", &sw.name]);
    for (iface, why) in [
        ("lo", "loopback"),
        (bridge.as_str(), "is a Linux bridge"),
        (tun.as_str(), "not an Ethernet device"),
    ] {
        let out = add(iface);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{iface} accepted");
        assert!(
            err.contains("cannot be a port") && err.contains(why),
            "{iface}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A bridge's port moves, as `ip link set master` moves it, and says so.
    let said = ok(&add(&member));
    assert!(
        said.contains(&format!("released from bridge {bridge}")),
        "{said}"
    );
    assert!(!std::path::Path::new(&format!("/sys/class/net/{member}/master")).exists());
    assert_eq!(sw.ports().unwrap().len(), 2);

    // A second switch cannot take what the first holds, and is told whose it is.
    let other = format!("{}x", lab.prefix);
    let out = vswitch(&["run", "--name", &other, &lab.port(1)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a second switch took {}",
        lab.port(1)
    );
    assert!(
        err.contains(&format!("switch \"{}\"", sw.name))
            && err.contains(&sw.child.id().to_string()),
        "{err}"
    );
    // Released when the first lets it go.
    ok(&vswitch(&["del", &lab.port(1), "--name", &sw.name]));
    let second = Running::start(&other, &[lab.port(1)], &[]);
    assert_eq!(second.ports().unwrap().len(), 1);
    drop(second);
    drop(sw);
}

#[test]
fn usage_totals_never_go_back_and_commands_say_what_they_did() {
    if !ready() {
        return;
    }
    let lab = Lab::up('t', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    for _ in 0..3 {
        assert!(ping(&lab.ns(1), &addr(2)));
    }
    let stats = |sw: &Running| sw.json(&["stats"]).expect("stats -j");
    let before = stats(&sw);
    let rx = before["rx_frames"].as_u64().unwrap();
    assert!(rx >= 6, "{before}");
    ok(&vswitch(&["del", &lab.port(1), "--name", &sw.name]));
    ok(&vswitch(&["add", &lab.port(1), "--name", &sw.name]));
    let after = stats(&sw);
    assert!(
        after["rx_frames"].as_u64().unwrap() >= rx,
        "{before} then {after}"
    );
    assert!(
        after["tx_frames"].as_u64().unwrap() >= before["tx_frames"].as_u64().unwrap(),
        "{before} then {after}"
    );
    let text = ok(&vswitch(&["stats", "--name", &sw.name]));
    assert!(text.contains("aging 300 s"), "{text}");

    let said = ok(&vswitch(&[
        "fdb",
        "add",
        "02:AA:00:00:00:01",
        &lab.port(2),
        "--vlan",
        "0",
        "--name",
        &sw.name,
    ]));
    assert_eq!(
        said.trim(),
        format!("added static entry 02:aa:00:00:00:01 on {}", lab.port(2))
    );
    let said = ok(&vswitch(&[
        "fdb",
        "del",
        "02:aa:00:00:00:01",
        "--name",
        &sw.name,
    ]));
    assert_eq!(said.trim(), "removed entry 02:aa:00:00:00:01");
}

#[test]
fn usage_a_lab_of_one_on_a_subnet_of_its_own() {
    if !ready() {
        return;
    }
    let prefix = unique('s');
    let _ = vswitch(&["lab", "down", "--prefix", &prefix]);
    let out = vswitch(&[
        "lab",
        "up",
        "1",
        "--prefix",
        &prefix,
        "--subnet",
        "10.77.1.0/24",
    ]);
    // Down whatever happens below.
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = vswitch(&["lab", "down", "--prefix", &self.0]);
        }
    }
    let _down = Down(prefix.clone());
    let said = ok(&out);
    let first = said.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!("lab up: 1 host in namespace {prefix}1, 10.77.1.101/24")
    );
    let addrs = in_ns(
        &format!("{prefix}1"),
        &["ip", "-4", "-o", "addr", "show", "dev", "veth1"],
    );
    assert!(
        String::from_utf8_lossy(&addrs.stdout).contains("10.77.1.101/24"),
        "{}",
        String::from_utf8_lossy(&addrs.stdout)
    );
    let out = vswitch(&[
        "lab",
        "up",
        "1",
        "--prefix",
        &prefix,
        "--subnet",
        "8.8.8.0/24",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.0.0.0/8 or 192.168.0.0/16"));
    let said = ok(&vswitch(&["lab", "down", "--prefix", &prefix]));
    assert_eq!(said.trim(), "lab down: removed 1 namespace");
}

fn ready() -> bool {
    common::ready("the usage tests", &[("ip", "-V"), ("ping", "-V")])
}

/// The nice value of each thread of process `pid`, by thread id.
fn thread_nices(pid: u32) -> Vec<(u32, i64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .flatten()
    {
        let tid: u32 = task.file_name().to_string_lossy().parse().unwrap_or(0);
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After the command name: state is the 1st field, nice the 17th.
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        if let Some(nice) = rest.split_whitespace().nth(16).and_then(|n| n.parse().ok()) {
            out.push((tid, nice));
        }
    }
    out
}

#[test]
fn usage_forwarding_runs_ahead_of_its_control_thread() {
    if !ready() {
        return;
    }
    let lab = Lab::up('n', 1);
    for (flags, want) in [(&[][..], -10), (&["--nice", "0"][..], 0)] {
        let name = format!("{}{want}", lab.prefix).replace('-', "m");
        let sw = Running::start(&name, &[lab.port(1)], flags);
        let pid = sw.child.id();
        let nices = thread_nices(pid);
        let main = nices.iter().find(|(tid, _)| *tid == pid).map(|n| n.1);
        assert_eq!(main, Some(want), "{flags:?}: {nices:?}");
        assert!(
            nices.iter().any(|&(tid, nice)| tid != pid && nice == 10),
            "no control thread at nice 10: {nices:?}"
        );
    }
}
