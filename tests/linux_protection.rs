//! The protections on real interfaces: storm control drops a namespace's
//! broadcast flood and counts it, a port's MAC limit stops learning (or drops),
//! and the move guard holds a flapping MAC down; `vswitch show -j` and
//! `vswitch stats -j` report all of it. Each test builds its own lab of network
//! namespaces and veths (unique names from the test's process id and a
//! letter), removes everything it made even when it fails, and waits only
//! within bounds.
//!
//! Needs root and iproute2. Without them a test prints a skip note and passes,
//! unless the environment variable CI is set: then it fails.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// A 60-byte test frame.
fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    raw_frame(dst, src, b"vswitch protection test")
}

fn count(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[test]
fn linux_storm_control_drops_a_broadcast_flood_and_counts_it() {
    if !ready() {
        return;
    }
    let lab = Lab::up('p', 2);
    let started = Instant::now();
    let sw = Running::start(&lab.prefix, &lab.ports(), &["--storm-broadcast", "50"]);
    let mut tx = raw_socket(&lab.ns(1), "veth1");
    let src = [2, 0, 0, 0, 0x55, 1];
    let flood: Vec<Vec<u8>> = (0..500).map(|_| frame([0xff; 6], src)).collect();
    send_all(&mut tx, &flood);
    let port = lab.port(1);
    let mut p = serde_json::Value::Null;
    let counted = wait_until(Duration::from_secs(5), || {
        p = sw.port(&port);
        count(&p["drops"]["storm"]) + count(&p["flood"]) >= 500
    });
    assert!(counted, "not every broadcast was counted: {p}");
    // 50 per second with a burst of 5, over the switch's whole life so far;
    // anything above is dropped and counted.
    let secs = started.elapsed().as_secs() + 1;
    let flooded = count(&p["flood"]);
    assert!(
        flooded <= 5 + 50 * secs,
        "{flooded} floods in {secs} s: {p}"
    );
    assert!(count(&p["drops"]["storm"]) >= 500 - flooded, "{p}");
    let stats = sw.json(&["stats"]).expect("stats -j");
    assert_eq!(stats["drops"]["storm"], p["drops"]["storm"], "{stats}");
    let text = ok(&vswitch(&["show", "--name", &sw.name]));
    assert!(text.contains("storm "), "{text}");
}

#[test]
fn linux_mac_limit_and_move_guard_from_flags_and_config() {
    if !ready() {
        return;
    }
    let lab = Lab::up('q', 2);
    // The flag: at most 2 learned MACs per port, the rest forwarded unlearned.
    let macs: Vec<[u8; 6]> = (1..=5).map(|i| [2, 0, 0, 0, 0x66, i]).collect();
    {
        let sw = Running::start(&lab.prefix, &lab.ports(), &["--mac-limit", "2"]);
        let mut tx = raw_socket(&lab.ns(1), "veth1");
        let frames: Vec<Vec<u8>> = macs.iter().map(|m| frame([0xff; 6], *m)).collect();
        send_all(&mut tx, &frames);
        let port = lab.port(1);
        let mut p = serde_json::Value::Null;
        let refused = wait_until(Duration::from_secs(5), || {
            p = sw.port(&port);
            count(&p["guard"]["mac_limit_refused"]) >= 3
        });
        assert!(refused, "{p}");
        let on_port = sw.fdb().iter().filter(|e| e["ifname"] == port).count();
        assert_eq!(on_port, 2);
        assert!(
            p["drops"].get("mac-limit").is_none(),
            "no-learn drops nothing: {p}"
        );
        let stats = sw.json(&["stats"]).expect("stats -j");
        assert!(count(&stats["guard"]["mac_limit_refused"]) >= 3, "{stats}");
    }
    // The config file: port 2 may learn one MAC and drops frames from more;
    // a MAC that moves more than once in a minute is held down.
    drop(lab);
    let lab = Lab::up('r', 3);
    let config = std::env::temp_dir().join(format!("{}.toml", lab.prefix));
    std::fs::write(
        &config,
        format!(
            "move-guard = {{ moves = 1, window = 60, hold = 60, action = \"hold-down\" }}\n\
             [ports.\"{}\"]\nmac-limit = 1\nmac-limit-action = \"drop\"\n",
            lab.port(2)
        ),
    )
    .unwrap();
    let sw = Running::start(
        &lab.prefix,
        &lab.ports(),
        &["--config", config.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&config);
    let (port1, port2, port3) = (lab.port(1), lab.port(2), lab.port(3));
    let mut tx2 = raw_socket(&lab.ns(2), "veth2");
    let frames: Vec<Vec<u8>> = macs[..3].iter().map(|m| frame([0xff; 6], *m)).collect();
    send_all(&mut tx2, &frames);
    let mut p2 = serde_json::Value::Null;
    let dropped = wait_until(Duration::from_secs(5), || {
        p2 = sw.port(&port2);
        count(&p2["drops"]["mac-limit"]) >= 2
    });
    assert!(dropped, "{p2}");
    let on_port2 = sw.fdb().iter().filter(|e| e["ifname"] == port2).count();
    assert_eq!(on_port2, 1);
    // The flapper: port 1, port 3 (one move: allowed), port 1 again (one too
    // many: held down on port 3). Each step waits for the last, since frames
    // from two ports have no order of their own.
    let mut tx1 = raw_socket(&lab.ns(1), "veth1");
    let mut tx3 = raw_socket(&lab.ns(3), "veth3");
    let flapper = frame([0xff; 6], [2, 0, 0, 0, 0x77, 1]);
    let flapper_on = |sw: &Running| -> Option<String> {
        sw.fdb()
            .iter()
            .find(|e| e["mac"] == "02:00:00:00:77:01")
            .and_then(|e| e["ifname"].as_str().map(String::from))
    };
    send_all(&mut tx1, std::slice::from_ref(&flapper));
    assert!(wait_until(Duration::from_secs(5), || flapper_on(&sw)
        .as_deref()
        == Some(&port1)));
    send_all(&mut tx3, std::slice::from_ref(&flapper));
    assert!(wait_until(Duration::from_secs(5), || flapper_on(&sw)
        .as_deref()
        == Some(&port3)));
    send_all(&mut tx1, std::slice::from_ref(&flapper));
    let mut p1 = serde_json::Value::Null;
    let held = wait_until(Duration::from_secs(5), || {
        p1 = sw.port(&port1);
        count(&p1["guard"]["hold_downs"]) == 1
    });
    assert!(held, "{p1}");
    assert_eq!(count(&p1["guard"]["moves_blocked"]), 1, "{p1}");
    assert_eq!(
        flapper_on(&sw).as_deref(),
        Some(port3.as_str()),
        "held on port 3"
    );
    let stats = sw.json(&["stats"]).expect("stats -j");
    assert_eq!(count(&stats["guard"]["hold_downs"]), 1, "{stats}");
    let text = ok(&vswitch(&["stats", "--name", &sw.name]));
    assert!(
        text.contains("guard: ") && text.contains("hold_downs 1"),
        "{text}"
    );
    let text = ok(&vswitch(&["show", "--name", &sw.name]));
    assert!(
        text.contains("guard: moves blocked 1 hold-downs 1"),
        "{text}"
    );
}

fn ready() -> bool {
    common::ready("the Linux protection tests", &[("ip", "-V")])
}
