//! x86_64: SysV ABI, RELA relocations, TLS below the thread pointer (%fs).
use super::Arch;
use super::Kind;
use core::arch::asm;

pub struct Native;

/// `_dlstart` with these instructions, handing over to `$stage1`.
///
/// The entry point (musl's crt_arch.h). No `.type`: musl's x86_64 crt_arch.h
/// gives none, and the exported symbol's type is part of the ABI (NOTYPE here,
/// FUNC on aarch64 and arm).
macro_rules! dlstart {
    ($stage1:path) => {
        $crate::arch::entry_point!(
            $stage1;
            "_dlstart:",
            "    xor %rbp, %rbp",
            "    mov %rsp, %rdi",
            ".weak _DYNAMIC",
            ".hidden _DYNAMIC",
            "    lea _DYNAMIC(%rip), %rsi",
            "    and $-16, %rsp",
            "    call {stage1}",
            "    hlt",
            options(att_syntax)
        );
    };
}
pub(crate) use dlstart;

impl Arch for Native {
    const MUSL: stormless_elf::arch::MuslArch = stormless_elf::arch::X86_64;
    const R_RELATIVE: u32 = stormless_elf::reloc::x86_64::RELATIVE;
    const RELOC_STRIDE: usize = 3;
    const TLSDESC_BACKWARDS: bool = false;
    const LEGACY_INIT_FINI: bool = true;
    const CONSTANT_PAGE_SIZE: bool = true;
    /// Per symbolic relocation, the first read of the referencing object's
    /// symbol entry and of its name are cache misses, a fifth of the loop's
    /// time: worth prefetching natively.
    const PREFETCH_SYMBOLS: bool = true;

    /// ELF64: the low 32 bits, as musl masks them.
    #[inline(always)]
    fn reloc_type(info: usize) -> u32 {
        (info & 0x7fff_ffff) as u32
    }

    #[inline(always)]
    fn reloc_kind(t: u32) -> Kind {
        use stormless_elf::reloc::x86_64 as r;
        match t {
            r::NONE => Kind::None,
            r::R64 => Kind::Symbolic,
            r::PC32 => Kind::Offset32,
            r::COPY => Kind::Copy,
            r::GLOB_DAT => Kind::Got,
            r::JUMP_SLOT => Kind::Plt,
            r::RELATIVE => Kind::Relative,
            r::DTPMOD64 => Kind::DtpMod,
            r::DTPOFF64 => Kind::DtpOff,
            r::TPOFF64 => Kind::TpOff,
            r::TLSDESC => Kind::TlsDesc,
            _ => Kind::Unknown,
        }
    }

    #[inline(always)]
    fn prefetch(addr: usize) {
        // SAFETY: `prefetcht0` only hints the cache; no address makes it fault,
        // and it writes neither memory nor registers.
        unsafe { asm!("prefetcht0 byte ptr [{}]", in(reg) addr, options(nostack, preserves_flags, readonly)) };
    }

    /// The word at `%fs:0`, which musl sets to the thread descriptor's own address.
    #[inline(always)]
    fn thread_pointer() -> usize {
        let tp: usize;
        // SAFETY: the thread pointer is installed before any caller runs.
        unsafe { asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, preserves_flags, readonly)) };
        tp
    }

    #[inline(always)]
    fn trap() -> ! {
        // SAFETY: `ud2` raises SIGILL and touches no memory.
        unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
    }

    unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> ! {
        // SAFETY: forwarded contract.
        unsafe { asm!("mov rsp, {1}", "jmp {0}", in(reg) entry, in(reg) sp, options(noreturn)) }
    }
}

/// Call `$stage2($base, $sp)` through its PC-relative address (see
/// `arch::enter_stage2!`'s contract in `arch/mod.rs`). Expands to an `asm!`
/// that never returns, for an `unsafe` block of the caller.
macro_rules! enter_stage2 {
    ($stage2:path, $base:expr, $sp:expr) => {
        core::arch::asm!(
            "lea {stage2}(%rip), %rax",
            "call *%rax",
            "ud2",
            stage2 = sym $stage2,
            in("rdi") $base,
            in("rsi") $sp,
            options(noreturn, att_syntax)
        )
    };
}
pub(crate) use enter_stage2;
