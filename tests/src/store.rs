//! The store (`cargo xtask store`, docs/store.md) from the harness' side:
//! the import check both entry points run, the copy of the store that
//! carries resolution tables, and the loader's share of the failed opens.
//!
//! Tables are embedded into a copy, never into the store itself: the test
//! must stay repeatable and compare the same bytes without and with tables.
//! A plain copy would not do — every RUNPATH (and CPython's prefix) names
//! the store's absolute path, so a copy would still load the original's
//! libraries. [`tabled_copy`] therefore copies `…/<arch>/store` to
//! `…/<arch>/notes`, a path exactly as long, and rewrites that one path in
//! every file (as Nix rewrites store paths of equal length), then runs
//! `stormless embed` over the copy: the copy differs from the store only in
//! that path and the notes.
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{workspace_root, Store};

/// The modules the check imports (the issue's list; numpy and PIL come with
/// the wheels), and what it prints: each library's version as Python sees
/// it, a call through each, and where Python found itself.
pub const IMPORT_SCRIPT: &str = r#"
import ssl, sqlite3, ctypes, lzma, bz2, zlib, decimal, readline, curses, hashlib, sys, sysconfig
print("openssl", ssl.OPENSSL_VERSION)
print("sqlite", sqlite3.sqlite_version, sqlite3.connect(":memory:").execute("select 6*7").fetchone()[0])
print("decimal", decimal.Decimal(1) / decimal.Decimal(7))
print("sha256", hashlib.sha256(b"stormless").hexdigest(), hashlib.new("sha3_256", b"x").hexdigest()[:16])
print("lzma", lzma.decompress(lzma.compress(b"store" * 100)) == b"store" * 100)
print("bz2", bz2.decompress(bz2.compress(b"store" * 100)) == b"store" * 100)
print("zlib", zlib.ZLIB_RUNTIME_VERSION, zlib.crc32(b"stormless"))
print("ctypes", ctypes.CDLL(None).strlen(b"stormless"))
print("readline", readline._READLINE_LIBRARY_VERSION)
print("curses", curses.ncurses_version)
print("ext", sysconfig.get_config_var("EXT_SUFFIX"))
print("prefix", sys.prefix, sys.exec_prefix)
print("path", sys.path)
print("loaded", sorted(m.__file__ for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").endswith(".so")))
"#;

/// What the check's output must contain, so that two loaders failing alike
/// cannot pass.
pub fn import_expectations(stdout: &str, ext_suffix: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for want in [
        "openssl OpenSSL 3.0.20".to_string(),
        "sqlite 3.40.1 42".to_string(),
        "decimal 0.1428571428571428571428571429".to_string(),
        "lzma True".to_string(),
        "bz2 True".to_string(),
        "ctypes 9".to_string(),
        "readline 8.2".to_string(),
        format!("ext {ext_suffix}"),
    ] {
        if !stdout.contains(&want) {
            problems.push(format!("stdout lacks {want:?}"));
        }
    }
    problems
}

/// `…/<arch>/notes`: the tabled copy's root, as long as the store's.
pub fn notes_root(store: &Store) -> PathBuf {
    store.root.with_file_name("notes")
}

/// (Re)make the tabled copy of `store` (without its build directories) and
/// embed tables into every ELF object of it with `target/release/stormless`.
pub fn tabled_copy(store: &Store) -> Result<Store> {
    let copy = Store { root: notes_root(store) };
    let (from, to) = (prefix_bytes(&store.root), prefix_bytes(&copy.root));
    assert_eq!(from.len(), to.len(), "the copy's path must be as long as the store's");
    match fs::remove_dir_all(&copy.root) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", copy.root.display()))
        }
        _ => {}
    }
    fs::create_dir_all(&copy.root)?;
    for entry in fs::read_dir(&store.root)? {
        let entry = entry?;
        if entry.file_name() == "build" || entry.file_name() == "runs" {
            continue;
        }
        let status = Command::new("cp").arg("-a").arg(entry.path()).arg(&copy.root).status()?;
        if !status.success() {
            bail!("cp -a {} {} failed", entry.path().display(), copy.root.display());
        }
    }
    crate::samelength::rewrite_tree(&copy.root, &from, &to)?;
    let cli = workspace_root().join("target/release/stormless");
    // The interpreter loads every extension module and wheel library: names they
    // inherit from its RUNPATH (Pillow's libz.so.1) get entries too.
    let python = copy.root.join(python_package_name(store)?).join("bin/python3.11");
    let out = Command::new(&cli)
        .arg("embed")
        .arg("--loaded-by")
        .arg(&python)
        .arg(&copy.root)
        .output()
        .with_context(|| format!("cannot run {} (cargo build --release -p stormless)", cli.display()))?;
    if !out.status.success() {
        bail!(
            "stormless embed {} failed ({}): {}",
            copy.root.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(copy)
}

/// The Python package's directory name in the store (what its stamp holds).
fn python_package_name(store: &Store) -> Result<PathBuf> {
    let stamp = fs::read_to_string(store.stamp())
        .with_context(|| format!("no complete store at {} (run `cargo xtask store`)", store.root.display()))?;
    match Path::new(stamp.trim()).file_name() {
        Some(name) => Ok(PathBuf::from(name)),
        None => bail!("{}: no package directory in {stamp:?}", store.stamp().display()),
    }
}

/// `<root>/`, the bytes every store path starts with.
fn prefix_bytes(root: &Path) -> Vec<u8> {
    format!("{}/", root.display()).into_bytes()
}

/// A failed `open`/`openat` in a strace (or `qemu -strace`) log, with its path.
pub fn failed_open_paths(log: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in log.lines() {
        let rest = line.trim_start().trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
        if !(rest.starts_with("open(") || rest.starts_with("openat(")) {
            continue;
        }
        let Some((_, result)) = rest.rsplit_once(" = ") else { continue };
        if !result.trim_start().starts_with('-') {
            continue;
        }
        if let Some(path) = rest.split('"').nth(1) {
            paths.push(path.to_string());
        }
    }
    paths
}

/// Whether a failed open is the loader's: a probe for a library name in a
/// search directory (`<dir>/lib….so…`), or musl's path file. Everything
/// else is Python's own probing of `sys.path` and its prefix (landmarks,
/// `pyvenv.cfg`, `python311.zip`, module files), which no table changes.
pub fn is_loader_probe(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let library = name.contains(".so") && !name.contains(".cpython-") && !name.ends_with(".py");
    library || (name.starts_with("ld-musl-") && name.ends_with(".path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_probes_apart_from_python_probes() {
        assert!(is_loader_probe("/s/abc-zlib-1.2.13/lib/libssl.so.3"));
        assert!(is_loader_probe("/etc/ld-musl-x86_64.path"));
        assert!(!is_loader_probe("/s/py/lib/python311.zip"));
        assert!(!is_loader_probe("/s/py/bin/pyvenv.cfg"));
        assert!(!is_loader_probe("/s/py/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-musl.so"));
    }

    #[test]
    fn failed_opens_of_strace_and_qemu_logs() {
        let log = "\
12 open(\"/a/libz.so.1\", O_RDONLY|O_LARGEFILE|O_CLOEXEC) = -1 ENOENT (No such file or directory)
12 open(\"/b/libz.so.1\", O_RDONLY|O_LARGEFILE|O_CLOEXEC) = 3
77 openat(AT_FDCWD,\"/c/libffi.so.8\",O_RDONLY|O_LARGEFILE|O_CLOEXEC) = -1 errno=2 (No such file or directory)
";
        assert_eq!(failed_open_paths(log), ["/a/libz.so.1", "/c/libffi.so.8"]);
    }
}
