//! The first note of a file: the program header table grows by two entries in place, and
//! what followed it moves to a new `PT_LOAD` at the end (the module comment of `rewrite`).

use anyhow::{bail, Context, Result};
use object::elf;

use super::assembly::{note_section, Assembly};
use super::{add, align_up, append_base, is_movable, max_load_align, max_load_end, type_name, Rewritten, ADDRESS_TAGS};
use crate::elf_image::{ElfImage, Segment};
use crate::preserve::{Move, Plan};

/// Every dynamic tag whose value is an address in the object (a `d_ptr`). In a file without
/// section headers these, with the entry point, are all that says where data the program
/// headers do not describe begins: none may lie in what the rewrite moves or overwrites.
const POINTER_TAGS: [i64; 17] = [
    elf::DT_PLTGOT.0,
    elf::DT_HASH.0,
    elf::DT_STRTAB.0,
    elf::DT_SYMTAB.0,
    elf::DT_RELA.0,
    elf::DT_INIT.0,
    elf::DT_FINI.0,
    elf::DT_REL.0,
    elf::DT_JMPREL.0,
    elf::DT_INIT_ARRAY.0,
    elf::DT_FINI_ARRAY.0,
    elf::DT_PREINIT_ARRAY.0,
    elf::DT_RELR.0,
    elf::DT_GNU_HASH.0,
    elf::DT_VERSYM.0,
    elf::DT_VERDEF.0,
    elf::DT_VERNEED.0,
];

/// What patchelf fills the old place of a section it moved with (`writeReplacedSections`:
/// "Overwrite the old section contents with 'X's", 'Z's since patchelf 0.18).
const PATCHELF_FILLS: [u8; 2] = [b'X', b'Z'];

/// Whether bytes that no section accounts for are free to overwrite: zero padding, or space
/// patchelf freed (its filler, with the zero padding that aligned the sections it moved).
/// Anything else may be data reached by address and is kept.
fn is_free_padding(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0) || PATCHELF_FILLS.iter().any(|&fill| bytes.iter().all(|&b| b == 0 || b == fill))
}

/// A stretch of the file that may sit in the way of the grown program header table.
struct Extent {
    offset: u64,
    size: u64,
    /// Why it cannot be moved, if it cannot.
    fixed: Option<String>,
}

impl Extent {
    fn end(&self) -> u64 {
        self.offset + self.size
    }
}

/// What the file's headers say lies in it: its allocated sections, or, without section
/// headers, the segments other than `PT_LOAD` and `PT_PHDR`. Only segments nothing but their
/// program header reaches can move.
fn extents(image: &ElfImage) -> Vec<Extent> {
    if !image.sections.is_empty() {
        let sections = image.sections.iter().filter(|s| s.is_alloc() && s.file_size() > 0);
        return sections
            .map(|s| Extent {
                offset: s.sh_offset,
                size: s.sh_size,
                fixed: (!is_movable(image, s)).then(|| {
                    format!(
                        "section {} ({}) follows the program headers and cannot be moved (only .interp, notes, \
                         hash tables, dynamic symbols and strings, version tables and dynamic relocations can)",
                        String::from_utf8_lossy(&s.name),
                        type_name(s.sh_type)
                    )
                }),
            })
            .collect();
    }
    let movable = [elf::PT_INTERP.0, elf::PT_NOTE.0, elf::PT_GNU_PROPERTY.0];
    let others = image.segments.iter().filter(|s| !s.is_load() && s.p_type != elf::PT_PHDR.0 && s.p_filesz > 0);
    others
        .map(|s| Extent {
            offset: s.p_offset,
            size: s.p_filesz,
            fixed: (!movable.contains(&s.p_type)).then(|| {
                format!(
                    "a segment of type {:#x} follows the program headers, and without section headers nothing \
                     says it can be moved",
                    s.p_type
                )
            }),
        })
        .collect()
}

/// The smallest range holding `[from, to)` and every extent it overlaps, closed under overlap.
fn block_around(extents: &[Extent], from: u64, to: u64) -> Option<(u64, u64)> {
    let mut block: Option<(u64, u64)> = None;
    loop {
        let (lo, hi) = block.map_or((from, to), |(b0, b1)| (b0.min(from), b1.max(to)));
        let overlapping: Vec<&Extent> = extents.iter().filter(|e| e.offset < hi && e.end() > lo).collect();
        let b0 = overlapping.iter().map(|e| e.offset).min()?;
        let b1 = overlapping.iter().map(|e| e.end()).max()?;
        if block == Some((b0, b1)) {
            return block;
        }
        block = Some((b0, b1));
    }
}

/// For a file without section headers: the program headers describe everything in
/// `[old_end, new_end)` and the block (checked by [`extents`] and here), or refuse.
fn check_without_sections(
    image: &ElfImage,
    extents: &[Extent],
    block: Option<(u64, u64)>,
    old_end: u64,
    new_end: u64,
) -> Result<()> {
    let Some((b0, b1)) = block.filter(|&(b0, b1)| b0 == old_end && b1 >= new_end) else {
        bail!(
            "cannot rewrite safely: the file has no section headers, and its program headers do not say what \
             follows the program header table"
        );
    };
    // Inside the block, what no segment covers must be padding.
    let mut at = b0;
    let mut inside: Vec<&Extent> = extents.iter().filter(|e| e.offset >= b0 && e.end() <= b1).collect();
    inside.sort_by_key(|e| e.offset);
    for e in inside {
        if e.offset > at && image.data[at as usize..e.offset as usize].iter().any(|&b| b != 0) {
            bail!("cannot rewrite safely: the file has no section headers, and bytes no segment accounts for follow the program headers");
        }
        at = at.max(e.end());
    }
    let entry = image.offset_of_address(image.e_entry);
    let pointers = image.dynamic.iter().filter(|d| POINTER_TAGS.contains(&d.tag));
    let starts = pointers.filter_map(|d| image.offset_of_address(d.value)).chain(entry);
    if let Some(start) = starts.into_iter().find(|&s| s >= old_end && s < b1) {
        bail!(
            "cannot rewrite safely: the file has no section headers, and data at offset {start:#x} (named by the \
             dynamic section or the entry point) lies in what would move"
        );
    }
    Ok(())
}

pub(super) fn add_note(image: &ElfImage, note: &[u8]) -> Result<Rewritten> {
    let entsize = u64::from(image.e_phentsize);
    let old_end = image.e_phoff + image.segments.len() as u64 * entsize;
    let new_end = old_end + 2 * entsize;
    let Some(ph_load) = image.segments.iter().find(|s| s.is_load() && s.covers_file_range(image.e_phoff, 0)) else {
        bail!("cannot rewrite safely: the program headers are not inside a PT_LOAD");
    };
    if new_end > ph_load.file_end() {
        bail!("cannot rewrite safely: no room to grow the program headers inside their PT_LOAD");
    }
    // The block of sections (or segments) in the way of the grown table.
    let extents = extents(image);
    let block = block_around(&extents, old_end, new_end);
    if image.sections.is_empty() {
        check_without_sections(image, &extents, block, old_end, new_end)?;
    }
    // A segment in the way (its bytes would be overwritten) must move with the block.
    let (lo, hi) = block.unwrap_or((new_end, new_end));
    let in_the_way = image.segments.iter().filter(|s| !s.is_load() && s.p_type != elf::PT_PHDR.0 && s.p_filesz > 0);
    for s in in_the_way.filter(|s| s.p_offset < new_end && s.file_end() > old_end) {
        if s.p_offset < lo || s.file_end() > hi {
            bail!(
                "cannot rewrite safely: a segment of type {:#x} follows the program headers and no section accounts \
                 for it",
                s.p_type
            );
        }
    }
    let mut plan = Plan::default();
    // The ELF header and the old table are rewritten; the two new entries take room that was
    // either moved away with the block or padding no section accounts for: zeros, or the bytes
    // patchelf writes over what it moved away (auditwheel's musllinux wheels have such gaps
    // right after the program headers).
    plan.edit(0, image.header_size());
    plan.edit(image.e_phoff, old_end - image.e_phoff);
    for (from, to) in [(old_end, lo.min(new_end)), (hi.max(old_end), new_end)] {
        if from < to {
            if !is_free_padding(&image.data[from as usize..to as usize]) {
                bail!("cannot rewrite safely: bytes no section accounts for follow the program headers");
            }
            plan.edit(from, to - from);
        }
    }
    if let Some((b0, b1)) = block {
        if b0 < old_end {
            bail!("cannot rewrite safely: a section overlaps the program headers");
        }
        if b1 > ph_load.file_end() {
            bail!("cannot rewrite safely: the sections after the program headers leave their PT_LOAD");
        }
        if let Some(reason) = extents.iter().filter(|e| e.offset < b1 && e.end() > b0).find_map(|e| e.fixed.clone()) {
            bail!("cannot rewrite safely: {reason}");
        }
        for s in &image.segments {
            let inside = s.p_offset >= b0 && s.file_end() <= b1;
            let overlaps = s.p_filesz > 0 && s.p_offset < b1 && s.file_end() > b0;
            if overlaps && !inside && s != ph_load {
                bail!("cannot rewrite safely: a segment of type {:#x} straddles the sections to move", s.p_type);
            }
        }
        // What moves keeps its place relative to the block, in the file and in memory alike: an
        // address that disagrees with the PT_LOAD mapping it cannot be moved meaningfully.
        let address_of = |offset: u64| ph_load.p_vaddr.wrapping_add(offset - ph_load.p_offset);
        let segments = image.segments.iter().filter(|s| !s.is_load() && s.p_filesz > 0);
        let moving_segments =
            segments.filter(|s| s.p_offset >= b0 && s.file_end() <= b1).map(|s| (s.p_offset, s.p_vaddr));
        let sections = image.sections.iter().filter(|s| s.is_alloc() && s.file_size() > 0);
        let moving_sections = sections.filter(|s| s.sh_offset >= b0 && s.sh_offset + s.sh_size <= b1);
        let mut moving = moving_segments.chain(moving_sections.map(|s| (s.sh_offset, s.sh_addr)));
        if let Some((offset, _)) = moving.find(|&(offset, addr)| addr != address_of(offset)) {
            bail!(
                "cannot rewrite safely: the address of what lies at offset {offset:#x} does not match the PT_LOAD \
                 that maps it"
            );
        }
    }
    let base = append_base(image);
    for s in &image.segments {
        if s.file_end() > base {
            bail!("cannot rewrite safely: a segment ends past the section headers");
        }
    }
    let align = max_load_align(image);
    let (b0, b1) = block.unwrap_or((0, 0));
    let tail_offset = match block {
        Some(_) => add(align_up(base, 64)?, b0 % 64)?,
        None => align_up(base, 8)?,
    };
    let note_offset = align_up(add(tail_offset, b1 - b0)?, 4)?;
    let tail_end = add(note_offset, note.len() as u64)?;
    let tail_vaddr = add(align_up(max_load_end(&image.segments), align)?, tail_offset % align)?;
    let note_vaddr = add(tail_vaddr, note_offset - tail_offset)?;
    add(note_vaddr, note.len() as u64)?;
    // Meaningful only with a block (whose addresses were checked against ph_load above).
    let block_vaddr = ph_load.p_vaddr.wrapping_add(b0.wrapping_sub(ph_load.p_offset));
    let (delta_offset, delta_addr) = (tail_offset.wrapping_sub(b0), tail_vaddr.wrapping_sub(block_vaddr));
    let moved = |offset: u64, len: u64| block.is_some() && offset >= b0 && offset + len <= b1 && offset < b1;

    let mut data = image.data.clone();
    data.truncate(base as usize);
    let mut asm = Assembly { image, data, segments: Vec::new(), sections: image.sections.clone(), new_shstrtab: None };
    if block.is_some() {
        let bytes = image.data[b0 as usize..b1 as usize].to_vec();
        asm.put(tail_offset, &bytes);
        asm.zero(b0, b1);
        plan.moves.push(Move { from: b0, to: tail_offset, len: b1 - b0 });
    }
    asm.put(note_offset, note);

    let mut segments = Vec::with_capacity(image.segments.len() + 2);
    let last_load = image.segments.iter().rposition(Segment::is_load).context("no PT_LOAD")?;
    for (i, s) in image.segments.iter().enumerate() {
        let mut s = *s;
        if s.p_type == elf::PT_PHDR.0 {
            s.p_filesz = (image.segments.len() as u64 + 2) * entsize;
            s.p_memsz = s.p_filesz;
        } else if !s.is_load() && s.p_filesz > 0 && moved(s.p_offset, s.p_filesz) {
            s.p_offset = s.p_offset.wrapping_add(delta_offset);
            s.p_vaddr = s.p_vaddr.wrapping_add(delta_addr);
            s.p_paddr = s.p_vaddr;
        }
        segments.push(s);
        if i == last_load {
            let load_size = tail_end - tail_offset;
            segments.push(Segment {
                p_type: elf::PT_LOAD.0,
                p_flags: elf::PF_R.0,
                p_offset: tail_offset,
                p_vaddr: tail_vaddr,
                p_paddr: tail_vaddr,
                p_filesz: load_size,
                p_memsz: load_size,
                p_align: align,
            });
            segments.push(Segment {
                p_type: elf::PT_NOTE.0,
                p_flags: elf::PF_R.0,
                p_offset: note_offset,
                p_vaddr: note_vaddr,
                p_paddr: note_vaddr,
                p_filesz: note.len() as u64,
                p_memsz: note.len() as u64,
                p_align: 4,
            });
        }
    }
    asm.segments = segments;
    for s in asm.sections.iter_mut() {
        if s.is_alloc() && s.file_size() > 0 && moved(s.sh_offset, s.sh_size) {
            s.sh_offset = s.sh_offset.wrapping_add(delta_offset);
            s.sh_addr = s.sh_addr.wrapping_add(delta_addr);
        }
    }
    if block.is_some() {
        let block_end_vaddr = block_vaddr.wrapping_add(b1 - b0);
        for d in &image.dynamic {
            let is_address = ADDRESS_TAGS.contains(&d.tag);
            if is_address && d.value >= block_vaddr && d.value < block_end_vaddr {
                let value = asm.word(d.value.wrapping_add(delta_addr));
                asm.put(d.file_offset + image.word_size(), &value);
                plan.edit(d.file_offset + image.word_size(), image.word_size());
            }
        }
    }
    if !asm.sections.is_empty() {
        let name = asm.section_name_offset()?;
        asm.sections.push(note_section(name, note_offset, note_vaddr, note.len() as u64));
    }
    Ok(Rewritten { bytes: asm.finish(None)?, plan })
}

#[cfg(test)]
mod tests {
    use super::is_free_padding;

    #[test]
    fn only_zeros_and_one_patchelf_filler_are_free() {
        assert!(is_free_padding(&[0; 8]));
        assert!(is_free_padding(b"XXXX\0\0XX"));
        assert!(is_free_padding(b"ZZZZ\0\0ZZ"));
        assert!(!is_free_padding(b"XXZZ"));
        assert!(!is_free_padding(b"ZZZZ\x01"));
        assert!(!is_free_padding(b"\x7fELF"));
    }
}
