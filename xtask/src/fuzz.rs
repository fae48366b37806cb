//! The resolution-table decoder under libFuzzer (`crates/ldcache/fuzz`, issue 4: malformed
//! notes are ignored safely). `cargo xtask test` runs each target for a bounded time; a crash
//! fails the suite, and libFuzzer leaves the input under `crates/ldcache/fuzz/artifacts/`.
use crate::util::{run, say};
use anyhow::{Context, Result};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use stormless_trees::workspace_root;

/// The fuzz targets (`crates/ldcache/fuzz/fuzz_targets/<name>.rs`).
pub const TARGETS: &[&str] = &["parse", "notes", "already_validated"];

/// Fuzzing time per target. With the cold build (about 40 s on 2 cores) the three targets
/// stay within three minutes.
const SECONDS_PER_TARGET: u32 = 40;

/// The toolchain cargo fuzz needs (its instrumentation flags are unstable); setup installs it.
/// Pinned to a date, so that a new nightly cannot break cargo-fuzz or the build under CI.
pub const FUZZ_TOOLCHAIN: &str = "nightly-2026-05-19";

pub fn fuzz_dir() -> PathBuf {
    workspace_root().join("crates").join("ldcache").join("fuzz")
}

pub fn fuzz_decoder() -> Result<()> {
    say(format!("test: fuzzing the resolution-table decoder, {SECONDS_PER_TARGET} s per target"));
    let dir = fuzz_dir();
    for target in TARGETS {
        // New inputs go to a scratch corpus under the fuzz build's target directory, so the
        // committed seeds stay as they are; later runs on the same machine start from both.
        let found = dir.join("target").join("corpus").join(target);
        fs::create_dir_all(&found).with_context(|| format!("cannot create {}", found.display()))?;
        run(Command::new("rustup")
            .args(["run", FUZZ_TOOLCHAIN, "cargo", "fuzz", "run"])
            // The fuzzed crates forbid `unsafe`, so AddressSanitizer could only find what bounds
            // checks already catch; without it each target runs about twice as many inputs.
            // Debug assertions keep overflow checks on.
            .args(["--sanitizer", "none", "--debug-assertions", target])
            .arg(&found)
            .arg(dir.join("corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={SECONDS_PER_TARGET}"))
            .arg("-rss_limit_mb=2048")
            .current_dir(&dir))?;
    }
    Ok(())
}
