//! The switch: ingress checks, learning and the forward decision, then delivery.
//!
//! The trip of a frame, in the order of [`Switch::decide`]: count it, classify it,
//! check the ingress port's state and VLAN admission, learn its source (unless it
//! is a PAUSE frame), filter IEEE link-local frames, then decide by destination.
//! The decision is a value; [`Switch::forward`] carries it out through a
//! callback, a batch at a time, grouped per destination port, handing the
//! callback one [`Egress`] per frame and port ([`crate::batch`]);
//! [`Switch::forward_one`] does the same for a single frame.
//!
//! ```
//! use vswitch_core::{Instant, PortConfig, Switch, SwitchConfig, Verdict, FloodKind, PortId};
//! let mut sw = Switch::new(SwitchConfig::default()).unwrap();
//! let a = sw.add_port(PortConfig::default()).unwrap();
//! let b = sw.add_port(PortConfig::default()).unwrap();
//! // 02:..:01 -> broadcast, then 02:..:02 -> 02:..:01.
//! let mut f1 = [0u8; 60];
//! f1[..6].copy_from_slice(&[0xff; 6]);
//! f1[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! let mut f2 = [0u8; 60];
//! f2[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! f2[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
//! assert_eq!(sw.decide(Instant::ZERO, a, &f1).verdict, Verdict::Flood(FloodKind::Broadcast));
//! assert_eq!(sw.decide(Instant::ZERO, b, &f2).verdict, Verdict::Unicast(a));
//! ```

use crate::batch::{Egress, FrameBatch};
use crate::events::{Event, FlushReason, Record};
use crate::fdb::prefetch;
use crate::fdb::{
    key as fdb_key, Fdb, FdbConfig, FdbConfigError, FlushScope, Learned, PREFETCH_BATCH,
};
use crate::frame::be16;
use crate::frame::{FrameInfo, ETHERNET_HEADER_LEN, ETHERTYPE_OFFSET, TPID_8021Q, VLAN_TAG_LEN};
use crate::guard::{GuardAction, GuardStats, MoveCheck, MoveGuard, MoveGuardConfig};
use crate::igmp;
use crate::mcast::{GroupRef, McastConfig, Mdb, Query, Snooped, MAX_GROUPS};
use crate::port::{
    DeviceCounts, DropReason, MacLimit, MacLimitAction, PortConfig, PortCounters, PortFlags,
    PortId, TxError,
};
use crate::storm::{StormBuckets, StormControl};
use crate::stp::{State as StpState, Stp};
use crate::time::Instant;
pub use crate::types::FloodKind;
use crate::types::{RemoteId, Vid};
use crate::vlan::VlanMode;
use alloc::vec::Vec;
use core::fmt;
use etherparse::Ethernet2HeaderSlice;

/// The I/G (group) bit of a MAC address held in the low 48 bits of a `u64`.
const GROUP_BIT: u64 = 1 << 40;
/// Table size from which [`Switch::forward`] warms each batch's FDB lines first
/// (about 64k entries: 1.5 MB of entries and index, more than an L2 cache).
const WARM_THRESHOLD: usize = 1 << 16;

/// How many ports ahead of the one it sends to a flood asks the CPU for the
/// port's state ([`Switch::forward_one`]): far enough for the load to be in by
/// then, near enough for it to be still there.
const PREFETCH_PORTS: usize = 8;
/// ff:ff:ff:ff:ff:ff as a `u64`.
const BROADCAST: u64 = 0xffff_ffff_ffff;
/// 01:80:C2:00:00:0X as a `u64`, shifted right by 4 bits.
const LINK_LOCAL_PREFIX: u64 = 0x0018_0c20_0000;
/// 01:80:C2:00:00:01, the MAC control (PAUSE) address, as a `u64`.
const PAUSE: u64 = 0x0180_c200_0001;
/// 01:80:C2:00:00:00, the Bridge Group Address: where BPDUs go.
const STP_GROUP: u64 = 0x0180_c200_0000;

/// The 16-bit mask of IEEE link-local group addresses 01:80:C2:00:00:0X that are
/// forwarded (bit X set) instead of dropped. Bits 0, 1 and 2 (STP, PAUSE, LACP)
/// can never be set, as in the Linux bridge's `group_fwd_mask`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupForwardMask(u16);

impl GroupForwardMask {
    /// Bits that can never be set.
    pub const RESTRICTED: u16 = 0b111;

    /// A mask; fails if any of bits 0-2 is set.
    pub fn new(mask: u16) -> Result<GroupForwardMask, ConfigError> {
        if mask & Self::RESTRICTED != 0 {
            return Err(ConfigError::GroupForwardRestricted(mask));
        }
        Ok(GroupForwardMask(mask))
    }

    /// The mask's bits.
    pub fn bits(self) -> u16 {
        self.0
    }

    /// True if link-local address 01:80:C2:00:00:0X with X = `index` is forwarded.
    pub fn forwards(self, index: u8) -> bool {
        index < 16 && self.0 & (1 << index) != 0
    }
}

/// Configuration of a switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchConfig {
    /// The MAC learning table.
    pub fdb: FdbConfig,
    /// Behave as a repeater hub: every frame to every other port, no learning.
    pub hub: bool,
    /// Use ports' VLAN modes. When false, tags are payload and everything is
    /// learned in VLAN 0.
    pub vlan_aware: bool,
    /// Which IEEE link-local frames are forwarded.
    pub group_forward: GroupForwardMask,
    /// The MAC-move guard; off when `None` (the default).
    pub move_guard: Option<MoveGuardConfig>,
    /// Multicast snooping (IGMP/MLD) and the querier; off by default.
    pub mcast: McastConfig,
}

/// A configuration or port-management request the switch cannot carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Bad FDB settings.
    Fdb(FdbConfigError),
    /// A group-forward mask with any of bits 0-2 set.
    GroupForwardRestricted(u16),
    /// All 65536 port numbers are taken.
    TooManyPorts,
    /// No port has this number.
    NoSuchPort(PortId),
    /// A multicast snooping setting out of range: its name and what it may be.
    Mcast(&'static str, &'static str),
    /// A number outside its setting's range (in a spec).
    #[cfg(feature = "serde")]
    Setting(crate::spec::BadSetting),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Fdb(e) => e.fmt(f),
            ConfigError::GroupForwardRestricted(m) => write!(
                f,
                "group-forward mask {m:#06x} sets bit 0, 1 or 2 (STP, PAUSE, LACP), which may never be forwarded"
            ),
            ConfigError::TooManyPorts => f.write_str("the switch already has 65536 ports"),
            ConfigError::NoSuchPort(p) => write!(f, "the switch has no port {p}"),
            ConfigError::Mcast(name, allowed) => write!(f, "{name} is not allowed: {allowed}"),
            #[cfg(feature = "serde")]
            ConfigError::Setting(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

impl From<FdbConfigError> for ConfigError {
    fn from(e: FdbConfigError) -> Self {
        ConfigError::Fdb(e)
    }
}

/// What to do with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Send out of exactly this port.
    Unicast(PortId),
    /// Send out of every port of [`Switch::for_each_flood_port`].
    Flood(FloodKind),
    /// Multicast snooping: send to the member ports of a group and the
    /// router ports, or to router ports only ([`GroupRef::ROUTERS`]); see
    /// [`Switch::for_each_group_port`].
    Group(GroupRef),
    /// Drop, for this reason.
    Drop(DropReason),
}

/// The decision on one frame: the verdict and what egress needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// The port it came in on.
    pub ingress: PortId,
    /// The frame's VLAN (0 on a VLAN-unaware switch).
    pub vid: Vid,
    /// True if the frame arrived with an outer 802.1Q tag (VLAN-aware switch only).
    pub tagged: bool,
    /// For a unicast to a tunnel port: the remote endpoint its entry holds,
    /// the only one the adapter sends it to. `None` otherwise (a flood to a
    /// tunnel port goes to the port's whole flood list).
    pub remote: Option<RemoteId>,
}

/// The state of one port as the switch keeps it.
///
/// Laid out for the flood path: `shutdown_until` first (the tag of the
/// `Option` the switch keeps each port in lives there) and the counters
/// right after it, so that counting a frame sent, which a flood does on
/// every port, touches the first cache line of the port alone. What the
/// flood loop reads (up, spanning-tree state, flood flags) it reads from a
/// dense copy ([`Switch::for_each_flood_port`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct PortState {
    /// Set while the move guard holds the port shut down (and down), until then.
    pub shutdown_until: Option<Instant>,
    /// Its counters.
    pub counters: PortCounters,
    /// Its configuration.
    pub config: PortConfig,
    /// Link and administrative state: frames neither enter nor leave a down port.
    pub up: bool,
    /// The state last asked for by [`Switch::set_port_up`], which the port takes
    /// again when a shutdown ends.
    link_up: bool,
    storm: StormBuckets,
    /// What the spanning tree lets the port do (forwarding when it is off).
    stp_state: StpState,
    /// Floods dropped by storm control since it last let one through, per
    /// kind (broadcast, multicast, unknown unicast): its start and end events.
    storm_drops: [u64; 3],
}

impl PortState {
    /// What the spanning tree lets the port do: forwarding when it is off.
    pub fn stp_state(&self) -> StpState {
        self.stp_state
    }

    /// The port's [`hot`] bits: what the flood loop needs to know of it.
    fn hot(&self) -> u8 {
        let flags = &self.config.flags;
        let mut bits = 0;
        if self.up && self.stp_state.forwards() {
            bits |= hot::FORWARDS;
        }
        if flags.flood_broadcast {
            bits |= hot::BROADCAST;
        }
        if flags.flood_multicast {
            bits |= hot::MULTICAST;
        }
        if flags.flood_unknown {
            bits |= hot::UNKNOWN;
        }
        // Split horizon: hairpin never sends a tunnel's frames back in.
        if flags.hairpin && !self.config.tunnel {
            bits |= hot::BACK_IN;
        }
        bits
    }
}

/// The bits of a port's entry in [`Switch`]'s dense `hot` array: what the
/// flood and group loops test on every port, one byte a port instead of the
/// several cache lines of its [`PortState`]. A free port number is 0.
mod hot {
    /// Up, and forwarding as far as the spanning tree goes.
    pub const FORWARDS: u8 = 1;
    /// Flag `flood_broadcast`.
    pub const BROADCAST: u8 = 2;
    /// Flag `flood_multicast`.
    pub const MULTICAST: u8 = 4;
    /// Flag `flood_unknown`.
    pub const UNKNOWN: u8 = 8;
    /// A frame may go back out of the port it came in on (hairpin, not a tunnel).
    pub const BACK_IN: u8 = 16;
}

/// A switch: ports, the FDB and the decision. Pure logic: the caller brings
/// frames and time, and carries out the decisions.
#[derive(Clone)]
pub struct Switch {
    config: SwitchConfig,
    /// True when the fast path ([`Switch::fast_unicast`], and
    /// [`Switch::forward`]'s inline [`Switch::fast_decide`]) may decide:
    /// nothing configured could make its answer differ from the general path's.
    fast: bool,
    fdb: Fdb,
    mdb: Mdb,
    guard: Option<MoveGuard>,
    guard_stats: GuardStats,
    /// Earliest end of a port shutdown, ms; `u64::MAX` when none.
    next_recovery: u64,
    /// Set when a port may have stopped forwarding (a move-guard shutdown, a
    /// spanning tree state) since [`Switch::forward`] began deciding its
    /// batch: its deliveries then check that their port still forwards.
    egress_changed: bool,
    ports: Vec<Option<PortState>>,
    /// Per port number, [`PortState::hot`] (0 for a free number): kept in
    /// step with `ports` by [`Switch::sync_hot`] after every change of a
    /// port's state, configuration or spanning-tree state.
    hot: Vec<u8>,
    decisions: Vec<Decision>,
    /// (port << 32 | frame index) per delivery of the current batch.
    deliveries: Vec<u64>,
    /// Where [`group_by_port`] puts the deliveries in order.
    grouped: Vec<u64>,
    scratch: Vec<u8>,
    /// The spanning tree, when on.
    stp: Option<Stp>,
    /// A BPDU reached the protocol since [`Switch::run_stp`] last ran.
    bpdu_received: bool,
}

/// Checks the settings that [`Switch::new`] and [`Switch::reconfigure`] take.
fn check_config(config: &SwitchConfig) -> Result<(), ConfigError> {
    GroupForwardMask::new(config.group_forward.bits())?;
    let m = &config.mcast;
    if m.max_groups == 0 || m.max_groups > MAX_GROUPS {
        return Err(ConfigError::Mcast("mcast max-groups", "from 1 to 65535"));
    }
    if m.robustness == 0 || m.robustness > 7 {
        return Err(ConfigError::Mcast("mcast robustness", "from 1 to 7"));
    }
    if m.query_interval < core::time::Duration::from_secs(1)
        || m.query_response.is_zero()
        || m.query_response >= m.query_interval
    {
        return Err(ConfigError::Mcast(
            "mcast query interval/response",
            "an interval of 1 s or more and a response time above 0 and below it",
        ));
    }
    Ok(())
}

impl Switch {
    /// A switch with no ports.
    pub fn new(config: SwitchConfig) -> Result<Switch, ConfigError> {
        check_config(&config)?;
        Ok(Switch {
            config,
            fast: !config.vlan_aware && !config.hub && config.move_guard.is_none(),
            fdb: Fdb::new(config.fdb)?,
            mdb: Mdb::new(config.mcast),
            guard: config.move_guard.map(MoveGuard::new),
            guard_stats: GuardStats::default(),
            next_recovery: u64::MAX,
            egress_changed: false,
            ports: Vec::new(),
            hot: Vec::new(),
            decisions: Vec::with_capacity(FrameBatch::DEFAULT_SIZE),
            deliveries: Vec::with_capacity(FrameBatch::DEFAULT_SIZE * 4),
            // Grown by the first batch that needs it (a switch fed one frame
            // at a time, as the simulator's, never does).
            grouped: Vec::new(),
            scratch: Vec::with_capacity(2048),
            stp: None,
            bpdu_received: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// The MAC table.
    pub fn fdb(&self) -> &Fdb {
        &self.fdb
    }

    /// The MAC table, for static entries and flushes.
    pub fn fdb_mut(&mut self) -> &mut Fdb {
        &mut self.fdb
    }

    /// The multicast group table, router ports and querier state.
    pub fn mdb(&self) -> &Mdb {
        &self.mdb
    }

    /// The multicast snooping state, to drain its events.
    pub fn mdb_mut(&mut self) -> &mut Mdb {
        &mut self.mdb
    }

    /// Totals of the move guard and the ports' MAC limits.
    pub fn guard_stats(&self) -> GuardStats {
        self.guard_stats
    }

    /// Brings the switch to time `now` without a frame: ages the table and ends
    /// port shutdowns that are over. Call it from a timer.
    pub fn advance(&mut self, now: Instant) {
        let t = now.max(self.fdb.clock());
        if t.millis() >= self.next_recovery {
            self.recover(t);
        }
        self.fdb.advance(now);
        if self.config.mcast.snooping {
            self.mdb.expire(now);
        }
        self.end_quiet_storms(t);
    }

    /// Ends the storms that stopped: a port that dropped floods of a kind and
    /// has seen a burst's worth of quiet since (its bucket full again) gets
    /// its [`Event::StormEnd`] now, not only at its next admitted flood.
    fn end_quiet_storms(&mut self, t: Instant) {
        for (i, slot) in self.ports.iter_mut().enumerate() {
            let Some(p) = slot else { continue };
            for kind in STORM_KINDS {
                let k = storm_slot(kind);
                if p.storm_drops[k] > 0 && p.storm.refilled(&p.config.storm, kind, t) {
                    let dropped = core::mem::take(&mut p.storm_drops[k]);
                    let event = Event::StormEnd {
                        port: PortId(i as u16),
                        kind,
                        dropped,
                    };
                    self.fdb.events.record(t, event);
                }
            }
        }
    }

    /// Sends the own querier's queries that are due at `now` (nothing when
    /// snooping or the querier is off): each frame, tagged for the port, to
    /// `tx` with the port it leaves by, and counted as sent or dropped by
    /// the answer. Call it from the same timer as [`Switch::advance`]. On a
    /// VLAN-aware switch it queries every VLAN that is a port's access or
    /// native VLAN or has a group.
    pub fn send_queries(
        &mut self,
        now: Instant,
        mut tx: impl FnMut(PortId, &[u8]) -> Result<(), TxError>,
    ) {
        if !self.config.mcast.snooping || !self.config.mcast.querier {
            return;
        }
        let mut vids: Vec<Vid> = Vec::new();
        if self.config.vlan_aware {
            for p in self.ports.iter().flatten() {
                match &p.config.vlan {
                    VlanMode::Access(v) => vids.push(*v),
                    VlanMode::Trunk {
                        native: Some(v), ..
                    } => vids.push(*v),
                    VlanMode::Trunk { .. } => {}
                }
            }
            vids.extend(self.mdb.groups().map(|g| g.vid));
            vids.sort_unstable();
            vids.dedup();
        } else {
            vids.push(0);
        }
        let mut mdb = core::mem::take(&mut self.mdb);
        let mut scratch = core::mem::take(&mut self.scratch);
        mdb.due_queries(now, &vids, |q: Query<'_>| {
            let d = Decision {
                verdict: Verdict::Flood(FloodKind::Multicast),
                ingress: PortId(u16::MAX),
                vid: q.vid,
                tagged: false,
                remote: None,
            };
            for i in 0..self.ports.len() {
                let id = PortId(i as u16);
                let Some(p) = &self.ports[i] else { continue };
                let wanted = q.port.is_none_or(|only| only == id);
                let vlan_ok = !self.config.vlan_aware || p.config.vlan.admits(q.vid);
                if !p.up || !p.stp_state.forwards() || !wanted || !vlan_ok {
                    continue;
                }
                let bytes = self.egress_frame(id, &d, q.frame, &mut scratch);
                let len = bytes.len() as u64;
                let result = tx(id, bytes);
                if let Some(Some(p)) = self.ports.get_mut(i) {
                    match result {
                        Ok(()) => {
                            p.counters.tx_frames += 1;
                            p.counters.tx_bytes += len;
                        }
                        Err(e) => p.counters.count_drop(e.into()),
                    }
                }
            }
        });
        self.mdb = mdb;
        self.scratch = scratch;
    }

    /// Brings back every port whose shutdown is over at `t`, in the state its
    /// link asks for.
    #[inline(never)]
    fn recover(&mut self, t: Instant) {
        let mut next = u64::MAX;
        for p in self.ports.iter_mut().flatten() {
            match p.shutdown_until {
                Some(until) if until <= t => {
                    p.shutdown_until = None;
                    p.up = p.link_up;
                }
                Some(until) => next = next.min(until.millis()),
                None => {}
            }
        }
        self.next_recovery = next;
        self.sync_hot_all();
    }

    /// Shuts `port` down until `until`: down, its dynamic entries flushed.
    fn shut_down(&mut self, port: PortId, until: Instant) {
        if let Some(Some(p)) = self.ports.get_mut(usize::from(port.0)) {
            p.shutdown_until = Some(until);
            if core::mem::replace(&mut p.up, false) {
                self.record(Event::PortDown(port));
                self.flush_port(port, FlushScope::Dynamic, FlushReason::GuardShutdown);
                self.mdb.flush_port(port);
            }
            self.next_recovery = self.next_recovery.min(until.millis());
            self.sync_hot(port);
        }
    }

    /// Adds a port, up, with the lowest free number.
    pub fn add_port(&mut self, config: PortConfig) -> Result<PortId, ConfigError> {
        let state = PortState {
            config,
            up: true,
            counters: PortCounters::default(),
            shutdown_until: None,
            link_up: true,
            storm: StormBuckets::default(),
            stp_state: StpState::Forwarding,
            storm_drops: [0; 3],
        };
        let id = if let Some(i) = self.ports.iter().position(Option::is_none) {
            self.ports[i] = Some(state);
            PortId(i as u16)
        } else {
            if self.ports.len() > usize::from(u16::MAX) {
                return Err(ConfigError::TooManyPorts);
            }
            self.ports.push(Some(state));
            PortId((self.ports.len() - 1) as u16)
        };
        self.sync_hot(id);
        self.record(Event::PortAdded(id));
        Ok(id)
    }

    /// Removes a port and every FDB entry on it, static ones included.
    pub fn remove_port(&mut self, port: PortId) -> Result<PortState, ConfigError> {
        let state = self
            .ports
            .get_mut(usize::from(port.0))
            .and_then(Option::take)
            .ok_or(ConfigError::NoSuchPort(port))?;
        self.flush_port(port, FlushScope::All, FlushReason::PortRemoved);
        self.record(Event::PortRemoved(port));
        self.mdb.flush_port(port);
        if let Some(stp) = self.stp.as_mut() {
            stp.remove_port(self.fdb.clock(), port);
            self.apply_stp();
        }
        while matches!(self.ports.last(), Some(None)) {
            self.ports.pop();
        }
        self.sync_hot(port);
        Ok(state)
    }

    /// Sets a port up or down. Going down flushes its dynamic entries. A port
    /// the move guard has shut down stays down until its shutdown is over, and
    /// then takes the state last set here.
    pub fn set_port_up(&mut self, port: PortId, up: bool) -> Result<(), ConfigError> {
        let state = self.port_mut(port)?;
        state.link_up = up;
        let up = up && state.shutdown_until.is_none();
        let was_up = core::mem::replace(&mut state.up, up);
        if was_up && !up {
            self.record(Event::PortDown(port));
            self.flush_port(port, FlushScope::Dynamic, FlushReason::PortDown);
            self.mdb.flush_port(port);
        } else if up && !was_up {
            self.record(Event::PortUp(port));
        }
        if let Some(stp) = self.stp.as_mut() {
            stp.set_enabled(self.fdb.clock(), port, up);
            self.apply_stp();
        }
        self.sync_hot(port);
        Ok(())
    }

    /// Changes a port's flags.
    pub fn set_port_flags(&mut self, port: PortId, flags: PortFlags) -> Result<(), ConfigError> {
        self.port_mut(port)?.config.flags = flags;
        self.sync_hot(port);
        Ok(())
    }

    /// Changes a port's VLAN mode; its dynamic entries are flushed.
    pub fn set_port_vlan(&mut self, port: PortId, vlan: VlanMode) -> Result<(), ConfigError> {
        self.port_mut(port)?.config.vlan = vlan;
        self.flush_port(port, FlushScope::Dynamic, FlushReason::VlanChanged);
        Ok(())
    }

    /// Changes a port's whole configuration (a live reload): flags, storm
    /// control (its buckets start over), MAC limit, and the VLAN mode, whose
    /// change flushes the port's dynamic entries as [`Switch::set_port_vlan`]
    /// does. An unchanged configuration changes nothing.
    pub fn set_port_config(&mut self, port: PortId, config: PortConfig) -> Result<(), ConfigError> {
        let state = self.port_mut(port)?;
        if state.config == config {
            return Ok(());
        }
        let vlan_changed = state.config.vlan != config.vlan;
        if state.config.storm != config.storm {
            state.storm = StormBuckets::default();
        }
        state.config = config;
        if vlan_changed {
            self.flush_port(port, FlushScope::Dynamic, FlushReason::VlanChanged);
        }
        self.sync_hot(port);
        Ok(())
    }

    /// Changes the switch's settings while it runs, keeping its ports and its
    /// entries: the table is rebuilt only if its settings changed, keeping
    /// what fits ([`Fdb::rebuilt`]; the hash seed stays), and turning VLAN
    /// awareness on or off flushes the learned entries, whose VLANs meant
    /// something else. A changed move guard starts with no history.
    pub fn reconfigure(&mut self, config: SwitchConfig, now: Instant) -> Result<(), ConfigError> {
        check_config(&config)?;
        let mut config = config;
        config.fdb.hash_seed = self.config.fdb.hash_seed;
        if config.fdb != self.config.fdb {
            let before = self.fdb.len();
            self.fdb = self.fdb.rebuilt(config.fdb, now)?;
            let lost = before.saturating_sub(self.fdb.len());
            if lost > 0 {
                self.record_flush(lost, None, FlushReason::Reconfigured);
            }
        }
        if config.vlan_aware != self.config.vlan_aware {
            let n = self.fdb.flush_all(FlushScope::Dynamic);
            self.record_flush(n, None, FlushReason::Reconfigured);
        }
        if config.move_guard != self.config.move_guard {
            self.guard = config.move_guard.map(MoveGuard::new);
        }
        if config.mcast != self.config.mcast {
            self.mdb.reconfigure(config.mcast);
        }
        self.config = config;
        self.fast = self.fast_allowed();
        Ok(())
    }

    fn fast_allowed(&self) -> bool {
        let c = &self.config;
        !c.vlan_aware && !c.hub && c.move_guard.is_none() && self.stp.is_none()
    }

    /// Turns the spanning tree on with `stp` (its ports added by the caller,
    /// with their addresses), or off with `None`: every port forwards again.
    /// While it is on, BPDUs received go to it and its port states gate
    /// learning and forwarding; call [`Switch::run_stp`] from a timer.
    pub fn set_stp(&mut self, stp: Option<Stp>) {
        self.stp = stp;
        if self.stp.is_some() {
            self.apply_stp();
        } else {
            for p in self.ports.iter_mut().flatten() {
                p.stp_state = StpState::Forwarding;
            }
            self.sync_hot_all();
        }
        self.fast = self.fast_allowed();
    }

    /// The spanning tree, when on.
    pub fn stp(&self) -> Option<&Stp> {
        self.stp.as_ref()
    }

    /// The spanning tree, when on, for settings and ports; changes take effect
    /// on the ports at the next [`Switch::run_stp`].
    pub fn stp_mut(&mut self) -> Option<&mut Stp> {
        self.stp.as_mut()
    }

    /// Runs the spanning tree's timers to `now`, carries its port states and
    /// flushes over to the ports and the table, and hands each BPDU it has to
    /// send to `send` (a whole frame for that port). Nothing when it is off.
    pub fn run_stp(&mut self, now: Instant, mut send: impl FnMut(PortId, &[u8])) {
        self.bpdu_received = false;
        let Some(stp) = self.stp.as_mut() else {
            return;
        };
        stp.tick(now.max(self.fdb.clock()));
        self.apply_stp();
        if let Some(stp) = self.stp.as_mut() {
            stp.drain_transmit(&mut send);
        }
    }

    /// True if a BPDU reached the spanning tree since [`Switch::run_stp`] last
    /// ran: its answer (an agreement, say) is waiting to be sent. An adapter
    /// runs the protocol after a batch only then, and on its timer.
    pub fn bpdu_received(&self) -> bool {
        self.bpdu_received
    }

    /// Copies the spanning tree's port states to the ports and flushes the
    /// dynamic entries it asks to.
    fn apply_stp(&mut self) {
        let Some(stp) = self.stp.as_mut() else {
            return;
        };
        let fdb = &mut self.fdb;
        stp.drain_flushes(|port| {
            let count = fdb.flush_port(port, FlushScope::Dynamic) as u64;
            if count == 0 {
                return;
            }
            let event = Event::Flushed {
                count,
                port: Some(port),
                reason: FlushReason::Topology,
            };
            fdb.events.record(fdb.clock(), event);
        });
        for (i, p) in self.ports.iter_mut().enumerate() {
            if let Some(p) = p {
                p.stp_state = stp.state(PortId(i as u16));
            }
        }
        self.sync_hot_all();
    }

    /// True if `port` is up and forwarding (as far as the spanning tree goes).
    fn forwards(&self, port: PortId) -> bool {
        self.hot
            .get(usize::from(port.0))
            .is_some_and(|&bits| bits & hot::FORWARDS != 0)
    }

    /// Brings `port`'s entry of the dense `hot` array in step with its state
    /// (and the array's length with the ports').
    fn sync_hot(&mut self, port: PortId) {
        self.egress_changed = true;
        self.hot.resize(self.ports.len(), 0);
        if let Some(h) = self.hot.get_mut(usize::from(port.0)) {
            *h = self.ports[usize::from(port.0)]
                .as_ref()
                .map_or(0, PortState::hot);
        }
    }

    /// [`Switch::sync_hot`] for every port.
    fn sync_hot_all(&mut self) {
        self.egress_changed = true;
        self.hot.clear();
        self.hot.extend(
            self.ports
                .iter()
                .map(|p| p.as_ref().map_or(0, PortState::hot)),
        );
    }

    /// Turns the event log on with room for `capacity` events between drains,
    /// or off with 0 ([`crate::events`]). Off (the default), recording costs
    /// one test of a flag.
    pub fn set_event_log(&mut self, capacity: usize) {
        self.fdb.events.set_capacity(capacity);
    }

    /// True while events are recorded.
    pub fn event_log_on(&self) -> bool {
        self.fdb.events.is_on()
    }

    /// Hands every recorded event to `f`, oldest first, ending with an
    /// [`Event::Missed`] if the queue overflowed since the last drain.
    pub fn drain_events(&mut self, f: impl FnMut(Record)) {
        self.fdb.events.drain(f);
    }

    /// Flushes the dynamic entries of `port`, or of every port, at someone's
    /// request (one [`Event::Flushed`]); returns how many went.
    pub fn flush(&mut self, port: Option<PortId>) -> usize {
        match port {
            Some(p) => self.flush_port(p, FlushScope::Dynamic, FlushReason::Command),
            None => {
                let n = self.fdb.flush_all(FlushScope::Dynamic);
                self.record_flush(n, None, FlushReason::Command);
                n
            }
        }
    }

    fn record(&mut self, event: Event) {
        let now = self.fdb.clock();
        self.fdb.events.record(now, event);
    }

    /// Records a flush; one that removed nothing is worth an event only when
    /// someone asked for it.
    fn record_flush(&mut self, count: usize, port: Option<PortId>, reason: FlushReason) {
        if count == 0 && reason != FlushReason::Command {
            return;
        }
        let count = count as u64;
        self.record(Event::Flushed {
            count,
            port,
            reason,
        });
    }

    /// Flushes `port`'s entries of `scope` and records why.
    fn flush_port(&mut self, port: PortId, scope: FlushScope, reason: FlushReason) -> usize {
        let n = self.fdb.flush_port(port, scope);
        self.record_flush(n, Some(port), reason);
        n
    }

    fn port_mut(&mut self, port: PortId) -> Result<&mut PortState, ConfigError> {
        self.ports
            .get_mut(usize::from(port.0))
            .and_then(Option::as_mut)
            .ok_or(ConfigError::NoSuchPort(port))
    }

    /// One port's state.
    pub fn port(&self, port: PortId) -> Option<&PortState> {
        self.ports.get(usize::from(port.0)).and_then(Option::as_ref)
    }

    /// Every port, in number order.
    pub fn ports(&self) -> impl Iterator<Item = (PortId, &PortState)> + '_ {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (PortId(i as u16), p)))
    }

    /// A copy of the switch with `fdb` for its table: everything else (ports,
    /// protections, group table, spanning tree) copied, the scratch space
    /// of a batch left empty. For [`Switch::explain`].
    pub(crate) fn copy_with_fdb(&self, fdb: Fdb) -> Switch {
        Switch {
            config: self.config,
            fast: self.fast,
            fdb,
            mdb: self.mdb.clone(),
            guard: self.guard.clone(),
            guard_stats: self.guard_stats,
            next_recovery: self.next_recovery,
            egress_changed: self.egress_changed,
            ports: self.ports.clone(),
            hot: self.hot.clone(),
            decisions: Vec::new(),
            deliveries: Vec::new(),
            grouped: Vec::new(),
            scratch: Vec::new(),
            stp: self.stp.clone(),
            bpdu_received: self.bpdu_received,
        }
    }

    /// Decides what to do with `frame`, received on `ingress` at `now`: counts
    /// it, learns from it and returns the decision. Never panics.
    pub fn decide(&mut self, now: Instant, ingress: PortId, frame: &[u8]) -> Decision {
        self.decide_from(now, ingress, None, frame)
    }

    /// Decides as [`Switch::decide`] does on a frame that a tunnel port
    /// received from remote endpoint `remote`, which its source is learned
    /// with.
    pub fn decide_from(
        &mut self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        frame: &[u8],
    ) -> Decision {
        if let Some(d) = self.fast_unicast(now, ingress, remote, frame) {
            return d;
        }
        self.decide_general(now, ingress, remote, frame)
    }

    /// [`Switch::decide_from`] for a frame the fast path did not take: kept
    /// out of line, so that a batch's loop ([`Switch::forward`]) holds the
    /// fast path inline and calls this only for the other frames.
    #[inline(never)]
    fn decide_general(
        &mut self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        frame: &[u8],
    ) -> Decision {
        if now.max(self.fdb.clock()).millis() >= self.next_recovery {
            self.recover(now.max(self.fdb.clock()));
        }
        let mut d = Decision {
            verdict: Verdict::Drop(DropReason::IngressDown),
            ingress,
            vid: 0,
            tagged: false,
            remote: None,
        };
        let Some(Some(port)) = self.ports.get_mut(usize::from(ingress.0)) else {
            return d; // not a port of this switch: nothing to count on
        };
        port.counters.rx_frames += 1;
        port.counters.rx_bytes += frame.len() as u64;
        d.verdict = self.verdict(now, ingress, remote, frame, &mut d);
        let counters = &mut self.ports[usize::from(ingress.0)]
            .as_mut()
            .expect("checked above")
            .counters;
        match d.verdict {
            Verdict::Unicast(_) => counters.unicast += 1,
            Verdict::Flood(FloodKind::UnknownUnicast) => counters.unknown_unicast += 1,
            Verdict::Flood(_) => counters.flood += 1,
            Verdict::Group(_) => counters.snooped += 1,
            Verdict::Drop(reason) => counters.count_drop(reason),
        }
        d
    }

    /// The fast path for the commonest frame of a VLAN-unaware switch: known
    /// unicast from a host already learned on its ingress port to a host on
    /// another port that is up. Gives exactly what the general path would; for
    /// any other frame it returns `None` having changed nothing but the table's
    /// time (which the general path advances anyway).
    ///
    /// Storm control never limits known unicast, and a port's MAC limit only
    /// acts on MACs new to the port, which this path never learns. The move
    /// guard (whose port shutdowns end with time) sends every frame the general
    /// way, and so does a shutdown it made that is still pending after it was
    /// turned off.
    #[inline(always)]
    fn fast_unicast(
        &mut self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        frame: &[u8],
    ) -> Option<Decision> {
        if !self.fast_from(ingress) {
            return None;
        }
        let d = self.fast_decide(now, ingress, remote, frame)?;
        self.count_fast_rx(ingress, 1, frame.len() as u64);
        Some(d)
    }

    /// Whether frames received on `ingress` may take the fast path: the
    /// switch allows it, no port shutdown is pending (one the move guard made
    /// before it was turned off ends on the general path), and the port is
    /// up and learning. Within a batch only the general path changes that;
    /// configuration calls change it between batches.
    #[inline(always)]
    fn fast_from(&self, ingress: PortId) -> bool {
        self.fast
            && self.next_recovery == u64::MAX
            && self
                .ports
                .get(usize::from(ingress.0))
                .and_then(Option::as_ref)
                .is_some_and(|p| p.up && p.config.flags.learning)
    }

    /// Counts `frames` frames of `bytes` bytes that the fast path decided
    /// (all of them known unicast) as received on `ingress`.
    #[inline(always)]
    fn count_fast_rx(&mut self, ingress: PortId, frames: u64, bytes: u64) {
        if let Some(Some(p)) = self.ports.get_mut(usize::from(ingress.0)) {
            let counters = &mut p.counters;
            counters.rx_frames += frames;
            counters.rx_bytes += bytes;
            counters.unicast += frames;
        }
    }

    /// [`Switch::fast_unicast`]'s decision, for a frame from a port that
    /// [`Switch::fast_from`] allows: it counts nothing on the ingress port
    /// (the caller does).
    #[inline(always)]
    fn fast_decide(
        &mut self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        frame: &[u8],
    ) -> Option<Decision> {
        // One length check for the twelve address bytes, not one per byte.
        let h: &[u8; 12] = frame.get(..12)?.try_into().ok()?;
        let dst = u64::from_be_bytes([0, 0, h[0], h[1], h[2], h[3], h[4], h[5]]);
        let src = u64::from_be_bytes([0, 0, h[6], h[7], h[8], h[9], h[10], h[11]]);
        // Both unicast (so not link-local either), and a valid source.
        if frame.len() < ETHERNET_HEADER_LEN || (dst | src) & GROUP_BIT != 0 || src == 0 {
            return None;
        }
        self.fdb.advance(now);
        let (at, out, to) = self.fdb.get_dest(fdb_key(0, dst))?;
        if out == ingress || !self.ports.get(usize::from(out.0))?.as_ref()?.up {
            return None;
        }
        if !self.fdb.refresh_if_on(fdb_key(0, src), ingress, remote) {
            return None;
        }
        self.fdb.count_hit(at);
        Some(Decision {
            verdict: Verdict::Unicast(out),
            ingress,
            vid: 0,
            tagged: false,
            remote: to,
        })
    }

    #[inline]
    fn verdict(
        &mut self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        frame: &[u8],
        d: &mut Decision,
    ) -> Verdict {
        let port = self.ports[usize::from(ingress.0)]
            .as_ref()
            .expect("checked by decide");
        if !port.up {
            return Verdict::Drop(DropReason::IngressDown);
        }
        let Ok(eth) = Ethernet2HeaderSlice::from_slice(frame) else {
            return Verdict::Drop(DropReason::Runt);
        };
        if self.config.hub {
            return Verdict::Flood(FloodKind::Hub);
        }
        // The addresses as 48-bit integers are all a VLAN-unaware switch needs;
        // tags are parsed only on a VLAN-aware one.
        let h = eth.slice();
        let dst = u64::from_be_bytes([0, 0, h[0], h[1], h[2], h[3], h[4], h[5]]);
        let src = u64::from_be_bytes([0, 0, h[6], h[7], h[8], h[9], h[10], h[11]]);
        if src & GROUP_BIT != 0 || src == 0 {
            return Verdict::Drop(DropReason::BadSource);
        }
        if self.config.vlan_aware {
            let Ok(info) = FrameInfo::parse(frame) else {
                return Verdict::Drop(DropReason::Runt);
            };
            if info.truncated_tag && info.tags[0].is_none() && info.ethertype == TPID_8021Q {
                return Verdict::Drop(DropReason::Runt);
            }
            match port.config.vlan.ingress_vid(&info) {
                Some(vid) => d.vid = vid,
                None => return Verdict::Drop(DropReason::VlanIngress),
            }
            d.tagged = info.dot1q_tag().is_some();
        }
        // IEEE link-local frames are learned from, then dropped unless the
        // mask forwards them, as in the Linux bridge; PAUSE, a MAC control
        // frame, is dropped before it can teach anything.
        if dst == PAUSE {
            return Verdict::Drop(DropReason::LinkLocal);
        }
        let gate = port.stp_state;
        if self.stp.is_some() {
            if dst == STP_GROUP {
                // With spanning tree on, BPDUs go to the protocol, on any port
                // state, and teach the table nothing.
                if let Some(stp) = self.stp.as_mut() {
                    stp.receive(now, ingress, frame);
                    self.bpdu_received = true;
                }
                self.apply_stp();
                self.fdb.advance(now);
                return Verdict::Drop(DropReason::LinkLocal);
            }
            if gate == StpState::Discarding {
                self.fdb.advance(now);
                return Verdict::Drop(DropReason::Blocked);
            }
        }
        let filtered =
            dst >> 4 == LINK_LOCAL_PREFIX && !self.config.group_forward.forwards((dst & 0xf) as u8);
        // Split horizon: a tunnel port never takes back what it brought in.
        let hairpin = port.config.flags.hairpin && !port.config.tunnel;
        let storm = port.config.storm;
        let limit = port.config.mac_limit;
        if port.config.flags.learning {
            let key = fdb_key(d.vid, src);
            if self.guard.is_none() && limit.is_none() {
                let _: Learned = self.fdb.learn_key(now, key, ingress, remote);
            } else if let Some(reason) = self.learn_guarded(now, ingress, remote, key, limit) {
                return Verdict::Drop(reason);
            }
        } else {
            self.fdb.advance(now);
        }
        if filtered {
            return Verdict::Drop(DropReason::LinkLocal);
        }
        if gate == StpState::Learning {
            return Verdict::Drop(DropReason::Blocked);
        }
        if dst & GROUP_BIT != 0 && dst != BROADCAST && self.config.mcast.snooping {
            return self.snoop(now, ingress, frame, d, &storm);
        }
        if dst & GROUP_BIT != 0 {
            let kind = if dst == BROADCAST {
                FloodKind::Broadcast
            } else {
                FloodKind::Multicast
            };
            return self.flood(ingress, kind, &storm);
        }
        match self.fdb.get_dest(fdb_key(d.vid, dst)) {
            None => self.flood(ingress, FloodKind::UnknownUnicast, &storm),
            Some((_, out, _)) if out == ingress && !hairpin => Verdict::Drop(DropReason::SamePort),
            Some((at, out, to)) => match self.port(out) {
                Some(p) if !p.up => Verdict::Drop(DropReason::EgressDown),
                Some(p) if !p.stp_state.forwards() => Verdict::Drop(DropReason::Blocked),
                Some(p) if self.config.vlan_aware && !p.config.vlan.admits(d.vid) => {
                    Verdict::Drop(DropReason::VlanEgress)
                }
                Some(_) => {
                    self.fdb.count_hit(at);
                    d.remote = to;
                    Verdict::Unicast(out)
                }
                None => Verdict::Drop(DropReason::EgressDown),
            },
        }
    }

    /// Learning with the move guard or a MAC limit in the way: the port's MAC
    /// limit first (a MAC new to a full port is not learned, nor is its move
    /// counted), then the guard for a move of a dynamic entry. Returns the drop
    /// reason when the frame must go.
    #[inline(never)]
    fn learn_guarded(
        &mut self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        key: u64,
        limit: Option<MacLimit>,
    ) -> Option<DropReason> {
        self.fdb.advance(now);
        let t = self.fdb.clock();
        let current = self.fdb.get_entry(key);
        let learns = !self.fdb.config().aging_time.is_zero();
        let new_here = match current {
            None => learns,
            Some((port, is_static)) => !is_static && port != ingress,
        };
        let Some(Some(port)) = self.ports.get_mut(usize::from(ingress.0)) else {
            return None; // checked by decide
        };
        let counters = &mut port.counters;
        if let (true, Some(limit)) = (new_here, limit) {
            if self.fdb.port_len(ingress) >= limit.max as usize {
                self.guard_stats.mac_limit_refused += 1;
                counters.mac_limit_refused += 1;
                let (vid, mac) = key_parts(key);
                let event = Event::MacLimit {
                    vid,
                    mac,
                    port: ingress,
                };
                self.fdb.events.record(t, event);
                return match limit.action {
                    MacLimitAction::NoLearn => None,
                    MacLimitAction::Drop => Some(DropReason::MacLimit),
                };
            }
        }
        if let (Some(guard), Some((from, false))) = (self.guard.as_mut(), current) {
            if from != ingress {
                match guard.on_move(t, key) {
                    MoveCheck::Allow => {}
                    MoveCheck::Held => {
                        self.guard_stats.moves_blocked += 1;
                        counters.moves_blocked += 1;
                        return None;
                    }
                    MoveCheck::Trigger => match guard.config().action {
                        GuardAction::HoldDown => {
                            self.guard_stats.hold_downs += 1;
                            self.guard_stats.moves_blocked += 1;
                            counters.hold_downs += 1;
                            counters.moves_blocked += 1;
                            let (vid, mac) = key_parts(key);
                            let event = Event::HoldDown {
                                vid,
                                mac,
                                port: from,
                                to: ingress,
                            };
                            self.fdb.events.record(t, event);
                            return None;
                        }
                        GuardAction::Shutdown => {
                            let until = guard.hold_end(t);
                            self.guard_stats.shutdowns += 1;
                            counters.guard_shutdowns += 1;
                            let event = Event::GuardShutdown {
                                port: ingress,
                                mac: key_parts(key).1,
                                until,
                            };
                            self.fdb.events.record(t, event);
                            self.shut_down(ingress, until);
                            return Some(DropReason::MoveGuard);
                        }
                    },
                }
            }
        }
        let _: Learned = self.fdb.learn_key(now, key, ingress, remote);
        None
    }

    /// The decision on a multicast frame with snooping on: membership
    /// messages update the group table (and go to router ports, or
    /// everywhere for queries), data goes where the table says.
    #[inline(never)]
    fn snoop(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        d: &Decision,
        storm: &StormControl,
    ) -> Verdict {
        // The IP header follows the ethertype, after the 802.1Q tag the
        // switch acted on; on a VLAN-unaware switch a tagged frame is not IP.
        let at = if d.tagged {
            ETHERTYPE_OFFSET + VLAN_TAG_LEN
        } else {
            ETHERTYPE_OFFSET
        };
        let packet = match (be16(frame, at), frame.get(at + 2..)) {
            (Some(ethertype), Some(l3)) => igmp::classify(ethertype, l3),
            _ => igmp::Packet::Other,
        };
        let config = match self.port(ingress) {
            Some(p) => p.config.mcast,
            None => return Verdict::Drop(DropReason::IngressDown),
        };
        match self
            .mdb
            .on_packet(now, ingress, d.vid, config, packet, frame.len())
        {
            Snooped::Flood => self.flood(ingress, FloodKind::Multicast, storm),
            Snooped::To(group) => Verdict::Group(group),
            Snooped::Bad => Verdict::Drop(DropReason::BadIgmp),
        }
    }

    /// Calls `f` for every port a frame of `group` (a [`Verdict::Group`]) in
    /// VLAN `vid` from `ingress` goes to: the group's member ports and the
    /// router ports, that are up, forwarding (spanning tree) and carry the
    /// VLAN, except the ingress port
    /// (unless in hairpin mode). Flood flags do not apply: these ports asked
    /// for the frame.
    pub fn for_each_group_port(
        &self,
        ingress: PortId,
        group: GroupRef,
        vid: Vid,
        mut f: impl FnMut(PortId),
    ) {
        for (i, &bits) in self.hot.iter().enumerate() {
            let id = PortId(i as u16);
            // Split horizon: hairpin never sends a tunnel's frames back in.
            let back_in = bits & hot::BACK_IN != 0;
            if bits & hot::FORWARDS == 0 || (id == ingress && !back_in) {
                continue;
            }
            let Some(Some(p)) = self.ports.get(i) else {
                continue;
            };
            if self.config.vlan_aware && !p.config.vlan.admits(vid) {
                continue;
            }
            let member = group != GroupRef::ROUTERS && self.mdb.has_member(group, id);
            if member || self.mdb.is_router(id, &p.config.mcast) {
                f(id);
            }
        }
    }

    /// A flood of `kind` from `ingress`, unless it is over the port's storm
    /// control rate for the kind.
    #[inline]
    fn flood(&mut self, ingress: PortId, kind: FloodKind, storm: &StormControl) -> Verdict {
        if !storm.is_on() {
            return Verdict::Flood(kind);
        }
        let now = self.fdb.clock();
        if let Some(Some(p)) = self.ports.get_mut(usize::from(ingress.0)) {
            let drops = &mut p.storm_drops[storm_slot(kind)];
            if !p.storm.admit(storm, kind, now) {
                *drops += 1;
                if *drops == 1 {
                    let event = Event::StormStart {
                        port: ingress,
                        kind,
                    };
                    self.fdb.events.record(now, event);
                }
                return Verdict::Drop(DropReason::Storm);
            }
            let dropped = core::mem::take(drops);
            if dropped > 0 {
                let event = Event::StormEnd {
                    port: ingress,
                    kind,
                    dropped,
                };
                self.fdb.events.record(now, event);
            }
        }
        Verdict::Flood(kind)
    }

    /// Calls `f` for every port a flood of `kind` in VLAN `vid` from `ingress`
    /// goes to: ports that are up, carry the VLAN, have the flood flag for `kind`,
    /// and are not the ingress port (unless it is in hairpin mode, as in Linux,
    /// and not a tunnel port). In hub mode: every other port that is up.
    pub fn for_each_flood_port(
        &self,
        ingress: PortId,
        kind: FloodKind,
        vid: Vid,
        mut f: impl FnMut(PortId),
    ) {
        // The flags the kind needs besides forwarding; a hub floods to
        // every port that forwards but the ingress.
        let need = hot::FORWARDS
            | match kind {
                FloodKind::Hub => 0,
                FloodKind::Broadcast => hot::BROADCAST,
                FloodKind::Multicast => hot::MULTICAST,
                FloodKind::UnknownUnicast => hot::UNKNOWN,
            };
        let vlans = kind != FloodKind::Hub && self.config.vlan_aware;
        for (i, &bits) in self.hot.iter().enumerate() {
            let id = PortId(i as u16);
            if bits & need != need {
                continue;
            }
            // Split horizon: hairpin never sends a tunnel's frames back in.
            let back_in = kind != FloodKind::Hub && bits & hot::BACK_IN != 0;
            if id == ingress && !back_in {
                continue;
            }
            if vlans && !self.port(id).is_some_and(|p| p.config.vlan.admits(vid)) {
                continue;
            }
            f(id);
        }
    }

    /// Calls `f` for every port the decision sends the frame to.
    pub fn for_each_egress(&self, d: &Decision, mut f: impl FnMut(PortId)) {
        match d.verdict {
            Verdict::Unicast(p) => f(p),
            Verdict::Flood(kind) => self.for_each_flood_port(d.ingress, kind, d.vid, f),
            Verdict::Group(g) => self.for_each_group_port(d.ingress, g, d.vid, f),
            Verdict::Drop(_) => {}
        }
    }

    /// The bytes of `frame` as they leave `port`: on a VLAN-aware switch the
    /// 802.1Q tag is pushed, popped or rewritten for the port's mode. Uses
    /// `scratch` only when the frame changes.
    #[inline]
    pub fn egress_frame<'a>(
        &self,
        port: PortId,
        d: &Decision,
        frame: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        // The common case first: a VLAN-unaware switch sends frames unchanged.
        if !self.config.vlan_aware || self.config.hub {
            return frame;
        }
        let Some(p) = self.port(port) else {
            return frame;
        };
        retag(&p.config.vlan, d, frame, scratch)
    }

    /// Decides a whole batch received on `ingress`, then delivers it grouped by
    /// destination port through `tx`, one [`Egress`] per frame and port, and
    /// returns the decisions in frame order. Counts what `tx` says the port
    /// took as sent, and what it refuses as dropped. A port that stopped
    /// forwarding while the batch was decided (a frame of it made the move
    /// guard shut the port down, or a BPDU in it made the spanning tree
    /// discard there) is not handed the frames decided for it earlier: they
    /// are dropped as [`DropReason::TxDown`] on that port. Allocates nothing once its
    /// buffers have grown to the working size.
    pub fn forward<M: Copy>(
        &mut self,
        now: Instant,
        ingress: PortId,
        batch: &FrameBatch<M>,
        mut tx: impl FnMut(Egress<'_, M>) -> Result<(), TxError>,
    ) -> &[Decision] {
        let mut decisions = core::mem::take(&mut self.decisions);
        let mut deliveries = core::mem::take(&mut self.deliveries);
        let mut scratch = core::mem::take(&mut self.scratch);
        decisions.clear();
        deliveries.clear();
        self.warm(batch);
        self.egress_changed = false;
        // The fast path inline here, whether the ingress port allows it asked
        // again only after a frame of the general path, and the frames it
        // decides counted on the ingress port together, before any frame of
        // the general path and at the end; other frames take the general path.
        let mut fast = self.fast_from(ingress);
        let (mut fast_frames, mut fast_bytes) = (0, 0);
        for (i, (frame, remote)) in batch.iter_with_remote().enumerate() {
            let decided = if fast {
                self.fast_decide(now, ingress, remote, frame)
            } else {
                None
            };
            let d = match decided {
                Some(d) => {
                    fast_frames += 1;
                    fast_bytes += frame.len() as u64;
                    d
                }
                None => {
                    if fast_frames != 0 {
                        self.count_fast_rx(ingress, fast_frames, fast_bytes);
                        (fast_frames, fast_bytes) = (0, 0);
                    }
                    let d = self.decide_general(now, ingress, remote, frame);
                    fast = self.fast_from(ingress);
                    d
                }
            };
            decisions.push(d);
            self.for_each_egress(&d, |out| deliveries.push(u64::from(out.0) << 32 | i as u64));
        }
        if fast_frames != 0 {
            self.count_fast_rx(ingress, fast_frames, fast_bytes);
        }
        // Grouped by port, each port's frames in arrival order.
        group_by_port(&mut deliveries, &mut self.grouped);
        for &delivery in &deliveries {
            let (out, i) = (PortId((delivery >> 32) as u16), delivery as u32 as usize);
            // A port that stopped forwarding after a frame was decided for it
            // (the move guard shut it down, the spanning tree made it
            // discard) is sent nothing more: the frame is dropped at
            // transmit, as `tx-down`.
            if self.egress_changed && !self.forwards(out) {
                if let Some(Some(p)) = self.ports.get_mut(usize::from(out.0)) {
                    p.counters.count_drop(DropReason::TxDown);
                }
                continue;
            }
            let (frame, meta) = (batch.get(i), batch.meta(i));
            self.deliver(out, i, frame, meta, &decisions[i], &mut scratch, &mut tx);
        }
        self.decisions = decisions;
        self.deliveries = deliveries;
        self.scratch = scratch;
        &self.decisions
    }

    /// Decides one frame received on `ingress` and delivers it through `tx`,
    /// as [`Switch::forward`] does a batch of one: for an adapter that
    /// delivers frames one at a time (the simulator, a pcap replay).
    pub fn forward_one(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        tx: impl FnMut(Egress<'_>) -> Result<(), TxError>,
    ) -> Decision {
        self.forward_one_from(now, ingress, None, frame, tx)
    }

    /// [`Switch::forward_one`] for a frame that a tunnel port received from
    /// remote endpoint `remote` (learned with its source, as
    /// [`Switch::decide_from`] does).
    pub fn forward_one_from(
        &mut self,
        now: Instant,
        ingress: PortId,
        remote: Option<RemoteId>,
        frame: &[u8],
        mut tx: impl FnMut(Egress<'_>) -> Result<(), TxError>,
    ) -> Decision {
        let d = self.decide_from(now, ingress, remote, frame);
        let mut outs = core::mem::take(&mut self.deliveries);
        let mut scratch = core::mem::take(&mut self.scratch);
        outs.clear();
        // In port order, as the batch's deliveries are.
        self.for_each_egress(&d, |out| outs.push(u64::from(out.0)));
        for (n, &out) in outs.iter().enumerate() {
            // A flood counts on every port, whose states have left the
            // cache in a big network: ask for the ones a few ports on now.
            // (The slot, not its contents: reading its tag would wait.)
            if let Some(slot) = outs
                .get(n + PREFETCH_PORTS)
                .and_then(|&o| self.ports.get(o as usize))
            {
                prefetch(slot);
            }
            self.deliver(PortId(out as u16), 0, frame, (), &d, &mut scratch, &mut tx);
        }
        self.deliveries = outs;
        self.scratch = scratch;
        d
    }

    /// Hands frame `index` to `tx` for port `out` and counts the answer.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn deliver<M: Copy>(
        &mut self,
        out: PortId,
        index: usize,
        frame: &[u8],
        meta: M,
        decision: &Decision,
        scratch: &mut Vec<u8>,
        tx: &mut impl FnMut(Egress<'_, M>) -> Result<(), TxError>,
    ) {
        let bytes = self.egress_frame(out, decision, frame, scratch);
        let len = bytes.len() as u64;
        let result = tx(Egress {
            port: out,
            index,
            frame: bytes,
            meta,
            decision,
        });
        if let Some(Some(p)) = self.ports.get_mut(usize::from(out.0)) {
            match result {
                Ok(()) => {
                    p.counters.tx_frames += 1;
                    p.counters.tx_bytes += len;
                }
                Err(e) => p.counters.count_drop(e.into()),
            }
        }
    }

    /// Counts what `port`'s device did outside the core's sight: receive-queue
    /// overflows (`rx-full`), unreadable frames (`rx_errors`), and frames its
    /// send had accepted that the device refused on a later flush: those were
    /// not sent after all, so they move from `tx_frames`/`tx_bytes` to
    /// `tx-full`. An adapter that queues frames calls this after each flush;
    /// the counters are then exact, with nothing to correct when they are read.
    pub fn count_device(&mut self, port: PortId, counts: DeviceCounts) {
        let Some(Some(p)) = self.ports.get_mut(usize::from(port.0)) else {
            return;
        };
        let c = &mut p.counters;
        c.rx_errors += counts.rx_errors;
        c.count_drops(DropReason::RxFull, counts.rx_full);
        c.count_drops(DropReason::TxFull, counts.tx_refused);
        c.tx_frames = c.tx_frames.saturating_sub(counts.tx_refused);
        c.tx_bytes = c.tx_bytes.saturating_sub(counts.tx_refused_bytes);
    }

    /// Prefetches the FDB lines the batch's decisions will touch, before
    /// deciding anything ([`Fdb::prefetch_batch`]). Only worth it once the
    /// table has outgrown the CPU's caches; a small table is already there.
    fn warm<M: Copy>(&self, batch: &FrameBatch<M>) {
        if self.fdb.len() < WARM_THRESHOLD || self.config.vlan_aware || self.config.hub {
            return;
        }
        let mut pairs = [(0u64, 0u64); PREFETCH_BATCH];
        let mut n = 0;
        for f in batch.iter() {
            let Some(h) = f.get(..12) else { continue };
            let dst = u64::from_be_bytes([0, 0, h[0], h[1], h[2], h[3], h[4], h[5]]);
            let src = u64::from_be_bytes([0, 0, h[6], h[7], h[8], h[9], h[10], h[11]]);
            pairs[n] = (fdb_key(0, dst), fdb_key(0, src));
            n += 1;
            if n == PREFETCH_BATCH {
                self.fdb.prefetch_batch(&pairs);
                n = 0;
            }
        }
        self.fdb.prefetch_batch(&pairs[..n]);
    }
}

/// Puts `deliveries` (`port << 32 | frame index`, pushed in frame order, no
/// two the same) in the order of `sort_unstable`: by port, each port's frames
/// in frame order. Where every port number is below 64, the common case, they
/// are counted into place through `spare` (which then holds the old order)
/// instead of compared: a pass to count each port's deliveries, one to put
/// them in place, none when they are in order already (a batch to one port).
/// Otherwise they are sorted.
fn group_by_port(deliveries: &mut Vec<u64>, spare: &mut Vec<u64>) {
    const PORTS: usize = 64;
    if u32::try_from(deliveries.len()).is_err() {
        // More than the counts below hold.
        deliveries.sort_unstable();
        return;
    }
    let mut next = [0u32; PORTS];
    let mut present = 0u64;
    let mut last = 0;
    let mut in_order = true;
    for &d in deliveries.iter() {
        let port = (d >> 32) as usize;
        if port >= PORTS {
            deliveries.sort_unstable();
            return;
        }
        next[port] += 1;
        present |= 1 << port;
        in_order &= d >= last;
        last = d;
    }
    if in_order {
        return;
    }
    // Each port's first place: after the deliveries of every lower port.
    let mut at = 0;
    while present != 0 {
        let port = present.trailing_zeros() as usize;
        present &= present - 1;
        let count = next[port];
        next[port] = at;
        at += count;
    }
    // Every place is written below: what `spare` held (the batch before
    // last's order) needs no clearing, only the length.
    spare.resize(deliveries.len(), 0);
    for &d in deliveries.iter() {
        let n = &mut next[(d >> 32) as usize % PORTS];
        if let Some(slot) = spare.get_mut(*n as usize) {
            *slot = d;
        }
        *n += 1;
    }
    core::mem::swap(deliveries, spare);
}

/// The flood kinds storm control limits.
const STORM_KINDS: [FloodKind; 3] = [
    FloodKind::Broadcast,
    FloodKind::Multicast,
    FloodKind::UnknownUnicast,
];

/// Where a flood kind's count is in [`PortState`]'s `storm_drops`.
fn storm_slot(kind: FloodKind) -> usize {
    match kind {
        FloodKind::Broadcast => 0,
        FloodKind::Multicast => 1,
        _ => 2,
    }
}

/// The VLAN and MAC of an FDB key.
fn key_parts(key: u64) -> (Vid, crate::mac::MacAddr) {
    (
        (key & 0x0fff) as Vid,
        crate::mac::MacAddr::from_u64(key >> 12),
    )
}

/// Rewrites the outer 802.1Q tag of `frame` for a port in `mode`.
fn retag<'a>(mode: &VlanMode, d: &Decision, frame: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    let want_tag = mode.egress_tagged(d.vid);
    let tag_at = ETHERTYPE_OFFSET;
    match (d.tagged, want_tag) {
        (false, false) => frame,
        (true, true) => {
            let tci = u16::from_be_bytes([frame[tag_at + 2], frame[tag_at + 3]]);
            if tci & 0x0fff == d.vid {
                return frame;
            }
            // Priority-tagged (vid 0) frame: keep its PCP, set the VLAN.
            scratch.clear();
            scratch.extend_from_slice(frame);
            let tci = (tci & 0xf000) | d.vid;
            scratch[tag_at + 2..tag_at + 4].copy_from_slice(&tci.to_be_bytes());
            scratch
        }
        (true, false) => {
            scratch.clear();
            scratch.extend_from_slice(&frame[..tag_at]);
            scratch.extend_from_slice(&frame[tag_at + VLAN_TAG_LEN..]);
            scratch
        }
        (false, true) => {
            scratch.clear();
            scratch.extend_from_slice(&frame[..tag_at]);
            scratch.extend_from_slice(&TPID_8021Q.to_be_bytes());
            scratch.extend_from_slice(&d.vid.to_be_bytes());
            scratch.extend_from_slice(&frame[tag_at..]);
            scratch
        }
    }
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field("config", &self.config)
            .field("ports", &self.ports().count())
            .field("fdb", &self.fdb)
            .finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::fdb::{EvictionPolicy, FdbEntry};
    use crate::mac::MacAddr;
    use crate::port::MacLimit;
    use crate::storm::StormControl;
    use crate::vlan::VlanSet;
    use alloc::string::ToString;
    use alloc::vec;
    use core::time::Duration;

    const H1: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    const H2: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
    const H3: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x03];

    proptest::proptest! {
        /// Counting the deliveries into place orders them as sorting does,
        /// for batches to one port, a few and many (floods).
        #[test]
        fn grouping_by_port_is_sorting(
            frames in proptest::collection::vec(
                proptest::collection::btree_set(proptest::prop_oneof![0u64..8, 60u64..70], 0..5), 0..40),
            reversed in proptest::bool::ANY,
        ) {
            let mut deliveries = Vec::new();
            for (i, outs) in frames.iter().enumerate() {
                let mut outs: Vec<u64> = outs.iter().copied().collect();
                if reversed {
                    outs.reverse();
                }
                deliveries.extend(outs.iter().map(|&p| p << 32 | i as u64));
            }
            let mut sorted = deliveries.clone();
            sorted.sort_unstable();
            let mut spare = vec![7; 3];
            group_by_port(&mut deliveries, &mut spare);
            proptest::prop_assert_eq!(deliveries, sorted);
        }
    }

    const BROADCAST: [u8; 6] = [0xff; 6];
    const MDNS_GROUP: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
    const ARP: [u8; 2] = [0x08, 0x06];
    const IPV4: [u8; 2] = [0x08, 0x00];
    /// The first bytes of an ARP and of an IPv4 header.
    const ARP_BODY: [u8; 4] = [0x00, 0x01, 0x08, 0x00];
    const IPV4_BODY: [u8; 4] = [0x45, 0x00, 0x00, 0x14];

    /// An untagged frame: addresses, ethertype, the first 4 bytes after it.
    const fn untagged(dst: [u8; 6], src: [u8; 6], ethertype: [u8; 2], body: [u8; 4]) -> [u8; 18] {
        let mut f = [0u8; 18];
        let mut i = 0;
        while i < 6 {
            f[i] = dst[i];
            f[6 + i] = src[i];
            i += 1;
        }
        f[12] = ethertype[0];
        f[13] = ethertype[1];
        let mut i = 0;
        while i < 4 {
            f[14 + i] = body[i];
            i += 1;
        }
        f
    }

    /// ARP requests from H1 and H2 to broadcast.
    const ARP_H1: [u8; 18] = untagged(BROADCAST, H1, ARP, ARP_BODY);
    const ARP_H2: [u8; 18] = untagged(BROADCAST, H2, ARP, ARP_BODY);
    /// IPv4 between hosts.
    const H2_TO_H1: [u8; 18] = untagged(H1, H2, IPV4, IPV4_BODY);
    const H1_TO_H2: [u8; 18] = untagged(H2, H1, IPV4, IPV4_BODY);
    const H1_TO_H3: [u8; 18] = untagged(H3, H1, IPV4, IPV4_BODY);
    /// mDNS from H1 to 01:00:5e:00:00:fb.
    const MDNS_H1: [u8; 18] = untagged(MDNS_GROUP, H1, IPV4, IPV4_BODY);
    /// H1 to broadcast in 802.1Q VLAN 10, priority 5.
    const ARP_H1_VID10: [u8; 22] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src: H1
        0x81, 0x00, 0xa0, 0x0a, // 802.1Q, pcp 5, vid 10
        0x08, 0x06, // ARP
        0x00, 0x01, 0x08, 0x00,
    ];
    /// H1 to broadcast, priority-tagged (802.1Q vid 0, priority 3).
    const ARP_H1_PRIO: [u8; 22] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src: H1
        0x81, 0x00, 0x60, 0x00, // 802.1Q, pcp 3, vid 0
        0x08, 0x06, // ARP
        0x00, 0x01, 0x08, 0x00,
    ];
    /// H1 to broadcast with an 802.1ad outer tag (S-VLAN 100) and an inner
    /// 802.1Q tag (C-VLAN 20): QinQ.
    const QINQ_H1: [u8; 26] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src: H1
        0x88, 0xa8, 0x00, 0x64, // 802.1ad, vid 100
        0x81, 0x00, 0x00, 0x14, // 802.1Q, vid 20
        0x08, 0x06, // ARP
        0x00, 0x01, 0x08, 0x00,
    ];
    /// H1 to broadcast announcing an 802.1Q tag cut off after two bytes.
    const CUT_TAG_H1: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src: H1
        0x81, 0x00, 0x00, 0x0a, // 802.1Q, TCI, then nothing
    ];

    const T0: Instant = Instant::ZERO;

    fn switch(config: SwitchConfig, ports: usize) -> Switch {
        let mut sw = Switch::new(config).unwrap();
        for i in 0..ports {
            assert_eq!(sw.add_port(PortConfig::default()), Ok(PortId(i as u16)));
        }
        sw
    }

    /// The ports a flood goes to, worked out from the port states as the
    /// flood loop did before it read the dense byte per port.
    fn flood_ports_from_states(sw: &Switch, ingress: PortId, kind: FloodKind) -> Vec<PortId> {
        sw.ports()
            .filter(|&(id, p)| {
                let flags = &p.config.flags;
                let wanted = match kind {
                    FloodKind::Hub => id != ingress,
                    FloodKind::Broadcast => flags.flood_broadcast,
                    FloodKind::Multicast => flags.flood_multicast,
                    FloodKind::UnknownUnicast => flags.flood_unknown,
                };
                let back_in = flags.hairpin && !p.config.tunnel;
                p.up && p.stp_state().forwards() && wanted && (id != ingress || back_in)
            })
            .map(|(id, _)| id)
            .collect()
    }

    #[test]
    fn the_flood_byte_follows_every_change_of_a_port() {
        let mut sw = switch(SwitchConfig::default(), 4);
        let check = |sw: &Switch, step: &str| {
            for ingress in 0..5 {
                for kind in [
                    FloodKind::Hub,
                    FloodKind::Broadcast,
                    FloodKind::Multicast,
                    FloodKind::UnknownUnicast,
                ] {
                    let mut got = Vec::new();
                    sw.for_each_flood_port(PortId(ingress), kind, 0, |p| got.push(p));
                    let want = flood_ports_from_states(sw, PortId(ingress), kind);
                    assert_eq!(got, want, "{step}: {kind:?} from {ingress}");
                }
            }
        };
        check(&sw, "four default ports");
        let flags = PortFlags {
            flood_broadcast: false,
            flood_unknown: false,
            ..PortFlags::default()
        };
        sw.set_port_flags(PortId(1), flags).unwrap();
        check(&sw, "port 1 floods multicast only");
        let hairpin = PortFlags {
            hairpin: true,
            ..PortFlags::default()
        };
        sw.set_port_flags(PortId(0), hairpin).unwrap();
        check(&sw, "port 0 in hairpin mode");
        sw.set_port_up(PortId(2), false).unwrap();
        check(&sw, "port 2 down");
        sw.remove_port(PortId(3)).unwrap();
        check(&sw, "port 3 removed");
        let tunnel = PortConfig {
            flags: hairpin,
            tunnel: true,
            ..PortConfig::default()
        };
        assert_eq!(sw.add_port(tunnel), Ok(PortId(3)));
        check(&sw, "a hairpin tunnel port 3 added");
        sw.set_port_up(PortId(2), true).unwrap();
        sw.set_port_config(PortId(1), PortConfig::default())
            .unwrap();
        check(&sw, "ports 1 and 2 back to defaults");
        sw.remove_port(PortId(3)).unwrap();
        sw.remove_port(PortId(0)).unwrap();
        check(&sw, "ports 0 and 3 removed");
        // Every port left floods a broadcast from port 0, which is gone.
        let mut got = Vec::new();
        sw.for_each_flood_port(PortId(0), FloodKind::Broadcast, 0, |p| got.push(p));
        assert_eq!(got, [PortId(1), PortId(2)]);
    }

    #[test]
    fn counting_a_sent_frame_touches_the_first_cache_line_of_a_port() {
        use core::mem::{align_of, offset_of, size_of};
        // The slot has no tag of its own before the state: it uses a niche
        // in it, the tag of `shutdown_until` (first), as the compiled code
        // shows; the send counters follow in the same line.
        assert_eq!(size_of::<Option<PortState>>(), size_of::<PortState>());
        assert_eq!(align_of::<PortState>(), 64);
        assert_eq!(offset_of!(PortState, shutdown_until), 0);
        assert!(offset_of!(PortState, counters.tx_bytes) + 8 <= 64);
        assert!(offset_of!(PortState, counters.tx_frames) + 8 <= 64);
    }

    fn vlan_switch(modes: &[VlanMode]) -> Switch {
        let mut sw = Switch::new(SwitchConfig {
            vlan_aware: true,
            ..SwitchConfig::default()
        })
        .unwrap();
        for mode in modes {
            sw.add_port(PortConfig {
                vlan: mode.clone(),
                ..PortConfig::default()
            })
            .unwrap();
        }
        sw
    }

    fn trunk(allowed: &[Vid], native: Option<Vid>) -> VlanMode {
        VlanMode::Trunk {
            allowed: allowed.iter().copied().collect::<VlanSet>(),
            native,
        }
    }

    fn decide(sw: &mut Switch, port: u16, frame: &[u8]) -> Decision {
        sw.decide(T0, PortId(port), frame)
    }

    fn verdict(sw: &mut Switch, port: u16, frame: &[u8]) -> Verdict {
        decide(sw, port, frame).verdict
    }

    fn egress(sw: &Switch, d: &Decision) -> Vec<u16> {
        let mut v = Vec::new();
        sw.for_each_egress(d, |p| v.push(p.0));
        v
    }

    fn counters(sw: &Switch, port: u16) -> PortCounters {
        sw.port(PortId(port)).unwrap().counters
    }

    fn entries(sw: &mut Switch) -> Vec<FdbEntry> {
        let clock = sw.fdb().clock();
        sw.fdb_mut().entries(clock).collect()
    }

    /// Forwards one frame and returns what each port was handed.
    fn deliver(sw: &mut Switch, port: u16, frame: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut sent = Vec::new();
        sw.forward_one(T0, PortId(port), frame, |e| {
            sent.push((e.port.0, e.frame.to_vec()));
            Ok(())
        });
        sent
    }

    /// A port that may learn one MAC, then does `action`.
    fn one_mac(action: MacLimitAction) -> PortConfig {
        PortConfig {
            mac_limit: Some(MacLimit { max: 1, action }),
            ..PortConfig::default()
        }
    }

    fn mac_frame(dst: [u8; 6], src: [u8; 6]) -> [u8; 18] {
        let mut f = H1_TO_H2;
        f[..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        f
    }

    #[test]
    fn runts_are_dropped_and_counted() {
        let mut sw = switch(SwitchConfig::default(), 2);
        for len in [0, 1, 6, 13] {
            assert_eq!(
                verdict(&mut sw, 0, &H1_TO_H2[..len]),
                Verdict::Drop(DropReason::Runt),
                "{len} bytes"
            );
        }
        let c = counters(&sw, 0);
        assert_eq!((c.rx_frames, c.rx_bytes), (4, 20));
        assert_eq!(c.drops(DropReason::Runt), 4);
        assert_eq!(c.total_drops(), 4);
        assert!(sw.fdb().is_empty(), "a runt teaches nothing");
        // 14 bytes is a whole header.
        assert_eq!(
            verdict(&mut sw, 0, &ARP_H1[..14]),
            Verdict::Flood(FloodKind::Broadcast)
        );
    }

    #[test]
    fn bad_sources_are_dropped_and_learn_nothing() {
        let mut sw = switch(SwitchConfig::default(), 2);
        let multicast = mac_frame(H2, [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        let broadcast = mac_frame(H2, [0xff; 6]);
        let zero = mac_frame(H2, [0; 6]);
        for f in [&multicast, &broadcast, &zero] {
            assert_eq!(verdict(&mut sw, 0, f), Verdict::Drop(DropReason::BadSource));
        }
        assert_eq!(counters(&sw, 0).drops(DropReason::BadSource), 3);
        assert!(sw.fdb().is_empty());
        assert_eq!(sw.fdb().stats().learned, 0);
    }

    #[test]
    fn link_local_frames_are_dropped_unless_in_the_mask() {
        let link_local = |x: u8| mac_frame([0x01, 0x80, 0xc2, 0x00, 0x00, x], H1);
        // A source of its own for each of the 16 addresses.
        let source = |x: u8| [0x02, 0x00, 0x00, 0x00, 0x10, x];
        let mut sw = switch(SwitchConfig::default(), 2);
        for x in 0..16 {
            let d = decide(
                &mut sw,
                0,
                &mac_frame([0x01, 0x80, 0xc2, 0, 0, x], source(x)),
            );
            assert_eq!(
                d.verdict,
                Verdict::Drop(DropReason::LinkLocal),
                "01:80:c2:00:00:{x:02x}"
            );
            assert!(egress(&sw, &d).is_empty());
        }
        assert_eq!(counters(&sw, 0).drops(DropReason::LinkLocal), 16);
        // Each taught its source before it was dropped, except PAUSE (0x01).
        for x in 0..16 {
            let want = (x != 1).then_some(PortId(0));
            assert_eq!(sw.fdb().get(0, MacAddr(source(x))), want, "{x:02x}");
        }
        assert_eq!(sw.fdb().stats().learned, 15);
        // 01:80:C2:00:00:10 is an ordinary multicast address.
        assert_eq!(
            verdict(&mut sw, 0, &link_local(0x10)),
            Verdict::Flood(FloodKind::Multicast)
        );

        // Forward LLDP (bit 14) and 802.1X (bit 3).
        let mask = GroupForwardMask::new((1 << 14) | (1 << 3)).unwrap();
        let mut sw = switch(
            SwitchConfig {
                group_forward: mask,
                ..SwitchConfig::default()
            },
            2,
        );
        for x in 0..16 {
            let d = decide(&mut sw, 0, &link_local(x));
            if x == 14 || x == 3 {
                assert_eq!(d.verdict, Verdict::Flood(FloodKind::Multicast));
                assert_eq!(egress(&sw, &d), [1]);
            } else {
                assert_eq!(d.verdict, Verdict::Drop(DropReason::LinkLocal), "{x}");
            }
        }
        assert_eq!(counters(&sw, 0).drops(DropReason::LinkLocal), 14);
        assert_eq!(counters(&sw, 0).flood, 2);
        assert_eq!(
            sw.fdb().stats().learned,
            1,
            "a forwarded one is learned from"
        );
    }

    /// LLDP (01:80:C2:00:00:0E, ethertype 0x88CC) from `src`.
    const fn lldp(src: [u8; 6]) -> [u8; 18] {
        // Chassis ID TLV header, then a MAC-address subtype.
        untagged(LLDP_GROUP, src, [0x88, 0xcc], [0x02, 0x07, 0x04, 0x02])
    }

    /// PAUSE (01:80:C2:00:00:01, MAC control 0x8808, opcode 1) from `src`.
    const fn pause(src: [u8; 6]) -> [u8; 18] {
        untagged(PAUSE_GROUP, src, [0x88, 0x08], [0x00, 0x01, 0xff, 0xff])
    }

    const LLDP_GROUP: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];
    const PAUSE_GROUP: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x01];

    #[test]
    fn a_host_heard_only_through_lldp_is_reached_on_its_port_alone() {
        let mut sw = switch(SwitchConfig::default(), 3);
        // Before H3 has said anything, unicast to it floods.
        let d = decide(&mut sw, 0, &H1_TO_H3);
        assert_eq!(d.verdict, Verdict::Flood(FloodKind::UnknownUnicast));
        assert_eq!(egress(&sw, &d), [1, 2]);
        assert_eq!(
            verdict(&mut sw, 2, &lldp(H3)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert_eq!(sw.fdb().get(0, MacAddr(H3)), Some(PortId(2)));
        let d = decide(&mut sw, 0, &H1_TO_H3);
        assert_eq!(d.verdict, Verdict::Unicast(PortId(2)));
        assert_eq!(egress(&sw, &d), [2]);
        // The batch path (and its known-unicast fast path) agrees.
        assert_eq!(deliver(&mut sw, 0, &H1_TO_H3), [(2, H1_TO_H3.to_vec())]);
        let c = counters(&sw, 0);
        assert_eq!((c.unknown_unicast, c.unicast), (1, 2));
        assert_eq!(counters(&sw, 2).drops(DropReason::LinkLocal), 1);
    }

    #[test]
    fn a_host_that_moved_and_sent_lldp_is_followed() {
        let mut sw = switch(SwitchConfig::default(), 3);
        decide(&mut sw, 2, &ARP_H2);
        decide(&mut sw, 0, &ARP_H1);
        assert_eq!(verdict(&mut sw, 2, &H2_TO_H1), Verdict::Unicast(PortId(0)));
        // H1 moves to port 1 and only announces itself with LLDP there.
        assert_eq!(
            verdict(&mut sw, 1, &lldp(H1)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert_eq!(sw.fdb().stats().moved, 1);
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(PortId(1)));
        assert_eq!(deliver(&mut sw, 2, &H2_TO_H1), [(1, H2_TO_H1.to_vec())]);
        assert_eq!(verdict(&mut sw, 2, &H2_TO_H1), Verdict::Unicast(PortId(1)));
    }

    #[test]
    fn pause_frames_teach_nothing() {
        let mut sw = switch(SwitchConfig::default(), 3);
        assert_eq!(
            verdict(&mut sw, 2, &pause(H3)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert!(sw.fdb().is_empty(), "PAUSE taught its source");
        assert_eq!(
            verdict(&mut sw, 0, &H1_TO_H3),
            Verdict::Flood(FloodKind::UnknownUnicast)
        );
        // Nor does PAUSE move a known host.
        decide(&mut sw, 1, &ARP_H2);
        assert_eq!(
            verdict(&mut sw, 2, &pause(H2)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert_eq!(sw.fdb().get(0, MacAddr(H2)), Some(PortId(1)));
        let s = sw.fdb().stats();
        assert_eq!((s.learned, s.moved), (2, 0));
        assert_eq!(counters(&sw, 2).drops(DropReason::LinkLocal), 2);
        // Not even when the mask forwards everything it may.
        let mut sw = switch(
            SwitchConfig {
                group_forward: GroupForwardMask::new(0xfff8).unwrap(),
                ..SwitchConfig::default()
            },
            2,
        );
        assert_eq!(
            verdict(&mut sw, 0, &pause(H1)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert!(sw.fdb().is_empty());
    }

    #[test]
    fn link_local_learning_follows_the_learning_rules() {
        // A bad source: dropped as such, nothing learned.
        let mut sw = switch(SwitchConfig::default(), 2);
        for src in [[0; 6], [0xff; 6], [0x01, 0x00, 0x5e, 0, 0, 1]] {
            assert_eq!(
                verdict(&mut sw, 0, &lldp(src)),
                Verdict::Drop(DropReason::BadSource)
            );
        }
        assert_eq!(sw.fdb().stats().learned, 0);
        // A port that does not learn.
        sw.set_port_flags(
            PortId(1),
            PortFlags {
                learning: false,
                ..PortFlags::default()
            },
        )
        .unwrap();
        assert_eq!(
            verdict(&mut sw, 1, &lldp(H2)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert!(sw.fdb().is_empty());
        // A hub, and aging 0, learn nothing.
        let hub = SwitchConfig {
            hub: true,
            ..SwitchConfig::default()
        };
        let no_aging = SwitchConfig {
            fdb: FdbConfig {
                aging_time: Duration::ZERO,
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        };
        for (config, want) in [
            (hub, Verdict::Flood(FloodKind::Hub)),
            (no_aging, Verdict::Drop(DropReason::LinkLocal)),
        ] {
            let mut sw = switch(config, 2);
            assert_eq!(verdict(&mut sw, 0, &lldp(H1)), want);
            assert_eq!(sw.fdb().stats().learned, 0);
        }
    }

    #[test]
    fn link_local_learning_comes_after_vlan_admission() {
        let mut sw = vlan_switch(&[VlanMode::Access(10), trunk(&[20], None)]);
        // Untagged LLDP on the access port: learned in its VLAN.
        assert_eq!(
            verdict(&mut sw, 0, &lldp(H1)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert_eq!(sw.fdb().get(10, MacAddr(H1)), Some(PortId(0)));
        // Untagged on a trunk without a native VLAN: refused, not learned.
        assert_eq!(
            verdict(&mut sw, 1, &lldp(H2)),
            Verdict::Drop(DropReason::VlanIngress)
        );
        // Tagged in VLAN 20 on the trunk: learned in VLAN 20.
        let mut tagged = vec![0u8; 22];
        tagged[..12].copy_from_slice(&lldp(H2)[..12]);
        tagged[12..16].copy_from_slice(&[0x81, 0x00, 0x00, 20]);
        tagged[16..18].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(
            verdict(&mut sw, 1, &tagged),
            Verdict::Drop(DropReason::LinkLocal)
        );
        tagged[15] = 30; // not allowed on the trunk
        tagged[6..12].copy_from_slice(&H3);
        assert_eq!(
            verdict(&mut sw, 1, &tagged),
            Verdict::Drop(DropReason::VlanIngress)
        );
        let learned: Vec<(Vid, MacAddr, PortId)> = entries(&mut sw)
            .iter()
            .map(|e| (e.vid, e.mac, e.port))
            .collect();
        assert_eq!(
            learned,
            [(10, MacAddr(H1), PortId(0)), (20, MacAddr(H2), PortId(1))]
        );
    }

    #[test]
    fn link_local_learning_meets_mac_limits_and_the_move_guard() {
        let mut sw = switch(SwitchConfig::default(), 0);
        let p = sw.add_port(one_mac(MacLimitAction::NoLearn)).unwrap();
        let q = sw.add_port(one_mac(MacLimitAction::Drop)).unwrap();
        for port in [p, q] {
            decide(&mut sw, port.0, &lldp(H1));
        }
        // H1 moved to q by its LLDP; p is empty again.
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(q));
        assert_eq!(
            verdict(&mut sw, q.0, &lldp(H2)),
            Verdict::Drop(DropReason::MacLimit),
            "the limit drops before the link-local filter"
        );
        decide(&mut sw, p.0, &mac_frame(BROADCAST, H3));
        assert_eq!(
            verdict(&mut sw, p.0, &lldp(H2)),
            Verdict::Drop(DropReason::LinkLocal)
        );
        assert_eq!(sw.fdb().get(0, MacAddr(H2)), None);
        assert_eq!(sw.guard_stats().mac_limit_refused, 2);

        // LLDP moves count toward the move guard like any frame's.
        let mut sw = switch(
            SwitchConfig {
                move_guard: Some(MoveGuardConfig {
                    moves: 1,
                    window: Duration::from_secs(10),
                    hold: Duration::from_secs(60),
                    action: GuardAction::HoldDown,
                }),
                ..SwitchConfig::default()
            },
            2,
        );
        for port in [0, 1, 0] {
            decide(&mut sw, port, &lldp(H1));
        }
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(PortId(1)), "held");
        assert_eq!(sw.guard_stats().hold_downs, 1);
    }

    #[test]
    fn stp_pause_and_lacp_can_never_be_forwarded() {
        for bits in [1u16, 2, 4, 7, 0xffff, 0x4001] {
            assert_eq!(
                GroupForwardMask::new(bits),
                Err(ConfigError::GroupForwardRestricted(bits))
            );
        }
        let err = GroupForwardMask::new(1).unwrap_err().to_string();
        assert!(err.contains("STP, PAUSE, LACP"), "{err}");
        let all = GroupForwardMask::new(0xfff8).unwrap();
        assert_eq!(all.bits(), 0xfff8);
        assert!(!all.forwards(0) && !all.forwards(1) && !all.forwards(2));
        assert!(all.forwards(3) && all.forwards(15) && !all.forwards(16));
    }

    #[test]
    fn broadcast_and_multicast_flood_to_every_other_up_port() {
        let mut sw = switch(SwitchConfig::default(), 4);
        sw.set_port_up(PortId(2), false).unwrap();
        let d = decide(&mut sw, 0, &ARP_H1);
        assert_eq!(d.verdict, Verdict::Flood(FloodKind::Broadcast));
        assert_eq!(egress(&sw, &d), [1, 3]);
        let d = decide(&mut sw, 1, &MDNS_H1);
        assert_eq!(d.verdict, Verdict::Flood(FloodKind::Multicast));
        assert_eq!(egress(&sw, &d), [0, 3]);
        assert_eq!(counters(&sw, 0).flood, 1);
        assert_eq!(counters(&sw, 1).flood, 1);
        // The flood still taught the switch where H1 is (last seen on port 1).
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(PortId(1)));
        assert_eq!(sw.fdb().stats().moved, 1);
    }

    #[test]
    fn known_unicast_goes_to_its_port_only() {
        let mut sw = switch(SwitchConfig::default(), 3);
        decide(&mut sw, 0, &ARP_H1);
        let d = decide(&mut sw, 1, &H2_TO_H1);
        assert_eq!(d.verdict, Verdict::Unicast(PortId(0)));
        assert_eq!(egress(&sw, &d), [0]);
        let c = counters(&sw, 1);
        assert_eq!((c.rx_frames, c.rx_bytes, c.unicast), (1, 18, 1));
        assert_eq!(deliver(&mut sw, 0, &H1_TO_H2), [(1, H1_TO_H2.to_vec())]);
    }

    #[test]
    fn unicast_back_to_its_ingress_is_dropped_unless_hairpin() {
        let mut sw = switch(SwitchConfig::default(), 2);
        decide(&mut sw, 0, &ARP_H2);
        let d = decide(&mut sw, 0, &H1_TO_H2);
        assert_eq!(d.verdict, Verdict::Drop(DropReason::SamePort));
        assert!(egress(&sw, &d).is_empty());
        assert_eq!(counters(&sw, 0).drops(DropReason::SamePort), 1);

        let hairpin = PortFlags {
            hairpin: true,
            ..PortFlags::default()
        };
        sw.set_port_flags(PortId(0), hairpin).unwrap();
        let d = decide(&mut sw, 0, &H1_TO_H2);
        assert_eq!(d.verdict, Verdict::Unicast(PortId(0)));
        assert_eq!(egress(&sw, &d), [0]);
        // A hairpin port also gets its own floods back, as in Linux.
        let d = decide(&mut sw, 0, &ARP_H1);
        assert_eq!(egress(&sw, &d), [0, 1]);
    }

    /// A tunnel port (port 1): what it learns carries the remote endpoint, a
    /// unicast to such a host names that remote, and split horizon holds even
    /// in hairpin mode: nothing from the tunnel goes back into it.
    #[test]
    fn tunnel_ports_learn_remotes_and_keep_split_horizon() {
        for fast in [true, false] {
            let mut sw = Switch::new(SwitchConfig {
                vlan_aware: !fast, // the general path, all ports untagged in VLAN 1
                ..SwitchConfig::default()
            })
            .unwrap();
            let tunnel = PortConfig {
                tunnel: true,
                flags: PortFlags {
                    hairpin: true,
                    ..PortFlags::default()
                },
                ..PortConfig::default()
            };
            sw.add_port(PortConfig::default()).unwrap();
            sw.add_port(tunnel).unwrap();
            sw.add_port(PortConfig::default()).unwrap();
            let (r3, r4) = (Some(RemoteId(3)), Some(RemoteId(4)));
            // H2 broadcasts from behind remote 3: learned with it; the flood
            // reaches both local ports and not the tunnel.
            let d = sw.decide_from(T0, PortId(1), r3, &ARP_H2);
            assert_eq!(egress(&sw, &d), [0, 2]);
            let vid = d.vid;
            assert_eq!(sw.fdb().get_remote(vid, MacAddr(H2)), Some((PortId(1), r3)));
            // H1 answers (twice, the second time on the fast path when the
            // switch has one): the unicast goes to remote 3 only.
            decide(&mut sw, 0, &ARP_H1);
            for _ in 0..2 {
                let d = decide(&mut sw, 0, &H1_TO_H2);
                assert_eq!((d.verdict, d.remote), (Verdict::Unicast(PortId(1)), r3));
            }
            // A flood from a local port goes to the tunnel (its flood list).
            let d = decide(&mut sw, 0, &H1_TO_H3);
            assert_eq!((egress(&sw, &d), d.remote), (vec![1, 2], None));
            // H3 behind remote 4 to H2 behind remote 3: the same port, dropped
            // although the port is in hairpin mode.
            sw.decide_from(T0, PortId(1), r4, &untagged(BROADCAST, H3, ARP, ARP_BODY));
            let d = sw.decide_from(T0, PortId(1), r4, &untagged(H2, H3, IPV4, IPV4_BODY));
            assert_eq!(d.verdict, Verdict::Drop(DropReason::SamePort));
            // H2 moves to remote 4: followed, as a move.
            let moved = sw.fdb().stats().moved;
            let d = sw.decide_from(T0, PortId(1), r4, &H2_TO_H1);
            assert_eq!(d.verdict, Verdict::Unicast(PortId(0)));
            assert_eq!(sw.fdb().get_remote(vid, MacAddr(H2)), Some((PortId(1), r4)));
            assert_eq!(sw.fdb().stats().moved, moved + 1);
            let d = decide(&mut sw, 0, &H1_TO_H2);
            assert_eq!(d.remote, r4);
        }
    }

    /// The batch carries each frame's remote to learning.
    #[test]
    fn a_batch_carries_remotes() {
        let mut sw = switch(SwitchConfig::default(), 2);
        let mut batch: FrameBatch = FrameBatch::with_capacity(2);
        batch.push_from(&ARP_H1, (), Some(RemoteId(9)));
        batch.push(&ARP_H2);
        assert_eq!(
            (batch.remote(0), batch.remote(1)),
            (Some(RemoteId(9)), None)
        );
        sw.forward(T0, PortId(1), &batch, |_| Ok(()));
        assert_eq!(
            sw.fdb().get_remote(0, MacAddr(H1)),
            Some((PortId(1), Some(RemoteId(9))))
        );
        assert_eq!(sw.fdb().get_remote(0, MacAddr(H2)), Some((PortId(1), None)));
    }

    #[test]
    fn unknown_unicast_floods() {
        let mut sw = switch(SwitchConfig::default(), 3);
        let d = decide(&mut sw, 0, &H1_TO_H3);
        assert_eq!(d.verdict, Verdict::Flood(FloodKind::UnknownUnicast));
        assert_eq!(egress(&sw, &d), [1, 2]);
        assert_eq!(counters(&sw, 0).unknown_unicast, 1);
        assert_eq!(counters(&sw, 0).flood, 0);
    }

    #[test]
    fn port_down_flushes_it_and_sends_it_nothing() {
        let mut sw = switch(SwitchConfig::default(), 3);
        decide(&mut sw, 1, &ARP_H1);
        sw.fdb_mut().add_static(0, MacAddr(H3), PortId(1));
        sw.set_port_up(PortId(1), false).unwrap();
        assert!(!sw.port(PortId(1)).unwrap().up);
        let s = sw.fdb().stats();
        assert_eq!((s.flushed, s.current, s.statics), (1, 0, 1));
        // H1 is forgotten: flooded, but not to the port that is down.
        let d = decide(&mut sw, 0, &H2_TO_H1);
        assert_eq!(d.verdict, Verdict::Flood(FloodKind::UnknownUnicast));
        assert_eq!(egress(&sw, &d), [2]);
        // The static entry stays and points at a port that is down.
        let d = decide(&mut sw, 0, &H1_TO_H3);
        assert_eq!(d.verdict, Verdict::Drop(DropReason::EgressDown));
        assert!(egress(&sw, &d).is_empty());
        assert_eq!(counters(&sw, 0).drops(DropReason::EgressDown), 1);
        // Nothing comes in either, and that is counted.
        assert_eq!(
            verdict(&mut sw, 1, &ARP_H2),
            Verdict::Drop(DropReason::IngressDown)
        );
        assert_eq!(counters(&sw, 1).drops(DropReason::IngressDown), 1);
        assert_eq!(counters(&sw, 1).rx_frames, 2);
        // Up again: the static entry works.
        sw.set_port_up(PortId(1), true).unwrap();
        assert_eq!(verdict(&mut sw, 0, &H1_TO_H3), Verdict::Unicast(PortId(1)));
    }

    #[test]
    fn removed_port_loses_its_static_entries_too() {
        let mut sw = switch(SwitchConfig::default(), 3);
        decide(&mut sw, 2, &ARP_H1);
        sw.fdb_mut().add_static(0, MacAddr(H3), PortId(2));
        sw.fdb_mut().add_static(0, MacAddr(H2), PortId(0));
        let state = sw.remove_port(PortId(2)).unwrap();
        assert_eq!(state.counters.rx_frames, 1);
        let s = sw.fdb().stats();
        assert_eq!((s.flushed, s.current, s.statics), (2, 0, 1));
        assert!(sw.port(PortId(2)).is_none());
        assert_eq!(sw.ports().count(), 2);
        // A frame said to come from a port that does not exist: dropped, and
        // nowhere to count it.
        let d = decide(&mut sw, 2, &ARP_H1);
        assert_eq!(d.verdict, Verdict::Drop(DropReason::IngressDown));
        assert_eq!(
            sw.remove_port(PortId(2)).unwrap_err(),
            ConfigError::NoSuchPort(PortId(2))
        );
        // The number is reused, and the new port knows nothing of the old one's hosts.
        assert_eq!(sw.add_port(PortConfig::default()), Ok(PortId(2)));
        assert_eq!(counters(&sw, 2), PortCounters::default());
        assert_eq!(
            verdict(&mut sw, 0, &H1_TO_H3),
            Verdict::Flood(FloodKind::UnknownUnicast)
        );
    }

    #[test]
    fn port_management_errors_name_the_port() {
        let mut sw = switch(SwitchConfig::default(), 1);
        let none = ConfigError::NoSuchPort(PortId(5));
        assert_eq!(sw.set_port_up(PortId(5), true), Err(none));
        assert_eq!(
            sw.set_port_flags(PortId(5), PortFlags::default()),
            Err(none)
        );
        assert_eq!(sw.set_port_vlan(PortId(5), VlanMode::Access(2)), Err(none));
        assert_eq!(none.to_string(), "the switch has no port 5");
    }

    #[test]
    fn hub_mode_repeats_every_frame_to_every_other_up_port() {
        let mut sw = switch(
            SwitchConfig {
                hub: true,
                ..SwitchConfig::default()
            },
            4,
        );
        sw.set_port_up(PortId(3), false).unwrap();
        // Flood flags and hairpin mean nothing to a hub.
        let quiet = PortFlags {
            learning: true,
            flood_unknown: false,
            flood_multicast: false,
            flood_broadcast: false,
            hairpin: true,
        };
        sw.set_port_flags(PortId(0), quiet).unwrap();
        sw.set_port_flags(PortId(2), quiet).unwrap();
        let stp = mac_frame([0x01, 0x80, 0xc2, 0x00, 0x00, 0x00], H1);
        let bad_source = mac_frame(H2, [0xff; 6]);
        for f in [&ARP_H1[..], &H1_TO_H2, &H2_TO_H1, &stp, &bad_source] {
            let d = decide(&mut sw, 0, f);
            assert_eq!(d.verdict, Verdict::Flood(FloodKind::Hub));
            assert_eq!(egress(&sw, &d), [1, 2]);
        }
        assert_eq!(
            verdict(&mut sw, 0, &ARP_H1[..13]),
            Verdict::Drop(DropReason::Runt)
        );
        assert!(sw.fdb().is_empty(), "a hub learns nothing");
        assert_eq!(counters(&sw, 0).flood, 5);
        // Untouched bytes even on a VLAN-aware hub.
        let mut hub = Switch::new(SwitchConfig {
            hub: true,
            vlan_aware: true,
            ..SwitchConfig::default()
        })
        .unwrap();
        for vlan in [VlanMode::Access(1), trunk(&[10], None)] {
            hub.add_port(PortConfig {
                vlan,
                ..PortConfig::default()
            })
            .unwrap();
        }
        assert_eq!(
            deliver(&mut hub, 0, &ARP_H1_VID10),
            [(1, ARP_H1_VID10.to_vec())]
        );
    }

    #[test]
    fn access_ports_keep_to_their_vlan() {
        let mut sw = vlan_switch(&[
            VlanMode::Access(10),
            VlanMode::Access(10),
            VlanMode::Access(20),
            trunk(&[10, 20], None),
        ]);
        let d = decide(&mut sw, 0, &ARP_H1);
        assert_eq!(
            (d.verdict, d.vid, d.tagged),
            (Verdict::Flood(FloodKind::Broadcast), 10, false)
        );
        assert_eq!(egress(&sw, &d), [1, 3]);
        assert_eq!(sw.fdb().get(10, MacAddr(H1)), Some(PortId(0)));
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), None);
        // A tagged frame on an access port is not admitted.
        let d = decide(&mut sw, 0, &ARP_H1_VID10);
        assert_eq!(d.verdict, Verdict::Drop(DropReason::VlanIngress));
        assert_eq!(counters(&sw, 0).drops(DropReason::VlanIngress), 1);
        // A priority-tagged one is, into the port's VLAN.
        let d = decide(&mut sw, 2, &ARP_H1_PRIO);
        assert_eq!(
            (d.verdict, d.vid, d.tagged),
            (Verdict::Flood(FloodKind::Broadcast), 20, true)
        );
        assert_eq!(egress(&sw, &d), [3]);
        // Unicast across VLANs does not happen: H1 in VLAN 20 is unknown in 10.
        let d = decide(&mut sw, 1, &H2_TO_H1);
        assert_eq!(d.verdict, Verdict::Unicast(PortId(0)));
        let d = decide(&mut sw, 2, &H2_TO_H1);
        assert_eq!(
            d.verdict,
            Verdict::Drop(DropReason::SamePort),
            "H1 is on port 2 in VLAN 20"
        );
    }

    #[test]
    fn trunk_ports_admit_allowed_tags_and_native_untagged() {
        let mut sw = vlan_switch(&[
            trunk(&[10], Some(1)),
            trunk(&[10], None),
            VlanMode::Access(1),
            VlanMode::Access(10),
        ]);
        let d = decide(&mut sw, 0, &ARP_H1_VID10);
        assert_eq!((d.vid, d.tagged), (10, true));
        assert_eq!(egress(&sw, &d), [1, 3]);
        let d = decide(&mut sw, 0, &ARP_H1);
        assert_eq!(
            (d.vid, d.tagged),
            (1, false),
            "untagged takes the native VLAN"
        );
        assert_eq!(egress(&sw, &d), [2]);
        let d = decide(&mut sw, 0, &ARP_H1_PRIO);
        assert_eq!((d.vid, d.tagged), (1, true), "priority-tagged too");
        // No native VLAN: untagged and priority-tagged are refused.
        assert_eq!(
            verdict(&mut sw, 1, &ARP_H1),
            Verdict::Drop(DropReason::VlanIngress)
        );
        assert_eq!(
            verdict(&mut sw, 1, &ARP_H1_PRIO),
            Verdict::Drop(DropReason::VlanIngress)
        );
        // A VLAN the trunk does not carry.
        let mut vid30 = ARP_H1_VID10;
        vid30[15] = 30;
        assert_eq!(
            verdict(&mut sw, 0, &vid30),
            Verdict::Drop(DropReason::VlanIngress)
        );
        assert_eq!(counters(&sw, 1).drops(DropReason::VlanIngress), 2);
        assert_eq!(counters(&sw, 0).drops(DropReason::VlanIngress), 1);
    }

    #[test]
    fn unicast_to_a_port_outside_the_vlan_is_dropped() {
        let mut sw = vlan_switch(&[VlanMode::Access(10), VlanMode::Access(20)]);
        sw.fdb_mut().add_static(10, MacAddr(H3), PortId(1));
        let d = decide(&mut sw, 0, &H1_TO_H3);
        assert_eq!(d.verdict, Verdict::Drop(DropReason::VlanEgress));
        assert!(egress(&sw, &d).is_empty());
        assert_eq!(counters(&sw, 0).drops(DropReason::VlanEgress), 1);
        // A static entry on a port that does not exist.
        sw.fdb_mut().add_static(10, MacAddr(H3), PortId(9));
        assert_eq!(
            verdict(&mut sw, 0, &H1_TO_H3),
            Verdict::Drop(DropReason::EgressDown)
        );
    }

    #[test]
    fn egress_pushes_pops_and_rewrites_the_tag() {
        let mut sw = vlan_switch(&[
            VlanMode::Access(10),
            trunk(&[10], None),
            trunk(&[20], Some(10)),
            VlanMode::Access(10),
        ]);
        // Untagged in on an access port: pushed on the trunk, untagged on the
        // native trunk and the other access port.
        let pushed: [u8; 22] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, //
            0x81, 0x00, 0x00, 0x0a, // 802.1Q, pcp 0, vid 10
            0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
        ];
        assert_eq!(
            deliver(&mut sw, 0, &ARP_H1),
            [
                (1, pushed.to_vec()),
                (2, ARP_H1.to_vec()),
                (3, ARP_H1.to_vec())
            ]
        );
        // Tagged in on the trunk: kept on the trunk side, popped elsewhere.
        let sent = deliver(&mut sw, 1, &ARP_H1_VID10);
        assert_eq!(
            sent,
            [
                (0, ARP_H1.to_vec()),
                (2, ARP_H1.to_vec()),
                (3, ARP_H1.to_vec())
            ]
        );
        // Priority-tagged on an access port: the tag gets the VLAN and keeps its
        // priority on a trunk, and is popped on an access port.
        let rewritten: [u8; 22] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, //
            0x81, 0x00, 0x60, 0x0a, // 802.1Q, pcp 3, vid 10
            0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
        ];
        let sent = deliver(&mut sw, 3, &ARP_H1_PRIO);
        assert_eq!(
            sent,
            [
                (0, ARP_H1.to_vec()),
                (1, rewritten.to_vec()),
                (2, ARP_H1.to_vec())
            ]
        );
        // The same frame passes a VLAN-unaware switch untouched.
        let mut plain = switch(SwitchConfig::default(), 2);
        assert_eq!(
            deliver(&mut plain, 0, &ARP_H1_PRIO),
            [(1, ARP_H1_PRIO.to_vec())]
        );
    }

    #[test]
    fn qinq_outer_tag_is_payload() {
        let mut sw = vlan_switch(&[
            VlanMode::Access(10),
            VlanMode::Access(10),
            trunk(&[10], None),
        ]);
        let d = decide(&mut sw, 0, &QINQ_H1);
        assert_eq!(
            (d.verdict, d.vid, d.tagged),
            (Verdict::Flood(FloodKind::Broadcast), 10, false)
        );
        let mut pushed = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        ];
        pushed.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        pushed.extend_from_slice(&QINQ_H1[12..]);
        assert_eq!(
            deliver(&mut sw, 0, &QINQ_H1),
            [(1, QINQ_H1.to_vec()), (2, pushed)]
        );
    }

    #[test]
    fn a_cut_off_tag_is_a_runt_only_on_a_vlan_aware_switch() {
        let mut sw = vlan_switch(&[trunk(&[10], Some(1)), VlanMode::Access(1)]);
        assert_eq!(
            verdict(&mut sw, 0, &CUT_TAG_H1),
            Verdict::Drop(DropReason::Runt)
        );
        assert_eq!(counters(&sw, 0).drops(DropReason::Runt), 1);
        assert!(sw.fdb().is_empty());
        // For a VLAN-unaware switch the tag is payload.
        let mut plain = switch(SwitchConfig::default(), 2);
        assert_eq!(
            verdict(&mut plain, 0, &CUT_TAG_H1),
            Verdict::Flood(FloodKind::Broadcast)
        );
    }

    #[test]
    fn more_than_1024_ports() {
        let mut sw = switch(SwitchConfig::default(), 1100);
        let d = decide(&mut sw, 1099, &ARP_H2);
        assert_eq!(egress(&sw, &d).len(), 1099);
        decide(&mut sw, 1050, &ARP_H1);
        assert_eq!(
            verdict(&mut sw, 3, &H2_TO_H1),
            Verdict::Unicast(PortId(1050))
        );
        assert_eq!(
            verdict(&mut sw, 1050, &H1_TO_H2),
            Verdict::Unicast(PortId(3))
        );
        sw.set_port_up(PortId(1050), false).unwrap();
        let d = decide(&mut sw, 3, &H2_TO_H1);
        assert_eq!(egress(&sw, &d).len(), 1098);
    }

    #[test]
    fn per_port_flags() {
        let mut sw = switch(SwitchConfig::default(), 4);
        // Port 0 does not learn: H1 stays unknown, yet its frames are forwarded.
        sw.set_port_flags(
            PortId(0),
            PortFlags {
                learning: false,
                ..PortFlags::default()
            },
        )
        .unwrap();
        assert_eq!(
            verdict(&mut sw, 0, &ARP_H1),
            Verdict::Flood(FloodKind::Broadcast)
        );
        assert!(sw.fdb().is_empty());
        decide(&mut sw, 1, &ARP_H2);
        assert_eq!(verdict(&mut sw, 0, &H1_TO_H2), Verdict::Unicast(PortId(1)));
        // Each flood kind has its own flag.
        let only = |unknown, multicast, broadcast| PortFlags {
            flood_unknown: unknown,
            flood_multicast: multicast,
            flood_broadcast: broadcast,
            ..PortFlags::default()
        };
        sw.set_port_flags(PortId(1), only(true, false, false))
            .unwrap();
        sw.set_port_flags(PortId(2), only(false, true, false))
            .unwrap();
        sw.set_port_flags(PortId(3), only(false, false, true))
            .unwrap();
        let d = decide(&mut sw, 0, &H1_TO_H3);
        assert_eq!(egress(&sw, &d), [1]);
        let d = decide(&mut sw, 0, &MDNS_H1);
        assert_eq!(egress(&sw, &d), [2]);
        let d = decide(&mut sw, 0, &ARP_H1);
        assert_eq!(egress(&sw, &d), [3]);
        // Flood flags do not stop known unicast.
        assert_eq!(verdict(&mut sw, 0, &H1_TO_H2), Verdict::Unicast(PortId(1)));
    }

    #[test]
    fn forward_counts_what_is_sent_and_what_is_refused() {
        let mut sw = switch(SwitchConfig::default(), 4);
        let mut batch = FrameBatch::with_capacity(4);
        batch.push(&ARP_H1);
        batch.push(&H1_TO_H2[..10]); // a runt
        batch.push(&MDNS_H1);
        let mut sent = Vec::new();
        let decisions = sw.forward(T0, PortId(0), &batch, |e| {
            sent.push((e.port.0, e.frame.len()));
            match e.port.0 {
                1 => Err(TxError::TooBig),
                2 => Err(TxError::Full),
                _ => Ok(()),
            }
        });
        let verdicts: Vec<Verdict> = decisions.iter().map(|d| d.verdict).collect();
        // Grouped by port, in frame order within a port.
        assert_eq!(sent, [(1, 18), (1, 18), (2, 18), (2, 18), (3, 18), (3, 18)]);
        assert_eq!(
            verdicts,
            [
                Verdict::Flood(FloodKind::Broadcast),
                Verdict::Drop(DropReason::Runt),
                Verdict::Flood(FloodKind::Multicast)
            ]
        );
        let c0 = counters(&sw, 0);
        assert_eq!((c0.rx_frames, c0.rx_bytes, c0.flood), (3, 46, 2));
        assert_eq!(c0.drops(DropReason::Runt), 1);
        assert_eq!(counters(&sw, 1).drops(DropReason::TooBig), 2);
        assert_eq!(counters(&sw, 1).tx_frames, 0);
        assert_eq!(counters(&sw, 2).drops(DropReason::TxFull), 2);
        let c3 = counters(&sw, 3);
        assert_eq!((c3.tx_frames, c3.tx_bytes, c3.total_drops()), (2, 36, 0));
    }

    #[test]
    fn each_egress_carries_its_frames_index_metadata_and_decision() {
        let mut sw = switch(SwitchConfig::default(), 3);
        decide(&mut sw, 1, &ARP_H2);
        let mut batch: FrameBatch<u32> = FrameBatch::with_room(3);
        batch.push_with(&ARP_H1, 10);
        batch.push_with(&H1_TO_H2[..10], 11); // a runt: no egress
        batch.push_with(&H1_TO_H2, 12);
        let mut seen = Vec::new();
        let decisions = sw.forward(T0, PortId(0), &batch, |e| {
            seen.push((e.port.0, e.index, e.meta, e.decision.verdict));
            assert_eq!(e.frame, batch.get(e.index));
            Ok(())
        });
        assert_eq!(decisions.len(), 3);
        assert_eq!(decisions[1].verdict, Verdict::Drop(DropReason::Runt));
        let flood = Verdict::Flood(FloodKind::Broadcast);
        let to_h2 = Verdict::Unicast(PortId(1));
        assert_eq!(
            seen,
            [(1, 0, 10, flood), (1, 2, 12, to_h2), (2, 0, 10, flood)]
        );
    }

    #[test]
    fn forward_one_is_a_batch_of_one() {
        let mut one = switch(SwitchConfig::default(), 3);
        let mut batched = switch(SwitchConfig::default(), 3);
        for (port, frame) in [(1, &ARP_H2[..]), (0, &ARP_H1[..]), (0, &H1_TO_H2[..])] {
            let mut a = Vec::new();
            let d = one.forward_one(T0, PortId(port), frame, |e| {
                a.push((e.port, e.index, e.frame.to_vec(), *e.decision));
                Err(TxError::Full)
            });
            let mut batch = FrameBatch::with_capacity(1);
            batch.push(frame);
            let mut b = Vec::new();
            let ds = batched.forward(T0, PortId(port), &batch, |e| {
                b.push((e.port, e.index, e.frame.to_vec(), *e.decision));
                Err(TxError::Full)
            });
            assert_eq!(ds, [d]);
            assert_eq!(a, b);
            assert!(!a.is_empty());
        }
        for p in 0..3 {
            assert_eq!(counters(&one, p), counters(&batched, p));
        }
        assert_eq!(counters(&one, 2).drops(DropReason::TxFull), 2);
    }

    #[test]
    fn frames_a_device_refused_later_are_tx_full_not_sent() {
        let mut sw = switch(SwitchConfig::default(), 2);
        deliver(&mut sw, 0, &ARP_H1);
        deliver(&mut sw, 0, &ARP_H1);
        assert_eq!(
            (counters(&sw, 1).tx_frames, counters(&sw, 1).tx_bytes),
            (2, 36)
        );
        sw.count_device(
            PortId(1),
            DeviceCounts {
                rx_full: 3,
                rx_errors: 4,
                tx_refused: 1,
                tx_refused_bytes: 18,
            },
        );
        let c = counters(&sw, 1);
        assert_eq!((c.tx_frames, c.tx_bytes), (1, 18));
        assert_eq!(c.drops(DropReason::TxFull), 1);
        assert_eq!(c.drops(DropReason::RxFull), 3);
        assert_eq!(c.rx_errors, 4);
        // No port, nothing to count.
        sw.count_device(PortId(9), DeviceCounts::default());
    }

    #[test]
    fn aging_in_the_switch() {
        let config = SwitchConfig {
            fdb: FdbConfig {
                aging_time: Duration::from_secs(1),
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        };
        let mut sw = switch(config, 2);
        decide(&mut sw, 0, &ARP_H1);
        let at = |ms| Instant::from_millis(ms);
        assert_eq!(
            sw.decide(at(999), PortId(1), &H2_TO_H1).verdict,
            Verdict::Unicast(PortId(0))
        );
        // Exactly the aging time after it was last seen, H1 is gone.
        assert_eq!(
            sw.decide(at(1000), PortId(1), &H2_TO_H1).verdict,
            Verdict::Flood(FloodKind::UnknownUnicast)
        );
        assert_eq!(sw.fdb().stats().expired, 1);
        assert!(entries(&mut sw).iter().all(|e| e.mac != MacAddr(H1)));

        // Aging time zero: nothing is learned, everything floods, statics work.
        let config = SwitchConfig {
            fdb: FdbConfig {
                aging_time: Duration::ZERO,
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        };
        let mut sw = switch(config, 3);
        decide(&mut sw, 0, &ARP_H1);
        assert_eq!(
            verdict(&mut sw, 1, &H2_TO_H1),
            Verdict::Flood(FloodKind::UnknownUnicast)
        );
        assert_eq!(sw.fdb().stats().learned, 0);
        sw.fdb_mut().add_static(0, MacAddr(H3), PortId(2));
        assert_eq!(verdict(&mut sw, 0, &H1_TO_H3), Verdict::Unicast(PortId(2)));
    }

    #[test]
    fn time_at_its_very_end_does_not_panic() {
        // Found by the model test: learning at u64::MAX ms overflowed the aging
        // deadline (a panic in debug builds, an endless loop in release).
        let mut sw = switch(SwitchConfig::default(), 2);
        let end = Instant::from_secs(u64::MAX);
        assert_eq!(
            sw.decide(end, PortId(0), &ARP_H1).verdict,
            Verdict::Flood(FloodKind::Broadcast)
        );
        assert_eq!(
            sw.decide(end, PortId(1), &H2_TO_H1).verdict,
            Verdict::Unicast(PortId(0))
        );
        assert_eq!(
            sw.decide(end, PortId(0), &H1_TO_H2).verdict,
            Verdict::Unicast(PortId(1))
        );
        assert_eq!(sw.fdb().stats().current, 2);
    }

    #[test]
    fn a_full_table_evicts_fairly_or_stops_learning() {
        let full = |policy| SwitchConfig {
            fdb: FdbConfig {
                capacity: 3,
                policy,
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        };
        let flood_sources = |sw: &mut Switch| {
            for i in 0..10u8 {
                let f = mac_frame([0xff; 6], [0x02, 0x10, 0, 0, 0, i]);
                sw.decide(Instant::from_millis(1 + u64::from(i)), PortId(1), &f);
            }
        };
        // Fair: port 1 flooding source MACs only evicts its own.
        let mut sw = switch(full(EvictionPolicy::FairLru), 2);
        decide(&mut sw, 0, &ARP_H1);
        flood_sources(&mut sw);
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(PortId(0)));
        let s = sw.fdb().stats();
        assert_eq!((s.learned, s.evicted, s.current), (11, 8, 3));
        // Stop learning: the first three stay, the rest are refused and flood.
        let mut sw = switch(full(EvictionPolicy::StopLearning), 2);
        decide(&mut sw, 0, &ARP_H1);
        flood_sources(&mut sw);
        let s = sw.fdb().stats();
        assert_eq!((s.learned, s.refused, s.current), (3, 8, 3));
        let to_last = mac_frame([0x02, 0x10, 0, 0, 0, 9], H1);
        assert_eq!(
            verdict(&mut sw, 0, &to_last),
            Verdict::Flood(FloodKind::UnknownUnicast)
        );
    }

    #[test]
    fn changing_a_ports_vlan_flushes_it() {
        let mut sw = vlan_switch(&[VlanMode::Access(10), VlanMode::Access(10)]);
        decide(&mut sw, 0, &ARP_H1);
        sw.set_port_vlan(PortId(0), VlanMode::Access(20)).unwrap();
        assert_eq!(sw.fdb().stats().flushed, 1);
        assert_eq!(
            sw.port(PortId(0)).unwrap().config.vlan,
            VlanMode::Access(20)
        );
        assert_eq!(
            verdict(&mut sw, 1, &H2_TO_H1),
            Verdict::Flood(FloodKind::UnknownUnicast)
        );
    }

    #[test]
    fn every_frame_lands_in_exactly_one_counter() {
        let mut sw = vlan_switch(&[
            VlanMode::Access(1),
            VlanMode::Access(1),
            VlanMode::Access(2),
        ]);
        sw.fdb_mut().add_static(1, MacAddr(H3), PortId(2));
        let frames: [&[u8]; 9] = [
            &ARP_H1,                                     // flood
            &H2_TO_H1[..5],                              // runt
            &mac_frame(H2, [0; 6]),                      // bad source
            &mac_frame([0x01, 0x80, 0xc2, 0, 0, 2], H1), // link-local (LACP)
            &H2_TO_H1,                                   // same port (H1 is on port 0)
            &ARP_H1_VID10,                               // VLAN ingress
            &H1_TO_H3,                                   // VLAN egress
            &mac_frame([0x02, 0, 0, 0, 0, 0x09], H1),    // unknown unicast
            &MDNS_H1,                                    // flood
        ];
        for f in frames {
            decide(&mut sw, 0, f);
        }
        sw.set_port_up(PortId(0), false).unwrap();
        decide(&mut sw, 0, &ARP_H1); // ingress down
        let c = counters(&sw, 0);
        assert_eq!(c.rx_frames, 10);
        assert_eq!((c.flood, c.unknown_unicast, c.unicast), (2, 1, 0));
        let want = [
            (DropReason::Runt, 1),
            (DropReason::BadSource, 1),
            (DropReason::LinkLocal, 1),
            (DropReason::SamePort, 1),
            (DropReason::VlanIngress, 1),
            (DropReason::IngressDown, 1),
            (DropReason::EgressDown, 0),
            (DropReason::VlanEgress, 1),
            (DropReason::TooBig, 0),
            (DropReason::TxFull, 0),
        ];
        for (reason, n) in want {
            assert_eq!(c.drops(reason), n, "{reason}");
        }
        assert_eq!(c.total_drops(), 7);
        assert_eq!(
            c.rx_bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>() + 18
        );
    }

    #[test]
    fn storm_control_drops_floods_over_the_rate_but_never_known_unicast() {
        let mut sw = switch(SwitchConfig::default(), 2);
        let limited = PortConfig {
            storm: StormControl {
                broadcast: Some(20),
                ..StormControl::default()
            },
            ..PortConfig::default()
        };
        let p = sw.add_port(limited).unwrap();
        decide(&mut sw, 1, &ARP_H2);
        // 20 per second: a burst of 2, then one every 50 ms.
        let at = |ms| Instant::from_millis(ms);
        let mut passed = 0;
        for _ in 0..5 {
            passed += usize::from(
                sw.decide(at(0), p, &ARP_H1).verdict != Verdict::Drop(DropReason::Storm),
            );
        }
        assert_eq!(passed, 2);
        assert_eq!(
            sw.decide(at(50), p, &ARP_H1).verdict,
            Verdict::Flood(FloodKind::Broadcast)
        );
        for _ in 0..5 {
            assert_eq!(
                sw.decide(at(50), p, &H1_TO_H2).verdict,
                Verdict::Unicast(PortId(1))
            );
        }
        // Multicast is not limited on this port.
        assert_eq!(
            sw.decide(at(50), p, &MDNS_H1).verdict,
            Verdict::Flood(FloodKind::Multicast)
        );
        assert_eq!(counters(&sw, p.0).drops(DropReason::Storm), 3);
    }

    #[test]
    fn a_flapping_mac_is_held_down_or_shuts_its_port_down() {
        let guarded = |action| SwitchConfig {
            move_guard: Some(MoveGuardConfig {
                moves: 2,
                window: Duration::from_secs(10),
                hold: Duration::from_secs(60),
                action,
            }),
            ..SwitchConfig::default()
        };
        let mut sw = switch(guarded(GuardAction::HoldDown), 3);
        for port in [0, 1, 0] {
            decide(&mut sw, port, &ARP_H1); // two moves: allowed
        }
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(PortId(0)));
        // The third move triggers: H1 stays on port 0, the frame still floods.
        assert_eq!(
            verdict(&mut sw, 1, &ARP_H1),
            Verdict::Flood(FloodKind::Broadcast)
        );
        assert_eq!(
            verdict(&mut sw, 2, &ARP_H1),
            Verdict::Flood(FloodKind::Broadcast)
        );
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(PortId(0)));
        let g = sw.guard_stats();
        assert_eq!((g.hold_downs, g.moves_blocked, g.shutdowns), (1, 2, 0));
        // 60 s later it may move again.
        sw.decide(Instant::from_secs(60), PortId(1), &ARP_H1);
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(PortId(1)));

        let mut sw = switch(guarded(GuardAction::Shutdown), 3);
        for port in [0, 1, 0] {
            decide(&mut sw, port, &ARP_H1);
        }
        decide(&mut sw, 2, &ARP_H2);
        assert_eq!(
            verdict(&mut sw, 2, &ARP_H1),
            Verdict::Drop(DropReason::MoveGuard)
        );
        let p2 = sw.port(PortId(2)).unwrap();
        assert!(!p2.up && p2.shutdown_until == Some(Instant::from_secs(60)));
        assert_eq!(sw.fdb().get(0, MacAddr(H2)), None, "flushed");
        // Link events do not bring it back before its time; the time does.
        sw.set_port_up(PortId(2), true).unwrap();
        assert_eq!(
            verdict(&mut sw, 2, &ARP_H2),
            Verdict::Drop(DropReason::IngressDown)
        );
        sw.advance(Instant::from_secs(60));
        assert!(sw.port(PortId(2)).unwrap().up);
        assert_eq!(sw.guard_stats().shutdowns, 1);
        // A port whose link went down meanwhile comes back down.
        for port in [1, 0] {
            sw.decide(Instant::from_secs(61), PortId(port), &ARP_H1);
        }
        assert_eq!(
            sw.decide(Instant::from_secs(61), PortId(2), &ARP_H1)
                .verdict,
            Verdict::Drop(DropReason::MoveGuard)
        );
        sw.set_port_up(PortId(2), false).unwrap();
        sw.advance(Instant::from_secs(200));
        let p2 = sw.port(PortId(2)).unwrap();
        assert!(!p2.up && p2.shutdown_until.is_none());
    }

    #[test]
    fn a_shutdown_outliving_the_move_guard_ends_on_time_on_the_fast_path_too() {
        let guarded = SwitchConfig {
            move_guard: Some(MoveGuardConfig {
                moves: 2,
                window: Duration::from_secs(10),
                hold: Duration::from_secs(60),
                action: GuardAction::Shutdown,
            }),
            ..SwitchConfig::default()
        };
        let mut sw = switch(guarded, 3);
        for port in [0, 1, 0] {
            decide(&mut sw, port, &ARP_H1);
        }
        assert_eq!(
            verdict(&mut sw, 2, &ARP_H1),
            Verdict::Drop(DropReason::MoveGuard)
        );
        assert!(!sw.port(PortId(2)).unwrap().up);
        // The guard goes; its shutdown of port 2 still ends at 60 s.
        sw.reconfigure(SwitchConfig::default(), T0).unwrap();
        decide(&mut sw, 1, &ARP_H2);
        // At 60 s, known unicast between the two other ports, which the
        // fast path could take, brings port 2 back as the general path does.
        let mut batch: FrameBatch = FrameBatch::with_capacity(1);
        batch.push(&H2_TO_H1);
        let d = sw.forward(Instant::from_secs(60), PortId(1), &batch, |_| Ok(()));
        assert_eq!(d[0].verdict, Verdict::Unicast(PortId(0)));
        assert!(sw.port(PortId(2)).unwrap().up);
    }

    #[test]
    fn a_port_the_move_guard_shuts_mid_batch_is_sent_nothing_after() {
        // Port 1 is in hairpin mode: frames it brings in may go back out of
        // it. The guard shuts a port down at the first move.
        let mut sw = switch(
            SwitchConfig {
                move_guard: Some(MoveGuardConfig {
                    moves: 0,
                    window: Duration::from_secs(10),
                    hold: Duration::from_secs(60),
                    action: GuardAction::Shutdown,
                }),
                ..SwitchConfig::default()
            },
            3,
        );
        let hairpin = PortFlags {
            hairpin: true,
            ..PortFlags::default()
        };
        sw.set_port_flags(PortId(1), hairpin).unwrap();
        const ARP_H3: [u8; 18] = untagged(BROADCAST, H3, ARP, ARP_BODY);
        const H3_TO_H2: [u8; 18] = untagged(H2, H3, IPV4, IPV4_BODY);
        decide(&mut sw, 0, &ARP_H1);
        decide(&mut sw, 1, &ARP_H2);
        decide(&mut sw, 1, &ARP_H3);
        let mut batch = FrameBatch::with_capacity(4);
        batch.push(&H3_TO_H2); // hairpin: back out of port 1
        batch.push(&ARP_H3); // flooded, port 1 included
        batch.push(&H1_TO_H2); // H1 moves in from port 0: port 1 shut down
        batch.push(&H3_TO_H2); // in on a port now down
        let mut sent = Vec::new();
        let verdicts: Vec<Verdict> = sw
            .forward(T0, PortId(1), &batch, |e| {
                sent.push((e.port.0, e.index));
                Ok(())
            })
            .iter()
            .map(|d| d.verdict)
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Unicast(PortId(1)),
                Verdict::Flood(FloodKind::Broadcast),
                Verdict::Drop(DropReason::MoveGuard),
                Verdict::Drop(DropReason::IngressDown),
            ]
        );
        // The two frames decided for port 1 before its shutdown are not sent
        // to it after: dropped at transmit, on port 1, as `tx-down`.
        assert_eq!(sent, [(0, 1), (2, 1)]);
        let c1 = counters(&sw, 1);
        assert!(!sw.port(PortId(1)).unwrap().up);
        assert_eq!((c1.tx_frames, c1.drops(DropReason::TxDown)), (0, 2));
        // Received and decided all the same (two floods before the batch).
        assert_eq!((c1.rx_frames, c1.unicast, c1.flood), (6, 1, 3));
        assert_eq!(c1.drops(DropReason::MoveGuard), 1);
        assert_eq!(c1.drops(DropReason::IngressDown), 1);
        assert_eq!(counters(&sw, 0).tx_frames, 1);
        assert_eq!(counters(&sw, 2).tx_frames, 1);
        // One frame at a time, each delivered before the next is decided,
        // the same frames reach port 1 while it is still up.
        let mut sw2 = switch(*sw.config(), 3);
        sw2.set_port_flags(PortId(1), hairpin).unwrap();
        decide(&mut sw2, 0, &ARP_H1);
        decide(&mut sw2, 1, &ARP_H2);
        decide(&mut sw2, 1, &ARP_H3);
        let mut one = Vec::new();
        for (i, f) in batch.iter().enumerate() {
            sw2.forward_one(T0, PortId(1), f, |e| {
                one.push((e.port.0, i));
                Ok(())
            });
        }
        assert_eq!(one, [(1, 0), (0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn a_port_at_its_mac_limit_learns_no_more_or_drops() {
        let mut sw = switch(SwitchConfig::default(), 1);
        let p = sw.add_port(one_mac(MacLimitAction::NoLearn)).unwrap();
        decide(&mut sw, p.0, &ARP_H1);
        assert_eq!(
            verdict(&mut sw, p.0, &ARP_H2),
            Verdict::Flood(FloodKind::Broadcast)
        );
        assert_eq!(sw.fdb().get(0, MacAddr(H2)), None);
        // H1 is still refreshed there; H2's frames are forwarded.
        assert_eq!(
            verdict(&mut sw, p.0, &H2_TO_H1),
            Verdict::Drop(DropReason::SamePort)
        );
        assert_eq!(sw.guard_stats().mac_limit_refused, 2);
        let q = sw.add_port(one_mac(MacLimitAction::Drop)).unwrap();
        decide(&mut sw, q.0, &ARP_H2);
        // A move onto a full port is a new MAC for it too.
        assert_eq!(
            verdict(&mut sw, q.0, &ARP_H1),
            Verdict::Drop(DropReason::MacLimit)
        );
        assert_eq!(sw.fdb().get(0, MacAddr(H1)), Some(p));
        assert_eq!(counters(&sw, q.0).drops(DropReason::MacLimit), 1);
        assert_eq!(verdict(&mut sw, 0, &H1_TO_H2), Verdict::Unicast(q));
    }

    fn events(sw: &mut Switch) -> Vec<Record> {
        let mut v = Vec::new();
        sw.drain_events(|r| v.push(r));
        v
    }

    fn kinds(records: &[Record]) -> Vec<Event> {
        records.iter().map(|r| r.event).collect()
    }

    #[test]
    fn the_event_log_tells_learned_moved_aged_and_flushed_in_order() {
        let mut sw = switch(
            SwitchConfig {
                fdb: FdbConfig {
                    aging_time: Duration::from_secs(10),
                    ..FdbConfig::default()
                },
                ..SwitchConfig::default()
            },
            3,
        );
        // Off: nothing is kept.
        decide(&mut sw, 0, &ARP_H1);
        assert!(events(&mut sw).is_empty());
        sw.set_event_log(64);
        let mac1 = MacAddr(H1);
        let mac2 = MacAddr(H2);
        decide(&mut sw, 1, &ARP_H2);
        decide(&mut sw, 1, &H2_TO_H1); // a refresh: no event
        decide(&mut sw, 2, &ARP_H1); // H1 moves 0 -> 2
        sw.advance(Instant::from_millis(10_000)); // both age out
        decide(&mut sw, 0, &ARP_H1);
        decide(&mut sw, 1, &ARP_H2);
        assert_eq!(sw.flush(None), 2);
        sw.set_port_up(PortId(2), false).unwrap();
        sw.set_port_up(PortId(2), true).unwrap();
        decide(&mut sw, 2, &ARP_H1);
        sw.remove_port(PortId(2)).unwrap();
        let got = events(&mut sw);
        let p = PortId;
        let learned = |mac, port| Event::Learned {
            vid: 0,
            mac,
            port: p(port),
        };
        let aged = |mac, port| Event::Aged {
            vid: 0,
            mac,
            port: p(port),
        };
        let aged_first = kinds(&got)[2..4].to_vec();
        assert!(
            aged_first.contains(&aged(mac1, 2)) && aged_first.contains(&aged(mac2, 1)),
            "{got:?}"
        );
        assert_eq!(
            kinds(&got),
            [
                learned(mac2, 1),
                Event::Moved {
                    vid: 0,
                    mac: mac1,
                    from: p(0),
                    to: p(2)
                },
                aged_first[0],
                aged_first[1],
                learned(mac1, 0),
                learned(mac2, 1),
                Event::Flushed {
                    count: 2,
                    port: None,
                    reason: FlushReason::Command
                },
                Event::PortDown(p(2)),
                Event::PortUp(p(2)),
                learned(mac1, 2),
                Event::Flushed {
                    count: 1,
                    port: Some(p(2)),
                    reason: FlushReason::PortRemoved
                },
                Event::PortRemoved(p(2)),
            ]
        );
        let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        assert_eq!(got[2].at, Instant::from_millis(10_000));
    }

    #[test]
    fn a_flush_of_100000_entries_is_one_event_and_an_overflow_is_counted() {
        let mut sw = switch(
            SwitchConfig {
                fdb: FdbConfig {
                    capacity: 200_000,
                    ..FdbConfig::default()
                },
                ..SwitchConfig::default()
            },
            2,
        );
        for i in 0..100_000u32 {
            let b = i.to_be_bytes();
            sw.fdb_mut()
                .learn(T0, 0, MacAddr([2, 0, b[0], b[1], b[2], b[3]]), PortId(0));
        }
        sw.set_event_log(16);
        sw.set_port_up(PortId(0), false).unwrap();
        assert_eq!(
            kinds(&events(&mut sw)),
            [
                Event::PortDown(PortId(0)),
                Event::Flushed {
                    count: 100_000,
                    port: Some(PortId(0)),
                    reason: FlushReason::PortDown
                }
            ]
        );
        // 40 new hosts into a queue of 16: 16 kept, then one marker for 24.
        for i in 0..40u8 {
            decide(&mut sw, 1, &mac_frame(H2, [2, 1, 0, 0, 0, i]));
        }
        let got = events(&mut sw);
        assert_eq!(got.len(), 17);
        assert_eq!(got[16].event, Event::Missed { count: 24 });
        assert_eq!(got[16].seq, got[15].seq + 1);
        decide(&mut sw, 1, &mac_frame(H2, [2, 1, 0, 0, 1, 0]));
        assert_eq!(events(&mut sw)[0].seq, got[16].seq + 24);
    }

    #[test]
    fn evictions_and_protections_are_events() {
        // A full table of 1 evicts the older entry for a new one.
        let mut sw = switch(
            SwitchConfig {
                fdb: FdbConfig {
                    capacity: 1,
                    policy: EvictionPolicy::FairLru,
                    ..FdbConfig::default()
                },
                ..SwitchConfig::default()
            },
            2,
        );
        sw.set_event_log(8);
        decide(&mut sw, 0, &ARP_H1);
        decide(&mut sw, 1, &ARP_H2);
        assert_eq!(
            kinds(&events(&mut sw))[1..],
            [
                Event::Evicted {
                    vid: 0,
                    mac: MacAddr(H1),
                    port: PortId(0)
                },
                Event::Learned {
                    vid: 0,
                    mac: MacAddr(H2),
                    port: PortId(1)
                }
            ]
        );

        // The MAC limit refuses, the move guard holds down.
        let mut sw = switch(
            SwitchConfig {
                move_guard: Some(MoveGuardConfig {
                    moves: 1,
                    window: Duration::from_secs(10),
                    hold: Duration::from_secs(60),
                    action: GuardAction::HoldDown,
                }),
                ..SwitchConfig::default()
            },
            2,
        );
        let q = sw.add_port(one_mac(MacLimitAction::NoLearn)).unwrap();
        sw.set_event_log(16);
        decide(&mut sw, q.0, &ARP_H1);
        decide(&mut sw, q.0, &ARP_H2);
        for port in [0, 1] {
            decide(&mut sw, port, &ARP_H1);
        }
        let got = kinds(&events(&mut sw));
        assert!(got.contains(&Event::MacLimit {
            vid: 0,
            mac: MacAddr(H2),
            port: q
        }));
        assert_eq!(
            got.last(),
            Some(&Event::HoldDown {
                vid: 0,
                mac: MacAddr(H1),
                port: PortId(0),
                to: PortId(1)
            })
        );

        // Storm control: one start when it begins dropping, one end with the
        // count when it lets a flood through again.
        let mut sw = switch(SwitchConfig::default(), 1);
        let p = sw
            .add_port(PortConfig {
                storm: StormControl {
                    broadcast: Some(20),
                    ..StormControl::default()
                },
                ..PortConfig::default()
            })
            .unwrap();
        sw.set_event_log(16);
        for _ in 0..5 {
            sw.decide(T0, p, &ARP_H1);
        }
        sw.decide(Instant::from_millis(50), p, &ARP_H1);
        let kind = FloodKind::Broadcast;
        assert_eq!(
            kinds(&events(&mut sw))[1..],
            [
                Event::StormStart { port: p, kind },
                Event::StormEnd {
                    port: p,
                    kind,
                    dropped: 3
                }
            ]
        );

        // A storm that simply stops ends with the timer, once a burst's worth
        // of quiet has passed (rate 20/s, burst 2 frames: 100 ms), without
        // another flood.
        for _ in 0..5 {
            sw.decide(Instant::from_millis(1000), p, &ARP_H1);
        }
        sw.advance(Instant::from_millis(1050));
        assert_eq!(
            kinds(&events(&mut sw)),
            [Event::StormStart { port: p, kind }],
            "half refilled: the storm goes on"
        );
        sw.advance(Instant::from_millis(1100));
        assert_eq!(
            kinds(&events(&mut sw)),
            [Event::StormEnd {
                port: p,
                kind,
                dropped: 3
            }]
        );
        sw.advance(Instant::from_millis(5000));
        assert!(events(&mut sw).is_empty(), "one end per storm");
    }
}
