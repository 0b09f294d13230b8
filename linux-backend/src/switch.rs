//! The running switch: its setup and one epoll loop over the ports, the aging
//! timer, link events, signals and the requests of the control thread
//! ([`crate::control_server`]). The loop hands each event to the file that
//! deals with it:
//!
//! - `switch/ports.rs`: attaching and removing ports, and the data path: a
//!   batch from a port through the core to the other ports, with its trace
//!   and capture output;
//! - `switch/links.rs`: link events (carrier, MTU, interfaces that go away);
//! - `switch/mcast.rs`: the own multicast querier's queries, snooping
//!   events in the log, the group table for `mdb show`;
//! - `switch/requests.rs`: the control requests that need the switch, the
//!   large ones (an FDB dump) in slices of bounded cost, so that forwarding
//!   never waits long for the control plane.

use crate::claim::Claim;
use crate::control;
use crate::control_server::{self, ControlLimits, ControlLink, ControlServer, Job};
use crate::error::{Error, Result};
use crate::link::LinkMonitor;
use crate::metrics::{MetricsLink, MetricsServer, PortSnapshot, Snapshot};
use crate::notify;
use crate::port::{LinuxPort, PortOptions};
use crate::sys::{self, Epoll};
use crate::vnet::VnetHdr;
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use vswitch_core::spec::SwitchSpec;
use vswitch_core::{FrameBatch, PortId, Switch, SwitchConfig, Verdict};

mod links;
mod mcast;
mod monitor;
mod ports;
mod reload;
mod requests;
mod stp;

pub use reload::ConfigSource;

use requests::{Dump, MaxStall, Stall};

const TOKEN_SIGNAL: u64 = 1;
const TOKEN_TIMER: u64 = 2;
const TOKEN_LINK: u64 = 3;
const TOKEN_CONTROL: u64 = 4;
const TOKEN_METRICS: u64 = 5;
const TOKEN_STP_TIMER: u64 = 6;
const TOKEN_PORT: u64 = 1 << 32;
/// How often aged entries are swept.
const AGING_SWEEP_MS: u64 = 1000;
/// How often the spanning tree's timers run while it is on: the core's
/// timers (hello, proposal and agreement, topology change, received
/// information) are counted at this granularity. With the spanning tree off
/// this timer is disarmed and wakes nobody.
const STP_TICK_MS: u64 = 100;
/// Batches read from one ready port before going back to epoll_wait.
const DRAIN_BATCHES: usize = 8;
/// How long the switch keeps looking for frames after a batch, by default,
/// when the forwarding thread runs at the ordinary policy. At a real-time
/// priority it sleeps at once by default: woken, it runs at once anyway, and
/// its polling would keep the processes it serves off its CPU (a host's
/// receiver woken there waits behind it: BENCHMARKS.md, the VXLAN pair on a
/// quiet machine).
pub const DEFAULT_POLL_US: u32 = 50;
/// The forwarding thread's nice value by default: ahead of ordinary processes
/// (a busy monitoring client, the switch's own control thread at +10), as
/// Open vSwitch's `ovs-ctl` starts `ovs-vswitchd` at -10.
pub const DEFAULT_NICE: i32 = -10;

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
    /// `None`: [`DEFAULT_POLL_US`] at the ordinary policy, 0 at a real-time
    /// priority.
    pub poll_us: Option<u32>,
    /// The forwarding thread's nice value (-20..=19).
    pub nice: i32,
    /// Run the forwarding thread at this real-time priority (SCHED_FIFO,
    /// 1..=99) instead of at `nice`: ordinary processes can no longer
    /// preempt it (README.md, `--rt-priority`). `None`, the default: the
    /// ordinary policy. Not the default because the kernel moves a woken
    /// real-time thread off its CPU only for another real-time task, so it
    /// can end up sharing one CPU with a busy sender while the other idles.
    pub rt_priority: Option<u8>,
    /// Bounds on control connections: idle limit, most at once.
    pub control: ControlLimits,
    /// The configuration file, for reloads; `None`: nothing to reload.
    pub config: Option<ConfigSource>,
    /// Serve Prometheus metrics on this address.
    pub metrics: Option<std::net::SocketAddr>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            name: String::new(),
            spec: SwitchSpec::default(),
            ports: Vec::new(),
            trace: false,
            port: PortOptions::default(),
            poll_us: None,
            nice: DEFAULT_NICE,
            rt_priority: None,
            control: ControlLimits::default(),
            config: None,
            metrics: None,
        }
    }
}

struct PortSlot {
    port: Box<dyn LinuxPort>,
    /// Keeps other switches off the interface while it is a port here.
    /// (None for a tunnel, which has no interface.)
    _claim: Option<Claim>,
    /// The port as the configuration file names it, if the file attached it:
    /// a reload detaches it when the file no longer does.
    from_file: Option<String>,
}

/// What a streaming control client gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// Trace lines, optionally only of frames entering or leaving one port.
    Trace(Option<PortId>),
    /// Frames sent out of one port.
    Capture(PortId),
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
    /// The spanning tree's tick, every [`STP_TICK_MS`] while it is on.
    stp_timer: OwnedFd,
    /// Whether `stp_timer` is armed.
    stp_ticking: bool,
    /// Each port's spanning tree state when last logged.
    stp_states: Vec<Option<vswitch_core::stp::State>>,
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
    poll_us: Option<u32>,
    nice: i32,
    rt_priority: Option<u8>,
    /// What removed ports counted, so that the switch's totals never go back.
    retired: Retired,
    /// The configuration file, for reloads.
    config_source: Option<ConfigSource>,
    /// The FDB's hash seed, kept across reloads.
    seed: u64,
    /// `vswitch monitor` clients and the move log.
    monitor: monitor::Monitor,
    /// The metrics server and the link to publish to it.
    metrics: Option<(MetricsServer, MetricsLink)>,
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
        let mut sw = Switch::new(config).map_err(|e| Error::Config(e.to_string()))?;
        // On for good: moves are logged, and monitoring clients come and go.
        sw.set_event_log(monitor::EVENT_QUEUE);
        let metrics = match opts.metrics {
            Some(addr) => {
                let (server, link) = MetricsServer::start(addr)?;
                tracing::info!("metrics on http://{}/metrics", server.addr());
                Some((server, link))
            }
            None => None,
        };
        let (listener, socket_path) = control_server::bind(&opts.name)?;
        let (server, control) = control_server::pair(listener, opts.control)
            .map_err(|e| Error::io("starting the control server", e))?;
        // Block the signals before any thread exists, so that only the signalfd sees them.
        let signal = sys::signal_fd().map_err(|e| Error::io("setting up signals", e))?;
        let timer = sys::interval_timer(AGING_SWEEP_MS)
            .map_err(|e| Error::io("setting up the aging timer", e))?;
        // Armed when the spanning tree is turned on.
        let stp_timer = sys::interval_timer(0)
            .map_err(|e| Error::io("setting up the spanning tree timer", e))?;
        let links = LinkMonitor::new().map_err(|e| Error::io("subscribing to link events", e))?;
        let epoll = Epoll::new().map_err(|e| Error::io("creating epoll", e))?;
        let ev = libc::EPOLLIN as u32;
        let watch = |fd, token| epoll.add(fd, ev, token).map_err(|e| Error::io("epoll", e));
        watch(signal.as_raw_fd(), TOKEN_SIGNAL)?;
        watch(timer.as_raw_fd(), TOKEN_TIMER)?;
        watch(stp_timer.as_raw_fd(), TOKEN_STP_TIMER)?;
        watch(links.fd(), TOKEN_LINK)?;
        watch(control.fd(), TOKEN_CONTROL)?;
        if let Some((_, link)) = &metrics {
            watch(link.fd(), TOKEN_METRICS)?;
        }
        let mut s = LinuxSwitch {
            name: opts.name,
            spec: opts.spec,
            sw,
            ports: Vec::new(),
            epoll,
            start: std::time::Instant::now(),
            signal,
            timer,
            stp_timer,
            stp_ticking: false,
            stp_states: Vec::new(),
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
            nice: opts.nice,
            rt_priority: opts.rt_priority,
            batch: FrameBatch::with_room(FrameBatch::DEFAULT_SIZE),
            traced: Vec::new(),
            verdicts: Vec::new(),
            captured: Vec::new(),
            capture_count: Vec::new(),
            resolved: FrameBatch::default(),
            gso_scratch: Vec::new(),
            retired: Retired::default(),
            config_source: opts.config,
            seed,
            monitor: monitor::Monitor::default(),
            metrics,
        };
        for p in &opts.ports {
            let added = s.add_port(p)?;
            let file_port = s
                .config_source
                .as_ref()
                .is_some_and(|c| c.attach.contains(p));
            if let Some(slot) = s.slot(PortId(added.port)).filter(|_| file_port) {
                slot.from_file = Some(p.clone());
            }
            let notes = if added.notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", added.notes.join("; "))
            };
            tracing::info!("attached port {} {}{notes}", added.port, added.ifname);
        }
        s.apply_stp_spec();
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
        // After the control thread has started: it sets its own, lower, priority.
        if let Err(e) = sys::set_thread_nice(self.nice) {
            tracing::warn!(
                "forwarding keeps its priority (nice {} refused: {e})",
                self.nice
            );
        }
        if let Some(p) = self.rt_priority {
            sys::set_thread_fifo(i32::from(p)).map_err(|e| {
                Error::Command(format!(
                    "--rt-priority {p}: the forwarding thread may not run SCHED_FIFO ({e}): \
                     it needs CAP_SYS_NICE or an RLIMIT_RTPRIO of {p}, and real-time time \
                     in its cgroup (cpu.rt_runtime_us)"
                ))
            })?;
            tracing::info!("forwarding thread runs SCHED_FIFO at priority {p}");
        }
        let poll_us = self.poll_us.unwrap_or(match self.rt_priority {
            Some(_) => 0,
            None => DEFAULT_POLL_US,
        });
        tracing::info!(
            "switch {} running with {} ports; control socket {}",
            self.name,
            self.ports.iter().flatten().count(),
            self.socket_path.display()
        );
        // Every port is attached and the control thread answers: ready.
        if let Err(e) = notify::send(&format!("READY=1\nSTATUS={}", self.status())) {
            tracing::warn!("cannot tell the service manager the switch is ready: {e}");
        }
        let mut events = Vec::with_capacity(64);
        let poll = std::time::Duration::from_micros(u64::from(poll_us));
        let mut poll_until = None;
        loop {
            let timeout = match poll_until {
                // A dump whose slice can go now (one waiting for the control
                // thread is woken by it), or a flush's memory to reclaim.
                _ if !self.dumps.is_empty() && self.control.can_slice() => 0,
                _ if self.sw.fdb().reclaim_pending() > 0 => 0,
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
                        // struct signalfd_siginfo: the signal's number first.
                        let mut buf = [0u8; 128];
                        let n = sys::read(self.signal.as_raw_fd(), &mut buf).unwrap_or(0);
                        let signo =
                            (n >= 4).then(|| u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]));
                        if signo == Some(libc::SIGHUP as u32) {
                            let _ = self.reload_logged();
                            continue;
                        }
                        tracing::info!("signal received, stopping");
                        // Scrapes from now on get a clean refusal.
                        self.metrics = None;
                        let _ = notify::send("STOPPING=1");
                        return Ok(());
                    }
                    TOKEN_TIMER => {
                        let mut buf = [0u8; 8];
                        let _ = sys::read(self.timer.as_raw_fd(), &mut buf);
                        let now = self.now();
                        // Ages the table and ends move-guard shutdowns that are over.
                        self.sw.advance(now);
                        self.mcast_tick(now);
                        if !self.stp_ticking {
                            // Only if its own timer could not be armed.
                            self.run_stp();
                        }
                        self.poll_port_stats();
                        self.reclaim_remotes();
                        self.publish_metrics();
                    }
                    TOKEN_STP_TIMER => {
                        let mut buf = [0u8; 8];
                        let _ = sys::read(self.stp_timer.as_raw_fd(), &mut buf);
                        self.run_stp();
                    }
                    TOKEN_LINK => self.on_link_events(),
                    TOKEN_CONTROL => self.on_control(&mut stall),
                    // Published at the end of the turn (`wanted`).
                    TOKEN_METRICS => {}
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
            if got && self.sw.bpdu_received() {
                // Answers to proposals go out with the batch that asked.
                self.run_stp();
            }
            if !self.dumps.is_empty() {
                self.dump_slice(&mut stall);
            }
            if self.sw.fdb().reclaim_pending() > 0 {
                self.reclaim_slice(&mut stall);
            }
            self.drain_events();
            // What the control thread handed back is freed (or reused) here,
            // each turn, so that it never piles up.
            self.control.take_spent();
            if self.metrics.as_ref().is_some_and(|m| m.1.wanted()) {
                // After this turn's events, so that their totals are in.
                self.poll_port_stats();
                self.publish_metrics();
            }
            self.control.flush();
            self.max_stall.update(&stall);
            if got && !poll.is_zero() {
                poll_until = Some(std::time::Instant::now() + poll);
            }
        }
    }
}

impl LinuxSwitch {
    /// Hands the metrics server the switch's numbers now (if it has one).
    fn publish_metrics(&mut self) {
        let Some((_, link)) = &self.metrics else {
            return;
        };
        link.publish(|| {
            let cfg = self.sw.config();
            Snapshot {
                switch: self.name.clone(),
                uptime: self.start.elapsed().as_secs_f64(),
                ports: self
                    .sw
                    .ports()
                    .map(|(id, p)| PortSnapshot {
                        name: self.port_name(id),
                        up: p.up,
                        counters: p.counters,
                    })
                    .collect(),
                fdb: self.sw.fdb().stats(),
                capacity: cfg.fdb.capacity,
                guard: self.sw.guard_stats(),
                events: self.monitor.totals(),
            }
        });
    }
}

impl Drop for LinuxSwitch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket_path);
    }
}
