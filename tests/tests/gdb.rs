//! The gdb check: a fixture with a chain of libraries, built with each tree's
//! `bin/cc`, run under gdb to `main`; `info sharedlibrary` (and everything
//! else gdb prints) must be the same under stormless' loader as under the
//! reference's once load addresses and the trees' paths are masked, and must
//! list the loader and every library the program loads.
//!
//! x86_64 runs natively; aarch64 and armv7 run under qemu-user's gdb stub with
//! gdb-multiarch (see `stormless_tests::gdb`).
//!
//! Environment: `STORMLESS_MUSL` (default 1.2.3), `STORMLESS_ARCHES`
//! (comma-separated, default all). A missing tree fails, it is never skipped.
use anyhow::{bail, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use stormless_tests::manifest::Fixture;
use stormless_tests::{build, complete_tree, fixtures_dir, gdb, selection};
use stormless_trees::{arch_dir, Arch, Loader, MuslVersion};

/// A program that needs a, which needs b, which needs leaf, each in its own
/// directory: gdb must see libraries loaded for other libraries too.
const FIXTURE: &str = "chain";

fn main() {
    let args = Arguments::from_args();
    let (version, arches) = match selection() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gdb: {e:#}");
            std::process::exit(101);
        }
    };
    let trials = arches
        .into_iter()
        .map(|arch| {
            Trial::test(format!("musl-{version}/{arch}/{FIXTURE}"), move || {
                check(version, arch).map_err(|e| Failed::from(format!("{e:#}")))
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// gdb's output for the fixture under `loader`, normalized, and the
/// normalized paths of the libraries it must list.
fn listing(version: MuslVersion, arch: Arch, loader: Loader, fixture: &Fixture) -> Result<(String, Vec<String>)> {
    let tree = complete_tree(version, arch, loader)?;
    // Not the differential suite's directory: both may run at once.
    let out = arch_dir(version, arch).join("gdb").join(loader.tree_dir()).join(&fixture.name);
    let built = build::build_into(&tree, fixture, &out)?;
    let session = gdb::run_to_main(arch, &built.program)?;
    let paths: [(&Path, &str); 2] = [(&built.out, "@OUT@"), (&tree.root, "@TREE@")];
    let text = gdb::normalize(
        &format!("{}--- stderr\n{}--- status {}\n", session.stdout, session.stderr, session.status),
        &paths,
    );
    let mut expected: Vec<PathBuf> = vec![tree.ldso()];
    expected.extend(build::loaded_libraries(fixture, &built.out));
    let expected = expected.iter().map(|p| gdb::normalize(&p.to_string_lossy(), &paths)).collect();
    Ok((text, expected))
}

fn check(version: MuslVersion, arch: Arch) -> Result<()> {
    let fixture = Fixture::load(&fixtures_dir().join(FIXTURE))?;
    let (reference, expected) = listing(version, arch, Loader::Reference, &fixture)?;
    let (ours, _) = listing(version, arch, Loader::Stormless, &fixture)?;
    let mut problems = Vec::new();
    for (loader, text) in [(Loader::Reference, &reference), (Loader::Stormless, &ours)] {
        let listed = gdb::shared_libraries(text);
        let missing: Vec<&String> = expected.iter().filter(|e| !listed.contains(e)).collect();
        if !missing.is_empty() {
            problems.push(format!("under the {loader} loader gdb does not list {missing:?} (it lists {listed:?})"));
        }
    }
    if reference != ours {
        problems.push("gdb's output differs between the loaders".to_owned());
    }
    if !problems.is_empty() {
        bail!("{}\n--- reference\n{reference}--- ours\n{ours}", problems.join("\n"));
    }
    Ok(())
}
