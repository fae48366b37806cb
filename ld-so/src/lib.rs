//! stormless' dynamic linker, linked into musl's `libc.so` in place of
//! `ldso/dynlink.c` and `ldso/dlstart.c` (design.md §2).
//!
//! Layering: `arch` holds every line of assembly and the relocation kinds of
//! one architecture (its contract is the trait `arch::Arch`); `musl` the
//! contract with the rest of libc (private layouts checked against the probe);
//! `mem` the raw reads and writes of mapped objects. Above them, `unsafe`
//! stays in small blocks with a `SAFETY:` note (docs/loader.md, "How unsafe
//! code is contained"). The module map is in docs/loader.md.
//!
//! Every function a plain program start runs that is not inlined carries
//! `#[link_section = ".text.startup.stormless"]`: the linker's default script
//! gathers `.text.startup.*` in one place, so startup touches a few
//! contiguous pages of `libc.so` rather than pages spread over the whole loader
//! (resident memory natively; page faults and translation under qemu-user).
//!
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

#[cfg(not(probed_layout))]
compile_error!(
    "stormless-ldso is built by `cargo xtask build`: it compiles against the layout probe of a musl tree \
     (set STORMLESS_LAYOUT_RS to target/stormless/musl-<v>/<arch>/layout.rs to check it by hand)"
);

pub mod arch;
mod command;
mod contract;
mod debug;
mod dlopen;
mod dlsym;
mod dso;
mod elf;
mod error;
mod heap;
mod initfini;
mod ld_debug;
mod load;
mod mem;
pub mod musl;
mod newtls;
mod ptrlist;
mod reloc;
pub(crate) mod stage1;
mod start;
mod state;
mod symbols;
mod table;
mod tls;

#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: musl::LibcAllocator = musl::LibcAllocator;

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Nothing in the loader may unwind or print through machinery that needs
    // relocations; a panic is a bug, so stop the process on the spot.
    arch::trap()
}
