//! The architecture seam: everything that differs between CPUs lives in one
//! module per arch, with the same item names, so generic code never tests the
//! architecture itself.
//!
//! Each module provides:
//! - `_dlstart` (global asm): the ELF entry point of `libc.so` run as a program
//!   interpreter; it passes the initial stack pointer and `&_DYNAMIC` to
//!   `stage1::stage1`;
//! - `enter_stage2`: the PC-relative jump from stage 1 to stage 2;
//! - `R_RELATIVE` and `reloc_type`: what stage 1 needs of the relocation kinds;
//! - `syscall1`/`syscall3`: raw system calls (no errno, no libc);
//! - `trap()`: stop the process without touching memory.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "arm")]
pub use arm::*;
