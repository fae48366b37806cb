//! ELF records as they sit in memory for this process's own word size, and the
//! constants the loader names. (File-level parsing for the CLI lives in
//! `crates/elf`; the loader reads already-mapped, native-class images.)
use crate::mem;

pub const WORD: usize = core::mem::size_of::<usize>();
const IS64: bool = WORD == 8;

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_NOTE: u32 = 4;
pub const PT_PHDR: u32 = 6;
pub const PT_TLS: u32 = 7;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

pub const DT_NULL: usize = 0;
pub const DT_NEEDED: usize = 1;
pub const DT_PLTRELSZ: usize = 2;
pub const DT_PLTGOT: usize = 3;
pub const DT_HASH: usize = 4;
pub const DT_STRTAB: usize = 5;
pub const DT_SYMTAB: usize = 6;
pub const DT_RELA: usize = 7;
pub const DT_RELASZ: usize = 8;
pub const DT_INIT: usize = 12;
pub const DT_FINI: usize = 13;
pub const DT_RPATH: usize = 15;
pub const DT_REL: usize = 17;
pub const DT_RELSZ: usize = 18;
pub const DT_PLTREL: usize = 20;
pub const DT_DEBUG: usize = 21;
pub const DT_TEXTREL: usize = 22;
pub const DT_BIND_NOW: usize = 24;
pub const DT_FLAGS: usize = 30;
pub const DF_BIND_NOW: usize = 8;
pub const DT_JMPREL: usize = 23;
pub const DT_INIT_ARRAY: usize = 25;
pub const DT_FINI_ARRAY: usize = 26;
pub const DT_INIT_ARRAYSZ: usize = 27;
pub const DT_FINI_ARRAYSZ: usize = 28;
pub const DT_RUNPATH: usize = 29;
pub const DT_RELRSZ: usize = 35;
pub const DT_RELR: usize = 36;
pub const DT_GNU_HASH: usize = 0x6fff_fef5;
pub const DT_VERSYM: usize = 0x6fff_fff0;
pub const DT_FLAGS_1: usize = 0x6fff_fffb;
pub const DF_1_NOW: usize = 1;

pub const STB_LOCAL: u8 = 0;
pub const STB_WEAK: u8 = 2;
pub const STT_TLS: u8 = 6;
pub const SHN_UNDEF: u16 = 0;
/// musl's OK_TYPES: NOTYPE, OBJECT, FUNC, COMMON, TLS.
pub const OK_TYPES: u32 = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 5 | 1 << 6;
/// musl's OK_BINDS: GLOBAL, WEAK, GNU_UNIQUE.
pub const OK_BINDS: u32 = 1 << 1 | 1 << 2 | 1 << 10;

pub const AT_PHDR: usize = 3;
pub const AT_PHENT: usize = 4;
pub const AT_PHNUM: usize = 5;
pub const AT_PAGESZ: usize = 6;
pub const AT_BASE: usize = 7;
pub const AT_ENTRY: usize = 9;
pub const AT_UID: usize = 11;
pub const AT_EUID: usize = 12;
pub const AT_GID: usize = 13;
pub const AT_EGID: usize = 14;
pub const AT_HWCAP: usize = 16;
pub const AT_SECURE: usize = 23;
pub const AT_SYSINFO: usize = 32;
pub const AT_SYSINFO_EHDR: usize = 33;
pub const AT_EXECFN: usize = 31;
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
