//! Multicast snooping in the simulator (scenarios/multicast.toml): smoltcp
//! hosts join and leave a group, the switch's own querier queries them, and
//! a UDP stream to the group reaches the members only; with snooping off it
//! floods to every host.

use std::path::Path;
use vswitch_sim::results::HostReport;
use vswitch_sim::{Scenario, SimReport, Simulation};

const GROUP: &str = "239.1.2.3";

fn scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/multicast.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario) -> SimReport {
    Simulation::new(s).unwrap().run().unwrap()
}

fn host<'a>(r: &'a SimReport, name: &str) -> &'a HostReport {
    r.hosts.iter().find(|h| h.name == name).unwrap()
}

/// Datagrams of the stream that reached host `name`, and the time of the last.
fn got(r: &SimReport, name: &str) -> (u64, u64) {
    host(r, name)
        .groups
        .iter()
        .find(|g| g.group == GROUP)
        .map_or((0, 0), |g| (g.frames, g.last_ns))
}

#[test]
fn the_stream_reaches_members_only_and_stops_after_a_leave() {
    let r = run(&scenario());
    println!("{r}");
    let sent = r.udp[0].sent;
    assert_eq!(sent, 500, "{r}");
    // m1 stays a member: the whole stream.
    assert_eq!(got(&r, "m1").0, sent, "{r}");
    // m2 leaves at 10 s: the switch stops sending it the stream once the
    // last-member queries (2, 1 s apart) go unanswered, by 12 s and a tick.
    let (m2, m2_last) = got(&r, "m2");
    assert!(m2 > 0 && m2 < sent, "m2 got {m2} of {sent}\n{r}");
    assert!(
        (10_000_000_000..=12_200_000_000).contains(&m2_last),
        "m2's last datagram at {m2_last} ns\n{r}"
    );
    // Non-members and the sender get none of it.
    for h in ["n1", "n2", "tv"] {
        assert_eq!(got(&r, h).0, 0, "{h}\n{r}");
    }
    // The group table lists m1's port (named after it) as the only member; the querier asked.
    let m = r.switches[0]
        .mcast
        .as_ref()
        .expect("a snooping switch reports its table");
    assert_eq!(m.groups.len(), 1, "{r}");
    assert_eq!(m.groups[0].group, GROUP);
    assert_eq!(m.groups[0].members, ["m1"]);
    assert!(m.own_queries >= 4, "{r}");
    assert_eq!(m.leaves, 1, "{r}");
    // The JSON carries the same.
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    let groups = &json["switches"][0]["mcast"]["groups"];
    assert_eq!(groups[0]["group"], GROUP);
    assert_eq!(groups[0]["members"], serde_json::json!(["m1"]));
    assert_eq!(json["hosts"][1]["groups"][0]["frames"], sent);
    assert!(json["hosts"][3].get("groups").is_none());
}

#[test]
fn two_runs_give_identical_json_and_captures() {
    let s = scenario();
    let mut outputs = Vec::new();
    for round in 0..2 {
        let dir =
            std::env::temp_dir().join(format!("vswitch-mcast-{round}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut sim = Simulation::new(&s).unwrap();
        sim.capture_to(&dir).unwrap();
        let json = serde_json::to_string_pretty(&sim.run().unwrap()).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        let _ = std::fs::remove_dir_all(&dir);
        outputs.push((json, files));
    }
    assert!(outputs[0].0.contains("\"mcast\""));
    assert_eq!(outputs[0].1.len(), 10, "5 ports and 5 hosts");
    assert!(outputs[0] == outputs[1], "two runs differ");
    // Captured or not, the same run.
    let plain = serde_json::to_string_pretty(&run(&s)).unwrap();
    assert_eq!(plain, outputs[0].0);
}

#[test]
fn without_snooping_the_stream_floods_to_every_host() {
    let mut s = scenario();
    s.switches.get_mut("s1").unwrap().mcast_snooping = false;
    let r = run(&s);
    let sent = r.udp[0].sent;
    for h in ["m1", "m2", "n1", "n2"] {
        assert_eq!(got(&r, h).0, sent, "{h}\n{r}");
    }
    assert_eq!(got(&r, "tv").0, 0);
    assert!(r.switches[0].mcast.is_none());
}

#[test]
fn without_the_querier_hosts_report_only_on_joining_and_leaves_still_count() {
    let on = run(&scenario());
    let m = on.switches[0].mcast.as_ref().unwrap();
    assert!(
        m.reports > 2,
        "with the querier, m1 also answers its queries: {m:?}"
    );
    let mut s = scenario();
    s.switches.get_mut("s1").unwrap().mcast_querier = false;
    let r = run(&s);
    let m = r.switches[0].mcast.as_ref().unwrap();
    assert_eq!((m.own_queries, m.reports, m.leaves), (0, 2, 1), "{r}");
    for h in ["tv", "m1", "m2", "n1", "n2"] {
        assert_eq!(host(&r, h).rx_frames, got(&r, h).0, "{h} got no query\n{r}");
    }
    assert_eq!(got(&r, "m1").0, r.udp[0].sent);
    let (_, m2_last) = got(&r, "m2");
    assert!(
        (10_000_000_000..=12_200_000_000).contains(&m2_last),
        "{m2_last}\n{r}"
    );
}

#[test]
fn fast_leave_stops_the_stream_at_once() {
    let mut s = scenario();
    let port = s.switches["s1"]
        .ports
        .get("m2")
        .cloned()
        .unwrap_or_default();
    let port = vswitch_core::spec::PortSpec {
        mcast_fast_leave: Some(true),
        ..port
    };
    s.switches
        .get_mut("s1")
        .unwrap()
        .ports
        .insert("m2".into(), port);
    let r = run(&s);
    let (_, m2_last) = got(&r, "m2");
    assert!(
        (9_800_000_000..10_100_000_000).contains(&m2_last),
        "{m2_last}\n{r}"
    );
}
