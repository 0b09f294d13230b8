//! Ports: their identity, flags, counters, and the [`Port`] trait that every
//! adapter (simulated wire, AF_PACKET socket, TAP device, pcap file) implements.

use crate::storm::StormControl;
pub use crate::types::PortId;
use crate::vlan::VlanMode;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

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
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 13] = [
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortCounters {
    /// Frames received, valid or not.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames handed to this port for sending.
    pub tx_frames: u64,
    /// Bytes handed to this port for sending.
    pub tx_bytes: u64,
    /// Frames received here and sent to one known port.
    pub unicast: u64,
    /// Broadcast and multicast frames received here and flooded (and, in hub
    /// mode, every frame).
    pub flood: u64,
    /// Unicast frames received here whose destination was unknown, flooded.
    pub unknown_unicast: u64,
    /// Drops by reason, indexed as [`DropReason::ALL`]. Drops decided when the
    /// frame arrives count on the port it came in on (including `egress-down` and
    /// `vlan-egress`, which are known then); drops at transmit (`too-big`,
    /// `tx-full`) count on the port it was to leave by.
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
        self.drops[reason.index()] += 1;
    }
}

/// Why a port could not send a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// The frame is larger than the interface's MTU allows.
    TooBig,
    /// The transmit queue or ring is full.
    Full,
}

impl From<TxError> for DropReason {
    fn from(e: TxError) -> DropReason {
        match e {
            TxError::TooBig => DropReason::TooBig,
            TxError::Full => DropReason::TxFull,
        }
    }
}

/// A reusable buffer of received frames, filled by a port and decided on as one
/// batch. Once it has grown to its working size it allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct FrameBatch {
    data: Vec<u8>,
    frames: Vec<Range<usize>>,
}

impl FrameBatch {
    /// The usual batch size, as in netmap's VALE switch.
    pub const DEFAULT_SIZE: usize = 32;

    /// An empty batch with room for `frames` frames of up to 1518 bytes.
    pub fn with_capacity(frames: usize) -> FrameBatch {
        FrameBatch {
            data: Vec::with_capacity(frames * 1518),
            frames: Vec::with_capacity(frames),
        }
    }

    /// Removes every frame, keeping the memory.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    /// Appends a copy of `frame`.
    pub fn push(&mut self, frame: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(frame);
        self.frames.push(start..self.data.len());
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frame `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[self.frames[i].clone()]
    }

    /// The frames in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.frames.iter().map(|r| &self.data[r.clone()])
    }
}

/// Something frames come in from and go out to: the adapter's side of a port.
///
/// The simulator's wires, the Linux backend's sockets and TAP devices, pcap files
/// and tests implement it; [`crate::Switch::poll`] drives any set of them.
pub trait Port {
    /// A name for people: `veth1-vsw`, `tap0`, `h1`.
    fn name(&self) -> &str;

    /// True while the link is up (carrier present).
    fn link_up(&self) -> bool {
        true
    }

    /// Appends the frames that have arrived, up to the batch's free room as the
    /// adapter sees fit; returns how many were appended.
    fn recv(&mut self, batch: &mut FrameBatch) -> usize;

    /// Queues one frame for sending.
    fn send(&mut self, frame: &[u8]) -> Result<(), TxError>;

    /// Sends whatever [`Port::send`] queued (one syscall for a batch, say).
    fn flush(&mut self) {}
}

impl<P: Port + ?Sized> Port for alloc::boxed::Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn link_up(&self) -> bool {
        (**self).link_up()
    }
    fn recv(&mut self, batch: &mut FrameBatch) -> usize {
        (**self).recv(batch)
    }
    fn send(&mut self, frame: &[u8]) -> Result<(), TxError> {
        (**self).send(frame)
    }
    fn flush(&mut self) {
        (**self).flush()
    }
}
