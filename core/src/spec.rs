//! Switch and port configuration as people write it in TOML files (scenario files
//! of the simulator, `--config` of the Linux switch). Enabled by the `serde` feature.
//!
//! ```toml
//! hub = false
//! aging = 300          # seconds; 0 = learn nothing, flood everything
//! capacity = 8192
//! eviction = "fair-lru" # or "stop-learning"
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

use crate::fdb::{EvictionPolicy, FdbConfig};
use crate::guard::{GuardAction, MoveGuardConfig};
use crate::port::{MacLimit, MacLimitAction, PortConfig, PortFlags};
use crate::storm::StormControl;
use crate::switch::{ConfigError, GroupForwardMask, SwitchConfig};
use crate::vlan::{VlanMode, VlanSet};
use crate::Vid;
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
    /// The MAC-move guard; off when absent.
    pub move_guard: Option<MoveGuardSpec>,
    /// Port settings by port name; the name `default` applies to every port not named.
    pub ports: BTreeMap<String, PortSpec>,
}

impl Default for SwitchSpec {
    fn default() -> Self {
        let fdb = FdbConfig::default();
        SwitchSpec {
            hub: false,
            aging: fdb.aging_time.as_secs_f64(),
            capacity: fdb.capacity,
            eviction: EvictionSpec::FairLru,
            vlan_aware: false,
            group_forward_mask: 0,
            hash_seed: None,
            move_guard: None,
            ports: BTreeMap::new(),
        }
    }
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
    /// The core configuration (negative or not-a-number times count as 0).
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

impl SwitchSpec {
    /// The core configuration; `default_seed` is used when the spec has no seed.
    pub fn to_config(&self, default_seed: u64) -> Result<SwitchConfig, ConfigError> {
        let aging = if self.aging.is_finite() && self.aging > 0.0 {
            Duration::from_secs_f64(self.aging.min(crate::fdb::MAX_AGING.as_secs_f64() + 1.0))
        } else {
            Duration::ZERO
        };
        Ok(SwitchConfig {
            fdb: FdbConfig {
                aging_time: aging,
                capacity: self.capacity,
                policy: match self.eviction {
                    EvictionSpec::FairLru => EvictionPolicy::FairLru,
                    EvictionSpec::StopLearning => EvictionPolicy::StopLearning,
                },
                hash_seed: self.hash_seed.unwrap_or(default_seed),
            },
            hub: self.hub,
            vlan_aware: self.vlan_aware,
            group_forward: GroupForwardMask::new(self.group_forward_mask)?,
            move_guard: self.move_guard.as_ref().map(MoveGuardSpec::to_config),
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

impl PortSpec {
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
            mac_limit: self.mac_limit.map(|max| MacLimit {
                max,
                action: match self.mac_limit_action.unwrap_or_default() {
                    MacLimitActionSpec::NoLearn => MacLimitAction::NoLearn,
                    MacLimitActionSpec::Drop => MacLimitAction::Drop,
                },
            }),
        })
    }
}
