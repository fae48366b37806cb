//! `stormless`: the command-line tool for resolution tables.
//!
//! The table commands (`embed`, `show`, `check`, `explain`) arrive with the
//! resolution-table issue; until then the tool only identifies itself, so that
//! the build pipeline can install and smoke-test it.
use clap::Parser;

/// Writes, shows, checks and explains the resolution tables
/// (`.note.nixos.ldcache`) that the stormless dynamic linker reads before it
/// searches. Table commands are not available in this build yet.
#[derive(Parser)]
#[command(name = "stormless", version)]
struct Cli {}

fn main() {
    let Cli {} = Cli::parse();
    println!("stormless {}: no table commands in this build yet", env!("CARGO_PKG_VERSION"));
}
