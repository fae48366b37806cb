//! The boot test's initramfs for one musl version and arch.
//!
//! Every file keeps, in the image, the absolute path it has on the host
//! (`/work/…/target/stormless/…`): the fixtures' and real programs'
//! RUNPATHs stay valid without rewriting, each library stays in a store-like
//! directory of its own (so the resolution notes have failed probes to save),
//! and the fixtures' expected outputs, which name `@OUT@` paths, read the same.
//! Only PT_INTERP changes: every program names `/lib/ld-musl-<m>.so.1`,
//! overwritten in place (the new path is shorter; the rest is padded with NUL),
//! so a program's layout stays byte for byte the one the host tests ran —
//! `patchelf --set-interpreter` would move PT_INTERP into a new segment.
//!
//! The image is two `newc` archives, concatenated (the kernel unpacks them in
//! turn): `common.cpio`, identical for both loaders (busybox as `/init` and
//! `/bin/*`, the fixtures, the real programs, the test lists, `qemu/boot.sh`),
//! then a small one with `/lib/ld-musl-<m>.so.1` — the sysroot's loader or the
//! reference's — and `/etc/stormless/loader` naming it, so the guest picks its
//! test list. Layout under `target/stormless/boot/musl-<v>/<arch>/`:
//! `fixtures/` (cached builds), `cmod/`, `root/` (the common staging tree),
//! `loader-<name>/`, `*.cpio`, `initramfs-<loader>.cpio`.
use super::guest_tests::{self, GuestTest};
use super::release::Release;
use crate::util::{remove_dir, run, say};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use stormless_tests::build::{self, Built};
use stormless_tests::manifest::Fixture;
use stormless_tests::real::{self as scenarios, SCENARIOS};
use stormless_trees::{output_root, workspace_root, Arch, Loader, MuslVersion, RealPrograms, Tree};

/// Written into each cached fixture build's stamp: change it when the way
/// fixtures are built for the image changes.
const FIXTURE_RECIPE: &str = "boot fixture build 1";

/// Whether `fixture`'s expectations describe the search as it runs without
/// a table, so its objects get no notes: `LD_DEBUG` traces every probe a table
/// skips and counts the opens, and `--list` marks table hits (design.md §6).
fn expects_untabled_search(fixture: &Fixture) -> bool {
    fixture.manifest.run.iter().any(|run| {
        run.env.contains_key("LD_DEBUG") || run.loader.as_ref().is_some_and(|args| args.iter().any(|a| a == "--list"))
    })
}

/// Whether the ELF file at `path` already carries a resolution table: one
/// the fixture made itself (broken on purpose, say), which the image keeps.
fn carries_table(path: &Path) -> Result<bool> {
    use object::read::elf::{FileHeader, SectionHeader};
    use object::Endianness;
    fn find<H: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> Option<bool> {
        let header = H::parse(bytes).ok()?;
        let endian = header.endian().ok()?;
        let sections = header.sections(endian, bytes).ok()?;
        Some(sections.iter().any(|s| {
            sections.section_name(endian, s).is_ok_and(|name| name == stormless_ldcache::SECTION_NAME.as_bytes())
                && s.sh_type(endian) == object::elf::SHT_NOTE
        }))
    }
    let bytes = fs::read(path)?;
    Ok(match object::FileKind::parse(&*bytes) {
        Ok(object::FileKind::Elf32) => find::<object::elf::FileHeader32<Endianness>>(&bytes),
        Ok(object::FileKind::Elf64) => find::<object::elf::FileHeader64<Endianness>>(&bytes),
        _ => None,
    }
    .unwrap_or(false))
}

/// One bootable initramfs.
#[derive(Debug)]
pub struct Variant {
    pub loader: Loader,
    pub initramfs: PathBuf,
    /// Tests the guest must report as passed.
    pub tests: usize,
}

#[derive(Debug)]
pub struct Image {
    pub variants: Vec<Variant>,
}

fn boot_dir(version: MuslVersion, arch: Arch) -> PathBuf {
    output_root().join("boot").join(format!("musl-{version}")).join(arch.name())
}

/// `path` (absolute) inside the staging tree `root`.
fn staged(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Build the image of `arch` with an initramfs for each of `loaders`.
pub fn build(version: MuslVersion, arch: Arch, loaders: &[Loader]) -> Result<Image> {
    let sysroot = Tree::new(version, arch, Loader::Stormless);
    for loader in Loader::ALL {
        let tree = Tree::new(version, arch, loader);
        if !tree.is_complete() {
            bail!(
                "boot: no complete tree at {} (run `cargo xtask build --arch {arch} --musl {version}`)",
                tree.root.display()
            );
        }
    }
    let real = RealPrograms::new(version, arch);
    if !real.is_complete() {
        bail!(
            "boot: no complete real programs at {} (run `cargo xtask real --arch {arch} --musl {version}`)",
            real.root.display()
        );
    }
    let dir = boot_dir(version, arch);
    let root = dir.join("root");
    remove_dir(&root)?;
    fs::create_dir_all(&root)?;

    let fixtures = Fixture::all(&stormless_tests::fixtures_dir())?;
    let mut builds = Vec::new();
    for fixture in &fixtures {
        let built = cached_build(&sysroot, fixture, &dir.join("fixtures").join(&fixture.name))?;
        copy_tree(&built.out, &staged(&root, &built.out))?;
        builds.push(built);
    }
    // Files a fixture plants on purpose (malformed objects, scripts, links):
    // the image keeps them byte for byte.
    let planted: BTreeSet<PathBuf> = fixtures
        .iter()
        .zip(&builds)
        .flat_map(|(f, b)| f.manifest.file.iter().map(|file| staged(&root, &b.out.join(&file.path))))
        .collect();
    let store = StoreProgram::pick(&fixtures, &builds)?;
    let store_copy = staged(&root, &store.program_without_notes());
    fs::copy(staged(&root, &store.built.program), &store_copy)?;

    let userland = Userland::install(&real, &sysroot, &dir, &root)?;

    let rewritten = set_interpreters(
        &root,
        &sysroot.ldso(),
        &guest_tests::guest_tree(version, arch, Loader::Stormless).ldso(),
        &planted,
    )?;
    // The release artifact, installed as a user installs it (release.rs): the loaders of both
    // images come from it, and its own CLI writes the notes.
    let release = Release::install(version, arch, &root)?;
    let mut unnoted: BTreeSet<PathBuf> = planted;
    unnoted.insert(store_copy);
    for (_, built) in fixtures.iter().zip(&builds).filter(|(f, _)| expects_untabled_search(f)) {
        unnoted.extend(elf_files(&staged(&root, &built.out))?);
    }
    for file in elf_files(&root)? {
        if carries_table(&file)? {
            unnoted.insert(file);
        }
    }
    let not_noted = release.files_not_noted(&root);
    unnoted.extend(elf_files(&root)?.into_iter().filter(|f| not_noted.iter().any(|dir| f.starts_with(dir))));
    embed_notes(&root, &release, arch, &unnoted)?;
    let (ours, original) = release.take_loaders(version, &root)?;

    let mut counts = Vec::new();
    for loader in Loader::ALL {
        let mut tests: Vec<GuestTest> = Vec::new();
        for (fixture, built) in fixtures.iter().zip(&builds) {
            tests.extend(guest_tests::fixture_tests(version, arch, loader, fixture, built)?);
        }
        tests.extend(userland.scenario_tests());
        tests.extend(store.tests(loader));
        tests.extend(release.guest_tests()?);
        guest_tests::write(&root.join("stormless/tests").join(loader.name()), &tests)?;
        counts.push((loader, tests.len()));
    }
    store.write_report_spec(&root)?;
    install_guest_files(&root)?;

    let common = dir.join("common.cpio");
    cpio(&root, &common)?;
    let mut variants = Vec::new();
    for &loader in loaders {
        let part_root = dir.join(format!("loader-{}", loader.name()));
        remove_dir(&part_root)?;
        let ldso = staged(&part_root, &guest_tests::guest_tree(version, arch, loader).ldso());
        fs::create_dir_all(ldso.parent().expect("lib/"))?;
        let bytes = match loader {
            Loader::Stormless => &ours,
            Loader::Reference => &original,
        };
        fs::write(&ldso, bytes)?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&ldso, fs::Permissions::from_mode(0o755))?;
        fs::create_dir_all(part_root.join("etc/stormless"))?;
        fs::write(part_root.join("etc/stormless/loader"), format!("{}\n", loader.name()))?;
        let part = dir.join(format!("loader-{}.cpio", loader.name()));
        cpio(&part_root, &part)?;
        let initramfs = dir.join(format!("initramfs-{}.cpio", loader.name()));
        let mut bytes = fs::read(&common)?;
        bytes.extend(fs::read(&part)?);
        fs::write(&initramfs, bytes)?;
        let tests = counts.iter().find(|(l, _)| *l == loader).map_or(0, |(_, n)| *n);
        variants.push(Variant { loader, initramfs, tests });
    }
    say(format!(
        "boot: {arch} image: {} programs through /lib/{}; tests: {}; with notes; {:.1} MiB",
        rewritten,
        arch.ldso_name(),
        counts.iter().map(|(l, n)| format!("{n} under {l}")).collect::<Vec<_>>().join(", "),
        fs::metadata(&common)?.len() as f64 / (1024.0 * 1024.0)
    ));
    Ok(Image { variants })
}

/// `fixture` built with `tree`'s compiler into `out`, unless the build there
/// was made from the same inputs (the stamp beside it holds their digest).
fn cached_build(tree: &Tree, fixture: &Fixture, out: &Path) -> Result<Built> {
    let stamp = out.with_extension("stamp");
    let digest = fixture_digest(tree, fixture)?;
    let program = out.join("bin").join(&fixture.name);
    if fs::read_to_string(&stamp).is_ok_and(|s| s == digest) && program.is_file() {
        return Ok(Built { out: out.to_path_buf(), program });
    }
    let _ = fs::remove_file(&stamp);
    let built =
        build::build_into(tree, fixture, out).with_context(|| format!("boot: building fixture {}", fixture.name))?;
    fs::write(&stamp, digest)?;
    Ok(built)
}

/// The inputs of a fixture build: its directory, the shared headers, the
/// harness code that builds it, and the tree (its stamp's time and content).
fn fixture_digest(tree: &Tree, fixture: &Fixture) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(FIXTURE_RECIPE);
    let common = stormless_tests::fixtures_dir().join("common");
    let harness = workspace_root().join("tests/src");
    let mut files = Vec::new();
    for dir in [&fixture.dir, &common] {
        files.extend(regular_files(dir)?);
    }
    files.extend(["build.rs", "derive.rs", "manifest.rs"].map(|f| harness.join(f)));
    files.sort();
    for file in files {
        hash.update(file.as_os_str().as_bytes());
        hash.update(fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?);
    }
    let stamp = fs::metadata(tree.stamp())?;
    hash.update(format!("{} {}", stamp.mtime(), stamp.mtime_nsec()));
    hash.update(fs::read(tree.stamp())?);
    Ok(format!("{:x}\n", hash.finalize()))
}

fn regular_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(dir, &mut |path, meta| {
        if meta.is_file() {
            out.push(path.to_path_buf());
        }
        Ok(())
    })?;
    Ok(out)
}

/// Every regular file starting with the ELF magic under `dir`.
fn elf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in regular_files(dir)? {
        let mut magic = [0u8; 4];
        let mut file = fs::File::open(&path)?;
        if std::io::Read::read_exact(&mut file, &mut magic).is_ok() && magic == *b"\x7fELF" {
            out.push(path);
        }
    }
    Ok(out)
}

/// Visit `dir` and everything under it (parents first, names sorted),
/// without following symbolic links.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &fs::Metadata) -> Result<()>) -> Result<()> {
    let meta = fs::symlink_metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
    visit(dir, &meta)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            walk(&entry, visit)?;
        }
    }
    Ok(())
}

/// Copy `from` to `to` recursively, keeping symbolic links as links and the
/// files' permissions.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    walk(from, &mut |path, meta| {
        let dest = to.join(path.strip_prefix(from).expect("walk stays inside"));
        if meta.is_dir() {
            fs::create_dir_all(&dest)?;
        } else if meta.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(path)?, &dest)?;
        } else {
            fs::copy(path, &dest).with_context(|| format!("cannot copy {}", path.display()))?;
        }
        Ok(())
    })
}

/// The store-heavy program of the failed-opens report: the fixture with the
/// largest `[store]`, whose first run declares its system calls under stock
/// musl (the opens and failed opens without notes).
struct StoreProgram {
    name: String,
    built: Built,
    libraries: usize,
    stdout: String,
    opens: u64,
    failed_opens: u64,
}

impl StoreProgram {
    fn pick(fixtures: &[Fixture], builds: &[Built]) -> Result<StoreProgram> {
        let (fixture, built) = fixtures
            .iter()
            .zip(builds)
            .filter(|(f, _)| f.manifest.store.is_some())
            .max_by_key(|(f, _)| f.manifest.store.as_ref().map_or(0, |s| s.count))
            .context("boot: no fixture with a [store] for the failed-opens report")?;
        let run = &fixture.manifest.run[0];
        let counts = run.syscalls.context("boot: the store fixture's first run declares no syscalls")?;
        let (Some(opens), Some(failed_opens)) = (counts.opens, counts.failed_opens) else {
            bail!("boot: fixture {}'s first run must declare opens and failed_opens", fixture.name)
        };
        Ok(StoreProgram {
            name: fixture.name.clone(),
            built: built.clone(),
            libraries: build::loaded_libraries(fixture, &built.out).len(),
            stdout: built.expand(&run.stdout),
            opens,
            failed_opens,
        })
    }

    /// A copy beside the program that gets no notes.
    fn program_without_notes(&self) -> PathBuf {
        self.built.program.with_file_name(format!("{}-without-notes", self.name))
    }

    /// The statistics under `loader`: without notes as stock musl opens (the
    /// manifest's counts), with notes one open per library and none failing.
    fn tests(&self, loader: Loader) -> Vec<GuestTest> {
        vec![
            guest_tests::statistics_test(
                format!("stats/{}-without-notes", self.name),
                &self.program_without_notes().to_string_lossy(),
                &self.stdout,
                guest_tests::statistics_stderr(loader, self.libraries, self.opens, self.failed_opens),
            ),
            guest_tests::statistics_test(
                format!("stats/{}-with-notes", self.name),
                &self.built.program.to_string_lossy(),
                &self.stdout,
                guest_tests::statistics_stderr(loader, self.libraries, self.libraries as u64, 0),
            ),
        ]
    }

    /// `/stormless/stats/`: the programs `boot.sh` reports the failed opens
    /// of, one `notes=yes|no PATH` line each.
    fn write_report_spec(&self, root: &Path) -> Result<()> {
        let dir = root.join("stormless/stats");
        fs::create_dir_all(&dir)?;
        let mut programs = String::new();
        programs.push_str(&format!("notes=yes {}\n", self.built.program.display()));
        programs.push_str(&format!("notes=no {}\n", self.program_without_notes().display()));
        fs::write(dir.join("programs"), programs)?;
        Ok(())
    }
}

/// busybox as `/init` and every `/bin/<applet>`, lua and sqlite3, from the
/// real programs' store; the scenarios' data and working directories.
struct Userland {
    data: PathBuf,
    cmod: PathBuf,
}

impl Userland {
    fn install(real: &RealPrograms, sysroot: &Tree, dir: &Path, root: &Path) -> Result<Userland> {
        let store = real.root.join("store");
        copy_tree(&store, &staged(root, &store))?;
        let busybox = real.store("busybox").join("bin/busybox");
        let bin = root.join("bin");
        fs::create_dir_all(&bin)?;
        let applets = fs::read_to_string(real.store("busybox").join("applets"))?;
        for applet in applets.lines().filter(|a| !a.is_empty()) {
            std::os::unix::fs::symlink(&busybox, bin.join(applet))?;
        }
        std::os::unix::fs::symlink(&busybox, bin.join("busybox"))?;
        std::os::unix::fs::symlink(&busybox, root.join("init"))?;
        for (name, program) in
            [("lua", real.store("lua5.4").join("bin/lua")), ("sqlite3", real.store("sqlite3").join("bin/sqlite3"))]
        {
            std::os::unix::fs::symlink(program, bin.join(name))?;
        }
        let cmod = dir.join("cmod");
        scenarios::build_lua_module(sysroot, real, &cmod)?;
        copy_tree(&cmod, &staged(root, &cmod))?;
        let data = scenarios::data_dir();
        copy_tree(&data, &staged(root, &data))?;
        for scenario in SCENARIOS {
            let work = root.join("stormless/work").join(scenario.name);
            fs::create_dir_all(&work)?;
            if let Some(prepare) = scenario.prepare {
                prepare(&work).with_context(|| format!("boot: cannot prepare {}", work.display()))?;
            }
        }
        Ok(Userland { data, cmod })
    }

    fn scenario_tests(&self) -> Vec<GuestTest> {
        SCENARIOS
            .iter()
            .map(|s| {
                guest_tests::scenario_test(
                    s,
                    &format!("/stormless/work/{}", s.name),
                    &self.data.to_string_lossy(),
                    &self.cmod.to_string_lossy(),
                )
            })
            .collect()
    }
}

/// `/init`'s inittab, `qemu/boot.sh`, the mount points and `/dev/console`
/// (the kernel opens it for `/init` before anything is mounted).
fn install_guest_files(root: &Path) -> Result<()> {
    let qemu = workspace_root().join("qemu");
    for dir in ["proc", "sys", "dev", "tmp", "etc/stormless"] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::copy(qemu.join("inittab"), root.join("etc/inittab"))?;
    fs::copy(qemu.join("boot.sh"), root.join("etc/stormless/boot.sh"))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.join("etc/stormless/boot.sh"), fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    run(Command::new("mknod").args(["-m", "600"]).arg(root.join("dev/console")).args(["c", "5", "1"]))
        .context("boot: cannot create dev/console in the image (needs root)")
}

/// Overwrite PT_INTERP `old` with `new` in every ELF file under `root`;
/// afterwards no program there but the `planted` ones names another loader.
/// Returns how many files were rewritten.
fn set_interpreters(root: &Path, old: &Path, new: &Path, planted: &BTreeSet<PathBuf>) -> Result<usize> {
    let (old, new) = (old.as_os_str().as_bytes(), new.as_os_str().as_bytes());
    let mut rewritten = 0;
    for path in elf_files(root)? {
        let mut bytes = fs::read(&path)?;
        let Ok(Some(range)) = interp_range(&bytes) else { continue };
        let interp = &mut bytes[range];
        let name = interp.split(|b| *b == 0).next().unwrap_or_default();
        if name == old {
            if new.len() >= interp.len() {
                bail!("boot: {} has no room for the interpreter name {}", path.display(), String::from_utf8_lossy(new));
            }
            interp.fill(0);
            interp[..new.len()].copy_from_slice(new);
            fs::write(&path, &bytes)?;
            rewritten += 1;
        } else if name != new && !planted.contains(&path) {
            bail!(
                "boot: {} names the interpreter {}, expected {}",
                path.display(),
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(old)
            );
        }
    }
    Ok(rewritten)
}

/// The file range of PT_INTERP, if the file has one.
fn interp_range(bytes: &[u8]) -> Result<Option<std::ops::Range<usize>>> {
    use object::elf::{FileHeader32, FileHeader64, PT_INTERP};
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::Endianness;
    fn find<H: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> Result<Option<std::ops::Range<usize>>> {
        let header = H::parse(bytes)?;
        let endian = header.endian()?;
        let Some(ph) = header.program_headers(endian, bytes)?.iter().find(|ph| ph.p_type(endian) == PT_INTERP) else {
            return Ok(None);
        };
        let start = usize::try_from(ph.p_offset(endian).into())?;
        let end = start + usize::try_from(ph.p_filesz(endian).into())?;
        Ok((end <= bytes.len()).then_some(start..end))
    }
    match object::FileKind::parse(bytes)? {
        object::FileKind::Elf32 => find::<FileHeader32<Endianness>>(bytes),
        object::FileKind::Elf64 => find::<FileHeader64<Endianness>>(bytes),
        _ => Ok(None),
    }
}

/// THE NOTES STEP: the release artifact's own `stormless embed --root <staging root> <every
/// ELF file of the image but `unnoted`>`, on the artifact's arch, with the installed loader in
/// the root's `/lib` (so `libc.so` and the interpreter resolve inside the root). Mandatory: an
/// image without notes would not test what the boot stage is for.
fn embed_notes(root: &Path, release: &Release, arch: Arch, unnoted: &BTreeSet<PathBuf>) -> Result<()> {
    let files: Vec<PathBuf> = elf_files(root)?.into_iter().filter(|f| !unnoted.contains(f)).collect();
    let log = output_root().join("logs").join(format!("boot-notes-{arch}.log"));
    let started = std::time::Instant::now();
    run_embed(release.cli().arg("embed").arg("--root").arg(root).args(&files), &log)?;
    say(format!(
        "boot: resolution notes written by the artifact's `stormless embed` into {} files in {:.1} s (log {})",
        files.len(),
        started.elapsed().as_secs_f64(),
        log.display()
    ));
    Ok(())
}

/// Run `stormless embed` with its report in `log`; on failure the error
/// quotes the CLI's own error lines (it names each file it could not handle).
fn run_embed(cmd: &mut Command, log: &Path) -> Result<()> {
    fs::create_dir_all(log.parent().expect("logs/"))?;
    let file = fs::File::create(log)?;
    let status =
        cmd.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file).status().context("cannot run stormless")?;
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let errors: Vec<&str> =
            text.lines().filter(|l| l.starts_with("stormless:") || l.contains("panicked")).take(5).collect();
        bail!("boot: `stormless embed` failed ({status}): {}; full log: {}", errors.join(" / "), log.display());
    }
    Ok(())
}

/// `root` as a `newc` archive `dest`, every entry owned by root.
fn cpio(root: &Path, dest: &Path) -> Result<()> {
    let mut names = Vec::new();
    walk(root, &mut |path, _| {
        let rel = path.strip_prefix(root).expect("walk stays inside");
        if rel.components().next().is_some() {
            debug_assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
            names.extend_from_slice(rel.as_os_str().as_bytes());
            names.push(b'\n');
        }
        Ok(())
    })?;
    let out = fs::File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut child = Command::new("cpio")
        .args(["-o", "-H", "newc", "-R", "0:0", "--quiet"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(out)
        .spawn()
        .context("boot: cannot run cpio")?;
    child.stdin.take().expect("piped").write_all(&names)?;
    let status = child.wait()?;
    if !status.success() {
        bail!("boot: cpio failed ({status}) archiving {}", root.display());
    }
    Ok(())
}
