//! The forwarding database: (vid, MAC) -> port, with learning, aging and a bound.
//!
//! Layout, chosen for speed and for 30 bytes per entry (38 with the
//! per-entry counters on):
//!
//! - `entries`: an arena of 16-byte `Entry` values (key, last-seen time,
//!   port, flags): all a lookup reads, in one cache line. The 16-bit flags
//!   word has 14 bits to spare, which hold the remote endpoint of an entry
//!   behind a tunnel port ([`RemoteId`]): tunnels cost the table no memory.
//! - `links`: beside the arena, 8 bytes per place, the links of the port's
//!   LRU list, which a lookup never reads.
//! - `counters`: only when [`FdbConfig::entry_stats`] is on, 8 bytes per
//!   arena place beside it: frames forwarded to the entry and when the last
//!   one was (`fdb show -s`). Off, the vector stays empty and a hit costs a
//!   length check.
//! - `slots`: an open-addressing index (linear probing, load <= 2/3) of `u32`
//!   values: the arena index plus one in the low bits, as few as the index size
//!   needs, and a fingerprint of the key's hash in all the bits left (18 bits at
//!   8,192 entries, 11 at 1,000,000). A hit touches one slot and one entry; a
//!   miss touches an entry only when a fingerprint matches by chance (one probe
//!   in 2^bits).
//! - One LRU list per port, oldest first: a refresh moves an entry to its port's
//!   tail, so the head is the port's least recently seen entry. Fair eviction takes
//!   the head of the port with the most entries (Open vSwitch's policy).
//! - Aging without a full-table scan: a min-heap holds, for each port with entries,
//!   a time no later than the moment its head expires. Heads only ever get younger,
//!   so the heap is updated lazily, when a port's time comes. Every call that is
//!   given `now` first removes every entry with `now - last_seen >= aging_time`,
//!   so expired entries are never used and the counters are exact.
//!
//! Time is kept as the low 32 bits of the millisecond clock. Because every entry
//! older than the aging time is removed before any use, and aging is at most
//! 2^31 ms, the wrapping difference is always the true age.
//!
//! ```
//! use vswitch_core::fdb::{Fdb, FdbConfig, Learned};
//! use vswitch_core::{Instant, MacAddr, PortId};
//! let mut fdb = Fdb::new(FdbConfig::default()).unwrap();
//! let host = MacAddr([2, 0, 0, 0, 0, 1]);
//! assert_eq!(fdb.learn(Instant::ZERO, 0, host, PortId(3)), Learned::New);
//! assert_eq!(fdb.lookup(Instant::from_secs(299), 0, host), Some(PortId(3)));
//! assert_eq!(fdb.lookup(Instant::from_secs(300), 0, host), None); // aged out
//! ```

use crate::events::{Event, EventLog};
use crate::mac::MacAddr;
use crate::time::Instant;
use crate::types::PortId;
use crate::types::RemoteId;
use crate::types::Vid;
use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;
use core::time::Duration;

/// The most (destination, source) pairs one [`Fdb::prefetch_batch`] call takes.
pub(crate) const PREFETCH_BATCH: usize = 32;

/// Default aging time: 300 s, as in the Linux bridge and Open vSwitch.
pub const DEFAULT_AGING: Duration = Duration::from_secs(300);
/// Default bound on dynamic entries.
pub const DEFAULT_CAPACITY: u32 = 8192;
/// The largest capacity the table supports (its arena index has 24 bits).
pub const MAX_CAPACITY: u32 = (1 << 24) - 2;
/// The longest aging time (2^31 ms, about 24.8 days).
pub const MAX_AGING: Duration = Duration::from_millis(1 << 31);

/// What to do when a new MAC must be learned and the table is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EvictionPolicy {
    /// Evict the least recently seen entry of the port that holds the most
    /// entries (ties: the port whose oldest entry is older, then the lower port
    /// number). A port flooding random source MACs evicts only its own entries.
    #[default]
    FairLru,
    /// Learn nothing new until entries age out or are flushed (Linux
    /// `fdb_max_learned`).
    StopLearning,
}

/// Configuration of a forwarding database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbConfig {
    /// Dynamic entries unused for this long expire; zero means learn nothing.
    pub aging_time: Duration,
    /// Maximum number of dynamic entries; static entries do not count.
    pub capacity: u32,
    /// What happens when the table is full.
    pub policy: EvictionPolicy,
    /// Seed of the index hash. Choose it at random where attackers choose MACs.
    pub hash_seed: u64,
    /// Count, per entry, the frames forwarded to it and when the last one
    /// was ([`FdbEntry::hits`], [`FdbEntry::used`]): 8 more bytes per entry
    /// (38 instead of 30 at a million entries). Off by default.
    pub entry_stats: bool,
}

impl Default for FdbConfig {
    fn default() -> Self {
        FdbConfig {
            aging_time: DEFAULT_AGING,
            capacity: DEFAULT_CAPACITY,
            policy: EvictionPolicy::FairLru,
            hash_seed: 0x5157_4954_4348_2121,
            entry_stats: false,
        }
    }
}

/// A configuration the table cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdbConfigError {
    /// Capacity above [`MAX_CAPACITY`].
    CapacityTooLarge(u32),
    /// Aging time above [`MAX_AGING`].
    AgingTooLong(Duration),
}

impl fmt::Display for FdbConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdbConfigError::CapacityTooLarge(c) => {
                write!(
                    f,
                    "FDB capacity {c} is too large: the maximum is {MAX_CAPACITY}"
                )
            }
            FdbConfigError::AgingTooLong(d) => write!(
                f,
                "aging time {} s is too long: the maximum is {} s",
                d.as_secs(),
                MAX_AGING.as_secs()
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FdbConfigError {}

/// Totals of one table since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FdbStats {
    /// New dynamic entries created.
    pub learned: u64,
    /// Dynamic entries that moved to another port.
    pub moved: u64,
    /// Dynamic entries removed because they aged out.
    pub expired: u64,
    /// Dynamic entries evicted to make room (fair policy).
    pub evicted: u64,
    /// New MACs not learned because the table was full (stop-learning policy).
    pub refused: u64,
    /// Entries removed by a flush (port down, port removed, VLAN, all).
    pub flushed: u64,
    /// Dynamic entries in the table now.
    pub current: u64,
    /// Static entries in the table now.
    pub statics: u64,
}

/// What [`Fdb::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A new entry was made.
    New,
    /// A new entry was made after evicting the given port's oldest entry.
    NewEvicting(PortId),
    /// The entry existed on this port; its time was refreshed.
    Refreshed,
    /// The entry moved here from the given port.
    Moved(PortId),
    /// A static entry holds this MAC; nothing changed.
    Static,
    /// The table is full and the policy is to stop learning.
    Full,
    /// Aging time is zero: nothing is learned.
    Disabled,
}

/// One entry as shown to a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// VLAN (0 on a VLAN-unaware switch).
    pub vid: Vid,
    /// The MAC address.
    pub mac: MacAddr,
    /// The port it was learned on or configured for.
    pub port: PortId,
    /// True for a static entry.
    pub is_static: bool,
    /// Time since last seen (zero for static entries).
    pub age: Duration,
    /// The remote endpoint behind a tunnel port, if the entry has one.
    pub remote: Option<RemoteId>,
    /// Frames forwarded to this entry's port because their destination was
    /// this entry's MAC, since the entry was made (saturating at `u32::MAX`);
    /// zero when the table keeps no per-entry counters
    /// ([`FdbConfig::entry_stats`]).
    pub hits: u32,
    /// Time since a frame was last forwarded to this entry, in whole seconds
    /// as `bridge -s fdb show` prints it; `None` if none ever was. Counted in
    /// 32 bits: a static entry last used more than 2^32 s (136 years) ago
    /// shows the time modulo that. `None` when the table keeps no per-entry
    /// counters.
    pub used: Option<Duration>,
}

/// Where a dump of the table in slices ([`Fdb::entries_from`]) goes on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdbCursor(u32);

/// An entry as shown to a user, with its counters `c` (zero when the table
/// keeps none), at clock `clock` (low 32 bits of ms) and second `secs` (the
/// clock in whole seconds).
fn user_entry(e: &Entry, c: Counters, clock: u32, secs: u32) -> FdbEntry {
    let is_static = e.flags & F_STATIC != 0;
    let age = if is_static {
        0
    } else {
        clock.wrapping_sub(e.seen)
    };
    FdbEntry {
        vid: key_vid(e.key),
        mac: key_mac(e.key),
        port: PortId(e.port),
        is_static,
        age: Duration::from_millis(u64::from(age)),
        remote: entry_remote(e.flags),
        hits: c.hits,
        used: (c.hits > 0).then(|| Duration::from_secs(u64::from(secs.wrapping_sub(c.used)))),
    }
}

/// What a flush of a port removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushScope {
    /// Dynamic entries only (port down).
    Dynamic,
    /// Dynamic and static entries (port removed).
    All,
}

const NIL: u32 = u32::MAX;
const F_USED: u16 = 1;
const F_STATIC: u16 = 2;
/// The bits of `Entry::flags` above the two flags hold the remote endpoint
/// plus one (zero: none), so that a tunnel's entries cost no extra byte.
const REMOTE_SHIFT: u16 = 2;

/// The flag bits that hold `remote`.
#[inline(always)]
fn remote_bits(remote: Option<RemoteId>) -> u16 {
    match remote {
        // Ids above MAX are clamped rather than allowed to spill into the flags.
        Some(r) => (r.0.min(RemoteId::MAX.0) + 1) << REMOTE_SHIFT,
        None => 0,
    }
}

/// The remote endpoint that `flags` hold.
#[inline(always)]
fn entry_remote(flags: u16) -> Option<RemoteId> {
    match flags >> REMOTE_SHIFT {
        0 => None,
        r => Some(RemoteId(r - 1)),
    }
}

/// How a dynamic entry went, for its event.
#[derive(Clone, Copy)]
enum Gone {
    Aged,
    Evicted,
}

/// One table entry: 16 bytes, four to a cache line and never split over
/// two, which is all a lookup reads.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// MAC in bits 12..60, vid in bits 0..12.
    key: u64,
    /// Low 32 bits of the millisecond clock when last seen.
    seen: u32,
    port: u16,
    /// `F_USED`, `F_STATIC`, and the remote endpoint in the bits above them.
    flags: u16,
}

// Checked when the crate compiles (the tests need no copy of it).
const _: () = assert!(core::mem::size_of::<Entry>() == 16);

/// An arena place's links in its port's LRU list, kept beside the arena:
/// only a refresh that moves the entry, learning and removal touch them.
#[derive(Clone, Copy, Debug)]
struct Links {
    /// Previous entry in the port's LRU list (towards the oldest), or NIL.
    prev: u32,
    /// Next entry in the port's LRU list (towards the newest), or NIL; the
    /// free-list link for an unused place.
    next: u32,
}

const UNLINKED: Links = Links {
    prev: NIL,
    next: NIL,
};

/// The counters of one arena place as a destination, kept beside the arena
/// when [`FdbConfig::entry_stats`] is on.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    /// Frames forwarded to the entry (saturating).
    hits: u32,
    /// The clock in whole seconds when a frame was last forwarded to the
    /// entry; meaningless while `hits` is zero.
    used: u32,
}

/// Per-port bookkeeping of dynamic entries.
#[derive(Clone, Copy, Debug)]
struct PortLru {
    head: u32,
    tail: u32,
    count: u32,
    /// True while the port has a time in the aging heap.
    in_heap: bool,
    /// Position in `Fdb::active`, or NIL.
    active_pos: u32,
}

impl PortLru {
    const EMPTY: PortLru = PortLru {
        head: NIL,
        tail: NIL,
        count: 0,
        in_heap: false,
        active_pos: NIL,
    };
}

/// A port's dynamic entries that a flush has taken out of use but whose
/// memory is not reclaimed yet: a list linked like the LRU lists (oldest
/// first), detached from the port in one step. See [`Fdb::flush_port`].
#[derive(Clone, Copy, Debug)]
struct Doomed {
    head: u32,
    tail: u32,
    count: u32,
    /// Low 32 bits of the clock at the latest flush of the port: every entry
    /// of the list was last seen before it, every live entry of the port at
    /// or after it.
    at: u32,
    /// The clock when the list began (its first flush), in ms.
    since: u64,
}

impl Doomed {
    const EMPTY: Doomed = Doomed {
        head: NIL,
        tail: NIL,
        count: 0,
        at: 0,
        since: 0,
    };
}

/// Doomed entries that [`Fdb::advance`] reclaims at each new millisecond, so
/// that a table nobody reclaims explicitly (the simulator) still frees them.
const RECLAIM_PER_TICK: usize = 64;

/// The MAC learning table. See the module documentation.
#[derive(Clone)]
pub struct Fdb {
    config: FdbConfig,
    aging_ms: u64,
    slots: Vec<u32>,
    /// The bits of a slot that hold the arena index plus one; the others hold
    /// the fingerprint. Set with the index size (`Fdb::resize_index`).
    idx_mask: u32,
    entries: Vec<Entry>,
    /// The LRU links of each arena place, as long as `entries`.
    links: Vec<Links>,
    /// Per-entry counters, by arena place, as long as `entries` when
    /// `config.entry_stats` is on; empty otherwise.
    counters: Vec<Counters>,
    free: u32,
    ports: Vec<PortLru>,
    /// Ports that hold at least one dynamic entry, for eviction.
    active: Vec<u16>,
    aging_heap: BinaryHeap<Reverse<(u64, u16)>>,
    /// Latest time seen, in ms.
    clock: u64,
    /// `clock` in whole seconds (wraps after 136 years), for `Entry::used`.
    secs: u32,
    stats: FdbStats,
    /// Learned, moved, aged and evicted entries, when someone listens.
    pub(crate) events: EventLog,
    /// Flushed entries not yet reclaimed, by port.
    doomed: Vec<Doomed>,
    /// The ports with a non-empty `doomed` list.
    doomed_ports: Vec<u16>,
    /// Entries in all `doomed` lists; zero (the common case) keeps every
    /// lookup from looking at them.
    doomed_total: u32,
}

fn make_key(vid: Vid, mac: MacAddr) -> u64 {
    key(vid, mac.to_u64())
}

/// The largest VLAN id a key holds (12 bits); the public methods refuse larger
/// ones rather than alias them.
const MAX_KEY_VID: Vid = 0x0fff;

/// The table key of (vid, MAC) for a MAC held in the low 48 bits of `mac`.
#[inline(always)]
pub(crate) fn key(vid: Vid, mac: u64) -> u64 {
    (mac << 12) | u64::from(vid & 0x0fff)
}

fn key_vid(key: u64) -> Vid {
    (key & 0x0fff) as Vid
}

fn key_mac(key: u64) -> MacAddr {
    MacAddr::from_u64(key >> 12)
}

impl Fdb {
    /// Makes an empty table.
    pub fn new(config: FdbConfig) -> Result<Fdb, FdbConfigError> {
        if config.capacity > MAX_CAPACITY {
            return Err(FdbConfigError::CapacityTooLarge(config.capacity));
        }
        if config.aging_time > MAX_AGING {
            return Err(FdbConfigError::AgingTooLong(config.aging_time));
        }
        let mut fdb = Fdb {
            entries: Vec::with_capacity(config.capacity as usize),
            links: Vec::with_capacity(config.capacity as usize),
            counters: if config.entry_stats {
                Vec::with_capacity(config.capacity as usize)
            } else {
                Vec::new()
            },
            ..Fdb::bare(config)
        };
        fdb.resize_index(slots_for(config.capacity as usize));
        Ok(fdb)
    }

    /// A table of `config` with nothing in it and nothing allocated, not
    /// even its index: what [`Fdb::new`] and [`Fdb::sample`] start from.
    fn bare(config: FdbConfig) -> Fdb {
        Fdb {
            config,
            aging_ms: config.aging_time.as_millis() as u64,
            slots: Vec::new(),
            idx_mask: 0,
            entries: Vec::new(),
            links: Vec::new(),
            counters: Vec::new(),
            free: NIL,
            ports: Vec::new(),
            active: Vec::new(),
            aging_heap: BinaryHeap::new(),
            clock: 0,
            secs: 0,
            stats: FdbStats::default(),
            events: EventLog::default(),
            doomed: Vec::new(),
            doomed_ports: Vec::new(),
            doomed_total: 0,
        }
    }

    /// The configuration the table was made with.
    pub fn config(&self) -> &FdbConfig {
        &self.config
    }

    /// Totals since the table was made.
    pub fn stats(&self) -> FdbStats {
        self.stats
    }

    /// Number of dynamic entries.
    pub fn len(&self) -> usize {
        self.stats.current as usize
    }

    /// True when the table holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.stats.current == 0 && self.stats.statics == 0
    }

    /// Number of dynamic entries on `port`.
    pub fn port_len(&self, port: PortId) -> usize {
        self.ports
            .get(usize::from(port.0))
            .map_or(0, |p| p.count as usize)
    }

    /// Bytes of memory the table holds (index, arena and per-port state).
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<u32>()
            + self.entries.capacity() * core::mem::size_of::<Entry>()
            + self.links.capacity() * core::mem::size_of::<Links>()
            + self.counters.capacity() * core::mem::size_of::<Counters>()
            + self.ports.capacity() * core::mem::size_of::<PortLru>()
            + self.active.capacity() * 2
            + self.aging_heap.capacity() * core::mem::size_of::<Reverse<(u64, u16)>>()
            + self.doomed.capacity() * core::mem::size_of::<Doomed>()
            + self.doomed_ports.capacity() * 2
    }

    /// The latest time the table has been given.
    pub fn clock(&self) -> Instant {
        Instant::from_millis(self.clock)
    }

    /// Brings the table to time `now`: removes every dynamic entry whose age has
    /// reached the aging time. Every method that takes `now` does this first; call
    /// it from a timer to free memory when no frames arrive. The cost is
    /// proportional to the entries that expire, never a full scan.
    #[inline]
    pub fn advance(&mut self, now: Instant) {
        // Nothing can be due at a time already processed.
        if now.millis() > self.clock {
            self.advance_to(now.millis());
        }
    }

    #[inline(never)]
    fn advance_to(&mut self, now: u64) {
        if self.stats.current > 0 && now - self.clock >= self.aging_ms {
            // Everything dynamic is older than the aging time. Handled apart so
            // that the 32-bit times below never see an age of 2^32 ms or more.
            self.clock = now;
            self.secs = (now / 1000) as u32;
            self.expire_all();
            return;
        }
        self.clock = now;
        self.secs = (now / 1000) as u32;
        while let Some(&Reverse((due, port))) = self.aging_heap.peek() {
            if due > now {
                break;
            }
            self.aging_heap.pop();
            let p = usize::from(port);
            self.ports[p].in_heap = false;
            loop {
                let head = self.ports[p].head;
                if head == NIL {
                    break;
                }
                let age = self.age_ms(head);
                if age >= self.aging_ms {
                    self.record_gone(head, Gone::Aged);
                    self.remove_entry(head);
                    self.stats.expired += 1;
                } else {
                    self.schedule(port, now - age);
                    break;
                }
            }
        }
        if self.doomed_total != 0 {
            self.reclaim_on_tick(now);
        }
    }

    /// The flushed entries' share of a new millisecond: a few of them
    /// reclaimed, and all of a port's once its first flush is an aging time
    /// old (they would all have aged out by now; this keeps every doomed
    /// entry's age below 2^32 ms, which [`Fdb::is_doomed`] relies on).
    fn reclaim_on_tick(&mut self, now: u64) {
        let mut i = 0;
        while let Some(&port) = self.doomed_ports.get(i) {
            if now - self.doomed[usize::from(port)].since >= self.aging_ms {
                self.reclaim_port(port);
                // The port left `doomed_ports`; another took position i.
            } else {
                i += 1;
            }
        }
        self.reclaim(RECLAIM_PER_TICK);
    }

    fn expire_all(&mut self) {
        self.reclaim(usize::MAX);
        while let Some(&port) = self.active.last() {
            let p = usize::from(port);
            while self.ports[p].head != NIL {
                self.record_gone(self.ports[p].head, Gone::Aged);
                self.remove_entry(self.ports[p].head);
                self.stats.expired += 1;
            }
        }
        self.aging_heap.clear();
        for p in self.ports.iter_mut() {
            p.in_heap = false;
        }
    }

    /// Puts `port` in the aging heap, due when its head, seen at `seen`, expires.
    /// A head that would expire after the end of time (`u64::MAX` ms) never
    /// expires, so the port needs no place in the heap.
    fn schedule(&mut self, port: u16, seen: u64) {
        let Some(due) = seen.checked_add(self.aging_ms) else {
            return;
        };
        let p = &mut self.ports[usize::from(port)];
        if !p.in_heap {
            p.in_heap = true;
            self.aging_heap.push(Reverse((due, port)));
        }
    }

    /// Age in ms of a dynamic entry, valid for entries younger than 2^32 ms.
    #[inline]
    fn age_ms(&self, idx: u32) -> u64 {
        u64::from((self.clock as u32).wrapping_sub(self.entries[idx as usize].seen))
    }

    /// Looks up the port for (vid, mac) at time `now`. Entries that have aged
    /// out are never returned.
    pub fn lookup(&mut self, now: Instant, vid: Vid, mac: MacAddr) -> Option<PortId> {
        self.advance(now);
        self.get(vid, mac)
    }

    /// Looks up without advancing time: for a caller that has just called
    /// [`Fdb::advance`] or [`Fdb::learn`] with the same `now`.
    #[inline(always)]
    pub fn get(&self, vid: Vid, mac: MacAddr) -> Option<PortId> {
        if vid > MAX_KEY_VID {
            return None;
        }
        self.get_key(make_key(vid, mac))
    }

    #[inline(always)]
    pub(crate) fn get_key(&self, key: u64) -> Option<PortId> {
        self.find(key)
            .map(|idx| PortId(self.entries[idx as usize].port))
    }

    /// Where a frame to entry `key` goes: the entry's position (for
    /// [`Fdb::count_hit`]), its port and remote endpoint. Without advancing time.
    #[inline(always)]
    pub(crate) fn get_dest(&self, key: u64) -> Option<(u32, PortId, Option<RemoteId>)> {
        self.find(key).map(|idx| {
            let e = &self.entries[idx as usize];
            (idx, PortId(e.port), entry_remote(e.flags))
        })
    }

    /// Counts a frame forwarded to the entry at `idx` (from [`Fdb::get_dest`],
    /// with nothing removed in between): one more hit, used now. Without
    /// per-entry counters the vector is empty and this is a length check.
    #[inline(always)]
    pub(crate) fn count_hit(&mut self, idx: u32) {
        let secs = self.secs;
        if let Some(c) = self.counters.get_mut(idx as usize) {
            c.hits = c.hits.saturating_add(1);
            c.used = secs;
        }
    }

    /// The counters of arena place `idx`: zero without per-entry counters.
    #[inline]
    fn counters_of(&self, idx: usize) -> Counters {
        self.counters.get(idx).copied().unwrap_or_default()
    }

    /// The port and remote endpoint of entry `key`, without advancing time.
    #[inline(always)]
    pub(crate) fn get_key_remote(&self, key: u64) -> Option<(PortId, Option<RemoteId>)> {
        self.find(key).map(|idx| {
            let e = &self.entries[idx as usize];
            (PortId(e.port), entry_remote(e.flags))
        })
    }

    /// The port of (vid, mac) and its remote endpoint behind a tunnel port, if
    /// any, without advancing time.
    pub fn get_remote(&self, vid: Vid, mac: MacAddr) -> Option<(PortId, Option<RemoteId>)> {
        if vid > MAX_KEY_VID {
            return None;
        }
        self.get_key_remote(make_key(vid, mac))
    }

    /// The port of entry `key` and whether it is static, without advancing time.
    #[inline]
    pub(crate) fn get_entry(&self, key: u64) -> Option<(PortId, bool)> {
        self.find(key).map(|idx| {
            let e = &self.entries[idx as usize];
            (PortId(e.port), e.flags & F_STATIC != 0)
        })
    }

    /// Learns that (vid, mac) was seen on `port` at `now`.
    #[inline]
    pub fn learn(&mut self, now: Instant, vid: Vid, mac: MacAddr, port: PortId) -> Learned {
        self.learn_key(now, make_key(vid, mac), port, None)
    }

    /// Learns that (vid, mac) was seen on tunnel port `port`, behind remote
    /// endpoint `remote`, at `now`. A host that moves to another remote of the
    /// same port is a move ([`Learned::Moved`] naming the same port).
    #[inline]
    pub fn learn_from(
        &mut self,
        now: Instant,
        vid: Vid,
        mac: MacAddr,
        port: PortId,
        remote: Option<RemoteId>,
    ) -> Learned {
        self.learn_key(now, make_key(vid, mac), port, remote)
    }

    #[inline(always)]
    pub(crate) fn learn_key(
        &mut self,
        now: Instant,
        key: u64,
        port: PortId,
        remote: Option<RemoteId>,
    ) -> Learned {
        self.advance(now);
        if self.aging_ms == 0 {
            return Learned::Disabled;
        }
        let seen = self.clock as u32;
        let found = self.find_mut(key);
        if let Some(idx) = found {
            // The common case, kept inline: a known host on its known port.
            let e = self.entries[idx as usize];
            if e.port == port.0 && e.flags == F_USED | remote_bits(remote) {
                if e.seen != seen {
                    self.entries[idx as usize].seen = seen;
                    self.move_to_tail(idx, e);
                }
                return Learned::Refreshed;
            }
        }
        self.learn_slow(key, found, port, remote)
    }

    /// Refreshes the dynamic entry `key` if it is on `port`, as [`Fdb::learn`]
    /// would; returns false, changing nothing, if it is not there (absent,
    /// elsewhere, or static). The caller has advanced the table to `now`.
    #[inline(always)]
    pub(crate) fn refresh_if_on(
        &mut self,
        key: u64,
        port: PortId,
        remote: Option<RemoteId>,
    ) -> bool {
        let Some(idx) = self.find(key) else {
            return false;
        };
        let e = self.entries[idx as usize];
        if e.port != port.0 || e.flags != F_USED | remote_bits(remote) {
            return false;
        }
        let seen = self.clock as u32;
        if e.seen != seen {
            self.entries[idx as usize].seen = seen;
            self.move_to_tail(idx, e);
        }
        true
    }

    /// Prefetches the cache lines that looking up each pair's first key and
    /// refreshing its second (a frame's destination and source) will touch, at
    /// most [`PREFETCH_BATCH`] pairs: as in netmap's VALE, one pass per step of
    /// the chain (index slots, then entries with the source's links and the
    /// destination's counters, then the LRU neighbours a refresh rewrites), so
    /// that the misses of the whole batch are in flight at once instead of one
    /// after another. Each pass reads only lines the one before
    /// asked for.
    pub(crate) fn prefetch_batch(&self, pairs: &[(u64, u64)]) {
        let mut hashes = [(0u64, 0u64); PREFETCH_BATCH];
        for (h, &(dst, src)) in hashes.iter_mut().zip(pairs) {
            *h = (self.hash(dst), self.hash(src));
            prefetch(&self.slots[self.home(h.0)]);
            prefetch(&self.slots[self.home(h.1)]);
        }
        let hashes = &hashes[..pairs.len().min(PREFETCH_BATCH)];
        // The sources' places, found by fingerprint alone: a prefetch is a
        // hint, and a wrong place only warms a line for nothing.
        let mut sources = [None; PREFETCH_BATCH];
        for (&(dst, src), place) in hashes.iter().zip(&mut sources) {
            // The destination's counters, when the table keeps them, are
            // written on a line of their own.
            if let Some(c) = self.prefetch_entry(dst).and_then(|i| self.counters.get(i)) {
                prefetch(c);
            }
            *place = self.prefetch_entry(src);
            if let Some(idx) = *place {
                prefetch(&self.links[idx]);
            }
        }
        for &idx in sources[..hashes.len()].iter().flatten() {
            let l = &self.links[idx];
            if let Some(next) = self.links.get(l.next as usize) {
                prefetch(next);
            }
            if let Some(prev) = self.links.get(l.prev as usize) {
                prefetch(prev);
            }
        }
    }

    /// Prefetches the entry the index slot of hash `h` points to, reading the
    /// slot but not the entry, and returns its arena place. The first slot
    /// whose fingerprint matches is almost always the entry.
    #[inline]
    fn prefetch_entry(&self, h: u64) -> Option<usize> {
        let tag = self.fingerprint(h);
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s & !self.idx_mask == tag {
                let idx = ((s & self.idx_mask) - 1) as usize;
                prefetch(&self.entries[idx]);
                return Some(idx);
            }
            i += 1;
            if i == self.slots.len() {
                i = 0;
            }
        }
    }

    /// Learning of a new MAC, a move, or a MAC held by a static entry.
    #[inline(never)]
    fn learn_slow(
        &mut self,
        key: u64,
        found: Option<u32>,
        port: PortId,
        remote: Option<RemoteId>,
    ) -> Learned {
        let seen = self.clock as u32;
        if let Some(idx) = found {
            let e = self.entries[idx as usize];
            if e.flags & F_STATIC != 0 {
                return Learned::Static;
            }
            self.unlink(idx);
            let entry = &mut self.entries[idx as usize];
            entry.port = port.0;
            entry.seen = seen;
            entry.flags = F_USED | remote_bits(remote);
            self.link_tail(idx);
            self.stats.moved += 1;
            self.events.record_with(self.clock(), || Event::Moved {
                vid: key_vid(key),
                mac: key_mac(key),
                from: PortId(e.port),
                to: port,
            });
            return Learned::Moved(PortId(e.port));
        }
        let mut evicted = None;
        if self.stats.current >= u64::from(self.config.capacity) {
            match self.config.policy {
                EvictionPolicy::StopLearning => {
                    self.stats.refused += 1;
                    return Learned::Full;
                }
                EvictionPolicy::FairLru => match self.evict_one() {
                    Some(p) => evicted = Some(p),
                    None => {
                        self.stats.refused += 1;
                        return Learned::Full;
                    }
                },
            }
        }
        let idx = self.insert(Entry {
            key,
            seen,
            port: port.0,
            flags: F_USED | remote_bits(remote),
        });
        self.link_tail(idx);
        self.stats.learned += 1;
        self.events.record_with(self.clock(), || Event::Learned {
            vid: key_vid(key),
            mac: key_mac(key),
            port,
        });
        match evicted {
            Some(p) => Learned::NewEvicting(p),
            None => Learned::New,
        }
    }

    /// Evicts the oldest entry of the fullest port; returns that port.
    fn evict_one(&mut self) -> Option<PortId> {
        let mut best: Option<(u32, u64, u16)> = None; // (count, age, port)
        for &port in &self.active {
            let p = &self.ports[usize::from(port)];
            let age = self.age_ms(p.head);
            let better = match best {
                None => true,
                Some((count, best_age, best_port)) => {
                    (p.count, age, Reverse(port)) > (count, best_age, Reverse(best_port))
                }
            };
            if better {
                best = Some((p.count, age, port));
            }
        }
        let (_, _, port) = best?;
        self.record_gone(self.ports[usize::from(port)].head, Gone::Evicted);
        self.remove_entry(self.ports[usize::from(port)].head);
        self.stats.evicted += 1;
        Some(PortId(port))
    }

    /// Adds or replaces a static entry: it never ages, never moves, and does not
    /// count against the capacity. A dynamic entry for the same key is replaced.
    pub fn add_static(&mut self, vid: Vid, mac: MacAddr, port: PortId) {
        self.add_static_to(vid, mac, port, None);
    }

    /// Adds or replaces a static entry on tunnel port `port` whose frames go
    /// to remote endpoint `remote` (`fdb add MAC vx0 dst IP`), as
    /// [`Fdb::add_static`] does otherwise.
    pub fn add_static_to(
        &mut self,
        vid: Vid,
        mac: MacAddr,
        port: PortId,
        remote: Option<RemoteId>,
    ) {
        let key = make_key(vid, mac);
        if let Some(idx) = self.find_mut(key) {
            if self.entries[idx as usize].flags & F_STATIC == 0 {
                self.unlink(idx);
                self.stats.current -= 1;
                self.stats.statics += 1;
            }
            let e = &mut self.entries[idx as usize];
            e.flags = F_USED | F_STATIC | remote_bits(remote);
            e.port = port.0;
            return;
        }
        self.insert(Entry {
            key,
            seen: 0,
            port: port.0,
            flags: F_USED | F_STATIC | remote_bits(remote),
        });
        self.stats.statics += 1;
    }

    /// Removes the entry for (vid, mac), static or dynamic. Returns whether there
    /// was one.
    pub fn remove(&mut self, vid: Vid, mac: MacAddr) -> bool {
        if vid > MAX_KEY_VID {
            return false; // no such VLAN: must not alias vid & 0xfff
        }
        match self.find_mut(make_key(vid, mac)) {
            Some(idx) => {
                self.remove_entry(idx);
                true
            }
            None => false,
        }
    }

    /// Removes the entries of `port`: dynamic ones (port down) or all (port
    /// removed). Returns how many were removed.
    ///
    /// The dynamic entries go at once in every way that can be seen (no
    /// lookup finds them, the counts leave them out, learning one of them
    /// again makes a new entry), in a time that does not depend on how many
    /// there are: the port's list is set aside whole. Their memory is
    /// reclaimed later, a bounded amount at a time: by [`Fdb::reclaim`], two
    /// per entry learned, and a few at each new millisecond. Static entries
    /// (`FlushScope::All`) are removed at once, by a walk of the whole table
    /// when it holds any.
    pub fn flush_port(&mut self, port: PortId, scope: FlushScope) -> usize {
        let mut n = self.doom_port(port.0);
        if scope == FlushScope::All && self.stats.statics > 0 {
            n += self.remove_where(|e| e.flags & F_STATIC != 0 && e.port == port.0);
        }
        self.stats.flushed += n as u64;
        n
    }

    /// Sets the dynamic entries of `port` aside as flushed: O(1), plus the
    /// entries seen in the current millisecond. Returns how many.
    fn doom_port(&mut self, port: u16) -> usize {
        let Some(&p) = self.ports.get(usize::from(port)) else {
            return 0;
        };
        if p.count == 0 {
            return 0;
        }
        // Entries seen at the flush's own millisecond would look like ones
        // learned after it: they are set a millisecond back (they are gone
        // anyway). The list is in the order of `seen`, so they are its tail.
        let clock = self.clock as u32;
        let mut idx = p.tail;
        while idx != NIL && self.entries[idx as usize].seen == clock {
            self.entries[idx as usize].seen = clock.wrapping_sub(1);
            idx = self.links[idx as usize].prev;
        }
        let p_usize = usize::from(port);
        if self.doomed.len() <= p_usize {
            self.doomed.resize(p_usize + 1, Doomed::EMPTY);
        }
        let d = self.doomed[p_usize];
        if d.count == 0 {
            self.doomed[p_usize] = Doomed {
                head: p.head,
                tail: p.tail,
                count: p.count,
                at: clock,
                since: self.clock,
            };
            self.doomed_ports.push(port);
        } else {
            self.links[d.tail as usize].next = p.head;
            self.links[p.head as usize].prev = d.tail;
            let d = &mut self.doomed[p_usize];
            d.tail = p.tail;
            d.count += p.count;
            d.at = clock;
        }
        self.doomed_total += p.count;
        self.stats.current -= u64::from(p.count);
        let lru = &mut self.ports[p_usize];
        lru.head = NIL;
        lru.tail = NIL;
        lru.count = 0;
        // Its time in the aging heap stays; it finds an empty list.
        self.deactivate(port);
        p.count as usize
    }

    /// True for a dynamic entry that a flush set aside (see
    /// [`Fdb::flush_port`]): one older than its port's latest flush. Live
    /// entries of the port were all seen at or after it; no entry, live or
    /// doomed, is 2^32 ms old (`reclaim_on_tick`). Out of line: lookups
    /// call it only while a flush is being reclaimed.
    #[cold]
    #[inline(never)]
    fn is_doomed(&self, idx: u32) -> bool {
        let e = &self.entries[idx as usize];
        if e.flags & F_STATIC != 0 {
            return false;
        }
        match self.doomed.get(usize::from(e.port)) {
            Some(d) if d.count > 0 => {
                let clock = self.clock as u32;
                clock.wrapping_sub(e.seen) > clock.wrapping_sub(d.at)
            }
            _ => false,
        }
    }

    /// True if the arena place holds an entry a flush took out of use (the
    /// cold check only while a flush is being reclaimed).
    #[inline(always)]
    fn flushed(&self, idx: u32) -> bool {
        self.doomed_total != 0 && self.is_doomed(idx)
    }

    /// True if the arena place holds an entry in use, not flushed.
    #[inline]
    fn live(&self, idx: u32) -> bool {
        self.entries[idx as usize].flags & F_USED != 0 && !self.flushed(idx)
    }

    /// Flushed entries whose memory is not reclaimed yet (they are gone in
    /// every other way).
    pub fn reclaim_pending(&self) -> usize {
        self.doomed_total as usize
    }

    /// Reclaims the memory of at most `max` flushed entries (their index
    /// slots and arena positions); returns how many. Each costs about what
    /// removing an entry does. An adapter calls this in slices, between
    /// batches, while [`Fdb::reclaim_pending`] is not zero.
    pub fn reclaim(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(&port) = self.doomed_ports.last() else {
                break;
            };
            self.reclaim_entry(self.doomed[usize::from(port)].head);
            n += 1;
        }
        n
    }

    /// Reclaims every flushed entry of `port`, which then leaves
    /// `doomed_ports`.
    fn reclaim_port(&mut self, port: u16) {
        while self.doomed[usize::from(port)].count > 0 {
            self.reclaim_entry(self.doomed[usize::from(port)].head);
        }
    }

    /// Takes a doomed entry out of its list, the index and the arena. It was
    /// counted as flushed when it was set aside.
    fn reclaim_entry(&mut self, idx: u32) {
        let Entry { key, port, .. } = self.entries[idx as usize];
        let d = &mut self.doomed[usize::from(port)];
        detach(&mut self.links, idx, &mut d.head, &mut d.tail);
        d.count -= 1;
        if d.count == 0 {
            *d = Doomed::EMPTY;
            if let Some(i) = self.doomed_ports.iter().position(|&p| p == port) {
                self.doomed_ports.swap_remove(i);
            }
        }
        self.doomed_total -= 1;
        self.release(key, idx);
    }

    /// Calls `f` with the remote endpoint of every entry on tunnel port
    /// `port` (once per entry, so an id may come several times). A tunnel
    /// port may give an id no entry holds to another endpoint.
    ///
    /// The cost is the port's dynamic entries, plus a walk of the whole table
    /// when it holds static entries (they are not kept per port).
    pub fn remotes_on(&self, port: PortId, mut f: impl FnMut(RemoteId)) {
        if let Some(p) = self.ports.get(usize::from(port.0)) {
            let mut idx = p.head;
            while idx != NIL {
                let e = &self.entries[idx as usize];
                if let Some(r) = entry_remote(e.flags) {
                    f(r);
                }
                idx = self.links[idx as usize].next;
            }
        }
        if self.stats.statics > 0 {
            for e in &self.entries {
                if e.flags & (F_USED | F_STATIC) == F_USED | F_STATIC && e.port == port.0 {
                    if let Some(r) = entry_remote(e.flags) {
                        f(r);
                    }
                }
            }
        }
    }

    /// Removes every entry (static and dynamic) in VLAN `vid`.
    pub fn flush_vlan(&mut self, vid: Vid) -> usize {
        let n = self.remove_where(|e| key_vid(e.key) == vid);
        self.stats.flushed += n as u64;
        n
    }

    /// Removes every dynamic entry, and static ones too if `scope` is `All`.
    /// Dynamic entries go as in [`Fdb::flush_port`], port by port, in a time
    /// that depends on the ports, not the entries; static ones by a walk of
    /// the whole table.
    pub fn flush_all(&mut self, scope: FlushScope) -> usize {
        let mut n = 0;
        while let Some(&port) = self.active.last() {
            n += self.doom_port(port);
        }
        if scope == FlushScope::All && self.stats.statics > 0 {
            n += self.remove_where(|e| e.flags & F_STATIC != 0);
        }
        self.stats.flushed += n as u64;
        n
    }

    /// Removes the live entries that `pred` picks, by a walk of the arena.
    fn remove_where(&mut self, pred: impl Fn(&Entry) -> bool) -> usize {
        let mut n = 0;
        for idx in 0..self.entries.len() as u32 {
            let e = &self.entries[idx as usize];
            if e.flags & F_USED != 0 && pred(e) && !self.flushed(idx) {
                self.remove_entry(idx);
                n += 1;
            }
        }
        n
    }

    /// The entries in the table at time `now`, in no particular order.
    pub fn entries(&mut self, now: Instant) -> impl Iterator<Item = FdbEntry> + '_ {
        self.advance(now);
        let (clock, secs) = (self.clock as u32, self.secs);
        let this = &*self;
        (0..this.entries.len() as u32)
            .filter(move |&idx| this.live(idx))
            .map(move |idx| {
                let i = idx as usize;
                user_entry(&this.entries[i], this.counters_of(i), clock, secs)
            })
    }

    /// One slice of a dump of the table that can be spread over time, like a
    /// netlink dump: appends to `out` the entries among the next `max`
    /// positions of the entry arena from `cursor` (start with
    /// `FdbCursor::default()`), and returns where to go on, or `None` once the
    /// whole arena has been walked. The cost of a call is bounded by `max`,
    /// whatever the table holds.
    ///
    /// Entries do not move in the arena while they stay in the table, so an
    /// entry present for the whole dump is reported exactly once. An entry
    /// removed and learned again between slices may take another position: it
    /// can then be reported twice or not at all; an entry added during the dump
    /// may or may not be reported.
    ///
    /// ```
    /// use vswitch_core::fdb::{Fdb, FdbConfig, FdbCursor};
    /// use vswitch_core::{Instant, MacAddr, PortId};
    /// let mut fdb = Fdb::new(FdbConfig::default()).unwrap();
    /// for i in 1..=10 {
    ///     fdb.learn(Instant::ZERO, 0, MacAddr([2, 0, 0, 0, 0, i]), PortId(1));
    /// }
    /// let (mut out, mut at) = (Vec::new(), Some(FdbCursor::default()));
    /// while let Some(c) = at {
    ///     at = fdb.entries_from(c, 4, Instant::ZERO, &mut out);
    /// }
    /// assert_eq!(out.len(), 10);
    /// ```
    pub fn entries_from(
        &mut self,
        cursor: FdbCursor,
        max: usize,
        now: Instant,
        out: &mut Vec<FdbEntry>,
    ) -> Option<FdbCursor> {
        self.advance(now);
        let (clock, secs) = (self.clock as u32, self.secs);
        let start = (cursor.0 as usize).min(self.entries.len());
        let end = start.saturating_add(max.max(1)).min(self.entries.len());
        for idx in start..end {
            let e = &self.entries[idx];
            if self.live(idx as u32) {
                out.push(user_entry(e, self.counters_of(idx), clock, secs));
            }
        }
        (end < self.entries.len()).then_some(FdbCursor(end as u32))
    }

    // ---- index ----

    #[inline]
    fn hash(&self, key: u64) -> u64 {
        // A folded multiply (as in wyhash/foldhash): cheap and well mixed; the
        // seed keeps an attacker from choosing MACs that collide. The key is
        // turned first, so that the MAC is in its low bits and the VLAN above
        // them: MACs handed out in sequence (a vendor's, a VM pool's) then
        // differ by a small step, and the top bits of the folded product,
        // which place a key in the index (`home`), spread them evenly at any
        // table size, as Fibonacci hashing does. With the MAC shifted up by
        // the VLAN's 12 bits they did not: at 1,000,000 such MACs a lookup
        // walked about 4 slots and read a second line of the index one time
        // in five (now 1.1 slots, and fewer than one time in a hundred), and
        // those tables ran slower than ones of random MACs, which are placed
        // as well as before.
        // Turning is a bijection: it changes nothing for an attacker.
        let m = u128::from(key.rotate_right(12) ^ self.config.hash_seed)
            * u128::from(0x9e37_79b9_7f4a_7c15u64);
        (m as u64) ^ ((m >> 64) as u64)
    }

    #[inline]
    fn home(&self, h: u64) -> usize {
        (((h >> 32) * self.slots.len() as u64) >> 32) as usize
    }

    /// The fingerprint of hash `h`, in the slot bits above the arena index:
    /// taken from the low half of the hash, which `home` does not use.
    #[inline]
    fn fingerprint(&self, h: u64) -> u32 {
        h as u32 & !self.idx_mask
    }

    /// Makes an empty index of `n` slots; the caller fills it again. The arena
    /// never holds more entries than the index has slots, so the arena index
    /// plus one needs the bits of `n` and the fingerprint gets the rest.
    fn resize_index(&mut self, n: usize) {
        let n = u32::try_from(n).expect("FDB index beyond 2^32 slots");
        self.idx_mask = u32::MAX >> n.leading_zeros();
        self.slots = alloc::vec![0; n as usize];
    }

    /// The live entry of `key`: one a flush took out of use is absent.
    #[inline(always)]
    fn find(&self, key: u64) -> Option<u32> {
        let idx = self.find_hashed(key, self.hash(key))?;
        if self.flushed(idx) {
            return None;
        }
        Some(idx)
    }

    /// [`Fdb::find`] for a caller about to change the entry or make one: a
    /// flushed entry of the key is reclaimed first, so that the key is never
    /// in the index twice.
    #[inline(always)]
    fn find_mut(&mut self, key: u64) -> Option<u32> {
        let idx = self.find_hashed(key, self.hash(key))?;
        if self.flushed(idx) {
            self.reclaim_entry(idx);
            return None;
        }
        Some(idx)
    }

    #[inline(always)]
    fn find_hashed(&self, key: u64, h: u64) -> Option<u32> {
        let tag = self.fingerprint(h);
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if s & !self.idx_mask == tag {
                let idx = (s & self.idx_mask) - 1;
                if self.entries[idx as usize].key == key {
                    return Some(idx);
                }
            }
            i += 1;
            if i == self.slots.len() {
                i = 0;
            }
        }
    }

    /// Puts a new entry in the arena and the index; the key must be absent.
    fn insert(&mut self, entry: Entry) -> u32 {
        if self.doomed_total != 0 {
            // Each new entry reclaims two flushed ones, so that learning
            // after a flush reuses their memory and the arena and the index
            // never grow past what they held before it.
            self.reclaim(2);
        }
        let used = self.stats.current + self.stats.statics + u64::from(self.doomed_total) + 1;
        if used as usize * 3 > self.slots.len() * 2 {
            self.grow_index();
        }
        let idx = if self.free != NIL {
            let idx = self.free;
            self.free = self.links[idx as usize].next;
            self.entries[idx as usize] = entry;
            self.links[idx as usize] = UNLINKED;
            if let Some(c) = self.counters.get_mut(idx as usize) {
                *c = Counters::default();
            }
            idx
        } else {
            self.entries.push(entry);
            self.links.push(UNLINKED);
            if self.config.entry_stats {
                self.counters.push(Counters::default());
            }
            (self.entries.len() - 1) as u32
        };
        if entry.flags & F_STATIC == 0 {
            self.stats.current += 1;
        }
        self.index_insert(entry.key, idx);
        idx
    }

    fn index_insert(&mut self, key: u64, idx: u32) {
        let h = self.hash(key);
        let mut i = self.home(h);
        while self.slots[i] != 0 {
            i += 1;
            if i == self.slots.len() {
                i = 0;
            }
        }
        self.slots[i] = self.fingerprint(h) | (idx + 1);
    }

    fn grow_index(&mut self) {
        self.resize_index((self.slots.len() * 2).max(16));
        for idx in 0..self.entries.len() as u32 {
            let e = self.entries[idx as usize];
            if e.flags & F_USED != 0 {
                self.index_insert(e.key, idx);
            }
        }
    }

    /// Records that the dynamic entry `idx` is about to go, aged or evicted.
    #[inline(always)]
    fn record_gone(&mut self, idx: u32, how: Gone) {
        if !self.events.is_on() {
            return;
        }
        let e = self.entries[idx as usize];
        let (vid, mac, port) = (key_vid(e.key), key_mac(e.key), PortId(e.port));
        let event = match how {
            Gone::Aged => Event::Aged { vid, mac, port },
            Gone::Evicted => Event::Evicted { vid, mac, port },
        };
        self.events.record(self.clock(), event);
    }

    /// Removes an entry from its list (if dynamic), the index and the arena.
    fn remove_entry(&mut self, idx: u32) {
        let e = self.entries[idx as usize];
        if e.flags & F_STATIC == 0 {
            self.unlink(idx);
            self.stats.current -= 1;
        } else {
            self.stats.statics -= 1;
        }
        self.release(e.key, idx);
    }

    /// Takes an entry that is in no list out of the index and gives its
    /// arena place back to the free list.
    #[inline]
    fn release(&mut self, key: u64, idx: u32) {
        self.index_remove(key, idx);
        self.entries[idx as usize].flags = 0;
        self.links[idx as usize].next = self.free;
        self.free = idx;
    }

    /// Backward-shift deletion, so that probing never needs tombstones.
    fn index_remove(&mut self, key: u64, idx: u32) {
        let n = self.slots.len();
        let mut i = self.home(self.hash(key));
        while self.slots[i] & self.idx_mask != idx + 1 {
            i += 1;
            if i == n {
                i = 0;
            }
        }
        let mut j = i;
        loop {
            j += 1;
            if j == n {
                j = 0;
            }
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            let k = self.home(self.hash(self.entries[((s & self.idx_mask) - 1) as usize].key));
            // Move slot j back to i unless its home lies cyclically in (i, j].
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.slots[i] = s;
                i = j;
            }
        }
        self.slots[i] = 0;
    }

    // ---- per-port LRU lists ----

    fn port_mut(&mut self, port: u16) -> &mut PortLru {
        let p = usize::from(port);
        if p >= self.ports.len() {
            self.ports.resize(p + 1, PortLru::EMPTY);
        }
        &mut self.ports[p]
    }

    /// Appends a dynamic entry at its port's tail (newest end).
    #[inline]
    fn link_tail(&mut self, idx: u32) {
        let port = self.entries[idx as usize].port;
        let clock = self.clock;
        let p = self.port_mut(port);
        let old_tail = p.tail;
        p.tail = idx;
        if old_tail == NIL {
            p.head = idx;
        }
        p.count += 1;
        let first = p.count == 1;
        if old_tail != NIL {
            self.links[old_tail as usize].next = idx;
        }
        self.links[idx as usize] = Links {
            prev: old_tail,
            next: NIL,
        };
        if first {
            let pos = self.active.len() as u32;
            self.active.push(port);
            self.ports[usize::from(port)].active_pos = pos;
            self.schedule(port, clock);
        }
    }

    /// Moves a dynamic entry to the newest end of its own port's list.
    #[inline]
    fn move_to_tail(&mut self, idx: u32, e: Entry) {
        let p = &mut self.ports[usize::from(e.port)];
        if p.tail == idx {
            return;
        }
        let old_tail = p.tail;
        p.tail = idx;
        let Links { prev, next } = self.links[idx as usize];
        if p.head == idx {
            p.head = next;
        }
        // idx is not the tail, so it has a next; it may have no prev.
        self.links[next as usize].prev = prev;
        if prev != NIL {
            self.links[prev as usize].next = next;
        }
        self.links[old_tail as usize].next = idx;
        self.links[idx as usize] = Links {
            prev: old_tail,
            next: NIL,
        };
    }

    fn unlink(&mut self, idx: u32) {
        let port = self.entries[idx as usize].port;
        let p = &mut self.ports[usize::from(port)];
        detach(&mut self.links, idx, &mut p.head, &mut p.tail);
        p.count -= 1;
        if p.count == 0 {
            self.deactivate(port);
        }
    }

    /// Takes a port whose list just became empty out of `active`.
    fn deactivate(&mut self, port: u16) {
        let p = &mut self.ports[usize::from(port)];
        let pos = p.active_pos as usize;
        p.active_pos = NIL;
        self.active.swap_remove(pos);
        if let Some(&moved) = self.active.get(pos) {
            self.ports[usize::from(moved)].active_pos = pos as u32;
        }
    }
}

/// Takes arena place `idx` out of the doubly linked list (in `links`) whose
/// ends are `head` and `tail`: a port's LRU list or its doomed list.
#[inline]
fn detach(links: &mut [Links], idx: u32, head: &mut u32, tail: &mut u32) {
    let Links { prev, next } = links[idx as usize];
    if prev != NIL {
        links[prev as usize].next = next;
    }
    if next != NIL {
        links[next as usize].prev = prev;
    }
    if *head == idx {
        *head = next;
    }
    if *tail == idx {
        *tail = prev;
    }
}

/// Asks the CPU to start loading the cache line of `r`, without waiting for it:
/// the loads of a whole batch then overlap instead of following one another.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch is only a hint: it never faults and has no effect the
    // program can observe, whatever the address; this one is even a live reference.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Index size for `entries` entries at a load of at most 2/3.
fn slots_for(entries: usize) -> usize {
    (entries * 3 / 2 + 1).max(16)
}

impl Fdb {
    /// A table with settings `config` holding this table's entries, for a
    /// change of settings at run time: static entries all, dynamic entries
    /// with their ages, taken oldest first, so that when the new table is
    /// smaller its policy chooses what stays as it would have (fair eviction
    /// keeps the most recently seen of the largest port; stop-learning keeps
    /// the oldest). Entries older than a shorter aging time expire at once.
    /// The totals carry on; what did not fit counts as evicted or refused.
    pub fn rebuilt(&mut self, config: FdbConfig, now: Instant) -> Result<Fdb, FdbConfigError> {
        let mut new = Fdb::new(config)?;
        let mut entries: Vec<FdbEntry> = self.entries(now).collect();
        entries.sort_by_key(|e| core::cmp::Reverse(e.age));
        for e in entries {
            if e.is_static {
                new.add_static_to(e.vid, e.mac, e.port, e.remote);
            } else {
                let age = u64::try_from(e.age.as_millis()).unwrap_or(u64::MAX);
                let seen = Instant::from_millis(now.millis().saturating_sub(age));
                new.learn_from(seen, e.vid, e.mac, e.port, e.remote);
            }
            // The counters carry on; `used` in the old table's seconds, which
            // the new one reaches below.
            if let Some(idx) = new.find(make_key(e.vid, e.mac)) {
                if let Some(c) = new.counters.get_mut(idx as usize) {
                    c.hits = e.hits;
                    let used_ago = e.used.map_or(0, |u| u.as_secs());
                    c.used = self.secs.wrapping_sub(used_ago as u32);
                }
            }
        }
        new.advance(now);
        let fresh = new.stats;
        new.stats = FdbStats {
            evicted: self.stats.evicted + fresh.evicted,
            refused: self.stats.refused + fresh.refused,
            expired: self.stats.expired + fresh.expired,
            current: fresh.current,
            statics: fresh.statics,
            ..self.stats
        };
        new.events = core::mem::take(&mut self.events);
        Ok(new)
    }
}

impl Fdb {
    /// A small table that does what this one would do at `now` when the
    /// entries of `keys` (at most a few) are learned or looked up once, for
    /// [`crate::Switch::explain`], which decides a frame on it with the
    /// forwarding code instead of on a copy of the whole table. It holds the
    /// entries that take part: those that age out by `now` and each port's
    /// oldest entry after them (aging and fair eviction), and the entries of
    /// `keys`, in their ports' order; the counts, totals, clock and aging
    /// times are this table's. Its cost is the ports, the keys and the
    /// entries that expire; only a clock an aging time behind `now` (every
    /// entry expires) makes it a copy of the whole table.
    pub(crate) fn sample(&self, now: Instant, keys: &[u64]) -> Fdb {
        let now_ms = now.millis().max(self.clock);
        if self.stats.current > 0 && now_ms - self.clock >= self.aging_ms {
            let mut copy = self.clone();
            copy.events = EventLog::default();
            return copy;
        }
        // Per port, in list order: the entries that expire by `now`, then
        // the first that does not.
        let mut picked: Vec<(u16, u32)> = Vec::new();
        for &port in &self.active {
            let mut idx = self.ports[usize::from(port)].head;
            while idx != NIL {
                picked.push((port, idx));
                if self.age_ms(idx) + (now_ms - self.clock) < self.aging_ms {
                    break;
                }
                idx = self.links[idx as usize].next;
            }
        }
        // The keys' live entries, after those of their port (a list is in
        // the order of `seen`), static ones on no list.
        let mut extra: Vec<u32> = Vec::new();
        for &k in keys {
            if let Some(idx) = self.find(k) {
                let e = &self.entries[idx as usize];
                let listed = e.flags & F_STATIC == 0 && picked.contains(&(e.port, idx));
                if !listed && !extra.contains(&idx) {
                    extra.push(idx);
                }
            }
        }
        extra.sort_by_key(|&idx| Reverse(self.age_ms(idx)));
        let mut s = Fdb {
            entries: Vec::with_capacity(picked.len() + extra.len()),
            links: Vec::with_capacity(picked.len() + extra.len()),
            ports: self.ports.clone(),
            active: self.active.clone(),
            aging_heap: self.aging_heap.clone(),
            clock: self.clock,
            secs: self.secs,
            stats: self.stats,
            ..Fdb::bare(self.config)
        };
        for p in s.ports.iter_mut() {
            p.head = NIL;
            p.tail = NIL;
        }
        let extra = extra
            .iter()
            .map(|&idx| (self.entries[idx as usize].port, idx));
        for (port, idx) in picked.into_iter().chain(extra) {
            let e = self.entries[idx as usize];
            let at = s.entries.len() as u32;
            let mut links = UNLINKED;
            if e.flags & F_STATIC == 0 {
                let p = &mut s.ports[usize::from(port)];
                links.prev = p.tail;
                if p.tail == NIL {
                    p.head = at;
                } else {
                    s.links[p.tail as usize].next = at;
                }
                p.tail = at;
            }
            s.entries.push(e);
            s.links.push(links);
            if self.config.entry_stats {
                s.counters.push(self.counters_of(idx as usize));
            }
        }
        s.resize_index(slots_for(s.entries.len()));
        for idx in 0..s.entries.len() as u32 {
            s.index_insert(s.entries[idx as usize].key, idx);
        }
        s
    }
}

impl fmt::Debug for Fdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fdb")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn mac(n: u32) -> MacAddr {
        let b = n.to_be_bytes();
        MacAddr([2, 0, b[0], b[1], b[2], b[3]])
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn fdb(capacity: u32, policy: EvictionPolicy) -> Fdb {
        Fdb::new(FdbConfig {
            capacity,
            policy,
            ..FdbConfig::default()
        })
        .unwrap()
    }

    /// A dump in slices sees every entry once when nothing changes, and every
    /// entry that stays in the table exactly once while others come and go.
    #[test]
    fn dump_in_slices() {
        let mut f = fdb(1000, EvictionPolicy::FairLru);
        for n in 0..600 {
            f.learn(t(0), 0, mac(n), PortId((n % 3) as u16));
        }
        f.add_static(5, mac(9999), PortId(7));
        let whole: alloc::collections::BTreeSet<_> =
            f.entries(t(1)).map(|e| (e.vid, e.mac, e.port)).collect();
        fn dump(f: &mut Fdb, between: &mut dyn FnMut(&mut Fdb, u32)) -> Vec<FdbEntry> {
            let (mut out, mut at, mut turn) = (Vec::new(), Some(FdbCursor::default()), 0);
            while let Some(c) = at {
                at = f.entries_from(c, 7, t(1), &mut out);
                between(f, turn);
                turn += 1;
            }
            out
        }
        let out = dump(&mut f, &mut |_, _| {});
        assert_eq!(out.len(), whole.len());
        let seen: alloc::collections::BTreeSet<_> =
            out.iter().map(|e| (e.vid, e.mac, e.port)).collect();
        assert_eq!(seen, whole);
        assert!(out.iter().any(|e| e.is_static && e.vid == 5));
        // Churn during the dump: even MACs below 300 leave and come back; new
        // MACs arrive. Every other entry is reported exactly once.
        let out = dump(&mut f, &mut |f, turn| {
            let n = (turn * 2) % 300;
            f.remove(0, mac(n));
            f.learn(t(1), 0, mac(n), PortId(1));
            f.learn(t(1), 0, mac(10_000 + turn), PortId(2));
        });
        for n in (1..600).filter(|n| n % 2 == 1 || *n >= 300) {
            let times = out.iter().filter(|e| e.mac == mac(n)).count();
            assert_eq!(times, 1, "entry {n} reported {times} times");
        }
        // A cursor past the end (the arena never shrinks, but be safe) ends it.
        let mut none = Vec::new();
        assert_eq!(
            f.entries_from(FdbCursor(u32::MAX), 5, t(1), &mut none),
            None
        );
        assert!(none.is_empty());
    }

    /// An entry behind a tunnel keeps its remote endpoint through refreshes,
    /// moves between remotes (counted as moves), statics, rebuilds and the
    /// widest id, at no cost in memory.
    #[test]
    fn entries_keep_their_remote_endpoint() {
        let mut f = fdb(100, EvictionPolicy::FairLru);
        let (r1, r2) = (Some(RemoteId(1)), Some(RemoteId::MAX));
        assert_eq!(f.learn_from(t(0), 7, mac(1), PortId(2), r1), Learned::New);
        assert_eq!(f.get_remote(7, mac(1)), Some((PortId(2), r1)));
        assert_eq!(
            f.learn_from(t(1), 7, mac(1), PortId(2), r1),
            Learned::Refreshed
        );
        // The host now answers from another machine behind the same port.
        assert_eq!(
            f.learn_from(t(2), 7, mac(1), PortId(2), r2),
            Learned::Moved(PortId(2))
        );
        assert_eq!(f.get_remote(7, mac(1)), Some((PortId(2), r2)));
        assert_eq!(f.stats().moved, 1);
        // ... and then from a local port: the remote goes with the move.
        assert_eq!(
            f.learn(t(3), 7, mac(1), PortId(0)),
            Learned::Moved(PortId(2))
        );
        assert_eq!(f.get_remote(7, mac(1)), Some((PortId(0), None)));
        // An id above MAX is clamped, never spilling into the flags.
        f.learn_from(t(3), 7, mac(2), PortId(2), Some(RemoteId(u16::MAX)));
        assert_eq!(f.get_remote(7, mac(2)), Some((PortId(2), r2)));
        f.add_static_to(7, mac(3), PortId(2), Some(RemoteId(0)));
        let e = f.entries(t(3)).find(|e| e.mac == mac(3)).unwrap();
        assert!(e.is_static);
        assert_eq!((e.port, e.remote), (PortId(2), Some(RemoteId(0))));
        // A static entry is not learned over, whatever the remote.
        assert_eq!(
            f.learn_from(t(4), 7, mac(3), PortId(2), r1),
            Learned::Static
        );
        // A rebuild keeps remotes; the age still counts.
        let g = f.rebuilt(FdbConfig::default(), t(5)).unwrap();
        assert_eq!(g.get_remote(7, mac(2)), Some((PortId(2), r2)));
        assert_eq!(
            g.get_remote(7, mac(3)),
            Some((PortId(2), Some(RemoteId(0))))
        );
    }

    /// `remotes_on` names the remotes of a port's entries, dynamic and
    /// static, and no longer one whose entries are gone.
    #[test]
    fn remotes_in_use_follow_the_entries() {
        let mut f = fdb(100, EvictionPolicy::FairLru);
        let on = |f: &Fdb, port: u16| {
            let mut v = Vec::new();
            f.remotes_on(PortId(port), |r| v.push(r.0));
            v.sort_unstable();
            v
        };
        f.learn_from(t(0), 0, mac(1), PortId(2), Some(RemoteId(3)));
        f.learn_from(t(0), 0, mac(2), PortId(2), Some(RemoteId(5)));
        f.learn_from(t(0), 0, mac(3), PortId(1), Some(RemoteId(7)));
        f.learn(t(0), 0, mac(4), PortId(2));
        assert_eq!(on(&f, 2), [3, 5]);
        f.add_static_to(0, mac(9), PortId(2), Some(RemoteId(8)));
        f.add_static_to(0, mac(10), PortId(1), Some(RemoteId(4)));
        assert_eq!(on(&f, 2), [3, 5, 8]);
        assert_eq!(on(&f, 1), [4, 7]);
        // The host behind remote 3 moves to remote 5; the static goes.
        f.learn_from(t(1), 0, mac(1), PortId(2), Some(RemoteId(5)));
        assert!(f.remove(0, mac(9)));
        assert_eq!(on(&f, 2), [5, 5]);
        // Aged out: nothing left but the other port's static.
        f.advance(t(24 * 3600 * 1000));
        assert!(on(&f, 2).is_empty());
        assert_eq!(on(&f, 1), [4]);
        assert!(on(&f, 40).is_empty());
    }

    /// Remotes cost nothing: a table full of tunnel entries takes the same
    /// memory per entry as one without: 30 bytes, 16 of them the entry, 8
    /// its LRU links and 6 its share of the index.
    #[test]
    fn remote_endpoints_fit_the_memory_budget() {
        let mut plain = fdb(8192, EvictionPolicy::FairLru);
        let mut tunnel = fdb(8192, EvictionPolicy::FairLru);
        for n in 0..8192 {
            plain.learn(t(0), 0, mac(n), PortId(1));
            let r = Some(RemoteId((n % 1000) as u16));
            tunnel.learn_from(t(0), 0, mac(n), PortId(1), r);
        }
        assert_eq!(tunnel.len(), 8192);
        assert_eq!(plain.memory_bytes(), tunnel.memory_bytes());
        assert!(tunnel.memory_bytes() / tunnel.len() <= 32);
    }

    /// An entry counts the frames forwarded to it and when the last one was,
    /// in whole seconds; the counters stay with the entry through a refresh,
    /// a move, a change to static and a rebuild, and start again for a new
    /// entry in the same place of the arena.
    #[test]
    fn entries_count_their_hits() {
        let with_stats = FdbConfig {
            capacity: 16,
            entry_stats: true,
            ..FdbConfig::default()
        };
        let mut f = Fdb::new(with_stats).unwrap();
        let row = |f: &mut Fdb, n: u32, at: u64| {
            let e = f.entries(t(at)).find(|e| e.mac == mac(n)).unwrap();
            (e.hits, e.used)
        };
        f.learn(t(0), 0, mac(1), PortId(1));
        f.learn(t(0), 0, mac(2), PortId(1));
        assert_eq!(row(&mut f, 1, 0), (0, None), "never a destination yet");
        let hit = |f: &mut Fdb, n: u32, at: u64| {
            f.advance(t(at));
            let (idx, port, _) = f.get_dest(make_key(0, mac(n))).unwrap();
            assert_eq!(port, f.get(0, mac(n)).unwrap());
            f.count_hit(idx);
        };
        hit(&mut f, 1, 1_500);
        hit(&mut f, 1, 2_000);
        hit(&mut f, 1, 2_999);
        assert_eq!(row(&mut f, 1, 2_999), (3, Some(Duration::ZERO)));
        assert_eq!(row(&mut f, 1, 7_400), (3, Some(Duration::from_secs(5))));
        assert_eq!(row(&mut f, 2, 7_400), (0, None), "only mac 1 was used");
        // A refresh and a move keep them: the MAC is the same host.
        f.learn(t(8_000), 0, mac(1), PortId(1));
        assert_eq!(
            f.learn(t(8_000), 0, mac(1), PortId(3)),
            Learned::Moved(PortId(1))
        );
        assert_eq!(row(&mut f, 1, 9_000), (3, Some(Duration::from_secs(7))));
        f.add_static(0, mac(1), PortId(4));
        hit(&mut f, 1, 10_000);
        assert_eq!(row(&mut f, 1, 10_000), (4, Some(Duration::ZERO)));
        // The count saturates rather than wrapping.
        let (idx, _, _) = f.get_dest(make_key(0, mac(2))).unwrap();
        f.counters[idx as usize].hits = u32::MAX;
        f.count_hit(idx);
        assert_eq!(row(&mut f, 2, 10_000).0, u32::MAX);
        // A rebuild carries them over, `used` still counted from the old clock.
        let mut g = f.rebuilt(with_stats, t(12_000)).unwrap();
        assert_eq!(row(&mut g, 1, 12_000), (4, Some(Duration::from_secs(2))));
        assert_eq!(row(&mut g, 2, 12_000).0, u32::MAX);
        // A removed entry's place in the arena is taken by a new one at zero.
        assert!(f.remove(0, mac(2)));
        f.learn(t(12_000), 0, mac(3), PortId(1));
        assert_eq!(row(&mut f, 3, 12_000), (0, None));
    }

    /// The fingerprint takes every slot bit the arena index does not need.
    #[test]
    fn fingerprint_width_follows_index_size() {
        let bits = |f: &Fdb| f.idx_mask.count_zeros();
        let f = fdb(8192, EvictionPolicy::FairLru);
        assert_eq!((f.slots.len(), bits(&f)), (12_289, 18));
        let mut f = fdb(1_000_000, EvictionPolicy::FairLru);
        assert_eq!(bits(&f), 11);
        // The index doubles under statics (which the capacity does not bound):
        // one bit less, and every entry still found.
        let mut small = fdb(16, EvictionPolicy::FairLru);
        let before = bits(&small);
        for n in 0..40 {
            small.add_static(0, mac(n), PortId(1));
        }
        assert_eq!(bits(&small), before - 2);
        assert!((0..40).all(|n| small.get(0, mac(n)) == Some(PortId(1))));
        assert_eq!(f.lookup(t(0), 0, mac(1)), None);
    }

    /// MACs handed out in sequence, on any VLAN and with any seed, sit nearer
    /// their home slots than random keys would (see [`Fdb::hash`]), so that
    /// the index's probes stay short in tables of such MACs.
    #[test]
    fn macs_in_sequence_sit_near_their_home_slots() {
        // Random keys sit about one slot past home at this load, and so did
        // these before the key was turned (0.9 a MAC here; 3.2 at a million,
        // where the fold's structure shows); now 0.1 to 0.25. Half of what
        // random keys would do is the bound.
        const N: u32 = 300_000;
        for (seed, vid) in [
            (FdbConfig::default().hash_seed, 0),
            (0x0123_4567_89ab_cdef, 100),
            (u64::MAX, 4094),
        ] {
            let mut f = Fdb::new(FdbConfig {
                capacity: N,
                hash_seed: seed,
                ..FdbConfig::default()
            })
            .unwrap();
            for i in 0..N {
                let mac = MacAddr::from_u64(0x5254_0000_0000 + u64::from(i));
                f.learn(t(0), vid, mac, PortId((i % 4) as u16));
            }
            // How far past its home each entry sits, summed.
            let n = f.slots.len();
            let displaced: usize = (0..n)
                .filter(|&i| f.slots[i] != 0)
                .map(|i| {
                    let key = f.entries[((f.slots[i] & f.idx_mask) - 1) as usize].key;
                    (i + n - f.home(f.hash(key))) % n
                })
                .sum();
            assert!(
                displaced < N as usize / 2,
                "seed {seed:#x}, vid {vid}: {displaced} slots past home for {N} MACs"
            );
        }
    }

    /// Without per-entry counters (the default) nothing is counted, no
    /// memory is held for them, and a rebuild can turn them on or off.
    #[test]
    fn entry_counters_only_when_asked_for() {
        let mut f = fdb(16, EvictionPolicy::FairLru);
        assert!(!f.config().entry_stats);
        f.learn(t(0), 0, mac(1), PortId(1));
        let (idx, _, _) = f.get_dest(make_key(0, mac(1))).unwrap();
        f.count_hit(idx);
        let e = f.entries(t(0)).next().unwrap();
        assert_eq!((e.hits, e.used), (0, None));
        assert_eq!(f.counters.capacity(), 0);
        let on = FdbConfig {
            capacity: 16,
            entry_stats: true,
            ..FdbConfig::default()
        };
        let mut g = f.rebuilt(on, t(1_000)).unwrap();
        assert!(g.config().entry_stats);
        let (idx, _, _) = g.get_dest(make_key(0, mac(1))).unwrap();
        g.count_hit(idx);
        let e = g.entries(t(1_000)).next().unwrap();
        assert_eq!((e.hits, e.used), (1, Some(Duration::ZERO)));
        assert!(g.memory_bytes() >= f.memory_bytes() + 16 * 8);
        let mut h = g.rebuilt(FdbConfig::default(), t(2_000)).unwrap();
        let e = h.entries(t(2_000)).next().unwrap();
        assert_eq!((e.hits, e.used, e.port), (0, None, PortId(1)));
    }

    #[test]
    fn learn_lookup_refresh_move() {
        let mut f = fdb(16, EvictionPolicy::FairLru);
        assert_eq!(f.learn(t(0), 0, mac(1), PortId(1)), Learned::New);
        assert_eq!(f.learn(t(5), 0, mac(1), PortId(1)), Learned::Refreshed);
        assert_eq!(f.lookup(t(5), 0, mac(1)), Some(PortId(1)));
        assert_eq!(
            f.lookup(t(5), 7, mac(1)),
            None,
            "another VLAN is another table"
        );
        assert_eq!(
            f.learn(t(6), 0, mac(1), PortId(2)),
            Learned::Moved(PortId(1))
        );
        assert_eq!(f.lookup(t(6), 0, mac(1)), Some(PortId(2)));
        let s = f.stats();
        assert_eq!((s.learned, s.moved, s.current), (1, 1, 1));
        assert_eq!((f.port_len(PortId(1)), f.port_len(PortId(2))), (0, 1));
    }

    #[test]
    fn aging_is_exact_and_counted() {
        let mut f = fdb(16, EvictionPolicy::FairLru);
        f.learn(t(1000), 0, mac(1), PortId(1));
        f.learn(t(2000), 0, mac(2), PortId(1));
        assert_eq!(f.lookup(t(300_999), 0, mac(1)), Some(PortId(1)));
        assert_eq!(f.lookup(t(301_000), 0, mac(1)), None);
        assert_eq!(f.stats().expired, 1);
        assert_eq!(f.lookup(t(301_000), 0, mac(2)), Some(PortId(1)));
        // A refresh keeps an entry alive.
        f.learn(t(301_500), 0, mac(2), PortId(1));
        assert_eq!(f.lookup(t(601_499), 0, mac(2)), Some(PortId(1)));
        assert_eq!(f.lookup(t(601_500), 0, mac(2)), None);
        assert_eq!(f.stats().expired, 2);
        assert_eq!(f.stats().current, 0);
    }

    #[test]
    fn long_silence_expires_everything_without_wrapping() {
        let mut f = fdb(16, EvictionPolicy::FairLru);
        f.learn(t(0), 0, mac(1), PortId(1));
        // 2^32 ms later the 32-bit age would wrap to zero.
        assert_eq!(f.lookup(t(1 << 32), 0, mac(1)), None);
        assert_eq!(f.stats().expired, 1);
    }

    #[test]
    fn time_going_backwards_is_ignored() {
        let mut f = fdb(16, EvictionPolicy::FairLru);
        f.learn(t(10_000), 0, mac(1), PortId(1));
        assert_eq!(f.lookup(t(0), 0, mac(1)), Some(PortId(1)));
        assert_eq!(f.clock(), t(10_000));
    }

    #[test]
    fn zero_aging_learns_nothing() {
        let mut f = Fdb::new(FdbConfig {
            aging_time: Duration::ZERO,
            ..FdbConfig::default()
        })
        .unwrap();
        assert_eq!(f.learn(t(0), 0, mac(1), PortId(1)), Learned::Disabled);
        assert_eq!(f.lookup(t(0), 0, mac(1)), None);
        f.add_static(0, mac(2), PortId(2));
        assert_eq!(f.lookup(t(0), 0, mac(2)), Some(PortId(2)));
    }

    #[test]
    fn fair_eviction_takes_the_fullest_ports_oldest() {
        let mut f = fdb(4, EvictionPolicy::FairLru);
        f.learn(t(0), 0, mac(1), PortId(1)); // the host, oldest of all
        f.learn(t(1), 0, mac(10), PortId(2));
        f.learn(t(2), 0, mac(11), PortId(2));
        f.learn(t(3), 0, mac(12), PortId(2));
        assert_eq!(
            f.learn(t(4), 0, mac(13), PortId(2)),
            Learned::NewEvicting(PortId(2))
        );
        assert_eq!(f.lookup(t(4), 0, mac(10)), None, "port 2's oldest went");
        assert_eq!(f.lookup(t(4), 0, mac(1)), Some(PortId(1)), "the host stays");
        // A refresh makes mac 11 the newest, so 12 goes next.
        f.learn(t(5), 0, mac(11), PortId(2));
        f.learn(t(6), 0, mac(14), PortId(2));
        assert_eq!(f.lookup(t(6), 0, mac(12)), None);
        assert_eq!(f.lookup(t(6), 0, mac(11)), Some(PortId(2)));
        assert_eq!(f.stats().evicted, 2);
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn eviction_tie_prefers_older_head_then_lower_port() {
        let mut f = fdb(4, EvictionPolicy::FairLru);
        f.learn(t(5), 0, mac(1), PortId(3));
        f.learn(t(1), 0, mac(2), PortId(4)); // time clamps to 5
        f.learn(t(6), 0, mac(3), PortId(3));
        f.learn(t(7), 0, mac(4), PortId(4));
        // Both ports hold 2; their oldest were both seen at 5: port 3 loses.
        assert_eq!(
            f.learn(t(8), 0, mac(5), PortId(9)),
            Learned::NewEvicting(PortId(3))
        );
        assert_eq!(f.lookup(t(8), 0, mac(1)), None);
        // Now port 4 holds 2, the others 1.
        assert_eq!(
            f.learn(t(9), 0, mac(6), PortId(9)),
            Learned::NewEvicting(PortId(4))
        );
        assert_eq!(f.lookup(t(9), 0, mac(2)), None);
    }

    #[test]
    fn stop_learning_refuses() {
        let mut f = fdb(2, EvictionPolicy::StopLearning);
        f.learn(t(0), 0, mac(1), PortId(1));
        f.learn(t(0), 0, mac(2), PortId(1));
        assert_eq!(f.learn(t(0), 0, mac(3), PortId(1)), Learned::Full);
        assert_eq!(f.lookup(t(0), 0, mac(3)), None);
        // Moves and refreshes still work when full.
        assert_eq!(
            f.learn(t(1), 0, mac(1), PortId(2)),
            Learned::Moved(PortId(1))
        );
        assert_eq!(f.stats().refused, 1);
    }

    #[test]
    fn statics_never_move_age_or_count() {
        let mut f = fdb(1, EvictionPolicy::StopLearning);
        f.add_static(0, mac(1), PortId(1));
        assert_eq!(f.learn(t(0), 0, mac(1), PortId(2)), Learned::Static);
        assert_eq!(
            f.learn(t(0), 0, mac(2), PortId(2)),
            Learned::New,
            "statics do not fill the table"
        );
        assert_eq!(f.lookup(t(10_000_000), 0, mac(1)), Some(PortId(1)));
        assert_eq!(f.stats().statics, 1);
        // A static entry replaces a dynamic one for the same key.
        f.add_static(0, mac(2), PortId(5));
        assert_eq!(f.lookup(t(10_000_000), 0, mac(2)), Some(PortId(5)));
        assert_eq!((f.stats().current, f.stats().statics), (0, 2));
        assert!(f.remove(0, mac(1)));
        assert!(!f.remove(0, mac(1)));
    }

    #[test]
    fn vids_above_12_bits_do_not_alias() {
        let mut f = fdb(16, EvictionPolicy::FairLru);
        f.learn(t(0), 10, mac(1), PortId(1));
        // 4106 & 0xfff == 10: it must not find or remove VLAN 10's entry.
        assert_eq!(f.lookup(t(0), 4106, mac(1)), None);
        assert!(!f.remove(4106, mac(1)));
        assert_eq!(f.lookup(t(0), 10, mac(1)), Some(PortId(1)));
    }

    #[test]
    fn flushes() {
        let mut f = fdb(64, EvictionPolicy::FairLru);
        for i in 0..10 {
            f.learn(t(0), (i % 2) as Vid, mac(i), PortId((i % 3) as u16));
        }
        f.add_static(0, mac(100), PortId(0));
        let on_port0 = f.port_len(PortId(0));
        assert_eq!(f.flush_port(PortId(0), FlushScope::Dynamic), on_port0);
        assert_eq!(
            f.lookup(t(0), 0, mac(100)),
            Some(PortId(0)),
            "static survives port down"
        );
        assert_eq!(f.flush_port(PortId(0), FlushScope::All), 1);
        let vlan1 = f.entries(t(0)).filter(|e| e.vid == 1).count();
        assert_eq!(f.flush_vlan(1), vlan1);
        assert!(f.entries(t(0)).all(|e| e.vid == 0));
        f.add_static(0, mac(101), PortId(1));
        f.flush_all(FlushScope::Dynamic);
        assert_eq!(f.entries(t(0)).count(), 1);
        f.flush_all(FlushScope::All);
        assert!(f.is_empty());
    }

    #[test]
    fn a_flush_takes_effect_at_once_and_its_memory_comes_back_in_slices() {
        let mut f = fdb(10_000, EvictionPolicy::FairLru);
        for i in 0..3000u32 {
            f.learn(t(u64::from(i / 100)), 0, mac(i), PortId((i % 3) as u16));
        }
        let (arena, slots) = (f.entries.len(), f.slots.len());
        let n = f.port_len(PortId(1));
        // Learned in the flush's own millisecond too: still flushed.
        f.learn(t(29), 0, mac(5000), PortId(1));
        assert_eq!(f.flush_port(PortId(1), FlushScope::Dynamic), n + 1);
        assert_eq!(f.reclaim_pending(), n + 1);
        assert_eq!((f.port_len(PortId(1)), f.len()), (0, 2000));
        assert_eq!(
            f.get(0, mac(1)),
            None,
            "a flushed entry is never a destination"
        );
        assert_eq!(f.get(0, mac(5000)), None);
        assert_eq!(f.get(0, mac(2)), Some(PortId(2)));
        assert_eq!(f.entries(t(29)).count(), 2000);
        // Learned again, in the same millisecond, on its port or another:
        // new entries, live; the rest stays flushed.
        assert_eq!(f.learn(t(29), 0, mac(1), PortId(1)), Learned::New);
        assert_eq!(f.learn(t(29), 0, mac(4), PortId(0)), Learned::New);
        assert_eq!(f.get(0, mac(1)), Some(PortId(1)));
        assert_eq!(f.get(0, mac(4)), Some(PortId(0)));
        assert_eq!(f.get(0, mac(7)), None);
        assert!(
            !f.remove(0, mac(7)),
            "a flushed entry is not there to remove"
        );
        // A second flush before the first is reclaimed takes the new ones too.
        assert_eq!(f.flush_port(PortId(1), FlushScope::Dynamic), 1);
        assert_eq!(f.get(0, mac(1)), None);
        assert_eq!(f.stats().flushed, n as u64 + 2);
        // Reclaimed in slices; nothing grew.
        while f.reclaim(100) > 0 {}
        assert_eq!(f.reclaim_pending(), 0);
        assert_eq!((f.entries.len(), f.slots.len()), (arena + 1, slots));
        assert_eq!(f.entries(t(29)).count(), f.len());
        for e in f.entries(t(29)).collect::<Vec<_>>() {
            assert_eq!(f.get(e.vid, e.mac), Some(e.port));
        }
    }

    #[test]
    fn learning_after_a_flush_reuses_its_memory() {
        let mut f = fdb(1000, EvictionPolicy::FairLru);
        for i in 0..1000u32 {
            f.learn(t(1), 0, mac(i), PortId(0));
        }
        let (arena, slots) = (f.entries.len(), f.slots.len());
        assert_eq!(f.flush_all(FlushScope::Dynamic), 1000);
        for i in 1000..2000u32 {
            assert_eq!(f.learn(t(2), 0, mac(i), PortId(1)), Learned::New);
        }
        assert_eq!(f.reclaim_pending(), 0);
        assert_eq!((f.entries.len(), f.slots.len()), (arena, slots));
        assert_eq!(f.stats().evicted, 0);
    }

    #[test]
    fn flushed_entries_never_age_and_are_reclaimed_with_time() {
        let mut f = fdb(100, EvictionPolicy::FairLru);
        f.events.set_capacity(64);
        for i in 0..10u32 {
            f.learn(t(0), 0, mac(i), PortId(0));
        }
        f.flush_port(PortId(0), FlushScope::Dynamic);
        // Each new millisecond reclaims some; a long silence all.
        f.advance(t(1));
        assert!(f.reclaim_pending() < 10);
        f.learn(t(2), 0, mac(1), PortId(0));
        f.advance(t(400_000));
        assert_eq!(f.reclaim_pending(), 0);
        let mut aged = 0;
        f.events
            .drain(|r| aged += usize::from(matches!(r.event, Event::Aged { .. })));
        assert_eq!(aged, 1, "only the entry learned after the flush ages");
        assert_eq!(f.stats().expired, 1);
    }

    #[test]
    fn a_flush_pending_an_aging_time_is_reclaimed_whole() {
        // The longest aging time: a port flushed twice, half of it apart,
        // its first flush not reclaimed yet, tells old entries from new ones.
        let mut f = Fdb::new(FdbConfig {
            capacity: 1000,
            aging_time: MAX_AGING,
            ..FdbConfig::default()
        })
        .unwrap();
        let half = 1u64 << 30;
        for i in 0..200u32 {
            f.learn(t(u64::from(i) * (half / 200)), 0, mac(i), PortId(0));
        }
        f.flush_port(PortId(0), FlushScope::Dynamic);
        f.learn(t(2 * half), 0, mac(300), PortId(0));
        f.flush_port(PortId(0), FlushScope::Dynamic);
        f.learn(t(2 * half + 1), 0, mac(301), PortId(0));
        assert!(f.reclaim_pending() > 0, "still pending");
        for m in (0..200).chain([300]) {
            assert_eq!(f.get(0, mac(m)), None, "mac {m}");
        }
        assert_eq!(f.get(0, mac(301)), Some(PortId(0)));
        // An aging time after the first flush, the rest goes at once.
        f.advance(t(half + (1 << 31)));
        assert_eq!(f.reclaim_pending(), 0);
        assert_eq!(f.get(0, mac(301)), Some(PortId(0)));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn many_entries_index_stays_consistent() {
        let mut f = fdb(5000, EvictionPolicy::FairLru);
        for i in 0..20_000u32 {
            f.learn(t(u64::from(i)), 0, mac(i), PortId((i % 7) as u16));
            if i % 3 == 0 {
                f.remove(0, mac(i / 2));
            }
        }
        assert!(f.len() <= 5000);
        let entries: Vec<FdbEntry> = f.entries(t(20_000)).collect();
        assert_eq!(entries.len(), f.len());
        for e in entries {
            assert_eq!(f.get(e.vid, e.mac), Some(e.port));
        }
    }
}
