//! What the boot test boots is what we ship (issue 17): the image's loaders come from the
//! arch's release artifact (`cargo xtask dist`), installed as a user installs it.
//!
//! In the staging root, the reference tree's musl is installed first (its `libc.so` as
//! `/lib/ld-musl-<m>.so.1`, a real file as on Alpine); the artifact's tarball is unpacked into
//! `/opt/`; its own `bin/stormless install --root` (on its own arch: qemu-user for aarch64 and
//! armv7) replaces the loader, keeping the original as `<loader>.stormless-orig`; its
//! `bin/stormless embed --root` writes the notes. Then the two loaders leave the common part
//! of the image: ours (as installed) for the image under ours, the kept original for the
//! control under stock musl. Each is checked against its tree byte for byte: the artifact must
//! be the sysroot's current `libc.so`, the file the rest of the suite tested.
use crate::dist;
use crate::util::{output, say};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{Arch, Loader, MuslVersion, Tree};

/// The release artifact unpacked in the staging root.
pub struct Release {
    arch: Arch,
    /// `/opt/stormless-<version>-<arch>-musl-<v>` inside the root (the guest's path).
    pub guest_dir: PathBuf,
    /// The same, on the host.
    pub host_dir: PathBuf,
}

impl Release {
    /// Make (or remake) the artifact from the current tree, install musl's own loader into
    /// `root`, unpack the artifact into `root/opt/` and run its `install --root`.
    pub fn install(version: MuslVersion, arch: Arch, root: &Path) -> Result<Release> {
        let tarball = dist::artifact(version, arch)?;
        let reference = Tree::new(version, arch, Loader::Reference);
        let ldso = loader_in(root, arch);
        fs::create_dir_all(ldso.parent().expect("lib/"))?;
        fs::copy(reference.lib_dir().join("libc.so"), &ldso)?;
        let opt = root.join("opt");
        fs::create_dir_all(&opt)?;
        crate::util::run(Command::new("tar").arg("-xJf").arg(&tarball).arg("-C").arg(&opt))?;
        let name = dist::artifact_name(version, arch)?;
        let release = Release { arch, guest_dir: Path::new("/opt").join(&name), host_dir: opt.join(&name) };
        let said = output(release.cli().arg("install").arg("--root").arg(root))
            .context("boot: the artifact's `stormless install --root` failed")?;
        say(format!("boot: {arch}: {}", said.lines().next().unwrap_or("").trim()));
        Ok(release)
    }

    /// The artifact's `bin/stormless`, run on its own arch.
    pub fn cli(&self) -> Command {
        let program = self.host_dir.join("bin/stormless");
        match self.arch.qemu_user() {
            Some(qemu) => {
                let mut c = Command::new(qemu);
                c.arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Take the installed loader and the kept original out of the common root, checked against
    /// their trees: `(ours, reference)` as bytes.
    pub fn take_loaders(&self, version: MuslVersion, root: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
        let ldso = loader_in(root, self.arch);
        let mut kept = ldso.clone().into_os_string();
        kept.push(".stormless-orig");
        let kept = PathBuf::from(kept);
        let ours = fs::read(&ldso).with_context(|| format!("boot: {} is missing after install", ldso.display()))?;
        let original = fs::read(&kept).with_context(|| format!("boot: install kept no {}", kept.display()))?;
        for (bytes, loader, what) in
            [(&ours, Loader::Stormless, "installed loader"), (&original, Loader::Reference, "kept original")]
        {
            let tree = Tree::new(version, self.arch, loader);
            if *bytes != fs::read(tree.lib_dir().join("libc.so"))? {
                bail!(
                    "boot: the {what} in the image is not {}/lib/libc.so as it is now (relinked meanwhile? run again)",
                    tree.root.display()
                );
            }
        }
        fs::remove_file(&ldso)?;
        fs::remove_file(&kept)?;
        Ok((ours, original))
    }

    /// The artifact's CLI in the guest: `--version` exactly, and `show` of the loader.
    pub fn guest_tests(&self) -> Result<Vec<super::guest_tests::GuestTest>> {
        use super::guest_tests::{command, Expect, GuestStep, GuestTest};
        let program = self.guest_dir.join("bin/stormless").to_string_lossy().into_owned();
        let version = format!("stormless {}\n", dist::version()?);
        let ldso = Path::new("/lib").join(self.arch.ldso_name()).to_string_lossy().into_owned();
        let step = |args: &[&str], stdout: Expect| GuestStep {
            cmd: command("/", &[], &program, &args.iter().map(|a| a.to_string()).collect::<Vec<_>>()),
            status: 0,
            stdout,
            ..Default::default()
        };
        Ok(vec![GuestTest {
            name: "release/stormless-cli".into(),
            steps: vec![step(&["--version"], Expect::Exact(version)), step(&["show", &ldso], Expect::Anything)],
        }])
    }

    /// Files of the release in the root: not ELF files to write notes into.
    pub fn files_not_noted(&self, root: &Path) -> Vec<PathBuf> {
        vec![self.host_dir.clone(), root.join("lib")]
    }
}

fn loader_in(root: &Path, arch: Arch) -> PathBuf {
    root.join("lib").join(arch.ldso_name())
}
