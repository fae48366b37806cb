//! The views on real objects of the host: `/bin/sh` and glibc's `libc.so.6` (x86_64 Debian).
//! Skipped, with a note, on a machine where they are not at those paths.

mod common;

use common::{at_vaddr, dyn_view};
use stormless_elf::consts::*;
use stormless_elf::reloc::x86_64;
use stormless_elf::*;

const SH: &str = "/bin/sh";
const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";

fn read(path: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok();
    if bytes.is_none() {
        eprintln!("skipping: {path} not found");
    }
    bytes
}

#[test]
fn bin_sh_has_an_interpreter_and_a_dynamic_section() {
    let Some(file) = read(SH) else { return };
    let h = Header::parse(&file).unwrap();
    assert_eq!((h.class, h.machine), (Class::Elf64, EM_X86_64));
    let ph = h.program_headers(&file).unwrap();
    let interp = cstr(ph.find(PT_INTERP).unwrap().file_bytes(&file).unwrap(), 0).unwrap();
    assert!(interp.starts_with(b"/lib") && interp.ends_with(b".so.2"), "{:?}", String::from_utf8_lossy(interp));
    assert!(ph.find(PT_GNU_STACK).is_some());
    assert!(ph.iter().filter(|p| p.typ == PT_LOAD).count() >= 2);
    let v = dyn_view(&file);
    let needed: Vec<&[u8]> = v.dynamic.needed().map(|o| cstr(v.strtab, o).unwrap()).collect();
    assert!(needed.contains(&&b"libc.so.6"[..]), "{needed:?}");
    let sections = SectionHeaders::parse(&file, &h).unwrap();
    assert_eq!(sections.find(b".interp").unwrap().offset, ph.find(PT_INTERP).unwrap().offset);
    assert_eq!(sections.find_type(SHT_DYNAMIC).unwrap().offset, ph.find(PT_DYNAMIC).unwrap().offset);
}

#[test]
fn libc_symbols_resolve_through_gnu_and_sysv_hash() {
    let Some(file) = read(LIBC) else { return };
    let v = dyn_view(&file);
    assert_eq!(v.header.typ, ET_DYN);
    assert!(v.phdrs.find(PT_INTERP).is_none() || v.phdrs.find(PT_DYNAMIC).is_some());
    assert!(v.phdrs.find(PT_TLS).is_some());
    assert_eq!(cstr(v.strtab, v.info.get(DT_SONAME).unwrap()), Some(&b"libc.so.6"[..]));
    let gnu = v.gnu.expect("libc.so.6 has DT_GNU_HASH");

    // The dynamic symbol count agrees between both tables and the section header.
    let sections = SectionHeaders::parse(&file, &v.header).unwrap();
    let dynsym = sections.find(b".dynsym").unwrap();
    let count = (dynsym.size / dynsym.entsize) as usize;
    assert_eq!(gnu.symbol_count(), Some(count));
    if let Some(sysv) = v.sysv {
        assert_eq!(sysv.symbol_count(), count);
    }

    let (_, malloc) = v.lookup_gnu(b"malloc").expect("malloc via GNU hash");
    assert_eq!((malloc.typ(), malloc.bind()), (STT_FUNC, STB_GLOBAL));
    assert!(malloc.value != 0 && !malloc.is_undefined());
    if v.sysv.is_some() {
        assert_eq!(v.lookup_sysv(b"malloc").unwrap().1, malloc);
    }
    let (_, errno) = v.lookup_gnu(b"errno").expect("errno (TLS)");
    assert_eq!(errno.typ(), STT_TLS);
    assert!(v.lookup_gnu(b"no_such_symbol_in_libc").is_none());

    // Every defined, default-version symbol is found under its own name by both tables.
    let versym = v.versym.unwrap();
    let mut checked = 0;
    for (i, sym) in v.symtab.iter().skip(gnu.symoffset() as usize) {
        if sym.is_undefined() || is_hidden_version(stormless_elf::versym(versym, i).unwrap()) {
            continue;
        }
        let name = cstr(v.strtab, sym.name.into()).unwrap();
        let (gi, _) = v.lookup_gnu(name).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(name)));
        assert_eq!(cstr(v.strtab, v.symtab.get(gi as usize).unwrap().name.into()), Some(name));
        if v.sysv.is_some() {
            assert_eq!(v.lookup_sysv(name).unwrap().0, gi);
        }
        checked += 1;
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn libc_relocations_relr_and_notes() {
    let Some(file) = read(LIBC) else { return };
    let v = dyn_view(&file);
    let count = v.symtab.len() as u32;
    let known = [
        x86_64::NONE,
        x86_64::R64,
        x86_64::GLOB_DAT,
        x86_64::JUMP_SLOT,
        x86_64::RELATIVE,
        x86_64::DTPMOD64,
        x86_64::DTPOFF64,
        x86_64::TPOFF64,
        x86_64::TLSDESC,
        x86_64::IRELATIVE,
        x86_64::COPY,
    ];
    let table = |addr: u64, size: u64| &at_vaddr(&file, &v.phdrs, addr)[..size as usize];
    let mut total = 0;
    for (addr, size) in [(DT_RELA, DT_RELASZ), (DT_JMPREL, DT_PLTRELSZ)] {
        let (Some(a), Some(s)) = (v.info.get(addr), v.info.get(size)) else { continue };
        for r in Relocs::new(table(a, s), Class::Elf64, RelocFormat::Rela).unwrap() {
            assert!(known.contains(&r.kind), "{r:?}");
            assert!(r.sym < count, "{r:?}");
            assert!(v.phdrs.iter().any(|p| p.typ == PT_LOAD && r.offset >= p.vaddr && r.offset < p.vaddr + p.memsz));
            total += 1;
        }
    }
    assert!(total > 10);

    if let (Some(a), Some(s)) = (v.info.get(DT_RELR), v.info.get(DT_RELRSZ)) {
        let relro = v.phdrs.find(PT_GNU_RELRO).unwrap();
        let writable: Vec<_> = v.phdrs.iter().filter(|p| p.typ == PT_LOAD && p.flags & PF_W != 0).collect();
        let addrs: Vec<u64> = Relr::new(table(a, s), Class::Elf64).unwrap().map(Result::unwrap).collect();
        assert!(addrs.len() as u64 > s / 8, "bitmaps expand to more addresses than entries");
        assert!(addrs.windows(2).all(|w| w[0] < w[1]));
        for addr in &addrs {
            assert_eq!(addr % 8, 0);
            assert!(writable.iter().any(|p| *addr >= p.vaddr && *addr < p.vaddr + p.memsz));
        }
        assert!(addrs.iter().any(|a| *a >= relro.vaddr && *a < relro.vaddr + relro.memsz));
        if let Some(expected) = readelf_relr_offsets(LIBC) {
            assert_eq!(addrs, expected, "RELR decoding differs from readelf's");
        }
    }

    let mut build_id = None;
    for ph in v.phdrs.iter().filter(|p| p.typ == PT_NOTE) {
        for note in Notes::new(ph.file_bytes(&file).unwrap(), NoteAlign::from_segment_align(ph.align)) {
            let note = note.unwrap();
            if note.name == b"GNU" && note.kind == NT_GNU_BUILD_ID {
                build_id = Some(note.desc.len());
            }
        }
    }
    assert_eq!(build_id, Some(20));
}

/// The offsets `readelf -r` (binutils >= 2.38) lists for `.relr.dyn`, when readelf is there.
fn readelf_relr_offsets(path: &str) -> Option<Vec<u64>> {
    let out = std::process::Command::new("readelf").args(["-rW", path]).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let section = text.split("Relocation section").find(|s| s.contains(".relr.dyn"))?;
    let offsets: Vec<u64> = section.lines().skip(2).filter_map(|l| u64::from_str_radix(l.trim(), 16).ok()).collect();
    if offsets.is_empty() {
        eprintln!("readelf does not list RELR offsets; skipping the comparison");
        return None;
    }
    Some(offsets)
}
