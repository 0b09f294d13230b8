//! Hosts: a smoltcp interface on a virtual port. Each host has a MAC and an IPv4
//! address, answers ARP and ICMP echo (smoltcp does both), and runs the
//! scenario's pings, UDP flows and TCP transfers through smoltcp sockets.
//!
//! The device is two queues: frames the wire delivered, waiting for smoltcp, and
//! frames smoltcp sent, waiting for the simulator to put them on the wire. Time
//! is the simulator's virtual clock, given to smoltcp in microseconds.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr,
};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use vswitch_core::MacAddr;

/// The MTU of host interfaces.
pub const MTU: usize = 1500;

/// Neighbour (ARP) cache entries per host: the most smoltcp allows
/// (its `iface-neighbor-cache-count-1024` feature; the default would be 8). A
/// host that talks to more hosts at once than this evicts the oldest entry
/// and may drop a reply for want of one; the report counts such drops.
pub const NEIGHBOR_CACHE: usize = 1024;

/// Echo messages an ICMP socket holds each way, sent or received and not
/// yet taken: a ping sends one at a time and its replies are read at every
/// poll of the host.
pub const ICMP_SLOTS: usize = 8;

/// Bytes of an ICMP echo header, before its payload.
const ICMP_HEADER: usize = 8;

/// Whether a host with `mac` and `ip` drops `frame` without looking further,
/// as a NIC's MAC filter and ARP do: unicast for another MAC (a flood), or an
/// ARP packet about another address. smoltcp would drop them too, changing
/// nothing; skipping them keeps floods and the ARP requests of a big network
/// cheap to simulate.
pub fn ignores(mac: MacAddr, ip: Ipv4Addr, frame: &[u8]) -> bool {
    /// Where an ARP packet for IPv4 over Ethernet holds the target address.
    const ARP_TARGET_IP: std::ops::Range<usize> = 14 + 24..14 + 28;
    let Some(dst) = frame.get(..6) else {
        return false;
    };
    if dst[0] & 1 == 0 {
        return dst != mac.0;
    }
    frame.get(12..14) == Some(&[0x08, 0x06])
        && frame
            .get(ARP_TARGET_IP)
            .is_some_and(|target| target != ip.octets())
}

/// The virtual network device under a host's smoltcp interface.
#[derive(Debug, Default)]
pub struct VirtualDevice {
    /// Frames delivered by the wire, oldest first.
    pub rx: VecDeque<Vec<u8>>,
    /// Frames smoltcp has sent, oldest first.
    pub tx: Vec<Vec<u8>>,
}

/// Lends one received frame to smoltcp.
pub struct RxToken(Vec<u8>);

/// Lets smoltcp write one frame into the transmit queue.
pub struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}

impl Device for VirtualDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: NetInstant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _: NetInstant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU + 14;
        caps
    }
}

/// One host: its interface, device and sockets.
pub struct Host {
    /// Its name.
    pub name: String,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The device smoltcp talks to.
    pub device: VirtualDevice,
    /// The smoltcp interface.
    pub iface: Interface,
    /// Its sockets.
    pub sockets: SocketSet<'static>,
    /// Frames received from the wire.
    pub rx_frames: u64,
    /// Frames sent to the wire.
    pub tx_frames: u64,
}

/// smoltcp's time for virtual nanoseconds.
pub fn net_time(ns: u64) -> NetInstant {
    NetInstant::from_micros((ns / 1000) as i64)
}

impl Host {
    /// A host with no sockets yet; `seed` seeds smoltcp's random numbers.
    // Inlined, the host is built where its caller puts it: one copy of the
    // interface (25 KB, most of it the neighbour cache) fewer per host.
    #[inline(always)]
    pub fn new(name: &str, mac: MacAddr, ip: Ipv4Addr, prefix: u8, seed: u64, now_ns: u64) -> Host {
        let mut device = VirtualDevice::default();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac.0)));
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, net_time(now_ns));
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for two addresses.
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ip), prefix));
        });
        Host {
            name: name.to_string(),
            mac,
            ip,
            device,
            iface,
            sockets: SocketSet::new(Vec::new()),
            rx_frames: 0,
            tx_frames: 0,
        }
    }

    /// Whether the host drops `frame` without looking further: see [`ignores`].
    pub fn ignores(&self, frame: &[u8]) -> bool {
        ignores(self.mac, self.ip, frame)
    }

    /// Lets smoltcp process received frames and send what it has to send.
    pub fn poll(&mut self, now_ns: u64) {
        self.iface
            .poll(net_time(now_ns), &mut self.device, &mut self.sockets);
    }

    /// Virtual time of the next poll smoltcp asks for, if any.
    pub fn next_poll(&mut self, now_ns: u64) -> Option<u64> {
        self.iface
            .poll_delay(net_time(now_ns), &self.sockets)
            .map(|d| now_ns + d.total_micros().max(1) * 1000)
    }

    /// Adds an ICMP socket for pings with identifier `ident` and `size`
    /// bytes of payload.
    ///
    /// Each direction holds [`ICMP_SLOTS`] echo messages of that size (a
    /// ring of exactly that many bytes: messages of one size never wrap
    /// short), and no more: a host of a big network pings with a few
    /// hundred bytes of buffer rather than the 25 KB that room for full
    /// frames would take (10,000 hosts: 250 MB to fault in).
    pub fn add_icmp(&mut self, ident: u16, size: usize) -> SocketHandle {
        let bytes = ICMP_SLOTS * (size + ICMP_HEADER);
        let buf = || {
            icmp::PacketBuffer::new(
                vec![icmp::PacketMetadata::EMPTY; ICMP_SLOTS],
                vec![0; bytes],
            )
        };
        let mut s = icmp::Socket::new(buf(), buf());
        // Binding a fresh socket to a non-zero identifier cannot fail.
        let _ = s.bind(icmp::Endpoint::Ident(ident));
        self.sockets.add(s)
    }

    /// Adds a UDP socket bound to `port`.
    pub fn add_udp(&mut self, port: u16) -> SocketHandle {
        let buf =
            || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 64 * 1500]);
        let mut s = udp::Socket::new(buf(), buf());
        let _ = s.bind(port);
        self.sockets.add(s)
    }

    /// Adds a TCP socket with 64 KiB buffers.
    pub fn add_tcp(&mut self) -> SocketHandle {
        let s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65535]),
            tcp::SocketBuffer::new(vec![0; 65535]),
        );
        self.sockets.add(s)
    }

    /// Queues an ICMP echo request; false if the socket's buffer is full.
    pub fn send_echo(
        &mut self,
        handle: SocketHandle,
        ident: u16,
        seq: u16,
        size: usize,
        to: Ipv4Addr,
    ) -> bool {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let repr = Icmpv4Repr::EchoRequest {
            ident,
            seq_no: seq,
            data: &data,
        };
        let s = self.sockets.get_mut::<icmp::Socket>(handle);
        match s.send(repr.buffer_len(), IpAddress::Ipv4(to)) {
            Ok(buf) => {
                repr.emit(
                    &mut Icmpv4Packet::new_unchecked(buf),
                    &ChecksumCapabilities::default(),
                );
                true
            }
            Err(_) => false,
        }
    }

    /// Sequence numbers of echo replies received on `handle` since the last call.
    pub fn take_echo_replies(&mut self, handle: SocketHandle, ident: u16) -> Vec<u16> {
        let s = self.sockets.get_mut::<icmp::Socket>(handle);
        let mut seqs = Vec::new();
        while let Ok((bytes, _)) = s.recv() {
            let Ok(packet) = Icmpv4Packet::new_checked(bytes) else {
                continue;
            };
            if let Ok(Icmpv4Repr::EchoReply {
                ident: i, seq_no, ..
            }) = Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default())
            {
                if i == ident {
                    seqs.push(seq_no);
                }
            }
        }
        seqs
    }
}
