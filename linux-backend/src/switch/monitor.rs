//! The switch's events: drained from the core's event log once per loop turn,
//! sent to `vswitch monitor` clients as JSON lines, and moves written to the
//! log, rate-limited.
//!
//! Sequence numbers are the core's: a client sees them increase, and a gap
//! only after a `missed` line saying how many events it lost (the core's queue
//! overflowed within one turn, the queue to the control thread was full, or
//! the client reads too slowly), after which it can read the table again with
//! `fdb show`.

use super::LinuxSwitch;
use crate::control_server::missed_line;
use std::time::{Duration, Instant};
use vswitch_core::events::flood_name;
use vswitch_core::{Event, PortId, Record};

/// Events the core keeps between two drains (one loop turn); more are
/// counted as missed.
pub(super) const EVENT_QUEUE: usize = 16384;
/// Moves written to the log per [`MOVE_LOG_WINDOW`], at most.
const MOVE_LOG_BURST: u32 = 10;
/// The window of [`MOVE_LOG_BURST`].
const MOVE_LOG_WINDOW: Duration = Duration::from_secs(10);

/// A monitoring client, as the forwarding thread sees it.
struct Client {
    id: u64,
    /// Events not handed to the control thread (its queue was full), and
    /// the sequence number of the first.
    missed: u64,
    missed_from: u64,
}

/// Monitoring clients, port names for events, the move log's rate limit.
#[derive(Default)]
pub(super) struct Monitor {
    clients: Vec<Client>,
    /// Port names by number, kept after a port goes, for its last events.
    names: Vec<String>,
    window_start: Option<Instant>,
    moves_logged: u32,
    moves_unlogged: u64,
    /// Events by kind since the start, for the metrics.
    totals: crate::metrics::EventTotals,
}

impl Monitor {
    /// Remembers the name of port `id`.
    pub(super) fn name_port(&mut self, id: PortId, name: &str) {
        let i = usize::from(id.0);
        if self.names.len() <= i {
            self.names.resize(i + 1, String::new());
        }
        self.names[i] = name.to_string();
    }

    fn name(&self, id: PortId) -> String {
        match self.names.get(usize::from(id.0)) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => format!("port{id}"),
        }
    }

    /// Events by kind since the start (a `missed` counts its events).
    pub(super) fn totals(&self) -> crate::metrics::EventTotals {
        self.totals
    }

    /// Adds a monitoring client.
    pub(super) fn add(&mut self, id: u64) {
        self.clients.push(Client {
            id,
            missed: 0,
            missed_from: 0,
        });
    }

    /// Forgets a client that went away.
    pub(super) fn forget(&mut self, id: u64) {
        self.clients.retain(|c| c.id != id);
    }

    /// True if a move may be written to the log now: at most
    /// [`MOVE_LOG_BURST`] per window; the ones over are counted, and the
    /// count is logged when the next window opens.
    fn may_log_move(&mut self) -> bool {
        let now = Instant::now();
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) >= MOVE_LOG_WINDOW {
            if self.moves_unlogged > 0 {
                tracing::warn!(
                    "{} more MAC moves not logged (at most {MOVE_LOG_BURST} per {} s)",
                    self.moves_unlogged,
                    MOVE_LOG_WINDOW.as_secs()
                );
            }
            self.window_start = Some(now);
            self.moves_logged = 0;
            self.moves_unlogged = 0;
        }
        if self.moves_logged < MOVE_LOG_BURST {
            self.moves_logged += 1;
            true
        } else {
            self.moves_unlogged += 1;
            false
        }
    }

    /// One event as a JSON line: `seq`, `time` (seconds since the switch
    /// started), `event`, then its fields, ports by name.
    fn json(&self, r: &Record) -> serde_json::Value {
        use serde_json::json;
        let mut v = match r.event {
            Event::Learned { vid, mac, port }
            | Event::Aged { vid, mac, port }
            | Event::Evicted { vid, mac, port }
            | Event::MacLimit { vid, mac, port } => {
                json!({"mac": mac.to_string(), "vlan": vid, "port": self.name(port)})
            }
            Event::Moved { vid, mac, from, to } => json!({
                "mac": mac.to_string(), "vlan": vid,
                "from": self.name(from), "to": self.name(to)
            }),
            Event::HoldDown { vid, mac, port, to } => json!({
                "mac": mac.to_string(), "vlan": vid,
                "port": self.name(port), "to": self.name(to)
            }),
            Event::Flushed {
                count,
                port,
                reason,
            } => {
                let mut v = json!({"count": count, "reason": reason.name()});
                if let Some(p) = port {
                    v["port"] = self.name(p).into();
                }
                v
            }
            Event::PortAdded(p) | Event::PortRemoved(p) | Event::PortUp(p) | Event::PortDown(p) => {
                json!({"port": self.name(p)})
            }
            Event::StormStart { port, kind } => {
                json!({"port": self.name(port), "kind": flood_name(kind)})
            }
            Event::StormEnd {
                port,
                kind,
                dropped,
            } => json!({"port": self.name(port), "kind": flood_name(kind), "dropped": dropped}),
            Event::GuardShutdown { port, mac, until } => json!({
                "port": self.name(port), "mac": mac.to_string(),
                "until": until.millis() as f64 / 1000.0
            }),
            Event::Missed { count } => json!({ "count": count }),
        };
        v["seq"] = r.seq.into();
        v["time"] = (r.at.millis() as f64 / 1000.0).into();
        v["event"] = r.event.kind().into();
        v
    }
}

impl LinuxSwitch {
    /// Drains the core's events: moves to the log, everything to the
    /// monitoring clients. Formats nothing when no one monitors.
    pub(super) fn drain_events(&mut self) {
        let mut monitor = std::mem::take(&mut self.monitor);
        let mut out = Vec::new();
        let mut items = 0u64;
        let mut first = None;
        self.sw.drain_events(|r| {
            monitor.totals[r.event.index()] += r.event.weight();
            if let Event::Moved { vid, mac, from, to } = r.event {
                // The line is made only when it is written.
                if monitor.may_log_move() {
                    tracing::warn!(
                        "MAC {mac} vlan {vid} moved from {} to {}",
                        monitor.name(from),
                        monitor.name(to)
                    );
                }
            }
            if let Event::Missed { count } = r.event {
                tracing::warn!("{count} switch events lost: the event queue was full");
            }
            if monitor.clients.is_empty() {
                return;
            }
            first.get_or_insert(r.seq);
            let _ = serde_json::to_writer(&mut out, &monitor.json(&r));
            out.push(b'\n');
            items += r.event.weight();
        });
        if let Some(first) = first {
            for c in &mut monitor.clients {
                let (bytes, n, from) = if c.missed > 0 {
                    let mut b = missed_line(c.missed_from, c.missed);
                    b.extend_from_slice(&out);
                    (b, items + c.missed, c.missed_from)
                } else {
                    (out.clone(), items, first)
                };
                if self.control.events(c.id, bytes, n, from) {
                    c.missed = 0;
                } else if c.missed == 0 {
                    c.missed = items;
                    c.missed_from = first;
                } else {
                    c.missed += items;
                }
            }
        }
        self.monitor = monitor;
    }
}
