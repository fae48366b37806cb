//! The real store's Python in the four variants, and the `python-imports`
//! workload's script.
use super::storecopy;
use anyhow::{bail, Result};
use std::path::PathBuf;
use stormless_trees::{Arch, Loader, MuslVersion, Store};

/// What `python-imports` imports (the issue's list). A module whose
/// top-level package is not installed (the wheels may not be there yet) is
/// skipped and named as such in the output; one that is installed must
/// import, or the run fails.
pub const IMPORTS_SCRIPT: &str = r#"import importlib, importlib.util
WANTED = ["numpy", "PIL.Image", "ssl", "sqlite3", "ctypes", "decimal", "lzma", "bz2", "readline", "curses"]
imported, skipped = [], []
for name in WANTED:
    if importlib.util.find_spec(name.split(".")[0]) is None:
        skipped.append(name)
        continue
    importlib.import_module(name)
    imported.append(name)
print("imported:", " ".join(imported))
print("skipped (not installed):", " ".join(skipped) or "none")
"#;

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
