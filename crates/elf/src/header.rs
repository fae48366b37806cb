//! The ELF file header and the program header table.

use crate::consts::*;
use crate::error::Error;
use crate::read::{bytes_at_u64, entry, u16_at, u32_at, u8_at, word_at};

/// The object's word size: ELF32 for armv7, ELF64 for x86_64 and aarch64.
///
/// Every entry size the crate needs is a method here, so a view only stores its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

impl Class {
    /// The class of the machine this code is compiled for (what the loader itself handles).
    pub const fn native() -> Class {
        if cfg!(target_pointer_width = "64") {
            Class::Elf64
        } else {
            Class::Elf32
        }
    }

    /// From `e_ident[EI_CLASS]`.
    pub fn from_ident(byte: u8) -> Option<Class> {
        match byte {
            ELFCLASS32 => Some(Class::Elf32),
            ELFCLASS64 => Some(Class::Elf64),
            _ => None,
        }
    }

    /// Bytes in an address or `Xword` of this class: 4 or 8.
    pub const fn word_size(self) -> usize {
        match self {
            Class::Elf32 => 4,
            Class::Elf64 => 8,
        }
    }

    /// Bits in a word of this class: 32 or 64.
    pub const fn word_bits(self) -> u32 {
        (self.word_size() * 8) as u32
    }

    /// The largest address this class can express.
    pub const fn max_address(self) -> u64 {
        match self {
            Class::Elf32 => u32::MAX as u64,
            Class::Elf64 => u64::MAX,
        }
    }

    /// `sizeof(Ehdr)`.
    pub const fn header_size(self) -> usize {
        match self {
            Class::Elf32 => 52,
            Class::Elf64 => 64,
        }
    }

    /// `sizeof(Phdr)`.
    pub const fn program_header_size(self) -> usize {
        match self {
            Class::Elf32 => 32,
            Class::Elf64 => 56,
        }
    }

    /// `sizeof(Shdr)`.
    pub const fn section_header_size(self) -> usize {
        match self {
            Class::Elf32 => 40,
            Class::Elf64 => 64,
        }
    }

    /// `sizeof(Dyn)`: two words.
    pub const fn dynamic_entry_size(self) -> usize {
        2 * self.word_size()
    }

    /// `sizeof(Sym)`.
    pub const fn symbol_size(self) -> usize {
        match self {
            Class::Elf32 => 16,
            Class::Elf64 => 24,
        }
    }
}

/// A validated ELF file header, with fields widened to u64 where the classes differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub class: Class,
    /// `e_type`: [`ET_EXEC`] or [`ET_DYN`] (anything else is rejected).
    pub typ: u16,
    /// `e_machine`, e.g. [`EM_X86_64`]; checking it is the caller's business.
    pub machine: u16,
    pub entry: u64,
    pub phoff: u64,
    pub shoff: u64,
    pub flags: u32,
    pub phnum: u16,
    pub shentsize: u16,
    pub shnum: u16,
    pub shstrndx: u16,
}

impl Header {
    /// Parses and validates the header at the start of `bytes`.
    ///
    /// Checks the magic, a known class, little-endian data, `EI_VERSION == EV_CURRENT`, an
    /// executable or shared-object type, `e_phentsize` equal to the class's `sizeof(Phdr)`, and
    /// that the whole program header table lies inside `bytes` (so [`Header::program_headers`]
    /// on the same bytes cannot fail). Section headers are validated only when asked for
    /// ([`crate::SectionHeaders::parse`]): the loader never looks at them.
    pub fn parse(file: &[u8]) -> Result<Header, Error> {
        let ident = file.get(..EI_NIDENT).ok_or(Error::Truncated)?;
        if ident.get(..4) != Some(&ELFMAG[..]) {
            return Err(Error::BadMagic);
        }
        let class = u8_at(ident, EI_CLASS).and_then(Class::from_ident).ok_or(Error::BadClass)?;
        if u8_at(ident, EI_DATA) != Some(ELFDATA2LSB) {
            return Err(Error::BadEncoding);
        }
        if u8_at(ident, EI_VERSION) != Some(EV_CURRENT) {
            return Err(Error::BadVersion);
        }
        let bytes = file.get(..class.header_size()).ok_or(Error::Truncated)?;
        // Offsets of the fields after e_entry shift by the word size difference.
        let w = class.word_size();
        let field16 = |off: usize| u16_at(bytes, off).ok_or(Error::Truncated);
        let after_words = 24 + 3 * w; // e_flags follows e_entry, e_phoff, e_shoff
        let header = Header {
            class,
            typ: field16(16)?,
            machine: field16(18)?,
            entry: word_at(bytes, 24, class).ok_or(Error::Truncated)?,
            phoff: word_at(bytes, 24 + w, class).ok_or(Error::Truncated)?,
            shoff: word_at(bytes, 24 + 2 * w, class).ok_or(Error::Truncated)?,
            flags: u32_at(bytes, after_words).ok_or(Error::Truncated)?,
            phnum: field16(after_words + 8)?,
            shentsize: field16(after_words + 10)?,
            shnum: field16(after_words + 12)?,
            shstrndx: field16(after_words + 14)?,
        };
        if header.typ != ET_EXEC && header.typ != ET_DYN {
            return Err(Error::BadType);
        }
        let phentsize = field16(after_words + 6)?;
        if usize::from(phentsize) != class.program_header_size() {
            return Err(Error::BadPhentsize);
        }
        header.program_header_table(file.len())?;
        Ok(header)
    }

    /// The program header table inside `file` (the same bytes given to [`Header::parse`], or
    /// any slice that starts at the file header and is at least as long).
    pub fn program_headers<'a>(&self, file: &'a [u8]) -> Result<ProgramHeaders<'a>, Error> {
        let range = self.program_header_table(file.len())?;
        Ok(ProgramHeaders { bytes: file.get(range).ok_or(Error::Truncated)?, class: self.class })
    }

    /// The byte range of the program header table, checked against `file_len`.
    fn program_header_table(&self, file_len: usize) -> Result<core::ops::Range<usize>, Error> {
        let len = usize::from(self.phnum).checked_mul(self.class.program_header_size()).ok_or(Error::Overflow)?;
        let offset = usize::try_from(self.phoff).map_err(|_| Error::Overflow)?;
        let end = offset.checked_add(len).ok_or(Error::Overflow)?;
        if end > file_len {
            return Err(Error::Truncated);
        }
        Ok(offset..end)
    }
}

/// One program header, with the fields of either class widened to u64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgramHeader {
    /// `p_type`, e.g. [`PT_LOAD`].
    pub typ: u32,
    /// `p_flags`: [`PF_R`], [`PF_W`], [`PF_X`].
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl ProgramHeader {
    /// Decodes one entry of exactly `class.program_header_size()` bytes (or more).
    fn parse(bytes: &[u8], class: Class) -> Option<ProgramHeader> {
        Some(match class {
            Class::Elf32 => ProgramHeader {
                typ: u32_at(bytes, 0)?,
                offset: word_at(bytes, 4, class)?,
                vaddr: word_at(bytes, 8, class)?,
                paddr: word_at(bytes, 12, class)?,
                filesz: word_at(bytes, 16, class)?,
                memsz: word_at(bytes, 20, class)?,
                flags: u32_at(bytes, 24)?,
                align: word_at(bytes, 28, class)?,
            },
            Class::Elf64 => ProgramHeader {
                typ: u32_at(bytes, 0)?,
                flags: u32_at(bytes, 4)?,
                offset: word_at(bytes, 8, class)?,
                vaddr: word_at(bytes, 16, class)?,
                paddr: word_at(bytes, 24, class)?,
                filesz: word_at(bytes, 32, class)?,
                memsz: word_at(bytes, 40, class)?,
                align: word_at(bytes, 48, class)?,
            },
        })
    }

    /// The segment's file contents (`p_offset .. p_offset + p_filesz`) inside a whole file.
    pub fn file_bytes<'a>(&self, file: &'a [u8]) -> Option<&'a [u8]> {
        bytes_at_u64(file, self.offset, self.filesz)
    }

    /// Whether `vaddr` falls inside the segment's file-backed part.
    pub fn contains_file_vaddr(&self, vaddr: u64) -> bool {
        vaddr >= self.vaddr && vaddr - self.vaddr < self.filesz
    }
}

/// A program header table: whole entries of one class.
#[derive(Clone, Copy, Debug)]
pub struct ProgramHeaders<'a> {
    bytes: &'a [u8],
    class: Class,
}

/// A program header table that is already in memory, as the loader finds it through the
/// kernel's `AT_PHDR` and `AT_PHNUM`: the first `count` entries of `bytes`.
pub fn program_headers_from(bytes: &[u8], class: Class, count: usize) -> Result<ProgramHeaders<'_>, Error> {
    let len = count.checked_mul(class.program_header_size()).ok_or(Error::Overflow)?;
    Ok(ProgramHeaders { bytes: bytes.get(..len).ok_or(Error::Truncated)?, class })
}

impl<'a> ProgramHeaders<'a> {
    pub fn class(&self) -> Class {
        self.class
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / self.class.program_header_size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, index: usize) -> Option<ProgramHeader> {
        ProgramHeader::parse(entry(self.bytes, index, self.class.program_header_size())?, self.class)
    }

    pub fn iter(&self) -> ProgramHeaderIter<'a> {
        ProgramHeaderIter { table: *self, next: 0 }
    }

    /// The first header of type `typ` (e.g. [`PT_INTERP`], [`PT_DYNAMIC`]).
    pub fn find(&self, typ: u32) -> Option<ProgramHeader> {
        self.iter().find(|ph| ph.typ == typ)
    }

    /// Translates a virtual address to a file offset through the PT_LOAD segment holding it,
    /// as the CLI must to read the dynamic section's tables from a file.
    pub fn vaddr_to_offset(&self, vaddr: u64) -> Option<u64> {
        let ph = self.iter().find(|ph| ph.typ == PT_LOAD && ph.contains_file_vaddr(vaddr))?;
        ph.offset.checked_add(vaddr - ph.vaddr)
    }
}

impl<'a> IntoIterator for ProgramHeaders<'a> {
    type Item = ProgramHeader;
    type IntoIter = ProgramHeaderIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a [`ProgramHeaders`] table.
#[derive(Clone, Debug)]
pub struct ProgramHeaderIter<'a> {
    table: ProgramHeaders<'a>,
    next: usize,
}

impl Iterator for ProgramHeaderIter<'_> {
    type Item = ProgramHeader;
    fn next(&mut self) -> Option<ProgramHeader> {
        let ph = self.table.get(self.next)?;
        self.next += 1;
        Some(ph)
    }
}
