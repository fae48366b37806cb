//! `netfs`: the network-filesystem model's command.
//!
//! - `netfs run --source DIR [--latency-us N] [--threads T] [--concurrency K] [--rounds R] -- COMMAND…`
//!   enters a private mount namespace, serves DIR at its own path, starts K
//!   copies of COMMAND at once R times, unmounts, and prints one JSON object:
//!   the model, and per round the makespan and the server's operations.
//! - `netfs serve --source DIR --at MOUNTPOINT [--latency-us N] [--threads T]`
//!   serves in the caller's namespace until SIGINT/SIGTERM/SIGHUP (or an
//!   unmount from outside), then unmounts and prints the counts as JSON. A
//!   server killed with SIGKILL leaves its mount behind ("Transport endpoint
//!   is not connected"): `umount -l MOUNTPOINT` removes it.
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;
use stormless_netfs::{mount, namespace, starts, Model};

#[derive(Parser)]
#[command(name = "netfs", about = "A read-only FUSE view of a directory with a network round trip per operation")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args)]
struct ModelArgs {
    /// The directory to serve.
    #[arg(long)]
    source: PathBuf,
    /// Latency added to every operation, in microseconds.
    #[arg(long, default_value_t = 200)]
    latency_us: u64,
    /// Server threads answering at once.
    #[arg(long, default_value_t = 8)]
    threads: usize,
}

impl ModelArgs {
    fn model(&self) -> Model {
        Model { latency: Duration::from_micros(self.latency_us), threads: self.threads }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve SOURCE at its own path in a private mount namespace and time cold starts of COMMAND.
    Run {
        #[command(flatten)]
        model: ModelArgs,
        /// Processes started at once per round.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// Serve SOURCE at MOUNTPOINT in this namespace until interrupted.
    Serve {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long)]
        at: PathBuf,
    },
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("netfs: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Run { model, concurrency, rounds, command } => {
            // First, while this process has one thread.
            namespace::enter_private()?;
            let source = model.source.canonicalize().with_context(|| format!("no {}", model.source.display()))?;
            let view = mount(&source, &source, model.model())?;
            let measured = starts::rounds(&view, &command, concurrency, rounds);
            // Unmount before reporting, whatever happened to the starts.
            let total = view.finish();
            let measured = measured?;
            let total = total?;
            let json = serde_json::json!({
                "latency_us": model.latency_us,
                "threads": model.threads,
                "concurrency": concurrency,
                "rounds": measured,
                "total": total,
            });
            println!("{json}");
            Ok(())
        }
        Cmd::Serve { model, at } => {
            let signals = blocked_stop_signals()?;
            let view = mount(&model.source, &at, model.model())?;
            eprintln!("netfs: serving {} at {} (Ctrl-C stops)", model.source.display(), at.display());
            while !view.stopped() {
                // SAFETY: a valid signal set; a 100 ms timeout.
                let timeout = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };
                if unsafe { libc::sigtimedwait(&signals, std::ptr::null_mut(), &timeout) } > 0 {
                    break;
                }
            }
            let total = view.finish()?;
            println!("{}", serde_json::to_string(&total)?);
            Ok(())
        }
    }
}

/// Block SIGINT, SIGTERM and SIGHUP in this thread (the server's threads
/// inherit the mask), to take them with sigtimedwait: a stop signal then
/// unmounts instead of killing the process with its mount in place.
fn blocked_stop_signals() -> Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            bail!("cannot block the stop signals");
        }
        Ok(set)
    }
}
