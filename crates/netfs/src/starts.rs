//! Cold starts at once: K processes of one command started together, the
//! makespan from the first spawn to the last exit, and what the server did
//! meanwhile.
use crate::counters::Snapshot;
use crate::Mounted;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::Instant;

/// One round: K starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Round {
    pub makespan_us: f64,
    /// The server's operations during the round (all K starts).
    pub ops: Snapshot,
}

/// Run `concurrency` copies of `command` at once, `rounds` times, each with
/// its standard streams on /dev/null; any copy that fails fails the round.
pub fn rounds(view: &Mounted, command: &[OsString], concurrency: usize, rounds: usize) -> Result<Vec<Round>> {
    let (program, args) = command.split_first().context("no command to start")?;
    if concurrency == 0 || rounds == 0 {
        bail!("--concurrency and --rounds must be at least 1");
    }
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let before = view.snapshot();
        let start = Instant::now();
        let mut children = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let child = Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
            children.push(child);
        }
        let mut failure = None;
        for child in children {
            let done = child.wait_with_output()?;
            if !done.status.success() && failure.is_none() {
                failure = Some(format!("{} ({})", String::from_utf8_lossy(&done.stderr).trim_end(), done.status));
            }
        }
        let makespan_us = start.elapsed().as_secs_f64() * 1e6;
        if let Some(why) = failure {
            bail!("round {round}: {} failed under the view: {why}", program.to_string_lossy());
        }
        if view.stopped() {
            bail!("the server stopped during round {round}");
        }
        out.push(Round { makespan_us, ops: view.snapshot().since(&before) });
    }
    Ok(out)
}
