//! Capture files in and out: reading pcap and pcapng files of Ethernet frames for
//! replay, and writing what left a switch port as a nanosecond pcap.
//!
//! Reading takes the whole file into memory. Classic pcap (microsecond or
//! nanosecond, either byte order) is parsed with `pcap-file`; pcapng (any number
//! of sections and interfaces, each interface's `if_tsresol` and `if_tsoffset`
//! honoured) is walked here, because `pcap-file` 2 refuses some valid pcapng
//! files. The format is recognised by its magic number. Only Ethernet (link
//! type 1) can be replayed into a switch; anything else is refused with
//! [`CaptureError::LinkType`]. As in libpcap, only the low 16 bits of a pcap
//! header's link type field name the link type, and a frame check sequence the
//! header announces is cut off each frame.
//!
//! A file damaged after its header (most often cut short: a capture interrupted
//! mid-write) keeps the frames before the damage, as tcpdump and Wireshark do;
//! [`Capture::damage`] says where reading stopped and why. A bad file header is
//! an error.
//!
//! ```no_run
//! use std::path::Path;
//! use vswitch_sim::pcap::{read_capture, PcapSink};
//! let frames = read_capture(Path::new("in.pcap"))?;
//! let mut out = PcapSink::create(Path::new("out.pcap"))?;
//! for f in &frames {
//!     out.write(f.ts_ns, &f.data)?;
//! }
//! out.finish()?;
//! # Ok::<(), vswitch_sim::pcap::CaptureError>(())
//! ```

use pcap_file::pcap::{PcapHeader, PcapParser, PcapWriter, RawPcapPacket};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// `LINKTYPE_ETHERNET`, the only link type a switch can take.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snap length of the files [`PcapSink`] writes; longer frames are cut to it.
pub const SINK_SNAPLEN: u32 = 262_144;

/// The link type bits of a pcap header's link type field.
const LINKTYPE_MASK: u32 = 0xffff;
/// Set in a pcap header's link type field when frames end with an FCS.
const FCS_PRESENT: u32 = 0x0400_0000;

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// One frame of a capture file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapFrame {
    /// Its timestamp, nanoseconds since the Unix epoch (the file's clock).
    pub ts_ns: u64,
    /// The captured bytes, starting with the Ethernet header.
    pub data: Vec<u8>,
}

/// What went wrong with a capture file. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be read.
    #[error("cannot read capture {path:?}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is neither pcap nor pcapng.
    #[error("{path:?} is not a pcap or pcapng file (it starts with {magic}); convert it with `editcap -F pcap`")]
    NotACapture {
        /// The file.
        path: PathBuf,
        /// Its first bytes, in hex.
        magic: String,
    },
    /// The file holds frames of a link type other than Ethernet.
    #[error("capture {path:?} has link type {} ({linktype}); only Ethernet (1) can be replayed into a switch", linktype_name(*.linktype))]
    LinkType {
        /// The file.
        path: PathBuf,
        /// The LINKTYPE_ value found.
        linktype: u32,
    },
    /// The file's header or a block before the first frame is damaged.
    #[error("capture {path:?} is damaged at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An output file could not be created or written.
    #[error("cannot write capture {path:?}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A timestamp beyond what a pcap file can hold (the year 2106).
    #[error("cannot write capture {path:?}: timestamp {ts_ns} ns is past the year 2106, the end of pcap time")]
    Timestamp {
        /// The file.
        path: PathBuf,
        /// The timestamp.
        ts_ns: u64,
    },
}

/// The frames of a capture file and whether all of it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The frames, in file order.
    pub frames: Vec<PcapFrame>,
    /// When reading stopped before the end of the file: the byte offset and why.
    /// The frames before that point are in `frames`.
    pub damage: Option<(u64, String)>,
}

/// Reads every frame of an Ethernet pcap or pcapng file. A damaged tail is
/// tolerated (see the module docs); use [`open_capture`] to learn about it.
pub fn read_capture(path: &Path) -> Result<Vec<PcapFrame>, CaptureError> {
    open_capture(path).map(|c| c.frames)
}

/// Reads an Ethernet pcap or pcapng file and reports where reading stopped if
/// the file is damaged after its header.
pub fn open_capture(path: &Path) -> Result<Capture, CaptureError> {
    let bytes = std::fs::read(path).map_err(|error| CaptureError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    parse_capture(path, &bytes)
}

/// Parses the bytes of a capture file; `path` is only used in errors.
pub fn parse_capture(path: &Path, bytes: &[u8]) -> Result<Capture, CaptureError> {
    let magic: [u8; 4] = match bytes.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => {
            return Err(CaptureError::NotACapture {
                path: path.to_path_buf(),
                magic: hex(bytes),
            })
        }
    };
    // Neither `pcap-file` nor the pcapng walker below should panic on any input
    // (the tests feed them damaged files); this keeps a bug there from taking a
    // whole replay down with it.
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        if PCAP_MAGICS.contains(&magic) {
            parse_pcap(path, bytes)
        } else if magic == PCAPNG_MAGIC {
            parse_pcapng(path, bytes)
        } else {
            Err(CaptureError::NotACapture {
                path: path.to_path_buf(),
                magic: hex(&bytes[..4]),
            })
        }
    }));
    parsed.unwrap_or_else(|_| {
        Err(CaptureError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: "the pcap parser gave up on it".to_string(),
        })
    })
}

fn parse_pcap(path: &Path, bytes: &[u8]) -> Result<Capture, CaptureError> {
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|e| corrupt(path, 0, &e))?;
    let header = parser.header();
    // As libpcap does: the low 16 bits are the link type; bit 26 says the upper
    // nibble holds the length of a frame check sequence ending every frame, in
    // 16-bit words. Fuzzed files set the other upper bits; they mean nothing.
    let field = u32::from(header.datalink);
    let linktype = field & LINKTYPE_MASK;
    let fcs_len = if field & FCS_PRESENT != 0 {
        (field >> 28) as usize * 2
    } else {
        0
    };
    if linktype != LINKTYPE_ETHERNET {
        return Err(CaptureError::LinkType {
            path: path.to_path_buf(),
            linktype,
        });
    }
    let frac_ns: u64 = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };
    let mut capture = Capture {
        frames: Vec::new(),
        damage: None,
    };
    while !rest.is_empty() {
        match parser.next_raw_packet(rest) {
            Ok((
                next,
                RawPcapPacket {
                    ts_sec,
                    ts_frac,
                    data,
                    ..
                },
            )) => {
                // Out-of-range fractions (seen in damaged files) are kept as they
                // are rather than refused: the order of frames is what matters.
                let ts_ns = u64::from(ts_sec) * NANOS_PER_SEC + u64::from(ts_frac) * frac_ns;
                let keep = data.len().saturating_sub(fcs_len);
                capture.frames.push(PcapFrame {
                    ts_ns,
                    data: data[..keep].to_vec(),
                });
                rest = next;
            }
            Err(e) => {
                capture.damage = Some((offset_of(bytes, rest), describe(&e)));
                break;
            }
        }
    }
    Ok(capture)
}

/// What the reader keeps of a pcapng interface.
struct Interface {
    /// Timestamp units per second.
    units_per_sec: u64,
    /// Seconds added to every timestamp.
    offset_secs: u64,
    /// Most bytes captured per packet; 0 = no limit.
    snaplen: u32,
}

// pcapng block types and the offsets of the fields a replay reads.
const BLOCK_IDB: u32 = 1;
const BLOCK_PB: u32 = 2;
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;
const BLOCK_HEADER_LEN: usize = 8;
const BLOCK_MIN_LEN: usize = 12;
const IDB_OPTIONS: usize = 8;
const EPB_DATA: usize = 20;
const SPB_DATA: usize = 4;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Walks the blocks of a pcapng file. pcap-file 2's pcapng parser refuses valid
/// files whose option lists leave out the optional end-of-options marker (two of
/// tcpdump's test files), so the few fields a replay needs are read here.
fn parse_pcapng(path: &Path, bytes: &[u8]) -> Result<Capture, CaptureError> {
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut capture = Capture {
        frames: Vec::new(),
        damage: None,
    };
    let mut big_endian = false;
    let mut last_ts = 0;
    let mut at = 0;
    while at < bytes.len() {
        let block = &bytes[at..];
        let here = at as u64;
        let stop = move |why: &str| (here, why.to_string());
        if block.len() < BLOCK_MIN_LEN {
            capture.damage = Some(stop("the file ends in the middle of a block"));
            break;
        }
        if block[..4] == PCAPNG_MAGIC {
            big_endian = match block[8..12] {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                _ => {
                    capture.damage = Some(stop("a section header has no valid byte-order magic"));
                    break;
                }
            };
            interfaces.clear();
        }
        let u32_at = |b: &[u8], i: usize| read_u32(b, i, big_endian);
        let kind = u32_at(block, 0).unwrap_or(0);
        let len = u32_at(block, 4).unwrap_or(0) as usize;
        if len < BLOCK_MIN_LEN || len % 4 != 0 {
            capture.damage = Some(stop("a block has an impossible length"));
            break;
        }
        if len > block.len() {
            capture.damage = Some(stop("the file ends in the middle of a block"));
            break;
        }
        if u32_at(block, len - 4) != Some(len as u32) {
            capture.damage = Some(stop("a block's two length fields differ"));
            break;
        }
        let body = &block[BLOCK_HEADER_LEN..len - 4];
        at += len;
        let (interface_id, raw_ts, data) = match kind {
            BLOCK_IDB => {
                let linktype = read_u16(body, 0, big_endian).unwrap_or(0);
                if u32::from(linktype) != LINKTYPE_ETHERNET {
                    return Err(CaptureError::LinkType {
                        path: path.to_path_buf(),
                        linktype: u32::from(linktype),
                    });
                }
                interfaces.push(interface(body, big_endian));
                continue;
            }
            BLOCK_EPB | BLOCK_PB => {
                let id = if kind == BLOCK_EPB {
                    u32_at(body, 0)
                } else {
                    read_u16(body, 0, big_endian).map(u32::from)
                };
                let ts = u32_at(body, 4)
                    .zip(u32_at(body, 8))
                    .map(|(hi, lo)| u64::from(hi) << 32 | u64::from(lo));
                let caplen = u32_at(body, 12).unwrap_or(u32::MAX) as usize;
                match (id, body.get(EPB_DATA..EPB_DATA.saturating_add(caplen))) {
                    (Some(id), Some(data)) => (id, ts, data),
                    _ => {
                        capture.damage = Some(stop("a packet is longer than its block"));
                        break;
                    }
                }
            }
            BLOCK_SPB => {
                let orig = u32_at(body, 0).unwrap_or(0) as usize;
                let mut caplen = orig.min(body.len().saturating_sub(SPB_DATA));
                if let Some(snap) = interfaces.first().map(|i| i.snaplen as usize) {
                    if snap > 0 {
                        caplen = caplen.min(snap);
                    }
                }
                (0, None, &body[SPB_DATA.min(body.len())..][..caplen])
            }
            _ => continue,
        };
        let Some(iface) = interfaces.get(interface_id as usize) else {
            capture.damage = Some((
                here,
                format!("a packet names interface {interface_id}, which is not described"),
            ));
            break;
        };
        // Simple packet blocks carry no time: they keep the previous frame's.
        let ts_ns = match raw_ts {
            Some(raw) => to_nanos(raw, iface.units_per_sec)
                .saturating_add(iface.offset_secs.saturating_mul(NANOS_PER_SEC)),
            None => last_ts,
        };
        last_ts = ts_ns;
        capture.frames.push(PcapFrame {
            ts_ns,
            data: data.to_vec(),
        });
    }
    match capture.damage {
        // Not even the first section header could be read: not a usable file.
        Some((0, reason)) => Err(CaptureError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason,
        }),
        _ => Ok(capture),
    }
}

/// Reads an interface description block's body. Options are read up to the
/// end-of-options marker or the end of the body, whichever comes first.
fn interface(body: &[u8], big_endian: bool) -> Interface {
    let mut iface = Interface {
        units_per_sec: 1_000_000,
        offset_secs: 0,
        snaplen: read_u32(body, 4, big_endian).unwrap_or(0),
    };
    let mut at = IDB_OPTIONS;
    while let (Some(code), Some(len)) = (
        read_u16(body, at, big_endian),
        read_u16(body, at + 2, big_endian),
    ) {
        let len = usize::from(len);
        let Some(value) = body.get(at + 4..at + 4 + len) else {
            break;
        };
        match code {
            OPT_END => break,
            // High bit clear: 10^-n seconds; set: 2^-n seconds.
            OPT_IF_TSRESOL if len == 1 => {
                let n = u32::from(value[0] & 0x7f);
                let units = if value[0] & 0x80 == 0 {
                    10u64.checked_pow(n)
                } else {
                    1u64.checked_shl(n)
                };
                iface.units_per_sec = units.unwrap_or(NANOS_PER_SEC).max(1);
            }
            OPT_IF_TSOFFSET if len == 8 => {
                iface.offset_secs = read_u32(value, 0, big_endian)
                    .zip(read_u32(value, 4, big_endian))
                    .map_or(0, |(a, b)| {
                        if big_endian {
                            u64::from(a) << 32 | u64::from(b)
                        } else {
                            u64::from(b) << 32 | u64::from(a)
                        }
                    });
            }
            _ => {}
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    iface
}

fn read_u16(b: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let v: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    })
}

fn read_u32(b: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let v: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    })
}

/// Converts a count of `1/units_per_sec` seconds to nanoseconds, saturating.
fn to_nanos(raw: u64, units_per_sec: u64) -> u64 {
    let ns = u128::from(raw) * u128::from(NANOS_PER_SEC) / u128::from(units_per_sec);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

fn offset_of(whole: &[u8], rest: &[u8]) -> u64 {
    (whole.len() - rest.len()) as u64
}

fn describe(e: &PcapError) -> String {
    match e {
        PcapError::IncompleteBuffer => "the file ends in the middle of a record".to_string(),
        other => other.to_string(),
    }
}

fn corrupt(path: &Path, offset: u64, e: &PcapError) -> CaptureError {
    CaptureError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: describe(e),
    }
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing: the file is empty".to_string();
    }
    let digits: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("0x{}", digits.join(""))
}

/// The name of a LINKTYPE_ value (`LINUX_SLL` for 113), or `unknown` when it has none.
pub fn linktype_name(linktype: u32) -> String {
    match DataLink::from(linktype) {
        DataLink::Unknown(_) => "unknown".to_string(),
        known => format!("{known:?}"),
    }
}

/// A pcap file being written: nanosecond timestamps, Ethernet, little-endian.
/// Buffered; flushed by [`PcapSink::finish`] (which reports errors) or on drop.
pub struct PcapSink {
    path: PathBuf,
    out: PcapWriter<BufWriter<File>>,
}

impl PcapSink {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> Result<PcapSink, CaptureError> {
        let write_err = |error| CaptureError::Write {
            path: path.to_path_buf(),
            error,
        };
        let file = File::create(path).map_err(write_err)?;
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: SINK_SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::Little,
        };
        let out =
            PcapWriter::with_header(BufWriter::new(file), header).map_err(|e| io_of(path, e))?;
        Ok(PcapSink {
            path: path.to_path_buf(),
            out,
        })
    }

    /// Appends one frame seen at `ts_ns` nanoseconds since the epoch.
    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> Result<(), CaptureError> {
        let ts_sec = u32::try_from(ts_ns / NANOS_PER_SEC).map_err(|_| CaptureError::Timestamp {
            path: self.path.clone(),
            ts_ns,
        })?;
        let captured = &frame[..frame.len().min(SINK_SNAPLEN as usize)];
        let packet = RawPcapPacket {
            ts_sec,
            ts_frac: (ts_ns % NANOS_PER_SEC) as u32,
            incl_len: captured.len() as u32,
            orig_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            data: Cow::Borrowed(captured),
        };
        self.out
            .write_raw_packet(&packet)
            .map(|_| ())
            .map_err(|e| io_of(&self.path, e))
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes everything to the file.
    pub fn finish(self) -> Result<(), CaptureError> {
        self.out
            .into_writer()
            .flush()
            .map_err(|error| CaptureError::Write {
                path: self.path.clone(),
                error,
            })
    }
}

fn io_of(path: &Path, e: PcapError) -> CaptureError {
    let error = match e {
        PcapError::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    };
    CaptureError::Write {
        path: path.to_path_buf(),
        error,
    }
}

/// Merges the frames of several captures into one sequence ordered by
/// timestamp, each tagged with the index of its input. Stable: frames with
/// equal timestamps come in input order, then file order; a file whose own
/// timestamps go backwards keeps its order (its frames are taken in file order
/// and placed by a running maximum of its timestamps).
pub fn merge_by_time(inputs: Vec<Vec<PcapFrame>>) -> Vec<(usize, PcapFrame)> {
    let total = inputs.iter().map(Vec::len).sum();
    let mut keyed: Vec<(u64, usize, usize, PcapFrame)> = Vec::with_capacity(total);
    for (input, frames) in inputs.into_iter().enumerate() {
        let mut running = 0;
        for (i, frame) in frames.into_iter().enumerate() {
            running = running.max(frame.ts_ns);
            keyed.push((running, input, i, frame));
        }
    }
    keyed.sort_by_key(|&(ts, input, i, _)| (ts, input, i));
    keyed
        .into_iter()
        .map(|(_, input, _, frame)| (input, frame))
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;

    fn frame(ts_ns: u64, byte: u8) -> PcapFrame {
        PcapFrame {
            ts_ns,
            data: vec![byte; 60],
        }
    }

    #[test]
    fn sink_round_trip() {
        let dir = crate::TestDir::new("pcap-round-trip");
        let path = dir.join("round.pcap");
        let frames = vec![
            frame(1_700_000_000_123_456_789, 1),
            frame(1_700_000_001_000_000_001, 2),
        ];
        let mut sink = PcapSink::create(&path).unwrap();
        for f in &frames {
            sink.write(f.ts_ns, &f.data).unwrap();
        }
        sink.finish().unwrap();
        assert_eq!(read_capture(&path).unwrap(), frames);
        assert!(matches!(
            PcapSink::create(&path).unwrap().write(u64::MAX, &[0; 14]),
            Err(CaptureError::Timestamp { .. })
        ));
    }

    /// A classic pcap file, built by hand: `magic` decides byte order and resolution.
    fn classic(
        big_endian: bool,
        nanos: bool,
        linktype: u32,
        records: &[(u32, u32, &[u8])],
    ) -> Vec<u8> {
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut b = Vec::new();
        b.extend_from_slice(&u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        b.extend_from_slice(&u16b(2));
        b.extend_from_slice(&u16b(4));
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&u32b(65535));
        b.extend_from_slice(&u32b(linktype));
        for &(sec, frac, data) in records {
            b.extend_from_slice(&u32b(sec));
            b.extend_from_slice(&u32b(frac));
            b.extend_from_slice(&u32b(data.len() as u32));
            b.extend_from_slice(&u32b(data.len() as u32));
            b.extend_from_slice(data);
        }
        b
    }

    #[test]
    fn classic_variants() {
        let p = Path::new("t.pcap");
        for big in [false, true] {
            for nanos in [false, true] {
                let bytes = classic(big, nanos, 1, &[(3, 7, &[0xaa; 20]), (4, 0, &[0xbb; 14])]);
                let c = parse_capture(p, &bytes).unwrap();
                let frac = if nanos { 7 } else { 7_000 };
                assert_eq!(c.frames[0].ts_ns, 3 * NANOS_PER_SEC + frac);
                assert_eq!(
                    c.frames[1],
                    PcapFrame {
                        ts_ns: 4 * NANOS_PER_SEC,
                        data: vec![0xbb; 14]
                    }
                );
                assert_eq!(c.damage, None);
            }
        }
    }

    #[test]
    fn truncated_tail_keeps_earlier_frames() {
        let bytes = classic(false, false, 1, &[(1, 0, &[1; 30]), (2, 0, &[2; 30])]);
        let cut = &bytes[..bytes.len() - 5];
        let c = parse_capture(Path::new("t.pcap"), cut).unwrap();
        assert_eq!(c.frames.len(), 1);
        let (offset, why) = c.damage.unwrap();
        assert_eq!(offset, 24 + 16 + 30);
        assert!(why.contains("ends in the middle"), "{why}");
        // Every prefix parses to an error or some frames, never a panic.
        for len in 0..bytes.len() {
            let _ = parse_capture(Path::new("t.pcap"), &bytes[..len]);
        }
    }

    #[test]
    fn refuses_other_link_types_and_non_captures() {
        let bytes = classic(false, false, 113, &[]);
        let e = parse_capture(Path::new("dir/x.pcap"), &bytes).unwrap_err();
        assert!(matches!(e, CaptureError::LinkType { linktype: 113, .. }));
        assert_eq!(
            e.to_string(),
            "capture \"dir/x.pcap\" has link type LINUX_SLL (113); only Ethernet (1) can be replayed into a switch"
        );
        let e = parse_capture(Path::new("y.txt"), b"hello world").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"y.txt\" is not a pcap or pcapng file (it starts with 0x68656c6c); convert it with `editcap -F pcap`"
        );
        assert!(matches!(
            parse_capture(Path::new("e"), b"").unwrap_err(),
            CaptureError::NotACapture { .. }
        ));
        let e = read_capture(Path::new("/nonexistent/z.pcap")).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot read capture \"/nonexistent/z.pcap\": "));
        assert_eq!(linktype_name(1), "ETHERNET");
        assert_eq!(linktype_name(65000), "unknown");
    }

    /// A little-endian pcapng file: section, interfaces, enhanced packets.
    fn pcapng(interfaces: &[(u16, Option<u8>)], packets: &[(u32, u64, &[u8])]) -> Vec<u8> {
        fn block(b: &mut Vec<u8>, kind: u32, body: &[u8]) {
            let len = (12 + body.len()).div_ceil(4) * 4;
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&(len as u32).to_le_bytes());
            b.extend_from_slice(body);
            b.resize(b.len() + len - 12 - body.len(), 0);
            b.extend_from_slice(&(len as u32).to_le_bytes());
        }
        let mut b = Vec::new();
        let mut shb = Vec::from(0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        block(&mut b, 0x0a0d_0d0a, &shb);
        for &(linktype, tsresol) in interfaces {
            let mut idb = Vec::from(linktype.to_le_bytes());
            idb.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            if let Some(r) = tsresol {
                idb.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0, 0, 0, 0, 0]);
            }
            block(&mut b, 1, &idb);
        }
        for &(iface, ts, data) in packets {
            let mut epb = Vec::from(iface.to_le_bytes());
            epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            epb.extend_from_slice(&(ts as u32).to_le_bytes());
            epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
            epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
            epb.extend_from_slice(data);
            epb.resize(epb.len().div_ceil(4) * 4, 0);
            block(&mut b, 6, &epb);
        }
        b
    }

    #[test]
    fn pcapng_interfaces_and_resolutions() {
        let p = Path::new("t.pcapng");
        // Interface 0 in microseconds (default), interface 1 in nanoseconds.
        let bytes = pcapng(
            &[(1, None), (1, Some(9))],
            &[(0, 5, &[1; 15]), (1, 5, &[2; 17])],
        );
        let c = parse_capture(p, &bytes).unwrap();
        assert_eq!(c.damage, None);
        assert_eq!(
            c.frames,
            vec![
                PcapFrame {
                    ts_ns: 5_000,
                    data: vec![1; 15]
                },
                PcapFrame {
                    ts_ns: 5,
                    data: vec![2; 17]
                }
            ]
        );
        let e = parse_capture(p, &pcapng(&[(1, None), (127, None)], &[])).unwrap_err();
        assert!(
            matches!(e, CaptureError::LinkType { linktype: 127, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("IEEE802_11_RADIOTAP (127)"));
        // A packet on an interface that was never described stops the reading there.
        let c = parse_capture(
            p,
            &pcapng(&[(1, None)], &[(0, 1, &[1; 14]), (3, 2, &[2; 14])]),
        )
        .unwrap();
        assert_eq!(c.frames.len(), 1);
        assert!(c.damage.unwrap().1.contains("interface 3"));
        for len in 0..bytes.len() {
            let _ = parse_capture(p, &bytes[..len]);
        }
        // Big-endian, with option lists that leave out the end-of-options marker
        // (as tcpdump's ospf-sr.pcapng does) and a simple packet block.
        let mut b = Vec::new();
        b.extend_from_slice(&[
            0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 36, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0,
        ]);
        b.extend_from_slice(&[0xff; 8]);
        b.extend_from_slice(&[0, 4, 0, 1, b'x', 0, 0, 0, 0, 0, 0, 36]); // shb_userappl "x"
        b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 28, 0, 1, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0, 9, 0, 1, 3, 0, 0, 0, 0, 0, 0, 28]); // if_tsresol 10^-3
        b.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        b.extend_from_slice(&[0, 0, 0, 14, 0, 0, 0, 14]);
        b.extend_from_slice(&[0xee; 16]);
        b.extend_from_slice(&[0, 0, 0, 48]);
        b.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 32, 0, 0, 0, 14]);
        b.extend_from_slice(&[0xdd; 16]);
        b.extend_from_slice(&[0, 0, 0, 32]);
        let c = parse_capture(p, &b).unwrap();
        assert_eq!(c.damage, None);
        assert_eq!(
            c.frames,
            vec![
                PcapFrame {
                    ts_ns: 7_000_000,
                    data: vec![0xee; 14]
                },
                PcapFrame {
                    ts_ns: 7_000_000,
                    data: vec![0xdd; 14]
                },
            ]
        );
    }

    #[test]
    fn pcap_link_type_field_upper_bits() {
        let p = Path::new("f.pcap");
        // Fuzzed upper bits: still Ethernet. FCS-present bit with 2 words: 4 bytes cut.
        let bytes = classic(false, false, 0x3000_0001, &[(1, 0, &[7; 20])]);
        assert_eq!(parse_capture(p, &bytes).unwrap().frames[0].data.len(), 20);
        let bytes = classic(
            false,
            false,
            0x2400_0001,
            &[(1, 0, &[7; 20]), (1, 0, &[7; 3])],
        );
        let frames = parse_capture(p, &bytes).unwrap().frames;
        assert_eq!((frames[0].data.len(), frames[1].data.len()), (16, 0));
        let e = parse_capture(p, &classic(false, false, 0x3000_00e5, &[])).unwrap_err();
        assert!(e.to_string().contains("IPV6 (229)"), "{e}");
    }

    #[test]
    fn merge_is_by_time_and_stable() {
        let a = vec![frame(10, 1), frame(20, 2), frame(20, 3)];
        let b = vec![frame(5, 4), frame(20, 5), frame(30, 6)];
        let c = vec![frame(20, 7), frame(15, 8)]; // goes backwards
        let merged: Vec<(usize, u8)> = merge_by_time(vec![a, b, c])
            .into_iter()
            .map(|(i, f)| (i, f.data[0]))
            .collect();
        assert_eq!(
            merged,
            vec![
                (1, 4),
                (0, 1),
                (0, 2),
                (0, 3),
                (1, 5),
                (2, 7),
                (2, 8),
                (1, 6)
            ]
        );
        assert!(merge_by_time(Vec::new()).is_empty());
    }
}
