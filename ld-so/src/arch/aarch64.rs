//! aarch64: AAPCS64, RELA relocations, TLS above the thread pointer (tpidr_el0).
use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITE: usize = 64;
    pub const EXIT_GROUP: usize = 94;
}

global_asm!(
    ".text",
    ".globl _dlstart",
    ".type _dlstart,%function",
    "_dlstart:",
    "    mov x29, #0",
    "    mov x30, #0",
    "    mov x0, sp",
    "    and sp, x0, #-16",
    "    bl {stage0}",
    "    brk #0",
    ".size _dlstart, . - _dlstart",
    stage0 = sym crate::start::stage0,
);

/// # Safety
/// `n` must be a system call whose arguments are valid as given.
#[inline(always)]
pub unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the call.
    unsafe {
        asm!("svc #0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c,
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
    // SAFETY: `brk` raises SIGTRAP and touches no memory.
    unsafe { asm!("brk #1000", options(noreturn, nomem, nostack)) }
}
