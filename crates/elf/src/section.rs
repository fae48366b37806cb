//! Section headers, for the CLI (the loader never reads them: they need not be mapped, and
//! stripped objects may not have them at all).

use crate::consts::{SHN_UNDEF, SHN_XINDEX, SHT_NOBITS};
use crate::error::Error;
use crate::header::{Class, Header};
use crate::read::{bytes_at_u64, entry, u32_at, word_at};
use crate::strtab::cstr;

/// One section header, with the fields of either class widened to u64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionHeader {
    /// `sh_name`: offset of the name in the section-name string table.
    pub name: u32,
    /// `sh_type`, e.g. [`crate::consts::SHT_NOTE`].
    pub typ: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub addralign: u64,
    pub entsize: u64,
}

impl SectionHeader {
    fn parse(bytes: &[u8], class: Class) -> Option<SectionHeader> {
        let w = class.word_size();
        // After sh_name and sh_type come four words, two u32, then two words.
        let words_at = 8;
        let ints_at = words_at + 4 * w;
        Some(SectionHeader {
            name: u32_at(bytes, 0)?,
            typ: u32_at(bytes, 4)?,
            flags: word_at(bytes, words_at, class)?,
            addr: word_at(bytes, words_at + w, class)?,
            offset: word_at(bytes, words_at + 2 * w, class)?,
            size: word_at(bytes, words_at + 3 * w, class)?,
            link: u32_at(bytes, ints_at)?,
            info: u32_at(bytes, ints_at + 4)?,
            addralign: word_at(bytes, ints_at + 8, class)?,
            entsize: word_at(bytes, ints_at + 8 + w, class)?,
        })
    }

    /// The section's contents inside the whole file; empty for `SHT_NOBITS` (e.g. `.bss`),
    /// `None` when they lie outside the file.
    pub fn file_bytes<'a>(&self, file: &'a [u8]) -> Option<&'a [u8]> {
        if self.typ == SHT_NOBITS {
            return Some(&[]);
        }
        bytes_at_u64(file, self.offset, self.size)
    }
}

/// The section header table of a file, with its section-name string table.
#[derive(Clone, Copy, Debug)]
pub struct SectionHeaders<'a> {
    table: &'a [u8],
    class: Class,
    names: &'a [u8],
}

impl<'a> SectionHeaders<'a> {
    /// Reads the table `header` describes from the whole `file`.
    ///
    /// A file without sections (`e_shoff == 0`) gives an empty table. The extended numbering of
    /// files with 0xff00 sections or more is followed: `e_shnum == 0` takes the count from
    /// section 0's `sh_size`, and `e_shstrndx == SHN_XINDEX` the name table from its `sh_link`.
    pub fn parse(file: &'a [u8], header: &Header) -> Result<SectionHeaders<'a>, Error> {
        let class = header.class;
        if header.shoff == 0 {
            return Ok(SectionHeaders { table: &[], class, names: &[] });
        }
        if usize::from(header.shentsize) != class.section_header_size() {
            return Err(Error::BadShentsize);
        }
        let entsize = class.section_header_size() as u64;
        let first = bytes_at_u64(file, header.shoff, entsize)
            .and_then(|b| SectionHeader::parse(b, class))
            .ok_or(Error::Truncated)?;
        let count = if header.shnum == 0 { first.size } else { u64::from(header.shnum) };
        let len = count.checked_mul(entsize).ok_or(Error::Overflow)?;
        header.shoff.checked_add(len).ok_or(Error::Overflow)?;
        let table = bytes_at_u64(file, header.shoff, len).ok_or(Error::Truncated)?;
        let mut sections = SectionHeaders { table, class, names: &[] };
        let names_index = if header.shstrndx == SHN_XINDEX { first.link } else { u32::from(header.shstrndx) };
        if names_index != u32::from(SHN_UNDEF) {
            let names = usize::try_from(names_index).ok().and_then(|i| sections.get(i)).ok_or(Error::Truncated)?;
            sections.names = names.file_bytes(file).ok_or(Error::Truncated)?;
        }
        Ok(sections)
    }

    pub fn len(&self) -> usize {
        self.table.len() / self.class.section_header_size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, index: usize) -> Option<SectionHeader> {
        SectionHeader::parse(entry(self.table, index, self.class.section_header_size())?, self.class)
    }

    pub fn iter(&self) -> impl Iterator<Item = SectionHeader> + 'a {
        let sections = *self;
        (0..sections.len()).filter_map(move |i| sections.get(i))
    }

    /// The section-name string table (empty when the file has none).
    pub fn names(&self) -> &'a [u8] {
        self.names
    }

    /// A section's name, if the name table holds one at its `sh_name`.
    pub fn name(&self, section: &SectionHeader) -> Option<&'a [u8]> {
        cstr(self.names, u64::from(section.name))
    }

    /// The first section called `name` (e.g. `b".note.nixos.ldcache"`).
    pub fn find(&self, name: &[u8]) -> Option<SectionHeader> {
        self.iter().find(|s| self.name(s) == Some(name))
    }

    /// The first section of type `typ` (e.g. [`crate::consts::SHT_DYNSYM`]).
    pub fn find_type(&self, typ: u32) -> Option<SectionHeader> {
        self.iter().find(|s| s.typ == typ)
    }
}
