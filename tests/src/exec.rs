//! Running a program built for some arch on this x86_64 host: natively, or
//! through qemu-user. The interpreter path in PT_INTERP is absolute, so qemu
//! needs no `-L`. The environment is cleared, so the host's `LD_*` variables
//! never leak in; the program's variables never reach the host tools either
//! (`timeout`, `strace`, qemu: all glibc programs, which an `LD_PRELOAD` of a musl
//! library would break): natively they go through `env -i` (or strace's `-E`),
//! under qemu through `-E`, so they reach the guest and not qemu's own loader.
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
/// `PATH` for the tools and the program.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

pub fn command(
    arch: Arch,
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    trace: Option<&Path>,
) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.env_clear().env("PATH", PATH);
    cmd.args(["-k", "5", &TIMEOUT_SECS.to_string()]);
    match arch.qemu_user() {
        None => {
            match trace {
                Some(log) => {
                    cmd.args(["strace", "-f", "-qq", "-o"]).arg(log);
                    cmd.args(["-e", "trace=open,openat,%stat"]);
                    for (k, v) in env {
                        cmd.arg("-E").arg(format!("{k}={v}"));
                    }
                }
                None => {
                    cmd.args(["env", "-i"]).arg(format!("PATH={PATH}"));
                    cmd.args(env.iter().map(|(k, v)| format!("{k}={v}")));
                }
            }
            cmd.arg(program).args(args);
        }
        Some(qemu) => {
            cmd.arg(qemu);
            if trace.is_some() {
                cmd.arg("-strace");
            }
            for (k, v) in env {
                // qemu splits -E at commas; such a value would silently become
                // two assignments (or qemu's usage text).
                assert!(!v.contains(','), "{k}={v}: qemu-user cannot pass a comma in an environment value");
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

/// Every `0x` followed by hex digits becomes `0xADDR` (load addresses in
/// `--list` output differ between loaders and runs).
/// `LD_DEBUG` lines start with the process id, right-aligned, and a tab
/// (glibc's shape): replace it with `PID`.
pub fn mask_pids(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.split_once(":\t") {
            Some((pid, rest)) if !pid.trim().is_empty() && pid.trim().bytes().all(|b| b.is_ascii_digit()) => {
                format!("PID:\t{rest}")
            }
            _ => line.to_string(),
        })
        .collect()
}

/// Durations in `LD_DEBUG=statistics` lines (`1234 us`) → `N us`.
pub fn mask_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" us") {
        let before = &rest[..at];
        let digits = before.bytes().rev().take_while(u8::is_ascii_digit).count();
        out.push_str(&before[..before.len() - digits]);
        if digits > 0 {
            out.push('N');
        }
        out.push_str(" us");
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

pub fn mask_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&rest[..at + 2]);
        if digits > 0 {
            out.push_str("ADDR");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

pub fn status_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn env() -> BTreeMap<String, String> {
        [("LD_PRELOAD".to_string(), "/x/libpre.so".to_string())].into()
    }

    /// The host tools run with `PATH` only; the program's variables are arguments.
    fn check(cmd: &Command, want_arg: &str) {
        let envs: Vec<_> = cmd.get_envs().collect();
        assert_eq!(envs, [(OsStr::new("PATH"), Some(OsStr::new(PATH)))]);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = args.iter().position(|a| a == "LD_PRELOAD=/x/libpre.so").expect("variable passed as an argument");
        assert_eq!(args[at - 1], want_arg, "{args:?}");
        assert!(at < args.iter().position(|a| a == "/p/prog").unwrap(), "{args:?}");
    }

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask_addresses("\tliba.so => /x/liba.so (0x7f37b5dcd000)\n"), "\tliba.so => /x/liba.so (0xADDR)\n");
        assert_eq!(mask_addresses("0x1 0xdeadBEEF,0x 0xg x0x12"), "0xADDR 0xADDR,0x 0xg x0xADDR");
        assert_eq!(mask_addresses("no addresses"), "no addresses");
        assert_eq!(mask_addresses(""), "");
    }

    #[test]
    fn variables_reach_only_the_program() {
        let prog = Path::new("/p/prog");
        check(&command(Arch::X86_64, prog, &[], &env(), None), &format!("PATH={PATH}"));
        check(&command(Arch::X86_64, prog, &[], &env(), Some(Path::new("/t/log"))), "-E");
        check(&command(Arch::Aarch64, prog, &[], &env(), None), "-E");
        let args: Vec<_> =
            command(Arch::X86_64, prog, &["a".into()], &env(), None).get_args().map(|a| a.to_owned()).collect();
        assert_eq!(args.last().unwrap(), "a");
        assert!(args.contains(&"env".into()) && args.contains(&"-i".into()));
    }

    #[test]
    fn pids_and_durations_are_masked() {
        let text = "     12969:\tfind library=a\nplain: line\n  7:\tstatistics: 3 opens, startup 5498 us\n";
        assert_eq!(
            mask_durations(&mask_pids(text)),
            "PID:\tfind library=a\nplain: line\nPID:\tstatistics: 3 opens, startup N us\n"
        );
        assert_eq!(mask_durations("thus us"), "thus us");
    }
}
