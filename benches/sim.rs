//! Simulated frames per second (of wall time).
//!
//! - `sim/synthetic-4-port-switch`: a 4-port switch fed by four synthetic
//!   unicast generators, no hosts: the `scenarios/synthetic.toml` scenario,
//!   10 ms of virtual time per iteration. Target: >= 5 million/s.
//! - `sim-scale/tree-N-hosts`: a core switch, access switches wired to it,
//!   hosts on them and a server on the core (`scenarios/datacentre.toml` at
//!   100, 1,000 and 10,000 hosts); every host ARPs for the server and pings
//!   it once, the pings spread over 2 of the 3 virtual seconds. The
//!   throughput is frames delivered (put on a wire: to a switch or a host),
//!   so that the cost per delivered frame can be compared across sizes.
//!   Targets: 10,000 hosts in under 3 s; the cost per delivered frame there
//!   within 2x of that at 100 hosts. Each size prints, once, its frames, the
//!   time to build and to run it, and the peak resident memory so far.
//!
//! `cargo bench --bench sim`. Figures go to BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use std::time::{Duration, Instant};
use vswitch_sim::units::Span;
use vswitch_sim::{Scenario, Simulation};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn frames_per_second(c: &mut Criterion) {
    let mut scenario = scenario("synthetic");
    scenario.duration = Span(10_000_000);
    let frames = Simulation::new(&scenario)
        .unwrap()
        .run()
        .unwrap()
        .frames_switched;
    let mut group = c.benchmark_group("sim");
    group.throughput(Throughput::Elements(frames));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("synthetic-4-port-switch", |b| {
        b.iter(|| {
            let mut sim = Simulation::new(&scenario).unwrap();
            sim.run().unwrap().frames_switched
        })
    });
    group.finish();
}

/// The data centre with `access` access switches of `hosts` hosts each.
fn tree(access: usize, hosts: usize) -> Scenario {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/datacentre.toml"),
    )
    .unwrap();
    let text = text
        .replace("count = 100\nuplink", &format!("count = {access}\nuplink"))
        .replace(
            "on = \"access*\"\ncount = 100",
            &format!("on = \"access*\"\ncount = {hosts}"),
        );
    let s = Scenario::from_toml(&text).unwrap();
    assert_eq!(s.hosts.len(), access * hosts + 1);
    s
}

/// Peak resident memory of this process so far, from /proc/self/status.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn at_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim-scale");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (access, hosts) in [(10, 10), (40, 25), (100, 100)] {
        let scenario = tree(access, hosts);
        let started = Instant::now();
        let mut sim = Simulation::new(&scenario).unwrap();
        let built = started.elapsed();
        sim.run_until(sim.end()).unwrap();
        let ran = started.elapsed() - built;
        let report = sim.report();
        let delivered: u64 = report.wires.iter().map(|w| w.frames[0] + w.frames[1]).sum();
        let (answered, pairs) = report.pairs_answered();
        assert_eq!(answered, pairs, "every pair answers");
        eprintln!(
            "{} hosts: {} frames switched, {delivered} delivered; built in {:.3} s, ran in {:.3} s; peak RSS {}",
            scenario.hosts.len(),
            report.frames_switched,
            built.as_secs_f64(),
            ran.as_secs_f64(),
            peak_rss()
        );
        group.throughput(Throughput::Elements(delivered));
        group.bench_function(format!("tree-{}-hosts", access * hosts), |b| {
            b.iter(|| {
                let mut sim = Simulation::new(&scenario).unwrap();
                sim.run().unwrap().frames_switched
            })
        });
    }
    group.finish();
}

criterion_group!(benches, frames_per_second, at_scale);
criterion_main!(benches);
