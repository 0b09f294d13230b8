//! A TAP port: the switch's end of a virtual NIC that a VM or a userspace
//! network stack plugs into, read and written a frame per system call.

use crate::error::{Error, Result};
use crate::port::{send_finished, too_big, tx_error, LinuxPort};
use crate::sys;
use crate::vnet::VnetHdr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use vswitch_core::frame::VLAN_TAG_LEN;
use vswitch_core::{DeviceCounts, FrameBatch, Port, TxError};

/// Room for the largest frame a TAP device hands us.
const RX_BUF: usize = 65536 + VLAN_TAG_LEN;

/// A TAP device: the switch's end of a virtual NIC that a VM or a userspace
/// network stack plugs into. Created if it does not exist, and set up.
pub struct TapPort {
    name: String,
    ifindex: u32,
    fd: OwnedFd,
    mtu: u32,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Unreadable frames, until [`Port::take_counts`].
    counts: DeviceCounts,
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
            counts: DeviceCounts::default(),
            gone: false,
        })
    }
}

impl Port for TapPort {
    type Meta = VnetHdr;

    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut FrameBatch<VnetHdr>) -> usize {
        let mut n = 0;
        while n < FrameBatch::DEFAULT_SIZE {
            match sys::read(self.fd.as_raw_fd(), &mut self.buf) {
                Ok(len) => {
                    batch.push_with(&self.buf[..len], VnetHdr::NONE);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // EBADFD: the device was deleted under its descriptor.
                    self.gone |= matches!(e.raw_os_error(), Some(libc::EBADFD | libc::EIO));
                    tracing::debug!(port = %self.name, error = %e, "TAP read failed");
                    self.counts.rx_errors += 1;
                    break;
                }
            }
        }
        n
    }

    /// A TAP device without virtio-net headers takes only finished frames:
    /// offloaded ones are completed or cut into segments here.
    fn send(&mut self, frame: &[u8], offload: VnetHdr) -> Result<(), TxError> {
        let (fd, mtu) = (self.fd.as_raw_fd(), self.mtu);
        send_finished(frame, &offload, &mut self.scratch, |f| {
            if too_big(f, mtu) {
                return Err(TxError::TooBig);
            }
            sys::write(fd, f).map(|_| ()).map_err(|e| tx_error(&e))
        })
    }

    fn take_counts(&mut self) -> DeviceCounts {
        std::mem::take(&mut self.counts)
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
}
