//! The resolution table: the descriptor of the ELF note `.note.nixos.ldcache` (owner `"NixOS"`,
//! type [`NOTE_TYPE`]) that patchelf ≥ 0.19 writes with `--build-resolution-cache` and the
//! stormless loader reads before it searches (design.md §5 step 3).
//!
//! ```text
//! descriptor := { needed NUL pathlist NUL } NUL
//! pathlist   := [ item { ':' item } ]
//! item       := '=' file      open exactly this file
//!             | '?' dir       probe dir/needed at run time ($ORIGIN expanded as musl does)
//! ```
//!
//! One implementation for both sides: [`Table::parse`] (zero-copy, validates the whole
//! descriptor once, never panics) for the loader and the CLI's readers, [`TableBuilder`] for
//! `stormless embed`. Whatever the builder accepts the parser accepts, and the reverse
//! (property-tested below and fuzzed in `fuzz/`).
//!
//! The parser is strict on purpose: a table is only an accelerator, the full search is always
//! correct, so anything doubtful makes the whole table unusable rather than half-trusted.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod builder;
mod cursor;
mod scan;
mod table;
mod text;

pub use builder::{note_bytes, BuildError, TableBuilder};
pub use cursor::Cursor;
pub use table::{Entries, Entry, Item, Items, ParseError, Table};

/// The note's owner, as written in the note header (without its NUL).
pub const NOTE_OWNER: &[u8] = b"NixOS";
/// The note's `n_type`.
pub const NOTE_TYPE: u32 = 0x63a8_6cb6;
/// The section name patchelf gives the note.
pub const SECTION_NAME: &str = ".note.nixos.ldcache";
/// Longest `needed` name: musl's `NAME_MAX`; `load_library` never searches a longer one.
pub const MAX_NEEDED_LEN: usize = 255;
/// Longest item (the file or directory after its prefix): below musl's `PATH_MAX`, so the item
/// plus its NUL fits a `PATH_MAX` buffer.
pub const MAX_ITEM_LEN: usize = 4095;
