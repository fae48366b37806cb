//! Every constant of the crate against the system's `<elf.h>`, when the header is installed.

use stormless_elf::consts::*;
use stormless_elf::reloc::{aarch64, arm, x86_64};

/// `(name in <elf.h>, our value)`. aarch64's TLS names follow musl (`…DTPMOD64`); glibc drops
/// the `64`.
fn ours() -> Vec<(&'static str, u64)> {
    macro_rules! same {
        ($($name:ident),* $(,)?) => { vec![$((stringify!($name), $name as u64)),*] };
    }
    let mut v = same![
        ELFCLASS32,
        ELFCLASS64,
        ELFDATA2LSB,
        EI_CLASS,
        EI_DATA,
        EI_VERSION,
        EI_NIDENT,
        ET_NONE,
        ET_REL,
        ET_EXEC,
        ET_DYN,
        ET_CORE,
        EM_ARM,
        EM_X86_64,
        EM_AARCH64,
        PT_NULL,
        PT_LOAD,
        PT_DYNAMIC,
        PT_INTERP,
        PT_NOTE,
        PT_SHLIB,
        PT_PHDR,
        PT_TLS,
        PT_GNU_EH_FRAME,
        PT_GNU_STACK,
        PT_GNU_RELRO,
        PT_GNU_PROPERTY,
        PF_X,
        PF_W,
        PF_R,
        DT_NULL,
        DT_NEEDED,
        DT_PLTRELSZ,
        DT_PLTGOT,
        DT_HASH,
        DT_STRTAB,
        DT_SYMTAB,
        DT_RELA,
        DT_RELASZ,
        DT_RELAENT,
        DT_STRSZ,
        DT_SYMENT,
        DT_INIT,
        DT_FINI,
        DT_SONAME,
        DT_RPATH,
        DT_SYMBOLIC,
        DT_REL,
        DT_RELSZ,
        DT_RELENT,
        DT_PLTREL,
        DT_DEBUG,
        DT_TEXTREL,
        DT_JMPREL,
        DT_BIND_NOW,
        DT_INIT_ARRAY,
        DT_FINI_ARRAY,
        DT_INIT_ARRAYSZ,
        DT_FINI_ARRAYSZ,
        DT_RUNPATH,
        DT_FLAGS,
        DT_PREINIT_ARRAY,
        DT_PREINIT_ARRAYSZ,
        DT_RELRSZ,
        DT_RELR,
        DT_RELRENT,
        DT_NUM,
        DT_GNU_HASH,
        DT_VERSYM,
        DT_FLAGS_1,
        DT_VERDEF,
        DT_VERDEFNUM,
        DT_VERNEED,
        DT_VERNEEDNUM,
        DF_ORIGIN,
        DF_SYMBOLIC,
        DF_TEXTREL,
        DF_BIND_NOW,
        DF_STATIC_TLS,
        DF_1_NOW,
        DF_1_GLOBAL,
        DF_1_NODELETE,
        DF_1_NOOPEN,
        DF_1_ORIGIN,
        DF_1_PIE,
        STB_LOCAL,
        STB_GLOBAL,
        STB_WEAK,
        STB_GNU_UNIQUE,
        STT_NOTYPE,
        STT_OBJECT,
        STT_FUNC,
        STT_SECTION,
        STT_FILE,
        STT_COMMON,
        STT_TLS,
        STT_GNU_IFUNC,
        STV_DEFAULT,
        STV_INTERNAL,
        STV_HIDDEN,
        STV_PROTECTED,
        SHN_UNDEF,
        SHN_LORESERVE,
        SHN_ABS,
        SHN_COMMON,
        SHN_XINDEX,
        STN_UNDEF,
        VER_NDX_LOCAL,
        VER_NDX_GLOBAL,
        SHT_NULL,
        SHT_PROGBITS,
        SHT_SYMTAB,
        SHT_STRTAB,
        SHT_RELA,
        SHT_HASH,
        SHT_DYNAMIC,
        SHT_NOTE,
        SHT_NOBITS,
        SHT_REL,
        SHT_DYNSYM,
        SHT_RELR,
        SHT_GNU_HASH,
        NT_GNU_ABI_TAG,
        NT_GNU_BUILD_ID,
        NT_GNU_PROPERTY_TYPE_0,
    ];
    macro_rules! arch {
        ($module:ident: $($name:ident => $c:literal),* $(,)?) => {
            $(v.push(($c, $module::$name as u64));)*
        };
    }
    arch!(x86_64: NONE => "R_X86_64_NONE", R64 => "R_X86_64_64", PC32 => "R_X86_64_PC32",
        COPY => "R_X86_64_COPY", GLOB_DAT => "R_X86_64_GLOB_DAT", JUMP_SLOT => "R_X86_64_JUMP_SLOT",
        RELATIVE => "R_X86_64_RELATIVE", DTPMOD64 => "R_X86_64_DTPMOD64", DTPOFF64 => "R_X86_64_DTPOFF64",
        TPOFF64 => "R_X86_64_TPOFF64", TLSDESC => "R_X86_64_TLSDESC", IRELATIVE => "R_X86_64_IRELATIVE");
    arch!(aarch64: NONE => "R_AARCH64_NONE", ABS64 => "R_AARCH64_ABS64", COPY => "R_AARCH64_COPY",
        GLOB_DAT => "R_AARCH64_GLOB_DAT", JUMP_SLOT => "R_AARCH64_JUMP_SLOT", RELATIVE => "R_AARCH64_RELATIVE",
        TLS_DTPMOD64 => "R_AARCH64_TLS_DTPMOD", TLS_DTPREL64 => "R_AARCH64_TLS_DTPREL",
        TLS_TPREL64 => "R_AARCH64_TLS_TPREL", TLSDESC => "R_AARCH64_TLSDESC", IRELATIVE => "R_AARCH64_IRELATIVE");
    arch!(arm: NONE => "R_ARM_NONE", ABS32 => "R_ARM_ABS32", REL32 => "R_ARM_REL32",
        TLS_DESC => "R_ARM_TLS_DESC", TLS_DTPMOD32 => "R_ARM_TLS_DTPMOD32", TLS_DTPOFF32 => "R_ARM_TLS_DTPOFF32",
        TLS_TPOFF32 => "R_ARM_TLS_TPOFF32", COPY => "R_ARM_COPY", GLOB_DAT => "R_ARM_GLOB_DAT",
        JUMP_SLOT => "R_ARM_JUMP_SLOT", RELATIVE => "R_ARM_RELATIVE", IRELATIVE => "R_ARM_IRELATIVE");
    v
}

/// Parses `#define NAME value` lines whose value is a number or `(1 << n)`.
fn parse_define(line: &str) -> Option<(&str, u64)> {
    let rest = line.trim_start().strip_prefix("#define")?;
    let mut parts = rest.split_whitespace();
    let name = parts.next()?;
    let value = parts.next()?.trim_start_matches('(');
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.trim_end_matches(')').parse().ok(),
    };
    if parts.next() == Some("<<") {
        let shift = number(parts.next()?.trim_end_matches(')'))?;
        return Some((name, number(value)? << shift));
    }
    Some((name, number(value.trim_end_matches(')'))?))
}

#[test]
fn constants_match_the_system_elf_h() {
    let Ok(text) = std::fs::read_to_string("/usr/include/elf.h") else {
        eprintln!("skipping: /usr/include/elf.h not found");
        return;
    };
    let defines: std::collections::HashMap<&str, u64> = text.lines().filter_map(parse_define).collect();
    let ours = ours();
    for (name, value) in &ours {
        assert_eq!(defines.get(name), Some(value), "{name}");
    }
    assert_eq!(defines.get("SHN_XINDEX"), Some(&0xffff));
    assert!(ours.len() > 150);
}
