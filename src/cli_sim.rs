//! The simulator's commands: `demo`, `sim run`, `sim replay`.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use vswitch_sim::units::Span;
use vswitch_sim::{Scenario, SimReport, Simulation};

/// The demo: four hosts on one switch, every host pings every other host.
pub const DEMO_SCENARIO: &str = include_str!("../scenarios/demo.toml");

/// Commands that run simulations.
#[derive(Subcommand)]
pub enum SimCommand {
    /// Four hosts 192.168.100.101-104 on one switch ping each other; prints the
    /// FDB and the ping summary.
    Demo(Output),
    /// Simulate switches and hosts in virtual time.
    #[command(subcommand)]
    Sim(Sim),
}

/// `vswitch sim ...`
#[derive(Subcommand)]
pub enum Sim {
    /// Run a scenario file (see scenarios/).
    Run(RunArgs),
    /// Replay a pcap file through a switch.
    Replay(crate::cli_replay::ReplayArgs),
    /// What a scenario's switch would do with a frame at a moment of the
    /// run, and why, rule by rule: `in=PORT src=MAC dst=MAC [vlan=N] [pcp=N]
    /// [type=0x0800]`, or `in=PORT HEX` for a whole frame in hex.
    Explain(ExplainArgs),
}

/// `vswitch sim explain`.
#[derive(Args)]
pub struct ExplainArgs {
    /// The scenario, a TOML file.
    scenario: PathBuf,
    /// The switch (as the scenario names it).
    #[arg(long)]
    switch: String,
    /// The moment of the run (`2s`, `250ms`); the end of the run by default.
    #[arg(long, value_parser = Span::parse)]
    at: Option<Span>,
    /// `in=PORT`, then `src=MAC dst=MAC [vlan=N] [pcp=N] [type=N]` or the frame in hex.
    #[arg(required = true, num_args = 1..)]
    frame: Vec<String>,
    /// Print JSON.
    #[arg(short = 'j', long = "json")]
    json: bool,
}

/// `vswitch sim run`.
#[derive(Args)]
pub struct RunArgs {
    /// The scenario, a TOML file.
    scenario: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the scenario's duration (`10s`, `250ms`).
    #[arg(long, value_parser = Span::parse)]
    duration: Option<Span>,
    #[command(flatten)]
    output: Output,
}

/// What to produce besides the summary.
#[derive(Args)]
pub struct Output {
    /// Print the results as JSON instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Print every row of long lists (switches, ports, hosts, pings) instead
    /// of summarising those of more than 20 rows.
    #[arg(long)]
    full: bool,
    /// Write one pcap file per switch port and per host into DIR.
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,
    /// Print one line per frame crossing a switch (to stderr with --json).
    #[arg(long)]
    trace: bool,
    /// Draw frames per second per port and FDB size over virtual time into an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// Runs a simulator command.
pub fn run(command: SimCommand) -> anyhow::Result<()> {
    match command {
        SimCommand::Demo(output) => demo(&output),
        SimCommand::Sim(Sim::Run(args)) => {
            let mut scenario = Scenario::load(&args.scenario)?;
            if let Some(seed) = args.seed {
                scenario.seed = seed;
            }
            if let Some(d) = args.duration {
                anyhow::ensure!(d.0 > 0, "--duration must be longer than 0");
                scenario.duration = d;
            }
            let report = simulate(&scenario, &args.output)?;
            let full = args.output.full;
            print_report(&report, &args.output, |r| {
                if full {
                    r.full().to_string()
                } else {
                    r.summary().to_string()
                }
            })
        }
        SimCommand::Sim(Sim::Replay(args)) => crate::cli_replay::run(args),
        SimCommand::Sim(Sim::Explain(args)) => explain(&args),
    }
}

/// Runs the scenario to `--at`, then explains the frame on the switch as it
/// is then.
fn explain(args: &ExplainArgs) -> anyhow::Result<()> {
    let req = vswitch_core::FrameRequest::parse(args.frame.iter().map(String::as_str))
        .map_err(anyhow::Error::msg)?;
    let scenario = Scenario::load(&args.scenario)?;
    let mut sim = Simulation::new(&scenario)?;
    let names = sim.switch_names().join(", ");
    let Some(ports) = sim.port_names(&args.switch).map(<[String]>::to_vec) else {
        anyhow::bail!(
            "the scenario has no switch {:?}; it has {names}",
            args.switch
        );
    };
    let Some(port) = sim.port_id(&args.switch, &req.port) else {
        anyhow::bail!(
            "switch {} has no port {:?}; it has {}",
            args.switch,
            req.port,
            ports.join(", ")
        );
    };
    let at = args.at.map_or(sim.end(), |s| s.0);
    anyhow::ensure!(
        at <= sim.end(),
        "--at {} s is after the end of the run ({} s)",
        at as f64 / 1e9,
        sim.end() as f64 / 1e9
    );
    sim.run_until(at)?;
    let sw = sim.switch(&args.switch).context("the switch")?;
    let x = sw.explain(
        vswitch_core::Instant::from_nanos(at),
        port,
        None,
        &req.frame,
    );
    let name = |p: vswitch_core::PortId| {
        ports
            .get(usize::from(p.0))
            .cloned()
            .unwrap_or_else(|| format!("port{p}"))
    };
    let v = vswitch_linux::control::explain_json(&x, &req.port, name);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{v}")?;
    } else {
        for line in vswitch_linux::control::explain_lines(&v) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

fn demo(output: &Output) -> anyhow::Result<()> {
    let scenario = Scenario::from_toml(DEMO_SCENARIO).context("the built-in demo scenario")?;
    let report = simulate(&scenario, output)?;
    print_report(&report, output, demo_summary)
}

/// The demo's output: the FDB (port, MAC, age, and which host that is) and
/// the ping summary.
fn demo_summary(r: &SimReport) -> String {
    let mut out = String::from("Four hosts on switch s1; every host pinged every other host.\n\n");
    for s in &r.switches {
        out += &format!("FDB of {} ({} entries)\n", s.name, s.fdb.entries.len());
        out += &format!(
            "  {:>4}  {:<6} {:<17}  {:>6}  host\n",
            "port", "name", "mac", "age"
        );
        for e in &s.fdb.entries {
            let host = r.hosts.iter().find(|h| h.mac == e.mac);
            let host = host.map_or(String::new(), |h| format!("{} ({})", h.name, h.ip));
            out += &format!(
                "  {:>4}  {:<6} {:<17}  {:>5.1}s  {}\n",
                e.port,
                e.port_name,
                e.mac,
                e.age_ms as f64 / 1000.0,
                host
            );
        }
    }
    out.push('\n');
    let _ = r.fmt_pings(&mut out);
    out
}

fn simulate(scenario: &Scenario, output: &Output) -> anyhow::Result<SimReport> {
    let mut sim = Simulation::new(scenario)?;
    if let Some(dir) = &output.capture {
        sim.capture_to(dir)?;
    }
    if output.trace {
        let out: Box<dyn Write> = if output.json {
            Box::new(std::io::LineWriter::new(std::io::stderr()))
        } else {
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        };
        sim.trace_to(out);
    }
    if output.plot.is_some() {
        sim.record_timeline();
    }
    if std::io::stderr().is_terminal() {
        sim.show_progress();
    }
    let report = sim.run()?;
    if let (Some(path), Some(timeline)) = (&output.plot, sim.timeline()) {
        vswitch_sim::plot::render_svg(timeline, path)
            .with_context(|| format!("plot {}", path.display()))?;
    }
    Ok(report)
}

fn print_report(
    report: &SimReport,
    output: &Output,
    human: impl Fn(&SimReport) -> String,
) -> anyhow::Result<()> {
    let text = if output.json {
        serde_json::to_string_pretty(report)? + "\n"
    } else {
        human(report)
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    if let Some(dir) = &output.capture {
        if !output.json {
            writeln!(stdout, "captures in {}", Path::new(dir).display())?;
        }
    }
    Ok(())
}
