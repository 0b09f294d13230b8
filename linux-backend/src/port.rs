//! What every port on a real interface shares: the [`LinuxPort`] trait the
//! event loop drives, the options ports are opened with, and the MTU checks.
//! The ports themselves: an AF_PACKET socket ([`crate::afpacket`]), a TAP
//! device ([`crate::tap`]), an AF_XDP socket ([`crate::xdp`]) and a VXLAN
//! tunnel over a UDP socket ([`crate::vxlan`]).
//!
//! Each is a core [`Port`] whose per-frame metadata is its offload state (a
//! [`VnetHdr`]): a checksum left partial or a GSO super-frame crosses the
//! switch as it is, in the [`vswitch_core::FrameBatch`] beside its frame, and
//! is finished in software ([`crate::gso`]) only by a port that cannot take it.

use crate::gso;
use crate::sys;
use crate::vnet::VnetHdr;
use std::io;
use std::os::fd::RawFd;
use vswitch_core::frame::{ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use vswitch_core::{DeviceCounts, Port, RemoteId, TxError};

pub use crate::afpacket::AfPacketPort;
pub use crate::tap::TapPort;

/// Receive ring memory per port, by default: 4096 slots, 8 MiB, absorb
/// 3.7 ms of 64-byte frames at 1.1 Mpps. A larger ring absorbs longer stalls
/// but costs every sender more (its copy into the ring misses the caches):
/// with 32 MiB the 64-byte generator of the bench offered 13% less.
pub const DEFAULT_RING_MIB: u16 = 8;

/// How ports on interfaces are set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortOptions {
    /// Join consecutive TCP segments that leave together into GSO
    /// super-frames ([`crate::gro`]).
    pub gro: bool,
    /// The receive ring.
    pub ring: RingKind,
    /// Its size in MiB (for an AF_XDP port, the size of its frame memory).
    pub ring_mib: u16,
    /// Open AF_XDP ports ([`crate::xdp::XdpPort`]) instead, where possible.
    pub afxdp: bool,
}

impl Default for PortOptions {
    fn default() -> PortOptions {
        PortOptions {
            gro: true,
            ring: RingKind::V2,
            ring_mib: DEFAULT_RING_MIB,
            afxdp: false,
        }
    }
}

/// How an AF_PACKET port receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RingKind {
    /// A TPACKET_V2 ring ([`crate::ring::RxRing`]): the reader is woken per frame, so a
    /// lone frame waits for nothing.
    #[default]
    V2,
    /// A TPACKET_V3 ring ([`crate::ring_v3::RxRingV3`]): woken per block, so fewer wakeups
    /// and super-frames in the ring, but a lone frame waits up to 1 ms.
    V3,
    /// No ring: a recvmmsg system call per batch.
    None,
}

/// Frames (and their bytes) a port queued: what it reports as refused in
/// [`DeviceCounts`] if the kernel does not take them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub frames: u64,
    pub bytes: u64,
}

impl Pending {
    /// One frame of `len` bytes.
    pub fn one(len: usize) -> Pending {
        Pending {
            frames: 1,
            bytes: len as u64,
        }
    }

    pub fn add(&mut self, other: Pending) {
        self.frames += other.frames;
        self.bytes += other.bytes;
    }

    /// Adds these frames to `counts` as refused by the kernel.
    pub fn refused_in(self, counts: &mut DeviceCounts) {
        counts.tx_refused += self.frames;
        counts.tx_refused_bytes += self.bytes;
    }
}

/// A port the event loop can wait on. Frames come in by [`Port::recv`] and
/// leave by [`Port::send`] with their offload state; what the kernel dropped
/// is reported by [`Port::take_counts`].
pub trait LinuxPort: Port<Meta = VnetHdr> + Send {
    /// The descriptor to wait on for received frames.
    fn fd(&self) -> RawFd;
    /// The interface index in the switch's namespace.
    fn ifindex(&self) -> u32;
    /// `afpacket`, `afxdp`, `tap` or `vxlan`.
    fn kind(&self) -> &'static str;
    /// The MTU frames are checked against.
    fn mtu(&self) -> u32;
    /// Changes the MTU (from a link event).
    fn set_mtu(&mut self, mtu: u32);
    /// Fetches the kernel's drop counters, for the next [`Port::take_counts`];
    /// called once a second (an AF_XDP port also retries the frames a busy
    /// device left queued).
    fn poll_stats(&mut self) {}
    /// Reads and clears the error the kernel left on the port's sockets (an
    /// interface that went down leaves ENETDOWN), so that epoll stops
    /// reporting it; returns it if there was one.
    fn take_error(&mut self) -> Option<io::Error> {
        sys::take_socket_error(self.fd())
    }
    /// True once the device is known to be gone (a deleted TAP).
    fn gone(&self) -> bool {
        false
    }
    /// True if the port follows its interface's link events. A TAP's device
    /// may move to another namespace while its descriptor stays with the switch.
    fn follows_link_events(&self) -> bool {
        true
    }
    /// Sends one frame to remote endpoint `to` of a tunnel port (`None`: to
    /// its flood list); other ports have no remotes and just send.
    fn send_to(
        &mut self,
        frame: &[u8],
        meta: VnetHdr,
        to: Option<RemoteId>,
    ) -> Result<(), TxError> {
        let _ = to;
        self.send(frame, meta)
    }
    /// The port as a VXLAN port, if it is one.
    fn vxlan(&self) -> Option<&crate::vxlan::VxlanPort> {
        None
    }
    /// The port as a VXLAN port, if it is one, to edit.
    fn vxlan_mut(&mut self) -> Option<&mut crate::vxlan::VxlanPort> {
        None
    }
}

/// Sends `frame` by `send` as a port that takes only finished frames must:
/// as it is if it carries no offload, else completed or cut into segments
/// ([`gso::resolve`]) in `scratch`. The first refusal is the answer.
pub(crate) fn send_finished(
    frame: &[u8],
    offload: &VnetHdr,
    scratch: &mut Vec<u8>,
    mut send: impl FnMut(&[u8]) -> Result<(), TxError>,
) -> Result<(), TxError> {
    if offload.is_plain() {
        return send(frame);
    }
    let mut result = Ok(());
    let done = gso::resolve(frame, offload, scratch, |seg| {
        if let Err(e) = send(seg) {
            result = result.and(Err(e));
        }
    });
    done.map_err(|_| TxError::TooBig)?;
    result
}

/// True if the frame's outer ethertype is a VLAN tag, which may go past the MTU
/// by its 4 bytes, as Linux allows.
fn tagged(frame: &[u8]) -> bool {
    matches!(frame.get(12..14), Some([0x81, 0x00] | [0x88, 0xa8]))
}

pub(crate) fn too_big(frame: &[u8], mtu: u32) -> bool {
    let limit = mtu as usize + ETHERNET_HEADER_LEN + if tagged(frame) { VLAN_TAG_LEN } else { 0 };
    frame.len() > limit
}

/// The MTU check for a frame with its offload state: a GSO super-frame is too
/// big if the segments it will be cut into are.
pub(crate) fn too_big_offloaded(frame: &[u8], offload: &VnetHdr, mtu: u32) -> bool {
    if !offload.is_gso() {
        return too_big(frame, mtu);
    }
    let limit = mtu as usize + ETHERNET_HEADER_LEN + if tagged(frame) { VLAN_TAG_LEN } else { 0 };
    let l4 = usize::from(offload.csum_start);
    let l4_hlen = if offload.gso_type & !crate::vnet::GSO_ECN == crate::vnet::GSO_UDP_L4 {
        8
    } else {
        frame
            .get(l4 + 12)
            .map_or(20, |doff| usize::from(doff >> 4) * 4)
    };
    l4 + l4_hlen + usize::from(offload.gso_size) > limit
}

pub(crate) fn tx_error(e: &io::Error) -> TxError {
    match e.raw_os_error() {
        Some(libc::EMSGSIZE) => TxError::TooBig,
        _ => TxError::Full,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn mtu_check_allows_header_and_one_tag() {
        let mut f = vec![0u8; 1514];
        assert!(!too_big(&f, 1500));
        f.push(0);
        assert!(too_big(&f, 1500));
        f[12] = 0x81;
        assert!(!too_big(&f, 1500));
    }

    #[test]
    fn mtu_check_of_a_super_frame_looks_at_its_segments() {
        // 14 + 20 + 32 bytes of headers (TCP with timestamps), 60000 of payload.
        let mut f = vec![0u8; 66 + 60000];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[34 + 12] = 8 << 4;
        let tso = VnetHdr {
            flags: crate::vnet::F_NEEDS_CSUM,
            gso_type: crate::vnet::GSO_TCPV4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        assert!(!too_big_offloaded(&f, &tso, 1500));
        let big = VnetHdr {
            gso_size: 1449,
            ..tso
        };
        assert!(too_big_offloaded(&f, &big, 1500));
        assert!(too_big_offloaded(&f, &VnetHdr::NONE, 1500));
    }
}
