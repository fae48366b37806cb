//! `cc`: each tree's `bin/cc` answers as a musl gcc does (xtask/src/build.rs, `write_cc`;
//! docs/store.md, issue 18 point 6): `-print-multiarch` names the musl triple, `__gnu_linux__`
//! is not predefined, and musl's `libc.so` wins over a glibc `libc.so` in a directory a build
//! adds with `-L` (CPython's setup.py adds the glibc cross gcc's own `LIBRARY_PATH` when cross
//! compiling: every armv7 extension module NEEDed `libc.so.6`).

use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use stormless_tests::complete_tree;
use stormless_trees::{arch_dir, Arch, Loader, MuslVersion};

/// The host's glibc library directories for `arch` that hold a `libc.so` (the cross toolchain's
/// and the multiarch one), where installed.
fn glibc_dirs(arch: Arch) -> Vec<PathBuf> {
    let triple = arch.gnu_triple();
    [format!("/usr/{triple}/lib"), format!("/usr/lib/{triple}")]
        .into_iter()
        .map(PathBuf::from)
        .filter(|d| d.join("libc.so").is_file())
        .collect()
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn needed(object: &Path) -> Result<Vec<String>> {
    let dynamic = output(Command::new("readelf").arg("-dW").arg(object))?;
    Ok(dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1).map(|s| s.trim_end_matches(']').to_string()))
        .collect())
}

pub fn check(version: MuslVersion, arch: Arch) -> Result<()> {
    let scratch = arch_dir(version, arch).join("cc-check");
    std::fs::create_dir_all(&scratch)?;
    let source = scratch.join("m.c");
    std::fs::write(&source, "#include <stdio.h>\nint m(void) { return puts(\"m\"); }\n")?;
    for loader in Loader::ALL {
        let tree = complete_tree(version, arch, loader)?;
        let cc = tree.cc();
        // A decoy glibc on every arch (the host may have no glibc for it): a `libc.so` whose
        // soname is `libc.so.6`; then the host's real ones, where installed.
        let decoy = scratch.join(format!("{}-decoy", loader.tree_dir()));
        std::fs::create_dir_all(&decoy)?;
        output(
            Command::new(&cc)
                .args(["-shared", "-nostdlib", "-Wl,-soname,libc.so.6", "-o"])
                .arg(decoy.join("libc.so"))
                .args(["-x", "c", "/dev/null"]),
        )?;
        let dirs: Vec<PathBuf> = std::iter::once(decoy).chain(glibc_dirs(arch)).collect();
        let multiarch = output(Command::new(&cc).arg("-print-multiarch"))?;
        ensure!(multiarch.trim() == arch.musl_triple(), "{} -print-multiarch: {multiarch:?}", cc.display());
        let macros = output(Command::new(&cc).args(["-dM", "-E", "-x", "c", "/dev/null"]))?;
        ensure!(!macros.contains("__gnu_linux__"), "{} predefines __gnu_linux__", cc.display());
        for dir in &dirs {
            let object = scratch.join(format!("{}-libm.so", loader.tree_dir()));
            output(Command::new(&cc).args(["-shared", "-fPIC", "-L"]).arg(dir).arg(&source).arg("-o").arg(&object))?;
            let needed = needed(&object)?;
            ensure!(needed == ["libc.so"], "{} -L{} links {needed:?}, not musl's libc.so", cc.display(), dir.display());
        }
    }
    Ok(())
}
