//! AF_XDP ports, in copy mode: a second kind of port on an interface, beside
//! AF_PACKET ([`crate::port::AfPacketPort`]), for `vswitch run --afxdp`.
//!
//! A tiny XDP program on the interface redirects every frame of receive
//! queue 0 into an AF_XDP socket, which the kernel copies into memory we
//! own (the UMEM); we copy frames to send into the same memory and hand
//! them over through a transmit ring. Compared with a packet socket, a
//! frame skips the kernel's receive path on the way in (the copy happens
//! in the sender's XDP hook) and the per-message work of `sendmmsg` on the
//! way out.
//!
//! What it cannot do, and why AF_PACKET stays the default:
//! - no offloads: AF_XDP carries no virtio-net header, so frames leave
//!   whole, and a sender that leaves checksums to the device (a veth with
//!   TX checksum offload on, the default) hands over frames whose checksum
//!   is not finished; with a veth, attaching XDP also turns TSO off on its
//!   peer. Use it where the peers send finished frames (`ethtool -K PEER tx
//!   off`), as for Open vSwitch's AF_XDP ports;
//! - no VLAN tag that the sending device left to offload (a VLAN device
//!   on a veth whose TX VLAN offload is on, the default): XDP sees the
//!   frame without it. Tags inside the frame cross as they are;
//! - one receive queue (a veth has one); frames of other queues go to the
//!   kernel's stack;
//! - frames of up to [`MAX_FRAME`] bytes (MTU 1500 with a VLAN tag fits).
//!
//! The program is attached through a BPF link (Linux 5.9 or later), so it
//! goes away with the process, even on a crash. Its six instructions are written out below
//! rather than compiled, so building needs no BPF toolchain.

use crate::error::{Error, Result};
use crate::port::{send_finished, LinuxPort, Pending};
use crate::ring::Mmap;
use crate::sys;
use crate::vnet::VnetHdr;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use vswitch_core::{DeviceCounts, FrameBatch, Port, TxError};

/// One UMEM chunk: the kernel's smallest.
const CHUNK: usize = 2048;
/// Room the kernel keeps in front of a received frame (XDP_PACKET_HEADROOM).
const XDP_HEADROOM: usize = 256;
/// The largest frame a chunk takes, in either direction.
pub const MAX_FRAME: usize = CHUNK - XDP_HEADROOM;
/// Frames queued for sending before they are handed over without waiting
/// for [`Port::flush`].
const TX_FLUSH_AT: u32 = 256;
/// Transmit descriptors the kernel takes per `sendto` in copy mode
/// (TX_BATCH_SIZE); `flush` kicks until the ring is empty.
const KERNEL_TX_BATCH: u32 = 32;

// ---- the XDP program ----

const BPF_MAP_CREATE: i32 = 0;
const BPF_MAP_UPDATE_ELEM: i32 = 2;
const BPF_PROG_LOAD: i32 = 5;
const BPF_LINK_CREATE: i32 = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_PASS: i32 = 2;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// `struct xdp_md`: offset of `rx_queue_index`.
const XDP_MD_RX_QUEUE: i16 = 16;

/// `union bpf_attr`, as the bytes the fields of one command sit in.
struct BpfAttr([u8; 128]);

impl BpfAttr {
    fn new() -> BpfAttr {
        BpfAttr([0; 128])
    }
    fn u32(mut self, at: usize, v: u32) -> BpfAttr {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(mut self, at: usize, v: u64) -> BpfAttr {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
}

/// The bpf(2) system call; returns the new descriptor, if the command makes one.
fn bpf(cmd: i32, attr: &mut BpfAttr) -> io::Result<i32> {
    // SAFETY: `attr` is a 128-byte bpf_attr whose pointers (set by the
    // callers) point at live buffers for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}

fn bpf_fd(cmd: i32, attr: &mut BpfAttr) -> io::Result<OwnedFd> {
    let fd = bpf(cmd, attr)?;
    // SAFETY: the command returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    // `dst_reg:4, src_reg:4` as C lays out bitfields: from the low bits on a
    // little-endian machine, from the high bits on a big-endian one.
    let regs = if cfg!(target_endian = "big") {
        (dst << 4) | src
    } else {
        (src << 4) | dst
    };
    Insn {
        code,
        regs,
        off,
        imm,
    }
}

/// `r2 = ctx->rx_queue_index; r1 = &xsks; r3 = XDP_PASS;
/// return bpf_redirect_map(r1, r2, r3)`: every frame to the socket of its
/// queue, or to the kernel's stack if that queue has none.
fn program(map_fd: RawFd) -> [Insn; 6] {
    [
        insn(0x61, 2, 1, XDP_MD_RX_QUEUE, 0),       // ldxw r2, [r1 + 16]
        insn(0x18, 1, 1, 0, map_fd),                // lddw r1, map (BPF_PSEUDO_MAP_FD)
        insn(0, 0, 0, 0, 0),                        //   (second half)
        insn(0xb7, 3, 0, 0, XDP_PASS),              // mov r3, XDP_PASS
        insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP), // call bpf_redirect_map
        insn(0x95, 0, 0, 0, 0),                     // exit
    ]
}

/// The redirect program attached to one interface, and its socket map.
/// Dropping it detaches the program.
struct XdpProgram {
    // Field order is drop order: the link (attachment) goes first.
    link: Option<OwnedFd>,
    prog: OwnedFd,
    map: OwnedFd,
    /// `native` (in the driver) or `generic` (on the skb, any interface).
    mode: &'static str,
}

impl XdpProgram {
    /// Loads the program and its socket map.
    fn load() -> io::Result<XdpProgram> {
        let map = bpf_fd(
            BPF_MAP_CREATE,
            &mut BpfAttr::new()
                .u32(0, BPF_MAP_TYPE_XSKMAP)
                .u32(4, 4)
                .u32(8, 4)
                .u32(12, 1),
        )?;
        let insns = program(map.as_raw_fd());
        let license = c"MIT OR Apache-2.0";
        let mut name = [0u8; 16];
        name[..11].copy_from_slice(b"vswitch_xsk");
        let mut attr = BpfAttr::new()
            .u32(0, BPF_PROG_TYPE_XDP)
            .u32(4, insns.len() as u32)
            .u64(8, insns.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64)
            .u32(68, BPF_XDP);
        attr.0[48..64].copy_from_slice(&name);
        let prog = bpf_fd(BPF_PROG_LOAD, &mut attr)?;
        Ok(XdpProgram {
            link: None,
            prog,
            map,
            mode: "",
        })
    }

    /// Attaches the program to interface `ifindex`, in the driver if it
    /// can, generically if not.
    fn attach(&mut self, ifindex: u32) -> io::Result<()> {
        let link = |flags: u32| {
            bpf_fd(
                BPF_LINK_CREATE,
                &mut BpfAttr::new()
                    .u32(0, self.prog.as_raw_fd() as u32)
                    .u32(4, ifindex)
                    .u32(8, BPF_XDP)
                    .u32(12, flags),
            )
        };
        let (link, mode) = match link(XDP_FLAGS_DRV_MODE) {
            Ok(l) => (l, "native"),
            Err(native) => match link(XDP_FLAGS_SKB_MODE) {
                Ok(l) => (l, "generic"),
                Err(generic) => {
                    return Err(io::Error::new(
                        generic.kind(),
                        format!("in the driver: {native}; generic: {generic}"),
                    ))
                }
            },
        };
        self.link = Some(link);
        self.mode = mode;
        Ok(())
    }

    /// Directs the frames of receive queue `queue` to socket `xsk`.
    fn insert(&self, queue: u32, xsk: RawFd) -> io::Result<()> {
        let value = xsk as u32;
        bpf(
            BPF_MAP_UPDATE_ELEM,
            &mut BpfAttr::new()
                .u32(0, self.map.as_raw_fd() as u32)
                .u64(8, &queue as *const u32 as u64)
                .u64(16, &value as *const u32 as u64),
        )?;
        Ok(())
    }
}

// ---- the rings ----

/// One of the four rings of an AF_XDP socket: a power-of-two array of
/// entries `T` with a producer and a consumer index, one side ours and the
/// other the kernel's. The indices run freely and wrap; `cached_*` are our
/// last views of them.
struct XskRing<T: Copy> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    entries: *mut T,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
    _map: Mmap,
}

// SAFETY: see Mmap; the pointers point into `_map`.
unsafe impl<T: Copy> Send for XskRing<T> {}

impl<T: Copy> XskRing<T> {
    /// Maps the ring of `size` entries described by `off` at page offset `pgoff`.
    fn map(fd: RawFd, off: &libc::xdp_ring_offset, size: u32, pgoff: u64) -> io::Result<Self> {
        let len = off.desc as usize + size as usize * mem::size_of::<T>();
        let map = Mmap::shared(fd, len, pgoff)?;
        // SAFETY: the kernel's offsets lie inside the mapping it sized for
        // `size` entries; the indices are 4-byte aligned u32s it also
        // accesses atomically.
        let (producer, consumer, entries) = unsafe {
            (
                map.ptr.add(off.producer as usize) as *const AtomicU32,
                map.ptr.add(off.consumer as usize) as *const AtomicU32,
                map.ptr.add(off.desc as usize) as *mut T,
            )
        };
        // SAFETY: as above.
        let (prod, cons) = unsafe {
            (
                (*producer).load(Ordering::Acquire),
                (*consumer).load(Ordering::Acquire),
            )
        };
        Ok(XskRing {
            producer,
            consumer,
            entries,
            size,
            cached_prod: prod,
            cached_cons: cons,
            _map: map,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the mapping `self` keeps alive.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: points into the mapping `self` keeps alive.
        unsafe { &*self.consumer }
    }

    fn slot(&self, index: u32) -> *mut T {
        // SAFETY: the index is masked into the ring's `size` entries.
        unsafe { self.entries.add((index & (self.size - 1)) as usize) }
    }

    // -- rings we produce into (fill, transmit) --

    /// Entries free for us to produce, looking at the kernel's progress if
    /// fewer than `want` seem free.
    fn free(&mut self, want: u32) -> u32 {
        let free = self
            .size
            .saturating_sub(self.cached_prod.wrapping_sub(self.cached_cons));
        if free >= want {
            return free;
        }
        self.cached_cons = self.consumer().load(Ordering::Acquire);
        self.size
            .saturating_sub(self.cached_prod.wrapping_sub(self.cached_cons))
    }

    /// Writes the next entry (after [`XskRing::free`] said there is room).
    fn push(&mut self, v: T) {
        // SAFETY: an entry the kernel does not own (it is past the producer
        // index and within `size` of the consumer's).
        unsafe { self.slot(self.cached_prod).write_volatile(v) };
        self.cached_prod = self.cached_prod.wrapping_add(1);
    }

    /// Hands the entries pushed so far to the kernel.
    fn submit(&self) {
        self.producer().store(self.cached_prod, Ordering::Release);
    }

    /// Entries pushed but not yet handed over.
    fn unsubmitted(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.producer().load(Ordering::Relaxed))
    }

    /// Entries pushed but not yet taken by the kernel.
    fn outstanding(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.consumer().load(Ordering::Acquire))
    }

    // -- rings we consume from (receive, completion) --

    /// Entries ready for us.
    fn ready(&mut self) -> u32 {
        let ready = self.cached_prod.wrapping_sub(self.cached_cons);
        if ready > 0 {
            return ready;
        }
        self.cached_prod = self.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// The `i`th ready entry.
    fn get(&self, i: u32) -> T {
        // SAFETY: an entry the kernel produced (below its producer index,
        // which the Acquire load ordered our reads after).
        unsafe { self.slot(self.cached_cons.wrapping_add(i)).read_volatile() }
    }

    /// The entry at free-running index `index`, whoever owns it now.
    fn get_at(&self, index: u32) -> T {
        // SAFETY: masked into the ring; an entry is plain data.
        unsafe { self.slot(index).read_volatile() }
    }

    /// Gives `n` consumed entries back to the kernel.
    fn consume(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.consumer().store(self.cached_cons, Ordering::Release);
    }
}

// ---- the port ----

/// A port on an interface through an AF_XDP socket in copy mode.
pub struct XdpPort {
    name: String,
    ifindex: u32,
    mtu: u32,
    // Drop order: the program first, so that nothing is redirected to a
    // socket being closed; the rings before the socket and the UMEM.
    _prog: XdpProgram,
    fill: XskRing<u64>,
    completion: XskRing<u64>,
    rx: XskRing<libc::xdp_desc>,
    tx: XskRing<libc::xdp_desc>,
    xsk: OwnedFd,
    /// The socket frames are sent by (same queue and UMEM; epoll does not watch it).
    tx_xsk: OwnedFd,
    /// A packet socket that keeps the interface promiscuous while it is open.
    _promisc: OwnedFd,
    umem: Mmap,
    /// Chunks of the transmit half that are neither queued nor in flight.
    tx_free: Vec<u64>,
    /// Bytes of UMEM that receive (the first half); the rest sends.
    rx_bytes: u64,
    /// What the kernel dropped, until [`Port::take_counts`].
    counts: DeviceCounts,
    /// The kernel's running total of receive drops when last read.
    rx_full_seen: u64,
    /// Room to finish offloaded frames in (an AF_XDP port takes only finished ones).
    scratch: Vec<u8>,
}

impl XdpPort {
    /// Opens an AF_XDP port on interface `name` with about `mib` MiB of
    /// frame memory, half for receiving and half for sending.
    pub fn open(name: &str, mib: u16) -> Result<XdpPort> {
        let ifindex = sys::if_index(name).map_err(|e| Error::iface(name, "opening", e))?;
        let mtu = sys::if_mtu(name).map_err(|e| Error::iface(name, "reading the MTU of", e))?;
        if mtu as usize + 18 > MAX_FRAME {
            return Err(Error::Command(format!(
                "\"{name}\" has MTU {mtu}: AF_XDP ports take frames of up to {MAX_FRAME} bytes"
            )));
        }
        let queues = std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                    .count()
            })
            .unwrap_or(1);
        if queues > 1 {
            return Err(Error::Command(format!(
                "\"{name}\" has {queues} receive queues: AF_XDP ports take one"
            )));
        }
        let ctx = |what: &str| format!("{what} on \"{name}\"");
        let io_err = |what: &str| {
            let what = ctx(what);
            move |e| Error::io(what.clone(), e)
        };
        // Half the chunks receive, half send; each ring as large as its half.
        let half = ((usize::from(mib.max(1)) << 20) / CHUNK / 2)
            .next_power_of_two()
            .clamp(64, 1 << 16) as u32;
        let umem = Mmap::anonymous(2 * half as usize * CHUNK).map_err(io_err("UMEM"))?;
        // Two sockets on the one queue, sharing the UMEM: `xsk` receives and
        // is what epoll watches; `tx_xsk` sends. Freeing a sent frame then
        // wakes no one (on the watched socket every free ran epoll's
        // wait-queue callback: 14% of the switch's time at 64-byte frames).
        let xsk = sys::xsk_socket().map_err(io_err("AF_XDP socket"))?;
        let fd = xsk.as_raw_fd();
        let tx_xsk = sys::xsk_socket().map_err(io_err("AF_XDP socket"))?;
        let tx_fd = tx_xsk.as_raw_fd();
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr as u64,
            len: umem.len as u64,
            chunk_size: CHUNK as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        sys::setsockopt(fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg)
            .map_err(io_err("XDP_UMEM_REG"))?;
        let ring_size = |fd, opt| {
            sys::setsockopt(fd, libc::SOL_XDP, opt, &half).map_err(io_err("AF_XDP ring sizes"))
        };
        ring_size(fd, libc::XDP_UMEM_FILL_RING)?;
        ring_size(fd, libc::XDP_UMEM_COMPLETION_RING)?;
        ring_size(fd, libc::XDP_RX_RING)?;
        ring_size(tx_fd, libc::XDP_TX_RING)?;
        let off = sys::xsk_mmap_offsets(fd).map_err(io_err("XDP_MMAP_OFFSETS"))?;
        let tx_off = sys::xsk_mmap_offsets(tx_fd).map_err(io_err("XDP_MMAP_OFFSETS"))?;
        let ring_err = io_err("mapping AF_XDP rings");
        let mut fill =
            XskRing::map(fd, &off.fr, half, libc::XDP_UMEM_PGOFF_FILL_RING).map_err(&ring_err)?;
        let completion = XskRing::map(fd, &off.cr, half, libc::XDP_UMEM_PGOFF_COMPLETION_RING)
            .map_err(&ring_err)?;
        let rx =
            XskRing::map(fd, &off.rx, half, libc::XDP_PGOFF_RX_RING as u64).map_err(&ring_err)?;
        let tx = XskRing::map(tx_fd, &tx_off.tx, half, libc::XDP_PGOFF_TX_RING as u64)
            .map_err(&ring_err)?;
        // The receive half goes to the kernel to fill; the other half sends.
        for i in 0..half {
            fill.push(u64::from(i) * CHUNK as u64);
        }
        fill.submit();
        let tx_free = (half..2 * half)
            .rev()
            .map(|i| u64::from(i) * CHUNK as u64)
            .collect();
        let bind_err = |e| Error::iface(name, "binding AF_XDP to", e);
        sys::xsk_bind(fd, ifindex, 0, None).map_err(bind_err)?;
        sys::xsk_bind(tx_fd, ifindex, 0, Some(fd)).map_err(bind_err)?;
        // The socket goes in the map before the program goes on the
        // interface, so that no frame meanwhile goes to the kernel's stack.
        let mut prog = XdpProgram::load().map_err(io_err("loading the XDP program"))?;
        prog.insert(0, fd).map_err(io_err("the XDP socket map"))?;
        prog.attach(ifindex)
            .map_err(|e| Error::iface(name, "attaching the XDP program to", e))?;
        let promisc = sys::packet_socket().map_err(|e| Error::io("opening a packet socket", e))?;
        sys::packet_bind_send_only(promisc.as_raw_fd(), ifindex)
            .map_err(|e| Error::iface(name, "binding to", e))?;
        sys::packet_promisc(promisc.as_raw_fd(), ifindex)
            .map_err(|e| Error::iface(name, "setting promiscuous mode on", e))?;
        tracing::info!("port {name}: AF_XDP, copy mode, XDP program {}", prog.mode);
        Ok(XdpPort {
            name: name.to_string(),
            ifindex,
            mtu,
            _prog: prog,
            fill,
            completion,
            rx,
            tx,
            xsk,
            tx_xsk,
            _promisc: promisc,
            umem,
            tx_free,
            rx_bytes: u64::from(half) * CHUNK as u64,
            counts: DeviceCounts::default(),
            rx_full_seen: 0,
            scratch: Vec::new(),
        })
    }

    /// The received frame a descriptor points at, if it lies inside one
    /// chunk of the receive half of the UMEM.
    fn received(&self, desc: &libc::xdp_desc) -> Option<&[u8]> {
        let len = desc.len as usize;
        let in_chunk = (desc.addr % CHUNK as u64) as usize;
        if desc.addr >= self.rx_bytes || in_chunk + len > CHUNK {
            return None;
        }
        // SAFETY: inside the UMEM mapping, which `self` keeps alive; the
        // kernel wrote this chunk before handing it over on the receive
        // ring and does not touch it until it is back on the fill ring.
        Some(unsafe { std::slice::from_raw_parts(self.umem.ptr.add(desc.addr as usize), len) })
    }

    /// The first `len` bytes (at most a chunk) of transmit chunk `addr`,
    /// one of `tx_free`'s.
    fn tx_chunk(&mut self, addr: u64, len: usize) -> &mut [u8] {
        let start = (addr as usize).min(self.umem.len - CHUNK);
        // SAFETY: a whole chunk inside the mapping, which `self` keeps
        // alive; the kernel reads transmit chunks only between our handing
        // them over and their completion, and `tx_free` holds neither.
        unsafe { std::slice::from_raw_parts_mut(self.umem.ptr.add(start), len.min(CHUNK)) }
    }

    /// Takes the chunks the kernel has finished sending back for reuse.
    fn reap(&mut self) {
        let n = self.completion.ready();
        for i in 0..n {
            let addr = self.completion.get(i);
            self.tx_free.push(addr & !(CHUNK as u64 - 1));
        }
        if n > 0 {
            self.completion.consume(n);
        }
    }

    /// Has the kernel send what the transmit ring holds: in copy mode it
    /// takes [`KERNEL_TX_BATCH`] frames per call.
    fn kick(&mut self) {
        let fd = self.tx_xsk.as_raw_fd();
        let mut tries = self.tx.outstanding() / KERNEL_TX_BATCH + 4;
        while self.tx.outstanding() > 0 && tries > 0 {
            tries -= 1;
            match sys::xsk_kick(fd) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // The device dropped a frame (its queue is full, or its
                    // peer is down). Which one the kernel does not say (it
                    // publishes its progress lazily): the bytes counted are
                    // those of the oldest frame it had not reported taken.
                    let taken = self.tx.consumer().load(Ordering::Acquire);
                    let desc = self.tx.get_at(taken);
                    Pending::one(desc.len as usize).refused_in(&mut self.counts);
                }
                Err(e) => {
                    tracing::trace!(port = %self.name, error = %e, "AF_XDP send failed");
                    break;
                }
            }
        }
    }
}

impl Port for XdpPort {
    type Meta = VnetHdr;

    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut FrameBatch<VnetHdr>) -> usize {
        let n = self.rx.ready().min(FrameBatch::DEFAULT_SIZE as u32);
        for i in 0..n {
            let desc = self.rx.get(i);
            match self.received(&desc) {
                Some(frame) => batch.push_with(frame, VnetHdr::NONE),
                None => {
                    // Not one of our receive chunks: never give it to the kernel.
                    self.counts.rx_errors += 1;
                    continue;
                }
            }
            // The fill ring has room for every receive chunk.
            self.fill.push(desc.addr & !(CHUNK as u64 - 1));
        }
        if n > 0 {
            self.rx.consume(n);
            self.fill.submit();
        }
        n as usize
    }

    /// Takes only finished frames: offloaded ones are completed or cut into
    /// segments first.
    fn send(&mut self, frame: &[u8], offload: VnetHdr) -> Result<(), TxError> {
        let mut scratch = mem::take(&mut self.scratch);
        let r = send_finished(frame, &offload, &mut scratch, |f| self.send_one(f));
        self.scratch = scratch;
        r
    }

    fn flush(&mut self) {
        self.tx.submit();
        self.kick();
        self.reap();
    }

    fn take_counts(&mut self) -> DeviceCounts {
        mem::take(&mut self.counts)
    }
}

impl XdpPort {
    /// Puts one finished frame in the transmit ring.
    fn send_one(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if frame.len() > MAX_FRAME || crate::port::too_big(frame, self.mtu) {
            return Err(TxError::TooBig);
        }
        if self.tx_free.is_empty() {
            self.reap();
        }
        if self.tx_free.is_empty() || self.tx.free(1) == 0 {
            self.flush();
        }
        if self.tx.free(1) == 0 {
            return Err(TxError::Full);
        }
        let Some(addr) = self.tx_free.pop() else {
            return Err(TxError::Full);
        };
        self.tx_chunk(addr, frame.len()).copy_from_slice(frame);
        self.tx.push(libc::xdp_desc {
            addr,
            len: frame.len() as u32,
            options: 0,
        });
        if self.tx.unsubmitted() >= TX_FLUSH_AT {
            self.flush();
        }
        Ok(())
    }
}

impl LinuxPort for XdpPort {
    fn fd(&self) -> RawFd {
        self.xsk.as_raw_fd()
    }
    fn ifindex(&self) -> u32 {
        self.ifindex
    }
    fn kind(&self) -> &'static str {
        "afxdp"
    }
    fn mtu(&self) -> u32 {
        self.mtu
    }
    fn set_mtu(&mut self, mtu: u32) {
        self.mtu = mtu;
    }
    fn poll_stats(&mut self) {
        if let Ok(s) = sys::xsk_statistics(self.xsk.as_raw_fd()) {
            // Running totals since the socket opened.
            let total = s.rx_dropped + s.rx_ring_full;
            self.counts.rx_full += total.saturating_sub(self.rx_full_seen);
            self.rx_full_seen = total;
        }
        // Frames a busy device left in the ring: try them again, rather
        // than wait for the next frame to this port.
        if self.tx.outstanding() > 0 {
            self.kick();
            self.reap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_the_six_instructions_of_a_queue_redirect() {
        let p = program(7);
        assert_eq!(mem::size_of::<Insn>(), 8);
        // ldxw r2, [r1 + 16]
        assert_eq!(
            p[0],
            Insn {
                code: 0x61,
                regs: 0x12,
                off: 16,
                imm: 0
            }
        );
        // lddw r1, map fd 7, with src = BPF_PSEUDO_MAP_FD
        assert_eq!(
            p[1],
            Insn {
                code: 0x18,
                regs: 0x11,
                off: 0,
                imm: 7
            }
        );
        assert_eq!(
            p[2],
            Insn {
                code: 0,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            p[3],
            Insn {
                code: 0xb7,
                regs: 0x03,
                off: 0,
                imm: XDP_PASS
            }
        );
        assert_eq!(p[4].imm, BPF_FUNC_REDIRECT_MAP);
        assert_eq!(p[5].code, 0x95);
    }

    #[test]
    fn attr_fields_land_at_their_offsets() {
        let a = BpfAttr::new()
            .u32(4, 0x0102_0304)
            .u64(8, 0x0a0b_0c0d_0e0f_1011);
        assert_eq!(&a.0[..4], &[0; 4]);
        assert_eq!(
            u32::from_ne_bytes(a.0[4..8].try_into().unwrap()),
            0x0102_0304
        );
        assert_eq!(
            u64::from_ne_bytes(a.0[8..16].try_into().unwrap()),
            0x0a0b_0c0d_0e0f_1011
        );
        assert!(a.0[16..].iter().all(|&b| b == 0));
    }

    /// A ring over plain memory, playing the kernel's side by hand.
    fn fake_ring(size: u32) -> XskRing<u64> {
        let off = libc::xdp_ring_offset {
            producer: 0,
            consumer: 64,
            desc: 128,
            flags: 4,
        };
        let map = Mmap::anonymous(128 + size as usize * 8).unwrap();
        let producer = map.ptr as *const AtomicU32;
        // SAFETY: inside the mapping just made.
        let consumer = unsafe { map.ptr.add(off.consumer as usize) } as *const AtomicU32;
        // SAFETY: as above.
        let entries = unsafe { map.ptr.add(off.desc as usize) } as *mut u64;
        XskRing {
            producer,
            consumer,
            entries,
            size,
            cached_prod: 0,
            cached_cons: 0,
            _map: map,
        }
    }

    #[test]
    fn a_produced_ring_fills_up_and_frees_as_the_consumer_moves() {
        let mut r = fake_ring(4);
        assert_eq!(r.free(1), 4);
        for v in 0..4 {
            r.push(v * 10);
        }
        assert_eq!(r.free(1), 0);
        assert_eq!(
            r.producer().load(Ordering::Relaxed),
            0,
            "nothing submitted yet"
        );
        assert_eq!(r.unsubmitted(), 4);
        r.submit();
        assert_eq!(r.unsubmitted(), 0);
        assert_eq!(r.producer().load(Ordering::Relaxed), 4);
        assert_eq!(r.outstanding(), 4);
        // The "kernel" takes two.
        r.consumer().store(2, Ordering::Release);
        assert_eq!(r.outstanding(), 2);
        assert_eq!(r.free(1), 2);
        r.push(40);
        assert_eq!(r.get_at(4), 40, "index 4 wraps to slot 0");
    }

    #[test]
    fn a_consumed_ring_sees_what_was_produced_across_the_wrap() {
        let mut r = fake_ring(4);
        // Start near the top of the index space to cross u32 wrap-around.
        let start = u32::MAX - 1;
        r.cached_prod = start;
        r.cached_cons = start;
        r.producer().store(start, Ordering::Relaxed);
        r.consumer().store(start, Ordering::Relaxed);
        assert_eq!(r.ready(), 0);
        for (k, v) in [5u64, 6, 7].into_iter().enumerate() {
            // SAFETY: test memory; plays the kernel writing entries.
            unsafe { r.slot(start.wrapping_add(k as u32)).write(v) };
        }
        r.producer().store(start.wrapping_add(3), Ordering::Release);
        assert_eq!(r.ready(), 3);
        assert_eq!((r.get(0), r.get(1), r.get(2)), (5, 6, 7));
        r.consume(2);
        assert_eq!(r.consumer().load(Ordering::Relaxed), start.wrapping_add(2));
        assert_eq!(r.ready(), 1);
        assert_eq!(r.get(0), 7);
    }
}
