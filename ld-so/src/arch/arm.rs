//! armv7 hard-float: AAPCS-VFP, REL relocations with implicit addends, TLS
//! above the thread pointer. musl is Thumb-2 and this code is ARM; the two
//! interwork through `bl`/`blx` as the ABI guarantees.
use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITE: usize = 4;
    pub const EXIT_GROUP: usize = 248;
}

/// `R_ARM_RELATIVE`.
pub const R_RELATIVE: u32 = 23;

/// The relocation kind in an `r_info` word (ELF32: the low byte).
#[inline(always)]
pub const fn reloc_type(info: usize) -> u32 {
    (info & 0xff) as u32
}

// The entry point (musl's crt_arch.h): clear fp and lr, pass the kernel's stack
// pointer and &_DYNAMIC, computed from a PC-relative literal (in ARM state the
// pc reads 8 bytes ahead, which is where label 2 sits), align the stack.
global_asm!(
    ".text",
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

#[inline(always)]
pub fn trap() -> ! {
    // SAFETY: `udf` raises SIGILL and touches no memory.
    unsafe { asm!("udf #0", options(noreturn, nomem, nostack)) }
}
