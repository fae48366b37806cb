//! The release artifacts (issue 17), from `target/dist/` (`cargo xtask dist`):
//!
//! - `artifact`: the tarball's SHA256SUMS hold; its `lib/ld-musl-<m>.so.1` is byte for byte the
//!   sysroot's current `lib/libc.so` (the file the suite tests); its `bin/stormless` runs on its
//!   own arch (qemu-user for aarch64/armv7): `--version`, `embed --dry-run` and `show`.
//! - `install`: a scratch root made from the stock musl tree (the loader a real file, as on
//!   Alpine, and a program); the other musl version's artifact is refused (non-zero exit, every
//!   file of the root unchanged); the matching one installs (the program runs, through ours:
//!   `LD_DEBUG=statistics` answers), a second install changes nothing, `embed --root` works,
//!   `uninstall` restores the original bytes and a second uninstall changes nothing.
//! - `stripped`: a root laid out as Void's (`/lib -> usr/lib`, `ld-musl-<m>.so.1 -> libc.so`)
//!   with a stripped loader, as distributions ship it (no symbol table: the version comes from
//!   the read-only data): `install --dry-run` names the real file and the right musl version,
//!   and the other version's artifact is refused.
//! - `kill9` (x86_64, natively: strace): install and uninstall killed with SIGKILL on entry to
//!   each of their system calls in turn (strace `inject=<call>:signal=KILL:when=<n>`); after each
//!   kill the root's loader is whole, the original or ours, and the next run finishes the job.
//!
//! Scratch roots: `target/stormless/musl-<v>/<arch>/install-tests/`.
//! Environment: `STORMLESS_MUSL`, `STORMLESS_ARCHES`.
use anyhow::{bail, ensure, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use stormless_trees::{arch_dir, workspace_root, Arch, Loader, MuslVersion, Tree};

fn main() {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("install: {e:#}");
            std::process::exit(101);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}

type Check = fn(MuslVersion, Arch) -> Result<()>;

fn trials() -> Result<Vec<Trial>> {
    let (version, arches) = stormless_tests::selection()?;
    let mut trials = Vec::new();
    for &arch in &arches {
        let mut checks: Vec<(&str, Check)> = vec![("artifact", artifact), ("install", install), ("stripped", stripped)];
        if arch == Arch::X86_64 {
            checks.push(("kill9", kill9));
        }
        for (name, check) in checks {
            trials.push(Trial::test(format!("musl-{version}/{arch}/{name}"), move || {
                check(version, arch).map_err(|e| Failed::from(format!("{e:#}")))
            }));
        }
    }
    Ok(trials)
}

/// `target/dist/stormless-<version>-<arch>-musl-<v>.tar.xz`, unpacked into a fresh directory.
struct Unpacked {
    top: PathBuf,
    arch: Arch,
}

impl Unpacked {
    fn new(version: MuslVersion, arch: Arch, into: &Path) -> Result<Unpacked> {
        let tarball = tarball(version, arch)?;
        ensure!(
            tarball.is_file(),
            "no artifact {} (`cargo xtask dist --arch {arch} --musl {version}`)",
            tarball.display()
        );
        fresh_dir(into)?;
        run_ok(Command::new("tar").arg("-xJf").arg(&tarball).arg("-C").arg(into))?;
        let name = tarball.file_name().unwrap().to_string_lossy().trim_end_matches(".tar.xz").to_string();
        Ok(Unpacked { top: into.join(name), arch })
    }

    fn loader(&self) -> PathBuf {
        self.top.join("lib").join(self.arch.ldso_name())
    }

    /// `bin/stormless ARGS`, on its own arch.
    fn cli(&self) -> Command {
        let program = self.top.join("bin/stormless");
        match self.arch.qemu_user() {
            Some(qemu) => {
                let mut c = Command::new(qemu);
                c.arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

fn tarball(version: MuslVersion, arch: Arch) -> Result<PathBuf> {
    let manifest = std::fs::read_to_string(workspace_root().join("crates/stormless/Cargo.toml"))?;
    let cli_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .context("no version in crates/stormless/Cargo.toml")?;
    Ok(workspace_root().join("target/dist").join(format!("stormless-{cli_version}-{arch}-musl-{version}.tar.xz")))
}

fn scratch(version: MuslVersion, arch: Arch, name: &str) -> PathBuf {
    arch_dir(version, arch).join("install-tests").join(name)
}

fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

fn run_ok(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed ({}): {}{}", out.status, text(&out.stdout), text(&out.stderr));
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn artifact(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "artifact");
    let unpacked = Unpacked::new(version, arch, &dir)?;
    run_ok(Command::new("sha256sum").args(["--quiet", "-c", "SHA256SUMS"]).current_dir(&unpacked.top))?;
    let tree = stormless_tests::complete_tree(version, arch, Loader::Stormless)?;
    ensure!(
        std::fs::read(unpacked.loader())? == std::fs::read(tree.lib_dir().join("libc.so"))?,
        "{} is not the sysroot's current lib/libc.so (the tree was relinked since `cargo xtask dist`)",
        unpacked.loader().display()
    );
    let out = run_ok(unpacked.cli().arg("--version"))?;
    ensure!(text(&out.stdout).starts_with("stormless "), "--version printed {:?}", text(&out.stdout));
    // A program of the arch, with an rpath, to embed into (dry run) and show.
    let program = hello(&Tree::new(version, arch, Loader::Reference), &dir.join("prog"), "/lib")?;
    let before = std::fs::read(&program)?;
    let out = run_ok(unpacked.cli().args(["embed", "--dry-run"]).arg(&program))?;
    ensure!(std::fs::read(&program)? == before, "embed --dry-run changed the file");
    let out_show = run_ok(unpacked.cli().arg("show").arg(&program))?;
    ensure!(!out_show.stdout.is_empty(), "show printed nothing; embed said {}", text(&out.stdout));
    run_ok(unpacked.cli().arg("show").arg(unpacked.loader()))?;
    Ok(())
}

/// `hello` built with `tree`'s compiler into `dir/hello`, interpreter `/lib/ld-musl-<m>.so.1`.
fn hello(tree: &Tree, dir: &Path, rpath: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let source = dir.join("hello.c");
    std::fs::write(&source, "#include <stdio.h>\nint main(void) { puts(\"hello from the root\"); return 0; }\n")?;
    let program = dir.join("hello");
    run_ok(
        Command::new(tree.cc())
            .arg("-o")
            .arg(&program)
            .arg(&source)
            .arg(format!("-Wl,--dynamic-linker=/lib/{},-rpath,{rpath}", tree.arch.ldso_name())),
    )?;
    Ok(program)
}

/// A musl root from the stock tree: `/lib/ld-musl-<m>.so.1` (a copy of its libc.so, mode 755),
/// `/lib/libc.musl-<m>.so.1` linking to it, `/usr/bin/hello`.
fn stock_root(version: MuslVersion, arch: Arch, root: &Path) -> Result<Vec<u8>> {
    let reference = stormless_tests::complete_tree(version, arch, Loader::Reference)?;
    fresh_dir(root)?;
    std::fs::create_dir_all(root.join("lib"))?;
    std::fs::create_dir_all(root.join("usr/bin"))?;
    let original = std::fs::read(reference.lib_dir().join("libc.so"))?;
    let loader = root.join("lib").join(arch.ldso_name());
    std::fs::write(&loader, &original)?;
    std::fs::set_permissions(&loader, std::fs::Permissions::from_mode(0o755))?;
    std::os::unix::fs::symlink(arch.ldso_name(), root.join(format!("lib/libc.musl-{}.so.1", arch.ldso_arch())))?;
    let program = hello(&reference, &root.join("build"), "/usr/lib")?;
    std::fs::rename(&program, root.join("usr/bin/hello"))?;
    std::fs::remove_dir_all(root.join("build"))?;
    Ok(original)
}

/// Every file of `root` with its bytes and mode (links as their target).
fn snapshot(root: &Path) -> Result<BTreeMap<PathBuf, (Vec<u8>, u32)>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                pending.push(path);
            } else if meta.file_type().is_symlink() {
                files.insert(path.clone(), (std::fs::read_link(&path)?.into_os_string().into_encoded_bytes(), 0));
            } else {
                files.insert(path.clone(), (std::fs::read(&path)?, meta.permissions().mode()));
            }
        }
    }
    Ok(files)
}

/// `/usr/bin/hello` in `root`: chrooted on x86_64; elsewhere under qemu-user with the root as
/// its prefix (`-L`: the interpreter and every absolute path are looked up in the root first),
/// since Debian's qemu-user is itself dynamically linked and cannot start inside the root.
fn run_in_root(arch: Arch, root: &Path, env: &[(&str, &str)]) -> Result<Output> {
    let mut cmd = match arch.qemu_user() {
        None => {
            let mut c = Command::new("chroot");
            c.arg(root).arg("/usr/bin/hello");
            c
        }
        Some(qemu) => {
            let mut c = Command::new(qemu);
            c.arg("-L").arg(root).arg(root.join("usr/bin/hello"));
            c
        }
    };
    let out = cmd.envs(env.iter().copied()).output()?;
    ensure!(
        out.status.success() && text(&out.stdout) == "hello from the root\n",
        "the root's program failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    Ok(out)
}

fn install(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "install");
    let root = dir.join("root");
    let original = stock_root(version, arch, &root)?;
    let ours = Unpacked::new(version, arch, &dir.join("ours"))?;
    let loader = root.join("lib").join(arch.ldso_name());
    let kept = root.join(format!("lib/{}.stormless-orig", arch.ldso_name()));
    run_in_root(arch, &root, &[])?;

    // The other musl version's artifact: refused, nothing changed.
    let other = MuslVersion::ALL.into_iter().find(|v| *v != version).expect("two versions");
    let theirs = Unpacked::new(other, arch, &dir.join("other"))
        .with_context(|| format!("the refusal check needs the musl {other} artifact too"))?;
    let before = snapshot(&root)?;
    let out = theirs.cli().arg("install").arg("--root").arg(&root).output()?;
    ensure!(!out.status.success(), "the musl {other} artifact installed onto a musl {version} root");
    let said = text(&out.stderr);
    ensure!(said.contains("refusing") && said.contains(other.as_str()) && said.contains(version.as_str()), "{said}");
    ensure!(snapshot(&root)? == before, "the refused install changed the root");

    // --dry-run changes nothing; the matching artifact installs.
    run_ok(ours.cli().args(["install", "--dry-run", "--root"]).arg(&root))?;
    ensure!(snapshot(&root)? == before, "install --dry-run changed the root");
    let out = run_ok(ours.cli().args(["install", "--root"]).arg(&root))?;
    ensure!(text(&out.stdout).contains("next: stormless embed --root"), "{}", text(&out.stdout));
    ensure!(std::fs::read(&loader)? == std::fs::read(ours.loader())?, "the root's loader is not the artifact's");
    ensure!(std::fs::read(&kept)? == original, "the kept original differs from the original");
    ensure!(std::fs::metadata(&loader)?.permissions().mode() & 0o7777 == 0o755, "the loader's mode changed");
    let stats = run_in_root(arch, &root, &[("LD_DEBUG", "statistics")])?;
    ensure!(
        // Our loader's LD_DEBUG=statistics line (stock musl prints nothing; the host's chroot,
        // glibc, prints its own statistics first).
        text(&stats.stderr).contains("opens while searching"),
        "the root's program did not start through ours: {}",
        text(&stats.stderr)
    );
    let installed = snapshot(&root)?;
    let out = run_ok(ours.cli().args(["install", "--root"]).arg(&root))?;
    ensure!(text(&out.stdout).contains("already"), "{}", text(&out.stdout));
    ensure!(snapshot(&root)? == installed, "a second install changed the root");
    run_ok(ours.cli().args(["embed", "--root"]).arg(&root).arg(root.join("usr")))?;
    run_in_root(arch, &root, &[])?;

    run_ok(ours.cli().args(["uninstall", "--root"]).arg(&root))?;
    ensure!(std::fs::read(&loader)? == original, "uninstall did not restore the original bytes");
    ensure!(!kept.exists(), "uninstall left {}", kept.display());
    let restored = snapshot(&root)?;
    run_ok(ours.cli().args(["uninstall", "--root"]).arg(&root))?;
    ensure!(snapshot(&root)? == restored, "a second uninstall changed the root");
    run_in_root(arch, &root, &[])?;
    Ok(())
}

/// The system calls `cmd` makes, in order, each with its occurrence number among calls of the
/// same name: what strace's `when=` counts.
fn system_calls(cmd: &[&std::ffi::OsStr], trace: &Path) -> Result<Vec<(String, usize)>> {
    run_ok(Command::new("strace").args(["-qq", "-o"]).arg(trace).args(cmd))?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut calls = Vec::new();
    for line in std::fs::read_to_string(trace)?.lines() {
        let Some((name, _)) = line.split_once('(') else { continue };
        // The execve that starts the program is strace's, not a step of the command.
        if name.is_empty() || name == "execve" || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let n = seen.entry(name.to_string()).or_default();
        *n += 1;
        calls.push((name.to_string(), *n));
    }
    ensure!(calls.len() > 10, "strace saw only {} system calls", calls.len());
    Ok(calls)
}

fn kill9(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "kill9");
    let root = dir.join("root");
    let ours = Unpacked::new(version, arch, &dir.join("ours"))?;
    let cli = ours.top.join("bin/stormless");
    let mine = std::fs::read(ours.loader())?;
    let loader = root.join("lib").join(arch.ldso_name());
    let original = stock_root(version, arch, &root)?;
    let trace = dir.join("trace");
    let root_os = root.as_os_str();
    let install_cmd = [cli.as_os_str(), "install".as_ref(), "--root".as_ref(), root_os];
    let uninstall_cmd = [cli.as_os_str(), "uninstall".as_ref(), "--root".as_ref(), root_os];
    let whole = |when: &str| -> Result<()> {
        let bytes = std::fs::read(&loader).with_context(|| format!("{when}: the root's loader is missing"))?;
        ensure!(bytes == original || bytes == mine, "{when}: the root's loader is neither the original nor ours");
        Ok(())
    };
    let finish = |cmd: &[&std::ffi::OsStr], expect: &[u8], when: &str| -> Result<()> {
        run_ok(Command::new(cmd[0]).args(&cmd[1..])).with_context(|| format!("{when}: the next run"))?;
        ensure!(std::fs::read(&loader)? == expect, "{when}: the next run did not finish the job");
        let leftovers: Vec<String> = std::fs::read_dir(root.join("lib"))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".stormless-tmp-"))
            .collect();
        ensure!(leftovers.is_empty(), "{when}: temporary files left: {leftovers:?}");
        Ok(())
    };
    for (what, cmd, before, after) in
        [("install", install_cmd, &original, &mine), ("uninstall", uninstall_cmd, &mine, &original)]
    {
        if what == "uninstall" {
            run_ok(Command::new(cmd[0]).args(["install", "--root"]).arg(&root))?;
        }
        let calls = system_calls(&cmd, &trace)?;
        // The traced run did the job: undo it, so every kill starts from the same state.
        let undo = if what == "install" { &uninstall_cmd } else { &install_cmd };
        run_ok(Command::new(undo[0]).args(&undo[1..]))?;
        ensure!(std::fs::read(&loader)? == *before.as_slice(), "{what}: cannot return to the state before");
        for (i, (name, n)) in calls.iter().enumerate() {
            let when = format!("{what} killed on entry to system call {} of {} ({name} #{n})", i + 1, calls.len());
            let status = Command::new("strace")
                .args(["-qq", "-o", "/dev/null", "-e"])
                .arg(format!("inject={name}:signal=KILL:when={n}"))
                .args(cmd)
                .status()?;
            ensure!(status.code() != Some(0), "{when}: it was not killed");
            whole(&when)?;
            finish(&cmd, after, &when)?;
            run_ok(Command::new(undo[0]).args(&undo[1..])).with_context(|| format!("{when}: undoing"))?;
            ensure!(std::fs::read(&loader)? == *before.as_slice(), "{when}: cannot return to the state before");
        }
        eprintln!("kill9: {what} killed at each of its {} system calls: the loader stayed whole", calls.len());
    }
    Ok(())
}

fn stripped(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "stripped");
    let root = dir.join("root");
    fresh_dir(&root)?;
    std::fs::create_dir_all(root.join("usr/lib"))?;
    std::os::unix::fs::symlink("usr/lib", root.join("lib"))?;
    let reference = stormless_tests::complete_tree(version, arch, Loader::Reference)?;
    let libc = root.join("usr/lib/libc.so");
    run_ok(
        Command::new(format!("{}-strip", arch.gnu_triple()))
            .arg("-o")
            .arg(&libc)
            .arg(reference.lib_dir().join("libc.so")),
    )?;
    std::os::unix::fs::symlink("libc.so", root.join("usr/lib").join(arch.ldso_name()))?;
    let out = Command::new("nm").arg(&libc).output()?;
    ensure!(text(&out.stderr).contains("no symbols"), "the stripped loader still has symbols");
    let ours = Unpacked::new(version, arch, &dir.join("ours"))?;
    let said = text(&run_ok(ours.cli().args(["install", "--dry-run", "--root"]).arg(&root))?.stdout);
    let expected = format!("would keep the original (musl {version} for {}", arch.ldso_arch());
    ensure!(said.contains(&expected) && said.contains("/usr/lib/libc.so.stormless-orig"), "{said}");
    let other = MuslVersion::ALL.into_iter().find(|v| *v != version).expect("two versions");
    let theirs = Unpacked::new(other, arch, &dir.join("other"))?;
    let out = theirs.cli().args(["install", "--root"]).arg(&root).output()?;
    let said = text(&out.stderr);
    ensure!(!out.status.success() && said.contains(&format!("is musl {version} for")), "{said}");
    Ok(())
}
