//! Replacing the note a file carries (`--force`): in place when the new one fits, else the
//! segment holding it moves to the end of the file, as patchelf's own layout or ours allows.

use anyhow::{bail, Result};

use super::assembly::Assembly;
use super::{add, align_up, append_base, max_load_end, Rewritten};
use crate::elf_image::{ElfImage, LdcacheNote, Segment};
use crate::preserve::{Move, Plan};

pub(super) fn replace_note(image: &ElfImage, existing: &LdcacheNote, note: &[u8]) -> Result<Rewritten> {
    let pt_note = image.segments[existing.segment];
    if pt_note.p_offset != existing.offset || pt_note.p_filesz != existing.len {
        bail!("cannot rewrite safely: the existing resolution table shares its PT_NOTE with other notes");
    }
    let new_len = note.len() as u64;
    // The header, the program header table and the old note change; nothing else does.
    let mut plan = Plan::default();
    plan.edit(0, image.header_size());
    plan.edit(image.e_phoff, image.segments.len() as u64 * u64::from(image.e_phentsize));
    plan.edit(existing.offset, existing.len);
    let mut asm = Assembly {
        image,
        data: image.data.clone(),
        segments: image.segments.clone(),
        sections: image.sections.clone(),
        new_shstrtab: None,
    };
    if new_len <= existing.len {
        // In place: the old note's room holds the new one.
        asm.zero(existing.offset, existing.offset + existing.len);
        asm.put(existing.offset, note);
        let s = &mut asm.segments[existing.segment];
        (s.p_filesz, s.p_memsz) = (new_len, new_len);
        if let Some(index) = existing.section {
            asm.sections[index].sh_size = new_len;
        }
        let shoff = image.e_shoff;
        return Ok(Rewritten { bytes: asm.finish(Some(shoff))?, plan });
    }
    let Some(load_index) =
        image.segments.iter().position(|s| s.is_load() && s.covers_file_range(existing.offset, existing.len))
    else {
        bail!("cannot rewrite safely: the existing resolution table is not inside a PT_LOAD");
    };
    let load = image.segments[load_index];
    if load.covers_file_range(image.e_phoff, 1) {
        bail!("cannot rewrite safely: the existing resolution table shares its PT_LOAD with the program headers");
    }
    let note_only = load.p_offset == existing.offset && load.p_filesz == existing.len && load.p_memsz == load.p_filesz;
    let highest = max_load_end(&image.segments) == load.memory_end();
    let at_end = load.file_end() == existing.offset + existing.len && load.p_memsz == load.p_filesz;
    let base = append_base(image);
    asm.data.truncate(base as usize);
    let growth = new_len - existing.len;
    let (new_offset, new_vaddr) = if note_only && !highest {
        // patchelf's layout: a PT_LOAD holding the note alone. Move it above everything.
        let others: Vec<Segment> =
            image.segments.iter().enumerate().filter(|&(i, _)| i != load_index).map(|(_, s)| *s).collect();
        let offset = align_up(base, 8)?;
        let align = load.p_align.max(0x1000);
        (offset, add(align_up(max_load_end(&others), align)?, offset % align)?)
    } else if highest && at_end {
        // Our layout: the note ends the highest PT_LOAD; move the segment's bytes and grow it.
        let align = load.p_align.max(1);
        let offset = add(align_up(base, align)?, load.p_offset % align)?;
        (offset, load.p_vaddr)
    } else {
        bail!("cannot rewrite safely: the larger table does not fit the old note, whose PT_LOAD also holds other data");
    };
    let delta_offset = new_offset.wrapping_sub(load.p_offset);
    let delta_addr = new_vaddr.wrapping_sub(load.p_vaddr);
    add(add(new_vaddr, load.p_memsz)?, growth)?;
    let bytes = image.data[load.p_offset as usize..load.file_end() as usize].to_vec();
    asm.put(new_offset, &bytes);
    plan.moves.push(Move { from: load.p_offset, to: new_offset, len: load.p_filesz });
    let note_at = existing.offset.wrapping_add(delta_offset);
    asm.put(note_at, note);
    for (i, s) in asm.segments.iter_mut().enumerate() {
        if i == load_index || (!s.is_load() && s.p_filesz > 0 && load.covers_file_range(s.p_offset, s.p_filesz)) {
            s.p_offset = s.p_offset.wrapping_add(delta_offset);
            s.p_vaddr = s.p_vaddr.wrapping_add(delta_addr);
            s.p_paddr = s.p_vaddr;
        }
        if i == load_index || i == existing.segment {
            s.p_filesz += growth;
            s.p_memsz += growth;
        }
    }
    for s in asm.sections.iter_mut() {
        if s.is_alloc() && s.file_size() > 0 && load.covers_file_range(s.sh_offset, s.sh_size) {
            s.sh_offset = s.sh_offset.wrapping_add(delta_offset);
            s.sh_addr = s.sh_addr.wrapping_add(delta_addr);
        }
    }
    if let Some(index) = existing.section {
        asm.sections[index].sh_size = new_len;
    }
    if note_only && !highest {
        // Keep PT_LOADs sorted by address: the moved one goes after the last other PT_LOAD.
        let moved = asm.segments.remove(load_index);
        let last = asm.segments.iter().rposition(Segment::is_load).unwrap_or(0);
        asm.segments.insert(last + 1, moved);
    }
    Ok(Rewritten { bytes: asm.finish(None)?, plan })
}
