//! Building a fixture with one tree's `bin/cc`: every library into its own
//! directory `store/<name>/`, as Nix/Guix/Spack lay out a store, and the
//! program into `bin/`.
use crate::manifest::{ExtraFile, FileKind, Fixture};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::Tree;

/// A fixture built for one tree.
#[derive(Debug, Clone)]
pub struct Built {
    pub out: PathBuf,
    pub program: PathBuf,
}

impl Built {
    /// Replace `@OUT@` with this build's output directory.
    pub fn expand(&self, text: &str) -> String {
        text.replace("@OUT@", &self.out.to_string_lossy())
    }

    /// [`Built::expand`], and the placeholders that name `tree`'s things:
    /// `@PROGRAM@`, `@LDSO@`, `@LDSO_ARCH@`, `@MUSL_VERSION@`.
    pub fn expand_for(&self, tree: &Tree, text: &str) -> String {
        self.expand(text)
            .replace("@PROGRAM@", &self.program.to_string_lossy())
            .replace("@LDSO@", &tree.ldso().to_string_lossy())
            .replace("@LDSO_ARCH@", tree.arch.ldso_arch())
            .replace("@MUSL_VERSION@", tree.version.as_str())
    }
}

/// Where `fixture` is built for `tree`.
pub fn out_dir(tree: &Tree, fixture: &Fixture) -> PathBuf {
    tree.root.parent().expect("tree has a parent").join("fixtures").join(tree.loader.tree_dir()).join(&fixture.name)
}

pub fn lib_dir(out: &Path, name: &str) -> PathBuf {
    out.join("store").join(name)
}

fn store_names(fixture: &Fixture) -> Vec<String> {
    let n = fixture.manifest.store.as_ref().map_or(0, |s| s.count);
    (1..=n).map(|k| format!("s{k}")).collect()
}

fn all_lib_names(fixture: &Fixture) -> Vec<String> {
    let mut names = store_names(fixture);
    names.extend(fixture.manifest.lib.iter().map(|l| l.name.clone()));
    names
}

/// The file name of library `name` (a store library or a `[[lib]]`).
fn file_name(fixture: &Fixture, name: &str) -> String {
    fixture.manifest.lib.iter().find(|l| l.name == name).map_or_else(|| format!("lib{name}.so"), |l| l.file_name())
}

/// `needs` with "store" expanded to every store library.
fn expand_needs(fixture: &Fixture, needs: &[String]) -> Vec<String> {
    needs.iter().flat_map(|n| if n == "store" { store_names(fixture) } else { vec![n.clone()] }).collect()
}

/// RUNPATH entries: explicit ones expanded, or else the needs' directories.
fn runpath(fixture: &Fixture, out: &Path, explicit: Option<&Vec<String>>, needs: &[String]) -> Vec<String> {
    let dir = |n: &str| lib_dir(out, n).to_string_lossy().into_owned();
    match explicit {
        None => needs.iter().map(|n| dir(n)).collect(),
        Some(entries) => entries
            .iter()
            .flat_map(|e| {
                if e == "store" {
                    store_names(fixture).iter().map(|n| dir(n)).collect()
                } else if let Some(name) = e.strip_prefix("lib:") {
                    vec![dir(name)]
                } else {
                    vec![e.replace("@OUT@", &out.to_string_lossy())]
                }
            })
            .collect(),
    }
}

struct Link<'a> {
    sources: Vec<PathBuf>,
    output: PathBuf,
    needs: Vec<String>,
    runpath: Vec<String>,
    cflags: &'a [String],
    ldflags: &'a [String],
    shared: Option<String>,
}

fn compile(tree: &Tree, fixture: &Fixture, out: &Path, link: Link<'_>) -> Result<()> {
    std::fs::create_dir_all(link.output.parent().unwrap())?;
    let mut cc = Command::new(tree.cc());
    cc.current_dir(&fixture.dir).args(["-O1", "-g0", "-Wall", "-Werror"]);
    cc.arg(format!("-I{}", crate::fixtures_dir().join("common").display()));
    cc.arg(format!("-I{}", fixture.dir.display()));
    if let Some(soname) = &link.shared {
        cc.args(["-shared", "-fPIC"]).arg(format!("-Wl,-soname,{soname}"));
    }
    cc.args(link.cflags.iter().map(|f| arch_cflag(tree, f))).args(&link.sources).arg("-o").arg(&link.output);
    for need in &link.needs {
        let file = file_name(fixture, need);
        cc.arg(format!("-L{}", lib_dir(out, need).display())).arg(format!("-l:{file}"));
    }
    // The link-time check of the needs' own needs: cross linkers ignore DT_RUNPATH.
    let all_dirs: Vec<String> =
        all_lib_names(fixture).iter().map(|n| lib_dir(out, n).to_string_lossy().into_owned()).collect();
    if !all_dirs.is_empty() {
        cc.arg(format!("-Wl,-rpath-link,{}", all_dirs.join(":")));
    }
    if !link.runpath.is_empty() {
        cc.arg("-Wl,--enable-new-dtags").arg(format!("-Wl,-rpath,{}", link.runpath.join(":")));
    }
    cc.args(link.ldflags);
    let res = cc.output().with_context(|| format!("cannot run {}", tree.cc().display()))?;
    if !res.status.success() {
        bail!("building {} for {} failed:\n{}", link.output.display(), tree.arch, String::from_utf8_lossy(&res.stderr));
    }
    Ok(())
}

/// A manifest cflag, with `@TLSDESC@` replaced by the flag that makes this
/// arch's gcc use TLS descriptors (the default only on aarch64).
fn arch_cflag<'a>(tree: &Tree, flag: &'a str) -> &'a str {
    match (flag, tree.arch) {
        ("@TLSDESC@", stormless_trees::Arch::Aarch64) => "-mtls-dialect=desc",
        ("@TLSDESC@", _) => "-mtls-dialect=gnu2",
        (f, _) => f,
    }
}

/// Build every library and the program of `fixture` for `tree`.
pub fn build(tree: &Tree, fixture: &Fixture) -> Result<Built> {
    build_into(tree, fixture, &out_dir(tree, fixture))
}

/// [`build`] into another directory `out` (emptied first), so that a second
/// user (the benchmark) never removes the suite's builds under it.
pub fn build_into(tree: &Tree, fixture: &Fixture, out: &Path) -> Result<Built> {
    let out = out.to_path_buf();
    let _ = std::fs::remove_dir_all(&out);
    let m = &fixture.manifest;
    if let Some(store) = &m.store {
        for (k, name) in store_names(fixture).iter().enumerate() {
            let cflags = vec![format!("-DSTORE_INDEX={}", k + 1)];
            compile(
                tree,
                fixture,
                &out,
                Link {
                    sources: vec![fixture.dir.join(&store.source)],
                    output: lib_dir(&out, name).join(format!("lib{name}.so")),
                    needs: vec![],
                    runpath: match &store.runpath {
                        Some(entries) => runpath(fixture, &out, Some(entries), &[]),
                        None => vec![],
                    },
                    cflags: &cflags,
                    ldflags: &[],
                    shared: Some(format!("lib{name}.so")),
                },
            )?;
        }
    }
    for lib in &m.lib {
        let needs = expand_needs(fixture, &lib.needs);
        compile(
            tree,
            fixture,
            &out,
            Link {
                sources: lib.sources.iter().map(|s| fixture.dir.join(s)).collect(),
                output: lib_dir(&out, &lib.name).join(lib.file_name()),
                runpath: runpath(fixture, &out, lib.runpath.as_ref(), &needs),
                needs,
                cflags: &lib.cflags,
                ldflags: &lib.ldflags,
                shared: Some(lib.file_name()),
            },
        )?;
    }
    let needs = expand_needs(fixture, &m.program.needs);
    let program = out.join("bin").join(&fixture.name);
    compile(
        tree,
        fixture,
        &out,
        Link {
            sources: m.program.sources.iter().map(|s| fixture.dir.join(s)).collect(),
            output: program.clone(),
            runpath: runpath(fixture, &out, m.program.runpath.as_ref(), &needs),
            needs,
            cflags: &m.program.cflags,
            ldflags: &m.program.ldflags,
            shared: None,
        },
    )?;
    place_files(&out, &fixture.dir, &m.file)?;
    Ok(Built { out, program })
}

/// The libraries the program of `fixture` (built in `out`) loads at startup:
/// its needs, then theirs, breadth first and each once, as musl loads them.
pub fn loaded_libraries(fixture: &Fixture, out: &Path) -> Vec<PathBuf> {
    let mut order = expand_needs(fixture, &fixture.manifest.program.needs);
    let mut next = 0;
    while next < order.len() {
        let name = order[next].clone();
        next += 1;
        let needs = fixture.manifest.lib.iter().find(|l| l.name == name).map_or(&[][..], |l| &l.needs[..]);
        for need in expand_needs(fixture, needs) {
            if !order.contains(&need) {
                order.push(need);
            }
        }
    }
    order.iter().map(|name| lib_dir(out, name).join(file_name(fixture, name))).collect()
}

/// Write the manifest's `[[file]]` entries under `out` (after the build, so
/// they may replace what it made).
pub fn place_files(out: &Path, fixture_dir: &Path, files: &[ExtraFile]) -> Result<()> {
    for file in files {
        let dest = out.join(&file.path);
        std::fs::create_dir_all(dest.parent().unwrap())?;
        if dest.symlink_metadata().is_ok() {
            std::fs::remove_file(&dest).with_context(|| format!("cannot replace {}", dest.display()))?;
        }
        match file.kind()? {
            FileKind::Text(text) => std::fs::write(&dest, text).map(drop),
            FileKind::Copy(src) => std::fs::copy(fixture_dir.join(src), &dest).map(drop),
            FileKind::Symlink(target) => std::os::unix::fs::symlink(target, &dest),
            FileKind::Derive(from, recipe) => {
                let source = out.join(from);
                let original = std::fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
                let derived = crate::derive::derive(&original, &recipe)
                    .with_context(|| format!("deriving {} from {}", file.path, source.display()))?;
                std::fs::write(&dest, derived)
            }
        }
        .with_context(|| format!("cannot create {}", dest.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_files_are_written_copied_and_linked() {
        let dir = std::env::temp_dir().join(format!("stormless-place-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (out, src) = (dir.join("out"), dir.join("src"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(out.join("store/bad")).unwrap();
        std::fs::write(src.join("orig.txt"), "copied").unwrap();
        std::fs::write(out.join("store/bad/libbad.so"), "built").unwrap();
        let file = |path: &str, text: Option<&str>, copy: Option<&str>, symlink: Option<&str>| ExtraFile {
            path: path.into(),
            text: text.map(Into::into),
            copy: copy.map(Into::into),
            symlink: symlink.map(Into::into),
            derive: None,
            patch: vec![],
            swap: None,
            truncate: None,
        };
        let files = [
            file("store/bad/libbad.so", Some("not ELF\n"), None, None),
            file("a/b/copy.txt", None, Some("orig.txt"), None),
            file("bin2/link", None, None, Some("../a/b/copy.txt")),
        ];
        place_files(&out, &src, &files).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("store/bad/libbad.so")).unwrap(), "not ELF\n");
        assert_eq!(std::fs::read_to_string(out.join("a/b/copy.txt")).unwrap(), "copied");
        assert_eq!(std::fs::read_link(out.join("bin2/link")).unwrap(), Path::new("../a/b/copy.txt"));
        assert_eq!(std::fs::read_to_string(out.join("bin2/link")).unwrap(), "copied");
        // Placing again replaces, also a symlink.
        place_files(&out, &src, &files).unwrap();
        assert_eq!(std::fs::read_link(out.join("bin2/link")).unwrap(), Path::new("../a/b/copy.txt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loaded_libraries_follow_needs_breadth_first() {
        let chain = Fixture::load(&crate::fixtures_dir().join("chain")).unwrap();
        let got = loaded_libraries(&chain, Path::new("/o"));
        let want: Vec<PathBuf> = ["/o/store/a/liba.so", "/o/store/b/libb.so", "/o/store/leaf/libleaf.so"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn placeholders_name_the_tree() {
        use stormless_trees::{Arch, Loader, MuslVersion};
        let tree = Tree::new(MuslVersion::V1_2_5, Arch::Armv7, Loader::Reference);
        let built = Built { out: "/o".into(), program: "/o/bin/p".into() };
        let got = built.expand_for(&tree, "@OUT@/x @PROGRAM@ @LDSO_ARCH@ @MUSL_VERSION@ @LDSO@");
        let ldso = tree.ldso();
        assert_eq!(got, format!("/o/x /o/bin/p armhf 1.2.5 {}", ldso.display()));
        assert!(ldso.ends_with("lib/ld-musl-armhf.so.1"), "{}", ldso.display());
    }
}
