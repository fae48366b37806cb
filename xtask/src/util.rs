//! Running commands with clear errors.
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// Print a progress line the way every xtask step does.
pub fn say(msg: impl AsRef<str>) {
    eprintln!("xtask: {}", msg.as_ref());
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run with inherited stdio; fail if it does not exit 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let what = describe(cmd);
    let status = cmd.status().with_context(|| format!("cannot start `{what}`"))?;
    if !status.success() {
        bail!("`{what}` failed ({status})");
    }
    Ok(())
}

/// Run with output sent to `log`; on failure the error quotes the log's last
/// lines so the one error line is enough to act on.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let what = describe(cmd);
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("cannot start `{what}`"))?;
    if !status.success() {
        // The log's tail goes first, as context; the error itself stays one line.
        let text = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(12)..] {
            eprintln!("    | {line}");
        }
        bail!("`{what}` failed ({status}); full log: {}", log.display());
    }
    Ok(())
}

/// Run and return stdout; fail with stderr's last line if it does not exit 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let what = describe(cmd);
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot start `{what}`"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        bail!("`{what}` failed ({}): {last}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Write `contents` to `path` through a temporary file and a rename, so no
/// reader ever sees half a file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-xtask");
    fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot rename onto {}", path.display()))?;
    Ok(())
}

/// Remove a directory tree if it exists.
pub fn remove_dir(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

pub fn jobs() -> String {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).to_string()
}
