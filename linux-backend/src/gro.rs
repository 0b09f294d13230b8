//! Coalescing TCP segments on the way out (software GRO): consecutive segments
//! of one TCP flow that a batch sends out of one port are joined into one GSO
//! super-frame, which the kernel hands to the receiving stack whole (one
//! socket buffer, one wakeup, one ACK decision instead of dozens) or cuts back
//! into the very same segments when the egress device cannot take it.
//!
//! The rules are the kernel's GRO rules, narrowed so that cutting the
//! super-frame again ([`crate::gso::resolve`], or the kernel's
//! `tcp_gso_segment`) gives back the original frames byte for byte:
//!
//! - TCP over IPv4 (no IP options, not a fragment) or IPv6 (no extension
//!   headers), untagged or with one 802.1Q/802.1ad tag, no Ethernet padding;
//! - a checksum that is known good: the kernel verified it, or the sender left
//!   it for offload, or else it is checked here before the segment joins (as
//!   the kernel's GRO does), so a corrupted segment never comes out with a
//!   fresh, valid checksum;
//! - ACK set; no SYN, FIN, RST, URG, ECE or CWR; PSH only on the last segment;
//! - every header byte equal but the lengths, checksums, sequence number and
//!   IPv4 id; sequence numbers and IPv4 ids consecutive;
//! - every segment but the last exactly as long as the first;
//! - at most 64 KiB of IP packet.
//!
//! Only the frame queued last can grow, so frames keep their order.

use crate::gso::{fold, sum};
use crate::vnet::{VnetHdr, F_DATA_VALID, F_NEEDS_CSUM, GSO_NONE, GSO_TCPV4, GSO_TCPV6};
use std::ops::Range;
use vswitch_core::frame::{
    be16, put_be16, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, TPID_8021AD, TPID_8021Q,
    VLAN_TAG_LEN,
};

const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const TCP_HLEN: usize = 20;
const TCP_CSUM_OFFSET: u16 = 16;
const PROTO_TCP: u8 = 6;
/// TCP flag bits (byte 13 of the header).
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
/// Flags that end a flow's run of data or ask for attention: never joined.
const TCP_REFUSED: u8 = 0x01 | 0x02 | 0x04 | 0x20 | 0x40 | 0x80;
/// The largest IP packet a super-frame may become.
const MAX_IP_LEN: usize = 65535;

/// A TCP segment's shape: where its headers are and what it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    l3: usize,
    ipv4: bool,
    l4: usize,
    payload_at: usize,
    seq: u32,
    ip_id: u16,
    psh: bool,
    /// Its checksum is known good (else check it before it joins).
    checked: bool,
}

impl Segment {
    fn payload_len(&self, frame: &[u8]) -> usize {
        frame.len() - self.payload_at
    }
}

/// The frame as a segment that may be joined, or `None`.
fn segment(frame: &[u8], offload: &VnetHdr) -> Option<Segment> {
    if offload.gso_type != GSO_NONE {
        return None;
    }
    let mut l3 = ETHERNET_HEADER_LEN;
    let mut ethertype = be16(frame, 12)?;
    if ethertype == TPID_8021Q || ethertype == TPID_8021AD {
        ethertype = be16(frame, 16)?;
        l3 += VLAN_TAG_LEN;
    }
    let (ipv4, l4) = match ethertype {
        ETHERTYPE_IPV4 => {
            let ip = frame.get(l3..l3 + IPV4_HLEN)?;
            // Version 4 without options, TCP, not a fragment, no padding.
            let whole = usize::from(be16(ip, 2)?) == frame.len() - l3;
            if ip[0] != 0x45 || ip[9] != PROTO_TCP || be16(ip, 6)? & 0x3fff != 0 || !whole {
                return None;
            }
            (true, l3 + IPV4_HLEN)
        }
        ETHERTYPE_IPV6 => {
            let ip = frame.get(l3..l3 + IPV6_HLEN)?;
            let whole = usize::from(be16(ip, 4)?) == frame.len() - l3 - IPV6_HLEN;
            if ip[0] >> 4 != 6 || ip[6] != PROTO_TCP || !whole {
                return None;
            }
            (false, l3 + IPV6_HLEN)
        }
        _ => return None,
    };
    let tcp = frame.get(l4..l4 + TCP_HLEN)?;
    let payload_at = l4 + usize::from(tcp[12] >> 4) * 4;
    let flags = tcp[13];
    if payload_at < l4 + TCP_HLEN
        || payload_at >= frame.len()
        || flags & TCP_ACK == 0
        || flags & TCP_REFUSED != 0
    {
        return None;
    }
    if offload.needs_csum()
        && (usize::from(offload.csum_start) != l4 || offload.csum_offset != TCP_CSUM_OFFSET)
    {
        return None;
    }
    Some(Segment {
        l3,
        ipv4,
        l4,
        payload_at,
        seq: u32::from_be_bytes(tcp[4..8].try_into().ok()?),
        ip_id: if ipv4 { be16(frame, l3 + 4)? } else { 0 },
        psh: flags & TCP_PSH != 0,
        checked: offload.flags & (F_DATA_VALID | F_NEEDS_CSUM) != 0,
    })
}

/// True if the TCP checksum of `frame` (of shape `s`) holds.
fn checksum_holds(frame: &[u8], s: &Segment) -> bool {
    let tcp_len = (frame.len() - s.l4) as u64;
    let pseudo = if s.ipv4 {
        sum(&frame[s.l3 + 12..s.l3 + 20], 0)
    } else {
        sum(&frame[s.l3 + 8..s.l3 + 40], 0)
    } + u64::from(PROTO_TCP)
        + tcp_len;
    fold(sum(&frame[s.l4..], pseudo)) == 0xffff
}

/// True if every header byte of `a` and `b` (both of shape `s`) is equal but
/// the lengths, checksums, IPv4 id, sequence number and PSH.
fn same_flow(a: &[u8], b: &[u8], s: &Segment) -> bool {
    let (l3, l4) = (s.l3, s.l4);
    let ip_same = if s.ipv4 {
        a[l3..l3 + 2] == b[l3..l3 + 2]
            && a[l3 + 6..l3 + 10] == b[l3 + 6..l3 + 10]
            && a[l3 + 12..l4] == b[l3 + 12..l4]
    } else {
        a[l3..l3 + 4] == b[l3..l3 + 4] && a[l3 + 6..l4] == b[l3 + 6..l4]
    };
    ip_same
        && a[..l3] == b[..l3]
        && a[l4..l4 + 4] == b[l4..l4 + 4]
        && a[l4 + 8..l4 + 13] == b[l4 + 8..l4 + 13]
        && a[l4 + 13] & !TCP_PSH == b[l4 + 13] & !TCP_PSH
        && a[l4 + 14..l4 + 16] == b[l4 + 14..l4 + 16]
        && a[l4 + 18..s.payload_at] == b[l4 + 18..s.payload_at]
}

/// The super-frame being built at the end of the transmit buffer.
#[derive(Clone, Debug)]
struct Open {
    /// Where its virtio-net header starts in the buffer.
    start: usize,
    shape: Segment,
    mss: usize,
    next_seq: u32,
    next_id: u16,
}

/// Where a frame went in the transmit buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Queued as a frame of its own, its virtio-net header first.
    New(Range<usize>),
    /// Joined to the frame queued last, which now ends where the buffer ends.
    Joined,
}

/// Builds a transmit buffer of frames, each behind its virtio-net header,
/// joining TCP segments into super-frames where the rules allow.
#[derive(Clone, Debug, Default)]
pub struct Coalescer {
    open: Option<Open>,
    /// Joining is off: every frame is queued as it is.
    disabled: bool,
}

impl Coalescer {
    /// A coalescer that joins segments (`enabled`) or only queues frames.
    pub fn new(enabled: bool) -> Coalescer {
        Coalescer {
            open: None,
            disabled: !enabled,
        }
    }

    /// Forgets the open super-frame: call when the buffer is sent or cleared.
    pub fn reset(&mut self) {
        self.open = None;
    }

    /// Appends `frame` with offload state `offload` to `tx`: joined to the
    /// frame queued last if it continues it, else queued behind its own
    /// virtio-net header.
    pub fn push(&mut self, tx: &mut Vec<u8>, frame: &[u8], offload: &VnetHdr) -> Queued {
        let seg = if self.disabled {
            None
        } else {
            segment(frame, offload)
        };
        if let (Some(seg), Some(open)) = (seg, self.open.as_mut()) {
            if let Some(joined) = join(tx, open, frame, &seg) {
                if joined.closes {
                    self.open = None;
                }
                return Queued::Joined;
            }
        }
        let start = tx.len();
        tx.extend_from_slice(&offload.for_tx().to_bytes());
        tx.extend_from_slice(frame);
        self.open = seg.filter(|s| !s.psh).map(|s| Open {
            start,
            shape: s,
            mss: s.payload_len(frame),
            next_seq: s.seq.wrapping_add(s.payload_len(frame) as u32),
            next_id: s.ip_id.wrapping_add(1),
        });
        Queued::New(start..tx.len())
    }
}

struct Joined {
    /// Nothing more may join (a short segment, or PSH).
    closes: bool,
}

/// Joins `frame` (of shape `seg`) to the open super-frame at the end of `tx`,
/// if the rules allow.
fn join(tx: &mut Vec<u8>, open: &mut Open, frame: &[u8], seg: &Segment) -> Option<Joined> {
    let hdr_at = open.start;
    let at = hdr_at + crate::vnet::VNET_HDR_LEN;
    let s = open.shape;
    let len = seg.payload_len(frame);
    let head = &tx[at..];
    let fits = s.ipv4 == seg.ipv4
        && s.l3 == seg.l3
        && s.payload_at == seg.payload_at
        && seg.seq == open.next_seq
        && (!s.ipv4 || seg.ip_id == open.next_id)
        && len <= open.mss
        && head.len() - s.l3 + len <= MAX_IP_LEN
        && same_flow(head, frame, &s);
    if !fits
        || !(seg.checked || checksum_holds(frame, seg))
        || !(open.shape.checked || checksum_holds(head, &s))
    {
        return None;
    }
    open.shape.checked = true;
    tx.extend_from_slice(&frame[seg.payload_at..]);
    let head = &mut tx[at..];
    let ip_len = head.len() - s.l3;
    let tcp_len = head.len() - s.l4;
    if seg.psh {
        head[s.l4 + 13] |= TCP_PSH;
    }
    // Lengths and checksums of the whole: the IPv4 header's in full, TCP's
    // as the pseudo-header sum a sender leaves for the NIC to finish.
    let pseudo = if s.ipv4 {
        put_be16(head, s.l3 + 2, ip_len as u16);
        put_be16(head, s.l3 + 10, 0);
        let c = !fold(sum(&head[s.l3..s.l4], 0));
        put_be16(head, s.l3 + 10, c);
        sum(&head[s.l3 + 12..s.l3 + 20], 0) + u64::from(PROTO_TCP) + tcp_len as u64
    } else {
        put_be16(head, s.l3 + 4, tcp_len as u16);
        sum(&head[s.l3 + 8..s.l3 + 40], 0) + u64::from(PROTO_TCP) + tcp_len as u64
    };
    put_be16(head, s.l4 + 16, fold(pseudo));
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if s.ipv4 { GSO_TCPV4 } else { GSO_TCPV6 },
        hdr_len: s.payload_at as u16,
        gso_size: open.mss as u16,
        csum_start: s.l4 as u16,
        csum_offset: TCP_CSUM_OFFSET,
    };
    tx[hdr_at..at].copy_from_slice(&hdr.to_bytes());
    open.next_seq = open.next_seq.wrapping_add(len as u32);
    open.next_id = open.next_id.wrapping_add(1);
    Some(Joined {
        closes: seg.psh || len < open.mss,
    })
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::gso;
    use crate::vnet::VNET_HDR_LEN;
    use proptest::prelude::*;

    const ACK: u8 = TCP_ACK;
    const PSH: u8 = TCP_PSH;
    const VALID: VnetHdr = VnetHdr {
        flags: F_DATA_VALID,
        ..VnetHdr::NONE
    };

    /// How a test segment looks.
    #[derive(Clone, Debug)]
    struct Seg {
        v6: bool,
        tag: bool,
        /// Picks the source port: segments of different flows never join.
        flow: u8,
        seq: u32,
        id: u16,
        flags: u8,
        /// The timestamp option's value: a change keeps segments apart.
        ts: u32,
        len: usize,
    }

    impl Seg {
        fn v4(seq: u32, id: u16, flags: u8, len: usize) -> Seg {
            Seg {
                v6: false,
                tag: false,
                flow: 0,
                seq,
                id,
                flags,
                ts: 7,
                len,
            }
        }
    }

    /// The segment on the wire, every checksum right.
    fn frame(s: &Seg) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 1, 2, 2, 0, 0, 0, 1, 1];
        if s.tag {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        }
        let l3 = f.len() + 2;
        let tcp_len = 32 + s.len;
        if s.v6 {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            f.extend_from_slice(&[PROTO_TCP, 64]);
            f.extend((0..32).map(|i| if i < 16 { 0xfd } else { i as u8 }));
        } else {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
            f.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
            f.extend_from_slice(&s.id.to_be_bytes());
            f.extend_from_slice(&[
                0x40, 0, 64, PROTO_TCP, 0, 0, 192, 168, 100, 101, 192, 168, 100, 102,
            ]);
            let c = !fold(sum(&f[l3..l3 + 20], 0));
            put_be16(&mut f, l3 + 10, c);
        }
        let l4 = f.len();
        f.extend_from_slice(&[0x9c, 0x40 + s.flow, 0x14, 0x51]);
        f.extend_from_slice(&s.seq.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x30, 0x39, 0x80, s.flags, 0x01, 0xf6, 0, 0, 0, 0]);
        // NOP, NOP, timestamps.
        f.extend_from_slice(&[1, 1, 8, 10]);
        f.extend_from_slice(&s.ts.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 9]);
        f.extend((0..s.len).map(|i| (s.seq as usize + i) as u8));
        let pseudo = if s.v6 {
            sum(&f[l3 + 8..l3 + 40], 0)
        } else {
            sum(&f[l3 + 12..l3 + 20], 0)
        } + u64::from(PROTO_TCP)
            + tcp_len as u64;
        let c = !fold(sum(&f[l4..], pseudo));
        put_be16(&mut f, l4 + 16, c);
        f
    }

    /// The frame as a sender that leaves the TCP checksum to the NIC gives it.
    fn partial(f: &[u8], s: &Seg) -> (Vec<u8>, VnetHdr) {
        let l3 = if s.tag { 18 } else { 14 };
        let l4 = l3 + if s.v6 { 40 } else { 20 };
        let mut p = f.to_vec();
        let pseudo = if s.v6 {
            sum(&p[l3 + 8..l3 + 40], 0)
        } else {
            sum(&p[l3 + 12..l3 + 20], 0)
        } + u64::from(PROTO_TCP)
            + (p.len() - l4) as u64;
        put_be16(&mut p, l4 + 16, fold(pseudo));
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: l4 as u16,
            csum_offset: 16,
            ..VnetHdr::NONE
        };
        (p, hdr)
    }

    /// Where the TCP header of a test frame starts.
    fn tcp_at(f: &[u8]) -> usize {
        let l3 = if f[12..14] == [0x81, 0x00] { 18 } else { 14 };
        l3 + if f[l3] >> 4 == 6 { 40 } else { 20 }
    }

    /// The frame with a TCP checksum field of 0xffff written as 0x0000. The
    /// two are the same ones' complement number (-0 and +0, RFC 1071) and
    /// both hold; which one a frame carries depends on who finished it: a
    /// checksum left to the NIC and finished in software comes out 0xffff
    /// (`gso::finish_checksum`, as the kernel's `skb_checksum_help` writes
    /// `CSUM_MANGLED_0`), the same segment cut out of a super-frame 0x0000
    /// (as `tcp_gso_segment`), and [`frame`] writes 0x0000.
    fn zero_as_zero(f: &[u8]) -> Vec<u8> {
        let mut f = f.to_vec();
        let at = tcp_at(&f) + 16;
        if f[at..at + 2] == [0xff, 0xff] {
            put_be16(&mut f, at, 0);
        }
        f
    }

    /// Pushes every frame; returns the queued frames with their headers.
    fn coalesce(frames: &[(Vec<u8>, VnetHdr)]) -> Vec<(VnetHdr, Vec<u8>)> {
        let mut c = Coalescer::new(true);
        let mut tx = Vec::new();
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for (f, o) in frames {
            match c.push(&mut tx, f, o) {
                Queued::New(r) => ranges.push(r),
                Queued::Joined => ranges.last_mut().expect("joined to nothing").end = tx.len(),
            }
            assert_eq!(ranges.last().map(|r| r.end), Some(tx.len()));
        }
        ranges
            .into_iter()
            .map(|r| {
                let hdr: [u8; VNET_HDR_LEN] =
                    tx[r.start..r.start + VNET_HDR_LEN].try_into().unwrap();
                (
                    VnetHdr::parse(&hdr),
                    tx[r.start + VNET_HDR_LEN..r.end].to_vec(),
                )
            })
            .collect()
    }

    /// What leaves a NIC without offloads for each queued frame.
    fn wire(queued: &[(VnetHdr, Vec<u8>)]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for (hdr, f) in queued {
            gso::resolve(f, hdr, &mut scratch, |seg| out.push(seg.to_vec())).unwrap();
        }
        out
    }

    #[test]
    fn joins_a_run_of_segments_and_cuts_back_to_them() {
        let segs = [
            Seg::v4(1000, 5, ACK, 1448),
            Seg::v4(2448, 6, ACK, 1448),
            Seg::v4(3896, 7, ACK, 1448),
            Seg::v4(5344, 8, ACK | PSH, 100),
        ];
        let frames: Vec<_> = segs.iter().map(|s| (frame(s), VALID)).collect();
        let queued = coalesce(&frames);
        assert_eq!(queued.len(), 1);
        let (hdr, f) = &queued[0];
        assert_eq!(hdr.gso_type, GSO_TCPV4);
        assert_eq!(hdr.gso_size, 1448);
        assert_eq!((hdr.csum_start, hdr.csum_offset, hdr.hdr_len), (34, 16, 66));
        assert_eq!(f.len(), 66 + 3 * 1448 + 100);
        // The PSH of the last segment is on the whole; the IPv4 header holds.
        assert_eq!(f[47] & PSH, PSH);
        assert_eq!(fold(sum(&f[14..34], 0)), 0xffff);
        let want: Vec<_> = frames.iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(wire(&queued), want);
    }

    #[test]
    fn keeps_apart_what_must_not_join() {
        let base = Seg::v4(1000, 5, ACK, 1448);
        let next = |f: fn(&mut Seg)| {
            let mut s = Seg::v4(2448, 6, ACK, 1448);
            f(&mut s);
            s
        };
        let cases = [
            ("a gap in the sequence", next(|s| s.seq += 1)),
            ("a gap in the IPv4 ids", next(|s| s.id += 1)),
            ("another flow", next(|s| s.flow = 1)),
            ("another timestamp", next(|s| s.ts += 1)),
            ("FIN", next(|s| s.flags |= 0x01)),
            ("CWR", next(|s| s.flags |= 0x80)),
            ("longer than the first", next(|s| s.len += 1)),
            ("tagged", next(|s| s.tag = true)),
            ("IPv6", next(|s| s.v6 = true)),
        ];
        for (what, s) in cases {
            let frames = [(frame(&base), VALID), (frame(&s), VALID)];
            assert_eq!(coalesce(&frames).len(), 2, "{what}");
        }
        let two = |a: (Vec<u8>, VnetHdr), b: (Vec<u8>, VnetHdr)| coalesce(&[a, b]).len();
        let (f0, f1) = (frame(&base), frame(&next(|_| ())));
        assert_eq!(two((f0.clone(), VALID), (f1.clone(), VALID)), 1);
        // A checksum nobody checked is checked here: a good one joins, a
        // corrupted segment on either side stays as it came.
        assert_eq!(
            two((f0.clone(), VnetHdr::NONE), (f1.clone(), VnetHdr::NONE)),
            1
        );
        let mut bad0 = f0.clone();
        *bad0.last_mut().unwrap() ^= 1;
        let mut bad1 = f1.clone();
        bad1[70] ^= 0x10;
        assert_eq!(two((bad0.clone(), VnetHdr::NONE), (f1.clone(), VALID)), 2);
        assert_eq!(two((f0.clone(), VALID), (bad1.clone(), VnetHdr::NONE)), 2);
        let queued = coalesce(&[(f0.clone(), VALID), (bad1.clone(), VnetHdr::NONE)]);
        assert_eq!(queued[1].1, bad1);
        // After a PSH, a short segment, or with joining off.
        let psh = frame(&Seg::v4(1000, 5, ACK | PSH, 1448));
        assert_eq!(two((psh, VALID), (f1.clone(), VALID)), 2);
        let short = frame(&Seg::v4(2448, 6, ACK, 1000));
        let after = frame(&Seg::v4(3448, 7, ACK, 1000));
        let three = [(f0.clone(), VALID), (short, VALID), (after, VALID)];
        assert_eq!(coalesce(&three).len(), 2);
        let mut off = Coalescer::new(false);
        let mut tx = Vec::new();
        assert!(matches!(off.push(&mut tx, &f0, &VALID), Queued::New(_)));
        assert!(matches!(off.push(&mut tx, &f1, &VALID), Queued::New(_)));
        // Ethernet padding: the IPv4 length does not cover the frame.
        let mut padded = f1.clone();
        padded.push(0);
        assert_eq!(two((f0.clone(), VALID), (padded, VALID)), 2);
        // Reset: the buffer was sent.
        let mut c = Coalescer::new(true);
        let mut tx = Vec::new();
        c.push(&mut tx, &f0, &VALID);
        c.reset();
        tx.clear();
        assert!(matches!(c.push(&mut tx, &f1, &VALID), Queued::New(_)));
    }

    #[test]
    fn stays_under_64_kib() {
        let segs: Vec<_> = (0..60u32)
            .map(|i| Seg::v4(i * 1448, i as u16, ACK, 1448))
            .collect();
        let frames: Vec<_> = segs.iter().map(|s| (frame(s), VALID)).collect();
        let queued = coalesce(&frames);
        assert!(queued.len() >= 2);
        assert!(queued.iter().all(|(_, f)| f.len() - 14 <= MAX_IP_LEN));
        let want: Vec<_> = frames.iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(wire(&queued), want);
    }

    #[test]
    fn a_zero_checksum_left_to_the_nic_may_come_back_as_ffff() {
        // A segment whose TCP checksum is 0x0000: the timestamp moves the
        // sum by one per step, so one of 65536 values gives it.
        let ts = (0..=u32::from(u16::MAX))
            .find(|&ts| {
                let f = frame(&Seg {
                    ts,
                    ..Seg::v4(2448, 6, ACK, 1448)
                });
                f[tcp_at(&f) + 16..][..2] == [0, 0]
            })
            .expect("one timestamp gives a zero checksum");
        let zero = Seg {
            ts,
            ..Seg::v4(2448, 6, ACK, 1448)
        };
        let f = frame(&zero);
        let at = tcp_at(&f) + 16;
        // Alone, finished as the kernel finishes it: 0xffff, which holds too.
        let alone = wire(&coalesce(&[partial(&f, &zero)]));
        assert_eq!(alone[0][at..at + 2], [0xff, 0xff]);
        let s = segment(&alone[0], &VnetHdr::NONE).unwrap();
        assert!(checksum_holds(&alone[0], &s));
        assert_eq!(zero_as_zero(&alone[0]), f);
        // Joined behind a segment with the same timestamp and cut again: as
        // it was sent, byte for byte.
        let first = Seg {
            ts,
            ..Seg::v4(1000, 5, ACK, 1448)
        };
        let pushed = [(frame(&first), VALID), partial(&f, &zero)];
        let queued = coalesce(&pushed);
        assert_eq!(queued.len(), 1);
        assert_eq!(wire(&queued), [frame(&first), f]);
    }

    /// Checksum states: 0 verified by the kernel, 1 left to the NIC, 2 not
    /// checked, 3 not checked and wrong (a corrupted segment).
    fn seg_strategy() -> impl Strategy<Value = (Seg, bool, u8)> {
        (
            (any::<bool>(), any::<bool>(), 0u8..2, 0u32..3),
            (
                0u8..8,
                prop::sample::select(vec![1448usize, 1448, 1448, 1000, 1]),
            ),
            (0u8..16, 0u8..4, 0u8..10),
        )
            .prop_map(
                |((v6, tag, flow, ts), (flag_pick, len), (gap, partial, odd))| {
                    let flags = match flag_pick {
                        0 => ACK | PSH,
                        1 => ACK | 0x01,
                        2 => 0x02,
                        _ => ACK,
                    };
                    let s = Seg {
                        v6,
                        tag,
                        flow,
                        seq: 0,
                        id: 0,
                        flags,
                        ts,
                        len,
                    };
                    // `gap` == 0: a hole in the sequence; `odd` == 0: in the ids.
                    (s, gap == 0 || odd == 0, partial)
                },
            )
    }

    proptest! {
        /// Whatever mix of flows, lengths, flags, holes and checksum states a
        /// batch holds, the queued frames cut back into exactly the frames
        /// pushed, in order (partial checksums finished, as a NIC would; a
        /// TCP checksum of 0x0000 may come back as 0xffff, see
        /// [`zero_as_zero`]).
        #[test]
        fn cutting_the_queue_gives_back_every_frame(
            segs in prop::collection::vec(seg_strategy(), 1..80)
        ) {
            let mut next: [(u32, u16); 4] = [(1, 100), (50_000, 200), (7, 300), (9, 400)];
            let mut pushed = Vec::new();
            let mut want = Vec::new();
            for (mut s, hole, csum) in segs {
                let k = usize::from(s.flow) + if s.v6 { 2 } else { 0 };
                let (seq, id) = next[k];
                s.seq = seq;
                s.id = id;
                let skip = u32::from(hole);
                next[k] = (seq.wrapping_add(s.len as u32 + skip), id.wrapping_add(1 + skip as u16));
                let mut f = frame(&s);
                if csum == 3 {
                    let last = f.len() - 1;
                    f[last] ^= 0x40;
                }
                want.push(f.clone());
                pushed.push(match csum {
                    0 => (f, VALID),
                    1 => partial(&f, &s),
                    _ => (f, VnetHdr::NONE),
                });
            }
            let queued = coalesce(&pushed);
            prop_assert!(queued.len() <= pushed.len());
            // Byte for byte but for the two forms of a zero checksum.
            let got: Vec<_> = wire(&queued).iter().map(|f| zero_as_zero(f)).collect();
            let want: Vec<_> = want.iter().map(|f| zero_as_zero(f)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
