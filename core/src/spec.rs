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
        Ok(())
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
            tunnel: false,
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
