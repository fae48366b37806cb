//! armv7 hard-float: AAPCS-VFP, REL relocations with implicit addends, TLS
//! above the thread pointer. musl is Thumb-2 and this code is ARM; the two
//! interwork through `bl`/`blx` as the ABI guarantees.
use super::Arch;
use super::Kind;
use core::arch::asm;

pub struct Native;

/// `_dlstart` with these instructions, handing over to `$stage1`.
///
/// The entry point (musl's crt_arch.h): clear fp and lr; &_DYNAMIC from a
/// PC-relative literal (in ARM state the pc reads 8 bytes ahead, which is
/// where label 2 sits).
macro_rules! dlstart {
    ($stage1:path) => {
        $crate::arch::entry_point!(
            $stage1;
            ".arm",
            ".type _dlstart,%function",
            "_dlstart:",
            "    mov fp, #0",
            "    mov lr, #0",
            "    ldr r1, 1f",
            "    add r1, pc, r1",
            "    mov r0, sp",
            "2:  bic sp, sp, #15",
            "    bl {stage1}",
            "    udf #0",
            ".weak _DYNAMIC",
            ".hidden _DYNAMIC",
            ".align 2",
            "1:  .word _DYNAMIC-2b",
        );
    };
}
pub(crate) use dlstart;

impl Arch for Native {
    const MUSL: stormless_elf::arch::MuslArch = stormless_elf::arch::ARMHF;
    const R_RELATIVE: u32 = stormless_elf::reloc::arm::RELATIVE;
    const RELOC_STRIDE: usize = 2;
    const TLSDESC_BACKWARDS: bool = true;
    qemu_measured_choices!();

    /// ELF32: the low byte.
    #[inline(always)]
    fn reloc_type(info: usize) -> u32 {
        (info & 0xff) as u32
    }

    /// The dynamic types but ABS32 and TLS_DESC are TLS_DTPMOD32..=RELATIVE (17..=23).
    #[inline(always)]
    fn reloc_kind(t: u32) -> Kind {
        use stormless_elf::reloc::arm as r;
        reloc_kind_by_run!(t;
            run: [
                r::TLS_DTPMOD32 => DtpMod,
                r::TLS_DTPOFF32 => DtpOff,
                r::TLS_TPOFF32 => TpOff,
                r::COPY => Copy,
                r::GLOB_DAT => Got,
                r::JUMP_SLOT => Plt,
                r::RELATIVE => Relative,
            ];
            others: [r::ABS32 => Symbolic, r::TLS_DESC => TlsDesc, r::NONE => None]
        )
    }

    /// TPIDRURO (musl's `__get_tp` for ARMv6K and later).
    #[inline(always)]
    fn thread_pointer() -> usize {
        let tp: usize;
        // SAFETY: reads a coprocessor register; no memory.
        unsafe { asm!("mrc p15, 0, {}, c13, c0, 3", out(reg) tp, options(nomem, nostack, preserves_flags)) };
        tp
    }

    #[inline(always)]
    fn trap() -> ! {
        // SAFETY: `udf` raises SIGILL and touches no memory.
        unsafe { asm!("udf #0", options(noreturn, nomem, nostack)) }
    }

    unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> ! {
        // SAFETY: forwarded contract.
        unsafe { asm!("mov sp, {1}", "bx {0}", in(reg) entry, in(reg) sp, options(noreturn)) }
    }
}

/// Call `$stage2($base, $sp)` through its PC-relative address, from a
/// PC-relative literal (`adr` cannot reach another section reliably) (see
/// `arch::enter_stage2!`'s contract in `arch/mod.rs`). Expands to an `asm!`
/// that never returns, for an `unsafe` block of the caller.
macro_rules! enter_stage2 {
    ($stage2:path, $base:expr, $sp:expr) => {
        core::arch::asm!(
            "ldr r12, 1f",
            "2: add r12, pc, r12",
            "blx r12",
            "udf #0",
            ".align 2",
            "1: .word {stage2} - 2b - 8",
            stage2 = sym $stage2,
            in("r0") $base,
            in("r1") $sp,
            options(noreturn)
        )
    };
}
pub(crate) use enter_stage2;
