//! Spanning tree convergence: random networks of 2–8 core bridges joined by
//! in-memory point-to-point links (rings, parallel links, links looping back
//! to the same bridge) run the protocol with virtual time, and the result is
//! compared with an independent shortest-path computation of the root bridge
//! and of every port's role.

use std::collections::{BTreeSet, VecDeque};

use proptest::prelude::*;
use vswitch_core::stp::bpdu::BridgeId;
use vswitch_core::stp::{Role, State, Stp, StpConfig, StpMode, StpPortConfig};
use vswitch_core::{Instant, MacAddr, PortId};

/// One end of a link: (bridge, port).
type End = (usize, u16);

/// A link end as generated: (bridge, path cost, port priority).
type LinkEnd = (usize, u32, u8);

#[derive(Clone, Debug)]
struct Topology {
    /// Bridge priorities (multiples of 4096).
    priorities: Vec<u16>,
    /// Links, each with the cost and priority of both ends:
    /// ((bridge a, cost a, prio a), (bridge b, cost b, prio b)).
    links: Vec<(LinkEnd, LinkEnd)>,
}

struct Net {
    bridges: Vec<Stp>,
    /// Per bridge, per port: the other end.
    peer: Vec<Vec<End>>,
    /// Per bridge, per port: (cost, port id).
    ports: Vec<Vec<(u32, u16)>>,
    /// Links cut (both ends disabled).
    down: BTreeSet<(End, End)>,
    queue: VecDeque<(End, Vec<u8>)>,
    now: u64,
    /// Per bridge: an 802.1D-1998 bridge such as the Linux kernel's, which
    /// drops RST BPDUs unread (the STP-mode bridges of `mixed`).
    legacy: Vec<bool>,
}

fn mac(b: usize) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, b as u8 + 1])
}

fn port_mac(b: usize, p: u16) -> MacAddr {
    MacAddr([2, 0, 0, 1, b as u8 + 1, p as u8])
}

impl Net {
    fn new(t: &Topology, mode: StpMode) -> Net {
        Net::mixed(t, &vec![mode; t.priorities.len()])
    }

    /// Each bridge speaking its own protocol.
    fn mixed(t: &Topology, modes: &[StpMode]) -> Net {
        let n = t.priorities.len();
        let mut bridges: Vec<Stp> = t
            .priorities
            .iter()
            .enumerate()
            .map(|(b, &priority)| {
                Stp::new(
                    StpConfig {
                        mode: modes[b],
                        priority,
                        ..StpConfig::default()
                    },
                    mac(b),
                )
            })
            .collect();
        let mut peer = vec![Vec::new(); n];
        let mut ports = vec![Vec::new(); n];
        for &((a, ca, pa), (b, cb, pb)) in &t.links {
            let ia = peer[a].len() as u16;
            peer[a].push((usize::MAX, 0));
            ports[a].push((ca, u16::from(pa) << 8 | (ia + 1)));
            let ib = peer[b].len() as u16;
            peer[b].push((usize::MAX, 0));
            ports[b].push((cb, u16::from(pb) << 8 | (ib + 1)));
            peer[a][usize::from(ia)] = (b, ib);
            peer[b][usize::from(ib)] = (a, ia);
            for (x, i, c, p) in [(a, ia, ca, pa), (b, ib, cb, pb)] {
                bridges[x].add_port(
                    Instant::ZERO,
                    PortId(i),
                    port_mac(x, i),
                    StpPortConfig {
                        priority: p,
                        path_cost: c,
                        ..StpPortConfig::default()
                    },
                );
            }
        }
        Net {
            bridges,
            peer,
            ports,
            down: BTreeSet::new(),
            queue: VecDeque::new(),
            now: 0,
            legacy: modes.iter().map(|m| *m == StpMode::Stp).collect(),
        }
    }

    /// Runs for `ms` of virtual time in steps of 10 ms; each BPDU is delivered
    /// in the step after it was sent.
    fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 10;
            let now = Instant::from_millis(self.now);
            let pending: Vec<_> = self.queue.drain(..).collect();
            for ((b, p), frame) in pending {
                // Version 2: an RST BPDU, which a legacy bridge never reads.
                if self.legacy[b] && frame.get(19) == Some(&2) {
                    continue;
                }
                self.bridges[b].receive(now, PortId(p), &frame);
            }
            for b in 0..self.bridges.len() {
                self.bridges[b].tick(now);
                let mut out = Vec::new();
                self.bridges[b].drain_transmit(|port, frame| out.push((port.0, frame.to_vec())));
                for (p, frame) in out {
                    let to = self.peer[b][usize::from(p)];
                    if !self.is_down((b, p), to) {
                        self.queue.push_back((to, frame));
                    }
                }
                self.bridges[b].drain_flushes(|_| {});
            }
        }
    }

    fn is_down(&self, a: End, b: End) -> bool {
        self.down.contains(&(a.min(b), a.max(b)))
    }

    fn cut(&mut self, a: End) {
        let b = self.peer[a.0][usize::from(a.1)];
        self.down.insert((a.min(b), a.max(b)));
        let now = Instant::from_millis(self.now);
        self.bridges[a.0].set_enabled(now, PortId(a.1), false);
        self.bridges[b.0].set_enabled(now, PortId(b.1), false);
    }

    fn roles(&self) -> Vec<Vec<Role>> {
        (0..self.bridges.len())
            .map(|b| {
                (0..self.peer[b].len())
                    .map(|p| self.bridges[b].role(PortId(p as u16)))
                    .collect()
            })
            .collect()
    }

    /// Checks that the links forwarding at both ends join all bridges into one
    /// tree.
    fn assert_tree(&self) {
        let edges = self.assert_no_loop();
        assert_eq!(
            edges,
            self.bridges.len() - 1,
            "the forwarding links do not span the bridges"
        );
    }

    /// Checks that the links forwarding at both ends close no loop; returns
    /// how many there are.
    fn assert_no_loop(&self) -> usize {
        let n = self.bridges.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(parent: &mut [usize], x: usize) -> usize {
            let mut x = x;
            while parent[x] != x {
                x = parent[x];
            }
            x
        }
        let mut edges = 0;
        for b in 0..n {
            for p in 0..self.peer[b].len() {
                let (c, q) = self.peer[b][p];
                if (c, q) < (b, p as u16) || self.is_down((b, p as u16), (c, q)) {
                    continue;
                }
                let here = self.bridges[b].state(PortId(p as u16));
                let there = self.bridges[c].state(PortId(q));
                // A frame crosses a link only if both ends forward.
                if here == State::Forwarding && there == State::Forwarding {
                    let (x, y) = (find(&mut parent, b), find(&mut parent, c));
                    assert_ne!(x, y, "link {b}.{p} - {c}.{q} closes a loop");
                    parent[x] = y;
                    edges += 1;
                }
            }
        }
        edges
    }
}

/// The independent computation: the root is the lowest bridge identifier; a
/// bridge's distance is the shortest sum of the receiving ports' costs; its
/// root port is the best (root, distance, neighbour id, neighbour port id,
/// own port id); on each link the end with the better (root, distance, bridge
/// id, port id) is designated, the other is root, alternate or (looped back to
/// the same bridge) backup.
fn expected(net: &Net, t: &Topology) -> (usize, Vec<Vec<Role>>) {
    let n = t.priorities.len();
    let id = |b: usize| BridgeId::new(t.priorities[b], mac(b));
    let root = (0..n).min_by_key(|&b| id(b)).unwrap();
    let mut dist = vec![u64::MAX; n];
    dist[root] = 0;
    for _ in 0..n {
        for b in 0..n {
            for (p, &(c, _)) in net.peer[b].iter().enumerate() {
                if dist[c] != u64::MAX {
                    let d = dist[c] + u64::from(net.ports[b][p].0);
                    dist[b] = dist[b].min(d);
                }
            }
        }
    }
    let pid = |b: usize, p: u16| net.ports[b][usize::from(p)].1;
    let mut root_port = vec![None; n];
    for (b, rp) in root_port.iter_mut().enumerate() {
        if b == root {
            continue;
        }
        *rp = (0..net.peer[b].len())
            .filter(|&p| net.peer[b][p].0 != b)
            .min_by_key(|&p| {
                let (c, q) = net.peer[b][p];
                (
                    dist[c] + u64::from(net.ports[b][p].0),
                    id(c),
                    pid(c, q),
                    pid(b, p as u16),
                )
            });
    }
    let mut roles: Vec<Vec<Role>> = net
        .peer
        .iter()
        .map(|v| vec![Role::Disabled; v.len()])
        .collect();
    for (b, rs) in roles.iter_mut().enumerate() {
        for (p, role) in rs.iter_mut().enumerate() {
            let (c, q) = net.peer[b][p];
            let mine = (dist[b], id(b), pid(b, p as u16));
            let theirs = (dist[c], id(c), pid(c, q));
            *role = if mine < theirs {
                Role::Designated
            } else if root_port[b] == Some(p) {
                Role::Root
            } else if c == b {
                Role::Backup
            } else {
                Role::Alternate
            };
        }
    }
    (root, roles)
}

fn check(net: &Net, t: &Topology) {
    let (root, roles) = expected(net, t);
    let root_id = BridgeId::new(t.priorities[root], mac(root));
    for (b, s) in net.bridges.iter().enumerate() {
        assert_eq!(s.root_id(), root_id, "bridge {b} has the wrong root");
    }
    assert_eq!(net.roles(), roles, "roles differ from the computation");
    for (b, rs) in roles.iter().enumerate() {
        for (p, r) in rs.iter().enumerate() {
            let forwards = matches!(r, Role::Root | Role::Designated);
            assert_eq!(
                net.bridges[b].state(PortId(p as u16)) == State::Forwarding,
                forwards,
                "bridge {b} port {p} ({r:?}) in the wrong state"
            );
        }
    }
    net.assert_tree();
}

fn topology() -> impl Strategy<Value = Topology> {
    (2usize..=8).prop_flat_map(|n| {
        let prio = prop::collection::vec((0u16..4).prop_map(|x| x * 4096 + 28672), n);
        // A random spanning tree keeps the network connected; extra links make
        // rings, parallel links and (rarely) a bridge's link to itself.
        let tree = prop::collection::vec(any::<prop::sample::Index>(), n - 1);
        let extra = prop::collection::vec((0..n, 0..n), 0..=n);
        let end = || (prop::sample::select(vec![1u32, 2, 4, 20_000]), 0u8..4);
        let ends = prop::collection::vec((end(), end()), 2 * n);
        (prio, tree, extra, ends).prop_map(move |(priorities, tree, extra, ends)| {
            let mut pairs: Vec<(usize, usize)> = tree
                .iter()
                .enumerate()
                .map(|(i, ix)| (i + 1, ix.index(i + 1)))
                .collect();
            pairs.extend(extra);
            let links = pairs
                .into_iter()
                .zip(ends)
                .map(|((a, b), ((ca, pa), (cb, pb)))| ((a, ca, pa * 64), (b, cb, pb * 64)))
                .collect();
            Topology { priorities, links }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// RSTP converges to exactly the computed roles, forwarding a tree.
    #[test]
    fn rstp_converges_to_the_computed_tree(t in topology()) {
        let mut net = Net::new(&t, StpMode::Rstp);
        net.run(40_000);
        check(&net, &t);
        // and stays there
        net.run(10_000);
        check(&net, &t);
    }

    /// A mix of RSTP bridges and legacy 802.1D bridges that drop RST BPDUs
    /// (as the Linux kernel does): the RSTP bridges' ports facing them fall
    /// back to STP, and the tree is the same.
    #[test]
    fn mixed_rstp_and_stp_bridges_converge_to_the_computed_tree(
        t in topology(),
        stp in prop::collection::vec(any::<bool>(), 8),
    ) {
        let modes: Vec<StpMode> = (0..t.priorities.len())
            .map(|b| if stp[b] { StpMode::Stp } else { StpMode::Rstp })
            .collect();
        let mut net = Net::mixed(&t, &modes);
        net.run(60_000);
        check(&net, &t);
        // Every RSTP port facing an STP bridge speaks STP.
        for b in 0..modes.len() {
            for (p, &(c, _)) in net.peer[b].iter().enumerate() {
                let status = net.bridges[b].status(PortId(p as u16)).unwrap();
                if modes[b] == StpMode::Rstp && modes[c] == StpMode::Stp {
                    prop_assert!(!status.rstp, "bridge {} port {} faces STP", b, p);
                }
            }
        }
    }

    /// Root guard on ports that are designated in the computed tree changes
    /// nothing; on any ports, a guarded port is never root port, the
    /// forwarding links close no loop, and a blocked port is an alternate.
    #[test]
    fn root_guard_never_makes_a_root_port(
        t in topology(),
        guard in prop::collection::vec(any::<bool>(), 32),
    ) {
        let mut net = Net::new(&t, StpMode::Rstp);
        let (_, roles) = expected(&net, &t);
        let mut bit = 0;
        for (b, ports) in roles.iter().enumerate() {
            for (p, role) in ports.iter().enumerate() {
                if *role == Role::Designated && guard[bit % 32] {
                    set_root_guard(&mut net, b, p);
                }
                bit += 1;
            }
        }
        net.run(40_000);
        check(&net, &t);
        for b in &net.bridges {
            prop_assert!(b.statuses().all(|s| !s.root_inconsistent));
        }

        let mut net = Net::new(&t, StpMode::Rstp);
        let mut guarded = Vec::new();
        let mut bit = 0;
        for b in 0..net.peer.len() {
            for p in 0..net.peer[b].len() {
                if guard[bit % 32] {
                    set_root_guard(&mut net, b, p);
                    guarded.push((b, p));
                }
                bit += 1;
            }
        }
        net.run(40_000);
        net.assert_no_loop();
        for &(b, p) in &guarded {
            let s = net.bridges[b].status(PortId(p as u16)).unwrap();
            prop_assert_ne!(s.role, Role::Root, "bridge {} port {}", b, p);
            if s.root_inconsistent {
                prop_assert_eq!((s.role, s.state), (Role::Alternate, State::Discarding));
            }
        }
    }

    /// So does 802.1D STP (force version 0), with its timers.
    #[test]
    fn stp_converges_to_the_computed_tree(t in topology()) {
        let mut net = Net::new(&t, StpMode::Stp);
        net.run(60_000);
        check(&net, &t);
    }
}

fn set_root_guard(net: &mut Net, b: usize, p: usize) {
    let (cost, id) = net.ports[b][p];
    net.bridges[b].set_port_config(
        Instant::ZERO,
        PortId(p as u16),
        StpPortConfig {
            priority: (id >> 8) as u8,
            path_cost: cost,
            root_guard: true,
            ..StpPortConfig::default()
        },
    );
}

/// A ring of four with default settings: bridge 0 (lowest address) is root,
/// the link opposite it is cut by one alternate port, and proposal/agreement
/// gets there in well under a second, not the 30 s of forward delays.
#[test]
fn a_ring_converges_in_under_a_second() {
    let l = |a, b| ((a, 20_000, 128), (b, 20_000, 128));
    let t = Topology {
        priorities: vec![32768; 4],
        links: vec![l(0, 1), l(1, 2), l(2, 3), l(3, 0)],
    };
    let mut net = Net::new(&t, StpMode::Rstp);
    net.run(1000);
    check(&net, &t);
    // Bridge 2 is two hops either way; it reaches 1 and 3 through its ports
    // 0 (to 1) and 1 (to 3): the tie goes to bridge 1's lower identifier.
    assert_eq!(net.bridges[2].root_port(), Some(PortId(0)));
    assert_eq!(net.bridges[2].role(PortId(1)), Role::Alternate);
}

/// Cutting the root port's link moves the tree onto the alternate port within a
/// second and re-converges to the computation for the remaining links.
#[test]
fn a_cut_link_fails_over_to_the_alternate() {
    let l = |a, b| ((a, 20_000, 128), (b, 20_000, 128));
    let t = Topology {
        priorities: vec![32768; 4],
        links: vec![l(0, 1), l(1, 2), l(2, 3), l(3, 0)],
    };
    let mut net = Net::new(&t, StpMode::Rstp);
    net.run(5000);
    check(&net, &t);
    net.cut((1, 0)); // bridge 1's root port, to the root
    net.run(1000);
    let remaining = Topology {
        priorities: t.priorities.clone(),
        links: vec![l(1, 2), l(2, 3), l(3, 0)],
    };
    let mut fresh = Net::new(&remaining, StpMode::Rstp);
    fresh.run(5000);
    // Same roles on the links that are left (port numbers shift by one on 0 and 1).
    assert_eq!(net.bridges[1].role(PortId(0)), Role::Disabled);
    assert_eq!(net.bridges[1].root_port(), Some(PortId(1)));
    assert_eq!(net.bridges[2].root_port(), Some(PortId(1)));
    assert_eq!(net.bridges[2].role(PortId(0)), Role::Designated);
    for b in 1..4 {
        assert_eq!(
            net.bridges[b].root_path_cost(),
            fresh.bridges[b].root_path_cost(),
            "bridge {b}"
        );
    }
    for (b, p) in [(1, 1), (2, 0), (2, 1), (3, 0), (3, 1)] {
        assert_eq!(
            net.bridges[b].state(PortId(p)),
            State::Forwarding,
            "{b}.{p}"
        );
    }
}

/// Three switches in a ring, each with a host port: a broadcast storms around
/// the ring for ever with spanning tree off, and reaches each other host
/// exactly once with it on, after the tree has formed.
#[test]
fn spanning_tree_stops_a_broadcast_storm_in_a_ring() {
    assert_eq!(
        broadcast_copies(false),
        None,
        "without spanning tree it loops"
    );
    assert_eq!(broadcast_copies(true), Some([0, 1, 1]));
}

/// Sends one broadcast from switch 0's host port and returns how many copies
/// each host received, or `None` if the frames had not died out after 10,000
/// deliveries.
fn broadcast_copies(stp_on: bool) -> Option<[u32; 3]> {
    use vswitch_core::{PortConfig, Switch, SwitchConfig};
    const HOST: u16 = 2;
    // Switch s port 1 is joined to switch (s + 1) % 3 port 0.
    let peer = |s: usize, p: u16| match p {
        0 => ((s + 2) % 3, 1),
        _ => ((s + 1) % 3, 0),
    };
    let mut switches: Vec<Switch> = (0..3)
        .map(|s| {
            let mut sw = Switch::new(SwitchConfig::default()).unwrap();
            for _ in 0..3 {
                sw.add_port(PortConfig::default()).unwrap();
            }
            if stp_on {
                let mut stp = Stp::new(StpConfig::default(), mac(s));
                for p in 0..3u16 {
                    let config = StpPortConfig {
                        admin_edge: p == HOST,
                        ..StpPortConfig::default()
                    };
                    stp.add_port(Instant::ZERO, PortId(p), port_mac(s, p), config);
                }
                sw.set_stp(Some(stp));
            }
            sw
        })
        .collect();
    let mut queue: VecDeque<(usize, u16, Vec<u8>)> = VecDeque::new();
    let mut hosts = [0u32; 3];
    let mut deliveries = 0;
    let mut now = 0;
    let mut sent = false;
    while now < 6_000 || !queue.is_empty() {
        now += 10;
        let t = Instant::from_millis(now);
        for (s, sw) in switches.iter_mut().enumerate() {
            sw.run_stp(t, |p, f| {
                if p.0 != HOST {
                    let (to, q) = peer(s, p.0);
                    queue.push_back((to, q, f.to_vec()));
                }
            });
        }
        if now >= 5_000 && !sent {
            sent = true;
            let mut frame = vec![0xff; 6];
            frame.extend_from_slice(&[2, 0, 0, 0, 0xaa, 1, 0x08, 0x00]);
            frame.resize(60, 0);
            queue.push_back((0, HOST, frame));
        }
        let pending: Vec<_> = queue.drain(..).collect();
        for (s, p, frame) in pending {
            deliveries += 1;
            if deliveries > 10_000 {
                return None;
            }
            switches[s].forward_one(t, PortId(p), &frame, |e| {
                if e.port.0 == HOST {
                    hosts[s] += 1;
                } else {
                    let (to, q) = peer(s, e.port.0);
                    queue.push_back((to, q, e.frame.to_vec()));
                }
                Ok(())
            });
        }
    }
    Some(hosts)
}

/// Port states gate the stages: discarding neither learns nor forwards,
/// learning learns only; BPDUs go to the protocol and teach the table nothing.
#[test]
fn port_states_gate_learning_and_forwarding() {
    use vswitch_core::{DropReason, PortConfig, Switch, SwitchConfig, Verdict};
    let mut sw = Switch::new(SwitchConfig::default()).unwrap();
    let mut stp = Stp::new(StpConfig::default(), mac(0));
    for p in 0..2u16 {
        sw.add_port(PortConfig::default()).unwrap();
        let config = StpPortConfig {
            auto_edge: false,
            admin_edge: p == 1,
            ..StpPortConfig::default()
        };
        stp.add_port(Instant::ZERO, PortId(p), port_mac(0, p), config);
    }
    sw.set_stp(Some(stp));
    let host = MacAddr([2, 0, 0, 0, 0xaa, 1]);
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&host.octets());
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.resize(60, 0);
    let t = Instant::from_millis;
    let d = sw.decide(t(100), PortId(0), &frame);
    assert_eq!(d.verdict, Verdict::Drop(DropReason::Blocked));
    assert_eq!(sw.fdb().get(0, host), None);
    // From the edge port: flooded, but not out of the discarding port.
    let mut outs = Vec::new();
    let d = sw.decide(t(100), PortId(1), &frame);
    sw.for_each_egress(&d, |p| outs.push(p));
    assert!(outs.is_empty(), "{outs:?}");
    sw.run_stp(t(15_000), |_, _| {});
    assert_eq!(sw.port(PortId(0)).unwrap().stp_state(), State::Learning);
    let d = sw.decide(t(15_100), PortId(0), &frame);
    assert_eq!(d.verdict, Verdict::Drop(DropReason::Blocked));
    assert_eq!(sw.fdb().get(0, host), Some(PortId(0)));
    sw.run_stp(t(30_000), |_, _| {});
    let d = sw.decide(t(30_100), PortId(0), &frame);
    assert!(matches!(d.verdict, Verdict::Flood(_)));
    // A BPDU from a better root: to the protocol, not learned, not forwarded.
    let mut bpdu = Vec::new();
    let better = Stp::new(
        StpConfig {
            priority: 0,
            ..StpConfig::default()
        },
        mac(7),
    );
    vswitch_core::stp::bpdu::Bpdu {
        kind: vswitch_core::stp::bpdu::BpduKind::Config,
        version: 0,
        flags: 0,
        root: better.bridge_id(),
        root_path_cost: 0,
        bridge: better.bridge_id(),
        port: 0x8001,
        times: better.root_times(),
    }
    .emit(mac(7), &mut bpdu);
    let d = sw.decide(t(30_200), PortId(0), &bpdu);
    assert_eq!(d.verdict, Verdict::Drop(DropReason::LinkLocal));
    assert_eq!(sw.fdb().get(0, mac(7)), None);
    assert_eq!(sw.stp().unwrap().root_id(), better.bridge_id());
    assert_eq!(sw.stp().unwrap().root_port(), Some(PortId(0)));
    // Off again: every port forwards.
    sw.set_stp(None);
    assert_eq!(sw.port(PortId(0)).unwrap().stp_state(), State::Forwarding);
}

/// A BPDU in a batch that makes a port discard: the frames of the batch
/// decided for that port before it are not sent there (`tx-down` on it),
/// as with a move-guard shutdown (docs/forwarding.md, "Batches").
#[test]
fn a_port_that_discards_after_a_bpdu_in_the_batch_gets_nothing_decided_before() {
    use vswitch_core::stp::bpdu::{Bpdu, BpduKind};
    use vswitch_core::{
        DropReason, FloodKind, FrameBatch, PortConfig, Switch, SwitchConfig, Verdict,
    };
    let mut sw = Switch::new(SwitchConfig::default()).unwrap();
    let mut stp = Stp::new(StpConfig::default(), mac(0));
    for p in 0..3u16 {
        sw.add_port(PortConfig::default()).unwrap();
        let config = StpPortConfig {
            auto_edge: false,
            ..StpPortConfig::default()
        };
        stp.add_port(Instant::ZERO, PortId(p), port_mac(0, p), config);
    }
    sw.set_stp(Some(stp));
    let root = Stp::new(
        StpConfig {
            priority: 0,
            ..StpConfig::default()
        },
        mac(7),
    );
    let relay = Stp::new(StpConfig::default(), mac(6));
    // The root's information from `sender`, `cost` away from it.
    let bpdu = |sender: &Stp, cost: u32| {
        let mut b = Vec::new();
        Bpdu {
            kind: BpduKind::Config,
            version: 0,
            flags: 0,
            root: root.bridge_id(),
            root_path_cost: cost,
            bridge: sender.bridge_id(),
            port: 0x8001,
            times: root.root_times(),
        }
        .emit(sender.bridge_id().mac(), &mut b);
        b
    };
    let t = Instant::from_millis;
    // The root heard through a relay on port 1: port 1 is the root port.
    sw.decide(t(1), PortId(1), &bpdu(&relay, 100));
    for now in [15_000, 30_000, 45_000] {
        sw.decide(t(now - 1), PortId(1), &bpdu(&relay, 100));
        sw.run_stp(t(now), |_, _| {});
    }
    assert_eq!(sw.stp().unwrap().root_port(), Some(PortId(1)));
    for p in 0..3 {
        assert_eq!(sw.port(PortId(p)).unwrap().stp_state(), State::Forwarding);
    }
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[2, 0, 0, 0, 0xaa, 1, 0x08, 0x00]);
    frame.resize(60, 0);
    // In one batch on port 2: a broadcast, flooded to ports 0 and 1, then the
    // root itself, heard directly: port 2 becomes the root port and port 1,
    // whose relay is worse, an alternate, discarding.
    let mut batch = FrameBatch::with_capacity(2);
    batch.push(&frame);
    batch.push(&bpdu(&root, 0));
    let mut sent = Vec::new();
    let verdicts: Vec<Verdict> = sw
        .forward(t(45_100), PortId(2), &batch, |e| {
            sent.push((e.port.0, e.index));
            Ok(())
        })
        .iter()
        .map(|d| d.verdict)
        .collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Flood(FloodKind::Broadcast),
            Verdict::Drop(DropReason::LinkLocal)
        ]
    );
    assert_eq!(sw.stp().unwrap().root_port(), Some(PortId(2)));
    assert_eq!(sw.port(PortId(1)).unwrap().stp_state(), State::Discarding);
    assert_eq!(sent, [(0, 0)], "not to port 1, discarding by then");
    let c1 = sw.port(PortId(1)).unwrap().counters;
    assert_eq!((c1.tx_frames, c1.drops(DropReason::TxDown)), (0, 1));
}
