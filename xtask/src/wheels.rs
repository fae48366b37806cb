//! Third-party musl binaries for the store (issue 18, points 3 and 9): the musllinux_1_2 wheels
//! pinned in `xtask/wheels.lock` (numpy, Pillow, pytest, hypothesis and what they need), fetched
//! with the host's pip into `target/stormless/wheels/<arch>/`, checked against the lock's sha256
//! by us, and unpacked into a store's site-packages as pip lays them out.
//!
//! armv7 has no numpy or Pillow wheel on PyPI (the lock says so), so [`fetch`] and [`install`]
//! do nothing for it and say why.
//!
//! Unpacking is ours, with the `zip` crate, not `pip install --target`: pip would run the host's
//! Python over the store's files — compiling `.pyc` with the host interpreter and writing console
//! scripts whose `#!` names the host's `python3` — and `--target` keeps no record of what it put
//! where, so a changed lock could not be undone cleanly. A wheel's layout rules are few and fixed
//! (PEP 427 "Spreading"), and the result below is what pip writes: the files at the root of
//! site-packages, `<name>.data/{purelib,platlib}` merged in, a `.dist-info` with `INSTALLER` and
//! a rewritten `RECORD`.
use crate::setup::venv_dir;
use crate::util::{remove_dir, run_logged, say, write_atomic};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use stormless_trees::{output_root, Arch};

/// The lock, compiled in: a changed lock rebuilds xtask, and the stamp below notices.
const LOCK: &str = include_str!("../wheels.lock");
const LOCK_PATH: &str = "xtask/wheels.lock";

/// Part of every stamp: change it when [`unpack`] lays files out differently.
const LAYOUT: &str = "wheels layout 1";

/// What `<dist-info>/INSTALLER` says; a later install removes what it names (a changed lock).
const INSTALLER: &str = "stormless-xtask";

/// In site-packages: the layout and the hash of the arch's lock lines it was installed from.
const STAMP: &str = ".stormless-wheels.stamp";

/// One line of the lock.
#[derive(Clone, Debug, PartialEq)]
struct Wheel {
    /// `None`: a pure-Python wheel (`any`).
    arch: Option<Arch>,
    sha256: String,
    file: String,
}

impl Wheel {
    /// Name and version, the first two fields of a wheel's file name (PEP 427).
    fn name_version(&self) -> (&str, &str) {
        let mut parts = self.file.split('-');
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }
}

fn parse_lock(text: &str) -> Result<Vec<Wheel>> {
    let mut wheels: Vec<Wheel> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{LOCK_PATH} line {}", i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [arch, sha256, file] = fields[..] else {
            bail!("{}: expected `<arch> <sha256> <file>`, got `{line}`", at());
        };
        let arch = match arch {
            "any" => None,
            a => Some(a.parse::<Arch>().map_err(|e| anyhow::anyhow!("{}: {e}", at()))?),
        };
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            bail!("{}: `{sha256}` is not a sha256 (64 lower-case hex digits)", at());
        }
        let dashes = file.matches('-').count();
        if !file.ends_with(".whl") || file.contains('/') || !(4..=5).contains(&dashes) {
            bail!("{}: `{file}` is not a wheel file name (name-version-python-abi-platform.whl)", at());
        }
        if wheels.iter().any(|w| w.file == file) {
            bail!("{}: {file} is locked twice", at());
        }
        wheels.push(Wheel { arch, sha256: sha256.into(), file: file.into() });
    }
    Ok(wheels)
}

/// The arch's wheels: its own lines and the `any` lines, or nothing if it has no lines of its own.
fn locked(lock: &[Wheel], arch: Arch) -> Vec<Wheel> {
    if !lock.iter().any(|w| w.arch == Some(arch)) {
        return Vec::new();
    }
    lock.iter().filter(|w| w.arch.is_none_or(|a| a == arch)).cloned().collect()
}

/// The arch part of the `musllinux_1_2_<arch>` platform tag.
fn platform_tag(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "aarch64",
        Arch::Armv7 => "armv7l",
    }
}

/// Where the verified wheels of `arch` are kept: `target/stormless/wheels/<arch>/`.
pub fn cache_dir(arch: Arch) -> PathBuf {
    output_root().join("wheels").join(arch.name())
}

/// The locked wheels of `arch`, downloaded unless cached, each checked against its sha256 in the
/// lock. Empty for an arch without wheels (armv7).
pub fn fetch(arch: Arch) -> Result<Vec<PathBuf>> {
    let wheels = locked(&parse_lock(LOCK)?, arch);
    if wheels.is_empty() {
        say(format!(
            "wheels: none for {arch}: PyPI has no musllinux_1_2_{} numpy/Pillow ({LOCK_PATH})",
            platform_tag(arch)
        ));
        return Ok(Vec::new());
    }
    let dir = cache_dir(arch);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let missing: Vec<&Wheel> = wheels.iter().filter(|w| !dir.join(&w.file).is_file()).collect();
    if !missing.is_empty() {
        download(arch, &dir, &missing)?;
    }
    wheels.iter().map(|w| verified(&dir, w)).collect()
}

/// `pip download` of exactly the locked files: pinned versions and `--require-hashes`, so pip
/// picks the file with the locked hash and checks it too (we check again, in [`verified`]).
fn download(arch: Arch, dir: &Path, wheels: &[&Wheel]) -> Result<()> {
    let pip = venv_dir().join("bin").join("pip");
    if !pip.is_file() {
        bail!("wheels: no pip at {} (run `cargo xtask setup`, which makes that venv)", pip.display());
    }
    let requirements: String = wheels
        .iter()
        .map(|w| {
            let (name, version) = w.name_version();
            format!("{name}=={version} --hash=sha256:{}\n", w.sha256)
        })
        .collect();
    let req = dir.join("requirements.txt");
    write_atomic(&req, requirements.as_bytes())?;
    let log = output_root().join("logs").join(format!("wheels-{arch}.log"));
    say(format!("wheels: downloading {} wheel(s) for {arch} from PyPI into {}", wheels.len(), dir.display()));
    let platform = format!("musllinux_1_2_{}", platform_tag(arch));
    let mut pip = Command::new(pip);
    pip.args(["download", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:"])
        .args(["--platform", &platform, "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"])
        .arg("--require-hashes")
        .arg("-r")
        .arg(&req)
        .arg("-d")
        .arg(dir);
    run_logged(&mut pip, &log).with_context(|| format!("wheels: pip could not download the {arch} wheels from PyPI"))
}

/// `dir/<file>` if its sha256 is the locked one; otherwise the file is deleted (the next run
/// downloads it again) and the error names it with both hashes.
fn verified(dir: &Path, wheel: &Wheel) -> Result<PathBuf> {
    let path = dir.join(&wheel.file);
    if !path.is_file() {
        bail!("wheels: {} is missing after pip download", path.display());
    }
    let actual = sha256_file(&path)?;
    if actual != wheel.sha256 {
        fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
        bail!(
            "wheels: {} does not match {LOCK_PATH}: expected sha256 {}, got {actual}; deleted it, nothing unpacked",
            path.display(),
            wheel.sha256
        );
    }
    Ok(path)
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hash = Sha256::new();
    io::copy(&mut file, &mut hash).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", hash.finalize()))
}

/// The locked wheels of `arch`, fetched and verified, unpacked into `site_packages`. Does nothing
/// if its stamp says this lock was installed; after a changed lock, first removes everything an
/// earlier install put there. Console scripts (`bin/pytest` …) are not made: their `#!` would
/// have to name the store's python, which this module does not know; run `python3 -m pytest`.
/// `.pyc` files are not compiled either: the store's own python can (`-m compileall`).
pub fn install(arch: Arch, site_packages: &Path) -> Result<()> {
    let wheels = locked(&parse_lock(LOCK)?, arch);
    let lines: String = wheels.iter().map(|w| format!("{} {}\n", w.sha256, w.file)).collect();
    let stamp = format!("{LAYOUT}; {arch}; lock sha256 {:x}\n", Sha256::digest(lines.as_bytes()));
    install_wheels(site_packages, &stamp, || fetch(arch))
}

fn install_wheels(site_packages: &Path, stamp: &str, fetch: impl FnOnce() -> Result<Vec<PathBuf>>) -> Result<()> {
    let stamp_path = site_packages.join(STAMP);
    if fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(());
    }
    // Every file verified before site-packages is touched.
    let files = fetch()?;
    fs::create_dir_all(site_packages).with_context(|| format!("cannot create {}", site_packages.display()))?;
    let _ = fs::remove_file(&stamp_path);
    remove_ours(site_packages)?;
    for file in &files {
        unpack(file, site_packages).with_context(|| format!("wheels: cannot unpack {}", file.display()))?;
    }
    if !files.is_empty() {
        say(format!("wheels: {} wheel(s) in {}", files.len(), site_packages.display()));
    }
    write_atomic(&stamp_path, stamp.as_bytes())
}

/// Removes every top-level entry named in the RECORD of a distribution whose INSTALLER is ours
/// (the package, its `*.libs`, its `.dist-info`): what pip's uninstall removes, plus the
/// `__pycache__` directories Python wrote since.
fn remove_ours(site_packages: &Path) -> Result<()> {
    let entries: Vec<PathBuf> = fs::read_dir(site_packages)?.map(|e| e.map(|e| e.path())).collect::<io::Result<_>>()?;
    for dist_info in entries {
        let ours = fs::read_to_string(dist_info.join("INSTALLER")).is_ok_and(|s| s.trim() == INSTALLER);
        if !dist_info.to_string_lossy().ends_with(".dist-info") || !ours {
            continue;
        }
        let record = fs::read_to_string(dist_info.join("RECORD"))
            .with_context(|| format!("wheels: {} has no RECORD", dist_info.display()))?;
        let mut tops: Vec<&str> =
            record.lines().filter_map(|l| l.trim_start_matches('"').split(['/', ',']).next()).collect();
        tops.sort();
        tops.dedup();
        for top in tops.into_iter().filter(|t| !t.is_empty() && *t != "." && *t != "..") {
            remove_any(&site_packages.join(top))?;
        }
        remove_dir(&dist_info)?;
    }
    Ok(())
}

fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => remove_dir(path),
        Ok(_) => fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display())),
        Err(_) => Ok(()),
    }
}

/// Unpacks one wheel into a staging directory beside its destination, then moves each top-level
/// entry into `site_packages` (replacing one of the same name, as a reinstall does), the
/// `.dist-info` last: an interrupted install leaves no `.dist-info` for a half-installed package.
fn unpack(wheel: &Path, site_packages: &Path) -> Result<()> {
    let mut zip = zip::ZipArchive::new(fs::File::open(wheel)?)?;
    let names: Vec<String> = zip.file_names().map(|n| n.map(String::from)).collect::<zip::result::ZipResult<_>>()?;
    let dist_info = names
        .iter()
        .filter_map(|n| n.strip_suffix("/WHEEL"))
        .find(|d| d.ends_with(".dist-info") && !d.contains('/'))
        .context("no <name>-<version>.dist-info/WHEEL in it")?
        .to_string();
    let data_dir = dist_info.replace(".dist-info", ".data");
    let staging = site_packages.join(".stormless-unpack");
    remove_dir(&staging)?;
    let mut record: Vec<String> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let name = entry.name()?.into_owned();
        if entry.is_dir() {
            continue;
        }
        let path = PathBuf::from(&name);
        if name.starts_with('/') || !path.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("entry `{name}` leaves the wheel's directory");
        }
        // `.data/purelib` and `platlib` belong at the root; `scripts`, `headers` and `data`
        // would go to bin/, include/ and the prefix, none of which the store takes from wheels.
        let dest = match path.strip_prefix(&data_dir) {
            Err(_) => path.clone(),
            Ok(rest) => match rest.components().next().and_then(|c| c.as_os_str().to_str()) {
                Some("purelib" | "platlib") => rest.components().skip(1).collect(),
                Some(category @ ("scripts" | "headers" | "data")) => {
                    say(format!("wheels: {}: skipped {name} (.data/{category})", wheel.display()));
                    continue;
                }
                _ => bail!("entry `{name}`: unknown .data category"),
            },
        };
        // RECORD is rewritten below; signatures of the old RECORD would not match it.
        if [format!("{dist_info}/RECORD"), format!("{dist_info}/RECORD.jws"), format!("{dist_info}/RECORD.p7s")]
            .iter()
            .any(|r| Path::new(r) == dest)
        {
            continue;
        }
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        io::copy(&mut entry, &mut bytes)?;
        write_file(&staging, &dest, &bytes, executable, &mut record)?;
    }
    let installer = PathBuf::from(&dist_info).join("INSTALLER");
    write_file(&staging, &installer, format!("{INSTALLER}\n").as_bytes(), false, &mut record)?;
    record.sort();
    record.push(format!("{},,", csv_field(&format!("{dist_info}/RECORD"))));
    // CRLF: what Python's csv module, and so pip, writes.
    fs::write(staging.join(&dist_info).join("RECORD"), record.join("\r\n") + "\r\n")?;
    let mut tops: Vec<PathBuf> = fs::read_dir(&staging)?.map(|e| e.map(|e| e.path())).collect::<io::Result<_>>()?;
    tops.sort_by_key(|p| p.ends_with(&dist_info));
    for top in tops {
        let dest = site_packages.join(top.file_name().context("staging entry without a name")?);
        remove_any(&dest)?;
        fs::rename(&top, &dest).with_context(|| format!("cannot move {} to {}", top.display(), dest.display()))?;
    }
    remove_dir(&staging)
}

/// Writes `root/rel` with pip's modes (0755 if the wheel marked it executable, else 0644) and
/// adds its RECORD line: `path,sha256=<urlsafe base64, unpadded>,size`.
fn write_file(root: &Path, rel: &Path, bytes: &[u8], executable: bool, record: &mut Vec<String>) -> Result<()> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    file.set_permissions(fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }))?;
    let digest = base64_urlsafe_nopad(&Sha256::digest(bytes));
    record.push(format!("{},sha256={digest},{}", csv_field(&rel.to_string_lossy()), bytes.len()));
    Ok(())
}

/// RECORD is CSV: a field with a comma or a quote is quoted, its quotes doubled.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// RFC 4648 §5 base64, without `=` padding: the hash encoding of RECORD (PEP 376, 427).
fn base64_urlsafe_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    /// A fresh directory of this test's own under the system's temporary directory.
    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stormless-wheels-{}-{test}", std::process::id()));
        remove_dir(&dir).unwrap();
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_lock_pins_numpy_pillow_and_the_test_deps_for_x86_64_and_aarch64_only() {
        let lock = parse_lock(LOCK).unwrap();
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let wheels = locked(&lock, arch);
            let names: Vec<&str> = wheels.iter().map(|w| w.name_version().0).collect();
            for name in [
                "numpy",
                "pillow",
                "pytest",
                "iniconfig",
                "packaging",
                "pluggy",
                "pygments",
                "hypothesis",
                "sortedcontainers",
            ] {
                assert!(names.contains(&name), "{arch}: {name} not locked");
            }
            for w in wheels.iter().filter(|w| w.arch.is_some()) {
                assert!(
                    w.file.ends_with(&format!("-cp311-cp311-musllinux_1_2_{}.whl", platform_tag(arch))),
                    "{}",
                    w.file
                );
            }
            let numpy = wheels.iter().find(|w| w.name_version().0 == "numpy").unwrap();
            assert!(numpy.name_version().1.starts_with("2."));
        }
        assert!(locked(&lock, Arch::Armv7).is_empty());
    }

    #[test]
    fn lock_errors_name_the_line() {
        let hash = "a".repeat(64);
        let cases = [
            (format!("x86_64 {hash}"), "line 1: expected `<arch> <sha256> <file>`"),
            (format!("\n# c\nsparc {hash} a-1-py3-none-any.whl"), "line 3"),
            ("any 1234 a-1-py3-none-any.whl".to_string(), "is not a sha256"),
            (format!("any {} a-1-py3-none-any.whl", "A".repeat(64)), "is not a sha256"),
            (format!("any {hash} a-1.tar.gz"), "is not a wheel file name"),
            (
                format!("any {hash} a-1-py3-none-any.whl\nx86_64 {hash} a-1-py3-none-any.whl"),
                "line 2: a-1-py3-none-any.whl is locked twice",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", parse_lock(&text).unwrap_err());
            assert!(err.contains(want), "`{text}`: {err}");
        }
        let ok = parse_lock(&format!("aarch64 {hash} a_b-1.0-py3-none-any.whl  # comment\n")).unwrap();
        assert_eq!(ok[0].arch, Some(Arch::Aarch64));
        assert_eq!(ok[0].name_version(), ("a_b", "1.0"));
    }

    #[test]
    fn a_wheel_with_the_wrong_hash_is_refused_and_deleted() {
        let dir = temp_dir("mismatch");
        let file = "numpy-2.4.6-cp311-cp311-musllinux_1_2_x86_64.whl";
        fs::write(dir.join(file), b"not the wheel the lock pinned").unwrap();
        let expected = "f407cb6b8e9d6d8c626bc73c945db1706035af8fd632295547bf1c9e46d092d6";
        let wheel = Wheel { arch: Some(Arch::X86_64), sha256: expected.into(), file: file.into() };
        let actual = format!("{:x}", Sha256::digest(b"not the wheel the lock pinned"));
        let err = format!("{:#}", verified(&dir, &wheel).unwrap_err());
        assert!(err.contains(file) && err.contains(expected) && err.contains(&actual), "{err}");
        assert!(!dir.join(file).exists(), "the bad file must be deleted");
        // Through install: nothing reaches site-packages, no stamp.
        fs::write(dir.join(file), b"not the wheel the lock pinned").unwrap();
        let site = dir.join("site-packages");
        assert!(install_wheels(&site, "stamp", || Ok(vec![verified(&dir, &wheel)?])).is_err());
        assert!(!site.exists());
        remove_dir(&dir).unwrap();
    }

    /// A wheel as `bdist_wheel` writes one: package, extension, `.data` dirs, `.dist-info`.
    fn tiny_wheel(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"));
        let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        let file = SimpleFileOptions::default().unix_permissions(0o644);
        let exe = SimpleFileOptions::default().unix_permissions(0o755);
        let entries: [(String, &[u8], SimpleFileOptions); 8] = [
            (format!("{name}/__init__.py"), b"from ._ext import *\n", file),
            (format!("{name}/_ext.cpython-311-x86_64-linux-musl.so"), b"\x7fELF", exe),
            (format!("{name}.libs/libfoo-1234abcd.so.1"), b"\x7fELF", exe),
            (format!("{name}-1.0.data/purelib/{name}_pure.py"), b"", file),
            (format!("{name}-1.0.data/platlib/{name}_plat/x.so"), b"\x7fELF", exe),
            (format!("{name}-1.0.data/scripts/{name}-cli"), b"#!python\n", exe),
            (format!("{name}-1.0.dist-info/WHEEL"), b"Wheel-Version: 1.0\n", file),
            (format!("{name}-1.0.dist-info/RECORD"), b"stale,,\n", file),
        ];
        for (entry, bytes, options) in entries {
            zip.start_file(entry, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    #[test]
    fn unpacking_lays_files_out_as_pip_does_and_a_new_lock_replaces_the_old() {
        let dir = temp_dir("layout");
        let site = dir.join("site-packages");
        let demo = tiny_wheel(&dir, "demo");
        install_wheels(&site, "lock 1", || Ok(vec![demo.clone()])).unwrap();
        for f in [
            "demo/__init__.py",
            "demo.libs/libfoo-1234abcd.so.1",
            "demo_pure.py",
            "demo_plat/x.so",
            "demo-1.0.dist-info/WHEEL",
        ] {
            assert!(site.join(f).is_file(), "{f} missing");
        }
        assert!(!site.join("demo-1.0.data").exists() && !site.join("bin").exists());
        let mode = |f: &str| fs::metadata(site.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("demo/_ext.cpython-311-x86_64-linux-musl.so"), 0o755);
        assert_eq!(mode("demo/__init__.py"), 0o644);
        assert_eq!(fs::read_to_string(site.join("demo-1.0.dist-info/INSTALLER")).unwrap(), "stormless-xtask\n");
        let record = fs::read_to_string(site.join("demo-1.0.dist-info/RECORD")).unwrap();
        // sha256 of "from ._ext import *\n", urlsafe base64 without padding.
        let init = base64_urlsafe_nopad(&Sha256::digest(b"from ._ext import *\n"));
        assert!(record.contains(&format!("demo/__init__.py,sha256={init},20\r\n")), "{record}");
        assert!(record.contains("demo_plat/x.so,sha256=") && record.contains("demo-1.0.dist-info/INSTALLER,sha256="));
        assert!(
            record.ends_with("demo-1.0.dist-info/RECORD,,\r\n")
                && !record.contains("stale")
                && !record.contains(".data")
        );

        // Same stamp: nothing is done (nor fetched).
        fs::remove_file(site.join("demo_pure.py")).unwrap();
        install_wheels(&site, "lock 1", || panic!("fetched again")).unwrap();
        assert!(!site.join("demo_pure.py").exists());

        // A changed lock: the old distribution goes entirely (with Python's __pycache__), the new comes.
        fs::create_dir_all(site.join("demo/__pycache__")).unwrap();
        fs::write(site.join("unrelated.pth"), "").unwrap();
        let other = tiny_wheel(&dir, "other");
        install_wheels(&site, "lock 2", || Ok(vec![other.clone()])).unwrap();
        let mut left: Vec<String> =
            fs::read_dir(&site).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(
            left,
            [STAMP, "other", "other-1.0.dist-info", "other.libs", "other_plat", "other_pure.py", "unrelated.pth"]
        );
        remove_dir(&dir).unwrap();
    }

    /// The real thing, from PyPI (so not in the default run): `cargo test -p xtask -- --ignored wheels`.
    #[test]
    #[ignore = "downloads about 60 MB from PyPI"]
    fn the_locked_wheels_download_verify_and_install() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let site = temp_dir(&format!("real-{arch}"));
            install(arch, &site).unwrap();
            let tag = format!("cpython-311-{arch}-linux-musl.so");
            for f in [
                format!("numpy/_core/_multiarray_umath.{tag}"),
                format!("PIL/_imaging.{tag}"),
                "pytest/__init__.py".into(),
            ] {
                assert!(site.join(&f).is_file(), "{arch}: {f} missing");
            }
            assert!(site.join("numpy.libs").is_dir() && site.join("pillow.libs").is_dir());
            let dist_infos: Vec<PathBuf> = fs::read_dir(&site)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().ends_with(".dist-info"))
                .collect();
            assert_eq!(dist_infos.len(), 9, "{arch}: {dist_infos:?}");
            assert!(dist_infos.iter().all(|d| d.join("INSTALLER").is_file() && d.join("RECORD").is_file()));
            remove_dir(&site).unwrap();
        }
        assert!(fetch(Arch::Armv7).unwrap().is_empty());
    }

    #[test]
    fn base64_matches_python() {
        // base64.urlsafe_b64encode(x).rstrip(b"=") for each.
        assert_eq!(base64_urlsafe_nopad(b""), "");
        assert_eq!(base64_urlsafe_nopad(b"f"), "Zg");
        assert_eq!(base64_urlsafe_nopad(b"fo"), "Zm8");
        assert_eq!(base64_urlsafe_nopad(b"foo"), "Zm9v");
        assert_eq!(base64_urlsafe_nopad(&[0xfb, 0xff, 0xfe]), "-__-");
    }
}
