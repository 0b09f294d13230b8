//! Multicast snooping: the group table (MDB), router ports and the querier.
//!
//! With snooping on ([`McastConfig::snooping`]), the switch reads the IGMP and
//! MLD messages that cross it ([`crate::igmp`]) and keeps, per (VLAN, group),
//! the ports whose hosts asked for the group, each with a membership timer.
//! Data to a registered group then goes to its member ports and to the router
//! ports only; unregistered groups are flooded or sent to router ports only
//! ([`Unregistered`]); link-local groups (224.0.0.0/24, ff02::1 and the
//! solicited-node groups ff02::1:ffXX:XXXX) always flood. Reports and leaves
//! go to router ports only, queries to every port. The rules are those of
//! `docs/forwarding.md`, "Multicast snooping".
//!
//! Router ports are learned from the elected querier's queries (lowest
//! address wins, RFC 2236/3376/3810), or set per port ([`RouterMode`]). The
//! switch's own querier ([`McastConfig::querier`], off by default as on
//! Linux) sends general queries at the query interval and group-specific
//! queries after a leave; it stays silent while another querier is elected.
//! Time is an input: [`Mdb::expire`] and [`Mdb::due_queries`] are driven by
//! the switch's `advance` and `send_queries`.
//!
//! ```
//! use vswitch_core::{Instant, PortConfig, Switch, SwitchConfig, Verdict, PortId};
//! use vswitch_core::igmp::build;
//! use vswitch_core::MacAddr;
//! use core::net::Ipv4Addr;
//! let mut config = SwitchConfig::default();
//! config.mcast.snooping = true;
//! let mut sw = Switch::new(config).unwrap();
//! for _ in 0..3 { sw.add_port(PortConfig::default()).unwrap(); }
//! let host = MacAddr([2, 0, 0, 0, 0, 1]);
//! let group = Ipv4Addr::new(239, 1, 2, 3);
//! // Port 1's host joins; the sender on port 0 then reaches port 1 only.
//! let join = build::igmp_v2(host, Ipv4Addr::new(10, 0, 0, 1), group, false);
//! sw.decide(Instant::ZERO, PortId(1), &join);
//! let data = build::data_v4(MacAddr([2, 0, 0, 0, 0, 2]), Ipv4Addr::new(10, 0, 0, 2), group, 20);
//! let d = sw.decide(Instant::ZERO, PortId(0), &data);
//! let mut out = Vec::new();
//! sw.for_each_egress(&d, |p| out.push(p));
//! assert_eq!(out, [PortId(1)]);
//! ```

use crate::igmp::{self, Message, Packet, RecordKind};
use crate::mac::MacAddr;
use crate::time::Instant;
use crate::types::{PortId, Vid};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

/// Most groups a table may be configured to hold (a group's slot number
/// fits a `u16`, with one value kept for "router ports only").
pub const MAX_GROUPS: u32 = 65_535;
/// Events kept for the adapter before the oldest are dropped (and counted).
const EVENT_QUEUE: usize = 1024;

/// What happens to multicast data for a group nobody has joined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Unregistered {
    /// Flood it, as without snooping (the Linux bridge's default before it
    /// has seen a querier).
    #[default]
    Flood,
    /// Send it to router ports only.
    RouterPorts,
}

/// The switch's multicast snooping settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct McastConfig {
    /// Snoop IGMP and MLD and forward multicast by the group table. Off by
    /// default: every multicast frame floods, as before.
    pub snooping: bool,
    /// Run the switch's own querier. Off by default, as on Linux: a segment
    /// with a multicast router already has a querier, and a second one only
    /// adds queries. Turn it on where no router queries (a lab, a segment
    /// of hosts only), or memberships time out and streams stop.
    pub querier: bool,
    /// What unregistered multicast does.
    pub unregistered: Unregistered,
    /// Most (VLAN, group) entries; joins of new groups beyond it are refused
    /// and counted (their data is then treated as unregistered).
    pub max_groups: u32,
    /// Time between the own querier's general queries (RFC: 125 s).
    pub query_interval: Duration,
    /// Maximum response time asked for in general queries (10 s).
    pub query_response: Duration,
    /// Time between group-specific queries after a leave (1 s).
    pub last_member_interval: Duration,
    /// Group-specific queries sent after a leave (2).
    pub last_member_count: u32,
    /// Robustness variable (2): how many queries may be lost.
    pub robustness: u32,
    /// The own querier's IPv4 source. 0.0.0.0 (the default, as the Linux
    /// bridge without an address) gives way to any other querier.
    pub querier_ipv4: Ipv4Addr,
    /// The own querier's MAC; its IPv6 source is the link-local address
    /// made from it.
    pub querier_mac: MacAddr,
}

impl Default for McastConfig {
    fn default() -> Self {
        McastConfig {
            snooping: false,
            querier: false,
            unregistered: Unregistered::Flood,
            max_groups: 4096,
            query_interval: Duration::from_secs(125),
            query_response: Duration::from_secs(10),
            last_member_interval: Duration::from_secs(1),
            last_member_count: 2,
            robustness: 2,
            querier_ipv4: Ipv4Addr::UNSPECIFIED,
            querier_mac: MacAddr([0x02, 0x76, 0x73, 0x00, 0x00, 0x01]),
        }
    }
}

impl McastConfig {
    /// How long a membership lasts without a report: robustness × query
    /// interval + query response (260 s).
    pub fn membership_interval(&self) -> Duration {
        self.query_interval * self.robustness + self.query_response
    }

    /// How long another querier is believed present after its last query:
    /// robustness × query interval + half the query response (255 s).
    pub fn other_querier_interval(&self) -> Duration {
        self.query_interval * self.robustness + self.query_response / 2
    }

    fn last_member_time(&self) -> Duration {
        self.last_member_interval * self.last_member_count
    }
}

/// Whether a port is a multicast router port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RouterMode {
    /// When the elected querier's queries come in on it (Linux `1`).
    #[default]
    Auto,
    /// Always (Linux `2`, permanent).
    Always,
    /// Never (Linux `0`).
    Never,
}

/// A port's snooping settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct McastPortConfig {
    /// Router port mode.
    pub router: RouterMode,
    /// Remove the port from a group at once on a leave, without a
    /// group-specific query: for a port with one host behind it.
    pub fast_leave: bool,
}

/// A reference to a group's entry in a [`Verdict::Group`](crate::Verdict):
/// the frame goes to its member ports and the router ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupRef(pub(crate) u16);

impl GroupRef {
    /// To router ports only (reports, leaves, unregistered data when so set).
    pub const ROUTERS: GroupRef = GroupRef(u16::MAX);
}

/// One port of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// The port.
    pub port: PortId,
    /// When its membership ends unless a report renews it.
    pub expires: Instant,
}

/// A (VLAN, group) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Its VLAN (0 on a VLAN-unaware switch).
    pub vid: Vid,
    /// The group address.
    pub group: IpAddr,
    /// Its ports, in the order they joined.
    pub members: Vec<Member>,
    /// Data frames forwarded to it.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Totals of the snooping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct McastStats {
    /// Membership report records and leaves read.
    pub reports: u64,
    /// Leaves (v2 leave, MLD done, v3 record to INCLUDE {}).
    pub leaves: u64,
    /// Queries read.
    pub queries: u64,
    /// IGMP/MLD messages dropped as malformed.
    pub bad: u64,
    /// Joins of new groups refused because the table was full.
    pub table_full: u64,
    /// Queries the own querier sent (one per port sent out of).
    pub own_queries: u64,
    /// Events dropped because the adapter did not drain them.
    pub events_lost: u64,
}

/// Why a port left a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// A leave, with fast leave on the port.
    FastLeave,
    /// Its membership timer ran out (after a leave, or without reports).
    Expired,
    /// The port went down or was removed.
    PortDown,
}

/// A change in the snooping state, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McastEvent {
    /// A port joined a group.
    Joined(Vid, IpAddr, PortId),
    /// A port left a group.
    Left(Vid, IpAddr, PortId, LeaveReason),
    /// A join refused: the table is full.
    TableFull(Vid, IpAddr, PortId),
    /// A port became (true) or stopped being (false) a learned router port.
    Router(PortId, bool),
    /// The elected querier of a VLAN and family changed (`None`: the own
    /// querier, or none).
    Querier(Vid, Option<IpAddr>),
}

impl fmt::Display for McastEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McastEvent::Joined(v, g, p) => write!(f, "port {p} joined {g} vid {v}"),
            McastEvent::Left(v, g, p, why) => write!(f, "port {p} left {g} vid {v} ({why:?})"),
            McastEvent::TableFull(v, g, p) => {
                write!(
                    f,
                    "join of {g} vid {v} on port {p} refused: group table full"
                )
            }
            McastEvent::Router(p, true) => write!(f, "port {p} is a multicast router port"),
            McastEvent::Router(p, false) => {
                write!(f, "port {p} is no longer a multicast router port")
            }
            McastEvent::Querier(v, Some(a)) => write!(f, "querier of vid {v} is {a}"),
            McastEvent::Querier(v, None) => write!(f, "no other querier on vid {v}"),
        }
    }
}

/// What the snooping makes of a multicast frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Snooped {
    /// Flood it as multicast.
    Flood,
    /// To these ports.
    To(GroupRef),
    /// A malformed IGMP/MLD message: drop it.
    Bad,
}

/// The querier state of one VLAN and address family.
#[derive(Clone, Copy, Debug, Default)]
struct Querier {
    /// The other querier heard, while its presence lasts.
    other: Option<IpAddr>,
    other_until: Instant,
    /// When the own querier sends its next general query.
    next_query: Instant,
    /// Startup queries still to send at a quarter of the interval.
    startup_left: u32,
    started: bool,
}

/// A group-specific query the own querier still has to send.
#[derive(Clone, Copy, Debug)]
struct Pending {
    vid: Vid,
    group: IpAddr,
    port: PortId,
    left: u32,
    next: Instant,
}

/// A query the own querier sends now: out of `port`, or every port of
/// `vid` when `port` is `None`.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// Its VLAN.
    pub vid: Vid,
    /// One port (a group-specific query after a leave) or all.
    pub port: Option<PortId>,
    /// The frame, untagged.
    pub frame: &'a [u8],
}

/// The group table with its router ports and querier state.
#[derive(Clone, Debug, Default)]
pub struct Mdb {
    config: McastConfig,
    groups: Vec<Option<Group>>,
    index: BTreeMap<(Vid, IpAddr), u16>,
    free: Vec<u16>,
    /// Learned router ports: until when, by port number.
    routers: Vec<Option<Instant>>,
    queriers: BTreeMap<(Vid, bool), Querier>,
    pending: Vec<Pending>,
    events: VecDeque<McastEvent>,
    stats: McastStats,
    clock: Instant,
    scratch: Vec<u8>,
}

/// True for groups that always flood: IPv4 224.0.0.0/24, IPv6 ff02::1 and
/// the solicited-node groups ff02::1:ffXX:XXXX (neighbour discovery must
/// work even when a host's report was lost), and the reserved ff00::/15.
pub fn always_floods(group: IpAddr) -> bool {
    match group {
        IpAddr::V4(g) => g.octets()[..3] == [224, 0, 0],
        IpAddr::V6(g) => {
            let s = g.segments();
            let all_nodes = g == core::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
            let solicited = s[..5] == [0xff02, 0, 0, 0, 0] && s[5] == 1 && s[6] >> 8 == 0xff;
            all_nodes || solicited || s[0] & 0xfffe == 0xff00
        }
    }
}

impl Mdb {
    /// An empty table with `config`.
    pub fn new(config: McastConfig) -> Mdb {
        Mdb {
            config,
            ..Mdb::default()
        }
    }

    /// The settings.
    pub fn config(&self) -> &McastConfig {
        &self.config
    }

    /// Changes the settings; turning snooping off empties the table.
    pub fn reconfigure(&mut self, config: McastConfig) {
        if !config.snooping {
            *self = Mdb {
                stats: self.stats,
                ..Mdb::new(config)
            };
        }
        if config.querier != self.config.querier {
            self.queriers.clear();
            self.pending.clear();
        }
        self.config = config;
    }

    /// The totals.
    pub fn stats(&self) -> McastStats {
        self.stats
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no group is registered.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The groups, by VLAN then address. Members whose timer has run out
    /// but that no sweep has removed yet are listed until [`Mdb::expire`].
    pub fn groups(&self) -> impl Iterator<Item = &Group> + '_ {
        self.index
            .values()
            .filter_map(|&i| self.groups.get(usize::from(i))?.as_ref())
    }

    /// The entry of `group` in `vid`.
    pub fn group(&self, vid: Vid, group: IpAddr) -> Option<&Group> {
        let &i = self.index.get(&(vid, group))?;
        self.groups.get(usize::from(i))?.as_ref()
    }

    /// True if `port` is a learned router port now.
    pub fn learned_router(&self, port: PortId) -> bool {
        matches!(self.routers.get(usize::from(port.0)), Some(Some(t)) if *t > self.clock)
    }

    /// True if `port`, with `config`, is a router port now.
    pub fn is_router(&self, port: PortId, config: &McastPortConfig) -> bool {
        match config.router {
            RouterMode::Always => true,
            RouterMode::Never => false,
            RouterMode::Auto => self.learned_router(port),
        }
    }

    /// The other querier elected in `vid` for IPv6 (`v6`) or IPv4, if one
    /// is present.
    pub fn other_querier(&self, vid: Vid, v6: bool) -> Option<IpAddr> {
        let q = self.queriers.get(&(vid, v6))?;
        q.other.filter(|_| q.other_until > self.clock)
    }

    /// True if the own querier is the querier of `vid` for the family.
    pub fn own_querier_active(&self, vid: Vid, v6: bool) -> bool {
        self.config.querier && self.other_querier(vid, v6).is_none()
    }

    /// True if `port` is a member of the group of `r` now.
    pub(crate) fn has_member(&self, r: GroupRef, port: PortId) -> bool {
        let Some(Some(g)) = self.groups.get(usize::from(r.0)) else {
            return false;
        };
        g.members
            .iter()
            .any(|m| m.port == port && m.expires > self.clock)
    }

    /// Takes the events since the last call, oldest first.
    pub fn drain_events(&mut self) -> impl Iterator<Item = McastEvent> + '_ {
        self.events.drain(..)
    }

    fn event(&mut self, e: McastEvent) {
        if self.events.len() >= EVENT_QUEUE {
            self.events.pop_front();
            self.stats.events_lost += 1;
        }
        self.events.push_back(e);
    }

    /// Reads a multicast frame's IP part, already classified, received on
    /// `port` (with `config`) in `vid` at `now`: learns from membership
    /// messages, and says where the frame goes.
    pub(crate) fn on_packet(
        &mut self,
        now: Instant,
        port: PortId,
        vid: Vid,
        config: McastPortConfig,
        packet: Packet<'_>,
        len: usize,
    ) -> Snooped {
        self.clock = self.clock.max(now);
        match packet {
            Packet::Other => Snooped::Flood,
            Packet::Bad => {
                self.stats.bad += 1;
                Snooped::Bad
            }
            Packet::Data(group) => self.data(vid, group, len),
            Packet::Control(Message::Report(records)) => {
                for (group, kind) in records {
                    match kind {
                        RecordKind::Join => self.join(vid, group, port),
                        RecordKind::Leave => self.leave(vid, group, port, config),
                        RecordKind::Nothing => self.stats.reports += 1,
                    }
                }
                Snooped::To(GroupRef::ROUTERS)
            }
            Packet::Control(Message::Leave(group)) => {
                self.leave(vid, group, port, config);
                Snooped::To(GroupRef::ROUTERS)
            }
            Packet::Control(Message::Query {
                querier,
                group,
                max_resp_ms,
            }) => {
                self.query(vid, port, config, querier, group, max_resp_ms);
                Snooped::Flood
            }
        }
    }

    fn data(&mut self, vid: Vid, group: IpAddr, len: usize) -> Snooped {
        if always_floods(group) {
            return Snooped::Flood;
        }
        if let Some(&i) = self.index.get(&(vid, group)) {
            if let Some(Some(g)) = self.groups.get_mut(usize::from(i)) {
                let clock = self.clock;
                if g.members.iter().any(|m| m.expires > clock) {
                    g.frames += 1;
                    g.bytes += len as u64;
                    return Snooped::To(GroupRef(i));
                }
            }
        }
        match self.config.unregistered {
            Unregistered::Flood => Snooped::Flood,
            Unregistered::RouterPorts => Snooped::To(GroupRef::ROUTERS),
        }
    }

    fn join(&mut self, vid: Vid, group: IpAddr, port: PortId) {
        self.stats.reports += 1;
        if always_floods(group) {
            return;
        }
        let expires = self.clock + self.config.membership_interval();
        let i = match self.index.get(&(vid, group)) {
            Some(&i) => i,
            None => {
                if self.index.len() >= self.config.max_groups.min(MAX_GROUPS) as usize {
                    self.stats.table_full += 1;
                    self.event(McastEvent::TableFull(vid, group, port));
                    return;
                }
                let entry = Group {
                    vid,
                    group,
                    members: Vec::new(),
                    frames: 0,
                    bytes: 0,
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        self.groups[usize::from(i)] = Some(entry);
                        i
                    }
                    None => {
                        self.groups.push(Some(entry));
                        (self.groups.len() - 1) as u16
                    }
                };
                self.index.insert((vid, group), i);
                i
            }
        };
        let Some(Some(g)) = self.groups.get_mut(usize::from(i)) else {
            return;
        };
        match g.members.iter_mut().find(|m| m.port == port) {
            Some(m) => m.expires = expires,
            None => {
                g.members.push(Member { port, expires });
                self.event(McastEvent::Joined(vid, group, port));
            }
        }
        // A report answers any group-specific query still to be sent.
        self.pending
            .retain(|p| !(p.vid == vid && p.group == group && p.port == port));
    }

    /// A leave of `group` on `port`: at once with fast leave; else the
    /// port's membership ends after the last-member queries unless a report
    /// comes (sent by the own querier when it is the querier; another
    /// querier's own group-specific query lowers the timer when seen).
    fn leave(&mut self, vid: Vid, group: IpAddr, port: PortId, config: McastPortConfig) {
        self.stats.leaves += 1;
        let Some(&i) = self.index.get(&(vid, group)) else {
            return;
        };
        let v6 = group.is_ipv6();
        if config.fast_leave {
            self.remove_member(i, port, LeaveReason::FastLeave);
            return;
        }
        if self.other_querier(vid, v6).is_some() {
            return;
        }
        let until = self.clock + self.config.last_member_time();
        if let Some(Some(g)) = self.groups.get_mut(usize::from(i)) {
            for m in g.members.iter_mut().filter(|m| m.port == port) {
                m.expires = m.expires.min(until);
            }
        }
        if self.config.querier && self.config.last_member_count > 0 {
            let clock = self.clock;
            self.pending
                .retain(|p| !(p.vid == vid && p.group == group && p.port == port));
            self.pending.push(Pending {
                vid,
                group,
                port,
                left: self.config.last_member_count,
                next: clock,
            });
        }
    }

    fn remove_member(&mut self, i: u16, port: PortId, why: LeaveReason) {
        let Some(Some(g)) = self.groups.get_mut(usize::from(i)) else {
            return;
        };
        let before = g.members.len();
        g.members.retain(|m| m.port != port);
        let (vid, group, gone) = (g.vid, g.group, g.members.len() < before);
        let empty = g.members.is_empty();
        if gone {
            self.event(McastEvent::Left(vid, group, port, why));
        }
        if empty {
            self.remove_group(i);
        }
    }

    fn remove_group(&mut self, i: u16) {
        if let Some(g) = self.groups.get_mut(usize::from(i)).and_then(Option::take) {
            self.index.remove(&(g.vid, g.group));
            self.free.push(i);
        }
    }

    fn query(
        &mut self,
        vid: Vid,
        port: PortId,
        config: McastPortConfig,
        querier: IpAddr,
        group: Option<IpAddr>,
        max_resp_ms: u32,
    ) {
        self.stats.queries += 1;
        let v6 = querier.is_ipv6();
        let clock = self.clock;
        let own = if v6 {
            IpAddr::V6(igmp::link_local_v6(self.config.querier_mac))
        } else {
            IpAddr::V4(self.config.querier_ipv4)
        };
        let own_on = self.config.querier;
        let other_interval = self.config.other_querier_interval();
        let q = self.queriers.entry((vid, v6)).or_default();
        let current = match q.other {
            Some(a) if q.other_until > clock => Some(a),
            _ if own_on => Some(own),
            _ => None,
        };
        // The lowest address wins; an unspecified one (a querier without an
        // address, as our own by default) gives way to anyone.
        let elected = match current {
            None => true,
            Some(c) if c.is_unspecified() => true,
            Some(c) => querier <= c && !querier.is_unspecified(),
        };
        if !elected {
            return;
        }
        let changed = q.other != Some(querier) || q.other_until <= clock;
        q.other = Some(querier);
        q.other_until = clock + other_interval;
        if changed {
            self.event(McastEvent::Querier(vid, Some(querier)));
        }
        if config.router == RouterMode::Auto {
            let i = usize::from(port.0);
            if self.routers.len() <= i {
                self.routers.resize(i + 1, None);
            }
            let was = self.routers[i].is_some_and(|t| t > clock);
            self.routers[i] = Some(clock + other_interval);
            if !was {
                self.event(McastEvent::Router(port, true));
            }
        }
        // A group-specific query: the members have the last-member time to
        // answer, as if a leave had been seen.
        if let Some(group) = group {
            let count = self.config.last_member_count.max(1);
            let until = clock + Duration::from_millis(u64::from(max_resp_ms)) * count;
            if let Some(&i) = self.index.get(&(vid, group)) {
                if let Some(Some(g)) = self.groups.get_mut(usize::from(i)) {
                    for m in &mut g.members {
                        m.expires = m.expires.min(until);
                    }
                }
            }
        }
    }

    /// Removes every membership of `port` and forgets it as a router port
    /// (it went down or was removed).
    pub fn flush_port(&mut self, port: PortId) {
        let slots: Vec<u16> = self.index.values().copied().collect();
        for i in slots {
            self.remove_member(i, port, LeaveReason::PortDown);
        }
        if let Some(r) = self.routers.get_mut(usize::from(port.0)) {
            if r.take().is_some_and(|t| t > self.clock) {
                self.event(McastEvent::Router(port, false));
            }
        }
        self.pending.retain(|p| p.port != port);
    }

    /// Brings the table to `now`: ends memberships and router ports whose
    /// timers ran out, and groups left without members.
    pub fn expire(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        let clock = self.clock;
        let slots: Vec<u16> = self.index.values().copied().collect();
        for i in slots {
            let gone: Vec<PortId> = match self.groups.get(usize::from(i)) {
                Some(Some(g)) => g
                    .members
                    .iter()
                    .filter(|m| m.expires <= clock)
                    .map(|m| m.port)
                    .collect(),
                _ => continue,
            };
            for port in gone {
                self.remove_member(i, port, LeaveReason::Expired);
            }
        }
        for p in 0..self.routers.len() {
            if self.routers[p].is_some_and(|t| t <= clock) {
                self.routers[p] = None;
                self.event(McastEvent::Router(PortId(p as u16), false));
            }
        }
        let ended: Vec<Vid> = self
            .queriers
            .iter_mut()
            .filter(|(_, q)| q.other.is_some() && q.other_until <= clock)
            .map(|(&(vid, _), q)| {
                q.other = None;
                // The own querier takes over at once.
                q.next_query = clock;
                vid
            })
            .collect();
        for vid in ended {
            self.event(McastEvent::Querier(vid, None));
        }
    }

    /// The queries the own querier sends at `now` in the VLANs `vids`:
    /// general queries (at a quarter of the interval for the first
    /// `robustness` ones, then at the interval), for IPv4 and IPv6, in each
    /// VLAN where it is the querier, and the group-specific queries that
    /// follow leaves. Each is handed to `send`.
    pub fn due_queries(&mut self, now: Instant, vids: &[Vid], mut send: impl FnMut(Query<'_>)) {
        if !self.config.snooping || !self.config.querier {
            return;
        }
        self.clock = self.clock.max(now);
        let clock = self.clock;
        let c = self.config;
        let mut scratch = core::mem::take(&mut self.scratch);
        let response = c.query_response.as_millis().min(u128::from(u32::MAX)) as u32;
        for &vid in vids {
            for v6 in [false, true] {
                if !self.own_querier_active(vid, v6) {
                    continue;
                }
                let q = self.queriers.entry((vid, v6)).or_default();
                if !q.started {
                    q.started = true;
                    q.startup_left = c.robustness.max(1);
                    q.next_query = clock;
                }
                if q.next_query > clock {
                    continue;
                }
                let interval = if q.startup_left > 0 {
                    q.startup_left -= 1;
                    c.query_interval / 4
                } else {
                    c.query_interval
                };
                q.next_query = clock + interval;
                build_query(&c, v6, None, response, &mut scratch);
                self.stats.own_queries += 1;
                send(Query {
                    vid,
                    port: None,
                    frame: &scratch,
                });
            }
        }
        let lmqi = c.last_member_interval.as_millis().min(u128::from(u32::MAX)) as u32;
        let mut i = 0;
        while i < self.pending.len() {
            let p = self.pending[i];
            if p.next > clock || !self.own_querier_active(p.vid, p.group.is_ipv6()) {
                i += 1;
                continue;
            }
            build_query(&c, p.group.is_ipv6(), Some(p.group), lmqi, &mut scratch);
            self.stats.own_queries += 1;
            send(Query {
                vid: p.vid,
                port: Some(p.port),
                frame: &scratch,
            });
            let p = &mut self.pending[i];
            p.left -= 1;
            p.next = clock + c.last_member_interval;
            if p.left == 0 {
                self.pending.swap_remove(i);
            } else {
                i += 1;
            }
        }
        self.scratch = scratch;
    }
}

fn build_query(c: &McastConfig, v6: bool, group: Option<IpAddr>, ms: u32, out: &mut Vec<u8>) {
    if v6 {
        let group = match group {
            Some(IpAddr::V6(g)) => Some(g),
            _ => None,
        };
        let src = igmp::link_local_v6(c.querier_mac);
        igmp::mld_query(c.querier_mac, src, group, ms, out);
    } else {
        let group = match group {
            Some(IpAddr::V4(g)) => Some(g),
            _ => None,
        };
        igmp::igmp_query(c.querier_mac, c.querier_ipv4, group, ms, out);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::igmp::{classify, Records};

    const G: IpAddr = IpAddr::V4(Ipv4Addr::new(239, 1, 2, 3));
    const P0: PortId = PortId(0);
    const P1: PortId = PortId(1);
    const AUTO: McastPortConfig = McastPortConfig {
        router: RouterMode::Auto,
        fast_leave: false,
    };

    fn mdb(querier: bool) -> Mdb {
        Mdb::new(McastConfig {
            snooping: true,
            querier,
            ..McastConfig::default()
        })
    }

    fn report(m: &mut Mdb, t: u64, port: PortId) -> Snooped {
        let p = Packet::Control(Message::Report(Records::Single(G)));
        m.on_packet(Instant::from_secs(t), port, 0, AUTO, p, 60)
    }

    fn data(m: &mut Mdb, t: u64) -> Snooped {
        m.on_packet(Instant::from_secs(t), P0, 0, AUTO, Packet::Data(G), 100)
    }

    fn query(m: &mut Mdb, t: u64, port: PortId, from: [u8; 4]) {
        let p = Packet::Control(Message::Query {
            querier: IpAddr::V4(Ipv4Addr::from(from)),
            group: None,
            max_resp_ms: 10_000,
        });
        assert_eq!(
            m.on_packet(Instant::from_secs(t), port, 0, AUTO, p, 60),
            Snooped::Flood
        );
    }

    #[test]
    fn membership_lasts_the_membership_interval() {
        let mut m = mdb(false);
        assert_eq!(report(&mut m, 0, P1), Snooped::To(GroupRef::ROUTERS));
        let Snooped::To(r) = data(&mut m, 1) else {
            panic!()
        };
        assert!(m.has_member(r, P1) && !m.has_member(r, P0));
        assert_eq!(m.group(0, G).unwrap().frames, 1);
        m.expire(Instant::from_secs(259));
        assert_eq!(m.len(), 1);
        m.expire(Instant::from_secs(260));
        assert!(m.is_empty());
        assert_eq!(data(&mut m, 261), Snooped::Flood, "unregistered floods");
        let events: Vec<_> = m.drain_events().collect();
        assert_eq!(
            events,
            [
                McastEvent::Joined(0, G, P1),
                McastEvent::Left(0, G, P1, LeaveReason::Expired)
            ]
        );
    }

    #[test]
    fn lowest_querier_wins_and_its_port_is_a_router() {
        let mut m = mdb(false);
        query(&mut m, 0, P0, [10, 0, 0, 5]);
        query(&mut m, 1, P1, [10, 0, 0, 9]);
        assert!(m.learned_router(P0) && !m.learned_router(P1));
        query(&mut m, 2, P1, [10, 0, 0, 2]);
        assert!(m.learned_router(P1));
        assert_eq!(
            m.other_querier(0, false),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
        );
        m.expire(Instant::from_secs(2 + 255));
        assert_eq!(m.other_querier(0, false), None);
        assert!(!m.learned_router(P1));
    }

    #[test]
    fn own_querier_queries_and_gives_way() {
        let mut m = mdb(true);
        let mut sent = 0;
        let run = |m: &mut Mdb, t: u64| {
            let mut n = 0;
            m.due_queries(Instant::from_secs(t), &[0], |q| {
                let at = &q.frame[14..];
                let ethertype = u16::from_be_bytes([q.frame[12], q.frame[13]]);
                assert!(matches!(
                    classify(ethertype, at),
                    Packet::Control(Message::Query { group: None, .. })
                ));
                n += 1;
            });
            n
        };
        sent += run(&mut m, 0);
        sent += run(&mut m, 1);
        sent += run(&mut m, 32);
        assert_eq!(sent, 4, "IPv4 and IPv6 at 0 and at 32 s");
        query(&mut m, 33, P0, [10, 0, 0, 5]);
        sent += run(&mut m, 200);
        assert_eq!(sent, 5, "IPv6 only: the IPv4 querier is elsewhere");
    }

    #[test]
    fn leave_ends_membership_after_last_member_queries() {
        let mut m = mdb(true);
        report(&mut m, 0, P1);
        let leave = Packet::Control(Message::Leave(G));
        m.on_packet(Instant::from_secs(10), P1, 0, AUTO, leave, 60);
        let mut gsq = Vec::new();
        for t in [10, 11] {
            m.due_queries(Instant::from_secs(t), &[], |q| gsq.push(q.port));
        }
        assert_eq!(gsq, [Some(P1), Some(P1)]);
        m.expire(Instant::from_secs(11));
        assert_eq!(m.len(), 1);
        m.expire(Instant::from_secs(12));
        assert!(m.is_empty());
        // With fast leave: at once.
        report(&mut m, 20, P1);
        let fast = McastPortConfig {
            fast_leave: true,
            ..AUTO
        };
        m.on_packet(Instant::from_secs(21), P1, 0, fast, leave, 60);
        assert!(m.is_empty());
    }

    #[test]
    fn full_table_refuses_and_counts() {
        let mut m = Mdb::new(McastConfig {
            snooping: true,
            max_groups: 1,
            ..McastConfig::default()
        });
        report(&mut m, 0, P1);
        let other = IpAddr::V4(Ipv4Addr::new(239, 9, 9, 9));
        let p = Packet::Control(Message::Report(Records::Single(other)));
        m.on_packet(Instant::ZERO, P1, 0, AUTO, p, 60);
        assert_eq!(m.len(), 1);
        assert_eq!(m.stats().table_full, 1);
    }

    #[test]
    fn link_local_groups_always_flood() {
        for g in ["224.0.0.251", "ff02::1", "ff02::1:ff12:3456"] {
            assert!(always_floods(g.parse().unwrap()), "{g}");
        }
        for g in ["239.1.2.3", "ff15::1234", "ff02::fb"] {
            assert!(!always_floods(g.parse().unwrap()), "{g}");
        }
    }
}
