//! Link events of the running switch: a port follows its interface's
//! carrier and MTU, and goes when the interface does.

use super::LinuxSwitch;
use crate::link::{self, LinkEvent};
use crate::sys;
use vswitch_core::PortId;

impl LinuxSwitch {
    pub(super) fn on_link_events(&mut self) {
        // Events of the link changes (a port down) carry this time.
        let now = self.now();
        self.sw.advance(now);
        let mut events = Vec::new();
        if let Err(e) = self.links.read(&mut events) {
            tracing::warn!("link events lost ({e}); re-reading port state");
            self.resync_links();
        }
        for ev in events {
            self.on_link_event(&ev);
        }
    }

    fn on_link_event(&mut self, ev: &LinkEvent) {
        let Some(i) = self.ports.iter().position(|p| {
            p.as_ref()
                .is_some_and(|p| p.port.ifindex() == ev.index && p.port.follows_link_events())
        }) else {
            return;
        };
        let id = PortId(i as u16);
        if ev.deleted {
            self.remove_port(id, "interface disappeared");
            return;
        }
        if let (Some(mtu), Some(slot)) = (ev.mtu, self.slot(id)) {
            slot.port.set_mtu(mtu);
        }
        self.set_up(id, ev.up);
    }

    fn set_up(&mut self, id: PortId, up: bool) {
        let was = self.sw.port(id).map(|p| p.up);
        if was == Some(up) {
            return;
        }
        let _ = self.sw.set_port_up(id, up);
        let name = self.port_name(id);
        if up {
            self.stp_duplex(id);
            tracing::info!("port {id} {name} is up");
        } else {
            tracing::warn!("port {id} {name} is down: its learned entries are flushed");
        }
        // The spanning tree's answer to a link going (a new root port, a
        // claim to be root) goes out now, not at the next timer tick: that is
        // what makes a failover take milliseconds rather than up to a second.
        self.run_stp();
    }

    fn resync_links(&mut self) {
        for i in 0..self.ports.len() {
            let Some(slot) = &self.ports[i] else { continue };
            if !slot.port.follows_link_events() {
                continue;
            }
            let id = PortId(i as u16);
            match sys::if_name(slot.port.ifindex()) {
                None => {
                    self.remove_port(id, "interface disappeared");
                }
                Some(name) => {
                    let up = sys::if_flags(&name).map(link::flags_up).unwrap_or(false);
                    self.set_up(id, up);
                }
            }
        }
    }
}
