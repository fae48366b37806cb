//! Real programs no one here wrote — busybox, lua 5.4 and sqlite3 from Debian
//! bookworm's source packages — built against the sysroot with its `bin/cc`,
//! for the real-programs test (`tests/tests/real_programs.rs`).
//!
//! Layout under `target/stormless/musl-<v>/<arch>/real/` (see
//! [`RealPrograms`]): `store/<name>/` holds each installed package, shared
//! libraries in directories of their own reached through RUNPATH, Nix-store
//! style; `sysroot/bin/` links to the programs as built (PT_INTERP: the
//! stormless loader); `reference/bin/` holds copies whose only difference is
//! the PT_INTERP string, naming the reference loader (see [`fill_bin_dirs`]).
//! Both share the same libraries, which have no PT_INTERP. `build/` holds the
//! build directories and their logs.
//!
//! Each package is built once per musl version and arch: its stamp
//! (`build/<package>.complete`, holding [`RECIPE`]) is written last, and
//! `real/.complete` once both `bin/` directories are filled.
use crate::musl_src::{self, Patches};
use crate::util::{remove_dir, run_logged, say, write_atomic};
use anyhow::{bail, Context, Result};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use stormless_trees::{output_root, Arch, Loader, MuslVersion, RealPrograms, Tree};

/// Written into every stamp: change it when a recipe below changes, so
/// cached builds made by the old recipe are redone.
const RECIPE: &str = "real-programs recipe 1";

/// The Debian suite the packages come from, whatever the musl version.
const SUITE: &str = "bookworm";

/// Optimisation for every package: small and quick to compile (CI has 2 cores).
const OPT: &str = "-Os";

/// Jobs for the packages built with make: the CI machine's two cores.
const MAKE_JOBS: &str = "-j2";

pub fn ensure(version: MuslVersion, arch: Arch) -> Result<()> {
    let real = RealPrograms::new(version, arch);
    if fs::read_to_string(real.stamp()).is_ok_and(|s| s == RECIPE) {
        return Ok(());
    }
    let sysroot = Tree::new(version, arch, Loader::Stormless);
    let reference = Tree::new(version, arch, Loader::Reference);
    for tree in [&sysroot, &reference] {
        if !tree.is_complete() {
            bail!(
                "real programs: no complete tree at {} (run `cargo xtask build --arch {arch} --musl {version}`)",
                tree.root.display()
            );
        }
    }
    let _ = fs::remove_file(real.stamp());
    let build = Build { real: &real, cc: sysroot.cc(), arch, version };
    build.package("busybox", Build::busybox)?;
    build.package("lua5.4", Build::lua)?;
    build.package("sqlite3", Build::sqlite)?;
    fill_bin_dirs(&real, &sysroot, &reference)?;
    write_atomic(&real.stamp(), RECIPE.as_bytes())
}

/// The unpacked source of Debian bookworm's `package`, Debian's patches
/// applied, in `target/stormless/src/<package>` (shared by every version and
/// arch: all builds are out of tree).
fn source(package: &str, must_have: &str) -> Result<PathBuf> {
    let dest = musl_src::src_root().join(package);
    if dest.join(must_have).is_file() {
        return Ok(dest);
    }
    say(format!("fetch: {package} source package from Debian {SUITE}"));
    let log = output_root().join("logs").join(format!("fetch-{package}.log"));
    let check = |unpacked: &Path| {
        if unpacked.join(must_have).is_file() {
            Ok(())
        } else {
            bail!("fetch: the {package} source package has no {must_have}")
        }
    };
    musl_src::fetch_source_package(package, SUITE, Patches::Apply, &log, check, &dest)?;
    Ok(dest)
}

struct Build<'a> {
    real: &'a RealPrograms,
    /// The sysroot's compiler driver: headers, crt objects, libc.so and PT_INTERP of the sysroot.
    cc: PathBuf,
    arch: Arch,
    version: MuslVersion,
}

impl Build<'_> {
    fn dir(&self, package: &str) -> PathBuf {
        self.real.root.join("build").join(package)
    }

    fn log(&self, package: &str) -> PathBuf {
        self.real.root.join("build").join(format!("{package}.log"))
    }

    /// Build `package` with `recipe` unless its stamp says it was built by
    /// this recipe; a fresh build directory and store entries every time.
    fn package(&self, package: &str, recipe: fn(&Self, &Path, &Path) -> Result<()>) -> Result<()> {
        let stamp = self.real.root.join("build").join(format!("{package}.complete"));
        if fs::read_to_string(&stamp).is_ok_and(|s| s == RECIPE) {
            return Ok(());
        }
        let _ = fs::remove_file(&stamp);
        let (version, arch) = (self.version, self.arch);
        let dir = self.dir(package);
        remove_dir(&dir)?;
        fs::create_dir_all(&dir)?;
        let log = self.log(package);
        let _ = fs::remove_file(&log);
        let started = Instant::now();
        say(format!(
            "build: {package} (Debian {SUITE}) against the musl {version} {arch} sysroot, log {}",
            log.display()
        ));
        recipe(self, &dir, &log).with_context(|| format!("real programs: building {package} failed"))?;
        say(format!("build: {package} for musl {version} {arch} took {:.0} s", started.elapsed().as_secs_f64()));
        write_atomic(&stamp, RECIPE.as_bytes())
    }

    /// A fresh `store/<name>/<sub>` directory.
    fn store_dir(&self, name: &str, sub: &str) -> Result<PathBuf> {
        let store = self.real.store(name);
        remove_dir(&store)?;
        let dir = store.join(sub);
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn cc(&self) -> Command {
        Command::new(&self.cc)
    }

    /// busybox's defconfig, dynamically linked and PIE, built out of tree.
    fn busybox(&self, dir: &Path, log: &Path) -> Result<()> {
        let src = source("busybox", "applets/applets.c")?;
        let headers = kernel_headers(self.arch, &dir.join("kernel-headers"))?;
        let out = dir.join("out");
        fs::create_dir_all(&out)?;
        run_logged(Command::new("make").arg("-C").arg(&src).arg(format!("O={}", out.display())).arg("defconfig"), log)?;
        let config_path = out.join(".config");
        let config = fs::read_to_string(&config_path)?;
        // musl's headers come without the kernel's, which many applets include.
        let extra_cflags = format!("-isystem {}", headers.display());
        let config = set_config(&config, "CONFIG_PIE", "y")?;
        let config = set_config(&config, "CONFIG_EXTRA_CFLAGS", &format!("\"{extra_cflags}\""))?;
        for (option, must_be) in [("CONFIG_STATIC", "is not set"), ("CONFIG_PIE", "=y")] {
            if !config.lines().any(|l| l.contains(option) && l.contains(must_be)) {
                bail!("busybox: {option} should be {must_be} in {}", config_path.display());
            }
        }
        fs::write(&config_path, config)?;
        let triple = self.arch.gnu_triple();
        // CROSS_COMPILE names strip/ar/objcopy for the target; CC is the sysroot's
        // driver; HOSTCC stays the host's gcc for kconfig and the generators.
        let make = |target: &str| {
            let mut make = Command::new("make");
            make.current_dir(&out)
                .arg(MAKE_JOBS)
                .arg(format!("CROSS_COMPILE={triple}-"))
                .arg(format!("CC={}", self.cc.display()))
                .arg(target);
            make
        };
        run_logged(&mut make("busybox"), log)?;
        run_logged(&mut make("busybox.links"), log)?;
        let bin = self.store_dir("busybox", "bin")?;
        fs::copy(out.join("busybox"), bin.join("busybox"))?;
        let applets: Vec<String> = fs::read_to_string(out.join("busybox.links"))?
            .lines()
            .filter_map(|l| Path::new(l).file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        if applets.len() < 100 {
            bail!("busybox: only {} applets in {}", applets.len(), out.join("busybox.links").display());
        }
        fs::write(self.real.store("busybox").join("applets"), applets.join("\n") + "\n")?;
        Ok(())
    }

    /// `liblua5.4.so.0` (with Debian's symbol version script) in its own store
    /// directory, and the `lua` interpreter linked against it through RUNPATH.
    fn lua(&self, dir: &Path, log: &Path) -> Result<()> {
        let src = source("lua5.4", "src/lua.c")?;
        let lua_src = src.join("src");
        // Debian's luaconf.h patch includes this header, which debian/rules writes.
        let multiarch_h = "lua5.4-deb-multiarch.h";
        fs::write(
            dir.join(multiarch_h),
            format!(
                "#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH \"{}\"\n#endif\n",
                self.arch.gnu_triple()
            ),
        )?;
        let cflags = [OPT, "-DLUA_COMPAT_5_3", "-DLUA_USE_LINUX"];
        let include = |c: &mut Command| {
            c.arg("-I").arg(dir).arg("-I").arg(&lua_src);
        };
        // The library's objects: upstream's CORE_O and LIB_O (src/Makefile).
        const LIBRARY: &[&str] = &[
            "lapi", "lcode", "lctype", "ldebug", "ldo", "ldump", "lfunc", "lgc", "llex", "lmem", "lobject", "lopcodes",
            "lparser", "lstate", "lstring", "ltable", "ltm", "lundump", "lvm", "lzio", "lauxlib", "lbaselib",
            "lcorolib", "ldblib", "liolib", "lmathlib", "loadlib", "loslib", "lstrlib", "ltablib", "lutf8lib", "linit",
        ];
        let lib = self.store_dir("liblua5.4", "lib")?;
        let soname = "liblua5.4.so.0";
        let mut link = self.cc();
        link.args(cflags).args(["-fPIC", "-shared"]);
        include(&mut link);
        link.arg(format!("-Wl,-soname,{soname}"))
            .arg(format!("-Wl,--version-script,{}", src.join("debian/version-script").display()))
            .arg("-o")
            .arg(lib.join(soname))
            .args(LIBRARY.iter().map(|n| lua_src.join(format!("{n}.c"))))
            .arg("-lm");
        run_logged(&mut link, log)?;
        std::os::unix::fs::symlink(soname, lib.join("liblua5.4.so"))?;

        let include_dir = self.real.lua_include_dir();
        fs::create_dir_all(&include_dir)?;
        for h in ["lua.h", "luaconf.h", "lualib.h", "lauxlib.h"] {
            fs::copy(lua_src.join(h), include_dir.join(h))?;
        }
        fs::copy(dir.join(multiarch_h), include_dir.join(multiarch_h))?;

        let bin = self.store_dir("lua5.4", "bin")?;
        let mut interp = self.cc();
        interp.args(cflags);
        include(&mut interp);
        interp.arg("-o").arg(bin.join("lua")).arg(lua_src.join("lua.c"));
        link_against(&mut interp, &lib, "lua5.4");
        run_logged(&mut interp, log)
    }

    /// The amalgamation is generated on the host (configure with the host's
    /// gcc, tclsh), then `libsqlite3.so.0` and the `sqlite3` shell are
    /// compiled from it with the sysroot's compiler.
    fn sqlite(&self, dir: &Path, log: &Path) -> Result<()> {
        let src = source("sqlite3", "tool/mksqlite3c.tcl")?;
        // The generated files do not depend on the target: configure runs the
        // host's compiler only, for lemon and the other generators.
        run_logged(
            Command::new(src.join("configure")).current_dir(dir).env("CC", "gcc").args([
                "--disable-tcl",
                "--disable-readline",
                "--disable-load-extension",
            ]),
            log,
        )?;
        run_logged(Command::new("make").current_dir(dir).args([MAKE_JOBS, "sqlite3.c", "shell.c"]), log)?;

        let defines = ["-DSQLITE_THREADSAFE=1", "-DSQLITE_ENABLE_MATH_FUNCTIONS", "-DHAVE_USLEEP=1"];
        let lib = self.store_dir("libsqlite3", "lib")?;
        let soname = "libsqlite3.so.0";
        run_logged(
            self.cc()
                .args([OPT, "-fPIC", "-shared"])
                .args(defines)
                .arg(format!("-Wl,-soname,{soname}"))
                .arg("-o")
                .arg(lib.join(soname))
                .arg(dir.join("sqlite3.c")),
            log,
        )?;
        std::os::unix::fs::symlink(soname, lib.join("libsqlite3.so"))?;

        let bin = self.store_dir("sqlite3", "bin")?;
        let mut shell = self.cc();
        shell.arg(OPT).args(defines).arg("-I").arg(dir).arg("-o").arg(bin.join("sqlite3")).arg(dir.join("shell.c"));
        link_against(&mut shell, &lib, "sqlite3");
        run_logged(&mut shell, log)
    }
}

/// Link `cmd` against `lib<name>.so` in `dir`, found at run time through RUNPATH.
fn link_against(cmd: &mut Command, dir: &Path, name: &str) {
    cmd.arg("-L").arg(dir).arg(format!("-l{name}")).arg(format!("-Wl,--enable-new-dtags,-rpath,{}", dir.display()));
}

/// `option=value` in a kconfig `.config`, whether it was set or `# … is not set`.
fn set_config(config: &str, option: &str, value: &str) -> Result<String> {
    let unset = format!("# {option} is not set");
    let set = format!("{option}=");
    let mut found = false;
    let lines: Vec<String> = config
        .lines()
        .map(|l| {
            if l == unset || l.starts_with(&set) {
                found = true;
                format!("{option}={value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        bail!("busybox: no {option} in its defconfig");
    }
    Ok(lines.join("\n") + "\n")
}

/// The directories [`kernel_headers`] links.
pub(crate) const KERNEL_HEADER_DIRS: [&str; 4] = ["linux", "asm-generic", "mtd", "asm"];

/// A directory holding only the Linux UAPI headers (`linux/`, `asm/`,
/// `asm-generic/`, `mtd/`) of `arch`, as symbolic links into the Debian
/// package that ships them; nothing of glibc's headers comes along.
pub(crate) fn kernel_headers(arch: Arch, dir: &Path) -> Result<PathBuf> {
    let (root, asm) = match arch {
        Arch::X86_64 => (PathBuf::from("/usr/include"), PathBuf::from("/usr/include/x86_64-linux-gnu/asm")),
        Arch::Aarch64 | Arch::Armv7 => {
            let root = Path::new("/usr").join(arch.gnu_triple()).join("include");
            (root.clone(), root.join("asm"))
        }
    };
    fs::create_dir_all(dir)?;
    let [linux, asm_generic, mtd, asm_name] = KERNEL_HEADER_DIRS;
    for (name, target) in
        [(linux, root.join("linux")), (asm_generic, root.join("asm-generic")), (mtd, root.join("mtd")), (asm_name, asm)]
    {
        if !target.join(".").is_dir() {
            bail!("kernel headers: no {} (Debian package {})", target.display(), kernel_headers_package(arch));
        }
        std::os::unix::fs::symlink(&target, dir.join(name))?;
    }
    Ok(dir.to_path_buf())
}

/// The Debian package with `arch`'s Linux UAPI headers.
pub(crate) fn kernel_headers_package(arch: Arch) -> String {
    match arch {
        Arch::X86_64 => "linux-libc-dev".into(),
        Arch::Aarch64 | Arch::Armv7 => format!("linux-libc-dev-{}-cross", arch.debian_arch()),
    }
}

/// `sysroot/bin`: links to the store's programs, as built. `reference/bin`:
/// copies of them whose PT_INTERP string names the reference loader instead,
/// through a link as long as the sysroot loader's path, so that nothing else
/// changes: `patchelf --set-interpreter` (0.19.3) rewrites the layout even for
/// a string of the same length (measured: lua grew from 26872 to 30609 bytes,
/// PT_INTERP moved into a new PT_LOAD), and the two loaders would then be
/// handed different program headers. In both, one link per busybox applet, so
/// a shell started from one `bin/` runs its children from the same.
fn fill_bin_dirs(real: &RealPrograms, sysroot: &Tree, reference: &Tree) -> Result<()> {
    let programs = [
        ("busybox", real.store("busybox").join("bin/busybox")),
        ("lua", real.store("lua5.4").join("bin/lua")),
        ("sqlite3", real.store("sqlite3").join("bin/sqlite3")),
    ];
    let applets = fs::read_to_string(real.store("busybox").join("applets"))?;
    let reference_ldso = same_length_link(&real.root.join("ld-ref"), sysroot, reference)?;
    for loader in Loader::ALL {
        let bin = real.bin_dir(loader);
        remove_dir(&bin)?;
        fs::create_dir_all(&bin)?;
        for (name, built) in &programs {
            let dest = bin.join(name);
            match loader {
                Loader::Stormless => std::os::unix::fs::symlink(built, &dest)?,
                Loader::Reference => {
                    let mut bytes = fs::read(built)?;
                    replace_interpreter(&mut bytes, &sysroot.ldso(), &reference_ldso)
                        .with_context(|| format!("cannot set the reference loader in a copy of {}", built.display()))?;
                    fs::write(&dest, bytes)?;
                    fs::set_permissions(&dest, fs::metadata(built)?.permissions())?;
                }
            }
        }
        for applet in applets.lines().filter(|a| !programs.iter().any(|(p, _)| p == a)) {
            std::os::unix::fs::symlink("busybox", bin.join(applet))?;
        }
    }
    Ok(())
}

/// `<dir>/<ldso>` (`real/ld-ref/<ldso>` for the real programs), a link to the
/// reference loader whose path is exactly as long as the sysroot loader's
/// (`…/sysroot/lib/<ldso>`).
pub(crate) fn same_length_link(dir: &Path, sysroot: &Tree, reference: &Tree) -> Result<PathBuf> {
    let link = dir.join(sysroot.arch.ldso_name());
    let (ours, theirs) = (sysroot.ldso().as_os_str().len(), link.as_os_str().len());
    if ours != theirs {
        bail!(
            "{} has {theirs} bytes, {} has {ours}: they must be equally long",
            link.display(),
            sysroot.ldso().display()
        );
    }
    let dir = link.parent().expect("the link has a directory");
    remove_dir(dir)?;
    fs::create_dir_all(dir)?;
    std::os::unix::fs::symlink(reference.ldso(), &link)?;
    Ok(link)
}

/// Overwrite the PT_INTERP string of the ELF image `bytes`, which must be
/// `old`, with `new`, which must be as long.
pub(crate) fn replace_interpreter(bytes: &mut [u8], old: &Path, new: &Path) -> Result<()> {
    use object::elf::{FileHeader32, FileHeader64};
    use object::Endianness;
    let range = match object::FileKind::parse(&*bytes)? {
        object::FileKind::Elf32 => interp_range::<FileHeader32<Endianness>>(bytes)?,
        object::FileKind::Elf64 => interp_range::<FileHeader64<Endianness>>(bytes)?,
        other => bail!("not an ELF file ({other:?})"),
    };
    let (old, new) = (old.as_os_str().as_bytes(), new.as_os_str().as_bytes());
    let interp = bytes.get_mut(range).context("PT_INTERP lies outside the file")?;
    if interp.strip_suffix(b"\0") != Some(old) {
        bail!("PT_INTERP is {:?}, expected {}", String::from_utf8_lossy(interp), String::from_utf8_lossy(old));
    }
    if new.len() != old.len() {
        bail!("the new interpreter path must be {} bytes long, not {}", old.len(), new.len());
    }
    interp[..new.len()].copy_from_slice(new);
    Ok(())
}

/// The file range of the PT_INTERP segment.
fn interp_range<H: object::read::elf::FileHeader<Endian = object::Endianness>>(
    bytes: &[u8],
) -> Result<std::ops::Range<usize>> {
    use object::read::elf::ProgramHeader;
    let header = H::parse(bytes)?;
    let endian = header.endian()?;
    let interp = header
        .program_headers(endian, bytes)?
        .iter()
        .find(|ph| ph.p_type(endian) == object::elf::PT_INTERP)
        .context("no PT_INTERP")?;
    let start = usize::try_from(interp.p_offset(endian).into())?;
    let size = usize::try_from(interp.p_filesz(endian).into())?;
    Ok(start..start + size)
}
