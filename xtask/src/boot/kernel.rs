//! Debian's kernels for the boot test, one per arch, resolved through their
//! metapackages (never a hard-coded version): `linux-image-cloud-amd64`,
//! `linux-image-arm64`, `linux-image-armmp`. The metapackage's `Depends`
//! names the versioned `linux-image-<abi>-<flavour>` package; only its
//! `boot/vmlinuz-*` is kept, in `target/stormless/boot/kernels/<debian-arch>/`.
//!
//! The package indexes of the foreign arches come through a private apt state
//! (`target/stormless/apt-boot/`, [`musl_src::private_apt_options`]): adding
//! foreign architectures to the machine's own apt can make `apt-get update`
//! fail on the security mirror, and the machine's configuration stays as it
//! is. Once a kernel is cached it is used as it is: remove its directory to
//! pick up a newer one.
use crate::musl_src;
use crate::util::{output, remove_dir, run_logged, say};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use stormless_trees::{output_root, Arch};

/// The Debian suite the kernels come from.
const SUITE: &str = "bookworm";

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub vmlinuz: PathBuf,
    /// `<package> <version>`, as resolved when it was fetched.
    pub package: String,
}

/// The metapackage that always depends on Debian's current kernel for `arch`
/// on qemu's machines: the cloud flavour on x86_64 (virtio and serial, few
/// modules), the generic arm64 one, and the multiplatform armhf one (it
/// supports qemu's `virt` board, whose device tree qemu generates).
fn metapackage(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "linux-image-cloud-amd64",
        Arch::Aarch64 => "linux-image-arm64",
        Arch::Armv7 => "linux-image-armmp",
    }
}

fn cache_dir(arch: Arch) -> PathBuf {
    output_root().join("boot").join("kernels").join(arch.debian_arch())
}

fn cached(arch: Arch) -> Option<Kernel> {
    let dir = cache_dir(arch);
    let package = fs::read_to_string(dir.join("package")).ok()?;
    let vmlinuz = dir.join("vmlinuz");
    vmlinuz.is_file().then(|| Kernel { vmlinuz, package: package.trim().to_string() })
}

/// The kernel of every arch in `arches`, fetching those not cached (one
/// `apt-get update` for all of them).
pub fn ensure(arches: &[Arch]) -> Result<Vec<Kernel>> {
    let missing: Vec<Arch> = arches.iter().copied().filter(|a| cached(*a).is_none()).collect();
    if !missing.is_empty() {
        let log = output_root().join("logs").join("boot-kernels.log");
        let apt = Apt::new(&log)?;
        for arch in missing {
            fetch(&apt, arch, &log)?;
        }
    }
    arches
        .iter()
        .map(|a| cached(*a).with_context(|| format!("boot: the {a} kernel is missing after fetching it")))
        .collect()
}

/// The private apt state, its indexes up to date.
struct Apt {
    options: Vec<String>,
}

impl Apt {
    fn new(log: &Path) -> Result<Apt> {
        let debian_arches: Vec<&str> = Arch::ALL.iter().map(|a| a.debian_arch()).collect();
        let mut extra: Vec<String> = debian_arches.iter().map(|a| format!("APT::Architectures::={a}")).collect();
        extra.push("Acquire::Languages=none".into());
        let options = musl_src::private_apt_options(
            &output_root().join("apt-boot"),
            &musl_src::deb_line(SUITE, &debian_arches),
            &extra,
        )?;
        say(format!(
            "boot: reading Debian {SUITE}'s package indexes for {} (log {})",
            debian_arches.join(", "),
            log.display()
        ));
        // --error-on=any: an index that cannot be fetched is an error, not a warning.
        run_logged(Command::new("apt-get").args(&options).args(["-q", "update", "--error-on=any"]), log)
            .with_context(|| format!("boot: cannot read Debian {SUITE}'s package indexes (for the kernels)"))?;
        Ok(Apt { options })
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.args(&self.options);
        c
    }
}

fn fetch(apt: &Apt, arch: Arch, log: &Path) -> Result<()> {
    let meta = format!("{}:{}", metapackage(arch), arch.debian_arch());
    let show = output(apt.command("apt-cache").args(["show", "--no-all-versions", &meta]))
        .with_context(|| format!("boot: Debian {SUITE} has no kernel metapackage {meta}"))?;
    let package = kernel_dependency(&show).with_context(|| format!("boot: cannot resolve {meta}"))?;
    let version = field(&show, "Version").unwrap_or("?");
    say(format!("boot: fetching {package} (through {meta} {version}) for {arch}"));

    let dir = cache_dir(arch);
    let work = dir.with_extension("download");
    remove_dir(&work)?;
    fs::create_dir_all(&work)?;
    // apt checks the download against the signed index's hashes.
    run_logged(
        apt.command("apt-get").current_dir(&work).arg("download").arg(format!("{package}:{}", arch.debian_arch())),
        log,
    )
    .with_context(|| format!("boot: cannot download the kernel package {package} ({arch})"))?;
    let deb = only_file(&work, |name| name.ends_with(".deb")).context("boot: no downloaded kernel package")?;
    let unpacked = work.join("unpacked");
    fs::create_dir_all(&unpacked)?;
    extract_vmlinuz(&deb, &unpacked)?;
    let vmlinuz = only_file(&unpacked.join("boot"), |name| name.starts_with("vmlinuz-"))
        .with_context(|| format!("boot: {} holds no boot/vmlinuz-*", deb.display()))?;

    remove_dir(&dir)?;
    fs::create_dir_all(&dir)?;
    fs::rename(&vmlinuz, dir.join("vmlinuz"))?;
    // Written last: the cache is used only once it is complete.
    fs::write(dir.join("package"), format!("{package} {version}\n"))?;
    remove_dir(&work)
}

/// `dpkg-deb --fsys-tarfile DEB | tar -x ./boot/vmlinuz-*`: the kernel only,
/// not the package's modules.
fn extract_vmlinuz(deb: &Path, dest: &Path) -> Result<()> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("boot: cannot run dpkg-deb")?;
    let archive = dpkg.stdout.take().context("boot: dpkg-deb has no output")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .args(["--wildcards", "./boot/vmlinuz-*"])
        .stdin(archive)
        .status()
        .context("boot: cannot run tar")?;
    let dpkg = dpkg.wait()?;
    if !dpkg.success() || !tar.success() {
        bail!("boot: cannot unpack the kernel from {} (dpkg-deb {dpkg}, tar {tar})", deb.display());
    }
    Ok(())
}

/// The one file in `dir` whose name satisfies `wanted`.
fn only_file(dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| wanted(&n.to_string_lossy())) {
            found.push(path);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("expected one matching file in {}, found {}", dir.display(), found.len()),
    }
}

/// A field of the first stanza of `apt-cache show` output.
fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// The `linux-image-*` package a kernel metapackage depends on.
fn kernel_dependency(stanza: &str) -> Result<String> {
    let depends = field(stanza, "Depends").context("no Depends field")?;
    depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or("").split(':').next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-"))
        .map(String::from)
        .with_context(|| format!("no linux-image-* package among its dependencies ({depends})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANZA: &str = "Package: linux-image-arm64\nSource: linux-signed-arm64 (6.1.176+1)\n\
        Version: 6.1.176-1\nArchitecture: arm64\n\
        Depends: linux-image-6.1.0-50-arm64 (= 6.1.176-1)\nDescription: Linux for 64-bit ARMv8 machines\n";

    #[test]
    fn the_versioned_package_is_taken_from_depends() {
        assert_eq!(kernel_dependency(STANZA).unwrap(), "linux-image-6.1.0-50-arm64");
        assert_eq!(field(STANZA, "Version"), Some("6.1.176-1"));
        let other = "Depends: initramfs-tools | linux-initramfs-tool, linux-image-6.1.0-9-armmp:armhf (= 6.1.27-1)\n";
        assert_eq!(kernel_dependency(other).unwrap(), "linux-image-6.1.0-9-armmp");
    }

    #[test]
    fn a_metapackage_without_a_kernel_is_an_error() {
        let err = kernel_dependency("Package: x\nDepends: libc6 (>= 2.36)\n").unwrap_err();
        assert!(err.to_string().contains("libc6"), "{err}");
        assert!(kernel_dependency("Package: x\n").is_err());
    }
}
