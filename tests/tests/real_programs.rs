//! Real programs no one here wrote — busybox, lua 5.4 and sqlite3 from Debian
//! bookworm's source packages, built against the sysroot by `cargo xtask real`
//! (`xtask/src/real.rs`) — run under both loaders. For each scenario:
//!
//! - `…/reference/<scenario>`: the reference run shows the content the
//!   scenario expects (so two loaders failing alike cannot pass);
//! - `…/ours/<scenario>`: under stormless, stdout, stderr and exit status of
//!   every step equal the reference's.
//!
//! The scenarios: `stormless_tests::real` (the boot test runs them too);
//! their data: `tests/real/`. Each run works in a fresh directory of its
//! own; in outputs that directory reads `@WORK@` and the loader's `bin/`
//! directory `@BIN@` (lua prints its `argv[0]`). Environment: `STORMLESS_MUSL`,
//! `STORMLESS_ARCHES`, as for the differential suite.
use anyhow::{bail, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use stormless_tests::exec::{self, Outcome};
use stormless_tests::real::{data_dir, describe, expectations, Scenario, SCENARIOS};
use stormless_trees::{Arch, Loader, MuslVersion, RealPrograms, Tree};

/// What the scenarios of one arch share: the programs, and the Lua C module
/// built (once, on first use) with the sysroot's compiler.
struct ArchPrograms {
    version: MuslVersion,
    arch: Arch,
    real: RealPrograms,
    cmod: OnceLock<Result<PathBuf, String>>,
}

impl ArchPrograms {
    fn cmod_dir(&self) -> Result<PathBuf> {
        self.cmod.get_or_init(|| build_cmod(self).map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
    }
}

fn build_cmod(programs: &ArchPrograms) -> Result<PathBuf> {
    let tree = Tree::new(programs.version, programs.arch, Loader::Stormless);
    let dir = programs.real.root.join("runs").join("cmod");
    stormless_tests::real::build_lua_module(&tree, &programs.real, &dir)?;
    Ok(dir)
}

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("real_programs: {e:#}");
            std::process::exit(101);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}

fn trials() -> Result<Vec<Trial>> {
    let (version, arches) = stormless_tests::selection()?;
    let mut trials = Vec::new();
    for arch in arches {
        for loader in Loader::ALL {
            stormless_tests::complete_tree(version, arch, loader)?;
        }
        let real = RealPrograms::new(version, arch);
        if !real.is_complete() {
            bail!(
                "no complete real programs at {} (run `cargo xtask real --arch {arch} --musl {version}`)",
                real.root.display()
            );
        }
        let programs = Arc::new(ArchPrograms { version, arch, real, cmod: OnceLock::new() });
        for (i, scenario) in SCENARIOS.iter().enumerate() {
            for loader in Loader::ALL {
                let programs = programs.clone();
                let name = format!("musl-{version}/{arch}/{loader}/{}", scenario.name);
                let trial = Trial::test(name, move || {
                    check(&programs, &SCENARIOS[i], loader).map_err(|e| Failed::from(format!("{e:#}")))
                });
                trials.push(trial);
            }
        }
    }
    Ok(trials)
}

/// The reference trial checks the expected content; the stormless trial
/// runs both loaders and compares every step.
fn check(programs: &ArchPrograms, scenario: &Scenario, trial: Loader) -> Result<()> {
    let reference = run_scenario(programs, scenario, trial, Loader::Reference)?;
    let mut problems = Vec::new();
    for (step, got) in scenario.steps.iter().zip(&reference) {
        problems.extend(expectations(step, got).into_iter().map(|p| format!("reference: {}: {p}", describe(step))));
    }
    if trial == Loader::Stormless {
        let ours = run_scenario(programs, scenario, trial, Loader::Stormless)?;
        for ((step, want), got) in scenario.steps.iter().zip(&reference).zip(&ours) {
            problems.extend(differences(want, got).into_iter().map(|p| format!("ours: {}: {p}", describe(step))));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

/// Runs every step of `scenario` under `loader` in a fresh working directory
/// (per trial and loader, as trials run in parallel).
fn run_scenario(programs: &ArchPrograms, scenario: &Scenario, trial: Loader, loader: Loader) -> Result<Vec<Outcome>> {
    let work = programs.real.root.join("runs").join(trial.name()).join(loader.name()).join(scenario.name);
    match fs::remove_dir_all(&work) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot clear {}", work.display()))
        }
        _ => {}
    }
    fs::create_dir_all(&work)?;
    if let Some(prepare) = scenario.prepare {
        prepare(&work).with_context(|| format!("cannot prepare {}", work.display()))?;
    }
    let bin = programs.real.bin_dir(loader);
    let env: BTreeMap<String, String> = [
        ("PATH", bin.to_string_lossy().into_owned()),
        ("HOME", work.to_string_lossy().into_owned()),
        ("TZ", "UTC0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut outcomes = Vec::new();
    for step in scenario.steps {
        let mut args = Vec::new();
        for arg in step.args {
            let mut arg = arg.replace("@DATA@", &data_dir().to_string_lossy());
            if arg.contains("@CMOD@") {
                arg = arg.replace("@CMOD@", &programs.cmod_dir()?.to_string_lossy());
            }
            args.push(arg);
        }
        let program = bin.join(step.program);
        let out = exec::command(programs.arch, &program, &args, &env, None)
            .current_dir(&work)
            .output()
            .with_context(|| format!("cannot run {}", program.display()))?;
        let mask = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .replace(&*work.to_string_lossy(), "@WORK@")
                .replace(&*bin.to_string_lossy(), "@BIN@")
        };
        outcomes.push(Outcome {
            stdout: mask(&out.stdout),
            stderr: mask(&out.stderr),
            status: exec::status_code(out.status),
        });
    }
    Ok(outcomes)
}

fn differences(reference: &Outcome, ours: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if ours.status != reference.status {
        problems.push(format!("exit status {} (reference {})", ours.status, reference.status));
    }
    for (stream, want, got) in
        [("stdout", &reference.stdout, &ours.stdout), ("stderr", &reference.stderr, &ours.stderr)]
    {
        if want != got {
            problems.push(format!("{stream} differs:\n--- reference\n{want}--- ours\n{got}"));
        }
    }
    problems
}
