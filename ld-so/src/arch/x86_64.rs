//! x86_64: SysV ABI, RELA relocations, TLS below the thread pointer (%fs).
use crate::reloc::Kind;
use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITE: usize = 1;
    pub const EXIT_GROUP: usize = 231;
}

/// The relative relocation, which stage 1 applies.
pub const R_RELATIVE: u32 = stormless_elf::reloc::x86_64::RELATIVE;

/// The relocation kind in an `r_info` word (ELF64: the low 32 bits, as musl masks them).
#[inline(always)]
pub const fn reloc_type(info: usize) -> u32 {
    (info & 0x7fff_ffff) as u32
}

// The entry point (musl's crt_arch.h): clear the frame pointer, pass the
// kernel's stack pointer and &_DYNAMIC (PC-relative: nothing is relocated yet),
// align the stack for the call. No `.type`: musl's x86_64 crt_arch.h gives
// none, and the exported symbol's type is part of the ABI (NOTYPE here, FUNC
// on aarch64 and arm).
global_asm!(
    // With the other startup code (lib.rs): one run of pages.
    ".section .text.startup.stormless,\"ax\",%progbits",
    ".globl _dlstart",
    "_dlstart:",
    "    xor %rbp, %rbp",
    "    mov %rsp, %rdi",
    ".weak _DYNAMIC",
    ".hidden _DYNAMIC",
    "    lea _DYNAMIC(%rip), %rsi",
    "    and $-16, %rsp",
    "    call {stage1}",
    "    hlt",
    ".size _dlstart, . - _dlstart",
    stage1 = sym crate::stage1::stage1,
    options(att_syntax)
);

/// Call stage 2 through an address taken PC-relatively, as musl's GETFUNCSYM:
/// no GOT entry is read and the compiler cannot move code across the call.
///
/// # Safety
/// Only stage 1 may call this, after relocating the loader.
#[inline(always)]
pub unsafe fn enter_stage2(base: usize, sp: *mut usize) -> ! {
    // SAFETY: stage2 is an `extern "C" fn(usize, *mut usize) -> !` in this object.
    unsafe {
        asm!(
            "lea {stage2}(%rip), %rax",
            "call *%rax",
            "ud2",
            stage2 = sym crate::start::stage2,
            in("rdi") base,
            in("rsi") sp,
            options(noreturn, att_syntax)
        )
    }
}

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

/// The thread pointer (musl's `__get_tp`): the word at `%fs:0`, which musl
/// sets to the thread descriptor's own address.
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: the thread pointer is installed before any caller runs.
    unsafe { asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, preserves_flags, readonly)) };
    tp
}

/// Whether the relocation loop prefetches the symbol entries and names of
/// the relocations ahead (see `reloc::prefetch_ahead`). Here it does: per
/// symbolic relocation, the first read of the referencing object's symbol
/// entry and of its name are cache misses, a fifth of the loop's time.
pub const PREFETCH_SYMBOLS: bool = true;

/// A hint that `addr` will be read soon. Never faults, whatever `addr` is.
#[inline(always)]
pub fn prefetch(addr: usize) {
    // SAFETY: `prefetcht0` only hints the cache; no address makes it fault,
    // and it writes neither memory nor registers.
    unsafe { asm!("prefetcht0 byte ptr [{}]", in(reg) addr, options(nostack, preserves_flags, readonly)) };
}

#[inline(always)]
pub fn trap() -> ! {
    // SAFETY: `ud2` raises SIGILL and touches no memory.
    unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
}

/// musl's `arch/x86_64/reloc.h`: type numbers to kinds.
#[inline(always)]
pub fn reloc_kind(t: u32) -> Kind {
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

/// Words per relocation entry in the form this arch's toolchains emit (RELA).
pub const RELOC_STRIDE: usize = 3;
pub const TLSDESC_BACKWARDS: bool = false;
/// x86_64 still runs DT_INIT/DT_FINI (musl defines NO_LEGACY_INITFINI only elsewhere).
pub const LEGACY_INIT_FINI: bool = true;
/// musl's `PAGE_SIZE` is a constant here (`PAGESIZE` in bits/limits.h).
pub const CONSTANT_PAGE_SIZE: bool = true;
/// `e_machine` of the objects this loader maps (a library of another machine is ENOEXEC).
pub const ELF_MACHINE: u16 = stormless_elf::consts::EM_X86_64;
pub const LDSO_ARCH: &str = "x86_64";
pub const LDSO_ARCH_C: &core::ffi::CStr = c"x86_64";

/// Jump to the program's entry point with the stack pointer at `sp` (musl's CRTJMP).
///
/// # Safety
/// `entry` is the program's entry point and `sp` the argc word of a valid initial stack.
pub unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> ! {
    // SAFETY: forwarded contract.
    unsafe { asm!("mov rsp, {1}", "jmp {0}", in(reg) entry, in(reg) sp, options(noreturn)) }
}
