//! The virtio-net header (`struct virtio_net_hdr`) that a packet socket with
//! PACKET_VNET_HDR puts in front of every frame it receives and expects in front
//! of every frame it sends. It carries what the kernel would otherwise have to
//! finish in software before handing us the frame: a checksum left partial
//! (TX checksum offload) and a super-frame still to be cut into segments (GSO,
//! TSO). Carrying it from one port to the other lets a 64 KB TCP super-frame
//! cross the switch as one frame, as it crosses the Linux bridge.
//!
//! ```
//! use vswitch_linux::vnet::{VnetHdr, GSO_TCPV4, F_NEEDS_CSUM};
//! let h = VnetHdr { flags: F_NEEDS_CSUM, gso_type: GSO_TCPV4, hdr_len: 66,
//!                   gso_size: 1448, csum_start: 34, csum_offset: 16 };
//! assert_eq!(VnetHdr::parse(&h.to_bytes()), h);
//! assert!(h.is_gso() && !h.is_plain());
//! ```

/// Size of the header on the wire of the socket.
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum from `csum_start` to the end is
/// still to be computed and stored at `csum_start + csum_offset` (the field
/// holds the pseudo-header sum).
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was checked (receive only).
pub const F_DATA_VALID: u8 = 2;

/// Not a GSO frame.
pub const GSO_NONE: u8 = 0;
/// TCP over IPv4 to be cut into `gso_size` segments.
pub const GSO_TCPV4: u8 = 1;
/// UDP fragmentation offload (IPv4 fragments; not produced by veths).
pub const GSO_UDP: u8 = 3;
/// TCP over IPv6 to be cut into `gso_size` segments.
pub const GSO_TCPV6: u8 = 4;
/// UDP (IPv4 or IPv6) to be cut into `gso_size` datagrams.
pub const GSO_UDP_L4: u8 = 5;
/// Bit added to the GSO type when the TCP flow uses ECN.
pub const GSO_ECN: u8 = 0x80;

/// One virtio-net header, in host order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM`, `F_DATA_VALID`.
    pub flags: u8,
    /// `GSO_*`, possibly with `GSO_ECN`.
    pub gso_type: u8,
    /// Length of the headers (a hint: the kernel reports its linear part).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed part starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// A complete frame: nothing left to do.
    pub const NONE: VnetHdr = VnetHdr {
        flags: 0,
        gso_type: GSO_NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Reads a header (little-endian, as the kernel writes it on x86 and arm).
    pub fn parse(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        }
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// True if the frame is complete as it is (any port can take it).
    pub fn is_plain(&self) -> bool {
        self.gso_type == GSO_NONE && self.flags & F_NEEDS_CSUM == 0
    }

    /// True if the frame is a GSO super-frame.
    pub fn is_gso(&self) -> bool {
        self.gso_type & !GSO_ECN != GSO_NONE
    }

    /// True if the checksum is left partial.
    pub fn needs_csum(&self) -> bool {
        self.flags & F_NEEDS_CSUM != 0
    }

    /// The header for a frame that got `by` bytes longer in front of its
    /// network header (a VLAN tag put back).
    pub fn grown(self, by: u16) -> VnetHdr {
        if self.is_plain() {
            return self;
        }
        VnetHdr {
            hdr_len: self.hdr_len.saturating_add(by),
            csum_start: if self.needs_csum() {
                self.csum_start.saturating_add(by)
            } else {
                self.csum_start
            },
            ..self
        }
    }

    /// The header to send: receive-only flags cleared.
    pub fn for_tx(self) -> VnetHdr {
        VnetHdr {
            flags: self.flags & F_NEEDS_CSUM,
            ..self
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_what_the_kernel_writes() {
        // A TSO super-frame over IPv4 as a veth hands it over: NEEDS_CSUM,
        // TCPV4, 66 bytes linear, MSS 1448, TCP header at 34, checksum at +16.
        let raw = [0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00];
        let h = VnetHdr::parse(&raw);
        assert_eq!(h.flags, F_NEEDS_CSUM);
        assert_eq!(h.gso_type, GSO_TCPV4);
        assert_eq!(h.hdr_len, 66);
        assert_eq!(h.gso_size, 1448);
        assert_eq!(h.csum_start, 34);
        assert_eq!(h.csum_offset, 16);
        assert_eq!(h.to_bytes(), raw);
        assert!(VnetHdr::NONE.is_plain());
        assert!(!VnetHdr::NONE.is_gso());
    }

    #[test]
    fn growing_moves_offsets_only_when_meaningful() {
        let h = VnetHdr::parse(&[0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00]);
        let g = h.grown(4);
        assert_eq!((g.hdr_len, g.csum_start, g.csum_offset), (70, 38, 16));
        assert_eq!(VnetHdr::NONE.grown(4), VnetHdr::NONE);
        let valid = VnetHdr {
            flags: F_DATA_VALID,
            ..VnetHdr::NONE
        };
        assert_eq!(valid.for_tx(), VnetHdr::NONE);
    }
}
