//! A live reload (`vswitch reload`, SIGHUP, `systemctl reload`): the
//! configuration file read again, the run flags laid over it again, and the
//! difference applied without a restart. Ports the file attaches and no
//! longer lists are detached, ports it now lists are attached; ports given on
//! the command line or by `vswitch add` are the file's business only once it
//! names them. Entries of ports that did not change stay learned.
//!
//! Nothing changes unless all of it can: the file is checked first, and new
//! ports are attached before anything else, taken back if one fails.

use super::LinuxSwitch;
use crate::config::{Overrides, RunConfig};
use crate::control::ReloadReport;
use crate::error::{Error, Result};
use crate::notify;
use crate::target::PortTarget;
use std::path::PathBuf;
use vswitch_core::spec::SwitchSpec;
use vswitch_core::PortId;

/// Where a reload reads from, and what it lays over the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigSource {
    /// The configuration file.
    pub path: PathBuf,
    /// The flags `run` was given.
    pub overrides: Overrides,
    /// The ports the file listed at start (`attach`).
    pub attach: Vec<String>,
}

impl LinuxSwitch {
    /// Reloads, telling the service manager, and logs the outcome in one line.
    pub(super) fn reload_logged(&mut self) -> Result<ReloadReport> {
        let _ = notify::send("RELOADING=1");
        let r = self.reload();
        match &r {
            Ok(report) => tracing::info!("{report}"),
            Err(e) => tracing::error!("reload refused, the switch runs on as it was: {e}"),
        }
        let _ = notify::send(&format!("READY=1\nSTATUS={}", self.status()));
        r
    }

    /// The one-line status the service manager shows.
    pub(super) fn status(&self) -> String {
        let n = self.ports.iter().flatten().count();
        format!(
            "forwarding on {n} port{}, {} MAC entries",
            if n == 1 { "" } else { "s" },
            self.sw.fdb().len()
        )
    }

    fn reload(&mut self) -> Result<ReloadReport> {
        let Some(source) = self.config_source.clone() else {
            return Err(Error::Config(
                "the switch was started without --config: there is no file to reload".into(),
            ));
        };
        let file = RunConfig::load(&source.path)?;
        let mut spec = file.switch;
        source.overrides.apply(&mut spec);
        let config = spec
            .to_config(self.seed)
            .map_err(|e| Error::Config(format!("{}: {e}", source.path.display())))?;
        let mut report = ReloadReport {
            config: source.path.display().to_string(),
            settings: changed_settings(&self.spec, &spec),
            ..ReloadReport::default()
        };

        // Attach first, with the new settings: if one fails, take back the
        // others and keep everything as it was.
        let old_spec = std::mem::replace(&mut self.spec, spec);
        let known: Vec<String> = self
            .ports
            .iter()
            .flatten()
            .filter_map(|s| s.from_file.clone())
            .collect();
        let mut attached = Vec::new();
        for wanted in file.attach.iter().filter(|w| !known.contains(w)) {
            match self.attach_for_file(wanted) {
                Ok(Some(id)) => {
                    attached.push(id);
                    report.added.push(wanted.clone());
                }
                Ok(None) => {}
                Err(e) => {
                    for id in attached {
                        self.remove_port(id, "reload refused");
                    }
                    self.spec = old_spec;
                    return Err(Error::Config(format!(
                        "{}: {wanted}: {e}",
                        source.path.display()
                    )));
                }
            }
        }
        for i in 0..self.ports.len() {
            let id = PortId(i as u16);
            let gone = self.ports[i]
                .as_ref()
                .and_then(|s| s.from_file.as_ref())
                .is_some_and(|f| !file.attach.contains(f));
            if gone {
                if let Some(name) = self.remove_port(id, "no longer in the configuration") {
                    report.removed.push(name);
                }
            }
        }

        let now = self.now();
        self.sw
            .reconfigure(config, now)
            .map_err(|e| Error::Config(e.to_string()))?;
        for i in 0..self.ports.len() {
            let id = PortId(i as u16);
            let Some(slot) = &self.ports[i] else { continue };
            let name = slot.port.name().to_string();
            let Ok(mut want) = self.spec.port_config(&name) else {
                continue; // checked when the file was read
            };
            want.tunnel = slot.port.vxlan().is_some();
            let changed = self.sw.port(id).is_some_and(|p| p.config != want);
            if changed && !attached.contains(&id) {
                let _ = self.sw.set_port_config(id, want);
                report.changed.push(name);
            }
        }
        self.apply_stp_spec();
        Ok(report)
    }

    /// Attaches `wanted` for the file, or takes over a port already attached
    /// under that name (by the command line or `vswitch add`): `Some(id)` of a
    /// port attached now.
    fn attach_for_file(&mut self, wanted: &str) -> Result<Option<PortId>> {
        match self.add_port(wanted) {
            Ok(added) => {
                let id = PortId(added.port);
                if let Some(slot) = self.slot(id) {
                    slot.from_file = Some(wanted.to_string());
                }
                tracing::info!("attached port {} {} on reload", added.port, added.ifname);
                Ok(Some(id))
            }
            Err(Error::AlreadyAttached(name)) => {
                // A tunnel port whose spec changed (a remote, a VNI) is
                // attached again with the new one; its entries go with it.
                if let Ok(PortTarget::Vxlan(new)) = PortTarget::parse(wanted) {
                    let id = self.port_id_by_name(&name);
                    let old = id
                        .and_then(|id| self.slot(id))
                        .and_then(|s| s.port.vxlan())
                        .map(|v| v.spec().clone());
                    if let (Some(id), Some(old)) = (id, old) {
                        if old != new {
                            self.remove_port(id, "its tunnel changed in the configuration");
                            return self.attach_for_file(wanted);
                        }
                    }
                }
                if let Some(id) = self.port_id_by_name(&name) {
                    if let Some(slot) = self.slot(id) {
                        slot.from_file = Some(wanted.to_string());
                    }
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// The names of the switch-wide settings that differ.
fn changed_settings(old: &SwitchSpec, new: &SwitchSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, differ: bool| {
        if differ {
            out.push(name.to_string());
        }
    };
    check("hub", old.hub != new.hub);
    check("aging", old.aging.to_bits() != new.aging.to_bits());
    check("capacity", old.capacity != new.capacity);
    check("eviction", old.eviction != new.eviction);
    check("vlan-aware", old.vlan_aware != new.vlan_aware);
    check(
        "group-forward-mask",
        old.group_forward_mask != new.group_forward_mask,
    );
    check("move-guard", old.move_guard != new.move_guard);
    out
}
