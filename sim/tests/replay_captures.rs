//! Replays every capture of tcpdump's test suite (`../shared/captures/tcpdump/`
//! beside the repository) through a switch.
//!
//! Each Ethernet file is split round-robin over three ports (frame `i` enters
//! port `i % 3`), so learning, unicast, same-port drops and floods all happen,
//! with a trace line formatted for every frame. Every other link type must be
//! refused with a one-line error naming the file. Nothing may panic; the work is
//! bounded by the files' size (no loop waits on anything).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use vswitch_core::spec::SwitchSpec;
use vswitch_sim::pcap::{
    linktype_name, open_capture, read_capture, CaptureError, PcapFrame, PcapSink,
};
use vswitch_sim::replay::{replay_files, ReplayOptions, Replayer};

const PORTS: usize = 3;

fn captures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/tcpdump");
    assert!(
        dir.is_dir(),
        "the captures directory {} is missing: clone the shared files beside the repository (<repo>/../shared/captures/tcpdump)",
        dir.display()
    );
    dir
}

fn capture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .expect("read the captures directory")
        .map(|e| e.expect("read a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("vswitch-replay-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_tcpdump_capture_replays_or_is_refused() {
    let files = capture_files();
    assert!(
        files.len() >= 800,
        "expected tcpdump's 830 captures, found {}",
        files.len()
    );
    let names: Vec<String> = (1..=PORTS).map(|p| p.to_string()).collect();
    let mut replayed = 0;
    let mut damaged = 0;
    let mut frames_total = 0u64;
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut trace = std::io::sink();
    for path in &files {
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let capture = match open_capture(path) {
            Ok(c) => c,
            Err(e @ CaptureError::LinkType { linktype, .. }) => {
                let message = e.to_string();
                assert!(message.contains(&file_name), "{message}");
                assert!(!message.contains('\n'), "{message}");
                *refused
                    .entry(format!("{} ({linktype})", linktype_name(linktype)))
                    .or_default() += 1;
                continue;
            }
            Err(e) => {
                let message = e.to_string();
                assert!(message.contains(&file_name), "{message}");
                unreadable.push(message);
                continue;
            }
        };
        damaged += usize::from(capture.damage.is_some());
        let mut r = Replayer::new(&SwitchSpec::default(), &names, None, None).unwrap();
        for (i, f) in capture.frames.iter().enumerate() {
            r.feed(i % PORTS, f.ts_ns, &f.data, Some(&mut trace))
                .unwrap();
        }
        let mut rx = 0;
        for (id, p) in r.switch().ports() {
            let c = &p.counters;
            assert_eq!(
                c.rx_frames,
                c.unicast + c.flood + c.unknown_unicast + c.total_drops(),
                "{file_name}: port {id} counters do not add up: {c:?}"
            );
            rx += c.rx_frames;
        }
        assert_eq!(
            rx,
            capture.frames.len() as u64,
            "{file_name}: frames read != frames received"
        );
        frames_total += rx;
        replayed += 1;
    }
    let refused_total: usize = refused.values().sum();
    println!(
        "{replayed} Ethernet captures replayed ({frames_total} frames, {damaged} with a damaged tail); \
         {refused_total} refused by link type: {refused:?}; {} unreadable: {unreadable:#?}",
        unreadable.len()
    );
    assert!(replayed >= 400, "only {replayed} captures replayed");
    assert!(
        refused_total >= 300,
        "only {refused_total} captures refused"
    );
    // Every file of the suite is a readable pcap or pcapng file, fuzzed ones included.
    assert!(unreadable.is_empty(), "{unreadable:#?}");
    assert_eq!(replayed + refused_total, files.len());
}

/// Frames of a few kinds, with nanosecond timestamps that microsecond files lose.
fn sample_frames() -> Vec<PcapFrame> {
    let mut frames = Vec::new();
    for i in 0..50u64 {
        let mut data = vec![0u8; 60 + (i as usize * 7) % 1400];
        data[..6].copy_from_slice(&[2, 0, 0, 0, 0, (i % 5) as u8 + 1]);
        data[6..12].copy_from_slice(&[2, 0, 0, 0, 0, (i % 3) as u8 + 1]);
        data[12..14].copy_from_slice(&[0x88, 0xb5]);
        data[14] = i as u8;
        frames.push(PcapFrame {
            ts_ns: 1_700_000_000_000_000_000 + i * 1_234_567 + 1,
            data,
        });
    }
    frames
}

#[test]
fn sink_output_reads_back_identically() {
    let dir = tmp_dir("sink");
    let path = dir.join("out.pcap");
    let frames = sample_frames();
    let mut sink = PcapSink::create(&path).unwrap();
    for f in &frames {
        sink.write(f.ts_ns, &f.data).unwrap();
    }
    sink.finish().unwrap();
    assert_eq!(read_capture(&path).unwrap(), frames);

    // tshark must see the same frames with the same nanosecond timestamps.
    let tshark = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-e", "frame.len", "-e", "frame.time_epoch"])
        .output();
    match tshark {
        Ok(out) => {
            assert!(
                out.status.success(),
                "tshark -r failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let seen: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            let want: Vec<String> = frames
                .iter()
                .map(|f| {
                    let (s, ns) = (f.ts_ns / 1_000_000_000, f.ts_ns % 1_000_000_000);
                    format!("{} {s}.{ns:09}", f.data.len())
                })
                .collect();
            assert_eq!(seen, want, "tshark reads different frames");
        }
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "tshark is needed in CI (CI is set) but cannot be run: {e}"
            );
            println!("note: tshark not found ({e}); skipped reading the capture with tshark");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Splits a capture over `n` new files in `dir` by source MAC, so each host's
/// frames enter by one port as they would on a real switch; returns the paths.
fn split(frames: &[PcapFrame], n: usize, dir: &Path) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("in-{i}.pcap"))).collect();
    let mut sinks: Vec<PcapSink> = paths.iter().map(|p| PcapSink::create(p).unwrap()).collect();
    for f in frames {
        let src: usize = f
            .data
            .get(6..12)
            .map_or(0, |m| m.iter().map(|&b| usize::from(b)).sum());
        sinks[src % n].write(f.ts_ns, &f.data).unwrap();
    }
    for s in sinks {
        s.finish().unwrap();
    }
    paths
}

#[test]
fn replay_is_deterministic() {
    // A real capture of hosts talking (TCP and UDP), split over three ports.
    let source = captures_dir().join("afs.pcap");
    let frames = read_capture(&source).unwrap_or_else(|e| panic!("{e}"));
    assert!(!frames.is_empty());
    let inputs_dir = tmp_dir("inputs");
    let inputs = split(&frames, PORTS, &inputs_dir);
    let run = |name: &str| {
        let out = tmp_dir(name);
        let options = ReplayOptions {
            inputs: inputs
                .iter()
                .enumerate()
                .map(|(i, p)| ((i + 1).to_string(), p.clone()))
                .collect(),
            idle_ports: vec!["spare".to_string()],
            capture_dir: Some(out.join("captures")),
            plot: Some(out.join("run.svg")),
            ..ReplayOptions::default()
        };
        let mut trace = Vec::new();
        let outcome = replay_files(&options, Some(&mut trace)).unwrap();
        let json = serde_json::to_string_pretty(&outcome.summary).unwrap();
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(out.join("captures")).unwrap() {
            let p = e.unwrap().path();
            files.insert(
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            );
        }
        let svg = std::fs::read(out.join("run.svg")).unwrap();
        (json, files, trace, svg, outcome.summary)
    };
    let (json1, files1, trace1, svg1, summary) = run("a");
    let (json2, files2, trace2, svg2, _) = run("b");
    assert_eq!(json1, json2);
    assert_eq!(files1, files2);
    assert_eq!(trace1, trace2);
    assert_eq!(svg1, svg2);
    let names: Vec<&str> = files1.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "port-1.pcap",
            "port-2.pcap",
            "port-3.pcap",
            "port-spare.pcap"
        ]
    );
    assert_eq!(summary.frames.replayed, frames.len() as u64);
    assert_eq!(trace1.iter().filter(|&&b| b == b'\n').count(), frames.len());
    // What left each port is what the capture file of that port holds.
    for p in &summary.switch.ports {
        let out = read_capture(
            &tmp_dir_path("a")
                .join("captures")
                .join(format!("port-{}.pcap", p.name)),
        )
        .unwrap();
        assert_eq!(out.len() as u64, p.counters.tx_frames, "port {}", p.name);
    }
    assert_eq!(
        summary.frames.delivered,
        summary
            .switch
            .ports
            .iter()
            .map(|p| p.counters.tx_frames)
            .sum::<u64>()
    );
    // The hosts were learned, so conversations went port to port.
    assert!(summary.frames.unicast > 0, "{summary}");
    for name in ["a", "b", "inputs"] {
        let _ = std::fs::remove_dir_all(tmp_dir_path(name));
    }
}

fn tmp_dir_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vswitch-replay-test-{}-{name}", std::process::id()))
}

#[test]
fn damaged_captures_never_panic() {
    // Byte flips and cuts of a few real files of each format, from a fixed
    // xorshift sequence: bounded work, same cases every run.
    let dir = captures_dir();
    let names = [
        "afs.pcap",
        "802.1ad_QinQ.pcap",
        "ospf-sr.pcapng",
        "nhrp.pcapng",
        "OSPFv2_Capture_FINAL.pcapng",
        "pim-packet-assortment.pcap",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut cases = 0;
    for name in names {
        let original = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for _ in 0..300 {
            let mut bytes = original.clone();
            for _ in 0..(next() % 8 + 1) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            bytes.truncate(bytes.len() - (next() as usize % 64).min(bytes.len()));
            match vswitch_sim::pcap::parse_capture(Path::new(name), &bytes) {
                Ok(capture) => {
                    let names: Vec<String> = vec!["1".into(), "2".into()];
                    let mut r = Replayer::new(&SwitchSpec::default(), &names, None, None).unwrap();
                    for (i, f) in capture.frames.iter().enumerate() {
                        r.feed(i % 2, f.ts_ns, &f.data, Some(&mut std::io::sink()))
                            .unwrap();
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    assert!(message.contains(name), "{message}");
                    assert!(
                        !message.contains("gave up"),
                        "the parser panicked: {message}"
                    );
                }
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 1800);
}
