//! Operations on a switch as the generators describe them: its configuration
//! ([`Cfg`]), ports ([`PortSpec`]) and the steps that happen to it ([`Op`]).

use crate::frame::FrameSpec;
use std::time::Duration;
use vswitch_core::fdb::{EvictionPolicy, FdbConfig, FlushScope};
use vswitch_core::{
    GroupForwardMask, MacLimit, MoveGuardConfig, PortConfig, PortFlags, PortId, StormControl,
    SwitchConfig, TxError, VlanMode, VlanSet,
};

/// Port numbers used by operations: `0..PORT_RANGE`, some of which never exist.
pub const PORT_RANGE: u8 = 7;

/// VLANs a trunk may carry.
pub const TRUNK_VIDS: [u16; 4] = [1, 10, 20, 30];

/// A port's VLAN mode as generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Access port.
    Access(u16),
    /// Trunk port.
    Trunk {
        /// Carried VLANs, a subset of [`TRUNK_VIDS`].
        allowed: Vec<u16>,
        /// Native VLAN.
        native: Option<u16>,
    },
}

impl Mode {
    /// The core's mode.
    pub fn to_real(&self) -> VlanMode {
        match self {
            Mode::Access(v) => VlanMode::Access(*v),
            Mode::Trunk { allowed, native } => VlanMode::Trunk {
                allowed: allowed.iter().copied().collect::<VlanSet>(),
                native: *native,
            },
        }
    }
}

/// A port to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Flags.
    pub flags: PortFlags,
    /// VLAN mode.
    pub mode: Mode,
    /// Up after adding.
    pub up: bool,
    /// Storm control.
    pub storm: StormControl,
    /// Port security: the most MACs it learns.
    pub mac_limit: Option<MacLimit>,
    /// A tunnel port: learns remotes, keeps split horizon.
    pub tunnel: bool,
}

impl Default for PortSpec {
    /// Up, learning and flooding, access VLAN 1, no storm control or MAC limit.
    fn default() -> PortSpec {
        PortSpec {
            flags: PortFlags::default(),
            mode: Mode::Access(1),
            up: true,
            storm: StormControl::default(),
            mac_limit: None,
            tunnel: false,
        }
    }
}

impl PortSpec {
    /// The core's configuration of the port.
    pub fn config(&self) -> PortConfig {
        PortConfig {
            flags: self.flags,
            vlan: self.mode.to_real(),
            storm: self.storm,
            mac_limit: self.mac_limit,
            mcast: Default::default(),
            tunnel: self.tunnel,
        }
    }
}

/// How the clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeStep {
    /// Forward by this many ms.
    Forward(u64),
    /// Forward by the aging time plus -1, 0 or 1 ms.
    Aging(i8),
    /// Backwards by this many ms.
    Back(u64),
    /// To the end of time minus this many ms.
    End(u64),
}

impl TimeStep {
    /// The time after the step from `now`, with an aging time of `aging` ms.
    pub fn apply(self, now: u64, aging: u64) -> u64 {
        match self {
            TimeStep::Forward(d) => now.saturating_add(d),
            TimeStep::Aging(d) => now
                .saturating_add_signed(i64::from(d))
                .saturating_add(aging),
            TimeStep::Back(d) => now.saturating_sub(d),
            TimeStep::End(d) => u64::MAX - d,
        }
    }
}

/// Faults a port's transmit path injects into a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFault {
    /// Frames longer than this are refused as too big.
    pub mtu: usize,
    /// Ports (bit = port number) whose queue is full.
    pub full: u16,
}

impl TxFault {
    /// Every frame is taken.
    pub const NONE: TxFault = TxFault {
        mtu: usize::MAX,
        full: 0,
    };

    /// What sending `bytes` out of `port` gives.
    pub fn result(&self, port: PortId, bytes: &[u8]) -> Result<(), TxError> {
        if bytes.len() > self.mtu {
            Err(TxError::TooBig)
        } else if port.0 < 16 && self.full & (1 << port.0) != 0 {
            Err(TxError::Full)
        } else {
            Ok(())
        }
    }
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// One frame in on a port.
    Frame(u16, FrameSpec),
    /// One frame in on a (tunnel) port from a remote endpoint.
    Tunneled(u16, u8, FrameSpec),
    /// A batch of frames in on a port, forwarded, with transmit faults.
    Batch(u16, Vec<FrameSpec>, TxFault),
    /// The clock moves.
    Time(TimeStep),
    /// `Fdb::advance` (the aging timer).
    Sweep,
    /// `Fdb::lookup` of (vid, host).
    Lookup(u16, u8),
    /// `Fdb::learn` of (vid, host) on a port, called directly as an adapter might.
    Learn(u16, u8, u16),
    /// Port up or down.
    SetUp(u16, bool),
    /// A new port.
    AddPort(PortSpec),
    /// A port removed.
    RemovePort(u16),
    /// New flags.
    SetFlags(u16, PortFlags),
    /// New VLAN mode.
    SetVlan(u16, Mode),
    /// Static entry (vid, host) -> port.
    AddStatic(u16, u8, u16),
    /// Entry (vid, host) removed.
    Remove(u16, u8),
    /// A port's entries flushed (dynamic, or all).
    FlushPort(u16, bool),
    /// A VLAN's entries flushed.
    FlushVlan(u16),
    /// Every entry flushed (dynamic, or all).
    FlushAll(bool),
    /// `Fdb::reclaim`: the memory of at most this many flushed entries
    /// reclaimed (an adapter's slice); nothing that can be seen changes.
    Reclaim(u8),
}

/// The flush scope of [`Op::FlushPort`] and [`Op::FlushAll`]: all entries, or
/// only dynamic ones.
pub fn scope(all: bool) -> FlushScope {
    if all {
        FlushScope::All
    } else {
        FlushScope::Dynamic
    }
}

/// The switch's configuration and its first ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cfg {
    /// Repeater hub.
    pub hub: bool,
    /// VLAN-aware.
    pub vlan_aware: bool,
    /// Aging time, ms.
    pub aging: u64,
    /// FDB capacity.
    pub capacity: u32,
    /// Eviction policy: stop learning instead of fair LRU.
    pub stop_learning: bool,
    /// Per-entry counters (`FdbConfig::entry_stats`): hits and last use.
    pub entry_stats: bool,
    /// Group-forward mask (bits 0-2 clear).
    pub mask: u16,
    /// FDB hash seed.
    pub seed: u64,
    /// Start time, ms.
    pub start: u64,
    /// The first ports.
    pub ports: Vec<PortSpec>,
    /// The MAC-move guard.
    pub guard: Option<MoveGuardConfig>,
}

impl Default for Cfg {
    /// A VLAN-unaware switch with 8 entries, 300 s aging and fair eviction, no
    /// ports, starting at time 0.
    fn default() -> Cfg {
        Cfg {
            hub: false,
            vlan_aware: false,
            aging: 300_000,
            capacity: 8,
            stop_learning: false,
            entry_stats: false,
            mask: 0,
            seed: 0,
            start: 0,
            ports: Vec::new(),
            guard: None,
        }
    }
}

impl Cfg {
    /// The core's configuration of the switch.
    pub fn config(&self) -> SwitchConfig {
        SwitchConfig {
            fdb: FdbConfig {
                aging_time: Duration::from_millis(self.aging),
                capacity: self.capacity,
                policy: if self.stop_learning {
                    EvictionPolicy::StopLearning
                } else {
                    EvictionPolicy::FairLru
                },
                hash_seed: self.seed,
                entry_stats: self.entry_stats,
            },
            hub: self.hub,
            vlan_aware: self.vlan_aware,
            group_forward: GroupForwardMask::new(self.mask).expect("bits 0-2 of the mask clear"),
            move_guard: self.guard,
            mcast: Default::default(),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn time_steps_saturate_at_both_ends() {
        assert_eq!(TimeStep::Forward(5).apply(u64::MAX - 2, 0), u64::MAX);
        assert_eq!(TimeStep::Back(10).apply(3, 0), 0);
        assert_eq!(TimeStep::Aging(-1).apply(100, 300), 399);
        assert_eq!(TimeStep::Aging(1).apply(100, 300), 401);
        assert_eq!(TimeStep::End(2).apply(0, 0), u64::MAX - 2);
    }

    #[test]
    fn faults_refuse_big_frames_first_then_full_queues() {
        let f = TxFault {
            mtu: 60,
            full: 0b100,
        };
        assert_eq!(f.result(PortId(2), &[0; 61]), Err(TxError::TooBig));
        assert_eq!(f.result(PortId(2), &[0; 60]), Err(TxError::Full));
        assert_eq!(f.result(PortId(1), &[0; 60]), Ok(()));
        assert_eq!(f.result(PortId(40), &[0; 60]), Ok(()));
        assert_eq!(TxFault::NONE.result(PortId(2), &[0; 9000]), Ok(()));
    }
}
