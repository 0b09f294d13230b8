//! The hand-off between an adapter and the core: a [`FrameBatch`] of received
//! frames, each with the adapter's own metadata, goes in; an [`Egress`] per
//! frame and port comes out, through the send callback of
//! [`crate::Switch::forward`].
//!
//! The metadata is whatever the adapter must know again when the frame leaves:
//! the Linux backend keeps each frame's offload state (checksum left partial,
//! GSO super-frame) there, a tunnel port will keep the frame's remote
//! endpoint. The core never reads it; it hands it back with the frame. With
//! the default `()` it takes no room and costs nothing.
//!
//! ```
//! use vswitch_core::{Egress, FrameBatch, Instant, PortConfig, Switch, SwitchConfig};
//! let mut sw = Switch::new(SwitchConfig::default()).unwrap();
//! let a = sw.add_port(PortConfig::default()).unwrap();
//! let b = sw.add_port(PortConfig::default()).unwrap();
//! // A broadcast from 02:..:01, received at 7 µs.
//! let mut frame = [0u8; 60];
//! frame[..6].copy_from_slice(&[0xff; 6]);
//! frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
//! let mut batch: FrameBatch<u64> = FrameBatch::with_room(1);
//! batch.push_with(&frame, 7_000);
//! let mut sent = Vec::new();
//! sw.forward(Instant::ZERO, a, &batch, |e: Egress<'_, u64>| {
//!     sent.push((e.port, e.index, e.meta));
//!     Ok(())
//! });
//! assert_eq!(sent, [(b, 0, 7_000)]);
//! ```

use crate::switch::Decision;
use crate::types::{PortId, RemoteId};
use alloc::vec::Vec;
use core::ops::Range;

/// A reusable buffer of received frames, filled by a port and decided on as one
/// batch, with a value of metadata `M` per frame that the adapter owns. Once it
/// has grown to its working size it allocates nothing.
#[derive(Clone, Debug)]
pub struct FrameBatch<M = ()> {
    data: Vec<u8>,
    frames: Vec<Range<usize>>,
    meta: Vec<M>,
    /// The remote endpoint of each frame a tunnel port received.
    remotes: Vec<Option<RemoteId>>,
}

impl<M> Default for FrameBatch<M> {
    fn default() -> Self {
        FrameBatch {
            data: Vec::new(),
            frames: Vec::new(),
            meta: Vec::new(),
            remotes: Vec::new(),
        }
    }
}

impl FrameBatch {
    /// The usual batch size, as in netmap's VALE switch.
    pub const DEFAULT_SIZE: usize = 32;

    /// An empty batch without metadata, with room for `frames` frames of up to
    /// 1518 bytes.
    pub fn with_capacity(frames: usize) -> FrameBatch {
        FrameBatch::with_room(frames)
    }
}

impl<M: Copy> FrameBatch<M> {
    /// An empty batch with room for `frames` frames of up to 1518 bytes and
    /// their metadata ([`FrameBatch::with_capacity`] for a batch without).
    pub fn with_room(frames: usize) -> FrameBatch<M> {
        FrameBatch {
            data: Vec::with_capacity(frames * 1518),
            frames: Vec::with_capacity(frames),
            meta: Vec::with_capacity(frames),
            remotes: Vec::with_capacity(frames),
        }
    }

    /// Removes every frame, keeping the memory.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
        self.meta.clear();
        self.remotes.clear();
    }

    /// Appends a copy of `frame` with its metadata.
    pub fn push_with(&mut self, frame: &[u8], meta: M) {
        self.push_from(frame, meta, None);
    }

    /// Appends a copy of `frame`, which a tunnel port received from remote
    /// endpoint `remote`, with its metadata. The switch learns the frame's
    /// source with that remote.
    pub fn push_from(&mut self, frame: &[u8], meta: M, remote: Option<RemoteId>) {
        self.push_parts_from(&[frame], meta, remote);
    }

    /// Appends a frame made of `parts` one after the other, as
    /// [`FrameBatch::push_from`] does with one slice: a port that puts a tag
    /// into a frame builds it in the batch, with no copy of its own.
    pub fn push_parts_from(&mut self, parts: &[&[u8]], meta: M, remote: Option<RemoteId>) {
        let start = self.data.len();
        for part in parts {
            self.data.extend_from_slice(part);
        }
        self.frames.push(start..self.data.len());
        self.meta.push(meta);
        self.remotes.push(remote);
    }

    /// The remote endpoint frame `i` came from, if a tunnel port received it.
    pub fn remote(&self, i: usize) -> Option<RemoteId> {
        self.remotes[i]
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

    /// The metadata of frame `i`.
    pub fn meta(&self, i: usize) -> M {
        self.meta[i]
    }

    /// The frames in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.frames.iter().map(|r| &self.data[r.clone()])
    }

    /// The frames in order, each with its metadata.
    pub fn iter_with_meta(&self) -> impl Iterator<Item = (&[u8], M)> + '_ {
        self.iter().zip(self.meta.iter().copied())
    }

    /// The frames in order, each with the remote endpoint it came from
    /// ([`FrameBatch::remote`]).
    pub fn iter_with_remote(&self) -> impl Iterator<Item = (&[u8], Option<RemoteId>)> + '_ {
        self.iter().zip(self.remotes.iter().copied())
    }
}

impl<M: Copy + Default> FrameBatch<M> {
    /// Appends a copy of `frame` with the default metadata.
    pub fn push(&mut self, frame: &[u8]) {
        self.push_with(frame, M::default());
    }
}

/// One frame leaving by one port: what the send callback of
/// [`crate::Switch::forward`] and [`crate::Switch::forward_one`] gets. The
/// callback answers whether the port took it; the core counts it sent
/// (`tx_frames`, `tx_bytes`) or dropped (`too-big`, `tx-full`) on that answer.
#[derive(Clone, Copy, Debug)]
pub struct Egress<'a, M = ()> {
    /// The port it leaves by.
    pub port: PortId,
    /// Its index in the batch (0 for [`crate::Switch::forward_one`]).
    pub index: usize,
    /// Its bytes as they leave: on a VLAN-aware switch, retagged for the
    /// port's mode.
    pub frame: &'a [u8],
    /// The metadata the adapter pushed with it.
    pub meta: M,
    /// The decision on it.
    pub decision: &'a Decision,
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_frame_pushed_in_parts_is_the_parts_one_after_the_other() {
        let mut batch: FrameBatch<u8> = FrameBatch::with_room(2);
        batch.push_from(&[1, 2], 7, None);
        batch.push_parts_from(&[&[3, 4], &[], &[5]], 8, Some(RemoteId(2)));
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.get(1), &[3, 4, 5]);
        assert_eq!(batch.get(0), &[1, 2]);
        assert_eq!(batch.remote(1), Some(RemoteId(2)));
        assert_eq!(batch.remote(0), None);
    }
}
