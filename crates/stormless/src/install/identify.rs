//! What a `ld-musl-<m>.so.1` is, read from its bytes alone: `install` meets loaders of other
//! architectures (a root being prepared on another machine), so nothing is executed.
//!
//! - The architecture: the ELF header's class, `e_machine` and, on arm, the hard-float ABI flag
//!   (`ld-musl-armhf.so.1` against `ld-musl-arm.so.1`).
//! - That it is musl's: musl's libc exports its dynamic linker's stage entries `__dls2b` and
//!   `__dls3` beside `__libc_start_main` (no other libc does); our loader exports them too
//!   (its ABI equals stock musl's). The dynamic symbol table survives `strip`.
//! - The musl version: the string `__libc_version` (musl's `src/internal/version.c`, the
//!   release from musl's `VERSION` file) when the symbol table names it; a stripped file
//!   (Alpine's, Void's) has no symbol table, so then the one NUL-terminated `X.Y.Z` string in
//!   its read-only data that no other digit or dot precedes. More than one such string, or
//!   none, is an error rather than a guess.
//! - Whether it is a stormless loader: our releases ship the file unstripped, and its symbol
//!   table names the loader's Rust functions (`stormless_ldso`).
use anyhow::{bail, Context, Result};
use object::elf::{EF_ARM_ABI_FLOAT_HARD, EM_AARCH64, EM_ARM, EM_X86_64, ET_DYN};
use object::{Object, ObjectSection, ObjectSymbol};

/// A musl dynamic linker, as its file describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MuslLoader {
    /// `$(ARCH)$(SUBARCH)` of musl's file name: `x86_64`, `aarch64`, `armhf`.
    pub ldso_arch: &'static str,
    pub version: String,
    /// Whether the loader is stormless' (see the module comment).
    pub stormless: bool,
}

impl MuslLoader {
    /// `ld-musl-<m>.so.1`.
    pub fn file_name(&self) -> String {
        format!("ld-musl-{}.so.1", self.ldso_arch)
    }

    pub fn describe(&self) -> String {
        let whose = if self.stormless { "stormless" } else { "musl's own" };
        format!("musl {} for {} ({whose} dynamic linker)", self.version, self.ldso_arch)
    }
}

/// Identify the musl dynamic linker in `bytes`; the error says what it is not.
pub fn identify(bytes: &[u8]) -> Result<MuslLoader> {
    let file = object::File::parse(bytes).context("not an ELF file")?;
    let (machine, flags, kind) = elf_header(&file, bytes)?;
    if kind != ET_DYN.0 {
        bail!("not a shared object (ELF type {kind}): musl's dynamic linker is one");
    }
    let ldso_arch = match (machine, file.is_64()) {
        (m, true) if m == EM_X86_64.0 => "x86_64",
        (m, true) if m == EM_AARCH64.0 => "aarch64",
        (m, false) if m == EM_ARM.0 && flags & EF_ARM_ABI_FLOAT_HARD != 0 => "armhf",
        (m, false) if m == EM_ARM.0 => {
            bail!("an arm soft-float object (musl's ld-musl-arm.so.1): stormless is built for armhf")
        }
        _ => bail!("an ELF object for machine {machine} ({}-bit), not x86_64, aarch64 or armhf", bits(&file)),
    };
    let exported = |name: &str| file.dynamic_symbols().any(|s| s.name() == Ok(name) && !s.is_undefined());
    let missing: Vec<&str> = ["__libc_start_main", "__dls2b", "__dls3"].into_iter().filter(|n| !exported(n)).collect();
    if !missing.is_empty() {
        bail!("not musl's libc and dynamic linker (it does not export {})", missing.join(", "));
    }
    let version = version(&file, bytes)?;
    let stormless = file.symbols().any(|s| s.name().is_ok_and(|n| n.contains("stormless_ldso")));
    Ok(MuslLoader { ldso_arch, version, stormless })
}

fn bits(file: &object::File) -> u32 {
    if file.is_64() {
        64
    } else {
        32
    }
}

/// `e_machine`, `e_flags` and `e_type`.
fn elf_header(file: &object::File, bytes: &[u8]) -> Result<(u16, u32, u16)> {
    use object::read::elf::FileHeader;
    use object::{elf, Endianness};
    Ok(match file {
        object::File::Elf32(_) => {
            let h = elf::FileHeader32::<Endianness>::parse(bytes)?;
            let e = h.endian()?;
            (h.e_machine(e).0, h.e_flags(e).0, h.e_type(e).0)
        }
        object::File::Elf64(_) => {
            let h = elf::FileHeader64::<Endianness>::parse(bytes)?;
            let e = h.endian()?;
            (h.e_machine(e).0, h.e_flags(e).0, h.e_type(e).0)
        }
        _ => bail!("not an ELF file"),
    })
}

/// musl's release, from `__libc_version` or, in a stripped file, the read-only data.
fn version(file: &object::File, bytes: &[u8]) -> Result<String> {
    if let Some(symbol) = file.symbols().find(|s| s.name() == Ok("__libc_version")) {
        let text = symbol_string(file, symbol.address())
            .context("its symbol __libc_version does not point at a string in the file")?;
        if !is_release(text.as_bytes()) {
            bail!("its __libc_version is `{text}`, not a musl release number");
        }
        return Ok(text);
    }
    let data = match file.section_by_name(".rodata") {
        Some(section) => section.data().context("cannot read its .rodata")?,
        None => bytes,
    };
    let found = release_strings(data);
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no musl version string in it (stripped, and no `X.Y.Z` string in its read-only data)"),
        many => bail!("cannot tell its musl version: its read-only data holds {}", many.join(", ")),
    }
}

/// The NUL-terminated string at virtual address `address`.
fn symbol_string(file: &object::File, address: u64) -> Option<String> {
    let section = file.sections().find(|s| (s.address()..s.address() + s.size()).contains(&address))?;
    let data = section.data().ok()?;
    let tail = data.get(usize::try_from(address - section.address()).ok()?..)?;
    let end = tail.iter().position(|b| *b == 0)?;
    String::from_utf8(tail[..end].to_vec()).ok()
}

/// `X.Y.Z`, digits only.
fn is_release(text: &[u8]) -> bool {
    let parts: Vec<&[u8]> = text.split(|b| *b == b'.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.len() <= 4 && p.iter().all(u8::is_ascii_digit))
}

/// The distinct `X.Y.Z` strings in `data`: a run of digits and dots that ends in NUL and that
/// no digit, dot or `_` precedes: `127.0.0.1` is one four-part run, not a release, and
/// `LINUX_2.6.39` (the vDSO symbol version musl's aarch64 `clock_gettime` looks up) is a
/// version name. Other letters may precede it: on aarch64 the release follows the unterminated
/// bytes of a char array directly (`/proc/se1.2.3`).
fn release_strings(data: &[u8]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut start = 0;
    while start < data.len() {
        if !(data[start].is_ascii_digit())
            || (start > 0 && (is_digit_or_dot(data[start - 1]) || data[start - 1] == b'_'))
        {
            start += 1;
            continue;
        }
        let end = start + data[start..].iter().take_while(|b| is_digit_or_dot(**b)).count();
        if data.get(end) == Some(&0) && is_release(&data[start..end]) {
            let text = String::from_utf8_lossy(&data[start..end]).into_owned();
            if !found.contains(&text) {
                found.push(text);
            }
        }
        start = end;
    }
    found
}

fn is_digit_or_dot(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings_are_whole_nul_terminated_runs() {
        let data = b"\x00127.0.0.1\x00/proc/se1.2.3\x00\x001.2.3\x00v10.20\x003.4.5x\x00LINUX_2.6.39\x00";
        assert_eq!(release_strings(data), ["1.2.3"]);
        assert_eq!(release_strings(b"\x001.2.3\x001.2.5\x00"), ["1.2.3", "1.2.5"]);
        assert!(release_strings(b"1.2\x0012.3.4.5\x00").is_empty());
    }

    #[test]
    fn what_is_not_a_musl_loader_is_named() {
        let e = identify(b"#!/bin/sh\n").unwrap_err();
        assert!(format!("{e:#}").contains("not an ELF file"), "{e:#}");
        // The test binary itself: an executable, not musl's libc.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let e = identify(&me).unwrap_err();
        assert!(format!("{e:#}").contains("not a shared object") || format!("{e:#}").contains("not musl's"), "{e:#}");
    }
}
