//! The control requests that need the switch, as the control thread
//! ([`crate::control_server`]) passes them on: answered at once, or, for an
//! FDB dump, a slice per loop turn.

use super::ports::retire;
use super::{LinuxSwitch, PortSlot, Stream};
use crate::control::{
    self, ControlStats, FdbSummary, PortInfo, Request, Response, Stats, VxlanInfo,
};
use crate::control_server::{Answer, Job, Tunnel};
use crate::error::{Error, Result};
use crate::sys;
use crate::target::{self, PortTarget};
use std::net::IpAddr;
use std::time::Duration;
use vswitch_core::{FdbCursor, MacAddr, PortId};

/// Entry positions of the FDB an `fdb show` copies per loop turn at most, so
/// that a dump of any size holds up frames for a bounded time
/// (BENCHMARKS.md, control-soak).
const DUMP_SLICE: usize = 4096;

/// The answer to `fdb show -s` when the table keeps no per-entry counters.
const NO_ENTRY_STATS: &str = "per-entry FDB counters are off (they cost 8 bytes per entry): \
     start the switch with --fdb-stats, or set fdb-entry-stats = true in its config file and reload";

/// Positions copied between two looks at the clock.
const DUMP_STEP: usize = 512;

/// Clock time after which a slice ends even if it has not copied
/// [`DUMP_SLICE`] positions.
const DUMP_BUDGET: Duration = Duration::from_micros(200);

/// Flushed FDB entries reclaimed per loop turn at most, within
/// [`DUMP_BUDGET`] as a dump's slice: a flush of any size holds up frames
/// for a bounded time.
const RECLAIM_SLICE: usize = 4096;

/// Flushed entries reclaimed between two looks at the clock: each costs
/// about a removal from the index, up to a microsecond in a table of a
/// million (BENCHMARKS.md, "Flush and explain without stalling").
const RECLAIM_STEP: usize = 128;

/// An `fdb show` under way.
pub(super) struct Dump {
    pub(super) client: u64,
    pub(super) cursor: FdbCursor,
    /// Port names, sent with the first slice.
    pub(super) names: Vec<String>,
    /// Tunnel ports' remotes, sent with the first slice.
    pub(super) tunnels: Vec<Tunnel>,
    /// The ports whose entries are sent, by port number; all when empty.
    pub(super) only: Vec<bool>,
}

/// Control work done in one loop turn: how long (on the clock, and on the
/// CPU), how much of it the thread spent runnable but waiting for a CPU, how
/// often it left its CPU, and the request that took longest. What is left of
/// the clock time after the CPU and the wait is time the thread was blocked
/// (asleep on a lock or a page fault: it left its CPU voluntarily) or its
/// virtual CPU was not running (the hypervisor's steal time, which this
/// kernel keeps out of a thread's CPU time: it did not leave its CPU at all).
#[derive(Default)]
pub(super) struct Stall {
    pub(super) spent: Duration,
    pub(super) cpu: Duration,
    pub(super) waited: Duration,
    /// Voluntary and involuntary context switches.
    pub(super) slept: u64,
    pub(super) preempted: u64,
    pub(super) longest: Duration,
    pub(super) what: &'static str,
}

/// When a piece of control work began: the clock, the thread's CPU time, its
/// run queue wait and its context switches so far.
pub(super) struct Started {
    clock: std::time::Instant,
    cpu: Duration,
    waited: Duration,
    switches: (u64, u64),
}

impl Started {
    fn now() -> Started {
        // The wait is read inside the clock's interval, at both ends: a
        // preemption between the readings counts as blocked, never the
        // other way round, so a turn reported as not blocked was not.
        let clock = std::time::Instant::now();
        let switches = sys::thread_switches();
        let cpu = sys::thread_cpu_time();
        let waited = sys::thread_sched_times().map_or(Duration::ZERO, |t| t.1);
        Started {
            clock,
            cpu,
            waited,
            switches,
        }
    }
}

impl Stall {
    fn add(&mut self, since: Started, what: &'static str) {
        if let Some((_, waited)) = sys::thread_sched_times() {
            self.waited += waited.saturating_sub(since.waited);
        }
        self.cpu += sys::thread_cpu_time().saturating_sub(since.cpu);
        let (slept, preempted) = sys::thread_switches();
        self.slept += slept.saturating_sub(since.switches.0);
        self.preempted += preempted.saturating_sub(since.switches.1);
        let d = since.clock.elapsed();
        self.spent += d;
        if d >= self.longest {
            self.longest = d;
            self.what = what;
        }
    }
}

/// The worst control work of one loop turn so far (on the clock, with that
/// turn's CPU time, run queue wait and context switches), and the most CPU
/// of any turn.
#[derive(Default)]
pub(super) struct MaxStall {
    pub(super) spent: Duration,
    pub(super) what: &'static str,
    pub(super) spent_cpu: Duration,
    pub(super) spent_waited: Duration,
    pub(super) slept: u64,
    pub(super) preempted: u64,
    pub(super) cpu: Duration,
    /// Turns whose control work took [`STALL_LIMIT`] or more on the clock.
    pub(super) over: u64,
}

/// The longest a loop turn's control work should hold up forwarding.
pub(super) const STALL_LIMIT: Duration = Duration::from_millis(1);

impl MaxStall {
    /// Takes in one loop turn's control work.
    pub(super) fn update(&mut self, turn: &Stall) {
        if turn.spent >= STALL_LIMIT {
            self.over += 1;
            tracing::debug!(
                "control work held forwarding {} µs ({}, ended at {:.6} s of CLOCK_MONOTONIC): CPU {} µs, waited {} µs, slept {} times, preempted {} times",
                turn.spent.as_micros(),
                turn.what,
                sys::monotonic().as_secs_f64(),
                turn.cpu.as_micros(),
                turn.waited.as_micros(),
                turn.slept,
                turn.preempted
            );
        }
        if turn.spent > self.spent {
            self.spent = turn.spent;
            self.what = turn.what;
            self.spent_cpu = turn.cpu;
            self.spent_waited = turn.waited;
            self.slept = turn.slept;
            self.preempted = turn.preempted;
        }
        self.cpu = self.cpu.max(turn.cpu);
    }
}

impl LinuxSwitch {
    /// Carries out the jobs the control thread sent.
    pub(super) fn on_control(&mut self, stall: &mut Stall) {
        // Events of the requests (a flush, a port removed) carry this time.
        let now = self.now();
        self.sw.advance(now);
        let mut jobs = std::mem::take(&mut self.jobs);
        self.control.take_jobs(&mut jobs);
        for job in jobs.drain(..) {
            let t = Started::now();
            match job {
                Job::Request { client, request } => {
                    let what = request.name();
                    self.handle(client, &request);
                    // Freed by the control thread, which made it.
                    self.control.give_back(request);
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
        self.monitor.forget(client);
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
    pub(super) fn dump_slice(&mut self, stall: &mut Stall) {
        self.control.take_spent();
        if self.dumps.is_empty() {
            return;
        }
        // One of the buffers that go back and forth: nothing allocated here
        // per slice, nothing freed there. None free (or answers waiting for
        // room): the control thread is behind, and the dumps wait for it.
        let Some(mut entries) = self.control.slice_buffer(DUMP_SLICE) else {
            return;
        };
        let Some(mut d) = self.dumps.pop_front() else {
            return;
        };
        let t = Started::now();
        let now = self.now();
        // Up to DUMP_SLICE positions, in steps, ending early once the slice
        // has taken DUMP_BUDGET (a machine where copying is slow, or the
        // thread was interrupted mid-way, still gives the frames their turn).
        let mut next = Some(d.cursor);
        let mut taken = 0;
        while let Some(cursor) = next {
            if taken >= DUMP_SLICE || (taken > 0 && t.clock.elapsed() >= DUMP_BUDGET) {
                break;
            }
            next = self
                .sw
                .fdb_mut()
                .entries_from(cursor, DUMP_STEP, now, &mut entries);
            taken += DUMP_STEP;
        }
        if !d.only.is_empty() {
            let only = &d.only;
            entries.retain(|e| only.get(usize::from(e.port.0)).copied().unwrap_or(false));
        }
        let answer = Answer::FdbSlice {
            names: std::mem::take(&mut d.names),
            tunnels: std::mem::take(&mut d.tunnels),
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

    /// Reclaims the memory of the next slice of flushed FDB entries (a
    /// flush takes them out of use at once; see `Fdb::flush_port`).
    pub(super) fn reclaim_slice(&mut self, stall: &mut Stall) {
        let t = Started::now();
        let mut done = 0;
        while done < RECLAIM_SLICE && (done == 0 || t.clock.elapsed() < DUMP_BUDGET) {
            let n = self.sw.fdb_mut().reclaim(RECLAIM_STEP);
            if n == 0 {
                break;
            }
            done += n;
        }
        stall.add(t, "fdb-reclaim");
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
    fn handle(&mut self, client: u64, req: &Request) {
        let done = |r: Result<serde_json::Value>| match r {
            Ok(v) => Answer::Done(Response::ok(v)),
            Err(e) => Answer::Done(Response::err(e)),
        };
        let answer = match req {
            Request::Add { port } => {
                let r = self.add_port(port);
                if let Ok(a) = &r {
                    tracing::info!("attached port {} {} on request", a.port, a.ifname);
                }
                done(json(r))
            }
            Request::Del { port } => done(json(self.del_port(port))),
            Request::Show => {
                self.poll_port_stats();
                done(json(Ok(self.show())))
            }
            Request::FdbShow { ports, stats } => {
                if *stats && !self.sw.fdb().config().entry_stats {
                    let e = Error::Remote(NO_ENTRY_STATS.into());
                    self.control.reply(client, Answer::Done(Response::err(e)));
                    return;
                }
                let mut only = Vec::new();
                for p in ports {
                    match self.find_port(p) {
                        Ok(id) => {
                            let i = usize::from(id.0);
                            if only.len() <= i {
                                only.resize(i + 1, false);
                            }
                            only[i] = true;
                        }
                        Err(e) => {
                            self.control.reply(client, Answer::Done(Response::err(e)));
                            return;
                        }
                    }
                }
                let names = self.port_names();
                let mut tunnels = self.tunnels();
                if !only.is_empty() {
                    tunnels.retain(|t| only.get(usize::from(t.port)).copied().unwrap_or(false));
                }
                self.dumps.push_back(Dump {
                    client,
                    cursor: FdbCursor::default(),
                    names,
                    tunnels,
                    only,
                });
                return;
            }
            Request::MdbShow => done(json(Ok(self.mdb_show()))),
            Request::FdbAdd {
                mac,
                port,
                vlan,
                dst,
            } => done(json(self.fdb_add(mac, port, *vlan, dst.as_deref()))),
            Request::FdbDel {
                mac,
                vlan,
                port,
                dst,
            } => done(json(match (port, dst) {
                (Some(port), Some(dst)) => self.flood_del(mac, port, dst),
                (None, None) => self.fdb_del(mac, *vlan),
                _ => Err(Error::Config(
                    "removing from a flood list takes both a port and a dst".into(),
                )),
            })),
            Request::FdbFlush { port } => done(json(self.fdb_flush(port.as_deref()))),
            Request::Stats => {
                self.poll_port_stats();
                done(json(Ok(self.stats())))
            }
            Request::Reload => done(json(self.reload_logged())),
            Request::StpShow => done(json(Ok(self.stp_info()))),
            Request::StpClearGuard { port } => done(json(self.stp_clear_guard(port))),
            Request::VniAdd { port, vni, vlan } => done(json(self.vni_add(port, *vni, *vlan))),
            Request::VniDel { port, vni } => done(json(self.vni_del(port, *vni))),
            Request::Trace { port } => match port.as_ref().map(|p| self.find_port(p)).transpose() {
                Ok(filter) => {
                    self.streams.push((client, Stream::Trace(filter)));
                    Answer::Stream
                }
                Err(e) => Answer::Done(Response::err(e)),
            },
            Request::Monitor => {
                // Events so far go to the clients there were: this one
                // starts with the next.
                self.drain_events();
                self.monitor.add(client);
                Answer::Stream
            }
            Request::Explain { port, frame } => done(self.explain(port, frame)),
            Request::Capture { port } => match self.find_port(port) {
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
            PortTarget::Vxlan(v) => v.name,
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
                vxlan: slot.port.vxlan().map(|v| VxlanInfo {
                    vni: v.vnis().first().map(|&(n, _)| n),
                    local: v.spec().local.to_string(),
                    dstport: v.spec().dstport,
                    vlans: v
                        .vnis()
                        .iter()
                        .copied()
                        .filter(|&(_, vid)| vid != 0)
                        .collect(),
                    flood: v
                        .remotes()
                        .flood_list()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    underlay: v.underlay().unwrap_or_default().to_string(),
                    remotes: v.remotes().len(),
                    drops: v
                        .decap_counts()
                        .nonzero()
                        .into_iter()
                        .map(|(k, n)| (k.to_string(), n))
                        .collect(),
                }),
            });
        }
        out
    }

    /// Tunnel ports' remotes, for `fdb show`.
    fn tunnels(&self) -> Vec<Tunnel> {
        let mut out = Vec::new();
        for (i, slot) in self.ports.iter().enumerate() {
            let Some(v) = slot.as_ref().and_then(|s| s.port.vxlan()) else {
                continue;
            };
            let r = v.remotes();
            out.push(Tunnel {
                port: i as u16,
                remotes: r
                    .by_id()
                    .iter()
                    .map(|a| a.map(|a| a.to_string()).unwrap_or_default())
                    .collect(),
                flood: r.flood_list().iter().map(ToString::to_string).collect(),
            });
        }
        out
    }

    /// The VXLAN port `port` and the address `dst`.
    fn tunnel_dst(
        &mut self,
        port: &str,
        dst: &str,
    ) -> Result<(PortId, &mut crate::vxlan::VxlanPort, IpAddr)> {
        let id = self.find_port(port)?;
        let addr: IpAddr = dst
            .parse()
            .map_err(|_| Error::Config(format!("dst \"{dst}\" is not an IP address")))?;
        let vx = self
            .slot(id)
            .and_then(|s| s.port.vxlan_mut())
            .ok_or_else(|| {
                Error::Config(format!(
                    "\"{port}\" is no VXLAN port: dst means nothing there"
                ))
            })?;
        Ok((id, vx, addr))
    }

    /// The VXLAN port named `port`.
    fn vxlan_port(&mut self, port: &str) -> Result<(PortId, &mut crate::vxlan::VxlanPort)> {
        let id = self.find_port(port)?;
        let vx = self
            .slot(id)
            .and_then(|s| s.port.vxlan_mut())
            .ok_or_else(|| Error::Remote(format!("\"{port}\" is no VXLAN port: it has no VNIs")))?;
        Ok((id, vx))
    }

    /// Makes VXLAN port `port` carry `vni` too: untagged (`vlan` 0) or as
    /// switch VLAN `vlan`, which needs a VLAN-aware switch on which the port
    /// is a trunk of that VLAN.
    fn vni_add(&mut self, port: &str, vni: u32, vlan: u16) -> Result<()> {
        let id = self.find_port(port)?;
        if vlan != 0 {
            if !self.sw.config().vlan_aware {
                return Err(Error::Remote(format!(
                    "VNI {vni} on VLAN {vlan}: this switch is not VLAN-aware, so {port} \
                     carries one VNI, untagged (vni add {port} {vni}); set vlan-aware = true \
                     to map several VNIs to VLANs"
                )));
            }
            let admits = self.sw.port(id).is_some_and(|p| p.config.vlan.admits(vlan));
            if !admits {
                return Err(Error::Remote(format!(
                    "{port} is not a member of VLAN {vlan}: make it a trunk of it \
                     ([ports.{port}] vlan = {{ trunk = [..., {vlan}] }}) first"
                )));
            }
        }
        let (_, vx) = self.vxlan_port(port)?;
        vx.add_vni(vni, vlan).map_err(Error::Remote)?;
        tracing::info!(
            "{port}: carries VNI {vni}{} on request",
            if vlan == 0 {
                String::new()
            } else {
                format!(" as VLAN {vlan}")
            }
        );
        Ok(())
    }

    /// Makes VXLAN port `port` stop carrying `vni`.
    fn vni_del(&mut self, port: &str, vni: u32) -> Result<()> {
        let (_, vx) = self.vxlan_port(port)?;
        vx.del_vni(vni).map_err(Error::Remote)?;
        tracing::info!("{port}: no longer carries VNI {vni}, on request");
        Ok(())
    }

    /// Takes `dst` off tunnel port `port`'s flood list.
    fn flood_del(&mut self, mac: &str, port: &str, dst: &str) -> Result<()> {
        if mac.parse::<MacAddr>().ok().is_none_or(|m| !m.is_zero()) {
            return Err(Error::Config(
                "a dst is removed from a flood list as MAC 00:00:00:00:00:00".into(),
            ));
        }
        let (_, vx, addr) = self.tunnel_dst(port, dst)?;
        if vx.remotes_mut().remove_flood(addr) {
            Ok(())
        } else {
            Err(Error::Remote(format!(
                "{addr} is not in the flood list of {port}"
            )))
        }
    }

    fn fdb_add(&mut self, mac: &str, port: &str, vlan: u16, dst: Option<&str>) -> Result<()> {
        let mac: MacAddr = mac
            .parse()
            .map_err(|_| Error::Config(format!("bad MAC address \"{mac}\"")))?;
        if let Some(dst) = dst {
            let (id, vx, addr) = self.tunnel_dst(port, dst)?;
            if mac.is_zero() {
                // As `bridge fdb append 00:00:00:00:00:00 dev vx dst IP`.
                vx.remotes_mut().append_flood(addr);
                return Ok(());
            }
            let remote = vx
                .remotes_mut()
                .id(addr)
                .ok_or_else(|| Error::Config(format!("{port} has too many remote endpoints")))?;
            if !mac.is_unicast() {
                return Err(Error::Config(format!("{mac} is not a unicast address")));
            }
            if vlan > 4094 {
                return Err(Error::Config(format!("VLAN {vlan} is outside 0..=4094")));
            }
            self.sw.fdb_mut().add_static_to(vlan, mac, id, Some(remote));
            return Ok(());
        }
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
                self.sw.flush(Some(id))
            }
            None => self.sw.flush(None),
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
                max_stall_waited_us: self.max_stall.spent_waited.as_micros() as u64,
                max_stall_blocked_us: self
                    .max_stall
                    .spent
                    .saturating_sub(self.max_stall.spent_cpu + self.max_stall.spent_waited)
                    .as_micros() as u64,
                max_stall_slept: self.max_stall.slept,
                max_stall_preempted: self.max_stall.preempted,
                stalls_over_1ms: self.max_stall.over,
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
                reclaiming: self.sw.fdb().reclaim_pending() as u64,
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

impl LinuxSwitch {
    /// What the switch would do with `hex` (a whole frame) received on
    /// `port`, and why, as `vswitch explain` prints it.
    fn explain(&mut self, port: &str, hex: &str) -> Result<serde_json::Value> {
        let id = self.find_port(port)?;
        let frame = vswitch_core::explain::parse_hex(hex).map_err(Error::Config)?;
        let now = self.now();
        let x = self.sw.explain(now, id, None, &frame);
        Ok(control::explain_json(&x, port, |p| self.port_name(p)))
    }
}

fn json<T: serde::Serialize>(r: Result<T>) -> Result<serde_json::Value> {
    r.map(|x| serde_json::to_value(x).unwrap_or_default())
}
