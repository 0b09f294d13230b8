//! Ethernet MAC addresses.

use core::fmt;
use core::str::FromStr;

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00, never a valid source.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Reads a MAC address from the first six bytes of `bytes`.
    ///
    /// Returns `None` if `bytes` is shorter than six bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<MacAddr> {
        let b: [u8; 6] = bytes.get(..6)?.try_into().ok()?;
        Some(MacAddr(b))
    }

    /// The address as six bytes.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(self) -> bool {
        self.0 == [0xff; 6]
    }

    /// True when the I/G bit is set: multicast, which includes broadcast.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for an individual (unicast) address.
    pub fn is_unicast(self) -> bool {
        !self.is_multicast()
    }

    /// True for 00:00:00:00:00:00.
    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }

    /// True if this address may appear as a frame's source: unicast and not all-zero.
    pub fn is_valid_source(self) -> bool {
        self.is_unicast() && !self.is_zero()
    }

    /// If this is an IEEE 802.1D link-local group address 01:80:C2:00:00:0X,
    /// returns X (0..=15).
    pub fn link_local_index(self) -> Option<u8> {
        let [a, b, c, d, e, f] = self.0;
        if [a, b, c, d, e] == [0x01, 0x80, 0xc2, 0x00, 0x00] && f <= 0x0f {
            Some(f)
        } else {
            None
        }
    }

    /// The address as the low 48 bits of a `u64`.
    #[inline]
    pub fn to_u64(self) -> u64 {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&self.0);
        u64::from_be_bytes(b)
    }

    /// The address from the low 48 bits of `v`.
    pub fn from_u64(v: u64) -> MacAddr {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for MacAddr {
    /// `xx:xx:xx:xx:xx:xx`, lower case, written in one piece (reports print
    /// a million of them: six `{:02x}` cost several times as much).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b':'; 17];
        for (i, b) in self.0.into_iter().enumerate() {
            text[3 * i] = HEX[usize::from(b >> 4)];
            text[3 * i + 1] = HEX[usize::from(b & 15)];
        }
        // Only ASCII hex digits and ':' were written.
        f.write_str(core::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error of parsing a MAC address from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseMacError;

impl fmt::Display for ParseMacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a MAC address is six hex bytes separated by ':' or '-', such as 02:00:00:00:00:01",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseMacError {}

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or(ParseMacError)?;
            if part.is_empty() || part.len() > 2 {
                return Err(ParseMacError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ParseMacError)?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError);
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let m: MacAddr = "02:0a:FF:00:00:01".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x0a, 0xff, 0, 0, 1]);
        assert_eq!(alloc::format!("{m}"), "02:0a:ff:00:00:01");
        for (mac, text) in [
            ([0, 0, 0, 0, 0, 0], "00:00:00:00:00:00"),
            ([0xff, 0xfe, 0x10, 0x9a, 0xbc, 0xde], "ff:fe:10:9a:bc:de"),
        ] {
            assert_eq!(alloc::format!("{}", MacAddr(mac)), text);
        }
        assert_eq!("02-0a-ff-00-00-01".parse::<MacAddr>(), Ok(m));
        assert!("02:0a:ff:00:00".parse::<MacAddr>().is_err());
        assert!("02:0a:ff:00:00:01:02".parse::<MacAddr>().is_err());
        assert!("02:0a:ff:00:00:xyz".parse::<MacAddr>().is_err());
    }

    #[test]
    fn address_classes() {
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::BROADCAST.is_valid_source());
        assert!(!MacAddr::ZERO.is_valid_source());
        assert!(MacAddr([2, 0, 0, 0, 0, 1]).is_valid_source());
        assert_eq!(
            MacAddr([1, 0x80, 0xc2, 0, 0, 0x0e]).link_local_index(),
            Some(14)
        );
        assert_eq!(
            MacAddr([1, 0x80, 0xc2, 0, 0, 0x10]).link_local_index(),
            None
        );
        let m = MacAddr([1, 2, 3, 4, 5, 6]);
        assert_eq!(MacAddr::from_u64(m.to_u64()), m);
    }
}
