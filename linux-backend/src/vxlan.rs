//! VXLAN tunnel ports (RFC 7348): Ethernet frames carried in UDP datagrams
//! between tunnel endpoints, over an ordinary UDP socket (the kernel builds the
//! outer IP and UDP headers).
//!
//! A port is named `vxlan:NAME,vni=42,local=10.0.0.1,remote=10.0.0.2,...` with
//! options `dstport=` (default 4789, the IANA port; Linux's own default is
//! 8472), `udpcsum` (send UDP checksums; by default they are zero, as Linux's
//! `noudpcsum`) and any number of `remote=` (the flood list).
//!
//! Several VNIs on one local endpoint: `vni=42:10,vni=43:20` maps each VNI
//! to a VLAN of the (VLAN-aware) switch, on which the port is a trunk of those
//! VLANs. A received frame gets the 802.1Q tag of its VNI's VLAN; a frame sent
//! loses its tag and goes with its VLAN's VNI.
//!
//! - Receive: the datagram's VXLAN header must have the I flag and the port's
//!   VNI; anything else is dropped and counted under a reason
//!   ([`DecapError`]). A UDP checksum, present or zero, is the kernel's to
//!   check. The outer source address becomes the frame's remote endpoint
//!   ([`vswitch_core::RemoteId`]), which the switch learns with its source.
//! - Send: known unicast goes to the remote its FDB entry holds; a flood goes
//!   to every remote of the flood list (head-end replication). Split horizon is
//!   the core's: a tunnel port never gets back what it brought in. The outer
//!   source port is picked by a hash of the inner flow (one of
//!   [`SOURCE_PORTS`] sockets), so that the underlay's ECMP spreads flows as
//!   it does for Linux's VXLAN devices. GSO super-frames are cut into segments
//!   first; a frame that with the 50 bytes of outer headers would exceed the
//!   underlay MTU is dropped as `too-big`.
//!
//! ```
//! use vswitch_linux::vxlan::{decap, encap_header, DecapError};
//! let mut d = encap_header(42).to_vec();
//! d.extend_from_slice(&[0xff; 6]);
//! d.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
//! assert_eq!(decap(&d, 42).unwrap().len(), 14);
//! assert_eq!(decap(&d, 43), Err(DecapError::WrongVni(42)));
//! ```

use crate::error::{Error, Result};
use crate::port::{send_finished, too_big, LinuxPort};
use crate::sys;
use crate::vnet::VnetHdr;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use vswitch_core::frame::{ETHERNET_HEADER_LEN, TPID_8021Q};
use vswitch_core::{DeviceCounts, FrameBatch, Port, RemoteId, TxError};

/// The IANA port for VXLAN.
pub const IANA_PORT: u16 = 4789;
/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;
/// What encapsulation adds to an inner frame on the underlay: outer Ethernet
/// (14), IPv4 (20), UDP (8) and VXLAN (8) headers.
pub const OVERHEAD: u32 = 50;
/// Outer source ports (sockets) the inner flows are spread over.
pub const SOURCE_PORTS: usize = 16;

/// Offset of the flags byte.
const FLAGS: usize = 0;
/// Offset of the 24-bit VNI.
const VNI: usize = 4;
/// The I flag: the VNI is valid.
const FLAG_I: u8 = 0x08;
/// The largest VNI.
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// The VXLAN header of a frame for `vni` (only the low 24 bits count).
pub fn encap_header(vni: u32) -> [u8; HEADER_LEN] {
    let v = (vni & MAX_VNI).to_be_bytes();
    [FLAG_I, 0, 0, 0, v[1], v[2], v[3], 0]
}

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecapError {
    /// Shorter than a VXLAN header and an inner Ethernet header.
    Short,
    /// The I flag is clear: no valid VNI.
    NoIFlag,
    /// The VNI is not one of the port's (the one it carried).
    WrongVni(u32),
}

impl DecapError {
    /// The counter name, as `show` prints it.
    pub fn reason(self) -> &'static str {
        match self {
            DecapError::Short => "vxlan-short",
            DecapError::NoIFlag => "vxlan-no-i-flag",
            DecapError::WrongVni(_) => "vxlan-wrong-vni",
        }
    }
}

impl fmt::Display for DecapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecapError::Short => write!(f, "datagram too short for VXLAN and Ethernet headers"),
            DecapError::NoIFlag => write!(f, "VXLAN I flag clear"),
            DecapError::WrongVni(v) => write!(f, "VNI {v} is not the port's"),
        }
    }
}

/// The VNI of a VXLAN datagram and the inner frame, after one length check.
/// Reserved fields are ignored, as RFC 7348 asks of a receiver.
pub fn parse(datagram: &[u8]) -> std::result::Result<(u32, &[u8]), DecapError> {
    if datagram.len() < HEADER_LEN + ETHERNET_HEADER_LEN {
        return Err(DecapError::Short);
    }
    if datagram[FLAGS] & FLAG_I == 0 {
        return Err(DecapError::NoIFlag);
    }
    let vni = u32::from_be_bytes([0, datagram[VNI], datagram[VNI + 1], datagram[VNI + 2]]);
    Ok((vni, &datagram[HEADER_LEN..]))
}

/// The inner frame of a datagram for VNI `vni`.
pub fn decap(datagram: &[u8], vni: u32) -> std::result::Result<&[u8], DecapError> {
    let (got, inner) = parse(datagram)?;
    if got != vni {
        return Err(DecapError::WrongVni(got));
    }
    Ok(inner)
}

/// A hash of the inner frame's flow: its addresses and ethertype, and for
/// IPv4 its addresses and (TCP/UDP) ports. Frames of one flow get the same
/// outer source port, so they stay in order across an ECMP underlay.
pub fn flow_hash(frame: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    mix(frame.get(..ETHERNET_HEADER_LEN).unwrap_or(frame));
    if frame.get(12..14) == Some(&[0x08, 0x00]) {
        if let Some(ip) = frame.get(ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + 20) {
            mix(&ip[12..20]);
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if matches!(ip[9], 6 | 17) {
                if let Some(ports) =
                    frame.get(ETHERNET_HEADER_LEN + ihl..ETHERNET_HEADER_LEN + ihl + 4)
                {
                    mix(ports);
                }
            }
        }
    }
    h
}

/// What a `vxlan:` port is opened with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanSpec {
    /// The port's name (`vx0`).
    pub name: String,
    /// Its VNI (the first one, when several are mapped to VLANs).
    pub vni: u32,
    /// VNI to VLAN mappings (`vni=42:10`); empty for one VNI, untagged.
    pub vlans: Vec<(u32, u16)>,
    /// The local endpoint address.
    pub local: Ipv4Addr,
    /// The flood list: remote endpoints that get floods.
    pub remotes: Vec<Ipv4Addr>,
    /// The UDP port of both ends.
    pub dstport: u16,
    /// Send UDP checksums (zero by default).
    pub udpcsum: bool,
}

impl VxlanSpec {
    /// Parses what follows `vxlan:`: `NAME,vni=N,local=IP[,remote=IP]...[,dstport=P][,udpcsum]`.
    pub fn parse(spec: &str) -> std::result::Result<VxlanSpec, String> {
        let mut parts = spec.split(',');
        let name = parts.next().unwrap_or_default().to_string();
        let (mut vni, mut local, mut remotes) = (None, None, Vec::new());
        let mut vlans: Vec<(u32, u16)> = Vec::new();
        let (mut dstport, mut udpcsum) = (IANA_PORT, false);
        for part in parts {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let ip = || {
                value
                    .parse::<Ipv4Addr>()
                    .map_err(|_| format!("{key}={value}: not an IPv4 address"))
            };
            match key {
                "vni" => {
                    let (v, vid) = match value.split_once(':') {
                        Some((v, vid)) => (v, Some(vid)),
                        None => (value, None),
                    };
                    let v = v
                        .parse::<u32>()
                        .ok()
                        .filter(|v| *v <= MAX_VNI)
                        .ok_or_else(|| format!("vni={value}: not a VNI (0..={MAX_VNI})"))?;
                    let several =
                        || format!("vni={value}: several VNIs each need a VLAN (vni=VNI:VLAN)");
                    match vid {
                        None if vni.is_some() => return Err(several()),
                        None => vni = Some(v),
                        Some(vid) => {
                            let vid = vid
                                .parse::<u16>()
                                .ok()
                                .filter(|v| (1..=4094).contains(v))
                                .ok_or_else(|| format!("vni={value}: not a VLAN (1..=4094)"))?;
                            if vni.is_some() && vlans.is_empty() {
                                return Err(several());
                            }
                            if vlans.iter().any(|&(n, d)| n == v || d == vid) {
                                return Err(format!("vni={value}: VNI or VLAN mapped twice"));
                            }
                            vni.get_or_insert(v);
                            vlans.push((v, vid));
                        }
                    }
                }
                "local" => local = Some(ip()?),
                "remote" => {
                    let r = ip()?;
                    if !remotes.contains(&r) {
                        remotes.push(r);
                    }
                }
                "dstport" => {
                    dstport = value
                        .parse()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("dstport={value}: not a UDP port"))?
                }
                "udpcsum" => udpcsum = true,
                "noudpcsum" => udpcsum = false,
                _ => return Err(format!("unknown VXLAN option \"{part}\"")),
            }
        }
        Ok(VxlanSpec {
            name,
            vni: vni.ok_or("a VXLAN port needs vni=N")?,
            vlans,
            local: local.ok_or("a VXLAN port needs local=IP")?,
            remotes,
            dstport,
            udpcsum,
        })
    }
}

/// Drops of received datagrams, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecapCounts {
    /// [`DecapError::Short`].
    pub short: u64,
    /// [`DecapError::NoIFlag`].
    pub no_i_flag: u64,
    /// [`DecapError::WrongVni`].
    pub wrong_vni: u64,
    /// From a new remote when the port already knows [`RemoteId::MAX`] + 1.
    pub too_many_remotes: u64,
    /// Frames to send in a VLAN no VNI is mapped to (or untagged, on a port
    /// of several VNIs): never encapsulated.
    pub unmapped: u64,
}

impl DecapCounts {
    /// The counters by name, nonzero ones only.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        [
            ("vxlan-short", self.short),
            ("vxlan-no-i-flag", self.no_i_flag),
            ("vxlan-wrong-vni", self.wrong_vni),
            ("vxlan-too-many-remotes", self.too_many_remotes),
            ("vxlan-unmapped-vlan", self.unmapped),
        ]
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .collect()
    }
}

/// The remote endpoints a port knows: each one's id is its place here, never
/// reused while the port lives. The flood list is a subset.
#[derive(Clone, Debug, Default)]
pub struct Remotes {
    addrs: Vec<Ipv4Addr>,
    ids: HashMap<Ipv4Addr, RemoteId>,
    flood: Vec<RemoteId>,
}

impl Remotes {
    /// The id of `addr`, given one if it is new and there is room.
    pub fn id(&mut self, addr: Ipv4Addr) -> Option<RemoteId> {
        if let Some(&id) = self.ids.get(&addr) {
            return Some(id);
        }
        if self.addrs.len() > usize::from(RemoteId::MAX.0) {
            return None;
        }
        let id = RemoteId(self.addrs.len() as u16);
        self.addrs.push(addr);
        self.ids.insert(addr, id);
        Some(id)
    }

    /// The address of `id`.
    pub fn addr(&self, id: RemoteId) -> Option<Ipv4Addr> {
        self.addrs.get(usize::from(id.0)).copied()
    }

    /// Every known address, by id.
    pub fn addrs(&self) -> &[Ipv4Addr] {
        &self.addrs
    }

    /// Adds `addr` to the flood list; false if it was there (or no room).
    pub fn append_flood(&mut self, addr: Ipv4Addr) -> bool {
        match self.id(addr) {
            Some(id) if !self.flood.contains(&id) => {
                self.flood.push(id);
                true
            }
            _ => false,
        }
    }

    /// Removes `addr` from the flood list; false if it was not there.
    pub fn remove_flood(&mut self, addr: Ipv4Addr) -> bool {
        let Some(&id) = self.ids.get(&addr) else {
            return false;
        };
        let before = self.flood.len();
        self.flood.retain(|&r| r != id);
        self.flood.len() != before
    }

    /// The flood list's addresses.
    pub fn flood_list(&self) -> Vec<Ipv4Addr> {
        self.flood.iter().filter_map(|&id| self.addr(id)).collect()
    }
}

/// A VXLAN tunnel port. See the module documentation.
pub struct VxlanPort {
    spec: VxlanSpec,
    rx: UdpSocket,
    /// Send sockets, one per outer source port.
    tx: Vec<UdpSocket>,
    /// The MTU inner frames are checked against: the underlay's less [`OVERHEAD`].
    mtu: u32,
    remotes: Remotes,
    buf: Vec<u8>,
    /// A received frame with its VLAN's tag pushed.
    tagged: Vec<u8>,
    /// Header and frame as sent.
    out: Vec<u8>,
    scratch: Vec<u8>,
    counts: DeviceCounts,
    decap: DecapCounts,
}

/// The MTU of the interface holding `local`, asked of `ip`; 1500 if unknown.
fn underlay_mtu(local: Ipv4Addr) -> u32 {
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "to", &format!("{local}/32")])
        .output();
    let iface = out.ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split_whitespace().nth(1).map(str::to_string)
    });
    iface
        .and_then(|i| sys::if_mtu(i.split('@').next().unwrap_or(&i)).ok())
        .unwrap_or(1500)
}

fn udp_error(spec: &VxlanSpec, what: &str, e: io::Error) -> Error {
    let hint = match e.kind() {
        io::ErrorKind::AddrNotAvailable => {
            format!(
                " ({} is no address of this machine's namespace)",
                spec.local
            )
        }
        io::ErrorKind::AddrInUse => format!(
            " ({}:{} is taken, by another VXLAN port or a Linux VXLAN device; \
             several VNIs share one port as vni=VNI:VLAN,...)",
            spec.local, spec.dstport
        ),
        _ => String::new(),
    };
    Error::io(format!("{what} for VXLAN port \"{}\"{hint}", spec.name), e)
}

impl VxlanPort {
    /// Opens the sockets of `spec`: one bound to (local, dstport) that
    /// receives, and [`SOURCE_PORTS`] bound to (local, any port) that send.
    pub fn open(spec: VxlanSpec) -> Result<VxlanPort> {
        let rx = UdpSocket::bind(SocketAddrV4::new(spec.local, spec.dstport))
            .map_err(|e| udp_error(&spec, "binding the UDP port", e))?;
        rx.set_nonblocking(true)
            .map_err(|e| udp_error(&spec, "setting up the socket", e))?;
        let mut tx = Vec::with_capacity(SOURCE_PORTS);
        for _ in 0..SOURCE_PORTS {
            let s = UdpSocket::bind(SocketAddrV4::new(spec.local, 0))
                .map_err(|e| udp_error(&spec, "binding a send socket", e))?;
            s.set_nonblocking(true)
                .map_err(|e| udp_error(&spec, "setting up the socket", e))?;
            if !spec.udpcsum {
                sys::setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_NO_CHECK, 1)
                    .map_err(|e| udp_error(&spec, "turning UDP checksums off", e))?;
            }
            tx.push(s);
        }
        let mut remotes = Remotes::default();
        for &r in &spec.remotes {
            remotes.append_flood(r);
        }
        let mtu = underlay_mtu(spec.local).saturating_sub(OVERHEAD);
        Ok(VxlanPort {
            spec,
            rx,
            tx,
            mtu,
            remotes,
            buf: vec![0; 65536],
            tagged: Vec::with_capacity(65536 + 4),
            out: Vec::with_capacity(65536),
            scratch: Vec::new(),
            counts: DeviceCounts::default(),
            decap: DecapCounts::default(),
        })
    }

    /// What the port was opened with.
    pub fn spec(&self) -> &VxlanSpec {
        &self.spec
    }

    /// Its remote endpoints.
    pub fn remotes(&self) -> &Remotes {
        &self.remotes
    }

    /// Its remote endpoints, to edit the flood list.
    pub fn remotes_mut(&mut self) -> &mut Remotes {
        &mut self.remotes
    }

    /// Drops of received datagrams so far.
    pub fn decap_counts(&self) -> DecapCounts {
        self.decap
    }

    /// Encapsulates `frame` and sends it to `to`, or to the whole flood list.
    fn send_encapsulated(
        &mut self,
        frame: &[u8],
        to: Option<RemoteId>,
    ) -> std::result::Result<(), TxError> {
        if too_big(frame, self.mtu) {
            return Err(TxError::TooBig);
        }
        self.out.clear();
        if self.spec.vlans.is_empty() {
            self.out.extend_from_slice(&encap_header(self.spec.vni));
            self.out.extend_from_slice(frame);
        } else {
            // The frame leaves a trunk tagged: its VLAN names the VNI.
            let vid = match frame.get(12..16) {
                Some([t0, t1, hi, lo]) if u16::from_be_bytes([*t0, *t1]) == TPID_8021Q => {
                    u16::from_be_bytes([*hi, *lo]) & 0x0fff
                }
                _ => 0,
            };
            let Some(&(vni, _)) = self.spec.vlans.iter().find(|&&(_, v)| v == vid) else {
                // The port's trunk carries only mapped VLANs: not reached
                // unless the configuration says otherwise.
                self.decap.unmapped += 1;
                return Err(TxError::Full);
            };
            self.out.extend_from_slice(&encap_header(vni));
            self.out.extend_from_slice(&frame[..12]);
            self.out.extend_from_slice(&frame[16..]);
        }
        let sock = &self.tx[flow_hash(frame) as usize % self.tx.len()];
        let one = |addr: Ipv4Addr| {
            sock.send_to(&self.out, SocketAddrV4::new(addr, self.spec.dstport))
                .map(|_| ())
        };
        let mut result = Ok(());
        match to {
            Some(id) => match self.remotes.addr(id) {
                Some(addr) => result = one(addr),
                None => return Err(TxError::Full),
            },
            None => {
                for &id in &self.remotes.flood {
                    if let Some(addr) = self.remotes.addr(id) {
                        // Every endpoint is tried; the first failure is the answer.
                        result = result.and(one(addr));
                    }
                }
            }
        }
        result.map_err(|e| match e.raw_os_error() {
            Some(libc::EMSGSIZE) => TxError::TooBig,
            _ => TxError::Full,
        })
    }

    /// Sends `frame` to remote `to` (`None`: every remote of the flood list).
    pub fn send_to(
        &mut self,
        frame: &[u8],
        offload: VnetHdr,
        to: Option<RemoteId>,
    ) -> std::result::Result<(), TxError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = send_finished(frame, &offload, &mut scratch, |f| {
            self.send_encapsulated(f, to)
        });
        self.scratch = scratch;
        r
    }
}

impl Port for VxlanPort {
    type Meta = VnetHdr;

    fn name(&self) -> &str {
        &self.spec.name
    }

    fn recv(&mut self, batch: &mut FrameBatch<VnetHdr>) -> usize {
        let mut n = 0;
        while n < FrameBatch::DEFAULT_SIZE {
            let (len, from) = match self.rx.recv_from(&mut self.buf) {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(port = %self.spec.name, error = %e, "VXLAN receive failed");
                    self.counts.rx_errors += 1;
                    break;
                }
            };
            let std::net::SocketAddr::V4(from) = from else {
                continue;
            };
            let got = if self.spec.vlans.is_empty() {
                decap(&self.buf[..len], self.spec.vni).map(|inner| (inner, None))
            } else {
                parse(&self.buf[..len]).and_then(|(vni, inner)| {
                    match self.spec.vlans.iter().find(|&&(n, _)| n == vni) {
                        Some(&(_, vid)) => Ok((inner, Some(vid))),
                        None => Err(DecapError::WrongVni(vni)),
                    }
                })
            };
            match got {
                Ok((inner, vid)) => match self.remotes.id(*from.ip()) {
                    Some(id) => {
                        let frame = match vid {
                            Some(vid) => {
                                self.tagged.clear();
                                self.tagged.extend_from_slice(&inner[..12]);
                                self.tagged.extend_from_slice(&TPID_8021Q.to_be_bytes());
                                self.tagged.extend_from_slice(&vid.to_be_bytes());
                                self.tagged.extend_from_slice(&inner[12..]);
                                &self.tagged[..]
                            }
                            None => inner,
                        };
                        batch.push_from(frame, VnetHdr::NONE, Some(id));
                        n += 1;
                    }
                    None => self.decap.too_many_remotes += 1,
                },
                Err(e) => {
                    tracing::trace!(port = %self.spec.name, %from, "dropped: {e}");
                    match e {
                        DecapError::Short => self.decap.short += 1,
                        DecapError::NoIFlag => self.decap.no_i_flag += 1,
                        DecapError::WrongVni(_) => self.decap.wrong_vni += 1,
                    }
                    self.counts.rx_errors += 1;
                }
            }
        }
        n
    }

    fn send(&mut self, frame: &[u8], offload: VnetHdr) -> std::result::Result<(), TxError> {
        self.send_to(frame, offload, None)
    }

    fn take_counts(&mut self) -> DeviceCounts {
        std::mem::take(&mut self.counts)
    }
}

impl LinuxPort for VxlanPort {
    fn fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }
    /// A tunnel has no interface of its own.
    fn ifindex(&self) -> u32 {
        0
    }
    fn kind(&self) -> &'static str {
        "vxlan"
    }
    fn mtu(&self) -> u32 {
        self.mtu
    }
    fn set_mtu(&mut self, mtu: u32) {
        self.mtu = mtu;
    }
    fn follows_link_events(&self) -> bool {
        false
    }
    fn send_to(
        &mut self,
        frame: &[u8],
        meta: VnetHdr,
        to: Option<RemoteId>,
    ) -> std::result::Result<(), TxError> {
        VxlanPort::send_to(self, frame, meta, to)
    }
    fn vxlan(&self) -> Option<&VxlanPort> {
        Some(self)
    }
    fn vxlan_mut(&mut self) -> Option<&mut VxlanPort> {
        Some(self)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A VXLAN datagram as Linux sends it: I flag, VNI 42, an ARP request.
    const LINUX_VNI42: [u8; 22] = [
        0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, // VXLAN, VNI 42
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x06, // ARP
    ];

    #[test]
    fn decapsulates_linux_frames_and_checks_flag_and_vni() {
        assert_eq!(decap(&LINUX_VNI42, 42), Ok(&LINUX_VNI42[8..]));
        assert_eq!(decap(&LINUX_VNI42, 7), Err(DecapError::WrongVni(42)));
        let mut no_i = LINUX_VNI42;
        no_i[0] = 0;
        assert_eq!(decap(&no_i, 42), Err(DecapError::NoIFlag));
        // Reserved bits are ignored (RFC 7348 section 5).
        let mut reserved = LINUX_VNI42;
        reserved[1] = 0xff;
        reserved[7] = 0xff;
        assert_eq!(decap(&reserved, 42), Ok(&LINUX_VNI42[8..]));
        for len in 0..LINUX_VNI42.len() {
            assert_eq!(
                decap(&LINUX_VNI42[..len], 42),
                Err(DecapError::Short),
                "{len}"
            );
        }
    }

    #[test]
    fn encapsulation_is_what_linux_sends() {
        assert_eq!(encap_header(42), LINUX_VNI42[..8]);
        assert_eq!(encap_header(MAX_VNI), [8, 0, 0, 0, 0xff, 0xff, 0xff, 0]);
        let (vni, inner) = parse(&[&encap_header(0x123456)[..], &LINUX_VNI42[8..]].concat())
            .map(|(v, i)| (v, i.to_vec()))
            .unwrap();
        assert_eq!((vni, inner.as_slice()), (0x123456, &LINUX_VNI42[8..]));
    }

    #[test]
    fn flows_hash_apart_and_a_flow_hashes_alike() {
        let mut a = vec![0u8; 14 + 20 + 8];
        a[12..14].copy_from_slice(&[0x08, 0x00]);
        a[14] = 0x45;
        a[14 + 9] = 17;
        let mut b = a.clone();
        b[14 + 20] = 1; // another source port
        assert_ne!(flow_hash(&a), flow_hash(&b));
        let mut c = a.clone();
        c[40] = 9; // payload: the same flow
        assert_eq!(flow_hash(&a), flow_hash(&c));
        let _ = flow_hash(&[]); // never panics
        let _ = flow_hash(&a[..20]);
    }

    #[test]
    fn parses_specs() {
        let s = VxlanSpec::parse(
            "vx0,vni=42,local=10.0.0.1,remote=10.0.0.2,remote=10.0.0.3,remote=10.0.0.2,dstport=8472",
        )
        .unwrap();
        assert_eq!(s.name, "vx0");
        assert_eq!((s.vni, s.dstport, s.udpcsum), (42, 8472, false));
        assert_eq!(s.local, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            s.remotes,
            [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]
        );
        let s = VxlanSpec::parse("vx2,vni=42:10,vni=43:20,local=10.0.0.1").unwrap();
        assert_eq!((s.vni, s.vlans.as_slice()), (42, &[(42, 10), (43, 20)][..]));
        let s = VxlanSpec::parse("vx1,vni=1,local=10.0.0.1,udpcsum").unwrap();
        assert_eq!(
            (s.dstport, s.udpcsum, s.remotes.len()),
            (IANA_PORT, true, 0)
        );
        for bad in [
            "vx0,local=10.0.0.1",
            "vx0,vni=1",
            "vx0,vni=16777216,local=10.0.0.1",
            "vx0,vni=1,local=10.0.0.300",
            "vx0,vni=1,local=10.0.0.1,dstport=0",
            "vx0,vni=1,local=10.0.0.1,colour=red",
            "vx0,vni=1,vni=2,local=10.0.0.1",
            "vx0,vni=1,vni=2:20,local=10.0.0.1",
            "vx0,vni=1:20,vni=2:20,local=10.0.0.1",
            "vx0,vni=1:0,local=10.0.0.1",
        ] {
            assert!(VxlanSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remotes_keep_their_ids_and_the_flood_list_is_editable() {
        let mut r = Remotes::default();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3));
        assert!(r.append_flood(a));
        assert!(!r.append_flood(a));
        assert_eq!(r.id(b), Some(RemoteId(1)), "learned, not flooded to");
        assert_eq!(r.flood_list(), [a]);
        assert!(r.append_flood(b));
        assert!(r.remove_flood(a));
        assert!(!r.remove_flood(a));
        assert_eq!((r.flood_list(), r.id(a)), (vec![b], Some(RemoteId(0))));
        assert_eq!(r.addr(RemoteId(1)), Some(b));
    }

    /// Two ports on loopback: encapsulation, decapsulation, the remote
    /// learned from the outer source, the MTU drop and the wrong VNI counted.
    #[test]
    fn two_ports_on_loopback() {
        // Both ends on the same UDP port, on two loopback addresses.
        let spec = |local: [u8; 4], remote: [u8; 4]| VxlanSpec {
            name: "vxt".into(),
            vni: 42,
            local: Ipv4Addr::from(local),
            remotes: vec![Ipv4Addr::from(remote)],
            dstport: 47_899,
            udpcsum: local[3] == 2,
            vlans: Vec::new(),
        };
        let mut a = VxlanPort::open(spec([127, 0, 0, 1], [127, 0, 0, 2])).unwrap();
        let mut b = VxlanPort::open(spec([127, 0, 0, 2], [127, 0, 0, 1])).unwrap();
        let mut frame = LINUX_VNI42[8..].to_vec();
        frame.resize(60, 0);
        a.send(&frame, VnetHdr::NONE).unwrap();
        let mut batch = FrameBatch::with_room(4);
        let mut got = 0;
        for _ in 0..100 {
            got += b.recv(&mut batch);
            if got > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, 1);
        assert_eq!(batch.get(0), &frame[..]);
        let id = batch.remote(0).unwrap();
        assert_eq!(b.remotes().addr(id), Some(Ipv4Addr::new(127, 0, 0, 1)));
        // A TSO super-frame (2 x 1400 + 200 bytes of TCP payload) leaves
        // as finished segments, each within the MTU with the outer headers.
        let payload = 3000;
        let mut tso = vec![0u8; 54 + payload];
        tso[..12].copy_from_slice(&frame[..12]);
        tso[12..14].copy_from_slice(&[0x08, 0x00]);
        tso[14] = 0x45;
        tso[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        tso[22] = 64;
        tso[23] = 6; // TCP
        tso[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        tso[46] = 5 << 4; // data offset
        let hdr = VnetHdr {
            flags: crate::vnet::F_NEEDS_CSUM,
            gso_type: crate::vnet::GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1400,
            csum_start: 34,
            csum_offset: 16,
        };
        a.send(&tso, hdr).unwrap();
        batch.clear();
        for _ in 0..100 {
            b.recv(&mut batch);
            if batch.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let sizes: Vec<usize> = batch.iter().map(<[u8]>::len).collect();
        assert_eq!(sizes, [1454, 1454, 254]);
        // Too big with the outer headers.
        let big = vec![0u8; b.mtu() as usize + 15];
        assert_eq!(
            b.send_to(&big, VnetHdr::NONE, Some(id)),
            Err(TxError::TooBig)
        );
        // Another VNI: dropped and counted.
        a.spec.vni = 43;
        a.send(&frame, VnetHdr::NONE).unwrap();
        for _ in 0..100 {
            b.recv(&mut batch);
            if b.decap_counts().wrong_vni > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(b.decap_counts().wrong_vni, 1);
        assert_eq!(b.take_counts().rx_errors, 1);
    }
}
