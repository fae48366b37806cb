//! The differential harness: C fixtures built with a tree's `bin/cc`, run
//! under the reference musl loader and under stormless' (natively on x86_64,
//! through qemu-user elsewhere), their output compared, their system calls
//! counted.
pub mod abi;
pub mod build;
pub mod derive;
pub mod exec;
pub mod gdb;
pub mod manifest;
pub mod mutate;
pub mod real;
pub mod samelength;
pub mod store;
pub mod suites;
pub mod syscalls;

use std::path::PathBuf;

/// `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    stormless_trees::workspace_root().join("tests").join("fixtures")
}

/// The musl version and arches a test run covers: `STORMLESS_MUSL` (default
/// 1.2.3) and `STORMLESS_ARCHES` (comma-separated, default all).
pub fn selection() -> anyhow::Result<(stormless_trees::MuslVersion, Vec<stormless_trees::Arch>)> {
    use stormless_trees::{Arch, MuslVersion};
    let version = match std::env::var("STORMLESS_MUSL") {
        Ok(v) => v.parse().map_err(anyhow::Error::msg)?,
        Err(_) => MuslVersion::DEFAULT,
    };
    let arches = match std::env::var("STORMLESS_ARCHES") {
        Ok(list) => list.split(',').map(|a| a.parse().map_err(anyhow::Error::msg)).collect::<anyhow::Result<_>>()?,
        Err(_) => Arch::ALL.to_vec(),
    };
    Ok((version, arches))
}

/// `tree`, or an error naming the command that builds it: a missing tree
/// fails a test, it is never skipped.
pub fn complete_tree(
    version: stormless_trees::MuslVersion,
    arch: stormless_trees::Arch,
    loader: stormless_trees::Loader,
) -> anyhow::Result<stormless_trees::Tree> {
    let tree = stormless_trees::Tree::new(version, arch, loader);
    if !tree.is_complete() {
        anyhow::bail!(
            "no complete {} tree at {} (run `cargo xtask build --arch {arch} --musl {version}`)",
            loader.tree_dir(),
            tree.root.display()
        );
    }
    Ok(tree)
}
