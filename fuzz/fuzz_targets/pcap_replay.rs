//! Any bytes as a capture file: the pcap/pcapng reader must return frames or an
//! error, never panic, and whatever it returns must replay through a switch
//! (with a trace and a timeline) and give a report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vswitch_core::spec::{EvictionSpec, PortSpec, SwitchSpec, VlanSpec};
use vswitch_sim::pcap::{merge_by_time, parse_capture};
use vswitch_sim::replay::Replayer;

/// Frames replayed per input at most: enough for every code path, few enough
/// to keep executions fast.
const MAX_FRAMES: usize = 256;

/// One of four switches, chosen by the file's length so that the file's bytes
/// stay a capture file: the default, VLAN-aware with a trunk, a hub, and a
/// small table that ages within a second.
fn spec(choice: usize) -> SwitchSpec {
    let mut spec = SwitchSpec::default();
    match choice % 4 {
        0 => {}
        1 => {
            spec.vlan_aware = true;
            let port = |vlan| PortSpec {
                vlan: Some(vlan),
                ..PortSpec::default()
            };
            spec.ports.insert(
                "2".into(),
                port(VlanSpec::Trunk {
                    trunk: vec![1, 10, 20],
                    native: Some(1),
                }),
            );
            spec.ports
                .insert("3".into(), port(VlanSpec::Access { access: 10 }));
        }
        2 => spec.hub = true,
        _ => {
            spec.capacity = 4;
            spec.aging = 1.0;
            spec.eviction = EvictionSpec::StopLearning;
            spec.group_forward_mask = 0x4008;
        }
    }
    spec
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(capture) = parse_capture(Path::new("fuzz.pcap"), bytes) else {
        return;
    };
    if let Some((offset, why)) = &capture.damage {
        assert!(
            *offset <= bytes.len() as u64,
            "damage at {offset} past the end: {why}"
        );
    }
    let total: usize = capture.frames.iter().map(|f| f.data.len()).sum();
    assert!(total <= bytes.len(), "more frame bytes than file bytes");

    // The file on two ports, merged by time as a replay of two files is, with
    // a third port that only receives.
    let frames: Vec<_> = capture.frames.into_iter().take(MAX_FRAMES).collect();
    let merged = merge_by_time(vec![frames.clone(), frames]);
    let names: Vec<String> = ["1", "2", "3"].iter().map(|s| s.to_string()).collect();
    let mut replayer =
        Replayer::new(&spec(bytes.len()), &names, None, Some(1_000_000)).expect("a usable switch");
    let mut trace = Vec::new();
    for (input, frame) in &merged {
        replayer
            .feed(*input, frame.ts_ns, &frame.data, Some(&mut trace))
            .expect("a replay without capture files cannot fail");
        trace.clear();
    }
    let outcome = replayer
        .finish(Vec::new())
        .expect("no capture files to flush");
    assert_eq!(outcome.summary.frames.replayed, merged.len() as u64);
    let _ = outcome.summary.to_string();
    serde_json::to_string(&outcome.summary).expect("the report serialises");
});
