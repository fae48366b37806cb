//! Putting the note into an ELF file. Writing the result is `crate::replace`'s job; what every
//! rewrite must keep is `crate::preserve`'s, checked on the result before anything is written.
//!
//! Layout of a first embed (the approach patchelf takes, so old kernels that compute `AT_PHDR`
//! as load address + `e_phoff` still work): the program header table stays where it is and
//! grows by two entries (a `PT_LOAD` and a `PT_NOTE`). The metadata sections right after it that
//! are only reached through program headers or the dynamic section (`.interp`, notes, hash
//! tables, `.dynsym`, `.dynstr`, version tables, dynamic relocations) move, as one block that
//! keeps its inner layout, into a new read-only `PT_LOAD` at the end of the file and of the
//! address space, followed by the note; the entries that pointed at them are updated. Any other
//! section in the way (code, data) makes the rewrite refuse. Nothing is mapped where it was not
//! before except the new segment, placed above every existing one (musl maps `PT_LOAD`s in
//! address order and the new one comes last in the table too).
//!
//! A file without section headers (stripped with `sstrip`, or written by a tool that omits
//! them) is rewritten from its program headers alone: what follows the program headers may
//! move only if segments that nothing else reaches (`PT_INTERP`, `PT_NOTE`,
//! `PT_GNU_PROPERTY`) account for every byte of it, and no dynamic entry or the entry point
//! points into it (`first.rs`); anything else is refused.
//!
//! `first.rs` makes the first note, `again.rs` replaces one (`--force`), `assembly.rs` encodes
//! the headers of the result.

mod again;
mod assembly;
mod first;

use anyhow::{bail, Context, Result};
use object::elf;

use crate::elf_image::{ElfImage, Segment};
use crate::preserve::Plan;

/// A rewritten file: its bytes, and what the rewrite did to the original's (checked by
/// [`crate::preserve::verify`] before the file is replaced).
pub struct Rewritten {
    pub bytes: Vec<u8>,
    pub plan: Plan,
}

/// What embedding a table in a file comes to.
pub enum Embedding {
    /// The new file.
    Rewrite(Rewritten),
    /// The file already carries exactly this table.
    AlreadyCurrent,
    /// The table would be empty and the file has none: a new segment would buy nothing
    /// (patchelf writes no note either).
    NothingToEmbed,
}

/// What to do for `image` to carry the table `desc`.
pub fn with_table(image: &ElfImage, desc: &[u8], force: bool) -> Result<Embedding> {
    if !image.segments.iter().any(|s| s.p_type == elf::PT_DYNAMIC.0) {
        bail!("no PT_DYNAMIC: a statically linked file loads no libraries");
    }
    let note = stormless_ldcache::note_bytes(desc);
    let empty = desc == [0];
    match image.notes.as_slice() {
        [] if empty => Ok(Embedding::NothingToEmbed),
        [] => first::add_note(image, &note).map(Embedding::Rewrite),
        [existing] if existing.desc == desc => Ok(Embedding::AlreadyCurrent),
        [existing] if force => again::replace_note(image, existing, &note).map(Embedding::Rewrite),
        [_] => bail!("already carries a different resolution table (--force replaces it)"),
        _ => bail!("carries {} resolution-table notes; refusing to pick one", image.notes.len()),
    }
}

/// `value` rounded up to a multiple of `align`; an error where that does not fit (a hostile
/// file's alignment or addresses), never a wrapped result.
fn align_up(value: u64, align: u64) -> Result<u64> {
    if align <= 1 {
        return Ok(value);
    }
    value.div_ceil(align).checked_mul(align).context("cannot rewrite safely: the new layout's addresses overflow")
}

/// `a + b`, or the same error as [`align_up`].
fn add(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b).context("cannot rewrite safely: the new layout's addresses overflow")
}

/// The dynamic tags whose value is the address of a section that may move with the block.
const ADDRESS_TAGS: [i64; 11] = [
    elf::DT_HASH.0,
    elf::DT_STRTAB.0,
    elf::DT_SYMTAB.0,
    elf::DT_RELA.0,
    elf::DT_REL.0,
    elf::DT_JMPREL.0,
    elf::DT_RELR.0,
    elf::DT_GNU_HASH.0,
    elf::DT_VERSYM.0,
    elf::DT_VERDEF.0,
    elf::DT_VERNEED.0,
];

/// Whether `section` is reached only through program headers or dynamic entries this module
/// updates, so moving it is safe.
fn is_movable(image: &ElfImage, section: &crate::elf_image::Section) -> bool {
    let writable_or_code = section.sh_flags & (elf::SHF_WRITE.0 | elf::SHF_EXECINSTR.0) != 0;
    let dynstr = image.dynamic.iter().any(|d| d.tag == elf::DT_STRTAB.0 && d.value == section.sh_addr);
    let movable_kind = match elf::SectionType(section.sh_type) {
        elf::SHT_NOTE
        | elf::SHT_HASH
        | elf::SHT_GNU_HASH
        | elf::SHT_DYNSYM
        | elf::SHT_GNU_VERSYM
        | elf::SHT_GNU_VERDEF
        | elf::SHT_GNU_VERNEED
        | elf::SHT_RELA
        | elf::SHT_REL
        | elf::SHT_RELR => true,
        elf::SHT_PROGBITS => section.name == b".interp",
        elf::SHT_STRTAB => dynstr,
        _ => false,
    };
    movable_kind && !writable_or_code
}

fn type_name(sh_type: u32) -> String {
    match elf::SectionType(sh_type) {
        elf::SHT_PROGBITS => "PROGBITS".into(),
        elf::SHT_NOBITS => "NOBITS".into(),
        elf::SHT_STRTAB => "STRTAB".into(),
        other => format!("type {other:#x}"),
    }
}

/// End of everything that must be kept, and where appended data may start: the section
/// header table is dropped (and rewritten) when it is the last thing in the file.
fn append_base(image: &ElfImage) -> u64 {
    let len = image.data.len() as u64;
    let shdrs_end = image.e_shoff + image.sections.len() as u64 * u64::from(image.e_shentsize);
    let content_end = image
        .sections
        .iter()
        .map(|s| s.sh_offset + s.file_size())
        .chain(image.segments.iter().map(Segment::file_end))
        .max()
        .unwrap_or(0);
    if image.e_shoff != 0 && shdrs_end == len && content_end <= image.e_shoff {
        image.e_shoff
    } else {
        len
    }
}

fn max_load_align(image: &ElfImage) -> u64 {
    image.segments.iter().filter(|s| s.is_load()).map(|s| s.p_align).max().unwrap_or(0x1000).max(0x1000)
}

fn max_load_end(segments: &[Segment]) -> u64 {
    segments.iter().filter(|s| s.is_load()).map(Segment::memory_end).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!(align_up(0, 8).unwrap(), 0);
        assert_eq!(align_up(1, 8).unwrap(), 8);
        assert_eq!(align_up(0x1001, 0x1000).unwrap(), 0x2000);
        assert_eq!(align_up(5, 0).unwrap(), 5);
        assert!(align_up(u64::MAX - 2, 0x1000).is_err());
        assert!(align_up(1, 1 << 63).is_ok());
        assert!(align_up((1 << 63) + 1, 1 << 63).is_err());
    }
}
