//! VXLAN tunnel ports (RFC 7348): Ethernet frames carried in UDP datagrams
//! between tunnel endpoints, over an ordinary UDP socket (the kernel builds the
//! outer IP and UDP headers).
//!
//! A port is named `vxlan:NAME,vni=42,local=10.0.0.1,remote=10.0.0.2,...` with
//! options `dstport=` (default 4789, the IANA port; Linux's own default is
//! 8472), `udpcsum` (send UDP checksums, so that the segments of a
//! super-frame can leave as one UDP GSO send; by default they are zero, as
//! RFC 7348 asks over IPv4 and Linux's `noudpcsum` gives; `noudpcsum` says
//! so explicitly) and any number of `remote=` (the flood list). The
//! underlay may be IPv6 (`local=fd00::1,remote=fd00::2`): UDP checksums are
//! then always sent (as Linux does unless told `udp6zerocsumtx`) and zero
//! ones accepted, and the outer headers cost 70 bytes instead of 50.
//!
//! Several VNIs on one local endpoint: `vni=42:10,vni=43:20` maps each VNI
//! to a VLAN of the (VLAN-aware) switch, on which the port is a trunk of those
//! VLANs. A received frame gets the 802.1Q tag of its VNI's VLAN; a frame sent
//! loses its tag and goes with its VLAN's VNI. VNIs are added and removed on a
//! running port ([`VxlanPort::add_vni`], `vswitch vxlan vni add|del`): a port
//! carries one VNI untagged, or none, or any number each on its own VLAN.
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
use crate::gso;
use crate::port::{too_big_offloaded, LinuxPort};
use crate::sys;
use crate::vnet::VnetHdr;
use std::collections::HashMap;
use std::io;
#[cfg(test)]
use std::net::Ipv4Addr;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use vswitch_core::fdb::Fdb;
use vswitch_core::frame::TPID_8021Q;
use vswitch_core::{DeviceCounts, FrameBatch, Port, PortId, RemoteId, TxError};

pub use vswitch_core::vxlan::{
    decap, encap_header, flow_hash, parse, DecapError, HEADER_LEN, IANA_PORT, MAX_VNI, OVERHEAD,
    OVERHEAD_V6,
};

/// The outer headers' cost on an underlay of `local`'s family.
pub fn overhead(local: IpAddr) -> u32 {
    match local {
        IpAddr::V4(_) => OVERHEAD,
        IpAddr::V6(_) => OVERHEAD_V6,
    }
}
/// Outer source ports (sockets) the inner flows are spread over.
pub const SOURCE_PORTS: usize = 16;

/// What a `vxlan:` port is opened with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanSpec {
    /// The port's name (`vx0`).
    pub name: String,
    /// Its VNI (the first one, when several are mapped to VLANs).
    pub vni: u32,
    /// VNI to VLAN mappings (`vni=42:10`); empty for one VNI, untagged.
    pub vlans: Vec<(u32, u16)>,
    /// The local endpoint address (IPv4 or IPv6).
    pub local: IpAddr,
    /// The flood list: remote endpoints that get floods (of the local
    /// address's family).
    pub remotes: Vec<IpAddr>,
    /// The UDP port of both ends.
    pub dstport: u16,
    /// Send UDP checksums (`udpcsum`; zero ones by default, as RFC 7348
    /// asks over IPv4, though they rule out UDP GSO).
    pub udpcsum: bool,
}

impl VxlanSpec {
    /// Parses what follows `vxlan:`: `NAME,vni=N,local=IP[,remote=IP]...[,dstport=P][,udpcsum|noudpcsum]`.
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
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{key}={value}: not an IPv4 or IPv6 address"))
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
        let local: IpAddr = local.ok_or("a VXLAN port needs local=IP")?;
        if let Some(r) = remotes.iter().find(|r| r.is_ipv6() != local.is_ipv6()) {
            return Err(format!(
                "remote={r}: not of the family of local={local} (the underlay is IPv4 or IPv6)"
            ));
        }
        Ok(VxlanSpec {
            name,
            vni: vni.ok_or("a VXLAN port needs vni=N")?,
            vlans,
            local,
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

/// The socket option that lets an IPv6 UDP socket accept zero checksums
/// (linux/udp.h).
const UDP_NO_CHECK6_RX: i32 = 102;

/// Ids in use a reclaim leaves before the table has to double again: the
/// walk of the FDB a reclaim costs is paid once per this many new remotes at
/// least.
const RECLAIM_SLACK: usize = 64;

/// The remote endpoints a port knows, each with a small id that FDB entries
/// hold ([`RemoteId`]). The flood list is a subset.
///
/// An id is given back ([`Remotes::reclaim`]) once no FDB entry and not the
/// flood list refers to it, and may then go to another address: since no
/// entry holds it any longer, nothing is sent to the old address under it.
#[derive(Clone, Debug, Default)]
pub struct Remotes {
    /// By id; `None` for an id given back.
    addrs: Vec<Option<IpAddr>>,
    ids: HashMap<IpAddr, RemoteId>,
    /// Ids given back, to give again.
    free: Vec<RemoteId>,
    flood: Vec<RemoteId>,
    /// Ids in use after the last reclaim.
    kept: usize,
    /// A new remote was refused for want of an id since the last reclaim.
    refused: bool,
}

impl Remotes {
    /// The id of `addr`, given one if it is new and there is room.
    pub fn id(&mut self, addr: IpAddr) -> Option<RemoteId> {
        if let Some(&id) = self.ids.get(&addr) {
            return Some(id);
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.addrs[usize::from(id.0)] = Some(addr);
                id
            }
            None if self.addrs.len() <= usize::from(RemoteId::MAX.0) => {
                self.addrs.push(Some(addr));
                RemoteId((self.addrs.len() - 1) as u16)
            }
            None => {
                self.refused = true;
                return None;
            }
        };
        self.ids.insert(addr, id);
        Some(id)
    }

    /// The address of `id`.
    pub fn addr(&self, id: RemoteId) -> Option<IpAddr> {
        self.addrs.get(usize::from(id.0)).copied().flatten()
    }

    /// Every id's address (`None`: an id not in use), by id.
    pub fn by_id(&self) -> &[Option<IpAddr>] {
        &self.addrs
    }

    /// How many remotes have an id.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no remote has an id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds `addr` to the flood list; false if it was there (or no room).
    pub fn append_flood(&mut self, addr: IpAddr) -> bool {
        match self.id(addr) {
            Some(id) if !self.flood.contains(&id) => {
                self.flood.push(id);
                true
            }
            _ => false,
        }
    }

    /// Removes `addr` from the flood list; false if it was not there. Its id
    /// stays until a reclaim finds no entry holding it.
    pub fn remove_flood(&mut self, addr: IpAddr) -> bool {
        let Some(&id) = self.ids.get(&addr) else {
            return false;
        };
        let before = self.flood.len();
        self.flood.retain(|&r| r != id);
        self.flood.len() != before
    }

    /// The flood list's addresses.
    pub fn flood_list(&self) -> Vec<IpAddr> {
        self.flood.iter().filter_map(|&id| self.addr(id)).collect()
    }

    /// True when a reclaim is worth its walk of the FDB: a new remote was
    /// refused an id, or the ids in use have about doubled since the last one.
    pub fn reclaim_due(&self) -> bool {
        self.refused || self.ids.len() >= 2 * self.kept + RECLAIM_SLACK
    }

    /// Gives back every id that is neither on the flood list nor `in_use`
    /// (which must name every id an FDB entry of the port holds); returns how
    /// many were given back.
    pub fn reclaim(&mut self, in_use: impl Fn(RemoteId) -> bool) -> usize {
        let mut n = 0;
        for (i, slot) in self.addrs.iter_mut().enumerate() {
            let id = RemoteId(i as u16);
            let Some(addr) = *slot else { continue };
            if self.flood.contains(&id) || in_use(id) {
                continue;
            }
            *slot = None;
            self.ids.remove(&addr);
            self.free.push(id);
            n += 1;
        }
        // The lowest ids first, as a fresh table gives them.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
        self.kept = self.ids.len();
        self.refused = false;
        n
    }
}

/// Gives back the ids of `remotes` (tunnel port `port`'s) that no entry of
/// `fdb` and not the flood list refers to (see [`Remotes::reclaim`]). To be
/// called between batches, when no received frame waits with an id that its
/// entry does not hold yet.
pub fn reclaim_remotes(fdb: &Fdb, port: PortId, remotes: &mut Remotes) -> usize {
    let mut in_use = vec![0u64; usize::from(RemoteId::MAX.0) / 64 + 1];
    fdb.remotes_on(port, |r| {
        if let Some(w) = in_use.get_mut(usize::from(r.0 / 64)) {
            *w |= 1 << (r.0 % 64);
        }
    });
    remotes.reclaim(|r| in_use[usize::from(r.0 / 64)] & (1 << (r.0 % 64)) != 0)
}

/// Datagrams read per system call (and slots of [`RX_SLOT`] bytes).
const RX_SLOTS: usize = FrameBatch::DEFAULT_SIZE;
/// Bytes a receive slot holds: a datagram the kernel joined from several
/// (UDP GRO) fits.
const RX_SLOT: usize = 65536;
/// Most datagrams one UDP GSO send carries (the kernel's UDP_MAX_SEGMENTS).
const GSO_MAX_SEGMENTS: u16 = 64;
/// Most bytes one UDP GSO send carries (below the 65,507 of a UDP/IPv4
/// datagram, with room for the IPv6 header too).
const GSO_MAX_BYTES: usize = 65_000;
/// Bytes queued for sending after which the port flushes before its batch
/// ends.
const TX_FLUSH_BYTES: usize = 1 << 20;

/// A message queued for one send socket: its datagrams and the inner frames
/// they account for.
#[derive(Clone, Debug)]
struct Queued {
    msg: sys::UdpMessage,
    /// Datagrams in it (more than one: a UDP GSO send of `msg.segment`
    /// bytes each).
    datagrams: u16,
    /// No datagram may join (the last was shorter than the others, or it is
    /// one copy of a flood).
    closed: bool,
    /// Inner frames and their bytes that count as refused if it fails (a
    /// flood's frame counts with its first copy only).
    frames: u64,
    bytes: u64,
}

/// Where a datagram goes.
#[derive(Clone, Copy, Debug)]
enum Dest {
    /// One remote endpoint.
    Remote(SocketAddr),
    /// Every remote of the flood list, at this port.
    Flood { dstport: u16 },
}

/// The sending half of a port: one socket per outer source port, and the
/// messages queued on each until the flush.
struct Sender {
    sockets: Vec<UdpSocket>,
    /// Queued messages, by socket.
    queue: Vec<Vec<Queued>>,
    /// Runs of same-size datagrams to one remote go as one UDP GSO send
    /// (needs UDP checksums; off for good once the kernel refuses one).
    gso: bool,
    /// The messages of one sendmmsg, kept so that a flush allocates nothing.
    msgs: Vec<sys::UdpMessage>,
    /// Inner frames (and their bytes) the kernel refused, until counted.
    refused: u64,
    refused_bytes: u64,
}

impl Sender {
    /// Queues the datagram at `range` of `buf` (the end of it) on socket
    /// `sock`, for `to`;
    /// `bytes`: the inner frame's length, for the counters. Flushes when
    /// enough is queued.
    #[allow(clippy::too_many_arguments)]
    fn queue(
        &mut self,
        buf: &mut Vec<u8>,
        range: std::ops::Range<usize>,
        sock: usize,
        to: Dest,
        remotes: &Remotes,
        bytes: u64,
        name: &str,
    ) {
        let (start, end) = (range.start, range.end);
        let len = end - start;
        let queue = &mut self.queue[sock];
        match to {
            Dest::Remote(to) => {
                // Joins the socket's last message when that is a run of
                // datagrams as long or longer to the same remote that ends
                // where this one starts.
                let joined = self.gso
                    && queue.last_mut().is_some_and(|q| {
                        let fits = !q.closed
                            && q.msg.to == to
                            && q.msg.range.end == start
                            && len <= usize::from(q.msg.segment)
                            && q.datagrams < GSO_MAX_SEGMENTS
                            && q.msg.range.len() + len <= GSO_MAX_BYTES;
                        if fits {
                            q.msg.range.end = end;
                            q.datagrams += 1;
                            q.closed = len < usize::from(q.msg.segment);
                            q.frames += 1;
                            q.bytes += bytes;
                        }
                        fits
                    });
                if !joined {
                    queue.push(Queued {
                        msg: sys::UdpMessage {
                            range,
                            to,
                            segment: len.min(usize::from(u16::MAX)) as u16,
                        },
                        datagrams: 1,
                        closed: false,
                        frames: 1,
                        bytes,
                    });
                }
            }
            Dest::Flood { dstport } => {
                // Head-end replication: one copy of the bytes, a message per
                // remote.
                for (i, &id) in remotes.flood.iter().enumerate() {
                    let Some(addr) = remotes.addr(id) else {
                        continue;
                    };
                    queue.push(Queued {
                        msg: sys::UdpMessage {
                            range: range.clone(),
                            to: SocketAddr::new(addr, dstport),
                            segment: len.min(usize::from(u16::MAX)) as u16,
                        },
                        datagrams: 1,
                        closed: true,
                        frames: u64::from(i == 0),
                        bytes: if i == 0 { bytes } else { 0 },
                    });
                }
            }
        }
        if buf.len() >= TX_FLUSH_BYTES || queue.len() >= sys::MAX_MSGS {
            self.flush(buf, name);
        }
    }

    /// Sends every queued message, a sendmmsg per socket and up to
    /// [`sys::MAX_MSGS`] messages, then empties `buf`; what the kernel
    /// refuses is counted as refused (its inner frames). A UDP GSO send the
    /// kernel refuses turns GSO off for the port and goes again datagram by
    /// datagram.
    fn flush(&mut self, buf: &mut Vec<u8>, name: &str) {
        let mut msgs = std::mem::take(&mut self.msgs);
        for (sock, queue) in self.queue.iter_mut().enumerate() {
            if queue.is_empty() {
                continue;
            }
            let fd = self.sockets[sock].as_raw_fd();
            msgs.clear();
            msgs.extend(queue.iter().map(|q| {
                let mut m = q.msg.clone();
                if q.datagrams == 1 {
                    m.segment = 0;
                }
                m
            }));
            let mut at = 0;
            while at < msgs.len() {
                match sys::udp_send_many(fd, buf, &msgs[at..]) {
                    Ok(0) => {
                        for q in &queue[at..] {
                            self.refused += q.frames;
                            self.refused_bytes += q.bytes;
                        }
                        break;
                    }
                    Ok(sent) => at += sent,
                    Err(e)
                        if msgs[at].segment > 0
                            && matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) =>
                    {
                        // The underlay cannot take UDP GSO (no checksum
                        // offload on its device): datagram by datagram from
                        // now on.
                        tracing::info!(port = %name, error = %e,
                            "UDP GSO refused; sending datagram by datagram");
                        self.gso = false;
                        let m = msgs[at].clone();
                        let seg = usize::from(m.segment);
                        let mut one = Vec::new();
                        let mut s = m.range.start;
                        while s < m.range.end {
                            let e = (s + seg).min(m.range.end);
                            one.push(sys::UdpMessage {
                                range: s..e,
                                to: m.to,
                                segment: 0,
                            });
                            s = e;
                        }
                        let mut done = 0;
                        while done < one.len() {
                            match sys::udp_send_many(fd, buf, &one[done..]) {
                                Ok(n) if n > 0 => done += n,
                                _ => break,
                            }
                        }
                        if done < one.len() {
                            self.refused += queue[at].frames;
                            self.refused_bytes += queue[at].bytes;
                        }
                        at += 1;
                    }
                    Err(e) => {
                        // ENOBUFS, ENETUNREACH...: this message is refused;
                        // the rest go on.
                        tracing::trace!(port = %name, error = %e, "send failed");
                        self.refused += queue[at].frames;
                        self.refused_bytes += queue[at].bytes;
                        at += 1;
                    }
                }
            }
            queue.clear();
        }
        buf.clear();
        self.msgs = msgs;
    }
}

/// A VXLAN tunnel port. See the module documentation.
pub struct VxlanPort {
    spec: VxlanSpec,
    /// The (VNI, switch VLAN) pairs carried now: one with VLAN 0 (the VNI,
    /// untagged), none, or any number with VLANs (a trunk). Starts as the
    /// spec says; changed at run time by [`VxlanPort::add_vni`] and
    /// [`VxlanPort::del_vni`].
    vnis: Vec<(u32, u16)>,
    rx: UdpSocket,
    /// Send sockets and what is queued on them.
    sender: Sender,
    /// The MTU inner frames are checked against: the underlay's less [`OVERHEAD`].
    mtu: u32,
    /// The interface holding the local address, when it was found.
    underlay: Option<String>,
    remotes: Remotes,
    /// Receive slots, [`RX_SLOTS`] of [`RX_SLOT`] bytes.
    rx_buf: Vec<u8>,
    rx_got: Vec<sys::UdpReceived>,
    /// Datagrams queued, back to back, until [`Port::flush`]: encapsulated
    /// here, GSO super-frames cut into their segments here too.
    tx_buf: Vec<u8>,
    /// A trunk's offloaded frame without its tag, before it is cut.
    scratch: Vec<u8>,
    counts: DeviceCounts,
    decap: DecapCounts,
}

/// The interface holding `local` and its MTU, asked of `ip`; no name and
/// 1500 if unknown.
fn underlay(local: IpAddr) -> (Option<String>, u32) {
    let (family, prefix) = if local.is_ipv6() {
        ("-6", 128)
    } else {
        ("-4", 32)
    };
    let out = std::process::Command::new("ip")
        .args([
            "-o",
            family,
            "addr",
            "show",
            "to",
            &format!("{local}/{prefix}"),
        ])
        .output();
    let iface = out.ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let name = text.split_whitespace().nth(1)?;
        Some(name.split('@').next().unwrap_or(name).to_string())
    });
    let mtu = iface
        .as_deref()
        .and_then(|i| sys::if_mtu(i).ok())
        .unwrap_or(1500);
    (iface, mtu)
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
        let rx = UdpSocket::bind(SocketAddr::new(spec.local, spec.dstport))
            .map_err(|e| udp_error(&spec, "binding the UDP port", e))?;
        rx.set_nonblocking(true)
            .map_err(|e| udp_error(&spec, "setting up the socket", e))?;
        let mut tx = Vec::with_capacity(SOURCE_PORTS);
        for _ in 0..SOURCE_PORTS {
            let s = UdpSocket::bind(SocketAddr::new(spec.local, 0))
                .map_err(|e| udp_error(&spec, "binding a send socket", e))?;
            s.set_nonblocking(true)
                .map_err(|e| udp_error(&spec, "setting up the socket", e))?;
            if !spec.udpcsum && spec.local.is_ipv4() {
                sys::setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_NO_CHECK, 1)
                    .map_err(|e| udp_error(&spec, "turning UDP checksums off", e))?;
            }
            tx.push(s);
        }
        let mut remotes = Remotes::default();
        for &r in &spec.remotes {
            remotes.append_flood(r);
        }
        if spec.local.is_ipv6() {
            // Zero checksums are accepted over IPv6 too (RFC 6935), as over
            // IPv4.
            sys::setsockopt_int(rx.as_raw_fd(), libc::SOL_UDP, UDP_NO_CHECK6_RX, 1)
                .map_err(|e| udp_error(&spec, "accepting zero UDP checksums", e))?;
        }
        let (underlay, mtu) = underlay(spec.local);
        let mtu = mtu.saturating_sub(overhead(spec.local));
        // Datagrams that arrive together may come joined (UDP GRO); without
        // it (an old kernel) they come one by one.
        let _ = sys::setsockopt_int(rx.as_raw_fd(), libc::SOL_UDP, libc::UDP_GRO, 1);
        // UDP GSO needs checksums, which IPv6 always sends.
        let gso = spec.udpcsum || spec.local.is_ipv6();
        let vnis = if spec.vlans.is_empty() {
            vec![(spec.vni, 0)]
        } else {
            spec.vlans.clone()
        };
        Ok(VxlanPort {
            spec,
            vnis,
            rx,
            sender: Sender {
                queue: vec![Vec::new(); tx.len()],
                sockets: tx,
                gso,
                msgs: Vec::new(),
                refused: 0,
                refused_bytes: 0,
            },
            mtu,
            underlay,
            remotes,
            rx_buf: vec![0; RX_SLOTS * RX_SLOT],
            rx_got: Vec::with_capacity(RX_SLOTS),
            tx_buf: Vec::with_capacity(TX_FLUSH_BYTES + RX_SLOT),
            scratch: Vec::new(),
            counts: DeviceCounts::default(),
            decap: DecapCounts::default(),
        })
    }

    /// What the port was opened with.
    pub fn spec(&self) -> &VxlanSpec {
        &self.spec
    }

    /// The (VNI, switch VLAN) pairs the port carries now; VLAN 0 is a VNI
    /// carried untagged (then the only one).
    pub fn vnis(&self) -> &[(u32, u16)] {
        &self.vnis
    }

    /// Carries `vni` from now on: untagged (`vlan` 0, on a port that carries
    /// no VNI), or as switch VLAN `vlan` (1..=4094, on a port whose VNIs all
    /// have VLANs). The error says what is wrong and what is allowed.
    pub fn add_vni(&mut self, vni: u32, vlan: u16) -> std::result::Result<(), String> {
        let name = &self.spec.name;
        if vni > MAX_VNI {
            return Err(format!("VNI {vni} is outside 0..={MAX_VNI}"));
        }
        if vlan > 4094 {
            return Err(format!("VLAN {vlan} is outside 1..=4094"));
        }
        if let Some(&(_, v)) = self.vnis.iter().find(|(n, _)| *n == vni) {
            return Err(match v {
                0 => format!("{name} carries VNI {vni} already (untagged)"),
                v => format!("{name} carries VNI {vni} already (VLAN {v})"),
            });
        }
        if let Some(&(n, _)) = self.vnis.iter().find(|(_, v)| *v == 0) {
            return Err(format!(
                "{name} carries VNI {n} untagged, its only one: remove it first, \
                 or start the port with vni=VNI:VLAN to map several VNIs to VLANs"
            ));
        }
        if vlan == 0 && !self.vnis.is_empty() {
            return Err(format!(
                "{name} maps its VNIs to VLANs: VNI {vni} needs one (vlan 1..=4094)"
            ));
        }
        if let Some(&(n, _)) = self.vnis.iter().find(|(_, v)| *v == vlan) {
            return Err(format!(
                "VLAN {vlan} is mapped to VNI {n} on {name} already"
            ));
        }
        self.vnis.push((vni, vlan));
        Ok(())
    }

    /// Stops carrying `vni`; returns the VLAN it was on (0: untagged).
    pub fn del_vni(&mut self, vni: u32) -> std::result::Result<u16, String> {
        let at = self
            .vnis
            .iter()
            .position(|(n, _)| *n == vni)
            .ok_or_else(|| {
                let carried: Vec<String> = self.vnis.iter().map(|(n, _)| n.to_string()).collect();
                format!(
                    "{} does not carry VNI {vni} (it carries: {})",
                    self.spec.name,
                    if carried.is_empty() {
                        "none".to_string()
                    } else {
                        carried.join(", ")
                    }
                )
            })?;
        Ok(self.vnis.remove(at).1)
    }

    /// The interface that held the local address when the port was opened
    /// (the outer packets leave by the kernel's route, usually through it).
    pub fn underlay(&self) -> Option<&str> {
        self.underlay.as_deref()
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

    /// The VNI `frame` goes with, and whether its tag comes off (a trunk's
    /// frame: its VLAN names the VNI).
    fn vni_of(&mut self, frame: &[u8]) -> std::result::Result<(u32, bool), TxError> {
        if let [(vni, 0)] = self.vnis[..] {
            return Ok((vni, false));
        }
        let vid = match frame.get(12..16) {
            Some([t0, t1, hi, lo]) if u16::from_be_bytes([*t0, *t1]) == TPID_8021Q => {
                u16::from_be_bytes([*hi, *lo]) & 0x0fff
            }
            _ => 0,
        };
        match self.vnis.iter().find(|&&(_, v)| v == vid && v != 0) {
            Some(&(vni, _)) => Ok((vni, true)),
            None => {
                // The port's trunk carries only mapped VLANs: not reached
                // unless the configuration says otherwise.
                self.decap.unmapped += 1;
                Err(TxError::Full)
            }
        }
    }

    /// Decapsulates the datagram at `range` of the receive buffer from
    /// `from` into `batch`; 1 if a frame was pushed, else 0 (counted).
    fn decap_one(
        &mut self,
        range: std::ops::Range<usize>,
        from: IpAddr,
        batch: &mut FrameBatch<VnetHdr>,
    ) -> usize {
        let datagram = &self.rx_buf[range];
        let got = if let [(vni, 0)] = self.vnis[..] {
            decap(datagram, vni).map(|inner| (inner, None))
        } else {
            parse(datagram).and_then(|(vni, inner)| {
                match self.vnis.iter().find(|&&(n, _)| n == vni) {
                    Some(&(_, vid)) => Ok((inner, Some(vid))),
                    None => Err(DecapError::WrongVni(vni)),
                }
            })
        };
        match got {
            Ok((inner, vid)) => match self.remotes.id(from) {
                Some(id) => {
                    match vid {
                        // Tagged as it is copied into the batch.
                        Some(vid) => {
                            let [t0, t1] = TPID_8021Q.to_be_bytes();
                            let [v0, v1] = vid.to_be_bytes();
                            batch.push_parts_from(
                                &[&inner[..12], &[t0, t1, v0, v1], &inner[12..]],
                                VnetHdr::NONE,
                                Some(id),
                            );
                        }
                        None => batch.push_from(inner, VnetHdr::NONE, Some(id)),
                    }
                    1
                }
                None => {
                    self.decap.too_many_remotes += 1;
                    0
                }
            },
            Err(e) => {
                tracing::trace!(port = %self.spec.name, %from, "dropped: {e}");
                match e {
                    DecapError::Short => self.decap.short += 1,
                    DecapError::NoIFlag => self.decap.no_i_flag += 1,
                    DecapError::WrongVni(_) => self.decap.wrong_vni += 1,
                }
                self.counts.rx_errors += 1;
                0
            }
        }
    }

    /// Sends `frame` to remote `to` (`None`: every remote of the flood list).
    /// The frame is encapsulated straight into the send buffer; a GSO
    /// super-frame is cut into its segments there, each copied once and its
    /// checksums finished on the copy ([`gso::resolve_into`]). [`Port::flush`]
    /// sends what is queued.
    pub fn send_to(
        &mut self,
        frame: &[u8],
        offload: VnetHdr,
        to: Option<RemoteId>,
    ) -> std::result::Result<(), TxError> {
        if too_big_offloaded(frame, &offload, self.mtu) {
            return Err(TxError::TooBig);
        }
        let (vni, untag) = self.vni_of(frame)?;
        let dstport = self.spec.dstport;
        let to = match to {
            Some(id) => Dest::Remote(SocketAddr::new(
                self.remotes.addr(id).ok_or(TxError::NoRemote)?,
                dstport,
            )),
            None if self.remotes.flood.is_empty() => return Err(TxError::NoRemote),
            None => Dest::Flood { dstport },
        };
        // Every segment of a super-frame is of its flow: one socket.
        let sock = flow_hash(frame) as usize % self.sender.sockets.len();
        let header = encap_header(vni);
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut header_and_macs = [0; HEADER_LEN + 12];
        let (prefix, frame, offload): (&[u8], _, _) = match (untag, offload.is_plain()) {
            (false, _) => (&header, frame, offload),
            (true, true) => {
                // Untagged on its way into the send buffer: the MAC
                // addresses go with the VXLAN header, the rest after them.
                header_and_macs[..HEADER_LEN].copy_from_slice(&header);
                header_and_macs[HEADER_LEN..].copy_from_slice(&frame[..12]);
                (&header_and_macs, &frame[16..], offload)
            }
            (true, false) => {
                // An offloaded frame: untagged first, its offsets 4 bytes
                // earlier, then cut as any other.
                scratch.clear();
                scratch.extend_from_slice(&frame[..12]);
                scratch.extend_from_slice(&frame[16..]);
                let shifted = VnetHdr {
                    hdr_len: offload.hdr_len.saturating_sub(4),
                    csum_start: if offload.needs_csum() {
                        offload.csum_start.saturating_sub(4)
                    } else {
                        offload.csum_start
                    },
                    ..offload
                };
                (&header, &scratch[..], shifted)
            }
        };
        let untagged = if untag { 4 } else { 0 };
        let Self {
            sender,
            tx_buf,
            remotes,
            spec,
            ..
        } = self;
        let r = gso::resolve_into(frame, &offload, prefix, tx_buf, |buf, range| {
            // The inner frame's length as it came, its tag included.
            let bytes = (range.len() - HEADER_LEN + untagged) as u64;
            sender.queue(buf, range, sock, to, remotes, bytes, &spec.name);
        });
        self.scratch = scratch;
        r.map(|_| ()).map_err(|_| TxError::TooBig)
    }
}

impl Port for VxlanPort {
    type Meta = VnetHdr;

    fn name(&self) -> &str {
        &self.spec.name
    }

    fn recv(&mut self, batch: &mut FrameBatch<VnetHdr>) -> usize {
        let got = match sys::udp_recv_many(
            self.rx.as_raw_fd(),
            &mut self.rx_buf,
            RX_SLOT,
            &mut self.rx_got,
        ) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return 0,
            Err(e) => {
                tracing::debug!(port = %self.spec.name, error = %e, "VXLAN receive failed");
                self.counts.rx_errors += 1;
                return 0;
            }
        };
        let mut n = 0;
        for i in 0..got {
            let r = self.rx_got[i];
            let Some(from) = r.from else {
                self.counts.rx_errors += 1;
                continue;
            };
            if r.wire_len > r.len {
                // Cut short: larger than any underlay's datagram.
                self.counts.rx_errors += 1;
                continue;
            }
            let slot = i * RX_SLOT;
            // Datagrams the kernel joined (UDP GRO): each `gro_size` long,
            // the last maybe shorter.
            let step = match usize::from(r.gro_size) {
                0 => r.len.max(1),
                s => s,
            };
            let mut at = 0;
            while at < r.len {
                let end = (at + step).min(r.len);
                let datagram = slot + at..slot + end;
                at = end;
                n += self.decap_one(datagram, from.ip(), batch);
            }
        }
        n
    }

    fn send(&mut self, frame: &[u8], offload: VnetHdr) -> std::result::Result<(), TxError> {
        self.send_to(frame, offload, None)
    }

    fn flush(&mut self) {
        self.sender.flush(&mut self.tx_buf, &self.spec.name);
    }

    fn take_counts(&mut self) -> DeviceCounts {
        let mut counts = std::mem::take(&mut self.counts);
        counts.tx_refused += std::mem::take(&mut self.sender.refused);
        counts.tx_refused_bytes += std::mem::take(&mut self.sender.refused_bytes);
        counts
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
        assert_eq!(s.local, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(
            s.remotes,
            [IpAddr::from([10, 0, 0, 2]), IpAddr::from([10, 0, 0, 3])]
        );
        let s = VxlanSpec::parse("vx6,vni=42,local=fd00::1,remote=fd00::2").unwrap();
        assert_eq!(
            (s.local.to_string(), s.remotes[0].to_string()),
            ("fd00::1".into(), "fd00::2".into())
        );
        let s = VxlanSpec::parse("vx2,vni=42:10,vni=43:20,local=10.0.0.1").unwrap();
        assert_eq!((s.vni, s.vlans.as_slice()), (42, &[(42, 10), (43, 20)][..]));
        let s = VxlanSpec::parse("vx1,vni=1,local=10.0.0.1,udpcsum").unwrap();
        assert_eq!(
            (s.dstport, s.udpcsum, s.remotes.len()),
            (IANA_PORT, true, 0)
        );
        let s = VxlanSpec::parse("vx1,vni=1,local=10.0.0.1,udpcsum,noudpcsum").unwrap();
        assert!(!s.udpcsum, "the last word counts");
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
            "vx0,vni=1,local=10.0.0.1,remote=fd00::2",
            "vx0,vni=1,local=fd00::1,remote=10.0.0.2",
        ] {
            assert!(VxlanSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remotes_keep_their_ids_and_the_flood_list_is_editable() {
        let mut r = Remotes::default();
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 2].into(), [10, 0, 0, 3].into());
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

    /// Ids come back when nothing holds them, lowest first, never one on the
    /// flood list or in use; a full table refuses and asks for a reclaim.
    #[test]
    fn remote_ids_are_given_back_and_given_again() {
        let mut r = Remotes::default();
        let ip = |n: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
        assert!(r.append_flood(ip(0)));
        for n in 1..10 {
            assert_eq!(r.id(ip(n)), Some(RemoteId(n as u16)));
        }
        assert!(!r.reclaim_due());
        // Entries hold 3 and 7; 0 is on the flood list.
        assert_eq!(r.reclaim(|id| id.0 == 3 || id.0 == 7), 7);
        assert_eq!(r.len(), 3);
        assert_eq!(r.addr(RemoteId(1)), None);
        assert_eq!(r.addr(RemoteId(7)), Some(ip(7)));
        assert_eq!(r.id(ip(100)), Some(RemoteId(1)));
        assert_eq!(r.id(ip(101)), Some(RemoteId(2)));
        assert_eq!(r.id(ip(1)), Some(RemoteId(4)), "a new address, a new id");
        assert_eq!(r.by_id()[5], None);
        // Off the flood list and unused: given back too.
        assert!(r.remove_flood(ip(0)));
        assert_eq!(r.reclaim(|id| id.0 != 0), 1);
        assert!(r.flood_list().is_empty());
        // Full: refused, and a reclaim is due however few were kept.
        let mut full = Remotes::default();
        for n in 0..=u32::from(RemoteId::MAX.0) {
            assert!(full.id(ip(n)).is_some());
        }
        assert!(full.reclaim_due());
        assert_eq!(full.reclaim(|_| true), 0);
        assert!(!full.reclaim_due());
        assert_eq!(full.id(ip(1 << 20)), None);
        assert!(full.reclaim_due());
        assert_eq!(full.reclaim(|id| id.0 != 5), 1);
        assert_eq!(full.id(ip(1 << 20)), Some(RemoteId(5)));
    }

    proptest::proptest! {
        /// Whatever mix of learning from remotes, static entries, removals,
        /// aging, flood list edits and reclaims: every entry's id still names
        /// the address it was made for, the flood list keeps its addresses,
        /// and an id is never given to two addresses at once.
        #[test]
        fn a_reclaimed_id_never_renames_an_entry(
            ops in proptest::collection::vec((0u8..7, 0u8..40, 0u8..12), 1..200)
        ) {
            use std::collections::HashMap as Map;
            use vswitch_core::fdb::FdbConfig;
            use vswitch_core::{Instant, MacAddr};
            let port = PortId(1);
            let mut fdb = Fdb::new(FdbConfig { capacity: 16, ..FdbConfig::default() }).unwrap();
            let mut r = Remotes::default();
            // The address each MAC's entry was made for.
            let mut made: Map<MacAddr, IpAddr> = Map::new();
            let mut flood: Vec<IpAddr> = Vec::new();
            let mut now = 0u64;
            for (op, a, m) in ops {
                let addr = IpAddr::from([10, 0, 0, a]);
                let mac = MacAddr([2, 0, 0, 0, 0, m]);
                match op {
                    0 | 1 => {
                        // A frame from `addr`: its id, then learned with it.
                        if let Some(id) = r.id(addr) {
                            fdb.learn_from(Instant::from_millis(now), 0, mac, port, Some(id));
                            // Not over a static entry.
                            if fdb.get_remote(0, mac) == Some((port, Some(id))) {
                                made.insert(mac, addr);
                            }
                        }
                    }
                    2 => {
                        if let Some(id) = r.id(addr) {
                            fdb.add_static_to(0, mac, port, Some(id));
                            made.insert(mac, addr);
                        }
                    }
                    3 => {
                        fdb.remove(0, mac);
                    }
                    4 => {
                        now += 200_000;
                        fdb.advance(Instant::from_millis(now));
                    }
                    5 => {
                        if a % 2 == 0 {
                            if r.append_flood(addr) {
                                flood.push(addr);
                            }
                        } else if r.remove_flood(addr) {
                            flood.retain(|&f| f != addr);
                        }
                    }
                    _ => {
                        reclaim_remotes(&fdb, port, &mut r);
                    }
                }
                for e in fdb.entries(Instant::from_millis(now)) {
                    let id = e.remote.expect("every entry names a remote");
                    proptest::prop_assert_eq!(r.addr(id), made.get(&e.mac).copied(), "{}", e.mac);
                }
                proptest::prop_assert_eq!(r.flood_list(), flood.clone());
                let mut seen = std::collections::HashSet::new();
                for a in r.by_id().iter().flatten() {
                    proptest::prop_assert!(seen.insert(*a), "{} has two ids", a);
                }
                proptest::prop_assert_eq!(seen.len(), r.len());
            }
        }
    }

    /// Through the switch: a remote's id, once its host aged out, is given
    /// back and goes to the next new remote; frames under that id reach the
    /// new address and never the old one. A flood with an empty flood list
    /// sends nothing and is counted as a `no-remote` drop, not as sent.
    #[test]
    fn a_reused_remote_id_never_sends_to_the_old_address() {
        use vswitch_core::{DropReason, Instant, MacAddr, PortConfig, Switch, SwitchConfig};
        let lo = |n: u8| Ipv4Addr::new(127, 0, 0, n);
        let spec = |n: u8, flood: Vec<Ipv4Addr>| VxlanSpec {
            name: format!("vxr{n}"),
            vni: 42,
            local: lo(n).into(),
            remotes: flood.into_iter().map(IpAddr::V4).collect(),
            dstport: 47_897,
            udpcsum: false,
            vlans: Vec::new(),
        };
        // The switch's tunnel port has no flood list; two machines behind it.
        let mut vx = VxlanPort::open(spec(11, Vec::new())).unwrap();
        let mut old = VxlanPort::open(spec(12, vec![lo(11)])).unwrap();
        let mut new = VxlanPort::open(spec(13, vec![lo(11)])).unwrap();
        let mut sw = Switch::new(SwitchConfig::default()).unwrap();
        let local = sw.add_port(PortConfig::default()).unwrap();
        let tunnel = sw
            .add_port(PortConfig {
                tunnel: true,
                ..PortConfig::default()
            })
            .unwrap();
        let frame = |dst: u8, src: u8| {
            let mut f = vec![0u8; 60];
            f[..6].copy_from_slice(&[2, 0, 0, 0, 0, dst]);
            f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, src]);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            f
        };
        let (h_local, h_old, h_new) = (1, 2, 3);
        let recv = |port: &mut VxlanPort, batch: &mut FrameBatch<VnetHdr>| {
            batch.clear();
            for _ in 0..200 {
                if port.recv(batch) > 0 {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        // Forwards what the tunnel port received (`from_tunnel`) or a frame
        // of the local host; the tunnel port sends for real.
        let mut batch = FrameBatch::with_room(4);
        let forward = |sw: &mut Switch,
                       vx: &mut VxlanPort,
                       at: Instant,
                       ingress,
                       batch: &FrameBatch<VnetHdr>| {
            let mut results = Vec::new();
            sw.forward(at, ingress, batch, |e| {
                let r = if e.port == tunnel {
                    vx.send_to(e.frame, e.meta, e.decision.remote)
                } else {
                    Ok(())
                };
                results.push((e.port, r));
                r
            });
            vx.flush();
            results
        };
        // The old machine's host speaks: learned behind it.
        old.send(&frame(0xff, h_old), VnetHdr::NONE).unwrap();
        old.flush();
        recv(&mut vx, &mut batch);
        assert_eq!(batch.len(), 1);
        let first = batch.remote(0).unwrap();
        forward(&mut sw, &mut vx, Instant::ZERO, tunnel, &batch);
        assert_eq!(
            sw.fdb().get_remote(0, MacAddr([2, 0, 0, 0, 0, h_old])),
            Some((tunnel, Some(first)))
        );
        // Held by an entry: not given back.
        assert_eq!(reclaim_remotes(sw.fdb(), tunnel, vx.remotes_mut()), 0);
        // The host ages out; its remote's id is given back.
        let later = Instant::from_millis(24 * 3600 * 1000);
        sw.advance(later);
        assert_eq!(sw.fdb().get(0, MacAddr([2, 0, 0, 0, 0, h_old])), None);
        assert_eq!(reclaim_remotes(sw.fdb(), tunnel, vx.remotes_mut()), 1);
        assert!(vx.remotes().is_empty());
        // A host behind the new machine gets the same id, with its address.
        new.send(&frame(0xff, h_new), VnetHdr::NONE).unwrap();
        new.flush();
        recv(&mut vx, &mut batch);
        assert_eq!(batch.remote(0), Some(first), "the id is given again");
        assert_eq!(vx.remotes().addr(first), Some(IpAddr::V4(lo(13))));
        forward(&mut sw, &mut vx, later, tunnel, &batch);
        // The local host sends to the old host (unknown now: a flood, which
        // the empty flood list cannot carry) and to the new one.
        batch.clear();
        batch.push_from(&frame(h_old, h_local), VnetHdr::NONE, None);
        let sent = forward(&mut sw, &mut vx, later, local, &batch);
        assert_eq!(sent, [(tunnel, Err(TxError::NoRemote))]);
        let c = sw.port(tunnel).unwrap().counters;
        assert_eq!((c.tx_frames, c.drops(DropReason::NoRemote)), (0, 1));
        batch.clear();
        batch.push_from(&frame(h_new, h_local), VnetHdr::NONE, None);
        let sent = forward(&mut sw, &mut vx, later, local, &batch);
        assert_eq!(sent, [(tunnel, Ok(()))]);
        assert_eq!(sw.port(tunnel).unwrap().counters.tx_frames, 1);
        let mut got = FrameBatch::with_room(4);
        recv(&mut new, &mut got);
        assert_eq!((got.len(), got.get(0)), (1, &frame(h_new, h_local)[..]));
        // The old machine got nothing: the datagram to the new one has
        // arrived, and loopback delivers in the order sent.
        assert_eq!(old.recv(&mut got), 0);
    }

    /// VNIs added and removed on a running port: one untagged at most, or
    /// any number with distinct VLANs, never both; each refusal names the rule.
    #[test]
    fn vnis_are_added_and_removed_live() {
        let spec = |vlans: Vec<(u32, u16)>| VxlanSpec {
            name: "vxm".into(),
            vni: 42,
            local: Ipv4Addr::new(127, 0, 0, 21).into(),
            remotes: Vec::new(),
            dstport: 47_901,
            udpcsum: false,
            vlans,
        };
        let mut p = VxlanPort::open(spec(Vec::new())).unwrap();
        assert_eq!(p.vnis(), [(42, 0)]);
        let refused = |r: std::result::Result<(), String>, like: &str| {
            let e = r.expect_err(like);
            assert!(e.contains(like), "{e:?} does not say {like:?}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        };
        refused(p.add_vni(43, 0), "carries VNI 42 untagged");
        refused(p.add_vni(43, 10), "carries VNI 42 untagged");
        refused(p.add_vni(42, 0), "carries VNI 42 already");
        refused(p.add_vni(MAX_VNI + 1, 0), "outside 0..=16777215");
        refused(p.add_vni(43, 4095), "outside 1..=4094");
        assert!(p
            .del_vni(43)
            .unwrap_err()
            .contains("does not carry VNI 43 (it carries: 42)"));
        assert_eq!(p.del_vni(42), Ok(0));
        assert!(p.vnis().is_empty());
        assert!(p.del_vni(42).unwrap_err().contains("it carries: none"));
        p.add_vni(7, 0).unwrap();
        assert_eq!(p.vnis(), [(7, 0)]);
        assert_eq!(
            p.spec().vni,
            42,
            "the spec stays what the port was opened with"
        );
        drop(p);
        let mut p = VxlanPort::open(spec(vec![(42, 10)])).unwrap();
        p.add_vni(43, 20).unwrap();
        refused(p.add_vni(44, 20), "VLAN 20 is mapped to VNI 43");
        refused(p.add_vni(43, 30), "carries VNI 43 already (VLAN 20)");
        refused(p.add_vni(44, 0), "needs one (vlan 1..=4094)");
        assert_eq!(p.del_vni(42), Ok(10));
        assert_eq!(p.vnis(), [(43, 20)]);
    }

    /// Two ports on loopback: encapsulation, decapsulation, the remote
    /// learned from the outer source, the MTU drop and the wrong VNI counted.
    #[test]
    fn two_ports_on_loopback() {
        // Both ends on the same UDP port, on two loopback addresses.
        let spec = |local: [u8; 4], remote: [u8; 4]| VxlanSpec {
            name: "vxt".into(),
            vni: 42,
            local: Ipv4Addr::from(local).into(),
            remotes: vec![Ipv4Addr::from(remote).into()],
            dstport: 47_899,
            udpcsum: local[3] == 2,
            vlans: Vec::new(),
        };
        let mut a = VxlanPort::open(spec([127, 0, 0, 1], [127, 0, 0, 2])).unwrap();
        let mut b = VxlanPort::open(spec([127, 0, 0, 2], [127, 0, 0, 1])).unwrap();
        let mut frame = LINUX_VNI42[8..].to_vec();
        frame.resize(60, 0);
        a.send(&frame, VnetHdr::NONE).unwrap();
        a.flush();
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
        assert_eq!(
            b.remotes().addr(id),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        );
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
        a.flush();
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
        // Back from b, which sends UDP checksums: the segments to one remote
        // queue as one UDP GSO send of three datagrams, which a receives as
        // the same three frames, whether its kernel joined them (UDP GRO)
        // or not.
        let back = batch.remote(0).unwrap();
        b.send_to(&tso, hdr, Some(back)).unwrap();
        let queued: Vec<(u16, u16)> = b
            .sender
            .queue
            .iter()
            .flatten()
            .map(|q| (q.datagrams, q.msg.segment))
            .collect();
        assert_eq!(queued, [(3, 1462)]);
        b.flush();
        assert!(b.sender.gso, "loopback takes UDP GSO");
        let mut back_batch = FrameBatch::with_room(4);
        for _ in 0..100 {
            a.recv(&mut back_batch);
            if back_batch.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let sizes: Vec<usize> = back_batch.iter().map(<[u8]>::len).collect();
        assert_eq!(sizes, [1454, 1454, 254]);
        assert_eq!(back_batch.get(2), batch.get(2));
        // Too big with the outer headers.
        let big = vec![0u8; b.mtu() as usize + 15];
        assert_eq!(
            b.send_to(&big, VnetHdr::NONE, Some(id)),
            Err(TxError::TooBig)
        );
        // Another VNI: dropped and counted.
        a.vnis = vec![(43, 0)];
        a.send(&frame, VnetHdr::NONE).unwrap();
        a.flush();
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
