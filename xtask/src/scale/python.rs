//! The real store's Python in the four variants, and the `python-imports`
//! workload's script.
use super::storecopy;
use crate::util::say;
use anyhow::{bail, Result};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{Arch, Loader, MuslVersion, Store};

/// What `python-imports` imports (the issue's list).
pub const WANTED: [&str; 10] =
    ["numpy", "PIL.Image", "ssl", "sqlite3", "ctypes", "decimal", "lzma", "bz2", "readline", "curses"];

/// The `python-imports` script: `imports.py [--excluded=A,B] MODULE…`. A
/// module whose top-level package is not installed (the wheels may not be
/// there yet) is skipped and named as such; `--excluded` names those left
/// out because stock musl cannot import them (it only prints them); every
/// other module must import, or the run fails.
pub const IMPORTS_SCRIPT: &str = r#"import importlib, importlib.util, sys
excluded = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--excluded=")]
imported, skipped = [], []
for name in [a for a in sys.argv[1:] if not a.startswith("--")]:
    if importlib.util.find_spec(name.split(".")[0]) is None:
        skipped.append(name)
        continue
    importlib.import_module(name)
    imported.append(name)
print("imported:", " ".join(imported))
print("skipped (not installed):", " ".join(skipped) or "none")
print("excluded (stock musl fails to import them):", ",".join(excluded) or "none")
"#;

/// The arguments of the imports script for this store: each wanted module
/// that stock musl's Python imports (probed one by one, with a timeout),
/// and the others named as excluded, with how stock musl failed.
pub fn imports_args(stock_python: &Path, script: &Path) -> Result<Vec<String>> {
    let mut args = vec![script.display().to_string()];
    let mut excluded = Vec::new();
    for name in WANTED {
        let out = Command::new("timeout")
            .args(["60", &stock_python.display().to_string(), "-c", &format!("import {name}")])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()?;
        if out.status.success() {
            args.push(name.to_string());
        } else {
            let how = match out.status.code() {
                Some(code) if code > 128 => format!("signal {}", code - 128),
                Some(code) => format!("exit {code}"),
                None => format!("signal {}", out.status.signal().unwrap_or(0)),
            };
            say(format!("bench: stock musl's Python cannot import {name} ({how}): left out of python-imports"));
            excluded.push(format!("{name} ({how})"));
        }
    }
    if !excluded.is_empty() {
        args.insert(1, format!("--excluded={}", excluded.join(",")));
    }
    Ok(args)
}

/// `python3` for each variant, in `Variant::ALL`'s order: the store's
/// reference entry point (stock musl), its sysroot entry point (ours), and
/// the sysroot entry points of the table and floor copies.
pub fn pythons(version: MuslVersion, arch: Arch) -> Result<Vec<PathBuf>> {
    let store = Store::new(version, arch);
    if !store.is_complete() {
        bail!("no complete store at {} (cargo xtask store --arch {arch} --musl {version})", store.root.display());
    }
    storecopy::python_package(&store)?;
    let table = storecopy::table_copy(&store)?;
    let floor = storecopy::floor_copy(&store)?;
    Ok(vec![
        store.python(Loader::Reference),
        store.python(Loader::Stormless),
        table.python(Loader::Stormless),
        floor.python(Loader::Stormless),
    ])
}

/// The store Python's headers, for the pynamic modules.
pub fn include_dir(version: MuslVersion, arch: Arch) -> Result<PathBuf> {
    Ok(storecopy::python_package(&Store::new(version, arch))?.join("include/python3.11"))
}
