//! Running a program built for some arch on this x86_64 host: natively, or
//! through qemu-user. The interpreter path in PT_INTERP is absolute, so qemu
//! needs no `-L`. The environment is cleared, so the host's `LD_*` variables
//! never leak in; under qemu the program's variables go through `-E`, so they
//! reach the guest and not qemu's own (glibc) loader.
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use stormless_trees::Arch;

/// Seconds before a run is killed: a hanging loader must fail a test, not CI.
pub const TIMEOUT_SECS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    /// Exit status, or 128+signal as a shell reports it.
    pub status: i32,
}

/// The command that runs `program` for `arch`, wrapped in `timeout`; `tracer`
/// (`strace …`) goes in front of native programs, qemu gets `-strace` instead.
pub fn command(
    arch: Arch,
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    trace: Option<&Path>,
) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
    cmd.args(["-k", "5", &TIMEOUT_SECS.to_string()]);
    match arch.qemu_user() {
        None => {
            if let Some(log) = trace {
                cmd.args(["strace", "-f", "-qq", "-o"]).arg(log);
                cmd.args(["-e", "trace=open,openat,%stat"]);
            }
            cmd.arg(program).args(args).envs(env);
        }
        Some(qemu) => {
            cmd.arg(qemu);
            if trace.is_some() {
                cmd.arg("-strace");
            }
            for (k, v) in env {
                cmd.arg("-E").arg(format!("{k}={v}"));
            }
            cmd.arg(program).args(args);
        }
    }
    cmd
}

pub fn run(arch: Arch, program: &Path, args: &[String], env: &BTreeMap<String, String>) -> Result<Outcome> {
    let out = command(arch, program, args, env, None)
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    Ok(Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: status_code(out.status),
    })
}

pub fn status_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
