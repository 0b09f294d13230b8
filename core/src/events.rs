//! What the switch did, as events: entries learned, moved, aged, evicted and
//! flushed, ports added, removed, up and down, and the protections acting
//! (storm control, the move guard, MAC limits).
//!
//! The switch records them in a bounded queue ([`EventLog`]) that is off until
//! someone turns it on ([`crate::Switch::set_event_log`]): off, recording is
//! one test of a flag, on the paths that change the table (never on the
//! known-host path). Each event gets a sequence number when it happens. When
//! the queue is full, new events are not kept but counted, and the next
//! [`EventLog::drain`] ends with one [`Event::Missed`] saying how many, with the
//! sequence number of the first one lost: a reader never sees a silent gap and
//! knows when to read the table again. A flush is one event however many
//! entries it removed.

use crate::mac::MacAddr;
use crate::port::PortId;
use crate::time::Instant;
use crate::types::{FloodKind, Vid};
use alloc::collections::VecDeque;
use core::fmt;

/// Why entries were flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushReason {
    /// The port went down.
    PortDown,
    /// The port was removed.
    PortRemoved,
    /// The port's VLAN mode changed.
    VlanChanged,
    /// The spanning tree saw a topology change.
    Topology,
    /// The move guard shut the port down.
    GuardShutdown,
    /// Someone asked (a flush command).
    Command,
    /// The switch's settings changed (VLAN awareness, a smaller table).
    Reconfigured,
}

impl FlushReason {
    /// A short name: `port-down`, `topology`, ...
    pub fn name(self) -> &'static str {
        match self {
            FlushReason::PortDown => "port-down",
            FlushReason::PortRemoved => "port-removed",
            FlushReason::VlanChanged => "vlan-changed",
            FlushReason::Topology => "topology",
            FlushReason::GuardShutdown => "guard-shutdown",
            FlushReason::Command => "command",
            FlushReason::Reconfigured => "reconfigured",
        }
    }
}

/// Something the switch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A new dynamic entry.
    Learned {
        /// Its VLAN.
        vid: Vid,
        /// Its MAC.
        mac: MacAddr,
        /// Where it was learned.
        port: PortId,
    },
    /// A dynamic entry moved to another port.
    Moved {
        /// Its VLAN.
        vid: Vid,
        /// Its MAC.
        mac: MacAddr,
        /// Where it was.
        from: PortId,
        /// Where it is now.
        to: PortId,
    },
    /// A dynamic entry reached the aging time and was removed.
    Aged {
        /// Its VLAN.
        vid: Vid,
        /// Its MAC.
        mac: MacAddr,
        /// Its port.
        port: PortId,
    },
    /// A dynamic entry was removed to make room for a new one: the table was
    /// full, and this was the oldest entry of the port with the most.
    Evicted {
        /// Its VLAN.
        vid: Vid,
        /// Its MAC.
        mac: MacAddr,
        /// Its port.
        port: PortId,
    },
    /// Entries were flushed: `count` of them, of one port (or all ports).
    Flushed {
        /// How many entries went.
        count: u64,
        /// The port whose entries went; `None`: every port's.
        port: Option<PortId>,
        /// Why.
        reason: FlushReason,
    },
    /// A port was added.
    PortAdded(PortId),
    /// A port was removed.
    PortRemoved(PortId),
    /// A port came up.
    PortUp(PortId),
    /// A port went down.
    PortDown(PortId),
    /// Storm control started dropping a kind of flood on a port.
    StormStart {
        /// The port.
        port: PortId,
        /// The kind of flood.
        kind: FloodKind,
    },
    /// Storm control let a flood of this kind through again, after dropping
    /// `dropped` frames, or the storm stopped: by the timer
    /// ([`crate::Switch::advance`]) once the port's bucket is full again.
    StormEnd {
        /// The port.
        port: PortId,
        /// The kind of flood.
        kind: FloodKind,
        /// Frames dropped since [`Event::StormStart`].
        dropped: u64,
    },
    /// The move guard saw a MAC move too often and holds it where it was.
    HoldDown {
        /// Its VLAN.
        vid: Vid,
        /// The MAC.
        mac: MacAddr,
        /// The port it stays on.
        port: PortId,
        /// The port it tried to move to.
        to: PortId,
    },
    /// The move guard shut a port down until `until`.
    GuardShutdown {
        /// The port.
        port: PortId,
        /// The MAC whose move triggered it.
        mac: MacAddr,
        /// When the port comes back.
        until: Instant,
    },
    /// A port's MAC limit refused to learn a MAC.
    MacLimit {
        /// Its VLAN.
        vid: Vid,
        /// The MAC.
        mac: MacAddr,
        /// The full port.
        port: PortId,
    },
    /// `count` events were lost because the queue was full (the first of them
    /// had this record's sequence number): read the table again.
    Missed {
        /// How many.
        count: u64,
    },
}

impl Event {
    /// Every kind's word, in the order of [`Event::index`].
    pub const KINDS: [&'static str; 15] = [
        "learned",
        "moved",
        "aged",
        "evicted",
        "flushed",
        "port-added",
        "port-removed",
        "port-up",
        "port-down",
        "storm-start",
        "storm-end",
        "hold-down",
        "guard-shutdown",
        "mac-limit",
        "missed",
    ];

    /// The event's kind as a number, its place in [`Event::KINDS`] (for
    /// totals kept in an array).
    pub fn index(&self) -> usize {
        match self {
            Event::Learned { .. } => 0,
            Event::Moved { .. } => 1,
            Event::Aged { .. } => 2,
            Event::Evicted { .. } => 3,
            Event::Flushed { .. } => 4,
            Event::PortAdded(_) => 5,
            Event::PortRemoved(_) => 6,
            Event::PortUp(_) => 7,
            Event::PortDown(_) => 8,
            Event::StormStart { .. } => 9,
            Event::StormEnd { .. } => 10,
            Event::HoldDown { .. } => 11,
            Event::GuardShutdown { .. } => 12,
            Event::MacLimit { .. } => 13,
            Event::Missed { .. } => 14,
        }
    }

    /// The event's kind as one word: `learned`, `moved`, ...
    pub fn kind(&self) -> &'static str {
        Event::KINDS[self.index()]
    }

    /// How many events this record stands for: `count` for
    /// [`Event::Missed`], one otherwise.
    pub fn weight(&self) -> u64 {
        match self {
            Event::Missed { count } => *count,
            _ => 1,
        }
    }
}

impl fmt::Display for Event {
    /// One line, ports by number: `moved 02:00:00:00:00:01 vlan 0 port 1 -> port 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.kind();
        match *self {
            Event::Learned { vid, mac, port }
            | Event::Aged { vid, mac, port }
            | Event::Evicted { vid, mac, port }
            | Event::MacLimit { vid, mac, port } => write!(f, "{k} {mac} vlan {vid} port {port}"),
            Event::Moved { vid, mac, from, to }
            | Event::HoldDown {
                vid,
                mac,
                port: from,
                to,
            } => write!(f, "{k} {mac} vlan {vid} port {from} -> port {to}"),
            Event::Flushed {
                count,
                port,
                reason,
            } => {
                write!(f, "{k} {count} entries")?;
                if let Some(p) = port {
                    write!(f, " port {p}")?;
                }
                write!(f, " ({})", reason.name())
            }
            Event::PortAdded(p) | Event::PortRemoved(p) | Event::PortUp(p) | Event::PortDown(p) => {
                write!(f, "{k} port {p}")
            }
            Event::StormStart { port, kind } => write!(f, "{k} port {port} {}", flood_name(kind)),
            Event::StormEnd {
                port,
                kind,
                dropped,
            } => write!(f, "{k} port {port} {} dropped {dropped}", flood_name(kind)),
            Event::GuardShutdown { port, mac, until } => {
                write!(f, "{k} port {port} by {mac} until {} ms", until.millis())
            }
            Event::Missed { count } => write!(f, "{k} {count} events"),
        }
    }
}

/// A flood kind as one word.
pub fn flood_name(kind: FloodKind) -> &'static str {
    match kind {
        FloodKind::Broadcast => "broadcast",
        FloodKind::Multicast => "multicast",
        FloodKind::UnknownUnicast => "unknown-unicast",
        FloodKind::Hub => "hub",
    }
}

/// One event with its sequence number and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// Sequence number: one more for each event, kept or not.
    pub seq: u64,
    /// When it happened (the switch's clock).
    pub at: Instant,
    /// What happened.
    pub event: Event,
}

/// The bounded event queue. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    on: bool,
    capacity: usize,
    next_seq: u64,
    queue: VecDeque<Record>,
    missed: u64,
    missed_from: u64,
    missed_at: Instant,
}

impl EventLog {
    /// Turns recording on with room for `capacity` events between drains
    /// (at least one), or off with 0 (the queue is emptied; sequence numbers
    /// go on from where they were).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.on = capacity > 0;
        self.capacity = capacity;
        if self.on {
            self.queue
                .reserve(capacity.saturating_sub(self.queue.len()));
        } else {
            self.queue = VecDeque::new();
            self.missed = 0;
        }
    }

    /// True while events are recorded.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Records `event` at `at`, if recording is on.
    #[inline(always)]
    pub fn record(&mut self, at: Instant, event: Event) {
        if self.on {
            self.push(at, event);
        }
    }

    /// Records the event `make` gives, if recording is on: nothing is built
    /// when it is off.
    #[inline(always)]
    pub fn record_with(&mut self, at: Instant, make: impl FnOnce() -> Event) {
        if self.on {
            self.push(at, make());
        }
    }

    #[cold]
    #[inline(never)]
    fn push(&mut self, at: Instant, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.queue.len() < self.capacity {
            self.queue.push_back(Record { seq, at, event });
        } else {
            if self.missed == 0 {
                self.missed_from = seq;
                self.missed_at = at;
            }
            self.missed += 1;
        }
    }

    /// Events waiting to be drained (an [`Event::Missed`] counts as one).
    pub fn len(&self) -> usize {
        self.queue.len() + usize::from(self.missed > 0)
    }

    /// True if nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands every waiting record to `f`, oldest first, then one
    /// [`Event::Missed`] if any were lost since the last drain.
    pub fn drain(&mut self, mut f: impl FnMut(Record)) {
        for r in self.queue.drain(..) {
            f(r);
        }
        if self.missed > 0 {
            f(Record {
                seq: self.missed_from,
                at: self.missed_at,
                event: Event::Missed { count: self.missed },
            });
            self.missed = 0;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use alloc::vec::Vec;

    fn port_up(p: u16) -> Event {
        Event::PortUp(PortId(p))
    }

    #[test]
    fn off_records_nothing_and_numbers_nothing() {
        let mut log = EventLog::default();
        log.record(Instant::ZERO, port_up(1));
        assert!(log.is_empty());
        assert_eq!(log.next_seq(), 0);
    }

    #[test]
    fn a_full_queue_ends_its_drain_with_one_missed_marker() {
        let mut log = EventLog::default();
        log.set_capacity(3);
        for p in 0..10 {
            log.record(Instant::from_millis(u64::from(p)), port_up(p));
        }
        assert_eq!(log.len(), 4);
        let mut got = Vec::new();
        log.drain(|r| got.push(r));
        let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        assert_eq!(got[3].event, Event::Missed { count: 7 });
        assert_eq!(got[3].at, Instant::from_millis(3));
        // Every event is accounted for: kept ones plus the missed count.
        let total: u64 = got.iter().map(|r| r.event.weight()).sum();
        assert_eq!(total, 10);
        // After the drain the queue takes events again, numbered on.
        log.record(Instant::ZERO, port_up(1));
        let mut next = Vec::new();
        log.drain(|r| next.push(r.seq));
        assert_eq!(next, [10]);
    }

    #[test]
    fn events_read_as_one_line() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let moved = Event::Moved {
            vid: 10,
            mac,
            from: PortId(1),
            to: PortId(2),
        };
        assert_eq!(
            alloc::format!("{moved}"),
            "moved 02:00:00:00:00:01 vlan 10 port 1 -> port 2"
        );
        let flushed = Event::Flushed {
            count: 100_000,
            port: None,
            reason: FlushReason::Command,
        };
        assert_eq!(
            alloc::format!("{flushed}"),
            "flushed 100000 entries (command)"
        );
    }
}
