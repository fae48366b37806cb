//! The store's packages and how each is built.
//!
//! A recipe is data: the source package and a list of command lines with
//! placeholders (`@out@` the package's store directory, `@src@` the unpacked
//! source, `@build@` the build directory, `@cc@` the sysroot's `bin/cc`,
//! `@dep:<name>@` a dependency's store directory). Its text, placeholders
//! unexpanded, is what the package's hash covers (with the dependencies'
//! hashes), so a changed flag is a new store path, as in Nix.
//!
//! Every link gets `-Wl,--enable-new-dtags,-rpath,` with the package's own
//! `lib` and each dependency's: RUNPATH, never `LD_LIBRARY_PATH`, also for
//! configure's test programs (the flags are in `LDFLAGS`). `PKG_CONFIG_LIBDIR`
//! names only the dependencies' `.pc` directories, and the sysroot's driver
//! sees no host header (`-nostdinc` in musl's specs), so nothing of the
//! host's glibc libraries leaks in.
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use stormless_trees::{Arch, Tree};

/// Optimisation of every package: `-O2`, no LTO or PGO (2 cores).
const OPT: &str = "-O2";
/// Jobs for make: the CI machine's two cores.
const MAKE_JOBS: &str = "-j2";
/// The suite of the source packages (mpdecimal excepted, see [`packages`]).
const SUITE: &str = "bookworm";

pub(super) struct Source {
    /// Debian source package name.
    pub package: &'static str,
    pub suite: &'static str,
    /// Whether Debian's patches are applied (`dpkg-source -x` without `--skip-patches`).
    pub debian_patches: bool,
    /// A file the unpacked source must have.
    pub must_have: &'static str,
}

/// One command, run in the build directory.
pub(super) struct Step {
    pub env: Vec<(&'static str, String)>,
    pub argv: Vec<String>,
}

pub(super) struct Package {
    /// Store name: `<hash>-<name>-<version>`.
    pub name: &'static str,
    pub version: &'static str,
    pub source: Source,
    /// Store packages it links against, each listed before it.
    pub deps: Vec<&'static str>,
    pub steps: Vec<Step>,
    /// Whether every ELF object must list every dependency's `lib` in its
    /// RUNPATH (CPython, as nixpkgs does), not only those it needs.
    pub all_deps_in_runpath: bool,
}

impl Package {
    /// The text the package's hash covers.
    pub fn recipe_text(&self) -> String {
        let s = &self.source;
        let mut text = format!(
            "{} {}\nsource {} ({}), Debian patches: {}\ndeps {}\nall deps in runpath: {}\n",
            self.name,
            self.version,
            s.package,
            s.suite,
            s.debian_patches,
            self.deps.join(" "),
            self.all_deps_in_runpath
        );
        for step in &self.steps {
            text.push_str("$ ");
            for (k, v) in &step.env {
                text.push_str(&format!("{k}='{v}' "));
            }
            text.push_str(&step.argv.join(" "));
            text.push('\n');
        }
        text
    }
}

fn step(argv: &[&str]) -> Step {
    Step { env: vec![], argv: argv.iter().map(|s| s.to_string()).collect() }
}

fn sh(script: &str) -> Step {
    step(&["sh", "-ec", script])
}

/// The environment of an autotools build against `deps`.
fn build_env(arch: Arch, deps: &[&str], extra_cppflags: &[&str]) -> Vec<(&'static str, String)> {
    let triple = arch.gnu_triple();
    let mut cppflags: Vec<String> = deps.iter().map(|d| format!("-I@dep:{d}@/include")).collect();
    cppflags.extend(extra_cppflags.iter().map(|s| s.to_string()));
    let mut ldflags: Vec<String> = deps.iter().map(|d| format!("-L@dep:{d}@/lib")).collect();
    let rpath: Vec<String> =
        std::iter::once("@out@/lib".to_string()).chain(deps.iter().map(|d| format!("@dep:{d}@/lib"))).collect();
    ldflags.push(format!("-Wl,--enable-new-dtags,-rpath,{}", rpath.join(":")));
    let pkg_config: Vec<String> = if deps.is_empty() {
        // pkg-config then finds nothing, not the host's `.pc` files.
        vec!["@out@/lib/pkgconfig".into()]
    } else {
        deps.iter().map(|d| format!("@dep:{d}@/lib/pkgconfig")).collect()
    };
    vec![
        ("CC", "@cc@".into()),
        ("CFLAGS", OPT.into()),
        ("CPPFLAGS", cppflags.join(" ")),
        ("LDFLAGS", ldflags.join(" ")),
        ("AR", format!("{triple}-ar")),
        ("RANLIB", format!("{triple}-ranlib")),
        ("NM", format!("{triple}-nm")),
        ("STRIP", format!("{triple}-strip")),
        ("READELF", format!("{triple}-readelf")),
        ("PKG_CONFIG_LIBDIR", pkg_config.join(":")),
        ("PKG_CONFIG_PATH", String::new()),
    ]
}

/// `--build`/`--host` for configure. On x86_64 the build is native and
/// both name musl: configure then runs its test programs (through the
/// sysroot's loader); elsewhere it cross-compiles from the glibc host.
fn host_args(arch: Arch) -> Vec<String> {
    match arch {
        Arch::X86_64 => vec!["--build=x86_64-pc-linux-musl".into(), "--host=x86_64-pc-linux-musl".into()],
        _ => vec!["--build=x86_64-pc-linux-gnu".into(), format!("--host={}", arch.musl_triple())],
    }
}

/// `configure` (from the source, or `./configure` in a copy), make, make install.
fn autotools(arch: Arch, deps: &[&str], configure: &str, args: &[&str], extra_cppflags: &[&str]) -> Vec<Step> {
    let env = build_env(arch, deps, extra_cppflags);
    let mut argv = vec![configure.to_string(), "--prefix=@out@".to_string()];
    argv.extend(host_args(arch));
    argv.extend(args.iter().filter(|s| !s.is_empty()).map(|s| s.to_string()));
    vec![
        Step { env: env.clone(), argv },
        Step { env: env.clone(), argv: vec!["make".into(), MAKE_JOBS.into()] },
        Step { env, argv: vec!["make".into(), "install".into()] },
    ]
}

fn bookworm(package: &'static str, must_have: &'static str) -> Source {
    Source { package, suite: SUITE, debian_patches: true, must_have }
}

/// The packages in build order (each after its dependencies).
pub(super) fn packages(arch: Arch) -> Vec<Package> {
    let plain = |name, version, source, deps: Vec<&'static str>, steps| Package {
        name,
        version,
        source,
        deps,
        steps,
        all_deps_in_runpath: false,
    };
    let mut packages = vec![
        // zlib's configure is its own, and builds in its source directory.
        plain("zlib", "1.2.13", bookworm("zlib", "zlib.h"), vec![], {
            let env = build_env(arch, &[], &[]);
            vec![
                copy_source_step(),
                Step { env: env.clone(), argv: vec!["./configure".into(), "--prefix=@out@".into(), "--shared".into()] },
                Step { env: env.clone(), argv: vec!["make".into(), MAKE_JOBS.into(), "shared".into()] },
                Step { env, argv: vec!["make".into(), "install".into()] },
            ]
        }),
        // bzip2 has no configure: upstream's makefile for the shared library,
        // installed by hand as Debian's rules do.
        plain("bzip2", "1.0.8", bookworm("bzip2", "bzlib.c"), vec![], {
            vec![
                copy_source_step(),
                step(&[
                    "make",
                    MAKE_JOBS,
                    "-f",
                    "Makefile-libbz2_so",
                    "CC=@cc@",
                    "CFLAGS=-O2 -fPIC -D_FILE_OFFSET_BITS=64",
                    "all",
                ]),
                sh("mkdir -p @out@/lib @out@/include\n\
                    cp libbz2.so.1.0.8 @out@/lib/\n\
                    ln -s libbz2.so.1.0.8 @out@/lib/libbz2.so.1.0\n\
                    ln -s libbz2.so.1.0.8 @out@/lib/libbz2.so.1\n\
                    ln -s libbz2.so.1.0 @out@/lib/libbz2.so\n\
                    cp bzlib.h @out@/include/"),
            ]
        }),
        plain(
            "xz-utils",
            "5.4.1",
            bookworm("xz-utils", "src/liblzma/api/lzma.h"),
            vec![],
            autotools(
                arch,
                &[],
                "@src@/configure",
                &[
                    "--disable-static",
                    "--disable-xz",
                    "--disable-xzdec",
                    "--disable-lzmadec",
                    "--disable-lzmainfo",
                    "--disable-lzma-links",
                    "--disable-scripts",
                    "--disable-doc",
                    "--disable-nls",
                ],
                &[],
            ),
        ),
        // Into lib/, not lib64/ (libffi's multi-os directory).
        plain(
            "libffi",
            "3.4.4",
            bookworm("libffi", "src/closures.c"),
            vec![],
            autotools(
                arch,
                &[],
                "@src@/configure",
                &["--disable-static", "--disable-docs", "--disable-multi-os-directory"],
                &[],
            ),
        ),
        // The source package is upstream's git tree (in `expat/`): its
        // configure is generated first, as Debian's rules do.
        plain("expat", "2.5.0", bookworm("expat", "expat/lib/xmlparse.c"), vec![], {
            let mut steps = vec![sh("cp -a @src@/expat/. .\n./buildconf.sh")];
            steps.extend(autotools(
                arch,
                &[],
                "./configure",
                &["--disable-static", "--without-docbook", "--without-examples", "--without-tests", "--without-xmlwf"],
                &[],
            ));
            steps
        }),
        // Wide-character ncurses, shared libraries only. No terminfo database
        // in the store: the library reads the conventional directories (the
        // host's, like Alpine's `ncurses-terminfo-base`).
        plain(
            "ncurses",
            "6.4",
            bookworm("ncurses", "ncurses/base/lib_initscr.c"),
            vec![],
            autotools(
                arch,
                &[],
                "@src@/configure",
                &[
                    // Its generators (make_hash, make_keys) run on the build machine.
                    if arch == Arch::X86_64 { "" } else { "--with-build-cc=gcc" },
                    "--with-shared",
                    "--without-normal",
                    "--without-debug",
                    "--without-cxx",
                    "--without-cxx-binding",
                    "--without-ada",
                    "--without-manpages",
                    "--without-tests",
                    "--without-progs",
                    "--enable-widec",
                    "--enable-pc-files",
                    "--with-pkg-config-libdir=@out@/lib/pkgconfig",
                    "--disable-db-install",
                    "--with-default-terminfo-dir=/usr/share/terminfo",
                    "--with-terminfo-dirs=/etc/terminfo:/lib/terminfo:/usr/share/terminfo",
                    "--disable-stripping",
                ],
                &[],
            ),
        ),
        // libreadline linked against ncursesw (`--with-shared-termcap-library`),
        // so it NEEDs it and lists its lib/ in RUNPATH.
        plain("readline", "8.2", bookworm("readline", "readline.c"), vec!["ncurses"], {
            let mut steps = autotools(
                arch,
                &["ncurses"],
                "@src@/configure",
                &[
                    "--disable-static",
                    "--with-curses",
                    "--with-shared-termcap-library",
                    "bash_cv_termcap_lib=libncursesw",
                ],
                &["-I@dep:ncurses@/include/ncursesw"],
            );
            // readline's shared library link line ignores LDFLAGS: the rpath
            // and -L go in SHLIB_LIBS with the library itself.
            for s in &mut steps[1..] {
                s.argv.push(
                    "SHLIB_LIBS=-L@dep:ncurses@/lib -lncursesw -Wl,--enable-new-dtags,-rpath,@out@/lib:@dep:ncurses@/lib"
                        .into(),
                );
            }
            steps
        }),
        // The amalgamation is generated with the host's compiler and tclsh
        // (configure runs only the generators), then the library is compiled
        // from it with the sysroot's, with Debian's feature set.
        plain("sqlite3", "3.40.1", bookworm("sqlite3", "tool/mksqlite3c.tcl"), vec![], {
            vec![
                Step {
                    env: vec![("CC", "gcc".into())],
                    argv: ["@src@/configure", "--disable-tcl", "--disable-readline"].map(String::from).to_vec(),
                },
                step(&["make", MAKE_JOBS, "sqlite3.c"]),
                sh("mkdir -p @out@/lib @out@/include @out@/lib/pkgconfig"),
                step(&[
                    "@cc@",
                    OPT,
                    "-fPIC",
                    "-shared",
                    "-DSQLITE_ENABLE_COLUMN_METADATA",
                    "-DSQLITE_ENABLE_FTS3",
                    "-DSQLITE_ENABLE_FTS3_PARENTHESIS",
                    "-DSQLITE_ENABLE_FTS4",
                    "-DSQLITE_ENABLE_FTS5",
                    "-DSQLITE_ENABLE_RTREE",
                    "-DSQLITE_ENABLE_UNLOCK_NOTIFY",
                    "-DSQLITE_ENABLE_DBSTAT_VTAB",
                    "-DSQLITE_ENABLE_MATH_FUNCTIONS",
                    "-DSQLITE_SECURE_DELETE",
                    "-DSQLITE_MAX_SCHEMA_RETRY=25",
                    "-DSQLITE_MAX_VARIABLE_NUMBER=250000",
                    "-DSQLITE_THREADSAFE=1",
                    "-DHAVE_USLEEP=1",
                    "-Wl,-soname,libsqlite3.so.0",
                    "-o",
                    "@out@/lib/libsqlite3.so.0.8.6",
                    "sqlite3.c",
                ]),
                sh("ln -s libsqlite3.so.0.8.6 @out@/lib/libsqlite3.so.0\n\
                    ln -s libsqlite3.so.0 @out@/lib/libsqlite3.so\n\
                    cp sqlite3.h @src@/src/sqlite3ext.h @out@/include/\n\
                    printf 'prefix=@out@\\nlibdir=${prefix}/lib\\nincludedir=${prefix}/include\\n\\nName: SQLite\\n\
                    Description: SQL database engine\\nVersion: 3.40.1\\nLibs: -L${libdir} -lsqlite3\\n\
                    Cflags: -I${includedir}\\n' > @out@/lib/pkgconfig/sqlite3.pc"),
            ]
        }),
        // OpenSSL 3: shared, without its tests; libraries, headers and .pc
        // files only (`install_dev`: Python needs no `openssl` program).
        plain("openssl", "3.0.20", bookworm("openssl", "Configure"), vec![], {
            let triple = arch.gnu_triple();
            let target = match arch {
                Arch::X86_64 => "linux-x86_64",
                Arch::Aarch64 => "linux-aarch64",
                Arch::Armv7 => "linux-armv4",
            };
            let env: Vec<(&'static str, String)> = vec![
                ("CC", "@cc@".into()),
                ("CFLAGS", OPT.into()),
                ("AR", format!("{triple}-ar")),
                ("RANLIB", format!("{triple}-ranlib")),
            ];
            let mut configure: Vec<String> = [
                "perl",
                "@src@/Configure",
                target,
                "shared",
                "no-tests",
                "--prefix=@out@",
                "--libdir=lib",
                "--openssldir=@out@/etc/ssl",
                "-Wl,--enable-new-dtags,-rpath,@out@/lib",
            ]
            .map(String::from)
            .to_vec();
            if arch == Arch::Armv7 {
                // linux-armv4 links -latomic for 64-bit atomics, and the only
                // libatomic here is the glibc cross toolchain's (not a store
                // library, NEEDs glibc). Armv7-A does them inline
                // (ldrexd/strexd): libcrypto uses no __atomic_* call, so the
                // link drops it as unneeded.
                configure.push("-Wl,--as-needed".into());
            }
            vec![
                Step { env: env.clone(), argv: configure },
                Step { env: env.clone(), argv: vec!["make".into(), MAKE_JOBS.into(), "build_libs".into()] },
                Step { env, argv: vec!["make".into(), "install_dev".into()] },
            ]
        }),
        // Not in bookworm (whose CPython builds its bundled copy): trixie's.
        plain(
            "mpdecimal",
            "4.0.1",
            Source { package: "mpdecimal", suite: "trixie", debian_patches: true, must_have: "libmpdec/mpdecimal.c" },
            vec![],
            {
                let mut steps = vec![copy_source_step()];
                steps.extend(autotools(
                    arch,
                    &[],
                    "./configure",
                    &["--disable-cxx", "--disable-static", "--disable-doc"],
                    &[],
                ));
                steps
            },
        ),
    ];
    packages.push(python(arch));
    packages
}

fn copy_source_step() -> Step {
    sh("cp -a @src@/. .")
}

/// The Python dependencies, all of which the interpreter, libpython and
/// every extension module list in their RUNPATH.
const PYTHON_DEPS: &[&str] =
    &["zlib", "bzip2", "xz-utils", "libffi", "expat", "ncurses", "readline", "sqlite3", "openssl", "mpdecimal"];

/// CPython 3.11 from Debian bookworm's `python3.11` source package, without
/// Debian's patches (they give it Debian's layout: multiarch include
/// directories, `dist-packages`, the `deb_system` scheme, modules built in).
fn python(arch: Arch) -> Package {
    let env = build_env(arch, PYTHON_DEPS, &["-I@dep:ncurses@/include/ncursesw"]);
    let cross = arch != Arch::X86_64;
    let mut steps = Vec::new();
    let mut configure = if cross {
        // CPython 3.11's configure derives "musl" from $build_os, not
        // $host_os (its platform triplet, hence EXT_SUFFIX, would say
        // linux-gnu): fixed in a copy of the script, as 3.12 fixed it.
        steps.push(sh("sed 's/case \"$build_os\" in/case \"$host_os\" in/' @src@/configure > configure-host\n\
             grep -q 'case \"$host_os\" in' configure-host\n\
             chmod +x configure-host"));
        vec!["./configure-host".to_string(), "--srcdir=@src@".to_string(), "--prefix=@out@".to_string()]
    } else {
        vec!["@src@/configure".to_string(), "--prefix=@out@".to_string()]
    };
    configure.extend(host_args(arch));
    if cross {
        // The host's CPython 3.11 runs the build's Python steps; configure
        // cannot look at the target's /dev.
        configure.extend(
            ["--with-build-python=python3.11", "ac_cv_file__dev_ptmx=yes", "ac_cv_file__dev_ptc=no"].map(String::from),
        );
    }
    configure.extend(
        [
            "--enable-shared",
            "--without-static-libpython",
            "--with-system-ffi",
            "--with-system-expat",
            "--with-system-libmpdec",
            "--with-openssl=@dep:openssl@",
            "--with-ssl-default-suites=openssl",
            "--without-ensurepip",
            "--enable-ipv6",
            "--enable-loadable-sqlite-extensions",
            "--with-computed-gotos",
        ]
        .map(String::from),
    );
    let make = |target: Option<&str>| {
        // RUNSHARED is where CPython's makefile would set LD_LIBRARY_PATH
        // for the freshly linked interpreter: emptied. The interpreter finds
        // libpython through its RUNPATH (@out@/lib), where a link to the
        // build directory's copy stands until `make install`.
        let mut argv = vec!["make".to_string()];
        match target {
            None => argv.push(MAKE_JOBS.into()),
            Some(t) => argv.push(t.into()),
        }
        argv.push("RUNSHARED=".into());
        Step { env: env.clone(), argv }
    };
    Package {
        name: "python3.11",
        version: "3.11.2",
        source: Source { package: "python3.11", suite: SUITE, debian_patches: false, must_have: "Python/ceval.c" },
        deps: PYTHON_DEPS.to_vec(),
        steps: {
            steps.extend([
                Step { env: env.clone(), argv: configure },
                sh("mkdir -p @out@/lib\nln -s @build@/libpython3.11.so.1.0 @out@/lib/libpython3.11.so.1.0"),
                make(None),
                sh("rm @out@/lib/libpython3.11.so.1.0"),
                make(Some("install")),
                // 3.11.2's Makefile installs the test packages it lists in
                // TESTSUBDIRS, which lacks test_capi and test_sqlite3 (both
                // became packages in 3.11; fixed upstream in 3.11.3): the
                // packages of the source's Lib/test it left out, copied.
                sh("cd @src@/Lib/test\n\
                    for d in */; do\n\
                      d=${d%/}\n\
                      if [ -f \"$d/__init__.py\" ] && [ ! -e \"@out@/lib/python3.11/test/$d\" ]; then\n\
                        cp -r \"$d\" \"@out@/lib/python3.11/test/$d\" || exit 1\n\
                      fi\n\
                    done"),
            ]);
            steps
        },
        all_deps_in_runpath: true,
    }
}

/// The extension modules the store's CPython must have built (all Debian
/// builds but tkinter, `_dbm`/`_gdbm` and `_uuid`: docs/store.md), and the
/// test modules.
const PYTHON_MODULES: &[&str] = &[
    "_ssl",
    "_hashlib",
    "_sqlite3",
    "_ctypes",
    "_lzma",
    "_bz2",
    "zlib",
    "_decimal",
    "readline",
    "_curses",
    "_curses_panel",
    "pyexpat",
    "_elementtree",
    "_crypt",
    "_multiprocessing",
    "_posixshmem",
    // The test modules, for CPython's own regression tests (test_capi,
    // test_ctypes, test_import): not what Debian ships in python3.11, but
    // what its test package (libpython3.11-testsuite) runs against.
    "_testcapi",
    "_testinternalcapi",
    "_testmultiphase",
    "_testbuffer",
    "_ctypes_test",
];

/// After the build: every module of [`PYTHON_MODULES`] exists in
/// `lib-dynload` with the musl suffix, and the interpreter (run through the
/// sysroot's loader, under qemu-user off x86_64) reports that suffix.
pub(super) fn check_python(python: &Path, sysroot: &Tree, arch: Arch) -> Result<()> {
    let suffix = format!(".cpython-311-{}.so", arch.musl_triple());
    let dynload = python.join("lib/python3.11/lib-dynload");
    let missing: Vec<&str> =
        PYTHON_MODULES.iter().copied().filter(|m| !dynload.join(format!("{m}{suffix}")).is_file()).collect();
    if !missing.is_empty() {
        bail!(
            "store: python3.11 was built without {} (no {}/<module>{suffix}; see the build log's list of missing modules)",
            missing.join(", "),
            dynload.display()
        );
    }
    for file in ["regrtest.py", "test_capi/__init__.py", "test_sqlite3/__init__.py"] {
        let path = python.join("lib/python3.11/test").join(file);
        if !path.is_file() {
            bail!("store: python3.11 was installed without its whole test package (no {})", path.display());
        }
    }
    let exe = python.join("bin/python3.11");
    let mut cmd = match arch.qemu_user() {
        None => Command::new(&exe),
        Some(qemu) => {
            let mut c = Command::new(qemu);
            c.arg(&exe);
            c
        }
    };
    cmd.args(["-c", "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"]);
    cmd.env_remove("LD_LIBRARY_PATH").env_remove("PYTHONPATH").env_remove("PYTHONHOME");
    let out = cmd.output().with_context(|| format!("cannot run {}", exe.display()))?;
    let reported = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || reported != suffix {
        bail!(
            "store: {} (loader {}) reports EXT_SUFFIX {reported:?}, expected {suffix:?} ({}; {})",
            exe.display(),
            sysroot.ldso().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The Debian package that installs a host tool the recipes run.
pub(super) fn host_tool_package(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "make" => "make",
        "perl" => "perl",
        "gcc" => "gcc",
        "tclsh" => "tcl",
        "pkg-config" => "pkgconf",
        "autoreconf" | "aclocal" | "automake" => "autoconf automake libtool",
        "sh" => "dash",
        t if t.ends_with("-ar") || t.ends_with("-ranlib") || t.ends_with("-readelf") => "binutils (or the cross one)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dependency_comes_first_and_steps_name_only_dependencies() {
        for arch in Arch::ALL {
            let packages = packages(arch);
            let mut seen = Vec::new();
            for p in &packages {
                for d in &p.deps {
                    assert!(seen.contains(d), "{}: {d} must come before it", p.name);
                }
                let text = p.recipe_text();
                for (at, _) in text.match_indices("@dep:") {
                    let name = text[at + 5..].split('@').next().unwrap();
                    assert!(p.deps.contains(&name), "{}: names {name}, not a dependency", p.name);
                }
                seen.push(p.name);
            }
        }
    }

    #[test]
    fn recipe_text_changes_with_a_flag() {
        let a = packages(Arch::X86_64).pop().unwrap().recipe_text();
        let b = packages(Arch::Aarch64).pop().unwrap().recipe_text();
        assert_ne!(a, b);
        assert!(a.contains("--with-system-libmpdec"), "{a}");
    }

    #[test]
    fn no_library_path_variable_in_any_recipe() {
        for p in packages(Arch::X86_64) {
            assert!(!p.recipe_text().contains("LD_LIBRARY_PATH"), "{}", p.name);
        }
    }
}
