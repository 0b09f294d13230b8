//! Spanning tree: RSTP (IEEE 802.1D-2004 clause 17) with per-port fallback to
//! 802.1D STP, so that the switch takes part in the spanning tree of the Linux
//! bridge (STP only) and Open vSwitch.
//!
//! [`Stp`] is pure logic like the rest of core: the adapter hands it the BPDUs
//! it receives ([`Stp::receive`]) and the time ([`Stp::tick`]), sends the BPDUs
//! it produces ([`Stp::drain_transmit`]), flushes the learned entries it asks
//! for ([`Stp::drain_flushes`]) and gates each port by [`Stp::state`]: a
//! discarding port neither learns nor forwards, a learning port learns only.
//!
//! What is modelled: priority vectors, role selection (root, designated,
//! alternate, backup, disabled), the discarding/learning/forwarding states with
//! forward-delay timers, proposal/agreement with sync on point-to-point links,
//! re-rooting, disputes (a designated port hearing an inferior designated
//! neighbour that learns stops forwarding), admin and automatic edge ports,
//! topology change (TC flag, TC
//! while, flush of the other ports, propagation; TCN and TC acknowledgment
//! towards STP bridges), protocol migration and the transmit hold count. The
//! state machines of clause 17.29 are condensed into one evaluation step that
//! runs after every received BPDU and tick; their timers are deadlines.
//!
//! The transmit hold count is a window: a port sends a BPDU only if fewer
//! than the hold count went in the last second. 802.1D-2004 (17.19.44
//! txCount) counts instead with a counter raised by each BPDU and lowered by
//! one each second; with a hello time of 1 s each hello raises it as much as
//! a second lowers it, so what a burst (start-up, a topology change) left in
//! it stays, and a later burst is held: an agreement at failover then waited
//! for the next second (0.8-1.9 s outages in benches/stp-failover.sh).
//!
//! ```
//! use vswitch_core::stp::{Stp, StpConfig, StpPortConfig, State};
//! use vswitch_core::{Instant, MacAddr, PortId};
//! let mut stp = Stp::new(StpConfig::default(), MacAddr([2, 0, 0, 0, 0, 1]));
//! stp.add_port(Instant::ZERO, PortId(0), MacAddr([2, 0, 0, 0, 1, 1]), StpPortConfig::default());
//! let mut sent = 0;
//! stp.drain_transmit(|_port, _frame| sent += 1);
//! assert_eq!(sent, 1); // its first BPDU, proposing
//! assert_eq!(stp.state(PortId(0)), State::Discarding);
//! ```

pub mod bpdu;

use alloc::vec::Vec;
use core::fmt;

use crate::mac::MacAddr;
use crate::port::PortId;
use crate::time::Instant;
use bpdu::{flags, Bpdu, BpduKind, BridgeId, Times, WireRole};

/// Which protocol the bridge speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StpMode {
    /// RSTP, falling back to STP on ports that hear an STP bridge.
    Rstp,
    /// 802.1D STP only (RSTP's force-version 0).
    Stp,
}

/// Bridge-wide settings (802.1D-2004 17.13/17.14; times in seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StpConfig {
    /// The protocol.
    pub mode: StpMode,
    /// Bridge priority, a multiple of 4096 (lower wins the root election).
    pub priority: u16,
    /// Hello time, 1..=2 s.
    pub hello_time: u16,
    /// Max age, 6..=40 s.
    pub max_age: u16,
    /// Forward delay, 4..=30 s.
    pub forward_delay: u16,
    /// Transmit hold count: BPDUs a port may send per second, 1..=10.
    pub tx_hold_count: u8,
}

impl Default for StpConfig {
    /// The defaults of 802.1D-2004 table 17-1.
    fn default() -> StpConfig {
        StpConfig {
            mode: StpMode::Rstp,
            priority: 32768,
            hello_time: 2,
            max_age: 20,
            forward_delay: 15,
            tx_hold_count: 6,
        }
    }
}

/// Why a setting is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StpConfigError {
    /// Bridge priority not a multiple of 4096.
    Priority(u16),
    /// Port priority not a multiple of 16 (0..=240).
    PortPriority(u8),
    /// Times out of range or not 2 × (forward delay - 1) >= max age >= 2 × (hello + 1).
    Times,
    /// Transmit hold count not in 1..=10.
    TxHoldCount(u8),
    /// Path cost not in 1..=200,000,000.
    PathCost(u32),
    /// BPDU guard on a port that is not an admin edge port.
    BpduGuardNotEdge,
}

impl fmt::Display for StpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StpConfigError::Priority(p) => {
                write!(f, "bridge priority {p} is not a multiple of 4096")
            }
            StpConfigError::PortPriority(p) => {
                write!(f, "port priority {p} is not a multiple of 16")
            }
            StpConfigError::Times => write!(
                f,
                "spanning tree times out of range: need hello 1..=2, max age 6..=40, forward delay 4..=30 and 2*(forward delay-1) >= max age >= 2*(hello+1)"
            ),
            StpConfigError::TxHoldCount(n) => write!(f, "transmit hold count {n} is not in 1..=10"),
            StpConfigError::PathCost(c) => write!(f, "path cost {c} is not in 1..=200000000"),
            StpConfigError::BpduGuardNotEdge => write!(
                f,
                "BPDU guard protects edge ports only: set the port's edge setting too, or turn the guard off"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StpConfigError {}

impl StpConfig {
    /// Checks the ranges and the relation of 802.1D-2004 17.14.
    pub fn validate(&self) -> Result<(), StpConfigError> {
        if self.priority % 4096 != 0 {
            return Err(StpConfigError::Priority(self.priority));
        }
        let (h, m, d) = (self.hello_time, self.max_age, self.forward_delay);
        if !(1..=2).contains(&h)
            || !(6..=40).contains(&m)
            || !(4..=30).contains(&d)
            || 2 * (d - 1) < m
            || m < 2 * (h + 1)
        {
            return Err(StpConfigError::Times);
        }
        if !(1..=10).contains(&self.tx_hold_count) {
            return Err(StpConfigError::TxHoldCount(self.tx_hold_count));
        }
        Ok(())
    }
}

/// Per-port settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StpPortConfig {
    /// Port priority, a multiple of 16 (lower is preferred).
    pub priority: u8,
    /// Port path cost; see [`path_cost_for_speed`].
    pub path_cost: u32,
    /// Administratively an edge port (a port to hosts only): forwards at once.
    pub admin_edge: bool,
    /// Becomes an edge port by itself when no bridge answers its proposals.
    pub auto_edge: bool,
    /// Whether the link is point-to-point (proposal/agreement is used only there).
    pub point_to_point: PointToPoint,
    /// BPDU guard: the port (an admin edge port) is shut down when it hears a
    /// BPDU, until its link goes down and up again or [`Stp::clear_guard`].
    pub bpdu_guard: bool,
    /// Root guard (802.1Q restrictedRole): the port never becomes root port; a
    /// superior BPDU makes it root-inconsistent (discarding) until such BPDUs stop.
    pub root_guard: bool,
}

/// Whether a port's link is point-to-point (802.1D-2004 6.4.3
/// adminPointToPointMAC); proposal/agreement, and so fast transitions to
/// forwarding, work only on point-to-point links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PointToPoint {
    /// From the link's duplex: full duplex is point-to-point (the adapter
    /// says, [`Stp::set_full_duplex`]; full until it does).
    #[default]
    Auto,
    /// Always point-to-point.
    ForceTrue,
    /// Never point-to-point (a shared segment).
    ForceFalse,
}

impl PointToPoint {
    /// `auto`, `true` or `false`, as the settings spell it.
    pub fn name(self) -> &'static str {
        match self {
            PointToPoint::Auto => "auto",
            PointToPoint::ForceTrue => "true",
            PointToPoint::ForceFalse => "false",
        }
    }
}

impl Default for StpPortConfig {
    fn default() -> StpPortConfig {
        StpPortConfig {
            priority: 128,
            path_cost: DEFAULT_PATH_COST,
            admin_edge: false,
            auto_edge: true,
            point_to_point: PointToPoint::Auto,
            bpdu_guard: false,
            root_guard: false,
        }
    }
}

impl StpPortConfig {
    /// Checks the port priority and path cost.
    pub fn validate(&self) -> Result<(), StpConfigError> {
        if self.priority % 16 != 0 {
            return Err(StpConfigError::PortPriority(self.priority));
        }
        if !(1..=200_000_000).contains(&self.path_cost) {
            return Err(StpConfigError::PathCost(self.path_cost));
        }
        if self.bpdu_guard && !self.admin_edge {
            return Err(StpConfigError::BpduGuardNotEdge);
        }
        Ok(())
    }
}

/// The path cost of a port whose speed is unknown: that of 1 Gb/s.
pub const DEFAULT_PATH_COST: u32 = 20_000;

/// The recommended path cost of a link of `mbps` megabits per second
/// (802.1D-2004 table 17-3: 20,000,000,000 / speed in kb/s).
pub fn path_cost_for_speed(mbps: u64) -> u32 {
    if mbps == 0 {
        return DEFAULT_PATH_COST;
    }
    (20_000_000 / mbps).clamp(1, 200_000_000) as u32
}

/// A port's role in the active topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Link down or not taking part.
    Disabled,
    /// The port nearest the root bridge.
    Root,
    /// The port that forwards onto its link towards the leaves.
    Designated,
    /// A blocked port with another path to the root.
    Alternate,
    /// A blocked port on a link another port of this bridge is designated for.
    Backup,
}

impl Role {
    /// Lowercase name, as `ovs-appctl rstp/show` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Disabled => "disabled",
            Role::Root => "root",
            Role::Designated => "designated",
            Role::Alternate => "alternate",
            Role::Backup => "backup",
        }
    }
}

/// A port's forwarding state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Neither learns nor forwards (BPDUs still go to the protocol).
    Discarding,
    /// Learns source addresses, forwards nothing.
    Learning,
    /// Learns and forwards.
    Forwarding,
}

impl State {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            State::Discarding => "discarding",
            State::Learning => "learning",
            State::Forwarding => "forwarding",
        }
    }

    /// True if frames received on the port may be learned from.
    pub fn learns(self) -> bool {
        self != State::Discarding
    }

    /// True if frames may enter or leave through the port.
    pub fn forwards(self) -> bool {
        self == State::Forwarding
    }
}

/// A priority vector (802.1D-2004 17.6) without the receiving port: lower is better.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    /// Root bridge.
    pub root: BridgeId,
    /// Root path cost.
    pub cost: u32,
    /// Designated bridge.
    pub bridge: BridgeId,
    /// Designated port.
    pub port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InfoIs {
    Disabled,
    Aged,
    Mine,
    Received,
}

/// Counters of one port's BPDUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BpduCounters {
    /// BPDUs received and processed.
    pub rx: u64,
    /// BPDUs sent.
    pub tx: u64,
    /// Malformed BPDUs dropped (the sum of the first three reasons in `dropped`).
    pub malformed: u64,
    /// Received, by kind.
    pub rx_kind: KindCounters,
    /// Sent, by kind.
    pub tx_kind: KindCounters,
    /// BPDUs dropped, by reason.
    pub dropped: DropCounters,
    /// Topology changes this port detected or was told of (TC flag or TCN).
    pub topology_changes: u64,
    /// Times BPDU guard shut the port down.
    pub bpdu_guard_trips: u64,
    /// Times root guard blocked the port (it became root-inconsistent).
    pub root_guard_blocks: u64,
    /// Times a BPDU with new information had to wait because the port had
    /// already sent the transmit hold count of BPDUs (counted once per wait).
    pub tx_held: u64,
}

/// BPDUs by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounters {
    /// 802.1D Configuration BPDUs.
    pub config: u64,
    /// RST BPDUs.
    pub rst: u64,
    /// Topology Change Notifications.
    pub tcn: u64,
}

impl KindCounters {
    fn count(&mut self, kind: BpduKind) {
        match kind {
            BpduKind::Config => self.config += 1,
            BpduKind::Rst => self.rst += 1,
            BpduKind::Tcn => self.tcn += 1,
        }
    }
}

/// BPDUs dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Shorter than its type needs.
    pub truncated: u64,
    /// Not LLC 42 42 03 or protocol identifier not 0.
    pub not_bpdu: u64,
    /// Unknown BPDU type.
    pub unknown_type: u64,
    /// Message age at or over max age (802.1D-2004 17.21.23).
    pub too_old: u64,
    /// Heard while BPDU guard had the port shut down.
    pub guarded: u64,
}

impl DropCounters {
    /// Every reason with its count, by name.
    pub fn by_reason(&self) -> [(&'static str, u64); 5] {
        [
            ("truncated", self.truncated),
            ("not-bpdu", self.not_bpdu),
            ("unknown-type", self.unknown_type),
            ("too-old", self.too_old),
            ("bpdu-guard", self.guarded),
        ]
    }
}

/// Something worth a log line, from [`Stp::drain_events`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StpEvent {
    /// The root bridge changed (to this bridge when `port` is `None`).
    RootChanged {
        /// The root bridge now.
        root: BridgeId,
        /// The root port now.
        port: Option<PortId>,
    },
    /// A port's role changed.
    RoleChanged {
        /// The port.
        port: PortId,
        /// The role before.
        from: Role,
        /// The role now.
        to: Role,
    },
    /// BPDU guard shut a port down: it heard a BPDU from `bridge`.
    BpduGuardTripped {
        /// The port.
        port: PortId,
        /// The sender's bridge identifier (0 for a TCN or unparsable BPDU).
        bridge: BridgeId,
    },
    /// Root guard blocks a port: it hears a superior root `root`.
    RootGuardBlocking {
        /// The port.
        port: PortId,
        /// The root it was offered.
        root: BridgeId,
    },
    /// Root guard no longer blocks a port (the superior BPDUs stopped).
    RootGuardReleased {
        /// The port.
        port: PortId,
    },
}

impl fmt::Display for StpEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StpEvent::RootChanged { root, port: None } => {
                write!(f, "root bridge now {root}: this bridge")
            }
            StpEvent::RootChanged {
                root,
                port: Some(p),
            } => write!(f, "root bridge now {root}, root port {}", p.0),
            StpEvent::RoleChanged { port, from, to } => {
                write!(f, "port {} role {} -> {}", port.0, from.name(), to.name())
            }
            StpEvent::BpduGuardTripped { port, bridge } => write!(
                f,
                "port {} shut down by BPDU guard: heard a BPDU from bridge {bridge}",
                port.0
            ),
            StpEvent::RootGuardBlocking { port, root } => write!(
                f,
                "port {} root-inconsistent: root guard blocks the superior root {root}",
                port.0
            ),
            StpEvent::RootGuardReleased { port } => {
                write!(f, "port {} root guard released: no superior BPDUs", port.0)
            }
        }
    }
}

/// The events kept until [`Stp::drain_events`]; the oldest are dropped beyond.
const MAX_EVENTS: usize = 1024;

/// The last topology change a bridge saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastTopologyChange {
    /// When.
    pub at: Instant,
    /// The port that detected it or was told of it.
    pub port: PortId,
    /// The bridge that told of it (its BPDU's sender), `None` when detected here.
    pub from: Option<BridgeId>,
}

/// What `show` prints about a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// The port.
    pub port: PortId,
    /// Its port identifier (priority << 8 | number).
    pub port_id: u16,
    /// Role.
    pub role: Role,
    /// State.
    pub state: State,
    /// Path cost.
    pub path_cost: u32,
    /// Operating as an edge port.
    pub edge: bool,
    /// The point-to-point setting.
    pub admin_p2p: PointToPoint,
    /// Operating as point-to-point (proposal/agreement in use).
    pub p2p: bool,
    /// BPDU guard is on.
    pub bpdu_guard: bool,
    /// BPDU guard has shut the port down.
    pub guard_tripped: bool,
    /// Root guard is on.
    pub root_guard: bool,
    /// Root guard blocks the port now.
    pub root_inconsistent: bool,
    /// Speaking RSTP (false: fallen back to STP).
    pub rstp: bool,
    /// The designated bridge of its link.
    pub designated_bridge: BridgeId,
    /// BPDU counters.
    pub counters: BpduCounters,
}

#[derive(Clone)]
struct StpPort {
    mac: MacAddr,
    config: StpPortConfig,
    port_id: u16,
    enabled: bool,
    role: Role,
    state: State,
    info_is: InfoIs,
    port_priority: Priority,
    port_times: Times,
    designated_priority: Priority,
    rcvd_until: Instant,
    fd_until: Instant,
    rr_until: Instant,
    edge_until: Instant,
    mdelay_until: Instant,
    hello_until: Instant,
    tc_until: Instant,
    oper_edge: bool,
    send_rstp: bool,
    proposing: bool,
    proposed: bool,
    agree: bool,
    agreed: bool,
    new_info: bool,
    tc_ack: bool,
    rcvd_tc: bool,
    rcvd_tcn: bool,
    tc_from: Option<BridgeId>,
    /// When the port's last BPDUs went, a ring (`tx_next` is the slot of
    /// the next): the transmit hold count lets a BPDU go only if the one sent
    /// that many BPDUs ago went at least a second before.
    tx_times: [Option<Instant>; MAX_TX_HOLD],
    tx_next: usize,
    /// A BPDU is waiting for the transmit hold count (counted in `tx_held` once).
    held: bool,
    counters: BpduCounters,
    full_duplex: bool,
    guard_tripped: bool,
    root_inconsistent: bool,
}

impl StpPort {
    /// True if the port may send a BPDU at `now` under a transmit hold count
    /// of `hold`: fewer than `hold` BPDUs went in the last second.
    fn may_send(&self, now: Instant, hold: u8) -> bool {
        let hold = usize::from(hold).clamp(1, MAX_TX_HOLD);
        let oldest = (self.tx_next + MAX_TX_HOLD - hold) % MAX_TX_HOLD;
        self.tx_times[oldest].is_none_or(|at| now.millis() >= at.millis() + 1000)
    }

    /// Notes a BPDU sent at `now` for the transmit hold count.
    fn note_sent(&mut self, now: Instant) {
        self.tx_times[self.tx_next] = Some(now);
        self.tx_next = (self.tx_next + 1) % MAX_TX_HOLD;
    }

    /// operPointToPointMAC.
    fn p2p(&self) -> bool {
        match self.config.point_to_point {
            PointToPoint::Auto => self.full_duplex,
            PointToPoint::ForceTrue => true,
            PointToPoint::ForceFalse => false,
        }
    }
}

/// The spanning tree of one bridge.
#[derive(Clone)]
pub struct Stp {
    config: StpConfig,
    bridge_id: BridgeId,
    ports: Vec<Option<StpPort>>,
    root_priority: Priority,
    root_port: Option<PortId>,
    root_times: Times,
    now: Instant,
    reselect: bool,
    topology_changes: u64,
    last_tc: Option<LastTopologyChange>,
    events: Vec<StpEvent>,
    tx: Vec<(PortId, Bpdu)>,
    flushes: Vec<PortId>,
    scratch: Vec<u8>,
}

/// The largest transmit hold count (802.1D-2004 table 17-1).
const MAX_TX_HOLD: usize = 10;

/// Migration delay and edge delay: 3 s (802.1D-2004 17.13.9).
const MIGRATE_MS: u64 = 3000;

fn after(now: Instant, secs: u16) -> Instant {
    Instant::from_millis(now.millis() + u64::from(secs) * 1000)
}

impl Stp {
    /// A bridge with no ports, of address `mac` (its bridge identifier is the
    /// priority and this address). The config should have passed
    /// [`StpConfig::validate`].
    pub fn new(config: StpConfig, mac: MacAddr) -> Stp {
        let bridge_id = BridgeId::new(config.priority, mac);
        let own = Priority {
            root: bridge_id,
            cost: 0,
            bridge: bridge_id,
            port: 0,
        };
        Stp {
            config,
            bridge_id,
            ports: Vec::new(),
            root_priority: own,
            root_port: None,
            root_times: own_times(&config),
            now: Instant::ZERO,
            reselect: true,
            topology_changes: 0,
            last_tc: None,
            events: Vec::new(),
            tx: Vec::new(),
            flushes: Vec::new(),
            scratch: Vec::with_capacity(64),
        }
    }

    /// The settings.
    pub fn config(&self) -> &StpConfig {
        &self.config
    }

    /// Changes the bridge settings (priority, times, mode) at `now`.
    pub fn set_config(&mut self, now: Instant, config: StpConfig) {
        let mac = self.bridge_id.mac();
        self.config = config;
        self.bridge_id = BridgeId::new(config.priority, mac);
        for p in self.ports.iter_mut().flatten() {
            p.send_rstp = config.mode == StpMode::Rstp;
            if p.info_is == InfoIs::Mine {
                p.info_is = InfoIs::Aged;
            }
        }
        self.reselect = true;
        self.update(now);
    }

    /// This bridge's identifier.
    pub fn bridge_id(&self) -> BridgeId {
        self.bridge_id
    }

    /// The root bridge as this bridge sees it.
    pub fn root_id(&self) -> BridgeId {
        self.root_priority.root
    }

    /// The cost of this bridge's path to the root.
    pub fn root_path_cost(&self) -> u32 {
        self.root_priority.cost
    }

    /// The root port, `None` on the root bridge.
    pub fn root_port(&self) -> Option<PortId> {
        self.root_port
    }

    /// The root bridge's times as this bridge uses them.
    pub fn root_times(&self) -> Times {
        self.root_times
    }

    /// How many topology changes this bridge detected or was told of.
    pub fn topology_changes(&self) -> u64 {
        self.topology_changes
    }

    /// The last topology change this bridge detected or was told of.
    pub fn last_topology_change(&self) -> Option<LastTopologyChange> {
        self.last_tc
    }

    /// The time this bridge is at (the latest it was given).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Hands the events (root and role changes, guard trips) since the last call.
    pub fn drain_events(&mut self, mut event: impl FnMut(StpEvent)) {
        for e in self.events.drain(..) {
            event(e);
        }
    }

    fn event(&mut self, e: StpEvent) {
        push_event(&mut self.events, e);
    }

    /// Adds (or replaces) a port, enabled, at `now`. `mac` is the source address
    /// of its BPDUs; the port number in its identifier is `port.0 + 1`.
    pub fn add_port(&mut self, now: Instant, port: PortId, mac: MacAddr, config: StpPortConfig) {
        let i = usize::from(port.0);
        if self.ports.len() <= i {
            self.ports.resize_with(i + 1, || None);
        }
        let number = (port.0.wrapping_add(1)) & 0x0fff;
        self.ports[i] = Some(StpPort {
            mac,
            config,
            port_id: (u16::from(config.priority) << 8) | number,
            enabled: false,
            role: Role::Disabled,
            state: State::Discarding,
            info_is: InfoIs::Disabled,
            port_priority: Priority::default(),
            port_times: Times::default(),
            designated_priority: Priority::default(),
            rcvd_until: now,
            fd_until: now,
            rr_until: now,
            edge_until: now,
            mdelay_until: now,
            hello_until: now,
            tc_until: now,
            oper_edge: false,
            send_rstp: false,
            proposing: false,
            proposed: false,
            agree: false,
            agreed: false,
            new_info: false,
            tc_ack: false,
            rcvd_tc: false,
            rcvd_tcn: false,
            tc_from: None,
            tx_times: [None; MAX_TX_HOLD],
            tx_next: 0,
            held: false,
            counters: BpduCounters::default(),
            full_duplex: true,
            guard_tripped: false,
            root_inconsistent: false,
        });
        self.set_enabled(now, port, true);
    }

    /// Removes a port.
    pub fn remove_port(&mut self, now: Instant, port: PortId) {
        if let Some(slot) = self.ports.get_mut(usize::from(port.0)) {
            *slot = None;
            self.reselect = true;
            self.update(now);
        }
    }

    /// Changes a port's settings at `now` (priority, cost, edge).
    pub fn set_port_config(&mut self, now: Instant, port: PortId, config: StpPortConfig) {
        if let Some(p) = self.port_mut(port) {
            p.config = config;
            p.port_id = (u16::from(config.priority) << 8) | (p.port_id & 0x0fff);
            p.oper_edge = config.admin_edge;
            if p.info_is == InfoIs::Mine {
                p.info_is = InfoIs::Aged;
            }
            self.reselect = true;
            self.update(now);
        }
    }

    /// Link up (`true`) or down at `now`. A port going down is discarding and
    /// its learned entries are to be flushed.
    pub fn set_enabled(&mut self, now: Instant, port: PortId, enabled: bool) {
        let rstp = self.config.mode == StpMode::Rstp;
        let Some(p) = self.port_mut(port) else {
            return;
        };
        if p.enabled == enabled {
            return;
        }
        p.enabled = enabled;
        // Link down and up again re-enables a port BPDU guard shut down, as
        // `shutdown` / `no shutdown` does on other switches.
        p.guard_tripped = false;
        if enabled {
            p.info_is = InfoIs::Aged;
            p.send_rstp = rstp;
            p.oper_edge = p.config.admin_edge;
            p.edge_until = Instant::from_millis(now.millis() + MIGRATE_MS);
            p.mdelay_until = p.edge_until;
            p.hello_until = now;
        } else {
            p.info_is = InfoIs::Disabled;
        }
        self.reselect = true;
        self.update(now);
    }

    /// The link's duplex, for [`PointToPoint::Auto`]: a full-duplex link is
    /// point-to-point (802.1D-2004 6.4.3).
    pub fn set_full_duplex(&mut self, now: Instant, port: PortId, full: bool) {
        if let Some(p) = self.port_mut(port) {
            if p.full_duplex != full {
                p.full_duplex = full;
                p.agreed = false;
                self.update(now);
            }
        }
    }

    /// Re-enables a port BPDU guard shut down (the explicit command). Returns
    /// false if the port is unknown or not shut down.
    pub fn clear_guard(&mut self, now: Instant, port: PortId) -> bool {
        let Some(p) = self.port_mut(port) else {
            return false;
        };
        if !p.guard_tripped {
            return false;
        }
        p.guard_tripped = false;
        if p.enabled {
            p.info_is = InfoIs::Aged;
            p.oper_edge = p.config.admin_edge;
            p.edge_until = Instant::from_millis(now.millis() + MIGRATE_MS);
            p.hello_until = now;
        }
        self.reselect = true;
        self.update(now);
        true
    }

    fn port_mut(&mut self, port: PortId) -> Option<&mut StpPort> {
        self.ports.get_mut(usize::from(port.0))?.as_mut()
    }

    fn port(&self, port: PortId) -> Option<&StpPort> {
        self.ports.get(usize::from(port.0))?.as_ref()
    }

    /// The forwarding state of `port` (discarding for an unknown port).
    pub fn state(&self, port: PortId) -> State {
        self.port(port).map_or(State::Discarding, |p| p.state)
    }

    /// The role of `port` (disabled for an unknown port).
    pub fn role(&self, port: PortId) -> Role {
        self.port(port).map_or(Role::Disabled, |p| p.role)
    }

    /// What `show` prints about `port`.
    pub fn status(&self, port: PortId) -> Option<PortStatus> {
        let p = self.port(port)?;
        Some(PortStatus {
            port,
            port_id: p.port_id,
            role: p.role,
            state: p.state,
            path_cost: p.config.path_cost,
            edge: p.oper_edge,
            admin_p2p: p.config.point_to_point,
            p2p: p.p2p(),
            bpdu_guard: p.config.bpdu_guard,
            guard_tripped: p.guard_tripped,
            root_guard: p.config.root_guard,
            root_inconsistent: p.root_inconsistent,
            rstp: p.send_rstp,
            designated_bridge: p.port_priority.bridge,
            counters: p.counters,
        })
    }

    /// Every port's status, by port number.
    pub fn statuses(&self) -> impl Iterator<Item = PortStatus> + '_ {
        (0..self.ports.len()).filter_map(|i| self.status(PortId(i as u16)))
    }

    /// Hands every BPDU produced since the last call to `send` as a whole
    /// Ethernet frame, from the port's address.
    pub fn drain_transmit(&mut self, mut send: impl FnMut(PortId, &[u8])) {
        let mut scratch = core::mem::take(&mut self.scratch);
        for (port, bpdu) in self.tx.drain(..) {
            let Some(Some(p)) = self.ports.get(usize::from(port.0)) else {
                continue;
            };
            bpdu.emit(p.mac, &mut scratch);
            send(port, &scratch);
        }
        self.scratch = scratch;
    }

    /// Hands every port whose learned (dynamic) entries must be flushed since
    /// the last call to `flush`.
    pub fn drain_flushes(&mut self, mut flush: impl FnMut(PortId)) {
        for port in self.flushes.drain(..) {
            flush(port);
        }
    }

    /// Takes in a frame sent to the Bridge Group Address, received on `port` at
    /// `now`. Malformed BPDUs are counted and dropped.
    pub fn receive(&mut self, now: Instant, port: PortId, frame: &[u8]) {
        self.now = self.now.max(now);
        let now = self.now;
        let mode = self.config.mode;
        let Some(p) = self.port_mut(port) else {
            return;
        };
        if !p.enabled {
            return;
        }
        if p.guard_tripped {
            p.counters.dropped.guarded += 1;
            return;
        }
        let parsed = Bpdu::parse(frame);
        if p.config.bpdu_guard && p.config.admin_edge {
            // BPDU guard: an edge port that hears any BPDU, even a bad one, is
            // shut down; a bridge is where only hosts should be.
            p.guard_tripped = true;
            p.counters.bpdu_guard_trips += 1;
            p.counters.dropped.guarded += 1;
            p.info_is = InfoIs::Disabled;
            let bridge = parsed.map_or(BridgeId(0), |b| b.bridge);
            self.event(StpEvent::BpduGuardTripped { port, bridge });
            self.reselect = true;
            self.update(now);
            return;
        }
        let mut bpdu = match parsed {
            Ok(b) => b,
            Err(e) => {
                p.counters.malformed += 1;
                match e {
                    bpdu::BadBpdu::Truncated => p.counters.dropped.truncated += 1,
                    bpdu::BadBpdu::NotBpdu => p.counters.dropped.not_bpdu += 1,
                    bpdu::BadBpdu::UnknownType => p.counters.dropped.unknown_type += 1,
                }
                return;
            }
        };

        // Bridge detection: a BPDU means a bridge, not hosts, is on the link.
        p.oper_edge = false;
        p.edge_until = Instant::from_millis(now.millis() + MIGRATE_MS);
        // Protocol migration (17.24): an STP BPDU makes the port speak STP; an
        // RST BPDU after the migration delay takes it back.
        match bpdu.kind {
            BpduKind::Config | BpduKind::Tcn => {
                if p.send_rstp && now >= p.mdelay_until {
                    p.send_rstp = false;
                    p.mdelay_until = Instant::from_millis(now.millis() + MIGRATE_MS);
                    p.new_info = true;
                }
            }
            BpduKind::Rst => {
                if mode == StpMode::Stp {
                    // Force version 0: an RST BPDU is read as a Configuration BPDU.
                    bpdu.kind = BpduKind::Config;
                    bpdu.flags &= flags::TC | flags::TCA;
                } else if !p.send_rstp && now >= p.mdelay_until {
                    p.send_rstp = true;
                    p.mdelay_until = Instant::from_millis(now.millis() + MIGRATE_MS);
                    p.new_info = true;
                }
            }
        }
        let designated = bpdu.kind == BpduKind::Config
            || (bpdu.kind == BpduKind::Rst && bpdu.role() == WireRole::Designated);
        if designated && bpdu.times.message_age >= bpdu.times.max_age {
            p.counters.dropped.too_old += 1;
            return; // too old to use (17.21.23)
        }
        p.counters.rx += 1;
        p.counters.rx_kind.count(bpdu.kind);
        if bpdu.kind == BpduKind::Tcn {
            if p.role == Role::Designated {
                p.rcvd_tcn = true;
                p.tc_from = None;
            }
            self.update(now);
            return;
        }
        let msg = Priority {
            root: bpdu.root,
            cost: bpdu.root_path_cost,
            bridge: bpdu.bridge,
            port: bpdu.port,
        };
        if bpdu.has(flags::TC) {
            p.rcvd_tc = true;
            p.tc_from = Some(bpdu.bridge);
        }
        if bpdu.has(flags::TCA) && p.role == Role::Root && !p.send_rstp {
            p.tc_until = now; // our TCN is acknowledged
        }
        let mut disputed = false;
        if designated {
            let same_sender = p.info_is == InfoIs::Received
                && msg.bridge == p.port_priority.bridge
                && msg.port == p.port_priority.port;
            let rst = bpdu.kind == BpduKind::Rst;
            if msg < p.port_priority
                || same_sender && (msg != p.port_priority || bpdu.times != p.port_times)
            {
                // Superior designated information: record it (17.21.8).
                if msg > p.port_priority || !same_sender {
                    p.agree = false;
                }
                p.port_priority = msg;
                p.port_times = bpdu.times;
                p.info_is = InfoIs::Received;
                p.agreed = false;
                p.proposing = false;
                p.proposed = rst && bpdu.has(flags::PROPOSAL);
                p.rcvd_until = after(now, 3 * bpdu.times.hello.max(1));
                self.reselect = true;
            } else if same_sender {
                // Repeated designated information.
                p.proposed |= rst && bpdu.has(flags::PROPOSAL);
                p.rcvd_until = after(now, 3 * bpdu.times.hello.max(1));
            } else if p.role == Role::Designated {
                // Inferior designated information: answer with ours at once.
                p.new_info = true;
                // Dispute (17.21.10): a neighbour that still calls itself
                // designated and learns does not hear our better information:
                // a one-way link. Stop forwarding onto it.
                disputed = rst
                    && bpdu.has(flags::LEARNING)
                    && p.state != State::Discarding
                    && !p.oper_edge;
            }
        } else if msg >= p.port_priority
            && p.role == Role::Designated
            && bpdu.has(flags::AGREEMENT)
            && msg.root == p.designated_priority.root
            && p.send_rstp
            && p.p2p()
        {
            // An agreement to our proposal (17.21.8 InferiorRootAlternateInfo,
            // 17.21.9 recordAgreement: on a point-to-point link only).
            p.agreed = true;
            p.proposing = false;
        }
        if disputed {
            let fd = self.forward_delay();
            if let Some(Some(p)) = self.ports.get_mut(usize::from(port.0)) {
                discard(p, port, &mut self.flushes);
                p.fd_until = after(now, fd);
            }
        }
        self.update(now);
    }

    /// Brings the bridge to time `now`: ages received information, runs the
    /// timers and produces the periodic BPDUs. Call it at least every 100 ms or so.
    pub fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        for p in self.ports.iter_mut().flatten() {
            if p.info_is == InfoIs::Received && now >= p.rcvd_until {
                p.info_is = InfoIs::Aged;
                self.reselect = true;
            }
        }
        self.update(now);
    }

    /// Role selection (17.21.25 updtRolesTree).
    fn select_roles(&mut self) {
        let bid = self.bridge_id;
        let mut best = (
            Priority {
                root: bid,
                cost: 0,
                bridge: bid,
                port: 0,
            },
            0u16,
        );
        let mut root_port = None;
        let mut root_times = own_times(&self.config);
        let candidate = |p: &StpPort| {
            (
                Priority {
                    cost: p.port_priority.cost.saturating_add(p.config.path_cost),
                    ..p.port_priority
                },
                p.port_id,
            )
        };
        for (i, p) in self.ports.iter().enumerate() {
            let Some(p) = p else { continue };
            if !p.enabled
                || p.info_is != InfoIs::Received
                || p.port_priority.bridge == bid
                || p.config.root_guard
            {
                continue;
            }
            let candidate = candidate(p);
            if candidate < best {
                best = candidate;
                root_port = Some(PortId(i as u16));
                root_times = Times {
                    message_age: p.port_times.message_age + 1,
                    ..p.port_times
                };
            }
        }
        // Root guard (802.1Q 13.27.64 restrictedRole): a guarded port whose
        // information would have made it root port is root-inconsistent, an
        // alternate port, until that information ages out.
        let mut guarded = Vec::new();
        for (i, p) in self.ports.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            let blocked = p.config.root_guard
                && p.enabled
                && p.info_is == InfoIs::Received
                && p.port_priority.bridge != bid
                && candidate(p) < best;
            if blocked != p.root_inconsistent {
                p.root_inconsistent = blocked;
                let port = PortId(i as u16);
                guarded.push(if blocked {
                    p.counters.root_guard_blocks += 1;
                    StpEvent::RootGuardBlocking {
                        port,
                        root: p.port_priority.root,
                    }
                } else {
                    StpEvent::RootGuardReleased { port }
                });
            }
        }
        for e in guarded {
            self.event(e);
        }
        if best.0.root != self.root_priority.root || root_port != self.root_port {
            self.event(StpEvent::RootChanged {
                root: best.0.root,
                port: root_port,
            });
        }
        self.root_priority = best.0;
        self.root_port = root_port;
        self.root_times = root_times;
        let root = self.root_priority;
        let now = self.now;
        let fd = self.forward_delay();
        for (i, p) in self.ports.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            let id = PortId(i as u16);
            let designated = Priority {
                root: root.root,
                cost: root.cost,
                bridge: bid,
                port: p.port_id,
            };
            let role = match p.info_is {
                InfoIs::Disabled => Role::Disabled,
                _ if !p.enabled || p.guard_tripped => Role::Disabled,
                InfoIs::Aged | InfoIs::Mine => Role::Designated,
                InfoIs::Received if p.root_inconsistent => Role::Alternate,
                InfoIs::Received if root_port == Some(id) => Role::Root,
                InfoIs::Received if designated < p.port_priority => Role::Designated,
                InfoIs::Received if p.port_priority.bridge == bid => Role::Backup,
                InfoIs::Received => Role::Alternate,
            };
            if role == Role::Designated
                && (p.info_is != InfoIs::Mine || p.port_priority != designated)
            {
                // updtInfo: the port now sends this bridge's information.
                if p.info_is != InfoIs::Mine || designated > p.port_priority {
                    p.agreed = false;
                }
                p.port_priority = designated;
                p.port_times = root_times;
                p.info_is = InfoIs::Mine;
                p.new_info = true;
            }
            p.designated_priority = designated;
            if role != p.role {
                let was = p.role;
                p.role = role;
                push_event(
                    &mut self.events,
                    StpEvent::RoleChanged {
                        port: id,
                        from: was,
                        to: role,
                    },
                );
                p.agree = false;
                p.proposing = false;
                match role {
                    Role::Root => {
                        p.fd_until = after(now, fd);
                    }
                    Role::Designated => {
                        p.agreed = false;
                        p.fd_until = after(now, fd);
                        if was == Role::Root && !p.oper_edge && p.state != State::Discarding {
                            // reRoot: a recent root port must not forward as designated
                            // until it is agreed again (17.29.3 DESIGNATED_DISCARD).
                            discard(p, id, &mut self.flushes);
                        }
                    }
                    Role::Alternate | Role::Backup | Role::Disabled => {
                        p.agreed = false;
                        p.rr_until = now;
                        if p.state != State::Discarding {
                            discard(p, id, &mut self.flushes);
                        }
                    }
                }
            }
        }
    }

    /// The forward delay in use: the root's (17.20.5 FwdDelay), within the
    /// range 802.1D allows.
    fn forward_delay(&self) -> u16 {
        self.root_times.forward_delay.clamp(4, 30)
    }

    /// True when no port other than `except` was root port recently and still
    /// learns or forwards (17.20.11 reRooted).
    fn rerooted(&self, except: usize) -> bool {
        self.ports.iter().enumerate().all(|(i, p)| match p {
            Some(p) if i != except => p.rr_until <= self.now || p.state == State::Discarding,
            _ => true,
        })
    }

    /// The condensed role-transition, state-transition, topology-change and
    /// transmit machines, run until nothing changes.
    fn update(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        for _ in 0..4 {
            if core::mem::take(&mut self.reselect) {
                self.select_roles();
            }
            let mut detected = Vec::new();
            for i in 0..self.ports.len() {
                if self.ports[i].is_none() {
                    continue;
                }
                let rerooted = self.rerooted(i);
                let rstp = self.config.mode == StpMode::Rstp;
                let fd = self.forward_delay();
                let mut sync = false;
                let max_age = self.root_times.max_age;
                let p = self.ports[i].as_mut().expect("checked");
                let before = p.state;
                match p.role {
                    Role::Root => {
                        p.rr_until = after(now, fd);
                        if p.proposed {
                            if !p.agree {
                                sync = true;
                                p.agree = true;
                            }
                            p.proposed = false;
                            p.new_info = true;
                        }
                        if p.state != State::Forwarding {
                            if rstp && rerooted {
                                p.state = State::Forwarding;
                            } else {
                                step_timer(p, now, fd);
                            }
                        }
                    }
                    Role::Designated => {
                        // EdgeDelay (17.20.4): the migration time on a
                        // point-to-point link, max age on a shared one.
                        let edge_at = if p.p2p() {
                            p.edge_until.millis()
                        } else {
                            p.edge_until.millis().saturating_sub(MIGRATE_MS)
                                + u64::from(max_age) * 1000
                        };
                        if p.config.auto_edge
                            && p.send_rstp
                            && p.proposing
                            && now.millis() >= edge_at
                            && !p.oper_edge
                        {
                            p.oper_edge = true;
                        }
                        if p.oper_edge || (p.agreed && p.send_rstp) {
                            p.state = State::Forwarding;
                            p.proposing = false;
                        } else if p.state != State::Forwarding {
                            if rstp && p.send_rstp && !p.proposing {
                                p.proposing = true;
                                p.new_info = true;
                            }
                            step_timer(p, now, fd);
                        }
                    }
                    Role::Alternate | Role::Backup => {
                        if p.proposed {
                            p.agree = true;
                            p.proposed = false;
                            p.new_info = true;
                        }
                    }
                    Role::Disabled => {}
                }
                if before != State::Forwarding && p.state == State::Forwarding && !p.oper_edge {
                    detected.push(i);
                }
                if sync {
                    self.sync_except(i);
                }
            }
            // Topology change (17.29.4): detected when a non-edge port starts
            // forwarding, notified by TC or TCN from a neighbour.
            for i in detected {
                self.topology_change(i, None);
            }
            for i in 0..self.ports.len() {
                let Some(p) = self.ports[i].as_mut() else {
                    continue;
                };
                let active = matches!(p.role, Role::Root | Role::Designated);
                let (tc, tcn) = (
                    core::mem::take(&mut p.rcvd_tc),
                    core::mem::take(&mut p.rcvd_tcn),
                );
                let from = core::mem::take(&mut p.tc_from);
                if active && (tc || tcn) {
                    if tcn || (p.role == Role::Designated && !p.send_rstp) {
                        p.tc_ack = true;
                        p.new_info = true;
                    }
                    self.topology_change(i, from.or(Some(BridgeId(0))));
                }
            }
            if !self.reselect {
                break;
            }
        }
        self.transmit(now);
    }

    /// Sync (17.29.2 setSyncTree): every other designated port that is not
    /// agreed and not an edge goes back to discarding before the root port agrees.
    fn sync_except(&mut self, except: usize) {
        let now = self.now;
        let fd = self.forward_delay();
        for (i, p) in self.ports.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if i == except || p.role != Role::Designated || p.oper_edge || p.agreed {
                continue;
            }
            if p.state != State::Discarding {
                discard(p, PortId(i as u16), &mut self.flushes);
            }
            p.fd_until = after(now, fd);
        }
    }

    /// A topology change on port `from`: detected there (`by` is `None`) or
    /// notified through it by the neighbour bridge `by` (0 for a TCN).
    fn topology_change(&mut self, from: usize, by: Option<BridgeId>) {
        let detected = by.is_none();
        self.topology_changes += 1;
        let now = self.now;
        self.last_tc = Some(LastTopologyChange {
            at: now,
            port: PortId(from as u16),
            from: by,
        });
        if let Some(Some(p)) = self.ports.get_mut(from) {
            p.counters.topology_changes += 1;
        }
        let (hello, tc_stp) = (
            self.root_times.hello,
            self.root_times.max_age + self.root_times.forward_delay,
        );
        for (i, p) in self.ports.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            let active = matches!(p.role, Role::Root | Role::Designated) && !p.oper_edge;
            if i == from {
                if detected && active {
                    start_tc_while(p, now, hello, tc_stp);
                }
                continue;
            }
            if p.state.learns() && !p.oper_edge {
                self.flushes.push(PortId(i as u16));
            }
            if active && p.state.forwards() {
                start_tc_while(p, now, hello, tc_stp);
            }
        }
    }

    /// The port transmit machine (17.26): periodic BPDUs on designated ports,
    /// new information at once, at most the transmit hold count a second.
    fn transmit(&mut self, now: Instant) {
        let hello = self.config.hello_time;
        let hold = self.config.tx_hold_count;
        let root = self.root_priority;
        let times = self.root_times;
        for (i, p) in self.ports.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if !p.enabled || p.role == Role::Disabled {
                continue;
            }
            let tc = now < p.tc_until;
            if now >= p.hello_until {
                p.hello_until = after(now, hello);
                if p.role == Role::Designated || (p.role == Role::Root && tc) {
                    p.new_info = true;
                }
            }
            if !p.new_info {
                continue;
            }
            if !p.may_send(now, hold) {
                if !p.held {
                    p.held = true;
                    p.counters.tx_held += 1;
                }
                continue;
            }
            p.held = false;
            p.new_info = false;
            let mut flag_bits = if tc { flags::TC } else { 0 };
            let bpdu = if p.send_rstp {
                let role = match p.role {
                    Role::Root => 2,
                    Role::Designated => 3,
                    Role::Alternate | Role::Backup => 1,
                    Role::Disabled => 0,
                };
                flag_bits |= role << flags::ROLE_SHIFT;
                if p.proposing && p.role == Role::Designated {
                    flag_bits |= flags::PROPOSAL;
                }
                if p.agree {
                    flag_bits |= flags::AGREEMENT;
                }
                if p.state.learns() {
                    flag_bits |= flags::LEARNING;
                }
                if p.state.forwards() {
                    flag_bits |= flags::FORWARDING;
                }
                Some(config_bpdu(
                    BpduKind::Rst,
                    flag_bits,
                    root,
                    p.port_id,
                    times,
                ))
            } else if p.role == Role::Designated {
                if core::mem::take(&mut p.tc_ack) {
                    flag_bits |= flags::TCA;
                }
                Some(config_bpdu(
                    BpduKind::Config,
                    flag_bits,
                    root,
                    p.port_id,
                    times,
                ))
            } else if p.role == Role::Root && tc {
                Some(Bpdu::tcn())
            } else {
                None
            };
            if let Some(mut bpdu) = bpdu {
                bpdu.bridge = p.designated_priority.bridge;
                if bpdu.kind == BpduKind::Tcn {
                    bpdu.bridge = BridgeId(0);
                }
                p.note_sent(now);
                p.counters.tx += 1;
                p.counters.tx_kind.count(bpdu.kind);
                self.tx.push((PortId(i as u16), bpdu));
            }
        }
    }
}

fn own_times(config: &StpConfig) -> Times {
    Times {
        message_age: 0,
        max_age: config.max_age,
        hello: config.hello_time,
        forward_delay: config.forward_delay,
    }
}

fn config_bpdu(kind: BpduKind, flag_bits: u8, root: Priority, port_id: u16, t: Times) -> Bpdu {
    Bpdu {
        kind,
        version: if kind == BpduKind::Rst { 2 } else { 0 },
        flags: flag_bits,
        root: root.root,
        root_path_cost: root.cost,
        bridge: BridgeId(0), // set by the caller: this bridge
        port: port_id,
        times: t,
    }
}

fn push_event(events: &mut Vec<StpEvent>, e: StpEvent) {
    if events.len() >= MAX_EVENTS {
        events.remove(0);
    }
    events.push(e);
}

/// Back to discarding: what the port learned goes too.
fn discard(p: &mut StpPort, id: PortId, flushes: &mut Vec<PortId>) {
    p.state = State::Discarding;
    p.agreed = false;
    if !p.oper_edge {
        flushes.push(id);
    }
}

/// One forward-delay step: discarding -> learning -> forwarding.
fn step_timer(p: &mut StpPort, now: Instant, fd: u16) {
    if now < p.fd_until {
        return;
    }
    p.state = match p.state {
        State::Discarding => State::Learning,
        _ => State::Forwarding,
    };
    p.fd_until = after(now, fd);
}

fn start_tc_while(p: &mut StpPort, now: Instant, hello: u16, tc_stp: u16) {
    if now < p.tc_until {
        return;
    }
    p.tc_until = if p.send_rstp {
        after(now, hello + 1)
    } else {
        after(now, tc_stp)
    };
    p.new_info = true;
}

#[cfg(test)]
mod test;
