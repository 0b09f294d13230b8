//! `vswitch`: one command for the simulator and the real switch.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// `println!` that returns the error instead of panicking when standard
/// output's reader has gone (`vswitch fdb show | head -1`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod cli_linux;
mod cli_replay;
mod cli_sim;

/// Large tables (a big FDB) on transparent huge pages where the kernel has them.
#[global_allocator]
static ALLOC: vswitch_linux::hugepage::HugePageAlloc = vswitch_linux::hugepage::HugePageAlloc;

/// A software Ethernet switch you can read, test, simulate and run on Linux.
#[derive(Parser)]
#[command(name = "vswitch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Sim(cli_sim::SimCommand),
    #[command(flatten)]
    Linux(cli_linux::LinuxCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(c) => cli_sim::run(c),
        Command::Linux(c) => cli_linux::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output went away (`| head`): end quietly, as
        // Unix tools do.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line that says what is wrong (and, where the error knows it, what to do).
            eprintln!("vswitch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// True if `e` comes from writing to a standard output nobody reads any more.
fn closed_pipe(e: &anyhow::Error) -> bool {
    let broken = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    broken && vswitch_linux::sys::stdout_reader_gone()
}
