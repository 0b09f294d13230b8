//! The real switch's commands: `run`, `add`, `del`, `show`, `fdb`, `mdb`, `stats`,
//! `trace`, `capture` and `lab`.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use vswitch_core::spec::{EvictionSpec, StpSpec, SwitchSpec};
use vswitch_linux::config::{Overrides, RunConfig};
use vswitch_linux::control::{
    self, Added, FdbRow, MdbReport, PortInfo, ReloadReport, Request, Stats, StpInfo, DEFAULT_NAME,
};
use vswitch_linux::control_server::{
    ControlLimits, DEFAULT_CONTROL_CPU, DEFAULT_CONTROL_NICE, DEFAULT_IDLE, DEFAULT_MAX_CLIENTS,
};
use vswitch_linux::lab::{self, LabOptions};
use vswitch_linux::port::{PortOptions, RingKind, DEFAULT_RING_MIB};
use vswitch_linux::switch::{ConfigSource, LinuxSwitch, RunOptions, DEFAULT_NICE};

/// Commands of the switch on real interfaces.
#[derive(Subcommand)]
pub enum LinuxCommand {
    /// Run a switch in the foreground on real interfaces (until SIGINT/SIGTERM).
    Run(RunArgs),
    /// Attach a port to a running switch: IFACE, netns:NS/IFACE, pid:PID/IFACE or tap:NAME.
    Add(PortArgs),
    /// Detach a port from a running switch.
    Del(PortArgs),
    /// Show a running switch's ports, their state and counters.
    Show(Common),
    /// Show or change a running switch's MAC table.
    #[command(subcommand)]
    Fdb(FdbCommand),
    /// Show or change a running switch's multicast group table.
    #[command(subcommand)]
    Mdb(MdbCommand),
    /// Show a running switch's totals and MAC table statistics.
    Stats(Common),
    /// Show a running switch's spanning tree.
    #[command(subcommand)]
    Stp(StpCommand),
    /// Change a running switch's VXLAN ports.
    #[command(subcommand)]
    Vxlan(VxlanCommand),
    /// Print one line per frame a running switch forwards.
    Trace(TraceArgs),
    /// Record what a running switch sends out of a port, as pcap.
    Capture(CaptureArgs),
    /// Print a running switch's events as they happen: entries learned,
    /// moved, aged, evicted and flushed, ports, protections; each with its
    /// sequence number, and a "missed" line if this reader fell behind.
    Monitor(Common),
    /// What a running switch would do with a frame, and why, rule by rule,
    /// without sending it: `in=PORT src=MAC dst=MAC [vlan=N] [pcp=N]
    /// [type=0x0800]`, or `in=PORT HEX` for a whole frame in hex.
    Explain(ExplainArgs),
    /// Make a running switch re-read its configuration file and apply the
    /// difference, keeping its table (as SIGHUP does).
    Reload(Common),
    /// Check a configuration file (`run --config FILE`) without running it.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Build or remove a test lab of network namespaces and veth pairs.
    #[command(subcommand)]
    Lab(LabCommand),
}

/// Options every management command takes.
#[derive(Args)]
pub struct Common {
    /// The switch to talk to.
    #[arg(long, default_value = DEFAULT_NAME)]
    name: String,
    /// Print JSON.
    #[arg(short = 'j', long = "json")]
    json: bool,
}

/// `vswitch fdb show`.
#[derive(Args)]
pub struct FdbShowArgs {
    #[command(flatten)]
    common: Common,
    /// With each entry's counters as a destination, as `bridge -s fdb show`:
    /// frames forwarded to it (`hits`) and `used X/Y` (seconds since one was
    /// last forwarded to it / since it was last seen as a source). Needs a
    /// switch run with `--fdb-stats` (or `fdb-entry-stats = true`).
    #[arg(short = 's', long = "stats")]
    stats: bool,
}

/// `vswitch run`.
#[derive(Args)]
pub struct RunArgs {
    /// The switch's name (names its control socket /run/vswitch/NAME.sock).
    #[arg(long, default_value = DEFAULT_NAME)]
    name: String,
    /// Switch and port settings, a TOML file (attach = [ports], aging, capacity, eviction,
    /// vlan-aware, group-forward-mask, move-guard, [ports.NAME] with
    /// storm-broadcast, storm-multicast, storm-unknown, mac-limit, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Be a repeater hub: every frame to every other port.
    #[arg(long)]
    hub: bool,
    /// Aging time in seconds, 0 to 2147483 (0: learn nothing, flood everything).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    aging: Option<f64>,
    /// Bound on learned MAC entries, 1 to 16777214.
    #[arg(long, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=16_777_214))]
    capacity: Option<u32>,
    /// Keep per-entry MAC table counters for `fdb show -s` (hits, last
    /// used): 8 more bytes per entry. Off by default.
    #[arg(long)]
    fdb_stats: bool,
    /// What to do when the MAC table is full.
    #[arg(long, value_enum)]
    eviction: Option<Eviction>,
    /// IEEE link-local groups 01:80:C2:00:00:0X to forward (bit X), e.g. 0x4000 for LLDP.
    #[arg(long, value_name = "MASK", value_parser = parse_mask)]
    group_forward_mask: Option<u16>,
    /// Storm control: at most PPS broadcast floods per second from each port.
    #[arg(long, value_name = "PPS")]
    storm_broadcast: Option<u32>,
    /// Port security: at most K learned MACs per port (frames from more are
    /// forwarded but not learned).
    #[arg(long, value_name = "K")]
    mac_limit: Option<u32>,
    /// MAC-move guard: a MAC moving more than MOVES times in SECS seconds is
    /// held on its port for 60 s.
    #[arg(long, value_name = "MOVES/SECS", value_parser = parse_move_guard)]
    move_guard: Option<(u32, f64)>,
    /// Multicast snooping: forward IP multicast only to the ports whose
    /// hosts joined the group (IGMP/MLD) and to router ports.
    #[arg(long)]
    mcast_snooping: bool,
    /// Multicast snooping with the switch's own querier, for a segment with
    /// no multicast router (memberships time out without queries).
    #[arg(long)]
    mcast_querier: bool,
    /// Spanning tree: rstp, stp or off (the default: BPDUs are dropped).
    #[arg(long, value_enum)]
    stp: Option<StpArg>,
    /// Spanning tree bridge priority, a multiple of 4096 (lowest is root).
    #[arg(long, value_name = "N")]
    stp_priority: Option<u16>,
    /// Print one line per frame on standard output.
    #[arg(long)]
    trace: bool,
    /// Serve Prometheus metrics on ADDR:PORT (a bare PORT: on 127.0.0.1),
    /// at /metrics.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_metrics)]
    metrics: Option<std::net::SocketAddr>,
    /// Send TCP segments as they came, never joined into GSO super-frames
    /// (joining saves the receiving hosts most of their per-segment work).
    #[arg(long)]
    no_gro: bool,
    /// How ports receive: v2, a ring that wakes the switch per frame (lowest
    /// latency); v3, a ring of 1 MiB blocks handed over when full or after
    /// 1 ms (fewer wakeups, adds up to 1 ms per hop); none, a system call
    /// per batch.
    #[arg(long, value_enum, default_value = "v2")]
    rx_ring: RxRing,
    /// Receive ring memory per port, in MiB: a 2 KiB slot per frame, so 8 MiB
    /// absorb 3.7 ms of 64-byte frames at 1.1 Mpps.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_RING_MIB,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    rx_ring_mib: u16,
    /// After a batch, keep looking for frames this many microseconds before
    /// sleeping (0: sleep at once). Under load the switch keeps its CPU
    /// instead of being woken per frame; idle, it costs nothing. By default
    /// 50 at the ordinary policy, 0 at a real-time priority (--rt-priority),
    /// which is woken at once anyway.
    #[arg(long, value_name = "MICROSECONDS",
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    poll_us: Option<u32>,
    /// The forwarding thread's nice value, -20 to 19: by default ahead of
    /// ordinary processes (monitoring clients, the switch's control thread at
    /// +10), as Open vSwitch runs ovs-vswitchd at -10.
    #[arg(long, value_name = "NICE", default_value_t = DEFAULT_NICE,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    nice: i32,
    /// Run the forwarding thread at this real-time priority (SCHED_FIFO,
    /// 1 to 99) instead of --nice, so that no ordinary process, such as a
    /// busy monitoring client, preempts it; the switch refuses to start if
    /// it may not (CAP_SYS_NICE). 0, the default: the ordinary policy. Best
    /// with a CPU kept for the switch (README.md, `--rt-priority`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=99))]
    rt_priority: Option<u8>,
    /// The control thread's nice value, -20 to 19 (it answers `show`,
    /// `fdb show`, `stats` ... and formats their answers).
    #[arg(long, value_name = "NICE", default_value_t = DEFAULT_CONTROL_NICE,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    control_nice: i32,
    /// The share of one CPU, in percent (1 to 100), the control thread may
    /// use; past it, it pauses for as long as its CPU time would take at that
    /// share (counted over windows of 100 ms or more), so that clients
    /// polling the switch in loops get fewer answers instead of CPU that
    /// forwarding and the traffic need. 100: no bound.
    #[arg(long, value_name = "PERCENT", default_value_t = DEFAULT_CONTROL_CPU,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    control_cpu: u8,
    /// Open interface ports as AF_XDP sockets (copy mode, --rx-ring-mib of
    /// frame memory), AF_PACKET where the kernel or interface does not allow
    /// it. No offloads: the peers must send finished checksums (`ethtool -K
    /// PEER tx off`).
    #[arg(long)]
    afxdp: bool,
    /// Join a control plane (OVN) as a hardware VTEP: the OVSDB server of its
    /// hardware_vtep database, unix:PATH or tcp:IP:PORT (config file: vtep-db).
    #[arg(long, value_name = "REMOTE")]
    vtep_db: Option<String>,
    /// Close a control connection that sends no whole request, or reads none
    /// of its answer, for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_IDLE.as_secs_f64(),
          value_parser = parse_idle)]
    control_idle: f64,
    /// Most control connections open at once; more get a refusal line.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CLIENTS as u16,
          value_parser = clap::value_parser!(u16).range(1..))]
    control_clients: u16,
    /// Ports: IFACE, netns:NS/IFACE, pid:PID/IFACE or tap:NAME.
    ports: Vec<String>,
}

/// Receive rings on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum RxRing {
    /// TPACKET_V2.
    V2,
    /// TPACKET_V3.
    V3,
    /// No ring.
    None,
}

/// `vswitch stp ...`.
#[derive(Subcommand)]
pub enum StpCommand {
    /// Bridge and root identifiers, root port, each port's role, state, cost,
    /// guards, BPDU counters and topology changes.
    Show(Common),
    /// Re-enable a port BPDU guard shut down (so does its link going down and up).
    ClearGuard(PortArgs),
}

/// Spanning tree protocols on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum StpArg {
    /// RSTP (802.1D-2004), falling back to STP per port.
    Rstp,
    /// 802.1D STP only.
    Stp,
    /// No spanning tree (BPDUs dropped).
    Off,
}

/// Eviction policies on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum Eviction {
    /// Evict the oldest entry of the port holding the most entries.
    FairLru,
    /// Learn nothing new until entries age out.
    StopLearning,
}

fn parse_idle(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("\"{s}\" is not a number of seconds in (0, 86400]")),
    }
}

fn parse_move_guard(s: &str) -> Result<(u32, f64), String> {
    let bad = || format!("\"{s}\" is not MOVES/SECS, like 5/10");
    let (moves, secs) = s.split_once('/').ok_or_else(bad)?;
    let moves = moves.trim().parse().map_err(|_| bad())?;
    let secs: f64 = secs.trim().parse().map_err(|_| bad())?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(bad());
    }
    Ok((moves, secs))
}

fn parse_mask(s: &str) -> Result<u16, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("\"{s}\" is not a 16-bit mask"))
}

/// `vswitch add|del`.
#[derive(Args)]
pub struct PortArgs {
    /// The port.
    port: String,
    #[command(flatten)]
    common: Common,
}

/// `vswitch vxlan ...`.
#[derive(Subcommand)]
pub enum VxlanCommand {
    /// Add or remove the VNIs a running VXLAN port carries.
    #[command(subcommand)]
    Vni(VniCommand),
}

/// `vswitch vxlan vni ...`.
#[derive(Subcommand)]
pub enum VniCommand {
    /// Carry one more VNI: untagged (then the port's only VNI) or, with
    /// --vlan, mapped to a VLAN of a VLAN-aware switch on which the port is a
    /// trunk of that VLAN (as `bridge vlan add dev vx vid V tunnel_info id N`).
    Add(VniAddArgs),
    /// Stop carrying a VNI (its frames are then dropped as vxlan-wrong-vni).
    Del(VniDelArgs),
}

/// `vswitch vxlan vni add`.
#[derive(Args)]
pub struct VniAddArgs {
    /// The VXLAN port.
    port: String,
    /// The VNI (0..=16777215).
    vni: u32,
    /// The switch VLAN (1..=4094) the VNI maps to.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4094))]
    vlan: Option<u16>,
    #[command(flatten)]
    common: Common,
}

/// `vswitch vxlan vni del`.
#[derive(Args)]
pub struct VniDelArgs {
    /// The VXLAN port.
    port: String,
    /// The VNI.
    vni: u32,
    #[command(flatten)]
    common: Common,
}

/// `vswitch mdb ...`.
#[derive(Subcommand)]
pub enum MdbCommand {
    /// List the groups and their ports, the router ports and the queriers,
    /// as `bridge mdb show` does.
    Show(Common),
}

/// `vswitch fdb ...`.
#[derive(Subcommand)]
pub enum FdbCommand {
    /// List the entries.
    Show(FdbShowArgs),
    /// Add a static entry: MAC PORT [dst IP]. On a VXLAN port, `dst IP` names
    /// the remote endpoint; MAC 00:00:00:00:00:00 adds IP to the flood list.
    Add {
        /// MAC address.
        mac: String,
        /// Port name.
        port: String,
        /// `dst IP` (VXLAN ports).
        #[arg(value_name = "dst IP")]
        words: Vec<String>,
        /// VLAN.
        #[arg(long, default_value_t = 0)]
        vlan: u16,
        #[command(flatten)]
        common: Common,
    },
    /// Remove an entry: MAC, or 00:00:00:00:00:00 PORT dst IP to take IP off
    /// a VXLAN port's flood list.
    Del {
        /// MAC address.
        mac: String,
        /// `PORT dst IP` (a VXLAN port's flood list).
        #[arg(value_name = "PORT dst IP")]
        words: Vec<String>,
        /// VLAN.
        #[arg(long, default_value_t = 0)]
        vlan: u16,
        #[command(flatten)]
        common: Common,
    },
    /// Remove learned entries, of one port or all.
    Flush {
        /// Only this port's entries.
        #[arg(long)]
        port: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// `vswitch explain`.
#[derive(Args)]
pub struct ExplainArgs {
    /// `in=PORT`, then `src=MAC dst=MAC [vlan=N] [pcp=N] [type=N]` or the frame in hex.
    #[arg(required = true, num_args = 1..)]
    frame: Vec<String>,
    #[command(flatten)]
    common: Common,
}

/// `vswitch trace`.
#[derive(Args)]
pub struct TraceArgs {
    /// Only frames entering or leaving this port.
    #[arg(long)]
    port: Option<String>,
    /// The switch to talk to.
    #[arg(long, default_value = DEFAULT_NAME)]
    name: String,
}

/// `vswitch capture`.
#[derive(Args)]
pub struct CaptureArgs {
    /// The port whose outgoing frames are recorded.
    port: String,
    /// The pcap file to write, `-` for standard output.
    #[arg(short = 'w', value_name = "FILE")]
    write: PathBuf,
    /// Stop after this many frames.
    #[arg(short = 'c', long = "count")]
    count: Option<u64>,
    /// The switch to talk to.
    #[arg(long, default_value = DEFAULT_NAME)]
    name: String,
}

/// `vswitch lab ...`.
#[derive(Subcommand)]
pub enum LabCommand {
    /// Build N namespaces (PREFIX1..N), each with vethK inside (192.168.100.(100+K)/24)
    /// and its peer outside, ready to attach.
    Up {
        /// Number of hosts.
        #[arg(default_value_t = 4)]
        hosts: u32,
        /// Namespace name prefix.
        #[arg(long, default_value = lab::DEFAULT_PREFIX)]
        prefix: String,
        /// Also add a host-side port with the subnet's .254 and a default route via it.
        #[arg(long)]
        gateway: bool,
        /// The hosts' network: a /24 inside 10.0.0.0/8 or 192.168.0.0/16
        /// (host K gets .100+K).
        #[arg(long, default_value_t = lab::DEFAULT_SUBNET)]
        subnet: lab::Subnet,
    },
    /// Build an overlay lab: two machines (namespaces PREFIXm1, PREFIXm2)
    /// joined by an underlay veth, with hosts behind each, ready for a switch
    /// with a VXLAN port inside each machine.
    Overlay {
        /// Hosts behind each machine.
        #[arg(default_value_t = 1)]
        hosts: u32,
        /// Namespace name prefix.
        #[arg(long, default_value = "vsw-ov")]
        prefix: String,
        /// The hosts' network.
        #[arg(long, default_value_t = lab::DEFAULT_SUBNET)]
        subnet: lab::Subnet,
        /// The underlay network (machine M gets .100+M).
        #[arg(long, default_value_t = lab::Subnet([10, 200, 0]))]
        underlay: lab::Subnet,
    },
    /// Remove what `lab up` or `lab overlay` made.
    Down {
        /// Namespace name prefix.
        #[arg(long, default_value = lab::DEFAULT_PREFIX)]
        prefix: String,
    },
}

/// Runs a command of the real switch.
pub fn run(command: LinuxCommand) -> anyhow::Result<()> {
    match command {
        LinuxCommand::Run(args) => run_switch(args),
        LinuxCommand::Add(a) => {
            let data = control::request(&a.common.name, Request::Add { port: a.port })?;
            if a.common.json {
                return print_json(&data);
            }
            let added: Added = serde_json::from_value(data)?;
            let notes = if added.notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", added.notes.join("; "))
            };
            outln!("attached {} as port {}{notes}", added.ifname, added.port)?;
            Ok(())
        }
        LinuxCommand::Del(a) => {
            let data = control::request(&a.common.name, Request::Del { port: a.port })?;
            if a.common.json {
                return print_json(&data);
            }
            outln!("detached {}", data.as_str().unwrap_or("?"))?;
            Ok(())
        }
        LinuxCommand::Show(c) => {
            let data = control::request(&c.name, Request::Show)?;
            if c.json {
                return print_json(&data);
            }
            let ports: Vec<PortInfo> = serde_json::from_value(data)?;
            print_ports(&c.name, &ports)?;
            Ok(())
        }
        LinuxCommand::Fdb(f) => fdb(f),
        LinuxCommand::Mdb(MdbCommand::Show(c)) => {
            let data = control::request(&c.name, Request::MdbShow)?;
            if c.json {
                return print_json(&data);
            }
            print_mdb(&c.name, &serde_json::from_value(data)?)?;
            Ok(())
        }
        LinuxCommand::Stats(c) => {
            let data = control::request(&c.name, Request::Stats)?;
            if c.json {
                return print_json(&data);
            }
            print_stats(&serde_json::from_value(data)?)?;
            Ok(())
        }
        LinuxCommand::Stp(StpCommand::Show(c)) => {
            let data = control::request(&c.name, Request::StpShow)?;
            if c.json {
                return print_json(&data);
            }
            print_stp(&c.name, &serde_json::from_value(data)?)?;
            Ok(())
        }
        LinuxCommand::Stp(StpCommand::ClearGuard(a)) => {
            let data = control::request(
                &a.common.name,
                Request::StpClearGuard {
                    port: a.port.clone(),
                },
            )?;
            if a.common.json {
                return print_json(&data);
            }
            outln!("{}", data.as_str().unwrap_or("done"))?;
            Ok(())
        }
        LinuxCommand::Trace(t) => {
            let reader = control::stream(&t.name, Request::Trace { port: t.port })?;
            let mut out = std::io::stdout().lock();
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    break;
                }
            }
            Ok(())
        }
        LinuxCommand::Monitor(c) => {
            let reader = control::stream(&c.name, Request::Monitor)?;
            let mut out = std::io::stdout().lock();
            for line in reader.lines() {
                let Ok(line) = line else { break };
                let text = if c.json {
                    line
                } else {
                    match serde_json::from_str(&line) {
                        Ok(v) => event_text(&v),
                        Err(_) => line,
                    }
                };
                if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
                    break;
                }
            }
            Ok(())
        }
        LinuxCommand::Explain(e) => {
            let req = vswitch_core::FrameRequest::parse(e.frame.iter().map(String::as_str))
                .map_err(anyhow::Error::msg)?;
            let hex: String = req.frame.iter().map(|b| format!("{b:02x}")).collect();
            let data = control::request(
                &e.common.name,
                Request::Explain {
                    port: req.port,
                    frame: hex,
                },
            )?;
            if e.common.json {
                return print_json(&data);
            }
            for line in control::explain_lines(&data) {
                outln!("{line}")?;
            }
            Ok(())
        }
        LinuxCommand::Capture(c) => {
            let n = if c.write.as_os_str() == "-" {
                vswitch_linux::capture::capture(
                    &c.name,
                    &c.port,
                    std::io::stdout().lock(),
                    c.count,
                )?
            } else {
                let file = std::fs::File::create(&c.write)
                    .with_context(|| format!("cannot create {}", c.write.display()))?;
                vswitch_linux::capture::capture(
                    &c.name,
                    &c.port,
                    std::io::BufWriter::new(file),
                    c.count,
                )?
            };
            eprintln!("{n} frames captured");
            Ok(())
        }
        LinuxCommand::Lab(l) => lab_command(l),
        LinuxCommand::Vxlan(VxlanCommand::Vni(cmd)) => {
            let (common, request, done) = match cmd {
                VniCommand::Add(a) => (
                    a.common,
                    Request::VniAdd {
                        port: a.port.clone(),
                        vni: a.vni,
                        vlan: a.vlan.unwrap_or(0),
                    },
                    format!("{} carries VNI {}", a.port, a.vni),
                ),
                VniCommand::Del(a) => (
                    a.common,
                    Request::VniDel {
                        port: a.port.clone(),
                        vni: a.vni,
                    },
                    format!("{} no longer carries VNI {}", a.port, a.vni),
                ),
            };
            let data = control::request(&common.name, request)?;
            if common.json {
                return print_json(&data);
            }
            outln!("{done}")?;
            Ok(())
        }
        LinuxCommand::Reload(c) => {
            let data = control::request(&c.name, Request::Reload)?;
            if c.json {
                return print_json(&data);
            }
            let report: ReloadReport = serde_json::from_value(data)?;
            outln!("{report}")?;
            Ok(())
        }
        LinuxCommand::CheckConfig { file } => {
            let c = RunConfig::load(&file)?;
            let named = c.switch.ports.len();
            outln!(
                "{}: ok ({} port{} to attach, settings for {named} port name{})",
                file.display(),
                c.attach.len(),
                if c.attach.len() == 1 { "" } else { "s" },
                if named == 1 { "" } else { "s" },
            )?;
            Ok(())
        }
    }
}

/// One event line of `vswitch monitor` as text: sequence number, time, what.
fn event_text(v: &serde_json::Value) -> String {
    let s = |k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let what = match s("event").as_str() {
        "learned" | "aged" | "evicted" => {
            format!(
                "{} {} vlan {} port {}",
                s("event"),
                s("mac"),
                s("vlan"),
                s("port")
            )
        }
        "mac-limit" => format!(
            "mac-limit {} vlan {} refused on {}",
            s("mac"),
            s("vlan"),
            s("port")
        ),
        "moved" => format!(
            "moved {} vlan {} {} -> {}",
            s("mac"),
            s("vlan"),
            s("from"),
            s("to")
        ),
        "hold-down" => format!(
            "hold-down {} vlan {} kept on {} (tried {})",
            s("mac"),
            s("vlan"),
            s("port"),
            s("to")
        ),
        "flushed" if v["port"].is_null() => {
            format!("flushed {} entries ({})", s("count"), s("reason"))
        }
        "flushed" => format!(
            "flushed {} entries of {} ({})",
            s("count"),
            s("port"),
            s("reason")
        ),
        "storm-start" => format!("storm-start {} {}", s("port"), s("kind")),
        "storm-end" => format!(
            "storm-end {} {} after {} dropped",
            s("port"),
            s("kind"),
            s("dropped")
        ),
        "guard-shutdown" => format!(
            "guard-shutdown {} by {} until {} s",
            s("port"),
            s("mac"),
            s("until")
        ),
        "missed" => format!(
            "missed {} events: this reader fell behind; `vswitch fdb show` gives the table now",
            s("count")
        ),
        e if e.starts_with("port-") => format!("{e} {}", s("port")),
        e => format!("{e} {v}"),
    };
    format!(
        "{:>8} {:>12.3} {what}",
        s("seq"),
        v["time"].as_f64().unwrap_or(0.0)
    )
}

fn parse_metrics(s: &str) -> Result<std::net::SocketAddr, String> {
    vswitch_linux::metrics::parse_addr(s).map_err(|e| match e {
        vswitch_linux::Error::Config(m) => m,
        e => e.to_string(),
    })
}

fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string(v)?)?;
    Ok(())
}

fn run_switch(a: RunArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let (mut spec, mut ports, mut vtep_db, file_metrics) = match &a.config {
        Some(path) => {
            let config = RunConfig::load(path)?;
            (config.switch, config.attach, config.vtep_db, config.metrics)
        }
        None => (SwitchSpec::default(), Vec::new(), None, None),
    };
    // The command line's over the file's.
    if a.vtep_db.is_some() {
        vtep_db = a.vtep_db.clone();
    }
    let vtep_remote = match &vtep_db {
        Some(r) => Some(
            vswitch_linux::ovsdb::Remote::parse(r).map_err(|e| anyhow::anyhow!("--vtep-db {e}"))?,
        ),
        None => None,
    };
    let file_ports = ports.clone();
    // Ports on the command line come after those of the file.
    for p in a.ports {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let overrides = Overrides {
        hub: a.hub,
        aging: a.aging,
        capacity: a.capacity,
        eviction: a.eviction.map(|e| match e {
            Eviction::FairLru => EvictionSpec::FairLru,
            Eviction::StopLearning => EvictionSpec::StopLearning,
        }),
        group_forward_mask: a.group_forward_mask,
        storm_broadcast: a.storm_broadcast,
        mac_limit: a.mac_limit,
        move_guard: a.move_guard,
        mcast_snooping: a.mcast_snooping,
        mcast_querier: a.mcast_querier,
        fdb_entry_stats: a.fdb_stats,
        stp: a.stp.map(|s| match s {
            StpArg::Rstp => StpSpec::Rstp,
            StpArg::Stp => StpSpec::Stp,
            StpArg::Off => StpSpec::Off,
        }),
        stp_priority: a.stp_priority,
    };
    overrides.apply(&mut spec);
    let config = a.config.map(|path| ConfigSource {
        path,
        overrides: overrides.clone(),
        attach: file_ports,
    });
    let switch_name = a.name.clone();
    let mut sw = LinuxSwitch::new(RunOptions {
        config,
        name: a.name,
        spec,
        ports,
        trace: a.trace,
        port: PortOptions {
            gro: !a.no_gro,
            ring: match a.rx_ring {
                RxRing::V2 => RingKind::V2,
                RxRing::V3 => RingKind::V3,
                RxRing::None => RingKind::None,
            },
            ring_mib: a.rx_ring_mib,
            afxdp: a.afxdp,
        },
        poll_us: a.poll_us,
        nice: a.nice,
        // 0: the ordinary policy, as when not given.
        rt_priority: a.rt_priority.filter(|&p| p > 0),
        metrics: a.metrics.or(file_metrics),
        control: ControlLimits {
            idle: std::time::Duration::from_secs_f64(a.control_idle),
            max_clients: usize::from(a.control_clients),
            nice: a.control_nice,
            cpu_percent: a.control_cpu,
        },
    })?;
    // Stopped and joined when the switch stops.
    let vtep = match vtep_remote {
        Some(remote) => Some(vswitch_linux::vtep::spawn(
            vswitch_linux::vtep::VtepOptions {
                remote,
                switch: switch_name,
            },
        )?),
        None => None,
    };
    let r = sw.run();
    // The switch first: its control socket goes, so that a request of the
    // VTEP thread under way fails at once instead of waiting for an answer
    // the stopped loop would never give; then the thread is stopped.
    drop(sw);
    drop(vtep);
    r?;
    Ok(())
}

fn print_ports(name: &str, ports: &[PortInfo]) -> std::io::Result<()> {
    outln!("switch {name}: {} ports", ports.len())?;
    for p in ports {
        let c = &p.counters;
        // A tunnel has no interface of its own: its endpoint instead.
        let at = match &p.vxlan {
            Some(v) => {
                // [fd00::1]:4789 as a socket address prints.
                let local = match v.local.parse::<std::net::IpAddr>() {
                    Ok(ip) => std::net::SocketAddr::new(ip, v.dstport).to_string(),
                    Err(_) => format!("{}:{}", v.local, v.dstport),
                };
                match v.underlay.as_str() {
                    "" => format!("udp {local}"),
                    on => format!("udp {local} on {on}"),
                }
            }
            None => format!("ifindex {}", p.ifindex),
        };
        outln!(
            "port {} {} ({}, {}) {} mtu {}",
            p.port,
            p.ifname,
            p.kind,
            at,
            p.state,
            p.mtu
        )?;
        outln!(
            "    rx {} frames {} bytes  tx {} frames {} bytes",
            c.rx_frames,
            c.rx_bytes,
            c.tx_frames,
            c.tx_bytes
        )?;
        // By name, as always.
        let by_name: BTreeMap<&str, u64> = c.nonzero_drops().collect();
        let mut drops: Vec<String> = by_name.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if c.rx_errors > 0 {
            drops.push(format!("rx-errors {}", c.rx_errors));
        }
        outln!(
            "    unicast {} flood {} unknown-unicast {}  drops: {}",
            c.unicast,
            c.flood,
            c.unknown_unicast,
            if drops.is_empty() {
                "none".to_string()
            } else {
                drops.join(", ")
            }
        )?;
        if let Some(v) = &p.vxlan {
            let drops: Vec<String> = v.drops.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let vnis = if v.vlans.is_empty() {
                v.vni.map_or("none".to_string(), |n| n.to_string())
            } else {
                let pairs: Vec<String> = v
                    .vlans
                    .iter()
                    .map(|(n, vid)| format!("{n}:vlan {vid}"))
                    .collect();
                pairs.join(",")
            };
            outln!(
                "    vxlan vni {} local {} dstport {} flood [{}] remotes {}  decap drops: {}",
                vnis,
                v.local,
                v.dstport,
                v.flood.join(" "),
                v.remotes,
                if drops.is_empty() {
                    "none".to_string()
                } else {
                    drops.join(", ")
                }
            )?;
        }
        let g = c.guard();
        if !g.is_quiet() {
            outln!(
                "    guard: moves blocked {} hold-downs {} shut down {} mac-limit refused {}",
                g.moves_blocked,
                g.hold_downs,
                g.shutdowns,
                g.mac_limit_refused
            )?;
        }
    }
    Ok(())
}

fn print_stats(s: &Stats) -> std::io::Result<()> {
    outln!(
        "switch {} ({}), up {:.0} s, {} ports",
        s.name,
        s.mode,
        s.uptime,
        s.ports
    )?;
    outln!("frames: rx {} tx {}", s.rx_frames, s.tx_frames)?;
    let drops: Vec<String> = s.drops.iter().map(|(k, n)| format!("{k} {n}")).collect();
    outln!(
        "drops: {}",
        if drops.is_empty() {
            "none".into()
        } else {
            drops.join(", ")
        }
    )?;
    // Each part's counts by name, as the JSON has them.
    let f = &s.fdb;
    outln!(
        "fdb: aging {} s, capacity {}, entries {}, evicted {}, expired {}, flushed {}, learned {}, moved {}, refused {}, static {}, reclaiming {}",
        f.aging, f.capacity, f.entries, f.evicted, f.expired, f.flushed, f.learned, f.moved, f.refused, f.statics, f.reclaiming
    )?;
    let g = &s.guard;
    outln!(
        "guard: hold_downs {}, mac_limit_refused {}, moves_blocked {}, shutdowns {}",
        g.hold_downs,
        g.mac_limit_refused,
        g.moves_blocked,
        g.shutdowns
    )?;
    let c = &s.control;
    outln!(
        "control: clients {}, dumps {}, idle_closed {}, max_stall_cpu_us {}, max_stall_request {:?}, max_stall_us {} (waited {}, blocked {}, slept {}, preempted {}), refused {}, stalls_over_1ms {}, stream_dropped {}, throttled_ms {}",
        c.clients,
        c.dumps,
        c.idle_closed,
        c.max_stall_cpu_us,
        c.max_stall_request,
        c.max_stall_us,
        c.max_stall_waited_us,
        c.max_stall_blocked_us,
        c.max_stall_slept,
        c.max_stall_preempted,
        c.refused,
        c.stalls_over_1ms,
        c.stream_dropped,
        c.throttled_ms
    )?;
    Ok(())
}

/// As `bridge mdb show`: a line per group and port, then the router ports
/// and the queriers.
fn print_mdb(name: &str, m: &MdbReport) -> anyhow::Result<()> {
    if !m.snooping {
        outln!("multicast snooping is off (vswitch run --mcast-snooping)")?;
        return Ok(());
    }
    for r in &m.groups {
        let vid = if r.vid != 0 {
            format!(" vid {}", r.vid)
        } else {
            String::new()
        };
        outln!(
            "dev {name} port {} grp {} {}{vid} timer {:.2} frames {} bytes {}",
            r.ifname,
            r.grp,
            r.state,
            r.timer,
            r.frames,
            r.bytes
        )?;
    }
    outln!("router ports: {}", m.routers.join(" "))?;
    for q in &m.queriers {
        let vid = if q.vid != 0 {
            format!(" vid {}", q.vid)
        } else {
            String::new()
        };
        outln!("querier {}{vid}: {}", q.family, q.querier)?;
    }
    outln!(
        "reports {} leaves {} queries {} bad {} table-full {} own-queries {}",
        m.reports,
        m.leaves,
        m.queries,
        m.bad,
        m.table_full,
        m.own_queries
    )?;
    Ok(())
}

/// As `ovs-appctl rstp/show` prints it.
fn print_stp(name: &str, s: &StpInfo) -> std::io::Result<()> {
    outln!("---- {name} ----")?;
    if !s.enabled {
        outln!("spanning tree off")?;
        return Ok(());
    }
    outln!("Protocol: {}", s.protocol)?;
    outln!("Root ID:")?;
    outln!("  stp-system-id {}", s.root_id)?;
    if s.is_root {
        outln!("  This bridge is the root")?;
    } else {
        let port = s.root_port.map_or("-".to_string(), |p| p.to_string());
        outln!("  root-port {port}, root-path-cost {}", s.root_path_cost)?;
    }
    outln!(
        "  Hello Time {}s Max Age {}s Forward Delay {}s",
        s.hello_time,
        s.max_age,
        s.forward_delay
    )?;
    outln!("Bridge ID:")?;
    outln!("  stp-system-id {}", s.bridge_id)?;
    match (s.last_tc_ms_ago, &s.last_tc_port, &s.last_tc_from) {
        (Some(ms), Some(port), Some(from)) => {
            let who = if from == "detected" {
                "detected here".to_string()
            } else {
                format!("from bridge {from}")
            };
            outln!(
                "  topology changes {}, last {}.{:03}s ago on {port} ({who})",
                s.topology_changes,
                ms / 1000,
                ms % 1000
            )?;
        }
        _ => outln!("  topology changes {}", s.topology_changes)?,
    }
    outln!()?;
    outln!(
        "  {:<4} {:<15} {:<11} {:<11} {:<10} {:>9} {:<5} {:<9} {:<5} {}",
        "Port",
        "Interface",
        "Role",
        "State",
        "Port ID",
        "Cost",
        "Edge",
        "P2P",
        "Proto",
        "Guard"
    )?;
    for p in &s.ports {
        let p2p = format!(
            "{}{}",
            if p.p2p { "yes" } else { "no" },
            if p.p2p_setting == "auto" { "(a)" } else { "" }
        );
        let mut guard = Vec::new();
        if p.bpdu_guard {
            guard.push(if p.guard_tripped {
                "bpdu:SHUT-DOWN"
            } else {
                "bpdu"
            });
        }
        if p.root_guard {
            guard.push(if p.root_inconsistent {
                "root:INCONSISTENT"
            } else {
                "root"
            });
        }
        outln!(
            "  {:<4} {:<15} {:<11} {:<11} {:<10} {:>9} {:<5} {:<9} {:<5} {}",
            p.port,
            p.ifname,
            p.role,
            p.state,
            p.port_id,
            p.cost,
            if p.edge { "yes" } else { "no" },
            p2p,
            p.protocol,
            if guard.is_empty() {
                "-".to_string()
            } else {
                guard.join(",")
            }
        )?;
    }
    outln!()?;
    outln!(
        "  {:<4} {:<15} {:>21} {:>21} {:>5} {:>7} {:>5} Dropped",
        "Port",
        "Interface",
        "Rx config/rst/tcn",
        "Tx config/rst/tcn",
        "TCs",
        "Trips",
        "Held"
    )?;
    for p in &s.ports {
        let drops: Vec<String> = p.drops.iter().map(|(r, n)| format!("{r}:{n}")).collect();
        outln!(
            "  {:<4} {:<15} {:>21} {:>21} {:>5} {:>7} {:>5} {}",
            p.port,
            p.ifname,
            format!("{}/{}/{}", p.rx.config, p.rx.rst, p.rx.tcn),
            format!("{}/{}/{}", p.tx.config, p.tx.rst, p.tx.tcn),
            p.topology_changes,
            format!("{}/{}", p.bpdu_guard_trips, p.root_guard_blocks),
            p.tx_held,
            if drops.is_empty() {
                "-".to_string()
            } else {
                drops.join(" ")
            }
        )?;
    }
    Ok(())
}

fn fdb(command: FdbCommand) -> anyhow::Result<()> {
    match command {
        FdbCommand::Show(FdbShowArgs { common: c, stats }) => {
            // The table may hold a million entries: its JSON is copied out as
            // the switch writes it, or read straight into rows, never into a
            // tree.
            let request = Request::FdbShow {
                stats,
                ports: Vec::new(),
            };
            if c.json {
                control::request_to(&c.name, request, &mut std::io::stdout().lock())?;
                return Ok(());
            }
            let data = control::request_raw(&c.name, request)?;
            let rows: Vec<FdbRow> = serde_json::from_str(data.get())?;
            // As `bridge fdb show`: one entry per line.
            for r in rows {
                let vlan = if r.vlan != 0 {
                    format!(" vlan {}", r.vlan)
                } else {
                    String::new()
                };
                let age = if r.state == "static" {
                    "static".to_string()
                } else {
                    format!("age {:.1}s", r.age)
                };
                let dst = r.dst.map(|d| format!(" dst {d}")).unwrap_or_default();
                // `used X/Y` as `bridge -s fdb show` prints it, in whole
                // seconds; "-" for an entry no frame has been forwarded to yet.
                let counters = match r.hits {
                    Some(hits) if stats => {
                        let used = r.used.map_or("-".to_string(), |u| u.to_string());
                        format!(" hits {hits} used {used}/{}", r.age as u64)
                    }
                    _ => String::new(),
                };
                outln!(
                    "{} dev {}{vlan}{dst} port {} {age}{counters} master {}",
                    r.mac,
                    r.ifname,
                    r.port,
                    c.name
                )?;
            }
            Ok(())
        }
        FdbCommand::Add {
            mac,
            port,
            words,
            vlan,
            common,
        } => {
            let said = describe_entry(&mac, vlan);
            let mac_is_zero = mac
                .parse::<vswitch_core::MacAddr>()
                .is_ok_and(|m| m.is_zero());
            let dst = match words.as_slice() {
                [] => None,
                [d, ip] if d == "dst" => Some(ip.clone()),
                _ => anyhow::bail!("after the port only \"dst IP\" may follow"),
            };
            let data = control::request(
                &common.name,
                Request::FdbAdd {
                    mac,
                    port: port.clone(),
                    vlan,
                    dst: dst.clone(),
                },
            )?;
            let shown_dst = dst;
            if common.json {
                return print_json(&data);
            }
            match &shown_dst {
                Some(ip) if mac_is_zero => outln!("added {ip} to the flood list of {port}")?,
                Some(ip) => outln!("added static entry {said} on {port} dst {ip}")?,
                None => outln!("added static entry {said} on {port}")?,
            }
            Ok(())
        }
        FdbCommand::Del {
            mac,
            words,
            vlan,
            common,
        } => {
            let said = describe_entry(&mac, vlan);
            let (port, dst) = match words.as_slice() {
                [] => (None, None),
                [port, d, ip] if d == "dst" => (Some(port.clone()), Some(ip.clone())),
                _ => anyhow::bail!("after the MAC only \"PORT dst IP\" may follow"),
            };
            let data = control::request(
                &common.name,
                Request::FdbDel {
                    mac,
                    vlan,
                    port,
                    dst,
                },
            )?;
            if common.json {
                return print_json(&data);
            }
            outln!("removed entry {said}")?;
            Ok(())
        }
        FdbCommand::Flush { port, common } => {
            let n = control::request(&common.name, Request::FdbFlush { port })?;
            if common.json {
                return print_json(&n);
            }
            outln!("{n} entries flushed")?;
            Ok(())
        }
    }
}

/// `02:00:00:00:00:01 vlan 10` as the user named an entry (the MAC in the
/// switch's spelling when it parses).
fn describe_entry(mac: &str, vlan: u16) -> String {
    let mac = mac
        .parse::<vswitch_core::MacAddr>()
        .map_or_else(|_| mac.to_string(), |m| m.to_string());
    if vlan == 0 {
        mac
    } else {
        format!("{mac} vlan {vlan}")
    }
}

fn lab_command(command: LabCommand) -> anyhow::Result<()> {
    match command {
        LabCommand::Up {
            hosts,
            prefix,
            gateway,
            subnet,
        } => {
            let built = lab::up(&LabOptions {
                hosts,
                prefix,
                gateway,
                subnet,
            })?;
            let n = built.namespaces.len();
            let first = built.namespaces.first().map(String::as_str).unwrap_or("");
            let last = built.namespaces.last().map(String::as_str).unwrap_or("");
            let (first_addr, last_addr) = (subnet.host(1), subnet.host(n as u32));
            if n == 1 {
                outln!("lab up: 1 host in namespace {first}, {first_addr}/24")?;
            } else {
                let last_octet = last_addr.rsplit('.').next().unwrap_or("");
                outln!(
                    "lab up: {n} hosts in namespaces {first}..{last}, {first_addr}-{last_octet}/24"
                )?;
            }
            if let Some(gw) = &built.gateway {
                outln!(
                    "gateway: {gw} with {}/24, default route via it in each namespace",
                    subnet.gateway()
                )?;
            }
            outln!("attach them with:\n  vswitch run {}", built.ports.join(" "))?;
            outln!(
                "remove them with:\n  vswitch lab down --prefix {}",
                built.prefix
            )?;
            Ok(())
        }
        LabCommand::Overlay {
            hosts,
            prefix,
            subnet,
            underlay,
        } => {
            let built = lab::overlay(&lab::OverlayOptions {
                hosts,
                prefix: prefix.clone(),
                subnet,
                underlay,
            })?;
            let (u1, u2) = (underlay.host(1), underlay.host(2));
            outln!(
                "lab overlay: machines {prefix}m1 ({u1}) and {prefix}m2 ({u2}) on an underlay veth, {hosts} host{} behind each ({} ...)",
                if hosts == 1 { "" } else { "s" },
                built.addresses.join(" ")
            )?;
            outln!("run a switch in each machine:")?;
            for (m, (local, remote)) in [(1, (&u1, &u2)), (2, (&u2, &u1))] {
                let ports = &built.ports[(m - 1) * hosts as usize..m * hosts as usize];
                outln!(
                    "  ip netns exec {prefix}m{m} vswitch run --name {prefix}{m} vxlan:vx0,vni=42,local={local},remote={remote} {}",
                    ports.join(" ")
                )?;
            }
            outln!("remove it with:\n  vswitch lab down --prefix {prefix}")?;
            Ok(())
        }
        LabCommand::Down { prefix } => {
            let removed = lab::down(&prefix)?;
            let n = removed.namespaces.len();
            outln!(
                "lab down: removed {n} namespace{}{}",
                if n == 1 { "" } else { "s" },
                if removed.gateway.is_some() {
                    " and the gateway"
                } else {
                    ""
                }
            )?;
            Ok(())
        }
    }
}
