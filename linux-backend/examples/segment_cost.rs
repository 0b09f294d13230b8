//! What cutting a TSO super-frame for a VXLAN port costs: 45 segments of
//! 1398 bytes cut into a send buffer after an 8-byte header, either into a
//! scratch buffer first and then copied (`gso::resolve`, as the port did
//! before) or straight where they are sent from (`gso::resolve_into`); and
//! the checksum of 64 KB by big-endian words (the sum before) and by native
//! words with one swap at the end (`gso::sum` now). Prints the fastest of 40
//! rounds of 300, which a loaded machine disturbs least.
//!
//! `cargo run --release -p vswitch-linux --example segment_cost`
use std::hint::black_box;
use std::time::Instant;
use vswitch_linux::gso;
use vswitch_linux::vnet::{VnetHdr, F_NEEDS_CSUM, GSO_TCPV4};

/// The sum as it was: big-endian 32-bit words, a swap per word.
fn sum_by_be_words(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    // The last bytes (fewer than four) are summed alike either way.
    gso::sum(chunks.remainder(), acc)
}

/// Nanoseconds per call of `f`, over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let (mss, count) = (1398usize, 45usize);
    let payload = mss * count;
    // Ethernet, IPv4 (TCP), TCP with timestamps (32 bytes), payload.
    let mut f = vec![0u8; 66 + payload];
    f[12] = 0x08;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((52 + payload) as u16).to_be_bytes());
    f[23] = 6;
    f[46] = 8 << 4;
    for (i, b) in f[66..].iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4,
        hdr_len: 66,
        gso_size: mss as u16,
        csum_start: 34,
        csum_offset: 16,
    };
    let vxlan = [8u8, 0, 0, 0, 0, 0, 42, 0];
    let mut tx: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut scratch = Vec::new();
    let mut best = [f64::MAX; 4];
    for _ in 0..40 {
        let times = [
            per_call(300, || {
                tx.clear();
                gso::resolve(&f, &hdr, &mut scratch, |seg| {
                    tx.extend_from_slice(&vxlan);
                    tx.extend_from_slice(seg);
                })
                .unwrap();
            }),
            per_call(300, || {
                tx.clear();
                gso::resolve_into(&f, &hdr, &vxlan, &mut tx, |_, _| {}).unwrap();
            }),
            per_call(300, || {
                black_box(sum_by_be_words(black_box(&f[34..]), 0));
            }),
            per_call(300, || {
                black_box(gso::sum(black_box(&f[34..]), 0));
            }),
        ];
        for (b, t) in best.iter_mut().zip(times) {
            *b = b.min(t);
        }
    }
    println!(
        "one 64 KB super-frame, {count} segments: into scratch, then copied {:.0} ns; \
         straight into the send buffer {:.0} ns",
        best[0], best[1]
    );
    println!(
        "checksum of 64 KB: by big-endian words {:.0} ns, by native words {:.0} ns",
        best[2], best[3]
    );
}
