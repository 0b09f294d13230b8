//! VLAN port modes: which frames a port admits and how they leave it.

use crate::frame::FrameInfo;
use crate::types::Vid;
use alloc::boxed::Box;
use core::fmt;

/// The highest usable VLAN id (4095 is reserved).
pub const MAX_VID: Vid = 4094;

/// A set of VLAN ids, 1..=4094.
#[derive(Clone, PartialEq, Eq)]
pub struct VlanSet(Box<[u64; 64]>);

impl VlanSet {
    /// The empty set.
    pub fn new() -> VlanSet {
        VlanSet(Box::new([0; 64]))
    }

    /// Every usable VLAN, 1..=4094.
    pub fn all() -> VlanSet {
        let mut s = VlanSet::new();
        for vid in 1..=MAX_VID {
            s.insert(vid);
        }
        s
    }

    /// Adds `vid`; ids outside 1..=4094 are ignored.
    pub fn insert(&mut self, vid: Vid) {
        if (1..=MAX_VID).contains(&vid) {
            self.0[usize::from(vid / 64)] |= 1 << (vid % 64);
        }
    }

    /// Removes `vid`.
    pub fn remove(&mut self, vid: Vid) {
        if vid < 4096 {
            self.0[usize::from(vid / 64)] &= !(1 << (vid % 64));
        }
    }

    /// True if `vid` is in the set.
    #[inline]
    pub fn contains(&self, vid: Vid) -> bool {
        vid < 4096 && self.0[usize::from(vid / 64)] & (1 << (vid % 64)) != 0
    }

    /// The ids in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = Vid> + '_ {
        (1..=MAX_VID).filter(|&v| self.contains(v))
    }
}

impl Default for VlanSet {
    fn default() -> Self {
        VlanSet::new()
    }
}

impl FromIterator<Vid> for VlanSet {
    fn from_iter<I: IntoIterator<Item = Vid>>(iter: I) -> Self {
        let mut s = VlanSet::new();
        for v in iter {
            s.insert(v);
        }
        s
    }
}

impl fmt::Debug for VlanSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// How a port of a VLAN-aware switch treats VLANs. Ignored by a VLAN-unaware
/// switch, where tags are payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VlanMode {
    /// Member of one VLAN, untagged in and out. Tagged frames are dropped, except
    /// priority-tagged ones (vid 0), which belong to the port's VLAN.
    Access(Vid),
    /// Member of the `allowed` VLANs, tagged in and out. Untagged and
    /// priority-tagged frames take the `native` VLAN, which also leaves untagged,
    /// or are dropped when there is none.
    Trunk {
        /// VLANs carried tagged.
        allowed: VlanSet,
        /// The VLAN of untagged frames, if any.
        native: Option<Vid>,
    },
}

impl Default for VlanMode {
    /// Access port in VLAN 1, as a Linux bridge port's default PVID.
    fn default() -> Self {
        VlanMode::Access(1)
    }
}

impl VlanMode {
    /// The VLAN a frame received on this port belongs to, or `None` if the port
    /// does not admit it. Only an outer 802.1Q tag counts; an 802.1ad outer tag
    /// is payload.
    pub fn ingress_vid(&self, info: &FrameInfo) -> Option<Vid> {
        let tag = info.dot1q_tag().map(|t| t.vid);
        match (self, tag) {
            (VlanMode::Access(vid), None | Some(0)) => Some(*vid),
            (VlanMode::Access(_), Some(_)) => None,
            (VlanMode::Trunk { native, .. }, None | Some(0)) => *native,
            (VlanMode::Trunk { allowed, .. }, Some(vid)) => allowed.contains(vid).then_some(vid),
        }
    }

    /// True if this port carries VLAN `vid`.
    #[inline]
    pub fn admits(&self, vid: Vid) -> bool {
        match self {
            VlanMode::Access(v) => *v == vid,
            VlanMode::Trunk { allowed, native } => allowed.contains(vid) || *native == Some(vid),
        }
    }

    /// True if frames of `vid` leave this port with an 802.1Q tag.
    pub fn egress_tagged(&self, vid: Vid) -> bool {
        match self {
            VlanMode::Access(_) => false,
            VlanMode::Trunk { native, .. } => *native != Some(vid),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn info(tag: Option<(u16, u16)>) -> FrameInfo {
        let mut f = alloc::vec![0xffu8; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        if let Some((tpid, vid)) = tag {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00]);
        FrameInfo::parse(&f).unwrap()
    }

    #[test]
    fn access_port() {
        let m = VlanMode::Access(10);
        assert_eq!(m.ingress_vid(&info(None)), Some(10));
        assert_eq!(
            m.ingress_vid(&info(Some((0x8100, 0)))),
            Some(10),
            "priority tag"
        );
        assert_eq!(m.ingress_vid(&info(Some((0x8100, 10)))), None);
        assert_eq!(
            m.ingress_vid(&info(Some((0x88a8, 10)))),
            Some(10),
            "802.1ad outer tag is payload"
        );
        assert!(m.admits(10) && !m.admits(11));
        assert!(!m.egress_tagged(10));
    }

    #[test]
    fn trunk_port() {
        let m = VlanMode::Trunk {
            allowed: [10, 20].into_iter().collect(),
            native: None,
        };
        assert_eq!(m.ingress_vid(&info(Some((0x8100, 20)))), Some(20));
        assert_eq!(m.ingress_vid(&info(Some((0x8100, 30)))), None);
        assert_eq!(m.ingress_vid(&info(None)), None);
        let n = VlanMode::Trunk {
            allowed: [10].into_iter().collect(),
            native: Some(1),
        };
        assert_eq!(n.ingress_vid(&info(None)), Some(1));
        assert!(n.admits(1) && n.admits(10) && !n.admits(2));
        assert!(!n.egress_tagged(1) && n.egress_tagged(10));
    }

    #[test]
    fn vlan_set_bounds() {
        let mut s = VlanSet::new();
        s.insert(0);
        s.insert(4095);
        s.insert(4094);
        s.insert(1);
        assert_eq!(s.iter().collect::<alloc::vec::Vec<_>>(), [1, 4094]);
        assert!(!s.contains(9999));
        assert_eq!(VlanSet::all().iter().count(), 4094);
    }
}
