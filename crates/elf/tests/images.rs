//! Hand-built ELF32 and ELF64 images read through every view of the crate.

mod common;

use common::{build, dyn_view, BASE, NIXOS_NOTE_TYPE};
use stormless_elf::consts::*;
use stormless_elf::*;

fn both() -> [common::Image; 2] {
    [build(Class::Elf32), build(Class::Elf64)]
}

#[test]
fn header_and_program_headers() {
    for img in both() {
        let h = Header::parse(&img.bytes).unwrap();
        assert_eq!(h.class, img.class);
        assert_eq!(h.typ, ET_DYN);
        assert_eq!(h.machine, if img.class == Class::Elf64 { EM_X86_64 } else { EM_ARM });
        assert_eq!(h.entry, BASE + 0x1234);
        assert_eq!(h.phoff, img.class.header_size() as u64);
        assert_eq!(h.phnum, img.phnum);
        assert_eq!(h.shnum, img.shnum);
        assert_eq!(h.flags, 0x5000_0400);
        let ph = h.program_headers(&img.bytes).unwrap();
        assert_eq!(ph.len(), 5);
        let types: Vec<u32> = ph.iter().map(|p| p.typ).collect();
        assert_eq!(types, [PT_PHDR, PT_INTERP, PT_LOAD, PT_DYNAMIC, PT_NOTE]);
        let interp = ph.find(PT_INTERP).unwrap();
        assert_eq!(cstr(interp.file_bytes(&img.bytes).unwrap(), 0), Some(img.interp));
        let load = ph.find(PT_LOAD).unwrap();
        assert_eq!((load.flags, load.align, load.memsz - load.filesz), (PF_R | PF_W, 0x1000, 0x100));
        let dynamic = ph.find(PT_DYNAMIC).unwrap();
        assert_eq!(dynamic.offset as usize, img.dynamic_offset);
        assert_eq!(ph.vaddr_to_offset(dynamic.vaddr), Some(dynamic.offset));
        assert_eq!(ph.vaddr_to_offset(BASE - 1), None);
        assert_eq!(ph.vaddr_to_offset(BASE + load.filesz), None);
        assert!(ph.find(PT_TLS).is_none());
        // The same table read the loader's way, from memory, via AT_PHDR/AT_PHNUM.
        let at_phdr = &img.bytes[h.phoff as usize..];
        let mem = program_headers_from(at_phdr, img.class, h.phnum.into()).unwrap();
        assert!(mem.iter().eq(ph.iter()));
        assert_eq!(mem.get(5), None);
        assert!(program_headers_from(&at_phdr[..10], img.class, 1).is_err());
        assert!(program_headers_from(at_phdr, img.class, usize::MAX).is_err());
        assert!(program_headers_from(at_phdr, img.class, 0).unwrap().is_empty());
    }
}

#[test]
fn header_rejects_each_bad_field() {
    for img in both() {
        let hs = img.class.header_size();
        let bad = |patch: &dyn Fn(&mut Vec<u8>)| {
            let mut b = img.bytes.clone();
            patch(&mut b);
            Header::parse(&b).unwrap_err()
        };
        assert_eq!(bad(&|b| b[0] = 0x7e), Error::BadMagic);
        assert_eq!(bad(&|b| b[EI_CLASS] = 3), Error::BadClass);
        assert_eq!(bad(&|b| b[EI_DATA] = 2), Error::BadEncoding);
        assert_eq!(bad(&|b| b[EI_VERSION] = 0), Error::BadVersion);
        assert_eq!(bad(&|b| b[16] = ET_REL as u8), Error::BadType);
        assert_eq!(bad(&|b| b[16] = ET_CORE as u8), Error::BadType);
        let phentsize_at = hs - 10;
        assert_eq!(bad(&|b| b[phentsize_at] += 1), Error::BadPhentsize);
        let phnum_at = hs - 8;
        assert_eq!(bad(&|b| b[phnum_at..phnum_at + 2].copy_from_slice(&[0xff, 0xff])), Error::Truncated);
        // e_phoff near the top of the address space: the end overflows.
        let phoff_at = 24 + img.class.word_size();
        let top = &[0xff; 8][..img.class.word_size()];
        let e = bad(&|b| b[phoff_at..phoff_at + top.len()].copy_from_slice(top));
        assert!(e == Error::Overflow || e == Error::Truncated, "{e:?}");
        // A header whose table is outside the bytes given.
        let table_end = hs + img.phnum as usize * img.class.program_header_size();
        assert_eq!(Header::parse(&img.bytes[..table_end - 1]).unwrap_err(), Error::Truncated);
        assert!(Header::parse(&img.bytes[..table_end]).is_ok());
        for e in [Error::BadMagic, Error::Truncated, Error::BadRelr] {
            assert!(e.message().starts_with("Exec format error"));
            assert_eq!(format!("{e}"), e.message());
        }
    }
}

#[test]
fn dynamic_section_and_strings() {
    for img in both() {
        let v = dyn_view(&img.bytes);
        let needed: Vec<&[u8]> = v.dynamic.needed().map(|o| cstr(v.strtab, o).unwrap()).collect();
        assert_eq!(needed, [&b"libc.so"[..], b"libm.so"]);
        assert_eq!(cstr(v.strtab, v.info.get(DT_SONAME).unwrap()), Some(&b"libtest.so"[..]));
        assert_eq!(cstr(v.strtab, v.info.search_path().unwrap()), Some(&b"$ORIGIN/../lib"[..]));
        assert_eq!(v.info.get(DT_RELRENT), Some(img.class.word_size() as u64));
        assert_eq!(v.info.flags_1, Some(DF_1_NOW));
        assert!(v.info.bind_now());
        assert_eq!(v.dynamic.entries().count(), 18);
        assert_eq!(img.dynamic_len, 19 * img.class.dynamic_entry_size());
    }
}

#[test]
fn symbols_found_through_both_hash_tables() {
    for img in both() {
        let v = dyn_view(&img.bytes);
        let gnu = v.gnu.unwrap();
        assert_eq!((gnu.nbuckets(), gnu.symoffset(), gnu.bloom_size(), gnu.bloom_shift()), (3, 2, 2, 6));
        assert_eq!(gnu.symbol_count(), Some(img.symbols.len()));
        assert_eq!(v.sysv.unwrap().symbol_count(), img.symbols.len());
        for name in [&b"malloc"[..], b"free", b"printf", b"exit", b"tls_var"] {
            let index = img.symbols.iter().position(|s| s == name).unwrap() as u32;
            let (gi, gsym) = v.lookup_gnu(name).unwrap_or_else(|| panic!("{name:?} via GNU hash"));
            let (si, ssym) = v.lookup_sysv(name).unwrap_or_else(|| panic!("{name:?} via SysV hash"));
            assert_eq!((gi, si), (index, index));
            assert_eq!(gsym, ssym);
            assert!(!gsym.is_undefined());
        }
        let (_, tls) = v.lookup_gnu(b"tls_var").unwrap();
        assert_eq!((tls.typ(), tls.bind(), tls.value, tls.size), (STT_TLS, STB_GLOBAL, 0x10, 4));
        assert_eq!(v.lookup_gnu(b"free").unwrap().1.bind(), STB_WEAK);
        // The hidden version and the undefined reference are not definitions.
        assert!(v.lookup_gnu(b"old_version").is_none() && v.lookup_sysv(b"old_version").is_none());
        assert!(v.lookup_sysv(b"undefined_ref").is_none());
        assert!(v.lookup_gnu(b"undefined_ref").is_none()); // below symoffset: not hashed
        for absent in [&b"mallo"[..], b"", b"calloc", b"printf2"] {
            assert!(v.lookup_gnu(absent).is_none() && v.lookup_sysv(absent).is_none());
        }
    }
}

#[test]
fn relocations_relr_and_notes() {
    for img in both() {
        let v = dyn_view(&img.bytes);
        let (tag, size_tag, format) = match img.class {
            Class::Elf64 => (DT_RELA, DT_RELASZ, RelocFormat::Rela),
            Class::Elf32 => (DT_REL, DT_RELSZ, RelocFormat::Rel),
        };
        let bytes =
            &common::at_vaddr(&img.bytes, &v.phdrs, v.info.get(tag).unwrap())[..v.info.get(size_tag).unwrap() as usize];
        let got: Vec<Reloc> = Relocs::new(bytes, img.class, format).unwrap().collect();
        let want: Vec<Reloc> = img
            .relocs
            .iter()
            .map(|&(offset, kind, sym, addend)| Reloc {
                offset,
                kind,
                sym,
                addend: (format == RelocFormat::Rela).then_some(addend),
            })
            .collect();
        assert_eq!(got, want);

        let relr = &common::at_vaddr(&img.bytes, &v.phdrs, v.info.get(DT_RELR).unwrap())
            [..v.info.get(DT_RELRSZ).unwrap() as usize];
        let addresses: Result<Vec<u64>, Error> = Relr::new(relr, img.class).unwrap().collect();
        assert_eq!(addresses.unwrap(), img.relr_addresses);

        let note_ph = v.phdrs.find(PT_NOTE).unwrap();
        let notes: Vec<Note> =
            Notes::new(note_ph.file_bytes(&img.bytes).unwrap(), NoteAlign::from_segment_align(note_ph.align))
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(notes, [Note { name: b"NixOS", kind: NIXOS_NOTE_TYPE, desc: &img.note_desc }]);
    }
}

#[test]
fn section_headers_by_name_and_type() {
    for img in both() {
        let h = Header::parse(&img.bytes).unwrap();
        let sections = SectionHeaders::parse(&img.bytes, &h).unwrap();
        assert_eq!(sections.len(), img.shnum as usize);
        let note = sections.find(b".note.nixos.ldcache").unwrap();
        assert_eq!(note.typ, SHT_NOTE);
        let n = Notes::new(note.file_bytes(&img.bytes).unwrap(), NoteAlign::from_segment_align(note.addralign))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(n.name, b"NixOS");
        let dynsym = sections.find_type(SHT_DYNSYM).unwrap();
        assert_eq!(sections.name(&dynsym), Some(&b".dynsym"[..]));
        assert_eq!(dynsym.entsize, img.class.symbol_size() as u64);
        let dynstr = sections.get(dynsym.link as usize).unwrap();
        assert_eq!(sections.name(&dynstr), Some(&b".dynstr"[..]));
        assert_eq!(sections.iter().count(), img.shnum as usize);
        assert!(sections.find(b".text").is_none());
        assert_eq!(sections.get(0).unwrap().typ, SHT_NULL);
        assert!(sections.get(img.shnum as usize).is_none());

        // Without section headers the table is empty; with a bad entry size it is an error.
        let stripped = Header { shoff: 0, shnum: 0, ..h };
        assert!(SectionHeaders::parse(&img.bytes, &stripped).unwrap().is_empty());
        let bad = Header { shentsize: h.shentsize + 1, ..h };
        assert_eq!(SectionHeaders::parse(&img.bytes, &bad).unwrap_err(), Error::BadShentsize);
        let far = Header { shoff: u64::MAX - 3, ..h };
        assert!(SectionHeaders::parse(&img.bytes, &far).is_err());
        let many = Header { shnum: 0xfeff, ..h };
        assert_eq!(SectionHeaders::parse(&img.bytes, &many).unwrap_err(), Error::Truncated);
        let bad_names = Header { shstrndx: 99, ..h };
        assert_eq!(SectionHeaders::parse(&img.bytes, &bad_names).unwrap_err(), Error::Truncated);
        let no_names = Header { shstrndx: SHN_UNDEF, ..h };
        assert_eq!(SectionHeaders::parse(&img.bytes, &no_names).unwrap().find(b".dynsym"), None);
    }
}
