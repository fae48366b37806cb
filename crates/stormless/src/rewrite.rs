//! Putting the note into an ELF file, and writing the result safely.
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

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use object::elf;

use crate::elf_image::{ElfImage, LdcacheNote, Section, Segment};

/// What embedding a table in a file comes to.
pub enum Embedding {
    /// The new file's bytes.
    Rewrite(Vec<u8>),
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
        [] => add_note(image, &note).map(Embedding::Rewrite),
        [existing] if existing.desc == desc => Ok(Embedding::AlreadyCurrent),
        [existing] if force => replace_note(image, existing, &note).map(Embedding::Rewrite),
        [_] => bail!("already carries a different resolution table (--force replaces it)"),
        _ => bail!("carries {} resolution-table notes; refusing to pick one", image.notes.len()),
    }
}

const fn align_up(value: u64, align: u64) -> u64 {
    if align <= 1 {
        value
    } else {
        value.div_ceil(align) * align
    }
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
fn is_movable(image: &ElfImage, section: &Section) -> bool {
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

/// The file being assembled: content bytes, then headers written by [`Assembly::finish`].
struct Assembly<'a> {
    image: &'a ElfImage,
    data: Vec<u8>,
    segments: Vec<Segment>,
    sections: Vec<Section>,
    /// A new `.shstrtab` content to append, when the section name had to be added.
    new_shstrtab: Option<Vec<u8>>,
}

impl Assembly<'_> {
    fn put(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset as usize + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[offset as usize..end].copy_from_slice(bytes);
    }

    fn zero(&mut self, from: u64, to: u64) {
        let to = (to as usize).min(self.data.len());
        if (from as usize) < to {
            self.data[from as usize..to].fill(0);
        }
    }

    fn word(&self, value: u64) -> Vec<u8> {
        if self.image.is_64 {
            value.to_le_bytes().to_vec()
        } else {
            (value as u32).to_le_bytes().to_vec()
        }
    }

    fn encode_segment(&self, s: &Segment) -> Vec<u8> {
        let mut out = Vec::with_capacity(56);
        if self.image.is_64 {
            out.extend_from_slice(&s.p_type.to_le_bytes());
            out.extend_from_slice(&s.p_flags.to_le_bytes());
            for v in [s.p_offset, s.p_vaddr, s.p_paddr, s.p_filesz, s.p_memsz, s.p_align] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        } else {
            out.extend_from_slice(&s.p_type.to_le_bytes());
            for v in [s.p_offset, s.p_vaddr, s.p_paddr, s.p_filesz, s.p_memsz] {
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
            out.extend_from_slice(&s.p_flags.to_le_bytes());
            out.extend_from_slice(&(s.p_align as u32).to_le_bytes());
        }
        out
    }

    fn encode_section(&self, s: &Section) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&s.sh_name.to_le_bytes());
        out.extend_from_slice(&s.sh_type.to_le_bytes());
        out.extend_from_slice(&self.word(s.sh_flags));
        out.extend_from_slice(&self.word(s.sh_addr));
        out.extend_from_slice(&self.word(s.sh_offset));
        out.extend_from_slice(&self.word(s.sh_size));
        out.extend_from_slice(&s.sh_link.to_le_bytes());
        out.extend_from_slice(&s.sh_info.to_le_bytes());
        out.extend_from_slice(&self.word(s.sh_addralign));
        out.extend_from_slice(&self.word(s.sh_entsize));
        out
    }

    /// Write the program headers at `e_phoff`, the new `.shstrtab` and the section headers at
    /// the end, and the header fields that changed.
    fn finish(mut self, shdrs_at: Option<u64>) -> Vec<u8> {
        let image = self.image;
        let phdrs: Vec<u8> = self.segments.iter().flat_map(|s| self.encode_segment(s)).collect();
        self.put(image.e_phoff, &phdrs);
        let mut shoff = image.e_shoff;
        if !self.sections.is_empty() {
            if let Some(strings) = self.new_shstrtab.take() {
                let at = self.data.len() as u64;
                self.put(at, &strings);
                let index = usize::from(image.e_shstrndx);
                self.sections[index].sh_offset = at;
                self.sections[index].sh_size = strings.len() as u64;
            }
            shoff = match shdrs_at {
                Some(at) => at,
                None => align_up(self.data.len() as u64, image.word_size()),
            };
            let shdrs: Vec<u8> = self.sections.iter().flat_map(|s| self.encode_section(s)).collect();
            self.put(shoff, &shdrs);
        }
        // e_phoff / e_shoff / e_phnum / e_shnum sit at class-specific places.
        let (shoff_at, phnum_at, shnum_at) = if image.is_64 { (0x28, 0x38, 0x3c) } else { (0x20, 0x2c, 0x30) };
        let shoff_bytes = self.word(shoff);
        self.put(shoff_at, &shoff_bytes);
        let phnum = u16::try_from(self.segments.len()).expect("fewer than 65535 program headers");
        self.put(phnum_at, &phnum.to_le_bytes());
        if !self.sections.is_empty() {
            let shnum = u16::try_from(self.sections.len()).expect("fewer than 65280 sections");
            self.put(shnum_at, &shnum.to_le_bytes());
        }
        self.data
    }

    /// The section name's offset in `.shstrtab`, adding it when it is not there.
    fn section_name_offset(&mut self) -> Result<u32> {
        let image = self.image;
        let index = usize::from(image.e_shstrndx);
        let strtab = image.sections.get(index).context("malformed ELF file: no section name table")?;
        let strings = &image.data[strtab.sh_offset as usize..(strtab.sh_offset + strtab.sh_size) as usize];
        let mut wanted = stormless_ldcache::SECTION_NAME.as_bytes().to_vec();
        wanted.push(0);
        if let Some(at) = strings.windows(wanted.len()).position(|w| w == wanted.as_slice()) {
            return Ok(at as u32);
        }
        let mut grown = strings.to_vec();
        let at = grown.len() as u32;
        grown.extend_from_slice(&wanted);
        self.new_shstrtab = Some(grown);
        Ok(at)
    }
}

fn note_section(name: u32, offset: u64, addr: u64, size: u64) -> Section {
    Section {
        name: stormless_ldcache::SECTION_NAME.as_bytes().to_vec(),
        sh_name: name,
        sh_type: elf::SHT_NOTE.0,
        sh_flags: elf::SHF_ALLOC.0,
        sh_addr: addr,
        sh_offset: offset,
        sh_size: size,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 4,
        sh_entsize: 0,
    }
}

fn add_note(image: &ElfImage, note: &[u8]) -> Result<Vec<u8>> {
    let entsize = u64::from(image.e_phentsize);
    let old_end = image.e_phoff + image.segments.len() as u64 * entsize;
    let new_end = old_end + 2 * entsize;
    let Some(ph_load) = image.segments.iter().find(|s| s.is_load() && s.covers_file_range(image.e_phoff, 0)) else {
        bail!("cannot rewrite safely: the program headers are not inside a PT_LOAD");
    };
    if new_end > ph_load.file_end() {
        bail!("cannot rewrite safely: no room to grow the program headers inside their PT_LOAD");
    }
    // The block of sections in the way of the grown table, closed under overlap.
    let mut block: Option<(u64, u64)> = None;
    loop {
        let (lo, hi) = block.unwrap_or((old_end, new_end));
        let overlapping: Vec<&Section> = image
            .sections
            .iter()
            .filter(|s| {
                s.is_alloc() && s.file_size() > 0 && s.sh_offset < hi.max(new_end) && s.sh_offset + s.sh_size > lo
            })
            .collect();
        if overlapping.is_empty() {
            break;
        }
        let b0 = overlapping.iter().map(|s| s.sh_offset).min().unwrap();
        let b1 = overlapping.iter().map(|s| s.sh_offset + s.sh_size).max().unwrap();
        if block == Some((b0, b1)) {
            break;
        }
        block = Some((b0, b1));
    }
    if let Some((b0, b1)) = block {
        if b0 < old_end {
            bail!("cannot rewrite safely: a section overlaps the program headers");
        }
        if b1 > ph_load.file_end() {
            bail!("cannot rewrite safely: the sections after the program headers leave their PT_LOAD");
        }
        for s in image.sections.iter().filter(|s| s.is_alloc() && s.sh_offset < b1 && s.sh_offset + s.file_size() > b0)
        {
            if !is_movable(image, s) {
                bail!(
                    "cannot rewrite safely: section {} ({}) follows the program headers and cannot be moved \
                     (only .interp, notes, hash tables, dynamic symbols and strings, version tables and \
                     dynamic relocations can)",
                    String::from_utf8_lossy(&s.name),
                    type_name(s.sh_type)
                );
            }
        }
        for s in &image.segments {
            let inside = s.p_offset >= b0 && s.file_end() <= b1;
            let overlaps = s.p_filesz > 0 && s.p_offset < b1 && s.file_end() > b0;
            if overlaps && !inside && s != ph_load {
                bail!("cannot rewrite safely: a segment of type {:#x} straddles the sections to move", s.p_type);
            }
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
        Some(_) => align_up(base, 64) + b0 % 64,
        None => align_up(base, 8),
    };
    let note_offset = align_up(tail_offset + (b1 - b0), 4);
    let tail_end = note_offset + note.len() as u64;
    let tail_vaddr = align_up(max_load_end(&image.segments), align) + tail_offset % align;
    let note_vaddr = tail_vaddr + (note_offset - tail_offset);
    let block_vaddr = ph_load.p_vaddr + (b0 - ph_load.p_offset);
    let (delta_offset, delta_addr) = (tail_offset.wrapping_sub(b0), tail_vaddr.wrapping_sub(block_vaddr));
    let moved = |offset: u64, len: u64| block.is_some() && offset >= b0 && offset + len <= b1 && offset < b1;

    let mut data = image.data.clone();
    data.truncate(base as usize);
    let mut asm = Assembly { image, data, segments: Vec::new(), sections: image.sections.clone(), new_shstrtab: None };
    if block.is_some() {
        let bytes = image.data[b0 as usize..b1 as usize].to_vec();
        asm.put(tail_offset, &bytes);
        asm.zero(b0, b1);
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
        let block_end_vaddr = block_vaddr + (b1 - b0);
        for d in &image.dynamic {
            let is_address = ADDRESS_TAGS.contains(&d.tag);
            if is_address && d.value >= block_vaddr && d.value < block_end_vaddr {
                let value = asm.word(d.value.wrapping_add(delta_addr));
                asm.put(d.file_offset + image.word_size(), &value);
            }
        }
    }
    if !asm.sections.is_empty() {
        let name = asm.section_name_offset()?;
        asm.sections.push(note_section(name, note_offset, note_vaddr, note.len() as u64));
    }
    Ok(asm.finish(None))
}

fn replace_note(image: &ElfImage, existing: &LdcacheNote, note: &[u8]) -> Result<Vec<u8>> {
    let pt_note = image.segments[existing.segment];
    if pt_note.p_offset != existing.offset || pt_note.p_filesz != existing.len {
        bail!("cannot rewrite safely: the existing resolution table shares its PT_NOTE with other notes");
    }
    let new_len = note.len() as u64;
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
        return Ok(asm.finish(Some(shoff)));
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
        let offset = align_up(base, 8);
        (offset, align_up(max_load_end(&others), load.p_align.max(0x1000)) + offset % load.p_align.max(0x1000))
    } else if highest && at_end {
        // Our layout: the note ends the highest PT_LOAD; move the segment's bytes and grow it.
        let align = load.p_align.max(1);
        let offset = align_up(base, align) + load.p_offset % align;
        (offset, load.p_vaddr)
    } else {
        bail!("cannot rewrite safely: the larger table does not fit the old note, whose PT_LOAD also holds other data");
    };
    let delta_offset = new_offset.wrapping_sub(load.p_offset);
    let delta_addr = new_vaddr.wrapping_sub(load.p_vaddr);
    let bytes = image.data[load.p_offset as usize..load.file_end() as usize].to_vec();
    asm.put(new_offset, &bytes);
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
    Ok(asm.finish(None))
}

/// `FILE.stormless-tmp-<pid>` in the file's directory.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".stormless-tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Replace `path` by `bytes` atomically: a new file in the same directory with the old one's
/// mode and owner, flushed to disk, renamed over the old one. On any error the temporary file
/// is removed and `path` is untouched.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let metadata = std::fs::metadata(path).context("cannot read the file's metadata")?;
    let temporary = temporary_path(path);
    let result = (|| -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .with_context(|| format!("cannot create {}", temporary.display()))?;
        file.write_all(bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
        // Owner first: chown clears set-user-ID and set-group-ID bits, which the mode restores.
        std::os::unix::fs::fchown(&file, Some(metadata.uid()), Some(metadata.gid()))
            .with_context(|| format!("cannot give {} the file's owner", temporary.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(metadata.mode() & 0o7777))
            .with_context(|| format!("cannot give {} the file's mode", temporary.display()))?;
        file.sync_all().with_context(|| format!("cannot flush {}", temporary.display()))?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot rename {} over the file", temporary.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    } else if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the directory is flushed; a failure here loses nothing.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!(align_up(0, 8), 0);
        assert_eq!(align_up(1, 8), 8);
        assert_eq!(align_up(0x1001, 0x1000), 0x2000);
        assert_eq!(align_up(5, 0), 5);
    }

    #[test]
    fn temporary_file_sits_beside_the_file() {
        let t = temporary_path(Path::new("/a/b/prog"));
        assert_eq!(t.parent(), Some(Path::new("/a/b")));
        assert!(t.file_name().unwrap().to_string_lossy().starts_with("prog.stormless-tmp-"));
    }

    #[test]
    fn replace_keeps_mode_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("stormless-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("prog");
        std::fs::write(&file, b"old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o751)).unwrap();
        replace_file(&file, b"new").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o751);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // A file that does not exist: an error, and no temporary file left.
        assert!(replace_file(&dir.join("missing"), b"x").is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
