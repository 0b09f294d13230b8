//! IGMP and MLD parsing and snooping on any bytes: `igmp::classify` must not
//! panic, report records must iterate to their count, and a snooping switch
//! fed the frame must decide without panicking, dropping exactly the
//! messages the parser calls bad (counted as `bad-igmp`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitch_core::igmp::{classify, Message, Packet};
use vswitch_core::{
    DropReason, Instant, McastConfig, PortConfig, PortId, Switch, SwitchConfig, Verdict,
};

fuzz_target!(|frame: &[u8]| {
    let Some(l3) = frame.get(14..) else { return };
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let packet = classify(ethertype, l3);
    if let Packet::Control(Message::Report(records)) = packet {
        let n = records.into_iter().count();
        if let vswitch_core::igmp::Records::V3 { count, .. } = records {
            assert_eq!(n, usize::from(count), "checked records all iterate");
        }
    }
    let config = SwitchConfig {
        mcast: McastConfig {
            snooping: true,
            querier: true,
            max_groups: 4,
            ..McastConfig::default()
        },
        ..SwitchConfig::default()
    };
    let mut sw = Switch::new(config).unwrap();
    for _ in 0..3 {
        sw.add_port(PortConfig::default()).unwrap();
    }
    let d = sw.forward_one(Instant::ZERO, PortId(1), frame, |_| Ok(()));
    let multicast = frame[0] & 1 == 1 && frame[..6] != [0xff; 6];
    let source_ok = frame[6] & 1 == 0 && frame[6..12] != [0; 6];
    if multicast && source_ok && frame[..6] != [0x01, 0x80, 0xc2, 0, 0, 1] {
        let bad = packet == Packet::Bad;
        let dropped_bad = d.verdict == Verdict::Drop(DropReason::BadIgmp);
        if frame[..5] != [0x01, 0x80, 0xc2, 0, 0] || frame[5] > 0x0f {
            assert_eq!(bad, dropped_bad, "{packet:?} -> {:?}", d.verdict);
        }
    }
    sw.advance(Instant::from_secs(1));
    sw.send_queries(Instant::from_secs(1), |_, f| {
        assert!(f.len() >= 14 + 32);
        Ok(())
    });
    assert!(sw.mdb().len() <= 4);
});
