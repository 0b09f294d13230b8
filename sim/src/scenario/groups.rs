//! The compact form of a scenario: groups of switches wired to each other as a
//! tree, a ring or a full mesh (or each to one uplink switch), and groups of
//! hosts, N on every switch whose name matches a pattern, with consecutive
//! addresses. A data centre of 10,000 hosts takes a dozen lines instead of
//! 40,000. The groups are expanded into the long form (`[switch.X]`,
//! `[[host]]`, `[[wire]]`) right after the file is read, so everything else
//! sees one kind of scenario.
//!
//! ```
//! let s = vswitch_sim::Scenario::from_toml(r#"
//!     [switch.core]
//!     [[switches]]
//!     name = "access"
//!     count = 3
//!     uplink = "core"
//!     [[hosts]]
//!     on = "access*"
//!     count = 2
//!     ip = "10.8.0.0/16"
//! "#).unwrap();
//! assert_eq!(s.switches.len(), 4);
//! assert_eq!(s.wires.len(), 3);
//! assert_eq!(s.wires[0].a, "access1:core");
//! assert_eq!(s.wires[0].b, "core:access1");
//! assert_eq!(s.hosts.len(), 6);
//! assert_eq!(s.hosts[5].name, "access3-h2");
//! assert_eq!(s.hosts[5].port, "access3:h2");
//! assert_eq!(s.hosts[5].ip, "10.8.0.6/16");
//! ```

use super::{HostSpec, WireSpec};
use crate::units::{BitRate, Span};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use vswitch_core::spec::SwitchSpec;

/// How the switches of a group are wired to each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Links {
    /// Not at all (only to the uplink, if any).
    #[default]
    None,
    /// Switch k (from 0) hangs off switch (k - 1) / fanout: a tree with the
    /// first switch at the root.
    Tree,
    /// Each switch to the next, and the last to the first: a loop.
    Ring,
    /// Every switch to every other switch: many loops.
    Mesh,
}

/// `count` switches with the same settings, `{name}1` .. `{name}{count}`
/// (numbers zero-padded to the width of `count`, so that they sort).
///
/// A wire between two switches X and Y plugs into port `Y` of X and port `X`
/// of Y: a port is named after the switch at its other end.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchGroup {
    /// Name stem.
    pub name: String,
    /// How many switches.
    pub count: usize,
    /// How they are wired to each other.
    #[serde(default)]
    pub links: Links,
    /// Children per switch of a tree.
    #[serde(default = "default_fanout")]
    pub fanout: usize,
    /// A switch (of the file or an earlier group) every switch of the group is wired to.
    #[serde(default)]
    pub uplink: Option<String>,
    /// Settings of every switch of the group, as in a `[switch.X]` table.
    #[serde(default)]
    pub settings: SwitchSpec,
    /// Latency of the group's wires.
    #[serde(default)]
    pub latency: Option<Span>,
    /// Bandwidth of the group's wires.
    #[serde(default)]
    pub bandwidth: Option<BitRate>,
}

fn default_fanout() -> usize {
    2
}

/// `count` hosts on each switch whose name matches `on`, in switch name order.
/// Host n of switch S is called `S-{name}{n}` and plugs into port `{name}{n}`
/// of S; addresses are consecutive from `ip`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostGroup {
    /// A switch name, or a pattern in which `*` stands for any characters (`access*`).
    pub on: String,
    /// Hosts per switch.
    pub count: usize,
    /// Name stem of the hosts and their ports.
    #[serde(default = "default_host_stem")]
    pub name: String,
    /// The first address and the prefix length; a network address
    /// (`10.8.0.0/16`) starts at the network's first host address.
    pub ip: String,
    /// Latency of the hosts' wires.
    #[serde(default)]
    pub latency: Option<Span>,
    /// Bandwidth of the hosts' wires.
    #[serde(default)]
    pub bandwidth: Option<BitRate>,
}

fn default_host_stem() -> String {
    "h".into()
}

/// `stem` and `n` (from 1) padded to the width of `count`: `a07` of 10..=99.
fn numbered(stem: &str, n: usize, count: usize) -> String {
    let width = count.to_string().len();
    format!("{stem}{n:0width$}")
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn wire(a: &str, b: &str, g: &SwitchGroup) -> WireSpec {
    WireSpec {
        a: format!("{a}:{b}"),
        b: format!("{b}:{a}"),
        latency: g.latency,
        bandwidth: g.bandwidth,
    }
}

/// Adds the switches and wires of `groups` to `switches` and `wires`.
pub fn expand_switches(
    groups: &[SwitchGroup],
    switches: &mut BTreeMap<String, SwitchSpec>,
    wires: &mut Vec<WireSpec>,
) -> Result<(), String> {
    for g in groups {
        let whose = format!("switches {:?}", g.name);
        if g.count == 0 || g.name.is_empty() || g.name.contains([':', '*']) {
            return Err(format!(
                "{whose}: needs a name without ':' or '*' and a count of at least 1"
            ));
        }
        if g.links == Links::Tree && g.fanout == 0 {
            return Err(format!("{whose}: a tree needs fanout >= 1"));
        }
        if let Some(up) = &g.uplink {
            if !switches.contains_key(up) {
                return Err(format!(
                    "{whose}: uplink {up:?} is no switch defined above the group"
                ));
            }
        }
        let names: Vec<String> = (1..=g.count)
            .map(|n| numbered(&g.name, n, g.count))
            .collect();
        for name in &names {
            if switches.insert(name.clone(), g.settings.clone()).is_some() {
                return Err(format!("{whose}: switch {name:?} is defined twice"));
            }
        }
        match g.links {
            Links::None => {}
            Links::Tree => {
                for k in 1..names.len() {
                    wires.push(wire(&names[(k - 1) / g.fanout], &names[k], g));
                }
            }
            Links::Ring => {
                // Two switches in a ring are one wire, not two.
                let n = names.len();
                let last = if n > 2 { n } else { n - 1 };
                for k in 0..last {
                    wires.push(wire(&names[k], &names[(k + 1) % n], g));
                }
            }
            Links::Mesh => {
                for i in 0..names.len() {
                    for j in i + 1..names.len() {
                        wires.push(wire(&names[i], &names[j], g));
                    }
                }
            }
        }
        if let Some(up) = &g.uplink {
            for name in &names {
                wires.push(wire(name, up, g));
            }
        }
    }
    Ok(())
}

/// Parses `a.b.c.d/len` into the address as a number and the prefix length.
fn parse_cidr(text: &str) -> Option<(u32, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| (1..=30).contains(p))?;
    Some((u32::from(addr), prefix))
}

/// Adds the hosts of `groups`, on the switches of `switches`, to `hosts`.
pub fn expand_hosts(
    groups: &[HostGroup],
    switches: &BTreeMap<String, SwitchSpec>,
    hosts: &mut Vec<HostSpec>,
) -> Result<(), String> {
    for g in groups {
        let whose = format!("hosts on {:?}", g.on);
        let (first, prefix) = parse_cidr(&g.ip).ok_or_else(|| {
            format!(
                "{whose}: ip {:?} must be an address and a prefix of 1 to 30 bits, like \"10.8.0.0/16\"",
                g.ip
            )
        })?;
        let mask = u32::MAX << (32 - prefix);
        let network = first & mask;
        let broadcast = network | !mask;
        let first = if first == network { first + 1 } else { first };
        let on: Vec<&String> = switches.keys().filter(|s| matches(&g.on, s)).collect();
        if on.is_empty() {
            return Err(format!("{whose}: no switch matches"));
        }
        let total = (on.len() as u64) * (g.count as u64);
        if u64::from(first) + total > u64::from(broadcast) {
            return Err(format!(
                "{whose}: {total} hosts do not fit in {} from {}",
                g.ip,
                Ipv4Addr::from(first)
            ));
        }
        let mut next = first;
        for switch in on {
            for n in 1..=g.count {
                let port = numbered(&g.name, n, g.count);
                hosts.push(HostSpec {
                    name: format!("{switch}-{port}"),
                    ip: format!("{}/{prefix}", Ipv4Addr::from(next)),
                    mac: None,
                    port: format!("{switch}:{port}"),
                    latency: g.latency,
                    bandwidth: g.bandwidth,
                    moves: Vec::new(),
                });
                next += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::Scenario;

    #[test]
    fn patterns() {
        assert!(matches("a*", "a001"));
        assert!(matches("*", "core"));
        assert!(matches("core", "core"));
        assert!(!matches("core", "core2"));
        assert!(matches("a*-x*", "a1-x2"));
        assert!(!matches("a*1", "a10"));
        assert!(matches("*1", "a01"));
    }

    #[test]
    fn the_compact_form_says_what_the_long_form_says() {
        let compact = Scenario::from_toml(
            r#"
            [switch.core]
            aging = 60
            [[switches]]
            name = "a"
            count = 2
            uplink = "core"
            latency = "2us"
            settings = { capacity = 100 }
            [[hosts]]
            on = "a*"
            count = 2
            ip = "10.8.0.0/16"
            [[hosts]]
            on = "core"
            count = 1
            name = "server"
            ip = "10.8.1.1/16"
            bandwidth = "10Gbit"
            [[ping]]
            from = "*"
            to = "core-server1"
            "#,
        )
        .unwrap();
        let long = Scenario::from_toml(
            r#"
            [switch.core]
            aging = 60
            [switch.a1]
            capacity = 100
            [switch.a2]
            capacity = 100
            [[wire]]
            a = "a1:core"
            b = "core:a1"
            latency = "2us"
            [[wire]]
            a = "a2:core"
            b = "core:a2"
            latency = "2us"
            [[host]]
            name = "a1-h1"
            ip = "10.8.0.1/16"
            port = "a1:h1"
            [[host]]
            name = "a1-h2"
            ip = "10.8.0.2/16"
            port = "a1:h2"
            [[host]]
            name = "a2-h1"
            ip = "10.8.0.3/16"
            port = "a2:h1"
            [[host]]
            name = "a2-h2"
            ip = "10.8.0.4/16"
            port = "a2:h2"
            [[host]]
            name = "core-server1"
            ip = "10.8.1.1/16"
            port = "core:server1"
            bandwidth = "10Gbit"
            [[ping]]
            from = "*"
            to = "core-server1"
            "#,
        )
        .unwrap();
        assert_eq!(compact, long);
    }

    fn wires_of(links: &str, count: usize) -> Vec<(String, String)> {
        let s = Scenario::from_toml(&format!(
            "[[switches]]\nname = \"s\"\ncount = {count}\nlinks = \"{links}\"\nfanout = 2\n"
        ))
        .unwrap();
        s.wires.iter().map(|w| (w.a.clone(), w.b.clone())).collect()
    }

    #[test]
    fn trees_rings_and_meshes() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            wires_of("tree", 5),
            [
                pair("s1:s2", "s2:s1"),
                pair("s1:s3", "s3:s1"),
                pair("s2:s4", "s4:s2"),
                pair("s2:s5", "s5:s2")
            ]
        );
        assert_eq!(
            wires_of("ring", 3),
            [
                pair("s1:s2", "s2:s1"),
                pair("s2:s3", "s3:s2"),
                pair("s3:s1", "s1:s3")
            ]
        );
        assert_eq!(wires_of("ring", 2), [pair("s1:s2", "s2:s1")]);
        assert_eq!(wires_of("ring", 1), []);
        assert_eq!(wires_of("mesh", 4).len(), 6);
        assert_eq!(wires_of("none", 4).len(), 0);
        let s = Scenario::from_toml("[[switches]]\nname = \"s\"\ncount = 12\n").unwrap();
        assert_eq!(s.switches.keys().next().unwrap(), "s01");
    }

    #[test]
    fn groups_that_cannot_be_built_are_refused() {
        let e = |t: &str| Scenario::from_toml(t).unwrap_err().to_string();
        let msg = e("[[switches]]\nname = \"a\"\ncount = 2\nuplink = \"core\"\n");
        assert!(msg.contains("uplink \"core\""), "{msg}");
        let msg = e("[switch.s1]\n[[hosts]]\non = \"x*\"\ncount = 2\nip = \"10.0.0.0/24\"\n");
        assert!(msg.contains("no switch matches"), "{msg}");
        let msg = e("[switch.s1]\n[[hosts]]\non = \"s1\"\ncount = 300\nip = \"10.0.0.0/24\"\n");
        assert!(msg.contains("do not fit"), "{msg}");
        let msg = e("[switch.a1]\n[[switches]]\nname = \"a\"\ncount = 1\n");
        assert!(msg.contains("defined twice"), "{msg}");
    }
}
