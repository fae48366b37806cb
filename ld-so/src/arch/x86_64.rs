//! x86_64: SysV ABI, RELA relocations, TLS below the thread pointer (%fs).
use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITE: usize = 1;
    pub const EXIT_GROUP: usize = 231;
}

// The entry point: clear the frame pointer, hand the kernel's stack pointer to
// stage 0 and align the stack as the ABI requires for a call.
global_asm!(
    ".text",
    ".globl _dlstart",
    ".type _dlstart,@function",
    "_dlstart:",
    "    xor %rbp, %rbp",
    "    mov %rsp, %rdi",
    "    and $-16, %rsp",
    "    call {stage0}",
    "    hlt",
    ".size _dlstart, . - _dlstart",
    stage0 = sym crate::start::stage0,
    options(att_syntax)
);

/// # Safety
/// `n` must be a system call whose arguments are valid as given.
#[inline(always)]
pub unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the call; the kernel clobbers rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             lateout("rcx") _, lateout("r11") _, options(nostack));
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
    // SAFETY: `ud2` raises SIGILL and touches no memory.
    unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
}
