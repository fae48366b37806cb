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
//! [program]
//! sources = ["main.c"]
//! needs = ["a", "store"]        # "store" = every store library, in order
//! runpath = ["store"]           # entries: "store", "lib:NAME", or literal text ($ORIGIN…)
//! [[file]]                      # optional: a raw file placed after the build
//! path = "store/bad/libbad.so"  # relative to @OUT@, no `..`
//! text = "not ELF\n"             # exactly one of: text (contents), copy (a file of
//!                               # the fixture, relative to its directory), symlink (target)
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
//! # Expected texts, args, env and loader arguments expand @OUT@, @PROGRAM@ (the
//! # program's path), @LDSO@ (the tree's loader), @LDSO_ARCH@ (x86_64, aarch64,
//! # armhf) and @MUSL_VERSION@.
//! syscalls = { failed_opens = 190 }   # optional, under the reference loader
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
}

/// What an [`ExtraFile`] holds.
#[derive(Debug, PartialEq, Eq)]
pub enum FileKind<'a> {
    Text(&'a str),
    Copy(&'a str),
    Symlink(&'a str),
}

impl ExtraFile {
    /// Exactly one of `text`, `copy`, `symlink`.
    pub fn kind(&self) -> Result<FileKind<'_>> {
        match (&self.text, &self.copy, &self.symlink) {
            (Some(t), None, None) => Ok(FileKind::Text(t)),
            (None, Some(c), None) => Ok(FileKind::Copy(c)),
            (None, None, Some(l)) => Ok(FileKind::Symlink(l)),
            _ => bail!("file {}: give exactly one of `text`, `copy`, `symlink`", self.path),
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
    fn unknown_keys_and_missing_runs_are_errors() {
        assert!(parse("description = \"d\"\nbogus = 1\n[program]\nsources=[]\n[[run]]\nstdout=\"\"").is_err());
        assert!(parse("description = \"d\"\n[program]\nsources=[]").is_err());
    }
}
