//! Virtual wires: full-duplex links with a latency, a bandwidth and a bounded
//! transmit queue per direction.
//!
//! A frame put on a wire at `t` starts when the direction's earlier frames have
//! been sent, takes `(len + 24) * 8 / bandwidth` to serialise (preamble, FCS and
//! inter-frame gap included) and arrives `latency` after its last bit left. When
//! `queue` frames are already waiting, the frame is dropped, as a full NIC ring
//! would. Bandwidth 0 means infinitely fast: no serialisation, no queue.

use std::collections::VecDeque;

/// Bytes on the wire besides the frame itself: preamble and SFD (8), FCS (4), gap (12).
pub const OVERHEAD_BYTES: u64 = 24;

/// What is plugged into one end of a wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Port `port` of switch number `switch`.
    Port {
        /// Switch index.
        switch: u32,
        /// Port number.
        port: u16,
    },
    /// Host number `n`.
    Host(u32),
    /// Generator number `n`.
    Generator(u32),
    /// The underlay side of tunnel port number `n`: its underlay IP address.
    Tunnel(u32),
    /// The simulated underlay network, which delivers each packet to the
    /// tunnel whose address it is for.
    Underlay,
}

/// One wire.
///
/// Laid out for floods (`repr(C)`, one 64-byte line): everything sending a
/// frame reads or writes (bandwidth, latency, finish times, counts, queue
/// bound, generation) is in the line, and what a send seldom needs (the
/// ends, the backlog of a busy direction, drops) is in a [`WireCold`] of its
/// own. A flood in a big network sends one frame on each of thousands of
/// wires that have left the CPU's caches since the last one; in one dense
/// line each, the wires of 10,000 hosts take 640 KB of cache rather than
/// twice that, and whoever sends knows the far end without reading it here
/// (the simulator keeps it with the switch port).
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub struct Wire {
    /// Bits per second; 0 = unlimited.
    pub bits_per_sec: u64,
    /// Propagation delay, ns.
    pub latency_ns: u64,
    /// Finish time of the frame each direction sent last (0: none yet).
    last_done: [u64; 2],
    /// Frames put on the wire, per direction (0 = from end 0).
    pub frames: [u64; 2],
    /// Frames a direction holds waiting before it drops.
    pub queue: u32,
    /// Bumped when an end is unplugged: frames in flight before that are lost.
    pub generation: u32,
    /// The rest.
    cold: Box<WireCold>,
}

/// What a wire's send seldom touches.
#[derive(Clone, Debug)]
pub struct WireCold {
    /// Its two ends.
    ends: [End; 2],
    /// Finish times of the frames before the last that each direction may
    /// still be sending or holding, oldest first; entries already done are
    /// dropped lazily, when the direction next has a frame in flight.
    /// Usually empty: a lightly used wire (most wires of a big network) then
    /// never touches it.
    backlog: [VecDeque<u64>; 2],
    /// Frames dropped on a full queue, per direction.
    dropped: [u64; 2],
}

impl Wire {
    /// A wire between `a` and `b`; a `queue` above [`u32::MAX`] frames is
    /// taken as that many (no bound in practice).
    pub fn new(a: End, b: End, latency_ns: u64, bits_per_sec: u64, queue: usize) -> Wire {
        Wire {
            latency_ns,
            bits_per_sec,
            queue: u32::try_from(queue).unwrap_or(u32::MAX),
            generation: 0,
            last_done: [0; 2],
            frames: [0; 2],
            cold: Box::new(WireCold {
                ends: [a, b],
                backlog: [VecDeque::new(), VecDeque::new()],
                dropped: [0; 2],
            }),
        }
    }

    /// Its two ends.
    pub fn ends(&self) -> [End; 2] {
        self.cold.ends
    }

    /// Plugs `end` into side `side` (0 or 1) in place of what was there.
    pub fn set_end(&mut self, side: usize, end: End) {
        self.cold.ends[side] = end;
    }

    /// Frames dropped on a full queue, per direction (0 = from end 0).
    pub fn dropped(&self) -> [u64; 2] {
        self.cold.dropped
    }

    /// Puts a frame of `len` bytes on the wire from end `from` at `now`: returns
    /// when it arrives at the other end, or `None` if the queue is full.
    #[inline]
    pub fn send(&mut self, from: usize, now: u64, len: usize) -> Option<u64> {
        if self.bits_per_sec == 0 {
            self.frames[from] += 1;
            return Some(now + self.latency_ns);
        }
        let last = self.last_done[from];
        // Frames finish in order: once the last one is done, all are. The
        // backlog is not touched then: what it holds finished before `last`,
        // so before any later `now`, and the loop below drops it first.
        let waiting = if last <= now {
            0
        } else {
            let q = &mut self.cold.backlog[from];
            while q.front().is_some_and(|&done| done <= now) {
                q.pop_front();
            }
            q.len() + 1
        };
        if waiting >= self.queue as usize {
            self.cold.dropped[from] += 1;
            return None;
        }
        let start = last.max(now);
        // A division per frame: cheaper than a second cache line to keep
        // the last one's result in.
        let bits = (len as u64 + OVERHEAD_BYTES) * 8;
        let done = start + (bits * 1_000_000_000).div_ceil(self.bits_per_sec);
        if waiting > 0 {
            self.cold.backlog[from].push_back(last);
        }
        self.last_done[from] = done;
        self.frames[from] += 1;
        Some(done + self.latency_ns)
    }

    /// Forgets the frames waiting to be sent (an end was unplugged).
    pub fn cut(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.last_done = [0; 2];
        self.cold.backlog[0].clear();
        self.cold.backlog[1].clear();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn latency_serialisation_and_queue() {
        // 1 Gbit/s: a 1000-byte frame takes (1000 + 24) * 8 ns.
        let mut w = Wire::new(End::Host(0), End::Host(1), 1000, 1_000_000_000, 2);
        assert_eq!(w.send(0, 0, 1000), Some(8192 + 1000));
        assert_eq!(w.send(0, 0, 1000), Some(2 * 8192 + 1000));
        assert_eq!(w.send(0, 0, 1000), None);
        assert_eq!(w.dropped(), [1, 0]);
        // The other direction is independent.
        assert_eq!(w.send(1, 0, 1000), Some(8192 + 1000));
        // Once the first frame has left, there is room again.
        assert_eq!(w.send(0, 8192, 1000), Some(3 * 8192 + 1000));
        // Once all have left, the queue holds two again (the backlog of the
        // busy time, dropped lazily, does not count).
        assert_eq!(w.send(0, 100_000, 1000), Some(100_000 + 8192 + 1000));
        assert_eq!(w.send(0, 100_000, 1000), Some(100_000 + 2 * 8192 + 1000));
        assert_eq!(w.send(0, 100_000, 1000), None);
        assert_eq!(
            w.send(0, 100_000 + 8192, 1000),
            Some(100_000 + 3 * 8192 + 1000)
        );
        assert_eq!(w.dropped(), [2, 0]);
    }

    #[test]
    fn a_send_touches_one_cache_line() {
        use std::mem::{align_of, size_of};
        assert_eq!(align_of::<Wire>(), 64);
        assert_eq!(size_of::<Wire>(), 64);
    }
}
