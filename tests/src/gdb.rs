//! Running a program under gdb to `main` and reading gdb's `info
//! sharedlibrary`, which gdb builds from the loader's `r_debug` link map (found
//! through the program's DT_DEBUG, updated at `_dl_debug_state`).
//!
//! x86_64 programs run natively under `gdb`. aarch64 and armv7 programs run
//! under qemu-user's gdb stub (`qemu-<arch> -g PORT`) with `gdb-multiarch`
//! attached through `target remote`: qemu-user serves the guest's registers,
//! memory and auxv, so gdb finds the interpreter (PT_INTERP, an absolute host
//! path, hence `set sysroot /`), stops at its `r_brk` and walks the link map
//! exactly as it does for a native process.
use crate::exec::{mask_addresses, status_code, TIMEOUT_SECS};
use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use stormless_trees::Arch;

/// `PATH` for gdb and qemu; the host's environment is not passed on.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What gdb printed on stdout and stderr, and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

/// The gdb commands after the program is started and stopped at `main`.
const AT_MAIN: [&str; 1] = ["info sharedlibrary"];

fn gdb_command(gdb: &str) -> Command {
    let mut cmd = Command::new("timeout");
    // gdb warns on stderr when it finds no cache directory (HOME unset); `-nx`
    // keeps it from reading any init file there.
    cmd.env_clear().env("PATH", PATH).env("HOME", std::env::temp_dir());
    cmd.args(["-k", "5", &TIMEOUT_SECS.to_string(), gdb, "-nx", "-batch"]);
    cmd
}

fn ex(cmd: &mut Command, command: &str) {
    cmd.arg("-ex").arg(command);
}

/// Run `program` (built for `arch`) under gdb to `main`, then `info sharedlibrary`.
pub fn run_to_main(arch: Arch, program: &Path) -> Result<Session> {
    match arch.qemu_user() {
        None => {
            let mut gdb = gdb_command("gdb");
            // The program is started directly, not through $SHELL.
            ex(&mut gdb, "set startup-with-shell off");
            ex(&mut gdb, "break main");
            ex(&mut gdb, "run");
            AT_MAIN.iter().for_each(|c| ex(&mut gdb, c));
            gdb.arg(program);
            finish(gdb.output().context("cannot run gdb")?)
        }
        Some(qemu) => run_under_qemu(qemu, program),
    }
}

fn finish(out: std::process::Output) -> Result<Session> {
    Ok(Session {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: status_code(out.status),
    })
}

/// A TCP port nobody listens on now, for qemu's gdb stub (qemu 7.2's user-mode
/// stub takes only a port number, not a socket path).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run_under_qemu(qemu: &str, program: &Path) -> Result<Session> {
    let port = free_port()?;
    let mut stub = Command::new(qemu)
        .env_clear()
        .env("PATH", PATH)
        .arg("-g")
        .arg(port.to_string())
        .arg(program)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {qemu}"))?;
    let mut gdb = gdb_command("gdb-multiarch");
    // qemu may not listen yet: gdb retries refused connections until this timeout.
    ex(&mut gdb, "set tcp connect-timeout 30");
    // The guest's files are the host's (PT_INTERP and the libraries' paths are
    // absolute host paths); the default `target:` would fetch them through the
    // stub, which qemu-user does not serve.
    ex(&mut gdb, "set sysroot /");
    ex(&mut gdb, &format!("file {}", program.display()));
    ex(&mut gdb, &format!("target remote 127.0.0.1:{port}"));
    ex(&mut gdb, "break main");
    ex(&mut gdb, "continue");
    AT_MAIN.iter().for_each(|c| ex(&mut gdb, c));
    ex(&mut gdb, "kill");
    let session = gdb.output().context("cannot run gdb-multiarch");
    // The stub ends with the killed guest; one that outlives gdb is stopped here.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stub_status = loop {
        if let Some(status) = stub.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            stub.kill()?;
            stub.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let session = finish(session?)?;
    if session.status != 0 {
        let mut qemu_err = String::new();
        if let Some(mut err) = stub.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut qemu_err)?;
        }
        bail!(
            "gdb-multiarch exited with {} ({qemu} {}):\n{}{}\n{qemu}: {}",
            session.status,
            stub_status.map_or_else(|| "was still running".to_owned(), |s| format!("ended with {s}")),
            session.stdout,
            session.stderr,
            qemu_err.trim_end()
        );
    }
    Ok(session)
}

/// `text` with every path in `paths` replaced by its placeholder (in the
/// order given, so list longer paths first), `0x<hex>` masked to `0xADDR`
/// and gdb's `(process <pid>)` to `(process PID)`: what remains must not
/// depend on the tree, the load addresses or the run.
pub fn normalize(text: &str, paths: &[(&Path, &str)]) -> String {
    let mut text = text.to_owned();
    for (path, placeholder) in paths {
        text = text.replace(&*path.to_string_lossy(), placeholder);
    }
    let text = mask_addresses(&text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("(process ") {
        let after = &rest[at + "(process ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..at + "(process ".len()]);
        out.push_str(if digits > 0 { "PID" } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The `Shared Object Library` column of `info sharedlibrary` in `listing`.
pub fn shared_libraries(listing: &str) -> Vec<String> {
    listing
        .lines()
        .skip_while(|l| !(l.starts_with("From") && l.ends_with("Shared Object Library")))
        .skip(1)
        .take_while(|l| l.starts_with("0x") || l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
Breakpoint 1, 0x000000550000072c in main ()
From                To                  Syms Read   Shared Object Library
0x0000005502836660  0x000000550288a83c  Yes (*)     /t/reference/lib/ld-musl-aarch64.so.1
0x00000055028d64a0  0x00000055028d657c  Yes (*)     /f/reference/chain/store/a/liba.so
(*): Shared library is missing debugging information.
[Inferior 1 (process 4242) killed]
";

    #[test]
    fn listing_is_normalized() {
        let got =
            normalize(LISTING, &[(Path::new("/f/reference/chain"), "@OUT@"), (Path::new("/t/reference"), "@TREE@")]);
        assert_eq!(
            got,
            "\
Breakpoint 1, 0xADDR in main ()
From                To                  Syms Read   Shared Object Library
0xADDR  0xADDR  Yes (*)     @TREE@/lib/ld-musl-aarch64.so.1
0xADDR  0xADDR  Yes (*)     @OUT@/store/a/liba.so
(*): Shared library is missing debugging information.
[Inferior 1 (process PID) killed]
"
        );
    }

    #[test]
    fn libraries_are_read_from_the_table() {
        assert_eq!(
            shared_libraries(LISTING),
            ["/t/reference/lib/ld-musl-aarch64.so.1", "/f/reference/chain/store/a/liba.so"]
        );
        assert!(shared_libraries("No shared libraries loaded at this time.\n").is_empty());
    }
}
