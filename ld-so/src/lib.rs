//! stormless' dynamic linker, linked into musl's `libc.so` in place of
//! `ldso/dynlink.c` and `ldso/dlstart.c` (design.md §2).
//!
//! Layering: `arch` holds every line of assembly and the relocation kinds of
//! one architecture; `sys` the raw system calls; `musl` the contract with the
//! rest of libc (private layouts checked against the probe). Everything above
//! them is safe Rust.
//!
//! Status: the build pipeline (issue 2) links this crate into the sysroot's
//! libc; the loader itself arrives with issue 3. Until then `_dlstart` reports
//! that plainly and exits 127 instead of pretending to load anything.
#![cfg_attr(not(test), no_std)]

pub mod arch;
pub mod musl;
mod stage1;
mod start;

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Nothing in the loader may unwind or print through machinery that needs
    // relocations; a panic is a bug, so stop the process on the spot.
    arch::trap()
}
