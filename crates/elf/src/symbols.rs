//! Symbol tables (`DT_SYMTAB`, `.dynsym`, `.symtab`) and symbol version indices (`DT_VERSYM`).

use crate::consts::{SHN_UNDEF, VERSYM_HIDDEN};
use crate::header::Class;
use crate::read::{entry, u16_at, u32_at, u8_at, word_at};

/// One symbol, with the fields of either class widened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sym {
    /// `st_name`: offset of the name in the associated string table.
    pub name: u32,
    pub value: u64,
    pub size: u64,
    /// `st_info`: binding in the high nibble, type in the low one.
    pub info: u8,
    /// `st_other`: visibility in the low two bits.
    pub other: u8,
    pub shndx: u16,
}

impl Sym {
    /// `STB_*`: `st_info >> 4`.
    pub fn bind(&self) -> u8 {
        self.info >> 4
    }

    /// `STT_*`: `st_info & 0xf`.
    pub fn typ(&self) -> u8 {
        self.info & 0xf
    }

    /// `STV_*`: `st_other & 3`.
    pub fn visibility(&self) -> u8 {
        self.other & 3
    }

    /// Whether the symbol is a reference rather than a definition (`st_shndx == SHN_UNDEF`).
    pub fn is_undefined(&self) -> bool {
        self.shndx == SHN_UNDEF
    }

    fn parse(bytes: &[u8], class: Class) -> Option<Sym> {
        Some(match class {
            Class::Elf32 => Sym {
                name: u32_at(bytes, 0)?,
                value: word_at(bytes, 4, class)?,
                size: word_at(bytes, 8, class)?,
                info: u8_at(bytes, 12)?,
                other: u8_at(bytes, 13)?,
                shndx: u16_at(bytes, 14)?,
            },
            Class::Elf64 => Sym {
                name: u32_at(bytes, 0)?,
                info: u8_at(bytes, 4)?,
                other: u8_at(bytes, 5)?,
                shndx: u16_at(bytes, 6)?,
                value: word_at(bytes, 8, class)?,
                size: word_at(bytes, 16, class)?,
            },
        })
    }
}

/// A symbol table of one class.
///
/// A dynamic symbol table has no size of its own: the loader sizes the slice with the hash
/// table's symbol count ([`crate::SysvHashTable::symbol_count`],
/// [`crate::GnuHashTable::symbol_count`]); the CLI uses the section size.
#[derive(Clone, Copy, Debug)]
pub struct SymbolTable<'a> {
    pub bytes: &'a [u8],
    pub class: Class,
}

impl<'a> SymbolTable<'a> {
    pub fn new(bytes: &'a [u8], class: Class) -> SymbolTable<'a> {
        SymbolTable { bytes, class }
    }

    /// The symbol at `index`, if the whole entry is inside the table.
    pub fn get(&self, index: usize) -> Option<Sym> {
        Sym::parse(entry(self.bytes, index, self.class.symbol_size())?, self.class)
    }

    /// The number of whole entries in the slice.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.class.symbol_size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All whole entries, with their indices.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Sym)> + 'a {
        let table = *self;
        (0..table.len()).filter_map(move |i| Some((i, table.get(i)?)))
    }
}

/// The version index of symbol `index` in a `DT_VERSYM` table (one u16 per symbol).
pub fn versym(bytes: &[u8], index: usize) -> Option<u16> {
    u16_at(bytes, index.checked_mul(2)?)
}

/// Whether a version index marks a hidden (non-default) version, which musl skips when it
/// resolves a symbol by name (its `versym[i] >= 0` test on the signed entry).
pub fn is_hidden_version(versym: u16) -> bool {
    versym & VERSYM_HIDDEN != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::*;

    #[test]
    fn symbols_decode_in_both_classes() {
        let mut s32 = [0u8; 32];
        s32[16..20].copy_from_slice(&7u32.to_le_bytes());
        s32[20..24].copy_from_slice(&0x1234u32.to_le_bytes());
        s32[24..28].copy_from_slice(&16u32.to_le_bytes());
        s32[28] = (STB_WEAK << 4) | STT_FUNC;
        s32[29] = STV_HIDDEN;
        s32[30..32].copy_from_slice(&5u16.to_le_bytes());
        let t = SymbolTable::new(&s32, Class::Elf32);
        assert_eq!(t.len(), 2);
        let s = t.get(1).unwrap();
        assert_eq!((s.name, s.value, s.size, s.shndx), (7, 0x1234, 16, 5));
        assert_eq!((s.bind(), s.typ(), s.visibility(), s.is_undefined()), (STB_WEAK, STT_FUNC, STV_HIDDEN, false));
        assert!(t.get(0).unwrap().is_undefined());
        assert_eq!(t.get(2), None);
        assert_eq!(t.get(usize::MAX), None);
        assert_eq!(SymbolTable::new(&s32[..31], Class::Elf32).get(1), None);

        let mut s64 = [0u8; 24];
        s64[0..4].copy_from_slice(&9u32.to_le_bytes());
        s64[4] = (STB_GLOBAL << 4) | STT_TLS;
        s64[6..8].copy_from_slice(&SHN_ABS.to_le_bytes());
        s64[8..16].copy_from_slice(&0x1_0000_0000u64.to_le_bytes());
        s64[16..24].copy_from_slice(&8u64.to_le_bytes());
        let t = SymbolTable::new(&s64, Class::Elf64);
        let s = t.get(0).unwrap();
        assert_eq!((s.name, s.value, s.size, s.shndx, s.bind(), s.typ()), (9, 0x1_0000_0000, 8, SHN_ABS, 1, 6));
        assert_eq!(t.iter().count(), 1);
    }

    #[test]
    fn versym_entries_and_hidden_bit() {
        let v = [1u8, 0, 2, 0x80, 3];
        assert_eq!(versym(&v, 0), Some(1));
        assert_eq!(versym(&v, 1), Some(0x8002));
        assert_eq!(versym(&v, 2), None);
        assert_eq!(versym(&v, usize::MAX), None);
        assert!(is_hidden_version(0x8002) && !is_hidden_version(2));
    }
}
