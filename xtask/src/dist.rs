//! `cargo xtask dist [--arch …] [--musl …]`: the release artifacts (docs/deploy.md),
//! `target/dist/stormless-<version>-<arch>-musl-<v>.tar.xz`, each holding
//!
//! - `lib/ld-musl-<m>.so.1`: the sysroot's current `lib/libc.so`, byte for byte — the file the
//!   suite tests (the boot image is made from the artifact and checks it still equals the tree's);
//! - `bin/stormless`, statically linked for the arch, so that it runs on the target machine
//!   whatever its libc: musl (Rust's `*-unknown-linux-musl` std) on x86_64 and aarch64; on armv7
//!   glibc (`armv7-unknown-linux-gnueabihf` with `+crt-static`, Debian's armhf libc.a), because
//!   no musl std for armv7 can be had here (`armv7-unknown-linux-musleabihf` does not download,
//!   and building std needs `rust-src`). Linking the glibc-target std against our musl through
//!   our own loader was not taken: that std's `libc` bindings assume glibc's structures and
//!   symbols, and a mismatch would misbehave silently;
//! - `share/doc/stormless/`: README (what is inside, how to install), deploy.md, tables.md;
//!   `BUILD-INFO` (commit, musl version, the loader's build fingerprint); `SHA256SUMS`.
//!
//! Reproducible: the CLI is built with `--remap-path-prefix` for the workspace and Cargo's home
//! (no build path is left: checked after each build) and stripped; the tarball is GNU tar with
//! sorted names, mtime 0, owner 0 and fixed modes, compressed by single-threaded `xz`. Two runs
//! from the same commit give the same bytes (`cargo xtask dist --check-reproducible`: the CLI
//! built a second time in an empty target directory, the tarball compared).
use crate::build;
use crate::util::{output, remove_dir, run, say, write_atomic};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use stormless_trees::{workspace_root, Arch, Loader, MuslVersion, Tree};

/// `target/dist`.
pub fn dist_dir() -> PathBuf {
    workspace_root().join("target").join("dist")
}

/// The CLI's version, from its manifest (what `stormless --version` prints).
pub fn version() -> Result<String> {
    let manifest = workspace_root().join("crates/stormless/Cargo.toml");
    let text = fs::read_to_string(&manifest)?;
    text.lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .map(String::from)
        .with_context(|| format!("no version in {}", manifest.display()))
}

/// `stormless-<version>-<arch>-musl-<v>`: the tarball's name and its top directory.
pub fn artifact_name(version: MuslVersion, arch: Arch) -> Result<String> {
    Ok(format!("stormless-{}-{}-musl-{version}", self::version()?, arch.name()))
}

pub fn tarball_path(version: MuslVersion, arch: Arch) -> Result<PathBuf> {
    Ok(dist_dir().join(format!("{}.tar.xz", artifact_name(version, arch)?)))
}

/// Every artifact of `versions` × `arches`, then `target/dist/SHA256SUMS` of the tarballs.
pub fn run_dist(versions: &[MuslVersion], arches: &[Arch], check_reproducible: bool) -> Result<()> {
    let mut made = Vec::new();
    for &v in versions {
        for &a in arches {
            build::tree_pair(v, a)?;
            made.push(artifact(v, a)?);
        }
    }
    let mut sums = String::new();
    let mut all: Vec<PathBuf> = fs::read_dir(dist_dir())?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tar.xz"))
        .collect();
    all.sort();
    for tarball in &all {
        sums.push_str(&format!("{}  {}\n", sha256_file(tarball)?, file_name(tarball)));
    }
    write_atomic(&dist_dir().join("SHA256SUMS"), sums.as_bytes())?;
    for tarball in &made {
        say(format!("dist: {} ({} KiB)", tarball.display(), fs::metadata(tarball)?.len() / 1024));
    }
    if check_reproducible {
        let (&v, &a) = (versions.first().context("no musl version")?, arches.first().context("no arch")?);
        check_reproducible_artifact(v, a)?;
    }
    Ok(())
}

/// Build the artifact of `arch` and musl `version` from the tree as it is now (the tree must be
/// complete), replacing an older one. Returns the tarball.
pub fn artifact(version: MuslVersion, arch: Arch) -> Result<PathBuf> {
    let tarball = tarball_path(version, arch)?;
    let cli = build_cli(arch, &dist_dir().join("build"))?;
    pack(&Inputs::read(version, arch)?, &cli, &tarball)?;
    Ok(tarball)
}

/// The docs a user needs, in `share/doc/stormless/`.
const USER_DOCS: [&str; 2] = ["deploy.md", "tables.md"];

/// What an artifact is made of besides the CLI, read once: the loader, its build stamp, the
/// commit and the docs (a check packs twice from the same inputs while others may relink or commit).
struct Inputs {
    version: MuslVersion,
    arch: Arch,
    loader: Vec<u8>,
    fingerprint: String,
    commit: String,
    /// The user docs by name, from `docs/`.
    docs: Vec<(&'static str, Vec<u8>)>,
}

impl Inputs {
    fn read(version: MuslVersion, arch: Arch) -> Result<Inputs> {
        let (loader, fingerprint) = tree_loader(version, arch)?;
        let commit = output(Command::new("git").current_dir(workspace_root()).args(["rev-parse", "HEAD"]))?;
        let docs = USER_DOCS
            .iter()
            .map(|doc| {
                Ok((
                    *doc,
                    fs::read(workspace_root().join("docs").join(doc))
                        .with_context(|| format!("docs/{doc} is missing"))?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Inputs { version, arch, loader, fingerprint, commit: commit.trim().to_string(), docs })
    }
}

/// The CLI built a second time in an empty target directory, packed again: the tarball must be
/// the same bytes as the one `artifact` made.
pub fn check_reproducible_artifact(version: MuslVersion, arch: Arch) -> Result<()> {
    let inputs = Inputs::read(version, arch)?;
    let first = tarball_path(version, arch)?;
    pack(&inputs, &build_cli(arch, &dist_dir().join("build"))?, &first)?;
    let scratch = dist_dir().join("check");
    remove_dir(&scratch)?;
    let started = std::time::Instant::now();
    let cli = build_cli(arch, &scratch.join("build"))?;
    say(format!("dist: the second {arch} CLI build took {:.0} s", started.elapsed().as_secs_f64()));
    let second = scratch.join(file_name(&first));
    pack(&inputs, &cli, &second)?;
    let (a, b) = (sha256_file(&first)?, sha256_file(&second)?);
    if a != b {
        bail!(
            "dist: not reproducible: {} ({a}) and a second build {} ({b}) differ (compare with diffoscope)",
            first.display(),
            second.display()
        );
    }
    say(format!(
        "dist: reproducible: a second build from an empty target directory gives the same {} ({a})",
        file_name(&first)
    ));
    remove_dir(&scratch)
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

/// Which Rust target the release's CLI is built for, and how it is linked (module comment).
fn cli_target(arch: Arch) -> (&'static str, &'static str, &'static [&'static str]) {
    match arch {
        // Rust's musl targets link statically by default, with their own crt objects and libc.a.
        Arch::X86_64 => ("x86_64-unknown-linux-musl", "x86_64-linux-gnu-gcc", &[]),
        Arch::Aarch64 => ("aarch64-unknown-linux-musl", "aarch64-linux-gnu-gcc", &[]),
        Arch::Armv7 => {
            ("armv7-unknown-linux-gnueabihf", "arm-linux-gnueabihf-gcc", &["-C", "target-feature=+crt-static"])
        }
    }
}

/// `cargo build --release -p stormless` for `arch` into `target_dir`, stripped, build paths
/// remapped; the binary is checked to name none of them.
fn build_cli(arch: Arch, target_dir: &Path) -> Result<PathBuf> {
    let (target, linker, flags) = cli_target(arch);
    let workspace = workspace_root();
    let cargo_home = cargo_home();
    let mut rustflags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    rustflags.push(format!("--remap-path-prefix={}=/cargo", cargo_home.display()));
    rustflags.push(format!("--remap-path-prefix={}=/stormless", workspace.display()));
    let key = target.to_uppercase().replace('-', "_");
    say(format!("dist: building the {arch} CLI ({target}, static)"));
    run(Command::new(env!("CARGO"))
        .current_dir(&workspace)
        .env(format!("CARGO_TARGET_{key}_LINKER"), linker)
        .env(format!("CARGO_TARGET_{key}_RUSTFLAGS"), rustflags.join(" "))
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env_remove("RUSTFLAGS")
        .args(["build", "--quiet", "--release", "--locked", "-p", "stormless", "--target", target])
        .arg("--target-dir")
        .arg(target_dir))
    .with_context(|| format!("dist: cannot build the stormless CLI for {arch}"))?;
    let cli = target_dir.join(target).join("release").join("stormless");
    let bytes = fs::read(&cli)?;
    for path in [&workspace, &cargo_home, &target_dir.to_path_buf()] {
        let needle = path.as_os_str().as_encoded_bytes();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            bail!("dist: {} names the build path {}", cli.display(), path.display());
        }
    }
    if static_interpreter(&bytes)? {
        bail!("dist: {} is dynamically linked (it has a PT_INTERP)", cli.display());
    }
    Ok(cli)
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"))
}

/// Whether the ELF file has a PT_INTERP.
fn static_interpreter(bytes: &[u8]) -> Result<bool> {
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::{elf, Endianness};
    fn any<H: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> Result<bool> {
        let h = H::parse(bytes)?;
        let e = h.endian()?;
        Ok(h.program_headers(e, bytes)?.iter().any(|ph| ph.p_type(e) == elf::PT_INTERP))
    }
    match object::FileKind::parse(bytes)? {
        object::FileKind::Elf32 => any::<elf::FileHeader32<Endianness>>(bytes),
        object::FileKind::Elf64 => any::<elf::FileHeader64<Endianness>>(bytes),
        kind => bail!("not an ELF file ({kind:?})"),
    }
}

/// Stage the artifact's files and pack them into `tarball` (written through a temporary name).
fn pack(inputs: &Inputs, cli: &Path, tarball: &Path) -> Result<()> {
    let (version, arch, loader) = (inputs.version, inputs.arch, &inputs.loader);
    let name = artifact_name(version, arch)?;
    let stage_root = tarball.with_extension("stage");
    remove_dir(&stage_root)?;
    let top = stage_root.join(&name);
    put(&top.join("lib").join(arch.ldso_name()), loader, 0o755)?;
    put(&top.join("bin/stormless"), &fs::read(cli)?, 0o755)?;
    let doc_dir = top.join("share/doc/stormless");
    for (doc, bytes) in &inputs.docs {
        put(&doc_dir.join(doc), bytes, 0o644)?;
    }
    put(&doc_dir.join("README"), readme(version, arch, &name)?.as_bytes(), 0o644)?;
    let info = format!(
        "stormless {}\narch {}\nmusl {version}\nloader ld-musl-{}.so.1 sha256 {}\nloader build fingerprint {}\n\
         source commit {}\n",
        self::version()?,
        arch.name(),
        arch.ldso_arch(),
        hex(&Sha256::digest(loader)),
        inputs.fingerprint.trim(),
        inputs.commit
    );
    put(&top.join("BUILD-INFO"), info.as_bytes(), 0o644)?;
    let mut files = Vec::new();
    collect_files(&top, &top, &mut files)?;
    files.sort();
    let mut sums = String::new();
    for rel in &files {
        sums.push_str(&format!("{}  {}\n", sha256_file(&top.join(rel))?, rel));
    }
    put(&top.join("SHA256SUMS"), sums.as_bytes(), 0o644)?;
    for dir in [top.clone(), top.join("lib"), top.join("bin"), top.join("share"), top.join("share/doc"), doc_dir] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    }
    tar_xz(&stage_root, &name, tarball)?;
    remove_dir(&stage_root)
}

/// The sysroot's loader and its build stamp, read so that a relink in between is noticed
/// (the tree replaces each file by rename: the bytes read belong to one link).
fn tree_loader(version: MuslVersion, arch: Arch) -> Result<(Vec<u8>, String)> {
    let tree = Tree::new(version, arch, Loader::Stormless);
    for _ in 0..5 {
        let before = fs::read_to_string(tree.stamp())
            .with_context(|| format!("dist: no complete tree at {}", tree.root.display()))?;
        let bytes = fs::read(tree.lib_dir().join("libc.so"))?;
        let after = fs::read_to_string(tree.stamp())?;
        if before == after {
            return Ok((bytes, after));
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    bail!("dist: the {} tree kept being relinked while it was read", tree.root.display())
}

fn put(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    fs::create_dir_all(path.parent().expect("a file in a directory"))?;
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn collect_files(top: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(top, &path, out)?;
        } else {
            out.push(path.strip_prefix(top).expect("inside").to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// `tar | xz` with nothing from the machine or the moment in the output.
fn tar_xz(stage_root: &Path, name: &str, tarball: &Path) -> Result<()> {
    let partial = tarball.with_extension("partial");
    let out = fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut tar = Command::new("tar")
        .current_dir(stage_root)
        .args(["--create", "--format=gnu", "--sort=name", "--mtime=@0", "--owner=0", "--group=0"])
        .args(["--numeric-owner", "--file=-", name])
        .stdout(Stdio::piped())
        .spawn()
        .context("dist: cannot run tar")?;
    let xz = Command::new("xz")
        .args(["-T1", "-6", "--check=crc64", "-c"])
        .stdin(tar.stdout.take().expect("piped"))
        .stdout(out)
        .status()
        .context("dist: cannot run xz")?;
    let tar = tar.wait()?;
    if !tar.success() || !xz.success() {
        let _ = fs::remove_file(&partial);
        bail!("dist: packing {} failed (tar {tar}, xz {xz})", tarball.display());
    }
    fs::rename(&partial, tarball)?;
    Ok(())
}

fn readme(version: MuslVersion, arch: Arch, name: &str) -> Result<String> {
    Ok(format!(
        "{name}\n\n\
         stormless {v}: musl {version}'s libc with a dynamic linker that reads resolution tables\n\
         (.note.nixos.ldcache) before it searches, for {arch}, and the `stormless` tool.\n\n\
         lib/ld-musl-{m}.so.1   the loader: for a musl {version} {arch} system only\n\
         bin/stormless              the tool (statically linked; runs on any {arch} Linux)\n\
         share/doc/stormless/       deploy.md (Alpine, Void, nixpkgs, Spack, containers), tables.md\n\
         BUILD-INFO, SHA256SUMS     what this was built from; `sha256sum -c SHA256SUMS`\n\n\
         Install onto a musl root (checks arch and musl version first, keeps the original):\n\n\
         \x20   bin/stormless install --root / --dry-run\n\
         \x20   bin/stormless install --root /\n\
         \x20   bin/stormless embed --root / /usr\n\
         \x20   bin/stormless uninstall --root /      # puts the original back, byte for byte\n",
        v = self::version()?,
        m = arch.ldso_arch(),
    ))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    Ok(hex(&Sha256::digest(fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
