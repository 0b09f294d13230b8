//! Durations and rates as people write them in scenario files: `0.5` (seconds),
//! `"10us"`, `"2ms"`, `"1.5s"`; `"1Gbit"`, `"100Mbit"`, `0` (unlimited).

use serde::Deserialize;
use std::fmt;

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// A span of virtual time, read from a number of seconds or a string with a unit
/// (`ns`, `us`, `ms`, `s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub u64);

/// A bit rate in bits per second, read from a number or a string with a unit
/// (`bit`, `kbit`, `Mbit`, `Gbit`); 0 means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BitRate(pub u64);

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Int(i64),
    Float(f64),
    Text(String),
}

fn split_unit(s: &str) -> (&str, &str) {
    let s = s.trim();
    let at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_' || c == 'e' || c == 'E'))
        .unwrap_or(s.len());
    (s[..at].trim(), s[at..].trim())
}

fn scaled(value: f64, scale: f64, what: &str, text: &str) -> Result<u64, String> {
    let v = value * scale;
    if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 / 4.0 {
        Ok(v.round() as u64)
    } else {
        Err(format!("{what} {text:?} is negative or too large"))
    }
}

impl Span {
    /// Parses `"10us"`, `"1.5s"`, `"2ms"`, `"500ns"`; a bare number is seconds.
    pub fn parse(text: &str) -> Result<Span, String> {
        let (num, unit) = split_unit(text);
        let value: f64 = num.replace('_', "").parse().map_err(|_| {
            format!("duration {text:?} is not a number with a unit such as \"10us\"")
        })?;
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" | "" => 1e9,
            _ => {
                return Err(format!(
                    "duration {text:?} has an unknown unit: use ns, us, ms or s"
                ))
            }
        };
        scaled(value, scale, "duration", text).map(Span)
    }

    /// Seconds as a float, for output.
    pub fn secs(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl BitRate {
    /// Parses `"1Gbit"`, `"100Mbit"`, `"64kbit"`, `"9600bit"`; a bare number is bits/s.
    pub fn parse(text: &str) -> Result<BitRate, String> {
        let (num, unit) = split_unit(text);
        let value: f64 = num.replace('_', "").parse().map_err(|_| {
            format!("bit rate {text:?} is not a number with a unit such as \"1Gbit\"")
        })?;
        let scale = match unit
            .to_ascii_lowercase()
            .trim_end_matches("/s")
            .trim_end_matches("ps")
        {
            "" | "bit" | "b" => 1.0,
            "kbit" | "k" => 1e3,
            "mbit" | "m" => 1e6,
            "gbit" | "g" => 1e9,
            _ => {
                return Err(format!(
                    "bit rate {text:?} has an unknown unit: use bit, kbit, Mbit or Gbit"
                ))
            }
        };
        scaled(value, scale, "bit rate", text).map(BitRate)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Int(i) if i >= 0 => (i as u64)
                .checked_mul(NS_PER_SEC)
                .map(Span)
                .ok_or_else(|| serde::de::Error::custom(format!("duration {i} s is too long"))),
            NumOrText::Int(i) => Err(serde::de::Error::custom(format!(
                "duration {i} is negative"
            ))),
            NumOrText::Float(f) => scaled(f, 1e9, "duration", &f.to_string())
                .map(Span)
                .map_err(serde::de::Error::custom),
            NumOrText::Text(s) => Span::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl<'de> Deserialize<'de> for BitRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BitRate, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Int(i) if i >= 0 => Ok(BitRate(i as u64)),
            NumOrText::Int(i) => Err(serde::de::Error::custom(format!(
                "bit rate {i} is negative"
            ))),
            NumOrText::Float(f) => scaled(f, 1.0, "bit rate", &f.to_string())
                .map(BitRate)
                .map_err(serde::de::Error::custom),
            NumOrText::Text(s) => BitRate::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_ns(self.0, f)
    }
}

/// Writes a time in nanoseconds as `12.345678s`.
pub fn fmt_ns(ns: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}.{:09}s", ns / NS_PER_SEC, ns % NS_PER_SEC)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn spans_and_rates() {
        assert_eq!(Span::parse("10us"), Ok(Span(10_000)));
        assert_eq!(Span::parse("1.5s"), Ok(Span(1_500_000_000)));
        assert_eq!(Span::parse("2"), Ok(Span(2 * NS_PER_SEC)));
        assert!(Span::parse("3 weeks").is_err());
        assert!(Span::parse("-1s").is_err());
        assert_eq!(BitRate::parse("1Gbit"), Ok(BitRate(1_000_000_000)));
        assert_eq!(BitRate::parse("100Mbit"), Ok(BitRate(100_000_000)));
        assert!(BitRate::parse("fast").is_err());
    }
}
