//! The ELF model every command works on: a file's bytes with its headers decoded (through the
//! `object` crate) into class-independent values, its dynamic section's names and search path,
//! and the resolution-table note it carries, if any.

use anyhow::{bail, Context, Result};
use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, SectionHeader as _};
use object::Endianness;
use stormless_elf::note::note_is_mapped;
use stormless_trees::Arch;

/// A program header, widened to 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_paddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

impl Segment {
    pub fn is_load(&self) -> bool {
        self.p_type == elf::PT_LOAD.0
    }

    pub fn file_end(&self) -> u64 {
        self.p_offset + self.p_filesz
    }

    pub fn memory_end(&self) -> u64 {
        self.p_vaddr + self.p_memsz
    }

    /// Whether the file range `[offset, offset + len)` lies inside this segment's file image.
    pub fn covers_file_range(&self, offset: u64, len: u64) -> bool {
        offset >= self.p_offset && offset + len <= self.file_end()
    }
}

/// A section header, widened to 64 bits, with its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: Vec<u8>,
    pub sh_name: u32,
    pub sh_type: u32,
    pub sh_flags: u64,
    pub sh_addr: u64,
    pub sh_offset: u64,
    pub sh_size: u64,
    pub sh_link: u32,
    pub sh_info: u32,
    pub sh_addralign: u64,
    pub sh_entsize: u64,
}

impl Section {
    pub fn is_alloc(&self) -> bool {
        self.sh_flags & elf::SHF_ALLOC.0 != 0
    }

    /// Bytes the section occupies in the file (none for `SHT_NOBITS`).
    pub fn file_size(&self) -> u64 {
        if self.sh_type == elf::SHT_NOBITS.0 {
            0
        } else {
            self.sh_size
        }
    }
}

/// One `.note.nixos.ldcache` note as the loader finds it: inside a `PT_NOTE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdcacheNote {
    /// Index of the `PT_NOTE` holding it.
    pub segment: usize,
    /// File offset of the note header, and the note's length with padding.
    pub offset: u64,
    pub len: u64,
    /// The descriptor (exactly `descsz` bytes).
    pub desc: Vec<u8>,
    /// Index of the section that holds exactly this note, if any.
    pub section: Option<usize>,
}

/// An entry of the dynamic section and where it sits in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicEntry {
    pub tag: i64,
    pub value: u64,
    pub file_offset: u64,
}

/// A decoded ELF file of one of the three supported arches.
#[derive(Clone, Debug)]
pub struct ElfImage {
    pub data: Vec<u8>,
    pub arch: Arch,
    pub is_64: bool,
    pub e_entry: u64,
    pub e_phoff: u64,
    pub e_phentsize: u16,
    pub e_shoff: u64,
    pub e_shentsize: u16,
    pub e_shstrndx: u16,
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
    pub dynamic: Vec<DynamicEntry>,
    pub needed: Vec<Vec<u8>>,
    pub rpath: Option<Vec<u8>>,
    pub runpath: Option<Vec<u8>>,
    pub interp: Option<Vec<u8>>,
    pub notes: Vec<LdcacheNote>,
}

/// Whether `data` starts like an ELF file (what directory walks use to skip other files).
pub fn looks_like_elf(data: &[u8]) -> bool {
    data.starts_with(&elf::ELFMAG)
}

impl ElfImage {
    pub fn read_file(path: &std::path::Path) -> Result<ElfImage> {
        let data = std::fs::read(path).with_context(|| "cannot read the file".to_string())?;
        ElfImage::parse(data)
    }

    /// Decode `data`; refuse files the tool cannot handle, saying why.
    pub fn parse(data: Vec<u8>) -> Result<ElfImage> {
        if !looks_like_elf(&data) {
            bail!("not an ELF file");
        }
        match data.get(4) {
            Some(&2) => parse_class::<elf::FileHeader64<Endianness>>(data),
            Some(&1) => parse_class::<elf::FileHeader32<Endianness>>(data),
            _ => bail!("not an ELF file: unknown ELF class"),
        }
    }

    /// The effective search path, as musl keeps it (`DT_RUNPATH` over `DT_RPATH`).
    pub fn effective_rpath(&self) -> Option<&[u8]> {
        stormless_search::effective_rpath(self.rpath.as_deref(), self.runpath.as_deref())
    }

    pub fn class_name(&self) -> &'static str {
        if self.is_64 {
            "ELF64"
        } else {
            "ELF32"
        }
    }

    /// The file offset of virtual address `addr`, through the `PT_LOAD` that maps it.
    pub fn offset_of_address(&self, addr: u64) -> Option<u64> {
        self.segments
            .iter()
            .filter(|s| s.is_load())
            .find(|s| addr >= s.p_vaddr && addr < s.p_vaddr + s.p_filesz)
            .map(|s| addr - s.p_vaddr + s.p_offset)
    }

    /// The one resolution table the loader would use: the first note in a `PT_NOTE` that lies
    /// inside a `PT_LOAD`'s file bytes, the loader's rule (`stormless_elf::note::note_is_mapped`);
    /// a note elsewhere is never read.
    pub fn ldcache_note(&self) -> Option<&LdcacheNote> {
        let spans = || self.segments.iter().map(|s| (s.p_type, s.p_vaddr, s.p_filesz));
        self.notes.iter().find(|note| {
            self.segments.get(note.segment).is_some_and(|s| note_is_mapped(s.p_vaddr, s.p_filesz, spans()))
        })
    }

    /// An image with only `data` and `segments` set, for the checks that look at nothing else.
    #[cfg(test)]
    pub fn for_tests(data: Vec<u8>, segments: Vec<Segment>) -> ElfImage {
        ElfImage {
            data,
            arch: Arch::X86_64,
            is_64: true,
            e_entry: 0,
            e_phoff: 0,
            e_phentsize: 56,
            e_shoff: 0,
            e_shentsize: 64,
            e_shstrndx: 0,
            segments,
            sections: Vec::new(),
            dynamic: Vec::new(),
            needed: Vec::new(),
            rpath: None,
            runpath: None,
            interp: None,
            notes: Vec::new(),
        }
    }

    /// The size of the ELF header of this class, the bytes a rewrite may change at the start
    /// of the file (not `e_ehsize`, which a hostile file sets to anything).
    pub fn header_size(&self) -> u64 {
        if self.is_64 {
            64
        } else {
            52
        }
    }

    pub fn word_size(&self) -> u64 {
        if self.is_64 {
            8
        } else {
            4
        }
    }
}

fn arch_of(machine: u16, is_64: bool) -> Result<Arch> {
    let arch = Arch::ALL.into_iter().find(|a| a.elf_machine() == machine);
    match arch {
        Some(arch) if (arch.pointer_width() == 64) == is_64 => Ok(arch),
        Some(arch) => bail!("unsupported ELF file: {} machine in a {}-bit file", arch, if is_64 { 64 } else { 32 }),
        None => bail!("unsupported machine {machine} (supported: x86_64, aarch64, arm)"),
    }
}

fn parse_class<H: FileHeader<Endian = Endianness>>(data: Vec<u8>) -> Result<ElfImage> {
    let header = H::parse(&*data).map_err(|e| anyhow::anyhow!("malformed ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| anyhow::anyhow!("malformed ELF header: {e}"))?;
    if endian != Endianness::Little {
        bail!("big-endian ELF files are not supported");
    }
    let is_64 = header.is_class_64();
    let arch = arch_of(header.e_machine(endian).0, is_64)?;
    let e_type = header.e_type(endian).0;
    if e_type != elf::ET_EXEC.0 && e_type != elf::ET_DYN.0 {
        bail!("not an executable or shared library (ELF type {e_type})");
    }
    let phdrs =
        header.program_headers(endian, &*data).map_err(|e| anyhow::anyhow!("malformed program headers: {e}"))?;
    let segments: Vec<Segment> = phdrs
        .iter()
        .map(|p| Segment {
            p_type: p.p_type(endian).0,
            p_flags: p.p_flags(endian).0,
            p_offset: p.p_offset(endian).into(),
            p_vaddr: p.p_vaddr(endian).into(),
            p_paddr: p.p_paddr(endian).into(),
            p_filesz: p.p_filesz(endian).into(),
            p_memsz: p.p_memsz(endian).into(),
            p_align: p.p_align(endian).into(),
        })
        .collect();
    // Every sum taken later (a segment's end in the file and in memory) must fit: no
    // arithmetic on a hostile file may wrap or panic.
    for s in &segments {
        let file_end = s.p_offset.checked_add(s.p_filesz);
        if file_end.is_none() || s.p_vaddr.checked_add(s.p_memsz).is_none() {
            bail!("malformed ELF file: a segment's offset or address plus its size overflows");
        }
        if s.p_filesz > 0 && s.file_end() > data.len() as u64 {
            bail!("malformed ELF file: a segment extends past the end of the file");
        }
    }
    let table = header.sections(endian, &*data).map_err(|e| anyhow::anyhow!("malformed section headers: {e}"))?;
    let mut sections = Vec::with_capacity(table.len());
    for s in table.iter() {
        let name = table.section_name(endian, s).unwrap_or_default().to_vec();
        sections.push(Section {
            name,
            sh_name: s.sh_name(endian),
            sh_type: s.sh_type(endian).0,
            sh_flags: s.sh_flags(endian).0,
            sh_addr: s.sh_addr(endian).into(),
            sh_offset: s.sh_offset(endian).into(),
            sh_size: s.sh_size(endian).into(),
            sh_link: s.sh_link(endian),
            sh_info: s.sh_info(endian),
            sh_addralign: s.sh_addralign(endian).into(),
            sh_entsize: s.sh_entsize(endian).into(),
        });
    }
    for (index, s) in sections.iter().enumerate() {
        let end = s.sh_offset.checked_add(s.file_size());
        if end.is_none_or(|end| end > data.len() as u64) || s.sh_addr.checked_add(s.sh_size).is_none() {
            bail!("malformed section headers: section {index} lies outside the file");
        }
    }
    let mut image = ElfImage {
        arch,
        is_64,
        e_entry: header.e_entry(endian).into(),
        e_phoff: header.e_phoff(endian).into(),
        e_phentsize: header.e_phentsize(endian),
        e_shoff: header.e_shoff(endian).into(),
        e_shentsize: header.e_shentsize(endian),
        e_shstrndx: header.e_shstrndx(endian).0,
        segments,
        sections,
        dynamic: Vec::new(),
        needed: Vec::new(),
        rpath: None,
        runpath: None,
        interp: None,
        notes: Vec::new(),
        data: Vec::new(),
    };
    // The dynamic section as the loader finds it: through PT_DYNAMIC.
    let dyn_size = if is_64 { 16 } else { 8 };
    let mut dynamic = Vec::new();
    if let Some((index, _)) = image.segments.iter().enumerate().find(|(_, s)| s.p_type == elf::PT_DYNAMIC.0) {
        let entries = phdrs[index]
            .dynamic(endian, &*data)
            .map_err(|e| anyhow::anyhow!("malformed dynamic section: {e}"))?
            .unwrap_or_default();
        let base = image.segments[index].p_offset;
        for (i, d) in entries.iter().enumerate() {
            let tag: i64 = d.d_tag(endian).0;
            if tag == elf::DT_NULL.0 {
                break;
            }
            dynamic.push(DynamicEntry { tag, value: d.d_val(endian).into(), file_offset: base + i as u64 * dyn_size });
        }
    }
    image.dynamic = dynamic;
    image.data = data;
    decode_dynamic_strings(&mut image)?;
    image.interp = image
        .segments
        .iter()
        .find(|s| s.p_type == elf::PT_INTERP.0)
        .map(|s| c_string(image.data.get(s.p_offset as usize..s.file_end() as usize).unwrap_or_default()).to_vec());
    image.notes = find_ldcache_notes(&image);
    Ok(image)
}

fn c_string(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len())]
}

fn decode_dynamic_strings(image: &mut ElfImage) -> Result<()> {
    if image.dynamic.is_empty() {
        return Ok(());
    }
    let tag = |t: i64| image.dynamic.iter().filter(move |d| d.tag == t).map(|d| d.value);
    let strtab = tag(elf::DT_STRTAB.0).next_back().context("malformed dynamic section: no DT_STRTAB")?;
    let strsz = tag(elf::DT_STRSZ.0).next_back().unwrap_or(u64::MAX);
    let start = image.offset_of_address(strtab).context("malformed dynamic section: DT_STRTAB is not mapped")?;
    let end = start.saturating_add(strsz).min(image.data.len() as u64);
    let strings = &image.data[start as usize..end as usize];
    let string = |value: u64| -> Result<Vec<u8>> {
        let at = usize::try_from(value).ok().filter(|&v| v < strings.len());
        let at = at.context("malformed dynamic section: a string offset past DT_STRSZ")?;
        Ok(c_string(&strings[at..]).to_vec())
    };
    let mut needed = Vec::new();
    for d in &image.dynamic {
        if d.tag == elf::DT_NEEDED.0 {
            needed.push(string(d.value)?);
        }
    }
    // decode_vec keeps the last of a repeated tag: so do we.
    let rpath = tag(elf::DT_RPATH.0).next_back().map(string).transpose()?;
    let runpath = tag(elf::DT_RUNPATH.0).next_back().map(string).transpose()?;
    image.needed = needed;
    image.rpath = rpath;
    image.runpath = runpath;
    Ok(())
}

/// Every `NixOS`/`NOTE_TYPE` note in a `PT_NOTE`, in program-header order.
fn find_ldcache_notes(image: &ElfImage) -> Vec<LdcacheNote> {
    let mut found = Vec::new();
    for (index, segment) in image.segments.iter().enumerate() {
        if segment.p_type != elf::PT_NOTE.0 {
            continue;
        }
        let align: u64 = if segment.p_align == 8 { 8 } else { 4 };
        let pad = |n: u64| (n + align - 1) & !(align - 1);
        let Some(bytes) = image.data.get(segment.p_offset as usize..segment.file_end() as usize) else { continue };
        let mut at = 0u64;
        while at + 12 <= bytes.len() as u64 {
            let word = |i: u64| u32::from_le_bytes(bytes[(at + i) as usize..(at + i + 4) as usize].try_into().unwrap());
            let (namesz, descsz, n_type) = (u64::from(word(0)), u64::from(word(4)), word(8));
            let desc_at = at + 12 + pad(namesz);
            let end = desc_at + pad(descsz);
            if desc_at + descsz > bytes.len() as u64 {
                break;
            }
            let name = c_string(&bytes[(at + 12) as usize..(at + 12 + namesz) as usize]);
            if name == stormless_ldcache::NOTE_OWNER && n_type == stormless_ldcache::NOTE_TYPE {
                let offset = segment.p_offset + at;
                let len = end.min(bytes.len() as u64) - at;
                let section = image.sections.iter().position(|s| {
                    s.sh_type == elf::SHT_NOTE.0 && s.sh_offset == offset && s.sh_size <= len.max(s.sh_size)
                });
                found.push(LdcacheNote {
                    segment: index,
                    offset,
                    len,
                    desc: bytes[desc_at as usize..(desc_at + descsz) as usize].to_vec(),
                    section,
                });
            }
            at = end;
        }
    }
    found
}

/// A path as text for messages: lossy for bytes that are not UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_first_note_the_loader_reads() {
        let segment = |p_type: u32, p_vaddr: u64, p_filesz: u64| Segment {
            p_type,
            p_flags: 0,
            p_offset: p_vaddr,
            p_vaddr,
            p_paddr: p_vaddr,
            p_filesz,
            p_memsz: p_filesz,
            p_align: 4,
        };
        let note = |segment: usize, desc: &[u8]| LdcacheNote {
            segment,
            offset: 0,
            len: 0,
            desc: desc.to_vec(),
            section: None,
        };
        // A PT_NOTE past the PT_LOAD's file bytes (a mutated or hand-made file), then one inside.
        let segments = vec![
            segment(elf::PT_LOAD.0, 0, 0x1000),
            segment(elf::PT_NOTE.0, 0x2000, 0x20),
            segment(elf::PT_NOTE.0, 0x100, 0x20),
        ];
        let mut image = ElfImage::for_tests(Vec::new(), segments);
        image.notes = vec![note(1, b"outside\0"), note(2, b"inside\0")];
        assert_eq!(image.ldcache_note().map(|n| n.desc.as_slice()), Some(&b"inside\0"[..]));
        image.notes.truncate(1);
        assert!(image.ldcache_note().is_none(), "the loader never reads a note outside every PT_LOAD");
    }

    #[test]
    fn refuses_what_is_not_elf() {
        let e = ElfImage::parse(b"#!/bin/sh\n".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "not an ELF file");
        let mut header = elf::ELFMAG.to_vec();
        header.extend_from_slice(&[7, 1, 1]);
        assert!(ElfImage::parse(header).unwrap_err().to_string().contains("unknown ELF class"));
    }

    #[test]
    fn machine_and_class_must_agree() {
        assert_eq!(arch_of(elf::EM_X86_64.0, true).unwrap(), Arch::X86_64);
        assert_eq!(arch_of(elf::EM_ARM.0, false).unwrap(), Arch::Armv7);
        assert!(arch_of(elf::EM_ARM.0, true).is_err());
        assert!(arch_of(elf::EM_RISCV.0, true).unwrap_err().to_string().contains("unsupported machine"));
    }
}
