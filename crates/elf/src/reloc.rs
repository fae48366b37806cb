//! Relocation tables: REL and RELA entries decoded for either class, the packed RELR format,
//! and the per-architecture relocation type numbers the loader handles.

use crate::error::Error;
use crate::header::Class;
use crate::read::{bytes_at, u32_at, u64_at, word_at};

/// What a relocation does, independent of the architecture: the loader maps each arch's
/// type numbers (below) onto these (`arch/<arch>.rs` in ld-so, musl's `arch/*/reloc.h`). Fieldless (an
/// unknown type is reported from `r_info`), so that each arch's mapping
/// compiles to a small table lookup rather than a compare tree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    None,
    /// S + A
    Symbolic,
    /// GOT entry: S
    Got,
    /// PLT slot: S
    Plt,
    /// S + A − P, 32 bits
    Offset32,
    /// B + A
    Relative,
    /// copy the symbol's bytes
    Copy,
    DtpMod,
    DtpOff,
    TpOff,
    TlsDesc,
    Unknown,
}

impl Kind {
    /// Symbolic, Got and Plt: the symbol's address plus the addend, written as
    /// a word — nearly every symbolic relocation. One compare (the three are
    /// consecutive), so that relocation takes them without the jump table,
    /// an indirect branch qemu-user resolves through a helper call each time.
    #[inline(always)]
    pub fn writes_symbol_address(self) -> bool {
        (self as u8).wrapping_sub(Kind::Symbolic as u8) <= Kind::Plt as u8 - Kind::Symbolic as u8
    }
}

const _: () = assert!(Kind::Got as u8 == Kind::Symbolic as u8 + 1 && Kind::Plt as u8 == Kind::Symbolic as u8 + 2);

/// x86_64 relocation types (`R_X86_64_*` in `<elf.h>`).
pub mod x86_64 {
    pub const NONE: u32 = 0;
    pub const R64: u32 = 1;
    pub const PC32: u32 = 2;
    pub const COPY: u32 = 5;
    pub const GLOB_DAT: u32 = 6;
    pub const JUMP_SLOT: u32 = 7;
    pub const RELATIVE: u32 = 8;
    pub const DTPMOD64: u32 = 16;
    pub const DTPOFF64: u32 = 17;
    pub const TPOFF64: u32 = 18;
    pub const TLSDESC: u32 = 36;
    pub const IRELATIVE: u32 = 37;
}

/// aarch64 relocation types (`R_AARCH64_*`). The TLS names are musl's; glibc's `<elf.h>`
/// spells them without the `64` suffix (`R_AARCH64_TLS_DTPMOD` = 1028, …).
pub mod aarch64 {
    pub const NONE: u32 = 0;
    pub const ABS64: u32 = 257;
    pub const COPY: u32 = 1024;
    pub const GLOB_DAT: u32 = 1025;
    pub const JUMP_SLOT: u32 = 1026;
    pub const RELATIVE: u32 = 1027;
    pub const TLS_DTPMOD64: u32 = 1028;
    pub const TLS_DTPREL64: u32 = 1029;
    pub const TLS_TPREL64: u32 = 1030;
    pub const TLSDESC: u32 = 1031;
    pub const IRELATIVE: u32 = 1032;
}

/// arm relocation types (`R_ARM_*`).
pub mod arm {
    pub const NONE: u32 = 0;
    pub const ABS32: u32 = 2;
    pub const REL32: u32 = 3;
    pub const TLS_DESC: u32 = 13;
    pub const TLS_DTPMOD32: u32 = 17;
    pub const TLS_DTPOFF32: u32 = 18;
    pub const TLS_TPOFF32: u32 = 19;
    pub const COPY: u32 = 20;
    pub const GLOB_DAT: u32 = 21;
    pub const JUMP_SLOT: u32 = 22;
    pub const RELATIVE: u32 = 23;
    pub const IRELATIVE: u32 = 160;
}

/// One decoded REL or RELA entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// `r_offset`: where to apply it, relative to the load base in a shared object.
    pub offset: u64,
    /// The relocation type, e.g. [`x86_64::RELATIVE`].
    pub kind: u32,
    /// The symbol index (0 for none).
    pub sym: u32,
    /// `r_addend` for RELA; `None` for REL, whose addend is the word at the target.
    pub addend: Option<i64>,
}

/// Whether entries carry an explicit addend (`DT_RELA`, and `DT_JMPREL` when `DT_PLTREL` says
/// `DT_RELA`) or not (`DT_REL`, the ELF32 arm convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocFormat {
    Rel,
    Rela,
}

impl RelocFormat {
    /// `sizeof(Rel)` or `sizeof(Rela)` for `class`.
    pub const fn entry_size(self, class: Class) -> usize {
        match self {
            RelocFormat::Rel => 2 * class.word_size(),
            RelocFormat::Rela => 3 * class.word_size(),
        }
    }
}

/// Iterator over a REL or RELA table, decoding each entry.
#[derive(Clone, Debug)]
pub struct Relocs<'a> {
    rest: &'a [u8],
    class: Class,
    format: RelocFormat,
}

impl<'a> Relocs<'a> {
    /// A table of `bytes.len()` bytes (`DT_RELSZ`, `DT_RELASZ` or `DT_PLTRELSZ`); a size that is
    /// not a whole number of entries is rejected rather than half-read.
    pub fn new(bytes: &'a [u8], class: Class, format: RelocFormat) -> Result<Relocs<'a>, Error> {
        if !bytes.len().is_multiple_of(format.entry_size(class)) {
            return Err(Error::BadTableSize);
        }
        Ok(Relocs { rest: bytes, class, format })
    }

    fn decode(e: &[u8], class: Class, format: RelocFormat) -> Option<Reloc> {
        let w = class.word_size();
        let offset = word_at(e, 0, class)?;
        let (sym, kind, addend) = match class {
            Class::Elf32 => {
                let info = u32_at(e, 4)?;
                let addend = match format {
                    RelocFormat::Rel => None,
                    RelocFormat::Rela => Some(i64::from(u32_at(e, 8)? as i32)),
                };
                (info >> 8, info & 0xff, addend)
            }
            Class::Elf64 => {
                let info = u64_at(e, w)?;
                let addend = match format {
                    RelocFormat::Rel => None,
                    RelocFormat::Rela => Some(u64_at(e, 2 * w)? as i64),
                };
                ((info >> 32) as u32, info as u32, addend)
            }
        };
        Some(Reloc { offset, kind, sym, addend })
    }
}

impl Iterator for Relocs<'_> {
    type Item = Reloc;
    fn next(&mut self) -> Option<Reloc> {
        let size = self.format.entry_size(self.class);
        let e = bytes_at(self.rest, 0, size)?;
        self.rest = self.rest.get(size..).unwrap_or(&[]);
        Self::decode(e, self.class, self.format)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / self.format.entry_size(self.class);
        (n, Some(n))
    }
}

/// Iterator over a RELR table (`DT_RELR`, `DT_RELRSZ`), yielding the offsets of the words to
/// relocate by the load base.
///
/// An even entry is an address: relocate it, and the bitmaps that follow describe the words
/// after it. An odd entry is a bitmap: bit `i` (for `i` in 1..word_bits) set means relocate the
/// word `i - 1` places after the current one; then the current position moves on by
/// `word_bits - 1` words. A bitmap before any address, or an address beyond the class's range,
/// yields [`Error::BadRelr`] once and ends the iteration.
#[derive(Clone, Debug)]
pub struct Relr<'a> {
    rest: &'a [u8],
    class: Class,
    /// Where the next bitmap starts; `None` before the first address (or after an overflow).
    next_word: Option<u64>,
    /// The bitmap being expanded, already shifted past its marker bit and the bits yielded.
    bitmap: u64,
    /// The address that the bitmap's lowest remaining bit stands for.
    bitmap_at: Option<u64>,
    done: bool,
}

impl<'a> Relr<'a> {
    /// A table of `bytes.len()` bytes, which must be a whole number of words.
    pub fn new(bytes: &'a [u8], class: Class) -> Result<Relr<'a>, Error> {
        if !bytes.len().is_multiple_of(class.word_size()) {
            return Err(Error::BadTableSize);
        }
        Ok(Relr { rest: bytes, class, next_word: None, bitmap: 0, bitmap_at: None, done: false })
    }

    fn fail(&mut self) -> Option<Result<u64, Error>> {
        self.done = true;
        Some(Err(Error::BadRelr))
    }

    fn checked(&mut self, address: Option<u64>) -> Option<Result<u64, Error>> {
        match address {
            Some(a) if a <= self.class.max_address() => Some(Ok(a)),
            _ => self.fail(),
        }
    }
}

impl Iterator for Relr<'_> {
    type Item = Result<u64, Error>;
    fn next(&mut self) -> Option<Result<u64, Error>> {
        let w = self.class.word_size() as u64;
        while !self.done {
            if self.bitmap != 0 {
                let (bit, at) = (self.bitmap & 1, self.bitmap_at);
                self.bitmap >>= 1;
                // `None` once the position has overflowed: an error only if a bit asks for it.
                self.bitmap_at = at.and_then(|a| a.checked_add(w));
                if bit != 0 {
                    return self.checked(at);
                }
                continue;
            }
            let Some(entry) = word_at(self.rest, 0, self.class) else {
                self.done = true;
                return None;
            };
            self.rest = self.rest.get(w as usize..).unwrap_or(&[]);
            if entry & 1 == 0 {
                self.next_word = entry.checked_add(w);
                return self.checked(Some(entry));
            }
            let Some(start) = self.next_word else {
                return self.fail();
            };
            self.bitmap = entry >> 1;
            self.bitmap_at = Some(start);
            let span = (u64::from(self.class.word_bits()) - 1) * w;
            self.next_word = start.checked_add(span);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn le(class: Class, words: &[u64]) -> Vec<u8> {
        words
            .iter()
            .flat_map(|&x| match class {
                Class::Elf32 => (x as u32).to_le_bytes().to_vec(),
                Class::Elf64 => x.to_le_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn rel_and_rela_decode_in_both_classes() {
        let b = le(Class::Elf32, &[0x1000, (5 << 8) | 23, 0x2000, 0x00ff_ff02, 0xffff_fffc]);
        let r: Vec<_> = Relocs::new(&b[..16], Class::Elf32, RelocFormat::Rel).unwrap().collect();
        assert_eq!(r[0], Reloc { offset: 0x1000, kind: 23, sym: 5, addend: None });
        assert_eq!(r[1], Reloc { offset: 0x2000, kind: 2, sym: 0xffff, addend: None });
        let r: Vec<_> = Relocs::new(&b[8..20], Class::Elf32, RelocFormat::Rela).unwrap().collect();
        assert_eq!(r, [Reloc { offset: 0x2000, kind: 2, sym: 0xffff, addend: Some(-4) }]);

        let b = le(Class::Elf64, &[0x3000, (7 << 32) | 1025, (-16i64) as u64]);
        let r: Vec<_> = Relocs::new(&b, Class::Elf64, RelocFormat::Rela).unwrap().collect();
        assert_eq!(r, [Reloc { offset: 0x3000, kind: 1025, sym: 7, addend: Some(-16) }]);
        let it = Relocs::new(&b[..16], Class::Elf64, RelocFormat::Rel).unwrap();
        assert_eq!(it.size_hint(), (1, Some(1)));
        assert_eq!(Relocs::new(&b[..20], Class::Elf64, RelocFormat::Rel).unwrap_err(), Error::BadTableSize);
        assert_eq!(Relocs::new(&b[..20], Class::Elf32, RelocFormat::Rel).unwrap_err(), Error::BadTableSize);
        assert_eq!(Relocs::new(&[], Class::Elf64, RelocFormat::Rela).unwrap().count(), 0);
    }

    fn relr(class: Class, words: &[u64]) -> Vec<Result<u64, Error>> {
        Relr::new(&le(class, words), class).unwrap().collect()
    }

    #[test]
    fn relr_worked_example_elf64() {
        // An address, then a bitmap for the 63 words after it (bits for words 0, 1, 2, 6 and
        // 62), then a bitmap for the next 63 words (word 0 only), then a new address.
        let bitmap = ((1u64 << 0) | (1 << 1) | (1 << 2) | (1 << 6) | (1 << 62)) << 1 | 1;
        let got = relr(Class::Elf64, &[0x10000, bitmap, 0b11, 0x20000, 0x20008]);
        let want = [0x10000, 0x10008, 0x10010, 0x10018, 0x10038, 0x101f8, 0x10200, 0x20000, 0x20008];
        assert_eq!(got, want.map(Ok));
    }

    #[test]
    fn relr_worked_example_elf32() {
        // ELF32 bitmaps cover 31 words of 4 bytes.
        let bitmap = ((1u64 << 0) | (1 << 30)) << 1 | 1;
        let got = relr(Class::Elf32, &[0x8000, bitmap, 0b101]);
        assert_eq!(got, [0x8000, 0x8004, 0x8004 + 30 * 4, 0x8004 + 31 * 4 + 4].map(Ok));
    }

    #[test]
    fn relr_rejects_malformed_tables() {
        assert_eq!(relr(Class::Elf64, &[0b11, 0x1000]), [Err(Error::BadRelr)]);
        assert_eq!(relr(Class::Elf64, &[u64::MAX - 7, 0b11]), [Ok(u64::MAX - 7), Err(Error::BadRelr)]);
        assert_eq!(relr(Class::Elf64, &[u64::MAX - 1, 0b101]), [Ok(u64::MAX - 1), Err(Error::BadRelr)]);
        // The last word a bitmap can name just before the address space ends is still valid.
        let start = u64::MAX - 511;
        let got = relr(Class::Elf64, &[start, 1 | (1 << 63)]);
        assert_eq!(got, [Ok(start), Ok(u64::MAX - 7)]);
        let got = relr(Class::Elf32, &[0xffff_fff8, 0b11 | (1 << 31)]);
        assert_eq!(got, [Ok(0xffff_fff8), Ok(0xffff_fffc), Err(Error::BadRelr)]);
        assert_eq!(Relr::new(&[0; 12], Class::Elf64).unwrap_err(), Error::BadTableSize);
        assert_eq!(relr(Class::Elf32, &[]), []);
    }
}
