//! The differential suite: every fixture in `tests/fixtures`, built with each
//! tree's `bin/cc`, on every requested arch, under every loader in
//! [`LOADERS`]; each run's stdout, stderr and status must equal the manifest's,
//! and under stormless also the reference's. The one exception is stated in the
//! manifest, run by run: a `[run.reference]` outcome where stock musl itself
//! misbehaves (it crashes on malformed objects stormless refuses), with its reason.
//!
//! Environment: `STORMLESS_MUSL` (default 1.2.3), `STORMLESS_ARCHES`
//! (comma-separated, default all). The trees must have been built by
//! `cargo xtask build`; a missing tree fails loudly, it is never skipped.
use anyhow::{bail, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use stormless_tests::build::{self, Built};
use stormless_tests::manifest::{Fixture, Run};
use stormless_tests::{exec, fixtures_dir, syscalls};
use stormless_trees::{Loader, Tree};

/// The loaders whose trees run the fixtures.
const LOADERS: &[Loader] = &[Loader::Reference, Loader::Stormless];

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

fn trials() -> Result<Vec<Trial>> {
    let (version, arches) = stormless_tests::selection()?;
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
    }
    Ok(trials)
}

fn run_fixture(tree: &Tree, fixture: &Fixture) -> Result<()> {
    let built = build::build(tree, fixture)?;
    let mut problems = Vec::new();
    let runs = fixture.manifest.run.iter();
    for run in runs.filter(|r| r.applies_to(tree.version.as_str(), tree.arch.name(), tree.loader.name())) {
        if let Err(e) = check_run(tree, &built, run) {
            problems.push(format!("run `{}`: {e:#}", run.name));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

fn expanded_env(tree: &Tree, built: &Built, run: &Run) -> BTreeMap<String, String> {
    run.env.iter().map(|(k, v)| (k.clone(), built.expand_for(tree, v))).collect()
}

/// What a run executes: the program (or the run's `exe`), or in command mode
/// the tree's loader with the run's `loader` arguments first.
fn command_line(tree: &Tree, built: &Built, run: &Run) -> (std::path::PathBuf, Vec<String>) {
    let args = run.args.iter().map(|a| built.expand_for(tree, a));
    match &run.loader {
        None => (
            run.exe.as_ref().map_or_else(|| built.program.clone(), |e| built.expand_for(tree, e).into()),
            args.collect(),
        ),
        Some(pre) => (tree.ldso(), pre.iter().map(|a| built.expand_for(tree, a)).chain(args).collect()),
    }
}

fn check_run(tree: &Tree, built: &Built, run: &Run) -> Result<()> {
    let (exe, args) = command_line(tree, built, run);
    let env = expanded_env(tree, built, run);
    let mut got = exec::run(tree.arch, &exe, &args, &env)?;
    if run.mask_addresses {
        got.stdout = exec::mask_addresses(&got.stdout);
        got.stderr = exec::mask_addresses(&got.stderr);
    }
    if run.mask_pids {
        got.stderr = exec::mask_durations(&exec::mask_pids(&got.stderr));
    }
    let Some(want) = run.expected(tree.loader == Loader::Reference, &tree.arch.to_string())? else {
        // Stock musl's outcome is undefined here (the manifest says why): it
        // ran to an end, which is all that can be asked of it.
        return Ok(());
    };
    let want_stdout = built.expand_for(tree, want.stdout);
    let mut diffs = Vec::new();
    if got.stdout != want_stdout {
        diffs.push(format!("stdout:\n--- expected\n{want_stdout}--- got\n{}", got.stdout));
    }
    if got.status != want.status {
        diffs.push(format!("status: expected {}, got {} (stderr: {})", want.status, got.status, got.stderr.trim_end()));
    }
    if let Some(want) = want.stderr {
        let want = built.expand_for(tree, want);
        if got.stderr != want {
            diffs.push(format!("stderr:\n--- expected\n{want}--- got\n{}", got.stderr));
        }
    }
    if let (Some(want), Loader::Reference) = (run.syscalls, tree.loader) {
        let scratch = built.out.join(format!("trace-{}", run.name));
        std::fs::create_dir_all(&scratch)?;
        let (counts, _) = syscalls::count(tree.arch, &exe, &args, &env, &scratch)?;
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
