//! Building a generated workload (store-n, pynamic) in each loader variant.
//!
//! A workload is a list of shared objects — libraries, each in a store
//! directory of its own, and Python extension modules — and maybe a program.
//! The objects are compiled once per tree (`bin/cc` of the reference tree
//! for `stock`, of the sysroot tree for the others) and linked per variant:
//! `stock`, `ours` and `ours-tables` with every RUNPATH listing every
//! library directory, as Nix or Spack lay a store out (`ours-tables` then
//! gets its notes from `stormless embed`); `floor` with every library in one
//! directory and every RUNPATH naming only that one.
use super::Variant;
use crate::util::{output, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{workspace_root, Loader, Tree};

/// One shared object of a workload.
pub struct Object {
    /// File name; a library's is also its SONAME and what dependents NEED.
    pub file: String,
    /// Its store directory's name (`<package>/lib`).
    pub package: String,
    pub source: String,
    /// Library file names it NEEDs, all earlier in the list.
    pub needs: Vec<String>,
    /// A Python extension module (dlopened by path; never NEEDed).
    pub module: bool,
}

pub struct Workload {
    pub objects: Vec<Object>,
    /// A C program NEEDing every library, if the workload has one.
    pub program: Option<String>,
    /// Extra compiler flags (the Python headers for modules).
    pub cflags: Vec<String>,
}

/// Where a built variant's files are.
pub struct Built {
    pub root: PathBuf,
    pub program: Option<PathBuf>,
    /// Each module's path, in the workload's order.
    pub modules: Vec<(String, PathBuf)>,
}

fn stem(file: &str) -> &str {
    file.split(".so").next().unwrap_or(file)
}

/// The tree whose `bin/cc` builds `variant`.
pub fn tree_of(base: &Tree, variant: Variant) -> Tree {
    let loader = if variant == Variant::Stock { Loader::Reference } else { Loader::Stormless };
    Tree::new(base.version, base.arch, loader)
}

/// Compile every object (and the program) with `tree`'s compiler into
/// `objs`, two at a time; an object whose source (with the flags, written
/// into it as a comment) is unchanged is kept. Whether any was compiled.
fn compile(tree: &Tree, workload: &Workload, objs: &Path) -> Result<bool> {
    std::fs::create_dir_all(objs)?;
    let flags = format!("/* {} {} */\n", tree.cc().display(), workload.cflags.join(" "));
    let mut jobs: Vec<(String, String)> =
        workload.objects.iter().map(|o| (stem(&o.file).to_string(), format!("{flags}{}", o.source))).collect();
    if let Some(p) = &workload.program {
        jobs.push(("main".into(), format!("{flags}{p}")));
    }
    let compiled = std::sync::atomic::AtomicBool::new(false);
    let jobs = std::sync::Mutex::new(jobs.into_iter());
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((name, source)) = jobs.lock().unwrap().next() else { break };
                let c = objs.join(format!("{name}.c"));
                let o = objs.join(format!("{name}.o"));
                let fresh = std::fs::read_to_string(&c).is_ok_and(|old| old == source) && o.is_file();
                if fresh {
                    continue;
                }
                compiled.store(true, std::sync::atomic::Ordering::Relaxed);
                let done = std::fs::write(&c, &source).map_err(anyhow::Error::from).and_then(|_| {
                    output(
                        Command::new(tree.cc())
                            .args(["-O1", "-fPIC", "-c", "-o"])
                            .arg(&o)
                            .arg(&c)
                            .args(&workload.cflags),
                    )
                    .map(|_| ())
                });
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&o);
                    failure.lock().unwrap().get_or_insert(e);
                    break;
                }
            });
        }
    });
    match failure.into_inner().unwrap() {
        Some(e) => Err(e.context(format!("compiling with {}", tree.cc().display()))),
        None => Ok(compiled.into_inner()),
    }
}

/// Build `variant` of `workload` under `root` (`<root>/<variant>`), from
/// objects compiled into `<root>/objs-<tree>`; relinked when an object was
/// compiled or the layout changed (`<variant>/.built` holds what was linked).
pub fn build(base: &Tree, workload: &Workload, root: &Path, variant: Variant) -> Result<Built> {
    let tree = tree_of(base, variant);
    if !tree.is_complete() {
        bail!("no complete {} tree at {}", tree.loader.tree_dir(), tree.root.display());
    }
    let objs = root.join(format!("objs-{}", tree.loader.tree_dir()));
    let compiled = compile(&tree, workload, &objs)?;
    let out = root.join(variant.name());
    let layout: Vec<(&str, &str, &[String], bool)> =
        workload.objects.iter().map(|o| (o.file.as_str(), o.package.as_str(), o.needs.as_slice(), o.module)).collect();
    let stamp = format!("{:?} {:?} {}\n", tree.ldso(), layout, workload.program.is_some());
    let stamp_file = out.join(".built");
    if !compiled && std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) {
        return Ok(built_paths(workload, &out));
    }
    crate::util::remove_dir(&out)?;
    let floor = out.join("lib");
    let dir_of = |o: &Object| {
        if variant == Variant::Floor && !o.module {
            floor.clone()
        } else {
            out.join("store").join(&o.package).join("lib")
        }
    };
    let library_dirs: Vec<PathBuf> = if variant == Variant::Floor {
        vec![floor.clone()]
    } else {
        workload.objects.iter().filter(|o| !o.module).map(dir_of).collect()
    };
    let runpath = library_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":");
    let link_flags = |cmd: &mut Command, needs: &[String]| {
        cmd.arg(format!("-Wl,--enable-new-dtags,-rpath,{runpath}"));
        for n in needs {
            let dep = workload.objects.iter().find(|o| &o.file == n).expect("a need names a library of the workload");
            cmd.arg(format!("-L{}", dir_of(dep).display())).arg(format!("-l:{n}"));
        }
    };
    let mut modules = Vec::new();
    for o in &workload.objects {
        let dir = dir_of(o);
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(&o.file);
        let mut cmd = Command::new(tree.cc());
        cmd.args(["-shared", "-o"]).arg(&file).arg(objs.join(format!("{}.o", stem(&o.file))));
        if !o.module {
            cmd.arg(format!("-Wl,-soname,{}", o.file));
        }
        link_flags(&mut cmd, &o.needs);
        run(&mut cmd).with_context(|| format!("linking {}", file.display()))?;
        if o.module {
            modules.push((stem(&o.file).to_string(), file));
        }
    }
    let program = match &workload.program {
        None => None,
        Some(_) => {
            let bin = out.join("bin");
            std::fs::create_dir_all(&bin)?;
            let exe = bin.join("main");
            let mut cmd = Command::new(tree.cc());
            cmd.arg("-o").arg(&exe).arg(objs.join("main.o"));
            let all: Vec<String> = workload.objects.iter().filter(|o| !o.module).map(|o| o.file.clone()).collect();
            link_flags(&mut cmd, &all);
            run(&mut cmd).with_context(|| format!("linking {}", exe.display()))?;
            Some(exe)
        }
    };
    if variant == Variant::OursTables {
        embed(&out)?;
    }
    std::fs::write(&stamp_file, stamp)?;
    let built = built_paths(workload, &out);
    debug_assert_eq!((&built.program, &built.modules), (&program, &modules));
    Ok(built)
}

/// Where `build` puts the program and the modules.
/// (Modules stay in their own store directories in every variant, the floor's too.)
fn built_paths(workload: &Workload, out: &Path) -> Built {
    let modules = workload
        .objects
        .iter()
        .filter(|o| o.module)
        .map(|o| (stem(&o.file).to_string(), out.join("store").join(&o.package).join("lib").join(&o.file)))
        .collect();
    let program = workload.program.as_ref().map(|_| out.join("bin").join("main"));
    Built { root: out.to_path_buf(), program, modules }
}

/// `stormless embed DIR` (the release CLI, which `cargo xtask build` makes).
pub fn embed(dir: &Path) -> Result<()> {
    let refused = embed_refusing(dir, None)?;
    if !refused.is_empty() {
        bail!("stormless embed {} refused {}", dir.display(), refused.join("; "));
    }
    Ok(())
}

/// `stormless embed [--loaded-by PROGRAM] DIR`, accepting the files it
/// refuses as unsafe to rewrite (it leaves them untouched, without a
/// table): their messages. Any other failure is an error.
pub fn embed_refusing(dir: &Path, loaded_by: Option<&Path>) -> Result<Vec<String>> {
    let cli = workspace_root().join("target/release/stormless");
    if !cli.is_file() {
        bail!("no {} (cargo build --release -p stormless)", cli.display());
    }
    let mut embed = Command::new(&cli);
    embed.arg("embed");
    if let Some(program) = loaded_by {
        embed.arg("--loaded-by").arg(program);
    }
    let out = embed.arg(dir).output().with_context(|| format!("cannot run {}", cli.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refused: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("cannot rewrite safely"))
        .map(|l| l.trim_start_matches("stormless: ").to_string())
        .collect();
    let other: Vec<&str> =
        stderr.lines().filter(|l| l.starts_with("stormless:") && !l.contains("cannot rewrite safely")).collect();
    if !out.status.success() && (refused.is_empty() || !other.is_empty()) {
        bail!("stormless embed {} failed ({}): {}", dir.display(), out.status, stderr.trim_end());
    }
    Ok(refused)
}
