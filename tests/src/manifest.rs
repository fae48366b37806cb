//! `fixture.toml`: what a fixture builds and what its runs must print.
//!
//! ```toml
//! description = "what behaviour this proves"
//! [[lib]]                       # lib<name>.so in its own directory store/<name>/
//! name = "a"
//! file = "liba.so"              # optional file name / soname (default lib<name>.so)
//! sources = ["a.c"]
//! needs = ["b"]                 # DT_NEEDED; RUNPATH defaults to the needs' directories
//! [store]                       # optional: `count` libraries s1..sN from one source,
//! count = 20                    # compiled with -DSTORE_INDEX=k, each in its own directory
//! source = "storelib.c"
//! runpath = ["store"]           # optional: each store library's RUNPATH (as the program's)
//! cflags = ["@TLSDESC@"]           # optional, libs and program: `@TLSDESC@` = this arch's
//!                               # flag for TLS descriptors (-mtls-dialect=gnu2 or =desc)
//! [program]
//! sources = ["main.c"]
//! needs = ["a", "store"]        # "store" = every store library, in order
//! runpath = ["store"]           # entries: "store", "lib:NAME", or literal text ($ORIGIN…)
//! [[file]]                      # optional: a raw file placed after the build
//! path = "store/bad/libbad.so"  # relative to @OUT@, no `..`
//! text = "not ELF\n"             # exactly one of: text (contents), copy (a file of
//!                               # the fixture, relative to its directory), symlink (target),
//!                               # derive (a file the build made, relative to @OUT@):
//! # derive = "store/ok/libok.so"  # a copy of it, with ELF fields patched by name and then
//! # patch = [{ at = "e_phoff", value = "file_size + 0x1000" }]   # truncated: see
//! # swap = ["load0", "load1"]     # `derive.rs` for the names and expressions
//! # truncate = "e_phoff + 20"     # (derive only: patch, swap, truncate)
//! [[run]]
//! args = []
//! env = { LD_LIBRARY_PATH = "@OUT@/store/a" }   # @OUT@ = this fixture's output directory
//! stdout = "…"
//! status = 0
//! stderr = "…"                  # optional, exact
//! loader = ["--list", "@PROGRAM@"]  # optional: run the tree's dynamic linker with these
//!                               # arguments (then `args`) instead of the program
//! exe = "@OUT@/alt/bin/prog"    # optional: execute this path (a symlink, say) instead
//! mask_addresses = true         # optional: 0x<hex> → 0xADDR in stdout and stderr
//! only = ["1.2.5/armv7"]        # optional: run only for these MUSL/ARCH pairs (`*` = any);
//! except = ["1.2.5/armv7"]      # or for all but these; a third part names the loader
//!                               # (`*/*/ours`: stormless' own diagnostics)
//! mask_pids = true               # optional: the `<pid>:` starting LD_DEBUG lines → `PID:`,
//!                               # and durations `123 us` → `N us`
//! # Expected texts, args, env and loader arguments expand @OUT@, @PROGRAM@ (the
//! # program's path), @LDSO@ (the tree's loader), @LDSO_ARCH@ (x86_64, aarch64,
//! # armhf) and @MUSL_VERSION@.
//! syscalls = { failed_opens = 190 }   # optional, under the reference loader
//! [run.reference]               # optional: where stock musl itself misbehaves (crashes on a
//! because = "…"                 # malformed object, say), what it does instead, and why;
//! status = "SIGSEGV"            # required `because`; `status` is a number or a signal name
//! stdout = ""                   # (128+N, as a shell reports it); `stdout`/`stderr` replace the
//! stderr = "…"                  # run's for the reference (unset stderr: not compared, as qemu
//! arches = ["x86_64"]           # adds its own text); `arches` limits it (default: every arch).
//! # Also `[[run.reference_by_arch]]` entries of the same form when arches differ: the first
//! # whose `arches` holds the arch wins over `[run.reference]`.
//! ```
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub description: String,
    #[serde(default)]
    pub lib: Vec<Lib>,
    pub store: Option<Store>,
    pub program: Program,
    #[serde(default)]
    pub run: Vec<Run>,
    #[serde(default)]
    pub file: Vec<ExtraFile>,
}

/// A file placed under the output directory after the build: contents given
/// inline, copied from the fixture's directory, or a symbolic link.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraFile {
    pub path: String,
    pub text: Option<String>,
    pub copy: Option<String>,
    pub symlink: Option<String>,
    pub derive: Option<String>,
    #[serde(default)]
    pub patch: Vec<crate::derive::Patch>,
    pub swap: Option<[String; 2]>,
    pub truncate: Option<crate::derive::Value>,
}

/// What an [`ExtraFile`] holds.
#[derive(Debug, PartialEq, Eq)]
pub enum FileKind<'a> {
    Text(&'a str),
    Copy(&'a str),
    Symlink(&'a str),
    /// A file of the build (relative to the output directory) and what to do to its copy.
    Derive(&'a str, crate::derive::Recipe),
}

impl ExtraFile {
    /// Exactly one of `text`, `copy`, `symlink`.
    pub fn kind(&self) -> Result<FileKind<'_>> {
        let recipe = crate::derive::Recipe {
            patch: self.patch.clone(),
            swap: self.swap.clone(),
            truncate: self.truncate.clone(),
        };
        if self.derive.is_none() && recipe != crate::derive::Recipe::default() {
            bail!("file {}: `patch`, `swap` and `truncate` go with `derive` only", self.path);
        }
        match (&self.text, &self.copy, &self.symlink, &self.derive) {
            (Some(t), None, None, None) => Ok(FileKind::Text(t)),
            (None, Some(c), None, None) => Ok(FileKind::Copy(c)),
            (None, None, Some(l), None) => Ok(FileKind::Symlink(l)),
            (None, None, None, Some(d)) => Ok(FileKind::Derive(d, recipe)),
            _ => bail!("file {}: give exactly one of `text`, `copy`, `symlink`, `derive`", self.path),
        }
    }

    /// `path` must stay inside the output directory.
    fn check_path(&self) -> Result<()> {
        let p = Path::new(&self.path);
        let inside = !self.path.is_empty() && p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            bail!("file {}: the path must be relative, without `.` or `..`", self.path);
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lib {
    pub name: String,
    /// File name (and DT_SONAME) when not `lib<name>.so`: lets two directories
    /// hold different libraries of the same name.
    pub file: Option<String>,
    pub sources: Vec<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    pub runpath: Option<Vec<String>>,
    #[serde(default)]
    pub cflags: Vec<String>,
    #[serde(default)]
    pub ldflags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub count: usize,
    pub source: String,
    /// RUNPATH of every store library, as the program's (default: none).
    pub runpath: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub sources: Vec<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    pub runpath: Option<Vec<String>>,
    #[serde(default)]
    pub cflags: Vec<String>,
    #[serde(default)]
    pub ldflags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default = "default_run_name")]
    pub name: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub stdout: String,
    #[serde(default)]
    pub status: i32,
    pub stderr: Option<String>,
    pub syscalls: Option<SyscallExpectation>,
    /// Run the tree's dynamic linker with these arguments (command mode).
    pub loader: Option<Vec<String>>,
    /// Execute this path instead of the program (e.g. a `[[file]]` symlink to it).
    pub exe: Option<String>,
    #[serde(default)]
    pub mask_addresses: bool,
    /// Run only for these `MUSL/ARCH[/LOADER]` patterns (`*` matches any), or
    /// for all but these: for the rare behaviour one musl release has on one
    /// arch, and for stormless' own diagnostics, which musl does not have.
    #[serde(default)]
    pub only: Vec<String>,
    #[serde(default)]
    pub except: Vec<String>,
    /// Replace the `<pid>:` that starts LD_DEBUG lines with `PID:`, and
    /// durations (`123 us`) with `N us`.
    #[serde(default)]
    pub mask_pids: bool,
    /// What stock musl does instead, where it misbehaves.
    pub reference: Option<ReferenceOutcome>,
    #[serde(default)]
    pub reference_by_arch: Vec<ReferenceOutcome>,
}

/// The reference loader's own outcome of a run, stated where it differs from the run's
/// (stock musl crashing on a malformed object, say), with the reason.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReferenceOutcome {
    pub because: String,
    pub status: Option<Status>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub arches: Option<Vec<String>>,
    /// Stock musl's outcome is undefined behaviour that changes with the musl
    /// release and the arch (`because` says what was seen): the run is made
    /// (a hang still fails it) but its output is not compared.
    #[serde(default)]
    pub undefined: bool,
}

/// An exit status, or a signal by name (`SIGSEGV`: 128+11, as a shell reports it).
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum Status {
    Code(i32),
    Signal(String),
}

impl Status {
    pub fn code(&self) -> Result<i32> {
        const SIGNALS: &[(&str, i32)] = &[
            ("SIGILL", 4),
            ("SIGTRAP", 5),
            ("SIGABRT", 6),
            ("SIGBUS", 7),
            ("SIGFPE", 8),
            ("SIGKILL", 9),
            ("SIGSEGV", 11),
        ];
        match self {
            Status::Code(c) => Ok(*c),
            Status::Signal(name) => match SIGNALS.iter().find(|(n, _)| n == name) {
                Some((_, n)) => Ok(128 + n),
                None => bail!("unknown signal `{name}`"),
            },
        }
    }
}

/// What a run must print and return under one loader and arch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    pub stdout: &'a str,
    pub stderr: Option<&'a str>,
    pub status: i32,
}

impl Run {
    /// The run's expectations, with the reference's own outcome for `arch` (an arch name as
    /// `stormless_trees::Arch` prints it) applied when `reference` is set.
    /// `None` where the reference's outcome is declared undefined.
    pub fn expected(&self, reference: bool, arch: &str) -> Result<Option<Expected<'_>>> {
        let mut want = Expected { stdout: &self.stdout, stderr: self.stderr.as_deref(), status: self.status };
        if !reference {
            return Ok(Some(want));
        }
        let applies = |o: &&ReferenceOutcome| o.arches.as_ref().is_none_or(|a| a.iter().any(|x| x == arch));
        let chosen = self.reference_by_arch.iter().find(applies).or(self.reference.as_ref().filter(applies));
        if let Some(o) = chosen {
            if o.undefined {
                return Ok(None);
            }
            if let Some(s) = &o.stdout {
                want.stdout = s;
            }
            want.stderr = o.stderr.as_deref();
            if let Some(s) = &o.status {
                want.status = s.code()?;
            }
        }
        Ok(Some(want))
    }

    /// Whether this run applies to musl `version` on `arch` under `loader`
    /// (names as users and test names spell them: `1.2.5`, `armv7`, `ours`).
    pub fn applies_to(&self, version: &str, arch: &str, loader: &str) -> bool {
        let matches = |pattern: &String| {
            let mut parts = pattern.split('/');
            let mut part = |value: &str| parts.next().is_none_or(|p| p == "*" || p == value);
            part(version) && part(arch) && part(loader)
        };
        (self.only.is_empty() || self.only.iter().any(matches)) && !self.except.iter().any(matches)
    }
}

fn default_run_name() -> String {
    "default".into()
}

/// Expected counts under the reference loader (design.md §7).
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SyscallExpectation {
    pub opens: Option<u64>,
    pub failed_opens: Option<u64>,
}

/// A fixture on disk: its directory and parsed manifest.
#[derive(Debug)]
pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Library names musl's loader maps to itself (libc.so is also the loader).
const LIBC_NAMES: &[&str] = &[
    "libc.so",
    "libpthread.so",
    "librt.so",
    "libm.so",
    "libdl.so",
    "libutil.so",
    "libxnet.so",
    "libresolv.so",
    "libcrypt.so",
];

impl Lib {
    pub fn file_name(&self) -> String {
        self.file.clone().unwrap_or_else(|| format!("lib{}.so", self.name))
    }
}

impl Fixture {
    pub fn load(dir: &Path) -> Result<Fixture> {
        let name = dir.file_name().context("fixture directory has no name")?.to_string_lossy().into_owned();
        let path = dir.join("fixture.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let manifest: Manifest =
            toml::from_str(&text).with_context(|| format!("{}: invalid manifest", path.display()))?;
        let f = Fixture { name, dir: dir.to_path_buf(), manifest };
        f.validate()?;
        Ok(f)
    }

    /// Every fixture under `root`, sorted by name.
    pub fn all(root: &Path) -> Result<Vec<Fixture>> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .with_context(|| format!("cannot list {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("fixture.toml").is_file())
            .collect();
        dirs.sort();
        dirs.iter().map(|d| Fixture::load(d)).collect()
    }

    /// Libraries must be listed after the ones they need, names must be unique,
    /// and every run needs a name of its own.
    fn validate(&self) -> Result<()> {
        let m = &self.manifest;
        let mut seen: Vec<&str> = Vec::new();
        for lib in &m.lib {
            if LIBC_NAMES.contains(&lib.file_name().as_str()) {
                bail!(
                    "fixture {}: lib {} would be called {}, a name musl resolves to libc itself",
                    self.name,
                    lib.name,
                    lib.file_name()
                );
            }
            if lib.name == "store" || seen.contains(&lib.name.as_str()) {
                bail!("fixture {}: library name `{}` is reserved or repeated", self.name, lib.name);
            }
            for need in &lib.needs {
                if need != "store" && !seen.contains(&need.as_str()) {
                    bail!("fixture {}: lib {} needs `{need}`, which is not listed before it", self.name, lib.name);
                }
            }
            seen.push(&lib.name);
        }
        for need in &m.program.needs {
            if need != "store" && !seen.contains(&need.as_str()) {
                bail!("fixture {}: program needs unknown library `{need}`", self.name);
            }
            if need == "store" && m.store.is_none() {
                bail!("fixture {}: program needs `store` but there is no [store]", self.name);
            }
        }
        let mut names: Vec<&str> = m.run.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        names.dedup();
        if names.len() != m.run.len() {
            bail!("fixture {}: two runs share a name", self.name);
        }
        if m.run.is_empty() {
            bail!("fixture {}: no [[run]]", self.name);
        }
        if let Some(r) = m.run.iter().find(|r| r.exe.is_some() && r.loader.is_some()) {
            bail!("fixture {}: run `{}` has both `exe` and `loader`", self.name, r.name);
        }
        for pattern in m.run.iter().flat_map(|r| r.only.iter().chain(&r.except)) {
            let parts: Vec<&str> = pattern.split('/').collect();
            let known = |i: usize, ok: &dyn Fn(&str) -> bool| parts.get(i).is_none_or(|p| *p == "*" || ok(p));
            let well_formed = parts.len() <= 3
                && known(0, &|v| v.parse::<stormless_trees::MuslVersion>().is_ok())
                && known(1, &|a| a.parse::<stormless_trees::Arch>().is_ok())
                && known(2, &|l| stormless_trees::Loader::ALL.iter().any(|x| x.name() == l));
            if !well_formed {
                bail!("fixture {}: `{pattern}` is not MUSL/ARCH[/LOADER] (e.g. 1.2.5/armv7, */*/ours)", self.name);
            }
        }
        for r in &m.run {
            for o in r.reference.iter().chain(&r.reference_by_arch) {
                if o.because.trim().is_empty() {
                    bail!("fixture {}: run `{}`: a reference outcome needs its `because`", self.name, r.name);
                }
                if let Some(s) = &o.status {
                    s.code().with_context(|| format!("fixture {}: run `{}`", self.name, r.name))?;
                }
                for a in o.arches.iter().flatten() {
                    if a.parse::<stormless_trees::Arch>().is_err() {
                        bail!("fixture {}: run `{}`: unknown arch `{a}`", self.name, r.name);
                    }
                }
            }
        }
        for file in &m.file {
            file.check_path()
                .and_then(|()| file.kind().map(|_| ()))
                .with_context(|| format!("fixture {}", self.name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Fixture> {
        let manifest: Manifest = toml::from_str(text)?;
        let f = Fixture { name: "t".into(), dir: PathBuf::new(), manifest };
        f.validate()?;
        Ok(f)
    }

    #[test]
    fn a_full_manifest_parses() {
        let f = parse(
            r#"description = "d"
            [[lib]]
            name = "b"
            sources = ["b.c"]
            [[lib]]
            name = "a"
            sources = ["a.c"]
            needs = ["b"]
            [program]
            sources = ["main.c"]
            needs = ["a"]
            [[run]]
            stdout = "x\n"
            syscalls = { failed_opens = 0 }"#,
        )
        .unwrap();
        assert_eq!(f.manifest.lib[1].needs, ["b"]);
        assert_eq!(f.manifest.run[0].name, "default");
        assert_eq!(f.manifest.run[0].syscalls.unwrap().failed_opens, Some(0));
        assert_eq!(f.manifest.run[0].loader, None);
        assert_eq!(f.manifest.run[0].exe, None);
        assert!(!f.manifest.run[0].mask_addresses);
    }

    #[test]
    fn command_mode_runs_parse() {
        let f = parse(
            r#"description = "d"
            [program]
            sources = ["main.c"]
            [[run]]
            loader = ["--list", "@PROGRAM@"]
            mask_addresses = true
            stdout = ""
            [[run]]
            name = "usage"
            loader = []
            stdout = ""
            "#,
        )
        .unwrap();
        assert_eq!(f.manifest.run[0].loader.as_deref(), Some(&["--list".to_string(), "@PROGRAM@".to_string()][..]));
        assert!(f.manifest.run[0].mask_addresses);
        assert_eq!(f.manifest.run[1].loader.as_deref(), Some(&[][..]));
        let err = parse(
            r#"description = "d"
            [program]
            sources = ["main.c"]
            [[run]]
            loader = []
            exe = "@OUT@/x"
            stdout = ""
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("both `exe` and `loader`"), "{err}");
    }

    #[test]
    fn libraries_must_come_after_what_they_need() {
        let err = parse(
            r#"description = "d"
            [[lib]]
            name = "a"
            sources = ["a.c"]
            needs = ["b"]
            [[lib]]
            name = "b"
            sources = ["b.c"]
            [program]
            sources = ["m.c"]
            [[run]]
            stdout = ""
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not listed before"), "{err}");
    }

    #[test]
    fn libc_names_are_refused() {
        let err = parse(
            r#"description = "d"
            [[lib]]
            name = "c"
            sources = ["c.c"]
            [program]
            sources = ["m.c"]
            [[run]]
            stdout = ""
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("libc.so"), "{err}");
    }

    #[test]
    fn extra_files_parse_and_are_checked() {
        let base = "description = \"d\"\n[program]\nsources=[]\n[[run]]\nstdout=\"\"\n";
        let f = parse(&format!(
            "{base}[[file]]\npath = \"store/bad/libbad.so\"\ntext = \"junk\"\n\
             [[file]]\npath = \"bin2/link\"\nsymlink = \"../bin/t\"\n[[file]]\npath = \"x\"\ncopy = \"x.txt\""
        ))
        .unwrap();
        assert_eq!(f.manifest.file[0].kind().unwrap(), FileKind::Text("junk"));
        assert_eq!(f.manifest.file[1].kind().unwrap(), FileKind::Symlink("../bin/t"));
        assert_eq!(f.manifest.file[2].kind().unwrap(), FileKind::Copy("x.txt"));
        for bad in [
            "path = \"a\"\ntext = \"t\"\ncopy = \"c\"",
            "path = \"a\"",
            "path = \"/abs\"\ntext = \"t\"",
            "path = \"a/../../b\"\ntext = \"t\"",
            "path = \"\"\ntext = \"t\"",
        ] {
            let err = parse(&format!("{base}[[file]]\n{bad}")).unwrap_err();
            assert!(err.to_string().contains("fixture t"), "{bad}: {err}");
        }
    }

    #[test]
    fn reference_outcomes_override_per_arch() {
        let f = parse(
            r#"description = "d"
            [program]
            sources = ["m.c"]
            [[run]]
            stdout = ""
            stderr = "ours\n"
            status = 127
            [run.reference]
            because = "musl crashes"
            status = "SIGSEGV"
            [[run.reference_by_arch]]
            because = "musl divides by zero"
            arches = ["x86_64"]
            status = "SIGFPE"
            stderr = "theirs\n"
            "#,
        )
        .unwrap();
        let run = &f.manifest.run[0];
        let ours = Expected { stdout: "", stderr: Some("ours\n"), status: 127 };
        assert_eq!(run.expected(false, "x86_64").unwrap(), Some(ours.clone()));
        assert_eq!(
            run.expected(true, "aarch64").unwrap(),
            Some(Expected { stderr: None, status: 139, ..ours.clone() })
        );
        assert_eq!(
            run.expected(true, "x86_64").unwrap(),
            Some(Expected { stderr: Some("theirs\n"), status: 136, ..ours })
        );
        let base = "description = \"d\"\n[program]\nsources=[]\n[[run]]\nstdout=\"\"\n[run.reference]\n";
        for bad in [
            "because = \"\"",
            "because = \"x\"\nstatus = \"SIGNOPE\"",
            "because = \"x\"\narches = [\"mips\"]",
            "status = 1",
        ] {
            assert!(parse(&format!("{base}{bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_files_parse() {
        let base = "description = \"d\"\n[program]\nsources=[]\n[[run]]\nstdout=\"\"\n";
        let f = parse(&format!(
            "{base}[[file]]\npath = \"store/t/libok.so\"\nderive = \"store/ok/libok.so\"\n\
             patch = [{{ at = \"e_phoff\", value = \"file_size + 1\" }}, {{ at = \"e_phnum\", value = 3 }}]\n\
             truncate = 40\n"
        ))
        .unwrap();
        let FileKind::Derive(from, recipe) = f.manifest.file[0].kind().unwrap() else { panic!("not derived") };
        assert_eq!(from, "store/ok/libok.so");
        assert_eq!(recipe.patch[1].value, crate::derive::Value::Number(3));
        assert_eq!(recipe.truncate, Some(crate::derive::Value::Number(40)));
        let err = parse(&format!("{base}[[file]]\npath = \"a\"\ntext = \"t\"\ntruncate = 1\n")).unwrap_err();
        assert!(format!("{err:#}").contains("with `derive` only"), "{err:#}");
    }

    #[test]
    fn unknown_keys_and_missing_runs_are_errors() {
        assert!(parse("description = \"d\"\nbogus = 1\n[program]\nsources=[]\n[[run]]\nstdout=\"\"").is_err());
        assert!(parse("description = \"d\"\n[program]\nsources=[]").is_err());
    }

    #[test]
    fn runs_select_musl_and_arch() {
        let f = parse(
            "description = \"d\"\n[program]\nsources = [\"m.c\"]\n\
             [[run]]\nstdout = \"\"\nexcept = [\"1.2.5/armv7\"]\n\
             [[run]]\nname = \"b\"\nstdout = \"\"\nonly = [\"1.2.5/armv7\", \"*/aarch64\"]\n",
        )
        .unwrap();
        let (all_but, only) = (&f.manifest.run[0], &f.manifest.run[1]);
        assert!(all_but.applies_to("1.2.3", "armv7", "ours") && !all_but.applies_to("1.2.5", "armv7", "reference"));
        assert!(only.applies_to("1.2.5", "armv7", "ours") && only.applies_to("1.2.3", "aarch64", "reference"));
        assert!(!only.applies_to("1.2.3", "x86_64", "ours"));
        let ours = Run { only: vec!["*/*/ours".into()], ..toml::from_str("stdout = \"\"").unwrap() };
        assert!(ours.applies_to("1.2.3", "x86_64", "ours") && !ours.applies_to("1.2.3", "x86_64", "reference"));
        let typo =
            "description = \"d\"\n[program]\nsources = [\"m.c\"]\n[[run]]\nstdout = \"\"\nonly = [\"1.2.5/arm\"]\n";
        assert!(parse(typo).is_err());
    }
}
