//! The VXLAN wire format (RFC 7348), pure: the 8-byte header, its checks on
//! receive, and the hash of an inner flow that picks the outer source port.
//! The Linux tunnel port (`vswitch_linux::vxlan`) and the simulator's
//! underlay both encapsulate and decapsulate with it.
//!
//! ```
//! use vswitch_core::vxlan::{decap, encap_header, DecapError};
//! let mut d = encap_header(42).to_vec();
//! d.extend_from_slice(&[0xff; 6]);
//! d.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
//! assert_eq!(decap(&d, 42).unwrap().len(), 14);
//! assert_eq!(decap(&d, 43), Err(DecapError::WrongVni(42)));
//! ```

use crate::frame::{
    be16, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_OFFSET, TPID_8021Q, VLAN_TAG_LEN,
};

/// The IANA port for VXLAN.
pub const IANA_PORT: u16 = 4789;
/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;
/// What encapsulation adds to an inner frame on the underlay: outer Ethernet
/// (14), IPv4 (20), UDP (8) and VXLAN (8) headers.
pub const OVERHEAD: u32 = 50;
/// The same over an IPv6 underlay (a 40-byte IPv6 header).
pub const OVERHEAD_V6: u32 = 70;

/// Offset of the flags byte.
const FLAGS: usize = 0;
/// Offset of the 24-bit VNI.
const VNI: usize = 4;
/// The I flag: the VNI is valid.
const FLAG_I: u8 = 0x08;
/// The largest VNI.
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// The VXLAN header of a frame for `vni` (only the low 24 bits count).
pub fn encap_header(vni: u32) -> [u8; HEADER_LEN] {
    let v = (vni & MAX_VNI).to_be_bytes();
    [FLAG_I, 0, 0, 0, v[1], v[2], v[3], 0]
}

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecapError {
    /// Shorter than a VXLAN header and an inner Ethernet header.
    Short,
    /// The I flag is clear: no valid VNI.
    NoIFlag,
    /// The VNI is not one of the port's (the one it carried).
    WrongVni(u32),
}

impl DecapError {
    /// The counter name, as `show` prints it.
    pub fn reason(self) -> &'static str {
        match self {
            DecapError::Short => "vxlan-short",
            DecapError::NoIFlag => "vxlan-no-i-flag",
            DecapError::WrongVni(_) => "vxlan-wrong-vni",
        }
    }
}

impl core::fmt::Display for DecapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecapError::Short => write!(f, "datagram too short for VXLAN and Ethernet headers"),
            DecapError::NoIFlag => write!(f, "VXLAN I flag clear"),
            DecapError::WrongVni(v) => write!(f, "VNI {v} is not the port's"),
        }
    }
}

/// The VNI of a VXLAN datagram and the inner frame, after one length check.
/// Reserved fields are ignored, as RFC 7348 asks of a receiver.
pub fn parse(datagram: &[u8]) -> core::result::Result<(u32, &[u8]), DecapError> {
    if datagram.len() < HEADER_LEN + ETHERNET_HEADER_LEN {
        return Err(DecapError::Short);
    }
    if datagram[FLAGS] & FLAG_I == 0 {
        return Err(DecapError::NoIFlag);
    }
    let vni = u32::from_be_bytes([0, datagram[VNI], datagram[VNI + 1], datagram[VNI + 2]]);
    Ok((vni, &datagram[HEADER_LEN..]))
}

/// The inner frame of a datagram for VNI `vni`.
pub fn decap(datagram: &[u8], vni: u32) -> core::result::Result<&[u8], DecapError> {
    let (got, inner) = parse(datagram)?;
    if got != vni {
        return Err(DecapError::WrongVni(got));
    }
    Ok(inner)
}

/// A hash of the inner frame's flow: its addresses and ethertype, and for
/// IPv4 its addresses and (TCP/UDP) ports. Frames of one flow get the same
/// outer source port, so they stay in order across an ECMP underlay.
pub fn flow_hash(frame: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    mix(frame.get(..ETHERNET_HEADER_LEN).unwrap_or(frame));
    // Past one 802.1Q tag (a trunk port's frames still carry theirs), so
    // that tagged flows spread as untagged ones do.
    let l3 = if be16(frame, ETHERTYPE_OFFSET) == Some(TPID_8021Q) {
        ETHERNET_HEADER_LEN + VLAN_TAG_LEN
    } else {
        ETHERNET_HEADER_LEN
    };
    if be16(frame, l3 - 2) == Some(ETHERTYPE_IPV4) {
        if let Some(ip) = frame.get(l3..l3 + 20) {
            mix(&ip[12..20]);
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if matches!(ip[9], 6 | 17) {
                if let Some(ports) = frame.get(l3 + ihl..l3 + ihl + 4) {
                    mix(ports);
                }
            }
        }
    }
    h
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn tagged_flows_spread_like_untagged_ones() {
        // Two TCP flows between the same MACs, differing in the source port
        // only, each untagged and behind an 802.1Q tag.
        let flow = |sport: u8, tag: bool| {
            let mut f = alloc::vec![0u8; 12];
            if tag {
                f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
            }
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x30, sport, 0, 80]);
            f
        };
        assert_ne!(flow_hash(&flow(1, false)), flow_hash(&flow(2, false)));
        assert_ne!(flow_hash(&flow(1, true)), flow_hash(&flow(2, true)));
    }
}
