//! Encoding the result of a rewrite: its content bytes, then the headers.

use anyhow::{bail, Context, Result};
use object::elf;

use super::align_up;
use crate::elf_image::{ElfImage, Section, Segment};

/// The file being assembled: content bytes, then headers written by [`Assembly::finish`].
pub(super) struct Assembly<'a> {
    pub image: &'a ElfImage,
    pub data: Vec<u8>,
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
    /// A new `.shstrtab` content to append, when the section name had to be added.
    pub new_shstrtab: Option<Vec<u8>>,
}

impl Assembly<'_> {
    pub(super) fn put(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset as usize + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[offset as usize..end].copy_from_slice(bytes);
    }

    pub(super) fn zero(&mut self, from: u64, to: u64) {
        let to = (to as usize).min(self.data.len());
        if (from as usize) < to {
            self.data[from as usize..to].fill(0);
        }
    }

    pub(super) fn word(&self, value: u64) -> Vec<u8> {
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

    /// Whether every value fits the file's class: a 32-bit file's fields are 32 bits wide, and
    /// a value that does not fit would be written truncated.
    fn fits_class(&self) -> bool {
        let fits = |v: u64| self.image.is_64 || u32::try_from(v).is_ok();
        let segments =
            self.segments.iter().flat_map(|s| [s.p_offset, s.p_vaddr, s.p_paddr, s.p_filesz, s.p_memsz, s.p_align]);
        let sections = self
            .sections
            .iter()
            .flat_map(|s| [s.sh_flags, s.sh_addr, s.sh_offset, s.sh_size, s.sh_addralign, s.sh_entsize]);
        segments.chain(sections).chain([self.data.len() as u64]).all(fits)
    }

    /// Write the program headers at `e_phoff`, the new `.shstrtab` and the section headers at
    /// the end, and the header fields that changed.
    pub(super) fn finish(mut self, shdrs_at: Option<u64>) -> Result<Vec<u8>> {
        let image = self.image;
        let phnum = u16::try_from(self.segments.len()).ok().filter(|&n| n < 0xffff);
        let phnum = phnum.context("cannot rewrite safely: too many program headers")?;
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
                None => align_up(self.data.len() as u64, image.word_size())?,
            };
            let shdrs: Vec<u8> = self.sections.iter().flat_map(|s| self.encode_section(s)).collect();
            self.put(shoff, &shdrs);
        }
        // e_phoff / e_shoff / e_phnum / e_shnum sit at class-specific places.
        let (shoff_at, phnum_at, shnum_at) = if image.is_64 { (0x28, 0x38, 0x3c) } else { (0x20, 0x2c, 0x30) };
        let shoff_bytes = self.word(shoff);
        self.put(shoff_at, &shoff_bytes);
        self.put(phnum_at, &phnum.to_le_bytes());
        if !self.sections.is_empty() {
            let shnum = u16::try_from(self.sections.len()).ok().filter(|&n| n < 0xff00);
            let shnum = shnum.context("cannot rewrite safely: too many sections")?;
            self.put(shnum_at, &shnum.to_le_bytes());
        }
        if !self.fits_class() || u32::try_from(shoff).is_err() && !image.is_64 {
            bail!("cannot rewrite safely: the new layout does not fit a 32-bit file");
        }
        Ok(self.data)
    }

    /// The section name's offset in `.shstrtab`, adding it when it is not there.
    pub(super) fn section_name_offset(&mut self) -> Result<u32> {
        let image = self.image;
        let index = usize::from(image.e_shstrndx);
        let strtab = image.sections.get(index).context("malformed ELF file: no section name table")?;
        let strings = image.data.get(strtab.sh_offset as usize..(strtab.sh_offset + strtab.file_size()) as usize);
        let strings = strings.context("malformed ELF file: the section name table lies outside the file")?;
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

pub(super) fn note_section(name: u32, offset: u64, addr: u64, size: u64) -> Section {
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
