//! armv7 hard-float: AAPCS-VFP, REL relocations with implicit addends, TLS
//! above the thread pointer. musl is Thumb-2 and this code is ARM; the two
//! interwork through `bl`/`blx` as the ABI guarantees.
use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITE: usize = 4;
    pub const EXIT_GROUP: usize = 248;
}

global_asm!(
    ".text",
    ".arm",
    ".globl _dlstart",
    ".type _dlstart,%function",
    "_dlstart:",
    "    mov fp, #0",
    "    mov lr, #0",
    "    mov r0, sp",
    "    bic sp, sp, #15",
    "    bl {stage0}",
    "    udf #0",
    ".size _dlstart, . - _dlstart",
    stage0 = sym crate::start::stage0,
);

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
