//! `vswitch sim replay`: capture files through one switch, in capture time.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use vswitch_core::spec::{EvictionSpec, SwitchSpec};
use vswitch_sim::replay::{load_switch_spec, replay_files, ReplayOptions};

/// Feeds capture files into the ports of one switch, merged by timestamp; the
/// capture timestamps are the switch's time. Prints the switch's counters and
/// table at the end.
///
/// Ports are named by `--port NAME=FILE` (and `--idle-port NAME`) and numbered
/// in the order they are first named. Only Ethernet captures can be replayed.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A port and the capture (pcap or pcapng) fed into it. Repeat for more
    /// ports; name a port twice to feed it several files.
    #[arg(long = "port", value_name = "NAME=FILE", required = true, value_parser = parse_port)]
    ports: Vec<(String, PathBuf)>,
    /// A port with nothing fed into it; it still receives what the switch sends.
    #[arg(long = "idle-port", value_name = "NAME")]
    idle_ports: Vec<String>,
    /// The switch configuration: a TOML file with the keys of a switch table
    /// (aging, capacity, [ports.NAME] ...), or a scenario file with one switch.
    #[arg(long, value_name = "FILE.toml", conflicts_with_all = ["hub", "aging", "capacity", "eviction", "vlan_aware", "group_forward_mask"])]
    scenario: Option<PathBuf>,
    /// Behave as a repeater hub: every frame to every other port.
    #[arg(long)]
    hub: bool,
    /// FDB aging time in seconds; 0 learns nothing and floods everything.
    #[arg(long, value_name = "SECS", value_parser = parse_aging)]
    aging: Option<f64>,
    /// Most dynamic FDB entries.
    #[arg(long, value_name = "N")]
    capacity: Option<u32>,
    /// What a full FDB does.
    #[arg(long, value_enum)]
    eviction: Option<Eviction>,
    /// Use VLAN port modes (every port an access port of VLAN 1 unless a
    /// --scenario file says otherwise).
    #[arg(long)]
    vlan_aware: bool,
    /// IEEE link-local groups 01:80:C2:00:00:0X to forward (bit X), e.g. 0x4000 for LLDP.
    #[arg(long, value_name = "MASK", value_parser = parse_mask)]
    group_forward_mask: Option<u16>,
    /// Write what left each port to DIR/port-NAME.pcap (nanosecond pcap).
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,
    /// Print one line per frame: what came in where, and where it went.
    #[arg(long, conflicts_with = "json")]
    trace: bool,
    /// Draw frames per second per port and the FDB size over time as an SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Print the result as one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// `--eviction` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Eviction {
    /// Evict the least recently seen entry of the port with the most entries.
    FairLru,
    /// Stop learning until entries age out.
    StopLearning,
}

fn parse_port(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!("--port takes NAME=FILE, got {text:?}")),
    }
}

fn parse_aging(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(secs),
        _ => Err(format!("--aging takes seconds (0 or more), got {text:?}")),
    }
}

fn parse_mask(text: &str) -> Result<u16, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => text.parse::<u16>(),
    };
    parsed.map_err(|_| {
        format!("--group-forward-mask takes a 16-bit number like 0x4000, got {text:?}")
    })
}

impl ReplayArgs {
    fn spec(&self) -> anyhow::Result<SwitchSpec> {
        if let Some(path) = &self.scenario {
            return Ok(load_switch_spec(path)?);
        }
        let mut spec = SwitchSpec {
            hub: self.hub,
            vlan_aware: self.vlan_aware,
            ..SwitchSpec::default()
        };
        if let Some(aging) = self.aging {
            spec.aging = aging;
        }
        if let Some(capacity) = self.capacity {
            spec.capacity = capacity;
        }
        if let Some(eviction) = self.eviction {
            spec.eviction = match eviction {
                Eviction::FairLru => EvictionSpec::FairLru,
                Eviction::StopLearning => EvictionSpec::StopLearning,
            };
        }
        if let Some(mask) = self.group_forward_mask {
            spec.group_forward_mask = mask;
        }
        Ok(spec)
    }
}

/// Runs `vswitch sim replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let options = ReplayOptions {
        inputs: args.ports.clone(),
        idle_ports: args.idle_ports.clone(),
        spec: args.spec()?,
        capture_dir: args.capture.clone(),
        plot: args.plot.clone(),
        progress: true,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let outcome = if args.trace {
        replay_files(&options, Some(&mut out))?
    } else {
        replay_files(&options, None)?
    };
    if args.json {
        serde_json::to_writer_pretty(&mut out, &outcome.summary)
            .context("cannot write the JSON")?;
        writeln!(out)?;
    } else {
        write!(out, "{}", outcome.summary)?;
        if let Some(dir) = &args.capture {
            writeln!(
                out,
                "captures: {}/port-NAME.pcap for every port",
                dir.display()
            )?;
        }
        if let Some(plot) = &args.plot {
            writeln!(out, "plot: {}", plot.display())?;
        }
    }
    out.flush().context("cannot write to stdout")?;
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReplayArgs,
    }

    fn parse(args: &[&str]) -> Result<ReplayArgs, String> {
        let argv = std::iter::once("replay").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flags_make_a_switch_spec() {
        let a = parse(&[
            "--port",
            "1=a.pcap",
            "--port",
            "up=b.pcapng",
            "--aging",
            "2.5",
            "--capacity",
            "64",
            "--eviction",
            "stop-learning",
            "--group-forward-mask",
            "0x4000",
            "--vlan-aware",
        ])
        .unwrap();
        assert_eq!(a.ports[1], ("up".to_string(), PathBuf::from("b.pcapng")));
        let spec = a.spec().unwrap();
        assert_eq!(spec.aging, 2.5);
        assert_eq!(spec.capacity, 64);
        assert_eq!(spec.eviction, EvictionSpec::StopLearning);
        assert_eq!(spec.group_forward_mask, 0x4000);
        assert!(spec.vlan_aware && !spec.hub);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let e = parse(&["--port", "x"]).unwrap_err();
        assert!(e.contains("--port takes NAME=FILE, got \"x\""), "{e}");
        let e = parse(&["--port", "1=a", "--aging=-1"]).unwrap_err();
        assert!(e.contains("--aging takes seconds"), "{e}");
        let e = parse(&["--port", "1=a", "--group-forward-mask", "0x10000"]).unwrap_err();
        assert!(e.contains("16-bit number"), "{e}");
        assert!(parse(&["--port", "1=a", "--scenario", "s.toml", "--hub"]).is_err());
        assert!(parse(&["--port", "1=a", "--trace", "--json"]).is_err());
        assert!(parse(&[]).is_err());
    }
}
