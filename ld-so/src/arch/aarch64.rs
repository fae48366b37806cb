//! aarch64: AAPCS64, RELA relocations, TLS above the thread pointer (tpidr_el0).
use super::Arch;
use super::Kind;
use core::arch::asm;

pub struct Native;

/// `_dlstart` with these instructions, handing over to `$stage1`.
///
/// The entry point (musl's crt_arch.h): clear fp and lr; &_DYNAMIC by adrp/add.
macro_rules! dlstart {
    ($stage1:path) => {
        $crate::arch::entry_point!(
            $stage1;
            ".type _dlstart,%function",
            "_dlstart:",
            "    mov x29, #0",
            "    mov x30, #0",
            "    mov x0, sp",
            ".weak _DYNAMIC",
            ".hidden _DYNAMIC",
            "    adrp x1, _DYNAMIC",
            "    add x1, x1, #:lo12:_DYNAMIC",
            "    and sp, x0, #-16",
            "    bl {stage1}",
            "    brk #0",
        );
    };
}
pub(crate) use dlstart;

impl Arch for Native {
    const MUSL: stormless_elf::arch::MuslArch = stormless_elf::arch::AARCH64;
    const R_RELATIVE: u32 = stormless_elf::reloc::aarch64::RELATIVE;
    const RELOC_STRIDE: usize = 3;
    const TLSDESC_BACKWARDS: bool = false;
    qemu_measured_choices!();

    /// ELF64: the low 32 bits, as musl masks them.
    #[inline(always)]
    fn reloc_type(info: usize) -> u32 {
        (info & 0x7fff_ffff) as u32
    }

    /// The dynamic types but ABS64 are COPY..=TLSDESC (1024..=1031).
    #[inline(always)]
    fn reloc_kind(t: u32) -> Kind {
        use stormless_elf::reloc::aarch64 as r;
        reloc_kind_by_run!(t;
            run: [
                r::COPY => Copy,
                r::GLOB_DAT => Got,
                r::JUMP_SLOT => Plt,
                r::RELATIVE => Relative,
                r::TLS_DTPMOD64 => DtpMod,
                r::TLS_DTPREL64 => DtpOff,
                r::TLS_TPREL64 => TpOff,
                r::TLSDESC => TlsDesc,
            ];
            others: [r::ABS64 => Symbolic, r::NONE => None]
        )
    }

    /// `tpidr_el0`.
    #[inline(always)]
    fn thread_pointer() -> usize {
        let tp: usize;
        // SAFETY: reads a system register; no memory.
        unsafe { asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags)) };
        tp
    }

    #[inline(always)]
    fn trap() -> ! {
        // SAFETY: `brk` raises SIGTRAP and touches no memory.
        unsafe { asm!("brk #1000", options(noreturn, nomem, nostack)) }
    }

    unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> ! {
        // SAFETY: forwarded contract.
        unsafe { asm!("mov sp, {1}", "br {0}", in(reg) entry, in(reg) sp, options(noreturn)) }
    }
}

/// Call `$stage2($base, $sp)` through its PC-relative address, by adrp/add (see
/// `arch::enter_stage2!`'s contract in `arch/mod.rs`). Expands to an `asm!`
/// that never returns, for an `unsafe` block of the caller.
macro_rules! enter_stage2 {
    ($stage2:path, $base:expr, $sp:expr) => {
        core::arch::asm!(
            "adrp x16, {stage2}",
            "add x16, x16, :lo12:{stage2}",
            "blr x16",
            "brk #0",
            stage2 = sym $stage2,
            in("x0") $base,
            in("x1") $sp,
            options(noreturn)
        )
    };
}
pub(crate) use enter_stage2;
