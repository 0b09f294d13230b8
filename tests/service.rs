//! vswitch as a service (issue 21): `check-config`, the systemd unit, and
//! (as root, in labs of their own) readiness through a stand-in notify socket
//! and live reload.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("vswitch-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn service_check_config_passes_good_files_and_names_what_is_wrong() {
    let dir = TempDir::new("check");
    let good = dir.file(
        "good.toml",
        "attach = [\"veth1-vsw\", \"tap:tap0\"]\naging = 60\n[ports.veth1-vsw]\nmac-limit = 4\n",
    );
    let said = ok(&vswitch(&["check-config", path_str(&good)]));
    assert_eq!(
        said.trim(),
        format!(
            "{}: ok (2 ports to attach, settings for 1 port name)",
            good.display()
        )
    );
    for (name, text, want) in [
        ("aging.toml", "aging = -1\n", "aging = -1 is not allowed"),
        ("field.toml", "agin = 5\n", "unknown field `agin`"),
        (
            "vlan.toml",
            "[ports.p]\nvlan = { access = 0 }\n",
            "VLAN id 0",
        ),
        ("twice.toml", "attach = [\"v1\", \"v1\"]\n", "twice"),
        ("syntax.toml", "aging = \n", "(line 1)"),
    ] {
        let path = dir.file(name, text);
        let out = vswitch(&["check-config", path_str(&path)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(want) && err.contains(name), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
    }
    let out = vswitch(&["check-config", "/nonexistent/vswitch.toml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/vswitch.toml"));
}

/// The unit file, with the binary it runs pointed at the one under test,
/// passes `systemd-analyze verify` (systemd cannot run here: no PID 1 of its
/// own).
#[test]
fn service_the_unit_file_verifies() {
    if !common::ready("the unit file test", &[("systemd-analyze", "--version")]) {
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/vswitch@.service"
    ))
    .expect("dist/vswitch@.service");
    assert!(
        unit.contains("Type=notify"),
        "the unit does not wait for readiness"
    );
    assert!(unit.contains("ExecReload="), "the unit cannot reload");
    let dir = TempDir::new("unit");
    dir.file(
        "vswitch@.service",
        &unit.replace("/usr/local/bin/vswitch", VSWITCH),
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", path_str(&dir.0.join("vswitch@sw0.service"))])
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

fn ready_root() -> bool {
    common::ready("the service tests", &[("ip", "-V"), ("ping", "-V")])
}

/// The next message on the stand-in notify socket, within 10 s.
fn next_message(socket: &std::os::unix::net::UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = socket
        .recv(&mut buf)
        .expect("no message from the switch in 10 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A switch started as systemd starts a `Type=notify` unit, with a datagram
/// socket standing in for the service manager: READY=1 comes when every port
/// is attached and the control socket answers, with a STATUS; STOPPING=1 on
/// the way out. Its log, off a terminal, has no colour codes.
#[test]
fn service_readiness_is_told_through_the_notify_socket() {
    if !ready_root() {
        return;
    }
    let lab = Lab::up('y', 3);
    let dir = TempDir::new("notify");
    let path = dir.0.join("notify.sock");
    let manager = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let name = lab.prefix.clone();
    let mut args = vec!["run", "--name", &name];
    let ports = lab.ports();
    args.extend(ports.iter().map(String::as_str));
    let child = Command::new(VSWITCH)
        .args(&args)
        .env("NOTIFY_SOCKET", &path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vswitch run");
    let mut sw = Running {
        child,
        name: name.clone(),
    };
    let ready = next_message(&manager);
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(ready.contains("STATUS=forwarding on 3 ports"), "{ready}");
    // Ready means ready: answered at once, every port there.
    let shown = sw
        .ports()
        .expect("the control socket answers once READY=1 is sent");
    assert_eq!(shown.len(), 3);
    sw.signal("-TERM");
    assert!(next_message(&manager).contains("STOPPING=1"));
    let status = sw.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut log = String::new();
    use std::io::Read;
    sw.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("running with 3 ports"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "colour codes in a log off a terminal: {log:?}"
    );
}

/// Pings from host 1 to host 2 every 20 ms (150 of them, at most 10 s) while
/// `during` runs; returns how many went unanswered.
fn pings_lost_while(lab: &Lab, during: impl FnOnce()) -> u32 {
    let ns = lab.ns(1);
    let to = addr(2);
    let text = std::thread::scope(|s| {
        let pinger = s.spawn(|| {
            in_ns(
                &ns,
                &["ping", "-i", "0.02", "-c", "150", "-w", "10", "-q", &to],
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        during();
        let out = pinger.join().expect("ping thread");
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    // "150 packets transmitted, 150 received, ..."
    let summary = text
        .lines()
        .find(|l| l.contains("transmitted"))
        .unwrap_or("");
    let field = |word: &str| -> u32 {
        summary
            .split(',')
            .find(|p| p.contains(word))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {word} in ping's summary: {text}"))
    };
    field("transmitted") - field("received")
}

/// A live reload: a port attached, one detached, a port's settings and the
/// switch's changed, while a ping runs between two ports that did not
/// change: no ping lost, their entries still learned; then the same through
/// SIGHUP; then a broken file refused with everything kept.
#[test]
fn service_reload_applies_the_difference_and_loses_nothing() {
    if !ready_root() {
        return;
    }
    let lab = Lab::up('z', 4);
    let dir = TempDir::new("reload");
    let (p1, p2, p3, p4) = (lab.port(1), lab.port(2), lab.port(3), lab.port(4));
    let write = |attach: &[&str], extra: &str| {
        let list: Vec<String> = attach.iter().map(|p| format!("\"{p}\"")).collect();
        dir.file(
            "sw.toml",
            &format!("attach = [{}]\n{extra}", list.join(", ")),
        )
    };
    let config = write(&[&p1, &p2, &p3], "");
    let mut sw = Running::start_with(&lab.prefix, &[], &["--config", path_str(&config)], 3);
    assert_eq!(sw.ports().unwrap().len(), 3);
    assert!(ping(&lab.ns(1), &addr(2)));
    assert!(ping(&lab.ns(3), &addr(2)));
    let learned = |sw: &Running, port: &str| sw.fdb().iter().any(|e| e["ifname"] == port);

    let mut said = String::new();
    let lost = pings_lost_while(&lab, || {
        write(
            &[&p1, &p2, &p4],
            &format!("aging = 120\n[ports.{p2}]\nstorm-broadcast = 500\n"),
        );
        said = ok(&vswitch(&["reload", "--name", &sw.name]));
    });
    assert_eq!(lost, 0, "pings lost across a reload; it said {said}");
    assert!(said.contains(&format!("attached {p4}")), "{said}");
    assert!(said.contains(&format!("detached {p3}")), "{said}");
    assert!(
        said.contains(&format!("port settings changed {p2}")),
        "{said}"
    );
    assert!(said.contains("switch settings changed aging"), "{said}");
    let names: Vec<String> = sw
        .ports()
        .unwrap()
        .iter()
        .map(|p| p["ifname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&p4) && !names.contains(&p3), "{names:?}");
    assert!(
        learned(&sw, &p1) && learned(&sw, &p2),
        "entries of unchanged ports lost"
    );
    let stats = sw.json(&["stats"]).unwrap();
    assert_eq!(stats["fdb"]["aging"].as_f64(), Some(120.0), "{stats}");

    // SIGHUP does the same: host 4's port goes again.
    write(&[&p1, &p2], "aging = 120\n");
    sw.signal("-HUP");
    assert!(
        wait_until(std::time::Duration::from_secs(5), || sw
            .ports()
            .is_some_and(|p| p.len() == 2)),
        "SIGHUP did not reload"
    );
    assert!(learned(&sw, &p1) && learned(&sw, &p2));

    // A broken file: refused in one line, the switch as it was.
    dir.file("sw.toml", "attach = [\"x\"]\naging = -5\n");
    let out = vswitch(&["reload", "--name", &sw.name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("aging = -5 is not allowed"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // A file naming an interface that does not exist: refused, nothing attached.
    write(&[&p1, &p2, &format!("{}nope", lab.prefix)], "");
    let out = vswitch(&["reload", "--name", &sw.name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert_eq!(sw.ports().unwrap().len(), 2);
    assert!(learned(&sw, &p1) && learned(&sw, &p2));
    assert!(ping(&lab.ns(1), &addr(2)));
}
