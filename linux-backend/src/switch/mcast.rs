//! Multicast snooping on the running switch: the own querier's queries sent
//! from the timer, the snooping's events written to the log, and the group
//! table as `mdb show` reports it.

use super::LinuxSwitch;
use crate::control::{MdbReport, MdbRow, QuerierRow};
use vswitch_core::{PortId, TxError};

impl LinuxSwitch {
    /// Sends the own querier's queries that are due, then logs what the
    /// snooping saw since the last tick. Called from the aging timer.
    pub(super) fn mcast_tick(&mut self, now: vswitch_core::Instant) {
        if !self.sw.config().mcast.snooping {
            return;
        }
        let ports = &mut self.ports;
        let mut sent = false;
        self.sw.send_queries(now, |port, frame| {
            let Some(Some(slot)) = ports.get_mut(usize::from(port.0)) else {
                return Err(TxError::Full);
            };
            sent = true;
            slot.port.send(frame, Default::default())
        });
        if sent {
            self.flush_ports();
        }
        let events: Vec<_> = self.sw.mdb_mut().drain_events().collect();
        for e in events {
            // Port numbers in the log as interface names.
            let line = e.to_string();
            let named = self.name_ports(&line);
            tracing::info!("mcast: {named}");
        }
    }

    /// `line` with "port N" written as "port N (IFNAME)".
    fn name_ports(&self, line: &str) -> String {
        let mut out = String::new();
        let mut words = line.split(' ').peekable();
        while let Some(w) = words.next() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
            if w == "port" {
                if let Some(n) = words.peek().and_then(|n| n.parse::<u16>().ok()) {
                    words.next();
                    out.push_str(&format!(" {n} ({})", self.port_name(PortId(n))));
                }
            }
        }
        out
    }

    /// The group table, router ports and queriers, for `mdb show`.
    pub(super) fn mdb_show(&self) -> MdbReport {
        let mdb = self.sw.mdb();
        let now = self.now();
        let mut groups = Vec::new();
        for g in mdb.groups() {
            for m in &g.members {
                if m.expires <= now {
                    continue;
                }
                groups.push(MdbRow {
                    ifname: self.port_name(m.port),
                    port: m.port.0,
                    grp: g.group.to_string(),
                    vid: g.vid,
                    state: "temp".into(),
                    timer: m.expires.saturating_since(now).as_secs_f64(),
                    frames: g.frames,
                    bytes: g.bytes,
                });
            }
        }
        let routers = self
            .sw
            .ports()
            .filter(|(id, p)| mdb.is_router(*id, &p.config.mcast))
            .map(|(id, _)| self.port_name(id))
            .collect();
        let mut queriers = Vec::new();
        let mut vids: Vec<u16> = mdb.groups().map(|g| g.vid).collect();
        vids.push(0);
        vids.sort_unstable();
        vids.dedup();
        for vid in vids {
            for v6 in [false, true] {
                let family = if v6 { "ipv6" } else { "ipv4" };
                let querier = match mdb.other_querier(vid, v6) {
                    Some(a) => a.to_string(),
                    None if mdb.own_querier_active(vid, v6) => "self".into(),
                    None => continue,
                };
                queriers.push(QuerierRow {
                    vid,
                    family: family.into(),
                    querier,
                });
            }
        }
        let s = mdb.stats();
        MdbReport {
            snooping: mdb.config().snooping,
            querier: mdb.config().querier,
            groups,
            routers,
            queriers,
            reports: s.reports,
            leaves: s.leaves,
            queries: s.queries,
            bad: s.bad,
            table_full: s.table_full,
            own_queries: s.own_queries,
        }
    }
}
