//! Small types that every stage of the core shares: a port's number, a VLAN
//! id, why a frame is flooded. They live here, below the stages, so that the
//! table ([`crate::fdb`]), the ports ([`crate::port`]), storm control
//! ([`crate::storm`]) and the switch ([`crate::switch`]) can all name them
//! without importing each other. Each is re-exported where it was before
//! (`vswitch_core::PortId`, `vswitch_core::port::PortId`,
//! `vswitch_core::switch::FloodKind`, `vswitch_core::Vid`).

use core::fmt;

/// A VLAN identifier, 0..=4095 (0 on a VLAN-unaware switch).
pub type Vid = u16;

/// A port's number on its switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u16);

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The remote endpoint of an entry learned behind a tunnel port: an opaque
/// small id that the port's adapter maps to an address (a VXLAN port: the
/// outer source IP of the frames). The core only stores it with the entry and
/// hands it back when a frame goes to that entry. At most [`RemoteId::MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteId(pub u16);

impl RemoteId {
    /// The largest id an FDB entry can hold (14 bits, with one value kept
    /// for "no remote").
    pub const MAX: RemoteId = RemoteId(0x3ffe);
}

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a frame is flooded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloodKind {
    /// Broadcast destination.
    Broadcast,
    /// Multicast destination (including forwarded link-local ones).
    Multicast,
    /// Unicast destination not in the table.
    UnknownUnicast,
    /// Hub mode: everything goes everywhere.
    Hub,
}
