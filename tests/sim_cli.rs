//! The simulator's commands as people run them.

use std::process::Command;

fn vswitch(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vswitch"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn demo_prints_the_fdb_and_twelve_answered_pairs() {
    let (ok, out, err) = vswitch(&["demo"]);
    assert!(ok, "{err}");
    assert!(out.contains("12 of 12 pairs answered"), "{out}");
    for mac in [
        "02:00:00:00:00:01",
        "02:00:00:00:00:02",
        "02:00:00:00:00:03",
        "02:00:00:00:00:04",
    ] {
        assert_eq!(out.matches(mac).count(), 1, "{out}");
    }
    // No progress bar or other noise when stderr is not a terminal.
    assert_eq!(err, "");
}

#[test]
fn json_and_trace_carry_the_same_run() {
    let (ok, out, err) = vswitch(&["sim", "run", "scenarios/aging.toml", "--json", "--trace"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let switched = report["frames_switched"].as_u64().unwrap();
    assert!(switched > 0);
    // With --json the trace goes to stderr: one line per frame that crossed the switch.
    assert_eq!(err.lines().count() as u64, switched, "{err}");
    assert!(err.lines().all(|l| l.contains("s1")), "{err}");
}

#[test]
fn a_bad_scenario_gets_one_line_naming_the_file_and_the_problem() {
    let dir = std::env::temp_dir().join(format!("vswitch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[switch.s1]\n[[host]]\nname = \"h1\"\nip = \"10.0.0.1/24\"\nport = \"s2:p1\"\n",
    )
    .unwrap();
    let (ok, out, err) = vswitch(&["sim", "run", path.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("no switch \"s2\""),
        "{err}"
    );
    let (ok, _, err) = vswitch(&["sim", "run", "scenarios/no-such-scenario.toml"]);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_big_network_is_summarised_unless_asked_for_in_full() {
    let run = ["sim", "run", "scenarios/thousand-clients.toml"];
    let (ok, out, err) = vswitch(&run);
    assert!(ok, "{err}");
    assert!(out.contains("1000 of 1000 pairs answered"), "{out}");
    assert!(out.contains("... and 981 more ports"), "{out}");
    assert!(!out.contains("c1000"), "{out}");
    assert!(out.lines().count() < 100, "{out}");
    let (ok, full, err) = vswitch(&[run[0], run[1], run[2], "--full"]);
    assert!(ok, "{err}");
    assert!(full.contains("c1000"), "{full}");
    assert!(
        full.lines().count() > 3000,
        "{} lines",
        full.lines().count()
    );
}

#[test]
fn sim_explain_answers_for_the_switch_as_it_is_at_that_moment() {
    let frame = ["in=p3", "src=02:00:00:00:00:01", "dst=02:00:00:00:00:02"];
    let ask = |extra: &[&str]| {
        let mut args = vec!["sim", "explain", "scenarios/demo.toml"];
        if !extra.contains(&"--switch") {
            args.extend_from_slice(&["--switch", "s1"]);
        }
        args.extend_from_slice(extra);
        args.extend_from_slice(&frame);
        vswitch(&args)
    };
    // At the start nothing is learned: unknown unicast, flooded.
    let (ok, out, err) = ask(&["--at", "0s"]);
    assert!(ok, "{err}");
    for want in [
        "learn:    would learn 02:00:00:00:00:01 in VLAN 0 on port 2 (p3)",
        "verdict:  flood (unknown-unicast)",
        "egress:   port 0 (p1), port 1 (p2), port 3 (p4)",
    ] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }
    // After the pings h2 is known, and h1's MAC from p3 would be a move.
    let (ok, out, err) = ask(&["--at", "3s", "-j"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "unicast");
    assert_eq!(v["egress"][0]["port"], "p2");
    let learn = v["steps"][3]["outcome"].as_str().unwrap();
    assert_eq!(
        learn,
        "would move 02:00:00:00:00:01 in VLAN 0 from port 0 (p1) to port 2 (p3)"
    );
    // Bad input: one line saying what is wrong.
    for (extra, says) in [
        (vec!["--at", "9s"], "after the end of the run"),
        (vec!["--switch", "s9"], "no switch \"s9\"; it has s1"),
    ] {
        let (ok, _, err) = ask(&extra);
        assert!(
            !ok && err.contains(says) && err.trim().lines().count() == 1,
            "{err}"
        );
    }
    let (ok, _, err) = vswitch(&[
        "sim",
        "explain",
        "scenarios/demo.toml",
        "--switch",
        "s1",
        "in=p9",
        "0x0102",
    ]);
    assert!(
        !ok && err.contains("at least 14") && err.trim().lines().count() == 1,
        "{err}"
    );
}
