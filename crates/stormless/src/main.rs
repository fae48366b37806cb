//! `stormless`, the command line: one subcommand per module of the library (src/lib.rs).
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stormless::{check, embed, explain, install, show};

/// Writes, shows, checks and explains the resolution tables (`.note.nixos.ldcache`) that the
/// stormless dynamic linker reads before it searches. Works on x86_64, aarch64 and armv7 ELF
/// files from any host.
#[derive(Parser)]
#[command(name = "stormless", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Embed(embed::Args),
    Show(show::Args),
    Check(check::Args),
    Explain(explain::Args),
    Install(install::InstallArgs),
    Uninstall(install::UninstallArgs),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let ok = match Cli::parse().command {
        Command::Embed(args) => embed::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Install(args) => install::run_install(&args),
        Command::Uninstall(args) => install::run_uninstall(&args),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Rust ignores SIGPIPE, so `stormless explain … | head` would end in a "Broken pipe" panic
/// when `head` exits; like readelf or ldd, be ended quietly by the signal instead.
fn restore_default_sigpipe() {
    // SAFETY: setting a signal's disposition to its default, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
