//! Ports on real interfaces: an AF_PACKET socket bound to one interface, and a
//! TAP device. Both implement the core's [`Port`] trait, so the forwarding code
//! is the same for each; the memory-mapped fast path will be a third
//! implementation of [`LinuxPort`].

use crate::error::{Error, Result};
use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use vswitch_core::{FrameBatch, Port, TxError};

/// Ethernet header plus one VLAN tag: what a frame may carry beyond the MTU.
const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
/// Room for the largest frame a socket can hand us (GSO super-frames included).
const RX_BUF: usize = 65536 + VLAN_HLEN;
/// Socket buffer sizes: room for bursts while the loop is busy elsewhere.
const SOCKET_BUF: i32 = 4 << 20;

/// A port the event loop can wait on.
pub trait LinuxPort: Port + Send {
    /// The descriptor to wait on for received frames.
    fn fd(&self) -> RawFd;
    /// The interface index in the switch's namespace.
    fn ifindex(&self) -> u32;
    /// `afpacket` or `tap`.
    fn kind(&self) -> &'static str;
    /// The MTU frames are checked against.
    fn mtu(&self) -> u32;
    /// Changes the MTU (from a link event).
    fn set_mtu(&mut self, mtu: u32);
    /// Frames received that were cut short or could not be read.
    fn rx_errors(&self) -> u64;
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

fn too_big(frame: &[u8], mtu: u32) -> bool {
    let limit = mtu as usize + ETH_HLEN + if tagged(frame) { VLAN_HLEN } else { 0 };
    frame.len() > limit
}

fn tx_error(e: &io::Error) -> TxError {
    match e.raw_os_error() {
        Some(libc::EMSGSIZE) => TxError::TooBig,
        _ => TxError::Full,
    }
}

/// An AF_PACKET socket bound to one interface with ETH_P_ALL, in promiscuous
/// mode through a packet membership (undone by the kernel when the socket
/// closes, even on a crash), ignoring the frames it sends itself.
pub struct AfPacketPort {
    name: String,
    ifindex: u32,
    fd: OwnedFd,
    mtu: u32,
    buf: Vec<u8>,
    rx_errors: u64,
}

impl AfPacketPort {
    /// Opens a port on interface `name`.
    pub fn open(name: &str) -> Result<AfPacketPort> {
        let ifindex = sys::if_index(name).map_err(|e| Error::iface(name, "opening", e))?;
        let mtu = sys::if_mtu(name).map_err(|e| Error::iface(name, "reading the MTU of", e))?;
        let fd = sys::packet_socket().map_err(|e| Error::io("opening a packet socket", e))?;
        let raw = fd.as_raw_fd();
        let ctx = |what: &str| format!("{what} on \"{name}\"");
        sys::setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| Error::io(ctx("PACKET_IGNORE_OUTGOING"), e))?;
        sys::setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)
            .map_err(|e| Error::io(ctx("PACKET_AUXDATA"), e))?;
        // Larger buffers absorb bursts; failure only costs drops under load.
        let _ = sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, SOCKET_BUF);
        let _ = sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SOCKET_BUF);
        sys::packet_bind(raw, ifindex).map_err(|e| Error::iface(name, "binding to", e))?;
        sys::packet_promisc(raw, ifindex)
            .map_err(|e| Error::iface(name, "setting promiscuous mode on", e))?;
        Ok(AfPacketPort {
            name: name.to_string(),
            ifindex,
            fd,
            mtu,
            buf: vec![0; RX_BUF],
            rx_errors: 0,
        })
    }
}

impl Port for AfPacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut FrameBatch) -> usize {
        let mut n = 0;
        while n < FrameBatch::DEFAULT_SIZE {
            // Read 4 bytes in, so a tag the kernel stripped can be put back in place.
            let got = match sys::packet_recv(self.fd.as_raw_fd(), &mut self.buf[VLAN_HLEN..]) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ENETDOWN and friends: the link event that follows handles it.
                    tracing::debug!(port = %self.name, error = %e, "receive failed");
                    self.rx_errors += 1;
                    break;
                }
            };
            if got.wire_len > got.len {
                self.rx_errors += 1;
                continue;
            }
            let frame = match got.vlan {
                Some((tpid, tci)) if got.len >= 12 => {
                    self.buf.copy_within(VLAN_HLEN..VLAN_HLEN + 12, 0);
                    self.buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                    self.buf[14..16].copy_from_slice(&tci.to_be_bytes());
                    &self.buf[..got.len + VLAN_HLEN]
                }
                _ => &self.buf[VLAN_HLEN..VLAN_HLEN + got.len],
            };
            batch.push(frame);
            n += 1;
        }
        n
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if too_big(frame, self.mtu) {
            return Err(TxError::TooBig);
        }
        sys::send(self.fd.as_raw_fd(), frame)
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
    fn rx_errors(&self) -> u64 {
        self.rx_errors
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
}
