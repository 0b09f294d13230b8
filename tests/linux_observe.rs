//! Seeing what a real switch does: `vswitch monitor` streams its events in
//! order with increasing sequence numbers (learned, moved, aged, flushed, a
//! port down, up and removed), a reader that falls behind is told how many
//! events it missed and never sees a silent gap, `vswitch explain` says what
//! the switch would do with a frame without doing it, and `--metrics` serves
//! what `promtool check metrics` accepts and a real Prometheus scrapes, and
//! refuses cleanly while the switch stops (those two run the switch in a
//! namespace of their own, which holds the metrics address). Each test builds its own lab
//! of network namespaces and veths (unique names from the test's process id
//! and a letter), removes everything it made even when it fails, and waits
//! only within bounds.
//!
//! Needs root and iproute2 (and promtool, prometheus for the metrics tests:
//! Debian's prometheus package). Without them a test prints a skip note and passes,
//! unless the environment variable CI is set: then it fails.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vswitch_linux::control::{self, Request};

fn ready() -> bool {
    common::ready("the observability tests", &[("ip", "-V")])
}

/// A 60-byte test frame.
fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    raw_frame(dst, src, b"vswitch observe test")
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
fn linux_monitor_streams_learn_move_age_flush_and_port_events_in_order() {
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
    // Port 3's link goes down and comes back.
    ip(&["link", "set", &lab.port(3), "down"]);
    let down = mon.wait(flushed, "port-down", |v| {
        v["event"] == "port-down" && v["port"] == lab.port(3).as_str()
    });
    ip(&["link", "set", &lab.port(3), "up"]);
    let up = mon.wait(down, "port-up", |v| {
        v["event"] == "port-up" && v["port"] == lab.port(3).as_str()
    });
    ok(&vswitch(&["del", &lab.port(3), "--name", &lab.prefix]));
    let removed = mon.wait(up, "port-removed", |v| {
        v["event"] == "port-removed" && v["port"] == lab.port(3).as_str()
    });

    let lines = mon.lines();
    assert_eq!(lines[learned]["port"], lab.port(1).as_str());
    assert_eq!(lines[moved]["from"], lab.port(1).as_str());
    assert_eq!(lines[moved]["to"], lab.port(2).as_str());
    assert_eq!(lines[aged]["port"], lab.port(2).as_str());
    assert!(learned < moved && moved < aged && aged < flushed);
    assert!(flushed < down && down < up && up < removed);
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
    const ROUND: u32 = 1000;
    // A thousand new hosts at a time, each round sent again (refreshing, no
    // new events) until the switch has them all: a busy machine's receive
    // queue overflows.
    let learned = || {
        sw.json(&["stats"]).unwrap_or_default()["fdb"]["learned"]
            .as_u64()
            .unwrap_or(0)
    };
    for round in 0..HOSTS / ROUND {
        let frames: Vec<Vec<u8>> = (round * ROUND..(round + 1) * ROUND)
            .map(|i| {
                let b = i.to_be_bytes();
                frame([0xff; 6], [2, 0x5e, b[0], b[1], b[2], b[3]])
            })
            .collect();
        let want = u64::from((round + 1) * ROUND);
        for _ in 0..10 {
            send_all(&mut tx, &frames);
            if wait_until(Duration::from_secs(2), || learned() >= want) {
                break;
            }
        }
    }
    let n = learned();
    assert_eq!(n, u64::from(HOSTS), "the switch learned {n} hosts");
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

/// A network namespace the test made, with a veth pair `vk0`/`vk1` up inside
/// and its loopback up, IPv6 off; deleted on drop.
struct Netns(String);

impl Netns {
    fn up(tag: char) -> Netns {
        let name = unique(tag);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let ns = Netns(name);
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        // No IPv6: the host end would send neighbour discovery of its own.
        let quiet = in_ns(
            &ns.0,
            &[
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        );
        assert!(quiet.status.success(), "sysctl in {}", ns.0);
        ip(&[
            "-n", &ns.0, "link", "add", "vk0", "type", "veth", "peer", "name", "vk1",
        ]);
        ip(&["-n", &ns.0, "link", "set", "vk0", "up"]);
        ip(&["-n", &ns.0, "link", "set", "vk1", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

const METRICS: &str = "127.0.0.1:9477";

/// `GET path` from `addr` inside namespace `ns`: the status and the body.
fn http_get(ns: &str, addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let (addr, path) = (addr.parse().expect("address"), path.to_string());
    vswitch_linux::sys::in_netns(&format!("/run/netns/{ns}"), move || {
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.set_write_timeout(Some(Duration::from_secs(3)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: vswitch\r\nConnection: close\r\n\r\n"
        )?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not HTTP: {text:?}")))?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, body.to_string()))
    })
}

/// The value of the series `series` (name and labels, exactly) in `body`.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn linux_metrics_pass_promtool_and_a_stopping_switch_refuses_cleanly() {
    if !common::ready(
        "the metrics test",
        &[("ip", "-V"), ("promtool", "--version")],
    ) {
        return;
    }
    let ns = Netns::up('k');
    let name = ns.0.clone();
    let mut sw = Running::start_in(
        Some(&ns.0),
        &name,
        &["vk0".to_string()],
        &["--metrics", METRICS, "--storm-broadcast", "5"],
        1,
    );
    // 40 broadcasts from one host: 5 pass at once, the rest are over the rate.
    let mut tx = raw_socket(&ns.0, "vk1");
    let flood: Vec<Vec<u8>> = (0..40).map(|_| frame([0xff; 6], HOST)).collect();
    send_all(&mut tx, &flood);
    let port = format!("{{switch=\"{name}\",port=\"vk0\"");
    let mut body = String::new();
    let counted = wait_until(Duration::from_secs(10), || {
        body = match http_get(&ns.0, METRICS, "/metrics") {
            Ok((200, b)) => b,
            _ => return false,
        };
        value(&body, &format!("vswitch_port_rx_frames_total{port}}}")) >= Some(40.0)
    });
    assert!(counted, "the frames never showed:\n{body}");
    let storm = value(
        &body,
        &format!("vswitch_port_drops_total{port},reason=\"storm\"}}"),
    );
    assert!(storm >= Some(30.0), "storm drops {storm:?}");
    for r in vswitch_core::DropReason::ALL {
        let series = format!("vswitch_port_drops_total{port},reason=\"{}\"}}", r.name());
        assert!(value(&body, &series).is_some(), "no {series}");
    }
    let sw_label = format!("{{switch=\"{name}\"}}");
    assert_eq!(
        value(&body, &format!("vswitch_fdb_learned_total{sw_label}")),
        Some(1.0)
    );
    assert_eq!(
        value(
            &body,
            &format!("vswitch_fdb_entries{{switch=\"{name}\",kind=\"dynamic\"}}")
        ),
        Some(1.0)
    );
    let starts = format!("vswitch_events_total{{switch=\"{name}\",event=\"storm-start\"}}");
    assert!(value(&body, &starts) >= Some(1.0), "{starts}:\n{body}");

    // The real promtool finds nothing wrong with it.
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    use std::io::Write as _;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Anything but /metrics is not found.
    assert_eq!(
        http_get(&ns.0, METRICS, "/nothing").map(|r| r.0).ok(),
        Some(404)
    );

    // Stopping: every scrape ends at once with 503, a reset or a refused
    // connection, never a hang (each is bounded by its timeouts, which would fail it).
    sw.signal("-TERM");
    let mut refused = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !refused && Instant::now() < deadline {
        let started = Instant::now();
        match http_get(&ns.0, METRICS, "/metrics") {
            Ok((code, _)) => assert!(code == 200 || code == 503, "status {code}"),
            // A connection that reached the listener as it closed is reset.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
                refused = true;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(2), "a scrape hung");
    }
    assert!(refused, "the metrics server outlived the switch");
    assert!(wait_until(Duration::from_secs(3), || !sw.alive()));
}

/// A directory the test made, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn linux_metrics_are_scraped_by_a_real_prometheus() {
    if !common::ready(
        "the Prometheus scrape test",
        &[("ip", "-V"), ("prometheus", "--version")],
    ) {
        return;
    }
    let ns = Netns::up('r');
    let name = ns.0.clone();
    let _sw = Running::start_in(
        Some(&ns.0),
        &name,
        &["vk0".to_string()],
        &["--metrics", METRICS],
        1,
    );
    let mut tx = raw_socket(&ns.0, "vk1");
    send_all(&mut tx, &[frame([0xff; 6], HOST), frame([0xff; 6], OTHER)]);
    // Prometheus of its own: its files in a temporary directory, listening
    // inside the namespace, scraping every second; stopped by PID on drop.
    let dir = TempDir(std::env::temp_dir().join(format!("{name}-prometheus")));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(dir.0.join("data")).unwrap();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: vswitch\n    static_configs:\n      - targets: ['{METRICS}']\n"
        ),
    )
    .unwrap();
    let prometheus = Command::new("ip")
        .args(["netns", "exec", &ns.0, "prometheus"])
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .args(["--web.listen-address=127.0.0.1:9090", "--log.level=warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = Guard(prometheus);
    let query = |q: &str| -> serde_json::Value {
        match http_get(&ns.0, "127.0.0.1:9090", &format!("/api/v1/query?query={q}")) {
            Ok((200, body)) => serde_json::from_str(&body).unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    };
    // The target is up and its series are there, labels and all.
    let mut answer = serde_json::Value::Null;
    let scraped = wait_until(Duration::from_secs(30), || {
        answer = query("vswitch_port_rx_frames_total");
        answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            >= Some(2.0)
    });
    assert!(scraped, "Prometheus has no frames counted: {answer}");
    let series = &answer["data"]["result"][0]["metric"];
    assert_eq!(series["port"], "vk0");
    assert_eq!(series["switch"], name.as_str());
    let up = query("up");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let learned = query("vswitch_fdb_learned_total");
    assert_eq!(learned["data"]["result"][0]["value"][1], "2", "{learned}");
}
