//! The exported-ABI check: for every requested arch, stormless' `libc.so`
//! (which is also its `ld-musl-<m>.so.1`) must export exactly what the
//! reference's does — same names, versions, bindings, types, visibilities and
//! data-object sizes — leave the same symbols undefined, and carry the same
//! DT_SONAME and DT_NEEDED. Differences are listed, never allow-listed.
//!
//! Environment: `STORMLESS_MUSL` (default 1.2.3), `STORMLESS_ARCHES`
//! (comma-separated, default all). A missing tree fails, it is never skipped.
//!
//! Beside it, `cc`: the trees' compiler driver answers as a musl gcc (`abi/driver.rs`).
#[path = "abi/driver.rs"]
mod driver;

use anyhow::{bail, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use stormless_tests::abi::{differences, Abi};
use stormless_tests::{complete_tree, selection};
use stormless_trees::{Arch, Loader, MuslVersion, Tree};

fn main() {
    let args = Arguments::from_args();
    let (version, arches) = match selection() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("abi: {e:#}");
            std::process::exit(101);
        }
    };
    let trials = arches
        .into_iter()
        .flat_map(|arch| {
            [
                Trial::test(format!("musl-{version}/{arch}/exports"), move || {
                    check(version, arch).map_err(|e| Failed::from(format!("{e:#}")))
                }),
                Trial::test(format!("musl-{version}/{arch}/cc"), move || {
                    driver::check(version, arch).map_err(|e| Failed::from(format!("{e:#}")))
                }),
            ]
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// The tree's `libc.so`, after checking that its loader is that same file (as
/// in musl, where the interpreter is a symbolic link to `libc.so`).
fn libc_of(tree: &Tree) -> Result<std::path::PathBuf> {
    let libc = tree.lib_dir().join("libc.so");
    let resolve = |p: &std::path::Path| p.canonicalize().with_context(|| format!("cannot resolve {}", p.display()));
    let (ldso, libc_real) = (resolve(&tree.ldso())?, resolve(&libc)?);
    if ldso != libc_real {
        bail!("{} is {}, not the tree's libc.so {}", tree.ldso().display(), ldso.display(), libc_real.display());
    }
    Ok(libc)
}

fn check(version: MuslVersion, arch: Arch) -> Result<()> {
    let reference = libc_of(&complete_tree(version, arch, Loader::Reference)?)?;
    let ours = libc_of(&complete_tree(version, arch, Loader::Stormless)?)?;
    let (want, got) = (Abi::read(&reference)?, Abi::read(&ours)?);
    if want.exports.is_empty() {
        bail!("{} exports nothing: not a musl libc.so", reference.display());
    }
    let diffs = differences(&want, &got);
    if !diffs.is_empty() {
        bail!(
            "{} differences between the exports of\n  reference {}\n  ours      {}\n{}",
            diffs.len(),
            reference.display(),
            ours.display(),
            diffs.join("\n")
        );
    }
    Ok(())
}
