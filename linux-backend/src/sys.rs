//! The system calls the backend needs, each wrapped once so that the rest of the
//! crate is safe code. Every `unsafe` block is small and says why it is sound.

use std::ffi::{CStr, CString};
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Turns a `-1` return into the thread's `errno`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Takes ownership of a descriptor a system call just returned.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstring(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The index of interface `name` in the calling thread's namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = cstring(name)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// The name of interface `index`, if it exists.
pub fn if_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the kernel wrote a NUL-terminated name into `buf`.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// A datagram socket for interface ioctls.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    owned(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })
}

/// The MTU of interface `name`.
pub fn if_mtu(name: &str) -> io::Result<u32> {
    let sock = ioctl_socket()?;
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFMTU reads the name and writes ifru_mtu of our ifreq.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut req) })?;
    // SAFETY: the ioctl filled in the mtu member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}

/// The flags of interface `name` (IFF_UP, IFF_RUNNING, IFF_LOWER_UP...).
pub fn if_flags(name: &str) -> io::Result<u32> {
    let sock = ioctl_socket()?;
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFFLAGS reads the name and writes ifru_flags of our ifreq.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the ioctl filled in the flags member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_flags } as u16 as u32)
}

/// Sets interface `name` administratively up.
pub fn if_set_up(name: &str) -> io::Result<()> {
    let sock = ioctl_socket()?;
    let mut req = ifreq(name)?;
    // SAFETY: as in if_flags.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the flags member was filled in by the ioctl above; we set one bit.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads our initialised ifreq.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) })?;
    Ok(())
}

/// Sets an integer socket option.
pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    setsockopt(fd, level, name, &value)
}

/// Sets a socket option from a plain-data value.
pub fn setsockopt<T>(fd: RawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to size_of::<T>() readable bytes for the call.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// An AF_PACKET raw socket, non-blocking, not yet bound (it receives nothing
/// until it is bound to a protocol).
pub fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; protocol 0 receives nothing before bind.
    owned(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })
}

/// Binds a packet socket to every protocol of interface `ifindex`.
pub fn packet_bind(fd: RawFd, ifindex: u32) -> io::Result<()> {
    packet_bind_protocol(fd, ifindex, libc::ETH_P_ALL as u16)
}

/// Binds a packet socket to interface `ifindex` for sending only: it
/// receives nothing (protocol 0).
pub fn packet_bind_send_only(fd: RawFd, ifindex: u32) -> io::Result<()> {
    packet_bind_protocol(fd, ifindex, 0)
}

fn packet_bind_protocol(fd: RawFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol.to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is an initialised sockaddr_ll of the size we pass.
    cvt(unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Puts interface `ifindex` in promiscuous mode for as long as `fd` is open.
pub fn packet_promisc(fd: RawFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: packet_mreq is plain old data; all-zero is valid.
    let mut mreq: libc::packet_mreq = unsafe { mem::zeroed() };
    mreq.mr_ifindex = ifindex as i32;
    mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
    setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
}

/// What a packet receive got.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The frame's real length (larger than `len` if it was cut).
    pub wire_len: usize,
    /// A VLAN tag the kernel took off the frame: (TPID, TCI).
    pub vlan: Option<(u16, u16)>,
}

/// Reads the PACKET_AUXDATA of a message the kernel filled in: the frame's
/// real length and the VLAN tag it stripped.
fn packet_aux(msg: &libc::msghdr, n: usize, cap: usize) -> Received {
    const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
    const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
    let mut got = Received {
        len: n.min(cap),
        wire_len: n,
        vlan: None,
    };
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled in,
    // within msg_controllen; we read a tpacket_auxdata only when the header says
    // one is there, with read_unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let h = &*cmsg;
            if h.cmsg_level == libc::SOL_PACKET && h.cmsg_type == libc::PACKET_AUXDATA {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                got.wire_len = aux.tp_len as usize;
                if aux.tp_status & TP_STATUS_VLAN_VALID != 0 {
                    let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    got.vlan = Some((tpid, aux.tp_vlan_tci));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    got
}

/// Receives one frame without blocking, with the VLAN tag the kernel stripped
/// (PACKET_AUXDATA must be on).
pub fn packet_recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    // u64 storage keeps the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control);
    // SAFETY: msg points to `iov` (our buffer) and `control`, both live and
    // writable for the whole call, with their true lengths.
    let n = cvt_size(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_TRUNC | libc::MSG_DONTWAIT) })?;
    Ok(packet_aux(&msg, n, buf.len()))
}

/// Most messages one [`packet_recv_many`] or [`send_many`] call moves.
pub const MAX_MSGS: usize = 64;

/// Receives up to [`MAX_MSGS`] frames in one system call without blocking:
/// `buf` is cut into slots of `slot` bytes and message `i` is written into
/// slot `i` from byte `offset` on; `out[i]` says what it got. Returns the
/// number of messages.
pub fn packet_recv_many(
    fd: RawFd,
    buf: &mut [u8],
    slot: usize,
    offset: usize,
    out: &mut [Received],
) -> io::Result<usize> {
    if slot <= offset {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let n = (buf.len() / slot).min(out.len()).min(MAX_MSGS);
    // SAFETY: iovec and mmsghdr are plain old data; all-zero is valid.
    let mut iovs: [libc::iovec; MAX_MSGS] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_MSGS] = unsafe { mem::zeroed() };
    // u64 storage keeps each control buffer aligned for cmsghdr.
    let mut controls = [[0u64; 8]; MAX_MSGS];
    for (i, chunk) in buf.chunks_exact_mut(slot).take(n).enumerate() {
        iovs[i].iov_base = chunk[offset..].as_mut_ptr().cast();
        iovs[i].iov_len = slot - offset;
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_control = controls[i].as_mut_ptr().cast();
        hdr.msg_controllen = mem::size_of_val(&controls[i]);
    }
    // SAFETY: the first `n` messages point to disjoint slots of `buf` and to
    // their own control buffers, all live and writable for the whole call,
    // with their true lengths.
    let got = cvt(unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    })? as usize;
    for i in 0..got {
        out[i] = packet_aux(&msgs[i].msg_hdr, msgs[i].msg_len as usize, slot - offset);
    }
    Ok(got)
}

/// Sends up to [`MAX_MSGS`] frames in one system call without blocking:
/// message `i` is `data[frames[i]]`. Returns how many were sent; the kernel
/// stops at the first that fails (an error only if that is the first).
pub fn send_many(fd: RawFd, data: &[u8], frames: &[std::ops::Range<usize>]) -> io::Result<usize> {
    let n = frames.len().min(MAX_MSGS);
    // SAFETY: iovec and mmsghdr are plain old data; all-zero is valid.
    let mut iovs: [libc::iovec; MAX_MSGS] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_MSGS] = unsafe { mem::zeroed() };
    for (i, r) in frames.iter().take(n).enumerate() {
        let frame = &data[r.clone()];
        // The kernel only reads through this pointer (sendmmsg).
        iovs[i].iov_base = frame.as_ptr() as *mut libc::c_void;
        iovs[i].iov_len = frame.len();
        msgs[i].msg_hdr.msg_iov = &mut iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `n` messages point to slices of `data`, readable for
    // the whole call; the kernel only writes msg_len.
    let sent = cvt(unsafe {
        libc::sendmmsg(fd, msgs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT)
    })?;
    Ok(sent as usize)
}

/// A socket address as the kernel takes it.
fn sockaddr_of(addr: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The address the kernel wrote, if it is IPv4 or IPv6.
fn sockaddr_to(ss: &libc::sockaddr_storage) -> Option<std::net::SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says a sockaddr_in is there.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some((ip, u16::from_be(sin.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the family says a sockaddr_in6 is there.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some((ip, u16::from_be(sin6.sin6_port)).into())
        }
        _ => None,
    }
}

/// A datagram [`udp_recv_many`] got.
#[derive(Clone, Copy, Debug)]
pub struct UdpReceived {
    /// Bytes written to its slot.
    pub len: usize,
    /// Its real length (larger than `len` if it was cut).
    pub wire_len: usize,
    /// Where it came from.
    pub from: Option<std::net::SocketAddr>,
    /// With UDP_GRO on: the size of each datagram the kernel joined into this
    /// one (all but the last that long); 0 for a single datagram.
    pub gro_size: u16,
}

/// Receives up to [`MAX_MSGS`] UDP datagrams in one system call without
/// blocking: `buf` is cut into slots of `slot` bytes, message `i` written into
/// slot `i`; `out` gets what each was. Returns the number of messages.
pub fn udp_recv_many(
    fd: RawFd,
    buf: &mut [u8],
    slot: usize,
    out: &mut Vec<UdpReceived>,
) -> io::Result<usize> {
    out.clear();
    let n = (buf.len() / slot.max(1)).min(MAX_MSGS);
    // SAFETY: iovec, mmsghdr and sockaddr_storage are plain old data; all-zero
    // is valid.
    let mut iovs: [libc::iovec; MAX_MSGS] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_MSGS] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut names: [libc::sockaddr_storage; MAX_MSGS] = unsafe { mem::zeroed() };
    // u64 storage keeps each control buffer aligned for cmsghdr.
    let mut controls = [[0u64; 4]; MAX_MSGS];
    for (i, chunk) in buf.chunks_exact_mut(slot).take(n).enumerate() {
        iovs[i].iov_base = chunk.as_mut_ptr().cast();
        iovs[i].iov_len = slot;
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
        hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_control = controls[i].as_mut_ptr().cast();
        hdr.msg_controllen = mem::size_of_val(&controls[i]);
    }
    // SAFETY: the first `n` messages point to disjoint slots of `buf` and to
    // their own name and control buffers, all live and writable for the whole
    // call, with their true lengths.
    let got = cvt(unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    })? as usize;
    for i in 0..got {
        let msg = &msgs[i].msg_hdr;
        let wire_len = msgs[i].msg_len as usize;
        let mut gro_size = 0;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel filled
        // in, within msg_controllen; a u16 is read only where the header says
        // UDP_GRO's is.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(msg);
            while !cmsg.is_null() {
                let h = &*cmsg;
                if h.cmsg_level == libc::SOL_UDP && h.cmsg_type == libc::UDP_GRO {
                    gro_size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>());
                }
                cmsg = libc::CMSG_NXTHDR(msg, cmsg);
            }
        }
        out.push(UdpReceived {
            len: wire_len.min(slot),
            wire_len,
            from: sockaddr_to(&names[i]),
            gro_size,
        });
    }
    Ok(got)
}

/// One message for [`udp_send_many`].
#[derive(Clone, Debug)]
pub struct UdpMessage {
    /// Its bytes in the data buffer.
    pub range: std::ops::Range<usize>,
    /// Where it goes.
    pub to: std::net::SocketAddr,
    /// Nonzero: the kernel cuts the bytes into datagrams of this size (UDP
    /// GSO, UDP_SEGMENT), the last one shorter.
    pub segment: u16,
}

/// Sends up to [`MAX_MSGS`] UDP messages in one system call without
/// blocking: message `i` is `data[msgs[i].range]`. Returns how many were
/// sent; the kernel stops at the first that fails (an error only if that is
/// the first).
pub fn udp_send_many(fd: RawFd, data: &[u8], msgs: &[UdpMessage]) -> io::Result<usize> {
    // The UDP_SEGMENT control message: a cmsghdr and a u16.
    const SEG_SPACE: usize = 4; // u64s, at least CMSG_SPACE(2)
    let n = msgs.len().min(MAX_MSGS);
    // SAFETY: iovec and mmsghdr are plain old data; all-zero is valid.
    let mut iovs: [libc::iovec; MAX_MSGS] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; MAX_MSGS] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut names: [libc::sockaddr_storage; MAX_MSGS] = unsafe { mem::zeroed() };
    let mut controls = [[0u64; SEG_SPACE]; MAX_MSGS];
    for (i, m) in msgs.iter().take(n).enumerate() {
        let bytes = &data[m.range.clone()];
        // The kernel only reads through this pointer (sendmmsg).
        iovs[i].iov_base = bytes.as_ptr() as *mut libc::c_void;
        iovs[i].iov_len = bytes.len();
        let (name, len) = sockaddr_of(&m.to);
        names[i] = name;
        let hdr = &mut hdrs[i].msg_hdr;
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
        hdr.msg_namelen = len;
        if m.segment > 0 {
            hdr.msg_control = controls[i].as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE only computes a length.
            hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as usize;
            // SAFETY: the control buffer holds CMSG_SPACE(2) bytes (checked
            // below against its size) and is aligned for cmsghdr; the first
            // header is written, then its u16 datum with write_unaligned.
            unsafe {
                debug_assert!(hdr.msg_controllen <= mem::size_of_val(&controls[i]));
                let cmsg = libc::CMSG_FIRSTHDR(hdr);
                (*cmsg).cmsg_level = libc::SOL_UDP;
                (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                (*cmsg).cmsg_len = libc::CMSG_LEN(2) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), m.segment);
            }
        }
    }
    // SAFETY: the first `n` messages point to slices of `data`, to their own
    // names and control buffers, all readable for the whole call; the kernel
    // only writes msg_len.
    let sent = cvt(unsafe {
        libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT)
    })?;
    Ok(sent as usize)
}

/// Sends `head` followed by `frame` as one message without copying them
/// together (a virtio-net header and a large frame).
pub fn send_two(fd: RawFd, head: &[u8], frame: &[u8]) -> io::Result<usize> {
    // The kernel only reads through these pointers (sendmsg).
    let mut iovs = [
        libc::iovec {
            iov_base: head.as_ptr() as *mut libc::c_void,
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: frame.as_ptr() as *mut libc::c_void,
            iov_len: frame.len(),
        },
    ];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = iovs.as_mut_ptr();
    msg.msg_iovlen = 2;
    // SAFETY: msg points to two iovecs over `head` and `frame`, readable for
    // the whole call.
    cvt_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) })
}

/// Frames the kernel dropped because the socket's receive queue was full,
/// since the last call (PACKET_STATISTICS, which the read resets).
pub fn packet_drops(fd: RawFd) -> io::Result<u64> {
    // SAFETY: tpacket_stats is a plain C struct.
    let stats: libc::tpacket_stats =
        unsafe { getsockopt(fd, libc::SOL_PACKET, libc::PACKET_STATISTICS)? };
    Ok(u64::from(stats.tp_drops))
}

/// Reads and clears the socket's pending error (SO_ERROR): `None` if there was
/// none. A packet socket whose interface goes down is left with ENETDOWN,
/// which makes epoll report EPOLLERR on every wait until it is read; a socket
/// with a receive ring never calls recv, which would read it.
pub fn take_socket_error(fd: RawFd) -> Option<io::Error> {
    // SAFETY: SO_ERROR fills a C int.
    let err: libc::c_int = unsafe { getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR) }.ok()?;
    (err != 0).then(|| io::Error::from_raw_os_error(err))
}

/// Waits up to `ms` milliseconds for `fd` to be readable (or for a signal);
/// true if it is.
pub fn wait_readable(fd: RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// True if standard output is a pipe or socket whose reader has gone: a
/// printing command then ends quietly, as Unix tools do.
pub fn stdout_reader_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    // A pipe without readers reports POLLERR; a socket whose peer closed, POLLHUP.
    n == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Takes an exclusive lock on the open file `fd` (flock), failing with
/// WouldBlock if another open file holds it. Closing the file releases it.
pub fn try_lock_exclusive(fd: RawFd) -> io::Result<()> {
    // SAFETY: flock only reads its arguments.
    cvt(unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }).map(drop)
}

/// Reads socket option `name` at `level` of `fd` into a `T`.
///
/// # Safety
/// `T` must be the plain C struct the option fills (all-zero bytes a valid
/// value of it, and any bytes the kernel writes too).
unsafe fn getsockopt<T>(fd: RawFd, level: i32, name: i32) -> io::Result<T> {
    // SAFETY: the caller vouches that all-zero is a valid T.
    let mut value: T = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is writable for `len` bytes during the call.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut T).cast(), &mut len) })?;
    Ok(value)
}

/// A new AF_XDP socket, not yet bound.
pub fn xsk_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    owned(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })
}

/// Where the four rings of AF_XDP socket `fd` sit in their mappings.
pub fn xsk_mmap_offsets(fd: RawFd) -> io::Result<libc::xdp_mmap_offsets> {
    // SAFETY: xdp_mmap_offsets is a plain C struct.
    unsafe { getsockopt(fd, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS) }
}

/// Binds AF_XDP socket `fd` to queue `queue` of interface `ifindex`: in
/// copy mode with its own UMEM, or sharing that of socket `shared`.
pub fn xsk_bind(fd: RawFd, ifindex: u32, queue: u32, shared: Option<RawFd>) -> io::Result<()> {
    // SAFETY: plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_xdp = unsafe { mem::zeroed() };
    addr.sxdp_family = libc::AF_XDP as u16;
    addr.sxdp_ifindex = ifindex;
    addr.sxdp_queue_id = queue;
    match shared {
        Some(owner) => {
            addr.sxdp_flags = libc::XDP_SHARED_UMEM;
            addr.sxdp_shared_umem_fd = owner as u32;
        }
        None => addr.sxdp_flags = libc::XDP_COPY,
    }
    // SAFETY: `addr` is an initialised sockaddr_xdp of the size we pass.
    cvt(unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_xdp).cast(),
            mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Asks the kernel to send what the transmit ring of AF_XDP socket `fd` holds.
pub fn xsk_kick(fd: RawFd) -> io::Result<()> {
    // SAFETY: no buffer: a zero-length send without an address.
    cvt_size(unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    })?;
    Ok(())
}

/// The drop counters of AF_XDP socket `fd`, totals since it opened.
pub fn xsk_statistics(fd: RawFd) -> io::Result<libc::xdp_statistics> {
    // SAFETY: xdp_statistics is a plain C struct.
    unsafe { getsockopt(fd, libc::SOL_XDP, libc::XDP_STATISTICS) }
}

/// Sends one frame on a bound socket or a TAP descriptor without blocking.
pub fn send(fd: RawFd, frame: &[u8]) -> io::Result<usize> {
    // SAFETY: `frame` is readable for its length during the call.
    cvt_size(unsafe { libc::send(fd, frame.as_ptr().cast(), frame.len(), libc::MSG_DONTWAIT) })
}

/// Writes to a descriptor (a TAP device).
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length during the call.
    cvt_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// Reads from a descriptor.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length during the call.
    cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// Opens (creating if needed) TAP device `name`, non-blocking, without packet
/// information headers.
pub fn tap_open(name: &str) -> io::Result<OwnedFd> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    let path = c"/dev/net/tun";
    // SAFETY: plain open(2) of a constant path.
    let fd = owned(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads (and may rewrite the name of) our ifreq.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) })?;
    Ok(fd)
}

/// Makes the calling thread block SIGINT and SIGTERM and returns a signalfd
/// that reports them. Threads spawned afterwards inherit the mask.
pub fn signal_fd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t for these calls.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
    }
    // SAFETY: `set` is initialised; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: `set` is initialised; -1 asks for a new descriptor.
    owned(unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })
}

/// A timerfd that fires every `period_ms` milliseconds (0: created disarmed).
pub fn interval_timer(period_ms: u64) -> io::Result<OwnedFd> {
    // SAFETY: plain timerfd_create(2).
    let fd = owned(unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    })?;
    set_interval(&fd, period_ms)?;
    Ok(fd)
}

/// Makes timerfd `fd` expire every `period_ms` milliseconds from now; 0
/// disarms it (it then never wakes anyone).
pub fn set_interval(fd: &OwnedFd, period_ms: u64) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: (period_ms / 1000) as libc::time_t,
        tv_nsec: ((period_ms % 1000) * 1_000_000) as libc::c_long,
    };
    let spec = libc::itimerspec {
        it_interval: ts,
        it_value: ts,
    };
    // SAFETY: `spec` is initialised; the old value is not wanted.
    cvt(unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) })?;
    Ok(())
}

/// A non-blocking eventfd: one thread wakes another's epoll through it.
pub fn event_fd() -> io::Result<OwnedFd> {
    // SAFETY: plain eventfd(2).
    owned(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })
}

/// Makes eventfd `fd` readable (wakes whoever waits on it).
pub fn event_signal(fd: RawFd) {
    // Only fails when the counter is about to overflow: it is readable then.
    let _ = write(fd, &1u64.to_ne_bytes());
}

/// Resets eventfd `fd` to not readable.
pub fn event_clear(fd: RawFd) {
    let mut buf = [0u8; 8];
    let _ = read(fd, &mut buf);
}

/// The calling thread's time on a CPU and its time spent runnable but
/// waiting for one (the run queue delay), from `/proc/thread-self/schedstat`
/// (the file is opened once per thread and read again with `pread`). `None`
/// when the kernel has no schedstats.
pub fn thread_sched_times() -> Option<(std::time::Duration, std::time::Duration)> {
    use std::os::unix::fs::FileExt;
    thread_local! {
        static SCHEDSTAT: Option<std::fs::File> =
            std::fs::File::open("/proc/thread-self/schedstat").ok();
    }
    SCHEDSTAT.with(|f| {
        let f = f.as_ref()?;
        let mut buf = [0u8; 96];
        let n = f.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let mut it = text.split_ascii_whitespace().map(|v| v.parse::<u64>().ok());
        let run = it.next()??;
        let wait = it.next()??;
        Some((
            std::time::Duration::from_nanos(run),
            std::time::Duration::from_nanos(wait),
        ))
    })
}

/// How often the calling thread has left its CPU so far: voluntarily (it
/// slept: a lock, a page fault that waited, a blocking call) and
/// involuntarily (preempted), from `getrusage(RUSAGE_THREAD)`.
pub fn thread_switches() -> (u64, u64) {
    // SAFETY: an all-zero rusage is a valid value for the kernel to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage; RUSAGE_THREAD only reads the caller.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return (0, 0);
    }
    (ru.ru_nvcsw as u64, ru.ru_nivcsw as u64)
}

/// CLOCK_MONOTONIC now, as perf (`perf record -k CLOCK_MONOTONIC`) and
/// other tracers stamp their events.
pub fn monotonic() -> std::time::Duration {
    clock_now(libc::CLOCK_MONOTONIC)
}

/// CPU time the calling thread has used.
pub fn thread_cpu_time() -> std::time::Duration {
    clock_now(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The time on clock `id`.
fn clock_now(id: libc::clockid_t) -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the kernel to fill.
    unsafe { libc::clock_gettime(id, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Sets the nice value of the calling thread (Linux schedules threads, so
/// this leaves the process's other threads as they are).
pub fn set_thread_nice(nice: i32) -> io::Result<()> {
    // SAFETY: gettid cannot fail; setpriority takes plain integers.
    let tid = unsafe { libc::gettid() };
    cvt(unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) }).map(|_| ())
}

/// Moves the calling thread to the real-time policy SCHED_FIFO at
/// `priority` (1..=99): no ordinary (SCHED_OTHER) thread can preempt it
/// any more. Threads it starts begin at the ordinary policy
/// (SCHED_RESET_ON_FORK). Fails with EPERM without CAP_SYS_NICE (or an
/// RLIMIT_RTPRIO of at least `priority`).
pub fn set_thread_fifo(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    cvt(unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    })
    .map(|_| ())
}

/// A NETLINK_ROUTE socket subscribed to the multicast `groups`.
pub fn netlink_route(groups: u32, nonblock: bool) -> io::Result<OwnedFd> {
    let flags = if nonblock { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket(2) call.
    let fd = owned(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | flags | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: sockaddr_nl is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    addr.nl_groups = groups;
    // SAFETY: `addr` is an initialised sockaddr_nl of the size we pass.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// An epoll instance.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// A new epoll instance.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain epoll_create1(2).
        Ok(Epoll {
            fd: owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?,
        })
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is initialised and lives across the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Watches `fd` for `events`, reporting `token`.
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Waits up to `timeout_ms` (-1: forever) and returns the ready (token, events).
    pub fn wait(&self, out: &mut Vec<(u64, u32)>, timeout_ms: i32) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: `events` has room for the 64 entries we tell the kernel about.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        out.clear();
        match cvt(n) {
            Ok(n) => {
                for e in &events[..n as usize] {
                    out.push((e.u64, e.events));
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Runs `f` on a new thread that has entered the network namespace of the file
/// `ns_path` (`/run/netns/NAME`, `/proc/PID/ns/net`), so that the calling thread
/// stays where it is.
pub fn in_netns<T: Send + 'static>(
    ns_path: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let path = cstring(ns_path)?;
    // SAFETY: plain open(2) of a NUL-terminated path.
    let ns = owned(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
    let handle = std::thread::spawn(move || {
        // SAFETY: setns only changes this short-lived thread's namespace; `ns` is
        // an open namespace descriptor.
        cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
        f()
    });
    handle
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// True if the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}
