//! The hosts' applications: scheduled pings, UDP flows and TCP transfers, on
//! smoltcp sockets. Their state lives beside the simulation; they read and write
//! their sockets whenever their host is polled.

use super::{gap_for, Action, SimError, SimHost, Simulation};
use crate::scenario::Scenario;
use crate::traffic::rng_for;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::IpAddress;
use std::net::Ipv4Addr;

/// The applications of one host, by index, in scenario order: polling a host
/// looks at its own applications only, whatever the size of the network.
#[derive(Default)]
pub(super) struct HostApps {
    /// Pings it sends.
    pings: Vec<u32>,
    /// UDP flows it receives.
    udp_rx: Vec<u32>,
    /// TCP transfers it is an end of.
    tcp: Vec<u32>,
}

pub(super) struct PingApp {
    pub(super) from: u32,
    pub(super) to: Ipv4Addr,
    pub(super) to_name: String,
    pub(super) ident: u16,
    pub(super) handle: SocketHandle,
    pub(super) count: u32,
    pub(super) interval: u64,
    pub(super) size: usize,
    pub(super) sent_at: Vec<u64>,
    pub(super) rtt: Vec<Option<u64>>,
}

pub(super) struct UdpApp {
    pub(super) from: u32,
    /// The receiving host; [`GROUP`] for a stream to a multicast group.
    pub(super) to: u32,
    pub(super) to_ip: Ipv4Addr,
    pub(super) port: u16,
    pub(super) tx: SocketHandle,
    /// The receiver's socket (none for a group: each host counts the
    /// datagrams that reach it).
    pub(super) rx: Option<SocketHandle>,
    pub(super) rng: ChaCha8Rng,
    pub(super) gap_ns: f64,
    pub(super) remaining: u64,
    pub(super) sizes: (usize, usize),
    pub(super) sent: u64,
    pub(super) received: u64,
    pub(super) received_bytes: u64,
}

pub(super) struct TcpApp {
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) to_ip: Ipv4Addr,
    pub(super) port: u16,
    pub(super) client: SocketHandle,
    pub(super) server: SocketHandle,
    pub(super) total: u64,
    pub(super) sent: u64,
    pub(super) received: u64,
    pub(super) started_at: u64,
    pub(super) done_at: Option<u64>,
    pub(super) closed: bool,
}

/// [`UdpApp::to`] of a stream to a multicast group.
pub(super) const GROUP: u32 = u32::MAX;

/// The ICMP identifier of the first ping.
const FIRST_IDENT: u16 = 0x1000;

/// ICMP type of an echo request.
pub(super) const ECHO_REQUEST: u8 = 8;
/// ICMP type of an echo reply.
pub(super) const ECHO_REPLY: u8 = 0;

/// The ICMP type of the echo request or reply (or other ICMP message) in an
/// IPv4 frame without options, and its destination address.
pub(super) fn echo(frame: &[u8]) -> Option<(u8, [u8; 4])> {
    const IP: usize = 14;
    let is_icmp = frame.len() >= IP + 28
        && frame[12..14] == [0x08, 0x00]
        && frame[IP] == 0x45
        && frame[IP + 9] == 1;
    if !is_icmp {
        return None;
    }
    let dst = [
        frame[IP + 16],
        frame[IP + 17],
        frame[IP + 18],
        frame[IP + 19],
    ];
    Some((frame[IP + 20], dst))
}

impl Simulation {
    pub(super) fn add_apps(&mut self, s: &Scenario) -> Result<(), SimError> {
        for p in &s.pings {
            let pairs = s.ping_pairs(p);
            let n_pairs = pairs.len().max(1) as u64;
            for (k, (from, to)) in pairs.into_iter().enumerate() {
                let (to_ip, to_name) = match p.to.parse::<Ipv4Addr>() {
                    Ok(ip) => (ip, p.to.clone()),
                    Err(_) => (
                        s.host_ip(to).map_err(SimError::Config)?.0,
                        s.hosts[to].name.clone(),
                    ),
                };
                let n = self.pings.len() as u32;
                let ident = FIRST_IDENT.wrapping_add(n as u16);
                let handle = self.hosts[from].host.add_icmp(ident, p.size);
                self.hosts[from].apps.pings.push(n);
                self.pings.push(PingApp {
                    from: from as u32,
                    to: to_ip,
                    to_name,
                    ident,
                    handle,
                    count: p.count,
                    interval: p.interval.0.max(1),
                    size: p.size,
                    sent_at: Vec::new(),
                    rtt: Vec::new(),
                });
                if p.count > 0 {
                    let offset = (u128::from(p.spread.0) * k as u128 / u128::from(n_pairs)) as u64;
                    self.clock.at(p.at.0 + offset, Action::Ping(n));
                }
            }
        }
        for (i, u) in s.udp.iter().enumerate() {
            let from = s.host_index(&u.from).unwrap_or(0);
            let port = 5000 + i as u16;
            let tx = self.hosts[from].host.add_udp(port);
            let (to, to_ip, rx) = match u.to.parse::<Ipv4Addr>() {
                Ok(group) => (GROUP, group, None),
                Err(_) => {
                    let to = s.host_index(&u.to).unwrap_or(0);
                    let rx = self.hosts[to].host.add_udp(port);
                    self.hosts[to].apps.udp_rx.push(i as u32);
                    let ip = s.host_ip(to).map_err(SimError::Config)?.0;
                    (to as u32, ip, Some(rx))
                }
            };
            self.udp.push(UdpApp {
                from: from as u32,
                to,
                to_ip,
                port,
                tx,
                rx,
                rng: rng_for(s.seed, 2000 + i as u64),
                gap_ns: gap_for(u.rate),
                remaining: u.count,
                sizes: (u.min_size, u.max_size),
                sent: 0,
                received: 0,
                received_bytes: 0,
            });
            if u.count > 0 {
                self.clock.at(u.at.0, Action::Udp(i as u32));
            }
        }
        for (i, t) in s.tcp.iter().enumerate() {
            let (from, to) = (
                s.host_index(&t.from).unwrap_or(0),
                s.host_index(&t.to).unwrap_or(0),
            );
            let port = 6000 + i as u16;
            let client = self.hosts[from].host.add_tcp();
            let server = self.hosts[to].host.add_tcp();
            self.hosts[from].apps.tcp.push(i as u32);
            if to != from {
                self.hosts[to].apps.tcp.push(i as u32);
            }
            let socket = self.hosts[to].host.sockets.get_mut::<tcp::Socket>(server);
            socket
                .listen(port)
                .map_err(|e| SimError::Config(format!("tcp to {:?}: {e}", t.to)))?;
            self.tcp.push(TcpApp {
                from: from as u32,
                to: to as u32,
                to_ip: s.host_ip(to).map_err(SimError::Config)?.0,
                port,
                client,
                server,
                total: t.bytes,
                sent: 0,
                received: 0,
                started_at: t.at.0,
                done_at: None,
                closed: false,
            });
            self.clock.at(t.at.0, Action::TcpConnect(i as u32));
        }
        Ok(())
    }

    /// Pings measure round trips from the moment the echo request leaves the
    /// host's interface, as a capture would, so the first request's wait for ARP
    /// (smoltcp sends at most one ARP request per second) is not counted.
    pub(super) fn stamp_echo_request(&mut self, h: usize, frame: &[u8]) {
        const IP: usize = 14;
        if echo(frame).is_none_or(|(kind, _)| kind != ECHO_REQUEST) {
            return;
        }
        let ident = u16::from_be_bytes([frame[IP + 24], frame[IP + 25]]);
        let seq = usize::from(u16::from_be_bytes([frame[IP + 26], frame[IP + 27]]));
        let now = self.clock.now;
        // Ping n has identifier 0x1000 + n (modulo 2^16): look there first.
        let pings = &mut self.pings;
        let is_it = |n: usize| pings[n].from as usize == h && pings[n].ident == ident;
        let guess = usize::from(ident.wrapping_sub(FIRST_IDENT));
        let n = if guess < pings.len() && is_it(guess) {
            Some(guess)
        } else {
            let mine = &self.hosts[h].apps.pings;
            mine.iter().map(|&n| n as usize).find(|&n| is_it(n))
        };
        if let Some(p) = n.map(|n| &mut pings[n]) {
            if seq < p.sent_at.len() && p.rtt[seq].is_none() {
                p.sent_at[seq] = now;
            }
        }
    }

    /// Lets host `h`'s applications read and write their sockets; true if any did.
    pub(super) fn service_apps(&mut self, h: usize) -> bool {
        let now = self.clock.now;
        let mut busy = false;
        let SimHost { host, apps, .. } = &mut self.hosts[h];
        for &n in &apps.pings {
            let p = &mut self.pings[n as usize];
            for seq in host.take_echo_replies(p.handle, p.ident) {
                let i = usize::from(seq);
                if i < p.sent_at.len() && p.rtt[i].is_none() {
                    p.rtt[i] = Some(now - p.sent_at[i]);
                }
            }
        }
        for &n in &apps.udp_rx {
            let u = &mut self.udp[n as usize];
            let Some(rx) = u.rx else { continue };
            let s = host.sockets.get_mut::<udp::Socket>(rx);
            while let Ok((data, _)) = s.recv() {
                u.received += 1;
                u.received_bytes += data.len() as u64;
            }
        }
        for &n in &apps.tcp {
            let t = &mut self.tcp[n as usize];
            if t.from as usize == h {
                let s = host.sockets.get_mut::<tcp::Socket>(t.client);
                while t.sent < t.total && s.can_send() {
                    let chunk = [0x5au8; 4096];
                    let n = (t.total - t.sent).min(chunk.len() as u64) as usize;
                    match s.send_slice(&chunk[..n]) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            t.sent += k as u64;
                            busy = true;
                        }
                    }
                }
                if t.sent == t.total && !t.closed && s.may_send() {
                    s.close();
                    t.closed = true;
                    busy = true;
                }
            }
            if t.to as usize == h {
                let s = host.sockets.get_mut::<tcp::Socket>(t.server);
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.recv_slice(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    t.received += n as u64;
                    busy = true;
                }
                if t.received >= t.total && t.done_at.is_none() && t.total > 0 {
                    t.done_at = Some(now);
                }
                if s.state() == tcp::State::CloseWait {
                    s.close();
                    busy = true;
                }
            }
        }
        busy
    }

    pub(super) fn ping(&mut self, n: usize) {
        let now = self.clock.now;
        let p = &mut self.pings[n];
        let seq = p.sent_at.len() as u16;
        let h = p.from as usize;
        if self.hosts[h]
            .host
            .send_echo(p.handle, p.ident, seq, p.size, p.to)
        {
            p.sent_at.push(now);
            p.rtt.push(None);
        } else {
            self.hosts[h].dropped.socket_buffer += 1;
        }
        if (seq as u32 + 1) < p.count {
            let at = now.saturating_add(p.interval);
            self.clock.at(at, Action::Ping(n as u32));
        }
        self.poll_host(h);
    }

    pub(super) fn udp_send(&mut self, n: usize) {
        let now = self.clock.now;
        let u = &mut self.udp[n];
        let size = u.rng.random_range(u.sizes.0..=u.sizes.1);
        let payload = vec![0xa5u8; size];
        let s = self.hosts[u.from as usize]
            .host
            .sockets
            .get_mut::<udp::Socket>(u.tx);
        if s.send_slice(&payload, (IpAddress::Ipv4(u.to_ip), u.port))
            .is_ok()
        {
            u.sent += 1;
        } else {
            self.hosts[u.from as usize].dropped.socket_buffer += 1;
        }
        u.remaining -= 1;
        if u.remaining > 0 {
            let x: f64 = u.rng.random();
            let gap = (-(1.0 - x).ln() * u.gap_ns).round() as u64;
            self.clock
                .at(now.saturating_add(gap.max(1)), Action::Udp(n as u32));
        }
        let h = u.from as usize;
        self.poll_host(h);
    }

    pub(super) fn tcp_connect(&mut self, n: usize) {
        let t = &self.tcp[n];
        let (h, handle, to, port) = (t.from as usize, t.client, t.to_ip, t.port);
        let local = 49152 + n as u16;
        let host = &mut self.hosts[h].host;
        let s = host.sockets.get_mut::<tcp::Socket>(handle);
        // Connecting a fresh socket to a host address cannot fail.
        let _ = s.connect(host.iface.context(), (IpAddress::Ipv4(to), port), local);
        self.poll_host(h);
    }
}
