//! BPDUs from any bytes: `Bpdu::parse` must not panic; what it accepts must
//! come back the same through `emit` and `parse`; and a switch running RSTP,
//! fed the frame on a port, must decide and run its protocol without
//! panicking, whatever its ports' guards and point-to-point settings (taken
//! from the frame's last byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitch_core::stp::bpdu::{Bpdu, BpduKind};
use vswitch_core::stp::{PointToPoint, Stp, StpConfig, StpPortConfig};
use vswitch_core::{Instant, MacAddr, PortConfig, PortId, Switch, SwitchConfig};

fuzz_target!(|frame: &[u8]| {
    if let Ok(bpdu) = Bpdu::parse(frame) {
        let mut out = Vec::new();
        bpdu.emit(MacAddr([2, 0, 0, 0, 0, 1]), &mut out);
        let again = Bpdu::parse(&out).expect("an emitted BPDU parses");
        if bpdu.kind == BpduKind::Tcn {
            assert_eq!(again.kind, BpduKind::Tcn);
        } else {
            // RST BPDUs are emitted as version 2 whatever version came in.
            assert_eq!(
                again,
                Bpdu {
                    version: again.version,
                    ..bpdu
                }
            );
        }
    }
    let mut sw = Switch::new(SwitchConfig::default()).unwrap();
    let mut stp = Stp::new(StpConfig::default(), MacAddr([2, 0, 0, 0, 0, 0xaa]));
    let knobs = frame.last().copied().unwrap_or(0);
    let port0 = StpPortConfig {
        admin_edge: knobs & 1 != 0,
        bpdu_guard: knobs & 3 == 3,
        root_guard: knobs & 4 != 0,
        point_to_point: match (knobs >> 3) & 3 {
            0 => PointToPoint::Auto,
            1 => PointToPoint::ForceTrue,
            _ => PointToPoint::ForceFalse,
        },
        ..StpPortConfig::default()
    };
    for p in 0..2u16 {
        sw.add_port(PortConfig::default()).unwrap();
        let mac = MacAddr([2, 0, 0, 0, 1, p as u8]);
        let config = if p == 0 {
            port0
        } else {
            StpPortConfig::default()
        };
        stp.add_port(Instant::ZERO, PortId(p), mac, config);
    }
    sw.set_stp(Some(stp));
    let t = Instant::from_millis(10);
    sw.forward_one(t, PortId(0), frame, |_| Ok(()));
    let mut sent = 0;
    sw.run_stp(Instant::from_millis(2_000), |_, bytes| {
        assert!(
            Bpdu::parse(bytes).is_ok(),
            "the switch sent a BPDU it cannot read"
        );
        sent += 1;
    });
    assert!(sent > 0, "RSTP sent no BPDU after a hello time");
});
