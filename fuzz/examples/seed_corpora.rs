//! Builds the seed corpora of the fuzz targets; run by `fuzz/seed-corpora.sh`.
//!
//! - `classify`: the distinct frames cut out of the Ethernet captures in
//!   `../shared/captures/tcpdump/` (read with the simulator's pcap reader);
//! - `pcap_replay`: the small capture files themselves, Ethernet or not, whole;
//! - `control_request`: valid requests of every command and malformed ones;
//! - `vxlan_decap`: the `classify` frames as VXLAN datagrams of VNI 42 from
//!   remote 1, and some with the I flag clear, another VNI, cut short;
//! - `switch_ops`: scenarios written by hand after the core's unit tests, and
//!   random ones drawn as the core's property tests draw them
//!   (`core/tests/model.rs`), with a fixed seed.
//!
//! Usage: `seed-corpora [CAPTURES_DIR [CORPUS_DIR]]`; the defaults are the
//! repository's `../shared/captures/tcpdump` and `fuzz/corpus`. Existing files
//! are kept: seeds are named by a hash of their bytes.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use vswitch_core::PortFlags;
use vswitch_fuzz::ops::*;
use vswitch_sim::pcap::{open_capture, CaptureError};

/// Frames cut from one capture at most, so that no single file dominates.
const FRAMES_PER_CAPTURE: usize = 24;
/// Bytes of a frame kept: headers and enough payload for the summary.
const FRAME_BYTES: usize = 512;
/// Capture files larger than this are not copied whole.
const WHOLE_CAPTURE_MAX: u64 = 16 * 1024;
/// Random scenarios drawn.
const RANDOM_SCENARIOS: usize = 300;

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let captures = args
        .next()
        .unwrap_or_else(|| manifest.join("../../shared/captures/tcpdump"));
    let corpus = args.next().unwrap_or_else(|| manifest.join("corpus"));

    let mut files: Vec<PathBuf> = match fs::read_dir(&captures) {
        Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            eprintln!(
                "seed-corpora: cannot read {}: {e}; no capture seeds",
                captures.display()
            );
            Vec::new()
        }
    };
    files.sort();

    let mut out = Corpus::new(&corpus, "classify");
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut ethernet = 0;
    for path in &files {
        match open_capture(path) {
            Ok(capture) => {
                ethernet += 1;
                let mut taken = 0;
                for frame in &capture.frames {
                    let data = &frame.data[..frame.data.len().min(FRAME_BYTES)];
                    if out.add(data) {
                        frames.push(data.to_vec());
                        taken += 1;
                        if taken == FRAMES_PER_CAPTURE {
                            break;
                        }
                    }
                }
            }
            Err(CaptureError::LinkType { .. }) => {}
            Err(e) => eprintln!("seed-corpora: skipping {}: {e}", path.display()),
        }
    }
    println!(
        "classify: {} frames from {ethernet} Ethernet captures",
        out.count
    );

    // IGMP and MLD messages as hosts and queriers send them.
    let mut out = Corpus::new(&corpus, "igmp");
    {
        use std::net::{Ipv4Addr, Ipv6Addr};
        use vswitch_core::igmp::{build, igmp_query, link_local_v6, mld_query};
        use vswitch_core::MacAddr;
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let (h, g) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 2, 3));
        let g6: Ipv6Addr = "ff15::1234".parse().expect("address");
        let h6 = link_local_v6(mac);
        out.add(&build::igmp_v2(mac, h, g, false));
        out.add(&build::igmp_v2(mac, h, g, true));
        for kind in 1..=6 {
            out.add(&build::igmp_v3(mac, h, g, kind, &[h]));
            out.add(&build::mld(mac, h6, g6, 143, kind));
        }
        out.add(&build::igmp_v3(mac, h, g, 3, &[]));
        out.add(&build::mld(mac, h6, g6, 131, 0));
        out.add(&build::mld(mac, h6, g6, 132, 0));
        out.add(&build::data_v4(mac, h, g, 20));
        let mut q = Vec::new();
        igmp_query(mac, h, None, 10_000, &mut q);
        out.add(&q);
        mld_query(mac, h6, Some(g6), 1_000, &mut q);
        out.add(&q);
    }
    println!("igmp: {} messages", out.count);

    // BPDUs of each kind, as the kernel bridge (STP) and RSTP bridges send them.
    let mut out = Corpus::new(&corpus, "bpdu");
    {
        use vswitch_core::stp::bpdu::{flags, Bpdu, BpduKind, BridgeId, Times};
        use vswitch_core::MacAddr;
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let times = Times {
            message_age: 1,
            max_age: 20,
            hello: 2,
            forward_delay: 15,
        };
        let mut frame = Vec::new();
        for (kind, flag_bits) in [
            (BpduKind::Config, 0),
            (BpduKind::Config, flags::TC | flags::TCA),
            (BpduKind::Rst, flags::PROPOSAL | flags::LEARNING),
            (
                BpduKind::Rst,
                flags::AGREEMENT | flags::FORWARDING | flags::TC,
            ),
            (BpduKind::Tcn, 0),
        ] {
            let bpdu = Bpdu {
                kind,
                flags: flag_bits,
                root: BridgeId::new(4096, mac),
                root_path_cost: 20_000,
                bridge: BridgeId::new(32768, MacAddr([2, 0, 0, 0, 0, 2])),
                port: 0x8001,
                times,
                ..Bpdu::tcn()
            };
            bpdu.emit(mac, &mut frame);
            out.add(&frame);
        }
    }
    println!("bpdu: {} frames", out.count);

    // The target's input: VNI (3 bytes), remote id, then the datagram.
    let mut out = Corpus::new(&corpus, "vxlan_decap");
    const VNI42: [u8; 12] = [0, 0, 42, 1, 0x08, 0, 0, 0, 0, 0, 42, 0];
    for (i, frame) in frames.iter().enumerate() {
        let mut seed = VNI42.to_vec();
        match i % 8 {
            5 => seed[4] = 0,  // I flag clear
            6 => seed[10] = 7, // another VNI
            _ => {}
        }
        seed.extend_from_slice(frame);
        if i % 8 == 7 {
            seed.truncate(VNI42.len() + 10); // cut short
        }
        out.add(&seed);
    }
    println!("vxlan_decap: {} datagrams", out.count);

    let mut out = Corpus::new(&corpus, "pcap_replay");
    for path in &files {
        let small = fs::metadata(path).is_ok_and(|m| m.len() <= WHOLE_CAPTURE_MAX);
        if small {
            if let Ok(bytes) = fs::read(path) {
                out.add(&bytes);
            }
        }
    }
    println!("pcap_replay: {} capture files", out.count);

    let mut out = Corpus::new(&corpus, "control_request");
    for line in control_requests() {
        out.add(&line);
    }
    println!("control_request: {} request lines", out.count);

    let mut out = Corpus::new(&corpus, "switch_ops");
    for s in hand_written() {
        out.add(&s.encode());
    }
    let mut rng = Rng(0x7673_7769_7463_6805);
    for _ in 0..RANDOM_SCENARIOS {
        let s = rng.scenario();
        let bytes = s.encode();
        assert_eq!(Scenario::decode(&bytes), s, "the encoding round-trips");
        out.add(&bytes);
    }
    println!("switch_ops: {} scenarios", out.count);
}

/// One target's corpus directory.
struct Corpus {
    dir: PathBuf,
    seen: HashSet<Vec<u8>>,
    count: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Corpus {
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Corpus {
            dir,
            seen: HashSet::new(),
            count: 0,
        }
    }

    /// Writes `bytes` as a seed unless an identical one was written; returns
    /// whether it was new.
    fn add(&mut self, bytes: &[u8]) -> bool {
        if !self.seen.insert(bytes.to_vec()) {
            return false;
        }
        let path = self.dir.join(format!("seed-{:016x}", fnv1a(bytes)));
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self.count += 1;
        true
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Request lines, valid and not: every command, wrong versions and types,
/// unknown commands and fields, cut-off and oversize lines, not JSON, not UTF-8.
fn control_requests() -> Vec<Vec<u8>> {
    let valid = [
        r#"{"cmd":"show"}"#,
        r#"{"cmd":"stats"}"#,
        r#"{"cmd":"fdb-show"}"#,
        r#"{"cmd":"add","port":"veth1-vsw"}"#,
        r#"{"cmd":"add","port":"netns:vsw-ns1/eth0"}"#,
        r#"{"cmd":"add","port":"pid:1234/eth0"}"#,
        r#"{"cmd":"add","port":"tap:tap0"}"#,
        r#"{"cmd":"del","port":"veth1-vsw"}"#,
        r#"{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"veth1-vsw","vlan":0}"#,
        r#"{"cmd":"fdb-add","mac":"02-00-00-00-00-01","port":"tap0","vlan":4094}"#,
        r#"{"cmd":"fdb-del","mac":"02:00:00:00:00:01","vlan":10}"#,
        r#"{"cmd":"fdb-flush","port":null}"#,
        r#"{"cmd":"fdb-flush","port":"veth1-vsw"}"#,
        r#"{"cmd":"fdb-flush"}"#,
        r#"{"cmd":"trace"}"#,
        r#"{"cmd":"trace","port":"veth2-vsw"}"#,
        r#"{"cmd":"capture","port":"veth2-vsw"}"#,
    ];
    let mut lines: Vec<Vec<u8>> = valid
        .iter()
        .map(|r| format!(r#"{{"version":1,"request":{r}}}"#).into_bytes())
        .collect();
    let malformed = [
        // Unknown command, missing command, command of the wrong type.
        r#"{"version":1,"request":{"cmd":"reboot"}}"#.to_string(),
        r#"{"version":1,"request":{}}"#.to_string(),
        r#"{"version":1,"request":{"cmd":7}}"#.to_string(),
        r#"{"version":1,"request":"show"}"#.to_string(),
        // Wrong types and ranges of fields.
        r#"{"version":1,"request":{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":"ten"}}"#.to_string(),
        r#"{"version":1,"request":{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":70000}}"#.to_string(),
        r#"{"version":1,"request":{"cmd":"fdb-add","mac":"02:00:00:00:00:01","port":"p","vlan":-1}}"#.to_string(),
        r#"{"version":1,"request":{"cmd":"fdb-del","mac":123,"vlan":0}}"#.to_string(),
        r#"{"version":1,"request":{"cmd":"add","port":["a","b"]}}"#.to_string(),
        r#"{"version":1,"request":{"cmd":"add"}}"#.to_string(),
        r#"{"version":1,"request":{"cmd":"add","port":"x","extra":true}}"#.to_string(),
        // Versions.
        r#"{"version":2,"request":{"cmd":"show"}}"#.to_string(),
        r#"{"version":"1","request":{"cmd":"show"}}"#.to_string(),
        r#"{"version":4294967296,"request":{"cmd":"show"}}"#.to_string(),
        r#"{"request":{"cmd":"show"}}"#.to_string(),
        // Cut off.
        r#"{"version":1,"request":{"cmd":"sh"#.to_string(),
        r#"{"version":1,"#.to_string(),
        "{".to_string(),
        String::new(),
        // Not JSON, or JSON of the wrong shape.
        "show".to_string(),
        "null".to_string(),
        "[1,2,3]".to_string(),
        format!("{}{}", "[".repeat(200), "]".repeat(200)),
        // Oversize.
        format!(
            r#"{{"version":1,"request":{{"cmd":"add","port":"{}"}}}}"#,
            "a".repeat(70_000)
        ),
        format!(
            r#"{{"version":1,"request":{{"cmd":"del","port":"\u00e9\ud83d\ude00{}"}}}}"#,
            "x".repeat(300)
        ),
    ];
    lines.extend(malformed.into_iter().map(String::into_bytes));
    lines.push(b"{\"version\":1,\"request\":{\"cmd\":\"add\",\"port\":\"\xff\xfe\"}}".to_vec());
    lines.push(b"\x00\x01\x02\n{\"version\":1}".to_vec());
    lines
}

// ---------------------------------------------------------------------------
// switch_ops scenarios
// ---------------------------------------------------------------------------

fn port(mode: Mode) -> PortSpec {
    PortSpec {
        mode,
        ..PortSpec::default()
    }
}

fn cfg(ports: usize) -> Cfg {
    Cfg {
        ports: (0..ports).map(|_| port(Mode::Access(1))).collect(),
        ..Cfg::default()
    }
}

fn f(dst: Addr, src: Addr) -> FrameSpec {
    FrameSpec::new(dst, src)
}

fn tagged(dst: Addr, src: Addr, vid: u16) -> FrameSpec {
    FrameSpec {
        tags: Tags::Dot1q {
            pcp: 3,
            dei: false,
            vid,
        },
        ..f(dst, src)
    }
}

use Addr::{Broadcast, Host};

/// Scenarios after the core's unit tests: learning and unicast, hairpin,
/// VLANs, aging, both eviction policies, link-local frames (filtered, and
/// learned from), hub mode, ports going down, away and back.
fn hand_written() -> Vec<Scenario> {
    let learn = vec![
        Op::Frame(0, f(Broadcast, Host(0))),
        Op::Frame(1, f(Host(0), Host(1))),
        Op::Frame(0, f(Host(1), Host(0))),
        Op::Frame(2, f(Host(5), Host(2))),
        Op::Frame(0, f(Host(0), Host(1))),
        Op::Frame(1, f(Addr::Multicast(0), Host(1))),
    ];
    let mut scenarios = vec![Scenario {
        cfg: cfg(3),
        ops: learn.clone(),
    }];

    let mut hairpin = cfg(2);
    hairpin.ports[0].flags.hairpin = true;
    scenarios.push(Scenario {
        cfg: hairpin,
        ops: vec![
            Op::Frame(0, f(Broadcast, Host(1))),
            Op::Frame(0, f(Host(1), Host(0))),
            Op::SetFlags(0, PortFlags::default()),
            Op::Frame(0, f(Host(1), Host(0))),
        ],
    });

    let mut vlans = cfg(0);
    vlans.vlan_aware = true;
    vlans.ports = vec![
        port(Mode::Access(10)),
        port(Mode::Trunk {
            allowed: vec![10, 20],
            native: Some(1),
        }),
        port(Mode::Access(20)),
        port(Mode::Trunk {
            allowed: vec![1, 10, 20, 30],
            native: None,
        }),
    ];
    scenarios.push(Scenario {
        cfg: vlans,
        ops: vec![
            Op::Frame(0, f(Broadcast, Host(0))),
            Op::Frame(1, tagged(Host(0), Host(1), 10)),
            Op::Frame(1, tagged(Broadcast, Host(1), 20)),
            Op::Frame(2, tagged(Broadcast, Host(2), 0)),
            Op::Frame(3, tagged(Host(2), Host(3), 20)),
            Op::Frame(0, tagged(Broadcast, Host(0), 30)),
            Op::Frame(
                0,
                FrameSpec {
                    tags: Tags::Dot1ad {
                        outer: 100,
                        inner: Some(20),
                    },
                    ..f(Broadcast, Host(0))
                },
            ),
            Op::Frame(
                1,
                FrameSpec {
                    tags: Tags::Truncated {
                        tpid: 0x8100,
                        keep: 2,
                    },
                    ..f(Broadcast, Host(1))
                },
            ),
            Op::SetVlan(
                0,
                Mode::Trunk {
                    allowed: vec![10],
                    native: None,
                },
            ),
            Op::Frame(3, tagged(Host(0), Host(3), 10)),
            Op::AddStatic(20, 6, 2),
            Op::Frame(1, tagged(Host(6), Host(1), 20)),
        ],
    });

    let mut aging = cfg(2);
    aging.aging = 10;
    scenarios.push(Scenario {
        cfg: aging,
        ops: vec![
            Op::Frame(0, f(Broadcast, Host(0))),
            Op::Time(TimeStep::Forward(3)),
            Op::Frame(1, f(Host(0), Host(1))),
            Op::Time(TimeStep::Aging(-1)),
            Op::Frame(1, f(Host(0), Host(1))),
            Op::Time(TimeStep::Aging(0)),
            Op::Sweep,
            Op::Lookup(0, 0),
            Op::Frame(1, f(Host(0), Host(1))),
            Op::Time(TimeStep::Back(5)),
            Op::Frame(0, f(Host(1), Host(0))),
            Op::Time(TimeStep::Forward(1 << 32)),
            Op::Frame(0, f(Host(1), Host(0))),
            Op::Time(TimeStep::End(0)),
            Op::Frame(0, f(Host(1), Host(0))),
            Op::Frame(1, f(Host(0), Host(1))),
        ],
    });

    for stop_learning in [false, true] {
        let mut full = cfg(3);
        full.capacity = 3;
        full.stop_learning = stop_learning;
        let mut ops = vec![Op::Frame(0, f(Broadcast, Host(0)))];
        for h in 1..HOSTS {
            ops.push(Op::Frame(1, f(Broadcast, Host(h))));
            ops.push(Op::Time(TimeStep::Forward(1)));
        }
        ops.push(Op::Frame(2, f(Host(0), Host(7))));
        ops.push(Op::Frame(2, f(Host(7), Host(6))));
        ops.push(Op::FlushPort(1, false));
        ops.push(Op::Frame(2, f(Host(5), Host(6))));
        scenarios.push(Scenario { cfg: full, ops });
    }

    let mut link_local = cfg(2);
    link_local.mask = (1 << 14) | (1 << 3);
    scenarios.push(Scenario {
        cfg: link_local,
        ops: (0..=0x10)
            .map(|x| Op::Frame(0, f(Addr::LinkLocal(x), Host(0))))
            .chain([
                Op::Frame(0, f(Host(1), Addr::Zero)),
                Op::Frame(0, f(Host(1), Broadcast)),
                Op::Frame(0, f(Host(1), Addr::Multicast(1))),
            ])
            .collect(),
    });

    // Hosts heard only through link-local frames: LLDP teaches (and moves)
    // its source, PAUSE teaches nothing.
    scenarios.push(Scenario {
        cfg: cfg(3),
        ops: vec![
            Op::Frame(2, f(Addr::LinkLocal(0x0e), Host(3))),
            Op::Frame(0, f(Host(3), Host(0))),
            Op::Frame(1, f(Addr::LinkLocal(0x0e), Host(3))),
            Op::Frame(0, f(Host(3), Host(0))),
            Op::Frame(2, f(Addr::LinkLocal(0x01), Host(4))),
            Op::Frame(0, f(Host(4), Host(0))),
            Op::Frame(2, f(Addr::LinkLocal(0x01), Host(0))),
        ],
    });

    let mut hub = cfg(3);
    hub.hub = true;
    scenarios.push(Scenario {
        cfg: hub,
        ops: [
            learn.clone(),
            vec![Op::Frame(0, f(Addr::LinkLocal(0), Host(0)))],
        ]
        .concat(),
    });

    scenarios.push(Scenario {
        cfg: cfg(3),
        ops: vec![
            Op::Frame(1, f(Broadcast, Host(0))),
            Op::AddStatic(0, 2, 1),
            Op::SetUp(1, false),
            Op::Frame(0, f(Host(0), Host(1))),
            Op::Frame(0, f(Host(2), Host(1))),
            Op::Frame(1, f(Broadcast, Host(3))),
            Op::SetUp(1, true),
            Op::Frame(0, f(Host(2), Host(1))),
            Op::RemovePort(1),
            Op::Frame(0, f(Host(2), Host(1))),
            Op::AddPort(port(Mode::Access(1))),
            Op::Frame(1, f(Broadcast, Host(3))),
            Op::Batch(
                0,
                vec![
                    f(Broadcast, Host(1)),
                    FrameSpec {
                        cut: Some(10),
                        ..f(Host(3), Host(1))
                    },
                    f(Host(3), Host(1)),
                    f(Addr::Multicast(0), Host(1)),
                ],
                TxFault {
                    mtu: 70,
                    full: 0b100,
                },
            ),
            Op::FlushVlan(0),
            Op::FlushAll(true),
        ],
    });
    scenarios
}

/// splitmix64, seeded: the same seeds every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    fn pick<T: Copy>(&mut self, pool: &[T]) -> T {
        pool[self.below(pool.len() as u64) as usize]
    }

    /// An index drawn by weight.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut x = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        unreachable!()
    }

    // The strategies of core/tests/model.rs, weight for weight.

    fn addr(&mut self) -> Addr {
        match self.weighted(&[14, 2, 2, 2, 1]) {
            0 => Addr::Host(self.below(u64::from(HOSTS)) as u8),
            1 => Addr::Broadcast,
            2 => Addr::Multicast(self.below(3) as u8),
            3 => Addr::LinkLocal(self.below(0x11) as u8),
            _ => Addr::Zero,
        }
    }

    fn tag_vid(&mut self) -> u16 {
        self.pick(&TAG_VIDS)
    }

    fn tags(&mut self) -> Tags {
        match self.weighted(&[6, 6, 2, 1, 2]) {
            0 => Tags::None,
            1 => Tags::Dot1q {
                pcp: self.below(8) as u8,
                dei: self.chance(0.1),
                vid: self.tag_vid(),
            },
            2 => Tags::Dot1ad {
                outer: self.tag_vid(),
                inner: if self.chance(0.5) {
                    Some(self.tag_vid())
                } else {
                    None
                },
            },
            3 => Tags::Old9100(self.tag_vid()),
            _ => Tags::Truncated {
                tpid: self.pick(&[0x8100, 0x88a8]),
                keep: self.below(4) as u8,
            },
        }
    }

    fn frame(&mut self) -> FrameSpec {
        FrameSpec {
            dst: self.addr(),
            src: self.addr(),
            tags: self.tags(),
            payload: self.below(48) as u8,
            cut: if self.weighted(&[12, 1]) == 1 {
                Some(self.below(14) as u8)
            } else {
                None
            },
        }
    }

    fn mode(&mut self) -> Mode {
        if self.chance(0.5) {
            Mode::Access(self.pick(&[1, 10, 20]))
        } else {
            Mode::Trunk {
                allowed: TRUNK_VIDS
                    .iter()
                    .copied()
                    .filter(|_| self.chance(0.5))
                    .collect(),
                native: if self.chance(0.5) {
                    Some(self.pick(&[1, 10]))
                } else {
                    None
                },
            }
        }
    }

    fn flags(&mut self) -> PortFlags {
        PortFlags {
            learning: self.chance(0.85),
            flood_unknown: self.chance(0.85),
            flood_multicast: self.chance(0.85),
            flood_broadcast: self.chance(0.85),
            hairpin: self.chance(0.2),
        }
    }

    fn port_spec(&mut self) -> PortSpec {
        PortSpec {
            flags: self.flags(),
            mode: self.mode(),
            up: self.chance(0.9),
            ..PortSpec::default()
        }
    }

    fn port(&mut self) -> u16 {
        self.below(u64::from(PORT_RANGE)) as u16
    }

    fn fdb_vid(&mut self) -> u16 {
        self.pick(&[0, 0, 1, 10, 20])
    }

    fn time(&mut self) -> TimeStep {
        match self.weighted(&[10, 4, 3, 1, 2, 1]) {
            0 => TimeStep::Forward(self.below(4)),
            1 => TimeStep::Forward(self.below(400)),
            2 => TimeStep::Aging(self.below(3) as i8 - 1),
            3 => TimeStep::Forward(match self.below(4) {
                0 => 1 << 31,
                1 => 1 << 32,
                2 => (1 << 32) + 1,
                _ => BIG_STEP_BASE + 4 * self.below(((1 << 34) - BIG_STEP_BASE) / 4),
            }),
            4 => TimeStep::Back(self.below(1000)),
            _ => TimeStep::End(self.below(3)),
        }
    }

    fn fault(&mut self) -> TxFault {
        if self.weighted(&[3, 1]) == 0 {
            TxFault::NONE
        } else {
            TxFault {
                mtu: 40 + self.below(40) as usize,
                full: self.next() as u16,
            }
        }
    }

    fn op(&mut self) -> Op {
        let weights = [40, 4, 12, 1, 2, 3, 1, 1, 2, 1, 2, 1, 1, 1, 1];
        match self.weighted(&weights) {
            0 => Op::Frame(self.port(), self.frame()),
            1 => {
                let p = self.port();
                let n = self.below(6);
                let frames = (0..n).map(|_| self.frame()).collect();
                Op::Batch(p, frames, self.fault())
            }
            2 => Op::Time(self.time()),
            3 => Op::Sweep,
            4 => Op::Lookup(self.fdb_vid(), self.below(u64::from(HOSTS)) as u8),
            5 => Op::SetUp(self.port(), self.chance(0.6)),
            6 => Op::AddPort(self.port_spec()),
            7 => Op::RemovePort(self.port()),
            8 => Op::SetFlags(self.port(), self.flags()),
            9 => Op::SetVlan(self.port(), self.mode()),
            10 => Op::AddStatic(
                self.fdb_vid(),
                self.below(u64::from(HOSTS)) as u8,
                self.port(),
            ),
            11 => Op::Remove(self.fdb_vid(), self.below(u64::from(HOSTS)) as u8),
            12 => Op::FlushPort(self.port(), self.chance(0.5)),
            13 => Op::FlushVlan(self.fdb_vid()),
            _ => Op::FlushAll(self.chance(0.5)),
        }
    }

    fn scenario(&mut self) -> Scenario {
        let cfg = Cfg {
            hub: self.chance(0.08),
            vlan_aware: self.chance(0.5),
            aging: self.pick(&[0, 1, 2, 3, 10, 100, 300_000, 1 << 31]),
            capacity: if self.weighted(&[8, 1]) == 0 {
                self.below(9) as u32
            } else {
                8192
            },
            stop_learning: self.chance(0.5),
            entry_stats: self.chance(0.5),
            mask: self.next() as u16 & !0b111,
            seed: self.below(256).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            start: match self.below(3) {
                0 => 0,
                1 => START_NEAR_WRAP,
                _ => START_STEP * (2 + self.below(254)),
            },
            ports: (0..1 + self.below(5)).map(|_| self.port_spec()).collect(),
            guard: None,
        };
        let n = self.below(60);
        Scenario {
            cfg,
            ops: (0..n).map(|_| self.op()).collect(),
        }
    }
}
