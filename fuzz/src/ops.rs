//! The input of the `switch_ops` target: a switch configuration and a sequence of
//! operations on it (frames, batches, time steps, port and table changes).
//!
//! The scenario's parts (frame specs, ports, operations) are the
//! `vswitch-testkit` crate's, shared with the core's property tests
//! (`core/tests/model.rs`), and so are the value pools and weights: few hosts so
//! that lookups hit, VLANs that the port modes name, a port range with numbers
//! that never exist. libFuzzer mutates the bytes; this module gives them
//! meaning. The decoder leaves out what the property tests add on top (storm
//! control, MAC limits, the move guard and direct `Fdb::learn` calls).
//!
//! The byte format is this crate's own, read one byte at a time through
//! [`arbitrary::Unstructured`], so that [`Scenario::encode`] can write seeds that
//! decode to exactly the scenario written: any byte sequence decodes to some
//! scenario (missing bytes read as zero), and zero bytes mean defaults (a
//! VLAN-unaware switch with 8 entries and 300 s aging; ports up, learning and
//! flooding, access VLAN 1).

use arbitrary::{Arbitrary, Unstructured};
use vswitch_core::PortFlags;
pub use vswitch_testkit::frame::{host, Addr, FrameSpec, Tags, HOSTS, TAG_VIDS};
pub use vswitch_testkit::op::{Cfg, Mode, Op, PortSpec, TimeStep, TxFault, PORT_RANGE, TRUNK_VIDS};

/// Most operations one input runs, so that no input runs for long.
pub const MAX_OPS: usize = 512;
/// Aging times in ms; index 0 (a zero byte) is the default 300 s.
pub const AGINGS: [u64; 8] = [300_000, 0, 1, 2, 3, 10, 100, 1 << 31];
/// VLAN ids of static entries, lookups and VLAN flushes.
pub const FDB_VIDS: [u16; 5] = [0, 1, 10, 20, 4095];
/// VLANs of access ports.
pub const ACCESS_VIDS: [u16; 4] = [1, 10, 20, 4095];
/// Native VLANs of trunks.
pub const NATIVE_VIDS: [Option<u16>; 3] = [None, Some(1), Some(10)];
/// Multiplier of the start-time byte (start times up to about 1,000,000 ms).
pub const START_STEP: u64 = 3907;
/// A start time just before the 32-bit millisecond clock wraps.
pub const START_NEAR_WRAP: u64 = (1 << 32) - 5;
/// The smallest of the large forward steps that take a 32-bit count.
pub const BIG_STEP_BASE: u64 = 300_000;

/// A whole fuzz input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The switch.
    pub cfg: Cfg,
    /// What happens to it.
    pub ops: Vec<Op>,
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Bytes in, one at a time; zeros once the input is used up.
struct Reader<'a, 'b>(&'b mut Unstructured<'a>);

impl Reader<'_, '_> {
    fn byte(&mut self) -> u8 {
        u8::arbitrary(self.0).unwrap_or(0)
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn port(&mut self) -> u16 {
        u16::from(self.byte() % PORT_RANGE)
    }
    fn fdb_vid(&mut self) -> u16 {
        FDB_VIDS[usize::from(self.byte()) % FDB_VIDS.len()]
    }
    fn host(&mut self) -> u8 {
        self.byte() % HOSTS
    }

    fn addr(&mut self) -> Addr {
        match self.byte() {
            a @ 0..=127 => Addr::Host(a % HOSTS),
            128..=159 => Addr::Broadcast,
            a @ 160..=183 => Addr::Multicast(a % 3),
            a @ 184..=247 => Addr::LinkLocal((a - 184) % 17),
            248..=251 => Addr::Zero,
            _ => {
                let mut b = [0; 6];
                for x in b.iter_mut() {
                    *x = self.byte();
                }
                Addr::Raw(b)
            }
        }
    }

    /// A tag's VLAN: one of [`TAG_VIDS`], or 12 bits of the next two bytes.
    fn tag_vid(&mut self, code: u8) -> u16 {
        match usize::from(code % 8) {
            i if i < TAG_VIDS.len() => TAG_VIDS[i],
            _ => self.u16() & 0x0fff,
        }
    }

    fn tags(&mut self) -> Tags {
        match self.byte() % 18 {
            0..=5 => Tags::None,
            6..=11 => {
                let b = self.byte();
                Tags::Dot1q {
                    pcp: b & 7,
                    dei: b & 8 != 0,
                    vid: self.tag_vid(b >> 4),
                }
            }
            12..=13 => {
                let b = self.byte();
                let outer = self.tag_vid(b & 7);
                let inner = if b & 8 != 0 {
                    Some(self.tag_vid(b >> 4))
                } else {
                    None
                };
                Tags::Dot1ad { outer, inner }
            }
            14 => {
                let b = self.byte();
                Tags::Old9100(self.tag_vid(b))
            }
            15..=16 => {
                let b = self.byte();
                Tags::Truncated {
                    tpid: [0x8100, 0x88a8, 0x9100][usize::from(b % 3)],
                    keep: (b / 3) % 4,
                }
            }
            _ => {
                let n = self.byte() % 24;
                Tags::Raw((0..n).map(|_| self.byte()).collect())
            }
        }
    }

    fn frame(&mut self) -> FrameSpec {
        let dst = self.addr();
        let src = self.addr();
        let tags = self.tags();
        let payload = self.byte() % 64;
        let cut = match self.byte() {
            c @ 0xf0.. => Some(c - 0xf0),
            _ => None,
        };
        FrameSpec {
            dst,
            src,
            tags,
            payload,
            cut,
        }
    }

    fn flags(&mut self) -> (PortFlags, bool) {
        let f = self.byte();
        let flags = PortFlags {
            learning: f & 1 == 0,
            flood_unknown: f & 2 == 0,
            flood_multicast: f & 4 == 0,
            flood_broadcast: f & 8 == 0,
            hairpin: f & 16 != 0,
        };
        (flags, f & 32 == 0)
    }

    fn mode(&mut self) -> Mode {
        let m = self.byte();
        if m & 1 == 0 {
            return Mode::Access(ACCESS_VIDS[usize::from(m >> 1) % ACCESS_VIDS.len()]);
        }
        let bits = (m >> 1) & 0x0f;
        Mode::Trunk {
            allowed: (0..4)
                .filter(|i| bits & (1 << i) != 0)
                .map(|i| TRUNK_VIDS[i])
                .collect(),
            native: NATIVE_VIDS[usize::from(m >> 5) % NATIVE_VIDS.len()],
        }
    }

    fn port_spec(&mut self) -> PortSpec {
        let (flags, up) = self.flags();
        PortSpec {
            flags,
            mode: self.mode(),
            up,
            ..PortSpec::default()
        }
    }

    fn time(&mut self) -> TimeStep {
        match self.byte() % 21 {
            0..=9 => TimeStep::Forward(u64::from(self.byte() % 4)),
            10..=13 => TimeStep::Forward(u64::from(self.u16() % 400)),
            14..=16 => TimeStep::Aging((self.byte() % 3) as i8 - 1),
            17 => TimeStep::Forward(match self.byte() % 4 {
                0 => 1 << 31,
                1 => 1 << 32,
                2 => (1 << 32) + 1,
                _ => BIG_STEP_BASE + u64::from(self.u32()) * 4,
            }),
            18..=19 => TimeStep::Back(u64::from(self.u16() % 1000)),
            _ => TimeStep::End(u64::from(self.byte() % 3)),
        }
    }

    fn fault(&mut self) -> TxFault {
        if self.byte() % 4 != 3 {
            return TxFault::NONE;
        }
        TxFault {
            mtu: 40 + usize::from(self.byte() % 40),
            full: self.u16(),
        }
    }

    fn op(&mut self) -> Op {
        match self.byte() % 73 {
            0..=39 => Op::Frame(self.port(), self.frame()),
            40..=43 => {
                let port = self.port();
                let n = self.byte() % 6;
                let frames = (0..n).map(|_| self.frame()).collect();
                Op::Batch(port, frames, self.fault())
            }
            44..=55 => Op::Time(self.time()),
            56 => Op::Sweep,
            57..=58 => Op::Lookup(self.fdb_vid(), self.host()),
            59..=61 => Op::SetUp(self.port(), self.byte() % 5 < 3),
            62 => Op::AddPort(self.port_spec()),
            63 => Op::RemovePort(self.port()),
            64..=65 => Op::SetFlags(self.port(), self.flags().0),
            66 => Op::SetVlan(self.port(), self.mode()),
            67..=68 => Op::AddStatic(self.fdb_vid(), self.host(), self.port()),
            69 => Op::Remove(self.fdb_vid(), self.host()),
            70 => Op::FlushPort(self.port(), self.byte() & 1 == 1),
            71 => Op::FlushVlan(self.fdb_vid()),
            _ => match self.byte() {
                b if b & 0x80 != 0 => Op::Reclaim(b & 0x7f),
                b => Op::FlushAll(b & 1 == 1),
            },
        }
    }

    fn cfg(&mut self) -> Cfg {
        let c = self.byte();
        let aging = AGINGS[usize::from(self.byte()) % AGINGS.len()];
        let capacity = match self.byte() {
            0xf0.. => 8192,
            c => 8 - u32::from(c % 9),
        };
        let mask = self.u16() & !0b111;
        let seed = u64::from(self.byte()).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let start = match self.byte() {
            0 => 0,
            1 => START_NEAR_WRAP,
            s => u64::from(s) * START_STEP,
        };
        let n = 1 + self.byte() % 5;
        Cfg {
            hub: c & 0x0f == 0x0f,
            vlan_aware: c & 0x10 != 0,
            stop_learning: c & 0x20 != 0,
            entry_stats: c & 0x40 != 0,
            aging,
            capacity,
            mask,
            seed,
            start,
            ports: (0..n).map(|_| self.port_spec()).collect(),
            guard: None,
        }
    }
}

impl<'a> Arbitrary<'a> for Scenario {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut r = Reader(u);
        let cfg = r.cfg();
        let mut ops = Vec::new();
        while !r.0.is_empty() && ops.len() < MAX_OPS {
            ops.push(r.op());
        }
        Ok(Scenario { cfg, ops })
    }
}

impl Scenario {
    /// Decodes a fuzz input.
    pub fn decode(bytes: &[u8]) -> Scenario {
        Scenario::arbitrary_take_rest(Unstructured::new(bytes)).expect("decoding never fails")
    }

    /// The bytes that decode to this scenario. Panics on values the decoder
    /// cannot produce (a port number outside [`PORT_RANGE`], say).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.cfg(&self.cfg);
        assert!(self.ops.len() <= MAX_OPS, "too many operations");
        for op in &self.ops {
            w.op(op);
        }
        w.0
    }
}

// ---------------------------------------------------------------------------
// Encoding, for seeds
// ---------------------------------------------------------------------------

struct Writer(Vec<u8>);

fn index_of<T: PartialEq + std::fmt::Debug>(pool: &[T], v: &T) -> u8 {
    match pool.iter().position(|x| x == v) {
        Some(i) => i as u8,
        None => panic!("{v:?} is not one of {pool:?}"),
    }
}

impl Writer {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn port(&mut self, p: u16) {
        assert!(p < u16::from(PORT_RANGE), "port {p} out of range");
        self.byte(p as u8);
    }
    fn fdb_vid(&mut self, v: u16) {
        self.byte(index_of(&FDB_VIDS, &v));
    }
    fn host(&mut self, h: u8) {
        assert!(h < HOSTS);
        self.byte(h);
    }

    fn addr(&mut self, a: Addr) {
        match a {
            Addr::Host(i) => self.host(i),
            Addr::Broadcast => self.byte(128),
            Addr::Multicast(i) => self.byte(162 + i % 3),
            Addr::LinkLocal(x) => {
                assert!(x <= 0x10);
                self.byte(184 + x)
            }
            Addr::Zero => self.byte(248),
            Addr::Raw(b) => {
                self.byte(252);
                self.0.extend_from_slice(&b);
            }
        }
    }

    /// The code of a tag VLAN (0..8) and the raw value to write after the tag
    /// byte, if any.
    fn vid_code(v: u16) -> (u8, Option<u16>) {
        match TAG_VIDS.iter().position(|x| *x == v) {
            Some(i) => (i as u8, None),
            None => (7, Some(v & 0x0fff)),
        }
    }

    fn tags(&mut self, t: &Tags) {
        match t {
            Tags::None => self.byte(0),
            Tags::Dot1q { pcp, dei, vid } => {
                let (code, raw) = Self::vid_code(*vid);
                self.byte(6);
                self.byte((pcp & 7) | if *dei { 8 } else { 0 } | code << 4);
                if let Some(raw) = raw {
                    self.u16(raw);
                }
            }
            Tags::Dot1ad { outer, inner } => {
                let (oc, oraw) = Self::vid_code(*outer);
                let (ic, iraw) = match inner {
                    Some(v) => {
                        let (c, r) = Self::vid_code(*v);
                        (8 | c << 4, r)
                    }
                    None => (0, None),
                };
                self.byte(12);
                self.byte(oc | ic);
                for raw in [oraw, iraw].into_iter().flatten() {
                    self.u16(raw);
                }
            }
            Tags::Old9100(vid) => {
                let (code, raw) = Self::vid_code(*vid);
                self.byte(14);
                self.byte(code);
                if let Some(raw) = raw {
                    self.u16(raw);
                }
            }
            Tags::Truncated { tpid, keep } => {
                self.byte(15);
                let t = index_of(&[0x8100u16, 0x88a8, 0x9100], tpid);
                assert!(*keep < 4);
                self.byte(t + 3 * keep);
            }
            Tags::Raw(bytes) => {
                assert!(bytes.len() < 24);
                self.byte(17);
                self.byte(bytes.len() as u8);
                self.0.extend_from_slice(bytes);
            }
        }
    }

    fn frame(&mut self, f: &FrameSpec) {
        self.addr(f.dst);
        self.addr(f.src);
        self.tags(&f.tags);
        assert!(f.payload < 64);
        self.byte(f.payload);
        match f.cut {
            Some(c) => {
                assert!(c < 16);
                self.byte(0xf0 + c)
            }
            None => self.byte(0),
        }
    }

    fn flags(&mut self, f: &PortFlags, up: bool) {
        let mut b = 0;
        b |= u8::from(!f.learning);
        b |= u8::from(!f.flood_unknown) << 1;
        b |= u8::from(!f.flood_multicast) << 2;
        b |= u8::from(!f.flood_broadcast) << 3;
        b |= u8::from(f.hairpin) << 4;
        b |= u8::from(!up) << 5;
        self.byte(b);
    }

    fn mode(&mut self, m: &Mode) {
        match m {
            Mode::Access(v) => self.byte(index_of(&ACCESS_VIDS, v) << 1),
            Mode::Trunk { allowed, native } => {
                let mut bits = 0;
                for v in allowed {
                    bits |= 1 << index_of(&TRUNK_VIDS, v);
                }
                self.byte(1 | bits << 1 | index_of(&NATIVE_VIDS, native) << 5);
            }
        }
    }

    fn port_spec(&mut self, p: &PortSpec) {
        assert!(
            p.storm == Default::default() && p.mac_limit.is_none(),
            "storm control and MAC limits cannot be encoded"
        );
        self.flags(&p.flags, p.up);
        self.mode(&p.mode);
    }

    fn time(&mut self, t: TimeStep) {
        match t {
            TimeStep::Forward(d) if d < 4 => {
                self.byte(0);
                self.byte(d as u8);
            }
            TimeStep::Forward(d) if d < 400 => {
                self.byte(10);
                self.u16(d as u16);
            }
            TimeStep::Forward(d) => {
                self.byte(17);
                match d {
                    0x8000_0000 => self.byte(0),
                    0x1_0000_0000 => self.byte(1),
                    0x1_0000_0001 => self.byte(2),
                    _ => {
                        let n = (d - BIG_STEP_BASE) / 4;
                        assert_eq!(BIG_STEP_BASE + n * 4, d, "unencodable step {d}");
                        self.byte(3);
                        self.u32(u32::try_from(n).expect("step too large"));
                    }
                }
            }
            TimeStep::Aging(d) => {
                self.byte(14);
                self.byte((d + 1) as u8);
            }
            TimeStep::Back(d) => {
                assert!(d < 1000);
                self.byte(18);
                self.u16(d as u16);
            }
            TimeStep::End(d) => {
                assert!(d < 3);
                self.byte(20);
                self.byte(d as u8);
            }
        }
    }

    fn fault(&mut self, f: &TxFault) {
        if *f == TxFault::NONE {
            self.byte(0);
            return;
        }
        assert!((40..80).contains(&f.mtu));
        self.byte(3);
        self.byte((f.mtu - 40) as u8);
        self.u16(f.full);
    }

    fn op(&mut self, op: &Op) {
        match op {
            // The decoder draws no remotes: a tunneled frame is written as a
            // plain one.
            Op::Frame(p, f) | Op::Tunneled(p, _, f) => {
                self.byte(0);
                self.port(*p);
                self.frame(f);
            }
            Op::Batch(p, frames, fault) => {
                assert!(frames.len() < 6);
                self.byte(40);
                self.port(*p);
                self.byte(frames.len() as u8);
                for f in frames {
                    self.frame(f);
                }
                self.fault(fault);
            }
            Op::Time(t) => {
                self.byte(44);
                self.time(*t);
            }
            Op::Sweep => self.byte(56),
            Op::Lookup(v, h) => {
                self.byte(57);
                self.fdb_vid(*v);
                self.host(*h);
            }
            Op::SetUp(p, up) => {
                self.byte(59);
                self.port(*p);
                self.byte(if *up { 0 } else { 4 });
            }
            Op::AddPort(spec) => {
                self.byte(62);
                self.port_spec(spec);
            }
            Op::RemovePort(p) => {
                self.byte(63);
                self.port(*p);
            }
            Op::SetFlags(p, f) => {
                self.byte(64);
                self.port(*p);
                self.flags(f, true);
            }
            Op::SetVlan(p, m) => {
                self.byte(66);
                self.port(*p);
                self.mode(m);
            }
            Op::AddStatic(v, h, p) => {
                self.byte(67);
                self.fdb_vid(*v);
                self.host(*h);
                self.port(*p);
            }
            Op::Learn(..) => panic!("{op:?} cannot be encoded"),
            Op::Remove(v, h) => {
                self.byte(69);
                self.fdb_vid(*v);
                self.host(*h);
            }
            Op::FlushPort(p, all) => {
                self.byte(70);
                self.port(*p);
                self.byte(u8::from(*all));
            }
            Op::FlushVlan(v) => {
                self.byte(71);
                self.fdb_vid(*v);
            }
            Op::FlushAll(all) => {
                self.byte(72);
                self.byte(u8::from(*all));
            }
            Op::Reclaim(n) => {
                self.byte(72);
                self.byte(0x80 | (n & 0x7f));
            }
        }
    }

    fn cfg(&mut self, c: &Cfg) {
        assert!(c.guard.is_none(), "the move guard cannot be encoded");
        let mut b = 0;
        if c.hub {
            b |= 0x0f;
        }
        b |= u8::from(c.vlan_aware) << 4;
        b |= u8::from(c.stop_learning) << 5;
        b |= u8::from(c.entry_stats) << 6;
        self.byte(b);
        self.byte(index_of(&AGINGS, &c.aging));
        match c.capacity {
            8192 => self.byte(0xf0),
            n @ 0..=8 => self.byte(8 - n as u8),
            n => panic!("capacity {n} cannot be encoded"),
        }
        assert_eq!(c.mask & 0b111, 0);
        self.u16(c.mask);
        // The seed byte: the seed must be a multiple of the decoder's constant.
        let seed_byte = (0..=255u8)
            .find(|b| u64::from(*b).wrapping_mul(0x9e37_79b9_7f4a_7c15) == c.seed)
            .expect("seed cannot be encoded");
        self.byte(seed_byte);
        match c.start {
            0 => self.byte(0),
            START_NEAR_WRAP => self.byte(1),
            s => {
                assert_eq!(s % START_STEP, 0);
                let k = s / START_STEP;
                assert!((2..=255).contains(&k), "start {s} cannot be encoded");
                self.byte(k as u8);
            }
        }
        assert!((1..=5).contains(&c.ports.len()));
        self.byte(c.ports.len() as u8 - 1);
        for p in &c.ports {
            self.port_spec(p);
        }
    }
}
