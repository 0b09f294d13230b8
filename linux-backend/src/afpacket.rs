//! An AF_PACKET port: a packet socket bound to one interface, receiving
//! through a memory-mapped ring (TPACKET_V2 or V3) or recvmmsg, sending by
//! sendmmsg when flushed, with each frame's offload state in a virtio-net
//! header.

use crate::error::{Error, Result};
use crate::gro::{Coalescer, Queued};
use crate::gso;
use crate::port::{
    too_big, too_big_offloaded, tx_error, LinuxPort, Pending, PortOptions, RingKind,
};
use crate::ring::{RxRing, SlotInfo};
use crate::ring_v3::RxRingV3;
use crate::sys;
use crate::vnet::{VnetHdr, VNET_HDR_LEN};
use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use vswitch_core::frame::VLAN_TAG_LEN;
use vswitch_core::{DeviceCounts, FrameBatch, Port, TxError};

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
    /// The last receive with offload states, for [`AfPacketPort::recv_finished`].
    rx_batch: FrameBatch<VnetHdr>,
    /// Queued frames, each behind its virtio-net header, and how many
    /// frames the switch sent each stands for (segments joined by `gro`).
    tx: Vec<u8>,
    tx_frames: Vec<Range<usize>>,
    tx_segs: Vec<Pending>,
    gro: Coalescer,
    scratch: Vec<u8>,
    /// What the kernel dropped, until [`Port::take_counts`].
    counts: DeviceCounts,
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
            rx_batch: FrameBatch::with_room(RX_BATCH),
            tx: Vec::with_capacity(RX_BATCH * (TX_COPY_MAX + VNET_HDR_LEN)),
            tx_frames: Vec::with_capacity(RX_BATCH),
            tx_segs: Vec::with_capacity(RX_BATCH),
            gro: Coalescer::new(opts.gro),
            scratch: Vec::new(),
            counts: DeviceCounts::default(),
        })
    }
}

impl AfPacketPort {
    /// Receives with recvmmsg, when the port has no ring.
    fn recv_many(&mut self, batch: &mut FrameBatch<VnetHdr>) -> usize {
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
                self.counts.rx_errors += 1;
                return 0;
            }
        };
        let mut n = 0;
        for (i, got) in self.rx_got[..got].iter().enumerate() {
            let slot = &mut self.rx[i * RX_SLOT..(i + 1) * RX_SLOT];
            match got.len.checked_sub(VNET_HDR_LEN) {
                Some(len) if got.wire_len <= len => {
                    push_frame(slot, RX_FRAME_AT, len, got.vlan, batch);
                    n += 1;
                }
                _ => self.counts.rx_errors += 1,
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
    batch: &mut FrameBatch<VnetHdr>,
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
            batch.push_with(&slot[start..at + len], offload.grown(VLAN_TAG_LEN as u16));
        }
        _ => {
            batch.push_with(&slot[at..at + len], offload);
        }
    }
}

impl Port for AfPacketPort {
    type Meta = VnetHdr;

    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut FrameBatch<VnetHdr>) -> usize {
        let fd = self.fd.as_raw_fd();
        let Some(ring) = self.ring.as_mut() else {
            return self.recv_many(batch);
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
                            Some(len) => push_frame(buf, RX_FRAME_AT, len, got.vlan, batch),
                            None => self.counts.rx_errors += 1,
                        }
                    }
                    Err(_) => self.counts.rx_errors += 1,
                }
                n += 1;
                continue;
            }
            if info.snaplen < info.len || info.mac < RX_FRAME_AT {
                ring.release();
                self.counts.rx_errors += 1;
                continue;
            }
            push_frame(slot, info.mac, info.snaplen, info.vlan, batch);
            ring.release();
            n += 1;
        }
        n
    }

    /// Queues the frame with its offload state until [`Port::flush`] (a GSO
    /// super-frame goes at once); consecutive TCP segments of one flow may
    /// be joined into one super-frame on the way ([`crate::gro`]).
    fn send(&mut self, frame: &[u8], offload: VnetHdr) -> Result<(), TxError> {
        if too_big_offloaded(frame, &offload, self.mtu) {
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
        match self.gro.push(&mut self.tx, frame, &offload) {
            Queued::New(range) => {
                self.tx_frames.push(range);
                self.tx_segs.push(Pending::one(frame.len()));
            }
            Queued::Joined => {
                if let (Some(range), Some(n)) = (self.tx_frames.last_mut(), self.tx_segs.last_mut())
                {
                    range.end = self.tx.len();
                    n.add(Pending::one(frame.len()));
                }
            }
        }
        if self.tx_frames.len() >= sys::MAX_MSGS {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        let fd = self.tx_fd.as_raw_fd();
        let mut at = 0;
        while at < self.tx_frames.len() {
            match sys::send_many(fd, &self.tx, &self.tx_frames[at..]) {
                Ok(0) => {
                    for &n in &self.tx_segs[at..] {
                        n.refused_in(&mut self.counts);
                    }
                    break;
                }
                Ok(sent) => at += sent,
                Err(e) => {
                    // The first frame was refused (ENOBUFS: the egress queue
                    // is full; ENETDOWN...): count it and go on with the rest.
                    tracing::trace!(port = %self.name, error = %e, "send failed");
                    self.tx_segs[at].refused_in(&mut self.counts);
                    at += 1;
                }
            }
        }
        self.tx.clear();
        self.tx_frames.clear();
        self.tx_segs.clear();
        self.gro.reset();
    }

    fn take_counts(&mut self) -> DeviceCounts {
        std::mem::take(&mut self.counts)
    }
}

impl AfPacketPort {
    /// Receives as [`Port::recv`] does, but finished frames only: offloaded
    /// ones are completed or cut into segments here. For a port used as a
    /// plain packet socket (a test's sniffer).
    pub fn recv_finished(&mut self, batch: &mut FrameBatch) -> usize {
        let mut own = std::mem::take(&mut self.rx_batch);
        own.clear();
        self.recv(&mut own);
        let mut n = 0;
        for (frame, offload) in own.iter_with_meta() {
            match gso::resolve(frame, &offload, &mut self.scratch, |seg| {
                batch.push(seg);
                n += 1;
            }) {
                Ok(_) => {}
                Err(_) => self.counts.rx_errors += 1,
            }
        }
        self.rx_batch = own;
        n
    }

    /// Sends one finished frame at once, without queueing (a test's raw
    /// sender; the switch's own path, [`Port::send`], queues frames until
    /// [`Port::flush`]).
    pub fn send_now(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if too_big(frame, self.mtu) {
            return Err(TxError::TooBig);
        }
        self.flush();
        sys::send_two(self.tx_fd.as_raw_fd(), &VnetHdr::NONE.to_bytes(), frame)
            .map(|_| ())
            .map_err(|e| tx_error(&e))
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
    fn take_error(&mut self) -> Option<io::Error> {
        // The sending socket is bound to the same interface and gets the same error.
        let tx = sys::take_socket_error(self.tx_fd.as_raw_fd());
        sys::take_socket_error(self.fd.as_raw_fd()).or(tx)
    }
    fn poll_stats(&mut self) {
        if let Ok(drops) = sys::packet_drops(self.fd.as_raw_fd()) {
            self.counts.rx_full += drops;
        }
    }
}
