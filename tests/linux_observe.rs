//! Seeing what a real switch does: `vswitch monitor` streams its events in
//! order with increasing sequence numbers (learned, moved, aged, flushed, a
//! port removed), a reader that falls behind is told how many events it
//! missed and never sees a silent gap, and `vswitch explain` says what the
//! switch would do with a frame without doing it. Each test builds its own lab
//! of network namespaces and veths (unique names from the test's process id
//! and a letter), removes everything it made even when it fails, and waits
//! only within bounds.
//!
//! Needs root and iproute2. Without them a test prints a skip note and passes,
//! unless the environment variable CI is set: then it fails.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vswitch_core::Port;
use vswitch_linux::control::{self, Request};
use vswitch_linux::port::AfPacketPort;

fn ready() -> bool {
    common::ready("the observability tests", &[("ip", "-V")])
}

/// A packet socket on `iface` inside namespace `ns`, to send raw frames.
fn raw_socket(ns: &str, iface: &str) -> AfPacketPort {
    let iface = iface.to_string();
    vswitch_linux::sys::in_netns(&format!("/run/netns/{ns}"), move || {
        AfPacketPort::open(&iface).map_err(std::io::Error::other)
    })
    .expect("packet socket in namespace")
}

/// A 60-byte frame with the local experimental ethertype.
fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x88b5u16.to_be_bytes());
    f.extend_from_slice(b"vswitch observe test");
    f.resize(60, 0);
    f
}

/// Sends `frames`, retrying briefly when the socket is full.
fn send_all(port: &mut AfPacketPort, frames: &[Vec<u8>]) {
    for f in frames {
        let deadline = Instant::now() + Duration::from_secs(2);
        while port.send_now(f).is_err() {
            port.flush();
            assert!(Instant::now() < deadline, "the socket stays full");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    port.flush();
}

/// `vswitch monitor -j` in a process of its own, its lines collected by a
/// thread; killed (by PID) on drop.
struct MonitorProc {
    _guard: Guard,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl MonitorProc {
    fn start(name: &str) -> MonitorProc {
        let mut child = Command::new(VSWITCH)
            .args(["monitor", "-j", "--name", name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start vswitch monitor");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
                sink.lock().unwrap().push(v);
            }
        });
        MonitorProc {
            _guard: Guard(child),
            lines,
        }
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().clone()
    }

    /// The index of the first line after `from` that `f` accepts.
    fn find(&self, from: usize, f: impl Fn(&serde_json::Value) -> bool) -> Option<usize> {
        self.lines()
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, v)| f(v))
            .map(|(i, _)| i)
    }

    /// Waits for such a line.
    fn wait(&self, from: usize, what: &str, f: impl Fn(&serde_json::Value) -> bool) -> usize {
        let mut at = None;
        wait_until(Duration::from_secs(10), || {
            at = self.find(from, &f);
            at.is_some()
        });
        at.unwrap_or_else(|| panic!("no {what} event after line {from}: {:?}", self.lines()))
    }
}

const HOST: [u8; 6] = [2, 0, 0, 0, 0x0b, 1];
const OTHER: [u8; 6] = [2, 0, 0, 0, 0x0b, 2];

#[test]
fn linux_monitor_streams_learn_move_age_flush_and_port_removal_in_order() {
    if !ready() {
        return;
    }
    let lab = Lab::up('o', 3);
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--aging", "2"]);
    let mon = MonitorProc::start(&lab.prefix);
    // The stream starts when the switch takes the request: flush until the
    // monitor sees one.
    let subscribed = wait_until(Duration::from_secs(5), || {
        ok(&vswitch(&["fdb", "flush", "--name", &lab.prefix]));
        mon.find(0, |v| v["event"] == "flushed").is_some()
    });
    assert!(subscribed, "the monitor saw no flush: {:?}", mon.lines());
    let start = mon.lines().len();
    let host = "02:00:00:00:0b:01";
    let is = |event: &'static str, mac: &'static str| {
        move |v: &serde_json::Value| v["event"] == event && v["mac"] == mac
    };

    // Learned on port 1, then moved to port 2, then aged out.
    let mut tx1 = raw_socket(&lab.ns(1), "veth1");
    send_all(&mut tx1, &[frame([0xff; 6], HOST)]);
    let learned = mon.wait(start, "learned", is("learned", host));
    let mut tx2 = raw_socket(&lab.ns(2), "veth2");
    send_all(&mut tx2, &[frame([0xff; 6], HOST)]);
    let moved = mon.wait(learned, "moved", is("moved", host));
    let aged = mon.wait(moved, "aged", is("aged", host));
    // Another host on port 3; a flush takes it; then port 3 goes.
    let mut tx3 = raw_socket(&lab.ns(3), "veth3");
    send_all(&mut tx3, &[frame([0xff; 6], OTHER)]);
    let other = mon.wait(aged, "learned", is("learned", "02:00:00:00:0b:02"));
    ok(&vswitch(&["fdb", "flush", "--name", &lab.prefix]));
    let flushed = mon.wait(other, "flushed", |v| {
        v["event"] == "flushed" && v["reason"] == "command" && v["count"].as_u64() >= Some(1)
    });
    ok(&vswitch(&["del", &lab.port(3), "--name", &lab.prefix]));
    let removed = mon.wait(flushed, "port-removed", |v| {
        v["event"] == "port-removed" && v["port"] == lab.port(3).as_str()
    });

    let lines = mon.lines();
    assert_eq!(lines[learned]["port"], lab.port(1).as_str());
    assert_eq!(lines[moved]["from"], lab.port(1).as_str());
    assert_eq!(lines[moved]["to"], lab.port(2).as_str());
    assert_eq!(lines[aged]["port"], lab.port(2).as_str());
    assert!(learned < moved && moved < aged && aged < flushed && flushed < removed);
    // Every line has a sequence number, one more than the line before (no
    // reader of a quiet switch falls behind).
    let seqs: Vec<u64> = lines[..=removed]
        .iter()
        .map(|v| v["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "sequence numbers not consecutive: {seqs:?}"
    );
    drop(sw);
}

#[test]
fn linux_monitor_tells_a_slow_reader_how_many_events_it_missed() {
    if !ready() {
        return;
    }
    let lab = Lab::up('q', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--capacity", "100000"]);
    // A reader that reads nothing while 30,000 hosts are learned.
    let mut reader = control::stream(&lab.prefix, Request::Monitor).expect("monitor");
    let mut tx = raw_socket(&lab.ns(1), "veth1");
    const HOSTS: u32 = 30_000;
    let frames: Vec<Vec<u8>> = (0..HOSTS)
        .map(|i| {
            let b = i.to_be_bytes();
            frame([0xff; 6], [2, 0x5e, b[0], b[1], b[2], b[3]])
        })
        .collect();
    send_all(&mut tx, &frames);
    let mut stats = serde_json::Value::Null;
    let learned = wait_until(Duration::from_secs(10), || {
        stats = sw.json(&["stats"]).unwrap_or_default();
        stats["fdb"]["learned"].as_u64() >= Some(u64::from(HOSTS) / 2)
    });
    assert!(learned, "the switch learned too few hosts: {stats}");
    // Now read everything that came, until the stream is quiet.
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let read_all = |reader: &mut BufReader<std::os::unix::net::UnixStream>| {
        let mut lines = Vec::new();
        let mut line = String::new();
        while lines.len() < 200_000 {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    lines.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON"))
                }
            }
        }
        lines
    };
    let mut lines = read_all(&mut reader);
    let missed = lines.iter().filter(|v| v["event"] == "missed").count();
    assert!(missed > 0, "{} lines and no missed line", lines.len());
    // Caught up, the reader gets the next event as it happens.
    ok(&vswitch(&["fdb", "flush", "--name", &lab.prefix]));
    lines.extend(read_all(&mut reader));
    assert_eq!(lines.last().map(|v| &v["event"]), Some(&"flushed".into()));
    // No silent gap: each line's sequence number is the last one's plus the
    // events that line stands for (a missed line: its count).
    let weight = |v: &serde_json::Value| {
        if v["event"] == "missed" {
            v["count"].as_u64().unwrap()
        } else {
            1
        }
    };
    for w in lines.windows(2) {
        assert_eq!(
            w[1]["seq"].as_u64(),
            Some(w[0]["seq"].as_u64().unwrap() + weight(&w[0])),
            "a gap between {} and {}",
            w[0],
            w[1]
        );
    }
    let total: u64 = lines.iter().map(weight).sum();
    assert!(
        total >= u64::from(HOSTS) / 2,
        "{total} events accounted for"
    );
}

#[test]
fn linux_explain_says_what_the_switch_would_do_and_changes_nothing() {
    if !ready() {
        return;
    }
    let lab = Lab::up('x', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    let mut tx2 = raw_socket(&lab.ns(2), "veth2");
    send_all(&mut tx2, &[frame([0xff; 6], OTHER)]);
    assert!(wait_until(Duration::from_secs(5), || {
        sw.fdb().iter().any(|e| e["mac"] == "02:00:00:00:0b:02")
    }));
    let fdb_before = sw.fdb().len();
    let ask = |words: &[&str]| {
        let mut args = vec!["explain"];
        args.extend_from_slice(words);
        args.extend_from_slice(&["--name", &lab.prefix]);
        vswitch(&args)
    };
    let inp = format!("in={}", lab.port(1));
    let out = ok(&ask(&[
        &inp,
        "src=02:00:00:00:0b:01",
        "dst=02:00:00:00:0b:02",
    ]));
    for want in [
        "learn:    would learn 02:00:00:00:0b:01 in VLAN 0 on port 0".to_string(),
        format!(
            "lookup:   02:00:00:00:0b:02 in VLAN 0: on port 1 ({})",
            lab.port(2)
        ),
        format!("verdict:  unicast to port 1 ({})", lab.port(2)),
        format!("egress:   port 1 ({})", lab.port(2)),
    ] {
        assert!(out.contains(&want), "{want:?} not in\n{out}");
    }
    // The same frame in hex, as JSON.
    let hex = "020000000b02 020000000b01 88b5";
    let mut words = vec![inp.as_str()];
    words.extend(hex.split(' '));
    words.push("-j");
    let v: serde_json::Value = serde_json::from_str(&ok(&ask(&words))).expect("JSON");
    assert_eq!(v["verdict"], "unicast");
    assert_eq!(v["egress"][0]["port"], lab.port(2).as_str());
    // Nothing was learned, nothing counted.
    assert_eq!(sw.fdb().len(), fdb_before);
    assert!(!sw.fdb().iter().any(|e| e["mac"] == "02:00:00:00:0b:01"));
    assert_eq!(sw.port(&lab.port(1))["rx_frames"], 0);
    // Malformed input: one line saying what is wrong.
    for (bad, says) in [
        (
            vec![inp.as_str(), "src=zz", "dst=02:00:00:00:0b:02"],
            "not a MAC address",
        ),
        (vec![inp.as_str(), "fffff"], "whole bytes"),
        (
            vec![
                "in=nosuchport",
                "src=02:00:00:00:0b:01",
                "dst=02:00:00:00:0b:02",
            ],
            "not attached",
        ),
    ] {
        let out = ask(&bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(
            err.contains(says) && err.trim().lines().count() == 1,
            "{bad:?}: {err}"
        );
    }
}
