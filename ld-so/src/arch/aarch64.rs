//! aarch64: AAPCS64, RELA relocations, TLS above the thread pointer (tpidr_el0).
use crate::reloc::Kind;
use core::arch::{asm, global_asm};

pub mod nr {
    pub const WRITE: usize = 64;
    pub const EXIT_GROUP: usize = 94;
}

/// The relative relocation, which stage 1 applies.
pub const R_RELATIVE: u32 = stormless_elf::reloc::aarch64::RELATIVE;

/// The relocation kind in an `r_info` word (ELF64: the low 32 bits, as musl masks them).
#[inline(always)]
pub const fn reloc_type(info: usize) -> u32 {
    (info & 0x7fff_ffff) as u32
}

// The entry point (musl's crt_arch.h): clear fp and lr, pass the kernel's stack
// pointer and &_DYNAMIC (adrp/add: PC-relative), align the stack.
global_asm!(
    // With the other startup code (lib.rs): one run of pages.
    ".section .text.startup.stormless,\"ax\",%progbits",
    ".globl _dlstart",
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
    ".size _dlstart, . - _dlstart",
    stage1 = sym crate::stage1::stage1,
);

/// Call stage 2 through an address taken PC-relatively (adr), as musl's GETFUNCSYM.
///
/// # Safety
/// Only stage 1 may call this, after relocating the loader.
#[inline(always)]
pub unsafe fn enter_stage2(base: usize, sp: *mut usize) -> ! {
    // SAFETY: stage2 is an `extern "C" fn(usize, *mut usize) -> !` in this object.
    unsafe {
        asm!(
            "adrp x16, {stage2}",
            "add x16, x16, :lo12:{stage2}",
            "blr x16",
            "brk #0",
            stage2 = sym crate::start::stage2,
            in("x0") base,
            in("x1") sp,
            options(noreturn)
        )
    }
}

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

/// The thread pointer (musl's `__get_tp`): `tpidr_el0`.
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads a system register; no memory.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags)) };
    tp
}

#[inline(always)]
pub fn trap() -> ! {
    // SAFETY: `brk` raises SIGTRAP and touches no memory.
    unsafe { asm!("brk #1000", options(noreturn, nomem, nostack)) }
}

/// musl's `arch/aarch64/reloc.h`: type numbers to kinds. The dynamic types
/// but ABS64 are 1024..=1031: one table lookup instead of a compare tree.
#[inline(always)]
pub fn reloc_kind(t: u32) -> Kind {
    use stormless_elf::reloc::aarch64 as r;
    // The types from COPY to TLSDESC are consecutive: one table lookup.
    const FROM_COPY: [Kind; 8] =
        [Kind::Copy, Kind::Got, Kind::Plt, Kind::Relative, Kind::DtpMod, Kind::DtpOff, Kind::TpOff, Kind::TlsDesc];
    const _: () = assert!(
        r::GLOB_DAT == r::COPY + 1
            && r::JUMP_SLOT == r::COPY + 2
            && r::RELATIVE == r::COPY + 3
            && r::TLS_DTPMOD64 == r::COPY + 4
            && r::TLS_DTPREL64 == r::COPY + 5
            && r::TLS_TPREL64 == r::COPY + 6
            && r::TLSDESC == r::COPY + 7
    );
    match FROM_COPY.get(t.wrapping_sub(r::COPY) as usize) {
        Some(&kind) => kind,
        None if t == r::ABS64 => Kind::Symbolic,
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

/// Words per relocation entry in the form this arch's toolchains emit (RELA).
pub const RELOC_STRIDE: usize = 3;
pub const TLSDESC_BACKWARDS: bool = false;
/// musl defines NO_LEGACY_INITFINI for aarch64: DT_INIT/DT_FINI are not run.
pub const LEGACY_INIT_FINI: bool = false;
/// musl's `PAGE_SIZE` is `libc.page_size` here, known only from stage 3 on.
pub const CONSTANT_PAGE_SIZE: bool = false;
/// `e_machine` of the objects this loader maps (a library of another machine is ENOEXEC).
pub const ELF_MACHINE: u16 = stormless_elf::consts::EM_AARCH64;
pub const LDSO_ARCH: &str = "aarch64";
pub const LDSO_ARCH_C: &core::ffi::CStr = c"aarch64";

/// Jump to the program's entry point with the stack pointer at `sp` (musl's CRTJMP).
///
/// # Safety
/// `entry` is the program's entry point and `sp` the argc word of a valid initial stack.
pub unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> ! {
    // SAFETY: forwarded contract.
    unsafe { asm!("mov sp, {1}", "br {0}", in(reg) entry, in(reg) sp, options(noreturn)) }
}
