//! A test-only builder of small but complete ELF images: file header, program headers, a
//! dynamic section with its string, symbol, hash, relocation and version tables, a note, and
//! section headers. Every number it writes is chosen by the test, so tests can compare.
#![allow(dead_code)]

use stormless_elf::consts::*;
use stormless_elf::reloc::{arm, x86_64};
use stormless_elf::{gnu_hash, sysv_hash, Class};

/// Virtual address of file offset 0: one PT_LOAD maps the whole file there.
pub const BASE: u64 = 0x10000;
pub const NIXOS_NOTE_TYPE: u32 = 0x63a8_6cb6;

pub fn put_word(out: &mut Vec<u8>, class: Class, v: u64) {
    match class {
        Class::Elf32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
        Class::Elf64 => out.extend_from_slice(&v.to_le_bytes()),
    }
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A built GNU hash table and the symbol order it imposes (names from `symoffset` on are
/// sorted by bucket, as linkers do).
pub struct GnuTable {
    pub bytes: Vec<u8>,
    pub order: Vec<Vec<u8>>,
}

/// Builds a `DT_GNU_HASH` table for `hashed` names, placed after `symoffset` unhashed symbols.
pub fn build_gnu_hash(
    class: Class,
    symoffset: u32,
    hashed: &[&[u8]],
    nbuckets: u32,
    bloom_size: u32,
    shift: u32,
) -> GnuTable {
    let bits = (class.word_size() * 8) as u32;
    let mut order: Vec<Vec<u8>> = hashed.iter().map(|n| n.to_vec()).collect();
    order.sort_by_key(|n| gnu_hash(n) % nbuckets);
    let mut bloom = vec![0u64; bloom_size as usize];
    let mut buckets = vec![0u32; nbuckets as usize];
    let mut chains = Vec::new();
    for (i, name) in order.iter().enumerate() {
        let h = gnu_hash(name);
        let b = (h % nbuckets) as usize;
        if buckets[b] == 0 {
            buckets[b] = symoffset + i as u32;
        }
        let last = order.get(i + 1).is_none_or(|n| gnu_hash(n) % nbuckets != b as u32);
        chains.push((h & !1) | last as u32);
        let w = ((h / bits) % bloom_size) as usize;
        bloom[w] |= 1 << (h % bits);
        bloom[w] |= 1 << ((h >> shift) % bits);
    }
    let mut bytes = Vec::new();
    for v in [nbuckets, symoffset, bloom_size, shift] {
        put_u32(&mut bytes, v);
    }
    for w in bloom {
        put_word(&mut bytes, class, w);
    }
    buckets.iter().chain(&chains).for_each(|&v| put_u32(&mut bytes, v));
    GnuTable { bytes, order }
}

/// Builds a `DT_HASH` table over `names` (index = symbol index).
pub fn build_sysv_hash(names: &[Vec<u8>], nbucket: u32) -> Vec<u8> {
    let mut buckets = vec![0u32; nbucket as usize];
    let mut chains = vec![0u32; names.len()];
    // Insert in reverse so each chain lists symbols in index order.
    for (i, name) in names.iter().enumerate().skip(1).rev() {
        let b = (sysv_hash(name) % nbucket) as usize;
        chains[i] = buckets[b];
        buckets[b] = i as u32;
    }
    let mut out = Vec::new();
    put_u32(&mut out, nbucket);
    put_u32(&mut out, names.len() as u32);
    buckets.iter().chain(&chains).for_each(|&v| put_u32(&mut out, v));
    out
}

/// Where the builder put things, to check the parsers against.
pub struct Image {
    pub class: Class,
    pub bytes: Vec<u8>,
    /// Symbol names by index (index 0 is the null symbol, 1 an undefined reference).
    pub symbols: Vec<Vec<u8>>,
    pub dynamic_offset: usize,
    pub dynamic_len: usize,
    pub phnum: u16,
    pub shnum: u16,
    pub interp: &'static [u8],
    pub relocs: Vec<(u64, u32, u32, i64)>,
    pub relr_addresses: Vec<u64>,
    pub note_desc: Vec<u8>,
}

const SECTION_NAMES: [&str; 11] = [
    "",
    ".interp",
    ".dynstr",
    ".dynsym",
    ".gnu.hash",
    ".hash",
    ".rel.dyn",
    ".relr.dyn",
    ".note.nixos.ldcache",
    ".dynamic",
    ".shstrtab",
];

/// Builds an ET_DYN image of `class` (ELF64 for x86_64 with RELA, ELF32 for arm with REL).
pub fn build(class: Class) -> Image {
    let w = class.word_size() as u64;
    let (machine, rela, relative, glob_dat) = match class {
        Class::Elf64 => (EM_X86_64, true, x86_64::RELATIVE, x86_64::GLOB_DAT),
        Class::Elf32 => (EM_ARM, false, arm::RELATIVE, arm::GLOB_DAT),
    };
    let interp: &'static [u8] = b"/lib/ld-musl-test.so.1";

    // Strings and symbols.
    let mut dynstr = vec![0u8];
    let mut add_str = |s: &[u8]| {
        let off = dynstr.len() as u64;
        dynstr.extend_from_slice(s);
        dynstr.push(0);
        off
    };
    let needed = [add_str(b"libc.so"), add_str(b"libm.so")];
    let soname = add_str(b"libtest.so");
    let runpath = add_str(b"$ORIGIN/../lib");
    let hashed: [&[u8]; 6] = [b"malloc", b"free", b"printf", b"exit", b"tls_var", b"old_version"];
    let gnu = build_gnu_hash(class, 2, &hashed, 3, 2, 6);
    let mut symbols: Vec<Vec<u8>> = vec![b"".to_vec(), b"undefined_ref".to_vec()];
    symbols.extend(gnu.order.iter().cloned());
    let mut dynsym = Vec::new();
    let mut versym = Vec::new();
    for (i, name) in symbols.iter().enumerate() {
        let name_off = if i == 0 { 0 } else { add_str(name) as u32 };
        let (info, shndx, value, size) = match name.as_slice() {
            b"" => (0, SHN_UNDEF, 0, 0),
            b"undefined_ref" => ((STB_GLOBAL << 4) | STT_FUNC, SHN_UNDEF, 0, 0),
            b"tls_var" => ((STB_GLOBAL << 4) | STT_TLS, 7, 0x10, 4),
            b"free" => ((STB_WEAK << 4) | STT_FUNC, 7, 0x2000 + i as u64, 8),
            _ => ((STB_GLOBAL << 4) | STT_FUNC, 7, 0x2000 + i as u64, 8),
        };
        put_u32(&mut dynsym, name_off);
        match class {
            Class::Elf32 => {
                put_u32(&mut dynsym, value as u32);
                put_u32(&mut dynsym, size as u32);
                dynsym.extend_from_slice(&[info, STV_DEFAULT]);
                put_u16(&mut dynsym, shndx);
            }
            Class::Elf64 => {
                dynsym.extend_from_slice(&[info, STV_DEFAULT]);
                put_u16(&mut dynsym, shndx);
                put_word(&mut dynsym, class, value);
                put_word(&mut dynsym, class, size);
            }
        }
        let v = match name.as_slice() {
            b"" => VER_NDX_LOCAL,
            b"old_version" => 2 | VERSYM_HIDDEN,
            _ => VER_NDX_GLOBAL,
        };
        put_u16(&mut versym, v);
    }
    let sysv = build_sysv_hash(&symbols, 3);

    // Relocations: one RELATIVE, one GLOB_DAT against symbol 2, in REL or RELA form.
    let relocs = vec![(BASE + 0x100, relative, 0, 0x20i64), (BASE + 0x100 + w, glob_dat, 2, -8)];
    let mut rel = Vec::new();
    for &(offset, kind, sym, addend) in &relocs {
        put_word(&mut rel, class, offset);
        match class {
            Class::Elf32 => put_u32(&mut rel, (sym << 8) | kind),
            Class::Elf64 => put_word(&mut rel, class, (u64::from(sym) << 32) | u64::from(kind)),
        }
        if rela {
            put_word(&mut rel, class, addend as u64);
        }
    }
    let relocs = if rela { relocs } else { relocs.into_iter().map(|(o, k, s, _)| (o, k, s, 0)).collect() };
    // RELR: an address, then a bitmap for words 0 and 2 after it.
    let mut relr = Vec::new();
    put_word(&mut relr, class, BASE + 0x200);
    put_word(&mut relr, class, 0b1011);
    let relr_addresses = vec![BASE + 0x200, BASE + 0x200 + w, BASE + 0x200 + 3 * w];

    // A NixOS-style note.
    let note_desc = b"libc.so=/nix/store/x/lib/libc.so\n".to_vec();
    let mut note = Vec::new();
    put_u32(&mut note, 6);
    put_u32(&mut note, note_desc.len() as u32);
    put_u32(&mut note, NIXOS_NOTE_TYPE);
    note.extend_from_slice(b"NixOS\0\0\0");
    note.extend_from_slice(&note_desc);
    while note.len() % 4 != 0 {
        note.push(0);
    }

    // Layout: header, 5 program headers, then the blobs 8-aligned, then section headers.
    let phnum = 5u16;
    let mut offset = class.header_size() + phnum as usize * class.program_header_size();
    let mut place = |len: usize| {
        offset = offset.div_ceil(8) * 8;
        let at = offset;
        offset += len;
        at
    };
    let mut interp_z = interp.to_vec();
    interp_z.push(0);
    let blobs_before_dynamic: Vec<&[u8]> = vec![&interp_z, &dynstr, &dynsym, &gnu.bytes, &sysv, &rel, &relr, &note];
    let at: Vec<usize> = blobs_before_dynamic.iter().map(|b| place(b.len())).collect();
    let versym_at = place(versym.len());
    let addr = |i: usize| BASE + at[i] as u64;
    let (rel_tag, relsz_tag, relent_tag) =
        if rela { (DT_RELA, DT_RELASZ, DT_RELAENT) } else { (DT_REL, DT_RELSZ, DT_RELENT) };
    let dyn_entries = [
        (DT_NEEDED, needed[0]),
        (DT_NEEDED, needed[1]),
        (DT_SONAME, soname),
        (DT_RUNPATH, runpath),
        (DT_STRTAB, addr(1)),
        (DT_STRSZ, dynstr.len() as u64),
        (DT_SYMTAB, addr(2)),
        (DT_SYMENT, class.symbol_size() as u64),
        (DT_GNU_HASH, addr(3)),
        (DT_HASH, addr(4)),
        (rel_tag, addr(5)),
        (relsz_tag, rel.len() as u64),
        (relent_tag, rel.len() as u64 / 2),
        (DT_RELR, addr(6)),
        (DT_RELRSZ, relr.len() as u64),
        (DT_RELRENT, w),
        (DT_VERSYM, BASE + versym_at as u64),
        (DT_FLAGS_1, DF_1_NOW),
        (DT_NULL, 0),
    ];
    let mut dynamic = Vec::new();
    for (t, v) in dyn_entries {
        put_word(&mut dynamic, class, t);
        put_word(&mut dynamic, class, v);
    }
    let dynamic_at = place(dynamic.len());
    let mut shstrtab = Vec::new();
    let shname: Vec<u32> = SECTION_NAMES
        .iter()
        .map(|n| {
            let o = shstrtab.len() as u32;
            shstrtab.extend_from_slice(n.as_bytes());
            shstrtab.push(0);
            o
        })
        .collect();
    let shstrtab_at = place(shstrtab.len());
    let shoff = place(SECTION_NAMES.len() * class.section_header_size());
    let total = offset;

    let mut out = Vec::new();
    // File header.
    out.extend_from_slice(&ELFMAG);
    out.extend_from_slice(&[if class == Class::Elf64 { ELFCLASS64 } else { ELFCLASS32 }, ELFDATA2LSB, EV_CURRENT]);
    out.resize(EI_NIDENT, 0);
    put_u16(&mut out, ET_DYN);
    put_u16(&mut out, machine);
    put_u32(&mut out, 1);
    put_word(&mut out, class, BASE + 0x1234); // e_entry
    put_word(&mut out, class, class.header_size() as u64); // e_phoff
    put_word(&mut out, class, shoff as u64);
    put_u32(&mut out, 0x5000_0400); // e_flags (arm's EABI5 + hard float, harmless elsewhere)
    put_u16(&mut out, class.header_size() as u16);
    put_u16(&mut out, class.program_header_size() as u16);
    put_u16(&mut out, phnum);
    put_u16(&mut out, class.section_header_size() as u16);
    put_u16(&mut out, SECTION_NAMES.len() as u16);
    put_u16(&mut out, SECTION_NAMES.len() as u16 - 1);
    assert_eq!(out.len(), class.header_size());

    // Program headers: (type, flags, offset, filesz, memsz, align).
    let phdr_len = phnum as u64 * class.program_header_size() as u64;
    let phdrs = [
        (PT_PHDR, PF_R, class.header_size() as u64, phdr_len, phdr_len, w),
        (PT_INTERP, PF_R, at[0] as u64, interp_z.len() as u64, interp_z.len() as u64, 1),
        (PT_LOAD, PF_R | PF_W, 0, total as u64, total as u64 + 0x100, 0x1000),
        (PT_DYNAMIC, PF_R | PF_W, dynamic_at as u64, dynamic.len() as u64, dynamic.len() as u64, w),
        (PT_NOTE, PF_R, at[7] as u64, note.len() as u64, note.len() as u64, 4),
    ];
    for (typ, flags, off, filesz, memsz, align) in phdrs {
        put_u32(&mut out, typ);
        if class == Class::Elf64 {
            put_u32(&mut out, flags);
        }
        put_word(&mut out, class, off);
        put_word(&mut out, class, BASE + off);
        put_word(&mut out, class, BASE + off);
        put_word(&mut out, class, filesz);
        put_word(&mut out, class, memsz);
        if class == Class::Elf32 {
            put_u32(&mut out, flags);
        }
        put_word(&mut out, class, align);
    }

    let mut blobs: Vec<(usize, &[u8])> = at.iter().copied().zip(blobs_before_dynamic.iter().copied()).collect();
    blobs.push((versym_at, &versym));
    blobs.push((dynamic_at, &dynamic));
    blobs.push((shstrtab_at, &shstrtab));
    out.resize(total, 0);
    for (at, blob) in blobs {
        out[at..at + blob.len()].copy_from_slice(blob);
    }

    // Section headers: (type, offset, size, link, entsize); index = SECTION_NAMES index.
    let sections = [
        (SHT_NULL, 0, 0, 0, 0),
        (SHT_PROGBITS, at[0], interp_z.len(), 0, 0),
        (SHT_STRTAB, at[1], dynstr.len(), 0, 0),
        (SHT_DYNSYM, at[2], dynsym.len(), 2, class.symbol_size()),
        (SHT_GNU_HASH, at[3], gnu.bytes.len(), 3, 0),
        (SHT_HASH, at[4], sysv.len(), 3, 4),
        (if rela { SHT_RELA } else { SHT_REL }, at[5], rel.len(), 3, rel.len() / 2),
        (SHT_RELR, at[6], relr.len(), 0, w as usize),
        (SHT_NOTE, at[7], note.len(), 0, 0),
        (SHT_DYNAMIC, dynamic_at, dynamic.len(), 2, class.dynamic_entry_size()),
        (SHT_STRTAB, shstrtab_at, shstrtab.len(), 0, 0),
    ];
    let mut sh = Vec::new();
    for (i, (typ, off, size, link, entsize)) in sections.into_iter().enumerate() {
        put_u32(&mut sh, shname[i]);
        put_u32(&mut sh, typ);
        put_word(&mut sh, class, 2); // SHF_ALLOC
        put_word(&mut sh, class, if i == 0 || i == 10 { 0 } else { BASE + off as u64 });
        put_word(&mut sh, class, off as u64);
        put_word(&mut sh, class, size as u64);
        put_u32(&mut sh, link);
        put_u32(&mut sh, 0);
        put_word(&mut sh, class, if typ == SHT_NOTE { 4 } else { 1 });
        put_word(&mut sh, class, entsize as u64);
    }
    out[shoff..shoff + sh.len()].copy_from_slice(&sh);

    Image {
        class,
        bytes: out,
        symbols,
        dynamic_offset: dynamic_at,
        dynamic_len: dynamic.len(),
        phnum,
        shnum: SECTION_NAMES.len() as u16,
        interp,
        relocs,
        relr_addresses,
        note_desc,
    }
}

/// Everything a symbol lookup needs, read from a whole file through its dynamic section the
/// way the loader reads it from memory (addresses translated to file offsets).
pub struct DynView<'a> {
    pub header: stormless_elf::Header,
    pub phdrs: stormless_elf::ProgramHeaders<'a>,
    pub dynamic: stormless_elf::Dynamic<'a>,
    pub info: stormless_elf::DynamicInfo,
    pub strtab: &'a [u8],
    pub symtab: stormless_elf::SymbolTable<'a>,
    pub gnu: Option<stormless_elf::GnuHashTable<'a>>,
    pub sysv: Option<stormless_elf::SysvHashTable<'a>>,
    pub versym: Option<&'a [u8]>,
}

/// The file bytes from virtual address `vaddr` to the end of the file.
pub fn at_vaddr<'a>(file: &'a [u8], phdrs: &stormless_elf::ProgramHeaders<'_>, vaddr: u64) -> &'a [u8] {
    let off = phdrs.vaddr_to_offset(vaddr).expect("address in a PT_LOAD") as usize;
    &file[off..]
}

pub fn dyn_view(file: &[u8]) -> DynView<'_> {
    use stormless_elf::*;
    let header = Header::parse(file).unwrap();
    let phdrs = header.program_headers(file).unwrap();
    let pt_dynamic = phdrs.find(PT_DYNAMIC).expect("PT_DYNAMIC");
    let dynamic = Dynamic::new(pt_dynamic.file_bytes(file).unwrap(), header.class);
    let info = dynamic.info();
    let strsz = info.get(DT_STRSZ).unwrap() as usize;
    let strtab = &at_vaddr(file, &phdrs, info.get(DT_STRTAB).unwrap())[..strsz];
    let gnu = info.gnu_hash.map(|a| GnuHashTable::parse(at_vaddr(file, &phdrs, a), header.class).unwrap());
    let sysv = info.get(DT_HASH).map(|a| SysvHashTable::parse(at_vaddr(file, &phdrs, a)).unwrap());
    let count = match (sysv, gnu) {
        (Some(s), _) => s.symbol_count(),
        (None, Some(g)) => g.symbol_count().unwrap(),
        (None, None) => panic!("no hash table"),
    };
    let symbytes = at_vaddr(file, &phdrs, info.get(DT_SYMTAB).unwrap());
    let symtab = SymbolTable::new(&symbytes[..count * header.class.symbol_size()], header.class);
    let versym = info.versym.map(|a| at_vaddr(file, &phdrs, a));
    DynView { header, phdrs, dynamic, info, strtab, symtab, gnu, sysv, versym }
}

impl DynView<'_> {
    /// musl's acceptance test for a candidate, minus the type/binding rules: defined, not a
    /// hidden version, and named `name`.
    fn accepts(&self, index: u32, name: &[u8]) -> Option<stormless_elf::Sym> {
        let sym = self.symtab.get(index as usize)?;
        if sym.is_undefined() {
            return None;
        }
        if let Some(v) = self.versym {
            if stormless_elf::is_hidden_version(stormless_elf::versym(v, index as usize)?) {
                return None;
            }
        }
        (stormless_elf::cstr(self.strtab, sym.name.into())? == name).then_some(sym)
    }

    pub fn lookup_gnu(&self, name: &[u8]) -> Option<(u32, stormless_elf::Sym)> {
        let table = self.gnu?;
        table.candidates(stormless_elf::gnu_hash(name)).find_map(|i| Some((i, self.accepts(i, name)?)))
    }

    pub fn lookup_sysv(&self, name: &[u8]) -> Option<(u32, stormless_elf::Sym)> {
        let table = self.sysv?;
        table.candidates(stormless_elf::sysv_hash(name)).find_map(|i| Some((i, self.accepts(i, name)?)))
    }
}
