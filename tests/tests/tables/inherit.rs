//! `inherit`: a name a dlopen'ed module reaches only through the program that loads it (musl's
//! needed_by walk; Pillow's `libz.so.1` under the interpreter, docs/wheels.md). Built plain and
//! embedded with `stormless embed --loaded-by PROGRAM --dlopen libmod.so`: both loaders print and
//! open the same as without tables; the reference still fails its 2 opens, ours none. `check`
//! accepts the module's entry given the program and reports it stale without.

use super::{build_variant, fixture, verdict, Notes};
use anyhow::{ensure, Context, Result};
use std::collections::BTreeMap;
use std::process::{Command, Output};
use stormless_tests::build::{lib_dir, Built};
use stormless_tests::syscalls;
use stormless_trees::{workspace_root, Arch, Loader, MuslVersion};

fn stormless(args: &[&std::ffi::OsStr]) -> Result<Output> {
    let cli = workspace_root().join("target/release/stormless");
    ensure!(cli.exists(), "no {} (`cargo xtask build` builds it)", cli.display());
    Command::new(&cli).args(args).output().with_context(|| format!("cannot run {}", cli.display()))
}

/// What one run shows: stdout, exit status, failed opens, the files opened.
type Traced = (String, i32, u64, Vec<String>);

fn traced(arch: Arch, built: &Built) -> Result<Traced> {
    let scratch = built.out.join("trace-inherit");
    std::fs::create_dir_all(&scratch)?;
    let (counts, outcome) = syscalls::count(arch, &built.program, &[], &BTreeMap::new(), &scratch)?;
    Ok((outcome.stdout, outcome.status, counts.failed_opens, counts.opened_under(&built.out)))
}

pub fn inherit(version: MuslVersion, arch: Arch) -> Result<()> {
    let f = fixture("inherit")?;
    let mut problems = Vec::new();
    for loader in Loader::ALL {
        let plain = build_variant(version, arch, loader, &f, Notes::None, "plain")?;
        let noted = build_variant(version, arch, loader, &f, Notes::None, "loaded-by")?;
        let program = noted.program.as_os_str();
        let module = lib_dir(&noted.out, "mod").join("libmod.so");
        let out = stormless(&[
            "embed".as_ref(),
            "--loaded-by".as_ref(),
            program,
            "--dlopen".as_ref(),
            "libmod.so".as_ref(),
            noted.out.as_os_str(),
        ])?;
        ensure!(out.status.success(), "embed --loaded-by: {}", String::from_utf8_lossy(&out.stderr));
        let shown = stormless(&["show".as_ref(), module.as_os_str()])?;
        let zdep = lib_dir(&noted.out, "zdep").join("libzdep.so");
        let want = format!("={}", zdep.display());
        if !String::from_utf8_lossy(&shown.stdout).contains(&want) {
            problems
                .push(format!("{loader}: libmod.so's table lacks {want}:\n{}", String::from_utf8_lossy(&shown.stdout)));
        }
        let given = stormless(&["check".as_ref(), "--loaded-by".as_ref(), program, module.as_os_str()])?;
        if !given.status.success() {
            problems.push(format!("{loader}: check --loaded-by: {}", String::from_utf8_lossy(&given.stdout)));
        }
        let alone = stormless(&["check".as_ref(), module.as_os_str()])?;
        if alone.status.success() || !String::from_utf8_lossy(&alone.stdout).contains("libzdep.so") {
            problems.push(format!("{loader}: check without --loaded-by: {}", String::from_utf8_lossy(&alone.stdout)));
        }
        let (plain_stdout, plain_status, plain_failed, plain_opened) = traced(arch, &plain)?;
        let (noted_stdout, noted_status, noted_failed, noted_opened) = traced(arch, &noted)?;
        if (&noted_stdout, noted_status, &noted_opened) != (&plain_stdout, plain_status, &plain_opened) {
            problems.push(format!(
                "{loader}: with tables the run differs: status {noted_status} vs {plain_status}, opened {noted_opened:?} vs {plain_opened:?}, stdout {noted_stdout:?} vs {plain_stdout:?}"
            ));
        }
        let want_failed = if loader == Loader::Stormless { 0 } else { 2 };
        if plain_failed != 2 || noted_failed != want_failed {
            problems.push(format!(
                "{loader}: failed opens {plain_failed} without tables (want 2), {noted_failed} with (want {want_failed})"
            ));
        }
    }
    verdict(problems)
}
