//! Ports: their identity, flags, counters, and the [`Port`] trait that the
//! adapters' ports (AF_PACKET socket, AF_XDP socket, TAP device) implement.

use crate::batch::FrameBatch;
use crate::mcast::McastPortConfig;
use crate::storm::StormControl;
pub use crate::types::PortId;
use crate::vlan::VlanMode;
use core::fmt;

/// Per-port behaviour switches, as the Linux bridge's per-port flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortFlags {
    /// Learn source MACs of frames received here.
    pub learning: bool,
    /// Send floods of unknown unicast out of this port.
    pub flood_unknown: bool,
    /// Send floods of multicast out of this port.
    pub flood_multicast: bool,
    /// Send floods of broadcast out of this port.
    pub flood_broadcast: bool,
    /// Allow frames back out of the port they came in on.
    pub hairpin: bool,
}

impl Default for PortFlags {
    fn default() -> Self {
        PortFlags {
            learning: true,
            flood_unknown: true,
            flood_multicast: true,
            flood_broadcast: true,
            hairpin: false,
        }
    }
}

/// Configuration of one port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortConfig {
    /// Behaviour flags.
    pub flags: PortFlags,
    /// VLAN membership, used only by a VLAN-aware switch.
    pub vlan: VlanMode,
    /// Flood rate limits (storm control); off by default.
    pub storm: StormControl,
    /// At most this many learned MACs (port security); off by default.
    pub mac_limit: Option<MacLimit>,
    /// Multicast snooping: router port mode and fast leave.
    pub mcast: McastPortConfig,
    /// A tunnel port (VXLAN): its learned entries carry the remote endpoint the
    /// adapter reports, and split horizon holds: what came in from the
    /// tunnel never goes back into it, hairpin or not.
    pub tunnel: bool,
}

/// A bound on the MACs learned on one port (port security).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MacLimit {
    /// Dynamic entries the port may hold.
    pub max: u32,
    /// What happens to a frame from a MAC the port may not learn.
    pub action: MacLimitAction,
}

/// What a port at its MAC limit does with a frame from a new MAC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MacLimitAction {
    /// Forward it without learning its source.
    #[default]
    NoLearn,
    /// Drop it (counted as `mac-limit`).
    Drop,
}

/// Why a frame was dropped. Every drop has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than an Ethernet header (or than a VLAN tag it announces, on a
    /// VLAN-aware switch).
    Runt,
    /// Source MAC multicast, broadcast or all-zero.
    BadSource,
    /// IEEE link-local destination (01:80:C2:00:00:0X) not in the group-forward mask.
    LinkLocal,
    /// Destination learned on the port the frame came in on (no hairpin).
    SamePort,
    /// The ingress port does not admit the frame's VLAN.
    VlanIngress,
    /// Received on a port that is down.
    IngressDown,
    /// The destination's port is down.
    EgressDown,
    /// The destination's port does not carry the frame's VLAN.
    VlanEgress,
    /// Larger than the egress interface's MTU.
    TooBig,
    /// The egress port could not take the frame (queue or ring full).
    TxFull,
    /// A flood over its ingress port's storm-control rate.
    Storm,
    /// From a new MAC on a port at its MAC limit (action `drop`).
    MacLimit,
    /// The move that made the move guard shut its ingress port down.
    MoveGuard,
    /// The port's receive queue overflowed before the adapter read the frame
    /// (counted by the device, reported through [`DeviceCounts`]).
    RxFull,
    /// A malformed IGMP or MLD message (snooping on): bad length, checksum
    /// or group.
    BadIgmp,
    /// Received on, or bound for, a port the spanning tree holds discarding
    /// (or learning: learned from, not forwarded).
    Blocked,
    /// Bound for a tunnel port that has no remote endpoint to send it to: a
    /// flood while its flood list is empty.
    NoRemote,
    /// Bound for a port that stopped forwarding between the frame's decision
    /// and its delivery, in the same batch ([`crate::Switch::forward`]
    /// decides every frame before it delivers any): the move guard shut it
    /// down, or the spanning tree made it discard. Counted at transmit, on
    /// that port.
    TxDown,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 18] = [
        DropReason::Runt,
        DropReason::BadSource,
        DropReason::LinkLocal,
        DropReason::SamePort,
        DropReason::VlanIngress,
        DropReason::IngressDown,
        DropReason::EgressDown,
        DropReason::VlanEgress,
        DropReason::TooBig,
        DropReason::TxFull,
        DropReason::Storm,
        DropReason::MacLimit,
        DropReason::MoveGuard,
        DropReason::RxFull,
        DropReason::BadIgmp,
        DropReason::Blocked,
        DropReason::NoRemote,
        DropReason::TxDown,
    ];

    /// A short name for output: `runt`, `bad-source`, ...
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Runt => "runt",
            DropReason::BadSource => "bad-source",
            DropReason::LinkLocal => "link-local",
            DropReason::SamePort => "same-port",
            DropReason::VlanIngress => "vlan-ingress",
            DropReason::IngressDown => "ingress-down",
            DropReason::EgressDown => "egress-down",
            DropReason::VlanEgress => "vlan-egress",
            DropReason::TooBig => "too-big",
            DropReason::TxFull => "tx-full",
            DropReason::Storm => "storm",
            DropReason::MacLimit => "mac-limit",
            DropReason::MoveGuard => "move-guard",
            DropReason::RxFull => "rx-full",
            DropReason::BadIgmp => "bad-igmp",
            DropReason::Blocked => "stp-blocked",
            DropReason::NoRemote => "no-remote",
            DropReason::TxDown => "tx-down",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters of one port.
///
/// With the `serde` feature it is written as the adapters' reports show it:
/// the counts by name, `drops` as a map of the reasons with drops
/// (`{"runt": 2}`), and the move guard's and MAC limit's events as `guard`
/// ([`crate::GuardStats`]).
///
/// In declaration order (`repr(C)`): the send counters, which a flood adds
/// to on every port, are in the first cache line of a [`crate::PortState`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "serde_repr::Counters", into = "serde_repr::Counters")
)]
pub struct PortCounters {
    /// Frames received, valid or not.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames received that were cut short or could not be read (reported by
    /// the adapter, [`DeviceCounts`]); they never reach the decision.
    pub rx_errors: u64,
    /// Frames this port took for sending: its send accepted them, less those
    /// its device refused on a later flush.
    pub tx_frames: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// Frames received here and sent to one known port.
    pub unicast: u64,
    /// Broadcast and multicast frames received here and flooded (and, in hub
    /// mode, every frame).
    pub flood: u64,
    /// Unicast frames received here whose destination was unknown, flooded.
    pub unknown_unicast: u64,
    /// Multicast frames received here sent by the snooping table: to a
    /// group's member and router ports, or to router ports only.
    pub snooped: u64,
    /// Drops by reason, indexed as [`DropReason::ALL`]. Drops decided when the
    /// frame arrives count on the port it came in on (including `egress-down` and
    /// `vlan-egress`, which are known then); drops at transmit (`too-big`,
    /// `tx-full`, `no-remote`, `tx-down`) count on the port it was to leave
    /// by, as do `rx-full` drops on the port whose queue overflowed.
    pub drops: [u64; DropReason::ALL.len()],
    /// Moves of a held-down MAC onto this port that the move guard refused.
    pub moves_blocked: u64,
    /// Hold-downs started by a MAC moving onto this port.
    pub hold_downs: u64,
    /// Times the move guard shut this port down.
    pub guard_shutdowns: u64,
    /// MACs not learned here because the port was at its MAC limit.
    pub mac_limit_refused: u64,
}

impl PortCounters {
    /// Drops for one reason.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// The reasons with at least one drop, by name (`runt`, `same-port`, ...),
    /// with their counts, in counter order: what reports and `show` print.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r.name(), self.drops(r)))
            .filter(|&(_, n)| n > 0)
    }

    /// This port's move-guard and MAC-limit events.
    pub fn guard(&self) -> crate::GuardStats {
        crate::GuardStats {
            moves_blocked: self.moves_blocked,
            hold_downs: self.hold_downs,
            shutdowns: self.guard_shutdowns,
            mac_limit_refused: self.mac_limit_refused,
        }
    }

    /// Drops for all reasons.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        self.count_drops(reason, 1);
    }

    pub(crate) fn count_drops(&mut self, reason: DropReason, n: u64) {
        self.drops[reason.index()] += n;
    }
}

/// Why a port could not send a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// The frame is larger than the interface's MTU allows.
    TooBig,
    /// The transmit queue or ring is full.
    Full,
    /// A tunnel port has no remote endpoint for the frame (a flood while its
    /// flood list is empty): nothing was sent.
    NoRemote,
}

impl From<TxError> for DropReason {
    fn from(e: TxError) -> DropReason {
        match e {
            TxError::TooBig => DropReason::TooBig,
            TxError::Full => DropReason::TxFull,
            TxError::NoRemote => DropReason::NoRemote,
        }
    }
}

/// What a port's device did outside the core's sight since the adapter last
/// asked ([`Port::take_counts`]): the adapter hands it to
/// [`crate::Switch::count_device`], so that a port's counters in the core are
/// the whole story and no one corrects them afterwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceCounts {
    /// Frames the receive queue dropped before the adapter read them (`rx-full`).
    pub rx_full: u64,
    /// Frames received that were cut short or could not be read.
    pub rx_errors: u64,
    /// Frames the port's send accepted and queued that the device then
    /// refused when the queue was flushed (`tx-full`).
    pub tx_refused: u64,
    /// Their bytes.
    pub tx_refused_bytes: u64,
}

impl DeviceCounts {
    /// True when there is nothing to report.
    pub fn is_empty(&self) -> bool {
        *self == DeviceCounts::default()
    }
}

/// Something frames come in from and go out to: the adapter's side of a port.
///
/// The Linux backend's AF_PACKET, AF_XDP and TAP ports implement it and its
/// event loop drives them through it: [`Port::recv`] fills the batch that
/// [`crate::Switch::forward`] decides on, the send callback calls
/// [`Port::send`] with each frame's metadata, [`Port::flush`] ends the batch
/// and [`Port::take_counts`] reports what the device dropped. (The simulator's
/// wires are not ports: it delivers one frame at a time, in virtual time,
/// with [`crate::Switch::forward_one`].)
pub trait Port {
    /// What the port keeps with each frame it receives and needs again when
    /// the frame leaves (an offload state, say); `()` for nothing.
    type Meta: Copy + Default;

    /// A name for people: `veth1-vsw`, `tap0`, `h1`.
    fn name(&self) -> &str;

    /// Appends the frames that have arrived, each with its metadata, up to the
    /// batch's free room as the adapter sees fit; returns how many were appended.
    fn recv(&mut self, batch: &mut FrameBatch<Self::Meta>) -> usize;

    /// Sends one frame, or queues it until [`Port::flush`]; `Ok` means the port
    /// took it. A queued frame that the device refuses on a later flush is
    /// reported by [`Port::take_counts`] as `tx_refused`.
    fn send(&mut self, frame: &[u8], meta: Self::Meta) -> Result<(), TxError>;

    /// Sends whatever [`Port::send`] queued (one syscall for a batch, say).
    fn flush(&mut self) {}

    /// What the device dropped or refused since the last call, for
    /// [`crate::Switch::count_device`]; nothing by default.
    fn take_counts(&mut self) -> DeviceCounts {
        DeviceCounts::default()
    }
}

impl<P: Port + ?Sized> Port for alloc::boxed::Box<P> {
    type Meta = P::Meta;
    fn name(&self) -> &str {
        (**self).name()
    }
    fn recv(&mut self, batch: &mut FrameBatch<P::Meta>) -> usize {
        (**self).recv(batch)
    }
    fn send(&mut self, frame: &[u8], meta: P::Meta) -> Result<(), TxError> {
        (**self).send(frame, meta)
    }
    fn flush(&mut self) {
        (**self).flush()
    }
    fn take_counts(&mut self) -> DeviceCounts {
        (**self).take_counts()
    }
}

/// The form [`PortCounters`] takes in JSON and the other serde formats.
#[cfg(feature = "serde")]
mod serde_repr {
    use super::{DropReason, PortCounters};
    use crate::GuardStats;
    use alloc::collections::BTreeMap;
    use alloc::string::{String, ToString};

    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Counters {
        rx_frames: u64,
        rx_bytes: u64,
        tx_frames: u64,
        tx_bytes: u64,
        unicast: u64,
        flood: u64,
        unknown_unicast: u64,
        #[serde(default)]
        snooped: u64,
        #[serde(default)]
        rx_errors: u64,
        #[serde(default)]
        drops: BTreeMap<String, u64>,
        #[serde(default)]
        guard: GuardStats,
    }

    impl From<PortCounters> for Counters {
        fn from(c: PortCounters) -> Counters {
            Counters {
                rx_frames: c.rx_frames,
                rx_bytes: c.rx_bytes,
                tx_frames: c.tx_frames,
                tx_bytes: c.tx_bytes,
                unicast: c.unicast,
                flood: c.flood,
                unknown_unicast: c.unknown_unicast,
                snooped: c.snooped,
                rx_errors: c.rx_errors,
                drops: c.nonzero_drops().map(|(r, n)| (r.to_string(), n)).collect(),
                guard: c.guard(),
            }
        }
    }

    impl From<Counters> for PortCounters {
        /// Reasons this build does not know are left out.
        fn from(c: Counters) -> PortCounters {
            let mut out = PortCounters {
                rx_frames: c.rx_frames,
                rx_bytes: c.rx_bytes,
                rx_errors: c.rx_errors,
                tx_frames: c.tx_frames,
                tx_bytes: c.tx_bytes,
                unicast: c.unicast,
                flood: c.flood,
                unknown_unicast: c.unknown_unicast,
                snooped: c.snooped,
                moves_blocked: c.guard.moves_blocked,
                hold_downs: c.guard.hold_downs,
                guard_shutdowns: c.guard.shutdowns,
                mac_limit_refused: c.guard.mac_limit_refused,
                ..PortCounters::default()
            };
            for r in DropReason::ALL {
                if let Some(&n) = c.drops.get(r.name()) {
                    out.count_drops(r, n);
                }
            }
            out
        }
    }
}
