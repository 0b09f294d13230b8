//! The control server: a thread of its own that owns the control socket and
//! every client connection (accept, read, parse, JSON, non-blocking writes,
//! idle timeouts, the client limit), so that no answer, however large, holds up
//! forwarding.
//!
//! The forwarding thread keeps the switch to itself (no lock on the hot path).
//! Requests that need it go there as `Job`s over a channel, with an eventfd
//! that wakes its epoll; it answers with plain data (`Reply`), an FDB dump in
//! slices of bounded cost. Trace lines and captured frames come as `Chunk`s
//! over a bounded channel that the forwarding thread never waits on: when it is
//! full they are dropped and counted (`control.stream_dropped` in `stats`).
//!
//! Each thread frees only what it allocated: the control thread hands back
//! what the forwarding thread sent it (FDB slices, which the forwarding
//! thread reuses, port names, answers, stream data) over a bounded queue of
//! `Spent` values, and the forwarding thread hands back the requests; the
//! queues between them are bounded, their memory allocated once. With
//! glibc's allocator a free of another thread's memory takes that thread's
//! arena lock, and the forwarding thread then slept on the lock while the
//! control thread (nice +10) held it (BENCHMARKS.md, the fifth sitting).
//!
//! The control thread keeps to a CPU budget (`CpuBudget`, `vswitch run
//! --control-cpu`, 10% of a CPU by default): clients polling in loops get
//! fewer answers instead of the CPU that forwarding and the traffic's ends
//! need. So that it can pause often and briefly, and answer small requests
//! in between, an `fdb show` answer is formatted `ANSWER_ROWS` rows per
//! loop turn, and further only while less than `ANSWER_BUFFER` of it
//! waits for its client.
//!
//! A connection carries one request. After its answer the server shuts its
//! writing side and reads (and discards) what the client still sends until the
//! client closes, for at most [`LINGER`], so that the client reads its answer
//! instead of a connection reset. A client that sends no whole request within
//! the idle limit ([`DEFAULT_IDLE`]) is told so and closed, as is one that
//! reads nothing of its answer for that long; past [`DEFAULT_MAX_CLIENTS`]
//! connections a new one gets a refusal line.

use crate::control::{self, Request, Response, VERSION};
use crate::error::{Error, Result};
use crate::sys::{self, Epoll};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vswitch_core::FdbEntry;

/// The longest request line, newline excluded.
pub const MAX_REQUEST: usize = 64 << 10;
/// How long a connection may sit without sending a whole request (or without
/// reading any of its answer) before it is closed, by default.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30);
/// How many control connections may be open at once, by default.
pub const DEFAULT_MAX_CLIENTS: usize = 64;
/// How long a connection is still read, what arrives discarded, after its last
/// answer is out and the writing side shut.
pub const LINGER: Duration = Duration::from_secs(2);
/// A streaming client that falls this far behind loses lines or frames.
const MAX_CLIENT_BACKLOG: usize = 8 << 20;
/// The control thread's nice value by default: below ordinary processes,
/// so that formatting large answers gives way to forwarding (which runs at
/// nice -10 or a real-time priority) when the two share a CPU.
pub const DEFAULT_CONTROL_NICE: i32 = 10;
/// The share of one CPU, in percent, the control thread may use by default
/// (`vswitch run --control-cpu`; the module documentation says how).
pub const DEFAULT_CONTROL_CPU: u8 = 10;
/// The shortest window over which the control thread's CPU budget is counted.
pub const BUDGET_WINDOW: Duration = Duration::from_millis(100);
/// A monitoring client this far behind loses events (and is told how many).
const MAX_MONITOR_BACKLOG: usize = 1 << 20;
/// Chunks of trace lines or captured frames on their way to this thread.
const CHUNK_QUEUE: usize = 1024;
/// Jobs on their way to the forwarding thread, besides two per client.
const JOB_QUEUE: usize = 16;
/// Answers on their way to this thread (past it the forwarding thread keeps
/// them and sends no FDB slice until there is room).
const REPLY_QUEUE: usize = 1024;
/// Spent values on their way back to the forwarding thread.
const SPENT_QUEUE: usize = 1024;
/// FDB slice buffers: allocated once each, on the forwarding thread, and
/// passed back and forth; when all are with the control thread, dumps wait.
const SLICE_BUFFERS: usize = 8;

const TOKEN_LISTENER: u64 = 1;
const TOKEN_WAKE: u64 = 2;
/// Client ids start here; a client's epoll token is its id.
const FIRST_CLIENT: u64 = 16;

/// Bounds on the control server's connections, and its thread's priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlLimits {
    /// Idle limit (see the module documentation).
    pub idle: Duration,
    /// Most connections open at once.
    pub max_clients: usize,
    /// The control thread's nice value (-20..=19).
    pub nice: i32,
    /// The share of one CPU, in percent (1..=100), the control thread may
    /// use; 100 sets no bound.
    pub cpu_percent: u8,
}

impl Default for ControlLimits {
    fn default() -> ControlLimits {
        ControlLimits {
            idle: DEFAULT_IDLE,
            max_clients: DEFAULT_MAX_CLIENTS,
            nice: DEFAULT_CONTROL_NICE,
            cpu_percent: DEFAULT_CONTROL_CPU,
        }
    }
}

/// Work for the forwarding thread.
pub(crate) enum Job {
    /// Answer `request` of client `client`.
    Request { client: u64, request: Request },
    /// Client `client` is gone: end its stream or dump.
    Gone(u64),
}

/// A tunnel port's remote endpoints as `fdb show` prints them: addresses by
/// remote id, and the flood list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tunnel {
    /// The port number.
    pub port: u16,
    /// Address of each remote id ("" for an id not in use).
    pub remotes: Vec<String>,
    /// The flood list.
    pub flood: Vec<String>,
}

/// What the forwarding thread answers.
pub(crate) enum Answer {
    /// The whole answer.
    Done(Response),
    /// Success: trace lines or capture records follow as chunks.
    Stream,
    /// Part of an FDB dump. `names` (port names by port number) comes with
    /// the first slice.
    FdbSlice {
        names: Vec<String>,
        tunnels: Vec<Tunnel>,
        entries: Vec<FdbEntry>,
        last: bool,
    },
    /// The stream is over (its port went away): close once the rest is out.
    End,
    /// A request the forwarding thread is done with, for this thread (which
    /// allocated it) to free; no answer.
    #[allow(dead_code)] // Held only to be dropped on the right thread.
    Spent(Request),
}

/// What the control thread hands back to the forwarding thread, which
/// allocated it, to be reused or freed there.
#[allow(dead_code)] // Entries are reused; the rest is held only to be dropped.
pub(crate) enum Spent {
    /// An answer, whatever is left of it.
    Answer(Answer),
    /// An FDB slice buffer, emptied.
    Entries(Vec<FdbEntry>),
    /// Stream data, written out.
    Bytes(Vec<u8>),
}

/// An answer for one client.
pub(crate) struct Reply {
    pub client: u64,
    pub answer: Answer,
}

/// Trace lines, capture records or events for one streaming client.
pub(crate) struct Chunk {
    pub client: u64,
    pub bytes: Vec<u8>,
    /// Lines, frames or events in `bytes`, counted when dropped.
    pub items: u64,
    /// For events: the sequence number of the first. A client that loses
    /// events is told how many, with a `missed` line, before the next it gets.
    pub first_seq: Option<u64>,
}

/// What both threads see.
struct Shared {
    /// Wakes the control thread.
    wake: OwnedFd,
    stop: AtomicBool,
    /// Lines and frames of streams dropped: queue full or client too far behind.
    stream_dropped: AtomicU64,
}

/// The forwarding thread's end of the control server.
pub(crate) struct ControlLink {
    jobs: Receiver<Job>,
    /// Wakes the forwarding thread; in its epoll.
    wake: Arc<OwnedFd>,
    replies: SyncSender<Reply>,
    /// Replies that found the queue full, oldest first.
    backlog: VecDeque<Reply>,
    spent: Receiver<Spent>,
    /// Emptied FDB slice buffers, for the next slices.
    pool: Vec<Vec<FdbEntry>>,
    /// Slice buffers with the control thread.
    slices_out: usize,
    chunks: SyncSender<Chunk>,
    shared: Arc<Shared>,
    /// Something was sent since the control thread was last woken.
    pending: bool,
}

impl ControlLink {
    /// The descriptor that becomes readable when jobs are waiting.
    pub fn fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Takes the waiting jobs (after clearing the wakeup, so none is missed),
    /// and what the control thread handed back.
    pub fn take_jobs(&mut self, out: &mut Vec<Job>) {
        sys::event_clear(self.wake.as_raw_fd());
        out.extend(self.jobs.try_iter());
        self.take_spent();
    }

    /// Reuses or frees (here, where they were allocated) the values the
    /// control thread is done with.
    pub fn take_spent(&mut self) {
        while let Ok(spent) = self.spent.try_recv() {
            match spent {
                Spent::Entries(v) | Spent::Answer(Answer::FdbSlice { entries: v, .. })
                    if v.capacity() > 0 =>
                {
                    self.slices_out = self.slices_out.saturating_sub(1);
                    self.pool.push(v);
                }
                _ => {}
            }
        }
    }

    /// Whether an FDB slice can be sent now: a buffer is free and no reply
    /// waits for room.
    pub fn can_slice(&self) -> bool {
        self.backlog.is_empty() && (!self.pool.is_empty() || self.slices_out < SLICE_BUFFERS)
    }

    /// An empty buffer for an FDB slice of `capacity` entries, to go to the
    /// control thread with the slice: a reused one, or a new one while there
    /// are fewer than [`SLICE_BUFFERS`]; `None` while all are out.
    pub fn slice_buffer(&mut self, capacity: usize) -> Option<Vec<FdbEntry>> {
        if !self.can_slice() {
            return None;
        }
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.reserve(capacity);
        self.slices_out += 1;
        Some(v)
    }

    /// Queues an answer (kept here, in order, while the queue is full).
    pub fn reply(&mut self, client: u64, answer: Answer) {
        self.backlog.push_back(Reply { client, answer });
        self.send_backlog();
    }

    /// Hands `request` back to the control thread, which allocated it.
    pub fn give_back(&mut self, request: Request) {
        self.reply(0, Answer::Spent(request));
    }

    fn send_backlog(&mut self) {
        if send_waiting(&mut self.backlog, &self.replies) {
            self.pending = true;
        }
    }

    /// Queues stream data, or drops and counts it when the queue is full
    /// (then returns false).
    pub fn chunk(&mut self, client: u64, bytes: Vec<u8>, items: u64) -> bool {
        self.send_chunk(Chunk {
            client,
            bytes,
            items,
            first_seq: None,
        })
    }

    /// Queues events whose first has sequence number `first_seq`, as
    /// [`ControlLink::chunk`] does other stream data.
    pub fn events(&mut self, client: u64, bytes: Vec<u8>, items: u64, first_seq: u64) -> bool {
        self.send_chunk(Chunk {
            client,
            bytes,
            items,
            first_seq: Some(first_seq),
        })
    }

    fn send_chunk(&mut self, chunk: Chunk) -> bool {
        match self.chunks.try_send(chunk) {
            Ok(()) => {
                self.pending = true;
                true
            }
            Err(TrySendError::Full(c) | TrySendError::Disconnected(c)) => {
                self.shared
                    .stream_dropped
                    .fetch_add(c.items, Ordering::Relaxed);
                false
            }
        }
    }

    /// Sends what waited for room, and wakes the control thread if anything
    /// was queued since the last call.
    pub fn flush(&mut self) {
        self.send_backlog();
        if std::mem::take(&mut self.pending) {
            sys::event_signal(self.shared.wake.as_raw_fd());
        }
    }

    /// Stream lines and frames dropped so far.
    pub fn stream_dropped(&self) -> u64 {
        self.shared.stream_dropped.load(Ordering::Relaxed)
    }
}

/// The control thread, before it starts.
pub(crate) struct ControlServer {
    listener: UnixListener,
    limits: ControlLimits,
    jobs: SyncSender<Job>,
    forwarding: Arc<OwnedFd>,
    replies: Receiver<Reply>,
    spent: SyncSender<Spent>,
    chunks: Receiver<Chunk>,
    shared: Arc<Shared>,
}

/// A running control thread; [`ServerHandle::stop`] ends it.
pub(crate) struct ServerHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Ends the control thread (closing every connection) and waits for it.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        sys::event_signal(self.shared.wake.as_raw_fd());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The two ends of a control server on `listener`.
pub(crate) fn pair(
    listener: UnixListener,
    limits: ControlLimits,
) -> io::Result<(ControlServer, ControlLink)> {
    listener.set_nonblocking(true)?;
    let shared = Arc::new(Shared {
        wake: sys::event_fd()?,
        stop: AtomicBool::new(false),
        stream_dropped: AtomicU64::new(0),
    });
    let forwarding = Arc::new(sys::event_fd()?);
    // Bounded queues: their memory is allocated here, once, not per message
    // by one thread and freed by the other.
    let (jobs_tx, jobs_rx) = mpsc::sync_channel(2 * limits.max_clients + JOB_QUEUE);
    let (replies_tx, replies_rx) = mpsc::sync_channel(REPLY_QUEUE);
    let (spent_tx, spent_rx) = mpsc::sync_channel(SPENT_QUEUE);
    let (chunks_tx, chunks_rx) = mpsc::sync_channel(CHUNK_QUEUE);
    let server = ControlServer {
        listener,
        limits,
        jobs: jobs_tx,
        forwarding: Arc::clone(&forwarding),
        replies: replies_rx,
        spent: spent_tx,
        chunks: chunks_rx,
        shared: Arc::clone(&shared),
    };
    let link = ControlLink {
        jobs: jobs_rx,
        wake: forwarding,
        replies: replies_tx,
        backlog: VecDeque::with_capacity(REPLY_QUEUE),
        spent: spent_rx,
        pool: Vec::with_capacity(SLICE_BUFFERS),
        slices_out: 0,
        chunks: chunks_tx,
        shared,
        pending: false,
    };
    Ok((server, link))
}

/// The control thread's CPU budget: at most `percent` of one CPU, counted
/// over windows of at least [`BUDGET_WINDOW`]. When the CPU used since a
/// window began would take longer than the time since at `percent` of a CPU,
/// the thread pauses for the difference (also for work that overran the
/// window), at most a [`BUDGET_WINDOW`] at a time, so that clients polling the switch in loops (each answer costs
/// CPU here and more in the client) get fewer answers instead of taking the
/// CPU that forwarding and the traffic's own ends need, as a hardware switch
/// polices traffic to its control plane.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuBudget {
    /// The share of a CPU, percent; `None`: no bound.
    percent: Option<u32>,
    /// When the current window started, and the thread's CPU time then.
    start: Instant,
    cpu_at_start: Duration,
}

impl CpuBudget {
    pub(crate) fn new(percent: u8, now: Instant, cpu: Duration) -> CpuBudget {
        CpuBudget {
            percent: (percent < 100).then_some(u32::from(percent.max(1))),
            start: now,
            cpu_at_start: cpu,
        }
    }

    /// How long to pause, given the time and the thread's CPU time now.
    pub(crate) fn pause(&mut self, now: Instant, cpu: Duration) -> Option<Duration> {
        let percent = self.percent?;
        let used = cpu.saturating_sub(self.cpu_at_start);
        // What `used` may take at `percent` of a CPU.
        let due = used * 100 / percent;
        let elapsed = now.saturating_duration_since(self.start);
        if due > elapsed {
            let debt = due - elapsed;
            if debt > BUDGET_WINDOW {
                // Paid a window at a time, so that requests that came
                // meanwhile are seen between: the window and its CPU stay.
                return Some(BUDGET_WINDOW);
            }
            // Paid off: the next window starts when the pause ends.
            self.start = now + debt;
            self.cpu_at_start = cpu;
            return Some(debt);
        }
        if elapsed >= BUDGET_WINDOW {
            self.start = now;
            self.cpu_at_start = cpu;
        }
        None
    }
}

impl ControlServer {
    /// Starts the control thread.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let epoll = Epoll::new()?;
        let ev = libc::EPOLLIN as u32;
        epoll.add(self.listener.as_raw_fd(), ev, TOKEN_LISTENER)?;
        epoll.add(self.shared.wake.as_raw_fd(), ev, TOKEN_WAKE)?;
        let shared = Arc::clone(&self.shared);
        let nice = self.limits.nice;
        let percent = self.limits.cpu_percent;
        let mut state = Server {
            io: self,
            epoll,
            clients: HashMap::new(),
            next_id: FIRST_CLIENT,
            refused: 0,
            idle_closed: 0,
            unsent: VecDeque::new(),
            unreturned: VecDeque::new(),
            throttled: Duration::ZERO,
        };
        let thread = std::thread::Builder::new()
            .name("vswitch-control".into())
            .spawn(move || {
                // Formatting large answers must give way to forwarding when
                // the two share a CPU.
                if let Err(e) = sys::set_thread_nice(nice) {
                    tracing::debug!("control thread keeps its priority: {e}");
                }
                state.run(percent)
            })?;
        Ok(ServerHandle {
            shared,
            thread: Some(thread),
        })
    }
}

/// What a connection is doing.
enum State {
    /// Reading its request line.
    Reading,
    /// Its request is with the forwarding thread.
    Waiting(Waiting),
    /// Getting trace lines or capture records.
    Streaming,
    /// Its `fdb show` answer is being formatted, a part per loop turn.
    Answering(Box<FdbAnswer>),
    /// Its last bytes are going out; then the writing side is shut and what
    /// the client still sends is read and discarded until it closes.
    Closing,
}

/// A request with the forwarding thread.
enum Waiting {
    Stats,
    Fdb {
        names: Vec<String>,
        tunnels: Vec<Tunnel>,
        entries: Vec<FdbEntry>,
        /// Rows with the entries' counters.
        stats: bool,
    },
    Other,
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// Stream data that came before the answer that starts the stream.
    early: Vec<u8>,
    state: State,
    /// The client's end of the stream was read.
    eof: bool,
    /// The client hung up entirely: nothing can reach it.
    gone: bool,
    /// Our writing side is shut.
    shut: bool,
    /// Refused for the client limit (and not counted in it).
    refused: bool,
    /// Last progress: bytes read or written, or an answer queued.
    active: Instant,
    /// Events this client lost (too far behind) and not yet told of, and
    /// the sequence number of the first.
    missed: u64,
    missed_from: u64,
    /// The epoll events watched.
    events: u32,
}

struct Server {
    io: ControlServer,
    epoll: Epoll,
    clients: HashMap<u64, Client>,
    next_id: u64,
    refused: u64,
    idle_closed: u64,
    /// Jobs that found the queue full, oldest first.
    unsent: VecDeque<Job>,
    /// Spent values that found the queue full, oldest first.
    unreturned: VecDeque<Spent>,
    /// Time paused for the CPU budget.
    throttled: Duration,
}

/// Sends what waits in `queue`, oldest first, until `tx` is full (the rest
/// keeps waiting) or gone (the rest is dropped); never waits. True if
/// anything was sent.
fn send_waiting<T>(queue: &mut VecDeque<T>, tx: &SyncSender<T>) -> bool {
    let mut sent = false;
    while let Some(v) = queue.pop_front() {
        match tx.try_send(v) {
            Ok(()) => sent = true,
            Err(TrySendError::Full(v)) => {
                queue.push_front(v);
                break;
            }
            Err(TrySendError::Disconnected(_)) => queue.clear(),
        }
    }
    sent
}

/// The event line that tells a monitoring client it lost `count` events, the
/// first of them numbered `from`.
pub(crate) fn missed_line(from: u64, count: u64) -> Vec<u8> {
    format!("{{\"seq\":{from},\"event\":\"missed\",\"count\":{count}}}\n").into_bytes()
}

fn line(response: &Response) -> Vec<u8> {
    let mut out = serde_json::to_vec(response).unwrap_or_default();
    out.push(b'\n');
    out
}

/// One row of `fdb show` ([`FdbRow`]) with its fields in the order a
/// `serde_json::Value` puts them, so that the line is the one
/// `Response::ok(rows)` makes.
#[derive(serde::Serialize)]
struct Row<'a> {
    age: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hits: Option<u32>,
    ifname: &'a str,
    mac: String,
    port: u16,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    used: Option<u64>,
    vlan: u16,
}

/// Rows of an `fdb show` answer formatted per loop turn, between checks of
/// the CPU budget and of the other clients.
const ANSWER_ROWS: usize = 4096;
/// An answer is formatted further only while less than this much of it waits
/// to be written: a client that reads slowly does not make the switch hold
/// its whole answer.
const ANSWER_BUFFER: usize = 256 << 10;

/// The `fdb show` answer line, written row by row and a part at a time (a
/// large table never exists as a `serde_json::Value`, nor whole as text): the
/// rows sorted by port, VLAN and MAC. An entry seen twice on the same port by
/// a dump of a changing table is shown once.
///
/// A tunnel port's entries carry their remote's address (`dst`), and its
/// flood list comes as entries for 00:00:00:00:00:00, as `bridge fdb show`
/// prints a VXLAN device's. With `stats`, each entry's row has its counters
/// as a destination (`hits`, and `used` once it has been one).
struct FdbAnswer {
    names: Vec<String>,
    tunnels: Vec<Tunnel>,
    entries: Vec<FdbEntry>,
    stats: bool,
    /// The next entry to write; `None`: the head is not written yet.
    next: Option<usize>,
    /// A row has been written (the next one needs a comma).
    rows: bool,
}

impl FdbAnswer {
    fn new(
        names: Vec<String>,
        tunnels: Vec<Tunnel>,
        mut entries: Vec<FdbEntry>,
        stats: bool,
    ) -> FdbAnswer {
        entries.sort_unstable_by_key(|e| (e.port.0, e.vid, e.mac.0));
        entries.dedup_by_key(|e| (e.port.0, e.vid, e.mac.0));
        FdbAnswer {
            names,
            tunnels,
            entries,
            stats,
            next: None,
            rows: false,
        }
    }

    /// Appends the next `count` entries' rows to `out` (the head and the
    /// flood lists first); true once the whole line is written.
    fn write(&mut self, out: &mut Vec<u8>, count: usize) -> bool {
        let FdbAnswer {
            names,
            tunnels,
            entries,
            stats,
            next,
            rows,
        } = self;
        let mut row = |out: &mut Vec<u8>, row: Row| {
            if *rows {
                out.push(b',');
            }
            *rows = true;
            let _ = serde_json::to_writer(out, &row);
        };
        let start = match *next {
            Some(n) => n,
            None => {
                out.extend_from_slice(
                    format!(r#"{{"version":{VERSION},"ok":true,"data":["#).as_bytes(),
                );
                for t in tunnels.iter() {
                    for dst in &t.flood {
                        let ifname = names.get(usize::from(t.port)).map_or("", String::as_str);
                        row(
                            out,
                            Row {
                                age: 0.0,
                                dst: Some(dst),
                                hits: None,
                                ifname,
                                mac: "00:00:00:00:00:00".to_string(),
                                port: t.port,
                                state: "static",
                                used: None,
                                vlan: 0,
                            },
                        );
                    }
                }
                0
            }
        };
        let end = start.saturating_add(count).min(entries.len());
        for e in &entries[start..end] {
            let unnamed;
            let ifname = match names.get(usize::from(e.port.0)) {
                Some(n) if !n.is_empty() => n.as_str(),
                _ => {
                    unnamed = format!("port{}", e.port);
                    unnamed.as_str()
                }
            };
            let dst = e.remote.and_then(|r| {
                let t = tunnels.iter().find(|t| t.port == e.port.0)?;
                t.remotes
                    .get(usize::from(r.0))
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
            });
            row(
                out,
                Row {
                    age: e.age.as_secs_f64(),
                    dst,
                    hits: stats.then_some(e.hits),
                    ifname,
                    mac: e.mac.to_string(),
                    port: e.port.0,
                    state: if e.is_static { "static" } else { "dynamic" },
                    used: e.used.filter(|_| *stats).map(|u| u.as_secs()),
                    vlan: e.vid,
                },
            );
        }
        *next = Some(end);
        if end < entries.len() {
            return false;
        }
        out.extend_from_slice(b"]}\n");
        true
    }
}

/// The whole `fdb show` answer line (see [`FdbAnswer`]).
#[cfg(test)]
fn fdb_line(names: &[String], tunnels: &[Tunnel], entries: Vec<FdbEntry>, stats: bool) -> Vec<u8> {
    let mut answer = FdbAnswer::new(names.to_vec(), tunnels.to_vec(), entries, stats);
    let mut out = Vec::new();
    while !answer.write(&mut out, 3) {}
    out
}

impl Server {
    fn run(&mut self, cpu_percent: u8) {
        let mut events = Vec::with_capacity(64);
        let mut budget = CpuBudget::new(cpu_percent, Instant::now(), sys::thread_cpu_time());
        let mut answering = false;
        while !self.io.shared.stop.load(Ordering::Acquire) {
            let timeout = match self.next_deadline() {
                _ if answering => 0,
                Some(t) => {
                    let ms = t.saturating_duration_since(Instant::now()).as_micros();
                    ms.div_ceil(1000).min(60_000) as i32
                }
                None => -1,
            };
            if let Err(e) = self.epoll.wait(&mut events, timeout) {
                tracing::warn!("control thread: epoll_wait: {e}");
                return;
            }
            for &(token, ev) in &events {
                match token {
                    TOKEN_LISTENER => self.accept(),
                    TOKEN_WAKE => {
                        sys::event_clear(self.io.shared.wake.as_raw_fd());
                        self.take_answers();
                    }
                    id => self.on_client(id, ev),
                }
            }
            self.expire(Instant::now());
            self.send_jobs();
            self.return_spent();
            answering = self.answer_some();
            if let Some(pause) = budget.pause(Instant::now(), sys::thread_cpu_time()) {
                // Nothing waits on this thread: the forwarding thread keeps
                // what it has for us (a dump waits for its slice buffers,
                // stream data is dropped and counted past its queue).
                std::thread::sleep(pause);
                self.throttled += pause;
            }
        }
    }

    /// Formats the next part of each `fdb show` answer whose client has read
    /// most of the part before, and writes it. True if an answer can go on
    /// at once (its client keeps up).
    fn answer_some(&mut self) -> bool {
        let ids: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Answering(_)))
            .map(|(&id, _)| id)
            .collect();
        let mut more = false;
        for id in ids {
            let Some(c) = self.clients.get_mut(&id) else {
                continue;
            };
            if c.outbuf.len() >= ANSWER_BUFFER {
                continue;
            }
            let State::Answering(answer) = &mut c.state else {
                continue;
            };
            if answer.write(&mut c.outbuf, ANSWER_ROWS) {
                c.state = State::Closing;
            }
            self.flush(id);
            more |= self.clients.get(&id).is_some_and(|c| {
                matches!(c.state, State::Answering(_)) && c.outbuf.len() < ANSWER_BUFFER
            });
        }
        more
    }

    /// Connections that hold a place: neither refused nor answered (one whose
    /// answer is out is only drained for [`LINGER`] and holds none, so that a
    /// client that connects right after another's answer is not refused).
    fn counted(&self) -> usize {
        self.clients
            .values()
            .filter(|c| !c.refused && !c.shut)
            .count()
    }

    fn accept(&mut self) {
        loop {
            let stream = match self.io.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    return;
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let max = self.io.limits.max_clients;
            let refuse = self.counted() >= max;
            if refuse {
                self.refused += 1;
            }
            // Refused and answered connections linger too, but never more of
            // them than places: past that a new one is closed unanswered.
            if self.clients.len() >= 2 * max {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            if self
                .epoll
                .add(stream.as_raw_fd(), libc::EPOLLIN as u32, id)
                .is_err()
            {
                continue;
            }
            let mut c = Client {
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                early: Vec::new(),
                state: State::Reading,
                eof: false,
                gone: false,
                shut: false,
                refused: refuse,
                active: Instant::now(),
                missed: 0,
                missed_from: 0,
                events: libc::EPOLLIN as u32,
            };
            if refuse {
                c.outbuf = line(&Response::err(format!(
                    "too many control clients ({max}); try again"
                )));
                c.state = State::Closing;
            }
            self.clients.insert(id, c);
            self.flush(id);
        }
    }

    fn close(&mut self, id: u64) {
        let Some(c) = self.clients.remove(&id) else {
            return;
        };
        if !c.gone {
            self.epoll.delete(c.stream.as_raw_fd());
        }
        if matches!(c.state, State::Waiting(_) | State::Streaming) {
            self.send_job(Job::Gone(id));
        }
    }

    fn send_job(&mut self, job: Job) {
        self.unsent.push_back(job);
        self.send_jobs();
    }

    /// Sends the jobs waiting for room in the queue (it has room for two per
    /// client, so they rarely wait), and wakes the forwarding thread. Never
    /// waits: the forwarding thread may be stopping.
    fn send_jobs(&mut self) {
        if send_waiting(&mut self.unsent, &self.io.jobs) {
            sys::event_signal(self.io.forwarding.as_raw_fd());
        }
    }

    /// Hands `spent` back to the forwarding thread, which allocated it.
    fn give_back(&mut self, spent: Spent) {
        self.unreturned.push_back(spent);
        self.return_spent();
    }

    /// Sends back the spent values waiting for room in the queue, and wakes
    /// the forwarding thread (a dump may wait for its slice buffer). Never
    /// waits: the forwarding thread may be stopping.
    fn return_spent(&mut self) {
        if send_waiting(&mut self.unreturned, &self.io.spent) {
            sys::event_signal(self.io.forwarding.as_raw_fd());
        }
    }

    fn on_client(&mut self, id: u64, ev: u32) {
        if ev & libc::EPOLLERR as u32 != 0 {
            self.close(id);
            return;
        }
        if ev & (libc::EPOLLIN | libc::EPOLLHUP) as u32 != 0 && !self.read(id) {
            return;
        }
        if ev & libc::EPOLLHUP as u32 != 0 {
            // Hung up entirely: a request it sent is still carried out, but
            // its answer has nowhere to go.
            let Some(c) = self.clients.get_mut(&id) else {
                return;
            };
            if matches!(c.state, State::Waiting(_)) {
                self.epoll.delete(c.stream.as_raw_fd());
                c.gone = true;
            } else {
                self.close(id);
            }
            return;
        }
        self.flush(id);
    }

    /// Reads what the client sent; handles a whole request. False if the
    /// client was closed.
    fn read(&mut self, id: u64) -> bool {
        let Some(c) = self.clients.get_mut(&id) else {
            return false;
        };
        let mut buf = [0u8; 16 << 10];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    c.eof = true;
                    break;
                }
                Ok(n) => {
                    c.active = Instant::now();
                    if matches!(c.state, State::Reading) {
                        c.inbuf.extend_from_slice(&buf[..n]);
                        if c.inbuf.len() > MAX_REQUEST || buf[..n].contains(&b'\n') {
                            break;
                        }
                    }
                    // Otherwise what a client sends after its request is
                    // read and discarded.
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(id);
                    return false;
                }
            }
        }
        match c.state {
            State::Reading => self.take_request(id),
            State::Streaming if c.eof => {
                self.close(id);
                false
            }
            State::Closing if c.eof && c.shut => {
                self.close(id);
                false
            }
            _ => true,
        }
    }

    /// Handles the request line of client `id` if it is complete, or refuses
    /// what cannot become one. False if the client was closed.
    fn take_request(&mut self, id: u64) -> bool {
        let Some(c) = self.clients.get_mut(&id) else {
            return false;
        };
        let request = if let Some(end) = c.inbuf.iter().position(|&b| b == b'\n') {
            let r = control::parse_request(&c.inbuf[..end]);
            c.inbuf = Vec::new();
            r
        } else if c.inbuf.len() > MAX_REQUEST {
            c.inbuf = Vec::new();
            Err(format!(
                "request longer than {MAX_REQUEST} bytes without a newline: one JSON object per line"
            ))
        } else if c.eof && !c.inbuf.is_empty() {
            Err("request cut off: the stream ended before its newline".to_string())
        } else if c.eof {
            self.close(id);
            return false;
        } else {
            return true;
        };
        match request {
            Ok(request) => {
                c.state = State::Waiting(match request {
                    Request::Stats => Waiting::Stats,
                    Request::FdbShow { stats, .. } => Waiting::Fdb {
                        names: Vec::new(),
                        tunnels: Vec::new(),
                        entries: Vec::new(),
                        stats,
                    },
                    _ => Waiting::Other,
                });
                self.send_job(Job::Request {
                    client: id,
                    request,
                });
            }
            Err(e) => {
                c.outbuf = line(&Response::err(e));
                c.state = State::Closing;
            }
        }
        true
    }

    /// Writes what is queued for client `id`, shuts its writing side after
    /// the last answer, and updates what epoll watches.
    fn flush(&mut self, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.gone {
            self.close(id);
            return;
        }
        let mut sent = 0;
        while sent < c.outbuf.len() {
            match c.stream.write(&c.outbuf[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(id);
                    return;
                }
            }
        }
        if sent > 0 {
            c.outbuf.drain(..sent);
            c.active = Instant::now();
        }
        // A monitoring client that lost events is told as soon as there is
        // room, even if no event follows.
        if c.missed > 0 && c.outbuf.len() < MAX_MONITOR_BACKLOG && !c.shut {
            c.outbuf
                .extend_from_slice(&missed_line(c.missed_from, c.missed));
            c.missed = 0;
        }
        if c.outbuf.is_empty() && matches!(c.state, State::Closing) && !c.shut {
            if c.eof {
                self.close(id);
                return;
            }
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            c.shut = true;
            c.active = Instant::now();
        }
        let mut want = 0;
        if !c.eof {
            want |= libc::EPOLLIN as u32;
        }
        if !c.outbuf.is_empty() {
            want |= libc::EPOLLOUT as u32;
        }
        if want != c.events && self.epoll.modify(c.stream.as_raw_fd(), want, id).is_ok() {
            c.events = want;
        }
    }

    fn take_answers(&mut self) {
        let mut n = 0;
        while let Ok(r) = self.io.replies.try_recv() {
            self.on_reply(r);
            n += 1;
        }
        if n >= REPLY_QUEUE / 2 {
            // The queue was (nearly) full: the forwarding thread may hold
            // replies back, and dumps with them, until it is woken.
            sys::event_signal(self.io.forwarding.as_raw_fd());
        }
        while let Ok(chunk) = self.io.chunks.try_recv() {
            self.on_chunk(chunk);
        }
    }

    fn on_reply(&mut self, r: Reply) {
        let clients = self.counted();
        let (refused, idle_closed) = (self.refused, self.idle_closed);
        let throttled_ms = self.throttled.as_millis() as u64;
        let Some(c) = self.clients.get_mut(&r.client) else {
            // A spent request, freed here where it was made, or an answer
            // for a client that is gone, handed back.
            if !matches!(r.answer, Answer::Spent(_)) {
                self.give_back(Spent::Answer(r.answer));
            }
            return;
        };
        let waiting = match &mut c.state {
            State::Waiting(w) => Some(w),
            _ => None,
        };
        // What goes back to the forwarding thread once it is used.
        let mut spent = None;
        let mut slice = None;
        match (r.answer, waiting) {
            (Answer::Done(response), w) => {
                let stats = matches!(w, Some(Waiting::Stats));
                match response.data.as_ref().filter(|_| stats) {
                    Some(data) => {
                        // The connection counts go into a copy made here:
                        // the forwarding thread's value is only read.
                        let mut data = data.clone();
                        if let Some(control) =
                            data.get_mut("control").and_then(|v| v.as_object_mut())
                        {
                            control.insert("clients".into(), clients.into());
                            control.insert("refused".into(), refused.into());
                            control.insert("idle_closed".into(), idle_closed.into());
                            control.insert("throttled_ms".into(), throttled_ms.into());
                        }
                        c.outbuf.extend_from_slice(&line(&Response::ok(data)));
                    }
                    None => c.outbuf.extend_from_slice(&line(&response)),
                }
                spent = Some(Answer::Done(response));
                c.state = State::Closing;
            }
            (Answer::Stream, _) => {
                c.outbuf.extend_from_slice(&line(&Response::ok(())));
                c.outbuf.append(&mut c.early);
                c.state = State::Streaming;
            }
            (
                Answer::FdbSlice {
                    names,
                    tunnels,
                    mut entries,
                    last,
                },
                Some(Waiting::Fdb {
                    names: all_names,
                    tunnels: all_tunnels,
                    entries: all,
                    stats,
                }),
            ) => {
                if !names.is_empty() {
                    all_names.clone_from(&names);
                    all_tunnels.clone_from(&tunnels);
                }
                all.extend_from_slice(&entries);
                entries.clear();
                slice = Some(entries);
                spent = Some(Answer::FdbSlice {
                    names,
                    tunnels,
                    entries: Vec::new(),
                    last,
                });
                if last {
                    let answer = FdbAnswer::new(
                        std::mem::take(all_names),
                        std::mem::take(all_tunnels),
                        std::mem::take(all),
                        *stats,
                    );
                    c.state = State::Answering(Box::new(answer));
                }
            }
            (a @ Answer::FdbSlice { .. }, _) => spent = Some(a),
            (Answer::End, _) => c.state = State::Closing,
            (Answer::Spent(_), _) => {}
        }
        c.active = Instant::now();
        if let Some(entries) = slice {
            self.give_back(Spent::Entries(entries));
        }
        if let Some(a) = spent {
            self.give_back(Spent::Answer(a));
        }
        self.flush(r.client);
    }

    fn on_chunk(&mut self, chunk: Chunk) {
        let client = chunk.client;
        let items = chunk.items;
        let first_seq = chunk.first_seq;
        // Written out (or not) here, freed where it was made.
        self.write_chunk(client, &chunk.bytes, items, first_seq);
        self.give_back(Spent::Bytes(chunk.bytes));
    }

    fn write_chunk(&mut self, client: u64, bytes: &[u8], items: u64, first_seq: Option<u64>) {
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        let queue = match c.state {
            State::Waiting(_) => &mut c.early,
            State::Streaming | State::Closing if !c.shut => &mut c.outbuf,
            _ => return,
        };
        let limit = match first_seq {
            Some(_) => MAX_MONITOR_BACKLOG,
            None => MAX_CLIENT_BACKLOG,
        };
        if queue.len() >= limit {
            self.io
                .shared
                .stream_dropped
                .fetch_add(items, Ordering::Relaxed);
            if let Some(first) = first_seq {
                if c.missed == 0 {
                    c.missed_from = first;
                }
                c.missed += items;
            }
            return;
        }
        if c.missed > 0 {
            queue.extend_from_slice(&missed_line(c.missed_from, c.missed));
            c.missed = 0;
        }
        queue.extend_from_slice(bytes);
        if matches!(c.state, State::Streaming | State::Closing) {
            self.flush(client);
        }
    }

    /// When client `c` is closed for want of progress, if it can be.
    fn deadline(&self, c: &Client) -> Option<Instant> {
        match c.state {
            State::Reading => Some(c.active + self.io.limits.idle),
            State::Closing if c.shut => Some(c.active + LINGER.min(self.io.limits.idle)),
            State::Closing | State::Answering(_) => Some(c.active + self.io.limits.idle),
            State::Waiting(_) | State::Streaming => None,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.clients.values().filter_map(|c| self.deadline(c)).min()
    }

    /// Closes connections past their deadline; one that never sent a whole
    /// request is told why first.
    fn expire(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| self.deadline(c).is_some_and(|d| d <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let Some(c) = self.clients.get_mut(&id) else {
                continue;
            };
            if matches!(c.state, State::Reading) {
                self.idle_closed += 1;
                let idle = self.io.limits.idle.as_secs_f64();
                c.outbuf = line(&Response::err(format!(
                    "no request within {idle} s: closing the connection"
                )));
                c.state = State::Closing;
                c.active = now;
                self.flush(id);
            } else {
                if !c.shut {
                    self.idle_closed += 1;
                }
                self.close(id);
            }
        }
    }
}

/// Binds `/run/vswitch/NAME.sock` (mode 0600), replacing a stale socket but
/// refusing one a running switch answers on.
pub(crate) fn bind(name: &str) -> Result<(UnixListener, PathBuf)> {
    let path = control::socket_path(name);
    std::fs::create_dir_all(control::SOCKET_DIR)
        .map_err(|e| Error::io(format!("creating {}", control::SOCKET_DIR), e))?;
    let _ = std::fs::set_permissions(control::SOCKET_DIR, std::fs::Permissions::from_mode(0o755));
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(Error::SocketInUse(path.display().to_string()));
        }
        std::fs::remove_file(&path)
            .map_err(|e| Error::io(format!("removing stale {}", path.display()), e))?;
    }
    // The directory is root's and the mode is narrowed at once: only root
    // (who may connect anyway) could use the moment in between.
    let listener = UnixListener::bind(&path).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => Error::SocketInUse(path.display().to_string()),
        _ => Error::io(format!("binding {}", path.display()), e),
    })?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))?;
    Ok((listener, path))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::control::FdbRow;
    use std::time::Duration;
    use vswitch_core::{MacAddr, PortId};

    fn entry(port: u16, vid: u16, last: u8, age_ms: u64) -> FdbEntry {
        FdbEntry {
            vid,
            mac: MacAddr([2, 0, 0, 0, 0, last]),
            port: PortId(port),
            is_static: age_ms == 0,
            age: Duration::from_millis(age_ms),
            remote: None,
            hits: u32::from(last),
            used: (last % 2 == 0).then(|| Duration::from_secs(u64::from(last))),
        }
    }

    /// FDB slice buffers go out at most `SLICE_BUFFERS` at a time and come
    /// back to be reused (the same allocation); replies that find the queue
    /// full wait, in order, and hold the slices back meanwhile.
    #[test]
    fn slice_buffers_travel_and_replies_wait() {
        let path = std::env::temp_dir().join(format!("vswitch-cs-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let (server, mut link) = pair(listener, ControlLimits::default()).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut out: Vec<Vec<FdbEntry>> = (0..SLICE_BUFFERS)
            .map(|_| link.slice_buffer(16).expect("a buffer"))
            .collect();
        assert!(out.iter().all(|v| v.is_empty() && v.capacity() >= 16));
        assert!(!link.can_slice());
        assert!(
            link.slice_buffer(16).is_none(),
            "all are out: the dump waits"
        );
        // One comes back bare, one inside an answer for a client gone.
        let a = out.pop().unwrap();
        let a_ptr = a.as_ptr();
        server.spent.try_send(Spent::Entries(a)).unwrap();
        let mut b = out.pop().unwrap();
        b.push(entry(1, 0, 1, 5));
        let b_ptr = b.as_ptr();
        server
            .spent
            .try_send(Spent::Answer(Answer::FdbSlice {
                names: Vec::new(),
                tunnels: Vec::new(),
                entries: b,
                last: true,
            }))
            .unwrap();
        link.take_spent();
        let again = [link.slice_buffer(16), link.slice_buffer(16)].map(|v| v.expect("returned"));
        assert!(again.iter().all(Vec::is_empty));
        let mut ptrs = again.map(|v| v.as_ptr() as usize);
        ptrs.sort_unstable();
        let mut want = [a_ptr as usize, b_ptr as usize];
        want.sort_unstable();
        assert_eq!(ptrs, want, "the same buffers, not new ones");
        assert!(link.slice_buffer(16).is_none());
        // Fill the reply queue; the next replies wait here, in order.
        for i in 0..REPLY_QUEUE as u64 + 3 {
            link.reply(i, Answer::End);
        }
        assert!(link.backlog.len() == 3 && !link.can_slice());
        let taken: Vec<u64> = server.replies.try_iter().map(|r| r.client).collect();
        assert_eq!(taken.len(), REPLY_QUEUE);
        link.flush();
        assert!(link.backlog.is_empty());
        let rest: Vec<u64> = server.replies.try_iter().map(|r| r.client).collect();
        let want: Vec<u64> = (REPLY_QUEUE as u64..REPLY_QUEUE as u64 + 3).collect();
        assert_eq!(rest, want);
    }

    #[test]
    fn the_cpu_budget_pauses_for_the_rest_of_its_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let cpu0 = ms(1000);
        let mut b = CpuBudget::new(10, t0, cpu0);
        assert_eq!(b.pause(t0 + ms(50), cpu0 + ms(5)), None);
        // 10 ms of CPU at 10% take 100 ms: 40 more.
        assert_eq!(b.pause(t0 + ms(60), cpu0 + ms(10)), Some(ms(40)));
        // The next window starts where the pause ends, with the CPU spent so far.
        assert_eq!(b.pause(t0 + ms(150), cpu0 + ms(14)), None);
        assert_eq!(b.pause(t0 + ms(160), cpu0 + ms(20)), Some(ms(40)));
        // Work that overran its window pays for all of it, 30 ms of CPU in
        // 10 ms: 290 ms of pause, a window at a time.
        assert_eq!(b.pause(t0 + ms(210), cpu0 + ms(50)), Some(ms(100)));
        assert_eq!(b.pause(t0 + ms(310), cpu0 + ms(50)), Some(ms(100)));
        // (a request answered between the pauses adds its CPU to the debt)
        assert_eq!(b.pause(t0 + ms(410), cpu0 + ms(51)), Some(ms(100)));
        assert_eq!(b.pause(t0 + ms(510), cpu0 + ms(51)), None);
        // A window that ended within its budget starts a new one.
        assert_eq!(b.pause(t0 + ms(700), cpu0 + ms(55)), None);
        assert_eq!(b.pause(t0 + ms(750), cpu0 + ms(59)), None);
        assert_eq!(b.pause(t0 + ms(760), cpu0 + ms(65)), Some(ms(40)));
        // 100%: no bound.
        let mut free = CpuBudget::new(100, t0, cpu0);
        assert_eq!(free.pause(t0 + ms(1), cpu0 + ms(90)), None);
    }

    /// The FDB answer written row by row is the line `Response::ok(rows)`
    /// makes of the sorted rows, with a row seen twice shown once.
    #[test]
    fn fdb_line_is_the_response_line() {
        let names = vec!["a".to_string(), String::new(), "c".to_string()];
        let entries = vec![
            entry(2, 0, 9, 1500),
            entry(0, 5, 3, 0),
            entry(0, 1, 0x10, 12),
            entry(1, 0, 4, 7),
            entry(0, 1, 0x10, 12),
        ];
        let rows: Vec<FdbRow> = [(0, 1, "02:00:00:00:00:10", "a", 0.012, "dynamic")]
            .into_iter()
            .chain([
                (0, 5, "02:00:00:00:00:03", "a", 0.0, "static"),
                (1, 0, "02:00:00:00:00:04", "port1", 0.007, "dynamic"),
                (2, 0, "02:00:00:00:00:09", "c", 1.5, "dynamic"),
            ])
            .map(|(port, vlan, mac, ifname, age, state)| FdbRow {
                mac: mac.into(),
                ifname: ifname.into(),
                port,
                vlan,
                state: state.into(),
                age,
                dst: None,
                hits: None,
                used: None,
            })
            .collect();
        let want = line(&Response::ok(&rows));
        let got = fdb_line(&names, &[], entries.clone(), false);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
        assert_eq!(
            fdb_line(&[], &[], Vec::new(), false),
            line(&Response::ok(Vec::<FdbRow>::new()))
        );
        // With counters: hits on every entry, used on those used.
        let rows: Vec<FdbRow> = rows
            .into_iter()
            .map(|r| {
                let last = u8::from_str_radix(&r.mac[15..], 16).unwrap();
                FdbRow {
                    hits: Some(u32::from(last)),
                    used: (last % 2 == 0).then_some(u64::from(last)),
                    ..r
                }
            })
            .collect();
        assert!(rows.iter().any(|r| r.used.is_none()) && rows.iter().any(|r| r.used.is_some()));
        let got = fdb_line(&names, &[], entries, true);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(line(&Response::ok(&rows))).unwrap()
        );
    }
}
