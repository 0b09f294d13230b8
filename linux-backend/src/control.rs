//! The control protocol between a running switch and the `vswitch` commands that
//! manage it, and the client side of it.
//!
//! One request per connection on `/run/vswitch/NAME.sock`: the client writes one
//! JSON line `{"version":1,"request":{"cmd":"show"}}`, the switch answers with one
//! JSON line `{"version":1,"ok":true,"data":...}` or
//! `{"version":1,"ok":false,"error":"..."}`. After a successful `trace` the
//! switch goes on writing one text line per frame; after a successful `capture`,
//! one record per frame: time in ns since the switch started (u64, little
//! endian), length (u32, little endian), then the frame.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use vswitch_core::{GuardStats, PortCounters};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Where control sockets live.
pub const SOCKET_DIR: &str = "/run/vswitch";
/// The switch name used when none is given.
pub const DEFAULT_NAME: &str = "vswitch";

/// A request to a running switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Attach a port (`IFACE`, `netns:NS/IFACE`, `pid:PID/IFACE`, `tap:NAME`).
    Add {
        /// The port as named by the user.
        port: String,
    },
    /// Detach a port.
    Del {
        /// The port as named by the user.
        port: String,
    },
    /// Ports, their state and counters.
    Show,
    /// The MAC table.
    FdbShow {
        /// With each entry's counters as a destination (`fdb show -s`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stats: bool,
        /// Only the entries (and flood lists) of these ports; all when
        /// empty. A name not attached is an error.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ports: Vec<String>,
    },
    /// The multicast group table, router ports and queriers.
    MdbShow,
    /// Add a static entry.
    FdbAdd {
        /// MAC address.
        mac: String,
        /// Port name.
        port: String,
        /// VLAN (0 on a VLAN-unaware switch).
        vlan: u16,
        /// On a tunnel port: the remote endpoint's address. With MAC
        /// 00:00:00:00:00:00, an address added to the flood list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dst: Option<String>,
    },
    /// Remove an entry.
    FdbDel {
        /// MAC address.
        mac: String,
        /// VLAN.
        vlan: u16,
        /// With MAC 00:00:00:00:00:00: the tunnel port whose flood list loses
        /// `dst`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<String>,
        /// The address the flood list loses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dst: Option<String>,
    },
    /// Remove dynamic entries, of one port or all.
    FdbFlush {
        /// Port name, or all ports.
        port: Option<String>,
    },
    /// Switch-wide statistics.
    Stats,
    /// Re-read the configuration file and apply the difference.
    Reload,
    /// Stream one trace line per frame (of one ingress or egress port, or all).
    Trace {
        /// Port name filter.
        port: Option<String>,
    },
    /// Stream the frames sent out of a port.
    Capture {
        /// Port name.
        port: String,
    },
    /// The spanning tree: bridge, root, and each port's role and state.
    StpShow,
    /// Re-enable a port BPDU guard shut down.
    StpClearGuard {
        /// Port name.
        port: String,
    },
    /// Stream the switch's events (learned, moved, aged, flushed, ports,
    /// protections), one JSON object a line with its sequence number.
    Monitor,
    /// What the switch would do with a frame received on a port, and why,
    /// without sending it or changing anything.
    Explain {
        /// The ingress port's name.
        port: String,
        /// The whole frame, from its destination MAC, in hex.
        frame: String,
    },
    /// Carry one more VNI on a running VXLAN port (`vxlan vni add`).
    VniAdd {
        /// The VXLAN port's name.
        port: String,
        /// The VNI.
        vni: u32,
        /// The switch VLAN it maps to; 0: carried untagged (the port's only
        /// VNI).
        #[serde(default)]
        vlan: u16,
    },
    /// Stop carrying a VNI on a running VXLAN port (`vxlan vni del`).
    VniDel {
        /// The VXLAN port's name.
        port: String,
        /// The VNI.
        vni: u32,
    },
}

impl Request {
    /// The request's `cmd`, as on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Add { .. } => "add",
            Request::Del { .. } => "del",
            Request::Show => "show",
            Request::FdbShow { .. } => "fdb-show",
            Request::MdbShow => "mdb-show",
            Request::FdbAdd { .. } => "fdb-add",
            Request::FdbDel { .. } => "fdb-del",
            Request::FdbFlush { .. } => "fdb-flush",
            Request::Stats => "stats",
            Request::Reload => "reload",
            Request::Trace { .. } => "trace",
            Request::Capture { .. } => "capture",
            Request::StpShow => "stp-show",
            Request::StpClearGuard { .. } => "stp-clear-guard",
            Request::Monitor => "monitor",
            Request::Explain { .. } => "explain",
            Request::VniAdd { .. } => "vni-add",
            Request::VniDel { .. } => "vni-del",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    request: Request,
}

/// A response line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    /// Protocol version of the switch.
    pub version: u32,
    /// True on success.
    pub ok: bool,
    /// The result on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// The error message on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// A success carrying `data`.
    pub fn ok(data: impl Serialize) -> Response {
        Response {
            version: VERSION,
            ok: true,
            data: Some(serde_json::to_value(data).unwrap_or(serde_json::Value::Null)),
            error: None,
        }
    }

    /// A failure.
    pub fn err(message: impl ToString) -> Response {
        Response {
            version: VERSION,
            ok: false,
            data: None,
            error: Some(message.to_string()),
        }
    }
}

/// One port as `show` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortInfo {
    /// Port number.
    pub port: u16,
    /// Interface name.
    pub ifname: String,
    /// `afpacket`, `afxdp`, `tap` or `vxlan`.
    pub kind: String,
    /// Interface index; 0 for a tunnel port, which has no interface of its
    /// own (its [`VxlanInfo`] names the local endpoint and the underlay).
    pub ifindex: u32,
    /// `up`, `down`, or `shut-down` (by the move guard, for its hold time).
    pub state: String,
    /// MTU.
    pub mtu: u32,
    /// The core's counters of the port, the kernel's drops included
    /// (flattened: `rx_frames`, ..., `rx_errors`, `drops` by reason with
    /// `rx-full` and `tx-full`, `guard`).
    #[serde(flatten)]
    pub counters: PortCounters,
    /// A VXLAN port's tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<VxlanInfo>,
}

/// A VXLAN port as `show` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VxlanInfo {
    /// Its VNI carried untagged, or its first VNI of several mapped to
    /// VLANs ([`VxlanInfo::vlans`]); none when it carries none.
    #[serde(default)]
    pub vni: Option<u32>,
    /// The local endpoint.
    pub local: String,
    /// The UDP port.
    pub dstport: u16,
    /// (VNI, VLAN) pairs of a port whose VNIs are mapped to VLANs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<(u32, u16)>,
    /// The flood list.
    pub flood: Vec<String>,
    /// The interface holding the local address ("" when not found).
    #[serde(default)]
    pub underlay: String,
    /// Remote endpoints known (flood list and learned).
    pub remotes: usize,
    /// Received datagrams dropped, by reason (also counted in `rx_errors`).
    pub drops: BTreeMap<String, u64>,
}

/// The spanning tree as `stp show` reports it (the fields of
/// `ovs-appctl rstp/show`, by name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StpInfo {
    /// False when spanning tree is off (the other fields are then empty).
    pub enabled: bool,
    /// `rstp` or `stp`.
    pub protocol: String,
    /// This bridge's identifier, `8000.020000000001`.
    pub bridge_id: String,
    /// The root bridge's identifier.
    pub root_id: String,
    /// This bridge's cost to the root.
    pub root_path_cost: u32,
    /// The root port's number; none on the root bridge.
    pub root_port: Option<u16>,
    /// True on the root bridge.
    pub is_root: bool,
    /// Hello time, s.
    pub hello_time: u16,
    /// Max age, s.
    pub max_age: u16,
    /// Forward delay, s.
    pub forward_delay: u16,
    /// Topology changes detected or notified.
    pub topology_changes: u64,
    /// Milliseconds since the last topology change; none before the first.
    #[serde(default)]
    pub last_tc_ms_ago: Option<u64>,
    /// The port of the last topology change.
    #[serde(default)]
    pub last_tc_port: Option<String>,
    /// Who made it: `detected` (here), or the bridge identifier whose BPDU told
    /// of it (`0000.000000000000` for a TCN, which names no bridge).
    #[serde(default)]
    pub last_tc_from: Option<String>,
    /// The ports.
    pub ports: Vec<StpPortInfo>,
}

/// BPDUs of one direction by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpduKinds {
    /// 802.1D Configuration BPDUs.
    pub config: u64,
    /// RST BPDUs.
    pub rst: u64,
    /// Topology Change Notifications.
    pub tcn: u64,
}

/// One port in [`StpInfo`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StpPortInfo {
    /// Port number.
    pub port: u16,
    /// Interface name.
    pub ifname: String,
    /// Port identifier, hex (priority and number).
    pub port_id: String,
    /// `root`, `designated`, `alternate`, `backup` or `disabled`.
    pub role: String,
    /// `discarding`, `learning` or `forwarding`.
    pub state: String,
    /// Path cost.
    pub cost: u32,
    /// Operating as an edge port.
    pub edge: bool,
    /// The point-to-point setting: `auto`, `true` or `false`.
    #[serde(default)]
    pub p2p_setting: String,
    /// Operating as point-to-point (proposal/agreement in use).
    #[serde(default)]
    pub p2p: bool,
    /// BPDU guard is on.
    #[serde(default)]
    pub bpdu_guard: bool,
    /// BPDU guard has shut the port down (`vswitch stp clear-guard` or link
    /// down/up re-enables it).
    #[serde(default)]
    pub guard_tripped: bool,
    /// Root guard is on.
    #[serde(default)]
    pub root_guard: bool,
    /// Root guard blocks the port: it hears a superior root.
    #[serde(default)]
    pub root_inconsistent: bool,
    /// `rstp`, or `stp` after hearing an 802.1D bridge.
    pub protocol: String,
    /// The designated bridge of its link.
    pub designated_bridge: String,
    /// BPDUs received.
    pub bpdus_rx: u64,
    /// BPDUs sent.
    pub bpdus_tx: u64,
    /// Malformed BPDUs dropped.
    pub bpdus_malformed: u64,
    /// BPDUs received, by kind.
    #[serde(default)]
    pub rx: BpduKinds,
    /// BPDUs sent, by kind.
    #[serde(default)]
    pub tx: BpduKinds,
    /// BPDUs dropped, by reason (`truncated`, `not-bpdu`, `unknown-type`,
    /// `too-old`, `bpdu-guard`); reasons with none are left out.
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
    /// Topology changes the port detected or was told of.
    #[serde(default)]
    pub topology_changes: u64,
    /// Times BPDU guard shut the port down.
    #[serde(default)]
    pub bpdu_guard_trips: u64,
    /// Times root guard blocked the port.
    #[serde(default)]
    pub root_guard_blocks: u64,
    /// Times a BPDU had to wait for the transmit hold count.
    #[serde(default)]
    pub tx_held: u64,
}

/// Switch-wide statistics, as `stats` reports them. Fields are in name
/// order, the order the JSON has always had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// How the control plane has kept up.
    pub control: ControlStats,
    /// Drops by reason over the switch's life (removed ports' included).
    pub drops: BTreeMap<String, u64>,
    /// The MAC table.
    pub fdb: FdbSummary,
    /// Move-guard and MAC-limit events.
    pub guard: GuardStats,
    /// `switch` or `hub`.
    pub mode: String,
    /// Switch name.
    pub name: String,
    /// Ports attached now.
    pub ports: usize,
    /// Frames received over the switch's life.
    pub rx_frames: u64,
    /// Frames sent (taken by the ports' kernels) over the switch's life.
    pub tx_frames: u64,
    /// Seconds since the switch started.
    pub uptime: f64,
}

/// The MAC table in [`Stats`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FdbSummary {
    /// Aging time, seconds.
    pub aging: f64,
    /// Dynamic entries it may hold.
    pub capacity: u32,
    /// Entries now.
    pub entries: u64,
    /// Entries evicted to make room.
    pub evicted: u64,
    /// Entries aged out.
    pub expired: u64,
    /// Entries flushed.
    pub flushed: u64,
    /// Entries learned.
    pub learned: u64,
    /// MACs that moved to another port.
    pub moved: u64,
    /// MACs not learned because the table was full.
    pub refused: u64,
    /// Flushed entries whose memory is still being reclaimed, a slice per
    /// loop turn (gone in every other way).
    #[serde(default)]
    pub reclaiming: u64,
    /// Static entries now.
    #[serde(rename = "static")]
    pub statics: u64,
}

/// The control plane in [`Stats`]: how long forwarding waited for it (from
/// the switch), and its connections (filled in by the control thread,
/// [`crate::control_server`], on the way out).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlStats {
    /// Connections open now, this one included.
    #[serde(default)]
    pub clients: u64,
    /// Dumps (`fdb show`) under way.
    pub dumps: usize,
    /// Connections closed for idling.
    #[serde(default)]
    pub idle_closed: u64,
    /// The CPU time of the longest control work of one loop turn, µs.
    pub max_stall_cpu_us: u64,
    /// The request that took longest.
    pub max_stall_request: String,
    /// The longest control work of one loop turn, µs on the clock.
    pub max_stall_us: u64,
    /// Of that turn, µs the forwarding thread was runnable but waited for a
    /// CPU (preempted by other work).
    #[serde(default)]
    pub max_stall_waited_us: u64,
    /// Of that turn, µs neither on a CPU nor waiting for one: blocked (a
    /// lock, a page fault) or its virtual CPU not running (steal time).
    #[serde(default)]
    pub max_stall_blocked_us: u64,
    /// In that turn, how often the forwarding thread went to sleep (a
    /// voluntary context switch: a lock, a page fault that waited). Blocked
    /// time without one is time the hypervisor did not run its virtual CPU.
    #[serde(default)]
    pub max_stall_slept: u64,
    /// In that turn, how often the forwarding thread was preempted.
    #[serde(default)]
    pub max_stall_preempted: u64,
    /// Loop turns whose control work took 1 ms or more on the clock.
    #[serde(default)]
    pub stalls_over_1ms: u64,
    /// Connections refused over the client limit.
    #[serde(default)]
    pub refused: u64,
    /// Stream output (trace, capture) dropped for slow clients.
    pub stream_dropped: u64,
    /// Milliseconds the control thread paused, its CPU budget spent
    /// (`vswitch run --control-cpu`).
    #[serde(default)]
    pub throttled_ms: u64,
}

/// One FDB entry as `fdb show` reports it, in the fields of `bridge -j fdb show`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FdbRow {
    /// MAC address.
    pub mac: String,
    /// Port interface name.
    pub ifname: String,
    /// Port number.
    pub port: u16,
    /// VLAN (0 on a VLAN-unaware switch).
    pub vlan: u16,
    /// `static` or `dynamic`.
    pub state: String,
    /// Seconds since last seen.
    pub age: f64,
    /// The remote endpoint behind a tunnel port (`bridge fdb show`'s `dst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    /// With `stats`: frames forwarded to this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hits: Option<u32>,
    /// With `stats`: whole seconds since a frame was last forwarded to this
    /// entry (`bridge -s fdb show`'s `used`); absent if none ever was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
}

/// The multicast snooping state as `mdb show` reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MdbReport {
    /// Snooping on.
    pub snooping: bool,
    /// The own querier on.
    pub querier: bool,
    /// One row per group and port, as `bridge -j mdb show` lists them.
    pub groups: Vec<MdbRow>,
    /// Router ports now (set or learned).
    pub routers: Vec<String>,
    /// The querier of each VLAN and family that has one.
    pub queriers: Vec<QuerierRow>,
    /// Report records read.
    pub reports: u64,
    /// Leaves read.
    pub leaves: u64,
    /// Queries read.
    pub queries: u64,
    /// Malformed IGMP/MLD messages dropped.
    pub bad: u64,
    /// Joins refused: the table was full.
    pub table_full: u64,
    /// Queries the own querier sent.
    pub own_queries: u64,
}

/// One port of one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MdbRow {
    /// Port interface name.
    pub ifname: String,
    /// Port number.
    pub port: u16,
    /// Group address.
    pub grp: String,
    /// VLAN (0 on a VLAN-unaware switch).
    pub vid: u16,
    /// `temp` (learned from reports), as the Linux bridge says.
    pub state: String,
    /// Seconds until the membership ends without a report.
    pub timer: f64,
    /// Data frames forwarded to the group (all its ports).
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The querier of one VLAN and address family.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuerierRow {
    /// VLAN.
    pub vid: u16,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// Its address, or `self` for the own querier.
    pub querier: String,
}

/// What `add` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Added {
    /// Interface attached.
    pub ifname: String,
    /// Its port number.
    pub port: u16,
    /// What was done to find it.
    pub notes: Vec<String>,
}

/// The path of the control socket of switch `name`.
pub fn socket_path(name: &str) -> PathBuf {
    PathBuf::from(SOCKET_DIR).join(format!("{name}.sock"))
}

/// Checks a switch name: letters, digits, `-`, `_`, `.`; 1 to 32 characters.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "bad switch name \"{name}\": use 1-32 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Connects to switch `name`.
pub fn connect(name: &str) -> Result<UnixStream> {
    check_name(name)?;
    let path = socket_path(name);
    UnixStream::connect(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            Error::NoSuchSwitch(name.to_string())
        }
        io::ErrorKind::PermissionDenied => {
            Error::PermissionDenied(format!("cannot open {}", path.display()))
        }
        _ => Error::io(format!("connecting to {}", path.display()), e),
    })
}

fn send_request(name: &str, request: Request) -> Result<BufReader<UnixStream>> {
    let mut stream = connect(name)?;
    let timeout = Some(Duration::from_secs(10));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let mut line = serde_json::to_vec(&Envelope {
        version: VERSION,
        request,
    })
    .map_err(|e| Error::Protocol(e.to_string()))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| Error::io("sending the request", e))?;
    Ok(BufReader::new(stream))
}

/// What a reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The file read.
    pub config: String,
    /// Ports attached, as the file names them.
    pub added: Vec<String>,
    /// Ports detached.
    pub removed: Vec<String>,
    /// Ports whose settings changed.
    pub changed: Vec<String>,
    /// The switch's own settings that changed (`aging`, `capacity`, ...).
    pub settings: Vec<String>,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(" ")
            }
        };
        write!(
            f,
            "reloaded {}: attached {}; detached {}; port settings changed {}; switch settings changed {}",
            self.config,
            list(&self.added),
            list(&self.removed),
            list(&self.changed),
            list(&self.settings)
        )
    }
}

/// A [`Response`] with its data left as the switch wrote it.
#[derive(Deserialize)]
struct RawResponse {
    version: u32,
    ok: bool,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<String>,
}

fn read_response_raw(reader: &mut BufReader<UnixStream>) -> Result<Box<RawValue>> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the switch's answer", e))?;
    parse_response_raw(&line)
}

/// The data of a response line, or the error it carries.
fn parse_response_raw(line: &str) -> Result<Box<RawValue>> {
    if line.is_empty() {
        return Err(Error::Protocol("the switch closed the connection".into()));
    }
    let bad = |e: serde_json::Error| Error::Protocol(format!("bad answer from the switch: {e}"));
    let r: RawResponse = serde_json::from_str(line).map_err(bad)?;
    if r.version != VERSION {
        return Err(Error::Protocol(format!(
            "the switch speaks version {}, this program {VERSION}",
            r.version
        )));
    }
    if !r.ok {
        return Err(Error::Remote(r.error.unwrap_or_default()));
    }
    match r.data {
        Some(data) => Ok(data),
        None => RawValue::from_string("null".into()).map_err(bad),
    }
}

fn read_response(reader: &mut BufReader<UnixStream>) -> Result<serde_json::Value> {
    let raw = read_response_raw(reader)?;
    serde_json::from_str(raw.get())
        .map_err(|e| Error::Protocol(format!("bad answer from the switch: {e}")))
}

/// Sends `request` to switch `name` and returns its data.
pub fn request(name: &str, request: Request) -> Result<serde_json::Value> {
    let mut reader = send_request(name, request)?;
    read_response(&mut reader)
}

/// Sends `request` to switch `name` and returns its data unparsed, as the
/// switch wrote it: printing a large answer (a million-entry `fdb show -j`)
/// then costs no parse into a tree and back.
pub fn request_raw(name: &str, request: Request) -> Result<Box<RawValue>> {
    let mut reader = send_request(name, request)?;
    read_response_raw(&mut reader)
}

/// Sends `request` to switch `name` and copies its data to `out` as the
/// switch writes it, a buffer at a time, followed by a newline: a
/// million-entry `fdb show -j` is neither held whole nor parsed (the
/// switch's own JSON is trusted as [`request_raw`] trusts it). An answer
/// that is not a success of this version is read whole and its error
/// returned, as [`request`] does.
pub fn request_to(name: &str, request: Request, out: &mut impl Write) -> Result<()> {
    // Nothing is read yet: the stream is taken out of its buffer whole.
    let stream = send_request(name, request)?.into_inner();
    copy_data(&mut BufReader::with_capacity(64 << 10, stream), out)
}

fn copy_data(reader: &mut impl BufRead, out: &mut impl Write) -> Result<()> {
    let read_err = |e| Error::io("reading the switch's answer", e);
    let write_err = |e| Error::io("writing the answer", e);
    let prefix = format!(r#"{{"version":{VERSION},"ok":true,"data":"#);
    // The head of the line, up to the prefix's length (or the line's end).
    let mut head = Vec::with_capacity(prefix.len());
    while head.len() < prefix.len() && head.last() != Some(&b'\n') {
        let buf = reader.fill_buf().map_err(read_err)?;
        if buf.is_empty() {
            break;
        }
        let want = prefix.len() - head.len();
        let n = buf
            .iter()
            .take(want)
            .position(|&b| b == b'\n')
            .map_or(want.min(buf.len()), |i| i + 1);
        head.extend_from_slice(&buf[..n]);
        reader.consume(n);
    }
    if head != prefix.as_bytes() {
        // An error, another version, or no data: the whole line, parsed.
        if head.last() != Some(&b'\n') {
            reader.read_until(b'\n', &mut head).map_err(read_err)?;
        }
        let line = String::from_utf8(head)
            .map_err(|_| Error::Protocol("the switch's answer is not UTF-8".into()))?;
        let data = parse_response_raw(&line)?;
        out.write_all(data.get().as_bytes()).map_err(write_err)?;
        return out.write_all(b"\n").map_err(write_err);
    }
    // The data runs to the line's end, less the response's closing brace:
    // the last byte of each buffer is held back until the next one shows
    // that it was not that brace.
    let mut held: Option<u8> = None;
    // The held byte and the rest of a buffer, written in one call.
    let mut piece = Vec::new();
    loop {
        let buf = reader.fill_buf().map_err(read_err)?;
        if buf.is_empty() {
            return Err(Error::Protocol(
                "the switch closed the connection in the middle of its answer".into(),
            ));
        }
        let (chunk, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if let Some((&last, rest)) = chunk.split_last() {
            piece.clear();
            piece.extend(held.replace(last));
            piece.extend_from_slice(rest);
            out.write_all(&piece).map_err(write_err)?;
        }
        let used = chunk.len() + usize::from(end);
        reader.consume(used);
        if end {
            if held != Some(b'}') {
                return Err(Error::Protocol(
                    "bad answer from the switch: no closing brace".into(),
                ));
            }
            return out.write_all(b"\n").map_err(write_err);
        }
    }
}

/// Sends a streaming request (`trace`, `capture`) and returns the stream,
/// positioned after the response line, with no read timeout.
pub fn stream(name: &str, request: Request) -> Result<BufReader<UnixStream>> {
    let mut reader = send_request(name, request)?;
    read_response(&mut reader)?;
    let _ = reader.get_ref().set_read_timeout(None);
    Ok(reader)
}

/// An explanation ([`vswitch_core::Switch::explain`]) as `vswitch explain -j`
/// prints it: the ingress port, VLAN, verdict (`unicast`, `flood`, `group`,
/// `drop:REASON`), egress ports with their tagging, and the rules' steps, each
/// "port N" in them followed by the port's name from `name`.
pub fn explain_json(
    x: &vswitch_core::Explanation,
    ingress: &str,
    name: impl Fn(vswitch_core::PortId) -> String,
) -> serde_json::Value {
    use vswitch_core::{PortId, Tagging, Verdict};
    let steps: Vec<serde_json::Value> = x
        .steps
        .iter()
        .map(|s| {
            let outcome = vswitch_core::explain::name_ports(&s.outcome, |p| name(PortId(p)));
            serde_json::json!({"rule": s.rule, "outcome": outcome})
        })
        .collect();
    let verdict = match x.decision.verdict {
        Verdict::Unicast(_) => "unicast".to_string(),
        Verdict::Flood(_) => "flood".to_string(),
        Verdict::Group(_) => "group".to_string(),
        Verdict::Drop(r) => format!("drop:{}", r.name()),
    };
    let egress: Vec<serde_json::Value> = x
        .egress
        .iter()
        .map(|&(p, t)| {
            let tagging = match t {
                Tagging::AsIs => serde_json::Value::Null,
                Tagging::Untagged => "untagged".into(),
                Tagging::Tagged(v) => format!("tagged {v}").into(),
            };
            serde_json::json!({"port": name(p), "tagging": tagging})
        })
        .collect();
    serde_json::json!({
        "ingress": ingress,
        "vlan": x.decision.vid,
        "verdict": verdict,
        "egress": egress,
        "steps": steps,
    })
}

/// Prints the steps of [`explain_json`]'s answer, one rule a line.
pub fn explain_lines(v: &serde_json::Value) -> Vec<String> {
    v["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| {
            let rule = format!("{}:", step["rule"].as_str().unwrap_or(""));
            format!("{rule:<10}{}", step["outcome"].as_str().unwrap_or(""))
        })
        .collect()
}

/// Parses a request line as the switch receives it.
pub fn parse_request(line: &[u8]) -> std::result::Result<Request, String> {
    let env: Envelope = serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))?;
    if env.version != VERSION {
        return Err(format!(
            "this switch speaks control protocol version {VERSION}, the request is version {}",
            env.version
        ));
    }
    Ok(env.request)
}

#[cfg(test)]
mod test {
    use super::*;

    /// What [`copy_data`] writes for `line`, read `cap` bytes at a time.
    fn copied(line: &str, cap: usize) -> Result<String> {
        let mut reader = std::io::BufReader::with_capacity(cap, line.as_bytes());
        let mut out = Vec::new();
        copy_data(&mut reader, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn data_is_copied_as_written_whatever_the_buffer() {
        let data = r#"[{"mac":"02:00:00:00:00:01","port":1},{"mac":"02:00:00:00:00:02"}]"#;
        let ok = format!(r#"{{"version":{VERSION},"ok":true,"data":{data}}}"#);
        for cap in [1, 2, 3, 7, 31, 32, 64, 4096] {
            // The answer as the switch sends it, and what follows it.
            for tail in ["\n", "\nmore"] {
                let line = format!("{ok}{tail}");
                assert_eq!(
                    copied(&line, cap).unwrap(),
                    format!("{data}\n"),
                    "cap {cap}"
                );
            }
        }
        let null = format!(r#"{{"version":{VERSION},"ok":true,"data":null}}"#);
        assert_eq!(copied(&format!("{null}\n"), 5).unwrap(), "null\n");
    }

    #[test]
    fn errors_and_cut_answers_are_reported() {
        let err = format!(r#"{{"version":{VERSION},"ok":false,"error":"no such port"}}"#);
        for cap in [1, 8, 4096] {
            let e = copied(&format!("{err}\n"), cap).unwrap_err();
            assert!(matches!(&e, Error::Remote(m) if m == "no such port"), "{e}");
        }
        let other = format!(r#"{{"version":{},"ok":true,"data":[]}}"#, VERSION + 1);
        let e = copied(&format!("{other}\n"), 8).unwrap_err();
        assert!(e.to_string().contains("version"), "{e}");
        let cut = format!(r#"{{"version":{VERSION},"ok":true,"data":[1,2"#);
        let e = copied(&cut, 8).unwrap_err();
        assert!(e.to_string().contains("middle of its answer"), "{e}");
        assert!(copied("", 8).unwrap_err().to_string().contains("closed"));
        let short = format!(r#"{{"version":{VERSION}"#);
        assert!(copied(&short, 8).is_err());
    }

    #[test]
    fn request_round_trip() {
        let line = serde_json::to_vec(&Envelope {
            version: VERSION,
            request: Request::FdbFlush { port: None },
        })
        .unwrap();
        assert_eq!(
            parse_request(&line).unwrap(),
            Request::FdbFlush { port: None }
        );
        assert!(parse_request(br#"{"version":9,"request":{"cmd":"show"}}"#).is_err());
        assert!(parse_request(b"garbage").is_err());
        assert_eq!(
            parse_request(br#"{"version":1,"request":{"cmd":"show"}}"#).unwrap(),
            Request::Show
        );
    }

    #[test]
    fn port_info_keeps_its_json_field_names() {
        let mut counters = PortCounters {
            rx_frames: 5,
            tx_frames: 3,
            rx_errors: 1,
            hold_downs: 2,
            ..PortCounters::default()
        };
        counters.drops[vswitch_core::DropReason::ALL
            .iter()
            .position(|&r| r == vswitch_core::DropReason::RxFull)
            .unwrap()] = 4;
        let info = PortInfo {
            port: 1,
            ifname: "veth1".into(),
            kind: "afpacket".into(),
            ifindex: 7,
            state: "up".into(),
            mtu: 1500,
            counters,
            vxlan: None,
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["rx_frames"], 5);
        assert_eq!(v["tx_frames"], 3);
        assert_eq!(v["rx_errors"], 1);
        assert_eq!(v["unknown_unicast"], 0);
        assert_eq!(v["drops"], serde_json::json!({"rx-full": 4}));
        assert_eq!(v["guard"]["hold_downs"], 2);
        assert_eq!(v["mtu"], 1500);
        let back: PortInfo = serde_json::from_value(v).unwrap();
        assert_eq!(back, info);
    }

    #[test]
    fn stats_keep_their_json_field_names() {
        let stats = Stats {
            control: ControlStats::default(),
            drops: BTreeMap::from([("runt".to_string(), 2)]),
            fdb: FdbSummary {
                aging: 300.0,
                capacity: 8192,
                entries: 4,
                evicted: 0,
                expired: 0,
                flushed: 0,
                learned: 4,
                moved: 0,
                refused: 0,
                reclaiming: 0,
                statics: 1,
            },
            guard: GuardStats::default(),
            mode: "switch".into(),
            name: "vsw".into(),
            ports: 2,
            rx_frames: 10,
            tx_frames: 9,
            uptime: 1.5,
        };
        let v = serde_json::to_value(&stats).unwrap();
        assert_eq!(v["fdb"]["static"], 1);
        assert_eq!(v["fdb"]["aging"], 300.0);
        assert_eq!(v["drops"]["runt"], 2);
        assert_eq!(v["control"]["max_stall_request"], "");
        assert_eq!(v["guard"]["mac_limit_refused"], 0);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "control",
                "drops",
                "fdb",
                "guard",
                "mode",
                "name",
                "ports",
                "rx_frames",
                "tx_frames",
                "uptime"
            ]
        );
        assert_eq!(serde_json::from_value::<Stats>(v).unwrap(), stats);
    }

    #[test]
    fn names() {
        assert!(check_name("vsw-1.a_b").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("../x").is_err());
        assert!(check_name("a/b").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VNI requests as on the wire: a VLAN left out is 0 (untagged),
    /// and the port filter of `fdb-show` left out is none.
    #[test]
    fn vni_requests_and_the_fdb_filter_on_the_wire() {
        let add = Request::VniAdd {
            port: "vx0".into(),
            vni: 43,
            vlan: 20,
        };
        let text = serde_json::to_string(&add).unwrap();
        assert_eq!(text, r#"{"cmd":"vni-add","port":"vx0","vni":43,"vlan":20}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), add);
        let untagged: Request =
            serde_json::from_str(r#"{"cmd":"vni-add","port":"vx0","vni":7}"#).unwrap();
        assert_eq!(
            untagged,
            Request::VniAdd {
                port: "vx0".into(),
                vni: 7,
                vlan: 0
            }
        );
        let del: Request =
            serde_json::from_str(r#"{"cmd":"vni-del","port":"vx0","vni":7}"#).unwrap();
        assert_eq!(del.name(), "vni-del");
        for bad in [
            r#"{"cmd":"vni-add","port":"vx0"}"#,
            r#"{"cmd":"vni-add","port":"vx0","vni":-1}"#,
            r#"{"cmd":"vni-add","port":"vx0","vni":1,"vlan":70000}"#,
            r#"{"cmd":"vni-del","vni":1}"#,
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
        let all: Request = serde_json::from_str(r#"{"cmd":"fdb-show"}"#).unwrap();
        assert_eq!(
            all,
            Request::FdbShow {
                stats: false,
                ports: Vec::new()
            }
        );
        let some = Request::FdbShow {
            stats: false,
            ports: vec!["vx0".into()],
        };
        assert_eq!(
            serde_json::to_string(&some).unwrap(),
            r#"{"cmd":"fdb-show","ports":["vx0"]}"#
        );
    }
}
