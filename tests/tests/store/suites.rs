//! The store's trials with the wheels and the test suites (issue 18 points
//! 3–5): the acceptance import line, and CPython's, numpy's and Pillow's
//! tests compared per test id under the reference, ours, and ours with
//! tables (`stormless_tests::suites` has the suites and the comparison).
//!
//! **The expected difference (point 5).** The wheels' bundled libraries
//! (numpy.libs' libstdc++ and libgcc_s, pillow.libs' libXau, libXdmcp, libmd)
//! use `DT_RELR`, which stock musl 1.2.3 does not apply: importing numpy or
//! PIL.Image segfaults under the 1.2.3 reference. There the reference must
//! crash with SIGSEGV — checked, so the expectation cannot go stale
//! silently — and is reported as such; ours and ours with tables are
//! compared with each other and must pass.
use super::{env, work_dir, ArchStore};
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use stormless_tests::exec::{self, Outcome};
use stormless_tests::suites::{self, Outcomes, Selection};
use stormless_trees::{Arch, Loader, MuslVersion, Store};

/// The issue's acceptance line, then a call into each wheel's libraries.
pub const WHEELS_SCRIPT: &str = r#"
import numpy, PIL.Image, ssl, sqlite3, ctypes, lzma, bz2, zlib, decimal, readline, curses
print("numpy", numpy.__version__, numpy.linalg.det(numpy.array([[2.0, 1.0], [1.0, 3.0]])))
print("fft", numpy.fft.fft([1.0, 0.0, 0.0, 0.0]).real.tolist())
print("pillow", PIL.__version__, PIL.Image.new("RGB", (4, 4), "red").convert("L").getpixel((0, 0)))
"#;

/// What [`WHEELS_SCRIPT`] must print.
const WHEELS_EXPECTED: &[&str] = &["numpy 2.4.6 5.0", "fft [1.0, 1.0, 1.0, 1.0]", "pillow 13.0.0 76"];

/// SIGSEGV, as `exec::status_code` reports a death by signal 11.
const SEGFAULT: i32 = 128 + 11;

/// Whether the arch has the wheels (PyPI has no armv7l numpy or Pillow).
pub fn has_wheels(arch: Arch) -> bool {
    arch != Arch::Armv7
}

/// Whether stock musl's loader of `version` is expected to crash in the
/// wheels (no `DT_RELR` support before musl 1.2.4).
pub fn relr_crash_expected(version: MuslVersion) -> bool {
    version == MuslVersion::V1_2_3
}

const RELR_NOTE: &str = "expected: stock musl 1.2.3 does not apply DT_RELR relocations, which the wheels' \
     bundled libstdc++/libgcc_s (numpy.libs) and libXau/libXdmcp/libmd (pillow.libs) carry";

/// The three runs every comparison has: who, which store, which loader.
fn runs(s: &ArchStore) -> Result<[(&'static str, &Store, Loader); 3]> {
    Ok([
        ("reference", &s.store, Loader::Reference),
        ("ours", &s.store, Loader::Stormless),
        ("ours with tables", s.tabled()?, Loader::Stormless),
    ])
}

/// `-c WHEELS_SCRIPT` under the three: ours and ours with tables print
/// what they must; the reference the same, or under musl 1.2.3 it crashes.
pub fn wheels_import(s: &ArchStore, version: MuslVersion) -> Result<()> {
    let args = vec!["-c".to_string(), WHEELS_SCRIPT.to_string()];
    let mut report = Vec::new();
    for (who, store, loader) in runs(s)? {
        let work = work_dir(s, &format!("wheels-{}", who.replace(' ', "-")))?;
        let out = run(s.arch, store, loader, &args, &work, 120)?;
        if who == "reference" && relr_crash_expected(version) {
            ensure!(
                out.status == SEGFAULT,
                "the reference was expected to crash with SIGSEGV ({RELR_NOTE}), but exited {}: {}{}",
                out.status,
                out.stdout,
                out.stderr
            );
            report.push(format!("reference: SIGSEGV ({RELR_NOTE})"));
            continue;
        }
        let missing: Vec<&&str> = WHEELS_EXPECTED.iter().filter(|w| !out.stdout.contains(**w)).collect();
        ensure!(
            out.status == 0 && missing.is_empty(),
            "{who}: exit status {}, missing {missing:?}\nstdout:\n{}stderr:\n{}",
            out.status,
            out.stdout,
            out.stderr
        );
        report.push(format!("{who}: exit 0, {}", out.stdout.lines().next().unwrap_or("").trim()));
    }
    eprintln!("musl {version} {}: the acceptance import line\n  {}", s.arch, report.join("\n  "));
    Ok(())
}

/// A suite of the store's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Suite {
    Cpython,
    Numpy,
    Pillow,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Cpython => "cpython",
            Suite::Numpy => "numpy",
            Suite::Pillow => "pillow",
        }
    }

    /// Whether the suite needs the wheels (whose imports crash stock 1.2.3).
    fn uses_wheels(self) -> bool {
        self != Suite::Cpython
    }
}

/// One run of `suite`: its outcomes per test id, its own exit status
/// included (`<suite>::exit`), and its wall time.
fn run_suite(s: &ArchStore, suite: Suite, store: &Store, loader: Loader, who: &str) -> Result<(Outcomes, f64)> {
    let selection = Selection::from_env()?;
    let work = work_dir(s, &format!("suite-{}-{}", suite.name(), who.replace(' ', "-")))?;
    let junit = work.join("junit.xml");
    let cpython_tests = match selection {
        Selection::Default => suites::CPYTHON_DEFAULT,
        Selection::Full => suites::CPYTHON_FULL,
    };
    let args = match suite {
        Suite::Cpython => suites::cpython_args(cpython_tests, &junit, 2),
        Suite::Numpy => {
            let packages = suites::numpy_packages(selection, s.arch);
            suites::numpy_args(selection, packages, &junit, &site_packages(store)?)
        }
        Suite::Pillow => vec!["-c".into(), suites::PILLOW_SMOKE.into()],
    };
    let limit = if s.arch.qemu_user().is_some() { 5400 } else { 1800 };
    let started = Instant::now();
    let out = run(s.arch, store, loader, &args, &work, limit)?;
    let seconds = started.elapsed().as_secs_f64();
    fs::write(work.join("stdout.txt"), &out.stdout)?;
    fs::write(work.join("stderr.txt"), &out.stderr)?;
    let mut outcomes = match suite {
        Suite::Pillow => suites::tab_lines(&out.stdout)?,
        _ if junit.is_file() => suites::junit_outcomes(&junit)?,
        _ => Outcomes::new(),
    };
    if suite == Suite::Cpython {
        outcomes.extend(suites::regrtest_modules(&out.stdout, cpython_tests));
    }
    outcomes.insert(format!("{}::exit", suite.name()), out.status.to_string());
    let text: String = outcomes.iter().map(|(id, o)| format!("{id}\t{o}\n")).collect();
    fs::write(work.join("outcomes.txt"), text)?;
    Ok((outcomes, seconds))
}

/// `suite` under the three runs, compared per test id.
pub fn compare(s: &ArchStore, version: MuslVersion, suite: Suite) -> Result<()> {
    let mut results: Vec<(&str, Outcomes)> = Vec::new();
    let mut report =
        vec![format!("musl {version} {}: {} ({:?} selection)", s.arch, suite.name(), Selection::from_env()?)];
    for (who, store, loader) in runs(s)? {
        let (outcomes, seconds) = run_suite(s, suite, store, loader, who)?;
        if who == "reference" && suite.uses_wheels() && relr_crash_expected(version) {
            let status = &outcomes[&format!("{}::exit", suite.name())];
            ensure!(
                *status == SEGFAULT.to_string(),
                "the reference was expected to crash with SIGSEGV ({RELR_NOTE}), but exited {status} ({})",
                suites::tally(&outcomes)
            );
            report.push(format!("  reference: SIGSEGV, {seconds:.0} s ({RELR_NOTE})"));
            continue;
        }
        report.push(format!("  {who}: {}, {seconds:.0} s", suites::tally(&outcomes)));
        results.push((who, outcomes));
    }
    let views: Vec<(&str, &Outcomes)> = results.iter().map(|(w, o)| (*w, o)).collect();
    let (layout, differ) = suites::split_layout_sensitive(suites::differences(&views), suite.name());
    for line in &layout {
        report.push(format!("  LAYOUT-SENSITIVE (docs/store.md, point 7), differs: {line}"));
    }
    let report = report.join("\n");
    eprintln!("{report}");
    let runs_dir = s.store.root.join("runs");
    fs::write(runs_dir.join(format!("suite-{}-{}.txt", suite.name(), s.arch)), format!("{report}\n"))?;
    sane(suite, views[0].1).with_context(|| format!("{} under {}", suite.name(), views[0].0))?;
    ensure!(
        differ.is_empty(),
        "{} test id(s) differ between the loaders (outcomes under {}; the runs' files are in {}):\n{}",
        differ.len(),
        views.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(", "),
        runs_dir.display(),
        differ.join("\n")
    );
    Ok(())
}

/// A run that tested nothing must not pass as "the same under both".
fn sane(suite: Suite, outcomes: &Outcomes) -> Result<()> {
    let passed = outcomes.values().filter(|o| *o == "passed").count();
    let least = match suite {
        Suite::Cpython => 500,
        Suite::Numpy => 500,
        Suite::Pillow => 12,
    };
    if passed < least {
        bail!("only {passed} test ids passed (at least {least} expected): {}", suites::tally(outcomes));
    }
    if suite == Suite::Pillow {
        let failed: Vec<&String> = outcomes.iter().filter(|(_, o)| *o == "failed").map(|(id, _)| id).collect();
        ensure!(failed.is_empty(), "the smoke script's cases failed: {failed:?}");
    }
    Ok(())
}

/// The interpreter's site-packages, where the wheels are: its prefix is
/// what the store's stamp holds.
fn site_packages(store: &Store) -> Result<std::path::PathBuf> {
    let prefix = fs::read_to_string(store.stamp()).with_context(|| format!("reading {}", store.stamp().display()))?;
    Ok(Path::new(prefix.trim()).join("lib/python3.11/site-packages"))
}

/// The entry point of `store` for `loader`, with `args`, in `work`, killed
/// after `limit` seconds.
fn run(arch: Arch, store: &Store, loader: Loader, args: &[String], work: &Path, limit: u32) -> Result<Outcome> {
    let python = store.python(loader);
    let env: BTreeMap<String, String> = env(work);
    let mut cmd = Command::new("timeout");
    cmd.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
    cmd.args(["-k", "10", &limit.to_string()]);
    match arch.qemu_user() {
        None => {
            cmd.arg("env").args(env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        Some(qemu) => {
            cmd.arg(qemu);
            for (k, v) in &env {
                cmd.arg("-E").arg(format!("{k}={v}"));
            }
        }
    }
    let out = cmd
        .arg(&python)
        .args(args)
        .current_dir(work)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let (from, to) = (store.root.to_string_lossy().into_owned(), "@STORE@");
    Ok(Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).replace(&from, to),
        stderr: String::from_utf8_lossy(&out.stderr).replace(&from, to),
        status: exec::status_code(out.status),
    })
}
