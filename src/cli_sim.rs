//! The simulator's commands: `demo`, `sim run`, `sim replay`.

use clap::Subcommand;

/// Commands that run simulations.
#[derive(Subcommand)]
pub enum SimCommand {}

/// Runs a simulator command.
pub fn run(command: SimCommand) -> anyhow::Result<()> {
    match command {}
}
