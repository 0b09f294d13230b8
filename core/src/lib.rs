//! vswitch-core: the switching core of vswitch.
//!
//! Pure logic, `no_std` + `alloc`: frame classification ([`frame`]), the MAC
//! learning table with aging, a bound and fair eviction ([`fdb`]), VLAN port
//! modes ([`vlan`]), ports, flags and counters ([`port`]), storm control
//! ([`storm`]), the MAC-move guard ([`guard`]), multicast snooping ([`mcast`]
//! over the IGMP/MLD messages of [`igmp`]), the spanning tree (RSTP with STP
//! fallback, [`stp`]) and the forward decision
//! ([`switch`]), over the small shared types of [`types`]. No I/O and no
//! clock: time is passed in as [`Instant`].
//! Adapters hand frames in as a [`FrameBatch`] (the Linux backend's ports
//! implement [`Port`]) or one at a time ([`Switch::forward_one`], the
//! simulator), and carry out each [`Egress`] the core hands back ([`batch`]).
//!
//! The forwarding rules are those of `docs/forwarding.md`: runts and bad sources
//! dropped, learning of (vid, source), IEEE link-local frames dropped after
//! learning (PAUSE before it) unless in the group-forward mask, then
//! broadcast/multicast/unknown unicast flooded, known unicast sent to its port,
//! never back out of the ingress port unless that port is in hairpin mode.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod batch;
pub mod events;
pub mod explain;
pub mod fdb;
pub mod frame;
pub mod guard;
pub mod igmp;
pub mod mac;
pub mod mcast;
pub mod port;
#[cfg(feature = "serde")]
pub mod spec;
pub mod storm;
pub mod stp;
pub mod summary;
pub mod switch;
pub mod time;
pub mod types;
pub mod vlan;
pub mod vxlan;

pub use batch::{Egress, FrameBatch};
pub use events::{Event, EventLog, FlushReason, Record};
pub use explain::{Explanation, FrameRequest, Step, Tagging};
pub use fdb::{EvictionPolicy, Fdb, FdbConfig, FdbCursor, FdbEntry, FdbStats, FlushScope, Learned};
pub use frame::{FrameInfo, Malformed, VlanTag};
pub use guard::{GuardAction, GuardStats, MoveGuardConfig};
pub use mac::MacAddr;
pub use mcast::{
    GroupRef, McastConfig, McastEvent, McastPortConfig, McastStats, Mdb, RouterMode, Unregistered,
};
pub use port::{
    DeviceCounts, DropReason, MacLimit, MacLimitAction, Port, PortConfig, PortCounters, PortFlags,
    PortId, TxError,
};
pub use storm::StormControl;
pub use switch::{
    ConfigError, Decision, FloodKind, GroupForwardMask, PortState, Switch, SwitchConfig, Verdict,
};
pub use time::Instant;
pub use types::{RemoteId, Vid};
pub use vlan::{VlanMode, VlanSet};
