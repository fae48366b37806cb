//! The checks a loader makes on an object it maps itself, so that a malformed file is refused
//! (musl's `ENOEXEC`) instead of crashing the process: before mapping, the identity of the file
//! and its segments against the file's size ([`check_ident`], [`Segments::check`]); after
//! mapping, the dynamic section and the tables it points to against what is readable
//! ([`Segments::dynamic_region`], [`check_tables`]).
//!
//! Nothing here reads memory by itself: the loader hands in the header bytes it read, the size
//! `fstat` gave, and an [`Image`] that returns the mapped bytes of a virtual address range only
//! where [`Segments::readable`] says they are mapped and readable.

use crate::consts::*;
use crate::dynamic::{Dynamic, DynamicInfo};
use crate::error::Error;
use crate::header::{Class, ProgramHeader, ProgramHeaders};
use crate::read::{u16_at, u32_at, u8_at};

/// Checks the start of a file (at least the identification and `e_type`/`e_machine`) for an
/// object this loader can map: ELF magic, the `class` and machine of the process,
/// little-endian. musl looks at none of this; without it a library of another architecture or
/// word size is mapped and its fields read at the wrong offsets.
pub fn check_ident(header: &[u8], class: Class, machine: u16) -> Result<(), Error> {
    if header.get(..4).ok_or(Error::Truncated)? != ELFMAG {
        return Err(Error::BadMagic);
    }
    if u8_at(header, EI_CLASS).and_then(Class::from_ident) != Some(class) {
        return Err(Error::BadClass);
    }
    if u8_at(header, EI_DATA) != Some(ELFDATA2LSB) {
        return Err(Error::BadEncoding);
    }
    if u16_at(header, 18).ok_or(Error::Truncated)? != machine {
        return Err(Error::BadMachine);
    }
    Ok(())
}

/// The program header table of an object whose loadable segments passed [`Segments::check`].
#[derive(Clone, Copy, Debug)]
pub struct Segments<'a> {
    headers: ProgramHeaders<'a>,
}

fn end(start: u64, len: u64) -> Result<u64, Error> {
    start.checked_add(len).ok_or(Error::Overflow)
}

impl<'a> Segments<'a> {
    /// Checks what mapping the object needs before anything is mapped:
    /// - at least one `PT_LOAD`; each one's file data inside the file (`p_offset + p_filesz <=
    ///   file_size`), `p_filesz <= p_memsz`, `p_vaddr + p_memsz` rounded up to `page_size` inside
    ///   the class's address space, and `p_vaddr` and `p_offset` equal modulo the page size (the
    ///   loader maps page-aligned file offsets at page-aligned addresses);
    /// - the `PT_LOAD`s in ascending `p_vaddr` order, none overlapping the one before it;
    /// - a `PT_DYNAMIC`, each one's first entry in the file-backed part of a `PT_LOAD`;
    /// - each `PT_TLS` image inside the file-backed part of a `PT_LOAD`, no larger than
    ///   its `p_memsz`, with a power-of-two (or zero) alignment.
    ///
    /// `page_size` must be a power of two.
    pub fn check(headers: ProgramHeaders<'a>, file_size: u64, page_size: u64) -> Result<Segments<'a>, Error> {
        let max = headers.class().max_address();
        let mut previous_end: Option<u64> = None;
        for ph in headers.iter().filter(|ph| ph.typ == PT_LOAD) {
            if end(ph.offset, ph.filesz)? > file_size {
                return Err(Error::Truncated);
            }
            if ph.filesz > ph.memsz {
                return Err(Error::BadSegment);
            }
            let mem_end = end(ph.vaddr, ph.memsz)?;
            if end(mem_end, page_size - 1)? > max {
                return Err(Error::Overflow);
            }
            if (ph.vaddr ^ ph.offset) & (page_size - 1) != 0 {
                return Err(Error::BadSegment);
            }
            if previous_end.is_some_and(|e| ph.vaddr < e) {
                return Err(Error::BadSegment);
            }
            previous_end = Some(mem_end);
        }
        if previous_end.is_none() {
            return Err(Error::NoLoadSegment);
        }
        let segments = Segments { headers };
        let entry = headers.class().dynamic_entry_size() as u64;
        // musl takes the last PT_DYNAMIC and PT_TLS: every one must be sound.
        if headers.find(PT_DYNAMIC).is_none() {
            return Err(Error::BadDynamic);
        }
        for dynamic in headers.iter().filter(|ph| ph.typ == PT_DYNAMIC) {
            if !segments.in_file_data(dynamic.vaddr, entry) {
                return Err(Error::BadDynamic);
            }
        }
        for tls in headers.iter().filter(|ph| ph.typ == PT_TLS) {
            let align_ok = tls.align & tls.align.wrapping_sub(1) == 0;
            if tls.filesz > tls.memsz || !align_ok || (tls.filesz > 0 && !segments.in_file_data(tls.vaddr, tls.filesz))
            {
                return Err(Error::BadSegment);
            }
        }
        Ok(segments)
    }

    fn loads(&self) -> impl Iterator<Item = ProgramHeader> + 'a {
        self.headers.iter().filter(|ph| ph.typ == PT_LOAD)
    }

    /// Whether `[vaddr, vaddr + len)` lies in the file-backed part of one `PT_LOAD`.
    fn in_file_data(&self, vaddr: u64, len: u64) -> bool {
        let Some(last) = vaddr.checked_add(len) else { return false };
        self.loads().any(|ph| vaddr >= ph.vaddr && last <= ph.vaddr + ph.filesz)
    }

    /// The end of the readable region holding all of `[vaddr, vaddr + len)`, or `None`.
    ///
    /// A readable region is a `PT_LOAD` with `PF_R`: its file-backed part, and for a writable
    /// segment also the zero-filled rest up to `p_memsz` (the loader maps that anonymously).
    /// Reading anywhere else could fault: a gap between segments may lie past the end of the
    /// file (SIGBUS), a segment without `PF_R` is not readable at all.
    pub fn readable(&self, vaddr: u64, len: u64) -> Option<u64> {
        let last = vaddr.checked_add(len)?;
        self.loads().filter(|ph| ph.flags & PF_R != 0).find_map(|ph| {
            let region_end = ph.vaddr + if ph.flags & PF_W != 0 { ph.memsz } else { ph.filesz };
            (vaddr >= ph.vaddr && last <= region_end).then_some(region_end)
        })
    }

    /// The (last, as in musl) `PT_DYNAMIC`'s address and the end of the readable region it starts in: the dynamic
    /// section must end (with `DT_NULL`) before that end (see [`Dynamic::is_terminated`]).
    pub fn dynamic_region(&self) -> Result<(u64, u64), Error> {
        let dynamic = self.headers.iter().filter(|ph| ph.typ == PT_DYNAMIC).last().ok_or(Error::BadDynamic)?;
        let entry = self.headers.class().dynamic_entry_size() as u64;
        let end = self.readable(dynamic.vaddr, entry).ok_or(Error::BadDynamic)?;
        Ok((dynamic.vaddr, end))
    }
}

/// Read access to a mapped object by virtual address (not by run-time address): the loader
/// implements it over its mapping, answering only inside [`Segments::readable`] regions.
pub trait Image {
    fn bytes(&self, vaddr: u64, len: u64) -> Option<&[u8]>;
    /// The end of the readable region holding `[vaddr, vaddr + len)`.
    fn region_end(&self, vaddr: u64, len: u64) -> Option<u64>;
}

/// What lookups in a checked object may read: the limits the loader applies to indices and
/// offsets it takes from the object's own tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableLimits {
    /// `DT_STRSZ`: string offsets must be below it (the table's last byte is NUL).
    pub strsz: u64,
    /// The end of the readable region holding the symbol table: symbol `i` is readable when
    /// `symtab + (i + 1) * sizeof(Sym) <= symtab_end`.
    pub symtab_end: u64,
    /// How many whole symbol entries lie below `symtab_end` from `DT_SYMTAB`: a lookup compares
    /// an index with this count rather than dividing per candidate.
    pub symbols: u64,
    /// The end of the readable region holding `DT_GNU_HASH` (its chains run up to there), or 0.
    pub gnu_hash_end: u64,
    /// The end of the readable region holding `DT_VERSYM`, or 0.
    pub versym_end: u64,
}

/// Checks the tables an object's dynamic section points to, in its mapped `image`:
/// - `DT_STRTAB` with `DT_STRSZ` bytes readable and its last byte NUL, and every `DT_NEEDED`,
///   `DT_SONAME`, `DT_RPATH` and `DT_RUNPATH` offset below `DT_STRSZ`;
/// - `DT_SYMTAB` readable for at least one symbol (for `nchain` symbols with `DT_HASH`);
/// - `DT_HASH`: a non-zero bucket count, its buckets and chains readable;
/// - `DT_GNU_HASH`: non-zero bucket and Bloom filter sizes, its header, filter and buckets
///   readable;
/// - `DT_VERSYM`, and the relocation tables (`DT_REL`, `DT_RELA`, `DT_JMPREL`, `DT_RELR`) and
///   the `DT_INIT_ARRAY`/`DT_FINI_ARRAY` arrays with their sizes, readable.
///
/// Returns the limits lookups must stay within afterwards.
pub fn check_tables(dynamic: Dynamic<'_>, class: Class, image: &impl Image) -> Result<TableLimits, Error> {
    let info: DynamicInfo = dynamic.info();
    let readable = |vaddr: u64, len: u64| image.region_end(vaddr, len).ok_or(Error::BadDynamic);
    let strtab = info.get(DT_STRTAB).ok_or(Error::BadDynamic)?;
    let strsz = info.get(DT_STRSZ).ok_or(Error::BadDynamic)?;
    let strings = image.bytes(strtab, strsz).ok_or(Error::BadDynamic)?;
    if strings.last() != Some(&0) {
        return Err(Error::BadDynamic);
    }
    let named = [DT_SONAME, DT_RPATH, DT_RUNPATH].into_iter().filter_map(|t| info.get(t));
    if dynamic.needed().chain(named).any(|offset| offset >= strsz) {
        return Err(Error::BadDynamic);
    }
    let sym_size = class.symbol_size() as u64;
    let symtab = info.get(DT_SYMTAB).ok_or(Error::BadDynamic)?;
    let symtab_end = readable(symtab, sym_size)?;
    if let Some(hash) = info.get(DT_HASH) {
        let header = image.bytes(hash, 8).ok_or(Error::BadHashTable)?;
        let (nbucket, nchain) = (u32_at(header, 0).unwrap_or(0), u32_at(header, 4).unwrap_or(0));
        if nbucket == 0 {
            return Err(Error::BadHashTable);
        }
        let words = 2 + u64::from(nbucket) + u64::from(nchain);
        readable(hash, 4 * words).map_err(|_| Error::BadHashTable)?;
        readable(symtab, sym_size * u64::from(nchain))?;
    }
    let gnu_hash_end = match info.gnu_hash {
        None => 0,
        Some(gnu) => {
            let header = image.bytes(gnu, 16).ok_or(Error::BadHashTable)?;
            let (nbuckets, bloom_size) = (u32_at(header, 0).unwrap_or(0), u32_at(header, 8).unwrap_or(0));
            if nbuckets == 0 || bloom_size == 0 {
                return Err(Error::BadHashTable);
            }
            let fixed = 16 + class.word_size() as u64 * u64::from(bloom_size) + 4 * u64::from(nbuckets);
            readable(gnu, fixed).map_err(|_| Error::BadHashTable)?
        }
    };
    let versym_end = match info.versym {
        None => 0,
        Some(versym) => readable(versym, 2)?,
    };
    // Each table whole entries (a relocation table cut inside an entry would be skipped, or
    // read past its end) and readable.
    let word = class.word_size() as u64;
    let plt_entry = if info.get(DT_PLTREL) == Some(DT_RELA) { 3 * word } else { 2 * word };
    for (table, size, entry) in [
        (DT_REL, DT_RELSZ, 2 * word),
        (DT_RELA, DT_RELASZ, 3 * word),
        (DT_JMPREL, DT_PLTRELSZ, plt_entry),
        (DT_RELR, DT_RELRSZ, word),
        (DT_INIT_ARRAY, DT_INIT_ARRAYSZ, word),
        (DT_FINI_ARRAY, DT_FINI_ARRAYSZ, word),
    ] {
        if let (Some(at), Some(len)) = (info.get(table), info.get(size)) {
            if len % entry != 0 {
                return Err(Error::BadTableSize);
            }
            if len > 0 {
                readable(at, len)?;
            }
        }
    }
    let symbols = symtab_end.saturating_sub(symtab) / sym_size;
    Ok(TableLimits { strsz, symtab_end, symbols, gnu_hash_end, versym_end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::program_headers_from;
    use std::vec::Vec;

    const PAGE: u64 = 0x1000;

    /// (type, flags, offset, vaddr, filesz, memsz) of one program header.
    type Entry = (u32, u32, u64, u64, u64, u64);

    /// An ELF64 program header table of `entries`.
    fn table(entries: &[Entry]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(typ, flags, offset, vaddr, filesz, memsz) in entries {
            out.extend_from_slice(&typ.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            for w in [offset, vaddr, vaddr, filesz, memsz, 8] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    const R: u32 = PF_R;
    const RX: u32 = PF_R | PF_X;
    const RW: u32 = PF_R | PF_W;

    /// Text at 0 (0x800 bytes), data at 0x1e00 (file 0xe00, 0x300 bytes, 0x400 in memory),
    /// the dynamic section at 0x1f00.
    fn good() -> Vec<Entry> {
        std::vec![
            (PT_LOAD, RX, 0, 0, 0x800, 0x800),
            (PT_LOAD, RW, 0xe00, 0x1e00, 0x300, 0x400),
            (PT_DYNAMIC, RW, 0xf00, 0x1f00, 0x100, 0x100),
        ]
    }

    fn check(entries: &[Entry], file_size: u64) -> Result<(), Error> {
        let bytes = table(entries);
        let headers = program_headers_from(&bytes, Class::Elf64, entries.len()).unwrap();
        Segments::check(headers, file_size, PAGE).map(drop)
    }

    #[test]
    fn good_segments_pass_and_regions_are_readable_where_mapped() {
        let entries = good();
        let bytes = table(&entries);
        let headers = program_headers_from(&bytes, Class::Elf64, entries.len()).unwrap();
        let s = Segments::check(headers, 0x1100, PAGE).unwrap();
        assert_eq!(s.readable(0, 0x800), Some(0x800));
        assert_eq!(s.readable(0x7ff, 2), None, "past the text's file data");
        assert_eq!(s.readable(0x1000, 1), None, "the gap between segments");
        assert_eq!(s.readable(0x1e00, 0x400), Some(0x2200), "bss of a writable segment");
        assert_eq!(s.readable(u64::MAX, 2), None);
        assert_eq!(s.dynamic_region(), Ok((0x1f00, 0x2200)));
        // A segment without PF_R is never readable.
        let mut e = good();
        e[0].1 = PF_X;
        let bytes = table(&e);
        let s = Segments::check(program_headers_from(&bytes, Class::Elf64, 3).unwrap(), 0x1100, PAGE).unwrap();
        assert_eq!(s.readable(0, 1), None);
    }

    #[test]
    fn malformed_segments_are_refused() {
        let with = |f: &dyn Fn(&mut Vec<Entry>)| {
            let mut e = good();
            f(&mut e);
            e
        };
        assert_eq!(check(&good(), 0x10ff), Err(Error::Truncated), "file ends inside the data");
        assert_eq!(check(&with(&|e| e[1].2 = u64::MAX - 0x10), 0x1100), Err(Error::Overflow));
        assert_eq!(check(&with(&|e| e[0].4 = 0x900), 0x1100), Err(Error::BadSegment), "filesz > memsz");
        assert_eq!(check(&with(&|e| e[1].5 = u64::MAX - 0x1e00), 0x1100), Err(Error::Overflow), "wraps");
        assert_eq!(check(&with(&|e| e[1].5 = u64::MAX - 0x1e00 - 0x800), 0x1100), Err(Error::Overflow), "page");
        assert_eq!(check(&with(&|e| e[1].3 = 0x1e08), 0x1100), Err(Error::BadSegment), "offset not congruent");
        assert_eq!(check(&with(&|e| e.swap(0, 1)), 0x1100), Err(Error::BadSegment), "unordered");
        assert_eq!(check(&with(&|e| e[0].5 = 0x1e01), 0x1100), Err(Error::BadSegment), "overlapping");
        assert_eq!(check(&with(&|e| e[0].5 = 0x1e00), 0x1100), Ok(()), "touching is fine");
        assert_eq!(check(&with(&|e| e.retain(|p| p.0 != PT_LOAD)), 0x1100), Err(Error::NoLoadSegment));
        assert_eq!(check(&with(&|e| e.truncate(2)), 0x1100), Err(Error::BadDynamic), "no PT_DYNAMIC");
        assert_eq!(check(&with(&|e| e[2].3 = 0x9000), 0x1100), Err(Error::BadDynamic), "outside the loads");
        assert_eq!(check(&with(&|e| e[2].3 = 0x2100), 0x1100), Err(Error::BadDynamic), "in the bss");
        let tls = |filesz, memsz, vaddr| with(&move |e| e.push((PT_TLS, R, 0, vaddr, filesz, memsz)));
        assert_eq!(check(&tls(0x10, 0x20, 0x1e00), 0x1100), Ok(()));
        assert_eq!(check(&tls(0x30, 0x20, 0x1e00), 0x1100), Err(Error::BadSegment));
        assert_eq!(check(&tls(0x10, 0x20, 0x5000), 0x1100), Err(Error::BadSegment));
    }

    #[test]
    fn identity_is_checked() {
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(&ELFMAG);
        h[EI_CLASS] = ELFCLASS64;
        h[EI_DATA] = ELFDATA2LSB;
        h[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        assert_eq!(check_ident(&h, Class::Elf64, EM_X86_64), Ok(()));
        assert_eq!(check_ident(&h, Class::Elf32, EM_X86_64), Err(Error::BadClass));
        assert_eq!(check_ident(&h, Class::Elf64, EM_AARCH64), Err(Error::BadMachine));
        assert_eq!(check_ident(&h[..10], Class::Elf64, EM_X86_64), Err(Error::Truncated));
        let mut bad = h;
        bad[EI_DATA] = 2;
        assert_eq!(check_ident(&bad, Class::Elf64, EM_X86_64), Err(Error::BadEncoding));
        bad[0] = b'#';
        assert_eq!(check_ident(&bad, Class::Elf64, EM_X86_64), Err(Error::BadMagic));
    }

    /// An image that is one readable region `[0, bytes.len())`.
    struct Flat(Vec<u8>);

    impl Image for Flat {
        fn bytes(&self, vaddr: u64, len: u64) -> Option<&[u8]> {
            self.0.get(usize::try_from(vaddr).ok()?..usize::try_from(vaddr.checked_add(len)?).ok()?)
        }
        fn region_end(&self, vaddr: u64, len: u64) -> Option<u64> {
            self.bytes(vaddr, len).map(|_| self.0.len() as u64)
        }
    }

    fn dyn64(entries: &[(u64, u64)]) -> Vec<u8> {
        entries.iter().flat_map(|&(t, v)| t.to_le_bytes().into_iter().chain(v.to_le_bytes())).collect()
    }

    /// Strings at 0x100 (16 bytes), symbols at 0x200, DT_HASH at 0x300, DT_GNU_HASH at 0x380.
    fn image() -> Flat {
        let mut b = std::vec![0u8; 0x400];
        b[0x100..0x110].copy_from_slice(b"\0libc.so\0/lib\0\0\0");
        b[0x300..0x308].copy_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]); // nbucket 1, nchain 2
        b[0x380..0x390].copy_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        Flat(b)
    }

    fn tables(extra: &[(u64, u64)]) -> Result<TableLimits, Error> {
        let mut e = std::vec![(DT_STRTAB, 0x100), (DT_STRSZ, 16), (DT_SYMTAB, 0x200), (DT_NEEDED, 1)];
        e.extend_from_slice(extra);
        e.push((DT_NULL, 0));
        check_tables(Dynamic::new(&dyn64(&e), Class::Elf64), Class::Elf64, &image())
    }

    #[test]
    fn good_tables_give_their_limits() {
        let limits =
            tables(&[(DT_HASH, 0x300), (DT_GNU_HASH, 0x380), (DT_RUNPATH, 9), (DT_RELA, 0x3a0), (DT_RELASZ, 24)])
                .unwrap();
        // Symbols at 0x200 up to the end of the image: 0x200 / 24 = 21 whole entries.
        assert_eq!(
            limits,
            TableLimits { strsz: 16, symtab_end: 0x400, symbols: 21, gnu_hash_end: 0x400, versym_end: 0 }
        );
    }

    #[test]
    fn malformed_tables_are_refused() {
        let bad = |extra: &[(u64, u64)], want: Error| {
            let mut e = std::vec![(DT_STRTAB, 0x100), (DT_STRSZ, 16), (DT_SYMTAB, 0x200)];
            e.extend_from_slice(extra);
            e.push((DT_NULL, 0));
            let mut seen = std::collections::BTreeMap::new();
            for (t, v) in e {
                seen.insert(t, v); // later entries win, so `extra` overrides the defaults
            }
            let mut list: Vec<(u64, u64)> = seen.into_iter().filter(|&(t, _)| t != DT_NULL).collect();
            list.push((DT_NULL, 0));
            let got = check_tables(Dynamic::new(&dyn64(&list), Class::Elf64), Class::Elf64, &image());
            assert_eq!(got, Err(want), "{extra:x?}");
        };
        bad(&[(DT_STRTAB, 0x1000)], Error::BadDynamic);
        bad(&[(DT_STRSZ, 12)], Error::BadDynamic); // last byte not NUL
        bad(&[(DT_STRSZ, u64::MAX)], Error::BadDynamic);
        bad(&[(DT_SYMTAB, 0x3f0)], Error::BadDynamic);
        bad(&[(DT_NEEDED, 16)], Error::BadDynamic);
        bad(&[(DT_RUNPATH, 0x100000)], Error::BadDynamic);
        bad(&[(DT_SONAME, 16)], Error::BadDynamic);
        bad(&[(DT_HASH, 0x3fc)], Error::BadHashTable);
        bad(&[(DT_HASH, 0x10)], Error::BadHashTable); // nbucket = 0 there
        bad(&[(DT_GNU_HASH, 0x300)], Error::BadHashTable); // bloom_size = 0 there
        bad(&[(DT_GNU_HASH, 0x5000)], Error::BadHashTable);
        bad(&[(DT_VERSYM, 0x3ff)], Error::BadDynamic);
        bad(&[(DT_RELA, 0x3f0), (DT_RELASZ, 24)], Error::BadDynamic);
        bad(&[(DT_INIT_ARRAY, 0x3fc), (DT_INIT_ARRAYSZ, 8)], Error::BadDynamic);
        assert_eq!(
            check_tables(Dynamic::new(&dyn64(&[(DT_NULL, 0)]), Class::Elf64), Class::Elf64, &image()),
            Err(Error::BadDynamic),
            "no string table"
        );
    }
}
