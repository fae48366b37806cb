//! ELF records as they sit in memory for this process's own word size, and the
//! constants the loader names. (File-level parsing for the CLI lives in
//! `crates/elf`; the loader reads already-mapped, native-class images.)
use crate::mem;

pub const WORD: usize = core::mem::size_of::<usize>();
const IS64: bool = WORD == 8;

// The ELF vocabulary is crates/elf's (one table of numbers for the loader and
// the CLI). Tags, flags and auxv types the loader uses as indices and masks of
// native words are its values at that width.
use stormless_elf::consts as elf;
pub use stormless_elf::consts::{
    ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_DYNAMIC, PT_GNU_RELRO, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_NOTE, PT_PHDR,
    PT_TLS, SHN_UNDEF, STB_LOCAL, STB_WEAK, STT_TLS,
};

macro_rules! native_word {
    ($($name:ident),* $(,)?) => { $(pub const $name: usize = elf::$name as usize;)* };
}
native_word!(
    DT_NULL,
    DT_NEEDED,
    DT_PLTRELSZ,
    DT_PLTGOT,
    DT_HASH,
    DT_STRTAB,
    DT_STRSZ,
    DT_SYMTAB,
    DT_RELA,
    DT_RELASZ,
    DT_INIT,
    DT_FINI,
    DT_RPATH,
    DT_REL,
    DT_RELSZ,
    DT_PLTREL,
    DT_DEBUG,
    DT_TEXTREL,
    DT_BIND_NOW,
    DT_FLAGS,
    DF_BIND_NOW,
    DT_JMPREL,
    DT_INIT_ARRAY,
    DT_FINI_ARRAY,
    DT_INIT_ARRAYSZ,
    DT_FINI_ARRAYSZ,
    DT_RUNPATH,
    DT_RELRSZ,
    DT_RELR,
    DT_GNU_HASH,
    DT_VERSYM,
    DT_FLAGS_1,
    DF_1_NOW,
);
native_word!(
    AT_PHDR,
    AT_PHENT,
    AT_PHNUM,
    AT_PAGESZ,
    AT_BASE,
    AT_ENTRY,
    AT_UID,
    AT_EUID,
    AT_GID,
    AT_EGID,
    AT_HWCAP,
    AT_SECURE,
    AT_SYSINFO,
    AT_SYSINFO_EHDR,
    AT_EXECFN,
);

/// musl's OK_TYPES: NOTYPE, OBJECT, FUNC, COMMON, TLS.
pub const OK_TYPES: u32 =
    1 << elf::STT_NOTYPE | 1 << elf::STT_OBJECT | 1 << elf::STT_FUNC | 1 << elf::STT_COMMON | 1 << elf::STT_TLS;
/// musl's OK_BINDS: GLOBAL, WEAK, GNU_UNIQUE.
pub const OK_BINDS: u32 = 1 << elf::STB_GLOBAL | 1 << elf::STB_WEAK | 1 << elf::STB_GNU_UNIQUE;

/// musl's AUX_CNT: the auxv entries it keeps (types below this).
pub const AUX_CNT: usize = 38;

/// The ELF header fields the loader uses.
#[derive(Clone, Copy)]
pub struct Ehdr {
    pub e_type: u16,
    pub e_entry: usize,
    pub e_phoff: usize,
    pub e_phentsize: usize,
    pub e_phnum: usize,
}

impl Ehdr {
    pub const SIZE: usize = if IS64 { 64 } else { 52 };

    /// # Safety
    /// `addr` must hold `Ehdr::SIZE` readable bytes.
    pub unsafe fn read(addr: usize) -> Ehdr {
        // SAFETY: forwarded contract; offsets from the ELF specification.
        unsafe {
            if IS64 {
                Ehdr {
                    e_type: mem::read(addr + 16),
                    e_entry: mem::read::<u64>(addr + 24) as usize,
                    e_phoff: mem::read::<u64>(addr + 32) as usize,
                    e_phentsize: mem::read::<u16>(addr + 54) as usize,
                    e_phnum: mem::read::<u16>(addr + 56) as usize,
                }
            } else {
                Ehdr {
                    e_type: mem::read(addr + 16),
                    e_entry: mem::read::<u32>(addr + 24) as usize,
                    e_phoff: mem::read::<u32>(addr + 28) as usize,
                    e_phentsize: mem::read::<u16>(addr + 42) as usize,
                    e_phnum: mem::read::<u16>(addr + 44) as usize,
                }
            }
        }
    }
}

#[derive(Clone, Copy, Default)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: usize,
    pub p_vaddr: usize,
    pub p_filesz: usize,
    pub p_memsz: usize,
    pub p_align: usize,
}

impl Phdr {
    pub const SIZE: usize = if IS64 { 56 } else { 32 };

    /// # Safety
    /// `addr` must hold `Phdr::SIZE` readable bytes.
    pub unsafe fn read(addr: usize) -> Phdr {
        // SAFETY: forwarded contract; the two classes order the fields differently.
        unsafe {
            if IS64 {
                Phdr {
                    p_type: mem::read(addr),
                    p_flags: mem::read(addr + 4),
                    p_offset: mem::read::<u64>(addr + 8) as usize,
                    p_vaddr: mem::read::<u64>(addr + 16) as usize,
                    p_filesz: mem::read::<u64>(addr + 32) as usize,
                    p_memsz: mem::read::<u64>(addr + 40) as usize,
                    p_align: mem::read::<u64>(addr + 48) as usize,
                }
            } else {
                Phdr {
                    p_type: mem::read(addr),
                    p_offset: mem::read::<u32>(addr + 4) as usize,
                    p_vaddr: mem::read::<u32>(addr + 8) as usize,
                    p_filesz: mem::read::<u32>(addr + 16) as usize,
                    p_memsz: mem::read::<u32>(addr + 20) as usize,
                    p_flags: mem::read(addr + 24),
                    p_align: mem::read::<u32>(addr + 28) as usize,
                }
            }
        }
    }

    /// PROT_* bits for this segment's flags.
    pub fn prot(&self) -> i32 {
        (if self.p_flags & PF_R != 0 { 1 } else { 0 })
            | (if self.p_flags & PF_W != 0 { 2 } else { 0 })
            | (if self.p_flags & PF_X != 0 { 4 } else { 0 })
    }
}

#[derive(Clone, Copy)]
pub struct Sym {
    pub st_name: u32,
    pub st_value: usize,
    pub st_size: usize,
    pub st_info: u8,
    pub st_shndx: u16,
}

impl Sym {
    pub const SIZE: usize = if IS64 { 24 } else { 16 };

    /// Where `st_value` sits in an entry (after st_name, st_info, st_other and
    /// st_shndx in ELF64; right after st_name in ELF32).
    pub const VALUE_OFFSET: usize = if IS64 { 8 } else { 4 };

    /// # Safety
    /// `addr` must hold `Sym::SIZE` readable bytes.
    #[link_section = ".text.startup.stormless"]
    pub unsafe fn read(addr: usize) -> Sym {
        // SAFETY: forwarded contract.
        unsafe {
            if IS64 {
                Sym {
                    st_name: mem::read(addr),
                    st_info: mem::read(addr + 4),
                    st_shndx: mem::read(addr + 6),
                    st_value: mem::read::<u64>(addr + 8) as usize,
                    st_size: mem::read::<u64>(addr + 16) as usize,
                }
            } else {
                Sym {
                    st_name: mem::read(addr),
                    st_value: mem::read::<u32>(addr + 4) as usize,
                    st_size: mem::read::<u32>(addr + 8) as usize,
                    st_info: mem::read(addr + 12),
                    st_shndx: mem::read(addr + 14),
                }
            }
        }
    }
    pub fn bind(&self) -> u8 {
        self.st_info >> 4
    }
    pub fn typ(&self) -> u8 {
        self.st_info & 0xf
    }
}

/// `r_info` → (kind, symbol index), as musl's R_TYPE/R_SYM.
pub fn r_type(info: usize) -> u32 {
    crate::arch::reloc_type(info)
}
pub fn r_sym(info: usize) -> usize {
    if IS64 {
        info >> 32
    } else {
        info >> 8
    }
}
