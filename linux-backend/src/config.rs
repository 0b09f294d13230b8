//! The configuration file of `vswitch run --config FILE`: the switch and port
//! settings of [`SwitchSpec`] plus the ports to attach, read and checked in
//! one place, for `run`, for a live reload and for `vswitch check-config`.
//!
//! ```toml
//! attach = ["veth1-vsw", "netns:vsw-ns2/veth2", "tap:tap0"]
//! aging = 300
//! vtep-db = "unix:/run/openvswitch/db.sock"
//! metrics = "127.0.0.1:9477"
//! [ports.veth1-vsw]
//! storm-broadcast = 1000
//! ```

use crate::error::{Error, Result};
use crate::target::PortTarget;
use std::path::Path;
use vswitch_core::spec::{EvictionSpec, StpSpec, SwitchSpec};

/// A configuration file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunConfig {
    /// Ports to attach, as on the command line: `IFACE`, `netns:NS/IFACE`,
    /// `pid:PID/IFACE` or `tap:NAME`.
    pub attach: Vec<String>,
    /// The switch and its ports' settings.
    pub switch: SwitchSpec,
    /// `vtep-db`: the OVSDB server of a hardware_vtep database to join
    /// ([`crate::vtep`]); read at start only.
    pub vtep_db: Option<String>,
    /// Where to serve Prometheus metrics (`metrics = "ADDR:PORT"`), read at
    /// start only.
    pub metrics: Option<std::net::SocketAddr>,
}

impl RunConfig {
    /// Parses and checks `text`, the contents of `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<RunConfig> {
        let bad = |e: toml::de::Error| {
            // toml's message spans lines (a caret under the spot): one line.
            let msg = e.message().trim().to_string();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            Error::Config(format!("{}{at}: {msg}", path.display()))
        };
        // `attach` first, then the rest as a switch spec, which refuses any
        // key it does not know (serde cannot refuse them through `flatten`).
        let mut table: toml::Table = toml::from_str(text).map_err(bad)?;
        let attach = match table.remove("attach") {
            Some(list) => list.try_into::<Vec<String>>().map_err(|_| {
                Error::Config(format!(
                    "{}: attach is a list of ports, like [\"veth1-vsw\", \"tap:tap0\"]",
                    path.display()
                ))
            })?,
            None => Vec::new(),
        };
        let vtep_db = match table.remove("vtep-db") {
            Some(toml::Value::String(r)) => {
                crate::ovsdb::Remote::parse(&r)
                    .map_err(|e| Error::Config(format!("{}: vtep-db {e}", path.display())))?;
                Some(r)
            }
            Some(_) => {
                return Err(Error::Config(format!(
                    "{}: vtep-db is a string, like \"unix:/run/openvswitch/db.sock\"",
                    path.display()
                )))
            }
            None => None,
        };
        let metrics = match table.remove("metrics") {
            Some(toml::Value::String(a)) => {
                Some(crate::metrics::parse_addr(&a).map_err(|e| match e {
                    Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
                    e => e,
                })?)
            }
            Some(_) => {
                return Err(Error::Config(format!(
                    "{}: metrics is an address as a string, like \"127.0.0.1:9477\"",
                    path.display()
                )))
            }
            None => None,
        };
        let switch: SwitchSpec = table.try_into().map_err(bad)?;
        let config = RunConfig {
            attach,
            switch,
            vtep_db,
            metrics,
        };
        config.check().map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            e => e,
        })?;
        Ok(config)
    }

    /// Reads, parses and checks the file at `path`.
    pub fn load(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        RunConfig::parse(&text, path)
    }

    /// Everything a switch would refuse at start: numbers out of range, bad
    /// VLANs, a port named twice or unparsable.
    pub fn check(&self) -> Result<()> {
        self.switch
            .to_config(0)
            .map_err(|e| Error::Config(e.to_string()))?;
        for (name, port) in &self.switch.ports {
            port.to_config()
                .map_err(|e| Error::Config(format!("[ports.{name}]: {e}")))?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for spec in &self.attach {
            PortTarget::parse(spec)?;
            if !seen.insert(spec.as_str()) {
                return Err(Error::Config(format!("attach names \"{spec}\" twice")));
            }
        }
        Ok(())
    }
}

/// Settings given as flags of `vswitch run`, laid over the file's at start
/// and again at every reload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// `--hub`.
    pub hub: bool,
    /// `--aging SECS`.
    pub aging: Option<f64>,
    /// `--capacity N`.
    pub capacity: Option<u32>,
    /// `--eviction`.
    pub eviction: Option<EvictionSpec>,
    /// `--group-forward-mask`.
    pub group_forward_mask: Option<u16>,
    /// `--storm-broadcast PPS`, every port.
    pub storm_broadcast: Option<u32>,
    /// `--mac-limit K`, every port.
    pub mac_limit: Option<u32>,
    /// `--move-guard MOVES/SECS`.
    pub move_guard: Option<(u32, f64)>,
    /// `--mcast-snooping`.
    pub mcast_snooping: bool,
    /// `--fdb-stats`.
    pub fdb_entry_stats: bool,
    /// `--mcast-querier` (implies snooping).
    pub mcast_querier: bool,
    /// `--stp rstp|stp|off`.
    pub stp: Option<StpSpec>,
    /// `--stp-priority N`.
    pub stp_priority: Option<u16>,
}

impl Overrides {
    /// Lays the flags over `spec`.
    pub fn apply(&self, spec: &mut SwitchSpec) {
        spec.hub |= self.hub;
        if let Some(aging) = self.aging {
            spec.aging = aging;
        }
        if let Some(c) = self.capacity {
            spec.capacity = c;
        }
        if let Some(e) = self.eviction {
            spec.eviction = e;
        }
        if let Some(m) = self.group_forward_mask {
            spec.group_forward_mask = m;
        }
        if self.storm_broadcast.is_some() || self.mac_limit.is_some() {
            // Every port: the ones the file names and, through `default`, the rest.
            spec.ports.entry("default".into()).or_default();
            for port in spec.ports.values_mut() {
                if let Some(pps) = self.storm_broadcast {
                    port.storm_broadcast = Some(pps);
                }
                if let Some(k) = self.mac_limit {
                    port.mac_limit = Some(k);
                }
            }
        }
        if let Some(stp) = self.stp {
            spec.stp = stp;
        }
        if let Some(p) = self.stp_priority {
            spec.stp_priority = p;
        }
        if let Some((moves, window)) = self.move_guard {
            let guard = spec.move_guard.get_or_insert_with(Default::default);
            guard.moves = moves;
            guard.window = window;
        }
        spec.mcast_snooping |= self.mcast_snooping || self.mcast_querier;
        spec.fdb_entry_stats |= self.fdb_entry_stats;
        spec.mcast_querier |= self.mcast_querier;
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn parse(text: &str) -> Result<RunConfig> {
        RunConfig::parse(text, Path::new("sw.toml"))
    }

    #[test]
    fn ports_and_settings_in_one_file() {
        let c = parse(
            "attach = [\"veth1-vsw\", \"tap:tap0\"]\naging = 60\n[ports.veth1-vsw]\nmac-limit = 4\n",
        )
        .unwrap();
        assert_eq!(c.attach, ["veth1-vsw", "tap:tap0"]);
        assert_eq!(c.switch.aging, 60.0);
        assert_eq!(c.switch.ports["veth1-vsw"].mac_limit, Some(4));
        assert_eq!(parse("").unwrap(), RunConfig::default());
        let c = parse("vtep-db = \"tcp:10.0.0.1:6640\"").unwrap();
        assert_eq!(c.vtep_db.as_deref(), Some("tcp:10.0.0.1:6640"));
    }

    #[test]
    fn metrics_address_in_the_file() {
        let c = parse("metrics = \"9477\"").unwrap();
        assert_eq!(c.metrics, Some("127.0.0.1:9477".parse().unwrap()));
        let c = parse("metrics = \"[::1]:9100\"\naging = 5").unwrap();
        assert_eq!(c.metrics, Some("[::1]:9100".parse().unwrap()));
        assert_eq!(parse("aging = 5").unwrap().metrics, None);
    }

    /// Per-entry FDB counters: off unless the file or `--fdb-stats` asks.
    #[test]
    fn fdb_entry_stats_from_the_file_or_the_flag() {
        let entry_stats = |c: &RunConfig| c.switch.to_config(0).unwrap().fdb.entry_stats;
        assert!(!entry_stats(&parse("aging = 60").unwrap()));
        assert!(entry_stats(&parse("fdb-entry-stats = true").unwrap()));
        let mut c = parse("aging = 60").unwrap();
        let flags = Overrides {
            fdb_entry_stats: true,
            ..Overrides::default()
        };
        flags.apply(&mut c.switch);
        assert!(entry_stats(&c));
    }

    #[test]
    fn multicast_snooping_settings() {
        let c = parse(
            "mcast-snooping = true\nmcast-querier = true\nmcast-unregistered = \"router-ports\"\n\
             mcast-querier-address = \"10.0.0.254\"\n[ports.up]\nmcast-router = \"always\"\n\
             [ports.default]\nmcast-fast-leave = true\n",
        )
        .unwrap();
        let config = c.switch.to_config(0).unwrap().mcast;
        assert!(config.snooping && config.querier);
        assert_eq!(config.unregistered, vswitch_core::Unregistered::RouterPorts);
        assert_eq!(config.querier_ipv4.to_string(), "10.0.0.254");
        let up = c.switch.port_config("up").unwrap().mcast;
        assert_eq!(up.router, vswitch_core::RouterMode::Always);
        assert!(c.switch.port_config("other").unwrap().mcast.fast_leave);
        let e = parse("mcast-unregistered = \"drop\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant"), "{e}");
        let e = parse("mcast-query-interval = 5").unwrap_err().to_string();
        assert!(e.contains("mcast-query-interval = 5 is not allowed"), "{e}");
    }

    #[test]
    fn bad_files_are_refused_in_one_line_naming_the_file() {
        for (text, want) in [
            ("aging = -1", "sw.toml: aging = -1 is not allowed"),
            ("agin = 5", "unknown field `agin`"),
            ("attach = 5", "attach is a list of ports"),
            ("vtep-db = 5", "vtep-db is a string"),
            (
                "vtep-db = \"ssl:1.2.3.4:6640\"",
                "allowed: unix:PATH or tcp:IP:PORT",
            ),
            ("attach = [\"a b\"]", "bad port \"a b\""),
            ("attach = [\"v1\", \"v1\"]", "attach names \"v1\" twice"),
            (
                "[ports.p1]\nvlan = { access = 5000 }",
                "[ports.p1]: VLAN id 5000",
            ),
            ("aging = ", "sw.toml (line 1)"),
            ("metrics = 9477", "metrics is an address as a string"),
            (
                "metrics = \"here\"",
                "sw.toml: metrics address \"here\": give ADDR:PORT",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{text:?}: {e}");
        }
    }
}
