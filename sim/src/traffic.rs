//! Synthetic traffic generators, driven by a seeded RNG: a MAC-flooding attacker
//! (random source and destination MACs), broadcast floods, and unicast UDP
//! streams between endpoints. Generators are also sinks: they count what arrives.

use crate::scenario::GeneratorKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::Ipv4Addr;
use vswitch_core::MacAddr;

/// Size of Ethernet + IPv4 + UDP headers.
const UDP_HEADERS: usize = 14 + 20 + 8;

/// An RNG for the `stream`-th user of randomness in a scenario with `seed`, so
/// that adding a generator does not change what the others draw.
pub fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// One generator's state.
#[derive(Debug)]
pub struct Generator {
    /// Name.
    pub name: String,
    /// What it sends.
    pub kind: GeneratorKind,
    /// Its MAC.
    pub mac: MacAddr,
    /// Its IPv4 address (source of its UDP frames).
    pub ip: Ipv4Addr,
    /// Destinations of the unicast kind, used in turn.
    pub targets: Vec<(MacAddr, Ipv4Addr)>,
    /// Mean gap between frames, ns.
    pub gap_ns: f64,
    /// Exponential gaps instead of fixed ones.
    pub poisson: bool,
    /// Frames still to send, `None` = no limit.
    pub remaining: Option<u64>,
    /// Frame size.
    pub size: usize,
    /// Its random numbers.
    pub rng: ChaCha8Rng,
    /// Frames sent.
    pub sent: u64,
    /// Frames received.
    pub received: u64,
    /// Virtual time of the first frame.
    pub start_ns: u64,
    /// Size of the churn kind's MAC pool.
    pub pool_size: u16,
}

/// MAC number `i` of the churn generators' shared pool: `02:c4:00:00:hh:ll`.
pub fn churn_mac(i: u16) -> MacAddr {
    let [hi, lo] = i.to_be_bytes();
    MacAddr([0x02, 0xc4, 0, 0, hi, lo])
}

impl Generator {
    /// Writes the next frame into `frame` (cleared first).
    pub fn next_frame(&mut self, frame: &mut Vec<u8>) {
        frame.clear();
        let (src, dst, dst_ip) = match self.kind {
            GeneratorKind::MacFlood => {
                let mut s: [u8; 6] = self.rng.random();
                let mut d: [u8; 6] = self.rng.random();
                // Locally administered unicast, as macof's random MACs mostly are.
                s[0] = (s[0] & 0xfc) | 0x02;
                d[0] = (d[0] & 0xfc) | 0x02;
                (
                    MacAddr(s),
                    MacAddr(d),
                    Ipv4Addr::from(self.rng.random::<u32>()),
                )
            }
            GeneratorKind::Broadcast => (self.mac, MacAddr::BROADCAST, Ipv4Addr::BROADCAST),
            GeneratorKind::Churn => {
                // Broadcast, so that every switch sees the MAC's new place at once.
                let n = self.pool_size.max(1);
                let src = churn_mac(self.rng.random_range(0..n));
                (src, MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
            }
            GeneratorKind::Unicast => {
                let (mac, ip) = self.targets[(self.sent % self.targets.len() as u64) as usize];
                (self.mac, mac, ip)
            }
        };
        udp_frame(frame, src, dst, self.ip, dst_ip, self.size, self.sent);
        self.sent += 1;
    }

    /// The gap before the frame after this one, ns (at least 1).
    pub fn next_gap(&mut self) -> u64 {
        let gap = if self.poisson {
            let u: f64 = self.rng.random();
            -(1.0 - u).ln() * self.gap_ns
        } else {
            self.gap_ns
        };
        (gap.round() as u64).max(1)
    }
}

/// Builds a `size`-byte frame: UDP/IPv4 when it fits, otherwise an Ethernet
/// header with the local experimental ethertype 0x88B5 and zero padding.
pub fn udp_frame(
    frame: &mut Vec<u8>,
    src: MacAddr,
    dst: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    size: usize,
    seq: u64,
) {
    frame.extend_from_slice(&dst.0);
    frame.extend_from_slice(&src.0);
    if size < UDP_HEADERS + 8 {
        frame.extend_from_slice(&0x88b5u16.to_be_bytes());
        frame.resize(size.max(14), 0);
        return;
    }
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (size - 14) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src_ip.octets());
    ip[16..20].copy_from_slice(&dst_ip.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    frame.extend_from_slice(&ip);
    let udp_len = ip_len - 20;
    frame.extend_from_slice(&9u16.to_be_bytes()); // discard
    frame.extend_from_slice(&9u16.to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    frame.extend_from_slice(&[0, 0]); // no UDP checksum (allowed on IPv4)
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.resize(size, 0);
}

/// The Internet checksum (RFC 1071) of `bytes`: over a whole valid header, 0.
pub(crate) fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn udp_frame_is_valid() {
        let mut f = Vec::new();
        let a = MacAddr([2, 0, 0, 0, 0, 1]);
        let b = MacAddr([2, 0, 0, 0, 0, 2]);
        udp_frame(
            &mut f,
            a,
            b,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            64,
            7,
        );
        assert_eq!(f.len(), 64);
        let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        assert_eq!(ip.header().destination(), [10, 0, 0, 2]);
        assert_eq!(checksum(ip.header().slice()), 0);
        let mut short = Vec::new();
        udp_frame(
            &mut short,
            a,
            b,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            20,
            0,
        );
        assert_eq!(short.len(), 20);
    }
}
