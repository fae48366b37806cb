//! The store's rules, checked on every package's ELF objects right after its
//! build, so a recipe that lost a flag fails there and not in a test:
//!
//! - RUNPATH, never RPATH (`--enable-new-dtags`);
//! - every RUNPATH entry is the package's own `lib` or a dependency's (no
//!   build directory, nothing of the host);
//! - every DT_NEEDED but musl's `libc.so` is a file in one of them;
//! - for CPython, every object lists every dependency's `lib` (as nixpkgs).
//!
//! And one rule of the build host, checked before and after every build
//! ([`dev_null`]).
use anyhow::{bail, Context, Result};
use object::read::elf::{Dyn, FileHeader, SectionHeader};
use std::fs;
use std::path::{Path, PathBuf};

/// `/dev/null` must be the null device. When something on the machine has
/// replaced it by a regular file, builds fail far from the cause: bash opens
/// `/dev/null` for an empty here-document, so autoconf's `config.status`
/// received whatever had been written to the file (the first armv7
/// mpdecimal build: `./config.status: line 538: 0a1,73: command not found`,
/// the output of configure's own `diff … >/dev/null`).
pub(super) fn dev_null() -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let kind = fs::metadata("/dev/null").context("cannot stat /dev/null")?.file_type();
    if !kind.is_char_device() {
        bail!(
            "/dev/null is not a character device (something replaced it; builds then write garbage into \
             their scripts): restore it with `rm -f /dev/null && mknod -m 666 /dev/null c 1 3` and build again"
        );
    }
    Ok(())
}

/// Sonames only glibc's libraries have (musl's `libc.so` is all of them).
const GLIBC_SONAMES: &[&str] =
    &["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1", "libcrypt.so.1"];

pub(super) fn package(out: &Path, dep_libs: &[PathBuf], all_deps: bool) -> Result<()> {
    let own = out.join("lib");
    let mut allowed: Vec<PathBuf> = vec![own];
    allowed.extend(dep_libs.iter().cloned());
    let mut objects = 0;
    for file in elf_files(out)? {
        let bytes = fs::read(&file)?;
        let Some(dynamic) = dynamic_of(&bytes).with_context(|| format!("reading {}", file.display()))? else {
            continue;
        };
        objects += 1;
        let what = file.display();
        if dynamic.rpath.is_some() {
            bail!("{what} has DT_RPATH, not DT_RUNPATH (link with --enable-new-dtags)");
        }
        let runpath: Vec<PathBuf> =
            dynamic.runpath.as_deref().unwrap_or("").split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
        for dir in &runpath {
            if !allowed.contains(dir) {
                bail!("{what}: RUNPATH entry {} is neither its package's lib nor a dependency's", dir.display());
            }
        }
        for name in &dynamic.needed {
            if name == "libc.so" || name.starts_with("ld-musl-") {
                continue;
            }
            if GLIBC_SONAMES.contains(&name.as_str()) {
                bail!(
                    "{what} needs glibc's {name}: its link found a glibc `libc.so` (a `-L` to a glibc \
                     directory ahead of the sysroot's `lib`) instead of musl's"
                );
            }
            if !runpath.iter().any(|d| d.join(name).exists()) {
                bail!("{what} needs {name}, which is in none of its RUNPATH directories {runpath:?}");
            }
        }
        if all_deps {
            for dir in dep_libs {
                if !runpath.contains(dir) {
                    bail!("{what}: RUNPATH lacks the dependency directory {}", dir.display());
                }
            }
        }
    }
    if objects == 0 {
        bail!("{} holds no dynamically linked ELF object", out.display());
    }
    Ok(())
}

/// Regular files (symbolic links not followed) that start with the ELF magic.
fn elf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                let mut magic = [0u8; 4];
                use std::io::Read;
                let n = fs::File::open(entry.path())?.read(&mut magic)?;
                if n == 4 && magic == *b"\x7fELF" {
                    found.push(entry.path());
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

struct Dynamic {
    needed: Vec<String>,
    runpath: Option<String>,
    rpath: Option<String>,
}

/// The dynamic section's names, or `None` for an object without one.
fn dynamic_of(bytes: &[u8]) -> Result<Option<Dynamic>> {
    use object::elf::{FileHeader32, FileHeader64};
    use object::Endianness;
    match object::FileKind::parse(bytes)? {
        object::FileKind::Elf32 => dynamic_in::<FileHeader32<Endianness>>(bytes),
        object::FileKind::Elf64 => dynamic_in::<FileHeader64<Endianness>>(bytes),
        other => bail!("not an ELF file ({other:?})"),
    }
}

fn dynamic_in<H: FileHeader<Endian = object::Endianness>>(bytes: &[u8]) -> Result<Option<Dynamic>> {
    let header = H::parse(bytes)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, bytes)?;
    for section in sections.iter() {
        let Some((entries, link)) = section.dynamic(endian, bytes)? else { continue };
        let strings = sections.strings(endian, bytes, link)?;
        let mut d = Dynamic { needed: vec![], runpath: None, rpath: None };
        for entry in entries {
            let tag = entry.tag(endian);
            let text = || -> Result<String> {
                let s = entry.string(endian, strings)?;
                Ok(String::from_utf8_lossy(s).into_owned())
            };
            match tag {
                object::elf::DT_NEEDED => d.needed.push(text()?),
                object::elf::DT_RUNPATH => d.runpath = Some(text()?),
                object::elf::DT_RPATH => d.rpath = Some(text()?),
                _ => {}
            }
        }
        return Ok(Some(d));
    }
    Ok(None)
}
