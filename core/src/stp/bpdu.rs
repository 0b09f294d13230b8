//! The BPDU wire format (IEEE 802.1D-2004 clause 9): Configuration, Topology
//! Change Notification and Rapid Spanning Tree BPDUs, carried in 802.3 frames
//! with an LLC header `42 42 03` to `01:80:C2:00:00:00`.
//!
//! [`Bpdu::parse`] takes a whole Ethernet frame and never panics: every field is
//! read after one length check. [`Bpdu::emit`] writes a whole frame.
//!
//! ```
//! use vswitch_core::stp::bpdu::{Bpdu, BpduKind, BridgeId};
//! use vswitch_core::MacAddr;
//! let tcn = Bpdu::tcn();
//! let mut frame = Vec::new();
//! tcn.emit(MacAddr([2, 0, 0, 0, 0, 1]), &mut frame);
//! assert_eq!(Bpdu::parse(&frame).unwrap().kind, BpduKind::Tcn);
//! # let _ = BridgeId::new(32768, MacAddr::ZERO);
//! ```

use alloc::vec::Vec;
use core::fmt;

use crate::mac::MacAddr;

/// The destination of every BPDU: the Bridge Group Address.
pub const BRIDGE_GROUP: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0x00, 0x00, 0x00]);
/// The LLC header of a BPDU: DSAP, SSAP, UI.
pub const LLC: [u8; 3] = [0x42, 0x42, 0x03];

/// Offsets in the frame.
mod field {
    pub const LENGTH: usize = 12;
    pub const LLC: usize = 14;
    /// Start of the BPDU proper.
    pub const BPDU: usize = 17;
    // Offsets from BPDU:
    pub const VERSION: usize = 2;
    pub const TYPE: usize = 3;
    pub const FLAGS: usize = 4;
    pub const ROOT: usize = 5;
    pub const COST: usize = 13;
    pub const BRIDGE: usize = 17;
    pub const PORT: usize = 25;
    pub const MESSAGE_AGE: usize = 27;
    pub const MAX_AGE: usize = 29;
    pub const HELLO: usize = 31;
    pub const FORWARD_DELAY: usize = 33;
}

const TCN_LEN: usize = 4;
const CONFIG_LEN: usize = 35;
const RST_LEN: usize = 36;

const TYPE_CONFIG: u8 = 0x00;
const TYPE_RST: u8 = 0x02;
const TYPE_TCN: u8 = 0x80;

/// Flag bits (clause 9.3.3).
pub mod flags {
    /// Topology Change.
    pub const TC: u8 = 0x01;
    /// Proposal (RST only).
    pub const PROPOSAL: u8 = 0x02;
    /// Port role mask (RST only).
    pub const ROLE_MASK: u8 = 0x0c;
    /// Port role shift.
    pub const ROLE_SHIFT: u8 = 2;
    /// Learning (RST only).
    pub const LEARNING: u8 = 0x10;
    /// Forwarding (RST only).
    pub const FORWARDING: u8 = 0x20;
    /// Agreement (RST only).
    pub const AGREEMENT: u8 = 0x40;
    /// Topology Change Acknowledgment.
    pub const TCA: u8 = 0x80;
}

/// A bridge identifier: 16-bit priority (4-bit priority in steps of 4096 plus
/// the 12-bit system ID extension) then the bridge's MAC. Lower is better.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BridgeId(pub u64);

impl BridgeId {
    /// The identifier of priority `priority` and address `mac`.
    pub fn new(priority: u16, mac: MacAddr) -> BridgeId {
        let m = mac.octets();
        BridgeId(u64::from_be_bytes([
            (priority >> 8) as u8,
            priority as u8,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
        ]))
    }

    /// The priority part.
    pub fn priority(self) -> u16 {
        (self.0 >> 48) as u16
    }

    /// The address part.
    pub fn mac(self) -> MacAddr {
        let b = self.0.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for BridgeId {
    /// As the Linux bridge prints it: `8000.020000000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        write!(f, "{:02x}{:02x}.", b[0], b[1])?;
        for x in &b[2..] {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BridgeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The role a port announces in an RST BPDU's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireRole {
    /// 0: unknown (Configuration BPDUs carry no role).
    Unknown,
    /// 1: alternate or backup.
    AlternateBackup,
    /// 2: root.
    Root,
    /// 3: designated.
    Designated,
}

/// What kind of BPDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BpduKind {
    /// 802.1D Configuration BPDU.
    Config,
    /// 802.1D Topology Change Notification.
    Tcn,
    /// Rapid Spanning Tree BPDU (version 2).
    Rst,
}

/// Timer values carried in a BPDU, in whole seconds (the wire has 1/256 s;
/// fractions are dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Times {
    /// Message age.
    pub message_age: u16,
    /// Max age.
    pub max_age: u16,
    /// Hello time.
    pub hello: u16,
    /// Forward delay.
    pub forward_delay: u16,
}

/// A parsed BPDU (the owned summary; TCNs leave the other fields zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bpdu {
    /// Its kind.
    pub kind: BpduKind,
    /// Protocol version identifier (0 STP, 2 RSTP).
    pub version: u8,
    /// Flag bits, see [`flags`].
    pub flags: u8,
    /// Root bridge identifier.
    pub root: BridgeId,
    /// Root path cost.
    pub root_path_cost: u32,
    /// Designated (sending) bridge identifier.
    pub bridge: BridgeId,
    /// Designated (sending) port identifier.
    pub port: u16,
    /// Timers.
    pub times: Times,
}

/// Why a frame is not a BPDU we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadBpdu {
    /// Shorter than the BPDU type needs, or the 802.3 length says so.
    Truncated,
    /// Not LLC 42 42 03, or protocol identifier not 0.
    NotBpdu,
    /// An unknown BPDU type.
    UnknownType,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn secs(b: &[u8], at: usize) -> u16 {
    be16(b, at) >> 8
}

impl Bpdu {
    /// A Topology Change Notification.
    pub fn tcn() -> Bpdu {
        Bpdu {
            kind: BpduKind::Tcn,
            version: 0,
            flags: 0,
            root: BridgeId(0),
            root_path_cost: 0,
            bridge: BridgeId(0),
            port: 0,
            times: Times::default(),
        }
    }

    /// The role in the flags of an RST BPDU.
    pub fn role(&self) -> WireRole {
        match (self.flags & flags::ROLE_MASK) >> flags::ROLE_SHIFT {
            1 => WireRole::AlternateBackup,
            2 => WireRole::Root,
            3 => WireRole::Designated,
            _ => WireRole::Unknown,
        }
    }

    /// True if `flag` (one of [`flags`]) is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Parses a whole Ethernet frame (destination already checked by the caller
    /// or not: it is not looked at). Validation follows 802.1D-2004 9.3.4.
    pub fn parse(frame: &[u8]) -> Result<Bpdu, BadBpdu> {
        if frame.len() < field::BPDU + TCN_LEN {
            return Err(BadBpdu::Truncated);
        }
        let length = usize::from(be16(frame, field::LENGTH));
        if length > 1500 || frame[field::LLC..field::BPDU] != LLC {
            return Err(BadBpdu::NotBpdu);
        }
        // Padding may follow; the 802.3 length bounds the BPDU.
        let end = (field::LLC + length).min(frame.len());
        let b = &frame[field::BPDU..end.max(field::BPDU)];
        if b.len() < TCN_LEN {
            return Err(BadBpdu::Truncated);
        }
        if be16(b, 0) != 0 {
            return Err(BadBpdu::NotBpdu);
        }
        let version = b[field::VERSION];
        let kind = match b[field::TYPE] {
            TYPE_TCN => {
                return Ok(Bpdu {
                    version,
                    ..Bpdu::tcn()
                })
            }
            TYPE_CONFIG if b.len() >= CONFIG_LEN => BpduKind::Config,
            TYPE_RST if version >= 2 && b.len() >= RST_LEN => BpduKind::Rst,
            TYPE_RST if version < 2 => return Err(BadBpdu::UnknownType),
            TYPE_CONFIG | TYPE_RST => return Err(BadBpdu::Truncated),
            _ => return Err(BadBpdu::UnknownType),
        };
        let mut flag_bits = b[field::FLAGS];
        if kind == BpduKind::Config {
            flag_bits &= flags::TC | flags::TCA;
        }
        let id = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            BridgeId(u64::from_be_bytes(x))
        };
        Ok(Bpdu {
            kind,
            version,
            flags: flag_bits,
            root: id(field::ROOT),
            root_path_cost: u32::from_be_bytes([
                b[field::COST],
                b[field::COST + 1],
                b[field::COST + 2],
                b[field::COST + 3],
            ]),
            bridge: id(field::BRIDGE),
            port: be16(b, field::PORT),
            times: Times {
                message_age: secs(b, field::MESSAGE_AGE),
                max_age: secs(b, field::MAX_AGE),
                hello: secs(b, field::HELLO),
                forward_delay: secs(b, field::FORWARD_DELAY),
            },
        })
    }

    /// Writes this BPDU as a whole frame from `src` into `out` (cleared first),
    /// padded to the 60-byte Ethernet minimum.
    pub fn emit(&self, src: MacAddr, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&BRIDGE_GROUP.octets());
        out.extend_from_slice(&src.octets());
        let len = match self.kind {
            BpduKind::Tcn => TCN_LEN,
            BpduKind::Config => CONFIG_LEN,
            BpduKind::Rst => RST_LEN,
        };
        out.extend_from_slice(&((LLC.len() + len) as u16).to_be_bytes());
        out.extend_from_slice(&LLC);
        let (version, ty) = match self.kind {
            BpduKind::Tcn => (0, TYPE_TCN),
            BpduKind::Config => (0, TYPE_CONFIG),
            BpduKind::Rst => (2, TYPE_RST),
        };
        out.extend_from_slice(&[0, 0, version, ty]);
        if self.kind != BpduKind::Tcn {
            out.push(self.flags);
            out.extend_from_slice(&self.root.0.to_be_bytes());
            out.extend_from_slice(&self.root_path_cost.to_be_bytes());
            out.extend_from_slice(&self.bridge.0.to_be_bytes());
            out.extend_from_slice(&self.port.to_be_bytes());
            for t in [
                self.times.message_age,
                self.times.max_age,
                self.times.hello,
                self.times.forward_delay,
            ] {
                out.extend_from_slice(&(t << 8).to_be_bytes());
            }
            if self.kind == BpduKind::Rst {
                out.push(0); // Version 1 Length
            }
        }
        while out.len() < 60 {
            out.push(0);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use alloc::string::ToString;

    /// A Configuration BPDU as the Linux bridge sends it (root 8000.020000000001,
    /// cost 0, port 8001, max age 20, hello 2, forward delay 15), padded.
    const KERNEL_CONFIG: [u8; 60] = [
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x26, 0x42,
        0x42, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x01, 0x00,
        0x00, 0x14, 0x00, 0x02, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn parses_a_kernel_config_bpdu() {
        let b = Bpdu::parse(&KERNEL_CONFIG).unwrap();
        assert_eq!(b.kind, BpduKind::Config);
        assert_eq!(b.root.to_string(), "8000.020000000001");
        assert_eq!(b.root_path_cost, 0);
        assert_eq!(b.port, 0x8001);
        assert_eq!(
            b.times,
            Times {
                message_age: 0,
                max_age: 20,
                hello: 2,
                forward_delay: 15
            }
        );
        let mut out = Vec::new();
        b.emit(MacAddr([2, 0, 0, 0, 0, 1]), &mut out);
        assert_eq!(out[..], KERNEL_CONFIG[..]);
    }

    #[test]
    fn rst_round_trips_with_its_flags() {
        let b = Bpdu {
            kind: BpduKind::Rst,
            version: 2,
            flags: flags::PROPOSAL | (3 << flags::ROLE_SHIFT) | flags::TC | flags::LEARNING,
            root: BridgeId::new(4096, MacAddr([2, 0, 0, 0, 0, 9])),
            root_path_cost: 20_000,
            bridge: BridgeId::new(32768, MacAddr([2, 0, 0, 0, 0, 7])),
            port: 0x8003,
            times: Times {
                message_age: 1,
                max_age: 20,
                hello: 2,
                forward_delay: 15,
            },
        };
        let mut out = Vec::new();
        b.emit(MacAddr([2, 0, 0, 0, 0, 7]), &mut out);
        assert_eq!(out[17 + 2..17 + 4], [2, 2]);
        assert_eq!(out[17 + 35], 0);
        let p = Bpdu::parse(&out).unwrap();
        assert_eq!(p, b);
        assert_eq!(p.role(), WireRole::Designated);
        assert!(p.has(flags::PROPOSAL) && !p.has(flags::AGREEMENT));
    }

    #[test]
    fn tcn_round_trips() {
        let mut out = Vec::new();
        Bpdu::tcn().emit(MacAddr([2, 0, 0, 0, 0, 7]), &mut out);
        assert_eq!(out[12..21], [0, 7, 0x42, 0x42, 0x03, 0, 0, 0, 0x80]);
        assert_eq!(Bpdu::parse(&out).unwrap().kind, BpduKind::Tcn);
    }

    #[test]
    fn config_flags_other_than_tc_and_tca_are_ignored() {
        let mut f = KERNEL_CONFIG;
        f[17 + 4] = 0xff;
        assert_eq!(Bpdu::parse(&f).unwrap().flags, flags::TC | flags::TCA);
    }

    proptest::proptest! {
        /// A real BPDU with random bytes changed and cut at a random length:
        /// parsed or refused, never a panic; what parses emits and parses
        /// back the same.
        #[test]
        fn changed_bpdus_parse_or_are_refused(
            len in 0usize..=60,
            changes in proptest::collection::vec((0usize..60, proptest::prelude::any::<u8>()), 0..6),
        ) {
            let mut f = KERNEL_CONFIG;
            for (i, v) in changes {
                f[i] = v;
            }
            if let Ok(b) = Bpdu::parse(&f[..len]) {
                let mut out = Vec::new();
                b.emit(MacAddr([2, 0, 0, 0, 0, 1]), &mut out);
                let again = Bpdu::parse(&out).unwrap();
                proptest::prop_assert_eq!(again.kind, b.kind);
                if b.kind != BpduKind::Tcn {
                    proptest::prop_assert_eq!(
                        (again.root, again.root_path_cost, again.bridge, again.port),
                        (b.root, b.root_path_cost, b.bridge, b.port)
                    );
                }
            }
        }
    }

    #[test]
    fn malformed_bpdus_are_refused_without_panicking() {
        for n in 0..KERNEL_CONFIG.len() {
            let mut f = KERNEL_CONFIG[..n].to_vec();
            let _ = Bpdu::parse(&f);
            f.resize(60, 0xff);
            let _ = Bpdu::parse(&f);
        }
        // The 802.3 length cuts the Config BPDU short.
        let mut f = KERNEL_CONFIG;
        f[13] = 3 + 20;
        assert_eq!(Bpdu::parse(&f), Err(BadBpdu::Truncated));
        let mut f = KERNEL_CONFIG;
        f[14] = 0xaa;
        assert_eq!(Bpdu::parse(&f), Err(BadBpdu::NotBpdu));
        let mut f = KERNEL_CONFIG;
        f[17 + 3] = 0x55;
        assert_eq!(Bpdu::parse(&f), Err(BadBpdu::UnknownType));
        // Type RST with version 0 is not an RST BPDU.
        let mut f = KERNEL_CONFIG;
        f[17 + 3] = TYPE_RST;
        assert_eq!(Bpdu::parse(&f), Err(BadBpdu::UnknownType));
        // An RST BPDU one byte short.
        f[17 + 2] = 2;
        assert_eq!(Bpdu::parse(&f), Err(BadBpdu::Truncated));
    }
}
