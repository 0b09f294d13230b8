//! Frame classification on any bytes: `FrameInfo::parse` and the one-line
//! summary used by traces must not panic, and must agree with the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fmt::Write;
use vswitch_core::frame::{is_vlan_tpid, FrameInfo, Malformed, ETHERNET_HEADER_LEN};
use vswitch_core::summary::{FrameSummary, TraceLine};
use vswitch_core::{DropReason, FloodKind, MacAddr, PortId, Verdict};

fuzz_target!(|frame: &[u8]| {
    match FrameInfo::parse(frame) {
        Err(Malformed::Runt) => assert!(frame.len() < ETHERNET_HEADER_LEN),
        Ok(info) => {
            assert!(frame.len() >= ETHERNET_HEADER_LEN);
            assert_eq!(info.len, frame.len());
            assert_eq!(info.dst.0, frame[..6]);
            assert_eq!(info.src.0, frame[6..12]);
            let tags = info.tags().count();
            assert!(info.tags[1].is_none() || info.tags[0].is_some());
            // Each listed tag is whole, and the ethertype follows the last one.
            let end = ETHERNET_HEADER_LEN + 4 * tags;
            assert!(end <= frame.len());
            assert_eq!(info.ethertype.to_be_bytes(), frame[end - 2..end]);
            for (i, tag) in info.tags().enumerate() {
                let at = 12 + 4 * i;
                assert_eq!(tag.tpid.to_be_bytes(), frame[at..at + 2]);
                assert!(is_vlan_tpid(tag.tpid));
                let tci = u16::from_be_bytes([frame[at + 2], frame[at + 3]]);
                assert_eq!((tag.pcp, tag.vid), ((tci >> 13) as u8, tci & 0x0fff));
            }
            if info.truncated_tag {
                assert!(is_vlan_tpid(info.ethertype) && end + 4 > frame.len());
            } else if tags < 2 {
                assert!(!is_vlan_tpid(info.ethertype), "a whole tag not listed");
            }
            assert_eq!(
                info.dot1q_tag().is_some(),
                info.tags[0].is_some_and(|t| t.tpid == 0x8100)
            );
        }
    }

    let line = FrameSummary(frame).to_string();
    assert!(!line.contains('\n'), "a summary spans lines: {line:?}");
    let names = ["h1", "h2"];
    for verdict in [
        Verdict::Unicast(PortId(1)),
        Verdict::Flood(FloodKind::UnknownUnicast),
        Verdict::Drop(DropReason::Runt),
    ] {
        let mut out = String::new();
        let trace = TraceLine {
            time_ns: u64::MAX,
            switch: "s1",
            ingress: "h0",
            frame,
            verdict,
            egress: &names,
        };
        write!(out, "{trace}").expect("formatting into a String");
        assert!(out.contains(&line));
    }

    // The same bytes as text: a MAC address that parses prints back the same.
    if let Ok(text) = std::str::from_utf8(frame) {
        if let Ok(mac) = text.parse::<MacAddr>() {
            assert_eq!(mac.to_string().parse::<MacAddr>(), Ok(mac));
        }
    }
});
