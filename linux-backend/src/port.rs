//! Ports on real interfaces: an AF_PACKET socket bound to one interface, and a
//! TAP device. Both implement the core's [`Port`] trait, so the forwarding code
//! is the same for each, and [`LinuxPort`], which adds what the event loop
//! needs: a descriptor to wait on, and frames with their offload state (a
//! [`VnetHdr`]) so that a checksum left partial or a GSO super-frame crosses
//! the switch as it is, and is finished in software ([`crate::gso`]) only for
//! a port that cannot take it.

use crate::error::{Error, Result};
use crate::gro::{Coalescer, Queued};
use crate::gso;
use crate::ring::{RxRing, SlotInfo};
use crate::ring_v3::RxRingV3;
use crate::sys;
use crate::vnet::{VnetHdr, VNET_HDR_LEN};
use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use vswitch_core::frame::{ETHERNET_HEADER_LEN, VLAN_TAG_LEN};
use vswitch_core::{FrameBatch, Port, TxError};

/// Room for the largest frame a socket can hand us (GSO super-frames included).
const RX_BUF: usize = 65536 + VLAN_TAG_LEN;
/// One receive slot: room to put a stripped VLAN tag back, the virtio-net
/// header, then the frame (a GSO super-frame is up to 64 KB).
const RX_SLOT: usize = VLAN_TAG_LEN + VNET_HDR_LEN + 65536 + 64;
/// Frames one receive system call takes: the core's batch size.
const RX_BATCH: usize = FrameBatch::DEFAULT_SIZE;
/// In a receive slot: where the virtio-net header goes, and the frame after it.
const RX_HDR_AT: usize = VLAN_TAG_LEN;
const RX_FRAME_AT: usize = VLAN_TAG_LEN + VNET_HDR_LEN;
/// Receive ring slots: a 1500-byte-MTU frame fits in 2 KB behind the ring's
/// headers; larger ones come through the socket.
const RING_FRAME_SIZE: usize = 2048;
/// Receive ring memory per port, by default: 4096 slots, 8 MiB, absorb
/// 3.7 ms of 64-byte frames at 1.1 Mpps. A larger ring absorbs longer stalls
/// but costs every sender more (its copy into the ring misses the caches):
/// with 32 MiB the 64-byte generator of the bench offered 13% less.
pub const DEFAULT_RING_MIB: u16 = 8;
/// A TPACKET_V3 ring: the same memory in blocks of 1 MiB (each holds a GSO
/// super-frame whole), handed over when full or after 1 ms.
const RING_V3_BLOCK: usize = 1 << 20;
const RING_V3_TIMEOUT_MS: u32 = 1;
/// Frames up to this size are queued and sent together by [`Port::flush`];
/// larger ones (GSO super-frames) go at once, without a copy.
const TX_COPY_MAX: usize = 2048;
/// Socket buffer sizes: room for bursts while the loop is busy elsewhere (the
/// kernel doubles them).
const SOCKET_BUF: i32 = 8 << 20;

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
    /// A TPACKET_V2 ring ([`RxRing`]): the reader is woken per frame, so a
    /// lone frame waits for nothing.
    #[default]
    V2,
    /// A TPACKET_V3 ring ([`RxRingV3`]): woken per block, so fewer wakeups
    /// and super-frames in the ring, but a lone frame waits up to 1 ms.
    V3,
    /// No ring: a recvmmsg system call per batch.
    None,
}

/// The receive ring a port reads from.
enum Ring {
    V2(RxRing),
    V3(RxRingV3),
}

impl Ring {
    /// The ring of `kind` and `mib` MiB on socket `fd`, or none if none is asked for.
    fn open(fd: RawFd, kind: RingKind, mib: u16) -> io::Result<Option<Ring>> {
        let bytes = usize::from(mib.max(1)) << 20;
        Ok(Some(match kind {
            RingKind::V2 => Ring::V2(RxRing::new(fd, RING_FRAME_SIZE, bytes / RING_FRAME_SIZE)?),
            RingKind::V3 => Ring::V3(RxRingV3::new(
                fd,
                RING_V3_BLOCK,
                bytes / RING_V3_BLOCK,
                RING_V3_TIMEOUT_MS,
            )?),
            RingKind::None => return Ok(None),
        }))
    }

    fn peek(&mut self) -> Option<(SlotInfo, &mut [u8])> {
        match self {
            Ring::V2(r) => r.peek(),
            Ring::V3(r) => r.peek(),
        }
    }

    fn release(&mut self) {
        match self {
            Ring::V2(r) => r.release(),
            Ring::V3(r) => r.release(),
        }
    }
}

/// Frames a port took that the kernel then refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    /// Frames, as the switch handed them over (segments joined into one
    /// super-frame count one each).
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Refused {
    /// One frame of `len` bytes.
    pub(crate) fn one(len: usize) -> Refused {
        Refused {
            frames: 1,
            bytes: len as u64,
        }
    }

    /// What of `frames` and `bytes` handed to the port the kernel took.
    pub fn taken_of(&self, frames: u64, bytes: u64) -> (u64, u64) {
        (
            frames.saturating_sub(self.frames),
            bytes.saturating_sub(self.bytes),
        )
    }

    pub(crate) fn add(&mut self, other: Refused) {
        self.frames += other.frames;
        self.bytes += other.bytes;
    }
}

/// A port the event loop can wait on.
pub trait LinuxPort: Port + Send {
    /// The descriptor to wait on for received frames.
    fn fd(&self) -> RawFd;
    /// The interface index in the switch's namespace.
    fn ifindex(&self) -> u32;
    /// `afpacket`, `afxdp` or `tap`.
    fn kind(&self) -> &'static str;
    /// The MTU frames are checked against.
    fn mtu(&self) -> u32;
    /// Changes the MTU (from a link event).
    fn set_mtu(&mut self, mtu: u32);
    /// Frames received that were cut short or could not be read.
    fn rx_errors(&self) -> u64;
    /// Frames the kernel dropped before the switch could read them (receive
    /// queue full), as far as [`LinuxPort::poll_stats`] has learned.
    fn rx_full(&self) -> u64 {
        0
    }
    /// Frames accepted by [`Port::send`] that the kernel then refused when
    /// the queue was flushed (transmit queue full), and their bytes.
    fn tx_full(&self) -> Refused {
        Refused::default()
    }
    /// Fetches the kernel's drop counters; called once a second (an AF_XDP
    /// port also retries the frames a busy device left queued).
    fn poll_stats(&mut self) {}
    /// Appends the frames that have arrived, as [`Port::recv`] does, and for
    /// each its offload state to `offloads`. The frames may be GSO
    /// super-frames or carry partial checksums; [`Port::recv`] finishes them.
    fn recv_offloaded(&mut self, batch: &mut FrameBatch, offloads: &mut Vec<VnetHdr>) -> usize {
        let n = self.recv(batch);
        offloads.resize(batch.len(), VnetHdr::NONE);
        n
    }
    /// Sends a frame with its offload state: as it is to a port that takes
    /// offloads, finished in software to one that does not.
    fn send_offloaded(&mut self, frame: &[u8], offload: &VnetHdr) -> Result<(), TxError> {
        if offload.is_plain() {
            return self.send(frame);
        }
        let mut scratch = Vec::new();
        let mut result = Ok(());
        let done = gso::resolve(frame, offload, &mut scratch, |seg| {
            if let Err(e) = self.send(seg) {
                result = Err(e);
            }
        });
        done.map_err(|_| TxError::TooBig)?;
        result
    }
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
fn too_big_offloaded(frame: &[u8], offload: &VnetHdr, mtu: u32) -> bool {
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

fn tx_error(e: &io::Error) -> TxError {
    match e.raw_os_error() {
        Some(libc::EMSGSIZE) => TxError::TooBig,
        _ => TxError::Full,
    }
}

/// An AF_PACKET socket bound to one interface with ETH_P_ALL, in promiscuous
/// mode through a packet membership (undone by the kernel when the socket
/// closes, even on a crash), ignoring the frames it sends itself, with
/// virtio-net headers (PACKET_VNET_HDR) so that offloaded frames cross as they
/// are. Receives a batch per system call (recvmmsg) and sends the frames
/// queued for it per system call (sendmmsg) when flushed.
pub struct AfPacketPort {
    name: String,
    ifindex: u32,
    fd: OwnedFd,
    /// The socket frames are sent by.
    tx_fd: OwnedFd,
    mtu: u32,
    /// The receive ring, if the kernel gave us one.
    ring: Option<Ring>,
    /// RX_BATCH slots of RX_SLOT bytes without a ring; one for the frames
    /// too large for the ring.
    rx: Vec<u8>,
    rx_got: Vec<sys::Received>,
    /// Offload states of the last receive, for [`Port::recv`].
    rx_offloads: Vec<VnetHdr>,
    rx_batch: FrameBatch,
    /// Queued frames, each behind its virtio-net header, and how many
    /// frames the switch sent each stands for (segments joined by `gro`).
    tx: Vec<u8>,
    tx_frames: Vec<Range<usize>>,
    tx_segs: Vec<Refused>,
    gro: Coalescer,
    scratch: Vec<u8>,
    rx_errors: u64,
    rx_full: u64,
    tx_full: Refused,
}

impl AfPacketPort {
    /// Opens a port on interface `name` with the default options.
    pub fn open(name: &str) -> Result<AfPacketPort> {
        AfPacketPort::open_with(name, &PortOptions::default())
    }

    /// Opens a port on interface `name`.
    pub fn open_with(name: &str, opts: &PortOptions) -> Result<AfPacketPort> {
        let ifindex = sys::if_index(name).map_err(|e| Error::iface(name, "opening", e))?;
        let mtu = sys::if_mtu(name).map_err(|e| Error::iface(name, "reading the MTU of", e))?;
        let fd = sys::packet_socket().map_err(|e| Error::io("opening a packet socket", e))?;
        let raw = fd.as_raw_fd();
        let ctx = |what: &str| format!("{what} on \"{name}\"");
        sys::setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| Error::io(ctx("PACKET_IGNORE_OUTGOING"), e))?;
        sys::setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)
            .map_err(|e| Error::io(ctx("PACKET_AUXDATA"), e))?;
        sys::setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)
            .map_err(|e| Error::io(ctx("PACKET_VNET_HDR"), e))?;
        let ring = match Ring::open(raw, opts.ring, opts.ring_mib) {
            Ok(ring) => ring,
            Err(e) => {
                tracing::warn!("no receive ring on \"{name}\" ({e}): one system call per batch");
                None
            }
        };
        let rx_slots = if ring.is_some() { 1 } else { RX_BATCH };
        // Larger buffers absorb bursts; failure only costs drops under load.
        let _ = sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, SOCKET_BUF);
        // Frames leave by a second socket that receives nothing and that
        // epoll does not watch: freeing each sent frame then wakes no one
        // (on the receiving socket, every free would run epoll's wait-queue
        // callback: 14% of the switch's time at 64-byte frames).
        let tx_fd = sys::packet_socket().map_err(|e| Error::io("opening a packet socket", e))?;
        let tx_raw = tx_fd.as_raw_fd();
        sys::setsockopt_int(tx_raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)
            .map_err(|e| Error::io(ctx("PACKET_VNET_HDR"), e))?;
        // Straight to the driver: a veth has no queue to go through anyway.
        // VSWITCH_QDISC=1 keeps the queueing layer, to measure the difference.
        if std::env::var_os("VSWITCH_QDISC").is_none() {
            let _ = sys::setsockopt_int(tx_raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1);
        }
        let _ = sys::setsockopt_int(tx_raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SOCKET_BUF);
        sys::packet_bind_send_only(tx_raw, ifindex)
            .map_err(|e| Error::iface(name, "binding to", e))?;
        sys::packet_bind(raw, ifindex).map_err(|e| Error::iface(name, "binding to", e))?;
        sys::packet_promisc(raw, ifindex)
            .map_err(|e| Error::iface(name, "setting promiscuous mode on", e))?;
        // Drops counted before we started are not ours.
        let _ = sys::packet_drops(raw);
        Ok(AfPacketPort {
            name: name.to_string(),
            ifindex,
            fd,
            tx_fd,
            mtu,
            ring,
            rx: vec![0; RX_SLOT * rx_slots],
            rx_got: vec![sys::Received::default(); RX_BATCH],
            rx_offloads: Vec::with_capacity(RX_BATCH),
            rx_batch: FrameBatch::with_capacity(RX_BATCH),
            tx: Vec::with_capacity(RX_BATCH * (TX_COPY_MAX + VNET_HDR_LEN)),
            tx_frames: Vec::with_capacity(RX_BATCH),
            tx_segs: Vec::with_capacity(RX_BATCH),
            gro: Coalescer::new(opts.gro),
            scratch: Vec::new(),
            rx_errors: 0,
            rx_full: 0,
            tx_full: Refused::default(),
        })
    }
}

impl AfPacketPort {
    /// Receives with recvmmsg, when the port has no ring.
    fn recv_many(&mut self, batch: &mut FrameBatch, offloads: &mut Vec<VnetHdr>) -> usize {
        let got = match sys::packet_recv_many(
            self.fd.as_raw_fd(),
            &mut self.rx,
            RX_SLOT,
            RX_HDR_AT,
            &mut self.rx_got,
        ) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return 0,
            Err(e) => {
                // ENETDOWN and friends: the link event that follows handles it.
                tracing::debug!(port = %self.name, error = %e, "receive failed");
                self.rx_errors += 1;
                return 0;
            }
        };
        let mut n = 0;
        for (i, got) in self.rx_got[..got].iter().enumerate() {
            let slot = &mut self.rx[i * RX_SLOT..(i + 1) * RX_SLOT];
            match got.len.checked_sub(VNET_HDR_LEN) {
                Some(len) if got.wire_len <= len => {
                    push_frame(slot, RX_FRAME_AT, len, got.vlan, batch, offloads);
                    n += 1;
                }
                _ => self.rx_errors += 1,
            }
        }
        n
    }
}

/// Appends the frame of `len` bytes at `at` in `slot`, behind its virtio-net
/// header, with the VLAN tag the kernel stripped put back in place (the
/// addresses move 4 bytes to the front, over the header once it is read).
fn push_frame(
    slot: &mut [u8],
    at: usize,
    len: usize,
    vlan: Option<(u16, u16)>,
    batch: &mut FrameBatch,
    offloads: &mut Vec<VnetHdr>,
) {
    let mut hdr_bytes = [0u8; VNET_HDR_LEN];
    hdr_bytes.copy_from_slice(&slot[at - VNET_HDR_LEN..at]);
    let offload = VnetHdr::parse(&hdr_bytes);
    match vlan {
        Some((tpid, tci)) if len >= 12 => {
            let start = at - VLAN_TAG_LEN;
            slot.copy_within(at..at + 12, start);
            slot[start + 12..start + 14].copy_from_slice(&tpid.to_be_bytes());
            slot[start + 14..start + 16].copy_from_slice(&tci.to_be_bytes());
            batch.push(&slot[start..at + len]);
            offloads.push(offload.grown(VLAN_TAG_LEN as u16));
        }
        _ => {
            batch.push(&slot[at..at + len]);
            offloads.push(offload);
        }
    }
}

impl Port for AfPacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut FrameBatch) -> usize {
        let mut own = std::mem::take(&mut self.rx_batch);
        let mut offloads = std::mem::take(&mut self.rx_offloads);
        own.clear();
        offloads.clear();
        self.recv_offloaded(&mut own, &mut offloads);
        let mut n = 0;
        for (i, frame) in own.iter().enumerate() {
            match gso::resolve(frame, &offloads[i], &mut self.scratch, |seg| {
                batch.push(seg);
                n += 1;
            }) {
                Ok(_) => {}
                Err(_) => self.rx_errors += 1,
            }
        }
        self.rx_batch = own;
        self.rx_offloads = offloads;
        n
    }

    /// Sends one frame at once (the switch's own path,
    /// [`LinuxPort::send_offloaded`], queues frames until [`Port::flush`]).
    fn send(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if too_big(frame, self.mtu) {
            return Err(TxError::TooBig);
        }
        self.flush();
        sys::send_two(self.tx_fd.as_raw_fd(), &VnetHdr::NONE.to_bytes(), frame)
            .map(|_| ())
            .map_err(|e| tx_error(&e))
    }

    fn flush(&mut self) {
        let fd = self.tx_fd.as_raw_fd();
        let mut at = 0;
        while at < self.tx_frames.len() {
            match sys::send_many(fd, &self.tx, &self.tx_frames[at..]) {
                Ok(0) => {
                    for &n in &self.tx_segs[at..] {
                        self.tx_full.add(n);
                    }
                    break;
                }
                Ok(sent) => at += sent,
                Err(e) => {
                    // The first frame was refused (ENOBUFS: the egress queue
                    // is full; ENETDOWN...): count it and go on with the rest.
                    tracing::trace!(port = %self.name, error = %e, "send failed");
                    self.tx_full.add(self.tx_segs[at]);
                    at += 1;
                }
            }
        }
        self.tx.clear();
        self.tx_frames.clear();
        self.tx_segs.clear();
        self.gro.reset();
    }
}

impl LinuxPort for AfPacketPort {
    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    fn ifindex(&self) -> u32 {
        self.ifindex
    }
    fn kind(&self) -> &'static str {
        "afpacket"
    }
    fn mtu(&self) -> u32 {
        self.mtu
    }
    fn set_mtu(&mut self, mtu: u32) {
        self.mtu = mtu;
    }
    fn rx_errors(&self) -> u64 {
        self.rx_errors
    }
    fn rx_full(&self) -> u64 {
        self.rx_full
    }
    fn tx_full(&self) -> Refused {
        self.tx_full
    }
    fn take_error(&mut self) -> Option<io::Error> {
        // The sending socket is bound to the same interface and gets the same error.
        let tx = sys::take_socket_error(self.tx_fd.as_raw_fd());
        sys::take_socket_error(self.fd.as_raw_fd()).or(tx)
    }
    fn poll_stats(&mut self) {
        if let Ok(drops) = sys::packet_drops(self.fd.as_raw_fd()) {
            self.rx_full += drops;
        }
    }

    fn recv_offloaded(&mut self, batch: &mut FrameBatch, offloads: &mut Vec<VnetHdr>) -> usize {
        let fd = self.fd.as_raw_fd();
        let Some(ring) = self.ring.as_mut() else {
            return self.recv_many(batch, offloads);
        };
        let mut n = 0;
        while n < RX_BATCH {
            let Some((info, slot)) = ring.peek() else {
                break;
            };
            if info.copied {
                // Too large for a slot: the whole frame waits on the socket.
                ring.release();
                let buf = &mut self.rx[..RX_SLOT];
                match sys::packet_recv(fd, &mut buf[RX_HDR_AT..]) {
                    Ok(got) => {
                        let len = got.len.checked_sub(VNET_HDR_LEN);
                        match len.filter(|&len| got.wire_len <= len) {
                            Some(len) => {
                                push_frame(buf, RX_FRAME_AT, len, got.vlan, batch, offloads)
                            }
                            None => self.rx_errors += 1,
                        }
                    }
                    Err(_) => self.rx_errors += 1,
                }
                n += 1;
                continue;
            }
            if info.snaplen < info.len || info.mac < RX_FRAME_AT {
                ring.release();
                self.rx_errors += 1;
                continue;
            }
            push_frame(slot, info.mac, info.snaplen, info.vlan, batch, offloads);
            ring.release();
            n += 1;
        }
        n
    }

    fn send_offloaded(&mut self, frame: &[u8], offload: &VnetHdr) -> Result<(), TxError> {
        if too_big_offloaded(frame, offload, self.mtu) {
            return Err(TxError::TooBig);
        }
        let hdr = offload.for_tx().to_bytes();
        if frame.len() > TX_COPY_MAX {
            // Keep the order: what is queued goes first.
            self.flush();
            return sys::send_two(self.tx_fd.as_raw_fd(), &hdr, frame)
                .map(|_| ())
                .map_err(|e| tx_error(&e));
        }
        match self.gro.push(&mut self.tx, frame, offload) {
            Queued::New(range) => {
                self.tx_frames.push(range);
                self.tx_segs.push(Refused::one(frame.len()));
            }
            Queued::Joined => {
                if let (Some(range), Some(n)) = (self.tx_frames.last_mut(), self.tx_segs.last_mut())
                {
                    range.end = self.tx.len();
                    n.add(Refused::one(frame.len()));
                }
            }
        }
        if self.tx_frames.len() >= sys::MAX_MSGS {
            self.flush();
        }
        Ok(())
    }
}

/// A TAP device: the switch's end of a virtual NIC that a VM or a userspace
/// network stack plugs into. Created if it does not exist, and set up.
pub struct TapPort {
    name: String,
    ifindex: u32,
    fd: OwnedFd,
    mtu: u32,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    rx_errors: u64,
    gone: bool,
}

impl TapPort {
    /// Creates or opens TAP device `name` and sets it up.
    pub fn open(name: &str) -> Result<TapPort> {
        let fd = sys::tap_open(name).map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => Error::AlreadyAttached(name.to_string()),
            Some(libc::EINVAL) => Error::Command(format!(
                "cannot open \"{name}\" as a TAP device (it exists and is not a TAP, or the name is invalid)"
            )),
            _ => Error::io(format!("opening TAP device \"{name}\""), e),
        })?;
        sys::if_set_up(name).map_err(|e| Error::iface(name, "setting up", e))?;
        let ifindex = sys::if_index(name).map_err(|e| Error::iface(name, "opening", e))?;
        let mtu = sys::if_mtu(name).map_err(|e| Error::iface(name, "reading the MTU of", e))?;
        Ok(TapPort {
            name: name.to_string(),
            ifindex,
            fd,
            mtu,
            buf: vec![0; RX_BUF],
            scratch: Vec::new(),
            rx_errors: 0,
            gone: false,
        })
    }
}

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut FrameBatch) -> usize {
        let mut n = 0;
        while n < FrameBatch::DEFAULT_SIZE {
            match sys::read(self.fd.as_raw_fd(), &mut self.buf) {
                Ok(len) => {
                    batch.push(&self.buf[..len]);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // EBADFD: the device was deleted under its descriptor.
                    self.gone |= matches!(e.raw_os_error(), Some(libc::EBADFD | libc::EIO));
                    tracing::debug!(port = %self.name, error = %e, "TAP read failed");
                    self.rx_errors += 1;
                    break;
                }
            }
        }
        n
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if too_big(frame, self.mtu) {
            return Err(TxError::TooBig);
        }
        sys::write(self.fd.as_raw_fd(), frame)
            .map(|_| ())
            .map_err(|e| tx_error(&e))
    }
}

impl LinuxPort for TapPort {
    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    /// A TAP device without virtio-net headers takes only finished frames:
    /// offloaded ones are completed or cut into segments here.
    fn send_offloaded(&mut self, frame: &[u8], offload: &VnetHdr) -> Result<(), TxError> {
        if offload.is_plain() {
            return self.send(frame);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut result = Ok(());
        let done = gso::resolve(frame, offload, &mut scratch, |seg| {
            if let Err(e) = self.send(seg) {
                result = Err(e);
            }
        });
        self.scratch = scratch;
        done.map_err(|_| TxError::TooBig)?;
        result
    }
    fn ifindex(&self) -> u32 {
        self.ifindex
    }
    fn kind(&self) -> &'static str {
        "tap"
    }
    fn gone(&self) -> bool {
        self.gone
    }
    fn follows_link_events(&self) -> bool {
        false
    }
    fn mtu(&self) -> u32 {
        self.mtu
    }
    fn set_mtu(&mut self, mtu: u32) {
        self.mtu = mtu;
    }
    fn rx_errors(&self) -> u64 {
        self.rx_errors
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
