//! Multicast snooping against a plain model: random joins, leaves (IGMPv2
//! and IGMPv3), queries from competing queriers, data, malformed messages,
//! ports going down and time passing, on a switch with random per-port
//! router modes and fast leave, a small group table and either unregistered
//! policy. After every frame the ports it reached must be the ones the
//! model's rules (docs/forwarding.md, "Multicast snooping") give, and at the
//! end the table must hold exactly the model's groups and members.

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use vswitch_core::igmp::{build, igmp_query};
use vswitch_core::{
    DropReason, Instant, MacAddr, McastConfig, McastPortConfig, PortConfig, PortId, RouterMode,
    Switch, SwitchConfig, Unregistered, Verdict,
};

const PORTS: u16 = 4;
const MAX_GROUPS: usize = 3;
const MEMBERSHIP: u64 = 260_000;
const OTHER_QUERIER: u64 = 255_000;
const LAST_MEMBER: u64 = 2_000;

#[derive(Clone, Debug)]
enum Op {
    /// Port, group index, IGMPv3 rather than v2.
    Join(u16, u8, bool),
    Leave(u16, u8, bool),
    /// Port, querier address's last byte (0: 0.0.0.0).
    Query(u16, u8),
    Data(u16, u8),
    /// A report with a broken checksum.
    Bad(u16),
    Down(u16),
    Up(u16),
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let port = 0..PORTS;
    let group = 0u8..5;
    prop_oneof![
        4 => (port.clone(), group.clone(), any::<bool>()).prop_map(|(p, g, v3)| Op::Join(p, g, v3)),
        2 => (port.clone(), group.clone(), any::<bool>()).prop_map(|(p, g, v3)| Op::Leave(p, g, v3)),
        1 => (port.clone(), 0u8..4).prop_map(|(p, a)| Op::Query(p, a)),
        4 => (port.clone(), group).prop_map(|(p, g)| Op::Data(p, g)),
        1 => port.clone().prop_map(Op::Bad),
        1 => port.clone().prop_map(Op::Down),
        1 => port.prop_map(Op::Up),
        2 => prop_oneof![Just(1_000u64), Just(1_999), Just(2_000), Just(100_000), Just(255_000), Just(260_000)]
            .prop_map(Op::Wait),
    ]
}

fn group(g: u8) -> Ipv4Addr {
    // 224.0.0.251 (mDNS, link-local) is one of them: it always floods.
    if g == 4 {
        Ipv4Addr::new(224, 0, 0, 251)
    } else {
        Ipv4Addr::new(239, 1, 0, g)
    }
}

fn host(port: u16) -> (MacAddr, Ipv4Addr) {
    (
        MacAddr([2, 0, 0, 0, 0, port as u8 + 1]),
        Ipv4Addr::new(10, 0, 0, port as u8 + 1),
    )
}

/// The snooping rules, plainly.
#[derive(Default, Debug)]
struct Model {
    now: u64,
    up: [bool; PORTS as usize],
    router: [RouterMode; PORTS as usize],
    fast_leave: [bool; PORTS as usize],
    router_only: bool,
    /// group -> port -> expiry (ms); kept until a sweep, as the table does.
    groups: BTreeMap<u8, BTreeMap<u16, u64>>,
    learned_routers: BTreeMap<u16, u64>,
    querier: Option<(u8, u64)>,
}

impl Model {
    fn is_router(&self, p: u16) -> bool {
        match self.router[p as usize] {
            RouterMode::Always => true,
            RouterMode::Never => false,
            RouterMode::Auto => self.learned_routers.get(&p).is_some_and(|&t| t > self.now),
        }
    }

    fn routers_but(&self, ingress: u16) -> Vec<u16> {
        (0..PORTS)
            .filter(|&p| p != ingress && self.up[p as usize] && self.is_router(p))
            .collect()
    }

    fn all_but(&self, ingress: u16) -> Vec<u16> {
        (0..PORTS)
            .filter(|&p| p != ingress && self.up[p as usize])
            .collect()
    }

    fn other_querier(&self) -> Option<u8> {
        self.querier.filter(|&(_, t)| t > self.now).map(|(a, _)| a)
    }

    fn join(&mut self, p: u16, g: u8) {
        if g == 4 {
            return;
        }
        if !self.groups.contains_key(&g) && self.groups.len() >= MAX_GROUPS {
            return;
        }
        self.groups
            .entry(g)
            .or_default()
            .insert(p, self.now + MEMBERSHIP);
    }

    fn leave(&mut self, p: u16, g: u8) {
        let Some(members) = self.groups.get_mut(&g) else {
            return;
        };
        if self.fast_leave[p as usize] {
            members.remove(&p);
            if members.is_empty() {
                self.groups.remove(&g);
            }
        } else if self.querier.is_none_or(|(_, t)| t <= self.now) {
            if let Some(t) = members.get_mut(&p) {
                *t = (*t).min(self.now + LAST_MEMBER);
            }
        }
    }

    fn query(&mut self, p: u16, a: u8) {
        let elected = match self.other_querier() {
            None | Some(0) => true,
            Some(c) => a <= c && a != 0,
        };
        if elected {
            self.querier = Some((a, self.now + OTHER_QUERIER));
            if self.router[p as usize] == RouterMode::Auto {
                self.learned_routers.insert(p, self.now + OTHER_QUERIER);
            }
        }
    }

    fn data(&self, p: u16, g: u8) -> Vec<u16> {
        let live: Vec<u16> = match self.groups.get(&g) {
            Some(m) if g != 4 => m
                .iter()
                .filter(|(_, &t)| t > self.now)
                .map(|(&q, _)| q)
                .collect(),
            _ => Vec::new(),
        };
        if live.is_empty() {
            return if self.router_only && g != 4 {
                self.routers_but(p)
            } else {
                self.all_but(p)
            };
        }
        self.all_but(p)
            .into_iter()
            .filter(|q| live.contains(q) || self.is_router(*q))
            .collect()
    }

    fn down(&mut self, p: u16) {
        if !std::mem::replace(&mut self.up[p as usize], false) {
            return;
        }
        for m in self.groups.values_mut() {
            m.remove(&p);
        }
        self.groups.retain(|_, m| !m.is_empty());
        self.learned_routers.remove(&p);
    }

    fn sweep(&mut self) {
        let now = self.now;
        for m in self.groups.values_mut() {
            m.retain(|_, t| *t > now);
        }
        self.groups.retain(|_, m| !m.is_empty());
        self.learned_routers.retain(|_, t| *t > now);
    }
}

fn sent(sw: &mut Switch, now: u64, port: u16, frame: &[u8]) -> (Verdict, Vec<u16>) {
    let mut out = Vec::new();
    let d = sw.forward_one(Instant::from_millis(now), PortId(port), frame, |e| {
        out.push(e.port.0);
        Ok(())
    });
    (d.verdict, out)
}

fn run(
    ops: Vec<Op>,
    router: [RouterMode; PORTS as usize],
    fast_leave: [bool; PORTS as usize],
    router_only: bool,
) -> Result<(), TestCaseError> {
    let config = SwitchConfig {
        mcast: McastConfig {
            snooping: true,
            max_groups: MAX_GROUPS as u32,
            unregistered: if router_only {
                Unregistered::RouterPorts
            } else {
                Unregistered::Flood
            },
            ..McastConfig::default()
        },
        ..SwitchConfig::default()
    };
    let mut sw = Switch::new(config).unwrap();
    for p in 0..PORTS as usize {
        sw.add_port(PortConfig {
            mcast: McastPortConfig {
                router: router[p],
                fast_leave: fast_leave[p],
            },
            ..PortConfig::default()
        })
        .unwrap();
    }
    let mut m = Model {
        up: [true; PORTS as usize],
        router,
        fast_leave,
        router_only,
        ..Model::default()
    };
    let mut query = Vec::new();
    for op in ops {
        let now = m.now;
        match op {
            Op::Join(p, g, v3) | Op::Leave(p, g, v3) => {
                let leave = matches!(op, Op::Leave(..));
                let (mac, ip) = host(p);
                let frame = match (v3, leave) {
                    (false, _) => build::igmp_v2(mac, ip, group(g), leave),
                    (true, false) => build::igmp_v3(mac, ip, group(g), 4, &[]),
                    (true, true) => build::igmp_v3(mac, ip, group(g), 3, &[]),
                };
                let want = if m.up[p as usize] {
                    m.routers_but(p)
                } else {
                    Vec::new()
                };
                let (_, got) = sent(&mut sw, now, p, &frame);
                prop_assert_eq!(got, want, "{:?} goes to router ports only", op);
                if m.up[p as usize] {
                    if leave {
                        m.leave(p, g);
                    } else {
                        m.join(p, g);
                    }
                }
            }
            Op::Query(p, a) => {
                let (mac, _) = host(p);
                igmp_query(
                    mac,
                    Ipv4Addr::new(10, 0, 0, a).min_if_zero(),
                    None,
                    10_000,
                    &mut query,
                );
                let want = if m.up[p as usize] {
                    m.all_but(p)
                } else {
                    Vec::new()
                };
                let (_, got) = sent(&mut sw, now, p, &query);
                prop_assert_eq!(got, want, "a query floods");
                if m.up[p as usize] {
                    m.query(p, a);
                }
            }
            Op::Data(p, g) => {
                let (mac, ip) = host(p);
                let frame = build::data_v4(mac, ip, group(g), 40);
                let want = if m.up[p as usize] {
                    m.data(p, g)
                } else {
                    Vec::new()
                };
                let (_, got) = sent(&mut sw, now, p, &frame);
                prop_assert_eq!(got, want, "data to group {} from port {}: {:?}", g, p, &m);
            }
            Op::Bad(p) => {
                let (mac, ip) = host(p);
                let mut frame = build::igmp_v2(mac, ip, group(0), false);
                frame[14 + 20 + 2] ^= 0xff;
                let (verdict, got) = sent(&mut sw, now, p, &frame);
                prop_assert!(got.is_empty());
                if m.up[p as usize] {
                    prop_assert_eq!(verdict, Verdict::Drop(DropReason::BadIgmp));
                }
            }
            Op::Down(p) => {
                sw.set_port_up(PortId(p), false).unwrap();
                m.down(p);
            }
            Op::Up(p) => {
                sw.set_port_up(PortId(p), true).unwrap();
                m.up[p as usize] = true;
            }
            Op::Wait(ms) => {
                m.now += ms;
                sw.advance(Instant::from_millis(m.now));
                m.sweep();
            }
        }
    }
    sw.advance(Instant::from_millis(m.now));
    m.sweep();
    let got: BTreeMap<IpAddr, Vec<u16>> = sw
        .mdb()
        .groups()
        .map(|g| (g.group, g.members.iter().map(|x| x.port.0).collect()))
        .collect();
    let want: BTreeMap<IpAddr, Vec<u16>> = m
        .groups
        .iter()
        .map(|(&g, ports)| (IpAddr::V4(group(g)), ports.keys().copied().collect()))
        .collect();
    let mut got_sorted = got;
    for v in got_sorted.values_mut() {
        v.sort_unstable();
    }
    prop_assert_eq!(got_sorted, want);
    Ok(())
}

trait MinIfZero {
    fn min_if_zero(self) -> Self;
}

impl MinIfZero for Ipv4Addr {
    /// 10.0.0.0 stands for a querier without an address: 0.0.0.0.
    fn min_if_zero(self) -> Ipv4Addr {
        if self.octets()[3] == 0 {
            Ipv4Addr::UNSPECIFIED
        } else {
            self
        }
    }
}

fn router_mode() -> impl Strategy<Value = RouterMode> {
    prop_oneof![
        4 => Just(RouterMode::Auto),
        1 => Just(RouterMode::Always),
        1 => Just(RouterMode::Never),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn snooping_follows_the_model(
        ops in prop::collection::vec(op(), 1..80),
        router in [router_mode(), router_mode(), router_mode(), router_mode()],
        fast_leave in [any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()],
        router_only in any::<bool>(),
    ) {
        run(ops, router, fast_leave, router_only)?;
    }
}

/// Snooping off (the default): multicast floods as it always did, and the
/// membership messages teach nothing.
#[test]
fn off_by_default_floods() {
    let mut sw = Switch::new(SwitchConfig::default()).unwrap();
    for _ in 0..3 {
        sw.add_port(PortConfig::default()).unwrap();
    }
    let (mac, ip) = host(1);
    sent(&mut sw, 0, 1, &build::igmp_v2(mac, ip, group(0), false));
    let (mac, ip) = host(0);
    let (_, got) = sent(&mut sw, 0, 0, &build::data_v4(mac, ip, group(0), 40));
    assert_eq!(got, [1, 2]);
    assert!(sw.mdb().is_empty());
}
