//! A memory-mapped receive ring (PACKET_RX_RING, TPACKET_V3) of a packet
//! socket: the kernel packs frames one after another into large blocks and
//! hands a whole block to us at once, when it is full or when its timer runs
//! out. A block holds a GSO super-frame whole, so unlike
//! [`crate::ring::RxRing`] no frame ever has to be read from the socket's
//! queue instead (`copied` is always false).
//!
//! The price is latency: a lone frame waits for its block's timer (whole
//! milliseconds) before the reader is woken.
//!
//! The walk through a block reads only bytes (`frame`, `Walk`), so it is
//! tested on plain buffers; [`RxRingV3`] adds the mapping and the hand-over.

use crate::ring::{Mmap, SlotInfo};
use std::io;
use std::mem::{offset_of, size_of};
use std::ops::Range;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// A block starts with its descriptor; frames come after it.
const DESC_LEN: usize = size_of::<libc::tpacket_block_desc>();
const BH1_AT: usize = offset_of!(libc::tpacket_block_desc, hdr);
const BLOCK_STATUS_AT: usize = BH1_AT + offset_of!(libc::tpacket_hdr_v1, block_status);
const NUM_PKTS_AT: usize = BH1_AT + offset_of!(libc::tpacket_hdr_v1, num_pkts);
const FIRST_PKT_AT: usize = BH1_AT + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);

/// Each frame starts with a header, its bytes follow at `tp_mac`.
const HDR_LEN: usize = size_of::<libc::tpacket3_hdr>();
const NEXT_AT: usize = offset_of!(libc::tpacket3_hdr, tp_next_offset);
const SNAPLEN_AT: usize = offset_of!(libc::tpacket3_hdr, tp_snaplen);
const LEN_AT: usize = offset_of!(libc::tpacket3_hdr, tp_len);
const STATUS_AT: usize = offset_of!(libc::tpacket3_hdr, tp_status);
const MAC_AT: usize = offset_of!(libc::tpacket3_hdr, tp_mac);
const HV1_AT: usize = offset_of!(libc::tpacket3_hdr, hv1);
const VLAN_TCI_AT: usize = HV1_AT + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci);
const VLAN_TPID_AT: usize = HV1_AT + offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid);

/// The frame size the kernel checks the ring's geometry against (it must
/// divide the block size and hold the headers); V3 packs frames by their real
/// length and uses it for nothing else.
const FRAME_SIZE: usize = 2048;

/// What a frame's header says when the header or the frame would not lie
/// inside its block: no bytes, which the caller drops.
const BAD: SlotInfo = SlotInfo {
    len: 0,
    snaplen: 0,
    mac: 0,
    copied: false,
    vlan: None,
};

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The header of the frame at `at` in `block`, if it lies inside the block
/// past the descriptor (so that no frame ever covers the block's status word).
fn header(block: &[u8], at: usize) -> Option<&[u8]> {
    if at < DESC_LEN {
        return None;
    }
    block.get(at..at.checked_add(HDR_LEN)?)
}

/// What the frame at `at` in `block` says, and the range of the block from
/// its header to its last byte. A frame that would not fit in the block comes
/// out as [`BAD`] (keeping `len` if the header was readable).
fn frame(block: &[u8], at: usize) -> (SlotInfo, Range<usize>) {
    let Some(hdr) = header(block, at) else {
        return (BAD, 0..0);
    };
    let status = u32_at(hdr, STATUS_AT);
    let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0).then(|| {
        let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
            u16_at(hdr, VLAN_TPID_AT)
        } else {
            0x8100
        };
        // The field is 32 bits wide in V3; a TCI is the low 16.
        (tpid, u32_at(hdr, VLAN_TCI_AT) as u16)
    });
    let info = SlotInfo {
        len: u32_at(hdr, LEN_AT) as usize,
        snaplen: u32_at(hdr, SNAPLEN_AT) as usize,
        mac: usize::from(u16_at(hdr, MAC_AT)),
        copied: false,
        vlan,
    };
    let room = block.len() - at;
    if info.mac > room || info.snaplen > room - info.mac {
        // Cannot happen with a well-behaved kernel; never hand out bytes past the block.
        let bad = SlotInfo {
            len: info.len,
            ..BAD
        };
        return (bad, at..at + HDR_LEN);
    }
    (info, at..at + info.mac + info.snaplen)
}

/// Where the reader is in the block it holds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Walk {
    /// The offset of the current frame's header in the block.
    at: usize,
    /// Frames of the block not yet released, the current one included.
    left: u32,
}

impl Walk {
    /// The first frame of a block the kernel has handed over.
    fn enter(block: &[u8]) -> Walk {
        Walk {
            at: u32_at(block, FIRST_PKT_AT) as usize,
            left: u32_at(block, NUM_PKTS_AT),
        }
    }

    /// The frame after the current one, or `None` when the block is done:
    /// all its frames read, or the current one unreadable (a broken chain
    /// ends the block rather than send the reader out of it).
    fn next(self, block: &[u8]) -> Option<Walk> {
        if self.left <= 1 {
            return None;
        }
        let step = u32_at(header(block, self.at)?, NEXT_AT) as usize;
        // A step shorter than a header cannot be the kernel's: make the next
        // frame unreadable, so that it is reported bad and ends the block.
        let at = if step >= HDR_LEN {
            self.at + step
        } else {
            usize::MAX
        };
        Some(Walk {
            at,
            left: self.left - 1,
        })
    }
}

/// The TPACKET_V3 receive ring of one packet socket.
pub struct RxRingV3 {
    base: *mut u8,
    block_size: usize,
    blocks: usize,
    /// The block the reader is at.
    block: usize,
    /// Where it is in that block, once the kernel has handed the block over.
    walk: Option<Walk>,
    /// The mapping `base` points into (none for the tests' buffers).
    _map: Option<Mmap>,
}

// SAFETY: `base` points into the mapping this value owns (or, in tests, into
// leaked memory); moving it to another thread moves that ownership with it.
unsafe impl Send for RxRingV3 {}

impl RxRingV3 {
    /// Sets up a ring of `blocks` blocks of `block_size` bytes (a multiple of
    /// the page size and of 2048) on packet socket `fd` (before it is bound)
    /// and maps it. The kernel hands over a block that is not full after
    /// `retire_tov_ms` milliseconds (0: a delay it picks from the link speed).
    pub fn new(
        fd: RawFd,
        block_size: usize,
        blocks: usize,
        retire_tov_ms: u32,
    ) -> io::Result<RxRingV3> {
        let einval = || io::Error::from_raw_os_error(libc::EINVAL);
        if blocks == 0 || block_size == 0 || block_size % FRAME_SIZE != 0 {
            return Err(einval());
        }
        let size = block_size.checked_mul(blocks).ok_or_else(einval)?;
        let req = libc::tpacket_req3 {
            tp_block_size: u32::try_from(block_size).map_err(|_| einval())?,
            tp_block_nr: u32::try_from(blocks).map_err(|_| einval())?,
            tp_frame_size: FRAME_SIZE as u32,
            // The kernel insists on exactly this many.
            tp_frame_nr: u32::try_from(size / FRAME_SIZE).map_err(|_| einval())?,
            tp_retire_blk_tov: retire_tov_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        crate::sys::setsockopt_int(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            libc::tpacket_versions::TPACKET_V3 as i32,
        )?;
        crate::sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let map = Mmap::shared(fd, size, 0)?;
        Ok(RxRingV3 {
            base: map.ptr,
            block_size,
            blocks,
            block: 0,
            walk: None,
            _map: Some(map),
        })
    }

    /// The status word of block `b`, which the kernel and we hand the block over with.
    fn status(&self, b: usize) -> &AtomicU32 {
        // SAFETY: block `b` < blocks lies inside the memory, which lives as
        // long as `self`; the word at BLOCK_STATUS_AT (8) of an 8-byte-aligned
        // block is aligned, and the kernel also accesses it atomically. No
        // slice handed out covers it (frames start past the descriptor).
        unsafe { AtomicU32::from_ptr(self.base.add(b * self.block_size + BLOCK_STATUS_AT).cast()) }
    }

    /// The bytes of the current block; only while the kernel has handed it over.
    fn block_mut(&mut self) -> &mut [u8] {
        // SAFETY: the block is ours until hand_back() (the kernel set
        // TP_STATUS_USER, touches it no more, and the Acquire load in enter()
        // orders our reads after its writes); it lies inside the memory, and
        // `&mut self` keeps any other view of it from existing meanwhile.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.add(self.block * self.block_size),
                self.block_size,
            )
        }
    }

    /// Starts on the current block if the kernel has handed it over, giving
    /// back the empty ones on the way.
    fn enter(&mut self) -> Option<Walk> {
        for _ in 0..self.blocks {
            let status = self.status(self.block).load(Ordering::Acquire);
            if status & libc::TP_STATUS_USER == 0 {
                return None;
            }
            let walk = Walk::enter(self.block_mut());
            if walk.left > 0 {
                self.walk = Some(walk);
                return Some(walk);
            }
            self.hand_back();
        }
        None
    }

    /// Gives the current block back to the kernel and moves to the next one.
    fn hand_back(&mut self) {
        self.walk = None;
        self.status(self.block)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.block = (self.block + 1) % self.blocks;
    }

    /// The next frame, if the kernel has handed its block over: what its
    /// header says, and the bytes from the header to the frame's end, so that
    /// the frame is `slot[info.mac..info.mac + info.snaplen]` with its
    /// virtio-net header just before. A frame that does not fit in its block
    /// comes with `snaplen` and `mac` 0. Call [`RxRingV3::release`] when done
    /// with it.
    pub fn peek(&mut self) -> Option<(SlotInfo, &mut [u8])> {
        let walk = match self.walk {
            Some(walk) => walk,
            None => self.enter()?,
        };
        let block = self.block_mut();
        let (info, range) = frame(block, walk.at);
        Some((info, &mut block[range]))
    }

    /// Done with the current frame: moves to the next one, giving the block
    /// back to the kernel once all its frames are done.
    pub fn release(&mut self) {
        let Some(walk) = self.walk else {
            return;
        };
        match walk.next(self.block_mut()) {
            Some(next) => self.walk = Some(next),
            None => self.hand_back(),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::sys;
    use std::os::fd::AsRawFd;

    const BLOCK: usize = 4096;
    /// Where the kernel puts a frame behind its headers with a virtio-net header.
    const MAC: usize = 92;

    /// A frame to put in a block, as the kernel would describe it.
    #[derive(Clone, Copy)]
    struct Fab {
        at: usize,
        next: u32,
        len: u32,
        snaplen: u32,
        mac: u16,
        status: u32,
        tci: u32,
        tpid: u16,
    }

    /// Frames of `sizes` bytes laid out as the kernel does: one after the
    /// other from the descriptor on, 8-byte aligned, the last with no next.
    fn layout(sizes: &[usize]) -> Vec<Fab> {
        let mut at = DESC_LEN;
        let mut out = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let step = (MAC + size).next_multiple_of(8);
            let last = i + 1 == sizes.len();
            out.push(Fab {
                at,
                next: if last { 0 } else { step as u32 },
                len: size as u32,
                snaplen: size as u32,
                mac: MAC as u16,
                status: 0,
                tci: 0,
                tpid: 0,
            });
            at += step;
        }
        out
    }

    /// Byte `k` of the frame at `at`: distinct from frame to frame.
    fn byte(at: usize, k: usize) -> u8 {
        (at / 8 + k * 7) as u8
    }

    /// Writes a block descriptor and `frames` (with their bytes) into `block`.
    fn put_block(block: &mut [u8], status: u32, frames: &[Fab]) {
        let put = |b: &mut [u8], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        let put16 =
            |b: &mut [u8], at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
        put(block, BLOCK_STATUS_AT, status);
        put(block, NUM_PKTS_AT, frames.len() as u32);
        put(
            block,
            FIRST_PKT_AT,
            frames.first().map_or(DESC_LEN, |f| f.at) as u32,
        );
        for f in frames {
            let Some(hdr) = block.get_mut(f.at..f.at + HDR_LEN) else {
                continue;
            };
            put(hdr, NEXT_AT, f.next);
            put(hdr, LEN_AT, f.len);
            put(hdr, SNAPLEN_AT, f.snaplen);
            put(hdr, STATUS_AT, f.status);
            put16(hdr, MAC_AT, f.mac);
            put(hdr, VLAN_TCI_AT, f.tci);
            put16(hdr, VLAN_TPID_AT, f.tpid);
            let start = f.at + usize::from(f.mac);
            for k in 0..f.snaplen as usize {
                if let Some(b) = block.get_mut(start + k) {
                    *b = byte(f.at, k);
                }
            }
        }
    }

    /// A ring over `bytes` (whole blocks of BLOCK bytes) instead of a mapping.
    /// The memory is leaked: the ring's raw pointer may then outlive nothing.
    fn ring_over(bytes: &[u8]) -> RxRingV3 {
        let words: Vec<u64> = bytes
            .chunks(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        RxRingV3 {
            base: words.leak().as_mut_ptr().cast(),
            block_size: BLOCK,
            blocks: bytes.len() / BLOCK,
            block: 0,
            walk: None,
            _map: None,
        }
    }

    fn block_status(ring: &RxRingV3, b: usize) -> u32 {
        ring.status(b).load(Ordering::Relaxed)
    }

    /// Peeks the next frame and checks it is `f` with its bytes.
    fn expect_frame(ring: &mut RxRingV3, f: &Fab) -> SlotInfo {
        let (info, slot) = ring.peek().expect("a frame");
        assert_eq!(
            (info.len, info.snaplen, info.mac),
            (f.len as usize, f.snaplen as usize, usize::from(f.mac))
        );
        assert!(!info.copied);
        assert_eq!(slot.len(), info.mac + info.snaplen);
        assert_eq!(
            u32_at(slot, LEN_AT),
            f.len,
            "the slot starts at the frame's header"
        );
        for (k, &b) in slot[info.mac..].iter().enumerate() {
            assert_eq!(b, byte(f.at, k));
        }
        info
    }

    #[test]
    fn frames_come_in_order_and_blocks_go_back_when_all_are_read() {
        let mut mem = vec![0u8; 2 * BLOCK];
        let mut first = layout(&[60, 1514, 100]);
        first[1].status = libc::TP_STATUS_VLAN_VALID;
        first[1].tci = 0x2064;
        first[2].status = libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
        first[2].tci = 0x0005;
        first[2].tpid = 0x88a8;
        put_block(&mut mem[..BLOCK], libc::TP_STATUS_USER, &first);
        let second = layout(&[64, 1000]);
        put_block(&mut mem[BLOCK..], libc::TP_STATUS_KERNEL, &second);
        let mut ring = ring_over(&mem);

        assert_eq!(expect_frame(&mut ring, &first[0]).vlan, None);
        // Peeking again shows the same frame.
        expect_frame(&mut ring, &first[0]);
        ring.release();
        assert_eq!(
            expect_frame(&mut ring, &first[1]).vlan,
            Some((0x8100, 0x2064))
        );
        ring.release();
        assert_eq!(block_status(&ring, 0), libc::TP_STATUS_USER);
        assert_eq!(
            expect_frame(&mut ring, &first[2]).vlan,
            Some((0x88a8, 0x0005))
        );
        ring.release();
        assert_eq!(block_status(&ring, 0), libc::TP_STATUS_KERNEL);
        // The kernel still holds the next block.
        assert!(ring.peek().is_none());
        ring.release();
        assert!(ring.peek().is_none());

        ring.status(1)
            .store(libc::TP_STATUS_USER, Ordering::Release);
        expect_frame(&mut ring, &second[0]);
        ring.release();
        expect_frame(&mut ring, &second[1]);
        ring.release();
        assert_eq!(block_status(&ring, 1), libc::TP_STATUS_KERNEL);

        // Wraps around to the first block.
        ring.status(0)
            .store(libc::TP_STATUS_USER, Ordering::Release);
        expect_frame(&mut ring, &first[0]);
    }

    #[test]
    fn a_truncated_frame_is_reported_as_such() {
        let mut mem = vec![0u8; BLOCK];
        let mut frames = layout(&[60, 200]);
        frames[0].len = 1514;
        put_block(&mut mem, libc::TP_STATUS_USER, &frames);
        let mut ring = ring_over(&mem);
        let info = expect_frame(&mut ring, &frames[0]);
        assert!(info.snaplen < info.len);
        ring.release();
        expect_frame(&mut ring, &frames[1]);
    }

    #[test]
    fn a_frame_outside_its_block_has_no_bytes_and_ends_the_block() {
        let mut mem = vec![0u8; 2 * BLOCK];
        // The first frame's next offset points past the block: the second
        // and third are never reached.
        let mut frames = layout(&[60, 60, 60]);
        frames[0].next = BLOCK as u32;
        put_block(&mut mem[..BLOCK], libc::TP_STATUS_USER, &frames);
        put_block(&mut mem[BLOCK..], libc::TP_STATUS_USER, &layout(&[70]));
        let mut ring = ring_over(&mem);
        expect_frame(&mut ring, &frames[0]);
        ring.release();
        let (info, slot) = ring.peek().expect("a bad frame");
        assert_eq!((info.snaplen, info.mac, slot.len()), (0, 0, 0));
        ring.release();
        assert_eq!(block_status(&ring, 0), libc::TP_STATUS_KERNEL);
        let (info, _) = ring.peek().expect("the next block");
        assert_eq!(info.len, 70);
    }

    #[test]
    fn frames_reaching_past_their_block_are_cut_to_nothing() {
        let mut mem = vec![0u8; BLOCK];
        let mut frames = layout(&[60, 60, 60, 60]);
        // Bytes past the end of the block.
        frames[0].snaplen = BLOCK as u32;
        // A header in the block's descriptor.
        frames[1].next = 8;
        put_block(&mut mem, libc::TP_STATUS_USER, &frames);
        let mut ring = ring_over(&mem);
        let (info, slot) = ring.peek().unwrap();
        assert_eq!(
            (info.len, info.snaplen, info.mac, slot.len()),
            (60, 0, 0, HDR_LEN)
        );
        ring.release();
        expect_frame(&mut ring, &frames[1]);
        ring.release();
        // A next offset smaller than a header is not followed.
        let (info, slot) = ring.peek().unwrap();
        assert_eq!((info.snaplen, info.mac, slot.len()), (0, 0, 0));
        ring.release();
        assert_eq!(block_status(&ring, 0), libc::TP_STATUS_KERNEL);
        assert!(ring.peek().is_none());
    }

    #[test]
    fn a_first_frame_in_the_descriptor_or_past_the_block_is_bad() {
        for first in [16, BLOCK as u32 - 8, u32::MAX] {
            let mut mem = vec![0u8; BLOCK];
            put_block(&mut mem, libc::TP_STATUS_USER, &layout(&[60, 60]));
            mem[FIRST_PKT_AT..FIRST_PKT_AT + 4].copy_from_slice(&first.to_ne_bytes());
            let mut ring = ring_over(&mem);
            let (info, slot) = ring.peek().unwrap();
            assert_eq!((info.snaplen, info.mac, slot.len()), (0, 0, 0));
            ring.release();
            assert_eq!(block_status(&ring, 0), libc::TP_STATUS_KERNEL);
        }
    }

    #[test]
    fn empty_blocks_go_straight_back() {
        let mut mem = vec![0u8; 3 * BLOCK];
        put_block(&mut mem[..BLOCK], libc::TP_STATUS_USER, &[]);
        let frames = layout(&[80]);
        put_block(&mut mem[BLOCK..2 * BLOCK], libc::TP_STATUS_USER, &frames);
        put_block(&mut mem[2 * BLOCK..], libc::TP_STATUS_USER, &[]);
        let mut ring = ring_over(&mem);
        expect_frame(&mut ring, &frames[0]);
        assert_eq!(block_status(&ring, 0), libc::TP_STATUS_KERNEL);
        assert_eq!(block_status(&ring, 1), libc::TP_STATUS_USER);
        ring.release();
        assert_eq!(block_status(&ring, 1), libc::TP_STATUS_KERNEL);
        // The third block is empty, and the first is the kernel's again.
        assert!(ring.peek().is_none());
        assert_eq!(block_status(&ring, 2), libc::TP_STATUS_KERNEL);
        assert_eq!(ring.block, 0);
    }

    #[test]
    fn release_without_a_block_does_nothing() {
        let mem = vec![0u8; BLOCK];
        let mut ring = ring_over(&mem);
        ring.release();
        assert!(ring.peek().is_none());
        assert_eq!(ring.block, 0);
    }

    /// A network namespace deleted when dropped, test failed or not.
    struct Netns(String);

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = crate::lab::ip(&["netns", "del", &self.0]);
        }
    }

    /// Test frame `i`: broadcast, from 02:00:00:00:72:33, EtherType 0x88b5
    /// (local experimental), 60 to 1514 bytes; frame 50 carries an 802.1Q tag.
    fn test_frame(i: usize) -> Vec<u8> {
        let size = 60 + i * (1514 - 60) / 99;
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0x72, 0x33]);
        if i == 50 {
            f.extend_from_slice(&[0x81, 0x00, 0x01, 0x23]);
        }
        f.extend_from_slice(&[0x88, 0xb5]);
        f.extend_from_slice(&(i as u32).to_be_bytes());
        while f.len() < size {
            f.push((f.len() * 13 + i) as u8);
        }
        f
    }

    /// A frame from the ring, and the tag the kernel took off it.
    type Got = (Vec<u8>, Option<(u16, u16)>);

    /// Sends 100 frames into one end of a veth pair and reads them from the
    /// other through the ring: the frames (tag put back) and the tags the
    /// kernel took off, in order.
    fn veth_round_trip(ns_path: &str) -> io::Result<Vec<Got>> {
        sys::in_netns(ns_path, || {
            let rx = sys::packet_socket()?;
            sys::setsockopt_int(rx.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_VNET_HDR, 1)?;
            let mut ring = RxRingV3::new(rx.as_raw_fd(), 1 << 20, 4, 1)?;
            sys::packet_bind(rx.as_raw_fd(), sys::if_index("vr3a")?)?;
            let tx = sys::packet_socket()?;
            sys::packet_bind(tx.as_raw_fd(), sys::if_index("vr3b")?)?;
            for i in 0..100 {
                sys::send(tx.as_raw_fd(), &test_frame(i))?;
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            let mut got = Vec::new();
            while got.len() < 100 {
                while let Some((info, slot)) = ring.peek() {
                    if info.snaplen != info.len || info.mac < crate::vnet::VNET_HDR_LEN {
                        return Err(io::Error::other(format!("bad frame: {info:?}")));
                    }
                    let mut f = slot[info.mac..info.mac + info.snaplen].to_vec();
                    if let Some((tpid, tci)) = info.vlan {
                        let tag = [tpid.to_be_bytes(), tci.to_be_bytes()].concat();
                        f.splice(12..12, tag);
                    }
                    // Leave out what the namespace itself sends (IPv6 neighbour discovery).
                    if f.get(6..12) == Some(&[0x02, 0, 0, 0, 0x72, 0x33]) {
                        got.push((f, info.vlan));
                    }
                    ring.release();
                }
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if got.len() == 100 || left.is_zero() {
                    break;
                }
                let mut pfd = libc::pollfd {
                    fd: rx.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: `pfd` is one initialised pollfd, live for the call.
                unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32 + 1) };
            }
            Ok(got)
        })
    }

    #[test]
    fn a_veth_delivers_frames_through_the_ring_in_order() {
        if !sys::is_root() {
            eprintln!("skipped: creating a network namespace needs root");
            return;
        }
        let ns = Netns(format!("vswt-{}r3", std::process::id() % 10000));
        let _ = crate::lab::ip(&["netns", "del", &ns.0]);
        crate::lab::ip(&["netns", "add", &ns.0]).unwrap();
        let n = ns.0.as_str();
        crate::lab::ip(&[
            "-n", n, "link", "add", "vr3a", "type", "veth", "peer", "name", "vr3b",
        ])
        .unwrap();
        crate::lab::ip(&["-n", n, "link", "set", "vr3a", "up"]).unwrap();
        crate::lab::ip(&["-n", n, "link", "set", "vr3b", "up"]).unwrap();
        let got = veth_round_trip(&format!("/var/run/netns/{n}")).unwrap();
        assert_eq!(got.len(), 100, "frames received");
        for (i, (f, vlan)) in got.iter().enumerate() {
            assert_eq!(f, &test_frame(i), "frame {i}");
            // The receiving veth takes the tag off: the ring reports it.
            let tag = (i == 50).then_some((0x8100, 0x0123));
            assert_eq!(*vlan, tag, "tag of frame {i}");
        }
    }
}
