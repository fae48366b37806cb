//! Fuzzing under libFuzzer (cargo fuzz), for a bounded time per target in `cargo xtask test`; a
//! crash fails the suite, and libFuzzer leaves the input under `<fuzz dir>/artifacts/`.
//!
//! - the resolution-table decoder (`crates/ldcache/fuzz`, issue 4: malformed notes are ignored
//!   safely), seeded with its committed corpus;
//! - the CLI's ELF path (`crates/stormless/fuzz`, issue 15: `ElfImage::parse` and the rewrite
//!   with the invariant it keeps), seeded with real files: every ELF object the suite built
//!   before it runs (the fixtures and the CLI tests' programs of every arch, and the real
//!   programs), gathered at run time rather than committed.
use crate::util::{run, say};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{output_root, workspace_root};

/// The decoder's fuzz targets (`crates/ldcache/fuzz/fuzz_targets/<name>.rs`).
pub const DECODER_TARGETS: &[&str] = &["parse", "notes", "already_validated"];

/// The CLI's fuzz targets (`crates/stormless/fuzz/fuzz_targets/<name>.rs`).
pub const CLI_TARGETS: &[&str] = &["elf_parse", "rewrite"];

/// Fuzzing time per decoder target. With the cold build (about 40 s on 2 cores) the three
/// targets stay within three minutes.
const DECODER_SECONDS: u32 = 40;

/// Fuzzing time per CLI target (issue 15 asks for 60 s).
pub const CLI_SECONDS: u32 = 60;

/// The toolchain cargo fuzz needs (its instrumentation flags are unstable); setup installs it.
/// Pinned to a date, so that a new nightly cannot break cargo-fuzz or the build under CI.
pub const FUZZ_TOOLCHAIN: &str = "nightly-2026-05-19";

pub fn decoder_dir() -> PathBuf {
    workspace_root().join("crates").join("ldcache").join("fuzz")
}

pub fn cli_dir() -> PathBuf {
    workspace_root().join("crates").join("stormless").join("fuzz")
}

pub fn fuzz_decoder() -> Result<()> {
    say(format!("test: fuzzing the resolution-table decoder, {DECODER_SECONDS} s per target"));
    let dir = decoder_dir();
    for target in DECODER_TARGETS {
        fuzz(&dir, target, &[dir.join("corpus").join(target)], DECODER_SECONDS, &[])?;
    }
    Ok(())
}

/// The CLI's targets, for `seconds` each (the suite's bound, or a long documented run), with
/// `extra` libFuzzer flags (`-runs=N`).
pub fn fuzz_cli(seconds: u32, extra: &[String]) -> Result<()> {
    let seeds = gather_elf_seeds()?;
    say(format!(
        "test: fuzzing the CLI's ELF parser and rewrite, {seconds} s per target, from {} real files",
        count(&seeds)?
    ));
    let dir = cli_dir();
    for target in CLI_TARGETS {
        fuzz(&dir, target, std::slice::from_ref(&seeds), seconds, extra)?;
    }
    Ok(())
}

/// Run one target. New inputs go to a scratch corpus under the fuzz build's target directory,
/// so committed seeds stay as they are; later runs on the same machine start from both.
fn fuzz(dir: &Path, target: &str, seeds: &[PathBuf], seconds: u32, extra: &[String]) -> Result<()> {
    let found = dir.join("target").join("corpus").join(target);
    fs::create_dir_all(&found).with_context(|| format!("cannot create {}", found.display()))?;
    run(Command::new("rustup")
        .args(["run", FUZZ_TOOLCHAIN, "cargo", "fuzz", "run"])
        // The fuzzed crates forbid `unsafe` (the CLI's one block restores SIGPIPE in main, which
        // the targets do not run), so AddressSanitizer could only find what bounds checks
        // already catch; without it each target runs about twice as many inputs. Debug
        // assertions keep overflow checks on.
        .args(["--sanitizer", "none", "--debug-assertions", target])
        .arg(&found)
        .args(seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-rss_limit_mb=2048")
        .args(extra)
        .current_dir(dir))
}

/// At most this many seeds: libFuzzer reads them all before it starts mutating.
const MAX_SEEDS: usize = 600;

/// Every ELF file of at most 512 KiB under the build output (fixtures, test programs, real
/// programs, the store; not musl's build directories), up to [`MAX_SEEDS`], copied into one
/// seed directory.
fn gather_elf_seeds() -> Result<PathBuf> {
    let seeds = cli_dir().join("target").join("seeds");
    if seeds.exists() {
        fs::remove_dir_all(&seeds).with_context(|| format!("cannot empty {}", seeds.display()))?;
    }
    fs::create_dir_all(&seeds)?;
    let mut dirs = vec![output_root()];
    let mut copied = 0usize;
    while let Some(dir) = dirs.pop().filter(|_| copied < MAX_SEEDS) {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() && !name.starts_with("build-") && name != "src" && name != "boot" {
                dirs.push(path);
            } else if kind.is_file() && entry.metadata().is_ok_and(|m| m.len() <= 512 * 1024) {
                let is_elf = fs::read(&path).is_ok_and(|b| b.starts_with(b"\x7fELF"));
                if is_elf && copied < MAX_SEEDS {
                    copied += 1;
                    fs::copy(&path, seeds.join(format!("seed-{copied}")))?;
                }
            }
        }
    }
    anyhow::ensure!(copied > 0, "no ELF file under {} to seed the CLI's fuzzers with", output_root().display());
    Ok(seeds)
}

fn count(dir: &Path) -> Result<usize> {
    Ok(fs::read_dir(dir)?.count())
}
