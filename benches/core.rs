//! Per-frame cost of the switching core, beside a straightforward
//! `HashMap<[u8; 6], usize>` learning switch fed the same frames, and beside
//! a floor: the least a learning switch can do for the same known unicast
//! (`FloorSwitch`).
//!
//! `cargo bench --bench core`. Figures go to BENCHMARKS.md.
//!
//! For instruction counts, which stay put on a busy machine, `CORE_BENCH_LOOP`
//! runs one fixed workload without criterion, made to be run under callgrind:
//!
//! ```sh
//! CORE_BENCH_LOOP=known_unicast:4096 valgrind --tool=callgrind \
//!   --toggle-collect='*measured_batch*' target/release/deps/core-<hash> --bench
//! ```
//!
//! (`known_unicast:<hosts>`, `naive:<hosts>`, `floor:<hosts>` or `churn`;
//! 2,000 batches of 32 after a warm-up, so the count over 64,000 is per
//! frame; `flush:<hosts>` and `explain:<hosts>` time a whole-table flush with
//! its reclaim slices, and `Switch::explain`, instead.) With
//! `CORE_BENCH_ROUNDS=50` and no valgrind it times 50 rounds instead and
//! prints the fastest and the median.
//!
//! Hosts' MACs are handed out in sequence; `CORE_BENCH_MACS=random` draws
//! them scrambled instead, and `CORE_BENCH_SEED=<n>` (decimal, or hex after
//! `0x`) gives the FDB another hash seed: what a figure owes to where keys
//! land in the index shows there.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;
use vswitch_core::{
    EvictionPolicy, FdbConfig, FrameBatch, Instant, PortConfig, PortId, Switch, SwitchConfig,
    Verdict,
};
use vswitch_linux::sys::thread_cpu_time;

/// As the `vswitch` binary does: large tables on transparent huge pages.
#[global_allocator]
static ALLOC: vswitch_linux::hugepage::HugePageAlloc = vswitch_linux::hugepage::HugePageAlloc;

const BATCH: usize = 32;
const PORTS: u16 = 4;

/// Host `i`'s MAC: `02:00:` then `i`, MACs handed out in sequence as a vendor
/// or a VM pool does; or, with `CORE_BENCH_MACS=random`, `02:` then 40 bits
/// scrambled out of `i` by a bijection (no two hosts alike), as a MAC flood
/// sends them.
fn mac(i: u32) -> [u8; 6] {
    static RANDOM: OnceLock<bool> = OnceLock::new();
    let random = *RANDOM.get_or_init(|| match std::env::var("CORE_BENCH_MACS").as_deref() {
        Err(_) | Ok("sequential") => false,
        Ok("random") => true,
        Ok(other) => panic!("CORE_BENCH_MACS={other}: sequential (the default) or random"),
    });
    let x = if random {
        scramble40(u64::from(i))
    } else {
        u64::from(i)
    };
    let b = x.to_be_bytes();
    [0x02, b[3], b[4], b[5], b[6], b[7]]
}

/// A bijection of the 40-bit numbers: each step (a right xorshift, a multiply
/// by an odd number modulo 2^40) is one.
fn scramble40(mut x: u64) -> u64 {
    const MASK: u64 = (1 << 40) - 1;
    for (shift, odd) in [
        (20, 0x009e_3779_b97f),
        (17, 0x00bf_5847_6d1d),
        (21, 0x0094_d049_bb13),
    ] {
        x ^= x >> shift;
        x = x.wrapping_mul(odd) & MASK;
    }
    x ^ (x >> 19)
}

/// The FDB's hash seed: the default, or `CORE_BENCH_SEED=<n>` (decimal, or hex
/// after `0x`).
fn hash_seed() -> u64 {
    std::env::var("CORE_BENCH_SEED").map_or(FdbConfig::default().hash_seed, |s| {
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        }
        .expect("CORE_BENCH_SEED: a number, decimal or 0x hex")
    })
}

fn frame(dst: [u8; 6], src: [u8; 6]) -> [u8; 64] {
    let mut f = [0u8; 64];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f
}

/// Host `i` lives on port `i % PORTS`.
fn port_of(i: u32) -> u16 {
    (i % u32::from(PORTS)) as u16
}

fn switch(capacity: u32) -> Switch {
    let mut sw = Switch::new(SwitchConfig {
        fdb: FdbConfig {
            capacity,
            policy: EvictionPolicy::FairLru,
            // `CORE_BENCH_ENTRY_STATS=1`: with the per-entry counters.
            entry_stats: std::env::var_os("CORE_BENCH_ENTRY_STATS").is_some(),
            // `CORE_BENCH_SEED=<n>`: another hash seed than the default one, to
            // see how much a figure owes to where a few keys happen to land.
            hash_seed: hash_seed(),
            ..FdbConfig::default()
        },
        ..SwitchConfig::default()
    })
    .unwrap();
    for _ in 0..PORTS {
        sw.add_port(PortConfig::default()).unwrap();
    }
    sw
}

/// A switch that has learned `hosts` MACs (host `i` on port `i % PORTS`), and a
/// stream of known-unicast (ingress, src, dst) triples drawn at random over all
/// hosts: batch k comes in on port k % PORTS, from hosts on that port to hosts on
/// other ports.
fn known_unicast_setup(hosts: u32) -> (Switch, Vec<(u32, u32)>) {
    let mut sw = switch(hosts.max(8192));
    for i in 0..hosts {
        sw.fdb_mut().learn(
            Instant::ZERO,
            0,
            vswitch_core::MacAddr(mac(i)),
            PortId(port_of(i)),
        );
    }
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Enough pairs that, at 1,000,000 hosts, lookups range over the whole table.
    let batches = (hosts as usize / BATCH).clamp(256, 1 << 16);
    let mut pairs = Vec::with_capacity(batches * BATCH);
    for k in 0..batches {
        let ingress = (k % usize::from(PORTS)) as u16;
        let mut n = 0;
        while n < BATCH {
            let s = (next() % u64::from(hosts)) as u32;
            let d = (next() % u64::from(hosts)) as u32;
            if port_of(s) == ingress && port_of(d) != ingress {
                pairs.push((s, d));
                n += 1;
            }
        }
    }
    (sw, pairs)
}

/// Frames arrive in a receive buffer that was just written (hot in cache), so each
/// iteration writes the next batch's addresses into one reused batch of frames:
/// the same cost for every switch measured.
struct Stream {
    pairs: Vec<(u32, u32)>,
    k: usize,
    batch: FrameBatch,
}

impl Stream {
    fn new(pairs: Vec<(u32, u32)>) -> Stream {
        let mut batch = FrameBatch::with_capacity(BATCH);
        for _ in 0..BATCH {
            batch.push(&frame([2, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]));
        }
        Stream { pairs, k: 0, batch }
    }

    /// Fills the batch with the next addresses; returns its ingress port.
    fn next(&mut self) -> PortId {
        let batches = self.pairs.len() / BATCH;
        let k = self.k % batches;
        self.k += 1;
        let pairs = &self.pairs[k * BATCH..(k + 1) * BATCH];
        self.batch.clear();
        for &(s, d) in pairs {
            self.batch.push(&frame(mac(d), mac(s)));
        }
        PortId((k % usize::from(PORTS)) as u16)
    }
}

/// The straightforward learning switch, as one would first write it.
struct NaiveSwitch {
    table: HashMap<[u8; 6], usize>,
    ports: usize,
}

impl NaiveSwitch {
    fn forward(&mut self, ingress: usize, frame: &[u8], out: &mut Vec<usize>) {
        out.clear();
        if frame.len() < 14 {
            return;
        }
        let dst: [u8; 6] = frame[0..6].try_into().unwrap();
        let src: [u8; 6] = frame[6..12].try_into().unwrap();
        if src[0] & 1 == 0 {
            self.table.insert(src, ingress);
        }
        match self.table.get(&dst) {
            Some(&p) if dst[0] & 1 == 0 => {
                if p != ingress {
                    out.push(p)
                }
            }
            _ => out.extend((0..self.ports).filter(|&p| p != ingress)),
        }
    }
}

/// The least a learning switch can do for a batch of known unicast, as a
/// floor to measure the core against: each source seen again is stamped, each
/// destination looked up, and the frames handed out port by port with the
/// counts a port keeps. No aging, no LRU order, no eviction, no VLANs, no
/// decision kept per frame, nothing checked that this workload never needs: a
/// frame it cannot forward as known unicast (a source it does not know on that
/// port, an unknown or group destination) is only counted. Its index is the
/// core's for the same capacity: the same hash, number of slots and home
/// slot, `u32` slots with a fingerprint, linear probing; its entries are 16
/// bytes. It hides a big table's misses as the core does, from the same size
/// on: the index slots of the whole batch prefetched, then the entries they
/// point to, then the decisions.
struct FloorSwitch {
    slots: Vec<u32>,
    entries: Vec<FloorEntry>,
    /// The slot bits of an arena index (plus one); the rest is fingerprint.
    idx_mask: u32,
    seed: u64,
    ports: [FloorPort; PORTS as usize],
    queues: [[u8; BATCH]; PORTS as usize],
    not_forwarded: u64,
}

#[derive(Clone, Copy)]
struct FloorEntry {
    key: u64,
    seen: u32,
    port: u16,
}

#[derive(Clone, Copy, Default)]
struct FloorPort {
    rx_frames: u64,
    rx_bytes: u64,
    tx_frames: u64,
    tx_bytes: u64,
}

impl FloorSwitch {
    /// `hosts` hosts learned, host `i` on port `i % PORTS`, in a table of the
    /// capacity the bench gives the core for them.
    fn new(hosts: u32) -> FloorSwitch {
        // As the core's `slots_for`: a load of at most 2/3.
        let n = hosts.max(8192) as usize * 3 / 2 + 1;
        let mut f = FloorSwitch {
            slots: vec![0; n],
            entries: Vec::with_capacity(hosts as usize),
            idx_mask: ((n + 1).next_power_of_two() - 1) as u32,
            seed: hash_seed(),
            ports: [FloorPort::default(); PORTS as usize],
            queues: [[0; BATCH]; PORTS as usize],
            not_forwarded: 0,
        };
        for i in 0..hosts {
            let key = vswitch_core::MacAddr(mac(i)).to_u64() << 12;
            let h = f.hash(key);
            let mut at = f.home(h);
            while f.slots[at] != 0 {
                at = if at + 1 == n { 0 } else { at + 1 };
            }
            f.entries.push(FloorEntry {
                key,
                seen: 0,
                port: port_of(i),
            });
            f.slots[at] = (h as u32 & !f.idx_mask) | f.entries.len() as u32;
        }
        f
    }

    /// The core's hash, with the seed the bench gives the core.
    fn hash(&self, key: u64) -> u64 {
        let m = u128::from(key.rotate_right(12) ^ self.seed) * u128::from(0x9e37_79b9_7f4a_7c15u64);
        (m as u64) ^ ((m >> 64) as u64)
    }

    /// Where hash `h` starts its probe, as in the core.
    fn home(&self, h: u64) -> usize {
        (((h >> 32) * self.slots.len() as u64) >> 32) as usize
    }

    /// The arena place of `key`, whose hash is `h`.
    fn find(&self, key: u64, h: u64) -> Option<usize> {
        let tag = h as u32 & !self.idx_mask;
        let mut at = self.home(h);
        loop {
            let s = *self.slots.get(at)?;
            if s == 0 {
                return None;
            }
            if s & !self.idx_mask == tag {
                let idx = (s & self.idx_mask) as usize - 1;
                if self.entries.get(idx)?.key == key {
                    return Some(idx);
                }
            }
            at += 1;
            if at == self.slots.len() {
                at = 0;
            }
        }
    }

    /// Prefetches the entry of the first slot from hash `h`'s home whose
    /// fingerprint is `h`'s, as the core's `prefetch_entry` does.
    fn prefetch_entry(&self, h: u64) {
        let tag = h as u32 & !self.idx_mask;
        let mut at = self.home(h);
        while let Some(&s) = self.slots.get(at).filter(|&&s| s != 0) {
            if s & !self.idx_mask == tag {
                if let Some(e) = self.entries.get((s & self.idx_mask) as usize - 1) {
                    prefetch(e);
                }
                return;
            }
            at += 1;
            if at == self.slots.len() {
                at = 0;
            }
        }
    }

    fn forward(
        &mut self,
        now: u32,
        ingress: PortId,
        batch: &FrameBatch,
        mut tx: impl FnMut(PortId, &[u8]),
    ) {
        assert!(
            batch.len() <= BATCH,
            "the floor switch takes batches of {BATCH} at most"
        );
        // Each frame's destination and source as the index keys them, with
        // their hashes, each hashed once (no keys for a frame too short).
        let mut keys = [None; BATCH];
        let warm = self.entries.len() >= 1 << 16;
        for (f, k) in batch.iter().zip(&mut keys) {
            if let Some(a) = f.get(..12) {
                let dst = u64::from_be_bytes([0, 0, a[0], a[1], a[2], a[3], a[4], a[5]]) << 12;
                let src = u64::from_be_bytes([0, 0, a[6], a[7], a[8], a[9], a[10], a[11]]) << 12;
                let (hd, hs) = (self.hash(dst), self.hash(src));
                if warm {
                    prefetch(&self.slots[self.home(hd)]);
                    prefetch(&self.slots[self.home(hs)]);
                }
                *k = Some((dst, hd, src, hs));
            }
        }
        if warm {
            for &(_, hd, _, hs) in keys[..batch.len()].iter().flatten() {
                self.prefetch_entry(hd);
                self.prefetch_entry(hs);
            }
        }
        let mut queued = [0usize; PORTS as usize];
        let (mut frames, mut bytes) = (0, 0);
        for (i, (f, k)) in batch.iter().zip(&keys).enumerate() {
            frames += 1;
            bytes += f.len() as u64;
            let Some((dst, hd, src, hs)) = *k else {
                self.not_forwarded += 1;
                continue;
            };
            let out = match self.find(dst, hd) {
                Some(d) if dst >> 52 & 1 == 0 => self.entries[d].port,
                _ => {
                    self.not_forwarded += 1;
                    continue;
                }
            };
            match self.find(src, hs) {
                Some(s) if self.entries[s].port == ingress.0 && out != ingress.0 => {
                    self.entries[s].seen = now;
                }
                _ => {
                    self.not_forwarded += 1;
                    continue;
                }
            }
            let o = usize::from(out) % PORTS as usize;
            self.queues[o][queued[o]] = i as u8;
            queued[o] += 1;
        }
        let p = &mut self.ports[usize::from(ingress.0) % PORTS as usize];
        p.rx_frames += frames;
        p.rx_bytes += bytes;
        for (o, (queue, &n)) in self.queues.iter().zip(&queued).enumerate() {
            let mut sent = 0;
            for &i in &queue[..n] {
                let f = batch.get(usize::from(i));
                tx(PortId(o as u16), f);
                sent += f.len() as u64;
            }
            self.ports[o].tx_frames += n as u64;
            self.ports[o].tx_bytes += sent;
        }
    }
}

/// Asks the CPU to start loading `r`'s cache line without waiting for it, as
/// the core's `prefetch` does.
#[inline(always)]
fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and has no effect the
    // program can observe; this one is of a live reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

fn naive_from(sw_hosts: u32) -> NaiveSwitch {
    let mut n = NaiveSwitch {
        table: HashMap::new(),
        ports: usize::from(PORTS),
    };
    for i in 0..sw_hosts {
        n.table.insert(mac(i), usize::from(port_of(i)));
    }
    n
}

fn bench_known_unicast(c: &mut Criterion) {
    let mut g = c.benchmark_group("known_unicast");
    g.throughput(Throughput::Elements(BATCH as u64));
    for &hosts in &[4096u32, 1_000_000] {
        let (mut sw, pairs) = known_unicast_setup(hosts);
        if hosts == 1_000_000 {
            let fdb = sw.fdb();
            eprintln!(
                "fdb with {} entries: {} bytes, {:.1} bytes per entry",
                fdb.len(),
                fdb.memory_bytes(),
                fdb.memory_bytes() as f64 / fdb.len() as f64
            );
        }
        let mut stream = Stream::new(pairs);
        // The clock as a real switch reads it: at the ~30 million frames per
        // second measured here a millisecond spans about 1,000 batches of 32.
        let mut batches = 0u64;
        let mut clock = move || {
            batches += 1;
            Instant::from_millis(1 + batches / 1000)
        };
        // The core's batch API: decide the batch, deliver per destination.
        g.bench_function(BenchmarkId::new("vswitch_forward", hosts), |b| {
            b.iter(|| {
                let ingress = stream.next();
                sw.forward(clock(), ingress, &stream.batch, |e| {
                    black_box((e.port, e.frame.len()));
                    Ok(())
                });
            })
        });
        // Decisions only.
        g.bench_function(BenchmarkId::new("vswitch_decide", hosts), |b| {
            b.iter(|| {
                let ingress = stream.next();
                let now = clock();
                for f in stream.batch.iter() {
                    let d = sw.decide(now, ingress, f);
                    debug_assert!(matches!(d.verdict, Verdict::Unicast(_)));
                    black_box(d);
                }
            })
        });
        // The worst case for the LRU lists: a new millisecond for every batch, so
        // that every frame's refresh moves its entry to its port's newest end.
        let mut now = 1_000_000u64;
        g.bench_function(
            BenchmarkId::new("vswitch_forward_new_ms_every_batch", hosts),
            |b| {
                b.iter(|| {
                    let ingress = stream.next();
                    now += 1;
                    sw.forward(Instant::from_millis(now), ingress, &stream.batch, |e| {
                        black_box((e.port, e.frame.len()));
                        Ok(())
                    });
                })
            },
        );
        let mut naive = naive_from(hosts);
        let mut out = Vec::with_capacity(8);
        g.bench_function(BenchmarkId::new("naive_hashmap", hosts), |b| {
            b.iter(|| {
                let ingress = stream.next();
                for f in stream.batch.iter() {
                    naive.forward(usize::from(ingress.0), f, &mut out);
                    black_box(&out);
                }
            })
        });
        // The least a learning switch can do for this traffic (see
        // `FloorSwitch`): what no amount of tuning the core can go below.
        let mut floor = FloorSwitch::new(hosts);
        let mut floor_clock = 0u32;
        g.bench_function(BenchmarkId::new("floor", hosts), |b| {
            b.iter(|| {
                let ingress = stream.next();
                floor_clock = floor_clock.wrapping_add(1);
                floor.forward(floor_clock / 1000, ingress, &stream.batch, |port, f| {
                    black_box((port, f.len()));
                });
            })
        });
        assert_eq!(floor.not_forwarded, 0, "the floor switch dropped frames");
        drop(floor);
        if hosts == 4096 {
            // The same traffic on a switch with 1,020 more (idle) ports: known
            // unicast must not get slower as ports are added.
            let (mut big, _) = known_unicast_setup(hosts);
            for _ in PORTS..1024 {
                big.add_port(PortConfig::default()).unwrap();
            }
            g.bench_function(BenchmarkId::new("vswitch_decide_1024_ports", hosts), |b| {
                b.iter(|| {
                    let ingress = stream.next();
                    let now = clock();
                    for f in stream.batch.iter() {
                        black_box(big.decide(now, ingress, f));
                    }
                })
            });
        }
        // The cost of writing the batch alone, to subtract from the figures above.
        g.bench_function(BenchmarkId::new("batch_fill_only", hosts), |b| {
            b.iter(|| black_box(stream.next()))
        });
    }
    g.finish();
}

fn bench_flood(c: &mut Criterion) {
    let mut g = c.benchmark_group("flood");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut sw = switch(8192);
    let mut batch = FrameBatch::with_capacity(BATCH);
    for i in 0..BATCH as u32 {
        batch.push(&frame([0xff; 6], mac(i * 4)));
    }
    let mut now = 0;
    g.bench_function("vswitch_broadcast_4_ports", |b| {
        b.iter(|| {
            now += 1;
            sw.forward(Instant::from_millis(now), PortId(0), &batch, |e| {
                black_box((e.port, e.frame.len()));
                Ok(())
            });
        })
    });
    g.finish();
}

fn bench_churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("learning_churn");
    g.throughput(Throughput::Elements(BATCH as u64));
    // Full table (8192), every frame a new source: each one evicts.
    let mut sw = switch(8192);
    let mut i = 0u32;
    let mut now = 0;
    let mut batch = FrameBatch::with_capacity(BATCH);
    g.bench_function("vswitch_new_source_every_frame", |b| {
        b.iter(|| {
            batch.clear();
            for _ in 0..BATCH {
                batch.push(&frame(mac(0xfff_ffff), mac(i)));
                i = i.wrapping_add(1);
            }
            now += 1;
            sw.forward(
                Instant::from_millis(now),
                PortId((i % 4) as u16),
                &batch,
                |e| {
                    black_box((e.port, e.frame.len()));
                    Ok(())
                },
            );
        })
    });
    let mut naive = naive_from(0);
    let mut out = Vec::new();
    g.bench_function("naive_hashmap_new_source_every_frame", |b| {
        b.iter(|| {
            batch.clear();
            for _ in 0..BATCH {
                batch.push(&frame(mac(0xfff_ffff), mac(i)));
                i = i.wrapping_add(1);
            }
            for f in batch.iter() {
                naive.forward((i % 4) as usize, f, &mut out);
                black_box(&out);
            }
            // The naive switch has no bound; keep it at the same size as ours.
            if naive.table.len() > 8192 {
                naive.table.clear();
            }
        })
    });
    assert!(sw.fdb().len() <= 8192);
    g.finish();
}

/// One `Switch::forward` call of the measured part of [`fixed_loop`]: the
/// function callgrind is told to count (`--toggle-collect`).
#[inline(never)]
fn measured_batch(sw: &mut Switch, now: Instant, ingress: PortId, batch: &FrameBatch) {
    sw.forward(now, ingress, batch, |e| {
        black_box((e.port, e.frame.len()));
        Ok(())
    });
}

/// One batch of the naive or the floor switch in the measured part of
/// [`fixed_loop`]: as [`measured_batch`], what callgrind counts.
#[inline(never)]
fn measured_batch_of(batch: impl FnOnce()) {
    batch()
}

/// One fixed workload without criterion: a warm-up, then `CORE_BENCH_ROUNDS`
/// (default 1) rounds of `CORE_BENCH_BATCHES` (default 2,000) batches through
/// [`measured_batch`] (the naive or floor switch's through
/// [`measured_batch_of`]). Under callgrind it gives instruction counts; run
/// alone it prints the fastest and the median round in ns per frame, timing
/// the switch only (not the batch fill). The fastest round of many is what a
/// busy machine disturbs least.
fn fixed_loop(what: &str) {
    const WARM_UP: u64 = 200;
    if let Some(hosts) = what.strip_prefix("flush:") {
        return flush_loop(hosts.parse().expect("flush:<hosts>"));
    }
    if let Some(hosts) = what.strip_prefix("explain:") {
        return explain_loop(hosts.parse().expect("explain:<hosts>"));
    }
    let batches = |var, default| std::env::var(var).map_or(default, |r| r.parse().unwrap());
    let measured: u64 = batches("CORE_BENCH_BATCHES", 2000);
    let rounds = batches("CORE_BENCH_ROUNDS", 1) as usize;
    let (kind, hosts) = what.split_once(':').unwrap_or((what, "8192"));
    let hosts: u32 = hosts.parse().expect("<workload>:<hosts>");
    let (mut sw, pairs) = known_unicast_setup(hosts);
    let mut naive = naive_from(if kind == "naive" { hosts } else { 0 });
    let mut floor = FloorSwitch::new(if kind == "floor" { hosts } else { 0 });
    let mut out = Vec::with_capacity(8);
    let mut stream = Stream::new(pairs);
    let mut i = 0u32;
    let mut k = 0u64;
    if kind == "churn" {
        sw = switch(8192);
        // Fill the table: every later frame evicts.
        while sw.fdb().len() < 8192 {
            let f = frame(mac(0xfff_ffff), mac(i));
            sw.decide(Instant::ZERO, PortId((i % 4) as u16), &f);
            i += 1;
        }
    }
    let mut batch = |k: u64| -> Duration {
        // As in the criterion benches: churn has a new millisecond every batch.
        let now = Instant::from_millis(if kind == "churn" { k } else { 1 + k / 1000 });
        let ingress = match kind {
            "churn" => {
                stream.batch.clear();
                for _ in 0..BATCH {
                    stream.batch.push(&frame(mac(0xfff_ffff), mac(i)));
                    i = i.wrapping_add(1);
                }
                PortId((i % 4) as u16)
            }
            _ => stream.next(),
        };
        let start = std::time::Instant::now();
        match kind {
            "known_unicast" | "churn" if k < WARM_UP => {
                sw.forward(now, ingress, &stream.batch, |e| {
                    black_box((e.port, e.frame.len()));
                    Ok(())
                });
            }
            "known_unicast" | "churn" => measured_batch(&mut sw, now, ingress, &stream.batch),
            "naive" | "floor" => {
                let mut run = || {
                    if kind == "naive" {
                        for f in stream.batch.iter() {
                            naive.forward(usize::from(ingress.0), f, &mut out);
                            black_box(&out);
                        }
                    } else {
                        let now = now.millis() as u32;
                        floor.forward(now, ingress, &stream.batch, |port, f| {
                            black_box((port, f.len()));
                        });
                    }
                };
                if k < WARM_UP {
                    run();
                } else {
                    measured_batch_of(run);
                }
            }
            _ => panic!(
                "CORE_BENCH_LOOP: known_unicast:<hosts>, naive:<hosts>, floor:<hosts> or churn"
            ),
        }
        start.elapsed()
    };
    for _ in 0..WARM_UP {
        batch(k);
        k += 1;
    }
    let mut per_frame: Vec<f64> = (0..rounds)
        .map(|_| {
            let mut t = Duration::ZERO;
            for _ in 0..measured {
                t += batch(k);
                k += 1;
            }
            t.as_nanos() as f64 / (measured as f64 * BATCH as f64)
        })
        .collect();
    per_frame.sort_by(f64::total_cmp);
    // The floor did all the work it stands for: every frame known unicast.
    assert_eq!(floor.not_forwarded, 0, "the floor switch dropped frames");
    println!(
        "{what}: fastest round {:.1} ns/frame, median {:.1} ns/frame ({rounds} rounds of {measured} batches)",
        per_frame[0],
        per_frame[rounds / 2]
    );
}

/// A switch of `hosts` entries learned over `hosts / 1000` ms (as frames
/// would teach them, not all in one millisecond), host `i` on port `i % PORTS`.
fn learned_over_time(hosts: u32) -> (Switch, Instant) {
    let mut sw = switch(hosts.max(8192));
    for i in 0..hosts {
        let t = Instant::from_millis(u64::from(i / 1000));
        sw.fdb_mut()
            .learn(t, 0, vswitch_core::MacAddr(mac(i)), PortId(port_of(i)));
    }
    (sw, Instant::from_millis(u64::from(hosts / 1000) + 1))
}

/// `CORE_BENCH_LOOP=flush:<hosts>`: `Switch::flush(None)` of a table of
/// `hosts` entries (3 rounds, each on a new table), then what is left to do
/// as the Linux switch does it: slices of at most 4096 entries or 200 µs
/// (steps of 128); prints the flush call, the longest slice (clock and
/// CPU) and the slices' total.
fn flush_loop(hosts: u32) {
    for round in 0..3 {
        let (mut sw, now) = learned_over_time(hosts);
        sw.advance(now);
        let start = std::time::Instant::now();
        let n = sw.flush(None);
        let flush = start.elapsed();
        let (mut slices, mut longest, mut longest_cpu, mut total) =
            (0, Duration::ZERO, Duration::ZERO, Duration::ZERO);
        while sw.fdb().reclaim_pending() > 0 {
            let (start, cpu) = (std::time::Instant::now(), thread_cpu_time());
            let mut done = 0;
            while done < 4096 && (done == 0 || start.elapsed() < Duration::from_micros(200)) {
                match sw.fdb_mut().reclaim(128) {
                    0 => break,
                    n => done += n,
                }
            }
            let d = start.elapsed();
            longest_cpu = longest_cpu.max(thread_cpu_time() - cpu);
            longest = longest.max(d);
            total += d;
            slices += 1;
        }
        println!(
            "flush:{hosts} round {round}: {n} entries flushed in {flush:?}; reclaimed in {slices} slices, longest {longest:?} ({longest_cpu:?} of CPU), total {total:?}"
        );
    }
}

/// `CORE_BENCH_LOOP=explain:<hosts>`: `Switch::explain` of a known unicast
/// frame (a learned source on its port) on a table of `hosts` entries, 20
/// calls; prints the fastest and the median.
fn explain_loop(hosts: u32) {
    let (sw, now) = learned_over_time(hosts);
    let f = frame(mac(1), mac(0));
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let start = std::time::Instant::now();
            black_box(sw.explain(now, PortId(port_of(0)), None, &f));
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "explain:{hosts}: fastest {:?}, median {:?} (20 calls)",
        times[0], times[10]
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = bench_known_unicast, bench_flood, bench_churn
}

fn main() {
    if let Ok(what) = std::env::var("CORE_BENCH_LOOP") {
        fixed_loop(&what);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
