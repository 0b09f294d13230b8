//! One-line, human-readable descriptions of frames and of what a switch did with
//! them, in the spirit of `tcpdump -e`. Used by the simulator's `--trace` and by
//! the Linux switch's trace output, so nothing here knows where a frame came from.
//!
//! Any byte sequence gives a line; nothing here can panic.
//!
//! ```
//! use vswitch_core::summary::FrameSummary;
//! let mut arp = [0u8; 42];
//! arp[..6].copy_from_slice(&[0xff; 6]);
//! arp[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! arp[12..22].copy_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
//! arp[22..28].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! arp[28..32].copy_from_slice(&[192, 168, 100, 101]);
//! arp[38..42].copy_from_slice(&[192, 168, 100, 102]);
//! assert_eq!(
//!     FrameSummary(&arp).to_string(),
//!     "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP who-has 192.168.100.102 tell 192.168.100.101"
//! );
//! ```

use crate::frame::{
    ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_LLDP,
    ETHERTYPE_OFFSET, TPID_8021AD, TPID_8021Q, TPID_QINQ_OLD, VLAN_TAG_LEN,
};
use crate::mac::MacAddr;
use crate::switch::Verdict;
use crate::types::FloodKind;
use core::fmt::{self, Display, Formatter, Write as _};
use core::net::{Ipv4Addr, Ipv6Addr};
use etherparse::{
    EtherType, Icmpv4Type, Icmpv6Type, IpNumber, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket,
    TransportSlice,
};

/// Ethertype of IEEE slow protocols (LACP, marker, OAM).
const ETHERTYPE_SLOW: u16 = 0x8809;
/// Ethertype of MAC control frames (PAUSE).
const ETHERTYPE_MAC_CONTROL: u16 = 0x8808;
/// Values of the type/length field below this are 802.3 lengths, not ethertypes.
const ETHERTYPE_MIN: u16 = 0x0600;
/// Most VLAN tags a summary lists before giving up on a frame made of tags.
const MAX_TAGS: usize = 8;
/// The STP/RSTP/MSTP group address.
const STP_GROUP: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0, 0, 0]);
/// Offset of the BPDU version byte after the Ethernet header: LLC (3), protocol id (2).
const BPDU_VERSION_OFFSET: usize = 5;

/// A frame, displayed as one line: `src > dst`, any VLAN tags, then the
/// protocol as far as it can be decoded.
///
/// `02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff vlan 10 (pcp 0) ARP who-has 10.0.0.2 tell 10.0.0.1`
#[derive(Clone, Copy, Debug)]
pub struct FrameSummary<'a>(pub &'a [u8]);

impl Display for FrameSummary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let frame = self.0;
        if frame.len() < ETHERNET_HEADER_LEN {
            return write!(f, "runt ({} bytes)", frame.len());
        }
        let dst = MacAddr::from_bytes(&frame[..6]).unwrap_or(MacAddr::ZERO);
        let src = MacAddr::from_bytes(&frame[6..12]).unwrap_or(MacAddr::ZERO);
        write!(f, "{src} > {dst}")?;
        let mut offset = ETHERTYPE_OFFSET;
        let mut ethertype = read_u16(frame, offset);
        let mut tags = 0;
        while is_tag(ethertype) {
            let Some(tci) = frame.get(offset + 2..offset + VLAN_TAG_LEN) else {
                return write!(f, " {} (truncated)", tag_name(ethertype));
            };
            let tci = u16::from_be_bytes([tci[0], tci[1]]);
            write!(
                f,
                " {} {} (pcp {})",
                tag_name(ethertype),
                tci & 0x0fff,
                tci >> 13
            )?;
            offset += VLAN_TAG_LEN;
            ethertype = read_u16(frame, offset);
            tags += 1;
            if tags == MAX_TAGS {
                return f.write_str(" ...");
            }
        }
        if frame.len() < offset + 2 {
            return f.write_str(" (truncated)");
        }
        let payload = &frame[offset + 2..];
        if dst == STP_GROUP {
            return write_bpdu(f, frame);
        }
        match ethertype {
            ETHERTYPE_LLDP => write!(f, " LLDP len {}", payload.len()),
            ETHERTYPE_SLOW => match payload.first() {
                Some(1) => f.write_str(" LACP"),
                Some(2) => f.write_str(" LACP marker"),
                Some(3) => f.write_str(" OAM"),
                _ => write!(f, " slow protocols len {}", payload.len()),
            },
            ETHERTYPE_MAC_CONTROL => match read_u16(payload, 0) {
                1 => f.write_str(" PAUSE"),
                op => write!(f, " MAC control opcode {op:#06x}"),
            },
            ETHERTYPE_ARP => write_arp(f, payload),
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => write_ip(f, ethertype, payload),
            t if t < ETHERTYPE_MIN => write!(f, " 802.3 len {t} LLC"),
            t => write!(f, " ethertype {t:#06x} len {}", payload.len()),
        }
    }
}

fn is_tag(ethertype: u16) -> bool {
    ethertype == TPID_8021Q || ethertype == TPID_8021AD || ethertype == TPID_QINQ_OLD
}

fn tag_name(tpid: u16) -> &'static str {
    match tpid {
        TPID_8021Q => "vlan",
        TPID_8021AD => "802.1ad vlan",
        _ => "0x9100 vlan",
    }
}

/// A big-endian u16 at `at`, or 0 if the bytes are not there.
fn read_u16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

fn write_bpdu(f: &mut Formatter<'_>, frame: &[u8]) -> fmt::Result {
    f.write_str(" STP BPDU")?;
    let body = &frame[ETHERNET_HEADER_LEN..];
    let kind = match (
        body.get(BPDU_VERSION_OFFSET),
        body.get(BPDU_VERSION_OFFSET + 1),
    ) {
        (Some(0), Some(0)) => "config",
        (Some(_), Some(0x80)) => "TCN",
        (Some(2), _) => "RSTP",
        (Some(3), _) => "MSTP",
        (Some(4), _) => "SPB",
        _ => return Ok(()),
    };
    write!(f, " ({kind})")
}

fn write_arp(f: &mut Formatter<'_>, arp: &[u8]) -> fmt::Result {
    // Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4.
    const SHA: usize = 8;
    const SPA: usize = 14;
    const THA: usize = 18;
    const TPA: usize = 24;
    const LEN: usize = 28;
    if arp.len() < LEN || arp[..6] != [0, 1, 0x08, 0x00, 6, 4] {
        return write!(f, " ARP len {}", arp.len());
    }
    let ip = |at: usize| Ipv4Addr::new(arp[at], arp[at + 1], arp[at + 2], arp[at + 3]);
    let mac = |at: usize| MacAddr::from_bytes(&arp[at..at + 6]).unwrap_or(MacAddr::ZERO);
    match read_u16(arp, 6) {
        1 => write!(f, " ARP who-has {} tell {}", ip(TPA), ip(SPA)),
        2 => write!(f, " ARP {} is-at {}", ip(SPA), mac(SHA)),
        3 => write!(f, " RARP who-is {} tell {}", mac(THA), mac(SHA)),
        4 => write!(f, " RARP {} at {}", mac(THA), ip(TPA)),
        op => write!(f, " ARP op {op}"),
    }
}

fn write_ip(f: &mut Formatter<'_>, ethertype: u16, payload: &[u8]) -> fmt::Result {
    let packet = LaxSlicedPacket::from_ether_type(EtherType(ethertype), payload);
    let (src, dst, ip_payload) = match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                ip.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                ip.payload(),
            )
        }
        _ => {
            let name = if ethertype == ETHERTYPE_IPV4 {
                "IPv4"
            } else {
                "IPv6"
            };
            return write!(f, " {name} bad header len {}", payload.len());
        }
    };
    f.write_str(if src.is_v4() { " IPv4" } else { " IPv6" })?;
    match &packet.transport {
        Some(TransportSlice::Udp(udp)) => write!(
            f,
            " UDP {} > {} len {}",
            Endpoint(src, udp.source_port()),
            Endpoint(dst, udp.destination_port()),
            udp.payload().len()
        ),
        Some(TransportSlice::Tcp(tcp)) => {
            write!(
                f,
                " TCP {} > {} [",
                Endpoint(src, tcp.source_port()),
                Endpoint(dst, tcp.destination_port())
            )?;
            let flags = [
                (tcp.fin(), 'F'),
                (tcp.syn(), 'S'),
                (tcp.rst(), 'R'),
                (tcp.psh(), 'P'),
                (tcp.urg(), 'U'),
                (tcp.ece(), 'E'),
                (tcp.cwr(), 'W'),
                (tcp.ack(), '.'),
            ];
            for (set, c) in flags {
                if set {
                    f.write_char(c)?;
                }
            }
            write!(f, "] seq {}", tcp.sequence_number())?;
            if tcp.ack() {
                write!(f, " ack {}", tcp.acknowledgment_number())?;
            }
            write!(f, " len {}", tcp.payload().len())
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            write!(f, " {src} > {dst} ICMP")?;
            match icmp.icmp_type() {
                Icmpv4Type::EchoRequest(e) => {
                    write!(f, " echo request id {} seq {}", e.id, e.seq)
                }
                Icmpv4Type::EchoReply(e) => write!(f, " echo reply id {} seq {}", e.id, e.seq),
                _ => match icmp.type_u8() {
                    3 => write!(f, " unreachable code {}", icmp.code_u8()),
                    11 => f.write_str(" time exceeded"),
                    t => write!(f, " type {t} code {}", icmp.code_u8()),
                },
            }
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            write!(f, " {src} > {dst} ICMP6")?;
            match icmp.icmp_type() {
                Icmpv6Type::EchoRequest(e) => {
                    write!(f, " echo request id {} seq {}", e.id, e.seq)
                }
                Icmpv6Type::EchoReply(e) => write!(f, " echo reply id {} seq {}", e.id, e.seq),
                _ => match icmp.type_u8() {
                    133 => f.write_str(" router solicitation"),
                    134 => f.write_str(" router advertisement"),
                    135 => f.write_str(" neighbor solicitation"),
                    136 => f.write_str(" neighbor advertisement"),
                    143 => f.write_str(" multicast listener report v2"),
                    t => write!(f, " type {t} code {}", icmp.code_u8()),
                },
            }
        }
        Some(TransportSlice::Igmp(_)) => write!(f, " {src} > {dst} IGMP"),
        None => write_other_ip(f, src, dst, ip_payload),
    }
}

/// An IP packet whose transport header was not decoded: unknown protocol,
/// later fragment, or cut short.
fn write_other_ip(
    f: &mut Formatter<'_>,
    src: IpAddr,
    dst: IpAddr,
    p: &LaxIpPayloadSlice<'_>,
) -> fmt::Result {
    write!(f, " {src} > {dst} ")?;
    match p.ip_number {
        IpNumber::TCP => f.write_str("TCP")?,
        IpNumber::UDP => f.write_str("UDP")?,
        IpNumber::ICMP => f.write_str("ICMP")?,
        IpNumber::IPV6_ICMP => f.write_str("ICMP6")?,
        n => write!(f, "proto {}", n.0)?,
    }
    if p.fragmented {
        f.write_str(" fragment")?;
    }
    if p.incomplete {
        f.write_str(" truncated")?;
    }
    write!(f, " len {}", p.payload.len())
}

/// An IPv4 or IPv6 address (core has no `IpAddr` formatting of its own for both
/// that we want: IPv6 endpoints are bracketed).
#[derive(Clone, Copy)]
enum IpAddr {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl IpAddr {
    fn is_v4(self) -> bool {
        matches!(self, IpAddr::V4(_))
    }
}

impl Display for IpAddr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            IpAddr::V4(a) => a.fmt(f),
            IpAddr::V6(a) => a.fmt(f),
        }
    }
}

/// `10.0.0.1:80` or `[fe80::1]:80`.
struct Endpoint(IpAddr, u16);

impl Display for Endpoint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

/// One line of a switch trace: when, where, what came in, and where it went.
///
/// ```text
///    1.000123456 s1 in=h1 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP who-has ... -> flood [h2 h3 h4]
///    1.000200000 s1 in=h2 02:00:00:00:00:02 > 02:00:00:00:00:01 ARP ... -> unicast [h1]
///    1.000300000 s1 in=h1 ... -> drop (same-port)
/// ```
///
/// Floods of unknown unicast read `-> flood unknown [...]`. `egress` names the
/// ports the frame was sent to (the caller resolves port numbers to names); it
/// is ignored for drops. No trailing newline.
#[derive(Clone, Copy, Debug)]
pub struct TraceLine<'a> {
    /// Time of the decision in nanoseconds since the caller's origin.
    pub time_ns: u64,
    /// The switch's name.
    pub switch: &'a str,
    /// The ingress port's name.
    pub ingress: &'a str,
    /// The frame as received.
    pub frame: &'a [u8],
    /// What the switch decided.
    pub verdict: Verdict,
    /// Names of the ports the frame left on.
    pub egress: &'a [&'a str],
}

impl Display for TraceLine<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>4}.{:09} {} in={} {} -> ",
            self.time_ns / 1_000_000_000,
            self.time_ns % 1_000_000_000,
            self.switch,
            self.ingress,
            FrameSummary(self.frame)
        )?;
        match self.verdict {
            Verdict::Drop(reason) => return write!(f, "drop ({reason})"),
            Verdict::Unicast(_) => f.write_str("unicast [")?,
            Verdict::Flood(FloodKind::UnknownUnicast) => f.write_str("flood unknown [")?,
            Verdict::Flood(_) => f.write_str("flood [")?,
            Verdict::Group(_) => f.write_str("multicast [")?,
        }
        for (i, name) in self.egress.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            f.write_str(name)?;
        }
        f.write_char(']')
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::port::{DropReason, PortId};
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    const H1: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const H2: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const BCAST: [u8; 6] = [0xff; 6];

    fn eth(dst: [u8; 6], src: [u8; 6], rest: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(rest);
        f
    }

    fn summary(frame: &[u8]) -> String {
        FrameSummary(frame).to_string()
    }

    /// ARP request 192.168.100.101 asks for 192.168.100.102.
    const ARP_REQUEST: [u8; 30] = [
        0x08, 0x06, // ethertype
        0, 1, 0x08, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
        2, 0, 0, 0, 0, 1, 192, 168, 100, 101, // sender
        0, 0, 0, 0, 0, 0, 192, 168, 100, 102, // target
    ];

    /// ARP reply: 192.168.100.102 is at 02:00:00:00:00:02.
    const ARP_REPLY: [u8; 30] = [
        0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2, //
        2, 0, 0, 0, 0, 2, 192, 168, 100, 102, //
        2, 0, 0, 0, 0, 1, 192, 168, 100, 101,
    ];

    /// IPv4 header (20 bytes) 192.168.100.101 -> 192.168.100.102 with `proto`
    /// and `len` bytes of payload.
    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = Vec::from([0x08, 0x00, 0x45, 0]);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        p.extend_from_slice(&[192, 168, 100, 101, 192, 168, 100, 102]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn arp() {
        assert_eq!(
            summary(&eth(BCAST, H1, &ARP_REQUEST)),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP who-has 192.168.100.102 tell 192.168.100.101"
        );
        assert_eq!(
            summary(&eth(H1, H2, &ARP_REPLY)),
            "02:00:00:00:00:02 > 02:00:00:00:00:01 ARP 192.168.100.102 is-at 02:00:00:00:00:02"
        );
        // Cut short: still one line, no panic.
        assert_eq!(
            summary(&eth(BCAST, H1, &ARP_REQUEST[..12])),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP len 10"
        );
    }

    #[test]
    fn icmp_echo() {
        // Echo request id 1 seq 3, 4 bytes of data (checksum not checked).
        let icmp = [8, 0, 0, 0, 0, 1, 0, 3, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(
            summary(&eth(H2, H1, &ipv4(1, &icmp))),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 192.168.100.101 > 192.168.100.102 ICMP echo request id 1 seq 3"
        );
        let reply = [0, 0, 0, 0, 0, 1, 0, 3];
        assert!(summary(&eth(H2, H1, &ipv4(1, &reply))).ends_with("ICMP echo reply id 1 seq 3"));
    }

    #[test]
    fn icmpv6_echo() {
        let mut p = Vec::from([0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 58, 64]);
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[128, 0, 0, 0, 0, 7, 0, 9]);
        assert_eq!(
            summary(&eth(H2, H1, &p)),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 IPv6 fe80::1 > fe80::2 ICMP6 echo request id 7 seq 9"
        );
    }

    #[test]
    fn udp() {
        let mut udp = Vec::from([0x13, 0x88, 0x17, 0x70, 0, 72, 0, 0]); // 5000 -> 6000, len 8+64
        udp.extend_from_slice(&[0xab; 64]);
        assert_eq!(
            summary(&eth(H2, H1, &ipv4(17, &udp))),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 UDP 192.168.100.101:5000 > 192.168.100.102:6000 len 64"
        );
    }

    #[test]
    fn tcp_syn_and_syn_ack() {
        // 40000 -> 80, seq 1000, SYN, data offset 5.
        let syn = [
            0x9c, 0x40, 0, 80, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        assert_eq!(
            summary(&eth(H2, H1, &ipv4(6, &syn))),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 TCP 192.168.100.101:40000 > 192.168.100.102:80 [S] seq 1000 len 0"
        );
        let mut syn_ack = syn;
        syn_ack[13] = 0x12;
        syn_ack[8..12].copy_from_slice(&1001u32.to_be_bytes());
        assert!(summary(&eth(H2, H1, &ipv4(6, &syn_ack))).ends_with("[S.] seq 1000 ack 1001 len 0"));
    }

    #[test]
    fn vlan_and_qinq() {
        let mut tagged = Vec::from([0x81, 0x00, 0xa0, 0x0a]); // pcp 5, vid 10
        tagged.extend_from_slice(&ARP_REQUEST);
        assert_eq!(
            summary(&eth(BCAST, H1, &tagged)),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff vlan 10 (pcp 5) ARP who-has 192.168.100.102 tell 192.168.100.101"
        );
        let mut qinq = Vec::from([0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x14]);
        qinq.extend_from_slice(&[0x12, 0x34, 1, 2, 3]);
        assert_eq!(
            summary(&eth(BCAST, H1, &qinq)),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff 802.1ad vlan 100 (pcp 0) vlan 20 (pcp 0) ethertype 0x1234 len 3"
        );
        assert_eq!(
            summary(&eth(BCAST, H1, &[0x81, 0x00, 0x00])),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff vlan (truncated)"
        );
    }

    #[test]
    fn bpdu_and_lldp() {
        // 802.3 length 38, LLC 42 42 03, protocol 0, version 2 (RSTP), type 2.
        let mut bpdu = Vec::from([0x00, 0x27, 0x42, 0x42, 0x03, 0, 0, 2, 2]);
        bpdu.extend_from_slice(&[0; 32]);
        assert_eq!(
            summary(&eth([0x01, 0x80, 0xc2, 0, 0, 0], H1, &bpdu)),
            "02:00:00:00:00:01 > 01:80:c2:00:00:00 STP BPDU (RSTP)"
        );
        let lldp = [0x88, 0xcc, 0x02, 0x07, 0x04, 2, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(
            summary(&eth([0x01, 0x80, 0xc2, 0, 0, 0x0e], H1, &lldp)),
            "02:00:00:00:00:01 > 01:80:c2:00:00:0e LLDP len 11"
        );
    }

    #[test]
    fn runts_and_other_ethertypes() {
        assert_eq!(summary(&[]), "runt (0 bytes)");
        assert_eq!(summary(&[1, 2, 3, 4, 5]), "runt (5 bytes)");
        assert_eq!(
            summary(&eth(H2, H1, &[0x12, 0x34, 9, 9])),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 ethertype 0x1234 len 2"
        );
    }

    #[test]
    fn garbage_never_panics() {
        // Every prefix of every interesting frame, and a pseudo-random byte soup
        // with IP and tag ethertypes planted in it.
        let mut frames = Vec::from([
            eth(BCAST, H1, &ARP_REQUEST),
            eth(H2, H1, &ipv4(6, &[0x50; 40])),
            eth(H2, H1, &ipv4(17, &[0xff; 12])),
            eth(H2, H1, &[0x86, 0xdd, 0x60, 0, 0, 0, 0xff, 0xff, 6, 64]),
            eth(
                H2,
                H1,
                &[
                    0x81, 0, 0, 1, 0x88, 0xa8, 0, 2, 0x91, 0, 0, 3, 0x08, 0, 0x4f,
                ],
            ),
        ]);
        let mut x: u32 = 0x1234_5678;
        for n in 0..2000 {
            let mut f = Vec::new();
            for _ in 0..(n % 97) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                f.push(x as u8);
            }
            if f.len() > 14 {
                let t: [u8; 2] = [[0x08, 0x00], [0x86, 0xdd], [0x81, 0x00], [0x08, 0x06]][n % 4];
                f[12..14].copy_from_slice(&t);
                f[14] = if n % 3 == 0 {
                    0x45
                } else {
                    0x60 | f[14] & 0x0f
                };
            }
            frames.push(f);
        }
        for f in &frames {
            for len in 0..=f.len() {
                let s = summary(&f[..len]);
                assert!(!s.is_empty() && !s.contains('\n'));
            }
        }
    }

    #[test]
    fn trace_lines() {
        let frame = eth(BCAST, H1, &ARP_REQUEST);
        let line = TraceLine {
            time_ns: 1_000_123_456,
            switch: "s1",
            ingress: "h1",
            frame: &frame,
            verdict: Verdict::Flood(FloodKind::Broadcast),
            egress: &["h2", "h3", "h4"],
        };
        assert_eq!(
            line.to_string(),
            "   1.000123456 s1 in=h1 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP who-has 192.168.100.102 tell 192.168.100.101 -> flood [h2 h3 h4]"
        );
        let unicast = TraceLine {
            time_ns: 12,
            verdict: Verdict::Unicast(PortId(1)),
            egress: &["h2"],
            ..line
        };
        assert!(unicast.to_string().starts_with("   0.000000012 s1 in=h1 "));
        assert!(unicast.to_string().ends_with(" -> unicast [h2]"));
        let drop = TraceLine {
            verdict: Verdict::Drop(DropReason::SamePort),
            egress: &[],
            ..line
        };
        assert!(drop.to_string().ends_with(" -> drop (same-port)"));
        let unknown = TraceLine {
            verdict: Verdict::Flood(FloodKind::UnknownUnicast),
            egress: &[],
            ..line
        };
        assert!(unknown.to_string().ends_with(" -> flood unknown []"));
    }
}
