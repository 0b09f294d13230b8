//! The test lab: N network namespaces, each with one veth pair whose outer end
//! waits in the host's namespace for a switch to attach it.
//!
//! Host K lives in namespace `{prefix}K` (default `vsw-ns1..N`) on `vethK` with
//! address 100+K of the lab's subnet (default 192.168.100.0/24, so
//! 192.168.100.(100+K)/24); its peer is `vethK-vsw` (with a custom prefix,
//! `{prefix}K-vsw`, so that labs can exist side by side). What was made is
//! recorded in `/run/vswitch/lab-{prefix}.json` so that `down` removes exactly
//! that. Only addresses of the subnet are used (a /24 inside 10.0.0.0/8 or
//! 192.168.0.0/16), and namespaces get no route elsewhere (except, with the
//! gateway, to its .254).

use crate::error::{Error, Result};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Command;

/// The default namespace prefix.
pub const DEFAULT_PREFIX: &str = "vsw-ns";
/// The lab's network unless told otherwise.
pub const DEFAULT_SUBNET: Subnet = Subnet([192, 168, 100]);

/// A lab's network: a /24 inside 10.0.0.0/8 or 192.168.0.0/16 (private
/// ranges, where a lab cannot reach anything real).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet(pub [u8; 3]);

impl Subnet {
    /// The address of host `k` (1-based): `.100+k`.
    pub fn host(&self, k: u32) -> String {
        self.addr(100 + k)
    }

    /// The gateway's address: `.254`.
    pub fn gateway(&self) -> String {
        self.addr(254)
    }

    fn addr(&self, last: u32) -> String {
        let [a, b, c] = self.0;
        format!("{a}.{b}.{c}.{last}")
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/24", self.addr(0))
    }
}

impl std::str::FromStr for Subnet {
    type Err = String;

    /// `10.1.2.0/24` (the `/24` may be left out).
    fn from_str(s: &str) -> std::result::Result<Subnet, String> {
        let bad = || {
            format!("\"{s}\" is not a lab subnet: a /24 inside 10.0.0.0/8 or 192.168.0.0/16, like 10.1.2.0/24")
        };
        let addr = s.strip_suffix("/24").unwrap_or(s);
        let ip: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let [a, b, c, d] = ip.octets();
        if d != 0 || !(a == 10 || (a == 192 && b == 168)) {
            return Err(bad());
        }
        Ok(Subnet([a, b, c]))
    }
}

/// How to build a lab.
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// Number of hosts, 1..=150.
    pub hosts: u32,
    /// Namespace name prefix.
    pub prefix: String,
    /// Add a host-side gateway port with the subnet's .254 and default routes
    /// via it. The veths keep their default offloads (TX checksum, TSO): the
    /// switch carries offloaded frames through virtio-net headers.
    pub gateway: bool,
    /// The hosts' network.
    pub subnet: Subnet,
}

/// What a lab is made of.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    /// Namespace prefix.
    pub prefix: String,
    /// Namespaces created.
    pub namespaces: Vec<String>,
    /// Host-side interfaces created (the switch's ports).
    pub ports: Vec<String>,
    /// Host addresses, one per namespace.
    pub addresses: Vec<String>,
    /// The gateway interface (holding the subnet's .254), if any.
    pub gateway: Option<String>,
    /// The hosts' network, as `10.1.2.0/24`.
    #[serde(default)]
    pub subnet: String,
}

/// The interface name stem for a prefix: `veth` for the default prefix.
fn stem(prefix: &str) -> &str {
    if prefix == DEFAULT_PREFIX {
        "veth"
    } else {
        prefix
    }
}

fn record_path(prefix: &str) -> PathBuf {
    PathBuf::from(crate::control::SOCKET_DIR).join(format!("lab-{prefix}.json"))
}

/// Runs `ip ARGS`, turning a failure into a one-line error.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Command("iproute2 is not installed (no \"ip\" command)".into())
        } else {
            Error::io("running ip", e)
        }
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn namespace_exists(ns: &str) -> bool {
    std::path::Path::new("/run/netns").join(ns).exists()
}

fn write_sysctl(path: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

impl LabOptions {
    fn check(&self) -> Result<()> {
        if !(1..=150).contains(&self.hosts) {
            return Err(Error::Config("the lab has 1 to 150 hosts".into()));
        }
        crate::control::check_name(&self.prefix)?;
        let longest = format!("{}{}-vsw", stem(&self.prefix), self.hosts);
        if longest.len() >= libc::IFNAMSIZ {
            return Err(Error::Config(format!(
                "prefix \"{}\" is too long: interface \"{longest}\" would exceed 15 characters",
                self.prefix
            )));
        }
        if !sys::is_root() {
            return Err(Error::PermissionDenied(
                "building namespaces needs CAP_SYS_ADMIN".into(),
            ));
        }
        Ok(())
    }
}

/// Builds a lab; on failure removes whatever it had made.
pub fn up(opts: &LabOptions) -> Result<Lab> {
    opts.check()?;
    let s = stem(&opts.prefix);
    for k in 1..=opts.hosts {
        refuse_existing_namespace(&format!("{}{k}", opts.prefix), &opts.prefix)?;
        let port = format!("{s}{k}-vsw");
        if sys::if_index(&port).is_ok() {
            return Err(Error::Config(format!(
                "interface \"{port}\" already exists (vswitch lab down --prefix {})",
                opts.prefix
            )));
        }
    }
    let mut lab = Lab {
        prefix: opts.prefix.clone(),
        subnet: opts.subnet.to_string(),
        ..Lab::default()
    };
    let built = build(opts, &mut lab);
    kept_or_removed(lab, built)
}

fn build(opts: &LabOptions, lab: &mut Lab) -> Result<()> {
    let s = stem(&opts.prefix);
    for k in 1..=opts.hosts {
        let ns = format!("{}{k}", opts.prefix);
        let inner = format!("veth{k}");
        let port = format!("{s}{k}-vsw");
        let addr = opts.subnet.host(k);
        let mac = format!("02:00:00:00:01:{k:02x}");
        ip(&["netns", "add", &ns])?;
        lab.namespaces.push(ns.clone());
        ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", &inner, "address", &mac, "netns",
            &ns,
        ])?;
        lab.ports.push(port.clone());
        // No IPv6: no DAD, router or MLD chatter in the tests' captures.
        let _ = write_sysctl(&format!("/proc/sys/net/ipv6/conf/{port}/disable_ipv6"), "1");
        sys::in_netns(&format!("/run/netns/{ns}"), move || {
            let _ = write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
            let _ = write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
            Ok(())
        })
        .map_err(|e| Error::io(format!("setting up {inner} in {ns}"), e))?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &inner,
        ])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns, "link", "set", &inner, "up"])?;
        ip(&["link", "set", &port, "up"])?;
        lab.addresses.push(addr);
    }
    if opts.gateway {
        let gw = format!("{s}gw");
        let gw_port = format!("{s}gw-vsw");
        ip(&["link", "add", &gw, "type", "veth", "peer", "name", &gw_port])?;
        lab.gateway = Some(gw.clone());
        lab.ports.push(gw_port.clone());
        let _ = write_sysctl(&format!("/proc/sys/net/ipv6/conf/{gw}/disable_ipv6"), "1");
        let _ = write_sysctl(
            &format!("/proc/sys/net/ipv6/conf/{gw_port}/disable_ipv6"),
            "1",
        );
        let gw_addr = opts.subnet.gateway();
        ip(&["addr", "add", &format!("{gw_addr}/24"), "dev", &gw])?;
        ip(&["link", "set", &gw, "up"])?;
        ip(&["link", "set", &gw_port, "up"])?;
        for ns in &lab.namespaces {
            ip(&["-n", ns, "route", "add", "default", "via", &gw_addr])?;
        }
    }
    wait_for_carrier(&lab.ports);
    Ok(())
}

/// Waits (up to 3 s) until every port has carrier, so that a switch started
/// right after `lab up` finds its ports up.
fn wait_for_carrier(ports: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        let all_up = ports
            .iter()
            .all(|p| sys::if_flags(p).map(crate::link::flags_up).unwrap_or(false));
        if all_up {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn save(lab: &Lab) {
    let _ = std::fs::create_dir_all(crate::control::SOCKET_DIR);
    if let Ok(json) = serde_json::to_vec_pretty(lab) {
        let _ = std::fs::write(record_path(&lab.prefix), json);
    }
}

fn teardown(lab: &Lab) -> Vec<String> {
    let mut errors = Vec::new();
    for port in lab.ports.iter().chain(lab.gateway.iter()) {
        if sys::if_index(port).is_ok() {
            if let Err(e) = ip(&["link", "del", port]) {
                // Deleting one end removes the other: only a real failure counts.
                if sys::if_index(port).is_ok() {
                    errors.push(e.to_string());
                }
            }
        }
    }
    for ns in &lab.namespaces {
        if namespace_exists(ns) {
            if let Err(e) = ip(&["netns", "del", ns]) {
                errors.push(e.to_string());
            }
        }
    }
    errors
}

/// How to build an overlay lab: two machines joined by an underlay.
#[derive(Clone, Debug)]
pub struct OverlayOptions {
    /// Hosts behind each machine, 1..=50.
    pub hosts: u32,
    /// Namespace name prefix: machines `{prefix}m1`, `{prefix}m2`; hosts
    /// `{prefix}K` as in an ordinary lab.
    pub prefix: String,
    /// The hosts' network (host K gets .100+K).
    pub subnet: Subnet,
    /// The underlay: machine M gets .100+M on its `underlay` veth.
    pub underlay: Subnet,
}

/// An overlay lab: namespaces `{prefix}m1` and `{prefix}m2` are two machines
/// joined by a veth named `underlay` in each (the underlay network); behind
/// each machine wait `hosts` hosts, each in its own namespace `{prefix}K` on
/// `vethK`, whose peer `{prefix}K-vsw` is in the machine's namespace, ready
/// for a switch running there (`ip netns exec {prefix}m1 vswitch run ...`).
/// `lab down --prefix` removes it.
pub fn overlay(opts: &OverlayOptions) -> Result<Lab> {
    crate::control::check_name(&opts.prefix)?;
    if !(1..=50).contains(&opts.hosts) {
        return Err(Error::Config(format!(
            "{} hosts per machine: 1 to 50, please",
            opts.hosts
        )));
    }
    if opts.subnet == opts.underlay {
        return Err(Error::Config(
            "the hosts and the underlay need two networks".into(),
        ));
    }
    let machines = [format!("{}m1", opts.prefix), format!("{}m2", opts.prefix)];
    for ns in machines.iter() {
        refuse_existing_namespace(ns, &opts.prefix)?;
    }
    let mut lab = Lab {
        prefix: opts.prefix.clone(),
        subnet: opts.subnet.to_string(),
        ..Lab::default()
    };
    let built = build_overlay(opts, &machines, &mut lab);
    kept_or_removed(lab, built)
}

/// Refuses to build over namespace `ns`, which a lab with `prefix` left.
fn refuse_existing_namespace(ns: &str, prefix: &str) -> Result<()> {
    if namespace_exists(ns) {
        return Err(Error::Config(format!(
            "namespace \"{ns}\" already exists (vswitch lab down --prefix {prefix})"
        )));
    }
    Ok(())
}

/// A lab that was built is recorded for `down`; one that failed half-way is
/// removed again.
fn kept_or_removed(lab: Lab, built: Result<()>) -> Result<Lab> {
    match built {
        Ok(()) => {
            save(&lab);
            Ok(lab)
        }
        Err(e) => {
            teardown(&lab);
            Err(e)
        }
    }
}

/// A new namespace with loopback up and IPv6 off.
fn new_namespace(ns: &str, lab: &mut Lab) -> Result<()> {
    ip(&["netns", "add", ns])?;
    lab.namespaces.push(ns.to_string());
    sys::in_netns(&format!("/run/netns/{ns}"), move || {
        let _ = write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
        let _ = write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
        Ok(())
    })
    .map_err(|e| Error::io(format!("setting up namespace {ns}"), e))?;
    ip(&["-n", ns, "link", "set", "lo", "up"])
}

fn build_overlay(opts: &OverlayOptions, machines: &[String; 2], lab: &mut Lab) -> Result<()> {
    for m in machines {
        new_namespace(m, lab)?;
    }
    ip(&[
        "link",
        "add",
        "underlay",
        "netns",
        &machines[0],
        "type",
        "veth",
        "peer",
        "name",
        "underlay",
        "netns",
        &machines[1],
    ])?;
    for (i, m) in machines.iter().enumerate() {
        let addr = format!("{}/24", opts.underlay.host(i as u32 + 1));
        ip(&["-n", m, "addr", "add", &addr, "dev", "underlay"])?;
        ip(&["-n", m, "link", "set", "underlay", "up"])?;
    }
    let s = stem(&opts.prefix);
    for k in 1..=2 * opts.hosts {
        let machine = &machines[((k - 1) / opts.hosts) as usize];
        let ns = format!("{}{k}", opts.prefix);
        new_namespace(&ns, lab)?;
        let (inner, port) = (format!("veth{k}"), format!("{s}{k}-vsw"));
        let mac = format!("02:00:00:00:01:{k:02x}");
        ip(&[
            "link", "add", &port, "netns", machine, "type", "veth", "peer", "name", &inner,
            "address", &mac, "netns", &ns,
        ])?;
        lab.ports.push(port.clone());
        let addr = opts.subnet.host(k);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &inner,
        ])?;
        // Room for the 50 bytes of VXLAN headers on a 1500-byte underlay.
        ip(&["-n", &ns, "link", "set", &inner, "mtu", "1450", "up"])?;
        ip(&["-n", machine, "link", "set", &port, "up"])?;
        lab.addresses.push(addr);
    }
    Ok(())
}

/// Removes the lab with `prefix`: what its record lists, else the namespaces
/// `{prefix}K` found (which takes their veth pairs with them) and the gateway.
/// Returns what was removed.
pub fn down(prefix: &str) -> Result<Lab> {
    crate::control::check_name(prefix)?;
    let path = record_path(prefix);
    let lab = match std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Lab>(&b).ok())
    {
        Some(lab) => lab,
        None => scan(prefix),
    };
    let errors = teardown(&lab);
    let _ = std::fs::remove_file(&path);
    if errors.is_empty() {
        Ok(lab)
    } else {
        Err(Error::Command(errors.join("; ")))
    }
}

fn scan(prefix: &str) -> Lab {
    let mut lab = Lab {
        prefix: prefix.to_string(),
        ..Lab::default()
    };
    let s = stem(prefix);
    if let Ok(dir) = std::fs::read_dir("/run/netns") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(k) = name.strip_prefix(prefix) {
                if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) {
                    lab.namespaces.push(name);
                }
            }
        }
    }
    let gw = format!("{s}gw");
    if sys::if_index(&gw).is_ok() {
        lab.gateway = Some(gw);
    }
    lab
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn subnets_are_private_slash_24s() {
        let s: Subnet = "10.1.2.0/24".parse().unwrap();
        assert_eq!(s.host(1), "10.1.2.101");
        assert_eq!(s.gateway(), "10.1.2.254");
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert_eq!("192.168.7.0".parse::<Subnet>(), Ok(Subnet([192, 168, 7])));
        for bad in [
            "172.16.0.0/24",
            "8.8.8.0/24",
            "10.1.2.5/24",
            "10.1.0.0/16",
            "x",
        ] {
            let e = bad.parse::<Subnet>().unwrap_err();
            assert!(e.contains("10.0.0.0/8 or 192.168.0.0/16"), "{bad}: {e}");
        }
    }
}
