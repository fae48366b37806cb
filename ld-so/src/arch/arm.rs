//! armv7 hard-float: AAPCS-VFP, REL relocations with implicit addends, TLS
//! above the thread pointer. musl is Thumb-2 and this code is ARM; the two
//! interwork through `bl`/`blx` as the ABI guarantees.
use crate::reloc::Kind;
use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITE: usize = 4;
    pub const EXIT_GROUP: usize = 248;
}

/// The relative relocation, which stage 1 applies.
pub const R_RELATIVE: u32 = stormless_elf::reloc::arm::RELATIVE;

/// The relocation kind in an `r_info` word (ELF32: the low byte).
#[inline(always)]
pub const fn reloc_type(info: usize) -> u32 {
    (info & 0xff) as u32
}

// The entry point (musl's crt_arch.h): clear fp and lr, pass the kernel's stack
// pointer and &_DYNAMIC, computed from a PC-relative literal (in ARM state the
// pc reads 8 bytes ahead, which is where label 2 sits), align the stack.
global_asm!(
    // With the other startup code (lib.rs): one run of pages.
    ".section .text.startup.stormless,\"ax\",%progbits",
    ".arm",
    ".globl _dlstart",
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
    ".size _dlstart, . - _dlstart",
    stage1 = sym crate::stage1::stage1,
);

/// Call stage 2 through an address computed from a PC-relative literal, as
/// musl's GETFUNCSYM (`adr` cannot reach another section reliably).
///
/// # Safety
/// Only stage 1 may call this, after relocating the loader.
#[inline(always)]
pub unsafe fn enter_stage2(base: usize, sp: *mut usize) -> ! {
    // SAFETY: stage2 is an `extern "C" fn(usize, *mut usize) -> !` in this object.
    unsafe {
        asm!(
            "ldr r12, 1f",
            "2: add r12, pc, r12",
            "blx r12",
            "udf #0",
            ".align 2",
            "1: .word {stage2} - 2b - 8",
            stage2 = sym crate::start::stage2,
            in("r0") base,
            in("r1") sp,
            options(noreturn)
        )
    }
}

/// # Safety
/// `n` must be a system call whose arguments are valid as given.
#[inline(always)]
pub unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the call. r7 holds the number (EABI).
    unsafe {
        asm!("svc #0", in("r7") n, inlateout("r0") a as isize => ret, in("r1") b, in("r2") c,
             options(nostack));
    }
    ret
}

/// # Safety
/// As [`syscall3`].
#[inline(always)]
pub unsafe fn syscall1(n: usize, a: usize) -> isize {
    // SAFETY: forwarded contract.
    unsafe { syscall3(n, a, 0, 0) }
}

/// The thread pointer (musl's `__get_tp` for ARMv6K and later): TPIDRURO.
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads a coprocessor register; no memory.
    unsafe { asm!("mrc p15, 0, {}, c13, c0, 3", out(reg) tp, options(nomem, nostack, preserves_flags)) };
    tp
}

#[inline(always)]
pub fn trap() -> ! {
    // SAFETY: `udf` raises SIGILL and touches no memory.
    unsafe { asm!("udf #0", options(noreturn, nomem, nostack)) }
}

/// musl's `arch/arm/reloc.h`: type numbers to kinds. The dynamic types but
/// ABS32 and TLS_DESC are 17..=23: one table lookup instead of a compare tree.
#[inline(always)]
pub fn reloc_kind(t: u32) -> Kind {
    use stormless_elf::reloc::arm as r;
    // The types from TLS_DTPMOD32 to RELATIVE are consecutive: one table lookup.
    const FROM_TLS_DTPMOD32: [Kind; 7] =
        [Kind::DtpMod, Kind::DtpOff, Kind::TpOff, Kind::Copy, Kind::Got, Kind::Plt, Kind::Relative];
    const _: () = assert!(
        r::TLS_DTPOFF32 == r::TLS_DTPMOD32 + 1
            && r::TLS_TPOFF32 == r::TLS_DTPMOD32 + 2
            && r::COPY == r::TLS_DTPMOD32 + 3
            && r::GLOB_DAT == r::TLS_DTPMOD32 + 4
            && r::JUMP_SLOT == r::TLS_DTPMOD32 + 5
            && r::RELATIVE == r::TLS_DTPMOD32 + 6
    );
    match FROM_TLS_DTPMOD32.get(t.wrapping_sub(r::TLS_DTPMOD32) as usize) {
        Some(&kind) => kind,
        None if t == r::ABS32 => Kind::Symbolic,
        None if t == r::TLS_DESC => Kind::TlsDesc,
        None if t == r::NONE => Kind::None,
        None => Kind::Unknown,
    }
}

/// No prefetching ahead in the relocation loop (`reloc::prefetch_ahead`):
/// under qemu-user, where this port is measured, a prefetch does nothing
/// and the loads that compute its address are extra guest code per
/// relocation.
pub const PREFETCH_SYMBOLS: bool = false;

#[inline(always)]
pub fn prefetch(_addr: usize) {}

/// Words per relocation entry in the form this arch's toolchains emit (REL).
pub const RELOC_STRIDE: usize = 2;
/// 32-bit ARM stores the two words of a TLS descriptor the other way round.
pub const TLSDESC_BACKWARDS: bool = true;
/// musl defines NO_LEGACY_INITFINI for arm: DT_INIT/DT_FINI are not run.
pub const LEGACY_INIT_FINI: bool = false;
/// musl's `PAGE_SIZE` is `libc.page_size` here, known only from stage 3 on.
pub const CONSTANT_PAGE_SIZE: bool = false;
/// `e_machine` of the objects this loader maps (a library of another machine is ENOEXEC).
pub const ELF_MACHINE: u16 = stormless_elf::consts::EM_ARM;
pub const LDSO_ARCH: &str = "armhf";
pub const LDSO_ARCH_C: &core::ffi::CStr = c"armhf";

/// Jump to the program's entry point with the stack pointer at `sp` (musl's CRTJMP).
///
/// # Safety
/// `entry` is the program's entry point and `sp` the argc word of a valid initial stack.
pub unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> ! {
    // SAFETY: forwarded contract.
    unsafe { asm!("mov sp, {1}", "bx {0}", in(reg) entry, in(reg) sp, options(noreturn)) }
}
