//! `vswitch run --metrics ADDR:PORT`: the switch's counters for Prometheus, in
//! the text exposition format, from a tiny HTTP/1.1 server in a thread of its
//! own.
//!
//! The forwarding thread never waits for it: it publishes a [`Snapshot`]
//! (plain numbers) when the server asks for a fresh one (an eventfd in its
//! epoll) and on its one-second timer, taking the lock only if it is free. A scrape asks, waits at most
//! [`FRESH_WAIT`] for the next snapshot (a busy or stopped forwarding thread
//! gets the last one served), and is answered in one response, then closed.
//! A client gets [`IO_TIMEOUT`] to send its request and take the answer. When
//! the switch stops, connections waiting are answered `503` and the listening
//! socket is closed: a scrape of a stopping switch ends at once with an error,
//! never hangs.

use crate::error::{Error, Result};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vswitch_core::Event;
use vswitch_core::{DropReason, FdbStats, GuardStats, PortCounters};

/// The port Prometheus's exporter list has for no one in particular; used when
/// `--metrics` gives an address without one.
pub const DEFAULT_PORT: u16 = 9477;
/// How long a scrape waits for the forwarding thread's next snapshot.
pub const FRESH_WAIT: Duration = Duration::from_millis(1500);
/// How long a client may take to send its request, or to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head read.
const MAX_HEAD: usize = 8 << 10;

/// Where to listen: `ADDR:PORT`, `ADDR` (port [`DEFAULT_PORT`]) or `PORT`
/// (on 127.0.0.1). Fails with one line saying what is allowed.
pub fn parse_addr(text: &str) -> Result<SocketAddr> {
    let t = text.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    Err(Error::Config(format!(
        "metrics address \"{text}\": give ADDR:PORT (127.0.0.1:{DEFAULT_PORT}, [::1]:{DEFAULT_PORT}), an address, or a port"
    )))
}

/// One port's numbers.
#[derive(Clone, Debug, Default)]
pub struct PortSnapshot {
    /// Its interface name.
    pub name: String,
    /// Up (1) or not (0).
    pub up: bool,
    /// Its counters.
    pub counters: PortCounters,
}

/// What a scrape shows: the switch's numbers at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The switch's name.
    pub switch: String,
    /// Seconds since it started.
    pub uptime: f64,
    /// Every port.
    pub ports: Vec<PortSnapshot>,
    /// The table's totals.
    pub fdb: FdbStats,
    /// The table's capacity.
    pub capacity: u32,
    /// Move guard and MAC limit totals.
    pub guard: GuardStats,
    /// Events by kind (`storm-start`, `hold-down`, ...) since the start,
    /// in the order of [`Event::KINDS`].
    pub events: EventTotals,
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Snapshot {
    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096 + self.ports.len() * 2048);
        let sw = label(&self.switch);
        fn family(o: &mut String, name: &str, kind: &str, help: &str) {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        family(&mut o, "vswitch_up", "gauge", "1 while the switch runs.");
        let _ = writeln!(o, "vswitch_up{{switch=\"{sw}\"}} 1");
        family(
            &mut o,
            "vswitch_uptime_seconds",
            "gauge",
            "Seconds since the switch started.",
        );
        let _ = writeln!(
            o,
            "vswitch_uptime_seconds{{switch=\"{sw}\"}} {:.3}",
            self.uptime
        );
        family(
            &mut o,
            "vswitch_port_up",
            "gauge",
            "1 if the port is up, 0 if it is down.",
        );
        for p in &self.ports {
            let _ = writeln!(
                o,
                "vswitch_port_up{{switch=\"{sw}\",port=\"{}\"}} {}",
                label(&p.name),
                u8::from(p.up)
            );
        }
        type Get = fn(&PortCounters) -> u64;
        let port_counters: [(&str, &str, Get); 8] = [
            ("rx_frames", "Frames received.", |c| c.rx_frames),
            ("rx_bytes", "Bytes received.", |c| c.rx_bytes),
            ("tx_frames", "Frames sent.", |c| c.tx_frames),
            ("tx_bytes", "Bytes sent.", |c| c.tx_bytes),
            (
                "unicast_frames",
                "Frames received and forwarded to one known port.",
                |c| c.unicast,
            ),
            (
                "flood_frames",
                "Frames received and flooded (broadcast, multicast).",
                |c| c.flood,
            ),
            (
                "unknown_unicast_frames",
                "Frames received for an unknown unicast address, flooded.",
                |c| c.unknown_unicast,
            ),
            (
                "rx_errors",
                "Frames the device could not deliver readably.",
                |c| c.rx_errors,
            ),
        ];
        for (name, help, get) in port_counters {
            let metric = format!("vswitch_port_{name}_total");
            family(&mut o, &metric, "counter", help);
            for p in &self.ports {
                let _ = writeln!(
                    o,
                    "{metric}{{switch=\"{sw}\",port=\"{}\"}} {}",
                    label(&p.name),
                    get(&p.counters)
                );
            }
        }
        family(
            &mut o,
            "vswitch_port_drops_total",
            "counter",
            "Frames dropped, by port and reason.",
        );
        for p in &self.ports {
            for r in DropReason::ALL {
                let _ = writeln!(
                    o,
                    "vswitch_port_drops_total{{switch=\"{sw}\",port=\"{}\",reason=\"{}\"}} {}",
                    label(&p.name),
                    r.name(),
                    p.counters.drops(r)
                );
            }
        }
        family(
            &mut o,
            "vswitch_fdb_entries",
            "gauge",
            "Entries in the MAC table, by kind.",
        );
        let _ = writeln!(
            o,
            "vswitch_fdb_entries{{switch=\"{sw}\",kind=\"dynamic\"}} {}",
            self.fdb.current
        );
        let _ = writeln!(
            o,
            "vswitch_fdb_entries{{switch=\"{sw}\",kind=\"static\"}} {}",
            self.fdb.statics
        );
        family(
            &mut o,
            "vswitch_fdb_capacity_entries",
            "gauge",
            "The most dynamic entries the MAC table holds.",
        );
        let _ = writeln!(
            o,
            "vswitch_fdb_capacity_entries{{switch=\"{sw}\"}} {}",
            self.capacity
        );
        let f = &self.fdb;
        let fdb: [(&str, &str, u64); 6] = [
            ("learned", "New dynamic entries learned.", f.learned),
            ("moved", "Dynamic entries moved to another port.", f.moved),
            ("aged", "Dynamic entries removed by aging.", f.expired),
            (
                "evicted",
                "Dynamic entries evicted to make room (table full).",
                f.evicted,
            ),
            (
                "refused",
                "New MACs not learned: the table was full.",
                f.refused,
            ),
            (
                "flushed",
                "Entries removed by flushes (port down or removed, command, topology change).",
                f.flushed,
            ),
        ];
        for (name, help, v) in fdb {
            let metric = format!("vswitch_fdb_{name}_total");
            family(&mut o, &metric, "counter", help);
            let _ = writeln!(o, "{metric}{{switch=\"{sw}\"}} {v}");
        }
        let g = &self.guard;
        let guard: [(&str, &str, u64); 4] = [
            (
                "guard_hold_downs",
                "Move-guard hold-downs started.",
                g.hold_downs,
            ),
            (
                "guard_shutdowns",
                "Ports the move guard shut down.",
                g.shutdowns,
            ),
            (
                "guard_moves_blocked",
                "Moves the move guard refused.",
                g.moves_blocked,
            ),
            (
                "mac_limit_refused",
                "MACs a port's MAC limit refused to learn.",
                g.mac_limit_refused,
            ),
        ];
        for (name, help, v) in guard {
            let metric = format!("vswitch_{name}_total");
            family(&mut o, &metric, "counter", help);
            let _ = writeln!(o, "{metric}{{switch=\"{sw}\"}} {v}");
        }
        family(
            &mut o,
            "vswitch_events_total",
            "counter",
            "Events the switch recorded, by kind (as vswitch monitor shows them).",
        );
        // Every kind, so that each has a series from the start.
        for (kind, n) in Event::KINDS.iter().zip(self.events) {
            let _ = writeln!(
                o,
                "vswitch_events_total{{switch=\"{sw}\",event=\"{kind}\"}} {n}"
            );
        }
        o
    }
}

/// Events by kind, indexed by [`Event::index`].
pub type EventTotals = [u64; Event::KINDS.len()];

/// What the forwarding thread and the server share.
struct Shared {
    snapshot: Mutex<(u64, Snapshot)>,
    fresh: Condvar,
    /// A scrape waits for a fresh snapshot.
    wanted: AtomicBool,
    stop: AtomicBool,
    /// Wakes the forwarding thread (in its epoll) for a snapshot.
    wake: OwnedFd,
}

/// The forwarding thread's end: publishes snapshots.
pub struct MetricsLink {
    shared: Arc<Shared>,
}

impl MetricsLink {
    /// The descriptor that becomes readable when a scrape wants a snapshot;
    /// [`MetricsLink::publish`] clears it.
    pub fn fd(&self) -> RawFd {
        self.shared.wake.as_raw_fd()
    }

    /// True when a scrape waits for a fresh snapshot.
    pub fn wanted(&self) -> bool {
        self.shared.wanted.load(Ordering::Relaxed)
    }

    /// Publishes `make()`'s snapshot, unless the server holds the lock right
    /// now: then the wake-up is signalled again, so the forwarding loop comes
    /// back at once (the server holds the lock only between taking it and
    /// waiting). Never waits.
    pub fn publish(&self, make: impl FnOnce() -> Snapshot) {
        crate::sys::event_clear(self.fd());
        let Ok(mut slot) = self.shared.snapshot.try_lock() else {
            crate::sys::event_signal(self.fd());
            return;
        };
        slot.0 += 1;
        slot.1 = make();
        self.shared.wanted.store(false, Ordering::Relaxed);
        drop(slot);
        self.shared.fresh.notify_all();
    }
}

/// The server thread; stopped (connections waiting answered 503) on drop.
pub struct MetricsServer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Listens on `addr` and starts serving.
    pub fn start(addr: SocketAddr) -> Result<(MetricsServer, MetricsLink)> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::io(format!("cannot serve metrics on {addr}"), e))?;
        let addr = listener.local_addr().unwrap_or(addr);
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("metrics listener", e))?;
        let shared = Arc::new(Shared {
            snapshot: Mutex::new((0, Snapshot::default())),
            fresh: Condvar::new(),
            wanted: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            wake: crate::sys::event_fd().map_err(|e| Error::io("metrics eventfd", e))?,
        });
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("vswitch-metrics".into())
            .spawn(move || serve(listener, &serving))
            .map_err(|e| Error::io("starting the metrics thread", e))?;
        let link = MetricsLink {
            shared: Arc::clone(&shared),
        };
        Ok((
            MetricsServer {
                shared,
                thread: Some(thread),
                addr,
            },
            link,
        ))
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.fresh.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, shared: &Shared) {
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, shared, stopping) {
                    tracing::debug!("metrics client: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stopping {
                    // Everything that was waiting has had its 503.
                    return;
                }
                crate::sys::wait_readable(listener.as_raw_fd(), 200);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!("metrics: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads the request head (bounded in size and time) and answers it.
fn answer(mut stream: TcpStream, shared: &Shared, stopping: bool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + IO_TIMEOUT;
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_HEAD || Instant::now() >= deadline {
            return respond(
                &mut stream,
                400,
                "text/plain",
                b"request head too long or too slow\n",
            );
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if stopping {
        return respond(&mut stream, 503, "text/plain", b"the switch is stopping\n");
    }
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, 405, "text/plain", b"only GET\n");
    }
    let path = path.split('?').next().unwrap_or("");
    if path != "/metrics" && path != "/" {
        return respond(&mut stream, 404, "text/plain", b"see /metrics\n");
    }
    let body = fresh_snapshot(shared)
        .map(|s| s.render())
        .unwrap_or_default();
    if shared.stop.load(Ordering::Acquire) {
        return respond(&mut stream, 503, "text/plain", b"the switch is stopping\n");
    }
    let body = if method == "HEAD" { "" } else { body.as_str() };
    respond(
        &mut stream,
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        body.as_bytes(),
    )
}

/// Asks the forwarding thread for a snapshot and waits for it, at most
/// [`FRESH_WAIT`] (or until the switch stops); gives the newest there is.
fn fresh_snapshot(shared: &Shared) -> Option<Snapshot> {
    let guard = shared.snapshot.lock().ok()?;
    let seen = guard.0;
    shared.wanted.store(true, Ordering::Relaxed);
    crate::sys::event_signal(shared.wake.as_raw_fd());
    let (guard, _) = shared
        .fresh
        .wait_timeout_while(guard, FRESH_WAIT, |s| {
            s.0 == seen && !shared.stop.load(Ordering::Acquire)
        })
        .ok()?;
    Some(guard.1.clone())
}

fn respond(stream: &mut TcpStream, code: u16, kind: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        crate::sys::wait_readable(fd, 0)
    }

    #[test]
    fn a_snapshot_not_published_for_the_lock_is_asked_for_again() {
        let (server, link) = MetricsServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
        crate::sys::event_signal(link.fd());
        {
            // The server between taking the lock and waiting on it.
            let _held = server.shared.snapshot.lock().unwrap();
            link.publish(Snapshot::default);
            assert!(readable(link.fd()), "the wake-up was lost");
        }
        link.publish(Snapshot::default);
        assert!(!readable(link.fd()));
        assert_eq!(server.shared.snapshot.lock().unwrap().0, 1);
    }

    #[test]
    fn addresses_default_to_loopback() {
        assert_eq!(
            parse_addr("9000").unwrap(),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert_eq!(
            parse_addr("[::1]:9100").unwrap(),
            "[::1]:9100".parse().unwrap()
        );
        assert_eq!(parse_addr("10.1.2.3").unwrap().port(), DEFAULT_PORT);
        let e = parse_addr("localhost:x").unwrap_err().to_string();
        assert!(e.contains("ADDR:PORT") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn every_drop_reason_is_a_label_and_names_are_escaped() {
        let mut sw = vswitch_core::Switch::new(vswitch_core::SwitchConfig::default()).unwrap();
        let p = sw.add_port(vswitch_core::PortConfig::default()).unwrap();
        let counts = vswitch_core::DeviceCounts {
            rx_full: 1,
            ..Default::default()
        };
        sw.count_device(p, counts);
        let c = sw.port(p).unwrap().counters;
        let s = Snapshot {
            switch: "sw\"1".into(),
            ports: vec![PortSnapshot {
                name: "eth0".into(),
                up: true,
                counters: c,
            }],
            ..Snapshot::default()
        };
        let text = s.render();
        for r in DropReason::ALL {
            assert!(
                text.contains(&format!("port=\"eth0\",reason=\"{}\"}}", r.name())),
                "{r:?}"
            );
        }
        assert!(text.contains(
            "vswitch_port_drops_total{switch=\"sw\\\"1\",port=\"eth0\",reason=\"rx-full\"} 1"
        ));
    }
}
