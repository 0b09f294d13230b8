//! IGMP (v1, v2, v3) and MLD (v1, v2) messages, as a snooping switch reads
//! and writes them: [`classify`] sorts the IP part of a multicast frame into
//! data for a group, a membership message, or neither, and [`igmp_query`] /
//! [`mld_query`] build the queries of the switch's own querier.
//!
//! Every field is read after one length check (or through `get`), so no byte
//! sequence can make [`classify`] panic; a membership message that fails its
//! checks (length, checksum, a group that is not multicast) is
//! [`Packet::Bad`], which the switch drops and counts.
//!
//! IGMPv3 and MLDv2 source lists are read but not kept: the switch snoops
//! (*,G) only, as the Linux bridge does with `mcast_igmp_version 2`. A record
//! that asks for any source (EXCLUDE, or INCLUDE with sources) joins the
//! group; INCLUDE with no source (a v3 leave) leaves it; BLOCK changes nothing.
//!
//! ```
//! use vswitch_core::igmp::{classify, Packet, Message};
//! use vswitch_core::frame::ETHERTYPE_IPV4;
//! use vswitch_core::MacAddr;
//! use core::net::Ipv4Addr;
//! let mut query = Vec::new();
//! vswitch_core::igmp::igmp_query(MacAddr([2, 0, 0, 0, 0, 9]), Ipv4Addr::new(10, 0, 0, 9), None, 10_000, &mut query);
//! match classify(ETHERTYPE_IPV4, &query[14..]) {
//!     Packet::Control(Message::Query { querier, group: None, .. }) => assert_eq!(querier.to_string(), "10.0.0.9"),
//!     other => panic!("{other:?}"),
//! }
//! ```

use crate::frame::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::mac::MacAddr;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of IGMP.
const PROTO_IGMP: u8 = 2;
/// IPv6 next-header number of ICMPv6.
const PROTO_ICMPV6: u8 = 58;
/// IPv6 extension headers walked over to find ICMPv6: hop-by-hop, routing,
/// destination options.
const EXT_HOP_BY_HOP: u8 = 0;
const EXT_ROUTING: u8 = 43;
const EXT_DEST_OPTS: u8 = 60;
/// Most extension headers looked through.
const MAX_EXT_HEADERS: usize = 8;

const IGMP_QUERY: u8 = 0x11;
const IGMP_V1_REPORT: u8 = 0x12;
const IGMP_V2_REPORT: u8 = 0x16;
const IGMP_LEAVE: u8 = 0x17;
const IGMP_V3_REPORT: u8 = 0x22;
const MLD_QUERY: u8 = 130;
const MLD_V1_REPORT: u8 = 131;
const MLD_DONE: u8 = 132;
const MLD_V2_REPORT: u8 = 143;

/// IPv4 header fields.
const IPV4_MIN_HEADER: usize = 20;
const IPV4_TOTAL_LEN: usize = 2;
const IPV4_FRAGMENT: usize = 6;
const IPV4_PROTOCOL: usize = 9;
const IPV4_SRC: usize = 12;
const IPV4_DST: usize = 16;
/// IPv6 header fields.
const IPV6_HEADER: usize = 40;
const IPV6_PAYLOAD_LEN: usize = 4;
const IPV6_NEXT: usize = 6;
const IPV6_SRC: usize = 8;
const IPV6_DST: usize = 24;
/// An IGMPv1/v2 message; an IGMPv3 query is at least this long.
const IGMP_LEN: usize = 8;
const IGMP_V3_QUERY_LEN: usize = 12;
/// An MLDv1 message; an MLDv2 query is at least this long.
const MLD_LEN: usize = 24;
const MLD_V2_QUERY_LEN: usize = 28;

/// What the IP part of a multicast frame is to a snooping switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Not IP multicast, or not something snooping looks at (another IGMP
    /// type, a fragment): forwarded as multicast always was.
    Other,
    /// IP multicast data to this group.
    Data(IpAddr),
    /// An IGMP or MLD message.
    Control(Message<'a>),
    /// An IGMP or MLD message that fails its checks: dropped and counted.
    Bad,
}

/// An IGMP or MLD message, summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A general (`group` `None`) or group-specific query.
    Query {
        /// The IP source: the querier, for the election.
        querier: IpAddr,
        /// The group asked about.
        group: Option<IpAddr>,
        /// Maximum response time, ms.
        max_resp_ms: u32,
    },
    /// Membership reports: joins (and, in v3 records, leaves).
    Report(Records<'a>),
    /// An IGMPv2 leave or an MLDv1 done.
    Leave(IpAddr),
}

/// What one report record asks for a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// Receive the group.
    Join,
    /// Stop receiving it (INCLUDE with no source).
    Leave,
    /// Nothing a (*,G) table acts on (BLOCK of some sources).
    Nothing,
}

/// The records of a report, checked when it was classified: iterating
/// cannot fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records<'a> {
    /// A v1/v2 report: one join.
    Single(IpAddr),
    /// IGMPv3 (`v6` false) or MLDv2 records: `count` of them in `bytes`.
    V3 {
        /// The records' bytes.
        bytes: &'a [u8],
        /// Their number.
        count: u16,
        /// MLDv2 (16-byte addresses) rather than IGMPv3.
        v6: bool,
    },
}

impl<'a> IntoIterator for Records<'a> {
    type Item = (IpAddr, RecordKind);
    type IntoIter = RecordIter<'a>;
    fn into_iter(self) -> RecordIter<'a> {
        RecordIter {
            records: self,
            at: 0,
            left: match self {
                Records::Single(_) => 1,
                Records::V3 { count, .. } => count,
            },
        }
    }
}

/// Iterator over [`Records`].
#[derive(Clone, Debug)]
pub struct RecordIter<'a> {
    records: Records<'a>,
    at: usize,
    left: u16,
}

impl Iterator for RecordIter<'_> {
    type Item = (IpAddr, RecordKind);
    fn next(&mut self) -> Option<(IpAddr, RecordKind)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.records {
            Records::Single(g) => Some((g, RecordKind::Join)),
            Records::V3 { bytes, v6, .. } => {
                let (rec, len) = v3_record(bytes.get(self.at..)?, v6)?;
                self.at += len;
                Some(rec)
            }
        }
    }
}

/// One IGMPv3/MLDv2 group record at the start of `b`: (group, kind) and its
/// length, or `None` if `b` does not hold it all.
fn v3_record(b: &[u8], v6: bool) -> Option<((IpAddr, RecordKind), usize)> {
    let addr_len = if v6 { 16 } else { 4 };
    let kind = *b.first()?;
    let aux_words = usize::from(*b.get(1)?);
    let sources = usize::from(crate::frame::be16(b, 2)?);
    let len = 4 + addr_len * (1 + sources) + 4 * aux_words;
    let group = ip_at(b, 4, v6)?;
    if b.len() < len {
        return None;
    }
    // 1 MODE_IS_INCLUDE, 2 MODE_IS_EXCLUDE, 3 CHANGE_TO_INCLUDE,
    // 4 CHANGE_TO_EXCLUDE, 5 ALLOW_NEW_SOURCES, 6 BLOCK_OLD_SOURCES.
    let what = match (kind, sources) {
        (1 | 3, 0) => RecordKind::Leave,
        (1..=5, _) => RecordKind::Join,
        _ => RecordKind::Nothing,
    };
    Some(((group, what), len))
}

/// The IPv4 or IPv6 address at `at` of `b`.
fn ip_at(b: &[u8], at: usize, v6: bool) -> Option<IpAddr> {
    if v6 {
        let a: [u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(a)))
    } else {
        let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(a)))
    }
}

/// The Internet checksum's one's-complement sum of `b`, added to `sum`.
fn sum16(mut sum: u32, b: &[u8]) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds a sum into the 16-bit checksum field value.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The IPv6 pseudo-header sum of an ICMPv6 message of `len` bytes.
fn pseudo_v6(src: &[u8], dst: &[u8], len: usize) -> u32 {
    let sum = sum16(sum16(0, src), dst);
    sum + (len as u32 >> 16) + (len as u32 & 0xffff) + u32::from(PROTO_ICMPV6)
}

/// Sorts the IP part `l3` of a multicast frame whose ethertype (after any
/// tag the switch acts on) is `ethertype`. Never panics.
pub fn classify(ethertype: u16, l3: &[u8]) -> Packet<'_> {
    match ethertype {
        ETHERTYPE_IPV4 => classify_v4(l3),
        ETHERTYPE_IPV6 => classify_v6(l3),
        _ => Packet::Other,
    }
}

fn classify_v4(l3: &[u8]) -> Packet<'_> {
    if l3.len() < IPV4_MIN_HEADER || l3[0] >> 4 != 4 {
        return Packet::Other;
    }
    let dst = Ipv4Addr::new(
        l3[IPV4_DST],
        l3[IPV4_DST + 1],
        l3[IPV4_DST + 2],
        l3[IPV4_DST + 3],
    );
    if !dst.is_multicast() {
        return Packet::Other;
    }
    if l3[IPV4_PROTOCOL] != PROTO_IGMP {
        return Packet::Data(IpAddr::V4(dst));
    }
    let header = usize::from(l3[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([
        l3[IPV4_TOTAL_LEN],
        l3[IPV4_TOTAL_LEN + 1],
    ]));
    let fragment = u16::from_be_bytes([l3[IPV4_FRAGMENT], l3[IPV4_FRAGMENT + 1]]) & 0x3fff;
    if header < IPV4_MIN_HEADER || total < header || total > l3.len() || fragment != 0 {
        return Packet::Bad;
    }
    let src = IpAddr::V4(Ipv4Addr::new(
        l3[IPV4_SRC],
        l3[IPV4_SRC + 1],
        l3[IPV4_SRC + 2],
        l3[IPV4_SRC + 3],
    ));
    igmp(src, &l3[header..total]).unwrap_or(Packet::Bad)
}

/// An IGMP message from `src`; `None` if it fails a check.
fn igmp(src: IpAddr, m: &[u8]) -> Option<Packet<'_>> {
    if m.len() < IGMP_LEN || fold(sum16(0, m)) != 0 {
        return None;
    }
    let group = ip_at(m, 4, false)?;
    let multicast = group.is_multicast();
    Some(Packet::Control(match m[0] {
        IGMP_QUERY => {
            let max_resp_ms = if m.len() >= IGMP_V3_QUERY_LEN {
                code_to_ms(u32::from(m[1]), 8) * 100
            } else if m.len() == IGMP_LEN {
                // 0 is an IGMPv1 query: 10 s.
                (if m[1] == 0 { 100 } else { u32::from(m[1]) }) * 100
            } else {
                return None;
            };
            query(src, group, max_resp_ms)?
        }
        IGMP_V1_REPORT | IGMP_V2_REPORT if multicast => Message::Report(Records::Single(group)),
        IGMP_LEAVE if multicast => Message::Leave(group),
        IGMP_V3_REPORT => Message::Report(v3_records(m, false)?),
        IGMP_V1_REPORT | IGMP_V2_REPORT | IGMP_LEAVE => return None,
        _ => return Some(Packet::Other),
    }))
}

/// The checked records of an IGMPv3/MLDv2 report `m` (count at 6, records
/// from 8).
fn v3_records(m: &[u8], v6: bool) -> Option<Records<'_>> {
    let count = crate::frame::be16(m, 6)?;
    let bytes = m.get(8..)?;
    let mut at = 0;
    for _ in 0..count {
        let ((group, _), len) = v3_record(bytes.get(at..)?, v6)?;
        if !group.is_multicast() {
            return None;
        }
        at += len;
    }
    Some(Records::V3 { bytes, count, v6 })
}

/// A max-response or interval code of IGMPv3/MLDv2: a plain number below
/// 2^(`bits`-1), else a floating-point form (RFC 3376 4.1.1, RFC 3810 5.1.3).
fn code_to_ms(code: u32, bits: u32) -> u32 {
    let (exp_bits, mant_bits) = if bits == 8 { (3, 4) } else { (3, 12) };
    if code < 1 << (bits - 1) {
        return code;
    }
    let exp = (code >> mant_bits) & ((1 << exp_bits) - 1);
    let mant = code & ((1 << mant_bits) - 1);
    ((mant | 1 << mant_bits) << (exp + 3)).min(u32::MAX >> 8)
}

fn classify_v6(l3: &[u8]) -> Packet<'_> {
    if l3.len() < IPV6_HEADER || l3[0] >> 4 != 6 {
        return Packet::Other;
    }
    let Some(IpAddr::V6(dst)) = ip_at(l3, IPV6_DST, true) else {
        return Packet::Other;
    };
    if !dst.is_multicast() {
        return Packet::Other;
    }
    let payload = usize::from(u16::from_be_bytes([
        l3[IPV6_PAYLOAD_LEN],
        l3[IPV6_PAYLOAD_LEN + 1],
    ]));
    let end = (IPV6_HEADER + payload).min(l3.len());
    let mut next = l3[IPV6_NEXT];
    let mut at = IPV6_HEADER;
    for _ in 0..MAX_EXT_HEADERS {
        if !matches!(next, EXT_HOP_BY_HOP | EXT_ROUTING | EXT_DEST_OPTS) {
            break;
        }
        let (Some(&n), Some(&len)) = (l3.get(at), l3.get(at + 1)) else {
            return Packet::Data(IpAddr::V6(dst));
        };
        next = n;
        at += (usize::from(len) + 1) * 8;
    }
    if next != PROTO_ICMPV6 {
        return Packet::Data(IpAddr::V6(dst));
    }
    let Some(m) = l3.get(at..end) else {
        return Packet::Data(IpAddr::V6(dst));
    };
    match m.first() {
        Some(&(MLD_QUERY | MLD_V1_REPORT | MLD_DONE | MLD_V2_REPORT)) => {}
        _ => return Packet::Data(IpAddr::V6(dst)),
    }
    if IPV6_HEADER + payload > l3.len() {
        return Packet::Bad;
    }
    let pseudo = pseudo_v6(&l3[IPV6_SRC..IPV6_DST], &l3[IPV6_DST..IPV6_HEADER], m.len());
    if fold(sum16(pseudo, m)) != 0 {
        return Packet::Bad;
    }
    let Some(src) = ip_at(l3, IPV6_SRC, true) else {
        return Packet::Bad;
    };
    mld(src, m).unwrap_or(Packet::Bad)
}

/// An MLD message from `src` whose checksum is right; `None` if it fails a
/// check.
fn mld(src: IpAddr, m: &[u8]) -> Option<Packet<'_>> {
    if m[0] == MLD_V2_REPORT {
        return Some(Packet::Control(Message::Report(v3_records(m, true)?)));
    }
    if m.len() < MLD_LEN {
        return None;
    }
    let group = ip_at(m, 8, true)?;
    let multicast = group.is_multicast();
    Some(Packet::Control(match m[0] {
        MLD_QUERY => {
            let code = u32::from(crate::frame::be16(m, 4)?);
            let max_resp_ms = if m.len() >= MLD_V2_QUERY_LEN {
                code_to_ms(code, 16)
            } else if m.len() == MLD_LEN {
                code
            } else {
                return None;
            };
            query(src, group, max_resp_ms)?
        }
        MLD_V1_REPORT if multicast => Message::Report(Records::Single(group)),
        MLD_DONE if multicast => Message::Leave(group),
        _ => return None,
    }))
}

/// The Ethernet group address an IP multicast group is sent to: 01:00:5e
/// and the low 23 bits for IPv4, 33:33 and the low 32 bits for IPv6.
pub fn group_mac(group: IpAddr) -> MacAddr {
    match group {
        IpAddr::V4(g) => {
            let o = g.octets();
            MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
        }
        IpAddr::V6(g) => {
            let o = g.octets();
            MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
        }
    }
}

/// The link-local IPv6 address (fe80::/64, modified EUI-64) of `mac`: the
/// source of the switch's own MLD queries, which hosts only accept from a
/// link-local address.
pub fn link_local_v6(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

fn ethernet(out: &mut Vec<u8>, dst: MacAddr, src: MacAddr, ethertype: u16) {
    out.clear();
    out.extend_from_slice(&dst.0);
    out.extend_from_slice(&src.0);
    out.extend_from_slice(&ethertype.to_be_bytes());
}

/// Builds into `out` an IGMPv2 query (general when `group` is `None`, else
/// for `group`, sent to the group itself) from `src_mac`/`src_ip`, with the
/// Router Alert option and TTL 1, asking for answers within `max_resp_ms`.
pub fn igmp_query(
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    group: Option<Ipv4Addr>,
    max_resp_ms: u32,
    out: &mut Vec<u8>,
) {
    let dst = group.unwrap_or(Ipv4Addr::new(224, 0, 0, 1));
    ethernet(out, group_mac(IpAddr::V4(dst)), src_mac, ETHERTYPE_IPV4);
    let ip_at = out.len();
    // Version 4, 24-byte header; internetwork control; 32 bytes in all; TTL 1.
    out.extend_from_slice(&[0x46, 0xc0, 0, 32, 0, 0, 0, 0, 1, PROTO_IGMP, 0, 0]);
    out.extend_from_slice(&src_ip.octets());
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(&[0x94, 0x04, 0, 0]); // Router Alert
    let sum = fold(sum16(0, &out[ip_at..]));
    out[ip_at + 10..ip_at + 12].copy_from_slice(&sum.to_be_bytes());
    let igmp_at = out.len();
    let tenths = (max_resp_ms / 100).clamp(1, 255) as u8;
    out.extend_from_slice(&[IGMP_QUERY, tenths, 0, 0]);
    out.extend_from_slice(&group.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    let sum = fold(sum16(0, &out[igmp_at..]));
    out[igmp_at + 2..igmp_at + 4].copy_from_slice(&sum.to_be_bytes());
}

/// Builds into `out` an MLDv1 query (general when `group` is `None`, else
/// for `group`, sent to the group itself) from `src_mac`/`src_ip` (a
/// link-local address), with a hop-by-hop Router Alert and hop limit 1.
pub fn mld_query(
    src_mac: MacAddr,
    src_ip: Ipv6Addr,
    group: Option<Ipv6Addr>,
    max_resp_ms: u32,
    out: &mut Vec<u8>,
) {
    let dst = group.unwrap_or(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
    ethernet(out, group_mac(IpAddr::V6(dst)), src_mac, ETHERTYPE_IPV6);
    let ip_at = out.len();
    // Payload: 8 bytes of hop-by-hop header, 24 of MLD.
    out.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, EXT_HOP_BY_HOP, 1]);
    out.extend_from_slice(&src_ip.octets());
    out.extend_from_slice(&dst.octets());
    // Next ICMPv6, 8 bytes; Router Alert (MLD); PadN of 2.
    out.extend_from_slice(&[PROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0]);
    let mld_at = out.len();
    let delay = max_resp_ms.min(u32::from(u16::MAX)) as u16;
    out.extend_from_slice(&[MLD_QUERY, 0, 0, 0]);
    out.extend_from_slice(&delay.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&group.unwrap_or(Ipv6Addr::UNSPECIFIED).octets());
    let pseudo = pseudo_v6(&src_ip.octets(), &dst.octets(), MLD_LEN);
    let sum = fold(sum16(pseudo, &out[mld_at..]));
    out[mld_at + 2..mld_at + 4].copy_from_slice(&sum.to_be_bytes());
    debug_assert_eq!(out.len(), ip_at + IPV6_HEADER + 32);
}

/// Builds test and simulator frames: membership messages as hosts send them.
pub mod build {
    use super::*;

    /// An IGMPv2 report (`leave` false, sent to the group) or leave (sent to
    /// 224.0.0.2) for `group` from `src_mac`/`src_ip`.
    pub fn igmp_v2(src_mac: MacAddr, src_ip: Ipv4Addr, group: Ipv4Addr, leave: bool) -> Vec<u8> {
        let dst = if leave {
            Ipv4Addr::new(224, 0, 0, 2)
        } else {
            group
        };
        let kind = if leave { IGMP_LEAVE } else { IGMP_V2_REPORT };
        let mut body = alloc::vec![kind, 0, 0, 0];
        body.extend_from_slice(&group.octets());
        ipv4(src_mac, src_ip, dst, PROTO_IGMP, body)
    }

    /// An IGMPv3 report to 224.0.0.22 with one record of `kind` (1..=6) for
    /// `group` with `sources`.
    pub fn igmp_v3(
        src_mac: MacAddr,
        src_ip: Ipv4Addr,
        group: Ipv4Addr,
        kind: u8,
        sources: &[Ipv4Addr],
    ) -> Vec<u8> {
        let mut body = alloc::vec![IGMP_V3_REPORT, 0, 0, 0, 0, 0, 0, 1, kind, 0];
        body.extend_from_slice(&(sources.len() as u16).to_be_bytes());
        body.extend_from_slice(&group.octets());
        for s in sources {
            body.extend_from_slice(&s.octets());
        }
        ipv4(
            src_mac,
            src_ip,
            Ipv4Addr::new(224, 0, 0, 22),
            PROTO_IGMP,
            body,
        )
    }

    /// A UDP-like datagram (protocol 17, any payload) to `group`.
    pub fn data_v4(src_mac: MacAddr, src_ip: Ipv4Addr, group: Ipv4Addr, len: usize) -> Vec<u8> {
        ipv4(src_mac, src_ip, group, 17, alloc::vec![0; len])
    }

    /// An IPv4 frame, checksums filled in (the message's at 2..4 if IGMP).
    pub fn ipv4(
        src_mac: MacAddr,
        src_ip: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        mut body: Vec<u8>,
    ) -> Vec<u8> {
        if proto == PROTO_IGMP && body.len() >= 4 {
            let sum = fold(sum16(0, &body));
            body[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        let mut out = Vec::new();
        ethernet(
            &mut out,
            group_mac(IpAddr::V4(dst)),
            src_mac,
            ETHERTYPE_IPV4,
        );
        let total = (20 + body.len()) as u16;
        let t = total.to_be_bytes();
        out.extend_from_slice(&[0x45, 0, t[0], t[1], 0, 0, 0, 0, 1, proto, 0, 0]);
        out.extend_from_slice(&src_ip.octets());
        out.extend_from_slice(&dst.octets());
        let sum = fold(sum16(0, &out[14..34]));
        out[24..26].copy_from_slice(&sum.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// An MLD message of `kind` (131 report, 132 done, with `group`; 143 a
    /// v2 report with one record of `record` for `group`) from `src_ip`.
    pub fn mld(
        src_mac: MacAddr,
        src_ip: Ipv6Addr,
        group: Ipv6Addr,
        kind: u8,
        record: u8,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        let dst = match kind {
            MLD_V2_REPORT => {
                body.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 1, record, 0, 0, 0]);
                body.extend_from_slice(&group.octets());
                Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16)
            }
            _ => {
                body.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0]);
                body.extend_from_slice(&group.octets());
                if kind == MLD_DONE {
                    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2)
                } else {
                    group
                }
            }
        };
        let pseudo = pseudo_v6(&src_ip.octets(), &dst.octets(), body.len());
        let sum = fold(sum16(pseudo, &body));
        body[2..4].copy_from_slice(&sum.to_be_bytes());
        ipv6(src_mac, src_ip, dst, PROTO_ICMPV6, &body)
    }

    /// An IPv6 frame with no extension header.
    pub fn ipv6(
        src_mac: MacAddr,
        src_ip: Ipv6Addr,
        dst: Ipv6Addr,
        next: u8,
        body: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        ethernet(
            &mut out,
            group_mac(IpAddr::V6(dst)),
            src_mac,
            ETHERTYPE_IPV6,
        );
        let len = (body.len() as u16).to_be_bytes();
        out.extend_from_slice(&[0x60, 0, 0, 0, len[0], len[1], next, 1]);
        out.extend_from_slice(&src_ip.octets());
        out.extend_from_slice(&dst.octets());
        out.extend_from_slice(body);
        out
    }
}

/// A query from `src`: a general one (group unspecified) or for a multicast
/// group; `None` for any other group address.
fn query<'a>(src: IpAddr, group: IpAddr, max_resp_ms: u32) -> Option<Message<'a>> {
    let group = if group.is_unspecified() {
        None
    } else if group.is_multicast() {
        Some(group)
    } else {
        return None;
    };
    Some(Message::Query {
        querier: src,
        group,
        max_resp_ms,
    })
}

#[cfg(test)]
mod test {
    use super::build::{data_v4, igmp_v2, igmp_v3, mld as mld_msg};
    use super::*;
    use alloc::string::ToString;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
    const H: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn l3(f: &[u8]) -> Packet<'_> {
        classify(u16::from_be_bytes([f[12], f[13]]), &f[14..])
    }

    fn records(p: Packet<'_>) -> Vec<(IpAddr, RecordKind)> {
        match p {
            Packet::Control(Message::Report(r)) => r.into_iter().collect(),
            other => panic!("not a report: {other:?}"),
        }
    }

    #[test]
    fn igmp_v2_report_and_leave() {
        assert_eq!(
            records(l3(&igmp_v2(MAC, H, G, false))),
            [(IpAddr::V4(G), RecordKind::Join)]
        );
        assert_eq!(
            l3(&igmp_v2(MAC, H, G, true)),
            Packet::Control(Message::Leave(IpAddr::V4(G)))
        );
    }

    #[test]
    fn igmp_v3_records() {
        let g = IpAddr::V4(G);
        assert_eq!(
            records(l3(&igmp_v3(MAC, H, G, 4, &[]))),
            [(g, RecordKind::Join)]
        );
        assert_eq!(
            records(l3(&igmp_v3(MAC, H, G, 3, &[]))),
            [(g, RecordKind::Leave)]
        );
        assert_eq!(
            records(l3(&igmp_v3(MAC, H, G, 5, &[H]))),
            [(g, RecordKind::Join)]
        );
        assert_eq!(
            records(l3(&igmp_v3(MAC, H, G, 6, &[H]))),
            [(g, RecordKind::Nothing)]
        );
    }

    #[test]
    fn bad_checksums_lengths_and_groups_are_bad() {
        let mut f = igmp_v2(MAC, H, G, false);
        f[14 + 20 + 3] ^= 1;
        assert_eq!(l3(&f), Packet::Bad);
        let f = igmp_v3(MAC, H, Ipv4Addr::new(10, 1, 1, 1), 4, &[]);
        assert_eq!(l3(&f), Packet::Bad, "a report for a unicast group");
        // A v3 report announcing more sources than it holds.
        let mut f = igmp_v3(MAC, H, G, 4, &[H]);
        f[14 + 20 + 11] = 9;
        assert_eq!(l3(&f), Packet::Bad);
        // Every truncation of a report is either not IGMP or bad, never a panic.
        let f = igmp_v3(MAC, H, G, 4, &[H, H]);
        for n in 14..f.len() {
            assert!(matches!(l3(&f[..n]), Packet::Bad | Packet::Other), "{n}");
        }
        let f = mld_msg(
            MAC,
            link_local_v6(MAC),
            "ff15::1234".parse().unwrap(),
            143,
            4,
        );
        for n in 14..f.len() {
            let p = l3(&f[..n]);
            assert!(
                matches!(p, Packet::Bad | Packet::Other | Packet::Data(_)),
                "{n}: {p:?}"
            );
        }
    }

    #[test]
    fn data_and_other() {
        assert_eq!(l3(&data_v4(MAC, H, G, 10)), Packet::Data(IpAddr::V4(G)));
        let unicast = data_v4(MAC, H, H, 10);
        assert_eq!(l3(&unicast), Packet::Other);
        assert_eq!(classify(0x0806, &[0; 28]), Packet::Other);
    }

    #[test]
    fn mld_messages() {
        let g: Ipv6Addr = "ff15::1234".parse().unwrap();
        let src = link_local_v6(MAC);
        assert_eq!(
            records(l3(&mld_msg(MAC, src, g, 131, 0))),
            [(IpAddr::V6(g), RecordKind::Join)]
        );
        assert_eq!(
            l3(&mld_msg(MAC, src, g, 132, 0)),
            Packet::Control(Message::Leave(IpAddr::V6(g)))
        );
        assert_eq!(
            records(l3(&mld_msg(MAC, src, g, 143, 3))),
            [(IpAddr::V6(g), RecordKind::Leave)]
        );
        let mut f = mld_msg(MAC, src, g, 131, 0);
        let n = f.len();
        f[n - 1] ^= 1;
        assert_eq!(l3(&f), Packet::Bad);
    }

    #[test]
    fn own_queries_read_back() {
        let mut out = Vec::new();
        igmp_query(MAC, Ipv4Addr::UNSPECIFIED, Some(G), 1000, &mut out);
        assert_eq!(&out[..6], &[0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
        assert_eq!(
            l3(&out),
            Packet::Control(Message::Query {
                querier: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                group: Some(IpAddr::V4(G)),
                max_resp_ms: 1000
            })
        );
        let src = link_local_v6(MAC);
        assert_eq!(src.to_string(), "fe80::ff:fe00:1");
        mld_query(MAC, src, None, 10_000, &mut out);
        assert_eq!(&out[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(
            l3(&out),
            Packet::Control(Message::Query {
                querier: IpAddr::V6(src),
                group: None,
                max_resp_ms: 10_000
            })
        );
    }

    #[test]
    fn v3_codes() {
        assert_eq!(code_to_ms(100, 8), 100);
        // 0x80: exp 0, mant 0 -> 16 << 3 = 128.
        assert_eq!(code_to_ms(0x80, 8), 128);
        assert_eq!(code_to_ms(10_000, 16), 10_000);
    }
}
