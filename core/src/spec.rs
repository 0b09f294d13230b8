//! Switch and port configuration as people write it in TOML files (scenario files
//! of the simulator, `--config` of the Linux switch). Enabled by the `serde` feature.
//!
//! ```toml
//! hub = false
//! aging = 300          # seconds; 0 = learn nothing, flood everything
//! capacity = 8192
//! eviction = "fair-lru" # or "stop-learning"
//! fdb-entry-stats = false  # per-entry counters for `fdb show -s`: 8 bytes an entry
//! vlan-aware = true
//! group-forward-mask = 0x4000   # forward LLDP (01:80:C2:00:00:0E)
//!
//! [ports.default]      # every port not named below
//! vlan = { access = 1 }
//! [ports.trunk1]
//! vlan = { trunk = [10, 20], native = 1 }
//! hairpin = false
//! ```
//!
//! Protections, all off unless written:
//!
//! ```toml
//! # More than 5 moves of one MAC within 10 s: pin it for 60 s
//! # (or action = "shutdown": shut the port it moved to down for 60 s).
//! move-guard = { moves = 5, window = 10, hold = 60, action = "hold-down" }
//!
//! [ports.default]
//! storm-broadcast = 1000   # floods per second, per port and kind
//! storm-multicast = 1000
//! storm-unknown = 1000
//! mac-limit = 16           # learned MACs per port
//! mac-limit-action = "no-learn"   # or "drop"
//! ```
//!
//! Multicast snooping, off unless written:
//!
//! ```toml
//! mcast-snooping = true
//! mcast-querier = true                 # the own querier (no router on the segment)
//! mcast-unregistered = "flood"         # or "router-ports"
//! mcast-max-groups = 4096
//! mcast-query-interval = 125           # seconds
//! mcast-querier-address = "0.0.0.0"    # gives way to any other querier
//!
//! [ports.uplink]
//! mcast-router = "always"              # or "auto" (learned from queries), "never"
//! [ports.default]
//! mcast-fast-leave = true              # one host per port: leave at once
//! ```
//!
//! Spanning tree, off unless written:
//!
//! ```toml
//! stp = "rstp"             # or "stp" (802.1D only) or "off"
//! stp-priority = 32768     # a multiple of 4096; lowest is root
//! stp-hello-time = 2       # seconds
//! stp-max-age = 20
//! stp-forward-delay = 15
//! stp-tx-hold-count = 6
//!
//! [ports.default]
//! stp-priority = 128       # a multiple of 16
//! stp-cost = 20000         # default 20000 (1 Gb/s, 802.1D-2004 table 17-3)
//! stp-edge = false         # a port to hosts only: forwards at once
//! stp-auto-edge = true     # becomes an edge port when no bridge answers
//! stp-point-to-point = "auto"  # or "true", "false"; auto: full duplex is
//!                              # point-to-point (proposal/agreement only there)
//! stp-bpdu-guard = false   # an edge port hearing a BPDU is shut down
//!                          # (needs stp-edge; link down/up or `vswitch stp clear-guard` re-enables)
//! stp-root-guard = false   # never root port: a superior BPDU blocks the port
//! ```

use crate::fdb::{EvictionPolicy, FdbConfig};
use crate::guard::{GuardAction, MoveGuardConfig};
use crate::mcast::{McastConfig, McastPortConfig, RouterMode, Unregistered};
use crate::port::{MacLimit, MacLimitAction, PortConfig, PortFlags};
use crate::storm::StormControl;
use crate::stp::{PointToPoint, StpConfig, StpConfigError, StpMode, StpPortConfig};
use crate::switch::{ConfigError, GroupForwardMask, SwitchConfig};
use crate::types::Vid;
use crate::vlan::{VlanMode, VlanSet};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use serde::{Deserialize, Serialize};

/// The switch-wide settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SwitchSpec {
    /// Repeater-hub mode.
    pub hub: bool,
    /// Aging time in seconds (fractions allowed); 0 = learn nothing.
    pub aging: f64,
    /// Bound on dynamic FDB entries.
    pub capacity: u32,
    /// What to do when the FDB is full.
    pub eviction: EvictionSpec,
    /// Use the ports' VLAN modes.
    pub vlan_aware: bool,
    /// IEEE link-local group addresses to forward (bit X = 01:80:C2:00:00:0X).
    pub group_forward_mask: u16,
    /// Seed of the FDB hash; when absent the program picks one.
    pub hash_seed: Option<u64>,
    /// Per-entry FDB counters (`fdb show -s`: hits, last used); off by
    /// default, they take 8 bytes per entry.
    pub fdb_entry_stats: bool,
    /// The MAC-move guard; off when absent.
    pub move_guard: Option<MoveGuardSpec>,
    /// Multicast snooping (IGMP/MLD) on; off by default.
    pub mcast_snooping: bool,
    /// The own querier on (only with snooping); off by default.
    pub mcast_querier: bool,
    /// What unregistered multicast does with snooping on.
    pub mcast_unregistered: UnregisteredSpec,
    /// Most multicast groups in the table.
    pub mcast_max_groups: u32,
    /// Seconds between the own querier's general queries.
    pub mcast_query_interval: f64,
    /// The own querier's IPv4 source address (0.0.0.0 gives way to any
    /// other querier).
    pub mcast_querier_address: core::net::Ipv4Addr,
    /// Spanning tree: `rstp`, `stp` or `off` (the default).
    pub stp: StpSpec,
    /// Bridge priority for the spanning tree.
    pub stp_priority: u16,
    /// Hello time, seconds.
    pub stp_hello_time: u16,
    /// Max age, seconds.
    pub stp_max_age: u16,
    /// Forward delay, seconds.
    pub stp_forward_delay: u16,
    /// Transmit hold count.
    pub stp_tx_hold_count: u8,
    /// Port settings by port name; the name `default` applies to every port not named.
    pub ports: BTreeMap<String, PortSpec>,
}

/// Which spanning tree protocol, as written in files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StpSpec {
    /// No spanning tree: BPDUs are dropped as link-local frames.
    #[default]
    Off,
    /// RSTP with STP fallback per port.
    Rstp,
    /// 802.1D STP only.
    Stp,
}

impl Default for SwitchSpec {
    fn default() -> Self {
        let fdb = FdbConfig::default();
        let m = McastConfig::default();
        let stp = StpConfig::default();
        SwitchSpec {
            hub: false,
            aging: fdb.aging_time.as_secs_f64(),
            capacity: fdb.capacity,
            eviction: EvictionSpec::FairLru,
            vlan_aware: false,
            group_forward_mask: 0,
            hash_seed: None,
            fdb_entry_stats: fdb.entry_stats,
            move_guard: None,
            mcast_snooping: m.snooping,
            mcast_querier: m.querier,
            mcast_unregistered: UnregisteredSpec::Flood,
            mcast_max_groups: m.max_groups,
            mcast_query_interval: m.query_interval.as_secs_f64(),
            mcast_querier_address: m.querier_ipv4,
            stp: StpSpec::Off,
            stp_priority: stp.priority,
            stp_hello_time: stp.hello_time,
            stp_max_age: stp.max_age,
            stp_forward_delay: stp.forward_delay,
            stp_tx_hold_count: stp.tx_hold_count,
            ports: BTreeMap::new(),
        }
    }
}

/// [`Unregistered`] as written in files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnregisteredSpec {
    /// Flood unregistered multicast.
    #[default]
    Flood,
    /// Send it to router ports only.
    RouterPorts,
}

/// [`RouterMode`] as written in files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterModeSpec {
    /// Learned from queries.
    #[default]
    Auto,
    /// Always a router port.
    Always,
    /// Never a router port.
    Never,
}

/// [`EvictionPolicy`] as written in files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvictionSpec {
    /// Fair per-port LRU eviction.
    #[default]
    FairLru,
    /// Stop learning when full.
    StopLearning,
}

/// The MAC-move guard as written in files:
/// `{ moves = 5, window = 10, hold = 60, action = "hold-down" }` (seconds;
/// absent fields take these values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct MoveGuardSpec {
    /// Moves of one MAC allowed per window.
    pub moves: u32,
    /// The counting window, seconds.
    pub window: f64,
    /// How long a hold-down or shutdown lasts, seconds.
    pub hold: f64,
    /// What to do on one move too many.
    pub action: GuardActionSpec,
}

impl Default for MoveGuardSpec {
    fn default() -> Self {
        let d = MoveGuardConfig::default();
        MoveGuardSpec {
            moves: d.moves,
            window: d.window.as_secs_f64(),
            hold: d.hold.as_secs_f64(),
            action: GuardActionSpec::HoldDown,
        }
    }
}

impl MoveGuardSpec {
    /// The core configuration (negative or not-a-number times count as 0;
    /// [`SwitchSpec::check`] refuses them).
    pub fn to_config(&self) -> MoveGuardConfig {
        let secs = |s: f64| {
            if s.is_finite() && s > 0.0 {
                Duration::from_secs_f64(s.min(1e12))
            } else {
                Duration::ZERO
            }
        };
        MoveGuardConfig {
            moves: self.moves,
            window: secs(self.window),
            hold: secs(self.hold),
            action: match self.action {
                GuardActionSpec::HoldDown => GuardAction::HoldDown,
                GuardActionSpec::Shutdown => GuardAction::Shutdown,
            },
        }
    }
}

/// [`GuardAction`] as written in files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardActionSpec {
    /// Pin the MAC where it is.
    #[default]
    HoldDown,
    /// Shut the port down.
    Shutdown,
}

/// [`MacLimitAction`] as written in files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MacLimitActionSpec {
    /// Forward without learning.
    #[default]
    NoLearn,
    /// Drop frames from new MACs.
    Drop,
}

/// One port's settings; absent fields take the defaults of [`PortFlags`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PortSpec {
    /// Learn source MACs.
    pub learning: Option<bool>,
    /// Receive floods of unknown unicast.
    pub flood_unknown: Option<bool>,
    /// Receive floods of multicast.
    pub flood_multicast: Option<bool>,
    /// Receive floods of broadcast.
    pub flood_broadcast: Option<bool>,
    /// Allow frames back out of their ingress port.
    pub hairpin: Option<bool>,
    /// VLAN mode (VLAN-aware switches only); default access VLAN 1.
    pub vlan: Option<VlanSpec>,
    /// Broadcast floods per second from this port (storm control); no limit when absent.
    pub storm_broadcast: Option<u32>,
    /// Multicast floods per second from this port.
    pub storm_multicast: Option<u32>,
    /// Unknown-unicast floods per second from this port.
    pub storm_unknown: Option<u32>,
    /// At most this many learned MACs on the port.
    pub mac_limit: Option<u32>,
    /// What a port at its MAC limit does with frames from new MACs (default `no-learn`).
    pub mac_limit_action: Option<MacLimitActionSpec>,
    /// Multicast router port: `auto` (learned from queries), `always`, `never`.
    pub mcast_router: Option<RouterModeSpec>,
    /// Leave multicast groups at once on a leave (one host behind the port).
    pub mcast_fast_leave: Option<bool>,
    /// Spanning tree port priority (default 128).
    pub stp_priority: Option<u8>,
    /// Spanning tree path cost (default 20000).
    pub stp_cost: Option<u32>,
    /// An edge port: to hosts only, forwards at once.
    pub stp_edge: Option<bool>,
    /// Becomes an edge port when no bridge answers (default on).
    pub stp_auto_edge: Option<bool>,
    /// Point-to-point link: `auto` (from the duplex), `true`, `false`.
    pub stp_point_to_point: Option<PointToPointSpec>,
    /// BPDU guard: the (edge) port is shut down when it hears a BPDU.
    pub stp_bpdu_guard: Option<bool>,
    /// Root guard: the port never becomes root port.
    pub stp_root_guard: Option<bool>,
}

/// [`PointToPoint`] as written in files: `"auto"`, `"true"`, `"false"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PointToPointSpec {
    /// From the link's duplex.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// Always point-to-point.
    #[serde(rename = "true")]
    True,
    /// Never point-to-point.
    #[serde(rename = "false")]
    False,
}

impl From<PointToPointSpec> for PointToPoint {
    fn from(s: PointToPointSpec) -> PointToPoint {
        match s {
            PointToPointSpec::Auto => PointToPoint::Auto,
            PointToPointSpec::True => PointToPoint::ForceTrue,
            PointToPointSpec::False => PointToPoint::ForceFalse,
        }
    }
}

/// A VLAN mode as written in files: `{ access = 10 }` or
/// `{ trunk = [10, 20], native = 1 }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum VlanSpec {
    /// Access port of one VLAN.
    Access {
        /// The VLAN.
        access: Vid,
    },
    /// Trunk port.
    Trunk {
        /// VLANs carried tagged.
        trunk: Vec<Vid>,
        /// VLAN of untagged frames.
        #[serde(default)]
        native: Option<Vid>,
    },
}

/// A VLAN id outside 1..=4094 in a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadVid(pub Vid);

impl core::fmt::Display for BadVid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VLAN id {} is outside 1..=4094", self.0)
    }
}

impl VlanSpec {
    /// The port mode this spec describes.
    pub fn to_mode(&self) -> Result<VlanMode, BadVid> {
        let check = |v: Vid| {
            if (1..=crate::vlan::MAX_VID).contains(&v) {
                Ok(v)
            } else {
                Err(BadVid(v))
            }
        };
        Ok(match self {
            VlanSpec::Access { access } => VlanMode::Access(check(*access)?),
            VlanSpec::Trunk { trunk, native } => {
                let mut allowed = VlanSet::new();
                for &v in trunk {
                    allowed.insert(check(v)?);
                }
                VlanMode::Trunk {
                    allowed,
                    native: native.map(check).transpose()?,
                }
            }
        })
    }
}

/// A number in a spec outside what its setting allows.
#[derive(Clone, Copy, Debug)]
pub struct BadSetting {
    /// The setting, as written in files (`aging`, `move-guard.window`).
    pub name: &'static str,
    /// The value given.
    pub value: f64,
    /// What is allowed, in words.
    pub allowed: &'static str,
}

impl PartialEq for BadSetting {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value.to_bits() == other.value.to_bits()
    }
}

impl Eq for BadSetting {}

impl core::fmt::Display for BadSetting {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} = ", self.name)?;
        // 1e99, not a hundred digits.
        if self.value.is_finite() && self.value.abs() < 1e9 {
            write!(f, "{}", self.value)?;
        } else {
            write!(f, "{:e}", self.value)?;
        }
        write!(f, " is not allowed: {}", self.allowed)
    }
}

/// `value` if it lies in `range`, else the error that says so.
fn in_range(
    name: &'static str,
    value: f64,
    range: core::ops::RangeInclusive<f64>,
    allowed: &'static str,
) -> Result<f64, BadSetting> {
    // NaN is in no range.
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(BadSetting {
            name,
            value,
            allowed,
        })
    }
}

impl SwitchSpec {
    /// Checks every number against what its setting allows.
    pub fn check(&self) -> Result<(), BadSetting> {
        let max_secs = crate::fdb::MAX_AGING.as_secs_f64();
        in_range(
            "aging",
            self.aging,
            0.0..=max_secs,
            "seconds from 0 (learn nothing, flood everything) to 2147483",
        )?;
        in_range(
            "capacity",
            f64::from(self.capacity),
            1.0..=f64::from(crate::fdb::MAX_CAPACITY),
            "learned entries from 1 to 16777214",
        )?;
        in_range(
            "mcast-query-interval",
            self.mcast_query_interval,
            11.0..=3600.0,
            "seconds from 11 to 3600 (above the 10 s response time)",
        )?;
        in_range(
            "mcast-max-groups",
            f64::from(self.mcast_max_groups),
            1.0..=f64::from(crate::mcast::MAX_GROUPS),
            "groups from 1 to 65535",
        )?;
        if let Some(g) = &self.move_guard {
            in_range(
                "move-guard.window",
                g.window,
                f64::MIN_POSITIVE..=max_secs,
                "seconds, more than 0 and at most 2147483",
            )?;
            in_range(
                "move-guard.hold",
                g.hold,
                f64::MIN_POSITIVE..=max_secs,
                "seconds, more than 0 and at most 2147483",
            )?;
        }
        if let Some(c) = self.stp_config() {
            c.validate().map_err(stp_setting)?;
        }
        for p in self.ports.values() {
            p.stp_config().validate().map_err(stp_setting)?;
        }
        Ok(())
    }

    /// The spanning tree settings, `None` when it is off.
    pub fn stp_config(&self) -> Option<StpConfig> {
        let mode = match self.stp {
            StpSpec::Off => return None,
            StpSpec::Rstp => StpMode::Rstp,
            StpSpec::Stp => StpMode::Stp,
        };
        Some(StpConfig {
            mode,
            priority: self.stp_priority,
            hello_time: self.stp_hello_time,
            max_age: self.stp_max_age,
            forward_delay: self.stp_forward_delay,
            tx_hold_count: self.stp_tx_hold_count,
        })
    }

    /// The spanning tree settings of the port called `name`, found as
    /// [`Self::port_config`] finds its other settings.
    pub fn stp_port_config(&self, name: &str) -> StpPortConfig {
        match self.ports.get(name).or_else(|| self.ports.get("default")) {
            Some(spec) => spec.stp_config(),
            None => StpPortConfig::default(),
        }
    }

    /// The core configuration; `default_seed` is used when the spec has no
    /// seed. Numbers outside their settings' ranges are refused ([`Self::check`]).
    pub fn to_config(&self, default_seed: u64) -> Result<SwitchConfig, ConfigError> {
        self.check().map_err(ConfigError::Setting)?;
        let aging = Duration::from_secs_f64(self.aging);
        Ok(SwitchConfig {
            fdb: FdbConfig {
                aging_time: aging,
                capacity: self.capacity,
                policy: match self.eviction {
                    EvictionSpec::FairLru => EvictionPolicy::FairLru,
                    EvictionSpec::StopLearning => EvictionPolicy::StopLearning,
                },
                hash_seed: self.hash_seed.unwrap_or(default_seed),
                entry_stats: self.fdb_entry_stats,
            },
            hub: self.hub,
            vlan_aware: self.vlan_aware,
            group_forward: GroupForwardMask::new(self.group_forward_mask)?,
            move_guard: self.move_guard.as_ref().map(MoveGuardSpec::to_config),
            mcast: McastConfig {
                snooping: self.mcast_snooping,
                querier: self.mcast_querier,
                unregistered: match self.mcast_unregistered {
                    UnregisteredSpec::Flood => Unregistered::Flood,
                    UnregisteredSpec::RouterPorts => Unregistered::RouterPorts,
                },
                max_groups: self.mcast_max_groups,
                query_interval: Duration::from_secs_f64(self.mcast_query_interval),
                querier_ipv4: self.mcast_querier_address,
                ..McastConfig::default()
            },
        })
    }

    /// The configuration of the port called `name`: its own entry, else the
    /// `default` entry, else the defaults.
    pub fn port_config(&self, name: &str) -> Result<PortConfig, BadVid> {
        match self.ports.get(name).or_else(|| self.ports.get("default")) {
            Some(spec) => spec.to_config(),
            None => Ok(PortConfig::default()),
        }
    }
}

fn stp_setting(e: StpConfigError) -> BadSetting {
    let (name, value, allowed) = match e {
        StpConfigError::Priority(p) => (
            "stp-priority",
            f64::from(p),
            "a multiple of 4096 from 0 to 61440",
        ),
        StpConfigError::PortPriority(p) => (
            "ports.*.stp-priority",
            f64::from(p),
            "a multiple of 16 from 0 to 240",
        ),
        StpConfigError::Times => (
            "stp-max-age",
            0.0,
            "hello 1-2 s, max age 6-40 s, forward delay 4-30 s, and 2 x (forward delay - 1) >= max age >= 2 x (hello + 1)",
        ),
        StpConfigError::TxHoldCount(n) => ("stp-tx-hold-count", f64::from(n), "1 to 10"),
        StpConfigError::PathCost(c) => ("ports.*.stp-cost", f64::from(c), "1 to 200000000"),
        StpConfigError::BpduGuardNotEdge => (
            "ports.*.stp-bpdu-guard",
            1.0,
            "only on an edge port: set stp-edge = true on the port too",
        ),
    };
    BadSetting {
        name,
        value,
        allowed,
    }
}

impl PortSpec {
    /// The port's spanning tree settings.
    pub fn stp_config(&self) -> StpPortConfig {
        let d = StpPortConfig::default();
        StpPortConfig {
            priority: self.stp_priority.unwrap_or(d.priority),
            path_cost: self.stp_cost.unwrap_or(d.path_cost),
            admin_edge: self.stp_edge.unwrap_or(d.admin_edge),
            auto_edge: self.stp_auto_edge.unwrap_or(d.auto_edge),
            point_to_point: self
                .stp_point_to_point
                .map_or(d.point_to_point, PointToPoint::from),
            bpdu_guard: self.stp_bpdu_guard.unwrap_or(d.bpdu_guard),
            root_guard: self.stp_root_guard.unwrap_or(d.root_guard),
        }
    }

    /// The core port configuration.
    pub fn to_config(&self) -> Result<PortConfig, BadVid> {
        let d = PortFlags::default();
        Ok(PortConfig {
            flags: PortFlags {
                learning: self.learning.unwrap_or(d.learning),
                flood_unknown: self.flood_unknown.unwrap_or(d.flood_unknown),
                flood_multicast: self.flood_multicast.unwrap_or(d.flood_multicast),
                flood_broadcast: self.flood_broadcast.unwrap_or(d.flood_broadcast),
                hairpin: self.hairpin.unwrap_or(d.hairpin),
            },
            vlan: match &self.vlan {
                Some(v) => v.to_mode()?,
                None => VlanMode::default(),
            },
            storm: StormControl {
                broadcast: self.storm_broadcast,
                multicast: self.storm_multicast,
                unknown_unicast: self.storm_unknown,
            },
            tunnel: false,
            mac_limit: self.mac_limit.map(|max| MacLimit {
                max,
                action: match self.mac_limit_action.unwrap_or_default() {
                    MacLimitActionSpec::NoLearn => MacLimitAction::NoLearn,
                    MacLimitActionSpec::Drop => MacLimitAction::Drop,
                },
            }),
            mcast: McastPortConfig {
                router: match self.mcast_router.unwrap_or_default() {
                    RouterModeSpec::Auto => RouterMode::Auto,
                    RouterModeSpec::Always => RouterMode::Always,
                    RouterModeSpec::Never => RouterMode::Never,
                },
                fast_leave: self.mcast_fast_leave.unwrap_or(false),
            },
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use alloc::string::ToString;

    fn refused(spec: SwitchSpec) -> String {
        match spec.to_config(0) {
            Err(ConfigError::Setting(e)) => e.to_string(),
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn spanning_tree_settings_are_read_and_checked() {
        let on = SwitchSpec {
            stp: StpSpec::Rstp,
            stp_priority: 4096,
            ..SwitchSpec::default()
        };
        let c = on.stp_config().expect("on");
        assert_eq!(
            (c.mode, c.priority, c.forward_delay),
            (StpMode::Rstp, 4096, 15)
        );
        assert_eq!(SwitchSpec::default().stp_config(), None);
        assert!(refused(SwitchSpec {
            stp_priority: 1000,
            ..on.clone()
        })
        .starts_with("stp-priority"));
        assert!(refused(SwitchSpec {
            stp_max_age: 40,
            ..on.clone()
        })
        .starts_with("stp-max-age"));
        let mut ports = BTreeMap::new();
        ports.insert(
            "default".into(),
            PortSpec {
                stp_cost: Some(0),
                ..PortSpec::default()
            },
        );
        assert!(refused(SwitchSpec {
            ports,
            ..on.clone()
        })
        .contains("stp-cost"));
        let mut ports = BTreeMap::new();
        ports.insert(
            "uplink".into(),
            PortSpec {
                stp_edge: Some(true),
                stp_cost: Some(2000),
                ..PortSpec::default()
            },
        );
        let mut guard = BTreeMap::new();
        guard.insert(
            "host1".into(),
            PortSpec {
                stp_bpdu_guard: Some(true),
                ..PortSpec::default()
            },
        );
        let e = refused(SwitchSpec {
            ports: guard.clone(),
            ..on.clone()
        });
        assert!(
            e.starts_with("ports.*.stp-bpdu-guard") && e.contains("stp-edge = true"),
            "{e}"
        );
        guard.get_mut("host1").expect("host1").stp_edge = Some(true);
        guard.insert(
            "uplink2".into(),
            PortSpec {
                stp_root_guard: Some(true),
                stp_point_to_point: Some(PointToPointSpec::False),
                ..PortSpec::default()
            },
        );
        let spec = SwitchSpec {
            ports: guard,
            ..on.clone()
        };
        assert!(spec.to_config(0).is_ok());
        let h = spec.stp_port_config("host1");
        assert!(h.bpdu_guard && h.admin_edge && !h.root_guard);
        let u = spec.stp_port_config("uplink2");
        assert!(u.root_guard && u.point_to_point == PointToPoint::ForceFalse);
        let spec = SwitchSpec { ports, ..on };
        let p = spec.stp_port_config("uplink");
        assert!(p.admin_edge && p.auto_edge);
        assert_eq!((p.path_cost, p.priority), (2000, 128));
        assert_eq!(spec.stp_port_config("other"), StpPortConfig::default());
    }

    #[test]
    fn numbers_outside_their_settings_are_refused_in_one_line() {
        let aging = |aging| SwitchSpec {
            aging,
            ..SwitchSpec::default()
        };
        let e = refused(aging(-1.0));
        assert!(
            e.starts_with("aging = -1 is not allowed: seconds from 0"),
            "{e}"
        );
        assert!(refused(aging(f64::NAN)).starts_with("aging = NaN "));
        assert!(refused(aging(f64::INFINITY)).starts_with("aging = inf "));
        let e = refused(aging(1e99));
        assert!(e.starts_with("aging = 1e99 is not allowed"), "{e}");
        assert!(e.len() < 100, "{e}");
        let e = refused(SwitchSpec {
            capacity: 0,
            ..SwitchSpec::default()
        });
        assert_eq!(
            e,
            "capacity = 0 is not allowed: learned entries from 1 to 16777214"
        );
        let guard = |window, hold| SwitchSpec {
            move_guard: Some(MoveGuardSpec {
                window,
                hold,
                ..MoveGuardSpec::default()
            }),
            ..SwitchSpec::default()
        };
        assert!(refused(guard(0.0, 60.0)).starts_with("move-guard.window = 0 "));
        assert!(refused(guard(10.0, -5.0)).starts_with("move-guard.hold = -5 "));
    }

    #[test]
    fn the_edges_of_each_range_are_accepted() {
        // Aging 0 stays the documented "learn nothing, flood everything".
        let c = SwitchSpec {
            aging: 0.0,
            capacity: 1,
            ..SwitchSpec::default()
        }
        .to_config(0)
        .unwrap();
        assert_eq!(c.fdb.aging_time, Duration::ZERO);
        assert_eq!(c.fdb.capacity, 1);
        let c = SwitchSpec {
            aging: crate::fdb::MAX_AGING.as_secs_f64(),
            capacity: crate::fdb::MAX_CAPACITY,
            ..SwitchSpec::default()
        }
        .to_config(0)
        .unwrap();
        assert_eq!(c.fdb.aging_time, crate::fdb::MAX_AGING);
        assert_eq!(c.fdb.capacity, crate::fdb::MAX_CAPACITY);
    }
}
