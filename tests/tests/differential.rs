//! The differential suite: every fixture in `tests/fixtures`, built with each
//! tree's `bin/cc`, on every requested arch, under every loader in
//! [`LOADERS`]; each run's stdout, stderr and status must equal the manifest's,
//! and under stormless also the reference's.
//!
//! Environment: `STORMLESS_MUSL` (default 1.2.3), `STORMLESS_ARCHES`
//! (comma-separated, default all). The trees must have been built by
//! `cargo xtask build`; a missing tree fails loudly, it is never skipped.
use anyhow::{bail, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use stormless_tests::build::{self, Built};
use stormless_tests::manifest::{Fixture, Run};
use stormless_tests::{exec, fixtures_dir, syscalls};
use stormless_trees::{Arch, Loader, MuslVersion, Tree};

/// The loaders whose trees run the fixtures. Issue 3 (the Rust loader) adds
/// `Loader::Stormless`; until it can load a program, only the reference runs
/// them and the sysroot is checked by `sysroot_entry_point` below.
const LOADERS: &[Loader] = &[Loader::Reference];

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("differential: {e:#}");
            std::process::exit(101);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}

fn selection() -> Result<(MuslVersion, Vec<Arch>)> {
    let version = match std::env::var("STORMLESS_MUSL") {
        Ok(v) => v.parse().map_err(anyhow::Error::msg)?,
        Err(_) => MuslVersion::DEFAULT,
    };
    let arches = match std::env::var("STORMLESS_ARCHES") {
        Ok(list) => list.split(',').map(|a| a.parse().map_err(anyhow::Error::msg)).collect::<Result<Vec<Arch>>>()?,
        Err(_) => Arch::ALL.to_vec(),
    };
    Ok((version, arches))
}

fn trials() -> Result<Vec<Trial>> {
    let (version, arches) = selection()?;
    let fixtures = std::sync::Arc::new(Fixture::all(&fixtures_dir())?);
    let mut trials = Vec::new();
    for &arch in &arches {
        for loader in Loader::ALL {
            let tree = Tree::new(version, arch, loader);
            if !tree.is_complete() {
                bail!(
                    "no complete {} tree at {} (run `cargo xtask build --arch {arch} --musl {version}`)",
                    loader.tree_dir(),
                    tree.root.display()
                );
            }
        }
        for (i, fixture) in fixtures.iter().enumerate() {
            for &loader in LOADERS {
                let fixtures = fixtures.clone();
                let name = format!("musl-{version}/{arch}/{loader}/{}", fixture.name);
                trials.push(Trial::test(name, move || {
                    run_fixture(&Tree::new(version, arch, loader), &fixtures[i])
                        .map_err(|e| Failed::from(format!("{e:#}")))
                }));
            }
        }
        trials.push(Trial::test(format!("musl-{version}/{arch}/ours/sysroot_entry_point"), move || {
            sysroot_entry_point(version, arch).map_err(|e| Failed::from(format!("{e:#}")))
        }));
    }
    Ok(trials)
}

fn run_fixture(tree: &Tree, fixture: &Fixture) -> Result<()> {
    let built = build::build(tree, fixture)?;
    let mut problems = Vec::new();
    for run in &fixture.manifest.run {
        if let Err(e) = check_run(tree, &built, run) {
            problems.push(format!("run `{}`: {e:#}", run.name));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

fn expanded_env(built: &Built, run: &Run) -> BTreeMap<String, String> {
    run.env.iter().map(|(k, v)| (k.clone(), built.expand(v))).collect()
}

fn check_run(tree: &Tree, built: &Built, run: &Run) -> Result<()> {
    let args: Vec<String> = run.args.iter().map(|a| built.expand(a)).collect();
    let env = expanded_env(built, run);
    let got = exec::run(tree.arch, &built.program, &args, &env)?;
    let want_stdout = built.expand(&run.stdout);
    let mut diffs = Vec::new();
    if got.stdout != want_stdout {
        diffs.push(format!("stdout:\n--- expected\n{want_stdout}--- got\n{}", got.stdout));
    }
    if got.status != run.status {
        diffs.push(format!("status: expected {}, got {} (stderr: {})", run.status, got.status, got.stderr.trim_end()));
    }
    if let Some(want) = &run.stderr {
        let want = built.expand(want);
        if got.stderr != want {
            diffs.push(format!("stderr:\n--- expected\n{want}--- got\n{}", got.stderr));
        }
    }
    if let (Some(want), Loader::Reference) = (run.syscalls, tree.loader) {
        let scratch = built.out.join(format!("trace-{}", run.name));
        std::fs::create_dir_all(&scratch)?;
        let (counts, _) = syscalls::count(tree.arch, &built.program, &args, &env, &scratch)?;
        if want.opens.is_some_and(|n| n != counts.opens) || want.failed_opens.is_some_and(|n| n != counts.failed_opens)
        {
            diffs.push(format!(
                "system calls: expected opens {:?} failed {:?}, counted opens {} failed {}",
                want.opens, want.failed_opens, counts.opens, counts.failed_opens
            ));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        bail!("{}", diffs.join("\n"))
    }
}

/// The sysroot's interpreter is the Rust object, linked by musl's own link
/// line, and relocates itself on this arch — started by the kernel as a
/// program's interpreter (AT_BASE set) and run directly as a command (AT_BASE
/// 0: the base comes from PT_DYNAMIC). Its stage 2 reports, through a pointer
/// that exists only after stage 1's relocations, that it cannot load programs
/// yet. (Issue 3 replaces this trial by running every fixture under
/// `Loader::Stormless`.)
fn sysroot_entry_point(version: MuslVersion, arch: Arch) -> Result<()> {
    let tree = Tree::new(version, arch, Loader::Stormless);
    let hello = Fixture::load(&fixtures_dir().join("hello")).context("the hello fixture")?;
    let built = build::build(&tree, &hello)?;
    let want = "stormless: dynamic linker not implemented yet (see issue 3)\n";
    for (how, program) in [("as interpreter", &built.program), ("as a command", &tree.ldso())] {
        let got = exec::run(arch, program, &[], &BTreeMap::new())?;
        if got.status != 127 || got.stderr != want || !got.stdout.is_empty() {
            bail!("{how}: expected status 127 and stderr {want:?}; got {} and {:?}", got.status, got.stderr);
        }
    }
    Ok(())
}
