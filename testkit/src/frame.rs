//! Frames as the generators describe them: addresses from a small pool, VLAN
//! tags (whole, cut off or raw bytes), a payload length and a cut.

/// Unicast hosts in the MAC pool, 02:00:00:00:00:01 to 02:00:00:00:00:08: few,
/// so that lookups hit.
pub const HOSTS: u8 = 8;

/// VLAN ids written into tags (0 is priority-tagged, 4095 reserved).
pub const TAG_VIDS: [u16; 6] = [0, 1, 10, 20, 30, 4095];

/// A MAC address of a generated frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    /// Host `i` of the pool.
    Host(u8),
    /// ff:ff:ff:ff:ff:ff.
    Broadcast,
    /// One of three multicast addresses.
    Multicast(u8),
    /// 01:80:C2:00:00:XX, XX in 0..=0x10 (0x10 is not link-local).
    LinkLocal(u8),
    /// 00:00:00:00:00:00.
    Zero,
    /// Any six bytes.
    Raw([u8; 6]),
}

impl Addr {
    /// The address's bytes.
    pub fn bytes(self) -> [u8; 6] {
        match self {
            Addr::Host(i) => host(i),
            Addr::Broadcast => [0xff; 6],
            Addr::Multicast(0) => [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
            Addr::Multicast(1) => [0x33, 0x33, 0x00, 0x00, 0x00, 0x01],
            Addr::Multicast(_) => [0x03, 0x00, 0x00, 0x00, 0x00, 0x07],
            Addr::LinkLocal(x) => [0x01, 0x80, 0xc2, 0x00, 0x00, x],
            Addr::Zero => [0; 6],
            Addr::Raw(b) => b,
        }
    }
}

/// Host `i` of the pool.
pub fn host(i: u8) -> [u8; 6] {
    [0x02, 0x00, 0x00, 0x00, 0x00, i + 1]
}

/// The VLAN tags (or other bytes) between the source MAC and the ethertype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tags {
    /// Untagged.
    None,
    /// One 802.1Q tag.
    Dot1q {
        /// Priority.
        pcp: u8,
        /// Drop eligible.
        dei: bool,
        /// VLAN (12 bits).
        vid: u16,
    },
    /// An 802.1ad outer tag and maybe an 802.1Q inner one.
    Dot1ad {
        /// Outer VLAN.
        outer: u16,
        /// Inner VLAN.
        inner: Option<u16>,
    },
    /// A pre-standard 0x9100 tag.
    Old9100(u16),
    /// A TPID and then only `keep` (0..=3) bytes of the tag: the frame ends there.
    Truncated {
        /// 0x8100, 0x88a8 or 0x9100.
        tpid: u16,
        /// Bytes of the TCI and ethertype kept.
        keep: u8,
    },
    /// Any bytes in place of tags and ethertype.
    Raw(Vec<u8>),
}

/// A frame as the generator describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameSpec {
    /// Destination.
    pub dst: Addr,
    /// Source.
    pub src: Addr,
    /// Tags.
    pub tags: Tags,
    /// Payload bytes after the ethertype.
    pub payload: u8,
    /// Cut the frame to this many bytes (a runt when below 14).
    pub cut: Option<u8>,
}

impl FrameSpec {
    /// An untagged frame of the smallest size, 60 bytes (46 of payload).
    pub fn new(dst: Addr, src: Addr) -> FrameSpec {
        FrameSpec {
            dst,
            src,
            tags: Tags::None,
            payload: 46,
            cut: None,
        }
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(80);
        f.extend_from_slice(&self.dst.bytes());
        f.extend_from_slice(&self.src.bytes());
        let push_tag = |f: &mut Vec<u8>, tpid: u16, tci: u16| {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        };
        let mut ethertype = true;
        match &self.tags {
            Tags::None => {}
            Tags::Dot1q { pcp, dei, vid } => push_tag(
                &mut f,
                0x8100,
                (u16::from(*pcp) << 13) | (u16::from(*dei) << 12) | vid,
            ),
            Tags::Dot1ad { outer, inner } => {
                push_tag(&mut f, 0x88a8, *outer);
                if let Some(inner) = inner {
                    push_tag(&mut f, 0x8100, *inner);
                }
            }
            Tags::Old9100(vid) => push_tag(&mut f, 0x9100, *vid),
            Tags::Truncated { tpid, keep } => {
                f.extend_from_slice(&tpid.to_be_bytes());
                f.extend_from_slice(&[0x00, 0x0a, 0x08][..usize::from(*keep)]);
                return f;
            }
            Tags::Raw(bytes) => {
                f.extend_from_slice(bytes);
                ethertype = false;
            }
        }
        if ethertype {
            f.extend_from_slice(&[0x08, 0x00]);
        }
        f.extend((0..self.payload).map(|i| i.wrapping_mul(37)));
        if let Some(cut) = self.cut {
            f.truncate(usize::from(cut));
        }
        f
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_new_frame_is_of_the_smallest_size() {
        let f = FrameSpec::new(Addr::Host(2), Addr::Host(3)).bytes();
        assert_eq!(f.len(), 60);
        assert_eq!(&f[..14], &[2, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 4, 0x08, 0x00]);
    }

    #[test]
    fn a_tagged_frame_has_its_tag_after_the_source() {
        let f = FrameSpec {
            dst: Addr::Broadcast,
            src: Addr::Host(0),
            tags: Tags::Dot1q {
                pcp: 5,
                dei: true,
                vid: 0x123,
            },
            payload: 2,
            cut: None,
        };
        let mut want = vec![0xff; 6];
        want.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x81, 0x00, 0xb1, 0x23, 0x08, 0x00, 0, 37]);
        assert_eq!(f.bytes(), want);
    }

    #[test]
    fn a_truncated_tag_ends_the_frame() {
        let f = FrameSpec {
            dst: Addr::Host(1),
            src: Addr::Raw([4, 5, 6, 7, 8, 9]),
            tags: Tags::Truncated {
                tpid: 0x88a8,
                keep: 1,
            },
            payload: 40,
            cut: Some(60),
        };
        assert_eq!(f.bytes().len(), 15);
        assert_eq!(&f.bytes()[6..], &[4, 5, 6, 7, 8, 9, 0x88, 0xa8, 0x00]);
    }
}
