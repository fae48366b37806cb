//! `cargo xtask build`: per musl version and arch, one compile of musl's
//! objects, linked twice — `reference/` with musl's own `ldso/` objects, and
//! `sysroot/` with the Rust loader in their place (design.md §4). musl's own
//! Makefile does both links (only `LDSO_OBJS` differs), so its link line stays
//! exactly upstream's.
//!
//! A tree is trusted only once its `.complete` stamp is written, last; a build
//! that stops half-way is removed and redone by the next run.
use crate::util::{jobs, remove_dir, run, run_logged, say, write_atomic};
use crate::{musl_src, probe};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_trees::{arch_dir, output_root, workspace_root, Arch, Loader, MuslVersion, Tree};

pub fn tree_pair(version: MuslVersion, arch: Arch) -> Result<()> {
    let src = musl_src::ensure(version)?;
    let dir = arch_dir(version, arch);
    let reference = Tree::new(version, arch, Loader::Reference);
    let sysroot = Tree::new(version, arch, Loader::Stormless);

    let objs = dir.join("build-reference");
    if !reference.is_complete() || !objs.join(".complete").is_file() {
        say(format!("build: musl {version} for {arch} (reference)"));
        remove_dir(&reference.root)?;
        compile_musl(&src, &objs, &reference)?;
        install(&objs, &reference, None)?;
        finish(&reference, "stock musl")?;
    }

    let layout = probe::run(&src, &objs, arch, &dir.join("layout.rs"))?;
    let object = loader_object(version, arch, &layout, &dir)?;
    let fingerprint = sha256_file(&object)?;
    if stamp_text(&sysroot).as_deref() != Some(fingerprint.as_str()) {
        say(format!("build: musl {version} for {arch} (sysroot, stormless loader)"));
        // A complete tree with another loader is relinked in place: only
        // `lib/libc.so` differs, and musl's `tools/install.sh` replaces each
        // file by rename, so stores and tests using the tree meanwhile see the
        // old loader or the new one, never a missing tree. The stamp is
        // rewritten last. An incomplete tree is rebuilt from scratch.
        if !sysroot.is_complete() {
            remove_dir(&sysroot.root)?;
        }
        let relink = dir.join("build-sysroot");
        remove_dir(&relink)?;
        configure(&src, &relink, &sysroot)?;
        // Reuse the reference objects; cp -a keeps their times so make only relinks.
        run(Command::new("cp").arg("-a").arg(objs.join("obj")).arg(&relink))?;
        install(&relink, &sysroot, Some(&object))?;
        finish(&sysroot, &fingerprint)?;
    }

    // Cheap, and an already-built tree gets the current driver and headers.
    for tree in [&reference, &sysroot] {
        write_cc(tree)?;
    }

    if version == MuslVersion::DEFAULT {
        let link = output_root().join(arch.name());
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("musl-{version}/{arch}"), &link)
            .with_context(|| format!("cannot link {}", link.display()))?;
    }
    Ok(())
}

fn log(tree_dir: &Path, what: &str) -> PathBuf {
    tree_dir.join(format!("{what}.log"))
}

fn configure(src: &Path, build: &Path, tree: &Tree) -> Result<()> {
    fs::create_dir_all(build)?;
    let triple = tree.arch.gnu_triple();
    let root = &tree.root;
    // CROSS_COMPILE on every arch, x86_64 included: otherwise a musl-gcc wrapper on
    // PATH (Debian's musl-tools) can be picked up as the compiler.
    run_logged(
        Command::new(src.join("configure"))
            .current_dir(build)
            .arg(format!("--target={triple}"))
            .arg(format!("--prefix={}", root.display()))
            .arg(format!("--exec-prefix={}", root.display()))
            .arg(format!("--syslibdir={}", root.join("lib").display()))
            .arg("--enable-wrapper=gcc")
            .arg(format!("CROSS_COMPILE={triple}-"))
            .arg(format!("CC={triple}-gcc")),
        &log(build, "configure"),
    )
    .with_context(|| format!("musl configure for {} failed", tree.arch))
}

fn compile_musl(src: &Path, build: &Path, tree: &Tree) -> Result<()> {
    remove_dir(build)?;
    configure(src, build, tree)?;
    run_logged(Command::new("make").current_dir(build).arg(format!("-j{}", jobs())), &log(build, "make"))
        .with_context(|| format!("musl {} build for {} failed", tree.version, tree.arch))?;
    fs::write(build.join(".complete"), "")?;
    Ok(())
}

/// `make install` into the tree; with `loader`, musl's own ldso objects are
/// replaced by that relocatable object.
fn install(build: &Path, tree: &Tree, loader: Option<&Path>) -> Result<()> {
    let mut make = Command::new("make");
    make.current_dir(build).arg(format!("-j{}", jobs()));
    if let Some(obj) = loader {
        make.arg(format!("LDSO_OBJS={}", obj.display()));
    }
    make.arg("install");
    run_logged(&mut make, &log(build, "install"))
        .with_context(|| format!("installing the {} tree for {} failed", tree.loader.tree_dir(), tree.arch))?;
    write_cc(tree)
}

/// `bin/cc`: musl-gcc for this tree and arch. musl's generated specs file sets
/// the include path, the crt objects (Scrt1.o, crtbeginS.o), `-L lib` and the
/// tree's loader as PT_INTERP; a later `-Wl,--dynamic-linker=` wins.
///
/// Where the glibc gcc underneath would tell a build it targets glibc, the
/// driver answers as a musl gcc (Alpine's) does, since configure scripts act
/// on it (docs/store.md): `-print-multiarch` names the musl triple (CPython's
/// configure aborts when it differs from the triplet it derives, and its
/// setup.py adds `/usr/include/<multiarch>` of the host's glibc otherwise),
/// and `__gnu_linux__` is not predefined (a user's `-D` after it still wins).
/// The Linux UAPI headers come with the tree, as Alpine's `linux-headers`
/// puts them beside musl's: see [`kernel_headers`].
///
/// On aarch64, `-mno-outline-atomics`: Debian's gcc calls libgcc's
/// `__aarch64_*` atomics helpers by default, and their initialiser in
/// libgcc.a (`lse-init.o`) reads the CPU features with glibc's private
/// `__getauxval`, which musl does not have: OpenSSL's libcrypto and libssl
/// linked by this driver had it undefined, and no program could link them.
/// Inline atomics (LL/SC, Armv8.0) need nothing of libc.
fn write_cc(tree: &Tree) -> Result<()> {
    let specs = tree.lib_dir().join("musl-gcc.specs");
    if !specs.is_file() {
        bail!("musl install did not produce {}", specs.display());
    }
    kernel_headers(tree)?;
    tree_lib_first(&specs, &tree.lib_dir())?;
    let script = format!(
        "#!/bin/sh\n\
         # C compiler for the stormless {loader} tree: musl {version}, {arch}.\n\
         # Programs it links use {ldso} as their interpreter.\n\
         for arg; do\n\
         \tcase \"$arg\" in\n\
         \t-print-multiarch|--print-multiarch) echo {musl_triple}; exit 0 ;;\n\
         \tesac\n\
         done\n\
         exec {triple}-gcc -U__gnu_linux__{arch_flags} \"$@\" -specs \"{specs}\"\n",
        loader = tree.loader.tree_dir(),
        version = tree.version,
        arch = tree.arch,
        ldso = tree.ldso().display(),
        musl_triple = tree.arch.musl_triple(),
        arch_flags = if tree.arch == Arch::Aarch64 { " -mno-outline-atomics" } else { "" },
        triple = tree.arch.gnu_triple(),
        specs = specs.display(),
    );
    let cc = tree.cc();
    fs::create_dir_all(cc.parent().unwrap())?;
    write_atomic(&cc, script.as_bytes())?;
    run(Command::new("chmod").arg("755").arg(&cc))
}

/// The tree's `lib/` ahead of every `-L` a build adds: `-L<lib>` at the start of the specs'
/// `*link:`, which gcc expands before the command line's `-L`s. musl's specs put it in
/// `*link_libgcc:`, after them, and a cross build that adds the glibc cross gcc's own
/// `LIBRARY_PATH` as `-L`s (CPython's setup.py does, from `$CC -E -v`) then linked glibc's
/// `libc.so` from `/usr/arm-linux-gnueabihf/lib`: every armv7 extension module NEEDed
/// `libc.so.6` (docs/store.md). A native musl gcc finds its own libc first whatever `-L`s it
/// gets; so does this driver now. The tree's `lib/` holds only musl's libraries, so nothing a
/// build means to find elsewhere is shadowed. Idempotent (the driver is rewritten on every build).
fn tree_lib_first(specs: &Path, lib: &Path) -> Result<()> {
    let text = fs::read_to_string(specs).with_context(|| format!("cannot read {}", specs.display()))?;
    let first = format!("-L{} ", lib.display());
    let mut out = String::with_capacity(text.len() + first.len());
    let mut after_link = false;
    let mut found = false;
    for line in text.split_inclusive('\n') {
        if after_link && !line.starts_with(&first) {
            out.push_str(&first);
        }
        out.push_str(line);
        after_link = line == "*link:\n";
        found |= after_link;
    }
    if !found {
        bail!("{}: no *link: spec to put the tree's lib/ first in", specs.display());
    }
    if out != text {
        write_atomic(specs, out.as_bytes())?;
    }
    Ok(())
}

/// The Linux UAPI headers (`linux/`, `asm/`, `asm-generic/`, `mtd/`) in the
/// tree's `include/`, as links into the Debian package that ships them for
/// the arch (the mechanism of the real programs' builds). musl ships none of
/// them, and libffi, CPython and busybox include them: a musl system has them
/// beside libc's headers (Alpine's `linux-headers`). musl's own build never
/// sees them (it compiles with its own include directories), so libc.so and
/// the loader do not change.
fn kernel_headers(tree: &Tree) -> Result<()> {
    let include = tree.root.join("include");
    for name in crate::real::KERNEL_HEADER_DIRS {
        let link = include.join(name);
        if fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(&link)?;
        }
    }
    crate::real::kernel_headers(tree.arch, &include)?;
    Ok(())
}

fn finish(tree: &Tree, fingerprint: &str) -> Result<()> {
    let ldso = tree.ldso();
    if !ldso.exists() {
        bail!("{} was not installed", ldso.display());
    }
    write_atomic(&tree.stamp(), fingerprint.as_bytes())
}

fn stamp_text(tree: &Tree) -> Option<String> {
    fs::read_to_string(tree.stamp()).ok()
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Build the Rust loader for `arch` as one relocatable object (design.md §4):
/// fat LTO of the crate and `core` into a single object, without
/// `compiler_builtins` (musl and libgcc provide what it would), merged with
/// `ld -r`, and every symbol outside the musl contract made local.
fn loader_object(version: MuslVersion, arch: Arch, layout: &Path, dir: &Path) -> Result<PathBuf> {
    let ws = workspace_root();
    let rust_obj = dir.join("ldso-rust.o");
    let _ = fs::remove_file(&rust_obj);
    run_logged(
        Command::new(env!("CARGO"))
            .current_dir(&ws)
            .env("STORMLESS_LAYOUT_RS", layout)
            .args([
                "rustc",
                "--quiet",
                "-p",
                "stormless-ldso",
                "--profile",
                "ldso",
                "--lib",
                "--crate-type",
                "staticlib",
            ])
            .args(["--target", arch.rust_target()])
            .arg("--")
            .args(["-C", "relocation-model=pic", "-C", "force-unwind-tables=no"])
            .arg(format!("-Copt-level={}", arch.loader_opt_level()))
            .arg(format!("--emit=obj={}", rust_obj.display())),
        &log(dir, "ldso"),
    )
    .with_context(|| format!("building the stormless loader for {arch} (musl {version}) failed"))?;
    let merged = dir.join("ldso.lo.tmp");
    let triple = arch.gnu_triple();
    run(Command::new(format!("{triple}-ld")).arg("-r").arg("-o").arg(&merged).arg(&rust_obj))?;
    let keep = dir.join("ldso.exports");
    fs::write(&keep, CONTRACT_SYMBOLS.join("\n") + "\n")?;
    let mut objcopy = Command::new(format!("{triple}-objcopy"));
    objcopy.arg(format!("--keep-global-symbols={}", keep.display()));
    // The precompiled `core`/`alloc` carry DWARF; musl's own objects have
    // none in this build, and gdb then reads libc.so's symbols differently.
    objcopy.arg("--strip-debug");
    // Unwind tables of the precompiled `core`'s functions survive LTO
    // (`force-unwind-tables=no` covers only this crate's): 3.7 KiB of
    // `.eh_frame` plus its `.eh_frame_hdr` in libc.so's read-only segment,
    // where musl's C has 132 bytes. Nothing reads them: the loader never
    // unwinds (panic=abort), and gdb walks its frames by prologue analysis,
    // as it walks musl's own.
    objcopy.args(["-R", ".eh_frame", "-R", ".rela.eh_frame", "-R", ".rel.eh_frame"]);
    if arch.hot_code_in_one_page() {
        // Aligned to its size rounded up to a power of two, at most a page:
        // then it cannot straddle a page boundary, and the padding before it
        // stays under its own size.
        let size = section_size(&merged, HOT_SECTION)?;
        let align = size.next_power_of_two();
        anyhow::ensure!(
            align <= 4096,
            "the loader's {HOT_SECTION} grew to {size} bytes for {arch}: it must fit in one 4 KiB page"
        );
        objcopy.arg(format!("--set-section-alignment={HOT_SECTION}={align}"));
    }
    if arch == Arch::Armv7 {
        // Unwind tables of the precompiled `core`: their personality routines
        // would pull libgcc's unwinder (and three undefined `__cxa_*`) into
        // libc.so's ABI. The loader never unwinds (panic=abort), and musl's C
        // is built without unwind tables too.
        objcopy.args(["-R", ".ARM.exidx*", "-R", ".ARM.extab*", "-R", ".rel.ARM.exidx*", "-R", ".rel.ARM.extab*"]);
        objcopy.args(["-N", "__aeabi_unwind_cpp_pr0", "-N", "__aeabi_unwind_cpp_pr1"]);
    }
    run(objcopy.arg(&merged))?;
    let object = dir.join("ldso.lo");
    fs::rename(&merged, &object)?;
    Ok(object)
}

/// The loader's section for the code that runs per relocation
/// (`ld-so/src/reloc.rs`, `do_relocs_native`).
const HOT_SECTION: &str = ".text.hot.stormless";

/// The size of section `name` of the ELF object at `path` (0 when absent).
fn section_size(path: &Path, name: &str) -> Result<u64> {
    use object::{Object, ObjectSection};
    let data = fs::read(path)?;
    let file = object::File::parse(&*data).with_context(|| format!("reading {}", path.display()))?;
    Ok(file.section_by_name(name).map_or(0, |s| s.size()))
}

/// Symbols the loader defines for the rest of musl and for programs: what
/// musl's `ldso/dlstart.c` and `ldso/dynlink.c` define globally. Everything
/// else in the Rust object is made local, so no Rust symbol leaks into
/// libc.so's export table.
const CONTRACT_SYMBOLS: &[&str] = &[
    "_dlstart",
    "__dls2b",
    "__dls3",
    "_dl_debug_state",
    "_dl_debug_addr",
    "__libc_start_init",
    "__libc_exit_fini",
    "__ldso_atfork",
    "__init_tls",
    "__dlsym",
    "__dlsym_redir_time64",
    "__dl_invalid_handle",
    "dlopen",
    "dladdr",
    "dl_iterate_phdr",
];

/// The `stormless` CLI, built in release mode to `target/release/stormless`.
pub fn cli() -> Result<()> {
    run(Command::new(env!("CARGO")).current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "stormless",
    ]))
}
