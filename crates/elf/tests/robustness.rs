//! Malformed input never panics or hangs: every truncation and thousands of random byte flips
//! of small images (hand-built and real) go through every parser of the crate.

mod common;

use stormless_elf::consts::*;
use stormless_elf::*;

/// xorshift64: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const NAMES: [&[u8]; 5] = [b"malloc", b"printf", b"tls_var", b"", b"old_version"];

/// Runs every view over whatever `file` appears to contain, consuming every iterator.
/// Returns a checksum so the work cannot be optimised away.
fn exercise(file: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut add = |x: u64| sum = sum.wrapping_mul(31).wrapping_add(x);
    for class in [Class::Elf32, Class::Elf64] {
        // Raw parsers straight on the bytes, whatever they are.
        add(Dynamic::new(file, class).entries().count() as u64);
        add(Dynamic::new(file, class).info().flags());
        add(SymbolTable::new(file, class).iter().count() as u64);
        if let Ok(g) = GnuHashTable::parse(file, class) {
            add(g.symbol_count().unwrap_or(0) as u64);
            NAMES.iter().for_each(|n| add(g.candidates(gnu_hash(n)).count() as u64));
        }
        if let Ok(r) = Relocs::new(file, class, RelocFormat::Rela) {
            add(r.count() as u64);
        }
        if let Ok(r) = Relr::new(file, class) {
            add(r.take(1 << 16).count() as u64);
        }
        add(program_headers_from(file, class, 64).map(|p| p.iter().count()).unwrap_or(0) as u64);
    }
    if let Ok(s) = SysvHashTable::parse(file) {
        NAMES.iter().for_each(|n| add(s.candidates(sysv_hash(n)).count() as u64));
    }
    add(Notes::new(file, NoteAlign::Four).count() as u64);
    add(Notes::new(file, NoteAlign::Eight).count() as u64);
    add(cstr(file, 1).map_or(0, |s| s.len() as u64));

    // The structured path, as the loader and the CLI walk an object.
    let Ok(h) = Header::parse(file) else { return sum };
    let class = h.class;
    let ph = h.program_headers(file).expect("parse validated the table");
    if let Ok(sections) = SectionHeaders::parse(file, &h) {
        for s in sections.iter() {
            add(sections.name(&s).map_or(0, |n| n.len() as u64));
            add(s.file_bytes(file).map_or(0, |b| b.len() as u64));
        }
        add(sections.find(b".dynsym").is_some() as u64);
    }
    let slice_at = |vaddr: u64| ph.vaddr_to_offset(vaddr).and_then(|o| file.get(usize::try_from(o).ok()?..));
    for p in ph.iter() {
        let Some(bytes) = p.file_bytes(file) else { continue };
        match p.typ {
            PT_NOTE => {
                add(Notes::new(bytes, NoteAlign::from_segment_align(p.align)).filter(Result::is_ok).count() as u64)
            }
            PT_INTERP => add(cstr(bytes, 0).map_or(0, |s| s.len() as u64)),
            PT_DYNAMIC => {
                let d = Dynamic::new(bytes, class);
                let info = d.info();
                let strtab = info.get(DT_STRTAB).and_then(slice_at).unwrap_or(&[]);
                d.needed().for_each(|o| add(cstr(strtab, o).map_or(0, |s| s.len() as u64)));
                let symtab = SymbolTable::new(info.get(DT_SYMTAB).and_then(slice_at).unwrap_or(&[]), class);
                let versyms = info.versym.and_then(slice_at).unwrap_or(&[]);
                let visit = |i: u32| {
                    symtab.get(i as usize).map_or(0, |sym| {
                        let name_len = cstr(strtab, sym.name.into()).map_or(0, |s| s.len() as u64);
                        name_len + versym(versyms, i as usize).is_some_and(is_hidden_version) as u64
                    })
                };
                if let Some(g) = info.gnu_hash.and_then(slice_at).and_then(|b| GnuHashTable::parse(b, class).ok()) {
                    add(g.symbol_count().unwrap_or(0) as u64);
                    NAMES.iter().for_each(|n| g.candidates(gnu_hash(n)).for_each(|i| add(visit(i))));
                }
                if let Some(s) = info.get(DT_HASH).and_then(slice_at).and_then(|b| SysvHashTable::parse(b).ok()) {
                    NAMES.iter().for_each(|n| s.candidates(sysv_hash(n)).for_each(|i| add(visit(i))));
                }
                for (tag, size, format) in
                    [(DT_REL, DT_RELSZ, RelocFormat::Rel), (DT_RELA, DT_RELASZ, RelocFormat::Rela)]
                {
                    let table =
                        info.get(tag).and_then(slice_at).zip(info.get(size)).and_then(|(b, n)| b.get(..n as usize));
                    if let Some(Ok(r)) = table.map(|b| Relocs::new(b, class, format)) {
                        r.for_each(|r| add(r.offset ^ u64::from(r.kind)));
                    }
                }
                let relr = info
                    .get(DT_RELR)
                    .and_then(slice_at)
                    .zip(info.get(DT_RELRSZ))
                    .and_then(|(b, n)| b.get(..n as usize));
                if let Some(Ok(r)) = relr.map(|b| Relr::new(b, class)) {
                    r.take(1 << 16).for_each(|a| add(a.unwrap_or(1)));
                }
            }
            _ => {}
        }
    }
    sum
}

fn images() -> Vec<Vec<u8>> {
    vec![common::build(Class::Elf32).bytes, common::build(Class::Elf64).bytes]
}

#[test]
fn every_truncation_of_built_images() {
    for img in images() {
        let full = exercise(&img);
        for len in 0..img.len() {
            exercise(&img[..len]);
        }
        assert_eq!(exercise(&img), full);
    }
}

#[test]
fn every_truncation_of_a_real_header() {
    let Ok(file) = std::fs::read("/bin/sh") else {
        eprintln!("skipping: /bin/sh not found");
        return;
    };
    let h = Header::parse(&file).unwrap();
    let table_end = h.phoff as usize + h.phnum as usize * h.class.program_header_size();
    for len in 0..table_end {
        assert!(Header::parse(&file[..len]).is_err(), "a {len}-byte prefix parsed");
        exercise(&file[..len]);
    }
    assert!(Header::parse(&file[..table_end]).is_ok());
}

#[test]
fn random_byte_flips_of_built_images() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for img in images() {
        for _ in 0..3000 {
            let mut b = img.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(b.len());
                b[at] = match rng.below(4) {
                    0 => 0xff,
                    1 => 0,
                    _ => rng.next() as u8,
                };
            }
            exercise(&b);
        }
    }
}

#[test]
fn random_byte_flips_of_a_real_object() {
    let Ok(file) = std::fs::read("/bin/sh") else {
        eprintln!("skipping: /bin/sh not found");
        return;
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Flip inside the parts the parsers read (headers, the dynamic tables near the start).
    let hot = file.len().min(0x4000);
    for _ in 0..150 {
        let mut b = file.clone();
        for _ in 0..1 + rng.below(16) {
            let at = rng.below(hot);
            b[at] ^= 1 << rng.below(8);
        }
        exercise(&b);
    }
}
