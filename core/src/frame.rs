//! Classification of a received frame: the few header fields a switch decides on.
//!
//! Parsing is done by etherparse (no `std`); this module turns its slices into a
//! small owned summary. Any byte sequence gives either a [`FrameInfo`] or
//! [`Malformed::Runt`]; nothing here can panic.
//!
//! ```
//! use vswitch_core::frame::{FrameInfo, ETHERTYPE_ARP};
//! let mut bytes = [0u8; 60];
//! bytes[..6].copy_from_slice(&[0xff; 6]);
//! bytes[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! bytes[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
//! let info = FrameInfo::parse(&bytes).unwrap();
//! assert!(info.dst.is_broadcast());
//! assert_eq!(info.ethertype, ETHERTYPE_ARP);
//! assert_eq!(info.tags().count(), 0);
//! ```

use crate::mac::MacAddr;
use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

/// Length of an Ethernet header without VLAN tags: dst, src, ethertype.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of one VLAN tag: TPID and TCI.
pub const VLAN_TAG_LEN: usize = 4;
/// Offset of the ethertype (or the first tag's TPID) in a frame.
pub const ETHERTYPE_OFFSET: usize = 12;
/// 802.1Q customer VLAN tag.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad provider (service) tag, the outer tag of QinQ.
pub const TPID_8021AD: u16 = 0x88a8;
/// The pre-standard QinQ outer tag.
pub const TPID_QINQ_OLD: u16 = 0x9100;
/// ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// LLDP.
pub const ETHERTYPE_LLDP: u16 = 0x88cc;

/// The big-endian 16-bit field at `at` of `b`, if `b` holds it.
#[inline]
pub fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.checked_add(1)?)?,
    ]))
}

/// Writes `v` big-endian at `at` of `b`.
///
/// # Panics
/// If `b` is shorter than `at + 2`: callers write fields of headers whose
/// length they have checked.
#[inline]
pub fn put_be16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// One VLAN tag as found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag {
    /// The tag protocol identifier: 0x8100, 0x88A8 or 0x9100.
    pub tpid: u16,
    /// Priority code point (0..=7).
    pub pcp: u8,
    /// VLAN identifier (0..=4095); 0 means priority-tagged only.
    pub vid: u16,
}

/// Why a frame could not be classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the 14-byte Ethernet header.
    Runt,
}

/// The header fields of a frame that the switch needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// Up to two VLAN tags, outermost first. A tag is only listed when all four of
    /// its bytes are present.
    pub tags: [Option<VlanTag>; 2],
    /// The ethertype after the listed tags (which may itself be a tag TPID when a
    /// third tag follows or a tag is cut short).
    pub ethertype: u16,
    /// True when the frame announces a VLAN tag that is cut short.
    pub truncated_tag: bool,
    /// Length of the frame in bytes.
    pub len: usize,
}

/// True for the TPIDs of the VLAN tags that classification looks into.
pub fn is_vlan_tpid(t: u16) -> bool {
    t == TPID_8021Q || t == TPID_8021AD || t == TPID_QINQ_OLD
}

impl FrameInfo {
    /// Classifies `frame`. Fails only for frames shorter than 14 bytes.
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<FrameInfo, Malformed> {
        let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| Malformed::Runt)?;
        let mut info = FrameInfo {
            dst: MacAddr(eth.destination()),
            src: MacAddr(eth.source()),
            tags: [None, None],
            ethertype: eth.ether_type().0,
            truncated_tag: false,
            len: frame.len(),
        };
        let mut offset = ETHERNET_HEADER_LEN;
        for slot in info.tags.iter_mut() {
            if !is_vlan_tpid(info.ethertype) {
                break;
            }
            let rest = frame.get(offset..).unwrap_or(&[]);
            match SingleVlanHeaderSlice::from_slice(rest) {
                Ok(vlan) => {
                    *slot = Some(VlanTag {
                        tpid: info.ethertype,
                        pcp: vlan.priority_code_point().value(),
                        vid: vlan.vlan_identifier().value(),
                    });
                    info.ethertype = vlan.ether_type().0;
                    offset += VLAN_TAG_LEN;
                }
                Err(_) => {
                    info.truncated_tag = true;
                    break;
                }
            }
        }
        Ok(info)
    }

    /// The tags present, outermost first.
    pub fn tags(&self) -> impl Iterator<Item = VlanTag> + '_ {
        self.tags.iter().flatten().copied()
    }

    /// The outermost tag if it is an 802.1Q (0x8100) tag: the one a VLAN-aware
    /// 802.1Q switch acts on. An outer 802.1ad tag makes the frame untagged for
    /// such a switch (QinQ passes through as payload).
    pub fn dot1q_tag(&self) -> Option<VlanTag> {
        self.tags[0].filter(|t| t.tpid == TPID_8021Q)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn frame(ethertype_and_rest: &[u8]) -> alloc::vec::Vec<u8> {
        let mut f = alloc::vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(ethertype_and_rest);
        f
    }

    #[test]
    fn runts_are_recognised() {
        for len in 0..ETHERNET_HEADER_LEN {
            assert_eq!(FrameInfo::parse(&[0u8; 20][..len]), Err(Malformed::Runt));
        }
        assert!(FrameInfo::parse(&[0u8; 14]).is_ok());
    }

    #[test]
    fn untagged() {
        let info = FrameInfo::parse(&frame(&[0x08, 0x06, 0, 1])).unwrap();
        assert_eq!(info.ethertype, ETHERTYPE_ARP);
        assert_eq!(info.src, MacAddr([2, 0, 0, 0, 0, 1]));
        assert!(info.dst.is_broadcast());
        assert_eq!(info.tags, [None, None]);
        assert!(!info.truncated_tag);
    }

    #[test]
    fn one_and_two_tags() {
        // 802.1Q vid 10 pcp 5, then IPv4.
        let info = FrameInfo::parse(&frame(&[0x81, 0x00, 0xa0, 0x0a, 0x08, 0x00])).unwrap();
        assert_eq!(
            info.tags[0],
            Some(VlanTag {
                tpid: 0x8100,
                pcp: 5,
                vid: 10
            })
        );
        assert_eq!(info.ethertype, ETHERTYPE_IPV4);
        assert_eq!(info.dot1q_tag().map(|t| t.vid), Some(10));

        // QinQ: 802.1ad vid 100 outside, 802.1Q vid 20 inside.
        let info = FrameInfo::parse(&frame(&[
            0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x14, 0x86, 0xdd,
        ]))
        .unwrap();
        assert_eq!(info.tags[0].map(|t| (t.tpid, t.vid)), Some((0x88a8, 100)));
        assert_eq!(info.tags[1].map(|t| (t.tpid, t.vid)), Some((0x8100, 20)));
        assert_eq!(info.ethertype, ETHERTYPE_IPV6);
        assert_eq!(info.dot1q_tag(), None);

        // 0x9100 outer tag.
        let info = FrameInfo::parse(&frame(&[0x91, 0x00, 0x00, 0x07, 0x08, 0x06])).unwrap();
        assert_eq!(info.tags[0].map(|t| (t.tpid, t.vid)), Some((0x9100, 7)));
    }

    #[test]
    fn cut_short_tag() {
        let info = FrameInfo::parse(&frame(&[0x81, 0x00, 0x00])).unwrap();
        assert!(info.truncated_tag);
        assert_eq!(info.tags, [None, None]);
        assert_eq!(info.ethertype, TPID_8021Q);
    }

    #[test]
    fn three_tags_lists_two() {
        let info = FrameInfo::parse(&frame(&[
            0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0,
        ]))
        .unwrap();
        assert_eq!(info.tags().count(), 2);
        assert_eq!(info.ethertype, TPID_8021Q);
        assert!(!info.truncated_tag);
    }
}
