//! A memory-mapped receive ring (PACKET_RX_RING, TPACKET_V2) of a packet
//! socket: the kernel copies each frame into a slot of memory shared with us,
//! in the softirq of the CPU that sent it, and we read it without a system
//! call. Frames too large for a slot (GSO super-frames) are also queued whole
//! on the socket (PACKET_COPY_THRESH) and their slot says so (`copied`).
//!
//! TPACKET_V2 rather than V3: a V3 ring wakes the reader only when a block is
//! full or its timer (whole milliseconds) expires, which would put
//! milliseconds on every ping; V2 wakes it per frame, and at full load the
//! reader finds many frames per wakeup anyway.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// What a slot says about its frame.
#[derive(Clone, Copy, Debug)]
pub struct SlotInfo {
    /// The frame's length on the wire.
    pub len: usize,
    /// Bytes of it in the slot.
    pub snaplen: usize,
    /// Where the frame starts in the slot (a virtio-net header sits just before).
    pub mac: usize,
    /// The frame is queued whole on the socket: read it from there.
    pub copied: bool,
    /// A VLAN tag the kernel took off the frame: (TPID, TCI).
    pub vlan: Option<(u16, u16)>,
}

/// The receive ring of one packet socket.
pub struct RxRing {
    map: Mmap,
    frame_size: usize,
    frames: usize,
    next: usize,
}

impl RxRing {
    /// Sets up a ring of `frames` slots of `frame_size` bytes on packet socket
    /// `fd` (before it is bound) and maps it.
    pub fn new(fd: RawFd, frame_size: usize, frames: usize) -> io::Result<RxRing> {
        let block_size = 1 << 16;
        if frame_size == 0 || block_size % frame_size != 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let per_block = block_size / frame_size;
        let blocks = frames.div_ceil(per_block);
        crate::sys::setsockopt_int(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            libc::tpacket_versions::TPACKET_V2 as i32,
        )?;
        // Frames larger than a slot also go whole to the socket's queue.
        crate::sys::setsockopt_int(fd, libc::SOL_PACKET, libc::PACKET_COPY_THRESH, 1)?;
        let req = libc::tpacket_req {
            tp_block_size: block_size as u32,
            tp_block_nr: blocks as u32,
            tp_frame_size: frame_size as u32,
            tp_frame_nr: (blocks * per_block) as u32,
        };
        crate::sys::setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let map = Mmap::shared(fd, block_size * blocks, 0)?;
        Ok(RxRing {
            map,
            frame_size,
            frames: blocks * per_block,
            next: 0,
        })
    }

    /// The status word of slot `i`, which the kernel and we hand the slot over with.
    fn status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: slot `i` < frames lies inside the mapping, which lives as
        // long as `self`; its first 4 bytes (page-aligned slots of a multiple
        // of 16 bytes, so aligned) are the tp_status word, which the kernel
        // also accesses atomically.
        unsafe { AtomicU32::from_ptr(self.map.ptr.add(i * self.frame_size).cast()) }
    }

    /// The next slot, if the kernel has handed it to us: what it holds and
    /// its bytes. Call [`RxRing::release`] when done with it.
    pub fn peek(&mut self) -> Option<(SlotInfo, &mut [u8])> {
        let status = self.status(self.next).load(Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the slot is ours until release() (the kernel set
        // TP_STATUS_USER and touches it no more, and the Acquire load orders
        // our reads after its writes); it lies inside the mapping and `&mut
        // self` keeps any other view of it from existing meanwhile.
        let slot = unsafe {
            std::slice::from_raw_parts_mut(
                self.map.ptr.add(self.next * self.frame_size),
                self.frame_size,
            )
        };
        // SAFETY: the slot starts with a tpacket2_hdr (32 bytes, in the slot).
        let hdr: libc::tpacket2_hdr = unsafe { std::ptr::read_unaligned(slot.as_ptr().cast()) };
        let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0).then(|| {
            let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                hdr.tp_vlan_tpid
            } else {
                0x8100
            };
            (tpid, hdr.tp_vlan_tci)
        });
        let info = SlotInfo {
            len: hdr.tp_len as usize,
            snaplen: hdr.tp_snaplen as usize,
            mac: usize::from(hdr.tp_mac),
            copied: status & libc::TP_STATUS_COPY != 0,
            vlan,
        };
        if info.mac > slot.len() || info.snaplen > slot.len() - info.mac {
            // Cannot happen with a well-behaved kernel; never index out of the slot.
            return Some((
                SlotInfo {
                    snaplen: 0,
                    mac: 0,
                    ..info
                },
                slot,
            ));
        }
        Some((info, slot))
    }

    /// Gives the current slot back to the kernel and moves to the next one.
    pub fn release(&mut self) {
        self.status(self.next)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.next = (self.next + 1) % self.frames;
    }
}

/// A mapping of ours, unmapped on drop: a ring the kernel allocated for a
/// socket, or private memory.
pub(crate) struct Mmap {
    pub(crate) ptr: *mut u8,
    pub(crate) len: usize,
}

// SAFETY: the mapping belongs to this value alone; moving it to another
// thread moves that ownership with it.
unsafe impl Send for Mmap {}

impl Mmap {
    /// `len` bytes of zeroed private memory.
    pub(crate) fn anonymous(len: usize) -> io::Result<Mmap> {
        Mmap::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    }

    /// The `len` bytes of the ring of socket `fd` at offset `off`, shared,
    /// with every page touched in advance.
    pub(crate) fn shared(fd: RawFd, len: usize, off: u64) -> io::Result<Mmap> {
        Mmap::map(len, libc::MAP_SHARED | libc::MAP_POPULATE, fd, off)
    }

    fn map(len: usize, flags: i32, fd: RawFd, off: u64) -> io::Result<Mmap> {
        // SAFETY: a fresh mapping at an address of the kernel's choosing;
        // the result is checked.
        let ptr = unsafe {
            libc::mmap64(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                off as libc::off64_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what map() mapped; nothing borrows it any more.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}
