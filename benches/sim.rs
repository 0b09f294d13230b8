//! Simulated frames per second (of wall time) through a 4-port switch fed by
//! four synthetic unicast generators, no hosts: the `scenarios/synthetic.toml`
//! scenario, 10 ms of virtual time per iteration. Target: >= 5 million/s.
//!
//! `cargo bench --bench sim`. Figures go to BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use std::time::Duration;
use vswitch_sim::units::Span;
use vswitch_sim::{Scenario, Simulation};

fn synthetic() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/synthetic.toml");
    let mut s = Scenario::load(&path).expect("scenarios/synthetic.toml");
    s.duration = Span(10_000_000);
    s
}

fn frames_per_second(c: &mut Criterion) {
    let scenario = synthetic();
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

criterion_group!(benches, frames_per_second);
criterion_main!(benches);
