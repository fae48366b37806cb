//! `cargo xtask store`: a Nix-style store of real software — CPython 3.11 and
//! the C libraries its extension modules use — built from Debian source
//! packages against the sysroot with its `bin/cc` (docs/store.md).
//!
//! Layout under `target/stormless/musl-<v>/<arch>/store/` ([`Store`]):
//! every package in `<hash>-<name>-<version>/`, the hash over its recipe
//! text, the compiler driver and its dependencies' hashes ([`recipes`] says
//! what a recipe is); `build/` holds the build directories, logs and
//! per-package stamps; `sysroot/bin/python3` links to the interpreter as
//! built (PT_INTERP: the stormless loader), `reference/bin/python3` is a copy
//! whose only difference is the PT_INTERP string, naming stock musl's loader
//! through a link as long as ours (`ldref/`, the mechanism of the real
//! programs). Both find the same prefix, library directories and
//! site-packages ([`site_packages`]).
//!
//! No `LD_LIBRARY_PATH` anywhere: every object reaches its libraries through
//! its RUNPATH, configure's test programs included, and [`check`] verifies
//! each package's objects after its build.
mod check;
mod recipes;

use crate::musl_src::{self, Patches};
use crate::real::{replace_interpreter, same_length_link};
use crate::util::{remove_dir, say, write_atomic};
use anyhow::{bail, Context, Result};
use recipes::{Package, Source, Step};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use stormless_trees::{output_root, Arch, Loader, MuslVersion, Store, Tree};

/// Part of every package's hash: change it when what this module does around
/// the recipes changes the packages' contents.
const STORE_RECIPE: &str = "stormless store 1";

/// Lines of a failed step's log quoted in the error.
const LOG_TAIL: usize = 20;

/// Build the store for `version` and `arch` unless every package is already
/// built by its current recipe; then (re)make both entry points.
pub fn ensure(version: MuslVersion, arch: Arch) -> Result<()> {
    let store = Store::new(version, arch);
    let sysroot = Tree::new(version, arch, Loader::Stormless);
    let reference = Tree::new(version, arch, Loader::Reference);
    for tree in [&sysroot, &reference] {
        if !tree.is_complete() {
            bail!(
                "store: no complete tree at {} (run `cargo xtask build --arch {arch} --musl {version}`)",
                tree.root.display()
            );
        }
    }
    let cc_text = fs::read_to_string(sysroot.cc()).with_context(|| format!("reading {}", sysroot.cc().display()))?;
    let packages = recipes::packages(arch);
    let mut outs: BTreeMap<&str, (String, PathBuf)> = BTreeMap::new();
    for package in &packages {
        let deps: Vec<(&str, String, PathBuf)> = package
            .deps
            .iter()
            .map(|d| {
                let (hash, out) =
                    outs.get(d).with_context(|| format!("store: {} needs {d}, listed after it", package.name))?;
                Ok((*d, hash.clone(), out.clone()))
            })
            .collect::<Result<_>>()?;
        let text = package.recipe_text();
        let hash = package_hash(version, arch, &cc_text, &text, &deps);
        let out = store.root.join(format!("{hash}-{}-{}", package.name, package.version));
        let build = PackageBuild { store: &store, package, out: &out, deps: &deps, sysroot: &sysroot, version, arch };
        build.ensure_despite_tree_rebuilds(&format!("{}\n{text}", out.display()))?;
        outs.insert(package.name, (hash, out));
    }
    remove_stale_outputs(&store, &outs)?;
    let python = &outs.get("python3.11").context("store: no python3.11 package")?.1;
    recipes::check_python(python, &sysroot, arch)?;
    entry_points(&store, python, &sysroot, &reference)?;
    let site = python.join(SITE_PACKAGES);
    crate::wheels::install(arch, &site)?;
    compile_site_packages(&store, arch, &site)?;
    write_atomic(&store.stamp(), format!("{}\n", python.display()).as_bytes())
}

/// Remove every package directory (`<hash>-<name>-<version>`) that no
/// current recipe produced: the output of a build that failed (its stamp
/// never written, so no later build of the package removes it) or of a
/// superseded recipe. Everything that lists the store's directories — the
/// bench's floor copy gathers every package's `lib` into one — must see
/// only the store's packages: armv7's first OpenSSL, refused by `check.rs`
/// (it NEEDs glibc's libatomic), stayed beside the rebuilt one, and the
/// floor copy took its `libcrypto.so.3`.
fn remove_stale_outputs(store: &Store, outs: &BTreeMap<&str, (String, PathBuf)>) -> Result<()> {
    for entry in fs::read_dir(&store.root)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let is_package = name.len() > 33 && name.as_bytes()[32] == b'-' && name[..32].bytes().all(is_base32);
        if is_package && !outs.values().any(|(_, out)| *out == path) {
            say(format!("store: removing {}, which no current recipe produced", path.display()));
            remove_dir(&path)?;
        }
    }
    Ok(())
}

fn is_base32(b: u8) -> bool {
    NIX_BASE32.contains(&b)
}

/// The site-packages directory both entry points import from, inside the
/// interpreter's own prefix. The locked wheels (`xtask/src/wheels.rs`) are
/// unpacked here; `stormless embed` over the store covers them.
const SITE_PACKAGES: &str = "lib/python3.11/site-packages";

/// `.pyc` for the unpacked wheels, as pip compiles them on install: written
/// by the store's own interpreter (its sysroot entry point), so the test
/// runs, which write none (`PYTHONDONTWRITEBYTECODE`), do not recompile
/// numpy and pytest every time. Files already compiled are skipped, so an
/// unchanged store costs one directory walk.
fn compile_site_packages(store: &Store, arch: Arch, site: &Path) -> Result<()> {
    let python = store.python(Loader::Stormless);
    let mut cmd = match arch.qemu_user() {
        None => Command::new(&python),
        Some(qemu) => {
            let mut c = Command::new(qemu);
            c.arg(&python);
            c
        }
    };
    cmd.args(["-m", "compileall", "-q", "-j", "2"]).arg(site);
    cmd.env_remove("LD_LIBRARY_PATH").env_remove("PYTHONPATH").env_remove("PYTHONHOME");
    let out = cmd.output().with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "store: `{} -m compileall {}` failed ({}): {}{}",
            python.display(),
            site.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Nix-like: sha256 over everything that decides the package's contents,
/// its first 160 bits in base32 (Nix's alphabet): 32 characters.
fn package_hash(version: MuslVersion, arch: Arch, cc: &str, recipe: &str, deps: &[(&str, String, PathBuf)]) -> String {
    let mut h = Sha256::new();
    for part in [STORE_RECIPE, version.as_str(), arch.name(), cc, recipe] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (name, hash, _) in deps {
        h.update(format!("{name}={hash}\n").as_bytes());
    }
    base32(&h.finalize()[..20])
}

/// Nix's base32 alphabet (no e, o, u, t).
const NIX_BASE32: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(NIX_BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}

struct PackageBuild<'a> {
    store: &'a Store,
    package: &'a Package,
    out: &'a Path,
    deps: &'a [(&'a str, String, PathBuf)],
    sysroot: &'a Tree,
    version: MuslVersion,
    arch: Arch,
}

impl PackageBuild<'_> {
    fn stamp(&self) -> PathBuf {
        self.store.build_dir().join(format!("{}.complete", self.package.name))
    }

    fn log(&self) -> PathBuf {
        self.store.build_dir().join(format!("{}.log", self.package.name))
    }

    /// [`Self::ensure`], again when it failed because the sysroot was rebuilt
    /// under it: `cargo xtask build` removes and relinks a sysroot whenever
    /// the loader changes, and a compile then finds no `bin/cc`, specs or
    /// headers. The rebuilt tree has the same driver (the hash stands), so
    /// the package is built again once the tree is complete, at most twice.
    fn ensure_despite_tree_rebuilds(&self, stamp_text: &str) -> Result<()> {
        let mut retries = 0;
        loop {
            let before = self.wait_for_sysroot()?;
            match self.ensure(stamp_text) {
                Ok(()) => return Ok(()),
                Err(e) if retries < 2 && tree_mtime(self.sysroot) != Some(before) => {
                    retries += 1;
                    say(format!(
                        "store: {}: the sysroot {} was rebuilt during the build; building it again ({e:#})",
                        self.package.name,
                        self.sysroot.root.display()
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Wait (up to 30 minutes) until the sysroot is complete; its stamp's time.
    fn wait_for_sysroot(&self) -> Result<std::time::SystemTime> {
        let started = Instant::now();
        loop {
            if let Some(t) = tree_mtime(self.sysroot) {
                return Ok(t);
            }
            if started.elapsed().as_secs() > 1800 {
                bail!("store: the sysroot {} stayed incomplete for 30 minutes", self.sysroot.root.display());
            }
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    }

    /// Build unless the stamp holds `stamp_text` (out path and recipe); a
    /// fresh build directory and output directory every time, and the output
    /// of the stamp's previous recipe removed.
    fn ensure(&self, stamp_text: &str) -> Result<()> {
        let name = self.package.name;
        let old = fs::read_to_string(self.stamp()).unwrap_or_default();
        if old == stamp_text && self.out.is_dir() {
            return Ok(());
        }
        let _ = fs::remove_file(self.stamp());
        if let Some(old_out) = old.lines().next().filter(|l| l.starts_with(&self.store.root.display().to_string())) {
            remove_dir(Path::new(old_out))?;
        }
        let src = source(&self.package.source)?;
        let dir = self.store.build_dir().join(name);
        remove_dir(&dir)?;
        fs::create_dir_all(&dir)?;
        remove_dir(self.out)?;
        fs::create_dir_all(self.out)?;
        let log = self.log();
        let _ = fs::remove_file(&log);
        let (version, arch) = (self.version, self.arch);
        say(format!(
            "store: building {name} {} for musl {version} {arch} into {}, log {}",
            self.package.version,
            self.out.display(),
            log.display()
        ));
        let started = Instant::now();
        let vars = self.placeholders(&src, &dir);
        check::dev_null()?;
        for step in &self.package.steps {
            // A broken /dev/null is the likely cause of a failed step: said first.
            self.run(step, &vars, &dir, &log).map_err(|e| match check::dev_null() {
                Ok(()) => e,
                Err(host) => e.context(format!("{host:#}")),
            })?;
        }
        check::dev_null()?;
        check::package(self.out, &self.dep_lib_dirs(), self.package.all_deps_in_runpath).with_context(|| {
            format!("store: {name}: the built objects break the store's rules (log {})", log.display())
        })?;
        let secs = started.elapsed().as_secs_f64();
        say(format!("store: {name} for musl {version} {arch} took {secs:.0} s"));
        fs::write(self.store.build_dir().join(format!("{name}.seconds")), format!("{secs:.0}\n"))?;
        write_atomic(&self.stamp(), stamp_text.as_bytes())
    }

    fn dep_lib_dirs(&self) -> Vec<PathBuf> {
        self.deps.iter().map(|(_, _, out)| out.join("lib")).collect()
    }

    fn placeholders(&self, src: &Path, build: &Path) -> Vec<(String, String)> {
        let mut vars = vec![
            ("@out@".to_string(), self.out.display().to_string()),
            ("@src@".to_string(), src.display().to_string()),
            ("@build@".to_string(), build.display().to_string()),
            ("@cc@".to_string(), self.sysroot.cc().display().to_string()),
        ];
        for (name, _, out) in self.deps {
            vars.push((format!("@dep:{name}@"), out.display().to_string()));
        }
        vars
    }

    /// One step, its command line written to the log first; on failure the
    /// error names the package, the log and quotes the log's last lines.
    fn run(&self, step: &Step, vars: &[(String, String)], dir: &Path, log: &Path) -> Result<()> {
        let expand = |s: &str| {
            let mut s = s.to_string();
            for (k, v) in vars {
                s = s.replace(k.as_str(), v);
            }
            if let Some(at) = s.find("@dep:") {
                bail!("store: {}: a step names {} but it is not a dependency", self.package.name, &s[at..]);
            }
            Ok(s)
        };
        let argv: Vec<String> = step.argv.iter().map(|a| expand(a)).collect::<Result<_>>()?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(dir);
        // Nothing of the caller's loader or make settings reaches the builds.
        for var in ["LD_LIBRARY_PATH", "LD_PRELOAD", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CONFIG_SITE"] {
            cmd.env_remove(var);
        }
        cmd.env("LC_ALL", "C");
        let mut shown = String::new();
        for (k, v) in &step.env {
            let v = expand(v)?;
            shown.push_str(&format!("{k}='{v}' "));
            cmd.env(k, v);
        }
        shown.push_str(&argv.join(" "));
        let mut file = fs::OpenOptions::new().create(true).append(true).open(log)?;
        use std::io::Write;
        writeln!(file, "\n$ {shown}")?;
        let status = cmd.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file).status();
        let status = match status {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "store: building {}: `{}` is not installed{} (log {})",
                self.package.name,
                argv[0],
                recipes::host_tool_package(&argv[0]).map(|p| format!(": install Debian's {p}")).unwrap_or_default(),
                log.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("store: cannot start `{}`", argv[0])),
        };
        if !status.success() {
            let text = fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n    | ");
            bail!(
                "store: building {} failed ({status}) at `{}`; log {}; its last lines:\n    | {tail}",
                self.package.name,
                argv.join(" "),
                log.display()
            );
        }
        Ok(())
    }
}

/// When the tree's `.complete` stamp was written, or `None` while it is being built.
fn tree_mtime(tree: &Tree) -> Option<std::time::SystemTime> {
    fs::metadata(tree.stamp()).and_then(|m| m.modified()).ok()
}

/// The unpacked source package in `target/stormless/src/<package>` (shared
/// by every musl version and arch: builds are out of tree, or copy it).
fn source(source: &Source) -> Result<PathBuf> {
    let dest = musl_src::src_root().join(source.package);
    if dest.join(source.must_have).is_file() {
        return Ok(dest);
    }
    say(format!("fetch: {} source package from Debian {}", source.package, source.suite));
    let log = output_root().join("logs").join(format!("fetch-{}.log", source.package));
    let check = |unpacked: &Path| {
        if unpacked.join(source.must_have).is_file() {
            Ok(())
        } else {
            bail!("fetch: the {} source package has no {}", source.package, source.must_have)
        }
    };
    let patches = if source.debian_patches { Patches::Apply } else { Patches::Skip };
    musl_src::fetch_source_package(source.package, source.suite, patches, &log, check, &dest)?;
    Ok(dest)
}

/// `sysroot/bin/python3`: a relative link to the interpreter as built.
/// `reference/bin/python3`: a copy whose PT_INTERP names stock musl's loader
/// through `ldref/<ldso>`, a link exactly as long as the sysroot loader's
/// path, so that nothing else in the file changes (real.rs says why not
/// patchelf). Python finds its prefix from the link's target, and from the
/// copy through its built-in prefix: the same one.
fn entry_points(store: &Store, python: &Path, sysroot: &Tree, reference: &Tree) -> Result<()> {
    let built = python.join("bin/python3.11");
    let reference_ldso = same_length_link(&store.root.join("ldref"), sysroot, reference)?;
    for loader in Loader::ALL {
        let bin = store.bin_dir(loader);
        remove_dir(&bin)?;
        fs::create_dir_all(&bin)?;
        let dest = store.python(loader);
        match loader {
            Loader::Stormless => {
                let rel = Path::new("../..").join(built.strip_prefix(&store.root)?);
                std::os::unix::fs::symlink(rel, &dest)?;
            }
            Loader::Reference => {
                let mut bytes = fs::read(&built)?;
                replace_interpreter(&mut bytes, &sysroot.ldso(), &reference_ldso)
                    .with_context(|| format!("cannot set the reference loader in a copy of {}", built.display()))?;
                fs::write(&dest, bytes)?;
                fs::set_permissions(&dest, fs::metadata(&built)?.permissions())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_32_characters_of_nix_base32() {
        let h = base32(&[0xff; 20]);
        assert_eq!(h.len(), 32);
        assert_eq!(h, "z".repeat(32));
        assert_eq!(base32(&[0; 20]), "0".repeat(32));
    }
}
