//! The architecture seam: everything that differs between CPUs lives in one
//! module per arch, so generic code never tests the architecture itself.
//!
//! The contract is the trait [`Arch`]: each arch module defines a unit type
//! `Native` implementing it, and the compiler holds every port to the whole
//! list. Besides the trait, a module provides two macros, for what no trait
//! can carry (assembly naming a function by symbol). The arch supplies the
//! instructions, the caller names the function, so the arch module depends on
//! no loader module:
//!
//! - `dlstart!(stage1)` (global asm, through `entry_point!`): `_dlstart`, the
//!   ELF entry point of `libc.so` run as a program interpreter. It clears the
//!   frame pointer (and the link register), passes the kernel's stack pointer
//!   and `&_DYNAMIC`, computed PC-relatively, to `stage1`, and aligns the
//!   stack. Expanded in `stage1.rs`.
//! - `enter_stage2!(stage2, base, sp)`: call `stage2(base, sp)` through an
//!   address taken PC-relatively, as musl's GETFUNCSYM: no GOT entry is read
//!   (nothing but the relative relocations is applied yet), and the compiler
//!   cannot move loads of relocated data above the call. Only stage 1, after
//!   relocating the loader, expands it (inside an `unsafe` block).
//!
//! Generic code uses the free items below (`arch::reloc_kind`,
//! `arch::R_RELATIVE`, …), which forward to `Native` and compile to exactly
//! what the arch's own definition does. aarch64 and armv7 share what they
//! have in common through `qemu_measured_choices!` and
//! `reloc_kind_by_run!`. What ELF and musl call an arch (machine number,
//! `armhf`) comes from `stormless_elf::arch`, as for the tools.

use core::ffi::CStr;
use stormless_elf::arch::MuslArch;
pub use stormless_elf::reloc::Kind;

/// What one CPU architecture provides to the loader.
pub trait Arch {
    /// The arch as ELF and musl name it: `e_machine` of the objects the
    /// loader maps (a library of another machine is ENOEXEC) and musl's
    /// `LDSO_ARCH` (the `etc/ld-musl-<m>.path` file, command mode's messages).
    const MUSL: MuslArch;

    /// The relative relocation (B + A), the only kind stage 1 applies.
    const R_RELATIVE: u32;

    /// Words per relocation entry in the form this arch's toolchains emit:
    /// 3 for RELA (x86_64, aarch64), 2 for REL (armv7). The relocation loop
    /// is compiled for this stride first (`reloc::do_relocs_native`).
    const RELOC_STRIDE: usize;

    /// Whether the two words of a TLS descriptor are stored the other way
    /// round (32-bit ARM).
    const TLSDESC_BACKWARDS: bool;

    /// Whether DT_INIT/DT_FINI are run (musl defines NO_LEGACY_INITFINI on
    /// every arch but x86_64, i386 and a few others).
    const LEGACY_INIT_FINI: bool;

    /// Whether musl's `PAGE_SIZE` is a constant (`PAGESIZE` in
    /// `bits/limits.h`); otherwise it is `libc.page_size`, known only from
    /// stage 3 on.
    const CONSTANT_PAGE_SIZE: bool;

    /// Whether the relocation loop prefetches the symbol entries and names
    /// of the relocations ahead (`reloc::prefetch_ahead`).
    const PREFETCH_SYMBOLS: bool;

    /// The relocation type in an `r_info` word, masked as musl's `R_TYPE`.
    fn reloc_type(info: usize) -> u32;

    /// musl's `arch/<arch>/reloc.h`: a relocation type's kind.
    fn reloc_kind(t: u32) -> Kind;

    /// A hint that `addr` will be read soon; never faults, whatever `addr`
    /// is. Only called when [`Arch::PREFETCH_SYMBOLS`].
    fn prefetch(addr: usize);

    /// The thread pointer (musl's `__get_tp`).
    fn thread_pointer() -> usize;

    /// Stop the process on the spot, touching no memory.
    fn trap() -> !;

    /// Jump to the program's entry point with the stack pointer at `sp`
    /// (musl's CRTJMP).
    ///
    /// # Safety
    /// `entry` is the program's entry point and `sp` the argc word of a
    /// valid initial stack.
    unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> !;
}

/// `_dlstart`, the entry point: `global_asm!` of the arch's instructions in
/// the startup section (with the other startup code, lib.rs: one run of
/// pages), handing over to `$stage1` as `{stage1}`. Each arch's `dlstart!`
/// expands this with its instructions.
macro_rules! entry_point {
    ($stage1:path; $($line:literal,)* $(options($($option:ident),*))?) => {
        core::arch::global_asm!(
            ".section .text.startup.stormless,\"ax\",%progbits",
            ".globl _dlstart",
            $($line,)*
            ".size _dlstart, . - _dlstart",
            stage1 = sym $stage1,
            $(options($($option),*))?
        );
    };
}
pub(crate) use entry_point;

/// The choices aarch64 and armv7 share, as `Arch` items. They were measured
/// under qemu-user, where these ports run: no prefetching ahead in the
/// relocation loop (a prefetch does nothing there, and the loads computing
/// its address are extra guest code per relocation). Like musl on both,
/// no legacy DT_INIT/DT_FINI and a page size known only at run time.
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
macro_rules! qemu_measured_choices {
    () => {
        const PREFETCH_SYMBOLS: bool = false;
        const LEGACY_INIT_FINI: bool = false;
        const CONSTANT_PAGE_SIZE: bool = false;

        #[inline(always)]
        fn prefetch(_addr: usize) {}
    };
}

/// A relocation type's kind where the dynamic types form one run of
/// consecutive numbers plus a few others: one table lookup for the run (no
/// compare tree), compares for the rest, anything else `Kind::Unknown`. The
/// run must be consecutive, which is checked at compile time.
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
macro_rules! reloc_kind_by_run {
    ($t:ident; run: [$($run_type:path => $run_kind:ident),+ $(,)?]; others: [$($type:path => $kind:ident),* $(,)?]) => {{
        const TYPES: &[u32] = &[$($run_type),+];
        const KINDS: &[Kind] = &[$(Kind::$run_kind),+];
        const _: () = {
            let mut i = 0;
            while i < TYPES.len() {
                assert!(TYPES[i] == TYPES[0] + i as u32, "the run of relocation types is not consecutive");
                i += 1;
            }
        };
        match KINDS.get($t.wrapping_sub(TYPES[0]) as usize) {
            Some(&kind) => kind,
            $(None if $t == $type => Kind::$kind,)*
            None => Kind::Unknown,
        }
    }};
}

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
use x86_64::Native;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{dlstart, enter_stage2};

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
use aarch64::Native;
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::{dlstart, enter_stage2};

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "arm")]
use arm::Native;
#[cfg(target_arch = "arm")]
pub(crate) use arm::{dlstart, enter_stage2};

// The free names generic code uses, each the arch's own item.

pub const ELF_MACHINE: u16 = Native::MUSL.machine;
pub const LDSO_ARCH: &str = Native::MUSL.ldso_arch();
pub const LDSO_ARCH_C: &CStr = Native::MUSL.ldso_arch_z;
pub const R_RELATIVE: u32 = Native::R_RELATIVE;
pub const RELOC_STRIDE: usize = Native::RELOC_STRIDE;
pub const TLSDESC_BACKWARDS: bool = Native::TLSDESC_BACKWARDS;
pub const LEGACY_INIT_FINI: bool = Native::LEGACY_INIT_FINI;
pub const CONSTANT_PAGE_SIZE: bool = Native::CONSTANT_PAGE_SIZE;
pub const PREFETCH_SYMBOLS: bool = Native::PREFETCH_SYMBOLS;

#[inline(always)]
pub fn reloc_type(info: usize) -> u32 {
    Native::reloc_type(info)
}

#[inline(always)]
pub fn reloc_kind(t: u32) -> Kind {
    Native::reloc_kind(t)
}

#[inline(always)]
pub fn prefetch(addr: usize) {
    Native::prefetch(addr)
}

#[inline(always)]
pub fn thread_pointer() -> usize {
    Native::thread_pointer()
}

#[inline(always)]
pub fn trap() -> ! {
    Native::trap()
}

/// # Safety
/// As [`Arch::jump_to_entry`].
#[inline(always)]
pub unsafe fn jump_to_entry(entry: usize, sp: *mut usize) -> ! {
    // SAFETY: forwarded contract.
    unsafe { Native::jump_to_entry(entry, sp) }
}
