//! Finishing offloaded frames in software, for the ports that cannot take them
//! as they are (a TAP device without virtio-net headers, a pcap capture): a
//! partial checksum is completed, and a GSO super-frame (TCP over IPv4 or IPv6,
//! UDP) is cut into the segments the sender's NIC would have put on the wire,
//! as the kernel's `skb_checksum_help` and `tcp_gso_segment` do.
//!
//! ```
//! use vswitch_linux::gso;
//! // The IPv4 header of RFC 1071's usual example: its checksum is 0xb861.
//! let header = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
//!               0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
//! assert_eq!(!gso::fold(gso::sum(&header, 0)), 0xb861);
//! ```

use crate::vnet::{VnetHdr, GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4};
use vswitch_core::frame::{
    be16, put_be16, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, TPID_8021AD, TPID_8021Q,
};

const IPV6_HLEN: usize = 40;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const UDP_HLEN: usize = 8;
/// Offsets inside the headers.
const IPV4_TOTAL_LEN: usize = 2;
const IPV4_ID: usize = 4;
const IPV4_PROTO: usize = 9;
const IPV4_CSUM: usize = 10;
const IPV4_ADDRS: usize = 12;
const IPV6_PAYLOAD_LEN: usize = 4;
const IPV6_NEXT: usize = 6;
const IPV6_ADDRS: usize = 8;
const TCP_SEQ: usize = 4;
const TCP_DOFF: usize = 12;
const TCP_FLAGS: usize = 13;
const TCP_CSUM: usize = 16;
const UDP_LEN: usize = 4;
const UDP_CSUM: usize = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Why an offloaded frame could not be finished: it is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoError {
    /// The headers do not match what the virtio-net header says.
    Malformed,
    /// An offload this switch does not finish in software (UDP fragmentation
    /// offload, a GSO frame that is neither TCP nor UDP).
    Unsupported,
}

/// The ones' complement sum of `data` added to `acc`, not yet folded. `data`
/// is taken as big-endian 16-bit words (an odd last byte padded with zero);
/// pieces summed one after the other must each start at an even offset.
pub fn sum(data: &[u8], acc: u64) -> u64 {
    // 32-bit words in the machine's byte order added into 64 bits (no carry
    // is lost below 16 GiB, and the loop vectorises); the ones' complement
    // sum does not depend on byte order but for one swap of the folded
    // result (RFC 1071, 2.B), which saves a swap per word.
    let mut chunks = data.chunks_exact(4);
    let mut wide: u64 = 0;
    for c in &mut chunks {
        wide += u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
    }
    let native = fold(wide);
    let mut acc = acc
        + u64::from(if cfg!(target_endian = "little") {
            native.swap_bytes()
        } else {
            native
        });
    // The rest (fewer than four bytes, at an even offset) as before.
    let rest = chunks.remainder();
    if rest.len() >= 2 {
        acc += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
    }
    if rest.len() % 2 == 1 {
        acc += u64::from(rest[rest.len() - 1]) << 8;
    }
    acc
}

/// Folds a sum to 16 bits (the checksum is its complement).
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Completes a partial checksum in place: the sum from `start` to the end,
/// whose field at `start + offset` holds the pseudo-header sum, is stored
/// there (0 becomes 0xffff, as the kernel does, since UDP reads 0 as "none").
pub fn finish_checksum(frame: &mut [u8], start: usize, offset: usize) -> Result<(), GsoError> {
    let at = start + offset;
    if at + 2 > frame.len() {
        return Err(GsoError::Malformed);
    }
    let c = !fold(sum(&frame[start..], 0));
    put_be16(frame, at, if c == 0 { 0xffff } else { c });
    Ok(())
}

/// Where the headers of a frame are.
struct Layout {
    l3: usize,
    ipv4: bool,
    l4: usize,
    proto: u8,
}

fn layout(frame: &[u8], hdr: &VnetHdr) -> Result<Layout, GsoError> {
    let bad = GsoError::Malformed;
    let mut l3 = ETHERNET_HEADER_LEN;
    let mut ethertype = be16(frame, 12).ok_or(bad)?;
    while ethertype == TPID_8021Q || ethertype == TPID_8021AD {
        ethertype = be16(frame, l3 + 2).ok_or(bad)?;
        l3 += 4;
    }
    match ethertype {
        ETHERTYPE_IPV4 => {
            let vihl = *frame.get(l3).ok_or(bad)?;
            let ihl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || ihl < 20 || frame.len() < l3 + ihl {
                return Err(bad);
            }
            Ok(Layout {
                l3,
                ipv4: true,
                l4: l3 + ihl,
                proto: frame[l3 + IPV4_PROTO],
            })
        }
        ETHERTYPE_IPV6 => {
            if frame.len() < l3 + IPV6_HLEN || frame[l3] >> 4 != 6 {
                return Err(bad);
            }
            let next = frame[l3 + IPV6_NEXT];
            if next == PROTO_TCP || next == PROTO_UDP {
                return Ok(Layout {
                    l3,
                    ipv4: false,
                    l4: l3 + IPV6_HLEN,
                    proto: next,
                });
            }
            // Extension headers: the sender told us where the transport header is.
            if !hdr.needs_csum() || usize::from(hdr.csum_start) < l3 + IPV6_HLEN {
                return Err(GsoError::Unsupported);
            }
            let proto = if hdr.gso_type & !GSO_ECN == GSO_UDP_L4 {
                PROTO_UDP
            } else {
                PROTO_TCP
            };
            Ok(Layout {
                l3,
                ipv4: false,
                l4: usize::from(hdr.csum_start),
                proto,
            })
        }
        _ => Err(GsoError::Unsupported),
    }
}

/// The pseudo-header sum of a transport segment of `len` bytes.
fn pseudo_sum(frame: &[u8], at: &Layout, len: usize) -> u64 {
    let addrs = if at.ipv4 {
        &frame[at.l3 + IPV4_ADDRS..at.l3 + IPV4_ADDRS + 8]
    } else {
        &frame[at.l3 + IPV6_ADDRS..at.l3 + IPV6_ADDRS + 32]
    };
    sum(addrs, 0) + u64::from(at.proto) + pseudo_len(len)
}

/// Hands `out` the frame as it would leave a NIC without offloads: as it is if
/// `hdr` says nothing is left to do, else with its checksum finished, or cut
/// into segments. Uses `scratch` for the frames it builds. Returns how many
/// frames `out` got.
pub fn resolve(
    frame: &[u8],
    hdr: &VnetHdr,
    scratch: &mut Vec<u8>,
    mut out: impl FnMut(&[u8]),
) -> Result<usize, GsoError> {
    if hdr.is_plain() {
        out(frame);
        return Ok(1);
    }
    scratch.clear();
    resolve_into(frame, hdr, &[], scratch, |buf, range| {
        out(&buf[range.clone()]);
        buf.truncate(range.start);
    })
}

/// As [`resolve`], but builds each frame at the end of `buf`, after a copy of
/// `prefix` (a tunnel's header), where the caller keeps it: `out` gets `buf`
/// and the range that prefix and frame hold, and may leave them there (a send
/// queue) or cut them off again; it may also empty `buf` (a flush), as the
/// next frame is built at whatever end `buf` has then. A segment is copied
/// once, headers and payload, and its checksum summed over the copy while it
/// is in the cache. Returns how many frames `out` got.
pub fn resolve_into(
    frame: &[u8],
    hdr: &VnetHdr,
    prefix: &[u8],
    buf: &mut Vec<u8>,
    mut out: impl FnMut(&mut Vec<u8>, std::ops::Range<usize>),
) -> Result<usize, GsoError> {
    if !hdr.is_gso() {
        let start = buf.len();
        buf.extend_from_slice(prefix);
        let f0 = buf.len();
        buf.extend_from_slice(frame);
        if hdr.needs_csum() {
            if let Err(e) = finish_checksum(
                &mut buf[f0..],
                usize::from(hdr.csum_start),
                usize::from(hdr.csum_offset),
            ) {
                buf.truncate(start);
                return Err(e);
            }
        }
        let end = buf.len();
        out(buf, start..end);
        return Ok(1);
    }
    let at = layout(frame, hdr)?;
    let kind = hdr.gso_type & !GSO_ECN;
    let tcp = match kind {
        GSO_TCPV4 | GSO_TCPV6 => {
            if at.proto != PROTO_TCP || at.ipv4 != (kind == GSO_TCPV4) {
                return Err(GsoError::Malformed);
            }
            true
        }
        GSO_UDP_L4 if at.proto == PROTO_UDP => false,
        GSO_UDP_L4 => return Err(GsoError::Malformed),
        _ => return Err(GsoError::Unsupported),
    };
    let l4_hlen = if tcp {
        let doff = *frame.get(at.l4 + TCP_DOFF).ok_or(GsoError::Malformed)?;
        usize::from(doff >> 4) * 4
    } else {
        UDP_HLEN
    };
    let payload_at = at.l4 + l4_hlen;
    let mss = usize::from(hdr.gso_size);
    if l4_hlen < UDP_HLEN || payload_at > frame.len() || mss == 0 {
        return Err(GsoError::Malformed);
    }
    let payload = &frame[payload_at..];
    let count = payload.len().div_ceil(mss).max(1);
    let ipv4_id = be16(frame, at.l3 + IPV4_ID).unwrap_or(0);
    let seq0 = u32::from_be_bytes(
        frame[at.l4 + TCP_SEQ..at.l4 + TCP_SEQ + 4]
            .try_into()
            .map_err(|_| GsoError::Malformed)?,
    );
    // The pseudo-header's addresses and the headers are the same in every
    // segment but for the fields set below.
    let pseudo = pseudo_sum(frame, &at, 0);
    for i in 0..count {
        let chunk = &payload[(i * mss).min(payload.len())..((i + 1) * mss).min(payload.len())];
        let start = buf.len();
        buf.extend_from_slice(prefix);
        let f0 = buf.len();
        buf.extend_from_slice(&frame[..payload_at]);
        buf.extend_from_slice(chunk);
        let seg = &mut buf[f0..];
        let l4_len = seg.len() - at.l4;
        if at.ipv4 {
            let ihl = at.l4 - at.l3;
            put_be16(seg, at.l3 + IPV4_TOTAL_LEN, (ihl + l4_len) as u16);
            put_be16(seg, at.l3 + IPV4_ID, ipv4_id.wrapping_add(i as u16));
            put_be16(seg, at.l3 + IPV4_CSUM, 0);
            let c = !fold(sum(&seg[at.l3..at.l4], 0));
            put_be16(seg, at.l3 + IPV4_CSUM, c);
        } else {
            let ext = at.l4 - at.l3 - IPV6_HLEN;
            put_be16(seg, at.l3 + IPV6_PAYLOAD_LEN, (ext + l4_len) as u16);
        }
        let csum_at = if tcp {
            let seq = seq0.wrapping_add((i * mss) as u32);
            seg[at.l4 + TCP_SEQ..at.l4 + TCP_SEQ + 4].copy_from_slice(&seq.to_be_bytes());
            if i > 0 {
                seg[at.l4 + TCP_FLAGS] &= !TCP_CWR;
            }
            if i + 1 < count {
                seg[at.l4 + TCP_FLAGS] &= !(TCP_FIN | TCP_PSH);
            }
            at.l4 + TCP_CSUM
        } else {
            put_be16(seg, at.l4 + UDP_LEN, l4_len as u16);
            at.l4 + UDP_CSUM
        };
        put_be16(seg, csum_at, 0);
        let c = !fold(sum(&seg[at.l4..], pseudo + pseudo_len(l4_len)));
        put_be16(seg, csum_at, if c == 0 && !tcp { 0xffff } else { c });
        let end = buf.len();
        out(buf, start..end);
    }
    Ok(count)
}

/// The length's part of a pseudo-header sum (IPv4 and IPv6 alike, as 16-bit
/// words).
fn pseudo_len(len: usize) -> u64 {
    let len = len as u64;
    (len >> 16) + (len & 0xffff)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::vnet::F_NEEDS_CSUM;

    /// Ethernet + IPv4 (id 0x1c46, DF, TTL 64, 192.168.100.101 -> .102) + TCP
    /// (40000 -> 5201, seq 0x01020304, ack 0x0a0b0c0d, ACK|PSH|FIN, window 502),
    /// lengths and checksums as a TSO sender leaves them: IPv4 total length and
    /// checksum for the whole super-frame, TCP checksum field = pseudo-header sum.
    fn tcp4_headers(total_len: u16, tcp_field: u16) -> Vec<u8> {
        let mut f = vec![
            0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x08, 0x00,
            // IPv4
            0x45, 0x00, 0x00, 0x00, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0xa8,
            0x64, 0x65, 0xc0, 0xa8, 0x64, 0x66, // TCP
            0x9c, 0x40, 0x14, 0x51, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d, 0x50, 0x19,
            0x01, 0xf6, 0x00, 0x00, 0x00, 0x00,
        ];
        put_be16(&mut f, 16, total_len);
        put_be16(&mut f, 50, tcp_field);
        f
    }

    /// True if the IPv4 header checksum and the transport checksum of `seg` hold.
    fn checksums_hold(seg: &[u8], hdr: &VnetHdr) -> bool {
        let at = layout(seg, hdr).unwrap();
        let ip_ok = !at.ipv4 || fold(sum(&seg[at.l3..at.l4], 0)) == 0xffff;
        let l4_len = seg.len() - at.l4;
        ip_ok && fold(sum(&seg[at.l4..], pseudo_sum(seg, &at, l4_len))) == 0xffff
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn sums_like_rfc1071() {
        // RFC 1071's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)),
            0xddf2
        );
        // An odd length pads with a zero byte.
        assert_eq!(fold(sum(&[0x01, 0x02, 0x03], 0)), 0x0402);
        assert_eq!(fold(sum(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x01], 0)), 0x0001);
    }

    /// The sum as RFC 1071 writes it: big-endian words one by one.
    fn sum_by_words(data: &[u8]) -> u16 {
        let mut acc = 0u64;
        for w in data.chunks(2) {
            acc += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
        fold(acc)
    }

    proptest::proptest! {
        #[test]
        fn sums_native_words_as_big_endian_ones(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            acc in 0u64..1 << 40,
        ) {
            let words = fold(u64::from(sum_by_words(&data)) + acc);
            proptest::prop_assert_eq!(fold(sum(&data, acc)), words);
        }
    }

    #[test]
    fn builds_segments_after_a_prefix_where_the_caller_keeps_them() {
        let (f, hdr) = tcp4_super_frame();
        let mut alone = Vec::new();
        resolve(&f, &hdr, &mut Vec::new(), |s| alone.push(s.to_vec())).unwrap();
        // Kept in one buffer after the prefix, the second one flushed away.
        let mut buf = b"old".to_vec();
        let mut kept = Vec::new();
        let n = resolve_into(&f, &hdr, b"VXLANHDR", &mut buf, |buf, range| {
            kept.push(buf[range.clone()].to_vec());
            if kept.len() == 2 {
                buf.clear();
            }
        });
        assert_eq!(n, Ok(3));
        for (k, a) in kept.iter().zip(&alone) {
            assert_eq!(&k[..8], b"VXLANHDR");
            assert_eq!(&k[8..], &a[..]);
        }
        assert_eq!(buf.len(), kept[2].len(), "after the flush, the third only");
        // A frame with a partial checksum only ([`partial_ping`]), and a
        // plain one.
        let (small, csum) = partial_ping();
        let mut got = Vec::new();
        resolve_into(&small, &csum, b"P", &mut Vec::new(), |b, r| {
            got.push(b[r].to_vec())
        })
        .unwrap();
        resolve_into(&small, &VnetHdr::NONE, b"P", &mut Vec::new(), |b, r| {
            got.push(b[r].to_vec())
        })
        .unwrap();
        assert_eq!(&got[0][51..53], &[0xba, 0x34]);
        assert_eq!(&got[1][1..], &small[..]);
    }

    /// A TCP/IPv4 super-frame of 2,500 bytes of `payload` to be cut in
    /// segments of 1,000, and its header.
    fn tcp4_super_frame() -> (Vec<u8>, VnetHdr) {
        let mut f = tcp4_headers(40 + 2500, 0);
        f.extend_from_slice(&payload(2500));
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1000,
            csum_start: 34,
            csum_offset: 16,
        };
        (f, hdr)
    }

    /// A TCP frame with a 4-byte payload "ping" whose checksum is left to
    /// the NIC (its field holds the pseudo-header sum), and its header;
    /// finished, the checksum is 0xba34 (computed independently, Python).
    fn partial_ping() -> (Vec<u8>, VnetHdr) {
        let mut f = tcp4_headers(44, 0x4a3b);
        f.extend_from_slice(b"ping");
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 16,
            ..VnetHdr::NONE
        };
        (f, hdr)
    }

    #[test]
    fn finishes_a_partial_tcp_checksum() {
        let (f, hdr) = partial_ping();
        let mut scratch = Vec::new();
        let mut got = Vec::new();
        assert_eq!(
            resolve(&f, &hdr, &mut scratch, |s| got.push(s.to_vec())),
            Ok(1)
        );
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0][50..52], &[0xba, 0x34]);
        assert_eq!(got[0][..50], f[..50]);
        assert_eq!(got[0][52..], f[52..]);
    }

    #[test]
    fn plain_frames_pass_untouched() {
        let f = tcp4_headers(40, 0x1234);
        let mut got = Vec::new();
        let n = resolve(&f, &VnetHdr::NONE, &mut Vec::new(), |s| {
            got.push(s.to_vec())
        });
        assert_eq!(n, Ok(1));
        assert_eq!(got, vec![f]);
    }

    #[test]
    fn cuts_a_tcp_ipv4_super_frame() {
        let data = payload(2500);
        let (f, hdr) = tcp4_super_frame();
        let mut segs = Vec::new();
        assert_eq!(
            resolve(&f, &hdr, &mut Vec::new(), |s| segs.push(s.to_vec())),
            Ok(3)
        );
        let sizes: Vec<usize> = segs.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1054, 1054, 554]);
        for (i, s) in segs.iter().enumerate() {
            assert!(checksums_hold(s, &hdr), "segment {i} checksums");
            assert_eq!(be16(s, 16), Some((s.len() - 14) as u16), "total length");
            assert_eq!(be16(s, 18), Some(0x1c46 + i as u16), "IPv4 id");
            let seq = u32::from_be_bytes(s[38..42].try_into().unwrap());
            assert_eq!(seq, 0x0102_0304 + 1000 * i as u32);
            let flags = s[47];
            let last = i == 2;
            assert_eq!(
                flags & (TCP_FIN | TCP_PSH) != 0,
                last,
                "FIN/PSH on the last only"
            );
            assert_eq!(flags & 0x10, 0x10, "ACK on all");
            assert_eq!(&s[54..], &data[i * 1000..(i * 1000 + 1000).min(2500)]);
        }
        // The first segment's checksums, computed independently (Python).
        assert_eq!(be16(&segs[0], 24), Some(0xd085));
        assert_eq!(be16(&segs[0], 50), Some(0x7e65));
    }

    #[test]
    fn cuts_a_tcp_ipv6_super_frame_behind_a_vlan_tag() {
        let data = payload(3000);
        let mut f = vec![
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x81, 0x00,
            0x00, 0x0a, 0x86, 0xdd, // IPv6: payload length, next header TCP, hop limit 64
            0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x40,
        ];
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&[
            0x9c, 0x40, 0x14, 0x51, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 1, 0x50, 0x90, 0x01, 0xf6, 0,
            0, 0, 0,
        ]);
        f.extend_from_slice(&data);
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV6,
            hdr_len: 78,
            gso_size: 1428,
            csum_start: 58,
            csum_offset: 16,
        };
        let mut segs = Vec::new();
        assert_eq!(
            resolve(&f, &hdr, &mut Vec::new(), |s| segs.push(s.to_vec())),
            Ok(3)
        );
        for (i, s) in segs.iter().enumerate() {
            assert!(checksums_hold(s, &hdr), "segment {i} checksums");
            assert_eq!(be16(s, 22), Some((s.len() - 58) as u16), "payload length");
            let seq = u32::from_be_bytes(s[62..66].try_into().unwrap());
            assert_eq!(
                seq,
                0xffff_ff00_u32.wrapping_add(1428 * i as u32),
                "sequence wraps"
            );
            assert_eq!(s[71] & TCP_CWR != 0, i == 0, "CWR on the first only");
        }
        assert_eq!(segs[2].len(), 78 + 3000 - 2 * 1428);
    }

    #[test]
    fn cuts_a_udp_super_frame() {
        let data = payload(2000);
        let mut f = tcp4_headers(0, 0);
        f.truncate(34);
        f[23] = PROTO_UDP;
        f.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0, 0, 0, 0]);
        f.extend_from_slice(&data);
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_UDP_L4,
            hdr_len: 42,
            gso_size: 1200,
            csum_start: 34,
            csum_offset: 6,
        };
        let mut segs = Vec::new();
        assert_eq!(
            resolve(&f, &hdr, &mut Vec::new(), |s| segs.push(s.to_vec())),
            Ok(2)
        );
        for s in &segs {
            assert!(checksums_hold(s, &hdr));
            assert_eq!(be16(s, 38), Some((s.len() - 34) as u16), "UDP length");
        }
        assert_eq!(segs[1].len(), 42 + 800);
    }

    #[test]
    fn refuses_what_it_cannot_finish() {
        let mut scratch = Vec::new();
        let short = [0u8; 20];
        let csum = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 16,
            ..VnetHdr::NONE
        };
        assert_eq!(
            resolve(&short, &csum, &mut scratch, |_| {}),
            Err(GsoError::Malformed)
        );
        let ufo = VnetHdr {
            gso_type: crate::vnet::GSO_UDP,
            gso_size: 1000,
            ..csum
        };
        let f = tcp4_headers(40, 0);
        assert_eq!(
            resolve(&f, &ufo, &mut scratch, |_| {}),
            Err(GsoError::Unsupported)
        );
        let arp = [0u8; 60];
        let tso = VnetHdr {
            gso_type: GSO_TCPV4,
            gso_size: 1000,
            ..csum
        };
        assert_eq!(
            resolve(&arp, &tso, &mut scratch, |_| {}),
            Err(GsoError::Unsupported)
        );
    }
}
