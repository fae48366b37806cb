//! Typed, bounds-checked, zero-copy views of little-endian ELF32 (armv7) and ELF64 (x86_64,
//! aarch64) objects, shared by the stormless loader and CLI.
//!
//! Every view borrows a `&[u8]`: the loader builds those slices from the addresses of mapped
//! objects, the CLI from whole files. Nothing here allocates, nothing uses `unsafe`, and no
//! input, however malformed, makes a parser panic or loop forever: every read goes through
//! `get`, every offset computation through checked arithmetic, and every failure surfaces as an
//! [`Error`] or a `None`.
//!
//! Layout: [`header`] (file header, program headers), [`dynamic`] (the dynamic section and a
//! musl-style summary of it), [`layout`] (the loader's checks of an object it maps), [`strtab`], [`symbols`], [`hash`] (SysV and GNU hash tables),
//! [`reloc`] (REL, RELA, RELR and per-arch relocation numbers), [`note`], [`section`] (section
//! headers, for the CLI), [`consts`] (the generic ELF numbers, checked against `<elf.h>`) and
//! [`arch`] (each supported architecture's machine, class and musl names).

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod arch;
pub mod consts;
pub mod dynamic;
mod error;
pub mod hash;
pub mod header;
pub mod layout;
pub mod note;
mod read;
pub mod reloc;
pub mod section;
pub mod strtab;
pub mod symbols;

pub use dynamic::{Dynamic, DynamicEntries, DynamicInfo, NeededOffsets};
pub use error::Error;
pub use hash::{
    gnu_hash, gnu_hash_step, gnu_hash_unstep_nul, sysv_hash, GnuCandidates, GnuHashTable, SysvCandidates,
    SysvHashTable, GNU_HASH_SEED,
};
pub use header::{program_headers_from, Class, Header, ProgramHeader, ProgramHeaders};
pub use note::{Note, NoteAlign, Notes};
pub use reloc::{Reloc, RelocFormat, Relocs, Relr};
pub use section::{SectionHeader, SectionHeaders};
pub use strtab::cstr;
pub use symbols::{is_hidden_version, lfs64_base_name, time64_redirect, versym, Sym, SymbolTable, TIME64_REDIRECT_BUF};
