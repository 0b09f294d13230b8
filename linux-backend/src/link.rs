//! Link state from rtnetlink: carrier changes, MTU changes and interfaces that
//! disappear, read from a NETLINK_ROUTE socket subscribed to RTMGRP_LINK.

use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const RTM_GETLINK: u16 = 18;
const RTMGRP_LINK: u32 = 1;
const NLM_F_REQUEST: u16 = 1;

/// What happened to one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface index.
    pub index: u32,
    /// Its name, when the message carries it.
    pub name: Option<String>,
    /// True if the interface is gone (deleted or moved to another namespace).
    pub deleted: bool,
    /// Administratively up with carrier.
    pub up: bool,
    /// Its MTU, when the message carries it.
    pub mtu: Option<u32>,
    /// The index of its peer (veth) or lower device, when the message carries it.
    pub link: Option<u32>,
}

/// The iflink (for a veth: the peer's index, possibly in another namespace) of
/// interface `index` in the calling thread's namespace.
pub fn iflink(index: u32) -> io::Result<u32> {
    let fd = sys::netlink_route(0, false)?;
    let mut req = Vec::with_capacity(NLMSG_HDRLEN + IFINFOMSG_LEN);
    req.extend_from_slice(&((NLMSG_HDRLEN + IFINFOMSG_LEN) as u32).to_ne_bytes());
    req.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    req.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    req.extend_from_slice(&index.to_ne_bytes());
    req.extend_from_slice(&[0; 8]); // flags, change
    sys::setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        &libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        },
    )?;
    sys::send(fd.as_raw_fd(), &req)?;
    let mut buf = vec![0u8; 1 << 15];
    let n = sys::read(fd.as_raw_fd(), &mut buf)?;
    // An NLMSG_ERROR reply carries a negative errno after the header.
    if u16_at(&buf[..n], 4) == Some(libc::NLMSG_ERROR as u16) {
        let code = u32_at(&buf[..n], NLMSG_HDRLEN).unwrap_or(0) as i32;
        return Err(io::Error::from_raw_os_error(-code));
    }
    let mut events = Vec::new();
    parse_messages(&buf[..n], &mut events);
    events
        .first()
        .map(|e| e.link.unwrap_or(0))
        .ok_or_else(|| io::Error::other("no reply from netlink"))
}

/// True if interface flags (as from SIOCGIFFLAGS or an ifinfomsg) mean the link
/// can carry frames: up and operational (IFF_RUNNING: carrier present). Not
/// IFF_LOWER_UP, which SIOCGIFFLAGS cannot report (it has 16 bits).
pub fn flags_up(flags: u32) -> bool {
    flags & libc::IFF_UP as u32 != 0 && flags & libc::IFF_RUNNING as u32 != 0
}

/// A subscription to link events.
pub struct LinkMonitor {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl LinkMonitor {
    /// Subscribes to the link events of the caller's namespace.
    pub fn new() -> io::Result<LinkMonitor> {
        Ok(LinkMonitor {
            fd: sys::netlink_route(RTMGRP_LINK, true)?,
            buf: vec![0; 1 << 16],
        })
    }

    /// The descriptor to wait on.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every pending event. Returns `Err` with ENOBUFS when events were
    /// lost: the caller should then re-read the state of its interfaces.
    pub fn read(&mut self, events: &mut Vec<LinkEvent>) -> io::Result<()> {
        loop {
            match sys::read(self.fd.as_raw_fd(), &mut self.buf) {
                Ok(n) => parse_messages(&self.buf[..n], events),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses the link messages in one netlink datagram; anything malformed ends
/// the parse quietly.
pub fn parse_messages(mut buf: &[u8], out: &mut Vec<LinkEvent>) {
    while buf.len() >= NLMSG_HDRLEN {
        let Some(len) = u32_at(buf, 0).map(|l| l as usize) else {
            return;
        };
        if len < NLMSG_HDRLEN || len > buf.len() {
            return;
        }
        let kind = u16_at(buf, 4).unwrap_or(0);
        if kind == RTM_NEWLINK || kind == RTM_DELLINK {
            if let Some(ev) = parse_link(&buf[NLMSG_HDRLEN..len], kind == RTM_DELLINK) {
                out.push(ev);
            }
        }
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
}

fn parse_link(body: &[u8], deleted: bool) -> Option<LinkEvent> {
    // Bridge port notifications (AF_BRIDGE) include an RTM_DELLINK when a port
    // leaves its bridge: only messages about the link itself count.
    if *body.first()? != libc::AF_UNSPEC as u8 {
        return None;
    }
    let index = u32_at(body, 4)?;
    let flags = u32_at(body, 8)?;
    let mut ev = LinkEvent {
        index,
        name: None,
        deleted,
        up: !deleted && flags_up(flags),
        mtu: None,
        link: None,
    };
    let mut attrs = body.get(IFINFOMSG_LEN..)?;
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0)?);
        let kind = u16_at(attrs, 2)? & 0x3fff;
        if len < 4 || len > attrs.len() {
            break;
        }
        let data = &attrs[4..len];
        match kind {
            IFLA_IFNAME => {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                ev.name = Some(String::from_utf8_lossy(&data[..end]).into_owned());
            }
            IFLA_MTU => ev.mtu = u32_at(data, 0),
            IFLA_LINK => ev.link = u32_at(data, 0),
            _ => {}
        }
        attrs = attrs.get(align4(len)..).unwrap_or(&[]);
    }
    Some(ev)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_a_newlink_with_name_and_mtu() {
        let mut m = Vec::new();
        let total = NLMSG_HDRLEN + IFINFOMSG_LEN + 12 + 8;
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[0, 0, 1, 0]); // family, pad, type
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&((libc::IFF_UP | libc::IFF_RUNNING) as u32).to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&9u16.to_ne_bytes());
        m.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        m.extend_from_slice(b"veth\0\0\0\0");
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&IFLA_MTU.to_ne_bytes());
        m.extend_from_slice(&1500u32.to_ne_bytes());
        let mut out = Vec::new();
        parse_messages(&m, &mut out);
        assert_eq!(
            out,
            vec![LinkEvent {
                index: 7,
                name: Some("veth".into()),
                deleted: false,
                up: true,
                mtu: Some(1500),
                link: None,
            }]
        );
        // Truncated input parses to nothing and does not panic.
        for cut in 0..m.len() {
            let mut out = Vec::new();
            parse_messages(&m[..cut], &mut out);
        }
    }
}
