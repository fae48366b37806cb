//! Counting a program's file-system system calls (design.md §7): open and
//! openat, their failures, and the stat family. Native programs run under
//! `strace -f`; emulated ones under `qemu-<arch> -strace`, whose log lines
//! have the same `PID name(args) = result` shape. (musl uses `open` on x86_64
//! and arm and `openat` on aarch64, so both are counted as opens.)
use crate::exec::{self, Outcome};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use stormless_trees::Arch;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub opens: u64,
    pub failed_opens: u64,
    pub stats: u64,
    /// Every traced call (of the traced set: everything when the trace is unfiltered).
    pub calls: u64,
    /// Paths that opened successfully, in order.
    pub opened: Vec<String>,
}

impl Counts {
    /// The opened paths, those under `dir` relative to it: builds of one fixture in different
    /// directories compare equal when they opened the same files.
    pub fn opened_under(&self, dir: &Path) -> Vec<String> {
        let prefix = format!("{}/", dir.display());
        self.opened.iter().map(|p| p.strip_prefix(&prefix).unwrap_or(p).to_string()).collect()
    }
}

const STAT_FAMILY: &[&str] =
    &["stat", "lstat", "fstat", "newfstatat", "fstatat64", "stat64", "lstat64", "fstat64", "statx"];

/// One traced call: `(name, first string argument, failed)`.
fn parse_line(line: &str) -> Option<(&str, Option<&str>, bool)> {
    // Strip the leading PID (strace -f -o, and qemu -strace, both print one).
    let rest = line.trim_start();
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
    let open = rest.find('(')?;
    let name = &rest[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let (_, result) = rest.rsplit_once(" = ")?;
    let failed = result.trim_start().starts_with('-');
    let path = rest[open..].split('"').nth(1);
    Some((name, path, failed))
}

pub fn parse(log: &str) -> Counts {
    let mut c = Counts::default();
    for line in log.lines() {
        let Some((name, path, failed)) = parse_line(line) else { continue };
        c.calls += 1;
        match name {
            "open" | "openat" => {
                c.opens += 1;
                if failed {
                    c.failed_opens += 1;
                } else if let Some(p) = path {
                    c.opened.push(p.to_string());
                }
            }
            n if STAT_FAMILY.contains(&n) => c.stats += 1,
            _ => {}
        }
    }
    c
}

/// Run `program` once with tracing and return its counts and outcome (whose
/// stderr, under qemu, also holds the trace).
pub fn count(
    arch: Arch,
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    scratch: &Path,
) -> Result<(Counts, Outcome)> {
    let log = scratch.join("strace.log");
    let _ = std::fs::remove_file(&log);
    let out = exec::command(arch, program, args, env, Some(&log))
        .output()
        .with_context(|| format!("cannot trace {}", program.display()))?;
    let outcome = Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: exec::status_code(out.status),
    };
    let text = match arch.qemu_user() {
        None => std::fs::read_to_string(&log).with_context(|| format!("strace wrote no {}", log.display()))?,
        Some(_) => outcome.stderr.clone(),
    };
    Ok((parse(&text), outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_lines() {
        let log = "\
1234  open(\"/s/1/libs1.so\", O_RDONLY|O_LARGEFILE|O_CLOEXEC) = 3
1234  open(\"/s/1/libs2.so\", O_RDONLY|O_LARGEFILE|O_CLOEXEC) = -1 ENOENT (No such file or directory)
1234  fstat(3, {st_mode=S_IFREG|0755, st_size=14000, ...}) = 0
1234  +++ exited with 0 +++
";
        let c = parse(log);
        assert_eq!((c.opens, c.failed_opens, c.stats, c.calls), (2, 1, 1, 3));
        assert_eq!(c.opened, ["/s/1/libs1.so"]);
    }

    #[test]
    fn qemu_strace_lines_mixed_with_program_stderr() {
        let log = "\
77 openat(AT_FDCWD,\"/s/2/libs1.so\",O_RDONLY|O_LARGEFILE|O_CLOEXEC) = -1 errno=2 (No such file or directory)
77 openat(AT_FDCWD,\"/s/1/libs1.so\",O_RDONLY|O_LARGEFILE|O_CLOEXEC) = 3
77 newfstatat(3,\"\",0x0000005500800000,0x1000) = 0
error: something the program printed (with = signs)
77 write(1,0x4000,6) = 6
";
        let c = parse(log);
        assert_eq!((c.opens, c.failed_opens, c.stats, c.calls), (2, 1, 1, 4));
        assert_eq!(c.opened, ["/s/1/libs1.so"]);
    }
}
