//! `vswitch capture`: what a running switch sends out of one port, as pcap.

use crate::control::{self, Request};
use crate::error::{Error, Result};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Streams the frames switch `name` sends out of `port` into `out` as pcap,
/// until the switch goes away, the port is removed, `limit` frames were
/// written, or writing fails (the reader of a pipe went away).
pub fn capture(name: &str, port: &str, out: impl Write, limit: Option<u64>) -> Result<u64> {
    let mut stream = control::stream(
        name,
        Request::Capture {
            port: port.to_string(),
        },
    )?;
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 65535,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Flushing(out), header).map_err(|e| match e {
        // A closed pipe stays an I/O error, which the CLI ends quietly on.
        pcap_file::PcapError::IoError(io) => Error::io("writing the pcap header", io),
        e => Error::Command(format!("pcap: {e}")),
    })?;
    // Frame times are relative to the switch's start; anchor them on the wall
    // clock at the first frame.
    let mut base: Option<(u64, Duration)> = None;
    let mut count = 0;
    let mut head = [0u8; 12];
    let mut frame = Vec::new();
    while limit.is_none_or(|l| count < l) {
        if stream.read_exact(&mut head).is_err() {
            break;
        }
        let ts = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(head[8..].try_into().unwrap_or_default()) as usize;
        frame.resize(len, 0);
        if stream.read_exact(&mut frame).is_err() {
            break;
        }
        let (t0, wall0) = *base.get_or_insert_with(|| {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            (ts, wall)
        });
        let when = wall0 + Duration::from_nanos(ts.saturating_sub(t0));
        let packet = PcapPacket::new(when, len as u32, &frame);
        if writer.write_packet(&packet).is_err() {
            break;
        }
        count += 1;
    }
    Ok(count)
}

/// Flushes after every write, so that each frame reaches a pipe at once.
struct Flushing<W: Write>(W);

impl<W: Write> Write for Flushing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.0.flush()?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
