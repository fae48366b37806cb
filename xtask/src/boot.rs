//! `cargo xtask boot`: a whole userland started through the loader, on a
//! real kernel, for every arch.
//!
//! The other tests start programs one at a time, under the host's kernel or
//! qemu-user (which runs the guest's system calls inside a host process). A
//! drop-in `ld-musl-<m>.so.1` must also carry a system from its first
//! process: here Debian's own kernel boots under qemu-system (TCG) with an
//! initramfs in which every program — `/init` and `/bin/sh` (busybox), the
//! fixtures, lua, sqlite3 — starts through `/lib/ld-musl-<m>.so.1` and carries
//! the resolution notes of `stormless embed`. Inside, `qemu/boot.sh` runs the
//! fixture suite and the real-program scenarios, reports the failed opens of a
//! store-heavy program with and without notes, and powers off.
//!
//! The same image with the reference loader in `/lib` is the control. Each
//! boot is judged by its console markers only (`qemu.rs`); the console logs
//! stay in `target/stormless/boot/<arch>-<loader>.log`.
//!
//! Parts: `kernel.rs` fetches the kernels, `image.rs` builds the initramfs,
//! `guest_tests.rs` writes the in-guest test lists, `release.rs` installs the release artifact
//! into the image, `qemu.rs` boots and judges.
mod guest_tests;
mod image;
mod kernel;
mod qemu;
mod release;

use crate::util::say;
use anyhow::{bail, Result};
use std::time::Instant;
use stormless_trees::{output_root, Arch, Loader, MuslVersion};

/// `--loader ours|reference|both`.
#[derive(Clone, Debug)]
pub struct LoaderSel(pub Vec<Loader>);

impl std::str::FromStr for LoaderSel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "both" => Ok(LoaderSel(Loader::ALL.to_vec())),
            _ => Loader::ALL
                .into_iter()
                .find(|l| l.name() == s)
                .map(|l| LoaderSel(vec![l]))
                .ok_or_else(|| format!("unknown loader `{s}` (expected ours, reference or both)")),
        }
    }
}

/// Boot every arch of `arches` under each of `loaders`, musl `version`.
/// Every boot is made; then one error lists those that failed.
pub fn run(version: MuslVersion, arches: &[Arch], loaders: &[Loader]) -> Result<()> {
    let started = Instant::now();
    let kernels = kernel::ensure(arches)?;
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (&arch, kernel) in arches.iter().zip(&kernels) {
        let building = Instant::now();
        let image = image::build(version, arch, loaders)?;
        summary.push(format!("{arch} image built in {:.1} s", building.elapsed().as_secs_f64()));
        for variant in &image.variants {
            let log = qemu::log_path(&output_root().join("boot"), arch, variant.loader.name());
            say(format!("boot: {arch} under {} ({}), {} tests", variant.loader, kernel.package, variant.tests));
            let (status, took) = qemu::boot(qemu::command(arch, &kernel.vmlinuz, &variant.initramfs), &log)?;
            let console = String::from_utf8_lossy(&std::fs::read(&log)?).into_owned();
            let what = format!("{arch}/{}", variant.loader);
            match qemu::judge(&console, variant.tests, &log) {
                Ok(verdict) => {
                    say(format!(
                        "boot: {what}: all {} in-guest tests passed in {:.1} s",
                        verdict.passed,
                        took.as_secs_f64()
                    ));
                    for line in &verdict.stats {
                        say(format!("boot: {what}: failed opens of the store program: {line}"));
                    }
                    summary.push(format!("{what} booted and passed in {:.1} s", took.as_secs_f64()));
                }
                Err(why) => {
                    let timed_out = if status.code() == Some(124) { ", qemu timed out" } else { "" };
                    say(format!("boot: {what}: FAILED after {:.1} s{timed_out}: {why}", took.as_secs_f64()));
                    failures.push(format!("{what}: {why}"));
                    summary.push(format!("{what} FAILED after {:.1} s", took.as_secs_f64()));
                }
            }
        }
    }
    say(format!("boot: {} (whole stage {:.0} s)", summary.join("; "), started.elapsed().as_secs_f64()));
    if !failures.is_empty() {
        bail!("boot test failed: {}", failures.join(" | "));
    }
    Ok(())
}
