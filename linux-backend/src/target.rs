//! What a user names as a port, and how it is found: `IFACE`, `netns:NAME/IFACE`
//! and `pid:PID/IFACE` (the host-side peer of a veth inside a namespace or
//! container, found through its iflink), `tap:NAME`, or a VXLAN tunnel
//! `vxlan:NAME,vni=N,local=IP,remote=IP...` ([`crate::vxlan`]).

use crate::error::{Error, Result};
use crate::sys;
use std::path::Path;
use std::process::Command;

/// A port as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortTarget {
    /// An interface of the switch's namespace.
    Iface(String),
    /// The host-side peer of veth `iface` in named namespace `ns`.
    Netns {
        /// The namespace name (`ip netns`).
        ns: String,
        /// The veth inside it.
        iface: String,
    },
    /// The host-side peer of veth `iface` in the network namespace of process `pid`.
    Pid {
        /// The process (a container's init, say).
        pid: u32,
        /// The veth inside its namespace.
        iface: String,
    },
    /// A TAP device, created if needed.
    Tap(String),
    /// A VXLAN tunnel port.
    Vxlan(crate::vxlan::VxlanSpec),
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && !name.contains(['/', ':', ' ', '\0'])
        && name != "."
        && name != ".."
}

impl PortTarget {
    /// Parses `spec`.
    pub fn parse(spec: &str) -> Result<PortTarget> {
        let bad = || Error::BadPortSpec(spec.to_string());
        let target = if let Some(rest) = spec.strip_prefix("netns:") {
            let (ns, iface) = rest.split_once('/').ok_or_else(bad)?;
            if ns.is_empty() || ns.contains(['/', '\0']) || ns.starts_with('.') {
                return Err(bad());
            }
            PortTarget::Netns {
                ns: ns.to_string(),
                iface: iface.to_string(),
            }
        } else if let Some(rest) = spec.strip_prefix("pid:") {
            let (pid, iface) = rest.split_once('/').ok_or_else(bad)?;
            PortTarget::Pid {
                pid: pid.parse().map_err(|_| bad())?,
                iface: iface.to_string(),
            }
        } else if let Some(name) = spec.strip_prefix("tap:") {
            PortTarget::Tap(name.to_string())
        } else if let Some(rest) = spec.strip_prefix("vxlan:") {
            PortTarget::Vxlan(
                crate::vxlan::VxlanSpec::parse(rest)
                    .map_err(|e| Error::Config(format!("\"{spec}\": {e}")))?,
            )
        } else {
            PortTarget::Iface(spec.to_string())
        };
        let name = match &target {
            PortTarget::Iface(n) | PortTarget::Tap(n) => n,
            PortTarget::Netns { iface, .. } | PortTarget::Pid { iface, .. } => iface,
            PortTarget::Vxlan(v) => &v.name,
        };
        if !valid_ifname(name) {
            return Err(bad());
        }
        Ok(target)
    }
}

/// A target found: the interface to attach in the switch's namespace, and what
/// was done to get there (for the output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Interface name in the switch's namespace.
    pub iface: String,
    /// True for a TAP device.
    pub tap: bool,
    /// Notes for the user: "peer of veth1 in netns vsw-ns1", "released from bridge docker0".
    pub notes: Vec<String>,
}

/// Finds the interface behind `target`; a veth peer enslaved to a bridge is
/// released from it first.
pub fn resolve(target: &PortTarget) -> Result<Resolved> {
    let (ns_path, iface, place) = match target {
        PortTarget::Iface(name) => {
            let mut r = Resolved {
                iface: name.clone(),
                tap: false,
                notes: Vec::new(),
            };
            sys::if_index(name).map_err(|_| Error::NoSuchInterface(name.clone()))?;
            release_from_bridge(name, &mut r.notes)?;
            return Ok(r);
        }
        PortTarget::Tap(name) => {
            return Ok(Resolved {
                iface: name.clone(),
                tap: true,
                notes: Vec::new(),
            })
        }
        // A tunnel has no interface to find; its name is its own.
        PortTarget::Vxlan(v) => {
            return Ok(Resolved {
                iface: v.name.clone(),
                tap: false,
                notes: Vec::new(),
            })
        }
        PortTarget::Netns { ns, iface } => {
            let path = format!("/run/netns/{ns}");
            if !Path::new(&path).exists() {
                return Err(Error::NoSuchNamespace(ns.clone()));
            }
            (path, iface, format!("netns {ns}"))
        }
        PortTarget::Pid { pid, iface } => {
            let path = format!("/proc/{pid}/ns/net");
            if !Path::new(&path).exists() {
                return Err(Error::NoSuchProcess(*pid));
            }
            (path, iface, format!("the namespace of pid {pid}"))
        }
    };
    let name = iface.clone();
    let peer = sys::in_netns(&ns_path, move || {
        let index = sys::if_index(&name)?;
        iflink(index).map(|link| (index, link))
    });
    let (index, link) = match peer {
        Ok(v) => v,
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
            return Err(Error::NoSuchInterface(format!("{iface}\" in \"{place}")))
        }
        Err(e) => return Err(Error::io(format!("entering {place}"), e)),
    };
    if link == 0 || link == index {
        return Err(Error::NoPeer(iface.clone()));
    }
    let host = sys::if_name(link).ok_or_else(|| Error::NoPeer(iface.clone()))?;
    // The index could belong to an unrelated interface here if the peer lives in
    // a third namespace: the real peer points back at the inside end.
    if iflink(link).ok() != Some(index) {
        return Err(Error::NoPeer(iface.clone()));
    }
    let mut r = Resolved {
        iface: host,
        tap: false,
        notes: vec![format!("peer of {iface} in {place}")],
    };
    release_from_bridge(&r.iface, &mut r.notes)?;
    Ok(r)
}

/// The iflink of interface `index` in the calling thread's namespace. Asked of
/// netlink: sysfs shows the namespace it was mounted in, not the thread's.
fn iflink(index: u32) -> std::io::Result<u32> {
    crate::link::iflink(index)
}

/// If `iface` is a port of a Linux bridge, releases it and says so in `notes`.
fn release_from_bridge(iface: &str, notes: &mut Vec<String>) -> Result<()> {
    let master = format!("/sys/class/net/{iface}/master");
    let Ok(target) = std::fs::read_link(&master) else {
        return Ok(());
    };
    let bridge = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // As `ip link set IFACE master BR` moves a port from one bridge to
    // another; any other master (a bond, a team, Open vSwitch's datapath) is
    // left alone, and `claim::check` refuses the interface.
    if !std::path::Path::new(&format!("/sys/class/net/{bridge}/bridge")).exists() {
        return Ok(());
    }
    let out = Command::new("ip")
        .args(["link", "set", "dev", iface, "nomaster"])
        .output()
        .map_err(|e| Error::io("running ip", e))?;
    if !out.status.success() {
        return Err(Error::Command(format!(
            "could not release \"{iface}\" from bridge \"{bridge}\": {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    tracing::info!(iface, bridge, "released from bridge");
    notes.push(format!("released from bridge {bridge}"));
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            PortTarget::parse("veth1").unwrap(),
            PortTarget::Iface("veth1".into())
        );
        assert_eq!(
            PortTarget::parse("netns:ns1/eth0").unwrap(),
            PortTarget::Netns {
                ns: "ns1".into(),
                iface: "eth0".into()
            }
        );
        assert_eq!(
            PortTarget::parse("pid:42/eth0").unwrap(),
            PortTarget::Pid {
                pid: 42,
                iface: "eth0".into()
            }
        );
        assert_eq!(
            PortTarget::parse("tap:tap0").unwrap(),
            PortTarget::Tap("tap0".into())
        );
        assert!(matches!(
            PortTarget::parse("vxlan:vx0,vni=42,local=10.0.0.1,remote=10.0.0.2").unwrap(),
            PortTarget::Vxlan(v) if v.name == "vx0" && v.vni == 42
        ));
        for bad in [
            "",
            "netns:",
            "netns:/x",
            "netns:../x/eth0",
            "pid:x/eth0",
            "pid:1/",
            "tap:",
            "vxlan:vx0",
            "vxlan:,vni=1,local=10.0.0.1",
            "a-very-long-interface-name",
            "a/b",
        ] {
            assert!(PortTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
