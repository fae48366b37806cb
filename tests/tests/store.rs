//! The store (`cargo xtask store`, docs/store.md): CPython 3.11 and its C
//! libraries, Nix-style, each in a directory of its own reached through
//! RUNPATH. Per arch (`STORMLESS_MUSL`, `STORMLESS_ARCHES`, as for the
//! differential suite):
//!
//! - `import/reference`: stock musl's entry point runs the import check
//!   (`stormless_tests::store::IMPORT_SCRIPT`) and prints what it must;
//! - `import/ours`: ours prints the same, byte for byte, with the same status;
//! - `tables/ours`, `tables/reference`: both entry points of the copy that
//!   carries resolution tables (`stormless embed`; `tabled_copy` says why a
//!   copy, and how) print the same again, the copy's path read as the store's;
//! - `opens`: under strace, ours opens the same files without and with
//!   tables, and with tables the loader's failed opens are 0 (Python's own
//!   probing of `sys.path` is counted apart); the counts go to stderr and to
//!   `store/runs/opens-<arch>.txt`; `opens/wheels` the same for the
//!   acceptance import line (numpy and PIL.Image too);
//! - `wheels/import`, `suites/{cpython,numpy,pillow}`: the wheels and the
//!   test suites compared per test id (`suites.rs`).
#[path = "store/suites.rs"]
mod suites;

use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use stormless_tests::exec::{self, Outcome};
use stormless_tests::store::{failed_open_paths, import_expectations, is_loader_probe, tabled_copy, IMPORT_SCRIPT};
use stormless_tests::syscalls;
use stormless_trees::{Arch, Loader, MuslVersion, Store};
use suites::Suite;

struct ArchStore {
    arch: Arch,
    store: Store,
    tabled: OnceLock<Result<Store, String>>,
}

impl ArchStore {
    fn tabled(&self) -> Result<&Store> {
        self.tabled
            .get_or_init(|| tabled_copy(&self.store).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("store: {e:#}");
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
        let store = Store::new(version, arch);
        if !store.is_complete() {
            bail!(
                "no complete store at {} (run `cargo xtask store --arch {arch} --musl {version}`)",
                store.root.display()
            );
        }
        let s = Arc::new(ArchStore { arch, store, tabled: OnceLock::new() });
        let prefix = format!("musl-{version}/{arch}/store");
        let mut add = |name: &str, f: fn(&ArchStore, MuslVersion) -> Result<()>| {
            let s = s.clone();
            trials.push(Trial::test(format!("{prefix}/{name}"), move || {
                f(&s, version).map_err(|e| Failed::from(format!("{e:#}")))
            }));
        };
        add("import/reference", import_reference);
        add("import/ours", import_ours);
        add("tables/ours", |s, _| tables(s, Loader::Stormless));
        add("tables/reference", |s, _| tables(s, Loader::Reference));
        add("opens", |s, v| opens(s, v, Opens::ImportCheck));
        add("suites/cpython", |s, v| suites::compare(s, v, Suite::Cpython));
        if suites::has_wheels(arch) {
            add("wheels/import", suites::wheels_import);
            add("opens/wheels", |s, v| opens(s, v, Opens::Wheels));
            add("suites/numpy", |s, v| suites::compare(s, v, Suite::Numpy));
            add("suites/pillow", |s, v| suites::compare(s, v, Suite::Pillow));
        }
    }
    Ok(trials)
}

fn env(work: &Path) -> BTreeMap<String, String> {
    [
        ("HOME", work.to_string_lossy().into_owned()),
        ("TERM", "dumb".into()),
        ("LC_ALL", "C".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("PYTHONNOUSERSITE", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn work_dir(s: &ArchStore, name: &str) -> Result<std::path::PathBuf> {
    let work = s.store.root.join("runs").join(name);
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    Ok(work)
}

/// The import check under `loader`'s entry point of `store`, its output
/// with `store`'s root read as `as_root`.
fn run_import(s: &ArchStore, store: &Store, loader: Loader, work: &Path) -> Result<Outcome> {
    let args = vec!["-c".to_string(), IMPORT_SCRIPT.to_string()];
    let mut out = exec::command(s.arch, &store.python(loader), &args, &env(work), None)
        .current_dir(work)
        .output()
        .with_context(|| format!("cannot run {}", store.python(loader).display()))
        .map(|o| Outcome {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            status: exec::status_code(o.status),
        })?;
    let (from, to) = (store.root.to_string_lossy().into_owned(), s.store.root.to_string_lossy().into_owned());
    out.stdout = out.stdout.replace(&from, &to);
    out.stderr = out.stderr.replace(&from, &to);
    Ok(out)
}

/// The reference's run of the import check, checked against what it must
/// print; `trial` names the working directory (trials run in parallel).
fn reference_outcome(s: &ArchStore, trial: &str) -> Result<Outcome> {
    let work = work_dir(s, &format!("{trial}-reference"))?;
    let out = run_import(s, &s.store, Loader::Reference, &work)?;
    let mut problems = import_expectations(&out.stdout, &format!(".cpython-311-{}.so", s.arch.musl_triple()));
    if out.status != 0 {
        problems.push(format!("exit status {}; stderr:\n{}", out.status, out.stderr));
    }
    ensure!(problems.is_empty(), "reference: {}\nstdout:\n{}", problems.join("\n"), out.stdout);
    Ok(out)
}

fn import_reference(s: &ArchStore, _: MuslVersion) -> Result<()> {
    reference_outcome(s, "import").map(|_| ())
}

fn import_ours(s: &ArchStore, _: MuslVersion) -> Result<()> {
    let reference = reference_outcome(s, "import-ours")?;
    let work = work_dir(s, "import-ours")?;
    let ours = run_import(s, &s.store, Loader::Stormless, &work)?;
    same(&reference, &ours, "ours")
}

fn tables(s: &ArchStore, loader: Loader) -> Result<()> {
    let reference = reference_outcome(s, &format!("tables-{}", loader.name()))?;
    let tabled = s.tabled()?;
    let work = work_dir(s, &format!("tables-{}", loader.name()))?;
    let got = run_import(s, tabled, loader, &work)?;
    same(&reference, &got, &format!("{loader} with tables"))
}

fn same(reference: &Outcome, got: &Outcome, who: &str) -> Result<()> {
    let mut problems = Vec::new();
    if got.status != reference.status {
        problems.push(format!("exit status {} (reference {})", got.status, reference.status));
    }
    for (stream, want, have) in [("stdout", &reference.stdout, &got.stdout), ("stderr", &reference.stderr, &got.stderr)]
    {
        if want != have {
            problems.push(format!("{stream} differs:\n--- reference\n{want}--- {who}\n{have}"));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// One traced run of the import check: the counts, the failed opens split
/// into the loader's and Python's, and the files opened (the copy's path
/// read as the store's).
struct Traced {
    counts: syscalls::Counts,
    loader_failed: Vec<String>,
    python_failed: Vec<String>,
    opened: Vec<String>,
}

fn traced(s: &ArchStore, store: &Store, loader: Loader, name: &str, script: &str) -> Result<Traced> {
    let work = work_dir(s, name)?;
    let args = vec!["-c".to_string(), script.to_string()];
    let (counts, outcome) = syscalls::count(s.arch, &store.python(loader), &args, &env(&work), &work)?;
    ensure!(outcome.status == 0, "{name}: exit status {}: {}", outcome.status, outcome.stderr);
    let log = match s.arch.qemu_user() {
        None => fs::read_to_string(work.join("strace.log"))?,
        Some(_) => outcome.stderr.clone(),
    };
    // Paths as the store's, the working directory as @WORK@: runs compare equal
    // when they opened the same files.
    let (from, to) = (store.root.to_string_lossy().into_owned(), s.store.root.to_string_lossy().into_owned());
    let work_text = work.to_string_lossy().into_owned();
    let normal = |p: &str| p.replace(&work_text, "@WORK@").replace(&from, &to);
    let (loader_failed, python_failed): (Vec<String>, Vec<String>) =
        failed_open_paths(&log).iter().map(|p| normal(p)).partition(|p| is_loader_probe(p));
    let opened = counts.opened.iter().map(|p| normal(p)).collect();
    Ok(Traced { counts, loader_failed, python_failed, opened })
}

/// Which program the `opens` trials trace.
#[derive(Clone, Copy, PartialEq)]
enum Opens {
    /// The import check of the store's own modules.
    ImportCheck,
    /// The acceptance line, with numpy and PIL.Image: the reference is left
    /// out where it is expected to crash (musl 1.2.3, `suites.rs`).
    Wheels,
}

fn opens(s: &ArchStore, version: MuslVersion, what: Opens) -> Result<()> {
    let (script, tag) = match what {
        Opens::ImportCheck => (IMPORT_SCRIPT, "opens"),
        Opens::Wheels => (suites::WHEELS_SCRIPT, "opens-wheels"),
    };
    let with_reference = what == Opens::ImportCheck || !suites::relr_crash_expected(version);
    let reference = match with_reference {
        true => Some(traced(s, &s.store, Loader::Reference, &format!("{tag}-reference"), script)?),
        false => None,
    };
    let without = traced(s, &s.store, Loader::Stormless, &format!("{tag}-ours"), script)?;
    let tabled = s.tabled()?;
    let with = traced(s, tabled, Loader::Stormless, &format!("{tag}-ours-tables"), script)?;
    let line = |who: &str, t: &Traced| {
        format!(
            "{who:<22} opens {:>4}  failed {:>4}  (loader {:>4}, python {:>3})  stat family {:>4}",
            t.counts.opens,
            t.counts.failed_opens,
            t.loader_failed.len(),
            t.python_failed.len(),
            t.counts.stats
        )
    };
    let reference_line = match &reference {
        Some(r) => line("reference", r),
        None => "reference              not run: it crashes in numpy's import (DT_RELR, musl 1.2.3)".to_string(),
    };
    let report = format!(
        "musl {version} {}: {} under strace\n{reference_line}\n{}\n{}\n",
        s.arch,
        match what {
            Opens::ImportCheck => "the import check",
            Opens::Wheels => "the acceptance import line (numpy, PIL.Image and the store's modules)",
        },
        line("ours, without tables", &without),
        line("ours, with tables", &with)
    );
    eprint!("{report}");
    fs::write(s.store.root.join("runs").join(format!("{tag}-{}.txt", s.arch)), &report)?;
    // Pillow's objects reach `libz.so.1` only through the interpreter's RUNPATH
    // (musl's needed_by walk): their tables answer it because the tabled copy
    // is embedded `--loaded-by` the interpreter (tests/src/store.rs).
    ensure!(
        with.loader_failed.is_empty(),
        "with tables the loader still failed {} opens: {:?}",
        with.loader_failed.len(),
        with.loader_failed
    );
    ensure!(
        without.opened == with.opened,
        "ours opened different files with tables:\n--- without\n{}\n--- with\n{}",
        without.opened.join("\n"),
        with.opened.join("\n")
    );
    if let Some(reference) = &reference {
        ensure!(
            reference.opened == without.opened,
            "ours opened different files than the reference:\n--- reference\n{}\n--- ours\n{}",
            reference.opened.join("\n"),
            without.opened.join("\n")
        );
    }
    ensure!(
        without.python_failed == with.python_failed,
        "Python's own failed opens differ with tables: {:?} / {:?}",
        without.python_failed,
        with.python_failed
    );
    Ok(())
}
