//! Any bytes as a VXLAN datagram received by a tunnel port: the first three
//! bytes are the port's VNI and the fourth the remote endpoint it came from,
//! the rest is the datagram. `vxlan::decap` must return the inner frame or
//! the right reason, never panic; what it returns must be the datagram's
//! bytes and encapsulate back to them; the inner frame then goes through a
//! switch with the tunnel port, which must learn the remote with the source
//! and never send the frame back into the tunnel (split horizon). The same
//! bytes as a `vxlan:` port spec must parse or fail, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitch_core::{Instant, MacAddr, PortConfig, PortFlags, RemoteId, Switch, SwitchConfig};
use vswitch_linux::vxlan::{decap, encap_header, flow_hash, DecapError, VxlanSpec, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = VxlanSpec::parse(text);
    }
    if data.len() < 4 {
        return;
    }
    let vni = u32::from_be_bytes([0, data[0], data[1], data[2]]);
    let remote = RemoteId(u16::from(data[3]));
    let datagram = &data[4..];
    match decap(datagram, vni) {
        Err(DecapError::Short) => assert!(datagram.len() < HEADER_LEN + 14),
        Err(DecapError::NoIFlag) => assert_eq!(datagram[0] & 0x08, 0),
        Err(DecapError::WrongVni(got)) => {
            assert_ne!(got, vni);
            assert_eq!(got.to_be_bytes()[1..], datagram[4..7]);
        }
        Ok(inner) => {
            assert_eq!(inner, &datagram[HEADER_LEN..]);
            assert!(inner.len() >= 14);
            let header = encap_header(vni);
            // Reserved bits aside, the header is the one we would send.
            assert_eq!(header[4..7], datagram[4..7]);
            assert_eq!(datagram[0] & 0x08, header[0]);
            let _ = flow_hash(inner);
            let mut sw = Switch::new(SwitchConfig::default()).expect("default config");
            let tunnel = PortConfig {
                tunnel: true,
                flags: PortFlags {
                    hairpin: data[3] & 1 == 1,
                    ..PortFlags::default()
                },
                ..PortConfig::default()
            };
            let t = sw.add_port(tunnel).expect("a port");
            let local = sw.add_port(PortConfig::default()).expect("a port");
            for _ in 0..2 {
                let d = sw.decide_from(Instant::ZERO, t, Some(remote), inner);
                sw.for_each_egress(&d, |p| {
                    assert_ne!(p, t, "split horizon: back into the tunnel");
                    assert_eq!(p, local);
                });
            }
            let mut src = MacAddr::default();
            src.0.copy_from_slice(&inner[6..12]);
            if let Some((port, r)) = sw.fdb().get_remote(0, src) {
                assert_eq!((port, r), (t, Some(remote)), "learned without its remote");
            }
        }
    }
});
