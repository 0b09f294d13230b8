//! Multicast in the simulation: hosts joining and leaving groups (smoltcp's
//! IGMPv2), the switches' own queriers and group-table expiry on the virtual
//! clock, and each host's count of the group streams that reached it.

use super::{Action, SimError, Simulation};
use crate::results::GroupRx;
use crate::scenario::{is_stream_group, Scenario};
use std::net::Ipv4Addr;
use vswitch_core::{Instant, PortId, TxError};

/// How often a snooping switch's timer runs: it sends the own querier's
/// due queries and expires memberships, as the Linux switch's aging timer does.
pub(super) const TICK_NS: u64 = 100_000_000;

/// The group and payload size of a frame that is an IPv4 UDP datagram to a
/// stream group (not IGMP, not link-local).
pub(super) fn stream_group(frame: &[u8]) -> Option<(Ipv4Addr, u64)> {
    const IP: usize = 14;
    if frame.len() < IP + 28 || frame[12..14] != [0x08, 0x00] || frame[IP + 9] != 17 {
        return None;
    }
    let dst = Ipv4Addr::new(
        frame[IP + 16],
        frame[IP + 17],
        frame[IP + 18],
        frame[IP + 19],
    );
    let ihl = usize::from(frame[IP] & 0x0f) * 4;
    let udp_len = frame
        .get(IP + ihl + 4..IP + ihl + 6)
        .map_or(8, |l| u16::from_be_bytes([l[0], l[1]]));
    is_stream_group(dst).then_some((dst, u64::from(udp_len.saturating_sub(8))))
}

/// Counts a stream datagram of `group` with `bytes` of payload received at
/// `now` in `rx`.
pub(super) fn count(rx: &mut Vec<GroupRx>, (group, bytes): (Ipv4Addr, u64), now: u64) {
    let name = group.to_string();
    match rx.iter_mut().find(|g| g.group == name) {
        Some(g) => {
            g.frames += 1;
            g.bytes += bytes;
            g.last_ns = now;
        }
        None => rx.push(GroupRx {
            group: name,
            frames: 1,
            bytes,
            first_ns: now,
            last_ns: now,
        }),
    }
}

impl Simulation {
    /// Schedules the joins and leaves of `s`, and the timers of the switches
    /// that snoop.
    pub(super) fn add_mcast(&mut self, s: &Scenario) -> Result<(), SimError> {
        for j in &s.joins {
            let host = s
                .host_index(&j.host)
                .ok_or_else(|| SimError::Config(format!("join: no host {:?}", j.host)))?
                as u32;
            let group = u32::from(j.group);
            self.clock.at(
                j.at.0,
                Action::Join {
                    host,
                    group,
                    join: true,
                },
            );
            if let Some(leave) = j.leave {
                self.clock.at(
                    leave.0,
                    Action::Join {
                        host,
                        group,
                        join: false,
                    },
                );
            }
        }
        for (i, sw) in self.switches.iter().enumerate() {
            if sw.switch.config().mcast.snooping {
                self.clock.at(0, Action::McastTick(i as u32));
            }
        }
        Ok(())
    }

    /// Host `h` joins or leaves `group`; smoltcp sends the report or leave
    /// when polled.
    pub(super) fn join(&mut self, h: usize, group: Ipv4Addr, join: bool) {
        let iface = &mut self.hosts[h].host.iface;
        // A group of the scenario is a multicast address, and a host joins
        // a handful at most: neither call fails.
        let _ = if join {
            iface.join_multicast_group(group)
        } else {
            iface.leave_multicast_group(group)
        };
        self.poll_host(h);
    }

    /// Switch `si`'s timer: expires memberships, sends the own querier's
    /// queries that are due (into the port captures too, not the trace or
    /// the timeline), and comes back in [`TICK_NS`].
    pub(super) fn mcast_tick(&mut self, si: usize) {
        let now = self.clock.now;
        let sw = &mut self.switches[si];
        sw.switch.advance(Instant::from_nanos(now));
        let mut queries: Vec<(u16, Vec<u8>)> = Vec::new();
        sw.switch
            .send_queries(Instant::from_nanos(now), |port: PortId, frame| {
                if sw
                    .port_wire
                    .get(usize::from(port.0))
                    .is_none_or(Option::is_none)
                {
                    return Err(TxError::Full);
                }
                queries.push((port.0, frame.to_vec()));
                Ok(())
            });
        // Events are for a log; the simulation has none.
        sw.switch.mdb_mut().drain_events().for_each(drop);
        for (port, frame) in queries {
            let Some((wire, side, _)) = self.switches[si].port_wire[usize::from(port)] else {
                continue;
            };
            if let Some(c) = self.capture.as_mut() {
                if let Err(e) = c.ports[si][usize::from(port)].write(now, &frame) {
                    let sw = &self.switches[si];
                    let name = &sw.port_names[usize::from(port)];
                    self.error.get_or_insert(SimError::Capture {
                        path: c.dir.join(format!("switch-{}-{name}.pcap", sw.name)),
                        message: e.to_string(),
                    });
                }
            }
            let frame = self.frames.put(frame);
            // A full queue counts on the wire, as for any frame.
            let _ = self.send(wire, side, frame);
        }
        if now + TICK_NS < self.end {
            self.clock.at(now + TICK_NS, Action::McastTick(si as u32));
        }
    }
}
