//! The simulated underlay's packets: an inner Ethernet frame in VXLAN in UDP
//! (destination port 4789) in IPv4 in Ethernet, as a Linux VXLAN device puts
//! it on the wire. The VXLAN header and its checks are the ones the Linux
//! tunnel port uses ([`vswitch_core::vxlan`]); this module adds the outer
//! headers the kernel builds there: IPv4 (header checksum, don't-fragment,
//! TTL 64), UDP with a zero checksum (as RFC 7348 asks over IPv4, and as the
//! Linux tunnel port sends by default) and a
//! source port hashed from the inner flow, so that an ECMP underlay keeps a
//! flow on one path.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use vswitch_sim::underlay::{decapsulate, encapsulate, Outer};
//! let inner = [[0xff; 6], [2, 0, 0, 0, 0, 1]].concat();
//! let inner = [&inner[..], &[0x08, 0x06], &[0; 46][..]].concat();
//! let outer = Outer {
//!     src_mac: [2, 0x56, 0, 0, 0, 1],
//!     dst_mac: [2, 0x56, 0, 0, 0, 2],
//!     src: Ipv4Addr::new(192, 168, 0, 1),
//!     dst: Ipv4Addr::new(192, 168, 0, 2),
//!     id: 7,
//! };
//! let mut packet = Vec::new();
//! encapsulate(&mut packet, &outer, 42, &inner);
//! assert_eq!(packet.len(), inner.len() + 50);
//! let (from, frame) = decapsulate(&packet, outer.dst, 42).unwrap();
//! assert_eq!((from, frame), (outer.src, &inner[..]));
//! ```

use std::fmt;
use std::net::Ipv4Addr;
use vswitch_core::vxlan::{self, DecapError, IANA_PORT};

/// Start of the IPv4 header.
const IP: usize = 14;
/// Start of the UDP header.
const UDP: usize = IP + 20;
/// First outer source port (the IANA dynamic range, as Linux uses by default).
pub const SOURCE_PORT_BASE: u16 = 49152;
/// How many outer source ports the flows are spread over.
pub const SOURCE_PORTS: u32 = 16384;

/// The outer headers' addresses of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    /// Sending endpoint's underlay MAC.
    pub src_mac: [u8; 6],
    /// The next hop's MAC (the receiving endpoint's, on the one-hop underlay).
    pub dst_mac: [u8; 6],
    /// The sending tunnel endpoint.
    pub src: Ipv4Addr,
    /// The receiving tunnel endpoint.
    pub dst: Ipv4Addr,
    /// The IPv4 identification field.
    pub id: u16,
}

/// The outer UDP source port for `inner`: a hash of its flow
/// ([`vxlan::flow_hash`]) in [`SOURCE_PORT_BASE`]`..`.
pub fn source_port(inner: &[u8]) -> u16 {
    SOURCE_PORT_BASE + (vxlan::flow_hash(inner) % SOURCE_PORTS) as u16
}

/// Appends to `out` the underlay packet carrying `inner` for `vni`.
pub fn encapsulate(out: &mut Vec<u8>, outer: &Outer, vni: u32, inner: &[u8]) {
    let ip_len = (20 + 8 + vxlan::HEADER_LEN + inner.len()) as u16;
    let udp_len = ip_len - 20;
    out.extend_from_slice(&outer.dst_mac);
    out.extend_from_slice(&outer.src_mac);
    out.extend_from_slice(&[0x08, 0x00]);
    let ip_start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&ip_len.to_be_bytes());
    out.extend_from_slice(&outer.id.to_be_bytes());
    // Don't fragment, TTL 64, UDP, checksum filled in below.
    out.extend_from_slice(&[0x40, 0x00, 64, 17, 0, 0]);
    out.extend_from_slice(&outer.src.octets());
    out.extend_from_slice(&outer.dst.octets());
    let sum = crate::traffic::checksum(&out[ip_start..ip_start + 20]);
    out[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(&source_port(inner).to_be_bytes());
    out.extend_from_slice(&IANA_PORT.to_be_bytes());
    out.extend_from_slice(&udp_len.to_be_bytes());
    // UDP checksum zero: none, as Linux sends by default over IPv4.
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&vxlan::encap_header(vni));
    out.extend_from_slice(inner);
}

/// Why an underlay packet did not become a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Not an IPv4 UDP packet to this endpoint's address and VXLAN port, or
    /// its IPv4 header is damaged (length, checksum, fragment).
    NotVxlan,
    /// The VXLAN header said no ([`DecapError`]).
    Vxlan(DecapError),
}

impl Drop {
    /// The counter name: `not-vxlan`, or the Linux port's reason
    /// (`vxlan-short`, `vxlan-no-i-flag`, `vxlan-wrong-vni`).
    pub fn reason(self) -> &'static str {
        match self {
            Drop::NotVxlan => "not-vxlan",
            Drop::Vxlan(e) => e.reason(),
        }
    }
}

impl fmt::Display for Drop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drop::NotVxlan => write!(f, "not a VXLAN packet to this endpoint"),
            Drop::Vxlan(e) => write!(f, "{e}"),
        }
    }
}

/// The IPv4 destination of an underlay packet, if it is IPv4.
pub fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.get(12..14) != Some(&[0x08, 0x00]) {
        return None;
    }
    let d: [u8; 4] = packet.get(IP + 16..IP + 20)?.try_into().ok()?;
    Some(Ipv4Addr::from(d))
}

/// The sender (outer source address) and inner frame of an underlay packet
/// received by the endpoint `local` of VNI `vni`. The UDP checksum is
/// accepted zero or not (the simulated underlay does not damage packets);
/// the I flag and the VNI are checked as the Linux port checks them.
pub fn decapsulate(packet: &[u8], local: Ipv4Addr, vni: u32) -> Result<(Ipv4Addr, &[u8]), Drop> {
    let ip = packet.get(IP..UDP).ok_or(Drop::NotVxlan)?;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
    let good = packet[12..14] == [0x08, 0x00]
        && ip[0] == 0x45
        && ip[9] == 17
        && fragment == 0
        && crate::traffic::checksum(ip) == 0
        && ip[16..20] == local.octets()
        && total >= 28
        && IP + total <= packet.len();
    if !good {
        return Err(Drop::NotVxlan);
    }
    let datagram = &packet[UDP..IP + total];
    let udp_len = usize::from(u16::from_be_bytes([datagram[4], datagram[5]]));
    if u16::from_be_bytes([datagram[2], datagram[3]]) != IANA_PORT
        || udp_len < 8
        || udp_len > datagram.len()
    {
        return Err(Drop::NotVxlan);
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let inner = vxlan::decap(&datagram[8..udp_len], vni).map_err(Drop::Vxlan)?;
    Ok((src, inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outer Ethernet (14), IPv4 (20) and UDP (8) headers before the VXLAN one.
    const OUTER_LEN: usize = 14 + 20 + 8;

    fn outer() -> Outer {
        Outer {
            src_mac: [2, 0x56, 0, 0, 0, 1],
            dst_mac: [2, 0x56, 0, 0, 0, 2],
            src: Ipv4Addr::new(192, 168, 0, 1),
            dst: Ipv4Addr::new(192, 168, 0, 2),
            id: 1,
        }
    }

    fn arp() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        f.resize(60, 0);
        f
    }

    /// The headers are where and what a decoder expects: IPv4 checksum
    /// valid, UDP to 4789 with a zero checksum, the VXLAN I flag and VNI.
    #[test]
    fn headers_are_well_formed() {
        let mut p = Vec::new();
        encapsulate(&mut p, &outer(), 0x123456, &arp());
        assert_eq!(p.len(), 60 + vxlan::OVERHEAD as usize);
        assert_eq!(crate::traffic::checksum(&p[IP..UDP]), 0);
        assert_eq!(u16::from_be_bytes([p[16], p[17]]) as usize, p.len() - 14);
        assert_eq!(&p[UDP + 2..UDP + 4], &4789u16.to_be_bytes());
        assert_eq!(
            u16::from_be_bytes([p[UDP + 4], p[UDP + 5]]) as usize,
            p.len() - UDP
        );
        assert_eq!(&p[UDP + 6..UDP + 8], &[0, 0]);
        assert_eq!(
            &p[OUTER_LEN..vxlan::OVERHEAD as usize],
            &[8, 0, 0, 0, 0x12, 0x34, 0x56, 0]
        );
        assert_eq!(destination(&p), Some(outer().dst));
        let sport = u16::from_be_bytes([p[UDP], p[UDP + 1]]);
        assert!(sport >= SOURCE_PORT_BASE);
    }

    /// Every damage is dropped with its reason, never a panic: other VNI, I
    /// flag clear, wrong address, short, bad checksum, and every truncation.
    #[test]
    fn bad_packets_are_dropped_with_a_reason() {
        let o = outer();
        let mut p = Vec::new();
        encapsulate(&mut p, &o, 42, &arp());
        assert_eq!(decapsulate(&p, o.dst, 42).map(|r| r.0), Ok(o.src));
        assert_eq!(
            decapsulate(&p, o.dst, 43),
            Err(Drop::Vxlan(DecapError::WrongVni(42)))
        );
        assert_eq!(decapsulate(&p, o.src, 42), Err(Drop::NotVxlan));
        let mut no_i = p.clone();
        no_i[OUTER_LEN] = 0;
        assert_eq!(
            decapsulate(&no_i, o.dst, 42),
            Err(Drop::Vxlan(DecapError::NoIFlag))
        );
        let mut bad_sum = p.clone();
        bad_sum[IP + 8] = 1;
        assert_eq!(decapsulate(&bad_sum, o.dst, 42), Err(Drop::NotVxlan));
        for cut in 0..p.len() {
            assert!(decapsulate(&p[..cut], o.dst, 42).is_err(), "cut at {cut}");
        }
        let mut runt = Vec::new();
        encapsulate(&mut runt, &o, 42, &arp()[..10]);
        assert_eq!(
            decapsulate(&runt, o.dst, 42),
            Err(Drop::Vxlan(DecapError::Short))
        );
    }

    /// A flow keeps its source port; flows differ.
    #[test]
    fn source_port_follows_the_flow() {
        let a = arp();
        let mut b = arp();
        b[11] = 2;
        // Same flow, another frame of it (the payload differs): same port.
        let mut a2 = arp();
        a2[30] ^= 0xff;
        assert_eq!(source_port(&a), source_port(&a2));
        assert_ne!(source_port(&a), source_port(&b));
    }
}
