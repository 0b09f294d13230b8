//! The running switch: one epoll loop over the ports, the aging timer, link
//! events, signals and the requests of the control thread
//! ([`crate::control_server`]). The core decides; this file carries out the
//! decisions and answers the control requests that need the switch, the large
//! ones (an FDB dump) in slices of bounded cost, so that forwarding never waits
//! long for the control plane.

use crate::claim::{self, Claim};
use crate::control::{self, Added, ControlStats, FdbSummary, PortInfo, Request, Response, Stats};
use crate::control_server::{self, Answer, ControlLimits, ControlLink, ControlServer, Job};
use crate::error::{Error, Result};
use crate::gso;
use crate::link::{self, LinkEvent, LinkMonitor};
use crate::port::{AfPacketPort, LinuxPort, PortOptions, TapPort};
use crate::sys::{self, Epoll};
use crate::target::{self, PortTarget};
use crate::trace;
use crate::vnet::VnetHdr;
use crate::xdp::XdpPort;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;
use vswitch_core::spec::SwitchSpec;
use vswitch_core::{
    FdbCursor, FlushScope, FrameBatch, MacAddr, Port, PortId, Switch, SwitchConfig, TxError,
    Verdict,
};

const TOKEN_SIGNAL: u64 = 1;
const TOKEN_TIMER: u64 = 2;
const TOKEN_LINK: u64 = 3;
const TOKEN_CONTROL: u64 = 4;
const TOKEN_PORT: u64 = 1 << 32;
/// How often aged entries are swept.
const AGING_SWEEP_MS: u64 = 1000;
/// Batches read from one ready port before going back to epoll_wait.
const DRAIN_BATCHES: usize = 8;
/// Entry positions of the FDB an `fdb show` copies per loop turn, so that a
/// dump of any size holds up frames for a bounded time: at most 0.15 ms of
/// CPU per turn measured with a million entries (BENCHMARKS.md, control-soak).
const DUMP_SLICE: usize = 4096;

/// How long the switch keeps looking for frames after a batch, by default.
pub const DEFAULT_POLL_US: u32 = 50;

/// How to run a switch.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Switch name: names the control socket.
    pub name: String,
    /// Switch and port settings.
    pub spec: SwitchSpec,
    /// Ports to attach at start.
    pub ports: Vec<String>,
    /// Print a trace line per frame on standard output.
    pub trace: bool,
    /// How AF_PACKET ports are set up.
    pub port: PortOptions,
    /// After a batch, keep looking for frames this long before sleeping in
    /// epoll (0: sleep at once). Under load the switch then stays on its CPU
    /// instead of being woken, and moved, per frame; idle, it costs nothing.
    pub poll_us: u32,
    /// Bounds on control connections: idle limit, most at once.
    pub control: ControlLimits,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            name: String::new(),
            spec: SwitchSpec::default(),
            ports: Vec::new(),
            trace: false,
            port: PortOptions::default(),
            poll_us: DEFAULT_POLL_US,
            control: ControlLimits::default(),
        }
    }
}

struct PortSlot {
    port: Box<dyn LinuxPort>,
    /// Keeps other switches off the interface while it is a port here.
    _claim: Claim,
}

/// What a streaming control client gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// Trace lines, optionally only of frames entering or leaving one port.
    Trace(Option<PortId>),
    /// Frames sent out of one port.
    Capture(PortId),
}

/// An `fdb show` under way.
struct Dump {
    client: u64,
    cursor: FdbCursor,
    /// Port names, sent with the first slice.
    names: Vec<String>,
}

/// Control work done in one loop turn: how long (on the clock, and on the
/// CPU: the difference is time the thread waited for a CPU), and the request
/// that took longest.
#[derive(Default)]
struct Stall {
    spent: Duration,
    cpu: Duration,
    longest: Duration,
    what: &'static str,
}

/// When a piece of control work began.
struct Started(std::time::Instant, Duration);

impl Started {
    fn now() -> Started {
        Started(std::time::Instant::now(), sys::thread_cpu_time())
    }
}

impl Stall {
    fn add(&mut self, since: Started, what: &'static str) {
        let d = since.0.elapsed();
        self.spent += d;
        self.cpu += sys::thread_cpu_time().saturating_sub(since.1);
        if d >= self.longest {
            self.longest = d;
            self.what = what;
        }
    }
}

/// The worst control work of one loop turn so far.
#[derive(Default)]
struct MaxStall {
    spent: Duration,
    what: &'static str,
    cpu: Duration,
}

/// A switch running on real interfaces.
pub struct LinuxSwitch {
    name: String,
    spec: SwitchSpec,
    sw: Switch,
    ports: Vec<Option<PortSlot>>,
    epoll: Epoll,
    start: std::time::Instant,
    signal: OwnedFd,
    timer: OwnedFd,
    links: LinkMonitor,
    socket_path: PathBuf,
    /// The control thread, until `run` starts it.
    server: Option<ControlServer>,
    control: ControlLink,
    jobs: Vec<Job>,
    /// Trace and capture clients.
    streams: Vec<(u64, Stream)>,
    /// `fdb show` requests under way, a slice each in turn.
    dumps: VecDeque<Dump>,
    /// The longest control work of one loop turn so far.
    max_stall: MaxStall,
    trace_stdout: bool,
    /// The frames of one receive, each with its offload state.
    batch: FrameBatch<VnetHdr>,
    /// While tracing: (frame index, port) of each frame handed to a port.
    traced: Vec<(usize, PortId)>,
    /// While tracing: the verdict on each frame of the batch.
    verdicts: Vec<Verdict>,
    /// Frames sent out of captured ports during one batch: (port, time, frame).
    captured: Vec<(PortId, u64, Vec<u8>)>,
    /// Number of capture clients per port number.
    capture_count: Vec<u32>,
    /// Frames of a batch whose offloads were finished in software.
    resolved: FrameBatch<VnetHdr>,
    gso_scratch: Vec<u8>,
    port_opts: PortOptions,
    poll_us: u32,
    /// What removed ports counted, so that the switch's totals never go back.
    retired: Retired,
}

/// The counts of ports that were removed, kept for the switch's totals.
#[derive(Default)]
struct Retired {
    rx_frames: u64,
    tx_frames: u64,
    drops: BTreeMap<String, u64>,
}

impl LinuxSwitch {
    /// Sets up the switch: control socket, signals, timer, link events, then the
    /// ports of `opts`. Fails if any port cannot be attached.
    pub fn new(opts: RunOptions) -> Result<LinuxSwitch> {
        control::check_name(&opts.name)?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()) << 32)
            .unwrap_or(1);
        // Bad settings are named before anything else is looked at.
        let config: SwitchConfig = opts
            .spec
            .to_config(seed)
            .map_err(|e| Error::Config(e.to_string()))?;
        if !sys::is_root() {
            return Err(Error::PermissionDenied(
                "a switch needs CAP_NET_RAW and CAP_NET_ADMIN".into(),
            ));
        }
        let sw = Switch::new(config).map_err(|e| Error::Config(e.to_string()))?;
        let (listener, socket_path) = control_server::bind(&opts.name)?;
        let (server, control) = control_server::pair(listener, opts.control)
            .map_err(|e| Error::io("starting the control server", e))?;
        // Block the signals before any thread exists, so that only the signalfd sees them.
        let signal = sys::signal_fd().map_err(|e| Error::io("setting up signals", e))?;
        let timer = sys::interval_timer(AGING_SWEEP_MS)
            .map_err(|e| Error::io("setting up the aging timer", e))?;
        let links = LinkMonitor::new().map_err(|e| Error::io("subscribing to link events", e))?;
        let epoll = Epoll::new().map_err(|e| Error::io("creating epoll", e))?;
        let ev = libc::EPOLLIN as u32;
        let watch = |fd, token| epoll.add(fd, ev, token).map_err(|e| Error::io("epoll", e));
        watch(signal.as_raw_fd(), TOKEN_SIGNAL)?;
        watch(timer.as_raw_fd(), TOKEN_TIMER)?;
        watch(links.fd(), TOKEN_LINK)?;
        watch(control.fd(), TOKEN_CONTROL)?;
        let mut s = LinuxSwitch {
            name: opts.name,
            spec: opts.spec,
            sw,
            ports: Vec::new(),
            epoll,
            start: std::time::Instant::now(),
            signal,
            timer,
            links,
            socket_path,
            server: Some(server),
            control,
            jobs: Vec::new(),
            streams: Vec::new(),
            dumps: VecDeque::new(),
            max_stall: MaxStall::default(),
            trace_stdout: opts.trace,
            port_opts: opts.port,
            poll_us: opts.poll_us,
            batch: FrameBatch::with_room(FrameBatch::DEFAULT_SIZE),
            traced: Vec::new(),
            verdicts: Vec::new(),
            captured: Vec::new(),
            capture_count: Vec::new(),
            resolved: FrameBatch::default(),
            gso_scratch: Vec::new(),
            retired: Retired::default(),
        };
        for p in &opts.ports {
            let added = s.add_port(p)?;
            let notes = if added.notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", added.notes.join("; "))
            };
            tracing::info!("attached port {} {}{notes}", added.port, added.ifname);
        }
        Ok(s)
    }

    /// The control socket's path.
    pub fn socket_path(&self) -> &std::path::Path {
        &self.socket_path
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn now(&self) -> vswitch_core::Instant {
        vswitch_core::Instant::from_nanos(self.now_ns())
    }

    /// Runs until SIGINT or SIGTERM; control requests are taken from the
    /// control thread this starts (and ends on return).
    pub fn run(&mut self) -> Result<()> {
        // Stopped and joined when this returns.
        let _server = match self.server.take() {
            Some(s) => Some(
                s.spawn()
                    .map_err(|e| Error::io("starting the control thread", e))?,
            ),
            None => None,
        };
        tracing::info!(
            "switch {} running with {} ports; control socket {}",
            self.name,
            self.ports.iter().flatten().count(),
            self.socket_path.display()
        );
        let mut events = Vec::with_capacity(64);
        let poll = std::time::Duration::from_micros(u64::from(self.poll_us));
        let mut poll_until = None;
        loop {
            let timeout = match poll_until {
                _ if !self.dumps.is_empty() => 0,
                Some(t) if std::time::Instant::now() < t => 0,
                _ => -1,
            };
            self.epoll
                .wait(&mut events, timeout)
                .map_err(|e| Error::io("epoll_wait", e))?;
            let mut got = false;
            let mut stall = Stall::default();
            for &(token, ev) in &events {
                match token {
                    TOKEN_SIGNAL => {
                        let mut buf = [0u8; 128];
                        let _ = sys::read(self.signal.as_raw_fd(), &mut buf);
                        tracing::info!("signal received, stopping");
                        return Ok(());
                    }
                    TOKEN_TIMER => {
                        let mut buf = [0u8; 8];
                        let _ = sys::read(self.timer.as_raw_fd(), &mut buf);
                        let now = self.now();
                        // Ages the table and ends move-guard shutdowns that are over.
                        self.sw.advance(now);
                        self.poll_port_stats();
                    }
                    TOKEN_LINK => self.on_link_events(),
                    TOKEN_CONTROL => self.on_control(&mut stall),
                    t if t & TOKEN_PORT != 0 => {
                        // A full batch: more are likely waiting. Take a few
                        // more now rather than one per epoll_wait.
                        for _ in 0..DRAIN_BATCHES {
                            let n = self.on_port(PortId(t as u16), ev);
                            got |= n > 0;
                            if n < FrameBatch::DEFAULT_SIZE {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            if !self.dumps.is_empty() {
                self.dump_slice(&mut stall);
            }
            self.control.flush();
            if stall.spent > self.max_stall.spent {
                self.max_stall.spent = stall.spent;
                self.max_stall.what = stall.what;
            }
            self.max_stall.cpu = self.max_stall.cpu.max(stall.cpu);
            if got && !poll.is_zero() {
                poll_until = Some(std::time::Instant::now() + poll);
            }
        }
    }

    // ---- ports ----

    fn port_id_by_name(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.port.name() == name))
            .map(|i| PortId(i as u16))
    }

    fn slot(&mut self, id: PortId) -> Option<&mut PortSlot> {
        self.ports
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
    }

    /// Attaches the port named by `spec`.
    pub fn add_port(&mut self, spec: &str) -> Result<Added> {
        let target = PortTarget::parse(spec)?;
        let name = match &target {
            PortTarget::Iface(n) | PortTarget::Tap(n) => Some(n.clone()),
            _ => None,
        };
        if let Some(n) = name.filter(|n| self.port_id_by_name(n).is_some()) {
            return Err(Error::AlreadyAttached(n));
        }
        let resolved = target::resolve(&target)?;
        if self.port_id_by_name(&resolved.iface).is_some() {
            return Err(Error::AlreadyAttached(resolved.iface));
        }
        let iface = &resolved.iface;
        // Claimed before it is opened, so that a refused interface is not touched.
        let (port, claim): (Box<dyn LinuxPort>, Claim) = if resolved.tap {
            let tap = TapPort::open(iface)?;
            let claim = Claim::take(iface, tap.ifindex(), &self.name)?;
            (Box::new(tap), claim)
        } else {
            claim::check(iface)?;
            let index = sys::if_index(iface).map_err(|e| Error::iface(iface, "opening", e))?;
            let claim = Claim::take(iface, index, &self.name)?;
            (self.open_iface(iface)?, claim)
        };
        let config = self
            .spec
            .port_config(&resolved.iface)
            .map_err(|e| Error::Config(e.to_string()))?;
        let id = self
            .sw
            .add_port(config)
            .map_err(|e| Error::Config(e.to_string()))?;
        let index = usize::from(id.0);
        let fd = port.fd();
        let up = sys::if_flags(&resolved.iface)
            .map(link::flags_up)
            .unwrap_or(false);
        if let Err(e) = self
            .epoll
            .add(fd, libc::EPOLLIN as u32, TOKEN_PORT | u64::from(id.0))
        {
            let _ = self.sw.remove_port(id);
            return Err(Error::io("epoll", e));
        }
        if self.ports.len() <= index {
            self.ports.resize_with(index + 1, || None);
            self.capture_count.resize(index + 1, 0);
        }
        self.ports[index] = Some(PortSlot {
            port,
            _claim: claim,
        });
        let _ = self.sw.set_port_up(id, up);
        if !up {
            tracing::warn!("port {} {} has no carrier: marked down", id, resolved.iface);
        }
        Ok(Added {
            ifname: resolved.iface,
            port: id.0,
            notes: resolved.notes,
        })
    }

    /// A port on interface `iface`: AF_XDP if asked for and possible, else AF_PACKET.
    fn open_iface(&self, iface: &str) -> Result<Box<dyn LinuxPort>> {
        if self.port_opts.afxdp {
            match XdpPort::open(iface, self.port_opts.ring_mib) {
                Ok(port) => return Ok(Box::new(port)),
                Err(e) => tracing::warn!("{e}: AF_PACKET port on \"{iface}\" instead"),
            }
        }
        Ok(Box::new(AfPacketPort::open_with(iface, &self.port_opts)?))
    }

    fn remove_port(&mut self, id: PortId, why: &str) -> Option<String> {
        let mut slot = self.ports.get_mut(usize::from(id.0))?.take()?;
        self.epoll.delete(slot.port.fd());
        slot.port.poll_stats();
        self.sw.count_device(id, slot.port.take_counts());
        if let Some(state) = self.sw.port(id) {
            let r = &mut self.retired;
            retire(
                &state.counters,
                &mut r.rx_frames,
                &mut r.tx_frames,
                &mut r.drops,
            );
        }
        let _ = self.sw.remove_port(id);
        let name = slot.port.name().to_string();
        tracing::info!("port {id} {name} removed ({why})");
        // Capture clients of this port have nothing more to get.
        let control = &mut self.control;
        self.streams.retain(|&(client, s)| {
            let ended = s == Stream::Capture(id);
            if ended {
                control.reply(client, Answer::End);
            }
            !ended
        });
        if let Some(n) = self.capture_count.get_mut(usize::from(id.0)) {
            *n = 0;
        }
        Some(name)
    }

    /// Forwards a batch from port `id`; returns how many frames it read.
    fn on_port(&mut self, id: PortId, ev: u32) -> usize {
        let now_ns = self.now_ns();
        let now = vswitch_core::Instant::from_nanos(now_ns);
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        let Some(slot) = self.slot(id) else {
            self.batch = batch;
            return 0;
        };
        let ifindex = slot.port.ifindex();
        let got = slot.port.recv(&mut batch);
        if batch.is_empty() {
            let error = ev & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            if error {
                // Read the error, or epoll reports it again at once, forever.
                if let Some(e) = slot.port.take_error() {
                    tracing::debug!("port {id} {}: {e}", slot.port.name());
                }
            }
            let gone = slot.port.gone()
                || (error && slot.port.follows_link_events() && sys::if_name(ifindex).is_none());
            self.batch = batch;
            if gone {
                self.remove_port(id, "interface disappeared");
            }
            return 0;
        }
        let cfg = *self.sw.config();
        if cfg.vlan_aware && !cfg.hub && batch.iter_with_meta().any(|(_, o)| !o.is_plain()) {
            // Egress tagging may move the headers the offload state points
            // at: finish such frames here, before the core sees them.
            self.resolve_offloads(&mut batch);
        }
        let tracing = self.trace_stdout
            || self
                .streams
                .iter()
                .any(|(_, s)| matches!(s, Stream::Trace(_)));
        let ports = &mut self.ports;
        let capture_count = &self.capture_count;
        let captured = &mut self.captured;
        let scratch = &mut self.gso_scratch;
        let traced = &mut self.traced;
        traced.clear();
        let decisions = self.sw.forward(now, id, &batch, |e| {
            if tracing {
                traced.push((e.index, e.port));
            }
            let i = usize::from(e.port.0);
            let Some(Some(slot)) = ports.get_mut(i) else {
                return Err(TxError::Full);
            };
            let r = slot.port.send(e.frame, e.meta);
            if r.is_ok() && capture_count.get(i).is_some_and(|&n| n > 0) {
                // A capture gets what a wire would carry: finished segments.
                let _ = gso::resolve(e.frame, &e.meta, scratch, |seg| {
                    captured.push((e.port, now_ns, seg.to_vec()));
                });
            }
            r
        });
        if tracing {
            self.verdicts.clear();
            self.verdicts.extend(decisions.iter().map(|d| d.verdict));
        }
        self.flush_ports();
        if !self.captured.is_empty() {
            self.deliver_captures();
        }
        if tracing {
            self.trace_batch(now_ns, id, &batch);
        }
        self.batch = batch;
        got
    }

    /// Sends what every port queued (one system call per egress port for the
    /// whole batch) and counts, in the core, what their kernels refused.
    fn flush_ports(&mut self) {
        for (i, slot) in self.ports.iter_mut().enumerate() {
            if let Some(slot) = slot {
                slot.port.flush();
                let counts = slot.port.take_counts();
                if !counts.is_empty() {
                    self.sw.count_device(PortId(i as u16), counts);
                }
            }
        }
    }

    /// Replaces the offloaded frames of a batch by their finished segments.
    fn resolve_offloads(&mut self, batch: &mut FrameBatch<VnetHdr>) {
        let mut resolved = std::mem::take(&mut self.resolved);
        resolved.clear();
        for (frame, offload) in batch.iter_with_meta() {
            if gso::resolve(frame, &offload, &mut self.gso_scratch, |seg| {
                resolved.push_with(seg, VnetHdr::NONE)
            })
            .is_err()
            {
                tracing::debug!("dropped an offloaded frame the switch cannot finish");
            }
        }
        std::mem::swap(batch, &mut resolved);
        self.resolved = resolved;
    }

    /// Writes the trace lines of a batch: its verdicts and the ports each
    /// frame was handed to, as [`LinuxSwitch::on_port`] saw them.
    fn trace_batch(&mut self, now_ns: u64, ingress: PortId, batch: &FrameBatch<VnetHdr>) {
        let ingress_name = self.port_name(ingress);
        let mut stdout = io::stdout().lock();
        // Lines for each stream client, and how many.
        let mut outs = vec![(Vec::new(), 0u64); self.streams.len()];
        for (i, &verdict) in self.verdicts.iter().enumerate() {
            // `traced` is in port order, as the core delivers.
            let out_ids: Vec<PortId> = self
                .traced
                .iter()
                .filter(|&&(frame, _)| frame == i)
                .map(|&(_, p)| p)
                .collect();
            let names: Vec<String> = out_ids.iter().map(|&p| self.port_name(p)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let line = trace::line(
                now_ns,
                &self.name,
                &ingress_name,
                batch.get(i),
                verdict,
                &refs,
            );
            if self.trace_stdout {
                let _ = writeln!(stdout, "{line}");
            }
            for (&(_, s), (out, n)) in self.streams.iter().zip(outs.iter_mut()) {
                if let Stream::Trace(filter) = s {
                    if filter.is_none_or(|p| p == ingress || out_ids.contains(&p)) {
                        out.extend_from_slice(line.as_bytes());
                        out.push(b'\n');
                        *n += 1;
                    }
                }
            }
        }
        drop(stdout);
        self.send_streams(outs);
    }

    /// Hands each stream client its part of a batch (none for an empty part).
    fn send_streams(&mut self, outs: Vec<(Vec<u8>, u64)>) {
        for (&(client, _), (bytes, n)) in self.streams.iter().zip(outs) {
            if n > 0 {
                self.control.chunk(client, bytes, n);
            }
        }
    }

    fn deliver_captures(&mut self) {
        let mut outs = vec![(Vec::new(), 0u64); self.streams.len()];
        for (&(_, s), (buf, n)) in self.streams.iter().zip(outs.iter_mut()) {
            let Stream::Capture(port) = s else {
                continue;
            };
            for (out, ts, frame) in &self.captured {
                if *out == port {
                    buf.extend_from_slice(&ts.to_le_bytes());
                    buf.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                    buf.extend_from_slice(frame);
                    *n += 1;
                }
            }
        }
        self.captured.clear();
        self.send_streams(outs);
    }

    /// Fetches every port's kernel drop counters.
    fn poll_port_stats(&mut self) {
        for (i, slot) in self.ports.iter_mut().enumerate() {
            if let Some(slot) = slot {
                slot.port.poll_stats();
                self.sw
                    .count_device(PortId(i as u16), slot.port.take_counts());
            }
        }
    }

    fn port_name(&self, id: PortId) -> String {
        self.ports
            .get(usize::from(id.0))
            .and_then(Option::as_ref)
            .map(|s| s.port.name().to_string())
            .unwrap_or_else(|| format!("port{id}"))
    }

    // ---- link events ----

    fn on_link_events(&mut self) {
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
            tracing::info!("port {id} {name} is up");
        } else {
            tracing::warn!("port {id} {name} is down: its learned entries are flushed");
        }
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

    // ---- control requests ----

    /// Carries out the jobs the control thread sent.
    fn on_control(&mut self, stall: &mut Stall) {
        let mut jobs = std::mem::take(&mut self.jobs);
        self.control.take_jobs(&mut jobs);
        for job in jobs.drain(..) {
            let t = Started::now();
            match job {
                Job::Request { client, request } => {
                    let what = request.name();
                    self.handle(client, request);
                    stall.add(t, what);
                }
                Job::Gone(client) => self.forget_client(client),
            }
        }
        self.jobs = jobs;
    }

    /// Ends the stream or dump of a client that went away.
    fn forget_client(&mut self, client: u64) {
        self.dumps.retain(|d| d.client != client);
        let capture_count = &mut self.capture_count;
        self.streams.retain(|&(c, s)| {
            if c != client {
                return true;
            }
            if let Stream::Capture(p) = s {
                if let Some(n) = capture_count.get_mut(usize::from(p.0)) {
                    *n = n.saturating_sub(1);
                }
            }
            false
        });
    }

    /// Copies the next slice of the first dump in line and sends it on; the
    /// dump then waits behind the others.
    fn dump_slice(&mut self, stall: &mut Stall) {
        let Some(mut d) = self.dumps.pop_front() else {
            return;
        };
        let t = Started::now();
        let now = self.now();
        let mut entries = Vec::with_capacity(DUMP_SLICE);
        let next = self
            .sw
            .fdb_mut()
            .entries_from(d.cursor, DUMP_SLICE, now, &mut entries);
        let answer = Answer::FdbSlice {
            names: std::mem::take(&mut d.names),
            entries,
            last: next.is_none(),
        };
        self.control.reply(d.client, answer);
        if let Some(cursor) = next {
            d.cursor = cursor;
            self.dumps.push_back(d);
        }
        stall.add(t, "fdb-show");
    }

    /// Port names by port number ("" for none).
    fn port_names(&self) -> Vec<String> {
        let name = |p: &Option<PortSlot>| p.as_ref().map(|p| p.port.name().to_string());
        self.ports
            .iter()
            .map(|p| name(p).unwrap_or_default())
            .collect()
    }

    fn find_port(&self, name: &str) -> Result<PortId> {
        self.port_id_by_name(name)
            .ok_or_else(|| Error::NotAttached(name.to_string()))
    }

    /// Answers `req` of control client `client`, or starts its dump.
    fn handle(&mut self, client: u64, req: Request) {
        let done = |r: Result<serde_json::Value>| match r {
            Ok(v) => Answer::Done(Response::ok(v)),
            Err(e) => Answer::Done(Response::err(e)),
        };
        let answer = match req {
            Request::Add { port } => {
                let r = self.add_port(&port);
                if let Ok(a) = &r {
                    tracing::info!("attached port {} {} on request", a.port, a.ifname);
                }
                done(json(r))
            }
            Request::Del { port } => done(json(self.del_port(&port))),
            Request::Show => {
                self.poll_port_stats();
                done(json(Ok(self.show())))
            }
            Request::FdbShow => {
                let names = self.port_names();
                self.dumps.push_back(Dump {
                    client,
                    cursor: FdbCursor::default(),
                    names,
                });
                return;
            }
            Request::FdbAdd { mac, port, vlan } => done(json(self.fdb_add(&mac, &port, vlan))),
            Request::FdbDel { mac, vlan } => done(json(self.fdb_del(&mac, vlan))),
            Request::FdbFlush { port } => done(json(self.fdb_flush(port.as_deref()))),
            Request::Stats => {
                self.poll_port_stats();
                done(json(Ok(self.stats())))
            }
            Request::Trace { port } => match port.map(|p| self.find_port(&p)).transpose() {
                Ok(filter) => {
                    self.streams.push((client, Stream::Trace(filter)));
                    Answer::Stream
                }
                Err(e) => Answer::Done(Response::err(e)),
            },
            Request::Capture { port } => match self.find_port(&port) {
                Ok(p) => {
                    self.streams.push((client, Stream::Capture(p)));
                    if let Some(n) = self.capture_count.get_mut(usize::from(p.0)) {
                        *n += 1;
                    }
                    Answer::Stream
                }
                Err(e) => Answer::Done(Response::err(e)),
            },
        };
        self.control.reply(client, answer);
    }

    fn del_port(&mut self, spec: &str) -> Result<String> {
        let name = match PortTarget::parse(spec)? {
            PortTarget::Iface(n) | PortTarget::Tap(n) => n,
            t => target::resolve(&t)?.iface,
        };
        let id = self.find_port(&name)?;
        self.remove_port(id, "deleted by request");
        Ok(name)
    }

    fn show(&self) -> Vec<PortInfo> {
        let mut out = Vec::new();
        for (id, state) in self.sw.ports() {
            let Some(slot) = self.ports.get(usize::from(id.0)).and_then(Option::as_ref) else {
                continue;
            };
            out.push(PortInfo {
                port: id.0,
                ifname: slot.port.name().to_string(),
                kind: slot.port.kind().to_string(),
                ifindex: slot.port.ifindex(),
                state: if state.shutdown_until.is_some() {
                    "shut-down"
                } else if state.up {
                    "up"
                } else {
                    "down"
                }
                .to_string(),
                mtu: slot.port.mtu(),
                counters: state.counters,
            });
        }
        out
    }

    fn fdb_add(&mut self, mac: &str, port: &str, vlan: u16) -> Result<()> {
        let mac: MacAddr = mac
            .parse()
            .map_err(|_| Error::Config(format!("bad MAC address \"{mac}\"")))?;
        if !mac.is_unicast() || mac.is_zero() {
            return Err(Error::Config(format!("{mac} is not a unicast address")));
        }
        if vlan > 4094 {
            return Err(Error::Config(format!("VLAN {vlan} is outside 0..=4094")));
        }
        let id = self.find_port(port)?;
        self.sw.fdb_mut().add_static(vlan, mac, id);
        Ok(())
    }

    fn fdb_del(&mut self, mac: &str, vlan: u16) -> Result<()> {
        if vlan > 4094 {
            return Err(Error::Config(format!("VLAN {vlan} is outside 0..=4094")));
        }
        let parsed: MacAddr = mac
            .parse()
            .map_err(|_| Error::Config(format!("bad MAC address \"{mac}\"")))?;
        if self.sw.fdb_mut().remove(vlan, parsed) {
            Ok(())
        } else {
            Err(Error::Remote(format!(
                "no FDB entry for {parsed} in VLAN {vlan}"
            )))
        }
    }

    fn fdb_flush(&mut self, port: Option<&str>) -> Result<usize> {
        Ok(match port {
            Some(p) => {
                let id = self.find_port(p)?;
                self.sw.fdb_mut().flush_port(id, FlushScope::Dynamic)
            }
            None => self.sw.fdb_mut().flush_all(FlushScope::Dynamic),
        })
    }

    fn stats(&mut self) -> Stats {
        let now = self.now();
        self.sw.advance(now);
        let fdb = self.sw.fdb().stats();
        let cfg = *self.sw.config();
        // Totals of the switch's whole life: removed ports' counts stay in.
        let mut rx_frames = self.retired.rx_frames;
        let mut tx_frames = self.retired.tx_frames;
        let mut drops = self.retired.drops.clone();
        for (_, p) in self.sw.ports() {
            retire(&p.counters, &mut rx_frames, &mut tx_frames, &mut drops);
        }
        Stats {
            control: ControlStats {
                // The control thread fills in its connections.
                dumps: self.dumps.len(),
                max_stall_cpu_us: self.max_stall.cpu.as_micros() as u64,
                max_stall_request: self.max_stall.what.to_string(),
                max_stall_us: self.max_stall.spent.as_micros() as u64,
                stream_dropped: self.control.stream_dropped(),
                ..ControlStats::default()
            },
            drops,
            fdb: FdbSummary {
                aging: cfg.fdb.aging_time.as_secs_f64(),
                capacity: cfg.fdb.capacity,
                entries: fdb.current,
                evicted: fdb.evicted,
                expired: fdb.expired,
                flushed: fdb.flushed,
                learned: fdb.learned,
                moved: fdb.moved,
                refused: fdb.refused,
                statics: fdb.statics,
            },
            guard: self.sw.guard_stats(),
            mode: if cfg.hub { "hub" } else { "switch" }.to_string(),
            name: self.name.clone(),
            ports: self.sw.ports().count(),
            rx_frames,
            tx_frames,
            uptime: self.start.elapsed().as_secs_f64(),
        }
    }
}

/// Adds a port's frames and drops to a switch's totals.
fn retire(
    c: &vswitch_core::PortCounters,
    rx_frames: &mut u64,
    tx_frames: &mut u64,
    drops: &mut BTreeMap<String, u64>,
) {
    *rx_frames += c.rx_frames;
    *tx_frames += c.tx_frames;
    for (reason, n) in c.nonzero_drops() {
        *drops.entry(reason.to_string()).or_default() += n;
    }
}

fn json<T: serde::Serialize>(r: Result<T>) -> Result<serde_json::Value> {
    r.map(|x| serde_json::to_value(x).unwrap_or_default())
}

impl Drop for LinuxSwitch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket_path);
    }
}
