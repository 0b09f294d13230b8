//! The control plane of a running switch, on its own thread: a large FDB is
//! answered whole and correct while other clients ask too and frames flow; the
//! switch reports the longest time control work held up forwarding; too-long
//! requests get their error line before the connection closes; idle
//! connections are closed; the number of connections is bounded.
//!
//! Needs root, `ip` and `ping`; skipped otherwise (failed if CI is set). No
//! timing is asserted here: the stall targets are measured by
//! benches/control-soak.sh (BENCHMARKS.md).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use vswitch_linux::control::{self, Request, Response};

fn ready() -> bool {
    common::ready("the control-plane tests", &[("ip", "-V"), ("ping", "-V")])
}

fn big_mac(i: u32) -> String {
    let b = i.to_be_bytes();
    format!("02:aa:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3])
}

/// The answer line of one connection that sends `bytes` and does not shut its
/// writing side first, and whether the switch then ends the stream.
fn answer_then_eof(name: &str, bytes: &[u8]) -> (Response, bool) {
    let mut s = control::connect(name).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes)
        .expect("the switch reads the whole request");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("an answer line");
    let response: Response = serde_json::from_str(&line).expect("a JSON answer");
    let mut rest = Vec::new();
    let eof = matches!(r.read_to_end(&mut rest), Ok(0));
    (response, eof)
}

#[test]
fn linux_big_fdb_is_answered_whole_and_the_stall_is_reported() {
    if !ready() {
        return;
    }
    let lab = Lab::up('c', 2);
    let sw = Running::start(&lab.prefix, &lab.ports(), &[]);
    assert!(ping(&lab.ns(1), &addr(2)));
    // 20,000 static entries (statics do not count against the capacity),
    // over both ports and two VLANs: five FDB slices and more.
    let n = 20_000u32;
    for i in 0..n {
        let port = lab.port(1 + i % 2);
        let r = control::request(
            &sw.name,
            Request::FdbAdd {
                mac: big_mac(i),
                port,
                vlan: (i % 3 == 0) as u16,
                dst: None,
            },
        );
        assert!(r.is_ok(), "fdb add {i}: {r:?}");
    }
    // Four clients at once, while host 1 pings host 2.
    let name = sw.name.clone();
    let dumps: Vec<_> = (0..4)
        .map(|_| {
            let name = name.clone();
            std::thread::spawn(move || {
                control::request(
                    &name,
                    Request::FdbShow {
                        stats: false,
                        ports: Vec::new(),
                    },
                )
            })
        })
        .collect();
    assert!(ping(&lab.ns(1), &addr(2)), "no forwarding during the dumps");
    for d in dumps {
        let rows = d.join().unwrap().expect("fdb show");
        let rows: Vec<control::FdbRow> = serde_json::from_value(rows).unwrap();
        let statics: Vec<_> = rows.iter().filter(|r| r.state == "static").collect();
        assert_eq!(statics.len(), n as usize);
        // Sorted by port, VLAN, MAC, every entry once, on its port.
        let keys: Vec<_> = rows
            .iter()
            .map(|r| (r.port, r.vlan, r.mac.clone()))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "rows out of order");
        for r in &statics {
            let i = u32::from_str_radix(&r.mac[6..].replace(':', ""), 16).unwrap();
            assert_eq!(r.mac, big_mac(i));
            assert_eq!(r.ifname, lab.port(1 + i % 2));
            assert_eq!(r.vlan, (i % 3 == 0) as u16);
        }
        // The hosts' own entries are there as well.
        assert!(rows.iter().any(|r| r.mac == mac(1) && r.state == "dynamic"));
    }
    let stats = sw.json(&["stats"]).expect("stats -j");
    let c = &stats["control"];
    assert!(c["max_stall_us"].is_u64(), "{stats}");
    assert!(c["max_stall_cpu_us"].is_u64(), "{stats}");
    assert!(c["max_stall_request"].is_string(), "{stats}");
    for k in ["max_stall_slept", "max_stall_preempted", "stalls_over_1ms"] {
        assert!(c[k].is_u64(), "{k}: {stats}");
    }
    assert_eq!(c["stream_dropped"], 0, "{stats}");
    assert_eq!(c["dumps"], 0, "{stats}");
    // This connection is the only one open.
    assert_eq!(c["clients"], 1, "{stats}");
    let text = ok(&vswitch(&["stats", "--name", &sw.name]));
    assert!(text.contains("max_stall_us"), "{text}");
    assert!(text.contains("stalls_over_1ms"), "{text}");
}

/// The scheduling policy of thread `tid` of process `pid` (0: ordinary,
/// 1: SCHED_FIFO), and its name.
fn policy(pid: u32, tid: &str) -> (u32, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap();
    let (head, rest) = stat.rsplit_once(')').unwrap();
    let comm = head.split_once('(').unwrap().1.to_string();
    // Field 41 of the line; `rest` starts at field 3.
    let policy = rest.split_whitespace().nth(38).unwrap().parse().unwrap();
    (policy, comm)
}

/// Each thread of a process: its id, policy and name.
type Threads = Vec<(String, (u32, String))>;

/// The policies of the forwarding thread (the main thread) and the control
/// thread of switch process `pid`, and all its threads'.
fn policies(pid: u32) -> (Option<u32>, Option<u32>, Threads) {
    let mut seen = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid = t.unwrap().file_name().into_string().unwrap();
        seen.push((tid.clone(), policy(pid, &tid)));
    }
    let forwarding = seen.iter().find(|(tid, _)| *tid == pid.to_string());
    let control = seen.iter().find(|(_, (_, comm))| comm == "vswitch-control");
    (forwarding.map(|t| t.1 .0), control.map(|t| t.1 .0), seen)
}

/// `--rt-priority` puts the forwarding thread (the main thread) under
/// SCHED_FIFO and leaves the control thread ordinary; by default and with
/// `--rt-priority 0` it stays ordinary; a switch that may not use it refuses
/// to start, with a line that says why.
#[test]
fn linux_rt_priority_runs_fifo_or_refuses() {
    if !ready()
        || std::process::Command::new("setpriv")
            .arg("-V")
            .output()
            .is_err()
    {
        return;
    }
    let lab = Lab::up('r', 2);
    for (extra, want) in [
        (&["--rt-priority", "1"][..], 1),
        (&[], 0),
        (&["--rt-priority", "0"], 0),
    ] {
        let sw = Running::start(&lab.prefix, &lab.ports(), extra);
        assert!(ping(&lab.ns(1), &addr(2)));
        let (forwarding, control, seen) = policies(sw.child.id());
        assert_eq!(forwarding, Some(want), "{extra:?}: {seen:?}");
        assert_eq!(control, Some(0), "{extra:?}: {seen:?}");
    }
    // Without CAP_SYS_NICE, and with an RLIMIT_RTPRIO of 0; ended after 10 s
    // if it ever started instead of refusing.
    let out = std::process::Command::new("timeout")
        .args(["-k", "1", "10", "prlimit", "--rtprio=0", "--"])
        .args([
            "setpriv",
            "--bounding-set=-sys_nice",
            "--inh-caps=-sys_nice",
            "--",
        ])
        .args([
            common::VSWITCH,
            "run",
            "--name",
            &unique('q'),
            "--rt-priority",
            "1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("--rt-priority 1: the forwarding thread may not run SCHED_FIFO"),
        "{err}"
    );
}

#[test]
fn linux_long_idle_and_surplus_connections_are_answered_and_closed() {
    if !ready() {
        return;
    }
    let lab = Lab::up('d', 1);
    let sw = Running::start(
        &lab.prefix,
        &lab.ports(),
        &["--control-idle", "3", "--control-clients", "8"],
    );
    // 70 KiB and no newline: the error line, then the end of the stream.
    let (r, eof) = answer_then_eof(&sw.name, &vec![b'{'; 70 << 10]);
    assert!(!r.ok);
    let e = r.error.unwrap();
    assert!(e.contains("request longer than 65536 bytes"), "{e}");
    assert!(eof, "the connection stayed open after the error");

    // Eight silent connections take every place: a ninth is refused, with a
    // line saying so, and its request is read, not reset.
    let silent: Vec<UnixStream> = (0..8)
        .map(|_| control::connect(&sw.name).unwrap())
        .collect();
    let (r, eof) = answer_then_eof(
        &sw.name,
        b"{\"version\":1,\"request\":{\"cmd\":\"show\"}}\n",
    );
    assert_eq!(
        r.error.as_deref(),
        Some("too many control clients (8); try again")
    );
    assert!(eof);
    // Idle past 3 s, each is told why and closed.
    let started = Instant::now();
    for s in silent {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut line = String::new();
        let mut r = BufReader::new(s);
        r.read_line(&mut line).expect("a line before the close");
        let resp: Response = serde_json::from_str(&line).unwrap();
        assert!(
            resp.error
                .as_deref()
                .is_some_and(|e| e.contains("no request")),
            "{line}"
        );
        let mut rest = Vec::new();
        assert!(matches!(r.read_to_end(&mut rest), Ok(0)), "not closed");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "idle connections were not closed"
    );
    // Room again.
    assert!(wait_until(Duration::from_secs(5), || sw.ports().is_some()));
    let stats = sw.json(&["stats"]).unwrap();
    assert!(stats["control"]["refused"].as_u64() >= Some(1), "{stats}");
    assert!(
        stats["control"]["idle_closed"].as_u64() >= Some(8),
        "{stats}"
    );
}
