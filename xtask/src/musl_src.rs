//! musl's source, from Debian source packages (bookworm: 1.2.3, trixie: 1.2.5),
//! fetched through a private sources list so the machine's apt configuration
//! is never touched. The upstream tarball is unpacked without Debian's patches:
//! stormless builds musl unmodified.
use crate::util::{remove_dir, run_logged, say};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{output_root, MuslVersion};

const MIRROR: &str = "http://deb.debian.org/debian";
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

pub fn src_root() -> PathBuf {
    output_root().join("src")
}

/// The unpacked source of `version`; present only once complete (it is
/// unpacked beside it and renamed into place).
pub fn dir(version: MuslVersion) -> PathBuf {
    src_root().join(format!("musl-{version}"))
}

fn apt_dir() -> PathBuf {
    output_root().join("apt")
}

/// apt options that point every state and config path into `target/`.
fn apt_options() -> Result<Vec<String>> {
    let mut text = String::new();
    for v in MuslVersion::ALL {
        text.push_str(&format!("deb-src [signed-by={KEYRING}] {MIRROR} {} main\n", v.debian_suite()));
    }
    private_apt_options(&apt_dir(), &text, &[])
}

/// One `deb` line of Debian's main archive for `suite`, limited to `arches`
/// (Debian names), for [`private_apt_options`].
pub fn deb_line(suite: &str, arches: &[&str]) -> String {
    format!("deb [arch={} signed-by={KEYRING}] {MIRROR} {suite} main\n", arches.join(","))
}

/// apt options for a private apt state in `dir` (its own sources list with
/// `sources`, index lists and package cache), plus `extra` `-o` settings:
/// the machine's apt configuration and state are never touched.
pub fn private_apt_options(dir: &Path, sources: &str, extra: &[String]) -> Result<Vec<String>> {
    for sub in ["lists/partial", "cache/archives/partial"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let list = dir.join("sources.list");
    fs::write(&list, sources)?;
    let mut options = vec![
        format!("Dir::Etc::SourceList={}", list.display()),
        "Dir::Etc::SourceParts=/dev/null".into(),
        format!("Dir::State::Lists={}", dir.join("lists").display()),
        format!("Dir::Cache={}", dir.join("cache").display()),
        // Files land in target/, which apt's unprivileged sandbox user may not reach.
        "APT::Sandbox::User=root".into(),
    ];
    options.extend(extra.iter().cloned());
    Ok(options.into_iter().flat_map(|o| ["-o".to_string(), o]).collect())
}

pub fn ensure(version: MuslVersion) -> Result<PathBuf> {
    let dest = dir(version);
    if dest.join("VERSION").is_file() {
        return Ok(dest);
    }
    let suite = version.debian_suite();
    say(format!("fetch: musl {version} source package from Debian {suite}"));
    let log = output_root().join("logs").join(format!("fetch-musl-{version}.log"));
    fetch_source_package("musl", suite, Patches::Skip, &log, |unpacked| check_version(unpacked, version), &dest)?;
    Ok(dest)
}

/// Whether `dpkg-source -x` applies the Debian patches of a source package.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Patches {
    Apply,
    Skip,
}

/// Download Debian `suite`'s source package `package` through the private apt
/// configuration, unpack it beside `dest`, let `check` look at the unpacked
/// tree, and rename it into `dest` (so `dest` exists only when complete).
pub fn fetch_source_package(
    package: &str,
    suite: &str,
    patches: Patches,
    log: &Path,
    check: impl FnOnce(&Path) -> Result<()>,
    dest: &Path,
) -> Result<()> {
    let opts = apt_options()?;
    run_logged(Command::new("apt-get").args(&opts).arg("update"), log)
        .with_context(|| format!("fetch: cannot read Debian {suite} source indexes"))?;

    let name = dest.file_name().context("fetch: destination has no name")?.to_string_lossy();
    let work = src_root().join(format!("download-{name}"));
    remove_dir(&work)?;
    fs::create_dir_all(&work)?;
    // apt checks every file against the signed index's hashes while downloading.
    run_logged(
        Command::new("apt-get")
            .current_dir(&work)
            .args(&opts)
            .args(["source", "--download-only"])
            .arg(format!("{package}/{suite}")),
        log,
    )
    .with_context(|| format!("fetch: cannot download the {package} source package from Debian {suite}"))?;
    let dsc = find_dsc(&work)?;
    let unpacked = work.join("unpacked");
    let mut unpack = Command::new("dpkg-source");
    unpack.current_dir(&work);
    if patches == Patches::Skip {
        unpack.arg("--skip-patches");
    }
    // dpkg-source checks the .dsc's checksums of the tarballs: a corrupt package stops here.
    run_logged(unpack.arg("-x").arg(&dsc).arg(&unpacked), log)
        .with_context(|| format!("fetch: corrupt {package} source package {}", dsc.display()))?;
    check(&unpacked)?;
    remove_dir(dest)?;
    fs::rename(&unpacked, dest)?;
    remove_dir(&work)?;
    Ok(())
}

fn find_dsc(dir: &Path) -> Result<PathBuf> {
    let mut found = Vec::new();
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "dsc") {
            found.push(p);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("fetch: expected one .dsc in {}, found {}", dir.display(), found.len()),
    }
}

fn check_version(src: &Path, version: MuslVersion) -> Result<()> {
    let v = fs::read_to_string(src.join("VERSION"))
        .with_context(|| format!("fetch: unpacked source in {} has no VERSION file", src.display()))?;
    if v.trim() != version.as_str() {
        bail!("fetch: Debian {} ships musl {} (expected {version})", version.debian_suite(), v.trim());
    }
    for needed in ["Makefile", "configure", "ldso/dynlink.c", "src/internal/libc.h"] {
        if !src.join(needed).is_file() {
            bail!("fetch: musl source in {} lacks {needed}", src.display());
        }
    }
    Ok(())
}
