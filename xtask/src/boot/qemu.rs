//! One boot under qemu-system, and its verdict from the console log.
//!
//! TCG only (KVM does not work on these machines), one CPU, 256 MiB, no
//! network, no reboot (`poweroff -f` or a panic ends qemu), inside `timeout`.
//! qemu's exit status says nothing about the guest — a dead `/init` panics the
//! kernel, and qemu still exits 0 — so the verdict comes from the markers
//! `qemu/boot.sh` prints, only.
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use stormless_trees::Arch;

/// Seconds one boot may take, kernel start to power-off (each takes well
/// under a minute: the margin is for a loaded machine).
pub const TIMEOUT_SECS: u64 = 240;

const DONE: &str = "STORMLESS-BOOT-DONE";
const FAIL: &str = "STORMLESS-TEST FAIL ";
const STATS: &str = "STORMLESS-STATS ";

/// The qemu command line booting `kernel` with `initramfs` on `arch`.
pub fn command(arch: Arch, kernel: &Path, initramfs: &Path) -> Command {
    // Debian's cloud kernel has the 8250 serial console built in; the arm
    // kernels the PL011 of qemu's `virt` board, whose device tree qemu makes.
    let (qemu, machine, console): (&str, &[&str], &str) = match arch {
        Arch::X86_64 => ("qemu-system-x86_64", &["-M", "pc", "-vga", "none"], "ttyS0"),
        Arch::Aarch64 => ("qemu-system-aarch64", &["-M", "virt", "-cpu", "cortex-a57"], "ttyAMA0"),
        // highmem=off: the 32-bit kernel cannot reach the high PCI window.
        Arch::Armv7 => ("qemu-system-arm", &["-M", "virt,highmem=off"], "ttyAMA0"),
    };
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", &TIMEOUT_SECS.to_string(), qemu]).args(machine);
    cmd.args(["-accel", "tcg", "-smp", "1", "-m", "256", "-no-reboot", "-nic", "none"]);
    cmd.args(["-display", "none", "-monitor", "none", "-serial", "stdio"]);
    cmd.arg("-kernel").arg(kernel).arg("-initrd").arg(initramfs);
    // panic=-1: a kernel panic (init died) reboots at once, which ends qemu.
    cmd.args(["-append", &format!("console={console} panic=-1 quiet")]);
    cmd
}

/// Run `cmd` with its console (and qemu's own messages) going to `log`.
pub fn boot(mut cmd: Command, log: &Path) -> Result<(std::process::ExitStatus, Duration)> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let started = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .context("boot: cannot start qemu (`cargo xtask setup` installs qemu-system-x86 and qemu-system-arm)")?;
    Ok((status, started.elapsed()))
}

/// What the console log says.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    pub passed: usize,
    /// The `STORMLESS-STATS` reports, without the prefix.
    pub stats: Vec<String>,
}

/// Judge a console log: the final marker must be there, report no failure
/// and as many passes as the image holds tests. The error names the log.
pub fn judge(console: &str, tests: usize, log: &Path) -> Result<Verdict, String> {
    // The serial console may end lines with CR.
    let lines: Vec<&str> = console.lines().map(|l| l.trim_end_matches('\r')).collect();
    let failed: Vec<String> = lines.iter().filter_map(|l| l.strip_prefix(FAIL)).map(String::from).collect();
    let stats = lines.iter().filter_map(|l| l.strip_prefix(STATS)).map(String::from).collect();
    let Some(done) = lines.iter().rev().find_map(|l| l.strip_prefix(DONE)) else {
        return Err(format!(
            "the guest never printed its final marker {DONE} ({}); console log: {}",
            last_words(&lines),
            log.display()
        ));
    };
    let number =
        |key: &str| done.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse::<usize>().ok());
    let (Some(passed), Some(failures)) = (number("passed"), number("failed")) else {
        return Err(format!("malformed final marker `{DONE}{done}`; console log: {}", log.display()));
    };
    if failures > 0 || !failed.is_empty() {
        return Err(format!(
            "{failures} of {} in-guest tests failed ({}); console log: {}",
            passed + failures,
            failed.join(", "),
            log.display()
        ));
    }
    if passed != tests {
        return Err(format!(
            "the guest passed {passed} tests, the image holds {tests}; console log: {}",
            log.display()
        ));
    }
    Ok(Verdict { passed, stats })
}

/// The last non-empty console line, to hint at what happened.
fn last_words(lines: &[&str]) -> String {
    match lines.iter().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => format!("its last line: `{}`", line.trim()),
        None => "the console stayed empty".into(),
    }
}

/// `target/stormless/boot/<arch>-<loader>.log`.
pub fn log_path(boot_root: &Path, arch: Arch, loader: &str) -> PathBuf {
    boot_root.join(format!("{arch}-{loader}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "/t/x86_64-ours.log";

    fn judged(console: &str, tests: usize) -> Result<Verdict, String> {
        judge(console, tests, Path::new(LOG))
    }

    #[test]
    fn a_complete_run_passes() {
        let console = "SeaBIOS\r\nSTORMLESS-BOOT-START loader=ours\r\nSTORMLESS-TEST PASS a\r\nSTORMLESS-TEST PASS b\r\n\
                       STORMLESS-STATS notes=no failed_opens=780\r\nSTORMLESS-BOOT-DONE passed=2 failed=0\r\n[ 1.6] reboot: Power down\r\n";
        let v = judged(console, 2).unwrap();
        assert_eq!(v, Verdict { passed: 2, stats: vec!["notes=no failed_opens=780".into()] });
    }

    #[test]
    fn a_missing_marker_names_the_log_and_the_last_line() {
        let err =
            judged("STORMLESS-TEST PASS a\nKernel panic - not syncing: Attempted to kill init!\n", 1).unwrap_err();
        assert!(err.contains("never printed") && err.contains(LOG) && err.contains("Attempted to kill init"), "{err}");
        assert!(judged("", 0).unwrap_err().contains("console stayed empty"));
    }

    #[test]
    fn failures_and_missing_tests_fail() {
        let err =
            judged("STORMLESS-TEST FAIL fixture/tls/default\nSTORMLESS-BOOT-DONE passed=4 failed=1\n", 5).unwrap_err();
        assert!(err.contains("1 of 5") && err.contains("fixture/tls/default") && err.contains(LOG), "{err}");
        let err = judged("STORMLESS-BOOT-DONE passed=3 failed=0\n", 5).unwrap_err();
        assert!(err.contains("passed 3") && err.contains("holds 5"), "{err}");
        assert!(judged("STORMLESS-BOOT-DONE passed=x\n", 0).unwrap_err().contains("malformed"));
    }
}
