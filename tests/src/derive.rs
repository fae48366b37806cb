//! `[[file]]` entries derived from a file the build made: a copy, with ELF fields patched
//! by name and the result optionally truncated, so every malformed object a fixture needs is
//! made from a real library at build time and reads as one line of the manifest.
//!
//! Names (values are read from the *original* file; a patch writes the field in place, as
//! wide as the field is in the file's class):
//! - `file_size`, `max_address` (`0xffffffff` or `0xffffffffffffffff`: the class's largest);
//! - ELF header: `ei_class`, `ei_data`, `e_type`, `e_machine`, `e_phoff`, `e_phentsize`,
//!   `e_phnum`;
//! - program headers: `<which>.<field>` with `which` = `phdrN` (the N-th header), `loadN` (the
//!   N-th PT_LOAD), `loadlast` (the last PT_LOAD), `dynamic` (PT_DYNAMIC), `tls` (PT_TLS),
//!   `relro` (PT_GNU_RELRO), N from 0, and
//!   `field` = `p_type`, `p_flags`, `p_offset`, `p_vaddr`, `p_paddr`, `p_filesz`, `p_memsz`,
//!   `p_align`; as a patch target also `load*.<field>`: that field of every PT_LOAD;
//! - the dynamic section: `dyn.DT_X` (the value of the first DT_X entry) and `dyn.DT_X.tag`
//!   (its tag word);
//! - relocations: `reloc0.r_offset` (the first entry of DT_RELA, else DT_REL) and
//!   `jmprel0.r_offset` (of DT_JMPREL);
//! - hash tables: `hash.nbucket`, `hash.nchain`, `gnu_hash.nbuckets`, `gnu_hash.symoffset`,
//!   `gnu_hash.bloom_size`, `gnu_hash.bloom_shift`, `gnu_hash.bucketN` (the N-th bucket, from
//!   0); as a patch target also `gnu_hash.bucket*`: every bucket.
//!
//! A value is a number or an expression `term (+|- term)*` of numbers (decimal or `0x` hex) and
//! names, e.g. `"load1.p_offset + load1.p_filesz - 16"`, or `{ elf32 = …, elf64 = … }`, one
//! per class; it must fit its field.
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use stormless_elf::consts::*;
use stormless_elf::{Class, Dynamic, Header, ProgramHeaders};

/// A number or an expression over named fields, or one of either per ELF class.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Value {
    Number(u64),
    Expr(String),
    /// `{ elf32 = …, elf64 = … }`: for a value that must differ with the address space (a size
    /// no allocation can satisfy is 0xf0000000 in a 32-bit process, far more in a 64-bit one).
    PerClass {
        elf32: Box<Value>,
        elf64: Box<Value>,
    },
}

/// One field to overwrite.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// A field name (see the module documentation).
    pub at: String,
    pub value: Value,
}

/// The recipe of a derived file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipe {
    pub patch: Vec<Patch>,
    /// Two program headers (`phdrN`, `loadN`, `dynamic`) whose entries trade places.
    pub swap: Option<[String; 2]>,
    /// Keep only the first this-many bytes (evaluated against the original).
    pub truncate: Option<Value>,
}

/// Where a named field sits in the file, and how wide it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    offset: usize,
    width: usize,
}

/// The original file and what is known of its layout.
struct Original<'a> {
    bytes: &'a [u8],
    header: Header,
    headers: ProgramHeaders<'a>,
}

const DYNAMIC_TAGS: &[(&str, u64)] = &[
    ("DT_NULL", DT_NULL),
    ("DT_NEEDED", DT_NEEDED),
    ("DT_PLTRELSZ", DT_PLTRELSZ),
    ("DT_HASH", DT_HASH),
    ("DT_STRTAB", DT_STRTAB),
    ("DT_SYMTAB", DT_SYMTAB),
    ("DT_RELA", DT_RELA),
    ("DT_RELASZ", DT_RELASZ),
    ("DT_STRSZ", DT_STRSZ),
    ("DT_SONAME", DT_SONAME),
    ("DT_RPATH", DT_RPATH),
    ("DT_REL", DT_REL),
    ("DT_RELSZ", DT_RELSZ),
    ("DT_JMPREL", DT_JMPREL),
    ("DT_INIT_ARRAY", DT_INIT_ARRAY),
    ("DT_INIT_ARRAYSZ", DT_INIT_ARRAYSZ),
    ("DT_RUNPATH", DT_RUNPATH),
    ("DT_RELR", DT_RELR),
    ("DT_RELRSZ", DT_RELRSZ),
    ("DT_GNU_HASH", DT_GNU_HASH),
    ("DT_VERSYM", DT_VERSYM),
];

impl<'a> Original<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Original<'a>> {
        let header = Header::parse(bytes).map_err(|e| anyhow::anyhow!("not a usable ELF file: {e}"))?;
        let headers = header.program_headers(bytes).map_err(|e| anyhow::anyhow!("program headers: {e}"))?;
        Ok(Original { bytes, header, headers })
    }

    fn class(&self) -> Class {
        self.header.class
    }

    fn word(&self) -> usize {
        self.class().word_size()
    }

    /// The index in the program header table of `which`.
    fn phdr_index(&self, which: &str) -> Result<usize> {
        let nth = |prefix: &str| which.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok());
        let found = if which == "dynamic" {
            self.headers.iter().position(|ph| ph.typ == PT_DYNAMIC)
        } else if which == "tls" {
            self.headers.iter().position(|ph| ph.typ == PT_TLS)
        } else if which == "relro" {
            self.headers.iter().position(|ph| ph.typ == PT_GNU_RELRO)
        } else if which == "loadlast" {
            self.headers.iter().enumerate().filter(|(_, ph)| ph.typ == PT_LOAD).last().map(|(i, _)| i)
        } else if let Some(n) = nth("load") {
            self.headers.iter().enumerate().filter(|(_, ph)| ph.typ == PT_LOAD).nth(n).map(|(i, _)| i)
        } else if let Some(n) = nth("phdr") {
            (n < self.headers.len()).then_some(n)
        } else {
            bail!("`{which}` names no program header (phdrN, loadN, dynamic)")
        };
        found.with_context(|| format!("the file has no program header `{which}`"))
    }

    fn phdr_entry(&self, which: &str) -> Result<Field> {
        let size = self.class().program_header_size();
        let offset = usize::try_from(self.header.phoff)? + self.phdr_index(which)? * size;
        Ok(Field { offset, width: size })
    }

    /// The file offset of virtual address `vaddr` (inside some PT_LOAD's file data).
    fn file_offset(&self, vaddr: u64) -> Result<usize> {
        let off = self.headers.vaddr_to_offset(vaddr).with_context(|| format!("{vaddr:#x} is in no file data"))?;
        Ok(usize::try_from(off)?)
    }

    /// The file offset of the first dynamic entry with `tag`.
    fn dynamic_entry(&self, tag: u64) -> Result<usize> {
        let ph = self.headers.find(PT_DYNAMIC).context("the file has no PT_DYNAMIC")?;
        let bytes = ph.file_bytes(self.bytes).context("PT_DYNAMIC is outside the file")?;
        let dynamic = Dynamic::new(bytes, self.class());
        let index = if tag == DT_NULL {
            dynamic.entries().count()
        } else {
            dynamic.entries().position(|(t, _)| t == tag).with_context(|| format!("no dynamic entry {tag:#x}"))?
        };
        Ok(usize::try_from(ph.offset)? + index * self.class().dynamic_entry_size())
    }

    fn field(&self, name: &str) -> Result<Field> {
        let w = self.word();
        let is64 = self.class() == Class::Elf64;
        let at = |offset, width| Ok(Field { offset, width });
        match name {
            "ei_class" => return at(EI_CLASS, 1),
            "ei_data" => return at(EI_DATA, 1),
            "e_type" => return at(16, 2),
            "e_machine" => return at(18, 2),
            "e_phoff" => return at(24 + w, w),
            "e_phentsize" => return at(if is64 { 54 } else { 42 }, 2),
            "e_phnum" => return at(if is64 { 56 } else { 44 }, 2),
            _ => {}
        }
        if let Some(rest) = name.strip_prefix("dyn.") {
            let (tag_name, tag_word) = match rest.strip_suffix(".tag") {
                Some(t) => (t, true),
                None => (rest, false),
            };
            let tag = DYNAMIC_TAGS
                .iter()
                .find(|(n, _)| *n == tag_name)
                .map(|&(_, t)| t)
                .with_context(|| format!("unknown dynamic tag `{tag_name}`"))?;
            let entry = self.dynamic_entry(tag)?;
            return at(if tag_word { entry } else { entry + w }, w);
        }
        // The first relocation of a table: `reloc0.r_offset` (DT_RELA, else DT_REL: the arch's own
        // form) and `jmprel0.r_offset` (DT_JMPREL), the word a relocation writes.
        if let Some(table) = name.strip_suffix("0.r_offset") {
            let address = match table {
                "reloc" => self.dynamic_value(DT_RELA).or_else(|_| self.dynamic_value(DT_REL))?,
                "jmprel" => self.dynamic_value(DT_JMPREL)?,
                _ => bail!("unknown name `{name}`"),
            };
            return at(self.file_offset(address)?, w);
        }
        if let Some(field) = name.strip_prefix("hash.") {
            let table = self.file_offset(self.dynamic_value(DT_HASH)?)?;
            return match field {
                "nbucket" => at(table, 4),
                "nchain" => at(table + 4, 4),
                _ => bail!("unknown field `{name}`"),
            };
        }
        if let Some(field) = name.strip_prefix("gnu_hash.") {
            let table = self.file_offset(self.dynamic_value(DT_GNU_HASH)?)?;
            if let Some(n) = field.strip_prefix("bucket") {
                let n: usize = n.parse().with_context(|| format!("unknown field `{name}`"))?;
                let nbuckets = self.read(Field { offset: table, width: 4 })?;
                let bloom_size = self.read(Field { offset: table + 8, width: 4 })?;
                if n as u64 >= nbuckets {
                    bail!("`{name}`: the table has {nbuckets} buckets");
                }
                return at(table + 16 + w * usize::try_from(bloom_size)? + 4 * n, 4);
            }
            let index = ["nbuckets", "symoffset", "bloom_size", "bloom_shift"]
                .iter()
                .position(|f| *f == field)
                .with_context(|| format!("unknown field `{name}`"))?;
            return at(table + 4 * index, 4);
        }
        let (which, field) = name.split_once('.').with_context(|| format!("unknown name `{name}`"))?;
        let entry = self.phdr_entry(which)?.offset;
        // (offset in ELF64, offset in ELF32) of each program header field.
        let (off64, off32) = match field {
            "p_type" => return at(entry, 4),
            "p_flags" => return at(entry + if is64 { 4 } else { 24 }, 4),
            "p_offset" => (8, 4),
            "p_vaddr" => (16, 8),
            "p_paddr" => (24, 12),
            "p_filesz" => (32, 16),
            "p_memsz" => (40, 20),
            "p_align" => (48, 28),
            _ => bail!("unknown program header field `{field}`"),
        };
        at(entry + if is64 { off64 } else { off32 }, w)
    }

    fn dynamic_value(&self, tag: u64) -> Result<u64> {
        let ph = self.headers.find(PT_DYNAMIC).context("the file has no PT_DYNAMIC")?;
        let bytes = ph.file_bytes(self.bytes).context("PT_DYNAMIC is outside the file")?;
        Dynamic::new(bytes, self.class()).find(tag).with_context(|| format!("no dynamic entry {tag:#x}"))
    }

    fn read(&self, f: Field) -> Result<u64> {
        let bytes = self.bytes.get(f.offset..f.offset + f.width).context("field outside the file")?;
        let mut word = [0u8; 8];
        word[..f.width].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(word))
    }

    fn name_value(&self, name: &str) -> Result<u64> {
        match name {
            "file_size" => Ok(self.bytes.len() as u64),
            "max_address" => Ok(self.class().max_address()),
            _ => self.read(self.field(name)?),
        }
    }

    fn eval(&self, value: &Value) -> Result<u64> {
        let text = match value {
            Value::Number(n) => return Ok(*n),
            Value::Expr(text) => text,
            Value::PerClass { elf32, elf64 } => {
                return self.eval(if self.class() == Class::Elf64 { elf64 } else { elf32 })
            }
        };
        let mut total: Option<u64> = None;
        let mut sign = '+';
        let mut rest = text.as_str();
        loop {
            let end = rest.find(['+', '-']).unwrap_or(rest.len());
            let term = rest[..end].trim();
            let n = if let Some(hex) = term.strip_prefix("0x") {
                u64::from_str_radix(hex, 16).with_context(|| format!("bad number `{term}`"))?
            } else if term.starts_with(|c: char| c.is_ascii_digit()) {
                term.parse().with_context(|| format!("bad number `{term}`"))?
            } else {
                self.name_value(term)?
            };
            let acc = total.unwrap_or(0);
            total = Some(
                if sign == '+' { acc.checked_add(n) } else { acc.checked_sub(n) }
                    .with_context(|| format!("`{text}` overflows"))?,
            );
            if end == rest.len() {
                break;
            }
            sign = rest[end..].chars().next().unwrap();
            rest = &rest[end + 1..];
        }
        total.context("empty expression")
    }
}

/// `original` with `recipe` applied.
pub fn derive(original: &[u8], recipe: &Recipe) -> Result<Vec<u8>> {
    let elf = Original::parse(original)?;
    let mut out = original.to_vec();
    for p in &recipe.patch {
        let targets: Vec<String> = match p.at.strip_prefix("load*.") {
            Some(field) => {
                let loads = elf.headers.iter().filter(|ph| ph.typ == PT_LOAD).count();
                (0..loads).map(|n| format!("load{n}.{field}")).collect()
            }
            None if p.at == "gnu_hash.bucket*" => {
                let buckets = elf.read(elf.field("gnu_hash.nbuckets")?)?;
                (0..buckets).map(|n| format!("gnu_hash.bucket{n}")).collect()
            }
            None => vec![p.at.clone()],
        };
        let value = elf.eval(&p.value).with_context(|| format!("patch at `{}`", p.at))?;
        for at in targets {
            let field = elf.field(&at).with_context(|| format!("patch at `{at}`"))?;
            if field.width < 8 && value >> (8 * field.width) != 0 {
                bail!("patch at `{at}`: {value:#x} does not fit {} bytes", field.width);
            }
            out[field.offset..field.offset + field.width].copy_from_slice(&value.to_le_bytes()[..field.width]);
        }
    }
    if let Some([a, b]) = &recipe.swap {
        let (a, b) = (elf.phdr_entry(a)?, elf.phdr_entry(b)?);
        if a.offset != b.offset {
            let first = original[a.offset..a.offset + a.width].to_vec();
            out.copy_within(b.offset..b.offset + b.width, a.offset);
            out[b.offset..b.offset + b.width].copy_from_slice(&first);
        }
    }
    if let Some(t) = &recipe.truncate {
        let len = usize::try_from(elf.eval(t)?)?;
        if len > out.len() {
            bail!("truncate to {len} bytes: the file has only {}", out.len());
        }
        out.truncate(len);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 shared object: header, two PT_LOADs, PT_DYNAMIC, a dynamic section.
    fn sample64() -> Vec<u8> {
        let mut f = vec![0u8; 0x200];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = ELFCLASS64;
        f[5] = ELFDATA2LSB;
        f[6] = EV_CURRENT;
        f[16..18].copy_from_slice(&ET_DYN.to_le_bytes());
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&3u16.to_le_bytes());
        let ph = |f: &mut Vec<u8>, i: usize, typ: u32, off: u64, vaddr: u64, size: u64| {
            let e = 64 + 56 * i;
            f[e..e + 4].copy_from_slice(&typ.to_le_bytes());
            f[e + 8..e + 16].copy_from_slice(&off.to_le_bytes());
            f[e + 16..e + 24].copy_from_slice(&vaddr.to_le_bytes());
            f[e + 32..e + 40].copy_from_slice(&size.to_le_bytes());
            f[e + 40..e + 48].copy_from_slice(&size.to_le_bytes());
        };
        ph(&mut f, 0, PT_LOAD, 0, 0, 0x100);
        ph(&mut f, 1, PT_LOAD, 0x100, 0x1100, 0x100);
        ph(&mut f, 2, PT_DYNAMIC, 0x180, 0x1180, 0x30);
        for (i, (t, v)) in [(DT_STRTAB, 0x1100u64), (DT_STRSZ, 8)].iter().enumerate() {
            f[0x180 + 16 * i..0x188 + 16 * i].copy_from_slice(&t.to_le_bytes());
            f[0x188 + 16 * i..0x190 + 16 * i].copy_from_slice(&v.to_le_bytes());
        }
        f
    }

    fn word(f: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(f[at..at + 8].try_into().unwrap())
    }

    fn patch(at: &str, value: Value) -> Patch {
        Patch { at: at.into(), value }
    }

    #[test]
    fn fields_are_found_and_patched_by_name() {
        let f = sample64();
        let recipe = Recipe {
            patch: vec![
                patch("e_phoff", Value::Expr("file_size + 0x10".into())),
                patch("load1.p_filesz", Value::Expr("load1.p_memsz - 8".into())),
                patch("dynamic.p_vaddr", Value::Number(0x9000)),
                patch("dyn.DT_STRSZ", Value::Expr("dyn.DT_STRSZ + 1".into())),
                patch("dyn.DT_NULL.tag", Value::Number(0x1234)),
                patch("ei_class", Value::Expr("3 - ei_class".into())),
                patch("loadlast.p_align", Value::Number(0x40)),
            ],
            swap: None,
            truncate: None,
        };
        let out = derive(&f, &recipe).unwrap();
        assert_eq!(word(&out, 32), 0x210);
        assert_eq!(word(&out, 64 + 56 + 32), 0xf8);
        assert_eq!(word(&out, 64 + 112 + 16), 0x9000);
        assert_eq!(word(&out, 0x198), 9);
        assert_eq!(word(&out, 0x1a0), 0x1234);
        assert_eq!(out[4], 1);
        assert_eq!(word(&out, 64 + 56 + 48), 0x40);
        assert_eq!(out.len(), f.len());
        let out = derive(&f, &Recipe { patch: vec![patch("load*.p_type", Value::Number(0))], ..Recipe::default() });
        let out = out.unwrap();
        assert_eq!((out[64], out[64 + 56], out[64 + 112]), (0, 0, PT_DYNAMIC as u8));
    }

    #[test]
    fn swap_and_truncate() {
        let f = sample64();
        let recipe = Recipe {
            patch: vec![],
            swap: Some(["load0".into(), "dynamic".into()]),
            truncate: Some(Value::Expr("e_phoff + 20".into())),
        };
        let out = derive(&f, &recipe).unwrap();
        assert_eq!(out.len(), 84);
        assert_eq!(out[64], PT_DYNAMIC as u8);
        let full = derive(&f, &Recipe { truncate: None, ..recipe }).unwrap();
        assert_eq!(full[64 + 112], PT_LOAD as u8);
    }

    #[test]
    fn bad_recipes_are_errors() {
        let f = sample64();
        let one = |at: &str, value: Value| derive(&f, &Recipe { patch: vec![patch(at, value)], ..Recipe::default() });
        assert!(one("e_phnum", Value::Number(0x10000)).is_err(), "value wider than the field");
        assert!(one("load2.p_vaddr", Value::Number(0)).is_err(), "no third PT_LOAD");
        assert!(one("dyn.DT_HASH", Value::Number(0)).is_err(), "no DT_HASH entry");
        assert!(one("e_bogus", Value::Number(0)).is_err());
        assert!(one("e_type", Value::Expr("0 - 1".into())).is_err(), "underflow");
        assert!(derive(&f, &Recipe { truncate: Some(Value::Number(0x201)), ..Recipe::default() }).is_err());
        assert!(derive(b"not elf", &Recipe::default()).is_err());
    }
}
